/* main.c — the kvq command: dispatch to subcommands. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/peers.h"
#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    int blas;           /* runs attention (host GEMMs) or the OpenBLAS peers */
} command;

static const command commands[] = {
    {"devices", kvq_cmd_devices, "list OpenCL devices and the host reference; resolve a device spec", 0},
    {"codebook", kvq_cmd_codebook, "Lloyd-Max codebook of the hypersphere Beta law for (dim, bits)", 0},
    {"run", kvq_cmd_run, "one scheme and budget on one data source: every metric with CIs", 1},
    {"sweep", kvq_cmd_sweep, "a grid of schemes x budgets x sources; CSV, JSON, Markdown, plots", 1},
    {"findings", kvq_cmd_findings, "the main job: the paper grid and a verdict on each finding", 1},
    {"merge", kvq_cmd_merge, "shards' partial results (sweep|findings --shard I/N) into one report", 0},
    {"compare", kvq_cmd_compare, "the same workloads on several devices: agreement and speed", 1},
    {"tune", kvq_cmd_tune, "run CLBlast's tuners for a device; kvq then uses the parameters", 0},
    {"bench", kvq_cmd_bench, "the benchmark suite: kernels vs the copy roofline, CLBlast and the host", 1},
};

static void usage(FILE *f)
{
    fputs("usage: kvq <command> [options]   (kvq <command> --help for its options)\n"
          "start with: kvq findings --out DIR   (the paper's grid and a verdict on each finding)\n\n"
          "kvq measures what KV-cache quantization (KV, KQV, QKQV schemes) does to\n"
          "transformer attention, on any OpenCL device or the host reference.\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nenvironment:\n"
          "  KVQ_DEVICE            default device spec (host, P:D, cpu, gpu, accelerator, name)\n"
          "  KVQ_CL_BUILD_OPTIONS  extra OpenCL build options\n"
          "  KVQ_POOL_LIMIT        device buffer pool limit in bytes (K/M/G suffixes)\n"
          "  KVQ_CHUNK_KEYS        work on K and V in chunks of this many keys (default 64 MiB)\n"
          "  KVQ_PORTABLE_KERNELS  1: the work-group (GPU-style) kernels on CPUs too\n"
          "  KVQ_DEVICE_LIMITS     wg=N,local=BYTES: plan kernels within GPU-like limits\n"
          "  KVQ_CLBLAST_TUNED     0: CLBlast runs its own parameters, not kvq tune's\n"
          "  KVQ_CACHE_DIR         where kvq tune keeps its cache (default ~/.cache/kvq)\n"
          "  OPENBLAS_CORETYPE     OpenBLAS's kernels (kvq sets it when OpenBLAS fell back\n"
          "                        to its generic core on an AVX2/AVX-512 CPU)\n"
          "\nexit status: 0 success, 1 runtime failure, 2 usage or input error\n", f);
}

/* OpenBLAS picks its kernels when it is loaded, before main. When it fell
 * back to its generic Prescott kernels on a CPU it does not recognise (0.3.21
 * on Sapphire/Emerald Rapids), a command that computes runs itself again
 * with OPENBLAS_CORETYPE naming the kernels the CPU supports: the host GEMMs
 * of CPU devices (doc/metrics.md §4.2) and kvq bench's peers then run 2–4×
 * faster. Set the variable (to anything) to keep OpenBLAS's own choice.
 * Returns when nothing needs doing or the exec failed. */
static void retune_openblas(int argc, char **argv)
{
    const char *core = kvq__peer_retune();
    char **av = core ? calloc((size_t)argc + 1, sizeof *av) : NULL;
    if (!av)
        return;
    memcpy(av, argv, (size_t)argc * sizeof *av);
    if (setenv("OPENBLAS_CORETYPE", core, 1) == 0)
        execv("/proc/self/exe", av);
    unsetenv("OPENBLAS_CORETYPE");
    free(av);
}

/* The kvq command: dispatches to the subcommand named by argv[1]. */
int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return KVQ_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return KVQ_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kvq %s\n", PACKAGE_VERSION);
        return KVQ_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (commands[i].blas)
                retune_openblas(argc, argv);
            return commands[i].run(argc - 1, argv + 1);
        }
    kvq_cli_error(argv[1], "unknown command (try 'kvq --help')");
    return KVQ_EXIT_USAGE;
}
