/* runtime.h — kvq's internal OpenCL runtime: the context record, program and
 * kernel cache, buffer pool and error reporting. Only src/runtime and
 * src/device include this header (and through it CL/cl.h). */
#ifndef KVQ_RUNTIME_H
#define KVQ_RUNTIME_H

#ifdef __APPLE__
#include <OpenCL/opencl.h>
#else
#include <CL/cl.h>
#endif
#include <pthread.h>

#include "kvq.h"

/* From cl_ext.h (cl_khr_icd); defined here so kvq needs only CL/cl.h. */
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

/* One cached buffer: its size class in bytes and whether it is handed out. */
typedef struct kvq__pool_entry {
    cl_mem mem;
    size_t bytes;
    int in_use;
} kvq__pool_entry;

typedef struct kvq__pool {
    kvq__pool_entry *entries;
    size_t count, cap;
    kvq_pool_stats stats;
} kvq__pool;

/* Host copies of small buffer writes enqueued without blocking: each lives
 * until the in-order queue has run its write, which any later blocking
 * read, map or write proves (doc/kernels.md §6). */
typedef struct kvq__staging {
    void **copies;
    size_t count, cap, bytes;
} kvq__staging;

/* A host array that an open trial holds in a device buffer (device/trial.c):
 * the OpenCL backend's quantize reads the buffer rather than uploading the
 * array again. finite: 1 or 0 once checked, −1 before. */
typedef struct kvq__mirror {
    const float *host;
    size_t floats;
    cl_mem mem;
    int finite;
} kvq__mirror;

/* Mirrors a context keeps: K and V of two open trials. */
#define KVQ__MIRRORS 4

/* One built program, keyed by embedded source name and build options. */
typedef struct kvq__program_entry {
    char *key;
    cl_program program;
} kvq__program_entry;

/* The programs built in one OpenCL context, shared by the kvq contexts
 * that run on it (a context and its streams' siblings): a program is built
 * once, under the lock, and each kvq context makes its own kernel objects
 * from it (a kernel's arguments are not safe to set from two threads). */
typedef struct kvq__programs {
    pthread_mutex_t lock;
    kvq__program_entry *entries;
    size_t count;
    int refs;
} kvq__programs;

/* One kernel object of a cached program, keyed by program key and name. */
typedef struct kvq__kernel_entry {
    char *key;
    cl_kernel kernel;
} kvq__kernel_entry;

/* The KVQ_* environment variables, read once when a context is created. */
typedef struct kvq__options {
    char *device;               /* KVQ_DEVICE: the spec when the caller gives none */
    uint64_t pool_limit;        /* KVQ_POOL_LIMIT; 0: the device's global memory */
    size_t chunk_keys;          /* KVQ_CHUNK_KEYS; 0: chunk only when an allocation is too small */
    char *build_options;        /* KVQ_CL_BUILD_OPTIONS, added to every program build */
    int portable_kernels;       /* KVQ_PORTABLE_KERNELS set and not "0" */
    int limited;                /* KVQ_DEVICE_LIMITS given: */
    size_t limit_wg;            /*   wg=, work-items per group (0: no cap) */
    uint64_t limit_local;       /*   local=, bytes of local memory (0: no cap) */
    int clblast_tuned;          /* KVQ_CLBLAST_TUNED not "0": apply the tuning cache */
    char *cache_dir;            /* KVQ_CACHE_DIR, else the XDG cache (NULL: none known) */
} kvq__options;

/* What the launchers may assume of the device: its limits, capped by
 * KVQ_DEVICE_LIMITS, and whether its CPU-only kernel variants may run. */
typedef struct kvq__caps {
    size_t max_work_group;      /* CL_DEVICE_MAX_WORK_GROUP_SIZE (capped) */
    uint64_t local_mem;         /* CL_DEVICE_LOCAL_MEM_SIZE (capped) */
    int vector_kernels;         /* one-work-item-per-vector kernels (CPU, not forced off) */
} kvq__caps;

struct kvq__backend;

struct kvq_ctx {
    kvq_device_info info;
    int is_host;
    const struct kvq__backend *backend;  /* chosen once, from info.type */
    kvq__options opts;
    kvq__caps caps;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    char *build_log;
    kvq__programs *programs;
    kvq__kernel_entry *kernels;
    size_t nkernels;
    kvq__pool pool;
    kvq__staging staging;
    kvq__mirror mirrors[KVQ__MIRRORS];
    struct kvq__dev_codec_cache *codecs;  /* src/device/codec_cache.c; NULL until used */
    int clblast_tuned;          /* CLBlast runs parameters kvq tune stored for this device */
};

