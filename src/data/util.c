/* util.c — shared helpers of the data readers: errors, byte sources,
 * half/bfloat16 conversion and the kvq_tensor utilities. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "data/data_internal.h"

int kvq__data_errf(char *err, size_t errlen, int status, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

int kvq__mul_size(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

int kvq__bytes_open(kvq__bytes *b, const char *path, char *err, size_t errlen)
{
    struct stat st;
    memset(b, 0, sizeof *b);
    b->fp = fopen(path, "rb");
    if (!b->fp)
        return kvq__data_errf(err, errlen, KVQ_ERR_IO, "cannot open: %s", strerror(errno));
    if (fstat(fileno(b->fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        kvq__bytes_close(b);
        return kvq__data_errf(err, errlen, KVQ_ERR_IO, "not a regular file");
    }
    b->size = (uint64_t)st.st_size;
    return 0;
}

void kvq__bytes_mem(kvq__bytes *b, const void *buf, size_t len)
{
    memset(b, 0, sizeof *b);
    b->mem = buf;
    b->size = len;
}

int kvq__bytes_read(kvq__bytes *b, uint64_t off, void *dst, size_t len, char *err, size_t errlen)
{
    if (off > b->size || len > b->size - off)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "file is truncated");
    if (len == 0)
        return 0;
    if (b->mem) {
        memcpy(dst, b->mem + off, len);
        return 0;
    }
    /* pread: threads reading one streamed file (kvq --devices) share no offset */
    for (size_t done = 0; done < len;) {
        ssize_t got = off + done > (uint64_t)INT64_MAX
                          ? -1 : pread(fileno(b->fp), (char *)dst + done, len - done,
                                       (off_t)(off + done));
        if (got <= 0)
            return kvq__data_errf(err, errlen, KVQ_ERR_IO, "read failed: %s",
                                 got < 0 ? strerror(errno) : "unexpected end of file");
        done += (size_t)got;
    }
    return 0;
}

void kvq__bytes_close(kvq__bytes *b)
{
    if (b->fp)
        fclose(b->fp);
    b->fp = NULL;
}

size_t kvq__elem_size(int elem)
{
    static const size_t sizes[] = {4, 2, 2, 8};
    return sizes[elem];
}

