/* handles.c — the public, opaque face of tensors and KV sets: each handle is
 * one heap record around the caller-owned structs the readers fill. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

/* Moves a filled record of size bytes into a new heap copy at *out; on
 * failure (st, or no memory) the record is released with clear. */
static int adopt(void **out, void *filled, size_t size, void (*clear)(void *), int st)
{
    if (st)
        return st;
    *out = malloc(size);
    if (!*out) {
        clear(filled);
        return KVQ_ERR_NOMEM;
    }
    memcpy(*out, filled, size);
    return KVQ_OK;
}

static void tensor_clear(void *t) { kvq__tensor_clear(t); }
static void kv_clear(void *kv) { kvq__kv_clear(kv); }

static int adopt_tensor(kvq_tensor **out, kvq_tensor *t, int st)
{
    return adopt((void **)out, t, sizeof *t, tensor_clear, st);
}

static int adopt_kv(kvq_kv **out, kvq_kv *kv, int st)
{
    return adopt((void **)out, kv, sizeof *kv, kv_clear, st);
}

KVQ_API int kvq_tensor_create(kvq_tensor **out, int ndim, const size_t *shape)
{
    kvq_tensor t = {0};
    size_t n = 1;
    if (!out || ndim < 0 || ndim > 4 || (ndim > 0 && !shape))
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    t.ndim = ndim;
    for (int i = 0; i < 4; i++) {
        t.shape[i] = i < ndim ? shape[i] : 1;
        if (!kvq__mul_size(n, t.shape[i], &n))
            return KVQ_ERR_NOMEM;
    }
    if (n && !(t.data = calloc(n, sizeof *t.data)))
        return KVQ_ERR_NOMEM;
    return adopt_tensor(out, &t, KVQ_OK);
}

KVQ_API int kvq_tensor_create_npy(kvq_tensor **out, const char *path, char *err, size_t errlen)
{
    kvq_tensor t = {0};
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    return adopt_tensor(out, &t, kvq__npy_read(path, &t, err, errlen));
}

KVQ_API int kvq_tensor_create_safetensors(kvq_tensor **out, const char *path, const char *name,
                                          char *err, size_t errlen)
{
    kvq_tensor t = {0};
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    return adopt_tensor(out, &t, kvq__safetensors_read(path, name, &t, err, errlen));
}

KVQ_API void kvq_tensor_destroy(kvq_tensor *t)
{
    kvq__tensor_clear(t);
    free(t);
}

KVQ_API float *kvq_tensor_data(const kvq_tensor *t) { return t->data; }

KVQ_API int kvq_tensor_shape(const kvq_tensor *t, size_t shape[4])
{
    memcpy(shape, t->shape, sizeof t->shape);
    return t->ndim;
}

KVQ_API int kvq_kv_create_safetensors(kvq_kv **out, const char *path, const char *k_name,
                                      const char *v_name, const char *q_name, char *err,
                                      size_t errlen)
{
    kvq_kv kv;
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    return adopt_kv(out, &kv,
                    kvq__kv_load_safetensors(path, k_name, v_name, q_name, &kv, err, errlen));
}

KVQ_API int kvq_kv_create_npy(kvq_kv **out, const char *k_path, const char *v_path,
                              const char *q_path, const char **bad_path, char *err,
                              size_t errlen)
{
    kvq_kv kv;
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    return adopt_kv(out, &kv,
                    kvq__kv_load_npy(k_path, v_path, q_path, &kv, bad_path, err, errlen));
}

KVQ_API void kvq_kv_destroy(kvq_kv *kv)
{
    kvq__kv_clear(kv);
    free(kv);
}

KVQ_API void kvq_kv_shape(const kvq_kv *kv, size_t *heads, size_t *keys, size_t *queries,
                          size_t *dim, size_t *q_group)
{
    if (heads)
        *heads = kv->heads;
    if (keys)
        *keys = kv->keys;
    if (queries)
        *queries = kv->q.data ? kv->queries : 0;
    if (dim)
        *dim = kv->dim;
    if (q_group)
        *q_group = kv->q_group;
}

KVQ_API void kvq_kv_head(const kvq_kv *kv, size_t h, const float **k, const float **v,
                         const float **q)
{
    size_t kstride = kv->keys * kv->dim, qstride = kv->queries * kv->dim;
    if (k)
        *k = kv->k.data + h * kstride;
    if (v)
        *v = kv->v.data + h * kstride;
    if (q)
        *q = kv->q.data ? kv->q.data + h * qstride : NULL;
}
