/* cmd_compare.c — `kvq compare`: the same work on several devices: a fixed
 * conformance workload checked against the host reference (doc/conformance.md §1), a small
 * sweep whose verdicts must match the host's, and the time each took. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "analysis/kv_codes.h"
#include "base/clock.h"
#include "base/tolerance.h"

#define MAX_DEVICES 16

static const char help[] =
    "usage: kvq compare [--devices all|SPEC,SPEC,...] [--seed X] [--json]\n\n"
    "Run the same workloads on each device and on the host reference:\n"
    "  conformance  KV, KQV, QKQV at n = 2 and 4, d = 128, N = 1000 keys, M = 8 queries,\n"
    "               the same codes on every device; the largest deviation from the host\n"
    "               of the logits (|d|/(s+|l|)) and of per-query KL, JS, TV (relative),\n"
    "               judged by kvq's conformance tolerances;\n"
    "  sweep        KV, KQV, QKQV at n = 2..4 on gauss and t3, 16 trials, N = 256, M = 16;\n"
    "               whether each finding's verdict matches the host's;\n"
    "and the wall time of each. --devices all (the default) is every OpenCL device.\n";

/* What one device produced. */
typedef struct dev_result {
    char spec[32], name[128];
    int ok_run;
    double logit_dev, div_dev, conf_seconds, sweep_seconds;
    int conf_pass, div_fail, verdicts[KVQ_FINDING_COUNT], verdicts_agree;
} dev_result;

/* One conformance job's inputs and the host's answer. */
typedef struct job_set {
    kvq_scheme scheme;
    float *q, *k, *v, *lr_host, *lq_host;
    kvq__kv_codes codes;
    kvq_query_metrics qm_host[8];
} job_set;

enum { CONF_N = 1000, CONF_M = 8, CONF_D = 128, CONF_JOBS = 6 };

static float *normals(uint64_t seed, uint32_t tag, size_t n)
{
    float *x = malloc(n * sizeof *x);
    if (x)
        kvq__rng_fill_normal(seed, KVQ_RNG_TEST, tag, 0, x, n);
    return x;
}

static void job_free(job_set *j)
{
    free(j->q);
    free(j->k);
    free(j->v);
    free(j->lr_host);
    free(j->lq_host);
    kvq__kv_codes_free(&j->codes);
}

/* Runs job j on ctx into qm (and logits, when given). */
static int job_run(kvq_ctx *ctx, job_set *j, kvq_query_metrics *qm, float *lr, float *lq)
{
    kvq_attention_job job = {.dim = CONF_D, .keys = CONF_N, .queries = CONF_M, .sharpness = 1.0,
                             .q = j->q, .k = j->k, .v = j->v, .k_codec = j->codes.k_codec,
                             .v_codec = j->codes.v_codec, .k_codes = &j->codes.k_codes,
                             .v_codes = &j->codes.v_codes};
    kvq_attention_out out = {.queries = qm, .logits_ref = lr, .logits_quant = lq};
    return kvq_attention_run(ctx, &job, &out);
}

/* Builds the six conformance jobs (host-quantized codes) and the host answers. */
static int jobs_make(kvq_ctx *host, uint64_t seed, job_set *js)
{
    static const char *names[3] = {"KV", "KQV", "QKQV"};
    memset(js, 0, CONF_JOBS * sizeof *js);
    for (int i = 0; i < CONF_JOBS; i++) {
        job_set *j = &js[i];
        int st = kvq_scheme_preset(names[i % 3], i < 3 ? 2 : 4, &j->scheme);
        j->q = normals(seed, 100 + (uint32_t)i, CONF_M * CONF_D);
        j->k = normals(seed, 200 + (uint32_t)i, CONF_N * CONF_D);
        j->v = normals(seed, 300 + (uint32_t)i, CONF_N * CONF_D);
        j->lr_host = malloc(CONF_M * CONF_N * sizeof(float));
        j->lq_host = malloc(CONF_M * CONF_N * sizeof(float));
        if (st || !j->q || !j->k || !j->v || !j->lr_host || !j->lq_host)
            return st ? st : KVQ_ERR_NOMEM;
        if ((st = kvq__kv_codes_make(&j->codes, NULL, &j->scheme, CONF_D, seed, (uint32_t)i, j->k,
                                    j->v, CONF_N)) ||
            (st = job_run(host, j, j->qm_host, j->lr_host, j->lq_host)))
            return st;
    }
    return KVQ_OK;
}

/* Relative deviation |a − b| / |b| (0 when both are 0). */
static double div_dev(double a, double b)
{
    double d = fabs(a - b);
    return d == 0 ? 0.0 : d / fabs(b);
}

