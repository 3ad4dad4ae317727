/* philox.c — Philox4x32-10 and the counter-based streams built on it (doc/quantization.md §2). */
/* config.h says whether libmvec was found; the fuzz targets build this file
 * alone, without it, and take the scalar normals. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

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

/* Blocks b … b + KVQ__PHILOX_LANES − 1 of stream (seed's key, purpose,
 * trial), block by block (4 words each) into out: the portable batch. */
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

/* On x86-64 CPUs with AVX-512 the batches run through intrinsics instead,
 * picked once at run time. The compiler's version of the lane loop above
 * multiplies with vpmullq (a 64-bit product: three µops, ~15 cycles of
 * latency) and keeps one batch in flight, so each round waits on the last;
 * here the 32×32→64 products are vpmuludq on the even and the odd lanes, and
 * KVQ__AVX512_BATCHES batches advance together to hide the latency (7.3 →
 * 1.9 ns per block on the development machine). Integer operations only:
 * the same words as the portable loop. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KVQ__AVX512_BATCHES 8
#define KVQ__AVX512 __attribute__((target("avx512f")))

/* High and low 32-bit halves of the 16 lane products a · m: vpmuludq on the
 * even lanes and on the odd ones (moved down), then each half put back in
 * its lane by one masked swap of neighbouring words. */
KVQ__AVX512 static inline void mul_hilo(__m512i a, __m512i m, __m512i *hi, __m512i *lo)
{
    __m512i even_p = _mm512_mul_epu32(a, m);                          /* lanes 0, 2, … */
    __m512i odd_p = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);   /* lanes 1, 3, … */
    *hi = _mm512_mask_shuffle_epi32(odd_p, 0x5555, even_p, _MM_PERM_CDAB);
    *lo = _mm512_mask_shuffle_epi32(even_p, 0xAAAA, odd_p, _MM_PERM_CDAB);
}

/* The 4 × 16 words of one batch, word-major in c[0..3], block-major into out. */
KVQ__AVX512 static inline void store_blocks(const __m512i c[4], uint32_t *out)
{
    __m512i t0 = _mm512_unpacklo_epi32(c[0], c[1]), t1 = _mm512_unpackhi_epi32(c[0], c[1]);
    __m512i t2 = _mm512_unpacklo_epi32(c[2], c[3]), t3 = _mm512_unpackhi_epi32(c[2], c[3]);
    /* u_k: block 4j + k in 128-bit lane j */
    __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
    __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
    _mm512_storeu_si512(out, _mm512_shuffle_i32x4(v0, v1, 0x88));
    _mm512_storeu_si512(out + 16, _mm512_shuffle_i32x4(v0, v1, 0xDD));
    _mm512_storeu_si512(out + 32, _mm512_shuffle_i32x4(v2, v3, 0x88));
    _mm512_storeu_si512(out + 48, _mm512_shuffle_i32x4(v2, v3, 0xDD));
}

/* KVQ__AVX512_BATCHES · 16 blocks from block b on. */
KVQ__AVX512 static void avx512_blocks(const uint32_t key[2], uint32_t purpose, uint32_t trial,
                                      uint64_t b, uint32_t *out)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1);
    __m512i c[KVQ__AVX512_BATCHES][4];
    for (int j = 0; j < KVQ__AVX512_BATCHES; j++) {
        uint64_t first = b + 16u * (uint64_t)j;
        __m512i lo = _mm512_set1_epi32((int)(uint32_t)first);
        c[j][0] = _mm512_add_epi32(lo, iota);
        /* the counter's high word, plus the carry out of the low one */
        __mmask16 carry = _mm512_cmplt_epu32_mask(c[j][0], lo);
        __m512i hi = _mm512_set1_epi32((int)(uint32_t)(first >> 32));
        c[j][1] = _mm512_mask_add_epi32(hi, carry, hi, _mm512_set1_epi32(1));
        c[j][2] = _mm512_set1_epi32((int)trial);
        c[j][3] = _mm512_set1_epi32((int)purpose);
    }
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        const __m512i vk0 = _mm512_set1_epi32((int)k0), vk1 = _mm512_set1_epi32((int)k1);
        for (int j = 0; j < KVQ__AVX512_BATCHES; j++) {
            __m512i hi0, lo0, hi1, lo1;
            mul_hilo(c[j][0], m0, &hi0, &lo0);
            mul_hilo(c[j][2], m1, &hi1, &lo1);
            c[j][0] = _mm512_ternarylogic_epi32(hi1, c[j][1], vk0, 0x96);   /* a ^ b ^ c */
            c[j][2] = _mm512_ternarylogic_epi32(hi0, c[j][3], vk1, 0x96);
            c[j][1] = lo1;
            c[j][3] = lo0;
        }
    }
    for (int j = 0; j < KVQ__AVX512_BATCHES; j++)
        store_blocks(c[j], out + 64 * j);
}

/* Whether this CPU runs avx512_blocks (asked once). */
static int use_avx512(void)
{
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return known;
}
#define KVQ__WIDE_BLOCKS (16 * KVQ__AVX512_BATCHES)
#endif

