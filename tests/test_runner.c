/* test_runner.c — the experiment runner (kvq__experiment_run) on the host:
 * every per-trial metric recomputed from data drawn here for (seed, purpose,
 * trial), the QJL variance bound from its formula, effective bits by hand,
 * cell labels and progress; on the default OpenCL device, where the runner
 * quantizes K and V from the trial's device copies and takes device codecs
 * from the context's cache, every metric equal to the trial recomputed
 * through the public calls on a fresh context of that device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "runtime/devices.h"
#include "tap.h"

#define SEED 31u
#define DIM 32
#define KEYS 40
#define QUERIES 3
#define TRIALS 3
#define TAU 1.5

static const char *const scheme_text[3] = {"QKQV", "KV", "k=wht:mse2+qjl16+nb16,v=wht:mse3"};
static const int scheme_bits[3] = {3, 2, 0};
static const char *const dist_text[2][2] = {{"gauss", NULL}, {"t3", "4"}};

/* Progress calls seen: count, and whether done rose by one each time. */
typedef struct progress {
    size_t calls, last, total;
    int monotone;
} progress;

static void on_progress(void *arg, size_t done, size_t total)
{
    progress *p = arg;
    p->monotone &= done == p->last + 1;
    p->last = done;
    p->total = total;
    p->calls++;
}

/* Codes of x on ctx through kvq_quantize, or (NULL) the host codec. */
static int quantize_on(kvq_ctx *ctx, const kvq_codec *c, const float *x, kvq_qtensor *out)
{
    return ctx ? kvq_quantize(ctx, c, x, KEYS, out) : kvq__codec_quantize(c, x, KEYS, out);
}

/* One trial recomputed outside the runner: K, V, Q straight from
 * kvq_source_generate for (SEED, DATA_K/V/Q, t), codecs seeded (SEED, 0/1, t),
 * the reference (through the public calls on a fresh sibling of ctx, which
 * holds no codec or tensor the runner left on the device, or with ctx NULL
 * the host reference), the per-trial aggregate and the QJL bound formula. */
static int recompute(kvq_ctx *on, const kvq_source *src, const kvq_scheme *s, uint32_t t,
                     double m[KVQ_METRIC_COUNT], double *bound)
{
    kvq_ctx *ctx = NULL;
    if (on && kvq__ctx_sibling(on, &ctx))
        return -1;
    float k[KEYS * DIM], v[KEYS * DIM], q[QUERIES * DIM];
    kvq_codec *kc = NULL, *vc = NULL;
    kvq_qtensor kq = {0}, vq = {0};
    kvq_query_metrics qm[QUERIES];
    kvq_attention_out out = {0};
    int st = kvq_source_generate(src, SEED, KVQ_RNG_DATA_K, t, KEYS, DIM, k) ||
             kvq_source_generate(src, SEED, KVQ_RNG_DATA_V, t, KEYS, DIM, v) ||
             kvq_source_generate(src, SEED, KVQ_RNG_DATA_Q, t, QUERIES, DIM, q) ||
             kvq_codec_create(&kc, &s->k, DIM, SEED, 0, t) || kvq_codec_create(&vc, &s->v, DIM, SEED, 1, t) ||
             kvq__qtensor_init(&kq, kc, KEYS) || kvq__qtensor_init(&vq, vc, KEYS) ||
             quantize_on(ctx, kc, k, &kq) || quantize_on(ctx, vc, v, &vq);
    if (!st) {
        kvq_attention_job job = {.dim = DIM, .keys = KEYS, .queries = QUERIES, .sharpness = TAU,
                                 .q = q, .k = k, .v = v, .k_codec = kc, .v_codec = vc,
                                 .k_codes = &kq, .v_codes = &vq};
        out.queries = qm;
        out.want_vector_errors = 1;
        st = ctx ? kvq_attention_run(ctx, &job, &out) : kvq__reference_attention(&job, &out);
    }
    if (!st)
        kvq__trial_aggregate(qm, QUERIES, &out.k_err, &out.v_err, m);
    *bound = NAN;
    if (!st && s->k.qjl) {
        double q2 = 0, g2 = 0;
        for (int i = 0; i < QUERIES * DIM; i++)
            q2 += (double)q[i] * q[i];
        for (int j = 0; j < KEYS; j++)
            g2 += (double)kq.gammas[j] * kq.gammas[j];
        /* π/(2m)·τ²/d·mean‖q‖²·mean γ², m the codec's projections (not d) */
        *bound = M_PI / (2.0 * kvq__codec_qjl_m(kc)) * TAU * TAU / DIM * (q2 / QUERIES) * (g2 / KEYS);
    }
    kvq__qtensor_clear(&kq);
    kvq__qtensor_clear(&vq);
    kvq_codec_destroy(kc);
    kvq_codec_destroy(vc);
    kvq_ctx_destroy(ctx);
    return st;
}

