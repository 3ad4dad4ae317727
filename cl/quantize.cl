/* quantize.cl — fused MSE(+QJL) quantization: norm, rotation, codebook search,
 * QJL residual signs and bit-planar packing in one kernel; dequantization. */

/* Count of thresholds t with u > t: the code of u (ties go to the lower level). */
uint codebook_search(float u, __global const float *thresholds, uint levels)
{
    uint lo = 0, hi = levels - 1;      /* answer in [lo, hi] */
    while (lo < hi) {
        uint mid = (lo + hi) >> 1;     /* is u > thresholds[mid]? */
        if (u > thresholds[mid])
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The norm stored beside the codes: ‖x‖ as is, or divided by ‖C[idx]‖ (norm
 * correction, csum = ‖C[idx]‖²) or by ⟨u, C[idx]⟩ (eden, csum = that dot);
 * rounded to half when side information is 16-bit. */
float stored_norm(float nu, float csum, uint norm_correct, uint eden, uint half_side)
{
    float stored = nu;
    if (norm_correct && csum > 0.0f)
        stored = nu / sqrt(csum);
    if (eden && csum > 0.0f)
        stored = nu / csum;
    if (half_side)
        stored = round_to_half(stored);
    return stored;
}

/* Quantizes count vectors x (count × KVQ_D): for each, the stored norm, the
 * QJL residual norm γ, and the packed code words (bits planes, then m sign
 * bits). sprime is S·Rᵀ (m × KVQ_D), so the residual is projected in the
 * rotated domain. Local buffers: u, r (KVQ_D floats), idx (KVQ_D uints),
 * z (m uints), scratch (local size floats). */
__kernel void kvq_quantize(__global const float *x, const uint count,
                           __global const float *signs, const uint rounds,
                           __global const float *thresholds, __global const float *centroids,
                           const uint bits, const uint norm_correct, const uint eden,
                           const uint half_side, __global const float *sprime, const uint m,
                           const uint words, __global uint *codes,
                           __global float *norms, __global float *gammas,
                           __local float *u, __local float *r, __local uint *idx,
                           __local uint *z, __local float *scratch)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const uint levels = 1u << bits;
    for (uint v = get_group_id(0); v < count; v += get_num_groups(0)) {
        __global const float *row = x + (size_t)v * KVQ_D;
        float part = 0.0f;
        for (uint c = lid; c < KVQ_D; c += ls) {
            float xv = row[c];
            u[c] = xv;
            part += xv * xv;
        }
        float nu = sqrt(wg_sum(part, scratch));
        wg_rotate_forward(u, signs, rounds);

        /* codes, and ‖C[idx]‖² (nc) or ⟨u, C[idx]⟩ (eden) for the stored norm */
        float inv = nu > 0.0f ? 1.0f / nu : 0.0f;
        part = 0.0f;
        for (uint c = lid; c < KVQ_D; c += ls) {
            float uc = u[c] * inv;
            uint k = bits ? codebook_search(uc, thresholds, levels) : 0u;
            float cv = bits ? centroids[k] : 0.0f;
            idx[c] = k;
            r[c] = cv;
            part += eden ? uc * cv : cv * cv;
        }
        float csum = wg_sum(part, scratch);
        float stored = stored_norm(nu, csum, norm_correct, eden, half_side);

        /* QJL: residual in the rotated domain, its norm and projection signs */
        float gamma = 0.0f;
        if (m) {
            part = 0.0f;
            for (uint c = lid; c < KVQ_D; c += ls) {
                float rc = u[c] - stored * r[c];
                r[c] = rc;
                part += rc * rc;
            }
            gamma = sqrt(wg_sum(part, scratch));
            for (uint l = lid; l < m; l += ls) {
                __global const float *srow = sprime + (size_t)l * KVQ_D;
                float acc = 0.0f;
                for (uint c = 0; c < KVQ_D; c++)
                    acc += srow[c] * r[c];
                z[l] = acc >= 0.0f ? 1u : 0u;
            }
            if (half_side)
                gamma = round_to_half(gamma);
            barrier(CLK_LOCAL_MEM_FENCE);
        }

        /* pack: bit p of the stream is plane p / D (p < bits·D), then signs */
        const uint mse_bits = bits * KVQ_D;
        __global uint *out = codes + (size_t)v * words;
        for (uint w = lid; w < words; w += ls) {
            uint word = 0;
            for (uint t = 0; t < 32; t++) {
                uint p = w * 32 + t, b = 0;
                if (p < mse_bits)
                    b = (idx[p % KVQ_D] >> (p / KVQ_D)) & 1u;
                else if (p < mse_bits + m)
                    b = z[p - mse_bits];
                word |= b << t;
            }
            out[w] = word;
        }
        if (lid == 0) {
            norms[v] = stored;
            if (m)
                gammas[v] = gamma;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Rotated-domain MSE reconstruction: out[v][c] = norm_v · C[idx_vc]. The
 * caller inverse-rotates the result and adds the QJL residual. */
__kernel void kvq_dequantize_rot(__global const uint *codes, __global const float *norms,
                                 __global const float *centroids, const uint bits,
                                 const uint words, const uint count, __global float *out)
{
    const uint c = get_global_id(0), v = get_global_id(1);
    if (c >= KVQ_D || v >= count)
        return;
    __global const uint *w = codes + (size_t)v * words;
    float cv = bits ? centroids[code_index(w, c, bits)] : 0.0f;
    out[(size_t)v * KVQ_D + c] = norms[v] * cv;
}

/* Scaled QJL signs as a dense matrix: out[v][l] = scale · γ_v · z_vl (z ∈ ±1). */
__kernel void kvq_signs_dense(__global const uint *codes, __global const float *gammas,
                              const uint bits, const uint m, const uint words,
                              const uint count, const float scale, __global float *out)
{
    const uint l = get_global_id(0), v = get_global_id(1);
    if (l >= m || v >= count)
        return;
    uint b = stream_bit(codes + (size_t)v * words, bits * KVQ_D + l);
    float g = scale * gammas[v];
    out[(size_t)v * m + l] = b ? g : -g;
}

/* ---- The QJL residual Σ_l z_l·S_l (z ∈ ±1) of KVQ_QJL_VECS vectors per
 * work-item (the CPU path, doc/kernels.md §3.2): each S row loaded into
 * registers serves all of them, a tile of KVQ_QJL_TILE float16 columns at a
 * time; z_l·S_l is one fma with z_l = ±1.0 (exact), and every coordinate
 * still adds its m terms in the order l = 0 … m − 1. */

/* Tiles of at most four float16 columns, as even as they come: with four
 * vectors, 16 accumulators and 4 row registers of AVX-512's 32. (A d below
 * 16, as an outlier part's, compiles this file but never runs it.) */
#define KVQ_QJL_TILES (KVQ_NV > 4 ? (KVQ_NV + 3) / 4 : 1)
#define KVQ_QJL_TILE ((KVQ_NV + KVQ_QJL_TILES - 1) / KVQ_QJL_TILES)

/* sg[16·j + t] = ±1.0 for sign bit p + t of vector j (p a multiple of 16,
 * so the 16 bits sit in one word): bit 1 → +1.0, bit 0 → −1.0. */
KVQ_INLINE void qjl_signs16(__global const uint *const *w, uint p, float *sg)
{
    const uint16 lane = KVQ_LANES16;
#pragma unroll
    for (int j = 0; j < KVQ_QJL_VECS; j++) {
        const uint16 bit = ((uint16)(w[j][p >> 5] >> (p & 31)) >> lane) & 1u;
        vstore16(as_float16(((bit ^ 1u) << 31) | 0x3f800000u), 0, sg + 16 * j);
    }
}

/* q[j][i] = Σ_l z_jl·S_l (columns i) over the m sign bits of the code words
 * w[j] from bit first, a multiple of 16. */
KVQ_INLINE void qjl_sums(__global const uint *const *w, uint first, uint m,
                         __global const float *s, float16 q[KVQ_QJL_VECS][KVQ_NV])
{
    float sg[16 * KVQ_QJL_VECS];
#pragma unroll
    for (int i0 = 0; i0 < KVQ_NV; i0 += KVQ_QJL_TILE) {
        float16 acc[KVQ_QJL_VECS][KVQ_QJL_TILE];
#pragma unroll
        for (int j = 0; j < KVQ_QJL_VECS; j++)
#pragma unroll
            for (int i = 0; i < KVQ_QJL_TILE; i++)
                acc[j][i] = 0.0f;
        for (uint l0 = 0; l0 < m; l0 += 16) {
            qjl_signs16(w, first + l0, sg);
            const uint n = min(16u, m - l0);
            for (uint t = 0; t < n; t++) {
                __global const float *row = s + (size_t)(l0 + t) * KVQ_D;
                float16 r[KVQ_QJL_TILE];
#pragma unroll
                for (int i = 0; i < KVQ_QJL_TILE; i++)
                    if (i0 + i < KVQ_NV)
                        r[i] = vload16(i0 + i, row);
#pragma unroll
                for (int j = 0; j < KVQ_QJL_VECS; j++) {
                    const float16 z = (float16)sg[16 * j + t];
#pragma unroll
                    for (int i = 0; i < KVQ_QJL_TILE; i++)
                        if (i0 + i < KVQ_NV)
                            acc[j][i] = add_signed(acc[j][i], z, r[i]);
                }
            }
        }
#pragma unroll
        for (int j = 0; j < KVQ_QJL_VECS; j++)
#pragma unroll
            for (int i = 0; i < KVQ_QJL_TILE; i++)
                if (i0 + i < KVQ_NV)
                    q[j][i0 + i] = acc[j][i];
    }
}

/* The code words of the work-item's vectors v0 … v0 + KVQ_QJL_VECS − 1; past
 * count, the last vector again (its sums are computed and dropped). */
KVQ_INLINE void qjl_words(__global const uint *codes, uint words, uint v0, uint count,
                          __global const uint **w)
{
#pragma unroll
    for (int j = 0; j < KVQ_QJL_VECS; j++)
        w[j] = codes + (size_t)min(v0 + (uint)j, count - 1) * words;
}

/* x̂[v] += scale·γ_v·Σ_l z_vl·S_l — the dequantized QJL residual, straight
 * from the packed sign bits, KVQ_QJL_VECS vectors per work-item (the CPU
 * path). */
__kernel void kvq_qjl_add_vec(__global const uint *codes, __global const float *gammas,
                              const uint bits, const uint m, const uint words,
                              const uint count, const float scale, __global const float *s,
                              __global float *xhat)
{
    const uint v0 = get_global_id(0) * KVQ_QJL_VECS;
    if (v0 >= count)
        return;
    __global const uint *w[KVQ_QJL_VECS];
    float16 q[KVQ_QJL_VECS][KVQ_NV];
    qjl_words(codes, words, v0, count, w);
    qjl_sums(w, bits * KVQ_D, m, s, q);
    for (uint j = 0; j < KVQ_QJL_VECS && v0 + j < count; j++) {
        const float g = scale * gammas[v0 + j];
        __global float *o = xhat + (size_t)(v0 + j) * KVQ_D;
#pragma unroll
        for (int i = 0; i < KVQ_NV; i++)
            vstore16(vload16(i, o) + g * q[j][i], i, o);
    }
}

/* ---- Fused quantization, KVQ_QUANT_VECS(KVQ_NV, KVQ_LB) vectors per work-item
 * (the CPU path, doc/kernels.md §3): a vector lives in KVQ_NV float16
 * registers; KVQ_LB (MSE bits) is a compile-time constant. Same results as
 * kvq_quantize up to float rounding order (norms, the rotation and the QJL
 * projections sum in another order). */
#ifdef KVQ_LB

#define KVQ_QV KVQ_QUANT_VECS(KVQ_NV, KVQ_LB)
/* Vectors ahead of its own that a work-item asks the cache for. PoCL hands
 * each thread whole work-groups of 16 work-items, so a thread's reads jump
 * from group to group, which the hardware prefetcher seems not to follow:
 * with the prefetch the 4-bit kernel read 12.8-14.1 GB/s of input at
 * N = 2.5 M where it read 10.4-11.1 (14 with the input in the cache). */
#define KVQ_PF_VECS 16

/* Puts the 16-bit chunk of a vector's packed bit stream that starts at bit
 * p (a multiple of 16) with one 16-bit store: bits p … p + 15 are the low
 * half of their 32-bit word when p % 32 = 0, the high half otherwise. */
KVQ_INLINE void put16(__global uint *out, uint p, uint chunk)
{
#ifdef __ENDIAN_LITTLE__
    ((__global ushort *)out)[p >> 4] = (ushort)chunk;
#else
    ((__global ushort *)out)[(p >> 4) ^ 1u] = (ushort)chunk;
#endif
}

/* hsum16x16's folds one level at a time (lo + hi to 8, 4, 2 and 1 lanes,
 * two vectors per add), so that a caller can fold rows as it makes them:
 * rows 2t and 2t + 1 → a_t; a_2t, a_2t+1 → b_t; b → c; c_0, c_1 → lane t =
 * hsum16(row t). */
KVQ_INLINE float16 fold8(float16 x, float16 y)
{
    return (float16)(x.lo, y.lo) + (float16)(x.hi, y.hi);
}

KVQ_INLINE float16 fold4(float16 x, float16 y)
{
    return (float16)(x.s0123, x.s89ab, y.s0123, y.s89ab) +
           (float16)(x.s4567, x.scdef, y.s4567, y.scdef);
}

KVQ_INLINE float16 fold2(float16 x, float16 y)
{
    return (float16)(x.s01, x.s45, x.s89, x.scd, y.s01, y.s45, y.s89, y.scd) +
           (float16)(x.s23, x.s67, x.sab, x.sef, y.s23, y.s67, y.sab, y.sef);
}

KVQ_INLINE float16 fold1(float16 x, float16 y)
{
    return (float16)(x.even, y.even) + (float16)(x.odd, y.odd);
}

/* Σ_i S′_row[16i + lane]·r[16i + lane] for the KVQ_QV residuals r[j], lane
 * by lane in the order i = 0, 1, …: each register of the row is loaded once
 * for all of them. (hsum16 of it is the projection ⟨S′_row, r_j⟩.) */
KVQ_INLINE void project_row(__global const float *row, float16 (*r)[KVQ_NV], float16 *d)
{
    /* Above d = 256 the residuals live in memory anyway (more registers
     * than AVX-512 has), and sixteen fully unrolled rows of them make a
     * block that LLVM 15's instruction selection takes minutes over. */
#if KVQ_NV > 16
#pragma unroll 4
#else
#pragma unroll
#endif
    for (int i = 0; i < KVQ_NV; i++) {
        const float16 s = vload16(i, row);
#pragma unroll
        for (int j = 0; j < KVQ_QV; j++)
            d[j] = i ? d[j] + s * r[j][i] : s * r[j][i];
    }
}

/* The sign bits of 16 projections ⟨S′_l0+t, r_j⟩ ≥ 0 (t = 0 … 15) into
 * the streams out[j] at bit p: the rows' partial sums folded in pairs as
 * soon as they are made (as hsum16x16, which keeps registers free for more
 * than one vector), then one mask move per vector. Each sum is hsum16 of
 * its row's lanes; a lane that starts from its first product instead of
 * 0 + it differs at most in the sign of a zero, which ≥ 0 does not see. */
KVQ_INLINE void qjl_project_signs16(__global const float *sprime, uint l0, float16 (*r)[KVQ_NV],
                            __global uint **out, uint p)
{
    float16 c[2][KVQ_QV];
#pragma unroll
    for (int q = 0; q < 2; q++) {
        float16 b[2][KVQ_QV];
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float16 a[2][KVQ_QV];
#pragma unroll
            for (int o = 0; o < 2; o++) {
                const uint t = (uint)(8 * q + 4 * h + 2 * o);
                float16 d0[KVQ_QV], d1[KVQ_QV];
                project_row(sprime + (size_t)(l0 + t) * KVQ_D, r, d0);
                project_row(sprime + (size_t)(l0 + t + 1) * KVQ_D, r, d1);
#pragma unroll
                for (int j = 0; j < KVQ_QV; j++)
                    a[o][j] = fold8(d0[j], d1[j]);
            }
#pragma unroll
            for (int j = 0; j < KVQ_QV; j++)
                b[h][j] = fold4(a[0][j], a[1][j]);
        }
#pragma unroll
        for (int j = 0; j < KVQ_QV; j++)
            c[q][j] = fold2(b[0][j], b[1][j]);
    }
#pragma unroll
    for (int j = 0; j < KVQ_QV; j++)
        put16(out[j], p, lanes_to_bits(as_uint16(fold1(c[0][j], c[1][j]) >= 0.0f) & 1u));
}

/* QJL signs of the residuals r[j] (rotated domain) against the m rows of
 * S′ into the streams out[j] from bit KVQ_LB·KVQ_D: 16 rows at a time, the
 * last m mod 16 one by one (hsum16 each). */
KVQ_INLINE void qjl_signs(__global const float *sprime, uint m, float16 (*r)[KVQ_NV],
                          __global uint **out)
{
    const uint p0 = KVQ_LB * KVQ_D;
    uint l0 = 0;
    for (; l0 + 16 <= m; l0 += 16)
        qjl_project_signs16(sprime, l0, r, out, p0 + l0);
    if (l0 == m)
        return;
    uint chunk[KVQ_QV] = {0};
    for (uint t = 0; l0 + t < m; t++) {
        float16 d[KVQ_QV];
        project_row(sprime + (size_t)(l0 + t) * KVQ_D, r, d);
#pragma unroll
        for (int j = 0; j < KVQ_QV; j++)
            chunk[j] |= (hsum16(d[j]) >= 0.0f ? 1u : 0u) << t;
    }
#pragma unroll
    for (int j = 0; j < KVQ_QV; j++)
        put16(out[j], p0 + l0, chunk[j]);
}

/* Codes of u (KVQ_NV registers, ‖·‖ = 1/inv): bit plane k of the 16 lanes
 * of register i is stored at stream bit k·KVQ_D + 16·i of out; cv ← C[idx]
 * where need_cv (else 0). Returns ‖C[idx]‖², or ⟨u·inv, C[idx]⟩ with eden.
 * Ties go to the lower level (idx = the number of thresholds below u). */
KVQ_INLINE float search_codes(const float16 *u, float inv, __global const float *thresholds,
                              __global const float *centroids, uint eden, int need_cv,
                              float16 *cv, __global uint *out)
{
    float16 acc = 0.0f;
#if KVQ_LB == 0
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++)
        cv[i] = 0.0f;
#elif KVQ_LB <= 4 && defined(__AVX512F__)
    /* Branch-free binary search, 16 lanes at a time. The threshold probed
     * at level j is t[p + 2^j − 1], p = Σ_{l>j} 2^l·bit_l the bits decided
     * above j, and the code is p + bit_0 at the end; so p grows by one
     * masked add per level, and the threshold is one lookup (vpermps,
     * common.cl lut16) in the table shifted by 2^j − 1. The comparison's
     * mask is plane j's 16 bits as it stands. Both tables hold 16 floats
     * (KVQ_CODEBOOK_MIN, zeros past the codebook), so they load in one go. */
    const uint16 lane = KVQ_LANES16;
    const float16 ttab = vload16(0, thresholds), ctab = vload16(0, centroids);
    float16 tj[KVQ_LB];
#pragma unroll
    for (int j = 0; j < KVQ_LB; j++)
        tj[j] = lut16(ttab, lane + ((1u << j) - 1u));
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++) {
        const float16 uc = u[i] * inv;
        uint16 p = 0;
        int16 gt;
#pragma unroll
        for (int j = KVQ_LB - 1; j >= 0; j--) {
            gt = isgreater(uc, lut16(tj[j], p));
            put16(out, (uint)(j * KVQ_D + 16 * i), lanes_to_bits(as_uint16(gt) & 1u));
            if (j > 0)
                p = select(p, p + (1u << j), gt);
        }
        cv[i] = 0.0f;
        if (need_cv) {
            cv[i] = lut16(ctab, select(p, p + 1u, gt));
            acc += eden ? uc * cv[i] : cv[i] * cv[i];
        }
    }
#else
    /* The same search with the probed threshold at level j picked from the
     * candidates by a tree of selects on the bits decided so far (OpenCL's
     * variable shuffle is scalarised by PoCL; a select is one blend), and
     * C[idx] a tree of selects on the planes. */
    float tt[(1 << KVQ_LB) - 1], ct[1 << KVQ_LB];
    for (int c = 0; c < (1 << KVQ_LB); c++) {
        ct[c] = centroids[c];
        if (c + 1 < (1 << KVQ_LB))
            tt[c] = thresholds[c];
    }
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++) {
        const float16 uc = u[i] * inv;
        int16 mk[KVQ_LB];
#pragma unroll
        for (int j = KVQ_LB - 1; j >= 0; j--) {
            float16 lv[1 << (KVQ_LB - 1)];
            const int nd = KVQ_LB - 1 - j;
#pragma unroll
            for (int c = 0; c < (1 << nd); c++)
                lv[c] = (float16)tt[c * (2 << j) + (1 << j) - 1];
#pragma unroll
            for (int b = 0; b < nd; b++)
#pragma unroll
                for (int c = 0; c < (1 << (nd - 1 - b)); c++)
                    lv[c] = select(lv[2 * c], lv[2 * c + 1], mk[j + 1 + b]);
            mk[j] = isgreater(uc, lv[0]);
            put16(out, (uint)(j * KVQ_D + 16 * i), lanes_to_bits(as_uint16(mk[j]) & 1u));
        }
        cv[i] = 0.0f;
        if (need_cv) {
            float16 lv[1 << KVQ_LB];
#pragma unroll
            for (int c = 0; c < (1 << (KVQ_LB - 1)); c++)
                lv[c] = select((float16)ct[2 * c], (float16)ct[2 * c + 1], mk[0]);
#pragma unroll
            for (int b = 1; b < KVQ_LB; b++)
#pragma unroll
                for (int c = 0; c < (1 << (KVQ_LB - 1 - b)); c++)
                    lv[c] = select(lv[2 * c], lv[2 * c + 1], mk[b]);
            cv[i] = lv[0];
            acc += eden ? uc * cv[i] : cv[i] * cv[i];
        }
    }
#endif
    return hsum16(acc);
}

