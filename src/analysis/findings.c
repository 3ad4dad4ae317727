/* findings.c — the results table of a sweep and the evaluation of the
 * paper's findings F1, F2, F3 and Jensen (doc/statistics.md §4) from paired comparisons.
 * Nothing here knows the expected answer beyond the claim's wording: each
 * verdict is counted from the comparisons, all in one Holm family. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "base/workers.h"

#define NO_CELL ((size_t)-1)   /* comparison against the constant 1 */

/* ---- results table ------------------------------------------------------ */

/* A new, empty results table. */
int kvq__results_create(kvq__results **out, uint64_t seed)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return KVQ_ERR_NOMEM;
    (*out)->seed = seed;
    return KVQ_OK;
}

static void cell_clear(kvq__cell *c)
{
    for (int m = 0; m < KVQ_METRIC_COUNT; m++)
        free(c->per_trial[m]);
    free(c->qjl_var_measured);
    free(c->qjl_var_bound);
    free(c->summary);
}

void kvq__results_free(kvq__results *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++)
        cell_clear(&r->cells[i]);
    free(r->cells);
    free(r);
}

/* A fresh array of t values: a copy of src, or NaN-filled when src is NULL. */
static double *trial_array(const double *src, size_t t)
{
    double *a = malloc((t ? t : 1) * sizeof *a);
    for (size_t i = 0; a && i < t; i++)
        a[i] = src ? src[i] : NAN;
    return a;
}

/* Deep-copies tmpl into c; on failure c holds only what it can free. */
static int cell_copy(kvq__cell *c, const kvq__cell *tmpl)
{
    *c = *tmpl;
    c->scheme[sizeof c->scheme - 1] = c->dist[sizeof c->dist - 1] = '\0';
    c->rank[sizeof c->rank - 1] = c->device[sizeof c->device - 1] = '\0';
    int bad = 0;
    c->summary = NULL;
    for (int m = 0; m < KVQ_METRIC_COUNT; m++)
        bad |= !(c->per_trial[m] = trial_array(tmpl->per_trial[m], c->trials));
    c->qjl_var_measured = tmpl->qjl_var_measured ? trial_array(tmpl->qjl_var_measured, c->trials) : NULL;
    c->qjl_var_bound = tmpl->qjl_var_bound ? trial_array(tmpl->qjl_var_bound, c->trials) : NULL;
    bad |= (tmpl->qjl_var_measured && !c->qjl_var_measured) ||
           (tmpl->qjl_var_bound && !c->qjl_var_bound);
    return bad ? KVQ_ERR_NOMEM : KVQ_OK;
}

/* Appends a deep copy of tmpl. */
int kvq__results_add(kvq__results *r, const kvq__cell *tmpl, kvq__cell **out)
{
    if (!r || !tmpl)
        return KVQ_ERR_INVALID_ARG;
    if (r->count == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        kvq__cell *cells = realloc(r->cells, cap * sizeof *cells);
        if (!cells)
            return KVQ_ERR_NOMEM;
        r->cells = cells;
        r->cap = cap;
    }
    kvq__cell *c = &r->cells[r->count];
    if (cell_copy(c, tmpl) != KVQ_OK) {
        cell_clear(c);
        return KVQ_ERR_NOMEM;
    }
    r->count++;
    if (out)
        *out = c;
    return KVQ_OK;
}

/* Case-insensitive string equality. */
static int same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

void kvq__cell_source(const kvq__cell *c, char *buf, size_t len)
{
    if (c->real && c->layer >= 0)
        snprintf(buf, len, "%s/layer%d", c->dist, c->layer);
    else
        snprintf(buf, len, "%s/%s", c->dist, c->rank);
}

const kvq__cell *kvq__results_find(const kvq__results *r, const char *scheme, int bits,
                                 const char *dist, const char *rank)
{
    for (size_t i = 0; r && i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        if (c->bits == bits && same_name(c->scheme, scheme) && strcmp(c->dist, dist) == 0 &&
            strcmp(c->rank, rank) == 0)
            return c;
    }
    return NULL;
}

