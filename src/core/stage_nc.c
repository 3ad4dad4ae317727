/* stage_nc.c — norm correction: the MSE stage stores ν/‖C[idx]‖ instead of ν,
 * so that ‖x̂_mse‖ = ‖x‖. Costs nothing: it changes what the norm means. */
#include <math.h>

#include "core/stage.h"

static const char *const forms[] = {"nc", NULL};

static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    return kvq__stage_flag_parse(tok, n, "nc", &s->norm_correct, s->eden,
                                 "eden and nc both rescale the stored norm; use one", why);
}

static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    kvq__stage_flag_format(s->norm_correct, "nc", buf, len);
}

static int valid(const kvq_codec_spec *s, int dim)
{
    (void)dim;
    return s->norm_correct == 0 || s->norm_correct == 1;
}

static int present(const kvq_codec_spec *s)
{
    return s->norm_correct;
}

static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->norm_correct = s->norm_correct;
}

/* Only the MSE norm; γ stays ‖r‖. */
static double side(const kvq_codec *c, int slot, double value, const kvq__stage_vec *v)
{
    (void)c;
    return slot == KVQ_SIDE_NORM ? value / sqrt(v->cn) : value;
}

const kvq__stage_def kvq__stage_nc = {
    .name = "nc", .forms = forms,
    .parse = parse, .format = format, .valid = valid, .present = present,
    .kernel = kernel,
    .side = side,
};
