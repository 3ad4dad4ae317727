/* codec_cache.c — the device codecs a context made recently, kept by what
 * their codec was made from (kvq__codec_key). A trial's schemes ask for the
 * same few again and again: every codec once to quantize and once to
 * attend, and QKQV's V codec is KQV's at the same budget. Each upload wrote
 * the same floats (the rotation signs, codebook, S, and S·Rᵀ made by a
 * kernel), so a key seen before hands out the buffers it filled
 * (doc/kernels.md §6). Entries that no upload holds are evicted oldest
 * first, within a count and a byte bound. */
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "core/stage.h"

#define CACHE_ENTRIES 16
#define CACHE_BYTES ((size_t)32 << 20)

typedef struct entry {
    int live;
    kvq__codec_key key;
    kvq__dev_codec d;           /* the buffers, owned here (cache_slot 0) */
    size_t bytes;
    int refs;                   /* handed out and not yet released */
    unsigned long used;         /* when last handed out */
} entry;

/* Entries stay in their slot for life: a handed-out codec names it. */
struct kvq__dev_codec_cache {
    entry e[CACHE_ENTRIES];
    size_t bytes;
    unsigned long clock;
};

/* The bytes that count against the bound: S, S·Rᵀ and a dense R. */
static size_t codec_bytes(const kvq__dev_codec *d)
{
    size_t dim = (size_t)d->dim;
    return 4 * (2 * (size_t)d->m * dim + (d->matrix ? dim * dim : 0));
}

static void evict(kvq_ctx *ctx, struct kvq__dev_codec_cache *c, entry *e)
{
    c->bytes -= e->bytes;
    kvq__dev_codec_release(ctx, &e->d);
    memset(e, 0, sizeof *e);
}

/* A free slot once entries nothing holds are evicted, oldest first, until
 * `bytes` more fit; NULL when they cannot. */
static entry *make_room(kvq_ctx *ctx, struct kvq__dev_codec_cache *c, size_t bytes)
{
    for (;;) {
        entry *free_slot = NULL, *old = NULL;
        for (int i = 0; i < CACHE_ENTRIES; i++) {
            entry *e = &c->e[i];
            if (!e->live)
                free_slot = free_slot ? free_slot : e;
            else if (!e->refs && (!old || e->used < old->used))
                old = e;
        }
        if (free_slot && c->bytes + bytes <= CACHE_BYTES)
            return free_slot;
        if (!old)
            return NULL;
        evict(ctx, c, old);
    }
}

/* Keeps d (made by kvq__dev_codec_make from key) in the context's cache,
 * handed out once more; when the cache cannot take it d keeps its buffers. */
static void cache_put(kvq_ctx *ctx, const kvq__codec_key *key, kvq__dev_codec *d)
{
    size_t bytes = codec_bytes(d);
    if (bytes > CACHE_BYTES || (!ctx->codecs && !(ctx->codecs = calloc(1, sizeof *ctx->codecs))))
        return;
    struct kvq__dev_codec_cache *c = ctx->codecs;
    entry *e = make_room(ctx, c, bytes);
    if (!e)
        return;
    *e = (entry){.live = 1, .key = *key, .d = *d, .bytes = bytes, .refs = 1, .used = ++c->clock};
    c->bytes += bytes;
    d->cache_slot = (int)(e - c->e) + 1;
}

void kvq__dev_codec_cache_drop(kvq_ctx *ctx, kvq__dev_codec *d)
{
    ctx->codecs->e[d->cache_slot - 1].refs--;
    memset(d, 0, sizeof *d);
}

void kvq__dev_codec_cache_free(kvq_ctx *ctx)
{
    struct kvq__dev_codec_cache *c = ctx->codecs;
    for (int i = 0; c && i < CACHE_ENTRIES; i++)
        if (c->e[i].live)
            evict(ctx, c, &c->e[i]);
    free(c);
    ctx->codecs = NULL;
}

int kvq__dev_codec_upload(kvq_ctx *ctx, const kvq_codec *codec, kvq__dev_codec *d)
{
    struct kvq__dev_codec_cache *c = ctx->codecs;
    const kvq__codec_key *key = kvq__codec_key_get(codec);
    if (kvq__codec_kparams_get(codec)->out_channels)   /* its parts are cached */
        return kvq__dev_codec_make(ctx, codec, d);
    for (int i = 0; c && i < CACHE_ENTRIES; i++) {
        entry *e = &c->e[i];
        if (e->live && kvq__codec_key_eq(&e->key, key)) {
            *d = e->d;
            d->cache_slot = i + 1;
            e->refs++;
            e->used = ++c->clock;
            return KVQ_OK;
        }
    }
    int st = kvq__dev_codec_make(ctx, codec, d);
    if (!st)
        cache_put(ctx, key, d);
    return st;
}
