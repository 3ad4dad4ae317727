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

/* ---- Tensors and KV sets as the library sees them ---- */

/* shape[i] for i >= ndim is 1; data is NULL when there are no elements. */
struct kvq_tensor {
    float *data;
    int ndim;
    size_t shape[4];
};
/* Frees the data and zeroes the struct (safe on a zeroed struct). */
void kvq__tensor_clear(kvq_tensor *t);
/* The readers behind kvq_tensor_create_npy/_safetensors, into a caller-owned
 * struct; the _mem forms parse a buffer (the fuzzing entry points). On
 * failure *t is zeroed. */
int kvq__npy_read(const char *path, kvq_tensor *t, char *err, size_t errlen);
int kvq__npy_read_mem(const void *buf, size_t len, kvq_tensor *t, char *err, size_t errlen);
int kvq__safetensors_read(const char *path, const char *name, kvq_tensor *t, char *err,
                          size_t errlen);
int kvq__safetensors_read_mem(const void *buf, size_t len, const char *name, kvq_tensor *t,
                              char *err, size_t errlen);
/* The string value of `key` in the "__metadata__" of a .safetensors file,
 * after validating the whole header as the tensor readers do: 1 with
 * *value a malloc'd NUL-terminated copy (the caller frees it), 0 when the
 * file has no such key (*value = NULL), < 0 on error (a value holding a NUL
 * character is KVQ_ERR_FORMAT). The _mem form parses a buffer. */
int kvq__safetensors_meta(const char *path, const char *key, char **value, char *err,
                          size_t errlen);
int kvq__safetensors_meta_mem(const void *buf, size_t len, const char *key, char **value,
                              char *err, size_t errlen);
/* The layers L (ascending) for which the file has a tensor "layer{L}.k"
 * (tools/export_kv.py's names; L decimal without leading zeros, < 10^6):
 * at most max of them into layers, their number in *n. */
int kvq__safetensors_layers(const char *path, int *layers, size_t max, size_t *n, char *err,
                            size_t errlen);
/* Zero-pads the last dimension to new_dim in place (dot products and norms
 * are unchanged; the logit scale must stay that of the original d). */
int kvq__tensor_pad_dim(kvq_tensor *t, size_t new_dim);

struct kvq_kv {
    kvq_tensor k, v, q;      /* q.data == NULL when there are no queries */
    size_t heads, keys, queries, dim, q_group;
};
/* kvq_kv_create_safetensors into a caller-owned struct; q_name "" means
 * "no queries" (a layer without its q tensor). */
int kvq__kv_load_safetensors(const char *path, const char *k_name, const char *v_name,
                             const char *q_name, kvq_kv *kv, char *err, size_t errlen);
int kvq__kv_load_npy(const char *k_path, const char *v_path, const char *q_path, kvq_kv *kv,
                     const char **bad_path, char *err, size_t errlen);
void kvq__kv_clear(kvq_kv *kv);

/* What tools/export_kv.py records about a file and its layers (string
 * metadata, doc/statistics.md §1.6). */
typedef struct kvq__kv_meta {
    double sharpness;   /* "layer{L}.sharpness" (without a layer: "sharpness"); NaN if absent */
    int causal;         /* "causal": 1 or 0; -1 if absent */
} kvq__kv_meta;
/* Reads and validates them for layer (< 0: a file without layers): a
 * sharpness that is not a positive number, or a causal other than "1"/"0",
 * is KVQ_ERR_FORMAT naming the key. */
int kvq__kv_meta_read(const char *path, int layer, kvq__kv_meta *m, char *err, size_t errlen);

/* Index j(i) of the key planted in query i by a needle source. */
size_t kvq__source_needle_index(uint64_t seed, uint32_t trial, size_t i, size_t n_keys);

#endif