/* The conformance workload on one device. */
static int conformance(kvq_ctx *ctx, job_set *js, dev_result *r)
{
    float *lr = malloc(CONF_M * CONF_N * sizeof *lr), *lq = malloc(CONF_M * CONF_N * sizeof *lq);
    kvq_query_metrics qm[CONF_M];
    int st = (!lr || !lq) ? KVQ_ERR_NOMEM : KVQ_OK;
    double t0 = kvq__mono_s();
    for (int i = 0; i < CONF_JOBS && !st; i++) {
        if ((st = job_run(ctx, &js[i], qm, lr, lq)))
            break;
        double dr = kvq__tol_logit_dev(lr, js[i].lr_host, CONF_M, CONF_N),
               dq = kvq__tol_logit_dev(lq, js[i].lq_host, CONF_M, CONF_N);
        r->logit_dev = fmax(r->logit_dev, fmax(dr, dq));
        for (int q = 0; q < CONF_M; q++) {
            const kvq_query_metrics *h = &js[i].qm_host[q];
            r->div_dev = fmax(r->div_dev, fmax(fmax(div_dev(qm[q].kl, h->kl), div_dev(qm[q].js, h->js)),
                                               div_dev(qm[q].tv, h->tv)));
            r->div_fail |= !kvq__tol_div_ok(qm[q].kl, h->kl) || !kvq__tol_div_ok(qm[q].js, h->js) ||
                           !kvq__tol_div_ok(qm[q].tv, h->tv);
        }
    }
    r->conf_seconds = kvq__mono_s() - t0;
    r->conf_pass = !st && r->logit_dev <= KVQ_TOL_LOGIT && !r->div_fail;
    free(lr);
    free(lq);
    return st;
}

/* The small sweep on one device; its verdicts into r. */
static int small_sweep(kvq_ctx *ctx, uint64_t seed, dev_result *r)
{
    kvq_scheme sch[9];
    kvq_source src[2];
    kvq__results *res = NULL;
    kvq__findings *fs = NULL;
    char err[128];
    static const char *names[3] = {"KV", "KQV", "QKQV"};
    for (int i = 0; i < 9; i++)
        kvq_scheme_preset(names[i % 3], 2 + i / 3, &sch[i]);
    kvq_source_parse("gauss", "full", &src[0], err, sizeof err);
    kvq_source_parse("t3", "full", &src[1], err, sizeof err);
    kvq__experiment e = {.dim = CONF_D, .keys = 256, .queries = 16, .sharpness = 1.0, .trials = 16,
                        .seed = seed, .schemes = sch, .nschemes = 9, .sources = src, .nsources = 2};
    double t0 = kvq__mono_s();
    int st = kvq__results_create(&res, seed);
    if (!st)
        st = kvq__experiment_run(ctx, &e, res);
    if (!st)
        st = kvq__findings_evaluate(res, seed, &fs);
    r->sweep_seconds = kvq__mono_s() - t0;
    for (int f = 0; !st && f < KVQ_FINDING_COUNT; f++)
        r->verdicts[f] = fs->f[f].verdict;
    kvq__findings_free(fs);
    kvq__results_free(res);
    return st;
}

/* The devices to compare: host first, then the named or all OpenCL devices. */
static int pick_devices(const char *list, dev_result *out, int *n)
{
    kvq_device_info *l = NULL;
    size_t cnt = 0;
    int rc = 0;
    *n = 0;
    if (kvq__device_list(&l, &cnt))
        return kvq_cli_fail("devices", "cannot list OpenCL devices: %s", kvq_error_detail());
    snprintf(out[(*n)++].spec, 32, "host");
    if (!strcmp(list, "all")) {
        for (size_t i = 0; i < cnt && *n < MAX_DEVICES; i++)
            if (l[i].type != KVQ_DEVICE_HOST)
                snprintf(out[(*n)++].spec, 32, "%d:%d", l[i].platform_index, l[i].device_index);
    } else {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", list);
        for (char *tok = strtok(buf, ","); tok && !rc; tok = strtok(NULL, ",")) {
            size_t idx;
            int st = kvq__device_resolve(l, cnt, tok, &idx);
            if (st)
                rc = kvq_cli_error("--devices", "%s '%s' (see 'kvq devices')",
                                   st == KVQ_ERR_BAD_SPEC ? "malformed device spec" : "no device matches", tok);
            else if (l[idx].type != KVQ_DEVICE_HOST && *n < MAX_DEVICES)
                snprintf(out[(*n)++].spec, 32, "%d:%d", l[idx].platform_index, l[idx].device_index);
        }
    }
    kvq__device_list_free(l);
    return rc;
}

