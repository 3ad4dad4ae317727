/* attention.c — compressed-domain attention of one scheme on an OpenCL
 * device against its trial reference (trial.c): quantized logits, two-pass
 * softmax statistics merged over key chunks, outputs from quantized values,
 * per-vector errors: the OpenCL backend's attention. Only one key chunk of
 * the codes (and, for the vector errors, of K and V) is on the device at a
 * time (doc/scaling.md §6): a chunk is a tensor of its own to the kernels;
 * only the softmax passes see its place j0 in the whole. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "device/layout.h"
#include "device/stream.h"
#include "core/stage.h"

/* Regime above which KL is taken from the log-sum-exps directly: below it
 * the cancellation-free sums are exact, above it float cancellation is
 * irrelevant and keys with underflowing p may carry p̃ mass. */
#define DIRECT_KL 1.0

/* Everything one scheme's device run holds besides its trial; kx … vgammas
 * and vrot, vz hold the chunk last loaded (kx, vx: the trial's when it has
 * a single chunk, else the run's own, loaded only for the vector errors). */
typedef struct run {
    kvq_ctx *ctx;
    const kvq__trial *t;
    const kvq_attention_job *job;
    kvq_attention_out *out;
    float *kstage, *vstage;       /* a chunk of rows that are not in memory */
    size_t m, n, d, chunk, nchunks, k;
    kvq__dev_codec kc, vc;
    cl_mem qr, sq, kx, vx, kxown, vxown;
    cl_mem kcodes, knorms, kgammas, vcodes, vnorms, vgammas;
    cl_mem lq, pq, consts, sums, orot, acc;
    cl_mem vrot, vz;              /* dense V̂ (rotated domain) and γ∘Z for the GEMM value path */
    kvq__dev_out_tensor kout, vout;   /* out<c>@<b2> tensors, by part */
    cl_mem qrp[2], sqp[2];        /* out<c>@<b2> keys: each part's prepared queries */
    kvq__chunk_stats cs;          /* pass 1 of the quantized rows */
    float *h_sums;
    double err_sums[2][2];        /* K, V: Σ relative MSE, Σ direction error */
    size_t err_used[2];           /* K, V: vectors with a nonzero norm */
} run;

/* Chunking of the last run, for the tests (see device.h). */
static size_t last_chunk, last_chunks_run;

void kvq__dev_attention_last_chunking(size_t *chunk, size_t *chunks_run)
{
    *chunk = last_chunk;
    *chunks_run = last_chunks_run;
}

/* The least common multiple of two token groups. */
static size_t lcm(size_t a, size_t b)
{
    size_t x = a, y = b;
    while (y) {
        size_t t = x % y;
        x = y;
        y = t;
    }
    return a / x * b;
}

/* Keys per chunk of job's codecs: a multiple of both codecs' token groups. */
static size_t chunk_keys(kvq_ctx *ctx, const kvq_attention_job *job)
{
    size_t g = lcm(kvq__codec_token_group(job->k_codec), kvq__codec_token_group(job->v_codec));
    return kvq__dev_chunk_keys(ctx, job->queries, job->keys, (size_t)job->dim, g);
}

/* From this many queries on, õ is accumulated by GEMMs over dense
 * rotated-domain values (one decode of V, reused by every query); below it,
 * straight from the codes, which reads fewer bytes for decode-like M. */
#define VALUE_GEMM_QUERIES 4

/* Whether õ comes from GEMMs over dense values: always for a deployed
 * format, whose dequantized V is its rotated-domain V (no rotation), and for
 * out<c>@<b2>, whose V̂ is its parts' x̂ scattered back (doc/schemes.md §7.4). */
static int value_gemm(const run *r)
{
    return r->m >= VALUE_GEMM_QUERIES || r->vc.format || r->vc.out_channels;
}

/* Dense rotated-domain V̂ (ν·C[idx], a format's x̂, or out<c>@<b2>'s x̂ in
 * the original channels) and γ∘Z of the n keys of the loaded chunk, for the
 * GEMM value path. */
static int value_matrices(run *r, size_t n)
{
    int st = KVQ_OK;
    if (r->vc.out_channels)
        KVQ_TRY(st, kvq__dev_out_dequantize(r->ctx, &r->vc, &r->vout, n, r->vrot));
    if (r->vc.format)
        KVQ_TRY(st, kvq__dev_format_dequantize(r->ctx, &r->vc, r->vcodes, r->vgammas, n, r->vrot));
    if (r->vc.bits)
        KVQ_TRY(st, kvq__dev_recon_rot(r->ctx, &r->vc, r->vcodes, r->vnorms, n, r->vrot));
    if (r->vc.m)
        st = kvq__dev_signs_dense(r->ctx, &r->vc, r->vcodes, r->vgammas, n, 1.0f, r->vz);
cleanup:
    return st;
}

