/* report_real.c — the parts of the reports that real data adds
 * (doc/statistics.md §5): per-head values, the worst heads, per-head paired
 * comparisons, and where side information changes the winner
 * (doc/statistics.md §4.7). Heads of a model are not exchangeable, so these
 * keep them apart instead of folding them into one CI. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "analysis/report.h"

#define WORST_SHOWN 3   /* heads named per scheme and budget */

/* One head's value of a metric, with where it comes from. */
typedef struct head_val {
    double v;
    int layer;
    size_t head;
} head_val;

/* Mean of a metric of a cell from the summary cache. */
static double cell_mean(const kvq__results *r, const kvq__cell *c, int metric)
{
    double mean, lo, hi;
    kvq__cell_summary(c, metric, r->seed, &mean, &lo, &hi);
    return mean;
}

/* 1 when the table holds a real-data cell. */
static int any_real(const kvq__results *r)
{
    for (size_t i = 0; i < r->count; i++)
        if (r->cells[i].real)
            return 1;
    return 0;
}

/* ---- per_head.csv ------------------------------------------------------- */

int kvq__report_per_head_csv(FILE *f, const kvq__results *r)
{
    fputs("file,layer,head,scheme,bits,eff_bits_k,eff_bits_v", f);
    for (int m = 0; m < KVQ_METRIC_COUNT; m++)
        fprintf(f, ",%s", kvq_metric_name(m));
    fputs("\r\n", f);
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        for (size_t t = 0; c->real && t < c->trials; t++) {
            kvq__csv_str(f, c->dist);
            fputc(',', f);
            if (c->layer >= 0)
                fprintf(f, "%d", c->layer);
            fprintf(f, ",%zu,", t);
            kvq__csv_str(f, c->scheme);
            fprintf(f, ",%d", c->bits);
            kvq__csv_num(f, c->eff_bits_k);
            kvq__csv_num(f, c->eff_bits_v);
            for (int m = 0; m < KVQ_METRIC_COUNT; m++)
                kvq__csv_num(f, c->per_trial[m][t]);
            fputs("\r\n", f);
        }
    }
    return ferror(f) ? KVQ_ERR_IO : KVQ_OK;
}

/* ---- worst heads -------------------------------------------------------- */

/* Orders head values descending; NaN last. */
static int val_desc(const void *a, const void *b)
{
    double x = ((const head_val *)a)->v, y = ((const head_val *)b)->v;
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    return (x < y) - (x > y);
}

/* 1 when cell i is the first real cell with its scheme and budget. */
static int first_of_group(const kvq__results *r, size_t i)
{
    const kvq__cell *c = &r->cells[i];
    for (size_t j = 0; j < i; j++)
        if (r->cells[j].real && r->cells[j].bits == c->bits &&
            !strcmp(r->cells[j].scheme, c->scheme))
            return 0;
    return c->real;
}

/* Every head's kl of the real cells with c's scheme and budget, sorted
 * descending into a malloc'd array; *n its length, *median over the
 * defined values. NULL when out of memory. */
static head_val *group_heads(const kvq__results *r, const kvq__cell *c, size_t *n, double *median)
{
    size_t cap = 0, k = 0, defined = 0;
    for (size_t j = 0; j < r->count; j++)
        if (r->cells[j].real && r->cells[j].bits == c->bits && !strcmp(r->cells[j].scheme, c->scheme))
            cap += r->cells[j].trials;
    head_val *h = malloc((cap ? cap : 1) * sizeof *h);
    for (size_t j = 0; h && j < r->count; j++) {
        const kvq__cell *d = &r->cells[j];
        if (!d->real || d->bits != c->bits || strcmp(d->scheme, c->scheme))
            continue;
        for (size_t t = 0; t < d->trials; t++)
            h[k++] = (head_val){d->per_trial[KVQ_METRIC_KL][t], d->layer, t};
    }
    if (!h)
        return NULL;
    qsort(h, k, sizeof *h, val_desc);
    while (defined < k && !isnan(h[defined].v))
        defined++;
    *median = !defined ? NAN : defined % 2 ? h[defined / 2].v
            : 0.5 * (h[defined / 2 - 1].v + h[defined / 2].v);
    *n = k;
    return h;
}