/* Blocks first … first + nblocks − 1: wide batches where the CPU has them
 * (the last through a scratch buffer when two lane batches or more are
 * left: one wide batch costs about what two lane batches do),
 * then KVQ__PHILOX_LANES at a time; a short last batch goes through a
 * scratch buffer. */
void kvq__core_blocks(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t first,
                      size_t nblocks, uint32_t *out)
{
    uint32_t key[2], tail[4 * KVQ__PHILOX_LANES];
    stream_key(seed, key);
    size_t done = 0;
#ifdef KVQ__WIDE_BLOCKS
    if (nblocks >= KVQ__PHILOX_LANES && use_avx512()) {
        for (; nblocks - done >= KVQ__WIDE_BLOCKS; done += KVQ__WIDE_BLOCKS)
            avx512_blocks(key, purpose, trial, first + done, out + 4 * done);
        if (nblocks - done >= 2 * KVQ__PHILOX_LANES) {
            uint32_t wide[4 * KVQ__WIDE_BLOCKS];
            avx512_blocks(key, purpose, trial, first + done, wide);
            memcpy(out + 4 * done, wide, 4 * (nblocks - done) * sizeof *out);
            return;
        }
    }
#endif
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

/* Normals from word pairs: out[i] = kvq__core_normal(w[2i], w[2i + 1]). */
static void normals_scalar(const uint32_t *w, float *out, size_t k)
{
    for (size_t i = 0; i < k; i++)
        out[i] = (float)kvq__core_normal(w[2 * i], w[2 * i + 1]);
}

#if defined(KVQ__WIDE_BLOCKS) && defined(HAVE_LIBMVEC)
/* glibc's libmvec: log and cos of 8 doubles with AVX-512 (a few ulp). */
__m512d _ZGVeN8v_cos(__m512d x);
__m512d _ZGVeN8v_log(__m512d x);

/* (w + 0.5)·2^-32 of 8 words, exactly as kvq__core_uniform. */
KVQ__AVX512 static inline __m512d uniform8(__m256i w)
{
    return _mm512_mul_pd(_mm512_add_pd(_mm512_cvtepu32_pd(w), _mm512_set1_pd(0.5)),
                         _mm512_set1_pd(1.0 / 4294967296.0));
}

/* normals_scalar, 8 at a time through libmvec, with the same floats: the
 * vector log and cos are off from glibc's scalar ones by a few ulp, so the
 * double r differs from the scalar path's by far less than KVQ__NORMAL_TOL
 * relative. Rounding to float is monotone, so when r·(1 − tol) and
 * r·(1 + tol) round to the same float, so does every value between them,
 * the scalar path's r included; a lane where they do not (a few in 10^5,
 * r within 2^-40 of a rounding boundary) is recomputed by the scalar path. */
#define KVQ__NORMAL_TOL 0x1p-40
KVQ__AVX512 static void normals_avx512(const uint32_t *w, float *out, size_t k)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m512d lo = _mm512_set1_pd(1.0 - KVQ__NORMAL_TOL), hi = _mm512_set1_pd(1.0 + KVQ__NORMAL_TOL);
    size_t i = 0;
    for (; i + 8 <= k; i += 8) {
        /* words 2i … 2i + 15: the u1 words to the low half, the u2 words high */
        __m512i ww = _mm512_permutexvar_epi32(even, _mm512_loadu_si512(w + 2 * i));
        __m512d u1 = uniform8(_mm512_castsi512_si256(ww));
        __m512d u2 = uniform8(_mm512_extracti64x4_epi64(ww, 1));
        __m512d rad = _mm512_sqrt_pd(_mm512_mul_pd(_mm512_set1_pd(-2.0), _ZGVeN8v_log(u1)));
        __m512d r = _mm512_mul_pd(rad, _ZGVeN8v_cos(_mm512_mul_pd(_mm512_set1_pd(KVQ_TWO_PI), u2)));
        __m256 f = _mm512_cvtpd_ps(r);
        __m256 flo = _mm512_cvtpd_ps(_mm512_mul_pd(r, lo)), fhi = _mm512_cvtpd_ps(_mm512_mul_pd(r, hi));
        _mm256_storeu_ps(out + i, f);
        __mmask8 unsure = (__mmask8)~_mm512_cmp_epi32_mask(
            _mm512_castsi256_si512(_mm256_castps_si256(flo)),
            _mm512_castsi256_si512(_mm256_castps_si256(fhi)), _MM_CMPINT_EQ);
        for (int l = 0; l < 8; l++)
            if (unsure >> l & 1)
                normals_scalar(w + 2 * (i + l), out + i + l, 1);
    }
    normals_scalar(w + 2 * i, out + i, k - i);
}
#endif

/* normals_scalar by the fastest path this CPU has. */
static void normals_from_words(const uint32_t *w, float *out, size_t k)
{
#if defined(KVQ__WIDE_BLOCKS) && defined(HAVE_LIBMVEC)
    if (use_avx512()) {
        normals_avx512(w, out, k);
        return;
    }
#endif
    normals_scalar(w, out, k);
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
        size_t k = (end < n ? end : n) - e;
        normals_from_words(w + (size_t)(2 * (first + e) - 4 * b), out + e, k);
        e += k;
    }
}
