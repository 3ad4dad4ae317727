/* test_causal.c — the causal mask of doc/metrics.md §1.5 on a hand-sized case
 * (N = 5 keys, M = 3 queries, d = 16: query j sits at position N − M + j and
 * sees keys 0 … N − M + j), host reference and OpenCL device, against a
 * computation written out here in naive double loops: the logits from the
 * dequantized keys (⟨q, k̂⟩ is what every stage's estimator computes), the
 * softmax over the visible keys only, KL, TV, entropy, logit MSE, top-1 and
 * the outputs Σ p v and Σ p̃ v̂. None of it calls the library's attention. */
#include <math.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "analysis/kv_codes.h"
#include "base/tolerance.h"
#include "tap.h"

#define N 5
#define M 3
#define D 16
#define TAU 2.0

/* Inputs from a fixed formula (no generator), spread so the attention is
 * neither flat nor one-hot. */
static void inputs(float *q, float *k, float *v)
{
    for (int c = 0; c < D; c++) {
        for (int i = 0; i < M; i++)
            q[i * D + c] = (float)sin(0.7 * (i + 1) * (c + 1) + 0.3);
        for (int j = 0; j < N; j++) {
            k[j * D + c] = (float)cos(0.45 * (j + 2) * (c + 1) - 0.2 * j);
            v[j * D + c] = (float)sin(0.9 * (j + 1) + 0.37 * c * (j + 3));
        }
    }
}

/* The expected metrics of query i, from k̂ and v̂ (dequantized on the host). */
static void expected(const float *q, const float *k, const float *v, const float *kh,
                     const float *vh, int i, kvq_query_metrics *e)
{
    int vis = N - M + i + 1;          /* keys 0 … N − M + i */
    double lr[N], lq[N], p[N], pq[N], sr = 0, sq = 0, o[D] = {0}, oq[D] = {0};
    for (int j = 0; j < vis; j++) {
        double a = 0, b = 0;
        for (int c = 0; c < D; c++) {
            a += (double)q[i * D + c] * k[j * D + c];
            b += (double)q[i * D + c] * kh[j * D + c];
        }
        lr[j] = TAU * a / sqrt((double)D);
        lq[j] = TAU * b / sqrt((double)D);
        sr += exp(lr[j]);
        sq += exp(lq[j]);
    }
    memset(e, 0, sizeof *e);
    int best_r = 0, best_q = 0;
    for (int j = 0; j < vis; j++) {
        p[j] = exp(lr[j]) / sr;
        pq[j] = exp(lq[j]) / sq;
        e->kl += p[j] * log(p[j] / pq[j]);
        e->tv += 0.5 * fabs(p[j] - pq[j]);
        e->entropy_ref -= p[j] * log(p[j]);
        e->logit_mse += (lq[j] - lr[j]) * (lq[j] - lr[j]) / vis;
        best_r = lr[j] > lr[best_r] ? j : best_r;
        best_q = lq[j] > lq[best_q] ? j : best_q;
        for (int c = 0; c < D; c++) {
            o[c] += p[j] * v[j * D + c];
            oq[c] += pq[j] * vh[j * D + c];
        }
    }
    double no = 0, diff = 0;
    for (int c = 0; c < D; c++) {
        no += o[c] * o[c];
        diff += (oq[c] - o[c]) * (oq[c] - o[c]);
    }
    e->top1 = best_r == best_q;
    e->out_rel_err = sqrt(diff / no);
}

/* |a − b| ≤ tol·max(|b|, floor). */
static int near(double a, double b, double tol, double floor_)
{
    return fabs(a - b) <= tol * fmax(fabs(b), floor_);
}

/* Runs the job on ctx (causal or not) and compares every query with the
 * naive values; tol is the relative tolerance of the smooth metrics. */
