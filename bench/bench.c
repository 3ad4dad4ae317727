/* bench.c — the benchmark suite behind `kvq bench` (doc/conformance.md §3): builds the
 * list of workloads, times each on the device (src/device/bench_kernels.c),
 * on the host reference and, for SGEMV/SGEMM, with the host's OpenBLAS
 * (bench/peers.c), at cache-resident sizes and at a memory-bound key count,
 * and reports medians, minima, GB/s, GFLOP/s and the ratios of the [bench]
 * and [perf] issues, as a table or as JSON. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench/peers.h"
#include "base/clock.h"
#include "analysis/report.h"
#include "device/bench_kernels.h"
#include "kvq.h"
#include "internal.h"

#define MAX_ENTRIES 96   /* 52 planned today */
#define MAX_REPEATS 1000
#define HOST_SLOW_S 1.0   /* a host run longer than this is repeated only 3 times */
#define MEM_SUFFIX " @mem"  /* label suffix of the memory-bound workloads */
#define MEM_MIN_KEYS (1u << 20)
#define MEM_LLC_FACTOR 4.0  /* memory-bound: fp32 keys at least this many times the LLC */
#define MEM_KEYS_STEP 65536 /* the automatic memory-bound key count is a multiple of this */
#define SLOW_RUN_S 2.0      /* see repeats_for() */
/* A memory-bound workload repeats until its timed runs add up to MEM_TIMED_S,
 * at most MEM_MAX_REPEATS times: the 1-query logits take 5–20 ms a run, and
 * the median of five moved by a quarter from one bench to the next. */
#define MEM_TIMED_S 1.0
#define MEM_MAX_REPEATS 41

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
    double flops;            /* arithmetic counted for GFLOP/s (0: not reported) */
    int host_ref;            /* 1: time the host reference too */
    int mem;                 /* 1: memory-bound size (label ends in MEM_SUFFIX) */
    int peer;                /* 1: OpenBLAS on the host, timed by the host clock only */
    stat2 ev, wall, host;
    int runs;                /* timed repeats (see repeats_for()) */
    int has_host, host_runs;
} entry;

