/* stage_rotation.c — the random rotation R (none, wht, wht2, dense) that the
 * MSE stage quantizes under; written as the "rot:" prefix of a codec. */
#include <stdio.h>

#include "core/stage.h"

static const char *const names[] = {"none", "wht", "wht2", "dense", NULL};

/* "none", "wht", "wht2", "dense" (as written in specs), or "?" out of range. */
const char *kvq__rotation_name(int kind)
{
    return kind >= KVQ_ROT_NONE && kind <= KVQ_ROT_DENSE ? names[kind] : "?";
}

static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    (void)why;
    for (int i = 0; names[i]; i++)
        if (kvq__stage_token_is(tok, n, names[i])) {
            s->rotation = i;
            return 0;
        }
    return KVQ_STAGE_NOMATCH;
}

/* Not written beside a deployed format (which has no rotation). */
static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    if (s->format && s->rotation == KVQ_ROT_NONE)
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, "%s", kvq__rotation_name(s->rotation));
}

static int valid(const kvq_codec_spec *s, int dim)
{
    (void)dim;
    return s->rotation >= KVQ_ROT_NONE && s->rotation <= KVQ_ROT_DENSE;
}

/* The Walsh–Hadamard rotations need a power of two; elsewhere the codec uses
 * the dense Haar rotation, and its spec in effect says so. */
static void resolve(kvq_codec_spec *s, int dim)
{
    s->rotation = kvq__rotation_at(s->rotation, dim);
}

static int present(const kvq_codec_spec *s)
{
    (void)s;
    return 1;
}

/* The sign rounds the rotation kernel applies; dense has none (a GEMM). */
static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->rotation = s->rotation;
    kp->rounds = s->rotation == KVQ_ROT_WHT ? 1 : s->rotation == KVQ_ROT_WHT2 ? 2 : 0;
}

/* K and V draw their rotations from their own streams. */
static int realize(kvq_codec *c, uint64_t seed, int tensor, uint32_t trial)
{
    uint32_t purpose = c->rot_purpose ? c->rot_purpose : tensor ? KVQ_RNG_ROT_V : KVQ_RNG_ROT_K;
    return kvq__rotation_create_any(&c->rot, c->spec.rotation, c->kp.dim, seed, purpose, trial);
}

static void release(kvq_codec *c)
{
    kvq_rotation_destroy(c->rot);
}

/* ⟨q, x̂_mse⟩ = ⟨R q, ν C[idx]⟩: the estimator reads codes in the rotated domain. */
static void query(const kvq_codec *c, const float *q, double *qr, double *sq)
{
    (void)q;
    (void)sq;
    kvq_rotation_forward(c->rot, qr);
}

const kvq__stage_def kvq__stage_rotation = {
    .name = "rotation", .forms = names, .flags = KVQ_STAGE_PREFIX,
    .parse = parse, .format = format, .valid = valid, .resolve = resolve, .present = present,
    .kernel = kernel,
    .realize = realize, .release = release, .query = query,
};
