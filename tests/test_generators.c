/* test_generators.c — the synthetic sources of doc/statistics.md: names, unit
 * variance and tail shape of every family (moments against exact values
 * with sampling bounds, Kolmogorov–Smirnov against exact CDFs), the rank of
 * low-rank data, outlier channels, the planted needle, and determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define SEED 20240611u

/* Sample mean, variance (about 0, as the mean is 0) and kurtosis m4/m2^2. */
static void moments(const float *x, size_t n, double *mean, double *var, double *kurt)
{
    double s1 = 0, s2 = 0, s4 = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i], v2 = v * v;
        s1 += v;
        s2 += v2;
        s4 += v2 * v2;
    }
    *mean = s1 / n;
    *var = s2 / n;
    *kurt = (s4 / n) / (*var * *var);
}

/* Exact CDFs (unit variance): Gaussian, Laplace with b = 1/sqrt 2, and
 * Student-t(3) scaled by 1/sqrt 3, F = 1/2 + (th + sin th cos th)/pi with
 * th = atan(t/sqrt 3), t = x sqrt 3 (the closed form for nu = 3). */
static double cdf_gauss(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double cdf_laplace(double x)
{
    double b = 1 / sqrt(2.0);
    return x < 0 ? 0.5 * exp(x / b) : 1 - 0.5 * exp(-x / b);
}
static double cdf_t3(double x)
{
    double th = atan(x);    /* t / sqrt 3 = x sqrt 3 / sqrt 3 = x */
    return 0.5 + (th + sin(th) * cos(th)) / 3.14159265358979323846;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Kolmogorov–Smirnov distance of the sample (sorted in place) from cdf. */
static double ks(float *x, size_t n, double (*cdf)(double))
{
    double d = 0;
    qsort(x, n, sizeof *x, cmp_float);
    for (size_t i = 0; i < n; i++) {
        double f = cdf(x[i]), lo = f - (double)i / n, hi = (double)(i + 1) / n - f;
        d = fmax(d, fmax(lo, hi));
    }
    return d;
}

/* Generates n*dim values of a named source. */
static float *gen(const char *dist, const char *rank, uint32_t purpose, uint32_t trial, size_t n,
                  int dim)
{
    kvq_source s;
    char err[200];
    float *x = malloc(n * (size_t)dim * sizeof *x);
    if (kvq_source_parse(dist, rank, &s, err, sizeof err) ||
        kvq_source_generate(&s, SEED, purpose, trial, n, dim, x)) {
        diag("cannot generate %s: %s", dist, err);
        free(x);
        return NULL;
    }
    return x;
}

/* Standardized even moments of Student-t(nu) scaled to unit variance:
 * E t^4 = 3 nu^2/((nu-2)(nu-4)), E t^6 = 15 nu^3/((nu-2)(nu-4)(nu-6)),
 * E t^8 = 105 nu^4/((nu-2)...(nu-8)), times ((nu-2)/nu)^k. */
static void t_moments(double nu, double *m4, double *m6, double *m8)
{
    double s = (nu - 2) / nu;
    *m4 = 3 * nu * nu / ((nu - 2) * (nu - 4)) * s * s;
    *m6 = 15 * pow(nu, 3) / ((nu - 2) * (nu - 4) * (nu - 6)) * s * s * s;
    *m8 = 105 * pow(nu, 4) / ((nu - 2) * (nu - 4) * (nu - 6) * (nu - 8)) * s * s * s * s;
}

/* Delta-method standard error of m4/m2^2 for unit variance: the gradient
 * (-2 mu4, 1) applied to the covariance of (x^2, x^4). */
static double kurt_se(double m4, double m6, double m8, size_t n)
{
    double v = 4 * m4 * m4 * (m4 - 1) + (m8 - m4 * m4) - 4 * m4 * (m6 - m4);
    return sqrt(v / n);
}

/* Mean, variance and kurtosis of each family within 5 standard errors. */
static void test_moments(void)
{
    /* name, mu4, mu6, mu8 (unit variance); Gaussian 3, 15, 105; Laplace
     * (2k)! b^2k with b^2 = 1/2: 6, 90, 2520; t5 has no 6th moment, so
     * only its variance is tested (mu4 = 9). */
    struct { const char *name; double m4, m6, m8; int kurt; } tab[] = {
        {"gauss", 3, 15, 105, 1}, {"laplace", 6, 90, 2520, 1}, {"t10", 0, 0, 0, 1},
        {"t5", 9, 0, 0, 0}, {"outlier", 3, 15, 105, 0}};
    const size_t rows = 15625, dim = 64, n = rows * dim;  /* 10^6 values */
    t_moments(10, &tab[2].m4, &tab[2].m6, &tab[2].m8);
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        float *x = gen(tab[i].name, "full", KVQ_RNG_DATA_K, 0, rows, (int)dim);
        double mean = 0, var = 0, kurt = 0, se_var, se_k;
        if (x)
            moments(x, n, &mean, &var, &kurt);
        /* outlier: x^2 mixes channels of variance 100/c and 1/c; its
         * variance is (3 sum s_j^4)/dim - 1 with s_j^2 in {100/c, 1/c}. */
        if (!strcmp(tab[i].name, "outlier")) {
            double c = (60 + 4 * 100.0) / 64;
            se_var = sqrt((3 * (60 + 4 * 1e4) / (c * c * 64) - 1) / n);
        } else
            se_var = sqrt((tab[i].m4 - 1) / n);
        ok(x && fabs(mean) < 5 / sqrt((double)n) && fabs(var - 1) < 5 * se_var,
           "%s: mean %.5f, variance %.5f (1 +- %.5f)", tab[i].name, mean, var, 5 * se_var);
        if (tab[i].kurt) {
            se_k = kurt_se(tab[i].m4, tab[i].m6, tab[i].m8, n);
            ok(fabs(kurt - tab[i].m4) < 5 * se_k, "%s: kurtosis %.4f (%.3f +- %.4f)", tab[i].name,
               kurt, tab[i].m4, 5 * se_k);
        }
        free(x);
    }
}

/* Distribution shape against exact CDFs (KS at alpha = 0.001: 1.95/sqrt n),
 * and that t3 is not mistaken for a Gaussian. */
static void test_ks(void)
{
    const size_t rows = 1563, dim = 64, n = rows * dim;
    const double crit = 1.95 / sqrt((double)n);
    struct { const char *name; double (*cdf)(double); } tab[] = {
        {"gauss", cdf_gauss}, {"laplace", cdf_laplace}, {"t3", cdf_t3}};
    for (size_t i = 0; i < 3; i++) {
        float *x = gen(tab[i].name, "full", KVQ_RNG_DATA_V, 3, rows, (int)dim);
        double d = x ? ks(x, n, tab[i].cdf) : 1;
        ok(d < crit, "%s: KS distance %.5f < %.5f", tab[i].name, d, crit);
        if (i == 2)
            ok(x && ks(x, n, cdf_gauss) > 5 * crit, "t3 is far from Gaussian (KS %.4f)",
               ks(x, n, cdf_gauss));
        free(x);
    }
}

/* Eigenvalues of a symmetric matrix (cyclic Jacobi), sorted descending. */
static void eigen_sym(double *a, int n, double *ev)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        if (off < 1e-22)
            break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (fabs(apq) < 1e-300)
                    continue;
                double th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {   /* A <- J^T A J */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++)
        ev[i] = a[i * n + i];
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (ev[j] > ev[i]) {
                double t = ev[i];
                ev[i] = ev[j];
                ev[j] = t;
            }
}