static void print_table(const dev_result *r, int n)
{
    printf("%-6s %-36s %12s %12s %6s %10s %10s  %s\n", "spec", "device", "logit dev", "KL/JS/TV dev",
           "tol ok", "conf s", "sweep s", "verdicts (F1 F2 F3 Jensen) vs host");
    for (int i = 0; i < n; i++) {
        if (!r[i].ok_run) {
            printf("%-6s %-36.36s  failed\n", r[i].spec, r[i].name);
            continue;
        }
        printf("%-6s %-36.36s %12.3g %12.3g %6s %10.2f %10.2f  ", r[i].spec, r[i].name,
               r[i].logit_dev, r[i].div_dev, r[i].conf_pass ? "pass" : "FAIL", r[i].conf_seconds,
               r[i].sweep_seconds);
        for (int f = 0; f < KVQ_FINDING_COUNT; f++)
            printf("%s ", kvq__verdict_name(r[i].verdicts[f]));
        printf("%s\n", i == 0 ? "(reference)" : r[i].verdicts_agree ? "agree" : "DIFFER");
    }
}

static void print_json(const dev_result *r, int n)
{
    printf("{\"devices\":[");
    for (int i = 0; i < n; i++) {
        printf("%s{\"spec\":", i ? "," : "");
        kvq__json_string(stdout, r[i].spec);
        printf(",\"name\":");
        kvq__json_string(stdout, r[i].name);
        printf(",\"ok\":%s", r[i].ok_run ? "true" : "false");
        if (r[i].ok_run) {
            printf(",\"max_logit_dev\":%.9g,\"max_divergence_rel_dev\":%.9g,\"conformant\":%s,"
                   "\"verdicts\":{", r[i].logit_dev, r[i].div_dev, r[i].conf_pass ? "true" : "false");
            static const char *ids[KVQ_FINDING_COUNT] = {"F1", "F2", "F3", "Jensen"};
            for (int f = 0; f < KVQ_FINDING_COUNT; f++)
                printf("%s\"%s\":\"%s\"", f ? "," : "", ids[f], kvq__verdict_name(r[i].verdicts[f]));
            printf("},\"verdicts_agree\":%s,\"seconds\":{\"conformance\":%.6g,\"sweep\":%.6g}",
                   r[i].verdicts_agree ? "true" : "false", r[i].conf_seconds, r[i].sweep_seconds);
        }
        printf("}");
    }
    printf("]}\n");
}

/* `kvq compare`: the same workloads on every device against the host. */
int kvq_cmd_compare(int argc, char **argv)
{
    kvq_cli_opts o;
    const char *list = "all";
    dev_result res[MAX_DEVICES];
    job_set js[CONF_JOBS];
    kvq_ctx *host = NULL;
    int n = 0, rc = 0, st;
    if (kvq_cli_want_help(argc, argv)) {
        fputs(help, stdout);
        return KVQ_EXIT_OK;
    }
    kvq_cli_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        int k = kvq_cli_opts_parse(&o, argc, argv, &i);
        if (k < 0)
            return KVQ_EXIT_USAGE;
        if (k > 0)
            continue;
        if (!kvq_cli_is(argv[i], "--devices"))
            return kvq_cli_error(argv[i], "unknown option for 'kvq compare' (see --help)");
        if (!(list = kvq_cli_value(argc, argv, &i, "--devices")))
            return KVQ_EXIT_USAGE;
    }
    memset(res, 0, sizeof res);
    if ((rc = pick_devices(list, res, &n)))
        return rc;
    if ((st = kvq_ctx_create(&host, "host")) || (st = jobs_make(host, o.seed, js))) {
        rc = kvq_cli_fail("compare", "host reference failed: %s", kvq_strerror(st));
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        kvq_ctx *ctx = NULL;
        if (!o.quiet)
            fprintf(stderr, "kvq: compare: %s ...\n", res[i].spec);
        st = kvq_ctx_create(&ctx, res[i].spec);
        if (!st) {
            snprintf(res[i].name, sizeof res[i].name, "%s", kvq_ctx_device(ctx)->name);
            st = conformance(ctx, js, &res[i]);
        }
        if (!st)
            st = small_sweep(ctx, o.seed, &res[i]);
        res[i].ok_run = st == 0;
        if (st) {
            fprintf(stderr, "kvq: %s: %s %s\n", res[i].spec, kvq_strerror(st), kvq_error_detail());
            rc = KVQ_EXIT_RUNTIME;
        }
        res[i].verdicts_agree = res[i].ok_run && res[0].ok_run &&
                                !memcmp(res[i].verdicts, res[0].verdicts, sizeof res[i].verdicts);
        if (res[i].ok_run && (!res[i].conf_pass || !res[i].verdicts_agree))
            rc = KVQ_EXIT_RUNTIME;
        kvq_ctx_destroy(ctx);
    }
    if (o.json)
        print_json(res, n);
    else
        print_table(res, n);
cleanup:
    for (int i = 0; i < CONF_JOBS; i++)
        job_free(&js[i]);
    kvq_ctx_destroy(host);
    return rc;
}
