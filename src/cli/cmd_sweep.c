/* cmd_sweep.c — `kvq sweep` (a grid of schemes × budgets × sources × trials)
 * and `kvq findings` (the paper's grid, ending in the verdict table). Both
 * write results.csv, results.json, findings.md and plots with --out DIR. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "cli/common.h"
#include "cli/grid.h"

#define MAX_SCHEMES 256
#define MAX_SOURCES 128

/* One sweep's grid and options. */
typedef struct sweep {
    kvq_cli_opts o;
    const char *schemes, *bits, *dists, *ranks, *out_dir;
    int findings;             /* the main job: print the verdicts */
} sweep;

static const char sweep_help[] =
    "usage: kvq sweep [--schemes KV,KQV,QKQV] [--bits 2-6] [--dist gauss,t3,...]\n"
    "                 [--rank full,8,...] [data options] [--out DIR] [--json]\n\n"
    "Run every scheme at every budget on every source (dist × rank), T paired\n"
    "trials each, and evaluate the paper's findings on the grid.\n"
    "  --schemes LIST     presets (each at every budget) and/or custom specs\n"
    "  --bits LIST        budgets: ranges and lists, e.g. 2-6 or 2,4,6 (default 2-6);\n"
    "                     k<X>v<Y> gives K X bits and V Y bits, e.g. k4v2,k3v4,4\n"
    "  --dist LIST        sources (default gauss)\n"
    "  --rank LIST        full and/or integers below d (default full)\n"
    "  --out DIR          write results.csv, results.json, findings.md, pareto.csv and\n"
    "                     PNG plots (kl, k_dir_err, dist6 against n; the Pareto view\n"
    "                     against effective bits; needs gnuplot) into DIR; real data\n"
    "                     adds per_head.csv and kl heat maps (layer x head)\n";

static const char findings_help[] =
    "usage: kvq findings [--out DIR] [sweep options]\n\n"
    "The main job: the paper's grid — KV, KQV, QKQV at n = 2..6 on gauss, t5 and t3,\n"
    "ranks full, 32 and 8, d = 128, T = 32 — on the default device; prints each\n"
    "finding's verdict (HOLDS / FAILS / MIXED / NO DATA) with its evidence, the F3\n"
    "winner table and the Jensen summary, the Pareto frontier, and 'beyond the paper':\n"
    "the best cell per effective budget on the outlier and t3 sources of the grid.\n"
    "Any sweep option narrows or widens the grid.\n";

/* Parses the arguments of sweep/findings; exit status or 0. */
static int parse(sweep *s, int argc, char **argv)
{
    static const kvq_cli_str_opt lists[] = {
        {"--schemes", offsetof(sweep, schemes)}, {"--bits", offsetof(sweep, bits)},
        {"--dist", offsetof(sweep, dists)}, {"--rank", offsetof(sweep, ranks)},
        {"--out", offsetof(sweep, out_dir)},
    };
    for (int i = 1; i < argc; i++) {
        int k = kvq_cli_opts_parse(&s->o, argc, argv, &i);
        if (!k)
            k = kvq_cli_str_opts(lists, sizeof lists / sizeof lists[0], s, argc, argv, &i);
        if (k < 0)
            return KVQ_EXIT_USAGE;
        if (!k)
            return kvq_cli_error(argv[i], "unknown option for 'kvq %s' (see --help)", argv[0]);
    }
    return 0;
}

/* Creates DIR if needed; exit status or 0. */
static int make_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    return kvq_cli_error(dir, "cannot create output directory: %s", strerror(errno));
}

/* Writer callbacks for kvq__write_atomic. */
typedef struct report_args {
    const kvq__results *r;
    const kvq__findings *f;
    const kvq__pareto *p;
    const kvq__beyond *b;     /* findings only: the "beyond the paper" section */
} report_args;

/* kvq__write_atomic writer of pareto.csv. */
static int write_pareto(FILE *f, void *a)
{
    return kvq__report_pareto_csv(f, ((report_args *)a)->r, ((report_args *)a)->p);
}

/* kvq__write_atomic writer of results.csv. */
static int write_csv(FILE *f, void *a)
{
    return kvq__report_csv(f, ((report_args *)a)->r);
}

/* kvq__write_atomic writer of results.json. */
static int write_json(FILE *f, void *a)
{
    return kvq__report_json(f, ((report_args *)a)->r);
}

/* kvq__write_atomic writer of findings.md. */
static int write_md(FILE *f, void *a)
{
    const report_args *ra = a;
    int st = kvq__report_markdown(f, ra->r, ra->f);
    return st || !ra->b ? st : kvq__report_beyond_markdown(f, ra->r, ra->b);
}

