/* codebook.c — Lloyd–Max quantizers of the hypersphere Beta law f_d (doc/quantization.md §4).
 *
 * f_d(x) = (1 − x²)^a / Z on [−1, 1], a = (d−3)/2, Z = B(1/2, α), α = a+1.
 * Cell masses come from the regularized incomplete Beta function
 * ((x+1)/2 ~ Beta(α, α)), first moments from the closed form
 * ∫ x (1−x²)^a dx = −(1−x²)^α / (2α), so centroids are exact to rounding.
 * The fixed point "centroid = conditional mean of its midpoint cell" is found
 * by Lloyd steps from a companding start (point density ∝ f^(1/3)), finished
 * by Newton steps on the tridiagonal Jacobian. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "kvq.h"
#include "core/core.h"

/* The law (1 − x²)^a / Z and its constant. */
typedef struct law {
    double a, alpha;    /* exponent a; α = a + 1 = the Beta parameter of (x+1)/2 */
    double log_z;       /* log Z, Z = B(1/2, α) = ∫_{−1}^{1} (1 − x²)^a dx */
} law;

/* log B(1/2, α), as a product where α is an integer or a half-integer (every
 * d: α = (d−1)/2), which avoids the cancellation of lgamma differences at
 * large d (~1e-12, which D_b(d) = 1 − … would amplify ~1e4-fold):
 * B(1/2, k + 1/2) = π · Π_{j=1..k} (j − 1/2)/j and B(1/2, k) = 2 · Π_{j=1..k−1} j/(j + 1/2),
 * both from B(1/2, α + 1) = B(1/2, α) · α/(α + 1/2). */
static double log_beta_half(double alpha)
{
    double k = alpha - 0.5;
    if (k >= 0 && k <= 1e5 && k == floor(k)) {
        double p = KVQ_PI;
        for (int j = 1; j <= (int)k; j++)
            p *= (j - 0.5) / j;
        return log(p);
    }
    if (alpha >= 1 && alpha <= 1e5 && alpha == floor(alpha)) {
        double p = 2.0;
        for (int j = 1; j < (int)alpha; j++)
            p *= j / (j + 0.5);
        return log(p);
    }
    return lgamma(0.5) + lgamma(alpha) - lgamma(alpha + 0.5);
}

/* Sets up the law with exponent a. */
static void law_init(law *L, double a)
{
    L->a = a;
    L->alpha = a + 1.0;
    L->log_z = log_beta_half(L->alpha);
}

/* Continued fraction 1 + d1/(1 + d2/(1 + …)) of I_y(α, α) (DLMF 8.17.22), modified Lentz. */
static double ibeta_cf(double y, double al)
{
    const double tiny = 1e-300;
    double f = 1.0, C = 1.0, D = 0.0;
    for (int j = 1; j < 100000; j++) {
        int m = j / 2;
        double dj = (j & 1)
            ? -(al + m) * (2.0 * al + m) * y / ((al + 2 * m) * (al + 2 * m + 1))
            : m * (al - m) * y / ((al + 2 * m - 1) * (al + 2 * m));
        D = 1.0 + dj * D;
        D = fabs(D) < tiny ? tiny : D;
        C = 1.0 + dj / C;
        C = fabs(C) < tiny ? tiny : C;
        D = 1.0 / D;
        f *= C * D;
        if (fabs(C * D - 1.0) < 1e-16)
            break;
    }
    return f;
}

/* P(X > x) for 0 ≤ x ≤ 1: I_y(α, α) with y = (1−x)/2 ≤ 1/2, where the
 * continued fraction converges. Its prefactor y^α (1−y)^α / (α B(α, α)) is
 * (1 − x²)^α / (2α Z) by the duplication formula B(α, α) = 2^(1−2α) Z, so mass
 * and moment share the one constant Z. */
