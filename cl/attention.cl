/* attention.cl — compressed-domain attention: logits straight from packed
 * codes, two-pass softmax statistics (KL, JS, TV, entropies, top-k, logit
 * error moments) with a log-sum-exp merge over key chunks, value
 * accumulation in the rotated domain, and per-vector reconstruction errors. */

/* KVQ_TOPK_MAX, KVQ_MSE_BITS_MAX and the slots of the statistics, constants
 * and accumulator records come from layout.h, which the build puts in front
 * of this file (the launchers in src/device/attention.c use the same names). */

/* ⟨q, C[idx]⟩ over the MSE planes of one key (q already rotated and scaled). */
float mse_dot(__global const uint *w, __global const float *q,
              __global const float *centroids, const uint bits)
{
    float acc = 0.0f;
#if KVQ_D % 32 == 0
    for (uint blk = 0; blk < KVQ_D / 32; blk++) {
        uint pw[KVQ_MSE_BITS_MAX];
        for (uint k = 0; k < bits; k++)
            pw[k] = w[k * (KVQ_D / 32) + blk];
        for (uint t = 0; t < 32; t++) {
            uint idx = 0;
            for (uint k = 0; k < bits; k++)
                idx |= ((pw[k] >> t) & 1u) << k;
            acc += q[blk * 32 + t] * centroids[idx];
        }
    }
#else
    for (uint c = 0; c < KVQ_D; c++)
        acc += q[c] * centroids[code_index(w, c, bits)];
#endif
    return acc;
}

/* ⟨s, z⟩ with z ∈ ±1 the m sign bits that follow the MSE planes. */
float sign_dot(__global const uint *w, __global const float *s, const uint first, const uint m)
{
    float acc = 0.0f;
    if ((first & 31) == 0) {
        __global const uint *zw = w + (first >> 5);
        for (uint l0 = 0; l0 < m; l0 += 32) {
            uint word = zw[l0 >> 5];
            uint n = min(32u, m - l0);
            for (uint t = 0; t < n; t++)
                acc += ((word >> t) & 1u) ? s[l0 + t] : -s[l0 + t];
        }
    } else {
        for (uint l = 0; l < m; l++)
            acc += stream_bit(w, first + l) ? s[l] : -s[l];
    }
    return acc;
}

/* out[i][j] = ν_j ⟨qr_i, C[idx_j]⟩ + qjl_scale · γ_j ⟨sq_i, z_j⟩ for keys
 * j0 … j0+n-1 and queries i < nq (qr, sq prescaled by τ/√d). */
__kernel void kvq_logits_codes(__global const uint *codes, __global const float *norms,
                               __global const float *gammas, const uint bits, const uint m,
                               const uint words, __global const float *centroids,
                               __global const float *qr, __global const float *sq,
                               const float qjl_scale, const uint j0, const uint n,
                               const uint nq, __global float *out)
{
    const uint j = get_global_id(0), i = get_global_id(1);
    if (j >= n || i >= nq)
        return;
    const uint key = j0 + j;
    __global const uint *w = codes + (size_t)key * words;
    float l = 0.0f;
    if (bits)
        l = norms[key] * mse_dot(w, qr + (size_t)i * KVQ_D, centroids, bits);
    if (m)
        l += qjl_scale * gammas[key] * sign_dot(w, sq + (size_t)i * m, bits * KVQ_D, m);
    out[(size_t)i * n + j] = l;
}

/* 1 if (v, i) ranks before (w, j): larger value first, then lower index. */
int ranks_before(float v, uint i, float w, uint j)
{
    return v > w || (v == w && i < j);
}

/* Inserts (v, idx) into a sorted private list of at most k entries. */
void topk_insert(float *tv, uint *ti, uint *cnt, uint k, float v, uint idx)
{
    if (*cnt == k && !ranks_before(v, idx, tv[k - 1], ti[k - 1]))
        return;
    uint p = *cnt < k ? (*cnt)++ : k - 1;
    while (p > 0 && ranks_before(v, idx, tv[p - 1], ti[p - 1])) {
        tv[p] = tv[p - 1];
        ti[p] = ti[p - 1];
        p--;
    }
    tv[p] = v;
    ti[p] = idx;
}

