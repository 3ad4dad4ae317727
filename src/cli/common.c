/* common.c — data options, device opening and progress shared by the
 * computing subcommands. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/common.h"
#include "base/clock.h"

const char kvq_cli_opts_help[] =
    "data (synthetic):\n"
    "  --dim D            head dimension, a power of two 16..1024 (default 128)\n"
    "  --keys N           keys and values per trial (default 1024)\n"
    "  --queries M        queries per trial (default 64)\n"
    "  --sharpness TAU    logits TAU*<q,k>/sqrt(d) (default 1)\n"
    "data (real tensors; each head is one trial):\n"
    "  --kv FILE          .safetensors with tensors k, v and optionally q\n"
    "  --k-name/--v-name/--q-name NAME   tensor names in --kv (default k, v, q)\n"
    "  --keys-file K.npy --values-file V.npy [--queries-file Q.npy]\n"
    "                     without queries, M keys per head drawn at random are the queries\n"
    "experiment:\n"
    "  --trials T         paired trials (default 32; real data: at most the heads)\n"
    "  --seed X           Philox seed (default 1); same seed and device: identical output\n"
    "  --topk K           k of top-k recall, 1..8 (default 8)\n"
    "  --device SPEC      host | P:D | cpu | gpu | accelerator | name substring\n"
    "                     (default $KVQ_DEVICE, else first GPU, else CPU, else host)\n"
    "  --json             JSON on stdout\n"
    "  --verbose          OpenCL build logs on failure\n";

/* Fills the defaults (d 128, N 1024, M 64, T 32, τ 1, seed 1). */
void kvq_cli_opts_init(kvq_cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dim = 128;
    o->keys = 1024;
    o->queries = 64;
    o->trials = 32;
    o->topk = 8;
    o->sharpness = 1.0;
    o->seed = 1;
}

/* Parses an unsigned 64-bit seed. */
static int parse_seed(const char *text, unsigned long long *out)
{
    char *end;
    if (!*text || *text == '-')
        return kvq_cli_error("--seed", "'%s' is not a non-negative integer", text);
    *out = strtoull(text, &end, 0);
    if (*end)
        return kvq_cli_error("--seed", "'%s' is not a non-negative integer", text);
    return 0;
}

/* Table of the integer options: flag, field, range. */
typedef struct int_opt {
    const char *flag;
    size_t offset;
    long lo, hi;
} int_opt;

static const int_opt int_opts[] = {
    {"--dim", offsetof(kvq_cli_opts, dim), 16, 1024},
    {"--keys", offsetof(kvq_cli_opts, keys), 1, 1L << 24},
    {"--queries", offsetof(kvq_cli_opts, queries), 1, 1L << 16},
    {"--trials", offsetof(kvq_cli_opts, trials), 1, 100000},
    {"--topk", offsetof(kvq_cli_opts, topk), 1, 8},
};

/* The string options and their fields. */
static const kvq_cli_str_opt str_opts[] = {
    {"--device", offsetof(kvq_cli_opts, device)},
    {"--kv", offsetof(kvq_cli_opts, kv_file)},
    {"--keys-file", offsetof(kvq_cli_opts, keys_file)},
    {"--values-file", offsetof(kvq_cli_opts, values_file)},
    {"--queries-file", offsetof(kvq_cli_opts, queries_file)},
    {"--k-name", offsetof(kvq_cli_opts, k_name)},
    {"--v-name", offsetof(kvq_cli_opts, v_name)},
    {"--q-name", offsetof(kvq_cli_opts, q_name)},
};

/* Consumes argv[*i] if it is a common option. */
int kvq_cli_opts_parse(kvq_cli_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    static const struct { const char *flag; size_t offset; } flags[] = {
        {"--json", offsetof(kvq_cli_opts, json)},
        {"--verbose", offsetof(kvq_cli_opts, verbose)},
        {"--quiet", offsetof(kvq_cli_opts, quiet)},
    };
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (!strcmp(a, flags[k].flag)) {
            *(int *)((char *)o + flags[k].offset) = 1;
            return 1;
        }
    for (size_t k = 0; k < sizeof int_opts / sizeof int_opts[0]; k++)
        if (kvq_cli_is(a, int_opts[k].flag)) {
            long *field = (long *)((char *)o + int_opts[k].offset);
            if (kvq_cli_int_value(argc, argv, i, int_opts[k].flag, int_opts[k].lo, int_opts[k].hi,
                                  field))
                return -1;
            if (!strcmp(int_opts[k].flag, "--trials"))
                o->trials_given = 1;
            if (!strcmp(int_opts[k].flag, "--dim") && (*field & (*field - 1))) {
                kvq_cli_error("--dim", "%ld is not a power of two (16..1024)", *field);
                return -1;
            }
            return 1;
        }
    int k = kvq_cli_str_opts(str_opts, sizeof str_opts / sizeof str_opts[0], o, argc, argv, i);
    if (k)
        return k;
    if (kvq_cli_is(a, "--sharpness")) {
        if (!(v = kvq_cli_value(argc, argv, i, "--sharpness")))
            return -1;
        return kvq_cli_parse_double(v, "--sharpness", 1e-6, 1e6, &o->sharpness) ? -1 : 1;
    }
    if (kvq_cli_is(a, "--seed")) {
        if (!(v = kvq_cli_value(argc, argv, i, "--seed")))
            return -1;
        return parse_seed(v, &o->seed) ? -1 : 1;
    }
    return 0;
}

