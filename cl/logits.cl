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
#define LUT_STEPS 32            /* coordinates per block: one MSE step each */
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

/* The query tables of kvq_logits_lut, one work-item per (row, query):
 * rows 0…31 copy the queries into qt, padded with zero rows to a whole
 * block of KVQ_QB (row r copies coordinates r, r + 32, …); row 32 + g of
 * st[i] (g < m/4) holds, at v, Σ_{b<4} ±sq_i[4g + b] with + where bit b of
 * v is set (a nibble of sign bits → its partial sum). */
__kernel void kvq_logits_lut_tables(__global const float *qr, __global const float *sq,
                                    const uint m, const uint nq, __global float *qt,
                                    __global float *st)
{
    const uint row = get_global_id(0), i = get_global_id(1);
    if (row < LUT_STEPS) {
        for (uint c = row; c < KVQ_D; c += LUT_STEPS)
            qt[(size_t)i * KVQ_D + c] = i < nq ? qr[(size_t)i * KVQ_D + c] : 0.0f;
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

/* Lanes a0 b0 a1 b1 … a7 b7, and the same of the high halves. */
uint16 zip_lo(uint16 a, uint16 b)
{
    return (uint16)(a.s0, b.s0, a.s1, b.s1, a.s2, b.s2, a.s3, b.s3, a.s4, b.s4, a.s5, b.s5,
                    a.s6, b.s6, a.s7, b.s7);
}

uint16 zip_hi(uint16 a, uint16 b)
{
    return (uint16)(a.s8, b.s8, a.s9, b.s9, a.sa, b.sa, a.sb, b.sb, a.sc, b.sc, a.sd, b.sd,
                    a.se, b.se, a.sf, b.sf);
}

/* m ← mᵀ for 16 rows of 16 words: four rounds of the perfect shuffle
 * (rows i and i + 8 zipped into rows 2i and 2i + 1), 64 two-register
 * permutations, where 16 gathers load each word on its own. */
void transpose16(uint16 *m)
{
    for (int round = 0; round < 4; round++) {
        uint16 t[16];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            t[2 * i] = zip_lo(m[i], m[i + 8]);
            t[2 * i + 1] = zip_hi(m[i], m[i + 8]);
        }
#pragma unroll
        for (int i = 0; i < 16; i++)
            m[i] = t[i];
    }
}

#if KVQ_LB > 0
#define LUT_NIB (KVQ_LB < 4 ? KVQ_LB : 4)
#define LUT_PW (KVQ_LB * LUT_NB)    /* MSE plane words per key */

/* One block of 32 coordinates for KVQ_QB queries: acc[qi] = Σ over the
 * block of qb[qi][x] · C[code_x], x in the order 4t + j, j major (lane =
 * key). decode 0 reads the block's decoded codes from dec; 1 decodes them
 * from the plane words; 2 also keeps them in dec for later query blocks. */
void lut_block(const int decode, const uint b, __private const uint16 *pw, const float16 ctab,
               const float16 ctab_hi, __private float16 *dec, __global const float *qb,
               __private float16 *out)
{
    float16 acc[KVQ_QB][LUT_ACC];
#pragma unroll
    for (int qi = 0; qi < KVQ_QB; qi++)
#pragma unroll
        for (int a = 0; a < LUT_ACC; a++)
            acc[qi][a] = 0.0f;
    /* the rolled loop over j keeps the schedule FMA-major (doc/kernels.md §2.2) */
#pragma unroll 1
    for (uint j = 0; j < 4; j++) {
        uint16 nb = 0;
#if KVQ_LB > 4
        uint16 neg = 0, hi = 0;
#endif
        if (decode) {
#pragma unroll
            for (int k = 0; k < LUT_NIB; k++)
                nb = bitselect(nb, rotate(pw[k * LUT_NB + b], (uint16)((k - j) & 31)),
                               (uint16)(0x11111111u << k));
#if KVQ_LB > 4
            /* coordinate 4t + j's negative flag (and 6-bit magnitude bit 4)
             * at bit 4t of these, moved to bit 31 for step t */
            neg = ~pw[(KVQ_LB - 1) * LUT_NB + b] >> j;
#if KVQ_LB == 6
            hi = pw[4 * LUT_NB + b] >> j;
#endif
#endif
        }
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const uint x = 4 * t + j;
            float16 c;
            if (decode) {
#if KVQ_LB <= 4
                c = lut16(ctab, nb);
#else
#if KVQ_LB == 6
                const float16 mag = select(lut16(ctab, nb), lut16(ctab_hi, nb),
                                           as_int16(hi << 31));
                hi >>= 4;
#else
                const float16 mag = lut16(ctab, nb);
#endif
                c = as_float16(as_uint16(mag) ^ (neg << 31));
                neg >>= 4;
#endif
                nb >>= 4;
                if (decode == 2)
                    dec[x] = c;
            } else {
                c = dec[x];
            }
#pragma unroll
            for (int qi = 0; qi < KVQ_QB; qi++)
                acc[qi][t % LUT_ACC] = fma((float16)qb[qi * KVQ_D + x], c, acc[qi][t % LUT_ACC]);
        }
    }
#pragma unroll
    for (int qi = 0; qi < KVQ_QB; qi++) {
#pragma unroll
        for (int a = 1; a < LUT_ACC; a++)
            acc[qi][0] += acc[qi][a];
        out[qi] = acc[qi][0];
    }
}
#endif

