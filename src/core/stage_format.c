/* stage_format.c — the deployed KV-cache formats (doc/schemes.md §5) as one
 * stage kind: llama.cpp's q8_0, q4_0 and q4_1 blocks, OCP FP8 (E4M3FN,
 * E5M2) and IEEE half per coordinate. A codec with a format has no other
 * stage: the format replaces rotation + MSE and keeps its scales inside the
 * packed stream, so its effective bits are its payload bits.
 *
 * Stream of one vector (doc/schemes.md §5.3): coordinate j's code in bits
 * [j·cb, (j+1)·cb), cb = 4, 8 or 16; then, for block formats, per block of
 * 32 coordinates its 16-bit fp16 parameters (δ; q4_1: δ then lo). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/stage.h"

/* What a format stores: code bits per coordinate, 16-bit parameters per
 * block of 32 (0 for the per-coordinate formats), the offset subtracted from
 * a code (q4_0), whether codes are signed bytes (q8_0), and the minifloat of
 * the per-coordinate formats. */
typedef struct fmt_def {
    const char *name;
    int id, code_bits, params, offset, is_signed;
    const kvq__minifloat *mf;
} fmt_def;

static const fmt_def fmts[] = {
    {"q8_0", KVQ_FORMAT_Q8_0, 8, 1, 0, 1, NULL},
    {"q4_0", KVQ_FORMAT_Q4_0, 4, 1, 8, 0, NULL},
    {"q4_1", KVQ_FORMAT_Q4_1, 4, 2, 0, 0, NULL},
    {"fp8e4m3", KVQ_FORMAT_FP8E4M3, 8, 0, 0, 0, &kvq__mf_e4m3},
    {"fp8e5m2", KVQ_FORMAT_FP8E5M2, 8, 0, 0, 0, &kvq__mf_e5m2},
    {"fp16", KVQ_FORMAT_FP16, 16, 0, 0, 0, &kvq__mf_half},
};
#define NFMTS (sizeof fmts / sizeof fmts[0])
#define BLOCK 32

static const char *const forms[] = {"q8_0", "q4_0", "q4_1", "fp8e4m3", "fp8e5m2", "fp16", NULL};

/* The definition of a format id, NULL for none or an unknown id. */
static const fmt_def *fmt_of(int id)
{
    for (size_t i = 0; i < NFMTS; i++)
        if (fmts[i].id == id)
            return &fmts[i];
    return NULL;
}

static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    (void)why;
    for (size_t i = 0; i < NFMTS; i++)
        if (kvq__stage_token_is(tok, n, fmts[i].name)) {
            s->format = fmts[i].id;
            return 0;
        }
    return KVQ_STAGE_NOMATCH;
}

static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    const fmt_def *f = fmt_of(s->format);
    snprintf(buf, len, "%s", f ? f->name : "");
}

const char *kvq__format_rule(const kvq_codec_spec *s, int dim)
{
    const fmt_def *f = fmt_of(s->format);
    if (s->format == KVQ_FORMAT_NONE)
        return NULL;
    if (!f)
        return "unknown format";
    if (s->rotation != KVQ_ROT_NONE || s->mse_bits || s->qjl || s->norm_correct ||
        (s->norm_bits && s->norm_bits != 32))
        return "a format (q8_0, q4_0, q4_1, fp8e4m3, fp8e5m2, fp16) is the whole codec: no "
               "rotation, mse, qjl, nc or nb stage beside it";
    if (f->params && dim % BLOCK)
        return "the block formats q8_0, q4_0 and q4_1 need a head dimension d that is a "
               "multiple of 32";
    return NULL;
}

static int valid(const kvq_codec_spec *s, int dim)
{
    return kvq__format_rule(s, dim) == NULL;
}

static int present(const kvq_codec_spec *s)
{
    return s->format != KVQ_FORMAT_NONE;
}

