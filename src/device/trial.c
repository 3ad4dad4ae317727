/* trial.c — the trial reference of the OpenCL backend (doc/metrics.md §4.2):
 * what attention computes without the codecs — the float32 reference
 * logits, their softmax statistics, p and P·V — made once per trial from K
 * and V read one key chunk at a time (doc/scaling.md §6) and read by every
 * scheme, and the pass-1 helpers both it and a scheme's run use (row
 * statistics of a chunk, their log-sum-exp and top-k merges). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "device/layout.h"
#include "device/stream.h"

size_t kvq__dev_chunk_keys(const kvq_ctx *ctx, size_t m, size_t n, size_t d, size_t g)
{
    size_t c = kvq__chunk_rows(ctx, (int)d, g);
    size_t fit = (size_t)(ctx->info.max_alloc / 4 / (m ? m : 1));
    if (c > fit)
        c = fit > g ? fit - fit % g : g;
    return c < n ? c : n;
}

int kvq__dev_softmax_pass1(kvq_ctx *ctx, int dim, const kvq__dev_rows *rows, size_t n, size_t j0,
                          size_t vis0, size_t k, size_t nq, cl_mem stats, cl_mem topv,
                          cl_mem topi)
{
    cl_kernel kern;
    int st;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "attention", dim, "kvq_softmax_pass1", &kern));
    /* per work-item: two reduction floats and a k-entry list of values and indices */
    size_t item = 2 * sizeof(float) + k * (sizeof(float) + sizeof(cl_uint));
    size_t ls = kvq__dev_group_local(ctx, kern, kvq__dev_row_group(ctx), 0, item);
    if (!ls)
        return kvq__dev_no_local(ctx, "kvq_softmax_pass1", item);
    cl_uint un = (cl_uint)n, uj0 = (cl_uint)j0, kk = (cl_uint)k, uv = (cl_uint)vis0;
    cl_uint delta = rows->p != NULL;
    cl_mem lref = delta ? rows->lref : rows->l, p = delta ? rows->p : rows->l;
    kvq__arg a[] = {{sizeof(cl_mem), &rows->l}, {sizeof(cl_mem), &lref}, {sizeof(cl_mem), &p},
                   {4, &delta}, {4, &un}, {4, &uj0}, {4, &kk}, {4, &uv},
                   {sizeof(cl_mem), &stats}, {sizeof(cl_mem), &topv}, {sizeof(cl_mem), &topi},
                   {sizeof(cl_mem), &rows->e}, {ls * 2 * 4, NULL}, {ls * k * 4, NULL}, {ls * k * 4, NULL}};
    KVQ_TRY(st, kvq__dev_args(kern, a, sizeof a / sizeof a[0]));
    size_t g = ls * nq;
    st = kvq__dev_launch(ctx, kern, 1, &g, &ls);
cleanup:
    return st;
}

int kvq__dev_chunk_stats(kvq_ctx *ctx, int dim, const kvq__dev_rows *rows, size_t c, size_t j0,
                        size_t n, size_t vis0, size_t k, size_t m, kvq__chunk_stats *s)
{
    int st;
    size_t tops = m * k;
    KVQ_TRY(st, kvq__dev_softmax_pass1(ctx, dim, rows, n, j0, vis0, k, m, s->stats, s->topv,
                                      s->topi));
    KVQ_TRY(st, kvq__dev_download_then(ctx, s->stats, 0, s->h_stats + c * m * KVQ_STATS,
                                      m * KVQ_STATS * 4));
    KVQ_TRY(st, kvq__dev_download_then(ctx, s->topv, 0, s->h_topv + c * tops, tops * 4));
    st = kvq__dev_download(ctx, s->topi, 0, s->h_topi + c * tops, tops * 4);
cleanup:
    if (st)     /* reads into s may still be queued: the caller may free it */
        kvq__dev_wait(ctx);
    return st;
}

