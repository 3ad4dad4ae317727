/* test_philox.c — Philox4x32-10 known answers and the stream conventions of doc/quantization.md §2. */
#include <math.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

/* Known-answer vectors of Random123 (D. E. Shaw Research), file tests/kat_vectors,
 * the three "philox4x32 10" lines: counter[4] key[2] -> output[4]. Taken from the
 * published file, not computed by this code. */
static const struct {
    uint32_t ctr[4], key[2], out[4];
} kat[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

/* Word i of stream (seed, purpose, trial), computed from the layout in kvq.h. */
static uint32_t word_ref(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t i)
{
    uint64_t b = i / 4;
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), trial, purpose};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    kvq__philox4x32_10(ctr, key, out);
    return out[i % 4];
}

/* The KATs. */
static void test_kat(void)
{
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        kvq__philox4x32_10(kat[v].ctr, kat[v].key, out);
        ok(memcmp(out, kat[v].out, sizeof out) == 0,
           "philox4x32-10 KAT %d: %08x %08x %08x %08x", v, out[0], out[1], out[2], out[3]);
    }
}

/* Stream layout: words, purposes and trials in the counter, seed in the key. */
static void test_stream_layout(uint64_t seed)
{
    kvq__rng r;
    int bad = 0;
    kvq__rng_init(&r, seed, KVQ_RNG_ROT_K, 7);
    for (uint64_t i = 0; i < 40; i++)
        bad += kvq__rng_u32(&r) != word_ref(seed, KVQ_RNG_ROT_K, 7, i);
    ok(bad == 0 && r.next == 40, "kvq__rng_u32 walks word i %% 4 of block i / 4");

    /* A block index above 2^32 lands in the counter's second word. */
    r.next = ((uint64_t)5 << 34) + 2;
    ok(kvq__rng_u32(&r) == word_ref(seed, KVQ_RNG_ROT_K, 7, ((uint64_t)5 << 34) + 2),
       "64-bit block index: high 32 bits in ctr[1]");

    uint32_t a = word_ref(seed, KVQ_RNG_DATA_K, 0, 0), b = word_ref(seed, KVQ_RNG_DATA_V, 0, 0);
    uint32_t c = word_ref(seed, KVQ_RNG_DATA_K, 1, 0), e = word_ref(seed + 1, KVQ_RNG_DATA_K, 0, 0);
    ok(a != b && a != c && a != e, "purpose, trial and seed each change the stream");
}

/* Uniform and normal transforms against their formulas. */
static void test_transforms(uint64_t seed)
{
    kvq__rng r;
    kvq__rng_init(&r, seed, KVQ_RNG_TEST, 0);
    uint32_t w0 = word_ref(seed, KVQ_RNG_TEST, 0, 0);
    ok(kvq__rng_uniform(&r) == (w0 + 0.5) / 4294967296.0, "uniform = (u + 0.5)·2^-32");

    /* Extreme words stay strictly inside (0, 1). */
    double lo = (0 + 0.5) / 4294967296.0, hi = (4294967295.0 + 0.5) / 4294967296.0;
    ok(lo > 0 && hi < 1, "extreme uniforms inside (0, 1): %.3g, 1 - %.3g", lo, 1 - hi);

    kvq__rng_init(&r, seed, KVQ_RNG_TEST, 3);
    r.next = 10;
    double u1 = (word_ref(seed, KVQ_RNG_TEST, 3, 10) + 0.5) / 4294967296.0;
    double u2 = (word_ref(seed, KVQ_RNG_TEST, 3, 11) + 0.5) / 4294967296.0;
    double expect = sqrt(-2 * log(u1)) * cos(2 * 3.14159265358979323846 * u2);
    ok(fabs(kvq__rng_normal(&r) - expect) < 1e-15 && r.next == 12,
       "normal = Box-Muller of two consecutive words");
}

/* fill_normal: element e from words 2(first+e), 2(first+e)+1; slices agree. */
static void test_fill_normal(uint64_t seed)
{
    enum { N = 1001 };
    static float all[N], part[N];
    kvq__rng r;
    int bad = 0;
    kvq__rng_fill_normal(seed, KVQ_RNG_QJL_V, 2, 0, all, N);
    kvq__rng_init(&r, seed, KVQ_RNG_QJL_V, 2);
    for (int e = 0; e < N; e++)
        bad += all[e] != (float)kvq__rng_normal(&r);
    ok(bad == 0, "fill_normal matches kvq__rng_normal element by element");

    kvq__rng_fill_normal(seed, KVQ_RNG_QJL_V, 2, 333, part, N - 333);
    ok(memcmp(part, all + 333, (N - 333) * sizeof *part) == 0,
       "fill_normal of a slice starting at 333 (odd) equals the same elements of the whole");
}

/* Moments of many normals and uniforms, against their sampling error. */
static void test_moments(uint64_t seed)
{
    enum { N = 200000 };
    static float x[N];
    double m = 0, m2 = 0, m4 = 0;
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 9, 0, x, N);
    for (int i = 0; i < N; i++) {
        m += x[i];
        m2 += (double)x[i] * x[i];
        m4 += (double)x[i] * x[i] * x[i] * x[i];
    }
    m /= N, m2 /= N, m4 /= N;
    /* SE of the mean 1/sqrt(N); of the second moment sqrt(2/N); of the fourth sqrt(96/N). */
    ok(fabs(m) < 5 / sqrt(N), "normal mean %.5f within 5 SE of 0", m);
    ok(fabs(m2 - 1) < 5 * sqrt(2.0 / N), "normal variance %.5f within 5 SE of 1", m2);
    ok(fabs(m4 - 3) < 5 * sqrt(96.0 / N), "normal 4th moment %.4f within 5 SE of 3", m4);

    kvq__rng r;
    double su = 0, sb = 0;
    kvq__rng_init(&r, seed, KVQ_RNG_TEST, 10);
    for (int i = 0; i < N; i++) {
        su += kvq__rng_uniform(&r);
        sb += (kvq__rng_u32(&r) & 1u);
    }
    /* SE of a uniform mean: sqrt(1/12/N); of a fair bit mean: 0.5/sqrt(N). */
    ok(fabs(su / N - 0.5) < 5 * sqrt(1.0 / 12 / N), "uniform mean %.5f within 5 SE of 1/2", su / N);
    ok(fabs(sb / N - 0.5) < 5 * 0.5 / sqrt(N), "lowest bit mean %.5f within 5 SE of 1/2", sb / N);
}

int main(void)
{
    const uint64_t seed = 0x0123456789abcdefULL;
    plan(16);
    diag("seed %llu", (unsigned long long)seed);
    test_kat();
    test_stream_layout(seed);
    test_transforms(seed);
    test_fill_normal(seed);
    test_moments(seed);
    return exit_status();
}
