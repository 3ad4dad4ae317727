/* pareto.c — the Pareto view of a sweep (doc/statistics.md §6): for each of
 * kl, out_rel_err and k_dir_err and each data configuration, which cells no
 * other cell beats at equal or fewer effective bits. "Beats" is the paired
 * comparison of doc/statistics.md §3 (bootstrap CI and Wilcoxon, Holm over
 * the comparisons of one metric and configuration), never a bare mean. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "base/workers.h"

const int kvq__pareto_metrics[KVQ_PARETO_METRICS] = {KVQ_METRIC_KL, KVQ_METRIC_OUT_REL_ERR,
                                                     KVQ_METRIC_K_DIR_ERR};

/* Effective bits that differ by less than this are equal (sums of k/d). */
#define BITS_EPS 1e-9

double kvq__cell_eff_bits(const kvq__cell *c)
{
    return 0.5 * (c->eff_bits_k + c->eff_bits_v);
}

/* 1 when two cells saw the same data (paired trials), whatever their schemes. */
static int same_data(const kvq__cell *x, const kvq__cell *y)
{
    return x->dim == y->dim && x->keys == y->keys && x->queries == y->queries &&
           x->sharpness == y->sharpness && x->trials == y->trials &&
           strcmp(x->dist, y->dist) == 0 && strcmp(x->rank, y->rank) == 0;
}

/* Orders points by effective bits, then by cell index (a stable order). */
static const kvq__results *sort_r;
static int by_bits(const void *a, const void *b)
{
    const kvq__pareto_point *p = a, *q = b;
    double x = kvq__cell_eff_bits(&sort_r->cells[p->cell]);
    double y = kvq__cell_eff_bits(&sort_r->cells[q->cell]);
    if (x < y - BITS_EPS || x > y + BITS_EPS)
        return x < y ? -1 : 1;
    return p->cell < q->cell ? -1 : p->cell > q->cell;
}

/* One comparison "q beats p" of a frontier, computed by compare_pair. */
typedef struct pair_job {
    size_t q, p;
    int st;
    kvq__comparison c;
} pair_job;

typedef struct frontier_job {
    const kvq__results *r;
    uint64_t seed;
    const kvq__pareto_point *g;
    pair_job *pairs;
} frontier_job;

/* kvq__for_each item: the paired comparison of pair i, on its own stream. */
static void compare_pair(void *arg, size_t i)
{
    frontier_job *f = arg;
    pair_job *j = &f->pairs[i];
    const kvq__pareto_point *gp = &f->g[j->p], *gq = &f->g[j->q];
    const kvq__cell *cp = &f->r->cells[gp->cell], *cq = &f->r->cells[gq->cell];
    int m = gp->metric;
    /* the stream names the pair, so each bootstrap is reproducible alone */
    uint32_t stream = (uint32_t)(0x9a000000u + (gq->cell * 4099u + gp->cell) * 4u +
                                 (uint32_t)(m & 3));
    j->st = kvq__compare_paired(cq->per_trial[m], cp->per_trial[m], cp->trials, f->seed,
                                stream, &j->c);
}

/* The frontier of points g[0..n) (one metric, one configuration, sorted by
 * bits): every comparison "q beats p" with bits(q) ≤ bits(p) in one Holm
 * family; p is on the frontier when no q wins. The comparisons are
 * independent bootstraps and run in parallel (doc/statistics.md §2). */
