/* outlier.cl — the column moves of out<c>@<b2> (doc/schemes.md §7.4): a
 * tensor's channels split into the two parts' arrays and joined back, and
 * the sum of the parts' partial logits. The parts themselves run the
 * quantize and attention kernels at their own dimensions. */
#pragma OPENCL FP_CONTRACT OFF

/* Moves one part's columns between x (count rows of d floats) and part
 * (count rows of width): column k of the part is channel order[off + k].
 * Gathered into part (scatter = 0) or scattered back into x. */
__kernel void kvq_move_cols(__global float *x, __global float *part, __global const uint *order,
                            const uint off, const uint width, const uint d, const uint count,
                            const uint scatter)
{
    const uint k = get_global_id(0), v = get_global_id(1);
    if (k >= width || v >= count)
        return;
    const size_t xi = (size_t)v * d + order[off + k], pi = (size_t)v * width + k;
    if (scatter)
        x[xi] = part[pi];
    else
        part[pi] = x[xi];
}

/* y[i] += x[i] for i < n: the outliers' logits added to the others'. */
__kernel void kvq_add(__global float *y, __global const float *x, const uint n)
{
    const uint i = get_global_id(0);
    if (i < n)
        y[i] += x[i];
}
