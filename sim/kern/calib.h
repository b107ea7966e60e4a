/* calib.h - the time model's curves (tmodel.h) from measured operation
 * times: `kvsim probe` measures this CPU into rows of this form, `kvsim
 * calibrate FILE.csv` reads them from a user's own microbenchmarks (a GPU's,
 * say), and both fit them with the same code (GSL least squares).
 *
 * CSV (one header line, then one measurement per line; '#' lines ignored):
 *   op,dtype,M,N,K,bytes,count,seconds
 *   gemm,fp32,16,4096,4096,,,0.0021      an M x K by K x N product (2MNK FLOPs)
 *   stream,,,,,1048576,,0.000021         one pass over a working set of `bytes`
 *   elementwise,,,,,,1000000,0.00031     `count` element-wise FLOPs
 *   exp,,,,,,1000000,0.0012              `count` exponentials
 *   gather,,,,,,4096,0.00009             `count` rows gathered by index
 *   parallel,,,,,,,0.0000021             one empty parallel region
 *   memory,,,,,85899345920,,             the device's memory (bytes; no time)
 *   attn,bf16,4,,512,,8192,0.00031       one decode query of M heads over `count`
 *                                        cache rows of K elements held in dtype
 *                                        (2 M count K FLOPs), from cold caches
 *   select,,,,,,16384,0.00004            one query's top-k selection over `count`
 *                                        scored candidates (a sparse indexer's)
 * Empty fields are allowed where the op does not use them; the fields an op
 * needs must be positive numbers. Fits: gemm per dtype (the weight's stored
 * dtype): the table t = fixed + per_elem N K per distinct M (tmodel.h; least
 * squares over the sizes, through the origin with one), and with one weight
 * size the rate curve rate(M) = rate_max M / (M + m_half) (weighted least
 * squares, at least 2 distinct M), stream (interpolated; at least
 * 1), elementwise (t = fixed + count / rate, at least 2 distinct counts;
 * through the origin if that slope is not positive),
 * exp and gather (t = count / rate), parallel (mean), attn per dtype (t =
 * fixed + per_elem count K + per_flop 2 M count K, least squares, a
 * coefficient that would be negative dropped). Needs gemm and stream rows;
 * the others are optional.
 */
#ifndef CALIB_H
#define CALIB_H

#include "tmodel.h"

typedef enum { MS_GEMM, MS_STREAM, MS_ELEM, MS_EXP, MS_GATHER, MS_PARALLEL, MS_MEMORY, MS_ATTN, MS_SELECT, MS_ACAUSAL, MS_AWINDOW, MS_AGATHER, MS_COMPUTE, MS_MIX, MS_COUNT } ms_kind;
extern const char *const ms_kind_name[MS_COUNT];

typedef struct {
    ms_kind kind;
    dtype dt;
    double M, N, K, bytes, count, seconds;
} meas_row;

typedef struct {
    meas_row *row;
    int n, cap;
    double memory_bytes;   /* a `memory` row, or 0 */
} meas_set;

int meas_add(meas_set *s, const meas_row *r, sim_err *e);
void meas_free(meas_set *s);

/* Parse CSV text (name for messages: "name:line: ..."); appends to s. */
int calib_parse(meas_set *s, const char *text, const char *name, sim_err *e);
int calib_read(meas_set *s, const char *path, sim_err *e);
/* Write s as CSV (the format above). */
int calib_write_csv(const meas_set *s, FILE *f);

/* Fit every curve the rows allow (tmodel.h); SIM_EINVAL naming the curve
 * when the rows cannot fit it. */
int calib_fit(const meas_set *s, tm_curves *c, sim_err *e);

/* The building blocks, for tests: weighted least squares of M/rate on M; of
 * t = fixed + n / rate; of t = n / rate (rms = relative residuals' RMS). */
int fit_gemm(const double *M, const double *rate, int n, double *rate_max, double *m_half, double *rms, sim_err *e);
int fit_affine(const double *n, const double *t, int k, double *rate, double *fixed, double *rms, sim_err *e);
int fit_prop(const double *n, const double *t, int k, double *rate, double *rms, sim_err *e);

/* A profile (hw.h's format, with `curves:`) from fitted curves: peak_tflops
 * from the gemm curves' rate_max (fp32, which hw_load requires, stands in
 * at the first dtype's rate when no fp32 row was measured), bandwidth_gbs
 * the largest working set's, memory_gb from a `memory` row (0.001, i.e.
 * unknown, without one). path NULL: stdout; else written atomically. */
int calib_write_profile(const tm_curves *c, const char *name, double memory_bytes, const char *note, const char *path,
                        sim_err *e);

#endif
