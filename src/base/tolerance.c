/* tolerance.c — the device-vs-host tolerance rule. */
#include <math.h>

#include "base/tolerance.h"

int kvq__tol_div_ok(double got, double ref)
{
    double d = fabs(got - ref);
    return d <= 1e-7 || d <= 1e-3 * fabs(ref);
}

/* Worst scaled logit deviation over rows × n logits (INFINITY on NaN). */
double kvq__tol_logit_dev(const float *got, const float *ref, size_t rows, size_t n)
{
    double worst = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *g = got + r * n, *b = ref + r * n;
        double ss = 0;
        for (size_t j = 0; j < n; j++)
            ss += (double)b[j] * b[j];
        double s = fmax(1.0, sqrt(ss / (double)n));
        for (size_t j = 0; j < n; j++) {
            double d = fabs((double)g[j] - b[j]) / (s + fabs((double)b[j]));
            if (isnan(d))
                return INFINITY;
            worst = fmax(worst, d);
        }
    }
    return worst;
}
