/* cmd_tune.c — `kvq tune`: CLBlast's own tuners (clblast-utils) run for one
 * OpenCL device, their best fp32 parameters stored in kvq's tuning cache,
 * and kvq's CLBlast SGEMM timed with CLBlast's parameters and with the
 * tuned ones (doc/scaling.md §7). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "base/tuning.h"
#include "cli/cli.h"
#include "device/bench_kernels.h"
#include "kvq.h"
#include "internal.h"

static const char help[] =
    "usage: kvq tune [--device SPEC] [--kernels LIST] [--quick] [--fraction F] [--json]\n\n"
    "Runs CLBlast's tuners (package clblast-utils) for one OpenCL device, stores\n"
    "the best fp32 parameters in kvq's tuning cache, and times kvq's CLBlast\n"
    "SGEMM with CLBlast's parameters and with the tuned ones. Every later kvq\n"
    "context on the device installs them (KVQ_CLBLAST_TUNED=0: it does not).\n\n"
    "  --device SPEC   the device (default $KVQ_DEVICE, else the default device)\n"
    "  --kernels LIST  comma-separated: xgemm_direct, xgemm, copy, pad, transpose,\n"
    "                  padtranspose, or all (default xgemm_direct,xgemm; --quick:\n"
    "                  xgemm_direct). Xgemm's tuner tries at least 1 156\n"
    "                  configurations: many minutes on a CPU\n"
    "  --quick         GEMM tuners stop after their first (fixed) phase; others\n"
    "                  sample a third as much; 1 run of each configuration\n"
    "  --fraction F    the share of each tuner's random search space, 0 < F <= 1\n"
    "                  (default: a few tens of configurations per tuner)\n"
    "  --json          one JSON object on stdout (progress stays on stderr)\n\n"
    "cache: $KVQ_CACHE_DIR, else $XDG_CACHE_HOME/kvq, else ~/.cache/kvq; one file\n"
    "per device name and driver version. Exit status 2 when a tuner is missing.\n";

typedef struct tune_opts {
    const char *device, *kernels;
    int quick, json;
    double fraction;            /* 0: each kind's own */
} tune_opts;

/* One SGEMM shape kvq runs: the per-trial reference logits (its GEMMs are
 * small, so CLBlast runs XgemmDirect) and a prefill over 64 Ki keys (Xgemm). */
static const struct {
    size_t m, n;
    const char *what;
} shapes[] = {{64, 1024, "trial reference logits"}, {64, 65536, "prefill logits"}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])
#define SGEMM_DIM 128
#define SGEMM_REPEATS 5

/* The kernels --kernels names: a bit per entry of kvq__tune_kinds. */
static int parse_kernels(const char *list, unsigned *mask)
{
    size_t nk;
    const kvq__tune_kind *k = kvq__tune_kinds(&nk);
    *mask = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        int found = n == 3 && !strncmp(p, "all", 3);
        if (found)
            *mask = (1u << nk) - 1;
        for (size_t i = 0; i < nk && !found; i++)
            if (strlen(k[i].family) == n && !strncmp(p, k[i].family, n)) {
                *mask |= 1u << i;
                found = 1;
            }
        if (!found)
            return kvq_cli_error("--kernels", "'%.*s' is not one of xgemm_direct, xgemm, copy, "
                                 "pad, transpose, padtranspose, all", (int)n, p);
        p += n + (p[n] == ',');
    }
    return *mask ? 0 : kvq_cli_error("--kernels", "empty list");
}

static int parse_args(int argc, char **argv, tune_opts *o)
{
    static const kvq_cli_str_opt strs[] = {{"--device", offsetof(tune_opts, device)},
                                           {"--kernels", offsetof(tune_opts, kernels)}};
    for (int i = 1; i < argc; i++) {
        int r = kvq_cli_str_opts(strs, 2, o, argc, argv, &i);
        if (r < 0)
            return KVQ_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--quick"))
            o->quick = 1;
        else if (!strcmp(argv[i], "--json"))
            o->json = 1;
        else if (kvq_cli_is(argv[i], "--fraction")) {
            const char *v = kvq_cli_value(argc, argv, &i, "--fraction");
            if (!v || kvq_cli_parse_double(v, "--fraction", 1e-9, 1.0, &o->fraction))
                return KVQ_EXIT_USAGE;
        } else
            return kvq_cli_error(argv[i], "unknown option for 'kvq tune' (try --help)");
    }
    return 0;
}

