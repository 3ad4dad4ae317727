/* codec.c — device-resident codecs, batched rotation, fused quantization and
 * dequantization launchers, and the OpenCL backend's quantize, dequantize
 * and rotate on host arrays. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "device/layout.h"
#include "core/stage.h"

/* Uploads the n doubles v as floats, followed by zeros up to len floats. */
static int upload_padded(kvq_ctx *ctx, const double *v, size_t n, size_t len, cl_mem *out)
{
    len = len > n ? len : n;
    float *f = calloc(len ? len : 1, sizeof *f);
    if (!f)
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        f[i] = (float)v[i];
    int st = kvq__dev_upload(ctx, f, len * sizeof *f, out);
    free(f);
    return st;
}

static int upload_doubles(kvq_ctx *ctx, const double *v, size_t n, cl_mem *out)
{
    return upload_padded(ctx, v, n, n, out);
}

/* Uploads the matrix of a rotation that is not dense, column j = R e_j,
 * for the GEMM path; the kernels then see no sign rounds. */
static int upload_as_matrix(kvq_ctx *ctx, const kvq_rotation *r, kvq__dev_codec *d)
{
    size_t dim = (size_t)kvq_rotation_dim(r);
    double *m = calloc(dim * dim, sizeof *m), *e = malloc(dim * sizeof *e);
    int st = KVQ_ERR_NOMEM;
    if (m && e) {
        for (size_t j = 0; j < dim; j++) {
            memset(e, 0, dim * sizeof *e);
            e[j] = 1.0;
            kvq_rotation_forward(r, e);
            for (size_t i = 0; i < dim; i++)
                m[i * dim + j] = e[i];
        }
        d->rounds = 0;
        st = upload_doubles(ctx, m, dim * dim, &d->matrix);
    }
    free(m);
    free(e);
    return st;
}

/* Uploads what the device needs of a rotation into d: the sign diagonals
 * (rounds × dim; a dummy for none) and, for the dense rotation, R itself as
 * floats (dim × dim, row-major), which kvq__dev_rotate applies by GEMM. */
static int upload_rotation(kvq_ctx *ctx, const kvq_rotation *r, kvq__dev_codec *d)
{
    int dim = kvq_rotation_dim(r), st;
    d->rounds = kvq__rotation_rounds(r);
    if (kvq_rotation_kind(r) == KVQ_ROT_DENSE)
        KVQ_TRY(st, upload_doubles(ctx, kvq__rotation_matrix(r), (size_t)dim * dim, &d->matrix));
    else if (kvq__dev_rotation_as_matrix(dim))
        KVQ_TRY(st, upload_as_matrix(ctx, r, d));
    if (d->rounds == 0)
        return kvq__dev_upload(ctx, NULL, 4, &d->signs);
    KVQ_TRY(st, kvq__dev_upload(ctx, NULL, (size_t)d->rounds * dim * sizeof(float), &d->signs));
    for (int k = 0; k < d->rounds; k++) {
        cl_int cs = clEnqueueWriteBuffer(ctx->queue, d->signs, CL_TRUE,
                                         (size_t)k * dim * sizeof(float), dim * sizeof(float),
                                         kvq__rotation_signs(r, k), 0, NULL, NULL);
        if (cs != CL_SUCCESS) {
            st = kvq__rt_fail(cs, "clEnqueueWriteBuffer", __FILE__, __LINE__);
            goto cleanup;
        }
    }
cleanup:
    return st;
}

/* dst ← scale · src·Rᵀ (each row x ↦ R x) or scale · src·R (x ↦ Rᵀ x) for
 * count rows: the dense rotation as one GEMM (doc/quantization.md §3). */
static int dense_rotate(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem src, cl_mem dst,
                        size_t count, int inverse, float scale)
{
    size_t dim = (size_t)d->dim;
    return kvq__blas_sgemm(ctx, 0, !inverse, count, dim, dim, scale, src, dim, d->matrix, dim,
                           0.0f, dst, dim);
}

