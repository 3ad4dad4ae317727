/* workers.h — a parallel loop over independent items on the online cores,
 * for the report's statistics (doc/statistics.md §2). */
#ifndef KVQ_BASE_WORKERS_H
#define KVQ_BASE_WORKERS_H

#include <stddef.h>

/* Calls fn(arg, i) once for every i in [0, n), on up to one thread per
 * online core (the calling thread included), and returns when all are
 * done. Items must be independent and write only their own slots, so the
 * results do not depend on the order in which threads take them. */
void kvq__for_each(size_t n, void (*fn)(void *arg, size_t i), void *arg);

#endif
