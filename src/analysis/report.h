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

#endif
