/* test_format_kernels.c — the CPU kernels of fp8e4m3, fp8e5m2, fp16 and KIVI
 * (doc/kernels.md §4.1) against the one-key / scalar kernels that GPUs and
 * KVQ_PORTABLE_KERNELS=1 run (those are held to the host reference by
 * test_conf_attention and test_conf_quantize): the logits bit for bit (the
 * same sums in the same order), and the quantized codes, side words and
 * dequantized x̂ bit for bit. Edges: fewer keys than a work-item's 16 lanes and a remainder, a
 * window of keys starting at j0 > 0, d = 16 … 1024, KIVI groups under 16
 * tokens, straddling 16 and dividing neither N nor d, on K and on V. */
#include "conformance.h"

#include "core/stage.h"
#include "device/device.h"

typedef struct fmt_case {
    kvq_codec_spec spec;
    int dim;
    size_t keys, j0, queries;
    int tensor;     /* 0 = K (KIVI: token groups per channel), 1 = V (channel groups) */
} fmt_case;

#define FP8E4 {.format = KVQ_FORMAT_FP8E4M3}
#define FP8E5 {.format = KVQ_FORMAT_FP8E5M2}
#define FP16 {.format = KVQ_FORMAT_FP16}
#define KIVI(b, g) {.format = KVQ_FORMAT_KIVI, .format_bits = (b), .format_group = (g)}

static const fmt_case cases[] = {
    {FP8E4, 128, 203, 5, 3, 0},      {FP8E4, 20, 7, 0, 2, 0},       {FP8E5, 1024, 40, 3, 1, 0},
    {FP8E5, 64, 16, 0, 2, 0},        {FP16, 128, 100, 1, 2, 0},     {FP16, 16, 33, 0, 1, 0},
    {FP16, 1024, 17, 0, 1, 0},       {KIVI(4, 32), 128, 203, 5, 3, 0},
    {KIVI(2, 7), 32, 101, 0, 2, 0},  {KIVI(3, 40), 64, 150, 9, 1, 0},
    {KIVI(8, 0), 1024, 19, 0, 1, 0}, {KIVI(1, 16), 128, 9, 0, 2, 0},
    {KIVI(2, 0), 128, 50, 0, 1, 1},  {KIVI(3, 5), 48, 37, 2, 2, 1}, {KIVI(4, 64), 32, 20, 0, 1, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* A context on the first OpenCL CPU device, the portable kernels or not. */
static kvq_ctx *cpu_context(int portable)
{
    char specs[8][16];
    size_t n = conf_devices(specs, 8);
    if (portable)
        setenv("KVQ_PORTABLE_KERNELS", "1", 1);
    else
        unsetenv("KVQ_PORTABLE_KERNELS");
    for (size_t i = 0; i < n; i++) {
        kvq_ctx *ctx = NULL;
        if (!kvq_ctx_create(&ctx, specs[i]) && kvq_ctx_device(ctx)->type == KVQ_DEVICE_CPU)
            return ctx;
        kvq_ctx_destroy(ctx);
    }
    return NULL;
}

/* n seeded random words; fp16 codes keep below the all-ones exponent (Inf
 * and NaN, whose payloads need not match) and KIVI's side words finite
 * fp16 pairs. */
static uint32_t *random_words(size_t n, uint32_t tag, uint32_t mask)
{
    uint32_t *w = malloc((n ? n : 1) * sizeof *w);
    kvq__rng r;
    kvq__rng_init(&r, CONF_SEED, KVQ_RNG_TEST, tag);
    for (size_t i = 0; w && i < n; i++)
        w[i] = kvq__rng_u32(&r) & mask;
    return w;
}

/* Hands back a run's four buffers and its device codec. */
static void release(kvq_ctx *ctx, cl_mem b[4], kvq__dev_codec *dc)
{
    for (int i = 0; i < 4; i++)
        kvq__pool_release(ctx, b[i]);
    kvq__dev_codec_release(ctx, dc);
}

/* The logits of case c (random codes) on ctx into out. */
static int logits_on(kvq_ctx *ctx, const fmt_case *c, kvq_codec *codec, const uint32_t *codes,
                     const uint32_t *side, size_t side_words, const float *q, float *out,
                     int *vec)
{
    kvq__dev_codec dc = {0};
    cl_mem b[4] = {NULL, NULL, NULL, NULL};   /* codes, side words, queries, logits */
    size_t rows = c->j0 + c->keys, nout = c->queries * c->keys;
    int st;
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, codec, &dc));
    *vec = kvq__dev_format_logits_vec(ctx, &dc);
    KVQ_TRY(st, kvq__dev_upload(ctx, codes, rows * dc.words * 4, &b[0]));
    KVQ_TRY(st, kvq__dev_upload(ctx, side, side_words * 4, &b[1]));
    KVQ_TRY(st, kvq__dev_upload(ctx, q, c->queries * (size_t)c->dim * 4, &b[2]));
    KVQ_TRY(st, kvq__pool_acquire(ctx, nout * 4, &b[3]));
    KVQ_TRY(st, kvq__dev_format_logits(ctx, &dc, b[0], b[1], b[2], c->j0, c->keys, c->queries,
                                       b[3]));
    st = kvq__dev_download(ctx, b[3], 0, out, nout * 4);
cleanup:
    release(ctx, b, &dc);
    return st;
}

