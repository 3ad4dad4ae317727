/* scheme.c — the KV / KQV / QKQV presets at budget n and custom scheme specs
 * (doc/schemes.md); the grammar is documented at kvq_scheme_parse in kvq.h. The
 * tokens are the stages' own (core/stage.h): this file only splits the text
 * and asks each stage of the table in turn. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kvq.h"
#include "core/core.h"
#include "core/stage.h"

/* Writes a formatted one-line reason into err; returns KVQ_ERR_BAD_SPEC. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return KVQ_ERR_BAD_SPEC;
}

/* A codec spec with the given rotation, MSE bits and QJL (m = dim, 32-bit norms). */
static kvq_codec_spec make_spec(int rot, int bits, int qjl)
{
    kvq_codec_spec s = {.rotation = rot, .mse_bits = bits, .qjl = qjl, .norm_bits = 32};
    return s;
}

int kvq_scheme_preset(const char *name, int n, kvq_scheme *s)
{
    return kvq__scheme_preset_kv(name, n, n, s);
}

/* The spec of tensor `v` (0 = K, 1 = V) of preset `which` at budget n. */
static kvq_codec_spec preset_codec(int which, int v, int n)
{
    if (which == 0)
        return make_spec(KVQ_ROT_NONE, n, 0);
    if (which == 1 && !v)
        return make_spec(KVQ_ROT_WHT, n, 0);
    return make_spec(KVQ_ROT_WHT, n - 1, 1);
}

/* A preset with K at bk and V at bv bits (doc/schemes.md §2.1). */
int kvq__scheme_preset_kv(const char *name, int bk, int bv, kvq_scheme *s)
{
    static const char *const names[] = {"KV", "KQV", "QKQV"};
    int which = -1;
    for (int i = 0; name && i < 3; i++)
        if (kvq__stage_token_is(name, strlen(name), names[i]))
            which = i;
    if (!s || which < 0)
        return KVQ_ERR_BAD_SPEC;
    if (bk < 1 || bk > 8 || bv < 1 || bv > 8)
        return KVQ_ERR_INVALID_ARG;
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", names[which]);
    s->bits = bk == bv ? bk : 0;
    s->bits_k = bk;
    s->bits_v = bv;
    s->k = preset_codec(which, 0, bk);
    s->v = preset_codec(which, 1, bv);
    return 0;
}

/* The forms of the stages selected by flags (all of them when want is 0,
 * prefix stages excluded unless asked for) as "a, b, c or d". */
static void list_forms(unsigned want, int first_only, char *buf, size_t len)
{
    const char *forms[32];
    size_t n = 0, used = 0;
    for (size_t i = 0; i < kvq__stage_count; i++) {
        const kvq__stage_def *d = kvq__stages[i];
        int prefix = (d->flags & KVQ_STAGE_PREFIX) != 0;
        if (want ? (d->flags & want) != want : prefix)
            continue;
        for (int f = 0; d->forms[f] && n < 32 && !(first_only && f > 0); f++)
            forms[n++] = d->forms[f];
    }
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + used, len - used, "%s%s", sep, forms[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* Parses one stage token into s through the first stage of the table that
 * claims it; seen and stores track the stages met so far. */
static int parse_stage(const char *t, size_t n, kvq_codec_spec *s, unsigned *seen, int *stores,
                       char tensor, char *err, size_t errlen)
{
    for (size_t i = 0; i < kvq__stage_count; i++) {
        const kvq__stage_def *d = kvq__stages[i];
        const char *why = "";
        if (d->flags & KVQ_STAGE_PREFIX)
            continue;
        int st = d->parse(t, n, s, &why);
        if (st == KVQ_STAGE_NOMATCH)
            continue;
        if (st)
            return fail(err, errlen, "%c: bad stage '%.*s' (%s)", tensor, (int)n, t, why);
        if (*seen & (1u << i))
            return fail(err, errlen, "%c: stage '%.*s' repeats an earlier stage", tensor,
                        (int)n, t);
        *seen |= 1u << i;
        *stores |= (d->flags & KVQ_STAGE_STORES) != 0;
        return 0;
    }
    char forms[160];
    list_forms(0, 0, forms, sizeof forms);
    return fail(err, errlen, "%c: unknown stage '%.*s' (expected %s)", tensor, (int)n, t, forms);
}

/* Parses the "rot:" prefix (length n) through the table's prefix stage. */
static int parse_prefix(const char *t, size_t n, kvq_codec_spec *s, char tensor, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < kvq__stage_count; i++) {
        const kvq__stage_def *d = kvq__stages[i];
        const char *why = "";
        if (!(d->flags & KVQ_STAGE_PREFIX))
            continue;
        int st = d->parse(t, n, s, &why);
        if (st == 0)
            return 0;
        char forms[80];
        list_forms(KVQ_STAGE_PREFIX, 0, forms, sizeof forms);
        return fail(err, errlen, "%c: unknown %s '%.*s' (expected %s)", tensor, d->name, (int)n,
                    t, forms);
    }
    return fail(err, errlen, "%c: unexpected ':' in '%.*s'", tensor, (int)n, t);
}

/* Parses "[rot:]stage(+stage)*" (length n) into s. */
static int parse_codec(const char *t, size_t n, char tensor, kvq_codec_spec *s, char *err,
                       size_t errlen)
{
    const char *colon = memchr(t, ':', n), *whole = t;
    size_t whole_n = n;
    unsigned seen = 0;
    int stores = 0;
    *s = make_spec(KVQ_ROT_NONE, 0, 0);
    if (colon) {
        size_t rn = (size_t)(colon - t);
        int st = parse_prefix(t, rn, s, tensor, err, errlen);
        if (st)
            return st;
        n -= rn + 1;
        t = colon + 1;
    }
    while (1) {
        const char *plus = memchr(t, '+', n);
        size_t sn = plus ? (size_t)(plus - t) : n;
        int st = sn ? parse_stage(t, sn, s, &seen, &stores, tensor, err, errlen)
                    : fail(err, errlen, "%c: empty stage in '%.*s'", tensor, (int)whole_n, whole);
        if (st)
            return st;
        if (!plus)
            break;
        n -= sn + 1;
        t = plus + 1;
    }
    if (!stores) {
        char forms[80];
        list_forms(KVQ_STAGE_STORES, 1, forms, sizeof forms);
        return fail(err, errlen, "%c: the codec stores nothing (add %s)", tensor, forms);
    }
    const char *rule = kvq__format_rule(s, 0);
    return rule ? fail(err, errlen, "%c: '%.*s': %s", tensor, (int)whole_n, whole, rule) : 0;
}

/* Parses one "k=…" or "v=…" part (length n); have tracks k (1) and v (2). */
static int parse_part(const char *t, size_t n, kvq_scheme *s, unsigned *have, char *err,
                      size_t errlen)
{
    char which = n >= 2 && t[1] == '=' ? (char)tolower((unsigned char)t[0]) : 0;
    if (n == 0)
        return fail(err, errlen, "empty part (stray ',')");
    if (which != 'k' && which != 'v')
        return fail(err, errlen, "bad part '%.*s' (expected k=<codec> or v=<codec>)", (int)n, t);
    unsigned bit = which == 'k' ? 1u : 2u;
    if (*have & bit)
        return fail(err, errlen, "%c= given twice", which);
    *have |= bit;
    if (n == 2)
        return fail(err, errlen, "%c: empty codec", which);
    return parse_codec(t + 2, n - 2, which, which == 'k' ? &s->k : &s->v, err, errlen);
}

/* Writes the canonical text of a codec spec ("wht:mse3+qjl") into buf: each
 * stage's token in table order, the prefix stage before ':'. */
void kvq_codec_spec_format(const kvq_codec_spec *s, char *buf, size_t len)
{
    size_t used = 0;
    int joined = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < kvq__stage_count && used < len; i++) {
        const kvq__stage_def *d = kvq__stages[i];
        char tok[32];
        d->format(s, tok, sizeof tok);
        if (!tok[0])
            continue;
        int prefix = (d->flags & KVQ_STAGE_PREFIX) != 0;
        int w = snprintf(buf + used, len - used, "%s%s%s", !prefix && joined++ ? "+" : "", tok,
                         prefix ? ":" : "");
        used += w > 0 ? (size_t)w : 0;
    }
}

