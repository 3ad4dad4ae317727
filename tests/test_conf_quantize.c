/* test_conf_quantize.c — conformance: fused quantization and dequantization
 * on every OpenCL device against the host reference, for d ∈ {16 … 1024}
 * (powers of two, and the head sizes 80 … 192 where wht is realized as the
 * dense rotation, applied on the device by GEMM),
 * b ∈ 1…8, MSE and QJL codecs, norm correction, EDEN, structured QJL and 16-bit
 * side information,
 * ragged counts, zero vectors and large magnitudes (doc/conformance.md §1);
 * the deployed formats of doc/schemes.md §6 and the outlier channels of
 * doc/schemes.md §7. */
#include "conformance.h"
#include "core/stage.h"

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

/* x̂ of the same (host) codes t on the device and the host within 1e-5 of ‖x‖. */
static int dequant_agrees(kvq_ctx *ctx, const kvq_codec *c, const kvq_qtensor *t, conf_io *io,
                          size_t count, dev_stats *s, const char *what)
{
    int dim = kvq_codec_dim(c), st = kvq_dequantize(ctx, c, t, io->dev);
    if (st || kvq__codec_dequantize(c, t, io->host)) {
        diag("%s: dequantize failed: %s (%s)", what, kvq_strerror(st), kvq_error_detail());
        return 0;
    }
    double dx = conf_io_dev(io, count, dim);
    s->xhat = fmax(s->xhat, dx);
    return dx <= 1e-5;
}

/* Frees what a check made (codec, device and host tensors, inputs) and
 * returns its verdict. */
static int check_done(kvq_codec *c, kvq_qtensor *a, kvq_qtensor *b, conf_io *io, int good)
{
    kvq__qtensor_clear(a);
    kvq__qtensor_clear(b);
    kvq_codec_destroy(c);
    conf_io_free(io);
    return good;
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
    good &= dequant_agrees(ctx, c, &b, &io, count, s, what);
cleanup:
    return check_done(c, &a, &b, &io, good);
}

/* out<c>@<b2> (doc/schemes.md §7): codec specs and dimensions. The rest's
 * variants (QJL, sqjl, nc, eden, nb16, wht2, none) and c = 1, powers of two
 * and not; d = 64, 128 and 96 (the rest's rotation dense at 96 − c). */
static const struct { const char *spec; int dim; } outlier_cases[] = {
    {"wht:mse2+out8@4", 128},        {"wht:mse3+qjl+out4@6", 128},
    {"wht:mse2+out4@6", 64},         {"wht2:mse3+nc+nb16+out3@5", 64},
    {"wht:mse2+out4@6", 96},         {"none:mse4+eden+out1@8", 96},
    {"wht:mse2+sqjl+out32@3", 96},   {"wht:qjl+nb16+out16@2", 128},
};
#define NOUTLIER (sizeof outlier_cases / sizeof outlier_cases[0])

/* Part p of tensor t (layout of doc/schemes.md §7.2) as a tensor of its own. */
static kvq_qtensor part_view(const kvq_codec *c, const kvq_qtensor *t, int p)
{
    const kvq__codec_kparams *k = &c->part[p]->kp, *k0 = &c->part[0]->kp;
    kvq_qtensor v = {k->dim, t->count, k->mse_bits, k->qjl_m, k->side_bits, k->words,
                     t->codes, t->norms, t->gammas, NULL, 0};
    if (p) {
        v.codes += t->count * k0->words;
        v.norms = (float *)(t->tside + c->kp.out_channels);
        v.gammas = NULL;
    }
    return v;
}

/* Quantizes with an out<c>@<b2> codec on both sides: the channel lists are
 * identical, each part's norms, codes and signs agree by the rules of one
 * codec (on that part's columns of x), and x̂ of the same codes agrees. */
