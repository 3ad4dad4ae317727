/* core.h — the host reference math of src/core, internal to kvq: random
 * streams, rotation and codec internals, the packed layout, and the
 * double-precision attention oracle. The tests and tools include it; it is
 * not installed. */
#ifndef KVQ_CORE_H
#define KVQ_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "kvq.h"

#define KVQ_PI 3.14159265358979323846
#define KVQ_TWO_PI 6.28318530717958647692
#define KVQ_SQRT_PI_2 1.25331413731550025121   /* sqrt(π/2): m·κ of Gaussian QJL */

/* ---- Random streams (doc/quantization.md §2) ---- */

/* Philox4x32-10 (Salmon et al., SC'11): one block of 4 × 32-bit outputs
 * from a 128-bit counter and a 64-bit key. */
void kvq__philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Philox block b of stream (seed, purpose, trial). */
void kvq__core_block(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t b,
                     uint32_t out[4]);
/* Blocks first … first + nblocks − 1 of stream (seed, purpose, trial) into
 * out[4·nblocks], the same words as kvq__core_block, computed
 * KVQ__PHILOX_LANES blocks at a time (doc/quantization.md §2). */
#define KVQ__PHILOX_LANES 16
void kvq__core_blocks(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t first,
                      size_t nblocks, uint32_t *out);
/* Word i of stream (seed, purpose, trial). */
uint32_t kvq__core_word(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t i);
double kvq__core_uniform(uint32_t u);
double kvq__core_normal(uint32_t w0, uint32_t w1);

/* Sequential reader of one stream. Word i of (seed, purpose, trial) is a pure
 * function of those and i, whatever the order of calls; the cached block
 * makes sequential draws cost a quarter block each. */
typedef struct kvq__rng {
    uint64_t seed;
    uint32_t purpose, trial;
    uint64_t next;       /* index of the next 32-bit word */
    uint64_t cached;     /* index of the block held in block[] (UINT64_MAX: none) */
    uint32_t block[4];
} kvq__rng;
void kvq__rng_init(kvq__rng *rng, uint64_t seed, uint32_t purpose, uint32_t trial);
uint32_t kvq__rng_u32(kvq__rng *rng);
/* The next n words, as n calls of kvq__rng_u32 would give them, the whole
 * blocks among them by kvq__core_blocks. */
void kvq__rng_fill_u32(kvq__rng *rng, uint32_t *out, size_t n);
/* (u + 0.5) · 2^-32, in (0, 1). */
double kvq__rng_uniform(kvq__rng *rng);
/* Box–Muller from two consecutive words (rng->next advances by 2). */
double kvq__rng_normal(kvq__rng *rng);
/* n normals: element e uses words 2(first+e) and 2(first+e)+1, so any slice
 * can be generated on its own. */
void kvq__rng_fill_normal(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t first,
                          float *out, size_t n);

/* The head dimensions kvq accepts: every d in 16…1024 (doc/quantization.md §3). */
#define KVQ__DIM_MIN 16
#define KVQ__DIM_MAX 1024
/* 1 if dim is in KVQ__DIM_MIN…KVQ__DIM_MAX. */
int kvq__core_dim_ok(int dim);
/* 1 if dim is a power of two (what the Walsh–Hadamard rotations need). */
int kvq__core_pow2(int dim);
/* The parts of an out<c>@<b2> codec may be smaller than a head: their
 * codebooks and rotations exist for every dim 1…KVQ__DIM_MAX (doc/schemes.md §7). */
int kvq__codebook_any(int dim, int bits, const kvq_codebook **cb);
int kvq__rotation_create_any(kvq_rotation **r, int kind, int dim, uint64_t seed,
                             uint32_t purpose, uint32_t trial);
/* The rotation a codec of this kind really uses at dim: wht and wht2 exist
 * only for powers of two, so elsewhere they are realized as dense. */
int kvq__rotation_at(int kind, int dim);
/* The spec token of a rotation kind ("none", "wht", "wht2", "dense"), "?" if none. */
const char *kvq__rotation_name(int kind);

/* ---- Realized matrices shared by a trial's codecs (doc/quantization.md §5.9) ---- */

/* Everything a realized random matrix depends on. */
typedef struct kvq__memo_key {
    uint64_t seed;
    uint32_t purpose, trial;    /* the stream (doc/quantization.md §2.4) */
    int rows, cols;
    int kind;                   /* enum kvq__memo_kind: what is drawn from the stream */
} kvq__memo_key;

enum kvq__memo_kind {
    KVQ__MEMO_GAUSS = 1,        /* i.i.d. N(0, 1) floats (QJL's S) */
    KVQ__MEMO_HAAR,             /* the dense Haar rotation, doubles */
    KVQ__MEMO_SQJL              /* √d times the Haar rotation, floats (sqjl's S) */
};

