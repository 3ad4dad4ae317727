/* pack.c — the bit-planar code layout (doc/quantization.md §6, documented in kvq.h),
 * packed tensors, and IEEE half rounding of the side information. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "core/core.h"
#include "core/stage.h"

/* Sets stream bit p to v (0/1). */
static void bit_put(uint32_t *w, size_t p, unsigned v)
{
    uint32_t mask = 1u << (p & 31);
    w[p >> 5] = v ? (w[p >> 5] | mask) : (w[p >> 5] & ~mask);
}

/* Stream bit p. */
static unsigned bit_get(const uint32_t *w, size_t p)
{
    return (w[p >> 5] >> (p & 31)) & 1u;
}

size_t kvq__packed_words(int dim, int bits, int m)
{
    return ((size_t)bits * dim + (size_t)m + 31) / 32;
}

/* Plane k, coordinate j at stream bit k·d + j. */
void kvq__pack_codes(const uint8_t *idx, int dim, int bits, uint32_t *words)
{
    for (int k = 0; k < bits; k++)
        for (int j = 0; j < dim; j++)
            bit_put(words, (size_t)k * dim + j, (idx[j] >> k) & 1u);
}

/* Reads the b MSE planes of one vector back into idx[0 … dim−1]. */
void kvq__unpack_codes(const uint32_t *words, int dim, int bits, uint8_t *idx)
{
    for (int j = 0; j < dim; j++)
        idx[j] = 0;
    for (int k = 0; k < bits; k++)
        for (int j = 0; j < dim; j++)
            idx[j] |= (uint8_t)(bit_get(words, (size_t)k * dim + j) << k);
}

/* Sign i at stream bit b·d + i; 1 ⇔ +1. */
void kvq__pack_signs(const int8_t *z, int m, int dim, int bits, uint32_t *words)
{
    size_t base = (size_t)bits * dim;
    for (int i = 0; i < m; i++)
        bit_put(words, base + i, z[i] >= 0);
}

/* Reads the QJL plane back as z[i] ∈ {−1, +1}. */
void kvq__unpack_signs(const uint32_t *words, int m, int dim, int bits, int8_t *z)
{
    size_t base = (size_t)bits * dim;
    for (int i = 0; i < m; i++)
        z[i] = bit_get(words, base + i) ? 1 : -1;
}

/* Nearest binary16 value, ties to even; ±Inf beyond 65504 (minifloat.c). */
double kvq__round_half(double x)
{
    return kvq__mf_round(&kvq__mf_half, x);
}

/* Shaped by the codec's stages: stream words, and a γ array with QJL. */
int kvq__qtensor_init(kvq_qtensor *t, const kvq_codec *c, size_t count)
{
    if (!t || !c)
        return KVQ_ERR_INVALID_ARG;
    memset(t, 0, sizeof *t);
    const kvq__codec_kparams *kp = kvq__codec_kparams_get(c);
    size_t n = count ? count : 1;
    t->dim = kp->dim;
    t->count = count;
    t->mse_bits = kp->mse_bits;
    t->qjl_m = kp->qjl_m;
    t->norm_bits = kp->side_bits;
    t->words = kp->words;
    if (t->words && n > SIZE_MAX / sizeof(uint32_t) / t->words)
        return KVQ_ERR_NOMEM;
    t->codes = calloc(n * (t->words ? t->words : 1), sizeof *t->codes);
    t->norms = calloc(n, sizeof *t->norms);
    if (kp->qjl_m)
        t->gammas = calloc(n, sizeof *t->gammas);
    if ((t->tside_words = kvq__codec_tside_words(c, count)))
        t->tside = calloc(t->tside_words, sizeof *t->tside);
    if (!t->codes || !t->norms || (kp->qjl_m && !t->gammas) || (t->tside_words && !t->tside)) {
        kvq__qtensor_clear(t);
        return KVQ_ERR_NOMEM;
    }
    return 0;
}

void kvq__qtensor_clear(kvq_qtensor *t)
{
    if (!t)
        return;
    free(t->codes);
    free(t->norms);
    free(t->gammas);
    free(t->tside);
    memset(t, 0, sizeof *t);
}

