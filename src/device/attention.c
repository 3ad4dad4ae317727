/* attention.c — compressed-domain attention on an OpenCL device: reference
 * and quantized logits, two-pass softmax statistics merged over key chunks,
 * outputs from quantized values, per-vector errors: the OpenCL backend's
 * attention. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "device/layout.h"

/* Regime above which KL is taken from the log-sum-exps directly: below it
 * the cancellation-free sums are exact, above it float cancellation is
 * irrelevant and keys with underflowing p may carry p̃ mass. */
#define DIRECT_KL 1.0

/* Everything one device run holds. */
typedef struct run {
    kvq_ctx *ctx;
    const kvq_attention_job *job;
    kvq_attention_out *out;
    size_t m, n, d, chunk, nchunks, k;
    size_t vis0;                  /* keys query 0 sees; query i sees vis0 + i (capped at n) */
    float scale;
    kvq__dev_codec kc, vc;
    cl_mem q, kx, vx, qr, sq;
    cl_mem kcodes, knorms, kgammas, vcodes, vnorms, vgammas;
    cl_mem lref, lq, p, pq, stats, topv, topi, consts, sums, oref, orot, acc;
    cl_mem vrot, vz;              /* dense V̂ (rotated domain) and γ∘Z for the GEMM value path */
    float *h_stats, *h_topv, *h_sums;
    cl_uint *h_topi;
} run;

/* Chunking of the last run, for the tests (see device.h). */
static size_t last_chunk, last_chunks_run;

void kvq__dev_attention_last_chunking(size_t *chunk, size_t *chunks_run)
{
    *chunk = last_chunk;
    *chunks_run = last_chunks_run;
}

/* Uploads a quantized tensor's codes, norms and gammas (or tensor-level side words). */
static int upload_codes(kvq_ctx *ctx, const kvq_qtensor *t, size_t n, int has_qjl, cl_mem *codes,
                        cl_mem *norms, cl_mem *gammas)
{
    int st = kvq__dev_upload(ctx, t->codes, n * t->words * sizeof(cl_uint), codes);
    if (!st)
        st = kvq__dev_upload(ctx, t->norms, n * sizeof(float), norms);
    if (!st)
        st = kvq__dev_upload_side(ctx, t, n, has_qjl, gammas);
    return st;
}

/* Keys per chunk: $KVQ_CHUNK_KEYS, else as many as one allocation holds. */
static size_t chunk_keys(const run *r)
{
    size_t c = r->ctx->opts.chunk_keys;
    size_t fit = (size_t)(r->ctx->info.max_alloc / 4 / (r->m ? r->m : 1));
    if (!c || c > fit)
        c = fit;
    if (c > r->n)
        c = r->n;
    return c ? c : 1;
}

/* From this many queries on, õ is accumulated by GEMMs over dense
 * rotated-domain values (one decode of V, reused by every query); below it,
 * straight from the codes, which reads fewer bytes for decode-like M. */
#define VALUE_GEMM_QUERIES 4

/* Whether õ comes from GEMMs over dense values: always for a deployed
 * format, whose dequantized V is its rotated-domain V (no rotation). */
static int value_gemm(const run *r)
{
    return r->m >= VALUE_GEMM_QUERIES || r->vc.format;
}

/* Dense rotated-domain V̂ (ν·C[idx], or a format's x̂) and γ∘Z for the GEMM
 * value path. */
static int value_matrices(run *r)
{
    int st = KVQ_OK;
    if (r->vc.format) {
        KVQ_TRY(st, kvq__pool_acquire(r->ctx, r->n * r->d * 4, &r->vrot));
        KVQ_TRY(st, kvq__dev_format_dequantize(r->ctx, &r->vc, r->vcodes, r->vgammas, r->n,
                                              r->vrot));
    }
    if (r->vc.bits) {
        KVQ_TRY(st, kvq__pool_acquire(r->ctx, r->n * r->d * 4, &r->vrot));
        KVQ_TRY(st, kvq__dev_recon_rot(r->ctx, &r->vc, r->vcodes, r->vnorms, r->n, r->vrot));
    }
    if (r->vc.m) {
        KVQ_TRY(st, kvq__pool_acquire(r->ctx, r->n * (size_t)r->vc.m * 4, &r->vz));
        KVQ_TRY(st, kvq__dev_signs_dense(r->ctx, &r->vc, r->vcodes, r->vgammas, r->n, 1.0f, r->vz));
    }
cleanup:
    return st;
}