/* Words of the side buffer a chunk of n keys needs: γ, a format's tensor
 * words (KIVI's scales, the out stage's list and norms), else a dummy. */
static size_t side_words(const kvq_codec *c, int has_qjl, size_t n)
{
    size_t t = has_qjl ? 0 : kvq__codec_tside_words(c, n);
    return t > n ? t : n;
}

/* Writes the codes of rows [j0, j0 + n) of one tensor into the chunk
 * buffers codes, norms and side (an out<c>@<b2> tensor: into o, by part),
 * and the rows themselves into x unless x is NULL. */
static int load_tensor(run *r, const kvq__rows *rows, float *stage, const kvq_codec *c,
                       const kvq_qtensor *t, const kvq__dev_codec *dc, size_t j0, size_t n,
                       cl_mem x, cl_mem codes, cl_mem norms, cl_mem side,
                       kvq__dev_out_tensor *o)
{
    kvq_qtensor v;
    uint32_t *copy = NULL;
    int st = KVQ_OK, has_qjl = dc->m;
    if (x) {
        const float *p = kvq__rows_get(rows, j0, n, stage, &st);
        if (!p)
            return st;
        KVQ_TRY(st, kvq__dev_write(r->ctx, x, 0, p, n * r->d * 4));
    }
    KVQ_TRY(st, kvq__qtensor_slice(c, t, j0, n, &v, &copy));
    if (dc->out_channels) {
        kvq__dev_out_tensor_release(r->ctx, o);
        st = kvq__dev_out_tensor_upload(r->ctx, dc, &v, n, o);
        goto cleanup;
    }
    KVQ_TRY(st, kvq__dev_write(r->ctx, codes, 0, v.codes, n * v.words * 4));
    KVQ_TRY(st, kvq__dev_write(r->ctx, norms, 0, v.norms, n * 4));
    if (has_qjl)
        st = kvq__dev_write(r->ctx, side, 0, v.gammas, n * 4);
    else if (v.tside)
        st = kvq__dev_write(r->ctx, side, 0, v.tside, v.tside_words * 4);
cleanup:
    free(copy);
    return st;
}

/* Loads K's codes of chunk [j0, j0 + n), and V's when with_v (with its
 * dense value matrices on the GEMM value path); the rows too into the
 * run's own kx, vx for the vector errors. */
static int load_chunk(run *r, size_t j0, size_t n, int with_v)
{
    const kvq_attention_job *j = r->job;
    int st;
    KVQ_TRY(st, load_tensor(r, r->t->krows, r->kstage, j->k_codec, j->k_codes, &r->kc, j0, n,
                            with_v ? r->kxown : NULL, r->kcodes, r->knorms, r->kgammas, &r->kout));
    if (!with_v)
        goto cleanup;
    KVQ_TRY(st, load_tensor(r, r->t->vrows, r->vstage, j->v_codec, j->v_codes, &r->vc, j0, n,
                            r->vxown, r->vcodes, r->vnorms, r->vgammas, &r->vout));
    if (value_gemm(r))
        st = value_matrices(r, n);
cleanup:
    return st;
}

int kvq__dev_prepare_queries(kvq_ctx *ctx, const kvq__dev_codec *kc, cl_mem qr, size_t nq,
                             float scale, cl_mem *sq)
{
    size_t dim = (size_t)kc->dim;
    int st;
    KVQ_TRY(st, kvq__dev_rotate(ctx, kc, qr, nq, 0, scale));
    KVQ_TRY(st, kvq__pool_acquire(ctx, (kc->m ? nq * kc->m : 1) * 4, sq));
    /* S′q by the host BLAS on a CPU device, where CLBlast's TN kernel is slow */
    if (kc->m)
        st = kvq__blas_sgemm_out_at(ctx, 0, 1, nq, (size_t)kc->m, dim, 1.0f, qr, 0, dim,
                                    kc->sprime, 0, dim, 0.0f, *sq, 0, (size_t)kc->m);
cleanup:
    return st;
}

/* Uploads the codecs (an out<c>@<b2> codec bound to its tensor's channel
 * list); prepares rotated, scaled queries and S·q from the trial's q. */
static int setup(run *r)
{
    const kvq_attention_job *j = r->job;
    kvq_ctx *ctx = r->ctx;
    size_t md = r->m * r->d;
    int st;
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, j->k_codec, &r->kc));
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, j->v_codec, &r->vc));
    if (r->kc.out_channels)
        KVQ_TRY(st, kvq__dev_out_bind(ctx, &r->kc, j->k_codec, j->k_codes));
    if (r->vc.out_channels)
        KVQ_TRY(st, kvq__dev_out_bind(ctx, &r->vc, j->v_codec, j->v_codes));
    if (r->kc.out_channels) {
        st = kvq__dev_out_queries(ctx, &r->kc, r->t->q, r->m, r->t->scale, r->qrp, r->sqp);
        goto cleanup;
    }
    KVQ_TRY(st, kvq__pool_acquire(ctx, md * 4, &r->qr));
    cl_int cs = clEnqueueCopyBuffer(ctx->queue, r->t->q, r->qr, 0, 0, md * 4, 0, NULL, NULL);
    if (cs != CL_SUCCESS) {
        st = kvq__rt_fail(cs, "clEnqueueCopyBuffer", __FILE__, __LINE__);
        goto cleanup;
    }
    st = kvq__dev_prepare_queries(ctx, &r->kc, r->qr, r->m, r->t->scale, &r->sq);
