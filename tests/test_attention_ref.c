/* test_attention_ref.c — the host attention reference (the oracle of every
 * conformance test) against values computed without it: naive double loops
 * written here, closed forms, and goldens computed once with numpy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define D 16
#define N 5
#define M 2

/* Relative-or-absolute closeness (NaN only matches NaN). */
static int near(double a, double b, double rel, double abs_tol)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= abs_tol || fabs(a - b) <= rel * fabs(b);
}

/* What the test computes itself for one query. */
typedef struct naive_q {
    double l[N], lq[N];
    double kl, kl_rev, js, tv, h, hq, top1, recall, mse, bias, var, rel, dir;
} naive_q;

/* Naive softmax. */
static void softmax(const double *l, double *p)
{
    double mx = l[0], s = 0;
    for (int j = 1; j < N; j++)
        mx = l[j] > mx ? l[j] : mx;
    for (int j = 0; j < N; j++)
        s += p[j] = exp(l[j] - mx);
    for (int j = 0; j < N; j++)
        p[j] /= s;
}

/* 1 when key i is among the k largest of x (ties to the lower index). */
static int in_topk(const double *x, int i, int k)
{
    int above = 0;
    for (int j = 0; j < N; j++)
        above += x[j] > x[i] || (x[j] == x[i] && j < i);
    return above < k;
}

/* ‖a − b‖/‖b‖ and 1 − ⟨a, b⟩/(‖a‖‖b‖) of two D-vectors. */
static void rel_cos(const double *a, const double *b, double *rel, double *dir)
{
    double ab = 0, aa = 0, bb = 0, e = 0;
    for (int c = 0; c < D; c++) {
        ab += a[c] * b[c];
        aa += a[c] * a[c];
        bb += b[c] * b[c];
        e += (a[c] - b[c]) * (a[c] - b[c]);
    }
    *rel = sqrt(e / bb);
    *dir = 1 - ab / sqrt(aa * bb);
}

/* Every per-query quantity of one query, straight from the definitions:
 * logits τ/√d·⟨q, k⟩ and τ/√d·⟨q, k̂⟩, softmax, divergences, out = P·V
 * against P̃·V̂. */
static void naive_query(const float *q, const float *k, const float *kh, const float *v,
                        const float *vh, double tau, int topk, naive_q *r)
{
    double p[N], pq[N], o[D] = {0}, oq[D] = {0}, mu = 0;
    memset(r, 0, sizeof *r);
    for (int j = 0; j < N; j++)
        for (int c = 0; c < D; c++) {
            r->l[j] += tau / sqrt(D) * q[c] * k[j * D + c];
            r->lq[j] += tau / sqrt(D) * q[c] * kh[j * D + c];
        }
    softmax(r->l, p);
    softmax(r->lq, pq);
    int a1 = 0, b1 = 0, hits = 0;
    for (int j = 0; j < N; j++) {
        double mid = (p[j] + pq[j]) / 2, eps = r->lq[j] - r->l[j];
        r->kl += p[j] * log(p[j] / pq[j]);
        r->kl_rev += pq[j] * log(pq[j] / p[j]);
        r->js += 0.5 * (p[j] * log(p[j] / mid) + pq[j] * log(pq[j] / mid));
        r->tv += 0.5 * fabs(p[j] - pq[j]);
        r->h -= p[j] * log(p[j]);
        r->hq -= pq[j] * log(pq[j]);
        r->mse += eps * eps / N;
        r->bias += eps / N;
        mu += p[j] * eps;
        a1 = r->l[j] > r->l[a1] ? j : a1;
        b1 = r->lq[j] > r->lq[b1] ? j : b1;
        hits += in_topk(r->l, j, topk) && in_topk(r->lq, j, topk);
        for (int c = 0; c < D; c++) {
            o[c] += p[j] * v[j * D + c];
            oq[c] += pq[j] * vh[j * D + c];
        }
    }
    for (int j = 0; j < N; j++)
        r->var += p[j] * (r->lq[j] - r->l[j] - mu) * (r->lq[j] - r->l[j] - mu);
    r->top1 = a1 == b1;
    r->recall = (double)hits / topk;
    rel_cos(oq, o, &r->rel, &r->dir);
}

