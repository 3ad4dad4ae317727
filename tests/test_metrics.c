/* test_metrics.c — metric names, exact distribution metrics and per-trial
 * aggregation (doc/metrics.md) against hand-computed and high-precision values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define SEED 7001u

/* |a - b| <= rel · |b| (+ a tiny absolute floor for zeros). */
static int rel_close(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fabs(b) + 1e-300;
}

/* The metric table: doc/metrics.md §2 order, unique names, lookup round trip. */
static void test_names(void)
{
    static const char *spec =
        "kl kl_rev js tv entropy_ref entropy_quant top1 topk_recall logit_mse logit_bias "
        "jensen_ratio out_rel_err out_dir_err k_rel_mse k_dir_err v_rel_mse v_dir_err dist6 one_hot";
    char joined[512] = "";
    int round = 1;
    for (int i = 0; i < KVQ_METRIC_COUNT; i++) {
        if (i)
            strcat(joined, " ");
        strcat(joined, kvq_metric_name(i));
        round &= kvq__metric_lookup(kvq_metric_name(i)) == i;
    }
    ok(KVQ_METRIC_COUNT == 19 && strcmp(joined, spec) == 0, "19 metrics in doc/metrics.md §2 order");
    ok(round && kvq__metric_lookup("nope") == -1 && kvq__metric_lookup(NULL) == -1 &&
       kvq_metric_name(-1) == NULL && kvq_metric_name(KVQ_METRIC_COUNT) == NULL,
       "lookup round trip; unknown names and ids rejected");
    ok(kvq_metric_higher_is_better(KVQ_METRIC_TOP1) && !kvq_metric_higher_is_better(KVQ_METRIC_KL),
       "direction: top1 higher is better, kl lower");
}

/* p = (½, ½) from logits (0, 0); q = (¾, ¼) from (ln 3, 0). By hand:
 * KL(p‖q) = ½ ln(4/3); KL(q‖p) = ¾ ln(3/2) − ¼ ln 2; TV = ¼; H(p) = ln 2;
 * H(q) = −¾ ln ¾ − ¼ ln ¼; eps = (ln 3, 0): mse = (ln 3)²/2, bias = ln 3 / 2,
 * Var_p(eps) = (ln 3)²/4. JS = 0.03382207556860523 (mpmath, 50 digits). */
static void test_two_point(void)
{
    double r[2] = { 0, 0 }, q[2] = { log(3.0), 0 };
    kvq_query_metrics m;
    kvq_distribution_metrics(r, q, 2, 8, &m);
    double l3 = log(3.0);
    ok(rel_close(m.kl, 0.5 * log(4.0 / 3), 1e-14) &&
       rel_close(m.kl_rev, 0.75 * log(1.5) - 0.25 * log(2.0), 1e-14), "two-point KL both ways");
    ok(rel_close(m.js, 0.03382207556860523, 1e-14) && rel_close(m.tv, 0.25, 1e-14), "two-point JS, TV");
    ok(rel_close(m.entropy_ref, log(2.0), 1e-15) &&
       rel_close(m.entropy_quant, -(0.75 * log(0.75) + 0.25 * log(0.25)), 1e-14), "two-point entropies");
    ok(rel_close(m.logit_mse, l3 * l3 / 2, 1e-15) && rel_close(m.logit_bias, l3 / 2, 1e-15) &&
       rel_close(m.var_p_eps, l3 * l3 / 4, 1e-14), "two-point logit mse, bias, Var_p(eps)");
    ok(m.p_max == 0.5, "two-point p_max = 1/2");
    ok(m.top1 == 1 && m.topk_recall == 1 && m.out_rel_err == 0 && m.out_dir_err == 0,
       "two-point top1 (tie → index 0 both), top-k with k = n, out_* left 0");
}

/* Small perturbation, values from mpmath at 50 digits: ref (0,1,2,3), quant
 * ref + (1e-5, −2e-5, 3e-5, 0). A naive log-of-probabilities KL loses ~1e-6
 * relative here; the library must keep 1e-8. */