/* Mean of the non-NaN values (NaN if none). */
static double nan_mean(const double *x, size_t n)
{
    double s = 0;
    size_t m = 0;
    for (size_t i = 0; x && i < n; i++)
        if (!isnan(x[i])) {
            s += x[i];
            m++;
        }
    return m ? s / (double)m : NAN;
}

/* Mean and 95% bootstrap CI of one metric of a cell. */
void kvq__cell_summary(const kvq__cell *c, int metric, uint64_t seed, double *mean,
                      double *ci_lo, double *ci_hi)
{
    *mean = *ci_lo = *ci_hi = NAN;
    if (metric < 0 || metric >= KVQ_METRIC_COUNT || !c->per_trial[metric])
        return;
    if (c->summary && c->summary_seed == seed) {
        const double *s = c->summary + 3 * metric;
        *mean = s[0];
        *ci_lo = s[1];
        *ci_hi = s[2];
        return;
    }
    *mean = nan_mean(c->per_trial[metric], c->trials);
    kvq__bootstrap_ci(c->per_trial[metric], c->trials, 0, 0.95, seed, (uint32_t)metric,
                     ci_lo, ci_hi);
}

/* Work of kvq__results_summarize for one metric: which cells, their new
 * summaries, and the resample indices of n trials shared by its cells. */
typedef struct summary_job {
    kvq__results *r;
    double **s;          /* s[i]: cell i's 3 · KVQ_METRIC_COUNT values, or NULL to keep */
    int metric;
    size_t n;
    const uint32_t *idx; /* kvq__bootstrap_indices(n, …, stream = metric), or NULL */
} summary_job;

static int no_nan(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i]))
            return 0;
    return 1;
}

/* One cell's summary of the job's metric, into its own slot (kvq__for_each
 * item): through the shared indices when the cell has n values, none NaN. */
static void summarize_cell(void *arg, size_t i)
{
    summary_job *j = arg;
    const kvq__cell *c = &j->r->cells[i];
    const double *x = c->per_trial[j->metric];
    double *s = j->s[i] ? j->s[i] + 3 * j->metric : NULL;
    if (!s)
        return;
    if (j->idx && x && c->trials == j->n && no_nan(x, c->trials)) {
        s[0] = nan_mean(x, c->trials);
        kvq__bootstrap_ci_indexed(x, c->trials, 0, j->idx, 0.95, &s[1], &s[2]);
    } else {
        kvq__cell_summary(c, j->metric, j->r->seed, &s[0], &s[1], &s[2]);
    }
}

/* The summaries of every cell slot j->s holds, metric by metric: the cells
 * of one metric resample on one stream, so the indices of the first such
 * cell's trial count are drawn once for all of them. */
static void summarize_cells(summary_job *j)
{
    for (size_t i = 0; i < j->r->count && !j->n; i++)
        if (j->s[i])
            j->n = j->r->cells[i].trials;
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        uint32_t *idx = kvq__bootstrap_indices(j->n, 0, j->r->seed, (uint32_t)m);
        j->metric = m;
        j->idx = idx;
        kvq__for_each(j->r->count, summarize_cell, j);
        free(idx);
    }
}

/* Fills the summary cache of every cell that lacks one for r->seed; the
 * cells' bootstraps are independent and run in parallel (doc/statistics.md §2). */
