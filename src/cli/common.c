/* common.c — data options, device opening and progress shared by the
 * computing subcommands. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/common.h"
#include "base/clock.h"
#include "cli/grid.h"

const char kvq_cli_opts_help[] =
    "data (synthetic):\n"
    "  --dim D            head dimension 16..1024 (default 128)\n"
    "  --keys N           keys and values per trial (default 1024)\n"
    "  --queries M        queries per trial (default 64)\n"
    "  --sharpness TAU    logits TAU*<q,k>/sqrt(d) (default 1)\n"
    "  --causal           causal attention: of N keys and M queries, query j sits at\n"
    "                     position N-M+j and sees keys 0..N-M+j only (needs M <= N)\n"
    "data (real tensors; each head is one trial):\n"
    "  --kv FILE          .safetensors with tensors k, v and optionally q, or a file of\n"
    "                     tools/export_kv.py with layer{L}.k/.v/.q and its metadata\n"
    "  --layer L          (run) the layer of an export_kv.py file\n"
    "  --layers LIST      (sweep, findings) all | A,B | A-B, mixed freely (default all)\n"
    "  --sharpness TAU    overrides the sharpness the file records for the layer\n"
    "                     (default: the recorded one, else 1)\n"
    "  --causal, --no-causal\n"
    "                     override the causal flag the file records (default: recorded,\n"
    "                     else not causal)\n"
    "  --k-name/--v-name/--q-name NAME   tensor names in --kv (default k, v, q)\n"
    "  --keys-file K.npy --values-file V.npy [--queries-file Q.npy]\n"
    "                     without queries, M keys per head drawn at random are the queries\n"
    "experiment:\n"
    "  --trials T         paired trials (default 32; real data: the heads, and T may not\n"
    "                     exceed them)\n"
    "  --seed X           Philox seed (default 1); same seed and device: identical output\n"
    "  --topk K           k of top-k recall, 1..8 (default 8)\n"
    "  --device SPEC      host | P:D | cpu | gpu | accelerator | name substring\n"
    "                     (default $KVQ_DEVICE, else first GPU, else CPU, else host)\n"
    "  --json             JSON on stdout\n"
    "  --verbose          OpenCL build logs on failure\n";

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
    o->causal = -1;
}

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
    {"--layer", offsetof(kvq_cli_opts, layers)},
    {"--layers", offsetof(kvq_cli_opts, layers)},
};

int kvq_cli_opts_parse(kvq_cli_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    static const struct { const char *flag; size_t offset; } flags[] = {
        {"--json", offsetof(kvq_cli_opts, json)},
        {"--verbose", offsetof(kvq_cli_opts, verbose)},
        {"--quiet", offsetof(kvq_cli_opts, quiet)},
        {"--causal", offsetof(kvq_cli_opts, causal)},
    };
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (!strcmp(a, flags[k].flag)) {
            *(int *)((char *)o + flags[k].offset) = 1;
            return 1;
        }
    if (!strcmp(a, "--causal") || !strcmp(a, "--no-causal")) {
        o->causal = a[2] == 'c';
        return 1;
    }
    if (kvq_cli_is(a, "--layer") || kvq_cli_is(a, "--layers"))
        o->layers_flag = kvq_cli_is(a, "--layer") ? "--layer" : "--layers";
    for (size_t k = 0; k < sizeof int_opts / sizeof int_opts[0]; k++)
        if (kvq_cli_is(a, int_opts[k].flag)) {
            long *field = (long *)((char *)o + int_opts[k].offset);
            if (kvq_cli_int_value(argc, argv, i, int_opts[k].flag, int_opts[k].lo, int_opts[k].hi,
                                  field))
                return -1;
            if (!strcmp(int_opts[k].flag, "--trials"))
                o->trials_given = 1;
            return 1;
        }
    int k = kvq_cli_str_opts(str_opts, sizeof str_opts / sizeof str_opts[0], o, argc, argv, i);
    if (k)
        return k;
    if (kvq_cli_is(a, "--sharpness")) {
        if (!(v = kvq_cli_value(argc, argv, i, "--sharpness")))
            return -1;
        o->sharpness_given = 1;
        return kvq_cli_parse_double(v, "--sharpness", 1e-6, 1e6, &o->sharpness) ? -1 : 1;
    }
    if (kvq_cli_is(a, "--seed")) {
        if (!(v = kvq_cli_value(argc, argv, i, "--seed")))
            return -1;
        return parse_seed(v, &o->seed) ? -1 : 1;
    }
    return 0;
}

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

const char *kvq_cli_real_name(const kvq_cli_real *r, int layer, char *buf, size_t len)
{
    if (layer >= 0)
        snprintf(buf, len, "%s layer %d", r->label, layer);
    else
        snprintf(buf, len, "%s", r->label);
    return buf;
}

/* "0,3,5" of the file's layers, for messages. */
static const char *layer_list(const int *layers, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? "," : "", layers[i]);
    return buf;
}

