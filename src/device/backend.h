/* backend.h — the operations a context runs, as one table chosen when the
 * context is created: the double-precision host reference (src/core, in
 * device/host.c) or OpenCL (device/opencl.c). The public entry points check
 * their arguments and call through the table, so they never ask which
 * device they are on. No OpenCL types here: the host backend needs no CL
 * headers. */
#ifndef KVQ_BACKEND_H
#define KVQ_BACKEND_H

#include "kvq.h"
#include "base/rows.h"

/* The trial reference (doc/metrics.md §4.2): what attention computes from
 * q, K and V alone, made once and shared by every scheme of a trial. Each
 * backend defines it (or, sharing nothing, makes none). */
typedef struct kvq__trial kvq__trial;

typedef struct kvq__backend {
    const char *name;
    /* Acquires what the backend needs on ctx (device info and options are set). */
    int (*open)(kvq_ctx *ctx);
    /* Releases it; also called after a failed open. */
    void (*close)(kvq_ctx *ctx);
    /* Compiles OpenCL C source to check it (KVQ_ERR_UNSUPPORTED without OpenCL). */
    int (*try_build)(kvq_ctx *ctx, const char *source, const char *options);
    /* The operations behind kvq_quantize, kvq_dequantize, kvq_rotate and
     * kvq_attention_run (arguments already checked where the entry point says). */
    int (*quantize)(kvq_ctx *ctx, const kvq_codec *c, const float *x, size_t count,
                    kvq_qtensor *out);
    int (*dequantize)(kvq_ctx *ctx, const kvq_codec *c, const kvq_qtensor *t, float *xhat);
    int (*rotate)(kvq_ctx *ctx, const kvq_rotation *r, float *x, size_t count, int inverse);
    /* attention runs the job against trial t, made by trial_open from a job
     * with the same q, sizes and row sources, or (t NULL) against its own;
     * K and V come from k and v (job->k and job->v are not read). */
    int (*attention)(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                     const kvq__rows *k, const kvq__rows *v, kvq_attention_out *out);
    /* The trial reference of job over K and V from k and v (its codec
     * fields unused); *out may be NULL when the backend shares nothing
     * between the schemes of a trial. */
    int (*trial_open)(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                      const kvq__rows *v, kvq__trial **out);
    void (*trial_close)(kvq_ctx *ctx, kvq__trial *t);
} kvq__backend;

extern const kvq__backend kvq__backend_host;
extern const kvq__backend kvq__backend_opencl;

/* The experiment runner's entry points: a trial reference for the schemes
 * of one trial over K and V from the row sources k and v (job's codec
 * fields unused; checked like kvq_attention_run), attention of one scheme
 * against it (the job must have the trial's q, row sources, sizes,
 * sharpness, top-k and mask), and its release (NULL is fine). */
int kvq__trial_open(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                    const kvq__rows *v, kvq__trial **out);
int kvq__attention_run_trial(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                             const kvq__rows *k, const kvq__rows *v, kvq_attention_out *out);
void kvq__trial_close(kvq_ctx *ctx, kvq__trial *t);

/* The backend that runs a device type (enum kvq_device_type). */
const kvq__backend *kvq__backend_for(int device_type);
/* The backend a context was created with. */
const kvq__backend *kvq__ctx_backend(const kvq_ctx *ctx);

#endif
