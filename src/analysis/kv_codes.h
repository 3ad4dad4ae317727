/* kv_codes.h — a scheme's K and V codecs and the codes of one (K, V) pair:
 * what the experiment runner, `kvq compare` and the attention conformance
 * test each build before they run attention (internal; hidden in libkvq). */
#ifndef KVQ_ANALYSIS_KV_CODES_H
#define KVQ_ANALYSIS_KV_CODES_H

#include <stddef.h>
#include <stdint.h>

#include "kvq.h"
#include "core/core.h"
#include "base/rows.h"

/* The codecs of K and V and their codes. */
typedef struct kvq__kv_codes {
    kvq_codec *k_codec, *v_codec;
    kvq_qtensor k_codes, v_codes;
} kvq__kv_codes;

/* Creates scheme s's codecs at dim (K from stream 0, V from stream 1, both
 * for trial) and quantizes keys rows of k and v with them: on ctx, or with
 * the host reference codec when ctx is NULL. Returns a kvq status; c must
 * be freed with kvq__kv_codes_free either way. */
int kvq__kv_codes_make(kvq__kv_codes *c, kvq_ctx *ctx, const kvq_scheme *s, int dim,
                      uint64_t seed, uint32_t trial, const float *k, const float *v, size_t keys);

/* The same with K and V read from row sources, quantized one key chunk at
 * a time (doc/scaling.md §6); ctx is required. */
int kvq__kv_codes_make_rows(kvq__kv_codes *c, kvq_ctx *ctx, const kvq_scheme *s, int dim,
                           uint64_t seed, uint32_t trial, const kvq__rows *k,
                           const kvq__rows *v);

/* kvq__kv_codes_make_rows, taking K's codes as a copy of k_from and V's of
 * v_from where they are not NULL: the codes an earlier scheme of the same
 * trial made with a codec of the same spec, which are these codes bit for
 * bit (the codec's randomness is a function of seed, tensor and trial). */
int kvq__kv_codes_make_reusing(kvq__kv_codes *c, kvq_ctx *ctx, const kvq_scheme *s, int dim,
                              uint64_t seed, uint32_t trial, const kvq__rows *k,
                              const kvq__rows *v, const kvq_qtensor *k_from,
                              const kvq_qtensor *v_from);

/* Frees the codecs and codes (a zeroed c is fine). */
void kvq__kv_codes_free(kvq__kv_codes *c);

#endif
