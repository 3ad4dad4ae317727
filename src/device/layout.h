/* layout.h — the buffer layouts and limits that the launchers (C) and the
 * kernels (OpenCL C) must agree on. build-aux/embed-cl.sh puts this file in
 * front of every embedded kernel source, so it may hold only preprocessor
 * lines and enums that both languages accept. A slot added to a list below
 * is added on both sides at once; its meaning is written next to it. */
#ifndef KVQ_LAYOUT_H
#define KVQ_LAYOUT_H

/* Most MSE bit planes a code has (a private array of this size per key). */
#define KVQ_MSE_BITS_MAX 8

/* Floats a device codebook's threshold and centroid tables hold at least,
 * zeros past their end: the CPU quantize kernel loads a codebook of up to
 * 16 levels as one float16 each, with no per-vector table set-up. */
#define KVQ_CODEBOOK_MIN 16

/* Vectors per work-item of kvq_quantize_vec at d = 16·nv and lb MSE bits:
 * the QJL projections load each row of S′ once for all of them. Two
 * vectors' residuals and partial sums fit AVX-512's 32 registers up to
 * d = 128 and 4 bits, where the search is a table lookup. With trees of
 * selects (5 bits and up) two vectors spill (6 bits measured 1.6 × slower)
 * and at 5 bits, d = 128 PoCL's LLVM 15 did not finish compiling the
 * kernel in 13 minutes. */
#define KVQ_QUANT_VECS(nv, lb) ((nv) <= 8 && (lb) <= 4 ? 2 : 1)

/* Largest k of top-k recall: each work-item keeps a private sorted list of
 * this size, and pass 1 reserves local size × k entries of local memory. */
#define KVQ_TOPK_MAX 8

/* Pass-1 statistics of one logits row, one record per query and chunk
 * (kvq_softmax_pass1): the row's maximum and scaled sum for its log-sum-exp
 * and, for a quantized row ℓ̃ against the trial's reference ℓ with its
 * probabilities p, Σ p·δ (δ = ℓ̃ − ℓ, so the chunks' values add up to μ). */
#define KVQ_STAT_SLOTS(X)                                                     \
    X(MAX)          /* max_j ℓ_j */                                           \
    X(SUM)          /* Σ_j e^{ℓ_j − max} */                                   \
    X(P_DELTA)      /* Σ_j p_j·δ_j (0 for the reference row) */

/* Per-query constants of pass 2, merged over chunks by the host. */
#define KVQ_CONST_SLOTS(X)                                                    \
    X(LSE_REF)      /* log Σ e^ℓ */                                           \
    X(LSE_QUANT)    /* log Σ e^ℓ̃ */                                           \
    X(MU)           /* E_p[δ] */                                              \
    X(G_EST)        /* expm1(lse_quant − lse_ref − μ) */                      \
    X(LOG1P_G)      /* lse_quant − lse_ref − μ = log1p(G_EST) */

/* Pass-2 accumulators, one record per query and chunk (kvq_softmax_pass2),
 * with x = δ − μ and y = p̃/p − 1. */
#define KVQ_ACC_SLOTS(X)                                                      \
    X(KL_SERIES)    /* Σ p·(e^x − 1 − x): KL = log1p of it, exact when small */ \
    X(KL_REV)       /* Σ p·x·(e^x − 1): reverse KL from the series */         \
    X(JS2)          /* 2·JS */                                                \
    X(TV2)          /* 2·TV */                                                \
    X(ENT_QUANT)    /* H(p̃) */                                                \
    X(VAR_DELTA)    /* Var_p(δ) */                                            \
    X(DELTA_SQ)     /* Σ δ² */                                                \
    X(DELTA)        /* Σ δ */                                                 \
    X(KL_REV_DIRECT) /* Σ p̃·log(p̃/p), the reverse KL for large divergences */

#define KVQ_LAYOUT_STAT(name) KVQ_STAT_##name,
#define KVQ_LAYOUT_CONST(name) KVQ_CONST_##name,
#define KVQ_LAYOUT_ACC(name) KVQ_ACC_##name,
enum { KVQ_STAT_SLOTS(KVQ_LAYOUT_STAT) KVQ_STATS };
enum { KVQ_CONST_SLOTS(KVQ_LAYOUT_CONST) KVQ_CONSTS };
enum { KVQ_ACC_SLOTS(KVQ_LAYOUT_ACC) KVQ_ACCS };

/* Per-vector reconstruction errors (kvq_vector_errors): relative MSE and
 * direction error, both −1 for a zero vector. */
#define KVQ_VEC_ERRS 2

/* Vectors per work-item of the kernels that rebuild the QJL residual
 * Σ_l z_l·S_l one vector per register set (kvq_qjl_add_vec,
 * kvq_dequantize_vec, kvq_vector_errors_codes): each S row they load
 * serves that many vectors (doc/kernels.md §3.2). */
#define KVQ_QJL_VECS 4

#endif
