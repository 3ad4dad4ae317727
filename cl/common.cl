/* common.cl — helpers shared by kvq's kernels; built in front of each file.
 * KVQ_D (head dimension, any of 16…1024; an out<c>@<b2> part may have any of
 * 1…1023) is given by the host at build time.
 * The Hadamard helpers need a power of two: at other d the host rotates by a
 * dense GEMM and never calls them (src/device/select.c).
 * Everything is OpenCL C 1.2, float only, no extensions. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef KVQ_D
#error "KVQ_D (head dimension) must be defined"
#endif

/* Sum of v over the work-group; scratch holds get_local_size(0) floats, a power of two. */
float wg_sum(float v, __local float *scratch)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = ls >> 1; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Maximum of v over the work-group. */
float wg_max(float v, __local float *scratch)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = ls >> 1; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Unnormalised Sylvester–Hadamard butterfly of buf[0..KVQ_D) by the work-group. */
void wg_hadamard(__local float *buf)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    for (uint h = 1; h < KVQ_D; h <<= 1) {
        for (uint p = lid; p < KVQ_D / 2; p += ls) {
            uint i = ((p & ~(h - 1)) << 1) | (p & (h - 1));
            float a = buf[i], b = buf[i + h];
            buf[i] = a + b;
            buf[i + h] = a - b;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* buf ← R buf, R = Π_r H·D_r/√d (rounds 0, 1 or 2; signs: rounds × KVQ_D). */
void wg_rotate_forward(__local float *buf, __global const float *signs, uint rounds)
{
    /* KVQ_D = 1 (an out<c>@<b2> part of one channel) always rotates by its
     * 1 × 1 matrix on the host side (rounds 0), and PoCL fails to compile
     * this loop's barriers there: no loop at all */
#if KVQ_D > 1
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const float s = rsqrt((float)KVQ_D);
    for (uint r = 0; r < rounds; r++) {
        for (uint c = lid; c < KVQ_D; c += ls)
            buf[c] *= signs[r * KVQ_D + c];
        barrier(CLK_LOCAL_MEM_FENCE);
        wg_hadamard(buf);
        for (uint c = lid; c < KVQ_D; c += ls)
            buf[c] *= s;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#endif
}

/* buf ← Rᵀ buf, the inverse of wg_rotate_forward. */
void wg_rotate_inverse(__local float *buf, __global const float *signs, uint rounds)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    const float s = rsqrt((float)KVQ_D);
    for (uint r = rounds; r-- > 0;) {
        wg_hadamard(buf);
        for (uint c = lid; c < KVQ_D; c += ls)
            buf[c] *= s * signs[r * KVQ_D + c];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Bit p of a vector's packed bit stream. */
uint stream_bit(__global const uint *words, uint p)
{
    return (words[p >> 5] >> (p & 31)) & 1u;
}

/* Code index of coordinate c: bit k of the code sits in plane k at k·D + c. */
uint code_index(__global const uint *words, uint c, uint bits)
{
    uint idx = 0;
    for (uint k = 0; k < bits; k++)
        idx |= stream_bit(words, k * KVQ_D + c) << k;
    return idx;
}

/* A value as stored with 16-bit side information (IEEE half, nearest-even). */
float round_to_half(float v)
{
    ushort bits16;
    vstore_half_rte(v, 0, (__private half *)&bits16);
    return vload_half(0, (__private const half *)&bits16);
}

/* ---- One work-item per vector (the CPU path): a vector of KVQ_D floats is
 * KVQ_NV float16 registers, v[i] lane j = coordinate 16·i + j. PoCL turns
 * these into AVX-512 / AVX2 code directly; GPUs keep the work-group kernels. */
#define KVQ_NV (KVQ_D / 16)

/* The register helpers below are inlined on purpose on CPUs: called as
 * functions (LLVM judges them too large), the registers go through memory
 * at each call and the butterflies run at a fraction of the copy bandwidth.
 * Other compilers keep their own choice. */
#ifdef __x86_64__
#define KVQ_INLINE __attribute__((always_inline))
#else
#define KVQ_INLINE
#endif

/* acc + z·r where z·r is exact (z = ±1 lane by lane): one fused
 * multiply-add then rounds exactly as the add or subtract of r would.
 * Without a fast FMA, the multiply and the add apart (same values). */
KVQ_INLINE float16 add_signed(float16 acc, float16 z, float16 r)
{
#if defined(__FMA__) || defined(FP_FAST_FMAF)
    return fma(z, r, acc);
#else
    return acc + z * r;
#endif
}

/* Natural-order Hadamard H_16 over the lanes of v, in place: the butterfly
 * on lane bit b (b = 0…3) leaves v_j + v_j^2^b where bit b of j is 0 and
 * v_j^2^b − v_j where it is 1. With t the partner lanes (one permutation)
 * that is t + s·v, s = ±1 by lane (add_signed): one shuffle and one FMA
 * per stage. */
KVQ_INLINE float16 lanes_hadamard(float16 v)
{
    const float16 s1 = (float16)(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1);
    const float16 s2 = (float16)(1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1);
    const float16 s4 = (float16)(1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1);
    const float16 s8 = (float16)(1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1);
    v = add_signed(v.s1032547698badcfe, v, s1);
    v = add_signed(v.s23016745ab89efcd, v, s2);
    v = add_signed(v.s45670123cdef89ab, v, s4);
    return add_signed(v.s89abcdef01234567, v, s8);
}

/* Unnormalised H_D on v: H_D = H_NV ⊗ H_16 for index 16·i + j. Compiled
 * out when KVQ_NV is not a power of two (no butterfly exists; not called). */
KVQ_INLINE void vec_hadamard(float16 *v)
{
#if (KVQ_NV & (KVQ_NV - 1)) == 0
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++)
        v[i] = lanes_hadamard(v[i]);
#pragma unroll
    for (int h = 1; h < KVQ_NV; h <<= 1)
#pragma unroll
        for (int i0 = 0; i0 < KVQ_NV; i0 += 2 * h)
#pragma unroll
            for (int i = i0; i < i0 + h; i++) {
                float16 a = v[i], b = v[i + h];
                v[i] = a + b;
                v[i + h] = a - b;
            }
#endif
}

/* v ← R v, R = Π_r H·D_r/√d (as wg_rotate_forward). */
KVQ_INLINE void vec_rotate_forward(float16 *v, __global const float *signs, uint rounds)
{
    const float s = rsqrt((float)KVQ_D);
    for (uint r = 0; r < rounds; r++) {
#pragma unroll
        for (int i = 0; i < KVQ_NV; i++)
            v[i] *= vload16(i, signs + r * KVQ_D);
        vec_hadamard(v);
#pragma unroll
        for (int i = 0; i < KVQ_NV; i++)
            v[i] *= s;
    }
}

/* v ← Rᵀ v, the inverse of vec_rotate_forward. */
KVQ_INLINE void vec_rotate_inverse(float16 *v, __global const float *signs, uint rounds)
{
    const float s = rsqrt((float)KVQ_D);
    for (uint r = rounds; r-- > 0;) {
        vec_hadamard(v);
#pragma unroll
        for (int i = 0; i < KVQ_NV; i++)
            v[i] *= s * vload16(i, signs + r * KVQ_D);
    }
}

/* tab[idx mod 16] lane by lane: one vpermps where AVX-512 exists, else a
 * tree of selects on the four index bits (OpenCL's shuffle with a variable
 * mask is scalarised by PoCL). */
float16 lut16(float16 tab, uint16 idx)
{
#ifdef __AVX512F__
    return __builtin_ia32_permvarsf512(tab, as_int16(idx));
#else
    float t[16];
    vstore16(tab, 0, t);
    float16 lv[8];
    int16 bit = (idx & 1u) != 0u;
    for (int c = 0; c < 8; c++)
        lv[c] = select((float16)t[2 * c], (float16)t[2 * c + 1], bit);
    for (uint k = 1; k < 4; k++) {
        bit = (idx & (1u << k)) != 0u;
        for (int c = 0; c < (8 >> k); c++)
            lv[c] = select(lv[2 * c], lv[2 * c + 1], bit);
    }
    return lv[0];
#endif
}

/* tab[idx] lane by lane, for tables longer than 16 entries (PoCL scalarises it). */
float16 gather_table(__private const float *tab, uint16 idx)
{
    return (float16)(tab[idx.s0], tab[idx.s1], tab[idx.s2], tab[idx.s3], tab[idx.s4],
                     tab[idx.s5], tab[idx.s6], tab[idx.s7], tab[idx.s8], tab[idx.s9],
                     tab[idx.sa], tab[idx.sb], tab[idx.sc], tab[idx.sd], tab[idx.se],
                     tab[idx.sf]);
}

/* Each lane's own index. */
#define KVQ_LANES16 ((uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

/* p[idx] lane by lane, for 16 words at any offsets: one vpgatherdd where
 * AVX-512 exists (PoCL's CPU memory is one address space), else 16 loads. */
uint16 gather16_u32(__global const uint *p, uint16 idx)
{
#ifdef __AVX512F__
    return as_uint16(__builtin_ia32_gathersiv16si((int16)0, (const void *)(size_t)p,
                                                  as_int16(idx), (ushort)0xffff, 4));
#else
    return (uint16)(p[idx.s0], p[idx.s1], p[idx.s2], p[idx.s3], p[idx.s4], p[idx.s5],
                    p[idx.s6], p[idx.s7], p[idx.s8], p[idx.s9], p[idx.sa], p[idx.sb],
                    p[idx.sc], p[idx.sd], p[idx.se], p[idx.sf]);
#endif
}

float16 gather16_f32(__global const float *p, uint16 idx)
{
    return as_float16(gather16_u32((__global const uint *)p, idx));
}

/* The 16 lanes of b (each 0 or 1) as a 16-bit number, lane j at bit j:
 * one vpmovd2m where AVX-512DQ exists, else a shift per lane and an OR
 * tree. */
uint lanes_to_bits(uint16 b)
{
#ifdef __AVX512DQ__
    return __builtin_ia32_cvtd2mask512(as_int16(b << 31u));
#else
    b <<= KVQ_LANES16;
    uint8 a = b.lo | b.hi;
    uint4 c = a.lo | a.hi;
    uint2 d = c.lo | c.hi;
    return d.x | d.y;
#endif
}

/* The first count lanes of v at o: all 16 with one vector store, fewer at
 * the end of a chunk of keys. */
void store_lanes(float16 v, uint count, __global float *o)
{
    if (count >= 16) {
        vstore16(v, 0, o);
        return;
    }
    float tmp[16];
    vstore16(v, 0, tmp);
    for (uint r = 0; r < count; r++)
        o[r] = tmp[r];
}

/* Sum of the 16 lanes of v (pairwise). */
float hsum16(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}
