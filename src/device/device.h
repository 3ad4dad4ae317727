/* device.h — internal helpers of the kernel launchers (src/device). */
#ifndef KVQ_DEVICE_H
#define KVQ_DEVICE_H

#include "runtime/runtime.h"
#include "core/core.h"
#include "base/rows.h"
#include "device/backend.h"

/* A device buffer from the pool filled with bytes of host data (src may be NULL). */
int kvq__dev_upload(kvq_ctx *ctx, const void *src, size_t bytes, cl_mem *out);
/* Blocking write of bytes of host data into a device buffer at offset. */
int kvq__dev_write(kvq_ctx *ctx, cl_mem buf, size_t offset, const void *src, size_t bytes);
/* Blocking read of bytes from a device buffer at offset. */
int kvq__dev_download(kvq_ctx *ctx, cl_mem buf, size_t offset, void *dst, size_t bytes);
/* The same read without waiting: dst is filled once a later blocking read
 * returns (the queue runs in order), and must not be used before. Several
 * results then cost one wait for the device instead of one each. */
int kvq__dev_download_then(kvq_ctx *ctx, cl_mem buf, size_t offset, void *dst, size_t bytes);
/* Waits until the queue has run everything enqueued so far. */
int kvq__dev_wait(kvq_ctx *ctx);
/* Sets bytes of a buffer to zero. */
int kvq__dev_zero(kvq_ctx *ctx, cl_mem buf, size_t bytes);
/* Sets kernel arguments from a table of (size, pointer) pairs. */
typedef struct kvq__arg {
    size_t size;
    const void *value;     /* NULL with size > 0: a __local buffer of that size */
} kvq__arg;
int kvq__dev_args(cl_kernel k, const kvq__arg *args, size_t n);
/* Enqueues a 1-D or 2-D range; local may be NULL (implementation's choice). */
int kvq__dev_launch(kvq_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                   const size_t *local);
/* Sets the arguments and enqueues count work-items, one per vector (or per
 * KVQ_QJL_VECS vectors), in groups of 16 (the CPU kernels that hold a
 * vector in registers). */
int kvq__dev_run_vectors(kvq_ctx *ctx, cl_kernel k, const kvq__arg *args, size_t nargs,
                         size_t count);
/* Sets the arguments and enqueues one work-item per coordinate of count
 * vectors of dimension dim (a dim × count range). */
int kvq__dev_run_coords(kvq_ctx *ctx, cl_kernel k, const kvq__arg *args, size_t nargs, int dim,
                        size_t count);
/* Build options with the head dimension: "-DKVQ_D=<d>". */
void kvq__dev_options(int dim, char *buf, size_t len);
/* The kernel named name from the "common+file" program for dimension dim. */
int kvq__dev_kernel(kvq_ctx *ctx, const char *file, int dim, const char *name, cl_kernel *out);
/* Local size for a per-vector work-group kernel: ≤ dim, ≤ 256, a power of two. */
size_t kvq__dev_group(kvq_ctx *ctx, cl_kernel k, size_t want);
/* kvq__dev_group, halved until fixed + size × per_item bytes of local memory
 * fit the device (as capped by KVQ_DEVICE_LIMITS); 0 if one work-item does not fit. */
size_t kvq__dev_group_local(kvq_ctx *ctx, cl_kernel k, size_t want, size_t fixed,
                           size_t per_item);
/* KVQ_ERR_UNSUPPORTED, explaining that kernel needs bytes of local memory. */
int kvq__dev_no_local(const kvq_ctx *ctx, const char *kernel, size_t bytes);

/* Row-major C ← alpha·op(A)·op(B) + beta·C through CLBlast (m×n result, inner k). */
int kvq__blas_sgemm(kvq_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                   float alpha, cl_mem a, size_t lda, cl_mem b, size_t ldb, float beta,
                   cl_mem c, size_t ldc);
