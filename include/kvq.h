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
/* Where the last OpenCL call of this thread failed: "clCreateBuffer at
 * src/runtime/pool.c:80: CL_MEM_OBJECT_ALLOCATION_FAILURE"; "" if none. */
KVQ_API const char *kvq_error_detail(void);

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
 * malloc'd array (free with kvq__device_list_free). No OpenCL platform at
 * all is not an error: the list then holds only the host. */
int kvq__device_list(kvq_device_info **list, size_t *count);
void kvq__device_list_free(kvq_device_info *list);

/* Resolves a device spec against a list: "host", "P:D", "cpu", "gpu",
 * "accelerator", or a case-insensitive substring of the platform or device
 * name. NULL or "" means the default: first GPU, else first CPU, else host
 * (any first OpenCL device before the host). Sets *index; returns
 * KVQ_ERR_NO_DEVICE when nothing matches, KVQ_ERR_BAD_SPEC when malformed. */
int kvq__device_resolve(const kvq_device_info *list, size_t count,
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
int kvq__ctx_try_build(kvq_ctx *ctx, const char *source, const char *options);

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
void kvq__philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                               uint32_t out[4]);

/* Purposes name independent random streams (the counter's third word). */
enum kvq__rng_purpose {
    KVQ_RNG_DATA_K = 1, KVQ_RNG_DATA_V = 2, KVQ_RNG_DATA_Q = 3,
    KVQ_RNG_ROT_K = 4, KVQ_RNG_ROT_V = 5,
    KVQ_RNG_QJL_K = 6, KVQ_RNG_QJL_V = 7,
    KVQ_RNG_BOOTSTRAP = 8, KVQ_RNG_DATA_AUX = 9, KVQ_RNG_TEST = 10
};

/* A stream of random numbers for (seed, purpose, trial); element i of the
 * stream is a pure function of those and i, whatever the order of calls. */
typedef struct kvq__rng {
    uint64_t seed;
    uint32_t purpose, trial;
    uint64_t next;       /* index of the next 32-bit word */
    uint64_t cached;     /* index of the block held in block[] (UINT64_MAX: none) */
    uint32_t block[4];   /* one Philox block, so sequential draws cost ¼ block each */
} kvq__rng;
void kvq__rng_init(kvq__rng *rng, uint64_t seed, uint32_t purpose, uint32_t trial);
uint32_t kvq__rng_u32(kvq__rng *rng);
/* (u + 0.5) * 2^-32, in (0, 1). */
double kvq__rng_uniform(kvq__rng *rng);
/* Standard normal by Box–Muller. */
double kvq__rng_normal(kvq__rng *rng);
/* Stream layout (doc/quantization.md §2): word i of the stream (seed, purpose, trial) is
 * word i % 4 of the Philox block with ctr = {b low 32, b high 32, trial,
 * purpose}, b = i / 4, and key = {seed low 32, seed high 32}. A normal uses
 * two consecutive words w0, w1 (rng->next is advanced by 2):
 * sqrt(-2 ln u(w0)) · cos(2π u(w1)), u(w) = (w + 0.5) · 2^-32. */

/* n standard normals: element e is the normal of words 2(first+e) and
 * 2(first+e)+1 of the stream, so any slice can be generated independently. */
void kvq__rng_fill_normal(uint64_t seed, uint32_t purpose, uint32_t trial,
                                 uint64_t first, float *out, size_t n);

/* ---- Lloyd–Max codebooks for the hypersphere Beta law (doc/quantization.md §4) ---- */

/* The 2^bits-level Lloyd–Max quantizer of one coordinate of a uniformly
 * random unit vector in R^dim (centroids not scaled by sqrt(dim)). */
typedef struct kvq_codebook {
    int dim, bits, levels;      /* levels = 2^bits */
    const double *centroids;    /* levels values, ascending, symmetric about 0 */
    const double *thresholds;   /* levels-1 midpoints of neighbouring centroids */
    double distortion;          /* D_b(d) = d · E[(x − Q(x))²] */
} kvq_codebook;

/* The codebook for dim (a power of two, 16…1024) and bits (1…8), computed
 * in double precision to convergence (Lloyd step |Δc| < 1e-12) the first
 * time it is asked for and cached for the life of the process (thread-safe).
 * *cb stays valid until exit. KVQ_ERR_INVALID_ARG outside those ranges. */
KVQ_API int kvq_codebook_get(int dim, int bits, const kvq_codebook **cb);

/* ---- Rotations (doc/quantization.md §3) ---- */

enum kvq_rotation_kind {
    KVQ_ROT_NONE = 0,   /* identity */
    KVQ_ROT_WHT = 1,    /* R = H·D/sqrt(d), O(d log d) */
    KVQ_ROT_WHT2 = 2,   /* two WHT rounds with independent signs: R = R₂·R₁ */
    KVQ_ROT_DENSE = 3   /* Haar-random orthogonal (QR of a Gaussian matrix), O(d²) */
};

/* The unnormalized Sylvester–Hadamard butterfly in place: x ← H_dim x, with
 * H_1 = [1], H_2n = [[H_n, H_n], [H_n, −H_n]] (natural order); dim a power of two. */
