/* probe.h - measure this CPU: sgemm rate through the CBLAS the kernels use
 * (OpenBLAS), on one core and on all of them, and streaming memory bandwidth
 * (a STREAM-style triad), so the roofline model can be checked against what
 * the reference kernels measure here. */
#ifndef PROBE_H
#define PROBE_H

#include "calib.h"

typedef struct {
    int cores;                /* threads used for the multi-core figures */
    double sgemm_1core;       /* FLOP/s */
    double sgemm_all;         /* FLOP/s */
    double bw_1core;          /* B/s, triad counting 12 B per element */
    double bw_all;            /* B/s */
    double memory_bytes;      /* physical memory */
} probe_result;

/* Takes a few seconds. Returns SIM_ENOMEM if the buffers cannot be had. */
int probe_run(probe_result *p, sim_err *e);

/* Write p as a hardware profile (the format of scenarios/hw), with the time
 * model's curves when c is given (tmodel.h). */
int probe_write_profile(const probe_result *p, const tm_curves *c, const char *name, const char *path, sim_err *e);

/* The time model's measurements on `threads` threads (probe_curves.c), as
 * calibration rows (calib.h): fit them with calib_fit. Takes a few seconds. */
int probe_curves(meas_set *s, int threads, sim_err *e);

#endif
