/* test_report.c — JSON, CSV and Markdown writers and the atomic file helper:
 * well-formed output, every metric present, NaN as null, consistent CSV
 * columns, byte-identical output for one seed, no file left on failure. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define SEED 99u
#define T 8

/* ---- a minimal JSON validator (RFC 8259 grammar, no semantics) ---------- */
static const char *jv(const char *s, int depth);

/* Skips JSON whitespace. */
static const char *ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* A string literal; NULL if malformed. */
static const char *jstr(const char *s)
{
    if (*s++ != '"')
        return NULL;
    for (; *s != '"'; s++) {
        if ((unsigned char)*s < 0x20)
            return NULL;
        if (*s == '\\') {
            s++;
            if (*s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
                        return NULL;
                s += 4;
            } else if (!*s || !strchr("\"\\/bfnrt", *s)) {
                return NULL;
            }
        }
    }
    return s + 1;
}

/* A number per the JSON grammar; NULL if malformed. */
static const char *jnum(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return NULL;
    if (*s == '.') {
        if (!(*++s >= '0' && *s <= '9'))
            return NULL;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return NULL;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return s;
}

/* An array or object body after the opening bracket. */
static const char *jcontainer(const char *s, int depth, char close, int object)
{
    s = ws(s);
    if (*s == close)
        return s + 1;
    for (;;) {
        if (object) {
            if (!(s = jstr(ws(s))) || *(s = ws(s)) != ':')
                return NULL;
            s++;
        }
        if (!(s = jv(s, depth + 1)))
            return NULL;
        s = ws(s);
        if (*s == close)
            return s + 1;
        if (*s++ != ',')
            return NULL;
    }
}

/* Any JSON value; NULL if malformed. */
static const char *jv(const char *s, int depth)
{
    if (depth > 64)
        return NULL;
    s = ws(s);
    if (*s == '{')
        return jcontainer(s + 1, depth, '}', 1);
    if (*s == '[')
        return jcontainer(s + 1, depth, ']', 0);
    if (*s == '"')
        return jstr(s);
    if (!strncmp(s, "null", 4) || !strncmp(s, "true", 4))
        return s + 4;
    if (!strncmp(s, "false", 5))
        return s + 5;
    return jnum(s);
}

/* 1 when the whole text is one JSON value. */
static int json_valid(const char *s)
{
    const char *e = jv(s, 0);
    return e && *ws(e) == '\0';
}

/* ---- fixtures ----------------------------------------------------------- */

/* A small sweep: KV/KQV/QKQV at n = 3, 4 on one source; odd strings in the
 * device name; one NaN per-trial value. */
static kvq__results *fixture(void)
{
    static const char *const schemes[3] = { "KV", "KQV", "QKQV" };
    kvq__results *r;
    kvq__rng rng;
    kvq__results_create(&r, SEED);
    kvq__rng_init(&rng, SEED, KVQ_RNG_TEST, 0);
    for (int n = 3; n <= 4; n++)
        for (int k = 0; k < 3; k++) {
            kvq__cell c = {.dist = "gauss", .rank = "full", .device = "pocl \"cpu\", x\\86",
                          .bits = n, .dim = 128, .keys = 1024, .queries = 64, .sharpness = 1.5,
                          .trials = T, .seconds = 0.125, .eff_bits_k = n + 0.25,
                          .eff_bits_v = n + 0.5};
            kvq__cell *st;
            snprintf(c.scheme, sizeof c.scheme, "%s", schemes[k]);
            if (k == 2) {
                double qm[T], qb[T];
                for (int t = 0; t < T; t++)
                    qm[t] = 0.5, qb[t] = 1;
                c.qjl_var_measured = qm;
                c.qjl_var_bound = qb;
                kvq__results_add(r, &c, &st);
            } else {
                kvq__results_add(r, &c, &st);
            }
            for (int m = 0; m < KVQ_METRIC_COUNT; m++)
                for (int t = 0; t < T; t++)
                    st->per_trial[m][t] = (k + 1) * (1 + 0.1 * kvq__rng_normal(&rng)) / 3.0;
        }
    r->cells[1].per_trial[KVQ_METRIC_JENSEN_RATIO][2] = NAN;
    return r;
}

/* Text written by writer into a memory stream (malloc'd). */
static char *capture(int (*writer)(FILE *, void *), void *arg, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *rc = writer(f, arg);
    fclose(f);
    return buf;
}

typedef struct md_args { const kvq__results *r; const kvq__findings *fs; } md_args;

/* Writer adapters for kvq__write_atomic and capture. */
static int w_json(FILE *f, void *a) { return kvq__report_json(f, a); }
static int w_csv(FILE *f, void *a) { return kvq__report_csv(f, a); }
static int w_cell(FILE *f, void *a) { return kvq__report_json_cell(f, a, SEED); }
static int w_md(FILE *f, void *a)
{
    const md_args *m = a;
    return kvq__report_markdown(f, m->r, m->fs);
}
static int w_fail(FILE *f, void *a)
{
    (void)a;
    fputs("partial", f);
    return KVQ_ERR_IO;
}

/* Fields of one CSV record (RFC 4180 quoting); advances *s past it. */
static int csv_fields(const char **s)
{
    int n = 1, q = 0;
    const char *p = *s;
    for (; *p && (q || (*p != '\r' && *p != '\n')); p++) {
        if (*p == '"')
            q = !q;
        else if (*p == ',' && !q)
            n++;
    }
    while (*p == '\r' || *p == '\n')
        p++;
    *s = p;
    return n;
}

/* ---- tests -------------------------------------------------------------- */

/* JSON: valid, complete, NaN as null, exact numbers, deterministic. */
static void test_json(kvq__results *r)
{
    int rc;
    ok(!json_valid("[1,]") && !json_valid("{\"a\":nan}") && !json_valid("{\"a\" 1}") &&
       !json_valid("[1.]") && !json_valid("\"x") && json_valid("{\"a\":[1,-2.5e-3,null,\"\\u00e9\"]}"),
       "the validator rejects malformed JSON and accepts valid JSON");
    char *cell = capture(w_cell, &r->cells[1], &rc);
    ok(rc == 0 && json_valid(cell), "cell JSON is valid");
    int all = 1;
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":{\"mean\":", kvq_metric_name(m));
        all &= strstr(cell, key) != NULL;
    }
    ok(all && strstr(cell, "\"config\":{\"scheme\":\"KQV\",\"bits\":3,\"dim\":128") &&
       strstr(cell, "\"effective_bits\":{\"k\":3.25,\"v\":3.5}") &&
       strstr(cell, "\"timing\":{\"seconds\":0.125}") && strstr(cell, "\"seed\":99") &&
       strstr(cell, "\"sharpness\":1.5"), "every metric and the doc/conformance.md §6 config/timing keys");
    ok(strstr(cell, ",null,") && !strstr(cell, "nan") && !strstr(cell, "inf"),
       "NaN per-trial value written as null");
    ok(strstr(cell, "\"device\":\"pocl \\\"cpu\\\", x\\\\86\"") != NULL, "strings escaped");
    char want[64];
    snprintf(want, sizeof want, "\"per_trial\":[%.17g,", r->cells[1].per_trial[KVQ_METRIC_KL][0]);
    const char *at = strstr(cell, "\"kl\":{");
    ok(at && strstr(at, want) && strtod(strstr(at, want) + 13, NULL) ==
       r->cells[1].per_trial[KVQ_METRIC_KL][0], "per-trial numbers round-trip exactly");
    ok(strstr(cell, "qjl_variance") == NULL, "no qjl_variance without the arrays");
    free(cell);
    char *a = capture(w_json, r, &rc), *b = capture(w_json, r, &rc);
    ok(rc == 0 && json_valid(a) && a[0] == '[' && strstr(a, "\"qjl_variance\":{\"measured\":[0.5,"),
       "sweep JSON array is valid, QKQV cells carry qjl_variance");
    ok(strcmp(a, b) == 0, "same seed: byte-identical JSON (%zu bytes)", strlen(a));
    kvq__results empty = { NULL, 0, 0, 1 };
    char *e = capture(w_json, &empty, &rc);
    ok(json_valid(e), "empty sweep: valid JSON");
    free(e);
    /* Another locale's decimal comma must not leak into the output. */
    const char *locs[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8" };
    const char *got = NULL;
    for (size_t i = 0; i < 5 && !got; i++)
        got = setlocale(LC_NUMERIC, locs[i]);
    if (got) {
        char *c = capture(w_json, r, &rc);
        ok(strcmp(a, c) == 0, "locale %s: identical JSON", got);
        free(c);
        setlocale(LC_NUMERIC, "C");
    } else {
        skip(1, "no decimal-comma locale installed");
    }
    free(a);
    free(b);
}

