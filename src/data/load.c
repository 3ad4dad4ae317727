/* load.c — loads a real K, V (and optional Q) set for `kvq run`, checking
 * finiteness, layouts and that the three tensors agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

/* Elements read at a time when a file on disk is checked. */
#define SCAN_ELEMS ((size_t)1 << 20)

/* kvq_tensor_check_finite over a file on disk, SCAN_ELEMS at a time. */
static int file_check_finite(kvq__npy_file *f, char *err, size_t errlen)
{
    size_t n = kvq_tensor_numel(&f->shape);
    float *buf = malloc((n < SCAN_ELEMS ? n : SCAN_ELEMS) * sizeof *buf + 1);
    int rc = buf ? 0 : kvq__data_errf(err, errlen, KVQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i += SCAN_ELEMS) {
        size_t c = n - i < SCAN_ELEMS ? n - i : SCAN_ELEMS;
        if (!(rc = kvq__npy_read_elems(f, i, c, buf, err, errlen)))
            rc = kvq__check_finite_at(&f->shape, buf, i, c, err, errlen);
    }
    free(buf);
    return rc;
}

/* Checks one tensor and views it as heads; which = "K", "V" or "Q". A
 * tensor left on disk (file) is checked by reading it. */
static int view_file(const kvq_tensor *t, kvq__npy_file *file, const char *which, size_t *h,
                     size_t *n, size_t *d, char *err, size_t errlen)
{
    char inner[200];
    int rc = file ? file_check_finite(file, inner, sizeof inner)
                  : kvq_tensor_check_finite(t, inner, sizeof inner);
    if (!rc)
        rc = kvq_tensor_as_heads(t, h, n, d, inner, sizeof inner);
    if (rc)
        return kvq__data_errf(err, errlen, rc, "%s: %s", which, inner);
    return 0;
}

static int view(const kvq_tensor *t, const char *which, size_t *h, size_t *n, size_t *d,
                char *err, size_t errlen)
{
    return view_file(t, NULL, which, h, n, d, err, errlen);
}

/* Checks that K, V, Q agree, folds grouped query heads, checks d.
 * *bad is 0, 1 or 2 for the tensor (K, V, Q) an error is about. */
static int check_set(kvq_kv *kv, int has_q, int *bad, char *err, size_t errlen)
{
    size_t hv, nv, dv, hq, nq, dq;
    int rc;
    *bad = 0;
    if ((rc = view_file(&kv->k, kv->kfile, "K", &kv->heads, &kv->keys, &kv->dim, err, errlen)))
        return rc;
    *bad = 1;
    if ((rc = view_file(&kv->v, kv->vfile, "V", &hv, &nv, &dv, err, errlen)))
        return rc;
    if (hv != kv->heads || nv != kv->keys || dv != kv->dim)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "V has %zu heads x %zu vectors x %zu dims but K has %zu x %zu x %zu",
                             hv, nv, dv, kv->heads, kv->keys, kv->dim);
    *bad = 0;
    if ((rc = kvq_dim_check(kv->dim, err, errlen)))
        return rc;
    kv->q_group = 1;
    if (!has_q)
        return 0;
    *bad = 2;
    if ((rc = view(&kv->q, "Q", &hq, &nq, &dq, err, errlen)))
        return rc;
    if (dq != kv->dim || hq % kv->heads)
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                             "Q has %zu heads x %zu dims; K has %zu x %zu (Q heads must be a "
                             "multiple of K heads)", hq, dq, kv->heads, kv->dim);
    kv->q_group = hq / kv->heads;
    kv->queries = nq * kv->q_group;   /* query heads of a group are contiguous */
    return 0;
}

void kvq__kv_clear(kvq_kv *kv)
{
    if (!kv)
        return;
    kvq__tensor_clear(&kv->k);
    kvq__tensor_clear(&kv->v);
    kvq__tensor_clear(&kv->q);
    kvq__npy_file *files[2] = {kv->kfile, kv->vfile};
    for (int i = 0; i < 2; i++)
        if (files[i]) {
            kvq__npy_close(files[i]);
            free(files[i]);
        }
    memset(kv, 0, sizeof *kv);
}

/* Loads K, V, Q from one .safetensors file. */
int kvq__kv_load_safetensors(const char *path, const char *k_name, const char *v_name,
                            const char *q_name, kvq_kv *kv, char *err, size_t errlen)
{
    int rc, bad, has_q = q_name != NULL && *q_name;
    memset(kv, 0, sizeof *kv);
    if ((rc = kvq__safetensors_read(path, k_name ? k_name : "k", &kv->k, err, errlen)) ||
        (rc = kvq__safetensors_read(path, v_name ? v_name : "v", &kv->v, err, errlen)))
        goto fail;
    if (!q_name && (rc = kvq_safetensors_has(path, "q", err, errlen)) < 0)
        goto fail;
    has_q = has_q || (!q_name && rc == 1);
    if (has_q && (rc = kvq__safetensors_read(path, q_name ? q_name : "q", &kv->q, err, errlen)))
        goto fail;
    if ((rc = check_set(kv, has_q, &bad, err, errlen)))
        goto fail;
    return 0;
fail:
    kvq__kv_clear(kv);
    return rc;
}