/* Low rank r: r large eigenvalues of the covariance, the rest at the noise
 * level sigma^2/(1+sigma^2) = 0.0025/1.0025; average variance 1. */
static void test_low_rank(void)
{
    enum { D = 32, N = 4000 };
    static double cov[D * D], ev[D];
    struct { const char *dist; int r; double m4; } tab[] = {{"gauss", 4, 3}, {"t5", 8, 9}, {"laplace", 1, 6}};
    const double noise = 0.0025 / 1.0025;
    for (size_t c = 0; c < 3; c++) {
        char rank[8];
        snprintf(rank, sizeof rank, "%d", tab[c].r);
        float *x = gen(tab[c].dist, rank, KVQ_RNG_DATA_K, 1, N, D);
        double tr = 0;
        int r = tab[c].r;
        memset(cov, 0, sizeof cov);
        for (size_t i = 0; x && i < N; i++)
            for (int a = 0; a < D; a++)
                for (int b = 0; b < D; b++)
                    cov[a * D + b] += (double)x[i * D + a] * x[i * D + b] / N;
        for (int a = 0; a < D; a++)
            tr += cov[a * D + a];
        eigen_sym(cov, D, ev);
        ok(x && ev[r - 1] > 100 * ev[r] && ev[r] < 1.3 * noise && ev[D - 1] > 0.7 * noise,
           "%s rank %d: eigenvalue %d = %.3g, %d = %.3g, smallest %.3g (noise %.3g)", tab[c].dist, r,
           r, ev[r - 1], r + 1, ev[r], ev[D - 1], noise);
        /* unit variance on average: the mean over rows of ||x||^2/d, and
         * ||x||^2/d ~ sum_k z_k^2 (W W^T)_kk/d ~ mean of r values z^2, of
         * variance (mu4 - 1)/r; x1.5 for the spread of W W^T about (d/r) I */
        ok(fabs(tr / D - 1) < 5 * sqrt(1.5 * (tab[c].m4 - 1) / (r * (double)N)),
           "%s rank %d: average variance %.4f", tab[c].dist, r, tr / D);
        free(x);
    }
}