/* The dense rotation in place, through a pool buffer. */
static int dense_rotate_inplace(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                                int inverse, float scale)
{
    cl_mem tmp = NULL;
    size_t bytes = count * (size_t)d->dim * sizeof(float);
    int st;
    KVQ_TRY(st, kvq__pool_acquire(ctx, bytes, &tmp));
    KVQ_TRY(st, dense_rotate(ctx, d, x, tmp, count, inverse, scale));
    cl_int cs = clEnqueueCopyBuffer(ctx->queue, tmp, x, 0, 0, bytes, 0, NULL, NULL);
    if (cs != CL_SUCCESS)
        st = kvq__rt_fail(cs, "clEnqueueCopyBuffer", __FILE__, __LINE__);
cleanup:
    kvq__pool_release(ctx, tmp);
    return st;
}

/* Launches kvq_rotate_vec (one work-item per vector) on count vectors of x. */
static int rotate_vec(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                      int inverse, float scale)
{
    cl_kernel k;
    int st;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "wht", d->dim, "kvq_rotate_vec", &k));
    cl_uint n = (cl_uint)count, r = (cl_uint)d->rounds, inv = (cl_uint)inverse;
    kvq__arg args[] = {{sizeof x, &x}, {sizeof n, &n}, {sizeof d->signs, &d->signs},
                      {sizeof r, &r}, {sizeof inv, &inv}, {sizeof scale, &scale}};
    st = kvq__dev_run_vectors(ctx, k, args, sizeof args / sizeof args[0], count);
cleanup:
    return st;
}

/* Launches kvq_rotate (one work-group per vector) on count vectors of x. */
static int rotate_group(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                        int inverse, float scale)
{
    cl_kernel k;
    int st;
    size_t dimf = (size_t)d->dim * sizeof(float);
    KVQ_TRY(st, kvq__dev_kernel(ctx, "wht", d->dim, "kvq_rotate", &k));
    size_t ls = kvq__dev_group_local(ctx, k, (size_t)d->dim / 2, dimf, 0);
    if (!ls)
        return kvq__dev_no_local(ctx, "kvq_rotate", dimf);
    cl_uint n = (cl_uint)count, r = (cl_uint)d->rounds, inv = (cl_uint)inverse;
    kvq__arg args[] = {{sizeof x, &x}, {sizeof n, &n}, {sizeof d->signs, &d->signs},
                      {sizeof r, &r}, {sizeof inv, &inv}, {sizeof scale, &scale},
                      {dimf, NULL}};
    KVQ_TRY(st, kvq__dev_args(k, args, sizeof args / sizeof args[0]));
    size_t groups = count < 65536 ? count : 65536, global = groups * ls;
    st = kvq__dev_launch(ctx, k, 1, &global, &ls);
cleanup:
    return st;
}

int kvq__dev_rotate(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count, int inverse,
                   float scale)
{
    if (!count)
        return KVQ_OK;
    if (d->matrix)
        return dense_rotate_inplace(ctx, d, x, count, inverse, scale);
    if (kvq__dev_select(ctx, KVQ_OP_ROTATE, d) == KVQ_VARIANT_VECTOR)
        return rotate_vec(ctx, d, x, count, inverse, scale);
    return rotate_group(ctx, d, x, count, inverse, scale);
}

/* Returns a device codec's buffers to the pool, or a cached one's
 * reference to the cache. */
void kvq__dev_codec_release(kvq_ctx *ctx, kvq__dev_codec *d)
{
    if (d->cache_slot) {
        kvq__dev_codec_cache_drop(ctx, d);
        return;
    }
    kvq__pool_release(ctx, d->thresholds);
    kvq__pool_release(ctx, d->centroids);
    kvq__pool_release(ctx, d->signs);
    kvq__pool_release(ctx, d->s);
    kvq__pool_release(ctx, d->sprime);
    kvq__pool_release(ctx, d->matrix);
    kvq__pool_release(ctx, d->order);
    for (int p = 0; d->parts && p < 2; p++)
        kvq__dev_codec_release(ctx, &d->parts[p]);
    free(d->parts);
    memset(d, 0, sizeof *d);
}