/* Parses a custom spec "k=…,v=…" into s. */
static int parse_custom(const char *text, kvq_scheme *s, char *err, size_t errlen)
{
    unsigned have = 0;
    const char *t = text;
    size_t n = strlen(text);
    while (1) {
        const char *comma = memchr(t, ',', n);
        size_t pn = comma ? (size_t)(comma - t) : n;
        int st = parse_part(t, pn, s, &have, err, errlen);
        if (st)
            return st;
        if (!comma)
            break;
        n -= pn + 1;
        t = comma + 1;
    }
    if (have != 3)
        return fail(err, errlen, "missing %s= codec", have & 1 ? "v" : "k");
    char kb[30], vb[30];   /* longest: "dense:mse8+qjl16384+eden+nb16" (name[] holds two) */
    kvq_codec_spec_format(&s->k, kb, sizeof kb);
    kvq_codec_spec_format(&s->v, vb, sizeof vb);
    snprintf(s->name, sizeof s->name, "k=%s,v=%s", kb, vb);
    s->bits = 0;
    return 0;
}

/* A deployed format's name alone ("q4_0"): that format on K and V, no
 * budget n (the format fixes its bits). KVQ_STAGE_NOMATCH when text names
 * no format. */
static int parse_format_scheme(const char *text, kvq_scheme *s, char *err, size_t errlen)
{
    kvq_codec_spec f = make_spec(KVQ_ROT_NONE, 0, 0);
    const char *why = "";
    int st = kvq__stage_format.parse(text, strlen(text), &f, &why);
    if (st == KVQ_STAGE_NOMATCH)
        return st;
    if (st)
        return fail(err, errlen, "scheme '%s': %s", text, why);
    memset(s, 0, sizeof *s);
    s->k = s->v = f;
    kvq_codec_spec_format(&f, s->name, sizeof s->name);
    return 0;
}

int kvq_scheme_parse(const char *text, int n, kvq_scheme *s, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!s)
        return KVQ_ERR_INVALID_ARG;
    if (!text || !*text)
        return fail(err, errlen, "empty scheme spec");
    if (!strchr(text, '=')) {
        int st = parse_format_scheme(text, s, err, errlen);
        if (st != KVQ_STAGE_NOMATCH)
            return st;
        st = kvq_scheme_preset(text, n, s);
        if (st == KVQ_ERR_BAD_SPEC) {
            char names[120] = "";
            for (int i = 0; kvq__stage_format.forms[i]; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         i ? ", " : "", kvq__stage_format.forms[i]);
            return fail(err, errlen,
                        "unknown scheme '%s' (expected KV, KQV, QKQV, a format: %s, or "
                        "k=<codec>,v=<codec>)", text, names);
        }
        if (st == KVQ_ERR_INVALID_ARG)
            fail(err, errlen, "budget %d is out of range 1..8 for scheme %s", n, text);
        return st;
    }
    memset(s, 0, sizeof *s);
    return parse_custom(text, s, err, errlen);
}