/* Outlier channels: 4 channels at 10x before renormalization, at the same
 * positions for K and Q of a trial. */
static void test_outliers(void)
{
    enum { D = 64, N = 20000 };
    double vk[D] = {0}, vq[D] = {0}, vt[D] = {0};
    float *k = gen("outlier", "full", KVQ_RNG_DATA_K, 0, N, D);
    float *q = gen("outlier", "full", KVQ_RNG_DATA_Q, 0, N, D);
    float *t = gen("outlier", "full", KVQ_RNG_DATA_K, 1, N, D);
    int big = 0, same = 1, moved = 0;
    double c = (60 + 4 * 100.0) / 64, small_max = 0, big_min = 1e9;
    for (size_t i = 0; k && q && t && i < N; i++)
        for (int j = 0; j < D; j++) {
            vk[j] += (double)k[i * D + j] * k[i * D + j] / N;
            vq[j] += (double)q[i * D + j] * q[i * D + j] / N;
            vt[j] += (double)t[i * D + j] * t[i * D + j] / N;
        }
    for (int j = 0; j < D; j++) {
        int bk = vk[j] > 1, bq = vq[j] > 1, bt = vt[j] > 1;
        big += bk;
        same &= bk == bq;
        moved += bk != bt;
        if (bk)
            big_min = fmin(big_min, vk[j]);
        else
            small_max = fmax(small_max, fabs(vk[j] * c - 1));
    }
    ok(big == 4 && fabs(big_min * c / 100 - 1) < 0.1 && small_max < 0.1,
       "4 outlier channels with variance 100/%.3f, others 1/%.3f", c, c);
    ok(same && moved > 0, "same channels for K and Q of a trial, others in another trial");
    free(k);
    free(q);
    free(t);
}

/* Needle: with alpha = 4 every query's top key is its planted key; queries
 * keep unit variance; without a needle queries are the DATA_Q draw. */
static void test_needle(void)
{
    enum { D = 64, N = 256, M = 64 };
    kvq_source s;
    char err[200];
    float *k = gen("gauss", "full", KVQ_RNG_DATA_K, 2, N, D), q[M * D], q2[M * D];
    int hits = 0, rc;
    double ss = 0;
    rc = kvq_source_parse("gauss+needle4", "full", &s, err, sizeof err);
    rc = rc ? rc : kvq_source_queries(&s, SEED, 2, k, N, M, D, q);
    for (size_t i = 0; !rc && k && i < M; i++) {
        size_t best = 0, want = kvq__source_needle_index(SEED, 2, i, N);
        double bv = -1e30;
        for (size_t j = 0; j < N; j++) {
            double dot = 0;
            for (int c = 0; c < D; c++)
                dot += (double)q[i * D + c] * k[j * D + c];
            if (dot > bv) {
                bv = dot;
                best = j;
            }
        }
        hits += best == want;
        for (int c = 0; c < D; c++)
            ss += (double)q[i * D + c] * q[i * D + c];
    }
    ok(hits == M, "needle alpha 4: %d/%d queries peak at their planted key", hits, M);
    /* var of q_j: (16 var k + var e)/17 = 1; mean of M*D squares, SE sqrt(2/(M D)) */
    ok(fabs(ss / (M * D) - 1) < 5 * sqrt(2.0 / (M * D)), "needle queries: variance %.4f",
       ss / (M * D));
    kvq_source_parse("gauss", "full", &s, err, sizeof err);
    kvq_source_queries(&s, SEED, 2, k, N, M, D, q);
    kvq_source_generate(&s, SEED, KVQ_RNG_DATA_Q, 2, M, D, q2);
    ok(!memcmp(q, q2, sizeof q), "no needle: queries = generate(DATA_Q)");
    size_t cnt[4] = {0};
    for (size_t i = 0; i < 40000; i++)
        cnt[kvq__source_needle_index(SEED, 2, i, 4)]++;
    ok(cnt[0] > 9500 && cnt[1] > 9500 && cnt[2] > 9500 && cnt[3] > 9500 &&
       cnt[0] < 10500 && cnt[1] < 10500 && cnt[2] < 10500 && cnt[3] < 10500,
       "needle index uniform over 4 keys: %zu %zu %zu %zu (10000 +- 500 = 5.8 sd)", cnt[0], cnt[1],
       cnt[2], cnt[3]);
    free(k);
}