int kvq__dev_codec_make(kvq_ctx *ctx, const kvq_codec *c, kvq__dev_codec *d)
{
    const kvq__codec_kparams *kp = kvq__codec_kparams_get(c);
    const kvq_codebook *cb = kvq__codec_codebook(c);
    int st;

    memset(d, 0, sizeof *d);
    if (kp->out_channels) {
        st = kvq__dev_out_upload(ctx, c, d);
        goto cleanup;
    }
    d->dim = kp->dim;
    if ((d->format = kp->format)) {
        char name[16];
        snprintf(name, sizeof name, "%s", kvq__format_name(kp->format));
        for (char *p = name; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        snprintf(d->format_opts, sizeof d->format_opts,
                 "-DKVQ_D=%d -DKVQ_CB=%d -DKVQ_NP=%d -DKVQ_FMT_%s -DKVQ_G=%d -DKVQ_AXIS=%d "
                 "-cl-fp32-correctly-rounded-divide-sqrt", kp->dim, kp->code_bits,
                 kp->block_params, name, kp->group, kp->group_axis);
    }
    d->block_params = kp->block_params;
    d->bits = kp->mse_bits;
    d->m = kp->qjl_m;
    d->qjl_scale = (float)kp->qjl_scale;
    d->words = kp->words;
    d->norm_correct = kp->norm_correct;
    d->eden = kp->eden;
    d->half_side = kp->side_bits == 16;
    KVQ_TRY(st, upload_rotation(ctx, kvq__codec_rotation(c), d));
    if (cb) {
        d->symmetric = 1;
        for (int i = 0; i < cb->levels; i++)
            d->symmetric &= (float)cb->centroids[cb->levels - 1 - i] == -(float)cb->centroids[i];
        KVQ_TRY(st, upload_padded(ctx, cb->thresholds, (size_t)cb->levels - 1, KVQ_CODEBOOK_MIN,
                                  &d->thresholds));
        KVQ_TRY(st, upload_padded(ctx, cb->centroids, (size_t)cb->levels, KVQ_CODEBOOK_MIN,
                                  &d->centroids));
    } else {
        KVQ_TRY(st, kvq__dev_upload(ctx, NULL, 4, &d->thresholds));
        KVQ_TRY(st, kvq__dev_upload(ctx, NULL, 4, &d->centroids));
    }
    if (d->m) {
        size_t bytes = (size_t)d->m * d->dim * sizeof(float);
        KVQ_TRY(st, kvq__dev_upload(ctx, kvq__codec_qjl_matrix(c), bytes, &d->s));
        KVQ_TRY(st, kvq__dev_upload(ctx, kvq__codec_qjl_matrix(c), bytes, &d->sprime));
        /* row l of S·Rᵀ is R s_l */
        KVQ_TRY(st, kvq__dev_rotate(ctx, d, d->sprime, (size_t)d->m, 0, 1.0f));
    }
cleanup:
    if (st)
        kvq__dev_codec_release(ctx, d);
    return st;
}

/* Launches kvq_quantize_vec (KVQ_QUANT_VECS vectors per work-item, bits
 * compiled in). */
static int quantize_vec(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                        cl_mem codes, cl_mem norms, cl_mem gammas)
{
    cl_kernel k;
    int st;
    char opts[64];
    snprintf(opts, sizeof opts, "-DKVQ_D=%d -DKVQ_LB=%d", d->dim, d->bits);
    KVQ_TRY(st, kvq__rt_kernel(ctx, "common+quantize", opts, "kvq_quantize_vec", &k));
    cl_uint n = (cl_uint)count, rounds = (cl_uint)d->rounds, nc = (cl_uint)d->norm_correct;
    cl_uint half = (cl_uint)d->half_side, m = (cl_uint)d->m, words = (cl_uint)d->words;
    cl_uint eden = (cl_uint)d->eden;
    cl_mem sp = d->sprime ? d->sprime : d->signs;
    kvq__arg args[] = {
        {sizeof x, &x}, {sizeof n, &n}, {sizeof d->signs, &d->signs}, {sizeof rounds, &rounds},
        {sizeof d->thresholds, &d->thresholds}, {sizeof d->centroids, &d->centroids},
        {sizeof nc, &nc}, {sizeof eden, &eden}, {sizeof half, &half}, {sizeof sp, &sp}, {sizeof m, &m},
        {sizeof words, &words}, {sizeof codes, &codes}, {sizeof norms, &norms},
        {sizeof gammas, &gammas}};
    size_t per = KVQ_QUANT_VECS(d->dim / 16, d->bits);
    st = kvq__dev_run_vectors(ctx, k, args, sizeof args / sizeof args[0], (count + per - 1) / per);
cleanup:
    return st;
}

/* Launches kvq_quantize (one work-group per vector). */
static int quantize_group(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                          cl_mem codes, cl_mem norms, cl_mem gammas)
{
    cl_kernel k;
    int st;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "quantize", d->dim, "kvq_quantize", &k));
    size_t fixed = kvq__dev_quantize_local(d);
    size_t ls = kvq__dev_group_local(ctx, k, (size_t)d->dim, fixed, sizeof(float));
    if (!ls)
        return kvq__dev_no_local(ctx, "kvq_quantize", fixed + sizeof(float));
    cl_uint n = (cl_uint)count, rounds = (cl_uint)d->rounds, bits = (cl_uint)d->bits;
    cl_uint nc = (cl_uint)d->norm_correct, half = (cl_uint)d->half_side, m = (cl_uint)d->m;
    cl_uint words = (cl_uint)d->words, eden = (cl_uint)d->eden;
    cl_mem sp = d->sprime ? d->sprime : d->signs;
    size_t dimf = (size_t)d->dim * sizeof(float), zbytes = (m ? m : 1) * sizeof(cl_uint);
    kvq__arg args[] = {
        {sizeof x, &x}, {sizeof n, &n}, {sizeof d->signs, &d->signs}, {sizeof rounds, &rounds},
        {sizeof d->thresholds, &d->thresholds}, {sizeof d->centroids, &d->centroids},
        {sizeof bits, &bits}, {sizeof nc, &nc}, {sizeof eden, &eden}, {sizeof half, &half}, {sizeof sp, &sp},
        {sizeof m, &m}, {sizeof words, &words}, {sizeof codes, &codes}, {sizeof norms, &norms},
        {sizeof gammas, &gammas}, {dimf, NULL}, {dimf, NULL}, {(size_t)d->dim * sizeof(cl_uint), NULL},
        {zbytes, NULL}, {ls * sizeof(float), NULL}};
    KVQ_TRY(st, kvq__dev_args(k, args, sizeof args / sizeof args[0]));
    size_t groups = count < 65536 ? count : 65536, global = groups * ls;
    st = kvq__dev_launch(ctx, k, 1, &global, &ls);
