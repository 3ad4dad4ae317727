/* test_conf_attention.c — conformance: compressed-domain attention (logits
 * from codes, softmax statistics, outputs, vector errors) on every OpenCL
 * device against the double-precision host reference, for every scheme
 * preset and budget, d ∈ {16 … 1024} (powers of two, and 80 … 192 where the
 * presets rotate densely), ragged N and M, zero and large vectors, custom
 * codec specs, the causal mask, and key chunking on both value paths
 * (doc/conformance.md §1); the deployed formats (doc/schemes.md §6)
 * alone and mixed with the presets' codecs; outlier channels
 * (doc/schemes.md §7). */
#include "conformance.h"
#include "analysis/kv_codes.h"
#include "device/device.h"

/* Worst deviations seen, for the log. */
typedef struct worst {
    double logit, kl, js, tv, ent, out, vec, bias;
    size_t queries, top1_diff, topk_diff;
} worst;

/* One configuration. */
typedef struct conf_case {
    const char *scheme;
    int bits, dim;
    size_t keys, queries;
    float scale;      /* input magnitude */
    double tau;
    int causal;       /* the causal mask of doc/metrics.md §1.5 */
} conf_case;

/* Set around the cases whose inputs make_ties rewrites. */
static int tie_inputs;

/* Relative-or-absolute closeness. */
static int close_to(double a, double b, double rel, double abs_tol)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    double d = fabs(a - b);
    return d <= abs_tol || d <= rel * fabs(b);
}

/* Scaled deviation |a−b| / max(|b|, floor) for the log. */
static double dev(double a, double b, double floor_)
{
    return fabs(a - b) / fmax(fabs(b), floor_);
}

/* Compares one query's metrics; returns 1 if within doc/conformance.md §1. */
/* Entropies are lse − E_p[ℓ]: float logits of RMS size s carry an absolute
 * error of order 1e-7·s into them (the logits rule, scaled), so their
 * absolute slack grows with s; relative 1e-4 stays the main rule. */
static int compare_query(const kvq_query_metrics *a, const kvq_query_metrics *b, double s,
                         worst *w)
{
    double ent_abs = 1e-6 + 2e-7 * s;
    int good = kvq__tol_div_ok(a->kl, b->kl) && kvq__tol_div_ok(a->kl_rev, b->kl_rev) &&
               kvq__tol_div_ok(a->js, b->js) && kvq__tol_div_ok(a->tv, b->tv);
    good &= close_to(a->entropy_ref, b->entropy_ref, 1e-4, ent_abs);
    good &= close_to(a->entropy_quant, b->entropy_quant, 1e-4, ent_abs);
    good &= close_to(a->var_p_eps, b->var_p_eps, 1e-3, 1e-7);
    good &= close_to(a->p_max, b->p_max, 1e-4, 1e-6);   /* the one-hot test's input */
    good &= close_to(a->logit_mse, b->logit_mse, 1e-3, 1e-7);
    good &= close_to(a->out_rel_err, b->out_rel_err, 1e-3, 1e-6);
    good &= close_to(a->out_dir_err, b->out_dir_err, 1e-3, 1e-7);
    /* the bias is a mean of ε that may cancel: absolute slack in units of
     * the logit error's own scale, which the logits rule bounds */
    good &= fabs(a->logit_bias - b->logit_bias) <= 1e-3 * fabs(b->logit_bias) +
                                                      1e-4 * sqrt(b->logit_mse) + 1e-7;
    w->kl = fmax(w->kl, fmax(dev(a->kl, b->kl, 1e-4), dev(a->kl_rev, b->kl_rev, 1e-4)));
    w->js = fmax(w->js, dev(a->js, b->js, 1e-4));
    w->tv = fmax(w->tv, dev(a->tv, b->tv, 1e-4));
    w->ent = fmax(w->ent, dev(a->entropy_quant, b->entropy_quant, 1e-3));
    w->out = fmax(w->out, fmax(dev(a->out_rel_err, b->out_rel_err, 1e-3),
                               dev(a->out_dir_err, b->out_dir_err, 1e-3)));
    w->bias = fmax(w->bias, fabs(a->logit_bias - b->logit_bias) / (sqrt(b->logit_mse) + 1e-7));
    w->queries++;
    w->top1_diff += a->top1 != b->top1;
    return good;
}

