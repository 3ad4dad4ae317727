/* test_stats.c — bootstrap CI, Wilcoxon signed-rank, sign test, Holm and
 * paired comparisons against independent values (doc/statistics.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define SEED 20240601u

/* |a - b| <= tol · max(1, |b|). */
static int close_to(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1.0, fabs(b));
}

/* Exact two-sided Wilcoxon p by enumerating all 2^m sign patterns of the
 * doubled midranks of |d| (zeros dropped) — independent of the library's DP. */
static double brute_wilcoxon(const double *d, size_t n)
{
    double a[32];
    int r2[32];
    size_t m = 0;
    long w2 = 0, le = 0, ge = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] != 0)
            a[m++] = d[i];
    for (size_t i = 0; i < m; i++) {      /* midrank by counting: 2·(#less) + #equal + 1 */
        int less = 0, eq = 0;
        for (size_t j = 0; j < m; j++) {
            less += fabs(a[j]) < fabs(a[i]);
            eq += fabs(a[j]) == fabs(a[i]);
        }
        r2[i] = 2 * less + eq + 1;
        if (a[i] > 0)
            w2 += r2[i];
    }
    for (unsigned long mask = 0; mask < (1ul << m); mask++) {
        long s = 0;
        for (size_t i = 0; i < m; i++)
            if (mask >> i & 1)
                s += r2[i];
        le += s <= w2;
        ge += s >= w2;
    }
    double p = 2.0 * (double)(le < ge ? le : ge) / (double)(1ul << m);
    return p < 1 ? p : 1;
}

/* Bootstrap: edge cases, NaN skipping, determinism and an n = 2 exact case. */
static void test_bootstrap_basic(void)
{
    double lo, hi, lo2, hi2;
    double one = 3.5;
    ok(kvq__bootstrap_ci(&one, 1, 0, 0.95, SEED, 0, &lo, &hi) == 0 && lo == 3.5 && hi == 3.5,
       "bootstrap n=1: lo = hi = x");
    double nan1[3] = { NAN, 2.0, NAN };
    ok(kvq__bootstrap_ci(nan1, 3, 0, 0.95, SEED, 0, &lo, &hi) == 0 && lo == 2 && hi == 2,
       "bootstrap skips NaN (one value left)");
    ok(kvq__bootstrap_ci(nan1, 1, 0, 0.95, SEED, 0, &lo, &hi) == KVQ_ERR_INVALID_ARG && isnan(lo),
       "bootstrap with no value: INVALID_ARG and NaN");
    ok(kvq__bootstrap_ci(&one, 1, 0, 1.0, SEED, 0, &lo, &hi) == KVQ_ERR_INVALID_ARG,
       "bootstrap level 1 rejected");
    double same[5] = { 7, 7, 7, 7, 7 };
    kvq__bootstrap_ci(same, 5, 0, 0.95, SEED, 0, &lo, &hi);
    ok(lo == 7 && hi == 7, "bootstrap of constant data: [7, 7]");
    /* {0, 1}: resample means are 0, ½, 1 w.p. ¼, ½, ¼, so with 10000
     * resamples the 2.5% and 97.5% quantiles are exactly 0 and 1. */
    double two[2] = { 0, 1 };
    kvq__bootstrap_ci(two, 2, 0, 0.95, SEED, 0, &lo, &hi);
    ok(lo == 0 && hi == 1, "bootstrap of {0,1}: [0, 1] (got [%g, %g])", lo, hi);
    double x[8] = { 1.5, -0.2, 0.7, 2.2, NAN, 0.1, 0.9, -1.0 };
    double y[7] = { 1.5, -0.2, 0.7, 2.2, 0.1, 0.9, -1.0 };
    kvq__bootstrap_ci(x, 8, 0, 0.95, SEED, 3, &lo, &hi);
    kvq__bootstrap_ci(y, 7, 0, 0.95, SEED, 3, &lo2, &hi2);
    ok(lo == lo2 && hi == hi2, "NaN entries are skipped: same CI as without them");
    kvq__bootstrap_ci(y, 7, 0, 0.95, SEED + 1, 3, &lo2, &hi2);
    ok(lo != lo2 || hi != hi2, "another seed gives another resampling");
    kvq__bootstrap_ci(y, 7, 0, 0.95, SEED, 3, &lo2, &hi2);
    ok(lo == lo2 && hi == hi2 && lo < 0.6 && hi > 0.6,
       "same seed, same CI; CI [%g, %g] contains the mean 0.6", lo, hi);
}