/* "L3:h7 0.0123" for a head ("h7" without a layer). */
static const char *head_name(char *buf, size_t len, const head_val *h)
{
    char b[40];
    if (h->layer >= 0)
        snprintf(buf, len, "L%d:h%zu %s", h->layer, h->head, kvq__num6(b, h->v));
    else
        snprintf(buf, len, "h%zu %s", h->head, kvq__num6(b, h->v));
    return buf;
}

/* Writes the worst-heads rows in Markdown (md) or as text. */
static void worst_heads(FILE *f, const kvq__results *r, int md)
{
    char b1[40], b2[40], hn[80];
    if (!any_real(r))
        return;
    if (md)
        fputs("## Worst heads\n\nThe heads with the highest `kl` at each scheme and budget, over "
              "every layer (L = layer, h = head), beside the median head: heads differ by orders "
              "of magnitude, so a mean over heads hides where the damage is.\n\n"
              "| scheme | n | eff. bits K / V | median kl over heads | worst heads (kl) |\n"
              "|---|---|---|---|---|\n", f);
    else
        fprintf(f, "\nWorst heads by kl (L = layer, h = head), per scheme and budget:\n"
                   "%-8s %3s %13s %12s  %s\n", "scheme", "n", "eff K/V", "median kl", "worst");
    for (size_t i = 0; i < r->count; i++) {
        if (!first_of_group(r, i))
            continue;
        const kvq__cell *c = &r->cells[i];
        size_t n;
        double med;
        head_val *h = group_heads(r, c, &n, &med);
        if (!h)
            return;
        if (md)
            fprintf(f, "| %s | %d | %s / %s | %s |", c->scheme, c->bits, kvq__num6(b1, c->eff_bits_k),
                    kvq__num6(b2, c->eff_bits_v), kvq__num6(b1, med));
        else
            fprintf(f, "%-8s %3d %6.3g/%-6.3g %12.4g ", c->scheme, c->bits, c->eff_bits_k,
                    c->eff_bits_v, med);
        for (size_t k = 0; k < n && k < WORST_SHOWN && !isnan(h[k].v); k++)
            fprintf(f, "%s%s", k ? ", " : " ", head_name(hn, sizeof hn, &h[k]));
        fputs(md ? " |\n" : "\n", f);
        free(h);
    }
    if (md)
        fputc('\n', f);
}

void kvq__report_worst_heads_text(FILE *f, const kvq__results *r)
{
    worst_heads(f, r, 0);
}

void kvq__md_worst_heads(FILE *f, const kvq__results *r)
{
    worst_heads(f, r, 1);
}

/* ---- per-head paired comparisons --------------------------------------- */

/* Orders doubles ascending. */
static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One row: A against B on kl, head by head (delta = A − B). */
static void pair_row(FILE *f, const kvq__cell *a, const kvq__cell *b)
{
    size_t t = a->trials < b->trials ? a->trials : b->trials, n = 0, lower = 0, higher = 0;
    double *d = malloc((t ? t : 1) * sizeof *d);
    char src[128], b1[40], b2[40], b3[40];
    if (!d)
        return;
    for (size_t h = 0; h < t; h++) {
        double x = a->per_trial[KVQ_METRIC_KL][h] - b->per_trial[KVQ_METRIC_KL][h];
        if (isnan(x))
            continue;
        d[n++] = x;
        lower += x < 0;
        higher += x > 0;
    }
    qsort(d, n, sizeof *d, dbl_cmp);
    kvq__cell_source(a, src, sizeof src);
    fprintf(f, "| %s | %d | %s vs %s | %zu | %zu | %zu |", src, a->bits, a->scheme, b->scheme,
            lower, higher, n - lower - higher);
    if (n)
        fprintf(f, " %s | %s | %s |\n", kvq__num6(b1, d[0]),
                kvq__num6(b2, n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2])),
                kvq__num6(b3, d[n - 1]));
    else
        fputs(" – | – | – |\n", f);
    free(d);
}

