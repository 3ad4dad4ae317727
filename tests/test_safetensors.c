/* test_safetensors.c — the .safetensors reader and the K/V/Q loader on
 * fixtures written by the safetensors 0.8 package (F32, F16; BF16 by
 * tools/make_corpus.py), legal JSON variations built here, and every
 * truncation of a valid file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

/* The fixture value of flat element i (same formula as make_corpus.py). */
static float fixture(size_t i)
{
    return (float)(((long)((37 * i) % 101) - 50) / 8.0);
}

/* 1 if t[i] == fixture(first + i) for all i. */
static int values_from(const kvq_tensor *t, size_t first)
{
    for (size_t i = 0; i < kvq_tensor_numel(t); i++)
        if (t->data[i] != fixture(first + i))
            return 0;
    return 1;
}

static char good_dir[1024];

/* Path of a good fixture. */
static const char *good(const char *name)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", good_dir, name);
    return path;
}

/* Reading single tensors of the three fixture files. */
static void test_fixtures(void)
{
    kvq_tensor t;
    char err[256] = "";
    int rc = kvq__safetensors_read(good("kvq_f32.safetensors"), "k", &t, err, sizeof err);
    ok(rc == 0 && t.ndim == 3 && t.shape[0] == 2 && t.shape[1] == 8 && t.shape[2] == 16 &&
       values_from(&t, 0), "F32 k [2,8,16] (%s)", err);
    kvq__tensor_clear(&t);
    rc = kvq__safetensors_read(good("kvq_f32.safetensors"), "q", &t, err, sizeof err);
    ok(rc == 0 && t.shape[0] == 4 && t.shape[1] == 3 && values_from(&t, 512), "F32 q [4,3,16]");
    kvq__tensor_clear(&t);
    rc = kvq__safetensors_read(good("kvq_f16.safetensors"), "layer0.v", &t, err, sizeof err);
    ok(rc == 0 && t.ndim == 2 && t.shape[0] == 8 && values_from(&t, 128), "F16 layer0.v [8,16]");
    kvq__tensor_clear(&t);
    rc = kvq__safetensors_read(good("kvq_f16.safetensors"), "pos", &t, err, sizeof err);
    ok(rc == KVQ_ERR_UNSUPPORTED && strstr(err, "dtype I64"), "I64 tensor refused: %s", err);
    rc = kvq__safetensors_read(good("kvq_bf16.safetensors"), "v", &t, err, sizeof err);
    ok(rc == 0 && t.ndim == 3 && values_from(&t, 256), "BF16 v [2,8,16] (space-padded header)");
    kvq__tensor_clear(&t);
    ok(kvq_safetensors_has(good("kvq_f16.safetensors"), "layer0.k", err, sizeof err) == 1 &&
       kvq_safetensors_has(good("kvq_f16.safetensors"), "q", err, sizeof err) == 0,
       "has(): present and absent names");
}

/* The K/V/Q loader: defaults, name overrides, grouped queries. */
static void test_loader(void)
{
    kvq_kv kv;
    char err[256] = "";
    int rc = kvq__kv_load_safetensors(good("kvq_f32.safetensors"), NULL, NULL, NULL, &kv, err, sizeof err);
    /* q is [4,3,16] for 2 K heads: query heads 2j, 2j+1 belong to K head j, so
     * head 1's queries are q heads 2, 3: flat elements 2*48 .. 4*48 of q. */
    ok(rc == 0 && kv.heads == 2 && kv.keys == 8 && kv.dim == 16 && kv.q_group == 2 &&
       kv.queries == 6 && kv.q.data[6 * 16] == fixture(512 + 96), "F32 set, GQA folded (%s)", err);
    kvq__kv_clear(&kv);
    rc = kvq__kv_load_safetensors(good("kvq_f16.safetensors"), "layer0.k", "layer0.v", NULL, &kv, err,
                                 sizeof err);
    ok(rc == 0 && kv.heads == 1 && kv.keys == 8 && kv.q.data == NULL && kv.queries == 0,
       "F16 [N,d] set by name, no q: queries absent (%s)", err);
    kvq__kv_clear(&kv);
    rc = kvq__kv_load_safetensors(good("kvq_f16.safetensors"), "layer0.k", "layer0.v", "layer0.q", &kv,
                                 err, sizeof err);
    ok(rc == KVQ_ERR_FORMAT && strstr(err, "no tensor named 'layer0.q'"), "explicit q name required: %s",
       err);
    rc = kvq__kv_load_safetensors(good("kvq_bf16.safetensors"), NULL, NULL, NULL, &kv, err, sizeof err);
    ok(rc == 0 && kv.heads == 2 && kv.keys == 8 && kv.k.data[255] == fixture(255), "BF16 set (%s)", err);
    kvq__kv_clear(&kv);
}

