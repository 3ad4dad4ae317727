/* fuzz_tune.c — libFuzzer target for the CLBlast tuning parsers
 * (doc/scaling.md §7): the tuners' JSON and kvq's cache file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tuning.h"

/* Every refusal has a message; what one parser accepts, the cache writer
 * writes back in a form its parser reads to the same set. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvq__tune_kernel k;
    kvq__tune_set s, t;
    char err[256] = "";
    if (kvq__tune_parse_tuner((const char *)data, size, &k, err, sizeof err) != 0 && !err[0])
        __builtin_trap();
    err[0] = '\0';
    if (kvq__tune_parse_cache((const char *)data, size, &s, err, sizeof err) != 0) {
        if (!err[0])
            __builtin_trap();
        return 0;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return 0;
    int rc = kvq__tune_write_cache(f, &s);
    fclose(f);
    if (rc != 0 || kvq__tune_parse_cache(buf, len, &t, err, sizeof err) != 0 ||
        t.nkernels != s.nkernels || strcmp(t.device, s.device) || strcmp(t.driver, s.driver))
        __builtin_trap();
    free(buf);
    return 0;
}
