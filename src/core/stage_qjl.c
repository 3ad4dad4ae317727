/* stage_qjl.c — QJL on the residual r = x − x̂: m sign bits z = sign(S r)
 * and γ = ‖r‖ as side value; x̂ += κ · γ · Sᵀ z. S is Gaussian with
 * κ = sqrt(π/2)/m (qjl), or √d times a Haar-random orthogonal matrix with
 * m = d and κ = 1/(m·√d·c_d) (sqjl, doc/schemes.md §5.2): the matrix and κ
 * (kp.qjl_scale) differ, so the kernels take either as a dense S and κ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "core/stage.h"

static const char *const forms[] = {"qjl", "qjl<m>", "sqjl", NULL};

/* qjl (m = dim), qjl<m> or sqjl (structured, m = dim). */
static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    if (kvq__stage_token_is(tok, n, "sqjl")) {
        s->qjl = s->sqjl = 1;
        s->qjl_m = 0;
        return 0;
    }
    if (n < 3 || !kvq__stage_token_is(tok, 3, "qjl"))
        return KVQ_STAGE_NOMATCH;
    long m = n == 3 ? 0 : kvq__stage_count_arg(tok + 3, n - 3);
    if (m < 0 || (n > 3 && (m < 1 || m > 16384))) {
        *why = "QJL is qjl or qjl<m>, m = 1..16384";
        return KVQ_ERR_BAD_SPEC;
    }
    s->qjl = 1;
    s->qjl_m = (int)m;
    return 0;
}

static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    if (s->qjl && s->sqjl)
        snprintf(buf, len, "sqjl");
    else if (s->qjl && s->qjl_m)
        snprintf(buf, len, "qjl%d", s->qjl_m);
    else
        snprintf(buf, len, "%s", s->qjl ? "qjl" : "");
}

/* sqjl has exactly m = dim rows (those of one orthogonal matrix). */
static int valid(const kvq_codec_spec *s, int dim)
{
    return (s->qjl == 0 || s->qjl == 1) && s->qjl_m >= 0 && s->qjl_m <= 16 * dim &&
           (s->sqjl == 0 || (s->sqjl == 1 && s->qjl && (s->qjl_m == 0 || s->qjl_m == dim)));
}

/* m = 0 means m = dim; without QJL m is 0. */
static void resolve(kvq_codec_spec *s, int dim)
{
    s->qjl_m = s->qjl ? (s->qjl_m ? s->qjl_m : dim) : 0;
}

static int present(const kvq_codec_spec *s)
{
    return s->qjl;
}

/* m sign bits per vector and one γ. */
static void cost(const kvq_codec_spec *s, int dim, kvq__stage_cost *c)
{
    c->payload_bits += (double)s->qjl_m / dim;
    c->stream_bits += (size_t)s->qjl_m;
    c->side_values += 1;
}

/* c_d = E|u₁| for u uniform on the unit sphere of R^d,
 * Γ(d/2) / (√π·Γ((d+1)/2)) (doc/schemes.md §5.2), through lgamma so that
 * large d does not overflow. */
static double sphere_abs_mean(int d)
{
    return exp(lgamma(0.5 * d) - lgamma(0.5 * (d + 1))) / sqrt(KVQ_PI);
}

/* κ: the factor that makes κ·γ·⟨S q, z⟩ an unbiased estimate of ⟨q, r⟩.
 * A Gaussian row gives E[sign⟨s,r⟩⟨s,q⟩] = √(2/π)·⟨q,r⟩/‖r‖, a row uniform
 * on the sphere of radius √d gives √d·c_d·⟨q,r⟩/‖r‖. */
static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->qjl_m = s->qjl_m;
    if (!s->qjl_m)
        kp->qjl_scale = 0.0;
    else if (s->sqjl)
        kp->qjl_scale = 1.0 / (s->qjl_m * sqrt((double)kp->dim) * sphere_abs_mean(kp->dim));
    else
        kp->qjl_scale = KVQ_SQRT_PI_2 / s->qjl_m;
}

/* sqjl: S = √d·Q, Q the dense Haar rotation (doc/quantization.md §3.4)
 * drawn from the tensor's SQJL stream: orthogonal rows, each uniform on the
 * sphere of radius √d. The memo's maker for KVQ__MEMO_SQJL. */
