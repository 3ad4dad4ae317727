/* test_stage_format.c — the deployed formats (doc/schemes.md §6): q8_0, q4_0,
 * q4_1, fp8e4m3, fp8e5m2 and fp16 against an implementation written here from
 * the definitions (float arithmetic as llama.cpp does it, half rounding by
 * bit manipulation of the float, fp8 by exhaustive nearest search over the
 * 256 codes), against hand-worked llama.cpp blocks, and the budget, grammar
 * and bad-input rules. kvq's own rounding helpers are not used as oracles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"
#include "bad_specs.h"

static const uint64_t seed = 777;

/* ---- The independent implementation ---- */

/* float → binary16 bits, nearest-even, by integer manipulation of the float's
 * bits (another algorithm than kvq's frexp/rint rounding). */
static unsigned half_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    unsigned sign = (u >> 16) & 0x8000u;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    uint32_t m = u & 0x7fffffu;
    if (((u >> 23) & 0xff) == 0xff)
        return sign | 0x7c00u | (m ? 0x200u : 0u);
    if (e >= 31)
        return sign | 0x7c00u;
    if (e <= 0) {                         /* subnormal half (or zero) */
        if (e < -10)
            return sign;
        m |= 0x800000u;                   /* implicit one */
        int shift = 14 - e;               /* 13 + (1 − e) */
        uint32_t h = m >> shift, rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1u)))
            h++;
        return sign | h;
    }
    uint32_t h = ((uint32_t)e << 10) | (m >> 13), rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++;                              /* may carry into the exponent: still right */
    return sign | (h >= 0x7c00u ? 0x7c00u : h);
}

/* binary16 bits → value. */
static double half_value(unsigned h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double s = (h & 0x8000u) ? -1 : 1;
    if (e == 31)
        return m ? NAN : s * INFINITY;
    return e ? s * ldexp(1024 + m, e - 25) : s * ldexp(m, -24);
}

static float fp16(float f)
{
    return (float)half_value(half_bits(f));
}

/* llama.cpp's blocks, written from doc/schemes.md §6.1 in float: x̂ of one
 * block of 32 and the stored scale bits (and min bits for q4_1). */
static void ref_block(int fmt, const float *x, float *xhat, int *q, unsigned *dbits,
                      unsigned *mbits)
{
    float amax = 0, m = 0, lo = x[0], hi = x[0];
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            m = x[j];
        }
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    float d = fmt == KVQ_FORMAT_Q8_0 ? amax / 127 : fmt == KVQ_FORMAT_Q4_0 ? m / -8 : (hi - lo) / 15;
    float id = d ? 1 / d : 0;
    *dbits = half_bits(d);
    *mbits = half_bits(lo);
    for (int j = 0; j < 32; j++) {
        float t;
        if (fmt == KVQ_FORMAT_Q8_0) {
            t = x[j] * id;
            double r = floor(fabs((double)t) + 0.5);   /* half away from zero, exact */
            int c = (int)(t < 0 ? -r : r);
            q[j] = c > 127 ? 127 : c < -127 ? -127 : c;
            xhat[j] = q[j] * fp16(d);
        } else if (fmt == KVQ_FORMAT_Q4_0) {
            t = x[j] * id + 8.5f;
            q[j] = (int)t > 15 ? 15 : (int)t;
            xhat[j] = (q[j] - 8) * fp16(d);
        } else {
            t = (x[j] - lo) * id + 0.5f;
            q[j] = (int)t > 15 ? 15 : (int)t;
            xhat[j] = q[j] * fp16(d) + fp16(lo);
        }
    }
}

/* OCP FP8: the value of code c from the definition (E4M3FN: bias 7, no
 * infinities, S.1111.111 is NaN; E5M2: bias 15, IEEE-like). */