void kvq__md_per_head_pairs(FILE *f, const kvq__results *r)
{
    if (!any_real(r))
        return;
    fputs("## Per-head comparisons\n\nThe paired comparison on `kl`, head by head: "
          "δ_h = kl(A) − kl(B) on head h (same K, V, Q). How many heads each scheme wins, and "
          "the smallest, median and largest δ_h. A CI over heads (the tables above) says how "
          "the average head behaves; this says whether every head agrees.\n\n"
          "| layer | n | A vs B | heads A lower | heads B lower | equal | min δ | median δ "
          "| max δ |\n|---|---|---|---|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < r->count; i++)
        for (size_t j = i + 1; j < r->count; j++) {
            const kvq__cell *a = &r->cells[i], *b = &r->cells[j];
            if (a->real && a->bits == b->bits && strcmp(a->scheme, b->scheme) &&
                kvq__cell_same_data(a, b))
                pair_row(f, a, b);
        }
    fputc('\n', f);
}

/* ---- side information --------------------------------------------------- */

/* The metrics re-judged at equal effective bits, and which bits count:
 * kl depends on the K codec alone, dist6 on both. */
typedef struct side_metric {
    int metric, k_only;
} side_metric;
static const side_metric side_metrics[] = {{KVQ_METRIC_KL, 1}, {KVQ_METRIC_DIST6, 0}};

/* The effective bits that count for a metric. */
static double bits_for(const kvq__cell *c, const side_metric *m)
{
    return m->k_only ? c->eff_bits_k : kvq__cell_eff_bits(c);
}

/* log of metric m of B's scheme on B's data, interpolated linearly in
 * effective bits at x from its cells at every budget; NaN when x lies
 * outside them. */
static double interp_log(const kvq__results *r, const kvq__cell *b, const side_metric *m,
                         double x)
{
    double lo_x = -INFINITY, lo_y = NAN, hi_x = INFINITY, hi_y = NAN;
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        if (strcmp(c->scheme, b->scheme) || !kvq__cell_same_data(c, b))
            continue;
        double e = bits_for(c, m), v = cell_mean(r, c, m->metric);
        if (!(v > 0))
            continue;
        if (e <= x && e > lo_x) {
            lo_x = e;
            lo_y = log(v);
        }
        if (e >= x && e < hi_x) {
            hi_x = e;
            hi_y = log(v);
        }
    }
    if (isnan(lo_y) || isnan(hi_y))
        return NAN;
    return hi_x == lo_x ? lo_y : lo_y + (hi_y - lo_y) * (x - lo_x) / (hi_x - lo_x);
}

/* One change of winner: a wins over b at the same n on metric m, but spends
 * more effective bits, and b reaches `at` at a's bits. */
typedef struct flip {
    const kvq__cell *a, *b;
    const side_metric *m;
    double at;
} flip;

/* Calls row(f, r, flip) for every change of winner; returns the count. */
static size_t side_flips(FILE *f, const kvq__results *r,
                         void (*row)(FILE *, const kvq__results *, const flip *))
{
    size_t n = 0;
    for (size_t k = 0; k < sizeof side_metrics / sizeof side_metrics[0]; k++)
        for (size_t i = 0; i < r->count; i++)
            for (size_t j = 0; j < r->count; j++) {
                const side_metric *m = &side_metrics[k];
                flip fl = {&r->cells[i], &r->cells[j], m, NAN};
                if (i == j || fl.a->bits != fl.b->bits || !strcmp(fl.a->scheme, fl.b->scheme) ||
                    !kvq__cell_same_data(fl.a, fl.b))
                    continue;
                double va = cell_mean(r, fl.a, m->metric), vb = cell_mean(r, fl.b, m->metric);
                double ea = bits_for(fl.a, m), eb = bits_for(fl.b, m);
                if (!(va < vb) || !(ea > eb + 1e-9))
                    continue;
                fl.at = exp(interp_log(r, fl.b, m, ea));
                if (fl.at < va) {
                    row(f, r, &fl);
                    n++;
                }
            }
    return n;
}

