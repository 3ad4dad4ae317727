/* test_conf_attention.c — conformance: compressed-domain attention (logits
 * from codes, softmax statistics, outputs, vector errors) on every OpenCL
 * device against the double-precision host reference, for every scheme
 * preset and budget, d ∈ {16 … 1024}, ragged N and M, zero and large
 * vectors, and key chunking (doc/conformance.md §1); the deployed formats
 * (doc/schemes.md §5) alone and mixed with the presets' codecs. */
#include "conformance.h"
#include "analysis/kv_codes.h"

/* Worst deviations seen, for the log. */
typedef struct worst {
    double logit, kl, js, tv, ent, out, vec;
    size_t queries, top1_diff;
} worst;

/* One configuration. */
typedef struct conf_case {
    const char *scheme;
    int bits, dim;
    size_t keys, queries;
    float scale;      /* input magnitude */
    double tau;
} conf_case;

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
static int compare_query(const kvq_query_metrics *a, const kvq_query_metrics *b, worst *w)
{
    int good = kvq__tol_div_ok(a->kl, b->kl) && kvq__tol_div_ok(a->kl_rev, b->kl_rev) &&
               kvq__tol_div_ok(a->js, b->js) && kvq__tol_div_ok(a->tv, b->tv);
    good &= close_to(a->entropy_ref, b->entropy_ref, 1e-4, 1e-6);
    good &= close_to(a->entropy_quant, b->entropy_quant, 1e-4, 1e-6);
    good &= close_to(a->var_p_eps, b->var_p_eps, 1e-3, 1e-7);
    good &= close_to(a->logit_mse, b->logit_mse, 1e-3, 1e-7);
    good &= close_to(a->out_rel_err, b->out_rel_err, 1e-3, 1e-6);
    w->kl = fmax(w->kl, fmax(dev(a->kl, b->kl, 1e-4), dev(a->kl_rev, b->kl_rev, 1e-4)));
    w->js = fmax(w->js, dev(a->js, b->js, 1e-4));
    w->tv = fmax(w->tv, dev(a->tv, b->tv, 1e-4));
    w->ent = fmax(w->ent, dev(a->entropy_quant, b->entropy_quant, 1e-3));
    w->out = fmax(w->out, dev(a->out_rel_err, b->out_rel_err, 1e-3));
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
                             .k_codes = &in->codes.k_codes, .v_codes = &in->codes.v_codes};
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
    for (size_t i = 0; i < c->queries; i++)
        good &= compare_query(&a.qm[i], &b.qm[i], w);
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
    {"q8_0", 0, 128, 1000, 4, 1.0f, 1.0},    {"q4_0", 0, 128, 1000, 4, 1.0f, 1.0},
    {"q4_1", 0, 128, 1000, 4, 1.0f, 1.0},    {"fp8e4m3", 0, 128, 1000, 4, 1.0f, 1.0},
    {"fp8e5m2", 0, 128, 1000, 4, 1.0f, 1.0}, {"fp16", 0, 128, 1000, 4, 1.0f, 1.0},
    {"q8_0", 0, 128, 777, 1, 1.0f, 1.0},     {"q4_0", 0, 128, 777, 1, 1.0f, 1.0},
    {"fp8e4m3", 0, 128, 777, 1, 1.0f, 1.0},  {"q4_1", 0, 1024, 97, 3, 1.0f, 1.0},
    {"fp16", 0, 16, 301, 3, 1.0f, 1.0},      {"q4_0", 0, 32, 301, 3, 1.0f, 1.0},
    {"k=q8_0,v=wht:mse3+qjl", 0, 128, 500, 2, 1.0f, 1.0},
    {"k=wht:mse4,v=q4_1", 0, 128, 500, 2, 1.0f, 1.0},
    {"k=qjl,v=fp8e5m2", 0, 64, 500, 5, 1.0f, 1.0},
    {"q4_0", 0, 128, 500, 3, 30.0f, 1.0},    {"fp8e4m3", 0, 128, 500, 3, 30.0f, 1.0},
    {"kivi2", 0, 128, 1000, 4, 1.0f, 1.0},   {"k=kivi4g64,v=kivi3g48", 0, 128, 777, 1, 1.0f, 1.0},
    {"kivi8g7", 0, 16, 301, 3, 1.0f, 1.0},   {"k=kivi2,v=q8_0", 0, 64, 500, 5, 30.0f, 1.0},
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

