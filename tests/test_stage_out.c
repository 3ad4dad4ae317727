/* test_stage_out.c — out<c>@<b2>, outlier channels (doc/schemes.md §7): the
 * channel list on data with planted outlier channels (and on ties), its
 * determinism, the outliers' round-trip error against D_b2(c), the gain over
 * the plain codec on the outlier source, the compressed-domain dot against
 * ⟨q, x̂⟩, the effective bits (expected values worked by hand in comments)
 * and the grammar's rules. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

static const uint64_t seed = 4242;

/* A codec from the k part of a custom spec, its tensor of n vectors. */
typedef struct coded {
    kvq_codec *c;
    kvq_qtensor t;
    float *xhat;
} coded;

static kvq_codec_spec spec_of(const char *text)
{
    kvq_scheme s;
    char err[256] = "";
    if (kvq_scheme_parse(text, 0, &s, err, sizeof err))
        diag("parse '%s': %s", text, err);
    return s.k;
}

static int code(coded *o, const char *text, int d, const float *x, size_t n)
{
    kvq_codec_spec sp = spec_of(text);
    memset(o, 0, sizeof *o);
    int st = kvq_codec_create(&o->c, &sp, d, seed, 0, 0);
    if (!st)
        st = kvq__qtensor_init(&o->t, o->c, n);
    if (!st)
        st = kvq__codec_quantize(o->c, x, n, &o->t);
    o->xhat = malloc(n * (size_t)d * sizeof *o->xhat);
    if (!st)
        st = o->xhat ? kvq__codec_dequantize(o->c, &o->t, o->xhat) : KVQ_ERR_NOMEM;
    if (st)
        diag("%s at d = %d: %s", text, d, kvq_strerror(st));
    return st;
}

static void uncode(coded *o)
{
    kvq__qtensor_clear(&o->t);
    kvq_codec_destroy(o->c);
    free(o->xhat);
}

/* n Gaussian vectors of dim d with the channels ch (nch of them) scaled by s. */
static float *planted(size_t n, int d, const int *ch, int nch, float s, uint32_t trial)
{
    kvq_source src;
    char err[128];
    float *x = malloc(n * (size_t)d * sizeof *x);
    if (!x || kvq_source_parse("gauss", "full", &src, err, sizeof err) ||
        kvq_source_generate(&src, seed, KVQ_RNG_TEST, trial, n, d, x)) {
        free(x);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < nch; k++)
            x[i * d + ch[k]] *= s;
    return x;
}

/* Mean over rows of ‖x − x̂‖²/‖x‖² restricted to the columns cols (all if NULL). */
static double rel_mse(const float *x, const float *xh, size_t n, int d, const int *cols, int nc)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = 0.0, r = 0.0;
        for (int k = 0; k < (cols ? nc : d); k++) {
            int j = cols ? cols[k] : k;
            double a = x[i * d + j], b = xh[i * d + j];
            e += (a - b) * (a - b);
            r += a * a;
        }
        s += e / r;
    }
    return s / (double)n;
}

/* 1: the list is the planted channels (ascending) whatever their order in
 * the input; constant data ties everywhere, so channels 0..c−1; two runs
 * agree bit for bit. */
static void test_selection(void)
{
    const int d = 64, want[4] = {5, 17, 40, 63}, order[4] = {63, 5, 40, 17};
    float *x = planted(128, d, order, 4, 6.0f, 1), *flat = malloc(32 * (size_t)d * sizeof *flat);
    coded a, b, f;
    int st = !x || !flat;
    for (int i = 0; !st && i < 32 * d; i++)
        flat[i] = 0.5f;
    st = st || code(&a, "k=wht:mse2+out4@4,v=wht:mse2", d, x, 128) ||
         code(&b, "k=wht:mse2+out4@4,v=wht:mse2", d, x, 128) ||
         code(&f, "k=wht:mse2+out3@4,v=wht:mse2", d, flat, 32);
    int got = 1, tie = 1;
    for (int k = 0; !st && k < 4; k++)
        got &= a.t.tside[k] == (uint32_t)want[k];
    for (int k = 0; !st && k < 3; k++)
        tie &= f.t.tside[k] == (uint32_t)k;
    ok(!st && got, "the planted channels 5, 17, 40, 63 are the list (given as 63, 5, 40, 17)");
    ok(!st && tie, "ties go to the lower channel: constant data gives 0, 1, 2");
    ok(!st && !memcmp(a.t.codes, b.t.codes, a.t.count * a.t.words * 4) &&
           !memcmp(a.t.tside, b.t.tside, a.t.tside_words * 4) &&
           !memcmp(a.t.norms, b.t.norms, a.t.count * 4),
       "two quantizations of the same data are identical");
    if (!st) {
        uncode(&a);
        uncode(&b);
        uncode(&f);
    }
    free(x);
    free(flat);
}

