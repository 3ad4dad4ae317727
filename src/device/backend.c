/* backend.c — the public entry points that run on a context: each checks
 * what every backend relies on, then calls the context's backend. */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "device/backend.h"
#include "device/stream.h"
#include "device/layout.h"

/* The backend that runs a device type: the host reference for the host,
 * OpenCL for everything else. */
const kvq__backend *kvq__backend_for(int device_type)
{
    return device_type == KVQ_DEVICE_HOST ? &kvq__backend_host : &kvq__backend_opencl;
}

KVQ_API int kvq_quantize(kvq_ctx *ctx, const kvq_codec *c, const float *x, size_t count,
                         kvq_qtensor *out)
{
    return kvq__ctx_backend(ctx)->quantize(ctx, c, x, count, out);
}

KVQ_API int kvq_dequantize(kvq_ctx *ctx, const kvq_codec *c, const kvq_qtensor *t, float *xhat)
{
    return kvq__ctx_backend(ctx)->dequantize(ctx, c, t, xhat);
}

KVQ_API int kvq_rotate(kvq_ctx *ctx, const kvq_rotation *r, float *x, size_t count, int inverse)
{
    return kvq__ctx_backend(ctx)->rotate(ctx, r, x, count, inverse);
}

/* Checks that the job's tensors and sizes agree (K and V come as row
 * sources, see rows_valid; keys and queries index 32-bit kernel arguments; top-k fits the kernels' private lists; a causal
 * job gives every query at least key 0). */
static int tensors_valid(const kvq_attention_job *j)
{
    return j && j->q && j->keys != 0 && j->queries != 0 &&
           j->keys <= 0xffffffffu && j->queries <= 0xffffffffu &&
           (j->causal == 0 || j->causal == 1) && !(j->causal && j->queries > j->keys) &&
           j->dim > 0 && j->topk >= 0 && j->topk <= KVQ_TOPK_MAX && isfinite(j->sharpness);
}

/* tensors_valid, and the codecs and codes agree with the job. */
static int job_valid(const kvq_attention_job *j, const kvq_attention_out *o)
{
    if (!o || !o->queries || !tensors_valid(j) || !j->k_codec || !j->v_codec || !j->k_codes ||
        !j->v_codes)
        return 0;
    if (kvq_codec_dim(j->k_codec) != j->dim || kvq_codec_dim(j->v_codec) != j->dim)
        return 0;
    return j->k_codes->count >= j->keys && j->v_codes->count >= j->keys &&
           j->k_codes->words == kvq__codec_words(j->k_codec) &&
           j->v_codes->words == kvq__codec_words(j->v_codec);
}

static int rows_valid(const kvq__rows *r, const kvq_attention_job *j)
{
    return r && r->count >= j->keys && r->dim == j->dim && (r->data || r->read);
}

int kvq__trial_open(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                    const kvq__rows *v, kvq__trial **out)
{
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    if (!ctx || !tensors_valid(job) || !rows_valid(k, job) || !rows_valid(v, job))
        return KVQ_ERR_INVALID_ARG;
    return kvq__ctx_backend(ctx)->trial_open(ctx, job, k, v, out);
}

void kvq__trial_close(kvq_ctx *ctx, kvq__trial *t)
{
    if (ctx && t)
        kvq__ctx_backend(ctx)->trial_close(ctx, t);
}

int kvq__attention_run_trial(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                             const kvq__rows *k, const kvq__rows *v, kvq_attention_out *out)
{
    if (!ctx || !job_valid(job, out) || !rows_valid(k, job) || !rows_valid(v, job))
        return KVQ_ERR_INVALID_ARG;
    return kvq__ctx_backend(ctx)->attention(ctx, t, job, k, v, out);
}

KVQ_API int kvq_attention_run(kvq_ctx *ctx, const kvq_attention_job *job, kvq_attention_out *out)
{
    if (!job || !job->k || !job->v)
        return KVQ_ERR_INVALID_ARG;
    kvq__rows k = kvq__rows_memory(job->k, job->keys, job->dim),
              v = kvq__rows_memory(job->v, job->keys, job->dim);
    return kvq__attention_rows(ctx, job, &k, &v, out);
}

int kvq__attention_rows(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                        const kvq__rows *v, kvq_attention_out *out)
{
    return kvq__attention_run_trial(ctx, NULL, job, k, v, out);
}

size_t kvq__chunk_rows(const kvq_ctx *ctx, int dim, size_t g)
{
    size_t c = kvq__ctx_chunk_keys(ctx);
    if (!c)
        c = KVQ_CHUNK_BYTES / (sizeof(float) * (size_t)(dim > 0 ? dim : 1));
    if (g > 1)
        c -= c % g;
    return c ? c : (g ? g : 1);
}

/* Quantizes rows [j0, j0 + n) of x into the same rows of out. */
static int quantize_chunk(kvq_ctx *ctx, const kvq_codec *c, const kvq__rows *x, size_t j0,
                          size_t n, float *stage, kvq_qtensor *out)
{
    kvq_qtensor view;
    uint32_t *copy;
    int st;
    const float *p = kvq__rows_get(x, j0, n, stage, &st);
    if (!p)
        return st;
    if ((st = kvq__qtensor_slice(c, out, j0, n, &view, &copy)) == KVQ_OK)
        st = kvq_quantize(ctx, c, p, n, &view);
    free(copy);
    return st;
}

int kvq__quantize_rows(kvq_ctx *ctx, const kvq_codec *c, const kvq__rows *x, kvq_qtensor *out)
{
    if (!ctx || !c || !x || !out || x->dim != kvq_codec_dim(c) || out->count < x->count)
        return KVQ_ERR_INVALID_ARG;
    size_t n = x->count, chunk = kvq__codec_chunkable(c)
                                     ? kvq__chunk_rows(ctx, x->dim, kvq__codec_token_group(c)) : n;
    if (chunk > n)
        chunk = n;
    float *stage = x->data ? NULL : malloc(chunk * (size_t)x->dim * sizeof *stage);
    int st = x->data || stage ? KVQ_OK : KVQ_ERR_NOMEM;
    if (!st && chunk == n) {        /* whole: straight into out, tensor words and all */
        const float *p = kvq__rows_get(x, 0, n, stage, &st);
        if (p)
            st = kvq_quantize(ctx, c, p, n, out);
    }
    for (size_t j0 = 0; j0 < n && !st && chunk < n; j0 += chunk)
        st = quantize_chunk(ctx, c, x, j0, n - j0 < chunk ? n - j0 : chunk, stage, out);
    free(stage);
    return st;
}