cleanup:
    return st;
}

int kvq__dev_quantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem x, size_t count,
                     cl_mem codes, cl_mem norms, cl_mem gammas)
{
    cl_mem xr = NULL;
    int st;
    if (!count)
        return KVQ_OK;
    kvq_variant v = kvq__dev_select(ctx, KVQ_OP_QUANTIZE, d);
    if (v == KVQ_VARIANT_FORMAT)
        return kvq__dev_format_quantize(ctx, d, x, count, codes, norms, gammas);
    if (d->matrix) {
        /* the kernels see R x (their rounds are 0): ‖R x‖ = ‖x‖ up to rounding */
        KVQ_TRY(st, kvq__pool_acquire(ctx, count * (size_t)d->dim * sizeof(float), &xr));
        KVQ_TRY(st, dense_rotate(ctx, d, x, xr, count, 0, 1.0f));
        x = xr;
    }
    if (v == KVQ_VARIANT_VECTOR)
        st = quantize_vec(ctx, d, x, count, codes, norms, gammas);
    else
        st = quantize_group(ctx, d, x, count, codes, norms, gammas);
cleanup:
    kvq__pool_release(ctx, xr);
    return st;
}

/* Whether kvq_dequantize_vec can make x̂ (inverse rotated too when
 * inverse): the vector kernels apply and R is Walsh–Hadamard rounds that
 * its registers can run (or no rotation at all), not a dense matrix. */