cleanup:
    return st;
}

/* The chunk buffers of one tensor (its rows, with host staging when they
 * are not in memory, only if x is not NULL); an out<c>@<b2> tensor's codes
 * are uploaded by part. */
static int alloc_tensor(run *r, const kvq_codec *c, const kvq__dev_codec *dc,
                        const kvq__rows *rows, float **stage, cl_mem *x, cl_mem *codes,
                        cl_mem *norms, cl_mem *side)
{
    size_t n = r->chunk;
    int st, has_qjl = dc->m;
    if (x)
        KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * r->d * 4, x));
    if (x && !rows->data && !(*stage = malloc(n * r->d * sizeof **stage))) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    if (dc->out_channels)
        goto cleanup;
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * kvq__codec_words(c) * 4, codes));
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * 4, norms));
    st = kvq__pool_acquire(r->ctx, side_words(c, has_qjl, n) * 4, side);
cleanup:
    return st;
}

/* The chunk buffers of K, V and the value path's dense matrices. With a
 * single chunk K and V are the trial's; over several, a run that wants
 * vector errors reads them again chunk by chunk. */
static int alloc_chunk(run *r)
{
    const kvq_attention_job *j = r->job;
    int st, own = r->nchunks > 1 && r->out->want_vector_errors;
    KVQ_TRY(st, alloc_tensor(r, j->k_codec, &r->kc, r->t->krows, &r->kstage,
                             own ? &r->kxown : NULL, &r->kcodes, &r->knorms, &r->kgammas));
    KVQ_TRY(st, alloc_tensor(r, j->v_codec, &r->vc, r->t->vrows, &r->vstage,
                             own ? &r->vxown : NULL, &r->vcodes, &r->vnorms, &r->vgammas));
    r->kx = own ? r->kxown : r->t->kx;
    r->vx = own ? r->vxown : r->t->vx;
    if (value_gemm(r) && (r->vc.format || r->vc.bits || r->vc.out_channels))
        KVQ_TRY(st, kvq__pool_acquire(r->ctx, r->chunk * r->d * 4, &r->vrot));
    if (value_gemm(r) && r->vc.m)
        st = kvq__pool_acquire(r->ctx, r->chunk * (size_t)r->vc.m * 4, &r->vz);
cleanup:
    return st;
}

/* Allocates the per-chunk and per-query work buffers. */
static int alloc_work(run *r)
{
    kvq_ctx *ctx = r->ctx;
    size_t mc = r->m * r->chunk * 4;
    size_t vm = r->vc.m ? (size_t)r->vc.m : 1;
    int st;
    KVQ_TRY(st, kvq__pool_acquire(ctx, mc, &r->lq));
    KVQ_TRY(st, kvq__pool_acquire(ctx, mc, &r->pq));
    /* device statistics hold one chunk; the host copies keep every chunk */
    KVQ_TRY(st, kvq__chunk_stats_alloc(ctx, r->m, r->k, r->nchunks, &r->cs));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * KVQ_CONSTS * 4, &r->consts));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * KVQ_ACCS * 4, &r->sums));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * r->d * 4, &r->orot));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * vm * 4, &r->acc));
    KVQ_TRY(st, kvq__dev_zero(ctx, r->orot, r->m * r->d * 4));
    KVQ_TRY(st, kvq__dev_zero(ctx, r->acc, r->m * vm * 4));
    if (!(r->h_sums = malloc(r->m * r->nchunks * KVQ_ACCS * sizeof *r->h_sums)))
        st = KVQ_ERR_NOMEM;
cleanup:
    return st;
}

