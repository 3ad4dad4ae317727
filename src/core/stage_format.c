/* stage_format.c — the deployed KV-cache formats (doc/schemes.md §6) as one
 * stage kind: llama.cpp's q8_0, q4_0 and q4_1 blocks, OCP FP8 (E4M3FN,
 * E5M2) and IEEE half per coordinate. A codec with a format has no other
 * stage: the format replaces rotation + MSE and keeps its scales inside the
 * packed stream, so its effective bits are its payload bits.
 *
 * Stream of one vector (doc/schemes.md §6.3): coordinate j's code in bits
 * [j·cb, (j+1)·cb), cb = 4, 8 or 16; then, for block formats, per block of
 * 32 coordinates its 16-bit fp16 parameters (δ; q4_1: δ then lo).
 *
 * KIVI (doc/schemes.md §6.4) is the one format whose scales span vectors:
 * its b code planes are in the stream (as MSE's), its groups' fp16 δ and lo
 * in the tensor-level side words. */
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

static const fmt_def kivi = {"kivi", KVQ_FORMAT_KIVI, 0, 0, 0, 0, NULL};

static const char *const forms[] = {"q8_0",    "q4_0", "q4_1",          "fp8e4m3",
                                    "fp8e5m2", "fp16", "kivi<b>[g<G>]", NULL};

/* The definition of a format id, NULL for none or an unknown id. */
static const fmt_def *fmt_of(int id)
{
    for (size_t i = 0; i < NFMTS; i++)
        if (fmts[i].id == id)
            return &fmts[i];
    return id == KVQ_FORMAT_KIVI ? &kivi : NULL;
}

/* kivi<b>[g<G>], b = 1…8, G = 1…1024. */
static int parse_kivi(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    const char *g = memchr(tok, 'g', n);
    if (!g)
        g = memchr(tok, 'G', n);
    size_t nb = g ? (size_t)(g - tok) - 4 : n - 4;
    long b = kvq__stage_count_arg(tok + 4, nb);
    long gs = g ? kvq__stage_count_arg(g + 1, n - (size_t)(g + 1 - tok)) : 32;
    if (b < 1 || b > 8) {
        *why = "KIVI bits must be kivi1..kivi8";
        return KVQ_ERR_BAD_SPEC;
    }
    if (gs < 1 || gs > 1024) {
        *why = "the KIVI group must be g1..g1024 (kivi<b>g<G>)";
        return KVQ_ERR_BAD_SPEC;
    }
    s->format = KVQ_FORMAT_KIVI;
    s->format_bits = (int)b;
    s->format_group = (int)gs;
    return 0;
}

static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    if (n >= 4 && kvq__stage_token_is(tok, 4, "kivi"))
        return parse_kivi(tok, n, s, why);
    for (size_t i = 0; i < NFMTS; i++)
        if (kvq__stage_token_is(tok, n, fmts[i].name)) {
            s->format = fmts[i].id;
            return 0;
        }
    return KVQ_STAGE_NOMATCH;
}

/* kivi<b>, with g<G> unless G is the default 32. */
static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    const fmt_def *f = fmt_of(s->format);
    if (s->format == KVQ_FORMAT_KIVI && s->format_group && s->format_group != 32)
        snprintf(buf, len, "kivi%dg%d", s->format_bits, s->format_group);
    else if (s->format == KVQ_FORMAT_KIVI)
        snprintf(buf, len, "kivi%d", s->format_bits);
    else
        snprintf(buf, len, "%s", f ? f->name : "");
}

const char *kvq__format_name(int id)
{
    const fmt_def *f = fmt_of(id);
    return f ? f->name : NULL;
}

const char *kvq__format_rule(const kvq_codec_spec *s, int dim)
{
    const fmt_def *f = fmt_of(s->format);
    const char *out = kvq__out_rule(s, dim);
    if (out || s->format == KVQ_FORMAT_NONE)
        return out;
    if (!f)
        return "unknown format";
    if (s->rotation != KVQ_ROT_NONE || s->mse_bits || s->qjl || s->norm_correct ||
        (s->norm_bits && s->norm_bits != 32))
        return "a format (q8_0, q4_0, q4_1, fp8e4m3, fp8e5m2, fp16, kivi<b>[g<G>]) is the "
               "whole codec: no rotation, mse, qjl, nc or nb stage beside it";
    if (f == &kivi && (s->format_bits < 1 || s->format_bits > 8))
        return "KIVI bits must be kivi1..kivi8";
    if (f == &kivi && (s->format_group < 0 || s->format_group > 1024))
        return "the KIVI group must be g1..g1024 (kivi<b>g<G>)";
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

/* KIVI's group defaults to 32. */
static void resolve(kvq_codec_spec *s, int dim)
{
    (void)dim;
    if (s->format == KVQ_FORMAT_KIVI && !s->format_group)
        s->format_group = 32;
}

/* Codes and the blocks' fp16 parameters, all in the stream: no side value.
 * KIVI: b code planes in the stream, and 32 bits (fp16 δ and lo) per group,
 * i.e. 32/G per coordinate, amortized in the tensor-level side words. */
static void cost(const kvq_codec_spec *s, int dim, kvq__stage_cost *c)
{
    const fmt_def *f = fmt_of(s->format);
    if (f == &kivi) {
        c->payload_bits += s->format_bits + 32.0 / s->format_group;
        c->stream_bits += (size_t)s->format_bits * dim;
        c->tensor_bits += 32.0 * dim / s->format_group;
        return;
    }
    size_t bits = (size_t)f->code_bits * dim + (size_t)16 * f->params * (dim / BLOCK);
    c->payload_bits += (double)bits / dim;
    c->stream_bits += bits;
}

static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->format = s->format;
    kp->code_bits = s->format == KVQ_FORMAT_KIVI ? s->format_bits : fmt_of(s->format)->code_bits;
    kp->block_params = fmt_of(s->format)->params;
}