/* Logits rule, doc/conformance.md §1 made scale-invariant (base/tolerance.h): the SPEC's
 * 1e-4·(1 + |ℓ|) for logits of unit scale, and the same relative accuracy
 * for inputs scaled by 1000, whose logits (~1e6) carry float rounding of
 * that size. */
static int compare_logits(const float *a, const float *b, size_t rows, size_t n, worst *w)
{
    double d = kvq__tol_logit_dev(a, b, rows, n);
    w->logit = fmax(w->logit, d);
    return d <= KVQ_TOL_LOGIT;
}

/* Everything one case needs on the host. */
typedef struct inputs {
    float *q, *k, *v;
    kvq__kv_codes codes;
} inputs;

/* Frees a case's inputs. */
static void inputs_free(inputs *in)
{
    free(in->q);
    free(in->k);
    free(in->v);
    kvq__kv_codes_free(&in->codes);
}

/* Tie inputs (N > 300): query i is the unit vector e_i, so its reference
 * logits are exactly coordinate i of the keys (the others are shrunk to
 * 0.1·N(0, 1)). Even queries: key 5 on top, then equal pairs (10, 11),
 * (20, 21), (30, 31), (299, 300): the top 8 takes one of the last pair, by
 * the tie rule. Odd queries: the equal pair (7, N − 1) on top, so top1
 * depends on it. The quantized logits are not tied, so picking the wrong
 * member of a pair changes top1 or the recall. The pairs straddle chunks
 * of 300 keys. */
static void make_ties(const conf_case *c, inputs *in)
{
    size_t d = (size_t)c->dim, n = c->keys;
    for (size_t x = 0; x < n * d; x++)
        in->k[x] *= 0.1f;
    memset(in->q, 0, c->queries * d * sizeof(float));
    for (size_t i = 0; i < c->queries; i++) {
        static const size_t even[9] = {5, 10, 11, 20, 21, 30, 31, 299, 300};
        static const float level[9] = {10, 9, 9, 8, 8, 7, 7, 6, 6};
        size_t col = i % d;
        in->q[i * d + col] = c->scale;
        for (int t = 0; t < 9 && i % 2 == 0; t++)
            in->k[even[t] * d + col] = level[t];
        if (i % 2)
            in->k[7 * d + col] = in->k[(n - 1) * d + col] = 10;
    }
}

/* Seeded inputs of a case, quantized by the host codecs (zero keys included). */
static int inputs_make(const conf_case *c, uint32_t tag, inputs *in)
{
    kvq_scheme s;
    memset(in, 0, sizeof *in);
    if (kvq_scheme_parse(c->scheme, c->bits, &s, NULL, 0))
        return -1;
    in->q = conf_normals(c->queries, c->dim, tag * 3, c->scale);
    in->k = conf_normals(c->keys, c->dim, tag * 3 + 1, c->scale);
    in->v = conf_normals(c->keys, c->dim, tag * 3 + 2, c->scale);
    if (!in->q || !in->k || !in->v)
        return -1;
    if (c->keys > 5)
        memset(in->k + 3 * (size_t)c->dim, 0, (size_t)c->dim * sizeof(float));
    if (tie_inputs)
        make_ties(c, in);
    return kvq__kv_codes_make(&in->codes, NULL, &s, c->dim, CONF_SEED, tag, in->k, in->v, c->keys)
               ? -1 : 0;
}

/* Results of one run. */
typedef struct results {
    kvq_query_metrics *qm;
    float *lr, *lq;
    kvq_attention_out out;
} results;

/* Runs the job on ctx into r (allocated here). */
static int run_job(kvq_ctx *ctx, const conf_case *c, const inputs *in, results *r)
{
    kvq_attention_job job = {.dim = c->dim, .keys = c->keys, .queries = c->queries,
                             .sharpness = c->tau, .q = in->q, .k = in->k, .v = in->v,
                             .k_codec = in->codes.k_codec, .v_codec = in->codes.v_codec,
                             .k_codes = &in->codes.k_codes, .v_codes = &in->codes.v_codes,
                             .causal = c->causal};
    memset(r, 0, sizeof *r);
    r->qm = calloc(c->queries, sizeof *r->qm);
    r->lr = malloc(c->queries * c->keys * sizeof(float));
    r->lq = malloc(c->queries * c->keys * sizeof(float));
    if (!r->qm || !r->lr || !r->lq)
        return KVQ_ERR_NOMEM;
    r->out.queries = r->qm;
    r->out.logits_ref = r->lr;
    r->out.logits_quant = r->lq;
    r->out.want_vector_errors = 1;
    return kvq_attention_run(ctx, &job, &r->out);
}