static double fp8_value(int e4m3, unsigned c)
{
    int eb = e4m3 ? 4 : 5, mb = e4m3 ? 3 : 2, bias = e4m3 ? 7 : 15;
    unsigned e = (c >> mb) & ((1u << eb) - 1), m = c & ((1u << mb) - 1);
    double s = (c & 0x80) ? -1 : 1;
    if (e4m3 && e == 15 && m == 7)
        return NAN;
    if (!e4m3 && e == 31)
        return m ? NAN : s * INFINITY;
    if (e == 0)
        return s * ldexp(m, 1 - bias - mb);
    return s * ldexp((1 << mb) + m, (int)e - bias - mb);
}

/* Nearest finite fp8 value by exhaustive search (ties: the even code) of x
 * clamped to ±max (saturation). */
static double fp8_nearest(int e4m3, double x, unsigned *code)
{
    double best = NAN, bd = INFINITY, vmax = e4m3 ? 448 : 57344;
    x = x > vmax ? vmax : x < -vmax ? -vmax : x;
    for (unsigned c = 0; c < 256; c++) {
        double v = fp8_value(e4m3, c);
        if (!isfinite(v) || (v == 0 && (c & 0x80) != (signbit(x) ? 0x80u : 0u)))
            continue;
        double dd = fabs(v - x);
        if (dd < bd || (dd == bd && !(c & 1))) {
            bd = dd;
            best = v;
            *code = c;
        }
    }
    return best;
}

/* ---- kvq's host codec ---- */

typedef struct coded {
    kvq_codec *c;
    kvq_qtensor t;
    float *xhat;
} coded;

/* Quantizes and dequantizes count rows of x with spec sp at d, as tensor
 * 0 (K) or 1 (V). */
static int run_spec(const kvq_codec_spec *sp, int tensor, int d, const float *x, size_t count,
                    coded *o)
{
    memset(o, 0, sizeof *o);
    int st = kvq_codec_create(&o->c, sp, d, seed, tensor, 0);
    if (!st)
        st = kvq__qtensor_init(&o->t, o->c, count);
    if (!st)
        st = kvq__codec_quantize(o->c, x, count, &o->t);
    if (!st && !(o->xhat = malloc(count * d * sizeof(float))))
        st = KVQ_ERR_NOMEM;
    if (!st)
        st = kvq__codec_dequantize(o->c, &o->t, o->xhat);
    return st;
}

/* The same for format fmt (not KIVI) on K. */
static int run_format(int fmt, int d, const float *x, size_t count, coded *o)
{
    kvq_codec_spec sp = {.format = fmt, .norm_bits = 32};
    return run_spec(&sp, 0, d, x, count, o);
}

static void coded_free(coded *o)
{
    kvq__qtensor_clear(&o->t);
    kvq_codec_destroy(o->c);
    free(o->xhat);
}

/* Stream field of vector v (doc/schemes.md §6.3). */
static unsigned field(const coded *o, size_t v, size_t bit, int width)
{
    const uint32_t *w = o->t.codes + v * o->t.words;
    return (w[bit >> 5] >> (bit & 31)) & ((1u << width) - 1u);
}

/* ---- Hand-worked blocks ----
 * Computed with a scratch Python script that emulates float32 steps with
 * struct.pack('<f') and half rounding with struct.pack('<e'), and checked by
 * hand on the entries quoted in the comments. */

/* q8_0, x_j = j − 16: amax = 16, δ = 16/127 = 0.12598425 (fp32), 1/δ = 7.9375,
 * fp16(δ) = 1032·2^−13 = 0.1259765625 (bits 0x3008). x = −8 → −63.5 rounds
 * away from zero to −64 (x̂ = −8.0625); x = 9 → 71.4375 → 71. */
static const int q8_codes[32] = {-127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48,
                                 -40, -32, -24, -16, -8, 0, 8, 16, 24, 32, 40, 48, 56, 64,
                                 71, 79, 87, 95, 103, 111, 119};
/* q4_0, x_j = (j − 16)/8: the largest magnitude is x_0 = −2, δ = −2/−8 = 0.25;
 * q = trunc(4x + 8.5): x_1 = −1.875 → 1 (x̂ = −1.75), x_2 = −1.75 → 1, x_31 =
 * 1.875 → 16, clamped to 15 (x̂ = 1.75). */