static void test_small_golden(void)
{
    double r[4] = { 0, 1, 2, 3 }, q[4] = { 1e-5, 1 - 2e-5, 2 + 3e-5, 3 };
    kvq_query_metrics m;
    kvq_distribution_metrics(r, q, 4, 8, &m);
    ok(rel_close(m.kl, 1.0947438928163133883e-10, 1e-8), "small KL %.17g", m.kl);
    ok(rel_close(m.kl_rev, 1.0947469152296126441e-10, 1e-8), "small KL_rev %.17g", m.kl_rev);
    ok(rel_close(m.js, 2.7368635099941694263e-11, 1e-8), "small JS %.17g", m.js);
    ok(rel_close(m.tv, 5.8983988830719391222e-6, 1e-9), "small TV %.17g", m.tv);
    ok(rel_close(m.var_p_eps, 2.1894817407873627422e-10, 1e-8), "small Var_p(eps)");
    ok(rel_close(m.entropy_ref, 0.94753696397542556312, 1e-13) &&
       rel_close(m.entropy_quant, 0.9475386625534027001, 1e-13), "small entropies");
}

/* Tiny perturbations: second-order theory KL ≈ KL_rev ≈ ½ Var_p(eps),
 * JS ≈ Var_p(eps)/8, with relative error O(|eps|) ≈ 1e-7. */
static void test_tiny_theory(void)
{
    enum { N = 1000 };
    double *r = malloc(N * sizeof *r), *q = malloc(N * sizeof *q);
    kvq__rng rng;
    kvq_query_metrics m;
    kvq__rng_init(&rng, SEED, KVQ_RNG_TEST, 0);
    diag("seed %u", SEED);
    for (int i = 0; i < N; i++) {
        r[i] = 3 * kvq__rng_normal(&rng) + 40;   /* offset: the lse is ~50 */
        q[i] = r[i] + 1e-7 * kvq__rng_normal(&rng);
    }
    kvq_distribution_metrics(r, q, N, 8, &m);
    double h = 0.5 * m.var_p_eps;
    diag("KL %.6e, ½Var %.6e, ratio-1 %.2e", m.kl, h, m.kl / h - 1);
    ok(m.kl > 0 && rel_close(m.kl, h, 1e-4) && rel_close(m.kl_rev, h, 1e-4),
       "tiny eps: KL and KL_rev = ½ Var_p(eps) to 1e-4");
    ok(rel_close(m.js, m.var_p_eps / 8, 1e-4), "tiny eps: JS = Var_p(eps)/8 to 1e-4");
    free(r);
    free(q);
}

/* Identical and shifted logits; an underflowed probability. */
static void test_edges(void)
{
    double r[5] = { 0.5, -1, 2, 2, 0 }, q[5];
    kvq_query_metrics m;
    kvq_distribution_metrics(r, r, 5, 3, &m);
    ok(m.kl == 0 && m.kl_rev == 0 && m.js == 0 && m.tv == 0 && m.top1 == 1 && m.topk_recall == 1 &&
       m.entropy_ref == m.entropy_quant && m.var_p_eps == 0, "identical logits: all zero");
    for (int i = 0; i < 5; i++)
        q[i] = r[i] + 5;
    kvq_distribution_metrics(r, q, 5, 3, &m);
    ok(m.kl < 1e-15 && m.js < 1e-15 && m.tv < 1e-15 && m.logit_bias == 5 && m.var_p_eps < 1e-25,
       "shifted logits: same softmax (KL %g), bias 5", m.kl);
    /* p = (1, e^-800 → 0 in double), q = (½, ½). KL = ln 2; TV = ½;
     * KL(q‖p) = 400 − ln 2 (p_2 = e^-800 exactly in the limit);
     * JS = ½[ln(4/3) + ½ ln(2/3) + ½ ln 2] = 0.21576155433883565 (by hand). */
    double r2[2] = { 0, -800 }, q2[2] = { 0, 0 };
    kvq_distribution_metrics(r2, q2, 2, 1, &m);
    ok(rel_close(m.kl, log(2.0), 1e-14) && rel_close(m.tv, 0.5, 1e-14) &&
       rel_close(m.kl_rev, 400 - log(2.0), 1e-13) && rel_close(m.js, 0.21576155433883565, 1e-14),
       "underflowed p: KL %.17g KL_rev %.17g JS %.17g TV %g", m.kl, m.kl_rev, m.js, m.tv);
}

/* Reference top-k membership by counting: i is in the top-k iff fewer than
 * k elements rank before it (larger value, ties to the lower index). */
static int naive_in_topk(const double *x, size_t n, size_t i, size_t k)
{
    size_t before = 0;
    for (size_t j = 0; j < n; j++)
        before += x[j] > x[i] || (x[j] == x[i] && j < i);
    return before < k;
}

