/* test_stage_sqjl.c — the structured QJL sketch (doc/schemes.md §5.2): rows of
 * S are those of H_d·D′ (Sylvester Hadamard times fresh random signs per
 * trial) instead of i.i.d. Gaussian, with the same estimator
 * √(π/2)/m·γ·⟨Sq, z⟩ of ⟨q, r⟩.
 *
 * With rotation none and a fixed x, the MSE stage and hence the residual r
 * are the same in every trial; only S varies. Over TRIALS draws the QJL
 * term (estimate minus ⟨q, x̂_mse⟩) is compared with ⟨q, r⟩ by a z-test
 * (mean against its standard error), for sqjl and for Gaussian qjl, and
 * the two variances are reported side by side with the Gaussian exact value
 * π/(2m)·‖q‖²γ² − ⟨q,r⟩²/m (test_qjl.c derives it).
 *
 * Gaussian qjl is exactly unbiased: |z| < 4. The structured sketch is
 * unbiased only approximately: each row is a Rademacher vector, and
 * E[sign⟨s,r⟩⟨s,q⟩] = √(2/π)⟨q,r⟩/γ needs ⟨s,r⟩ to be near-Gaussian, i.e. r
 * spread over many coordinates. With 4000 sketches at d = 64 the z-test does
 * see a bias of a fraction of a percent of ⟨q,r⟩ when q lies along r, so the
 * check for sqjl is |mean − ⟨q,r⟩| < 4 SE + 2 % of |⟨q,r⟩| (z reported). For
 * a one-hot residual r = γe₁ the estimate is exactly √(π/2)·γq₁, which that
 * check would refuse: pinned below, so that the limitation is not hidden. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define PI 3.14159265358979323846
enum { D = 64, TRIALS = 4000 };
static const uint64_t seed = 777;

/* The QJL term of trial t: estimate − ⟨q, x̂_mse⟩, and ⟨q, r⟩. */
static int qjl_term(const kvq_codec_spec *sp, uint32_t t, const float *x, const float *q,
                    double *term, double *qr_true, double *gamma)
{
    kvq_codec *c = NULL;
    kvq_qtensor qt;
    double qr[D], sq[D];
    float xh[D];
    memset(&qt, 0, sizeof qt);
    int st = kvq_codec_create(&c, sp, D, seed, 0, t);
    if (!st)
        st = kvq__qtensor_init(&qt, c, 1);
    if (!st)
        st = kvq__codec_quantize(c, x, 1, &qt);
    if (!st) {
        /* x̂_mse: dequantize the same codes without the sketch (γ = 0) */
        qt.gammas[0] = 0.0f;
        st = kvq__codec_dequantize(c, &qt, xh);
    }
    if (!st) {
        *gamma = 0.0;
        kvq__codec_prepare_query(c, q, qr, sq);
        double mse = 0.0, tr = 0.0;
        for (int j = 0; j < D; j++) {
            mse += (double)q[j] * xh[j];
            tr += (double)q[j] * ((double)x[j] - xh[j]);
        }
        kvq__qtensor_clear(&qt);
        kvq__qtensor_init(&qt, c, 1);
        kvq__codec_quantize(c, x, 1, &qt);
        *gamma = qt.gammas[0];
        *term = kvq__codec_dot(c, &qt, 0, qr, sq) - mse;
        *qr_true = tr;
    }
    kvq__qtensor_clear(&qt);
    kvq_codec_destroy(c);
    return st;
}

typedef struct moments {
    double mean, var, qr, exact_var;
} moments;

static int measure(int sqjl, int bits, const float *x, const float *q, moments *m)
{
    kvq_codec_spec sp = {.rotation = KVQ_ROT_NONE, .mse_bits = bits, .qjl = 1, .norm_bits = 32,
                         .sqjl = sqjl};
    double s = 0.0, s2 = 0.0, gamma = 0.0, nq = 0.0;
    for (uint32_t t = 0; t < TRIALS; t++) {
        double term;
        int st = qjl_term(&sp, t, x, q, &term, &m->qr, &gamma);
        if (st)
            return st;
        s += term;
        s2 += term * term;
    }
    for (int j = 0; j < D; j++)
        nq += (double)q[j] * q[j];
    m->mean = s / TRIALS;
    m->var = (s2 - s * s / TRIALS) / (TRIALS - 1);
    m->exact_var = PI / (2.0 * D) * nq * gamma * gamma - m->qr * m->qr / D;
    return 0;
}

/* Both sketches on one (x, q): unbiased (|z| < 4) and the variances. */
static void compare(const char *what, int bits, const float *x, const float *q)
{
    moments g, h;
    int st = measure(0, bits, x, q, &g);
    if (!st)
        st = measure(1, bits, x, q, &h);
    double zg = (g.mean - g.qr) / sqrt(g.var / TRIALS), zh = (h.mean - h.qr) / sqrt(h.var / TRIALS);
    double se = sqrt(h.var / TRIALS);
    ok(st == 0 && fabs(h.mean - h.qr) < 4.0 * se + 0.02 * fabs(h.qr),
       "%s mse%d: sqjl nearly unbiased, mean %.5g vs <q,r> %.5g (bias %.2f%%, z = %.2f, %d "
       "sketches)", what, bits, h.mean, h.qr, 100.0 * (h.mean - h.qr) / fabs(h.qr), zh, TRIALS);
    ok(st == 0 && fabs(zg) < 4.0, "%s mse%d: qjl unbiased, mean %.5g (z = %.2f)", what, bits,
       g.mean, zg);
    ok(st == 0, "%s mse%d: variance sqjl %.4g vs qjl %.4g (ratio %.3f; Gaussian exact %.4g)",
       what, bits, h.var, g.var, h.var / g.var, g.exact_var);
}

/* x Gaussian; q independent, or q along the residual direction (the case
 * where the ⟨q,r⟩²/m term matters). */
static void check_spread(void)
{
    float x[D], q[D], qa[D];
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 1, 0, x, D);
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 2, 0, q, D);
    compare("gauss x, independent q", 2, x, q);
    compare("gauss x, independent q", 0, x, q);
    for (int j = 0; j < D; j++)
        qa[j] = x[j] + 0.3f * q[j];
    compare("gauss x, q ~ x", 0, x, qa);
}

/* r = 5e₁ (pure sketch): the estimate is √(π/2)·5·q₁ in every trial. */
static void check_one_hot(void)
{
    float x[D] = {0}, q[D];
    x[0] = 5.0f;
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 3, 0, q, D);
    kvq_codec_spec sp = {.rotation = KVQ_ROT_NONE, .qjl = 1, .norm_bits = 32, .sqjl = 1};
    double worst = 0.0, term, qr, gamma;
    for (uint32_t t = 0; t < 20; t++) {
        if (qjl_term(&sp, t, x, q, &term, &qr, &gamma))
            worst = INFINITY;
        worst = fmax(worst, fabs(term / qr - sqrt(PI / 2)));
    }
    ok(worst < 1e-5, "sqjl on a one-hot residual: estimate / <q,r> = sqrt(pi/2) exactly "
       "(|deviation| %.1e): biased where r is not spread (doc/schemes.md §5.2)", worst);
}

int main(void)
{
    plan(3 * 3 + 1);
    check_spread();
    check_one_hot();
    return exit_status();
}