static const int dims[] = {16, 64, 256, 1024};

/* Every preset and budget, the dimensions, ragged and extreme sizes, and
 * chunking on one device. */
static void body(kvq_ctx *ctx, const char *spec, kvq_ctx *host)
{
    kvq_ctx *chunked = NULL;
    worst w = {0};
    uint32_t tag = 1;
    for (int s = 0; s < 3; s++)
        for (int n = 1; n <= 8; n++) {
            conf_case c = {schemes[s], n, 128, 1000, 4, 1.0f, 1.0};
            ok(check_case(ctx, host, &c, tag++, &w), "%s n=%d d=128 N=1000 M=4", schemes[s], n);
        }
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int s = 0; s < 3; s++)
            for (int n = 2; n <= 4; n += 2) {
                conf_case c = {schemes[s], n, dims[i], dims[i] == 1024 ? 97 : 301, 3, 1.0f, 1.0};
                ok(check_case(ctx, host, &c, tag++, &w), "%s n=%d d=%d N=%zu M=3", schemes[s], n,
                   dims[i], c.keys);
            }
    static const conf_case ragged[] = {{"KQV", 4, 128, 1, 1, 1.0f, 1.0},
                                       {"QKQV", 3, 64, 1, 7, 1.0f, 1.0},
                                       {"KV", 2, 128, 2049, 1, 1.0f, 1.0},
                                       {"QKQV", 5, 32, 777, 13, 1.0f, 1.0}};
    for (size_t i = 0; i < 4; i++)
        ok(check_case(ctx, host, &ragged[i], tag++, &w), "ragged %s n=%d d=%d N=%zu M=%zu",
           ragged[i].scheme, ragged[i].bits, ragged[i].dim, ragged[i].keys, ragged[i].queries);
    static const conf_case extreme[] = {{"KQV", 4, 128, 500, 3, 30.0f, 1.0},
                                        {"QKQV", 2, 128, 500, 3, 1000.0f, 1.0},
                                        {"KV", 6, 64, 300, 3, 1.0f, 8.0}};
    for (size_t i = 0; i < 3; i++)
        ok(check_case(ctx, host, &extreme[i], tag++, &w), "large inputs %s n=%d scale %g tau %g",
           extreme[i].scheme, extreme[i].bits, extreme[i].scale, extreme[i].tau);
    format_cases(ctx, host, &tag, &w);
    setenv("KVQ_CHUNK_KEYS", "300", 1);
    int st = kvq_ctx_create(&chunked, spec);
    unsetenv("KVQ_CHUNK_KEYS");
    conf_case cc = {"QKQV", 3, 128, 1000, 5, 1.0f, 1.0};
    ok(st == 0 && check_chunking(ctx, chunked, &cc, tag++),
       "4 chunks of <= 300 keys give the one-chunk results");
    conf_case cf = {"q4_1", 0, 128, 1000, 2, 1.0f, 1.0};
    ok(st == 0 && check_chunking(ctx, chunked, &cf, tag++),
       "q4_1: 4 chunks of <= 300 keys give the one-chunk results");
    diag("worst deviations on %s: logits %.3g (of s+|l|), KL %.3g, JS %.3g, TV %.3g, "
         "entropy %.3g, out_rel_err %.3g, vector errors %.3g (relative); "
         "top-1 differs in %zu of %zu queries",
         spec, w.logit, w.kl, w.js, w.tv, w.ent, w.out, w.vec, w.top1_diff, w.queries);
    kvq_ctx_destroy(chunked);
}

int main(void)
{
    return conf_main(3 * 8 + sizeof dims / sizeof dims[0] * 3 * 2 + 4 + 3 + 1 + NFORMAT_CASES + 1,
                     body);
}
