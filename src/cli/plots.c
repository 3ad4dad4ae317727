/* plots.c — PNG plots of a sweep through gnuplot: kl, k_dir_err and dist6
 * against the budget n, one line per scheme, one panel per source, log
 * scale, 95% bootstrap CIs as error bars; for real data a kl heat map per
 * budget (layer × head); and the Pareto plot, each Pareto metric against
 * effective bits with the frontier marked (doc/statistics.md §6). The
 * self-contained gnuplot scripts (data inline) are kept beside the PNGs so
 * users can restyle them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kvq.h"
#include "internal.h"

static const int plot_metrics[] = {KVQ_METRIC_KL, KVQ_METRIC_K_DIR_ERR, KVQ_METRIC_DIST6};

/* Distinct values of a string field of the cells, in first-seen order. */
static int distinct(const kvq__results *r, int which, char out[][80], int max)
{
    int n = 0;
    for (size_t i = 0; i < r->count; i++) {
        char key[80];
        const kvq__cell *c = &r->cells[i];
        if (which)
            snprintf(key, sizeof key, "%s", c->scheme);
        else
            kvq__cell_source(c, key, sizeof key);
        int seen = 0;
        for (int k = 0; k < n && !seen; k++)
            seen = !strcmp(out[k], key);
        if (!seen && n < max)
            snprintf(out[n++], 80, "%s", key);
    }
    return n;
}

/* One datablock: (n, mean, lo, hi) of a scheme on a source, sorted by n. */
static void datablock(FILE *f, const kvq__results *r, int metric, const char *src,
                      const char *scheme, uint64_t seed, const char *name)
{
    fprintf(f, "$%s << EOD\n", name);
    for (int b = 0; b <= 8; b++)
        for (size_t i = 0; i < r->count; i++) {
            const kvq__cell *c = &r->cells[i];
            char key[80];
            kvq__cell_source(c, key, sizeof key);
            if (c->bits != b || c->parsed.bits_k != c->parsed.bits_v || strcmp(key, src) ||
                strcmp(c->scheme, scheme))
                continue;
            double mean, lo, hi;
            kvq__cell_summary(c, metric, seed, &mean, &lo, &hi);
            if (mean > 0 && lo > 0 && isfinite(hi))
                fprintf(f, "%d %.9g %.9g %.9g\n", b, mean, lo, hi);
            else if (mean > 0)
                fprintf(f, "%d %.9g %.9g %.9g\n", b, mean, mean, mean);
        }
    fputs("EOD\n", f);
}

/* The gnuplot script of one metric's figure into f. */
static void script(FILE *f, const kvq__results *r, int metric, const char *png)
{
    char src[32][80], sch[32][80];
    int ns = distinct(r, 0, src, 32), nc = distinct(r, 1, sch, 32);
    int cols = (int)ceil(sqrt((double)ns)), rows = (ns + cols - 1) / cols;
    const char *m = kvq_metric_name(metric);
    for (int s = 0; s < ns; s++)
        for (int c = 0; c < nc; c++) {
            char name[32];
            snprintf(name, sizeof name, "%s_%d_%d", m, s, c);
            datablock(f, r, metric, src[s], sch[c], r->seed, name);
        }
    fprintf(f, "set terminal pngcairo size %d,%d noenhanced font ',9'\nset output '%s'\n",
            420 * cols, 320 * rows + 40, png);
    fprintf(f, "set multiplot layout %d,%d title '%s against budget n (95%% bootstrap CI)'\n",
            rows, cols, m);
    fputs("set logscale y\nset format y '%g'\nset xlabel 'n (bits per coordinate)'\n"
          "set key top right\nset grid\nset xtics 1\nset offsets 0.3, 0.3, 0, 0\n", f);
    for (int s = 0; s < ns; s++) {
        fprintf(f, "set title '%s'\nset ylabel '%s'\nplot ", src[s], m);
        for (int c = 0; c < nc; c++)
            fprintf(f, "%s$%s_%d_%d using 1:2:3:4 with yerrorlines lw 1.5 title '%s'",
                    c ? ", " : "", m, s, c, sch[c]);
        fputs("\n", f);
    }
    fputs("unset multiplot\nset output\n", f);
}

/* ---- heat maps of real data: kl by layer × head, one figure per budget ---- */

