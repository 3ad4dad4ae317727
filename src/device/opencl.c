/* opencl.c — the OpenCL backend's table: the runtime opens and closes the
 * context and queue (src/runtime), the launchers run the operations. */
#include "device/backend.h"
#include "device/device.h"

const kvq_backend kvq_backend_opencl = {
    .name = "opencl", .open = kvq_rt_open, .close = kvq_rt_close, .try_build = kvq_rt_try_build,
    .quantize = kvq_cl_quantize, .dequantize = kvq_cl_dequantize, .rotate = kvq_cl_rotate,
    .attention = kvq_cl_attention,
};