void kvq__wht_inplace(double *x, int dim);

typedef struct kvq_rotation kvq_rotation;

/* Creates a rotation of the given kind for dim (a power of two, 16…1024)
 * from the stream (seed, purpose, trial). WHT round r's signs are
 * s_i = −1 if the lowest bit of stream word r·dim + i is set, else +1.
 * Dense: Q of the QR factorization (sign-fixed so diag(R) > 0) of a dim×dim
 * Gaussian matrix G, G[i][j] = normal number i·dim + j of the stream. */
KVQ_API int kvq_rotation_create(kvq_rotation **r, int kind, int dim, uint64_t seed,
                                uint32_t purpose, uint32_t trial);
KVQ_API void kvq_rotation_destroy(kvq_rotation *r);
/* x ← R x (one vector of dim doubles, in place). WHT: signs first, then the
 * butterfly, then the 1/sqrt(d) scale; WHT2 then repeats with round 1. */
KVQ_API void kvq_rotation_forward(const kvq_rotation *r, double *x);
/* x ← Rᵀ x = R⁻¹ x. */
KVQ_API void kvq_rotation_inverse(const kvq_rotation *r, double *x);
KVQ_API int kvq_rotation_kind(const kvq_rotation *r);
KVQ_API int kvq_rotation_dim(const kvq_rotation *r);
/* Number of sign rounds: 0 (none, dense), 1 (wht), 2 (wht2). */
int kvq__rotation_rounds(const kvq_rotation *r);
/* dim values ±1 of a sign round (0-based), or NULL if there is none. */
const float *kvq__rotation_signs(const kvq_rotation *r, int round);
/* The dense matrix R (dim×dim, row-major, y = R x), or NULL unless dense. */
const double *kvq__rotation_matrix(const kvq_rotation *r);

/* ---- Codecs (doc/quantization.md §5) ---- */

/* What a codec does. A zeroed struct plus mse_bits is a valid spec. */
typedef struct kvq_codec_spec {
    int rotation;       /* enum kvq_rotation_kind */
    int mse_bits;       /* 0…8; 0 = no MSE stage (x̂_mse = 0) */
    int qjl;            /* 0/1: QJL on the residual */
    int qjl_m;          /* QJL projections m; 0 means m = dim */
    int norm_correct;   /* store ν/‖C[idx]‖ so that ‖x̂_mse‖ = ‖x‖ */
    int norm_bits;      /* side information per stored norm: 32 or 16 (0 = 32) */
} kvq_codec_spec;

/* A realized codec: spec + dim + rotation + codebook + QJL matrix S. */
typedef struct kvq_codec kvq_codec;

/* Realizes a spec for dim (power of two, 16…1024) and trial. tensor 0 (K)
 * takes the rotation from purpose KVQ_RNG_ROT_K and S from KVQ_RNG_QJL_K;
 * tensor 1 (V) from KVQ_RNG_ROT_V and KVQ_RNG_QJL_V. S is m×dim floats,
 * row-major: S[i][j] = kvq__rng_fill_normal element i·dim + j. m ≤ 16·dim. */
KVQ_API int kvq_codec_create(kvq_codec **c, const kvq_codec_spec *spec, int dim,
                             uint64_t seed, int tensor, uint32_t trial);
KVQ_API void kvq_codec_destroy(kvq_codec *c);
KVQ_API int kvq_codec_dim(const kvq_codec *c);
/* The spec in effect (qjl_m resolved to m, norm_bits to 32 or 16). */
KVQ_API const kvq_codec_spec *kvq_codec_spec_get(const kvq_codec *c);
const kvq_rotation *kvq__codec_rotation(const kvq_codec *c);
/* NULL when mse_bits = 0. */
const kvq_codebook *kvq__codec_codebook(const kvq_codec *c);
/* S (m×dim floats, row-major), NULL without QJL. */
const float *kvq__codec_qjl_matrix(const kvq_codec *c);
/* m, or 0 without QJL. */
int kvq__codec_qjl_m(const kvq_codec *c);
/* 32-bit words of packed codes per vector: ceil((mse_bits·dim + m) / 32). */
size_t kvq__codec_words(const kvq_codec *c);

/* ---- Packed tensors and the bit-planar layout (doc/quantization.md §6) ----
 *
 * Each vector is one bit stream of b·d + m bits (b = mse_bits, d = dim,
 * m = QJL projections, 0 without QJL), padded with zero bits to
 * W = ceil((b·d + m) / 32) 32-bit words. Bit p of the stream is bit (p & 31)
 * (LSB = bit 0) of word p >> 5.
 *   - MSE planes: plane k (k = 0 … b−1, k = 0 the least significant bit of
 *     the code index) holds bit k of coordinate j's code at p = k·d + j.
 *     The code index idx_j ∈ [0, 2^b) selects centroid C_b[idx_j] (ascending
 *     order); idx_j = number of thresholds t with u_j > t, i.e. the nearest
 *     centroid with ties to the lower index.
 *   - QJL plane: sign i (i < m) at p = b·d + i, bit 1 ⇔ z_i = +1 (sign(0) = +1).
 * With d ≥ 32 every plane is d/32 whole words; an n-bit QJL codec with m = d
 * is exactly n planes. */
