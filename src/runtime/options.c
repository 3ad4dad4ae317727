/* options.c — the KVQ_* environment variables, read once when a context is
 * created (so a launch never consults the environment), and the device
 * capabilities the launchers see: the device's own, capped by
 * KVQ_DEVICE_LIMITS so a CPU can stand in for a smaller GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "base/tuning.h"

/* Records "NAME: 'text': why" as the error detail; returns KVQ_ERR_BAD_SPEC. */
static int bad_option(const char *name, const char *text, const char *why)
{
    char msg[320];
    snprintf(msg, sizeof msg, "%s: '%.120s': %s", name, text, why);
    return kvq__rt_explain(KVQ_ERR_BAD_SPEC, msg);
}

/* A byte count from variable name, or 0 when unset or empty. */
static int read_bytes(const char *name, uint64_t *out)
{
    const char *env = getenv(name);
    *out = 0;
    if (env && *env && kvq__parse_bytes(env, out))
        return bad_option(name, env, "expected a byte count such as 4096, 64K, 512M or 2G");
    return KVQ_OK;
}

/* One "key=value" item of KVQ_DEVICE_LIMITS (len bytes of item) into o. */
static int limit_item(const char *all, const char *item, size_t len, kvq__options *o)
{
    char buf[64];
    uint64_t v;
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    memcpy(buf, item, len);
    buf[len] = '\0';
    char *eq = strchr(buf, '=');
    int wg = eq && eq - buf == 2 && !strncmp(buf, "wg", 2);
    int local = eq && eq - buf == 5 && !strncmp(buf, "local", 5);
    if (!wg && !local)
        return bad_option("KVQ_DEVICE_LIMITS", all,
                          "expected wg=<work-items>,local=<bytes>, e.g. wg=256,local=32K");
    if (kvq__parse_bytes(eq + 1, &v) || v == 0 || (wg && v > 65536))
        return bad_option("KVQ_DEVICE_LIMITS", all,
                          wg ? "wg must be a whole number of work-items, 1 to 65536"
                             : "local must be a positive byte count such as 32K");
    if (wg)
        o->limit_wg = (size_t)v;
    else
        o->limit_local = v;
    return KVQ_OK;
}

/* KVQ_DEVICE_LIMITS: comma-separated wg= and local= caps (either may be absent). */
static int read_limits(kvq__options *o)
{
    const char *env = getenv("KVQ_DEVICE_LIMITS");
    if (!env || !*env)
        return KVQ_OK;
    for (const char *p = env; *p;) {
        size_t n = strcspn(p, ",");
        int st = limit_item(env, p, n, o);
        if (st)
            return st;
        p += n + (p[n] == ',');
    }
    o->limited = 1;
    return KVQ_OK;
}

int kvq__options_read(kvq__options *o)
{
    uint64_t chunk;
    int st;
    memset(o, 0, sizeof *o);
    const char *spec = kvq_device_spec_default();
    const char *extra = getenv("KVQ_CL_BUILD_OPTIONS");
    const char *portable = getenv("KVQ_PORTABLE_KERNELS");
    const char *tuned = getenv("KVQ_CLBLAST_TUNED");
    char dir[4096];
    if ((spec && !(o->device = strdup(spec))) || (extra && !(o->build_options = strdup(extra)))) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    o->portable_kernels = portable && *portable && strcmp(portable, "0");
    o->clblast_tuned = !tuned || strcmp(tuned, "0");
    if (kvq__tune_cache_dir(dir, sizeof dir) == 0 && !(o->cache_dir = strdup(dir))) {
        st = KVQ_ERR_NOMEM;
        goto cleanup;
    }
    if ((st = read_bytes("KVQ_POOL_LIMIT", &o->pool_limit)) ||
        (st = read_bytes("KVQ_CHUNK_KEYS", &chunk)) || (st = read_limits(o)))
        goto cleanup;
    o->chunk_keys = (size_t)chunk;
cleanup:
    if (st)
        kvq__options_free(o);
    return st;
}

void kvq__options_free(kvq__options *o)
{
    free(o->device);
    free(o->build_options);
    free(o->cache_dir);
    o->device = o->build_options = o->cache_dir = NULL;
}

void kvq__caps_init(kvq__caps *c, const kvq_device_info *info, const kvq__options *o)
{
    c->max_work_group = info->max_work_group;
    c->local_mem = info->local_mem;
    if (o->limit_wg && (!c->max_work_group || o->limit_wg < c->max_work_group))
        c->max_work_group = o->limit_wg;
    if (o->limit_local && (!c->local_mem || o->limit_local < c->local_mem))
        c->local_mem = o->limit_local;
    /* the one-work-item-per-vector kernels are a CPU tuning; forced limits
     * stand in for a GPU, which runs the work-group kernels */
    c->vector_kernels = info->type == KVQ_DEVICE_CPU && !o->portable_kernels && !o->limited;
}
