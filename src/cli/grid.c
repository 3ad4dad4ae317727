/* grid.c — parsing of sweep grids: lists and ranges of schemes, budgets,
 * distributions and ranks. */
#include <stdlib.h>
#include <string.h>

#include "cli/grid.h"

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

#define BITS_RULE "budgets are 1..8 (ranges ascending, like 2-6) or k<X>v<Y> with X, Y in 1..8"

/* A whole decimal number 1..8 at *p (advanced past it); -1 if there is none. */
static long budget_number(const char **p)
{
    char *end;
    if (**p < '0' || **p > '9')
        return -1;
    long v = strtol(*p, &end, 10);
    *p = end;
    return v >= 1 && v <= 8 ? v : -1;
}

/* One list item at *p: "a", "a-b" or "kXvY" into [lo, hi] (asymmetric: the
 * one budget in lo); advances *p past the item. 0, or -1 if malformed. */
static int budget_item(const char **p, kvq_grid_budget *lo, kvq_grid_budget *hi)
{
    if (**p == 'k' || **p == 'K') {
        ++*p;
        long k = budget_number(p), v = -1;
        if (k > 0 && (**p == 'v' || **p == 'V')) {
            ++*p;
            v = budget_number(p);
        }
        *lo = *hi = (kvq_grid_budget){(int)k, (int)v};
        return k > 0 && v > 0 ? 0 : -1;
    }
    long a = budget_number(p), b = a;
    if (a > 0 && **p == '-') {
        ++*p;
        b = budget_number(p);
    }
    *lo = (kvq_grid_budget){(int)a, (int)a};
    *hi = (kvq_grid_budget){(int)b, (int)b};
    return a > 0 && b >= a ? 0 : -1;
}

/* Appends b to bits[0..*n) unless it is there; 0, or the exit status. */
static int add_budget(const char *text, kvq_grid_budget b, kvq_grid_budget *bits, int *n, int max)
{
    for (int i = 0; i < *n; i++)
        if (bits[i].k == b.k && bits[i].v == b.v)
            return b.k == b.v ? kvq_cli_error("--bits", "'%s': budget %d given twice", text, b.k)
                              : kvq_cli_error("--bits", "'%s': budget k%dv%d given twice", text,
                                              b.k, b.v);
    if (*n == max)
        return kvq_cli_error("--bits", "'%s': too many budgets", text);
    bits[(*n)++] = b;
    return 0;
}

int kvq_grid_bits(const char *text, kvq_grid_budget *bits, int max)
{
    int n = 0, rc;
    const char *p = text;
    while (*p) {
        kvq_grid_budget lo, hi;
        if (budget_item(&p, &lo, &hi) || (*p && *p != ','))
            return kvq_cli_error("--bits", "'%s': %s", text, BITS_RULE);
        if (lo.k != lo.v) {
            if ((rc = add_budget(text, lo, bits, &n, max)))
                return rc;
        } else
            for (int v = lo.k; v <= hi.k; v++)
                if ((rc = add_budget(text, (kvq_grid_budget){v, v}, bits, &n, max)))
                    return rc;
        p += *p == ',';
    }
    return n ? -n : kvq_cli_error("--bits", "empty list");
}

int kvq_grid_bits_one(const char *text, kvq_grid_budget *out)
{
    const char *p = text;
    kvq_grid_budget hi;
    if (budget_item(&p, out, &hi) || *p || hi.k != out->k)
        return kvq_cli_error("--bits", "'%s': one budget, 1..8 or k<X>v<Y> with X, Y in 1..8",
                             text);
    return 0;
}

int kvq_grid_scheme(const char *text, kvq_grid_budget b, const char *flag, kvq_scheme *out)
{
    char err[256];
    if (kvq_scheme_parse(text, b.k, out, err, sizeof err))
        return kvq_cli_error(flag, "%s", err);
    if (out->bits_k && b.k != b.v && kvq__scheme_preset_kv(text, b.k, b.v, out))
        return kvq_cli_error(flag, "bad budget k%dv%d for scheme %s", b.k, b.v, text);
    return 0;
}

/* Parses a --schemes list: presets at every budget, custom specs once each. */
int kvq_grid_schemes(const char *text, const kvq_grid_budget *bits, int nbits, kvq_scheme *out,
                     int max)
{
    char *items[64];
    int n = split(text, 1, items, 64), k = 0, rc = 0;
    if (n <= 0)
        return kvq_cli_error("--schemes", "'%s' is not a comma-separated list", text);
    for (int i = 0; i < n && !rc; i++) {
        kvq_scheme probe;
        int custom = kvq_scheme_parse(items[i], 1, &probe, NULL, 0) == 0 && probe.bits_k == 0;
        for (int b = 0; b < (custom ? 1 : nbits) && !rc; b++) {
            if (k == max)
                rc = kvq_cli_error("--schemes", "too many schemes × budgets");
            else if (!(rc = kvq_grid_scheme(items[i], bits[b], "--schemes", &out[k])))
                k++;
        }
    }
    free_items(items, n);
    return rc ? rc : -k;
}

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
