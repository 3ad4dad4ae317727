/* grid.h — sweep grid parsing. Each function returns −count on success or
 * a positive exit status after printing a one-line error. */
#ifndef KVQ_CLI_GRID_H
#define KVQ_CLI_GRID_H

#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

/* A preset budget: K and V bits (equal, or asymmetric as in "k4v2";
 * doc/schemes.md §2.1). */
typedef struct kvq_grid_budget {
    int k, v;
} kvq_grid_budget;

/* "2-6", "2,3,5", "1-3,6", "k4v2,k3v4,4" into distinct budgets. */
int kvq_grid_bits(const char *text, kvq_grid_budget *bits, int max);
/* One budget "4" or "k4v2" (the --bits of kvq run): 0, or 2 after the error. */
int kvq_grid_bits_one(const char *text, kvq_grid_budget *out);
/* "KV,KQV,QKQV" (each preset at every budget) or custom specs (once each,
 * "k=…,v=…" items may contain the comma). */
int kvq_grid_schemes(const char *text, const kvq_grid_budget *bits, int nbits, kvq_scheme *out,
                     int max);
/* The scheme named by text (a preset, then at budget b, or a custom spec):
 * 0, or 2 after printing the error under flag. */
int kvq_grid_scheme(const char *text, kvq_grid_budget b, const char *flag, kvq_scheme *out);
/* Every dist × rank combination. */
int kvq_grid_sources(const char *dists, const char *ranks, int dim, kvq_source *out, int max);

/* "all", "A,B", "A-B" (mixed freely) into the layers to run, ascending and
 * distinct, each one of the file's `avail` layers; flag names the option. */
int kvq_grid_layers(const char *text, const char *flag, const int *avail, size_t navail,
                    int *out, int max);

#endif
