/* formats.cl — the deployed formats (doc/schemes.md §6): quantization,
 * dequantization and compressed-domain logits for q8_0, q4_0, q4_1 (blocks
 * of 32 with fp16 fields), fp8e4m3, fp8e5m2, fp16 (one code per coordinate)
 * and KIVI (b code planes; fp16 δ and lo per group in the tensor-level side
 * words tside, a dummy buffer for the other formats). Built per format with
 * KVQ_CB (code bits), KVQ_NP (fp16 fields per block; 0 otherwise),
 * KVQ_FMT_<NAME> (KIVI also KVQ_G, the group, and KVQ_AXIS: 1 = token groups
 * of K, 2 = channel groups of V), and with
 * -cl-fp32-correctly-rounded-divide-sqrt so that δ and 1/δ are the host's. */

#if !defined(KVQ_CB) || !defined(KVQ_NP)
#error "KVQ_CB and KVQ_NP (the format's layout) must be defined"
#endif

#define FMT_BLOCK 32
#define FMT_BLOCKS (KVQ_D / FMT_BLOCK)
/* Stream bit of block b's field k (doc/schemes.md §6.3). */
#define FMT_PARAM(b, k) (KVQ_CB * KVQ_D + 16 * ((b) * KVQ_NP + (k)))

/* The width-bit field at stream bit p (never straddles a word). */
uint fmt_field(__global const uint *w, uint p, uint width)
{
    return (w[p >> 5] >> (p & 31)) & ((1u << width) - 1u);
}

/* The fp16 field at stream bit p as a float. */
float fmt_half(__global const uint *w, uint p)
{
    ushort h = (ushort)fmt_field(w, p, 16);
    return vload_half(0, (__private const half *)&h);
}

/* The 16-bit encoding of v rounded to half, nearest-even. */
uint fmt_half_bits(float v)
{
    ushort h;
    vstore_half_rte(v, 0, (__private half *)&h);
    return h;
}

#if KVQ_NP > 0
/* The integer of a code u: a signed byte for q8_0, code − 8 for q4_0, the
 * code for q4_1. */
int fmt_code_int(uint u)
{
#if defined(KVQ_FMT_Q8_0)
    return (int)(char)(uchar)u;
#elif defined(KVQ_FMT_Q4_0)
    return (int)u - 8;
#else
    return (int)u;
#endif
}

/* The integer of coordinate c's code. */
int fmt_int(__global const uint *w, uint c)
{
    return fmt_code_int(fmt_field(w, c * KVQ_CB, KVQ_CB));
}

/* x̂ = a·int + o for block b: a = fp16(δ), o = fp16(lo) for q4_1, else 0. */
void fmt_affine(__global const uint *w, uint b, float *a, float *o)
{
    *a = fmt_half(w, FMT_PARAM(b, 0));
#if KVQ_NP > 1
    *o = fmt_half(w, FMT_PARAM(b, 1));
#else
    *o = 0.0f;
#endif
}

/* One block as llama.cpp quantizes it, in float (doc/schemes.md §6.1):
 * codes into q, the fp32 scale returned, *lo the minimum. */
float fmt_block_codes(__global const float *x, uint *q, float *lo)
{
    float amax = 0.0f, m = 0.0f, mn = x[0], mx = x[0];
    for (uint j = 0; j < FMT_BLOCK; j++) {
        float v = x[j];
        if (amax < fabs(v)) {
            amax = fabs(v);
            m = v;
        }
        mn = fmin(mn, v);
        mx = fmax(mx, v);
    }
#if defined(KVQ_FMT_Q8_0)
    float d = amax / 127.0f;
#elif defined(KVQ_FMT_Q4_0)
    float d = m / -8.0f;
#else
    float d = (mx - mn) / 15.0f;
#endif
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (uint j = 0; j < FMT_BLOCK; j++) {
#if defined(KVQ_FMT_Q8_0)
        int c = (int)round(x[j] * id);
        q[j] = (uint)clamp(c, -127, 127) & 0xffu;
#elif defined(KVQ_FMT_Q4_0)
        q[j] = (uint)min((int)(x[j] * id + 8.5f), 15);
#else
        q[j] = (uint)min((int)((x[j] - mn) * id + 0.5f), 15);
#endif
    }
    *lo = mn;
    return d;
}

#elif defined(KVQ_FMT_KIVI)
#define KIVI_NG ((KVQ_D + KVQ_G - 1) / KVQ_G)
#define KIVI_TOP ((1u << KVQ_CB) - 1u)

