/* safetensors.c — .safetensors reader. Layout: an 8-byte little-endian
 * header length, a UTF-8 JSON object mapping tensor names to
 * {"dtype", "shape", "data_offsets"} (plus an optional "__metadata__"
 * object of strings), then the data. The whole header is validated before
 * any tensor is read; the small JSON parser below handles exactly JSON
 * (RFC 8259) with integers for the numbers kvq interprets. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define ST_HEADER_MAX 100000000ull  /* the format's limit on the header */
#define JSON_MAX_DEPTH 64

/* JSON parser state. */
typedef struct jp {
    const unsigned char *base, *s, *end;
    char *err;
    size_t errlen;
} jp;

/* A string key (name) with its length (may contain NUL via \u0000). */
typedef struct st_name {
    char *s;
    size_t n;
} st_name;

/* One tensor of the header. */
typedef struct st_entry {
    st_name name;
    int dtype;          /* index in dtypes[] */
    int ndim;
    size_t shape[4];
    size_t numel;
    uint64_t begin, end;
} st_entry;

/* Every dtype of the format with its size in bits; kvq converts the last four. */
static const struct { const char *name; unsigned bits; int elem; } dtypes[] = {
    {"BOOL", 8, -1}, {"U8", 8, -1}, {"I8", 8, -1}, {"F8_E5M2", 8, -1}, {"F8_E4M3", 8, -1},
    {"F8_E8M0", 8, -1}, {"F4", 4, -1}, {"F6_E2M3", 6, -1}, {"F6_E3M2", 6, -1},
    {"I16", 16, -1}, {"U16", 16, -1}, {"I32", 32, -1}, {"U32", 32, -1}, {"I64", 64, -1},
    {"U64", 64, -1}, {"C64", 64, -1},
    {"F32", 32, KVQ_ELEM_F32}, {"F16", 16, KVQ_ELEM_F16}, {"BF16", 16, KVQ_ELEM_BF16},
    {"F64", 64, KVQ_ELEM_F64}};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

/* A format error at the parser's position. */
static int jp_fail(jp *p, const char *what)
{
    return kvq__data_errf(p->err, p->errlen, KVQ_ERR_FORMAT,
                         "safetensors header: %s at byte %zu", what, (size_t)(p->s - p->base));
}

/* Skips JSON whitespace. */
static void jp_ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

/* Consumes character c after whitespace, or fails. */
static int jp_expect(jp *p, char c, const char *what)
{
    jp_ws(p);
    if (p->s >= p->end || *p->s != (unsigned char)c)
        return jp_fail(p, what);
    p->s++;
    return 0;
}

/* Appends code point cp as UTF-8 to out (which has room). */
static size_t put_utf8(unsigned char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0], need, cp;
    if (c < 0x80)
        return 1;
    need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 9;
    if (need == 9 || c > 0xf4 || (size_t)(end - s) <= need)
        return 0;
    cp = c & (0x3fu >> need);
    for (unsigned k = 1; k <= need; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need + 1;
}

/* Reads 4 hex digits. */
static int jp_hex4(jp *p, unsigned *v)
{
    *v = 0;
    if (p->end - p->s < 4)
        return jp_fail(p, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        unsigned c = *p->s++, d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return jp_fail(p, "bad \\u escape");
        *v = *v << 4 | d;
    }
    return 0;
}