typedef struct kvq_qtensor {
    int dim;
    size_t count;       /* vectors */
    int mse_bits, qjl_m;
    size_t words;       /* W, 32-bit words per vector */
    uint32_t *codes;    /* count × words */
    float *norms;       /* count: ν = ‖x‖, or ν/‖C[idx]‖ with norm_correct
                         * (rounded to IEEE half and back with norm_bits 16) */
    float *gammas;      /* count: γ = ‖r‖ of the QJL residual; NULL without QJL */
} kvq_qtensor;

/* W for (dim, bits, m). */
size_t kvq__packed_words(int dim, int bits, int m);
/* Allocates a zeroed tensor for count vectors of codec c. */
int kvq__qtensor_init(kvq_qtensor *t, const kvq_codec *c, size_t count);
/* Frees the arrays and zeroes *t; safe on a zeroed struct. */
void kvq__qtensor_clear(kvq_qtensor *t);
/* Writes the b MSE planes of one vector (stream bits 0 … b·d−1; other bits
 * of the words are left as they are). idx[j] < 2^bits. */
void kvq__pack_codes(const uint8_t *idx, int dim, int bits, uint32_t *words);
/* Reads the b MSE planes of one vector back into idx[0 … dim−1]. */
void kvq__unpack_codes(const uint32_t *words, int dim, int bits, uint8_t *idx);
/* Writes the QJL plane (stream bits b·d … b·d+m−1) from z[i] ∈ {−1, +1}
 * (any z[i] ≥ 0 counts as +1); other bits are left as they are. */
void kvq__pack_signs(const int8_t *z, int m, int dim, int bits, uint32_t *words);
/* Reads the QJL plane back as z[i] ∈ {−1, +1}. */
void kvq__unpack_signs(const uint32_t *words, int m, int dim, int bits, int8_t *z);
/* x rounded to the nearest IEEE binary16 value (ties to even) and back;
 * ±inf beyond the half range (|x| ≥ 65520). */
double kvq__round_half(double x);

/* ---- Host codec: the reference (inputs float, arithmetic in double) ---- */

/* Quantizes count vectors x (count × dim, row-major) into out, which must
 * have been allocated for this codec with at least count vectors: ν = ‖x‖,
 * u = R x / ν, nearest-centroid codes; with QJL, r = x − x̂_mse (original
 * domain, x̂_mse from the stored ν), γ = ‖r‖, z = sign(S r). A zero vector
 * gives ν = 0, the codes of u = 0, γ = 0 and z = +1. Returns
 * KVQ_ERR_NONFINITE on NaN/Inf input, KVQ_ERR_UNSUPPORTED when a norm does
 * not fit in half precision (norm_bits 16). */
int kvq__codec_quantize(const kvq_codec *c, const float *x, size_t count,
                               kvq_qtensor *out);
/* x̂ = ν·Rᵀ C[idx] + sqrt(π/2)/m · γ · Sᵀ z for every vector of t (t->count × dim). */
int kvq__codec_dequantize(const kvq_codec *c, const kvq_qtensor *t, float *xhat);
/* Query side of the compressed-domain estimator: qr = R q (dim doubles) and,
 * with QJL, sq = S q (m doubles; sq may be NULL without QJL). */
void kvq__codec_prepare_query(const kvq_codec *c, const float *q, double *qr,
                                     double *sq);
/* Estimate of ⟨q, x_j⟩ from vector j of t without dequantizing:
 * ν_j·⟨qr, C[idx_j]⟩ + sqrt(π/2)/m · γ_j · ⟨sq, z_j⟩. */
double kvq__codec_dot(const kvq_codec *c, const kvq_qtensor *t, size_t j,
                             const double *qr, const double *sq);

/* ---- Schemes and the fair bit budget (doc/schemes.md) ---- */

/* Storage cost of one codec at dim. */
typedef struct kvq_budget {
    double payload_bits;    /* per coordinate: mse_bits + m/dim with QJL */
    double side_bits;       /* per vector: norm_bits for ν (if mse_bits > 0)
                             * + norm_bits for γ (if QJL) */
    double effective_bits;  /* payload_bits + side_bits/dim */
    double bytes_per_token; /* per head, this tensor alone: 4·W + side_bits/8 */
} kvq_budget;
KVQ_API void kvq_codec_budget(const kvq_codec_spec *s, int dim, kvq_budget *b);

/* A scheme: one codec for K, one for V. */
typedef struct kvq_scheme {
    char name[64];      /* "KV", "KQV", "QKQV", or the canonical custom spec */
    int bits;           /* budget n; 0 for a custom scheme */
    kvq_codec_spec k, v;
} kvq_scheme;

