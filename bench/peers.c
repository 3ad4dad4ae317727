/* peers.c — OpenBLAS behind bench/peers.h. A library of its own (bench/local.mk) so
 * that only it is compiled against cblas.h and only the kvq program links OpenBLAS. */
#include "config.h"

#include "bench/peers.h"

#if KVQ_HAVE_OPENBLAS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

/* OpenBLAS's own entry points; cblas.h declares them too, but the plain-cblas.h
 * fallback of configure may find a header that does not. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

int kvq__peer_available(void)
{
    return 1;
}

int kvq__peer_threads(int threads)
{
    openblas_set_num_threads(threads);
    return openblas_get_num_threads();
}

/* The build line says which kernels were compiled in; with DYNAMIC_ARCH the core
 * chosen at run time is what actually runs, so both are given. */
const char *kvq__peer_config(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s, core %s", openblas_get_config(), openblas_get_corename());
    return buf;
}

/* The kernels OpenBLAS should use on this CPU, by what the CPU supports. */
static const char *native_core(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

const char *kvq__peer_retune(void)
{
    const char *set = getenv("OPENBLAS_CORETYPE");   /* OpenBLAS ignores an empty value */
    if ((set && *set) || strcmp(openblas_get_corename(), "Prescott"))
        return NULL;
    return native_core();
}

void kvq__peer_sgemv(size_t n, size_t d, const float *keys, const float *q, float *out)
{
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)n, (blasint)d, 1.0f, keys, (blasint)d, q, 1,
                0.0f, out, 1);
}

void kvq__peer_sgemm(size_t m, size_t n, size_t d, const float *q, const float *keys, float *out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)n, (blasint)d, 1.0f,
                q, (blasint)d, keys, (blasint)d, 0.0f, out, (blasint)n);
}

#else /* !KVQ_HAVE_OPENBLAS */

int kvq__peer_available(void)
{
    return 0;
}

int kvq__peer_threads(int threads)
{
    (void)threads;
    return 0;
}

const char *kvq__peer_config(void)
{
    return "not found";
}

const char *kvq__peer_retune(void)
{
    return NULL;
}

void kvq__peer_sgemv(size_t n, size_t d, const float *keys, const float *q, float *out)
{
    (void)n, (void)d, (void)keys, (void)q, (void)out;
}

void kvq__peer_sgemm(size_t m, size_t n, size_t d, const float *q, const float *keys, float *out)
{
    (void)m, (void)n, (void)d, (void)q, (void)keys, (void)out;
}

#endif