/* Mean relative squared error and mean 1 − cos over the non-zero rows. */
static void naive_vectors(const float *x, const float *xh, double *rel_mse, double *dir)
{
    int used = 0;
    *rel_mse = *dir = 0;
    for (int j = 0; j < N; j++) {
        double a[D], b[D], nb = 0, r, c;
        for (int i = 0; i < D; i++) {
            a[i] = xh[j * D + i];
            b[i] = x[j * D + i];
            nb += b[i] * b[i];
        }
        if (nb == 0)
            continue;
        rel_cos(a, b, &r, &c);
        *rel_mse += r * r;
        *dir += c;
        used++;
    }
    *rel_mse /= used;
    *dir /= used;
}

/* One job's inputs and the reference's outputs. */
typedef struct job {
    float q[M * D], k[N * D], v[N * D], kh[N * D], vh[N * D];
    kvq_codec *kc, *vc;
    kvq_qtensor kq, vq;
    kvq_query_metrics qm[M];
    float lr[M * N], lq[M * N], o[M * D], oq[M * D];
    kvq_attention_out out;
} job;

/* Quantizes k and v with the two codec specs (host codec) unless codes
 * were already written, dequantizes them, and runs the reference. */
static int job_run(job *j, const kvq_codec_spec *ks, const kvq_codec_spec *vs, double tau,
                   int topk, int prequantized)
{
    int st = 0;
    if (!prequantized) {
        st = kvq_codec_create(&j->kc, ks, D, 77, 0, 1) || kvq_codec_create(&j->vc, vs, D, 77, 1, 1) ||
             kvq__qtensor_init(&j->kq, j->kc, N) || kvq__qtensor_init(&j->vq, j->vc, N) ||
             kvq__codec_quantize(j->kc, j->k, N, &j->kq) || kvq__codec_quantize(j->vc, j->v, N, &j->vq);
    }
    if (!st)
        st = kvq__codec_dequantize(j->kc, &j->kq, j->kh) || kvq__codec_dequantize(j->vc, &j->vq, j->vh);
    kvq_attention_job aj = {.dim = D, .keys = N, .queries = M, .sharpness = tau, .topk = topk,
                            .q = j->q, .k = j->k, .v = j->v, .k_codec = j->kc, .v_codec = j->vc,
                            .k_codes = &j->kq, .v_codes = &j->vq};
    memset(&j->out, 0, sizeof j->out);
    j->out.queries = j->qm;
    j->out.want_vector_errors = 1;
    j->out.logits_ref = j->lr;
    j->out.logits_quant = j->lq;
    j->out.out_ref = j->o;
    j->out.out_quant = j->oq;
    return st ? st : kvq__reference_attention(&aj, &j->out);
}

/* Frees a job's codecs and codes. */
static void job_free(job *j)
{
    kvq__qtensor_clear(&j->kq);
    kvq__qtensor_clear(&j->vq);
    kvq_codec_destroy(j->kc);
    kvq_codec_destroy(j->vc);
}

/* The reference against naive_query/naive_vectors on seeded data with a
 * zero key, for one pair of codecs (QJL included: there the reference takes
 * ⟨q, k̂⟩ from the codes, the naive loops from the dequantized k̂). */
