/* opencl.c — the OpenCL backend's table: the runtime opens and closes the
 * context and queue (src/runtime), the launchers run the operations. */
#include "device/backend.h"
#include "device/device.h"

/* The device layer's per-context state goes before the runtime's objects
 * (its buffers go back to the pool, which kvq__rt_close releases after the
 * queue has finished). */
static void cl_close(kvq_ctx *ctx)
{
    kvq__dev_codec_cache_free(ctx);
    kvq__rt_close(ctx);
}

const kvq__backend kvq__backend_opencl = {
    .name = "opencl", .open = kvq__rt_open, .close = cl_close, .try_build = kvq__rt_try_build,
    .quantize = kvq__cl_quantize, .dequantize = kvq__cl_dequantize, .rotate = kvq__cl_rotate,
    .attention = kvq__cl_attention, .trial_open = kvq__cl_trial_open,
    .trial_close = kvq__cl_trial_close,
};