/* Coverage of the true mean by the 95% CI: 200 samples of n = 30 N(0.3, 1);
 * coverage must be within 3.3 binomial sd (sd = 0.0154) of 0.95, allowing
 * the percentile method's known slight undercoverage at n = 30. Also the CI
 * half-width against the normal theory 1.96·s/sqrt(n) (within 15%). */
static void test_bootstrap_coverage(void)
{
    enum { REPS = 200, N = 30 };
    kvq__rng rng;
    int covered = 0, width_ok = 0;
    kvq__rng_init(&rng, SEED, KVQ_RNG_TEST, 1);
    diag("coverage seed %u", SEED);
    for (int r = 0; r < REPS; r++) {
        double x[N], s = 0, ss = 0, lo, hi;
        for (int i = 0; i < N; i++) {
            x[i] = 0.3 + kvq__rng_normal(&rng);
            s += x[i];
        }
        for (int i = 0; i < N; i++)
            ss += (x[i] - s / N) * (x[i] - s / N);
        kvq__bootstrap_ci(x, N, 2000, 0.95, SEED, (uint32_t)r, &lo, &hi);
        covered += lo <= 0.3 && 0.3 <= hi;
        double half = 1.959964 * sqrt(ss / (N - 1) / N);
        width_ok += fabs((hi - lo) / 2 / half - 1) < 0.15;
    }
    diag("coverage %d/%d, width within 15%% of normal theory in %d", covered, REPS, width_ok);
    ok(covered >= 180 && covered <= 199, "bootstrap coverage %d/200 in [180, 199]", covered);
    ok(width_ok >= 190, "bootstrap widths match 1.96 s/sqrt(n) (%d/200 within 15%%)", width_ok);
}

/* Wilcoxon exact p against scipy and brute-force enumeration. */
static void test_wilcoxon_exact(void)
{
    /* Hollander & Wolfe's depression-scale example (x − y, the example of
     * R's ?wilcox.test); exact p = 0.0390625 (scipy 1.17
     * wilcoxon(method='exact'), also = 2·10/512 by enumeration). */
    double d1[9] = { 0.952, -0.147, 1.022, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01 };
    ok(close_to(kvq__wilcoxon_p(d1, 9), 0.0390625, 1e-12), "Wilcoxon exact, H&W example: %.10g",
       kvq__wilcoxon_p(d1, 9));
    /* scipy 1.17 wilcoxon(d2, method='exact') = 0.10986328125 (= 225/2048). */
    double d2[12] = { -0.5, 1.2, 2.3, 3.1, -4.7, 5.9, 6.4, 7.2, 8.8, 9.1, 10.5, -11.3 };
    ok(close_to(kvq__wilcoxon_p(d2, 12), 0.10986328125, 1e-12), "Wilcoxon exact n=12: %.10g",
       kvq__wilcoxon_p(d2, 12));
    /* Ties and zeros: exact conditional distribution over doubled midranks,
     * against the brute-force enumeration above. */
    double d3[14] = { 1, -1, 2, 2, 0, 3, -3, 3, 4, 5, -5, 0, 6, 7 };
    double b3 = brute_wilcoxon(d3, 14);
    ok(close_to(kvq__wilcoxon_p(d3, 14), b3, 1e-12), "Wilcoxon exact with ties: %.10g vs brute %.10g",
       kvq__wilcoxon_p(d3, 14), b3);
    /* Random no-tie samples of n = 5 … 16 against enumeration. */
    kvq__rng rng;
    int agree = 0;
    kvq__rng_init(&rng, SEED, KVQ_RNG_TEST, 2);
    for (int n = 5; n <= 16; n++) {
        double d[16];
        for (int i = 0; i < n; i++)
            d[i] = kvq__rng_normal(&rng) + 0.5;
        agree += close_to(kvq__wilcoxon_p(d, (size_t)n), brute_wilcoxon(d, (size_t)n), 1e-12);
    }
    ok(agree == 12, "Wilcoxon exact = enumeration for n = 5..16 (%d/12)", agree);
    double one = -2.0, zeros[3] = { 0, 0, 0 };
    ok(kvq__wilcoxon_p(&one, 1) == 1 && kvq__wilcoxon_p(zeros, 3) == 1,
       "Wilcoxon: n = 1 gives p = 1; all zeros give p = 1");
    double all_pos[6] = { 1, 2, 3, 4, 5, 6 };
    ok(close_to(kvq__wilcoxon_p(all_pos, 6), 2.0 / 64, 1e-15), "Wilcoxon: 6 positives, p = 2/64");
}