static int run_and_compare(kvq_ctx *ctx, const kvq_attention_job *job, const kvq_query_metrics *want,
                           double tol, double *worst)
{
    kvq_query_metrics got[M];
    kvq_attention_out out = {.queries = got};
    int st = kvq_attention_run(ctx, job, &out);
    if (st) {
        diag("attention failed: %s (%s)", kvq_strerror(st), kvq_error_detail());
        return 0;
    }
    int good = 1;
    for (int i = 0; i < M; i++) {
        const kvq_query_metrics *g = &got[i], *w = &want[i];
        good &= kvq__tol_div_ok(g->kl, w->kl) && near(g->tv, w->tv, tol, 1e-6) &&
                near(g->entropy_ref, w->entropy_ref, tol, 1e-6) &&
                near(g->logit_mse, w->logit_mse, tol, 1e-9) && g->top1 == w->top1 &&
                near(g->out_rel_err, w->out_rel_err, tol, 1e-6);
        *worst = fmax(*worst, fabs(g->kl - w->kl) / fmax(w->kl, 1e-9));
        if (!good)
            diag("query %d: kl %.9g vs %.9g, tv %.9g vs %.9g, H %.9g vs %.9g, out %.9g vs %.9g", i,
                 g->kl, w->kl, g->tv, w->tv, g->entropy_ref, w->entropy_ref, g->out_rel_err,
                 w->out_rel_err);
    }
    return good;
}

int main(void)
{
    float q[M * D], k[N * D], v[N * D], kh[N * D], vh[N * D];
    kvq_query_metrics want[M];
    kvq__kv_codes codes = {0};
    kvq_scheme s;
    kvq_ctx *host = NULL, *dev = NULL;
    double worst = 0;

    plan(5);
    inputs(q, k, v);
    int st = kvq_scheme_preset("QKQV", 3, &s) || kvq_ctx_create(&host, "host") ||
             kvq__kv_codes_make(&codes, NULL, &s, D, 7, 0, k, v, N) ||
             kvq_dequantize(host, codes.k_codec, &codes.k_codes, kh) ||
             kvq_dequantize(host, codes.v_codec, &codes.v_codes, vh);
    if (st) {
        diag("setup failed");
        return 1;
    }
    for (int i = 0; i < M; i++)
        expected(q, k, v, kh, vh, i, &want[i]);
    kvq_attention_job job = {.dim = D, .keys = N, .queries = M, .sharpness = TAU, .q = q, .k = k,
                             .v = v, .k_codec = codes.k_codec, .v_codec = codes.v_codec,
                             .k_codes = &codes.k_codes, .v_codes = &codes.v_codes, .causal = 1};

    int good = run_and_compare(host, &job, want, 1e-6, &worst);
    ok(good, "host: causal N=5 M=3 d=16 matches the naive computation (KL rel. dev. %.2g)", worst);

    /* without the mask query 0 would also see keys 3 and 4: a different answer */
    kvq_query_metrics open[M];
    kvq_attention_out out = {.queries = open};
    job.causal = 0;
    good = kvq_attention_run(host, &job, &out) == 0 && !near(open[0].kl, want[0].kl, 1e-3, 1e-9) &&
           !near(open[0].out_rel_err, want[0].out_rel_err, 1e-3, 1e-9);
    ok(good, "the mask matters here: unmasked query 0 has kl %.6g, masked %.6g", open[0].kl,
       want[0].kl);

    job.causal = 1;
    job.queries = N + 1;
    ok(kvq_attention_run(host, &job, &out) == KVQ_ERR_INVALID_ARG,
       "causal with more queries than keys is KVQ_ERR_INVALID_ARG");
    job.queries = M;

    const char *spec = kvq_device_spec_default();
    if (kvq_ctx_create(&dev, spec) || kvq_ctx_device(dev)->type == KVQ_DEVICE_HOST) {
        skip(2, "no OpenCL device");
    } else {
        worst = 0;
        good = run_and_compare(dev, &job, want, 1e-4, &worst);
        ok(good, "device %s: causal N=5 M=3 d=16 matches the naive computation (KL rel. dev. %.2g)",
           kvq_ctx_device(dev)->name, worst);
        /* chunks of 2 keys: query 0 sees none of the last chunk */
        kvq_ctx *chunked = NULL;
        setenv("KVQ_CHUNK_KEYS", "2", 1);
        st = kvq_ctx_create(&chunked, spec);
        unsetenv("KVQ_CHUNK_KEYS");
        worst = 0;
        good = st == 0 && run_and_compare(chunked, &job, want, 1e-4, &worst);
        ok(good, "device in chunks of 2 keys: the same (KL rel. dev. %.2g)", worst);
        kvq_ctx_destroy(chunked);
    }
    kvq_ctx_destroy(dev);
    kvq_ctx_destroy(host);
    kvq__kv_codes_free(&codes);
    return exit_status();
}