__kernel void kvq_quantize_vec(__global const float *x, const uint count,
                               __global const float *signs, const uint rounds,
                               __global const float *thresholds,
                               __global const float *centroids, const uint norm_correct,
                               const uint eden, const uint half_side, __global const float *sprime, const uint m,
                               const uint words, __global uint *codes, __global float *norms,
                               __global float *gammas)
{
    const uint v0 = get_global_id(0) * KVQ_QV;
    if (v0 >= count)
        return;
    const int need_cv = norm_correct || eden || m;
#ifdef __x86_64__
    {   /* PoCL's CPU memory is one address space (as in common.cl gather16_u32) */
        const uint ahead = min(v0 + KVQ_PF_VECS, count - 1);
        __global const float *pf = x + (size_t)ahead * KVQ_D;
#pragma unroll
        for (int c = 0; c < KVQ_QV * KVQ_D / 16; c++)
            __builtin_prefetch((const void *)(size_t)(pf + 16 * c));
    }
#endif
    /* past count, the last vector again (same results written twice) */
    float16 u[KVQ_QV][KVQ_NV];
    __global uint *out[KVQ_QV];
#pragma unroll
    for (int j = 0; j < KVQ_QV; j++) {
        const uint v = min(v0 + (uint)j, count - 1);
        __global const float *row = x + (size_t)v * KVQ_D;
        float16 cv[KVQ_NV], acc = 0.0f;
#pragma unroll
        for (int i = 0; i < KVQ_NV; i++) {
            u[j][i] = vload16(i, row);
            acc += u[j][i] * u[j][i];
        }
        const float nu = sqrt(hsum16(acc));
        vec_rotate_forward(u[j], signs, rounds);
        const float inv = nu > 0.0f ? 1.0f / nu : 0.0f;
        out[j] = codes + (size_t)v * words;
        /* ‖C[idx]‖², or ⟨u, C[idx]⟩ with eden */
        const float csum = search_codes(u[j], inv, thresholds, centroids, eden, need_cv, cv, out[j]);
        const float stored = stored_norm(nu, csum, norm_correct, eden, half_side);
        norms[v] = stored;
        if (m) {
            /* QJL: the residual in the rotated domain and its norm γ */
            acc = 0.0f;
#pragma unroll
            for (int i = 0; i < KVQ_NV; i++) {
                u[j][i] = u[j][i] - stored * cv[i];
                acc += u[j][i] * u[j][i];
            }
            const float gamma = sqrt(hsum16(acc));
            gammas[v] = half_side ? round_to_half(gamma) : gamma;
        }
    }
    if (m)
        qjl_signs(sprime, m, u, out);
    /* a stream of an odd number of 16-bit chunks: its last word's top half */
    const uint chunks = KVQ_LB * KVQ_NV + (m + 15) / 16;
    if (chunks % 2)
#pragma unroll
        for (int j = 0; j < KVQ_QV; j++)
            put16(out[j], 16 * chunks, 0u);
}