typedef struct suite {
    const kvq_bench_opts *o;
    kvq_ctx *dev, *host;
    entry e[MAX_ENTRIES];
    size_t n;
    size_t logits_n, logits_m, vec_bytes, copy_floats, softmax_m;
    size_t mem_n;            /* keys of the memory-bound workloads */
    double llc;              /* last-level cache bytes from sysfs (0: unknown) */
    int llc_level, blas_threads;
    float *peer_keys, *peer_q, *peer_out;  /* host data of the OpenBLAS peer */
    size_t peer_n;           /* keys peer_keys holds */
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

/* The deployed formats timed (doc/schemes.md §6; KIVI at 4 and 2 bits with
 * its default group of 32 tokens, its K side words in the logits' bytes). */
static const kvq_codec_spec bench_formats[] = {
    {.format = KVQ_FORMAT_Q8_0},    {.format = KVQ_FORMAT_Q4_0},
    {.format = KVQ_FORMAT_Q4_1},    {.format = KVQ_FORMAT_FP8E4M3},
    {.format = KVQ_FORMAT_FP8E5M2}, {.format = KVQ_FORMAT_FP16},
    {.format = KVQ_FORMAT_KIVI, .format_bits = 4},
    {.format = KVQ_FORMAT_KIVI, .format_bits = 2}};
#define NBENCH_FORMATS (sizeof bench_formats / sizeof bench_formats[0])

/* A format's name as the codec spec spells it ("kivi4"), and its bytes per
 * key at d = 128. */
static double format_of(size_t i, char *name, size_t len)
{
    kvq_budget b;
    kvq_codec_spec_format(&bench_formats[i], name, len);
    kvq_codec_budget(&bench_formats[i], 128, &b);
    return b.bytes_per_token;
}

/* Quantization (GB/s of input, against the copy roofline) and decode logits
 * (M = 1, against CLBlast's SGEMV on fp32 keys) of every format. */
static void plan_formats(suite *s)
{
    for (size_t i = 0; i < NBENCH_FORMATS; i++) {
        char name[32];
        double bytes = format_of(i, name, sizeof name);
        size_t count = s->vec_bytes / (4u * 128);
        entry *e = add(s, "quantize", KVQ_BENCH_QUANTIZE, 128, 0, 0, count, 0, 0);
        e->w.format = bench_formats[i].format;
        e->w.format_bits = bench_formats[i].format_bits;
        snprintf(e->label, sizeof e->label, "quantize %s", name);
        e->bytes = 4.0 * (double)count * 128;
        e = add(s, "logits", KVQ_BENCH_LOGITS, 128, 0, 0, s->logits_n, 1, 0);
        e->w.format = bench_formats[i].format;
        e->w.format_bits = bench_formats[i].format_bits;
        snprintf(e->label, sizeof e->label, "logits %s M=1", name);
        e->bytes = (double)s->logits_n * bytes + 4.0 * (double)s->logits_n;
    }
}

/* ---- sizes ---- */

/* The first line of a small file into buf; 0, or -1 when it cannot be read. */
static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    int ok = f && fgets(buf, (int)size, f);
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

/* The last-level cache of cpu0 from sysfs: the highest level of
 * /sys/devices/system/cpu/cpu0/cache/index* that holds data. 0 bytes when sysfs
 * does not say (the memory-bound size then falls back to MEM_MIN_KEYS). */
static double llc_bytes(int *level)
{
    double best = 0;
    *level = 0;
    for (int i = 0; i < 16; i++) {
        char path[96], buf[64];
        char *end;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (read_line(path, buf, sizeof buf) || !strncmp(buf, "Instruction", 11))
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (read_line(path, buf, sizeof buf))
            continue;
        int lv = atoi(buf);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (read_line(path, buf, sizeof buf))
            continue;
        double size = strtod(buf, &end);
        size *= *end == 'K' ? 1024.0 : *end == 'M' ? 1048576.0 : *end == 'G' ? 1073741824.0 : 1.0;
        if (lv > *level || (lv == *level && size > best)) {
            *level = lv;
            best = size;
        }
    }
    return best;
}

/* Keys of the memory-bound set: the option, else (quick) a small count that only
 * exercises the code, else the fp32 keys at least MEM_LLC_FACTOR × the LLC and at
 * least MEM_MIN_KEYS, rounded up to MEM_KEYS_STEP. */
static size_t membound_keys(const suite *s)
{
    if (s->o->mem_keys)
        return s->o->mem_keys;
    if (s->o->quick)
        return 4 * s->logits_n;
    double need = ceil(MEM_LLC_FACTOR * s->llc / (4.0 * 128) / MEM_KEYS_STEP) * MEM_KEYS_STEP;
    return need > MEM_MIN_KEYS ? (size_t)need : MEM_MIN_KEYS;
}

/* Appends the float4 copy of floats floats: the device's bandwidth roofline. */
static void add_copy(suite *s, size_t floats, int mem)
{
    entry *e = add(s, "copy", KVQ_BENCH_COPY, 16, 0, 0, floats, 0, 0);
    snprintf(e->label, sizeof e->label, "copy float4%s", mem ? MEM_SUFFIX : "");
    e->bytes = 8.0 * (double)floats;                             /* read + write */
    e->mem = mem;
}

/* Appends the forward WHT of count vectors of dim d, in place. */
static void add_wht(suite *s, int d, size_t count, int mem)
{
    entry *e = add(s, "wht", KVQ_BENCH_WHT, d, 0, 0, count, 0, !mem);
    snprintf(e->label, sizeof e->label, "wht d=%d%s", d, mem ? MEM_SUFFIX : "");
    e->bytes = 8.0 * (double)count * d;                          /* in place: read + write */
    e->flops = (double)count * d * log2((double)d);              /* one add per butterfly leg */
    e->mem = mem;
}

/* Appends the fused quantization of count d = 128 vectors. */
static void add_quantize(suite *s, int bits, int qjl, size_t count, int mem)
{
    entry *e = add(s, "quantize", KVQ_BENCH_QUANTIZE, 128, bits, qjl, count, 0, !mem);
    snprintf(e->label, sizeof e->label, "quantize b=%d%s%s", bits, qjl ? "+qjl" : "",
             mem ? MEM_SUFFIX : "");
    e->bytes = 4.0 * (double)count * 128;                        /* input bytes */
    e->mem = mem;
}

/* Appends compressed-domain logits of m queries against n keys (d = 128). */
static void add_logits(suite *s, int bits, int qjl, size_t n, size_t m, int host, int mem)
{
    entry *e = add(s, "logits", KVQ_BENCH_LOGITS, 128, bits, qjl, n, m, host && !mem);
    if (qjl)
        snprintf(e->label, sizeof e->label, "logits qjl M=%zu%s", m, mem ? MEM_SUFFIX : "");
    else
        snprintf(e->label, sizeof e->label, "logits b=%d M=%zu%s", bits, m, mem ? MEM_SUFFIX : "");
    e->bytes = (double)n * code_bytes(128, bits, qjl) + 4.0 * (double)n * (double)m;
    e->flops = 2.0 * (double)n * (double)m * 128;                /* as the dense dot products */
    e->mem = mem;
}

/* Appends dense fp32 logits of m queries against n keys (d = 128): CLBlast on the
 * device (SGEMV for m = 1, SGEMM otherwise), or OpenBLAS on the host when peer. */
static void add_blas(suite *s, size_t n, size_t m, int peer, int mem)
{
    const char *op = m == 1 ? "sgemv" : "sgemm";
    entry *e = add(s, op, m == 1 ? KVQ_BENCH_SGEMV : KVQ_BENCH_SGEMM, 128, 0, 0, n, m,
                   !peer && !mem);
    snprintf(e->label, sizeof e->label, "%s %s M=%zu%s", peer ? "openblas" : "clblast", op, m,
             mem ? MEM_SUFFIX : "");
    e->bytes = 4.0 * (double)n * (128.0 + (double)m);
    e->flops = 2.0 * (double)n * (double)m * 128;
    e->mem = mem;
    e->peer = peer;
}

/* The memory-bound set: the workloads of the [perf] ratios again with mem_n
 * keys (d = 128), no host reference (it would take minutes). */
static void plan_membound(suite *s)
{
    add_copy(s, s->mem_n * 128, 1);
    add_wht(s, 128, s->mem_n, 1);
    add_quantize(s, 4, 0, s->mem_n, 1);
    size_t ms[2] = {1, s->logits_m};
    for (int mi = 0; mi < 2; mi++) {
        add_logits(s, 4, 0, s->mem_n, ms[mi], 0, 1);
        add_logits(s, 0, 1, s->mem_n, ms[mi], 0, 1);
        add_blas(s, s->mem_n, ms[mi], 0, 1);
    }
}

/* OpenBLAS SGEMV and SGEMM at both key counts, last: its threads may spin for a
 * while after a call, which would slow the device workloads that follow. */
static void plan_peers(suite *s)
{
    if (!kvq__peer_available())
        return;
    for (int mem = 0; mem < 2; mem++) {
        add_blas(s, mem ? s->mem_n : s->logits_n, 1, 1, mem);
        add_blas(s, mem ? s->mem_n : s->logits_n, s->logits_m, 1, mem);
    }
}

/* The workloads: copy, WHT, quantize, decode and prefill logits, CLBlast, softmax,
 * then the memory-bound set and the OpenBLAS peers. */
static void plan(suite *s)
{
    int quick = s->o->quick;
    s->copy_floats = quick ? (1u << 20) : (16u << 20);
    s->vec_bytes = quick ? (4u << 20) : (64u << 20);
    s->logits_n = quick ? 4096 : 65536;
    s->logits_m = quick ? 8 : 64;
    s->softmax_m = quick ? 8 : 64;
    if (s->o->membound_only) {
        s->mem_n = membound_keys(s);
        plan_membound(s);
        plan_peers(s);
        return;
    }
    add_copy(s, s->copy_floats, 0);
    for (int d = 64; d <= 256; d *= 2)
        add_wht(s, d, s->vec_bytes / (4u * (size_t)d), 0);
    static const int qb[][2] = {{2, 0}, {3, 0}, {4, 0}, {3, 1}};
    for (size_t i = 0; i < sizeof qb / sizeof qb[0]; i++)
        add_quantize(s, qb[i][0], qb[i][1], s->vec_bytes / (4u * 128), 0);
    size_t ms[2] = {1, s->logits_m};
    for (int mi = 0; mi < 2; mi++) {
        for (int b = 1; b <= 9; b++) {
            int qjl = b == 9;
            add_logits(s, qjl ? 0 : b, qjl, s->logits_n, ms[mi], ms[mi] == 1 || b == 4 || qjl, 0);
        }
        add_blas(s, s->logits_n, ms[mi], 0, 0);
    }
    plan_formats(s);
    entry *e = add(s, "softmax", KVQ_BENCH_SOFTMAX, 128, 0, 0, s->logits_n, s->softmax_m, 1);
    snprintf(e->label, sizeof e->label, "softmax+kl M=%zu", s->softmax_m);
    e->bytes = 4.0 * (double)s->logits_n * (double)s->softmax_m * 4.0;  /* 2 rows read twice */
    s->mem_n = membound_keys(s);
    plan_membound(s);
    plan_peers(s);
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

/* The entry with this label (plus MEM_SUFFIX when mem), or NULL. */
static const entry *find(const suite *s, const char *label, int mem)
{
    char full[64];
    snprintf(full, sizeof full, "%s%s", label, mem ? MEM_SUFFIX : "");
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].label, full))
            return &s->e[i];
    return NULL;
}