int kvq__chunk_stats_alloc(kvq_ctx *ctx, size_t m, size_t k, size_t nchunks, kvq__chunk_stats *s)
{
    int st;
    memset(s, 0, sizeof *s);
    KVQ_TRY(st, kvq__pool_acquire(ctx, m * KVQ_STATS * 4, &s->stats));
    KVQ_TRY(st, kvq__pool_acquire(ctx, m * k * 4, &s->topv));
    KVQ_TRY(st, kvq__pool_acquire(ctx, m * k * 4, &s->topi));
    s->h_stats = malloc(nchunks * m * KVQ_STATS * sizeof *s->h_stats);
    s->h_topv = malloc(nchunks * m * k * sizeof *s->h_topv);
    s->h_topi = malloc(nchunks * m * k * sizeof *s->h_topi);
    if (!s->h_stats || !s->h_topv || !s->h_topi)
        st = KVQ_ERR_NOMEM;
cleanup:
    return st;
}

void kvq__chunk_stats_free(kvq_ctx *ctx, kvq__chunk_stats *s)
{
    kvq__pool_release(ctx, s->stats);
    kvq__pool_release(ctx, s->topv);
    kvq__pool_release(ctx, s->topi);
    free(s->h_stats);
    free(s->h_topv);
    free(s->h_topi);
    memset(s, 0, sizeof *s);
}

double kvq__chunk_stats_lse(const kvq__chunk_stats *s, size_t nchunks, size_t m, size_t i,
                            double *max_out)
{
    double mx = -INFINITY, sum = 0;
    for (size_t c = 0; c < nchunks; c++)
        mx = fmax(mx, s->h_stats[(c * m + i) * KVQ_STATS + KVQ_STAT_MAX]);
    for (size_t c = 0; c < nchunks; c++) {
        const float *r = s->h_stats + (c * m + i) * KVQ_STATS;
        sum += exp(r[KVQ_STAT_MAX] - mx) * r[KVQ_STAT_SUM];
    }
    if (max_out)
        *max_out = mx;
    return mx + log(sum);
}

/* 1 if (v, i) ranks before (w, j): value descending, then index ascending. */
static int ranks_before(float v, cl_uint i, float w, cl_uint j)
{
    return v > w || (v == w && i < j);
}

size_t kvq__chunk_stats_topk(const kvq__chunk_stats *s, size_t nchunks, size_t m, size_t k,
                             size_t i, cl_uint *sel)
{
    float val[KVQ_TOPK_MAX];
    size_t cnt = 0;
    for (size_t c = 0; c < nchunks; c++) {
        size_t base = (c * m + i) * k;
        for (size_t t = 0; t < k; t++) {
            float v = s->h_topv[base + t];
            cl_uint idx = s->h_topi[base + t];
            if (idx == 0xffffffffu ||
                (cnt == k && !ranks_before(v, idx, val[k - 1], sel[k - 1])))
                continue;
            size_t p = cnt < k ? cnt++ : k - 1;
            for (; p > 0 && ranks_before(v, idx, val[p - 1], sel[p - 1]); p--) {
                val[p] = val[p - 1];
                sel[p] = sel[p - 1];
            }
            val[p] = v;
            sel[p] = idx;
        }
    }
    return cnt;
}

/* Keys in chunk c of t. */
static size_t trial_chunk_len(const kvq__trial *t, size_t c)
{
    size_t j0 = c * t->chunk;
    return t->n - j0 < t->chunk ? t->n - j0 : t->chunk;
}

/* Reads rows [j0, j0 + n) of rows into the device chunk buffer x (stage
 * holds rows that are not in memory); their pointer in *p unless NULL. */
static int load_rows(kvq_ctx *ctx, const kvq__trial *t, const kvq__rows *rows, size_t j0,
                     size_t n, float *stage, cl_mem x, const float **p)
{
    int st;
    const float *r = kvq__rows_get(rows, j0, n, stage, &st);
    if (!r)
        return st;
    if (p)
        *p = r;
    return kvq__dev_write(ctx, x, 0, r, n * t->d * 4);
}

