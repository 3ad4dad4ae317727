/* stages.c — the table of stage kinds (a codec applies them in this order)
 * and the helpers every stage file shares. */
#include <ctype.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "core/stage.h"

/* Rotation first (MSE quantizes in the rotated domain), then the payload
 * stages, then the stages that rewrite side values: nc and eden before nb,
 * so that the rescaled norm is what gets rounded. */
const kvq__stage_def *const kvq__stages[] = {
    &kvq__stage_rotation, &kvq__stage_mse, &kvq__stage_qjl, &kvq__stage_format, &kvq__stage_nc,
    &kvq__stage_eden,
    &kvq__stage_nb, &kvq__stage_out,
};
const size_t kvq__stage_count = sizeof kvq__stages / sizeof kvq__stages[0];

int kvq__stage_store_side(const kvq_codec *c, int slot, double value, const kvq__stage_vec *v,
                         float *out)
{
    for (int i = 0; i < c->nstages; i++)
        if (c->stages[i]->side)
            value = c->stages[i]->side(c, slot, value, v);
    *out = (float)value;
    return isfinite(*out) ? 0 : KVQ_ERR_UNSUPPORTED;
}

void kvq__stage_cost_sum(const kvq_codec_spec *s, int dim, kvq__stage_cost *c)
{
    memset(c, 0, sizeof *c);
    if (s->out_channels) {
        kvq__out_cost(s, dim, c);
        return;
    }
    for (size_t i = 0; i < kvq__stage_count; i++) {
        const kvq__stage_def *d = kvq__stages[i];
        if (d->cost && d->present(s))
            d->cost(s, dim, c);
    }
}

int kvq__stage_token_is(const char *tok, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (tolower((unsigned char)tok[i]) != tolower((unsigned char)word[i]))
            return 0;
    return i == n && word[i] == '\0';
}

int kvq__stage_flag_parse(const char *tok, size_t n, const char *word, int *flag, int conflict,
                          const char *clash, const char **why)
{
    if (!kvq__stage_token_is(tok, n, word))
        return KVQ_STAGE_NOMATCH;
    if (conflict) {
        *why = clash;
        return KVQ_ERR_BAD_SPEC;
    }
    *flag = 1;
    return 0;
}

void kvq__stage_flag_format(int flag, const char *word, char *buf, size_t len)
{
    snprintf(buf, len, "%s", flag ? word : "");
}

long kvq__stage_count_arg(const char *t, size_t n)
{
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)t[i]))
            return -1;
        v = 10 * v + (t[i] - '0');
    }
    return v;
}
