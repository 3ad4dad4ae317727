/* peers.h — the host BLAS `kvq bench` measures beside kvq's kernels (bench/README.md,
 * "Peers"): OpenBLAS when configure found it, else nothing. Plain C types only, so the
 * suite needs no BLAS header; only bench/peers.c sees cblas.h. */
#ifndef KVQ_BENCH_PEERS_H
#define KVQ_BENCH_PEERS_H

#include <stddef.h>

/* 1 when kvq was built with OpenBLAS, else 0 (and the calls below do nothing). */
int kvq__peer_available(void);

/* Sets the BLAS thread count; returns the count the library reports back (0 without it). */
int kvq__peer_threads(int threads);

/* OpenBLAS's build line and run-time core ("OpenBLAS 0.3.21 DYNAMIC_ARCH ..., core
 * SkylakeX"), or "not found". */
const char *kvq__peer_config(void);

/* OpenBLAS picks its kernels when it is loaded. When it fell back to its generic
 * Prescott core on a CPU it does not recognise (0.3.21 on Sapphire/Emerald Rapids)
 * while the CPU has AVX-512 or AVX2, the value of OPENBLAS_CORETYPE that selects the
 * right kernels ("SkylakeX", "Haswell"); NULL otherwise, or when OPENBLAS_CORETYPE
 * is set already. */
const char *kvq__peer_retune(void);

/* out[n] = keys[n×d] · q[d] (row-major keys; cblas_sgemv). */
void kvq__peer_sgemv(size_t n, size_t d, const float *keys, const float *q, float *out);

/* out[m×n] = q[m×d] · keys[n×d]ᵀ (row-major; cblas_sgemm). */
void kvq__peer_sgemm(size_t m, size_t n, size_t d, const float *q, const float *keys, float *out);

#endif