/* Median seconds of an entry: event time, or wall time when wall or for a peer
 * (which has no OpenCL events). */
static double tmed(const entry *e, int wall)
{
    return wall || e->peer ? e->wall.med : e->ev.med;
}

/* Timed repeats of an entry: the requested ones, or 3 for a memory-bound
 * workload that its cache-resident twin, scaled by the bytes, predicts to run
 * longer than SLOW_RUN_S (today's 4-bit prefill at 2.5 M keys: ~20 s a run). */
static int repeats_for(const suite *s, const entry *e)
{
    char twin[48];
    int r = s->o->repeats;
    if (!e->mem || r <= 3)
        return r;
    snprintf(twin, sizeof twin, "%.*s", (int)(strlen(e->label) - strlen(MEM_SUFFIX)), e->label);
    const entry *c = find(s, twin, 0);
    return c && c->bytes > 0 && tmed(c, 1) * e->bytes / c->bytes > SLOW_RUN_S ? 3 : r;
}

/* The most timed runs of an entry, and the timed seconds it repeats for
 * (MEM_TIMED_S): more runs for short memory-bound workloads only, and not
 * in a --quick smoke test. */
static double min_timed(const suite *s, const entry *e)
{
    return e->mem && !s->o->quick ? MEM_TIMED_S : 0;
}