/* Opens the context of --device (or $KVQ_DEVICE / the default) */
kvq_ctx *kvq_cli_open_device(const kvq_cli_opts *o, int *rc)
{
    kvq_ctx *ctx = NULL;
    const char *spec = o->device ? o->device : kvq_device_spec_default();
    int st = kvq_ctx_create(&ctx, spec);
    if (st == KVQ_ERR_BAD_SPEC && *kvq_error_detail()) {   /* a KVQ_* variable, named in the detail */
        *rc = kvq_cli_error("environment", "%s", kvq_error_detail());
        return NULL;
    }
    if (st == KVQ_ERR_NO_DEVICE || st == KVQ_ERR_BAD_SPEC) {
        *rc = kvq_cli_error(o->device ? "--device" : "KVQ_DEVICE", "%s '%s' (see 'kvq devices')",
                            st == KVQ_ERR_NO_DEVICE ? "no device matches" : "malformed device spec",
                            spec);
        return NULL;
    }
    if (st) {
        *rc = kvq_cli_fail("device", "cannot open %s: %s %s", spec ? spec : "the default device",
                           kvq_strerror(st), kvq_error_detail());
        return NULL;
    }
    if (!spec && kvq_ctx_is_host(ctx) && !o->quiet)
        fprintf(stderr, "kvq: no OpenCL device found; running on the host reference\n");
    *rc = 0;
    return ctx;
}

/* The last path component. */
static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Loads real K/V(/Q) if the options name files. */
int kvq_cli_load_real(const kvq_cli_opts *o, kvq_kv *kv, const char **label)
{
    char err[512];
    const char *bad = NULL;
    int st;
    memset(kv, 0, sizeof *kv);
    *label = NULL;
    if (o->kv_file && (o->keys_file || o->values_file || o->queries_file))
        return kvq_cli_error("--kv", "give either --kv or --keys-file/--values-file, not both");
    if (!o->kv_file && !o->keys_file && !o->values_file && !o->queries_file)
        return 0;
    if (o->kv_file) {
        st = kvq__kv_load_safetensors(o->kv_file, o->k_name, o->v_name, o->q_name, kv, err,
                                     sizeof err);
        bad = o->kv_file;
        *label = base_name(o->kv_file);
    } else {
        if (!o->keys_file || !o->values_file)
            return kvq_cli_error(o->keys_file ? "--values-file" : "--keys-file",
                                 "both --keys-file and --values-file are needed");
        st = kvq__kv_load_npy(o->keys_file, o->values_file, o->queries_file, kv, &bad, err,
                             sizeof err);
        *label = base_name(o->keys_file);
    }
    if (st) {
        kvq_cli_error(bad ? bad : "input", "%s", err);
        kvq__kv_clear(kv);
        return st == KVQ_ERR_NOMEM ? KVQ_EXIT_RUNTIME : KVQ_EXIT_USAGE;
    }
    return 0;
}

/* Progress bar with ETA on stderr when it is a terminal. */
void kvq_cli_progress(void *arg, size_t done, size_t total)
{
    static double start;
    (void)arg;
    if (!isatty(2) || !total)
        return;
    if (done <= 1)
        start = kvq__mono_s();
    double el = kvq__mono_s() - start, eta = done ? el / (double)done * (double)(total - done) : 0;
    int width = 30, fill = (int)((double)width * (double)done / (double)total);
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.0fs elapsed, ETA %.0fs ", fill,
            "##############################", width - fill, "", done, total, el, eta);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Every scheme's codecs can run at dim, or one line naming the rule. */
int kvq_cli_schemes_fit(const kvq_scheme *s, size_t n, long dim, const char *flag)
{
    for (size_t i = 0; i < n; i++) {
        const char *rule = kvq__format_rule(&s[i].k, (int)dim);
        if (!rule)
            rule = kvq__format_rule(&s[i].v, (int)dim);
        if (rule)
            return kvq_cli_error(flag, "d = %ld cannot run scheme %s: %s", dim, s[i].name, rule);
    }
    return 0;
}

/* Prints a library failure as one "kvq: <what>: <error>" line; returns the exit status. */
int kvq_cli_report_failure(kvq_ctx *ctx, const kvq_cli_opts *o, const char *what, int st)
{
    if (st == KVQ_ERR_NONFINITE)
        return kvq_cli_error(what, "NaN or Inf in the input tensors");
    kvq_cli_fail(what, "%s %s", kvq_strerror(st), kvq_error_detail());
    if (st == KVQ_ERR_BUILD && ctx) {
        if (o->verbose)
            fprintf(stderr, "%s\n", kvq_ctx_build_log(ctx));
        else
            fprintf(stderr, "kvq: run with --verbose for the OpenCL build log\n");
    }
    return KVQ_EXIT_RUNTIME;
}

/* The experiment the common options describe (see common.h). */
kvq__experiment kvq_cli_experiment(const kvq_cli_opts *o, const kvq_scheme *schemes,
                                  size_t nschemes, const kvq_source *sources, size_t nsources,
                                  const kvq_kv *real, const char *label)
{
    return (kvq__experiment){.dim = (int)o->dim, .keys = (size_t)o->keys,
                            .queries = (size_t)o->queries, .sharpness = o->sharpness,
                            .topk = (int)o->topk, .trials = (size_t)o->trials, .seed = o->seed,
                            .schemes = schemes, .nschemes = nschemes, .sources = sources,
                            .nsources = nsources, .real = real, .real_name = label,
                            .progress = kvq_cli_progress};
}