static double law_tail_pos(const law *L, double x)
{
    if (x >= 1.0)
        return 0.0;
    if (x == 0.0)
        return 0.5;
    double y = 0.5 * (1.0 - x);
    double lf = L->alpha * log1p(-x * x) - log(2.0 * L->alpha) - L->log_z;
    return exp(lf) / ibeta_cf(y, L->alpha);
}

/* P(X > x) on [−1, 1]. */
static double law_tail(const law *L, double x)
{
    return x >= 0.0 ? law_tail_pos(L, x) : 1.0 - law_tail_pos(L, -x);
}

/* P(lo < X < hi), differencing the smaller tails for accuracy. */
static double law_mass(const law *L, double lo, double hi)
{
    if (hi <= 0.0)
        return law_mass(L, -hi, -lo);
    return law_tail(L, lo) - law_tail(L, hi);
}

/* ∫_lo^hi x f(x) dx = [(1−lo²)^α − (1−hi²)^α] / (2αZ), as a difference of exponentials. */
static double law_moment(const law *L, double lo, double hi)
{
    double el = L->alpha * log1p(-lo * lo), eh = L->alpha * log1p(-hi * hi);
    double diff = el >= eh ? exp(el) * -expm1(eh - el) : -exp(eh) * -expm1(el - eh);
    return diff * exp(-L->log_z) / (2.0 * L->alpha);
}

/* The density f(x). */
static double law_pdf(const law *L, double x)
{
    return exp(L->a * log1p(-x * x) - L->log_z);
}