/* Frees a run's results. */
static void results_free(results *r)
{
    free(r->qm);
    free(r->lr);
    free(r->lq);
}

/* Descending order of floats (qsort). */
static int desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* 1 when row x of n logits has a near-tie at the top-k boundary: the k-th and
 * (k+1)-th largest differ by at most twice the logits tolerance. */
static int boundary_tie(const float *x, size_t n, size_t k)
{
    if (k >= n)
        return 0;
    float *s = malloc(n * sizeof *s);
    double ss = 0;
    if (!s)
        return 0;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, desc);
    for (size_t j = 0; j < n; j++)
        ss += (double)s[j] * s[j];
    double tol = 2e-4 * (fmax(1.0, sqrt(ss / (double)n)) + fabs((double)s[k - 1]));
    int tie = (double)s[k - 1] - s[k] <= tol;
    free(s);
    return tie;
}

/* top1 and top-k recall over the vis keys query i sees (all n, or its causal
 * prefix), the tie rule. The device ranks its own float logits
 * (ties to the lower index, as the definition does), so its top1/recall must
 * equal the definition applied to the logits it exported, exactly. Against
 * the host they may differ only where a near-tie at the boundary (k = 1 for
 * top1, k = min(8, N) for recall) in the host's reference or quantized row
 * lets the float and double logits order two keys differently. */
static int compare_topk(const results *a, const results *b, size_t i, size_t n, size_t vis,
                        worst *w)
{
    double *x = malloc(2 * vis * sizeof *x);
    kvq_query_metrics def;
    const kvq_query_metrics *qa = &a->qm[i], *qb = &b->qm[i];
    size_t k = vis < 8 ? vis : 8;
    if (!x)
        return 0;
    for (size_t j = 0; j < vis; j++) {
        x[j] = a->lr[i * n + j];
        x[vis + j] = a->lq[i * n + j];
    }
    kvq_distribution_metrics(x, x + vis, vis, 8, &def);
    free(x);
    int good = qa->top1 == def.top1 && qa->topk_recall == def.topk_recall;
    const float *br = b->lr + i * n, *bq = b->lq + i * n;
    if (qa->top1 != qb->top1)
        good &= boundary_tie(br, vis, 1) || boundary_tie(bq, vis, 1);
    if (qa->topk_recall != qb->topk_recall)
        good &= boundary_tie(br, vis, k) || boundary_tie(bq, vis, k);
    w->topk_diff += qa->topk_recall != qb->topk_recall;
    return good;
}