static int dequantize_fused(const kvq_ctx *ctx, const kvq__dev_codec *d, int inverse)
{
    if (kvq__dev_select(ctx, KVQ_OP_DEQUANTIZE, d) != KVQ_VARIANT_VECTOR || d->out_channels)
        return 0;
    return !inverse || (!d->matrix && (!d->rounds ||
                        kvq__dev_select(ctx, KVQ_OP_ROTATE, d) == KVQ_VARIANT_VECTOR));
}

/* Work-items of the kernels that rebuild the QJL residual of count vectors,
 * KVQ_QJL_VECS to each (doc/kernels.md §3.2). */
static size_t qjl_items(size_t count)
{
    return (count + KVQ_QJL_VECS - 1) / KVQ_QJL_VECS;
}

/* Launches kvq_dequantize_vec, or kvq_vector_errors_codes against x when x
 * is set (doc/kernels.md §3.1): KVQ_QJL_VECS vectors per work-item, bits
 * compiled in. */
static int dequantize_vec(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem norms,
                          cl_mem gammas, size_t count, int inverse, int with_qjl, cl_mem x,
                          cl_mem out)
{
    cl_kernel k;
    int st;
    char opts[64];
    snprintf(opts, sizeof opts, "-DKVQ_D=%d -DKVQ_LB=%d", d->dim, d->bits);
    KVQ_TRY(st, kvq__rt_kernel(ctx, "common+quantize", opts,
                               x ? "kvq_vector_errors_codes" : "kvq_dequantize_vec", &k));
    cl_uint rounds = (cl_uint)d->rounds, inv = (cl_uint)inverse, words = (cl_uint)d->words;
    cl_uint m = with_qjl ? (cl_uint)d->m : 0, n = (cl_uint)count;
    cl_mem s = d->s ? d->s : d->signs, g = gammas ? gammas : norms;
    float scale = d->qjl_scale;
    /* the two kernels' arguments differ only in inverse (dequantize) and x (errors) */
    kvq__arg a[14] = {{sizeof codes, &codes}, {sizeof norms, &norms}, {sizeof g, &g},
                      {sizeof d->centroids, &d->centroids}, {sizeof d->signs, &d->signs},
                      {4, &rounds}};
    size_t na = 6;
    if (!x)
        a[na++] = (kvq__arg){4, &inv};
    a[na++] = (kvq__arg){sizeof s, &s};
    a[na++] = (kvq__arg){4, &m};
    a[na++] = (kvq__arg){4, &words};
    a[na++] = (kvq__arg){4, &scale};
    a[na++] = (kvq__arg){4, &n};
    if (x)
        a[na++] = (kvq__arg){sizeof x, &x};
    a[na++] = (kvq__arg){sizeof out, &out};
    st = kvq__dev_run_vectors(ctx, k, a, na, qjl_items(count));
cleanup:
    return st;
}

int kvq__dev_recon_rot(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem norms,
                      size_t count, cl_mem out)
{
    cl_kernel k;
    int st;
    if (dequantize_fused(ctx, d, 0))
        return dequantize_vec(ctx, d, codes, norms, NULL, count, 0, 0, NULL, out);
    cl_uint bits = (cl_uint)d->bits, words = (cl_uint)d->words, n = (cl_uint)count;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "quantize", d->dim, "kvq_dequantize_rot", &k));
    kvq__arg a[] = {{sizeof codes, &codes}, {sizeof norms, &norms},
                   {sizeof d->centroids, &d->centroids}, {sizeof bits, &bits},
                   {sizeof words, &words}, {sizeof n, &n}, {sizeof out, &out}};
    st = kvq__dev_run_coords(ctx, k, a, sizeof a / sizeof a[0], d->dim, count);
