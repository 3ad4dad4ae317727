/* stage_out.c — out<c>@<b2>, outlier channels (doc/schemes.md §7): the c
 * channels of largest mean square over the tensor are coded by their own
 * MSE(b2) codec (own rotation over c dimensions), the other d − c channels by
 * the codec's other stages. A tensor-level codec, like KIVI: the channel list
 * depends on all N vectors, so codec.c hands this file the whole tensor.
 *
 * The codec is two parts (c->part[0] over the d − c other channels, part[1]
 * over the outliers). Layout of a tensor with capacity N (doc/schemes.md §7.2):
 * codes = N records of part 0 (W0 words each), then N records of part 1 (W1
 * words each); norms and gammas are part 0's; the tensor-level side words are
 * the c channel numbers (ascending), then the N stored norms of part 1 as
 * float bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stage.h"

static const char *const forms[] = {"out<c>@<b2>", NULL};

/* out<c>@<b2>: c ≥ 1 (c < d is checked where d is known), b2 = 1…8. */
static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    if (n < 3 || !kvq__stage_token_is(tok, 3, "out"))
        return KVQ_STAGE_NOMATCH;
    const char *at = memchr(tok, '@', n);
    if (!at) {
        *why = "outlier channels are written out<c>@<b2>, e.g. out4@6";
        return KVQ_ERR_BAD_SPEC;
    }
    long c = kvq__stage_count_arg(tok + 3, (size_t)(at - tok) - 3);
    long b = kvq__stage_count_arg(at + 1, n - (size_t)(at + 1 - tok));
    if (c < 1 || c > KVQ__DIM_MAX - 1) {
        *why = "the outlier channel count c of out<c>@<b2> must be 1..d-1";
        return KVQ_ERR_BAD_SPEC;
    }
    if (b < 1 || b > 8) {
        *why = "the outlier bits b2 of out<c>@<b2> must be 1..8";
        return KVQ_ERR_BAD_SPEC;
    }
    s->out_channels = (int)c;
    s->out_bits = (int)b;
    return 0;
}

static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    if (s->out_channels)
        snprintf(buf, len, "out%d@%d", s->out_channels, s->out_bits);
    else
        snprintf(buf, len, "%s", "");
}

const char *kvq__out_rule(const kvq_codec_spec *s, int dim)
{
    if (!s->out_channels)
        return NULL;
    if (s->format)
        return "out<c>@<b2> codes part of a rotated codec: it does not combine with a format";
    if (!s->mse_bits && !s->qjl)
        return "out<c>@<b2> needs an mse<b> or qjl stage for the other channels";
    if (dim && s->out_channels >= dim)
        return "the outlier channel count c of out<c>@<b2> must be below the head dimension d";
    return NULL;
}

static int valid(const kvq_codec_spec *s, int dim)
{
    return s->out_channels >= 0 && (!s->out_channels || (s->out_bits >= 1 && s->out_bits <= 8)) &&
           kvq__out_rule(s, dim) == NULL;
}

static int present(const kvq_codec_spec *s) { return s->out_channels > 0; }

kvq_codec_spec kvq__out_rest_spec(const kvq_codec_spec *s)
{
    kvq_codec_spec r = *s;
    r.out_channels = r.out_bits = 0;
    return r;
}

/* The outliers' codec: MSE(b2) under a Walsh–Hadamard rotation (dense Haar
 * when c is not a power of two), its norm as precise as the codec's. */
static kvq_codec_spec hi_spec(const kvq_codec_spec *s)
{
    kvq_codec_spec h = {.rotation = KVQ_ROT_WHT, .mse_bits = s->out_bits,
                        .norm_bits = s->norm_bits};
    return h;
}

/* Bits per coordinate over all d: the rest's payload over d − c coordinates
 * plus b2·c, per d; side values: the rest's plus the outliers' norm. The
 * channel list is per tensor (kvq__out_list_bits), not per vector. */
