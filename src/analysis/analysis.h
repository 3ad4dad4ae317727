/* analysis.h — the experiment layer: per-trial aggregation, statistics,
 * result tables, the paper's findings and the report writers. It is private
 * to the kvq program and its tests (not installed): its shapes follow the
 * reports, which grow with every experiment kvq learns to run, so freezing
 * them as library ABI would only get in the way. */
#ifndef KVQ_ANALYSIS_H
#define KVQ_ANALYSIS_H

#include <stdio.h>

#include "kvq.h"

/* The id of a metric name (exact match), or -1. */
int kvq__metric_lookup(const char *name);

/* A query is "one-hot" when its largest reference weight p_max exceeds this. */
#define KVQ__ONE_HOT_P 0.99

/* One trial's metrics from its per-query and per-vector records: plain means
 * over the m queries (a NaN query value propagates); jensen_ratio = Σ kl /
 * Σ ½var_p_eps over the queries where both are finite (NaN when the
 * denominator is 0); one_hot = the number of queries with p_max >
 * KVQ__ONE_HOT_P;
 * k_* and v_* from k and v (NaN when NULL); dist6 = Euclidean norm of
 * (k_rel_mse, k_dir_err, v_rel_mse, v_dir_err, js / ln 2, out_rel_err). */
void kvq__trial_aggregate(const kvq_query_metrics *q, size_t m,
                                 const kvq_vector_errors *k,
                                 const kvq_vector_errors *v,
                                 double out[KVQ_METRIC_COUNT]);

/* ---- Statistics (doc/statistics.md) ---- */
/* Percentile bootstrap CI of the mean of x: `resamples` resamples (<= 0:
 * 10000) of n indices drawn from kvq__rng(seed, KVQ_RNG_BOOTSTRAP, stream);
 * the CI bounds are the (1-level)/2 and (1+level)/2 quantiles (linear
 * interpolation, numpy's default) of the resampled means. NaN entries are
 * skipped. One value: lo = hi = that value. No value: NaN and
 * KVQ_ERR_INVALID_ARG; level outside (0,1) likewise. */
int kvq__bootstrap_ci(const double *x, size_t n, int resamples,
                             double level, uint64_t seed, uint32_t stream,
                             double *lo, double *hi);
/* The resample indices kvq__bootstrap_ci draws for m values (resample r
 * takes values idx[r·m … r·m + m − 1]): they depend on (seed, stream, m,
 * resamples) alone, so samples of one size on one stream can share them
 * (the cells' summaries of one metric, doc/statistics.md §2). NULL for
 * m < 2, above KVQ_BOOT_INDICES_MAX indices, or without memory. */
#define KVQ_BOOT_INDICES_MAX ((size_t)1 << 24)
uint32_t *kvq__bootstrap_indices(size_t m, int resamples, uint64_t seed, uint32_t stream);
/* kvq__bootstrap_ci of n values x without NaN through indices made for m =
 * n: the same bounds bit for bit. */
int kvq__bootstrap_ci_indexed(const double *x, size_t n, int resamples, const uint32_t *idx,
                              double level, double *lo, double *hi);
/* Wilcoxon signed-rank test of paired differences d, two-sided p. Zero and
 * NaN differences are dropped (Wilcoxon's method); |d| ties get midranks.
 * Up to 25 nonzero differences: exact permutation distribution of the
 * signed (mid)rank sum (exact conditional test when there are ties);
 * above: normal approximation with tie and continuity correction.
 * p = min(1, 2 * smaller tail); 1 when nothing is left. */
double kvq__wilcoxon_p(const double *d, size_t n);
/* Two-sided exact binomial sign test (zeros and NaN dropped); 1 if none left. */
double kvq__sign_test_p(const double *d, size_t n);
/* Holm–Bonferroni step-down adjusted p-values (monotone, capped at 1).
 * NaN entries stay NaN and do not count in the family size. adj may alias p. */
void kvq__holm(const double *p, size_t n, double *adj);

/* A paired comparison of A against B over trials, delta = a - b (lower is
 * better: verdict -1 = A wins, 0 = tie, +1 = A loses). */
typedef struct kvq__comparison {
    double mean, ci_lo, ci_hi;  /* mean delta and its 95% bootstrap CI */
    double p_wilcoxon, p_sign;  /* two-sided, unadjusted */
    double p_holm;              /* Holm-adjusted p_wilcoxon over a family */
    int verdict;                /* -1 A wins (lower), 0 tie, +1 A loses */
    size_t n;                   /* pairs used */
} kvq__comparison;
/* Compares a against b (pairs with a NaN are dropped). p_holm starts as
 * p_wilcoxon and the verdict as for a family of one; kvq__comparisons_finalize
 * redoes both over all comparisons of a report. No pair left:
 * KVQ_ERR_INVALID_ARG, NaN statistics, tie. */