/* The same with element offsets into a, b and c. */
int kvq__blas_sgemm_at(kvq_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

/* Device-resident form of a codec: codebook, rotation signs and QJL matrices. */
typedef struct kvq__dev_codec {
    int dim, bits, m, rounds, norm_correct, half_side;
    int eden;                       /* the stored norm is ν/⟨u, C[idx]⟩ */
    float qjl_scale;                /* κ of the QJL estimate κ·γ·⟨S q, z⟩ (kp.qjl_scale) */
    int symmetric;                  /* float centroids satisfy C[L−1−i] = −C[i] exactly */
    int format;                     /* enum kvq_format; 0 for rotation + MSE + QJL codecs */
    int block_params;               /* a block format's fp16 fields per block (0 otherwise) */
    char format_opts[128];          /* build options of cl/formats.cl for that format */
    size_t words;
    cl_mem thresholds, centroids;   /* floats; NULL without MSE */
    cl_mem signs;                   /* rounds × dim floats (a dummy buffer if rounds = 0) */
    cl_mem matrix;                  /* dense R, dim × dim floats row-major; NULL unless dense */
    cl_mem s;                       /* S, m × dim; NULL without QJL */
    cl_mem sprime;                  /* S·Rᵀ, m × dim; NULL without QJL */
    /* out<c>@<b2> (doc/schemes.md §7.4): the codec runs as its two parts
     * (the other d − c channels, then the c outliers), each uploaded like a
     * codec of its own; the fields above stay empty but dim and words. */
    int out_channels;
    struct kvq__dev_codec *parts;   /* two, or NULL */
    cl_mem order;                   /* the bound tensor's channels: the parts' columns in order */
    int cache_slot;                 /* 1 + its entry in the context's codec cache, or 0: own buffers */
} kvq__dev_codec;
/* The device form of codec c: from the context's cache of recent codecs
 * when one was made from the same key (codec_cache.c), else uploaded. */
int kvq__dev_codec_upload(kvq_ctx *ctx, const struct kvq_codec *c, kvq__dev_codec *d);
/* Uploads codec c's codebook, rotation signs, S and S·Rᵀ into fresh buffers. */
int kvq__dev_codec_make(kvq_ctx *ctx, const struct kvq_codec *c, kvq__dev_codec *d);
/* Gives back a cached codec's reference (release of a cache_slot codec). */
void kvq__dev_codec_cache_drop(kvq_ctx *ctx, kvq__dev_codec *d);
/* Releases every cached codec (the context is closing). */
void kvq__dev_codec_cache_free(kvq_ctx *ctx);
/* Local memory of kvq_quantize besides its reduction scratch: u, r, idx and z. */
size_t kvq__dev_quantize_local(const kvq__dev_codec *d);

/* The operations that have two kernel variants. */
typedef enum kvq__dev_op {
    KVQ_OP_ROTATE,          /* kvq_rotate_vec | kvq_rotate */
    KVQ_OP_QUANTIZE,        /* kvq_quantize_vec | kvq_quantize */
    KVQ_OP_DEQUANTIZE,      /* QJL part: kvq_qjl_add_vec | kvq_signs_dense + SGEMM */
    KVQ_OP_LOGITS,          /* kvq_logits_codes_vec | kvq_logits_codes */
    KVQ_OP_COUNT
} kvq__dev_op;

/* VECTOR: one work-item per vector in float16 registers, no barriers and no
 * local memory (the CPU tuning). GROUP: work-groups sharing local memory, or
 * one work-item per output element (what every device runs). FORMAT: the
 * deployed formats' kernels of cl/formats.cl (quantize, dequantize, logits).
 * TABLE: logits by table lookup (cl/logits.cl), the CPU tuning for up to 4
 * MSE bits and QJL signs. */
typedef enum kvq_variant {
    KVQ_VARIANT_GROUP,
    KVQ_VARIANT_VECTOR,
    KVQ_VARIANT_FORMAT,
    KVQ_VARIANT_TABLE
} kvq_variant;

/* The variant of op for codec d on ctx, from the context's capabilities and
 * options: the only place a launcher's kernel choice is made. */
kvq_variant kvq__dev_select(const kvq_ctx *ctx, kvq__dev_op op, const kvq__dev_codec *d);
/* Whether a deployed format's logits run 16 keys per work-item
 * (kvq_format_logits_vec, the CPU tuning of the formats). */
int kvq__dev_format_logits_vec(const kvq_ctx *ctx, const kvq__dev_codec *d);
/* Whether a deployed format quantizes and dequantizes 16 coordinates a
 * step (kvq_format_quantize_vec / _dequantize_vec: fp8, fp16 and KIVI on CPUs). */
int kvq__dev_format_vec16(const kvq_ctx *ctx, const kvq__dev_codec *d);

/* Whether a rotation that is not dense still runs as a GEMM with its
 * matrix (select.c): the kernels would see no sign rounds. */
int kvq__dev_rotation_as_matrix(int dim);

void kvq__dev_codec_release(kvq_ctx *ctx, kvq__dev_codec *d);
/* x ← scale · R x (or Rᵀ) in place for count device vectors. */
int kvq__dev_rotate(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count, int inverse,
                   float scale);
/* Fused quantization of count device vectors x into codes, norms and gammas. */
int kvq__dev_quantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count, cl_mem codes,
                     cl_mem norms, cl_mem gammas);