/* top1 and top-k with ties. */
static void test_topk(void)
{
    double r[5] = { 1, 1, 1, 1, 0 }, q[5] = { 0, 1, 1, 1, 1 };
    kvq_query_metrics m;
    kvq_distribution_metrics(r, q, 5, 2, &m);
    ok(m.topk_recall == 0.5 && m.top1 == 0, "ties: top-2 {0,1} vs {1,2} → ½; argmax 0 vs 1");
    kvq_distribution_metrics(r, q, 5, 8, &m);
    ok(m.topk_recall == 1, "k = min(8, n = 5): recall 1");
    kvq_distribution_metrics(r, q, 5, 0, &m);
    ok(isnan(m.topk_recall), "topk 0: NaN");
    double a[6] = { 5, 4, 3, 2, 1, 0 }, b[6] = { 0, 1, 2, 3, 4, 5 };
    kvq_distribution_metrics(a, b, 6, 3, &m);
    ok(m.topk_recall == 0 && m.top1 == 0, "reversed order: recall 0");
    /* Random logits with many exact ties against the counting definition. */
    enum { N = 300 };
    double x[N], y[N];
    kvq__rng rng;
    int agree = 1;
    kvq__rng_init(&rng, SEED, KVQ_RNG_TEST, 1);
    for (int i = 0; i < N; i++) {
        x[i] = round(4 * kvq__rng_normal(&rng)) / 4;
        y[i] = x[i] + round(2 * kvq__rng_normal(&rng)) / 4;
    }
    for (size_t k = 1; k <= 40; k += 3) {
        size_t hits = 0;
        for (size_t i = 0; i < N; i++)
            hits += naive_in_topk(x, N, i, k) && naive_in_topk(y, N, i, k);
        kvq_distribution_metrics(x, y, N, (int)k, &m);
        agree &= m.topk_recall == (double)hits / (double)k;
    }
    ok(agree, "top-k recall = counting definition with ties, k = 1..40");
}

/* Per-trial aggregation: means, Jensen over defined queries, dist6. */
static void test_aggregate(void)
{
    kvq_query_metrics q[3];
    memset(q, 0, sizeof q);
    /* js chosen so js/ln2 = 0.12; the dist6 vector is (0.03, 0.04, 0, 0, 0.12, 0):
     * sqrt(0.0009 + 0.0016 + 0.0144) = 0.13 (by hand). */
    double js = 0.12 * log(2.0);
    q[0].kl = 0.2; q[0].var_p_eps = 0.2;   /* ratio 0.2 / 0.1 = 2 */
    q[1].kl = 0.4; q[1].var_p_eps = 0.0;   /* undefined: left out */
    q[2].kl = 0.3; q[2].var_p_eps = 0.15;  /* ratio 4 */
    q[0].p_max = 0.995;
    q[1].p_max = 0.99;
    q[2].p_max = 0.5;
    for (int i = 0; i < 3; i++) {
        q[i].js = js;
        q[i].top1 = i != 1;
        q[i].logit_bias = i - 1.0;
    }
    kvq_vector_errors k = { 0.03, 0.04, 0 }, v = { 0, 0, 2 };
    double out[KVQ_METRIC_COUNT];
    kvq__trial_aggregate(q, 3, &k, &v, out);
    ok(rel_close(out[KVQ_METRIC_KL], 0.3, 1e-15) && rel_close(out[KVQ_METRIC_TOP1], 2.0 / 3, 1e-15) &&
       out[KVQ_METRIC_LOGIT_BIAS] == 0, "means over queries");
    /* Ratio of sums (doc/metrics.md §2.5), by hand: Σ kl = 0.9, Σ ½Var = 0.1 + 0 + 0.075
     * = 0.175, 0.9 / 0.175 = 36/7 (the mean of per-query ratios would be 3). */
    ok(rel_close(out[KVQ_METRIC_JENSEN_RATIO], 36.0 / 7, 1e-15),
       "jensen_ratio = Σ kl / Σ ½Var = 36/7 (%.17g)", out[KVQ_METRIC_JENSEN_RATIO]);
    ok(out[KVQ_METRIC_ONE_HOT] == 1, "one_hot counts p_max > 0.99 strictly (0.995 yes, 0.99 no)");
    ok(rel_close(out[KVQ_METRIC_DIST6], 0.13, 1e-14) && out[KVQ_METRIC_K_DIR_ERR] == 0.04,
       "dist6 = 0.13 on the hand example (%.17g)", out[KVQ_METRIC_DIST6]);
    q[0].var_p_eps = q[2].var_p_eps = 0;
    kvq__trial_aggregate(q, 3, NULL, &v, out);
    ok(isnan(out[KVQ_METRIC_JENSEN_RATIO]) && isnan(out[KVQ_METRIC_K_REL_MSE]) &&
       isnan(out[KVQ_METRIC_DIST6]) && out[KVQ_METRIC_V_REL_MSE] == 0,
       "no defined Jensen query → NaN; no K errors → NaN k_* and dist6");
    /* A one-hot query (Var_p ≈ 1e-16, its own ratio 2e4) beside an ordinary one
     * (ratio 1): the mean of ratios would be ≈ 1e4; the ratio of sums is
     * (0.01 + 1e-12) / (0.01 + 5e-17) = 1 + 1e-10 to 1e-15. */
    memset(q, 0, sizeof q);
    q[0].kl = 1e-12; q[0].var_p_eps = 1e-16; q[0].p_max = 0.9999;
    q[1].kl = 0.01; q[1].var_p_eps = 0.02; q[1].p_max = 0.3;
    kvq__trial_aggregate(q, 2, &k, &v, out);
    ok(rel_close(out[KVQ_METRIC_JENSEN_RATIO], 1.0 + 1e-10, 1e-12) && out[KVQ_METRIC_ONE_HOT] == 1,
       "a one-hot query does not dominate the ratio (%.17g)", out[KVQ_METRIC_JENSEN_RATIO]);
    kvq__trial_aggregate(q, 0, &k, &v, out);
    ok(isnan(out[KVQ_METRIC_KL]), "no queries: NaN means");
}

