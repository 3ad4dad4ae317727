/* test_npy.c — the .npy reader and writer: fixtures written by NumPy 2.4
 * (tests/data/good, see tools/make_corpus.py), headers in every legal form
 * NumPy's rules allow, writer -> reader round trips, atomic writes, exact
 * half-precision conversion, and the tensor helpers. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvq.h"
#include "internal.h"
#include "data/data_internal.h"
#include "tap.h"

/* The fixture value of flat element i (same formula as make_corpus.py). */
static float fixture(size_t i)
{
    return (float)(((long)((37 * i) % 101) - 50) / 8.0);
}

/* 1 if t has the given shape and fixture values. */
static int is_fixture(const kvq_tensor *t, int ndim, const size_t *shape)
{
    if (t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return 0;
    for (size_t i = 0; i < kvq_tensor_numel(t); i++)
        if (t->data[i] != fixture(i))
            return 0;
    return 1;
}

/* Reads tests/data/good/<name>. */
static int read_good(const char *name, kvq_tensor *t, char *err)
{
    const char *top = getenv("top_srcdir");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/good/%s", top ? top : ".", name);
    return kvq__npy_read(path, t, err, 256);
}

/* The NumPy-written fixtures. */
static void test_fixtures(void)
{
    static const struct { const char *file; int ndim; size_t shape[4]; } tab[] = {
        {"f4_2d.npy", 2, {5, 16}}, {"f2_3d.npy", 3, {2, 3, 16}}, {"f8_4d.npy", 4, {1, 2, 4, 16}},
        {"f4_v2.npy", 2, {3, 16}}, {"f4_v3.npy", 2, {3, 16}}, {"f4_0d.npy", 0, {0}},
        {"f4_1d_fortran.npy", 1, {7}}, {"f4_keyorder.npy", 2, {3, 16}}, {"f4_empty.npy", 2, {0, 16}}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        kvq_tensor t;
        char err[256] = "";
        int rc = read_good(tab[i].file, &t, err);
        ok(rc == 0 && is_fixture(&t, tab[i].ndim, tab[i].shape), "fixture %s: shape and values (%s)",
           tab[i].file, err);
        kvq__tensor_clear(&t);
    }
}

/* Builds an .npy image with a v1 header text (padded) and n fixture floats. */
static size_t make_npy(unsigned char *buf, const char *hdr, int pad, size_t n)
{
    size_t hl = strlen(hdr), total = pad ? (10 + hl + 1 + 63) / 64 * 64 : 10 + hl;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((total - 10) & 0xff);
    buf[9] = (unsigned char)((total - 10) >> 8);
    memcpy(buf + 10, hdr, hl);
    if (pad) {
        memset(buf + 10 + hl, ' ', total - 10 - hl - 1);
        buf[total - 1] = '\n';
    }
    for (size_t i = 0; i < n; i++) {
        float f = fixture(i);
        memcpy(buf + total + 4 * i, &f, 4);
    }
    return total + 4 * n;
}

/* Headers in the forms Python's literal syntax allows for NumPy's dict. */
static void test_header_forms(void)
{
    static const struct { const char *hdr; int pad; int ndim; size_t shape[4]; } good[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), }", 1, 2, {2, 16}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16,), }", 1, 2, {2, 16}},
        {"{'shape': (32,), 'descr': '<f4', 'fortran_order': False}", 1, 1, {32}},
        {"{\"fortran_order\": False, \"shape\": (1,2,16), \"descr\": \"<f4\"}", 0, 3, {1, 2, 16}},
        {"{'descr':'<f4','fortran_order':False,'shape':()}\n", 0, 0, {0}},
        {"{\n\t'descr': '<f4',\n\t'fortran_order': False,\n\t'shape': ( 2 , 16 ),\n}", 1, 2, {2, 16}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 16), }", 1, 2, {0, 16}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0, 16), }", 1, 3, {1, 0, 16}},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (32,), }", 1, 1, {32}},
    };
    static const char *bad[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), ,}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 16), }",
        "{'descr': '<f4', 'fortran_order': false, 'shape': (2, 16), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16)",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 16), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), }}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), 'shape': (2, 16)}",
    };
    static unsigned char buf[4096];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        kvq_tensor t;
        char err[256] = "";
        size_t n = 1;
        for (int k = 0; k < good[i].ndim; k++)
            n *= good[i].shape[k];
        size_t len = make_npy(buf, good[i].hdr, good[i].pad, n);
        int rc = kvq__npy_read_mem(buf, len, &t, err, sizeof err);
        ok(rc == 0 && is_fixture(&t, good[i].ndim, good[i].shape), "legal header %zu read (%s)", i, err);
        kvq__tensor_clear(&t);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kvq_tensor t;
        char err[256] = "";
        size_t len = make_npy(buf, bad[i], 1, 32);
        int rc = kvq__npy_read_mem(buf, len, &t, err, sizeof err);
        ok(rc == KVQ_ERR_FORMAT && t.data == NULL && err[0], "bad header %zu rejected: %s", i, err);
        kvq__tensor_clear(&t);
    }
}

