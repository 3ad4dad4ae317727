/* kvq.h — the public interface of libkvq: quantize a KV cache with a codec and
 * measure what it does to attention, on any OpenCL device or on the
 * double-precision host reference.
 *
 * Conventions:
 *   - Every name starts with kvq_ (macros KVQ_). Names with a double
 *     underscore (kvq__) are internal to the library and its tools.
 *   - Objects are opaque handles, made by a kvq_<object>_create* function and
 *     freed by kvq_<object>_destroy (NULL is accepted). Plain records
 *     (kvq_device_info, kvq_codec_spec, kvq_scheme, kvq_attention_job, …) are
 *     transparent structs the caller fills or reads.
 *   - Functions that can fail return an int status: 0 on success, a negative
 *     OpenCL error code passed through unchanged (-1 … -72, -1001 …), or a
 *     library error in its own range (KVQ_ERR_*, -2001 …). kvq_strerror()
 *     names either kind.
 * The math behind each function is in doc/, cited by document and section. */
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
/* The library's own codes: X(name, value, description). OpenCL errors (CL_*)
 * pass through with their own negative values. */
#define KVQ_STATUS_LIST(X)                                                              \
    X(KVQ_ERR_NOMEM, -2001, "out of host memory")                                        \
    X(KVQ_ERR_INVALID_ARG, -2002, "invalid argument")                                    \
    X(KVQ_ERR_BUILD, -2003, "OpenCL program build failed (see the build log)")           \
    X(KVQ_ERR_NO_DEVICE, -2004, "no device matches the device spec")                     \
    X(KVQ_ERR_BAD_SPEC, -2005, "malformed specification")                                \
    X(KVQ_ERR_IO, -2006, "input/output error")                                           \
    X(KVQ_ERR_FORMAT, -2007, "malformed file content")                                   \
    X(KVQ_ERR_NONFINITE, -2008, "NaN or Inf in input")                                   \
    X(KVQ_ERR_UNSUPPORTED, -2009, "not supported")                                       \
    X(KVQ_ERR_POOL_LIMIT, -2010, "buffer pool limit exceeded (KVQ_POOL_LIMIT)")          \
    X(KVQ_ERR_INTERNAL, -2011, "internal error")

enum {
    KVQ_OK = 0,
#define KVQ_STATUS_ENUM_(name, value, text) name = value,
    KVQ_STATUS_LIST(KVQ_STATUS_ENUM_)
#undef KVQ_STATUS_ENUM_
};

/* A one-line description of a status: the CL error's name for OpenCL codes
 * ("CL_OUT_OF_RESOURCES"), a sentence for library codes. Never NULL. */
KVQ_API const char *kvq_strerror(int status);
/* The symbolic name of a status ("CL_INVALID_VALUE", "KVQ_ERR_BUILD"). */
KVQ_API const char *kvq_err_name(int status);
/* Where the last OpenCL call of this thread failed: "clCreateBuffer at
 * src/runtime/pool.c:80: CL_MEM_OBJECT_ALLOCATION_FAILURE"; "" if none. */
KVQ_API const char *kvq_error_detail(void);

/* ======================================================================
 * Devices and contexts
 * ====================================================================== */
enum kvq_device_type {
    KVQ_DEVICE_HOST = 0,           /* the double-precision host reference */
    KVQ_DEVICE_CPU = 1,
    KVQ_DEVICE_GPU = 2,
    KVQ_DEVICE_ACCELERATOR = 4,
    KVQ_DEVICE_OTHER = 8
};

/* What kvq knows about one device (a record). platform_index/device_index
 * are the P:D of a device spec; both are -1 for the host. */
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

/* Every OpenCL device of every platform, then the host. No OpenCL platform
 * at all is not an error: the list then holds only the host. */