/* Codes and side words of case c's keys quantized on ctx into codes / side
 * (norms are summed in another order by the CPU kernel and not compared),
 * and x̂ of those codes into xhat. */
static int quantize_on(kvq_ctx *ctx, const fmt_case *c, kvq_codec *codec, const float *x,
                       uint32_t *codes, uint32_t *side, size_t side_words, float *xhat, int *vec)
{
    kvq__dev_codec dc = {0};
    cl_mem b[4] = {NULL, NULL, NULL, NULL};   /* x, codes, norms, side words */
    size_t n = c->keys;
    int st;
    KVQ_TRY(st, kvq__dev_codec_upload(ctx, codec, &dc));
    *vec = kvq__dev_format_vec16(ctx, &dc);
    KVQ_TRY(st, kvq__dev_upload(ctx, x, n * (size_t)c->dim * 4, &b[0]));
    KVQ_TRY(st, kvq__pool_acquire(ctx, n * dc.words * 4, &b[1]));
    KVQ_TRY(st, kvq__pool_acquire(ctx, n * 4, &b[2]));
    KVQ_TRY(st, kvq__dev_upload(ctx, NULL, side_words * 4, &b[3]));
    /* words past the keys' own (side_words covers j0 + keys rows) are
     * compared too: zero, not whatever the pool's buffer held */
    KVQ_TRY(st, kvq__dev_zero(ctx, b[3], side_words * 4));
    KVQ_TRY(st, kvq__dev_format_quantize(ctx, &dc, b[0], n, b[1], b[2], b[3]));
    KVQ_TRY(st, kvq__dev_download(ctx, b[1], 0, codes, n * dc.words * 4));
    KVQ_TRY(st, kvq__dev_download(ctx, b[3], 0, side, side_words * 4));
    KVQ_TRY(st, kvq__dev_format_dequantize(ctx, &dc, b[1], b[3], n, b[0]));
    st = kvq__dev_download(ctx, b[0], 0, xhat, n * (size_t)c->dim * 4);
cleanup:
    release(ctx, b, &dc);
    return st;
}

/* The inputs of case i and both contexts' outputs. */
typedef struct run {
    kvq_codec *codec;
    size_t words, side_words;
    uint32_t *codes, *side;
    float *q, *x, *out[2], *xhat[2];
    uint32_t *qcodes[2], *qside[2];
} run;

static void run_free(run *r)
{
    kvq_codec_destroy(r->codec);
    free(r->codes);
    free(r->side);
    free(r->q);
    free(r->x);
    for (int k = 0; k < 2; k++) {
        free(r->out[k]);
        free(r->qcodes[k]);
        free(r->qside[k]);
        free(r->xhat[k]);
    }
}