/* Runs a case on the device and the host; 1 if they agree. */
static int check_case(kvq_ctx *ctx, kvq_ctx *host, const conf_case *c, uint32_t tag, worst *w)
{
    inputs in;
    results a, b;
    int good = 0, sa = -1, sb = -1;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (inputs_make(c, tag, &in) == 0) {
        sa = run_job(ctx, c, &in, &a);
        sb = run_job(host, c, &in, &b);
    }
    if (sa || sb) {
        diag("run failed: device %s (%s), host %s", kvq_strerror(sa), kvq_error_detail(),
             kvq_strerror(sb));
        goto cleanup;
    }
    good = compare_logits(a.lr, b.lr, c->queries, c->keys, w) &
           compare_logits(a.lq, b.lq, c->queries, c->keys, w);
    if (!good)
        diag("logits differ beyond the tolerance");
    for (size_t i = 0; i < c->queries; i++) {
        size_t vis = c->causal ? c->keys - c->queries + i + 1 : c->keys;
        double ss = 0;
        for (size_t j = 0; j < c->keys; j++)
            ss += (double)b.lr[i * c->keys + j] * b.lr[i * c->keys + j];
        int q = compare_query(&a.qm[i], &b.qm[i], sqrt(ss / (double)c->keys), w),
            k = compare_topk(&a, &b, i, c->keys, vis, w);
        if (!q || !k)
            diag("query %zu: %s differ (device/host: kl %.9g/%.9g, kl_rev %.9g/%.9g, js %.9g/%.9g, "
                 "tv %.9g/%.9g, H %.9g/%.9g, H~ %.9g/%.9g, var %.9g/%.9g, p_max %.9g/%.9g, "
                 "mse %.9g/%.9g, out %.9g/%.9g %.9g/%.9g, bias %.9g/%.9g, top1 %g/%g, "
                 "recall %g/%g)", i, q ? "top1/top-k" : "metrics", a.qm[i].kl, b.qm[i].kl,
                 a.qm[i].kl_rev, b.qm[i].kl_rev, a.qm[i].js, b.qm[i].js, a.qm[i].tv, b.qm[i].tv,
                 a.qm[i].entropy_ref, b.qm[i].entropy_ref, a.qm[i].entropy_quant,
                 b.qm[i].entropy_quant, a.qm[i].var_p_eps, b.qm[i].var_p_eps, a.qm[i].p_max,
                 b.qm[i].p_max, a.qm[i].logit_mse, b.qm[i].logit_mse, a.qm[i].out_rel_err,
                 b.qm[i].out_rel_err, a.qm[i].out_dir_err, b.qm[i].out_dir_err,
                 a.qm[i].logit_bias, b.qm[i].logit_bias, a.qm[i].top1, b.qm[i].top1,
                 a.qm[i].topk_recall, b.qm[i].topk_recall);
        good &= q & k;
    }
    const kvq_vector_errors *ea[2] = {&a.out.k_err, &a.out.v_err}, *eb[2] = {&b.out.k_err, &b.out.v_err};
    for (int t = 0; t < 2; t++) {
        good &= close_to(ea[t]->rel_mse, eb[t]->rel_mse, 1e-3, 1e-9) &&
                close_to(ea[t]->dir_err, eb[t]->dir_err, 1e-3, 1e-9) &&
                ea[t]->zero_vectors == eb[t]->zero_vectors;
        w->vec = fmax(w->vec, fmax(dev(ea[t]->rel_mse, eb[t]->rel_mse, 1e-6),
                                   dev(ea[t]->dir_err, eb[t]->dir_err, 1e-6)));
    }
cleanup:
    results_free(&a);
    results_free(&b);
    inputs_free(&in);
    return good;
}

/* Same job with and without forced chunks: per-query results agree. */
static int check_chunking(kvq_ctx *one, kvq_ctx *chunked, const conf_case *c, uint32_t tag)
{
    inputs in;
    results a, b;
    int good = 0;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (inputs_make(c, tag, &in) || run_job(one, c, &in, &a) || run_job(chunked, c, &in, &b))
        goto cleanup;
    good = 1;
    for (size_t i = 0; i < c->queries; i++) {
        const kvq_query_metrics *x = &a.qm[i], *y = &b.qm[i];
        good &= close_to(x->kl, y->kl, 1e-4, 1e-8) && close_to(x->js, y->js, 1e-4, 1e-8) &&
                close_to(x->tv, y->tv, 1e-4, 1e-8) && close_to(x->kl_rev, y->kl_rev, 1e-4, 1e-8) &&
                x->top1 == y->top1 && x->topk_recall == y->topk_recall &&
                close_to(x->out_rel_err, y->out_rel_err, 1e-4, 1e-8) &&
                close_to(x->entropy_quant, y->entropy_quant, 1e-5, 1e-8);
    }
cleanup:
    results_free(&a);
    results_free(&b);
    inputs_free(&in);
    return good;
}

static const char *schemes[] = {"KV", "KQV", "QKQV"};

/* The deployed formats: each at d = 128 with M = 4 and M = 1, at other d,
 * mixed with the presets' codecs, and on large inputs. */
