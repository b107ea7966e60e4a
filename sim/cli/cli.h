/* cli.h - the command-line layer: each command parses its arguments, prints
 * results to stdout and messages to stderr, and returns the exit status
 * (0 ok, 1 a check failed, 2 bad input); only main() exits.
 *
 * ONE command table (cli_cmds.c) names every command, its function, a
 * one-line help and its options; the dispatcher, `kvsim --help` and
 * `kvsim CMD --help` all read it, and the argument parser accepts exactly the
 * options listed there. Adding a command is one row in cli_cmds[] plus its
 * function:
 *
 *   int cli_frob(int argc, char **argv)
 *   {
 *       cli_args p;
 *       cli_args_init(&p, "frob", argc, argv);
 *       u64 n = 1;
 *       int r;
 *       while ((r = cli_args_next(&p)) > 0) {
 *           if (!p.opt) { ...positional p.val... }
 *           else if (cli_is(&p, "--count") && cli_u64(&p, 1, 100, &n)) return 2;
 *       }
 *       if (r < 0) return 2;
 *       ...
 *   }
 */
#ifndef CLI_H
#define CLI_H

#include "sim.h"
#include "spec.h"
#include <stdbool.h>
#include <stdio.h>

#define KVSIM_VERSION "0.3.0"
#define CLI_MAX_SETS 64       /* --set options per command */

/* One option of a command. */
typedef struct {
    const char *name;   /* "--ctx", or a short form such as "-o" */
    const char *value;  /* what it takes ("N", "PATH=VALUE"), or NULL for a flag */
    const char *help;   /* one line; "\n" starts an indented continuation line */
} cli_opt;

/* One command. */
typedef struct {
    const char *name;                  /* "cost" */
    int (*run)(int argc, char **argv); /* the arguments after the command name */
    const char *args;                  /* synopsis of the positionals, e.g. "ARCH.yaml" */
    const char *help;                  /* one line */
    const cli_opt *opts;               /* {NULL}-terminated; NULL: takes no options */
} cli_cmd;

extern const cli_cmd cli_cmds[];       /* {NULL}-terminated */

/* The command called name, or NULL. */
const cli_cmd *cli_find(const char *name);
/* `kvsim --help` (every command) and `kvsim CMD --help` (its options). */
void cli_usage(FILE *f);
void cli_cmd_help(FILE *f, const cli_cmd *c);

/* ---- arguments ------------------------------------------------------------
 * cli_args_next walks argv: "--opt value", "--opt=value" and flags, checked
 * against the command's options (unknown options and missing values are
 * reported here); anything else is a positional ("-" alone too). */
typedef struct {
    const cli_cmd *cmd;
    int argc, i;
    char **argv;
    const char *opt;    /* the option matched (its table name), or NULL: a positional */
    const char *val;    /* its value (NULL for a flag), or the positional */
} cli_args;

void cli_args_init(cli_args *p, const char *cmd, int argc, char **argv);
/* 1: an option or a positional is in p; 0: no more; -1: bad (message
 * printed; return 2). */
int cli_args_next(cli_args *p);
/* p holds the option called name. */
bool cli_is(const cli_args *p, const char *name);

/* Print "kvsim CMD: <message>" and a pointer to `kvsim CMD --help` on
 * stderr; returns 2. */
int cli_bad(const char *cmd, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* p->val as a whole number in [lo, hi] into *out: 0, or 2 (message printed). */
int cli_u64(const cli_args *p, u64 lo, u64 hi, u64 *out);
/* p->val as a context ("4096", "4k", "1M") into *out: 0, or 2. */
int cli_ctx(const cli_args *p, u64 *out);
/* Append p->val to a --set list (at most CLI_MAX_SETS): 0, or 2. */
int cli_add_set(const cli_args *p, const char **sets, int *n);

/* "  settings: --set A --set B --hw H" and a newline, the options that
 * change the numbers as given (provenance); nothing when there are none. */
void cli_settings_line(FILE *f, const char *const *sets, int n_sets, const char *hw, const char *mla_form);

/* "point" or "points" for n (tables and summaries say "1 layer", "2 layers"). */
static inline const char *cli_plural(long long n, const char *one, const char *many) { return n == 1 ? one : many; }

/* A spec argument as a readable path: as given if that file exists; else,
 * for a relative name, the shipped spec in the data directory (paths.h):
 * DATA/NAME, DATA/archs/NAME, DATA/archs/NAME.yaml. Returns arg itself
 * when nothing matches (the loader then reports it), or a pointer into buf. */
const char *cli_spec_path(const char *arg, char *buf, size_t len);

/* Load a spec argument (a .yaml or a config.json) through cli_spec_path,
 * with the --set list; a missing file's message says where kvsim looked.
 * As spec_load_any: SIM_OK, or an error in e. */
int cli_load_spec(model_spec *m, const char *arg, const char *const *sets, int n_sets, sim_err *e);

/* Commands (one file each, or a few small ones together). */
int cli_cost(int argc, char **argv);       /* cli_cost.c */
int cli_compare(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_import(int argc, char **argv);     /* cli_import.c */
int cli_sweep(int argc, char **argv);      /* cli_sweep.c */
int cli_merge(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_probe(int argc, char **argv);
int cli_run(int argc, char **argv);        /* cli_run.c */
int cli_validate(int argc, char **argv);   /* cli_validate.c */
int cli_help(int argc, char **argv);       /* cli_help.c */
int cli_version(int argc, char **argv);
int cli_capacity(int argc, char **argv);   /* cli_deploy.c */

#endif
