/* tolerance.h — how close a device's answer must be to the host reference
 * (doc/conformance.md §1), in one place for the conformance tests and `kvq compare`.
 * Bottom layer: depends on nothing in kvq. */
#ifndef KVQ_BASE_TOLERANCE_H
#define KVQ_BASE_TOLERANCE_H

#include <stddef.h>

/* The bound on kvq__tol_logit_dev. */
#define KVQ_TOL_LOGIT 1e-4

/* 1 when a per-query divergence (KL, JS, TV) matches the host's: within
 * relative 1e-3 or absolute 1e-7 (the absolute part covers divergences that
 * are zero up to rounding). */
int kvq__tol_div_ok(double got, double ref);

/* Worst logit deviation over rows × n logits: |got − ref| / (s + |ref|),
 * s the row's RMS reference logit or 1 when that is smaller, so the bound
 * is relative for large logits and absolute near zero. INFINITY when any
 * deviation is NaN, so a NaN never passes. */
double kvq__tol_logit_dev(const float *got, const float *ref, size_t rows, size_t n);

#endif