static int check_outlier(kvq_ctx *ctx, const char *text, int dim, size_t count, dev_stats *s)
{
    kvq_scheme sc;
    kvq_codec *c = NULL;
    kvq_qtensor a = {0}, b = {0};
    conf_io io;
    float *xp = malloc(count * (size_t)dim * sizeof *xp);
    int have = conf_io_make(&io, make_inputs(count, dim, (uint32_t)dim * 7 + 5, 1e3f), count,
                            dim) == 0 && xp;
    int good = 0, cols[KVQ__DIM_MAX];
    char spec[96];
    snprintf(spec, sizeof spec, "k=%s,v=%s", text, text);
    if (!have || kvq_scheme_parse(spec, 0, &sc, NULL, 0) ||
        kvq_codec_create(&c, &sc.k, dim, CONF_SEED, 0, 1) || kvq__qtensor_init(&a, c, count) ||
        kvq__qtensor_init(&b, c, count))
        goto cleanup;
    int st = kvq_quantize(ctx, c, io.x, count, &a);
    if (st || kvq__codec_quantize(c, io.x, count, &b)) {
        diag("%s: quantize failed: %s (%s)", text, kvq_strerror(st), kvq_error_detail());
        goto cleanup;
    }
    int oc = c->kp.out_channels, d0 = c->part[0]->kp.dim;
    good = memcmp(a.tside, b.tside, (size_t)oc * sizeof *a.tside) == 0;
    kvq__out_order(c, &b, cols, cols + d0);
    for (int p = 0, off = 0; p < 2; off += c->part[p]->kp.dim, p++) {
        int w = c->part[p]->kp.dim;
        kvq_qtensor va = part_view(c, &a, p), vb = part_view(c, &b, p);
        for (size_t v = 0; v < count; v++)
            for (int k = 0; k < w; k++)
                xp[v * (size_t)w + k] = io.x[v * (size_t)dim + cols[off + k]];
        good &= compare_side(c->part[p], &va, &vb, xp, count, s);
        size_t bad0 = s->code_bad, near0 = s->code_near, sb0 = s->sign_bad, sn0 = s->sign_near;
        compare_codes(c->part[p], &va, &vb, xp, count, s);
        good &= (s->code_bad - bad0) == (s->code_near - near0);
        good &= (s->sign_bad - sb0) == (s->sign_near - sn0);
    }
    good &= dequant_agrees(ctx, c, &b, &io, count, s, text);
cleanup:
    free(xp);
    return check_done(c, &a, &b, &io, good);
}

/* The deployed formats, and how many dims × formats run (block formats need d % 32 = 0). */
static const int formats[] = {KVQ_FORMAT_Q8_0, KVQ_FORMAT_Q4_0, KVQ_FORMAT_Q4_1,
                              KVQ_FORMAT_FP8E4M3, KVQ_FORMAT_FP8E5M2, KVQ_FORMAT_FP16};
#define NFORMATS (sizeof formats / sizeof formats[0])

static int format_runs(int fmt, int dim)
{
    return dim % 32 == 0 || fmt >= KVQ_FORMAT_FP8E4M3;
}

/* Stream field of vector v (doc/schemes.md §6.3). */
static unsigned stream_field(const kvq_qtensor *t, size_t v, size_t bit, int width)
{
    const uint32_t *w = t->codes + v * t->words;
    return (w[bit >> 5] >> (bit & 31)) & ((1u << width) - 1u);
}

/* A format on the device against the host: every fp16 block field
 * identical, codes identical except one level apart (counted in s), and the
 * device's x̂ of the host's codes within 1e-5 of ‖x‖. */
static int check_format(kvq_ctx *ctx, int fmt, int dim, size_t count, dev_stats *s, char *what,
                        size_t wlen)
{
    kvq_codec_spec sp = {.format = fmt};
    kvq_codec *c = NULL;
    kvq_qtensor a = {0}, b = {0};
    conf_io io;
    int have = conf_io_make(&io, make_inputs(count, dim, (uint32_t)(dim * 37 + fmt), 1e3f),
                            count, dim) == 0, good = 0;
    char desc[32];
    kvq_codec_spec_format(&sp, desc, sizeof desc);
    snprintf(what, wlen, "d=%d %s n=%zu", dim, desc, count);
    if (kvq_codec_create(&c, &sp, dim, CONF_SEED, 0, 1) || kvq__qtensor_init(&a, c, count) ||
        kvq__qtensor_init(&b, c, count) || !have)
        goto cleanup;
    int st = kvq_quantize(ctx, c, io.x, count, &a);
    if (st || kvq__codec_quantize(c, io.x, count, &b)) {
        diag("%s: quantize failed: %s (%s)", what, kvq_strerror(st), kvq_error_detail());
        goto cleanup;
    }
    const kvq__codec_kparams *kp = kvq__codec_kparams_get(c);
    int cb = kp->code_bits, fields = kp->block_params * dim / 32;
    size_t far = 0;
    good = 1;
    for (size_t v = 0; v < count; v++) {
        for (int j = 0; j < dim; j++, s->codes++) {
            int ca = (int)stream_field(&a, v, (size_t)j * cb, cb);
            int cbh = (int)stream_field(&b, v, (size_t)j * cb, cb);
            if (fmt == KVQ_FORMAT_Q8_0) {
                ca = (int8_t)ca;
                cbh = (int8_t)cbh;
            }
            s->code_bad += ca != cbh;
            s->code_near += abs(ca - cbh) == 1 && fmt <= KVQ_FORMAT_Q4_1;
            far += ca != cbh && !(abs(ca - cbh) == 1 && fmt <= KVQ_FORMAT_Q4_1);
        }
        for (int f = 0; f < fields; f++)
            good &= stream_field(&a, v, (size_t)cb * dim + 16 * (size_t)f, 16) ==
                    stream_field(&b, v, (size_t)cb * dim + 16 * (size_t)f, 16);
    }
    good &= far == 0 && dequant_agrees(ctx, c, &b, &io, count, s, what);
cleanup:
    return check_done(c, &a, &b, &io, good);
}

