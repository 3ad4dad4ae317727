/* fuzz_safetensors.c — libFuzzer target for the .safetensors parser
 * (kvq__safetensors_read_mem), reading tensors "k" and "v" and the
 * metadata value "causal" (kvq__safetensors_meta_mem). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "internal.h"

/* Parses the input for two names; on success the data must exist. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"k", "v"};
    for (int i = 0; i < 2; i++) {
        kvq_tensor t;
        char err[256];
        if (kvq__safetensors_read_mem(data, size, names[i], &t, err, sizeof err) == 0) {
            if (kvq_tensor_numel(&t) && !t.data)
                __builtin_trap();
            kvq_tensor_check_finite(&t, err, sizeof err);
            kvq__tensor_clear(&t);
        } else if (!memchr(err, 0, sizeof err) || !err[0])
            __builtin_trap();
    }
    char *v = NULL, err[256];
    int rc = kvq__safetensors_meta_mem(data, size, "causal", &v, err, sizeof err);
    if ((rc == 1) != (v != NULL) || (rc < 0 && (!memchr(err, 0, sizeof err) || !err[0])))
        __builtin_trap();
    free(v);
    return 0;
}
