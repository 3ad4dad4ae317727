/* partial.c — one shard's results as a self-describing JSON file, read back
 * and merged into the full grid (doc/scaling.md §2). Values travel as C99
 * hex floats inside strings: exact, and NaN/Inf survive where JSON numbers
 * could not carry them. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "analysis/partial.h"
#include "analysis/report.h"

#define PARTIAL_VERSION 1

/* The names of the values of a work item, in file order. */
static const char *value_name(int i)
{
    static const char *const extra[] = {"qjl_var_measured", "qjl_var_bound", "seconds"};
    return i < KVQ_METRIC_COUNT ? kvq_metric_name(i) : extra[i - KVQ_METRIC_COUNT];
}

void kvq__shard_range(size_t total, size_t i, size_t n, size_t *begin, size_t *end)
{
    /* total ≤ 2^40 and n ≤ 10^5 keep total·(i+1) far from overflow */
    *begin = (size_t)((unsigned long long)total * i / n);
    *end = (size_t)((unsigned long long)total * (i + 1) / n);
}

/* Cell and trial of a work item (the runner's order, analysis.h). */
static void item_place(const kvq__experiment *e, size_t item, size_t *cell, size_t *trial)
{
    size_t c = item % e->nschemes, st = item / e->nschemes;
    *trial = st % e->trials;
    *cell = st / e->trials * e->nschemes + c;
}

int kvq__partial_collect(kvq__partial *p, const kvq__experiment *e, const kvq__results *r)
{
    size_t n = p->end - p->begin, cell, t, ncells = kvq__experiment_items(e) / e->trials;
    if (r->count < ncells)
        return KVQ_ERR_INVALID_ARG;
    free(p->values);
    p->values = calloc(n ? n * KVQ_PARTIAL_VALUES : 1, sizeof(double));
    unsigned char *timed = calloc(ncells, 1);   /* cells whose seconds are already given */
    if (!p->values || !timed) {
        free(timed);
        return KVQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        item_place(e, p->begin + i, &cell, &t);
        const kvq__cell *c = &r->cells[cell];
        double *v = p->values + i * KVQ_PARTIAL_VALUES;
        for (int m = 0; m < KVQ_METRIC_COUNT; m++)
            v[m] = c->per_trial[m][t];
        v[KVQ_METRIC_COUNT] = c->qjl_var_measured ? c->qjl_var_measured[t] : NAN;
        v[KVQ_METRIC_COUNT + 1] = c->qjl_var_bound ? c->qjl_var_bound[t] : NAN;
        /* the runner times cells, not items: a cell's time goes with its first item */
        v[KVQ_METRIC_COUNT + 2] = timed[cell] ? 0 : c->seconds;
        timed[cell] = 1;
    }
    free(timed);
    return KVQ_OK;
}

/* One exact value: "%a" in a JSON string. */
static void hex_value(FILE *f, double x)
{
    fprintf(f, "\"%a\"", x);
}

int kvq__partial_write(FILE *f, const kvq__partial *p)
{
    fprintf(f, "{\"kvq_partial\":%d,\"command\":", PARTIAL_VERSION);
    kvq__json_string(f, p->command);
    fputs(",\"grid\":[", f);
    for (size_t i = 0; i < p->ngrid; i++) {
        fputs(i ? "," : "", f);
        kvq__json_string(f, p->grid[i]);
    }
    fprintf(f, "],\"seed\":\"%llu\",\"shard\":[%zu,%zu],\"total_items\":%zu,\"items\":[%zu,%zu],"
               "\"device\":", p->seed, p->shard, p->nshards, p->total, p->begin, p->end);
    kvq__json_string(f, p->device);
    fputs(",\n\"value_names\":[", f);
    for (int i = 0; i < KVQ_PARTIAL_VALUES; i++) {
        fputs(i ? "," : "", f);
        kvq__json_string(f, value_name(i));
    }
    fputs("],\n\"values\":[", f);
    for (size_t i = 0; i < p->end - p->begin; i++) {
        fputs(i ? ",\n[" : "\n[", f);
        for (int k = 0; k < KVQ_PARTIAL_VALUES; k++) {
            fputs(k ? "," : "", f);
            hex_value(f, p->values[i * KVQ_PARTIAL_VALUES + k]);
        }
        fputc(']', f);
    }
    fputs("]}\n", f);
    return ferror(f) ? KVQ_ERR_IO : KVQ_OK;
}