/* The x with P(X > x) = p (0 < p < 1), by bisection. */
static double law_quantile_upper(const law *L, double p)
{
    double lo = -1.0, hi = 1.0;
    for (int i = 0; i < 200 && hi - lo > 4 * DBL_EPSILON; i++) {
        double mid = 0.5 * (lo + hi);
        if (law_tail(L, mid) > p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Midpoint thresholds of n ascending centroids, with the outer edges ±1. */
static void cell_edges(const double *c, int n, double *edge /* n+1 */)
{
    edge[0] = -1.0;
    edge[n] = 1.0;
    for (int i = 1; i < n; i++)
        edge[i] = 0.5 * (c[i - 1] + c[i]);
}

/* One Lloyd map: g[i] = conditional mean of cell i, with its partial
 * derivatives dlo[i], dhi[i] with respect to the cell's edges. Returns max |g − c|. */
static double lloyd_map(const law *L, const double *c, int n, double *edge, double *g,
                        double *dlo, double *dhi)
{
    double res = 0.0;
    cell_edges(c, n, edge);
    for (int i = 0; i < n; i++) {
        double lo = edge[i], hi = edge[i + 1];
        double P = law_mass(L, lo, hi);
        g[i] = law_moment(L, lo, hi) / P;
        dlo[i] = i > 0 ? law_pdf(L, lo) * (g[i] - lo) / P : 0.0;
        dhi[i] = i < n - 1 ? law_pdf(L, hi) * (hi - g[i]) / P : 0.0;
        res = fmax(res, fabs(g[i] - c[i]));
    }
    return res;
}

/* Solves the tridiagonal Newton system J δ = −(g − c) in place (Thomas algorithm);
 * J has sub dlo/2, diagonal (dlo+dhi)/2 − 1, super dhi/2. Returns 0 or −1 if singular. */
static int newton_step(const double *c, const double *g, const double *dlo, const double *dhi,
                       int n, double *delta, double *work)
{
    double prev_super = 0.0, prev_rhs = 0.0;
    for (int i = 0; i < n; i++) {
        double sub = 0.5 * dlo[i], diag = 0.5 * (dlo[i] + dhi[i]) - 1.0;
        double rhs = -(g[i] - c[i]);
        double den = diag - (i > 0 ? sub * prev_super : 0.0);
        if (fabs(den) < 1e-300)
            return -1;
        prev_super = 0.5 * dhi[i] / den;
        prev_rhs = (rhs - (i > 0 ? sub * prev_rhs : 0.0)) / den;
        work[i] = prev_super;
        delta[i] = prev_rhs;
    }
    for (int i = n - 2; i >= 0; i--)
        delta[i] -= work[i] * delta[i + 1];
    return 0;
}

/* Forces exact antisymmetry c[i] = −c[n−1−i]. */
static void symmetrize(double *c, int n)
{
    for (int i = 0; i < n / 2; i++) {
        double v = 0.5 * (c[n - 1 - i] - c[i]);
        c[i] = -v;
        c[n - 1 - i] = v;
    }
}

/* 1 if c is strictly ascending inside (−1, 1). */
static int ordered(const double *c, int n)
{
    if (!(c[0] > -1.0 && c[n - 1] < 1.0))
        return 0;
    for (int i = 1; i < n; i++)
        if (!(c[i] > c[i - 1]))
            return 0;
    return 1;
}

/* Companding start: c[i] at quantile (i + 1/2)/n of the point density ∝ f^(1/3). */
static void initial_centroids(const law *L, double *c, int n)
{
    law comp;
    law_init(&comp, L->a / 3.0);
    for (int i = 0; i < n; i++)
        c[i] = law_quantile_upper(&comp, 1.0 - (i + 0.5) / n);
    symmetrize(c, n);
}

/* Iterates to the fixed point: a Newton step where it is ordered and lowers
 * the residual max |g − c|, else a Lloyd step c ← g. work holds 8n+1 doubles.
 * Returns the final residual (the size of one more Lloyd step). */
static double lloyd_max_solve(const law *L, double *c, int n, double *work)
{
    double *edge = work, *g = edge + n + 1, *dlo = g + n, *dhi = dlo + n;
    double *delta = dhi + n, *tmp = delta + n, *trial = tmp + n, *gt = trial + n;
    double res = lloyd_map(L, c, n, edge, g, dlo, dhi);
    int stall = 0;
    for (int it = 0; it < 20000 && res > 1e-16 && stall < 3; it++) {
        double next = INFINITY;
        if (newton_step(c, g, dlo, dhi, n, delta, tmp) == 0) {
            for (int i = 0; i < n; i++)
                trial[i] = c[i] + delta[i];
            symmetrize(trial, n);
            if (ordered(trial, n))
                next = lloyd_map(L, trial, n, edge, gt, tmp, tmp);
        }
        if (!(next < res)) {            /* Newton failed: take the Lloyd step */
            for (int i = 0; i < n; i++)
                trial[i] = g[i];
            symmetrize(trial, n);
        }
        for (int i = 0; i < n; i++)
            c[i] = trial[i];
        next = lloyd_map(L, c, n, edge, g, dlo, dhi);
        stall = next < res ? 0 : stall + 1;
        res = next;
    }
    return res;
}

/* Distortion d·E[(x − Q(x))²] = d·(1/d − 2 Σ c_i M_i + Σ P_i c_i²), valid for any c. */
static double distortion(const law *L, const double *c, int n, int dim)
{
    double edge[257], s = 0.0;
    cell_edges(c, n, edge);
    for (int i = 0; i < n; i++) {
        double P = law_mass(L, edge[i], edge[i + 1]);
        double M = law_moment(L, edge[i], edge[i + 1]);
        s += c[i] * (c[i] * P - 2.0 * M);
    }
    return 1.0 + dim * s;
}

static int codebook_compute(kvq_codebook *cb, double *cent, double *thr)
{
    law L;
    int n = cb->levels;
    double *work = malloc((8 * (size_t)n + 1) * sizeof *work);
    if (!work)
        return KVQ_ERR_NOMEM;
    law_init(&L, 0.5 * (cb->dim - 3));
    initial_centroids(&L, cent, n);
    double res = lloyd_max_solve(&L, cent, n, work);
    free(work);
    if (!(res < 1e-12) || !ordered(cent, n))
        return KVQ_ERR_INTERNAL;
    for (int i = 0; i + 1 < n; i++)
        thr[i] = 0.5 * (cent[i] + cent[i + 1]);
    cb->centroids = cent;
    cb->thresholds = thr;
    cb->distortion = distortion(&L, cent, n, cb->dim);
    return 0;
}

/* 1 if dim is a head dimension kvq accepts: any integer in 16…1024 (the law
 * f_d exists for every d ≥ 3; doc/quantization.md §4). */
int kvq__core_dim_ok(int dim)
{
    return dim >= KVQ__DIM_MIN && dim <= KVQ__DIM_MAX;
}

int kvq__core_pow2(int dim)
{
    return dim > 0 && (dim & (dim - 1)) == 0;
}

/* One cache slot per accepted (dim, bits): computed on first use, kept for
 * the process (a few KiB each; only the dims a run asks for are filled). */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static kvq_codebook *cache[KVQ__DIM_MAX][8];    /* [d − 1][b − 1]; NULL until computed */

/* d = 1: u = x/|x| is ±1 exactly, so the codebook is {−1, +1} (the lower half
 * of the levels at −1, the upper at +1) and loses nothing. Only the middle
 * threshold (0) separates values; the others, between equal levels, lie
 * beyond ±1 (±2), so every u of one sign takes the same code: on ±1 itself
 * the device's float u = x·(1/|x|), a rounding off ±1, would otherwise pick
 * another of the equal levels than the host. */
static void codebook_sign(kvq_codebook *cb, double *cent, double *thr)
{
    int n = cb->levels;
    for (int i = 0; i < n; i++)
        cent[i] = i < n / 2 ? -1.0 : 1.0;
    for (int i = 0; i + 1 < n; i++)
        thr[i] = cent[i] == cent[i + 1] ? 2.0 * cent[i] : 0.5 * (cent[i] + cent[i + 1]);
    cb->centroids = cent;
    cb->thresholds = thr;
    cb->distortion = 0.0;
}

/* The cached Lloyd–Max codebook of f_d for (dim, bits), computed once in double. */
int kvq_codebook_get(int dim, int bits, const kvq_codebook **cb)
{
    if (!cb || !kvq__core_dim_ok(dim))
        return KVQ_ERR_INVALID_ARG;
    return kvq__codebook_any(dim, bits, cb);
}

int kvq__codebook_any(int dim, int bits, const kvq_codebook **cb)
{
    if (!cb || dim < 1 || dim > KVQ__DIM_MAX || bits < 1 || bits > 8)
        return KVQ_ERR_INVALID_ARG;
    int st = 0;
    kvq_codebook **e = &cache[dim - 1][bits - 1];
    pthread_mutex_lock(&cache_lock);
    if (!*e) {
        int n = 1 << bits;
        /* the record, then its centroids and thresholds, in one block */
        kvq_codebook *mem = malloc(sizeof *mem + (2 * (size_t)n - 1) * sizeof(double));
        if (mem) {
            double *cent = (double *)(mem + 1);
            *mem = (kvq_codebook){dim, bits, n, NULL, NULL, 0.0};
            if (dim == 1)
                codebook_sign(mem, cent, cent + n);
            else
                st = codebook_compute(mem, cent, cent + n);
        } else {
            st = KVQ_ERR_NOMEM;
        }
        if (st == 0)
            *e = mem;
        else
            free(mem);
    }
    pthread_mutex_unlock(&cache_lock);
    *cb = st == 0 ? *e : NULL;
    return st;
}

int kvq_codebook_levels(const kvq_codebook *cb) { return cb->levels; }
const double *kvq_codebook_centroids(const kvq_codebook *cb) { return cb->centroids; }
const double *kvq_codebook_thresholds(const kvq_codebook *cb) { return cb->thresholds; }
double kvq_codebook_distortion(const kvq_codebook *cb) { return cb->distortion; }
