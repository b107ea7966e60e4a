/* cli.h - the command-line layer: each command parses its arguments, prints
 * results to stdout and messages to stderr, and returns the exit status
 * (0 ok, 1 a check failed, 2 bad input); only main() exits. */
#ifndef CLI_H
#define CLI_H

#define KVSIM_VERSION "0.2.0"

int cli_sweep(int argc, char **argv);
int cli_merge(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_probe(int argc, char **argv);         /* sim/cli_sweep.c */
int cli_run(int argc, char **argv);        /* sim/cli_run.c */
int cli_validate(int argc, char **argv);   /* sim/cli_validate.c */

#endif
