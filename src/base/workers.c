/* workers.c — kvq__for_each: threads take the next item from a shared
 * counter until none is left (doc/statistics.md §2). */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "base/workers.h"

/* More threads than this buy nothing for a few hundred bootstraps. */
#define KVQ_WORKERS_MAX 16

typedef struct loop {
    void (*fn)(void *, size_t);
    void *arg;
    size_t n;
    atomic_size_t next;
} loop;

static void *take_items(void *p)
{
    loop *l = p;
    for (size_t i; (i = atomic_fetch_add(&l->next, 1)) < l->n;)
        l->fn(l->arg, i);
    return NULL;
}

void kvq__for_each(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
    loop l = {.fn = fn, .arg = arg, .n = n};
    atomic_init(&l.next, 0);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = cores > 1 ? (size_t)cores : 1;
    if (want > KVQ_WORKERS_MAX)
        want = KVQ_WORKERS_MAX;
    if (want > n)
        want = n;
    pthread_t th[KVQ_WORKERS_MAX];
    size_t started = 0;
    /* a thread that cannot start leaves its share to the others */
    for (; started + 1 < want; started++)
        if (pthread_create(&th[started], NULL, take_items, &l))
            break;
    take_items(&l);
    for (size_t t = 0; t < started; t++)
        pthread_join(th[t], NULL);
}
