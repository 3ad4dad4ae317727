/* test_stage_sqjl.c — the orthogonal QJL sketch (doc/schemes.md §5.2): S is
 * √d times a Haar-random orthogonal matrix, m = d, and the estimate of ⟨q, r⟩
 * is κ·γ·⟨S q, z⟩ with κ = 1/(m·√d·c_d), c_d = E|u₁| on the unit sphere.
 *
 * 1. κ against c_d computed here by its own route, the recursion
 *    c_1 = 1, c_2 = 2/π, c_{d+2} = c_d·d/(d+1) (from Γ(x+1) = x·Γ(x)), and
 *    Gaussian QJL's κ = √(π/2)/m bit for bit (its numbers do not move).
 * 2. S·Sᵀ = d·I (to 1e-5 relative) for K and V and several trials, at
 *    powers of two and not.
 * 3. Unbiasedness over sketches: pure-sketch codecs (no rotation, no MSE),
 *    so the residual is the input r itself and only S changes between
 *    trials (K and V streams alternate, each trial its own draw). The mean of
 *    the estimate over TRIALS independent draws is z-tested against the
 *    exact ⟨q, r⟩ (|z| < 4) for the hard cases — a one-hot residual, one on
 *    two coordinates — and for spread ones (Gaussian r with q independent
 *    or along r, the residual of MSE(2) on a Gaussian x), at d = 64 and 128.
 *    Gaussian QJL runs beside it as the control.
 *    The test has the power to fail: run against the former construction
 *    (S = H_d·D′, Sylvester Hadamard times random signs, Rademacher rows,
 *    κ = √(π/2)/m) it refused the one-hot case (the estimate is √(π/2)·γq₁ in
 *    every draw: bias +25.3 %, z = inf), the two-coordinate one (sign⟨s,r⟩
 *    is s₁ in every row: +53 %, z = inf) and the Gaussian r with q along r
 *    (+0.38 %, z = 5.6 at d = 64; +0.22 %, z = 4.6 at d = 128), and at d = 96
 *    its rows were not even orthogonal (|S·Sᵀ/d − I| = 0.33).
 * 4. The variance of the estimate, sqjl beside Gaussian QJL (and the Gaussian
 *    exact value π/(2m)·‖q‖²γ² − ⟨q,r⟩²/m, test_qjl.c), reported for every
 *    case; for the spread residuals sqjl's must be the smaller. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "core/stage.h"
#include "tap.h"

#define PI 3.14159265358979323846
enum { DMAX = 128, TRIALS = 4000, NCASE = 5 };
static const uint64_t seed = 777;

/* One residual r and query q, and the sums of the estimate over trials
 * for Gaussian QJL ([0]) and sqjl ([1]). */
typedef struct sketch_case {
    const char *what;
    int spread;         /* spread over all coordinates: sqjl's variance must be smaller */
    float r[DMAX], q[DMAX];
    double qr, gamma, qq;
    double s[2], s2[2];
} sketch_case;

/* c_d by the recursion of item 1. */
static double abs_mean_recursive(int d)
{
    double c = d % 2 ? 1.0 : 2.0 / PI;
    for (int k = d % 2 ? 1 : 2; k < d; k += 2)
        c *= (double)k / (k + 1);
    return c;
}

static kvq_codec_spec sketch_spec(int sqjl)
{
    kvq_codec_spec sp = {.rotation = KVQ_ROT_NONE, .qjl = 1, .norm_bits = 32, .sqjl = sqjl};
    return sp;
}

