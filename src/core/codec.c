/* codec.c — the host reference codec (doc/quantization.md §5): a codec is the ordered
 * list of the stages present in its spec (core/stage.h); creation, the
 * per-vector quantization and dequantization, the compressed-domain
 * estimator and the budget run over that list. Inputs are float; all
 * arithmetic is double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "core/core.h"
#include "core/stage.h"

/* Scratch for one vector of a codec. */
typedef struct work {
    double *x, *y;              /* dim each */
    uint8_t *idx;               /* dim */
    int8_t *z;                  /* m */
} work;

/* Every stage accepts its part of the spec; with an out stage, the other
 * stages are those of the part over the d − c other channels. */
static int spec_valid(const kvq_codec_spec *s, int dim)
{
    if (s->out_channels) {
        kvq_codec_spec rest = kvq__out_rest_spec(s);
        return kvq__stage_out.valid(s, dim) && spec_valid(&rest, dim - s->out_channels);
    }
    for (size_t i = 0; i < kvq__stage_count; i++)
        if (kvq__stages[i]->valid && !kvq__stages[i]->valid(s, dim))
            return 0;
    return 1;
}

/* The spec with every stage's defaults filled in (with an out stage, its
 * parts resolve their own, at their own dims). */
static kvq_codec_spec spec_resolved(const kvq_codec_spec *spec, int dim)
{
    kvq_codec_spec s = *spec;
    if (s.out_channels)
        return s;
    for (size_t i = 0; i < kvq__stage_count; i++)
        if (kvq__stages[i]->resolve)
            kvq__stages[i]->resolve(&s, dim);
    return s;
}

kvq_codec_spec kvq__spec_resolved(const kvq_codec_spec *spec, int dim)
{
    return spec_resolved(spec, dim);
}

/* The present stages in table order, and the kernel parameters they set. */
static void list_stages(kvq_codec *c)
{
    kvq__stage_cost cost;
    if (c->spec.out_channels) {         /* its realize sets the parameters */
        c->stages[c->nstages++] = &kvq__stage_out;
        return;
    }
    kvq__stage_cost_sum(&c->spec, c->kp.dim, &cost);
    c->kp.side_bits = 32;
    c->kp.words = (cost.stream_bits + 31) / 32;
    for (size_t i = 0; i < kvq__stage_count; i++) {
        const kvq__stage_def *d = kvq__stages[i];
        if (!d->present(&c->spec))
            continue;
        c->stages[c->nstages++] = d;
        if (d->kernel)
            d->kernel(&c->spec, &c->kp);
    }
}

/* Realizes a spec for dim (16…1024) and trial. */
int kvq_codec_create(kvq_codec **out, const kvq_codec_spec *spec, int dim, uint64_t seed,
                     int tensor, uint32_t trial)
{
    if (out)
        *out = NULL;
    if (!kvq__core_dim_ok(dim))
        return KVQ_ERR_INVALID_ARG;
    return kvq__codec_create_part(out, spec, dim, seed, tensor, trial, 0);
}

int kvq__codec_create_part(kvq_codec **out, const kvq_codec_spec *spec, int dim, uint64_t seed,
                           int tensor, uint32_t trial, uint32_t purpose)
{
    int st = 0;
    if (!out)
        return KVQ_ERR_INVALID_ARG;
    *out = NULL;
    if (!spec || dim < 1 || dim > KVQ__DIM_MAX || (tensor != 0 && tensor != 1) ||
        !spec_valid(spec, dim))
        return KVQ_ERR_INVALID_ARG;
    kvq_codec *c = calloc(1, sizeof *c);
    if (!c)
        return KVQ_ERR_NOMEM;
    c->spec = spec_resolved(spec, dim);
    c->kp.dim = dim;
    c->tensor = tensor;
    c->rot_purpose = purpose;
    c->key = (kvq__codec_key){.spec = c->spec, .seed = seed, .dim = dim, .tensor = tensor,
                              .trial = trial, .purpose = purpose};
    list_stages(c);
    for (int i = 0; i < c->nstages && st == 0; i++)
        if (c->stages[i]->realize)
            st = c->stages[i]->realize(c, seed, tensor, trial);
    if (st != 0) {
        kvq_codec_destroy(c);
        return st;
    }
    *out = c;
    return 0;
}

void kvq_codec_destroy(kvq_codec *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nstages; i++)
        if (c->stages[i]->release)
            c->stages[i]->release(c);
    free(c);
}

int kvq_codec_dim(const kvq_codec *c) { return c->kp.dim; }
const kvq__codec_key *kvq__codec_key_get(const kvq_codec *c) { return &c->key; }

