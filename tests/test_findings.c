/* test_findings.c — the results table and the findings evaluator on
 * synthetic sweeps built to make each claim hold, fail or come out mixed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define SEED 4242u
#define T 16

static const char *const sources[2][2] = { { "gauss", "full" }, { "t3", "8" } };

/* Per-trial value offsets of one scheme at one (bits, source). */
typedef struct offsets { double kl, kdir, dist6, jensen; } offsets;

/* What a scenario assigns to a scheme at n bits (s = source index). */
typedef offsets (*scenario)(const char *scheme, int n, int s);

/* Adds one cell: value = 5 + base_t + offset · (1 + 0.05 z_t), base and z
 * drawn per (bits, source) and shared by every scheme, so comparisons are
 * paired, differences vary by trial, and equal offsets give exactly equal
 * values (a sure tie). jensen_ratio = 1 + (offset − 1)(1 + 0.05 z_t). */
static void add_cell(kvq__results *r, const char *scheme, int n, int s, offsets o)
{
    kvq__cell c = {.bits = n, .dim = 64, .keys = 256, .queries = 16, .sharpness = 1, .trials = T};
    double v[KVQ_METRIC_COUNT][T], qm[T], qb[T];
    kvq__rng rng;
    snprintf(c.scheme, sizeof c.scheme, "%s", scheme);
    kvq_scheme_preset(scheme, n, &c.parsed);
    snprintf(c.dist, sizeof c.dist, "%s", sources[s][0]);
    snprintf(c.rank, sizeof c.rank, "%s", sources[s][1]);
    kvq__rng_init(&rng, SEED, KVQ_RNG_TEST, (uint32_t)(10 * n + s));
    for (int t = 0; t < T; t++) {
        double b = 0.3 * kvq__rng_normal(&rng), z[4];
        for (int k = 0; k < 4; k++)
            z[k] = 1 + 0.05 * kvq__rng_normal(&rng);
        for (int m = 0; m < KVQ_METRIC_COUNT; m++)
            v[m][t] = 5 + b;
        v[KVQ_METRIC_KL][t] = 5 + b + o.kl * z[0];
        v[KVQ_METRIC_K_DIR_ERR][t] = 5 + b + o.kdir * z[1];
        v[KVQ_METRIC_DIST6][t] = 5 + b + o.dist6 * z[2];
        v[KVQ_METRIC_JENSEN_RATIO][t] = 1 + (o.jensen - 1) * z[3];
        qm[t] = 0.8;
        qb[t] = 1.0;
    }
    for (int m = 0; m < KVQ_METRIC_COUNT; m++)
        c.per_trial[m] = v[m];
    if (strcmp(scheme, "QKQV") == 0) {
        c.qjl_var_measured = qm;
        c.qjl_var_bound = qb;
    }
    kvq__results_add(r, &c, NULL);
}

/* A sweep over bits lo..hi, both sources, the three presets. */
static kvq__results *sweep(scenario sc, int lo, int hi)
{
    static const char *const schemes[3] = { "KV", "KQV", "QKQV" };
    kvq__results *r;
    kvq__results_create(&r, SEED);
    for (int n = lo; n <= hi; n++)
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 3; k++)
                add_cell(r, schemes[k], n, s, sc(schemes[k], n, s));
    return r;
}

/* Every claim true (n = 7 is outside F3's claim and a tie). */
static offsets sc_holds(const char *scheme, int n, int s)
{
    (void)s;
    int qkqv = strcmp(scheme, "QKQV") == 0, kqv = strcmp(scheme, "KQV") == 0;
    offsets o = { kqv ? 1.0 : qkqv ? 1.3 : 1.5, 2.0, kqv ? 1.0 : 1.5, qkqv ? 1.5 : 1.0 };
    if (kqv || qkqv) {
        int qkqv_lower = n == 2 || n == 3 || n == 5;
        o.kdir = n == 7 ? 1.1 : (qkqv == qkqv_lower) ? 1.0 : 1.2;
    }
    return o;
}