int kvq__dev_logits(kvq_ctx *ctx, const kvq__dev_codec *kc, cl_mem codes, cl_mem norms,
                   cl_mem gammas, cl_mem qr, cl_mem sq, size_t j0, size_t n, size_t nq,
                   cl_mem out)
{
    cl_kernel k;
    int st;
    size_t ls, g[2] = {n, nq}, l[2] = {1, 1};
    kvq_variant variant = kvq__dev_select(ctx, KVQ_OP_LOGITS, kc);
    if (variant == KVQ_VARIANT_FORMAT)
        return kvq__dev_format_logits(ctx, kc, codes, gammas, qr, j0, n, nq, out);
    if (variant == KVQ_VARIANT_TABLE)
        return kvq__dev_logits_table(ctx, kc, codes, norms, gammas, qr, sq, j0, n, nq, out);
    int vec = variant == KVQ_VARIANT_VECTOR;
    if (vec) {
        char opts[64];
        snprintf(opts, sizeof opts, "-DKVQ_D=%d -DKVQ_LB=%d", kc->dim, kc->bits);
        KVQ_TRY(st, kvq__rt_kernel(ctx, "common+attention", opts, "kvq_logits_codes_vec", &k));
    } else {
        KVQ_TRY(st, kvq__dev_kernel(ctx, "attention", kc->dim, "kvq_logits_codes", &k));
    }
    cl_uint bits = (cl_uint)kc->bits, m = (cl_uint)kc->m, words = (cl_uint)kc->words;
    cl_uint uj0 = (cl_uint)j0, un = (cl_uint)n, unq = (cl_uint)nq;
    float qs = kc->qjl_scale;
    kvq__arg a[] = {{sizeof(cl_mem), &codes}, {sizeof(cl_mem), &norms}, {sizeof(cl_mem), &gammas},
                   {4, &bits}, {4, &m}, {4, &words}, {sizeof(cl_mem), &kc->centroids},
                   {sizeof(cl_mem), &qr}, {sizeof(cl_mem), &sq}, {4, &qs}, {4, &uj0}, {4, &un},
                   {4, &unq}, {sizeof(cl_mem), &out}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    if (!vec) {
        st = kvq__dev_launch(ctx, k, 2, g, NULL);
        goto cleanup;
    }
    /* one work-item per 16 keys; groups of up to 16 work-items (256 keys) */
    ls = kvq__dev_group(ctx, k, 16);
    l[0] = ls;
    g[0] = ((n + 15) / 16 + ls - 1) / ls * ls;
    st = kvq__dev_launch(ctx, k, 2, g, l);
cleanup:
    return st;
}

/* Quantized logits of the loaded chunk's n keys for every query. */
static int chunk_logits(run *r, size_t n)
{
    if (r->kc.out_channels)
        return kvq__dev_out_logits(r->ctx, &r->kc, &r->kout, r->qrp, r->sqp, 0, n, r->m, r->lq);
    return kvq__dev_logits(r->ctx, &r->kc, r->kcodes, r->knorms, r->kgammas, r->qr, r->sq, 0, n,
                          r->m, r->lq);
}

/* Copies chunk c's logits rows into the caller's [queries × keys] arrays. */
static int export_logits(run *r, size_t c, size_t j0, size_t n)
{
    int st = KVQ_OK;
    for (size_t i = 0; i < r->m && !st; i++) {
        if (r->out->logits_ref)
            st = kvq__dev_download(r->ctx, r->t->lref[c], i * n * 4,
                                  r->out->logits_ref + i * r->n + j0, n * 4);
        if (!st && r->out->logits_quant)
            st = kvq__dev_download(r->ctx, r->lq, i * n * 4, r->out->logits_quant + i * r->n + j0,
                                  n * 4);
    }
    return st;
}

/* The rows of chunk c: the quantized logits against the trial's reference. */
static kvq__dev_rows chunk_rows(const run *r, size_t c)
{
    return (kvq__dev_rows){.l = r->lq, .lref = r->t->lref[c], .p = r->t->p[c], .e = r->pq};
}

/* The quantized log-sum-exp of query i and μ = E_p[δ], merged in double. */
static void merge_chunks(const run *r, size_t i, double *lse_q, double *mu)
{
    double t = 0;
    *lse_q = kvq__chunk_stats_lse(&r->cs, r->nchunks, r->m, i, NULL);
    for (size_t c = 0; c < r->nchunks; c++)
        t += r->cs.h_stats[(c * r->m + i) * KVQ_STATS + KVQ_STAT_P_DELTA];
    *mu = t;
}

/* top1 and top-k recall of query i against the trial's top-k. */
static void topk_agreement(const run *r, size_t i, kvq_query_metrics *q)
{
    const cl_uint *a = r->t->top + i * r->k;
    cl_uint b[KVQ_TOPK_MAX];
    size_t ka = r->t->ntop[i], hit = 0;
    size_t kb = kvq__chunk_stats_topk(&r->cs, r->nchunks, r->m, r->k, i, b);
    for (size_t x = 0; x < ka; x++)
        for (size_t y = 0; y < kb; y++)
            hit += a[x] == b[y];
    q->top1 = ka && kb && a[0] == b[0];
    q->topk_recall = ka ? (double)hit / (double)ka : 0.0;
}

/* Per-query constants for pass 2, from the merged pass-1 statistics. */
static int upload_consts(run *r)
{
    float *c = malloc(r->m * KVQ_CONSTS * sizeof *c);
    if (!c)
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < r->m; i++) {
        double la = r->t->lse_h[i], lb, mu;
        float *ci = c + KVQ_CONSTS * i;
        merge_chunks(r, i, &lb, &mu);
        ci[KVQ_CONST_LSE_REF] = (float)la;
        ci[KVQ_CONST_LSE_QUANT] = (float)lb;
        ci[KVQ_CONST_MU] = (float)mu;
        ci[KVQ_CONST_G_EST] = (float)expm1(lb - la - mu);
        ci[KVQ_CONST_LOG1P_G] = (float)(lb - la - mu);
        topk_agreement(r, i, &r->out->queries[i]);
    }
    int st = kvq__dev_write(r->ctx, r->consts, 0, c, r->m * KVQ_CONSTS * sizeof *c);
    free(c);
    return st;
}

