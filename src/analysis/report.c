/* report.c — JSON, CSV and Markdown writers for results and findings
 * (doc/conformance.md §6), with locale-independent numbers, and an atomic file writer. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "analysis/report.h"
#include "base/file.h"

/* ---- formatting helpers ------------------------------------------------- */

/* x with `prec` significant digits and a '.' decimal point whatever the
 * locale; "null" for NaN and ±Inf (JSON has no such numbers). */
static const char *fmt_num(char buf[40], double x, int prec)
{
    char raw[40];
    size_t o = 0;
    if (!isfinite(x))
        return strcpy(buf, "null");
    snprintf(raw, sizeof raw, "%.*g", prec, x);
    for (const char *s = raw; *s && o < 39; s++) {
        if (strchr("0123456789+-eE", *s))
            buf[o++] = *s;
        else if (o == 0 || buf[o - 1] != '.')
            buf[o++] = '.';     /* the locale's decimal point, however long */
    }
    buf[o] = '\0';
    return buf;
}

/* %.17g, round-trip exact. */
static const char *num17(char buf[40], double x)
{
    return fmt_num(buf, x, 17);
}

/* %.6g, or "–" for undefined values (Markdown). */
static const char *num6(char buf[40], double x)
{
    return isfinite(x) ? fmt_num(buf, x, 6) : strcpy(buf, "–");
}

/* A JSON string literal (shared with the CLI and bench through report.h). */
void kvq__json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Writes n "key":"value" members, comma-separated (see report.h). */
void kvq__json_strings(FILE *f, const char *const kv[][2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\"%s\":", i ? "," : "", kv[i][0]);
        kvq__json_string(f, kv[i][1]);
    }
}

/* A JSON array of t numbers. */
static void json_array(FILE *f, const double *x, size_t t)
{
    char b[40];
    fputc('[', f);
    for (size_t i = 0; i < t; i++)
        fprintf(f, "%s%s", i ? "," : "", num17(b, x ? x[i] : NAN));
    fputc(']', f);
}

/* KVQ_OK unless the stream saw an error. */
static int stream_status(FILE *f)
{
    return ferror(f) ? KVQ_ERR_IO : KVQ_OK;
}

/* ---- JSON --------------------------------------------------------------- */

/* What K (tensor 0) or V really rotated with at the cell's d: wht becomes
 * dense off powers of two (doc/quantization.md §3). */
const char *kvq__cell_rotation(const kvq__cell *c, int tensor)
{
    const kvq_codec_spec *s = tensor ? &c->parsed.v : &c->parsed.k;
    return kvq__rotation_name(kvq__rotation_at(s->rotation, c->dim));
}

/* The "config" object of a cell. */
static void json_config(FILE *f, const kvq__cell *c, uint64_t seed)
{
    char b[40];
    fputs("{\"scheme\":", f);
    kvq__json_string(f, c->scheme);
    fprintf(f, ",\"bits\":%d,\"dim\":%d,\"keys\":%zu,\"queries\":%zu,\"trials\":%zu,\"dist\":",
            c->bits, c->dim, c->keys, c->queries, c->trials);
    kvq__json_string(f, c->dist);
    fputs(",\"rank\":", f);
    kvq__json_string(f, c->rank);
    fprintf(f, ",\"sharpness\":%s,\"seed\":%llu,\"device\":", num17(b, c->sharpness),
            (unsigned long long)seed);
    kvq__json_string(f, c->device);
    fprintf(f, ",\"causal\":%s", c->causal ? "true" : "false");
    fprintf(f, ",\"rotation\":{\"k\":\"%s\",\"v\":\"%s\"}", kvq__cell_rotation(c, 0),
            kvq__cell_rotation(c, 1));
    fprintf(f, ",\"effective_bits\":{\"k\":%s,", num17(b, c->eff_bits_k));
    fprintf(f, "\"v\":%s}}", num17(b, c->eff_bits_v));
}