/* Reference logits of every chunk and their pass-1 statistics; the
 * log-sum-exps, p_max and top-k per query. K is read one chunk at a time;
 * each chunk's Kᵀ is made on the host. */
static int reference_logits(kvq_ctx *ctx, kvq__trial *t, kvq__chunk_stats *s, float *stage,
                            float *kt)
{
    cl_mem ktx = NULL;
    int st;
    KVQ_TRY(st, kvq__pool_acquire(ctx, t->chunk * t->d * 4, &ktx));
    for (size_t c = 0; c < t->nchunks && !st; c++) {
        size_t j0 = c * t->chunk, n = trial_chunk_len(t, c);
        const float *k = NULL;
        KVQ_TRY(st, load_rows(ctx, t, t->krows, j0, n, stage, t->kx, &k));
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < t->d; i++)
                kt[i * n + j] = k[j * t->d + i];
        KVQ_TRY(st, kvq__dev_write(ctx, ktx, 0, kt, n * t->d * 4));
        KVQ_TRY(st, kvq__pool_acquire(ctx, t->m * t->chunk * 4, &t->lref[c]));
        KVQ_TRY(st, kvq__pool_acquire(ctx, t->m * t->chunk * 4, &t->p[c]));
        /* Q·Kᵀ: CLBlast's NN kernel gives the TN kernel's sums (every result
         * so far) at 0.4 → 8 GFLOP/s on a CPU (doc/metrics.md §4.2) */
        KVQ_TRY(st, kvq__blas_sgemm_at(ctx, 0, 0, t->m, n, t->d, t->scale, t->q, 0, t->d, ktx, 0,
                                      n, 0.0f, t->lref[c], 0, n));
        kvq__dev_rows rows = {.l = t->lref[c], .e = t->p[c]};   /* p is made later */
        st = kvq__dev_chunk_stats(ctx, (int)t->d, &rows, c, j0, n, t->vis0, t->k, t->m, s);
    }
    for (size_t i = 0; i < t->m && !st; i++) {
        double mx;
        t->lse_h[i] = kvq__chunk_stats_lse(s, t->nchunks, t->m, i, &mx);
        t->p_max[i] = exp(mx - t->lse_h[i]);
        t->ntop[i] = kvq__chunk_stats_topk(s, t->nchunks, t->m, t->k, i, t->top + i * t->k);
    }
cleanup:
    kvq__pool_release(ctx, ktx);
    return st;
}

/* p = e^{ℓ − lse} of every chunk, H(p) and the reference output P·V; V is
 * read one chunk at a time. */
