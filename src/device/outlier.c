/* outlier.c — out<c>@<b2> on an OpenCL device (doc/schemes.md §7.4). The
 * codec runs as its two parts, each through the existing kernels at its own
 * dimension with its own codebook, rotation and QJL matrix; this file moves
 * columns between a tensor and its parts (cl/outlier.cl) and adds the
 * parts' logits. */
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "core/stage.h"

int kvq__dev_out_upload(kvq_ctx *ctx, const kvq_codec *c, kvq__dev_codec *d)
{
    const kvq__codec_kparams *kp = kvq__codec_kparams_get(c);
    d->dim = kp->dim;
    d->words = kp->words;
    d->out_channels = kp->out_channels;
    if (!(d->parts = calloc(2, sizeof *d->parts)))
        return KVQ_ERR_NOMEM;
    int st = kvq__dev_codec_upload(ctx, c->part[0], &d->parts[0]);
    return st ? st : kvq__dev_codec_upload(ctx, c->part[1], &d->parts[1]);
}

int kvq__dev_out_bind(kvq_ctx *ctx, kvq__dev_codec *d, const kvq_codec *c, const kvq_qtensor *t)
{
    int cols[KVQ__DIM_MAX];
    cl_uint order[KVQ__DIM_MAX];
    /* the other channels, then the outliers: part p's columns start at
     * order + (p ? d − c : 0) */
    kvq__out_order(c, t, cols, cols + d->parts[0].dim);
    for (int j = 0; j < d->dim; j++)
        order[j] = (cl_uint)cols[j];
    kvq__pool_release(ctx, d->order);
    d->order = NULL;
    return kvq__dev_upload(ctx, order, (size_t)d->dim * sizeof *order, &d->order);
}

/* Part p's columns of count rows between x (count × d) and part
 * (count × width): gathered into part, or scattered back into x. */
static int move_cols(kvq_ctx *ctx, const kvq__dev_codec *d, int p, cl_mem x, cl_mem part,
                     size_t count, int scatter)
{
    cl_kernel k;
    int st;
    if (!count)
        return KVQ_OK;
    KVQ_TRY(st, kvq__rt_kernel(ctx, "outlier", "", "kvq_move_cols", &k));
    cl_uint off = p ? (cl_uint)d->parts[0].dim : 0, width = (cl_uint)d->parts[p].dim;
    cl_uint dim = (cl_uint)d->dim, n = (cl_uint)count, sc = (cl_uint)scatter;
    kvq__arg a[] = {{sizeof x, &x}, {sizeof part, &part}, {sizeof d->order, &d->order},
                   {4, &off}, {4, &width}, {4, &dim}, {4, &n}, {4, &sc}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    size_t g[2] = {width, count};
    st = kvq__dev_launch(ctx, k, 2, g, NULL);
cleanup:
    return st;
}

int kvq__dev_out_tensor_upload(kvq_ctx *ctx, const kvq__dev_codec *d, const kvq_qtensor *t,
                               size_t n, kvq__dev_out_tensor *o)
{
    size_t w0 = d->parts[0].words, w1 = d->parts[1].words;
    int st;
    memset(o, 0, sizeof *o);
    /* layout of doc/schemes.md §7.2: part 1's records follow all of part 0's
     * (capacity t->count), its norms follow the channel list in tside */
    KVQ_TRY(st, kvq__dev_upload(ctx, t->codes, n * w0 * sizeof(cl_uint), &o->codes[0]));
    KVQ_TRY(st, kvq__dev_upload(ctx, t->codes + t->count * w0, n * w1 * sizeof(cl_uint),
                                &o->codes[1]));
    KVQ_TRY(st, kvq__dev_upload(ctx, t->norms, n * sizeof(float), &o->norms[0]));
    KVQ_TRY(st, kvq__dev_upload(ctx, t->tside + d->out_channels, n * sizeof(float),
                                &o->norms[1]));
    KVQ_TRY(st, kvq__dev_upload(ctx, d->parts[0].m ? t->gammas : NULL, n * sizeof(float),
                                &o->side[0]));
    st = kvq__dev_upload(ctx, NULL, n * sizeof(float), &o->side[1]);
cleanup:
    return st;
}

void kvq__dev_out_tensor_release(kvq_ctx *ctx, kvq__dev_out_tensor *o)
{
    for (int p = 0; p < 2; p++) {
        kvq__pool_release(ctx, o->codes[p]);
        kvq__pool_release(ctx, o->norms[p]);
        kvq__pool_release(ctx, o->side[p]);
    }
    memset(o, 0, sizeof *o);
}

int kvq__dev_out_queries(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem q, size_t nq, float scale,
                         cl_mem qr[2], cl_mem sq[2])
{
    int st = KVQ_OK;
    for (int p = 0; p < 2 && !st; p++) {
        size_t bytes = nq * (size_t)d->parts[p].dim * sizeof(float);
        KVQ_TRY(st, kvq__pool_acquire(ctx, bytes, &qr[p]));
        KVQ_TRY(st, move_cols(ctx, d, p, q, qr[p], nq, 0));
        st = kvq__dev_prepare_queries(ctx, &d->parts[p], qr[p], nq, scale, &sq[p]);
    }
cleanup:
    return st;
}

/* y += x over n floats. */
static int add(kvq_ctx *ctx, cl_mem y, cl_mem x, size_t n)
{
    cl_kernel k;
    int st;
    cl_uint un = (cl_uint)n;
    KVQ_TRY(st, kvq__rt_kernel(ctx, "outlier", "", "kvq_add", &k));
    kvq__arg a[] = {{sizeof y, &y}, {sizeof x, &x}, {4, &un}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    st = kvq__dev_launch(ctx, k, 1, &n, NULL);
cleanup:
    return st;
}

int kvq__dev_out_logits(kvq_ctx *ctx, const kvq__dev_codec *d, const kvq__dev_out_tensor *o,
                        cl_mem qr[2], cl_mem sq[2], size_t j0, size_t n, size_t nq, cl_mem out)
{
    cl_mem part = NULL;
    int st;
    KVQ_TRY(st, kvq__pool_acquire(ctx, nq * n * sizeof(float), &part));
    /* ⟨q, x̂⟩ = ⟨q_rest, x̂_rest⟩ + ⟨q_out, x̂_out⟩ (doc/schemes.md §7.1) */
    KVQ_TRY(st, kvq__dev_logits(ctx, &d->parts[0], o->codes[0], o->norms[0], o->side[0], qr[0],
                                sq[0], j0, n, nq, out));
    KVQ_TRY(st, kvq__dev_logits(ctx, &d->parts[1], o->codes[1], o->norms[1], o->side[1], qr[1],
                                sq[1], j0, n, nq, part));
    st = add(ctx, out, part, nq * n);
cleanup:
    kvq__pool_release(ctx, part);
    return st;
}

int kvq__dev_out_dequantize(kvq_ctx *ctx, const kvq__dev_codec *d, const kvq__dev_out_tensor *o,
                            size_t n, cl_mem xhat)
{
    cl_mem part = NULL;
    int st = KVQ_OK;
    for (int p = 0; p < 2 && !st; p++) {
        KVQ_TRY(st, kvq__pool_acquire(ctx, n * (size_t)d->parts[p].dim * sizeof(float), &part));
        KVQ_TRY(st, kvq__dev_dequantize(ctx, &d->parts[p], o->codes[p], o->norms[p], o->side[p],
                                        n, part));
        st = move_cols(ctx, d, p, xhat, part, n, 1);
        kvq__pool_release(ctx, part);
        part = NULL;
    }
cleanup:
    kvq__pool_release(ctx, part);
    return st;
}
