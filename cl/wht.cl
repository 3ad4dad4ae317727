/* wht.cl — batched randomized Walsh–Hadamard rotation, forward and inverse. */

/* x[v] ← scale · R x[v] (or Rᵀ when inverse) for count vectors of KVQ_D;
 * one work-group per vector, looping when count exceeds the grid. */
__kernel void kvq_rotate(__global float *x, const uint count, __global const float *signs,
                         const uint rounds, const uint inverse, const float scale,
                         __local float *buf)
{
    const uint lid = get_local_id(0), ls = get_local_size(0);
    for (uint v = get_group_id(0); v < count; v += get_num_groups(0)) {
        __global float *row = x + (size_t)v * KVQ_D;
        for (uint c = lid; c < KVQ_D; c += ls)
            buf[c] = row[c];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (inverse)
            wg_rotate_inverse(buf, signs, rounds);
        else
            wg_rotate_forward(buf, signs, rounds);
        for (uint c = lid; c < KVQ_D; c += ls)
            row[c] = buf[c] * scale;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* The same rotation with one work-item per vector held in float16 registers
 * (the CPU path: no barriers, explicit SIMD); gid ≥ count does nothing. */
__kernel void kvq_rotate_vec(__global float *x, const uint count, __global const float *signs,
                             const uint rounds, const uint inverse, const float scale)
{
    const uint v = get_global_id(0);
    if (v >= count)
        return;
    /* rows are whole multiples of 64 bytes: aligned vector loads and
     * stores (vstore16 is split into three stores by PoCL) */
    __global float16 *row = (__global float16 *)(x + (size_t)v * KVQ_D);
    float16 buf[KVQ_NV];
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++)
        buf[i] = row[i];
    if (inverse)
        vec_rotate_inverse(buf, signs, rounds);
    else
        vec_rotate_forward(buf, signs, rounds);
#pragma unroll
    for (int i = 0; i < KVQ_NV; i++)
        row[i] = buf[i] * scale;
}
