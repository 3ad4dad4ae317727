/* conformance.h — shared parts of the device conformance tests: the list of
 * OpenCL devices to test (every one; none ⇒ skip), seeded inputs, and the
 * doc/conformance.md §1 tolerance rules. */
#ifndef KVQ_CONFORMANCE_H
#define KVQ_CONFORMANCE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

#define CONF_SEED 20261129u

/* The OpenCL devices to test, as "P:D" specs; skips the file if none. */
static inline size_t conf_devices(char specs[][16], size_t max)
{
    kvq_device_info *l = NULL;
    size_t n = 0, k = 0;
    if (kvq__device_list(&l, &n) != 0)
        skip_all("cannot list OpenCL devices");
    const char *only = getenv("KVQ_DEVICE");
    for (size_t i = 0; i < n && k < max; i++) {
        if (l[i].type == KVQ_DEVICE_HOST)
            continue;
        if (only && *only) {
            size_t want;
            if (kvq__device_resolve(l, n, only, &want) != 0 || want != i)
                continue;
        }
        snprintf(specs[k++], 16, "%d:%d", l[i].platform_index, l[i].device_index);
    }
    kvq__device_list_free(l);
    if (!k)
        skip_all("no OpenCL platform or device");
    return k;
}

/* Prints which device a block of tests runs on, and the seed. */
static inline void conf_banner(kvq_ctx *ctx)
{
    const kvq_device_info *d = kvq_ctx_device(ctx);
    diag("device: %s / %s (%s, driver %s)", d->platform, d->name, d->version, d->driver);
    diag("seed: %u", CONF_SEED);
}

/* count × dim normals from stream (purpose TEST, trial = tag), scaled. */
static inline float *conf_normals(size_t count, int dim, uint32_t tag, float scale)
{
    size_t n = count * (size_t)dim;
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x)
        return NULL;
    kvq__rng_fill_normal(CONF_SEED, KVQ_RNG_TEST, tag, 0, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] *= scale;
    return x;
}

/* ‖x‖₂ of one float vector, in double. */
static inline double conf_norm(const float *x, int dim)
{
    double s = 0;
    for (int c = 0; c < dim; c++)
        s += (double)x[c] * x[c];
    return sqrt(s);
}

/* Largest |a − b| / ‖ref row‖ over rows (0 where the row is zero and equal). */
static inline double conf_row_dev(const float *a, const float *b, const float *ref, size_t rows, int dim)
{
    double worst = 0;
    for (size_t r = 0; r < rows; r++) {
        double nr = conf_norm(ref + r * (size_t)dim, dim), m = 0;
        for (int c = 0; c < dim; c++)
            m = fmax(m, fabs((double)a[r * (size_t)dim + c] - b[r * (size_t)dim + c]));
        double dev = nr > 0 ? m / nr : (m > 0 ? INFINITY : 0);
        worst = fmax(worst, dev);
    }
    return worst;
}

/* doc/conformance.md §1.4 rule for per-query divergences: relative 1e-3 or absolute 1e-7. */
static inline int conf_div_ok(double dev, double ref)
{
    double d = fabs(dev - ref);
    return d <= 1e-7 || d <= 1e-3 * fabs(ref);
}

/* A test body: runs its checks (a fixed number of TAP lines) on one device. */
typedef void (*conf_body)(kvq_ctx *ctx, const char *spec, kvq_ctx *host);

/* Runs body on every OpenCL device; on CPU devices a second time with
 * $KVQ_PORTABLE_KERNELS=1, so the work-group kernels that GPUs run are held
 * to the same tolerances here. per = TAP lines body emits. */
static inline int conf_main(size_t per, conf_body body)
{
    char specs[8][16];
    size_t ndev = conf_devices(specs, 8);
    kvq_ctx *host = NULL;
    kvq_ctx_create(&host, "host");
    plan((int)(ndev * 2 * (per + 1)));
    for (size_t dv = 0; dv < ndev; dv++)
        for (int portable = 0; portable < 2; portable++) {
            kvq_ctx *ctx = NULL;
            if (portable)
                setenv("KVQ_PORTABLE_KERNELS", "1", 1);
            int st = kvq_ctx_create(&ctx, specs[dv]);
            if (!ok(st == 0, "context on %s%s", specs[dv], portable ? " (portable kernels)" : ""))
                skip((int)per, "no context");
            else if (portable && kvq_ctx_device(ctx)->type != KVQ_DEVICE_CPU)
                skip((int)per, "the portable kernels are this device's default");
            else {
                conf_banner(ctx);
                diag("kernels: %s", portable ? "portable (work-group per vector)"
                                             : "the device's default");
                body(ctx, specs[dv], host);
            }
            kvq_ctx_destroy(ctx);
            unsetenv("KVQ_PORTABLE_KERNELS");
        }
    kvq_ctx_destroy(host);
    return exit_status();
}

#endif