/* Fills out (the block of the key) with the numbers of k; 0 or a kvq status. */
typedef int (*kvq__memo_make)(const kvq__memo_key *k, void *out);

/* The shared block of `bytes` bytes for key k, made by make on first use;
 * thread-safe. Every 0 return takes a reference for kvq__memo_release. */
int kvq__memo_acquire(const kvq__memo_key *k, size_t bytes, kvq__memo_make make,
                      const void **out);
/* Drops a reference of a block of kvq__memo_acquire (NULL: nothing). */
void kvq__memo_release(const void *p);
/* Blocks that no one holds but the memo keeps, and their bytes (for the
 * tests). It keeps at most these: every tensor and kind of a few trials run
 * side by side (parallel workers), small beside a run's data; a block
 * larger than the byte bound is freed when released. */
size_t kvq__memo_idle(size_t *bytes);
#define KVQ__MEMO_IDLE_MAX 16
#define KVQ__MEMO_IDLE_BYTES ((size_t)64 << 20)

/* ---- Codebooks and rotations (doc/quantization.md §3–4) ---- */

struct kvq_codebook {
    int dim, bits, levels;      /* levels = 2^bits */
    const double *centroids;    /* ascending, symmetric about 0 */
    const double *thresholds;   /* levels − 1 midpoints */
    double distortion;          /* D_b(d) */
};

/* The unnormalized Sylvester–Hadamard butterfly in place (natural order). */
void kvq__wht_inplace(double *x, int dim);
/* Sign rounds: 0 (none, dense), 1 (wht), 2 (wht2). */
int kvq__rotation_rounds(const kvq_rotation *r);
/* dim values ±1 of a sign round, or NULL if there is none. */
const float *kvq__rotation_signs(const kvq_rotation *r, int round);
/* The dense matrix R (dim×dim, row-major, y = R x), or NULL unless dense. */
const double *kvq__rotation_matrix(const kvq_rotation *r);

/* ---- Codecs and the packed layout (doc/quantization.md §5–6) ---- */

const kvq_rotation *kvq__codec_rotation(const kvq_codec *c);
/* NULL when mse_bits = 0. */
const kvq_codebook *kvq__codec_codebook(const kvq_codec *c);
/* S (m×dim floats, row-major), NULL without QJL. */
const float *kvq__codec_qjl_matrix(const kvq_codec *c);
/* m, or 0 without QJL. */
int kvq__codec_qjl_m(const kvq_codec *c);
/* 32-bit words of packed codes per vector: ceil((mse_bits·dim + m) / 32). */
size_t kvq__codec_words(const kvq_codec *c);

struct kvq_qtensor {
    int dim;
    size_t count;       /* vectors */
    int mse_bits, qjl_m;
    int norm_bits;      /* bits each stored norm costs (32 or 16) */
    size_t words;       /* W, 32-bit words per vector */
    uint32_t *codes;    /* count × words */
    float *norms;       /* count: ν = ‖x‖, or ν/‖C[idx]‖ with norm correction
                         * (rounded through IEEE half with 16-bit norms) */
    float *gammas;      /* count: γ = ‖r‖ of the QJL residual; NULL without QJL */
    uint32_t *tside;    /* tensor-level side words (KIVI's group scales); NULL if none */
    size_t tside_words;
};
/* Fills a caller-owned tensor for count vectors of codec c (zeroed). */
int kvq__qtensor_init(kvq_qtensor *t, const kvq_codec *c, size_t count);
/* Frees the arrays and zeroes *t; safe on a zeroed struct. */
void kvq__qtensor_clear(kvq_qtensor *t);
/* A fresh tensor for codec c holding the same vectors as from (made by a
 * codec of the same spec and dimension); KVQ_ERR_INVALID_ARG if the
 * layouts differ. */
int kvq__qtensor_copy(const kvq_codec *c, const kvq_qtensor *from, kvq_qtensor *to);
/* Vectors [j0, j0 + n) of t as a tensor of their own that points into t
 * (a key chunk, doc/scaling.md §6); j0 must be a multiple of
 * kvq__codec_token_group(c). The out stage stores each part's codes for
 * the whole tensor, and its list once: its view is a copy in a fresh block
 * *copy (free it after the view), else *copy is NULL. Not for writing an
 * out tensor: its list belongs to the whole tensor. */
int kvq__qtensor_slice(const kvq_codec *c, const kvq_qtensor *t, size_t j0, size_t n,
                       kvq_qtensor *view, uint32_t **copy);
/* Tokens that share side words (KIVI's K group G), else 1: a key chunk
 * starts at a multiple of it. */
size_t kvq__codec_token_group(const kvq_codec *c);
/* Whether quantizing a tensor in pieces gives the codes of the whole
 * (false for the out stage, whose channel list is chosen from all vectors). */
int kvq__codec_chunkable(const kvq_codec *c);

