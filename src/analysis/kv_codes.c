/* kv_codes.c — a scheme's K and V codecs and codes. */
#include <string.h>

#include "analysis/kv_codes.h"

/* Quantizes count rows of x with codec c, on ctx or (NULL) on the host. */
static int quantize(kvq_ctx *ctx, const kvq_codec *c, const float *x, size_t count,
                    kvq_qtensor *out)
{
    return ctx ? kvq_quantize(ctx, c, x, count, out) : kvq__codec_quantize(c, x, count, out);
}

/* Codecs of scheme s and the codes of k and v (see kv_codes.h). */
int kvq__kv_codes_make(kvq__kv_codes *c, kvq_ctx *ctx, const kvq_scheme *s, int dim,
                      uint64_t seed, uint32_t trial, const float *k, const float *v, size_t keys)
{
    int st;
    memset(c, 0, sizeof *c);
    if ((st = kvq_codec_create(&c->k_codec, &s->k, dim, seed, 0, trial)) ||
        (st = kvq_codec_create(&c->v_codec, &s->v, dim, seed, 1, trial)) ||
        (st = kvq__qtensor_init(&c->k_codes, c->k_codec, keys)) ||
        (st = kvq__qtensor_init(&c->v_codes, c->v_codec, keys)) ||
        (st = quantize(ctx, c->k_codec, k, keys, &c->k_codes)))
        return st;
    return quantize(ctx, c->v_codec, v, keys, &c->v_codes);
}

void kvq__kv_codes_free(kvq__kv_codes *c)
{
    kvq__qtensor_clear(&c->k_codes);
    kvq__qtensor_clear(&c->v_codes);
    kvq_codec_destroy(c->k_codec);
    kvq_codec_destroy(c->v_codec);
    memset(c, 0, sizeof *c);
}
