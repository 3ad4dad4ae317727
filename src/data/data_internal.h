/* data_internal.h — helpers shared by the src/data readers (not public). */
#ifndef KVQ_DATA_INTERNAL_H
#define KVQ_DATA_INTERNAL_H

#include <stdint.h>
#include <stdio.h>
#include "kvq.h"
#include "base/rows.h"

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
/* The same into the caller's f[count]. */
int kvq__bytes_read_floats_to(kvq__bytes *b, uint64_t off, int elem, size_t count, float *f,
                             char *err, size_t errlen);

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
/* kvq_tensor_check_finite for elements [first, first + count) of t's shape,
 * held in x (a piece of a tensor read in parts). */
int kvq__check_finite_at(const kvq_tensor *t, const float *x, size_t first, size_t count,
                         char *err, size_t errlen);
/* The readers behind kvq_tensor_create_npy/_safetensors, into a caller-owned
 * struct; the _mem forms parse a buffer (the fuzzing entry points). On
 * failure *t is zeroed. */
int kvq__npy_read(const char *path, kvq_tensor *t, char *err, size_t errlen);
int kvq__npy_read_mem(const void *buf, size_t len, kvq_tensor *t, char *err, size_t errlen);
/* A .npy file open for reading elements on demand: a K or V tensor too
 * large to hold, streamed by key chunk (doc/scaling.md §6). */
typedef struct kvq__npy_file {
    kvq__bytes b;
    kvq_tensor shape;           /* the shape; data stays NULL */
    int elem;                   /* enum kvq__elem */
    uint64_t off;               /* where the elements start */
} kvq__npy_file;
/* Opens path and checks its header as kvq__npy_read does. */
int kvq__npy_open(const char *path, kvq__npy_file *f, char *err, size_t errlen);
/* Elements [first, first + count) (C order) as floats into dst; safe to
 * call from several threads at once. */
int kvq__npy_read_elems(kvq__npy_file *f, size_t first, size_t count, float *dst, char *err,
                        size_t errlen);
void kvq__npy_close(kvq__npy_file *f);
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
    kvq__npy_file *kfile, *vfile; /* K and V streamed from disk (k.data, v.data NULL) */
};
/* kvq_kv_create_safetensors into a caller-owned struct; q_name "" means
 * "no queries" (a layer without its q tensor). */
int kvq__kv_load_safetensors(const char *path, const char *k_name, const char *v_name,
                             const char *q_name, kvq_kv *kv, char *err, size_t errlen);
int kvq__kv_load_npy(const char *k_path, const char *v_path, const char *q_path, kvq_kv *kv,
                     const char **bad_path, char *err, size_t errlen);
void kvq__kv_clear(kvq_kv *kv);
/* kvq__kv_load_npy with K and V left on disk: their headers and
 * finiteness are checked by reading them once, piece by piece; Q (small)
 * is loaded. For sets too large for host memory (doc/scaling.md §6). */
int kvq__kv_open_npy(const char *k_path, const char *v_path, const char *q_path, kvq_kv *kv,
                     const char **bad_path, char *err, size_t errlen);
/* The rows of head h of K (which 0) or V (1) of kv as a row source, valid
 * while kv is: in memory, or read from its file. */
typedef struct kvq__kv_rows {
    kvq__rows rows;             /* first: read() finds the rest from it */
    kvq__npy_file *file;
    size_t first;               /* the head's first element in the file */
} kvq__kv_rows;
const kvq__rows *kvq__kv_rows_init(kvq__kv_rows *r, const kvq_kv *kv, int which, size_t h);

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

/* Rows [j0, j0 + n) of kvq_source_generate's tensor, equal to that part of
 * the whole. */
int kvq__source_generate_rows(const kvq_source *s, uint64_t seed, uint32_t purpose,
                              uint32_t trial, size_t j0, size_t n, int dim, float *out);
/* A synthetic K or V tensor made on demand, chunk by chunk (base/rows.h). */
typedef struct kvq__source_rows {
    kvq__rows rows;             /* first: read() finds the rest from it */
    const kvq_source *s;
    uint64_t seed;
    uint32_t purpose, trial;
} kvq__source_rows;
/* Sets g up for n rows of (s, seed, purpose, trial) and returns its rows. */
const kvq__rows *kvq__source_rows_init(kvq__source_rows *g, const kvq_source *s, uint64_t seed,
                                       uint32_t purpose, uint32_t trial, size_t n, int dim);
/* kvq_source_queries with the keys as a row source (a needle reads only
 * the keys it plants). */
int kvq__source_queries_rows(const kvq_source *s, uint64_t seed, uint32_t trial,
                             const kvq__rows *keys, size_t m, int dim, float *q_out);

#endif