/* CSV: one header and one row per cell, every record the same width. */
static void test_csv(kvq__results *r)
{
    int rc;
    char *s = capture(w_csv, r, &rc);
    const char *p = s;
    int head = csv_fields(&p), rows = 0, same = 1;
    while (*p) {
        same &= csv_fields(&p) == head;
        rows++;
    }
    ok(rc == 0 && head == 16 + 3 * KVQ_METRIC_COUNT && rows == (int)r->count && same,
       "CSV: %d columns, %d rows, all the same width", head, rows);
    ok(strncmp(s, "scheme,bits,dist,rank,", 22) == 0 && strstr(s, ",kl_mean,kl_ci_lo,kl_ci_hi,") &&
       strstr(s, "\"pocl \"\"cpu\"\", x\\86\""), "CSV header names and RFC 4180 quoting");
    free(s);
}

/* ---- reading the reports back ------------------------------------------- */

/* A number as written (or "null"/empty for undefined) equals want bit for bit. */
static int num_is(const char *s, double want)
{
    char *end;
    if (strncmp(s, "null", 4) == 0 || *s == ',' || *s == '\r' || *s == '\0')
        return isnan(want);
    double v = strtod(s, &end);
    return end != s && (v == want || (isnan(v) && isnan(want)));
}

/* Splits one CSV record into at most max fields of up to 95 bytes (RFC 4180
 * unquoting; longer fields are cut); advances *s past the record. */