static const conf_case format_list[] = {
    {"q8_0", 0, 128, 1000, 4, 1.0f, 1.0, 0},    {"q4_0", 0, 128, 1000, 4, 1.0f, 1.0, 0},
    {"q4_1", 0, 128, 1000, 4, 1.0f, 1.0, 0},    {"fp8e4m3", 0, 128, 1000, 4, 1.0f, 1.0, 0},
    {"fp8e5m2", 0, 128, 1000, 4, 1.0f, 1.0, 0}, {"fp16", 0, 128, 1000, 4, 1.0f, 1.0, 0},
    {"q8_0", 0, 128, 777, 1, 1.0f, 1.0, 0},     {"q4_0", 0, 128, 777, 1, 1.0f, 1.0, 0},
    {"fp8e4m3", 0, 128, 777, 1, 1.0f, 1.0, 0},  {"q4_1", 0, 1024, 97, 3, 1.0f, 1.0, 0},
    {"fp16", 0, 16, 301, 3, 1.0f, 1.0, 0},      {"q4_0", 0, 32, 301, 3, 1.0f, 1.0, 0},
    {"k=q8_0,v=wht:mse3+qjl", 0, 128, 500, 2, 1.0f, 1.0, 0},
    {"k=wht:mse4,v=q4_1", 0, 128, 500, 2, 1.0f, 1.0, 0},
    {"k=qjl,v=fp8e5m2", 0, 64, 500, 5, 1.0f, 1.0, 0},
    {"q4_0", 0, 128, 500, 3, 30.0f, 1.0, 0},    {"fp8e4m3", 0, 128, 500, 3, 30.0f, 1.0, 0},
    {"kivi2", 0, 128, 1000, 4, 1.0f, 1.0, 0},   {"k=kivi4g64,v=kivi3g48", 0, 128, 777, 1, 1.0f, 1.0, 0},
    {"kivi8g7", 0, 16, 301, 3, 1.0f, 1.0, 0},   {"k=kivi2,v=q8_0", 0, 64, 500, 5, 30.0f, 1.0, 0},
    /* the 16-keys-per-work-item kernels' edges: fewer keys than lanes, d = 20
     * (whole fp8/fp16 words, not whole 32-bit blocks), d = 1024, KIVI groups
     * under 16 keys (lanes in several groups) and groups that straddle a
     * work-item's 16 keys and do not divide N */
    {"fp8e4m3", 0, 64, 5, 2, 1.0f, 1.0, 0},     {"fp8e5m2", 0, 20, 100, 2, 1.0f, 1.0, 0},
    {"fp16", 0, 1024, 33, 2, 1.0f, 1.0, 0},     {"fp8e5m2", 0, 1024, 40, 1, 30.0f, 1.0, 0},
    {"kivi4g7", 0, 32, 301, 3, 1.0f, 1.0, 0},   {"kivi3g40", 0, 64, 203, 2, 1.0f, 1.0, 0},
    {"kivi2", 0, 1024, 50, 1, 1.0f, 1.0, 0},    {"kivi1g16", 0, 128, 9, 2, 1.0f, 1.0, 0},
};
#define NFORMAT_CASES (sizeof format_list / sizeof format_list[0])

static void format_cases(kvq_ctx *ctx, kvq_ctx *host, uint32_t *tag, worst *w)
{
    for (size_t i = 0; i < NFORMAT_CASES; i++) {
        const conf_case *c = &format_list[i];
        ok(check_case(ctx, host, c, (*tag)++, w), "%s d=%d N=%zu M=%zu scale %g", c->scheme,
           c->dim, c->keys, c->queries, c->scale);
    }
}

/* out<c>@<b2> (doc/schemes.md §7.4) on K, on V and on both, beside QJL,
 * sqjl, nb16, nc, eden, wht2 and no rotation; c = 1, powers of two and not
 * (the outliers' rotation dense); d = 64, 128 and 96 (the rest's rotation
 * dense); M = 1 … 37 (both value paths for the other side), causal and not,
 * and inputs scaled by 30. */