typedef struct kvq_devices kvq_devices;
KVQ_API int kvq_devices_create(kvq_devices **list);
KVQ_API void kvq_devices_destroy(kvq_devices *list);
KVQ_API size_t kvq_devices_count(const kvq_devices *list);
/* Device i (< count), owned by the list. */
KVQ_API const kvq_device_info *kvq_devices_get(const kvq_devices *list, size_t i);
/* Resolves a device spec: "host", "P:D", "cpu", "gpu", "accelerator", or a
 * case-insensitive substring of the platform or device name. NULL or ""
 * means the default: first GPU, else first CPU, else host. Sets *index;
 * KVQ_ERR_NO_DEVICE when nothing matches, KVQ_ERR_BAD_SPEC when malformed. */
KVQ_API int kvq_devices_resolve(const kvq_devices *list, const char *spec, size_t *index);
/* The spec in effect when the caller gives none: $KVQ_DEVICE, else NULL. */
KVQ_API const char *kvq_device_spec_default(void);

typedef struct kvq_ctx kvq_ctx;

/* Opens a context and an in-order, profiling queue on the device the spec
 * names (NULL: $KVQ_DEVICE, else the default). "host" gives a context with
 * no OpenCL objects that runs the reference implementation. The KVQ_*
 * environment variables (doc/conformance.md) are read here, once. */
KVQ_API int kvq_ctx_create(kvq_ctx **ctx, const char *spec);
KVQ_API void kvq_ctx_destroy(kvq_ctx *ctx);
KVQ_API const kvq_device_info *kvq_ctx_device(const kvq_ctx *ctx);
KVQ_API int kvq_ctx_is_host(const kvq_ctx *ctx);
/* The build log of the last program build that failed in this context
 * (every device's log), or "" if none failed. Owned by the context. */
KVQ_API const char *kvq_ctx_build_log(const kvq_ctx *ctx);

/* Buffer pool counters of a context (a record). */
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
 * Codebooks, rotations, codecs and schemes (doc/quantization.md)
 * ====================================================================== */

/* The 2^bits-level Lloyd–Max quantizer of one coordinate of a uniformly
 * random unit vector in R^dim (centroids not scaled by sqrt(dim)), computed
 * in double precision the first time it is asked for and cached for the
 * life of the process (thread-safe); never destroyed. dim: a power of two
 * 16…1024; bits 1…8; KVQ_ERR_INVALID_ARG outside those ranges. */
typedef struct kvq_codebook kvq_codebook;
KVQ_API int kvq_codebook_get(int dim, int bits, const kvq_codebook **cb);
/* 2^bits. */
KVQ_API int kvq_codebook_levels(const kvq_codebook *cb);
/* levels centroids, ascending and symmetric about 0. */
KVQ_API const double *kvq_codebook_centroids(const kvq_codebook *cb);
/* levels − 1 midpoints of neighbouring centroids. */
KVQ_API const double *kvq_codebook_thresholds(const kvq_codebook *cb);
/* D_b(d) = d · E[(x − Q(x))²]. */
KVQ_API double kvq_codebook_distortion(const kvq_codebook *cb);

enum kvq_rotation_kind {
    KVQ_ROT_NONE = 0,   /* identity */
    KVQ_ROT_WHT = 1,    /* R = H·D/sqrt(d), O(d log d) */
    KVQ_ROT_WHT2 = 2,   /* two WHT rounds with independent signs: R = R₂·R₁ */
    KVQ_ROT_DENSE = 3   /* Haar-random orthogonal (QR of a Gaussian matrix), O(d²) */
};

/* A random rotation for dim (a power of two, 16…1024) drawn from the
 * stream (seed, purpose, trial) as doc/quantization.md §3 defines. */
typedef struct kvq_rotation kvq_rotation;
KVQ_API int kvq_rotation_create(kvq_rotation **r, int kind, int dim, uint64_t seed,
                                uint32_t purpose, uint32_t trial);
KVQ_API void kvq_rotation_destroy(kvq_rotation *r);
/* x ← R x (one vector of dim doubles, in place). */
KVQ_API void kvq_rotation_forward(const kvq_rotation *r, double *x);
/* x ← Rᵀ x = R⁻¹ x. */
KVQ_API void kvq_rotation_inverse(const kvq_rotation *r, double *x);
KVQ_API int kvq_rotation_kind(const kvq_rotation *r);
KVQ_API int kvq_rotation_dim(const kvq_rotation *r);