/* Uploads inputs and codecs; prepares rotated, scaled queries and S·q. */
static int setup(run *r)
{
    const kvq_attention_job *j = r->job;
    kvq_ctx *ctx = r->ctx;
    size_t md = r->m * r->d, nd = r->n * r->d;
    int st;
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, j->k_codec, &r->kc));
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, j->v_codec, &r->vc));
    KVQ_TRY(st, kvq__dev_upload(ctx, j->q, md * 4, &r->q));
    KVQ_TRY(st, kvq__dev_upload(ctx, j->q, md * 4, &r->qr));
    KVQ_TRY(st, kvq__dev_upload(ctx, j->k, nd * 4, &r->kx));
    KVQ_TRY(st, kvq__dev_upload(ctx, j->v, nd * 4, &r->vx));
    KVQ_TRY(st, upload_codes(ctx, j->k_codes, r->n, r->kc.m, &r->kcodes, &r->knorms, &r->kgammas));
    KVQ_TRY(st, upload_codes(ctx, j->v_codes, r->n, r->vc.m, &r->vcodes, &r->vnorms, &r->vgammas));
    KVQ_TRY(st, kvq__dev_rotate(ctx, &r->kc, r->qr, r->m, 0, r->scale));
    KVQ_TRY(st, kvq__pool_acquire(ctx, (r->kc.m ? r->m * r->kc.m : 1) * 4, &r->sq));
    if (r->kc.m)
        KVQ_TRY(st, kvq__blas_sgemm(ctx, 0, 1, r->m, (size_t)r->kc.m, r->d, 1.0f, r->qr, r->d,
                                   r->kc.sprime, r->d, 0.0f, r->sq, (size_t)r->kc.m));
    if (value_gemm(r))
        st = value_matrices(r);
cleanup:
    return st;
}

/* Allocates the per-chunk and per-query work buffers. */
static int alloc_work(run *r)
{
    kvq_ctx *ctx = r->ctx;
    size_t mc = r->m * r->chunk * 4, mq = r->m * r->nchunks;
    size_t vm = r->vc.m ? (size_t)r->vc.m : 1;
    int st;
    KVQ_TRY(st, kvq__pool_acquire(ctx, mc, &r->lref));
    KVQ_TRY(st, kvq__pool_acquire(ctx, mc, &r->lq));
    KVQ_TRY(st, kvq__pool_acquire(ctx, mc, &r->p));
    KVQ_TRY(st, kvq__pool_acquire(ctx, mc, &r->pq));
    /* device statistics hold one chunk; the host copies keep every chunk */
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * KVQ_STATS * 4, &r->stats));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * KVQ_TOPK_LISTS * r->k * 4, &r->topv));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * KVQ_TOPK_LISTS * r->k * 4, &r->topi));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * KVQ_CONSTS * 4, &r->consts));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * KVQ_ACCS * 4, &r->sums));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * r->d * 4, &r->oref));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * r->d * 4, &r->orot));
    KVQ_TRY(st, kvq__pool_acquire(ctx, r->m * vm * 4, &r->acc));
    KVQ_TRY(st, kvq__dev_zero(ctx, r->oref, r->m * r->d * 4));
    KVQ_TRY(st, kvq__dev_zero(ctx, r->orot, r->m * r->d * 4));
    KVQ_TRY(st, kvq__dev_zero(ctx, r->acc, r->m * vm * 4));
    r->h_stats = malloc(mq * KVQ_STATS * sizeof *r->h_stats);
    r->h_topv = malloc(mq * KVQ_TOPK_LISTS * r->k * sizeof *r->h_topv);
    r->h_topi = malloc(mq * KVQ_TOPK_LISTS * r->k * sizeof *r->h_topi);
    r->h_sums = malloc(mq * KVQ_ACCS * sizeof *r->h_sums);
    if (!r->h_stats || !r->h_topv || !r->h_topi || !r->h_sums)
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
    float qs = kc->m ? (float)(sqrt(M_PI / 2.0) / kc->m) : 0.0f;
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