int kvq__dev_softmax_pass2(kvq_ctx *ctx, int dim, const kvq__dev_rows *rows, size_t n, size_t j0,
                          size_t vis0, size_t nq, cl_mem stats, cl_mem consts, cl_mem sums)
{
    cl_kernel k;
    int st;
    cl_uint un = (cl_uint)n, uj0 = (cl_uint)j0, uv = (cl_uint)vis0;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "attention", dim, "kvq_softmax_pass2", &k));
    size_t item = KVQ_ACCS * sizeof(float);
    size_t ls = kvq__dev_group_local(ctx, k, kvq__dev_row_group(ctx), 0, item), g = ls * nq;
    if (!ls)
        return kvq__dev_no_local(ctx, "kvq_softmax_pass2", item);
    kvq__arg a[] = {{sizeof(cl_mem), &rows->lref}, {sizeof(cl_mem), &rows->l},
                   {sizeof(cl_mem), &rows->p}, {sizeof(cl_mem), &rows->e},
                   {sizeof(cl_mem), &stats}, {4, &un}, {4, &uj0}, {4, &uv},
                   {sizeof(cl_mem), &consts}, {sizeof(cl_mem), &sums}, {ls * item, NULL}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    st = kvq__dev_launch(ctx, k, 1, &g, &ls);
cleanup:
    return st;
}

/* Pass 2 kernel on chunk c, then the chunk's share of õ. */
static int pass2(run *r, size_t c, size_t j0, size_t n)
{
    cl_kernel k;
    int st;
    cl_uint un = (cl_uint)n, uj0 = 0 /* the chunk's codes start at key 0 */, nq = (cl_uint)r->m;
    kvq__dev_rows rows = chunk_rows(r, c);
    KVQ_TRY(st, kvq__dev_softmax_pass2(r->ctx, (int)r->d, &rows, n, j0, r->t->vis0, r->m,
                                      r->cs.stats, r->consts, r->sums));
    /* read by collect(), after its blocking read of õ */
    KVQ_TRY(st, kvq__dev_download_then(r->ctx, r->sums, 0, r->h_sums + c * r->m * KVQ_ACCS,
                                      r->m * KVQ_ACCS * 4));
    if (value_gemm(r)) {
        if (r->vrot)
            KVQ_TRY(st, kvq__blas_sgemm_out_at(r->ctx, 0, 0, r->m, r->d, n, 1.0f, r->pq, 0, n,
                                              r->vrot, 0, r->d, 1.0f, r->orot, 0, r->d));
        if (r->vc.m)
            st = kvq__blas_sgemm_out_at(r->ctx, 0, 0, r->m, (size_t)r->vc.m, n, 1.0f, r->pq, 0,
                                       n, r->vz, 0, (size_t)r->vc.m, 1.0f,
                                       r->acc, 0, (size_t)r->vc.m);
        goto cleanup;
    }
    cl_uint bits = (cl_uint)r->vc.bits, words = (cl_uint)r->vc.words, m = (cl_uint)r->vc.m;
    if (bits) {
        KVQ_TRY(st, kvq__dev_kernel(r->ctx, "attention", (int)r->d, "kvq_value_mse", &k));
        kvq__arg b[] = {{sizeof(cl_mem), &r->vcodes}, {sizeof(cl_mem), &r->vnorms},
                       {sizeof(cl_mem), &r->vc.centroids}, {4, &bits}, {4, &words},
                       {sizeof(cl_mem), &r->pq}, {4, &uj0}, {4, &un}, {4, &nq},
                       {sizeof(cl_mem), &r->orot}};
        KVQ_TRY(st, kvq__dev_args(k, b, sizeof b / sizeof b[0]));
        size_t g2[2] = {r->d, r->m};
        KVQ_TRY(st, kvq__dev_launch(r->ctx, k, 2, g2, NULL));
    }
    if (m) {
        KVQ_TRY(st, kvq__dev_kernel(r->ctx, "attention", (int)r->d, "kvq_value_qjl", &k));
        kvq__arg b[] = {{sizeof(cl_mem), &r->vcodes}, {sizeof(cl_mem), &r->vgammas}, {4, &bits},
                       {4, &m}, {4, &words}, {sizeof(cl_mem), &r->pq}, {4, &uj0}, {4, &un},
                       {4, &nq}, {sizeof(cl_mem), &r->acc}};
        KVQ_TRY(st, kvq__dev_args(k, b, sizeof b / sizeof b[0]));
        size_t g2[2] = {(size_t)m, r->m};
        st = kvq__dev_launch(r->ctx, k, 2, g2, NULL);
    }
cleanup:
    return st;
}

