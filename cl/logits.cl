/* logits.cl — compressed-domain logits by table lookup, the CPU path for
 * up to 4 MSE bits and for QJL signs (doc/kernels.md §2). One work-item
 * computes 16 keys against every query; the codes are decoded once per key
 * and reused for a block of KVQ_QB queries held in registers.
 *
 * Built with KVQ_D (a multiple of 32 dividing 512), KVQ_LB (MSE bits, 0…6;
 * 5 and 6 need a symmetric codebook, C[L−1−i] = −C[i]),
 * KVQ_M (QJL signs, a multiple of 32, or 0) and KVQ_QB (queries per register
 * block). */

#if !defined(KVQ_LB) || !defined(KVQ_QB) || !defined(KVQ_M)
#error "KVQ_LB, KVQ_M and KVQ_QB must be defined"
#endif

#define LUT_NB (KVQ_D / 32)     /* plane words per key and plane (blocks of 32 coordinates) */
#define LUT_KPV (16 / LUT_NB)   /* keys per MSE vector: lane key·LUT_NB + block */
#define LUT_STEPS 32            /* coordinates per block: one MSE step each */
#define LUT_QROW (LUT_STEPS * 16)   /* floats of one query's MSE table */
/* Logits of a work-item's 16 keys into a query's row: whole aligned rows of
 * a large output (over 32 MiB) bypass the cache with a streaming store, so
 * the row's lines are not read first and do not evict the codes and query
 * tables; small outputs, which the softmax passes read next, stay cached. */
void store_row16(float16 v, uint cnt, __global float *o, int stream)
{
    if (stream && cnt == 16)
        __builtin_nontemporal_store(v, (__global float16 *)o);
    else
        store_lanes(v, cnt, o);
}

/* Accumulators per query: a small block of queries has too few independent
 * FMA chains to hide the FMA latency, so its steps alternate among four. */
#define LUT_ACC (KVQ_QB >= 4 ? 1 : 4)

/* The query tables of kvq_logits_lut, one work-item per (row, query),
 * queries padded with zero rows of qt to a whole block of KVQ_QB:
 * rows 0…31 of qt[i] are the MSE steps, row s = 4·t + j holding, in lane
 * key·LUT_NB + b, the coordinate b·32 + 4·t + j of qr_i (the coordinate
 * that kvq_logits_lut's nibble j, shifted by 4·t, indexes in that lane);
 * row g of st[i] (g < m/4) holds, at v, Σ_{b<4} ±sq_i[4g + b] with + where
 * bit b of v is set (a nibble of sign bits → its partial sum). */
__kernel void kvq_logits_lut_tables(__global const float *qr, __global const float *sq,
                                    const uint m, const uint nq, __global float *qt,
                                    __global float *st)
{
    const uint row = get_global_id(0), i = get_global_id(1);
    if (row < LUT_STEPS) {
        const uint t = row / 4, j = row % 4;
        __global float *o = qt + (size_t)i * LUT_QROW + row * 16;
        for (uint l = 0; l < 16; l++)
            o[l] = i < nq ? qr[(size_t)i * KVQ_D + (l % LUT_NB) * 32 + 4 * t + j] : 0.0f;
    } else if (i < nq && row - LUT_STEPS < m / 4) {
        const uint g = row - LUT_STEPS;
        __global const float *s = sq + (size_t)i * m + 4 * g;
        __global float *o = st + ((size_t)i * (m / 4) + g) * 16;
        for (uint v = 0; v < 16; v++) {
            float acc = 0.0f;
            for (uint b = 0; b < 4; b++)
                acc += ((v >> b) & 1u) ? s[b] : -s[b];
            o[v] = acc;
        }
    }
}

/* The 16 lanes of a (lane key·LUT_NB + block) summed over the blocks, into
 * out[0…LUT_KPV). */