/* Writer -> reader round trips, header layout, bit-exact values. */
static void test_round_trip(const char *dir)
{
    static const struct { int ndim; size_t shape[4]; } tab[] = {
        {0, {1}}, {1, {5}}, {2, {3, 16}}, {3, {2, 3, 32}}, {4, {2, 2, 2, 16}}, {2, {0, 16}},
        {2, {1, 1}}, {4, {1, 1, 1, 1}}};
    char path[1024];
    snprintf(path, sizeof path, "%s/rt.npy", dir);
    for (size_t c = 0; c < sizeof tab / sizeof tab[0]; c++) {
        kvq_tensor t = {NULL, tab[c].ndim, {1, 1, 1, 1}}, r;
        char err[256] = "";
        size_t n;
        struct stat st;
        for (int i = 0; i < t.ndim; i++)
            t.shape[i] = tab[c].shape[i];
        n = kvq_tensor_numel(&t);
        t.data = n ? malloc(n * sizeof(float)) : NULL;
        for (size_t i = 0; i < n; i++)      /* include -0, subnormal, large */
            t.data[i] = i % 7 == 3 ? -0.0f : i % 7 == 5 ? 1e-42f : fixture(i) * (i % 2 ? 1e30f : 1.0f);
        int rc = kvq_npy_write(path, &t, err, sizeof err);
        int rc2 = rc ? rc : kvq__npy_read(path, &r, err, sizeof err);
        int same = rc2 == 0 && r.ndim == t.ndim && (n == 0 || !memcmp(r.data, t.data, n * 4));
        for (int i = 0; same && i < 4; i++)
            same = r.shape[i] == t.shape[i];
        ok(same, "round trip of a %d-d tensor with %zu elements (%s)", t.ndim, n, err);
        FILE *f = fopen(path, "rb");
        unsigned char pre[10] = {0};
        size_t hl = 0;
        if (f && fread(pre, 1, 10, f) == 10)
            hl = (size_t)pre[8] | (size_t)pre[9] << 8;
        if (f)
            fclose(f);
        ok(stat(path, &st) == 0 && (10 + hl) % 64 == 0 && (size_t)st.st_size == 10 + hl + 4 * n &&
           (st.st_mode & 0777) == 0644, "header padded to 64 bytes, size exact, mode 0644");
        kvq__tensor_clear(&t);
        kvq__tensor_clear(&r);
    }
}

