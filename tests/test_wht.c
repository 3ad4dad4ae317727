/* test_wht.c — rotations (doc/quantization.md §3): the fast WHT against the explicit matrix
 * H·D/sqrt(d), orthogonality, inverses, the sign stream, and the dense rotation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

static const uint64_t seed = 20240611;

/* Entry (i, j) of the Sylvester Hadamard matrix: (−1)^popcount(i & j). */
static double hadamard(int i, int j)
{
    return __builtin_popcount((unsigned)(i & j)) & 1 ? -1.0 : 1.0;
}

/* A Gaussian test vector from the TEST stream. */
static void random_vector(double *x, int d, uint32_t trial)
{
    kvq__rng r;
    kvq__rng_init(&r, seed, KVQ_RNG_TEST, trial);
    for (int i = 0; i < d; i++)
        x[i] = kvq__rng_normal(&r);
}

/* y = H·D·x/sqrt(d) by the explicit O(d²) matrix. */
static void explicit_round(const float *s, const double *x, double *y, int d)
{
    for (int i = 0; i < d; i++) {
        double acc = 0;
        for (int j = 0; j < d; j++)
            acc += hadamard(i, j) * s[j] * x[j];
        y[i] = acc / sqrt(d);
    }
}

/* Max |a − b| over n entries. */
static double max_diff(const double *a, const double *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* Euclidean norm. */
static double norm(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* WHT equals the explicit matrix for one d. */
static void check_explicit(int d)
{
    double x[1024] = {0}, y[1024], ref[1024];
    kvq_rotation *r = NULL;
    int st = kvq_rotation_create(&r, KVQ_ROT_WHT, d, seed, KVQ_RNG_ROT_K, 1);
    random_vector(x, d, (uint32_t)d);
    memcpy(y, x, sizeof(double) * d);
    double err = 1;
    if (st == 0) {
        kvq_rotation_forward(r, y);
        explicit_round(kvq__rotation_signs(r, 0), x, ref, d);
        err = max_diff(y, ref, d) / norm(x, d);
    }
    ok(st == 0 && err < 1e-13, "d=%d: WHT forward = explicit H·D/sqrt(d) (max err %.1e·|x|)", d, err);
    kvq_rotation_destroy(r);
}

/* Norms preserved and inverse∘forward = id for one kind over all dims. */
static void check_kind(int kind, const char *name, int max_dim)
{
    double norm_err = 0, inv_err = 0;
    int st_all = 0;
    for (int d = 16; d <= max_dim; d *= 2) {
        double x[1024], y[1024];
        kvq_rotation *r = NULL;
        int st = kvq_rotation_create(&r, kind, d, seed, KVQ_RNG_ROT_V, 3);
        st_all |= st;
        if (st)
            continue;
        random_vector(x, d, 100 + (uint32_t)d);
        memcpy(y, x, sizeof(double) * d);
        kvq_rotation_forward(r, y);
        norm_err = fmax(norm_err, fabs(norm(y, d) / norm(x, d) - 1));
        kvq_rotation_inverse(r, y);
        inv_err = fmax(inv_err, max_diff(x, y, d) / norm(x, d));
        kvq_rotation_destroy(r);
    }
    ok(st_all == 0 && norm_err < 1e-12, "%s: |Rx| = |x| for d=16..%d (max rel. err %.1e)", name,
       max_dim, norm_err);
    ok(st_all == 0 && inv_err < 1e-12, "%s: inverse(forward(x)) = x (max err %.1e·|x|)", name,
       inv_err);
}

/* Signs come from the lowest bit of stream words i (round 0) and d + i (round 1);
 * wht2 is the product of the two explicit rounds. */
static void check_signs_and_wht2(void)
{
    const int d = 64;
    kvq_rotation *r = NULL;
    kvq__rng g;
    int bad = kvq_rotation_create(&r, KVQ_ROT_WHT2, d, seed, KVQ_RNG_ROT_K, 5) != 0;
    if (bad) {
        ok(0, "wht2 signs");
        ok(0, "wht2 product");
        return;
    }
    kvq__rng_init(&g, seed, KVQ_RNG_ROT_K, 5);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < d; i++)
            bad += kvq__rotation_signs(r, k)[i] != ((kvq__rng_u32(&g) & 1) ? -1.0f : 1.0f);
    ok(bad == 0 && kvq__rotation_rounds(r) == 2 && !kvq__rotation_signs(r, 2),
       "wht2 signs: round 0 from words 0..d-1, round 1 from words d..2d-1 (lowest bit 1 = -1)");

    double x[64], y[64], mid[64], ref[64];
    random_vector(x, d, 77);
    memcpy(y, x, sizeof x);
    kvq_rotation_forward(r, y);
    explicit_round(kvq__rotation_signs(r, 0), x, mid, d);
    explicit_round(kvq__rotation_signs(r, 1), mid, ref, d);
    ok(max_diff(y, ref, d) < 1e-13 * norm(x, d), "wht2 forward = R2·R1 by explicit matrices");
    kvq_rotation_destroy(r);
}

/* The unnormalized butterfly on ±1 inputs is exact: H e0 = 1, H H x = d x. */
static void check_butterfly(void)
{
    enum { D = 1024 };
    double x[D], y[D];
    int bad = 0;
    kvq__rng g;
    kvq__rng_init(&g, seed, KVQ_RNG_TEST, 1);
    memset(y, 0, sizeof y);
    y[0] = 1;
    kvq__wht_inplace(y, D);
    for (int i = 0; i < D; i++)
        bad += y[i] != 1.0;
    for (int i = 0; i < D; i++)
        x[i] = y[i] = (kvq__rng_u32(&g) & 1) ? -1.0 : 1.0;
    kvq__wht_inplace(y, D);
    for (int i = 0; i < D; i++)      /* row i of H against the explicit entries */
        if (i % 97 == 0) {
            double acc = 0;
            for (int j = 0; j < D; j++)
                acc += hadamard(i, j) * x[j];
            bad += acc != y[i];
        }
    kvq__wht_inplace(y, D);
    for (int i = 0; i < D; i++)
        bad += y[i] != D * x[i];
    ok(bad == 0, "butterfly exact on +-1 inputs: H e0 = 1, rows match, H H x = %d x", D);
}

/* Dense: R Rᵀ = I, forward is the stored matrix, deterministic per (seed, trial). */
static void check_dense(void)
{
    const int d = 64;
    kvq_rotation *a = NULL, *b = NULL, *c = NULL;
    int st = kvq_rotation_create(&a, KVQ_ROT_DENSE, d, seed, KVQ_RNG_ROT_K, 0) |
             kvq_rotation_create(&b, KVQ_ROT_DENSE, d, seed, KVQ_RNG_ROT_K, 0) |
             kvq_rotation_create(&c, KVQ_ROT_DENSE, d, seed, KVQ_RNG_ROT_K, 1);
    if (st) {
        ok(0, "dense create");
        ok(0, "dense determinism");
        goto done;
    }
    const double *m = kvq__rotation_matrix(a);
    double err = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k < d; k++)
                acc += m[i * d + k] * m[j * d + k];
            err = fmax(err, fabs(acc - (i == j)));
        }
    double e3[64] = {0};
    e3[3] = 1;
    kvq_rotation_forward(a, e3);
    for (int i = 0; i < d; i++)
        err = fmax(err, fabs(e3[i] - m[i * d + 3]));
    ok(err < 1e-13 && kvq__rotation_rounds(a) == 0 && !kvq__rotation_signs(a, 0),
       "dense: R R^T = I and R e3 = column 3 (max err %.1e)", err);
    ok(memcmp(m, kvq__rotation_matrix(b), sizeof(double) * d * d) == 0 &&
       memcmp(m, kvq__rotation_matrix(c), sizeof(double) * d * d) != 0,
       "dense: same (seed, trial) gives the same matrix, another trial another");