/* The distinct layers of the real cells, ascending; their count. */
static int real_layers(const kvq__results *r, int *out, int max)
{
    int n = 0;
    for (size_t i = 0; i < r->count; i++) {
        int l = r->cells[i].layer, k = n;
        if (!r->cells[i].real)
            continue;
        for (int j = 0; j < n; j++)
            if (out[j] == l)
                k = -1;
        if (k < 0 || n == max)
            continue;
        while (k > 0 && out[k - 1] > l) {   /* insertion keeps them ascending */
            out[k] = out[k - 1];
            k--;
        }
        out[k] = l;
        n++;
    }
    return n;
}

/* The budgets (ascending) that have real cells: a bit mask over 0..8. */
static unsigned real_budgets(const kvq__results *r)
{
    unsigned mask = 0;
    for (size_t i = 0; i < r->count; i++)
        if (r->cells[i].real && r->cells[i].bits >= 0 && r->cells[i].bits <= 8)
            mask |= 1u << r->cells[i].bits;
    return mask;
}

/* The heat map of budget b: a panel per scheme, x = head, y = layer, colour
 * = kl (log scale, one range over the panels so they compare). */
static void heat_script(FILE *f, const kvq__results *r, int b, const char *png)
{
    int layers[256], nl = real_layers(r, layers, 256);
    double lo = INFINITY, hi = -INFINITY;
    size_t heads = 1;
    const char *file = "";
    for (size_t i = 0; i < r->count; i++) {
        const kvq__cell *c = &r->cells[i];
        if (!c->real || c->bits != b)
            continue;
        file = c->dist;
        heads = c->trials > heads ? c->trials : heads;
        for (size_t t = 0; t < c->trials; t++) {
            double v = c->per_trial[KVQ_METRIC_KL][t];
            if (v > 0 && isfinite(v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
    }
    char sch[32][80];
    int nc = 0;
    for (size_t i = 0; i < r->count; i++) {   /* the schemes of this budget, first-seen order */
        const kvq__cell *c = &r->cells[i];
        int seen = !c->real || c->bits != b;
        for (int k = 0; k < nc && !seen; k++)
            seen = !strcmp(sch[k], c->scheme);
        if (!seen && nc < 32)
            snprintf(sch[nc++], 80, "%s", c->scheme);
    }
    for (int k = 0; k < nc; k++) {
        fprintf(f, "$heat_%d_%d << EOD\n", b, k);
        for (size_t i = 0; i < r->count; i++) {
            const kvq__cell *c = &r->cells[i];
            if (!c->real || c->bits != b || strcmp(c->scheme, sch[k]))
                continue;
            int y = 0;
            while (y < nl && layers[y] != c->layer)
                y++;
            for (size_t t = 0; t < c->trials; t++) {
                double v = c->per_trial[KVQ_METRIC_KL][t];
                if (v > 0 && isfinite(v))
                    fprintf(f, "%zu %d %.9g\n", t, y, v);
                else
                    fprintf(f, "%zu %d NaN\n", t, y);
            }
            fputs("\n", f);
        }
        fputs("EOD\n", f);
    }
    int cols = nc < 3 ? nc : 3, rows = (nc + cols - 1) / cols;
    fprintf(f, "reset\nset terminal pngcairo size %d,%d noenhanced font ',9'\nset output '%s'\n",
            460 * cols, 60 + (140 + 18 * nl) * rows, png);
    fprintf(f, "set multiplot layout %d,%d title '%s: kl by layer x head at n = %d "
               "(log colour scale)'\n", rows, cols, file, b);
    fputs("set logscale cb\nset format cb '%.0e'\nset xlabel 'head'\nset ylabel 'layer'\n"
          "set palette rgbformulae 21,22,23\nset tics out\nset xtics 1\n", f);
    fprintf(f, "set xrange [-0.5:%zu.5]\nset yrange [-0.5:%d.5]\nset ytics (", heads - 1, nl - 1);
    for (int y = 0; y < nl; y++)
        fprintf(f, "%s\"%d\" %d", y ? ", " : "", layers[y], y);
    fputs(")\n", f);
    if (lo < hi)
        fprintf(f, "set cbrange [%.9g:%.9g]\n", lo, hi);
    for (int k = 0; k < nc; k++) {
        const kvq__cell *c = NULL;
        for (size_t i = 0; i < r->count && !c; i++)
            if (r->cells[i].real && r->cells[i].bits == b && !strcmp(r->cells[i].scheme, sch[k]))
                c = &r->cells[i];
        fprintf(f, "set title '%s, eff. bits K %.3g / V %.3g'\n", sch[k], c->eff_bits_k,
                c->eff_bits_v);
        fprintf(f, "plot $heat_%d_%d using 1:2:(0.5):(0.5):3 with boxxyerror fs solid noborder "
                   "fc palette notitle\n", b, k);
    }
    fputs("unset multiplot\nset output\n", f);
}

/* ---- the figures ---- */

/* A figure of plots.gp: its PNG name and how its script is written. */
typedef struct figure {
    char name[64];          /* "kl.png", "heatmap_kl_n4.png" */
    int metric, bits;       /* a line plot of metric (bits < 0), or the heat map of bits */
} figure;

/* The figures of these results: the line plots, then a heat map per budget
 * of real data. Returns their count. */
static int figures(const kvq__results *r, figure *fig, int max)
{
    int n = 0;
    for (size_t k = 0; k < sizeof plot_metrics / sizeof plot_metrics[0] && n < max; k++) {
        snprintf(fig[n].name, sizeof fig[n].name, "%s.png", kvq_metric_name(plot_metrics[k]));
        fig[n].metric = plot_metrics[k];
        fig[n++].bits = -1;
    }
    unsigned mask = real_budgets(r);
    for (int b = 0; b <= 8 && n < max; b++)
        if (mask & (1u << b)) {
            snprintf(fig[n].name, sizeof fig[n].name, "heatmap_kl_n%d.png", b);
            fig[n].metric = KVQ_METRIC_KL;
            fig[n++].bits = b;
        }
    return n;
}

/* Where gnuplot draws a figure before it is renamed into place. */
static void png_temp(char *buf, size_t len, const char *dir, const figure *fig)
{
    snprintf(buf, len, "%s/.%s.tmp", dir, fig->name);
}

/* What the plots.gp writer needs. */
typedef struct plot_args {
    const char *dir;
    const kvq__results *r;
    const figure *fig;
    int nfig;
} plot_args;

static int write_script(FILE *f, void *arg)
{
    const plot_args *a = arg;
    char ptmp[4096];
    for (int k = 0; k < a->nfig; k++) {
        png_temp(ptmp, sizeof ptmp, a->dir, &a->fig[k]);
        if (a->fig[k].bits < 0)
            script(f, a->r, a->fig[k].metric, ptmp);
        else
            heat_script(f, a->r, a->fig[k].bits, ptmp);
    }
    return 0;
}

/* Runs gnuplot on gp, then renames each tmp[i] to png[i]. Missing gnuplot is
 * a note, not an error. Returns an exit status. */
static int render(const char *gp, char (*tmp)[4096], char (*png)[4096], size_t n, int quiet)
{
    char cmd[8300];
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        if (!quiet)
            fprintf(stderr, "kvq: gnuplot not found: no PNG plots (script kept in %s)\n", gp);
        return 0;
    }
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1 >/dev/null | grep -v 'warning: .*logscale' >&2",
             gp);
    int bad = system(cmd) == -1;
    for (size_t k = 0; k < n; k++)
        if (bad || rename(tmp[k], png[k])) {
            remove(tmp[k]);
            return kvq_cli_fail(png[k], "gnuplot failed to draw the plot (script: %s)", gp);
        }
    return 0;
}

/* Writes DIR/plots.gp and runs it; PNGs appear atomically (rendered to a
 * temporary name, renamed when gnuplot succeeds). Returns an exit status. */
int kvq_plots_write(const char *dir, const kvq__results *r, int quiet)
{
    enum { MAXFIG = 16 };
    char gp[4096], png[MAXFIG][4096], ptmp[MAXFIG][4096];
    figure fig[MAXFIG];
    plot_args args = {.dir = dir, .r = r, .fig = fig, .nfig = figures(r, fig, MAXFIG)};
    snprintf(gp, sizeof gp, "%s/plots.gp", dir);
    if (kvq__write_atomic(gp, write_script, &args) != KVQ_OK)
        return kvq_cli_fail(gp, "cannot write");
    for (int k = 0; k < args.nfig; k++) {
        png_temp(ptmp[k], sizeof ptmp[k], dir, &fig[k]);
        snprintf(png[k], sizeof png[k], "%s/%s", dir, fig[k].name);
    }
    return render(gp, ptmp, png, (size_t)args.nfig, quiet);
}

/* ---- The Pareto plot ---------------------------------------------------- */

typedef struct pareto_args {
    const kvq__results *r;
    const kvq__pareto *p;
    const char *png;
} pareto_args;

/* Datablock of group g: (eff_bits, mean, lo, hi) of one scheme's cells, or of
 * the frontier when scheme is NULL. */
static void pareto_block(FILE *f, const pareto_args *a, size_t g, const char *scheme,
                         const char *name)
{
    fprintf(f, "$%s << EOD\n", name);
    for (size_t i = 0; i < a->p->count; i++) {
        const kvq__pareto_point *pt = &a->p->points[i];
        const kvq__cell *c = &a->r->cells[pt->cell];
        if (pt->group != g || (scheme ? strcmp(c->scheme, scheme) != 0 : !pt->on_frontier) ||
            !(pt->mean > 0))
            continue;
        double lo = pt->ci_lo > 0 && isfinite(pt->ci_hi) ? pt->ci_lo : pt->mean;
        double hi = pt->ci_lo > 0 && isfinite(pt->ci_hi) ? pt->ci_hi : pt->mean;
        fprintf(f, "%.9g %.9g %.9g %.9g\n", pt->eff_bits, pt->mean, lo, hi);
    }
    fputs("EOD\n", f);
}

static int write_pareto(FILE *f, void *arg)
{
    const pareto_args *a = arg;
    char sch[32][80];
    int nc = distinct(a->r, 1, sch, 32);
    size_t ng = a->p->groups, nsrc = ng / KVQ_PARETO_METRICS;
    for (size_t g = 0; g < ng; g++) {
        char name[48];
        for (int c = 0; c < nc; c++) {
            snprintf(name, sizeof name, "p_%zu_%d", g, c);
            pareto_block(f, a, g, sch[c], name);
        }
        snprintf(name, sizeof name, "p_%zu_front", g);
        pareto_block(f, a, g, NULL, name);
    }
    fprintf(f, "set terminal pngcairo size %d,%zu noenhanced font ',9'\nset output '%s'\n",
            420 * KVQ_PARETO_METRICS, 320 * (nsrc ? nsrc : 1) + 40, a->png);
    fprintf(f, "set multiplot layout %zu,%d title 'metric against effective bits (mean of K and "
               "V; 95%% bootstrap CI); circles: Pareto frontier'\n", nsrc ? nsrc : 1,
            KVQ_PARETO_METRICS);
    fputs("set logscale y\nset format y '%g'\nset xlabel 'effective bits per coordinate'\n"
          "set key top right\nset grid\nset offsets 0.1, 0.1, 0, 0\n", f);
    /* groups are metric-major; panels go source by source */
    for (size_t s = 0; s < nsrc; s++)
        for (int m = 0; m < KVQ_PARETO_METRICS; m++) {
            size_t g = (size_t)m * nsrc + s;
            const kvq__pareto_point *first = NULL;
            for (size_t i = 0; i < a->p->count && !first; i++)
                first = a->p->points[i].group == g ? &a->p->points[i] : NULL;
            const kvq__cell *c = first ? &a->r->cells[first->cell] : NULL;
            fprintf(f, "set title '%s/%s'\nset ylabel '%s'\nplot ", c ? c->dist : "",
                    c ? c->rank : "", kvq_metric_name(kvq__pareto_metrics[m]));
            for (int k = 0; k < nc; k++)
                fprintf(f, "$p_%zu_%d using 1:2:3:4 with yerrorlines lw 1.5 title '%s', ", g, k,
                        sch[k]);
            fprintf(f, "$p_%zu_front using 1:2 with points pt 6 ps 2.5 lc rgb 'black' "
                       "title 'frontier'\n", g);
        }
    fputs("unset multiplot\nset output\n", f);
    return 0;
}

/* Writes DIR/pareto.gp and renders DIR/pareto.png. Returns an exit status. */
int kvq_plots_pareto(const char *dir, const kvq__results *r, const kvq__pareto *p, int quiet)
{
    char gp[4096], png[1][4096], ptmp[1][4096];
    snprintf(gp, sizeof gp, "%s/pareto.gp", dir);
    snprintf(png[0], sizeof png[0], "%s/pareto.png", dir);
    snprintf(ptmp[0], sizeof ptmp[0], "%s/.pareto.png.tmp", dir);
    pareto_args args = {.r = r, .p = p, .png = ptmp[0]};
    if (kvq__write_atomic(gp, write_pareto, &args) != KVQ_OK)
        return kvq_cli_fail(gp, "cannot write");
    return render(gp, ptmp, png, 1, quiet);
}
