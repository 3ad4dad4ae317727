/* cli.h — shared helpers of the kvq command's subcommands. */
#ifndef KVQ_CLI_H
#define KVQ_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "analysis/report.h"   /* kvq__json_string */

/* Exit statuses (doc/conformance.md §6.1). */
enum { KVQ_EXIT_OK = 0, KVQ_EXIT_RUNTIME = 1, KVQ_EXIT_USAGE = 2 };

/* Prints "kvq: <input>: <message>" on stderr; returns status. */
int kvq_cli_report(int status, const char *input, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* kvq_cli_report for bad input (exit status 2) and for failures (1). */
#define kvq_cli_error(...) kvq_cli_report(KVQ_EXIT_USAGE, __VA_ARGS__)
#define kvq_cli_fail(...) kvq_cli_report(KVQ_EXIT_RUNTIME, __VA_ARGS__)
/* Parses a whole decimal integer in [lo, hi]; prints the error and returns 2 if not. */
int kvq_cli_parse_int(const char *text, const char *flag, long lo, long hi, long *out);
/* The integer value in [lo, hi] of option flag at argv[*i] (kvq_cli_value,
 * then kvq_cli_parse_int); 0, or 2 after printing the error. */
int kvq_cli_int_value(int argc, char **argv, int *i, const char *flag, long lo, long hi,
                      long *out);
/* Parses a finite double in [lo, hi]; prints the error and returns 2 if not. */
int kvq_cli_parse_double(const char *text, const char *flag, double lo, double hi, double *out);
/* 1 if any argument is -h or --help. */
int kvq_cli_want_help(int argc, char **argv);
/* The value of an option at argv[*i] ("--x V" or "--x=V"), advancing *i;
 * NULL (after printing the error) when it is missing. */
const char *kvq_cli_value(int argc, char **argv, int *i, const char *flag);
/* 1 if argv[i] is the option flag, alone or as "flag=value". */
int kvq_cli_is(const char *arg, const char *flag);

/* A string-valued option: its flag and where its value goes (the
 * const char * at offset in the caller's struct). */
typedef struct kvq_cli_str_opt {
    const char *flag;
    size_t offset;
} kvq_cli_str_opt;

/* If argv[*i] is one of the n options, stores its value into base and
 * returns 1; -1 after printing the error when the value is missing; 0 when
 * argv[*i] is none of them. */
int kvq_cli_str_opts(const kvq_cli_str_opt *opts, size_t n, void *base, int argc, char **argv,
                     int *i);

/* Subcommands: argv[0] is the subcommand's name. */
int kvq_cmd_devices(int argc, char **argv);
int kvq_cmd_codebook(int argc, char **argv);
int kvq_cmd_run(int argc, char **argv);
int kvq_cmd_sweep(int argc, char **argv);
int kvq_cmd_findings(int argc, char **argv);
int kvq_cmd_compare(int argc, char **argv);
int kvq_cmd_bench(int argc, char **argv);
int kvq_cmd_merge(int argc, char **argv);
int kvq_cmd_tune(int argc, char **argv);

#endif
