/* bench/benchutil.h - clocks, medians, the load average and the output
 * directory shared by the bench programs (header-only: each bench is one
 * program built from one .c file). */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static inline double bench_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* This thread's CPU time: what the work costs even when other processes
 * share the cores (it excludes the time the thread waits to run). */
static inline double bench_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], bench_cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The 1-minute load average (/proc/loadavg), or -1. */
static inline double bench_load(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

/* Open bench/out/NAME for writing (the fragments bench/report.c joins into
 * reports/bench.json); NULL with a message on failure. */
static inline FILE *bench_out(const char *name)
{
    char path[256];
    const char *dir = getenv("BENCH_OUT") ? getenv("BENCH_OUT") : "build/bench/out";
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "bench: cannot write %s\n", path);
    return f;
}

#endif