static void check_scale(void)
{
    static const int dims[] = {16, 17, 64, 96, 128, 257};
    double worst = 0.0;
    int same = 1;
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        int d = dims[i];
        kvq_codec *c = NULL, *g = NULL;
        kvq_codec_spec s1 = sketch_spec(1), s0 = sketch_spec(0);
        if (kvq__codec_create_part(&c, &s1, d, seed, 0, 0, 0) ||
            kvq__codec_create_part(&g, &s0, d, seed, 0, 0, 0)) {
            worst = INFINITY;
        } else {
            double want = 1.0 / (d * sqrt((double)d) * abs_mean_recursive(d));
            worst = fmax(worst, fabs(kvq__codec_kparams_get(c)->qjl_scale / want - 1.0));
            same &= kvq__codec_kparams_get(g)->qjl_scale == KVQ_SQRT_PI_2 / d;
        }
        kvq_codec_destroy(c);
        kvq_codec_destroy(g);
    }
    ok(worst < 1e-13, "sqjl's kappa = 1/(m sqrt(d) c_d) at d = 16 ... 257 (worst relative "
       "deviation %.1e)", worst);
    ok(same, "qjl's kappa is sqrt(pi/2)/m bit for bit");
}

/* S·Sᵀ = d·I for K and V, trials 0..2. */
static void check_orthogonal(int d)
{
    double worst = 0.0;
    for (int tensor = 0; tensor < 2; tensor++)
        for (uint32_t t = 0; t < 3; t++) {
            kvq_codec *c = NULL;
            kvq_codec_spec sp = sketch_spec(1);
            if (kvq__codec_create_part(&c, &sp, d, seed, tensor, t, 0)) {
                worst = INFINITY;
                continue;
            }
            const float *S = kvq__codec_qjl_matrix(c);
            for (int i = 0; i < d; i++)
                for (int k = 0; k <= i; k++) {
                    double dot = 0.0;
                    for (int j = 0; j < d; j++)
                        dot += (double)S[(size_t)i * d + j] * S[(size_t)k * d + j];
                    worst = fmax(worst, fabs(dot / d - (i == k)));
                }
            kvq_codec_destroy(c);
        }
    ok(worst < 1e-5, "d = %d: S S^T = d I for K and V, 3 trials (worst |S S^T/d - I| %.1e)", d,
       worst);
}

/* Fills r, q and the exact moments of the cases at dimension d. */
static int make_cases(sketch_case *cs, int d)
{
    float x[DMAX], noise[DMAX];
    memset(cs, 0, NCASE * sizeof *cs);
    const char *names[NCASE] = {"one-hot r = 5 e1", "r = 2 e1 + e2", "gaussian r, independent q",
                                "gaussian r, q along r", "mse2 residual, independent q"};
    for (int i = 0; i < NCASE; i++) {
        cs[i].what = names[i];
        cs[i].spread = i >= 2;
        kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 10 + (uint32_t)i, 0, cs[i].q, (size_t)d);
    }
    cs[0].r[0] = 5.0f;
    cs[1].r[0] = 2.0f;
    cs[1].r[1] = 1.0f;
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 1, 0, cs[2].r, (size_t)d);
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 2, 0, noise, (size_t)d);
    for (int j = 0; j < d; j++) {
        cs[3].r[j] = cs[2].r[j];
        cs[3].q[j] = cs[2].r[j] + 0.3f * noise[j];
    }
    /* the MSE(2) residual of a Gaussian x without rotation: what the sketch
     * of none:mse2+qjl sees, the same in every trial */
    kvq_codec *c = NULL;
    kvq_qtensor qt;
    memset(&qt, 0, sizeof qt);
    kvq_codec_spec sp = {.rotation = KVQ_ROT_NONE, .mse_bits = 2, .norm_bits = 32};
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 3, 0, x, (size_t)d);
    int st = kvq_codec_create(&c, &sp, d, seed, 0, 0);
    if (!st)
        st = kvq__qtensor_init(&qt, c, 1);
    if (!st)
        st = kvq__codec_quantize(c, x, 1, &qt);
    if (!st)
        st = kvq__codec_dequantize(c, &qt, cs[4].r);
    for (int j = 0; j < d; j++)
        cs[4].r[j] = x[j] - cs[4].r[j];
    kvq__qtensor_clear(&qt);
    kvq_codec_destroy(c);
    for (int i = 0; i < NCASE; i++)
        for (int j = 0; j < d; j++) {
            cs[i].qr += (double)cs[i].q[j] * cs[i].r[j];
            cs[i].gamma += (double)cs[i].r[j] * cs[i].r[j];
            cs[i].qq += (double)cs[i].q[j] * cs[i].q[j];
        }
    for (int i = 0; i < NCASE; i++)
        cs[i].gamma = sqrt(cs[i].gamma);
    return st;
}

