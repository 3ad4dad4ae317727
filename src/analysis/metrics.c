/* metrics.c — metric names and per-trial aggregation (doc/metrics.md); the exact
 * per-query distribution metrics live in src/core/distribution.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"

static const char *const metric_names[KVQ_METRIC_COUNT] = {
    "kl", "kl_rev", "js", "tv", "entropy_ref", "entropy_quant", "top1",
    "topk_recall", "logit_mse", "logit_bias", "jensen_ratio", "out_rel_err",
    "out_dir_err", "k_rel_mse", "k_dir_err", "v_rel_mse", "v_dir_err", "dist6"
};

/* The JSON key of a metric id. */
const char *kvq_metric_name(int id)
{
    return id >= 0 && id < KVQ_METRIC_COUNT ? metric_names[id] : NULL;
}

/* The id of a metric name, or -1. */
int kvq__metric_lookup(const char *name)
{
    for (int i = 0; name && i < KVQ_METRIC_COUNT; i++)
        if (strcmp(name, metric_names[i]) == 0)
            return i;
    return -1;
}

/* Only the agreement metrics grow with quality. */
int kvq_metric_higher_is_better(int id)
{
    return id == KVQ_METRIC_TOP1 || id == KVQ_METRIC_TOPK_RECALL;
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

/* Mean over the queries where it is defined of kl / (var_p_eps / 2). */
static double jensen_mean(const kvq_query_metrics *q, size_t m)
{
    double s = 0;
    size_t used = 0;
    for (size_t i = 0; i < m; i++) {
        if (!(q[i].var_p_eps > 0))
            continue;
        s += q[i].kl / (0.5 * q[i].var_p_eps);
        used++;
    }
    return used ? s / (double)used : NAN;
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
    static const struct { int id; size_t off; } fields[] = {
        { KVQ_METRIC_KL, offsetof(kvq_query_metrics, kl) },
        { KVQ_METRIC_KL_REV, offsetof(kvq_query_metrics, kl_rev) },
        { KVQ_METRIC_JS, offsetof(kvq_query_metrics, js) },
        { KVQ_METRIC_TV, offsetof(kvq_query_metrics, tv) },
        { KVQ_METRIC_ENTROPY_REF, offsetof(kvq_query_metrics, entropy_ref) },
        { KVQ_METRIC_ENTROPY_QUANT, offsetof(kvq_query_metrics, entropy_quant) },
        { KVQ_METRIC_TOP1, offsetof(kvq_query_metrics, top1) },
        { KVQ_METRIC_TOPK_RECALL, offsetof(kvq_query_metrics, topk_recall) },
        { KVQ_METRIC_LOGIT_MSE, offsetof(kvq_query_metrics, logit_mse) },
        { KVQ_METRIC_LOGIT_BIAS, offsetof(kvq_query_metrics, logit_bias) },
        { KVQ_METRIC_OUT_REL_ERR, offsetof(kvq_query_metrics, out_rel_err) },
        { KVQ_METRIC_OUT_DIR_ERR, offsetof(kvq_query_metrics, out_dir_err) },
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        out[fields[i].id] = query_mean(q, m, fields[i].off);
    out[KVQ_METRIC_JENSEN_RATIO] = jensen_mean(q, m);
    out[KVQ_METRIC_K_REL_MSE] = k ? k->rel_mse : NAN;
    out[KVQ_METRIC_K_DIR_ERR] = k ? k->dir_err : NAN;
    out[KVQ_METRIC_V_REL_MSE] = v ? v->rel_mse : NAN;
    out[KVQ_METRIC_V_DIR_ERR] = v ? v->dir_err : NAN;
    out[KVQ_METRIC_DIST6] = dist6(out);
}
