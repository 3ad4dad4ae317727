/* test_runtime.c — the OpenCL runtime on a real device: context, program
 * build and cache, sibling contexts sharing programs, build failures with
 * logs, build options, buffer pool. */
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "runtime/devices.h"
#include "tap.h"

static const char broken_src[] =
    "__kernel void broken(__global float *x) { x[0] = undefined_symbol_kvq; }\n";
static const char option_src[] =
    "#if KVQ_TEST_VALUE != 7\n#error KVQ_CL_BUILD_OPTIONS not applied\n#endif\n"
    "__kernel void k(__global float *x) { x[0] = KVQ_TEST_VALUE; }\n";

/* Runs the embedded float4 copy kernel through the program cache. */
static int check_copy(kvq_ctx *ctx)
{
    enum { N = 1000 };
    float in[4 * N], out[4 * N];
    cl_kernel k = NULL, k2 = NULL;
    cl_mem a = NULL, b = NULL;
    cl_uint n = N;
    size_t g = 256;
    int st, good = 0;

    for (int i = 0; i < 4 * N; i++)
        in[i] = (float)i * 0.5f - 3.0f;
    KVQ_TRY(st, kvq__rt_kernel(ctx, "copy", "", "kvq_copy4", &k));
    KVQ_TRY(st, kvq__rt_kernel(ctx, "copy", "", "kvq_copy4", &k2));
    ok(k == k2, "kernel cache returns the same kernel object");
    KVQ_TRY(st, kvq__pool_acquire(ctx, sizeof in, &a));
    KVQ_TRY(st, kvq__pool_acquire(ctx, sizeof out, &b));
    KVQ_CL_TRY(st, clEnqueueWriteBuffer(ctx->queue, a, CL_TRUE, 0, sizeof in, in, 0, NULL, NULL));
    KVQ_CL_TRY(st, clSetKernelArg(k, 0, sizeof a, &a));
    KVQ_CL_TRY(st, clSetKernelArg(k, 1, sizeof b, &b));
    KVQ_CL_TRY(st, clSetKernelArg(k, 2, sizeof n, &n));
    KVQ_CL_TRY(st, clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &g, NULL, 0, NULL, NULL));
    KVQ_CL_TRY(st, clEnqueueReadBuffer(ctx->queue, b, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL));
    good = !memcmp(in, out, sizeof in);
cleanup:
    if (st)
        diag("copy failed: %s (%s)", kvq_strerror(st), kvq_error_detail());
    kvq__pool_release(ctx, a);
    kvq__pool_release(ctx, b);
    return good;
}

/* A sibling of ctx (a stream's context): the same OpenCL context and built
 * program, its own queue and kernel objects. Returns it, or NULL. */
static kvq_ctx *check_sibling(kvq_ctx *ctx)
{
    kvq_ctx *sib = NULL;
    cl_program p1 = NULL, p2 = NULL;
    cl_kernel k1 = NULL, k2 = NULL;
    int st = kvq__ctx_sibling(ctx, &sib);
    ok(st == KVQ_OK && sib->context == ctx->context && sib->queue && sib->queue != ctx->queue,
       "sibling: the parent's OpenCL context, a queue of its own");
    st = st || kvq__rt_program(ctx, "copy", "-DKVQ_SIBLING", &p1) ||
         kvq__rt_program(sib, "copy", "-DKVQ_SIBLING", &p2);
    ok(!st && p1 && p1 == p2, "sibling: a program the parent built is not built again");
    st = st || kvq__rt_kernel(ctx, "copy", "", "kvq_copy4", &k1) ||
         kvq__rt_kernel(sib, "copy", "", "kvq_copy4", &k2);
    ok(!st && k1 && k2 && k1 != k2, "sibling: kernel objects of its own (arguments per thread)");
    return sib;
}

