/* rows.h — where the rows of a K or V tensor come from, for work done in
 * key chunks (doc/scaling.md §6): straight from memory, or produced on
 * demand (a synthetic source, a file read piece by piece), so that a long
 * context never has to be whole in host memory. */
#ifndef KVQ_ROWS_H
#define KVQ_ROWS_H

#include <stddef.h>

typedef struct kvq__rows kvq__rows;
struct kvq__rows {
    size_t count;               /* rows */
    int dim;                    /* floats per row */
    const float *data;          /* count × dim in memory, or NULL: ask read */
    /* Writes rows [j0, j0 + n) to dst (n × dim floats); a status. */
    int (*read)(const kvq__rows *r, size_t j0, size_t n, float *dst);
};

/* Rows that are count × dim floats at data. */
kvq__rows kvq__rows_memory(const float *data, size_t count, int dim);
/* Rows [j0, j0 + n): a pointer into memory rows, else read into stage
 * (n × dim floats) and stage; NULL with *status set on failure. */
const float *kvq__rows_get(const kvq__rows *r, size_t j0, size_t n, float *stage, int *status);

#endif
