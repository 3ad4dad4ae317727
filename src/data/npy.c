/* npy.c — NumPy .npy reader (versions 1.0, 2.0, 3.0; '<f4', '<f2', '<f8';
 * C order) and an atomic '<f4' writer. The header is a Python dict literal,
 * parsed here by a small recursive-descent reader of the literal subset
 * NumPy writes (strings, True/False, integers, tuples), tolerant of key
 * order, whitespace and trailing commas as Python is. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "data/data_internal.h"

#define NPY_HEADER_MAX (1u << 20)  /* 1 MiB: NumPy itself refuses > 10 000 by default */
#define NPY_MAX_DIMS 64            /* NumPy's NPY_MAXDIMS */

/* Parser state over the header text. */
typedef struct hp {
    const char *s, *end;
    char *err;
    size_t errlen;
} hp;

/* What the header said. */
typedef struct npy_header {
    char descr[32];
    int have_descr, have_fortran, have_shape;
    int fortran, descr_structured;
    int ndim;
    size_t shape[NPY_MAX_DIMS];
} npy_header;

/* Skips Python whitespace. */
static void hp_ws(hp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

/* A format error about the header. */
static int hp_fail(hp *p, const char *what)
{
    return kvq__data_errf(p->err, p->errlen, KVQ_ERR_FORMAT, "npy header: %s", what);
}

/* Parses a quoted string into buf (truncated to len-1); escapes keep the
 * escaped character. */
static int hp_string(hp *p, char *buf, size_t len)
{
    char q = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\' && p->s + 1 < p->end)
            p->s++;
        if (*p->s == '\n')
            return hp_fail(p, "unterminated string");
        if (n + 1 < len)
            buf[n++] = *p->s;
        p->s++;
    }
    if (p->s >= p->end)
        return hp_fail(p, "unterminated string");
    p->s++;
    buf[n] = 0;
    return 0;
}

/* Parses a non-negative decimal integer that fits in size_t. */
static int hp_int(hp *p, size_t *v)
{
    size_t x = 0;
    if (*p->s == '-')
        return hp_fail(p, "'shape' has a negative dimension");
    if (*p->s == '+')
        p->s++;
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
        return hp_fail(p, "'shape' has a non-integer dimension");
    while (p->s < p->end && ((*p->s >= '0' && *p->s <= '9') || *p->s == '_')) {
        if (*p->s != '_') {
            unsigned dgt = (unsigned)(*p->s - '0');
            if (x > (SIZE_MAX - dgt) / 10)
                return hp_fail(p, "'shape' has a dimension too large for this machine");
            x = x * 10 + dgt;
        }
        p->s++;
    }
    if (p->s < p->end && (*p->s == '.' || *p->s == 'e' || *p->s == 'E' ||
                          *p->s == 'x' || *p->s == 'j' || *p->s == 'L'))
        return hp_fail(p, "'shape' has a non-integer dimension");
    *v = x;
    return 0;
}

/* Skips a bracketed value (a structured descr), strings included. */
static int hp_skip(hp *p)
{
    int depth = 0;
    char tmp[2];
    do {
        if (p->s >= p->end)
            return hp_fail(p, "unterminated value");
        if (*p->s == '\'' || *p->s == '"') {
            if (hp_string(p, tmp, sizeof tmp))
                return KVQ_ERR_FORMAT;
            continue;
        }
        if (strchr("([{", *p->s))
            depth++;
        else if (strchr(")]}", *p->s))
            depth--;
        p->s++;
    } while (depth > 0);
    return 0;
}

/* Parses the value of 'shape': a tuple of non-negative integers. */
static int hp_shape(hp *p, npy_header *h)
{
    int commas = 0;
    if (*p->s != '(')
        return hp_fail(p, "'shape' is not a tuple");
    p->s++;
    h->ndim = 0;
    for (;;) {
        hp_ws(p);
        if (p->s >= p->end)
            return hp_fail(p, "unterminated 'shape'");
        if (*p->s == ')')
            break;
        if (h->ndim == NPY_MAX_DIMS)
            return hp_fail(p, "'shape' has more than 64 dimensions");
        if (hp_int(p, &h->shape[h->ndim]))
            return KVQ_ERR_FORMAT;
        h->ndim++;
        hp_ws(p);
        if (p->s < p->end && *p->s == ',') {
            commas++;
            p->s++;
        } else if (p->s < p->end && *p->s != ')')
            return hp_fail(p, "'shape' has a non-integer dimension");
    }
    p->s++;
    if (h->ndim == 1 && commas == 0)     /* "(3)" is the int 3, not a tuple */
        return hp_fail(p, "'shape' is not a tuple");
    return 0;
}