/* The side word of coordinate c of vector v (doc/schemes.md §6.4). */
uint kivi_slot(uint v, uint c)
{
#if KVQ_AXIS == 1
    return v / KVQ_G * KVQ_D + c;
#else
    return v * KIVI_NG + c / KVQ_G;
#endif
}

/* Coordinate c's code from the KVQ_CB planes. */
uint kivi_code(__global const uint *w, uint c)
{
    uint q = 0;
    for (uint k = 0; k < KVQ_CB; k++)
        q |= fmt_field(w, k * KVQ_D + c, 1) << k;
    return q;
}

/* x̂ = q·fp16(δ) + fp16(lo): the product is exact in float, the sum rounds
 * once, as the host's double sum rounded to float. */
float kivi_value(__global const uint *w, __global const uint *tside, uint v, uint c)
{
    uint s = tside[kivi_slot(v, c)];
    ushort hd = (ushort)(s & 0xffffu), hl = (ushort)(s >> 16);
    return (float)kivi_code(w, c) * vload_half(0, (__private const half *)&hd) +
           vload_half(0, (__private const half *)&hl);
}

/* lo and hi of coordinate c's group of vector v: over the group's tokens
 * in channel c (K) or over the group's channels of v (V). */
void kivi_range(__global const float *x, uint count, uint v, uint c, float *lo, float *hi)
{
#if KVQ_AXIS == 1
    uint r0 = v / KVQ_G * KVQ_G, n = min((uint)KVQ_G, count - r0), step = KVQ_D;
    __global const float *p = x + (size_t)r0 * KVQ_D + c;
#else
    uint c0 = c / KVQ_G * KVQ_G, n = min((uint)KVQ_G, (uint)KVQ_D - c0), step = 1;
    __global const float *p = x + (size_t)v * KVQ_D + c0;
#endif
    *lo = *hi = p[0];
    for (uint k = 1; k < n; k++) {
        *lo = fmin(*lo, p[k * step]);
        *hi = fmax(*hi, p[k * step]);
    }
}
#else
#if defined(KVQ_FMT_FP8E4M3)
#define MF_M 3
#define MF_BIAS 7
#define MF_MAX 448.0f
#elif defined(KVQ_FMT_FP8E5M2)
#define MF_M 2
#define MF_BIAS 15
#define MF_MAX 57344.0f
#endif

#ifdef MF_M
/* 2^k for −126 ≤ k ≤ 127, from its bits (frexp/ldexp are slow on CPUs). */
float fmt_pow2(int k)
{
    return as_float((uint)(k + 127) << 23);
}

/* The unbiased exponent of a float: |x| ∈ [2^e, 2^(e+1)) (−127 for 0 and
 * subnormal floats, which round to 0 in fp8 anyway). */
int fmt_exponent(float x)
{
    return (int)((as_uint(x) >> 23) & 0xffu) - 127;
}

/* Nearest fp8 value, ties to even, saturating (doc/schemes.md §6.2): the
 * grid step 2^k is a power of two, so both scalings are exact. */
float fmt_mf_round(float x)
{
    int k = max(fmt_exponent(x) - MF_M, 1 - MF_BIAS - MF_M);
    float r = rint(x * fmt_pow2(-k)) * fmt_pow2(k);
    return fabs(r) > MF_MAX ? copysign(MF_MAX, x) : r;
}

/* The encoding of a value the format holds exactly: its exponent rebiased,
 * the top MF_M bits of its float mantissa; subnormal fp8 as a multiple of
 * the smallest step. */
uint fmt_mf_bits(float r)
{
    uint sign = signbit(r) ? 0x80u : 0u;
    float a = fabs(r);
    if (a == 0.0f)
        return sign;
    int biased = fmt_exponent(a) + MF_BIAS;
    if (biased <= 0)
        return sign | (uint)(a * fmt_pow2(MF_M + MF_BIAS - 1));
    return sign | ((uint)biased << MF_M) | ((as_uint(a) >> (23 - MF_M)) & ((1u << MF_M) - 1u));
}
#endif

