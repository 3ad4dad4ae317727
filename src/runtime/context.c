/* context.c — contexts on a chosen device with their options and backend,
 * the OpenCL context and queue, and the per-context cache of built programs
 * and kernels with their build logs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "devices.h"
#include "kernels.h"
#include "device/backend.h"
#include "device/stream.h"

int kvq__rt_device_ids(int p, int d, cl_platform_id *plat, cl_device_id *dev);

static kvq__programs *programs_new(void)
{
    kvq__programs *p = calloc(1, sizeof *p);
    if (p && pthread_mutex_init(&p->lock, NULL)) {
        free(p);
        return NULL;
    }
    if (p)
        p->refs = 1;
    return p;
}

static void programs_release(kvq__programs *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    int last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (!last)
        return;
    for (size_t i = 0; i < p->count; i++) {
        clReleaseProgram(p->entries[i].program);
        free(p->entries[i].key);
    }
    free(p->entries);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static int open_queue(kvq_ctx *ctx)
{
    cl_int st;
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, CL_QUEUE_PROFILING_ENABLE, &st);
    return st == CL_SUCCESS ? KVQ_OK : kvq__rt_fail(st, "clCreateCommandQueue", __FILE__, __LINE__);
}

int kvq__rt_open(kvq_ctx *ctx)
{
    cl_int st;
    int rc = kvq__rt_device_ids(ctx->info.platform_index, ctx->info.device_index,
                               &ctx->platform, &ctx->device);
    if (rc)
        return rc;
    if (!(ctx->programs = programs_new()))
        return KVQ_ERR_NOMEM;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &st);
    if (st != CL_SUCCESS)
        return kvq__rt_fail(st, "clCreateContext", __FILE__, __LINE__);
    return open_queue(ctx);
}

int kvq__rt_open_sibling(kvq_ctx *ctx, const kvq_ctx *parent)
{
    cl_int st = clRetainContext(parent->context);
    if (st != CL_SUCCESS)
        return kvq__rt_fail(st, "clRetainContext", __FILE__, __LINE__);
    ctx->platform = parent->platform;
    ctx->device = parent->device;
    ctx->context = parent->context;
    ctx->programs = parent->programs;
    pthread_mutex_lock(&ctx->programs->lock);
    ctx->programs->refs++;
    pthread_mutex_unlock(&ctx->programs->lock);
    return open_queue(ctx);
}

/* Opens a context on the device the spec names (NULL: $KVQ_DEVICE, else
 * the default) with the backend that runs it; options are read here, once. */
KVQ_API int kvq_ctx_create(kvq_ctx **out, const char *spec)
{
    kvq_device_info *list = NULL;
    size_t n = 0, idx = 0;
    int st;
    kvq_ctx *ctx = calloc(1, sizeof *ctx);

    *out = NULL;
    if (!ctx)
        return KVQ_ERR_NOMEM;
    /* a malformed KVQ_* variable leaves a detail naming it; a malformed spec none */
    kvq__rt_explain(KVQ_OK, "");
    KVQ_TRY(st, kvq__options_read(&ctx->opts));
    if (!spec)
        spec = ctx->opts.device;
    KVQ_TRY(st, kvq__device_list(&list, &n));
    KVQ_TRY(st, kvq__device_resolve(list, n, spec, &idx));
    ctx->info = list[idx];
    ctx->is_host = ctx->info.type == KVQ_DEVICE_HOST;
    kvq__caps_init(&ctx->caps, &ctx->info, &ctx->opts);
    ctx->pool.stats.limit = ctx->opts.pool_limit ? ctx->opts.pool_limit : ctx->info.global_mem;
    ctx->backend = kvq__backend_for(ctx->info.type);
    KVQ_TRY(st, ctx->backend->open(ctx));
    if (!ctx->is_host)
        kvq__rt_clblast_tuning(ctx);
    *out = ctx;
    ctx = NULL;
cleanup:
    kvq__device_list_free(list);
    kvq_ctx_destroy(ctx);
    return st;
}

void kvq__rt_close(kvq_ctx *ctx)
{
    if (ctx->queue)
        clFinish(ctx->queue);     /* staged writes read their copies until they run */
    kvq__stage_done(ctx);
    free(ctx->staging.copies);
    ctx->staging.copies = NULL;
    ctx->staging.cap = 0;
    for (size_t i = 0; i < ctx->nkernels; i++) {
        clReleaseKernel(ctx->kernels[i].kernel);
        free(ctx->kernels[i].key);
    }
    programs_release(ctx->programs);
    kvq__pool_destroy(ctx);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->context)
        clReleaseContext(ctx->context);
    free(ctx->kernels);
    ctx->kernels = NULL;
    ctx->programs = NULL;
    ctx->nkernels = 0;
    ctx->queue = NULL;
    ctx->context = NULL;
}