static const conf_case outlier_list[] = {
    {"k=wht:mse2+out8@4,v=wht:mse2", 0, 128, 1000, 4, 1.0f, 1.0, 0},
    {"k=wht:mse2,v=wht:mse2+out8@4", 0, 128, 1000, 2, 1.0f, 1.0, 0},
    {"k=wht:mse3+qjl+out4@6,v=wht:mse2+qjl+out3@5", 0, 128, 203, 37, 1.0f, 1.0, 1},
    {"k=wht:mse2+nb16+out4@6,v=wht:mse3+nc+out1@8", 0, 64, 300, 3, 1.0f, 1.0, 0},
    {"k=wht2:mse3+out3@4,v=none:mse4+eden+out5@3", 0, 96, 203, 37, 1.0f, 1.0, 1},
    {"k=wht:mse2+sqjl+out32@3,v=wht:mse2+qjl+out4@4", 0, 96, 301, 5, 1.0f, 1.0, 0},
    {"k=wht:qjl+out4@3,v=wht:mse2+out2@8", 0, 64, 257, 1, 1.0f, 1.0, 0},
    {"k=wht:mse4+eden+out16@2,v=wht:mse2+qjl+nb16+out16@2", 0, 128, 777, 13, 1.0f, 1.0, 1},
    {"k=wht:mse3+out6@5,v=wht:mse3+out6@5", 0, 96, 500, 3, 30.0f, 1.0, 0},
};
#define NOUTLIER_CASES (sizeof outlier_list / sizeof outlier_list[0])

/* The outlier cases, their worst deviations also logged on their own. */
static void outlier_cases(kvq_ctx *ctx, kvq_ctx *host, uint32_t *tag, worst *w)
{
    worst o = {0};
    for (size_t i = 0; i < NOUTLIER_CASES; i++) {
        const conf_case *c = &outlier_list[i];
        ok(check_case(ctx, host, c, (*tag)++, &o), "%s d=%d N=%zu M=%zu%s scale %g", c->scheme,
           c->dim, c->keys, c->queries, c->causal ? " causal" : "", c->scale);
    }
    diag("worst deviations of out<c>@<b2>: logits %.3g, KL %.3g, JS %.3g, TV %.3g, entropy %.3g, "
         "out errors %.3g, vector errors %.3g, logit_bias %.3g; top-1 differs in %zu, top-k "
         "recall in %zu of %zu queries", o.logit, o.kl, o.js, o.tv, o.ent, o.out, o.vec, o.bias,
         o.top1_diff, o.topk_diff, o.queries);
    w->logit = fmax(w->logit, o.logit);
    w->kl = fmax(w->kl, o.kl);
    w->js = fmax(w->js, o.js);
    w->tv = fmax(w->tv, o.tv);
    w->ent = fmax(w->ent, o.ent);
    w->out = fmax(w->out, o.out);
    w->vec = fmax(w->vec, o.vec);
    w->bias = fmax(w->bias, o.bias);
    w->queries += o.queries;
    w->top1_diff += o.top1_diff;
    w->topk_diff += o.topk_diff;
}

static const int dims[] = {16, 64, 256, 1024};
/* Head sizes of real models that are not powers of two (and 128 again), each
 * with and without the causal mask. */
static const int odd_dims[] = {80, 96, 112, 160, 192, 128};

/* Every preset and budget, the dimensions, ragged and extreme sizes, and
 * chunking on one device. */