/* Wilcoxon normal approximation (n > 25) against scipy. */
static void test_wilcoxon_normal(void)
{
    /* numpy default_rng(11).normal(0.35, 1, 40) rounded to 4 decimals; scipy
     * 1.17 wilcoxon(d, method='approx', correction=True) p = 0.06265671766832528. */
    static const double d[40] = {
        0.3842, 1.7097, 1.5747, -0.1603, 0.052, -0.1774, 0.9197, 0.2939, 1.0969, -1.4973,
        1.9165, 0.2536, 1.0304, 0.2134, -0.0291, 0.8131, 1.1745, 0.1475, 0.1972, 1.0357,
        -0.5203, -1.1644, 0.745, -0.3206, -1.5703, -0.4641, -0.1176, -0.8432, -1.1425, 0.3866,
        1.2472, 0.1169, -0.3936, 0.735, 1.0672, 0.05, 0.8947, 1.3929, 0.143, -0.4635 };
    ok(close_to(kvq__wilcoxon_p(d, 40), 0.06265671766832528, 1e-12),
       "Wilcoxon approx n=40: %.16g", kvq__wilcoxon_p(d, 40));
    /* Heavy ties and 4 zeros (30 nonzero): scipy 1.17 wilcoxon(...,
     * method='approx', correction=True, zero_method='wilcox') p = 0.000964660258597532. */
    double t[34];
    static const double base[15] = { 1, 2, 2, -3, 3, 3, 4, -4, 5, 0, 0, 6, 6, 6, -1 };
    static const double tail[4] = { 7, 8, -2, 9 };
    memcpy(t, base, sizeof base);
    memcpy(t + 15, base, sizeof base);
    memcpy(t + 30, tail, sizeof tail);
    ok(close_to(kvq__wilcoxon_p(t, 34), 0.000964660258597532, 1e-10),
       "Wilcoxon approx with ties and zeros: %.16g", kvq__wilcoxon_p(t, 34));
}

/* Sign test: hand-computed binomial tails and scipy binomtest. */
static void test_sign(void)
{
    double d[20];
    /* 2 positive of 10: 2·(1 + 10 + 45)/1024 = 0.109375 (by hand). */
    for (int i = 0; i < 10; i++)
        d[i] = i < 2 ? 1.0 : -1.0;
    ok(close_to(kvq__sign_test_p(d, 10), 0.109375, 1e-13), "sign test 2/10");
    /* 15 of 20: 2·(15504 + 4845 + 1140 + 190 + 20 + 1)/2^20 = 0.04138946533203125. */
    for (int i = 0; i < 20; i++)
        d[i] = i < 15 ? 0.5 : -0.5;
    ok(close_to(kvq__sign_test_p(d, 20), 0.04138946533203125, 1e-13), "sign test 15/20");
    double z[4] = { 0, 1, NAN, 0 };
    ok(kvq__sign_test_p(z, 4) == 1, "sign test drops zeros and NaN (1 of 1: p = 1)");
    /* 540 of 1000: scipy 1.17 binomtest(540, 1000).pvalue = 0.012444146277171799. */
    double *big = malloc(1000 * sizeof *big);
    for (int i = 0; i < 1000; i++)
        big[i] = i < 540 ? 1 : -1;
    ok(close_to(kvq__sign_test_p(big, 1000), 0.012444146277171799, 1e-9), "sign test 540/1000: %.16g",
       kvq__sign_test_p(big, 1000));
    free(big);
}