void kvq__out_cost(const kvq_codec_spec *s, int dim, kvq__stage_cost *c)
{
    int oc = s->out_channels, dr = dim - oc;
    kvq_codec_spec r = kvq__out_rest_spec(s), h = hi_spec(s);
    r = kvq__spec_resolved(&r, dr);
    h = kvq__spec_resolved(&h, oc);
    kvq__stage_cost rc, hc;
    kvq__stage_cost_sum(&r, dr, &rc);
    kvq__stage_cost_sum(&h, oc, &hc);
    c->payload_bits = (rc.payload_bits * dr + hc.payload_bits * oc) / dim;
    c->stream_bits = 32 * ((rc.stream_bits + 31) / 32 + (hc.stream_bits + 31) / 32);
    c->tensor_bits = rc.tensor_bits + hc.tensor_bits;
    c->side_values = rc.side_values + hc.side_values;
    c->side_width = rc.side_width ? rc.side_width : hc.side_width;
}

/* ⌈log2 d⌉ bits name one channel. */
double kvq__out_list_bits(const kvq_codec_spec *s, int dim)
{
    int w = 0;
    while ((1 << w) < dim)
        w++;
    return s->out_channels ? (double)s->out_channels * w : 0.0;
}

/* Both parts, each from its own streams: part 0 as a codec of its own on the
 * other channels (ROT_K/V, QJL_K/V), part 1's rotation from OUT_K/V. */
static int realize(kvq_codec *c, uint64_t seed, int tensor, uint32_t trial)
{
    int oc = c->spec.out_channels, st;
    kvq_codec_spec r = kvq__out_rest_spec(&c->spec), h = hi_spec(&c->spec);
    st = kvq__codec_create_part(&c->part[0], &r, c->kp.dim - oc, seed, tensor, trial, 0);
    if (!st)
        st = kvq__codec_create_part(&c->part[1], &h, oc, seed, tensor, trial,
                                    tensor ? KVQ_RNG_OUT_V : KVQ_RNG_OUT_K);
    if (st)
        return st;
    const kvq__codec_kparams *k0 = &c->part[0]->kp, *k1 = &c->part[1]->kp;
    c->kp.mse_bits = k0->mse_bits;
    c->kp.qjl_m = k0->qjl_m;
    c->kp.qjl_scale = k0->qjl_scale;
    c->kp.side_bits = k0->side_bits;
    c->kp.rotation = k0->rotation;
    c->kp.words = k0->words + k1->words;
    c->kp.out_channels = oc;
    return 0;
}

static void release(kvq_codec *c)
{
    kvq_codec_destroy(c->part[0]);
    kvq_codec_destroy(c->part[1]);
}

const kvq__stage_def kvq__stage_out = {
    .name = "out", .forms = forms, .flags = 0,     /* stores through the other stages */
    .parse = parse, .format = format, .valid = valid, .present = present,
    .realize = realize, .release = release,
};

/* ---- the tensor-level codec ---- */

/* The c channels of largest Σ_i x_ij² (the mean square up to the factor N),
 * ties to the lower channel, written ascending into ch; the others ascending
 * into rest. A channel is taken when fewer than c channels beat it, where j′
 * beats j if its sum is larger, or equal with j′ < j: deterministic. */
static int select_channels(const float *x, size_t count, int d, int c, int *ch, int *rest)
{
    double *ms = calloc((size_t)d, sizeof *ms);
    if (!ms)
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < count; i++)
        for (int j = 0; j < d; j++)
            ms[j] += (double)x[i * d + j] * x[i * d + j];
    int nc = 0, nr = 0;
    for (int j = 0; j < d; j++) {
        int beat = 0;
        for (int k = 0; k < d && beat < c; k++)
            beat += ms[k] > ms[j] || (ms[k] == ms[j] && k < j);
        if (beat < c)
            ch[nc++] = j;
        else
            rest[nr++] = j;
    }
    free(ms);
    return 0;
}

