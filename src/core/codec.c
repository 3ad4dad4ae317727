/* codec.c — the host reference codecs (doc/quantization.md §5): MSE with optional norm
 * correction, QJL on the residual, dequantization and the compressed-domain
 * inner-product estimator. Inputs are float; all arithmetic is double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "core/core.h"

struct kvq_codec {
    kvq_codec_spec spec;        /* resolved: qjl_m = m (0 without QJL), norm_bits 16/32 */
    int dim, m;
    size_t words;
    kvq_rotation *rot;
    const kvq_codebook *cb;     /* NULL when mse_bits = 0 */
    float *S;                   /* m × dim, row-major; NULL without QJL */
};

/* Scratch for one vector of a codec. */
typedef struct work {
    double *x, *y;              /* dim each */
    uint8_t *idx;               /* dim */
    int8_t *z;                  /* m */
} work;

/* Checks a spec against its documented ranges. */
static int spec_valid(const kvq_codec_spec *s, int dim)
{
    return s->rotation >= KVQ_ROT_NONE && s->rotation <= KVQ_ROT_DENSE &&
           s->mse_bits >= 0 && s->mse_bits <= 8 && (s->qjl == 0 || s->qjl == 1) &&
           s->qjl_m >= 0 && s->qjl_m <= 16 * dim &&
           (s->norm_correct == 0 || s->norm_correct == 1) &&
           (s->norm_bits == 0 || s->norm_bits == 16 || s->norm_bits == 32);
}

/* The QJL matrix S: S[i][j] = normal i·dim + j of the QJL stream. */
static int draw_qjl(kvq_codec *c, uint64_t seed, uint32_t purpose, uint32_t trial)
{
    size_t n = (size_t)c->m * c->dim;
    if (!(c->S = malloc(n * sizeof *c->S)))
        return KVQ_ERR_NOMEM;
    kvq__rng_fill_normal(seed, purpose, trial, 0, c->S, n);
    return 0;
}

/* Realizes a spec for dim (power of two, 16…1024) and trial. */
int kvq_codec_create(kvq_codec **out, const kvq_codec_spec *spec, int dim, uint64_t seed,
                     int tensor, uint32_t trial)
{
    int st;
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    if (!spec || !kvq__core_dim_ok(dim) || (tensor != 0 && tensor != 1) ||
        !spec_valid(spec, dim))
        return KVQ_ERR_INVALID_ARG;
    kvq_codec *c = calloc(1, sizeof *c);
    if (!c)
        return KVQ_ERR_NOMEM;
    c->spec = *spec;
    c->dim = dim;
    c->m = spec->qjl ? (spec->qjl_m ? spec->qjl_m : dim) : 0;
    c->spec.qjl_m = c->m;
    c->spec.norm_bits = spec->norm_bits == 16 ? 16 : 32;
    c->words = kvq__packed_words(dim, spec->mse_bits, c->m);
    st = kvq_rotation_create(&c->rot, spec->rotation, dim, seed,
                             tensor ? KVQ_RNG_ROT_V : KVQ_RNG_ROT_K, trial);
    if (st == 0 && spec->mse_bits > 0)
        st = kvq_codebook_get(dim, spec->mse_bits, &c->cb);
    if (st == 0 && c->m > 0)
        st = draw_qjl(c, seed, tensor ? KVQ_RNG_QJL_V : KVQ_RNG_QJL_K, trial);
    if (st != 0) {
        kvq_codec_destroy(c);
        return st;
    }
    *out = c;
    return 0;
}

/* Frees a codec. */
void kvq_codec_destroy(kvq_codec *c)
{
    if (!c)
        return;
    kvq_rotation_destroy(c->rot);
    free(c->S);
    free(c);
}

/* The dimension of a codec. */
int kvq_codec_dim(const kvq_codec *c) { return c->dim; }
/* The spec in effect (qjl_m resolved to m, norm_bits to 32 or 16). */
const kvq_codec_spec *kvq_codec_spec_get(const kvq_codec *c) { return &c->spec; }
/* The rotation of a codec. */
const kvq_rotation *kvq__codec_rotation(const kvq_codec *c) { return c->rot; }
/* NULL when mse_bits = 0. */
const kvq_codebook *kvq__codec_codebook(const kvq_codec *c) { return c->cb; }
/* S (m×dim floats, row-major), NULL without QJL. */
const float *kvq__codec_qjl_matrix(const kvq_codec *c) { return c->S; }
/* m, or 0 without QJL. */
int kvq__codec_qjl_m(const kvq_codec *c) { return c->m; }
/* 32-bit words of packed codes per vector: ceil((mse_bits·dim + m) / 32). */
size_t kvq__codec_words(const kvq_codec *c) { return c->words; }

/* Allocates the scratch of one vector. */
static int work_alloc(work *w, const kvq_codec *c)
{
    w->x = malloc(2 * (size_t)c->dim * sizeof *w->x);
    w->y = w->x ? w->x + c->dim : NULL;
    w->idx = malloc((size_t)c->dim);
    w->z = malloc((size_t)c->m + 1);
    return w->x && w->idx && w->z ? 0 : KVQ_ERR_NOMEM;
}

