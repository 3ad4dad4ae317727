/* test_public_api.c — a host program that sees only include/kvq.h and links
 * the shared libkvq: every handle is made, used and destroyed through the
 * exported functions alone, and the results agree with what the records
 * and files say. If a public job needed an internal symbol, this would not
 * link. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvq.h"
#include "tap.h"

enum { D = 64, N = 48, M = 6 };

static void test_devices(void)
{
    kvq_devices *list = NULL;
    size_t n, idx = 99;
    ok(kvq_devices_create(&list) == KVQ_OK && list, "devices: list created");
    n = kvq_devices_count(list);
    ok(n >= 1 && kvq_devices_get(list, n - 1)->type == KVQ_DEVICE_HOST,
       "devices: %zu entries, the last is the host", n);
    ok(kvq_devices_get(list, n) == NULL, "devices: index past the end is NULL");
    ok(kvq_devices_resolve(list, "host", &idx) == KVQ_OK && idx == n - 1,
       "devices: \"host\" resolves to the last entry");
    ok(kvq_devices_resolve(list, "no-such-device-name", &idx) == KVQ_ERR_NO_DEVICE,
       "devices: an unmatched spec is KVQ_ERR_NO_DEVICE");
    kvq_devices_destroy(list);
    kvq_devices_destroy(NULL);
}

static void test_codebook(void)
{
    const kvq_codebook *cb = NULL;
    ok(kvq_codebook_get(D, 2, &cb) == KVQ_OK && kvq_codebook_levels(cb) == 4,
       "codebook: 2 bits has 4 levels");
    const double *c = kvq_codebook_centroids(cb), *t = kvq_codebook_thresholds(cb);
    ok(fabs(c[0] + c[3]) < 1e-15 && fabs(t[1]) < 1e-15 && fabs(t[0] - (c[0] + c[1]) / 2) < 1e-15,
       "codebook: symmetric centroids, midpoint thresholds");
    double dist = kvq_codebook_distortion(cb);
    ok(dist > 0.1 && dist < 0.125, "codebook: D_2(64) = %.5f, near Gaussian Lloyd-Max 0.1175", dist);
    ok(kvq_codebook_get(D, 9, &cb) == KVQ_ERR_INVALID_ARG, "codebook: 9 bits refused");
}

static void fill(float *x, size_t n, double phase)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)sin(0.37 * (double)i + phase) + 0.25f * (float)cos(1.3 * (double)i);
}

/* Runs job on ctx asking for K's errors alone, then V's alone: each must
 * equal that tensor's errors in both (a run that asked for both) and leave
 * the other tensor's record as it was (here zero). */
static int one_tensor_errors(kvq_ctx *ctx, const kvq_attention_job *job,
                             const kvq_attention_out *both)
{
    kvq_query_metrics qm[M];
    kvq_attention_out ko = {.queries = qm, .want_vector_errors = KVQ_VECTOR_ERRORS_K};
    kvq_attention_out vo = {.queries = qm, .want_vector_errors = KVQ_VECTOR_ERRORS_V};
    if (kvq_attention_run(ctx, job, &ko) != KVQ_OK || kvq_attention_run(ctx, job, &vo) != KVQ_OK)
        return 0;
    return ko.k_err.rel_mse == both->k_err.rel_mse && ko.k_err.dir_err == both->k_err.dir_err &&
           ko.v_err.rel_mse == 0 && ko.v_err.dir_err == 0 &&
           vo.v_err.rel_mse == both->v_err.rel_mse && vo.v_err.dir_err == both->v_err.dir_err &&
           vo.k_err.rel_mse == 0 && vo.k_err.dir_err == 0 && both->v_err.rel_mse > 0;
}

