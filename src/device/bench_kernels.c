/* bench_kernels.c — the device side of `kvq bench`: sets up one workload
 * (buffers of seeded data, codecs, kernels), warms it up (PoCL and CLBlast
 * compile on first use) and times repeats with OpenCL events and the wall
 * clock, all on the context's one queue. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "base/clock.h"
#include "core/stage.h"
#include "device/bench_kernels.h"
#include "device/device.h"
#include "device/layout.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Everything one workload holds on the device. */
typedef struct bench_state {
    const kvq_bench_work *w;
    kvq_codec *codec;
    kvq__dev_codec dc;
    cl_mem a, b, c, d, e, f, g, c2;   /* meaning depends on the kind */
} bench_state;

const char *kvq_bench_clblast_version(void)
{
    return STR(CLBLAST_VERSION_MAJOR) "." STR(CLBLAST_VERSION_MINOR) "." STR(CLBLAST_VERSION_PATCH);
}

/* A device buffer of n seeded normal floats (scaled by scale). */
static int upload_normals(kvq_ctx *ctx, size_t n, uint32_t tag, float scale, cl_mem *out)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (!h)
        return KVQ_ERR_NOMEM;
    kvq__rng_fill_normal(12345, KVQ_RNG_TEST, tag, 0, h, n);
    for (size_t i = 0; i < n; i++)
        h[i] = h[i] * scale;
    int st = kvq__dev_upload(ctx, h, n * sizeof *h, out);
    free(h);
    return st;
}

/* A device buffer of n seeded random 32-bit words (packed codes). */
static int upload_words(kvq_ctx *ctx, size_t n, uint32_t tag, cl_mem *out)
{
    uint32_t *h = malloc((n ? n : 1) * sizeof *h);
    if (!h)
        return KVQ_ERR_NOMEM;
    kvq__rng r;
    kvq__rng_init(&r, 12345, KVQ_RNG_TEST, tag);
    for (size_t i = 0; i < n; i++)
        h[i] = kvq__rng_u32(&r);
    int st = kvq__dev_upload(ctx, h, n * sizeof *h, out);
    free(h);
    return st;
}

/* The codec of a QUANTIZE / LOGITS workload, realized and uploaded. */
static int make_codec(kvq_ctx *ctx, bench_state *s)
{
    kvq_codec_spec spec = {.rotation = KVQ_ROT_WHT, .mse_bits = s->w->bits,
                           .qjl = s->w->qjl ? 1 : 0, .norm_bits = 32};
    if (s->w->format)
        spec = (kvq_codec_spec){.format = s->w->format, .format_bits = s->w->format_bits};
    int st = kvq_codec_create(&s->codec, &spec, s->w->dim, 7, 0, 0);
    if (!st)
        st = kvq__dev_codec_upload(ctx, s->codec, &s->dc);
    return st;
}

/* Words of the per-vector / tensor-level side buffer (gammas, or KIVI's
 * group words, which K holds per group of tokens and channel). */
static size_t side_words(const bench_state *s, size_t n)
{
    size_t t = kvq__codec_tside_words(s->codec, n);
    return t > n ? t : n;
}

