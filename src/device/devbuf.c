/* devbuf.c — buffers, kernel arguments, launches and CLBlast calls for the
 * launchers, each OpenCL call checked and its call site recorded. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>
#include <pthread.h>
#ifdef HAVE_CBLAS
#include <cblas.h>
#endif

#include "device/device.h"

int kvq__dev_upload(kvq_ctx *ctx, const void *src, size_t bytes, cl_mem *out)
{
    int st = kvq__pool_acquire(ctx, bytes, out);
    if (st || !src || !bytes)
        return st;
    if ((st = kvq__dev_write(ctx, *out, 0, src, bytes)) != KVQ_OK) {
        kvq__pool_release(ctx, *out);
        *out = NULL;
    }
    return st;
}

/* Writes up to this size go from a host copy without blocking: a blocking
 * write waits for the device's queue (tens of µs on PoCL), the copy costs
 * less (doc/kernels.md §6). */
#define KVQ_STAGE_MAX ((size_t)128 << 10)

int kvq__dev_write(kvq_ctx *ctx, cl_mem buf, size_t offset, const void *src, size_t bytes)
{
    if (!bytes)
        return KVQ_OK;
    void *copy = bytes <= KVQ_STAGE_MAX ? kvq__stage_copy(ctx, src, bytes) : NULL;
    cl_int cs = clEnqueueWriteBuffer(ctx->queue, buf, copy ? CL_FALSE : CL_TRUE, offset, bytes,
                                     copy ? copy : src, 0, NULL, NULL);
    if (cs != CL_SUCCESS)
        return kvq__rt_fail(cs, "clEnqueueWriteBuffer", __FILE__, __LINE__);
    if (!copy)          /* the in-order queue ran every earlier write too */
        kvq__stage_done(ctx);
    return KVQ_OK;
}

static int read_buffer(kvq_ctx *ctx, cl_mem buf, size_t offset, void *dst, size_t bytes,
                       cl_bool blocking)
{
    if (!bytes)
        return KVQ_OK;
    cl_int cs = clEnqueueReadBuffer(ctx->queue, buf, blocking, offset, bytes, dst, 0, NULL, NULL);
    if (cs != CL_SUCCESS)
        return kvq__rt_fail(cs, "clEnqueueReadBuffer", __FILE__, __LINE__);
    if (blocking)
        kvq__stage_done(ctx);
    return KVQ_OK;
}

int kvq__dev_download(kvq_ctx *ctx, cl_mem buf, size_t offset, void *dst, size_t bytes)
{
    return read_buffer(ctx, buf, offset, dst, bytes, CL_TRUE);
}

int kvq__dev_download_then(kvq_ctx *ctx, cl_mem buf, size_t offset, void *dst, size_t bytes)
{
    return read_buffer(ctx, buf, offset, dst, bytes, CL_FALSE);
}

int kvq__dev_wait(kvq_ctx *ctx)
{
    cl_int cs = clFinish(ctx->queue);
    if (cs != CL_SUCCESS)
        return kvq__rt_fail(cs, "clFinish", __FILE__, __LINE__);
    kvq__stage_done(ctx);
    return KVQ_OK;
}

int kvq__dev_zero(kvq_ctx *ctx, cl_mem buf, size_t bytes)
{
    const cl_uint zero = 0;
    if (!bytes)
        return KVQ_OK;
    cl_int cs = clEnqueueFillBuffer(ctx->queue, buf, &zero, sizeof zero, 0, (bytes + 3) & ~(size_t)3,
                                    0, NULL, NULL);
    return cs == CL_SUCCESS ? KVQ_OK : kvq__rt_fail(cs, "clEnqueueFillBuffer", __FILE__, __LINE__);
}

/* Sets kernel arguments from a table of (size, value) pairs. */
int kvq__dev_args(cl_kernel k, const kvq__arg *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cl_int cs = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
        if (cs != CL_SUCCESS) {
            char where[64];
            snprintf(where, sizeof where, "clSetKernelArg(%zu)", i);
            return kvq__rt_fail(cs, where, __FILE__, __LINE__);
        }
    }
    return KVQ_OK;
}

int kvq__dev_launch(kvq_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                   const size_t *local)
{
    for (cl_uint d = 0; d < dims; d++)
        if (global[d] == 0)
            return KVQ_OK;
    cl_int cs = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, global, local, 0, NULL, NULL);
    return cs == CL_SUCCESS ? KVQ_OK
                            : kvq__rt_fail(cs, "clEnqueueNDRangeKernel", __FILE__, __LINE__);
}

int kvq__dev_run_coords(kvq_ctx *ctx, cl_kernel k, const kvq__arg *args, size_t nargs, int dim,
                        size_t count)
{
    int st = kvq__dev_args(k, args, nargs);
    if (st != KVQ_OK)
        return st;
    size_t g[2] = {(size_t)dim, count};
    return kvq__dev_launch(ctx, k, 2, g, NULL);
}