int kvq__results_summarize(kvq__results *r)
{
    if (!r || !r->count)
        return KVQ_OK;
    summary_job j = {.r = r, .s = calloc(r->count, sizeof(double *))};
    int st = j.s ? KVQ_OK : KVQ_ERR_NOMEM;
    for (size_t i = 0; i < r->count && !st; i++) {
        kvq__cell *c = &r->cells[i];
        if (c->summary && c->summary_seed == r->seed)
            continue;
        if (!(j.s[i] = malloc(3 * KVQ_METRIC_COUNT * sizeof(double))))
            st = KVQ_ERR_NOMEM;
    }
    if (!st) {
        summarize_cells(&j);
        for (size_t i = 0; i < r->count; i++) {
            if (!j.s[i])
                continue;
            free(r->cells[i].summary);
            r->cells[i].summary = j.s[i];
            r->cells[i].summary_seed = r->seed;
            j.s[i] = NULL;
        }
    }
    for (size_t i = 0; j.s && i < r->count; i++)
        free(j.s[i]);
    free(j.s);
    return st;
}

/* ---- findings ----------------------------------------------------------- */

static const char *const verdict_names[] = { "NO DATA", "HOLDS", "FAILS", "MIXED" };

const char *kvq__verdict_name(int verdict)
{
    return verdict >= 0 && verdict <= KVQ_MIXED ? verdict_names[verdict] : "?";
}

/* One distinct hypothesis of the Holm family. */
typedef struct reg_entry {
    size_t a, b;     /* cell indices (b = NO_CELL: against 1) */
    int metric;
    int nomem;       /* its comparison ran out of memory */
    kvq__comparison c;
} reg_entry;

/* Where a finding cell takes its numbers from. */
typedef struct link {
    size_t reg;
    int flip;        /* the entry compares (b, a): negate */
} link;

typedef struct builder {
    const kvq__results *r;
    uint64_t seed;
    reg_entry *reg;
    size_t nreg, capreg;
    link *links[KVQ_FINDING_COUNT];
    size_t cap[KVQ_FINDING_COUNT];
    int varied;      /* the grid varies in dim/keys/queries/sharpness */
    int status;
} builder;

int kvq__cell_same_data(const kvq__cell *x, const kvq__cell *y)
{
    return x->dim == y->dim && x->keys == y->keys && x->queries == y->queries &&
           x->sharpness == y->sharpness && x->causal == y->causal && x->real == y->real &&
           x->layer == y->layer && strcmp(x->dist, y->dist) == 0 &&
           strcmp(x->rank, y->rank) == 0;
}

/* 1 when two cells are the same configuration apart from the scheme. */
static int same_config(const kvq__cell *x, const kvq__cell *y)
{
    return x->bits == y->bits && kvq__cell_same_data(x, y);
}

/* Index of the cell of `scheme` in the same configuration as cell i. */
static size_t partner(const kvq__results *r, size_t i, const char *scheme)
{
    for (size_t j = 0; j < r->count; j++)
        if (j != i && same_name(r->cells[j].scheme, scheme) &&
            same_config(&r->cells[i], &r->cells[j]))
            return j;
    return NO_CELL;
}

/* 1 when the grid has more than one dim, N, M or sharpness. */
static int grid_varies(const kvq__results *r)
{
    for (size_t i = 1; i < r->count; i++) {
        const kvq__cell *a = &r->cells[0], *b = &r->cells[i];
        if (a->dim != b->dim || a->keys != b->keys || a->queries != b->queries ||
            a->sharpness != b->sharpness)
            return 1;
    }
    return 0;
}

/* Index of the (a, b, metric) hypothesis, registering it on first use;
 * reg_compute computes it once all are known. */
static size_t reg_get(builder *bd, size_t a, size_t b, int metric, int *flip)
{
    for (size_t i = 0; i < bd->nreg; i++) {
        reg_entry *e = &bd->reg[i];
        if (e->metric != metric)
            continue;
        if ((e->a == a && e->b == b) || (e->a == b && e->b == a)) {
            *flip = e->a != a;
            return i;
        }
    }
    if (bd->nreg == bd->capreg) {
        size_t cap = bd->capreg ? 2 * bd->capreg : 64;
        reg_entry *n = realloc(bd->reg, cap * sizeof *n);
        if (!n)
            return NO_CELL;
        bd->reg = n;
        bd->capreg = cap;
    }
    reg_entry *e = &bd->reg[bd->nreg];
    memset(e, 0, sizeof *e);
    e->a = a;
    e->b = b;
    e->metric = metric;
    *flip = 0;
    return bd->nreg++;
}