/* Decodes one escape sequence (after the backslash) into out; sets *n. */
static int jp_escape(jp *p, unsigned char *out, size_t *n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    unsigned cp, lo;
    const char *k;
    if (p->s >= p->end)
        return jp_fail(p, "unterminated string");
    if (*p->s != 'u') {
        if (!*p->s || !(k = strchr(from, *p->s)))
            return jp_fail(p, "bad escape in string");
        p->s++;
        out[0] = (unsigned char)to[k - from];
        *n = 1;
        return 0;
    }
    p->s++;
    if (jp_hex4(p, &cp))
        return KVQ_ERR_FORMAT;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return jp_fail(p, "lone low surrogate in \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (p->end - p->s < 2 || p->s[0] != '\\' || p->s[1] != 'u')
            return jp_fail(p, "lone high surrogate in \\u escape");
        p->s += 2;
        if (jp_hex4(p, &lo))
            return KVQ_ERR_FORMAT;
        if (lo < 0xdc00 || lo > 0xdfff)
            return jp_fail(p, "bad surrogate pair in \\u escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    *n = put_utf8(out, cp);
    return 0;
}

/* Parses a string; when out is not NULL returns it unescaped in a malloc'd
 * NUL-terminated buffer. Validates UTF-8 and rejects control characters. */
static int jp_string(jp *p, st_name *out)
{
    const unsigned char *start;
    unsigned char *buf = NULL;
    size_t n = 0, k = 0;
    jp_ws(p);
    if (p->s >= p->end || *p->s != '"')
        return jp_fail(p, "expected a string");
    start = ++p->s;
    if (out && !(buf = malloc((size_t)(p->end - start) + 1)))
        return kvq__data_errf(p->err, p->errlen, KVQ_ERR_NOMEM, "out of memory");
    for (;;) {
        unsigned char tmp[4];
        if (p->s >= p->end) {
            free(buf);
            return jp_fail(p, "unterminated string");
        }
        if (*p->s == '"')
            break;
        if (*p->s < 0x20) {
            free(buf);
            return jp_fail(p, "control character in string");
        }
        if (*p->s == '\\') {
            p->s++;
            if (jp_escape(p, tmp, &k)) {
                free(buf);
                return KVQ_ERR_FORMAT;
            }
        } else {
            if (!(k = utf8_len(p->s, p->end))) {
                free(buf);
                return jp_fail(p, "invalid UTF-8");
            }
            memcpy(tmp, p->s, k);
            p->s += k;
        }
        if (buf)
            memcpy(buf + n, tmp, k);
        n += k;
    }
    p->s++;
    if (out) {
        buf[n] = 0;
        out->s = (char *)buf;
        out->n = n;
    }
    return 0;
}

/* Parses a JSON number that must be a non-negative integer < 2^64. */
static int jp_uint(jp *p, uint64_t *v, const char *what)
{
    char msg[96];
    uint64_t x = 0;
    const unsigned char *start;
    jp_ws(p);
    if (p->s < p->end && *p->s == '-') {
        snprintf(msg, sizeof msg, "negative %s", what);
        return jp_fail(p, msg);
    }
    start = p->s;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        unsigned d = (unsigned)(*p->s - '0');
        if (x > (UINT64_MAX - d) / 10) {
            snprintf(msg, sizeof msg, "%s too large", what);
            return jp_fail(p, msg);
        }
        x = x * 10 + d;
        p->s++;
    }
    if (p->s == start || (p->s - start > 1 && *start == '0')) {
        snprintf(msg, sizeof msg, "%s is not an integer", what);
        return jp_fail(p, msg);
    }
    if (p->s < p->end && (*p->s == '.' || *p->s == 'e' || *p->s == 'E')) {
        snprintf(msg, sizeof msg, "%s is not an integer", what);
        return jp_fail(p, msg);
    }
    *v = x;
    return 0;
}

/* Skips a JSON number of any form. */
static int jp_number(jp *p)
{
    const unsigned char *d;
    if (p->s < p->end && *p->s == '-')
        p->s++;
    d = p->s;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
        p->s++;
    if (p->s == d || (p->s - d > 1 && *d == '0'))
        return jp_fail(p, "bad number");
    if (p->s < p->end && *p->s == '.') {
        d = ++p->s;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
        if (p->s == d)
            return jp_fail(p, "bad number");
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        d = p->s;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
        if (p->s == d)
            return jp_fail(p, "bad number");
    }
    return 0;
}

/* Skips any JSON value (for fields kvq ignores), depth-limited. */
static int jp_skip(jp *p, int depth)
{
    static const char *lits[] = {"true", "false", "null"};
    jp_ws(p);
    if (depth > JSON_MAX_DEPTH)
        return jp_fail(p, "nesting too deep");
    if (p->s >= p->end)
        return jp_fail(p, "expected a value");
    if (*p->s == '"')
        return jp_string(p, NULL);
    if (*p->s == '{' || *p->s == '[') {
        char close = *p->s == '{' ? '}' : ']';
        int obj = close == '}';
        p->s++;
        jp_ws(p);
        if (p->s < p->end && *p->s == (unsigned char)close) {
            p->s++;
            return 0;
        }
        for (;;) {
            if ((obj && (jp_string(p, NULL) || jp_expect(p, ':', "expected ':'"))) ||
                jp_skip(p, depth + 1))
                return KVQ_ERR_FORMAT;
            jp_ws(p);
            if (p->s < p->end && *p->s == ',') {
                p->s++;
                continue;
            }
            return jp_expect(p, close, "expected ',' or a closing bracket");
        }
    }
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(lits[i]);
        if ((size_t)(p->end - p->s) >= l && !memcmp(p->s, lits[i], l)) {
            p->s += l;
            return 0;
        }
    }
    return jp_number(p);
}

