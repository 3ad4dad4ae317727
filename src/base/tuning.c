/* tuning.c — CLBlast tuning parameters per device: the tuners' JSON, the
 * cache file and its place (doc/scaling.md §7). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/tuning.h"

#define CACHE_MAGIC "kvq-clblast-tune 1"
#define JSON_DEPTH 8

/* The kernels of kvq's GEMM path: CLBlastSgemm runs XgemmDirect on small
 * problems and Xgemm on large ones, whose operands the helper kernels copy,
 * pad and transpose first. CLBlast 1.5.3's GEMM tuners first test a fixed
 * set (46 configurations for XgemmDirect, 578 for Xgemm, twice) however
 * small the fraction, and walk fixed/fraction candidates to pick them, so
 * too small a fraction costs minutes of skipping; their random phases
 * sample fraction × 2.8 M (XgemmDirect) or × some 0.66 M (Xgemm) candidates
 * before constraints. The helpers have one phase over 720 (Copy), 1 620
 * (Pad), 9 600 (Transpose) and 760 (Padtranspose) configurations. */
static const kvq__tune_kind kinds[] = {
    {"XgemmDirect", "clblast_tuner_xgemm_direct", "xgemm_direct", 1, 1e-4},
    {"Xgemm", "clblast_tuner_xgemm", "xgemm", 1, 2e-4},
    {"Copy", "clblast_tuner_copy_fast", "copy", 0, 0.02},
    {"Pad", "clblast_tuner_copy_pad", "pad", 0, 0.01},
    {"Transpose", "clblast_tuner_transpose_fast", "transpose", 0, 0.002},
    {"Padtranspose", "clblast_tuner_transpose_pad", "padtranspose", 0, 0.02},
};

const kvq__tune_kind *kvq__tune_kinds(size_t *n)
{
    *n = sizeof kinds / sizeof kinds[0];
    return kinds;
}

const kvq__tune_kind *kvq__tune_kind_of(const char *kernel)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].kernel, kernel))
            return &kinds[i];
    return NULL;
}

/* A family is the prefix alone or followed by "_<digits>" (the tuner's variant). */
const kvq__tune_kind *kvq__tune_kind_of_family(const char *family)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].family);
        if (strncmp(family, kinds[i].family, n))
            continue;
        const char *rest = family + n;
        if (!*rest)
            return &kinds[i];
        if (*rest == '_' && rest[1] && strspn(rest + 1, "0123456789") == strlen(rest + 1))
            return &kinds[i];
    }
    return NULL;
}

/* Formats the reason into err; returns -1. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A whole decimal in [0, max] of exactly len bytes; -1 if not. */
static long long parse_uint(const char *s, size_t len, long long max)
{
    long long v = 0;
    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* A parameter name: an upper-case letter, then upper-case letters, digits
 * or '_', shorter than KVQ__TUNE_NAME. */
static int valid_name(const char *s, size_t len)
{
    if (len == 0 || len >= KVQ__TUNE_NAME || s[0] < 'A' || s[0] > 'Z')
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* Parses "NAME=VALUE NAME=VALUE ..." (single spaces) into k; keep_precision
 * 0 drops a PRECISION item, which must then say 32. */
static int parse_params(const char *s, size_t len, kvq__tune_kernel *k, int keep_precision,
                        char *err, size_t errlen)
{
    size_t i = 0;
    k->nparams = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != ' ')
            end++;
        const char *eq = memchr(s + i, '=', end - i);
        if (!eq || !valid_name(s + i, (size_t)(eq - s) - i))
            return fail(err, errlen, "parameter '%.*s' is not NAME=VALUE with an upper-case NAME",
                        (int)(end - i > 40 ? 40 : end - i), s + i);
        size_t nlen = (size_t)(eq - s) - i;
        long long v = parse_uint(eq + 1, end - (size_t)(eq - s) - 1, KVQ__TUNE_MAX_VALUE);
        if (v < 0)
            return fail(err, errlen, "parameter %.*s: value is not a whole number 0..%d",
                        (int)nlen, s + i, KVQ__TUNE_MAX_VALUE);
        if (!keep_precision && nlen == 9 && !memcmp(s + i, "PRECISION", 9)) {
            if (v != 32)
                return fail(err, errlen, "PRECISION=%lld: only fp32 (32) is tuned", v);
        } else {
            for (size_t j = 0; j < k->nparams; j++)
                if (strlen(k->name[j]) == nlen && !memcmp(k->name[j], s + i, nlen))
                    return fail(err, errlen, "parameter %.*s given twice", (int)nlen, s + i);
            if (k->nparams == KVQ__TUNE_PARAMS)
                return fail(err, errlen, "more than %d parameters", KVQ__TUNE_PARAMS);
            memcpy(k->name[k->nparams], s + i, nlen);
            k->name[k->nparams][nlen] = '\0';
            k->value[k->nparams++] = (size_t)v;
        }
        if (end < len && (end + 1 == len || s[end + 1] == ' '))
            return fail(err, errlen, "parameters must be separated by single spaces");
        i = end + (end < len);
    }
    if (k->nparams == 0)
        return fail(err, errlen, "no parameters");
    return 0;
}