/* kvq__write_atomic writer of per_head.csv. */
static int write_per_head(FILE *f, void *a)
{
    return kvq__report_per_head_csv(f, ((report_args *)a)->r);
}

/* Writes one report file atomically; exit status or 0. */
static int write_file(const char *dir, const char *name, int (*w)(FILE *, void *), void *arg)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int st = kvq__write_atomic(path, w, arg);
    return st ? kvq_cli_fail(path, "cannot write: %s", kvq_strerror(st)) : 0;
}

int kvq_plots_write(const char *dir, const kvq__results *r, int quiet);
int kvq_plots_pareto(const char *dir, const kvq__results *r, const kvq__pareto *p, int quiet);

/* Prints the verdict table and the per-finding summaries. */
static void print_verdicts(const kvq__findings *fs)
{
    printf("%-8s %-8s %s\n", "finding", "verdict", "evidence");
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        printf("%-8s %-8s %s\n", fs->f[i].id, kvq__verdict_name(fs->f[i].verdict), fs->f[i].summary);
    printf("\n");
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        printf("%s: %s\n", fs->f[i].id, fs->f[i].claim);
}

/* Runs every layer of the real input into res, one experiment per layer on
 * the one context; exit status. */
static int run_layers(sweep *s, kvq_ctx *ctx, const kvq_cli_real *real, kvq__experiment *e,
                      kvq__results *res)
{
    char name[300];
    for (size_t l = 0; l < real->nlayers; l++) {
        kvq_kv kv = {0};
        int rc = kvq_cli_real_load(&s->o, real, real->layers[l], &kv, e), st = 0;
        if (!rc)
            rc = kvq_cli_check_causal(e, real->label);
        if (!rc)
            rc = kvq_cli_schemes_fit(e->schemes, e->nschemes, e->dim, real->label);
        if (!rc && !s->o.quiet)
            fprintf(stderr, "kvq: %s: %zu heads, d = %d, tau = %g, %s\n",
                    kvq_cli_real_name(real, real->layers[l], name, sizeof name), e->trials,
                    e->dim, e->sharpness, e->causal ? "causal" : "not causal");
        if (!rc && (st = kvq__experiment_run(ctx, e, res)))
            rc = kvq_cli_report_failure(ctx, &s->o, s->findings ? "findings" : "sweep", st);
        kvq__kv_clear(&kv);
        e->real = NULL;
        if (rc)
            return rc;
    }
    return 0;
}