/* The layers of r's .safetensors file to run (see kvq_cli_real_open). */
static int pick_layers(const kvq_cli_opts *o, int many, kvq_cli_real *r)
{
    static int avail[KVQ_CLI_MAX_LAYERS];
    char err[512], list[256];
    size_t navail;
    int st = kvq__safetensors_layers(r->st_path, avail, KVQ_CLI_MAX_LAYERS, &navail, err,
                                     sizeof err);
    if (st)
        return kvq_cli_report(st == KVQ_ERR_NOMEM ? KVQ_EXIT_RUNTIME : KVQ_EXIT_USAGE,
                              r->st_path, "%s", err);
    int named = o->k_name || o->v_name || o->q_name;
    if (o->layers && named)
        return kvq_cli_error(o->layers_flag, "give either %s or --k-name/--v-name/--q-name",
                             o->layers_flag);
    if (!o->layers) {
        if (named || !navail || (st = kvq_safetensors_has(r->st_path, "k", err, sizeof err)) == 1) {
            r->layers[0] = -1;   /* the plain k, v, q (or the names given) */
            r->nlayers = 1;
            return 0;
        }
        if (!many)
            return kvq_cli_error(r->st_path, "the file holds layers %s; choose one with --layer L",
                                 layer_list(avail, navail, list, sizeof list));
        memcpy(r->layers, avail, navail * sizeof *avail);
        r->nlayers = navail;
        return 0;
    }
    int n = -kvq_grid_layers(o->layers, o->layers_flag, avail, navail, r->layers,
                             KVQ_CLI_MAX_LAYERS);
    if (n <= 0)
        return -n;
    if (n > 1 && (!many || !strcmp(o->layers_flag, "--layer")))
        return kvq_cli_error(o->layers_flag, "'%s': %s takes one layer%s", o->layers,
                             o->layers_flag, many ? " (--layers takes a list)" : "");
    r->nlayers = (size_t)n;
    return 0;
}

/* Resolves the real input: file and layers. */
int kvq_cli_real_open(const kvq_cli_opts *o, int many, kvq_cli_real *r)
{
    memset(r, 0, sizeof *r);
    if (o->kv_file && (o->keys_file || o->values_file || o->queries_file))
        return kvq_cli_error("--kv", "give either --kv or --keys-file/--values-file, not both");
    if (!o->kv_file && !o->keys_file && !o->values_file && !o->queries_file)
        return o->layers ? kvq_cli_error(o->layers_flag, "needs --kv FILE.safetensors") : 0;
    if (!o->kv_file) {
        if (!o->keys_file || !o->values_file)
            return kvq_cli_error(o->keys_file ? "--values-file" : "--keys-file",
                                 "both --keys-file and --values-file are needed");
        if (o->layers)
            return kvq_cli_error(o->layers_flag, "needs --kv FILE.safetensors (.npy files have "
                                 "no layers)");
        r->label = base_name(o->keys_file);
        r->layers[0] = -1;
        r->nlayers = 1;
        return 0;
    }
    r->label = base_name(o->kv_file);
    r->st_path = o->kv_file;
    return pick_layers(o, many, r);
}

/* Whether K and V files are left on disk and read by key chunk: when
 * together they hold more than KVQ_WHOLE_BYTES (doc/scaling.md §6). */
static int stream_npy(const kvq_cli_opts *o)
{
    struct stat a, b;
    return stat(o->keys_file, &a) == 0 && stat(o->values_file, &b) == 0 &&
           (uint64_t)a.st_size + (uint64_t)b.st_size > KVQ_WHOLE_BYTES;
}