/* Reference and quantized logits of keys [j0, j0+n) for every query. */
static int chunk_logits(run *r, size_t j0, size_t n)
{
    int st;
    KVQ_TRY(st, kvq__blas_sgemm_at(r->ctx, 0, 1, r->m, n, r->d, r->scale, r->q, 0, r->d, r->kx,
                                  j0 * r->d, r->d, 0.0f, r->lref, 0, n));
    st = kvq__dev_logits(r->ctx, &r->kc, r->kcodes, r->knorms, r->kgammas, r->qr, r->sq, j0, n,
                        r->m, r->lq);
cleanup:
    return st;
}

/* Copies the chunk's logits rows into the caller's [queries × keys] arrays. */
static int export_logits(run *r, size_t j0, size_t n)
{
    int st = KVQ_OK;
    for (size_t i = 0; i < r->m && !st; i++) {
        if (r->out->logits_ref)
            st = kvq__dev_download(r->ctx, r->lref, i * n * 4, r->out->logits_ref + i * r->n + j0,
                                  n * 4);
        if (!st && r->out->logits_quant)
            st = kvq__dev_download(r->ctx, r->lq, i * n * 4, r->out->logits_quant + i * r->n + j0,
                                  n * 4);
    }
    return st;
}

int kvq__dev_softmax_pass1(kvq_ctx *ctx, int dim, cl_mem lref, cl_mem lq, size_t n, size_t j0,
                          size_t vis0, size_t k, size_t nq, cl_mem stats, cl_mem topv,
                          cl_mem topi)
{
    cl_kernel kern;
    int st;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "attention", dim, "kvq_softmax_pass1", &kern));
    /* per work-item: one reduction float and a k-entry list of values and indices */
    size_t item = sizeof(float) + k * (sizeof(float) + sizeof(cl_uint));
    size_t ls = kvq__dev_group_local(ctx, kern, 256, 0, item);
    if (!ls)
        return kvq__dev_no_local(ctx, "kvq_softmax_pass1", item);
    cl_uint un = (cl_uint)n, uj0 = (cl_uint)j0, kk = (cl_uint)k, uv = (cl_uint)vis0;
    kvq__arg a[] = {{sizeof(cl_mem), &lref}, {sizeof(cl_mem), &lq}, {4, &un}, {4, &uj0},
                   {4, &kk}, {4, &uv}, {sizeof(cl_mem), &stats}, {sizeof(cl_mem), &topv},
                   {sizeof(cl_mem), &topi}, {ls * 4, NULL}, {ls * k * 4, NULL},
                   {ls * k * 4, NULL}};
    KVQ_TRY(st, kvq__dev_args(kern, a, sizeof a / sizeof a[0]));
    size_t g = ls * nq;
    st = kvq__dev_launch(ctx, kern, 1, &g, &ls);
cleanup:
    return st;
}

