/* host.c — the host backend: every operation is the double-precision
 * reference of src/core, so a "host" context runs without OpenCL (and this
 * file needs no CL headers). */
#include <stdlib.h>

#include "core/core.h"
#include "device/backend.h"

/* Nothing to acquire: the reference needs no device objects. */
static int host_open(kvq_ctx *ctx)
{
    (void)ctx;
    return KVQ_OK;
}

static void host_close(kvq_ctx *ctx)
{
    (void)ctx;
}

static int host_try_build(kvq_ctx *ctx, const char *source, const char *options)
{
    (void)ctx, (void)source, (void)options;
    return KVQ_ERR_UNSUPPORTED;
}

static int host_quantize(kvq_ctx *ctx, const kvq_codec *c, const float *x, size_t count,
                         kvq_qtensor *out)
{
    (void)ctx;
    return kvq__codec_quantize(c, x, count, out);
}

static int host_dequantize(kvq_ctx *ctx, const kvq_codec *c, const kvq_qtensor *t, float *xhat)
{
    (void)ctx;
    return kvq__codec_dequantize(c, t, xhat);
}

/* Rotates each float row through a double copy, as the reference codec does. */
static int host_rotate(kvq_ctx *ctx, const kvq_rotation *r, float *x, size_t count, int inverse)
{
    int dim = kvq_rotation_dim(r);
    double *v = malloc((size_t)dim * sizeof *v);
    (void)ctx;
    if (!v)
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) {
        float *row = x + i * (size_t)dim;
        for (int c = 0; c < dim; c++)
            v[c] = row[c];
        (inverse ? kvq_rotation_inverse : kvq_rotation_forward)(r, v);
        for (int c = 0; c < dim; c++)
            row[c] = (float)v[c];
    }
    free(v);
    return KVQ_OK;
}

/* Rows a → the whole tensor in memory: a pointer, or a copy in *owned. */
static const float *whole_rows(const kvq__rows *r, size_t n, float **owned, int *st)
{
    *owned = NULL;
    *st = KVQ_OK;
    if (r->data)
        return r->data;
    if (!(*owned = malloc(n * (size_t)r->dim * sizeof **owned))) {
        *st = KVQ_ERR_NOMEM;
        return NULL;
    }
    return kvq__rows_get(r, 0, n, *owned, st);
}

/* The double-precision reference recomputes everything per scheme (it
 * makes no trial reference) and needs K and V whole: rows that are not in
 * memory are read. */
static int host_attention(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                          const kvq__rows *k, const kvq__rows *v, kvq_attention_out *out)
{
    float *kown, *vown;
    int st, sv;
    kvq_attention_job j = *job;
    (void)ctx, (void)t;
    j.k = whole_rows(k, job->keys, &kown, &st);
    j.v = whole_rows(v, job->keys, &vown, &sv);
    if (!st)
        st = sv;
    if (!st)
        st = kvq__reference_attention(&j, out);
    free(kown);
    free(vown);
    return st;
}

static int host_trial_open(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                           const kvq__rows *v, kvq__trial **out)
{
    (void)ctx, (void)job, (void)k, (void)v;
    *out = NULL;
    return KVQ_OK;
}

static void host_trial_close(kvq_ctx *ctx, kvq__trial *t)
{
    (void)ctx, (void)t;
}

const kvq__backend kvq__backend_host = {
    .name = "host", .open = host_open, .close = host_close, .try_build = host_try_build,
    .quantize = host_quantize, .dequantize = host_dequantize, .rotate = host_rotate,
    .attention = host_attention, .trial_open = host_trial_open, .trial_close = host_trial_close,
};
