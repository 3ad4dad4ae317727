/* common.h — what the computing subcommands (run, sweep, findings, compare)
 * share: data options, device opening, progress, report output. */
#ifndef KVQ_CLI_COMMON_H
#define KVQ_CLI_COMMON_H

#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

/* Options of the data and experiment, with their defaults. */
typedef struct kvq_cli_opts {
    long dim, keys, queries, trials, topk;
    double sharpness;
    unsigned long long seed;
    const char *device;
    const char *kv_file, *keys_file, *values_file, *queries_file;
    const char *k_name, *v_name, *q_name;
    int json, verbose, quiet;
    int trials_given, sharpness_given;
    const char *layers;        /* --layer L or --layers LIST; NULL when not given */
    const char *layers_flag;   /* which of the two, for messages */
    int causal;                /* --causal 1, --no-causal 0; -1: as the file records, else 0 */
} kvq_cli_opts;

/* Fills the defaults (d 128, N 1024, M 64, T 32, τ 1, seed 1). */
void kvq_cli_opts_init(kvq_cli_opts *o);
/* Consumes argv[*i] if it is a common option; 1 if consumed, 0 if not
 * one, -1 after printing a usage error. */
int kvq_cli_opts_parse(kvq_cli_opts *o, int argc, char **argv, int *i);
/* The help text of the common options. */
extern const char kvq_cli_opts_help[];

/* Opens the context of --device (or $KVQ_DEVICE / the default); prints
 * the error (exit status in *rc) on failure. */
kvq_ctx *kvq_cli_open_device(const kvq_cli_opts *o, int *rc);
#define KVQ_CLI_MAX_LAYERS 1024

/* The real input the options name, and its layers. */
typedef struct kvq_cli_real {
    const char *label;       /* the file's base name; NULL: synthetic data */
    const char *st_path;     /* the .safetensors file (metadata, layers), else NULL */
    int layers[KVQ_CLI_MAX_LAYERS];   /* -1: a file without layers (k, v, q) */
    size_t nlayers;
} kvq_cli_real;

/* Resolves the real input (doc/statistics.md §1.6): the file, and the layers
 * to run — --layer/--layers, else for a file with only tools/export_kv.py
 * layers every layer when `many` (sweep, findings) or an error listing them
 * (run). 0 (nlayers 0 for synthetic data) or the exit status after printing
 * the error. */
int kvq_cli_real_open(const kvq_cli_opts *o, int many, kvq_cli_real *r);
/* Loads one layer of it into kv and points the experiment at it: real data,
 * label, layer, dim, trials (the heads; --trials above the heads is an
 * error), and the sharpness and causal flag the file records unless
 * --sharpness/--causal/--no-causal override them. 0 or an exit status. */
int kvq_cli_real_load(const kvq_cli_opts *o, const kvq_cli_real *r, int layer, kvq_kv *kv,
                      kvq__experiment *e);
/* "FILE layer L" or "FILE" for messages (buf of len bytes). */
const char *kvq_cli_real_name(const kvq_cli_real *r, int layer, char *buf, size_t len);
/* The causal mask needs every query to see a key: M ≤ N (the experiment's
 * synthetic sizes, or its real queries and keys). 0, or the exit status after
 * printing the error (naming label for real data). */
int kvq_cli_check_causal(const kvq__experiment *e, const char *label);
/* Progress bar with ETA on stderr when it is a terminal. */
void kvq_cli_progress(void *arg, size_t done, size_t total);
/* The experiment the common options describe, on these schemes and
 * sources (synthetic; kvq_cli_real_load turns it to real data), with the
 * progress bar. */
kvq__experiment kvq_cli_experiment(const kvq_cli_opts *o, const kvq_scheme *schemes,
                                  size_t nschemes, const kvq_source *sources, size_t nsources);
/* Checks that every scheme's codecs can run at head dimension dim (the
 * block formats need d % 32 == 0); 0, or exit status 2 after naming flag
 * (--dim, or the data file that fixed d), the scheme and the rule. */
int kvq_cli_schemes_fit(const kvq_scheme *s, size_t n, long dim, const char *flag);
/* Prints a library failure as "kvq: <what>: <error> (<detail>)"; returns 1
 * (or 2 for input errors), plus the build log with --verbose. */
int kvq_cli_report_failure(kvq_ctx *ctx, const kvq_cli_opts *o, const char *what, int st);

#endif