/* The value of coordinate c's code. */
float fmt_value(__global const uint *w, uint c)
{
    uint u = fmt_field(w, c * KVQ_CB, KVQ_CB);
#ifdef MF_M
    uint e = (u >> MF_M) & ((0x80u >> MF_M) - 1u), m = u & ((1u << MF_M) - 1u);
    float mag = e ? as_float(((e - MF_BIAS + 127u) << 23) | (m << (23 - MF_M)))
                  : (float)m * fmt_pow2(1 - MF_BIAS - MF_M);
    return (u & 0x80u) ? -mag : mag;
#else
    ushort h = (ushort)u;
    return vload_half(0, (__private const half *)&h);
#endif
}
#endif

/* Quantizes count vectors x into the packed stream, one work-item per
 * vector (block fields of neighbouring blocks share words). norms[v] = ‖x‖
 * (informational, as on the host), or +Inf when a stored value overflows
 * half, which the launcher turns into KVQ_ERR_UNSUPPORTED. */
__kernel void kvq_format_quantize(__global const float *x, const uint count, const uint words,
                                  __global uint *codes, __global float *norms,
                                  __global uint *tside)
{
    const uint v = get_global_id(0);
    if (v >= count)
        return;
    __global const float *row = x + (size_t)v * KVQ_D;
    __global uint *out = codes + (size_t)v * words;
    float nn = 0.0f;
    int overflow = 0;
    for (uint i = 0; i < words; i++)
        out[i] = 0;
#if defined(KVQ_FMT_KIVI)
    /* the group's first member writes its side words (all compute the same) */
    for (uint c = 0; c < KVQ_D; c++) {
        float lo, hi;
        kivi_range(x, count, v, c, &lo, &hi);
        float delta = (hi - lo) / (float)KIVI_TOP;
        float t = delta > 0.0f ? rint((row[c] - lo) / delta) : 0.0f;
        uint q = (uint)clamp(t, 0.0f, (float)KIVI_TOP);
        uint hd = fmt_half_bits(delta), hl = fmt_half_bits(lo);
        overflow |= (hd & 0x7c00u) == 0x7c00u || (hl & 0x7c00u) == 0x7c00u;
#if KVQ_AXIS == 1
        if (v % KVQ_G == 0)
#else
        if (c % KVQ_G == 0)
#endif
            tside[kivi_slot(v, c)] = hd | hl << 16;
        for (uint k = 0; k < KVQ_CB; k++) {
            uint p = k * KVQ_D + c;
            out[p >> 5] |= ((q >> k) & 1u) << (p & 31);
        }
    }
#elif KVQ_NP > 0
    for (uint b = 0; b < FMT_BLOCKS; b++) {
        uint q[FMT_BLOCK];
        float lo, d = fmt_block_codes(row + b * FMT_BLOCK, q, &lo);
        uint hd = fmt_half_bits(d);
        overflow |= (hd & 0x7c00u) == 0x7c00u;
        out[FMT_PARAM(b, 0) >> 5] |= hd << (FMT_PARAM(b, 0) & 31);
#if KVQ_NP > 1
        uint hl = fmt_half_bits(lo);
        overflow |= (hl & 0x7c00u) == 0x7c00u;
        out[FMT_PARAM(b, 1) >> 5] |= hl << (FMT_PARAM(b, 1) & 31);
#endif
        /* a block's codes fill KVQ_CB whole words: assemble each, store once */
        for (uint t = 0; t < KVQ_CB; t++) {
            uint word = 0;
            for (uint u = 0; u < 32 / KVQ_CB; u++)
                word |= q[t * (32 / KVQ_CB) + u] << (u * KVQ_CB);
            out[b * KVQ_CB + t] = word;
        }
    }
#else
    for (uint c = 0; c < KVQ_D; c++) {
#ifdef MF_M
        uint u = fmt_mf_bits(fmt_mf_round(row[c]));
#else
        uint u = fmt_half_bits(row[c]);
        overflow |= (u & 0x7c00u) == 0x7c00u;
#endif
        uint p = c * KVQ_CB;
        out[p >> 5] |= u << (p & 31);
    }
#endif
    for (uint c = 0; c < KVQ_D; c++)
        nn += row[c] * row[c];
    norms[v] = overflow ? INFINITY : sqrt(nn);
}

