/* kvq.h — the one public header of kvq: KV-cache quantization effects on
 * attention, computed on any OpenCL device or on the host reference.
 *
 * Conventions: every name starts with kvq_; objects are opaque handles created
 * and destroyed in pairs; functions that can fail return an int status: 0 on
 * success, a negative OpenCL error code passed through unchanged (-1 … -72,
 * -1001 …), or a library error in its own range (KVQ_ERR_*, -2001 …).
 * kvq_strerror() names either kind. */
#ifndef KVQ_H
#define KVQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define KVQ_API __attribute__((visibility("default")))
#else
#define KVQ_API
#endif

/* ======================================================================
 * Status codes
 * ====================================================================== */
enum {
    KVQ_OK = 0,
    /* OpenCL errors (CL_*) pass through with their own negative values. */
    KVQ_ERR_NOMEM = -2001,         /* host memory allocation failed */
    KVQ_ERR_INVALID_ARG = -2002,   /* an argument is out of its documented range */
    KVQ_ERR_BUILD = -2003,         /* an OpenCL program failed to build; see the build log */
    KVQ_ERR_NO_DEVICE = -2004,     /* a device spec matched no device */
    KVQ_ERR_BAD_SPEC = -2005,      /* a device spec, scheme spec or number is malformed */
    KVQ_ERR_IO = -2006,            /* a file could not be read or written */
    KVQ_ERR_FORMAT = -2007,        /* a file's content is malformed */
    KVQ_ERR_NONFINITE = -2008,     /* NaN or Inf in an input tensor */
    KVQ_ERR_UNSUPPORTED = -2009,   /* valid request this device or build cannot do */
    KVQ_ERR_POOL_LIMIT = -2010,    /* the buffer pool limit (KVQ_POOL_LIMIT) would be exceeded */
    KVQ_ERR_INTERNAL = -2011       /* a bug: an invariant did not hold */
};

/* A one-line description of a status: the CL error's name for OpenCL codes
 * ("CL_OUT_OF_RESOURCES"), a sentence for library codes. Never NULL. */
KVQ_API const char *kvq_strerror(int status);
/* The symbolic name of a status ("CL_INVALID_VALUE", "KVQ_ERR_BUILD"). */
KVQ_API const char *kvq_err_name(int status);

/* ======================================================================
 * Runtime: devices, contexts, buffer pool (src/runtime)
 * ====================================================================== */
enum kvq_device_type {
    KVQ_DEVICE_HOST = 0,           /* the double-precision host reference */
    KVQ_DEVICE_CPU = 1,
    KVQ_DEVICE_GPU = 2,
    KVQ_DEVICE_ACCELERATOR = 4,
    KVQ_DEVICE_OTHER = 8
};

/* What kvq knows about one device. platform_index/device_index are the P:D
 * of a device spec; both are -1 for the host. */
typedef struct kvq_device_info {
    int platform_index, device_index;
    int type;                       /* enum kvq_device_type */
    char platform[128];
    char name[128];
    char vendor[128];
    char version[128];              /* CL_DEVICE_VERSION */
    char opencl_c_version[64];      /* CL_DEVICE_OPENCL_C_VERSION */
    char driver[64];                /* CL_DRIVER_VERSION */
    unsigned compute_units;
    uint64_t global_mem, local_mem, max_alloc;
    size_t max_work_group;
    int fp16, fp64;                 /* extensions present */
} kvq_device_info;

/* Lists every OpenCL device of every platform, then the host, into a
 * malloc'd array (free with kvq_device_list_free). No OpenCL platform at
 * all is not an error: the list then holds only the host. */
KVQ_API int kvq_device_list(kvq_device_info **list, size_t *count);
KVQ_API void kvq_device_list_free(kvq_device_info *list);

/* Resolves a device spec against a list: "host", "P:D", "cpu", "gpu",
 * "accelerator", or a case-insensitive substring of the platform or device
 * name. NULL or "" means the default: first GPU, else first CPU, else host
 * (any first OpenCL device before the host). Sets *index; returns
 * KVQ_ERR_NO_DEVICE when nothing matches, KVQ_ERR_BAD_SPEC when malformed. */
KVQ_API int kvq_device_resolve(const kvq_device_info *list, size_t count,
                               const char *spec, size_t *index);

/* The spec in effect when the caller gives none: $KVQ_DEVICE, else NULL. */
KVQ_API const char *kvq_device_spec_default(void);

typedef struct kvq_ctx kvq_ctx;

/* Opens a context and an in-order, profiling queue on the device the spec
 * names (NULL: $KVQ_DEVICE, else the default). "host" gives a context with
 * no OpenCL objects that runs the reference implementation. */