/* Orders names bytewise (for duplicate detection). */
static int name_cmp(const void *a, const void *b)
{
    const st_name *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Copies name into buf for messages: at most 48 bytes, controls as '?'. */
static const char *show(const st_name *nm, char *buf)
{
    size_t n = nm->n < 48 ? nm->n : 48;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)nm->s[i] < 0x20 ? '?' : nm->s[i];
    buf[n] = 0;
    return buf;
}

/* Fails if any two of the n names are equal. */
static int check_dups(jp *p, st_name *names, size_t n, const char *where)
{
    char msg[160], sb[49];
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 1; i < n; i++)
        if (!name_cmp(&names[i - 1], &names[i])) {
            snprintf(msg, sizeof msg, "duplicate key '%s' in %s", show(&names[i], sb), where);
            return kvq__data_errf(p->err, p->errlen, KVQ_ERR_FORMAT, "safetensors header: %s", msg);
        }
    return 0;
}

/* The parsed header: tensors in file order, and the "__metadata__" pairs
 * (key i is meta[2i], its value meta[2i + 1]). */
typedef struct st_header {
    st_entry *e;
    size_t n, cap;
    st_name *meta;
    size_t nmeta;
    uint64_t data_off, data_size;
} st_header;

static void header_free(st_header *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->e[i].name.s);
    for (size_t i = 0; i < 2 * h->nmeta; i++)
        free(h->meta[i].s);
    free(h->e);
    free(h->meta);
    memset(h, 0, sizeof *h);
}

/* Orders metadata pairs by key (for duplicate detection and lookup). */
static int pair_cmp(const void *a, const void *b)
{
    return name_cmp(a, b);
}

/* Parses "__metadata__": an object whose values are strings, kept in h as
 * pairs sorted by key; duplicate keys are an error. */
static int parse_metadata(jp *p, st_header *h)
{
    st_name *pairs = NULL, *grow;
    size_t n = 0, cap = 0;
    int rc = 0;
    if ((rc = jp_expect(p, '{', "'__metadata__' is not an object")))
        return rc;
    jp_ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return 0;
    }
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            if (!(grow = realloc(pairs, 2 * cap * sizeof *pairs))) {
                rc = kvq__data_errf(p->err, p->errlen, KVQ_ERR_NOMEM, "out of memory");
                goto done;
            }
            pairs = grow;
        }
        if ((rc = jp_string(p, &pairs[2 * n])))
            goto done;
        pairs[2 * n + 1].s = NULL;
        n++;
        if ((rc = jp_expect(p, ':', "expected ':'")))
            goto done;
        jp_ws(p);
        if (p->s >= p->end || *p->s != '"') {
            rc = jp_fail(p, "'__metadata__' value is not a string");
            goto done;
        }
        if ((rc = jp_string(p, &pairs[2 * n - 1])))
            goto done;
        jp_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if ((rc = jp_expect(p, '}', "expected ',' or '}'")))
            goto done;
        break;
    }
    qsort(pairs, n, 2 * sizeof *pairs, pair_cmp);
    for (size_t i = 1; i < n && !rc; i++)
        if (!name_cmp(&pairs[2 * i - 2], &pairs[2 * i])) {
            char sb[49];
            rc = kvq__data_errf(p->err, p->errlen, KVQ_ERR_FORMAT,
                                "safetensors header: duplicate key '%s' in '__metadata__'",
                                show(&pairs[2 * i], sb));
        }
done:
    if (rc) {
        for (size_t i = 0; i < 2 * n; i++)
            free(pairs[i].s);
        free(pairs);
        return rc;
    }
    h->meta = pairs;
    h->nmeta = n;
    return 0;
}