static int orthogonal(const kvq__memo_key *k, void *out)
{
    kvq_rotation *q = NULL;
    float *S = out;
    int d = k->cols;
    int st = kvq__rotation_create_any(&q, KVQ_ROT_DENSE, d, k->seed, k->purpose, k->trial);
    if (st)
        return st;
    const double *mat = kvq__rotation_matrix(q);
    double scale = sqrt((double)d);
    for (size_t i = 0; i < (size_t)d * d; i++)
        S[i] = (float)(scale * mat[i]);
    kvq_rotation_destroy(q);
    return 0;
}

/* qjl: S[i][j] = normal i·dim + j of the tensor's QJL stream. The memo's
 * maker for KVQ__MEMO_GAUSS. */
static int gaussian(const kvq__memo_key *k, void *out)
{
    kvq__rng_fill_normal(k->seed, k->purpose, k->trial, 0, out, (size_t)k->rows * k->cols);
    return 0;
}

/* S, shared with every codec of the trial that has the same one
 * (doc/quantization.md §5.9). */
static int realize(kvq_codec *c, uint64_t seed, int tensor, uint32_t trial)
{
    int sq = c->spec.sqjl;
    kvq__memo_key k = {seed, sq ? (tensor ? KVQ_RNG_SQJL_V : KVQ_RNG_SQJL_K)
                                : (tensor ? KVQ_RNG_QJL_V : KVQ_RNG_QJL_K),
                       trial, c->kp.qjl_m, c->kp.dim, sq ? KVQ__MEMO_SQJL : KVQ__MEMO_GAUSS};
    size_t bytes = (size_t)k.rows * k.cols * sizeof *c->S;
    const void *p;
    int st = kvq__memo_acquire(&k, bytes, sq ? orthogonal : gaussian, &p);
    c->S = p;
    return st;
}

static void release(kvq_codec *c)
{
    kvq__memo_release(c->S);
}

static double norm2(const double *x, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* r = x − y in place of x, z = sign(S r) after the MSE planes, γ = ‖r‖. */
static int encode(const kvq_codec *c, kvq__stage_vec *v)
{
    int d = c->kp.dim, m = c->kp.qjl_m;
    for (int j = 0; j < d; j++)
        v->x[j] -= v->y[j];
    for (int i = 0; i < m; i++) {
        const float *s = c->S + (size_t)i * d;
        double dot = 0.0;
        for (int j = 0; j < d; j++)
            dot += s[j] * v->x[j];
        v->z[i] = dot >= 0.0 ? 1 : -1;
    }
    kvq__pack_signs(v->z, m, d, c->kp.mse_bits, v->words);
    return kvq__stage_store_side(c, KVQ_SIDE_GAMMA, norm2(v->x, d), v, v->gamma);
}

/* y += κ · γ · Sᵀ z. */
static void decode(const kvq_codec *c, const kvq_stored *s, kvq__stage_vec *v)
{
    int d = c->kp.dim, m = c->kp.qjl_m;
    kvq__unpack_signs(s->words, m, d, c->kp.mse_bits, v->z);
    double scale = c->kp.qjl_scale * s->gamma;
    for (int i = 0; i < m; i++) {
        const float *row = c->S + (size_t)i * d;
        double a = scale * v->z[i];
        for (int j = 0; j < d; j++)
            v->y[j] += a * row[j];
    }
}

/* sq = S q, in the original domain. */
static void query(const kvq_codec *c, const float *q, double *qr, double *sq)
{
    (void)qr;
    if (!sq)
        return;
    for (int i = 0; i < c->kp.qjl_m; i++) {
        const float *s = c->S + (size_t)i * c->kp.dim;
        double dot = 0.0;
        for (int j = 0; j < c->kp.dim; j++)
            dot += s[j] * (double)q[j];
        sq[i] = dot;
    }
}

/* κ · γ · ⟨sq, z⟩, the signs read straight from their plane. */
static double dot(const kvq_codec *c, const kvq_stored *st, const double *qr, const double *sq)
{
    (void)qr;
    double s = 0.0;
    size_t base = (size_t)c->kp.mse_bits * c->kp.dim;
    for (int i = 0; i < c->kp.qjl_m; i++) {
        size_t p = base + i;
        s += ((st->words[p >> 5] >> (p & 31)) & 1u) ? sq[i] : -sq[i];
    }
    return c->kp.qjl_scale * st->gamma * s;
}

const kvq__stage_def kvq__stage_qjl = {
    .name = "qjl", .forms = forms, .flags = KVQ_STAGE_STORES,
    .parse = parse, .format = format, .valid = valid, .resolve = resolve, .present = present,
    .cost = cost, .kernel = kernel,
    .realize = realize, .release = release, .encode = encode, .decode = decode,
    .query = query, .dot = dot,
};