int kvq__codec_key_eq(const kvq__codec_key *a, const kvq__codec_key *b)
{
    /* field by field: the struct may have padding; the spec is all ints */
    return memcmp(&a->spec, &b->spec, sizeof a->spec) == 0 && a->seed == b->seed &&
           a->dim == b->dim && a->tensor == b->tensor && a->trial == b->trial &&
           a->purpose == b->purpose;
}
const kvq_codec_spec *kvq_codec_spec_get(const kvq_codec *c) { return &c->spec; }
const kvq_rotation *kvq__codec_rotation(const kvq_codec *c) { return c->rot; }
const kvq_codebook *kvq__codec_codebook(const kvq_codec *c) { return c->cb; }
const float *kvq__codec_qjl_matrix(const kvq_codec *c) { return c->S; }
int kvq__codec_qjl_m(const kvq_codec *c) { return c->kp.qjl_m; }
size_t kvq__codec_words(const kvq_codec *c) { return c->kp.words; }
/* What the kernels need, derived from the stages. */
const kvq__codec_kparams *kvq__codec_kparams_get(const kvq_codec *c) { return &c->kp; }

/* Allocates the scratch of one vector. */
static int work_alloc(work *w, const kvq_codec *c)
{
    w->x = malloc(2 * (size_t)c->kp.dim * sizeof *w->x);
    w->y = w->x ? w->x + c->kp.dim : NULL;
    w->idx = malloc((size_t)c->kp.dim);
    w->z = malloc((size_t)c->kp.qjl_m + 1);
    return w->x && w->idx && w->z ? 0 : KVQ_ERR_NOMEM;
}

static void work_free(work *w)
{
    free(w->x);
    free(w->idx);
    free(w->z);
}

/* The per-vector state over the scratch. */
static kvq__stage_vec vec_of(const work *w)
{
    kvq__stage_vec v = {.x = w->x, .y = w->y, .idx = w->idx, .z = w->z};
    return v;
}

/* Loads one float vector into doubles; KVQ_ERR_NONFINITE on NaN/Inf. */
static int load_vector(const float *src, int dim, double *x)
{
    for (int j = 0; j < dim; j++) {
        if (!isfinite(src[j]))
            return KVQ_ERR_NONFINITE;
        x[j] = src[j];
    }
    return 0;
}

/* Quantizes row i of x (count × dim) into slot i of out: every stage's
 * encode in order. */
static int quantize_one(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out,
                        size_t i, work *w)
{
    int dim = c->kp.dim;
    kvq__stage_vec v = vec_of(w);
    int st = load_vector(x + i * (size_t)dim, dim, v.x);
    if (st)
        return st;
    v.words = out->codes + i * c->kp.words;
    v.index = i;
    v.tside = out->tside;
    v.rows = x;
    v.count = count;
    v.norm = &out->norms[i];
    v.gamma = out->gammas ? &out->gammas[i] : NULL;
    v.nu = 0.0;
    for (int j = 0; j < dim; j++)
        v.nu += v.x[j] * v.x[j];
    v.nu = sqrt(v.nu);
    memset(v.words, 0, c->kp.words * sizeof *v.words);
    *v.norm = (float)v.nu;      /* informational unless a stage stores ν */
    memset(v.y, 0, (size_t)dim * sizeof *v.y);
    for (int s = 0; s < c->nstages && st == 0; s++)
        if (c->stages[s]->encode)
            st = c->stages[s]->encode(c, &v);
    return st;
}

/* 1 if tensor t was allocated for codec c with at least count vectors. */
static int tensor_fits(const kvq_codec *c, const kvq_qtensor *t, size_t count)
{
    return t && t->dim == c->kp.dim && t->mse_bits == c->kp.mse_bits &&
           t->qjl_m == c->kp.qjl_m && t->words == c->kp.words && t->count >= count &&
           t->codes && t->norms && (c->kp.qjl_m == 0 || t->gammas) &&
           t->tside_words == kvq__codec_tside_words(c, t->count) &&
           (t->tside_words == 0 || t->tside);
}

/* Host reference quantization of count vectors x (count × dim) into out. */
int kvq__codec_quantize(const kvq_codec *c, const float *x, size_t count, kvq_qtensor *out)
{
    work w;
    int st = 0;
    if (!c || (!x && count) || !tensor_fits(c, out, count))
        return KVQ_ERR_INVALID_ARG;
    if (c->part[0])
        return kvq__out_quantize(c, x, count, out);
    if ((st = work_alloc(&w, c)) == 0)
        for (size_t v = 0; v < count && st == 0; v++)
            st = quantize_one(c, x, count, out, v, &w);
    work_free(&w);
    return st;
}

/* Stored vector i of t. */
static kvq_stored stored_of(const kvq_codec *c, const kvq_qtensor *t, size_t i)
{
    kvq_stored s = {t->codes + i * c->kp.words, t->norms[i], t->gammas ? t->gammas[i] : 0.0f, i,
                    t->tside};
    return s;
}