/* doc/conformance.md §6.3 `run` object of one cell. */
int kvq__report_json_cell(FILE *f, const kvq__cell *c, uint64_t seed)
{
    char b[40];
    fputs("{\"config\":", f);
    json_config(f, c, seed);
    fputs(",\"metrics\":{", f);
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        double mean, lo, hi;
        kvq__cell_summary(c, m, seed, &mean, &lo, &hi);
        fprintf(f, "%s\"%s\":{\"mean\":%s,", m ? "," : "", kvq_metric_name(m), num17(b, mean));
        fprintf(f, "\"ci_lo\":%s,", num17(b, lo));
        fprintf(f, "\"ci_hi\":%s,\"per_trial\":", num17(b, hi));
        json_array(f, c->per_trial[m], c->trials);
        fputc('}', f);
    }
    fputc('}', f);
    if (c->qjl_var_measured || c->qjl_var_bound) {
        fputs(",\"qjl_variance\":{\"measured\":", f);
        json_array(f, c->qjl_var_measured, c->trials);
        fputs(",\"bound\":", f);
        json_array(f, c->qjl_var_bound, c->trials);
        fputc('}', f);
    }
    fprintf(f, ",\"timing\":{\"seconds\":%s}}", num17(b, c->seconds));
    return stream_status(f);
}

/* A JSON array of every cell, one per line. */
int kvq__report_json(FILE *f, const kvq__results *r)
{
    fputc('[', f);
    for (size_t i = 0; i < r->count; i++) {
        fputs(i ? ",\n" : "\n", f);
        kvq__report_json_cell(f, &r->cells[i], r->seed);
    }
    fputs("\n]\n", f);
    return stream_status(f);
}

/* ---- CSV ---------------------------------------------------------------- */

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* A CSV number: %.17g, empty when undefined. */
static void csv_num(FILE *f, double x)
{
    char b[40];
    fputc(',', f);
    if (isfinite(x))
        fputs(num17(b, x), f);
}

/* One row per cell: configuration, then mean/CI of every metric. */
int kvq__report_csv(FILE *f, const kvq__results *r)
{
    fputs("scheme,bits,dist,rank,dim,keys,queries,sharpness,trials,seed,device,"
          "eff_bits_k,eff_bits_v,seconds", f);
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        const char *n = kvq_metric_name(m);
        fprintf(f, ",%s_mean,%s_ci_lo,%s_ci_hi", n, n, n);
    }
    fputs("\r\n", f);
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        csv_str(f, c->scheme);
        fprintf(f, ",%d,", c->bits);
        csv_str(f, c->dist);
        fputc(',', f);
        csv_str(f, c->rank);
        fprintf(f, ",%d,%zu,%zu", c->dim, c->keys, c->queries);
        csv_num(f, c->sharpness);
        fprintf(f, ",%zu,%llu,", c->trials, (unsigned long long)r->seed);
        csv_str(f, c->device);
        csv_num(f, c->eff_bits_k);
        csv_num(f, c->eff_bits_v);
        csv_num(f, c->seconds);
        for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
            double mean, lo, hi;
            kvq__cell_summary(c, m, r->seed, &mean, &lo, &hi);
            csv_num(f, mean);
            csv_num(f, lo);
            csv_num(f, hi);
        }
        fputs("\r\n", f);
    }
    return stream_status(f);
}

/* ---- Markdown ----------------------------------------------------------- */

/* How a finding cell came out, from A's side. */
static const char *outcome(char *buf, size_t len, const kvq__finding_cell *c, int v)
{
    if (v == KVQ_NO_CLAIM)
        return "–";
    if (v == 0)
        return "tie";
    snprintf(buf, len, "%s %s", c->a, v < 0 ? "lower" : "higher");
    return buf;
}

/* The evidence table of one finding. */
static void md_evidence(FILE *f, const kvq__finding *fd)
{
    char b1[40], b2[40], b3[40], o1[80], o2[80];
    fputs("| comparison | metric | mean δ | 95% CI | p (Holm) | result | claim | agrees |\n"
          "|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < fd->count; i++) {
        const kvq__finding_cell *c = &fd->cells[i];
        fprintf(f, "| %s | %s | %s | [%s, ", c->label, kvq_metric_name(c->metric),
                num6(b1, c->mean), num6(b2, c->ci_lo));
        fprintf(f, "%s] | %s | ", num6(b3, c->ci_hi), num6(b1, c->p_holm));
        fprintf(f, "%s | %s | %s |\n", outcome(o1, sizeof o1, c, c->verdict),
                outcome(o2, sizeof o2, c, c->expected),
                c->expected == KVQ_NO_CLAIM ? "–" : c->agrees ? "yes" : "**no**");
    }
}