/* One change of winner as a line of text. */
static void flip_text(FILE *f, const kvq__results *r, const flip *x)
{
    char src[128];
    const char *name = kvq_metric_name(x->m->metric);
    kvq__cell_source(x->a, src, sizeof src);
    fprintf(f, "  n=%d %s: %s beats %s on %s at equal n (%.4g vs %.4g) but stores %.3g vs %.3g "
               "effective bits/coord (%s); at %.3g bits %s reaches %.4g\n", x->a->bits, src,
            x->a->scheme, x->b->scheme, name, cell_mean(r, x->a, x->m->metric),
            cell_mean(r, x->b, x->m->metric), bits_for(x->a, x->m), bits_for(x->b, x->m),
            x->m->k_only ? "K" : "mean of K and V", bits_for(x->a, x->m), x->b->scheme, x->at);
}

/* One change of winner as a Markdown row. */
static void flip_md(FILE *f, const kvq__results *r, const flip *x)
{
    char src[128], b1[40], b2[40], b3[40], b4[40], b5[40];
    kvq__cell_source(x->a, src, sizeof src);
    fprintf(f, "| n=%d %s | %s | %s (%s) | %s (%s) | ", x->a->bits, src,
            kvq_metric_name(x->m->metric), x->a->scheme, kvq__num6(b1, bits_for(x->a, x->m)),
            x->b->scheme, kvq__num6(b2, bits_for(x->b, x->m)));
    fprintf(f, "%s vs %s | %s |\n", kvq__num6(b3, cell_mean(r, x->a, x->m->metric)),
            kvq__num6(b4, cell_mean(r, x->b, x->m->metric)), kvq__num6(b5, x->at));
}

/* A row writer that prints nothing (to count). */
static void flip_none(FILE *f, const kvq__results *r, const flip *x)
{
    (void)f, (void)r, (void)x;
}

void kvq__report_side_info_text(FILE *f, const kvq__results *r)
{
    size_t n = side_flips(f, r, flip_none);
    if (!r->count)
        return;
    if (!n) {
        fprintf(f, "\nSide information: no winner at equal n on kl or dist6 loses once both "
                   "schemes are compared at equal effective bits.\n");
        return;
    }
    fprintf(f, "\nSide information changes the winner in %zu comparison(s) (effective bits = "
               "payload + side bits / d: K's for kl, the mean of K and V for dist6; the loser "
               "interpolated log-linearly to the winner's bits):\n", n);
    side_flips(f, r, flip_text);
}

void kvq__md_side_info(FILE *f, const kvq__results *r)
{
    size_t n = side_flips(f, r, flip_none);
    fputs("## Equal effective bits\n\nSchemes are compared at the same nominal budget n, but "
          "their side information (one or two stored norms per vector, 32 bits each by default: "
          "1–2 bits per coordinate at d = 32) differs, so their effective bits differ (doc/schemes.md §4). "
          "Here each winner at equal n on `kl` (which depends on K alone: K's effective bits) and "
          "on `dist6` (K and V: their mean) is checked against the other scheme interpolated "
          "log-linearly, between its own budgets, to the winner's effective bits "
          "(doc/statistics.md §4.7). ", f);
    if (!n) {
        fputs("No winner changes.\n\n", f);
        return;
    }
    fprintf(f, "In %zu comparison(s) side information changes the winner:\n\n"
               "| configuration | metric | winner at equal n (eff. bits) | other (eff. bits) | "
               "winner vs other | other at the winner's bits |\n|---|---|---|---|---|---|\n", n);
    side_flips(f, r, flip_md);
    fputc('\n', f);
}
