/* rotation.c — the orthogonal rotations R of doc/quantization.md §3: identity, randomized
 * Walsh–Hadamard (one or two rounds, O(d log d)) and dense Haar-random. */
#include <math.h>
#include <stdlib.h>

#include "kvq.h"
#include "core/core.h"

struct kvq_rotation {
    int kind, dim, rounds;
    float *signs;       /* rounds × dim values ±1 */
    const double *matrix;   /* dense: dim × dim, row-major; a memo block */
};

/* Sylvester butterfly: log2(dim) passes of (a, b) → (a + b, a − b). */
void kvq__wht_inplace(double *x, int dim)
{
    for (int h = 1; h < dim; h <<= 1)
        for (int i = 0; i < dim; i += h << 1)
            for (int j = i; j < i + h; j++) {
                double a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

/* x ← H x / sqrt(dim). */
static void wht_scaled(double *x, int dim)
{
    double s = 1.0 / sqrt((double)dim);
    kvq__wht_inplace(x, dim);
    for (int i = 0; i < dim; i++)
        x[i] *= s;
}

/* x ← D x for the signs of one round. */
static void apply_signs(double *x, const float *s, int dim)
{
    for (int i = 0; i < dim; i++)
        x[i] *= s[i];
}

/* Signs of every round: s_i of round r from the lowest bit of stream word r·dim + i. */
static void draw_signs(kvq_rotation *r, uint64_t seed, uint32_t purpose, uint32_t trial)
{
    size_t n = (size_t)r->rounds * r->dim;
    uint32_t blk[4];
    for (size_t i = 0; i < n; i++) {
        if ((i & 3) == 0)
            kvq__core_block(seed, purpose, trial, i >> 2, blk);
        r->signs[i] = (blk[i & 3] & 1u) ? -1.0f : 1.0f;
    }
}

/* Dense Haar rotation (the memo's maker for KVQ__MEMO_HAAR): orthonormalize
 * the columns of a Gaussian matrix by modified Gram–Schmidt, twice ("twice
 * is enough"), which is Q of G = QR with diag(R) > 0. q holds the columns,
 * column j at q[j·dim]; out gets R row-major. */
static int draw_dense(const kvq__memo_key *k, void *out)
{
    int d = k->rows;
    double *q = malloc((size_t)d * d * sizeof *q), *matrix = out;
    float *row = malloc((size_t)d * sizeof *row);
    if (!q || !row) {
        free(q);
        free(row);
        return KVQ_ERR_NOMEM;
    }
    for (int i = 0; i < d; i++) {          /* G[i][j] = normal i·d + j, stored by column */
        kvq__rng_fill_normal(k->seed, k->purpose, k->trial, (uint64_t)i * d, row, (size_t)d);
        for (int j = 0; j < d; j++)
            q[(size_t)j * d + i] = row[j];
    }
    for (int j = 0; j < d; j++) {
        double *qj = q + (size_t)j * d;
        for (int pass = 0; pass < 2; pass++)
            for (int c = 0; c < j; c++) {
                const double *qc = q + (size_t)c * d;
                double dot = 0.0;
                for (int i = 0; i < d; i++)
                    dot += qc[i] * qj[i];
                for (int i = 0; i < d; i++)
                    qj[i] -= dot * qc[i];
            }
        double nrm = 0.0;
        for (int i = 0; i < d; i++)
            nrm += qj[i] * qj[i];
        nrm = 1.0 / sqrt(nrm);
        for (int i = 0; i < d; i++)
            qj[i] *= nrm;
    }
    for (int i = 0; i < d; i++)            /* row-major R[i][j] = q column j, entry i */
        for (int j = 0; j < d; j++)
            matrix[(size_t)i * d + j] = q[(size_t)j * d + i];
    free(q);
    free(row);
    return 0;
}

/* The dense rotation of (seed, purpose, trial) at dim, shared with every
 * codec of the trial that draws the same one (doc/quantization.md §5.9). */
static int dense_get(kvq_rotation *r, uint64_t seed, uint32_t purpose, uint32_t trial)
{
    kvq__memo_key k = {seed, purpose, trial, r->dim, r->dim, KVQ__MEMO_HAAR};
    const void *p;
    int st = kvq__memo_acquire(&k, (size_t)r->dim * r->dim * sizeof *r->matrix, draw_dense, &p);
    r->matrix = p;
    return st;
}

/* Sign rounds of each kind. */
static int kind_rounds(int kind)
{
    return kind == KVQ_ROT_WHT ? 1 : kind == KVQ_ROT_WHT2 ? 2 : 0;
}

/* wht and wht2 at a dim that is not a power of two become dense (doc/quantization.md §3). */
int kvq__rotation_at(int kind, int dim)
{
    return kind_rounds(kind) && !kvq__core_pow2(dim) ? KVQ_ROT_DENSE : kind;
}

/* Creates a rotation of the given kind for dim from the stream (seed, purpose, trial). */
int kvq_rotation_create(kvq_rotation **out, int kind, int dim, uint64_t seed,
                        uint32_t purpose, uint32_t trial)
{
    if (out)
        *out = NULL;
    if (!kvq__core_dim_ok(dim))
        return KVQ_ERR_INVALID_ARG;
    return kvq__rotation_create_any(out, kind, dim, seed, purpose, trial);
}

int kvq__rotation_create_any(kvq_rotation **out, int kind, int dim, uint64_t seed,
                             uint32_t purpose, uint32_t trial)
{
    int st = KVQ_ERR_NOMEM;
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    if (kind < KVQ_ROT_NONE || kind > KVQ_ROT_DENSE || dim < 1 || dim > KVQ__DIM_MAX ||
        (kind_rounds(kind) && !kvq__core_pow2(dim)))
        return KVQ_ERR_INVALID_ARG;
    kvq_rotation *r = calloc(1, sizeof *r);
    if (!r)
        return KVQ_ERR_NOMEM;
    r->kind = kind;
    r->dim = dim;
    r->rounds = kind_rounds(kind);
    if (r->rounds) {
        if (!(r->signs = malloc((size_t)r->rounds * dim * sizeof *r->signs)))
            goto fail;
        draw_signs(r, seed, purpose, trial);
    }
    if (kind == KVQ_ROT_DENSE) {
        if ((st = dense_get(r, seed, purpose, trial)) != 0)
            goto fail;
    }
    *out = r;
    return 0;
fail:
    kvq_rotation_destroy(r);
    return st;
}

void kvq_rotation_destroy(kvq_rotation *r)
{
    if (!r)
        return;
    free(r->signs);
    kvq__memo_release(r->matrix);
    free(r);
}

/* x ← M x (transpose = 0) or x ← Mᵀ x (transpose = 1); reentrant (stack scratch). */
static void dense_apply(const kvq_rotation *r, double *x, int transpose)
{
    int d = r->dim;
    const double *m = r->matrix;
    double tmp[1024];
    for (int i = 0; i < d; i++)
        tmp[i] = 0.0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            if (transpose)
                tmp[j] += m[(size_t)i * d + j] * x[i];
            else
                tmp[i] += m[(size_t)i * d + j] * x[j];
        }
    for (int i = 0; i < d; i++)
        x[i] = tmp[i];
}

/* x ← R_k⋯R_1 x with R_k = H D_k / sqrt(d): signs first, then the butterfly. */
void kvq_rotation_forward(const kvq_rotation *r, double *x)
{
    if (r->kind == KVQ_ROT_DENSE) {
        dense_apply(r, x, 0);
        return;
    }
    for (int k = 0; k < r->rounds; k++) {
        apply_signs(x, r->signs + (size_t)k * r->dim, r->dim);
        wht_scaled(x, r->dim);
    }
}

/* x ← R_1ᵀ⋯R_kᵀ x with R_kᵀ = D_k H / sqrt(d): butterfly first, then the signs. */
void kvq_rotation_inverse(const kvq_rotation *r, double *x)
{
    if (r->kind == KVQ_ROT_DENSE) {
        dense_apply(r, x, 1);
        return;
    }
    for (int k = r->rounds - 1; k >= 0; k--) {
        wht_scaled(x, r->dim);
        apply_signs(x, r->signs + (size_t)k * r->dim, r->dim);
    }
}

int kvq_rotation_kind(const kvq_rotation *r) { return r->kind; }
int kvq_rotation_dim(const kvq_rotation *r) { return r->dim; }
/* Number of sign rounds: 0 (none, dense), 1 (wht), 2 (wht2). */
int kvq__rotation_rounds(const kvq_rotation *r) { return r->rounds; }
const double *kvq__rotation_matrix(const kvq_rotation *r) { return r->matrix; }

const float *kvq__rotation_signs(const kvq_rotation *r, int round)
{
    if (round < 0 || round >= r->rounds)
        return NULL;
    return r->signs + (size_t)round * r->dim;
}