/* KIVI on the device against the host for tensor 0 (K: token groups) or 1
 * (V: channel groups): codes one level apart at most; group side words
 * identical except fp16(δ) one unit apart in at most 1% of the groups (the
 * device computes δ in float, the host in double, so a δ within float
 * rounding of a half midpoint may round either way; lo is an input value
 * and must match); x̂ of the host's codes. */
static int check_kivi(kvq_ctx *ctx, const kvq_codec_spec *sp, int tensor, int dim, size_t count,
                      dev_stats *s, char *what, size_t wlen)
{
    kvq_codec *c = NULL;
    kvq_qtensor a = {0}, b = {0};
    conf_io io;
    int have = conf_io_make(&io, make_inputs(count, dim, (uint32_t)(dim * 41 + tensor), 1e3f),
                            count, dim) == 0, good = 0;
    uint8_t *ia = malloc((size_t)dim), *ib = malloc((size_t)dim);
    char desc[32];
    kvq_codec_spec_format(sp, desc, sizeof desc);
    snprintf(what, wlen, "d=%d %s on %s n=%zu", dim, desc, tensor ? "V" : "K", count);
    if (kvq_codec_create(&c, sp, dim, CONF_SEED, tensor, 1) || kvq__qtensor_init(&a, c, count) ||
        kvq__qtensor_init(&b, c, count) || !have || !ia || !ib)
        goto cleanup;
    int st = kvq_quantize(ctx, c, io.x, count, &a);
    if (st || kvq__codec_quantize(c, io.x, count, &b)) {
        diag("%s: quantize failed: %s (%s)", what, kvq_strerror(st), kvq_error_detail());
        goto cleanup;
    }
    size_t far = 0, side_bad = 0;
    for (size_t v = 0; v < count; v++) {
        kvq__unpack_codes(a.codes + v * a.words, dim, sp->format_bits, ia);
        kvq__unpack_codes(b.codes + v * b.words, dim, sp->format_bits, ib);
        for (int j = 0; j < dim; j++, s->codes++) {
            s->code_bad += ia[j] != ib[j];
            s->code_near += abs(ia[j] - ib[j]) == 1;
            far += abs(ia[j] - ib[j]) > 1;
        }
    }
    for (size_t w = 0; w < b.tside_words; w++) {
        int dd = (int)(a.tside[w] & 0xffffu) - (int)(b.tside[w] & 0xffffu);
        side_bad += a.tside[w] != b.tside[w];
        far += (a.tside[w] >> 16) != (b.tside[w] >> 16) || abs(dd) > 1;
    }
    if (side_bad)
        diag("%s: %zu of %zu group words differ by one unit of fp16(delta)", what, side_bad,
             b.tside_words);
    good = far == 0 && side_bad <= b.tside_words / 100 &&
           dequant_agrees(ctx, c, &b, &io, count, s, what);
cleanup:
    free(ia);
    free(ib);
    return check_done(c, &a, &b, &io, good);
}

/* KIVI cases: (bits, group, tensor, dim, count); the last two for the CPU
 * kernel's 16-channel steps: a K group that divides neither N nor 16, a V
 * group of 16 at d = 48. */
static const int kivi_cases[][5] = {{2, 32, 0, 128, 301}, {2, 32, 1, 128, 301},
                                    {4, 64, 0, 64, 100},  {3, 48, 1, 128, 67},
                                    {8, 7, 0, 16, 50},    {1, 1024, 1, 1024, 20},
                                    {3, 5, 0, 32, 53},    {4, 16, 1, 48, 40}};
#define NKIVI (sizeof kivi_cases / sizeof kivi_cases[0])

/* fp8 on every finite half value (a superset of the fp8 codes, of their
 * midpoints and of the values one half-ulp either side, and of overflow):
 * the device's codes are the host's, exactly. */
