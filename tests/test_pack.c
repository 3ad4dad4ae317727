/* test_pack.c — the bit-planar layout of kvq.h (doc/quantization.md §6): round trips for every
 * (b, d), exact bit positions, the sign plane, word counts, and half rounding. */
#include <math.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

static const uint64_t seed = 777;

/* Round trip of random codes and signs for every b = 1…8, d = 16…1024, with m = d. */
static void check_round_trips(void)
{
    static uint8_t idx[1024], back[1024];
    static int8_t z[1024], zb[1024];
    static uint32_t w[(8 * 1024 + 1024) / 32 + 1];
    int bad_codes = 0, bad_signs = 0, bad_pad = 0;
    kvq__rng r;
    kvq__rng_init(&r, seed, KVQ_RNG_TEST, 0);
    for (int d = 16; d <= 1024; d *= 2)
        for (int b = 1; b <= 8; b++) {
            size_t W = kvq__packed_words(d, b, d);
            for (int j = 0; j < d; j++) {
                uint32_t u = kvq__rng_u32(&r);
                idx[j] = (uint8_t)(u & ((1u << b) - 1));
                z[j] = (u >> 16) & 1 ? 1 : -1;
            }
            memset(w, 0xff, sizeof w);          /* stale bits must be overwritten */
            memset(w, 0, W * sizeof *w);
            kvq__pack_signs(z, d, d, b, w);       /* signs first: codes must not clobber them */
            kvq__pack_codes(idx, d, b, w);
            kvq__unpack_codes(w, d, b, back);
            kvq__unpack_signs(w, d, d, b, zb);
            bad_codes += memcmp(idx, back, d) != 0;
            bad_signs += memcmp(z, zb, d) != 0;
            bad_pad += w[W] != 0xffffffffu;      /* nothing written past W words */
        }
    ok(bad_codes == 0, "codes round-trip for b=1..8, d=16..1024");
    ok(bad_signs == 0, "QJL sign plane round-trips beside the codes");
    ok(bad_pad == 0, "nothing written beyond W words");
}

/* Exact positions: coordinate j's bit k at stream bit k·d + j, sign i at b·d + i. */
static void check_positions(void)
{
    uint8_t idx[16] = {0};
    int8_t z[16];
    uint32_t w[2] = {0, 0};
    idx[0] = 5;          /* bits 0 and 2 → stream bits 0 and 32 */
    idx[3] = 2;          /* bit 1 → stream bit 16 + 3 = 19 */
    idx[15] = 7;         /* bits 0,1,2 → 15, 31, 47 */
    kvq__pack_codes(idx, 16, 3, w);
    ok(w[0] == ((1u << 0) | (1u << 19) | (1u << 15) | (1u << 31)) &&
       w[1] == ((1u << 0) | (1u << 15)),
       "d=16, b=3: plane bits at k*d + j (words %08x %08x)", w[0], w[1]);

    for (int i = 0; i < 16; i++)
        z[i] = i == 4 ? -1 : 1;
    w[0] = w[1] = 0;
    kvq__pack_signs(z, 16, 16, 1, w);     /* signs at stream bits 16..31 */
    ok(w[0] == (0xffff0000u & ~(1u << 20)) && w[1] == 0,
       "d=16, b=1: sign i at bit b*d + i, 1 = +1 (word %08x)", w[0]);

    int8_t zero_sign = 0;                /* sign(0) = +1 */
    w[0] = 0;
    kvq__pack_signs(&zero_sign, 1, 16, 0, w);
    ok(w[0] == 1, "z = 0 packs as +1");
}

/* W = ceil((b·d + m)/32). */
static void check_words(void)
{
    ok(kvq__packed_words(128, 4, 0) == 16 && kvq__packed_words(128, 3, 128) == 16 &&
       kvq__packed_words(16, 1, 0) == 1 && kvq__packed_words(16, 1, 16) == 1 &&
       kvq__packed_words(16, 3, 0) == 2 && kvq__packed_words(64, 0, 64) == 2 &&
       kvq__packed_words(1024, 8, 1024) == 288 && kvq__packed_words(64, 2, 7) == 5,
       "word counts W = ceil((b*d + m)/32)");
}

/* IEEE binary16 round-to-nearest-even, against hand-derived values. */
static void check_half(void)
{
    /* 1/3: nearest half is 0x3555 = 0.333251953125. 2049 lies halfway between
     * 2048 and 2050 (spacing 2 above 2048): ties to even mantissa → 2048;
     * 2051 → 2052. 65504 is the largest half, 65519 rounds to it, 65520 to inf.
     * 2^-24 is the smallest subnormal; 2^-26 rounds to 0, 3·2^-25 to 2^-23 (tie
     * to even). */
    ok(kvq__round_half(1.0 / 3) == 0.333251953125 && kvq__round_half(2049) == 2048 &&
       kvq__round_half(2051) == 2052 && kvq__round_half(-2051) == -2052 &&
       kvq__round_half(65504) == 65504 && kvq__round_half(65519) == 65504 &&
       isinf(kvq__round_half(65520)) && kvq__round_half(ldexp(1, -24)) == ldexp(1, -24) &&
       kvq__round_half(ldexp(1, -26)) == 0 && kvq__round_half(3 * ldexp(1, -25)) == ldexp(1, -23) &&
       kvq__round_half(0.1) == 0.0999755859375 && kvq__round_half(0) == 0,
       "half rounding: nearest, ties to even, subnormals, overflow to inf");
}

/* A tensor is shaped by its codec's stages: W words per vector, a γ array
 * only when there is a QJL stage. */
static void check_tensor_shape(void)
{
    static const kvq_codec_spec specs[3] = {
        {.rotation = KVQ_ROT_WHT, .mse_bits = 3, .norm_bits = 32},
        {.rotation = KVQ_ROT_WHT, .mse_bits = 2, .qjl = 1, .norm_bits = 16},
        {.rotation = KVQ_ROT_NONE, .qjl = 1, .qjl_m = 7, .norm_bits = 32}};
    static const size_t words[3] = {6, 6, 1};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        kvq_codec *c = NULL;
        kvq_qtensor t;
        if (kvq_codec_create(&c, &specs[i], 64, 1, 0, 0) || kvq__qtensor_init(&t, c, 5)) {
            bad++;
            kvq_codec_destroy(c);
            continue;
        }
        bad += t.dim != 64 || t.count != 5 || t.words != words[i] ||
               t.mse_bits != specs[i].mse_bits || t.qjl_m != kvq__codec_qjl_m(c) ||
               (t.gammas != NULL) != specs[i].qjl || !t.codes || !t.norms;
        kvq__qtensor_clear(&t);
        kvq_codec_destroy(c);
    }
    ok(bad == 0, "tensors are shaped by the codec's stages (words, gamma array with QJL)");
}

int main(void)
{
    plan(3 + 3 + 1 + 1 + 1);
    diag("seed %llu", (unsigned long long)seed);
    check_round_trips();
    check_positions();
    check_words();
    check_half();
    check_tensor_shape();
    return exit_status();
}
