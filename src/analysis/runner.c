/* runner.c — the experiment runner: a grid of schemes over data sources,
 * T paired trials each (every scheme of a trial sees the same K, V, Q and
 * the same rotation and QJL randomness), run on one context and gathered
 * into a results table for the statistics and findings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "analysis/kv_codes.h"
#include "base/clock.h"
#include "device/backend.h"

/* One trial's tensors: K and V as row sources (in memory, or made chunk
 * by chunk), Q in memory; its attention jobs (one per run of queries, see
 * trial_jobs; codecs unset) and their trial references, which every scheme
 * of the trial shares (doc/metrics.md §4.2). */
typedef struct trial_data {
    float *k, *v, *q;             /* owned arrays (K and V: NULL when not in memory) */
    const kvq__rows *krows, *vrows; /* → kmem, vmem or kgen, vgen (not movable) */
    kvq__rows kmem, vmem;
    kvq__source_rows kgen, vgen;
    kvq__kv_rows kreal, vreal;
    size_t keys, queries, runs;
    kvq_attention_job *jobs;
    kvq__trial **refs;
} trial_data;

static void trial_free(kvq_ctx *ctx, trial_data *t)
{
    for (size_t r = 0; t->refs && r < t->runs; r++)
        kvq__trial_close(ctx, t->refs[r]);
    free(t->refs);
    free(t->jobs);
    free(t->k);
    free(t->v);
    free(t->q);
    memset(t, 0, sizeof *t);
}

/* Grouped-query attention folds g query heads into one head's queries,
 * each a run of the same M/g positions: under the causal mask each run is
 * its own job, so that position j of every run sees the same keys. Makes
 * the jobs and their trial references on ctx. */
static int trial_jobs(kvq_ctx *ctx, const kvq__experiment *e, trial_data *t)
{
    size_t g = e->causal && e->real && e->real->q.data && e->real->q_group > 1
                   ? e->real->q_group : 1, mg = t->queries / g;
    int st = KVQ_OK;
    t->runs = g;
    t->jobs = calloc(g, sizeof *t->jobs);
    t->refs = calloc(g, sizeof *t->refs);
    if (!t->jobs || !t->refs)
        return KVQ_ERR_NOMEM;
    for (size_t r = 0; r < g && !st; r++) {
        t->jobs[r] = (kvq_attention_job){.dim = e->dim, .keys = t->keys, .queries = mg,
                                         .sharpness = e->sharpness, .topk = e->topk,
                                         .q = t->q + r * mg * (size_t)e->dim,
                                         .k = t->krows->data, .v = t->vrows->data,
                                         .causal = e->causal};
        st = kvq__trial_open(ctx, &t->jobs[r], t->krows, t->vrows, &t->refs[r]);
    }
    return st;
}

/* Synthetic K and V of (source, trial), generated whole. */
static int synthetic_whole(const kvq__experiment *e, const kvq_source *s, uint32_t trial,
                           trial_data *t)
{
    size_t nd = e->keys * (size_t)e->dim;
    t->k = malloc(nd * sizeof(float));
    t->v = malloc(nd * sizeof(float));
    if (!t->k || !t->v)
        return KVQ_ERR_NOMEM;
    int st = kvq_source_generate(s, e->seed, KVQ_RNG_DATA_K, trial, e->keys, e->dim, t->k);
    if (!st)
        st = kvq_source_generate(s, e->seed, KVQ_RNG_DATA_V, trial, e->keys, e->dim, t->v);
    t->kmem = kvq__rows_memory(t->k, e->keys, e->dim);
    t->vmem = kvq__rows_memory(t->v, e->keys, e->dim);
    t->krows = &t->kmem;
    t->vrows = &t->vmem;
    return st;
}

/* Whether a synthetic trial's K and V are made chunk by chunk as the work
 * reads them: above KVQ_WHOLE_BYTES, or when $KVQ_CHUNK_KEYS splits them. */
