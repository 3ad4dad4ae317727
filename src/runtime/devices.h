/* devices.h — the runtime's internal declarations that need no OpenCL
 * header: the device table behind kvq_devices and a build check for tests. */
#ifndef KVQ_RUNTIME_DEVICES_H
#define KVQ_RUNTIME_DEVICES_H

#include "kvq.h"
#include "base/tuning.h"

/* Every OpenCL device of every platform, then the host, into a malloc'd
 * array (kvq__device_list_free). */
int kvq__device_list(kvq_device_info **list, size_t *count);
void kvq__device_list_free(kvq_device_info *list);
/* kvq_devices_resolve on a plain array (tests resolve against made-up lists). */
int kvq__device_resolve(const kvq_device_info *list, size_t count, const char *spec,
                        size_t *index);
/* Builds OpenCL C source with options (plus $KVQ_CL_BUILD_OPTIONS and kvq's
 * fixed flags) to check that it compiles; KVQ_ERR_BUILD keeps the log for
 * kvq_ctx_build_log. */
int kvq__ctx_try_build(kvq_ctx *ctx, const char *source, const char *options);

/* Installs set's CLBlast parameters for ctx's device (doc/scaling.md §7);
 * rebuild: also drop the programs CLBlast built before, so the next GEMM
 * uses them. 0, or -1 with the reason in err (parameters CLBlast refuses). */
int kvq__ctx_clblast_apply(kvq_ctx *ctx, const kvq__tune_set *set, int rebuild, char *err,
                           size_t errlen);
/* A second context on parent's device that shares its OpenCL context and
 * built programs, with its own queue, kernels and buffers: a stream of the
 * same run (doc/scaling.md §4.1). A host parent gets another host context. */
int kvq__ctx_sibling(kvq_ctx *parent, kvq_ctx **out);
/* 1 when CLBlast runs kvq's tuned parameters on ctx's device. */
int kvq__ctx_clblast_tuned(const kvq_ctx *ctx);

#endif
