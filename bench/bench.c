/* bench.c — the benchmark suite behind `kvq bench` (doc/conformance.md §3): builds the
 * list of workloads, times each on the device (src/device/bench_kernels.c)
 * and on the host reference, and reports medians, minima, GB/s and the
 * ratios of the [bench] issue, as a table or as JSON. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "base/clock.h"
#include "analysis/report.h"
#include "device/bench_kernels.h"
#include "kvq.h"
#include "internal.h"

#define MAX_ENTRIES 64
#define MAX_REPEATS 1000
#define HOST_SLOW_S 1.0   /* a host run longer than this is repeated only 3 times */

/* Median and minimum of a set of timings (seconds). */
typedef struct stat2 {
    double med, min;
} stat2;

/* One workload of the suite and what was measured. */
typedef struct entry {
    char label[48];          /* "logits b=4 M=1" */
    const char *kind;        /* "copy", "wht", … */
    kvq_bench_work w;
    double bytes;            /* bytes moved (GB/s = bytes / median event time) */
    int host_ref;            /* 1: time the host reference too */
    stat2 ev, wall, host;
    int has_host, host_runs;
} entry;

typedef struct suite {
    const kvq_bench_opts *o;
    kvq_ctx *dev, *host;
    entry e[MAX_ENTRIES];
    size_t n;
    size_t logits_n, logits_m, vec_bytes, copy_floats, softmax_m;
} suite;

/* Orders doubles ascending. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and minimum of v[0..n). */
static stat2 summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    stat2 s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0]};
    return s;
}

/* Compressed bytes per key of a (bits, qjl) codec at d: code words plus 32-bit side info. */
static double code_bytes(int d, int bits, int qjl)
{
    size_t words = kvq__packed_words(d, bits, qjl ? d : 0);
    return 4.0 * (double)words + (bits ? 4.0 : 0.0) + (qjl ? 4.0 : 0.0);
}

