/* cli.h — shared helpers of the kvq command's subcommands. */
#ifndef KVQ_CLI_H
#define KVQ_CLI_H

#include <stdio.h>

#include "analysis/report.h"   /* kvq__json_string */

/* Exit statuses (doc/conformance.md §6.1). */
enum { KVQ_EXIT_OK = 0, KVQ_EXIT_RUNTIME = 1, KVQ_EXIT_USAGE = 2 };

/* Prints "kvq: <input>: <message>" on stderr; returns KVQ_EXIT_USAGE. */
int kvq_cli_error(const char *input, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "kvq: <input>: <message>" on stderr; returns KVQ_EXIT_RUNTIME. */
int kvq_cli_fail(const char *input, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses a whole decimal integer in [lo, hi]; prints the error and returns 2 if not. */
int kvq_cli_parse_int(const char *text, const char *flag, long lo, long hi, long *out);
/* Parses a finite double in [lo, hi]; prints the error and returns 2 if not. */
int kvq_cli_parse_double(const char *text, const char *flag, double lo, double hi, double *out);
/* 1 if any argument is -h or --help. */
int kvq_cli_want_help(int argc, char **argv);
/* The value of an option at argv[*i] ("--x V" or "--x=V"), advancing *i;
 * NULL (after printing the error) when it is missing. */
const char *kvq_cli_value(int argc, char **argv, int *i, const char *flag);
/* 1 if argv[i] is the option flag, alone or as "flag=value". */
int kvq_cli_is(const char *arg, const char *flag);

/* Subcommands: argv[0] is the subcommand's name. */
int kvq_cmd_devices(int argc, char **argv);
int kvq_cmd_codebook(int argc, char **argv);
int kvq_cmd_run(int argc, char **argv);
int kvq_cmd_sweep(int argc, char **argv);
int kvq_cmd_findings(int argc, char **argv);
int kvq_cmd_compare(int argc, char **argv);
int kvq_cmd_bench(int argc, char **argv);

#endif
