/* util.c — argument parsing and error printing shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int kvq_cli_report(int status, const char *input, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kvq: %s: ", input);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

int kvq_cli_parse_int(const char *text, const char *flag, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno == ERANGE)
        return kvq_cli_error(flag, "'%s' is not an integer", text);
    if (v < lo || v > hi)
        return kvq_cli_error(flag, "%ld is out of range %ld..%ld", v, lo, hi);
    *out = v;
    return 0;
}

int kvq_cli_parse_double(const char *text, const char *flag, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno == ERANGE || !isfinite(v))
        return kvq_cli_error(flag, "'%s' is not a finite number", text);
    if (v < lo || v > hi)
        return kvq_cli_error(flag, "%g is out of range %g..%g", v, lo, hi);
    *out = v;
    return 0;
}

int kvq_cli_want_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

int kvq_cli_is(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return !strncmp(arg, flag, n) && (arg[n] == '\0' || arg[n] == '=');
}

const char *kvq_cli_value(int argc, char **argv, int *i, const char *flag)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq && !strncmp(argv[*i], "--", 2))
        return eq + 1;
    if (*i + 1 >= argc) {
        kvq_cli_error(flag, "missing value");
        return NULL;
    }
    return argv[++*i];
}

int kvq_cli_int_value(int argc, char **argv, int *i, const char *flag, long lo, long hi,
                      long *out)
{
    const char *v = kvq_cli_value(argc, argv, i, flag);
    return v ? kvq_cli_parse_int(v, flag, lo, hi, out) : KVQ_EXIT_USAGE;
}

/* Stores the value of whichever of the n string options argv[*i] is. */
int kvq_cli_str_opts(const kvq_cli_str_opt *opts, size_t n, void *base, int argc, char **argv,
                     int *i)
{
    for (size_t k = 0; k < n; k++)
        if (kvq_cli_is(argv[*i], opts[k].flag)) {
            const char *v = kvq_cli_value(argc, argv, i, opts[k].flag);
            if (!v)
                return -1;
            *(const char **)((char *)base + opts[k].offset) = v;
            return 1;
        }
    return 0;
}