static void check_naive(const char *name, const kvq_codec_spec *ks, const kvq_codec_spec *vs)
{
    job *j = calloc(1, sizeof *j);
    kvq__rng_fill_normal(99, KVQ_RNG_TEST, 1, 0, j->q, M * D);
    kvq__rng_fill_normal(99, KVQ_RNG_TEST, 2, 0, j->k, N * D);
    kvq__rng_fill_normal(99, KVQ_RNG_TEST, 3, 0, j->v, N * D);
    memset(j->k + 3 * D, 0, D * sizeof(float));
    int st = job_run(j, ks, vs, 1.7, 3, 0), lg = 1, qm = 1;
    for (int i = 0; !st && i < M; i++) {
        naive_q r;
        const kvq_query_metrics *x = &j->qm[i];
        naive_query(j->q + i * D, j->k, j->kh, j->v, j->vh, 1.7, 3, &r);
        for (int t = 0; t < N; t++)
            lg &= near(j->lr[i * N + t], r.l[t], 1e-6, 1e-6) && near(j->lq[i * N + t], r.lq[t], 1e-5, 1e-5);
        qm &= near(x->kl, r.kl, 1e-4, 1e-9) && near(x->kl_rev, r.kl_rev, 1e-4, 1e-9) &&
              near(x->js, r.js, 1e-4, 1e-9) && near(x->tv, r.tv, 1e-4, 1e-9) &&
              near(x->entropy_ref, r.h, 1e-12, 0) && near(x->entropy_quant, r.hq, 1e-5, 0) &&
              x->top1 == r.top1 && x->topk_recall == r.recall &&
              near(x->logit_mse, r.mse, 1e-4, 1e-9) && near(x->logit_bias, r.bias, 1e-4, 1e-7) &&
              near(x->var_p_eps, r.var, 1e-4, 1e-9) && near(x->out_rel_err, r.rel, 1e-5, 0) &&
              near(x->out_dir_err, r.dir, 1e-4, 1e-9);
        if (!qm)
            diag("query %d: kl %g/%g out_rel %g/%g out_dir %g/%g bias %g/%g", i, x->kl, r.kl,
                 x->out_rel_err, r.rel, x->out_dir_err, r.dir, x->logit_bias, r.bias);
    }
    double km, kd, vm, vd;
    naive_vectors(j->k, j->kh, &km, &kd);
    naive_vectors(j->v, j->vh, &vm, &vd);
    ok(!st && lg, "%s: logits = τ/√d·⟨q, k⟩ and τ/√d·⟨q, k̂⟩ of naive loops", name);
    ok(!st && qm, "%s: every per-query metric = naive loops (softmax, KL, out = P·V vs P̃·V̂)", name);
    ok(!st && near(j->out.k_err.rel_mse, km, 1e-9, 0) && near(j->out.k_err.dir_err, kd, 1e-9, 0) &&
       near(j->out.v_err.rel_mse, vm, 1e-9, 0) && near(j->out.v_err.dir_err, vd, 1e-9, 0) &&
       j->out.k_err.zero_vectors == 1 && j->out.v_err.zero_vectors == 0,
       "%s: k/v rel_mse and dir_err = naive loops, the zero key left out (k_dir_err %.6g)", name,
       j->out.k_err.dir_err);
    job_free(j);
    free(j);
}

/* Goldens computed once with numpy 2.4 in float64 (a scratch script, not a
 * test dependency) for job G: d = 16, N = 5, M = 2, τ = 2, top-2;
 * q[i][c] = ((5i + 3c + 1) mod 9 − 4)/4, k[j][c] = ((7j + 5c + 2) mod 13 − 6)/8
 * with row 2 zeroed, v[j][c] = ((3j + 11c + 4) mod 7 − 3)/2 (all exact in
 * float); both codecs 1-bit, no rotation, no QJL: x̂ = float(ν·C[u > 0])
 * with ν = float(‖x‖), C = ∓0.20261030206819058 (the d = 16 codebook), and
 * the quantized logits τ/√d·ν·Σ q·C[idx] in double. The script spelled each
 * definition out (softmax, Σ p log p/p̃, ½Σ|p − p̃|, 1 − cos, means over the
 * non-zero rows). */
static const double golden_q[M][13] = {
    /* kl, kl_rev, js, tv, H(p), H(p̃), logit_mse, logit_bias, var_p_eps, out_rel, out_dir, top1, top-2 */
    {0.015168490171644566, 0.015168104233312767, 0.0037862721373936427, 0.084281943838325268,
     1.541156794593006, 1.5853790926760571, 0.049570939261017674, 0.14805890711421568,
     0.030200628687372211, 0.90331057535863624, 0.53166138932129547, 1, 0.5},
    {0.015084950893337952, 0.014857154236581661, 0.0037345058519282961, 0.075581891028684359,
     1.5927091267357203, 1.6002182728605201, 0.052753316907374351, -0.14799090796570608,
     0.03053178378485575, 0.93384533969904726, 0.51422008559857357, 1, 0.5}};
static const double golden_vec[4] = {0.25440537026617654, 0.13478635684435153,
                                     0.2751751894264699, 0.14760025395759596};
/* numpy's reference logits of query 0 (exact in float). */
static const double golden_l0[N] = {-0.375, 0.515625, 0, -0.140625, -0.46875};

