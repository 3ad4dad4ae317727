/* test_stream.c — work on key chunks (doc/scaling.md §6) gives the numbers
 * of work on whole tensors:
 *   - a synthetic source's rows [j0, j0 + n) are bit for bit that part of
 *     the whole tensor (every family, low rank, outlier channels), and the
 *     needle queries read from a row source equal those from memory;
 *   - quantizing in chunks ($KVQ_CHUNK_KEYS) gives the codes, norms, γ and
 *     tensor words of quantizing whole, on the host and on the device,
 *     including KIVI's token groups at a chunk size that is not a multiple
 *     of the group (the chunk is rounded down to one) and the out stage
 *     (whose channel list needs the whole tensor: quantized whole);
 *   - attention with K and V generated chunk by chunk equals attention on
 *     the same data held whole (host: identical; device: within float
 *     summation order);
 *   - a real set streamed from .npy files runs to the same results as the
 *     same files loaded, and a NaN deep in a streamed file is refused when
 *     the files are opened, naming the tensor and the element.
 * Reference values are the library's own whole-tensor paths, which the
 * conformance tests check against independent computations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvq.h"
#include "internal.h"
#include "analysis/kv_codes.h"
#include "tap.h"

#define D 64
#define N 1000

/* Whether rows [j0, j0 + n) of (s, purpose, trial) equal that part of the whole. */
static int rows_match(const kvq_source *s, size_t j0, size_t n, const float *whole)
{
    float *part = malloc(n * D * sizeof *part);
    int same = part && !kvq__source_generate_rows(s, 3, KVQ_RNG_DATA_V, 2, j0, n, D, part) &&
               !memcmp(part, whole + j0 * D, n * D * sizeof *part);
    free(part);
    return same;
}

static void test_generate_rows(void)
{
    static const char *dists[][2] = {{"gauss", "full"}, {"t5", "full"}, {"laplace", "full"},
                                     {"gauss", "8"},    {"outlier4x10", "full"},
                                     {"t3", "16"}};
    float *whole = malloc(N * D * sizeof *whole);
    for (size_t i = 0; i < sizeof dists / sizeof dists[0]; i++) {
        kvq_source s;
        int good = whole && !kvq_source_parse(dists[i][0], dists[i][1], &s, NULL, 0) &&
                   !kvq_source_generate(&s, 3, KVQ_RNG_DATA_V, 2, N, D, whole) &&
                   rows_match(&s, 0, 1, whole) && rows_match(&s, 17, 300, whole) &&
                   rows_match(&s, 999, 1, whole) && rows_match(&s, 0, N, whole);
        ok(good, "%s rank %s: generated rows 0, 17…316, 999 equal the whole tensor's", dists[i][0],
           dists[i][1]);
    }
    /* needle queries: read row by row from a generator equal those from memory */
    kvq_source s;
    kvq__source_rows g;
    float qa[8 * D], qb[8 * D];
    int good = !kvq_source_parse("gauss+needle2", "full", &s, NULL, 0) &&
               !kvq_source_generate(&s, 3, KVQ_RNG_DATA_K, 2, N, D, whole) &&
               !kvq_source_queries(&s, 3, 2, whole, N, 8, D, qa) &&
               !kvq__source_queries_rows(&s, 3, 2,
                                         kvq__source_rows_init(&g, &s, 3, KVQ_RNG_DATA_K, 2, N, D),
                                         8, D, qb) &&
               !memcmp(qa, qb, sizeof qa);
    ok(good, "needle queries from generated rows equal those from the whole K");
    free(whole);
}

/* Whether two quantized tensors of count vectors hold the same bits. */
static int same_codes(const kvq_qtensor *a, const kvq_qtensor *b)
{
    int same = a->words == b->words && a->tside_words == b->tside_words &&
               !memcmp(a->codes, b->codes, a->count * a->words * 4) &&
               !memcmp(a->norms, b->norms, a->count * 4);
    if (a->gammas)
        same = same && b->gammas && !memcmp(a->gammas, b->gammas, a->count * 4);
    if (a->tside)
        same = same && b->tside && !memcmp(a->tside, b->tside, a->tside_words * 4);
    return same;
}

/* Quantizes x whole on ctx and in chunks on chunked (from a generator). */
static void check_chunked_quantize(kvq_ctx *ctx, kvq_ctx *chunked, const char *spec,
                                   const kvq_source *src, const float *x)
{
    kvq_scheme s;
    kvq_codec *c = NULL;
    kvq_qtensor whole = {0}, parts = {0};
    kvq__source_rows g;
    int st = kvq_scheme_parse(spec, 0, &s, NULL, 0) || kvq_codec_create(&c, &s.k, D, 5, 0, 1) ||
             kvq__qtensor_init(&whole, c, N) || kvq__qtensor_init(&parts, c, N);
    int sw = st ? st : kvq_quantize(ctx, c, x, N, &whole);
    int sp = st ? st : kvq__quantize_rows(chunked, c,
                                          kvq__source_rows_init(&g, src, 3, KVQ_RNG_DATA_K, 0,
                                                                N, D), &parts);
    if (sw == KVQ_ERR_UNSUPPORTED)      /* a stage this device does not run */
        ok(sp == sw, "%s: %s refuses it in chunks as it does whole", spec,
           kvq_ctx_device(ctx)->name);
    else
        ok(!st && !sw && !sp && same_codes(&whole, &parts),
           "%s: %s in chunks of %zu keys gives the codes of the whole tensor", spec,
           kvq_ctx_device(ctx)->name,
           c && kvq__codec_chunkable(c) ? kvq__chunk_rows(chunked, D, kvq__codec_token_group(c))
                                        : (size_t)N);
    kvq__qtensor_clear(&whole);
    kvq__qtensor_clear(&parts);
    kvq_codec_destroy(c);
}