static void body(kvq_ctx *ctx, const char *spec, kvq_ctx *host)
{
    kvq_ctx *chunked = NULL;
    worst w = {0};
    uint32_t tag = 1;
    for (int s = 0; s < 3; s++)
        for (int n = 1; n <= 8; n++) {
            conf_case c = {schemes[s], n, 128, 1000, 4, 1.0f, 1.0, 0};
            ok(check_case(ctx, host, &c, tag++, &w), "%s n=%d d=128 N=1000 M=4", schemes[s], n);
        }
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int s = 0; s < 3; s++)
            for (int n = 2; n <= 4; n += 2) {
                conf_case c = {schemes[s], n, dims[i], dims[i] == 1024 ? 97 : 301, 3, 1.0f, 1.0, 0};
                ok(check_case(ctx, host, &c, tag++, &w), "%s n=%d d=%d N=%zu M=3", schemes[s], n,
                   dims[i], c.keys);
            }
    for (size_t i = 0; i < sizeof odd_dims / sizeof odd_dims[0]; i++)
        for (int s = 0; s < 3; s++)
            for (int causal = 0; causal < 2; causal++) {
                conf_case c = {schemes[s], 2 + s, odd_dims[i], 203, causal ? 37 : 3, 1.0f, 1.0,
                               causal};
                ok(check_case(ctx, host, &c, tag++, &w), "%s n=%d d=%d N=203 M=%zu%s", schemes[s],
                   c.bits, odd_dims[i], c.queries, causal ? " causal" : "");
            }
    static const conf_case ragged[] = {{"KQV", 4, 128, 1, 1, 1.0f, 1.0, 0},
                                       {"QKQV", 3, 64, 1, 7, 1.0f, 1.0, 0},
                                       {"KV", 2, 128, 2049, 1, 1.0f, 1.0, 0},
                                       {"QKQV", 5, 32, 777, 13, 1.0f, 1.0, 0}};
    for (size_t i = 0; i < 4; i++)
        ok(check_case(ctx, host, &ragged[i], tag++, &w), "ragged %s n=%d d=%d N=%zu M=%zu",
           ragged[i].scheme, ragged[i].bits, ragged[i].dim, ragged[i].keys, ragged[i].queries);
    static const conf_case extreme[] = {{"KQV", 4, 128, 500, 3, 30.0f, 1.0, 0},
                                        {"QKQV", 2, 128, 500, 3, 1000.0f, 1.0, 0},
                                        {"KV", 6, 64, 300, 3, 1.0f, 8.0, 0}};
    for (size_t i = 0; i < 3; i++)
        ok(check_case(ctx, host, &extreme[i], tag++, &w), "large inputs %s n=%d scale %g tau %g",
           extreme[i].scheme, extreme[i].bits, extreme[i].scale, extreme[i].tau);
    conf_case tied = {"KQV", 4, 64, 500, 3, 1.0f, 1.0, 0};
    tie_inputs = 1;
    ok(check_case(ctx, host, &tied, tag++, &w), "exact ties in the reference logits: top1/top-k "
       "by the tie rule (N=500 M=3)");
    tie_inputs = 0;
    static const conf_case custom[] = {
        {"k=wht2:mse3,v=wht2:mse2+qjl", 0, 128, 400, 3, 1.0f, 1.0, 0},
        {"k=wht:mse3+nb16,v=none:mse4+nb16", 0, 64, 300, 5, 1.0f, 1.0, 0},
        {"k=wht:mse3+nc,v=wht:mse2+qjl+nc", 0, 128, 300, 2, 1.0f, 1.0, 0},
        {"k=wht:mse1+qjl32,v=none:mse2+qjl256", 0, 128, 300, 6, 1.0f, 1.0, 0},
        {"k=wht2:qjl64+nb16,v=wht2:mse3+nc+nb16", 0, 64, 257, 4, 1.0f, 2.0, 0}};
    for (size_t i = 0; i < sizeof custom / sizeof custom[0]; i++)
        ok(check_case(ctx, host, &custom[i], tag++, &w), "custom %s d=%d N=%zu M=%zu",
           custom[i].scheme, custom[i].dim, custom[i].keys, custom[i].queries);
    /* refinements (doc/schemes.md §5): EDEN norms and the structured sketch */
    static const conf_case refined[] = {
        {"k=wht:mse3+eden,v=wht:mse2+sqjl", 0, 128, 1000, 4, 1.0f, 1.0, 0},
        {"k=wht:mse2+sqjl+eden,v=none:mse3+eden", 0, 64, 301, 3, 1.0f, 1.0, 0}};
    for (size_t i = 0; i < 2; i++)
        ok(check_case(ctx, host, &refined[i], tag++, &w), "%s d=%d N=%zu M=%zu",
           refined[i].scheme, refined[i].dim, refined[i].keys, refined[i].queries);
    format_cases(ctx, host, &tag, &w);
    outlier_cases(ctx, host, &tag, &w);
    setenv("KVQ_CHUNK_KEYS", "300", 1);
    int st = kvq_ctx_create(&chunked, spec);
    unsetenv("KVQ_CHUNK_KEYS");
    conf_case cc = {"QKQV", 3, 128, 1000, 5, 1.0f, 1.0, 0};
    size_t chunk = 0, ran = 0;
    ok(st == 0 && check_chunking(ctx, chunked, &cc, tag++),
       "4 chunks of <= 300 keys give the one-chunk results");
    check_case(ctx, host, &cc, tag - 1, &w);
    kvq__dev_attention_last_chunking(&chunk, &ran);
    ok(chunk == 1000 && ran == 1, "without KVQ_CHUNK_KEYS: one chunk of 1000 keys (%zu of %zu)",
       ran, chunk);
    /* M < 4 takes the direct value path, M >= 4 the GEMM one */
    static const struct { conf_case c; size_t chunk, chunks; const char *what; } chunking[] = {
        {{"QKQV", 3, 128, 1000, 3, 1.0f, 1.0, 0}, 300, 4, "direct value path (M = 3)"},
        {{"KQV", 4, 128, 1000, 5, 1.0f, 1.0, 0}, 300, 4, "GEMM value path (M = 5)"},
        {{"QKQV", 2, 64, 601, 2, 1.0f, 1.0, 0}, 300, 3, "1-key tail, direct path"},
        {{"KQV", 3, 64, 901, 6, 1.0f, 1.0, 0}, 300, 4, "1-key tail, GEMM path"},
        {{"KV", 4, 128, 200, 4, 1.0f, 1.0, 0}, 200, 1, "N = 200 below the chunk size"},
        {{"k=wht:mse3+qjl+out4@6,v=wht:mse2+out8@4", 0, 96, 1000, 5, 1.0f, 1.0, 0}, 300, 4,
         "out<c>@<b2> on K and V"},
        {{"QKQV", 4, 64, 1000, 2, 1.0f, 1.0, 0}, 300, 4, "exact ties across chunks"}};
    for (size_t i = 0; i < sizeof chunking / sizeof chunking[0]; i++) {
        tie_inputs = i == sizeof chunking / sizeof chunking[0] - 1;
        int good = st == 0 && check_case(chunked, host, &chunking[i].c, tag++, &w);
        if (st == 0)
            kvq__dev_attention_last_chunking(&chunk, &ran);
        ok(good && chunk == chunking[i].chunk && ran == chunking[i].chunks,
           "KVQ_CHUNK_KEYS=300, %s: N=%zu M=%zu ran %zu chunks of %zu keys, = host", chunking[i].what,
           chunking[i].c.keys, chunking[i].c.queries, ran, chunk);
    }
    tie_inputs = 0;
    /* causal prefill over chunks: early queries see no key of the later chunks */
    conf_case pre = {"KQV", 4, 96, 700, 700, 1.0f, 1.0, 1};
    ok(st == 0 && check_chunking(ctx, chunked, &pre, tag) &&
           check_case(chunked, host, &pre, tag, &w),
       "causal prefill N=M=700 d=96 in 3 chunks: the one-chunk and the host results");
    tag++;
    conf_case cf = {"q4_1", 0, 128, 1000, 2, 1.0f, 1.0, 0};
    ok(st == 0 && check_chunking(ctx, chunked, &cf, tag++),
       "q4_1: 4 chunks of <= 300 keys give the one-chunk results");
    /* the table kernel's 5 and 6 bits in 16-query register blocks and a
     * remainder (last, so the cases above keep their data) */
    static const conf_case blocks[] = {{"KV", 5, 128, 1000, 37, 1.0f, 1.0, 0},
                                       {"KQV", 6, 128, 777, 20, 1.0f, 1.0, 0},
                                       {"QKQV", 6, 128, 500, 16, 1.0f, 1.0, 0}};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        ok(check_case(ctx, host, &blocks[i], tag++, &w), "%s n=%d d=%d N=%zu M=%zu",
           blocks[i].scheme, blocks[i].bits, blocks[i].dim, blocks[i].keys, blocks[i].queries);
    diag("worst deviations on %s: logits %.3g (of s+|l|), KL %.3g, JS %.3g, TV %.3g, "
         "entropy %.3g, out_rel_err/out_dir_err %.3g, vector errors %.3g (relative); "
         "logit_bias %.3g (of the RMS logit error); top-1 differs in %zu, top-k recall in %zu "
         "of %zu queries",
         spec, w.logit, w.kl, w.js, w.tv, w.ent, w.out, w.vec, w.bias, w.top1_diff, w.topk_diff,
         w.queries);
    kvq_ctx_destroy(chunked);
}

int main(void)
{
    return conf_main(3 * 8 + sizeof dims / sizeof dims[0] * 3 * 2 +
                         sizeof odd_dims / sizeof odd_dims[0] * 3 * 2 + 4 + 3 + 1 + 5 + 2 + 6 +
                         2 + 1 + NFORMAT_CASES + NOUTLIER_CASES + 1 + 1 + 3, body);
}
