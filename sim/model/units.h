/* units.h - number formatting for people and parsing of context sizes.
 * Bytes print in GB (1e9) and GiB (2^30) side by side, labelled distinctly;
 * FLOPs print with SI prefixes; counts with thousands separators. */
#ifndef UNITS_H
#define UNITS_H

#include "sim.h"

/* "5.280 GB (4.917 GiB)"; below 1000 plain "584 B". This function can't fail. */
void units_bytes(u64 b, char *buf, size_t len);
/* "1.192 TFLOP". */
void units_flops(u64 f, char *buf, size_t len);
/* The same for a 128-bit count (FP8-equivalent FLOPs). */
void units_flops_wide(u128 f, char *buf, size_t len);
/* "1.573 T" style count with an SI prefix. */
void units_count(u64 n, char *buf, size_t len);
/* "1,048,576". */
void units_commas(u64 n, char *buf, size_t len);

/* Parse "4096", "4k" (4096), "128K", "1M" (1,048,576), "1G" (2^30), optional
 * underscores/commas. Returns SIM_OK or SIM_EINVAL (zero, junk, > 2^40). */
int units_parse_ctx(const char *s, u64 *out, sim_err *e);

#endif
