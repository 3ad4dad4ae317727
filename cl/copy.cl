/* copy.cl — the device's own memory roofline: a float4 stream copy. */
#pragma OPENCL FP_CONTRACT OFF

/* dst[i] = src[i] for n float4 elements, grid-stride so any global size works. */
__kernel void kvq_copy4(__global const float4 *restrict src, __global float4 *restrict dst,
                        const uint n)
{
    for (uint i = get_global_id(0); i < n; i += get_global_size(0))
        dst[i] = src[i];
}