/* Why a spec with a deployed format cannot run at dim (the rule it breaks),
 * or NULL when it can or has no format; dim 0 skips the dimension rules
 * (src/core/stage_format.c). */
const char *kvq__format_rule(const kvq_codec_spec *s, int dim);
/* kvq_codec_budget for a tensor of count vectors: with the per-tensor side
 * information (the out stage's channel list) amortized over them. */
void kvq__codec_budget_count(const kvq_codec_spec *s, int dim, size_t count, kvq_budget *b);
/* The same for an out<c>@<b2> stage (src/core/stage_out.c); kvq__format_rule
 * asks it first. */
const char *kvq__out_rule(const kvq_codec_spec *s, int dim);

/* The name of a format (enum kvq_format: "q4_0", "kivi"), NULL for none. */
const char *kvq__format_name(int id);

/* W for (dim, bits, m). */
size_t kvq__packed_words(int dim, int bits, int m);
/* Writes the b MSE planes of one vector; other bits are left as they are. */
void kvq__pack_codes(const uint8_t *idx, int dim, int bits, uint32_t *words);
void kvq__unpack_codes(const uint32_t *words, int dim, int bits, uint8_t *idx);
/* The QJL plane from z[i] ∈ {−1, +1} (z ≥ 0 counts as +1). */
void kvq__pack_signs(const int8_t *z, int m, int dim, int bits, uint32_t *words);
void kvq__unpack_signs(const uint32_t *words, int m, int dim, int bits, int8_t *z);
/* x rounded to the nearest IEEE binary16 value (ties to even) and back. */
double kvq__round_half(double x);

/* A small binary floating-point format (src/core/minifloat.c): exponent and
 * mantissa widths, bias, largest finite value; ieee = the all-ones exponent
 * is Inf/NaN (half, E5M2) rather than numbers (E4M3FN); saturate = values
 * beyond max become ±max instead of ±Inf. */
typedef struct kvq__minifloat {
    int ebits, mant, bias;
    double max;
    int ieee, saturate;
} kvq__minifloat;
extern const kvq__minifloat kvq__mf_half, kvq__mf_e4m3, kvq__mf_e5m2;
/* x rounded to the nearest value of f, ties to even (±max or ±Inf beyond max). */
double kvq__mf_round(const kvq__minifloat *f, double x);
/* The encoding (sign, exponent, mantissa) of r, a value f holds exactly. */
unsigned kvq__mf_bits(const kvq__minifloat *f, double r);
/* The value of an encoding; NaN for encodings that are not numbers. */
double kvq__mf_value(const kvq__minifloat *f, unsigned bits);

/* The host codec (inputs float, arithmetic in double): the reference every
 * device is compared with. KVQ_ERR_NONFINITE on NaN/Inf input,
 * KVQ_ERR_UNSUPPORTED when a norm does not fit a 16-bit norm. */
int kvq__codec_quantize(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out);
int kvq__codec_dequantize(const kvq_codec *c, const kvq_qtensor *t, float *xhat);
/* Query side of the compressed-domain estimator: qr = R q and, with QJL,
 * sq = S q (sq may be NULL without QJL). */
void kvq__codec_prepare_query(const kvq_codec *c, const float *q, double *qr, double *sq);
/* The same for the vectors of t (an out<c>@<b2> codec reads t's channel list;
 * kvq__codec_prepare_query is this with t = NULL, for codecs without one). */
void kvq__codec_prepare_query_for(const kvq_codec *c, const kvq_qtensor *t, const float *q,
                                  double *qr, double *sq);
/* ⟨q, x̂_j⟩ from vector j's codes: ν_j·⟨qr, C[idx_j]⟩ + sqrt(π/2)/m·γ_j·⟨sq, z_j⟩. */
double kvq__codec_dot(const kvq_codec *c, const kvq_qtensor *t, size_t j, const double *qr,
                      const double *sq);

/* ---- Schemes (doc/schemes.md) ---- */

/* Preset name KV | KQV | QKQV with K at bk and V at bv bits (each 1…8):
 * kvq_scheme_preset with asymmetric budgets (doc/schemes.md §2.1); bits is
 * bk when bk = bv, else 0. Same statuses as kvq_scheme_preset. */
int kvq__scheme_preset_kv(const char *name, int bk, int bv, kvq_scheme *s);

/* ---- Attention (doc/metrics.md) ---- */

/* The double-precision reference of a job: what the host context runs and
 * the oracle of the conformance tests. */
int kvq__reference_attention(const kvq_attention_job *job, kvq_attention_out *out);
/* Whether out asks for the vector errors of tensor x (0 K, 1 V), as
 * kvq.h's KVQ_VECTOR_ERRORS* say. */
int kvq__wants_errors(const kvq_attention_out *out, int x);
/* Keys query i of job sees: every key, or the causal prefix (doc/metrics.md §1.5). */
size_t kvq__visible_keys(const kvq_attention_job *job, size_t i);

#endif