static int csv_split(const char **s, char f[][96], int max)
{
    int n = 0, q = 0;
    size_t o = 0;
    const char *p = *s;
    for (; *p && (q || (*p != '\r' && *p != '\n')); p++) {
        char ch = *p;
        if (ch == '"' && !(q && p[1] == '"')) {
            q = !q;
            continue;
        }
        if (ch == '"')
            p++;
        if (ch == ',' && !q) {
            f[n][o] = '\0';
            n += n + 1 < max;
            o = 0;
        } else if (o < 95) {
            f[n][o++] = ch;
        }
    }
    f[n][o] = '\0';
    while (*p == '\r' || *p == '\n')
        p++;
    *s = p;
    return n + 1;
}

/* Every mean/ci_lo/ci_hi cell of the CSV text = the cell's summary, found
 * by the column names of the header; returns the number of mismatches. */
static int csv_readback(const char *text, const kvq__results *r)
{
    static char head[80][96], row[80][96];
    const char *p = text;
    int nh = csv_split(&p, head, 80), bad = 0;
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        int nr = csv_split(&p, row, 80);
        bad += nr != nh || strcmp(row[0], c->scheme) != 0;
        for (int col = 0; col < nh && col < nr; col++) {
            bad += strcmp(head[col], "device") == 0 && strcmp(row[col], c->device) != 0;
            double want[3];
            char name[96];
            for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
                static const char *const part[3] = { "mean", "ci_lo", "ci_hi" };
                kvq__cell_summary(c, m, r->seed, &want[0], &want[1], &want[2]);
                for (int k = 0; k < 3; k++) {
                    snprintf(name, sizeof name, "%s_%s", kvq_metric_name(m), part[k]);
                    if (strcmp(head[col], name) == 0)
                        bad += !num_is(row[col], want[k]);
                }
            }
            bad += strcmp(head[col], "eff_bits_k") == 0 && !num_is(row[col], c->eff_bits_k);
            bad += strcmp(head[col], "eff_bits_v") == 0 && !num_is(row[col], c->eff_bits_v);
            bad += strcmp(head[col], "sharpness") == 0 && !num_is(row[col], c->sharpness);
        }
    }
    return bad;
}

