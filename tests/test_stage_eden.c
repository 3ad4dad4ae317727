/* test_stage_eden.c — the EDEN scale (doc/schemes.md §5.1).
 *
 * 1. ⟨x̂, x⟩ = ‖x‖² for every vector, every rotation and budget, to float
 *    rounding: the stored norm is ν/⟨u, C[idx]⟩, so ⟨x̂, x⟩ = ν/⟨u,ĉ⟩ ·
 *    ⟨Rᵀĉ, x⟩ = ν/⟨u,ĉ⟩ · ν⟨ĉ, u⟩ exactly; only the float norm and the float
 *    x̂ round it (relative ~1e-7).
 * 2. Unbiasedness over rotations, E_R[x̂] = x: for a fixed x, the mean of x̂
 *    over T independent rotations, coordinate by coordinate against its
 *    standard error: Σ_j (mean_j − x_j)² / se_j² is χ²(d) when x̂ is unbiased
 *    (mean d, sd √(2d)). For Haar (dense) rotations this holds exactly
 *    (EDEN's argument: x̂ = ‖x‖²/⟨Rx, ĉ⟩ · Rᵀĉ and ĉ depends on Rx only through
 *    a rotation-equivariant rule); the same statistic for plain MSE, which
 *    shrinks x̂ by about 1 − D_b, shows the test has the power to fail. For
 *    the randomized Hadamard (wht) the bias is measured and reported only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

enum { D = 64, TRIALS = 4000 };
static const uint64_t seed = 4242;

/* Codec of trial t, quantize the count vectors x, dequantize into xh. */
static int roundtrip(const kvq_codec_spec *sp, uint32_t t, const float *x, size_t count,
                     float *xh)
{
    kvq_codec *c = NULL;
    kvq_qtensor qt;
    memset(&qt, 0, sizeof qt);
    int st = kvq_codec_create(&c, sp, D, seed, 0, t);
    if (!st)
        st = kvq__qtensor_init(&qt, c, count);
    if (!st)
        st = kvq__codec_quantize(c, x, count, &qt);
    if (!st)
        st = kvq__codec_dequantize(c, &qt, xh);
    kvq__qtensor_clear(&qt);
    kvq_codec_destroy(c);
    return st;
}

/* Vectors with several shapes: Gaussian, heavy-tailed (cubed normals),
 * one large channel, a constant vector, a zero vector (last). */
static void vectors(float *x, size_t count)
{
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 1, 0, x, count * D);
    for (size_t v = 0; v < count; v++) {
        float *r = x + v * D;
        for (int j = 0; j < D && v % 4 == 1; j++)
            r[j] = r[j] * r[j] * r[j];
        if (v % 4 == 2)
            r[v % D] *= 40.0f;
        for (int j = 0; j < D && v % 4 == 3; j++)
            r[j] = 0.5f;
    }
    memset(x + (count - 1) * D, 0, D * sizeof *x);
}

/* Worst relative |⟨x̂, x⟩ − ‖x‖²| / ‖x‖² over the nonzero vectors; the zero
 * vector must come back as 0. */
static void check_inner(int rot, int bits, int nb)
{
    enum { N = 101 };
    float *x = malloc(sizeof(float) * N * D), *xh = malloc(sizeof(float) * N * D);
    kvq_codec_spec sp = {.rotation = rot, .mse_bits = bits, .norm_bits = nb, .eden = 1};
    double worst = 0.0;
    int zero_ok = 1, st = -1;
    if (x && xh) {
        vectors(x, N);
        st = roundtrip(&sp, 3, x, N, xh);
    }
    for (size_t v = 0; st == 0 && v < N; v++) {
        double ip = 0.0, nn = 0.0;
        for (int j = 0; j < D; j++) {
            ip += (double)xh[v * D + j] * x[v * D + j];
            nn += (double)x[v * D + j] * x[v * D + j];
        }
        if (nn > 0)
            worst = fmax(worst, fabs(ip - nn) / nn);
        else
            for (int j = 0; j < D; j++)
                zero_ok &= xh[v * D + j] == 0.0f;
    }
    char name[48];
    kvq_codec_spec_format(&sp, name, sizeof name);
    /* float rounding of the norm and of x̂: 1e-5; half-precision norms: 2^-11 */
    double tol = nb == 16 ? 1e-3 : 1e-5;
    ok(st == 0 && worst < tol && zero_ok, "%s: <xhat, x> = |x|^2 for every vector (worst %.2e, "
       "zero vector stays 0)", name, worst);
    free(x);
    free(xh);
}

/* Bias of x̂ over TRIALS rotations for one fixed x: χ² statistic and the
 * relative bias |mean − x| / |x| with its standard error. */
static int bias(int rot, int bits, int eden, double *chi2, double *rel, double *rel_se)
{
    float x[D], xh[D];
    double s[D] = {0}, s2[D] = {0}, nx = 0.0;
    kvq_codec_spec sp = {.rotation = rot, .mse_bits = bits, .norm_bits = 32, .eden = eden};
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 2, 0, x, D);
    for (int j = 0; j < D; j++) {
        x[j] = x[j] * fabsf(x[j]);          /* a heavy-tailed, fixed x */
        nx += (double)x[j] * x[j];
    }
    for (uint32_t t = 0; t < TRIALS; t++) {
        int st = roundtrip(&sp, t, x, 1, xh);
        if (st)
            return st;
        for (int j = 0; j < D; j++) {
            s[j] += xh[j];
            s2[j] += (double)xh[j] * xh[j];
        }
    }
    double b2 = 0.0, var = 0.0;
    *chi2 = 0.0;
    for (int j = 0; j < D; j++) {
        double m = s[j] / TRIALS, v = (s2[j] / TRIALS - m * m) * TRIALS / (TRIALS - 1);
        *chi2 += (m - x[j]) * (m - x[j]) / (v / TRIALS);
        b2 += (m - x[j]) * (m - x[j]);
        var += v / TRIALS;
    }
    *rel = sqrt(b2 / nx);
    *rel_se = sqrt(var / nx);   /* the size of |mean − x|/|x| from noise alone */
    return 0;
}

static void check_bias(void)
{
    double limit = D + 6.0 * sqrt(2.0 * D), c, r, se;
    int st = bias(KVQ_ROT_DENSE, 2, 1, &c, &r, &se);
    ok(st == 0 && c < limit, "eden dense mse2: E_R[xhat] = x (chi2 %.1f on %d dof, limit %.1f; "
       "relative bias %.2e, noise level %.2e, %d rotations)", c, D, limit, r, se, TRIALS);
    st = bias(KVQ_ROT_DENSE, 2, 0, &c, &r, &se);
    ok(st == 0 && c > limit, "plain mse2 (no eden) is biased and the test sees it (chi2 %.0f, "
       "relative bias %.3f)", c, r);
    for (int b = 1; b <= 4; b += 3) {
        st = bias(KVQ_ROT_WHT, b, 1, &c, &r, &se);
        ok(st == 0, "eden wht mse%d: measured (chi2 %.1f on %d dof; relative bias %.2e, noise "
           "level %.2e)", b, c, D, r, se);
    }
}

int main(void)
{
    static const int rots[] = {KVQ_ROT_NONE, KVQ_ROT_WHT, KVQ_ROT_DENSE};
    plan(3 * 3 + 1 + 4);
    for (int r = 0; r < 3; r++)
        for (int b = 1; b <= 4; b += 3)
            check_inner(rots[r], b, 32);
    for (int r = 0; r < 3; r++)
        check_inner(rots[r], 2, 32);
    check_inner(KVQ_ROT_WHT, 3, 16);
    check_bias();
    return exit_status();
}
