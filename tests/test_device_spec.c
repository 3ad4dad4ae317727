/* test_device_spec.c — every device-spec form of doc/conformance.md §4 resolved against a
 * fixed device list (pure logic), plus the real enumeration. */
#include <stdio.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

/* Builds one synthetic device entry. */
static kvq_device_info dev(int p, int d, int type, const char *plat, const char *name)
{
    kvq_device_info i;
    memset(&i, 0, sizeof i);
    i.platform_index = p;
    i.device_index = d;
    i.type = type;
    snprintf(i.platform, sizeof i.platform, "%s", plat);
    snprintf(i.name, sizeof i.name, "%s", name);
    return i;
}

/* Resolves spec; returns the index or a negative status. */
static long resolve(const kvq_device_info *l, size_t n, const char *spec)
{
    size_t idx = 99;
    int st = kvq__device_resolve(l, n, spec, &idx);
    return st ? st : (long)idx;
}

int main(void)
{
    kvq_device_info l[5];
    l[0] = dev(0, 0, KVQ_DEVICE_CPU, "Portable Computing Language", "pthread-skylake");
    l[1] = dev(1, 0, KVQ_DEVICE_GPU, "AMD Accelerated Parallel Processing", "gfx1100");
    l[2] = dev(1, 1, KVQ_DEVICE_GPU, "AMD Accelerated Parallel Processing", "gfx90a");
    l[3] = dev(2, 0, KVQ_DEVICE_ACCELERATOR, "Intel FPGA", "fpga-emu");
    l[4] = dev(-1, -1, KVQ_DEVICE_HOST, "kvq", "host reference (double precision)");

    plan(24);
    ok(resolve(l, 5, NULL) == 1, "default picks the first GPU");
    ok(resolve(l, 5, "") == 1, "empty spec is the default");
    ok(resolve(l + 2, 3, NULL) == 0, "GPU first even after others");
    kvq_device_info nogpu[2] = {l[0], l[4]};
    ok(resolve(nogpu, 2, NULL) == 0, "no GPU: first CPU");
    ok(resolve(l + 4, 1, NULL) == 0, "only host: host");
    ok(resolve(l, 5, "host") == 4, "host");
    ok(resolve(l, 5, "HOST") == 4, "kinds are case-insensitive");
    ok(resolve(l, 5, "cpu") == 0, "cpu");
    ok(resolve(l, 5, "gpu") == 1, "gpu");
    ok(resolve(l, 5, "accelerator") == 3, "accelerator");
    ok(resolve(nogpu, 2, "gpu") == KVQ_ERR_NO_DEVICE, "gpu with no GPU: no device");
    ok(resolve(l, 5, "1:1") == 2, "P:D picks platform 1 device 1");
    ok(resolve(l, 5, "0:0") == 0, "P:D 0:0");
    ok(resolve(l, 5, "3:0") == KVQ_ERR_NO_DEVICE, "P:D out of range: no device");
    ok(resolve(l, 5, "gfx90A") == 2, "device-name substring, case-insensitive");
    ok(resolve(l, 5, "portable") == 0, "platform-name substring");
    ok(resolve(l, 5, "amd") == 1, "first match of a substring");
    ok(resolve(l, 5, "nosuch") == KVQ_ERR_NO_DEVICE, "unmatched substring: no device");
    ok(resolve(l, 5, "1:") == KVQ_ERR_BAD_SPEC, "'1:' is malformed");
    ok(resolve(l, 5, ":1") == KVQ_ERR_BAD_SPEC, "':1' is malformed");
    ok(resolve(l, 5, "1:x") == KVQ_ERR_BAD_SPEC, "'1:x' is malformed");
    ok(resolve(l, 5, "-1:0") == KVQ_ERR_BAD_SPEC, "negative index is malformed");
    ok(resolve(l, 5, "gpu\n") == KVQ_ERR_BAD_SPEC, "control characters are malformed");

    kvq_device_info *real = NULL;
    size_t n = 0;
    int st = kvq__device_list(&real, &n);
    ok(st == 0 && n >= 1 && real[n - 1].type == KVQ_DEVICE_HOST,
       "real enumeration ends with the host (%zu devices)", n);
    for (size_t i = 0; st == 0 && i < n; i++)
        diag("device %zu: %s / %s", i, real[i].platform, real[i].name);
    kvq__device_list_free(real);
    return exit_status();
}