/* ---- reading: a small JSON reader for exactly what the writer emits ------ */

typedef struct rd {
    const char *s, *end;
    char *err;
    size_t errlen;
    int failed;
} rd;

/* Records the first error; returns KVQ_ERR_FORMAT. */
static int rd_fail(rd *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
        r->failed = 1;
    }
    return KVQ_ERR_FORMAT;
}

static void rd_ws(rd *r)
{
    while (r->s < r->end && strchr(" \t\r\n", *r->s))
        r->s++;
}

/* Consumes c (after blanks) or fails naming what was expected. */
static int rd_char(rd *r, char c)
{
    rd_ws(r);
    if (r->s >= r->end || *r->s != c)
        return rd_fail(r, "expected '%c' at byte %ld", c, (long)(r->end - r->s));
    r->s++;
    return KVQ_OK;
}

/* 1 and consumes c when it comes next. */
static int rd_peek(rd *r, char c)
{
    rd_ws(r);
    if (r->s < r->end && *r->s == c) {
        r->s++;
        return 1;
    }
    return 0;
}

/* A string (escapes \" \\ \uXXXX below 0x80 only: what the writer emits) into buf. */
static int rd_string(rd *r, char *buf, size_t cap)
{
    size_t n = 0;
    if (rd_char(r, '"'))
        return KVQ_ERR_FORMAT;
    while (r->s < r->end && *r->s != '"') {
        char c = *r->s++;
        if (c == '\\') {
            if (r->s >= r->end)
                break;
            c = *r->s++;
            if (c == 'u') {
                unsigned v;
                if (r->end - r->s < 4 || sscanf(r->s, "%4x", &v) != 1 || v >= 0x80)
                    return rd_fail(r, "unsupported string escape");
                c = (char)v;
                r->s += 4;
            } else if (c != '"' && c != '\\' && c != '/')
                return rd_fail(r, "unsupported string escape");
        }
        if (n + 1 >= cap)
            return rd_fail(r, "string too long");
        buf[n++] = c;
    }
    buf[n] = '\0';
    if (r->s >= r->end)
        return rd_fail(r, "unterminated string");
    r->s++;
    return KVQ_OK;
}

/* A non-negative integer. */
static int rd_size(rd *r, size_t *v)
{
    char *e;
    rd_ws(r);
    if (r->s >= r->end || *r->s < '0' || *r->s > '9')
        return rd_fail(r, "expected an integer");
    errno = 0;
    unsigned long long x = strtoull(r->s, &e, 10);
    if (errno || e > r->end)
        return rd_fail(r, "integer out of range");
    r->s = e;
    *v = (size_t)x;
    return KVQ_OK;
}

/* [a,b] */
static int rd_pair(rd *r, size_t *a, size_t *b)
{
    return rd_char(r, '[') || rd_size(r, a) || rd_char(r, ',') || rd_size(r, b) ||
                   rd_char(r, ']') ? KVQ_ERR_FORMAT : KVQ_OK;
}

/* The "grid" array of strings. */
static int rd_grid(rd *r, kvq__partial *p)
{
    char buf[4096];
    if (rd_char(r, '['))
        return KVQ_ERR_FORMAT;
    if (rd_peek(r, ']'))
        return KVQ_OK;
    do {
        char **g = realloc(p->grid, (p->ngrid + 1) * sizeof *g);
        if (!g)
            return rd_fail(r, "out of memory");
        p->grid = g;
        if (rd_string(r, buf, sizeof buf))
            return KVQ_ERR_FORMAT;
        if (!(p->grid[p->ngrid] = strdup(buf)))
            return rd_fail(r, "out of memory");
        p->ngrid++;
    } while (rd_peek(r, ','));
    return rd_char(r, ']');
}

