/* stats.c — the inference of doc/statistics.md: percentile bootstrap CI of a mean,
 * Wilcoxon signed-rank and sign tests, Holm–Bonferroni, paired comparisons. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KVQ_BOOT_DEFAULT 10000
#define KVQ_WILCOXON_EXACT_MAX 25
#define KVQ_ALPHA 0.05

/* Copies the non-NaN entries of x into a new array; *m gets their count. */
static double *finite_copy(const double *x, size_t n, size_t *m)
{
    double *y = malloc((n ? n : 1) * sizeof *y);
    *m = 0;
    if (!y)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]))
            y[(*m)++] = x[i];
    return y;
}

/* Exchanges a[i] and a[j] when a[j] < a[i]. */
static void order2(double *a, size_t i, size_t j)
{
    if (a[j] < a[i]) {
        double t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Hoare partition of a[0..n), n >= 2: returns j with a[0..j] <= a[j+1..n),
 * both parts non-empty. The pivot is the median of the first, middle and
 * last entries, put in order first; the middle index (n − 1)/2 is below
 * n − 1, which keeps the upper part non-empty. Equal values stop both
 * scans, so runs of ties split evenly instead of degrading. */
static size_t partition(double *a, size_t n)
{
    size_t mid = (n - 1) / 2, i = 0, j = n - 1;
    order2(a, 0, mid);
    order2(a, mid, n - 1);
    order2(a, 0, mid);
    double pivot = a[mid];
    for (;;) {
        while (a[i] < pivot)
            i++;
        while (pivot < a[j])
            j--;
        if (i >= j)
            return j;
        double t = a[i];
        a[i++] = a[j];
        a[j--] = t;
    }
}

/* Rearranges a[0..n) so that a[k] is the value a sort would put there, with
 * nothing larger before it and nothing smaller after it (quickselect). */
static void select_nth(double *a, size_t n, size_t k)
{
    while (n > 1) {
        size_t j = partition(a, n);
        if (k <= j) {
            n = j + 1;
        } else {
            a += j + 1;
            n -= j + 1;
            k -= j + 1;
        }
    }
}

/* Smallest of a[0..n), n >= 1. */
static double min_of(const double *a, size_t n)
{
    double m = a[0];
    for (size_t i = 1; i < n; i++)
        m = a[i] < m ? a[i] : m;
    return m;
}

/* s_k of a[0..n) (the value a sort would put at k) and s_k+1 (k + 1 < n;
 * else s_k again): s_k by selection, s_k+1 as the minimum of what lies above
 * it. Order statistics are the same values however they are found, ties
 * included, so this equals reading a sorted copy. */
static void order_pair(double *a, size_t n, size_t k, double s[2])
{
    select_nth(a, n, k);
    s[0] = a[k];
    s[1] = k + 1 < n ? min_of(a + k + 1, n - k - 1) : a[k];
}

/* Values of the sample that narrow() draws, and the least n it is used for. */
#define KVQ_SAMPLE 512
#define KVQ_NARROW_MIN (4 * KVQ_SAMPLE)

/* A rank in the sample at which at least `need` of n values lie at or below
 * its value, but for a miss of more than 4 standard deviations plus 4. */
static size_t sample_rank(size_t need, size_t n)
{
    double e = (double)need * KVQ_SAMPLE / (double)n;
    return (size_t)(e + 4 * sqrt(e) + 4);
}

/* Floyd–Rivest style narrowing for the two bounds: thresholds t < u read off
 * an evenly spaced sample, then a[0..n) is rearranged as [≤ t | … | ≥ u]
 * with *c1 entries at the front and *c2 at the back. When *c1 >= k1 + 2,
 * s_k1 and s_k1+1 are among the front entries at the same ranks; when
 * *c2 >= n − k2, s_k2 and s_k2+1 are among the back ones. Both scans are
 * branches that go one way ~95% of the time, far cheaper than partitioning
 * all of a. Leaves both counts 0 when the thresholds would overlap. */
static void narrow(double *a, size_t n, size_t k1, size_t k2, size_t *c1, size_t *c2)
{
    double smp[KVQ_SAMPLE], x;
    size_t stride = n / KVQ_SAMPLE, j1 = sample_rank(k1 + 2, n);
    size_t up = sample_rank(n - k2, n), front = 0, back = n;
    *c1 = *c2 = 0;
    if (up >= KVQ_SAMPLE || j1 >= KVQ_SAMPLE - 1 - up)
        return;
    size_t j2 = KVQ_SAMPLE - 1 - up;
    for (size_t j = 0; j < KVQ_SAMPLE; j++)
        smp[j] = a[j * stride];
    select_nth(smp, KVQ_SAMPLE, j1);
    select_nth(smp + j1 + 1, KVQ_SAMPLE - j1 - 1, j2 - j1 - 1);
    double t = smp[j1], u = smp[j2];
    if (!(t < u))
        return;
    for (size_t i = 0; i < n; i++)
        if (a[i] <= t) {
            x = a[i];
            a[i] = a[front];
            a[front++] = x;
        }
    for (size_t i = n; i-- > front;)
        if (a[i] >= u) {
            x = a[i];
            a[i] = a[--back];
            a[back] = x;
        }
    *c1 = front;
    *c2 = n - back;
}

/* Rank ⌊h⌋ of a type-7 position h in n values, at most n − 1. */
static size_t rank_at(double h, size_t n)
{
    size_t k = (size_t)floor(h);
    return k < n ? k : n - 1;
}

/* The type-7 quantile at position h from s = {s_k, s_k+1}, k = ⌊h⌋: linear
 * interpolation between the two order statistics (s_k alone past the end). */
static double interpolate(double h, size_t k, size_t n, const double s[2])
{
    return k + 1 >= n ? s[0] : s[0] + (h - (double)k) * (s[1] - s[0]);
}

/* The percentile bounds at (1 ∓ level)/2 of a[0..n), as a sort would give
 * them (doc/statistics.md §2), rearranging a: the four order statistics
 * they need, from the narrowed ends where narrowing found them, else by
 * selection over all of a. */
static void ci_bounds(double *a, size_t n, double level, double *lo, double *hi)
{
    double h1 = (double)(n - 1) * (0.5 * (1 - level));
    double h2 = (double)(n - 1) * (0.5 * (1 + level));
    size_t k1 = rank_at(h1, n), k2 = rank_at(h2, n), c1 = 0, c2 = 0;
    double s1[2], s2[2];
    if (n >= KVQ_NARROW_MIN)
        narrow(a, n, k1, k2, &c1, &c2);
    if (c1 >= k1 + 2) {
        order_pair(a, c1, k1, s1);
    } else {
        order_pair(a, n, k1, s1);
        c2 = 0;                     /* that selection moved the back entries */
    }
    if (c2 >= n - k2)
        order_pair(a + (n - c2), c2, k2 - (n - c2), s2);
    else
        order_pair(a, n, k2, s2);
    *lo = interpolate(h1, k1, n, s1);
    *hi = interpolate(h2, k2, n, s2);
}

/* Words per batch of resample_means. */
#define KVQ_BOOT_WORDS 2048
/* Resamples summed side by side. */
#define KVQ_BOOT_GROUP 4

/* y[(w · m) >> 32]: the value word w picks, uniform over y[0..m). The bias,
 * at most m / 2^32, is negligible here. */
#define KVQ_PICK_INDEX(w, m) (((uint64_t)(w) * (m)) >> 32)
#define KVQ_PICK(y, w, m) ((y)[KVQ_PICK_INDEX(w, m)])

/* Means of KVQ_BOOT_GROUP consecutive resamples whose words are w[g·m + i].
 * Each mean is its own sum in index order, as one resample alone would add
 * it; the sums only advance together, so their additions overlap in time
 * instead of waiting on one another. */
static void resample_group(const double *y, size_t m, const uint32_t *w, double *means)
{
    const uint32_t *w1 = w + m, *w2 = w + 2 * m, *w3 = w + 3 * m;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < m; i++) {
        s0 += KVQ_PICK(y, w[i], m);
        s1 += KVQ_PICK(y, w1[i], m);
        s2 += KVQ_PICK(y, w2[i], m);
        s3 += KVQ_PICK(y, w3[i], m);
    }
    means[0] = s0 / (double)m;
    means[1] = s1 / (double)m;
    means[2] = s2 / (double)m;
    means[3] = s3 / (double)m;
}

/* Means of `b` resamples of y[0..m) (doc/statistics.md §2): resample r takes
 * words r·m … r·m + m − 1 of the rng's stream. Whole groups of resamples come
 * from batches of up to KVQ_BOOT_WORDS words; what is left (fewer than a
 * group, or m too large for a batch to hold a group) is summed one resample
 * at a time, with the words still drawn in batches, in stream order. */
static void resample_means(const double *y, size_t m, int b, kvq__rng *rng, double *means)
{
    uint32_t w[KVQ_BOOT_WORDS];
    size_t per = KVQ_BOOT_WORDS / m / KVQ_BOOT_GROUP * KVQ_BOOT_GROUP;   /* per batch */
    size_t r = 0, nb = (size_t)b;
    while (per && nb - r >= KVQ_BOOT_GROUP) {
        size_t left = (nb - r) / KVQ_BOOT_GROUP * KVQ_BOOT_GROUP;
        size_t nr = left < per ? left : per;
        kvq__rng_fill_u32(rng, w, nr * m);
        for (size_t g = 0; g < nr; g += KVQ_BOOT_GROUP)
            resample_group(y, m, w + g * m, means + r + g);
        r += nr;
    }
    size_t have = 0, used = 0;
    for (; r < nb; r++) {
        double s = 0;
        for (size_t i = 0; i < m; i++) {
            if (used == have) {
                uint64_t left = (uint64_t)(nb - r) * m - i;
                have = left < KVQ_BOOT_WORDS ? (size_t)left : KVQ_BOOT_WORDS;
                kvq__rng_fill_u32(rng, w, have);
                used = 0;
            }
            s += KVQ_PICK(y, w[used++], m);
        }
        means[r] = s / (double)m;
    }
}

uint32_t *kvq__bootstrap_indices(size_t m, int resamples, uint64_t seed, uint32_t stream)
{
    size_t b = (size_t)(resamples > 0 ? resamples : KVQ_BOOT_DEFAULT), total = b * m;
    if (m < 2 || total / m != b || total > KVQ_BOOT_INDICES_MAX)
        return NULL;
    uint32_t *idx = malloc(total * sizeof *idx);
    if (!idx)
        return NULL;
    kvq__rng rng;
    kvq__rng_init(&rng, seed, KVQ_RNG_BOOTSTRAP, stream);
    kvq__rng_fill_u32(&rng, idx, total);
    for (size_t i = 0; i < total; i++)
        idx[i] = (uint32_t)KVQ_PICK_INDEX(idx[i], m);
    return idx;
}

int kvq__bootstrap_ci_indexed(const double *x, size_t n, int resamples, const uint32_t *idx,
                              double level, double *lo, double *hi)
{
    size_t b = (size_t)(resamples > 0 ? resamples : KVQ_BOOT_DEFAULT);
    double *means = malloc(b * sizeof *means);
    *lo = *hi = NAN;
    if (!means)
        return KVQ_ERR_NOMEM;
    for (size_t r = 0; r < b; r++) {
        const uint32_t *w = idx + r * n;
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += x[w[i]];
        means[r] = s / (double)n;
    }
    ci_bounds(means, b, level, lo, hi);
    free(means);
    return KVQ_OK;
}

int kvq__bootstrap_ci(const double *x, size_t n, int resamples, double level,
                     uint64_t seed, uint32_t stream, double *lo, double *hi)
{
    size_t m;
    int b = resamples > 0 ? resamples : KVQ_BOOT_DEFAULT, rc = KVQ_OK;
    *lo = *hi = NAN;
    if (!(level > 0 && level < 1))
        return KVQ_ERR_INVALID_ARG;
    double *y = finite_copy(x, n, &m), *means = NULL;
    if (!y)
        return KVQ_ERR_NOMEM;
    if (m == 0) {
        rc = KVQ_ERR_INVALID_ARG;
    } else if (m == 1) {
        *lo = *hi = y[0];
    } else if (!(means = malloc((size_t)b * sizeof *means))) {
        rc = KVQ_ERR_NOMEM;
    } else {
        kvq__rng rng;
        kvq__rng_init(&rng, seed, KVQ_RNG_BOOTSTRAP, stream);
        resample_means(y, m, b, &rng, means);
        ci_bounds(means, (size_t)b, level, lo, hi);
    }
    free(means);
    free(y);
    return rc;
}

/* ---- Wilcoxon signed-rank ---------------------------------------------- */

typedef struct signed_abs { double a; int pos; } signed_abs;

/* qsort order by absolute value. */
static int cmp_abs(const void *x, const void *y)
{
    double a = ((const signed_abs *)x)->a, b = ((const signed_abs *)y)->a;
    return (a > b) - (a < b);
}

/* Doubled midranks (integers) of the sorted |d| in r2; returns Σ (t³ − t)
 * over tie groups, for the variance correction. */
static double doubled_midranks(const signed_abs *s, size_t m, int *r2)
{
    double ties = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j + 1 < m && s[j + 1].a == s[i].a)
            j++;
        for (size_t k = i; k <= j; k++)
            r2[k] = (int)(i + j + 2);   /* 2 · (mean of ranks i+1 … j+1) */
        double t = (double)(j - i + 1);
        ties += t * t * t - t;
        i = j + 1;
    }
    return ties;
}

