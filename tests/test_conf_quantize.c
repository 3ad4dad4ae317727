/* test_conf_quantize.c — conformance: fused quantization and dequantization
 * on every OpenCL device against the host reference, for d ∈ {16 … 1024}
 * (powers of two, and the head sizes 80 … 192 where wht is realized as the
 * dense rotation, applied on the device by GEMM),
 * b ∈ 1…8, MSE and QJL codecs, norm correction, EDEN, structured QJL and 16-bit
 * side information,
 * ragged counts, zero vectors and large magnitudes (doc/conformance.md §1). */
#include "conformance.h"

static const int dims[] = {16, 64, 128, 256, 1024, 80, 96, 112, 160, 192};

/* The codecs of one (dim, bits) row: MSE, QJL (b−1 + sketch), and variants. */
static int codec_specs(int bits, kvq_codec_spec *out)
{
    int n = 0;
    out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_WHT, .mse_bits = bits, .norm_bits = 32};
    out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_WHT, .mse_bits = bits - 1, .qjl = 1,
                                .norm_bits = 32};
    if (bits == 2 || bits == 4)
        out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_NONE, .mse_bits = bits, .norm_bits = 32};
    if (bits == 3)
        out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_WHT2, .mse_bits = bits, .qjl = 1,
                                    .norm_correct = 1, .norm_bits = 16};
    /* refinements (doc/schemes.md §5): the EDEN scale, the structured sketch */
    if (bits == 2 || bits == 5)
        out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_WHT, .mse_bits = bits, .norm_bits = 32,
                                    .eden = 1};
    if (bits == 3)
        out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_WHT, .mse_bits = bits - 1, .qjl = 1,
                                    .norm_bits = 32, .eden = 1, .sqjl = 1};
    if (bits == 4)
        out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_NONE, .mse_bits = bits, .norm_bits = 16,
                                    .eden = 1};
    if (bits == 6)
        out[n++] = (kvq_codec_spec){.rotation = KVQ_ROT_WHT, .mse_bits = 0, .qjl = 1,
                                    .norm_bits = 32, .sqjl = 1};
    return n;
}

/* Deviation record of one comparison. */
typedef struct dev_stats {
    double norm, gamma, xhat;
    size_t codes, code_bad, code_near, signs, sign_bad, sign_near;
} dev_stats;

/* Host u = R x / ν of vector v (double). */
static void host_u(const kvq_codec *c, const float *x, int dim, double *u)
{
    double nu = conf_norm(x, dim);
    for (int j = 0; j < dim; j++)
        u[j] = x[j];
    kvq_rotation_forward(kvq__codec_rotation(c), u);
    for (int j = 0; j < dim; j++)
        u[j] = nu > 0 ? u[j] / nu : 0.0;
}

/* 1 if a code mismatch a ≠ b at value u is allowed: one level apart, and u
 * within 1e-5 (relative) of the threshold between them. */
static int near_threshold(const kvq_codebook *cb, double u, int a, int b)
{
    if (abs(a - b) != 1)
        return 0;
    double t = cb->thresholds[a < b ? a : b];
    return fabs(u - t) <= 1e-5 * fabs(t);
}

/* Host residual projection (S r)_l and its scale ‖s_l‖·‖r‖ for vector x. */
static void host_projection(const kvq_codec *c, const kvq_qtensor *t, size_t v, const float *x,
                            int l, double *proj, double *scale)
{
    int dim = kvq_codec_dim(c), bits = kvq_codec_spec_get(c)->mse_bits;
    double *y = calloc((size_t)dim, sizeof *y), pr = 0, ns = 0, nr = 0;
    uint8_t *idx = calloc((size_t)dim, 1);
    if (bits) {
        kvq__unpack_codes(t->codes + v * t->words, dim, bits, idx);
        for (int j = 0; j < dim; j++)
            y[j] = t->norms[v] * kvq__codec_codebook(c)->centroids[idx[j]];
        kvq_rotation_inverse(kvq__codec_rotation(c), y);
    }
    const float *s = kvq__codec_qjl_matrix(c) + (size_t)l * dim;
    for (int j = 0; j < dim; j++) {
        double r = x[j] - y[j];
        pr += s[j] * r;
        ns += (double)s[j] * s[j];
        nr += r * r;
    }
    *proj = pr;
    *scale = sqrt(ns * nr);
    free(y);
    free(idx);
}