int kvq__compare_paired(const double *a, const double *b, size_t n,
                               uint64_t seed, uint32_t stream, kvq__comparison *out);
/* Holm over the p_wilcoxon of c[0..n), then each verdict: win when
 * ci_hi < 0 and p_holm < 0.05, loss when ci_lo > 0 and p_holm < 0.05, else tie. */
void kvq__comparisons_finalize(kvq__comparison *c, size_t n);

/* ---- Results of a sweep ---- */
/* One configuration's per-trial results. per_trial[m] holds `trials` values
 * of metric m (NaN = undefined); qjl_var_measured/qjl_var_bound are optional
 * per-trial arrays (NULL when absent): the measured variance of the QJL
 * inner-product estimate and its pi/(2m)·E||q||²γ² bound. */
typedef struct kvq__cell {
    char scheme[64];                 /* its name, as printed (parsed.name) */
    kvq_scheme parsed;               /* the scheme itself: what its K and V codecs do */
    int bits;
    char dist[32];
    char rank[16];
    int dim;
    size_t keys, queries;
    double sharpness;
    int causal;                      /* the causal flag of the experiment (doc/statistics.md §1.6) */
    int real;                        /* real data: dist is the file, trial t is head t */
    int layer;                       /* real data: the file's layer, < 0 when it has none */
    size_t trials;
    double *per_trial[KVQ_METRIC_COUNT];
    double *qjl_var_measured, *qjl_var_bound;
    double seconds;
    char device[128];
    double eff_bits_k, eff_bits_v;   /* n + side bits / d, for K and V */
    double *summary;                 /* kvq__results_summarize's cache: mean, ci_lo, ci_hi
                                      * of each metric (NULL: none) */
    uint64_t summary_seed;           /* the seed the cache was computed with */
} kvq__cell;

typedef struct kvq__results {
    kvq__cell *cells;
    size_t count, cap;
    uint64_t seed;
} kvq__results;

int kvq__results_create(kvq__results **out, uint64_t seed);
/* The rotation K (tensor 0) or V (1) of a cell really used at its d, as a
 * spec token ("wht", "dense", …). */
const char *kvq__cell_rotation(const kvq__cell *c, int tensor);
/* Frees every cell's arrays and the results. NULL is fine. */
void kvq__results_free(kvq__results *r);
/* Appends a copy of tmpl: its fields, and fresh per_trial arrays (trials
 * values each) copied from tmpl->per_trial[m] or NaN-filled when that is
 * NULL; the qjl arrays are copied when tmpl has them, else stay NULL.
 * *out (may be NULL) points at the stored cell until the next add. */
int kvq__results_add(kvq__results *r, const kvq__cell *tmpl, kvq__cell **out);
/* The printable data source of a cell: "dist/rank" ("gauss/full"), for real
 * data "FILE/layerL" (or "FILE/real" for a file without layers). */
void kvq__cell_source(const kvq__cell *c, char *buf, size_t len);
/* 1 when two cells ran on the same data and sizes: everything but the
 * scheme and the budget (dist, rank, layer, d, N, M, τ, causal). */
int kvq__cell_same_data(const kvq__cell *x, const kvq__cell *y);
/* The first cell with this scheme (case-insensitive), bits, dist and rank. */
const kvq__cell *kvq__results_find(const kvq__results *r, const char *scheme,
                                         int bits, const char *dist, const char *rank);
/* Mean (NaN skipped) and 95% percentile-bootstrap CI of one metric of a
 * cell, resampled with kvq__rng(seed, KVQ_RNG_BOOTSTRAP, stream = metric). */
void kvq__cell_summary(const kvq__cell *c, int metric, uint64_t seed,
                              double *mean, double *ci_lo, double *ci_hi);
/* Computes and caches every cell's summaries (mean and bootstrap CI of each
 * metric, seeded with r->seed) so the report writers, which each need them,
 * bootstrap once. Call when the table is complete; per_trial edits after it
 * are not seen by the cache. */
int kvq__results_summarize(kvq__results *r);

/* ---- Findings (doc/statistics.md §4) ---- */
enum kvq__verdict { KVQ_NO_DATA = 0, KVQ_HOLDS = 1, KVQ_FAILS = 2, KVQ_MIXED = 3 };
/* "HOLDS", "FAILS", "MIXED", "NO DATA". */
const char *kvq__verdict_name(int verdict);
#define KVQ_NO_CLAIM 2   /* kvq__finding_cell.expected: shown, not judged */

/* One piece of evidence: the comparison a vs b of one metric at one
 * configuration (delta = a - b), or for the Jensen finding the ratio itself
 * (mean/CI of jensen_ratio, tested against 1; b = "1"). */