/* Allocates and fills the buffers of the workload. */
static int setup(kvq_ctx *ctx, bench_state *s)
{
    const kvq_bench_work *w = s->w;
    size_t d = (size_t)w->dim, n = w->count, mq = w->queries ? w->queries : 1;
    int st = KVQ_OK;
    switch (w->kind) {
    case KVQ_BENCH_COPY:
        KVQ_TRY(st, upload_normals(ctx, n, 1, 1.0f, &s->a));
        KVQ_TRY(st, kvq__pool_acquire(ctx, n * 4, &s->b));
        break;
    case KVQ_BENCH_WHT:
        KVQ_TRY(st, make_codec(ctx, s));
        KVQ_TRY(st, upload_normals(ctx, n * d, 2, 1.0f, &s->a));
        break;
    case KVQ_BENCH_QUANTIZE:
        KVQ_TRY(st, make_codec(ctx, s));
        KVQ_TRY(st, upload_normals(ctx, n * d, 3, 1.0f, &s->a));
        KVQ_TRY(st, kvq__pool_acquire(ctx, n * s->dc.words * 4, &s->b));
        KVQ_TRY(st, kvq__pool_acquire(ctx, n * 4, &s->c));
        KVQ_TRY(st, kvq__pool_acquire(ctx, side_words(s, n) * 4, &s->d));
        break;
    case KVQ_BENCH_LOGITS:
        KVQ_TRY(st, make_codec(ctx, s));
        KVQ_TRY(st, upload_words(ctx, n * s->dc.words, 4, &s->a));
        KVQ_TRY(st, upload_normals(ctx, n, 5, 0.1f, &s->b));    /* norms (sign irrelevant) */
        /* gammas; as KIVI's group words, random fp16 pairs (the timing ignores values) */
        KVQ_TRY(st, upload_normals(ctx, side_words(s, n), 6, 0.1f, &s->c));
        KVQ_TRY(st, upload_normals(ctx, mq * d, 7, 0.1f, &s->d));
        KVQ_TRY(st, upload_normals(ctx, mq * (s->dc.m ? (size_t)s->dc.m : 1), 8, 0.1f, &s->e));
        KVQ_TRY(st, kvq__pool_acquire(ctx, mq * n * 4, &s->f));
        break;
    case KVQ_BENCH_SGEMV:
    case KVQ_BENCH_SGEMM:
        KVQ_TRY(st, upload_normals(ctx, n * d, 9, 1.0f, &s->a));
        KVQ_TRY(st, upload_normals(ctx, mq * d, 10, 1.0f, &s->b));
        KVQ_TRY(st, kvq__pool_acquire(ctx, mq * n * 4, &s->c));
        KVQ_TRY(st, kvq__dev_zero(ctx, s->c, mq * n * 4));
        break;
    case KVQ_BENCH_SOFTMAX: {
        KVQ_TRY(st, upload_normals(ctx, mq * n, 11, 1.0f, &s->a));
        KVQ_TRY(st, upload_normals(ctx, mq * n, 12, 1.0f, &s->b));
        KVQ_TRY(st, kvq__pool_acquire(ctx, mq * KVQ_STATS * 4, &s->c));
        /* top values and indices share one buffer (the timing ignores them) */
        KVQ_TRY(st, kvq__pool_acquire(ctx, mq * KVQ_TOPK_MAX * 4 * 2, &s->d));
        float *consts = malloc(mq * KVQ_CONSTS * sizeof *consts);
        if (!consts) {
            st = KVQ_ERR_NOMEM;
            goto cleanup;
        }
        for (size_t i = 0; i < mq; i++) {   /* lse of n standard normal logits ≈ ln n + ½ */
            float *ci = consts + KVQ_CONSTS * i;
            ci[KVQ_CONST_LSE_REF] = ci[KVQ_CONST_LSE_QUANT] = (float)(log((double)n) + 0.5);
            ci[KVQ_CONST_MU] = ci[KVQ_CONST_G_EST] = ci[KVQ_CONST_LOG1P_G] = 0.0f;
        }
        st = kvq__dev_upload(ctx, consts, mq * KVQ_CONSTS * sizeof *consts, &s->e);
        free(consts);
        KVQ_TRY(st, st);
        KVQ_TRY(st, kvq__pool_acquire(ctx, mq * KVQ_ACCS * 4, &s->f));
        /* the reference p (uniform: every key takes the p > 0 path), then p̃ */
        float *p = malloc(mq * n * sizeof *p);
        for (size_t i = 0; p && i < mq * n; i++)
            p[i] = 1.0f / (float)n;
        st = p ? kvq__dev_upload(ctx, p, mq * n * sizeof *p, &s->g) : KVQ_ERR_NOMEM;
        free(p);
        KVQ_TRY(st, st);
        KVQ_TRY(st, kvq__pool_acquire(ctx, mq * n * 4, &s->c2));
        break;
    }
    default:
        st = KVQ_ERR_INVALID_ARG;
    }
cleanup:
    return st;
}

/* CLBlast's status as a kvq status (its own codes become KVQ_ERR_UNSUPPORTED). */
static int blas_st(CLBlastStatusCode s, const char *call)
{
    if (s == CLBlastSuccess)
        return KVQ_OK;
    kvq__rt_fail(s, call, __FILE__, __LINE__);
    return s > -1000 ? (int)s : KVQ_ERR_UNSUPPORTED;
}