/* Pass 1 kernel on chunk c (keys j0 … j0+n-1). */
static int pass1(run *r, size_t c, size_t j0, size_t n)
{
    int st;
    KVQ_TRY(st, kvq__dev_softmax_pass1(r->ctx, (int)r->d, r->lref, r->lq, n, j0, r->vis0, r->k,
                                      r->m, r->stats, r->topv, r->topi));
    size_t tops = r->m * KVQ_TOPK_LISTS * r->k;
    KVQ_TRY(st, kvq__dev_download(r->ctx, r->stats, 0, r->h_stats + c * r->m * KVQ_STATS,
                                 r->m * KVQ_STATS * 4));
    KVQ_TRY(st, kvq__dev_download(r->ctx, r->topv, 0, r->h_topv + c * tops, tops * 4));
    st = kvq__dev_download(r->ctx, r->topi, 0, r->h_topi + c * tops, tops * 4);
cleanup:
    return st;
}

/* Log-sum-exp of chunk partials (max, Σe^{ℓ−max}) and the p-weighted mean
 * of δ, merged in double. */
static void merge_chunks(const run *r, size_t i, double *lse_ref, double *lse_q, double *mu)
{
    double ma = -INFINITY, mb = -INFINITY, sa = 0, sb = 0, t = 0;
    for (size_t c = 0; c < r->nchunks; c++) {
        const float *s = r->h_stats + (c * r->m + i) * KVQ_STATS;
        ma = fmax(ma, s[KVQ_STAT_REF_MAX]);
        mb = fmax(mb, s[KVQ_STAT_QUANT_MAX]);
    }
    for (size_t c = 0; c < r->nchunks; c++) {
        const float *s = r->h_stats + (c * r->m + i) * KVQ_STATS;
        double wa = exp(s[KVQ_STAT_REF_MAX] - ma), wb = exp(s[KVQ_STAT_QUANT_MAX] - mb);
        sa += wa * s[KVQ_STAT_REF_SUM];
        sb += wb * s[KVQ_STAT_QUANT_SUM];
        t += wa * s[KVQ_STAT_DELTA_SUM];
    }
    *lse_ref = ma + log(sa);
    *lse_q = mb + log(sb);
    *mu = t / sa;
}

/* One top-k candidate. */
typedef struct cand {
    float v;
    cl_uint idx;
} cand;

/* Orders candidates by value descending, then index ascending. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The global top-k of query i from the chunks' candidates (which = 0 ref, 1 quant). */
static size_t merge_topk(const run *r, size_t i, int which, cand *buf, cl_uint *sel)
{
    size_t n = 0;
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t base = ((c * r->m + i) * KVQ_TOPK_LISTS + (size_t)which) * r->k;
        for (size_t t = 0; t < r->k; t++)
            if (r->h_topi[base + t] != 0xffffffffu)
                buf[n++] = (cand){r->h_topv[base + t], r->h_topi[base + t]};
    }
    qsort(buf, n, sizeof *buf, cand_cmp);
    size_t k = n < r->k ? n : r->k;
    for (size_t t = 0; t < k; t++)
        sel[t] = buf[t].idx;
    return k;
}

/* top1 and top-k recall of query i. */
static void topk_agreement(const run *r, size_t i, cand *buf, kvq_query_metrics *q)
{
    cl_uint a[KVQ_TOPK_MAX], b[KVQ_TOPK_MAX];
    size_t ka = merge_topk(r, i, 0, buf, a), kb = merge_topk(r, i, 1, buf, b), hit = 0;
    for (size_t x = 0; x < ka; x++)
        for (size_t y = 0; y < kb; y++)
            hit += a[x] == b[y];
    q->top1 = ka && kb && a[0] == b[0];
    q->topk_recall = ka ? (double)hit / (double)ka : 0.0;
}

/* Per-query constants for pass 2, from the merged pass-1 statistics. */
static int upload_consts(run *r, cand *buf)
{
    float *c = malloc(r->m * KVQ_CONSTS * sizeof *c);
    if (!c)
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < r->m; i++) {
        double la, lb, mu;
        float *ci = c + KVQ_CONSTS * i;
        merge_chunks(r, i, &la, &lb, &mu);
        ci[KVQ_CONST_LSE_REF] = (float)la;
        ci[KVQ_CONST_LSE_QUANT] = (float)lb;
        ci[KVQ_CONST_MU] = (float)mu;
        ci[KVQ_CONST_G_EST] = (float)expm1(lb - la - mu);
        topk_agreement(r, i, buf, &r->out->queries[i]);
    }
    cl_int cs = clEnqueueWriteBuffer(r->ctx->queue, r->consts, CL_TRUE, 0,
                                     r->m * KVQ_CONSTS * sizeof *c, c, 0, NULL, NULL);
    free(c);
    return cs == CL_SUCCESS ? KVQ_OK : kvq__rt_fail(cs, "clEnqueueWriteBuffer", __FILE__, __LINE__);
}