static const char *const quant_specs[] = {"k=wht:mse4,v=wht:mse4", "k=wht:mse3+qjl,v=wht:mse3",
                                          "k=q4_0,v=q4_0",          "k=kivi2,v=kivi2",
                                          "k=kivi4g64,v=kivi4g64",   "k=wht:mse3+out4@8,v=wht:mse3"};
#define NQUANT (int)(sizeof quant_specs / sizeof quant_specs[0])

static void test_quantize(kvq_ctx *ctx, const char *spec_dev)
{
    kvq_source src;
    kvq_ctx *chunked = NULL;
    float *x = malloc(N * D * sizeof *x);
    setenv("KVQ_CHUNK_KEYS", "100", 1);
    int st = kvq_ctx_create(&chunked, spec_dev);
    unsetenv("KVQ_CHUNK_KEYS");
    if (st || !x || kvq_source_parse("t5", "full", &src, NULL, 0) ||
        kvq_source_generate(&src, 3, KVQ_RNG_DATA_K, 0, N, D, x)) {
        for (int i = 0; i < NQUANT; i++)
            ok(0, "setup for chunked quantization on %s", spec_dev);
    } else {
        for (int i = 0; i < NQUANT; i++)
            check_chunked_quantize(ctx, chunked, quant_specs[i], &src, x);
    }
    kvq_ctx_destroy(chunked);
    free(x);
}

/* The largest relative difference of two metric rows (absolute below 1e-9). */
static double worst_rel(const double *a, const double *b)
{
    double w = 0;
    for (int k = 0; k < KVQ_METRIC_COUNT; k++) {
        if (isnan(a[k]) && isnan(b[k]))
            continue;
        double d = fabs(a[k] - b[k]), m = fmax(fabs(a[k]), fabs(b[k]));
        w = fmax(w, m > 1e-9 ? d / m : d);
        if (isnan(d))
            w = INFINITY;
    }
    return w;
}

/* One synthetic experiment (2 trials; KQV, QKQV, and outlier channels on
 * K and V, whose codes are split by part) into r. */
static int run_synthetic(kvq_ctx *ctx, int causal, kvq__results **r)
{
    kvq_scheme s[3];
    kvq_source src;
    kvq__experiment e = {.dim = D, .keys = N, .queries = 16, .sharpness = 2.0,
                         .causal = causal, .trials = 2, .seed = 9, .schemes = s, .nschemes = 3,
                         .sources = &src, .nsources = 1, .layer = -1};
    if (kvq_scheme_preset("KQV", 3, &s[0]) || kvq_scheme_preset("QKQV", 3, &s[1]) ||
        kvq_scheme_parse("k=wht:mse3+out4@6,v=wht:mse2+qjl+out2@4", 0, &s[2], NULL, 0) ||
        kvq_source_parse("outlier4x10", "full", &src, NULL, 0) || kvq__results_create(r, 9))
        return -1;
    return kvq__experiment_run(ctx, &e, *r);
}

/* Whether results a and b agree to tol in every metric of every trial. */
static int results_agree(const kvq__results *a, const kvq__results *b, double tol, double *worst)
{
    *worst = 0;
    if (!a || !b || a->count != b->count)
        return 0;
    for (size_t c = 0; c < a->count; c++)
        for (size_t t = 0; t < a->cells[c].trials; t++) {
            double x[KVQ_METRIC_COUNT], y[KVQ_METRIC_COUNT];
            for (int k = 0; k < KVQ_METRIC_COUNT; k++) {
                x[k] = a->cells[c].per_trial[k][t];
                y[k] = b->cells[c].per_trial[k][t];
            }
            *worst = fmax(*worst, worst_rel(x, y));
        }
    return *worst <= tol;
}