/* Preset name KV | KQV | QKQV (case-insensitive) at budget n (1…8):
 *   KV   K: none+MSE(n)       V: none+MSE(n)
 *   KQV  K: wht+MSE(n)        V: wht+MSE(n−1)+QJL
 *   QKQV K: wht+MSE(n−1)+QJL  V: wht+MSE(n−1)+QJL
 * with m = dim and 32-bit norms (MSE(0)+QJL is pure QJL at n = 1).
 * KVQ_ERR_BAD_SPEC for an unknown name, KVQ_ERR_INVALID_ARG for n. */
KVQ_API int kvq_scheme_preset(const char *name, int n, kvq_scheme *s);
/* Parses a preset name (then n is used) or a custom spec:
 *   spec  := part ("," part)*      with exactly one k= and one v= part
 *   part  := ("k" | "v") "=" [rot ":"] stage ("+" stage)*
 *   rot   := none | wht | wht2 | dense            (default none)
 *   stage := mse<b> (b = 0…8) | qjl | qjl<m> (m = 1…16·dim projections,
 *            checked at codec creation) | nc (norm correction)
 *          | nb16 | nb32 (norm bits)
 * e.g. "k=wht:mse4,v=wht:mse3+qjl", "k=none:mse4,v=wht2:qjl+nb16".
 * A codec needs an MSE stage or QJL (qjl alone = mse0+qjl). On error returns
 * KVQ_ERR_BAD_SPEC (or KVQ_ERR_INVALID_ARG for n) and writes a one-line
 * reason naming the bad token into err (if errlen > 0). */
KVQ_API int kvq_scheme_parse(const char *text, int n, kvq_scheme *s, char *err,
                             size_t errlen);
/* Writes the canonical text of a codec spec ("wht:mse3+qjl") into buf. */
KVQ_API void kvq_codec_spec_format(const kvq_codec_spec *s, char *buf, size_t len);

/* @@end core@@ */

/* ======================================================================
 * Device: quantization and attention on a context (src/device)
 * ====================================================================== */
/* @@device@@ */
/* Per-query attention results (doc/metrics.md), from the device or the host
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

/* Exact double-precision distribution metrics (the host reference, src/core)
 * of one query from its reference
 * and quantized logits (length n >= 1): stable softmax, KL both ways, JS
 * (nats), TV, entropies, top1 (argmax, ties to the lowest index), top-k
 * recall with k = min(topk, n) (ties to the lower index), logit_mse/bias of
 * eps = quant - ref, var_p_eps. Written to be accurate for tiny divergences
 * (KL ~ 1e-12 keeps ~1e-6 relative accuracy). out_rel_err/out_dir_err are
 * set to 0 (the caller fills them). topk_recall is NaN if topk < 1 or a
 * large-k scratch allocation fails. */
KVQ_API void kvq_distribution_metrics(const double *logits_ref,
                                      const double *logits_quant, size_t n,
                                      int topk, kvq_query_metrics *out);

/* One attention experiment (doc/metrics.md): M queries against N keys and values,
 * each quantized by its codec. The quantized tensors come from
 * kvq_quantize (any context) or kvq__codec_quantize (host). */
typedef struct kvq_attention_job {
    int dim;
    size_t keys, queries;
    double sharpness;               /* τ; logits τ·⟨q, k⟩/√d */
    int topk;                       /* k of top-k recall; 0 means 8 */
    const float *q, *k, *v;         /* queries×dim, keys×dim, keys×dim */
    const struct kvq_codec *k_codec, *v_codec;
    const struct kvq_qtensor *k_codes, *v_codes;
} kvq_attention_job;

/* Where kvq_attention_run puts its results. queries is required; the
 * others are optional (NULL: not returned). */
typedef struct kvq_attention_out {
    kvq_query_metrics *queries;     /* [queries] */
    kvq_vector_errors k_err, v_err; /* filled when want_vector_errors */
    int want_vector_errors;
    float *logits_ref, *logits_quant; /* [queries × keys] */
    float *out_ref, *out_quant;       /* [queries × dim] */
} kvq_attention_out;

/* Runs the job on ctx: on an OpenCL device, logits straight from the codes,
 * softmax statistics on the device (keys split into chunks with a
 * log-sum-exp merge when $KVQ_CHUNK_KEYS or the device's allocation limit
 * asks for it); on the host, the double-precision reference. */
KVQ_API int kvq_attention_run(kvq_ctx *ctx, const kvq_attention_job *job,
                              kvq_attention_out *out);

/* The double-precision host reference of the same job (what the host
 * context runs; the oracle of the conformance tests). */
int kvq__reference_attention(const kvq_attention_job *job, kvq_attention_out *out);

/* Quantizes count vectors (count × dim floats) with codec on ctx into out
 * (allocated by the caller with kvq__qtensor_init). */
KVQ_API int kvq_quantize(kvq_ctx *ctx, const struct kvq_codec *codec, const float *x,
                         size_t count, struct kvq_qtensor *out);
/* Reconstructs x̂ (count × dim floats) from a quantized tensor on ctx. */
KVQ_API int kvq_dequantize(kvq_ctx *ctx, const struct kvq_codec *codec,
                           const struct kvq_qtensor *t, float *xhat);