/* Codes and the blocks' fp16 parameters, all in the stream: no side value. */
static void cost(const kvq_codec_spec *s, int dim, kvq__stage_cost *c)
{
    const fmt_def *f = fmt_of(s->format);
    size_t bits = (size_t)f->code_bits * dim + (size_t)16 * f->params * (dim / BLOCK);
    c->payload_bits += (double)bits / dim;
    c->stream_bits += bits;
}

static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->format = s->format;
    kp->code_bits = fmt_of(s->format)->code_bits;
    kp->block_params = fmt_of(s->format)->params;
}

/* Writes v (< 2^width) at stream bit p; the field never straddles a word. */
static void field_put(uint32_t *w, size_t p, int width, unsigned v)
{
    uint32_t mask = width == 32 ? 0xffffffffu : (1u << width) - 1u;
    w[p >> 5] = (w[p >> 5] & ~(mask << (p & 31))) | ((v & mask) << (p & 31));
}

static unsigned field_get(const uint32_t *w, size_t p, int width)
{
    return (w[p >> 5] >> (p & 31)) & ((1u << width) - 1u);
}

/* The stream bit of block b's parameter k. */
static size_t param_bit(const fmt_def *f, int dim, int b, int k)
{
    return (size_t)f->code_bits * dim + (size_t)16 * ((size_t)b * f->params + (size_t)k);
}

/* One block of 32 floats quantized as llama.cpp does, in float arithmetic
 * (x·(1/δ), not x/δ: the reciprocal is what makes the codes identical).
 * Writes the codes and returns the fp32 scale (and *lo for q4_1). */
static float block_codes(const fmt_def *f, const float *x, int *q, float *lo)
{
    float amax = 0.0f, m = 0.0f, mn = x[0], mx = x[0];
    for (int j = 0; j < BLOCK; j++) {
        if (amax < fabsf(x[j])) {       /* first of equal magnitudes */
            amax = fabsf(x[j]);
            m = x[j];
        }
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    float d = f->id == KVQ_FORMAT_Q8_0 ? amax / 127.0f
            : f->id == KVQ_FORMAT_Q4_0 ? m / -8.0f : (mx - mn) / 15.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < BLOCK; j++) {
        int c;
        if (f->id == KVQ_FORMAT_Q8_0) {
            c = (int)roundf(x[j] * id);            /* half away from zero */
            c = c > 127 ? 127 : c < -127 ? -127 : c;
        } else if (f->id == KVQ_FORMAT_Q4_0) {
            c = (int)(x[j] * id + 8.5f);            /* truncation */
            c = c > 15 ? 15 : c;
        } else {
            c = (int)((x[j] - mn) * id + 0.5f);
            c = c > 15 ? 15 : c;
        }
        q[j] = c;
    }
    *lo = mn;
    return d;
}

/* Stores an fp16 parameter; KVQ_ERR_UNSUPPORTED when it overflows half. */
static int put_half(uint32_t *w, size_t p, float v, double *stored)
{
    *stored = kvq__round_half(v);
    if (!isfinite(*stored))
        return KVQ_ERR_UNSUPPORTED;
    field_put(w, p, 16, kvq__mf_bits(&kvq__mf_half, *stored));
    return 0;
}

/* Affine map of block b: x̂_j = a·(code_j − offset) + c, from the stream. */
static void block_affine(const fmt_def *f, const uint32_t *w, int dim, int b, double *a,
                         double *c)
{
    *a = kvq__mf_value(&kvq__mf_half, field_get(w, param_bit(f, dim, b, 0), 16));
    *c = f->params > 1 ? kvq__mf_value(&kvq__mf_half, field_get(w, param_bit(f, dim, b, 1), 16))
                       : 0.0;
}

/* The integer of coordinate j's code (signed byte for q8_0, minus the offset). */
static int code_int(const fmt_def *f, const uint32_t *w, int j)
{
    unsigned u = field_get(w, (size_t)j * f->code_bits, f->code_bits);
    return f->is_signed ? (int)(int8_t)(uint8_t)u : (int)u - f->offset;
}

