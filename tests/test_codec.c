/* test_codec.c — the MSE codec and the codec plumbing (doc/quantization.md §5): empirical
 * distortion against D_b(d), nearest-centroid codes, zero vectors, b = 0, norm
 * correction, half-precision norms, bad input, and the compressed-domain dot. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "core/stage.h"
#include "internal.h"
#include "tap.h"

static const uint64_t seed = 4242;

/* |x|² of one d-vector, in double. */
static double norm2(const float *x, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += (double)x[j] * x[j];
    return s;
}

/* count Gaussian vectors (each row optionally scaled to unit norm) from the TEST stream. */
static float *random_rows(int d, size_t count, uint32_t trial, int unit)
{
    float *x = malloc(sizeof(float) * d * count);
    kvq__rng_fill_normal(seed, KVQ_RNG_TEST, trial, 0, x, (size_t)d * count);
    for (size_t v = 0; unit && v < count; v++) {
        double s = norm2(x + v * d, d);
        for (int j = 0; j < d; j++)
            x[v * d + j] = (float)(x[v * d + j] / sqrt(s));
    }
    return x;
}

/* A spec from its fields. */
static kvq_codec_spec spec(int rot, int bits, int qjl, int nc, int nb)
{
    kvq_codec_spec s = {.rotation = rot, .mse_bits = bits, .qjl = qjl, .norm_correct = nc,
                        .norm_bits = nb};
    return s;
}

/* Quantizes and dequantizes count rows; returns 0 or the failing status. */
static int round_trip(const kvq_codec_spec *sp, int d, uint32_t trial, const float *x,
                      size_t count, kvq_qtensor *t, float *xhat, kvq_codec **out)
{
    kvq_codec *c = NULL;
    int st = kvq_codec_create(&c, sp, d, seed, 0, trial);
    if (st == 0)
        st = kvq__qtensor_init(t, c, count);
    if (st == 0)
        st = kvq__codec_quantize(c, x, count, t);
    if (st == 0)
        st = kvq__codec_dequantize(c, t, xhat);
    *out = c;
    return st;
}

/* n random rows through one codec and back: what most checks start from. */
typedef struct trip {
    float *x, *xh;
    kvq_qtensor t;
    kvq_codec *c;
    int st;
} trip;

/* Rows from TEST stream rows (unit-normalized if unit) through codec sp of
 * codec trial trial; st is round_trip's status. */
static trip trip_run(const kvq_codec_spec *sp, int d, size_t n, uint32_t rows, int unit,
                     uint32_t trial)
{
    trip r = {.x = random_rows(d, n, rows, unit), .xh = malloc(sizeof(float) * d * n)};
    r.st = round_trip(sp, d, trial, r.x, n, &r.t, r.xh, &r.c);
    return r;
}

/* Frees a round trip. */
static void trip_free(trip *r)
{
    kvq__qtensor_clear(&r->t);
    kvq_codec_destroy(r->c);
    free(r->x);
    free(r->xh);
}

/* Empirical E|x − x̂|² over random unit vectors against D_b(d), within 4 standard errors. */
static void check_distortion(int rot, int d, int b, size_t n)
{
    kvq_codec_spec sp = spec(rot, b, 0, 0, 32);
    trip r = trip_run(&sp, d, n, (uint32_t)(d * 10 + b), 1, 1);
    const float *x = r.x, *xh = r.xh;
    const kvq_codebook *cb = NULL;
    int st = r.st;
    double s = 0, s2 = 0;
    for (size_t v = 0; st == 0 && v < n; v++) {
        double e = 0;
        for (int j = 0; j < d; j++)
            e += ((double)x[v * d + j] - xh[v * d + j]) * ((double)x[v * d + j] - xh[v * d + j]);
        s += e;
        s2 += e * e;
    }
    double mean = s / n, se = sqrt((s2 / n - mean * mean) / (n - 1));
    kvq_codebook_get(d, b, &cb);
    ok(st == 0 && fabs(mean - cb->distortion) < 4 * se,
       "%s d=%d b=%d: mean |x-xhat|^2 = %.6g vs D_b(d) = %.6g (%.2f SE, n=%zu)",
       rot ? "wht" : "none", d, b, mean, cb->distortion, (mean - cb->distortion) / se, n);
    trip_free(&r);
}