/* Job G against the numpy goldens. */
static void check_golden(void)
{
    job *j = calloc(1, sizeof *j);
    kvq_codec_spec s = {.rotation = KVQ_ROT_NONE, .mse_bits = 1, .norm_bits = 32};
    for (int i = 0; i < M; i++)
        for (int c = 0; c < D; c++)
            j->q[i * D + c] = (float)(((5 * i + 3 * c + 1) % 9 - 4) * 0.25);
    for (int t = 0; t < N; t++)
        for (int c = 0; c < D; c++) {
            j->k[t * D + c] = t == 2 ? 0.0f : (float)(((7 * t + 5 * c + 2) % 13 - 6) * 0.125);
            j->v[t * D + c] = (float)(((3 * t + 11 * c + 4) % 7 - 3) * 0.5);
        }
    int st = job_run(j, &s, &s, 2.0, 2, 0), good = !st, l0 = !st;
    for (int i = 0; !st && i < M; i++) {
        const kvq_query_metrics *x = &j->qm[i];
        double got[13] = {x->kl, x->kl_rev, x->js, x->tv, x->entropy_ref, x->entropy_quant,
                          x->logit_mse, x->logit_bias, x->var_p_eps, x->out_rel_err,
                          x->out_dir_err, x->top1, x->topk_recall};
        for (int f = 0; f < 13; f++)
            if (!near(got[f], golden_q[i][f], 1e-9, 0)) {
                diag("query %d field %d: %.17g, numpy %.17g", i, f, got[f], golden_q[i][f]);
                good = 0;
            }
    }
    for (int t = 0; t < N; t++)
        l0 &= j->lr[t] == (float)golden_l0[t];
    ok(l0, "golden G: reference logits of query 0 = numpy's (τ/√d = 1/2 applied)");
    ok(good, "golden G: 13 per-query values of both queries = numpy within 1e-9");
    ok(!st && near(j->out.k_err.rel_mse, golden_vec[0], 1e-9, 0) &&
       near(j->out.k_err.dir_err, golden_vec[1], 1e-9, 0) &&
       near(j->out.v_err.rel_mse, golden_vec[2], 1e-9, 0) &&
       near(j->out.v_err.dir_err, golden_vec[3], 1e-9, 0),
       "golden G: k_rel_mse %.10g k_dir_err %.10g v_rel_mse %.10g v_dir_err %.10g = numpy",
       j->out.k_err.rel_mse, j->out.k_err.dir_err, j->out.v_err.rel_mse, j->out.v_err.dir_err);
    job_free(j);
    free(j);
}

/* Closed forms. Keys and values on the all-ones direction, x_j = a_j·1,
 * under a 2-bit codec without rotation: u = 1/√d = 1/4 in every coordinate,
 * so x̂_j = ν_j·C·1 = c·x_j with c = 4·C (C the centroid nearest 1/4) ⇒
 * dir_err 0, rel_mse (c − 1)²; the logits scale by c too, and both outputs
 * lie on 1: out_dir_err 0, out_rel_err = |c·Σp̃b / Σpb − 1|. Then values
 * hand-coded to ν·C·1 against v on (1, −1, 1, …) ⊥ 1: dir_err 1 and
 * rel_mse 1 + d·C². */
