/* report.h — internal helpers of the report writers shared with the kvq
 * program (not part of the public API; hidden in libkvq). */
#ifndef KVQ_ANALYSIS_REPORT_H
#define KVQ_ANALYSIS_REPORT_H

#include <stdio.h>

/* Writes s as a JSON string literal, escaping quotes, backslashes and
 * control characters. */
void kvq__json_string(FILE *f, const char *s);

#endif
