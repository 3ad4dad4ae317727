/* distribution.c — the exact host reference of the per-query distribution
 * metrics (doc/metrics.md) from two logit vectors, in double precision: the oracle
 * of the device's softmax statistics and what the host device reports. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* log sum exp of x[0..n), shifted by the maximum. */
static double log_sum_exp(const double *x, size_t n)
{
    double mx = -INFINITY, s = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    if (!isfinite(mx))
        return mx;
    for (size_t i = 0; i < n; i++)
        s += exp(x[i] - mx);
    return mx + log(s);
}

/* phi(x) = e^x - 1 - x without cancellation (Taylor series near 0). */
static double phi(double x)
{
    if (fabs(x) < 0.05) {
        double t = 0;
        for (int k = 10; k >= 2; k--)
            t = (t + 1.0) * x / k;
        return t * x;   /* x^2/2! + x^3/3! + … + x^10/10! */
    }
    return expm1(x) - x;
}

/* log(1 + e^x) without overflow for large |x|. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* The pointwise JS sum p log(p/m) + q log(q/m), m = (p+q)/2, q = p e^x:
 * p·psi(x) with psi(x) = log(2/(1+e^x)) + e^x log(2e^x/(1+e^x)). */
static double js_term(double p, double q, double x)
{
    if (fabs(x) < 1e-3) {
        /* Taylor series of psi about 0 (sympy series(psi, x, 0, 8)):
         * x^2/4 + x^3/8 + x^4/32 + x^5/192 + x^6/1152 + O(x^7). */
        return p * x * x * (1.0 / 4 + x * (1.0 / 8 + x * (1.0 / 32 + x * (1.0 / 192
                            + x * (1.0 / 1152)))));
    }
    double a = M_LN2 - softplus(x);       /* log(p/m) = log 2 − log(1 + e^x) */
    double b = M_LN2 - softplus(-x);      /* log(q/m) */
    return (p > 0 ? p * a : 0) + (q > 0 ? q * b : 0);
}

/* Shift c = lse(quant) − lse(ref) accurately: log Σ p e^eps. */
static double lse_shift(const double *lr, const double *lq, size_t n, double lse_r,
                        double lse_q)
{
    double s = 0, big = 0;
    for (size_t j = 0; j < n; j++) {
        double e = lq[j] - lr[j];
        if (fabs(e) > big || isnan(e))
            big = isnan(e) ? INFINITY : fabs(e);
    }
    if (!(big < 1.0))
        return lse_q - lse_r;
    for (size_t j = 0; j < n; j++)
        s += exp(lr[j] - lse_r) * expm1(lq[j] - lr[j]);
    return log1p(s);
}

/* Index of the maximum, ties to the lowest index. */
static size_t argmax(const double *x, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* 1 when x[i] ranks before x[j]: larger value, ties to the lower index. */
static int ranks_before(const double *x, size_t i, size_t j)
{
    return x[i] > x[j] || (x[i] == x[j] && i < j);
}

/* Marks the top-k of x in sel (0/1 per index), keeping a sorted running
 * top-k list by insertion: O(n·k), meant for small k. */
static int topk_mark(const double *x, size_t n, size_t k, unsigned char *sel)
{
    size_t *top = malloc(k * sizeof *top), cnt = 0;
    if (!top)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t pos = cnt;
        while (pos > 0 && ranks_before(x, i, top[pos - 1]))
            pos--;
        if (pos >= k)
            continue;
        size_t last = cnt < k ? cnt : k - 1;
        memmove(top + pos + 1, top + pos, (last - pos) * sizeof *top);
        top[pos] = i;
        if (cnt < k)
            cnt++;
    }
    memset(sel, 0, n);
    for (size_t i = 0; i < cnt; i++)
        sel[top[i]] = 1;
    free(top);
    return 0;
}

/* |top-k(quant) ∩ top-k(ref)| / k, k = min(topk, n); NaN on failure. */
static double topk_recall(const double *lr, const double *lq, size_t n, int topk)
{
    if (topk < 1)
        return NAN;
    size_t k = (size_t)topk < n ? (size_t)topk : n, hits = 0;
    unsigned char *a = malloc(2 * n);
    if (!a)
        return NAN;
    if (topk_mark(lr, n, k, a) == 0 && topk_mark(lq, n, k, a + n) == 0) {
        for (size_t i = 0; i < n; i++)
            hits += a[i] & a[n + i];
        free(a);
        return (double)hits / (double)k;
    }
    free(a);
    return NAN;
}

/* Logit error statistics: mean eps, mean eps², Var_p(eps). */
static void logit_errors(const double *lr, const double *lq, size_t n, double lse_r,
                         kvq_query_metrics *out)
{
    double s1 = 0, s2 = 0, pm = 0, pv = 0;
    for (size_t j = 0; j < n; j++) {
        double e = lq[j] - lr[j];
        s1 += e;
        s2 += e * e;
        pm += exp(lr[j] - lse_r) * e;
    }
    for (size_t j = 0; j < n; j++) {
        double e = lq[j] - lr[j] - pm;
        pv += exp(lr[j] - lse_r) * e * e;
    }
    out->logit_bias = s1 / (double)n;
    out->logit_mse = s2 / (double)n;
    out->var_p_eps = pv;
}

/* One term of KL(p‖q) = Σ (q − p − p·x) = Σ p phi(x), x = log q − log p:
 * each term is ≥ 0, and rounding in the shift c cancels to first order. */
static double kl_term(double p, double q, double x)
{
    if (fabs(x) < 1)
        return p * phi(x);
    return q - p - (p > 0 ? p * x : 0);
}

/* The divergences, with x_j = log q_j − log p_j = eps_j − c: KL(p‖q) and
 * KL(q‖p) by kl_term (both use Σ p e^x = 1), JS = ½ Σ js_term,
 * TV = ½ Σ p |e^x − 1|. A p_j that underflows to 0 still counts its q_j. */
void kvq_distribution_metrics(const double *lr, const double *lq, size_t n, int topk,
                              kvq_query_metrics *out)
{
    memset(out, 0, sizeof *out);
    double lse_r = log_sum_exp(lr, n), lse_q = log_sum_exp(lq, n);
    double c = lse_shift(lr, lq, n, lse_r, lse_q);
    double kl = 0, klr = 0, js = 0, tv = 0, hr = 0, hq = 0;
    for (size_t j = 0; j < n; j++) {
        double lp = lr[j] - lse_r, lqq = lq[j] - lse_q, p = exp(lp), q = exp(lqq);
        double x = (lq[j] - lr[j]) - c;
        kl += kl_term(p, q, x);
        klr += kl_term(q, p, -x);
        if (p > 0) {
            js += js_term(p, q, x);
            tv += fabs(x) < 1 ? p * fabs(expm1(x)) : fabs(q - p);
            hr -= p * lp;
        } else {
            js += q * log(2.0);  /* p = 0: only q log(q/m) = q log 2 */
            tv += q;
        }
        if (q > 0)
            hq -= q * lqq;
    }
    out->kl = kl;
    out->kl_rev = klr;
    out->js = 0.5 * js;
    out->tv = 0.5 * tv;
    out->entropy_ref = hr;
    out->entropy_quant = hq;
    out->top1 = argmax(lr, n) == argmax(lq, n) ? 1.0 : 0.0;
    out->p_max = exp(lr[argmax(lr, n)] - lse_r);
    out->topk_recall = topk_recall(lr, lq, n, topk);
    logit_errors(lr, lq, n, lse_r, out);
}