/* x̂[v][c] for count vectors, one work-item per coordinate. */
__kernel void kvq_format_dequantize(__global const uint *codes, __global const uint *tside,
                                    const uint words, const uint count, __global float *out)
{
    const uint c = get_global_id(0), v = get_global_id(1);
    if (c >= KVQ_D || v >= count)
        return;
    __global const uint *w = codes + (size_t)v * words;
#if defined(KVQ_FMT_KIVI)
    out[(size_t)v * KVQ_D + c] = kivi_value(w, tside, v, c);
#elif KVQ_NP > 0
    float a, o;
    fmt_affine(w, c / FMT_BLOCK, &a, &o);
    out[(size_t)v * KVQ_D + c] = a * (float)fmt_int(w, c) + o;
#else
    out[(size_t)v * KVQ_D + c] = fmt_value(w, c);
#endif
}

/* out[i][j] = ⟨qr_i, x̂_{j0+j}⟩ straight from the codes (qr prescaled by
 * τ/√d): per block a·Σ q·int + o·Σ q, no x̂ formed. */
__kernel void kvq_format_logits(__global const uint *codes, __global const uint *tside,
                                const uint words, __global const float *qr, const uint j0,
                                const uint n, const uint nq, __global float *out)
{
    const uint j = get_global_id(0), i = get_global_id(1);
    if (j >= n || i >= nq)
        return;
    __global const uint *w = codes + (size_t)(j0 + j) * words;
    __global const float *q = qr + (size_t)i * KVQ_D;
    float acc = 0.0f;
#if defined(KVQ_FMT_KIVI)
    for (uint c = 0; c < KVQ_D; c++)
        acc += q[c] * kivi_value(w, tside, j0 + j, c);
#elif KVQ_NP > 0
    for (uint b = 0; b < FMT_BLOCKS; b++) {
        float a, o, si = 0.0f, sq = 0.0f;
        fmt_affine(w, b, &a, &o);
        /* each of the block's KVQ_CB code words read once */
        for (uint t = 0; t < KVQ_CB; t++) {
            uint word = w[b * KVQ_CB + t];
            for (uint u = 0; u < 32 / KVQ_CB; u++) {
                uint c = b * FMT_BLOCK + t * (32 / KVQ_CB) + u;
                si += q[c] * (float)fmt_code_int((word >> (u * KVQ_CB)) & ((1u << KVQ_CB) - 1u));
                sq += q[c];
            }
        }
        acc += a * si + o * sq;
    }
#else
    for (uint c = 0; c < KVQ_D; c++)
        acc += q[c] * fmt_value(w, c);
#endif
    out[(size_t)i * n + j] = acc;
}

/* 16 minifloat encodings at once (the CPU kernels' decode; lanes are
 * independent values): m mantissa and eb exponent bits, bias, the sign
 * above them, the exponent eb ones Inf/NaN only when ieee (fp16; the fp8
 * formats' top exponent is finite, as in fmt_value). The same floats as
 * fmt_value and vload_half, by bit operations PoCL vectorises. */
float16 minifloat16(uint16 u, const uint m, const uint eb, const int bias, const int ieee)
{
    const uint16 mag = u & ((1u << (m + eb)) - 1u), e = mag >> m;
    const float16 normal = as_float16((mag << (23u - m)) + ((uint)(127 - bias) << 23));
    const float16 sub = convert_float16(mag & ((1u << m) - 1u)) *
                        as_float((uint)(128 - bias - (int)m) << 23);    /* 2^(1−bias−m) */
    float16 v = select(sub, normal, e != 0u);
    if (ieee)
        v = select(v, as_float16((mag << (23u - m)) | 0x7f800000u), e == ((1u << eb) - 1u));
    return as_float16(as_uint16(v) | ((u >> (m + eb)) & 1u) << 31);
}

/* fp16 encodings (the low 16 bits of each lane) as floats. */
float16 half16_bits(uint16 u)
{
    return minifloat16(u & 0xffffu, 10, 5, 15, 1);
}

/* The word at offset off of each lane's row, as one vector (PoCL loads the
 * 16 lanes one by one: the rows are words apart). */
uint16 gather_rows(__global const uint *codes, const uint *rows, uint off)
{
    uint wv[16];
    for (uint r = 0; r < 16; r++)
        wv[r] = codes[rows[r] + off];
    return vload16(0, wv);
}

#if KVQ_NP > 0
/* acc (lane r: key r of the work-item) += ⟨q, x̂⟩ for a block format: per
 * block a·Σ q·int + o·Σ q as in kvq_format_logits. */