/* Parses True or False. */
static int hp_bool(hp *p, int *v)
{
    size_t left = (size_t)(p->end - p->s);
    if (left >= 4 && !memcmp(p->s, "True", 4)) {
        *v = 1;
        p->s += 4;
    } else if (left >= 5 && !memcmp(p->s, "False", 5)) {
        *v = 0;
        p->s += 5;
    } else
        return hp_fail(p, "'fortran_order' is not True or False");
    return 0;
}

/* Parses the value of one known key. */
static int hp_value(hp *p, const char *key, npy_header *h)
{
    int *seen = !strcmp(key, "descr") ? &h->have_descr
              : !strcmp(key, "shape") ? &h->have_shape
              : !strcmp(key, "fortran_order") ? &h->have_fortran : NULL;
    char msg[128];
    if (!seen) {
        snprintf(msg, sizeof msg, "unexpected key '%.40s' (expected descr, fortran_order, shape)", key);
        return hp_fail(p, msg);
    }
    if (*seen) {
        snprintf(msg, sizeof msg, "duplicate key '%s'", key);
        return hp_fail(p, msg);
    }
    *seen = 1;
    if (seen == &h->have_shape)
        return hp_shape(p, h);
    if (seen == &h->have_fortran)
        return hp_bool(p, &h->fortran);
    if (*p->s == '\'' || *p->s == '"')
        return hp_string(p, h->descr, sizeof h->descr);
    if (*p->s == '[') {
        h->descr_structured = 1;
        return hp_skip(p);
    }
    return hp_fail(p, "'descr' is not a string");
}

/* Parses the whole header dict. */
static int hp_dict(hp *p, npy_header *h)
{
    char key[64];
    hp_ws(p);
    if (p->s >= p->end || *p->s != '{')
        return hp_fail(p, "not a Python dict");
    p->s++;
    for (;;) {
        hp_ws(p);
        if (p->s >= p->end)
            return hp_fail(p, "unterminated dict");
        if (*p->s == '}')
            break;
        if (*p->s != '\'' && *p->s != '"')
            return hp_fail(p, "dict key is not a string");
        if (hp_string(p, key, sizeof key))
            return KVQ_ERR_FORMAT;
        hp_ws(p);
        if (p->s >= p->end || *p->s != ':')
            return hp_fail(p, "expected ':' after a key");
        p->s++;
        hp_ws(p);
        if (p->s >= p->end)
            return hp_fail(p, "unterminated dict");
        if (hp_value(p, key, h))
            return KVQ_ERR_FORMAT;
        hp_ws(p);
        if (p->s < p->end && *p->s == ',')
            p->s++;
        else if (p->s < p->end && *p->s != '}')
            return hp_fail(p, "expected ',' or '}' after a value");
    }
    p->s++;
    hp_ws(p);
    if (p->s != p->end)
        return hp_fail(p, "text after the dict");
    return 0;
}

/* Maps descr to an element type or explains why kvq cannot read it. */
static int descr_elem(const npy_header *h, int *elem, char *err, size_t errlen)
{
    static const struct { const char *d; int e; } tab[] = {
        {"<f4", KVQ_ELEM_F32}, {"<f2", KVQ_ELEM_F16}, {"<f8", KVQ_ELEM_F64}};
    const char *want = "kvq reads little-endian <f4, <f2, <f8";
    if (h->descr_structured)
        return kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                             "npy header: 'descr' is a structured dtype; %s", want);
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(h->descr, tab[i].d)) {
            *elem = tab[i].e;
            return 0;
        }
    if (h->descr[0] == '>')
        return kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                             "npy header: 'descr' is '%s' (big-endian); %s", h->descr, want);
    return kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                         "npy header: 'descr' is '%s', an unsupported dtype; %s", h->descr, want);
}

