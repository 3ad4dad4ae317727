/* logits.c — launcher of the table-lookup logits (cl/logits.cl,
 * doc/kernels.md §2): per-query tables, then 16 keys per work-item. */
#include <math.h>
#include <stdio.h>

#include "device/device.h"

/* Queries per register block: 16 accumulators leave room for the nibble
 * words, the table and the decoded values in AVX-512's 32 registers. */
static int query_block(size_t nq)
{
    return nq >= 16 ? 16 : nq >= 4 ? 4 : 1;
}

int kvq__dev_logits_table(kvq_ctx *ctx, const kvq__dev_codec *kc, cl_mem codes, cl_mem norms,
                          cl_mem gammas, cl_mem qr, cl_mem sq, size_t j0, size_t n, size_t nq,
                          cl_mem out)
{
    cl_kernel kt, k;
    cl_mem qt = NULL, st = NULL;
    char opts[128];
    int status;
    int qb = query_block(nq);
    size_t padded = (nq + (size_t)qb - 1) / (size_t)qb * (size_t)qb;
    snprintf(opts, sizeof opts, "-DKVQ_D=%d -DKVQ_LB=%d -DKVQ_M=%d -DKVQ_QB=%d", kc->dim,
             kc->bits, kc->m, qb);
    KVQ_TRY(status, kvq__rt_kernel(ctx, "common+logits", opts, "kvq_logits_lut_tables", &kt));
    KVQ_TRY(status, kvq__rt_kernel(ctx, "common+logits", opts, "kvq_logits_lut", &k));
    KVQ_TRY(status, kvq__pool_acquire(ctx, padded * (size_t)kc->dim * sizeof(float), &qt));
    KVQ_TRY(status, kvq__pool_acquire(ctx, (kc->m ? nq * (size_t)kc->m * 4 : 1) * sizeof(float),
                                      &st));
    cl_uint m = (cl_uint)kc->m, words = (cl_uint)kc->words, unq = (cl_uint)nq;
    cl_uint uj0 = (cl_uint)j0, un = (cl_uint)n;
    float qs = kc->qjl_scale;
    kvq__arg ta[] = {{sizeof qr, &qr}, {sizeof sq, &sq}, {4, &m}, {4, &unq}, {sizeof qt, &qt},
                    {sizeof st, &st}};
    KVQ_TRY(status, kvq__dev_args(kt, ta, sizeof ta / sizeof ta[0]));
    size_t tg[2] = {32 + (size_t)kc->m / 4, padded};
    KVQ_TRY(status, kvq__dev_launch(ctx, kt, 2, tg, NULL));
    kvq__arg a[] = {{sizeof codes, &codes}, {sizeof norms, &norms}, {sizeof gammas, &gammas},
                   {4, &words}, {sizeof(cl_mem), &kc->centroids}, {sizeof qt, &qt},
                   {sizeof st, &st}, {4, &qs}, {4, &uj0}, {4, &un}, {4, &unq},
                   {sizeof out, &out}};
    KVQ_TRY(status, kvq__dev_args(k, a, sizeof a / sizeof a[0]));
    size_t ls = kvq__dev_group(ctx, k, 16), g = ((n + 15) / 16 + ls - 1) / ls * ls;
    status = kvq__dev_launch(ctx, k, 1, &g, &ls);
cleanup:
    kvq__pool_release(ctx, qt);
    kvq__pool_release(ctx, st);
    return status;
}
