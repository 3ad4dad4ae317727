/* test_batch.c — the batched random words and the bootstrap built on them
 * give exactly what the one-at-a-time definitions give (doc/statistics.md §2,
 * doc/quantization.md §2): Philox blocks by batch against kvq__philox4x32_10
 * one block at a time, kvq__rng_fill_u32 and kvq__rng_fill_normal against
 * word-by-word draws, the bootstrap CI against a plain reference kept here
 * (word-by-word indices, qsort, type-7 quantiles), compared bit for bit, and
 * the parallel loop that runs the report's bootstraps against a serial one. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "base/workers.h"
#include "tap.h"

#define SEED 0x5eed0000cafeULL

/* Word i of stream (seed, purpose, trial), one Philox call per word: the
 * one-block path, which tests/test_philox.c pins to the published known
 * answers and the counter layout. */
static uint32_t word_ref(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t i)
{
    return kvq__core_word(seed, purpose, trial, i);
}

/* A small test-local generator for offsets, lengths and data (xorshift64*),
 * so that the choices do not come from the code under test. */
static uint64_t pick_state = 0x9e3779b97f4a7c15ULL;
static uint64_t pick(uint64_t n)
{
    pick_state ^= pick_state >> 12;
    pick_state ^= pick_state << 25;
    pick_state ^= pick_state >> 27;
    return (pick_state * 0x2545f4914f6cdd1dULL >> 11) % n;
}

/* kvq__core_blocks at lengths around the lane count and the wide batch
 * (128 blocks on AVX-512 CPUs, a last partial one through scratch, then 16
 * at a time, then a short tail) and at random offsets, including runs that
 * cross a 2^32-block boundary (ctr[1] changes) inside any batch. */
static void test_blocks(void)
{
    enum { MAXB = 200 };
    static uint32_t out[4 * (MAXB + 1)];
    int bad = 0, runs = 0;
    for (int t = 0; t < 300; t++) {
        size_t nb = t < MAXB ? (size_t)t : (size_t)pick(MAXB + 1);
        uint64_t first = t % 3 == 0 ? ((uint64_t)1 << 32) - pick(MAXB) : pick((uint64_t)1 << 40);
        uint32_t purpose = (uint32_t)pick(12), trial = (uint32_t)pick(1000);
        out[4 * nb] = 0xdeadbeefu;                    /* must stay untouched */
        kvq__core_blocks(SEED, purpose, trial, first, nb, out);
        for (size_t j = 0; j < 4 * nb; j++)
            bad += out[j] != word_ref(SEED, purpose, trial, 4 * first + j);
        bad += out[4 * nb] != 0xdeadbeefu;
        runs++;
    }
    ok(bad == 0, "kvq__core_blocks = one block at a time: %d runs of 0..%d blocks, %d mismatches",
       runs, MAXB, bad);
}

/* kvq__rng_fill_u32 from any word position, any length (non-multiples of
 * 4 included), then single draws carry on from where it stopped. */
static void test_fill_u32(void)
{
    enum { MAXW = 300 };
    static uint32_t out[MAXW + 1];
    int bad = 0, next_bad = 0;
    for (int t = 0; t < 400; t++) {
        uint64_t start = t < 16 ? (uint64_t)t : pick((uint64_t)1 << 36);
        size_t n = t < 16 ? (size_t)t : (size_t)pick(MAXW + 1);
        kvq__rng r;
        kvq__rng_init(&r, SEED, KVQ_RNG_BOOTSTRAP, (uint32_t)t);
        r.next = start;
        if (t % 2 && start > 0) {   /* start with the block of word start − 1 cached */
            r.next = start - 1;
            kvq__rng_u32(&r);
        }
        out[n] = 0xdeadbeefu;
        kvq__rng_fill_u32(&r, out, n);
        for (size_t j = 0; j < n; j++)
            bad += out[j] != word_ref(SEED, KVQ_RNG_BOOTSTRAP, (uint32_t)t, start + j);
        bad += out[n] != 0xdeadbeefu;
        next_bad += r.next != start + n;
        for (int j = 0; j < 5; j++)
            next_bad += kvq__rng_u32(&r) != word_ref(SEED, KVQ_RNG_BOOTSTRAP, (uint32_t)t,
                                                     start + n + (uint64_t)j);
    }
    ok(bad == 0, "kvq__rng_fill_u32 = word by word at 400 positions and lengths (%d mismatches)",
       bad);
    ok(next_bad == 0, "after kvq__rng_fill_u32, kvq__rng_u32 continues the stream (%d mismatches)",
       next_bad);
}