/* out[i][j] = ν_j ⟨qr_i, C[idx_j]⟩ + qjl_scale · γ_j ⟨sq_i, z_j⟩ for keys
 * j0 … j0+n−1 (as kvq_logits_codes), 16 keys per work-item, lane = key,
 * from the tables of kvq_logits_lut_tables.
 *
 * MSE: word b of plane k holds bit k of coordinates 32b … 32b+31. Nibble
 * word j gathers bit k of coordinate 4·t + j at bit 4·t + k (a rotation and
 * a masked merge per plane), so that (nib_j >> 4t) mod 16 is that
 * coordinate's code and one table lookup decodes 16 keys. The first block
 * of queries decodes each coordinate once into dec; every block then costs
 * a load of the decoded vector and KVQ_QB FMAs per coordinate, the query
 * operand a broadcast load. The blocks of 32 coordinates are summed
 * pairwise at the end. QJL: each nibble of sign bits indexes the query's
 * table of 16 partial sums; with MSE bits too its term is added to the MSE
 * part before the store. */
#if KVQ_M > 0
/* ⟨sq_i, z⟩ for 16 keys from the query's table sb of nibble partial sums:
 * a shift, a lookup and an add per four signs. */
float16 lut_qjl(__private const uint16 *zr, __global const float *sb)
{
    float16 sp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int w = 0; w < KVQ_M / 32; w++) {
        const uint16 z = zr[w];
#pragma unroll
        for (int t = 0; t < 8; t++)
            sp[t % 4] += lut16(vload16(8 * w + t, sb), z >> (uint)(4 * t));
    }
    return (sp[0] + sp[1]) + (sp[2] + sp[3]);
}
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
    const int stream = n % 16 == 0 && (size_t)nq * n >= ((size_t)8 << 20);
    const uint cnt = min(16u, n - jb);
    /* lane r holds key j0 + jb + rel_r (the last key again past n) */
    const uint16 lane = KVQ_LANES16;
    const uint16 rel = min(lane, (uint16)(n - 1 - jb)), row = rel * words;
    __global const uint *base = codes + (size_t)(j0 + jb) * words;
#if KVQ_M > 0
    const float16 g = qjl_scale * gather16_f32(gammas + j0 + jb, rel);
    uint16 zr[KVQ_M / 32];  /* the sign words of the 16 keys */
#pragma unroll
    for (int w = 0; w < KVQ_M / 32; w++)
        zr[w] = gather16_u32(base + KVQ_LB * LUT_NB + w, row);