/* Reads every KVQ_* variable into o; a malformed value is KVQ_ERR_BAD_SPEC
 * with the variable named in kvq_error_detail(). */
int kvq__options_read(kvq__options *o);
/* Frees what kvq__options_read allocated. */
void kvq__options_free(kvq__options *o);
/* The capabilities the launchers see on a device under options o. */
void kvq__caps_init(kvq__caps *c, const kvq_device_info *info, const kvq__options *o);

/* Opens the OpenCL context and queue of ctx->info (the OpenCL backend's open). */
int kvq__rt_open(kvq_ctx *ctx);
/* Opens ctx on parent's OpenCL context and programs with a queue of its own. */
int kvq__rt_open_sibling(kvq_ctx *ctx, const kvq_ctx *parent);
/* Releases every OpenCL object of ctx (the OpenCL backend's close). */
void kvq__rt_close(kvq_ctx *ctx);
/* Builds source to check that it compiles; keeps the log on failure. */
int kvq__rt_try_build(kvq_ctx *ctx, const char *source, const char *options);

/* Installs the CLBlast parameters of the device's tuning cache file, when
 * KVQ_CLBLAST_TUNED allows and the file exists (doc/scaling.md §7); a file
 * that cannot be used leaves one warning line on stderr and CLBlast's own
 * parameters. Never fails the context. */
void kvq__rt_clblast_tuning(kvq_ctx *ctx);

/* Records why a request failed (for kvq_error_detail()); returns status. */
int kvq__rt_explain(int status, const char *why);
/* Records where an OpenCL call failed for kvq_error_detail(); returns status. */
int kvq__rt_fail(int status, const char *call, const char *file, int line);

/* Checks a CL status; on failure records the call site and jumps to cleanup. */
#define KVQ_CL_TRY(st, call)                                                  \
    do {                                                                      \
        (st) = (call);                                                        \
        if ((st) != CL_SUCCESS) {                                             \
            kvq__rt_fail((st), #call, __FILE__, __LINE__);                     \
            goto cleanup;                                                     \
        }                                                                     \
    } while (0)

/* Jumps to cleanup when a kvq status is an error (the detail was recorded). */
#define KVQ_TRY(st, expr)                                                     \
    do {                                                                      \
        (st) = (expr);                                                        \
        if ((st) != KVQ_OK)                                                   \
            goto cleanup;                                                     \
    } while (0)

/* Builds (once per context) embedded cl/ files, name "a+b" concatenating
 * cl/a.cl and cl/b.cl, with extra options. */
int kvq__rt_program(kvq_ctx *ctx, const char *name, const char *options, cl_program *out);
/* A cached kernel object of kvq__rt_program(name, options). */
int kvq__rt_kernel(kvq_ctx *ctx, const char *name, const char *options,
                  const char *kernel, cl_kernel *out);
/* The source text of an embedded kernel file, or NULL. */
const char *kvq__rt_source(const char *name);

/* Hands out a device buffer of at least bytes, reusing a cached one. */
int kvq__pool_acquire(kvq_ctx *ctx, size_t bytes, cl_mem *out);
/* Returns a buffer to the cache (NULL is ignored). */
void kvq__pool_release(kvq_ctx *ctx, cl_mem mem);
/* Releases every cached (not handed out) buffer to OpenCL. */
void kvq__pool_trim(kvq_ctx *ctx);
/* Releases everything; used by kvq_ctx_destroy. */
void kvq__pool_destroy(kvq_ctx *ctx);
/* A host copy of src for a non-blocking write, kept until kvq__stage_done;
 * NULL when staging would hold too much (then write blocking). */
void *kvq__stage_copy(kvq_ctx *ctx, const void *src, size_t bytes);
/* Frees the staged copies: call only once the queue has run their writes. */
void kvq__stage_done(kvq_ctx *ctx);
/* The size class a request of bytes is rounded up to. */
size_t kvq__pool_size_class(size_t bytes);

/* Work-group size for a kernel on this device: min(want, kernel max,
 * device max), a power of two. */
size_t kvq__rt_wg_size(kvq_ctx *ctx, cl_kernel k, size_t want);

/* Parses a byte count with an optional K/M/G suffix ("512M"); 0 on success. */
int kvq__parse_bytes(const char *text, uint64_t *out);

#endif
