/* stage.h — codecs as ordered lists of stages (internal to libkvq).
 *
 * A codec applies the stages of kvq__stages[] in table order, each one that is
 * present in its spec. Every stage kind is described once, by one
 * kvq__stage_def in its own file (stage_<name>.c): its token in the scheme
 * grammar, its bit cost, its host reference behaviour and the kernel
 * parameters it sets. The grammar, the budget, the host codec and the device
 * upload only iterate this table; doc/extending.md walks through adding one. */
#ifndef KVQ_STAGE_H
#define KVQ_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "kvq.h"
#include "core/core.h"

/* What the kernels read about a codec, derived from its stages once when the
 * codec is created (src/device takes these instead of re-deriving them from
 * the spec's fields). */
typedef struct kvq__codec_kparams {
    int dim;
    int rotation;       /* enum kvq_rotation_kind */
    int rounds;         /* sign rounds the rotation kernel applies: 0, 1 (wht), 2 (wht2) */
    int mse_bits;       /* MSE code planes, 0 without an MSE stage */
    int qjl_m;          /* length of the QJL sign plane, 0 without QJL */
    double qjl_scale;   /* κ of the estimate κ·γ·⟨S q, z⟩ (stage_qjl.c), 0 without QJL */
    int norm_correct;   /* the stored ν is ν/‖C[idx]‖ */
    int eden;           /* the stored ν is ν/⟨u, C[idx]⟩ */
    int side_bits;      /* width of every stored side value: 32 or 16 */
    int format;         /* enum kvq_format, 0 without a format stage */
    int code_bits;      /* a format's bits per coordinate code (4, 8, 16) */
    int block_params;   /* a format's fp16 fields per block of 32 (0 per-coordinate) */
    int group_axis;     /* KIVI: 1 = groups of tokens per channel (K), 2 = groups of
                         * channels per token (V); 0 otherwise */
    int group;          /* KIVI: the group length G */
    int out_channels;   /* out<c>@<b2>: c > 0 (the codec runs as its two parts) */
    size_t words;       /* 32-bit words of the packed stream per vector */
} kvq__codec_kparams;

/* The derived kernel parameters of a codec. */
const kvq__codec_kparams *kvq__codec_kparams_get(const kvq_codec *c);

/* What a codec is made from: its rotation, codebook and S are a pure
 * function of these (Philox streams of seed, purpose, tensor and trial), so
 * two codecs with equal keys (kvq__codec_key_eq) are the same codec. */
typedef struct kvq__codec_key {
    kvq_codec_spec spec;        /* resolved */
    uint64_t seed;
    int dim, tensor;
    uint32_t trial, purpose;
} kvq__codec_key;
const kvq__codec_key *kvq__codec_key_get(const kvq_codec *c);
int kvq__codec_key_eq(const kvq__codec_key *a, const kvq__codec_key *b);

/* A realized codec. The stage files read and fill it; nothing outside
 * src/core sees its layout. */
struct kvq_codec {
    kvq_codec_spec spec;        /* resolved by every stage's resolve hook */
    kvq__codec_kparams kp;
    const struct kvq__stage_def *stages[8];  /* the present stages, in table order */
    int nstages;
    int tensor;                 /* 0 = K, 1 = V */
    kvq_rotation *rot;          /* set by the rotation stage (always present) */
    const kvq_codebook *cb;     /* set by the MSE stage */
    const float *S;             /* m × dim, row-major; set by the QJL stage (a memo block) */
    uint32_t rot_purpose;       /* the rotation's stream purpose; 0 = ROT_K / ROT_V */
    kvq__codec_key key;         /* what it was made from (kvq__codec_key_get) */
    struct kvq_codec *part[2];  /* out<c>@<b2>: the codec of the other d − c channels,
                                 * then the outliers' MSE(b2) codec (stage_out.c) */
};

/* The side values a codec stores per vector, each in its own array of a
 * kvq_qtensor. */
enum kvq_side_slot { KVQ_SIDE_NORM, KVQ_SIDE_GAMMA };

/* Bit cost of a codec, summed over its stages. */
typedef struct kvq__stage_cost {
    double payload_bits;    /* per coordinate */
    size_t stream_bits;     /* per vector, in the packed stream */
    double tensor_bits;     /* per vector, amortized, in the tensor-level side words */
    int side_values;        /* stored side values per vector */
    int side_width;         /* bits per side value; 0 until a precision stage sets it (32) */
} kvq__stage_cost;