/* Chunk size of the last device attention run in this process and how many
 * key chunks its first pass ran: lets the tests prove that chunking happened. */
void kvq__dev_attention_last_chunking(size_t *chunk, size_t *chunks_run);
/* Compressed-domain logits out[i][j] (nq × n) of keys j0 … j0+n−1 against nq
 * queries: qr = τ/√d·R q (nq × dim), sq = S'·qr (nq × m; unused without QJL). */
int kvq__dev_logits(kvq_ctx *ctx, const kvq__dev_codec *kc, cl_mem codes, cl_mem norms,
                   cl_mem gammas, cl_mem qr, cl_mem sq, size_t j0, size_t n, size_t nq,
                   cl_mem out);
/* The same by table lookup (cl/logits.cl; kvq__dev_select picked TABLE). */
int kvq__dev_logits_table(kvq_ctx *ctx, const kvq__dev_codec *kc, cl_mem codes, cl_mem norms,
                          cl_mem gammas, cl_mem qr, cl_mem sq, size_t j0, size_t n, size_t nq,
                          cl_mem out);
/* The logits rows of the softmax passes: a row l of each query and, for
 * quantized logits, the trial's reference rows lref and probabilities p
 * (both NULL for the reference row itself); pass 1 writes e^{l − max} to
 * e, which pass 2 turns into p̃ in place. */
typedef struct kvq__dev_rows {
    cl_mem l, lref, p, e;
} kvq__dev_rows;
/* Softmax pass 1 (row maximum and sum, Σ p·δ, top-k, e) over nq rows of n
 * logits of keys j0 … j0+n−1 (see attention.cl); query i sees the first
 * vis0 + i keys of all (vis0 = every key without a causal mask). */
int kvq__dev_softmax_pass1(kvq_ctx *ctx, int dim, const kvq__dev_rows *rows, size_t n, size_t j0,
                          size_t vis0, size_t k, size_t nq, cl_mem stats, cl_mem topv,
                          cl_mem topi);
/* Softmax pass 2 (divergence sums, p̃ into rows->e) over nq rows given the
 * trial's reference rows and probabilities, pass 1's e and stats of the
 * same chunk and per-query constants; j0 and vis0 as for pass 1. */
int kvq__dev_softmax_pass2(kvq_ctx *ctx, int dim, const kvq__dev_rows *rows, size_t n, size_t j0,
                          size_t vis0, size_t nq, cl_mem stats, cl_mem consts, cl_mem sums);
/* The same for the attention outputs (P·V, P̃·V̂, A·S) and the queries' QJL
 * sketch S′q (which came out bit-identical to CLBlast's): on the host CBLAS
 * where kvq__dev_host_blas says so. The logits stay with CLBlast, whose
 * rounding every result so far was made with: the logit bias, a mean of δ
 * near 0, moves by more than 1e-4 relative with another summation order,
 * the outputs' errors by less than 1e-5 (doc/metrics.md §4.2). */
int kvq__blas_sgemm_out_at(kvq_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                          float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                          size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                          size_t ldc);
/* Whether the output GEMMs of ctx run on the host CBLAS (built with one, and a CPU
 * device whose buffers are host memory) instead of CLBlast. */
int kvq__dev_host_blas(const kvq_ctx *ctx);
/* Work-items per query of the softmax kernels (one work-group per query). */
size_t kvq__dev_row_group(const kvq_ctx *ctx);

/* Pass-1 results of m queries over the chunks of a row: the device records
 * of one chunk and the host copies of all of them (records of KVQ_STATS
 * floats, lists of k candidates). */