/* Exact two-sided p of the doubled signed-rank sum w2 under the null: every
 * sign pattern of the m (mid)ranks equally likely; counts by subset-sum DP. */
static double wilcoxon_exact(const int *r2, size_t m, long w2)
{
    long total = 0;
    for (size_t i = 0; i < m; i++)
        total += r2[i];
    double *cnt = calloc((size_t)total + 1, sizeof *cnt);
    if (!cnt)
        return NAN;
    cnt[0] = 1;
    long reach = 0;
    for (size_t i = 0; i < m; i++) {
        reach += r2[i];
        for (long s = reach; s >= r2[i]; s--)
            cnt[s] += cnt[s - r2[i]];
    }
    double le = 0, ge = 0, all = ldexp(1.0, (int)m);
    for (long s = 0; s <= total; s++) {
        if (s <= w2)
            le += cnt[s];
        if (s >= w2)
            ge += cnt[s];
    }
    free(cnt);
    double p = 2 * fmin(le, ge) / all;
    return p < 1 ? p : 1;
}

/* Normal approximation with tie and continuity correction. */
static double wilcoxon_normal(size_t m, double w, double ties)
{
    double nn = (double)m;
    double mu = nn * (nn + 1) / 4;
    double var = nn * (nn + 1) * (2 * nn + 1) / 24 - ties / 48;
    double z = fmax(0.0, fabs(w - mu) - 0.5) / sqrt(var);
    return erfc(z / sqrt(2.0));
}