int kvq__dev_softmax_pass2(kvq_ctx *ctx, int dim, cl_mem lref, cl_mem lq, size_t n, size_t j0,
                          size_t vis0, size_t nq, cl_mem consts, cl_mem sums, cl_mem p, cl_mem pq)
{
    cl_kernel k;
    int st;
    cl_uint un = (cl_uint)n, uj0 = (cl_uint)j0, uv = (cl_uint)vis0;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "attention", dim, "kvq_softmax_pass2", &k));
    size_t ls = kvq__dev_group_local(ctx, k, 256, 0, sizeof(float)), g = ls * nq;
    if (!ls)
        return kvq__dev_no_local(ctx, "kvq_softmax_pass2", sizeof(float));
    kvq__arg a[] = {{sizeof(cl_mem), &lref}, {sizeof(cl_mem), &lq}, {4, &un}, {4, &uj0},
                   {4, &uv}, {sizeof(cl_mem), &consts}, {sizeof(cl_mem), &sums}, {sizeof(cl_mem), &p},
                   {sizeof(cl_mem), &pq}, {ls * 4, NULL}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    st = kvq__dev_launch(ctx, k, 1, &g, &ls);
cleanup:
    return st;
}

/* Pass 2 kernel on chunk c, then the chunk's share of both outputs. */
static int pass2(run *r, size_t c, size_t j0, size_t n)
{
    cl_kernel k;
    int st;
    cl_uint un = (cl_uint)n, uj0 = (cl_uint)j0, nq = (cl_uint)r->m;
    KVQ_TRY(st, kvq__dev_softmax_pass2(r->ctx, (int)r->d, r->lref, r->lq, n, j0, r->vis0, r->m,
                                      r->consts, r->sums, r->p, r->pq));
    KVQ_TRY(st, kvq__dev_download(r->ctx, r->sums, 0, r->h_sums + c * r->m * KVQ_ACCS,
                                 r->m * KVQ_ACCS * 4));
    /* reference output o += P · V[j0 … j0+n) */
    KVQ_TRY(st, kvq__blas_sgemm_at(r->ctx, 0, 0, r->m, r->d, n, 1.0f, r->p, 0, n, r->vx, j0 * r->d,
                                  r->d, 1.0f, r->oref, 0, r->d));
    if (value_gemm(r)) {
        if (r->vrot)
            KVQ_TRY(st, kvq__blas_sgemm_at(r->ctx, 0, 0, r->m, r->d, n, 1.0f, r->pq, 0, n, r->vrot,
                                          j0 * r->d, r->d, 1.0f, r->orot, 0, r->d));
        if (r->vc.m)
            st = kvq__blas_sgemm_at(r->ctx, 0, 0, r->m, (size_t)r->vc.m, n, 1.0f, r->pq, 0, n,
                                   r->vz, j0 * (size_t)r->vc.m, (size_t)r->vc.m, 1.0f, r->acc, 0,
                                   (size_t)r->vc.m);
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

/* õ = Rᵀ·õ_rot + √(π/2)/m · A·S for the value codec. */
static int finish_outputs(run *r)
{
    int st;
    KVQ_TRY(st, kvq__dev_rotate(r->ctx, &r->vc, r->orot, r->m, 1, 1.0f));
    if (r->vc.m)
        st = kvq__blas_sgemm(r->ctx, 0, 0, r->m, r->d, (size_t)r->vc.m,
                            (float)(sqrt(M_PI / 2.0) / r->vc.m), r->acc, (size_t)r->vc.m,
                            r->vc.s, r->d, 1.0f, r->orot, r->d);
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

/* Per-query metrics from the chunk sums (slots: layout.h's KVQ_ACC_SLOTS). */
static void finalize_query(const run *r, size_t i, double la, double lb, double mu,
                           kvq_query_metrics *q)
{
    double s[KVQ_ACCS] = {0};
    for (size_t c = 0; c < r->nchunks; c++)
        for (int t = 0; t < KVQ_ACCS; t++)
            s[t] += r->h_sums[(c * r->m + i) * KVQ_ACCS + (size_t)t];
    double ref_max = -INFINITY;   /* p_max = e^{max ℓ − lse}: pass 1 already has max ℓ */
    for (size_t c = 0; c < r->nchunks; c++)
        ref_max = fmax(ref_max, r->h_stats[(c * r->m + i) * KVQ_STATS + KVQ_STAT_REF_MAX]);
    q->p_max = exp(ref_max - la);
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
    q->entropy_ref = s[KVQ_ACC_ENT_REF];
    q->entropy_quant = s[KVQ_ACC_ENT_QUANT];
    q->var_p_eps = s[KVQ_ACC_VAR_DELTA];
    double vis = (double)kvq__visible_keys(r->job, i);
    q->logit_mse = s[KVQ_ACC_DELTA_SQ] / vis;
    q->logit_bias = s[KVQ_ACC_DELTA] / vis;
}

/* Downloads both outputs and fills the per-query metrics. */
static int collect(run *r)
{
    size_t md = r->m * r->d;
    float *o = malloc(md * 4), *oq = malloc(md * 4);
    int st = (!o || !oq) ? KVQ_ERR_NOMEM : KVQ_OK;
    if (!st)
        st = kvq__dev_download(r->ctx, r->oref, 0, o, md * 4);
    if (!st)
        st = kvq__dev_download(r->ctx, r->orot, 0, oq, md * 4);
    for (size_t i = 0; !st && i < r->m; i++) {
        double la, lb, mu;
        merge_chunks(r, i, &la, &lb, &mu);
        finalize_query(r, i, la, lb, mu, &r->out->queries[i]);
        output_errors(o + i * r->d, oq + i * r->d, r->d, &r->out->queries[i]);
    }
    if (!st && r->out->out_ref)
        memcpy(r->out->out_ref, o, md * 4);
    if (!st && r->out->out_quant)
        memcpy(r->out->out_quant, oq, md * 4);
    free(o);
    free(oq);
    return st;
}

/* Mean relative MSE and direction error of x̂ against x on the device. */
static int vector_errors(run *r, const kvq__dev_codec *dc, cl_mem codes, cl_mem norms,
                         cl_mem gammas, cl_mem x, kvq_vector_errors *e)
{
    cl_mem xh = NULL, err = NULL;
    float *h = NULL;
    cl_kernel k;
    int st;
    cl_uint n = (cl_uint)r->n;
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, r->n * r->d * 4, &xh));
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, r->n * KVQ_VEC_ERRS * 4, &err));
    KVQ_TRY(st, kvq__dev_dequantize(r->ctx, dc, codes, norms, gammas, r->n, xh));
    KVQ_TRY(st, kvq__dev_kernel(r->ctx, "attention", (int)r->d, "kvq_vector_errors", &k));
    kvq__arg a[] = {{sizeof(cl_mem), &x}, {sizeof(cl_mem), &xh}, {4, &n}, {sizeof(cl_mem), &err}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    size_t g = r->n;
    KVQ_TRY(st, kvq__dev_launch(r->ctx, k, 1, &g, NULL));
    if (!(h = malloc(r->n * KVQ_VEC_ERRS * sizeof *h))) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    KVQ_TRY(st, kvq__dev_download(r->ctx, err, 0, h, r->n * KVQ_VEC_ERRS * sizeof *h));
    double rel = 0, dir = 0;
    size_t used = 0;
    for (size_t v = 0; v < r->n; v++) {
        const float *e = h + KVQ_VEC_ERRS * v;
        if (e[0] < 0)
            continue;
        rel += e[0];
        dir += e[1];
        used++;
    }
    e->zero_vectors = r->n - used;
    e->rel_mse = used ? rel / (double)used : NAN;
    e->dir_err = used ? dir / (double)used : NAN;
cleanup:
    free(h);
    kvq__pool_release(r->ctx, xh);
    kvq__pool_release(r->ctx, err);
    return st;
}