static const int q40_codes[32] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8,
                                  8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 15};
/* q4_1, x_j = j/4 − 3: lo = −3, δ = 7.75/15 = 0.51666665 (fp32), fp16(δ) =
 * 0.5166015625 (0x3822), fp16(lo) = −3 (0xc200); x_1 = −2.75: 0.25·1.9354839
 * + 0.5 = 0.98 → 0 (x̂ = −3); x_2 → 1 (x̂ = −2.4833984375). */
static const int q41_codes[32] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
                                  8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15};

static void check_hand_blocks(void)
{
    static const struct {
        int fmt, cb;
        const int *codes;
        unsigned dbits, mbits;
        float x0, step, xhat1, xhat_last;
    } cases[] = {
        {KVQ_FORMAT_Q8_0, 8, q8_codes, 0x3008, 0, -16, 1, -14.9912109375f, 14.9912109375f},
        {KVQ_FORMAT_Q4_0, 4, q40_codes, 0x3400, 0, -2, 0.125f, -1.75f, 1.75f},
        {KVQ_FORMAT_Q4_1, 4, q41_codes, 0x3822, 0xc200, -3, 0.25f, -3.0f, 4.7490234375f},
    };
    for (size_t i = 0; i < 3; i++) {
        float x[32];
        coded o;
        for (int j = 0; j < 32; j++)
            x[j] = cases[i].x0 + cases[i].step * j;
        int st = run_format(cases[i].fmt, 32, x, 1, &o), bad = st != 0;
        for (int j = 0; !st && j < 32; j++) {
            unsigned u = field(&o, 0, (size_t)j * cases[i].cb, cases[i].cb);
            int c = cases[i].fmt == KVQ_FORMAT_Q8_0 ? (int)(int8_t)(uint8_t)u : (int)u;
            bad += c != cases[i].codes[j];
        }
        size_t pb = 32 * (size_t)cases[i].cb;
        bad += !st && field(&o, 0, pb, 16) != cases[i].dbits;
        bad += !st && cases[i].mbits && field(&o, 0, pb + 16, 16) != cases[i].mbits;
        bad += !st && (o.xhat[1] != cases[i].xhat1 || o.xhat[31] != cases[i].xhat_last);
        ok(bad == 0, "hand-worked %s block: codes, fp16 scale bits and x̂ (st %d)",
           i == 0 ? "q8_0" : i == 1 ? "q4_0" : "q4_1", st);
        coded_free(&o);
    }
}

/* ---- Per vector against the independent implementation ---- */

/* Rows that probe the rules: Gaussian, heavy tails (cubed normals), a zero
 * block, a constant block, ties of magnitude with opposite signs, one huge
 * outlier, tiny values near the half subnormals. */
static float *probe_rows(int d, size_t count)
{
    float *x = malloc(count * d * sizeof *x);
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, 1, 0, x, count * d);
    for (size_t v = 0; v < count; v++) {
        float *r = x + v * d;
        switch (v % 6) {
        case 1: for (int j = 0; j < d; j++) r[j] = r[j] * r[j] * r[j]; break;
        case 2: for (int j = 0; j < 32; j++) r[j] = 0; for (int j = 32; j < 64; j++) r[j] = 0.75f; break;
        case 3: r[3] = 4; r[7] = -4; r[40] = -4; r[45] = 4; break;
        case 4: r[5] = 300; break;
        case 5: for (int j = 0; j < d; j++) r[j] *= 1e-5f; break;
        default: break;
        }
    }
    return x;
}