done:
    kvq_rotation_destroy(a);
    kvq_rotation_destroy(b);
    kvq_rotation_destroy(c);
}

/* Bad arguments are refused; none is the identity. */
static void check_args(void)
{
    kvq_rotation *r = NULL;
    int bad = 0;
    bad += kvq_rotation_create(&r, 4, 64, 1, 1, 0) != KVQ_ERR_INVALID_ARG || r;
    bad += kvq_rotation_create(&r, KVQ_ROT_WHT, 48, 1, 1, 0) != KVQ_ERR_INVALID_ARG;
    bad += kvq_rotation_create(&r, KVQ_ROT_WHT, 2048, 1, 1, 0) != KVQ_ERR_INVALID_ARG;
    bad += kvq_rotation_create(NULL, KVQ_ROT_WHT, 64, 1, 1, 0) != KVQ_ERR_INVALID_ARG;
    if (kvq_rotation_create(&r, KVQ_ROT_NONE, 32, 1, 1, 0) == 0) {
        double x[32];
        random_vector(x, 32, 9);
        double y[32];
        memcpy(y, x, sizeof x);
        kvq_rotation_forward(r, y);
        bad += memcmp(x, y, sizeof x) != 0 || kvq__rotation_rounds(r) != 0 ||
               kvq_rotation_kind(r) != KVQ_ROT_NONE || kvq_rotation_dim(r) != 32;
        kvq_rotation_destroy(r);
    } else {
        bad++;
    }
    ok(bad == 0, "bad kind/dim refused with KVQ_ERR_INVALID_ARG; none is the identity");
}

int main(void)
{
    plan(7 + 8 + 2 + 1 + 2 + 1);
    diag("seed %llu", (unsigned long long)seed);
    for (int d = 16; d <= 1024; d *= 2)
        check_explicit(d);
    check_kind(KVQ_ROT_NONE, "none", 1024);
    check_kind(KVQ_ROT_WHT, "wht", 1024);
    check_kind(KVQ_ROT_WHT2, "wht2", 1024);
    check_kind(KVQ_ROT_DENSE, "dense", 256);
    check_signs_and_wht2();
    check_butterfly();
    check_dense();
    check_args();
    return exit_status();
}