/* 1 when an executable named prog is on $PATH. */
static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path ? path : ""; *p;) {
        size_t n = strcspn(p, ":");
        int w = snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (n && w > 0 && (size_t)w < sizeof buf && access(buf, X_OK) == 0)
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

/* Median GFLOP/s of kvq's CLBlast SGEMM at each shape on ctx. */
static int time_sgemm(kvq_ctx *ctx, double gflops[NSHAPES])
{
    for (size_t s = 0; s < NSHAPES; s++) {
        double ev[SGEMM_REPEATS], wall[SGEMM_REPEATS];
        kvq_bench_work w = {.kind = KVQ_BENCH_SGEMM, .dim = SGEMM_DIM, .count = shapes[s].n,
                            .queries = shapes[s].m};
        int st = kvq_bench_device_run(ctx, &w, 1, SGEMM_REPEATS, ev, wall);
        if (st)
            return kvq_cli_fail("tune", "CLBlast SGEMM M=%zu N=%zu: %s %s", shapes[s].m,
                                shapes[s].n, kvq_strerror(st), kvq_error_detail());
        for (int i = 1; i < SGEMM_REPEATS; i++)    /* insertion sort: five numbers */
            for (int j = i; j > 0 && ev[j] < ev[j - 1]; j--) {
                double t = ev[j];
                ev[j] = ev[j - 1];
                ev[j - 1] = t;
            }
        double sec = ev[SGEMM_REPEATS / 2];
        gflops[s] = sec > 0 ? 2.0 * shapes[s].m * shapes[s].n * SGEMM_DIM / sec * 1e-9 : 0;
    }
    return 0;
}

/* The size of the one clblast_*.json in dir, or -1 when there is none. */
static long json_size(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long size = -1;
    char path[4400];
    struct stat sb;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!strncmp(e->d_name, "clblast_", 8) && n > 13 && !strcmp(e->d_name + n - 5, ".json") &&
            stat(path, &sb) == 0)
            size = (long)sb.st_size;
    }
    if (d)
        closedir(d);
    return size;
}

/* Waits for the tuner; with first_phase, stops it once the JSON of its
 * first phase has stopped growing. 0 when it exited 0 or was stopped so. */
static int wait_tuner(pid_t pid, const char *dir, int first_phase, int *status)
{
    long last = -1;
    for (;;) {
        pid_t w = waitpid(pid, status, first_phase ? WNOHANG : 0);
        if (w == pid)
            return !(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
        if (w < 0 && errno != EINTR)
            return -1;
        if (w != 0)
            continue;
        long size = json_size(dir);
        if (size > 0 && size == last) {
            kill(pid, SIGTERM);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            return 0;
        }
        last = size;
        usleep(250000);
    }
}

/* Runs one tuner in dir, its output (millions of lines when it skips
 * candidates) to /dev/null; 0 when it exited 0, 1 after saying how it ended
 * and how to run it by hand otherwise, -1 when it could not run.
 * --quick stops a GEMM tuner after its first phase (a fixed set of
 * configurations that no fraction shrinks: 46 for XgemmDirect, 578 for
 * Xgemm); a fraction near 1 keeps that phase from walking millions of
 * configurations it skips. */
static int run_tuner(const char *dir, const kvq__tune_kind *k, const kvq_device_info *di,
                     const tune_opts *o)
{
    char plat[16], dev[16], frac[32], m[16], n[16], kk[16];
    int first_phase = o->quick && k->gemm, status;
    double f = o->fraction > 0 ? o->fraction
               : first_phase   ? 0.5
                               : k->fraction / (o->quick ? 3 : 1);
    snprintf(plat, sizeof plat, "%d", di->platform_index);
    snprintf(dev, sizeof dev, "%d", di->device_index);
    snprintf(frac, sizeof frac, "%.3g", f);
    /* tuned at the shape kvq runs most: the per-trial reference logits */
    snprintf(m, sizeof m, "%zu", shapes[0].m);
    snprintf(n, sizeof n, "%zu", shapes[0].n);
    snprintf(kk, sizeof kk, "%d", SGEMM_DIM);
    /* the copy/transpose tuners keep their own 1024² size: PoCL aborts on
     * some of their configurations at small sizes */
    const char *argv[] = {k->tuner, "-platform", plat, "-device", dev, "-precision", "32",
                          "-fraction", frac, "-runs", o->quick ? "1" : "2",
                          k->gemm ? "-m" : NULL, m, "-n", n, "-k", kk, NULL};
    fprintf(stderr, "kvq tune: %s (fraction %s%s) ...\n", k->tuner, frac,
            first_phase ? ", first phase only" : "");
    pid_t pid = fork();
    if (pid < 0)
        return kvq_cli_fail(k->tuner, "cannot start: %s", strerror(errno)), -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd < 0 || chdir(dir) != 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execvp(k->tuner, (char *const *)argv);
        _exit(127);
    }
    int rc = wait_tuner(pid, dir, first_phase, &status);
    if (rc < 0)
        return kvq_cli_fail(k->tuner, "lost: %s", strerror(errno)), -1;
    if (rc == 0)
        return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "kvq tune: %s died of signal %d; to see why run:", k->tuner,
                WTERMSIG(status));
    else
        fprintf(stderr, "kvq tune: %s exited %d; to see why run:", k->tuner,
                WEXITSTATUS(status));
    for (const char *const *a = argv; *a; a++)
        fprintf(stderr, " %s", *a);
    fputc('\n', stderr);
    return 1;
}