static void check_blocks_per_vector(void)
{
    const int d = 128, n = 60;
    const int fmts[] = {KVQ_FORMAT_Q8_0, KVQ_FORMAT_Q4_0, KVQ_FORMAT_Q4_1};
    float *x = probe_rows(d, n);
    for (int f = 0; f < 3; f++) {
        coded o;
        int st = run_format(fmts[f], d, x, n, &o), bad = st != 0, worst_dot = 0;
        double dotdev = 0;
        for (int v = 0; !st && v < n; v++) {
            float ref[128];
            double qr[128], want = 0;
            for (int b = 0; b < d / 32; b++) {
                int q[32];
                unsigned db, mb;
                ref_block(fmts[f], x + v * d + 32 * b, ref + 32 * b, q, &db, &mb);
            }
            for (int j = 0; j < d; j++) {
                bad += o.xhat[v * d + j] != ref[j];
                qr[j] = x[((v + 1) % n) * d + j];   /* another row as the query */
                want += qr[j] * ref[j];
            }
            double got = kvq__codec_dot(o.c, &o.t, (size_t)v, qr, NULL);
            double dev = fabs(got - want) / (1 + fabs(want));
            if (dev > dotdev) {
                dotdev = dev;
                worst_dot = v;
            }
        }
        char name[16];
        kvq_codec_spec_format(kvq_codec_spec_get(o.c), name, sizeof name);
        ok(bad == 0, "%s: x̂ identical to the independent float implementation, %d vectors", name, n);
        ok(dotdev < 1e-12, "%s: compressed-domain <q, x̂> = <q, x̂> (worst %.1e at %d)", name,
           dotdev, worst_dot);
        coded_free(&o);
    }
    coded o;
    int st = run_format(KVQ_FORMAT_FP16, d, x, n, &o), bad = st != 0;
    for (int i = 0; !st && i < d * n; i++)
        bad += o.xhat[i] != fp16(x[i]) || field(&o, (size_t)i / d, (size_t)(i % d) * 16, 16) !=
                                              half_bits(x[i]);
    ok(bad == 0, "fp16: x̂ and the stored bits of every coordinate are IEEE half, nearest-even");
    coded_free(&o);
    free(x);
}

/* ---- fp8: every code, every rounding boundary ---- */

/* Quantizes values (padded with zeros to whole vectors of 128) and checks
 * x̂ and the stored code against the exhaustive search. */
static int fp8_agree(int e4m3, const double *vals, size_t n)
{
    const int d = 128;
    size_t rows = (n + d - 1) / d;
    float *x = calloc(rows * d, sizeof *x);
    coded o;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)vals[i];
    int st = run_format(e4m3 ? KVQ_FORMAT_FP8E4M3 : KVQ_FORMAT_FP8E5M2, d, x, rows, &o);
    int bad = st != 0;
    for (size_t i = 0; !st && i < n; i++) {
        unsigned code = 0;
        double want = fp8_nearest(e4m3, x[i], &code);
        unsigned got = field(&o, i / d, (i % d) * 8, 8);
        if (o.xhat[i] != want || got != code) {
            if (bad < 5)
                diag("x = %.9g: got %.9g (code 0x%02x), want %.9g (0x%02x)", x[i], o.xhat[i],
                     got, want, code);
            bad++;
        }
    }
    coded_free(&o);
    free(x);
    return bad;
}