/* õ = Rᵀ·õ_rot + κ · A·S for the value codec (out<c>@<b2>'s õ is
 * already in the original channels). */
static int finish_outputs(run *r)
{
    int st;
    if (r->vc.out_channels)
        return KVQ_OK;
    KVQ_TRY(st, kvq__dev_rotate(r->ctx, &r->vc, r->orot, r->m, 1, 1.0f));
    if (r->vc.m)
        st = kvq__blas_sgemm_out_at(r->ctx, 0, 0, r->m, r->d, (size_t)r->vc.m, r->vc.qjl_scale,
                                   r->acc, 0, (size_t)r->vc.m, r->vc.s, 0, r->d, 1.0f, r->orot, 0,
                                   r->d);
cleanup:
    return st;
}

/* ‖õ − o‖/‖o‖ and 1 − cos(õ, o) = ½‖õ/‖õ‖ − o/‖o‖‖², in double. */
static void output_errors(const float *o, const float *oq, size_t d, kvq_query_metrics *q)
{
    double no = 0, nq = 0, diff = 0, dir = 0;
    for (size_t c = 0; c < d; c++) {
        no += (double)o[c] * o[c];
        nq += (double)oq[c] * oq[c];
        diff += ((double)oq[c] - o[c]) * ((double)oq[c] - o[c]);
    }
    no = sqrt(no);
    nq = sqrt(nq);
    for (size_t c = 0; c < d; c++) {
        double t = (nq > 0 ? oq[c] / nq : 0.0) - (no > 0 ? o[c] / no : 0.0);
        dir += t * t;
    }
    q->out_rel_err = no > 0 ? sqrt(diff) / no : NAN;
    q->out_dir_err = no > 0 ? (nq > 0 ? 0.5 * dir : 1.0) : NAN;
}

/* Per-query metrics from the chunk sums (slots: layout.h's KVQ_ACC_SLOTS)
 * and the trial's reference statistics. */
static void finalize_query(const run *r, size_t i, kvq_query_metrics *q)
{
    double s[KVQ_ACCS] = {0}, la = r->t->lse_h[i], lb, mu;
    merge_chunks(r, i, &lb, &mu);
    for (size_t c = 0; c < r->nchunks; c++)
        for (int t = 0; t < KVQ_ACCS; t++)
            s[t] += r->h_sums[(c * r->m + i) * KVQ_ACCS + (size_t)t];
    q->p_max = r->t->p_max[i];
    double direct = lb - la - mu, g = s[KVQ_ACC_KL_SERIES];
    if (direct > DIRECT_KL || !isfinite(g)) {
        q->kl = direct;
        q->kl_rev = s[KVQ_ACC_KL_REV_DIRECT];
    } else {
        q->kl = log1p(g);
        q->kl_rev = s[KVQ_ACC_KL_REV] / (1.0 + g) - log1p(g);
    }
    q->js = 0.5 * s[KVQ_ACC_JS2];
    q->tv = 0.5 * s[KVQ_ACC_TV2];
    q->entropy_ref = r->t->entropy[i];
    q->entropy_quant = s[KVQ_ACC_ENT_QUANT];
    q->var_p_eps = s[KVQ_ACC_VAR_DELTA];
    double vis = (double)kvq__visible_keys(r->job, i);
    q->logit_mse = s[KVQ_ACC_DELTA_SQ] / vis;
    q->logit_bias = s[KVQ_ACC_DELTA] / vis;
}

/* Downloads õ and fills the per-query metrics (o is the trial's). */
static int collect(run *r)
{
    size_t md = r->m * r->d;
    const float *o = r->t->oref;
    float *oq = malloc(md * 4);
    int st = !oq ? KVQ_ERR_NOMEM : KVQ_OK;
    if (!st)
        st = kvq__dev_download(r->ctx, r->orot, 0, oq, md * 4);
    for (size_t i = 0; !st && i < r->m; i++) {
        finalize_query(r, i, &r->out->queries[i]);
        output_errors(o + i * r->d, oq + i * r->d, r->d, &r->out->queries[i]);
    }
    if (!st && r->out->out_ref)
        memcpy(r->out->out_ref, o, md * 4);
    if (!st && r->out->out_quant)
        memcpy(r->out->out_quant, oq, md * 4);
    free(oq);
    return st;
}

/* err ← kvq_vector_errors of x against x̂, made first by the codec's own
 * dequantization (the path where no kernel reads the codes directly). */
