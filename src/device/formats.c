/* formats.c — launchers of the deployed formats' kernels (cl/formats.cl,
 * doc/schemes.md §6): quantization, dequantization and compressed-domain
 * logits, each program built with the format's options (kvq__dev_codec's
 * format_opts). */
#include "device/device.h"

/* Quantization, one work-item per vector (16 coordinates a step on CPUs). */
int kvq__dev_format_quantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                            cl_mem codes, cl_mem norms, cl_mem tside)
{
    cl_kernel k;
    int st, vec = kvq__dev_format_vec16(ctx, d);
    KVQ_TRY(st, kvq__rt_kernel(ctx, "common+formats", d->format_opts,
                               vec ? "kvq_format_quantize_vec" : "kvq_format_quantize", &k));
    cl_uint n = (cl_uint)count, words = (cl_uint)d->words;
    kvq__arg a[] = {{sizeof x, &x}, {4, &n}, {4, &words}, {sizeof codes, &codes},
                   {sizeof norms, &norms}, {sizeof tside, &tside}};
    st = kvq__dev_run_vectors(ctx, k, a, sizeof a / sizeof a[0], count);
cleanup:
    return st;
}

/* x̂, one work-item per coordinate (per 16 coordinates on CPUs). */
int kvq__dev_format_dequantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem tside,
                              size_t count, cl_mem xhat)
{
    cl_kernel k;
    int st, vec = kvq__dev_format_vec16(ctx, d);
    KVQ_TRY(st, kvq__rt_kernel(ctx, "common+formats", d->format_opts,
                               vec ? "kvq_format_dequantize_vec" : "kvq_format_dequantize", &k));
    cl_uint n = (cl_uint)count, words = (cl_uint)d->words;
    kvq__arg a[] = {{sizeof codes, &codes}, {sizeof tside, &tside}, {4, &words}, {4, &n},
                   {sizeof xhat, &xhat}};
    st = kvq__dev_run_coords(ctx, k, a, sizeof a / sizeof a[0], vec ? d->dim / 16 : d->dim,
                             count);
cleanup:
    return st;
}

/* Logits of keys j0 … j0+n−1 against nq queries, one work-item per (key, query)
 * or, on CPUs, per 16 keys and query. */
int kvq__dev_format_logits(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem tside,
                          cl_mem qr, size_t j0, size_t n, size_t nq, cl_mem out)
{
    cl_kernel k;
    int st, vec = kvq__dev_format_logits_vec(ctx, d);
    KVQ_TRY(st, kvq__rt_kernel(ctx, "common+formats", d->format_opts,
                               vec ? "kvq_format_logits_vec" : "kvq_format_logits", &k));
    cl_uint words = (cl_uint)d->words, uj0 = (cl_uint)j0, un = (cl_uint)n, unq = (cl_uint)nq;
    kvq__arg a[] = {{sizeof codes, &codes}, {sizeof tside, &tside}, {4, &words}, {sizeof qr, &qr},
                   {4, &uj0}, {4, &un}, {4, &unq}, {sizeof out, &out}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    size_t g[2] = {vec ? (n + 15) / 16 : n, nq};
    st = kvq__dev_launch(ctx, k, 2, g, NULL);
cleanup:
    return st;
}