/* ---- Dequantization on the CPU path: the QJL sums of KVQ_QJL_VECS vectors
 * per work-item together (qjl_sums), then each vector in registers. The
 * same operations in the same order as kvq_dequantize_rot, kvq_rotate_vec
 * (inverse, scale 1) and kvq_qjl_add_vec, so x̂ is bit for bit theirs. */

/* x̂ of vector v into u: ν·C[idx] (rotated domain), then Rᵀ when inverse,
 * then the QJL residual scale·γ·q (q = Σ_l z_l S_l, from qjl_sums) when m > 0. */
void dequantize16(__global const uint *codes, __global const float *norms,
                  __global const float *gammas, __global const float *centroids,
                  __global const float *signs, uint rounds, uint inverse,
                  const float16 *q, uint m, uint words, float scale, uint v,
                  float16 *u)
{
    __global const uint *w = codes + (size_t)v * words;
    const float nu = norms[v];
#if KVQ_LB == 0
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++)
        u[i] = nu * 0.0f;
#else
    const uint16 lane = KVQ_LANES16;
    float ct[1 << KVQ_LB];
    for (int c = 0; c < (1 << KVQ_LB); c++)
        ct[c] = centroids[c];
#if KVQ_LB <= 4
    float cp[16];
    for (int c = 0; c < 16; c++)
        cp[c] = c < (1 << KVQ_LB) ? ct[c] : 0.0f;
    const float16 ctab = vload16(0, cp);