/* Appends a workload. */
static entry *add(suite *s, const char *kind, int k, int dim, int bits, int qjl, size_t count,
                  size_t queries, int host_ref)
{
    entry *e = &s->e[s->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->w = (kvq_bench_work){.kind = k, .dim = dim, .bits = bits, .qjl = qjl, .count = count,
                            .queries = queries};
    e->host_ref = host_ref && s->o->host;
    return e;
}

/* The deployed formats timed (doc/schemes.md §6; KIVI's group words are not
 * part of these workloads). */
static const int bench_formats[] = {KVQ_FORMAT_Q8_0, KVQ_FORMAT_Q4_0, KVQ_FORMAT_Q4_1,
                                    KVQ_FORMAT_FP8E4M3, KVQ_FORMAT_FP16};
#define NBENCH_FORMATS (sizeof bench_formats / sizeof bench_formats[0])

/* Quantization (GB/s of input, against the copy roofline) and decode logits
 * (M = 1, against CLBlast's SGEMV on fp32 keys) of every format. */
static void plan_formats(suite *s)
{
    for (size_t i = 0; i < NBENCH_FORMATS; i++) {
        const char *name = kvq__format_name(bench_formats[i]);
        kvq_codec_spec sp = {.format = bench_formats[i]};
        kvq_budget b;
        kvq_codec_budget(&sp, 128, &b);
        size_t count = s->vec_bytes / (4u * 128);
        entry *e = add(s, "quantize", KVQ_BENCH_QUANTIZE, 128, 0, 0, count, 0, 0);
        e->w.format = bench_formats[i];
        snprintf(e->label, sizeof e->label, "quantize %s", name);
        e->bytes = 4.0 * (double)count * 128;
        e = add(s, "logits", KVQ_BENCH_LOGITS, 128, 0, 0, s->logits_n, 1, 0);
        e->w.format = bench_formats[i];
        snprintf(e->label, sizeof e->label, "logits %s M=1", name);
        e->bytes = (double)s->logits_n * b.bytes_per_token + 4.0 * (double)s->logits_n;
    }
}

/* The workloads: copy, WHT, quantize, decode and prefill logits, CLBlast, softmax. */
static void plan(suite *s)
{
    int quick = s->o->quick;
    s->copy_floats = quick ? (1u << 20) : (16u << 20);
    s->vec_bytes = quick ? (4u << 20) : (64u << 20);
    s->logits_n = quick ? 4096 : 65536;
    s->logits_m = quick ? 8 : 64;
    s->softmax_m = quick ? 8 : 64;
    entry *e = add(s, "copy", KVQ_BENCH_COPY, 16, 0, 0, s->copy_floats, 0, 0);
    snprintf(e->label, sizeof e->label, "copy float4");
    e->bytes = 8.0 * (double)s->copy_floats;                     /* read + write */
    for (int d = 64; d <= 256; d *= 2) {
        size_t count = s->vec_bytes / (4u * (size_t)d);
        e = add(s, "wht", KVQ_BENCH_WHT, d, 0, 0, count, 0, 1);
        snprintf(e->label, sizeof e->label, "wht d=%d", d);
        e->bytes = 8.0 * (double)count * d;                      /* in place: read + write */
    }
    static const int qb[][2] = {{2, 0}, {3, 0}, {4, 0}, {3, 1}};
    for (size_t i = 0; i < sizeof qb / sizeof qb[0]; i++) {
        size_t count = s->vec_bytes / (4u * 128);
        e = add(s, "quantize", KVQ_BENCH_QUANTIZE, 128, qb[i][0], qb[i][1], count, 0, 1);
        snprintf(e->label, sizeof e->label, "quantize b=%d%s", qb[i][0], qb[i][1] ? "+qjl" : "");
        e->bytes = 4.0 * (double)count * 128;                    /* input bytes */
    }
    size_t ms[2] = {1, s->logits_m};
    for (int mi = 0; mi < 2; mi++) {
        for (int b = 1; b <= 9; b++) {
            int qjl = b == 9, bits = qjl ? 0 : b;
            int host = ms[mi] == 1 ? 1 : (b == 4 || qjl);
            e = add(s, "logits", KVQ_BENCH_LOGITS, 128, bits, qjl, s->logits_n, ms[mi], host);
            snprintf(e->label, sizeof e->label, "logits %s M=%zu", qjl ? "qjl" : "", ms[mi]);
            if (!qjl)
                snprintf(e->label, sizeof e->label, "logits b=%d M=%zu", b, ms[mi]);
            e->bytes = (double)s->logits_n * code_bytes(128, bits, qjl) +
                       4.0 * (double)s->logits_n * (double)ms[mi];
        }
        e = add(s, mi ? "sgemm" : "sgemv", mi ? KVQ_BENCH_SGEMM : KVQ_BENCH_SGEMV, 128, 0, 0,
                s->logits_n, ms[mi], 1);
        snprintf(e->label, sizeof e->label, "clblast %s M=%zu", mi ? "sgemm" : "sgemv", ms[mi]);
        e->bytes = 4.0 * (double)s->logits_n * (128.0 + (double)ms[mi]);
    }
    plan_formats(s);
    e = add(s, "softmax", KVQ_BENCH_SOFTMAX, 128, 0, 0, s->logits_n, s->softmax_m, 1);
    snprintf(e->label, sizeof e->label, "softmax+kl M=%zu", s->softmax_m);
    e->bytes = 4.0 * (double)s->logits_n * (double)s->softmax_m * 4.0;  /* 2 rows read twice */
}

/* ---- host reference workloads ---- */

static float *normals(size_t n, uint32_t tag)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (x)
        kvq__rng_fill_normal(54321, KVQ_RNG_TEST, tag, 0, x, n);
    return x;
}

/* Host WHT of count vectors (kvq_rotate on the host context, double inside). */
static int host_wht(suite *s, const kvq_bench_work *w, double *sec)
{
    kvq_rotation *r = NULL;
    float *x = normals(w->count * (size_t)w->dim, 21);
    int st = x ? kvq_rotation_create(&r, KVQ_ROT_WHT, w->dim, 7, KVQ_RNG_ROT_K, 0) : KVQ_ERR_NOMEM;
    double t0 = kvq__mono_s();
    if (!st)
        st = kvq_rotate(s->host, r, x, w->count, 0);
    *sec = kvq__mono_s() - t0;
    kvq_rotation_destroy(r);
    free(x);
    return st;
}