int kvq__qtensor_copy(const kvq_codec *c, const kvq_qtensor *from, kvq_qtensor *to)
{
    int st = kvq__qtensor_init(to, c, from->count);
    if (st)
        return st;
    if (to->words != from->words || to->tside_words != from->tside_words ||
        !to->gammas != !from->gammas) {
        kvq__qtensor_clear(to);
        return KVQ_ERR_INVALID_ARG;
    }
    size_t n = from->count;
    memcpy(to->codes, from->codes, n * to->words * sizeof *to->codes);
    memcpy(to->norms, from->norms, n * sizeof *to->norms);
    if (to->gammas)
        memcpy(to->gammas, from->gammas, n * sizeof *to->gammas);
    if (to->tside_words)
        memcpy(to->tside, from->tside, to->tside_words * sizeof *to->tside);
    return KVQ_OK;
}

/* The tensor-level words of vectors [j0, j0 + n) start at this word: the
 * out stage's per-vector norms follow its channel list; KIVI's K scales
 * are per group of G tokens (j0 a multiple of G), its V scales per token. */
static size_t tside_first(const kvq_codec *c, size_t j0)
{
    const kvq__codec_kparams *kp = kvq__codec_kparams_get(c);
    if (kp->out_channels)
        return (size_t)kp->out_channels + j0;
    return kvq__codec_tside_words(c, j0);
}

/* The view of an out<c>@<b2> slice in a fresh block *copy: part 0's codes
 * (n × w0), part 1's (n × w1), then the channel list and the outliers'
 * norms, as a tensor of n vectors lays them out (doc/schemes.md §7.2). */
static int out_slice(const kvq_codec *c, const kvq_qtensor *t, size_t j0, size_t n,
                     kvq_qtensor *view, uint32_t **copy)
{
    size_t w0 = kvq__codec_words(c->part[0]), w1 = t->words - w0;
    size_t oc = (size_t)c->kp.out_channels;
    if (!(*copy = malloc((n * t->words + view->tside_words) * sizeof **copy)))
        return KVQ_ERR_NOMEM;
    memcpy(*copy, t->codes + j0 * w0, n * w0 * sizeof **copy);
    memcpy(*copy + n * w0, t->codes + t->count * w0 + j0 * w1, n * w1 * sizeof **copy);
    view->codes = *copy;
    view->tside = *copy + n * t->words;
    memcpy(view->tside, t->tside, oc * sizeof **copy);
    memcpy(view->tside + oc, t->tside + tside_first(c, j0), n * sizeof **copy);
    return KVQ_OK;
}

int kvq__qtensor_slice(const kvq_codec *c, const kvq_qtensor *t, size_t j0, size_t n,
                       kvq_qtensor *view, uint32_t **copy)
{
    size_t g = kvq__codec_token_group(c);
    *copy = NULL;
    if (j0 % g || j0 + n > t->count)
        return KVQ_ERR_INVALID_ARG;
    *view = *t;
    view->count = n;
    view->codes = t->codes + j0 * t->words;
    view->norms = t->norms + j0;
    view->gammas = t->gammas ? t->gammas + j0 : NULL;
    view->tside_words = kvq__codec_tside_words(c, n);
    if (c->kp.out_channels)
        return out_slice(c, t, j0, n, view, copy);
    if (t->tside)
        view->tside = t->tside + tside_first(c, j0);
    return KVQ_OK;
}

KVQ_API int kvq_qtensor_create(kvq_qtensor **out, const kvq_codec *c, size_t count)
{
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    kvq_qtensor *t = malloc(sizeof *t);
    if (!t)
        return KVQ_ERR_NOMEM;
    int st = kvq__qtensor_init(t, c, count);
    if (st) {
        free(t);
        return st;
    }
    *out = t;
    return KVQ_OK;
}

KVQ_API void kvq_qtensor_destroy(kvq_qtensor *t)
{
    kvq__qtensor_clear(t);
    free(t);
}

KVQ_API size_t kvq_qtensor_count(const kvq_qtensor *t)
{
    return t ? t->count : 0;
}

/* What a vector costs as stored: the packed words plus one norm, and γ with
 * QJL, at their stored precision. */
KVQ_API double kvq_qtensor_bytes_per_vector(const kvq_qtensor *t)
{
    if (!t)
        return 0;
    double side = (t->mse_bits > 0 ? t->norm_bits : 0) + (t->gammas ? t->norm_bits : 0);
    double tensor = t->count ? 4.0 * (double)t->tside_words / (double)t->count : 0.0;
    return 4.0 * (double)t->words + side / 8.0 + tensor;
}