cleanup:
    return st;
}

int kvq__dev_errors_from_codes(const kvq_ctx *ctx, const kvq__dev_codec *d)
{
    return dequantize_fused(ctx, d, 1);
}

int kvq__dev_vector_errors_codes(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes,
                                 cl_mem norms, cl_mem gammas, cl_mem x, size_t count,
                                 cl_mem err)
{
    return dequantize_vec(ctx, d, codes, norms, gammas, count, 1, 1, x, err);
}

int kvq__dev_signs_dense(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem gammas,
                        size_t count, float scale, cl_mem out)
{
    cl_kernel k;
    int st;
    cl_uint bits = (cl_uint)d->bits, words = (cl_uint)d->words, n = (cl_uint)count;
    cl_uint m = (cl_uint)d->m;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "quantize", d->dim, "kvq_signs_dense", &k));
    kvq__arg a[] = {{sizeof codes, &codes}, {sizeof gammas, &gammas}, {sizeof bits, &bits},
                   {sizeof m, &m}, {sizeof words, &words}, {sizeof n, &n},
                   {sizeof scale, &scale}, {sizeof out, &out}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    size_t g[2] = {(size_t)d->m, count};
    st = kvq__dev_launch(ctx, k, 2, g, NULL);
cleanup:
    return st;
}

/* x̂ += κ·γ·Sᵀz by the vector kernel, KVQ_QJL_VECS vectors per work-item
 * (CPU path). */