/* Every claim false, significantly the other way. */
static offsets sc_fails(const char *scheme, int n, int s)
{
    (void)s;
    int qkqv = strcmp(scheme, "QKQV") == 0, kqv = strcmp(scheme, "KQV") == 0;
    offsets o = { kqv ? 2.0 : 1.0, 0.5, kqv ? 2.0 : 1.0, qkqv ? 0.7 : 1.0 };
    if (kqv || qkqv) {
        int qkqv_lower = !(n == 2 || n == 3 || n == 5);
        o.kdir = (qkqv == qkqv_lower) ? 1.0 : 1.2;
    }
    return o;
}

/* Half or more agree, not all: F1 ties against KV (equal values), wins
 * against QKQV; F2, F3 and Jensen as claimed at n = 2, 3, 4 only (F2 and
 * Jensen tie above, F3 reversed above). */
static offsets sc_mixed(const char *scheme, int n, int s)
{
    (void)s;
    int qkqv = strcmp(scheme, "QKQV") == 0, kqv = strcmp(scheme, "KQV") == 0;
    int good = n <= 4;
    offsets o = { 1.0, 1.0, 1.0, 1.0 };
    if (qkqv) {
        o.kl = good ? 1.3 : 1.0;
        o.dist6 = 1.5;
        o.jensen = good ? 1.5 : 1.0;
    } else if (!kqv && n != 4) {   /* KV: worse except at n = 4 */
        o.kl = o.dist6 = 1.5;
        o.kdir = 2.0;
    }
    if (kqv || qkqv) {
        int claim_qkqv_lower = n == 2 || n == 3 || n == 5;
        int qkqv_lower = good ? claim_qkqv_lower : !claim_qkqv_lower;
        o.kdir = (qkqv == qkqv_lower) ? 1.0 : 1.2;
    }
    return o;
}

/* How many of F2's cells agree in sc_f2_count: the first f2_agree of the
 * (n, source) cells in sweep order, the others exact ties. */
static int f2_agree;

/* F2 (QKQV's kl above KQV's) true in f2_agree cells, a tie elsewhere; the
 * other claims as in sc_holds. */
static offsets sc_f2_count(const char *scheme, int n, int s)
{
    offsets o = sc_holds(scheme, n, s);
    if (strcmp(scheme, "QKQV") == 0 && (n - 2) * 2 + s >= f2_agree)
        o.kl = 1.0;   /* KQV's offset: equal values, a sure tie */
    return o;
}

/* The verdict boundaries on F2's 12 cells (n = 2…7, two sources): FAILS
 * below half agreeing, MIXED from half on, HOLDS only with all. */
static void test_boundaries(void)
{
    static const struct { int agree, verdict; } cases[] = {
        { 5, KVQ_FAILS }, { 6, KVQ_MIXED }, { 11, KVQ_MIXED }, { 12, KVQ_HOLDS } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f2_agree = cases[i].agree;
        kvq__results *r = sweep(sc_f2_count, 2, 7);
        kvq__findings *fs;
        kvq__findings_evaluate(r, SEED, &fs);
        size_t agree = 0;
        for (size_t c = 0; c < fs->f[1].count; c++)
            agree += (size_t)fs->f[1].cells[c].agrees;
        ok(fs->f[1].count == 12 && agree == (size_t)cases[i].agree &&
           fs->f[1].verdict == cases[i].verdict, "F2 with %d/12 agreeing cells: %s (%s)",
           cases[i].agree, kvq__verdict_name(fs->f[1].verdict), fs->f[1].summary);
        kvq__findings_free(fs);
        kvq__results_free(r);
    }
}

/* The evidence cell of finding f with this label, or NULL. */
static const kvq__finding_cell *cell_of(const kvq__finding *f, const char *label, int metric)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->cells[i].label, label) == 0 && f->cells[i].metric == metric)
            return &f->cells[i];
    return NULL;
}