KVQ_API int kvq_ctx_create(kvq_ctx **ctx, const char *spec);
KVQ_API void kvq_ctx_destroy(kvq_ctx *ctx);
KVQ_API const kvq_device_info *kvq_ctx_device(const kvq_ctx *ctx);
KVQ_API int kvq_ctx_is_host(const kvq_ctx *ctx);

/* The build log of the last program build that failed in this context
 * (every device's log), or "" if none failed. Owned by the context. */
KVQ_API const char *kvq_ctx_build_log(const kvq_ctx *ctx);

/* Builds OpenCL C source with options (plus $KVQ_CL_BUILD_OPTIONS and kvq's
 * fixed flags) to check that it compiles. On failure returns KVQ_ERR_BUILD
 * and keeps the log for kvq_ctx_build_log. */
KVQ_API int kvq_ctx_try_build(kvq_ctx *ctx, const char *source, const char *options);

/* Buffer pool counters of a context. */
typedef struct kvq_pool_stats {
    uint64_t allocations;   /* clCreateBuffer calls that succeeded */
    uint64_t reuses;        /* acquisitions served from the cache */
    uint64_t frees;         /* buffers released to OpenCL */
    uint64_t retries;       /* allocation failures retried after a cache flush */
    uint64_t live_bytes;    /* bytes in buffers handed out now */
    uint64_t cached_bytes;  /* bytes in buffers kept for reuse */
    uint64_t high_water;    /* max of live_bytes + cached_bytes seen */
    uint64_t limit;         /* byte limit (KVQ_POOL_LIMIT or the device's memory) */
} kvq_pool_stats;
KVQ_API void kvq_ctx_pool_stats(const kvq_ctx *ctx, kvq_pool_stats *stats);

/* ======================================================================
 * Core: host reference math (src/core)
 * ====================================================================== */
/* @@core@@ — declarations of src/core live between these markers. */

/* Philox4x32-10 (Salmon et al., SC'11): one block of 4 x 32-bit outputs
 * from a 128-bit counter and a 64-bit key. */
KVQ_API void kvq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                               uint32_t out[4]);

/* Purposes name independent random streams (the counter's third word). */
enum kvq_rng_purpose {
    KVQ_RNG_DATA_K = 1, KVQ_RNG_DATA_V = 2, KVQ_RNG_DATA_Q = 3,
    KVQ_RNG_ROT_K = 4, KVQ_RNG_ROT_V = 5,
    KVQ_RNG_QJL_K = 6, KVQ_RNG_QJL_V = 7,
    KVQ_RNG_BOOTSTRAP = 8, KVQ_RNG_DATA_AUX = 9, KVQ_RNG_TEST = 10
};

/* A stream of random numbers for (seed, purpose, trial); element i of the
 * stream is a pure function of those and i, whatever the order of calls. */
typedef struct kvq_rng {
    uint64_t seed;
    uint32_t purpose, trial;
    uint64_t next;       /* index of the next 32-bit word */
} kvq_rng;
KVQ_API void kvq_rng_init(kvq_rng *rng, uint64_t seed, uint32_t purpose, uint32_t trial);
KVQ_API uint32_t kvq_rng_u32(kvq_rng *rng);
/* (u + 0.5) * 2^-32, in (0, 1). */
KVQ_API double kvq_rng_uniform(kvq_rng *rng);
/* Standard normal by Box–Muller. */
KVQ_API double kvq_rng_normal(kvq_rng *rng);

/* @@end core@@ */

/* ======================================================================
 * Device: quantization and attention on a context (src/device)
 * ====================================================================== */
/* @@device@@ */
/* Per-query attention results (SPEC §2), from the device or the host
 * reference. All in nats; var_p_eps = Var_p(eps), the denominator of the
 * Jensen ratio (jensen_ratio = kl / (var_p_eps / 2), undefined when 0). */
typedef struct kvq_query_metrics {
    double kl, kl_rev, js, tv;
    double entropy_ref, entropy_quant;
    double top1, topk_recall;
    double logit_mse, logit_bias, var_p_eps;
    double out_rel_err, out_dir_err;
} kvq_query_metrics;

/* Per-vector reconstruction errors, averaged over the non-zero vectors of a
 * tensor; zero_vectors counts the zero reference vectors left out. */
typedef struct kvq_vector_errors {
    double rel_mse, dir_err;
    size_t zero_vectors;
} kvq_vector_errors;
/* @@end device@@ */

/* ======================================================================
 * Data: synthetic sources and tensor files (src/data)
 * ====================================================================== */
/* @@data@@ */
/* @@end data@@ */

/* ======================================================================
 * Analysis: metrics, statistics, findings (src/analysis)
 * ====================================================================== */
/* @@analysis@@ */
/* @@end analysis@@ */

#ifdef __cplusplus
}
#endif
#endif /* KVQ_H */