/* One vector on its way through the stages of the host reference. */
typedef struct kvq__stage_vec {
    double *x;          /* the input (original domain); QJL turns it into its residual */
    double *y;          /* the reconstruction so far (original domain) */
    uint8_t *idx;       /* dim code indices */
    int8_t *z;          /* m signs */
    double nu;          /* ‖x‖ of the input */
    double cn;          /* ‖C[idx]‖², once the MSE stage has chosen codes */
    double uc;          /* ⟨u, C[idx]⟩ with u = R x/ν, likewise */
    uint32_t *words;    /* the vector's packed stream (quantization) */
    float *norm, *gamma;
    size_t index;       /* the vector's row in its tensor */
    uint32_t *tside;    /* the tensor-level side words (NULL if none) */
    const float *rows;  /* the whole input tensor, count × dim (KIVI's K groups span rows) */
    size_t count;
} kvq__stage_vec;

/* One stored vector, read back by decode and dot. */
typedef struct kvq_stored {
    const uint32_t *words;
    float norm, gamma;
    size_t index;               /* row in the tensor */
    const uint32_t *tside;      /* the tensor-level side words (NULL if none) */
} kvq_stored;

/* parse's answer when a token is not this stage's. */
#define KVQ_STAGE_NOMATCH 1

/* Written before ':' in the grammar ("wht:…") instead of joined with '+'. */
#define KVQ_STAGE_PREFIX 1u
/* Stores payload: a codec needs at least one such stage. */
#define KVQ_STAGE_STORES 2u

/* One stage kind. Hooks that a stage does not need are NULL. */
typedef struct kvq__stage_def {
    const char *name;
    const char *const *forms;   /* token forms for messages, NULL-terminated */
    unsigned flags;             /* KVQ_STAGE_* */

    /* Grammar: parse returns 0 (set in s), KVQ_STAGE_NOMATCH, or
     * KVQ_ERR_BAD_SPEC with *why the rule the token breaks. format writes
     * the token, or "" when the stage is absent (spec in canonical form). */
    int (*parse)(const char *tok, size_t n, kvq_codec_spec *s, const char **why);
    void (*format)(const kvq_codec_spec *s, char *buf, size_t len);

    /* Spec: in range? Fill defaults (m = 0 means dim, …). Present at all? */
    int (*valid)(const kvq_codec_spec *s, int dim);
    void (*resolve)(kvq_codec_spec *s, int dim);
    int (*present)(const kvq_codec_spec *s);

    /* Adds the stage's bits to c (spec resolved). */
    void (*cost)(const kvq_codec_spec *s, int dim, kvq__stage_cost *c);
    /* Sets the kernel parameters this stage owns (spec resolved). */
    void (*kernel)(const kvq_codec_spec *s, kvq__codec_kparams *kp);

    /* Host reference. realize builds the stage's state in c (tensor 0 = K,
     * 1 = V); release frees it. encode runs per vector in table order; side
     * rewrites a side value before it is stored; decode adds the stage's
     * part of x̂ to v->y; query prepares the query side (qr holds q on entry);
     * dot is the stage's part of the estimate of ⟨q, x⟩. */
    int (*realize)(kvq_codec *c, uint64_t seed, int tensor, uint32_t trial);
    void (*release)(kvq_codec *c);
    int (*encode)(const kvq_codec *c, kvq__stage_vec *v);
    double (*side)(const kvq_codec *c, int slot, double value, const kvq__stage_vec *v);
    void (*decode)(const kvq_codec *c, const kvq_stored *s, kvq__stage_vec *v);
    void (*query)(const kvq_codec *c, const float *q, double *qr, double *sq);
    double (*dot)(const kvq_codec *c, const kvq_stored *s, const double *qr, const double *sq);
} kvq__stage_def;

/* Every stage kind, in the order a codec applies them. */
extern const kvq__stage_def *const kvq__stages[];
extern const size_t kvq__stage_count;

extern const kvq__stage_def kvq__stage_rotation, kvq__stage_mse, kvq__stage_qjl, kvq__stage_nc,
    kvq__stage_nb;
