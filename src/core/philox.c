/* philox.c — Philox4x32-10 and the counter-based streams built on it (doc/quantization.md §2). */
#include <math.h>
#include <string.h>

#include "kvq.h"
#include "core/core.h"

enum {
    PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u,  /* round multipliers */
    PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u   /* key schedule (Weyl) */
};

/* Ten Philox rounds, bumping the key between rounds, on `lanes` independent
 * counters held word by word in c0..c3 (lane l is counter {c0[l], c1[l],
 * c2[l], c3[l]}). Inlined both for one counter and for a batch of
 * KVQ__PHILOX_LANES, where the lane loop has no dependence between
 * iterations, so the compiler keeps each word of all lanes in one vector
 * register and the 32×32→64 products run several at a time. */
static inline __attribute__((always_inline)) void
philox_rounds(uint32_t *restrict c0, uint32_t *restrict c1, uint32_t *restrict c2,
              uint32_t *restrict c3, const uint32_t key[2], int lanes)
{
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        /* one round: two products mixed with the other words and the key */
        for (int l = 0; l < lanes; l++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l];
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c0[l] = n0;
            c1[l] = (uint32_t)p1;
            c2[l] = n2;
            c3[l] = (uint32_t)p0;
        }
    }
}

/* One block: the rounds on a single counter. */
void kvq__philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    philox_rounds(&c0, &c1, &c2, &c3, key, 1);
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The key of every stream of `seed`. */
static void stream_key(uint64_t seed, uint32_t key[2])
{
    key[0] = (uint32_t)seed;
    key[1] = (uint32_t)(seed >> 32);
}

/* x86-64 with glibc's ifunc: the batch gets an AVX-512 clone, picked at load
 * time on CPUs that have it (products of 16 lanes in one instruction,
 * ~1.5× the SSE2 default here); elsewhere the portable loop alone. Integer
 * operations only, so every clone gives the same words. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define KVQ__LANES_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
#endif
#ifndef KVQ__LANES_CLONES
#define KVQ__LANES_CLONES
#endif

/* Blocks b … b + KVQ__PHILOX_LANES − 1 of stream (seed's key, purpose,
 * trial), block by block (4 words each) into out. */
KVQ__LANES_CLONES
static void lane_blocks(const uint32_t key[2], uint32_t purpose, uint32_t trial, uint64_t b,
                        uint32_t out[4 * KVQ__PHILOX_LANES])
{
    uint32_t c0[KVQ__PHILOX_LANES], c1[KVQ__PHILOX_LANES], c2[KVQ__PHILOX_LANES],
        c3[KVQ__PHILOX_LANES];
    for (int l = 0; l < KVQ__PHILOX_LANES; l++) {
        c0[l] = (uint32_t)(b + (uint64_t)l);
        c1[l] = (uint32_t)((b + (uint64_t)l) >> 32);
        c2[l] = trial;
        c3[l] = purpose;
    }
    philox_rounds(c0, c1, c2, c3, key, KVQ__PHILOX_LANES);
    for (int l = 0; l < KVQ__PHILOX_LANES; l++) {
        out[4 * l] = c0[l];
        out[4 * l + 1] = c1[l];
        out[4 * l + 2] = c2[l];
        out[4 * l + 3] = c3[l];
    }
}

/* Blocks first … first + nblocks − 1, KVQ__PHILOX_LANES at a time; a
 * short last batch goes through a scratch buffer. */
void kvq__core_blocks(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t first,
                      size_t nblocks, uint32_t *out)
{
    uint32_t key[2], tail[4 * KVQ__PHILOX_LANES];
    stream_key(seed, key);
    size_t done = 0;
    for (; nblocks - done >= KVQ__PHILOX_LANES; done += KVQ__PHILOX_LANES)
        lane_blocks(key, purpose, trial, first + done, out + 4 * done);
    if (done < nblocks) {
        lane_blocks(key, purpose, trial, first + done, tail);
        memcpy(out + 4 * done, tail, 4 * (nblocks - done) * sizeof *out);
    }
}