float16 fmt_logits16(__global const uint *codes, const uint *rows, __global const float *q)
{
    float16 acc = 0.0f;
    for (uint b = 0; b < FMT_BLOCKS; b++) {
        float16 si = 0.0f;
        float sq = 0.0f;
        float av[16], ov[16];
        for (uint r = 0; r < 16; r++)
            fmt_affine(codes + rows[r], b, &av[r], &ov[r]);
        for (uint t = 0; t < KVQ_CB; t++) {
            const uint16 word = gather_rows(codes, rows, b * KVQ_CB + t);
#pragma unroll
            for (uint u = 0; u < 32 / KVQ_CB; u++) {
                const uint c = b * FMT_BLOCK + t * (32 / KVQ_CB) + u;
#if defined(KVQ_FMT_Q8_0)
                const int16 v = as_int16(word << (24u - 8u * u)) >> 24;
#elif defined(KVQ_FMT_Q4_0)
                const int16 v = as_int16((word >> (4u * u)) & 15u) - 8;
#else
                const int16 v = as_int16((word >> (4u * u)) & 15u);
#endif
                si += q[c] * convert_float16(v);
                sq += q[c];
            }
        }
        acc += vload16(0, av) * si + vload16(0, ov) * sq;
    }
    return acc;
}
#elif defined(KVQ_FMT_KIVI)
/* δ and lo of coordinate c for the 16 keys vr: one side word for all when
 * they share a K token group (the common case), else one per lane. */
void kivi_side16(__global const uint *tside, const uint *vr, int shared, uint c, float16 *d,
                 float16 *lo)
{
    uint16 s;
    if (shared) {
        s = (uint16)tside[kivi_slot(vr[0], c)];
    } else {
        uint sw[16];
        for (uint r = 0; r < 16; r++)
            sw[r] = tside[kivi_slot(vr[r], c)];
        s = vload16(0, sw);
    }
    *d = half16_bits(s);
    *lo = half16_bits(s >> 16);
}

/* acc += ⟨q, x̂⟩ for KIVI: per plane word the 32 coordinates' codes
 * assembled bit by bit across the KVQ_CB planes, x̂ = q·δ + lo as
 * kivi_value (the product exact), summed over c in order. */
float16 fmt_logits16(__global const uint *codes, __global const uint *tside, const uint *rows,
                     const uint *vr, __global const float *q)
{
    const int shared = KVQ_AXIS == 1 && vr[0] / KVQ_G == vr[15] / KVQ_G;
    float16 acc = 0.0f;
    for (uint t = 0; t < KVQ_D / 32; t++) {
        uint16 plane[KVQ_CB];
        for (uint k = 0; k < KVQ_CB; k++)
            plane[k] = gather_rows(codes, rows, k * (KVQ_D / 32) + t);
        for (uint u = 0; u < 32; u++) {
            const uint c = t * 32 + u;
            uint16 code = 0;
            for (uint k = 0; k < KVQ_CB; k++)
                code |= ((plane[k] >> u) & 1u) << k;
            float16 d, lo;
            kivi_side16(tside, vr, shared, c, &d, &lo);
            acc += q[c] * (convert_float16(code) * d + lo);
        }
    }
    return acc;
}
#else
/* acc += ⟨q, x̂⟩ for fp8 / fp16: each code word holds 32/KVQ_CB
 * coordinates, decoded as fmt_value, summed over c in order. */
float16 fmt_logits16(__global const uint *codes, const uint *rows, __global const float *q)
{
    float16 acc = 0.0f;
    for (uint t = 0; t < KVQ_D * KVQ_CB / 32; t++) {
        const uint16 word = gather_rows(codes, rows, t);
#pragma unroll
        for (uint u = 0; u < 32 / KVQ_CB; u++) {
            const uint c = t * (32 / KVQ_CB) + u;
            const uint16 code = (word >> (u * KVQ_CB)) & ((1u << KVQ_CB) - 1u);
#ifdef MF_M
            acc += q[c] * minifloat16(code, MF_M, 7 - MF_M, MF_BIAS, 0);
#else
            acc += q[c] * half16_bits(code);
#endif
        }
    }
    return acc;
}
#endif

/* kvq_format_logits for 16 keys per work-item (lanes are keys; the CPU
 * path, doc/kernels.md §4.1): the same per-lane sums in the same order, so
 * the same results, with each code word read once for 16 keys and the
 * decode one vector operation. The last work-item repeats key n − 1 in
 * its spare lanes and stores only its own. */
