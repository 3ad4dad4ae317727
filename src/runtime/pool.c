/* pool.c — a per-context cache of device buffers in size classes, so that
 * batches and trials reuse memory instead of allocating it every time. */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

size_t kvq__pool_size_class(size_t bytes)
{
    /* Classes 2^k, 1.25·2^k, 1.5·2^k, 1.75·2^k from 4 KiB up: at most 25 %
     * slack, few distinct sizes to match on reuse. */
    size_t base = 4096;
    if (bytes <= base)
        return base;
    while (base * 2 < bytes && base < ((size_t)1 << (sizeof(size_t) * 8 - 2)))
        base *= 2;
    for (size_t q = 4; q <= 8; q++) {
        size_t c = base / 4 * q;
        if (c >= bytes)
            return c;
    }
    return bytes;
}

/* Updates the high-water mark after the pool grew. */
static void note_high_water(kvq__pool *p)
{
    uint64_t now = p->stats.live_bytes + p->stats.cached_bytes;
    if (now > p->stats.high_water)
        p->stats.high_water = now;
}

/* Takes a cached buffer of exactly this class, if one is free. */
static int take_cached(kvq__pool *p, size_t cls, cl_mem *out)
{
    for (size_t i = 0; i < p->count; i++) {
        kvq__pool_entry *e = &p->entries[i];
        if (!e->in_use && e->bytes == cls) {
            e->in_use = 1;
            p->stats.cached_bytes -= cls;
            p->stats.live_bytes += cls;
            p->stats.reuses++;
            *out = e->mem;
            return 1;
        }
    }
    return 0;
}

/* Appends a new handed-out entry. */
static int add_entry(kvq__pool *p, cl_mem mem, size_t cls)
{
    if (p->count == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        kvq__pool_entry *g = realloc(p->entries, nc * sizeof *g);
        if (!g)
            return KVQ_ERR_NOMEM;
        p->entries = g;
        p->cap = nc;
    }
    p->entries[p->count++] = (kvq__pool_entry){mem, cls, 1};
    p->stats.live_bytes += cls;
    p->stats.allocations++;
    note_high_water(p);
    return KVQ_OK;
}

/* Creates a buffer, once more after freeing the cache if the first try fails. */
static cl_mem create_buffer(kvq_ctx *ctx, size_t cls, cl_int *st)
{
    cl_mem m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, cls, NULL, st);
    if (*st == CL_SUCCESS)
        return m;
    if (ctx->pool.stats.cached_bytes == 0)
        return NULL;
    ctx->pool.stats.retries++;
    kvq__pool_trim(ctx);
    return clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, cls, NULL, st);
}

int kvq__pool_acquire(kvq_ctx *ctx, size_t bytes, cl_mem *out)
{
    kvq__pool *p = &ctx->pool;
    size_t cls = kvq__pool_size_class(bytes ? bytes : 1);
    cl_int st;

    *out = NULL;
    if (ctx->is_host)
        return KVQ_ERR_INVALID_ARG;
    if (cls > ctx->info.max_alloc && bytes <= ctx->info.max_alloc)
        cls = bytes;
    if (bytes > ctx->info.max_alloc)
        return kvq__rt_fail(CL_INVALID_BUFFER_SIZE, "kvq__pool_acquire (above CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                           __FILE__, __LINE__);
    if (take_cached(p, cls, out))
        return KVQ_OK;
    if (p->stats.live_bytes + p->stats.cached_bytes + cls > p->stats.limit)
        kvq__pool_trim(ctx);
    if (p->stats.live_bytes + cls > p->stats.limit)
        return KVQ_ERR_POOL_LIMIT;
    cl_mem m = create_buffer(ctx, cls, &st);
    if (!m)
        return kvq__rt_fail(st, "clCreateBuffer", __FILE__, __LINE__);
    int rc = add_entry(p, m, cls);
    if (rc) {
        clReleaseMemObject(m);
        return rc;
    }
    *out = m;
    return KVQ_OK;
}

void kvq__pool_release(kvq_ctx *ctx, cl_mem mem)
{
    kvq__pool *p = &ctx->pool;
    if (!mem)
        return;
    for (size_t i = 0; i < p->count; i++) {
        kvq__pool_entry *e = &p->entries[i];
        if (e->mem == mem && e->in_use) {
            e->in_use = 0;
            p->stats.live_bytes -= e->bytes;
            p->stats.cached_bytes += e->bytes;
            return;
        }
    }
}

void kvq__pool_trim(kvq_ctx *ctx)
{
    kvq__pool *p = &ctx->pool;
    size_t w = 0;
    for (size_t i = 0; i < p->count; i++) {
        if (p->entries[i].in_use) {
            p->entries[w++] = p->entries[i];
            continue;
        }
        clReleaseMemObject(p->entries[i].mem);
        p->stats.cached_bytes -= p->entries[i].bytes;
        p->stats.frees++;
    }
    p->count = w;
}

void kvq__pool_destroy(kvq_ctx *ctx)
{
    kvq__pool *p = &ctx->pool;
    for (size_t i = 0; i < p->count; i++)
        clReleaseMemObject(p->entries[i].mem);
    free(p->entries);
    p->entries = NULL;
    p->count = p->cap = 0;
}

/* At most this much host memory waits in staged copies (a blocking write
 * then drains them). */
#define KVQ_STAGE_LIMIT ((size_t)8 << 20)

void *kvq__stage_copy(kvq_ctx *ctx, const void *src, size_t bytes)
{
    kvq__staging *s = &ctx->staging;
    if (s->bytes + bytes > KVQ_STAGE_LIMIT)
        return NULL;
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        void **grown = realloc(s->copies, cap * sizeof *grown);
        if (!grown)
            return NULL;
        s->copies = grown;
        s->cap = cap;
    }
    void *copy = malloc(bytes);
    if (!copy)
        return NULL;
    memcpy(copy, src, bytes);
    s->copies[s->count++] = copy;
    s->bytes += bytes;
    return copy;
}

void kvq__stage_done(kvq_ctx *ctx)
{
    kvq__staging *s = &ctx->staging;
    for (size_t i = 0; i < s->count; i++)
        free(s->copies[i]);
    s->count = s->bytes = 0;
}

/* Copies the buffer pool counters of a context. */
KVQ_API void kvq_ctx_pool_stats(const kvq_ctx *ctx, kvq_pool_stats *stats)
{
    *stats = ctx->pool.stats;
}