static int synthetic_streams(kvq_ctx *ctx, const kvq__experiment *e)
{
    size_t chunk = kvq__ctx_chunk_keys(ctx);
    return 2 * e->keys * (size_t)e->dim * sizeof(float) > KVQ_WHOLE_BYTES ||
           (chunk && e->keys > chunk);
}

/* Synthetic K, V, Q of (source, trial); the same numbers whether K and V
 * are held or generated chunk by chunk (doc/scaling.md §6). */
static int trial_synthetic(kvq_ctx *ctx, const kvq__experiment *e, const kvq_source *s,
                           uint32_t trial, trial_data *t)
{
    size_t md = e->queries * (size_t)e->dim;
    int st = KVQ_OK;
    t->keys = e->keys;
    t->queries = e->queries;
    if (!(t->q = malloc(md * sizeof(float))))
        return KVQ_ERR_NOMEM;
    if (!synthetic_streams(ctx, e)) {
        st = synthetic_whole(e, s, trial, t);
    } else {
        t->krows = kvq__source_rows_init(&t->kgen, s, e->seed, KVQ_RNG_DATA_K, trial, e->keys,
                                         e->dim);
        t->vrows = kvq__source_rows_init(&t->vgen, s, e->seed, KVQ_RNG_DATA_V, trial, e->keys,
                                         e->dim);
    }
    if (!st)
        st = kvq__source_queries_rows(s, e->seed, trial, t->krows, e->queries, e->dim,
                                      t->q);
    return st;
}

/* Real data: head `trial`, read in place; without real queries, queries
 * are keys of the head drawn at random (with replacement) from the Philox
 * DATA_Q stream. */
static int trial_real(const kvq__experiment *e, uint32_t trial, trial_data *t)
{
    const kvq_kv *kv = e->real;
    size_t d = kv->dim;
    int st = KVQ_OK;
    t->keys = kv->keys;
    t->queries = kv->q.data ? kv->queries : e->queries;
    t->q = malloc(t->queries * d * sizeof(float));
    if (!t->q)
        return KVQ_ERR_NOMEM;
    t->krows = kvq__kv_rows_init(&t->kreal, kv, 0, trial);
    t->vrows = kvq__kv_rows_init(&t->vreal, kv, 1, trial);
    if (kv->q.data) {
        memcpy(t->q, kv->q.data + trial * t->queries * d, t->queries * d * sizeof(float));
        return KVQ_OK;
    }
    kvq__rng rng;
    kvq__rng_init(&rng, e->seed, KVQ_RNG_DATA_Q, trial);
    for (size_t i = 0; i < t->queries; i++) {
        size_t j = (size_t)(((uint64_t)kvq__rng_u32(&rng) * kv->keys) >> 32);
        const float *k = kvq__rows_get(t->krows, j, 1, t->q + i * d, &st);
        if (!k)
            return st;
        if (k != t->q + i * d)
            memcpy(t->q + i * d, k, d * sizeof(float));
    }
    return KVQ_OK;
}

/* The QJL variance bound π/(2m)·τ²/d·mean‖q‖²·mean γ² of one K tensor. */
static double qjl_bound(const kvq__experiment *e, const trial_data *t, const kvq_qtensor *kq,
                        int m)
{
    double q2 = 0, g2 = 0;
    for (size_t i = 0; i < t->queries * (size_t)e->dim; i++)
        q2 += (double)t->q[i] * t->q[i];
    for (size_t j = 0; j < t->keys; j++)
        g2 += (double)kq->gammas[j] * kq->gammas[j];
    q2 /= (double)t->queries;
    g2 /= (double)t->keys;
    return M_PI / (2.0 * m) * e->sharpness * e->sharpness / e->dim * q2 * g2;
}