/* Enqueues one run of the workload. */
static int enqueue(kvq_ctx *ctx, bench_state *s)
{
    const kvq_bench_work *w = s->w;
    size_t d = (size_t)w->dim, n = w->count, mq = w->queries ? w->queries : 1;
    cl_kernel k;
    int st = KVQ_OK;
    switch (w->kind) {
    case KVQ_BENCH_COPY: {
        KVQ_TRY(st, kvq__dev_kernel(ctx, "copy", 16, "kvq_copy4", &k));
        cl_uint n4 = (cl_uint)(n / 4);
        kvq__arg a[] = {{sizeof(cl_mem), &s->a}, {sizeof(cl_mem), &s->b}, {4, &n4}};
        KVQ_TRY(st, kvq__dev_args(k, a, 3));
        size_t ls = kvq__dev_group(ctx, k, 64), g = (n / 4 + ls - 1) / ls * ls;
        st = kvq__dev_launch(ctx, k, 1, &g, &ls);
        break;
    }
    case KVQ_BENCH_WHT:
        st = kvq__dev_rotate(ctx, &s->dc, s->a, n, 0, 1.0f);
        break;
    case KVQ_BENCH_QUANTIZE:
        st = kvq__dev_quantize(ctx, &s->dc, s->a, n, s->b, s->c, s->d);
        break;
    case KVQ_BENCH_LOGITS:
        st = kvq__dev_logits(ctx, &s->dc, s->a, s->b, s->c, s->d, s->e, 0, n, mq, s->f);
        break;
    case KVQ_BENCH_SGEMV:
        st = blas_st(CLBlastSgemv(CLBlastLayoutRowMajor, CLBlastTransposeNo, n, d, 1.0f, s->a, 0,
                                  d, s->b, 0, 1, 0.0f, s->c, 0, 1, &ctx->queue, NULL),
                     "CLBlastSgemv");
        break;
    case KVQ_BENCH_SGEMM:
        st = kvq__blas_sgemm(ctx, 0, 1, mq, n, d, 1.0f, s->b, d, s->a, d, 0.0f, s->c, n);
        break;
    case KVQ_BENCH_SOFTMAX: {   /* one scheme's share: the trial reference is made once per trial */
        kvq__dev_rows rows = {.l = s->b, .lref = s->a, .p = s->g, .e = s->c2};
        KVQ_TRY(st, kvq__dev_softmax_pass1(ctx, w->dim, &rows, n, 0, n, KVQ_TOPK_MAX, mq, s->c,
                                          s->d, s->d));
        st = kvq__dev_softmax_pass2(ctx, w->dim, &rows, n, 0, n, mq, s->c, s->e, s->f);
    }
        break;
    default:
        st = KVQ_ERR_INVALID_ARG;
    }
cleanup:
    return st;
}

/* Seconds between two profiling points of two events. */
static int event_span(cl_event first, cl_event last, double *out)
{
    cl_ulong t0 = 0, t1 = 0;
    cl_int cs = clGetEventProfilingInfo(first, CL_PROFILING_COMMAND_END, sizeof t0, &t0, NULL);
    if (cs == CL_SUCCESS)
        cs = clGetEventProfilingInfo(last, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    if (cs != CL_SUCCESS)
        return kvq__rt_fail(cs, "clGetEventProfilingInfo", __FILE__, __LINE__);
    *out = t1 > t0 ? 1e-9 * (double)(t1 - t0) : 0.0;
    return KVQ_OK;
}

/* One timed run: a marker before and after the workload bound the device
 * time (end of the first marker to the end of the last); the wall clock
 * covers the enqueue and the wait. */
static int timed_run(kvq_ctx *ctx, bench_state *s, double *ev_s, double *wall_s)
{
    cl_event e0 = NULL, e1 = NULL;
    int st;
    KVQ_CL_TRY(st, clFinish(ctx->queue));
    double t0 = kvq__mono_s();
    KVQ_CL_TRY(st, clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &e0));
    KVQ_TRY(st, enqueue(ctx, s));
    KVQ_CL_TRY(st, clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &e1));
    KVQ_CL_TRY(st, clFinish(ctx->queue));
    *wall_s = kvq__mono_s() - t0;
    st = event_span(e0, e1, ev_s);
cleanup:
    if (e0)
        clReleaseEvent(e0);
    if (e1)
        clReleaseEvent(e1);
    return st;
}

/* Returns the workload's buffers to the pool. */
static void teardown(kvq_ctx *ctx, bench_state *s)
{
    cl_mem *bufs[] = {&s->a, &s->b, &s->c, &s->d, &s->e, &s->f, &s->g, &s->c2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        kvq__pool_release(ctx, *bufs[i]);
    kvq__dev_codec_release(ctx, &s->dc);
    kvq_codec_destroy(s->codec);
}

int kvq_bench_device_run_for(kvq_ctx *ctx, const kvq_bench_work *w, int warmups, int repeats,
                             int max_repeats, double min_s, double *event_s, double *wall_s,
                             int *runs)
{
    bench_state s;
    int st, r = 0;
    double ev, wall, timed = 0;
    /* the workloads are OpenCL kernels: a context without a queue has none to run */
    if (!ctx || !ctx->queue || !w || repeats < 1 || warmups < 0 || max_repeats < repeats)
        return KVQ_ERR_INVALID_ARG;
    memset(&s, 0, sizeof s);
    s.w = w;
    KVQ_TRY(st, setup(ctx, &s));
    for (int i = 0; i < warmups; i++)
        KVQ_TRY(st, timed_run(ctx, &s, &ev, &wall));
    for (; r < repeats || (r < max_repeats && timed < min_s); r++) {
        KVQ_TRY(st, timed_run(ctx, &s, &event_s[r], &wall_s[r]));
        timed += wall_s[r];
    }
cleanup:
    if (runs)
        *runs = r;
    teardown(ctx, &s);
    return st;
}

int kvq_bench_device_run(kvq_ctx *ctx, const kvq_bench_work *w, int warmups, int repeats,
                         double *event_s, double *wall_s)
{
    return kvq_bench_device_run_for(ctx, w, warmups, repeats, repeats, 0, event_s, wall_s, NULL);
}