static int max_runs(const suite *s, const entry *e)
{
    return min_timed(s, e) > 0 && e->runs > 3 && e->runs < MEM_MAX_REPEATS ? MEM_MAX_REPEATS
                                                                           : e->runs;
}

/* ---- the OpenBLAS peer ---- */

/* Host copies of the fp32 keys and queries of the device's SGEMV/SGEMM workloads
 * (the same seeded values: seed 12345, tags 9 and 10 of src/device/bench_kernels.c),
 * made once per key count. */
static int peer_data(suite *s, size_t n)
{
    size_t d = 128, m = s->logits_m;
    if (s->peer_keys && s->peer_n == n)
        return KVQ_OK;
    free(s->peer_keys);
    free(s->peer_q);
    free(s->peer_out);
    s->peer_keys = malloc(n * d * sizeof(float));
    s->peer_q = malloc(m * d * sizeof(float));
    s->peer_out = malloc(m * n * sizeof(float));
    s->peer_n = n;
    if (!s->peer_keys || !s->peer_q || !s->peer_out)
        return KVQ_ERR_NOMEM;
    kvq__rng_fill_normal(12345, KVQ_RNG_TEST, 9, 0, s->peer_keys, n * d);
    kvq__rng_fill_normal(12345, KVQ_RNG_TEST, 10, 0, s->peer_q, m * d);
    return KVQ_OK;
}

/* One warm-up, then the repeats, each timed by the host clock around the BLAS call
 * (which returns when the result is written): the peer's wall time. */
static int peer_time(suite *s, entry *e)
{
    double t[MAX_REPEATS], timed = 0;
    size_t n = e->w.count, m = e->w.queries;
    int st = peer_data(s, n), r = -1, max = max_runs(s, e);
    for (; !st && (r < e->runs || (r < max && timed < min_timed(s, e))); r++) {
        double t0 = kvq__mono_s();
        if (m == 1)
            kvq__peer_sgemv(n, 128, s->peer_keys, s->peer_q, s->peer_out);
        else
            kvq__peer_sgemm(m, n, 128, s->peer_q, s->peer_keys, s->peer_out);
        if (r >= 0) {
            t[r] = kvq__mono_s() - t0;
            timed += t[r];
        }
    }
    if (!st) {
        e->runs = r;
        e->wall = summarize(t, e->runs);
    }
    return st;
}

/* Device (and host) timings of one entry; host-clock timings of a peer entry. */
static int measure(suite *s, entry *e)
{
    double ev[MAX_REPEATS], wall[MAX_REPEATS];
    int r = e->runs = repeats_for(s, e);
    if (s->o->verbose)
        fprintf(stderr, "kvq bench: %-27s ...", e->label);
    int st = e->peer ? peer_time(s, e)
                     : kvq_bench_device_run_for(s->dev, &e->w, 1, r, max_runs(s, e),
                                                min_timed(s, e), ev, wall, &e->runs);
    if (!st && !e->peer) {
        r = e->runs;
        e->ev = summarize(ev, r);
        e->wall = summarize(wall, r);
        if (e->host_ref)
            st = host_time(s, e);
    }
    if (s->o->verbose)
        fprintf(stderr, " %.3f ms%s\n", 1e3 * (e->peer ? e->wall.med : e->ev.med),
                st ? " FAILED" : "");
    if (st)
        fprintf(stderr, "kvq: bench %s: %s %s\n", e->label, kvq_strerror(st), kvq_error_detail());
    return st;
}

/* ---- ratios ---- */

/* GB/s of an entry from its median time (0 when missing). */
static double gbps(const entry *e, int wall)
{
    double t = e ? tmed(e, wall) : 0;
    return t > 0 ? e->bytes / t * 1e-9 : 0.0;
}