int kvq__dev_run_vectors(kvq_ctx *ctx, cl_kernel k, const kvq__arg *args, size_t nargs,
                         size_t count)
{
    int st = kvq__dev_args(k, args, nargs);
    if (st != KVQ_OK)
        return st;
    size_t ls = kvq__dev_group(ctx, k, 16), global = (count + ls - 1) / ls * ls;
    return kvq__dev_launch(ctx, k, 1, &global, &ls);
}

void kvq__dev_options(int dim, char *buf, size_t len)
{
    snprintf(buf, len, "-DKVQ_D=%d", dim);
}

int kvq__dev_kernel(kvq_ctx *ctx, const char *file, int dim, const char *name, cl_kernel *out)
{
    char opts[64], prog[64];
    kvq__dev_options(dim, opts, sizeof opts);
    snprintf(prog, sizeof prog, "common+%s", file);
    return kvq__rt_kernel(ctx, prog, opts, name, out);
}

/* Maps a CLBlast status: OpenCL codes pass through, CLBlast's own become
 * KVQ_ERR_UNSUPPORTED with the code in the error detail. */
static int blas_status(CLBlastStatusCode s, const char *call, int line)
{
    if (s == CLBlastSuccess)
        return KVQ_OK;
    kvq__rt_fail(s, call, __FILE__, line);
    return s > -1000 ? (int)s : KVQ_ERR_UNSUPPORTED;
}

#ifdef HAVE_CBLAS
/* Maps the whole of buf into host memory (blocking: what the queue wrote
 * before is there); on a CPU device the buffer already is host memory. */
static int map_all(kvq_ctx *ctx, cl_mem buf, cl_map_flags flags, float **out)
{
    size_t bytes = 0;
    cl_int cs = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (cs == CL_SUCCESS)
        *out = clEnqueueMapBuffer(ctx->queue, buf, CL_TRUE, flags, 0, bytes, 0, NULL, NULL, &cs);
    if (cs != CL_SUCCESS)
        return kvq__rt_fail(cs, "clEnqueueMapBuffer", __FILE__, __LINE__);
    kvq__stage_done(ctx);
    return KVQ_OK;
}

#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
void openblas_set_num_threads(int n);

/* The CPU's cores already run the device's work-items: OpenBLAS's own
 * threads, spinning between calls, only took time from them (about a
 * third more CPU time in `kvq sweep`), so the host GEMMs run on the
 * calling thread unless $OPENBLAS_NUM_THREADS says otherwise. */
static void one_blas_thread(void)
{
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
}
#endif

/* The GEMM by the host CBLAS on the mapped buffers. */
static int host_sgemm(kvq_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc)
{
    float *pa = NULL, *pb = NULL, *pc = NULL;
    int st;
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, one_blas_thread);
#endif
    KVQ_TRY(st, map_all(ctx, a, CL_MAP_READ, &pa));
    KVQ_TRY(st, map_all(ctx, b, CL_MAP_READ, &pb));
    KVQ_TRY(st, map_all(ctx, c, CL_MAP_READ | CL_MAP_WRITE, &pc));
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, pa + a_off,
                (int)lda, pb + b_off, (int)ldb, beta, pc + c_off, (int)ldc);
cleanup:
    {
        cl_mem bufs[] = {a, b, c};
        float *ptrs[] = {pa, pb, pc};
        for (int i = 0; i < 3; i++) {
            cl_int cs = ptrs[i] ? clEnqueueUnmapMemObject(ctx->queue, bufs[i], ptrs[i], 0, NULL,
                                                          NULL)
                                : CL_SUCCESS;
            if (cs != CL_SUCCESS && !st)
                st = kvq__rt_fail(cs, "clEnqueueUnmapMemObject", __FILE__, __LINE__);
        }
    }
    return st;
}
#endif

int kvq__blas_sgemm_at(kvq_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc)
{
    if (!m || !n)
        return KVQ_OK;
    /* CLBlast 1.5's first call for a device builds its program and database
     * caches without a lock (fixed upstream in CLBlast PR #495, 2023): two
     * contexts' threads (`--devices`) calling at once crashed in
     * clblast::Database. The call only enqueues, so holding a lock for it
     * costs nothing measurable. */
    static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&clblast_lock);
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor,
                                       trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       trans_b ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c,
                                       c_off, ldc, &ctx->queue, NULL);
    pthread_mutex_unlock(&clblast_lock);
    return blas_status(s, "CLBlastSgemm", __LINE__);
}

int kvq__blas_sgemm_out_at(kvq_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                          float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                          size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                          size_t ldc)
{
#ifdef HAVE_CBLAS
    if (m && n && kvq__dev_host_blas(ctx))
        return host_sgemm(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb,
                          beta, c, c_off, ldc);
#endif
    return kvq__blas_sgemm_at(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb,
                             beta, c, c_off, ldc);
}

int kvq__blas_sgemm(kvq_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                   float alpha, cl_mem a, size_t lda, cl_mem b, size_t ldb, float beta,
                   cl_mem c, size_t ldc)
{
    return kvq__blas_sgemm_at(ctx, trans_a, trans_b, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta,
                             c, 0, ldc);
}