/* Runs the grid and reports; exit status. */
static int run_sweep(sweep *s)
{
    kvq_grid_budget bits[16];
    int rc = 0, st;
    static kvq_scheme schemes[MAX_SCHEMES];
    static kvq_source sources[MAX_SOURCES];
    static kvq_cli_real real;
    kvq__results *res = NULL;
    kvq__findings *fs = NULL;
    kvq__pareto *pareto = NULL;
    kvq__beyond *beyond = NULL;
    kvq_ctx *ctx = NULL;
    double t0 = kvq__mono_s(), t_grid = 0.0;
    int nbits = -kvq_grid_bits(s->bits, bits, 16);
    if (nbits <= 0)
        return -nbits;
    int nsch = -kvq_grid_schemes(s->schemes, bits, nbits, schemes, MAX_SCHEMES);
    if (nsch <= 0)
        return -nsch;
    if ((rc = kvq_cli_real_open(&s->o, 1, &real)))
        return rc;
    int nsrc = 1;
    if (!real.label && (nsrc = -kvq_grid_sources(s->dists, s->ranks, (int)s->o.dim, sources,
                                                 MAX_SOURCES)) <= 0)
        return -nsrc;
    if (!real.label &&
        (rc = kvq_cli_schemes_fit(schemes, (size_t)nsch, s->o.dim, "--dim")))
        return rc;
    if (s->out_dir && (rc = make_dir(s->out_dir)))
        goto cleanup;
    if (!(ctx = kvq_cli_open_device(&s->o, &rc)))
        goto cleanup;
    if (!s->o.quiet && real.label)
        fprintf(stderr, "kvq: %d scheme×budget × %zu layer(s) of %s, one trial per head, on %s\n",
                nsch, real.nlayers, real.label, kvq_ctx_device(ctx)->name);
    else if (!s->o.quiet)
        fprintf(stderr, "kvq: %d scheme×budget × %d source(s) × %ld trials on %s\n", nsch, nsrc,
                s->o.trials, kvq_ctx_device(ctx)->name);
    kvq__experiment e = kvq_cli_experiment(&s->o, schemes, (size_t)nsch, sources, (size_t)nsrc);
    if (!real.label && (rc = kvq_cli_check_causal(&e, NULL)))
        goto cleanup;
    if ((st = kvq__results_create(&res, s->o.seed))) {
        rc = kvq_cli_report_failure(ctx, &s->o, s->findings ? "findings" : "sweep", st);
        goto cleanup;
    }
    if (real.label)
        rc = run_layers(s, ctx, &real, &e, res);
    else if ((st = kvq__experiment_run(ctx, &e, res)))
        rc = kvq_cli_report_failure(ctx, &s->o, s->findings ? "findings" : "sweep", st);
    if (rc)
        goto cleanup;
    t_grid = kvq__mono_s() - t0;
    if ((st = kvq__results_summarize(res)) || (st = kvq__findings_evaluate(res, s->o.seed, &fs)) ||
        (st = kvq__pareto_compute(res, s->o.seed, &pareto)) ||
        (s->findings && (st = kvq__beyond_compute(res, s->o.seed, &beyond)))) {
        rc = kvq_cli_report_failure(ctx, &s->o, s->findings ? "findings" : "sweep", st);
        goto cleanup;
    }
    report_args ra = {res, fs, pareto, beyond};
    if (s->out_dir && ((rc = write_file(s->out_dir, "results.csv", write_csv, &ra)) ||
                       (rc = write_file(s->out_dir, "results.json", write_json, &ra)) ||
                       (rc = write_file(s->out_dir, "findings.md", write_md, &ra)) ||
                       (rc = write_file(s->out_dir, "pareto.csv", write_pareto, &ra)) ||
                       (real.label &&
                        (rc = write_file(s->out_dir, "per_head.csv", write_per_head, &ra))) ||
                       (rc = kvq_plots_write(s->out_dir, res, s->o.quiet)) ||
                       (rc = kvq_plots_pareto(s->out_dir, res, pareto, s->o.quiet))))
        goto cleanup;
    if (s->o.json)
        kvq__report_json(stdout, res);
    else {
        print_verdicts(fs);
        kvq__report_f3_text(stdout, &fs->f[KVQ_FINDING_F3]);
        kvq__report_jensen_text(stdout, &fs->f[KVQ_FINDING_JENSEN]);
        kvq__report_side_info_text(stdout, res);
        kvq__report_worst_heads_text(stdout, res);
        printf("\n");
        kvq__report_pareto_text(stdout, res, pareto);
        if (beyond) {
            printf("\n");
            kvq__report_beyond_markdown(stdout, res, beyond);
        }
        if (s->out_dir)
            printf("\nwrote %s/{results.csv,results.json,findings.md,pareto.csv%s} and plots\n",
                   s->out_dir, real.label ? ",per_head.csv" : "");
        printf("\ntiming: %.2f s in all, %.2f s running the grid (%zu cells)\n",
               kvq__mono_s() - t0, t_grid, res->count);
    }
    rc = fflush(stdout) ? kvq_cli_fail("stdout", "write error") : 0;
cleanup:
    kvq__beyond_free(beyond);
    kvq__pareto_free(pareto);
    kvq__findings_free(fs);
    kvq__results_free(res);
    kvq_ctx_destroy(ctx);
    return rc;
}

/* `kvq sweep`: a grid of schemes × budgets × sources. */
int kvq_cmd_sweep(int argc, char **argv)
{
    sweep s = {.schemes = "KV,KQV,QKQV", .bits = "2-6", .dists = "gauss", .ranks = "full"};
    if (kvq_cli_want_help(argc, argv)) {
        printf("%s%s", sweep_help, kvq_cli_opts_help);
        return KVQ_EXIT_OK;
    }
    kvq_cli_opts_init(&s.o);
    int rc = parse(&s, argc, argv);
    return rc ? rc : run_sweep(&s);
}

/* `kvq findings`: the paper grid and a verdict on each finding. */
int kvq_cmd_findings(int argc, char **argv)
{
    sweep s = {.schemes = "KV,KQV,QKQV", .bits = "2-6", .dists = "gauss,t5,t3",
               .ranks = "full,32,8", .findings = 1};
    if (kvq_cli_want_help(argc, argv)) {
        printf("%s\n%s%s", findings_help, sweep_help, kvq_cli_opts_help);
        return KVQ_EXIT_OK;
    }
    kvq_cli_opts_init(&s.o);
    int rc = parse(&s, argc, argv);
    return rc ? rc : run_sweep(&s);
}