/* The same experiment held whole on ctx and generated in chunks of 300 keys. */
static void test_attention(kvq_ctx *ctx, const char *spec, double tol)
{
    kvq__results *whole = NULL, *parts = NULL;
    kvq_ctx *chunked = NULL;
    for (int causal = 0; causal < 2; causal++) {
        setenv("KVQ_CHUNK_KEYS", "300", 1);
        int st = kvq_ctx_create(&chunked, spec);
        unsetenv("KVQ_CHUNK_KEYS");
        double worst = INFINITY;
        int good = !st && !run_synthetic(ctx, causal, &whole) &&
                   !run_synthetic(chunked, causal, &parts) &&
                   results_agree(whole, parts, tol, &worst);
        ok(good, "%s%s: K and V generated in chunks of 300 keys give the whole-tensor metrics "
           "(worst relative difference %.2g, allowed %.0g)", kvq_ctx_device(ctx)->name,
           causal ? ", causal" : "", worst, tol);
        kvq__results_free(whole);
        kvq__results_free(parts);
        kvq_ctx_destroy(chunked);
        whole = parts = NULL;
        chunked = NULL;
    }
}

/* Writes K and V of 2 heads (and a NaN at V[1, bad, 3] when bad < N). */
static int write_set(const char *kp, const char *vp, size_t bad)
{
    kvq_source src;
    kvq_tensor *k = NULL, *v = NULL;
    size_t shape[3] = {2, N, D};
    int st = kvq_source_parse("laplace", "full", &src, NULL, 0) ||
             kvq_tensor_create(&k, 3, shape) || kvq_tensor_create(&v, 3, shape);
    for (uint32_t h = 0; h < 2 && !st; h++)
        st = kvq_source_generate(&src, 4, KVQ_RNG_DATA_K, h, N, D, kvq_tensor_data(k) + h * N * D) ||
             kvq_source_generate(&src, 4, KVQ_RNG_DATA_V, h, N, D, kvq_tensor_data(v) + h * N * D);
    if (!st && bad < N)
        kvq_tensor_data(v)[(N + bad) * D + 3] = NAN;
    st = st || kvq_npy_write(kp, k, NULL, 0) || kvq_npy_write(vp, v, NULL, 0);
    kvq_tensor_destroy(k);
    kvq_tensor_destroy(v);
    return st;
}

/* The real-data experiment on kv (both heads, KQV at 3 bits) into r. */
static int run_real(kvq_ctx *ctx, const kvq_kv *kv, kvq__results **r)
{
    kvq_scheme s;
    kvq__experiment e = {.dim = D, .queries = 12, .sharpness = 1.5, .trials = 2, .seed = 9,
                         .schemes = &s, .nschemes = 1, .real = kv, .real_name = "set",
                         .layer = -1};
    if (kvq_scheme_preset("KQV", 3, &s) || kvq__results_create(r, 9))
        return -1;
    return kvq__experiment_run(ctx, &e, *r);
}

static void test_npy(kvq_ctx *ctx)
{
    char dir[] = "/tmp/kvq-stream-XXXXXX", kp[64], vp[64], err[300] = "";
    kvq_kv loaded, streamed;
    kvq__results *a = NULL, *b = NULL;
    const char *bad = NULL;
    double worst = INFINITY;
    int made = mkdtemp(dir) != NULL;
    snprintf(kp, sizeof kp, "%s/k.npy", dir);
    snprintf(vp, sizeof vp, "%s/v.npy", dir);
    int good = made && !write_set(kp, vp, N) &&
               !kvq__kv_load_npy(kp, vp, NULL, &loaded, NULL, err, sizeof err) &&
               !kvq__kv_open_npy(kp, vp, NULL, &streamed, NULL, err, sizeof err) &&
               streamed.k.data == NULL && streamed.heads == 2 && streamed.keys == N &&
               !run_real(ctx, &loaded, &a) && !run_real(ctx, &streamed, &b) &&
               results_agree(a, b, 0.0, &worst);
    ok(good, "a set streamed from .npy files gives the results of the loaded set, bit for bit "
       "(worst %.2g) %s", worst, err);
    kvq__kv_clear(&loaded);
    kvq__kv_clear(&streamed);
    kvq__results_free(a);
    kvq__results_free(b);
    int st = made && !write_set(kp, vp, 777) ? kvq__kv_open_npy(kp, vp, NULL, &streamed, &bad,
                                                                err, sizeof err) : -1;
    ok(st == KVQ_ERR_NONFINITE && bad && !strcmp(bad, vp) && strstr(err, "V: ") &&
           strstr(err, "[1, 777, 3]") && streamed.vfile == NULL,
       "a NaN at V[1, 777, 3] of a streamed file is refused when it is opened: '%s'", err);
    remove(kp);
    remove(vp);
    rmdir(dir);
}

int main(void)
{
    kvq_ctx *host = NULL, *dev = NULL;
    const char *spec = kvq_device_spec_default();
    plan(7 + 2 * NQUANT + 4 + 2);
    test_generate_rows();
    if (kvq_ctx_create(&host, "host"))
        fail_all("cannot create the host context");
    test_quantize(host, "host");
    test_attention(host, "host", 0.0);
    test_npy(host);
    if (kvq_ctx_create(&dev, spec) || kvq_ctx_device(dev)->type == KVQ_DEVICE_HOST) {
        skip(NQUANT + 2, "no OpenCL device");
    } else {
        test_quantize(dev, spec);
        test_attention(dev, spec, 1e-4);
    }
    kvq_ctx_destroy(dev);
    kvq_ctx_destroy(host);
    return exit_status();
}
