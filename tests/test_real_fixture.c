/* test_real_fixture.c — real attention tensors in every `make check`:
 * tests/data/real/minilm_l6_3layers.safetensors holds layers 0, 3 and 5 of
 * all-MiniLM-L6-v2 (12 heads, d = 32, 359 tokens of tests/data/real/text.txt,
 * F16), exported by tools/export_kv.py (provenance: tests/data/real/README.md).
 * The library's reader must give the values numpy gives, and the host
 * reference attention must run on them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

enum { HEADS = 12, DIM = 32, TOKENS = 359 };

/* Golden values, computed once with numpy 2.4.6 alone: the file's header
 * parsed with json/struct, each tensor np.frombuffer(..., '<f2') converted to
 * float64, then
 *   sum_k/v/q  = t.sum() over the whole [12, 359, 32] tensor of the layer,
 *   norm_k0    = np.linalg.norm(k[h][0]),
 *   dot_q0k1   = q[h][0] @ k[h][1],
 *   p00        = softmax(tau * q[h][0] @ k[h].T / sqrt(32))[0], tau = 1 (the
 *                file's layer{L}.sharpness; MiniLM scales logits by 1/sqrt(d)).
 * F16 values convert exactly to float, and every sum here is accumulated in
 * double (32 terms for a dot product, 137856 for a tensor sum), so C and numpy
 * differ only by summation order: < 1e-12 relative. The tolerance, 1e-9
 * relative, still fails on any misread element (F16 steps are ≥ 2^-11
 * relative) or on a wrong head or token index. */
static const struct golden {
    const char *layer;
    int head;
    double sum_k, sum_v, sum_q;
    double norm_k0, dot_q0k1, p00;
} goldens[] = {
    {"layer0", 0, -5092.6193607449532, 2556.2539207339287, 1441.4306299686432,
     5.4642924234494217, 4.3186670634895563, 0.052348404115288169},
    {"layer5", 11, -1829.119270503521, 433.40143191814423, -2958.5312637686729,
     6.4948351050055413, -0.56755349226295948, 0.020054642239080621},
};
#define REL_TOL 1e-9

static char fixture[1024];

static int close_rel(double got, double want)
{
    return fabs(got - want) <= REL_TOL * fabs(want);
}

static double sum_all(const kvq_tensor *t)
{
    double s = 0;
    for (size_t i = 0; i < kvq_tensor_numel(t); i++)
        s += t->data[i];
    return s;
}

static int all_finite(const kvq_tensor *t)
{
    for (size_t i = 0; i < kvq_tensor_numel(t); i++)
        if (!isfinite(t->data[i]))
            return 0;
    return 1;
}

