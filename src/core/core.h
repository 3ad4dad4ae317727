/* core.h — internal helpers shared by the files of src/core (not installed). */
#ifndef KVQ_CORE_H
#define KVQ_CORE_H

#include <stddef.h>
#include <stdint.h>

#define KVQ_PI 3.14159265358979323846
#define KVQ_TWO_PI 6.28318530717958647692
#define KVQ_SQRT_PI_2 1.25331413731550025121   /* sqrt(π/2), the QJL scale */

/* Philox block b of stream (seed, purpose, trial). */
void kvq__core_block(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t b,
                    uint32_t out[4]);
/* Word i of stream (seed, purpose, trial). */
uint32_t kvq__core_word(uint64_t seed, uint32_t purpose, uint32_t trial, uint64_t i);
/* (u + 0.5)·2^-32. */
double kvq__core_uniform(uint32_t u);
/* Box–Muller normal from two words. */
double kvq__core_normal(uint32_t w0, uint32_t w1);

/* 1 if dim is a power of two in 16…1024. */
int kvq__core_dim_ok(int dim);

#endif
