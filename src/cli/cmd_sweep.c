/* cmd_sweep.c — `kvq sweep` (a grid of schemes × budgets × sources × trials)
 * and `kvq findings` (the paper's grid, ending in the verdict table). Both
 * write results.csv, results.json, findings.md, pareto.csv and plots with
 * --out DIR; a sweep can run as shards, as MPI ranks or over several devices
 * and give one run's reports (doc/scaling.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/common.h"
#include "cli/grid.h"
#include "cli/mpi.h"
#include "cli/sweep.h"

#define MAX_SCHEMES 256
#define MAX_SOURCES 128
#define MAX_BUDGETS 16
/* K and V of one trial above this are not held once per stream (--streams). */
#define KVQ_STREAM_KV_BYTES ((size_t)64 << 20)
/* Streams by default on an OpenCL CPU device (doc/scaling.md §4.1). */
#define KVQ_CPU_STREAMS 3

/* One sweep's grid and options. */
typedef struct sweep {
    kvq_cli_opts o;
    const char *schemes, *bits, *dists, *ranks, *out_dir;
    const char *shard, *partial;   /* --shard I/N, --partial FILE (doc/scaling.md §2) */
    const char *devices;           /* --devices all|LIST (doc/scaling.md §4) */
    long streams;                  /* --streams N; 0: automatic (doc/scaling.md §4.1) */
    int findings;             /* the main job: print the verdicts */
    double t0, t_grid;        /* start and grid time, for the timing line */
} sweep;

/* The grid of a sweep, set up: schemes, sources or real data (its layers),
 * and the experiment of synthetic data or of a single real layer. */
