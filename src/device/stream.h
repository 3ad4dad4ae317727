/* stream.h — quantization and attention over K and V whose rows come from
 * a row source (base/rows.h) rather than one array: the work runs in key
 * chunks, so a context of millions of keys needs memory for its codes and
 * one chunk, not for fp32 K and V (doc/scaling.md §6). No OpenCL types. */
#ifndef KVQ_DEVICE_STREAM_H
#define KVQ_DEVICE_STREAM_H

#include "kvq.h"
#include "base/rows.h"

/* Fp32 bytes of K (or V) that one key chunk holds at most, unless
 * $KVQ_CHUNK_KEYS asks for another size. */
#define KVQ_CHUNK_BYTES ((size_t)64 << 20)

/* K and V together up to this many fp32 bytes are held whole in host
 * memory; larger ones are made or read chunk by chunk. */
#define KVQ_WHOLE_BYTES ((size_t)1 << 30)

/* $KVQ_CHUNK_KEYS as the context read it (0: not set). */
size_t kvq__ctx_chunk_keys(const kvq_ctx *ctx);
/* Keys per chunk on ctx for head dimension dim and token groups g (a chunk
 * starts at a multiple of g): $KVQ_CHUNK_KEYS when set, else
 * KVQ_CHUNK_BYTES of fp32 rows, rounded down to a multiple of g (at least g). */
size_t kvq__chunk_rows(const kvq_ctx *ctx, int dim, size_t g);
/* kvq_quantize of every row of x into out (out->count ≥ x->count), one
 * chunk at a time; a codec whose codes depend on the whole tensor (the out
 * stage) gets the whole tensor at once, read into memory if need be. */
int kvq__quantize_rows(kvq_ctx *ctx, const kvq_codec *c, const kvq__rows *x, kvq_qtensor *out);
/* kvq_attention_run with K and V read from k and v (job->k and job->v are
 * not used and may be NULL). */
int kvq__attention_rows(kvq_ctx *ctx, const kvq_attention_job *job, const kvq__rows *k,
                        const kvq__rows *v, kvq_attention_out *out);

#endif