/* kvq__rng_fill_normal of random slices, longer than one internal batch
 * too: element e = Box–Muller of words 2(first+e), 2(first+e)+1. */
static void test_fill_normal(void)
{
    enum { MAXN = 1500 };
    static float out[MAXN];
    int bad = 0;
    for (int t = 0; t < 40; t++) {
        uint64_t first = pick((uint64_t)1 << 33);
        size_t n = (size_t)pick(MAXN) + 1;
        kvq__rng_fill_normal(SEED, KVQ_RNG_DATA_K, 3, first, out, n);
        for (size_t e = 0; e < n; e++) {
            uint64_t w = 2 * (first + e);
            bad += out[e] != (float)kvq__core_normal(word_ref(SEED, KVQ_RNG_DATA_K, 3, w),
                                                     word_ref(SEED, KVQ_RNG_DATA_K, 3, w + 1));
        }
    }
    ok(bad == 0, "kvq__rng_fill_normal = Box-Muller word by word on 40 random slices (%d)", bad);
}

/* The same over 2^22 consecutive normals of one stream: on AVX-512 CPUs with
 * libmvec the batch takes vector log and cos (falling back to the scalar
 * path for the few values in 10^5 near a float rounding boundary), and this
 * checks its words, conversions and lanes end to end. The two paths' doubles
 * differ by a few ulp, so a value whose float would differ without the
 * fallback turns up only about once in 10^8 (doc/quantization.md §2). */
static void test_fill_normal_long(void)
{
    enum { N = 1 << 22 };
    float *out = malloc(N * sizeof *out);
    uint32_t *w = malloc((2 * N + 4) * sizeof *w);   /* N / 2 + 1 blocks */
    size_t bad = N;
    if (out && w) {
        bad = 0;
        kvq__rng_fill_normal(SEED, KVQ_RNG_DATA_V, 7, 12345, out, N);
        kvq__core_blocks(SEED, KVQ_RNG_DATA_V, 7, 12345 / 2, N / 2 + 1, w);
        for (size_t e = 0; e < N; e++) {
            size_t o = 2 * (12345 + e) - 4 * (12345 / 2);
            bad += out[e] != (float)kvq__core_normal(w[o], w[o + 1]);
        }
    }
    ok(bad == 0, "kvq__rng_fill_normal = kvq__core_normal on %d consecutive normals (%zu differ)",
       N, bad);
    free(out);
    free(w);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The bootstrap CI as doc/statistics.md §2 states it, written plainly: the
 * non-NaN values, b resamples whose indices are (w·m) >> 32 of the stream's
 * words taken one by one, the means summed in index order, all of them
 * sorted, and the type-7 quantiles at (1 ∓ level)/2. */
static void bootstrap_ref(const double *x, size_t n, int b, double level, uint64_t seed,
                          uint32_t stream, double *lo, double *hi)
{
    double *y = malloc((n ? n : 1) * sizeof *y), *means = malloc((size_t)b * sizeof *means);
    size_t m = 0;
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]))
            y[m++] = x[i];
    for (int r = 0; r < b; r++) {
        double s = 0;
        for (size_t i = 0; i < m; i++)
            s += y[((uint64_t)word_ref(seed, KVQ_RNG_BOOTSTRAP, stream, w++) * m) >> 32];
        means[r] = s / (double)m;
    }
    qsort(means, (size_t)b, sizeof *means, cmp_double);
    double probs[2] = {0.5 * (1 - level), 0.5 * (1 + level)}, *q[2] = {lo, hi};
    for (int k = 0; k < 2; k++) {
        double h = (double)(b - 1) * probs[k];
        size_t i = (size_t)floor(h);
        *q[k] = i + 1 >= (size_t)b ? means[b - 1]
                                   : means[i] + (h - (double)i) * (means[i + 1] - means[i]);
    }
    free(y);
    free(means);
}

/* The library's CI against the reference on random data: continuous values,
 * and small integer values whose resample means tie a great deal (the
 * selection must then still return the sorted order statistics); numbers of
 * resamples and values that end word batches anywhere; assorted levels. */