#endif
#if KVQ_LB > 0
    /* Up to 4 bits the nibble is the code and ctab the codebook. Above,
     * the codebook is symmetric: the top plane is the sign (0: negative),
     * the other planes XOR its complement index the positive half M (as
     * in kvq_logits_codes_vec); the nibble holds the magnitude's low 4
     * bits, with 6 bits plane 4 picks between M's two halves. */
    float ct[2][16];
    for (int c = 0; c < 32; c++) {
#if KVQ_LB <= 4
        ct[c / 16][c % 16] = c < (1 << KVQ_LB) ? centroids[c] : 0.0f;
#else
        ct[c / 16][c % 16] = c < (1 << (KVQ_LB - 1)) ? centroids[(1 << (KVQ_LB - 1)) + c] : 0.0f;
#endif
    }
    const float16 ctab = vload16(0, ct[0]), ctab_hi = vload16(0, ct[1]);
    uint16 pw[LUT_PW];
#if LUT_PW % 16 == 0
    /* whole rows of 16 words: vector loads and a transpose */
#pragma unroll
    for (int c = 0; c < LUT_PW; c += 16) {
#pragma unroll
        for (int r = 0; r < 16; r++)
            pw[c + r] = vload16(0, base + (size_t)min((uint)r, n - 1 - jb) * words + c);
        transpose16(pw + c);
    }
#else
#pragma unroll
    for (int x = 0; x < LUT_PW; x++)
        pw[x] = gather16_u32(base + x, row);
#endif
#if KVQ_LB > 4
#pragma unroll
    for (int k = 0; k < KVQ_LB - 1; k++)
#pragma unroll
        for (int b = 0; b < LUT_NB; b++)
            pw[k * LUT_NB + b] ^= ~pw[(KVQ_LB - 1) * LUT_NB + b];
#endif
    const float16 nu16 = gather16_f32(norms + j0 + jb, rel);
    float16 dec[KVQ_D];
    for (uint i0 = 0; i0 < nq; i0 += KVQ_QB) {
        __global const float *qb = qt + (size_t)i0 * KVQ_D;
        float16 part[LUT_NB][KVQ_QB];
        /* the first block of queries decodes, and keeps the decoded codes
         * when more blocks follow; a constant mode per call keeps the
         * block's loop free of the choice */
#pragma unroll 1
        for (uint b = 0; b < LUT_NB; b++) {
            __private float16 *db = dec + b * LUT_STEPS;
            __global const float *qbb = qb + b * LUT_STEPS;
            if (i0 > 0)
                lut_block(0, b, pw, ctab, ctab_hi, db, qbb, part[b]);
            else if (nq > KVQ_QB)
                lut_block(2, b, pw, ctab, ctab_hi, db, qbb, part[b]);
            else
                lut_block(1, b, pw, ctab, ctab_hi, db, qbb, part[b]);
        }
        /* blocks summed pairwise: (0 + 1) + (2 + 3), … */
#pragma unroll
        for (int s = 1; s < LUT_NB; s *= 2)
#pragma unroll
            for (int b = 0; b + s < LUT_NB; b += 2 * s)
#pragma unroll
                for (int qi = 0; qi < KVQ_QB; qi++)
                    part[b][qi] += part[b + s][qi];
#pragma unroll
        for (int qi = 0; qi < KVQ_QB; qi++) {
            if (i0 + qi >= nq)
                break;
            float16 l = nu16 * part[0][qi];
#if KVQ_M > 0
            /* apart from the product: a fused multiply-add would round
             * otherwise than the sum of the two parts */
            const float16 lq = g * lut_qjl(zr, st + (size_t)(i0 + qi) * (KVQ_M / 4) * 16);
            l = lq + l;
#endif
            store_row16(l, cnt, out + (size_t)(i0 + qi) * n + jb, stream);
        }
    }
#endif
#if KVQ_M > 0 && KVQ_LB == 0
    for (uint i = 0; i < nq; i++)
        store_row16(g * lut_qjl(zr, st + (size_t)i * (KVQ_M / 4) * 16), cnt,
                    out + (size_t)i * n + jb, stream);
#endif
}