/* A codec wht + mse<bits> (+ qjl) at dim, as the device workload uses. */
static int bench_codec(const kvq_bench_work *w, kvq_codec **c)
{
    kvq_codec_spec spec = {.rotation = KVQ_ROT_WHT, .mse_bits = w->bits, .qjl = w->qjl ? 1 : 0,
                           .norm_bits = 32};
    return kvq_codec_create(c, &spec, w->dim, 7, 0, 0);
}

/* Host fused quantization (kvq__codec_quantize). */
static int host_quantize(const kvq_bench_work *w, double *sec)
{
    kvq_codec *c = NULL;
    kvq_qtensor t = {0};
    float *x = normals(w->count * (size_t)w->dim, 22);
    int st = x ? bench_codec(w, &c) : KVQ_ERR_NOMEM;
    if (!st)
        st = kvq__qtensor_init(&t, c, w->count);
    double t0 = kvq__mono_s();
    if (!st)
        st = kvq__codec_quantize(c, x, w->count, &t);
    *sec = kvq__mono_s() - t0;
    kvq__qtensor_clear(&t);
    kvq_codec_destroy(c);
    free(x);
    return st;
}

/* Fills a tensor with seeded random code words and side information. */
static void random_codes(kvq_qtensor *t)
{
    kvq__rng r;
    kvq__rng_init(&r, 54321, KVQ_RNG_TEST, 23);
    for (size_t i = 0; i < t->count * t->words; i++)
        t->codes[i] = kvq__rng_u32(&r);
    for (size_t i = 0; i < t->count; i++) {
        t->norms[i] = (float)kvq__rng_uniform(&r);
        if (t->gammas)
            t->gammas[i] = (float)kvq__rng_uniform(&r);
    }
}

/* Host compressed-domain logits: kvq__codec_dot for every (query, key). */
static int host_logits(const kvq_bench_work *w, double *sec)
{
    kvq_codec *c = NULL;
    kvq_qtensor t = {0};
    size_t d = (size_t)w->dim, m = w->qjl ? d : 1;
    float *q = normals(w->queries * d, 24), *out = malloc(w->queries * w->count * sizeof *out);
    double *qr = malloc(d * sizeof *qr), *sq = malloc(m * sizeof *sq);
    int st = (q && out && qr && sq) ? bench_codec(w, &c) : KVQ_ERR_NOMEM;
    if (!st)
        st = kvq__qtensor_init(&t, c, w->count);
    if (!st)
        random_codes(&t);
    double t0 = kvq__mono_s();
    for (size_t i = 0; !st && i < w->queries; i++) {
        kvq__codec_prepare_query(c, q + i * d, qr, w->qjl ? sq : NULL);
        for (size_t j = 0; j < w->count; j++)
            out[i * w->count + j] = (float)kvq__codec_dot(c, &t, j, qr, sq);
    }
    *sec = kvq__mono_s() - t0;
    kvq__qtensor_clear(&t);
    kvq_codec_destroy(c);
    free(q);
    free(out);
    free(qr);
    free(sq);
    return st;
}

/* Host dense logits Q·Kᵀ in double (what the reference attention computes). */
static int host_dense(const kvq_bench_work *w, double *sec)
{
    size_t d = (size_t)w->dim, mq = w->queries ? w->queries : 1;
    float *k = normals(w->count * d, 25), *q = normals(mq * d, 26);
    float *out = malloc(mq * w->count * sizeof *out);
    int st = (k && q && out) ? KVQ_OK : KVQ_ERR_NOMEM;
    double t0 = kvq__mono_s();
    for (size_t i = 0; !st && i < mq; i++)
        for (size_t j = 0; j < w->count; j++) {
            double acc = 0;
            for (size_t c = 0; c < d; c++)
                acc += (double)q[i * d + c] * k[j * d + c];
            out[i * w->count + j] = (float)acc;
        }
    *sec = kvq__mono_s() - t0;
    free(k);
    free(q);
    free(out);
    return st;
}