/* GFLOP/s of an entry from its median time (0 when it counts no flops). */
static double gflops(const entry *e, int wall)
{
    double t = tmed(e, wall);
    return t > 0 ? e->flops / t * 1e-9 : 0.0;
}

/* Every ratio of the report, in JSON order. */
#define RATIOS(X)                                                                              \
    X(wht_vs_copy) X(quantize_vs_copy) X(decode4_vs_sgemv) X(qjl_vs_sgemv) X(opencl_vs_host)  \
    X(prefill4_vs_sgemm) X(prefill_qjl_vs_sgemm) X(decode4_vs_openblas_sgemv)                  \
    X(qjl_vs_openblas_sgemv) X(prefill4_vs_openblas_sgemm)

typedef struct ratios {
#define X(name) double name;
    RATIOS(X)
#undef X
    int host_kernels;
} ratios;

static const struct {
    const char *name;
    size_t off;
} ratio_fields[] = {
#define X(name) {#name, offsetof(ratios, name)},
    RATIOS(X)
#undef X
};
#define NRATIOS (sizeof ratio_fields / sizeof ratio_fields[0])

static double ratio_at(const ratios *r, size_t off)
{
    return *(const double *)((const char *)r + off);
}

/* Time ratio a/b of two entries by median event (or wall) time; NaN when either is missing. */
static double tratio(const entry *a, const entry *b, int wall)
{
    double ta = a ? tmed(a, wall) : 0, tb = b ? tmed(b, wall) : 0;
    return ta > 0 && tb > 0 ? ta / tb : NAN;
}

/* GB/s of a over GB/s of the copy c; NaN when either is missing. */
static double bwratio(const entry *a, const entry *c, int wall)
{
    double ga = gbps(a, wall), gc = gbps(c, wall);
    return ga > 0 && gc > 0 ? ga / gc : NAN;
}

/* Every ratio of one size set (mem: the memory-bound one) from event times
 * (wall = 0) or wall times. The ratios against OpenBLAS always use kvq's wall
 * time (enqueue to clFinish): the peer has no events, and a user waits for both. */
static ratios compute_ratios(const suite *s, int wall, int mem)
{
    char l[48];
    ratios r = {0};
    const entry *copy = find(s, "copy float4", mem), *sgemv = find(s, "clblast sgemv M=1", mem);
    const entry *d4 = find(s, "logits b=4 M=1", mem), *dq = find(s, "logits qjl M=1", mem);
    r.wht_vs_copy = bwratio(find(s, "wht d=128", mem), copy, wall);
    r.quantize_vs_copy = bwratio(find(s, "quantize b=4", mem), copy, wall);
    r.decode4_vs_sgemv = tratio(sgemv, d4, wall);
    r.qjl_vs_sgemv = tratio(sgemv, dq, wall);
    snprintf(l, sizeof l, "clblast sgemm M=%zu", s->logits_m);
    const entry *sg = find(s, l, mem);
    snprintf(l, sizeof l, "openblas sgemm M=%zu", s->logits_m);
    const entry *og = find(s, l, mem), *ov = find(s, "openblas sgemv M=1", mem);
    snprintf(l, sizeof l, "logits b=4 M=%zu", s->logits_m);
    const entry *p4 = find(s, l, mem);
    snprintf(l, sizeof l, "logits qjl M=%zu", s->logits_m);
    r.prefill4_vs_sgemm = tratio(sg, p4, wall);
    r.prefill_qjl_vs_sgemm = tratio(sg, find(s, l, mem), wall);
    r.decode4_vs_openblas_sgemv = tratio(ov, d4, 1);
    r.qjl_vs_openblas_sgemv = tratio(ov, dq, 1);
    r.prefill4_vs_openblas_sgemm = tratio(og, p4, 1);
    double lsum = 0;
    for (size_t i = 0; i < s->n; i++) {
        const entry *e = &s->e[i];
        double t = tmed(e, wall);
        if (!e->has_host || e->mem != mem || t <= 0 || e->w.kind == KVQ_BENCH_SGEMV ||
            e->w.kind == KVQ_BENCH_SGEMM)
            continue;
        lsum += log(e->host.med / t);
        r.host_kernels++;
    }
    r.opencl_vs_host = r.host_kernels ? exp(lsum / r.host_kernels) : 0;
    return r;
}

/* The ratios object of the report: the cache-resident set, except the OpenBLAS
 * ratios, which the [perf] issue asks at the memory-bound size. */
static ratios report_ratios(const suite *s, int wall)
{
    ratios r = compute_ratios(s, wall, 0), m = compute_ratios(s, wall, 1);
    r.decode4_vs_openblas_sgemv = m.decode4_vs_openblas_sgemv;
    r.qjl_vs_openblas_sgemv = m.qjl_vs_openblas_sgemv;
    r.prefill4_vs_openblas_sgemm = m.prefill4_vs_openblas_sgemm;
    return r;
}