/* Parses "shape": an array of integers; product checked for overflow. */
static int parse_shape(jp *p, st_entry *e)
{
    uint64_t v;
    size_t numel = 1;
    int rc;
    e->ndim = 0;
    if ((rc = jp_expect(p, '[', "'shape' is not an array")))
        return rc;
    jp_ws(p);
    if (p->s < p->end && *p->s == ']') {
        p->s++;
        e->numel = 1;
        return 0;
    }
    for (;;) {
        if ((rc = jp_uint(p, &v, "dimension in 'shape'")))
            return rc;
        if (v > SIZE_MAX || !kvq__mul_size(numel, (size_t)v, &numel))
            return jp_fail(p, "'shape' overflows (too many elements)");
        if (e->ndim < 4)
            e->shape[e->ndim] = (size_t)v;
        if (e->ndim == JSON_MAX_DEPTH)
            return jp_fail(p, "'shape' has too many dimensions");
        e->ndim++;
        jp_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if ((rc = jp_expect(p, ']', "expected ',' or ']' in 'shape'")))
            return rc;
        break;
    }
    e->numel = numel;
    return 0;
}

/* Parses "data_offsets": [begin, end]. */
static int parse_offsets(jp *p, st_entry *e)
{
    int rc;
    if ((rc = jp_expect(p, '[', "'data_offsets' is not an array")) ||
        (rc = jp_uint(p, &e->begin, "offset")) ||
        (rc = jp_expect(p, ',', "'data_offsets' needs two integers")) ||
        (rc = jp_uint(p, &e->end, "offset")) ||
        (rc = jp_expect(p, ']', "'data_offsets' needs exactly two integers")))
        return rc;
    return 0;
}

/* Parses "dtype" into an index of dtypes[]. */
static int parse_dtype(jp *p, st_entry *e)
{
    st_name s;
    char msg[96], sb[49];
    int rc;
    jp_ws(p);
    if (p->s >= p->end || *p->s != '"')
        return jp_fail(p, "'dtype' is not a string");
    if ((rc = jp_string(p, &s)))
        return rc;
    e->dtype = -1;
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strlen(dtypes[i].name) == s.n && !memcmp(dtypes[i].name, s.s, s.n))
            e->dtype = (int)i;
    if (e->dtype < 0) {
        snprintf(msg, sizeof msg, "unknown dtype '%s'", show(&s, sb));
        rc = jp_fail(p, msg);
    }
    free(s.s);
    return rc;
}

/* Parses one tensor's info object; unknown fields are skipped. */
static int parse_entry(jp *p, st_entry *e)
{
    static const char *keys[] = {"dtype", "shape", "data_offsets"};
    int seen[3] = {0, 0, 0}, rc;
    char msg[128], sb[49];
    if ((rc = jp_expect(p, '{', "tensor info is not an object")))
        return rc;
    jp_ws(p);
    while (p->s < p->end && *p->s != '}') {
        st_name k;
        int idx = -1;
        if ((rc = jp_string(p, &k)))
            return rc;
        for (int i = 0; i < 3; i++)
            if (strlen(keys[i]) == k.n && !memcmp(keys[i], k.s, k.n))
                idx = i;
        free(k.s);
        if ((rc = jp_expect(p, ':', "expected ':'")))
            return rc;
        if (idx >= 0 && seen[idx]++) {
            snprintf(msg, sizeof msg, "duplicate key '%s' in tensor '%s'", keys[idx], show(&e->name, sb));
            return kvq__data_errf(p->err, p->errlen, KVQ_ERR_FORMAT, "safetensors header: %s", msg);
        }
        rc = idx == 0 ? parse_dtype(p, e) : idx == 1 ? parse_shape(p, e)
           : idx == 2 ? parse_offsets(p, e) : jp_skip(p, 2);
        if (rc)
            return rc;
        jp_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            jp_ws(p);
            if (p->s < p->end && *p->s == '}')
                return jp_fail(p, "trailing comma");
        }
        else if (p->s < p->end && *p->s != '}')
            return jp_fail(p, "expected ',' or '}'");
    }
    if ((rc = jp_expect(p, '}', "unterminated tensor info")))
        return rc;
    for (int i = 0; i < 3; i++)
        if (!seen[i]) {
            snprintf(msg, sizeof msg, "tensor '%s' has no '%s'", show(&e->name, sb), keys[i]);
            return kvq__data_errf(p->err, p->errlen, KVQ_ERR_FORMAT, "safetensors header: %s", msg);
        }
    return 0;
}


