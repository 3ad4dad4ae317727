/* tuned.c — CLBlast's parameters for a device from kvq's tuning cache
 * (doc/scaling.md §7): read once per context, installed with
 * CLBlastOverrideParameters before kvq's first GEMM on it. */
#include <stdio.h>
#include <string.h>

#include <clblast_c.h>

#include "runtime.h"
#include "devices.h"
#include "base/tuning.h"

int kvq__ctx_clblast_apply(kvq_ctx *ctx, const kvq__tune_set *set, int rebuild, char *err,
                           size_t errlen)
{
    if (ctx->is_host) {
        snprintf(err, errlen, "the host reference does not run CLBlast");
        return -1;
    }
    ctx->clblast_tuned = 0;
    for (size_t i = 0; i < set->nkernels; i++) {
        const kvq__tune_kernel *k = &set->kernel[i];
        const char *names[KVQ__TUNE_PARAMS];
        for (size_t p = 0; p < k->nparams; p++)
            names[p] = k->name[p];
        CLBlastStatusCode s = CLBlastOverrideParameters(ctx->device, k->kind->kernel,
                                                        CLBlastPrecisionSingle, k->nparams,
                                                        names, k->value);
        if (s != CLBlastSuccess) {
            /* CLBlast wants exactly its own parameter names for the kernel */
            snprintf(err, errlen, "CLBlast refused the parameters of %s (status %d)",
                     k->kind->kernel, (int)s);
            return -1;
        }
    }
    /* programs CLBlast already built with other parameters must not be
     * reused; a new context has built none, and clearing there could pull
     * programs from under another context's GEMM */
    if (rebuild)
        CLBlastClearCache();
    ctx->clblast_tuned = set->nkernels > 0;
    return 0;
}

void kvq__rt_clblast_tuning(kvq_ctx *ctx)
{
    kvq__tune_set set;
    char path[4200], err[512];
    if (!ctx->opts.clblast_tuned || !ctx->opts.cache_dir ||
        kvq__tune_cache_file(ctx->opts.cache_dir, ctx->info.name, ctx->info.driver, path,
                             sizeof path))
        return;
    int rc = kvq__tune_load(path, ctx->info.name, ctx->info.driver, &set, err, sizeof err);
    if (rc == 0 && kvq__ctx_clblast_apply(ctx, &set, 0, err, sizeof err) == 0)
        return;
    if (rc != 1)
        fprintf(stderr, "kvq: warning: %s: %s (a kvq tune cache file must be what 'kvq tune' "
                        "wrote for this device and driver); CLBlast runs its own parameters\n",
                path, err);
}

int kvq__ctx_clblast_tuned(const kvq_ctx *ctx)
{
    return ctx->clblast_tuned;
}
