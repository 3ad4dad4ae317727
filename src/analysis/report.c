/* report.c — JSON, CSV and Markdown writers for results and findings
 * (doc/conformance.md §6), with locale-independent numbers, and an atomic file writer. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "analysis/report.h"

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

/* F3's winner table: rows n, columns source, entries the lower-k_dir_err scheme. */
static void md_winner_table(FILE *f, const kvq__finding *fd)
{
    const char **src = malloc((fd->count ? fd->count : 1) * sizeof *src);
    int *bits = malloc((fd->count ? fd->count : 1) * sizeof *bits);
    size_t ns = 0, nb = 0;
    if (!src || !bits)
        goto out;
    for (size_t i = 0; i < fd->count; i++) {
        if (!seen(src, ns, fd->cells[i].source))
            src[ns++] = fd->cells[i].source;
        size_t j = 0;
        while (j < nb && bits[j] != fd->cells[i].bits)
            j++;
        if (j == nb) {   /* insertion keeps bits sorted */
            while (j > 0 && bits[j - 1] > fd->cells[i].bits) {
                bits[j] = bits[j - 1];
                j--;
            }
            bits[j] = fd->cells[i].bits;
            nb++;
        }
    }
    fputs("\nWinner table (lower k_dir_err; δ = QKQV − KQV, 95% CI; ✓ as claimed, ✗ not):\n\n| n |", f);
    for (size_t s = 0; s < ns; s++)
        fprintf(f, " %s |", src[s]);
    fputs("\n|---|", f);
    for (size_t s = 0; s < ns; s++)
        fputs("---|", f);
    for (size_t r = 0; r < nb; r++) {
        fprintf(f, "\n| %d |", bits[r]);
        for (size_t s = 0; s < ns; s++) {
            int any = 0;
            for (size_t i = 0; i < fd->count; i++) {
                const kvq__finding_cell *c = &fd->cells[i];
                if (c->bits != bits[r] || strcmp(c->source, src[s]) != 0)
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
out:
    free(src);
    free(bits);
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

/* Opens a new temporary file next to path (name in tmp, mode 0666 & ~umask). */
static FILE *open_temp(const char *path, char *tmp, size_t len)
{
    static unsigned counter;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(tmp, len, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            FILE *f = fdopen(fd, "w");
            if (!f) {
                close(fd);
                unlink(tmp);
            }
            return f;
        }
        if (errno != EEXIST)
            return NULL;
    }
    return NULL;
}

/* writer into a temporary next to path, renamed over path on success. */
int kvq__write_atomic(const char *path, int (*writer)(FILE *, void *), void *arg)
{
    if (!path || !*path || !writer)
        return KVQ_ERR_INVALID_ARG;
    size_t len = strlen(path) + 48;
    char *tmp = malloc(len);
    if (!tmp)
        return KVQ_ERR_NOMEM;
    FILE *f = open_temp(path, tmp, len);
    if (!f) {
        free(tmp);
        return KVQ_ERR_IO;
    }
    int rc = writer(f, arg);
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
        rc = rc ? rc : KVQ_ERR_IO;
    if (fclose(f) != 0)
        rc = rc ? rc : KVQ_ERR_IO;
    if (rc == KVQ_OK && rename(tmp, path) != 0)
        rc = KVQ_ERR_IO;
    if (rc != KVQ_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}