/* 2: the outliers' own codec. Their columns, scaled alike, are isotropic
 * Gaussian, so x_out/‖x_out‖ is uniform on the sphere and its expected
 * relative error after a fixed rotation is exactly D_b2(c), the Lloyd–Max
 * distortion; N = 4000 vectors put the mean within a few percent (the
 * per-vector ratio has a coefficient of variation below 1: 6% is > 3 σ).
 * c = 1 is exact: the unit vector is ±1. */
static void test_roundtrip(void)
{
    static const struct { int c, b; const char *spec; } cases[] = {
        {4, 3, "k=wht:mse2+out4@3,v=wht:mse2"},      /* wht over 4 */
        {6, 2, "k=wht:mse2+out6@2,v=wht:mse2"},      /* dense Haar over 6 */
        {16, 4, "k=wht:mse1+out16@4,v=wht:mse2"},
        {1, 2, "k=wht:mse2+out1@2,v=wht:mse2"},      /* exact */
    };
    const int d = 64;
    const size_t n = 4000;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int ch[16];
        for (int k = 0; k < cases[i].c; k++)
            ch[k] = 3 * k + 1;
        float *x = planted(n, d, ch, cases[i].c, 8.0f, 2);
        const kvq_codebook *cb = NULL;
        coded o;
        int st = !x || kvq__codebook_any(cases[i].c, cases[i].b, &cb) ||
                 code(&o, cases[i].spec, d, x, n);
        double got = st ? NAN : rel_mse(x, o.xhat, n, d, ch, cases[i].c);
        double want = cb ? cb->distortion : NAN;
        ok(!st && (want == 0 ? got < 1e-12 : fabs(got / want - 1) < 0.06),
           "c = %d, b2 = %d: outliers' relative error %.5f vs D = %.5f", cases[i].c, cases[i].b,
           got, want);
        if (!st)
            uncode(&o);
        free(x);
    }
}

/* 3: on the outlier source (4 channels ×10) the outliers carry most of the
 * energy; coding them at 6 bits leaves the 2-bit error on the rest only.
 * Plain codecs exist at whole bits only, so "equal effective bits" is the
 * plain curve between mse2 and mse3, interpolated log-linearly (the error
 * falls about geometrically with the bits): out4@6 must be below half of it. */
static void test_gain(void)
{
    const int d = 128;
    const size_t n = 1024;
    kvq_source src;
    char err[128];
    float *x = malloc(n * d * sizeof *x);
    int st = !x || kvq_source_parse("outlier", "full", &src, err, sizeof err) ||
             kvq_source_generate(&src, seed, KVQ_RNG_DATA_K, 0, n, d, x);
    const char *specs[] = {"k=wht:mse2+nb16+out4@6,v=wht:mse2", "k=wht:mse2+nb16,v=wht:mse2",
                           "k=wht:mse3+nb16,v=wht:mse2"};
    double e[3] = {NAN, NAN, NAN}, bits[3] = {0};
    for (int i = 0; i < 3 && !st; i++) {
        coded o;
        kvq_codec_spec sp = spec_of(specs[i]);
        kvq_budget b;
        kvq__codec_budget_count(&sp, d, n, &b);
        bits[i] = b.effective_bits;
        if ((st = code(&o, specs[i], d, x, n)) == 0) {
            e[i] = rel_mse(x, o.xhat, n, d, NULL, 0);
            uncode(&o);
        }
    }
    double w = (bits[0] - bits[1]) / (bits[2] - bits[1]);
    double plain = e[1] * pow(e[2] / e[1], w);
    diag("k_rel_mse on outlier: out4@6 %.4f at %.4f bits; mse2 %.4f at %.4f; mse3 %.4f at %.4f;"
         " plain curve at %.4f bits %.4f", e[0], bits[0], e[1], bits[1], e[2], bits[2], bits[0],
         plain);
    ok(!st && bits[1] < bits[0] && bits[0] < bits[2] && e[0] < 0.5 * plain,
       "out4@6 is below half the plain codec's error at its effective bits");
    ok(!st && e[0] < 0.5 * e[1], "and below half the 2-bit codec's");
    free(x);
}