static int reference_probs(kvq_ctx *ctx, kvq__trial *t, float *stage)
{
    cl_mem ent = NULL, oref = NULL;
    float *h = malloc(t->m * sizeof *h), *lse = malloc(t->m * sizeof *lse);
    cl_kernel k;
    int st = h && lse ? KVQ_OK : KVQ_ERR_NOMEM;
    for (size_t i = 0; i < t->m && !st; i++)
        lse[i] = (float)t->lse_h[i];
    if (!st)
        st = kvq__dev_upload(ctx, lse, t->m * sizeof *lse, &t->lse);
    KVQ_TRY(st, st);
    KVQ_TRY(st, kvq__pool_acquire(ctx, t->m * 4, &ent));
    KVQ_TRY(st, kvq__pool_acquire(ctx, t->m * t->d * 4, &oref));
    KVQ_TRY(st, kvq__dev_zero(ctx, oref, t->m * t->d * 4));
    KVQ_TRY(st, kvq__dev_kernel(ctx, "attention", (int)t->d, "kvq_softmax_probs", &k));
    size_t ls = kvq__dev_group_local(ctx, k, kvq__dev_row_group(ctx), 0, sizeof(float));
    size_t g = ls * t->m;
    if (!ls) {
        st = kvq__dev_no_local(ctx, "kvq_softmax_probs", sizeof(float));
        goto cleanup;
    }
    for (size_t c = 0; c < t->nchunks; c++) {
        size_t j0 = c * t->chunk, n = trial_chunk_len(t, c);
        cl_uint un = (cl_uint)n, uj0 = (cl_uint)j0, uv = (cl_uint)t->vis0;
        kvq__arg a[] = {{sizeof(cl_mem), &t->lref[c]}, {4, &un}, {4, &uj0}, {4, &uv},
                       {sizeof(cl_mem), &t->lse}, {sizeof(cl_mem), &t->p[c]},
                       {sizeof(cl_mem), &ent}, {ls * 4, NULL}};
        KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
        KVQ_TRY(st, kvq__dev_launch(ctx, k, 1, &g, &ls));
        KVQ_TRY(st, kvq__dev_download(ctx, ent, 0, h, t->m * 4));
        for (size_t i = 0; i < t->m; i++)
            t->entropy[i] += h[i];
        /* o += P · V[j0 … j0+n) */
        KVQ_TRY(st, load_rows(ctx, t, t->vrows, j0, n, stage, t->vx, NULL));
        KVQ_TRY(st, kvq__blas_sgemm_out_at(ctx, 0, 0, t->m, t->d, n, 1.0f, t->p[c], 0, n, t->vx,
                                          0, t->d, 1.0f, oref, 0, t->d));
    }
    st = kvq__dev_download(ctx, oref, 0, t->oref, t->m * t->d * 4);
cleanup:
    kvq__pool_release(ctx, ent);
    kvq__pool_release(ctx, oref);
    free(h);
    free(lse);
    return st;
}

/* The host arrays and device buffers of a trial of job over rows k, v. */
static int trial_alloc(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                       const kvq__rows *v, size_t chunk, kvq__trial *t)
{
    size_t md = job->queries * (size_t)job->dim;
    int st;
    t->job = *job;
    t->krows = k;
    t->vrows = v;
    t->m = job->queries;
    t->n = job->keys;
    t->d = (size_t)job->dim;
    t->k = (size_t)(job->topk ? job->topk : KVQ_TOPK_MAX);
    if (t->k > t->n)
        t->k = t->n;
    t->scale = (float)(job->sharpness / sqrt((double)job->dim));
    t->vis0 = kvq__visible_keys(job, 0);
    t->chunk = chunk;
    t->nchunks = (t->n + t->chunk - 1) / t->chunk;
    t->lref = calloc(t->nchunks, sizeof *t->lref);
    t->p = calloc(t->nchunks, sizeof *t->p);
    t->lse_h = calloc(t->m, sizeof *t->lse_h);
    t->p_max = calloc(t->m, sizeof *t->p_max);
    t->entropy = calloc(t->m, sizeof *t->entropy);
    t->top = calloc(t->m * t->k, sizeof *t->top);
    t->ntop = calloc(t->m, sizeof *t->ntop);
    t->oref = calloc(md, sizeof *t->oref);
    if (!t->lref || !t->p || !t->lse_h || !t->p_max || !t->entropy || !t->top || !t->ntop ||
        !t->oref)
        return KVQ_ERR_NOMEM;
    KVQ_TRY(st, kvq__dev_upload(ctx, job->q, md * 4, &t->q));
    KVQ_TRY(st, kvq__pool_acquire(ctx, t->chunk * t->d * 4, &t->kx));
    st = kvq__pool_acquire(ctx, t->chunk * t->d * 4, &t->vx);
cleanup:
    return st;
}

/* Records that buffer mem holds host array x of n floats while the trial
 * is open; with no slot free the array is simply uploaded when needed. */
static void mirror_add(kvq_ctx *ctx, const float *x, size_t n, cl_mem mem)
{
    for (int i = 0; i < KVQ__MIRRORS; i++)
        if (!ctx->mirrors[i].mem) {
            ctx->mirrors[i] = (kvq__mirror){.host = x, .floats = n, .mem = mem, .finite = -1};
            return;
        }
}