__kernel void kvq_format_logits_vec(__global const uint *codes, __global const uint *tside,
                                    const uint words,
                                    __global const float *qr, const uint j0, const uint n,
                                    const uint nq, __global float *out)
{
    const uint jb = get_global_id(0) * 16, i = get_global_id(1);
    if (jb >= n || i >= nq)
        return;
    __global const float *q = qr + (size_t)i * KVQ_D;
    uint rows[16], vr[16];
    for (uint r = 0; r < 16; r++) {
        vr[r] = j0 + min(jb + r, n - 1);
        rows[r] = vr[r] * words;
    }
#if defined(KVQ_FMT_KIVI)
    const float16 acc = fmt_logits16(codes, tside, rows, vr, q);
#else
    const float16 acc = fmt_logits16(codes, rows, q);
#endif
    store_lanes(acc, n - jb, out + (size_t)i * n + jb);
}

#if KVQ_NP == 0
/* The half encodings of 16 floats rounded nearest-even (vstore_half_rte). */
uint16 half16_encode(float16 v)
{
    ushort h[16];
    vstore_half16_rte(v, 0, (__private half *)h);
    return convert_uint16(vload16(0, h));
}

/* Whether any of 16 half encodings is Inf or NaN (exponent all ones). */
int half16_overflow(uint16 h)
{
    return any((h & 0x7c00u) == 0x7c00u);
}

#ifdef MF_M
/* fmt_mf_bits(fmt_mf_round(x)) for 16 floats: the same operations lane by
 * lane (so the same codes for every finite x; a NaN takes the bits its
 * lane's byte keeps). */
uint16 mf16_encode(float16 x)
{
    const int16 ex = as_int16((as_uint16(x) >> 23) & 0xffu) - 127;
    const int16 k = max(ex - MF_M, (int16)(1 - MF_BIAS - MF_M));
    float16 r = rint(x * as_float16((-k + 127) << 23)) * as_float16((k + 127) << 23);
    r = select(r, copysign((float16)MF_MAX, x), fabs(r) > MF_MAX);
    const float16 a = fabs(r);
    const uint16 sign = as_uint16(signbit(r)) & 0x80u;
    const int16 biased = as_int16((as_uint16(a) >> 23) & 0xffu) - 127 + MF_BIAS;
    const uint16 normal = as_uint16(biased << MF_M) | ((as_uint16(a) >> (23 - MF_M)) &
                                                      ((1u << MF_M) - 1u));
    const uint16 sub = convert_uint16(a * fmt_pow2(MF_M + MF_BIAS - 1));
    return sign | select((uint16)0u, select(normal, sub, biased <= 0), a != 0.0f);
}
#endif

/* kvq_format_quantize for fp8, fp16 and KIVI on CPUs, doc/kernels.md §4.1:
 * one work-item per vector, 16 coordinates per step, the same codes
 * and side words as the scalar kernel; ‖x‖ by 16 partial sums (rounding
 * differs; the norms are informational). KIVI's V groups run group by
 * group, each range found once instead of once per coordinate. */
