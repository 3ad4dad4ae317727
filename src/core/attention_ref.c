/* attention_ref.c — the double-precision host reference of a whole
 * attention job: the oracle for the device and the `host` device itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* Softmax of n logits into p (double, max-shifted). */
static void softmax(const double *l, size_t n, double *p)
{
    double mx = -INFINITY, s = 0;
    for (size_t j = 0; j < n; j++)
        mx = fmax(mx, l[j]);
    for (size_t j = 0; j < n; j++)
        s += (p[j] = exp(l[j] - mx));
    for (size_t j = 0; j < n; j++)
        p[j] /= s;
}

/* o = Σ_j p_j x_j over n rows of dim floats. */
static void weighted_sum(const double *p, const float *x, size_t n, int dim, double *o)
{
    memset(o, 0, (size_t)dim * sizeof *o);
    for (size_t j = 0; j < n; j++)
        for (int c = 0; c < dim; c++)
            o[c] += p[j] * x[j * (size_t)dim + c];
}

/* ‖a − b‖/‖b‖ and 1 − cos(a, b) (as ½‖a/‖a‖ − b/‖b‖‖²) of two vectors. */
static void rel_dir(const double *a, const double *b, int dim, double *rel, double *dir)
{
    double na = 0, nb = 0, diff = 0, d2 = 0;
    for (int c = 0; c < dim; c++) {
        na += a[c] * a[c];
        nb += b[c] * b[c];
        diff += (a[c] - b[c]) * (a[c] - b[c]);
    }
    na = sqrt(na);
    nb = sqrt(nb);
    for (int c = 0; c < dim; c++) {
        double t = (na > 0 ? a[c] / na : 0.0) - (nb > 0 ? b[c] / nb : 0.0);
        d2 += t * t;
    }
    *rel = nb > 0 ? sqrt(diff) / nb : NAN;
    *dir = nb > 0 ? (na > 0 ? 0.5 * d2 : 1.0) : NAN;
}

/* Mean relative squared error and direction error over the non-zero rows. */
static void vector_errors(const float *x, const float *xh, size_t n, int dim,
                          kvq_vector_errors *e, double *a, double *b)
{
    double rel = 0, dir = 0;
    size_t used = 0;
    for (size_t v = 0; v < n; v++) {
        double r, d;
        for (int c = 0; c < dim; c++) {
            a[c] = xh[v * (size_t)dim + c];
            b[c] = x[v * (size_t)dim + c];
        }
        rel_dir(a, b, dim, &r, &d);
        if (isnan(r))
            continue;
        rel += r * r;
        dir += d;
        used++;
    }
    e->zero_vectors = n - used;
    e->rel_mse = used ? rel / (double)used : NAN;
    e->dir_err = used ? dir / (double)used : NAN;
}

/* Scratch of one reference run. */
typedef struct ref_work {
    double *lr, *lq, *p, *pq, *qr, *sq, *o, *oq, *a, *b;
    float *vhat, *khat;
} ref_work;

static void work_free(ref_work *w)
{
    double *d[] = {w->lr, w->lq, w->p, w->pq, w->qr, w->sq, w->o, w->oq, w->a, w->b};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        free(d[i]);
    free(w->vhat);
    free(w->khat);
}

/* Allocates the scratch for a job. */
static int work_alloc(ref_work *w, const kvq_attention_job *j)
{
    size_t n = j->keys, d = (size_t)j->dim, m = (size_t)kvq__codec_qjl_m(j->k_codec);
    memset(w, 0, sizeof *w);
    w->lr = malloc(n * sizeof(double));
    w->lq = malloc(n * sizeof(double));
    w->p = malloc(n * sizeof(double));
    w->pq = malloc(n * sizeof(double));
    w->qr = malloc(d * sizeof(double));
    w->sq = malloc((m ? m : 1) * sizeof(double));
    w->o = malloc(d * sizeof(double));
    w->oq = malloc(d * sizeof(double));
    w->a = malloc(d * sizeof(double));
    w->b = malloc(d * sizeof(double));
    w->vhat = malloc(n * d * sizeof(float));
    w->khat = malloc(n * d * sizeof(float));
    if (!w->lr || !w->lq || !w->p || !w->pq || !w->qr || !w->sq || !w->o || !w->oq || !w->a ||
        !w->b || !w->vhat || !w->khat) {
        work_free(w);
        return KVQ_ERR_NOMEM;
    }
    return KVQ_OK;
}

