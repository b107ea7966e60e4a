/* plot.h - gnuplot scripts and rendering, safely.
 *
 * Every string that reaches a script goes through plot_quote: single-quoted
 * (gnuplot does no backquote or macro substitution there), quotes doubled,
 * control characters (a newline would end the command) and backquotes
 * replaced. File names written are fixed by kvsim (plot_slug), never taken
 * from spec names. gnuplot runs through a pipe with its working directory
 * set to the output directory, no shell involved.
 */
#ifndef PLOT_H
#define PLOT_H

#include "sim.h"
#include <stdio.h>

/* Write s as a safe single-quoted gnuplot string. */
void plot_quote(FILE *f, const char *s);

/* [a-z0-9-] only, at most len-1 characters; never empty ("x"). */
void plot_slug(const char *s, char *out, size_t len);

/* Is gnuplot on PATH? */
bool plot_have_gnuplot(void);

/* Run `gnuplot SCRIPT` with the working directory dir; its stderr lines go to
 * errbuf (truncated). Returns SIM_OK, or SIM_EIO when gnuplot failed. */
int plot_render(const char *dir, const char *script, sim_err *e);

#endif
