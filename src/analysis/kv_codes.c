/* kv_codes.c — a scheme's K and V codecs and codes. */
#include <string.h>

#include "analysis/kv_codes.h"
#include "device/stream.h"

/* Quantizes count rows of x with codec c, on ctx or (NULL) on the host. */
static int quantize(kvq_ctx *ctx, const kvq_codec *c, const float *x, size_t count,
                    kvq_qtensor *out)
{
    return ctx ? kvq_quantize(ctx, c, x, count, out) : kvq__codec_quantize(c, x, count, out);
}

/* The codecs of scheme s and zeroed codes for keys vectors. */
static int codecs_make(kvq__kv_codes *c, const kvq_scheme *s, int dim, uint64_t seed,
                       uint32_t trial, size_t keys)
{
    int st;
    memset(c, 0, sizeof *c);
    if ((st = kvq_codec_create(&c->k_codec, &s->k, dim, seed, 0, trial)) ||
        (st = kvq_codec_create(&c->v_codec, &s->v, dim, seed, 1, trial)) ||
        (st = kvq__qtensor_init(&c->k_codes, c->k_codec, keys)))
        return st;
    return kvq__qtensor_init(&c->v_codes, c->v_codec, keys);
}

int kvq__kv_codes_make(kvq__kv_codes *c, kvq_ctx *ctx, const kvq_scheme *s, int dim,
                      uint64_t seed, uint32_t trial, const float *k, const float *v, size_t keys)
{
    int st = codecs_make(c, s, dim, seed, trial, keys);
    if (!st)
        st = quantize(ctx, c->k_codec, k, keys, &c->k_codes);
    return st ? st : quantize(ctx, c->v_codec, v, keys, &c->v_codes);
}

int kvq__kv_codes_make_rows(kvq__kv_codes *c, kvq_ctx *ctx, const kvq_scheme *s, int dim,
                           uint64_t seed, uint32_t trial, const kvq__rows *k,
                           const kvq__rows *v)
{
    return kvq__kv_codes_make_reusing(c, ctx, s, dim, seed, trial, k, v, NULL, NULL);
}

/* The codes of one tensor: a copy of from's, or quantized from rows x. */
static int tensor_codes(kvq_ctx *ctx, const kvq_codec *c, const kvq__rows *x,
                        const kvq_qtensor *from, kvq_qtensor *out)
{
    if (!from)
        return kvq__quantize_rows(ctx, c, x, out);
    kvq__qtensor_clear(out);
    return kvq__qtensor_copy(c, from, out);
}

int kvq__kv_codes_make_reusing(kvq__kv_codes *c, kvq_ctx *ctx, const kvq_scheme *s, int dim,
                              uint64_t seed, uint32_t trial, const kvq__rows *k,
                              const kvq__rows *v, const kvq_qtensor *k_from,
                              const kvq_qtensor *v_from)
{
    int st = codecs_make(c, s, dim, seed, trial, k->count);
    if (!st)
        st = tensor_codes(ctx, c->k_codec, k, k_from, &c->k_codes);
    return st ? st : tensor_codes(ctx, c->v_codec, v, v_from, &c->v_codes);
}

void kvq__kv_codes_free(kvq__kv_codes *c)
{
    kvq__qtensor_clear(&c->k_codes);
    kvq__qtensor_clear(&c->v_codes);
    kvq_codec_destroy(c->k_codec);
    kvq_codec_destroy(c->v_codec);
    memset(c, 0, sizeof *c);
}
