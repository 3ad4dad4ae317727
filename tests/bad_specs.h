/* bad_specs.h — the shared check of tests that feed malformed scheme texts to
 * kvq_scheme_parse: each must be refused with KVQ_ERR_BAD_SPEC and one line
 * that contains an expected part (the bad token, or the rule). */
#ifndef KVQ_BAD_SPECS_H
#define KVQ_BAD_SPECS_H

#include <string.h>

#include "kvq.h"
#include "tap.h"

typedef struct bad_spec {
    const char *text, *why;     /* why: a part the message must contain */
} bad_spec;

/* How many of the n cases are not refused that way (each one diagnosed). */
static inline int bad_specs_accepted(const bad_spec *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        kvq_scheme s;
        char err[256] = "";
        int st = kvq_scheme_parse(cases[i].text, 4, &s, err, sizeof err);
        int good = st == KVQ_ERR_BAD_SPEC && strstr(err, cases[i].why) && !strchr(err, '\n');
        if (!good)
            diag("'%s': status %d, message '%s'", cases[i].text, st, err);
        bad += !good;
    }
    return bad;
}

#endif