static void test_bootstrap(void)
{
    static const double levels[] = {0.95, 0.5, 0.9, 0.99, 0.999, 0.01, 0.8};
    static const int bs[] = {10000, 1, 2, 3, 5, 64, 101, 2047, 2049, 4097};
    int bad = 0, cases = 0, tied = 0, ibad = 0, icases = 0;
    for (int t = 0; t < 120; t++) {
        double x[40];
        size_t n = t < 10 ? (size_t)t + 2 : (size_t)pick(39) + 2;
        int ties = t % 2;
        for (size_t i = 0; i < n; i++)
            x[i] = ties ? (double)pick(3) : ldexp((double)pick(1u << 20), -18) - 2;
        if (t % 7 == 3)
            x[pick(n)] = NAN;
        int b = bs[t % 10];
        double level = levels[t % 7], lo, hi, rlo, rhi;
        uint32_t stream = (uint32_t)pick(64);
        int rc = kvq__bootstrap_ci(x, n, b, level, SEED, stream, &lo, &hi);
        bootstrap_ref(x, n, b, level, SEED, stream, &rlo, &rhi);
        int same = rc == 0 && memcmp(&lo, &rlo, sizeof lo) == 0 && memcmp(&hi, &rhi, sizeof hi) == 0;
        if (!same && bad < 3)
            diag("case %d: n %zu b %d level %g: [%.17g, %.17g] vs reference [%.17g, %.17g]", t,
                 n, b, level, lo, hi, rlo, rhi);
        bad += !same;
        tied += ties;
        cases++;
        if (t % 7 == 3)
            continue;
        /* the indices drawn once for (n, b, stream), as the cells of one metric share them */
        uint32_t *idx = kvq__bootstrap_indices(n, b, SEED, stream);
        rc = idx ? kvq__bootstrap_ci_indexed(x, n, b, idx, level, &lo, &hi) : -1;
        ibad += rc != 0 || memcmp(&lo, &rlo, sizeof lo) != 0 || memcmp(&hi, &rhi, sizeof hi) != 0;
        icases++;
        free(idx);
    }
    ok(bad == 0, "bootstrap CI = plain reference bit for bit in %d cases (%d with tied means): "
       "%d differ", cases, tied, bad);
    ok(ibad == 0 && !kvq__bootstrap_indices(1, 100, SEED, 0) &&
       !kvq__bootstrap_indices(2, 1 << 24, SEED, 0),
       "through shared resample indices: the same bounds bit for bit in %d cases (%d differ); "
       "none for one value or above KVQ_BOOT_INDICES_MAX", icases, ibad);
}

/* kvq__for_each, which runs the report's bootstraps in parallel: every item
 * exactly once (counted per item, atomically), for no items, one item, and
 * more items than threads; and its results, item by item, are the serial
 * loop's (here: a bootstrap CI per item, compared bit for bit). */
typedef struct each_job {
    atomic_int *calls;
    double (*x)[12], *lo, *hi;
} each_job;

static void each_item(void *arg, size_t i)
{
    each_job *j = arg;
    atomic_fetch_add(&j->calls[i], 1);
    kvq__bootstrap_ci(j->x[i], 12, 2000, 0.95, SEED, (uint32_t)i, &j->lo[i], &j->hi[i]);
}

static void test_for_each(void)
{
    enum { N = 300 };
    static atomic_int calls[N];
    static double x[N][12], lo[N], hi[N];
    int bad_calls = 0, bad_ci = 0;
    for (size_t i = 0; i < N; i++)
        for (int t = 0; t < 12; t++)
            x[i][t] = (double)pick(1000) / 7.0;
    const size_t sizes[] = {0, 1, N};
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < N; i++)
            atomic_init(&calls[i], 0);
        each_job j = {calls, x, lo, hi};
        kvq__for_each(sizes[s], each_item, &j);
        for (size_t i = 0; i < N; i++)
            bad_calls += atomic_load(&calls[i]) != (i < sizes[s]);
    }
    for (size_t i = 0; i < N; i++) {
        double l, h;
        kvq__bootstrap_ci(x[i], 12, 2000, 0.95, SEED, (uint32_t)i, &l, &h);
        bad_ci += l != lo[i] || h != hi[i];
    }
    ok(bad_calls == 0 && bad_ci == 0,
       "kvq__for_each: every item once for 0, 1 and %d items (%d wrong counts); parallel CIs = "
       "serial bit for bit (%d differ)", N, bad_calls, bad_ci);
}

int main(void)
{
    plan(8);
    diag("seed %llu", (unsigned long long)SEED);
    test_blocks();
    test_fill_u32();
    test_fill_normal();
    test_fill_normal_long();
    test_bootstrap();
    test_for_each();
    return exit_status();
}