static int errors_via_xhat(run *r, const kvq__dev_codec *dc, cl_mem codes, cl_mem norms,
                           cl_mem gammas, const kvq__dev_out_tensor *o, cl_mem x, size_t n,
                           cl_mem err)
{
    cl_mem xh = NULL;
    cl_kernel k;
    int st;
    cl_uint un = (cl_uint)n;
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * r->d * 4, &xh));
    if (dc->out_channels)
        KVQ_TRY(st, kvq__dev_out_dequantize(r->ctx, dc, o, n, xh));
    else
        KVQ_TRY(st, kvq__dev_dequantize(r->ctx, dc, codes, norms, gammas, n, xh));
    KVQ_TRY(st, kvq__dev_kernel(r->ctx, "attention", (int)r->d, "kvq_vector_errors", &k));
    kvq__arg a[] = {{sizeof(cl_mem), &x}, {sizeof(cl_mem), &xh}, {4, &un}, {sizeof(cl_mem), &err}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    st = kvq__dev_launch(r->ctx, k, 1, &n, NULL);
cleanup:
    kvq__pool_release(r->ctx, xh);
    return st;
}

/* Enqueues the relative MSE and direction error of x̂ against x over the n
 * keys of the loaded chunk of one tensor, and their read into h (n ×
 * KVQ_VEC_ERRS floats, filled once the queue has run it). */
static int vector_errors(run *r, const kvq__dev_codec *dc, cl_mem codes, cl_mem norms,
                         cl_mem gammas, const kvq__dev_out_tensor *o, cl_mem x, size_t n,
                         float *h)
{
    cl_mem err = NULL;
    int st;
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * KVQ_VEC_ERRS * 4, &err));
    if (kvq__dev_errors_from_codes(r->ctx, dc))
        KVQ_TRY(st, kvq__dev_vector_errors_codes(r->ctx, dc, codes, norms, gammas, x, n, err));
    else
        KVQ_TRY(st, errors_via_xhat(r, dc, codes, norms, gammas, o, x, n, err));
    st = kvq__dev_download_then(r->ctx, err, 0, h, n * KVQ_VEC_ERRS * sizeof *h);
cleanup:
    kvq__pool_release(r->ctx, err);   /* the in-order queue reads it before any reuse */
    return st;
}

/* Adds tensor t's (0 K, 1 V) errors of n keys in h to the run's sums. */
static void add_vector_errors(run *r, int t, const float *h, size_t n)
{
    for (size_t v = 0; v < n; v++) {
        const float *e = h + KVQ_VEC_ERRS * v;
        if (e[0] < 0)
            continue;
        r->err_sums[t][0] += e[0];
        r->err_sums[t][1] += e[1];
        r->err_used[t]++;
    }
}

/* The errors the run wants (both tensors', or one's) over the loaded
 * chunk of n keys, with one wait for the device. */
static int chunk_vector_errors(run *r, size_t n)
{
    int st = KVQ_OK, want[2] = {kvq__wants_errors(r->out, 0), kvq__wants_errors(r->out, 1)};
    if (!want[0] && !want[1])
        return KVQ_OK;
    float *h = malloc(2 * n * KVQ_VEC_ERRS * sizeof *h);
    if (!h)
        return KVQ_ERR_NOMEM;
    if (want[0])
        KVQ_TRY(st, vector_errors(r, &r->kc, r->kcodes, r->knorms, r->kgammas, &r->kout, r->kx,
                                  n, h));
    if (want[1])
        KVQ_TRY(st, vector_errors(r, &r->vc, r->vcodes, r->vnorms, r->vgammas, &r->vout, r->vx,
                                  n, h + n * KVQ_VEC_ERRS));
    KVQ_TRY(st, kvq__dev_wait(r->ctx));
    for (int t = 0; t < 2; t++)
        if (want[t])
            add_vector_errors(r, t, h + t * n * KVQ_VEC_ERRS, n);
cleanup:
    if (st)     /* a read into h may still be queued */
        kvq__dev_wait(r->ctx);
    free(h);
    return st;
}

/* The mean errors of tensor t over every key. */
static void finish_vector_errors(const run *r, int t, kvq_vector_errors *e)
{
    size_t used = r->err_used[t];
    e->zero_vectors = r->n - used;
    e->rel_mse = used ? r->err_sums[t][0] / (double)used : NAN;
    e->dir_err = used ? r->err_sums[t][1] / (double)used : NAN;
}

