/* cmd_codebook.c — `kvq codebook`: the Lloyd–Max codebook C_b(d) of doc/quantization.md §4,
 * as a table or as the doc/conformance.md §6.2 JSON object. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

static void usage(FILE *f)
{
    fputs("usage: kvq codebook [--dim D] --bits B [--json]\n\n"
          "The b-bit Lloyd-Max codebook of one coordinate of a random unit vector in R^d\n"
          "(density f_d): centroids, thresholds and D_b(d) = d*E[(x-Q(x))^2].\n\n"
          "  --dim D    head dimension, 16..1024 (default 128)\n"
          "  --bits B   bits per coordinate, 1..8\n"
          "  --json     one JSON object: {\"dim\",\"bits\",\"centroids\",\"thresholds\",\"distortion\"}\n"
          "             (centroids for the unit vector, not multiplied by sqrt(d))\n", f);
}

/* Prints a JSON array of n doubles with %.17g. */
static void json_array(FILE *f, const double *v, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.17g", i ? "," : "", v[i]);
    fputc(']', f);
}

/* The doc/conformance.md §6.2 JSON object. */
static void print_json(FILE *f, const kvq_codebook *cb)
{
    fprintf(f, "{\"dim\":%d,\"bits\":%d,\"centroids\":", cb->dim, cb->bits);
    json_array(f, cb->centroids, cb->levels);
    fputs(",\"thresholds\":", f);
    json_array(f, cb->thresholds, cb->levels - 1);
    fprintf(f, ",\"distortion\":%.17g}\n", cb->distortion);
}

static void print_table(FILE *f, const kvq_codebook *cb)
{
    double s = sqrt((double)cb->dim);
    fprintf(f, "Lloyd-Max codebook of f_d: d = %d, b = %d (%d levels)\n\n", cb->dim, cb->bits,
            cb->levels);
    fprintf(f, "%5s  %22s  %17s  %22s\n", "level", "centroid", "centroid*sqrt(d)",
            "threshold above");
    for (int i = 0; i < cb->levels; i++) {
        fprintf(f, "%5d  %22.15e  %17.12f  ", i, cb->centroids[i], cb->centroids[i] * s);
        if (i + 1 < cb->levels)
            fprintf(f, "%22.15e\n", cb->thresholds[i]);
        else
            fprintf(f, "%22s\n", "-");
    }
    fprintf(f, "\nD_b(d) = d*E[(x-Q(x))^2] = %.12g  (MSE of a unit vector)\n", cb->distortion);
}

/* Reads --dim at argv[*i]: an integer in 16..1024. */
static int parse_dim(int argc, char **argv, int *i, long *dim)
{
    return kvq_cli_int_value(argc, argv, i, "--dim", 16, 1024, dim);
}

/* `kvq codebook`: prints the Lloyd–Max codebook of (dim, bits). */
int kvq_cmd_codebook(int argc, char **argv)
{
    long dim = 128, bits = 0;
    int json = 0, st;
    if (kvq_cli_want_help(argc, argv)) {
        usage(stdout);
        return KVQ_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (kvq_cli_is(argv[i], "--dim")) {
            if (parse_dim(argc, argv, &i, &dim))
                return KVQ_EXIT_USAGE;
        } else if (kvq_cli_is(argv[i], "--bits")) {
            if (kvq_cli_int_value(argc, argv, &i, "--bits", 1, 8, &bits))
                return KVQ_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            return kvq_cli_error(argv[i], "unknown option for 'kvq codebook' (try --help)");
        }
    }
    if (bits == 0)
        return kvq_cli_error("codebook", "--bits is required (1..8)");
    const kvq_codebook *cb;
    if ((st = kvq_codebook_get((int)dim, (int)bits, &cb)) != 0)
        return kvq_cli_fail("codebook", "%s", kvq_strerror(st));
    if (json)
        print_json(stdout, cb);
    else
        print_table(stdout, cb);
    return fflush(stdout) == 0 ? KVQ_EXIT_OK : kvq_cli_fail("stdout", "write failed");
}