/* What a codec does (a record): the settings of its stages. A codec is the
 * ordered list of the stages its spec turns on — rotation, mse, qjl, nc
 * (norm correction), nb (side precision) — each described in one place
 * inside the library (doc/extending.md). A zeroed struct plus mse_bits is
 * valid. A new stage appends its settings at the end, so positional
 * initializers keep their meaning. */
typedef struct kvq_codec_spec {
    int rotation;       /* enum kvq_rotation_kind */
    int mse_bits;       /* 0…8; 0 = no MSE stage (x̂_mse = 0) */
    int qjl;            /* 0/1: QJL on the residual */
    int qjl_m;          /* QJL projections m; 0 means m = dim */
    int norm_correct;   /* store ν/‖C[idx]‖ so that ‖x̂_mse‖ = ‖x‖ */
    int norm_bits;      /* side information per stored norm: 32 or 16 (0 = 32) */
    int eden;           /* 0/1: store ν/⟨u, C[idx]⟩ so that ⟨x̂, x⟩ = ‖x‖² (doc/schemes.md §5.1) */
    int sqjl;           /* 0/1 (with qjl): S = √d·Q, Q Haar-random orthogonal (doc/schemes.md §5.2) */
    int format;         /* enum kvq_format: a deployed format instead of rotation + MSE */
    int format_bits;    /* KIVI: bits b, 1…8 */
    int format_group;   /* KIVI: group length G, 1…1024 (0 = 32) */
    int out_channels;   /* out<c>@<b2>: c outlier channels coded apart, 0 = none (doc/schemes.md §7) */
    int out_bits;       /* their MSE bits b2, 1…8 */
} kvq_codec_spec;

/* The deployed KV-cache formats (doc/schemes.md §6): a codec with one of
 * them has no rotation, MSE, QJL, nc or nb stage. */
enum kvq_format {
    KVQ_FORMAT_NONE = 0,
    KVQ_FORMAT_Q8_0 = 1,    /* llama.cpp: blocks of 32, int8 codes, fp16 scale */
    KVQ_FORMAT_Q4_0 = 2,    /* llama.cpp: blocks of 32, 4-bit codes, fp16 scale */
    KVQ_FORMAT_Q4_1 = 3,    /* llama.cpp: blocks of 32, 4-bit codes, fp16 scale and min */
    KVQ_FORMAT_FP8E4M3 = 4, /* OCP FP8 E4M3FN per coordinate, saturating at ±448 */
    KVQ_FORMAT_FP8E5M2 = 5, /* OCP FP8 E5M2 per coordinate, saturating at ±57344 */
    KVQ_FORMAT_FP16 = 6,    /* IEEE half per coordinate */
    KVQ_FORMAT_KIVI = 7     /* KIVI: K per channel over token groups, V per token */
};

/* A realized codec: spec + dim + rotation + codebook + QJL matrix S, for one
 * tensor (0 = K, 1 = V: independent random streams) of one trial. */
typedef struct kvq_codec kvq_codec;
KVQ_API int kvq_codec_create(kvq_codec **c, const kvq_codec_spec *spec, int dim,
                             uint64_t seed, int tensor, uint32_t trial);
KVQ_API void kvq_codec_destroy(kvq_codec *c);
KVQ_API int kvq_codec_dim(const kvq_codec *c);
/* The spec in effect (qjl_m resolved to m, norm_bits to 32 or 16). */
KVQ_API const kvq_codec_spec *kvq_codec_spec_get(const kvq_codec *c);
/* Writes the canonical text of a codec spec ("wht:mse3+qjl") into buf: the
 * stages' tokens in the order the codec applies them. */
KVQ_API void kvq_codec_spec_format(const kvq_codec_spec *s, char *buf, size_t len);

/* Storage cost of one codec at dim, the sum of its stages' costs (a record;
 * doc/schemes.md §4). */
typedef struct kvq_budget {
    double payload_bits;    /* per coordinate: mse_bits + m/dim with QJL */
    double side_bits;       /* per vector: norm_bits for ν (if mse_bits > 0)
                             * + norm_bits for γ (if QJL) */
    double effective_bits;  /* payload_bits + side_bits/dim */
    double bytes_per_token; /* per head, this tensor alone: 4·W + side_bits/8 */
} kvq_budget;
KVQ_API void kvq_codec_budget(const kvq_codec_spec *s, int dim, kvq_budget *b);