/* x ← R x (or Rᵀ x when inverse) for count vectors, batched on ctx. */
KVQ_API int kvq_rotate(kvq_ctx *ctx, const struct kvq_rotation *r, float *x, size_t count,
                       int inverse);
/* @@end device@@ */

/* ======================================================================
 * Data: synthetic sources and tensor files (src/data)
 * ====================================================================== */
/* @@data@@ */
/* A dense float32 tensor in C order read from a file (or made by a caller).
 * ndim is 0…4; shape[i] for i >= ndim is 1. data is NULL when the tensor
 * has no elements. Free with kvq__tensor_clear. */
typedef struct kvq_tensor {
    float *data;
    int ndim;
    size_t shape[4];
} kvq_tensor;

/* Frees the data and zeroes the struct (safe on a zeroed struct). */
void kvq__tensor_clear(kvq_tensor *t);
/* Number of elements (product of the shape; 1 for a 0-d tensor). */
KVQ_API size_t kvq_tensor_numel(const kvq_tensor *t);
/* Views a tensor as independent heads of [rows, dim] matrices:
 * [N,d] -> 1 head, [H,N,d] -> H, [B,H,N,d] -> B*H. Rejects other ranks and
 * empty tensors with KVQ_ERR_FORMAT and a message in err. */
KVQ_API int kvq_tensor_as_heads(const kvq_tensor *t, size_t *heads, size_t *rows,
                                size_t *dim, char *err, size_t errlen);
/* KVQ_ERR_NONFINITE naming the first NaN/Inf element (flat and multi-index). */
KVQ_API int kvq_tensor_check_finite(const kvq_tensor *t, char *err, size_t errlen);
/* 0 when d is a power of two in 16…1024 (what the WHT rotation needs), else
 * KVQ_ERR_UNSUPPORTED with an explanation. */
KVQ_API int kvq_dim_check(size_t d, char *err, size_t errlen);
/* Zero-pads the last dimension to new_dim (>= the current one) in place.
 * Dot products and norms are unchanged; offered for head dims such as 80 or
 * 96 that kvq_dim_check rejects (the caller must keep the logit scale
 * 1/sqrt(d) of the original d to leave attention unchanged). */
int kvq__tensor_pad_dim(kvq_tensor *t, size_t new_dim);

/* .npy reader: versions 1.0/2.0/3.0, descr '<f4', '<f2', '<f8' (converted to
 * float), C order, 0 to 4 dimensions. err gets only "what is wrong"; callers
 * prefix "kvq: <file>: ". Returns KVQ_ERR_IO (open/read), KVQ_ERR_FORMAT
 * (malformed), KVQ_ERR_UNSUPPORTED (valid but not readable by kvq, e.g. an
 * integer dtype or Fortran order), KVQ_ERR_NOMEM. On failure *t is zeroed. */
int kvq__npy_read(const char *path, kvq_tensor *t, char *err, size_t errlen);
/* The same, parsing len bytes at buf (the fuzzing entry point). */
int kvq__npy_read_mem(const void *buf, size_t len, kvq_tensor *t,
                             char *err, size_t errlen);
/* Writes t as a version 1.0 (2.0 if the header needs it) '<f4' .npy file,
 * atomically: a temporary file in the same directory renamed onto path on
 * success and removed on failure, so path is never half-written. Mode 0644. */
KVQ_API int kvq_npy_write(const char *path, const kvq_tensor *t, char *err, size_t errlen);

/* .safetensors reader: reads tensor `name` (dtype F32, F16, BF16 or F64,
 * converted to float) after validating the whole header: size <= 100 MB and
 * within the file, UTF-8 JSON object with no duplicate keys, known dtypes,
 * data_offsets contiguous from 0 without gaps or overlaps ending at the end
 * of the file, byte size = elements x dtype size, no shape overflow.
 * A missing tensor is KVQ_ERR_FORMAT ("no tensor named ..."). */
int kvq__safetensors_read(const char *path, const char *name, kvq_tensor *t,
                                 char *err, size_t errlen);
int kvq__safetensors_read_mem(const void *buf, size_t len, const char *name,
                                     kvq_tensor *t, char *err, size_t errlen);
/* 1 if the (valid) file has a tensor of that name, 0 if not, < 0 on error. */
KVQ_API int kvq_safetensors_has(const char *path, const char *name, char *err, size_t errlen);

/* Real K, V (and optionally Q) of one experiment set, all as heads.
 * K and V: [heads, keys, dim]; Q: [heads, queries, dim]. A Q with g times
 * as many heads as K (grouped-query attention, query heads g*j…g*j+g-1 share
 * K/V head j) is folded to [heads, g*queries, dim]; q_group says g. */
typedef struct kvq_kv {
    kvq_tensor k, v, q;      /* q.data == NULL when there are no queries */
    size_t heads, keys, queries, dim, q_group;
} kvq_kv;
/* Loads tensors k_name, v_name, q_name (NULL: "k", "v", "q"; the default
 * "q" is optional, an explicit q_name is required) from one .safetensors
 * file, checks NaN/Inf, shapes ([N,d], [H,N,d], [B,H,N,d]), agreement of K,
 * V and Q, and the head dimension (kvq_dim_check). */
