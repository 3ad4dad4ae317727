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
const char *kvq__num6(char buf[40], double x)
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

/* Asymmetric when a preset's K and V budgets differ. */
static int asymmetric(const kvq__cell *c)
{
    return c->parsed.bits_k != c->parsed.bits_v;
}

const char *kvq__cell_bits_label(const kvq__cell *c, char *buf, size_t len)
{
    if (asymmetric(c))
        snprintf(buf, len, "k%dv%d", c->parsed.bits_k, c->parsed.bits_v);
    else
        snprintf(buf, len, "%d", c->bits);
    return buf;
}

/* "bits": the budget n, or the label "k4v2" of asymmetric budgets, which
 * also name each tensor's budget in "bits_k" and "bits_v". */
static void json_bits(FILE *f, const kvq__cell *c)
{
    if (asymmetric(c))
        fprintf(f, ",\"bits\":\"k%dv%d\",\"bits_k\":%d,\"bits_v\":%d", c->parsed.bits_k,
                c->parsed.bits_v, c->parsed.bits_k, c->parsed.bits_v);
    else
        fprintf(f, ",\"bits\":%d", c->bits);
}

/* What K (tensor 0) or V really rotated with at the cell's d: wht becomes
 * dense off powers of two (doc/quantization.md §3); with outlier channels,
 * the rotation of the other d − c (doc/schemes.md §7.1). */
const char *kvq__cell_rotation(const kvq__cell *c, int tensor)
{
    const kvq_codec_spec *s = tensor ? &c->parsed.v : &c->parsed.k;
    return kvq__rotation_name(kvq__rotation_at(s->rotation, c->dim - s->out_channels));
}

/* The "config" object of a cell. */
static void json_config(FILE *f, const kvq__cell *c, uint64_t seed)
{
    char b[40];
    fputs("{\"scheme\":", f);
    kvq__json_string(f, c->scheme);
    json_bits(f, c);
    fprintf(f, ",\"dim\":%d,\"keys\":%zu,\"queries\":%zu,\"trials\":%zu,\"dist\":",
            c->dim, c->keys, c->queries, c->trials);
    kvq__json_string(f, c->dist);
    fputs(",\"rank\":", f);
    kvq__json_string(f, c->rank);
    fputs(",\"file\":", f);
    if (c->real)
        kvq__json_string(f, c->dist);
    else
        fputs("null", f);
    if (c->real && c->layer >= 0)
        fprintf(f, ",\"layer\":%d", c->layer);
    else
        fputs(",\"layer\":null", f);
    fprintf(f, ",\"trials_are\":\"%s\"", c->real ? "heads" : "draws");
    fprintf(f, ",\"sharpness\":%s,\"seed\":%llu,\"device\":", num17(b, c->sharpness),
            (unsigned long long)seed);
    kvq__json_string(f, c->device);
    fprintf(f, ",\"causal\":%s", c->causal ? "true" : "false");
    fprintf(f, ",\"rotation\":{\"k\":\"%s\",\"v\":\"%s\"}", kvq__cell_rotation(c, 0),
            kvq__cell_rotation(c, 1));
    fprintf(f, ",\"effective_bits\":{\"k\":%s,", num17(b, c->eff_bits_k));
    fprintf(f, "\"v\":%s}}", num17(b, c->eff_bits_v));
}

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
void kvq__csv_str(FILE *f, const char *s)
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
void kvq__csv_num(FILE *f, double x)
{
    char b[40];
    fputc(',', f);
    if (isfinite(x))
        fputs(num17(b, x), f);
}