/* ---- the tuner's JSON ------------------------------------------------------
 * A strict reader of RFC 8259 JSON that keeps only the top-level string
 * members kvq needs and skips (while still checking) everything else. */

typedef struct json {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
} json;

static void ws(json *j)
{
    while (j->pos < j->len && strchr(" \t\r\n", j->s[j->pos]) && j->s[j->pos])
        j->pos++;
}

static int jfail(json *j, const char *what)
{
    return fail(j->err, j->errlen, "JSON byte %zu: %s", j->pos, what);
}

/* A string at pos; start and slen get its raw bytes between the quotes, plain
 * whether it has no escapes. */
static int jstring(json *j, size_t *start, size_t *slen, int *plain)
{
    if (j->pos >= j->len || j->s[j->pos] != '"')
        return jfail(j, "expected a string");
    *start = ++j->pos;
    *plain = 1;
    while (j->pos < j->len && j->s[j->pos] != '"') {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c < 0x20)
            return jfail(j, "control character in a string");
        if (c == '\\') {
            *plain = 0;
            if (++j->pos >= j->len)
                break;
            char e = j->s[j->pos];
            if (e == 'u') {
                for (int h = 1; h <= 4; h++)
                    if (j->pos + (size_t)h >= j->len || !strchr("0123456789abcdefABCDEF",
                                                               j->s[j->pos + (size_t)h]) ||
                        !j->s[j->pos + (size_t)h])
                        return jfail(j, "bad \\u escape");
                j->pos += 4;
            } else if (!strchr("\"\\/bfnrt", e) || !e)
                return jfail(j, "bad escape");
        }
        j->pos++;
    }
    if (j->pos >= j->len)
        return jfail(j, "unterminated string");
    *slen = j->pos - *start;
    j->pos++;
    return 0;
}

static int jnumber(json *j)
{
    size_t p = j->pos;
    const char *s = j->s;
    if (p < j->len && s[p] == '-')
        p++;
    if (p < j->len && s[p] == '0')
        p++;
    else if (p < j->len && s[p] >= '1' && s[p] <= '9')
        while (p < j->len && s[p] >= '0' && s[p] <= '9')
            p++;
    else
        return jfail(j, "expected a value");
    if (p < j->len && s[p] == '.') {
        if (++p >= j->len || s[p] < '0' || s[p] > '9')
            return jfail(j, "bad number");
        while (p < j->len && s[p] >= '0' && s[p] <= '9')
            p++;
    }
    if (p < j->len && (s[p] == 'e' || s[p] == 'E')) {
        if (++p < j->len && (s[p] == '+' || s[p] == '-'))
            p++;
        if (p >= j->len || s[p] < '0' || s[p] > '9')
            return jfail(j, "bad number");
        while (p < j->len && s[p] >= '0' && s[p] <= '9')
            p++;
    }
    j->pos = p;
    return 0;
}

static int jvalue(json *j, int depth);

/* Reads one member's value of an object (its key at key, keylen bytes). */
typedef int (*jmember)(json *j, size_t key, size_t keylen, void *arg, int depth);

static int skip_member(json *j, size_t key, size_t keylen, void *arg, int depth)
{
    (void)key, (void)keylen, (void)arg;
    return jvalue(j, depth);
}

/* An object or array at pos (the opening bracket); each member's value
 * goes to member (objects) or is checked and skipped (arrays). */