int kvq__ctx_sibling(kvq_ctx *parent, kvq_ctx **out)
{
    int st;
    kvq_ctx *ctx;
    *out = NULL;
    if (parent->is_host)
        return kvq_ctx_create(out, "host");
    if (!(ctx = calloc(1, sizeof *ctx)))
        return KVQ_ERR_NOMEM;
    KVQ_TRY(st, kvq__options_read(&ctx->opts));
    ctx->info = parent->info;
    ctx->caps = parent->caps;
    ctx->backend = parent->backend;
    ctx->pool.stats.limit = parent->pool.stats.limit;
    ctx->clblast_tuned = parent->clblast_tuned;   /* CLBlast's parameters are per device */
    KVQ_TRY(st, kvq__rt_open_sibling(ctx, parent));
    *out = ctx;
    ctx = NULL;
cleanup:
    kvq_ctx_destroy(ctx);
    return st;
}

/* Releases a context and what its backend holds. */
KVQ_API void kvq_ctx_destroy(kvq_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->backend)
        ctx->backend->close(ctx);
    kvq__options_free(&ctx->opts);
    free(ctx->build_log);
    free(ctx);
}

const kvq__backend *kvq__ctx_backend(const kvq_ctx *ctx)
{
    return ctx->backend;
}

size_t kvq__ctx_chunk_keys(const kvq_ctx *ctx)
{
    return ctx->opts.chunk_keys;
}

/* The device a context runs on. */
KVQ_API const kvq_device_info *kvq_ctx_device(const kvq_ctx *ctx)
{
    return &ctx->info;
}

/* 1 if the context is the host reference (no OpenCL objects). */
KVQ_API int kvq_ctx_is_host(const kvq_ctx *ctx)
{
    return ctx->is_host;
}

KVQ_API const char *kvq_ctx_build_log(const kvq_ctx *ctx)
{
    return ctx->build_log ? ctx->build_log : "";
}

const char *kvq__rt_source(const char *name)
{
    for (const kvq__cl_source *s = kvq__cl_sources; s->name; s++)
        if (!strcmp(s->name, name))
            return s->text;
    return NULL;
}

static void keep_build_log(kvq_ctx *ctx, cl_program prog)
{
    size_t len = 0;
    free(ctx->build_log);
    ctx->build_log = NULL;
    if (clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) != CL_SUCCESS)
        len = 0;
    size_t head = strlen(ctx->info.name) + 16;
    ctx->build_log = malloc(len + head + 1);
    if (!ctx->build_log)
        return;
    int w = snprintf(ctx->build_log, head, "[%s]\n", ctx->info.name);
    if (w < 0 || (size_t)w >= head)
        w = 0;
    if (len == 0 || clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, len,
                                          ctx->build_log + w, NULL) != CL_SUCCESS)
        strcpy(ctx->build_log + w, "(no build log)");
    else
        ctx->build_log[w + len] = '\0';
}

/* Compiles source with kvq's fixed flags, the caller's options and
 * $KVQ_CL_BUILD_OPTIONS; on failure keeps the log and returns KVQ_ERR_BUILD. */
static int build_source(kvq_ctx *ctx, const char *source, const char *options, cl_program *out)
{
    const char *extra = ctx->opts.build_options;
    size_t len = strlen(options ? options : "") + strlen(extra ? extra : "") + 64;
    char *opts = malloc(len);
    cl_int st;
    cl_program prog = NULL;
    int rc;

    *out = NULL;
    if (!opts)
        return KVQ_ERR_NOMEM;
    snprintf(opts, len, "-cl-std=CL1.2 %s %s", options ? options : "", extra ? extra : "");
    prog = clCreateProgramWithSource(ctx->context, 1, &source, NULL, &st);
    if (st != CL_SUCCESS) {
        rc = kvq__rt_fail(st, "clCreateProgramWithSource", __FILE__, __LINE__);
        goto cleanup;
    }
    st = clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL);
    if (st != CL_SUCCESS) {
        keep_build_log(ctx, prog);
        kvq__rt_fail(st, "clBuildProgram", __FILE__, __LINE__);
        rc = (st == CL_BUILD_PROGRAM_FAILURE || st == CL_INVALID_BUILD_OPTIONS) ? KVQ_ERR_BUILD : st;
        goto cleanup;
    }
    *out = prog;
    prog = NULL;
    rc = KVQ_OK;
cleanup:
    if (prog)
        clReleaseProgram(prog);
    free(opts);
    return rc;
}

/* Builds OpenCL C source to check that it compiles; keeps the log on failure. */
int kvq__ctx_try_build(kvq_ctx *ctx, const char *source, const char *options)
{
    return ctx->backend->try_build(ctx, source, options);
}

