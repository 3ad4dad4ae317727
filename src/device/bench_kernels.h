/* bench_kernels.h — timed device workloads for `kvq bench` (bench/). No
 * OpenCL types here, so the benchmark suite needs no CL headers. */
#ifndef KVQ_BENCH_KERNELS_H
#define KVQ_BENCH_KERNELS_H

#include <stddef.h>

#include "kvq.h"

/* What one workload runs on the device. */
enum kvq_bench_kind {
    KVQ_BENCH_COPY,      /* kvq_copy4 over count floats (count/4 float4) */
    KVQ_BENCH_WHT,       /* kvq_rotate (wht, forward) on count vectors of dim */
    KVQ_BENCH_QUANTIZE,  /* fused quantization of count vectors (wht + mse bits [+ qjl]) */
    KVQ_BENCH_LOGITS,    /* compressed-domain logits: queries × count keys */
    KVQ_BENCH_SGEMV,     /* CLBlast SGEMV: fp32 keys (count × dim) times one query */
    KVQ_BENCH_SGEMM,     /* CLBlast SGEMM: queries × dim times keysᵀ (dim × count) */
    KVQ_BENCH_SOFTMAX    /* softmax passes 1 + 2 (statistics, KL/JS/TV, top-k) on queries × count */
};

typedef struct kvq_bench_work {
    int kind;            /* enum kvq_bench_kind */
    int dim;             /* head dimension d */
    int bits, qjl;       /* codec of QUANTIZE / LOGITS: wht + mse<bits> (+ qjl with m = d) */
    size_t count;        /* floats (COPY), vectors or keys */
    size_t queries;      /* M of LOGITS / SGEMM / SOFTMAX */
    int format;          /* QUANTIZE / LOGITS: a deployed format (enum kvq_format) instead
                          * of wht + mse; 0 for none */
    int format_bits;     /* KIVI's bits (its group is the default 32) */
} kvq_bench_work;

/* Runs the workload warmups + repeats times on ctx (an OpenCL context), each
 * run enqueued then waited for. event_s[r]: device time of repeat r from the
 * OpenCL profiling events (first command's start to last command's end);
 * wall_s[r]: host wall-clock time from the first enqueue to clFinish.
 * Inputs are seeded pseudo-random data; buffers come from the context's pool. */
int kvq_bench_device_run(kvq_ctx *ctx, const kvq_bench_work *w, int warmups, int repeats,
                         double *event_s, double *wall_s);

/* kvq_bench_device_run, then more timed runs while their wall times add up to
 * less than min_s, up to max_repeats in all (event_s and wall_s hold that
 * many); *runs: the timed runs made. */
int kvq_bench_device_run_for(kvq_ctx *ctx, const kvq_bench_work *w, int warmups, int repeats,
                             int max_repeats, double min_s, double *event_s, double *wall_s,
                             int *runs);

/* CLBlast's version as "major.minor.patch" (from its header). */
const char *kvq_bench_clblast_version(void);

#endif