/* Results table: add copies, find matches, free. */
static void test_table(void)
{
    kvq__results *r;
    kvq__cell c, *stored;
    double x[3] = { 1, 2, 3 };
    memset(&c, 0, sizeof c);
    strcpy(c.scheme, "KQV");
    strcpy(c.dist, "gauss");
    strcpy(c.rank, "full");
    c.bits = 4;
    c.trials = 3;
    c.per_trial[KVQ_METRIC_KL] = x;
    ok(kvq__results_create(&r, 9) == 0 && r->count == 0 && r->seed == 9, "create");
    ok(kvq__results_add(r, &c, &stored) == 0 && stored->per_trial[KVQ_METRIC_KL] != x &&
       stored->per_trial[KVQ_METRIC_KL][2] == 3 && isnan(stored->per_trial[KVQ_METRIC_JS][0]) &&
       stored->qjl_var_measured == NULL, "add deep-copies; missing metrics NaN-filled");
    x[2] = 99;
    for (int i = 0; i < 40; i++) {   /* force reallocation */
        c.bits = 10 + i;
        kvq__results_add(r, &c, NULL);
    }
    const kvq__cell *f = kvq__results_find(r, "kqv", 4, "gauss", "full");
    ok(r->count == 41 && f && f->per_trial[KVQ_METRIC_KL][2] == 3, "find (case-insensitive scheme)");
    ok(!kvq__results_find(r, "KQV", 4, "t3", "full") && !kvq__results_find(r, "KV", 4, "gauss", "full"),
       "find: absent cells give NULL");
    double mean, lo, hi;
    kvq__cell_summary(f, KVQ_METRIC_KL, 1, &mean, &lo, &hi);
    ok(mean == 2 && lo >= 1 && hi <= 3 && lo < hi, "cell summary: mean 2, CI inside [1, 3]");
    kvq__results_free(r);
}

/* Everything holds; structure of the evidence; dedup; determinism. */
static void test_holds(void)
{
    kvq__results *r = sweep(sc_holds, 2, 7);
    kvq__findings *fs, *again;
    ok(kvq__findings_evaluate(r, SEED, &fs) == 0, "evaluate (holds grid)");
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        ok(fs->f[i].verdict == KVQ_HOLDS, "%s HOLDS: %s", fs->f[i].id, fs->f[i].summary);
    ok(fs->f[0].count == 12 && fs->f[1].count == 12 && fs->f[2].count == 12 && fs->f[3].count == 12,
       "evidence counts 12, 12, 12, 12");
    /* F1's KQV-vs-QKQV kl and k_dir_err at n = 4 are F2's and F3's hypotheses
     * reversed: 48 cells, 44 distinct hypotheses in the Holm family. */
    ok(fs->comparisons == 44, "one Holm family of 44 distinct comparisons (%zu)", fs->comparisons);
    const kvq__finding_cell *a = cell_of(&fs->f[0], "n=4 gauss/full: KQV vs QKQV", KVQ_METRIC_KL);
    const kvq__finding_cell *b = cell_of(&fs->f[1], "n=4 gauss/full: QKQV vs KQV", KVQ_METRIC_KL);
    ok(a && b && a->mean == -b->mean && a->ci_lo == -b->ci_hi && a->verdict == -b->verdict &&
       a->p_holm == b->p_holm && fabs(a->mean + 0.3) < 0.02, "shared hypothesis, mirrored (δ ≈ −0.3)");
    const kvq__finding_cell *n2 = cell_of(&fs->f[2], "n=2 t3/8: QKQV vs KQV", KVQ_METRIC_K_DIR_ERR);
    const kvq__finding_cell *n6 = cell_of(&fs->f[2], "n=6 t3/8: QKQV vs KQV", KVQ_METRIC_K_DIR_ERR);
    const kvq__finding_cell *n7 = cell_of(&fs->f[2], "n=7 t3/8: QKQV vs KQV", KVQ_METRIC_K_DIR_ERR);
    ok(n2 && n6 && n7 && n2->verdict == -1 && n6->verdict == 1 && n7->expected == KVQ_NO_CLAIM &&
       n7->verdict == 0 && n2->p_holm < 0.05 && n2->n == T, "F3 cells: QKQV at 2, KQV at 6, n=7 unjudged");
    const kvq__finding_cell *j = &fs->f[3].cells[0];
    diag("Jensen cell %s: %.6g [%.6g, %.6g] var %g bound %g", j->label, j->mean, j->ci_lo, j->ci_hi,
         j->qjl_var, j->qjl_bound);
    ok(fabs(j->mean - 1.5) < 0.03 && j->ci_lo > 1 && j->verdict == 1 && fabs(j->qjl_var - 0.8) < 1e-14 &&
       j->qjl_bound == 1.0 && strcmp(j->b, "1") == 0, "Jensen cell: ratio 1.5 > 1, QJL variance means");
    kvq__findings_evaluate(r, SEED, &again);
    int same = 1;
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        same &= again->f[i].count == fs->f[i].count &&
                memcmp(again->f[i].cells, fs->f[i].cells, fs->f[i].count * sizeof *fs->f[i].cells) == 0;
    ok(same, "same seed: identical findings");
    kvq__findings_free(again);
    kvq__findings_free(fs);
    kvq__results_free(r);
}

