/* fuzz_npy.c — libFuzzer target for the .npy parser (kvq__npy_read_mem). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kvq.h"

/* Parses the input; on success the shape must account for the data. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvq_tensor t;
    char err[256];
    size_t h, n, d;
    if (kvq__npy_read_mem(data, size, &t, err, sizeof err) == 0) {
        if (kvq_tensor_numel(&t) && !t.data)
            __builtin_trap();
        if (kvq_tensor_as_heads(&t, &h, &n, &d, err, sizeof err) == 0)
            kvq_tensor_check_finite(&t, err, sizeof err);
        kvq__tensor_clear(&t);
    } else if (!memchr(err, 0, sizeof err) || !err[0])
        __builtin_trap();          /* every failure has a message */
    return 0;
}