/* Reads magic, version and header length; sets hoff and hlen. */
static int read_preamble(kvq__bytes *b, uint64_t *hoff, size_t *hlen, int *major,
                         char *err, size_t errlen)
{
    unsigned char pre[12];
    if (b->size < 10)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "not an npy file: only %llu bytes", (unsigned long long)b->size);
    int rc = kvq__bytes_read(b, 0, pre, 10, err, errlen);
    if (rc)
        return rc;
    if (memcmp(pre, "\x93NUMPY", 6))
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "not an npy file: bad magic");
    *major = pre[6];
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                             "npy version %u.%u; kvq reads 1.0, 2.0, 3.0", pre[6], pre[7]);
    if (pre[6] == 1) {
        *hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        *hoff = 10;
    } else {
        if (b->size < 12)
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "npy header: file is truncated");
        if ((rc = kvq__bytes_read(b, 10, pre + 10, 2, err, errlen)))
            return rc;
        uint32_t l = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
                     (uint32_t)pre[11] << 24;
        if (l > NPY_HEADER_MAX)
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                                 "npy header length %lu exceeds kvq's limit of %u bytes",
                                 (unsigned long)l, NPY_HEADER_MAX);
        *hlen = l;
        *hoff = 12;
    }
    if (*hlen > b->size - *hoff)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "npy header length %zu runs past the end of the file (%llu bytes)",
                             *hlen, (unsigned long long)b->size);
    return 0;
}

/* Checks the header's keys and values, and the data size against the file. */
static int check_header(const npy_header *h, int *elem, size_t *count, uint64_t dsize,
                        char *err, size_t errlen)
{
    static const char *names[] = {"descr", "fortran_order", "shape"};
    const int have[] = {h->have_descr, h->have_fortran, h->have_shape};
    size_t n = 1, bytes;
    int rc;
    for (int i = 0; i < 3; i++)
        if (!have[i])
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                                 "npy header: missing key '%s'", names[i]);
    if ((rc = descr_elem(h, elem, err, errlen)))
        return rc;
    if (h->fortran && h->ndim > 1)
        return kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                             "npy header: 'fortran_order' is True; kvq reads C order "
                             "(save with numpy.ascontiguousarray)");
    for (int i = 0; i < h->ndim; i++)
        if (!kvq__mul_size(n, h->shape[i], &n))
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                                 "npy header: 'shape' overflows (too many elements)");
    if (!kvq__mul_size(n, kvq__elem_size(*elem), &bytes))
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "npy header: 'shape' overflows (too many bytes)");
    if (bytes > dsize)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "data is truncated: shape needs %zu bytes, file has %llu",
                             bytes, (unsigned long long)dsize);
    if (bytes < dsize)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "%llu unexpected bytes after the data",
                             (unsigned long long)(dsize - bytes));
    if (h->ndim > 4)
        return kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                             "array has %d dimensions; kvq reads at most 4", h->ndim);
    *count = n;
    return 0;
}

/* Validates that v3 headers are UTF-8 and v1/v2 headers hold no NUL. */
static int check_text(const unsigned char *s, size_t n, int major, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i], need, cp;
        if (c == 0)
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "npy header: contains a NUL byte");
        if (major < 3 || c < 0x80)
            continue;
        need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 9;
        if (need == 9 || c > 0xf4 || i + need >= n)
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "npy header: invalid UTF-8");
        cp = c & (0x3fu >> need);
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "npy header: invalid UTF-8");
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "npy header: invalid UTF-8");
        i += need;
    }
    return 0;
}

/* Parses and checks the header of a .npy byte source: t gets the shape
 * (no data), *elem the element type, *count the elements, *data_off where
 * they start. */
static int npy_header_read(kvq__bytes *b, kvq_tensor *t, int *elem, size_t *count,
                           uint64_t *data_off, char *err, size_t errlen)
{
    npy_header h;
    uint64_t hoff = 0;
    size_t hlen = 0;
    int major = 0, rc;
    char *text = NULL;
    memset(t, 0, sizeof *t);
    memset(&h, 0, sizeof h);
    if ((rc = read_preamble(b, &hoff, &hlen, &major, err, errlen)))
        return rc;
    if (!(text = malloc(hlen + 1)))
        return kvq__data_errf(err, errlen, KVQ_ERR_NOMEM, "out of memory for the npy header");
    if ((rc = kvq__bytes_read(b, hoff, text, hlen, err, errlen)) ||
        (rc = check_text((unsigned char *)text, hlen, major, err, errlen)))
        goto done;
    hp p = {text, text + hlen, err, errlen};
    if ((rc = hp_dict(&p, &h)) ||
        (rc = check_header(&h, elem, count, b->size - hoff - hlen, err, errlen)))
        goto done;
    *data_off = hoff + hlen;
    t->ndim = h.ndim;
    for (int i = 0; i < 4; i++)
        t->shape[i] = i < h.ndim ? h.shape[i] : 1;
done:
    free(text);
    return rc;
}

