/* sweep.h — what `kvq merge` shares with sweep/findings (doc/scaling.md §2). */
#ifndef KVQ_CLI_SWEEP_H
#define KVQ_CLI_SWEEP_H

#include "analysis/partial.h"

/* Rebuilds the grid the checked partials p[0..n) describe, fills it with
 * their values and writes the reports of one run (--out DIR, --json, text);
 * exit status. */
int kvq_sweep_merge(const kvq__partial *p, size_t n, const char *out_dir, int json, int quiet);

/* Opens the contexts of `--devices all|SPEC,SPEC,…` ("all": every OpenCL
 * device; a spec may repeat); NULL after printing the error (status in *rc). */
kvq_ctx **kvq_cli_open_devices(const char *list, size_t *n, int *rc);
void kvq_cli_close_devices(kvq_ctx **ctxs, size_t n);

#endif