/* Host softmax statistics and divergences (kvq_distribution_metrics per query). */
static int host_softmax(const kvq_bench_work *w, double *sec)
{
    size_t n = w->count;
    float *a = normals(n, 27), *b = normals(n, 28);
    double *la = malloc(n * sizeof *la), *lb = malloc(n * sizeof *lb);
    int st = (a && b && la && lb) ? KVQ_OK : KVQ_ERR_NOMEM;
    for (size_t j = 0; !st && j < n; j++) {
        la[j] = a[j];
        lb[j] = b[j];
    }
    kvq_query_metrics qm;
    double t0 = kvq__mono_s();
    for (size_t i = 0; !st && i < w->queries; i++)
        kvq_distribution_metrics(la, lb, n, 8, &qm);
    *sec = kvq__mono_s() - t0;
    free(a);
    free(b);
    free(la);
    free(lb);
    return st;
}

/* One host run of the entry's workload. */
static int host_once(suite *s, const entry *e, double *sec)
{
    switch (e->w.kind) {
    case KVQ_BENCH_WHT:
        return host_wht(s, &e->w, sec);
    case KVQ_BENCH_QUANTIZE:
        return host_quantize(&e->w, sec);
    case KVQ_BENCH_LOGITS:
        return host_logits(&e->w, sec);
    case KVQ_BENCH_SGEMV:
    case KVQ_BENCH_SGEMM:
        return host_dense(&e->w, sec);
    case KVQ_BENCH_SOFTMAX:
        return host_softmax(&e->w, sec);
    default:
        return KVQ_ERR_INVALID_ARG;
    }
}

/* Host timings: the requested repeats, or 3 when one run exceeds HOST_SLOW_S. */
static int host_time(suite *s, entry *e)
{
    double t[MAX_REPEATS];
    int n = 0, want = s->o->repeats, st = KVQ_OK;
    while (n < want && !st) {
        st = host_once(s, e, &t[n]);
        n++;
        if (n == 1 && t[0] > HOST_SLOW_S && want > 3)
            want = 3;
    }
    if (st)
        return st;
    e->host = summarize(t, n);
    e->has_host = 1;
    e->host_runs = n;
    return KVQ_OK;
}

/* Device (and host) timings of one entry. */
static int measure(suite *s, entry *e)
{
    double ev[MAX_REPEATS], wall[MAX_REPEATS];
    int r = s->o->repeats;
    if (s->o->verbose)
        fprintf(stderr, "kvq bench: %-22s ...", e->label);
    int st = kvq_bench_device_run(s->dev, &e->w, 1, r, ev, wall);
    if (!st) {
        e->ev = summarize(ev, r);
        e->wall = summarize(wall, r);
        if (e->host_ref)
            st = host_time(s, e);
    }
    if (s->o->verbose)
        fprintf(stderr, " %.3f ms%s\n", 1e3 * e->ev.med, st ? " FAILED" : "");
    if (st)
        fprintf(stderr, "kvq: bench %s: %s %s\n", e->label, kvq_strerror(st), kvq_error_detail());
    return st;
}

/* ---- ratios ---- */

/* The entry with this label, or NULL. */
static const entry *find(const suite *s, const char *label)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].label, label))
            return &s->e[i];
    return NULL;
}

/* GB/s of an entry from its median event time (or wall time when wall). */
static double gbps(const entry *e, int wall)
{
    double t = wall ? e->wall.med : e->ev.med;
    return t > 0 ? e->bytes / t * 1e-9 : 0.0;
}

typedef struct ratios {
    double wht_vs_copy, quantize_vs_copy, decode4_vs_sgemv, qjl_vs_sgemv, opencl_vs_host;
    double prefill4_vs_sgemm, prefill_qjl_vs_sgemm;
    int host_kernels;
} ratios;

/* Time ratio a/b of two entries by median event (or wall) time. */
static double tratio(const entry *a, const entry *b, int wall)
{
    double ta = wall ? a->wall.med : a->ev.med, tb = wall ? b->wall.med : b->ev.med;
    return tb > 0 ? ta / tb : 0.0;
}