int kvq__kv_load_safetensors(const char *path, const char *k_name,
                                    const char *v_name, const char *q_name,
                                    kvq_kv *kv, char *err, size_t errlen);
/* The same from .npy files (q_path may be NULL). *bad_path is set to the
 * file the error is about. */
int kvq__kv_load_npy(const char *k_path, const char *v_path, const char *q_path,
                            kvq_kv *kv, const char **bad_path,
                            char *err, size_t errlen);
void kvq__kv_clear(kvq_kv *kv);

/* Synthetic data families (doc/statistics.md); every family has unit variance. */
enum kvq_dist {
    KVQ_DIST_GAUSS = 0,      /* i.i.d. N(0,1) */
    KVQ_DIST_STUDENT_T = 1,  /* Student-t(nu) * sqrt((nu-2)/nu), nu > 2 */
    KVQ_DIST_LAPLACE = 2,    /* Laplace with scale 1/sqrt(2) */
    KVQ_DIST_OUTLIER = 3     /* Gaussian, a few channels scaled up, renormalized */
};
/* A synthetic source, parsed from --dist and --rank by kvq_source_parse.
 * Dist grammar: FAMILY[+needleALPHA] with FAMILY = gauss | t<nu> | laplace |
 * outlier[C[xS]] (C outlier channels, default 4, times S, default 10).
 * Rank: "full" or a positive integer (must be < d at generation). */
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
 * function of its arguments. Low rank r: X = (Z W + 0.05 E)/sqrt(1+0.05^2),
 * Z [n,r] from the family, W [r,dim] N(0,1/r) drawn per (purpose, trial),
 * E [n,dim] N(0,1). */
KVQ_API int kvq_source_generate(const kvq_source *s, uint64_t seed, uint32_t purpose,
                                uint32_t trial, size_t n, int dim, float *out);
/* Queries q_out[m*dim]: without a needle, kvq_source_generate with purpose
 * KVQ_RNG_DATA_Q; with needle alpha, q_i = (alpha k_j(i) + e_i)/sqrt(1+alpha^2)
 * with e_i that same draw and j(i) uniform over the n_keys keys. */
KVQ_API int kvq_source_queries(const kvq_source *s, uint64_t seed, uint32_t trial,
                               const float *keys, size_t n_keys, size_t m, int dim,
                               float *q_out);
/* Index j(i) of the key planted in query i (for tests and reports). */
size_t kvq__source_needle_index(uint64_t seed, uint32_t trial, size_t i,
                                       size_t n_keys);
/* @@end data@@ */

/* ======================================================================
 * Analysis: metrics, statistics, findings (src/analysis)
 * ====================================================================== */
/* @@analysis@@ */
#include <stdio.h>   /* FILE, for the report writers */
/* ---- Metrics (doc/metrics.md §2), in that table's order; names are the JSON keys. ---- */
enum kvq_metric {
    KVQ_METRIC_KL, KVQ_METRIC_KL_REV, KVQ_METRIC_JS, KVQ_METRIC_TV,
    KVQ_METRIC_ENTROPY_REF, KVQ_METRIC_ENTROPY_QUANT,
    KVQ_METRIC_TOP1, KVQ_METRIC_TOPK_RECALL,
    KVQ_METRIC_LOGIT_MSE, KVQ_METRIC_LOGIT_BIAS, KVQ_METRIC_JENSEN_RATIO,
    KVQ_METRIC_OUT_REL_ERR, KVQ_METRIC_OUT_DIR_ERR,
    KVQ_METRIC_K_REL_MSE, KVQ_METRIC_K_DIR_ERR,
    KVQ_METRIC_V_REL_MSE, KVQ_METRIC_V_DIR_ERR,
    KVQ_METRIC_DIST6,
    KVQ_METRIC_COUNT
};
/* The JSON key of a metric id ("kl", "dist6"), or NULL when out of range. */
KVQ_API const char *kvq_metric_name(int id);
/* The id of a metric name (exact match), or -1. */
int kvq__metric_lookup(const char *name);
/* 1 when larger values are better (top1, topk_recall), else 0. Comparisons
 * (kvq__compare_paired) always call the lower value the winner. */
KVQ_API int kvq_metric_higher_is_better(int id);

/* One trial's metrics from its per-query and per-vector records: plain means
 * over the m queries (a NaN query value propagates); jensen_ratio = mean over
 * the queries with var_p_eps > 0 of kl / (var_p_eps / 2) (NaN when none);
 * k_* and v_* from k and v (NaN when NULL); dist6 = Euclidean norm of
 * (k_rel_mse, k_dir_err, v_rel_mse, v_dir_err, js / ln 2, out_rel_err). */
void kvq__trial_aggregate(const kvq_query_metrics *q, size_t m,
                                 const kvq_vector_errors *k,
                                 const kvq_vector_errors *v,
                                 double out[KVQ_METRIC_COUNT]);