static int encode_blocks(const fmt_def *f, int dim, kvq__stage_vec *v)
{
    for (int b = 0; b < dim / BLOCK; b++) {
        float x[BLOCK], lo;
        int q[BLOCK];
        double a, c = 0.0;
        for (int j = 0; j < BLOCK; j++)
            x[j] = (float)v->x[b * BLOCK + j];
        float d = block_codes(f, x, q, &lo);
        int st = put_half(v->words, param_bit(f, dim, b, 0), d, &a);
        if (!st && f->params > 1)
            st = put_half(v->words, param_bit(f, dim, b, 1), lo, &c);
        if (st)
            return st;
        for (int j = 0; j < BLOCK; j++) {
            int k = b * BLOCK + j;
            field_put(v->words, (size_t)k * f->code_bits, f->code_bits, (unsigned)q[j]);
            v->y[k] = a * (q[j] - f->offset) + c;
        }
    }
    return 0;
}

/* Per coordinate: the nearest value of the minifloat; half overflows are
 * refused (fp8 saturates by definition). */
static int encode_floats(const fmt_def *f, int dim, kvq__stage_vec *v)
{
    for (int j = 0; j < dim; j++) {
        double r = kvq__mf_round(f->mf, (float)v->x[j]);
        if (!isfinite(r))
            return KVQ_ERR_UNSUPPORTED;
        field_put(v->words, (size_t)j * f->code_bits, f->code_bits, kvq__mf_bits(f->mf, r));
        v->y[j] = r;
    }
    return 0;
}

static int encode(const kvq_codec *c, kvq__stage_vec *v)
{
    const fmt_def *f = fmt_of(c->kp.format);
    return f->params ? encode_blocks(f, c->kp.dim, v) : encode_floats(f, c->kp.dim, v);
}

static void decode(const kvq_codec *c, const kvq_stored *s, kvq__stage_vec *v)
{
    const fmt_def *f = fmt_of(c->kp.format);
    int dim = c->kp.dim;
    for (int j = 0; j < dim; j++) {
        if (!f->params) {
            v->y[j] = kvq__mf_value(f->mf, field_get(s->words, (size_t)j * f->code_bits,
                                                     f->code_bits));
            continue;
        }
        double a, b;
        block_affine(f, s->words, dim, j / BLOCK, &a, &b);
        v->y[j] = a * code_int(f, s->words, j) + b;
    }
}

/* Block formats: Σ_b a_b·⟨q_b, ints_b⟩ + c_b·Σ q_b — the compressed-domain
 * logit, with no x̂ formed; per-coordinate formats: ⟨q, value(code)⟩. */
static double dot(const kvq_codec *c, const kvq_stored *st, const double *qr, const double *sq)
{
    (void)sq;
    const fmt_def *f = fmt_of(c->kp.format);
    int dim = c->kp.dim;
    double s = 0.0;
    if (!f->params) {
        for (int j = 0; j < dim; j++)
            s += qr[j] * kvq__mf_value(f->mf, field_get(st->words, (size_t)j * f->code_bits,
                                                        f->code_bits));
        return s;
    }
    for (int b = 0; b < dim / BLOCK; b++) {
        double a, off, qi = 0.0, qs = 0.0;
        block_affine(f, st->words, dim, b, &a, &off);
        for (int j = b * BLOCK; j < (b + 1) * BLOCK; j++) {
            qi += qr[j] * code_int(f, st->words, j);
            qs += qr[j];
        }
        s += a * qi + off * qs;
    }
    return s;
}

const kvq__stage_def kvq__stage_format = {
    .name = "format", .forms = forms, .flags = KVQ_STAGE_STORES,
    .parse = parse, .format = format, .valid = valid, .present = present,
    .cost = cost, .kernel = kernel,
    .encode = encode, .decode = decode, .dot = dot,
};