extern const kvq__stage_def kvq__stage_eden;
extern const kvq__stage_def kvq__stage_format;
extern const kvq__stage_def kvq__stage_out;

/* ---- out<c>@<b2> (stage_out.c, doc/schemes.md §7): a tensor-level codec over
 * two sub-codecs; codec.c hands it the whole tensor. ---- */
/* The spec of the other d − c channels: s without its out stage. */
kvq_codec_spec kvq__out_rest_spec(const kvq_codec_spec *s);
/* The cost of a spec with an out stage at dim (rest at d − c, outliers at c). */
void kvq__out_cost(const kvq_codec_spec *s, int dim, kvq__stage_cost *c);
/* Bits per tensor of the channel list, c·⌈log2 d⌉ (0 without an out stage). */
double kvq__out_list_bits(const kvq_codec_spec *s, int dim);
int kvq__out_quantize(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out);
int kvq__out_dequantize(const kvq_codec *c, const kvq_qtensor *t, float *xhat);
/* The same with each part's quantization or dequantization done by a
 * callback (the OpenCL backend runs its kernels there; doc/schemes.md §7.4):
 * channel selection, the split and the layout stay here. */
typedef int (*kvq__out_part_quantize)(void *arg, const kvq_codec *part, const float *x,
                                      size_t count, kvq_qtensor *out);
typedef int (*kvq__out_part_dequantize)(void *arg, const kvq_codec *part, const kvq_qtensor *t,
                                        float *xhat);
int kvq__out_quantize_by(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out,
                         kvq__out_part_quantize q, void *arg);
int kvq__out_dequantize_by(const kvq_codec *c, const kvq_qtensor *t, float *xhat,
                           kvq__out_part_dequantize dq, void *arg);
/* A quantized tensor's channel order: rest gets the d − c other channels,
 * ch the c outlier channels, each ascending (from t's stored list). */
void kvq__out_order(const kvq_codec *c, const kvq_qtensor *t, int *rest, int *ch);
void kvq__out_prepare_query(const kvq_codec *c, const kvq_qtensor *t, const float *q,
                            double *qr, double *sq);
double kvq__out_dot(const kvq_codec *c, const kvq_qtensor *t, size_t j, const double *qr,
                    const double *sq);

/* The spec with every stage's defaults filled in at dim (codec.c). */
kvq_codec_spec kvq__spec_resolved(const kvq_codec_spec *spec, int dim);
/* Codec internals the out stage runs on its parts (codec.c). A part may have
 * any dim 1…1024 and its rotation its own purpose. */
int kvq__codec_create_part(kvq_codec **out, const kvq_codec_spec *spec, int dim, uint64_t seed,
                           int tensor, uint32_t trial, uint32_t purpose);
/* The compressed-domain estimate from one stored vector. */
double kvq__codec_dot_one(const kvq_codec *c, const kvq_stored *s, const double *qr,
                          const double *sq);

/* Stores a side value through every stage's side hook: *out is the value as
 * stored; KVQ_ERR_UNSUPPORTED if it does not fit the side format. */
int kvq__stage_store_side(const kvq_codec *c, int slot, double value, const kvq__stage_vec *v,
                         float *out);
/* Words of tensor-level side information of count vectors of codec c. */
size_t kvq__codec_tside_words(const kvq_codec *c, size_t count);
/* The cost of a resolved spec, summed over its present stages. */
void kvq__stage_cost_sum(const kvq_codec_spec *s, int dim, kvq__stage_cost *c);
/* Case-insensitive equality of a NUL-terminated word and a length-n token. */
int kvq__stage_token_is(const char *tok, size_t n, const char *word);
/* Hooks of a stage that is one token setting one 0/1 flag of the spec.
 * parse: KVQ_STAGE_NOMATCH unless tok is word; with conflict set, fails with
 * why = clash (two stages that exclude each other); else sets *flag. */
int kvq__stage_flag_parse(const char *tok, size_t n, const char *word, int *flag, int conflict,
                          const char *clash, const char **why);
/* format: the word while flag is set, "" otherwise. */
void kvq__stage_flag_format(int flag, const char *word, char *buf, size_t len);
/* Parses a whole unsigned decimal of 1…5 digits; −1 if it is not one. */
long kvq__stage_count_arg(const char *t, size_t n);

#endif