#endif
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++) {
        uint16 idx = 0;
#pragma unroll
        for (int k = 0; k < KVQ_LB; k++) {
            const uint p = (uint)(k * KVQ_D + 16 * i);   /* 16 lanes in one word */
            idx |= (((uint16)(w[p >> 5] >> (p & 31)) >> lane) & 1u) << (uint)k;
        }
#if KVQ_LB <= 4
        u[i] = nu * lut16(ctab, idx);
#else
        u[i] = nu * gather_table(ct, idx);
#endif
    }
#endif
    if (inverse)
        vec_rotate_inverse(u, signs, rounds);
    if (m) {
        const float g = scale * gammas[v];
#pragma unroll
        for (int i = 0; i < KVQ_NV; i++)
            u[i] = u[i] + g * q[i];
    }
}

/* The QJL sums of the work-item's vectors from v0 (none when m = 0). */
KVQ_INLINE void dequantize_qjl(__global const uint *codes, __global const float *s, uint m,
                               uint words, uint v0, uint count,
                               float16 q[KVQ_QJL_VECS][KVQ_NV])
{
    if (!m)
        return;
    __global const uint *w[KVQ_QJL_VECS];
    qjl_words(codes, words, v0, count, w);
    qjl_sums(w, KVQ_LB * KVQ_D, m, s, q);
}