/* Logits of query q: exact (lr) and from the codes (lq), both times τ/√d. */
static void query_logits(const kvq_attention_job *j, const float *q, ref_work *w)
{
    double s = j->sharpness / sqrt((double)j->dim);
    kvq__codec_prepare_query_for(j->k_codec, j->k_codes, q, w->qr, w->sq);
    for (size_t k = 0; k < j->keys; k++) {
        const float *kr = j->k + k * (size_t)j->dim;
        double dot = 0;
        for (int c = 0; c < j->dim; c++)
            dot += (double)q[c] * kr[c];
        w->lr[k] = s * dot;
        w->lq[k] = s * kvq__codec_dot(j->k_codec, j->k_codes, k, w->qr, w->sq);
    }
}

/* Exports n doubles as floats when the caller asked for them. */
static void export_row(float *dst, const double *src, size_t n)
{
    if (dst)
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)src[i];
}

/* Keys query i sees: all of them, or under the causal mask of doc/metrics.md §1.5
 * the prefix 0 … keys − queries + i (masked keys have p = p̃ = 0, so every
 * sum below simply stops there). */
size_t kvq__visible_keys(const kvq_attention_job *j, size_t i)
{
    return j->causal ? j->keys - j->queries + i + 1 : j->keys;
}

/* The double-precision host reference of the same job (what the host context runs). */
int kvq__reference_attention(const kvq_attention_job *j, kvq_attention_out *out)
{
    ref_work w;
    int st = work_alloc(&w, j);
    if (st)
        return st;
    st = kvq__codec_dequantize(j->v_codec, j->v_codes, w.vhat);
    for (size_t i = 0; !st && i < j->queries; i++) {
        const float *q = j->q + i * (size_t)j->dim;
        kvq_query_metrics *qm = &out->queries[i];
        size_t vis = kvq__visible_keys(j, i);
        query_logits(j, q, &w);
        kvq_distribution_metrics(w.lr, w.lq, vis, j->topk ? j->topk : 8, qm);
        softmax(w.lr, vis, w.p);
        softmax(w.lq, vis, w.pq);
        weighted_sum(w.p, j->v, vis, j->dim, w.o);
        weighted_sum(w.pq, w.vhat, vis, j->dim, w.oq);
        rel_dir(w.oq, w.o, j->dim, &qm->out_rel_err, &qm->out_dir_err);
        export_row(out->logits_ref ? out->logits_ref + i * j->keys : NULL, w.lr, j->keys);
        export_row(out->logits_quant ? out->logits_quant + i * j->keys : NULL, w.lq, j->keys);
        export_row(out->out_ref ? out->out_ref + i * (size_t)j->dim : NULL, w.o, (size_t)j->dim);
        export_row(out->out_quant ? out->out_quant + i * (size_t)j->dim : NULL, w.oq,
                   (size_t)j->dim);
    }
    if (!st && kvq__wants_errors(out, 0)) {
        st = kvq__codec_dequantize(j->k_codec, j->k_codes, w.khat);
        vector_errors(j->k, w.khat, j->keys, j->dim, &out->k_err, w.a, w.b);
    }
    if (!st && kvq__wants_errors(out, 1))
        vector_errors(j->v, w.vhat, j->keys, j->dim, &out->v_err, w.a, w.b);
    work_free(&w);
    return st;
}

int kvq__wants_errors(const kvq_attention_out *out, int x)
{
    int w = out->want_vector_errors;
    if (w == KVQ_VECTOR_ERRORS_K || w == KVQ_VECTOR_ERRORS_V)
        return w == (x ? KVQ_VECTOR_ERRORS_V : KVQ_VECTOR_ERRORS_K);
    return w != 0;
}