/* Compares codes and sign bits of device (a) and host (b) tensors. */
static void compare_codes(const kvq_codec *c, const kvq_qtensor *a, const kvq_qtensor *b,
                          const float *x, size_t count, dev_stats *s)
{
    int dim = kvq_codec_dim(c), bits = kvq_codec_spec_get(c)->mse_bits, m = a->qjl_m;
    uint8_t *ia = malloc((size_t)dim), *ib = malloc((size_t)dim);
    int8_t *za = malloc((size_t)(m ? m : 1)), *zb = malloc((size_t)(m ? m : 1));
    double *u = malloc((size_t)dim * sizeof *u);
    for (size_t v = 0; v < count; v++) {
        const float *xv = x + v * (size_t)dim;
        if (bits) {
            kvq__unpack_codes(a->codes + v * a->words, dim, bits, ia);
            kvq__unpack_codes(b->codes + v * b->words, dim, bits, ib);
            host_u(c, xv, dim, u);
            for (int j = 0; j < dim; j++, s->codes++) {
                if (ia[j] == ib[j])
                    continue;
                s->code_bad++;
                s->code_near += near_threshold(kvq__codec_codebook(c), u[j], ia[j], ib[j]);
            }
        }
        if (!m)
            continue;
        kvq__unpack_signs(a->codes + v * a->words, m, dim, bits, za);
        kvq__unpack_signs(b->codes + v * b->words, m, dim, bits, zb);
        for (int l = 0; l < m; l++, s->signs++) {
            if (za[l] == zb[l])
                continue;
            double proj, scale;
            host_projection(c, b, v, xv, l, &proj, &scale);
            s->sign_bad++;
            s->sign_near += fabs(proj) <= 1e-5 * scale;
        }
    }
    free(ia);
    free(ib);
    free(za);
    free(zb);
    free(u);
}

/* Norm and γ deviations (γ relative to ‖x‖, one half-ulp allowed at 16 bits). */
static int compare_side(const kvq_codec *c, const kvq_qtensor *a, const kvq_qtensor *b,
                        const float *x, size_t count, dev_stats *s)
{
    int dim = kvq_codec_dim(c), half = kvq_codec_spec_get(c)->norm_bits == 16, good = 1;
    for (size_t v = 0; v < count; v++) {
        double ref = b->norms[v], d = fabs((double)a->norms[v] - ref);
        double tol = fmax(1e-6 * fabs(ref), half ? ldexp(fabs(ref), -10) : 0);
        double rel = ref != 0 ? d / fabs(ref) : d;
        if (d > tol && !(ref == 0 && d == 0))
            good = 0;
        if (!half)
            s->norm = fmax(s->norm, rel);
        if (a->qjl_m) {
            double nx = conf_norm(x + v * (size_t)dim, dim), g = fabs((double)a->gammas[v] - b->gammas[v]);
            double gt = fmax(1e-5 * nx, half ? ldexp(fabs((double)b->gammas[v]), -10) : 0);
            if (g > gt)
                good = 0;
            if (nx > 0 && !half)
                s->gamma = fmax(s->gamma, g / nx);
        }
    }
    return good;
}

/* Inputs: ragged count of normals with zero vectors and huge vectors (×1e6,
 * or ×1e3 where 16-bit side information must still hold the norm). */
static float *make_inputs(size_t count, int dim, uint32_t tag, float huge)
{
    float *x = conf_normals(count, dim, tag, 1.0f);
    if (!x)
        return NULL;
    for (size_t v = 0; v < count; v++) {
        float *row = x + v * (size_t)dim;
        if (v % 11 == 3)
            memset(row, 0, (size_t)dim * sizeof *row);
        if (v % 13 == 7)
            for (int j = 0; j < dim; j++)
                row[j] *= huge;
    }
    return x;
}