static int frontier(const kvq__results *r, uint64_t seed, kvq__pareto_point *g, size_t n,
                    size_t *comparisons)
{
    size_t cap = n * n, np = 0, k = 0;
    pair_job *pairs = malloc((cap ? cap : 1) * sizeof *pairs);
    kvq__comparison *c = malloc((cap ? cap : 1) * sizeof *c);
    int st = c && pairs ? KVQ_OK : KVQ_ERR_NOMEM;
    for (size_t p = 0; p < n && !st; p++)
        for (size_t q = 0; q < n; q++) {
            const kvq__cell *cp = &r->cells[g[p].cell], *cq = &r->cells[g[q].cell];
            if (q != p && kvq__cell_eff_bits(cq) <= kvq__cell_eff_bits(cp) + BITS_EPS)
                pairs[np++] = (pair_job){.q = q, .p = p};
        }
    if (!st)
        kvq__for_each(np, compare_pair, &(frontier_job){r, seed, g, pairs});
    for (size_t i = 0; i < np && !st; i++) {
        if (pairs[i].st == KVQ_ERR_INVALID_ARG)   /* no pair without NaN: no evidence */
            continue;
        if ((st = pairs[i].st))
            break;
        c[k] = pairs[i].c;
        pairs[k++] = pairs[i];
    }
    if (!st) {
        kvq__comparisons_finalize(c, k);
        for (size_t i = 0; i < k; i++)
            if (c[i].verdict < 0 && g[pairs[i].p].beaten_by == KVQ_PARETO_NONE) {
                g[pairs[i].p].beaten_by = g[pairs[i].q].cell;
                g[pairs[i].p].on_frontier = 0;
            }
        *comparisons += k;
    }
    free(c);
    free(pairs);
    return st;
}

/* Appends the points of one metric and configuration (cells sharing cell
 * `first`'s data), sorted by bits, and marks their frontier. */
static int add_group(const kvq__results *r, uint64_t seed, int metric, size_t first,
                     kvq__pareto *p)
{
    size_t start = p->count;
    for (size_t i = first; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        if (!same_data(c, &r->cells[first]))
            continue;
        kvq__pareto_point *pt = &p->points[p->count++];
        *pt = (kvq__pareto_point){.cell = i, .metric = metric, .on_frontier = 1,
                                  .beaten_by = KVQ_PARETO_NONE, .group = p->groups};
        pt->eff_bits = kvq__cell_eff_bits(c);
        kvq__cell_summary(c, metric, r->seed, &pt->mean, &pt->ci_lo, &pt->ci_hi);
    }
    sort_r = r;
    qsort(p->points + start, p->count - start, sizeof *p->points, by_bits);
    p->groups++;
    return frontier(r, seed, p->points + start, p->count - start, &p->comparisons);
}

/* The two results here are each a table that owns one array: freeing one
 * frees both (either may be NULL). */
static void free_table(void *table, void *array)
{
    free(array);
    free(table);
}

/* What a compute hands back: its table, or on failure NULL, the half-built
 * table freed. */
static void *table_or_null(int st, void *table, void *array)
{
    if (!st)
        return table;
    free_table(table, array);
    return NULL;
}

int kvq__pareto_compute(const kvq__results *r, uint64_t seed, kvq__pareto **out)
{
    kvq__pareto *p = calloc(1, sizeof *p);
    int st = p ? KVQ_OK : KVQ_ERR_NOMEM;
    if (!st && !(p->points = malloc((r->count ? r->count : 1) * KVQ_PARETO_METRICS *
                                    sizeof *p->points)))
        st = KVQ_ERR_NOMEM;
    for (int k = 0; k < KVQ_PARETO_METRICS && !st; k++)
        for (size_t i = 0; i < r->count && !st; i++) {
            int seen = 0;   /* the group is made once, from its first cell */
            for (size_t j = 0; j < i && !seen; j++)
                seen = same_data(&r->cells[j], &r->cells[i]);
            if (!seen)
                st = add_group(r, seed, kvq__pareto_metrics[k], i, p);
        }
    *out = table_or_null(st, p, p ? p->points : NULL);
    return st;
}

void kvq__pareto_free(kvq__pareto *p)
{
    free_table(p, p ? p->points : NULL);
}

/* ---- Beyond the paper: the best cell per budget (doc/statistics.md §7) ---- */

/* 1 for the sources the section covers: the outlier family and t3. */
static int beyond_source(const kvq__cell *c)
{
    return strncmp(c->dist, "outlier", 7) == 0 || strcmp(c->dist, "t3") == 0;
}

/* The cheapest and best cell of group `first` costing less than n + 1
 * effective bits under metric: best and runner-up by mean (NONE if absent). */