/* Builds a file image: 8-byte length, header, n fixture floats. */
static size_t image(unsigned char *buf, const char *hdr, size_t nfloats)
{
    size_t hl = strlen(hdr);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    for (size_t i = 0; i < nfloats; i++) {
        float f = fixture(i);
        memcpy(buf + 8 + hl + 4 * i, &f, 4);
    }
    return 8 + hl + 4 * nfloats;
}

/* Legal JSON the reader must accept, and near misses it must refuse. */
static void test_json_forms(void)
{
    static const struct { const char *hdr; size_t n; const char *name; int ok; size_t rows; } tab[] = {
        /* escapes: "\u006b" is "k"; a name with a surrogate pair and a quote */
        {"{\"\\u006b\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]}}", 32, "k", 1, 2},
        {"{\"\\ud83d\\ude00\\\"x\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]}}", 32,
         "\xf0\x9f\x98\x80\"x", 1, 2},
        /* whitespace everywhere, unknown fields skipped, metadata, key order */
        {" {\n \"__metadata__\" : {\"a\":\"\\n\"} ,\"k\" : { \"data_offsets\" : [ 0 , 128 ] ,"
         "\"extra\":[1,-2.5e3,{\"x\":null},true], \"shape\":[2,16],\"dtype\":\"F32\"}}\t", 32, "k", 0, 0},
        {"{\"__metadata__\":{\"a\":\"\\n\"},\"k\":{\"data_offsets\":[0,128],"
         "\"extra\":[1,-2.5e3,{\"x\":null},true],\"shape\":[2,16],\"dtype\":\"F32\"}}  \n", 32, "k", 1, 2},
        /* zero-size tensors anywhere, a scalar */
        {"{\"e\":{\"dtype\":\"F32\",\"shape\":[0,16],\"data_offsets\":[0,0]},"
         "\"k\":{\"dtype\":\"F32\",\"shape\":[1,16],\"data_offsets\":[0,64]},"
         "\"z\":{\"dtype\":\"F16\",\"shape\":[16,0],\"data_offsets\":[64,64]},"
         "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[64,68]}}", 17, "k", 1, 1},
        {"{\"k\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 1, "k", 1, 0},
        /* sub-byte dtypes are sized in bits: 3 F4 values are 1.5 bytes: invalid */
        {"{\"f\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]},"
         "\"k\":{\"dtype\":\"F32\",\"shape\":[1,16],\"data_offsets\":[2,66]}}", 0, "k", 0, 0},
        /* near misses */
        {"{\"k\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]},}", 32, "k", 0, 0},
        {"{\"k\":{\"dtype\":\"F32\",\"shape\":[2,16,],\"data_offsets\":[0,128]}}", 32, "k", 0, 0},
        {"{\"k\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128],}}", 32, "k", 0, 0},
        {"{'k':{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]}}", 32, "k", 0, 0},
        {"{\"k\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]}}{}", 32, "k", 0, 0},
        {"{\"k\":{\"dtype\":\"F32\",\"shape\":[2,+16],\"data_offsets\":[0,128]}}", 32, "k", 0, 0},
        {"{\"k\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]},\"__metadata__\":[]}", 32,
         "k", 0, 0},
    };
    static unsigned char buf[4096];
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        kvq_tensor t;
        char err[256] = "";
        size_t len = image(buf, tab[i].hdr, tab[i].n);
        int rc = kvq__safetensors_read_mem(buf, len, tab[i].name, &t, err, sizeof err);
        if (tab[i].ok)
            ok(rc == 0 && (tab[i].rows ? t.shape[0] == tab[i].rows && t.shape[1] == 16 : t.ndim == 0) &&
               values_from(&t, 0), "legal header %zu read (%s)", i, err);
        else
            ok(rc == KVQ_ERR_FORMAT && t.data == NULL, "malformed header %zu rejected: %s", i, err);
        kvq__tensor_clear(&t);
    }
}