/* 1 when s is already among the first n strings of list. */
static int seen(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

/* The axes of F3's winner table, shared by the Markdown and the terminal
 * renderings: sources in first-seen order, budgets ascending. */
typedef struct f3_grid {
    const char **src;
    int *bits;
    size_t ns, nb;
} f3_grid;

/* Frees a grid's axes. */
static void f3_grid_free(f3_grid *g)
{
    free(g->src);
    free(g->bits);
}

/* Collects fd's sources and budgets into g; KVQ_ERR_NOMEM or KVQ_OK. */
static int f3_grid_build(const kvq__finding *fd, f3_grid *g)
{
    size_t cap = fd->count ? fd->count : 1;
    *g = (f3_grid){.src = malloc(cap * sizeof *g->src), .bits = malloc(cap * sizeof *g->bits)};
    if (!g->src || !g->bits) {
        f3_grid_free(g);
        return KVQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < fd->count; i++) {
        if (!seen(g->src, g->ns, fd->cells[i].source))
            g->src[g->ns++] = fd->cells[i].source;
        size_t j = 0;
        while (j < g->nb && g->bits[j] != fd->cells[i].bits)
            j++;
        if (j == g->nb) {   /* insertion keeps bits sorted */
            while (j > 0 && g->bits[j - 1] > fd->cells[i].bits) {
                g->bits[j] = g->bits[j - 1];
                j--;
            }
            g->bits[j] = fd->cells[i].bits;
            g->nb++;
        }
    }
    return KVQ_OK;
}

/* 1 when cell c sits at row r, column s of grid g. */
static int f3_at(const f3_grid *g, const kvq__finding_cell *c, size_t r, size_t s)
{
    return c->bits == g->bits[r] && strcmp(c->source, g->src[s]) == 0;
}

/* F3's winner table: rows n, columns source, entries the lower-k_dir_err scheme. */
static void md_winner_table(FILE *f, const kvq__finding *fd)
{
    f3_grid g;
    if (f3_grid_build(fd, &g) != KVQ_OK)
        return;
    fputs("\nWinner table (lower k_dir_err; δ = QKQV − KQV, 95% CI; ✓ as claimed, ✗ not):\n\n| n |", f);
    for (size_t s = 0; s < g.ns; s++)
        fprintf(f, " %s |", g.src[s]);
    fputs("\n|---|", f);
    for (size_t s = 0; s < g.ns; s++)
        fputs("---|", f);
    for (size_t r = 0; r < g.nb; r++) {
        fprintf(f, "\n| %d |", g.bits[r]);
        for (size_t s = 0; s < g.ns; s++) {
            int any = 0;
            for (size_t i = 0; i < fd->count; i++) {
                const kvq__finding_cell *c = &fd->cells[i];
                if (!f3_at(&g, c, r, s))
                    continue;
                char b1[40], b2[40], b3[40];
                fprintf(f, "%s %s %s [%s, %s] %s", any++ ? ";" : "",
                        c->verdict < 0 ? "QKQV" : c->verdict > 0 ? "KQV" : "tie",
                        num6(b1, c->mean), num6(b2, c->ci_lo), num6(b3, c->ci_hi),
                        c->expected == KVQ_NO_CLAIM ? "" : c->agrees ? "✓" : "✗");
            }
            fputs(any ? " |" : " – |", f);
        }
    }
    fputs("\n", f);
    f3_grid_free(&g);
}

/* F3's winner table for a terminal: rows source, columns n, entries the
 * winning scheme (the last cell, should a custom grid give several). */
void kvq__report_f3_text(FILE *f, const kvq__finding *f3)
{
    f3_grid g;
    if (!f3->count || f3_grid_build(f3, &g) != KVQ_OK)
        return;
    fprintf(f, "\nF3 winner table: lower k_dir_err, QKQV vs KQV (* = agrees with the claim, "
               "! = disagrees)\n%-24s", "source \\ n");
    for (size_t r = 0; r < g.nb; r++)
        fprintf(f, " %7d", g.bits[r]);
    fprintf(f, "\n");
    for (size_t s = 0; s < g.ns; s++) {
        fprintf(f, "%-24s", g.src[s]);
        for (size_t r = 0; r < g.nb; r++) {
            const char *w = "   -  ";
            char mark = ' ';
            for (size_t i = 0; i < f3->count; i++) {
                const kvq__finding_cell *c = &f3->cells[i];
                if (!f3_at(&g, c, r, s))
                    continue;
                w = c->verdict < 0 ? c->a : c->verdict > 0 ? c->b : "tie";
                mark = c->expected == KVQ_NO_CLAIM ? ' ' : c->agrees ? '*' : '!';
            }
            fprintf(f, " %6s%c", w, mark);
        }
        fprintf(f, "\n");
    }
    f3_grid_free(&g);
}

/* The Jensen summary for a terminal: the range of jensen_ratio, how many
 * configurations are superlinear, and QJL's variance against its bound. */
void kvq__report_jensen_text(FILE *f, const kvq__finding *fj)
{
    size_t sup = 0, sub = 0, tie = 0, nv = 0;
    double lo = INFINITY, hi = -INFINITY, vr = 0;
    if (!fj->count)
        return;
    for (size_t i = 0; i < fj->count; i++) {
        const kvq__finding_cell *c = &fj->cells[i];
        sup += c->verdict > 0;
        sub += c->verdict < 0;
        tie += c->verdict == 0;
        lo = fmin(lo, c->mean);
        hi = fmax(hi, c->mean);
        if (isfinite(c->qjl_var) && c->qjl_bound > 0) {
            vr += c->qjl_var / c->qjl_bound;
            nv++;
        }
    }
    fprintf(f, "\nJensen: jensen_ratio = KL / (Var_p(eps)/2) over %zu QJL-on-K configurations: "
               "%.4g .. %.4g; superlinear (>1, significant) in %zu, sublinear in %zu, not "
               "significant in %zu.\n", fj->count, lo, hi, sup, sub, tie);
    if (nv)
        fprintf(f, "QJL logit-error variance / pi/(2m) bound: mean %.3g over %zu configurations "
                   "(<= 1 expected).\n", vr / (double)nv, nv);
}

/* The Jensen table: ratio, CI, superlinearity, QJL variance against the bound. */
static void md_jensen(FILE *f, const kvq__finding *fd)
{
    char b1[40], b2[40], b3[40];
    fputs("| configuration | jensen_ratio | 95% CI | p (Holm) | superlinear | "
          "QJL var measured | π/(2m)·E‖q‖²γ² bound | measured / bound |\n"
          "|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < fd->count; i++) {
        const kvq__finding_cell *c = &fd->cells[i];
        fprintf(f, "| %s | %s | [%s, %s] | ", c->label, num6(b1, c->mean), num6(b2, c->ci_lo),
                num6(b3, c->ci_hi));
        fprintf(f, "%s | %s | ", num6(b1, c->p_holm),
                c->verdict > 0 ? "yes" : c->verdict < 0 ? "no (sublinear)" : "not significant");
        fprintf(f, "%s | %s | %s |\n", num6(b1, c->qjl_var), num6(b2, c->qjl_bound),
                num6(b3, c->qjl_var / c->qjl_bound));
    }
}

/* Definitions every reader of the numbers needs. */
static void md_definitions(FILE *f)
{
    fputs("## How to read this\n\n"
          "- Each comparison pairs two schemes on the same trials (same K, V, Q): "
          "δ_t = metric(A) − metric(B); shown are the mean δ and its 95% percentile bootstrap CI "
          "(10 000 resamples, seeded).\n"
          "- p: two-sided Wilcoxon signed-rank test on δ (exact up to 25 nonzero differences, "
          "normal approximation with tie and continuity correction above), Holm–Bonferroni "
          "adjusted over all comparisons of this report.\n"
          "- Lower is better for every metric used here. A is significantly lower when the CI "
          "lies below 0 and p (Holm) < 0.05, higher when the CI lies above 0 and p (Holm) < 0.05; "
          "otherwise a tie.\n"
          "- A finding HOLDS when every comparison it judges agrees with the claim, MIXED when at "
          "least half agree, FAILS when fewer than half agree, NO DATA when the grid lacks the "
          "cells it needs. Rows marked claim – are shown, not judged.\n"
          "- dist6 = ‖(k_rel_mse, k_dir_err, v_rel_mse, v_dir_err, js / ln 2, out_rel_err)‖₂, "
          "the Euclidean norm of six dimensionless errors (kvq's definition, doc/metrics.md §2.8).\n"
          "- jensen_ratio = KL / (½ Var_p(ε)), ε = ℓ̃ − ℓ: > 1 means softmax amplifies logit "
          "noise beyond its second-order (linear-in-variance) prediction.\n\n", f);
}

/* A short per-cell table of the headline metrics. */
static void md_cells(FILE *f, const kvq__results *r)
{
    static const int ms[4] = { KVQ_METRIC_KL, KVQ_METRIC_K_DIR_ERR, KVQ_METRIC_DIST6,
                               KVQ_METRIC_JENSEN_RATIO };
    char b1[40], b2[40], b3[40];
    fputs("## Configurations\n\n| scheme | n | source | d | N | M | τ | trials |", f);
    for (int m = 0; m < 4; m++)
        fprintf(f, " %s (95%% CI) |", kvq_metric_name(ms[m]));
    fputs("\n|---|---|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        fprintf(f, "| %s | %d | %s/%s | %d | %zu | %zu | %s | %zu |", c->scheme, c->bits, c->dist,
                c->rank, c->dim, c->keys, c->queries, num6(b1, c->sharpness), c->trials);
        for (int m = 0; m < 4; m++) {
            double mean, lo, hi;
            kvq__cell_summary(c, ms[m], r->seed, &mean, &lo, &hi);
            fprintf(f, " %s [%s, %s] |", num6(b1, mean), num6(b2, lo), num6(b3, hi));
        }
        fputc('\n', f);
    }
    fputc('\n', f);
}