static int jcompound(json *j, int depth, jmember member, void *arg)
{
    char close = j->s[j->pos] == '{' ? '}' : ']';
    size_t a, b;
    int plain;
    if (depth >= JSON_DEPTH)
        return jfail(j, "nested too deeply");
    j->pos++;
    ws(j);
    if (j->pos < j->len && j->s[j->pos] == close) {
        j->pos++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (jstring(j, &a, &b, &plain))
                return -1;
            ws(j);
            if (j->pos >= j->len || j->s[j->pos] != ':')
                return jfail(j, "expected ':'");
            j->pos++;
            ws(j);
            if (member(j, a, b, arg, depth + 1))
                return -1;
        } else if (jvalue(j, depth + 1))
            return -1;
        ws(j);
        if (j->pos < j->len && j->s[j->pos] == ',') {
            j->pos++;
            ws(j);
            continue;
        }
        if (j->pos < j->len && j->s[j->pos] == close) {
            j->pos++;
            return 0;
        }
        return jfail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jvalue(json *j, int depth)
{
    static const char *const words[] = {"true", "false", "null"};
    size_t a, b;
    int plain;
    if (j->pos >= j->len)
        return jfail(j, "expected a value");
    char c = j->s[j->pos];
    if (c == '"')
        return jstring(j, &a, &b, &plain);
    if (c == '{' || c == '[')
        return jcompound(j, depth, skip_member, NULL);
    for (size_t w = 0; w < 3; w++) {
        size_t n = strlen(words[w]);
        if (j->len - j->pos >= n && !memcmp(j->s + j->pos, words[w], n)) {
            j->pos += n;
            return 0;
        }
    }
    return jnumber(j);
}

/* The top-level members the tuner output must or may have. */
enum { F_FAMILY, F_PRECISION, F_TIME, F_PARAMS, F_M, F_N, F_K, F_COUNT };
static const char *const fields[F_COUNT] = {"kernel_family", "precision", "best_time",
                                            "best_parameters", "arg_m", "arg_n", "arg_k"};

typedef struct span {
    size_t start, len;
    int seen;
} span;

/* A top-level member: the string value of one of fields is recorded (once
 * only, without escapes); any other value is checked and skipped. */
static int top_member(json *j, size_t key, size_t keylen, void *arg, int depth)
{
    span *f = arg;
    int plain, which = -1;
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(fields[i]) == keylen && !memcmp(fields[i], j->s + key, keylen))
            which = i;
    if (which < 0)
        return jvalue(j, depth);
    if (f[which].seen)
        return jfail(j, "a member given twice");
    if (jstring(j, &f[which].start, &f[which].len, &plain))
        return fail(j->err, j->errlen, "\"%s\" is not a string", fields[which]);
    if (!plain)
        return fail(j->err, j->errlen, "\"%s\" has escapes", fields[which]);
    f[which].seen = 1;
    return 0;
}

/* The whole input: one object, nothing after it but white space. */
static int jtop(json *j, span *f)
{
    ws(j);
    if (j->pos >= j->len || j->s[j->pos] != '{')
        return jfail(j, "the tuner output is not a JSON object");
    if (jcompound(j, 0, top_member, f))
        return -1;
    ws(j);
    if (j->pos != j->len)
        return jfail(j, "text after the object");
    return 0;
}