/* Two-sided Wilcoxon signed-rank p of the differences d. */
double kvq__wilcoxon_p(const double *d, size_t n)
{
    signed_abs *s = malloc((n ? n : 1) * sizeof *s);
    int *r2 = malloc((n ? n : 1) * sizeof *r2);
    size_t m = 0;
    double p = NAN;
    if (!s || !r2)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (d[i] != 0 && !isnan(d[i]))
            s[m++] = (signed_abs){ fabs(d[i]), d[i] > 0 };
    if (m == 0) {
        p = 1;
        goto out;
    }
    qsort(s, m, sizeof *s, cmp_abs);
    double ties = doubled_midranks(s, m, r2);
    long w2 = 0;
    for (size_t i = 0; i < m; i++)
        w2 += s[i].pos ? r2[i] : 0;
    p = m <= KVQ_WILCOXON_EXACT_MAX ? wilcoxon_exact(r2, m, w2)
                                    : wilcoxon_normal(m, 0.5 * (double)w2, ties);
out:
    free(s);
    free(r2);
    return p;
}

/* ---- sign test ---------------------------------------------------------- */

/* Two-sided exact binomial(m, ½) p of k successes: 2 · smaller tail. The
 * pmf is summed in log space by the ratio recurrence (no underflow). */
static double binom_two_sided(size_t m, size_t k)
{
    double lp = -(double)m * log(2.0), le = 0, ge = 0;
    for (size_t i = 0; i <= m; i++) {
        double pmf = exp(lp);
        if (i <= k)
            le += pmf;
        if (i >= k)
            ge += pmf;
        lp += log((double)(m - i) / (double)(i + 1));
    }
    double p = 2 * fmin(le, ge);
    return p < 1 ? p : 1;
}