/* 4: the compressed-domain estimate is ⟨q, x̂⟩ (no QJL: both are exact). */
static void test_dot(void)
{
    const int d = 96, ch[3] = {7, 50, 90};
    const size_t n = 64;
    float *x = planted(n, d, ch, 3, 5.0f, 3), *q = planted(1, d, ch, 0, 1.0f, 4);
    double qr[96], sq[1], worst = 0.0;
    coded o;
    int st = !x || !q || code(&o, "k=wht:mse3+out3@4,v=wht:mse2", d, x, n);
    if (!st) {
        kvq__codec_prepare_query_for(o.c, &o.t, q, qr, sq);
        for (size_t i = 0; i < n; i++) {
            double ref = 0.0, nq = 0.0, nx = 0.0;
            for (int j = 0; j < d; j++) {
                ref += (double)q[j] * o.xhat[i * d + j];
                nq += (double)q[j] * q[j];
                nx += (double)o.xhat[i * d + j] * o.xhat[i * d + j];
            }
            worst = fmax(worst, fabs(kvq__codec_dot(o.c, &o.t, i, qr, sq) - ref) / sqrt(nq * nx));
        }
        uncode(&o);
    }
    ok(!st && worst < 1e-6, "dot = <q, x^> at d = 96 (worst relative %.2g)", worst);
    free(x);
    free(q);
}

/* 5: effective bits, worked by hand.
 * wht:mse2+out8@4 at d = 128, N = 256: 120·2 + 8·4 = 272 payload bits, two
 * 32-bit norms = 64, so (272 + 64)/128 = 2.625; the list is 8·⌈log2 128⌉ =
 * 56 bits per tensor, 56/(256·128) = 0.001708984375 → 2.626708984375.
 * wht:mse3+qjl+nb16+out3@5 at d = 96, N = 100: the rest has 93 channels,
 * 93·3 + 93 (QJL, m = 93) + 3·5 = 387 payload bits, ν, γ and the outliers' ν
 * at 16 bits = 48, (387 + 48)/96 = 4.53125; list 3·7 = 21 bits, 21/9600 =
 * 0.0021875 → 4.5334375. */
static void test_bits(void)
{
    kvq_codec_spec a = spec_of("k=wht:mse2+out8@4,v=wht:mse2");
    kvq_codec_spec b = spec_of("k=wht:mse3+qjl+nb16+out3@5,v=wht:mse2");
    kvq_budget ba, bb, plain;
    kvq__codec_budget_count(&a, 128, 256, &ba);
    kvq__codec_budget_count(&b, 96, 100, &bb);
    kvq_codec_budget(&a, 128, &plain);
    ok(ba.effective_bits == 2.626708984375 && plain.effective_bits == 2.625,
       "wht:mse2+out8@4, d = 128, N = 256: %.12g bits (2.626708984375)", ba.effective_bits);
    ok(fabs(bb.effective_bits - 4.5334375) < 1e-12,
       "wht:mse3+qjl+nb16+out3@5, d = 96, N = 100: %.12g bits (4.5334375)", bb.effective_bits);
}

/* 6: the grammar's rules name the token; the canonical form round-trips. */
static void test_grammar(void)
{
    static const struct { const char *spec, *want; } bad[] = {
        {"k=wht:mse2+out0@4,v=wht:mse2", "'out0@4' (the outlier channel count"},
        {"k=wht:mse2+out4@9,v=wht:mse2", "'out4@9' (the outlier bits b2"},
        {"k=wht:mse2+out4,v=wht:mse2", "'out4' (outlier channels are written out<c>@<b2>"},
        {"k=wht:out4@2,v=wht:mse2", "stores nothing (add mse<b>, qjl or q8_0)"},
        {"k=q4_0+out4@2,v=wht:mse2", "does not combine with a format"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kvq_scheme s;
        char err[256] = "";
        int st = kvq_scheme_parse(bad[i].spec, 0, &s, err, sizeof err);
        ok(st == KVQ_ERR_BAD_SPEC && strstr(err, bad[i].want), "%s: %s", bad[i].spec, err);
    }
    kvq_codec_spec s = spec_of("k=wht:mse2+out4@6+nb16,v=wht:mse2");
    char buf[128];
    kvq_codec_spec_format(&s, buf, sizeof buf);
    ok(!strcmp(buf, "wht:mse2+nb16+out4@6"), "canonical form %s", buf);
    kvq_codec *c = NULL;
    ok(kvq_codec_create(&c, &s, 16, seed, 0, 0) == 0 && kvq__format_rule(&s, 4) != NULL,
       "c < d: fine at d = 16, refused at d = 4");
    kvq_codec_destroy(c);
}

int main(void)
{
    plan(3 + 4 + 2 + 1 + 2 + 7);
    test_selection();
    test_roundtrip();
    test_gain();
    test_dot();
    test_bits();
    test_grammar();
    return exit_status();
}