static void best_two(const kvq__results *r, size_t first, int metric, int n, size_t *best,
                     size_t *second)
{
    double mb = INFINITY, ms = INFINITY;
    *best = *second = KVQ_PARETO_NONE;
    for (size_t i = first; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        double mean, lo, hi;
        if (!same_data(c, &r->cells[first]) || kvq__cell_eff_bits(c) >= n + 1 - BITS_EPS)
            continue;
        kvq__cell_summary(c, metric, r->seed, &mean, &lo, &hi);
        if (!isfinite(mean))
            continue;
        if (mean < mb) {
            *second = *best;
            ms = mb;
            *best = i;
            mb = mean;
        } else if (mean < ms) {
            *second = i;
            ms = mean;
        }
    }
}

/* The budgets n with a cell of group `first` at n ≤ eff_bits < n + 1, as bits. */
static unsigned budgets_of(const kvq__results *r, size_t first)
{
    unsigned set = 0;
    for (size_t i = first; i < r->count; i++)
        if (same_data(&r->cells[i], &r->cells[first])) {
            double e = kvq__cell_eff_bits(&r->cells[i]);
            int n = (int)floor(e + BITS_EPS);
            if (n >= 0 && n < 32)
                set |= 1u << n;
        }
    return set;
}

const int kvq__beyond_metrics[KVQ_BEYOND_METRICS] = {KVQ_METRIC_KL, KVQ_METRIC_OUT_REL_ERR};

/* One row per (metric, outlier/t3 configuration, budget n present). */
static int beyond_rows(const kvq__results *r, uint64_t seed, kvq__beyond *b)
{
    int st = KVQ_OK;
    for (int k = 0; k < KVQ_BEYOND_METRICS && !st; k++)
        for (size_t i = 0; i < r->count && !st; i++) {
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = same_data(&r->cells[j], &r->cells[i]);
            if (seen || !beyond_source(&r->cells[i]))
                continue;
            unsigned set = budgets_of(r, i);
            for (int n = 0; n < 32 && !st; n++) {
                if (!(set & (1u << n)))
                    continue;
                kvq__beyond_row *row = &b->rows[b->count];
                *row = (kvq__beyond_row){.metric = kvq__beyond_metrics[k], .budget = n};
                best_two(r, i, row->metric, n, &row->best, &row->second);
                if (row->best == KVQ_PARETO_NONE)
                    continue;
                const kvq__cell *cb = &r->cells[row->best];
                kvq__cell_summary(cb, row->metric, r->seed, &row->mean, &row->ci_lo, &row->ci_hi);
                if (row->second != KVQ_PARETO_NONE) {
                    const kvq__cell *cs = &r->cells[row->second];
                    uint32_t stream = (uint32_t)(0x9b000000u + b->count);
                    st = kvq__compare_paired(cb->per_trial[row->metric],
                                             cs->per_trial[row->metric], cb->trials, seed,
                                             stream, &row->vs_second);
                    if (st == KVQ_ERR_INVALID_ARG)
                        st = KVQ_OK;
                }
                b->count++;
            }
        }
    return st;
}

int kvq__beyond_compute(const kvq__results *r, uint64_t seed, kvq__beyond **out)
{
    kvq__beyond *b = calloc(1, sizeof *b);
    int st = b ? KVQ_OK : KVQ_ERR_NOMEM;
    size_t cap = (r->count ? r->count : 1) * 32 * KVQ_BEYOND_METRICS;
    if (!st && !(b->rows = malloc(cap * sizeof *b->rows)))
        st = KVQ_ERR_NOMEM;
    if (!st)
        st = beyond_rows(r, seed, b);
    if (!st) {   /* one Holm family over the best-vs-runner-up comparisons */
        kvq__comparison *c = malloc((b->count ? b->count : 1) * sizeof *c);
        size_t n = 0;
        st = c ? KVQ_OK : KVQ_ERR_NOMEM;
        for (size_t i = 0; c && i < b->count; i++)
            if (b->rows[i].second != KVQ_PARETO_NONE)
                c[n++] = b->rows[i].vs_second;
        if (c)
            kvq__comparisons_finalize(c, n);
        for (size_t i = 0, k = 0; c && i < b->count; i++)
            if (b->rows[i].second != KVQ_PARETO_NONE)
                b->rows[i].vs_second = c[k++];
        free(c);
    }
    *out = table_or_null(st, b, b ? b->rows : NULL);
    return st;
}

void kvq__beyond_free(kvq__beyond *b)
{
    free_table(b, b ? b->rows : NULL);
}