/* Computes registry entry i, a paired comparison on stream i (kvq__for_each
 * item: the entries are independent, each writes its own). */
static void reg_compute(void *arg, size_t i)
{
    builder *bd = arg;
    reg_entry *e = &bd->reg[i];
    const kvq__cell *ca = &bd->r->cells[e->a];
    size_t t = ca->trials;
    double *ones = NULL;
    const double *vb;
    if (e->b == NO_CELL) {
        if (!(ones = malloc((t ? t : 1) * sizeof *ones))) {
            e->nomem = 1;
            return;
        }
        for (size_t k = 0; k < t; k++)
            ones[k] = 1;
        vb = ones;
    } else {
        vb = bd->r->cells[e->b].per_trial[e->metric];
        t = t < bd->r->cells[e->b].trials ? t : bd->r->cells[e->b].trials;
    }
    e->nomem = kvq__compare_paired(ca->per_trial[e->metric], vb, t, bd->seed, (uint32_t)i,
                                   &e->c) == KVQ_ERR_NOMEM;
    free(ones);
}

/* Appends an evidence cell for a vs b on metric to finding fid. */
static void add_evidence(builder *bd, kvq__finding *f, int fid, size_t a, size_t b, int metric,
                         int expected)
{
    const kvq__cell *ca = &bd->r->cells[a];
    if (bd->status || !ca->per_trial[metric] ||
        (b != NO_CELL && !bd->r->cells[b].per_trial[metric]))
        return;
    if (f->count == bd->cap[fid]) {
        size_t cap = bd->cap[fid] ? 2 * bd->cap[fid] : 16;
        kvq__finding_cell *nc = realloc(f->cells, cap * sizeof *nc);
        link *nl = nc ? realloc(bd->links[fid], cap * sizeof *nl) : NULL;
        if (nc)
            f->cells = nc;
        if (!nl) {
            bd->status = KVQ_ERR_NOMEM;
            return;
        }
        bd->links[fid] = nl;
        bd->cap[fid] = cap;
    }
    int flip = 0;
    size_t reg = reg_get(bd, a, b, metric, &flip);
    if (reg == NO_CELL) {
        bd->status = KVQ_ERR_NOMEM;
        return;
    }
    kvq__finding_cell *fc = &f->cells[f->count];
    memset(fc, 0, sizeof *fc);
    kvq__cell_source(ca, fc->source, sizeof fc->source);
    snprintf(fc->a, sizeof fc->a, "%s", ca->scheme);
    snprintf(fc->b, sizeof fc->b, "%s", b == NO_CELL ? "1" : bd->r->cells[b].scheme);
    char cfg[96] = "";
    if (bd->varied)
        snprintf(cfg, sizeof cfg, " (d=%d N=%zu M=%zu tau=%g)", ca->dim, ca->keys, ca->queries,
                 ca->sharpness);
    if (b == NO_CELL)
        snprintf(fc->label, sizeof fc->label, "n=%d %s%s: %s", ca->bits, fc->source, cfg, fc->a);
    else
        snprintf(fc->label, sizeof fc->label, "n=%d %s%s: %s vs %s", ca->bits, fc->source, cfg,
                 fc->a, fc->b);
    if (b == NO_CELL)
        snprintf(fc->eff, sizeof fc->eff, "K%.3g/V%.3g", ca->eff_bits_k, ca->eff_bits_v);
    else
        snprintf(fc->eff, sizeof fc->eff, "K%.3g/V%.3g vs K%.3g/V%.3g", ca->eff_bits_k,
                 ca->eff_bits_v, bd->r->cells[b].eff_bits_k, bd->r->cells[b].eff_bits_v);
    fc->bits = ca->bits;
    fc->metric = metric;
    fc->expected = expected;
    fc->qjl_var = fc->qjl_bound = fc->one_hot = NAN;
    fc->queries = ca->queries;
    bd->links[fid][f->count++] = (link){ reg, flip };
}