void lut_fold(float16 a, float *out)
{
#if LUT_NB == 1
    vstore16(a, 0, out);
#elif LUT_NB == 2
    vstore8(a.even + a.odd, 0, out);
#elif LUT_NB == 4
    float8 b = a.even + a.odd;
    vstore4(b.even + b.odd, 0, out);
#elif LUT_NB == 8
    float8 b = a.even + a.odd;
    float4 c = b.even + b.odd;
    vstore2(c.even + c.odd, 0, out);
#else
    float8 b = a.even + a.odd;
    float4 c = b.even + b.odd;
    float2 e = c.even + c.odd;
    out[0] = e.x + e.y;
#endif
}

#if LUT_NB == 4
/* lut_fold of four queries' accumulators at once, lanes (query, key) of
 * the result: the same additions (blocks 0 + 1 and 2 + 3, then their sum),
 * two queries per add, where four separate folds spent about three times
 * the shuffles. */
float16 lut_fold4(float16 a0, float16 a1, float16 a2, float16 a3)
{
    const float16 p01 = (float16)(a0.even, a1.even) + (float16)(a0.odd, a1.odd);
    const float16 p23 = (float16)(a2.even, a3.even) + (float16)(a2.odd, a3.odd);
    return (float16)(p01.even, p23.even) + (float16)(p01.odd, p23.odd);
}
#endif

/* out[i][j] = ν_j ⟨qr_i, C[idx_j]⟩ + qjl_scale · γ_j ⟨sq_i, z_j⟩ for keys
 * j0 … j0+n−1 (as kvq_logits_codes), 16 keys per work-item, from the
 * tables of kvq_logits_lut_tables.
 *
 * MSE: the LUT_NB words of a plane of LUT_KPV keys fill one uint16 (lane
 * key·LUT_NB + block). Nibble word j gathers bit k of coordinate 4·t + j
 * at bit 4·t + k (a rotation and a masked merge per plane), so that
 * (nib_j >> 4t) mod 16 is that coordinate's code and one table lookup
 * decodes 16 lanes, reused by KVQ_QB queries (their rows of qt are in the
 * same permuted order). QJL: lanes are keys; each nibble of sign bits
 * indexes the query's table of 16 partial sums; with MSE bits too it is
 * added to the stored MSE part. */
#if KVQ_LB > 0 && KVQ_M > 0
#define LUT_BOTH_PARTS 1    /* in the preprocessor: clang warns on && of constants */
#else
#define LUT_BOTH_PARTS 0
#endif