/* Every ratio of the report, from event times (wall = 0) or wall times. */
static ratios compute_ratios(const suite *s, int wall)
{
    char l1[48], lm[48];
    ratios r = {0};
    const entry *copy = find(s, "copy float4");
    double cg = gbps(copy, wall);
    r.wht_vs_copy = cg > 0 ? gbps(find(s, "wht d=128"), wall) / cg : 0;
    r.quantize_vs_copy = cg > 0 ? gbps(find(s, "quantize b=4"), wall) / cg : 0;
    snprintf(l1, sizeof l1, "clblast sgemv M=1");
    r.decode4_vs_sgemv = tratio(find(s, l1), find(s, "logits b=4 M=1"), wall);
    r.qjl_vs_sgemv = tratio(find(s, l1), find(s, "logits qjl M=1"), wall);
    snprintf(lm, sizeof lm, "clblast sgemm M=%zu", s->logits_m);
    const entry *sg = find(s, lm);
    snprintf(l1, sizeof l1, "logits b=4 M=%zu", s->logits_m);
    r.prefill4_vs_sgemm = tratio(sg, find(s, l1), wall);
    snprintf(l1, sizeof l1, "logits qjl M=%zu", s->logits_m);
    r.prefill_qjl_vs_sgemm = tratio(sg, find(s, l1), wall);
    double lsum = 0;
    for (size_t i = 0; i < s->n; i++) {
        const entry *e = &s->e[i];
        double t = wall ? e->wall.med : e->ev.med;
        if (!e->has_host || t <= 0 || e->w.kind == KVQ_BENCH_SGEMV || e->w.kind == KVQ_BENCH_SGEMM)
            continue;
        lsum += log(e->host.med / t);
        r.host_kernels++;
    }
    r.opencl_vs_host = r.host_kernels ? exp(lsum / r.host_kernels) : 0;
    return r;
}

/* ---- output ---- */

/* Targets of the [bench] issue for this machine's PoCL CPU device. */
static const struct {
    const char *name;
    double target;
} targets[] = {{"wht_vs_copy", 0.8}, {"quantize_vs_copy", 0.5}, {"decode4_vs_sgemv", 4},
               {"qjl_vs_sgemv", 10}, {"opencl_vs_host", 3}};

/* The five target ratios of r in targets[] order. */
static void target_values(const ratios *r, double v[5])
{
    v[0] = r->wht_vs_copy;
    v[1] = r->quantize_vs_copy;
    v[2] = r->decode4_vs_sgemv;
    v[3] = r->qjl_vs_sgemv;
    v[4] = r->opencl_vs_host;
}

static void json_stat(FILE *f, const char *key, stat2 s)
{
    fprintf(f, "\"%s\":{\"median\":%.9g,\"min\":%.9g}", key, s.med, s.min);
}

/* One result object. */
static void json_entry(FILE *f, const entry *e)
{
    fputs("{\"name\":", f);
    kvq__json_string(f, e->label);
    fprintf(f, ",\"kernel\":\"%s\",\"dim\":%d,\"bits\":%d,\"qjl\":%s,\"count\":%zu,\"queries\":%zu,"
               "\"bytes\":%.0f,\"gbps\":%.6g,",
            e->kind, e->w.dim, e->w.bits, e->w.qjl ? "true" : "false", e->w.count,
            e->w.queries ? e->w.queries : (size_t)0, e->bytes, gbps(e, 0));
    json_stat(f, "event_s", e->ev);
    fputc(',', f);
    json_stat(f, "wall_s", e->wall);
    fputc(',', f);
    if (e->has_host) {
        json_stat(f, "host_s", e->host);
        fprintf(f, ",\"host_runs\":%d,\"host_speedup\":%.6g}", e->host_runs,
                e->ev.med > 0 ? e->host.med / e->ev.med : 0.0);
    } else {
        fputs("\"host_s\":null}", f);
    }
}

