/* metrics.c — metric names and per-trial aggregation (doc/metrics.md); the exact
 * per-query distribution metrics live in src/core/distribution.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
    const char *name;
    int higher_is_better;
    int per_query;          /* the mean of a kvq_query_metrics field ... */
    size_t offset;          /* ... at this offset */
} metric_table[KVQ_METRIC_COUNT] = {
#define METRIC_Q(id, name, higher, field) {name, higher, 1, offsetof(kvq_query_metrics, field)},
#define METRIC_D(id, name, higher) {name, higher, 0, 0},
    KVQ_METRIC_LIST(METRIC_Q, METRIC_D)
#undef METRIC_Q
#undef METRIC_D
};

const char *kvq_metric_name(int id)
{
    return id >= 0 && id < KVQ_METRIC_COUNT ? metric_table[id].name : NULL;
}

int kvq__metric_lookup(const char *name)
{
    for (int i = 0; name && i < KVQ_METRIC_COUNT; i++)
        if (strcmp(name, metric_table[i].name) == 0)
            return i;
    return -1;
}

int kvq_metric_higher_is_better(int id)
{
    return id >= 0 && id < KVQ_METRIC_COUNT && metric_table[id].higher_is_better;
}

/* Mean of one double field over the query records (offset into the struct). */
static double query_mean(const kvq_query_metrics *q, size_t m, size_t offset)
{
    double s = 0;
    if (m == 0)
        return NAN;
    for (size_t i = 0; i < m; i++)
        s += *(const double *)((const char *)&q[i] + offset);
    return s / (double)m;
}

/* The Jensen ratio of one trial as a ratio of sums (doc/metrics.md §2.5):
 * Σ kl / Σ ½var_p_eps over the queries where both are finite, so a query
 * whose attention is one-hot (Var_p(ε) ≈ 0) adds almost nothing to either
 * sum instead of a huge, noisy per-query ratio. NaN when the variance sum
 * is 0. */
static double jensen_ratio_of_sums(const kvq_query_metrics *q, size_t m)
{
    double kl = 0, half_var = 0;
    for (size_t i = 0; i < m; i++) {
        if (!isfinite(q[i].kl) || !(q[i].var_p_eps >= 0) || !isfinite(q[i].var_p_eps))
            continue;
        kl += q[i].kl;
        half_var += 0.5 * q[i].var_p_eps;
    }
    return half_var > 0 ? kl / half_var : NAN;
}

/* How many queries put more than KVQ__ONE_HOT_P of their reference
 * attention on one key (doc/metrics.md §2.5). */
static double one_hot_count(const kvq_query_metrics *q, size_t m)
{
    size_t n = 0;
    for (size_t i = 0; i < m; i++)
        n += q[i].p_max > KVQ__ONE_HOT_P;
    return (double)n;
}

/* dist6 (doc/metrics.md §2.8): norm of six dimensionless errors (JS in bits). */
static double dist6(const double *o)
{
    const double e[6] = { o[KVQ_METRIC_K_REL_MSE], o[KVQ_METRIC_K_DIR_ERR],
                          o[KVQ_METRIC_V_REL_MSE], o[KVQ_METRIC_V_DIR_ERR],
                          o[KVQ_METRIC_JS] / log(2.0), o[KVQ_METRIC_OUT_REL_ERR] };
    double s = 0;
    for (int i = 0; i < 6; i++)
        s += e[i] * e[i];
    return sqrt(s);
}

/* One trial's metric vector from its per-query and per-vector records. */
void kvq__trial_aggregate(const kvq_query_metrics *q, size_t m,
                         const kvq_vector_errors *k, const kvq_vector_errors *v,
                         double out[KVQ_METRIC_COUNT])
{
    for (int id = 0; id < KVQ_METRIC_COUNT; id++)
        if (metric_table[id].per_query)
            out[id] = query_mean(q, m, metric_table[id].offset);
    out[KVQ_METRIC_JENSEN_RATIO] = jensen_ratio_of_sums(q, m);
    out[KVQ_METRIC_ONE_HOT] = one_hot_count(q, m);
    out[KVQ_METRIC_K_REL_MSE] = k ? k->rel_mse : NAN;
    out[KVQ_METRIC_K_DIR_ERR] = k ? k->dir_err : NAN;
    out[KVQ_METRIC_V_REL_MSE] = v ? v->rel_mse : NAN;
    out[KVQ_METRIC_V_DIR_ERR] = v ? v->dir_err : NAN;
    out[KVQ_METRIC_DIST6] = dist6(out);
}