/* Which schemes of a trial make the same codes: every scheme of a trial
 * quantizes the same K and V with the randomness of (seed, tensor, trial),
 * so two codecs of one spec give the same codes (QKQV's V is KQV's at the
 * same budget). from[c][x] is the first scheme before c whose codec for
 * tensor x (0 K, 1 V) has c's spec, or NO_SCHEME; keep[c] says that a
 * later scheme takes codes from c. */
#define NO_SCHEME SIZE_MAX
typedef struct code_reuse {
    size_t (*from)[2];
    unsigned char *keep;
} code_reuse;

static int spec_eq(const kvq_codec_spec *a, const kvq_codec_spec *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static int reuse_plan(const kvq__experiment *e, code_reuse *r)
{
    size_t n = e->nschemes;
    r->from = malloc(n * sizeof *r->from);
    r->keep = calloc(n, 1);
    if (!r->from || !r->keep)
        return KVQ_ERR_NOMEM;
    for (size_t c = 0; c < n; c++)
        for (int x = 0; x < 2; x++) {
            const kvq_codec_spec *sc = x ? &e->schemes[c].v : &e->schemes[c].k;
            r->from[c][x] = NO_SCHEME;
            for (size_t b = 0; b < c && r->from[c][x] == NO_SCHEME; b++)
                if (spec_eq(sc, x ? &e->schemes[b].v : &e->schemes[b].k))
                    r->from[c][x] = b;
            if (r->from[c][x] != NO_SCHEME)
                r->keep[r->from[c][x]] = 1;
        }
    return KVQ_OK;
}

static void reuse_free(code_reuse *r)
{
    free(r->from);
    free(r->keep);
}

/* A scheme's codes and their vector errors, kept for the later schemes of
 * the trial that share its codecs (the errors of equal codes are equal). */
typedef struct held_codes {
    kvq__kv_codes kv;
    kvq_vector_errors err[2];
} held_codes;

/* What scheme c takes from the scheme it shares tensor x's codec with,
 * when that scheme ran in this trial (held[b] set), else NULL. */
static const held_codes *reused(const code_reuse *r, const held_codes *held, size_t c, int x)
{
    size_t b = r->from[c][x];
    return b == NO_SCHEME || !held[b].kv.k_codec ? NULL : &held[b];
}

/* The KVQ_VECTOR_ERRORS* request for the tensors not taken from another
 * scheme. */
static int errors_wanted(const held_codes *from[2])
{
    if (from[0] && from[1])
        return 0;
    return from[0] ? KVQ_VECTOR_ERRORS_V : from[1] ? KVQ_VECTOR_ERRORS_K : KVQ_VECTOR_ERRORS;
}

/* Quantizes K and V with the scheme's codecs and runs attention; a tensor
 * whose codec an earlier scheme of the trial shares (from[x]) takes that
 * scheme's codes and vector errors instead. Fills the trial's metrics (and
 * the QJL variance pair when K has a QJL stage); the codes and errors stay
 * in *mine for the caller to keep or free. */
static int run_scheme(kvq_ctx *ctx, const kvq__experiment *e, const kvq_scheme *s,
                      uint32_t trial, const trial_data *t, const held_codes *from[2],
                      held_codes *mine, double metrics[KVQ_METRIC_COUNT],
                      double *qjl_measured, double *qjl_bound_out)
{
    kvq__kv_codes kv = {0};
    kvq_query_metrics *qm = calloc(t->queries, sizeof *qm);
    kvq_attention_out out = {0};
    int st = qm ? KVQ_OK : KVQ_ERR_NOMEM;
    if (!st)
        st = kvq__kv_codes_make_reusing(&kv, ctx, s, e->dim, e->seed, trial, t->krows, t->vrows,
                                        from[0] ? &from[0]->kv.k_codes : NULL,
                                        from[1] ? &from[1]->kv.v_codes : NULL);
    for (size_t r = 0; r < t->runs && !st; r++) {
        kvq_attention_job job = t->jobs[r];
        job.k_codec = kv.k_codec;
        job.v_codec = kv.v_codec;
        job.k_codes = &kv.k_codes;
        job.v_codes = &kv.v_codes;
        out.queries = qm + r * job.queries;
        out.want_vector_errors = errors_wanted(from);
        st = kvq__attention_run_trial(ctx, t->refs[r], &job, t->krows, t->vrows, &out);
    }
    if (from[0])
        out.k_err = from[0]->err[0];
    if (from[1])
        out.v_err = from[1]->err[1];
    if (!st) {
        kvq__trial_aggregate(qm, t->queries, &out.k_err, &out.v_err, metrics);
        *qjl_measured = s->k.qjl ? metrics[KVQ_METRIC_LOGIT_MSE] : NAN;
        *qjl_bound_out =
            s->k.qjl ? qjl_bound(e, t, &kv.k_codes, kvq__codec_qjl_m(kv.k_codec)) : NAN;
    }
    *mine = (held_codes){.kv = kv, .err = {out.k_err, out.v_err}};
    free(qm);
    return st;
}

/* Adds the result cells of one source, one per scheme (device name as
 * given, "" when NULL). */
static int add_cells(const kvq__experiment *e, const char *device, const char *dist,
                     const char *rank, size_t keys, size_t queries, kvq__results *r)
{
    for (size_t c = 0; c < e->nschemes; c++) {
        const kvq_scheme *s = &e->schemes[c];
        kvq_budget bk, bv;
        kvq__cell tmpl;
        memset(&tmpl, 0, sizeof tmpl);
        snprintf(tmpl.scheme, sizeof tmpl.scheme, "%s", s->name);
        tmpl.parsed = *s;
        snprintf(tmpl.dist, sizeof tmpl.dist, "%s", dist);
        snprintf(tmpl.rank, sizeof tmpl.rank, "%s", rank);
        snprintf(tmpl.device, sizeof tmpl.device, "%s", device ? device : "");
        tmpl.bits = s->bits;
        tmpl.dim = e->dim;
        tmpl.keys = keys;
        tmpl.queries = queries;
        tmpl.sharpness = e->sharpness;
        tmpl.causal = e->causal;
        tmpl.real = e->real != NULL;
        tmpl.layer = e->real ? e->layer : -1;
        tmpl.trials = e->trials;
        kvq__codec_budget_count(&s->k, e->dim, keys, &bk);
        kvq__codec_budget_count(&s->v, e->dim, keys, &bv);
        tmpl.eff_bits_k = bk.effective_bits;
        tmpl.eff_bits_v = bv.effective_bits;
        kvq__cell *cell;
        int st = kvq__results_add(r, &tmpl, &cell);
        if (st)
            return st;
        if (s->k.qjl) {
            cell->qjl_var_measured = calloc(e->trials, sizeof(double));
            cell->qjl_var_bound = calloc(e->trials, sizeof(double));
            if (!cell->qjl_var_measured || !cell->qjl_var_bound)
                return KVQ_ERR_NOMEM;
        }
    }
    return KVQ_OK;
}

/* The work items [begin, end) the experiment asks for (end 0: all). */
static void item_range(const kvq__experiment *e, size_t *begin, size_t *end)
{
    size_t total = kvq__experiment_items(e);
    *begin = e->item_end ? e->item_begin : 0;
    *end = e->item_end && e->item_end < total ? e->item_end : total;
}

/* Runs the work items of one source that fall in [begin, end) into
 * cells[first …]; a trial's data is made only when one of its items runs. */
static int run_source(kvq_ctx *ctx, const kvq__experiment *e, size_t s, kvq__results *r,
                      size_t first, size_t *done, size_t total)
{
    const kvq_source *src = e->real ? NULL : &e->sources[s];
    size_t begin, end;
    double m[KVQ_METRIC_COUNT];
    code_reuse reuse = {0};
    held_codes *held = calloc(e->nschemes, sizeof *held);
    int st = held ? reuse_plan(e, &reuse) : KVQ_ERR_NOMEM;
    item_range(e, &begin, &end);
    for (size_t t = 0; t < e->trials && !st; t++) {
        size_t item0 = (s * e->trials + t) * e->nschemes;
        if (item0 + e->nschemes <= begin || item0 >= end)
            continue;
        trial_data td = {0};
        st = src ? trial_synthetic(ctx, e, src, (uint32_t)t, &td) : trial_real(e, (uint32_t)t, &td);
        if (!st)
            st = trial_jobs(ctx, e, &td);
        for (size_t c = 0; c < e->nschemes && !st; c++) {
            if (item0 + c < begin || item0 + c >= end)
                continue;
            kvq__cell *cell = &r->cells[first + c];
            double t0 = kvq__mono_s(), qm = NAN, qb = NAN;
            const held_codes *from[2] = {reused(&reuse, held, c, 0), reused(&reuse, held, c, 1)};
            held_codes mine;
            st = run_scheme(ctx, e, &e->schemes[c], (uint32_t)t, &td, from, &mine, m, &qm, &qb);
            if (reuse.keep[c] && !st)
                held[c] = mine;
            else
                kvq__kv_codes_free(&mine.kv);
            cell->seconds += kvq__mono_s() - t0;
            for (int k = 0; k < KVQ_METRIC_COUNT && !st; k++)
                cell->per_trial[k][t] = m[k];
            if (!st && cell->qjl_var_measured) {
                cell->qjl_var_measured[t] = qm;
                cell->qjl_var_bound[t] = qb;
            }
            if (e->progress)
                e->progress(e->progress_arg, ++*done, total);
        }
        for (size_t c = 0; c < e->nschemes; c++)
            kvq__kv_codes_free(&held[c].kv);
        trial_free(ctx, &td);
    }
    reuse_free(&reuse);
    free(held);
    return st;
}

/* Sources × trials × schemes (doc/scaling.md §1). */
size_t kvq__experiment_items(const kvq__experiment *e)
{
    return (e->real ? 1 : e->nsources) * e->trials * e->nschemes;
}

/* Appends one NaN-filled cell per (source, scheme), in the runner's order. */
int kvq__experiment_cells(const kvq__experiment *e, const char *device, kvq__results *r)
{
    int st = KVQ_OK;
    if (!e || !r || !e->nschemes || !e->trials || (!e->real && !e->nsources))
        return KVQ_ERR_INVALID_ARG;
    if (e->real && (e->trials > e->real->heads || e->real->dim != (size_t)e->dim))
        return KVQ_ERR_INVALID_ARG;
    for (size_t s = 0; s < (e->real ? 1 : e->nsources) && !st; s++) {
        const kvq_source *src = e->real ? NULL : &e->sources[s];
        char rank[16];
        if (src && src->rank)
            snprintf(rank, sizeof rank, "%d", src->rank);
        else
            snprintf(rank, sizeof rank, "%s", src ? "full" : "real");
        size_t keys = e->real ? e->real->keys : e->keys;
        size_t queries = e->real && e->real->q.data ? e->real->queries : e->queries;
        st = add_cells(e, device, src ? src->name : e->real_name, rank, keys, queries, r);
    }
    return st;
}

/* Runs the grid's work items [item_begin, item_end) on ctx, appending one
 * cell per (source, scheme) to r; items outside stay NaN. */
int kvq__experiment_run(kvq_ctx *ctx, const kvq__experiment *e, kvq__results *r)
{
    size_t done = 0, first = r ? r->count : 0, begin, end;
    if (!ctx || !e)
        return KVQ_ERR_INVALID_ARG;
    int st = kvq__experiment_cells(e, kvq_ctx_device(ctx)->name, r);
    item_range(e, &begin, &end);
    for (size_t s = 0; s < (e->real ? 1 : e->nsources) && !st; s++)
        st = run_source(ctx, e, s, r, first + s * e->nschemes, &done, end > begin ? end - begin : 0);
    return st;
}
