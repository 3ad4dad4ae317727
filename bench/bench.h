/* bench.h — kvq's benchmark suite (doc/conformance.md §3): one process, context and
 * queue; the device's copy roofline, batched WHT, fused quantization,
 * compressed-domain decode/prefill logits against CLBlast SGEMV/SGEMM and the
 * host's OpenBLAS, softmax + KL, and the host reference of each, at
 * cache-resident and memory-bound sizes, reported as a table or JSON with the
 * ratios of the [bench] and [perf] issues. */
#ifndef KVQ_BENCH_H
#define KVQ_BENCH_H

#include <stdio.h>

typedef struct kvq_bench_opts {
    int json;            /* JSON on out instead of the table */
    int quick;           /* small shapes (smoke test): seconds, not minutes */
    int repeats;         /* timed repeats per workload (≥ 1; the protocol asks ≥ 5) */
    int host;            /* 0: skip the host reference timings */
    const char *device;  /* device spec (NULL: $KVQ_DEVICE or the default) */
    int verbose;         /* progress on stderr */
    size_t mem_keys;     /* keys of the memory-bound set (0: fp32 keys >= 4 x the LLC, >= 1 Mi) */
    int membound_only;   /* only the memory-bound set and its peers */
} kvq_bench_opts;

/* Runs the suite and prints the report to out; progress goes to stderr.
 * Returns 0, or a negative kvq status (the failing workload is named on stderr). */
int kvq_bench_suite(const kvq_bench_opts *opts, FILE *out);

#endif