/* Acquire/release cycles: second round must be served from the cache. */
static void check_pool_reuse(kvq_ctx *ctx)
{
    static const size_t sizes[] = {1000, 70000, 3u << 20};
    cl_mem m[3];
    kvq_pool_stats s0, s1, s2, s3;
    kvq_ctx_pool_stats(ctx, &s0);
    int st = 0;
    for (int i = 0; i < 3; i++)
        st |= kvq__pool_acquire(ctx, sizes[i], &m[i]);
    kvq_ctx_pool_stats(ctx, &s1);
    for (int i = 0; i < 3; i++)
        kvq__pool_release(ctx, m[i]);
    for (int i = 0; i < 3; i++)
        st |= kvq__pool_acquire(ctx, sizes[i] - 7, &m[i]);
    kvq_ctx_pool_stats(ctx, &s2);
    for (int i = 0; i < 3; i++)
        kvq__pool_release(ctx, m[i]);
    kvq_ctx_pool_stats(ctx, &s3);
    ok(st == 0 && s1.allocations - s0.allocations == 3, "three new sizes: three allocations");
    ok(s2.allocations == s1.allocations && s2.reuses - s1.reuses == 3,
       "same size classes again: three reuses, no allocation (reuses %llu)",
       (unsigned long long)(s2.reuses - s1.reuses));
    ok(s2.high_water >= 4096 + kvq__pool_size_class(70000) + kvq__pool_size_class(3u << 20),
       "high-water counts live bytes (%llu)", (unsigned long long)s2.high_water);
    ok(s2.live_bytes > 0 && s3.live_bytes == 0 && s3.cached_bytes == s2.cached_bytes + s2.live_bytes,
       "released buffers move from live to cached");
}

/* A context on the default device created while variable name is value
 * (the variable is gone again afterwards: contexts read options once). */
static int ctx_with_env(const char *name, const char *value, kvq_ctx **ctx)
{
    setenv(name, value, 1);
    int st = kvq_ctx_create(ctx, kvq_device_spec_default());
    unsetenv(name);
    return st;
}

/* KVQ_POOL_LIMIT: over the limit fails cleanly; cache is flushed to fit. */
static void check_pool_limit(void)
{
    kvq_ctx *ctx = NULL;
    cl_mem a = NULL, b = NULL, c = NULL;
    kvq_pool_stats s;
    int st = ctx_with_env("KVQ_POOL_LIMIT", "1M", &ctx);
    if (!ok(st == 0, "context with KVQ_POOL_LIMIT=1M")) {
        skip(4, "no context");
        return;
    }
    kvq_ctx_pool_stats(ctx, &s);
    ok(s.limit == 1048576, "limit read from the environment (%llu)", (unsigned long long)s.limit);
    st = kvq__pool_acquire(ctx, 600000, &a);
    int st2 = kvq__pool_acquire(ctx, 600000, &b);
    ok(st == 0 && st2 == KVQ_ERR_POOL_LIMIT, "second 600 kB buffer exceeds 1 MiB: KVQ_ERR_POOL_LIMIT");
    kvq__pool_release(ctx, a);
    st = kvq__pool_acquire(ctx, 900000, &c);
    kvq_ctx_pool_stats(ctx, &s);
    ok(st == 0 && s.frees == 1, "cache flushed to make room (frees %llu)", (unsigned long long)s.frees);
    kvq__pool_release(ctx, c);
    ok(kvq__pool_acquire(ctx, (size_t)ctx->info.max_alloc + 1, &a) == CL_INVALID_BUFFER_SIZE,
       "request above CL_DEVICE_MAX_MEM_ALLOC_SIZE is refused");
    kvq_ctx_destroy(ctx);
}

/* KVQ_CL_BUILD_OPTIONS is read when a context is created, not at each build. */
static void check_build_options(void)
{
    kvq_ctx *ctx = NULL;
    if (!ok(ctx_with_env("KVQ_CL_BUILD_OPTIONS", "-DKVQ_TEST_VALUE=7", &ctx) == 0, "context with KVQ_CL_BUILD_OPTIONS")) {
        skip(1, "no context");
        return;
    }
    ok(kvq__ctx_try_build(ctx, option_src, NULL) == KVQ_OK,
       "KVQ_CL_BUILD_OPTIONS applies to the context's builds after the variable is gone");
    kvq_ctx_destroy(ctx);
}

