/* test_memo.c — the realized matrices a trial's codecs share
 * (doc/quantization.md §5.9).
 *
 * 1. Two codecs of one key (seed, tensor, trial, m, d, kind) hold the same S,
 *    and S is, bit for bit, the QJL stream drawn here by the stream's own
 *    definition (S[i][j] = normal i·d + j, doc/quantization.md §2.4) — so a
 *    shared S that another codec had written over, or one made for another
 *    key, fails.
 * 2. Another trial, tensor, seed or m gives another S (its own pointer and
 *    other numbers): a key that left any of them out would share wrongly.
 * 3. sqjl's S is √d times the dense Haar rotation of the SQJL stream; dense
 *    rotations of one key share their matrix, of another trial do not.
 * 4. Freeing in any order: codecs destroyed in several orders while others
 *    still hold S keep reading the stream's numbers (ASan/valgrind see the
 *    rest); a key with no holder left is still found (idle), and the idle
 *    blocks stay within the count and byte bounds.
 * 5. Threads that ask for one key at once all get one block with the right
 *    numbers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

enum { D = 64, THREADS = 8 };
static const uint64_t seed = 4242;

/* A Gaussian-QJL codec (wht, MSE(2), qjl<m>) of tensor t, trial tr. */
static kvq_codec *qjl_codec(uint64_t sd, int t, uint32_t tr, int m, int sqjl)
{
    kvq_codec_spec s = {.rotation = KVQ_ROT_WHT, .mse_bits = 2, .qjl = 1, .qjl_m = m,
                        .sqjl = sqjl};
    kvq_codec *c = NULL;
    return kvq_codec_create(&c, &s, D, sd, t, tr) == 0 ? c : NULL;
}

/* 1 if codec c's S equals the QJL stream of (sd, t, tr), m rows. */
static int is_stream(const kvq_codec *c, uint64_t sd, int t, uint32_t tr, int m)
{
    size_t n = (size_t)m * D;
    float *want = malloc(n * sizeof *want);
    const float *S = c ? kvq__codec_qjl_matrix(c) : NULL;
    int same = want && S;
    if (same) {
        kvq__rng_fill_normal(sd, t ? KVQ_RNG_QJL_V : KVQ_RNG_QJL_K, tr, 0, want, n);
        same = memcmp(S, want, n * sizeof *want) == 0;
    }
    free(want);
    return same;
}

/* 1 if S of a and b differ both as blocks and in their numbers. */
static int differ(const kvq_codec *a, const kvq_codec *b)
{
    const float *sa = kvq__codec_qjl_matrix(a), *sb = kvq__codec_qjl_matrix(b);
    return sa != sb && memcmp(sa, sb, (size_t)D * D * sizeof *sa) != 0;
}

static void test_shared(void)
{
    kvq_codec *a = qjl_codec(seed, 1, 3, 0, 0), *b = qjl_codec(seed, 1, 3, 0, 0);
    kvq_codec_spec s4 = {.rotation = KVQ_ROT_WHT, .mse_bits = 4, .qjl = 1};
    kvq_codec *c = NULL;
    kvq_codec_create(&c, &s4, D, seed, 1, 3);       /* another scheme, same S */
    ok(a && b && c && kvq__codec_qjl_matrix(a) == kvq__codec_qjl_matrix(b) &&
           kvq__codec_qjl_matrix(a) == kvq__codec_qjl_matrix(c),
       "codecs of one key (and another MSE width) share one S");
    ok(is_stream(a, seed, 1, 3, D) && is_stream(c, seed, 1, 3, D),
       "the shared S is the QJL_V stream of trial 3, bit for bit");

    kvq_codec *tr = qjl_codec(seed, 1, 4, 0, 0), *ten = qjl_codec(seed, 0, 3, 0, 0);
    kvq_codec *sd = qjl_codec(seed + 1, 1, 3, 0, 0), *m = qjl_codec(seed, 1, 3, D / 2, 0);
    ok(tr && differ(a, tr) && is_stream(tr, seed, 1, 4, D), "another trial: another S");
    ok(ten && differ(a, ten) && is_stream(ten, seed, 0, 3, D), "another tensor: another S");
    ok(sd && differ(a, sd) && is_stream(sd, seed + 1, 1, 3, D), "another seed: another S");
    ok(m && kvq__codec_qjl_matrix(m) != kvq__codec_qjl_matrix(a) &&
           is_stream(m, seed, 1, 3, D / 2), "another m: its own S (the stream's first m rows)");
    kvq_codec *g = qjl_codec(seed, 1, 3, 0, 1);
    ok(g && differ(a, g), "sqjl and qjl of one tensor and trial do not share");
    kvq_codec *list[] = {a, b, c, tr, ten, sd, m, g};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        kvq_codec_destroy(list[i]);
}