static int run_make(const fmt_case *c, uint32_t tag, run *r)
{
    size_t rows = c->j0 + c->keys;
    int fp16 = c->spec.format == KVQ_FORMAT_FP16;
    memset(r, 0, sizeof *r);
    if (kvq_codec_create(&r->codec, &c->spec, c->dim, CONF_SEED, c->tensor, 0))
        return -1;
    r->words = kvq__codec_words(r->codec);
    r->side_words = kvq__codec_tside_words(r->codec, rows);
    if (r->side_words < rows)
        r->side_words = rows;
    r->codes = random_words(rows * r->words, tag, fp16 ? 0xbbffbbffu : 0xffffffffu);
    r->side = random_words(r->side_words, tag + 1, 0xbbffbbffu);
    r->q = conf_normals(c->queries, c->dim, tag + 2, 1.0f);
    r->x = conf_normals(c->keys, c->dim, tag + 3, 1.0f);
    for (int k = 0; k < 2; k++) {
        r->out[k] = malloc(c->queries * c->keys * sizeof(float));
        r->qcodes[k] = malloc(c->keys * r->words * 4);
        r->qside[k] = malloc(r->side_words * 4);
        r->xhat[k] = malloc(c->keys * (size_t)c->dim * sizeof(float));
    }
    return r->codes && r->side && r->q && r->x && r->out[0] && r->out[1] && r->qcodes[0] &&
                   r->qcodes[1] && r->qside[0] && r->qside[1] && r->xhat[0] && r->xhat[1]
               ? 0
               : -1;
}

/* Case i on the CPU kernels (ctx[0]) and the portable ones (ctx[1]). */
static void check(kvq_ctx *ctx[2], size_t i)
{
    const fmt_case *c = &cases[i];
    char desc[48];
    run r;
    int st = run_make(c, (uint32_t)(100 + 8 * i), &r), lvec[2] = {0, 0}, qvec[2] = {0, 0};
    kvq_codec_spec_format(&c->spec, desc, sizeof desc);
    for (int k = 0; !st && k < 2; k++) {
        st = logits_on(ctx[k], c, r.codec, r.codes, r.side, r.side_words, r.q, r.out[k],
                       &lvec[k]);
        if (!st)
            st = quantize_on(ctx[k], c, r.codec, r.x, r.qcodes[k], r.qside[k], r.side_words,
                             r.xhat[k], &qvec[k]);
    }
    if (st)
        diag("%s d=%d: %s (%s)", desc, c->dim, kvq_strerror(st), kvq_error_detail());
    int whole = c->dim % (c->spec.format == KVQ_FORMAT_KIVI ? 32 : 4) == 0;
    ok(!st && lvec[0] == whole && !lvec[1] &&
           !memcmp(r.out[0], r.out[1], c->queries * c->keys * sizeof(float)),
       "%s on %s d=%d N=%zu from key %zu, M=%zu: logits of the %s kernel bit-identical", desc,
       c->tensor ? "V" : "K", c->dim, c->keys, c->j0, c->queries, whole ? "16-key" : "one-key");
    ok(!st && qvec[0] == (c->dim % 16 == 0) && !qvec[1] &&
           !memcmp(r.qcodes[0], r.qcodes[1], c->keys * r.words * 4) &&
           !memcmp(r.qside[0], r.qside[1], r.side_words * 4) &&
           !memcmp(r.xhat[0], r.xhat[1], c->keys * (size_t)c->dim * sizeof(float)),
       "%s on %s d=%d N=%zu: codes, side words and x̂ of the CPU kernels = the scalar ones'",
       desc, c->tensor ? "V" : "K", c->dim, c->keys);
    run_free(&r);
}

int main(void)
{
    const char *limits = getenv("KVQ_DEVICE_LIMITS");
    if (limits && *limits)
        skip_all("device limits turn the CPU kernels off");
    kvq_ctx *ctx[2] = {cpu_context(0), cpu_context(1)};
    if (!ctx[0] || !ctx[1])
        skip_all_device("no OpenCL CPU device");
    plan((int)(2 * NCASES));
    for (size_t i = 0; i < NCASES; i++)
        check(ctx, i);
    kvq_ctx_destroy(ctx[0]);
    kvq_ctx_destroy(ctx[1]);
    return exit_status();
}