/* Same arguments, same numbers; rows do not depend on n; streams differ. */
static void test_determinism(void)
{
    const char *dists[] = {"gauss", "t3", "laplace", "outlier"};
    for (int d = 0; d < 4; d++)
        for (int lr = 0; lr < 2; lr++) {
            const char *rank = lr ? "3" : "full";
            float *a = gen(dists[d], rank, KVQ_RNG_DATA_K, 5, 20, 16);
            float *b = gen(dists[d], rank, KVQ_RNG_DATA_K, 5, 7, 16);
            float *c = gen(dists[d], rank, KVQ_RNG_DATA_K, 6, 20, 16);
            float *v = gen(dists[d], rank, KVQ_RNG_DATA_V, 5, 20, 16);
            ok(a && b && c && v && !memcmp(a, b, 7 * 16 * sizeof *a) &&
               memcmp(a, c, 20 * 16 * sizeof *a) && memcmp(a, v, 20 * 16 * sizeof *a),
               "%s rank %s: prefix-stable rows; trial and purpose change the data", dists[d], rank);
            free(a);
            free(b);
            free(c);
            free(v);
        }
}

/* Names: canonical forms, parameters, and rejections. */
static void test_parse(void)
{
    static const struct { const char *dist, *rank, *name; int family, r; double nu, needle; } good[] = {
        {"gauss", "full", "gauss", KVQ_DIST_GAUSS, 0, 0, 0},
        {"t3", "8", "t3", KVQ_DIST_STUDENT_T, 8, 3, 0},
        {"t2.5", NULL, "t2.5", KVQ_DIST_STUDENT_T, 0, 2.5, 0},
        {"laplace", "1", "laplace", KVQ_DIST_LAPLACE, 1, 0, 0},
        {"outlier", "full", "outlier", KVQ_DIST_OUTLIER, 0, 0, 0},
        {"outlier8x20", "full", "outlier8x20", KVQ_DIST_OUTLIER, 0, 0, 0},
        {"t5+needle0.5", "full", "t5+needle0.5", KVQ_DIST_STUDENT_T, 0, 5, 0.5},
        {"gauss+needle2", "16", "gauss+needle2", KVQ_DIST_GAUSS, 16, 0, 2},
    };
    static const char *bad_dist[] = {"cauchy", "t2", "t1.5", "t", "tx", "t3x", "gauss+needle",
                                     "gauss+needle-1", "gauss+needle0", "gauss+foo", "outlier0",
                                     "outlierx", "outlier4x0", "outlier4x", "Gauss", "gaussian"};
    static const char *bad_rank[] = {"0", "-1", "8x", "abc", "1024", " 4", "fullish"};
    kvq_source s;
    char err[200];
    int all = 1;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = kvq_source_parse(good[i].dist, good[i].rank, &s, err, sizeof err);
        int match = rc == 0 && !strcmp(s.name, good[i].name) && s.family == good[i].family &&
                    s.rank == good[i].r && (good[i].nu == 0 || s.nu == good[i].nu) &&
                    s.needle == good[i].needle;
        if (!match)
            diag("%s/%s parsed as %s rank %d (%s)", good[i].dist, good[i].rank, s.name, s.rank, err);
        all &= match;
    }
    ok(all, "valid dist/rank names parse to their canonical form");
    kvq_source_parse("outlier8x20", NULL, &s, err, sizeof err);
    ok(s.outliers == 8 && s.outlier_scale == 20, "outlier8x20: 8 channels x 20");
    all = 1;
    for (size_t i = 0; i < sizeof bad_dist / sizeof bad_dist[0]; i++) {
        int rc = kvq_source_parse(bad_dist[i], "full", &s, err, sizeof err);
        if (rc != KVQ_ERR_BAD_SPEC)
            diag("'%s' accepted", bad_dist[i]);
        all &= rc == KVQ_ERR_BAD_SPEC;
    }
    ok(all, "invalid dist names rejected (e.g. t2: %s)",
       (kvq_source_parse("t2", NULL, &s, err, sizeof err), err));
    all = 1;
    for (size_t i = 0; i < sizeof bad_rank / sizeof bad_rank[0]; i++)
        all &= kvq_source_parse("gauss", bad_rank[i], &s, err, sizeof err) == KVQ_ERR_BAD_SPEC;
    ok(all, "invalid ranks rejected");
    kvq_source_parse("gauss", "64", &s, err, sizeof err);
    ok(kvq_source_check(&s, 64, err, sizeof err) == KVQ_ERR_INVALID_ARG &&
       kvq_source_check(&s, 128, err, sizeof err) == 0, "rank must be below d");
}

int main(void)
{
    plan(8 + 4 + 6 + 2 + 4 + 8 + 5);
    diag("seed %u", SEED);
    test_moments();
    test_ks();
    test_low_rank();
    test_outliers();
    test_needle();
    test_determinism();
    test_parse();
    return exit_status();
}