/* Every metric's mean, ci_lo, ci_hi and per-trial value in the JSON text
 * (one cell per line) = the cell's summary and data, found by key; returns
 * the number of mismatches. */
static int json_readback(const char *text, const kvq__results *r)
{
    const char *line = strchr(text, '\n');
    int bad = 0;
    for (size_t i = 0; i < r->count; i++, line = strchr(line + 1, '\n')) {
        const kvq__cell *c = &r->cells[i];
        if (!line)
            return bad + 1;
        for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
            char key[64];
            double want[3];
            static const char *const part[3] = { "\"mean\":", "\"ci_lo\":", "\"ci_hi\":" };
            kvq__cell_summary(c, m, r->seed, &want[0], &want[1], &want[2]);
            snprintf(key, sizeof key, "\"%s\":{", kvq_metric_name(m));
            const char *obj = strstr(line, key), *end = obj ? strchr(obj, '}') : NULL;
            if (!obj || !end) {
                bad++;
                continue;
            }
            for (int k = 0; k < 3; k++) {
                const char *at = strstr(obj, part[k]);
                bad += !at || at > end || !num_is(at + strlen(part[k]), want[k]);
            }
            const char *a = strstr(obj, "\"per_trial\":[");
            a = a ? a + 13 : end;
            for (size_t t = 0; t < c->trials && a < end; t++) {
                bad += !num_is(a, c->per_trial[m][t]);
                a = strpbrk(a, ",]") + 1;
            }
        }
        const char *eb = strstr(line, "\"effective_bits\":{\"k\":");
        bad += !eb || !num_is(eb + 22, c->eff_bits_k);
    }
    return bad;
}

/* Swaps the first occurrence of x and y (same length) in s. */
static void swap_text(char *s, const char *x, const char *y)
{
    char *a = strstr(s, x), *b = strstr(s, y);
    if (a && b) {
        memcpy(a, y, strlen(y));
        memcpy(b, x, strlen(x));
    }
}

/* Both reports read back to the bit; swapped CI bounds are caught. */
static void test_readback(kvq__results *r)
{
    int rc, rc2;
    char *csv = capture(w_csv, r, &rc), *json = capture(w_json, r, &rc2);
    int bc = csv_readback(csv, r), bj = json_readback(json, r);
    ok(rc == 0 && bc == 0, "CSV read back: every mean, ci_lo, ci_hi (and eff bits, τ) = the "
                           "cell summary, bit for bit (%d mismatches)", bc);
    ok(rc2 == 0 && bj == 0, "JSON read back: every mean, ci_lo, ci_hi and per-trial value = the "
                            "cell's, bit for bit (%d mismatches)", bj);
    swap_text(csv, "js_ci_lo", "js_ci_hi");
    swap_text(json, "\"ci_lo\":", "\"ci_hi\":");
    bc = csv_readback(csv, r);
    bj = json_readback(json, r);
    ok(bc > 0 && bj > 0, "control: ci_lo and ci_hi swapped in the CSV header / one JSON object "
                         "are caught (%d, %d mismatches)", bc, bj);
    free(csv);
    free(json);
}