typedef struct kvq__finding_cell {
    char label[320];         /* "n=4 gauss/full: KQV vs KV"; Jensen: "n=4 gauss/full: QKQV" */
    char source[64];         /* dist/rank */
    char a[64], b[64];
    int bits, metric;
    double mean, ci_lo, ci_hi, p_holm;
    size_t n;                /* trials paired */
    int verdict;             /* -1 a lower, 0 tie, +1 a higher (significant) */
    int expected;            /* the claimed verdict, or KVQ_NO_CLAIM */
    int agrees;              /* verdict == expected */
    double qjl_var, qjl_bound; /* Jensen: means of the optional arrays, else NaN */
    double one_hot;          /* Jensen: mean one-hot queries per trial, else NaN */
    char eff[64];            /* effective bits of a (and b): "K5/V6 vs K5/V5" */
    size_t queries;          /* Jensen: queries per trial */
} kvq__finding_cell;

typedef struct kvq__finding {
    char id[16];             /* "F1", "F2", "F3", "Jensen" */
    char claim[192];
    int verdict;             /* enum kvq__verdict */
    char summary[256];       /* one line: counts of agreeing cells */
    kvq__finding_cell *cells;
    size_t count;
} kvq__finding;

enum { KVQ_FINDING_F1, KVQ_FINDING_F2, KVQ_FINDING_F3, KVQ_FINDING_JENSEN,
       KVQ_FINDING_COUNT };
typedef struct kvq__findings {
    kvq__finding f[KVQ_FINDING_COUNT];
    size_t comparisons;      /* distinct hypotheses in the one Holm family */
    uint64_t seed;
} kvq__findings;

/* Evaluates F1, F2, F3 and Jensen from the results, never assuming the
 * answer. All comparisons go through one Holm family. Verdict of a finding
 * from its judged cells: HOLDS when all agree with the claim, MIXED when at
 * least half do, FAILS when fewer than half do, NO DATA when there is no
 * judged cell. */
int kvq__findings_evaluate(const kvq__results *r, uint64_t seed,
                                  kvq__findings **out);
void kvq__findings_free(kvq__findings *f);

/* ---- The Pareto view (doc/statistics.md §6) ---- */
/* The metrics it covers: kl, out_rel_err, k_dir_err. */
#define KVQ_PARETO_METRICS 3
extern const int kvq__pareto_metrics[KVQ_PARETO_METRICS];
#define KVQ_PARETO_NONE ((size_t)-1)

/* A cell's place in the budget: the mean of its K and V effective bits. */
double kvq__cell_eff_bits(const kvq__cell *c);

/* One cell under one metric. */
typedef struct kvq__pareto_point {
    size_t cell;             /* index into the results */
    int metric;
    size_t group;            /* the (metric, data configuration) it is judged in */
    double eff_bits;         /* kvq__cell_eff_bits */
    double mean, ci_lo, ci_hi;
    int on_frontier;         /* no cell at ≤ eff_bits beats it (doc/statistics.md §3) */
    size_t beaten_by;        /* a cell that beats it, or KVQ_PARETO_NONE */
} kvq__pareto_point;

/* Every point, grouped by metric (kvq__pareto_metrics order), then by data
 * configuration (cells with the same dist, rank, dim, N, M, τ and trials,
 * in first-seen order), sorted by effective bits within a group. */
typedef struct kvq__pareto {
    kvq__pareto_point *points;
    size_t count, groups;
    size_t comparisons;      /* paired comparisons made, over all groups */
} kvq__pareto;

/* For each metric and configuration: point p is off the frontier when some
 * cell q of the group with eff_bits(q) ≤ eff_bits(p) wins the paired
 * comparison q vs p (doc/statistics.md §3.6), Holm over the comparisons of
 * that group. Bootstrap streams are seeded from seed and the pair. */
int kvq__pareto_compute(const kvq__results *r, uint64_t seed, kvq__pareto **out);
void kvq__pareto_free(kvq__pareto *p);

/* ---- Beyond the paper (doc/statistics.md §7) ---- */
#define KVQ_BEYOND_METRICS 2
extern const int kvq__beyond_metrics[KVQ_BEYOND_METRICS];   /* kl, out_rel_err */

/* The best cell of one configuration costing less than budget + 1
 * effective bits, and how it compares with the runner-up. */
typedef struct kvq__beyond_row {
    int metric, budget;
    size_t best, second;            /* cells; second may be KVQ_PARETO_NONE */
    double mean, ci_lo, ci_hi;      /* of the best cell */
    kvq__comparison vs_second;      /* best − second, Holm over the section */
} kvq__beyond_row;