/* The stored channel list and its complement (ascending). */
void kvq__out_order(const kvq_codec *c, const kvq_qtensor *t, int *rest, int *ch)
{
    int d = c->kp.dim, oc = c->kp.out_channels, k = 0, nr = 0;
    for (int j = 0; j < d; j++) {
        if (k < oc && (int)t->tside[k] == j)
            ch[k++] = j;
        else
            rest[nr++] = j;
    }
}

/* Views of t as tensors of the two parts (part 1's norms in hn). */
static void part_views(const kvq_codec *c, const kvq_qtensor *t, float *hn, kvq_qtensor *v0,
                       kvq_qtensor *v1)
{
    const kvq__codec_kparams *k0 = &c->part[0]->kp, *k1 = &c->part[1]->kp;
    *v0 = (kvq_qtensor){k0->dim, t->count, k0->mse_bits, k0->qjl_m, k0->side_bits, k0->words,
                        t->codes, t->norms, t->gammas, NULL, 0};
    *v1 = (kvq_qtensor){k1->dim, t->count, k1->mse_bits, 0, k1->side_bits, k1->words,
                        t->codes + t->count * k0->words, hn, NULL, NULL, 0};
}

/* Columns cols (n of them) of x (count × d) into y (count × n). */
static void gather(const float *x, size_t count, int d, const int *cols, int n, float *y)
{
    for (size_t i = 0; i < count; i++)
        for (int k = 0; k < n; k++)
            y[i * n + k] = x[i * d + cols[k]];
}

/* Scratch of one call: channel lists, the two parts' columns, part 1's norms. */
typedef struct scratch {
    int *ch, *rest;
    float *x0, *x1, *hn;
} scratch;

static int scratch_alloc(scratch *s, int d, int oc, size_t count)
{
    size_t n = count ? count : 1;
    s->ch = malloc((size_t)d * sizeof *s->ch);
    s->rest = malloc((size_t)d * sizeof *s->rest);
    s->x0 = malloc(n * (size_t)(d - oc) * sizeof *s->x0);
    s->x1 = malloc(n * (size_t)oc * sizeof *s->x1);
    s->hn = calloc(n, sizeof *s->hn);
    return s->ch && s->rest && s->x0 && s->x1 && s->hn ? 0 : KVQ_ERR_NOMEM;
}

static void scratch_free(scratch *s)
{
    free(s->ch);
    free(s->rest);
    free(s->x0);
    free(s->x1);
    free(s->hn);
}

/* The host reference's part operations. */
static int host_part_quantize(void *arg, const kvq_codec *part, const float *x, size_t count,
                              kvq_qtensor *out)
{
    (void)arg;
    return kvq__codec_quantize(part, x, count, out);
}

static int host_part_dequantize(void *arg, const kvq_codec *part, const kvq_qtensor *t,
                                float *xhat)
{
    (void)arg;
    return kvq__codec_dequantize(part, t, xhat);
}

/* Selects the channels, codes both parts by q, stores the list and part 1's norms. */
int kvq__out_quantize_by(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out,
                         kvq__out_part_quantize q, void *arg)
{
    int d = c->kp.dim, oc = c->kp.out_channels;
    kvq_qtensor v0, v1;
    scratch s;
    int st = scratch_alloc(&s, d, oc, out->count);
    for (size_t i = 0; st == 0 && i < count * (size_t)d; i++)
        if (!isfinite(x[i]))
            st = KVQ_ERR_NONFINITE;
    if (!st)
        st = select_channels(x, count, d, oc, s.ch, s.rest);
    if (!st) {
        gather(x, count, d, s.rest, d - oc, s.x0);
        gather(x, count, d, s.ch, oc, s.x1);
        part_views(c, out, s.hn, &v0, &v1);
        st = q(arg, c->part[0], s.x0, count, &v0);
    }
    if (!st)
        st = q(arg, c->part[1], s.x1, count, &v1);
    if (!st) {
        for (int k = 0; k < oc; k++)
            out->tside[k] = (uint32_t)s.ch[k];
        memcpy(out->tside + oc, s.hn, count * sizeof *s.hn);
    }
    scratch_free(&s);
    return st;
}