/* IEEE binary16 to float, exact: every half is a float. */
float kvq__half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (e == 0) {                       /* zero or subnormal: m * 2^-24 */
        f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    if (e == 31)                        /* Inf or NaN, payload kept */
        bits = sign | 0x7f800000u | (m << 13);
    else
        bits = sign | ((e - 15 + 127) << 23) | (m << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 to float: the upper half of a float's bits. */
float kvq__bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Converts one little-endian element at p to float (doubles out of float
 * range become +-Inf, which kvq_tensor_check_finite reports). */
static float elem_to_float(const unsigned char *p, int elem)
{
    uint64_t u = 0;
    size_t sz = kvq__elem_size(elem);
    for (size_t i = 0; i < sz; i++)
        u |= (uint64_t)p[i] << (8 * i);
    if (elem == KVQ_ELEM_F16)
        return kvq__half_to_float((uint16_t)u);
    if (elem == KVQ_ELEM_BF16)
        return kvq__bf16_to_float((uint16_t)u);
    if (elem == KVQ_ELEM_F32) {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &u, sizeof d);
    if (d > FLT_MAX)
        return INFINITY;
    if (d < -FLT_MAX)
        return -INFINITY;
    return (float)d;
}

/* Reads count little-endian elements at off into f, through a small
 * buffer so that no second full-size array is needed. */
int kvq__bytes_read_floats_to(kvq__bytes *b, uint64_t off, int elem, size_t count, float *f,
                             char *err, size_t errlen)
{
    enum { CHUNK = 4096 };
    unsigned char buf[CHUNK * 8];
    size_t sz = kvq__elem_size(elem), done = 0;
    int rc;
    const uint32_t probe = 1;
    if (elem == KVQ_ELEM_F32 && *(const unsigned char *)&probe == 1) /* little-endian host */
        return kvq__bytes_read(b, off, f, count * sizeof *f, err, errlen);
    while (done < count) {
        size_t n = count - done < CHUNK ? count - done : CHUNK;
        if ((rc = kvq__bytes_read(b, off + (uint64_t)done * sz, buf, n * sz, err, errlen)))
            return rc;
        for (size_t i = 0; i < n; i++)
            f[done + i] = elem_to_float(buf + i * sz, elem);
        done += n;
    }
    return 0;
}

int kvq__bytes_read_floats(kvq__bytes *b, uint64_t off, int elem, size_t count,
                          float **out, char *err, size_t errlen)
{
    float *f;
    int rc;
    *out = NULL;
    if (count == 0)
        return 0;
    if (count > SIZE_MAX / sizeof(float) || !(f = malloc(count * sizeof(float))))
        return kvq__data_errf(err, errlen, KVQ_ERR_NOMEM,
                             "out of memory for %zu elements", count);
    if ((rc = kvq__bytes_read_floats_to(b, off, elem, count, f, err, errlen))) {
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void kvq__tensor_clear(kvq_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

size_t kvq_tensor_numel(const kvq_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Writes the shape as "[a, b, c]" into buf. */
static void shape_str(const kvq_tensor *t, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%zu", i ? ", " : "", t->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* Views a tensor as independent heads of [rows, dim] matrices. */
int kvq_tensor_as_heads(const kvq_tensor *t, size_t *heads, size_t *rows,
                        size_t *dim, char *err, size_t errlen)
{
    char s[128];
    shape_str(t, s, sizeof s);
    if (t->ndim < 2 || t->ndim > 4)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "shape %s has %d dimensions; kvq reads [N,d], [H,N,d] or [B,H,N,d]",
                             s, t->ndim);
    if (kvq_tensor_numel(t) == 0)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT, "tensor of shape %s is empty", s);
    *rows = t->shape[t->ndim - 2];
    *dim = t->shape[t->ndim - 1];
    *heads = kvq_tensor_numel(t) / (*rows * *dim);
    return 0;
}

int kvq_tensor_check_finite(const kvq_tensor *t, char *err, size_t errlen)
{
    return kvq__check_finite_at(t, t->data, 0, kvq_tensor_numel(t), err, errlen);
}

int kvq__check_finite_at(const kvq_tensor *t, const float *x, size_t first, size_t count,
                         char *err, size_t errlen)
{
    for (size_t e = 0; e < count; e++) {
        size_t i = first + e;
        if (isfinite(x[e]))
            continue;
        size_t idx[4], rem = i;
        char pos[128];
        size_t used = 0;
        for (int k = t->ndim - 1; k >= 0; k--) {
            idx[k] = rem % t->shape[k];
            rem /= t->shape[k];
        }
        pos[0] = 0;
        for (int k = 0; k < t->ndim; k++)
            used += (size_t)snprintf(pos + used, sizeof pos - used, "%s%zu", k ? ", " : "", idx[k]);
        return kvq__data_errf(err, errlen, KVQ_ERR_NONFINITE,
                             "element %zu (index [%s]) is %s; kvq needs finite input",
                             i, pos, isnan(x[e]) ? "NaN" : (x[e] > 0 ? "+Inf" : "-Inf"));
    }
    return 0;
}

int kvq_dim_check(size_t d, char *err, size_t errlen)
{
    if (d >= 16 && d <= 1024)     /* core/core.h: KVQ__DIM_MIN … KVQ__DIM_MAX */
        return 0;
    return kvq__data_errf(err, errlen, KVQ_ERR_UNSUPPORTED,
                         "head dimension d = %zu is outside 16..1024", d);
}

int kvq__tensor_pad_dim(kvq_tensor *t, size_t new_dim)
{
    size_t d, vecs, n;
    float *p;
    if (t->ndim < 1 || new_dim < t->shape[t->ndim - 1])
        return KVQ_ERR_INVALID_ARG;
    d = t->shape[t->ndim - 1];
    if (new_dim == d)
        return 0;
    vecs = d ? kvq_tensor_numel(t) / d : 0;
    if (!kvq__mul_size(vecs, new_dim, &n) || n > SIZE_MAX / sizeof(float))
        return KVQ_ERR_NOMEM;
    if (n == 0) {
        t->shape[t->ndim - 1] = new_dim;
        return 0;
    }
    p = calloc(n, sizeof(float));
    if (!p)
        return KVQ_ERR_NOMEM;
    for (size_t i = 0; i < vecs; i++)
        memcpy(p + i * new_dim, t->data + i * d, d * sizeof(float));
    free(t->data);
    t->data = p;
    t->shape[t->ndim - 1] = new_dim;
    return 0;
}