int kvq__rt_try_build(kvq_ctx *ctx, const char *source, const char *options)
{
    cl_program prog;
    int st = build_source(ctx, source, options, &prog);
    if (st == KVQ_OK)
        clReleaseProgram(prog);
    return st;
}

/* Joins a and b with a separator into a malloc'd key. */
static char *make_key(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s|%s", a, b);
    return k;
}

/* The sources named in "a+b+c", concatenated into one malloc'd text. */
static char *joined_source(const char *names)
{
    size_t total = 1;
    char name[64];
    char *text = NULL;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = names;
        while (*p) {
            size_t n = strcspn(p, "+");
            if (n == 0 || n >= sizeof name)
                goto bad;
            memcpy(name, p, n);
            name[n] = '\0';
            const char *src = kvq__rt_source(name);
            if (!src)
                goto bad;
            if (pass == 0)
                total += strlen(src) + 1;
            else
                strcat(strcat(text, src), "\n");
            p += n + (p[n] == '+');
        }
        if (pass == 0 && !(text = calloc(1, total)))
            return NULL;
    }
    return text;
bad:
    free(text);
    return NULL;
}

/* The program of key in p, built from the named sources on a miss; the
 * caller holds p's lock, so a sibling that wants it meanwhile waits for
 * this build instead of making its own. */
static int program_locked(kvq_ctx *ctx, kvq__programs *p, char *key, const char *name,
                          const char *options, cl_program *out)
{
    char *src = NULL;
    int st = KVQ_ERR_NOMEM;
    for (size_t i = 0; i < p->count; i++)
        if (!strcmp(p->entries[i].key, key)) {
            *out = p->entries[i].program;
            free(key);
            return KVQ_OK;
        }
    kvq__program_entry *g = realloc(p->entries, (p->count + 1) * sizeof *g);
    if (!g)
        goto cleanup;
    p->entries = g;
    src = joined_source(name);
    if (!src) {
        st = KVQ_ERR_INVALID_ARG;
        goto cleanup;
    }
    KVQ_TRY(st, build_source(ctx, src, options, out));
    g[p->count].key = key;
    g[p->count].program = *out;
    p->count++;
    key = NULL;
cleanup:
    free(key);
    free(src);
    return st;
}

int kvq__rt_program(kvq_ctx *ctx, const char *name, const char *options, cl_program *out)
{
    if (ctx->is_host)
        return KVQ_ERR_INVALID_ARG;
    char *key = make_key(name, options ? options : "");
    if (!key)
        return KVQ_ERR_NOMEM;
    pthread_mutex_lock(&ctx->programs->lock);
    int st = program_locked(ctx, ctx->programs, key, name, options, out);
    pthread_mutex_unlock(&ctx->programs->lock);
    return st;
}

int kvq__rt_kernel(kvq_ctx *ctx, const char *name, const char *options, const char *kernel,
                  cl_kernel *out)
{
    cl_program prog;
    cl_int cst;
    char *pkey = make_key(name, options ? options : ""), *key = NULL;
    int st = KVQ_ERR_NOMEM;

    if (!pkey)
        return st;
    key = make_key(pkey, kernel);
    free(pkey);
    if (!key)
        return st;
    for (size_t i = 0; i < ctx->nkernels; i++)
        if (!strcmp(ctx->kernels[i].key, key)) {
            *out = ctx->kernels[i].kernel;
            free(key);
            return KVQ_OK;
        }
    KVQ_TRY(st, kvq__rt_program(ctx, name, options, &prog));
    kvq__kernel_entry *g = realloc(ctx->kernels, (ctx->nkernels + 1) * sizeof *g);
    if (!g) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    ctx->kernels = g;
    *out = clCreateKernel(prog, kernel, &cst);
    if (cst != CL_SUCCESS) {
        st = kvq__rt_fail(cst, "clCreateKernel", __FILE__, __LINE__);
        goto cleanup;
    }
    g[ctx->nkernels].key = key;
    g[ctx->nkernels].kernel = *out;
    ctx->nkernels++;
    return KVQ_OK;
cleanup:
    free(key);
    return st;
}

size_t kvq__rt_wg_size(kvq_ctx *ctx, cl_kernel k, size_t want)
{
    size_t kmax = 0;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                                 NULL) != CL_SUCCESS || kmax == 0)
        kmax = 1;
    if (ctx->caps.max_work_group && kmax > ctx->caps.max_work_group)
        kmax = ctx->caps.max_work_group;
    size_t w = 1;
    while (w * 2 <= want && w * 2 <= kmax)
        w *= 2;
    return w;
}

int kvq__parse_bytes(const char *text, uint64_t *out)
{
    char *end;
    if (!text || !*text || *text == '-')
        return -1;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || (shift && v > (~0ULL >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}
