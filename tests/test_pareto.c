/* test_pareto.c — the Pareto view (doc/statistics.md §6) on hand-made cells
 * whose answer is known by construction: per trial, value = base_t +
 * offset·(1 + 0.05 z_t) with base_t shared by every cell of a source (so
 * comparisons are paired) and equal offsets giving equal values (a sure tie).
 *
 *   cell  eff. bits  kl offset   expected
 *   A     2.25       1.0         beaten by F (same bits, lower)
 *   B     2.375      2.0         beaten (A and F are cheaper and lower)
 *   F     2.25       0.7         frontier
 *   C     3.25       0.5         frontier
 *   E     3.375      0.8         beaten by C
 *   D     3.5        0.5         frontier: ties C (equal values), so unbeaten
 *
 * out_rel_err is equal everywhere (everything on the frontier: ties), and
 * k_dir_err decreases with bits (everything on the frontier). The cells of a
 * second source form their own groups. The "beyond the paper" rows
 * (doc/statistics.md §7) come from the t3 copy of the same cells. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define SEED 99u
#define T 20

typedef struct spec {
    const char *name;
    int bits;
    double eff_k, eff_v, kl;
} spec;

static const spec cells[] = {
    {"A", 2, 2.25, 2.25, 1.0}, {"B", 2, 2.25, 2.5, 2.0}, {"F", 2, 2.0, 2.5, 0.7},
    {"C", 3, 3.25, 3.25, 0.5}, {"E", 3, 3.25, 3.5, 0.8}, {"D", 3, 3.5, 3.5, 0.5},
};
enum { NC = sizeof cells / sizeof cells[0] };

static void add(kvq__results *r, const spec *s, const char *dist)
{
    kvq__cell c = {.bits = s->bits, .dim = 64, .keys = 128, .queries = 8, .sharpness = 1,
                   .trials = T, .eff_bits_k = s->eff_k, .eff_bits_v = s->eff_v};
    double v[KVQ_METRIC_COUNT][T];
    kvq__rng rb, rz;
    snprintf(c.scheme, sizeof c.scheme, "%s", s->name);
    snprintf(c.dist, sizeof c.dist, "%s", dist);
    snprintf(c.rank, sizeof c.rank, "full");
    kvq__rng_init(&rb, SEED, KVQ_RNG_TEST, dist[0]);                 /* shared per source */
    kvq__rng_init(&rz, SEED, KVQ_RNG_TEST, 1000u + (uint32_t)s->name[0]);  /* per cell */
    for (int t = 0; t < T; t++) {
        double b = 0.3 * kvq__rng_normal(&rb), z = 1 + 0.05 * kvq__rng_normal(&rz);
        for (int m = 0; m < KVQ_METRIC_COUNT; m++)
            v[m][t] = 5 + b;
        v[KVQ_METRIC_KL][t] = 5 + b + s->kl * (s->name[0] == 'D' ? 1.0 : z);
        if (s->name[0] == 'C')
            v[KVQ_METRIC_KL][t] = 5 + b + s->kl;   /* C and D: exactly equal */
        v[KVQ_METRIC_K_DIR_ERR][t] = 5 + b + (4 - (s->eff_k + s->eff_v) / 2) * z;
    }
    for (int m = 0; m < KVQ_METRIC_COUNT; m++)
        c.per_trial[m] = v[m];
    kvq__results_add(r, &c, NULL);
}

/* The point of cell `name` of source `dist` under metric. */
static const kvq__pareto_point *point(const kvq__results *r, const kvq__pareto *p, int metric,
                                      const char *name, const char *dist)
{
    for (size_t i = 0; i < p->count; i++) {
        const kvq__cell *c = &r->cells[p->points[i].cell];
        if (p->points[i].metric == metric && !strcmp(c->scheme, name) && !strcmp(c->dist, dist))
            return &p->points[i];
    }
    return NULL;
}