int kvq__out_quantize(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out)
{
    return kvq__out_quantize_by(c, x, count, out, host_part_quantize, NULL);
}

/* Both parts' x̂ by dq, scattered back to their channels. */
int kvq__out_dequantize_by(const kvq_codec *c, const kvq_qtensor *t, float *xhat,
                           kvq__out_part_dequantize dq, void *arg)
{
    int d = c->kp.dim, oc = c->kp.out_channels;
    kvq_qtensor v0, v1;
    scratch s;
    int st = scratch_alloc(&s, d, oc, t->count);
    if (!st) {
        kvq__out_order(c, t, s.rest, s.ch);
        memcpy(s.hn, t->tside + oc, t->count * sizeof *s.hn);
        part_views(c, t, s.hn, &v0, &v1);
        st = dq(arg, c->part[0], &v0, s.x0);
    }
    if (!st)
        st = dq(arg, c->part[1], &v1, s.x1);
    for (size_t i = 0; st == 0 && i < t->count; i++) {
        for (int k = 0; k < d - oc; k++)
            xhat[i * d + s.rest[k]] = s.x0[i * (d - oc) + k];
        for (int k = 0; k < oc; k++)
            xhat[i * d + s.ch[k]] = s.x1[i * oc + k];
    }
    scratch_free(&s);
    return st;
}

int kvq__out_dequantize(const kvq_codec *c, const kvq_qtensor *t, float *xhat)
{
    return kvq__out_dequantize_by(c, t, xhat, host_part_dequantize, NULL);
}

/* qr = [part 0's prepared q over the other channels | part 1's over the
 * outliers] (d doubles in all); sq is part 0's. Needs t's channel list: with
 * no tensor the estimate is NaN, never a wrong number. */
void kvq__out_prepare_query(const kvq_codec *c, const kvq_qtensor *t, const float *q,
                            double *qr, double *sq)
{
    int d = c->kp.dim, oc = c->kp.out_channels, ch[KVQ__DIM_MAX], rest[KVQ__DIM_MAX];
    float q0[KVQ__DIM_MAX], q1[KVQ__DIM_MAX];
    if (!t || !t->tside) {
        for (int j = 0; j < d; j++)
            qr[j] = NAN;
        return;
    }
    kvq__out_order(c, t, rest, ch);
    gather(q, 1, d, rest, d - oc, q0);
    gather(q, 1, d, ch, oc, q1);
    kvq__codec_prepare_query(c->part[0], q0, qr, sq);
    kvq__codec_prepare_query(c->part[1], q1, qr + (d - oc), NULL);
}

/* ⟨q, x̂⟩ = ⟨q_rest, x̂_rest⟩ + ⟨q_out, x̂_out⟩, each from its part's codes. */
double kvq__out_dot(const kvq_codec *c, const kvq_qtensor *t, size_t j, const double *qr,
                    const double *sq)
{
    const kvq__codec_kparams *k0 = &c->part[0]->kp, *k1 = &c->part[1]->kp;
    int oc = c->kp.out_channels;
    float hn;
    memcpy(&hn, t->tside + oc + j, sizeof hn);
    kvq_stored s0 = {t->codes + j * k0->words, t->norms[j], t->gammas ? t->gammas[j] : 0.0f, j,
                     NULL};
    kvq_stored s1 = {t->codes + t->count * k0->words + j * k1->words, hn, 0.0f, j, NULL};
    return kvq__codec_dot_one(c->part[0], &s0, qr, sq) +
           kvq__codec_dot_one(c->part[1], &s1, qr + (k0->dim), NULL);
}