/* ---- output ---- */

typedef struct target {
    const char *name;
    size_t off;
    double target;
} target;
#define TARGET(name, t) {#name, offsetof(ratios, name), t}

/* Targets of the [bench] issue for this machine's PoCL CPU device (cache-resident sizes). */
static const target targets[] = {TARGET(wht_vs_copy, 0.8), TARGET(quantize_vs_copy, 0.5),
                                 TARGET(decode4_vs_sgemv, 4), TARGET(qjl_vs_sgemv, 10),
                                 TARGET(opencl_vs_host, 3)};
/* Targets of the [perf] issue, at the memory-bound size. */
static const target targets_mem[] = {
    TARGET(wht_vs_copy, 1.0), TARGET(quantize_vs_copy, 0.5), TARGET(decode4_vs_openblas_sgemv, 3),
    TARGET(qjl_vs_openblas_sgemv, 10), TARGET(prefill4_vs_openblas_sgemm, 1)};
#define NTARGETS(t) (sizeof t / sizeof t[0])

/* The target of the ratio at off in t[0..n), or NaN when it has none. */
static double target_of(const target *t, size_t n, size_t off)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].off == off)
            return t[i].target;
    return NAN;
}

/* A number, or null when it is not finite (a missing workload). */
static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
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
               "\"bytes\":%.0f,\"gbps\":%.6g,\"flops\":%.0f,\"gflops\":%.6g,\"memory_bound\":%s,"
               "\"peer\":%s,\"runs\":%d,",
            e->kind, e->w.dim, e->w.bits, e->w.qjl ? "true" : "false", e->w.count,
            e->w.queries ? e->w.queries : (size_t)0, e->bytes, gbps(e, 0), e->flops, gflops(e, 0),
            e->mem ? "true" : "false", e->peer ? "\"openblas\"" : "null", e->runs);
    if (e->peer)
        fputs("\"event_s\":null", f);
    else
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

/* One ratios object (null for a ratio whose workloads are missing). */
static void json_ratios(FILE *f, const ratios *r, const char *key)
{
    fprintf(f, ",\"%s\":{", key);
    for (size_t i = 0; i < NRATIOS; i++) {
        fprintf(f, "\"%s\":", ratio_fields[i].name);
        json_num(f, ratio_at(r, ratio_fields[i].off));
        fputc(',', f);
    }
    fprintf(f, "\"opencl_vs_host_kernels\":%d}", r->host_kernels);
}

/* One targets object: target, measured value and whether it is met. */
static void json_targets(FILE *f, const ratios *r, const target *t, size_t n, const char *key)
{
    fprintf(f, ",\"%s\":{", key);
    for (size_t i = 0; i < n; i++) {
        double v = ratio_at(r, t[i].off);
        fprintf(f, "%s\"%s\":{\"target\":%g,\"measured\":", i ? "," : "", t[i].name, t[i].target);
        json_num(f, v);
        fprintf(f, ",\"met\":%s}", isfinite(v) && v >= t[i].target ? "true" : "false");
    }
    fputc('}', f);
}

/* The peer, the cache and the sizes each ratios object is measured at. */
static void json_sizes(FILE *f, const suite *s)
{
    fputs(",\"openblas\":{\"found\":", f);
    if (kvq__peer_available()) {
        fputs("true,\"config\":", f);
        kvq__json_string(f, kvq__peer_config());
        fputs(",\"coretype_env\":", f);
        if (getenv("OPENBLAS_CORETYPE"))
            kvq__json_string(f, getenv("OPENBLAS_CORETYPE"));
        else
            fputs("null", f);
        fprintf(f, ",\"threads\":%d,\"time_basis\":\"host wall clock around each call; ratios "
                   "against OpenBLAS use kvq's wall time (enqueue to clFinish)\"}",
                s->blas_threads);
    } else {
        fputs("false}", f);
    }
    double key_bytes = 4.0 * 128 * (double)s->mem_n;
    fprintf(f, ",\"ratio_sizes\":{\"ratios\":\"the *_openblas_* ratios at memory_bound.keys, "
               "the others at cache_resident sizes (also in ratios_cache_resident)\","
               "\"cache_resident\":{\"keys\":%zu,\"vector_bytes\":%zu,\"copy_bytes\":%zu},"
               "\"memory_bound\":{\"keys\":%zu,\"dim\":128,\"key_bytes\":%.0f,\"llc_bytes\":%.0f,"
               "\"llc_level\":%d,\"llc_multiple\":",
            s->logits_n, s->vec_bytes, 4 * s->copy_floats, s->mem_n, key_bytes, s->llc,
            s->llc_level);
    json_num(f, s->llc > 0 ? key_bytes / s->llc : NAN);
    fputs("}}", f);
}