/* Markdown: the verdict table, the evidence, the definitions. */
static void test_markdown(kvq__results *r)
{
    kvq__findings *fs;
    int rc;
    kvq__findings_evaluate(r, SEED, &fs);
    md_args m = { r, fs };
    char *s = capture(w_md, &m, &rc), *s2 = capture(w_md, &m, &rc);
    ok(rc == 0 && strstr(s, "# kvq findings") && strstr(s, "## F1 — ") && strstr(s, "## F2 — ") &&
       strstr(s, "## F3 — ") && strstr(s, "## Jensen — "), "Markdown has every finding");
    ok(strstr(s, "dist6 = ‖(k_rel_mse, k_dir_err, v_rel_mse, v_dir_err, js / ln 2, out_rel_err)‖₂") &&
       strstr(s, "Winner table") && strstr(s, "| n=4 gauss/full: KQV vs KV | kl |") &&
       strstr(s, "superlinear"), "Markdown: dist6 definition, evidence rows, winner table, Jensen table");
    ok(strcmp(s, s2) == 0, "Markdown deterministic");
    free(s);
    free(s2);
    kvq__findings_free(fs);
}

/* Number of directory entries starting with prefix. */
static int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

/* Atomic writes: content on success; nothing left behind on failure. */
static void test_atomic(kvq__results *r)
{
    char dir[] = "/tmp/kvq_report_XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        skip(4, "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    int rc = kvq__write_atomic(path, w_json, r);
    FILE *f = fopen(path, "r");
    char buf[2];
    ok(rc == 0 && f && fread(buf, 1, 1, f) == 1 && buf[0] == '[' && count_prefix(dir, "sweep") == 1,
       "atomic write: file in place, no temporary left");
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/bad.json", dir);
    ok(kvq__write_atomic(path, w_fail, NULL) == KVQ_ERR_IO && access(path, F_OK) != 0 &&
       count_prefix(dir, "bad") == 0, "failing writer: status kept, nothing left");
    snprintf(path, sizeof path, "%s/nodir/x.json", dir);
    ok(kvq__write_atomic(path, w_json, r) == KVQ_ERR_IO, "missing directory: KVQ_ERR_IO");
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    ok(kvq__write_atomic(path, w_fail, NULL) == KVQ_ERR_IO && access(path, F_OK) == 0,
       "failed rewrite keeps the old file");
    unlink(path);
    rmdir(dir);
}

/* The summary cache returns exactly what the bootstrap computes, and is
 * what the writers read once it exists. */
static void test_summary_cache(kvq__results *r)
{
    double before[KVQ_METRIC_COUNT][3], after[3];
    kvq__cell *c = &r->cells[0];
    int same = 1;
    for (int m = 0; m < KVQ_METRIC_COUNT; m++)
        kvq__cell_summary(c, m, r->seed, &before[m][0], &before[m][1], &before[m][2]);
    ok(kvq__results_summarize(r) == KVQ_OK && c->summary && c->summary_seed == r->seed,
       "kvq__results_summarize fills every cell's cache");
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        kvq__cell_summary(c, m, r->seed, &after[0], &after[1], &after[2]);
        for (int k = 0; k < 3; k++)
            same &= (isnan(after[k]) && isnan(before[m][k])) || after[k] == before[m][k];
    }
    ok(same, "cached summaries equal the computed ones bit for bit");
    double keep = c->summary[1];
    c->summary[1] = -12345.0;
    kvq__cell_summary(c, 0, r->seed, &after[0], &after[1], &after[2]);
    ok(after[1] == -12345.0, "kvq__cell_summary reads the cache");
    kvq__cell_summary(c, 0, r->seed + 1, &after[0], &after[1], &after[2]);
    ok(after[1] != -12345.0, "another seed bypasses the cache");
    c->summary[1] = keep;
}

int main(void)
{
    plan(27);
    diag("seed %u", SEED);
    kvq__results *r = fixture();
    test_json(r);
    test_csv(r);
    test_readback(r);
    test_markdown(r);
    test_atomic(r);
    test_summary_cache(r);
    kvq__results_free(r);
    return exit_status();
}
