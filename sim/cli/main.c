/* main.c - the kvsim command line: dispatch through the command table
 * (cli_cmds.c). The only place that exits: 0 ok, 1 a check failed, 2 bad
 * input. */
#include "cli.h"
#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>

static bool is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

int main(int argc, char **argv)
{
    gsl_set_error_handler_off();   /* GSL reports through status codes, never aborts (STYLE.md 8) */
    /* Past a file-size limit (ulimit -f) the kernel sends SIGXFSZ, whose
     * default action kills us mid-write with no message; ignored, the write
     * fails with EFBIG and SQLite reports it like a full disk: a clear error,
     * exit 2, and the database as of its last commit. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) { cli_usage(stderr); return 2; }
    if (is_help(argv[1])) { cli_usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) return cli_version(0, NULL);
    const cli_cmd *c = cli_find(argv[1]);
    if (!c) return cli_bad(NULL, "unknown command '%s'", argv[1]);
    /* CMD --help anywhere among its arguments prints that command's options. */
    for (int i = 2; i < argc && c->run != cli_help; i++)
        if (is_help(argv[i])) { cli_cmd_help(stdout, c); return 0; }
    return c->run(argc - 2, argv + 2);
}