/* ---- The softmax passes step through a row 16 keys at a time in float16
 * registers (one AVX-512 instruction per step on a CPU, whose work-items
 * are not vectorised across a loop like these); a work-item takes blocks
 * lid·16, (lid + ls)·16, … and the lanes past the visible keys are masked. */

/* The lanes of block jb that are keys below nv. */
int16 live16(const uint jb, const uint nv)
{
    const int16 lane = as_int16(KVQ_LANES16);
    return (int16)((int)jb) + lane < (int16)((int)nv);
}

/* r[jb … jb+15], fill in the lanes at or past nv (never read). */
float16 load16(__global const float *r, const uint jb, const uint nv, const float fill)
{
    if (jb + 16 <= nv)
        return vload16(0, r + jb);
    float t[16];
    for (uint u = 0; u < 16; u++)
        t[u] = jb + u < nv ? r[jb + u] : fill;
    return vload16(0, t);
}

/* r[jb … jb+15] = v for the lanes below nv. */
void store16(__global float *r, const uint jb, const uint nv, const float16 v)
{
    if (jb + 16 <= nv) {
        vstore16(v, 0, r + jb);
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (uint u = 0; jb + u < nv; u++)
        r[jb + u] = t[u];
}

float hmax16(const float16 v)
{
    float8 a = fmax(v.lo, v.hi);
    float4 b = fmax(a.lo, a.hi);
    float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}

/* Top-k of row[0..n) into out_val/out_idx (global key index j0 + j): each
 * work-item keeps a sorted list of its own blocks' elements, then the lists are
 * merged pairwise in local memory (lv, li: local size × k entries) — log2
 * of the group size barriers instead of k full reductions. Empty slots are
 * (−inf, 0xffffffff). */
void wg_topk(__global const float *row, const uint n, const uint j0, const uint k,
             __local float *lv, __local uint *li, __global float *out_val,
             __global uint *out_idx)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    float tv[KVQ_TOPK_MAX];
    uint ti[KVQ_TOPK_MAX], cnt = 0;
    /* a work-item meets its keys in increasing order, so a key equal to
     * its k-th value ranks after it: a block without a larger value is skipped */
    for (uint jb = lid * 16; jb < n; jb += ls * 16) {
        if (cnt == k && !any(load16(row, jb, n, -INFINITY) > (float16)tv[k - 1]))
            continue;
        for (uint u = 0; u < 16 && jb + u < n; u++)
            topk_insert(tv, ti, &cnt, k, row[jb + u], jb + u);
    }
    for (uint r = 0; r < k; r++) {
        lv[lid * k + r] = r < cnt ? tv[r] : -INFINITY;
        li[lid * k + r] = r < cnt ? ti[r] : 0xffffffffu;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = ls >> 1; s > 0; s >>= 1) {
        if (lid < s) {
            __local float *av = lv + lid * k, *bv = lv + (lid + s) * k;
            __local uint *ai = li + lid * k, *bi = li + (lid + s) * k;
            uint x = 0, y = 0;
            for (uint r = 0; r < k; r++) {
                if (ranks_before(av[x], ai[x], bv[y], bi[y])) {
                    tv[r] = av[x];
                    ti[r] = ai[x++];
                } else {
                    tv[r] = bv[y];
                    ti[r] = bi[y++];
                }
            }
            for (uint r = 0; r < k; r++) {
                av[r] = tv[r];
                ai[r] = ti[r];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        for (uint r = 0; r < k; r++) {
            out_val[r] = lv[r];
            out_idx[r] = li[r] == 0xffffffffu ? li[r] : j0 + li[r];
        }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Keys of the chunk [j0, j0 + n) that query i sees, when query i sees the
 * first vis0 + i keys: all n without a mask (vis0 = N), the causal prefix
 * otherwise (doc/metrics.md §1.5). Masked keys are always the chunk's tail. */
uint chunk_visible(const uint vis0, const uint i, const uint j0, const uint n)
{
    ulong lim = (ulong)vis0 + i;
    return lim <= j0 ? 0u : (uint)min((ulong)n, lim - j0);
}

/* Sums count per-work-item accumulators over the work-group in place with
 * one tree (scratch: local size × count floats): the same additions, in
 * the same order, as count calls of wg_sum, for log2 of the group size
 * barriers instead of count times as many. */
void wg_sum_slots(float *acc, const uint count, __local float *scratch)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    for (uint s = 0; s < count; s++)
        scratch[s * ls + lid] = acc[s];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = ls >> 1; h > 0; h >>= 1) {
        if (lid < h)
            for (uint s = 0; s < count; s++)
                scratch[s * ls + lid] += scratch[s * ls + lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (uint s = 0; s < count; s++)
        acc[s] = scratch[s * ls];
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Pass 1 over one chunk of one logits row per query, one work-group per
 * query: the row's maximum and scaled sum (for its log-sum-exp), its top-k
 * candidates, and, for a quantized row l against the trial's reference
 * lref with probabilities p (with_delta = 1), Σ p·(l − lref); stats[q] is
 * a record of KVQ_STATS slots, top_val/top_idx[q] a list of k, and e_out
 * gets e^{l − max} of the keys the query sees (pass 2 scales it into p̃
 * instead of taking another exponential). Only the
 * keys the query sees count (chunk_visible); a chunk it cannot see leaves
 * max −inf, sums 0 and an empty list, which the merge ignores. sv holds
 * two floats per work-item. */
__kernel void kvq_softmax_pass1(__global const float *l, __global const float *lref,
                                __global const float *p, const uint with_delta, const uint n,
                                const uint j0, const uint k, const uint vis0,
                                __global float *stats, __global float *top_val,
                                __global uint *top_idx, __global float *e_out,
                                __local float *sv, __local float *lv, __local uint *li)
{
    const uint i = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    const size_t row = (size_t)i * n;
    __global const float *b = l + row;
    const uint nv = chunk_visible(vis0, i, j0, n);
    float16 mv = -INFINITY;
    for (uint jb = lid * 16; jb < nv; jb += ls * 16)
        mv = fmax(mv, load16(b, jb, nv, -INFINITY));
    const float mb = wg_max(hmax16(mv), sv);
    float16 sum = 0.0f, pd = 0.0f;
    for (uint jb = lid * 16; jb < nv; jb += ls * 16) {
        float16 bv = load16(b, jb, nv, -INFINITY), e = exp(bv - mb);
        sum += e;
        store16(e_out + row, jb, nv, e);
        if (with_delta)
            pd += select((float16)0.0f,
                         load16(p + row, jb, nv, 0.0f) * (bv - load16(lref + row, jb, nv, 0.0f)),
                         live16(jb, nv));
    }
    float acc[2] = {hsum16(sum), hsum16(pd)};
    wg_sum_slots(acc, 2, sv);
    if (lid == 0) {
        __global float *s = stats + (size_t)i * KVQ_STATS;
        s[KVQ_STAT_MAX] = mb;
        s[KVQ_STAT_SUM] = acc[0];
        s[KVQ_STAT_P_DELTA] = acc[1];
    }
    wg_topk(b, nv, j0, k, lv, li, top_val + (size_t)i * k, top_idx + (size_t)i * k);
}

/* The reference probabilities of one chunk, one work-group per query, from
 * the query's log-sum-exp lse[q]: p = e^{ℓ − lse} on the keys the query
 * sees, 0 on the others, and the chunk's share −Σ p·(ℓ − lse) of H(p) in
 * ent[q]. Made once per trial; every scheme of the trial reads p. */
__kernel void kvq_softmax_probs(__global const float *l, const uint n, const uint j0,
                                const uint vis0, __global const float *lse,
                                __global float *p_out, __global float *ent, __local float *sv)
{
    const uint i = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    const size_t row = (size_t)i * n;
    const uint nv = chunk_visible(vis0, i, j0, n);
    const float c = lse[i];
    float h = 0.0f;
    for (uint j = nv + lid; j < n; j += ls)
        p_out[row + j] = 0.0f;
    for (uint j = lid; j < nv; j += ls) {
        float la = l[row + j] - c, p = exp(la);
        h -= p * la;
        p_out[row + j] = p;
    }
    h = wg_sum(h, sv);
    if (lid == 0)
        ent[i] = h;
}

/* expm1(x) − x without cancellation for small |x|, given em = expm1(x). */
float16 expm1_minus_x16(const float16 x, const float16 em)
{
    float16 series = x * x * (0.5f + x * (1.0f / 6.0f + x * (1.0f / 24.0f + x * (1.0f / 120.0f))));
    return select(em - x, series, fabs(x) < 0.01f);
}

/* Per-key Jensen–Shannon sum p·log(2p/(p+q)) + q·log(2q/(p+q)) with
 * q = p(1+y) and lr = log(q/p) = log1p(y) (doc/metrics.md §4.2): a series
 * in y where the logs cancel (|y| < 0.01), else p·((1+y)·lr −
 * (2+y)·log1p(y/2)), the same sum with one logarithm; from y = 1 on, where
 * 1 + y may overflow (and for y NaN, where G_est overflowed), the sum
 * itself from p and q, taken only in a block that has such a key. */
float16 js_term16(const float16 p, const float16 q, const float16 y, const float16 lr)
{
    float16 series = p * y * y * (0.25f + y * (-0.125f + y * (7.0f / 96.0f)));
    float16 direct = p * ((1.0f + y) * lr - (2.0f + y) * log1p(0.5f * y));
    float16 r = select(direct, series, fabs(y) < 0.01f);
    int16 far = !(y < 1.0f);   /* with y NaN, where G_est overflowed */
    if (any(far)) {
        float16 m = p + q;
        float16 qterm = select((float16)0.0f, q * log(2.0f * q / m), q > 0.0f);
        r = select(r, p * log(2.0f * p / m) + qterm, far);
    }
    return r;
}

/* Pass 2 over one chunk, one work-group per query, given the trial's
 * reference logits and probabilities p, pass 1's e = e^{ℓ̃ − max} of the
 * chunk and its record in stats, and per-query constants (a record of
 * KVQ_CONSTS slots): the KVQ_ACCS sums of layout.h's KVQ_ACC_SLOTS. Turns
 * e into p̃ = e·e^{max − lse(ℓ̃)} in place, 0 for the keys the query does not
 * see (chunk_visible), which add nothing to the output product. Per key
 * one expm1 and, where |y| ≥ 0.01, one log1p. sv holds KVQ_ACCS floats per
 * work-item. */
__kernel void kvq_softmax_pass2(__global const float *lref, __global const float *lq,
                                __global const float *p_ref, __global float *e_pq,
                                __global const float *stats, const uint n, const uint j0,
                                const uint vis0, __global const float *consts,
                                __global float *sums, __local float *sv)
{
    const uint i = get_group_id(0), lid = get_local_id(0), ls = get_local_size(0);
    const size_t row = (size_t)i * n;
    __global const float *a = lref + row, *b = lq + row, *pr = p_ref + row;
    __global float *e = e_pq + row;
    const uint nv = chunk_visible(vis0, i, j0, n);
    __global const float *c = consts + (size_t)i * KVQ_CONSTS;
    const float lse_a = c[KVQ_CONST_LSE_REF], lse_b = c[KVQ_CONST_LSE_QUANT];
    const float mu = c[KVQ_CONST_MU], g_est = c[KVQ_CONST_G_EST];
    const float log1p_g = c[KVQ_CONST_LOG1P_G], inv_1g = 1.0f / (1.0f + g_est);
    const float to_pq = nv ? exp(stats[(size_t)i * KVQ_STATS + KVQ_STAT_MAX] - lse_b) : 0.0f;
    float16 v[KVQ_ACCS];
    for (uint s = 0; s < KVQ_ACCS; s++)
        v[s] = 0.0f;
    for (uint j = nv + lid; j < n; j += ls)
        e[j] = 0.0f;
    for (uint jb = lid * 16; jb < nv; jb += ls * 16) {
        /* masked lanes: p = p̃ = δ = 0, which add 0 to every sum */
        float16 av = load16(a, jb, nv, 0.0f), bv = load16(b, jb, nv, 0.0f);
        float16 p = load16(pr, jb, nv, 0.0f), pq = load16(e, jb, nv, 0.0f) * to_pq;
        float16 la = av - lse_a, lb = bv - lse_b;
        float16 delta = bv - av, x = delta - mu;
        float16 em = expm1(x);
        float16 y = (em - g_est) * inv_1g;
        int16 pos = p > 0.0f;
        float16 zero = 0.0f;
        v[KVQ_ACC_KL_SERIES] += select(zero, p * expm1_minus_x16(x, em), pos);
        v[KVQ_ACC_KL_REV] += select(zero, p * x * em, pos);
        v[KVQ_ACC_JS2] += select(pq * M_LN2_F, js_term16(p, pq, y, x - log1p_g), pos);
        v[KVQ_ACC_TV2] += select(pq, select(fabs(pq - p), p * fabs(y), fabs(y) < 1.0f), pos);
        v[KVQ_ACC_VAR_DELTA] += select(zero, p * x * x, pos);
        v[KVQ_ACC_ENT_QUANT] -= pq * lb;
        v[KVQ_ACC_DELTA_SQ] += delta * delta;
        v[KVQ_ACC_DELTA] += delta;
        v[KVQ_ACC_KL_REV_DIRECT] += pq * (lb - la);
        store16(e, jb, nv, pq);
    }
    float acc[KVQ_ACCS];
    for (uint s = 0; s < KVQ_ACCS; s++)
        acc[s] = hsum16(v[s]);
    wg_sum_slots(acc, KVQ_ACCS, sv);
    if (lid == 0)
        for (uint s = 0; s < KVQ_ACCS; s++)
            sums[(size_t)i * KVQ_ACCS + s] = acc[s];
}

/* o_rot[i][c] += Σ_j p̃[i][j] · ν_j · C[idx_jc] over the chunk's keys. */
__kernel void kvq_value_mse(__global const uint *codes, __global const float *norms,
                            __global const float *centroids, const uint bits, const uint words,
                            __global const float *pq, const uint j0, const uint n,
                            const uint nq, __global float *o_rot)
{
    const uint c = get_global_id(0), i = get_global_id(1);
    if (c >= KVQ_D || i >= nq)
        return;
    __global const float *prow = pq + (size_t)i * n;
    float acc = 0.0f;
    for (uint j = 0; j < n; j++) {
        __global const uint *w = codes + (size_t)(j0 + j) * words;
        acc += prow[j] * norms[j0 + j] * centroids[code_index(w, c, bits)];
    }
    o_rot[(size_t)i * KVQ_D + c] += acc;
}

/* a[i][l] += Σ_j p̃[i][j] · γ_j · z_jl over the chunk's keys (QJL part of õ). */
__kernel void kvq_value_qjl(__global const uint *codes, __global const float *gammas,
                            const uint bits, const uint m, const uint words,
                            __global const float *pq, const uint j0, const uint n,
                            const uint nq, __global float *a)
{
    const uint l = get_global_id(0), i = get_global_id(1);
    if (l >= m || i >= nq)
        return;
    __global const float *prow = pq + (size_t)i * n;
    const uint p = bits * KVQ_D + l;
    float acc = 0.0f;
    for (uint j = 0; j < n; j++) {
        float g = prow[j] * gammas[j0 + j];
        acc += stream_bit(codes + (size_t)(j0 + j) * words, p) ? g : -g;
    }
    a[(size_t)i * m + l] += acc;
}

/* ---- Logits with one work-item per 16 keys (the CPU path): lanes are keys,
 * so every operation below is one AVX-512 instruction (or two AVX2 ones) for
 * 16 keys. KVQ_LB (the MSE bits, 0…8) is a compile-time constant here so the
 * plane loops unroll. Needs KVQ_D % 32 == 0 (whole plane words). */
#ifdef KVQ_LB

/* Word add of the packed rows at lane offsets offs (one load per lane). */
uint16 gather_words(__global const uint *codes, uint16 offs, uint add)
{
    offs += add;
    return (uint16)(codes[offs.s0], codes[offs.s1], codes[offs.s2], codes[offs.s3],
                    codes[offs.s4], codes[offs.s5], codes[offs.s6], codes[offs.s7],
                    codes[offs.s8], codes[offs.s9], codes[offs.sa], codes[offs.sb],
                    codes[offs.sc], codes[offs.sd], codes[offs.se], codes[offs.sf]);
}

#if KVQ_LB > 0
/* Σ_c q_c · C[idx_c] for 16 keys (lanes) whose rows start at offs.
 * Up to 6 bits the codebook's symmetry C[L−1−i] = −C[i] (checked by the host
 * before it picks this kernel) halves the work: the top plane is the sign,
 * the other planes XOR its complement index the positive half M, and C[idx]
 * is a tree of selects over M (OpenCL's shuffle with a variable mask is
 * scalarised by PoCL; a select is one blend) with the sign XORed in. Above
 * 6 bits, a lane-by-lane table read. */
float16 mse_dot16(__global const uint *codes, uint16 offs, __global const float *q,
                  __global const float *centroids)
{
    float16 acc = 0.0f;
#if KVQ_LB <= 6
    float mt[1 << (KVQ_LB - 1)];
    for (int c = 0; c < (1 << (KVQ_LB - 1)); c++)
        mt[c] = centroids[(1 << (KVQ_LB - 1)) + c];
    for (uint blk = 0; blk < KVQ_D / 32; blk++) {
        uint16 p[KVQ_LB];
#pragma unroll
        for (int k = 0; k < KVQ_LB; k++)
            p[k] = gather_words(codes, offs, k * (KVQ_D / 32) + blk);
        const uint16 neg = ~p[KVQ_LB - 1];
#if KVQ_LB > 1
        uint16 mb[KVQ_LB - 1];
#pragma unroll
        for (int k = 0; k < KVQ_LB - 1; k++)
            mb[k] = p[k] ^ neg;
#endif
#pragma unroll 4
        for (uint t = 0; t < 32; t++) {
#if KVQ_LB == 1
            float16 mag = (float16)mt[0];
#else
            float16 lv[1 << (KVQ_LB - 2)];
            int16 mk = as_int16(mb[0] << (31 - t));
#pragma unroll
            for (int c = 0; c < (1 << (KVQ_LB - 2)); c++)
                lv[c] = select((float16)mt[2 * c], (float16)mt[2 * c + 1], mk);
#pragma unroll
            for (int k = 1; k < KVQ_LB - 1; k++) {
                mk = as_int16(mb[k] << (31 - t));
#pragma unroll
                for (int c = 0; c < (1 << (KVQ_LB - 2 - k)); c++)
                    lv[c] = select(lv[2 * c], lv[2 * c + 1], mk);
            }
            float16 mag = lv[0];
#endif
            uint16 sgn = (neg << (31 - t)) & 0x80000000u;
            acc += q[blk * 32 + t] * as_float16(as_uint16(mag) ^ sgn);
        }
    }
#else
    float tab[1 << KVQ_LB];
    for (int c = 0; c < (1 << KVQ_LB); c++)
        tab[c] = centroids[c];
    for (uint blk = 0; blk < KVQ_D / 32; blk++) {
        uint16 p[KVQ_LB];
#pragma unroll
        for (int k = 0; k < KVQ_LB; k++)
            p[k] = gather_words(codes, offs, k * (KVQ_D / 32) + blk);
        for (uint t = 0; t < 32; t++) {
            uint16 idx = 0;
#pragma unroll
            for (int k = 0; k < KVQ_LB; k++)
                idx |= ((p[k] >> t) & 1u) << k;
            acc += q[blk * 32 + t] * gather_table(tab, idx);
        }
    }
#endif
    return acc;
}
#endif

/* Σ_l ±s_l over the m sign bits that start at word first of each row. */
float16 sign_dot16(__global const uint *codes, uint16 offs, uint first, __global const float *s,
                   const uint m)
{
    float16 acc = 0.0f;
    for (uint l0 = 0; l0 < m; l0 += 32) {
        uint16 z = gather_words(codes, offs, first + (l0 >> 5));
        uint n = min(32u, m - l0);
        for (uint t = 0; t < n; t++) {
            float16 sv = (float16)s[l0 + t];
            acc += select(-sv, sv, as_int16(z << (31 - t)));
        }
    }
    return acc;
}

/* kvq_logits_codes for keys j0+16g … j0+16g+15 and query get_global_id(1). */
__kernel void kvq_logits_codes_vec(__global const uint *codes, __global const float *norms,
                                   __global const float *gammas, const uint bits, const uint m,
                                   const uint words, __global const float *centroids,
                                   __global const float *qr, __global const float *sq,
                                   const float qjl_scale, const uint j0, const uint n,
                                   const uint nq, __global float *out)
{
    const uint jb = get_global_id(0) * 16, i = get_global_id(1);
    if (jb >= n || i >= nq)
        return;
    const uint16 lane = KVQ_LANES16;
    const uint16 key = j0 + min(jb + lane, (uint16)(n - 1));
    const uint16 offs = key * words;
    float16 l = 0.0f;
#if KVQ_LB > 0
    float16 nu = (float16)(norms[key.s0], norms[key.s1], norms[key.s2], norms[key.s3],
                           norms[key.s4], norms[key.s5], norms[key.s6], norms[key.s7],
                           norms[key.s8], norms[key.s9], norms[key.sa], norms[key.sb],
                           norms[key.sc], norms[key.sd], norms[key.se], norms[key.sf]);
    l = nu * mse_dot16(codes, offs, qr + (size_t)i * KVQ_D, centroids);
#endif
    if (m) {
        float16 g = (float16)(gammas[key.s0], gammas[key.s1], gammas[key.s2], gammas[key.s3],
                              gammas[key.s4], gammas[key.s5], gammas[key.s6], gammas[key.s7],
                              gammas[key.s8], gammas[key.s9], gammas[key.sa], gammas[key.sb],
                              gammas[key.sc], gammas[key.sd], gammas[key.se], gammas[key.sf]);
        l += qjl_scale * g * sign_dot16(codes, offs, KVQ_LB * KVQ_D / 32, sq + (size_t)i * m, m);
    }
    store_lanes(l, n - jb, out + (size_t)i * n + jb);
}
#endif

/* Per vector, one work-item each (the layout CPUs vectorise and GPUs run
 * without barriers): ‖x − x̂‖²/‖x‖² and 1 − cos(x, x̂) = ½‖x/‖x‖ − x̂/‖x̂‖‖².
 * A zero x gives {−1, −1}; a zero x̂ a direction error of 1. */
__kernel void kvq_vector_errors(__global const float *x, __global const float *xh,
                                     const uint count, __global float *err)
{
    const uint v = get_global_id(0);
    if (v >= count)
        return;
    __global const float *a = x + (size_t)v * KVQ_D, *b = xh + (size_t)v * KVQ_D;
    float sa = 0.0f, sb = 0.0f, sd = 0.0f, sdir = 0.0f;
    for (uint c = 0; c < KVQ_D; c++) {
        float d = a[c] - b[c];
        sa += a[c] * a[c];
        sb += b[c] * b[c];
        sd += d * d;
    }
    float ia = sa > 0.0f ? 1.0f / sqrt(sa) : 0.0f, ib = sb > 0.0f ? 1.0f / sqrt(sb) : 0.0f;
    for (uint c = 0; c < KVQ_D; c++) {
        float d = b[c] * ib - a[c] * ia;
        sdir += d * d;
    }
    err[KVQ_VEC_ERRS * v] = sa > 0.0f ? sd / sa : -1.0f;
    err[KVQ_VEC_ERRS * v + 1] = sa > 0.0f ? (sb > 0.0f ? 0.5f * sdir : 1.0f) : -1.0f;
}