/* Adds trial t's estimate of every case for sketch kind k (0 qjl, 1 sqjl). */
static int sketch_trial(sketch_case *cs, int d, int k, uint32_t t)
{
    kvq_codec *c = NULL;
    kvq_qtensor qt;
    float r[NCASE * DMAX];
    double qr[DMAX], sq[DMAX];
    memset(&qt, 0, sizeof qt);
    kvq_codec_spec sp = sketch_spec(k);
    for (int i = 0; i < NCASE; i++)
        memcpy(r + (size_t)i * d, cs[i].r, (size_t)d * sizeof *r);
    int st = kvq_codec_create(&c, &sp, d, seed, (int)(t & 1), t >> 1);
    if (!st)
        st = kvq__qtensor_init(&qt, c, NCASE);
    if (!st)
        st = kvq__codec_quantize(c, r, NCASE, &qt);
    for (int i = 0; i < NCASE && !st; i++) {
        kvq__codec_prepare_query(c, cs[i].q, qr, sq);
        double e = kvq__codec_dot(c, &qt, (size_t)i, qr, sq);
        cs[i].s[k] += e;
        cs[i].s2[k] += e * e;
    }
    kvq__qtensor_clear(&qt);
    kvq_codec_destroy(c);
    return st;
}

static double variance(const sketch_case *c, int k)
{
    return (c->s2[k] - c->s[k] * c->s[k] / TRIALS) / (TRIALS - 1);
}

/* z of the mean estimate against the exact ⟨q, r⟩ (±inf for a biased
 * estimate that never varies). */
static double zscore(const sketch_case *c, int k)
{
    double diff = c->s[k] / TRIALS - c->qr, se = sqrt(fmax(variance(c, k), 0.0) / TRIALS);
    return se > 0.0 ? diff / se : diff == 0.0 ? 0.0 : copysign(INFINITY, diff);
}

static void check_sketches(int d)
{
    static const char *kind[2] = {"qjl", "sqjl"};
    sketch_case cs[NCASE];
    int st = make_cases(cs, d);
    for (uint32_t t = 0; t < TRIALS && !st; t++)
        for (int k = 0; k < 2 && !st; k++)
            st = sketch_trial(cs, d, k, t);
    for (int i = 0; i < NCASE; i++) {
        sketch_case *c = &cs[i];
        for (int k = 1; k >= 0; k--) {
            double z = zscore(c, k), mean = c->s[k] / TRIALS;
            ok(st == 0 && fabs(z) < 4.0,
               "d = %d, %s: %s unbiased, mean %.6g vs <q,r> %.6g (bias %+.3f%%, z = %.2f, %d "
               "sketches)", d, c->what, kind[k], mean, c->qr, 100.0 * (mean - c->qr) / fabs(c->qr),
               z, TRIALS);
        }
        double vs = variance(c, 1), vg = variance(c, 0);
        double exact = PI / (2.0 * d) * c->qq * c->gamma * c->gamma - c->qr * c->qr / d;
        if (c->spread)
            ok(st == 0 && vs < vg, "d = %d, %s: variance sqjl %.4g < qjl %.4g (ratio %.3f; "
               "Gaussian exact %.4g)", d, c->what, vs, vg, vs / vg, exact);
        else
            diag("d = %d, %s: variance sqjl %.4g, qjl %.4g (ratio %.3f; Gaussian exact %.4g)", d,
                 c->what, vs, vg, vs / vg, exact);
    }
}

int main(void)
{
    static const int orth_dims[] = {16, 64, 96, 128};
    static const int dims[] = {64, 128};
    int nd = (int)(sizeof dims / sizeof dims[0]), no = (int)(sizeof orth_dims / sizeof orth_dims[0]);
    plan(2 + no + nd * (2 * NCASE + 3));
    check_scale();
    for (int i = 0; i < no; i++)
        check_orthogonal(orth_dims[i]);
    for (int i = 0; i < nd; i++)
        check_sketches(dims[i]);
    return exit_status();
}