/* The "value_names" array: must be this build's, in order. */
static int rd_value_names(rd *r)
{
    char buf[64];
    if (rd_char(r, '['))
        return KVQ_ERR_FORMAT;
    for (int i = 0; i < KVQ_PARTIAL_VALUES; i++) {
        if ((i && rd_char(r, ',')) || rd_string(r, buf, sizeof buf))
            return KVQ_ERR_FORMAT;
        if (strcmp(buf, value_name(i)))
            return rd_fail(r, "value %d is '%s', this kvq expects '%s'", i, buf, value_name(i));
    }
    return rd_char(r, ']');
}

/* The "values" array: end - begin rows of KVQ_PARTIAL_VALUES hex floats. */
static int rd_values(rd *r, kvq__partial *p)
{
    char buf[64];
    size_t n = p->end - p->begin;
    if (!(p->values = calloc(n ? n * KVQ_PARTIAL_VALUES : 1, sizeof(double))))
        return rd_fail(r, "out of memory");
    if (rd_char(r, '['))
        return KVQ_ERR_FORMAT;
    for (size_t i = 0; i < n; i++) {
        if ((i && rd_char(r, ',')) || rd_char(r, '['))
            return KVQ_ERR_FORMAT;
        for (int k = 0; k < KVQ_PARTIAL_VALUES; k++) {
            char *e;
            if ((k && rd_char(r, ',')) || rd_string(r, buf, sizeof buf))
                return KVQ_ERR_FORMAT;
            p->values[i * KVQ_PARTIAL_VALUES + k] = strtod(buf, &e);
            if (e == buf || *e)
                return rd_fail(r, "item %zu: '%s' is not a number", p->begin + i, buf);
        }
        if (rd_char(r, ']'))
            return KVQ_ERR_FORMAT;
    }
    if (rd_peek(r, ','))
        return rd_fail(r, "more values than items [%zu, %zu)", p->begin, p->end);
    return rd_char(r, ']');
}

/* One "key": value member of the top object. */
static int rd_member(rd *r, kvq__partial *p, unsigned *seen)
{
    char key[32], buf[128];
    size_t version;
    if (rd_string(r, key, sizeof key) || rd_char(r, ':'))
        return KVQ_ERR_FORMAT;
    static const char *const keys[] = {"kvq_partial", "command", "grid", "seed", "shard",
                                       "total_items", "items", "device", "value_names",
                                       "values"};
    int k = 0;
    while (k < 10 && strcmp(key, keys[k]))
        k++;
    if (k == 10 || (*seen >> k & 1))
        return rd_fail(r, k == 10 ? "unknown member \"%s\"" : "duplicate member \"%s\"", key);
    *seen |= 1u << k;
    switch (k) {
    case 0:
        if (rd_size(r, &version))
            return KVQ_ERR_FORMAT;
        return version == PARTIAL_VERSION ? KVQ_OK
                                          : rd_fail(r, "format version %zu (this kvq reads %d)",
                                                    version, PARTIAL_VERSION);
    case 1:
        return rd_string(r, p->command, sizeof p->command);
    case 2:
        return rd_grid(r, p);
    case 3: {
        char *e;
        if (rd_string(r, buf, sizeof buf))
            return KVQ_ERR_FORMAT;
        p->seed = strtoull(buf, &e, 10);
        return *buf && !*e ? KVQ_OK : rd_fail(r, "bad seed '%s'", buf);
    }
    case 4:
        return rd_pair(r, &p->shard, &p->nshards);
    case 5:
        return rd_size(r, &p->total);
    case 6:
        return rd_pair(r, &p->begin, &p->end);
    case 7:
        return rd_string(r, p->device, sizeof p->device);
    case 8:
        return rd_value_names(r);
    default:
        if ((*seen & 0x7f) != 0x7f)
            return rd_fail(r, "\"values\" before the description");
        if (p->end < p->begin || p->end > p->total || p->shard >= p->nshards)
            return rd_fail(r, "shard %zu/%zu with items [%zu, %zu) of %zu", p->shard, p->nshards,
                           p->begin, p->end, p->total);
        return rd_values(r, p);
    }
}

