/* scheme.c — the KV / KQV / QKQV presets at budget n and custom scheme specs
 * (doc/schemes.md); the grammar is documented at kvq_scheme_parse in kvq.h. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kvq.h"
#include "core/core.h"

static const char *const rot_names[] = {"none", "wht", "wht2", "dense"};

/* Case-insensitive equality of a NUL-terminated string and a length-n token. */
static int token_is(const char *tok, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (tolower((unsigned char)tok[i]) != tolower((unsigned char)word[i]))
            return 0;
    return i == n && word[i] == '\0';
}

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
    kvq_codec_spec s = {rot, bits, qjl, 0, 0, 32};
    return s;
}

/* Preset name KV | KQV | QKQV (case-insensitive) at budget n (1…8) */
int kvq_scheme_preset(const char *name, int n, kvq_scheme *s)
{
    static const char *const names[] = {"KV", "KQV", "QKQV"};
    int which = -1;
    for (int i = 0; name && i < 3; i++)
        if (token_is(name, strlen(name), names[i]))
            which = i;
    if (!s || which < 0)
        return KVQ_ERR_BAD_SPEC;
    if (n < 1 || n > 8)
        return KVQ_ERR_INVALID_ARG;
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", names[which]);
    s->bits = n;
    s->k = which == 0 ? make_spec(KVQ_ROT_NONE, n, 0)
         : which == 1 ? make_spec(KVQ_ROT_WHT, n, 0) : make_spec(KVQ_ROT_WHT, n - 1, 1);
    s->v = which == 0 ? make_spec(KVQ_ROT_NONE, n, 0) : make_spec(KVQ_ROT_WHT, n - 1, 1);
    return 0;
}

/* Parses a whole unsigned decimal of 1…5 digits; −1 if it is not one. */
static long parse_count(const char *t, size_t n)
{
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)t[i]))
            return -1;
        v = 10 * v + (t[i] - '0');
    }
    return v;
}

/* 1 if the token starts with the (case-insensitive) prefix. */
static int has_prefix(const char *t, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && token_is(t, k, prefix);
}

/* Parses one stage token into s; seen tracks which kinds appeared (bits 0–3). */
static int parse_stage(const char *t, size_t n, kvq_codec_spec *s, unsigned *seen, char tensor,
                       char *err, size_t errlen)
{
    long v;
    unsigned kind;
    if (has_prefix(t, n, "mse")) {
        kind = 1;
        if ((v = parse_count(t + 3, n - 3)) < 0 || v > 8)
            return fail(err, errlen, "%c: bad stage '%.*s' (MSE bits must be mse0..mse8)",
                        tensor, (int)n, t);
        s->mse_bits = (int)v;
    } else if (has_prefix(t, n, "qjl")) {
        kind = 2;
        v = n == 3 ? 0 : parse_count(t + 3, n - 3);
        if (v < 0 || (n > 3 && (v < 1 || v > 16384)))
            return fail(err, errlen, "%c: bad stage '%.*s' (QJL is qjl or qjl<m>, m = 1..16384)",
                        tensor, (int)n, t);
        s->qjl = 1;
        s->qjl_m = (int)v;
    } else if (token_is(t, n, "nc")) {
        kind = 4;
        s->norm_correct = 1;
    } else if (token_is(t, n, "nb16") || token_is(t, n, "nb32")) {
        kind = 8;
        s->norm_bits = t[2] == '1' ? 16 : 32;
    } else {
        return fail(err, errlen,
                    "%c: unknown stage '%.*s' (expected mse<b>, qjl, qjl<m>, nc, nb16 or nb32)",
                    tensor, (int)n, t);
    }
    if (*seen & kind)
        return fail(err, errlen, "%c: stage '%.*s' repeats an earlier stage", tensor, (int)n, t);
    *seen |= kind;
    return 0;
}

/* Parses "[rot:]stage(+stage)*" (length n) into s. */
static int parse_codec(const char *t, size_t n, char tensor, kvq_codec_spec *s, char *err,
                       size_t errlen)
{
    const char *colon = memchr(t, ':', n), *whole = t;
    size_t whole_n = n;
    unsigned seen = 0;
    *s = make_spec(KVQ_ROT_NONE, 0, 0);
    if (colon) {
        size_t rn = (size_t)(colon - t);
        s->rotation = -1;
        for (int i = 0; i < 4; i++)
            if (token_is(t, rn, rot_names[i]))
                s->rotation = i;
        if (s->rotation < 0)
            return fail(err, errlen,
                        "%c: unknown rotation '%.*s' (expected none, wht, wht2 or dense)",
                        tensor, (int)rn, t);
        n -= rn + 1;
        t = colon + 1;
    }
    while (1) {
        const char *plus = memchr(t, '+', n);
        size_t sn = plus ? (size_t)(plus - t) : n;
        int st = sn ? parse_stage(t, sn, s, &seen, tensor, err, errlen)
                    : fail(err, errlen, "%c: empty stage in '%.*s'", tensor, (int)whole_n, whole);
        if (st)
            return st;
        if (!plus)
            break;
        n -= sn + 1;
        t = plus + 1;
    }
    if (!(seen & 3))
        return fail(err, errlen, "%c: the codec stores nothing (add mse<b> or qjl)", tensor);
    return 0;
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

/* Writes the canonical text of a codec spec ("wht:mse3+qjl") into buf. */
void kvq_codec_spec_format(const kvq_codec_spec *s, char *buf, size_t len)
{
    char qjl[16] = "";
    const char *rot = s->rotation >= 0 && s->rotation <= 3 ? rot_names[s->rotation] : "?";
    if (s->qjl && s->qjl_m)
        snprintf(qjl, sizeof qjl, "+qjl%d", s->qjl_m);
    else if (s->qjl)
        snprintf(qjl, sizeof qjl, "+qjl");
    snprintf(buf, len, "%s:mse%d%s%s%s", rot, s->mse_bits, qjl, s->norm_correct ? "+nc" : "",
             s->norm_bits == 16 ? "+nb16" : "");
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
    char kb[28], vb[28];   /* longest: "dense:mse8+qjl16384+nc+nb16" */
    kvq_codec_spec_format(&s->k, kb, sizeof kb);
    kvq_codec_spec_format(&s->v, vb, sizeof vb);
    snprintf(s->name, sizeof s->name, "k=%s,v=%s", kb, vb);
    s->bits = 0;
    return 0;
}

/* Parses a preset name (then n is used) or a custom spec. */
int kvq_scheme_parse(const char *text, int n, kvq_scheme *s, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!s)
        return KVQ_ERR_INVALID_ARG;
    if (!text || !*text)
        return fail(err, errlen, "empty scheme spec");
    if (!strchr(text, '=')) {
        int st = kvq_scheme_preset(text, n, s);
        if (st == KVQ_ERR_BAD_SPEC)
            return fail(err, errlen,
                        "unknown scheme '%s' (expected KV, KQV, QKQV or k=<codec>,v=<codec>)",
                        text);
        if (st == KVQ_ERR_INVALID_ARG)
            fail(err, errlen, "budget %d is out of range 1..8 for scheme %s", n, text);
        return st;
    }
    memset(s, 0, sizeof *s);
    return parse_custom(text, s, err, errlen);
}