static double dot(const float *a, const float *b)
{
    double s = 0;
    for (int i = 0; i < DIM; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* p_00 of one head: softmax over all keys of query 0's logits <q0, k_j>/sqrt(d). */
static double softmax_first(const float *q0, const float *k)
{
    double logit[TOKENS], top = -INFINITY, z = 0;
    for (int j = 0; j < TOKENS; j++) {
        logit[j] = dot(q0, k + (size_t)j * DIM) / sqrt(DIM);
        top = fmax(top, logit[j]);
    }
    for (int j = 0; j < TOKENS; j++)
        z += exp(logit[j] - top);
    return exp(logit[0] - top) / z;
}

static int load(const char *layer, kvq_kv *kv)
{
    char k[32], v[32], q[32], err[256] = "";
    snprintf(k, sizeof k, "%s.k", layer);
    snprintf(v, sizeof v, "%s.v", layer);
    snprintf(q, sizeof q, "%s.q", layer);
    int rc = kvq__kv_load_safetensors(fixture, k, v, q, kv, err, sizeof err);
    if (rc)
        diag("%s: %s", fixture, err);
    return rc;
}

/* Shapes, finiteness and the golden values of one layer and head. */
static void test_golden(const struct golden *g)
{
    kvq_kv kv;
    if (load(g->layer, &kv) != 0) {
        ok(0, "%s loads", g->layer);
        skip(4, "no data");
        return;
    }
    ok(kv.heads == HEADS && kv.keys == TOKENS && kv.queries == TOKENS && kv.dim == DIM &&
       kv.q_group == 1, "%s: %zu heads, %zu keys, %zu queries, d = %zu", g->layer, kv.heads,
       kv.keys, kv.queries, kv.dim);
    ok(all_finite(&kv.k) && all_finite(&kv.v) && all_finite(&kv.q), "%s: all finite", g->layer);
    ok(close_rel(sum_all(&kv.k), g->sum_k) && close_rel(sum_all(&kv.v), g->sum_v) &&
       close_rel(sum_all(&kv.q), g->sum_q), "%s: tensor sums as numpy (k %.10g)", g->layer,
       sum_all(&kv.k));
    const float *k = kv.k.data + (size_t)g->head * TOKENS * DIM;
    const float *q = kv.q.data + (size_t)g->head * TOKENS * DIM;
    double norm = sqrt(dot(k, k)), qk = dot(q, k + DIM), p00 = softmax_first(q, k);
    ok(close_rel(norm, g->norm_k0) && close_rel(qk, g->dot_q0k1), "%s head %d: |k0| %.12g, "
       "<q0,k1> %.12g as numpy", g->layer, g->head, norm, qk);
    ok(close_rel(p00, g->p00), "%s head %d: p00 %.12g as numpy", g->layer, g->head, p00);
    kvq__kv_clear(&kv);
}

/* K and V of one head quantized by the KV preset at n = 4 (host codec). */
struct quantized {
    kvq_codec *kc, *vc;
    kvq_qtensor *kq, *vq;
};

static int quantize_kv(const float *k, const float *v, struct quantized *z)
{
    kvq_scheme s;
    int rc = kvq_scheme_preset("KV", 4, &s);
    if (rc == 0)
        rc = kvq_codec_create(&z->kc, &s.k, DIM, 1, 0, 0);
    if (rc == 0)
        rc = kvq_codec_create(&z->vc, &s.v, DIM, 1, 1, 0);
    if (rc == 0)
        rc = kvq_qtensor_create(&z->kq, z->kc, TOKENS);
    if (rc == 0)
        rc = kvq_qtensor_create(&z->vq, z->vc, TOKENS);
    if (rc == 0)
        rc = kvq__codec_quantize(z->kc, k, TOKENS, z->kq);
    if (rc == 0)
        rc = kvq__codec_quantize(z->vc, v, TOKENS, z->vq);
    return rc;
}

static void quantized_clear(struct quantized *z)
{
    kvq_qtensor_destroy(z->kq);
    kvq_qtensor_destroy(z->vq);
    kvq_codec_destroy(z->kc);
    kvq_codec_destroy(z->vc);
}

/* p_00 from float logits of query 0 (row 0 of [queries x keys]). */
static double softmax_first_logits(const float *logits)
{
    double top = -INFINITY, z = 0;
    for (int j = 0; j < TOKENS; j++)
        top = fmax(top, logits[j]);
    for (int j = 0; j < TOKENS; j++)
        z += exp(logits[j] - top);
    return exp(logits[0] - top) / z;
}

/* The host reference attention of layer 0, head 0 under the KV preset at
 * n = 4: the library's reference logits reproduce the golden p00, and the
 * quantized attention has a finite, non-negative KL. */
static void test_reference_attention(void)
{
    kvq_kv kv;
    struct quantized z = {0};
    kvq_attention_out out = {0};
    int rc = load("layer0", &kv);
    if (rc == 0)
        rc = quantize_kv(kv.k.data, kv.v.data, &z);
    out.queries = calloc(TOKENS, sizeof *out.queries);
    out.logits_ref = calloc((size_t)TOKENS * TOKENS, sizeof *out.logits_ref);
    if (rc == 0 && (!out.queries || !out.logits_ref))
        rc = KVQ_ERR_NOMEM;
    if (rc == 0) {
        kvq_attention_job job = {.dim = DIM, .keys = TOKENS, .queries = TOKENS, .sharpness = 1,
                                 .q = kv.q.data, .k = kv.k.data, .v = kv.v.data,
                                 .k_codec = z.kc, .v_codec = z.vc, .k_codes = z.kq,
                                 .v_codes = z.vq};
        rc = kvq__reference_attention(&job, &out);
    }
    if (!ok(rc == 0, "layer0 head 0, KV n = 4: host reference attention runs (%d)", rc)) {
        skip(2, "no result");
        goto cleanup;
    }
    /* The reference logits are floats (about 1e-7 relative each), so p00
     * from them agrees with the double-precision golden value to ~1e-6. */
    double p00 = softmax_first_logits(out.logits_ref);
    ok(fabs(p00 - goldens[0].p00) <= 1e-5 * goldens[0].p00, "reference logits give p00 %.9g",
       p00);
    double kl = 0, top1 = 0;
    for (int i = 0; i < TOKENS; i++) {
        kl += out.queries[i].kl / TOKENS;
        top1 += out.queries[i].top1 / TOKENS;
    }
    ok(isfinite(kl) && kl >= 0 && top1 >= 0 && top1 <= 1, "KV n = 4: mean kl %.6g, top-1 %.4f",
       kl, top1);
cleanup:
    free(out.queries);
    free(out.logits_ref);
    quantized_clear(&z);
    kvq__kv_clear(&kv);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(fixture, sizeof fixture, "%s/tests/data/real/minilm_l6_3layers.safetensors",
             top ? top : ".");
    plan(13);
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++)
        test_golden(&goldens[i]);
    test_reference_attention();
    return exit_status();
}