/* ---- Statistics (doc/statistics.md) ---- */
/* Percentile bootstrap CI of the mean of x: `resamples` resamples (<= 0:
 * 10000) of n indices drawn from kvq__rng(seed, KVQ_RNG_BOOTSTRAP, stream);
 * the CI bounds are the (1-level)/2 and (1+level)/2 quantiles (linear
 * interpolation, numpy's default) of the resampled means. NaN entries are
 * skipped. One value: lo = hi = that value. No value: NaN and
 * KVQ_ERR_INVALID_ARG; level outside (0,1) likewise. */
int kvq__bootstrap_ci(const double *x, size_t n, int resamples,
                             double level, uint64_t seed, uint32_t stream,
                             double *lo, double *hi);
/* Wilcoxon signed-rank test of paired differences d, two-sided p. Zero and
 * NaN differences are dropped (Wilcoxon's method); |d| ties get midranks.
 * Up to 25 nonzero differences: exact permutation distribution of the
 * signed (mid)rank sum (exact conditional test when there are ties);
 * above: normal approximation with tie and continuity correction.
 * p = min(1, 2 * smaller tail); 1 when nothing is left. */
double kvq__wilcoxon_p(const double *d, size_t n);
/* Two-sided exact binomial sign test (zeros and NaN dropped); 1 if none left. */
double kvq__sign_test_p(const double *d, size_t n);
/* Holm–Bonferroni step-down adjusted p-values (monotone, capped at 1).
 * NaN entries stay NaN and do not count in the family size. adj may alias p. */
void kvq__holm(const double *p, size_t n, double *adj);

/* A paired comparison of A against B over trials, delta = a - b (lower is
 * better: verdict -1 = A wins, 0 = tie, +1 = A loses). */
typedef struct kvq__comparison {
    double mean, ci_lo, ci_hi;  /* mean delta and its 95% bootstrap CI */
    double p_wilcoxon, p_sign;  /* two-sided, unadjusted */
    double p_holm;              /* Holm-adjusted p_wilcoxon over a family */
    int verdict;                /* -1 A wins (lower), 0 tie, +1 A loses */
    size_t n;                   /* pairs used */
} kvq__comparison;
/* Compares a against b (pairs with a NaN are dropped). p_holm starts as
 * p_wilcoxon and the verdict as for a family of one; kvq__comparisons_finalize
 * redoes both over all comparisons of a report. No pair left:
 * KVQ_ERR_INVALID_ARG, NaN statistics, tie. */
int kvq__compare_paired(const double *a, const double *b, size_t n,
                               uint64_t seed, uint32_t stream, kvq__comparison *out);
/* Holm over the p_wilcoxon of c[0..n), then each verdict: win when
 * ci_hi < 0 and p_holm < 0.05, loss when ci_lo > 0 and p_holm < 0.05, else tie. */
void kvq__comparisons_finalize(kvq__comparison *c, size_t n);

/* ---- Results of a sweep ---- */
/* One configuration's per-trial results. per_trial[m] holds `trials` values
 * of metric m (NaN = undefined); qjl_var_measured/qjl_var_bound are optional
 * per-trial arrays (NULL when absent): the measured variance of the QJL
 * inner-product estimate and its pi/(2m)·E||q||²γ² bound. */
typedef struct kvq__cell {
    char scheme[64];
    int bits;
    char dist[32];
    char rank[16];
    int dim;
    size_t keys, queries;
    double sharpness;
    size_t trials;
    double *per_trial[KVQ_METRIC_COUNT];
    double *qjl_var_measured, *qjl_var_bound;
    double seconds;
    char device[128];
    double eff_bits_k, eff_bits_v;   /* n + side bits / d, for K and V */
    double *summary;                 /* kvq__results_summarize's cache: mean, ci_lo, ci_hi
                                      * of each metric (NULL: none) */
    uint64_t summary_seed;           /* the seed the cache was computed with */
} kvq__cell;

typedef struct kvq__results {
    kvq__cell *cells;
    size_t count, cap;
    uint64_t seed;
} kvq__results;

int kvq__results_create(kvq__results **out, uint64_t seed);
/* Frees every cell's arrays and the results. NULL is fine. */
void kvq__results_free(kvq__results *r);
/* Appends a copy of tmpl: its fields, and fresh per_trial arrays (trials
 * values each) copied from tmpl->per_trial[m] or NaN-filled when that is
 * NULL; the qjl arrays are copied when tmpl has them, else stay NULL.
 * *out (may be NULL) points at the stored cell until the next add. */
int kvq__results_add(kvq__results *r, const kvq__cell *tmpl, kvq__cell **out);
/* The first cell with this scheme (case-insensitive), bits, dist and rank. */
const kvq__cell *kvq__results_find(const kvq__results *r, const char *scheme,
                                         int bits, const char *dist, const char *rank);
/* Mean (NaN skipped) and 95% percentile-bootstrap CI of one metric of a
 * cell, resampled with kvq__rng(seed, KVQ_RNG_BOOTSTRAP, stream = metric). */
void kvq__cell_summary(const kvq__cell *c, int metric, uint64_t seed,
                              double *mean, double *ci_lo, double *ci_hi);
/* Computes and caches every cell's summaries (mean and bootstrap CI of each
 * metric, seeded with r->seed) so the report writers, which each need them,
 * bootstrap once. Call when the table is complete; per_trial edits after it
 * are not seen by the cache. */