__kernel void kvq_logits_lut(__global const uint *codes, __global const float *norms,
                             __global const float *gammas, const uint words,
                             __global const float *centroids, __global const float *qt,
                             __global const float *st, const float qjl_scale, const uint j0,
                             const uint n, const uint nq, __global float *out)
{
    const uint jb = get_global_id(0) * 16;
    if (jb >= n)
        return;
    /* with both parts the QJL pass reads the MSE part back: keep it cached */
    const int stream = !LUT_BOTH_PARTS && n % 16 == 0 &&
                       (size_t)nq * n >= ((size_t)8 << 20);
#if KVQ_LB > 0
    /* Up to 4 bits the nibble is the code and ctab the codebook. Above,
     * the codebook is symmetric: the top plane is the sign (0: negative),
     * the other planes XOR its complement index the positive half M (as
     * in kvq_logits_codes_vec); the nibble holds the magnitude's low 4
     * bits, with 6 bits plane 4 picks between M's two halves. */
#define LUT_NIB (KVQ_LB < 4 ? KVQ_LB : 4)
    float ct[2][16];
    for (int c = 0; c < 32; c++) {
#if KVQ_LB <= 4
        ct[c / 16][c % 16] = c < (1 << KVQ_LB) ? centroids[c] : 0.0f;
#else
        ct[c / 16][c % 16] = c < (1 << (KVQ_LB - 1)) ? centroids[(1 << (KVQ_LB - 1)) + c] : 0.0f;
#endif
    }
    const float16 ctab = vload16(0, ct[0]);
#if KVQ_LB == 6
    const float16 ctab_hi = vload16(0, ct[1]);
#endif
    /* the plane words of the LUT_NB vectors; their nibble words are
     * rebuilt per block of queries (a few operations against the block's
     * 512·KVQ_QB FMAs), which keeps registers for the accumulators */
    uint w[LUT_NB][KVQ_LB * 16];
    float nu[16];
#pragma unroll
    for (int v = 0; v < LUT_NB; v++) {
#if LUT_NB == 4
        /* d = 128: a plane of a key is 4 words, one 128-bit load; the
         * vector of a plane is four of them (four loads and inserts,
         * where word by word it took 16 loads and stores) */
        uint kr[4];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            kr[r] = j0 + min(jb + v * 4 + r, n - 1);
            nu[v * 4 + r] = norms[kr[r]];
        }
#pragma unroll
        for (int k = 0; k < KVQ_LB; k++)
            vstore16((uint16)(vload4(0, codes + (size_t)kr[0] * words + k * 4),
                              vload4(0, codes + (size_t)kr[1] * words + k * 4),
                              vload4(0, codes + (size_t)kr[2] * words + k * 4),
                              vload4(0, codes + (size_t)kr[3] * words + k * 4)), k, w[v]);
#else
#pragma unroll
        for (int r = 0; r < LUT_KPV; r++) {
            const uint kr = j0 + min(jb + v * LUT_KPV + r, n - 1);
            nu[v * LUT_KPV + r] = norms[kr];
#pragma unroll
            for (int k = 0; k < KVQ_LB; k++)
#pragma unroll
                for (int b = 0; b < LUT_NB; b++)
                    w[v][k * 16 + r * LUT_NB + b] = codes[(size_t)kr * words + k * LUT_NB + b];
        }
#endif
    }
#if KVQ_LB > 4
#pragma unroll
    for (int v = 0; v < LUT_NB; v++)
#pragma unroll
        for (int k = 0; k < KVQ_LB - 1; k++)
            vstore16(vload16(k, w[v]) ^ ~vload16(KVQ_LB - 1, w[v]), k, w[v]);