static int qjl_add_vec(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem gammas,
                       size_t count, cl_mem xhat)
{
    cl_kernel k;
    int st;
    cl_uint bits = (cl_uint)d->bits, m = (cl_uint)d->m, words = (cl_uint)d->words;
    cl_uint n = (cl_uint)count;
    float scale = d->qjl_scale;
    KVQ_TRY(st, kvq__dev_kernel(ctx, "quantize", d->dim, "kvq_qjl_add_vec", &k));
    kvq__arg a[] = {{sizeof codes, &codes}, {sizeof gammas, &gammas}, {sizeof bits, &bits},
                   {sizeof m, &m}, {sizeof words, &words}, {sizeof n, &n},
                   {sizeof scale, &scale}, {sizeof d->s, &d->s}, {sizeof xhat, &xhat}};
    KVQ_TRY(st, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    size_t g = qjl_items(count);
    st = kvq__dev_launch(ctx, k, 1, &g, NULL);
cleanup:
    return st;
}

int kvq__dev_dequantize(kvq_ctx *ctx, const kvq__dev_codec *d, cl_mem codes, cl_mem norms,
                       cl_mem gammas, size_t count, cl_mem xhat)
{
    cl_mem zg = NULL;
    int st;
    if (kvq__dev_select(ctx, KVQ_OP_DEQUANTIZE, d) == KVQ_VARIANT_FORMAT)
        return kvq__dev_format_dequantize(ctx, d, codes, gammas, count, xhat);
    if (dequantize_fused(ctx, d, 1))
        return dequantize_vec(ctx, d, codes, norms, gammas, count, 1, 1, NULL, xhat);
    KVQ_TRY(st, kvq__dev_recon_rot(ctx, d, codes, norms, count, xhat));
    KVQ_TRY(st, kvq__dev_rotate(ctx, d, xhat, count, 1, 1.0f));
    if (!d->m)
        goto cleanup;
    if (kvq__dev_select(ctx, KVQ_OP_DEQUANTIZE, d) == KVQ_VARIANT_VECTOR) {
        st = qjl_add_vec(ctx, d, codes, gammas, count, xhat);
        goto cleanup;
    }
    KVQ_TRY(st, kvq__pool_acquire(ctx, count * d->m * sizeof(float), &zg));
    KVQ_TRY(st, kvq__dev_signs_dense(ctx, d, codes, gammas, count, d->qjl_scale, zg));
    /* x̂ += (scale·γ∘Z) · S, a GEMM (the portable path: fast on GPUs) */
    st = kvq__blas_sgemm(ctx, 0, 0, count, (size_t)d->dim, (size_t)d->m, 1.0f, zg, (size_t)d->m,
                        d->s, (size_t)d->dim, 1.0f, xhat, (size_t)d->dim);
cleanup:
    kvq__pool_release(ctx, zg);
    return st;
}

/* A float is NaN or ±Inf when its exponent bits are all ones. Blocks of 64
 * are ORed without branches, which the compiler turns into vector code
 * (isfinite per element cost a quarter of a millisecond per scheme of the
 * main job). */
int kvq__floats_finite(const float *x, size_t n)
{
    const uint32_t exp_mask = 0x7f800000u;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t u[64], bad = 0;
        memcpy(u, x + i, sizeof u);
        for (int j = 0; j < 64; j++)
            bad |= (uint32_t)((u[j] & exp_mask) == exp_mask);
        if (bad)
            return 0;
    }
    for (; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

static int check_finite(const float *x, size_t n)
{
    return kvq__floats_finite(x, n) ? KVQ_OK : KVQ_ERR_NONFINITE;
}

/* Like the host codec: a norm or γ that the side format cannot hold (16-bit
 * side information overflows above 65504) is KVQ_ERR_UNSUPPORTED. */
static int check_side(const kvq_qtensor *t, size_t count, int has_qjl)
{
    int st = check_finite(t->norms, count);
    if (!st && has_qjl)
        st = check_finite(t->gammas, count);
    return st ? KVQ_ERR_UNSUPPORTED : KVQ_OK;
}

/* kvq__cl_quantize and kvq__cl_dequantize as the out stage's part callbacks. */
static int part_quantize(void *ctx, const kvq_codec *part, const float *x, size_t count,
                         kvq_qtensor *out)
{
    return kvq__cl_quantize(ctx, part, x, count, out);
}

static int part_dequantize(void *ctx, const kvq_codec *part, const kvq_qtensor *t, float *xhat)
{
    return kvq__cl_dequantize(ctx, part, t, xhat);
}

/* Quantizes count host vectors (count × dim floats) with codec into out;
 * an array an open trial holds on the device is read from there. */
int kvq__cl_quantize(kvq_ctx *ctx, const kvq_codec *c, const float *x, size_t count,
                    kvq_qtensor *out)
{
    kvq__dev_codec d = {0};
    cl_mem xb = NULL, codes = NULL, norms = NULL, gammas = NULL, held;
    int st, finite;
    size_t dim = (size_t)kvq_codec_dim(c), tside = kvq__codec_tside_words(c, count);

    if (!out || out->count < count || out->words != kvq__codec_words(c))
        return KVQ_ERR_INVALID_ARG;
    /* out<c>@<b2>: the channel list and the split as on the host (a function
     * of the data alone), each part through the kernels (doc/schemes.md §7.4) */
    if (kvq__codec_kparams_get(c)->out_channels)
        return kvq__out_quantize_by(c, x, count, out, part_quantize, ctx);
    held = kvq__dev_mirror_find(ctx, x, count * dim, &finite);
    if (held && !finite)
        return KVQ_ERR_NONFINITE;
    if (!held)
        KVQ_TRY(st, check_finite(x, count * dim));
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, c, &d));
    if (!held)
        KVQ_TRY(st, kvq__dev_upload(ctx, x, count * dim * sizeof(float), &xb));
    KVQ_TRY(st, kvq__pool_acquire(ctx, count * d.words * sizeof(cl_uint), &codes));
    KVQ_TRY(st, kvq__pool_acquire(ctx, count * sizeof(float), &norms));
    /* γ, or a format's tensor-level side words (KIVI), in one buffer */
    KVQ_TRY(st, kvq__pool_acquire(ctx, (count > tside ? count : tside) * 4, &gammas));
    KVQ_TRY(st, kvq__dev_quantize(ctx, &d, held ? held : xb, count, codes, norms, gammas));
    KVQ_TRY(st, kvq__dev_download_then(ctx, codes, 0, out->codes,
                                      count * d.words * sizeof(cl_uint)));
    if (d.m)
        KVQ_TRY(st, kvq__dev_download_then(ctx, gammas, 0, out->gammas, count * sizeof(float)));
    if (tside)
        KVQ_TRY(st, kvq__dev_download_then(ctx, gammas, 0, out->tside, tside * 4));
    KVQ_TRY(st, kvq__dev_download(ctx, norms, 0, out->norms, count * sizeof(float)));
    st = check_side(out, count, d.m);
cleanup:
    if (st)     /* reads into out may still be queued: the caller may free it */
        kvq__dev_wait(ctx);
    kvq__pool_release(ctx, xb);
    kvq__pool_release(ctx, codes);
    kvq__pool_release(ctx, norms);
    kvq__pool_release(ctx, gammas);
    kvq__dev_codec_release(ctx, &d);
    return st;
}