/* Quantize K and V with the KQV preset on the host context and run attention. */
static void test_attention(void)
{
    kvq_ctx *ctx = NULL;
    kvq_scheme s;
    kvq_codec *kc = NULL, *vc = NULL;
    kvq_qtensor *kq = NULL, *vq = NULL;
    float *k = malloc(sizeof(float) * N * D), *v = malloc(sizeof(float) * N * D);
    float *q = malloc(sizeof(float) * M * D), *back = malloc(sizeof(float) * N * D);
    kvq_query_metrics qm[M];
    char err[160];
    fill(k, (size_t)N * D, 0.0);
    fill(v, (size_t)N * D, 1.0);
    fill(q, (size_t)M * D, 2.0);

    ok(kvq_ctx_create(&ctx, "host") == KVQ_OK && kvq_ctx_is_host(ctx), "ctx: host context");
    ok(kvq_scheme_parse("KQV", 4, &s, err, sizeof err) == KVQ_OK, "scheme: KQV at n = 4");
    ok(kvq_codec_create(&kc, &s.k, D, 1, 0, 0) == KVQ_OK &&
           kvq_codec_create(&vc, &s.v, D, 1, 1, 0) == KVQ_OK,
       "codec: K and V codecs created");
    ok(kvq_qtensor_create(&kq, kc, N) == KVQ_OK && kvq_qtensor_create(&vq, vc, N) == KVQ_OK &&
           kvq_qtensor_count(kq) == N,
       "qtensor: created for %d vectors", N);
    kvq_budget b;
    kvq_codec_budget(&s.k, D, &b);
    ok(fabs(kvq_qtensor_bytes_per_vector(kq) - b.bytes_per_token) < 1e-12,
       "qtensor: %.2f bytes per vector, as the budget says", kvq_qtensor_bytes_per_vector(kq));
    ok(kvq_quantize(ctx, kc, k, N, kq) == KVQ_OK && kvq_quantize(ctx, vc, v, N, vq) == KVQ_OK,
       "quantize: K and V");
    ok(kvq_dequantize(ctx, kc, kq, back) == KVQ_OK, "dequantize: K");
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)N * D; i++) {
        num += (back[i] - k[i]) * (back[i] - k[i]);
        den += k[i] * k[i];
    }
    ok(num / den < 0.02, "dequantize: relative MSE %.4f of a 4-bit rotated codec", num / den);

    kvq_attention_job job = {.dim = D, .keys = N, .queries = M, .sharpness = 1.0,
                             .q = q, .k = k, .v = v, .k_codec = kc, .v_codec = vc,
                             .k_codes = kq, .v_codes = vq};
    kvq_attention_out out = {.queries = qm, .want_vector_errors = 1};
    ok(kvq_attention_run(ctx, &job, &out) == KVQ_OK, "attention: host reference ran");
    int sane = 1;
    for (int i = 0; i < M; i++)
        sane &= qm[i].kl >= 0 && qm[i].kl < 0.1 && qm[i].top1 >= 0 && qm[i].top1 <= 1;
    ok(sane && out.k_err.rel_mse > 0 && out.k_err.rel_mse < 0.02,
       "attention: kl in [0, 0.1), k_rel_mse %.4f", out.k_err.rel_mse);
    ok(one_tensor_errors(ctx, &job, &out), "attention on the host: KVQ_VECTOR_ERRORS_K / _V "
       "fill that tensor's errors alone, the same as with both");
    kvq_ctx *dev = NULL;
    if (kvq_ctx_create(&dev, NULL) == KVQ_OK && !kvq_ctx_is_host(dev)) {
        kvq_attention_out both = {.queries = qm, .want_vector_errors = KVQ_VECTOR_ERRORS};
        ok(kvq_attention_run(dev, &job, &both) == KVQ_OK && one_tensor_errors(dev, &job, &both),
           "attention on %s: KVQ_VECTOR_ERRORS_K / _V fill that tensor's errors alone",
           kvq_ctx_device(dev)->name);
    } else {
        skip(1, "no OpenCL device");
    }
    kvq_ctx_destroy(dev);

    kvq_qtensor_destroy(kq);
    kvq_qtensor_destroy(vq);
    kvq_codec_destroy(kc);
    kvq_codec_destroy(vc);
    kvq_ctx_destroy(ctx);
    free(k);
    free(v);
    free(q);
    free(back);
}

/* A tensor written to .npy comes back with the same shape and bits, and
 * three such files load as a KV set whose heads point at the right rows. */
static void test_tensors(void)
{
    char dir[] = "/tmp/kvq_public_api.XXXXXX", kp[96], vp[96], err[256];
    size_t shape[3] = {2, 5, 16}, got[4];
    kvq_tensor *t = NULL, *r = NULL;
    kvq_kv *kv = NULL;
    if (!mkdtemp(dir)) {
        skip(6, "no temporary directory");
        return;
    }
    snprintf(kp, sizeof kp, "%s/k.npy", dir);
    snprintf(vp, sizeof vp, "%s/v.npy", dir);
    ok(kvq_tensor_create(&t, 3, shape) == KVQ_OK && kvq_tensor_numel(t) == 160,
       "tensor: [2,5,16] created with 160 elements");
    float *x = kvq_tensor_data(t);
    for (int i = 0; i < 160; i++)
        x[i] = (float)i / 7.0f - 3.0f;
    ok(kvq_npy_write(kp, t, err, sizeof err) == KVQ_OK &&
           kvq_npy_write(vp, t, err, sizeof err) == KVQ_OK,
       "tensor: written as .npy");
    ok(kvq_tensor_create_npy(&r, kp, err, sizeof err) == KVQ_OK &&
           kvq_tensor_shape(r, got) == 3 && got[0] == 2 && got[1] == 5 && got[2] == 16 &&
           got[3] == 1 && memcmp(kvq_tensor_data(r), x, 160 * sizeof(float)) == 0,
       "tensor: read back with the same shape and bits");
    size_t heads, keys, queries, dim, g;
    const float *hk, *hv, *hq;
    ok(kvq_kv_create_npy(&kv, kp, vp, NULL, NULL, err, sizeof err) == KVQ_OK,
       "kv: K and V loaded from .npy");
    if (kv) {
        kvq_kv_shape(kv, &heads, &keys, &queries, &dim, &g);
        kvq_kv_head(kv, 1, &hk, &hv, &hq);
    }
    ok(kv && heads == 2 && keys == 5 && queries == 0 && dim == 16,
       "kv: 2 heads of 5 keys at d = 16, no queries");
    ok(kv && hk[0] == x[80] && hv[79] == x[159] && hq == NULL,
       "kv: head 1 starts at row 5 of the file");
    kvq_kv_destroy(kv);
    kvq_tensor_destroy(t);
    kvq_tensor_destroy(r);
    unlink(kp);
    unlink(vp);
    rmdir(dir);
}

static void test_status(void)
{
    ok(strcmp(kvq_err_name(KVQ_ERR_POOL_LIMIT), "KVQ_ERR_POOL_LIMIT") == 0 &&
           strcmp(kvq_err_name(-5), "CL_OUT_OF_RESOURCES") == 0,
       "status: library and OpenCL names");
    ok(strcmp(kvq_metric_name(KVQ_METRIC_K_DIR_ERR), "k_dir_err") == 0 &&
           kvq_metric_higher_is_better(KVQ_METRIC_TOP1) &&
           !kvq_metric_higher_is_better(KVQ_METRIC_KL) && kvq_metric_name(KVQ_METRIC_COUNT) == NULL,
       "metrics: names and directions from the table");
}

int main(void)
{
    plan(29);
    test_devices();
    test_codebook();
    test_attention();
    test_tensors();
    test_status();
    return exit_status();
}