/* Frees the scratch. */
static void work_free(work *w)
{
    free(w->x);
    free(w->idx);
    free(w->z);
}

/* Number of thresholds t with u > t: the nearest centroid, ties to the lower index. */
static uint8_t nearest_code(const kvq_codebook *cb, double u)
{
    int lo = 0, hi = cb->levels - 1;     /* answer in [lo, hi] */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (u > cb->thresholds[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint8_t)lo;
}

/* Euclidean norm. */
static double norm2(const double *x, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* The stored form of a norm: float, or IEEE half when norm_bits = 16.
 * Returns KVQ_ERR_UNSUPPORTED if it does not fit. */
static int store_norm(const kvq_codec *c, double v, float *out)
{
    double r = c->spec.norm_bits == 16 ? kvq__round_half(v) : v;
    *out = (float)r;
    return isfinite(*out) ? 0 : KVQ_ERR_UNSUPPORTED;
}

/* y ← nu · Rᵀ C[idx]: the MSE reconstruction in the original domain. */
static void mse_reconstruct(const kvq_codec *c, const uint8_t *idx, double nu, double *y)
{
    for (int j = 0; j < c->dim; j++)
        y[j] = nu * c->cb->centroids[idx[j]];
    kvq_rotation_inverse(c->rot, y);
}

/* MSE stage of one vector: codes into words, stored norm, y = x̂_mse. */
static int quantize_mse(const kvq_codec *c, const double *x, double nu, work *w,
                        uint32_t *words, float *norm_out)
{
    double *u = w->y, cn = 0.0;
    memcpy(u, x, (size_t)c->dim * sizeof *u);
    kvq_rotation_forward(c->rot, u);
    for (int j = 0; j < c->dim; j++) {
        w->idx[j] = nearest_code(c->cb, nu > 0.0 ? u[j] / nu : 0.0);
        cn += c->cb->centroids[w->idx[j]] * c->cb->centroids[w->idx[j]];
    }
    kvq__pack_codes(w->idx, c->dim, c->spec.mse_bits, words);
    int st = store_norm(c, c->spec.norm_correct ? nu / sqrt(cn) : nu, norm_out);
    mse_reconstruct(c, w->idx, *norm_out, w->y);
    return st;
}

/* QJL stage of one vector: r = x − y (y = x̂_mse), γ = ‖r‖, z = sign(S r). */
static int quantize_qjl(const kvq_codec *c, double *x, work *w, uint32_t *words,
                        float *gamma_out)
{
    for (int j = 0; j < c->dim; j++)
        x[j] -= w->y[j];
    for (int i = 0; i < c->m; i++) {
        const float *s = c->S + (size_t)i * c->dim;
        double dot = 0.0;
        for (int j = 0; j < c->dim; j++)
            dot += s[j] * x[j];
        w->z[i] = dot >= 0.0 ? 1 : -1;
    }
    kvq__pack_signs(w->z, c->m, c->dim, c->spec.mse_bits, words);
    return store_norm(c, norm2(x, c->dim), gamma_out);
}

/* Loads one float vector into doubles; KVQ_ERR_NONFINITE on NaN/Inf. */
static int load_vector(const float *src, int dim, double *x)
{
    for (int j = 0; j < dim; j++) {
        if (!isfinite(src[j]))
            return KVQ_ERR_NONFINITE;
        x[j] = src[j];
    }
    return 0;
}

/* Quantizes one vector into slot v of out. */
static int quantize_one(const kvq_codec *c, const float *src, kvq_qtensor *out, size_t v,
                        work *w)
{
    uint32_t *words = out->codes + v * c->words;
    int st = load_vector(src, c->dim, w->x);
    if (st)
        return st;
    double nu = norm2(w->x, c->dim);
    memset(words, 0, c->words * sizeof *words);
    if (c->spec.mse_bits > 0) {
        st = quantize_mse(c, w->x, nu, w, words, &out->norms[v]);
    } else {
        out->norms[v] = (float)nu;       /* informational: not stored without MSE */
        memset(w->y, 0, (size_t)c->dim * sizeof *w->y);
    }
    if (st == 0 && c->m > 0)
        st = quantize_qjl(c, w->x, w, words, &out->gammas[v]);
    return st;
}

/* 1 if tensor t was allocated for codec c with at least count vectors. */
static int tensor_fits(const kvq_codec *c, const kvq_qtensor *t, size_t count)
{
    return t && t->dim == c->dim && t->mse_bits == c->spec.mse_bits && t->qjl_m == c->m &&
           t->words == c->words && t->count >= count && t->codes && t->norms &&
           (c->m == 0 || t->gammas);
}

/* Host reference quantization of count vectors x (count × dim) into out. */
int kvq__codec_quantize(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out)
{
    work w;
    int st = 0;
    if (!c || (!x && count) || !tensor_fits(c, out, count))
        return KVQ_ERR_INVALID_ARG;
    if ((st = work_alloc(&w, c)) == 0)
        for (size_t v = 0; v < count && st == 0; v++)
            st = quantize_one(c, x + v * c->dim, out, v, &w);
    work_free(&w);
    return st;
}

/* y += sqrt(π/2)/m · γ · Sᵀ z. */
static void qjl_reconstruct(const kvq_codec *c, const int8_t *z, double gamma, double *y)
{
    double scale = KVQ_SQRT_PI_2 / c->m * gamma;
    for (int i = 0; i < c->m; i++) {
        const float *s = c->S + (size_t)i * c->dim;
        double a = scale * z[i];
        for (int j = 0; j < c->dim; j++)
            y[j] += a * s[j];
    }
}

/* x̂ = ν·Rᵀ C[idx] + sqrt(π/2)/m · γ · Sᵀ z for every vector of t (t->count × dim). */
int kvq__codec_dequantize(const kvq_codec *c, const kvq_qtensor *t, float *xhat)
{
    work w;
    if (!c || !xhat || !tensor_fits(c, t, t ? t->count : 0))
        return KVQ_ERR_INVALID_ARG;
    int st = work_alloc(&w, c);
    for (size_t v = 0; st == 0 && v < t->count; v++) {
        const uint32_t *words = t->codes + v * c->words;
        memset(w.y, 0, (size_t)c->dim * sizeof *w.y);
        if (c->spec.mse_bits > 0) {
            kvq__unpack_codes(words, c->dim, c->spec.mse_bits, w.idx);
            mse_reconstruct(c, w.idx, t->norms[v], w.y);
        }
        if (c->m > 0) {
            kvq__unpack_signs(words, c->m, c->dim, c->spec.mse_bits, w.z);
            qjl_reconstruct(c, w.z, t->gammas[v], w.y);
        }
        for (int j = 0; j < c->dim; j++)
            xhat[v * c->dim + j] = (float)w.y[j];
    }
    work_free(&w);
    return st;
}

/* Query side of the compressed-domain estimator. */
void kvq__codec_prepare_query(const kvq_codec *c, const float *q, double *qr, double *sq)
{
    for (int j = 0; j < c->dim; j++)
        qr[j] = q[j];
    if (c->m > 0 && sq)
        for (int i = 0; i < c->m; i++) {
            const float *s = c->S + (size_t)i * c->dim;
            double dot = 0.0;
            for (int j = 0; j < c->dim; j++)
                dot += s[j] * qr[j];
            sq[i] = dot;
        }
    kvq_rotation_forward(c->rot, qr);
}

/* ⟨qr, C[idx]⟩ read straight from the planes. */
static double mse_dot(const kvq_codec *c, const uint32_t *words, const double *qr)
{
    double s = 0.0;
    int d = c->dim, b = c->spec.mse_bits;
    for (int j = 0; j < d; j++) {
        unsigned idx = 0;
        for (int k = 0; k < b; k++) {
            size_t p = (size_t)k * d + j;
            idx |= ((words[p >> 5] >> (p & 31)) & 1u) << k;
        }
        s += qr[j] * c->cb->centroids[idx];
    }
    return s;
}

/* ⟨sq, z⟩ read straight from the sign plane. */
static double qjl_dot(const kvq_codec *c, const uint32_t *words, const double *sq)
{
    double s = 0.0;
    size_t base = (size_t)c->spec.mse_bits * c->dim;
    for (int i = 0; i < c->m; i++) {
        size_t p = base + i;
        s += ((words[p >> 5] >> (p & 31)) & 1u) ? sq[i] : -sq[i];
    }
    return s;
}

/* Estimate of ⟨q, x_j⟩ from vector j of t without dequantizing. */
double kvq__codec_dot(const kvq_codec *c, const kvq_qtensor *t, size_t j, const double *qr,
                     const double *sq)
{
    const uint32_t *words = t->codes + j * c->words;
    double est = 0.0;
    if (c->spec.mse_bits > 0)
        est += t->norms[j] * mse_dot(c, words, qr);
    if (c->m > 0)
        est += KVQ_SQRT_PI_2 / c->m * t->gammas[j] * qjl_dot(c, words, sq);
    return est;
}

/* Payload bits, side bits, effective bits and bytes per token of a codec spec. */
void kvq_codec_budget(const kvq_codec_spec *s, int dim, kvq_budget *b)
{
    int m = s->qjl ? (s->qjl_m ? s->qjl_m : dim) : 0;
    int nb = s->norm_bits == 16 ? 16 : 32;
    b->payload_bits = s->mse_bits + (double)m / dim;
    b->side_bits = (s->mse_bits > 0 ? nb : 0) + (s->qjl ? nb : 0);
    b->effective_bits = b->payload_bits + b->side_bits / dim;
    b->bytes_per_token = 4.0 * kvq__packed_words(dim, s->mse_bits, m) + b->side_bits / 8.0;
}
