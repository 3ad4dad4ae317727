/* test_qjl.c — the QJL residual codec (doc/quantization.md §5.4) over many draws of S:
 * the inner-product estimator is unbiased, its variance equals the exact
 * value π/(2m)·|q|²γ² − ⟨q,r⟩²/m (hence at most the π/(2m)·|q|²γ² bound),
 * and the dequantized residual's squared error is (πd/(2m) − 1/m)·γ².
 *
 * Derivation of the exact values, for one row s ~ N(0, I) and r̂ = r/γ:
 * E[⟨s,q⟩ sign⟨s,r⟩] = sqrt(2/π)⟨q,r̂⟩ and E[⟨s,q⟩²] = |q|², so each of the m
 * i.i.d. terms has variance |q|² − (2/π)⟨q,r̂⟩²; scaling by sqrt(π/2)γ/m gives
 * the variance above. E|Σ z_i s_i|² = m d + m(m−1)·2/π gives E|r̂_QJL|² =
 * γ²(πd/(2m) + (m−1)/m) and, with E⟨r̂_QJL, r⟩ = γ², the residual error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define PI 3.14159265358979323846
enum { D = 64, TRIALS = 3000 };
static const uint64_t seed = 31337;

typedef struct stats {
    double qr;          /* ⟨q, r⟩ (rotation none: the same r in every trial) */
    double bound;       /* π/(2m)·|q|²γ² */
    double exact_var;   /* bound − ⟨q, r⟩²/m */
    double mean, var;   /* of the QJL term ⟨q, r⟩-estimate over trials */
    double res_mean, res_se;   /* of |r̂ − r|²/γ² over trials */
} stats;

/* Trial t's codec (spec sp, tensor 0 = K or 1 = V) and the codes of the
 * one vector x; 0 or the failing status. */
static int quantize_one(const kvq_codec_spec *sp, int tensor, uint32_t t, const float *x,
                        kvq_codec **c, kvq_qtensor *qt)
{
    int st;
    *c = NULL;
    memset(qt, 0, sizeof *qt);
    if ((st = kvq_codec_create(c, sp, D, seed, tensor, t)) != 0 ||
        (st = kvq__qtensor_init(qt, *c, 1)) != 0)
        return st;
    return kvq__codec_quantize(*c, x, 1, qt);
}

/* Runs TRIALS draws of S for a fixed x, q with rotation none and MSE(b) + QJL(m). */
static int run(int b, int m, const float *x, const float *q, stats *out)
{
    kvq_codec_spec sp = {.rotation = KVQ_ROT_NONE, .mse_bits = b, .qjl = 1, .qjl_m = m,
                         .norm_bits = 32};
    double r[D], qd[D], nq = 0, s = 0, s2 = 0, e = 0, e2 = 0, gamma = 0;
    double qr[D], *sq = malloc(sizeof(double) * m);
    float xh[D];
    int st = 0;
    for (uint32_t t = 0; t < TRIALS && st == 0; t++) {
        kvq_codec *c;
        kvq_qtensor qt;
        if ((st = quantize_one(&sp, 0, t, x, &c, &qt)) != 0 ||
            (st = kvq__codec_dequantize(c, &qt, xh)) != 0) {
            kvq__qtensor_clear(&qt);
            kvq_codec_destroy(c);
            break;
        }
        uint8_t idx[D];
        kvq__unpack_codes(qt.codes, D, b, idx);
        for (int j = 0; j < D; j++) {   /* x̂_mse = ν C[idx] exactly (R = I) */
            double xm = b ? qt.norms[0] * kvq__codec_codebook(c)->centroids[idx[j]] : 0;
            r[j] = x[j] - xm;
            qd[j] = q[j];
            xh[j] = (float)(xh[j] - xm);        /* r̂ = x̂ − x̂_mse */
        }
        gamma = qt.gammas[0];
        kvq__codec_prepare_query(c, q, qr, sq);
        double term = kvq__codec_dot(c, &qt, 0, qr, sq);
        for (int j = 0; j < D; j++)        /* subtract the MSE part ⟨q, x̂_mse⟩ */
            term -= qd[j] * (x[j] - r[j]);
        s += term;
        s2 += term * term;
        double err = 0;
        for (int j = 0; j < D; j++)
            err += (xh[j] - r[j]) * (xh[j] - r[j]);
        err /= gamma * gamma;
        e += err;
        e2 += err * err;
        kvq__qtensor_clear(&qt);
        kvq_codec_destroy(c);
    }
    out->qr = 0;
    for (int j = 0; j < D; j++) {
        out->qr += qd[j] * r[j];
        nq += qd[j] * qd[j];
    }
    out->bound = PI / (2.0 * m) * nq * gamma * gamma;
    out->exact_var = out->bound - out->qr * out->qr / m;
    out->mean = s / TRIALS;
    out->var = (s2 - s * s / TRIALS) / (TRIALS - 1);
    out->res_mean = e / TRIALS;
    out->res_se = sqrt((e2 / TRIALS - out->res_mean * out->res_mean) / (TRIALS - 1));
    free(sq);
    return st;
}

