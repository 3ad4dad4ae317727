/* grid.h — sweep grid parsing. Each function returns −count on success or
 * a positive exit status after printing a one-line error. */
#ifndef KVQ_CLI_GRID_H
#define KVQ_CLI_GRID_H

#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

/* "2-6", "2,3,5", "1-3,6" into distinct budgets. */
int kvq_grid_bits(const char *text, int *bits, int max);
/* "KV,KQV,QKQV" (each preset at every budget) or custom specs (once each,
 * "k=…,v=…" items may contain the comma). */
int kvq_grid_schemes(const char *text, const int *bits, int nbits, kvq_scheme *out, int max);
/* Every dist × rank combination. */
int kvq_grid_sources(const char *dists, const char *ranks, int dim, kvq_source *out, int max);

/* "all", "A,B", "A-B" (mixed freely) into the layers to run, ascending and
 * distinct, each one of the file's `avail` layers; flag names the option. */
int kvq_grid_layers(const char *text, const char *flag, const int *avail, size_t navail,
                    int *out, int max);

#endif