/* F1: at n = 4, KQV against KV and QKQV on kl, k_dir_err and dist6. */
static void build_f1(builder *bd, kvq__finding *f)
{
    static const int metrics[3] = { KVQ_METRIC_KL, KVQ_METRIC_K_DIR_ERR, KVQ_METRIC_DIST6 };
    static const char *const others[2] = { "KV", "QKQV" };
    for (size_t i = 0; i < bd->r->count; i++) {
        if (bd->r->cells[i].bits != 4 || !same_name(bd->r->cells[i].scheme, "KQV"))
            continue;
        for (int o = 0; o < 2; o++) {
            size_t j = partner(bd->r, i, others[o]);
            for (int m = 0; j != NO_CELL && m < 3; m++)
                add_evidence(bd, f, KVQ_FINDING_F1, i, j, metrics[m], -1);
        }
    }
}

/* F2 (kl) and F3 (k_dir_err): QKQV against KQV at every budget. */
static void build_f2_f3(builder *bd, kvq__finding *f2, kvq__finding *f3)
{
    for (size_t i = 0; i < bd->r->count; i++) {
        if (!same_name(bd->r->cells[i].scheme, "KQV"))
            continue;
        size_t j = partner(bd->r, i, "QKQV");
        if (j == NO_CELL)
            continue;
        int n = bd->r->cells[i].bits;
        int claim = (n == 2 || n == 3 || n == 5) ? -1 : (n == 4 || n == 6) ? 1 : KVQ_NO_CLAIM;
        add_evidence(bd, f2, KVQ_FINDING_F2, j, i, KVQ_METRIC_KL, 1);
        add_evidence(bd, f3, KVQ_FINDING_F3, j, i, KVQ_METRIC_K_DIR_ERR, claim);
    }
}

/* Jensen: jensen_ratio against 1 for every scheme with QJL on K. */
static void build_jensen(builder *bd, kvq__finding *f)
{
    for (size_t i = 0; i < bd->r->count; i++) {
        const kvq__cell *c = &bd->r->cells[i];
        if (!c->parsed.k.qjl)
            continue;
        size_t before = f->count;
        add_evidence(bd, f, KVQ_FINDING_JENSEN, i, NO_CELL, KVQ_METRIC_JENSEN_RATIO, 1);
        if (f->count > before) {
            f->cells[before].qjl_var = nan_mean(c->qjl_var_measured, c->trials);
            f->cells[before].qjl_bound = nan_mean(c->qjl_var_bound, c->trials);
            f->cells[before].one_hot = nan_mean(c->per_trial[KVQ_METRIC_ONE_HOT], c->trials);
        }
    }
}

/* Copies the finalized comparison into each evidence cell, then counts. */
static void settle(builder *bd, kvq__finding *f, int fid)
{
    size_t judged = 0, agree = 0, ties = 0, opposite = 0;
    for (size_t i = 0; i < f->count; i++) {
        kvq__finding_cell *fc = &f->cells[i];
        const kvq__comparison *c = &bd->reg[bd->links[fid][i].reg].c;
        int s = bd->links[fid][i].flip ? -1 : 1;
        double shift = fid == KVQ_FINDING_JENSEN ? 1.0 : 0.0;  /* ratio, not ratio − 1 */
        fc->mean = s * c->mean + shift;
        fc->ci_lo = (s > 0 ? c->ci_lo : -c->ci_hi) + shift;
        fc->ci_hi = (s > 0 ? c->ci_hi : -c->ci_lo) + shift;
        fc->p_holm = c->p_holm;
        fc->n = c->n;
        fc->verdict = s * c->verdict;
        fc->agrees = fc->verdict == fc->expected;
        if (fc->expected == KVQ_NO_CLAIM)
            continue;
        judged++;
        agree += fc->agrees;
        ties += fc->verdict == 0;
        opposite += fc->verdict == -fc->expected;
    }
    f->verdict = judged == 0 ? KVQ_NO_DATA : agree == judged ? KVQ_HOLDS
               : 2 * agree >= judged ? KVQ_MIXED : KVQ_FAILS;
    if (judged == 0)
        snprintf(f->summary, sizeof f->summary, "no cell of the grid tests this claim");
    else
        snprintf(f->summary, sizeof f->summary,
                 "%zu of %zu comparisons agree with the claim (%zu ties, %zu significant the other way)",
                 agree, judged, ties, opposite);
}

