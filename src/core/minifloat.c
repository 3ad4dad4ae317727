/* minifloat.c — rounding to small binary floating-point formats and their
 * bit encodings (doc/schemes.md §6.2): IEEE half, OCP FP8 E4M3FN and E5M2.
 * Every format is described by its field widths; one rounding rule serves
 * all of them. */
#include <math.h>

#include "core/core.h"

const kvq__minifloat kvq__mf_half = {5, 10, 15, 65504.0, 1, 0};
const kvq__minifloat kvq__mf_e4m3 = {4, 3, 7, 448.0, 0, 1};
const kvq__minifloat kvq__mf_e5m2 = {5, 2, 15, 57344.0, 1, 1};

/* The quantum of the format at |x| ∈ [2^(e−1), 2^e) is 2^(e−1−mant), never
 * below the subnormal step 2^(1−bias−mant); rint rounds ties to even in the
 * default rounding mode, and every quantum is a power of two, so x/q and
 * r·q are exact. */
double kvq__mf_round(const kvq__minifloat *f, double x)
{
    if (x == 0.0 || !isfinite(x))
        return x;
    int e, low = 1 - f->bias - f->mant;
    frexp(x, &e);
    double q = ldexp(1.0, e - 1 - f->mant > low ? e - 1 - f->mant : low);
    double r = rint(x / q) * q;
    if (fabs(r) > f->max)
        return f->saturate ? copysign(f->max, x) : copysign(INFINITY, x);
    return r;
}

/* Sign, biased exponent and mantissa of a value the format holds exactly. */
unsigned kvq__mf_bits(const kvq__minifloat *f, double r)
{
    unsigned sign = signbit(r) ? 1u << (f->ebits + f->mant) : 0u;
    double a = fabs(r);
    int e;
    if (a == 0.0)
        return sign;
    if (isinf(a))
        return sign | (((1u << f->ebits) - 1u) << f->mant);
    frexp(a, &e);
    int biased = e - 1 + f->bias;      /* a ∈ [2^(e−1), 2^e) */
    if (biased <= 0)                   /* subnormal: a = m · 2^(1−bias−mant) */
        return sign | (unsigned)ldexp(a, f->mant + f->bias - 1);
    unsigned m = (unsigned)(ldexp(a, f->mant - (e - 1)) - ldexp(1.0, f->mant));
    return sign | ((unsigned)biased << f->mant) | m;
}

double kvq__mf_value(const kvq__minifloat *f, unsigned bits)
{
    unsigned emask = (1u << f->ebits) - 1u, mmask = (1u << f->mant) - 1u;
    unsigned e = (bits >> f->mant) & emask, m = bits & mmask;
    double s = (bits >> (f->ebits + f->mant)) & 1u ? -1.0 : 1.0;
    if (e == emask && f->ieee)
        return m ? NAN : s * INFINITY;
    if (e == emask && m == mmask)       /* E4M3FN: the one NaN per sign */
        return NAN;
    if (e == 0)
        return s * ldexp((double)m, 1 - f->bias - f->mant);
    return s * ldexp(1.0 + ldexp((double)m, -f->mant), (int)e - f->bias);
}
