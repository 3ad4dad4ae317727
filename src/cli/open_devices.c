/* open_devices.c — the contexts of `--devices all|LIST` (doc/scaling.md §4). */
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"
#include "cli/sweep.h"

#define MAX_CONTEXTS 64

/* Opens spec into ctxs[*n]; exit status or 0. */
static int open_one(const char *spec, kvq_ctx **ctxs, size_t *n)
{
    if (*n == MAX_CONTEXTS)
        return kvq_cli_error("--devices", "more than %d devices", MAX_CONTEXTS);
    int st = kvq_ctx_create(&ctxs[*n], spec);
    if (st == KVQ_ERR_NO_DEVICE || st == KVQ_ERR_BAD_SPEC)
        return kvq_cli_error("--devices", "%s '%s' (see 'kvq devices')",
                             st == KVQ_ERR_NO_DEVICE ? "no device matches" : "malformed device spec",
                             spec);
    if (st)
        return kvq_cli_fail("--devices", "cannot open %s: %s %s", spec, kvq_strerror(st),
                            kvq_error_detail());
    ++*n;
    return 0;
}

/* Every OpenCL device (the host reference is not one), by P:D. */
static int open_all(kvq_ctx **ctxs, size_t *n)
{
    kvq_devices *list = NULL;
    int rc = kvq_devices_create(&list) ? kvq_cli_fail("--devices", "cannot list the devices") : 0;
    for (size_t i = 0; !rc && i < kvq_devices_count(list); i++) {
        const kvq_device_info *d = kvq_devices_get(list, i);
        char spec[32];
        if (d->type == KVQ_DEVICE_HOST)
            continue;
        snprintf(spec, sizeof spec, "%d:%d", d->platform_index, d->device_index);
        rc = open_one(spec, ctxs, n);
    }
    kvq_devices_destroy(list);
    if (!rc && !*n)
        rc = kvq_cli_error("--devices", "'all' found no OpenCL device (name host to use the "
                           "host reference)");
    return rc;
}

kvq_ctx **kvq_cli_open_devices(const char *list, size_t *n, int *rc)
{
    kvq_ctx **ctxs = calloc(MAX_CONTEXTS, sizeof *ctxs);
    char *copy = strdup(list), *save = NULL;
    *n = 0;
    *rc = ctxs && copy ? 0 : kvq_cli_fail("--devices", "out of memory");
    if (!*rc && !strcmp(list, "all"))
        *rc = open_all(ctxs, n);
    else if (!*rc) {
        for (char *tok = strtok_r(copy, ",", &save); tok && !*rc; tok = strtok_r(NULL, ",", &save))
            *rc = open_one(tok, ctxs, n);
        if (!*rc && !*n)
            *rc = kvq_cli_error("--devices", "'%s' names no device", list);
    }
    free(copy);
    if (*rc) {
        kvq_cli_close_devices(ctxs, *n);
        return NULL;
    }
    return ctxs;
}

void kvq_cli_close_devices(kvq_ctx **ctxs, size_t n)
{
    for (size_t i = 0; ctxs && i < n; i++)
        kvq_ctx_destroy(ctxs[i]);
    free(ctxs);
}