typedef struct kvq__chunk_stats {
    cl_mem stats, topv, topi;
    float *h_stats, *h_topv;
    cl_uint *h_topi;
} kvq__chunk_stats;
int kvq__chunk_stats_alloc(kvq_ctx *ctx, size_t m, size_t k, size_t nchunks, kvq__chunk_stats *s);
void kvq__chunk_stats_free(kvq_ctx *ctx, kvq__chunk_stats *s);
/* Pass 1 on chunk c (keys j0 … j0+n−1) and the download of its results. */
int kvq__dev_chunk_stats(kvq_ctx *ctx, int dim, const kvq__dev_rows *rows, size_t c, size_t j0,
                        size_t n, size_t vis0, size_t k, size_t m, kvq__chunk_stats *s);
/* Query i's log-sum-exp merged over the chunks in double (and its maximum
 * logit in *max_out unless NULL). */
double kvq__chunk_stats_lse(const kvq__chunk_stats *s, size_t nchunks, size_t m, size_t i,
                            double *max_out);
/* Query i's top-k keys over the chunks' candidates into sel (value
 * descending, then index ascending, as the host ranks them); returns how many. */
size_t kvq__chunk_stats_topk(const kvq__chunk_stats *s, size_t nchunks, size_t m, size_t k,
                             size_t i, cl_uint *sel);
/* Keys per chunk for m queries of n keys of head dimension d whose chunks
 * start at multiples of token group g: kvq__chunk_rows, at most what one
 * allocation of m logits rows holds; all keys when they fit. */
size_t kvq__dev_chunk_keys(const kvq_ctx *ctx, size_t m, size_t n, size_t d, size_t g);

/* The trial reference (doc/metrics.md §4.2): what attention computes
 * without the codecs, made once per trial and read by every scheme of it:
 * q on the device, the float32 reference logits and probabilities p of
 * each key chunk, and per query the log-sum-exp, top-k, p_max, entropy and
 * reference output P·V. K and V are read from their row sources one chunk
 * at a time (doc/scaling.md §6); with a single chunk they stay on the
 * device for the schemes' vector errors. */
struct kvq__trial {
    kvq_attention_job job;        /* the tensors and sizes (codec fields unused) */
    const kvq__rows *krows, *vrows;
    size_t m, n, d, k, chunk, nchunks;
    size_t vis0;                  /* keys query 0 sees; query i sees vis0 + i (capped at n) */
    float scale;
    cl_mem q, lse;
    cl_mem kx, vx;                /* K and V (chunk × d); kept only with a single chunk */
    cl_mem *lref, *p;             /* per chunk: m × chunk floats */
    double *lse_h, *p_max, *entropy;
    cl_uint *top;                 /* query i's ntop[i] reference top-k keys at i·k */
    size_t *ntop;
    float *oref;                  /* m × d, on the host */
};

/* Rotated-domain MSE reconstruction out[v] = ν_v·C[idx_v] (count × dim). */
int kvq__dev_recon_rot(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem norms,
                      size_t count, cl_mem out);
/* Whether kvq__dev_vector_errors_codes can serve d: not where only
 * kvq__dev_dequantize can make x̂ (work-group kernels, dense R, the out
 * stage). */
int kvq__dev_errors_from_codes(const kvq_ctx *ctx, const kvq__dev_codec *d);
/* The errors of kvq_vector_errors (err: count × KVQ_VEC_ERRS) of x against
 * its codes, from the codes without writing x̂. */
int kvq__dev_vector_errors_codes(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes,
                                 cl_mem norms, cl_mem gammas, cl_mem x, size_t count,
                                 cl_mem err);
/* Dense QJL signs out[v][l] = scale·γ_v·z_vl (count × m). */
int kvq__dev_signs_dense(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem gammas,
                        size_t count, float scale, cl_mem out);
/* Reconstruct x̂ (count × dim) on the device from device codes/norms/gammas. */
int kvq__dev_dequantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem norms,
                       cl_mem gammas, size_t count, cl_mem xhat);

/* The deployed formats (cl/formats.cl): fused quantization into codes (norms
 * get ‖x‖, or +Inf where a value overflows half), x̂, and the logits of keys
 * j0 … j0+n−1 against nq queries qr (nq × dim, prescaled by τ/√d). */
int kvq__dev_format_quantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                            cl_mem codes, cl_mem norms, cl_mem tside);
int kvq__dev_format_dequantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem tside,
                              size_t count, cl_mem xhat);