/* Reads and parses one tuner output file; 0, or -1 with the reason in err. */
static int read_output(const char *path, kvq__tune_kernel *k, char *err, size_t errlen)
{
    char *text;
    size_t len;
    if (kvq__tune_read_file(path, KVQ__TUNE_TUNER_BYTES, &text, &len, err, errlen))
        return -1;
    int rc = kvq__tune_parse_tuner(text, len, k, err, errlen);
    free(text);
    return rc;
}

/* Parses each clblast_*.json the tuners left in dir, keeping per kernel the
 * one with the shortest best time; removes what it read. Returns how many
 * it used, or -1 after printing why one could not be read. */
static int collect(const char *dir, kvq__tune_kernel best[], size_t nk,
                   const kvq__tune_kind *kinds)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int used = 0, rc = 0;
    if (!d)
        return kvq_cli_fail(dir, "%s", strerror(errno)), -1;
    while (!rc && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "clblast_", 8) || n < 13 || strcmp(e->d_name + n - 5, ".json"))
            continue;
        char path[4400], err[256];
        kvq__tune_kernel k;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (read_output(path, &k, err, sizeof err)) {
            kvq_cli_fail(e->d_name, "tuner output: %s", err);
            rc = -1;
            break;
        }
        unlink(path);
        size_t i = (size_t)(k.kind - kinds);
        if (i < nk && (!best[i].kind || k.best_ms < best[i].best_ms))
            best[i] = k;
        used++;
    }
    closedir(d);
    return rc ? rc : used;
}

/* Removes dir and the files the tuners left in it. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int write_set(FILE *f, void *arg)
{
    return kvq__tune_write_cache(f, arg);
}

/* GFLOP/s of a GEMM tuner's best time, or 0 when it is no GEMM. */
static double tuner_gflops(const kvq__tune_kernel *k)
{
    return k->kind->gemm && k->m ? 2.0 * k->m * k->n * k->k / (k->best_ms * 1e-3) * 1e-9 : 0;
}