__kernel void kvq_dequantize_vec(__global const uint *codes, __global const float *norms,
                                 __global const float *gammas, __global const float *centroids,
                                 __global const float *signs, const uint rounds,
                                 const uint inverse, __global const float *s, const uint m,
                                 const uint words, const float scale, const uint count,
                                 __global float *xhat)
{
    const uint v0 = get_global_id(0) * KVQ_QJL_VECS;
    if (v0 >= count)
        return;
    float16 q[KVQ_QJL_VECS][KVQ_NV];
    dequantize_qjl(codes, s, m, words, v0, count, q);
    for (uint j = 0; j < KVQ_QJL_VECS && v0 + j < count; j++) {
        float16 u[KVQ_NV];
        dequantize16(codes, norms, gammas, centroids, signs, rounds, inverse, q[j], m, words,
                     scale, v0 + j, u);
        __global float *o = xhat + (size_t)(v0 + j) * KVQ_D;
#pragma unroll
        for (int i = 0; i < KVQ_NV; i++)
            vstore16(u[i], i, o);
    }
}

/* kvq_vector_errors of vector v of x against its dequantized codes (q its
 * QJL sums), without writing x̂: err[v] = {‖x − x̂‖²/‖x‖², ½‖x/‖x‖ − x̂/‖x̂‖‖²}
 * ({−1, −1} for a zero x, a direction error of 1 for a zero x̂), summed
 * lane-wise then pairwise. */
