/* attention.c — compressed-domain attention of one scheme on an OpenCL
 * device against its trial reference (trial.c): quantized logits, two-pass
 * softmax statistics merged over key chunks, outputs from quantized values,
 * per-vector errors: the OpenCL backend's attention. */
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

/* Everything one scheme's device run holds besides its trial. */
typedef struct run {
    kvq_ctx *ctx;
    const kvq__trial *t;
    const kvq_attention_job *job;
    kvq_attention_out *out;
    size_t m, n, d, chunk, nchunks, k;
    kvq__dev_codec kc, vc;
    cl_mem qr, sq;
    cl_mem kcodes, knorms, kgammas, vcodes, vnorms, vgammas;
    cl_mem lq, pq, consts, sums, orot, acc;
    cl_mem vrot, vz;              /* dense V̂ (rotated domain) and γ∘Z for the GEMM value path */
    kvq__chunk_stats cs;          /* pass 1 of the quantized rows */
    float *h_sums;
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

/* Uploads the codecs and codes; prepares rotated, scaled queries and S·q. */
static int setup(run *r)
{
    const kvq_attention_job *j = r->job;
    kvq_ctx *ctx = r->ctx;
    size_t md = r->m * r->d;
    int st;
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, j->k_codec, &r->kc));
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, j->v_codec, &r->vc));
    KVQ_TRY(st, kvq__pool_acquire(ctx, md * 4, &r->qr));
    cl_int cs = clEnqueueCopyBuffer(ctx->queue, r->t->q, r->qr, 0, 0, md * 4, 0, NULL, NULL);
    if (cs != CL_SUCCESS) {
        st = kvq__rt_fail(cs, "clEnqueueCopyBuffer", __FILE__, __LINE__);
        goto cleanup;
    }
    KVQ_TRY(st, upload_codes(ctx, j->k_codes, r->n, r->kc.m, &r->kcodes, &r->knorms, &r->kgammas));
    KVQ_TRY(st, upload_codes(ctx, j->v_codes, r->n, r->vc.m, &r->vcodes, &r->vnorms, &r->vgammas));
    KVQ_TRY(st, kvq__dev_rotate(ctx, &r->kc, r->qr, r->m, 0, r->t->scale));
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

