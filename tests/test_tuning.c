/* test_tuning.c — the CLBlast tuning cache (doc/scaling.md §7): the parser
 * of the tuners' JSON on a real output and on malformed ones, the cache
 * file's round trip and its malformed forms, the file's place and name.
 *
 * tests/data/tune/clblast_xgemm_direct_1_32.json is real: written by
 * `clblast_tuner_xgemm_direct -platform 0 -device 0 -precision 32 -m 64
 * -n 64 -k 64 -fraction 0.003 -runs 1` (clblast-utils 1.5.3, PoCL 3.1 on
 * the project machine), its first phase (46 configurations; the tuner was
 * stopped in its second); the expected best parameters below
 * were read off its "best_parameters" line by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "base/tuning.h"

#define REAL "tests/data/tune/clblast_xgemm_direct_1_32.json"

static const char *const best_names[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                         "PADA", "PADB", "VWMD", "VWND", "WGD"};
static const size_t best_values[] = {2, 16, 16, 8, 8, 1, 1, 2, 1, 32};
#define NBEST (sizeof best_values / sizeof best_values[0])

static void test_real_output(void)
{
    const char *top = getenv("top_srcdir");
    char path[1024], err[256] = "", *text = NULL;
    size_t len = 0;
    kvq__tune_kernel k;
    snprintf(path, sizeof path, "%s/%s", top ? top : ".", REAL);
    int rc = kvq__tune_read_file(path, KVQ__TUNE_TUNER_BYTES, &text, &len, err, sizeof err);
    ok(rc == 0, "reads %s (%s)", REAL, err);
    rc = rc ? rc : kvq__tune_parse_tuner(text, len, &k, err, sizeof err);
    ok(rc == 0, "parses the real tuner output (%s)", err);
    if (rc == 0) {
        int same = k.nparams == NBEST;
        for (size_t i = 0; same && i < NBEST; i++)
            same = !strcmp(k.name[i], best_names[i]) && k.value[i] == best_values[i];
        ok(same, "its best parameters, PRECISION dropped");
        ok(!strcmp(k.kind->kernel, "XgemmDirect"), "family xgemm_direct_1 is XgemmDirect");
        ok(k.best_ms == 0.07 && k.m == 64 && k.n == 64 && k.k == 64, "best time and size");
    } else
        skip(3, "no parse");
    free(text);
}

typedef struct refusal {
    const char *text, *why;
} refusal;

static int parse_tuner(const char *text, size_t len, char *err, size_t errlen)
{
    kvq__tune_kernel k;
    return kvq__tune_parse_tuner(text, len, &k, err, errlen);
}

static int parse_cache(const char *text, size_t len, char *err, size_t errlen)
{
    kvq__tune_set s;
    return kvq__tune_parse_cache(text, len, &s, err, errlen);
}

/* Each input is refused with a message that contains its why. */
static void refused(const refusal *bad, size_t n, int (*parse)(const char *, size_t, char *, size_t),
                    const char *what)
{
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        int rc = parse(bad[i].text, strlen(bad[i].text), err, sizeof err);
        ok(rc == -1 && strstr(err, bad[i].why), "bad %s %zu refused: %s", what, i, err);
    }
}

/* A minimal tuner output with one member replaced. */
static const char base_json[] =
    "{\"kernel_family\": \"xgemm_direct_2\", \"precision\": \"32\", \"best_time\": \"1.5\",\n"
    " \"best_parameters\": \"WGD=32 PRECISION=32 KWID=2\", \"results\": [{\"a\": [1, -2.5e3, "
    "true, null]}]}";