__kernel void kvq_format_quantize_vec(__global const float *x, const uint count,
                                      const uint words, __global uint *codes,
                                      __global float *norms, __global uint *tside)
{
    const uint v = get_global_id(0);
    if (v >= count)
        return;
    __global const float *row = x + (size_t)v * KVQ_D;
    __global uint *out = codes + (size_t)v * words;
    float16 nn = 0.0f;
    int overflow = 0;
#if defined(KVQ_FMT_KIVI)
    for (uint i = 0; i < words; i++)
        out[i] = 0;
#if KVQ_AXIS == 1
    const uint16 lane = KVQ_LANES16;
    const uint r0 = v / KVQ_G * KVQ_G, span = min((uint)KVQ_G, count - r0);
    for (uint c = 0; c < KVQ_D; c += 16) {
        __global const float *p = x + (size_t)r0 * KVQ_D + c;
        float16 lo = vload16(0, p), hi = lo;
        for (uint k = 1; k < span; k++) {
            lo = fmin(lo, vload16(0, p + (size_t)k * KVQ_D));
            hi = fmax(hi, vload16(0, p + (size_t)k * KVQ_D));
        }
        const float16 xv = vload16(0, row + c), delta = (hi - lo) / (float)KIVI_TOP;
        nn += xv * xv;
        const float16 t = select((float16)0.0f, rint((xv - lo) / delta), delta > 0.0f);
        const uint16 q = convert_uint16(clamp(t, 0.0f, (float)KIVI_TOP));
        const uint16 hd = half16_encode(delta), hl = half16_encode(lo);
        overflow |= half16_overflow(hd) | half16_overflow(hl);
        if (v % KVQ_G == 0)
            vstore16(hd | hl << 16, 0, tside + kivi_slot(v, c));
        for (uint k = 0; k < KVQ_CB; k++) {
            const uint16 b = ((q >> k) & 1u) << lane;
            const uint8 b8 = b.lo | b.hi;
            const uint4 b4 = b8.lo | b8.hi;
            const uint2 b2 = b4.lo | b4.hi;
            const uint p2 = k * KVQ_D + c;
            out[p2 >> 5] |= (b2.x | b2.y) << (p2 & 31);
        }
    }
#else
    for (uint c0 = 0; c0 < KVQ_D; c0 += KVQ_G) {
        float lo, hi;
        kivi_range(x, count, v, c0, &lo, &hi);
        const float delta = (hi - lo) / (float)KIVI_TOP;
        const uint hd = fmt_half_bits(delta), hl = fmt_half_bits(lo);
        overflow |= (hd & 0x7c00u) == 0x7c00u || (hl & 0x7c00u) == 0x7c00u;
        tside[kivi_slot(v, c0)] = hd | hl << 16;
        for (uint c = c0; c < min(c0 + KVQ_G, (uint)KVQ_D); c++) {
            const float t = delta > 0.0f ? rint((row[c] - lo) / delta) : 0.0f;
            const uint q = (uint)clamp(t, 0.0f, (float)KIVI_TOP);
            for (uint k = 0; k < KVQ_CB; k++) {
                const uint p = k * KVQ_D + c;
                out[p >> 5] |= ((q >> k) & 1u) << (p & 31);
            }
        }
    }
    for (uint c = 0; c < KVQ_D; c += 16)
        nn += vload16(0, row + c) * vload16(0, row + c);
#endif
#else
    /* 16 codes fill 16·KVQ_CB/32 whole words, lowest coordinate lowest */
    for (uint c = 0; c < KVQ_D; c += 16) {
        const float16 xv = vload16(0, row + c);
        nn += xv * xv;
#ifdef MF_M
        vstore4(as_uint4(convert_uchar16(mf16_encode(xv))), 0, out + c / 4);
#else
        const uint16 h = half16_encode(xv);
        overflow |= half16_overflow(h);
        vstore8(as_uint8(convert_ushort16(h)), 0, out + c / 2);
#endif
    }
    for (uint i = KVQ_D * KVQ_CB / 32; i < words; i++)
        out[i] = 0;
#endif
    norms[v] = overflow ? INFINITY : sqrt(hsum16(nn));
}

/* kvq_format_dequantize for fp8, fp16 and KIVI on CPUs (doc/kernels.md §4.1):
 * one work-item per 16 coordinates of a vector, decoded as the logits
 * kernel decodes them (the same floats as the scalar kernel). */
__kernel void kvq_format_dequantize_vec(__global const uint *codes, __global const uint *tside,
                                        const uint words, const uint count,
                                        __global float *out)
{
    const uint c = get_global_id(0) * 16, v = get_global_id(1);
    if (c >= KVQ_D || v >= count)
        return;
    __global const uint *w = codes + (size_t)v * words;
    float16 x;
#if defined(KVQ_FMT_KIVI)
    const uint16 lane = KVQ_LANES16;
    uint16 code = 0;
    for (uint k = 0; k < KVQ_CB; k++) {
        const uint p = k * KVQ_D + c;   /* 16 bits, inside one word (d % 16 = 0) */
        code |= (((uint16)(w[p >> 5] >> (p & 31)) >> lane) & 1u) << k;
    }
#if KVQ_AXIS == 1
    const uint16 s = vload16(0, tside + kivi_slot(v, c));
#else
    uint sw[16];
    for (uint r = 0; r < 16; r++)
        sw[r] = tside[kivi_slot(v, c + r)];
    const uint16 s = vload16(0, sw);
#endif
    x = convert_float16(code) * half16_bits(s) + half16_bits(s >> 16);
#elif defined(MF_M)
    x = minifloat16(convert_uint16(as_uchar16(vload4(0, w + c / 4))), MF_M, 7 - MF_M, MF_BIAS, 0);
#else
    x = half16_bits(convert_uint16(as_ushort16(vload8(0, w + c / 2))));
#endif
    vstore16(x, 0, out + (size_t)v * KVQ_D + c);
}
#endif
