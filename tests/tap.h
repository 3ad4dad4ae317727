/* tap.h — a tiny Test Anything Protocol emitter for kvq's C tests.
 * plan(n); ok(cond, fmt, ...); diag(fmt, ...); skip_all(reason); return exit_status(); */
#ifndef KVQ_TAP_H
#define KVQ_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_planned, tap_run, tap_failed;

/* Announce how many tests follow. */
static inline void plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

/* Print a diagnostic line (TAP comment). */
static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

/* Record one test result; returns cond so callers can diag on failure. */
static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_run++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    return cond;
}

/* Mark the next n planned tests as skipped. */
static inline void skip(int n, const char *reason)
{
    for (int i = 0; i < n; i++)
        printf("ok %d - # SKIP %s\n", ++tap_run, reason);
    fflush(stdout);
}

/* Skip the whole file: tap-driver reads exit 77 as an error, so print a
 * zero plan with a reason and exit 0. */
static inline void skip_all(const char *reason)
{
    printf("1..0 # SKIP %s\n", reason);
    fflush(stdout);
    exit(0);
}

/* 1 when $KVQ_REQUIRE_DEVICE is set (and not "0"): CI has an OpenCL device,
 * so a missing one must turn the run red instead of skipping. */
static inline int device_required(void)
{
    const char *r = getenv("KVQ_REQUIRE_DEVICE");
    return r && *r && !(r[0] == '0' && !r[1]);
}

/* The whole file fails with one `not ok` naming the reason. */
static inline void fail_all(const char *reason)
{
    printf("1..1\nnot ok 1 - %s\n", reason);
    fflush(stdout);
    exit(1);
}

/* No OpenCL device to test: a skip of the whole file, or a failure when
 * one is required. */
static inline void skip_all_device(const char *reason)
{
    if (device_required()) {
        printf("1..1\nnot ok 1 - %s (KVQ_REQUIRE_DEVICE is set)\n", reason);
        fflush(stdout);
        exit(1);
    }
    skip_all(reason);
}

/* 0 when every planned test ran and passed. */
static inline int exit_status(void)
{
    if (tap_run != tap_planned) {
        diag("planned %d tests but ran %d", tap_planned, tap_run);
        return 1;
    }
    return tap_failed ? 1 : 0;
}

#endif