/* A scheme (a record): one codec for K, one for V. */
typedef struct kvq_scheme {
    char name[64];      /* "KV", "KQV", "QKQV", or the canonical custom spec */
    int bits;           /* budget n; 0 for a custom scheme or asymmetric budgets */
    kvq_codec_spec k, v;
    int bits_k, bits_v; /* a preset's budgets for K and V (equal unless asymmetric,
                         * doc/schemes.md §2.1); 0 for a custom scheme */
} kvq_scheme;

/* Preset name KV | KQV | QKQV (case-insensitive) at budget n (1…8); see
 * doc/schemes.md §2. KVQ_ERR_BAD_SPEC for an unknown name,
 * KVQ_ERR_INVALID_ARG for n. */
KVQ_API int kvq_scheme_preset(const char *name, int n, kvq_scheme *s);
/* Parses a preset name (then n is used) or a custom spec in the grammar of
 * doc/schemes.md §3, e.g. "k=wht:mse4,v=wht:mse3+qjl". On error returns
 * KVQ_ERR_BAD_SPEC (or KVQ_ERR_INVALID_ARG for n) and writes a one-line
 * reason naming the bad token into err (if errlen > 0). */
KVQ_API int kvq_scheme_parse(const char *text, int n, kvq_scheme *s, char *err,
                             size_t errlen);

/* Quantized vectors of one codec: per vector the packed codes
 * (doc/quantization.md §6), the stored norm and, with QJL, γ. */
typedef struct kvq_qtensor kvq_qtensor;
KVQ_API int kvq_qtensor_create(kvq_qtensor **t, const kvq_codec *c, size_t count);
KVQ_API void kvq_qtensor_destroy(kvq_qtensor *t);
KVQ_API size_t kvq_qtensor_count(const kvq_qtensor *t);
/* Bytes of storage per vector: packed codes plus side information as stored. */
KVQ_API double kvq_qtensor_bytes_per_vector(const kvq_qtensor *t);

/* ======================================================================
 * Quantization and attention on a context
 * ====================================================================== */
/* Quantizes count vectors (count × dim floats) with codec on ctx into out
 * (made by kvq_qtensor_create for this codec with at least count vectors).
 * KVQ_ERR_NONFINITE on NaN/Inf input. */
KVQ_API int kvq_quantize(kvq_ctx *ctx, const kvq_codec *codec, const float *x,
                         size_t count, kvq_qtensor *out);
/* Reconstructs x̂ (count × dim floats) from a quantized tensor on ctx. */
KVQ_API int kvq_dequantize(kvq_ctx *ctx, const kvq_codec *codec, const kvq_qtensor *t,
                           float *xhat);
/* x ← R x (or Rᵀ x when inverse) for count vectors, batched on ctx. */
KVQ_API int kvq_rotate(kvq_ctx *ctx, const kvq_rotation *r, float *x, size_t count,
                       int inverse);

/* Metrics (doc/metrics.md), in report order. Q(ID, json name, higher is
 * better, field): the mean over queries of that kvq_query_metrics field;
 * D(ID, json name, higher is better): derived from the others or from the
 * per-vector errors. Names are the JSON keys and CSV column stems. A new
 * metric is appended: a metric's id keys its bootstrap stream, so existing
 * metrics keep their confidence intervals. */
