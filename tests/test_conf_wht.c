/* test_conf_wht.c — conformance: batched randomized WHT on every OpenCL
 * device against the double-precision host reference (doc/conformance.md §1.2: |Δ| ≤ 1e-5·‖x‖). */
#include "conformance.h"

static const int dims[] = {16, 64, 128, 256, 1024};
static const int kinds[] = {KVQ_ROT_NONE, KVQ_ROT_WHT, KVQ_ROT_WHT2};
static const size_t counts[] = {1, 37, 1000};

/* Worst deviation of device vs host rotation of count vectors. */
static double check_one(kvq_ctx *dev, kvq_ctx *host, int kind, int dim, size_t count,
                        int inverse, float scale, int *status)
{
    kvq_rotation *r = NULL;
    float *x = conf_normals(count, dim, (uint32_t)(dim * 7 + kind), scale);
    float *a = malloc(count * dim * sizeof *a), *b = malloc(count * dim * sizeof *b);
    double dev_max = INFINITY;
    *status = kvq_rotation_create(&r, kind, dim, CONF_SEED, KVQ_RNG_ROT_K, 3);
    if (!*status && x && a && b) {
        memcpy(a, x, count * dim * sizeof *a);
        memcpy(b, x, count * dim * sizeof *b);
        *status = kvq_rotate(dev, r, a, count, inverse);
        if (!*status)
            *status = kvq_rotate(host, r, b, count, inverse);
        if (!*status)
            dev_max = conf_row_dev(a, b, x, count, dim);
    }
    kvq_rotation_destroy(r);
    free(x);
    free(a);
    free(b);
    return dev_max;
}

/* Every rotation kind, dimension and direction on one device. */
static void body(kvq_ctx *ctx, const char *spec, kvq_ctx *host)
{
    double worst = 0;
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            for (int inv = 0; inv < 2; inv++) {
                double w = 0;
                int bad = 0;
                for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                    int s1;
                    double d1 = check_one(ctx, host, kinds[k], dims[i], counts[c], inv, 1.0f, &s1);
                    bad |= s1;
                    double d2 = check_one(ctx, host, kinds[k], dims[i], counts[c], inv, 1e6f, &s1);
                    bad |= s1;
                    w = fmax(w, fmax(d1, d2));
                }
                worst = fmax(worst, w);
                ok(!bad && w <= 1e-5, "rotation kind %d d=%d %s: max |Δ|/‖x‖ = %.3g", kinds[k],
                   dims[i], inv ? "inverse" : "forward", w);
            }
    ok(worst > 0, "the comparison sees rounding differences (not comparing host to host)");
    diag("worst WHT deviation on %s: %.3g of ‖x‖", spec, worst);
}

int main(void)
{
    return conf_main(sizeof dims / sizeof dims[0] * (sizeof kinds / sizeof kinds[0]) * 2 + 1, body);
}
