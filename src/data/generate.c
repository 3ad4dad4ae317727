/* generate.c — synthetic K/V/Q sources (doc/statistics.md). Every family has unit
 * variance per coordinate. Randomness comes only from the Philox streams of
 * src/core: each (seed, purpose, trial) stream is cut into regions (the top
 * two bits of the word index) and each row of a region starts at word
 * row << 24, so row i is the same whatever n is and whatever else is drawn:
 *   region 0: family draws of row i (the vector, or its r latent factors)
 *   region 1: row k of the low-rank mixing matrix W (r x dim)
 *   region 2: row i of the low-rank noise E
 * The outlier channels and the needle positions come from the KVQ_RNG_DATA_AUX
 * stream of the trial, so K, V and Q of one trial share them. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/data_internal.h"

#define REGION(r) ((uint64_t)(r) << 62)
#define ROW(i) ((uint64_t)(i) << 24)
#define LOWRANK_SIGMA 0.05
#define MAX_DIM 1024

/* Parses the family part of a dist name. */
static int parse_family(const char *f, size_t len, kvq_source *s, char *err, size_t errlen)
{
    char buf[32], *end;
    if (len >= sizeof buf)
        return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC, "unknown distribution '%s'", f);
    memcpy(buf, f, len);
    buf[len] = 0;
    if (!strcmp(buf, "gauss") || !strcmp(buf, "laplace")) {
        s->family = buf[0] == 'g' ? KVQ_DIST_GAUSS : KVQ_DIST_LAPLACE;
        return 0;
    }
    if (buf[0] == 't' && isdigit((unsigned char)buf[1])) {
        s->family = KVQ_DIST_STUDENT_T;
        s->nu = strtod(buf + 1, &end);
        if (*end || !isfinite(s->nu) || s->nu > 1e6)
            return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC, "bad Student-t name '%s'", buf);
        if (s->nu <= 2)
            return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC,
                                 "'%s': Student-t needs nu > 2 to have unit variance", buf);
        return 0;
    }
    if (!strncmp(buf, "outlier", 7)) {
        const char *p = buf + 7;
        s->family = KVQ_DIST_OUTLIER;
        s->outliers = 4;
        s->outlier_scale = 10;
        if (isdigit((unsigned char)*p)) {
            long c = strtol(p, &end, 10);
            s->outliers = c > 0 && c < MAX_DIM ? (int)c : 0;
            p = end;
            if (*p == 'x' && isdigit((unsigned char)p[1])) {
                s->outlier_scale = strtod(p + 1, &end);
                p = end;
            }
        }
        if (*p || s->outliers == 0 || !(s->outlier_scale > 0) || s->outlier_scale > 1e6)
            return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC,
                                 "bad outlier spec '%s' (outlier[C[xS]], 1 <= C < 1024, S > 0)",
                                 buf);
        return 0;
    }
    return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC,
                         "unknown distribution '%s' (gauss, t<nu>, laplace, outlier[C[xS]], "
                         "optionally +needle<alpha>)", buf);
}

static void source_name(kvq_source *s)
{
    char fam[24];
    size_t n;
    switch (s->family) {
    case KVQ_DIST_STUDENT_T: snprintf(fam, sizeof fam, "t%g", s->nu); break;
    case KVQ_DIST_LAPLACE: snprintf(fam, sizeof fam, "laplace"); break;
    case KVQ_DIST_OUTLIER:
        if (s->outliers == 4 && s->outlier_scale == 10)
            snprintf(fam, sizeof fam, "outlier");
        else
            snprintf(fam, sizeof fam, "outlier%dx%g", s->outliers, s->outlier_scale);
        break;
    default: snprintf(fam, sizeof fam, "gauss");
    }
    n = (size_t)snprintf(s->name, sizeof s->name, "%s", fam);
    if (s->needle > 0 && n < sizeof s->name)
        snprintf(s->name + n, sizeof s->name - n, "+needle%g", s->needle);
}

int kvq_source_parse(const char *dist, const char *rank, kvq_source *s, char *err, size_t errlen)
{
    const char *plus;
    char *end;
    int rc;
    memset(s, 0, sizeof *s);
    if (!dist || !*dist)
        dist = "gauss";
    plus = strchr(dist, '+');
    if ((rc = parse_family(dist, plus ? (size_t)(plus - dist) : strlen(dist), s, err, errlen)))
        return rc;
    if (plus) {
        if (strncmp(plus, "+needle", 7) || !isdigit((unsigned char)plus[7]))
            return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC,
                                 "bad suffix '%s' (expected +needle<alpha>)", plus);
        s->needle = strtod(plus + 7, &end);
        if (*end || !(s->needle > 0) || s->needle > 1e3)
            return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC,
                                 "bad needle '%s' (alpha in (0, 1000])", plus + 1);
    }
    if (rank && *rank && strcmp(rank, "full")) {
        long r = isdigit((unsigned char)rank[0]) ? strtol(rank, &end, 10) : -1;
        if (r < 1 || *end || r >= MAX_DIM)
            return kvq__data_errf(err, errlen, KVQ_ERR_BAD_SPEC,
                                 "bad rank '%s' (\"full\" or an integer 1..1023, below d)", rank);
        s->rank = (int)r;
    }
    source_name(s);
    return 0;
}