/* Codes are the nearest centroid of u = R x / ν by brute force (ties lower), ν = |x|. */
static void check_codes(void)
{
    const int d = 128, b = 3, n = 50;
    kvq_codec_spec sp = spec(KVQ_ROT_WHT2, b, 0, 0, 32);
    trip r = trip_run(&sp, d, n, 5, 0, 2);
    const float *x = r.x;
    const kvq_qtensor *t = &r.t;
    const kvq_codec *c = r.c;
    int st = r.st, bad = 0;
    double nu_err = 0;
    for (int v = 0; st == 0 && v < n; v++) {
        const kvq_codebook *cb = kvq__codec_codebook(c);
        double u[128], nu = sqrt(norm2(x + v * d, d));
        uint8_t idx[128];
        for (int j = 0; j < d; j++)
            u[j] = x[v * d + j];
        kvq_rotation_forward(kvq__codec_rotation(c), u);
        kvq__unpack_codes(t->codes + v * t->words, d, b, idx);
        for (int j = 0; j < d; j++) {
            int best = 0;
            for (int k = 1; k < cb->levels; k++)
                if (fabs(u[j] / nu - cb->centroids[k]) < fabs(u[j] / nu - cb->centroids[best]))
                    best = k;
            bad += best != idx[j];
        }
        nu_err = fmax(nu_err, fabs(t->norms[v] / nu - 1));
    }
    ok(st == 0 && bad == 0, "codes are the nearest centroid of R x / |x| (%d mismatches)", bad);
    ok(st == 0 && nu_err < 1e-7, "stored norm is |x| (max rel. err %.1e)", nu_err);
    trip_free(&r);
}

/* Zero vectors and b = 0 give exact zeros, no NaN, for several codecs. */
static void check_zero_and_b0(void)
{
    const int d = 64;
    float zero[2 * 64] = {0}, xh[3 * 64], q[64];
    kvq_codec_spec specs[] = {spec(KVQ_ROT_WHT, 4, 0, 0, 32), spec(KVQ_ROT_WHT, 0, 1, 0, 32),
                              spec(KVQ_ROT_WHT2, 3, 1, 1, 16), spec(KVQ_ROT_NONE, 2, 0, 1, 32),
                              spec(KVQ_ROT_DENSE, 1, 1, 0, 32)};
    int bad = 0;
    for (int j = 0; j < d; j++)
        q[j] = 1.0f + j;
    for (int i = 0; i < 5; i++) {
        kvq_qtensor t;
        kvq_codec *c = NULL;
        double qr[64], sq[64];
        bad += round_trip(&specs[i], d, 0, zero, 2, &t, xh, &c) != 0;
        for (int j = 0; j < 2 * d; j++)
            bad += xh[j] != 0.0f;
        bad += t.norms[0] != 0.0f || (t.gammas && t.gammas[1] != 0.0f);
        if (specs[i].qjl) {
            int8_t z[64];
            kvq__unpack_signs(t.codes, d, d, specs[i].mse_bits, z);
            for (int j = 0; j < d; j++)
                bad += z[j] != 1;
        }
        kvq__codec_prepare_query(c, q, qr, sq);
        bad += kvq__codec_dot(c, &t, 1, qr, sq) != 0.0;
        kvq__qtensor_clear(&t);
        kvq_codec_destroy(c);
    }
    ok(bad == 0, "zero vectors: nu = gamma = 0, signs +1, xhat = 0 and dot = 0 exactly");

    /* b = 0 without QJL: nothing stored, x̂ = 0. */
    float *x = random_rows(d, 3, 8, 0);
    kvq_qtensor t;
    kvq_codec *c = NULL;
    kvq_codec_spec s0 = spec(KVQ_ROT_WHT, 0, 0, 0, 32);
    bad = round_trip(&s0, d, 0, x, 3, &t, xh, &c) != 0;
    for (int j = 0; j < 3 * d; j++)
        bad += xh[j] != 0.0f;
    ok(bad == 0 && kvq__codec_words(c) == 0 && !kvq__codec_codebook(c) && !kvq__codec_qjl_matrix(c),
       "b = 0: no words, no codebook, xhat = 0");
    kvq__qtensor_clear(&t);
    kvq_codec_destroy(c);
    free(x);
}