/* Opens one streamed tensor; its shape goes to t (data NULL). */
static int open_stream(const char *path, kvq__npy_file **f, kvq_tensor *t, char *err,
                       size_t errlen)
{
    if (!(*f = malloc(sizeof **f)))
        return kvq__data_errf(err, errlen, KVQ_ERR_NOMEM, "out of memory");
    int rc = kvq__npy_open(path, *f, err, errlen);
    if (rc) {
        free(*f);
        *f = NULL;
        return rc;
    }
    *t = (*f)->shape;
    return 0;
}

/* Loads K, V and optionally Q from .npy files; with stream, K and V stay
 * on disk. */
static int npy_set(const char *k_path, const char *v_path, const char *q_path, int stream,
                   kvq_kv *kv, const char **bad_path, char *err, size_t errlen)
{
    const char *paths[3] = {k_path, v_path, q_path};
    kvq_tensor *ts[3] = {&kv->k, &kv->v, &kv->q};
    kvq__npy_file **files[2] = {&kv->kfile, &kv->vfile};
    int rc = 0, bad;
    memset(kv, 0, sizeof *kv);
    for (bad = 0; bad < 3 && !rc; bad++)
        if (paths[bad])
            rc = stream && bad < 2 ? open_stream(paths[bad], files[bad], ts[bad], err, errlen)
                                   : kvq__npy_read(paths[bad], ts[bad], err, errlen);
    bad--;
    if (!rc)
        rc = check_set(kv, q_path != NULL, &bad, err, errlen);
    if (bad_path)
        *bad_path = rc ? paths[bad] : NULL;
    if (rc)
        kvq__kv_clear(kv);
    return rc;
}

int kvq__kv_load_npy(const char *k_path, const char *v_path, const char *q_path,
                    kvq_kv *kv, const char **bad_path, char *err, size_t errlen)
{
    return npy_set(k_path, v_path, q_path, 0, kv, bad_path, err, errlen);
}

int kvq__kv_open_npy(const char *k_path, const char *v_path, const char *q_path, kvq_kv *kv,
                     const char **bad_path, char *err, size_t errlen)
{
    return npy_set(k_path, v_path, q_path, 1, kv, bad_path, err, errlen);
}

/* Parses a recorded sharpness: a finite number > 0, the whole string. */
static int meta_sharpness(const char *key, const char *text, double *out, char *err,
                          size_t errlen)
{
    char *end;
    double x = strtod(text, &end);
    if (end == text || *end || !isfinite(x) || !(x > 0))
        return kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                              "metadata '%s' is '%.40s', not a positive number", key, text);
    *out = x;
    return 0;
}

/* What the exporter recorded about the file and one layer (data_internal.h). */
int kvq__kv_meta_read(const char *path, int layer, kvq__kv_meta *m, char *err, size_t errlen)
{
    char key[32], *v = NULL;
    int rc;
    m->sharpness = NAN;
    m->causal = -1;
    if (layer >= 0)
        snprintf(key, sizeof key, "layer%d.sharpness", layer);
    else
        snprintf(key, sizeof key, "sharpness");
    if ((rc = kvq__safetensors_meta(path, key, &v, err, errlen)) < 0)
        return rc;
    rc = rc ? meta_sharpness(key, v, &m->sharpness, err, errlen) : 0;
    free(v);
    v = NULL;
    if (rc || (rc = kvq__safetensors_meta(path, "causal", &v, err, errlen)) < 0)
        return rc;
    if (rc && strcmp(v, "0") && strcmp(v, "1"))
        rc = kvq__data_errf(err, errlen, KVQ_ERR_FORMAT,
                            "metadata 'causal' is '%.40s'; expected \"1\" or \"0\"", v);
    else
        rc = (m->causal = rc ? v[0] == '1' : -1, 0);
    free(v);
    return rc;
}

static int file_rows_read(const kvq__rows *r, size_t j0, size_t n, float *dst)
{
    const kvq__kv_rows *k = (const kvq__kv_rows *)r;
    size_t d = (size_t)r->dim;
    return kvq__npy_read_elems(k->file, k->first + j0 * d, n * d, dst, NULL, 0);
}

const kvq__rows *kvq__kv_rows_init(kvq__kv_rows *r, const kvq_kv *kv, int which, size_t h)
{
    const kvq_tensor *t = which ? &kv->v : &kv->k;
    size_t nd = kv->keys * kv->dim;
    memset(r, 0, sizeof *r);
    r->file = which ? kv->vfile : kv->kfile;
    r->first = h * nd;
    if (r->file)
        r->rows = (kvq__rows){.count = kv->keys, .dim = (int)kv->dim, .read = file_rows_read};
    else
        r->rows = kvq__rows_memory(t->data + h * nd, kv->keys, (int)kv->dim);
    return &r->rows;
}