/* The findings of scenario sc over n = lo..hi, each checked (one TAP line
 * per finding) to have verdict want; the caller frees *r and the findings. */
static kvq__findings *expect_all(scenario sc, int lo, int hi, int want, kvq__results **r)
{
    kvq__findings *fs;
    *r = sweep(sc, lo, hi);
    kvq__findings_evaluate(*r, SEED, &fs);
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        ok(fs->f[i].verdict == want, "%s %s: %s", fs->f[i].id, kvq__verdict_name(want),
           fs->f[i].summary);
    return fs;
}

/* Every claim reversed: FAILS everywhere. */
static void test_fails(void)
{
    kvq__results *r;
    kvq__findings_free(expect_all(sc_fails, 2, 6, KVQ_FAILS, &r));
    kvq__results_free(r);
}

/* Partly true: MIXED everywhere. */
static void test_mixed(void)
{
    kvq__results *r;
    kvq__findings *fs = expect_all(sc_mixed, 2, 6, KVQ_MIXED, &r);
    const kvq__finding_cell *t = cell_of(&fs->f[0], "n=4 gauss/full: KQV vs KV", KVQ_METRIC_DIST6);
    ok(t && t->verdict == 0 && t->mean == 0 && !t->agrees, "exact tie: δ = 0, tie, disagrees");
    kvq__findings_free(fs);
    kvq__results_free(r);
}

/* Grids that lack the needed cells. */
static void test_no_data(void)
{
    kvq__results *r;
    kvq__findings *fs;
    kvq__results_create(&r, 1);
    kvq__findings_evaluate(r, SEED, &fs);
    int all = 1;
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        all &= fs->f[i].verdict == KVQ_NO_DATA && fs->f[i].count == 0;
    ok(all && strcmp(kvq__verdict_name(KVQ_NO_DATA), "NO DATA") == 0, "empty grid: NO DATA");
    kvq__findings_free(fs);
    kvq__results_free(r);
    r = sweep(sc_holds, 2, 3);   /* no n = 4: F1 has nothing to judge */
    kvq__findings_evaluate(r, SEED, &fs);
    ok(fs->f[0].verdict == KVQ_NO_DATA && fs->f[1].verdict == KVQ_HOLDS && fs->f[2].verdict == KVQ_HOLDS,
       "no n = 4 cells: F1 NO DATA, F2/F3 still judged");
    kvq__findings_free(fs);
    kvq__results_free(r);
    r = sweep(sc_holds, 7, 7);   /* only n = 7: F3 shows cells but judges none */
    kvq__findings_evaluate(r, SEED, &fs);
    ok(fs->f[2].verdict == KVQ_NO_DATA && fs->f[2].count == 2, "only unclaimed n: F3 NO DATA, cells shown");
    kvq__findings_free(fs);
    kvq__results_free(r);
}

int main(void)
{
    plan(32);
    diag("seed %u", SEED);
    test_table();
    test_holds();
    test_fails();
    test_mixed();
    test_no_data();
    test_boundaries();
    return exit_status();
}