/* Returns every buffer of the run to the pool. */
static void release_run(run *r)
{
    cl_mem *bufs[] = {&r->qr, &r->sq, &r->kxown, &r->vxown, &r->kcodes, &r->knorms,
                      &r->kgammas, &r->vcodes, &r->vnorms, &r->vgammas, &r->lq, &r->pq,
                      &r->consts, &r->sums, &r->orot, &r->acc, &r->vrot, &r->vz, &r->qrp[0],
                      &r->qrp[1], &r->sqp[0], &r->sqp[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        kvq__pool_release(r->ctx, *bufs[i]);
    kvq__dev_out_tensor_release(r->ctx, &r->kout);
    kvq__dev_out_tensor_release(r->ctx, &r->vout);
    kvq__dev_codec_release(r->ctx, &r->kc);
    kvq__dev_codec_release(r->ctx, &r->vc);
    kvq__chunk_stats_free(r->ctx, &r->cs);
    free(r->kstage);
    free(r->vstage);
    free(r->h_sums);
}

/* Keys in chunk c. */
static size_t chunk_len(const run *r, size_t c)
{
    size_t j0 = c * r->chunk;
    return r->n - j0 < r->chunk ? r->n - j0 : r->chunk;
}

/* Both passes over every chunk, then outputs and vector errors. A single
 * chunk's codes are loaded once; otherwise pass 1 loads K's codes and pass
 * 2 K's and V's again (the quantized logits are recomputed rather than
 * kept). */
static int device_run(run *r)
{
    int st;
    KVQ_TRY(st, setup(r));
    last_chunk = r->chunk;
    last_chunks_run = 0;
    KVQ_TRY(st, alloc_work(r));
    KVQ_TRY(st, alloc_chunk(r));
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t j0 = c * r->chunk, n = chunk_len(r, c);
        kvq__dev_rows rows = chunk_rows(r, c);
        KVQ_TRY(st, load_chunk(r, j0, n, r->nchunks == 1));
        KVQ_TRY(st, chunk_logits(r, n));
        KVQ_TRY(st, export_logits(r, c, j0, n));
        KVQ_TRY(st, kvq__dev_chunk_stats(r->ctx, (int)r->d, &rows, c, j0, n, r->t->vis0, r->k,
                                        r->m, &r->cs));
        last_chunks_run++;
    }
    KVQ_TRY(st, upload_consts(r));
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t j0 = c * r->chunk, n = chunk_len(r, c);
        kvq__dev_rows rows = chunk_rows(r, c);
        /* over several chunks, the chunk's codes, logits and pass-1 rows again */
        if (r->nchunks > 1) {
            KVQ_TRY(st, load_chunk(r, j0, n, 1));
            KVQ_TRY(st, chunk_logits(r, n));
            KVQ_TRY(st, kvq__dev_softmax_pass1(r->ctx, (int)r->d, &rows, n, j0, r->t->vis0, r->k,
                                              r->m, r->cs.stats, r->cs.topv, r->cs.topi));
        }
        KVQ_TRY(st, pass2(r, c, j0, n));
        KVQ_TRY(st, chunk_vector_errors(r, n));
    }
    KVQ_TRY(st, finish_outputs(r));
    KVQ_TRY(st, collect(r));
    if (kvq__wants_errors(r->out, 0))
        finish_vector_errors(r, 0, &r->out->k_err);
    if (kvq__wants_errors(r->out, 1))
        finish_vector_errors(r, 1, &r->out->v_err);
cleanup:
    return st;
}

/* Whether job, over rows k and v, has the tensors, sizes and chunking
 * trial t was made with. */
static int trial_matches(kvq_ctx *ctx, const kvq__trial *t, const kvq_attention_job *job,
                         const kvq__rows *k, const kvq__rows *v)
{
    const kvq_attention_job *a = &t->job;
    return a->q == job->q && t->krows == k && t->vrows == v && a->dim == job->dim &&
           a->keys == job->keys && a->queries == job->queries &&
           a->sharpness == job->sharpness && a->topk == job->topk && a->causal == job->causal &&
           t->chunk == chunk_keys(ctx, job);
}

/* Runs a checked job on the device against trial t, or against a trial
 * made for it alone when t is NULL (kvq_attention_run) or was chunked for
 * other token groups. */
int kvq__cl_attention(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                      const kvq__rows *k, const kvq__rows *v, kvq_attention_out *out)
{
    kvq__trial *own = NULL;
    run r;
    int st = KVQ_OK;
    if (t && !trial_matches(ctx, t, job, k, v)) {
        if (t->job.q != job->q || t->krows != k || t->vrows != v)
            return KVQ_ERR_INVALID_ARG;
        t = NULL;
    }
    if (!t && (st = kvq__cl_trial_open_chunked(ctx, job, k, v, chunk_keys(ctx, job), &own)))
        return st;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.t = t ? t : own;
    r.job = job;
    r.out = out;
    r.m = r.t->m;
    r.n = r.t->n;
    r.d = r.t->d;
    r.k = r.t->k;
    r.chunk = r.t->chunk;
    r.nchunks = r.t->nchunks;
    st = device_run(&r);
    if (st)     /* reads into the run's host arrays may still be queued */
        kvq__dev_wait(ctx);
    release_run(&r);
    kvq__cl_trial_close(ctx, own);
    return st;
}