static void test_dense(void)
{
    kvq_codec *a = qjl_codec(seed, 0, 7, 0, 1), *b = qjl_codec(seed, 0, 7, 0, 1);
    kvq_rotation *q = NULL, *q2 = NULL, *other = NULL;
    kvq_rotation_create(&q, KVQ_ROT_DENSE, D, seed, KVQ_RNG_SQJL_K, 7);
    kvq_rotation_create(&q2, KVQ_ROT_DENSE, D, seed, KVQ_RNG_SQJL_K, 7);
    kvq_rotation_create(&other, KVQ_ROT_DENSE, D, seed, KVQ_RNG_SQJL_K, 8);
    ok(a && b && kvq__codec_qjl_matrix(a) == kvq__codec_qjl_matrix(b),
       "sqjl codecs of one key share S");
    int scaled = a && q;
    for (size_t i = 0; scaled && i < (size_t)D * D; i++)
        scaled = kvq__codec_qjl_matrix(a)[i] == (float)(8.0 * kvq__rotation_matrix(q)[i]);
    ok(scaled, "sqjl's S is √d·Q of the SQJL_K stream's Haar rotation, bit for bit");
    ok(q && q2 && other && kvq__rotation_matrix(q) == kvq__rotation_matrix(q2) &&
           kvq__rotation_matrix(q) != kvq__rotation_matrix(other) &&
           memcmp(kvq__rotation_matrix(q), kvq__rotation_matrix(other),
                  (size_t)D * D * sizeof(double)) != 0,
       "dense rotations share their matrix within a key, not across trials");
    kvq_rotation_destroy(q);
    kvq_codec_destroy(b);
    kvq_rotation_destroy(other);
    kvq_codec_destroy(a);
    kvq_rotation_destroy(q2);
}

/* Destroys codecs sharing one S in the order given, checking the holders
 * left after each; 1 if every check held. */
static int free_in_order(const int order[4])
{
    kvq_codec *c[4];
    int good = 1;
    for (int i = 0; i < 4; i++)
        good &= (c[i] = qjl_codec(seed, 0, 11, 0, 0)) != NULL;
    for (int k = 0; k < 4 && good; k++) {
        kvq_codec_destroy(c[order[k]]);
        c[order[k]] = NULL;
        for (int i = 0; i < 4; i++)
            if (c[i])
                good &= is_stream(c[i], seed, 0, 11, D);
    }
    for (int i = 0; i < 4; i++)
        kvq_codec_destroy(c[i]);
    return good;
}

/* A maker that only clears its block (the byte bound's test). */
static int zeros(const kvq__memo_key *k, void *out)
{
    memset(out, 0, (size_t)k->rows * k->cols * sizeof(float));
    return 0;
}

static void test_free_order(void)
{
    static const int orders[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}};
    int good = 1;
    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++)
        good &= free_in_order(orders[o]);
    ok(good, "destroying the holders of one S in any order leaves the others intact");

    kvq_codec *a = qjl_codec(seed, 0, 12, 0, 0);
    const float *was = a ? kvq__codec_qjl_matrix(a) : NULL;
    kvq_codec_destroy(a);
    a = qjl_codec(seed, 0, 12, 0, 0);
    ok(a && kvq__codec_qjl_matrix(a) == was && is_stream(a, seed, 0, 12, D),
       "an S with no holder left is kept for the trial's next codec");
    kvq_codec_destroy(a);

    for (uint32_t t = 100; t < 100 + 2 * KVQ__MEMO_IDLE_MAX; t++)
        kvq_codec_destroy(qjl_codec(seed, 0, t, 0, 0));
    size_t bytes, n = kvq__memo_idle(&bytes);
    ok(n == KVQ__MEMO_IDLE_MAX, "idle blocks stay at the count bound (%zu)", n);

    /* blocks of 40 % of the byte bound: two fit, a third pushes the oldest out */
    size_t big = KVQ__MEMO_IDLE_BYTES / 5 * 2;
    int good_big = 1;
    for (uint32_t t = 0; t < 3; t++) {
        kvq__memo_key k = {seed, KVQ_RNG_TEST, t, 1, (int)(big / sizeof(float)), KVQ__MEMO_GAUSS};
        const void *p;
        good_big &= kvq__memo_acquire(&k, big, zeros, &p) == 0;
        kvq__memo_release(p);
    }
    n = kvq__memo_idle(&bytes);
    ok(good_big && bytes <= KVQ__MEMO_IDLE_BYTES && bytes >= 2 * big,
       "idle bytes stay within the byte bound (%zu blocks, %zu bytes)", n, bytes);
}

typedef struct job {
    const float *S;
    kvq_codec *c;
} job;

static void *take(void *arg)
{
    job *j = arg;
    j->c = qjl_codec(seed, 1, 31, 0, 0);
    j->S = j->c ? kvq__codec_qjl_matrix(j->c) : NULL;
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[THREADS];
    job jobs[THREADS] = {{0}};
    int started = 0, good = 1;
    for (; started < THREADS; started++)
        if (pthread_create(&th[started], NULL, take, &jobs[started]))
            break;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < started; i++)
        good &= jobs[i].S && jobs[i].S == jobs[0].S && is_stream(jobs[i].c, seed, 1, 31, D);
    ok(started == THREADS && good, "%d threads at once get one S with the stream's numbers",
       started);
    for (int i = 0; i < started; i++)
        kvq_codec_destroy(jobs[i].c);
}

int main(void)
{
    plan(15);
    test_shared();
    test_dense();
    test_free_order();
    test_threads();
    return exit_status();
}