/* Norm correction: |x̂| = |x|; the stored value is |x| / |C[idx]|. */
static void check_norm_correction(void)
{
    const int d = 128, n = 20;
    kvq_codec_spec sp = spec(KVQ_ROT_WHT, 2, 0, 1, 32);
    trip r = trip_run(&sp, d, n, 9, 0, 0);
    double err = 0, stored_err = 0;
    for (int v = 0; r.st == 0 && v < n; v++) {
        double a = norm2(r.x + v * d, d), b = norm2(r.xh + v * d, d), cn = 0;
        uint8_t idx[128];
        kvq__unpack_codes(r.t.codes + v * r.t.words, d, 2, idx);
        for (int j = 0; j < d; j++)
            cn += kvq__codec_codebook(r.c)->centroids[idx[j]] *
                  kvq__codec_codebook(r.c)->centroids[idx[j]];
        err = fmax(err, fabs(sqrt(b / a) - 1));
        stored_err = fmax(stored_err, fabs(r.t.norms[v] / (sqrt(a) / sqrt(cn)) - 1));
    }
    ok(r.st == 0 && err < 1e-6 && stored_err < 1e-7,
       "norm correction: |xhat| = |x| (max rel. err %.1e), stored nu/|C[idx]|", err);
    trip_free(&r);
}

/* norm_bits 16: stored ν and γ are the half-rounded values; overflow is refused. */
static void check_half_norms(void)
{
    const int d = 64, n = 10;
    kvq_codec_spec sp = spec(KVQ_ROT_WHT, 2, 1, 0, 16);
    trip r = trip_run(&sp, d, n, 11, 0, 0);
    float *x = r.x;
    kvq_qtensor *t = &r.t;
    int bad = 0;
    for (int v = 0; r.st == 0 && v < n; v++) {
        bad += t->norms[v] != (float)kvq__round_half(sqrt(norm2(x + v * d, d)));
        bad += t->gammas[v] != (float)kvq__round_half(t->gammas[v]) || !(t->gammas[v] > 0);
    }
    ok(r.st == 0 && bad == 0 && kvq_codec_spec_get(r.c)->norm_bits == 16,
       "norm_bits 16: stored nu and gamma are IEEE half values");
    for (int j = 0; j < d; j++)
        x[j] = 1e4f;                  /* |x| = 8e4 > 65504 */
    ok(kvq__codec_quantize(r.c, x, 1, t) == KVQ_ERR_UNSUPPORTED,
       "norm_bits 16: a norm beyond the half range is KVQ_ERR_UNSUPPORTED");
    x[5] = NAN;
    ok(kvq__codec_quantize(r.c, x, 1, t) == KVQ_ERR_NONFINITE, "NaN input is KVQ_ERR_NONFINITE");
    x[5] = INFINITY;
    ok(kvq__codec_quantize(r.c, x, 1, t) == KVQ_ERR_NONFINITE, "Inf input is KVQ_ERR_NONFINITE");
    trip_free(&r);
}

/* The compressed-domain estimator equals ⟨q, x̂⟩ of the dequantized vector. */
static void check_dot(int rot, int b, int qjl, int m)
{
    const int d = 128, n = 40;
    kvq_codec_spec sp = spec(rot, b, qjl, 0, 32);
    sp.qjl_m = m;
    trip r = trip_run(&sp, d, n, 12, 0, 3);
    float *q = random_rows(d, 1, 13, 0);
    double err = 0, *qr = malloc(sizeof(double) * d), *sq = malloc(sizeof(double) * (m ? m : d));
    if (r.st == 0)
        kvq__codec_prepare_query(r.c, q, qr, sq);
    for (int v = 0; r.st == 0 && v < n; v++) {
        double ref = 0, nx = norm2(r.x + v * d, d), nq = norm2(q, d);
        for (int j = 0; j < d; j++)
            ref += (double)q[j] * r.xh[v * d + j];
        err = fmax(err, fabs(kvq__codec_dot(r.c, &r.t, v, qr, sq) - ref) / sqrt(nx * nq));
    }
    ok(r.st == 0 && err < 1e-6,
       "rot=%d mse%d%s m=%d: compressed dot = <q, xhat> (max err %.1e |q||x|)", rot, b,
       qjl ? "+qjl" : "", m, err);
    trip_free(&r);
    free(q);
    free(qr);
    free(sq);
}