/* Counts directory entries containing ".tmp.". */
static int temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* Atomic writes: failures leave nothing behind; success replaces. */
static void test_atomic(const char *dir)
{
    float v[32];
    kvq_tensor t = {v, 2, {2, 16, 1, 1}}, r, bad = {NULL, 2, {2, 16, 1, 1}};
    char path[1024], err[256] = "";
    struct stat st;
    for (int i = 0; i < 32; i++)
        v[i] = (float)i;
    snprintf(path, sizeof path, "%s/no/such/dir/x.npy", dir);
    ok(kvq_npy_write(path, &t, err, sizeof err) == KVQ_ERR_IO && stat(path, &st) != 0,
       "write into a missing directory fails with KVQ_ERR_IO (%s)", err);
    snprintf(path, sizeof path, "%s/adir", dir);
    mkdir(path, 0755);
    ok(kvq_npy_write(path, &t, err, sizeof err) == KVQ_ERR_IO && temp_files(dir) == 0,
       "rename onto a directory fails and removes the temporary file (%s)", err);
    rmdir(path);
    snprintf(path, sizeof path, "%s/over.npy", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("old content", f);
        fclose(f);
    }
    ok(kvq_npy_write(path, &t, err, sizeof err) == 0 && kvq__npy_read(path, &r, err, sizeof err) == 0 &&
       r.data[31] == 31.0f && temp_files(dir) == 0, "an existing file is replaced, no temp left");
    kvq__tensor_clear(&r);
    ok(kvq_npy_write(path, &bad, err, sizeof err) == KVQ_ERR_INVALID_ARG &&
       kvq__npy_read(path, &r, err, sizeof err) == 0, "an invalid tensor is refused; old file intact");
    kvq__tensor_clear(&r);
    unlink(path);
    ok(kvq__npy_read(path, &r, err, sizeof err) == KVQ_ERR_IO && strstr(err, "cannot open"),
       "missing file: KVQ_ERR_IO (%s)", err);
    ok(kvq__npy_read(dir, &r, err, sizeof err) == KVQ_ERR_IO && strstr(err, "not a regular file"),
       "a directory: KVQ_ERR_IO (%s)", err);
}

/* Half -> float against the definition (-1)^s 2^(e-15) (1 + m/1024), all 65536. */
static void test_half(void)
{
    int bad = 0, nan_ok = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        float got = kvq__half_to_float((uint16_t)h);
        double want = e == 0 ? ldexp(m, -24) : e == 31 ? INFINITY : ldexp(1024 + m, e - 25);
        if (s)
            want = -want;
        if (e == 31 && m)
            nan_ok &= isnan(got) && (signbit(got) != 0) == s;
        else
            bad += (double)got != want || (signbit(got) != 0) != s;
    }
    ok(bad == 0 && nan_ok, "all 65536 halves convert exactly (%d wrong), NaNs stay NaN", bad);
    ok(kvq__bf16_to_float(0x3f80) == 1.0f && kvq__bf16_to_float(0xc040) == -3.0f &&
       kvq__bf16_to_float(0x0001) == ldexpf(1, -133) && isinf(kvq__bf16_to_float(0xff80)) &&
       isnan(kvq__bf16_to_float(0x7fc1)), "bfloat16: 1, -3, smallest subnormal, -Inf, NaN");
}