/* The ratios object (event-time based) with ceilings beside the speedups. */
static void json_ratios(FILE *f, const ratios *r, const char *key)
{
    fprintf(f, "\"%s\":{\"wht_vs_copy\":%.6g,\"quantize_vs_copy\":%.6g,\"decode4_vs_sgemv\":%.6g,"
               "\"qjl_vs_sgemv\":%.6g,\"opencl_vs_host\":%.6g,\"prefill4_vs_sgemm\":%.6g,"
               "\"prefill_qjl_vs_sgemm\":%.6g,\"opencl_vs_host_kernels\":%d}",
            key, r->wht_vs_copy, r->quantize_vs_copy, r->decode4_vs_sgemv, r->qjl_vs_sgemv,
            r->opencl_vs_host, r->prefill4_vs_sgemm, r->prefill_qjl_vs_sgemm, r->host_kernels);
}

/* The whole report as one JSON object. */
static void print_json(FILE *f, const suite *s, double seconds)
{
    const kvq_device_info *di = kvq_ctx_device(s->dev);
    ratios r = compute_ratios(s, 0), rw = compute_ratios(s, 1);
    const char *const device[][2] = {{"name", di->name}, {"platform", di->platform},
                                     {"version", di->version}, {"driver", di->driver}};
    fputs("{\"device\":{", f);
    kvq__json_strings(f, device, sizeof device / sizeof device[0]);
    fprintf(f, ",\"compute_units\":%u},", di->compute_units);
    fprintf(f, "\"clblast\":{\"version\":\"%s\",\"tuned\":\"unknown\",\"tuned_note\":"
               "\"CLBlast's C API cannot report whether its database had an entry for this "
               "device; see bench/README.md\"},",
            kvq_bench_clblast_version());
    fprintf(f, "\"config\":{\"repeats\":%d,\"warmups\":1,\"quick\":%s,\"time_basis\":"
               "\"median of OpenCL event times (wall-clock ratios in ratios_wall)\"},",
            s->o->repeats, s->o->quick ? "true" : "false");
    fputs("\"results\":[", f);
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            fputc(',', f);
        json_entry(f, &s->e[i]);
    }
    fputs("],", f);
    json_ratios(f, &r, "ratios");
    fputc(',', f);
    json_ratios(f, &rw, "ratios_wall");
    fprintf(f, ",\"ceilings\":{\"decode4_bytes\":8,\"decode4_bytes_with_side\":%.6g,"
               "\"qjl_bytes\":32,\"qjl_bytes_with_side\":%.6g,\"wht_vs_copy\":1,"
               "\"quantize_vs_copy\":%.6g},",
            512.0 / code_bytes(128, 4, 0), 512.0 / code_bytes(128, 0, 1),
            512.0 / (512.0 + code_bytes(128, 4, 0)));
    double v[5];
    target_values(&r, v);
    fputs("\"targets\":{", f);
    for (int i = 0; i < 5; i++)
        fprintf(f, "%s\"%s\":{\"target\":%g,\"measured\":%.6g,\"met\":%s}", i ? "," : "",
                targets[i].name, targets[i].target, v[i], v[i] >= targets[i].target ? "true" : "false");
    fprintf(f, "},\"seconds\":%.3f}\n", seconds);
}

/* Per deployed format: quantize GB/s ÷ copy GB/s, and the speed of its M = 1
 * logits over CLBlast SGEMV on fp32 keys beside the byte ratio 512/bytes. */
static void print_formats(FILE *f, const suite *s)
{
    const entry *copy = find(s, "copy float4"), *sgemv = find(s, "clblast sgemv M=1");
    fprintf(f, "\n%-10s %16s %18s %12s\n", "format", "quantize/copy", "logits vs sgemv", "byte ratio");
    for (size_t i = 0; i < NBENCH_FORMATS; i++) {
        char lq[48], ll[48];
        const char *name = kvq__format_name(bench_formats[i]);
        kvq_codec_spec sp = {.format = bench_formats[i]};
        kvq_budget b;
        kvq_codec_budget(&sp, 128, &b);
        snprintf(lq, sizeof lq, "quantize %s", name);
        snprintf(ll, sizeof ll, "logits %s M=1", name);
        double cg = gbps(copy, 0);
        fprintf(f, "%-10s %16.3f %18.3f %12.2f\n", name, cg > 0 ? gbps(find(s, lq), 0) / cg : 0,
                tratio(sgemv, find(s, ll), 0), 512.0 / b.bytes_per_token);
    }
}