/* Whose parameters CLBlast runs: kvq tune's (installed from its cache,
 * doc/scaling.md §7), or, without them, its database's, which its C API
 * cannot say whether it knew the device. */
static const char *tuned_word(const suite *s)
{
    return kvq__ctx_clblast_tuned(s->dev) ? "kvq tune" : "unknown";
}

static const char *tuned_note(const suite *s)
{
    return kvq__ctx_clblast_tuned(s->dev)
               ? "parameters from kvq tune's cache, installed with CLBlastOverrideParameters"
               : "CLBlast's C API cannot report whether its database had an entry for this "
                 "device; see bench/README.md";
}

/* The whole report as one JSON object. */
static void print_json(FILE *f, const suite *s, double seconds)
{
    const kvq_device_info *di = kvq_ctx_device(s->dev);
    ratios r = report_ratios(s, 0), mem = compute_ratios(s, 0, 1);
    const char *const device[][2] = {{"name", di->name}, {"platform", di->platform},
                                     {"version", di->version}, {"driver", di->driver}};
    fputs("{\"device\":{", f);
    kvq__json_strings(f, device, sizeof device / sizeof device[0]);
    fprintf(f, ",\"compute_units\":%u},", di->compute_units);
    fprintf(f, "\"clblast\":{\"version\":\"%s\",\"tuned\":\"%s\",\"tuned_note\":\"%s\"},",
            kvq_bench_clblast_version(), tuned_word(s), tuned_note(s));
    fprintf(f, "\"config\":{\"repeats\":%d,\"warmups\":1,\"quick\":%s,\"time_basis\":"
               "\"median of OpenCL event times (wall-clock ratios in ratios_wall); ratios "
               "against OpenBLAS use wall times in every object\"},",
            s->o->repeats, s->o->quick ? "true" : "false");
    fputs("\"results\":[", f);
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            fputc(',', f);
        json_entry(f, &s->e[i]);
    }
    fputc(']', f);
    ratios rw = report_ratios(s, 1), cache = compute_ratios(s, 0, 0), memw = compute_ratios(s, 1, 1);
    json_ratios(f, &r, "ratios");
    json_ratios(f, &rw, "ratios_wall");
    json_ratios(f, &cache, "ratios_cache_resident");
    json_ratios(f, &mem, "ratios_membound");
    json_ratios(f, &memw, "ratios_membound_wall");
    json_sizes(f, s);
    fprintf(f, ",\"ceilings\":{\"decode4_bytes\":8,\"decode4_bytes_with_side\":%.6g,"
               "\"qjl_bytes\":32,\"qjl_bytes_with_side\":%.6g,\"wht_vs_copy\":1,"
               "\"quantize_vs_copy\":%.6g}",
            512.0 / code_bytes(128, 4, 0), 512.0 / code_bytes(128, 0, 1),
            512.0 / (512.0 + code_bytes(128, 4, 0)));
    json_targets(f, &r, targets, NTARGETS(targets), "targets");
    json_targets(f, &mem, targets_mem, NTARGETS(targets_mem), "targets_membound");
    fprintf(f, ",\"seconds\":%.3f}\n", seconds);
}

/* A table cell: the number, or "-" when it is not finite. */
static void cell(FILE *f, const char *fmt, int width, double v)
{
    if (isfinite(v))
        fprintf(f, fmt, width, v);
    else
        fprintf(f, " %*s", width, "-");
}

/* Per deployed format: quantize GB/s ÷ copy GB/s, and the speed of its M = 1
 * logits over CLBlast SGEMV on fp32 keys beside the byte ratio 512/bytes. */
static void print_formats(FILE *f, const suite *s)
{
    const entry *copy = find(s, "copy float4", 0), *sgemv = find(s, "clblast sgemv M=1", 0);
    fprintf(f, "\n%-10s %16s %18s %12s\n", "format", "quantize/copy", "logits vs sgemv", "byte ratio");
    for (size_t i = 0; i < NBENCH_FORMATS; i++) {
        char lq[48], ll[48], name[32];
        double bytes = format_of(i, name, sizeof name);
        snprintf(lq, sizeof lq, "quantize %s", name);
        snprintf(ll, sizeof ll, "logits %s M=1", name);
        fprintf(f, "%-10s", name);
        cell(f, " %*.3f", 16, bwratio(find(s, lq, 0), copy, 0));
        cell(f, " %*.3f", 18, tratio(sgemv, find(s, ll, 0), 0));
        fprintf(f, " %12.2f\n", 512.0 / bytes);
    }
}