/* Parses the top-level object into h. */
static int parse_top(jp *p, st_header *h)
{
    int rc, have_meta = 0;
    if (p->s >= p->end || *p->s != '{')
        return jp_fail(p, "the header is not a JSON object (it must begin with {)");
    p->s++;
    jp_ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return 0;
    }
    for (;;) {
        st_name k;
        if ((rc = jp_string(p, &k)))
            return rc;
        if (k.n == 12 && !memcmp(k.s, "__metadata__", 12)) {
            free(k.s);
            if (have_meta++)
                return jp_fail(p, "duplicate key '__metadata__'");
            if ((rc = jp_expect(p, ':', "expected ':'")) || (rc = parse_metadata(p, h)))
                return rc;
        } else {
            if (h->n == h->cap) {
                size_t cap = h->cap ? 2 * h->cap : 8;
                st_entry *g = realloc(h->e, cap * sizeof *g);
                if (!g) {
                    free(k.s);
                    return kvq__data_errf(p->err, p->errlen, KVQ_ERR_NOMEM, "out of memory");
                }
                h->e = g;
                h->cap = cap;
            }
            memset(&h->e[h->n], 0, sizeof h->e[0]);
            h->e[h->n++].name = k;
            if ((rc = jp_expect(p, ':', "expected ':'")) || (rc = parse_entry(p, &h->e[h->n - 1])))
                return rc;
        }
        jp_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        return jp_expect(p, '}', "expected ',' or '}'");
    }
}

/* Orders entry pointers by (begin, end). */
static int off_cmp(const void *a, const void *b)
{
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Checks sizes and that the offsets tile [0, data_size) exactly. */
static int check_layout(st_header *h, char *err, size_t errlen)
{
    st_entry **order;
    uint64_t at = 0;
    char sb[49];
    int rc = 0;
    for (size_t i = 0; i < h->n; i++) {
        st_entry *e = &h->e[i];
        uint64_t bits;
        if (e->end < e->begin)
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                                 "tensor '%s': data_offsets [%llu, %llu] end before they begin",
                                 show(&e->name, sb), (unsigned long long)e->begin,
                                 (unsigned long long)e->end);
        if ((uint64_t)e->numel > UINT64_MAX / 64)
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                                 "tensor '%s': shape overflows (too many bytes)", show(&e->name, sb));
        bits = (uint64_t)e->numel * dtypes[e->dtype].bits;
        if (bits % 8 || bits / 8 != e->end - e->begin)
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                                 "tensor '%s': size mismatch: shape and dtype %s need %llu bits, "
                                 "data_offsets give %llu bytes", show(&e->name, sb),
                                 dtypes[e->dtype].name, (unsigned long long)bits,
                                 (unsigned long long)(e->end - e->begin));
    }
    if (!(order = malloc((h->n ? h->n : 1) * sizeof *order)))
        return kvq__data_errf(err, errlen, KVQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < h->n; i++)
        order[i] = &h->e[i];
    qsort(order, h->n, sizeof *order, off_cmp);
    for (size_t i = 0; i < h->n && !rc; i++) {
        if (order[i]->begin != at)
            rc = kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                               "tensor '%s': data_offsets begin at %llu, expected %llu (%s)",
                               show(&order[i]->name, sb), (unsigned long long)order[i]->begin,
                               (unsigned long long)at,
                               order[i]->begin < at ? "overlaps another tensor" : "gap in the data");
        at = order[i]->end;
    }
    free(order);
    if (!rc && at != h->data_size)
        rc = kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                           "tensor data ends at byte %llu but the file has %llu data bytes",
                           (unsigned long long)at, (unsigned long long)h->data_size);
    return rc;
}

/* Fails if two tensors share a name (checked on a sorted copy). */
static int check_names(const st_header *h, char *err, size_t errlen)
{
    st_name *names = malloc((h->n ? h->n : 1) * sizeof *names);
    jp p = {NULL, NULL, NULL, err, errlen};
    int rc;
    if (!names)
        return kvq__data_errf(err, errlen, KVQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < h->n; i++)
        names[i] = h->e[i].name;
    rc = check_dups(&p, names, h->n, "the header");
    free(names);
    return rc;
}