/* The findings report. */
int kvq__report_markdown(FILE *f, const kvq__results *r, const kvq__findings *fs)
{
    fprintf(f, "# kvq findings\n\nSeed %llu; %zu configurations; %zu comparisons in one "
               "Holm–Bonferroni family.\n\n| finding | verdict | evidence |\n|---|---|---|\n",
            (unsigned long long)fs->seed, r->count, fs->comparisons);
    for (int i = 0; i < KVQ_FINDING_COUNT; i++)
        fprintf(f, "| %s | **%s** | %s |\n", fs->f[i].id, kvq__verdict_name(fs->f[i].verdict),
                fs->f[i].summary);
    fputc('\n', f);
    md_definitions(f);
    for (int i = 0; i < KVQ_FINDING_COUNT; i++) {
        const kvq__finding *fd = &fs->f[i];
        fprintf(f, "## %s — %s\n\nClaim: %s\n\n%s.\n\n", fd->id, kvq__verdict_name(fd->verdict),
                fd->claim, fd->summary);
        if (fd->count == 0)
            continue;
        if (i == KVQ_FINDING_JENSEN)
            md_jensen(f, fd);
        else
            md_evidence(f, fd);
        if (i == KVQ_FINDING_F3)
            md_winner_table(f, fd);
        fputc('\n', f);
    }
    md_cells(f, r);
    return stream_status(f);
}

/* ---- atomic files ------------------------------------------------------- */

/* writer into a temporary next to path, renamed over path on success. */
int kvq__write_atomic(const char *path, int (*writer)(FILE *, void *), void *arg)
{
    if (!path || !*path || !writer)
        return KVQ_ERR_INVALID_ARG;
    int wrc = 0;
    if (kvq__file_replace(path, writer, arg, 0, &wrc) == KVQ_REPLACE_OK)
        return KVQ_OK;
    return wrc ? wrc : KVQ_ERR_IO;
}
