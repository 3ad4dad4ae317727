/* grid.c — parsing of sweep grids: lists and ranges of schemes, budgets,
 * distributions and ranks. */
#include <stdlib.h>
#include <string.h>

#include "cli/grid.h"

/* Frees split items. */
static void free_items(char **items, int n)
{
    for (int i = 0; i < n; i++)
        free(items[i]);
}

/* Splits text on ',' into at most max malloc'd items; for schemes, a "v=…"
 * item is joined to the "k=…" item before it. Returns the count, or -1
 * (having freed what it allocated) on an empty item or too many items. */
static int split(const char *text, int schemes, char **items, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            goto fail;
        if (schemes && n > 0 && !strncmp(p, "v=", 2) && !strncmp(items[n - 1], "k=", 2) &&
            !strstr(items[n - 1], ",v=")) {
            size_t old = strlen(items[n - 1]);
            char *j = realloc(items[n - 1], old + len + 2);
            if (!j)
                goto fail;
            j[old] = ',';
            memcpy(j + old + 1, p, len);
            j[old + 1 + len] = '\0';
            items[n - 1] = j;
        } else {
            if (n == max || !(items[n] = malloc(len + 1)))
                goto fail;
            memcpy(items[n], p, len);
            items[n++][len] = '\0';
        }
        p += len + (p[len] == ',');
    }
    return n;
fail:
    free_items(items, n);
    return -1;
}

/* "2-6", "2,3,5", "1-3,6" into distinct budgets. */
int kvq_grid_bits(const char *text, int *bits, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p)
            return kvq_cli_error("--bits", "'%s' is not a list of budgets like 2-6 or 2,4,6", text);
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p)
                return kvq_cli_error("--bits", "'%s': a range needs an end", text);
        }
        if (a < 1 || b > 8 || a > b)
            return kvq_cli_error("--bits", "'%s': budgets must lie in 1..8, ranges ascending", text);
        for (long v = a; v <= b; v++) {
            for (int i = 0; i < n; i++)
                if (bits[i] == v)
                    return kvq_cli_error("--bits", "'%s': budget %ld given twice", text, v);
            if (n == max)
                return kvq_cli_error("--bits", "'%s': too many budgets", text);
            bits[n++] = (int)v;
        }
        if (*end && *end != ',')
            return kvq_cli_error("--bits", "'%s' is not a list of budgets like 2-6 or 2,4,6", text);
        p = end + (*end == ',');
    }
    return n ? -n : kvq_cli_error("--bits", "empty list");
}

/* Parses a --schemes list: presets at every budget, custom specs once each. */
int kvq_grid_schemes(const char *text, const int *bits, int nbits, kvq_scheme *out, int max)
{
    char *items[64], err[256];
    int n = split(text, 1, items, 64), k = 0, rc = 0;
    if (n <= 0)
        return kvq_cli_error("--schemes", "'%s' is not a comma-separated list", text);
    for (int i = 0; i < n && !rc; i++) {
        kvq_scheme probe;
        int custom = kvq_scheme_parse(items[i], 1, &probe, err, sizeof err) == 0 && probe.bits == 0;
        for (int b = 0; b < (custom ? 1 : nbits) && !rc; b++) {
            if (k == max) {
                rc = kvq_cli_error("--schemes", "too many schemes × budgets");
                break;
            }
            if (kvq_scheme_parse(items[i], custom ? 1 : bits[b], &out[k], err, sizeof err))
                rc = kvq_cli_error("--schemes", "%s", err);
            else
                k++;
        }
    }
    free_items(items, n);
    return rc ? rc : -k;
}

/* Every dist × rank combination. */
int kvq_grid_sources(const char *dists, const char *ranks, int dim, kvq_source *out, int max)
{
    char *d[32], *r[16], err[256];
    int nd = split(dists, 0, d, 32), nr = split(ranks, 0, r, 16), k = 0, rc = 0;
    if (nd <= 0)
        rc = kvq_cli_error("--dist", "'%s' is not a comma-separated list", dists);
    else if (nr <= 0)
        rc = kvq_cli_error("--rank", "'%s' is not a comma-separated list", ranks);
    for (int i = 0; i < nd && !rc; i++)
        for (int j = 0; j < nr && !rc; j++) {
            if (k == max)
                rc = kvq_cli_error("--dist", "too many sources");
            else if (kvq_source_parse(d[i], r[j], &out[k], err, sizeof err))
                rc = kvq_cli_error(strstr(err, "rank") ? "--rank" : "--dist", "%s", err);
            else if (kvq_source_check(&out[k], dim, err, sizeof err))
                rc = kvq_cli_error("--rank", "%s", err);
            else
                k++;
        }
    free_items(d, nd > 0 ? nd : 0);
    free_items(r, nr > 0 ? nr : 0);
    return rc ? rc : -k;
}

/* 1 when layer l is among the file's layers. */
static int has_layer(const int *avail, size_t n, long l)
{
    for (size_t i = 0; i < n; i++)
        if (avail[i] == l)
            return 1;
    return 0;
}

/* Parses a --layers list against the file's layers. */
int kvq_grid_layers(const char *text, const char *flag, const int *avail, size_t navail,
                    int *out, int max)
{
    int n = 0;
    if (!navail)
        return kvq_cli_error(flag, "the file has no layer{L}.k tensors (tools/export_kv.py names)");
    if (!strcmp(text, "all")) {
        for (size_t i = 0; i < navail && n < max; i++)
            out[n++] = avail[i];
        return -n;
    }
    for (const char *p = text; *p;) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || *p == '-' || *p == '+')
            return kvq_cli_error(flag, "'%s' is not all or a list of layers like 0,3 or 2-5", text);
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p || *p == '-' || *p == '+' || b < a)
                return kvq_cli_error(flag, "'%s': a range needs an end at or above its start", text);
        }
        if (*end && *end != ',')
            return kvq_cli_error(flag, "'%s' is not all or a list of layers like 0,3 or 2-5", text);
        if (b > 999999)
            return kvq_cli_error(flag, "'%s': layers lie in 0..999999", text);
        for (long l = a; l <= b; l++) {
            int dup = 0;
            if (!has_layer(avail, navail, l)) {
                if (a != b)
                    continue;   /* a range takes the layers the file has within it */
                return kvq_cli_error(flag, "the file has no layer %ld", l);
            }
            for (int i = 0; i < n; i++)
                dup |= out[i] == l;
            if (dup)
                return kvq_cli_error(flag, "'%s': layer %ld given twice", text, l);
            if (n == max)
                return kvq_cli_error(flag, "'%s': too many layers", text);
            out[n++] = (int)l;
        }
        p = end + (*end == ',');
    }
    if (!n)
        return kvq_cli_error(flag, "'%s' selects none of the file's layers", text);
    for (int i = 1; i < n; i++)   /* ascending, as the reports list them */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return -n;
}