/* Equal, NaN included. */
static int same(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

/* Grouped-query attention under the causal mask: one K/V head, g = 2 query
 * heads of M = 3 positions folded into its 6 queries. Each query head's
 * position j must see keys 0 … N − M + j, so the trial equals the two query
 * heads run as separate causal jobs (one job of 6 queries would not be one:
 * its positions would run 0 … 5). Returns 1 when the cell matches. */
static int gqa_causal(kvq_ctx *host, const kvq_scheme *s)
{
    enum { G = 2, M = 3, N = 8, D = 16 };
    static float k[N * D], v[N * D], q[G * M * D];
    kvq_kv kv = {0};
    kvq__results *r = NULL;
    kvq_source src;
    kvq_source_parse("gauss", NULL, &src, NULL, 0);
    kvq_source_generate(&src, SEED, KVQ_RNG_DATA_K, 0, N, D, k);
    kvq_source_generate(&src, SEED, KVQ_RNG_DATA_V, 0, N, D, v);
    kvq_source_generate(&src, SEED, KVQ_RNG_DATA_Q, 0, G * M, D, q);
    kv.k = (kvq_tensor){.data = k, .ndim = 3, .shape = {1, N, D, 1}};
    kv.v = (kvq_tensor){.data = v, .ndim = 3, .shape = {1, N, D, 1}};
    kv.q = (kvq_tensor){.data = q, .ndim = 3, .shape = {1, G * M, D, 1}};
    kv.heads = 1, kv.keys = N, kv.queries = G * M, kv.dim = D, kv.q_group = G;
    kvq__experiment e = {.dim = D, .sharpness = TAU, .trials = 1, .seed = SEED, .schemes = s,
                         .nschemes = 1, .real = &kv, .real_name = "gqa", .layer = -1,
                         .causal = 1};
    int good = !kvq__results_create(&r, SEED) && !kvq__experiment_run(host, &e, r) &&
               r->count == 1;
    /* by hand: the two query heads as separate causal jobs on the same codes */
    kvq_codec *kc = NULL, *vc = NULL;
    kvq_qtensor kq = {0}, vq = {0};
    kvq_query_metrics qm[G * M];
    kvq_attention_out out = {.want_vector_errors = 1};
    double m[KVQ_METRIC_COUNT];
    good = good && !kvq_codec_create(&kc, &s->k, D, SEED, 0, 0) &&
           !kvq_codec_create(&vc, &s->v, D, SEED, 1, 0) && !kvq__qtensor_init(&kq, kc, N) &&
           !kvq__qtensor_init(&vq, vc, N) && !kvq__codec_quantize(kc, k, N, &kq) &&
           !kvq__codec_quantize(vc, v, N, &vq);
    for (int h = 0; h < G && good; h++) {
        kvq_attention_job job = {.dim = D, .keys = N, .queries = M, .sharpness = TAU,
                                 .q = q + h * M * D, .k = k, .v = v, .k_codec = kc,
                                 .v_codec = vc, .k_codes = &kq, .v_codes = &vq, .causal = 1};
        out.queries = qm + h * M;
        good = !kvq__reference_attention(&job, &out);
    }
    if (good) {
        kvq__trial_aggregate(qm, G * M, &out.k_err, &out.v_err, m);
        for (int i = 0; i < KVQ_METRIC_COUNT; i++)
            good &= same(r->cells[0].per_trial[i][0], m[i]);
    }
    kvq__qtensor_clear(&kq);
    kvq__qtensor_clear(&vq);
    kvq_codec_destroy(kc);
    kvq_codec_destroy(vc);
    kvq__results_free(r);
    return good;
}

/* A grid whose schemes share codecs: KQV's V codec at 3 bits is QKQV's,
 * and the third scheme is the first again, so the runner copies codes an
 * earlier scheme of the trial made. Each cell must still equal the trial
 * recomputed alone. Returns 1 when all do. */
static int shared_codecs(kvq_ctx *ctx, const kvq_source *src)
{
    kvq_scheme s[3];
    kvq__results *r = NULL;
    int good = !kvq__results_create(&r, SEED) && !kvq_scheme_parse("KQV", 3, &s[0], NULL, 0) &&
               !kvq_scheme_parse("QKQV", 3, &s[1], NULL, 0) && (s[2] = s[0], 1);
    kvq__experiment e = {.dim = DIM, .keys = KEYS, .queries = QUERIES, .sharpness = TAU,
                         .trials = TRIALS, .seed = SEED, .schemes = s, .nschemes = 3,
                         .sources = src, .nsources = 1, .layer = -1};
    good = good && kvq__experiment_run(ctx, &e, r) == 0 && r->count == 3;
    for (size_t c = 0; good && c < 3; c++)
        for (uint32_t t = 0; good && t < TRIALS; t++) {
            double m[KVQ_METRIC_COUNT], b;
            good = !recompute(kvq_ctx_is_host(ctx) ? NULL : ctx, src, &s[c], t, m, &b);
            for (int k = 0; good && k < KVQ_METRIC_COUNT; k++)
                good = same(r->cells[c].per_trial[k][t], m[k]);
        }
    kvq__results_free(r);
    return good;
}

int main(void)
{
    kvq_scheme schemes[3];
    kvq_source sources[2];
    kvq_ctx *host = NULL;
    kvq__results *r = NULL;
    progress pr = {0, 0, 0, 1};
    int st = kvq_ctx_create(&host, "host") || kvq__results_create(&r, SEED);
    for (int i = 0; i < 3; i++)
        st = st || kvq_scheme_parse(scheme_text[i], scheme_bits[i], &schemes[i], NULL, 0);
    for (int i = 0; i < 2; i++)
        st = st || kvq_source_parse(dist_text[i][0], dist_text[i][1], &sources[i], NULL, 0);
    kvq__experiment e = {.dim = DIM, .keys = KEYS, .queries = QUERIES, .sharpness = TAU,
                         .trials = TRIALS, .seed = SEED, .schemes = schemes, .nschemes = 3,
                         .sources = sources, .nsources = 2, .layer = -1,
                         .progress = on_progress, .progress_arg = &pr};
    plan(15);
    ok(!st && kvq__experiment_run(host, &e, r) == 0 && r->count == 6, "runs 2 sources × 3 schemes");
    if (st || r->count != 6) {
        skip(14, "no results");
        goto cleanup;
    }
    ok(pr.calls == 18 && pr.last == 18 && pr.total == 18 && pr.monotone,
       "progress: 18 calls, done 1…18 of 18");
    int labels = 1;
    for (size_t c = 0; c < 6; c++) {
        const kvq__cell *cell = &r->cells[c];
        labels &= strcmp(cell->scheme, schemes[c % 3].name) == 0 && cell->bits == scheme_bits[c % 3] &&
                  strcmp(cell->dist, c < 3 ? "gauss" : "t3") == 0 &&
                  strcmp(cell->rank, c < 3 ? "full" : "4") == 0 && cell->dim == DIM &&
                  cell->keys == KEYS && cell->queries == QUERIES && cell->trials == TRIALS &&
                  cell->sharpness == TAU && strstr(cell->device, "host") != NULL;
    }
    ok(labels, "cells in source-major order, labelled (scheme, bits, dist, rank, sizes, τ, device)");
    /* n + side bits / d by hand: QKQV 3: 2 + 32/32 (QJL m = d) + (32 + 32)/32 = 5
     * for both; KV 2: 2 + 32/32 = 3; custom K: 2 + 16/32 + (16 + 16)/32 = 3.5,
     * V: 3 + 32/32 = 4. */
    static const double eff[3][2] = {{5, 5}, {3, 3}, {3.5, 4}};
    int bits = 1;
    for (size_t c = 0; c < 6; c++)
        bits &= r->cells[c].eff_bits_k == eff[c % 3][0] && r->cells[c].eff_bits_v == eff[c % 3][1];
    ok(bits, "effective bits: QKQV 5/5, KV 3/3, k=mse2+qjl16+nb16 3.5, v=mse3 4");
    int data = 1, qjl = 1, measured = 1, differ = 1;
    size_t checked = 0;
    for (size_t c = 0; c < 6; c++) {
        const kvq__cell *cell = &r->cells[c];
        for (uint32_t t = 0; t < TRIALS; t++) {
            double m[KVQ_METRIC_COUNT], b;
            if (recompute(NULL, &sources[c / 3], &schemes[c % 3], t, m, &b)) {
                data = 0;
                continue;
            }
            for (int k = 0; k < KVQ_METRIC_COUNT; k++, checked++)
                data &= same(cell->per_trial[k][t], m[k]);
            if (cell->qjl_var_bound) {
                qjl &= fabs(cell->qjl_var_bound[t] - b) <= 1e-12 * b && b > 0;
                measured &= cell->qjl_var_measured[t] == cell->per_trial[KVQ_METRIC_LOGIT_MSE][t];
            } else {
                qjl &= !schemes[c % 3].k.qjl && !cell->qjl_var_measured;
            }
        }
        differ &= cell->per_trial[KVQ_METRIC_KL][0] != cell->per_trial[KVQ_METRIC_KL][1] &&
                  cell->per_trial[KVQ_METRIC_KL][1] != cell->per_trial[KVQ_METRIC_KL][2];
    }
    ok(data && checked == 6 * TRIALS * KVQ_METRIC_COUNT,
       "every per-trial metric (%zu) = a recomputation from kvq_source_generate(seed, purpose, t) "
       "and codecs seeded (seed, 0/1, t)", checked);
    ok(differ, "trials differ from each other (per-trial seeding, not one draw reused)");
    ok(qjl, "QJL bound = π/(2m)·τ²/d·mean‖q‖²·mean γ² with the codec's m (16 for qjl16); "
            "none without QJL on K");
    ok(measured, "QJL measured variance = the trial's logit_mse");
    /* same grid again: same numbers; another seed: others */
    kvq__results *r2 = NULL;
    kvq__results_create(&r2, SEED);
    e.progress = NULL;
    e.nsources = 1;
    ok(kvq__experiment_run(host, &e, r2) == 0 && r2->count == 3 &&
       memcmp(r2->cells[0].per_trial[KVQ_METRIC_DIST6], r->cells[0].per_trial[KVQ_METRIC_DIST6],
              TRIALS * sizeof(double)) == 0, "rerun: bit-identical per-trial values");
    e.seed = SEED + 1;
    ok(kvq__experiment_run(host, &e, r2) == 0 && r2->count == 6 &&
       r2->cells[3].per_trial[KVQ_METRIC_KL][0] != r->cells[0].per_trial[KVQ_METRIC_KL][0],
       "another seed: other values");
    kvq__results_free(r2);
    e.trials = 0;
    ok(kvq__experiment_run(host, &e, r) == KVQ_ERR_INVALID_ARG, "0 trials: KVQ_ERR_INVALID_ARG");
    e.trials = TRIALS;
    e.nsources = 0;
    ok(kvq__experiment_run(host, &e, r) == KVQ_ERR_INVALID_ARG && r->count == 6,
       "no source and no real data: KVQ_ERR_INVALID_ARG, nothing appended");
    ok(gqa_causal(host, &schemes[1]), "grouped queries under the causal mask: each query head's "
       "positions restart (= the query heads as separate causal jobs)");
    ok(shared_codecs(host, &sources[0]), "schemes that share codecs (KQV and QKQV at 3 bits: V; "
       "KQV twice: both) take the codes made first, and every metric = a recomputation");
    kvq_ctx *dev = NULL;
    if (kvq_ctx_create(&dev, kvq_device_spec_default()) || kvq_ctx_is_host(dev))
        skip(1, "no OpenCL device");
    else
        ok(shared_codecs(dev, &sources[0]), "on %s: every metric of the runner (K and V quantized "
           "from the trial's device copies, device codecs from the context's cache) = the trial "
           "through kvq_quantize and kvq_attention_run on a fresh context of the same device",
           kvq_ctx_device(dev)->name);
    kvq_ctx_destroy(dev);
cleanup:
    kvq__results_free(r);
    kvq_ctx_destroy(host);
    return exit_status();
}
