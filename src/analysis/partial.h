/* partial.h — partial results of a sharded sweep (doc/scaling.md §2): one
 * shard's work items with their values bit-exact, written as a
 * self-describing JSON file, read back, checked against the other shards
 * and applied to the cells of the full grid. Private to the kvq program. */
#ifndef KVQ_PARTIAL_H
#define KVQ_PARTIAL_H

#include <stdio.h>

#include "analysis/analysis.h"

/* Values per work item: every metric, the QJL variance pair, seconds. */
#define KVQ_PARTIAL_VALUES (KVQ_METRIC_COUNT + 3)

typedef struct kvq__partial {
    char command[16];          /* "sweep" or "findings" */
    char **grid;               /* the options that define the grid, in order */
    size_t ngrid;
    unsigned long long seed;
    size_t shard, nshards;     /* shard I of N */
    size_t total, begin, end;  /* work items: all of the grid, and this shard's [begin, end) */
    char device[128];          /* the device the shard ran on */
    double *values;            /* (end - begin) × KVQ_PARTIAL_VALUES */
} kvq__partial;

/* Shard i of n of total items: the contiguous block [⌊total·i/n⌋, ⌊total·(i+1)/n⌋). */
void kvq__shard_range(size_t total, size_t i, size_t n, size_t *begin, size_t *end);
/* Fills p->values for items [p->begin, p->end) from the cells of r (which
 * start at cells[0] and follow e's order). p->values is allocated here. */
int kvq__partial_collect(kvq__partial *p, const kvq__experiment *e, const kvq__results *r);
/* Writes p as JSON (hex floats in strings, exact); stream status. */
int kvq__partial_write(FILE *f, const kvq__partial *p);
/* Parses the text of a partial file into p (zeroed first); on error a
 * one-line reason in err and KVQ_ERR_FORMAT. */
int kvq__partial_parse(const char *text, size_t len, kvq__partial *p, char *err, size_t errlen);
void kvq__partial_clear(kvq__partial *p);
/* Checks that n partials are the shards 0..N-1 of one grid, each once;
 * otherwise names the offending one (its index in *bad, or -1 when a shard
 * is missing) in err and returns KVQ_ERR_INVALID_ARG. */
int kvq__partials_check(const kvq__partial *p, size_t n, long *bad, char *err, size_t errlen);
/* Stores p's values into the cells of r (cells[0 …], e's order): metrics
 * and QJL pairs per trial, seconds added; a cell's device becomes the
 * shard's, or "mixed" when its items ran on devices of different names. */
int kvq__partial_apply(const kvq__partial *p, const kvq__experiment *e, kvq__results *r);

/* Runs e's work items [item_begin, item_end) (all when item_end is 0)
 * split into n contiguous blocks, block i on ctxs[i] in a thread of its own
 * (doc/scaling.md §4), and appends e's cells to r with every item's values;
 * a cell's device is its contexts' device name, or "mixed". */
int kvq__experiment_run_parallel(kvq_ctx *const *ctxs, size_t n, const kvq__experiment *e,
                                 kvq__results *r);

#endif