/* Tensor helpers: heads view, finiteness message, dim check, padding. */
static void test_helpers(void)
{
    float v[2 * 3 * 4 * 16];
    kvq_tensor t = {v, 4, {2, 3, 4, 16}};
    size_t h, n, d;
    char err[256] = "";
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        v[i] = 1.0f;
    ok(kvq_tensor_as_heads(&t, &h, &n, &d, err, sizeof err) == 0 && h == 6 && n == 4 && d == 16,
       "[2,3,4,16] is 6 heads of 4 x 16");
    v[1 * 192 + 2 * 64 + 3 * 16 + 5] = NAN;
    ok(kvq_tensor_check_finite(&t, err, sizeof err) == KVQ_ERR_NONFINITE &&
       strstr(err, "element 373 (index [1, 2, 3, 5]) is NaN"), "NaN located: %s", err);
    ok(kvq_dim_check(16, err, 64) == 0 && kvq_dim_check(1024, err, 64) == 0 &&
       kvq_dim_check(128, err, 64) == 0 && kvq_dim_check(96, err, 64) == 0 &&
       kvq_dim_check(17, err, 64) == 0 && kvq_dim_check(8, err, 64) == KVQ_ERR_UNSUPPORTED &&
       kvq_dim_check(2048, err, 64) && kvq_dim_check(1025, err, 64) && kvq_dim_check(15, err, 64) &&
       kvq_dim_check(0, err, 64),
       "dim check: 16, 17, 96, 128, 1024 pass; 0, 8, 15, 1025, 2048 fail");
    kvq_tensor p = {malloc(2 * 3 * sizeof(float)), 2, {2, 3, 1, 1}};
    for (int i = 0; i < 6; i++)
        p.data[i] = (float)(i + 1);
    int rc = kvq__tensor_pad_dim(&p, 4);
    static const float want[8] = {1, 2, 3, 0, 4, 5, 6, 0};
    ok(rc == 0 && p.shape[1] == 4 && !memcmp(p.data, want, sizeof want) &&
       kvq__tensor_pad_dim(&p, 2) == KVQ_ERR_INVALID_ARG, "pad_dim zero-fills each row");
    kvq__tensor_clear(&p);
}

/* The .npy loader names the file an error is about. */
static void test_loader(const char *dir)
{
    float v[4 * 16];
    kvq_tensor k = {v, 2, {4, 16, 1, 1}}, q = {v, 3, {1, 4, 16, 1}};
    char kp[1024], vp[1024], qp[1024], err[256] = "";
    const char *bad = NULL;
    kvq_kv kv;
    for (int i = 0; i < 64; i++)
        v[i] = fixture((size_t)i);
    snprintf(kp, sizeof kp, "%s/k.npy", dir);
    snprintf(vp, sizeof vp, "%s/v.npy", dir);
    snprintf(qp, sizeof qp, "%s/q.npy", dir);
    kvq_npy_write(kp, &k, err, sizeof err);
    kvq_npy_write(qp, &q, err, sizeof err);
    int rc = kvq__kv_load_npy(kp, kp, qp, &kv, &bad, err, sizeof err);
    ok(rc == 0 && kv.heads == 1 && kv.keys == 4 && kv.queries == 4 && kv.dim == 16 &&
       kv.q_group == 1 && kv.q.data[63] == v[63], "K, V, Q from .npy ([N,d] and [1,N,d])");
    kvq__kv_clear(&kv);
    rc = kvq__kv_load_npy(kp, vp, NULL, &kv, &bad, err, sizeof err);
    ok(rc == KVQ_ERR_IO && bad && !strcmp(bad, vp), "a missing V file is the one named");
    k.shape[0] = 3;
    kvq_npy_write(vp, &k, err, sizeof err);
    rc = kvq__kv_load_npy(kp, vp, NULL, &kv, &bad, err, sizeof err);
    ok(rc == KVQ_ERR_FORMAT && bad && !strcmp(bad, vp) && strstr(err, "V has 1 heads x 3 vectors"),
       "V with fewer rows than K: V named (%s)", err);
    rc = kvq__kv_load_npy(kp, kp, NULL, &kv, &bad, err, sizeof err);
    ok(rc == 0 && kv.q.data == NULL && kv.queries == 0, "no queries file: Q absent");
    kvq__kv_clear(&kv);
    unlink(kp);
    unlink(vp);
    unlink(qp);
}

int main(void)
{
    char dir[] = "/tmp/kvq_test_npy.XXXXXX";
    char path[1100];
    plan(9 + 9 + 8 + 16 + 6 + 2 + 4 + 4);
    if (!mkdtemp(dir)) {
        diag("mkdtemp failed");
        return 1;
    }
    test_fixtures();
    test_header_forms();
    test_round_trip(dir);
    test_atomic(dir);
    test_half();
    test_helpers();
    test_loader(dir);
    snprintf(path, sizeof path, "%s/rt.npy", dir);
    unlink(path);
    rmdir(dir);
    return exit_status();
}