#define KVQ_METRIC_LIST(Q, D)                                                           \
    Q(KL, "kl", 0, kl) Q(KL_REV, "kl_rev", 0, kl_rev) Q(JS, "js", 0, js)                 \
    Q(TV, "tv", 0, tv) Q(ENTROPY_REF, "entropy_ref", 0, entropy_ref)                     \
    Q(ENTROPY_QUANT, "entropy_quant", 0, entropy_quant)                                  \
    Q(TOP1, "top1", 1, top1) Q(TOPK_RECALL, "topk_recall", 1, topk_recall)               \
    Q(LOGIT_MSE, "logit_mse", 0, logit_mse) Q(LOGIT_BIAS, "logit_bias", 0, logit_bias)   \
    D(JENSEN_RATIO, "jensen_ratio", 0)                                                   \
    Q(OUT_REL_ERR, "out_rel_err", 0, out_rel_err)                                        \
    Q(OUT_DIR_ERR, "out_dir_err", 0, out_dir_err)                                        \
    D(K_REL_MSE, "k_rel_mse", 0) D(K_DIR_ERR, "k_dir_err", 0)                            \
    D(V_REL_MSE, "v_rel_mse", 0) D(V_DIR_ERR, "v_dir_err", 0)                            \
    D(DIST6, "dist6", 0) D(ONE_HOT, "one_hot", 0)

enum kvq_metric {
#define KVQ_METRIC_Q_(id, name, higher, field) KVQ_METRIC_##id,
#define KVQ_METRIC_D_(id, name, higher) KVQ_METRIC_##id,
    KVQ_METRIC_LIST(KVQ_METRIC_Q_, KVQ_METRIC_D_)
#undef KVQ_METRIC_Q_
#undef KVQ_METRIC_D_
    KVQ_METRIC_COUNT
};
/* The JSON key of a metric id ("kl", "dist6"), or NULL when out of range. */
KVQ_API const char *kvq_metric_name(int id);
/* 1 when larger values are better (top1, topk_recall), else 0. */
KVQ_API int kvq_metric_higher_is_better(int id);

/* Per-query attention results (a record; doc/metrics.md). All in nats;
 * var_p_eps = Var_p(eps), the denominator of the Jensen ratio; p_max =
 * max_j p_j, the largest reference attention weight (a query is "one-hot"
 * when it exceeds 0.99, doc/metrics.md §2.5). */
typedef struct kvq_query_metrics {
    double kl, kl_rev, js, tv;
    double entropy_ref, entropy_quant;
    double top1, topk_recall;
    double logit_mse, logit_bias, var_p_eps;
    double out_rel_err, out_dir_err;
    double p_max;
} kvq_query_metrics;

/* Per-vector reconstruction errors, averaged over the non-zero vectors of a
 * tensor; zero_vectors counts the zero reference vectors left out. */
typedef struct kvq_vector_errors {
    double rel_mse, dir_err;
    size_t zero_vectors;
} kvq_vector_errors;

/* Exact double-precision distribution metrics of one query from its
 * reference and quantized logits (length n >= 1), accurate for tiny
 * divergences (doc/metrics.md §4). out_rel_err/out_dir_err are set to 0
 * (they need the values). topk_recall is NaN if topk < 1. */
KVQ_API void kvq_distribution_metrics(const double *logits_ref,
                                      const double *logits_quant, size_t n,
                                      int topk, kvq_query_metrics *out);

/* One attention experiment (a record; doc/metrics.md §1): M queries against
 * N keys and values, each quantized by its codec (kvq_quantize). */
typedef struct kvq_attention_job {
    int dim;
    size_t keys, queries;
    double sharpness;               /* τ; logits τ·⟨q, k⟩/√d */
    int topk;                       /* k of top-k recall, 1…8; 0 means 8 */
    const float *q, *k, *v;         /* queries×dim, keys×dim, keys×dim */
    const kvq_codec *k_codec, *v_codec;
    const kvq_qtensor *k_codes, *v_codes;
    int causal;                     /* 1: query j sits at position keys − queries + j and
                                     * sees keys 0 … keys − queries + j only (needs
                                     * queries <= keys; doc/metrics.md §1.5) */
} kvq_attention_job;

/* want_vector_errors of kvq_attention_out: 0 none, KVQ_VECTOR_ERRORS (or
 * any other value) both tensors', KVQ_VECTOR_ERRORS_K or _V one tensor's. */
#define KVQ_VECTOR_ERRORS 1
#define KVQ_VECTOR_ERRORS_K 2
#define KVQ_VECTOR_ERRORS_V 4

/* Where kvq_attention_run puts its results (a record). queries is required;
 * the others are optional (NULL: not returned). */