/* Loads the tensors of one layer (or the plain/named ones for layer < 0). */
static int load_tensors(const kvq_cli_opts *o, const kvq_cli_real *r, int layer, kvq_kv *kv)
{
    char err[512], k[32], v[32], q[32];
    const char *bad = NULL;
    int st;
    if (!r->st_path)
        st = (stream_npy(o) ? kvq__kv_open_npy : kvq__kv_load_npy)(
            o->keys_file, o->values_file, o->queries_file, kv, &bad, err, sizeof err);
    else if (layer < 0)
        st = kvq__kv_load_safetensors(r->st_path, o->k_name, o->v_name, o->q_name, kv, err,
                                      sizeof err);
    else {
        snprintf(k, sizeof k, "layer%d.k", layer);
        snprintf(v, sizeof v, "layer%d.v", layer);
        snprintf(q, sizeof q, "layer%d.q", layer);
        st = kvq_safetensors_has(r->st_path, q, err, sizeof err);
        if (st >= 0)   /* without its queries a layer draws them from its keys */
            st = kvq__kv_load_safetensors(r->st_path, k, v, st ? q : "", kv, err, sizeof err);
    }
    if (st) {
        kvq_cli_error(bad ? bad : r->st_path, "%s", err);
        kvq__kv_clear(kv);
        return st == KVQ_ERR_NOMEM ? KVQ_EXIT_RUNTIME : KVQ_EXIT_USAGE;
    }
    return 0;
}

/* Loads one layer and points the experiment at it. */
int kvq_cli_real_load(const kvq_cli_opts *o, const kvq_cli_real *r, int layer, kvq_kv *kv,
                      kvq__experiment *e)
{
    char err[512], name[300];
    kvq__kv_meta meta = {NAN, -1};
    int rc = load_tensors(o, r, layer, kv);
    if (rc)
        return rc;
    kvq_cli_real_name(r, layer, name, sizeof name);
    if (r->st_path && (rc = kvq__kv_meta_read(r->st_path, layer, &meta, err, sizeof err)))
        return kvq_cli_error(r->st_path, "%s", err);
    if (kvq_dim_check(kv->dim, err, sizeof err))
        return kvq_cli_error(name, "%s", err);
    if (o->trials_given && (size_t)o->trials > kv->heads)
        return kvq_cli_error("--trials", "%ld trials asked, but %s has %zu heads (real data: "
                             "each head is one trial)", o->trials, name, kv->heads);
    if (!kv->q.data && !o->quiet)
        fprintf(stderr, "kvq: %s: no queries; using %ld keys per head, drawn at random, as "
                        "queries\n", name, o->queries);
    e->real = kv;
    e->real_name = r->label;
    e->layer = layer;
    e->dim = (int)kv->dim;
    e->trials = o->trials_given ? (size_t)o->trials : kv->heads;
    e->sharpness = o->sharpness_given || !isfinite(meta.sharpness) ? o->sharpness : meta.sharpness;
    e->causal = o->causal >= 0 ? o->causal : meta.causal > 0;
    return 0;
}

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

/* M ≤ N under --causal (see common.h). */
int kvq_cli_check_causal(const kvq__experiment *e, const char *label)
{
    const kvq_kv *real = e->real;
    size_t keys = real ? real->keys : e->keys;
    size_t queries = real && real->q.data ? real->queries / real->q_group : e->queries;
    if (!e->causal || queries <= keys)   /* grouped queries: M positions per query head */
        return 0;
    return kvq_cli_error(real && real->q.data ? label : "--queries",
                         "%zu queries but %zu keys; --causal needs at most as many queries as "
                         "keys (query j sits at position N-M+j)", queries, keys);
}

kvq__experiment kvq_cli_experiment(const kvq_cli_opts *o, const kvq_scheme *schemes,
                                  size_t nschemes, const kvq_source *sources, size_t nsources)
{
    return (kvq__experiment){.dim = (int)o->dim, .keys = (size_t)o->keys,
                            .queries = (size_t)o->queries, .sharpness = o->sharpness,
                            .topk = (int)o->topk, .trials = (size_t)o->trials, .seed = o->seed,
                            .schemes = schemes, .nschemes = nschemes, .sources = sources,
                            .nsources = nsources, .layer = -1, .causal = o->causal > 0,
                            .progress = kvq_cli_progress};
}