static void print_text(const kvq_device_info *di, const kvq__tune_kernel *best, size_t nk,
                       const double *before, const double *after, const char *path)
{
    printf("kvq tune: %s (driver %s), CLBlast fp32\n\n%-13s %-12s %s\n", di->name, di->driver,
           "kernel", "tuner best", "parameters");
    for (size_t i = 0; i < nk; i++) {
        const kvq__tune_kernel *k = &best[i];
        if (!k->kind)
            continue;
        char perf[32];
        if (k->kind->gemm)
            snprintf(perf, sizeof perf, "%.1f GFLOP/s", tuner_gflops(k));
        else
            snprintf(perf, sizeof perf, "%.3f ms", k->best_ms);
        printf("%-13s %-12s", k->kind->kernel, perf);
        for (size_t p = 0; p < k->nparams; p++)
            printf(" %s=%zu", k->name[p], k->value[p]);
        putchar('\n');
    }
    printf("\nkvq's CLBlast SGEMM, d = %d (median of %d): CLBlast's parameters -> tuned\n",
           SGEMM_DIM, SGEMM_REPEATS);
    for (size_t s = 0; s < NSHAPES; s++)
        printf("  M=%zu N=%-6zu %6.1f -> %6.1f GFLOP/s (x%.2f)  %s\n", shapes[s].m, shapes[s].n,
               before[s], after[s], before[s] > 0 ? after[s] / before[s] : 0, shapes[s].what);
    printf("\nstored in %s\n", path);
}

static void print_json(const kvq_device_info *di, const kvq__tune_kernel *best, size_t nk,
                       const double *before, const double *after, const char *path)
{
    const char *const head[][2] = {{"device", di->name}, {"driver", di->driver}, {"cache", path}};
    fputc('{', stdout);
    kvq__json_strings(stdout, head, 3);
    fputs(",\"kernels\":[", stdout);
    for (size_t i = 0, first = 1; i < nk; i++) {
        const kvq__tune_kernel *k = &best[i];
        if (!k->kind)
            continue;
        printf("%s{\"kernel\":\"%s\",\"best_ms\":%.6g,\"tuner_gflops\":%.6g,\"parameters\":{",
               first ? "" : ",", k->kind->kernel, k->best_ms, tuner_gflops(k));
        for (size_t p = 0; p < k->nparams; p++)
            printf("%s\"%s\":%zu", p ? "," : "", k->name[p], k->value[p]);
        fputs("}}", stdout);
        first = 0;
    }
    fputs("],\"sgemm\":[", stdout);
    for (size_t s = 0; s < NSHAPES; s++)
        printf("%s{\"m\":%zu,\"n\":%zu,\"k\":%d,\"default_gflops\":%.6g,\"tuned_gflops\":%.6g}",
               s ? "," : "", shapes[s].m, shapes[s].n, SGEMM_DIM, before[s], after[s]);
    fputs("]}\n", stdout);
}

/* Runs the chosen tuners in a temporary directory; the best of each kernel
 * into best[]. 0, or an exit status. */