/* The ratios of one size set: event, wall, and the target where one is set. */
static void print_ratios(FILE *f, const suite *s, int mem, const target *t, size_t nt)
{
    ratios r = compute_ratios(s, 0, mem), rw = compute_ratios(s, 1, mem);
    fprintf(f, "\n%-27s %9s %9s %8s\n", mem ? "ratio (memory-bound)" : "ratio (cache-resident)",
            "event", "wall", "target");
    for (size_t i = 0; i < NRATIOS; i++) {
        size_t off = ratio_fields[i].off;
        double v = ratio_at(&r, off), tg = target_of(t, nt, off);
        if (mem && off == offsetof(ratios, opencl_vs_host))
            continue;
        fprintf(f, "%-27s", ratio_fields[i].name);
        cell(f, " %*.3f", 9, v);
        cell(f, " %*.3f", 9, ratio_at(&rw, off));
        if (isfinite(tg))
            fprintf(f, " %8g %s", tg, !isfinite(v) ? "n/a" : v >= tg ? "met" : "NOT MET");
        fputc('\n', f);
    }
}

/* The header: device, CLBlast, OpenBLAS, the cache and the memory-bound size. */
static void print_header(FILE *f, const suite *s)
{
    const kvq_device_info *di = kvq_ctx_device(s->dev);
    fprintf(f, "kvq bench on %s / %s (driver %s), CLBlast %s (tuned: %s)\n", di->platform,
            di->name, di->driver, kvq_bench_clblast_version(), tuned_word(s));
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    coretype = coretype && *coretype ? coretype : NULL;
    if (kvq__peer_available())
        fprintf(f, "openblas: %s%s%s, %d threads (the online cores); timed by the host clock, "
                   "and ratios against it use kvq's wall time (enqueue to clFinish)\n",
                kvq__peer_config(), coretype ? ", OPENBLAS_CORETYPE=" : "",
                coretype ? coretype : "", s->blas_threads);
    else
        fputs("openblas: not found (configure found no OpenBLAS; apt-get install "
              "libopenblas-dev and reconfigure)\n", f);
    double key_bytes = 4.0 * 128 * (double)s->mem_n;
    if (s->llc > 0)
        fprintf(f, "last-level cache: L%d %.1f MiB (sysfs); memory-bound set (%s): N = %zu keys, "
                   "d = 128, fp32 keys %.0f MiB = %.2f x LLC\n",
                s->llc_level, s->llc / 1048576.0, MEM_SUFFIX + 1, s->mem_n, key_bytes / 1048576.0,
                key_bytes / s->llc);
    else
        fprintf(f, "last-level cache: unknown (no sysfs cache size); memory-bound set (%s): "
                   "N = %zu keys, d = 128, fp32 keys %.0f MiB\n",
                MEM_SUFFIX + 1, s->mem_n, key_bytes / 1048576.0);
    fprintf(f, "%d repeats after 1 warm-up (3 for a memory-bound workload predicted to take "
               "over %.0f s a run; a shorter memory-bound one repeats until %.0f s of timed "
               "runs, at most %d); times in ms (median / min); GB/s and GFLOP/s from the "
               "median event time (host wall time for openblas)\n\n", s->o->repeats, SLOW_RUN_S,
            MEM_TIMED_S, MEM_MAX_REPEATS);
}

static void print_table(FILE *f, const suite *s, double seconds)
{
    print_header(f, s);
    fprintf(f, "%-27s %9s %9s %9s %9s %8s %8s %10s %8s\n", "workload", "event", "ev.min", "wall",
            "wall.min", "GB/s", "GFLOP/s", "host", "host/dev");
    for (size_t i = 0; i < s->n; i++) {
        const entry *e = &s->e[i];
        fprintf(f, "%-27s", e->label);
        cell(f, " %*.3f", 9, e->peer ? NAN : 1e3 * e->ev.med);
        cell(f, " %*.3f", 9, e->peer ? NAN : 1e3 * e->ev.min);
        fprintf(f, " %9.3f %9.3f %8.2f", 1e3 * e->wall.med, 1e3 * e->wall.min, gbps(e, 0));
        cell(f, " %*.1f", 8, e->flops > 0 ? gflops(e, 0) : NAN);
        if (e->has_host)
            fprintf(f, " %10.2f %8.2f\n", 1e3 * e->host.med, e->host.med / e->ev.med);
        else
            fprintf(f, " %10s %8s\n", "-", "-");
    }
    print_ratios(f, s, 0, targets, NTARGETS(targets));
    print_ratios(f, s, 1, targets_mem, NTARGETS(targets_mem));
    ratios r = compute_ratios(s, 0, 0);
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
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->blas_threads = kvq__peer_threads(cores > 0 ? (int)cores : 1);
    s->llc = llc_bytes(&s->llc_level);
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
    free(s->peer_keys);
    free(s->peer_q);
    free(s->peer_out);
    free(s);
    return st;
}
