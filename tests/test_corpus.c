/* test_corpus.c — every file of tests/data/bad is rejected by the loaders
 * kvq run uses, with a non-zero status and a message containing the
 * substring its MANIFEST line names (tools/make_corpus.py wrote both). The
 * in-memory parsers see the same bytes too, so ASan/UBSan builds check that
 * no malformed input crashes either path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvq.h"
#include "tap.h"

#define MAX_FILES 256

typedef struct entry {
    char name[128];
    char expect[256];
} entry;

/* Reads the whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
        *len = (size_t)n;
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Parses MANIFEST lines "name<TAB>expected". */
static int read_manifest(const char *path, entry *e, int max)
{
    char line[512];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (n < max && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
        if (line[0] == '#' || !tab)
            continue;
        if (nl)
            *nl = 0;
        *tab = 0;
        snprintf(e[n].name, sizeof e[n].name, "%.127s", line);
        snprintf(e[n].expect, sizeof e[n].expect, "%.255s", tab + 1);
        n++;
    }
    fclose(f);
    return n;
}

/* Loads a file the way kvq run does; returns the status, message in err. */
static int load(const char *path, char *err, size_t errlen)
{
    kvq_kv kv;
    const char *bad = NULL;
    int rc;
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".npy")) {
        rc = kvq__kv_load_npy(path, path, NULL, &kv, &bad, err, errlen);
        if (rc && bad != path)
            snprintf(err, errlen, "bad_path does not name the file");
    } else
        rc = kvq__kv_load_safetensors(path, NULL, NULL, NULL, &kv, err, errlen);
    kvq__kv_clear(&kv);
    return rc;
}

/* Runs the in-memory parsers over the bytes (for the sanitizers). */
static void parse_mem(const char *path)
{
    size_t len = 0;
    unsigned char *buf = slurp(path, &len);
    kvq_tensor t;
    char err[256];
    if (!buf)
        return;
    if (kvq__npy_read_mem(buf, len, &t, err, sizeof err) == 0)
        kvq__tensor_clear(&t);
    if (kvq__safetensors_read_mem(buf, len, "k", &t, err, sizeof err) == 0)
        kvq__tensor_clear(&t);
    free(buf);
}

int main(void)
{
    static entry e[MAX_FILES];
    const char *top = getenv("top_srcdir");
    char dir[1024], path[1400];
    int n;
    snprintf(dir, sizeof dir, "%s/tests/data/bad", top ? top : ".");
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    n = read_manifest(path, e, MAX_FILES);
    if (n < 0) {
        printf("1..1\nnot ok 1 - cannot read %s\n", path);
        return 1;
    }
    plan(n + 1);
    ok(n >= 30, "the corpus has at least 30 files (%d)", n);
    for (int i = 0; i < n; i++) {
        char err[512] = "";
        int rc;
        snprintf(path, sizeof path, "%s/%s", dir, e[i].name);
        rc = load(path, err, sizeof err);
        if (!ok(rc < 0 && strstr(err, e[i].expect) != NULL, "%s rejected (%d): %s",
                e[i].name, rc, err))
            diag("expected a message containing \"%s\"", e[i].expect);
        parse_mem(path);
    }
    return exit_status();
}