static const char *const finding_ids[KVQ_FINDING_COUNT] = { "F1", "F2", "F3", "Jensen" };
static const char *const finding_claims[KVQ_FINDING_COUNT] = {
    "At n = 4, KQV beats both KV and QKQV on kl, k_dir_err and dist6, for every data source and rank.",
    "QKQV is worse than KQV in kl at every budget and data source.",
    "QKQV has lower k_dir_err than KQV at n in {2,3,5}, KQV lower at n in {4,6}, for every rank and tail weight.",
    "With QJL on K, softmax amplifies the logit noise superlinearly: jensen_ratio > 1.",
};

/* Evaluates every finding from the results in one Holm family. */
int kvq__findings_evaluate(const kvq__results *r, uint64_t seed, kvq__findings **out)
{
    builder bd = { .r = r, .seed = seed };
    *out = NULL;
    if (!r)
        return KVQ_ERR_INVALID_ARG;
    kvq__findings *fs = calloc(1, sizeof *fs);
    if (!fs)
        return KVQ_ERR_NOMEM;
    fs->seed = seed;
    for (int i = 0; i < KVQ_FINDING_COUNT; i++) {
        snprintf(fs->f[i].id, sizeof fs->f[i].id, "%s", finding_ids[i]);
        snprintf(fs->f[i].claim, sizeof fs->f[i].claim, "%s", finding_claims[i]);
    }
    bd.varied = grid_varies(r);
    build_f1(&bd, &fs->f[KVQ_FINDING_F1]);
    build_f2_f3(&bd, &fs->f[KVQ_FINDING_F2], &fs->f[KVQ_FINDING_F3]);
    build_jensen(&bd, &fs->f[KVQ_FINDING_JENSEN]);
    if (bd.status == KVQ_OK)
        kvq__for_each(bd.nreg, reg_compute, &bd);
    for (size_t i = 0; i < bd.nreg && bd.status == KVQ_OK; i++)
        if (bd.reg[i].nomem)
            bd.status = KVQ_ERR_NOMEM;
    if (bd.status == KVQ_OK) {
        kvq__comparison *c = malloc((bd.nreg ? bd.nreg : 1) * sizeof *c);
        if (!c) {
            bd.status = KVQ_ERR_NOMEM;
        } else {   /* one Holm family over the distinct hypotheses */
            for (size_t i = 0; i < bd.nreg; i++)
                c[i] = bd.reg[i].c;
            kvq__comparisons_finalize(c, bd.nreg);
            for (size_t i = 0; i < bd.nreg; i++)
                bd.reg[i].c = c[i];
            free(c);
        }
    }
    for (int i = 0; i < KVQ_FINDING_COUNT && bd.status == KVQ_OK; i++)
        settle(&bd, &fs->f[i], i);
    fs->comparisons = bd.nreg;
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        free(bd.links[i]);
    free(bd.reg);
    if (bd.status != KVQ_OK) {
        kvq__findings_free(fs);
        return bd.status;
    }
    *out = fs;
    return KVQ_OK;
}

void kvq__findings_free(kvq__findings *f)
{
    if (!f)
        return;
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        free(f->f[i].cells);
    free(f);
}