/* Reads the length prefix and parses and validates the whole header. */
static int read_header(kvq__bytes *b, st_header *h, char *err, size_t errlen)
{
    unsigned char len8[8], *text;
    uint64_t hl = 0;
    int rc;
    memset(h, 0, sizeof *h);
    if (b->size < 8)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "not a safetensors file: only %llu bytes", (unsigned long long)b->size);
    if ((rc = kvq__bytes_read(b, 0, len8, 8, err, errlen)))
        return rc;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)len8[i] << (8 * i);
    if (hl > ST_HEADER_MAX)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "safetensors header length %llu exceeds the format's 100 MB limit",
                             (unsigned long long)hl);
    if (hl > b->size - 8)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "safetensors header length %llu runs past the end of the file "
                             "(%llu bytes)", (unsigned long long)hl, (unsigned long long)b->size);
    if (!(text = malloc((size_t)hl + 1)))
        return kvq__data_errf(err, errlen, KVQ_ERR_NOMEM, "out of memory for the header");
    if (!(rc = kvq__bytes_read(b, 8, text, (size_t)hl, err, errlen))) {
        jp p = {text, text, text + hl, err, errlen};
        rc = parse_top(&p, h);
        if (!rc) {
            jp_ws(&p);
            if (p.s != p.end)
                rc = jp_fail(&p, "trailing characters after the JSON object");
        }
    }
    free(text);
    if (!rc)
        rc = check_names(h, err, errlen);
    h->data_off = 8 + hl;
    h->data_size = b->size - 8 - hl;
    if (!rc)
        rc = check_layout(h, err, errlen);
    if (rc)
        header_free(h);
    return rc;
}

/* Finds the entry called name, or NULL. */
static const st_entry *find(const st_header *h, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < h->n; i++)
        if (h->e[i].name.n == n && !memcmp(h->e[i].name.s, name, n))
            return &h->e[i];
    return NULL;
}

/* The metadata value of key, or NULL (pairs are sorted by key). */
static const st_name *meta_find(const st_header *h, const char *key)
{
    st_name k = {(char *)key, strlen(key)};
    if (!h->nmeta)
        return NULL;   /* bsearch may not see a NULL array */
    const st_name *hit = bsearch(&k, h->meta, h->nmeta, 2 * sizeof *h->meta, pair_cmp);
    return hit ? hit + 1 : NULL;
}

/* The value of metadata key from a validated source (see data_internal.h). */
static int st_meta(kvq__bytes *b, const char *key, char **value, char *err, size_t errlen)
{
    st_header h;
    const st_name *v;
    int rc;
    *value = NULL;
    if ((rc = read_header(b, &h, err, errlen)))
        return rc;
    if (!(v = meta_find(&h, key)))
        rc = 0;
    else if (memchr(v->s, 0, v->n))
        rc = kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                            "metadata '%.64s' holds a NUL character", key);
    else if (!(*value = malloc(v->n + 1)))
        rc = kvq__data_errf(err, errlen, KVQ_ERR_NOMEM, "out of memory");
    else {
        memcpy(*value, v->s, v->n + 1);
        rc = 1;
    }
    header_free(&h);
    return rc;
}

/* The layer number L of a tensor named "layer{L}.k" (decimal, no leading
 * zero, below 10^6), or -1 for any other name. */
static int layer_of(const st_name *nm)
{
    const char *s = nm->s, *end = nm->s + nm->n;
    int l = 0;
    if (nm->n < 8 || memcmp(s, "layer", 5) || memcmp(end - 2, ".k", 2))
        return -1;
    s += 5;
    end -= 2;
    if (end - s > 6 || (*s == '0' && end - s > 1))
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        l = 10 * l + (*s - '0');
    }
    return l;
}

/* Orders ints ascending. */
static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Error for a missing tensor, listing a few of the names present. */
static int missing(const st_header *h, const char *name, char *err, size_t errlen)
{
    char list[256], sb[49];
    size_t used = 0;
    list[0] = 0;
    for (size_t i = 0; i < h->n && i < 6 && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "",
                                 i == 5 ? "..." : show(&h->e[i].name, sb));
    return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "no tensor named '%.64s' (the file has %s)",
                         name, h->n ? list : "none");
}