static void print_table(FILE *f, const suite *s, double seconds)
{
    const kvq_device_info *di = kvq_ctx_device(s->dev);
    fprintf(f, "kvq bench on %s / %s (driver %s), CLBlast %s (tuned entry: unknown)\n",
            di->platform, di->name, di->driver, kvq_bench_clblast_version());
    fprintf(f, "%d repeats after 1 warm-up; times in ms (median / min); GB/s from the median "
               "event time\n\n", s->o->repeats);
    fprintf(f, "%-22s %9s %9s %9s %9s %8s %10s %8s\n", "workload", "event", "ev.min", "wall",
            "wall.min", "GB/s", "host", "host/dev");
    for (size_t i = 0; i < s->n; i++) {
        const entry *e = &s->e[i];
        fprintf(f, "%-22s %9.3f %9.3f %9.3f %9.3f %8.2f", e->label, 1e3 * e->ev.med,
                1e3 * e->ev.min, 1e3 * e->wall.med, 1e3 * e->wall.min, gbps(e, 0));
        if (e->has_host)
            fprintf(f, " %10.2f %8.2f\n", 1e3 * e->host.med, e->host.med / e->ev.med);
        else
            fprintf(f, " %10s %8s\n", "-", "-");
    }
    ratios r = compute_ratios(s, 0), rw = compute_ratios(s, 1);
    double v[5], vw[5];
    target_values(&r, v);
    target_values(&rw, vw);
    fprintf(f, "\n%-20s %9s %9s %8s\n", "ratio", "event", "wall", "target");
    for (int i = 0; i < 5; i++)
        fprintf(f, "%-20s %9.3f %9.3f %8g %s\n", targets[i].name, v[i], vw[i], targets[i].target,
                v[i] >= targets[i].target ? "met" : "NOT MET");
    fprintf(f, "%-20s %9.3f %9.3f\n%-20s %9.3f %9.3f\n", "prefill4_vs_sgemm", r.prefill4_vs_sgemm,
            rw.prefill4_vs_sgemm, "prefill_qjl_vs_sgemm", r.prefill_qjl_vs_sgemm,
            rw.prefill_qjl_vs_sgemm);
    print_formats(f, s);
    fprintf(f, "\nbyte-ratio ceilings: 4-bit decode 8 (%.2f with 32-bit norm), QJL 32 (%.2f with "
               "32-bit gamma)\nopencl_vs_host: geometric mean over %d kvq kernels with a host "
               "reference\ntotal %.1f s\n",
            512.0 / code_bytes(128, 4, 0), 512.0 / code_bytes(128, 0, 1), r.host_kernels, seconds);
}

int kvq_bench_suite(const kvq_bench_opts *o, FILE *out)
{
    suite *s = calloc(1, sizeof *s);
    int st;
    double t0 = kvq__mono_s();
    if (!s)
        return KVQ_ERR_NOMEM;
    s->o = o;
    if ((st = kvq_ctx_create(&s->dev, o->device)))
        goto cleanup;
    if (kvq_ctx_is_host(s->dev)) {
        fprintf(stderr, "kvq: bench: the device is the host reference; kvq bench needs an "
                        "OpenCL device\n");
        st = KVQ_ERR_NO_DEVICE;
        goto cleanup;
    }
    if ((st = kvq_ctx_create(&s->host, "host")))
        goto cleanup;
    plan(s);
    for (size_t i = 0; i < s->n && !st; i++)
        st = measure(s, &s->e[i]);
    if (st)
        goto cleanup;
    if (o->json)
        print_json(out, s, kvq__mono_s() - t0);
    else
        print_table(out, s, kvq__mono_s() - t0);
cleanup:
    kvq_ctx_destroy(s->host);
    kvq_ctx_destroy(s->dev);
    free(s);
    return st;
}