static int check_fp8_all(kvq_ctx *ctx, int fmt)
{
    const int d = 128;
    size_t n = 0, rows = 63488 / 128;
    float *x = malloc(63488 * sizeof *x);
    kvq_codec_spec sp = {.format = fmt};
    kvq_codec *c = NULL;
    kvq_qtensor a = {0}, b = {0};
    int good = 0;
    for (unsigned h = 0; x && h < 65536; h++)
        if (((h >> 10) & 31) != 31)
            x[n++] = (float)(((h >> 10) & 31) ? ldexp(1024 + (h & 1023), (int)((h >> 10) & 31) - 25)
                                              : ldexp(h & 1023, -24)) * ((h & 0x8000) ? -1 : 1);
    if (x && !kvq_codec_create(&c, &sp, d, CONF_SEED, 0, 0) && !kvq__qtensor_init(&a, c, rows) &&
        !kvq__qtensor_init(&b, c, rows) && !kvq_quantize(ctx, c, x, rows, &a) &&
        !kvq__codec_quantize(c, x, rows, &b))
        good = !memcmp(a.codes, b.codes, rows * a.words * sizeof *a.codes);
    kvq__qtensor_clear(&a);
    kvq__qtensor_clear(&b);
    kvq_codec_destroy(c);
    free(x);
    return good;
}

/* Every format and dimension on one device, and a value beyond half's range. */
static void format_body(kvq_ctx *ctx)
{
    dev_stats s = {0};
    ok(check_fp8_all(ctx, KVQ_FORMAT_FP8E4M3), "fp8e4m3: every finite half value codes as on the host");
    ok(check_fp8_all(ctx, KVQ_FORMAT_FP8E5M2), "fp8e5m2: every finite half value codes as on the host");
    for (size_t i = 0; i < NKIVI; i++) {
        char what[128];
        const int *k = kivi_cases[i];
        kvq_codec_spec sp = {.format = KVQ_FORMAT_KIVI, .format_bits = k[0], .format_group = k[1]};
        ok(check_kivi(ctx, &sp, k[2], k[3], (size_t)k[4], &s, what, sizeof what),
           "%s: codes, group scales and dequantization agree", what);
    }
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (size_t f = 0; f < NFORMATS; f++) {
            if (!format_runs(formats[f], dims[i]))
                continue;
            char what[128];
            int good = check_format(ctx, formats[f], dims[i], dims[i] >= 1024 ? 67 : 301, &s,
                                    what, sizeof what);
            ok(good, "%s: block fields, codes and dequantization agree", what);
        }
    ok(s.code_bad <= s.codes / 10000, "format code mismatches %zu of %zu (one level apart: %zu)",
       s.code_bad, s.codes, s.code_near);
    kvq_codec_spec sp = {.format = KVQ_FORMAT_FP16};
    kvq_codec *c = NULL;
    kvq_qtensor t = {0};
    float x[64] = {1.0f, 7e4f};
    int st = kvq_codec_create(&c, &sp, 64, CONF_SEED, 0, 0);
    if (!st)
        st = kvq__qtensor_init(&t, c, 1);
    if (!st)
        st = kvq_quantize(ctx, c, x, 1, &t);
    ok(st == KVQ_ERR_UNSUPPORTED, "fp16: a value beyond 65504 is refused as on the host (%s)",
       kvq_strerror(st));
    kvq__qtensor_clear(&t);
    kvq_codec_destroy(c);
}

/* Every dimension, budget and codec variant on one device. */
static void body(kvq_ctx *ctx, const char *spec, kvq_ctx *host)
{
    kvq_codec_spec sp[4];
    dev_stats s = {0};
    (void)host;
    format_body(ctx);
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
    dev_stats so = {0};
    for (size_t i = 0; i < NOUTLIER; i++)
        ok(check_outlier(ctx, outlier_cases[i].spec, outlier_cases[i].dim, 301, &so),
           "d=%d %s: channel list, both parts' norms, codes and signs, dequantization agree",
           outlier_cases[i].dim, outlier_cases[i].spec);
    diag("out<c>@<b2> on %s: norm %.3g (relative), gamma %.3g of |x|, xhat %.3g of |x|; code "
         "mismatches %zu of %zu, sign mismatches %zu of %zu", spec, so.norm, so.gamma, so.xhat,
         so.code_bad, so.codes, so.sign_bad, so.signs);
    s.codes += so.codes;
    s.code_bad += so.code_bad;
    s.code_near += so.code_near;
    s.signs += so.signs;
    s.sign_bad += so.sign_bad;
    s.sign_near += so.sign_near;
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
    size_t per = 2 + 2 + 2 + NKIVI + NOUTLIER;
    for (int b = 1; b <= 8; b++)
        per += (size_t)codec_specs(b, sp) * (sizeof dims / sizeof dims[0]);
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (size_t f = 0; f < NFORMATS; f++)
            per += (size_t)format_runs(formats[f], dims[i]);
    return conf_main(per, body);
}
