/* cmd_run.c — `kvq run`: one configuration (scheme, budget, data), T paired
 * trials, every doc/metrics.md metric with its mean and bootstrap CI. */
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "cli/grid.h"

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
    "  --bits N           bit budget per coordinate, 1..8 (default 4; not with a format),\n"
    "                     or k<X>v<Y> for K at X and V at Y bits (presets only, e.g. k4v2)\n"
    "  --dist NAME        gauss | t<nu> (t3, t5, t10) | laplace | outlier[C[xS]],\n"
    "                     optional +needle<alpha> (default gauss)\n"
    "  --rank R           full | an integer below d (default full)\n";

/* Parses --scheme/--bits into a scheme; exit status on error. A custom
 * scheme takes a symmetric --bits as its label only. */
static int make_scheme(const char *text, kvq_grid_budget bits, int bits_given, kvq_scheme *s)
{
    int rc = kvq_grid_scheme(text, bits, "--scheme", s);
    if (rc)
        return rc;
    if (bits_given && (s->k.format || s->v.format))
        return kvq_cli_error("--bits", "scheme %s uses a fixed format, whose bits the format "
                             "defines (doc/schemes.md §6); --bits is for KV, KQV and QKQV",
                             s->name);
    if (s->bits_k == 0 && bits_given && bits.k != bits.v)
        return kvq_cli_error("--bits", "k%dv%d: asymmetric budgets apply to the presets KV, KQV "
                             "and QKQV only", bits.k, bits.v);
    if (s->bits_k == 0 && bits_given)
        s->bits = bits.k;
    return 0;
}

static void print_cell(const kvq__cell *c, uint64_t seed)
{
    char lb[24];
    printf("scheme %s, n = %s bits, effective bits/coord K %.3f V %.3f\n", c->scheme,
           kvq__cell_bits_label(c, lb, sizeof lb), c->eff_bits_k, c->eff_bits_v);
    if (c->real && c->layer >= 0)
        printf("data %s layer %d", c->dist, c->layer);
    else if (c->real)
        printf("data %s", c->dist);
    else
        printf("data %s, rank %s", c->dist, c->rank);
    printf(", d = %d, N = %zu keys, M = %zu queries, tau = %g, %s\n", c->dim, c->keys,
           c->queries, c->sharpness, c->causal ? "causal" : "not causal");
    printf("rotation K %s, V %s\n", kvq__cell_rotation(c, 0), kvq__cell_rotation(c, 1));
    printf("%zu %s, seed %llu, device %s, %.2f s\n\n", c->trials, c->real ? "heads (one trial each)"
           : "trials", (unsigned long long)seed, c->device, c->seconds);
    printf("%-14s %14s %14s %14s\n", "metric", "mean", "ci_lo (95%)", "ci_hi");
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        double mean, lo, hi;
        kvq__cell_summary(c, m, seed, &mean, &lo, &hi);
        printf("%-14s %14.6g %14.6g %14.6g\n", kvq_metric_name(m), mean, lo, hi);
    }
    printf("\ndist6 = Euclidean norm of (k_rel_mse, k_dir_err, v_rel_mse, v_dir_err,"
           " js/ln2, out_rel_err)\n");
    if (c->real)
        printf("CIs are over the %zu heads, which are not exchangeable: read them as the spread "
               "across heads (see README, \"Real data\").\n", c->trials);
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
    kvq_cli_real real;
    kvq_grid_budget bits = {4, 4};
    int bits_given = 0, rc = 0, st;
    kvq_scheme scheme;
    kvq_source src;
    kvq_kv kv = {0};
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
            const char *v = kvq_cli_value(argc, argv, &i, "--bits");
            k = v && !kvq_grid_bits_one(v, &bits) ? 1 : -1;
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
    if (o.layers_flag && !strcmp(o.layers_flag, "--layers"))
        return kvq_cli_error("--layers", "kvq run takes one layer: --layer L (sweep and findings "
                             "take --layers)");
    if ((rc = kvq_cli_real_open(&o, 0, &real)))
        return rc;
    kvq__experiment e = kvq_cli_experiment(&o, &scheme, 1, &src, 1);
    if ((real.label && (rc = kvq_cli_real_load(&o, &real, real.layers[0], &kv, &e))) ||
        (rc = kvq_cli_check_causal(&e, real.label)))
        goto cleanup;
    if ((rc = kvq_cli_schemes_fit(&scheme, 1, (long)e.dim, real.label ? real.label : "--dim")))
        goto cleanup;
    if (!real.label && kvq_source_parse(t.dist, t.rank, &src, err, sizeof err)) {
        rc = kvq_cli_error(strstr(err, "rank") ? "--rank" : "--dist", "%s", err);
        goto cleanup;
    }
    if (!real.label && kvq_source_check(&src, (int)o.dim, err, sizeof err)) {
        rc = kvq_cli_error("--rank", "%s", err);
        goto cleanup;
    }
    if (!(ctx = kvq_cli_open_device(&o, &rc)))
        goto cleanup;
    if ((st = kvq__results_create(&res, o.seed))) {
        rc = kvq_cli_report_failure(ctx, &o, "run", st);
        goto cleanup;
    }
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
