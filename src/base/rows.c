/* rows.c — row sources (rows.h). */
#include "base/rows.h"

kvq__rows kvq__rows_memory(const float *data, size_t count, int dim)
{
    kvq__rows r = {.count = count, .dim = dim, .data = data, .read = NULL};
    return r;
}

const float *kvq__rows_get(const kvq__rows *r, size_t j0, size_t n, float *stage, int *status)
{
    *status = 0;
    if (r->data)
        return r->data + j0 * (size_t)r->dim;
    if ((*status = r->read(r, j0, n, stage)) != 0)
        return NULL;
    return stage;
}