int kvq__dev_format_logits(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem tside,
                          cl_mem qr, size_t j0, size_t n, size_t nq, cl_mem out);
/* The side buffer of n vectors of t on the device: γ with QJL, else the
 * tensor-level side words of a format (KIVI's group scales, which the format
 * launchers take where others take γ), else a dummy. */
int kvq__dev_upload_side(kvq_ctx *ctx, const kvq_qtensor *t, size_t n, int has_qjl, cl_mem *out);

/* Queries for the logits kernels: qr ← scale·R qr in place (nq rows), and
 * *sq ← S'·qr (nq × m) from the pool (a dummy without QJL). */
int kvq__dev_prepare_queries(kvq_ctx *ctx, const kvq__dev_codec *kc, cl_mem qr, size_t nq,
                             float scale, cl_mem *sq);

/* ---- out<c>@<b2> on the device (outlier.c, doc/schemes.md §7.4). Only the
 * functions below take an out codec; the others take its parts. ---- */
/* A quantized out tensor on the device, per part: codes, stored norms, side
 * buffer (γ for a part with QJL, else a dummy). */
typedef struct kvq__dev_out_tensor {
    cl_mem codes[2], norms[2], side[2];
} kvq__dev_out_tensor;
/* Uploads both parts of codec c into d (called by kvq__dev_codec_upload). */
int kvq__dev_out_upload(kvq_ctx *ctx, const struct kvq_codec *c, kvq__dev_codec *d);
/* Binds d to the channel list of tensor t (quantized by c): uploads the order. */
int kvq__dev_out_bind(kvq_ctx *ctx, kvq__dev_codec *d, const struct kvq_codec *c,
                      const kvq_qtensor *t);
/* Uploads the first n vectors of t as its two parts. */
int kvq__dev_out_tensor_upload(kvq_ctx *ctx, const kvq__dev_codec *d, const kvq_qtensor *t,
                               size_t n, kvq__dev_out_tensor *o);
void kvq__dev_out_tensor_release(kvq_ctx *ctx, kvq__dev_out_tensor *o);
/* Prepares nq queries q (nq × d) for both parts' logits: qr[p], sq[p] from the pool. */
int kvq__dev_out_queries(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem q, size_t nq, float scale,
                         cl_mem qr[2], cl_mem sq[2]);
/* Logits of keys j0 … j0+n−1: the sum of the parts' compressed-domain logits. */
int kvq__dev_out_logits(kvq_ctx *ctx, const kvq__dev_codec *d, const kvq__dev_out_tensor *o,
                        cl_mem qr[2], cl_mem sq[2], size_t j0, size_t n, size_t nq, cl_mem out);
/* x̂ (n × d, the original channels): both parts dequantized and scattered. */
int kvq__dev_out_dequantize(kvq_ctx *ctx, const kvq__dev_codec *d, const kvq__dev_out_tensor *o,
                            size_t n, cl_mem xhat);

/* The OpenCL backend's operations on host arrays (see device/backend.h). */
int kvq__cl_quantize(kvq_ctx *ctx, const struct kvq_codec *c, const float *x, size_t count,
                    struct kvq_qtensor *out);
int kvq__cl_dequantize(kvq_ctx *ctx, const struct kvq_codec *c, const struct kvq_qtensor *t,
                      float *xhat);
int kvq__cl_rotate(kvq_ctx *ctx, const struct kvq_rotation *r, float *x, size_t count,
                  int inverse);
int kvq__cl_attention(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                      const kvq__rows *k, const kvq__rows *v, kvq_attention_out *out);
int kvq__cl_trial_open(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                       const kvq__rows *v, kvq__trial **out);
void kvq__cl_trial_close(kvq_ctx *ctx, kvq__trial *t);
/* The device buffer holding host array x of n floats for an open trial,
 * or NULL; *finite says whether x is all finite, checked once per trial
 * (doc/kernels.md §6). */
cl_mem kvq__dev_mirror_find(kvq_ctx *ctx, const float *x, size_t n, int *finite);
/* Whether all n floats are finite (neither NaN nor ±Inf). */
int kvq__floats_finite(const float *x, size_t n);
/* kvq__cl_trial_open with chunks of the given number of keys. */
int kvq__cl_trial_open_chunked(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                               const kvq__rows *v, size_t chunk, kvq__trial **out);

#endif
