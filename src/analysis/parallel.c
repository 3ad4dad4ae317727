/* parallel.c — one experiment over several contexts at once
 * (doc/scaling.md §4): each context runs a block of the work items in its
 * own thread into a table of its own, and the blocks are put in place
 * through the same partial results a sharded run writes to disk. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "analysis/partial.h"

/* The caller's progress callback, fed by every block's thread in turn
 * with the items done by all of them. */
typedef struct shared_progress {
    pthread_mutex_t lock;
    size_t done, total;
    void (*fn)(void *arg, size_t done, size_t total);
    void *arg;
} shared_progress;

/* One thread's block. */
typedef struct block {
    kvq_ctx *ctx;
    kvq__experiment e;       /* the experiment narrowed to this block */
    kvq__partial p;          /* its values */
    int st;
} block;

/* A block's progress callback: one more item done somewhere. */
static void block_progress(void *arg, size_t done, size_t total)
{
    shared_progress *sp = arg;
    (void)done;
    (void)total;
    pthread_mutex_lock(&sp->lock);
    sp->fn(sp->arg, ++sp->done, sp->total);
    pthread_mutex_unlock(&sp->lock);
}

/* Thread body: runs the block, keeps its values, frees its table. */
static void *run_block(void *arg)
{
    block *b = arg;
    kvq__results *r = NULL;
    b->st = kvq__results_create(&r, b->e.seed);
    if (!b->st)
        b->st = kvq__experiment_run(b->ctx, &b->e, r);
    if (!b->st)
        b->st = kvq__partial_collect(&b->p, &b->e, r);
    kvq__results_free(r);
    return NULL;
}

static void blocks_free(block *b, size_t n)
{
    for (size_t i = 0; b && i < n; i++)
        free(b[i].p.values);
    free(b);
}

int kvq__experiment_run_parallel(kvq_ctx *const *ctxs, size_t n, const kvq__experiment *e,
                                 kvq__results *r)
{
    if (!ctxs || !n || !e || !r || r->count)
        return KVQ_ERR_INVALID_ARG;
    size_t total = kvq__experiment_items(e);
    size_t begin = e->item_end ? e->item_begin : 0;
    size_t end = e->item_end && e->item_end < total ? e->item_end : total;
    block *b = calloc(n, sizeof *b);
    pthread_t *th = calloc(n, sizeof *th);
    unsigned char *running = calloc(n, 1);
    shared_progress sp = {.total = end > begin ? end - begin : 0, .fn = e->progress,
                          .arg = e->progress_arg};
    pthread_mutex_init(&sp.lock, NULL);
    int st = b && th && running ? KVQ_OK : KVQ_ERR_NOMEM;
    for (size_t i = 0; i < n && !st; i++) {
        size_t lo, hi;
        kvq__shard_range(end > begin ? end - begin : 0, i, n, &lo, &hi);
        b[i] = (block){.ctx = ctxs[i], .e = *e};
        b[i].e.progress = e->progress ? block_progress : NULL;
        b[i].e.progress_arg = &sp;
        b[i].e.item_begin = b[i].p.begin = begin + lo;
        b[i].e.item_end = b[i].p.end = begin + hi;
        b[i].p.total = total;
        snprintf(b[i].p.device, sizeof b[i].p.device, "%s", kvq_ctx_device(ctxs[i])->name);
        if (hi == lo)             /* an empty block: item_end 0 would mean every item */
            continue;
        if (pthread_create(&th[i], NULL, run_block, &b[i]))
            st = KVQ_ERR_NOMEM;
        else
            running[i] = 1;
    }
    for (size_t i = 0; i < n && running; i++)
        if (running[i]) {
            pthread_join(th[i], NULL);
            if (!st)
                st = b[i].st;
        }
    if (!st)
        st = kvq__experiment_cells(e, NULL, r);
    for (size_t i = 0; i < n && !st; i++)
        if (running[i])
            st = kvq__partial_apply(&b[i].p, e, r);
    blocks_free(b, n);
    free(th);
    free(running);
    pthread_mutex_destroy(&sp.lock);
    return st;
}
