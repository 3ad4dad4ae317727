/* test_conf_wht.c — conformance: batched rotations (none, randomized WHT,
 * dense Haar by GEMM) on every OpenCL device against the double-precision
 * host reference (doc/conformance.md §1.2: |Δ| ≤ 1e-5·‖x‖); the WHT kinds at
 * powers of two, where they exist, and refused elsewhere. */
#include "conformance.h"

static const int dims[] = {16, 64, 128, 256, 1024, 80, 96, 112, 160, 192};
static const int kinds[] = {KVQ_ROT_NONE, KVQ_ROT_WHT, KVQ_ROT_WHT2, KVQ_ROT_DENSE};
static const size_t counts[] = {1, 37, 1000};

/* Worst deviation of device vs host rotation of count vectors. */
static double check_one(kvq_ctx *dev, kvq_ctx *host, int kind, int dim, size_t count,
                        int inverse, float scale, int *status)
{
    kvq_rotation *r = NULL;
    conf_io io;
    int have = conf_io_make(&io, conf_normals(count, dim, (uint32_t)(dim * 7 + kind), scale),
                            count, dim) == 0;
    double dev_max = INFINITY;
    *status = kvq_rotation_create(&r, kind, dim, CONF_SEED, KVQ_RNG_ROT_K, 3);
    if (!*status && have) {
        /* the rotation works in place: both sides start from x */
        memcpy(io.dev, io.x, count * dim * sizeof *io.x);
        memcpy(io.host, io.x, count * dim * sizeof *io.x);
        *status = kvq_rotate(dev, r, io.dev, count, inverse);
        if (!*status)
            *status = kvq_rotate(host, r, io.host, count, inverse);
        if (!*status)
            dev_max = conf_io_dev(&io, count, dim);
    }
    kvq_rotation_destroy(r);
    conf_io_free(&io);
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
                if (kvq__rotation_at(kinds[k], dims[i]) != kinds[k]) {
                    kvq_rotation *r = NULL;
                    int st = kvq_rotation_create(&r, kinds[k], dims[i], CONF_SEED,
                                                 KVQ_RNG_ROT_K, 3);
                    kvq_rotation_destroy(r);
                    ok(st != KVQ_OK, "rotation kind %d d=%d %s: refused off powers of two "
                       "(codecs realize it as dense)", kinds[k], dims[i],
                       inv ? "inverse" : "forward");
                    continue;
                }
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
