/* test_codebook.c — Lloyd–Max codebooks of f_d (doc/quantization.md §4), checked against an
 * independent quadrature of the density as doc/quantization.md §4.1 writes it, against published
 * Gaussian Lloyd–Max values, and for symmetry, order, caching and arguments. */
#include <math.h>
#include <pthread.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define PI 3.14159265358979323846
#define GL_N 20

static double gl_x[GL_N], gl_w[GL_N];   /* Gauss–Legendre nodes/weights on [−1, 1] */

/* Gauss–Legendre rule by Newton on P_n (three-term recurrence); independent of src/core. */
static void gl_init(void)
{
    for (int i = 0; i < GL_N; i++) {
        double x = cos(PI * (i + 0.75) / (GL_N + 0.5)), dp = 0;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = x;
            for (int k = 2; k <= GL_N; k++) {
                double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            dp = GL_N * (x * p1 - p0) / (x * x - 1);
            double dx = p1 / dp;
            x -= dx;
            if (fabs(dx) < 1e-16)
                break;
        }
        gl_x[i] = x;
        gl_w[i] = 2 / ((1 - x * x) * dp * dp);
    }
}

/* f_d(x) = Γ(d/2)/(sqrt(π) Γ((d−1)/2)) (1 − x²)^((d−3)/2), exactly as doc/quantization.md §4.1 writes it. */
static double f_d(int d, double x)
{
    double lc = lgamma(d / 2.0) - lgamma((d - 1) / 2.0) - 0.5 * log(PI);
    return exp(lc + (d - 3) / 2.0 * log1p(-x * x));
}

/* ∫_lo^hi x^k f_d(x) (x − c)^(2·[k=2]) dx for k = 0, 1, or the squared error about c (k = 2),
 * by composite Gauss–Legendre over 40 panels; the range is cut at 60 standard deviations. */
static double integrate(int d, double lo, double hi, int k, double c)
{
    double cut = 60.0 / sqrt(d), s = 0;
    if (hi > lo + cut && lo > 0)
        hi = lo + cut;
    if (lo < hi - cut && hi < 0)
        lo = hi - cut;
    int panels = 40;
    double h = (hi - lo) / panels;
    for (int p = 0; p < panels; p++)
        for (int i = 0; i < GL_N; i++) {
            double x = lo + h * (p + 0.5 + 0.5 * gl_x[i]);
            double g = k == 0 ? 1 : k == 1 ? x : (x - c) * (x - c);
            s += 0.5 * h * gl_w[i] * g * f_d(d, x);
        }
    return s;
}

/* Checks for one dim: centroid, midpoint and symmetry conditions, distortion, monotone D_b. */
static void check_dim(int d)
{
    double cen_err = 0, mid_err = 0, sym_err = 0, dist_err = 0, mass_err = 0;
    int ordered = 1, decreasing = 1, got = 0;
    double prev_D = 1.0;
    for (int b = 1; b <= 8; b++) {
        const kvq_codebook *cb;
        if (kvq_codebook_get(d, b, &cb) != 0)
            continue;
        got++;
        int n = cb->levels;
        double Dq = 0, mass = 0;
        ordered &= cb->dim == d && cb->bits == b && n == 1 << b;
        for (int i = 0; i < n; i++) {
            double lo = i ? cb->thresholds[i - 1] : -1, hi = i < n - 1 ? cb->thresholds[i] : 1;
            double P = integrate(d, lo, hi, 0, 0), M = integrate(d, lo, hi, 1, 0);
            cen_err = fmax(cen_err, fabs(cb->centroids[i] - M / P));
            Dq += d * integrate(d, lo, hi, 2, cb->centroids[i]);   /* normalized below */
            mass += P;
            sym_err = fmax(sym_err, fabs(cb->centroids[i] + cb->centroids[n - 1 - i]));
            if (i > 0) {
                ordered &= cb->centroids[i] > cb->centroids[i - 1];
                mid_err = fmax(mid_err, fabs(cb->thresholds[i - 1] -
                                             0.5 * (cb->centroids[i - 1] + cb->centroids[i])));
            }
        }
        mass_err = fmax(mass_err, fabs(mass - 1));
        Dq /= mass;     /* self-normalized: lgamma's ~1e-13 error in f_d's constant cancels */
        dist_err = fmax(dist_err, fabs(Dq - cb->distortion) / cb->distortion);
        decreasing &= cb->distortion < prev_D && cb->distortion > 0;
        prev_D = cb->distortion;
    }
    diag("d=%d: quadrature mass error %.1e", d, mass_err);
    ok(got == 8 && cen_err < 1e-10 && mass_err < 1e-12,
       "d=%d: every centroid is its cell's conditional mean (max error %.2e)", d, cen_err);
    ok(got == 8 && ordered && mid_err < 1e-10 && sym_err < 1e-14,
       "d=%d: ascending, thresholds are midpoints (%.1e), symmetric (%.1e)", d, mid_err, sym_err);
    ok(got == 8 && dist_err < 1e-9,
       "d=%d: D_b(d) matches quadrature of d·E[(x-Q(x))^2] (max rel. error %.1e)", d, dist_err);
    ok(got == 8 && decreasing, "d=%d: D_b(d) decreasing in b", d);
}

/* Every d in 16…1024 has a codebook, and D_4(d) moves smoothly with d: the
 * distortion at d lies between its neighbours' (it rises towards the Gaussian
 * limit), so no d falls back on another's cache slot. */
