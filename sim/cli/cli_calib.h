/* cli_calib.h - `kvsim calibrate` and the time model's printing, shared with
 * `kvsim probe`. */
#ifndef CLI_CALIB_H
#define CLI_CALIB_H

#include "calib.h"
#include <stdio.h>

/* The fitted curves with their residuals, one line each. */
void cli_print_curves(FILE *f, const tm_curves *c);
/* Write the measurements as CSV to path atomically; 0, or 2 with a message. */
int cli_write_atomic(const char *path, const meas_set *s);
int cli_calibrate(int argc, char **argv);

#endif
