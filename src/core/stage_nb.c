/* stage_nb.c — side precision: nb16 stores every side value (ν, γ) as IEEE
 * half instead of float (nb32, the default), halving the side bits. */
#include <stdio.h>

#include "core/stage.h"

static const char *const forms[] = {"nb16", "nb32", NULL};

static int parse(const char *tok, size_t n, kvq_codec_spec *s, const char **why)
{
    (void)why;
    if (!kvq__stage_token_is(tok, n, "nb16") && !kvq__stage_token_is(tok, n, "nb32"))
        return KVQ_STAGE_NOMATCH;
    s->norm_bits = tok[2] == '1' ? 16 : 32;
    return 0;
}

/* nb32 is the default and is not written. */
static void format(const kvq_codec_spec *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s", s->norm_bits == 16 ? "nb16" : "");
}

static int valid(const kvq_codec_spec *s, int dim)
{
    (void)dim;
    return s->norm_bits == 0 || s->norm_bits == 16 || s->norm_bits == 32;
}

static void resolve(kvq_codec_spec *s, int dim)
{
    (void)dim;
    s->norm_bits = s->norm_bits == 16 ? 16 : 32;
}

static int present(const kvq_codec_spec *s)
{
    return s->norm_bits == 16;
}

static void cost(const kvq_codec_spec *s, int dim, kvq__stage_cost *c)
{
    (void)dim;
    c->side_width = s->norm_bits;
}

static void kernel(const kvq_codec_spec *s, kvq__codec_kparams *kp)
{
    kp->side_bits = s->norm_bits;
}

static double side(const kvq_codec *c, int slot, double value, const kvq__stage_vec *v)
{
    (void)c;
    (void)slot;
    (void)v;
    return kvq__round_half(value);
}

const kvq__stage_def kvq__stage_nb = {
    .name = "nb", .forms = forms,
    .parse = parse, .format = format, .valid = valid, .resolve = resolve, .present = present,
    .cost = cost, .kernel = kernel,
    .side = side,
};