/* KIVI groups K's tokens per channel and V's channels per token. */
static int realize(kvq_codec *c, uint64_t seed, int tensor, uint32_t trial)
{
    (void)seed;
    (void)trial;
    if (c->kp.format == KVQ_FORMAT_KIVI) {
        c->kp.group_axis = tensor ? 2 : 1;
        c->kp.group = c->spec.format_group;
    }
    return 0;
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

/* ---- KIVI (doc/schemes.md §6.4) ---- */

/* The side word of coordinate j of vector i: K's group of tokens i/G in
 * channel j, or V's group of channels j/G in token i. */
static size_t kivi_slot(const kvq_codec *c, size_t i, int j)
{
    size_t g = (size_t)c->kp.group, d = (size_t)c->kp.dim;
    return c->kp.group_axis == 1 ? i / g * d + (size_t)j : i * ((d + g - 1) / g) + (size_t)j / g;
}

/* lo and hi of the n values at x[0], x[stride], … */
static void kivi_range(const float *x, size_t n, size_t stride, double *lo, double *hi)
{
    *lo = *hi = x[0];
    for (size_t k = 1; k < n; k++) {
        *lo = fmin(*lo, x[k * stride]);
        *hi = fmax(*hi, x[k * stride]);
    }
}

/* Coordinate j's group: its lo and δ from the input rows. */
static void kivi_group(const kvq_codec *c, const kvq__stage_vec *v, int j, double *lo,
                       double *delta)
{
    size_t g = (size_t)c->kp.group, d = (size_t)c->kp.dim, hi0;
    double hi;
    if (c->kp.group_axis == 1) {
        size_t r0 = v->index / g * g, n = v->count - r0 < g ? v->count - r0 : g;
        kivi_range(v->rows + r0 * d + (size_t)j, n, d, lo, &hi);
    } else {
        size_t c0 = (size_t)j / g * g, n = d - c0 < g ? d - c0 : g;
        kivi_range(v->rows + v->index * d + c0, n, 1, lo, &hi);
    }
    hi0 = ((size_t)1 << c->kp.code_bits) - 1;
    *delta = (hi - *lo) / (double)hi0;
}

/* q = clamp(round-half-even((x − lo)/δ), 0, 2^b − 1), 0 when δ = 0; the
 * group's fp16 δ and lo into its side word; x̂ = q·fp16(δ) + fp16(lo). */
static int encode_kivi(const kvq_codec *c, kvq__stage_vec *v)
{
    int top = (1 << c->kp.code_bits) - 1;
    for (int j = 0; j < c->kp.dim; j++) {
        double lo, delta, hd, hl;
        kivi_group(c, v, j, &lo, &delta);
        double t = delta > 0 ? rint((v->x[j] - lo) / delta) : 0.0;
        int q = t < 0 ? 0 : t > top ? top : (int)t;
        hd = kvq__round_half(delta);
        hl = kvq__round_half(lo);
        if (!isfinite(hd) || !isfinite(hl))
            return KVQ_ERR_UNSUPPORTED;
        v->tside[kivi_slot(c, v->index, j)] = kvq__mf_bits(&kvq__mf_half, hd) |
                                              kvq__mf_bits(&kvq__mf_half, hl) << 16;
        v->idx[j] = (uint8_t)q;
        v->y[j] = q * hd + hl;
    }
    kvq__pack_codes(v->idx, c->kp.dim, c->kp.code_bits, v->words);
    return 0;
}

/* Coordinate j's x̂ from its code planes and its group's side word. */
static double kivi_value(const kvq_codec *c, const kvq_stored *s, int j)
{
    unsigned q = 0;
    for (int k = 0; k < c->kp.code_bits; k++)
        q |= field_get(s->words, (size_t)k * c->kp.dim + (size_t)j, 1) << k;
    uint32_t w = s->tside[kivi_slot(c, s->index, j)];
    return q * kvq__mf_value(&kvq__mf_half, w & 0xffffu) +
           kvq__mf_value(&kvq__mf_half, w >> 16);
}

/* ---- every format ---- */

static int encode(const kvq_codec *c, kvq__stage_vec *v)
{
    const fmt_def *f = fmt_of(c->kp.format);
    if (f == &kivi)
        return encode_kivi(c, v);
    return f->params ? encode_blocks(f, c->kp.dim, v) : encode_floats(f, c->kp.dim, v);
}

static void decode(const kvq_codec *c, const kvq_stored *s, kvq__stage_vec *v)
{
    const fmt_def *f = fmt_of(c->kp.format);
    int dim = c->kp.dim;
    for (int j = 0; j < dim; j++) {
        if (f == &kivi) {
            v->y[j] = kivi_value(c, s, j);
            continue;
        }
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
    if (f == &kivi) {
        for (int j = 0; j < dim; j++)
            s += qr[j] * kivi_value(c, st, j);
        return s;
    }
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
    .parse = parse, .format = format, .valid = valid, .resolve = resolve, .present = present,
    .cost = cost, .kernel = kernel,
    .realize = realize, .encode = encode, .decode = decode, .dot = dot,
};