static void check_fp8(int e4m3)
{
    const char *name = e4m3 ? "fp8e4m3" : "fp8e5m2";
    double codes[256], bounds[256 * 6], vmax = e4m3 ? 448 : 57344;
    size_t nc = 0, nb = 0;
    double pos[128];
    size_t np = 0;
    for (unsigned c = 0; c < 256; c++) {
        double v = fp8_value(e4m3, c);
        if (isfinite(v))
            codes[nc++] = v;
        if (isfinite(v) && c < 128)
            pos[np++] = v;            /* ascending: codes 0x00 … 0x7e/0x7b */
    }
    ok(nc == (e4m3 ? 254u : 248u) && pos[np - 1] == vmax,
       "%s: %zu finite codes, largest %g", name, nc, pos[np - 1]);
    ok(fp8_agree(e4m3, codes, nc) == 0, "%s: every finite code round-trips to itself", name);
    for (size_t i = 0; i + 1 < np; i++) {
        double mid = 0.5 * (pos[i] + pos[i + 1]);
        for (int s = -1; s <= 1; s += 2) {
            bounds[nb++] = s * mid;
            bounds[nb++] = s * (double)nextafterf((float)mid, (float)pos[i]);
            bounds[nb++] = s * (double)nextafterf((float)mid, (float)pos[i + 1]);
        }
    }
    double step = pos[np - 1] - pos[np - 2];
    bounds[nb++] = vmax + step / 2;           /* would round up past max: saturates */
    bounds[nb++] = vmax + step;
    bounds[nb++] = -1e30;
    bounds[nb++] = 1e30;
    bounds[nb++] = pos[1] / 2;                /* half the smallest subnormal: ties to 0 */
    ok(fp8_agree(e4m3, bounds, nb) == 0,
       "%s: %zu values at, just below and just above every midpoint, and beyond ±%g, "
       "round to nearest-even and saturate", name, nb, vmax);
}

/* ---- KIVI (doc/schemes.md §6.4) ---- */

/* Round half to even, by cases (not rint). */
static double half_even(double t)
{
    double f = floor(t), r = t - f;
    return r > 0.5 ? f + 1 : r < 0.5 ? f : (fmod(f, 2) == 0 ? f : f + 1);
}

/* The independent KIVI x̂ of an N × d tensor: tensor 0 (K) groups G tokens
 * per channel, tensor 1 (V) G channels per token; the last group may be short. */
static void ref_kivi(const float *x, size_t n, int d, int b, int g, int tensor, float *xhat)
{
    double top = (1 << b) - 1;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            size_t a0 = tensor ? i * d + (size_t)(j / g * g) : (i / g * g) * d + (size_t)j;
            size_t len = tensor ? (size_t)(d - j / g * g) : n - i / g * g, step = tensor ? 1 : d;
            len = len < (size_t)g ? len : (size_t)g;
            double lo = x[a0], hi = x[a0];
            for (size_t k = 1; k < len; k++) {
                lo = fmin(lo, x[a0 + k * step]);
                hi = fmax(hi, x[a0 + k * step]);
            }
            double delta = (hi - lo) / top;
            double q = delta > 0 ? half_even((x[i * d + j] - lo) / delta) : 0;
            q = q < 0 ? 0 : q > top ? top : q;
            xhat[i * d + j] = (float)(q * half_value(half_bits((float)delta)) +
                                      half_value(half_bits((float)lo)));
        }
}

/* KIVI through kvq's host codec for tensor 0 or 1. */
static int run_kivi(int b, int g, int tensor, int d, const float *x, size_t n, coded *o)
{
    kvq_codec_spec sp = {.format = KVQ_FORMAT_KIVI, .format_bits = b, .format_group = g};
    return run_spec(&sp, tensor, d, x, n, o);
}

/* Hand-worked V row, d = 16, kivi2g8: channels 0…7 = 0…7 give lo 0, hi 7,
 * δ = 7/3, fp16(δ) = 1195·2^−9 = 2.333984375, codes rint(x/δ) = 0 0 1 1 2 2
 * 3 3; channels 8…15 = {0, 0.5, 1.5, 2.5, 3, 1, 2, 0.25} give δ = 1 and the
 * ties 0.5 → 0, 1.5 → 2, 2.5 → 2 (half to even). */
static void check_kivi_hand(void)
{
    float x[16] = {0, 1, 2, 3, 4, 5, 6, 7, 0, 0.5f, 1.5f, 2.5f, 3, 1, 2, 0.25f};
    static const int q[16] = {0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 2, 2, 3, 1, 2, 0};
    coded o;
    int st = run_kivi(2, 8, 1, 16, x, 1, &o), bad = st != 0;
    for (int j = 0; !st && j < 16; j++)
        bad += o.xhat[j] != (float)(q[j] * (j < 8 ? 2.333984375 : 1.0));
    ok(bad == 0, "hand-worked KIVI row (V, 2 bits, G = 8): half-to-even codes and fp16 δ");
    coded_free(&o);
}