/* Checks that s can make vectors of dimension dim. */
int kvq_source_check(const kvq_source *s, int dim, char *err, size_t errlen)
{
    if (dim < 2 || dim > MAX_DIM)
        return kvq__data_errf(err, errlen, KVQ_ERR_INVALID_ARG, "dimension %d out of 2..%d",
                             dim, MAX_DIM);
    if (s->rank && s->rank >= dim)
        return kvq__data_errf(err, errlen, KVQ_ERR_INVALID_ARG,
                             "rank %d must be below the dimension %d", s->rank, dim);
    if (s->family == KVQ_DIST_OUTLIER && s->outliers >= dim)
        return kvq__data_errf(err, errlen, KVQ_ERR_INVALID_ARG,
                             "%d outlier channels need a dimension above %d", s->outliers, dim);
    return 0;
}

/* Gamma(a, 1) for a >= 1 by Marsaglia & Tsang (2000). */
static double gamma_draw(kvq__rng *r, double a)
{
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = kvq__rng_normal(r), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = kvq__rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

/* One unit-variance draw of the (non-Gaussian) family. */
static double family_draw(const kvq_source *s, kvq__rng *r)
{
    if (s->family == KVQ_DIST_LAPLACE) {       /* inverse CDF, scale 1/sqrt(2) */
        double u = kvq__rng_uniform(r) - 0.5;
        double m = -log(1.0 - 2.0 * fabs(u)) * 0.70710678118654752440;
        return u < 0 ? -m : m;
    }
    if (s->family == KVQ_DIST_STUDENT_T) {     /* z / sqrt(chi2_nu / nu), rescaled */
        double z = kvq__rng_normal(r), chi2 = 2.0 * gamma_draw(r, 0.5 * s->nu);
        return z / sqrt(chi2 / s->nu) * sqrt((s->nu - 2.0) / s->nu);
    }
    return kvq__rng_normal(r);
}

/* Fills row i of region 0 (len values) from the family. */
static void family_row(const kvq_source *s, uint64_t seed, uint32_t purpose, uint32_t trial,
                       size_t i, int len, float *out)
{
    kvq__rng r;
    if (s->family == KVQ_DIST_GAUSS || s->family == KVQ_DIST_OUTLIER) {
        kvq__rng_fill_normal(seed, purpose, trial, ROW(i) / 2, out, (size_t)len);
        return;
    }
    kvq__rng_init(&r, seed, purpose, trial);
    r.next = ROW(i);
    for (int j = 0; j < len; j++)
        out[j] = (float)family_draw(s, &r);
}

/* W (r x dim) with N(0,1) entries scaled so that sum W^2 = dim exactly: then
 * the coordinate variance of Z W, averaged over coordinates, is exactly 1. */
static int mixing_matrix(uint64_t seed, uint32_t purpose, uint32_t trial, int r, int dim,
                         double **w_out)
{
    float row[MAX_DIM];
    double *w = malloc((size_t)r * (size_t)dim * sizeof *w), ss = 0;
    if (!w)
        return KVQ_ERR_NOMEM;
    for (int k = 0; k < r; k++) {
        kvq__rng_fill_normal(seed, purpose, trial, (REGION(1) + ROW(k)) / 2, row, (size_t)dim);
        for (int j = 0; j < dim; j++) {
            w[(size_t)k * dim + j] = row[j];
            ss += (double)row[j] * row[j];
        }
    }
    for (size_t e = 0; e < (size_t)r * (size_t)dim; e++)
        w[e] *= sqrt(dim / ss);
    *w_out = w;
    return 0;
}

/* Picks the outlier channels of a trial (partial Fisher–Yates on the AUX
 * stream) and returns the per-channel scales, normalized to mean square 1. */
static void outlier_scales(const kvq_source *s, uint64_t seed, uint32_t trial, int dim,
                           double *scale)
{
    int perm[MAX_DIM];
    kvq__rng r;
    double norm = sqrt((dim - s->outliers + s->outliers * s->outlier_scale * s->outlier_scale) /
                       (double)dim);
    kvq__rng_init(&r, seed, KVQ_RNG_DATA_AUX, trial);
    for (int j = 0; j < dim; j++) {
        perm[j] = j;
        scale[j] = 1.0 / norm;
    }
    for (int c = 0; c < s->outliers; c++) {
        int k = c + (int)(kvq__rng_uniform(&r) * (dim - c)), t = perm[c];
        if (k >= dim)
            k = dim - 1;
        perm[c] = perm[k];
        perm[k] = t;
        scale[perm[c]] = s->outlier_scale / norm;
    }
}

/* Fills out[n*dim] for (seed, purpose, trial). */
int kvq_source_generate(const kvq_source *s, uint64_t seed, uint32_t purpose, uint32_t trial,
                        size_t n, int dim, float *out)
{
    return kvq__source_generate_rows(s, seed, purpose, trial, 0, n, dim, out);
}

/* Row i draws from its own counter range ROW(i), so any run of rows comes
 * out as it would inside the whole tensor. */
int kvq__source_generate_rows(const kvq_source *s, uint64_t seed, uint32_t purpose,
                              uint32_t trial, size_t j0, size_t n, int dim, float *out)
{
    double scale[MAX_DIM], *w = NULL;
    float z[MAX_DIM], e[MAX_DIM];
    const double inv = 1.0 / sqrt(1.0 + LOWRANK_SIGMA * LOWRANK_SIGMA);
    int rc;
    if ((rc = kvq_source_check(s, dim, NULL, 0)))
        return rc;
    if ((!out && n) || (uint64_t)(j0 + n) >= ((uint64_t)1 << 38))   /* rows stay in region 0 */
        return KVQ_ERR_INVALID_ARG;
    if (s->rank && (rc = mixing_matrix(seed, purpose, trial, s->rank, dim, &w)))
        return rc;
    for (int j = 0; j < dim; j++)
        scale[j] = 1.0;
    if (s->family == KVQ_DIST_OUTLIER)
        outlier_scales(s, seed, trial, dim, scale);
    for (size_t i = j0; i < j0 + n; i++) {
        float *x = out + (i - j0) * (size_t)dim;
        if (!s->rank) {
            family_row(s, seed, purpose, trial, i, dim, x);
        } else {
            family_row(s, seed, purpose, trial, i, s->rank, z);
            kvq__rng_fill_normal(seed, purpose, trial, (REGION(2) + ROW(i)) / 2, e, (size_t)dim);
            for (int j = 0; j < dim; j++) {
                double acc = LOWRANK_SIGMA * e[j];
                for (int k = 0; k < s->rank; k++)
                    acc += z[k] * w[(size_t)k * dim + j];
                x[j] = (float)(acc * inv);
            }
        }
        for (int j = 0; j < dim; j++)
            x[j] = (float)(x[j] * scale[j]);
    }
    free(w);
    return 0;
}

/* Index j(i) of the key planted in query i: a 53-bit uniform from two words
 * of the AUX stream's region 1, times n_keys. */
size_t kvq__source_needle_index(uint64_t seed, uint32_t trial, size_t i, size_t n_keys)
{
    kvq__rng r;
    kvq__rng_init(&r, seed, KVQ_RNG_DATA_AUX, trial);
    r.next = REGION(1) + 2 * (uint64_t)i;
    uint32_t hi = kvq__rng_u32(&r) >> 5, lo = kvq__rng_u32(&r) >> 6;
    double u = (hi * 67108864.0 + lo) / 9007199254740992.0;
    size_t j = (size_t)(u * (double)n_keys);
    return j < n_keys ? j : n_keys - 1;
}

/* Queries: independent draws, or (alpha k_j(i) + e_i)/sqrt(1+alpha^2). */
int kvq_source_queries(const kvq_source *s, uint64_t seed, uint32_t trial, const float *keys,
                       size_t n_keys, size_t m, int dim, float *q_out)
{
    kvq__rows k = kvq__rows_memory(keys, n_keys, dim);
    return kvq__source_queries_rows(s, seed, trial, &k, m, dim, q_out);
}

int kvq__source_queries_rows(const kvq_source *s, uint64_t seed, uint32_t trial,
                             const kvq__rows *keys, size_t m, int dim, float *q_out)
{
    int rc = kvq_source_generate(s, seed, KVQ_RNG_DATA_Q, trial, m, dim, q_out);
    double a = s->needle, c = 1.0 / sqrt(1.0 + a * a);
    float row[MAX_DIM];
    if (rc || !(a > 0))
        return rc;
    if (!keys || !keys->count || (!keys->data && !keys->read))
        return KVQ_ERR_INVALID_ARG;
    for (size_t i = 0; i < m; i++) {
        size_t j = kvq__source_needle_index(seed, trial, i, keys->count);
        const float *k = kvq__rows_get(keys, j, 1, row, &rc);
        float *q = q_out + i * (size_t)dim;
        if (!k)
            return rc;
        for (int t = 0; t < dim; t++)
            q[t] = (float)((a * k[t] + q[t]) * c);
    }
    return 0;
}

static int source_read(const kvq__rows *r, size_t j0, size_t n, float *dst)
{
    const kvq__source_rows *g = (const kvq__source_rows *)r;
    return kvq__source_generate_rows(g->s, g->seed, g->purpose, g->trial, j0, n, r->dim, dst);
}

const kvq__rows *kvq__source_rows_init(kvq__source_rows *g, const kvq_source *s, uint64_t seed,
                                       uint32_t purpose, uint32_t trial, size_t n, int dim)
{
    *g = (kvq__source_rows){.rows = {.count = n, .dim = dim, .data = NULL, .read = source_read},
                            .s = s, .seed = seed, .purpose = purpose, .trial = trial};
    return &g->rows;
}