/* Reads tensor name from a validated source. */
static int st_read(kvq__bytes *b, const char *name, kvq_tensor *t, char *err, size_t errlen)
{
    st_header h;
    const st_entry *e;
    int rc;
    char sb[49];
    memset(t, 0, sizeof *t);
    if ((rc = read_header(b, &h, err, errlen)))
        return rc;
    if (!(e = find(&h, name))) {
        rc = missing(&h, name, err, errlen);
        goto done;
    }
    if (dtypes[e->dtype].elem < 0) {
        rc = kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                           "tensor '%s' has dtype %s; kvq reads F32, F16, BF16, F64",
                           show(&e->name, sb), dtypes[e->dtype].name);
        goto done;
    }
    if (e->ndim > 4) {
        rc = kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                           "tensor '%s' has %d dimensions; kvq reads at most 4",
                           show(&e->name, sb), e->ndim);
        goto done;
    }
    if ((rc = kvq__bytes_read_floats(b, h.data_off + e->begin, dtypes[e->dtype].elem, e->numel,
                                    &t->data, err, errlen)))
        goto done;
    t->ndim = e->ndim;
    for (int i = 0; i < 4; i++)
        t->shape[i] = i < e->ndim ? e->shape[i] : 1;
done:
    header_free(&h);
    return rc;
}

int kvq__safetensors_read(const char *path, const char *name, kvq_tensor *t, char *err,
                         size_t errlen)
{
    kvq__bytes b;
    int rc;
    memset(t, 0, sizeof *t);
    if ((rc = kvq__bytes_open(&b, path, err, errlen)))
        return rc;
    rc = st_read(&b, name, t, err, errlen);
    kvq__bytes_close(&b);
    return rc;
}

int kvq__safetensors_read_mem(const void *buf, size_t len, const char *name, kvq_tensor *t,
                             char *err, size_t errlen)
{
    kvq__bytes b;
    kvq__bytes_mem(&b, buf, len);
    return st_read(&b, name, t, err, errlen);
}

/* The validated header of the file at path (the file is closed again). */
static int file_header(const char *path, st_header *h, char *err, size_t errlen)
{
    kvq__bytes b;
    int rc;
    if ((rc = kvq__bytes_open(&b, path, err, errlen)))
        return rc;
    rc = read_header(&b, h, err, errlen);
    kvq__bytes_close(&b);
    return rc;
}

/* 1 if the valid file has a tensor called name, 0 if not, < 0 on error. */
int kvq_safetensors_has(const char *path, const char *name, char *err, size_t errlen)
{
    st_header h;
    int rc;
    if ((rc = file_header(path, &h, err, errlen)))
        return rc;
    rc = find(&h, name) != NULL;
    header_free(&h);
    return rc;
}

/* The string value of a "__metadata__" key of a .safetensors file. */
int kvq__safetensors_meta(const char *path, const char *key, char **value, char *err,
                          size_t errlen)
{
    kvq__bytes b;
    int rc;
    *value = NULL;
    if ((rc = kvq__bytes_open(&b, path, err, errlen)))
        return rc;
    rc = st_meta(&b, key, value, err, errlen);
    kvq__bytes_close(&b);
    return rc;
}

/* The same from an image in memory (the fuzzing entry point). */
int kvq__safetensors_meta_mem(const void *buf, size_t len, const char *key, char **value,
                              char *err, size_t errlen)
{
    kvq__bytes b;
    kvq__bytes_mem(&b, buf, len);
    return st_meta(&b, key, value, err, errlen);
}

/* The layers L with a tensor "layer{L}.k", ascending. */
int kvq__safetensors_layers(const char *path, int *layers, size_t max, size_t *n, char *err,
                            size_t errlen)
{
    st_header h;
    int rc;
    *n = 0;
    if ((rc = file_header(path, &h, err, errlen)))
        return rc;
    for (size_t i = 0; i < h.n; i++) {
        int l = layer_of(&h.e[i].name);
        if (l >= 0 && *n < max)
            layers[(*n)++] = l;
    }
    qsort(layers, *n, sizeof *layers, int_cmp);   /* names are distinct, so are the L */
    header_free(&h);
    return 0;
}
