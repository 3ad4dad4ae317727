/* stage_eden.c — the EDEN scale (doc/schemes.md §5.1): the MSE stage stores
 * ν/⟨u, C[idx]⟩ instead of ν, so that ⟨x̂, x⟩ = ‖x‖² for every vector (and
 * x̂ is unbiased over Haar rotations). Costs nothing: it changes what the
 * stored norm means. */

#include "core/stage.h"

static const char *const forms[] = {"eden", NULL};

/* Two rescalings of one norm do not compose: nc and eden exclude each other. */
static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    return kvq__stage_flag_parse(tok, n, "eden", &s->eden, s->norm_correct,
                                 "eden and nc both rescale the stored norm; use one", why);
}

static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    kvq__stage_flag_format(s->eden, "eden", buf, len);
}

static int valid(const kvq_codec_spec *s, int dim)
{
    (void)dim;
    return (s->eden == 0 || s->eden == 1) && !(s->eden && s->norm_correct);
}

static int present(const kvq_codec_spec *s)
{
    return s->eden;
}

static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->eden = s->eden;
}

/* Only the MSE norm. ⟨u, C[idx]⟩ > 0 for every nonzero vector (each
 * coordinate's centroid has its sign); a zero vector keeps ν = 0. */
static double side(const kvq_codec *c, int slot, double value, const kvq__stage_vec *v)
{
    (void)c;
    return slot == KVQ_SIDE_NORM && v->uc > 0.0 ? value / v->uc : value;
}

const kvq__stage_def kvq__stage_eden = {
    .name = "eden", .forms = forms,
    .parse = parse, .format = format, .valid = valid, .present = present,
    .kernel = kernel,
    .side = side,
};
