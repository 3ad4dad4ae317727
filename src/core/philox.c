/* philox.c — Philox4x32-10 and the counter-based streams built on it (doc/quantization.md §2). */
#include <math.h>

#include "kvq.h"
#include "core/core.h"

enum {
    PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u,  /* round multipliers */
    PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u   /* key schedule (Weyl) */
};

/* One Philox round: two 32×32→64 products mixed with the other words and the key. */
static void philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k[0];
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = (uint32_t)p1;
    c[2] = n2;
    c[3] = (uint32_t)p0;
}

/* Ten rounds, bumping the key between rounds. */
void kvq__philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    for (int i = 0; i < 4; i++)
        out[i] = c[i];
}

/* The Philox block b of stream (seed, purpose, trial). */
void kvq__core_block(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t b,
                    uint32_t out[4])
{
    const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), trial, purpose};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
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

/* Element e from words 2(first+e), 2(first+e)+1: both lie in one block. */
void kvq__rng_fill_normal(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t first,
                         float *out, size_t n)
{
    uint32_t blk[4];
    uint64_t have = UINT64_MAX;    /* block index held in blk */
    for (size_t e = 0; e < n; e++) {
        uint64_t w = 2 * (first + e);
        if (w >> 2 != have) {
            have = w >> 2;
            kvq__core_block(seed, purpose, trial, have, blk);
        }
        out[e] = (float)kvq__core_normal(blk[w & 3], blk[(w & 3) + 1]);
    }
}
