/* select.c — which kernel variant each operation runs, and how large a
 * work-group may be, from the context's capabilities (device limits capped
 * by KVQ_DEVICE_LIMITS) and options (KVQ_PORTABLE_KERNELS). */
#include "config.h"

#include <stdio.h>

#include "device/device.h"

/* The vector kernels hold a vector in dim/16 float16 registers; the rotation
 * kernels also run the Hadamard butterfly over them, which needs a power of two
 * (the dense rotation is a GEMM and takes neither kernel). */
static int whole_registers(const kvq__dev_codec *d)
{
    return d->dim % 16 == 0;
}

static int butterfly_registers(const kvq__dev_codec *d)
{
    return whole_registers(d) && (d->dim & (d->dim - 1)) == 0;
}

/* kvq_logits_codes_vec reads whole 32-bit plane words and, up to 6 bits,
 * takes C[idx] from the positive half of a symmetric codebook. */
static int logits_vec_fits(const kvq__dev_codec *d)
{
    return d->dim % 32 == 0 && (d->bits == 0 || d->bits > 6 || d->symmetric);
}

int kvq__dev_rotation_as_matrix(int dim)
{
    /* At d = 1 (an out<c>@<b2> part of one channel) the butterfly has no
     * step and kvq_rotate no work-item (dim/2 = 0), and the matrix is one
     * number: a 1 × 1 GEMM, and common.cl leaves out the sign rounds. */
    return dim < 2;
}

/* kvq_logits_lut decodes nibbles of whole plane words, 32/d·16 keys to a
 * vector (so d/32 divides 16), and reads QJL signs in whole words; 5 and 6
 * bits take the sign and magnitude of a symmetric codebook. */
static int logits_table_fits(const kvq__dev_codec *d)
{
    return d->dim % 32 == 0 && 16 % (d->dim / 32) == 0 && d->m % 32 == 0 &&
           (d->bits <= 4 || (d->bits <= 6 && d->symmetric));
}

/* kvq_rotate holds the vector in local memory. */
static size_t rotate_local(const kvq__dev_codec *d)
{
    return (size_t)d->dim * sizeof(float);
}

size_t kvq__dev_quantize_local(const kvq__dev_codec *d)
{
    return 3 * (size_t)d->dim * sizeof(float) + (size_t)(d->m ? d->m : 1) * sizeof(cl_uint);
}

/* The work-group variant uses no local memory. */
static size_t no_local(const kvq__dev_codec *d)
{
    (void)d;
    return 0;
}

/* Per operation: when its vector kernel applies, and the local memory its
 * work-group kernel needs with one work-item (fixed buffers + scratch). */
typedef struct variant_rule {
    int (*vector_fits)(const kvq__dev_codec *d);
    size_t (*group_local)(const kvq__dev_codec *d);
    size_t scratch_per_item;
} variant_rule;

static const variant_rule rules[KVQ_OP_COUNT] = {
    [KVQ_OP_ROTATE] = {butterfly_registers, rotate_local, 0},
    [KVQ_OP_QUANTIZE] = {whole_registers, kvq__dev_quantize_local, sizeof(float)},
    [KVQ_OP_DEQUANTIZE] = {whole_registers, no_local, 0},
    [KVQ_OP_LOGITS] = {logits_vec_fits, no_local, 0},
};

kvq_variant kvq__dev_select(const kvq_ctx *ctx, kvq__dev_op op, const kvq__dev_codec *d)
{
    const variant_rule *r = &rules[op];
    /* a deployed format has its own kernels; its rotation is the identity */
    if (d->format && op != KVQ_OP_ROTATE)
        return KVQ_VARIANT_FORMAT;
    if (!r->vector_fits(d))
        return KVQ_VARIANT_GROUP;
    if (ctx->caps.vector_kernels)
        return op == KVQ_OP_LOGITS && logits_table_fits(d) ? KVQ_VARIANT_TABLE
                                                           : KVQ_VARIANT_VECTOR;
    /* a work-group kernel whose buffers exceed local memory cannot run; the
     * vector kernel needs none, so it is slower on a GPU but correct */
    size_t need = r->group_local(d) + r->scratch_per_item;
    if (ctx->caps.local_mem && need > ctx->caps.local_mem)
        return KVQ_VARIANT_VECTOR;
    return KVQ_VARIANT_GROUP;
}

/* kvq_format_logits_vec reads whole code words: blocks of 32 always fill
 * them, fp8 and fp16 codes when d is a multiple of 4, KIVI's bit planes
 * when d is a multiple of 32. */
int kvq__dev_format_logits_vec(const kvq_ctx *ctx, const kvq__dev_codec *d)
{
    int whole = d->block_params > 0 || d->dim % (d->format == KVQ_FORMAT_KIVI ? 32 : 4) == 0;
    return ctx->caps.vector_kernels && whole;
}

/* kvq_format_quantize_vec and kvq_format_dequantize_vec step through 16
 * coordinates of fp8, fp16 or KIVI at a time (the block formats keep their
 * kernels). */
int kvq__dev_format_vec16(const kvq_ctx *ctx, const kvq__dev_codec *d)
{
    return ctx->caps.vector_kernels && d->format && d->block_params == 0 && d->dim % 16 == 0;
}

/* A GPU wants many work-items per query; on a CPU each work-item already
 * steps through its row in float16 registers, so one per query needs no
 * reduction trees or top-k merges at all. */
size_t kvq__dev_row_group(const kvq_ctx *ctx)
{
    return ctx->caps.vector_kernels ? 1 : 256;
}

/* CLBlast's untuned kernels reach a few GFLOP/s on a CPU, a host CBLAS
 * tens of them on the same buffers, which a CPU device keeps in host
 * memory (doc/metrics.md §4.2). */
int kvq__dev_host_blas(const kvq_ctx *ctx)
{
#ifdef HAVE_CBLAS
    return ctx->caps.vector_kernels;
#else
    (void)ctx;
    return 0;
#endif
}

size_t kvq__dev_group(kvq_ctx *ctx, cl_kernel k, size_t want)
{
    return kvq__rt_wg_size(ctx, k, want > 256 ? 256 : want);
}

size_t kvq__dev_group_local(kvq_ctx *ctx, cl_kernel k, size_t want, size_t fixed,
                           size_t per_item)
{
    size_t ls = kvq__dev_group(ctx, k, want);
    uint64_t limit = ctx->caps.local_mem;
    if (!limit)
        return ls;
    while (ls > 1 && fixed + ls * per_item > limit)
        ls /= 2;
    return fixed + ls * per_item <= limit ? ls : 0;
}

int kvq__dev_no_local(const kvq_ctx *ctx, const char *kernel, size_t bytes)
{
    char why[160];
    snprintf(why, sizeof why, "%s needs %zu bytes of local memory; the device offers %llu",
             kernel, bytes, (unsigned long long)ctx->caps.local_mem);
    return kvq__rt_explain(KVQ_ERR_UNSUPPORTED, why);
}
