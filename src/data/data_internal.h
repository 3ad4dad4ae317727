/* data_internal.h — helpers shared by the src/data readers (not public). */
#ifndef KVQ_DATA_INTERNAL_H
#define KVQ_DATA_INTERNAL_H

#include <stdint.h>
#include <stdio.h>
#include "kvq.h"

/* Formats "what is wrong" into err (may be NULL) and returns status. */
int kvq__data_errf(char *err, size_t errlen, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A readable byte range: a memory buffer or an open regular file. */
typedef struct kvq__bytes {
    const unsigned char *mem;
    FILE *fp;
    uint64_t size;
} kvq__bytes;

/* Opens path as a regular file and records its size. */
int kvq__bytes_open(kvq__bytes *b, const char *path, char *err, size_t errlen);
/* Wraps a memory buffer (no copy). */
void kvq__bytes_mem(kvq__bytes *b, const void *buf, size_t len);
/* Copies len bytes at offset off into dst; the range must lie in the source. */
int kvq__bytes_read(kvq__bytes *b, uint64_t off, void *dst, size_t len, char *err, size_t errlen);
/* Closes the file, if any. */
void kvq__bytes_close(kvq__bytes *b);

/* Element types the readers convert to float. */
enum kvq__elem { KVQ_ELEM_F32, KVQ_ELEM_F16, KVQ_ELEM_BF16, KVQ_ELEM_F64 };
/* Bytes per element of an element type. */
size_t kvq__elem_size(int elem);
/* Reads count little-endian elements at off into a new float array. */
int kvq__bytes_read_floats(kvq__bytes *b, uint64_t off, int elem, size_t count,
                          float **out, char *err, size_t errlen);

/* IEEE binary16 and bfloat16 to float, exact (subnormals, Inf, NaN). */
float kvq__half_to_float(uint16_t h);
float kvq__bf16_to_float(uint16_t h);

/* a * b into *r; returns 0 on overflow of size_t. */
int kvq__mul_size(size_t a, size_t b, size_t *r);

#endif