/* x̂ for every vector of t (t->count × dim): every stage's decode in order. */
int kvq__codec_dequantize(const kvq_codec *c, const kvq_qtensor *t, float *xhat)
{
    work w;
    if (!c || !xhat || !tensor_fits(c, t, t ? t->count : 0))
        return KVQ_ERR_INVALID_ARG;
    if (c->part[0])
        return kvq__out_dequantize(c, t, xhat);
    int st = work_alloc(&w, c), dim = c->kp.dim;
    kvq__stage_vec v = vec_of(&w);
    for (size_t i = 0; st == 0 && i < t->count; i++) {
        kvq_stored s = stored_of(c, t, i);
        memset(v.y, 0, (size_t)dim * sizeof *v.y);
        for (int k = 0; k < c->nstages; k++)
            if (c->stages[k]->decode)
                c->stages[k]->decode(c, &s, &v);
        for (int j = 0; j < dim; j++)
            xhat[i * dim + j] = (float)v.y[j];
    }
    work_free(&w);
    return st;
}

void kvq__codec_prepare_query(const kvq_codec *c, const float *q, double *qr, double *sq)
{
    kvq__codec_prepare_query_for(c, NULL, q, qr, sq);
}

void kvq__codec_prepare_query_for(const kvq_codec *c, const kvq_qtensor *t, const float *q,
                                  double *qr, double *sq)
{
    if (c->part[0]) {
        kvq__out_prepare_query(c, t, q, qr, sq);
        return;
    }
    for (int j = 0; j < c->kp.dim; j++)
        qr[j] = q[j];
    for (int k = 0; k < c->nstages; k++)
        if (c->stages[k]->query)
            c->stages[k]->query(c, q, qr, sq);
}

/* Estimate of ⟨q, x_j⟩ from vector j of t without dequantizing. */
double kvq__codec_dot(const kvq_codec *c, const kvq_qtensor *t, size_t j, const double *qr,
                     const double *sq)
{
    if (c->part[0])
        return kvq__out_dot(c, t, j, qr, sq);
    kvq_stored s = stored_of(c, t, j);
    return kvq__codec_dot_one(c, &s, qr, sq);
}

double kvq__codec_dot_one(const kvq_codec *c, const kvq_stored *s, const double *qr,
                          const double *sq)
{
    double est = 0.0;
    for (int k = 0; k < c->nstages; k++)
        if (c->stages[k]->dot)
            est += c->stages[k]->dot(c, s, qr, sq);
    return est;
}

/* Payload bits, side bits, effective bits and bytes per token: the sum of
 * the stages' costs. */
void kvq_codec_budget(const kvq_codec_spec *spec, int dim, kvq_budget *b)
{
    kvq_codec_spec s = spec_resolved(spec, dim);
    kvq__stage_cost c;
    kvq__stage_cost_sum(&s, dim, &c);
    b->payload_bits = c.payload_bits;
    b->side_bits = c.side_values * (c.side_width ? c.side_width : 32);
    b->effective_bits = b->payload_bits + b->side_bits / dim;
    b->bytes_per_token = 4.0 * ((c.stream_bits + 31) / 32) + b->side_bits / 8.0 +
                         c.tensor_bits / 8.0;
}

/* The budget of a tensor of count vectors: kvq_codec_budget plus what is
 * stored once per tensor, the out stage's channel list (c·⌈log2 d⌉ bits,
 * doc/schemes.md §7.3), amortized over the count vectors. */
void kvq__codec_budget_count(const kvq_codec_spec *spec, int dim, size_t count, kvq_budget *b)
{
    kvq_codec_budget(spec, dim, b);
    double list = kvq__out_list_bits(spec, dim);
    if (list > 0 && count > 0) {
        b->effective_bits += list / ((double)count * dim);
        b->bytes_per_token += list / 8.0 / (double)count;
    }
}

/* KIVI's scales: per group of G tokens and channel (K), or per token and
 * group of G channels (V), one word each (fp16 δ and fp16 lo). */
size_t kvq__codec_tside_words(const kvq_codec *c, size_t count)
{
    size_t g = (size_t)c->kp.group, d = (size_t)c->kp.dim;
    if (c->kp.out_channels)     /* the channel list, then the outliers' norms */
        return (size_t)c->kp.out_channels + count;
    if (c->kp.group_axis == 1)
        return (count + g - 1) / g * d;
    if (c->kp.group_axis == 2)
        return count * ((d + g - 1) / g);
    return 0;
}

size_t kvq__codec_token_group(const kvq_codec *c)
{
    return c->kp.group_axis == 1 && c->kp.group > 0 ? (size_t)c->kp.group : 1;
}

int kvq__codec_chunkable(const kvq_codec *c)
{
    return c->kp.out_channels == 0;
}