static void test_bad_tuner(void)
{
    static const refusal bad[] = {
        {"", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{\"kernel_family\": \"xgemm\"", "expected ',' or '}'"},
        {"{\"precision\": \"32\"}", "no \"kernel_family\""},
        {"{\"kernel_family\": \"xgemv\", \"precision\": \"32\", \"best_time\": \"1\", "
         "\"best_parameters\": \"A=1\"}", "not a kernel kvq tunes"},
        {"{\"kernel_family\": \"xgemm\", \"precision\": \"64\", \"best_time\": \"1\", "
         "\"best_parameters\": \"A=1\"}", "precision is not 32"},
        {"{\"kernel_family\": \"xgemm\", \"precision\": \"32\", \"best_time\": \"-1\", "
         "\"best_parameters\": \"A=1\"}", "best_time"},
        {"{\"kernel_family\": \"xgemm\", \"precision\": \"32\", \"best_time\": \"1\", "
         "\"best_parameters\": \"A=1 A=2\"}", "given twice"},
        {"{\"kernel_family\": \"xgemm\", \"precision\": \"32\", \"best_time\": \"1\", "
         "\"best_parameters\": \"a=1\"}", "upper-case"},
        {"{\"kernel_family\": \"xgemm\", \"precision\": \"32\", \"best_time\": \"1\", "
         "\"best_parameters\": \"A=99999999\"}", "whole number"},
        {"{\"kernel_family\": \"xgemm\", \"precision\": \"32\", \"best_time\": \"1\", "
         "\"best_parameters\": \"A=1  B=2\"}", "single spaces"},
        {"{\"kernel_family\": \"xgemm\", \"precision\": \"32\", \"best_time\": \"1\", "
         "\"best_parameters\": \"PRECISION=64\"}", "only fp32"},
        {"{\"kernel_family\": \"xgemm\", \"kernel_family\": \"xgemm\"}", "given twice"},
        {"{\"kernel_family\": 3}", "not a string"},
        {"{\"kernel_family\": \"x\\u0041\"}", "has escapes"},
        {"{\"a\": [[[[[[[[[[1]]]]]]]]]]}", "nested too deeply"},
        {"{\"a\": 01}", "expected ',' or '}'"},
        {"{\"a\": \"x\ty\"}", "control character"},
        {"{\"a\": tru}", "expected a value"},
        {"{} x", "text after the object"},
    };
    refused(bad, sizeof bad / sizeof bad[0], parse_tuner, "tuner output");
    kvq__tune_kernel k;
    char err[256] = "";
    int rc = kvq__tune_parse_tuner(base_json, sizeof base_json - 1, &k, err, sizeof err);
    ok(rc == 0 && k.nparams == 2 && k.best_ms == 1.5 && !strcmp(k.name[1], "KWID"),
       "a minimal output with nested results parses (%s)", err);
    /* the parser never reads past len: a cut copy of a good input is refused */
    char *cut = malloc(sizeof base_json - 1);
    memcpy(cut, base_json, sizeof base_json - 1);
    int all = 1;
    for (size_t n = 0; n + 1 < sizeof base_json; n++)
        all &= kvq__tune_parse_tuner(cut, n, &k, err, sizeof err) == -1;
    ok(all, "every proper prefix of a good output is refused");
    free(cut);
}

static void fill(kvq__tune_set *s)
{
    kvq__tune_kernel k;
    char err[256];
    memset(s, 0, sizeof *s);
    snprintf(s->device, sizeof s->device, "pthread-skylake-avx512-Intel(R) Xeon(R) Processor");
    snprintf(s->driver, sizeof s->driver, "3.1+debian");
    kvq__tune_parse_tuner(base_json, sizeof base_json - 1, &k, err, sizeof err);
    kvq__tune_set_put(s, &k);
}

static void test_cache_round_trip(void)
{
    kvq__tune_set a, b;
    char *buf = NULL, err[256] = "";
    size_t len = 0;
    fill(&a);
    FILE *f = open_memstream(&buf, &len);
    int rc = kvq__tune_write_cache(f, &a);
    fclose(f);
    ok(rc == 0, "writes a cache");
    ok(!strcmp(buf, "kvq-clblast-tune 1\ndevice pthread-skylake-avx512-Intel(R) Xeon(R) "
                    "Processor\ndriver 3.1+debian\nkernel XgemmDirect WGD=32 KWID=2\n"),
       "the cache text");
    rc = kvq__tune_parse_cache(buf, len, &b, err, sizeof err);
    ok(rc == 0 && b.nkernels == 1 && !strcmp(b.device, a.device) &&
           !strcmp(b.driver, a.driver) && b.kernel[0].kind == a.kernel[0].kind &&
           b.kernel[0].nparams == 2 && b.kernel[0].value[0] == 32,
       "reads back what it wrote (%s)", err);
    free(buf);
    snprintf(a.device, sizeof a.device, "two\nlines");
    f = fopen("/dev/null", "w");
    ok(kvq__tune_write_cache(f, &a) == -1, "a device name with a newline is not written");
    fclose(f);
}

static void test_bad_cache(void)
{
    static const refusal bad[] = {
        {"", "empty file"},
        {"kvq-clblast-tune 2\n", "line 1: not a kvq tuning cache"},
        {"kvq-clblast-tune 1", "line 1: no newline"},
        {"kvq-clblast-tune 1\n", "needs a 'device'"},
        {"kvq-clblast-tune 1\ndevice a\ndriver b\n", "at least one 'kernel'"},
        {"kvq-clblast-tune 1\ndevice a\ndevice a\n", "line 3: 'device' given twice"},
        {"kvq-clblast-tune 1\ndevice a\r\n", "line 2: control character"},
        {"kvq-clblast-tune 1\ncolour blue\n", "line 2: expected 'device'"},
        {"kvq-clblast-tune 1\nkernel Xgemv A=1\n", "line 2: kernel 'Xgemv'"},
        {"kvq-clblast-tune 1\nkernel Xgemm\n", "line 2: expected 'kernel <name>"},
        {"kvq-clblast-tune 1\nkernel Xgemm A=1\nkernel Xgemm A=1\n", "line 3: kernel Xgemm given"},
        {"kvq-clblast-tune 1\nkernel Copy A=x\n", "line 2: parameter A: value"},
        {"kvq-clblast-tune 1\nkernel Copy =1\n", "line 2: parameter '=1'"},
        {"kvq-clblast-tune 1\ndevice \n", "line 2: expected"},
    };
    refused(bad, sizeof bad / sizeof bad[0], parse_cache, "cache");
}

static void test_place(void)
{
    char a[512], b[512], dir[512];
    ok(kvq__tune_cache_file("/c", "dev (1)", "d1", a, sizeof a) == 0 &&
           !strncmp(a, "/c/clblast-dev_1_-", 18) && strstr(a, ".tune"),
       "the file name: the device's name made safe, then a hash (%s)", a);
    kvq__tune_cache_file("/c", "dev (1)", "d2", b, sizeof b);
    ok(strcmp(a, b) != 0, "another driver, another file");
    ok(kvq__tune_cache_file("/c", "x", "y", a, 20) == -1, "a path that does not fit is refused");
    setenv("KVQ_CACHE_DIR", "/own", 1);
    ok(kvq__tune_cache_dir(dir, sizeof dir) == 0 && !strcmp(dir, "/own"), "KVQ_CACHE_DIR first");
    unsetenv("KVQ_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    ok(kvq__tune_cache_dir(dir, sizeof dir) == 0 && !strcmp(dir, "/xdg/kvq"), "then XDG");
    setenv("XDG_CACHE_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    ok(kvq__tune_cache_dir(dir, sizeof dir) == 0 && !strcmp(dir, "/home/u/.cache/kvq"),
       "a relative XDG_CACHE_HOME is ignored: ~/.cache/kvq");
    ok(kvq__tune_kind_of_family("xgemm_12") == kvq__tune_kind_of("Xgemm") &&
           kvq__tune_kind_of_family("xgemm_direct_1") == kvq__tune_kind_of("XgemmDirect") &&
           !kvq__tune_kind_of_family("xgemm_") && !kvq__tune_kind_of_family("xgemmx"),
       "tuner families map to kernels");
}

int main(void)
{
    plan(5 + 20 + 2 + 4 + 14 + 7);
    test_real_output();
    test_bad_tuner();
    test_cache_round_trip();
    test_bad_cache();
    test_place();
    return exit_status();
}
