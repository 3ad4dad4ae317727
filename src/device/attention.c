/* attention.c — compressed-domain attention on an OpenCL device: reference
 * and quantized logits, two-pass softmax statistics merged over key chunks,
 * outputs from quantized values, per-vector errors: the OpenCL backend's
 * attention. Only one key chunk of K, V and their codes is on the device at
 * a time (doc/scaling.md §6): a chunk is a tensor of its own to the
 * kernels; only the softmax passes see its place j0 in the whole. */
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

/* Everything one device run holds; kx … vgammas and vrot, vz hold the
 * chunk last loaded. */
typedef struct run {
    kvq_ctx *ctx;
    const kvq_attention_job *job;
    const kvq__rows *krows, *vrows;
    float *kstage, *vstage;       /* a chunk of rows that are not in memory */
    kvq_attention_out *out;
    size_t m, n, d, chunk, nchunks, k;
    size_t vis0;                  /* keys query 0 sees; query i sees vis0 + i (capped at n) */
    float scale;
    kvq__dev_codec kc, vc;
    cl_mem q, kx, vx, qr, sq;
    cl_mem kcodes, knorms, kgammas, vcodes, vnorms, vgammas;
    cl_mem lref, lq, p, pq, stats, topv, topi, consts, sums, oref, orot, acc;
    cl_mem vrot, vz;              /* dense V̂ (rotated domain) and γ∘Z for the GEMM value path */
    kvq__dev_out_tensor kout, vout;   /* out<c>@<b2> tensors, by part */
    cl_mem qrp[2], sqp[2];        /* out<c>@<b2> keys: each part's prepared queries */
    float *h_stats, *h_topv, *h_sums;
    cl_uint *h_topi;
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

/* Keys per chunk: kvq__chunk_rows (a multiple of both codecs' token
 * groups), at most what one allocation of M logits rows holds; all keys
 * when they fit. */
static size_t chunk_keys(const run *r)
{
    size_t g = lcm(kvq__codec_token_group(r->job->k_codec),
                   kvq__codec_token_group(r->job->v_codec));
    size_t c = kvq__chunk_rows(r->ctx, (int)r->d, g);
    size_t fit = (size_t)(r->ctx->info.max_alloc / 4 / (r->m ? r->m : 1));
    if (c > fit)
        c = fit > g ? fit - fit % g : g;
    return c < r->n ? c : r->n;
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

/* Writes rows [j0, j0 + n) of one tensor and their codes into the chunk
 * buffers x, codes, norms and side (an out<c>@<b2> tensor: into o, by part). */
static int load_tensor(run *r, const kvq__rows *rows, float *stage, const kvq_codec *c,
                       const kvq_qtensor *t, const kvq__dev_codec *dc, size_t j0, size_t n,
                       cl_mem x, cl_mem codes, cl_mem norms, cl_mem side,
                       kvq__dev_out_tensor *o)
{
    kvq_qtensor v;
    uint32_t *copy = NULL;
    int st, has_qjl = dc->m;
    const float *p = kvq__rows_get(rows, j0, n, stage, &st);
    if (!p)
        return st;
    KVQ_TRY(st, kvq__dev_write(r->ctx, x, 0, p, n * r->d * 4));
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

/* Loads K's chunk [j0, j0 + n), and V's when with_v (with its dense value
 * matrices on the GEMM value path). */
static int load_chunk(run *r, size_t j0, size_t n, int with_v)
{
    const kvq_attention_job *j = r->job;
    int st;
    KVQ_TRY(st, load_tensor(r, r->krows, r->kstage, j->k_codec, j->k_codes, &r->kc, j0, n, r->kx,
                            r->kcodes, r->knorms, r->kgammas, &r->kout));
    if (!with_v)
        goto cleanup;
    KVQ_TRY(st, load_tensor(r, r->vrows, r->vstage, j->v_codec, j->v_codes, &r->vc, j0, n, r->vx,
                            r->vcodes, r->vnorms, r->vgammas, &r->vout));
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
    if (kc->m)
        st = kvq__blas_sgemm(ctx, 0, 1, nq, (size_t)kc->m, dim, 1.0f, qr, dim, kc->sprime, dim,
                             0.0f, *sq, (size_t)kc->m);
cleanup:
    return st;
}

/* Uploads the queries and codecs (an out<c>@<b2> codec bound to its
 * tensor's channel list); prepares rotated, scaled queries and S·q. */
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
    KVQ_TRY(st, kvq__dev_upload(ctx, j->q, md * 4, &r->q));
    if (r->kc.out_channels) {
        st = kvq__dev_out_queries(ctx, &r->kc, r->q, r->m, r->scale, r->qrp, r->sqp);
    } else {
        KVQ_TRY(st, kvq__dev_upload(ctx, j->q, md * 4, &r->qr));
        st = kvq__dev_prepare_queries(ctx, &r->kc, r->qr, r->m, r->scale, &r->sq);
    }
cleanup:
    return st;
}

/* The chunk buffers of one tensor (and host staging when its rows are
 * not in memory); an out<c>@<b2> tensor's codes are uploaded by part. */
static int alloc_tensor(run *r, const kvq_codec *c, const kvq__dev_codec *dc,
                        const kvq__rows *rows, float **stage, cl_mem *x, cl_mem *codes,
                        cl_mem *norms, cl_mem *side)
{
    size_t n = r->chunk;
    int st, has_qjl = dc->m;
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * r->d * 4, x));
    if (!rows->data && !(*stage = malloc(n * r->d * sizeof **stage))) {
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

/* The chunk buffers of K, V and the value path's dense matrices. */
static int alloc_chunk(run *r)
{
    const kvq_attention_job *j = r->job;
    int st;
    KVQ_TRY(st, alloc_tensor(r, j->k_codec, &r->kc, r->krows, &r->kstage, &r->kx, &r->kcodes,
                             &r->knorms, &r->kgammas));
    KVQ_TRY(st, alloc_tensor(r, j->v_codec, &r->vc, r->vrows, &r->vstage, &r->vx, &r->vcodes,
                             &r->vnorms, &r->vgammas));
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

/* Reference and quantized logits of keys [j0, j0+n) for every query. */
static int chunk_logits(run *r, size_t j0, size_t n)
{
    int st;
    (void)j0;
    KVQ_TRY(st, kvq__blas_sgemm_at(r->ctx, 0, 1, r->m, n, r->d, r->scale, r->q, 0, r->d, r->kx,
                                  0, r->d, 0.0f, r->lref, 0, n));
    if (r->kc.out_channels)
        st = kvq__dev_out_logits(r->ctx, &r->kc, &r->kout, r->qrp, r->sqp, 0, n, r->m, r->lq);
    else
        st = kvq__dev_logits(r->ctx, &r->kc, r->kcodes, r->knorms, r->kgammas, r->qr, r->sq, 0,
                             n, r->m, r->lq);
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
    cl_uint un = (cl_uint)n, uj0 = 0 /* the chunk's codes start at key 0 */, nq = (cl_uint)r->m;
    KVQ_TRY(st, kvq__dev_softmax_pass2(r->ctx, (int)r->d, r->lref, r->lq, n, j0, r->vis0, r->m,
                                      r->consts, r->sums, r->p, r->pq));
    KVQ_TRY(st, kvq__dev_download(r->ctx, r->sums, 0, r->h_sums + c * r->m * KVQ_ACCS,
                                 r->m * KVQ_ACCS * 4));
    /* reference output o += P · V[j0 … j0+n) */
    KVQ_TRY(st, kvq__blas_sgemm_at(r->ctx, 0, 0, r->m, r->d, n, 1.0f, r->p, 0, n, r->vx, 0,
                                  r->d, 1.0f, r->oref, 0, r->d));
    if (value_gemm(r)) {
        if (r->vrot)
            KVQ_TRY(st, kvq__blas_sgemm_at(r->ctx, 0, 0, r->m, r->d, n, 1.0f, r->pq, 0, n, r->vrot,
                                          0, r->d, 1.0f, r->orot, 0, r->d));
        if (r->vc.m)
            st = kvq__blas_sgemm_at(r->ctx, 0, 0, r->m, (size_t)r->vc.m, n, 1.0f, r->pq, 0, n,
                                   r->vz, 0, (size_t)r->vc.m, 1.0f, r->acc, 0,
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

/* õ = Rᵀ·õ_rot + κ · A·S for the value codec (out<c>@<b2>'s õ is
 * already in the original channels). */
static int finish_outputs(run *r)
{
    int st;
    if (r->vc.out_channels)
        return KVQ_OK;
    KVQ_TRY(st, kvq__dev_rotate(r->ctx, &r->vc, r->orot, r->m, 1, 1.0f));
    if (r->vc.m)
        st = kvq__blas_sgemm(r->ctx, 0, 0, r->m, r->d, (size_t)r->vc.m,
                            r->vc.qjl_scale, r->acc, (size_t)r->vc.m,
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

/* Adds the relative MSE and direction error of x̂ against x over the n
 * keys of the loaded chunk of tensor t (0 K, 1 V) to the run's sums. */
static int vector_errors(run *r, int t, const kvq__dev_codec *dc, cl_mem codes, cl_mem norms,
                         cl_mem gammas, const kvq__dev_out_tensor *o, cl_mem x, size_t n)
{
    cl_mem xh = NULL, err = NULL;
    float *h = NULL;
    cl_kernel k;
    int st;
    cl_uint un = (cl_uint)n;
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * r->d * 4, &xh));
    KVQ_TRY(st, kvq__pool_acquire(r->ctx, n * KVQ_VEC_ERRS * 4, &err));
    if (dc->out_channels)
        KVQ_TRY(st, kvq__dev_out_dequantize(r->ctx, dc, o, n, xh));
    else
        KVQ_TRY(st, kvq__dev_dequantize(r->ctx, dc, codes, norms, gammas, n, xh));
    KVQ_TRY(st, kvq__dev_kernel(r->ctx, "attention", (int)r->d, "kvq_vector_errors", &k));
    kvq__arg a[] = {{sizeof(cl_mem), &x}, {sizeof(cl_mem), &xh}, {4, &un}, {sizeof(cl_mem), &err}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    KVQ_TRY(st, kvq__dev_launch(r->ctx, k, 1, &n, NULL));
    if (!(h = malloc(n * KVQ_VEC_ERRS * sizeof *h))) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    KVQ_TRY(st, kvq__dev_download(r->ctx, err, 0, h, n * KVQ_VEC_ERRS * sizeof *h));
    for (size_t v = 0; v < n; v++) {
        const float *e = h + KVQ_VEC_ERRS * v;
        if (e[0] < 0)
            continue;
        r->err_sums[t][0] += e[0];
        r->err_sums[t][1] += e[1];
        r->err_used[t]++;
    }
cleanup:
    free(h);
    kvq__pool_release(r->ctx, xh);
    kvq__pool_release(r->ctx, err);
    return st;
}

/* Both tensors' errors over the loaded chunk of n keys. */
static int chunk_vector_errors(run *r, size_t n)
{
    int st;
    if (!r->out->want_vector_errors)
        return KVQ_OK;
    KVQ_TRY(st, vector_errors(r, 0, &r->kc, r->kcodes, r->knorms, r->kgammas, &r->kout, r->kx, n));
    st = vector_errors(r, 1, &r->vc, r->vcodes, r->vnorms, r->vgammas, &r->vout, r->vx, n);
cleanup:
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
    cl_mem *bufs[] = {&r->q, &r->kx, &r->vx, &r->qr, &r->sq, &r->kcodes, &r->knorms,
                      &r->kgammas, &r->vcodes, &r->vnorms, &r->vgammas, &r->lref, &r->lq,
                      &r->p, &r->pq, &r->stats, &r->topv, &r->topi, &r->consts, &r->sums,
                      &r->oref, &r->orot, &r->acc, &r->vrot, &r->vz, &r->qrp[0], &r->qrp[1],
                      &r->sqp[0], &r->sqp[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        kvq__pool_release(r->ctx, *bufs[i]);
    kvq__dev_out_tensor_release(r->ctx, &r->kout);
    kvq__dev_out_tensor_release(r->ctx, &r->vout);
    kvq__dev_codec_release(r->ctx, &r->kc);
    kvq__dev_codec_release(r->ctx, &r->vc);
    free(r->kstage);
    free(r->vstage);
    free(r->h_stats);
    free(r->h_topv);
    free(r->h_topi);
    free(r->h_sums);
}

/* Keys in chunk c. */
static size_t chunk_len(const run *r, size_t c)
{
    size_t j0 = c * r->chunk;
    return r->n - j0 < r->chunk ? r->n - j0 : r->chunk;
}

/* Both passes over every chunk, then outputs and vector errors. A single
 * chunk is loaded once; otherwise pass 1 loads K's chunk and pass 2 K's
 * and V's again (the logits are recomputed rather than kept). */
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
    KVQ_TRY(st, alloc_chunk(r));
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t j0 = c * r->chunk, n = chunk_len(r, c);
        KVQ_TRY(st, load_chunk(r, j0, n, r->nchunks == 1));
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
        size_t j0 = c * r->chunk, n = chunk_len(r, c);
        if (r->nchunks > 1) {
            KVQ_TRY(st, load_chunk(r, j0, n, 1));
            KVQ_TRY(st, chunk_logits(r, j0, n));
        }
        KVQ_TRY(st, pass2(r, c, j0, n));
        KVQ_TRY(st, chunk_vector_errors(r, n));
    }
    KVQ_TRY(st, finish_outputs(r));
    KVQ_TRY(st, collect(r));
    if (r->out->want_vector_errors) {
        finish_vector_errors(r, 0, &r->out->k_err);
        finish_vector_errors(r, 1, &r->out->v_err);
    }
cleanup:
    free(buf);
    return st;
}

/* Runs a checked job on the device (kvq_attention_run checks it). */
int kvq__cl_attention(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                      const kvq__rows *v, kvq_attention_out *out)
{
    run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.job = job;
    r.krows = k;
    r.vrows = v;
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