static int tune_all(kvq_ctx *ctx, const tune_opts *o, unsigned mask, kvq__tune_kernel *best)
{
    size_t nk;
    const kvq__tune_kind *kinds = kvq__tune_kinds(&nk);
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    int got = 0, rc = 0;
    snprintf(dir, sizeof dir, "%s/kvq_tune.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return kvq_cli_fail(dir, "cannot create a temporary directory: %s", strerror(errno));
    for (size_t i = 0; i < nk && !rc; i++) {
        if (!(mask >> i & 1))
            continue;
        if (run_tuner(dir, &kinds[i], kvq_ctx_device(ctx), o) < 0) {
            rc = KVQ_EXIT_RUNTIME;
            break;
        }
        int n = collect(dir, best, nk, kinds);   /* a crashed tuner's finished phases count */
        if (n < 0)
            rc = KVQ_EXIT_RUNTIME;
        else if (n == 0)
            fprintf(stderr, "kvq tune: %s found no parameters\n", kinds[i].tuner);
        got += n > 0;
    }
    if (!rc && !got)
        rc = kvq_cli_fail("tune", "no tuner produced parameters");
    remove_dir(dir);
    return rc;
}

/* Adds the new kernels to what the device's cache file holds and writes it. */
static int store(kvq_ctx *ctx, const kvq__tune_kernel *best, size_t nk, kvq__tune_set *set,
                 char *path, size_t len)
{
    const kvq_device_info *di = kvq_ctx_device(ctx);
    char dir[4096], err[256];
    if (kvq__tune_cache_dir(dir, sizeof dir))
        return kvq_cli_error("tune", "no cache directory: set KVQ_CACHE_DIR or HOME");
    if (kvq__tune_cache_file(dir, di->name, di->driver, path, len))
        return kvq_cli_error(dir, "the cache directory's path is too long");
    if (kvq__tune_load(path, di->name, di->driver, set, err, sizeof err) != 0) {
        memset(set, 0, sizeof *set);     /* none, or one we replace */
        snprintf(set->device, sizeof set->device, "%s", di->name);
        snprintf(set->driver, sizeof set->driver, "%s", di->driver);
    }
    for (size_t i = 0; i < nk; i++)
        if (best[i].kind)
            kvq__tune_set_put(set, &best[i]);   /* one slot per kind: never full */
    if (kvq__tune_mkdirs(dir))
        return kvq_cli_fail(dir, "cannot create the cache directory: %s", strerror(errno));
    int wrc = 0;
    if (kvq__file_replace(path, write_set, set, 0, &wrc))
        return kvq_cli_fail(path, "cannot write: %s", wrc ? "device name or driver not "
                            "writable on one line" : strerror(errno));
    return 0;
}

/* `kvq tune`: tunes CLBlast for one device and caches the parameters. */
int kvq_cmd_tune(int argc, char **argv)
{
    tune_opts o = {0};
    unsigned mask;
    size_t nk;
    const kvq__tune_kind *kinds = kvq__tune_kinds(&nk);
    kvq__tune_kernel best[KVQ__TUNE_KERNELS];
    kvq__tune_set set;
    kvq_ctx *ctx = NULL;
    double before[NSHAPES], after[NSHAPES];
    char path[4200], err[256];
    int rc, st;

    if (kvq_cli_want_help(argc, argv)) {
        fputs(help, stdout);
        return KVQ_EXIT_OK;
    }
    if ((rc = parse_args(argc, argv, &o)) ||
        (rc = parse_kernels(o.kernels ? o.kernels : o.quick ? "xgemm_direct"
                                                            : "xgemm_direct,xgemm", &mask)))
        return rc;
    for (size_t i = 0; i < nk; i++)
        if (mask >> i & 1 && !on_path(kinds[i].tuner))
            return kvq_cli_error(kinds[i].tuner, "not found on PATH; the CLBlast tuners come "
                                 "with: apt-get install clblast-utils");
    /* CLBlast's own parameters first, whatever the cache holds now */
    setenv("KVQ_CLBLAST_TUNED", "0", 1);
    if ((st = kvq_ctx_create(&ctx, o.device)))
        return st == KVQ_ERR_NO_DEVICE || st == KVQ_ERR_BAD_SPEC
                   ? kvq_cli_error(o.device ? o.device : "--device", "%s", kvq_strerror(st))
                   : kvq_cli_fail("tune", "%s %s", kvq_strerror(st), kvq_error_detail());
    if (kvq_ctx_is_host(ctx)) {
        rc = kvq_cli_error("--device", "the host reference runs no CLBlast: name an OpenCL "
                           "device (see 'kvq devices')");
        goto cleanup;
    }
    memset(best, 0, sizeof best);
    fprintf(stderr, "kvq tune: timing CLBlast's own parameters on %s\n",
            kvq_ctx_device(ctx)->name);
    if ((rc = time_sgemm(ctx, before)) || (rc = tune_all(ctx, &o, mask, best)) ||
        (rc = store(ctx, best, nk, &set, path, sizeof path)))
        goto cleanup;
    if (kvq__ctx_clblast_apply(ctx, &set, 1, err, sizeof err)) {
        rc = kvq_cli_fail(path, "%s", err);
        goto cleanup;
    }
    fprintf(stderr, "kvq tune: timing the tuned parameters\n");
    if ((rc = time_sgemm(ctx, after)))
        goto cleanup;
    if (o.json)
        print_json(kvq_ctx_device(ctx), best, nk, before, after, path);
    else
        print_text(kvq_ctx_device(ctx), best, nk, before, after, path);
    for (size_t s = 0; s < NSHAPES; s++)
        if (after[s] < before[s])
            fprintf(stderr, "kvq tune: note: M=%zu N=%zu runs slower tuned; KVQ_CLBLAST_TUNED=0 "
                    "or removing %s restores CLBlast's parameters\n", shapes[s].m, shapes[s].n,
                    path);
    rc = fflush(stdout) == 0 ? KVQ_EXIT_OK : kvq_cli_fail("stdout", "write failed");
cleanup:
    kvq_ctx_destroy(ctx);
    return rc;
}