/* Two-sided exact sign test (zeros and NaN dropped). */
double kvq__sign_test_p(const double *d, size_t n)
{
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == 0 || isnan(d[i]))
            continue;
        m++;
        k += d[i] > 0;
    }
    return m ? binom_two_sided(m, k) : 1;
}

/* ---- Holm–Bonferroni ---------------------------------------------------- */

typedef struct p_index { double p; size_t i; } p_index;

/* qsort order by p, then by index (stable). */
static int cmp_p_index(const void *x, const void *y)
{
    const p_index *a = x, *b = y;
    if (a->p != b->p)
        return (a->p > b->p) - (a->p < b->p);
    return (a->i > b->i) - (a->i < b->i);
}

/* Holm step-down: adj_(j) = max over i ≤ j of min(1, (m − i) p_(i)). */
void kvq__holm(const double *p, size_t n, double *adj)
{
    p_index *s = malloc((n ? n : 1) * sizeof *s);
    size_t m = 0;
    if (!s) {   /* no memory: Bonferroni, a valid (more conservative) bound */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            k += !isnan(p[i]);
        for (size_t i = 0; i < n; i++)
            adj[i] = isnan(p[i]) ? NAN : fmin(1.0, p[i] * (double)k);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!isnan(p[i]))
            s[m++] = (p_index){ p[i], i };
    qsort(s, m, sizeof *s, cmp_p_index);
    for (size_t i = 0; i < n; i++)
        if (isnan(p[i]))
            adj[i] = NAN;
    double run = 0;
    for (size_t j = 0; j < m; j++) {
        double v = fmin(1.0, (double)(m - j) * s[j].p);
        run = fmax(run, v);
        adj[s[j].i] = run;
    }
    free(s);
}

