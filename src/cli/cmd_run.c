/* cmd_run.c — `kvq run`: one configuration (scheme, budget, data), T paired
 * trials, every doc/metrics.md metric with its mean and bootstrap CI. */
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"

static const char help[] =
    "usage: kvq run [--scheme S] [--bits N] [data options] [--trials T] [--seed X]\n"
    "               [--device SPEC] [--json]\n\n"
    "Quantize K and V with one scheme and measure attention against the fp32\n"
    "reference: KL(p||p~), reverse KL, JS, TV, entropies, top-1/top-k agreement,\n"
    "logit error moments, the Jensen ratio, output and per-vector errors, dist6.\n\n"
    "  --scheme S         KV | KQV | QKQV (default KQV); a deployed format q8_0 | q4_0 |\n"
    "                     q4_1 | fp8e4m3 | fp8e5m2 | fp16 | kivi<b>[g<G>] on K and V;\n"
    "                     or a custom spec such as 'k=wht:mse4,v=wht:mse3+qjl' or\n"
    "                     'k=q8_0,v=kivi2' (see kvq(1))\n"
    "  --bits N           bit budget per coordinate, 1..8 (default 4; not with a format)\n"
    "  --dist NAME        gauss | t<nu> (t3, t5, t10) | laplace | outlier[C[xS]],\n"
    "                     optional +needle<alpha> (default gauss)\n"
    "  --rank R           full | an integer below d (default full)\n";

/* Parses --scheme/--bits into a scheme; exit status on error. */
static int make_scheme(const char *text, long bits, int bits_given, kvq_scheme *s)
{
    char err[256];
    int st = kvq_scheme_parse(text, (int)bits, s, err, sizeof err);
    if (st)
        return kvq_cli_error("--scheme", "%s", err);
    if (bits_given && (s->k.format || s->v.format))
        return kvq_cli_error("--bits", "scheme %s uses a fixed format, whose bits the format "
                             "defines (doc/schemes.md §5); --bits is for KV, KQV and QKQV",
                             s->name);
    if (s->bits == 0 && bits_given)
        s->bits = (int)bits;
    return 0;
}

/* Prints the human-readable summary of one cell. */
static void print_cell(const kvq__cell *c, uint64_t seed)
{
    printf("scheme %s, n = %d bits, effective bits/coord K %.3f V %.3f\n", c->scheme, c->bits,
           c->eff_bits_k, c->eff_bits_v);
    printf("data %s, rank %s, d = %d, N = %zu keys, M = %zu queries, tau = %g\n", c->dist,
           c->rank, c->dim, c->keys, c->queries, c->sharpness);
    printf("%zu trials, seed %llu, device %s, %.2f s\n\n", c->trials, (unsigned long long)seed,
           c->device, c->seconds);
    printf("%-14s %14s %14s %14s\n", "metric", "mean", "ci_lo (95%)", "ci_hi");
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        double mean, lo, hi;
        kvq__cell_summary(c, m, seed, &mean, &lo, &hi);
        printf("%-14s %14.6g %14.6g %14.6g\n", kvq_metric_name(m), mean, lo, hi);
    }
    printf("\ndist6 = Euclidean norm of (k_rel_mse, k_dir_err, v_rel_mse, v_dir_err,"
           " js/ln2, out_rel_err)\n");
}

/* Checks the real data against the options; fills dim/trials. */
static int adopt_real(kvq_cli_opts *o, const kvq_kv *kv, const char *label)
{
    char err[256];
    if (kvq_dim_check(kv->dim, err, sizeof err))
        return kvq_cli_error(label, "%s", err);
    o->dim = (long)kv->dim;
    if (!o->trials_given || (size_t)o->trials > kv->heads)
        o->trials = (long)kv->heads;
    if (!kv->q.data && !o->quiet)
        fprintf(stderr, "kvq: %s: no queries; using %ld keys per head, drawn at random, as "
                        "queries\n", label, o->queries);
    return 0;
}

/* The string options of kvq run. */
typedef struct run_texts {
    const char *scheme, *dist, *rank;
} run_texts;

static const kvq_cli_str_opt run_opts[] = {
    {"--scheme", offsetof(run_texts, scheme)},
    {"--dist", offsetof(run_texts, dist)},
    {"--rank", offsetof(run_texts, rank)},
};

/* `kvq run`: one configuration, T paired trials, every metric with its CI. */
int kvq_cmd_run(int argc, char **argv)
{
    kvq_cli_opts o;
    run_texts t = {.scheme = "KQV", .dist = "gauss", .rank = "full"};
    const char *label = NULL;
    long bits = 4;
    int bits_given = 0, rc = 0, st;
    kvq_scheme scheme;
    kvq_source src;
    kvq_kv kv;
    kvq__results *res = NULL;
    kvq_ctx *ctx = NULL;
    char err[256];

    if (kvq_cli_want_help(argc, argv)) {
        printf("%s%s", help, kvq_cli_opts_help);
        return KVQ_EXIT_OK;
    }
    kvq_cli_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        int k = kvq_cli_opts_parse(&o, argc, argv, &i);
        if (!k)
            k = kvq_cli_str_opts(run_opts, sizeof run_opts / sizeof run_opts[0], &t, argc, argv,
                                 &i);
        if (!k && kvq_cli_is(argv[i], "--bits")) {
            k = kvq_cli_int_value(argc, argv, &i, "--bits", 1, 8, &bits) ? -1 : 1;
            bits_given = 1;
        }
        if (k < 0)
            return KVQ_EXIT_USAGE;
        if (k > 0)
            continue;
        if (argv[i][0] == '-')
            return kvq_cli_error(argv[i], "unknown option for 'kvq run' (see kvq run --help)");
        return kvq_cli_error(argv[i], "unexpected argument");
    }
    if ((rc = make_scheme(t.scheme, bits, bits_given, &scheme)))
        return rc;
    if ((rc = kvq_cli_load_real(&o, &kv, &label)))
        return rc;
    if (label && (rc = adopt_real(&o, &kv, label)))
        goto cleanup;
    if ((rc = kvq_cli_schemes_fit(&scheme, 1, o.dim, label ? label : "--dim")))
        goto cleanup;
    if (!label && kvq_source_parse(t.dist, t.rank, &src, err, sizeof err)) {
        rc = kvq_cli_error(strstr(err, "rank") ? "--rank" : "--dist", "%s", err);
        goto cleanup;
    }
    if (!label && kvq_source_check(&src, (int)o.dim, err, sizeof err)) {
        rc = kvq_cli_error("--rank", "%s", err);
        goto cleanup;
    }
    if (!(ctx = kvq_cli_open_device(&o, &rc)))
        goto cleanup;
    if ((st = kvq__results_create(&res, o.seed))) {
        rc = kvq_cli_report_failure(ctx, &o, "run", st);
        goto cleanup;
    }
    kvq__experiment e = kvq_cli_experiment(&o, &scheme, 1, &src, 1, label ? &kv : NULL, label);
    if ((st = kvq__experiment_run(ctx, &e, res)) || (st = kvq__results_summarize(res))) {
        rc = kvq_cli_report_failure(ctx, &o, "run", st);
        goto cleanup;
    }
    if (o.json) {
        kvq__report_json_cell(stdout, &res->cells[0], o.seed);
        fputc('\n', stdout);
    } else
        print_cell(&res->cells[0], o.seed);
    rc = fflush(stdout) ? kvq_cli_fail("stdout", "write error") : 0;
cleanup:
    kvq__results_free(res);
    kvq_ctx_destroy(ctx);
    kvq__kv_clear(&kv);
    return rc;
}
