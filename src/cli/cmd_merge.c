/* cmd_merge.c — `kvq merge`: the partial results of `kvq sweep|findings
 * --shard I/N` (one per shard, from any batch system) into the reports of
 * one run (doc/scaling.md §2). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sweep.h"
#include "kvq.h"

static const char merge_help[] =
    "usage: kvq merge [--out DIR] [--json] [--quiet] FILE...\n\n"
    "Combine the partial results of 'kvq sweep|findings --shard I/N' (every shard\n"
    "0..N-1 exactly once, all of one grid and seed) into the reports one run would\n"
    "have written: the same numbers; only timing differs. Real data (--kv, --keys-file)\n"
    "must be readable at the paths the shards were given.\n"
    "  --out DIR          write results.csv, results.json, findings.md and plots\n"
    "  --json             JSON on stdout (else the verdicts)\n";

/* Reads a whole file; NULL (after printing the error) on failure. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f) {
        kvq_cli_error(path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    do {
        if (n + 65536 + 1 > cap) {
            char *b = realloc(buf, cap = 2 * cap + 65536 + 1);
            if (!b) {
                kvq_cli_fail(path, "out of memory");
                goto fail;
            }
            buf = b;
        }
        n += got = fread(buf + n, 1, cap - n - 1, f);
    } while (got);
    if (ferror(f)) {
        kvq_cli_error(path, "cannot read");
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* `kvq merge`: partial results into the reports of one run. */
int kvq_cmd_merge(int argc, char **argv)
{
    const char *out_dir = NULL;
    int json = 0, quiet = 0, rc = 0;
    size_t n = 0;
    if (kvq_cli_want_help(argc, argv)) {
        printf("%s", merge_help);
        return KVQ_EXIT_OK;
    }
    kvq__partial *p = calloc((size_t)argc, sizeof *p);
    const char **names = calloc((size_t)argc, sizeof *names);
    if (!p || !names) {
        rc = kvq_cli_fail("merge", "out of memory");
        goto cleanup;
    }
    for (int i = 1; i < argc && !rc; i++) {
        char err[256], *text;
        size_t len;
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else if (kvq_cli_is(argv[i], "--out"))
            rc = (out_dir = kvq_cli_value(argc, argv, &i, "--out")) ? 0 : KVQ_EXIT_USAGE;
        else if (argv[i][0] == '-' && argv[i][1])
            rc = kvq_cli_error(argv[i], "unknown option for 'kvq merge' (see --help)");
        else if (!(text = slurp(argv[i], &len)))
            rc = KVQ_EXIT_USAGE;
        else {
            if (kvq__partial_parse(text, len, &p[n], err, sizeof err))
                rc = kvq_cli_error(argv[i], "not a kvq partial result: %s", err);
            names[n++] = argv[i];
            free(text);
        }
    }
    if (!rc && !n)
        rc = kvq_cli_error("merge", "no partial result files given (see --help)");
    if (!rc) {
        char err[256];
        long bad;
        if (kvq__partials_check(p, n, &bad, err, sizeof err))
            rc = kvq_cli_error(bad >= 0 ? names[bad] : "merge", "%s", err);
    }
    if (!rc)
        rc = kvq_sweep_merge(p, n, out_dir, json, quiet);
cleanup:
    for (size_t i = 0; p && i < n; i++)
        kvq__partial_clear(&p[i]);
    free(p);
    free(names);
    return rc;
}