/* A positive time in milliseconds, as the tuner prints it ("0.08"). */
static int parse_ms(const char *s, size_t len, double *out)
{
    char buf[32];
    char *end;
    if (len == 0 || len >= sizeof buf)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
            return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    double v = strtod(buf, &end);
    if (*end || !(v > 0) || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int kvq__tune_parse_tuner(const char *text, size_t len, kvq__tune_kernel *out, char *err,
                          size_t errlen)
{
    span f[F_COUNT] = {{0}};
    json j = {text, len, 0, err, errlen};
    char family[40];
    size_t *sizes[3] = {&out->m, &out->n, &out->k};

    memset(out, 0, sizeof *out);
    if (len > KVQ__TUNE_TUNER_BYTES)
        return fail(err, errlen, "larger than %d bytes", KVQ__TUNE_TUNER_BYTES);
    if (jtop(&j, f))
        return -1;
    for (int i = F_FAMILY; i <= F_PARAMS; i++)
        if (!f[i].seen)
            return fail(err, errlen, "no \"%s\" member", fields[i]);
    if (f[F_FAMILY].len >= sizeof family)
        return fail(err, errlen, "kernel_family is too long");
    memcpy(family, text + f[F_FAMILY].start, f[F_FAMILY].len);
    family[f[F_FAMILY].len] = '\0';
    if (!(out->kind = kvq__tune_kind_of_family(family)))
        return fail(err, errlen, "kernel_family '%s' is not a kernel kvq tunes", family);
    if (f[F_PRECISION].len != 2 || memcmp(text + f[F_PRECISION].start, "32", 2))
        return fail(err, errlen, "precision is not 32 (kvq tunes fp32 only)");
    if (parse_ms(text + f[F_TIME].start, f[F_TIME].len, &out->best_ms))
        return fail(err, errlen, "best_time is not a positive number of milliseconds");
    for (int i = 0; i < 3; i++) {
        if (!f[F_M + i].seen)
            continue;
        long long v = parse_uint(text + f[F_M + i].start, f[F_M + i].len, 1 << 24);
        if (v <= 0)
            return fail(err, errlen, "%s is not a positive whole number", fields[F_M + i]);
        *sizes[i] = (size_t)v;
    }
    char why[160];
    if (parse_params(text + f[F_PARAMS].start, f[F_PARAMS].len, out, 0, why, sizeof why))
        return fail(err, errlen, "best_parameters: %s", why);
    return 0;
}

/* ---- the cache file --------------------------------------------------------
 * Text, one item a line, each line ending in '\n':
 *   kvq-clblast-tune 1
 *   device <device name>
 *   driver <driver version>
 *   kernel <CLBlast kernel> NAME=VALUE NAME=VALUE ...      (one line a kernel) */

int kvq__tune_set_put(kvq__tune_set *set, const kvq__tune_kernel *k)
{
    for (size_t i = 0; i < set->nkernels; i++)
        if (set->kernel[i].kind == k->kind) {
            set->kernel[i] = *k;
            return 0;
        }
    if (set->nkernels == KVQ__TUNE_KERNELS)
        return -1;
    set->kernel[set->nkernels++] = *k;
    return 0;
}

/* Copies the text after "word " of one line into dst (once only). */
static int take_text(char *dst, size_t cap, const char *s, size_t len, const char *word,
                     char *err, size_t errlen)
{
    if (*dst)
        return fail(err, errlen, "'%s' given twice", word);
    if (len == 0 || len >= cap)
        return fail(err, errlen, "'%s' needs a value of 1..%zu bytes", word, cap - 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* One "kernel NAME params" line (after "kernel "). */
static int cache_kernel(const char *s, size_t len, kvq__tune_set *out, char *err, size_t errlen)
{
    kvq__tune_kernel k;
    char name[KVQ__TUNE_NAME];
    const char *sp = memchr(s, ' ', len);
    size_t nlen = sp ? (size_t)(sp - s) : len;

    memset(&k, 0, sizeof k);
    if (!sp || nlen >= sizeof name)
        return fail(err, errlen, "expected 'kernel <name> NAME=VALUE ...'");
    memcpy(name, s, nlen);
    name[nlen] = '\0';
    if (!(k.kind = kvq__tune_kind_of(name)))
        return fail(err, errlen, "kernel '%s' is not one kvq tunes", name);
    for (size_t i = 0; i < out->nkernels; i++)
        if (out->kernel[i].kind == k.kind)
            return fail(err, errlen, "kernel %s given twice", name);
    if (parse_params(sp + 1, len - nlen - 1, &k, 1, err, errlen))
        return -1;
    return kvq__tune_set_put(out, &k);   /* cannot be full: each kind at most once */
}

/* One line (without its '\n'); line 1 is the magic. */
static int cache_line(const char *s, size_t len, size_t line, kvq__tune_set *out, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(err, errlen, "control character");
    if (line == 1)
        return len == strlen(CACHE_MAGIC) && !memcmp(s, CACHE_MAGIC, len)
                   ? 0
                   : fail(err, errlen, "not a kvq tuning cache (expected '%s')", CACHE_MAGIC);
    if (len > 7 && !memcmp(s, "device ", 7))
        return take_text(out->device, sizeof out->device, s + 7, len - 7, "device", err, errlen);
    if (len > 7 && !memcmp(s, "driver ", 7))
        return take_text(out->driver, sizeof out->driver, s + 7, len - 7, "driver", err, errlen);
    if (len > 7 && !memcmp(s, "kernel ", 7))
        return cache_kernel(s + 7, len - 7, out, err, errlen);
    return fail(err, errlen, "expected 'device', 'driver' or 'kernel'");
}

int kvq__tune_parse_cache(const char *text, size_t len, kvq__tune_set *out, char *err,
                          size_t errlen)
{
    char why[200];
    size_t line = 0, pos = 0;

    memset(out, 0, sizeof *out);
    if (len > KVQ__TUNE_CACHE_BYTES)
        return fail(err, errlen, "larger than %d bytes", KVQ__TUNE_CACHE_BYTES);
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        line++;
        if (!nl)
            return fail(err, errlen, "line %zu: no newline at the end of the file", line);
        size_t n = (size_t)(nl - text) - pos;
        if (cache_line(text + pos, n, line, out, why, sizeof why))
            return fail(err, errlen, "line %zu: %s", line, why);
        pos += n + 1;
    }
    if (line == 0)
        return fail(err, errlen, "empty file");
    if (!out->device[0] || !out->driver[0] || out->nkernels == 0)
        return fail(err, errlen, "needs a 'device', a 'driver' and at least one 'kernel' line");
    return 0;
}

int kvq__tune_write_cache(FILE *f, const kvq__tune_set *set)
{
    const char *texts[] = {set->device, set->driver};
    for (int i = 0; i < 2; i++)
        for (const char *p = texts[i]; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return -1;
    if (!set->device[0] || !set->driver[0])
        return -1;
    fprintf(f, "%s\ndevice %s\ndriver %s\n", CACHE_MAGIC, set->device, set->driver);
    for (size_t i = 0; i < set->nkernels; i++) {
        const kvq__tune_kernel *k = &set->kernel[i];
        fprintf(f, "kernel %s", k->kind->kernel);
        for (size_t p = 0; p < k->nparams; p++)
            fprintf(f, " %s=%zu", k->name[p], k->value[p]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* ---- where the cache lives ------------------------------------------------- */

int kvq__tune_cache_dir(char *buf, size_t len)
{
    const char *own = getenv("KVQ_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int w;
    if (own && *own)
        w = snprintf(buf, len, "%s", own);
    else if (xdg && xdg[0] == '/')
        w = snprintf(buf, len, "%s/kvq", xdg);
    else if (home && *home)
        w = snprintf(buf, len, "%s/.cache/kvq", home);
    else
        return -1;
    return w > 0 && (size_t)w < len ? 0 : -1;
}

/* FNV-1a, 64 bits: tells apart devices whose names read alike once sanitized. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int kvq__tune_cache_file(const char *dir, const char *device, const char *driver, char *buf,
                         size_t len)
{
    char slug[49];
    size_t n = 0;
    for (const char *p = device; *p && n < sizeof slug - 1; p++) {
        char c = *p;
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '.';
        if (keep || (n && slug[n - 1] != '_'))
            slug[n++] = keep ? c : '_';
    }
    slug[n] = '\0';
    uint64_t h = fnv1a(fnv1a(fnv1a(14695981039346656037ULL, device), "\n"), driver);
    int w = snprintf(buf, len, "%s/clblast-%s-%016llx.tune", dir, slug, (unsigned long long)h);
    return w > 0 && (size_t)w < len ? 0 : -1;
}

int kvq__tune_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    return 0;
}

int kvq__tune_read_file(const char *path, size_t max, char **text, size_t *len, char *err,
                        size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    int rc = -1;
    *text = NULL;
    *len = 0;
    if (!f)
        return fail(err, errlen, "%s", strerror(errno));
    if (!(buf = malloc(max + 1))) {
        fail(err, errlen, "out of memory");
        goto cleanup;
    }
    size_t n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        fail(err, errlen, "read error");
        goto cleanup;
    }
    if (n > max) {
        fail(err, errlen, "larger than %zu bytes", max);
        goto cleanup;
    }
    *text = buf;
    *len = n;
    buf = NULL;
    rc = 0;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

int kvq__tune_load(const char *path, const char *device, const char *driver,
                   kvq__tune_set *out, char *err, size_t errlen)
{
    char *text;
    size_t len;
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT)
        return 1;
    if (kvq__tune_read_file(path, KVQ__TUNE_CACHE_BYTES, &text, &len, err, errlen))
        return -1;
    int rc = kvq__tune_parse_cache(text, len, out, err, errlen);
    free(text);
    if (rc)
        return -1;
    if (strcmp(out->device, device) || strcmp(out->driver, driver))
        return fail(err, errlen, "tuned for device '%s' driver '%s', not this one",
                    out->device, out->driver);
    return 0;
}