static void check_kivi(void)
{
    static const struct {
        int b, g, tensor, d;
        size_t n;
    } cases[] = {{2, 32, 0, 128, 100}, {4, 32, 1, 128, 100}, {3, 48, 1, 128, 30},
                 {1, 7, 0, 64, 50},    {8, 32, 0, 64, 64},   {5, 1024, 1, 64, 9}};
    check_kivi_hand();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].n;
        int d = cases[i].d;
        float *x = probe_rows(d, n), *ref = malloc(n * d * sizeof *ref);
        coded o;
        int st = run_kivi(cases[i].b, cases[i].g, cases[i].tensor, d, x, n, &o), bad = st != 0;
        double dotdev = 0;
        ref_kivi(x, n, d, cases[i].b, cases[i].g, cases[i].tensor, ref);
        for (size_t v = 0; !st && v < n; v++) {
            double qr[128], want = 0;
            for (int j = 0; j < d; j++) {
                bad += o.xhat[v * d + j] != ref[v * d + j];
                qr[j] = x[((v + 3) % n) * d + j];
                want += qr[j] * ref[v * d + j];
            }
            double got = kvq__codec_dot(o.c, &o.t, v, qr, NULL);
            dotdev = fmax(dotdev, fabs(got - want) / (1 + fabs(want)));
        }
        /* the dot adds q·fp16(δ) + fp16(lo) in double, x̂ holds it rounded to float */
        ok(bad == 0 && dotdev < 1e-6,
           "kivi%dg%d %s, N = %zu, d = %d: x̂ identical to the independent implementation, "
           "<q, x̂> from the codes (dev %.1e)", cases[i].b, cases[i].g,
           cases[i].tensor ? "V (channel groups)" : "K (token groups)", n, d, dotdev);
        coded_free(&o);
        free(x);
        free(ref);
    }
    kvq_codec_spec sp = {.format = KVQ_FORMAT_KIVI, .format_bits = 2};
    kvq_budget b;
    kvq_codec_budget(&sp, 128, &b);
    kvq_codec_spec sp2 = {.format = KVQ_FORMAT_KIVI, .format_bits = 4, .format_group = 64};
    kvq_budget b2;
    kvq_codec_budget(&sp2, 128, &b2);
    ok(b.effective_bits == 3 && b.bytes_per_token == 48 && b2.effective_bits == 4.5 &&
           b2.bytes_per_token == 72,
       "kivi2: 2 + 32/32 = 3 bits, 48 bytes; kivi4g64: 4.5 bits, 72 bytes at d = 128");
    kvq_scheme s;
    char err[256];
    int bad = kvq_scheme_parse("kivi2", 0, &s, err, sizeof err) != 0 ||
              strcmp(s.name, "kivi2") != 0 || s.k.format_group != 32;
    bad += kvq_scheme_parse("k=KIVI3g16,v=kivi2g32", 0, &s, err, sizeof err) != 0 ||
           strcmp(s.name, "k=kivi3g16,v=kivi2") != 0;
    const char *refused[] = {"kivi0", "kivi9", "kivi2g0", "kivi2g1025", "kivig8", "kivi2g"};
    for (size_t i = 0; i < 6; i++) {
        err[0] = 0;
        bad += kvq_scheme_parse(refused[i], 0, &s, err, sizeof err) != KVQ_ERR_BAD_SPEC ||
               !strstr(err, "KIVI");
    }
    ok(bad == 0, "kivi<b>[g<G>] parses, is canonical, and b outside 1..8 or G outside 1..1024 "
                 "is refused naming the rule");
}

/* ---- Budget, grammar, bad input ---- */