static void mirror_drop(kvq_ctx *ctx, cl_mem mem)
{
    for (int i = 0; mem && i < KVQ__MIRRORS; i++)
        if (ctx->mirrors[i].mem == mem)
            ctx->mirrors[i] = (kvq__mirror){0};
}

cl_mem kvq__dev_mirror_find(kvq_ctx *ctx, const float *x, size_t n, int *finite)
{
    for (int i = 0; i < KVQ__MIRRORS; i++) {
        kvq__mirror *m = &ctx->mirrors[i];
        if (m->mem && m->host == x && m->floats == n) {
            if (m->finite < 0)
                m->finite = kvq__floats_finite(x, n);
            *finite = m->finite;
            return m->mem;
        }
    }
    *finite = 0;
    return NULL;
}

void kvq__cl_trial_close(kvq_ctx *ctx, kvq__trial *t)
{
    if (!t)
        return;
    mirror_drop(ctx, t->kx);
    mirror_drop(ctx, t->vx);
    for (size_t c = 0; c < t->nchunks; c++) {
        kvq__pool_release(ctx, t->lref ? t->lref[c] : NULL);
        kvq__pool_release(ctx, t->p ? t->p[c] : NULL);
    }
    kvq__pool_release(ctx, t->q);
    kvq__pool_release(ctx, t->kx);
    kvq__pool_release(ctx, t->vx);
    kvq__pool_release(ctx, t->lse);
    free(t->lref);
    free(t->p);
    free(t->lse_h);
    free(t->p_max);
    free(t->entropy);
    free(t->top);
    free(t->ntop);
    free(t->oref);
    free(t);
}

int kvq__cl_trial_open_chunked(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                               const kvq__rows *v, size_t chunk, kvq__trial **out)
{
    kvq__chunk_stats s = {0};
    float *stage = NULL, *kt = NULL;
    kvq__trial *t = calloc(1, sizeof *t);
    int st = t ? KVQ_OK : KVQ_ERR_NOMEM;
    *out = NULL;
    if (!st)
        st = trial_alloc(ctx, job, k, v, chunk, t);
    if (!st && !(kt = malloc(t->chunk * t->d * sizeof *kt)))
        st = KVQ_ERR_NOMEM;
    if (!st && (!k->data || !v->data) && !(stage = malloc(t->chunk * t->d * sizeof *stage)))
        st = KVQ_ERR_NOMEM;
    if (!st)
        st = kvq__chunk_stats_alloc(ctx, t->m, t->k, t->nchunks, &s);
    if (!st)
        st = reference_logits(ctx, t, &s, stage, kt);
    if (!st)
        st = reference_probs(ctx, t, stage);
    kvq__chunk_stats_free(ctx, &s);
    free(stage);
    free(kt);
    if (!st && t->nchunks > 1) {     /* the schemes read K and V chunk by chunk themselves */
        kvq__pool_release(ctx, t->kx);
        kvq__pool_release(ctx, t->vx);
        t->kx = t->vx = NULL;
    }
    if (!st && t->kx && k->data)     /* the schemes' codecs quantize K and V from here */
        mirror_add(ctx, k->data, t->n * t->d, t->kx);
    if (!st && t->vx && v->data)
        mirror_add(ctx, v->data, t->n * t->d, t->vx);
    if (st)
        kvq__cl_trial_close(ctx, t);
    else
        *out = t;
    return st;
}

int kvq__cl_trial_open(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                       const kvq__rows *v, kvq__trial **out)
{
    /* chunks of any token group 1: a scheme whose codecs group tokens
     * otherwise makes its own trial (attention.c) */
    size_t chunk = kvq__dev_chunk_keys(ctx, job->queries, job->keys, (size_t)job->dim, 1);
    return kvq__cl_trial_open_chunked(ctx, job, k, v, chunk, out);
}