int kvq__results_summarize(kvq__results *r);

/* ---- Findings (doc/statistics.md §4) ---- */
enum kvq__verdict { KVQ_NO_DATA = 0, KVQ_HOLDS = 1, KVQ_FAILS = 2, KVQ_MIXED = 3 };
/* "HOLDS", "FAILS", "MIXED", "NO DATA". */
const char *kvq__verdict_name(int verdict);
#define KVQ_NO_CLAIM 2   /* kvq__finding_cell.expected: shown, not judged */

/* One piece of evidence: the comparison a vs b of one metric at one
 * configuration (delta = a - b), or for the Jensen finding the ratio itself
 * (mean/CI of jensen_ratio, tested against 1; b = "1"). */
typedef struct kvq__finding_cell {
    char label[320];         /* "n=4 gauss/full: KQV vs KV"; Jensen: "n=4 gauss/full: QKQV" */
    char source[64];         /* dist/rank */
    char a[64], b[64];
    int bits, metric;
    double mean, ci_lo, ci_hi, p_holm;
    size_t n;                /* trials paired */
    int verdict;             /* -1 a lower, 0 tie, +1 a higher (significant) */
    int expected;            /* the claimed verdict, or KVQ_NO_CLAIM */
    int agrees;              /* verdict == expected */
    double qjl_var, qjl_bound; /* Jensen: means of the optional arrays, else NaN */
} kvq__finding_cell;

typedef struct kvq__finding {
    char id[16];             /* "F1", "F2", "F3", "Jensen" */
    char claim[192];
    int verdict;             /* enum kvq__verdict */
    char summary[256];       /* one line: counts of agreeing cells */
    kvq__finding_cell *cells;
    size_t count;
} kvq__finding;

enum { KVQ_FINDING_F1, KVQ_FINDING_F2, KVQ_FINDING_F3, KVQ_FINDING_JENSEN,
       KVQ_FINDING_COUNT };
typedef struct kvq__findings {
    kvq__finding f[KVQ_FINDING_COUNT];
    size_t comparisons;      /* distinct hypotheses in the one Holm family */
    uint64_t seed;
} kvq__findings;

/* Evaluates F1, F2, F3 and Jensen from the results, never assuming the
 * answer. All comparisons go through one Holm family. Verdict of a finding
 * from its judged cells: HOLDS when all agree with the claim, MIXED when at
 * least half do, FAILS when fewer than half do, NO DATA when there is no
 * judged cell. */
int kvq__findings_evaluate(const kvq__results *r, uint64_t seed,
                                  kvq__findings **out);
void kvq__findings_free(kvq__findings *f);

/* ---- Reports ---- */
/* doc/conformance.md §6.3 `run` object of one cell: "config", "metrics" (every metric:
 * mean, ci_lo, ci_hi, per_trial; NaN as null), "timing". No newline after. */
int kvq__report_json_cell(FILE *f, const kvq__cell *c, uint64_t seed);
/* A JSON array of every cell's object, one per line; newline-terminated. */
int kvq__report_json(FILE *f, const kvq__results *r);
/* CSV (RFC 4180): header, then one row per cell: config columns, then
 * <metric>_mean, <metric>_ci_lo, <metric>_ci_hi for every metric; NaN empty. */
int kvq__report_csv(FILE *f, const kvq__results *r);
/* The findings report in Markdown: verdicts, evidence tables, F3 winner
 * table, Jensen summary, definitions (dist6, statistics). */
int kvq__report_markdown(FILE *f, const kvq__results *r, const kvq__findings *fs);
/* Writes a file atomically: writer(fp, arg) into a temporary in the same
 * directory, renamed over path when writer returns 0 and the data reached
 * the disk; removed otherwise. Returns writer's status or KVQ_ERR_IO. */
int kvq__write_atomic(const char *path, int (*writer)(FILE *, void *), void *arg);

/* An experiment grid (doc/statistics.md): every scheme (each carrying its budget) on
 * every source, `trials` paired trials each. With `real` set, the sources
 * are ignored and trial t is head t of the real tensors (trials ≤ heads);
 * without real queries, queries are keys of the head drawn at random. */
typedef struct kvq__experiment {
    int dim;
    size_t keys, queries;         /* synthetic sizes (and queries drawn from real keys) */
    double sharpness;             /* τ */
    int topk;                     /* 0 means 8 */
    size_t trials;
    uint64_t seed;
    const kvq_scheme *schemes;
    size_t nschemes;
    const kvq_source *sources;
    size_t nsources;
    const kvq_kv *real;
    const char *real_name;        /* the "dist" label of real data */
    void (*progress)(void *arg, size_t done, size_t total);
    void *progress_arg;
} kvq__experiment;

/* Runs the grid on ctx, appending one cell per (source, scheme) to r. */
int kvq__experiment_run(kvq_ctx *ctx, const kvq__experiment *e, kvq__results *r);
/* @@end analysis@@ */

#ifdef __cplusplus
}
#endif
#endif /* KVQ_H */