/* The Philox block b of stream (seed, purpose, trial). */
void kvq__core_block(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t b,
                    uint32_t out[4])
{
    const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), trial, purpose};
    uint32_t key[2];
    stream_key(seed, key);
    kvq__philox4x32_10(ctr, key, out);
}

/* Word i of a stream: word i % 4 of block i / 4. */
uint32_t kvq__core_word(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t i)
{
    uint32_t out[4];
    kvq__core_block(seed, purpose, trial, i >> 2, out);
    return out[i & 3];
}

/* (u + 0.5)·2^-32: strictly inside (0, 1), so log(u) is finite. */
double kvq__core_uniform(uint32_t u)
{
    return ((double)u + 0.5) * (1.0 / 4294967296.0);
}

/* Box–Muller from two words: sqrt(-2 ln u1)·cos(2π u2). */
double kvq__core_normal(uint32_t w0, uint32_t w1)
{
    double u1 = kvq__core_uniform(w0), u2 = kvq__core_uniform(w1);
    return sqrt(-2.0 * log(u1)) * cos(KVQ_TWO_PI * u2);
}

/* Starts the stream (seed, purpose, trial) at word 0. */
void kvq__rng_init(kvq__rng *rng, uint64_t seed, uint32_t purpose, uint32_t trial)
{
    rng->seed = seed;
    rng->purpose = purpose;
    rng->trial = trial;
    rng->next = 0;
    rng->cached = UINT64_MAX;
}

/* The next 32-bit word of the stream (one Philox block per four words). */
uint32_t kvq__rng_u32(kvq__rng *rng)
{
    uint64_t i = rng->next++;
    if (i >> 2 != rng->cached) {
        rng->cached = i >> 2;
        kvq__core_block(rng->seed, rng->purpose, rng->trial, rng->cached, rng->block);
    }
    return rng->block[i & 3];
}

double kvq__rng_uniform(kvq__rng *rng)
{
    return kvq__core_uniform(kvq__rng_u32(rng));
}

/* Standard normal by Box–Muller. */
double kvq__rng_normal(kvq__rng *rng)
{
    uint32_t w0 = kvq__rng_u32(rng);
    uint32_t w1 = kvq__rng_u32(rng);
    return kvq__core_normal(w0, w1);
}

/* n words from rng's position on: the partial blocks at either end through
 * kvq__rng_u32, the whole ones in between straight into out as a batch. */
void kvq__rng_fill_u32(kvq__rng *rng, uint32_t *out, size_t n)
{
    size_t i = 0;
    for (; i < n && (rng->next & 3); i++)
        out[i] = kvq__rng_u32(rng);
    size_t whole = (n - i) / 4;
    kvq__core_blocks(rng->seed, rng->purpose, rng->trial, rng->next >> 2, whole, out + i);
    rng->next += 4 * (uint64_t)whole;
    for (i += 4 * whole; i < n; i++)
        out[i] = kvq__rng_u32(rng);
}

/* Blocks per batch of kvq__rng_fill_normal (2 normals each). */
#define FILL_NORMAL_BLOCKS 256

/* Element e from words 2(first+e), 2(first+e)+1: both lie in one block,
 * and the blocks come FILL_NORMAL_BLOCKS at a time. */
void kvq__rng_fill_normal(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t first,
                         float *out, size_t n)
{
    uint32_t w[4 * FILL_NORMAL_BLOCKS];
    for (size_t e = 0; e < n;) {
        uint64_t b = (first + e) >> 1;                 /* block of element first + e */
        uint64_t last = (first + n - 1) >> 1;
        size_t nb = last - b + 1 < FILL_NORMAL_BLOCKS ? (size_t)(last - b + 1)
                                                      : FILL_NORMAL_BLOCKS;
        kvq__core_blocks(seed, purpose, trial, b, nb, w);
        /* words of element first + e start at 2(first + e) − 4b in w */
        size_t end = (size_t)(2 * (b + nb) - first);   /* elements up to here are in w */
        for (; e < n && e < end; e++) {
            size_t o = (size_t)(2 * (first + e) - 4 * b);
            out[e] = (float)kvq__core_normal(w[o], w[o + 1]);
        }
    }
}