/* Randomness: rotation and S come from the documented purposes of K or V. */
static void check_streams(void)
{
    const int d = 32;
    kvq_codec *k = NULL, *v = NULL;
    kvq_codec_spec sp = spec(KVQ_ROT_WHT, 1, 1, 0, 32);
    sp.qjl_m = 48;
    int st = kvq_codec_create(&k, &sp, d, seed, 0, 6) | kvq_codec_create(&v, &sp, d, seed, 1, 6);
    float *sk = malloc(sizeof(float) * 48 * d), *sv = malloc(sizeof(float) * 48 * d);
    kvq__rng_fill_normal(seed, KVQ_RNG_QJL_K, 6, 0, sk, 48 * (size_t)d);
    kvq__rng_fill_normal(seed, KVQ_RNG_QJL_V, 6, 0, sv, 48 * (size_t)d);
    kvq_rotation *rk = NULL, *rv = NULL;
    kvq_rotation_create(&rk, KVQ_ROT_WHT, d, seed, KVQ_RNG_ROT_K, 6);
    kvq_rotation_create(&rv, KVQ_ROT_WHT, d, seed, KVQ_RNG_ROT_V, 6);
    ok(st == 0 && memcmp(kvq__codec_qjl_matrix(k), sk, sizeof(float) * 48 * d) == 0 &&
       memcmp(kvq__codec_qjl_matrix(v), sv, sizeof(float) * 48 * d) == 0 &&
       memcmp(kvq__rotation_signs(kvq__codec_rotation(k), 0), kvq__rotation_signs(rk, 0), 4 * d) == 0 &&
       memcmp(kvq__rotation_signs(kvq__codec_rotation(v), 0), kvq__rotation_signs(rv, 0), 4 * d) == 0,
       "K uses ROT_K/QJL_K, V uses ROT_V/QJL_V streams");
    ok(st == 0 && kvq__codec_qjl_m(k) == 48 && kvq__codec_words(k) == (32 + 48 + 31) / 32 &&
       kvq_codec_spec_get(k)->qjl_m == 48 && kvq_codec_dim(k) == d,
       "accessors: m, words = ceil((b*d+m)/32), dim");
    kvq_codec_destroy(k);
    kvq_codec_destroy(v);
    kvq_rotation_destroy(rk);
    kvq_rotation_destroy(rv);
    free(sk);
    free(sv);
}

/* Bad specs and mismatched tensors are refused. */
static void check_args(void)
{
    kvq_codec *c = NULL;
    kvq_codec_spec bad_specs[] = {spec(4, 2, 0, 0, 32), spec(0, 9, 0, 0, 32), spec(0, -1, 0, 0, 32),
                                  spec(0, 2, 2, 0, 32), spec(0, 2, 0, 2, 32), spec(0, 2, 0, 0, 8)};
    int bad = 0;
    for (int i = 0; i < 6; i++)
        bad += kvq_codec_create(&c, &bad_specs[i], 64, 1, 0, 0) != KVQ_ERR_INVALID_ARG || c;
    kvq_codec_spec ok_spec = spec(KVQ_ROT_WHT, 2, 1, 0, 0);
    ok_spec.qjl_m = 16 * 64 + 1;
    bad += kvq_codec_create(&c, &ok_spec, 64, 1, 0, 0) != KVQ_ERR_INVALID_ARG;
    ok_spec.qjl_m = 0;
    bad += kvq_codec_create(&c, &ok_spec, 64, 1, 2, 0) != KVQ_ERR_INVALID_ARG;
    bad += kvq_codec_create(&c, &ok_spec, 15, 1, 0, 0) != KVQ_ERR_INVALID_ARG;
    bad += kvq_codec_create(&c, &ok_spec, 1025, 1, 0, 0) != KVQ_ERR_INVALID_ARG;
    /* wht at a d that is not a power of two is realized as the dense rotation */
    bad += kvq_codec_create(&c, &ok_spec, 96, 1, 0, 0) != 0 ||
           kvq_codec_spec_get(c)->rotation != KVQ_ROT_DENSE ||
           kvq_rotation_kind(kvq__codec_rotation(c)) != KVQ_ROT_DENSE;
    kvq_codec_destroy(c);
    bad += kvq_codec_create(&c, &ok_spec, 64, 1, 0, 0) != 0;
    bad += kvq_codec_spec_get(c)->norm_bits != 32 || kvq__codec_qjl_m(c) != 64;

    kvq_codec *other = NULL;
    kvq_codec_spec s3 = spec(KVQ_ROT_WHT, 3, 0, 0, 32);
    kvq_codec_create(&other, &s3, 64, 1, 0, 0);
    kvq_qtensor t;
    float x[64 * 3] = {1};
    kvq__qtensor_init(&t, other, 2);
    bad += kvq__codec_quantize(c, x, 1, &t) != KVQ_ERR_INVALID_ARG;      /* other codec's tensor */
    bad += kvq__codec_quantize(other, x, 3, &t) != KVQ_ERR_INVALID_ARG;  /* too many vectors */
    kvq__qtensor_clear(&t);
    kvq__qtensor_clear(&t);                                              /* safe twice */
    ok(bad == 0, "bad specs, tensor kinds, dims and mismatched tensors are KVQ_ERR_INVALID_ARG");
    kvq_codec_destroy(c);
    kvq_codec_destroy(other);
}