static void check_budget(void)
{
    static const struct {
        int fmt;
        double bits;
    } b[] = {{KVQ_FORMAT_Q8_0, 8.5}, {KVQ_FORMAT_Q4_0, 4.5}, {KVQ_FORMAT_Q4_1, 5.0},
             {KVQ_FORMAT_FP8E4M3, 8}, {KVQ_FORMAT_FP8E5M2, 8}, {KVQ_FORMAT_FP16, 16}};
    int bad = 0;
    for (size_t i = 0; i < 6; i++)
        for (int d = 64; d <= 1024; d *= 2) {
            kvq_codec_spec sp = {.format = b[i].fmt};
            kvq_budget g;
            kvq_codec_budget(&sp, d, &g);
            bad += g.effective_bits != b[i].bits || g.side_bits != 0 ||
                   g.bytes_per_token != b[i].bits * d / 8;
        }
    ok(bad == 0, "effective bits 8.5, 4.5, 5, 8, 8, 16 and bytes d·bits/8 at d = 64…1024");
}

static void check_grammar(void)
{
    kvq_scheme s;
    char err[256];
    int st = kvq_scheme_parse("Q4_0", 3, &s, err, sizeof err);
    ok(st == 0 && s.k.format == KVQ_FORMAT_Q4_0 && s.v.format == KVQ_FORMAT_Q4_0 && s.bits == 0 &&
           !strcmp(s.name, "q4_0"),
       "a format name is a scheme: that format on K and V, no budget (name '%s')", s.name);
    st = kvq_scheme_parse("k=q8_0,v=FP16", 0, &s, err, sizeof err);
    ok(st == 0 && s.k.format == KVQ_FORMAT_Q8_0 && s.v.format == KVQ_FORMAT_FP16 &&
           !strcmp(s.name, "k=q8_0,v=fp16"),
       "custom specs mix formats and keep them canonical ('%s')", s.name);
    st = kvq_scheme_parse("k=fp8e5m2,v=wht:mse3+qjl", 0, &s, err, sizeof err);
    ok(st == 0 && !strcmp(s.name, "k=fp8e5m2,v=wht:mse3+qjl"),
       "a format beside a TurboQuant codec ('%s')", s.name);
    static const bad_spec bad[] = {
        {"q4_2", "unknown scheme 'q4_2'"},
        {"k=wht:q4_0,v=fp16", "is the whole codec"},
        {"k=q4_0+nc,v=fp16", "is the whole codec"},
        {"k=mse2+q8_0,v=fp16", "is the whole codec"},
        {"k=q4_0+fp16,v=fp16", "repeats"},
        {"k=q4_0+nb16,v=fp16", "is the whole codec"},
    };
    ok(bad_specs_accepted(bad, sizeof bad / sizeof bad[0]) == 0,
       "mixing a format with other stages, and unknown names, are refused");
    kvq_codec_spec q = {.format = KVQ_FORMAT_Q4_1};
    kvq_codec *c = NULL;
    const char *rule = kvq__format_rule(&q, 16);
    ok(kvq_codec_create(&c, &q, 16, seed, 0, 0) == KVQ_ERR_INVALID_ARG && rule &&
           strstr(rule, "multiple of 32") && !kvq__format_rule(&q, 64),
       "block formats need d %% 32 == 0 ('%s')", rule ? rule : "");
    kvq_codec_spec h = {.format = KVQ_FORMAT_FP16};
    ok(kvq_codec_create(&c, &h, 16, seed, 0, 0) == 0, "fp16 runs at d = 16");
    kvq_codec_destroy(c);
    float big[16] = {70000.0f};
    coded o;
    ok(run_format(KVQ_FORMAT_FP16, 16, big, 1, &o) == KVQ_ERR_UNSUPPORTED,
       "fp16 refuses a value beyond 65504 instead of storing Inf");
    coded_free(&o);
}

int main(void)
{
    plan(24 + 1 + 6 + 2);
    check_hand_blocks();
    check_blocks_per_vector();
    check_fp8(1);
    check_fp8(0);
    check_budget();
    check_grammar();
    check_kivi();
    return exit_status();
}