int main(void)
{
    kvq__results *r;
    kvq__pareto *p = NULL;
    plan(10);
    kvq__results_create(&r, SEED);
    for (int i = 0; i < NC; i++)
        add(r, &cells[i], "gauss");
    for (int i = 0; i < NC; i++)
        add(r, &cells[i], "t3");
    int st = kvq__results_summarize(r);
    if (!st)
        st = kvq__pareto_compute(r, SEED, &p);
    ok(st == 0 && p->count == 3 * 2 * NC && p->groups == 6,
       "one point per cell and metric, one group per metric and source");

    static const char expect[] = "frontier: F C D; beaten: A B E";
    char got[64] = "frontier:", off[32] = "; beaten:";
    int sorted = 1;
    for (size_t i = 0; st == 0 && i < p->count; i++) {
        const kvq__pareto_point *pt = &p->points[i];
        const kvq__cell *c = &r->cells[pt->cell];
        if (pt->metric != KVQ_METRIC_KL || strcmp(c->dist, "gauss"))
            continue;
        char *dst = pt->on_frontier ? got : off;
        size_t len = strlen(dst), cap = pt->on_frontier ? sizeof got : sizeof off;
        snprintf(dst + len, cap - len, " %s", c->scheme);
        sorted &= i == 0 || p->points[i - 1].group != pt->group ||
                  p->points[i - 1].eff_bits <= pt->eff_bits;
    }
    strncat(got, off, sizeof got - strlen(got) - 1);
    ok(st == 0 && strcmp(got, "frontier: F C D; beaten: A B E") == 0,
       "kl frontier by construction ('%s', expected '%s')", got, expect);
    ok(sorted, "points sorted by effective bits within a group");
    const kvq__pareto_point *a = point(r, p, KVQ_METRIC_KL, "A", "gauss");
    const kvq__pareto_point *e = point(r, p, KVQ_METRIC_KL, "E", "t3");
    const char *eb = e && e->beaten_by != KVQ_PARETO_NONE ? r->cells[e->beaten_by].scheme : "";
    ok(a && e && a->beaten_by != KVQ_PARETO_NONE && !strcmp(r->cells[a->beaten_by].scheme, "F") &&
       (!strcmp(eb, "C") || !strcmp(eb, "F")),
       "beaten_by names a cheaper winner (A by F at equal bits; E by %s)", eb);

    int all_ties = 1, all_desc = 1;
    for (size_t i = 0; st == 0 && i < p->count; i++) {
        all_ties &= p->points[i].metric != KVQ_METRIC_OUT_REL_ERR || p->points[i].on_frontier;
        all_desc &= p->points[i].metric != KVQ_METRIC_K_DIR_ERR || p->points[i].on_frontier;
    }
    ok(all_ties, "equal values everywhere: every cell on the out_rel_err frontier (ties)");
    ok(all_desc, "error falling with bits: every cell on the k_dir_err frontier");

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int wst = f ? kvq__report_pareto_csv(f, r, p) : -1;
    if (f)
        fclose(f);
    int rows = 0, bad_cols = 0;
    for (char *l = buf; wst == 0 && l && *l; rows++) {
        char *nl = strchr(l, '\n');
        int commas = 0;
        for (char *c = l; c < (nl ? nl : l + strlen(l)); c++)
            commas += *c == ',';
        bad_cols += commas != 10;
        l = nl ? nl + 1 : NULL;
    }
    ok(wst == 0 && rows == 1 + 3 * 2 * NC && bad_cols == 0 && strstr(buf, "\r\nkl,gauss,full,A,2,"
       "2.25,") && strstr(buf, ",0,F@2\r\n"), "pareto.csv: header and one 11-column row per point");
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    wst = f ? kvq__report_pareto_text(f, r, p) : -1;
    if (f)
        fclose(f);
    char *sec = wst == 0 ? strstr(buf, "  kl on gauss/full:\n") : NULL, *end = NULL;
    if (sec && (end = strstr(sec + 1, "  kl on t3/full:\n")))
        *end = '\0';   /* the kl section of gauss alone */
    ok(end && !strncmp(sec + 20, "    F@2 ", 8) && strstr(sec, "    C@3 ") &&
       strstr(sec, "    D@3 ") && !strstr(sec, "A@2") && !strstr(sec, "B@2") && !strstr(sec, "E@3"),
       "the text frontier lists the undominated cells only");
    free(buf);
    /* beyond the paper: t3 only (gauss is not covered); under 3 bits F beats
     * the runner-up A; under 4 bits C and D are equal: a tie */
    kvq__beyond *bb = NULL;
    int bst = kvq__beyond_compute(r, SEED, &bb);
    const kvq__beyond_row *r2 = NULL, *r3 = NULL;
    int only_t3 = 1;
    for (size_t i = 0; bst == 0 && i < bb->count; i++) {
        const kvq__beyond_row *w = &bb->rows[i];
        only_t3 &= strcmp(r->cells[w->best].dist, "t3") == 0;
        if (w->metric == KVQ_METRIC_KL && w->budget == 2)
            r2 = w;
        if (w->metric == KVQ_METRIC_KL && w->budget == 3)
            r3 = w;
    }
    ok(bst == 0 && only_t3 && bb->count == 4 && r2 && r3, "beyond: kl and out_rel_err rows at "
       "budgets 2 and 3 of the t3 source only (%zu rows)", bst == 0 ? bb->count : 0);
    ok(r2 && r3 && !strcmp(r->cells[r2->best].scheme, "F") &&
       !strcmp(r->cells[r2->second].scheme, "A") && r2->vs_second.verdict < 0 &&
       !strcmp(r->cells[r3->best].scheme, "C") && r3->vs_second.verdict == 0,
       "beyond: F is best under 3 bits (beats A); under 4 bits C ties D");
    kvq__beyond_free(bb);
    kvq__pareto_free(p);
    kvq__results_free(r);
    return exit_status();
}