/* Returns every buffer of the run to the pool. */
static void release_run(run *r)
{
    cl_mem *bufs[] = {&r->q, &r->kx, &r->vx, &r->qr, &r->sq, &r->kcodes, &r->knorms,
                      &r->kgammas, &r->vcodes, &r->vnorms, &r->vgammas, &r->lref, &r->lq,
                      &r->p, &r->pq, &r->stats, &r->topv, &r->topi, &r->consts, &r->sums,
                      &r->oref, &r->orot, &r->acc, &r->vrot, &r->vz};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        kvq__pool_release(r->ctx, *bufs[i]);
    kvq__dev_codec_release(r->ctx, &r->kc);
    kvq__dev_codec_release(r->ctx, &r->vc);
    free(r->h_stats);
    free(r->h_topv);
    free(r->h_topi);
    free(r->h_sums);
}

/* Both passes over every chunk, then outputs and vector errors. */
static int device_run(run *r)
{
    cand *buf = NULL;
    int st;
    KVQ_TRY(st, setup(r));
    r->chunk = chunk_keys(r);
    r->nchunks = (r->n + r->chunk - 1) / r->chunk;
    last_chunk = r->chunk;
    last_chunks_run = 0;
    KVQ_TRY(st, alloc_work(r));
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t j0 = c * r->chunk, n = r->n - j0 < r->chunk ? r->n - j0 : r->chunk;
        KVQ_TRY(st, chunk_logits(r, j0, n));
        KVQ_TRY(st, export_logits(r, j0, n));
        KVQ_TRY(st, pass1(r, c, j0, n));
        last_chunks_run++;
    }
    if (!(buf = malloc(r->nchunks * r->k * sizeof *buf))) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    KVQ_TRY(st, upload_consts(r, buf));
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t j0 = c * r->chunk, n = r->n - j0 < r->chunk ? r->n - j0 : r->chunk;
        if (r->nchunks > 1)
            KVQ_TRY(st, chunk_logits(r, j0, n));
        KVQ_TRY(st, pass2(r, c, j0, n));
    }
    KVQ_TRY(st, finish_outputs(r));
    KVQ_TRY(st, collect(r));
    if (r->out->want_vector_errors) {
        KVQ_TRY(st, vector_errors(r, &r->kc, r->kcodes, r->knorms, r->kgammas, r->kx, &r->out->k_err));
        KVQ_TRY(st, vector_errors(r, &r->vc, r->vcodes, r->vnorms, r->vgammas, r->vx, &r->out->v_err));
    }
cleanup:
    free(buf);
    return st;
}

/* Runs a checked job on the device (kvq_attention_run checks it). */
int kvq__cl_attention(kvq_ctx *ctx, const kvq_attention_job *job, kvq_attention_out *out)
{
    run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.job = job;
    r.out = out;
    r.m = job->queries;
    r.n = job->keys;
    r.d = (size_t)job->dim;
    r.k = (size_t)(job->topk ? job->topk : KVQ_TOPK_MAX);
    if (r.k > r.n)
        r.k = r.n;
    r.scale = (float)(job->sharpness / sqrt((double)job->dim));
    r.vis0 = kvq__visible_keys(job, 0);
    int st = device_run(&r);
    release_run(&r);
    return st;
}
