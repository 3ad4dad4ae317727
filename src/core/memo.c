/* memo.c — realized random matrices shared by the codecs of a trial
 * (doc/quantization.md §5.9). A QJL matrix S or a dense Haar rotation is a
 * pure function of its key (seed, purpose, trial, shape, kind), and every
 * scheme of a trial asks for the same few: the memo hands out one
 * reference-counted copy per key instead of drawing it again for each codec.
 * The blocks no codec holds stay, newest first, within a count and a byte
 * bound, so that the next scheme of the trial still finds them. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

typedef struct entry {
    struct entry *prev, *next;  /* all entries, most recently released first */
    kvq__memo_key key;
    size_t bytes;
    int refs;                   /* codecs holding it; 0 = idle */
    max_align_t data[];         /* the block handed out */
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *head;
static size_t idle_count, idle_bytes;

static entry *entry_of(const void *p)
{
    return (entry *)(void *)((char *)(uintptr_t)p - offsetof(entry, data));
}

static int key_eq(const kvq__memo_key *a, const kvq__memo_key *b)
{
    return a->seed == b->seed && a->purpose == b->purpose && a->trial == b->trial &&
           a->rows == b->rows && a->cols == b->cols && a->kind == b->kind;
}

static void unlink_entry(entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(entry *e)
{
    e->prev = NULL;
    e->next = head;
    if (head)
        head->prev = e;
    head = e;
}

/* The entry of key k with a reference taken, or NULL; under the lock. */
static entry *find_ref(const kvq__memo_key *k)
{
    for (entry *e = head; e; e = e->next)
        if (key_eq(&e->key, k)) {
            if (e->refs++ == 0) {
                idle_count--;
                idle_bytes -= e->bytes;
            }
            return e;
        }
    return NULL;
}

/* Frees the oldest idle entries while over either bound; under the lock. */
static void trim(void)
{
    entry *e = head;
    while (e && e->next)
        e = e->next;
    while (e && (idle_count > KVQ__MEMO_IDLE_MAX || idle_bytes > KVQ__MEMO_IDLE_BYTES)) {
        entry *prev = e->prev;
        if (e->refs == 0) {
            unlink_entry(e);
            idle_count--;
            idle_bytes -= e->bytes;
            free(e);
        }
        e = prev;
    }
}

int kvq__memo_acquire(const kvq__memo_key *k, size_t bytes, kvq__memo_make make,
                      const void **out)
{
    *out = NULL;
    pthread_mutex_lock(&lock);
    entry *e = find_ref(k);
    pthread_mutex_unlock(&lock);
    if (e) {
        *out = e->data;
        return 0;
    }
    /* made outside the lock, so that a long draw (Gram–Schmidt at d = 1024)
     * holds up no other thread; a thread that raced us to the same key
     * made the same numbers, and the first one in is kept */
    entry *mine = malloc(sizeof *mine + bytes);
    if (!mine)
        return KVQ_ERR_NOMEM;
    memset(mine, 0, sizeof *mine);
    mine->key = *k;
    mine->bytes = bytes;
    mine->refs = 1;
    int st = make(k, mine->data);
    if (st) {
        free(mine);
        return st;
    }
    pthread_mutex_lock(&lock);
    if ((e = find_ref(k)) == NULL)
        push_front(e = mine);
    pthread_mutex_unlock(&lock);
    if (e != mine)
        free(mine);
    *out = e->data;
    return 0;
}

void kvq__memo_release(const void *p)
{
    if (!p)
        return;
    entry *e = entry_of(p);
    pthread_mutex_lock(&lock);
    if (--e->refs == 0) {
        unlink_entry(e);
        if (e->bytes > KVQ__MEMO_IDLE_BYTES) {    /* would only push every other block out */
            pthread_mutex_unlock(&lock);
            free(e);
            return;
        }
        push_front(e);
        idle_count++;
        idle_bytes += e->bytes;
        trim();
    }
    pthread_mutex_unlock(&lock);
}

size_t kvq__memo_idle(size_t *bytes)
{
    pthread_mutex_lock(&lock);
    size_t n = idle_count;
    if (bytes)
        *bytes = idle_bytes;
    pthread_mutex_unlock(&lock);
    return n;
}
