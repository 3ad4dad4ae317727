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
    int trials_given;
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
/* Loads real K/V(/Q) if the options name files; 0 on success or when none
 * are named, else the exit status after printing the error. */
int kvq_cli_load_real(const kvq_cli_opts *o, kvq_kv *kv, const char **label);
/* Progress bar with ETA on stderr when it is a terminal. */
void kvq_cli_progress(void *arg, size_t done, size_t total);
/* The experiment the common options describe, on these schemes and sources
 * (or on real data, named label), with the progress bar. */
kvq__experiment kvq_cli_experiment(const kvq_cli_opts *o, const kvq_scheme *schemes,
                                  size_t nschemes, const kvq_source *sources, size_t nsources,
                                  const kvq_kv *real, const char *label);
/* Checks that every scheme's codecs can run at head dimension dim (the
 * block formats need d % 32 == 0); 0, or exit status 2 after naming flag
 * (--dim, or the data file that fixed d), the scheme and the rule. */
int kvq_cli_schemes_fit(const kvq_scheme *s, size_t n, long dim, const char *flag);
/* Prints a library failure as "kvq: <what>: <error> (<detail>)"; returns 1
 * (or 2 for input errors), plus the build log with --verbose. */
int kvq_cli_report_failure(kvq_ctx *ctx, const kvq_cli_opts *o, const char *what, int st);

#endif