/* KVQ_DEVICE_LIMITS caps what the launchers see and forces the work-group
 * kernels; malformed values are refused, naming the variable. */
static void check_device_limits(void)
{
    kvq_ctx *ctx = NULL;
    cl_kernel k = NULL;
    int st = ctx_with_env("KVQ_DEVICE_LIMITS", "wg=64,local=8K", &ctx);
    if (!ok(st == 0, "context with KVQ_DEVICE_LIMITS=wg=64,local=8K")) {
        skip(3, "no context");
        return;
    }
    ok(ctx->caps.max_work_group <= 64 && ctx->caps.local_mem <= 8192 && !ctx->caps.vector_kernels,
       "capabilities capped (wg %zu, local %llu), vector kernels off", ctx->caps.max_work_group,
       (unsigned long long)ctx->caps.local_mem);
    st = kvq__rt_kernel(ctx, "copy", "", "kvq_copy4", &k);
    ok(st == 0 && kvq__rt_wg_size(ctx, k, 1024) <= 64, "work-group sizes respect the cap");
    kvq_ctx_destroy(ctx);
    ctx = NULL;
    st = ctx_with_env("KVQ_DEVICE_LIMITS", "wg=lots", &ctx);
    ok(st == KVQ_ERR_BAD_SPEC && ctx == NULL && strstr(kvq_error_detail(), "KVQ_DEVICE_LIMITS"),
       "malformed KVQ_DEVICE_LIMITS is refused: %s", kvq_error_detail());
}

int main(void)
{
    kvq_ctx *ctx = NULL, *host = NULL;
    int st = kvq_ctx_create(&ctx, kvq_device_spec_default());
    if (st == KVQ_OK && kvq_ctx_is_host(ctx)) {
        kvq_ctx_destroy(ctx);
        skip_all_device("no OpenCL device (the default device is the host)");
    }
    plan(31);
    if (!ok(st == 0, "context on the default device: %s", kvq_strerror(st)))
        return exit_status();
    diag("device: %s (%s)", ctx->info.name, ctx->info.platform);
    ok(ctx->queue != NULL && ctx->context != NULL, "context and queue exist");
    ok(check_copy(ctx), "embedded copy kernel copies");

    st = kvq__ctx_try_build(ctx, broken_src, NULL);
    ok(st == KVQ_ERR_BUILD, "broken kernel: KVQ_ERR_BUILD (%s)", kvq_err_name(st));
    ok(strlen(kvq_ctx_build_log(ctx)) > 10, "build log kept for the caller");
    ok(strstr(kvq_ctx_build_log(ctx), "undefined_symbol_kvq") != NULL,
       "log names the offending symbol");
    st = kvq__ctx_try_build(ctx, option_src, NULL);
    ok(st == KVQ_ERR_BUILD, "option-dependent source fails without the define");
    ok(kvq__ctx_try_build(ctx, option_src, "-DKVQ_TEST_VALUE=7") == KVQ_OK,
       "caller options are applied");

    check_pool_reuse(ctx);
    kvq_ctx *sib = check_sibling(ctx);
    kvq_ctx_destroy(ctx);
    ok(sib && check_copy(sib), "sibling runs kernels after its parent is destroyed");
    kvq_ctx_destroy(sib);
    check_pool_limit();
    check_build_options();
    check_device_limits();

    st = kvq_ctx_create(&host, "host");
    ok(st == 0 && kvq_ctx_is_host(host), "host context");
    kvq_ctx_destroy(host);
    setenv("KVQ_POOL_LIMIT", "lots", 1);
    st = kvq_ctx_create(&host, NULL);
    unsetenv("KVQ_POOL_LIMIT");
    ok(st == KVQ_ERR_BAD_SPEC && host == NULL, "malformed KVQ_POOL_LIMIT is refused");
    return exit_status();
}