typedef struct kvq__beyond {
    kvq__beyond_row *rows;          /* metric-major, then configuration, then budget */
    size_t count;
} kvq__beyond;

/* For the outlier and t3 configurations of r (none: no rows), at every
 * budget n with a cell at n ≤ eff_bits < n + 1: the cell with the lowest mean
 * among those with eff_bits < n + 1, its CI, and the paired comparison with
 * the runner-up (one Holm family over the section). */
int kvq__beyond_compute(const kvq__results *r, uint64_t seed, kvq__beyond **out);
void kvq__beyond_free(kvq__beyond *b);

/* ---- Reports ---- */
/* The budget label of a cell: "k4v2" for a preset with asymmetric budgets
 * (doc/schemes.md §2.1), else its budget n ("4"; "0" for a custom scheme). */
const char *kvq__cell_bits_label(const kvq__cell *c, char *buf, size_t len);

/* doc/conformance.md §6.3 `run` object of one cell: "config", "metrics" (every metric:
 * mean, ci_lo, ci_hi, per_trial; NaN as null), "timing". No newline after. */
int kvq__report_json_cell(FILE *f, const kvq__cell *c, uint64_t seed);
/* A JSON array of every cell's object, one per line; newline-terminated. */
int kvq__report_json(FILE *f, const kvq__results *r);
/* CSV (RFC 4180): header, then one row per cell: config columns, then
 * <metric>_mean, <metric>_ci_lo, <metric>_ci_hi for every metric; NaN empty. */
int kvq__report_csv(FILE *f, const kvq__results *r);
/* The findings report in Markdown: verdicts, evidence tables, F3 winner
 * table, Jensen summary, definitions (dist6, statistics). */
int kvq__report_markdown(FILE *f, const kvq__results *r, const kvq__findings *fs);
/* pareto.csv: metric, dist, rank, scheme, bits (label), eff_bits, mean,
 * ci_lo, ci_hi, on_frontier (0/1), beaten_by (scheme@bits, or empty). */
int kvq__report_pareto_csv(FILE *f, const kvq__results *r, const kvq__pareto *p);
/* The frontier as text: per metric and configuration, the undominated
 * cells in order of effective bits with mean and CI. */
int kvq__report_pareto_text(FILE *f, const kvq__results *r, const kvq__pareto *p);
/* The "beyond the paper" section in Markdown (a heading, then a table). */
int kvq__report_beyond_markdown(FILE *f, const kvq__results *r, const kvq__beyond *b);
/* Writes a file atomically: writer(fp, arg) into a temporary in the same
 * directory, renamed over path when writer returns 0 and the data reached
 * the disk; removed otherwise. Returns writer's status or KVQ_ERR_IO. */
int kvq__write_atomic(const char *path, int (*writer)(FILE *, void *), void *arg);

/* An experiment grid (doc/statistics.md): every scheme (each carrying its budget) on
 * every source, `trials` paired trials each. With `real` set, the sources
 * are ignored and trial t is head t of the real tensors (trials ≤ heads);
 * without real queries, queries are keys of the head drawn at random. */
typedef struct kvq__experiment {
    int dim;
    size_t keys, queries;         /* synthetic sizes (and queries drawn from real keys) */
    double sharpness;             /* τ */
    int causal;                   /* the causal mask (doc/metrics.md §1.5) */
    int topk;                     /* 0 means 8 */
    size_t trials;
    uint64_t seed;
    const kvq_scheme *schemes;
    size_t nschemes;
    const kvq_source *sources;
    size_t nsources;
    const kvq_kv *real;
    const char *real_name;        /* the "dist" label of real data: the file's name */
    int layer;                    /* real data: its layer in the file, < 0 for none */
    void (*progress)(void *arg, size_t done, size_t total);
    void *progress_arg;
    /* Work items to run (doc/scaling.md §1): item (source s, trial t,
     * scheme c) has index (s·trials + t)·nschemes + c; only [item_begin,
     * item_end) run, the rest stay NaN. item_end 0: every item. */
    size_t item_begin, item_end;
} kvq__experiment;

/* The number of work items: sources (1 for real data) × trials × schemes. */
size_t kvq__experiment_items(const kvq__experiment *e);
/* Appends the experiment's cells, one per (source, scheme) in the runner's
 * order, NaN-filled, with this device name ("" when NULL); runs nothing. */
int kvq__experiment_cells(const kvq__experiment *e, const char *device, kvq__results *r);
/* Runs the grid's work items [item_begin, item_end) on ctx, appending one
 * cell per (source, scheme) to r (kvq__experiment_cells, then the items). */
int kvq__experiment_run(kvq_ctx *ctx, const kvq__experiment *e, kvq__results *r);

#endif
