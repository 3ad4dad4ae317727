/* stage_mse.c — MSE<b>: each rotated coordinate of x/‖x‖ to its nearest
 * Lloyd–Max centroid, b code planes per vector, ν stored as side value. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/stage.h"

static const char *const forms[] = {"mse<b>", NULL};

static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    if (n < 3 || !kvq__stage_token_is(tok, 3, "mse"))
        return KVQ_STAGE_NOMATCH;
    long b = kvq__stage_count_arg(tok + 3, n - 3);
    if (b < 0 || b > 8) {
        *why = "MSE bits must be mse0..mse8";
        return KVQ_ERR_BAD_SPEC;
    }
    s->mse_bits = (int)b;
    return 0;
}

/* Always written, mse0 included: the canonical form names the MSE budget
 * (except beside a deployed format, which is the whole codec). */
static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    if (s->format)
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, "mse%d", s->mse_bits);
}

static int valid(const kvq_codec_spec *s, int dim)
{
    (void)dim;
    return s->mse_bits >= 0 && s->mse_bits <= 8;
}

/* mse0 stores nothing: x̂_mse = 0. */
static int present(const kvq_codec_spec *s)
{
    return s->mse_bits > 0;
}

/* b bits per coordinate and one norm ν per vector. */
static void cost(const kvq_codec_spec *s, int dim, kvq__stage_cost *c)
{
    c->payload_bits += s->mse_bits;
    c->stream_bits += (size_t)s->mse_bits * dim;
    c->side_values += 1;
}

static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->mse_bits = s->mse_bits;
}

static int realize(kvq_codec *c, uint64_t seed, int tensor, uint32_t trial)
{
    (void)seed;
    (void)tensor;
    (void)trial;
    return kvq__codebook_any(c->kp.dim, c->kp.mse_bits, &c->cb);
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

/* y ← nu · Rᵀ C[idx]: the MSE reconstruction in the original domain. MSE is
 * the first stage to write y, so it sets it rather than adding. */
static void reconstruct(const kvq_codec *c, const uint8_t *idx, double nu, double *y)
{
    for (int j = 0; j < c->kp.dim; j++)
        y[j] = nu * c->cb->centroids[idx[j]];
    kvq_rotation_inverse(c->rot, y);
}

/* Codes of u = R x / ν into the stream, the stored norm, and y = x̂_mse. */
static int encode(const kvq_codec *c, kvq__stage_vec *v)
{
    double *u = v->y, nu = v->nu, cn = 0.0, uc = 0.0;
    memcpy(u, v->x, (size_t)c->kp.dim * sizeof *u);
    kvq_rotation_forward(c->rot, u);
    for (int j = 0; j < c->kp.dim; j++) {
        double uj = nu > 0.0 ? u[j] / nu : 0.0, cj;
        v->idx[j] = nearest_code(c->cb, uj);
        cj = c->cb->centroids[v->idx[j]];
        cn += cj * cj;
        uc += uj * cj;
    }
    v->cn = cn;
    v->uc = uc;
    kvq__pack_codes(v->idx, c->kp.dim, c->kp.mse_bits, v->words);
    int st = kvq__stage_store_side(c, KVQ_SIDE_NORM, nu, v, v->norm);
    reconstruct(c, v->idx, *v->norm, v->y);
    return st;
}

static void decode(const kvq_codec *c, const kvq_stored *s, kvq__stage_vec *v)
{
    kvq__unpack_codes(s->words, c->kp.dim, c->kp.mse_bits, v->idx);
    reconstruct(c, v->idx, s->norm, v->y);
}

/* ν·⟨qr, C[idx]⟩, the codes read straight from the planes. */
static double dot(const kvq_codec *c, const kvq_stored *st, const double *qr, const double *sq)
{
    (void)sq;
    double s = 0.0;
    int d = c->kp.dim, b = c->kp.mse_bits;
    for (int j = 0; j < d; j++) {
        unsigned idx = 0;
        for (int k = 0; k < b; k++) {
            size_t p = (size_t)k * d + j;
            idx |= ((st->words[p >> 5] >> (p & 31)) & 1u) << k;
        }
        s += qr[j] * c->cb->centroids[idx];
    }
    return st->norm * s;
}

const kvq__stage_def kvq__stage_mse = {
    .name = "mse", .forms = forms, .flags = KVQ_STAGE_STORES,
    .parse = parse, .format = format, .valid = valid, .present = present,
    .cost = cost, .kernel = kernel,
    .realize = realize, .encode = encode, .decode = decode, .dot = dot,
};