static void check_between(void)
{
    int bad = 0;
    double prev = 0;
    for (int d = 16; d <= 1024; d++) {
        const kvq_codebook *cb;
        if (kvq_codebook_get(d, 4, &cb) != 0 || cb->dim != d || !(cb->distortion > prev)) {
            bad++;
            continue;
        }
        prev = cb->distortion;
    }
    ok(bad == 0, "every d in 16..1024 has its own codebook; D_4(d) strictly rising (%d bad)", bad);
}

/* Gaussian limit at d = 1024: published Lloyd–Max distortions of N(0,1)
 * (Max 1960; the figures the issue quotes for TurboQuant) within 1 %. */
static void check_gaussian_limit(void)
{
    static const double gauss_D[4] = {0.3634, 0.1175, 0.03454, 0.009497};
    for (int b = 1; b <= 4; b++) {
        const kvq_codebook *cb;
        int st = kvq_codebook_get(1024, b, &cb);
        double rel = st ? 1 : fabs(cb->distortion / gauss_D[b - 1] - 1);
        ok(rel < 0.01, "d=1024: D_%d = %.6g within 1%% of Gaussian %.6g (%.2f%%)", b,
           st ? 0 : cb->distortion, gauss_D[b - 1], 100 * rel);
    }
    /* Max (1960), Table I, N = 4 levels: outputs ±0.4528, ±1.510 (units of σ). */
    const kvq_codebook *cb;
    kvq_codebook_get(1024, 2, &cb);
    double s = sqrt(1024.0);
    ok(fabs(cb->centroids[2] * s / 0.4528 - 1) < 2e-3 && fabs(cb->centroids[3] * s / 1.510 - 1) < 2e-3,
       "d=1024, b=2: centroids·sqrt(d) = %.4f, %.4f vs Max's 0.4528, 1.510",
       cb->centroids[2] * s, cb->centroids[3] * s);
}

/* Γ(k)/Γ(k + 1/2) by the recurrence g(k+1) = g(k)·k/(k + 1/2), g(1) = 2/sqrt(π)
 * (exact to rounding, unlike a difference of lgammas near 3e3). */
static double gamma_ratio(int k)
{
    double g = 2 / sqrt(PI);
    for (int j = 1; j < k; j++)
        g *= j / (j + 0.5);
    return g;
}

/* b = 1: the centroid is E[x | x > 0] = Γ(d/2)/(sqrt(π) Γ((d+1)/2)) → sqrt(2/π)/sqrt(d). */
static void check_one_bit(void)
{
    double closed_err = 0, prev = INFINITY, last = 0;
    int shrinking = 1;
    for (int d = 16; d <= 1024; d *= 2) {
        const kvq_codebook *cb;
        kvq_codebook_get(d, 1, &cb);
        double c = cb->centroids[1];
        double closed = gamma_ratio(d / 2) / sqrt(PI);
        closed_err = fmax(closed_err, fabs(c / closed - 1));
        last = fabs(c * sqrt(d) / sqrt(2 / PI) - 1);
        shrinking &= last < prev;
        prev = last;
    }
    ok(closed_err < 1e-13, "b=1 centroid equals the closed form (max rel. error %.1e)", closed_err);
    ok(shrinking && last < 1e-3,
       "b=1 centroid·sqrt(d) tends to sqrt(2/pi): relative gap shrinks with d, %.2e at d=1024", last);
}

/* Worker of the concurrency check: fetches one not-yet-cached codebook. */
static void *fetch(void *arg)
{
    const kvq_codebook **out = arg;
    if (kvq_codebook_get(512, 7, out) != 0)
        *out = NULL;
    return NULL;
}

/* Cache: concurrent first requests share one entry; later requests return it. */
static void check_cache(void)
{
    pthread_t th[4];
    const kvq_codebook *got[4] = {0}, *again = NULL;
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, fetch, &got[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    kvq_codebook_get(512, 7, &again);
    ok(got[0] && got[0] == got[1] && got[1] == got[2] && got[2] == got[3] && again == got[0],
       "four threads and a later call share one cached codebook");
}

/* Out-of-range arguments. */
static void check_args(void)
{
    const kvq_codebook *cb = (const kvq_codebook *)&cb;
    int bad = 0;
    const int dims[] = {0, 8, 15, 1025, 2048, -16}, bits[] = {0, 9, -1};
    for (int i = 0; i < 6; i++)
        bad += kvq_codebook_get(dims[i], 4, &cb) != KVQ_ERR_INVALID_ARG;
    for (int i = 0; i < 3; i++)
        bad += kvq_codebook_get(128, bits[i], &cb) != KVQ_ERR_INVALID_ARG;
    bad += kvq_codebook_get(128, 4, NULL) != KVQ_ERR_INVALID_ARG;
    ok(bad == 0, "bad dim / bits / NULL are KVQ_ERR_INVALID_ARG");
}

int main(void)
{
    plan(11 * 4 + 1 + 5 + 2 + 1 + 1);
    gl_init();
    check_cache();                       /* first, so (512, 7) is not cached yet */
    for (int d = 16; d <= 1024; d *= 2)
        check_dim(d);
    /* the law exists for every d: odd ones (lgamma constant), real head sizes */
    static const int other_dims[] = {17, 80, 96, 1023};
    for (size_t i = 0; i < sizeof other_dims / sizeof other_dims[0]; i++)
        check_dim(other_dims[i]);
    check_between();
    check_gaussian_limit();
    check_one_bit();
    check_args();
    return exit_status();
}
