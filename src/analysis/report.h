/* report.h — internal helpers of the report writers shared with the kvq
 * program (not part of the public API; hidden in libkvq). */
#ifndef KVQ_ANALYSIS_REPORT_H
#define KVQ_ANALYSIS_REPORT_H

#include <stdio.h>

#include "analysis/analysis.h"

/* Writes s as a JSON string literal, escaping quotes, backslashes and
 * control characters. */
void kvq__json_string(FILE *f, const char *s);

/* Writes n object members "key":"value" from a table of {key, value}
 * pairs, comma-separated; the caller writes the braces and any members
 * around them. Keys are written as they are (plain words). */
void kvq__json_strings(FILE *f, const char *const kv[][2], size_t n);

/* F3's winner table as plain text: a row per source, a column per budget,
 * the scheme with the lower k_dir_err in each (nothing for no cells). */
void kvq__report_f3_text(FILE *f, const kvq__finding *f3);

/* The Jensen finding in a few lines of text: jensen_ratio's range, the
 * superlinear / sublinear / not significant counts, and QJL's measured
 * variance over its bound (nothing for no cells). */
void kvq__report_jensen_text(FILE *f, const kvq__finding *fj);

/* Shared number and field formatting of the writers (report.c): x to 6
 * significant digits, "–" when undefined (Markdown); a CSV text field,
 * quoted when needed; a CSV number after a comma (%.17g, empty when
 * undefined). */
const char *kvq__num6(char buf[40], double x);
void kvq__csv_str(FILE *f, const char *s);
void kvq__csv_num(FILE *f, double x);

/* ---- Real data (report_real.c, doc/statistics.md §5) ---- */
/* per_head.csv: a row per head of every real-data cell: file, layer, head,
 * scheme, bits, effective bits, then every metric's value on that head. */
int kvq__report_per_head_csv(FILE *f, const kvq__results *r);
/* The heads with the highest kl of each scheme and budget (and the median
 * over heads), as text and as a Markdown section; nothing without real data. */
void kvq__report_worst_heads_text(FILE *f, const kvq__results *r);
void kvq__md_worst_heads(FILE *f, const kvq__results *r);
/* Per-head paired comparisons on kl (Markdown): for each layer, budget and
 * pair of schemes, on how many heads each is lower and the spread of the
 * per-head differences. */
void kvq__md_per_head_pairs(FILE *f, const kvq__results *r);
/* Where side information changes the winner (doc/statistics.md §4.7): the
 * winner at equal n on kl (K's effective bits) or dist6 (mean of K's and
 * V's) spends more effective bits, and the other scheme, interpolated to the
 * same effective bits, is lower. Text and Markdown. */
void kvq__report_side_info_text(FILE *f, const kvq__results *r);
void kvq__md_side_info(FILE *f, const kvq__results *r);
/* The effective bits per coordinate of a cell's scheme: the mean of K's and V's. */
double kvq__cell_eff_bits(const kvq__cell *c);

#endif
