/* tuning.h — CLBlast tuning parameters kvq keeps per device (doc/scaling.md §7):
 * the kernels kvq tunes, the parser of the CLBlast tuners' JSON output, and
 * the cache file (its text format, its place, its parser and writer). Bottom
 * layer: no OpenCL, no CLBlast, nothing else of kvq. Every parser is strict
 * and bounded and says in err why an input was refused. */
#ifndef KVQ_BASE_TUNING_H
#define KVQ_BASE_TUNING_H

#include <stddef.h>
#include <stdio.h>

enum {
    KVQ__TUNE_KERNELS = 6,      /* kernels one cache file may hold */
    KVQ__TUNE_PARAMS = 24,      /* parameters of one kernel (Xgemm has 16) */
    KVQ__TUNE_NAME = 16,        /* bytes of a kernel or parameter name, with its NUL */
    KVQ__TUNE_MAX_VALUE = 1 << 20,
    KVQ__TUNE_CACHE_BYTES = 64 * 1024,       /* largest cache file read */
    KVQ__TUNE_TUNER_BYTES = 16 * 1024 * 1024 /* largest tuner output read */
};

/* One kernel kvq can tune: CLBlast's kernel name (what
 * CLBlastOverrideParameters takes), the tuner program of clblast-utils, the
 * family prefix of the tuner's JSON ("xgemm" matches "xgemm_1", "xgemm_12"),
 * whether its time measures a GEMM of 2·m·n·k flops, and the share of the
 * tuner's random search space a default `kvq tune` samples. */
typedef struct kvq__tune_kind {
    const char *kernel, *tuner, *family;
    int gemm;
    double fraction;
} kvq__tune_kind;

/* The kernels, in the order kvq tunes them; *n gets their count. */
const kvq__tune_kind *kvq__tune_kinds(size_t *n);
/* The kind of a CLBlast kernel name or a tuner JSON family; NULL if none. */
const kvq__tune_kind *kvq__tune_kind_of(const char *kernel);
const kvq__tune_kind *kvq__tune_kind_of_family(const char *family);

/* The parameters of one kernel, in the tuner's order. */
typedef struct kvq__tune_kernel {
    const kvq__tune_kind *kind;
    size_t nparams;
    char name[KVQ__TUNE_PARAMS][KVQ__TUNE_NAME];
    size_t value[KVQ__TUNE_PARAMS];
    double best_ms;             /* tuner output: its best time; 0 from a cache file */
    size_t m, n, k;             /* tuner output: its problem size (0 when not given) */
} kvq__tune_kernel;

/* What a cache file holds: the device and driver it was tuned on and the
 * parameters of each tuned kernel (each kernel at most once). */
typedef struct kvq__tune_set {
    char device[256];
    char driver[128];
    size_t nkernels;
    kvq__tune_kernel kernel[KVQ__TUNE_KERNELS];
} kvq__tune_set;

/* Parses one JSON file a CLBlast tuner wrote (len bytes, not NUL-terminated)
 * into *out: its kernel family, fp32 precision, best time and best
 * parameters (PRECISION dropped: it is not a tuning parameter). 0, or -1
 * with the reason in err. */
int kvq__tune_parse_tuner(const char *text, size_t len, kvq__tune_kernel *out, char *err,
                          size_t errlen);
/* Parses a cache file's text into *out; 0, or -1 with "line N: why" in err. */
int kvq__tune_parse_cache(const char *text, size_t len, kvq__tune_set *out, char *err,
                          size_t errlen);
/* Writes the cache file's text of set; 0, or -1 (a name that cannot be
 * written on one line, or a write error). */
int kvq__tune_write_cache(FILE *f, const kvq__tune_set *set);
/* Adds (or replaces) the parameters of k's kernel in set; 0, or -1 when full. */
int kvq__tune_set_put(kvq__tune_set *set, const kvq__tune_kernel *k);

/* The cache directory: $KVQ_CACHE_DIR, else $XDG_CACHE_HOME/kvq (when
 * absolute), else $HOME/.cache/kvq. 0, or -1 when none is known. */
int kvq__tune_cache_dir(char *buf, size_t len);
/* The cache file of a device name + driver version in dir; 0, or -1 when
 * the path does not fit. */
int kvq__tune_cache_file(const char *dir, const char *device, const char *driver, char *buf,
                         size_t len);
/* Creates dir and its missing parents; 0, or -1 with errno. */
int kvq__tune_mkdirs(const char *dir);
/* Reads and parses the cache file at path: 0 on success, 1 when there is no
 * such file, -1 with the reason in err (unreadable, too large, malformed,
 * or tuned for another device or driver than device/driver). */
int kvq__tune_load(const char *path, const char *device, const char *driver,
                   kvq__tune_set *out, char *err, size_t errlen);
/* Reads a whole file of at most max bytes into a malloc'd buffer; 0, or -1
 * with the reason in err (errno's text, or "larger than N bytes"). */
int kvq__tune_read_file(const char *path, size_t max, char **text, size_t *len, char *err,
                        size_t errlen);

#endif