/* Writes a file image to a temporary path (returned, static); NULL on failure. */
static const char *image_file(const char *hdr, size_t nfloats)
{
    static unsigned char buf[4096];
    static char path[] = "/tmp/kvq-st-meta.XXXXXX";
    size_t len = image(buf, hdr, nfloats);
    strcpy(path + strlen(path) - 6, "XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int good = f && fwrite(buf, 1, len, f) == len;
    if (f)
        good &= fclose(f) == 0;
    return good ? path : NULL;
}

/* "__metadata__" values (kvq__safetensors_meta), tools/export_kv.py's layer
 * names (kvq__safetensors_layers) and the recorded sharpness and causal flag
 * (kvq__kv_meta_read). Expected values are the literals written into the
 * headers; é is U+00E9 = UTF-8 c3 a9. */
static void test_metadata(void)
{
    static const char *t1 = "\"k\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]}}";
    static unsigned char buf[4096];
    char hdr[1024], err[256] = "", *v = NULL;
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"causal\":\"1\",\"layer3.sharpness\":\"2.5\","
             "\"name\":\"caf\\u00e9\"},%s", t1);
    size_t len = image(buf, hdr, 32);
    int rc = kvq__safetensors_meta_mem(buf, len, "causal", &v, err, sizeof err);
    ok(rc == 1 && v && !strcmp(v, "1"), "metadata: causal = \"1\" (%s)", err);
    free(v);
    rc = kvq__safetensors_meta_mem(buf, len, "name", &v, err, sizeof err);
    ok(rc == 1 && v && !strcmp(v, "caf\xc3\xa9"), "metadata: \\u00e9 unescaped to UTF-8");
    free(v);
    rc = kvq__safetensors_meta_mem(buf, len, "rope", &v, err, sizeof err);
    ok(rc == 0 && v == NULL, "metadata: absent key → 0, NULL");
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"a\":\"x\\u0000y\"},%s", t1);
    len = image(buf, hdr, 32);
    rc = kvq__safetensors_meta_mem(buf, len, "a", &v, err, sizeof err);
    ok(rc == KVQ_ERR_FORMAT && v == NULL && strstr(err, "NUL"), "metadata: a NUL in a value refused: %s", err);
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"},%s", t1);
    len = image(buf, hdr, 32);
    rc = kvq__safetensors_meta_mem(buf, len, "b", &v, err, sizeof err);
    ok(rc == KVQ_ERR_FORMAT && strstr(err, "duplicate key 'a'"), "metadata: duplicate key refused: %s", err);
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"a\":\"1\"},%s", t1);
    len = image(buf, hdr, 31);   /* one float short: the layout check fails */
    rc = kvq__safetensors_meta_mem(buf, len, "a", &v, err, sizeof err);
    ok(rc == KVQ_ERR_FORMAT && v == NULL, "metadata: the whole header is validated first: %s", err);

    /* Layer names: layer2 and layer10 count; layer02 (leading zero), layerx.k,
     * layer7.v alone and "k" do not. Zero-size tensors keep the layout trivial. */
    static const char *names[] = {"layer10.k", "layer2.k", "layer2.v", "layer02.k", "layerx.k",
                                  "layer7.v", "k"};
    size_t used = (size_t)snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"causal\":\"yes\","
                                   "\"layer2.sharpness\":\"-1\",\"layer10.sharpness\":\"0.5\"}");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        used += (size_t)snprintf(hdr + used, sizeof hdr - used,
                                 ",\"%s\":{\"dtype\":\"F32\",\"shape\":[0,16],\"data_offsets\":[0,0]}",
                                 names[i]);
    snprintf(hdr + used, sizeof hdr - used, "}");
    const char *path = image_file(hdr, 0);
    int layers[8] = {0};
    size_t n = 0;
    rc = path ? kvq__safetensors_layers(path, layers, 8, &n, err, sizeof err) : -1;
    ok(rc == 0 && n == 2 && layers[0] == 2 && layers[1] == 10, "layers: {2, 10} from the names (%s)",
       err);
    kvq__kv_meta m;
    rc = path ? kvq__kv_meta_read(path, 10, &m, err, sizeof err) : -1;
    ok(rc == KVQ_ERR_FORMAT && strstr(err, "'causal'"), "meta: causal \"yes\" refused: %s", err);
    rc = path ? kvq__kv_meta_read(path, 2, &m, err, sizeof err) : -1;
    ok(rc == KVQ_ERR_FORMAT && strstr(err, "layer2.sharpness"), "meta: sharpness -1 refused: %s", err);
    if (path)
        remove(path);
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"causal\":\"0\",\"layer4.sharpness\":\"1.25\"},%s",
             t1);
    path = image_file(hdr, 32);
    rc = path ? kvq__kv_meta_read(path, 4, &m, err, sizeof err) : -1;
    int got4 = rc == 0 && m.sharpness == 1.25 && m.causal == 0;
    rc = path ? kvq__kv_meta_read(path, 5, &m, err, sizeof err) : -1;
    ok(got4 && rc == 0 && isnan(m.sharpness) && m.causal == 0,
       "meta: layer 4 τ 1.25, causal 0; layer 5 has no τ (%s)", err);
    if (path)
        remove(path);
}

/* Every proper prefix of a valid file is rejected without a crash. */
static void test_truncations(void)
{
    FILE *f = fopen(good("kvq_f32.safetensors"), "rb");
    static unsigned char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0, rejected = 0;
    if (f)
        fclose(f);
    for (size_t len = 0; len < n; len++) {
        kvq_tensor t;
        char err[256];
        rejected += kvq__safetensors_read_mem(buf, len, "k", &t, err, sizeof err) == KVQ_ERR_FORMAT;
        kvq__tensor_clear(&t);
    }
    ok(n > 1000 && rejected == n, "all %zu truncations rejected (%zu)", n, rejected);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(good_dir, sizeof good_dir, "%s/tests/data/good", top ? top : ".");
    plan(6 + 4 + 14 + 10 + 1);
    test_fixtures();
    test_loader();
    test_json_forms();
    test_metadata();
    test_truncations();
    return exit_status();
}