int kvq__partial_parse(const char *text, size_t len, kvq__partial *p, char *err, size_t errlen)
{
    rd r = {text, text + len, err, errlen, 0};
    unsigned seen = 0;
    memset(p, 0, sizeof *p);
    if (rd_char(&r, '{'))
        return KVQ_ERR_FORMAT;
    do {
        if (rd_member(&r, p, &seen))
            return KVQ_ERR_FORMAT;
    } while (rd_peek(&r, ','));
    if (rd_char(&r, '}'))
        return KVQ_ERR_FORMAT;
    rd_ws(&r);
    if (r.s != r.end)
        return rd_fail(&r, "trailing bytes after the object");
    if (seen != 0x3ff)
        return rd_fail(&r, "incomplete (not every member present)");
    if (strcmp(p->command, "sweep") && strcmp(p->command, "findings"))
        return rd_fail(&r, "unknown command '%s'", p->command);
    return KVQ_OK;
}

void kvq__partial_clear(kvq__partial *p)
{
    for (size_t i = 0; i < p->ngrid; i++)
        free(p->grid[i]);
    free(p->grid);
    free(p->values);
    memset(p, 0, sizeof *p);
}

/* 1 when a and b describe the same grid (command, options, seed, size). */
static int same_grid(const kvq__partial *a, const kvq__partial *b)
{
    if (strcmp(a->command, b->command) || a->ngrid != b->ngrid || a->seed != b->seed ||
        a->total != b->total || a->nshards != b->nshards)
        return 0;
    for (size_t i = 0; i < a->ngrid; i++)
        if (strcmp(a->grid[i], b->grid[i]))
            return 0;
    return 1;
}

int kvq__partials_check(const kvq__partial *p, size_t n, long *bad, char *err, size_t errlen)
{
    *bad = -1;
    if (!n) {
        snprintf(err, errlen, "no partial result given");
        return KVQ_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < n; i++) {
        size_t b, e;
        if (!same_grid(&p[0], &p[i])) {
            *bad = (long)i;
            snprintf(err, errlen, "not the same grid, seed or shard count as the first file");
            return KVQ_ERR_INVALID_ARG;
        }
        kvq__shard_range(p[i].total, p[i].shard, p[i].nshards, &b, &e);
        if (b != p[i].begin || e != p[i].end) {
            *bad = (long)i;
            snprintf(err, errlen, "items [%zu, %zu) are not those of shard %zu/%zu", p[i].begin,
                     p[i].end, p[i].shard, p[i].nshards);
            return KVQ_ERR_INVALID_ARG;
        }
        for (size_t j = 0; j < i; j++)
            if (p[j].shard == p[i].shard) {
                *bad = (long)i;
                snprintf(err, errlen, "shard %zu/%zu given twice", p[i].shard, p[i].nshards);
                return KVQ_ERR_INVALID_ARG;
            }
    }
    if (n != p[0].nshards) {
        for (size_t s = 0; s < p[0].nshards; s++) {
            size_t j = 0;
            while (j < n && p[j].shard != s)
                j++;
            if (j == n) {
                snprintf(err, errlen, "shard %zu/%zu is missing (%zu of %zu shards given)", s,
                         p[0].nshards, n, p[0].nshards);
                return KVQ_ERR_INVALID_ARG;
            }
        }
    }
    return KVQ_OK;
}

int kvq__partial_apply(const kvq__partial *p, const kvq__experiment *e, kvq__results *r)
{
    if (p->total != kvq__experiment_items(e) || r->count < p->total / e->trials)
        return KVQ_ERR_INVALID_ARG;
    for (size_t i = 0; i < p->end - p->begin; i++) {
        size_t cell, t;
        item_place(e, p->begin + i, &cell, &t);
        kvq__cell *c = &r->cells[cell];
        const double *v = p->values + i * KVQ_PARTIAL_VALUES;
        for (int m = 0; m < KVQ_METRIC_COUNT; m++)
            c->per_trial[m][t] = v[m];
        if (c->qjl_var_measured)
            c->qjl_var_measured[t] = v[KVQ_METRIC_COUNT];
        if (c->qjl_var_bound)
            c->qjl_var_bound[t] = v[KVQ_METRIC_COUNT + 1];
        c->seconds += v[KVQ_METRIC_COUNT + 2];
        if (!c->device[0])
            snprintf(c->device, sizeof c->device, "%s", p->device);
        else if (strcmp(c->device, p->device))
            snprintf(c->device, sizeof c->device, "mixed");
    }
    return KVQ_OK;
}