/* One row per cell: configuration, then mean/CI of every metric. */
int kvq__report_csv(FILE *f, const kvq__results *r)
{
    fputs("scheme,bits,dist,rank,layer,dim,keys,queries,sharpness,causal,trials,seed,device,"
          "eff_bits_k,eff_bits_v,seconds", f);
    for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
        const char *n = kvq_metric_name(m);
        fprintf(f, ",%s_mean,%s_ci_lo,%s_ci_hi", n, n, n);
    }
    fputs("\r\n", f);
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        char lb[24];
        kvq__csv_str(f, c->scheme);
        fprintf(f, ",%s,", kvq__cell_bits_label(c, lb, sizeof lb));
        kvq__csv_str(f, c->dist);
        fputc(',', f);
        kvq__csv_str(f, c->rank);
        fputc(',', f);
        if (c->real && c->layer >= 0)
            fprintf(f, "%d", c->layer);
        fprintf(f, ",%d,%zu,%zu", c->dim, c->keys, c->queries);
        kvq__csv_num(f, c->sharpness);
        fprintf(f, ",%d,%zu,%llu,", c->causal, c->trials, (unsigned long long)r->seed);
        kvq__csv_str(f, c->device);
        kvq__csv_num(f, c->eff_bits_k);
        kvq__csv_num(f, c->eff_bits_v);
        kvq__csv_num(f, c->seconds);
        for (int m = 0; m < KVQ_METRIC_COUNT; m++) {
            double mean, lo, hi;
            kvq__cell_summary(c, m, r->seed, &mean, &lo, &hi);
            kvq__csv_num(f, mean);
            kvq__csv_num(f, lo);
            kvq__csv_num(f, hi);
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
    fputs("| comparison | metric | mean δ | 95% CI | p (Holm) | result | claim | agrees | "
          "effective bits |\n|---|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < fd->count; i++) {
        const kvq__finding_cell *c = &fd->cells[i];
        fprintf(f, "| %s | %s | %s | [%s, ", c->label, kvq_metric_name(c->metric),
                kvq__num6(b1, c->mean), kvq__num6(b2, c->ci_lo));
        fprintf(f, "%s] | %s | ", kvq__num6(b3, c->ci_hi), kvq__num6(b1, c->p_holm));
        fprintf(f, "%s | %s | %s | %s |\n", outcome(o1, sizeof o1, c, c->verdict),
                outcome(o2, sizeof o2, c, c->expected),
                c->expected == KVQ_NO_CLAIM ? "–" : c->agrees ? "yes" : "**no**", c->eff);
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
                        kvq__num6(b1, c->mean), kvq__num6(b2, c->ci_lo), kvq__num6(b3, c->ci_hi),
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
    size_t sup = 0, sub = 0, tie = 0, nv = 0, nh = 0;
    double lo = INFINITY, hi = -INFINITY, vr = 0, oh = 0;
    if (!fj->count)
        return;
    for (size_t i = 0; i < fj->count; i++) {
        const kvq__finding_cell *c = &fj->cells[i];
        sup += c->verdict > 0;
        sub += c->verdict < 0;
        tie += c->verdict == 0;
        lo = fmin(lo, c->mean);
        hi = fmax(hi, c->mean);
        if (isfinite(c->one_hot) && c->queries) {
            oh += c->one_hot / (double)c->queries;
            nh++;
        }
        if (isfinite(c->qjl_var) && c->qjl_bound > 0) {
            vr += c->qjl_var / c->qjl_bound;
            nv++;
        }
    }
    fprintf(f, "\nJensen: jensen_ratio = sum KL / sum Var_p(eps)/2 over the queries, per trial, "
               "over %zu QJL-on-K configurations: %.4g .. %.4g; superlinear (>1, significant) in "
               "%zu, sublinear in %zu, not significant in %zu.\n", fj->count, lo, hi, sup, sub,
            tie);
    if (nh)
        fprintf(f, "One-hot queries (reference attention > 0.99 on one key): %.3g%% of the "
                   "queries on average.\n", 100 * oh / (double)nh);
    if (nv)
        fprintf(f, "QJL logit-error variance / pi/(2m) bound: mean %.3g over %zu configurations "
                   "(<= 1 expected).\n", vr / (double)nv, nv);
}

/* The Jensen table: ratio, CI, superlinearity, QJL variance against the bound. */
static void md_jensen(FILE *f, const kvq__finding *fd)
{
    char b1[40], b2[40], b3[40];
    fputs("| configuration | jensen_ratio | 95% CI | p (Holm) | superlinear | one-hot queries "
          "per trial (of M) | QJL var measured | π/(2m)·E‖q‖²γ² bound | measured / bound |\n"
          "|---|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < fd->count; i++) {
        const kvq__finding_cell *c = &fd->cells[i];
        fprintf(f, "| %s | %s | [%s, %s] | ", c->label, kvq__num6(b1, c->mean), kvq__num6(b2, c->ci_lo),
                kvq__num6(b3, c->ci_hi));
        fprintf(f, "%s | %s | ", kvq__num6(b1, c->p_holm),
                c->verdict > 0 ? "yes" : c->verdict < 0 ? "no (sublinear)" : "not significant");
        fprintf(f, "%s (of %zu) | ", kvq__num6(b1, c->one_hot), c->queries);
        fprintf(f, "%s | %s | %s |\n", kvq__num6(b1, c->qjl_var), kvq__num6(b2, c->qjl_bound),
                kvq__num6(b3, c->qjl_var / c->qjl_bound));
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
          "- jensen_ratio = Σ KL / Σ ½Var_p(ε) over the queries of a trial (a ratio of sums, "
          "doc/metrics.md §2.5), ε = ℓ̃ − ℓ: > 1 means softmax amplifies logit noise beyond its "
          "second-order (linear-in-variance) prediction. one_hot counts the queries whose "
          "reference attention puts > 0.99 on one key; the ratio rests on the others.\n"
          "- n is the nominal budget; the effective bits (payload + side bits / d, K and V) are "
          "shown beside it, and the section \"Equal effective bits\" says where the difference "
          "changes the winner.\n"
          "- Real data: each trial is one head. Heads are not exchangeable, so a CI over heads "
          "describes the spread across heads, not the uncertainty of one head; see the "
          "per-head sections.\n\n", f);
}

/* A short per-cell table of the headline metrics. */
static void md_cells(FILE *f, const kvq__results *r)
{
    static const int ms[5] = { KVQ_METRIC_KL, KVQ_METRIC_K_DIR_ERR, KVQ_METRIC_DIST6,
                               KVQ_METRIC_JENSEN_RATIO, KVQ_METRIC_ONE_HOT };
    char b1[40], b2[40], b3[40], src[128];
    fputs("## Configurations\n\n| scheme | n | effective bits K / V | source | d | N | M | τ | "
          "causal | trials |", f);
    for (int m = 0; m < 5; m++)
        fprintf(f, " %s (95%% CI) |", kvq_metric_name(ms[m]));
    fputs("\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        char lb[24];
        kvq__cell_source(c, src, sizeof src);
        fprintf(f, "| %s | %s | %s / ", c->scheme, kvq__cell_bits_label(c, lb, sizeof lb),
                kvq__num6(b1, c->eff_bits_k));
        fprintf(f, "%s | %s | %d | %zu | %zu | %s | %s | %zu%s |", kvq__num6(b2, c->eff_bits_v),
                src, c->dim, c->keys, c->queries, kvq__num6(b1, c->sharpness),
                c->causal ? "yes" : "no", c->trials, c->real ? " heads" : "");
        for (int m = 0; m < 5; m++) {
            double mean, lo, hi;
            kvq__cell_summary(c, ms[m], r->seed, &mean, &lo, &hi);
            fprintf(f, " %s [%s, %s] |", kvq__num6(b1, mean), kvq__num6(b2, lo), kvq__num6(b3, hi));
        }
        fputc('\n', f);
    }
    fputc('\n', f);
}

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
    kvq__md_side_info(f, r);
    kvq__md_worst_heads(f, r);
    kvq__md_per_head_pairs(f, r);
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

/* ---- The Pareto view (doc/statistics.md §6) ------------------------------ */

/* "KQV@k4v2" / "KV@4": a cell's scheme and budget in one word (a custom
 * scheme without a budget: its name alone). */
static const char *cell_tag(const kvq__cell *c, char *buf, size_t len)
{
    char lb[24];
    kvq__cell_bits_label(c, lb, sizeof lb);
    snprintf(buf, len, "%s%s%s", c->scheme, strcmp(lb, "0") ? "@" : "", strcmp(lb, "0") ? lb : "");
    return buf;
}

int kvq__report_pareto_csv(FILE *f, const kvq__results *r, const kvq__pareto *p)
{
    fputs("metric,dist,rank,scheme,bits,eff_bits,mean,ci_lo,ci_hi,on_frontier,beaten_by\r\n", f);
    for (size_t i = 0; i < p->count; i++) {
        const kvq__pareto_point *pt = &p->points[i];
        const kvq__cell *c = &r->cells[pt->cell];
        char lb[24], tag[96];
        fprintf(f, "%s,", kvq_metric_name(pt->metric));
        kvq__csv_str(f, c->dist);
        fputc(',', f);
        kvq__csv_str(f, c->rank);
        fputc(',', f);
        kvq__csv_str(f, c->scheme);
        fprintf(f, ",%s", kvq__cell_bits_label(c, lb, sizeof lb));
        kvq__csv_num(f, pt->eff_bits);
        kvq__csv_num(f, pt->mean);
        kvq__csv_num(f, pt->ci_lo);
        kvq__csv_num(f, pt->ci_hi);
        fprintf(f, ",%d,", pt->on_frontier);
        if (pt->beaten_by != KVQ_PARETO_NONE)
            kvq__csv_str(f, cell_tag(&r->cells[pt->beaten_by], tag, sizeof tag));
        fputs("\r\n", f);
    }
    return stream_status(f);
}

int kvq__report_pareto_text(FILE *f, const kvq__results *r, const kvq__pareto *p)
{
    char b1[40], b2[40], b3[40], tag[96];
    fprintf(f, "Pareto frontier (no cell at equal or fewer effective bits beats these: "
               "paired bootstrap CI + Wilcoxon, Holm; %zu comparisons)\n", p->comparisons);
    for (size_t i = 0; i < p->count; i++) {
        const kvq__pareto_point *pt = &p->points[i];
        const kvq__cell *c = &r->cells[pt->cell];
        if (i == 0 || pt->group != p->points[i - 1].group)
            fprintf(f, "  %s on %s/%s:\n", kvq_metric_name(pt->metric), c->dist, c->rank);
        if (!pt->on_frontier)
            continue;
        fprintf(f, "    %-22s %6.3f bits  %s [%s, %s]\n", cell_tag(c, tag, sizeof tag),
                pt->eff_bits, kvq__num6(b1, pt->mean), kvq__num6(b2, pt->ci_lo), kvq__num6(b3, pt->ci_hi));
    }
    return stream_status(f);
}

/* ---- Beyond the paper (doc/statistics.md §7) ---------------------------- */

int kvq__report_beyond_markdown(FILE *f, const kvq__results *r, const kvq__beyond *b)
{
    char b1[40], b2[40], b3[40], t1[96], t2[96];
    fputs("## Beyond the paper\n\nThe best cell costing less than n + 1 effective bits (mean of "
          "K and V), on the outlier and t3 sources of this grid, and whether it beats the "
          "runner-up (paired bootstrap CI + Wilcoxon, Holm over this section).\n\n", f);
    if (!b->count) {
        fputs("No outlier or t3 cells in this grid (add --dist outlier,t3).\n\n", f);
        return stream_status(f);
    }
    fputs("| metric | source | < bits | best | eff. bits | mean (95% CI) | runner-up | "
          "Δ (95% CI) | p (Holm) | verdict |\n|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < b->count; i++) {
        const kvq__beyond_row *w = &b->rows[i];
        const kvq__cell *c = &r->cells[w->best];
        int two = w->second != KVQ_PARETO_NONE;
        fprintf(f, "| %s | %s/%s | %d | %s | %.3f | %s [%s, %s] | ", kvq_metric_name(w->metric),
                c->dist, c->rank, w->budget + 1, cell_tag(c, t1, sizeof t1),
                kvq__cell_eff_bits(c), kvq__num6(b1, w->mean), kvq__num6(b2, w->ci_lo), kvq__num6(b3, w->ci_hi));
        if (!two) {
            fputs("– | – | – | the only cell |\n", f);
            continue;
        }
        const kvq__comparison *v = &w->vs_second;
        fprintf(f, "%s | %s [%s, %s] | ", cell_tag(&r->cells[w->second], t2, sizeof t2),
                kvq__num6(b1, v->mean), kvq__num6(b2, v->ci_lo), kvq__num6(b3, v->ci_hi));
        fprintf(f, "%s | %s |\n", kvq__num6(b1, v->p_holm),
                v->verdict < 0 ? "best" : "tie with the runner-up");
    }
    fputc('\n', f);
    return stream_status(f);
}
