/* cmd_bench.c — `kvq bench`: the benchmark suite of bench/ (doc/conformance.md §3) as a
 * table or JSON on stdout, progress on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/peers.h"
#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

static void usage(FILE *f)
{
    fputs("usage: kvq bench [--json] [--quick] [--membound-only] [--repeats N] [--no-host] [--membound-keys N]\n"
          "                 [--device SPEC] [--quiet]\n\n"
          "Times kvq's OpenCL kernels in one context and queue: a float4 copy (the\n"
          "device's memory roofline), batched WHT (d = 64, 128, 256), fused quantization\n"
          "(b = 2, 3, 4, 3+QJL), compressed-domain logits for 1 and 64 queries against\n"
          "65536 keys (d = 128, b = 1..8 and 1-bit QJL) beside CLBlast SGEMV/SGEMM on fp32\n"
          "keys, softmax + KL, and the double-precision host reference of each kernel.\n"
          "The copy, WHT, 4-bit quantize, 4-bit/QJL logits and CLBlast run again at a\n"
          "memory-bound key count (\"@mem\": fp32 keys >= 4 x the last-level cache read\n"
          "from sysfs, at least 1048576 keys). When configure found OpenBLAS, its\n"
          "cblas_sgemv/cblas_sgemm on the same fp32 keys run at both sizes with one thread\n"
          "per online core, timed by the host clock; ratios against OpenBLAS use kvq's\n"
          "wall time (enqueue to clFinish).\n"
          "Each shape is warmed up once, then timed N times (median and min, OpenCL events\n"
          "and wall clock; a memory-bound shape repeats until its timed runs add up to 1 s,\n"
          "at most 41 times); the report ends with the ratios wht_vs_copy, quantize_vs_copy,\n"
          "decode4_vs_sgemv, qjl_vs_sgemv, opencl_vs_host, prefill4_vs_sgemm,\n"
          "prefill_qjl_vs_sgemm and decode4_vs_openblas_sgemv, qjl_vs_openblas_sgemv,\n"
          "prefill4_vs_openblas_sgemm, for the cache-resident and the memory-bound set.\n\n"
          "  --json         one JSON object on stdout (\"results\", \"ratios\", \"ratios_membound\",\n"
          "                 \"openblas\", \"ratio_sizes\", \"ceilings\", \"targets\", ...)\n"
          "  --quick        small shapes (a smoke test; the ratios are not meaningful)\n"
          "  --membound-only\n"
          "                 only the memory-bound set (copy, WHT, quantize, logits, CLBlast)\n"
          "                 and the OpenBLAS peers: the [perf] ratios in a few minutes\n"
          "  --repeats N    timed repeats per workload, 1..1000 (default 5)\n"
          "  --no-host      skip the host reference timings (opencl_vs_host is then 0)\n"
          "  --membound-keys N\n"
          "                 keys of the memory-bound set, a multiple of 4096 in\n"
          "                 4096..67108864 (default: from the last-level cache; --quick: 16384)\n"
          "  --device SPEC  device (default: $KVQ_DEVICE, else first GPU, else CPU)\n"
          "  --quiet        no progress lines on stderr\n", f);
}

/* `kvq bench`: parses the options and runs the benchmark suite. */
int kvq_cmd_bench(int argc, char **argv)
{
    kvq_bench_opts o = {.repeats = 5, .host = 1, .verbose = 1};
    long rep;
    if (kvq_cli_want_help(argc, argv)) {
        usage(stdout);
        return KVQ_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (kvq_cli_is(argv[i], "--repeats")) {
            if (kvq_cli_int_value(argc, argv, &i, "--repeats", 1, 1000, &rep))
                return KVQ_EXIT_USAGE;
            o.repeats = (int)rep;
        } else if (kvq_cli_is(argv[i], "--membound-keys")) {
            if (kvq_cli_int_value(argc, argv, &i, "--membound-keys", 4096, 67108864, &rep))
                return KVQ_EXIT_USAGE;
            if (rep % 4096)
                return kvq_cli_error(argv[i], "--membound-keys must be a multiple of 4096");
            o.mem_keys = (size_t)rep;
        } else if (kvq_cli_is(argv[i], "--device")) {
            if (!(o.device = kvq_cli_value(argc, argv, &i, "--device")))
                return KVQ_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--json")) {
            o.json = 1;
        } else if (!strcmp(argv[i], "--quick")) {
            o.quick = 1;
        } else if (!strcmp(argv[i], "--membound-only")) {
            o.membound_only = 1;
        } else if (!strcmp(argv[i], "--no-host")) {
            o.host = 0;
        } else if (!strcmp(argv[i], "--quiet")) {
            o.verbose = 0;
        } else {
            return kvq_cli_error(argv[i], "unknown option for 'kvq bench' (try --help)");
        }
    }
    int st = kvq_bench_suite(&o, stdout);
    if (st == KVQ_ERR_NO_DEVICE || st == KVQ_ERR_BAD_SPEC)
        return kvq_cli_error(o.device ? o.device : "--device", "%s", kvq_strerror(st));
    if (st)
        return kvq_cli_fail("bench", "%s", kvq_strerror(st));
    return fflush(stdout) == 0 ? KVQ_EXIT_OK : kvq_cli_fail("stdout", "write failed");
}