/* Every field mapping of the aggregate with distinct values: field f of query
 * i is (f + 1)·(1 + i/10) (mean (f + 1)·1.1 over three queries), the vector
 * errors 0.01…0.04, so a field copied into the wrong metric, or a term
 * dropped from dist6, shows. */
static void test_aggregate_mapping(void)
{
    static const int ids[12] = { KVQ_METRIC_KL, KVQ_METRIC_KL_REV, KVQ_METRIC_JS, KVQ_METRIC_TV,
                                 KVQ_METRIC_ENTROPY_REF, KVQ_METRIC_ENTROPY_QUANT, KVQ_METRIC_TOP1,
                                 KVQ_METRIC_TOPK_RECALL, KVQ_METRIC_LOGIT_MSE, KVQ_METRIC_LOGIT_BIAS,
                                 KVQ_METRIC_OUT_REL_ERR, KVQ_METRIC_OUT_DIR_ERR };
    kvq_query_metrics q[3];
    double out[KVQ_METRIC_COUNT];
    memset(q, 0, sizeof q);
    for (int i = 0; i < 3; i++) {
        double *f[12] = { &q[i].kl, &q[i].kl_rev, &q[i].js, &q[i].tv, &q[i].entropy_ref,
                          &q[i].entropy_quant, &q[i].top1, &q[i].topk_recall, &q[i].logit_mse,
                          &q[i].logit_bias, &q[i].out_rel_err, &q[i].out_dir_err };
        for (int k = 0; k < 12; k++)
            *f[k] = (k + 1) * (1 + i / 10.0);
    }
    kvq_vector_errors k = { 0.01, 0.02, 1 }, v = { 0.03, 0.04, 0 };
    kvq__trial_aggregate(q, 3, &k, &v, out);
    int mapped = 1;
    for (int f = 0; f < 12; f++)
        mapped &= rel_close(out[ids[f]], (f + 1) * 1.1, 1e-14);
    ok(mapped, "all 12 per-query fields land in their own metric (distinct means)");
    ok(out[KVQ_METRIC_K_REL_MSE] == 0.01 && out[KVQ_METRIC_K_DIR_ERR] == 0.02 &&
       out[KVQ_METRIC_V_REL_MSE] == 0.03 && out[KVQ_METRIC_V_DIR_ERR] == 0.04,
       "k_rel_mse, k_dir_err, v_rel_mse, v_dir_err from their own fields");
    /* dist6 of (0.01, 0.02, 0.03, 0.04, js/ln 2 = 3.3/ln 2, out_rel_err = 11·1.1) */
    double js = 3 * 1.1 / log(2.0), o = 11 * 1.1;
    double want = sqrt(0.0001 + 0.0004 + 0.0009 + 0.0016 + js * js + o * o);
    ok(rel_close(out[KVQ_METRIC_DIST6], want, 1e-14), "dist6 with all six terms non-zero: %.17g",
       out[KVQ_METRIC_DIST6]);
}

int main(void)
{
    plan(35);
    test_names();
    test_two_point();
    test_small_golden();
    test_tiny_theory();
    test_edges();
    test_topk();
    test_aggregate();
    test_aggregate_mapping();
    return exit_status();
}