typedef struct kvq_attention_out {
    kvq_query_metrics *queries;     /* [queries] */
    kvq_vector_errors k_err, v_err; /* filled as want_vector_errors asks */
    int want_vector_errors;
    float *logits_ref, *logits_quant; /* [queries × keys] */
    float *out_ref, *out_quant;       /* [queries × dim] */
} kvq_attention_out;

/* Runs the job on ctx: on an OpenCL device, logits straight from the codes
 * and softmax statistics on the device (keys split into chunks with a
 * log-sum-exp merge when $KVQ_CHUNK_KEYS or the device's allocation limit
 * asks for it); on the host, the double-precision reference. */
KVQ_API int kvq_attention_run(kvq_ctx *ctx, const kvq_attention_job *job,
                              kvq_attention_out *out);

/* ======================================================================
 * Tensors: files and synthetic sources (doc/statistics.md §1.3 and doc/statistics.md §1.4)
 * ====================================================================== */
/* A dense float32 tensor in C order, 0…4 dimensions. */
typedef struct kvq_tensor kvq_tensor;
/* A zero-filled tensor of shape[0 … ndim−1]. */
KVQ_API int kvq_tensor_create(kvq_tensor **t, int ndim, const size_t *shape);
/* Reads a .npy file: versions 1.0/2.0/3.0, descr '<f4', '<f2', '<f8'
 * (converted to float), C order. err gets "what is wrong" (callers prefix
 * the file). KVQ_ERR_IO, KVQ_ERR_FORMAT, KVQ_ERR_UNSUPPORTED, KVQ_ERR_NOMEM. */
KVQ_API int kvq_tensor_create_npy(kvq_tensor **t, const char *path, char *err,
                                  size_t errlen);
/* Reads tensor `name` (F32, F16, BF16 or F64) of a .safetensors file after
 * validating the whole header; a missing tensor is KVQ_ERR_FORMAT. */
KVQ_API int kvq_tensor_create_safetensors(kvq_tensor **t, const char *path,
                                          const char *name, char *err, size_t errlen);
KVQ_API void kvq_tensor_destroy(kvq_tensor *t);
/* The elements (NULL when there are none). */
KVQ_API float *kvq_tensor_data(const kvq_tensor *t);
/* Writes the shape (4 entries; 1 past ndim) and returns ndim. */
KVQ_API int kvq_tensor_shape(const kvq_tensor *t, size_t shape[4]);
/* Number of elements (product of the shape; 1 for a 0-d tensor). */
KVQ_API size_t kvq_tensor_numel(const kvq_tensor *t);
/* Views a tensor as heads of [rows, dim] matrices: [N,d] → 1 head,
 * [H,N,d] → H, [B,H,N,d] → B·H; other ranks are KVQ_ERR_FORMAT. */
KVQ_API int kvq_tensor_as_heads(const kvq_tensor *t, size_t *heads, size_t *rows,
                                size_t *dim, char *err, size_t errlen);
/* KVQ_ERR_NONFINITE naming the first NaN/Inf element. */
KVQ_API int kvq_tensor_check_finite(const kvq_tensor *t, char *err, size_t errlen);
/* Writes t as a '<f4' .npy file atomically (never half-written). */
KVQ_API int kvq_npy_write(const char *path, const kvq_tensor *t, char *err, size_t errlen);
/* 1 if the (valid) .safetensors file has a tensor of that name, 0 if not,
 * < 0 on error. */
KVQ_API int kvq_safetensors_has(const char *path, const char *name, char *err,
                                size_t errlen);
/* 0 when d is a head dimension kvq can quantize, else KVQ_ERR_UNSUPPORTED
 * with an explanation. */
KVQ_API int kvq_dim_check(size_t d, char *err, size_t errlen);

/* Real K, V and optional Q of one model layer, as heads: K and V
 * [heads, keys, dim], Q [heads, queries, dim]; a Q with g times as many
 * heads as K (grouped-query attention) is folded to [heads, g·queries, dim]. */
typedef struct kvq_kv kvq_kv;
/* From one .safetensors file with tensors k_name, v_name, q_name (NULL:
 * "k", "v", "q"; the default "q" is optional, an explicit one required).
 * Shapes, agreement of K, V and Q, finiteness and dim are checked. */
