/* data_internal.h — helpers shared by the src/data readers (not public). */
#ifndef KVQ_DATA_INTERNAL_H
#define KVQ_DATA_INTERNAL_H

#include <stdint.h>
#include <stdio.h>
#include "kvq.h"

/* Formats "what is wrong" into err (may be NULL) and returns status. */
int kvq_data_errf(char *err, size_t errlen, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A readable byte range: a memory buffer or an open regular file. */
typedef struct kvq_bytes {
    const unsigned char *mem;
    FILE *fp;
    uint64_t size;
} kvq_bytes;

/* Opens path as a regular file and records its size. */
int kvq_bytes_open(kvq_bytes *b, const char *path, char *err, size_t errlen);
/* Wraps a memory buffer (no copy). */
void kvq_bytes_mem(kvq_bytes *b, const void *buf, size_t len);
/* Copies len bytes at offset off into dst; the range must lie in the source. */
int kvq_bytes_read(kvq_bytes *b, uint64_t off, void *dst, size_t len, char *err, size_t errlen);
/* Closes the file, if any. */
void kvq_bytes_close(kvq_bytes *b);

/* Element types the readers convert to float. */
enum kvq_elem { KVQ_ELEM_F32, KVQ_ELEM_F16, KVQ_ELEM_BF16, KVQ_ELEM_F64 };
/* Bytes per element of an element type. */
size_t kvq_elem_size(int elem);
/* Reads count little-endian elements at off into a new float array. */
int kvq_bytes_read_floats(kvq_bytes *b, uint64_t off, int elem, size_t count,
                          float **out, char *err, size_t errlen);

/* IEEE binary16 and bfloat16 to float, exact (subnormals, Inf, NaN). */
float kvq_half_to_float(uint16_t h);
float kvq_bf16_to_float(uint16_t h);

/* a * b into *r; returns 0 on overflow of size_t. */
int kvq_mul_size(size_t a, size_t b, size_t *r);

#endif