/* ---- paired comparisons ------------------------------------------------- */

/* Win / loss / tie from the CI and the Holm-adjusted p. */
static int verdict_of(const kvq__comparison *c)
{
    if (c->p_holm < KVQ_ALPHA && c->ci_hi < 0)
        return -1;
    if (c->p_holm < KVQ_ALPHA && c->ci_lo > 0)
        return 1;
    return 0;
}

/* Paired comparison of a against b: delta = a − b over the complete pairs. */
int kvq__compare_paired(const double *a, const double *b, size_t n, uint64_t seed,
                       uint32_t stream, kvq__comparison *out)
{
    double *d = malloc((n ? n : 1) * sizeof *d), s = 0;
    size_t m = 0;
    *out = (kvq__comparison){ NAN, NAN, NAN, NAN, NAN, NAN, 0, 0 };
    if (!d)
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (!isnan(a[i]) && !isnan(b[i]))
            s += d[m++] = a[i] - b[i];
    out->n = m;
    int rc = m ? KVQ_OK : KVQ_ERR_INVALID_ARG;
    if (m) {
        out->mean = s / (double)m;
        rc = kvq__bootstrap_ci(d, m, KVQ_BOOT_DEFAULT, 0.95, seed, stream,
                              &out->ci_lo, &out->ci_hi);
        out->p_wilcoxon = kvq__wilcoxon_p(d, m);
        out->p_sign = kvq__sign_test_p(d, m);
        out->p_holm = out->p_wilcoxon;
        out->verdict = verdict_of(out);
    }
    free(d);
    return rc;
}

/* One Holm family over the comparisons, then every verdict. */
void kvq__comparisons_finalize(kvq__comparison *c, size_t n)
{
    if (n == 0)
        return;
    double *p = malloc(n * sizeof *p);
    if (!p) {   /* cannot adjust: mark every comparison undecided */
        for (size_t i = 0; i < n; i++) {
            c[i].p_holm = NAN;
            c[i].verdict = 0;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = c[i].p_wilcoxon;
    kvq__holm(p, n, p);
    for (size_t i = 0; i < n; i++) {
        c[i].p_holm = p[i];
        c[i].verdict = verdict_of(&c[i]);
    }
    free(p);
}