/* Position of a stage kind in the table; −1 if it is not there. */
static int table_index(const kvq__stage_def *d)
{
    for (size_t i = 0; i < kvq__stage_count; i++)
        if (kvq__stages[i] == d)
            return (int)i;
    return -1;
}

/* The kernel parameters and the stage list come from the stages present in
 * the spec: each field matches the spec it was derived from, and absent
 * stages leave their parameters at zero (32-bit side values by default). */
static void check_kparams(void)
{
    static const struct {
        kvq_codec_spec sp;
        int rounds, m, side, nstages;
        size_t words;
    } cases[] = {
        {{.rotation = KVQ_ROT_NONE, .mse_bits = 4}, 0, 0, 32, 2, 8},
        {{.rotation = KVQ_ROT_WHT, .mse_bits = 3, .qjl = 1, .norm_bits = 32}, 1, 64, 32, 3, 8},
        {{.rotation = KVQ_ROT_WHT2, .qjl = 1, .qjl_m = 40, .norm_bits = 16}, 2, 40, 16, 3, 2},
        {{.rotation = KVQ_ROT_DENSE, .mse_bits = 2, .qjl = 1, .qjl_m = 7, .norm_correct = 1,
          .norm_bits = 16}, 0, 7, 16, 5, 5},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kvq_codec *c = NULL;
        if (kvq_codec_create(&c, &cases[i].sp, 64, seed, 1, 0) != 0) {
            bad++;
            continue;
        }
        const kvq__codec_kparams *kp = kvq__codec_kparams_get(c);
        int good = kp->dim == 64 && kp->rotation == cases[i].sp.rotation &&
                   kp->rounds == cases[i].rounds && kp->mse_bits == cases[i].sp.mse_bits &&
                   kp->qjl_m == cases[i].m && kp->norm_correct == cases[i].sp.norm_correct &&
                   kp->side_bits == cases[i].side && kp->words == cases[i].words &&
                   kp->words == kvq__codec_words(c) && c->nstages == cases[i].nstages &&
                   c->stages[0] == &kvq__stage_rotation;
        for (int k = 1; k < c->nstages; k++)
            good &= table_index(c->stages[k]) > table_index(c->stages[k - 1]);
        if (!good)
            diag("case %zu: rounds %d bits %d m %d nc %d side %d words %zu stages %d", i,
                 kp->rounds, kp->mse_bits, kp->qjl_m, kp->norm_correct, kp->side_bits,
                 kp->words, c->nstages);
        bad += !good;
        kvq_codec_destroy(c);
    }
    ok(bad == 0, "kernel parameters and the stage list are derived from the stages present");
}

int main(void)
{
    plan(8 + 2 + 2 + 1 + 4 + 5 + 2 + 1 + 1);
    diag("seed %llu", (unsigned long long)seed);
    static const struct { int rot, d, b; size_t n; } distortion[] = {
        {KVQ_ROT_WHT, 64, 1, 3000}, {KVQ_ROT_WHT, 64, 2, 3000}, {KVQ_ROT_WHT, 128, 3, 3000},
        {KVQ_ROT_WHT, 128, 4, 3000}, {KVQ_ROT_NONE, 128, 4, 3000}, {KVQ_ROT_WHT, 256, 2, 2000},
        {KVQ_ROT_WHT, 16, 3, 4000}, {KVQ_ROT_WHT, 32, 8, 4000}};
    static const struct { int rot, b, qjl, m; } dots[] = {
        {KVQ_ROT_NONE, 4, 0, 0}, {KVQ_ROT_WHT, 3, 1, 0}, {KVQ_ROT_WHT2, 0, 1, 0},
        {KVQ_ROT_DENSE, 2, 1, 64}, {KVQ_ROT_WHT, 1, 1, 200}};
    for (size_t i = 0; i < sizeof distortion / sizeof distortion[0]; i++)
        check_distortion(distortion[i].rot, distortion[i].d, distortion[i].b, distortion[i].n);
    check_codes();
    check_zero_and_b0();
    check_norm_correction();
    check_half_norms();
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++)
        check_dot(dots[i].rot, dots[i].b, dots[i].qjl, dots[i].m);
    check_streams();
    check_args();
    check_kparams();
    return exit_status();
}
