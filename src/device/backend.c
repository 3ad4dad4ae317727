/* backend.c — the public entry points that run on a context: each checks
 * what every backend relies on, then calls the context's backend. */
#include <math.h>

#include "core/core.h"
#include "device/backend.h"
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

/* Checks that the job's tensors and sizes agree (keys and queries index
 * 32-bit kernel arguments; top-k fits the kernels' private lists; a causal
 * job gives every query at least key 0). */
static int tensors_valid(const kvq_attention_job *j)
{
    return j && j->q && j->k && j->v && j->keys != 0 && j->queries != 0 &&
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

int kvq__trial_open(kvq_ctx *ctx, const kvq_attention_job *job, kvq__trial **out)
{
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    if (!ctx || !tensors_valid(job))
        return KVQ_ERR_INVALID_ARG;
    return kvq__ctx_backend(ctx)->trial_open(ctx, job, out);
}

void kvq__trial_close(kvq_ctx *ctx, kvq__trial *t)
{
    if (ctx && t)
        kvq__ctx_backend(ctx)->trial_close(ctx, t);
}

int kvq__attention_run_trial(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                             kvq_attention_out *out)
{
    if (!ctx || !job_valid(job, out))
        return KVQ_ERR_INVALID_ARG;
    return kvq__ctx_backend(ctx)->attention(ctx, t, job, out);
}

KVQ_API int kvq_attention_run(kvq_ctx *ctx, const kvq_attention_job *job, kvq_attention_out *out)
{
    return kvq__attention_run_trial(ctx, NULL, job, out);
}