/* Uploads the side buffer of n vectors of t: γ with QJL, a format's
 * tensor-level side words (KIVI), else a dummy of n floats. */
int kvq__dev_upload_side(kvq_ctx *ctx, const kvq_qtensor *t, size_t n, int has_qjl, cl_mem *out)
{
    if (has_qjl)
        return kvq__dev_upload(ctx, t->gammas, n * sizeof(float), out);
    if (t->tside)
        return kvq__dev_upload(ctx, t->tside, t->tside_words * 4, out);
    return kvq__dev_upload(ctx, NULL, n * sizeof(float), out);
}

/* Reconstructs x̂ (count × dim host floats) from a quantized tensor. */
int kvq__cl_dequantize(kvq_ctx *ctx, const kvq_codec *c, const kvq_qtensor *t, float *xhat)
{
    kvq__dev_codec d = {0};
    cl_mem codes = NULL, norms = NULL, gammas = NULL, xb = NULL;
    int st;
    size_t n = t->count, dim = (size_t)kvq_codec_dim(c);

    if (kvq__codec_kparams_get(c)->out_channels)
        return kvq__out_dequantize_by(c, t, xhat, part_dequantize, ctx);
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, c, &d));
    KVQ_TRY(st, kvq__dev_upload(ctx, t->codes, n * d.words * sizeof(cl_uint), &codes));
    KVQ_TRY(st, kvq__dev_upload(ctx, t->norms, n * sizeof(float), &norms));
    KVQ_TRY(st, kvq__dev_upload_side(ctx, t, n, d.m, &gammas));
    KVQ_TRY(st, kvq__pool_acquire(ctx, n * dim * sizeof(float), &xb));
    KVQ_TRY(st, kvq__dev_dequantize(ctx, &d, codes, norms, gammas, n, xb));
    st = kvq__dev_download(ctx, xb, 0, xhat, n * dim * sizeof(float));
cleanup:
    kvq__pool_release(ctx, codes);
    kvq__pool_release(ctx, norms);
    kvq__pool_release(ctx, gammas);
    kvq__pool_release(ctx, xb);
    kvq__dev_codec_release(ctx, &d);
    return st;
}

/* x ← R x (or Rᵀ x when inverse) for count host vectors, batched. */
int kvq__cl_rotate(kvq_ctx *ctx, const kvq_rotation *r, float *x, size_t count, int inverse)
{
    kvq__dev_codec d = {.dim = kvq_rotation_dim(r)};
    size_t bytes = count * (size_t)d.dim * sizeof(float);
    cl_mem xb = NULL;
    int st;
    KVQ_TRY(st, upload_rotation(ctx, r, &d));
    KVQ_TRY(st, kvq__dev_upload(ctx, x, bytes, &xb));
    KVQ_TRY(st, kvq__dev_rotate(ctx, &d, xb, count, inverse, 1.0f));
    st = kvq__dev_download(ctx, xb, 0, x, bytes);
cleanup:
    kvq__dev_codec_release(ctx, &d);
    kvq__pool_release(ctx, xb);
    return st;
}