KVQ_API int kvq_kv_create_safetensors(kvq_kv **kv, const char *path, const char *k_name,
                                      const char *v_name, const char *q_name,
                                      char *err, size_t errlen);
/* The same from .npy files (q_path may be NULL); *bad_path (may be NULL)
 * is set to the file an error is about. */
KVQ_API int kvq_kv_create_npy(kvq_kv **kv, const char *k_path, const char *v_path,
                              const char *q_path, const char **bad_path, char *err,
                              size_t errlen);
KVQ_API void kvq_kv_destroy(kvq_kv *kv);
/* Sizes; *queries is 0 when there are no queries; q_group is g. */
KVQ_API void kvq_kv_shape(const kvq_kv *kv, size_t *heads, size_t *keys, size_t *queries,
                          size_t *dim, size_t *q_group);
/* Head h's rows: k and v keys×dim, q queries×dim (NULL without queries). */
KVQ_API void kvq_kv_head(const kvq_kv *kv, size_t h, const float **k, const float **v,
                         const float **q);

/* Synthetic data families (doc/statistics.md §1.3); every one has unit variance. */
enum kvq_dist {
    KVQ_DIST_GAUSS = 0,      /* i.i.d. N(0,1) */
    KVQ_DIST_STUDENT_T = 1,  /* Student-t(nu) * sqrt((nu-2)/nu), nu > 2 */
    KVQ_DIST_LAPLACE = 2,    /* Laplace with scale 1/sqrt(2) */
    KVQ_DIST_OUTLIER = 3     /* Gaussian, a few channels scaled up, renormalized */
};
/* Random streams: the purpose word of (seed, purpose, trial). */
enum kvq__rng_purpose {
    KVQ_RNG_DATA_K = 1, KVQ_RNG_DATA_V = 2, KVQ_RNG_DATA_Q = 3,
    KVQ_RNG_ROT_K = 4, KVQ_RNG_ROT_V = 5,
    KVQ_RNG_QJL_K = 6, KVQ_RNG_QJL_V = 7,
    KVQ_RNG_BOOTSTRAP = 8, KVQ_RNG_DATA_AUX = 9, KVQ_RNG_TEST = 10,
    KVQ_RNG_SQJL_K = 11, KVQ_RNG_SQJL_V = 12,
    KVQ_RNG_OUT_K = 13, KVQ_RNG_OUT_V = 14
};
/* A synthetic source (a record), parsed from --dist and --rank:
 * FAMILY[+needleALPHA] with FAMILY = gauss | t<nu> | laplace |
 * outlier[C[xS]]; rank "full" or a positive integer (< d). */
typedef struct kvq_source {
    int family;              /* enum kvq_dist */
    double nu;               /* Student-t degrees of freedom */
    int rank;                /* 0 = full rank */
    int outliers;            /* outlier channels (KVQ_DIST_OUTLIER) */
    double outlier_scale;    /* their scale before renormalization */
    double needle;           /* alpha of the planted needle; 0 = none */
    char name[32];           /* canonical --dist name, e.g. "t3", "gauss+needle2" */
} kvq_source;
KVQ_API int kvq_source_parse(const char *dist, const char *rank, kvq_source *s,
                             char *err, size_t errlen);
/* KVQ_ERR_INVALID_ARG with a message if s cannot make vectors of this dim. */
KVQ_API int kvq_source_check(const kvq_source *s, int dim, char *err, size_t errlen);
/* Fills out[n*dim] (rows are vectors) for (seed, purpose, trial); a pure
 * function of its arguments. */
KVQ_API int kvq_source_generate(const kvq_source *s, uint64_t seed, uint32_t purpose,
                                uint32_t trial, size_t n, int dim, float *out);
/* Queries q_out[m*dim] for keys (with a needle, each query is planted on a
 * random key). */
KVQ_API int kvq_source_queries(const kvq_source *s, uint64_t seed, uint32_t trial,
                               const float *keys, size_t n_keys, size_t m, int dim,
                               float *q_out);

#ifdef __cplusplus
}
#endif
#endif /* KVQ_H */