void vector_errors16(__global const uint *codes, __global const float *norms,
                     __global const float *gammas, __global const float *centroids,
                     __global const float *signs, uint rounds, const float16 *q, uint m,
                     uint words, float scale, uint v, __global const float *x,
                     __global float *err)
{
    float16 b[KVQ_NV], a[KVQ_NV];
    dequantize16(codes, norms, gammas, centroids, signs, rounds, 1, q, m, words, scale, v, b);
    __global const float *row = x + (size_t)v * KVQ_D;
    float16 sa = 0.0f, sb = 0.0f, sd = 0.0f, sdir = 0.0f;
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++) {
        a[i] = vload16(i, row);
        const float16 d = a[i] - b[i];
        sa += a[i] * a[i];
        sb += b[i] * b[i];
        sd += d * d;
    }
    const float na = hsum16(sa), nb = hsum16(sb);
    const float ia = na > 0.0f ? 1.0f / sqrt(na) : 0.0f, ib = nb > 0.0f ? 1.0f / sqrt(nb) : 0.0f;
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++) {
        const float16 d = b[i] * ib - a[i] * ia;
        sdir += d * d;
    }
    err[KVQ_VEC_ERRS * v] = na > 0.0f ? hsum16(sd) / na : -1.0f;
    err[KVQ_VEC_ERRS * v + 1] = na > 0.0f ? (nb > 0.0f ? 0.5f * hsum16(sdir) : 1.0f) : -1.0f;
}

/* kvq_vector_errors of x against its dequantized codes, KVQ_QJL_VECS vectors
 * per work-item. */
__kernel void kvq_vector_errors_codes(__global const uint *codes, __global const float *norms,
                                      __global const float *gammas,
                                      __global const float *centroids,
                                      __global const float *signs, const uint rounds,
                                      __global const float *s, const uint m, const uint words,
                                      const float scale, const uint count,
                                      __global const float *x, __global float *err)
{
    const uint v0 = get_global_id(0) * KVQ_QJL_VECS;
    if (v0 >= count)
        return;
    float16 q[KVQ_QJL_VECS][KVQ_NV];
    dequantize_qjl(codes, s, m, words, v0, count, q);
    for (uint j = 0; j < KVQ_QJL_VECS && v0 + j < count; j++)
        vector_errors16(codes, norms, gammas, centroids, signs, rounds, q[j], m, words, scale,
                        v0 + j, x, err);
}
#endif