/* Quantizes on both sides and compares; returns 1 if within doc/conformance.md §1. */
static int check_codec(kvq_ctx *ctx, const kvq_codec_spec *sp, int dim, size_t count,
                       dev_stats *s, char *what, size_t wlen)
{
    kvq_codec *c = NULL;
    kvq_qtensor a = {0}, b = {0};
    conf_io io;
    int have = conf_io_make(&io, make_inputs(count, dim,
                                             (uint32_t)(dim * 31 + sp->mse_bits * 3 + sp->qjl),
                                             sp->norm_bits == 16 ? 1e3f : 1e6f), count, dim) == 0;
    const float *x = io.x;
    int good = 0;
    char desc[64];
    kvq_codec_spec_format(sp, desc, sizeof desc);
    snprintf(what, wlen, "d=%d %s n=%zu", dim, desc, count);
    if (kvq_codec_create(&c, sp, dim, CONF_SEED, 0, 1) || kvq__qtensor_init(&a, c, count) ||
        kvq__qtensor_init(&b, c, count) || !have)
        goto cleanup;
    int st = kvq_quantize(ctx, c, x, count, &a);
    if (st || kvq__codec_quantize(c, x, count, &b)) {
        diag("%s: quantize failed: %s (%s)", what, kvq_strerror(st), kvq_error_detail());
        goto cleanup;
    }
    good = compare_side(c, &a, &b, x, count, s);
    size_t bad0 = s->code_bad, near0 = s->code_near, sb0 = s->sign_bad, sn0 = s->sign_near;
    compare_codes(c, &a, &b, x, count, s);
    good &= (s->code_bad - bad0) == (s->code_near - near0);
    good &= (s->sign_bad - sb0) == (s->sign_near - sn0);
    /* dequantize the same (host) codes on both sides */
    st = kvq_dequantize(ctx, c, &b, io.dev);
    if (st || kvq__codec_dequantize(c, &b, io.host)) {
        diag("%s: dequantize failed: %s (%s)", what, kvq_strerror(st), kvq_error_detail());
        good = 0;
        goto cleanup;
    }
    double dx = conf_io_dev(&io, count, dim);
    s->xhat = fmax(s->xhat, dx);
    good &= dx <= 1e-5;
cleanup:
    kvq__qtensor_clear(&a);
    kvq__qtensor_clear(&b);
    kvq_codec_destroy(c);
    conf_io_free(&io);
    return good;
}

/* Every dimension, budget and codec variant on one device. */
static void body(kvq_ctx *ctx, const char *spec, kvq_ctx *host)
{
    kvq_codec_spec sp[4];
    dev_stats s = {0};
    (void)host;
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int b = 1; b <= 8; b++) {
            int n = codec_specs(b, sp);
            for (int k = 0; k < n; k++) {
                char what[128];
                size_t count = dims[i] >= 1024 ? 67 : 301;
                int good = check_codec(ctx, &sp[k], dims[i], count, &s, what, sizeof what);
                ok(good, "%s: norms, codes, signs, dequantization agree", what);
            }
        }
    ok(s.code_bad <= s.codes / 10000, "code mismatches %zu of %zu (all near thresholds: %zu)",
       s.code_bad, s.codes, s.code_near);
    ok(s.sign_bad <= s.signs / 10000, "sign mismatches %zu of %zu (near zero: %zu)", s.sign_bad,
       s.signs, s.sign_near);
    diag("worst deviations on %s: norm %.3g (relative), gamma %.3g of |x|, xhat %.3g of |x|",
         spec, s.norm, s.gamma, s.xhat);
}

int main(void)
{
    kvq_codec_spec sp[4];
    size_t per = 2;
    for (int b = 1; b <= 8; b++)
        per += (size_t)codec_specs(b, sp) * (sizeof dims / sizeof dims[0]);
    return conf_main(per, body);
}