/* Holm on a textbook example and edge cases. */
static void test_holm(void)
{
    /* p = 0.01, 0.04, 0.03, 0.005: sorted 0.005·4 = 0.02, 0.01·3 = 0.03,
     * 0.03·2 = 0.06, 0.04·1 = 0.04 → max(0.06, 0.04) = 0.06 (by hand). */
    double p[4] = { 0.01, 0.04, 0.03, 0.005 }, adj[4];
    kvq__holm(p, 4, adj);
    ok(close_to(adj[0], 0.03, 1e-15) && close_to(adj[1], 0.06, 1e-15) &&
       close_to(adj[2], 0.06, 1e-15) && close_to(adj[3], 0.02, 1e-15),
       "Holm: %g %g %g %g", adj[0], adj[1], adj[2], adj[3]);
    double q[3] = { 0.5, NAN, 0.6 };
    kvq__holm(q, 3, q);   /* aliasing allowed; NaN not counted: 0.5·2 = 1, 0.6·1 → 1 */
    ok(q[0] == 1 && isnan(q[1]) && q[2] == 1, "Holm: capped at 1, NaN kept, in place");
}

/* Paired comparisons and the family-wide finalize. */
static void test_compare(void)
{
    enum { T = 16 };
    double a[T], b[T], c[T];
    kvq__rng rng;
    kvq__comparison r;
    kvq__rng_init(&rng, SEED, KVQ_RNG_TEST, 3);
    for (int i = 0; i < T; i++) {
        b[i] = 2 + 0.3 * kvq__rng_normal(&rng);
        a[i] = b[i] - 0.5 + 0.05 * kvq__rng_normal(&rng);
        c[i] = b[i] + 0.5 + 0.05 * kvq__rng_normal(&rng);
    }
    kvq__compare_paired(a, b, T, SEED, 0, &r);
    ok(r.verdict == -1 && r.n == T && r.ci_hi < 0 && close_to(r.p_wilcoxon, 2.0 / 65536, 1e-12) &&
       close_to(r.p_sign, 2.0 / 65536, 1e-12), "A lower everywhere: win, exact p = 2/2^16");
    kvq__compare_paired(c, b, T, SEED, 0, &r);
    ok(r.verdict == 1 && r.ci_lo > 0, "A higher everywhere: loss");
    a[3] = NAN;
    kvq__compare_paired(b, b, T, SEED, 0, &r);
    ok(r.verdict == 0 && r.mean == 0 && r.p_wilcoxon == 1, "identical: tie, p = 1");
    kvq__compare_paired(a, b, T, SEED, 0, &r);
    ok(r.n == T - 1, "NaN pair dropped (n = %zu)", r.n);
    ok(kvq__compare_paired(a, b, 0, SEED, 0, &r) == KVQ_ERR_INVALID_ARG && r.verdict == 0,
       "no pairs: INVALID_ARG, tie");
    /* Finalize: 3 comparisons, p = 0.01, 0.02, 0.04 → Holm 0.03, 0.04, 0.04.
     * With a 4th (p = 0.5) the family grows: 0.04, 0.06, 0.08, 0.5. */
    kvq__comparison f[4] = {
        { -1, -2, -0.5, 0.01, 0.02, 0, 0, 10 }, { 1, 0.5, 2, 0.02, 0.02, 0, 0, 10 },
        { -1, -2, 0.1, 0.04, 0.02, 0, 0, 10 }, { 1, 0.2, 2, 0.5, 0.5, 0, 0, 10 } };
    kvq__comparisons_finalize(f, 3);
    ok(close_to(f[0].p_holm, 0.03, 1e-15) && close_to(f[1].p_holm, 0.04, 1e-15) &&
       close_to(f[2].p_holm, 0.04, 1e-15), "finalize: Holm over the family");
    ok(f[0].verdict == -1 && f[1].verdict == 1 && f[2].verdict == 0,
       "finalize: win, loss, tie (CI crosses 0)");
    kvq__comparisons_finalize(f, 4);
    ok(f[0].verdict == -1 && f[1].verdict == 0 && close_to(f[1].p_holm, 0.06, 1e-15) &&
       f[3].verdict == 0, "finalize: a larger family turns the loss into a tie");
}

int main(void)
{
    plan(33);
    diag("seed %u", SEED);
    test_bootstrap_basic();
    test_bootstrap_coverage();
    test_wilcoxon_exact();
    test_wilcoxon_normal();
    test_sign();
    test_holm();
    test_compare();
    return exit_status();
}