typedef struct grid {
    kvq_grid_budget bits[MAX_BUDGETS];
    int nsch, nsrc;
    kvq_scheme schemes[MAX_SCHEMES];
    kvq_source sources[MAX_SOURCES];
    kvq_cli_real real;
    kvq_kv kv;                /* the loaded layer when the grid has one */
    kvq__experiment e;
} grid;

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
    "                     adds per_head.csv and kl heat maps (layer x head)\n"
    "  --shard I/N        run only shard I (0..N-1) of the work items and write a\n"
    "                     partial result (--partial FILE, or DIR/partial-I-of-N.json\n"
    "                     with --out DIR) for 'kvq merge'; under mpirun each rank\n"
    "                     runs its shard and rank 0 writes the reports\n"
    "  --partial FILE     where --shard writes its partial result\n"
    "  --devices all|LIST spread the work over several devices at once, one thread\n"
    "                     each (all: every OpenCL device; the host only when named)\n"
    "  --streams N        host threads, each with its own queue on the device (one\n"
    "                     OpenCL context: kernels built once), running trials side\n"
    "                     by side so that one's host work overlaps another's kernels\n"
    "                     (1..16; default 3 on an OpenCL CPU device for synthetic\n"
    "                     data, else 1); same numbers\n";

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
        {"--out", offsetof(sweep, out_dir)}, {"--shard", offsetof(sweep, shard)},
        {"--partial", offsetof(sweep, partial)}, {"--devices", offsetof(sweep, devices)},
    };
    for (int i = 1; i < argc; i++) {
        int k = kvq_cli_opts_parse(&s->o, argc, argv, &i);
        if (!k)
            k = kvq_cli_str_opts(lists, sizeof lists / sizeof lists[0], s, argc, argv, &i);
        if (!k && kvq_cli_is(argv[i], "--streams"))
            k = kvq_cli_int_value(argc, argv, &i, "--streams", 1, 16, &s->streams) ? -1 : 1;
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

static int write_pareto(FILE *f, void *a)
{
    return kvq__report_pareto_csv(f, ((report_args *)a)->r, ((report_args *)a)->p);
}

static int write_csv(FILE *f, void *a)
{
    return kvq__report_csv(f, ((report_args *)a)->r);
}

static int write_json(FILE *f, void *a)
{
    return kvq__report_json(f, ((report_args *)a)->r);
}

static int write_md(FILE *f, void *a)
{
    const report_args *ra = a;
    int st = kvq__report_markdown(f, ra->r, ra->f);
    return st || !ra->b ? st : kvq__report_beyond_markdown(f, ra->r, ra->b);
}

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

/* Sets up the grid the options describe: budgets, schemes, and the sources
 * or the real file's layers; the experiment of synthetic data. Exit status. */
static int grid_setup(sweep *s, grid *g)
{
    int nbits = -kvq_grid_bits(s->bits, g->bits, MAX_BUDGETS), rc;
    if (nbits <= 0)
        return -nbits;
    if ((g->nsch = -kvq_grid_schemes(s->schemes, g->bits, nbits, g->schemes, MAX_SCHEMES)) <= 0)
        return -g->nsch;
    if ((rc = kvq_cli_real_open(&s->o, 1, &g->real)))
        return rc;
    g->nsrc = 1;
    if (!g->real.label && (g->nsrc = -kvq_grid_sources(s->dists, s->ranks, (int)s->o.dim,
                                                       g->sources, MAX_SOURCES)) <= 0)
        return -g->nsrc;
    if (!g->real.label &&
        (rc = kvq_cli_schemes_fit(g->schemes, (size_t)g->nsch, s->o.dim, "--dim")))
        return rc;
    g->e = kvq_cli_experiment(&s->o, g->schemes, (size_t)g->nsch, g->sources, (size_t)g->nsrc);
    return g->real.label ? 0 : kvq_cli_check_causal(&g->e, NULL);
}

/* A split run (shards, ranks, devices) runs one experiment: with real data,
 * one layer, loaded into the grid. Exit status. */
static int grid_one_experiment(sweep *s, grid *g)
{
    int rc;
    if (!g->real.label)
        return 0;
    if (g->real.nlayers != 1)
        return kvq_cli_error(s->o.layers_flag ? s->o.layers_flag : "--layers",
                             "%zu layers selected; --shard, --devices and mpirun run one layer "
                             "of a real file at a time (give --layers L)", g->real.nlayers);
    if ((rc = kvq_cli_real_load(&s->o, &g->real, g->real.layers[0], &g->kv, &g->e)) ||
        (rc = kvq_cli_check_causal(&g->e, g->real.label)))
        return rc;
    return kvq_cli_schemes_fit(g->schemes, (size_t)g->nsch, g->e.dim, g->real.label);
}

/* Appends flag (and value, unless NULL) to the recorded grid options. */
static int grid_arg(kvq__partial *p, const char *flag, const char *value)
{
    if (!(p->grid[p->ngrid++] = strdup(flag)))
        return KVQ_ERR_NOMEM;
    if (value && !(p->grid[p->ngrid++] = strdup(value)))
        return KVQ_ERR_NOMEM;
    return KVQ_OK;
}

/* The options that define the grid, as given (before real data fixes d, T,
 * τ and the mask), in a fixed order: what a partial result records and merge
 * re-parses. */
static int grid_args(const sweep *s, kvq__partial *p)
{
    char num[6][40];
    const kvq_cli_opts *o = &s->o;
    snprintf(num[0], 40, "%ld", o->dim);
    snprintf(num[1], 40, "%ld", o->keys);
    snprintf(num[2], 40, "%ld", o->queries);
    snprintf(num[3], 40, "%ld", o->trials);
    snprintf(num[4], 40, "%ld", o->topk);
    snprintf(num[5], 40, "%a", o->sharpness);
    const char *const all[][2] = {
        {"--schemes", s->schemes}, {"--bits", s->bits}, {"--dist", s->dists},
        {"--rank", s->ranks}, {"--dim", num[0]}, {"--keys", num[1]}, {"--queries", num[2]},
        {"--trials", o->trials_given ? num[3] : NULL}, {"--topk", num[4]},
        {"--sharpness", o->sharpness_given ? num[5] : NULL}, {"--kv", o->kv_file},
        {"--keys-file", o->keys_file}, {"--values-file", o->values_file},
        {"--queries-file", o->queries_file}, {"--k-name", o->k_name}, {"--v-name", o->v_name},
        {"--q-name", o->q_name}, {"--layers", o->layers},
    };
    size_t n = sizeof all / sizeof all[0];
    if (!(p->grid = calloc(2 * n + 1, sizeof *p->grid)))
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (all[i][1] && grid_arg(p, all[i][0], all[i][1]))
            return KVQ_ERR_NOMEM;
    if (o->causal >= 0 && grid_arg(p, o->causal ? "--causal" : "--no-causal", NULL))
        return KVQ_ERR_NOMEM;
    return KVQ_OK;
}

/* Writes the reports of a complete results table; exit status. */
static int report(const sweep *s, const grid *g, kvq__results *res)
{
    kvq__findings *fs = NULL;
    kvq__pareto *pareto = NULL;
    kvq__beyond *beyond = NULL;
    int rc = 0, st;
    if ((st = kvq__results_summarize(res)) || (st = kvq__findings_evaluate(res, s->o.seed, &fs)) ||
        (st = kvq__pareto_compute(res, s->o.seed, &pareto)) ||
        (s->findings && (st = kvq__beyond_compute(res, s->o.seed, &beyond)))) {
        rc = kvq_cli_report_failure(NULL, &s->o, s->findings ? "findings" : "sweep", st);
        goto cleanup;
    }
    report_args ra = {res, fs, pareto, beyond};
    if (s->out_dir && ((rc = make_dir(s->out_dir)) ||
                       (rc = write_file(s->out_dir, "results.csv", write_csv, &ra)) ||
                       (rc = write_file(s->out_dir, "results.json", write_json, &ra)) ||
                       (rc = write_file(s->out_dir, "findings.md", write_md, &ra)) ||
                       (rc = write_file(s->out_dir, "pareto.csv", write_pareto, &ra)) ||
                       (g->real.label &&
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
                   s->out_dir, g->real.label ? ",per_head.csv" : "");
        printf("\ntiming: %.2f s in all, %.2f s running the grid (%zu cells)\n",
               kvq__mono_s() - s->t0, s->t_grid, res->count);
    }
    rc = fflush(stdout) ? kvq_cli_fail("stdout", "write error") : 0;
cleanup:
    kvq__beyond_free(beyond);
    kvq__pareto_free(pareto);
    kvq__findings_free(fs);
    return rc;
}

/* Parses "I/N" (0 <= I < N <= 100000) into p; exit status or 0. */
static int parse_shard(const char *text, kvq__partial *p)
{
    unsigned long i, n;
    int used = 0;
    if (sscanf(text, "%lu/%lu%n", &i, &n, &used) != 2 || text[used] || *text == '-' ||
        n < 1 || n > 100000 || i >= n)
        return kvq_cli_error("--shard", "'%s' is not I/N with 0 <= I < N <= 100000", text);
    p->shard = i;
    p->nshards = n;
    return 0;
}

static int write_partial(FILE *f, void *p)
{
    return kvq__partial_write(f, p);
}

/* Writes this shard's partial result file; exit status. */
static int save_partial(const sweep *s, const kvq__partial *p)
{
    char path[4096];
    if (s->partial)
        snprintf(path, sizeof path, "%s", s->partial);
    else
        snprintf(path, sizeof path, "%s/partial-%zu-of-%zu.json", s->out_dir, p->shard,
                 p->nshards);
    int st = kvq__write_atomic(path, write_partial, (void *)p);
    if (st)
        return kvq_cli_fail(path, "cannot write: %s", kvq_strerror(st));
    if (!s->o.quiet)
        fprintf(stderr, "kvq: shard %zu/%zu (items %zu..%zu of %zu) written to %s\n", p->shard,
                p->nshards, p->begin, p->end, p->total, path);
    return 0;
}

/* A fresh results table of g's cells filled from the checked partials. */
static int results_from(const grid *g, uint64_t seed, const kvq__partial *p, size_t n,
                        kvq__results **res)
{
    int st = kvq__results_create(res, seed);
    if (!st)
        st = kvq__experiment_cells(&g->e, NULL, *res);
    for (size_t i = 0; i < n && !st; i++)
        st = kvq__partial_apply(&p[i], &g->e, *res);
    return st;
}

/* Points stderr at /dev/null; returns the saved descriptor (-1: unchanged). */
static int quiet_stderr(void)
{
    int null = open("/dev/null", O_WRONLY), saved = null < 0 ? -1 : dup(2);
    fflush(stderr);
    if (saved >= 0 && dup2(null, 2) < 0) {
        close(saved);
        saved = -1;
    }
    if (null >= 0)
        close(null);
    return saved;
}

/* Undoes quiet_stderr. */
static void restore_stderr(int saved)
{
    if (saved < 0)
        return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

/* Rank 0: the ranks' partial texts checked and merged, then the reports. */
static int merge_ranks(const sweep *s, const grid *g, char **texts, const size_t *lens,
                       const int *oks, size_t n)
{
    char err[256];
    long bad = -1;
    int rc = KVQ_EXIT_RUNTIME;
    size_t r = 0;
    kvq__partial *all = calloc(n, sizeof *all);
    kvq__results *res = NULL;
    while (r < n && oks[r])
        r++;
    if (r < n) {
        kvq_cli_fail("mpi", "rank %zu of %zu failed (its error is above); no report written", r, n);
        goto cleanup;
    }
    if (!all) {
        kvq_cli_fail("mpi", "out of memory");
        goto cleanup;
    }
    for (r = 0; r < n; r++)
        if (kvq__partial_parse(texts[r], lens[r], &all[r], err, sizeof err)) {
            kvq_cli_fail("mpi", "rank %zu sent a bad partial result: %s", r, err);
            goto cleanup;
        }
    if (kvq__partials_check(all, n, &bad, err, sizeof err))
        kvq_cli_fail("mpi", "rank %ld: %s", bad, err);
    else if (results_from(g, s->o.seed, all, n, &res))
        kvq_cli_fail("mpi", "merging the partial results failed");
    else
        rc = report(s, g, res);
cleanup:
    for (r = 0; all && r < n; r++)
        kvq__partial_clear(&all[r]);
    free(all);
    kvq__results_free(res);
    return rc;
}

/* Every rank of an MPI job ends here, whether its part worked (ok) or not:
 * it sends its partial result to rank 0, which merges and reports. */
static int mpi_merge(const sweep *s, const grid *g, const kvq__partial *mine, int own_rc)
{
    char *text = NULL, **texts = NULL;
    size_t len = 0, *lens = NULL, n = (size_t)kvq_mpi_size();
    int *oks = NULL, rc, ok = own_rc == 0;
    FILE *f = ok ? open_memstream(&text, &len) : NULL;
    if (ok && (!f || (kvq__partial_write(f, mine) | fclose(f))))
        ok = 0;
    if (kvq_mpi_gather(ok, text, ok ? len : 0, &texts, &lens, &oks))
        rc = kvq_cli_fail("mpi", "gathering the partial results failed");
    else if (!ok)              /* this rank's own error is already printed */
        rc = own_rc ? own_rc : kvq_cli_fail("mpi", "cannot serialize the partial result");
    else if (kvq_mpi_rank())
        rc = 0;
    else
        rc = merge_ranks(s, g, texts, lens, oks, n);
    for (size_t r = 0; texts && r < n; r++)
        free(texts[r]);
    free(texts);
    free(lens);
    free(oks);
    free(text);
    return rc;
}

/* The name the contexts share, or "mixed" (as a merged cell's device). */
static void devices_name(kvq_ctx *const *ctxs, size_t n, char *buf, size_t len)
{
    snprintf(buf, len, "%s", kvq_ctx_device(ctxs[0])->name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(buf, kvq_ctx_device(ctxs[i])->name))
            snprintf(buf, len, "mixed");
}

/* Host streams on ctx (doc/scaling.md §4.1): --streams, else
 * KVQ_CPU_STREAMS (at most one per trial) on an OpenCL CPU device for
 * synthetic data when there are trials to share, a trial's K and V are
 * small enough to be held once per stream and no MPI ranks share the
 * cores, else 1. */
static size_t streams_for(const sweep *s, kvq_ctx *ctx, const grid *g)
{
    if (s->streams)
        return (size_t)s->streams;
    if (kvq_mpi_size() > 1 || g->e.real)   /* ranks share the cores; real data: as given */
        return 1;
    size_t kv_bytes = 2 * g->e.keys * (size_t)g->e.dim * sizeof(float);
    if (kvq_ctx_device(ctx)->type != KVQ_DEVICE_CPU || kv_bytes > KVQ_STREAM_KV_BYTES)
        return 1;
    return g->e.trials < KVQ_CPU_STREAMS ? (size_t)g->e.trials : KVQ_CPU_STREAMS;
}

/* Runs the experiment on ctx and, for more than one stream, on sibling
 * contexts of it (one OpenCL context, its programs built once, a queue
 * each), each in a thread of its own; the items and numbers are those of
 * one stream. A context that cannot be opened leaves its share to the
 * others. */
static int run_streams(sweep *s, kvq_ctx *ctx, grid *g, kvq__results *res)
{
    kvq_ctx *ctxs[16] = {ctx};
    size_t n = 1, want = streams_for(s, ctx, g);
    while (n < want && kvq__ctx_sibling(ctx, &ctxs[n]) == KVQ_OK)
        n++;
    int st = n > 1 ? kvq__experiment_run_parallel(ctxs, n, &g->e, res)
                   : kvq__experiment_run(ctx, &g->e, res);
    for (size_t i = 1; i < n; i++)
        kvq_ctx_destroy(ctxs[i]);
    return st;
}

/* Runs the whole grid in this process on one device (every layer of real
 * data) and reports; exit status. */
static int run_whole(sweep *s, grid *g)
{
    int rc = 0, st;
    kvq__results *res = NULL;
    kvq_ctx *ctx = NULL;
    if (s->out_dir && (rc = make_dir(s->out_dir)))
        goto cleanup;
    if (!(ctx = kvq_cli_open_device(&s->o, &rc)))
        goto cleanup;
    if (!s->o.quiet && g->real.label)
        fprintf(stderr, "kvq: %d scheme×budget × %zu layer(s) of %s, one trial per head, on %s\n",
                g->nsch, g->real.nlayers, g->real.label, kvq_ctx_device(ctx)->name);
    else if (!s->o.quiet)
        fprintf(stderr, "kvq: %d scheme×budget × %d source(s) × %ld trials on %s\n", g->nsch,
                g->nsrc, s->o.trials, kvq_ctx_device(ctx)->name);
    if ((st = kvq__results_create(&res, s->o.seed))) {
        rc = kvq_cli_report_failure(ctx, &s->o, s->findings ? "findings" : "sweep", st);
        goto cleanup;
    }
    if (g->real.label)
        rc = run_layers(s, ctx, &g->real, &g->e, res);
    else if ((st = run_streams(s, ctx, g, res)))
        rc = kvq_cli_report_failure(ctx, &s->o, s->findings ? "findings" : "sweep", st);
    if (!rc) {
        s->t_grid = kvq__mono_s() - s->t0;
        rc = report(s, g, res);
    }
cleanup:
    kvq__results_free(res);
    kvq_ctx_destroy(ctx);
    return rc;
}

/* Runs this shard's, rank's or the devices' part of one experiment, then
 * writes the partial result, merges the ranks, or reports; exit status. */
static int run_split(sweep *s, grid *g)
{
    int rc = 0, st, mpi = kvq_mpi_size() > 1;
    kvq__partial part = {.nshards = 1};
    kvq__results *res = NULL;
    kvq_ctx *ctx = NULL, **ctxs = NULL;
    size_t nctx = 1;
    if (s->shard && (rc = parse_shard(s->shard, &part)))
        goto cleanup;
    if (s->shard && mpi) {
        rc = kvq_cli_error("--shard", "not under mpirun: the ranks are the shards");
        goto cleanup;
    }
    if (s->shard && !s->partial && !s->out_dir) {
        rc = kvq_cli_error("--shard", "needs --partial FILE or --out DIR for its partial result");
        goto cleanup;
    }
    if (mpi) {
        part.shard = (size_t)kvq_mpi_rank();
        part.nshards = (size_t)kvq_mpi_size();
    }
    if (grid_args(s, &part)) {
        rc = kvq_cli_fail("sweep", "out of memory");
        goto cleanup;
    }
    int err_fd = mpi && kvq_mpi_rank() ? quiet_stderr() : -1;
    rc = grid_one_experiment(s, g);   /* the same errors on every rank: rank 0 says them */
    restore_stderr(err_fd);
    if (rc)
        goto cleanup;
    if (s->out_dir && (!mpi || !kvq_mpi_rank()) && (rc = make_dir(s->out_dir)))
        goto cleanup;
    if (s->devices && (s->o.device || s->streams)) {
        rc = kvq_cli_error("--devices", "give either %s or --devices",
                           s->o.device ? "--device" : "--streams");
        goto cleanup;
    }
    if (s->devices ? !(ctxs = kvq_cli_open_devices(s->devices, &nctx, &rc))
                   : !(ctx = kvq_cli_open_device(&s->o, &rc)))
        goto cleanup;
    part.seed = s->o.seed;
    part.total = kvq__experiment_items(&g->e);
    kvq__shard_range(part.total, part.shard, part.nshards, &part.begin, &part.end);
    snprintf(part.command, sizeof part.command, "%s", s->findings ? "findings" : "sweep");
    devices_name(ctxs ? ctxs : &ctx, nctx, part.device, sizeof part.device);
    g->e.item_begin = part.begin;
    g->e.item_end = part.end;
    if (!s->o.quiet && (!mpi || !kvq_mpi_rank()))
        fprintf(stderr, "kvq: %d scheme×budget × %d source(s) × %zu trials on %s%s\n", g->nsch,
                g->nsrc, g->e.trials, part.device,
                mpi || s->shard ? (mpi ? " (rank 0 of the MPI job)" : " (one shard)") : "");
    /* an empty shard (more shards than items) runs nothing: item_end 0 would mean all */
    if ((st = kvq__results_create(&res, s->o.seed)) ||
        (st = part.end == part.begin ? kvq__experiment_cells(&g->e, part.device, res)
              : ctxs                 ? kvq__experiment_run_parallel(ctxs, nctx, &g->e, res)
                                     : run_streams(s, ctx, g, res)) ||
        ((mpi || s->shard) && (st = kvq__partial_collect(&part, &g->e, res))))
        rc = kvq_cli_report_failure(ctx, &s->o, s->findings ? "findings" : "sweep", st);
    else if (!mpi) {
        s->t_grid = kvq__mono_s() - s->t0;
        rc = s->shard ? save_partial(s, &part) : report(s, g, res);
    }
cleanup:
    if (mpi)
        rc = mpi_merge(s, g, &part, rc);
    kvq__partial_clear(&part);
    kvq__results_free(res);
    kvq_ctx_destroy(ctx);
    kvq_cli_close_devices(ctxs, ctxs ? nctx : 0);
    return rc;
}

/* Runs the grid (or this shard or rank's part of it) and reports; exit status. */
static int run_sweep(sweep *s)
{
    int rc, mpi = kvq_mpi_size() > 1;
    char spec[32];
    grid *g = calloc(1, sizeof *g);
    s->t0 = kvq__mono_s();
    if (mpi && !s->o.device && !s->devices)   /* collective: before anything a rank could fail at */
        s->o.device = kvq_mpi_device_spec(spec, sizeof spec);
    if (!g)
        return kvq_cli_fail("sweep", "out of memory");
    int err_fd = mpi && kvq_mpi_rank() ? quiet_stderr() : -1;
    rc = grid_setup(s, g);     /* the same argument errors on every rank: rank 0 says them */
    restore_stderr(err_fd);
    if (!rc)
        rc = mpi || s->shard || s->devices ? run_split(s, g) : run_whole(s, g);
    else if (mpi)
        rc = mpi_merge(s, g, NULL, rc);
    kvq__kv_clear(&g->kv);
    free(g);
    return rc;
}

/* Merges checked partial results into the reports of one run (sweep.h). */
int kvq_sweep_merge(const kvq__partial *p, size_t n, const char *out_dir, int json, int quiet)
{
    int findings = !strcmp(p[0].command, "findings"), rc;
    sweep s = {.schemes = "KV,KQV,QKQV", .bits = "2-6", .dists = findings ? "gauss,t5,t3" : "gauss",
               .ranks = findings ? "full,32,8" : "full", .findings = findings};
    char **argv = calloc(p[0].ngrid + 1, sizeof *argv);
    grid *g = calloc(1, sizeof *g);
    kvq__results *res = NULL;
    if (!argv || !g) {
        rc = kvq_cli_fail("merge", "out of memory");
        goto cleanup;
    }
    argv[0] = (char *)p[0].command;
    for (size_t i = 0; i < p[0].ngrid; i++)
        argv[i + 1] = p[0].grid[i];
    kvq_cli_opts_init(&s.o);
    if ((rc = parse(&s, (int)p[0].ngrid + 1, argv)))
        goto cleanup;
    s.o.seed = p[0].seed;
    s.o.json = json;
    s.o.quiet = quiet;
    s.out_dir = out_dir;
    s.t0 = kvq__mono_s();
    if ((rc = grid_setup(&s, g)) || (rc = grid_one_experiment(&s, g)))
        goto cleanup;
    if (kvq__experiment_items(&g->e) != p[0].total) {
        rc = kvq_cli_error("merge", "the partial results describe %zu work items, their grid has "
                           "%zu (made by another kvq version?)", p[0].total,
                           kvq__experiment_items(&g->e));
        goto cleanup;
    }
    rc = results_from(g, s.o.seed, p, n, &res) ? kvq_cli_fail("merge", "out of memory")
                                               : report(&s, g, res);
cleanup:
    kvq__results_free(res);
    if (g)
        kvq__kv_clear(&g->kv);
    free(g);
    free(argv);
    return rc;
}

/* Parses and runs sweep/findings, as one rank when mpirun started us. */
static int run_parsed(sweep *s, int argc, char **argv)
{
    kvq_mpi_start(&argc, &argv);
    kvq_cli_opts_init(&s->o);
    int err_fd = kvq_mpi_rank() ? quiet_stderr() : -1;
    int rc = parse(s, argc, argv);   /* as in run_sweep: rank 0 reports argument errors */
    restore_stderr(err_fd);
    if (!rc)
        rc = run_sweep(s);
    kvq_mpi_finish();
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
    return run_parsed(&s, argc, argv);
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
    return run_parsed(&s, argc, argv);
}