#endif
    const uint cnt = min(16u, n - jb);
    for (uint i0 = 0; i0 < nq; i0 += KVQ_QB) {
        /* the tables are padded to whole blocks of queries; rows are
         * 64-byte aligned, so these are plain vector loads */
        __global const float16 *qb = (__global const float16 *)(qt + (size_t)i0 * LUT_QROW);
        float dot[KVQ_QB][16];
        for (uint v = 0; v < LUT_NB; v++) {
            float16 acc[KVQ_QB][LUT_ACC];
#pragma unroll
            for (int qi = 0; qi < KVQ_QB; qi++)
#pragma unroll
                for (int a = 0; a < LUT_ACC; a++)
                    acc[qi][a] = 0.0f;
            /* one nibble word at a time (registers for the accumulators);
             * the rolled loop over j keeps the schedule FMA-major, where a
             * fully unrolled one had LLVM decode all 32 steps first and
             * chain each query's FMAs */
#pragma unroll 1
            for (int j = 0; j < 4; j++) {
                uint16 nb = 0;
#pragma unroll
                for (int k = 0; k < LUT_NIB; k++)
                    nb = bitselect(nb, rotate(vload16(k, w[v]), (uint16)((k - j) & 31)),
                                   (uint16)(0x11111111u << k));
#if KVQ_LB > 4
                /* coordinate 4t + j's negative flag (and 6-bit magnitude bit 4)
                 * at bit 4t of these, moved to bit 31 for step t */
                uint16 neg = ~vload16(KVQ_LB - 1, w[v]) >> (uint)j;
#if KVQ_LB == 6
                uint16 hi = vload16(4, w[v]) >> (uint)j;
#endif
#endif
#pragma unroll
                for (int t = 0; t < 8; t++) {
#if KVQ_LB <= 4
                    const float16 c = lut16(ctab, nb);
#else
#if KVQ_LB == 6
                    const float16 mag = select(lut16(ctab, nb), lut16(ctab_hi, nb),
                                               as_int16(hi << 31));
                    hi >>= 4;
#else
                    const float16 mag = lut16(ctab, nb);
#endif
                    const float16 c = as_float16(as_uint16(mag) ^ (neg << 31));
                    neg >>= 4;
#endif
                    nb >>= 4;
#pragma unroll
                    for (int qi = 0; qi < KVQ_QB; qi++)
                        acc[qi][t % LUT_ACC] = fma(qb[qi * LUT_STEPS + 4 * t + j], c,
                                                   acc[qi][t % LUT_ACC]);
                }
            }
#pragma unroll
            for (int qi = 0; qi < KVQ_QB; qi++)
#pragma unroll
                for (int a = 1; a < LUT_ACC; a++)
                    acc[qi][0] += acc[qi][a];
#if LUT_NB == 4 && KVQ_QB % 4 == 0
#pragma unroll
            for (int qi = 0; qi < KVQ_QB; qi += 4) {
                const float16 f = lut_fold4(acc[qi][0], acc[qi + 1][0], acc[qi + 2][0],
                                            acc[qi + 3][0]);
                vstore4(f.s0123, 0, dot[qi] + v * 4);
                vstore4(f.s4567, 0, dot[qi + 1] + v * 4);
                vstore4(f.s89ab, 0, dot[qi + 2] + v * 4);
                vstore4(f.scdef, 0, dot[qi + 3] + v * 4);
            }
#else
#pragma unroll
            for (int qi = 0; qi < KVQ_QB; qi++)
                lut_fold(acc[qi][0], dot[qi] + v * LUT_KPV);
#endif
        }
        const float16 nu16 = vload16(0, nu);
#pragma unroll
        for (int qi = 0; qi < KVQ_QB; qi++) {
            if (i0 + qi >= nq)
                break;
            store_row16(nu16 * vload16(0, dot[qi]), cnt, out + (size_t)(i0 + qi) * n + jb,
                        stream);
        }
    }
#endif
#if KVQ_M > 0
    const uint16 lane = (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const uint16 key = j0 + min(jb + lane, (uint16)(n - 1));
    const float16 g = qjl_scale * (float16)(gammas[key.s0], gammas[key.s1], gammas[key.s2],
                                            gammas[key.s3], gammas[key.s4], gammas[key.s5],
                                            gammas[key.s6], gammas[key.s7], gammas[key.s8],
                                            gammas[key.s9], gammas[key.sa], gammas[key.sb],
                                            gammas[key.sc], gammas[key.sd], gammas[key.se],
                                            gammas[key.sf]);
    uint zr[KVQ_M / 2];     /* the KVQ_M/32 sign words of 16 keys, word-major */
    for (uint r = 0; r < 16; r++) {
        __global const uint *row = codes + (size_t)(j0 + min(jb + r, n - 1)) * words +
                                   KVQ_LB * LUT_NB;
#pragma unroll
        for (int w = 0; w < KVQ_M / 32; w++)
            zr[w * 16 + r] = row[w];
    }
    for (uint i = 0; i < nq; i++) {
        __global const float *sb = st + (size_t)i * (KVQ_M / 4) * 16;
        float16 sp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int w = 0; w < KVQ_M / 32; w++) {
            const uint16 z = vload16(w, zr);
#pragma unroll
            for (int t = 0; t < 8; t++)
                sp[t % 4] += lut16(vload16(8 * w + t, sb), z >> (uint)(4 * t));
        }
        const float16 sa = (sp[0] + sp[1]) + (sp[2] + sp[3]);
        __global float *o = out + (size_t)i * n + jb;
        const uint cnt = min(16u, n - jb);
        float16 l = g * sa;
#if KVQ_LB > 0
        float prev[16] = {0};
        for (uint r = 0; r < cnt; r++)
            prev[r] = o[r];
        l += vload16(0, prev);
#endif
        store_row16(l, cnt, o, stream);
    }
#endif
}