/* Reads a whole .npy from a byte source. */
static int npy_read(kvq__bytes *b, kvq_tensor *t, char *err, size_t errlen)
{
    uint64_t off = 0;
    size_t count = 0;
    int elem = 0;
    int rc = npy_header_read(b, t, &elem, &count, &off, err, errlen);
    if (!rc && (rc = kvq__bytes_read_floats(b, off, elem, count, &t->data, err, errlen)))
        memset(t, 0, sizeof *t);
    return rc;
}

int kvq__npy_open(const char *path, kvq__npy_file *f, char *err, size_t errlen)
{
    size_t count;
    int rc;
    memset(f, 0, sizeof *f);
    if ((rc = kvq__bytes_open(&f->b, path, err, errlen)))
        return rc;
    if ((rc = npy_header_read(&f->b, &f->shape, &f->elem, &count, &f->off, err, errlen)))
        kvq__npy_close(f);
    return rc;
}

int kvq__npy_read_elems(kvq__npy_file *f, size_t first, size_t count, float *dst, char *err,
                        size_t errlen)
{
    uint64_t off = f->off + (uint64_t)first * kvq__elem_size(f->elem);
    return kvq__bytes_read_floats_to(&f->b, off, f->elem, count, dst, err, errlen);
}

void kvq__npy_close(kvq__npy_file *f)
{
    kvq__bytes_close(&f->b);
    memset(f, 0, sizeof *f);
}

int kvq__npy_read(const char *path, kvq_tensor *t, char *err, size_t errlen)
{
    kvq__bytes b;
    int rc;
    memset(t, 0, sizeof *t);
    if ((rc = kvq__bytes_open(&b, path, err, errlen)))
        return rc;
    rc = npy_read(&b, t, err, errlen);
    kvq__bytes_close(&b);
    return rc;
}

int kvq__npy_read_mem(const void *buf, size_t len, kvq_tensor *t, char *err, size_t errlen)
{
    kvq__bytes b;
    kvq__bytes_mem(&b, buf, len);
    return npy_read(&b, t, err, errlen);
}

/* Builds the padded header (preamble included) into buf; returns its length. */
static size_t make_header(const kvq_tensor *t, char *buf, size_t cap)
{
    char dict[512];
    size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < t->ndim; i++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%zu%s", i ? ", " : "",
                              t->shape[i], t->ndim == 1 ? "," : "");
    n += (size_t)snprintf(dict + n, sizeof dict - n, "), }");
    int v2 = 10 + n + 1 > 65535;
    size_t pre = v2 ? 12 : 10, total = (pre + n + 1 + 63) / 64 * 64, hlen = total - pre;
    if (total > cap)
        return 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = v2 ? 2 : 1;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (char)(hlen >> (8 * i));
    memcpy(buf + pre, dict, n);
    memset(buf + pre + n, ' ', hlen - n - 1);
    buf[total - 1] = '\n';
    return total;
}

/* Writes header and little-endian data to an open stream. */
static int write_body(FILE *f, void *arg)
{
    const kvq_tensor *t = arg;
    char hdr[640];
    size_t hl = make_header(t, hdr, sizeof hdr), n = kvq_tensor_numel(t);
    if (!hl || fwrite(hdr, 1, hl, f) != hl)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        unsigned char le[4];
        memcpy(&w, &t->data[i], 4);
        for (int k = 0; k < 4; k++)
            le[k] = (unsigned char)(w >> (8 * k));
        if (fwrite(le, 1, 4, f) != 4)
            return -1;
    }
    return 0;
}

/* Writes t as an '<f4' .npy file atomically (temp file + rename). */
int kvq_npy_write(const char *path, const kvq_tensor *t, char *err, size_t errlen)
{
    static const char *const what[] = {
        [KVQ_REPLACE_CREATE] = "cannot create a temporary file",
        [KVQ_REPLACE_WRITE] = "write failed",
        [KVQ_REPLACE_RENAME] = "cannot rename into place",
    };
    if (!t || t->ndim < 0 || t->ndim > 4 || (!t->data && kvq_tensor_numel(t)))
        return kvq__data_errf(err, errlen, KVQ_ERR_INVALID_ARG, "invalid tensor");
    int stage = kvq__file_replace(path, write_body, (void *)t, 0644, NULL);
    if (stage == KVQ_REPLACE_OK)
        return 0;
    return kvq__data_errf(err, errlen, KVQ_ERR_IO, "%s: %s", what[stage], strerror(errno));
}