/* x Gaussian; q either aligned with the MSE residual of x (plus noise) or independent. */
static void make_inputs(float *x, float *q, int aligned, int b)
{
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 1, 0, x, D);
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 2, 0, q, D);
    if (!aligned)
        return;
    kvq_codec *c = NULL;
    kvq_codec_spec sp = {.rotation = KVQ_ROT_NONE, .mse_bits = b, .norm_bits = 32};
    kvq_qtensor t;
    float xm[D];
    kvq_codec_create(&c, &sp, D, seed, 0, 0);
    kvq__qtensor_init(&t, c, 1);
    kvq__codec_quantize(c, x, 1, &t);
    kvq__codec_dequantize(c, &t, xm);
    for (int j = 0; j < D; j++)
        q[j] = 4.0f * (x[j] - xm[j]) + 0.05f * q[j];
    kvq__qtensor_clear(&t);
    kvq_codec_destroy(c);
}

/* The checks on one configuration. */
static void check(const char *what, int b, int m, int aligned, int check_bound)
{
    float x[D], q[D];
    stats s;
    make_inputs(x, q, aligned, b);
    int st = run(b, m, x, q, &s);
    double se = sqrt(s.var / TRIALS);
    double tol_var = 4 * sqrt(2.0 / (TRIALS - 1));     /* 4 SE of a sample variance */
    double expect_res = PI * D / (2.0 * m) - 1.0 / m;
    diag("%s: <q,r> = %.5g, bound %.5g, exact var %.5g", what, s.qr, s.bound, s.exact_var);
    ok(st == 0 && fabs(s.mean - s.qr) < 3 * se,
       "%s: QJL estimate unbiased: mean %.5g vs <q,r> %.5g (%.2f SE)", what, s.mean, s.qr,
       (s.mean - s.qr) / se);
    ok(st == 0 && fabs(s.var / s.exact_var - 1) < tol_var,
       "%s: variance %.5g vs exact %.5g (ratio %.3f, tol %.3f)", what, s.var, s.exact_var,
       s.var / s.exact_var, tol_var);
    if (check_bound)
        ok(st == 0 && s.var < s.bound, "%s: variance %.5g below pi/(2m)|q|^2 gamma^2 = %.5g",
           what, s.var, s.bound);
    ok(st == 0 && fabs(s.res_mean - expect_res) < 4 * s.res_se,
       "%s: |rhat - r|^2/gamma^2 = %.4f vs pi d/(2m) - 1/m = %.4f (%.2f SE)", what, s.res_mean,
       expect_res, (s.res_mean - expect_res) / s.res_se);
}

/* Whole estimator with a random WHT per trial: E[dot] = ⟨q, x⟩ over rotation and S. */
static void check_total_unbiased(void)
{
    float x[D], q[D];
    kvq_codec_spec sp = {.rotation = KVQ_ROT_WHT, .mse_bits = 2, .qjl = 1, .norm_bits = 32};
    double qr[D], sq[D], s = 0, s2 = 0, truth = 0;
    int st = 0;
    make_inputs(x, q, 0, 2);
    for (int j = 0; j < D; j++)
        truth += (double)q[j] * x[j];
    for (uint32_t t = 0; t < TRIALS && st == 0; t++) {
        kvq_codec *c;
        kvq_qtensor qt;
        if ((st = quantize_one(&sp, 1, t, x, &c, &qt)) == 0) {
            kvq__codec_prepare_query(c, q, qr, sq);
            double v = kvq__codec_dot(c, &qt, 0, qr, sq);
            s += v;
            s2 += v * v;
        }
        kvq__qtensor_clear(&qt);
        kvq_codec_destroy(c);
    }
    double mean = s / TRIALS, se = sqrt((s2 - s * s / TRIALS) / (TRIALS - 1) / TRIALS);
    ok(st == 0 && fabs(mean - truth) < 3 * se,
       "wht mse2+qjl: E[estimate] = <q,x> over rotations and S: %.5g vs %.5g (%.2f SE)", mean,
       truth, (mean - truth) / se);
}

int main(void)
{
    plan(4 + 3 + 3 + 3 + 1);
    diag("seed %llu, d=%d, %d draws of S per check", (unsigned long long)seed, D, TRIALS);
    check("m=d, q along r", 2, D, 1, 1);
    check("m=d, q independent", 2, D, 0, 0);
    check("m=2d, pure QJL", 0, 2 * D, 1, 0);
    check("m=d/2, mse3", 3, D / 2, 0, 0);
    check_total_unbiased();
    return exit_status();
}