/* Quantized logits of keys [j0, j0+n) for every query. */
static int chunk_logits(run *r, size_t j0, size_t n)
{
    return kvq__dev_logits(r->ctx, &r->kc, r->kcodes, r->knorms, r->kgammas, r->qr, r->sq, j0, n,
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
    cl_int cs = clEnqueueWriteBuffer(r->ctx->queue, r->consts, CL_TRUE, 0,
                                     r->m * KVQ_CONSTS * sizeof *c, c, 0, NULL, NULL);
    free(c);
    return cs == CL_SUCCESS ? KVQ_OK : kvq__rt_fail(cs, "clEnqueueWriteBuffer", __FILE__, __LINE__);
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
    cl_uint un = (cl_uint)n, uj0 = (cl_uint)j0, nq = (cl_uint)r->m;
    kvq__dev_rows rows = chunk_rows(r, c);
    KVQ_TRY(st, kvq__dev_softmax_pass2(r->ctx, (int)r->d, &rows, n, j0, r->t->vis0, r->m,
                                      r->cs.stats, r->consts, r->sums));
    KVQ_TRY(st, kvq__dev_download(r->ctx, r->sums, 0, r->h_sums + c * r->m * KVQ_ACCS,
                                 r->m * KVQ_ACCS * 4));
    if (value_gemm(r)) {
        if (r->vrot)
            KVQ_TRY(st, kvq__blas_sgemm_out_at(r->ctx, 0, 0, r->m, r->d, n, 1.0f, r->pq, 0, n,
                                              r->vrot, j0 * r->d, r->d, 1.0f, r->orot, 0, r->d));
        if (r->vc.m)
            st = kvq__blas_sgemm_out_at(r->ctx, 0, 0, r->m, (size_t)r->vc.m, n, 1.0f, r->pq, 0,
                                       n, r->vz, j0 * (size_t)r->vc.m, (size_t)r->vc.m, 1.0f,
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

/* õ = Rᵀ·õ_rot + √(π/2)/m · A·S for the value codec. */
static int finish_outputs(run *r)
{
    int st;
    KVQ_TRY(st, kvq__dev_rotate(r->ctx, &r->vc, r->orot, r->m, 1, 1.0f));
    if (r->vc.m)
        st = kvq__blas_sgemm_out_at(r->ctx, 0, 0, r->m, r->d, (size_t)r->vc.m,
                                   (float)(sqrt(M_PI / 2.0) / r->vc.m), r->acc, 0,
                                   (size_t)r->vc.m, r->vc.s, 0, r->d, 1.0f, r->orot, 0, r->d);
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
    cl_mem *bufs[] = {&r->qr, &r->sq, &r->kcodes, &r->knorms, &r->kgammas, &r->vcodes,
                      &r->vnorms, &r->vgammas, &r->lq, &r->pq, &r->consts, &r->sums, &r->orot,
                      &r->acc, &r->vrot, &r->vz};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        kvq__pool_release(r->ctx, *bufs[i]);
    kvq__dev_codec_release(r->ctx, &r->kc);
    kvq__dev_codec_release(r->ctx, &r->vc);
    kvq__chunk_stats_free(r->ctx, &r->cs);
    free(r->h_sums);
}

/* Both passes over every chunk, then outputs and vector errors. */
static int device_run(run *r)
{
    int st;
    KVQ_TRY(st, setup(r));
    last_chunk = r->chunk;
    last_chunks_run = 0;
    KVQ_TRY(st, alloc_work(r));
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t j0 = c * r->chunk, n = r->n - j0 < r->chunk ? r->n - j0 : r->chunk;
        kvq__dev_rows rows = chunk_rows(r, c);
        KVQ_TRY(st, chunk_logits(r, j0, n));
        KVQ_TRY(st, export_logits(r, c, j0, n));
        KVQ_TRY(st, kvq__dev_chunk_stats(r->ctx, (int)r->d, &rows, c, j0, n, r->t->vis0, r->k,
                                        r->m, &r->cs));
        last_chunks_run++;
    }
    KVQ_TRY(st, upload_consts(r));
    for (size_t c = 0; c < r->nchunks; c++) {
        size_t j0 = c * r->chunk, n = r->n - j0 < r->chunk ? r->n - j0 : r->chunk;
        kvq__dev_rows rows = chunk_rows(r, c);
        /* over several chunks, the chunk's logits and pass-1 rows again */
        if (r->nchunks > 1) {
            KVQ_TRY(st, chunk_logits(r, j0, n));
            KVQ_TRY(st, kvq__dev_softmax_pass1(r->ctx, (int)r->d, &rows, n, j0, r->t->vis0, r->k,
                                              r->m, r->cs.stats, r->cs.topv, r->cs.topi));
        }
        KVQ_TRY(st, pass2(r, c, j0, n));
    }
    KVQ_TRY(st, finish_outputs(r));
    KVQ_TRY(st, collect(r));
    if (r->out->want_vector_errors) {
        KVQ_TRY(st, vector_errors(r, &r->kc, r->kcodes, r->knorms, r->kgammas, r->t->kx,
                                  &r->out->k_err));
        KVQ_TRY(st, vector_errors(r, &r->vc, r->vcodes, r->vnorms, r->vgammas, r->t->vx,
                                  &r->out->v_err));
    }
cleanup:
    return st;
}

/* Whether job has the tensors and sizes trial t was made from. */
static int trial_matches(const kvq__trial *t, const kvq_attention_job *job)
{
    const kvq_attention_job *a = &t->job;
    return a->q == job->q && a->k == job->k && a->v == job->v && a->dim == job->dim &&
           a->keys == job->keys && a->queries == job->queries &&
           a->sharpness == job->sharpness && a->topk == job->topk && a->causal == job->causal;
}

/* Runs a checked job on the device against trial t, or against a trial
 * made for it alone when t is NULL (kvq_attention_run). */
int kvq__cl_attention(kvq_ctx *ctx, kvq__trial *t, const kvq_attention_job *job,
                      kvq_attention_out *out)
{
    kvq__trial *own = NULL;
    run r;
    int st = KVQ_OK;
    if (t && !trial_matches(t, job))
        return KVQ_ERR_INVALID_ARG;
    if (!t && (st = kvq__cl_trial_open(ctx, job, &own)))
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
    release_run(&r);
    kvq__cl_trial_close(ctx, own);
    return st;
}