static void check_closed_forms(void)
{
    static const double a[N] = {0.5, 1, 0, 2, 1.5}, b[N] = {1, 0.25, 3, 0.5, 2};
    const kvq_codebook *cb;
    job *j = calloc(1, sizeof *j);
    kvq_codec_spec s = {.rotation = KVQ_ROT_NONE, .mse_bits = 2, .norm_bits = 32};
    kvq_codebook_get(D, 2, &cb);
    double C = cb->centroids[0];
    for (int i = 1; i < cb->levels; i++)
        C = fabs(cb->centroids[i] - 0.25) < fabs(C - 0.25) ? cb->centroids[i] : C;
    double c = 4 * C, sq = 0;
    for (int i = 0; i < D; i++) {
        j->q[i] = (float)(0.1 * i - 0.3);
        j->q[D + i] = (float)(i % 3);
        sq += j->q[i];
    }
    for (int t = 0; t < N; t++)
        for (int i = 0; i < D; i++) {
            j->k[t * D + i] = (float)a[t];
            j->v[t * D + i] = (float)b[t];
        }
    int st = job_run(j, &s, &s, 1.5, 0, 0);
    double l[N], lq[N], p[N], pq[N], sp = 0, spq = 0;
    for (int t = 0; t < N; t++) {
        l[t] = 1.5 / 4 * a[t] * sq;
        lq[t] = c * l[t];
    }
    softmax(l, p);
    softmax(lq, pq);
    for (int t = 0; t < N; t++) {
        sp += p[t] * b[t];
        spq += pq[t] * b[t];
    }
    ok(!st && fabs(j->out.k_err.dir_err) < 1e-12 && near(j->out.k_err.rel_mse, (c - 1) * (c - 1), 1e-6, 0) &&
       fabs(j->out.v_err.dir_err) < 1e-12 && near(j->out.v_err.rel_mse, (c - 1) * (c - 1), 1e-6, 0),
       "x̂ = c·x (c = %.6g): dir_err 0, rel_mse (c − 1)² = %.6g (k %.6g, v %.6g)", c,
       (c - 1) * (c - 1), j->out.k_err.rel_mse, j->out.v_err.rel_mse);
    ok(!st && fabs(j->qm[0].out_dir_err) < 1e-12 &&
       near(j->qm[0].out_rel_err, fabs(c * spq / sp - 1), 1e-6, 0) &&
       near(j->qm[0].logit_bias, (c - 1) * (l[0] + l[1] + l[2] + l[3] + l[4]) / N, 1e-6, 1e-12),
       "x̂ = c·x: out_dir_err 0, out_rel_err |c·Σp̃b/Σpb − 1| = %.6g, logit_bias (c−1)·mean ℓ",
       fabs(c * spq / sp - 1));
    /* values orthogonal to their reconstruction: codes and norms written by hand */
    int top = cb->levels - 1;
    uint8_t idx[D];
    memset(idx, top, sizeof idx);
    for (int t = 0; t < N; t++) {
        for (int i = 0; i < D; i++)
            j->v[t * D + i] = (float)((i % 2 ? -1 : 1) * b[t]);
        memset(j->vq.codes + t * j->vq.words, 0, j->vq.words * sizeof(uint32_t));
        kvq__pack_codes(idx, D, 2, j->vq.codes + t * j->vq.words);
        j->vq.norms[t] = (float)(4 * b[t]);
    }
    st = st || job_run(j, &s, &s, 1.5, 0, 1);
    double Ct = cb->centroids[top];
    ok(!st && near(j->out.v_err.dir_err, 1.0, 1e-12, 0) &&
       near(j->out.v_err.rel_mse, 1 + D * Ct * Ct, 1e-6, 0) && near(j->qm[1].out_dir_err, 1.0, 1e-9, 0),
       "x̂ ⊥ x: dir_err 1, rel_mse 1 + d·C² = %.6g (%.6g); outputs ⊥ too: out_dir_err 1",
       1 + D * Ct * Ct, j->out.v_err.rel_mse);
    job_free(j);
    free(j);
}

/* Zero query: every logit 0, p = p̃ uniform, nothing diverges. */
static void check_zero_query(void)
{
    job *j = calloc(1, sizeof *j);
    kvq_scheme s;
    kvq_scheme_preset("KQV", 3, &s);
    kvq__rng_fill_normal(5, KVQ_RNG_TEST, 1, 0, j->k, N * D);
    kvq__rng_fill_normal(5, KVQ_RNG_TEST, 2, 0, j->v, N * D);
    kvq__rng_fill_normal(5, KVQ_RNG_TEST, 3, 0, j->q + D, D);
    int st = job_run(j, &s.k, &s.v, 1.0, 0, 0);
    const kvq_query_metrics *x = &j->qm[0];
    ok(!st && x->kl == 0 && x->js == 0 && x->tv == 0 && near(x->entropy_ref, log(N), 1e-14, 0) &&
       x->logit_mse == 0 && j->lr[0] == 0 && j->lq[N - 1] == 0,
       "zero query: logits 0, uniform p = p̃, KL = JS = TV = 0, entropy ln N");
    job_free(j);
    free(j);
}

int main(void)
{
    plan(16);
    kvq_scheme qkqv, kv;
    kvq_scheme_preset("QKQV", 3, &qkqv);
    kvq_scheme_preset("KV", 2, &kv);
    kvq_codec_spec wht2 = {.rotation = KVQ_ROT_WHT2, .mse_bits = 2, .qjl = 1, .qjl_m = 8,
                           .norm_correct = 1, .norm_bits = 16};
    check_naive("QKQV n=3", &qkqv.k, &qkqv.v);
    check_naive("KV n=2", &kv.k, &kv.v);
    check_naive("wht2 mse2+qjl m=8 nc nb16", &wht2, &kv.v);
    check_golden();
    check_closed_forms();
    check_zero_query();
    return exit_status();
}
