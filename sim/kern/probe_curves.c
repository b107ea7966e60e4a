/* probe_curves.c - `kvsim probe`'s measurements for the time model
 * (tmodel.h), as calib.h's rows, so probe and `kvsim calibrate` fit them
 * with the same code: the products the kernels run on weights held in their
 * stored formats (kern_wq_matmul; fp32, bf16, fp8 e4m3 with an fp32 scale
 * per 16384, fp4 e2m1 with a ue8m0 scale per 32) at M = 1..4096 rows
 * against 256 x 256 and 1024 x 1024 weights of random values (never a
 * layer's), sgemm at M = 1..256 against a 1024 x 1024 weight (the rate
 * curve's summary),
 * a triad at working sets from 16 KiB to 384 MiB, a row gather and an empty
 * parallel region on `threads` threads (the kernels' count); element-wise
 * FLOPs and expf on one (the kernels run them serially). Each figure is the
 * best per repetition over calls of growing repetition counts, up to three
 * calls of at least 20 ms. */
#include "probe.h"
#include "calib.h"
#include "kern.h"
#include "kern_wq.h"
#include <cblas.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef _OPENMP
/* Built without OpenMP (make fuzz): one thread, wall time from the clock. */
static int omp_get_thread_num(void) { return 0; }
static int omp_get_num_threads(void) { return 1; }
static double omp_get_wtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds per repetition of fn(arg, reps) (which runs the work reps times
 * and returns how long it took). */
static double per_call(double (*fn)(void *, int), void *arg)
{
    double best = INFINITY;
    int reps = 1, runs = 0;
    /* Growing reps: every call counts toward the best; then 2 more calls at
     * the final count. fn returns the seconds its work took. */
    for (;;) {
        double t = fn(arg, reps);
        if (t / reps < best) best = t / reps;
        if (t >= 20e-3 || reps >= (1 << 24)) { if (++runs == 3) break; }
        else reps *= 4;
    }
    return best;
}

typedef struct { int M; float *a, *b, *c; size_t n; int threads; } work;

typedef struct { u64 M, N, K; const float *x; const kern_wq *w; float *y, *work; } wq_work;

static double do_wq(void *p, int reps)
{
    wq_work *w = p;
    cost_t c;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        memset(&c, 0, sizeof c);
        kern_wq_matmul(&c, FL_PROJ, DT_FP32, w->M, w->N, w->K, w->x, w->K, w->w, 0, 1, w->K, w->y, w->N, false, w->work);
    }
    return now_s() - t0;
}

/* The gemm table's rows: each stored format at each M and size. */
static int probe_wq(meas_set *s, float *x, float *y, float *vals, sim_err *e)
{
    static const u64 Ms[] = {1, 2, 4, 8, 16, 64, 256, 1024, 4096}, sizes[] = {256, 1024};
    fmt fs[4];
    fmt_from_dtype(&fs[0], DT_FP32);
    fmt_from_dtype(&fs[1], DT_BF16);
    fmt_from_dtype(&fs[2], DT_FP8_E4M3);
    fs[2].part[0] = (fmt_part){.elements = 16384, .dt = DT_FP8_E4M3, .scaled = true, .scale_dt = DT_FP32, .block = 16384};
    fmt_from_dtype(&fs[3], DT_FP4_E2M1);
    fs[3].part[0] = (fmt_part){.elements = 32, .dt = DT_FP4_E2M1, .scaled = true, .scale_dt = DT_UE8M0, .block = 32};
    int rc = SIM_OK;
    for (int f = 0; f < 4 && !rc; f++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0] && !rc; z++) {
            u64 N = sizes[z], K = sizes[z];
            kern_wq w;
            if ((rc = kern_wq_init(&w, &fs[f], N * K, e))) break;
            kern_wq_encode(&w, vals);
            for (size_t i = 0; i < sizeof Ms / sizeof Ms[0] && !rc; i++) {
                u64 nw = kern_wq_work(Ms[i], N, K);
                float *ws = nw ? malloc(nw * sizeof *ws) : NULL;
                if (nw && !ws) { rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the gemm workspace"); break; }
                wq_work ww = {Ms[i], N, K, x, &w, y, ws};
                meas_row r = {.kind = MS_GEMM, .dt = fs[f].part[0].dt, .M = (double)Ms[i], .N = (double)N, .K = (double)K,
                              .seconds = per_call(do_wq, &ww)};
                rc = meas_add(s, &r, e);
                free(ws);
            }
            kern_wq_free(&w);
        }
    return rc;
}

/* The repeated kernels run in ONE parallel region, each thread on its own
 * static part every repetition (no barrier between repetitions), and each
 * thread times its own loop: the call's time is the slowest thread's loop,
 * without the region's start-up (a thread scheduled late on a busy machine
 * is not bandwidth). The region's fixed cost is measured apart
 * (do_parallel), as the time model adds it apart. */
#define PARTS(n) long lo = (long)(n) * omp_get_thread_num() / omp_get_num_threads(), \
                      hi = (long)(n) * (omp_get_thread_num() + 1) / omp_get_num_threads(); \
                 double t0_ = omp_get_wtime()
#define PART_DONE(worst) do { double t_ = omp_get_wtime() - t0_; \
                              _Pragma("omp critical") { if (t_ > (worst)) (worst) = t_; } } while (0)

static double do_triad(void *p, int reps)
{
    work *w = p;
    double worst = 0;
    float *a = w->a, *b = w->b, *c = w->c;
#pragma omp parallel num_threads(w->threads)
    {
        PARTS(w->n);
        for (int r = 0; r < reps; r++)
            for (long i = lo; i < hi; i++) a[i] = b[i] + 3.0f * c[i];
        PART_DONE(worst);
    }
    return worst;
}

static double do_axpy(void *p, int reps)
{
    work *w = p;
    double worst = 0;
    float *x = w->a, *y = w->b;
#pragma omp parallel num_threads(w->threads)
    {
        PARTS(w->n);
        for (int r = 0; r < reps; r++)
            for (long i = lo; i < hi; i++) y[i] = 0.999f * x[i] + y[i];
        PART_DONE(worst);
    }
    return worst;
}

static double do_exp(void *p, int reps)
{
    work *w = p;
    double worst = 0;
    float *x = w->a, *y = w->b;
#pragma omp parallel num_threads(w->threads)
    {
        PARTS(w->n);
        for (int r = 0; r < reps; r++)
            for (long i = lo; i < hi; i++) y[i] = expf(x[i] * 1e-3f);
        PART_DONE(worst);
    }
    return worst;
}

/* Gather w->M rows of 128 floats at pseudo-random row indices of a table of
 * w->n floats into w->c. */
static double do_gather(void *p, int reps)
{
    work *w = p;
    double worst = 0;
    unsigned long rows = (unsigned long)(w->n / 128);
#pragma omp parallel num_threads(w->threads)
    {
        PARTS(w->M);
        for (int r = 0; r < reps; r++)
            for (long i = lo; i < hi; i++) {
                unsigned long k = ((unsigned long)(i + r) * 2654435761u) % rows;
                memcpy(w->c + i * 128, w->a + k * 128, 128 * sizeof(float));
            }
        PART_DONE(worst);
    }
    return worst;
}

/* An empty parallel region, each one timed on its own: the call returns
 * reps x the fastest region's time. On a shared machine a region waits for
 * a thread the scheduler has parked (a time slice, milliseconds), so the
 * average over regions measures the neighbours, not the fork and join; the
 * least disturbed region is the figure (as every other figure here is a best). */
static double do_parallel(void *p, int reps)
{
    work *w = p;
    double best = INFINITY, start = now_s();
    (void)w;   /* only the OpenMP pragma reads it */
    /* At least 256 regions (or 0.2 s of them) whatever reps: the minimum
     * needs samples. */
    for (int r = 0; r < reps || (r < 256 && now_s() - start < 0.2); r++) {
        volatile int sink = 0;
        double t0 = now_s();
#pragma omp parallel num_threads(w->threads)
        {
            if (omp_get_thread_num() == 0) sink = 1;
        }
        double t = now_s() - t0;
        if (t < best) best = t;
        (void)sink;
    }
    return best * reps;
}

int probe_curves(meas_set *s, int threads, sim_err *e)
{
    size_t big = (size_t)32 << 20;   /* floats per array: 3 x 128 MiB */
    float *a = malloc(big * sizeof *a), *b = malloc(big * sizeof *b), *c = malloc(big * sizeof *c);
    if (!a || !b || !c) { free(a); free(b); free(c); return sim_fail(e, SIM_ENOMEM, "probe: no memory for the buffers"); }
    for (size_t i = 0; i < big; i++) { a[i] = (float)(i % 13) * 0.01f; b[i] = 1; c[i] = 2; }
    int rc = SIM_OK;
    work w = {.a = a, .b = b, .c = c, .threads = threads};
    openblas_set_num_threads(threads);
    /* The stored-format products: x is 4096 x 1024 floats of a, y of b
     * (4096 x 1024 outputs), the weight's values from c. */
    for (size_t i = 0; i < 1024 * 1024; i++) c[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
    rc = probe_wq(s, a, b, c, e);
    for (size_t i = 0; i < big; i++) c[i] = 2;
    /* Triad over 3 arrays of n floats: 12 n bytes, from 16 KiB to 384 MiB. */
    for (size_t n = 1365; n <= big && !rc; n *= 4) {
        w.n = n;
        meas_row r = {.kind = MS_STREAM, .bytes = 12.0 * (double)n, .seconds = per_call(do_triad, &w)};
        rc = meas_add(s, &r, e);
    }
    /* Element-wise work and exp on one thread: the reference kernels run
     * them serially (SIMD only; kern.c, res_ref.c), GEMMs and attention in
     * parallel regions. */
    w.threads = 1;
    for (size_t n = 4096; n <= ((size_t)4 << 20) && !rc; n *= 8) {
        w.n = n;
        meas_row r = {.kind = MS_ELEM, .count = 2.0 * (double)n, .seconds = per_call(do_axpy, &w)};
        if (!(rc = meas_add(s, &r, e))) {
            meas_row x = {.kind = MS_EXP, .count = (double)n, .seconds = per_call(do_exp, &w)};
            rc = meas_add(s, &x, e);
        }
    }
    w.threads = threads;
    w.n = big;
    for (int m = 256; m <= 16384 && !rc; m *= 4) {
        w.M = m;
        meas_row r = {.kind = MS_GATHER, .count = m, .bytes = 512.0 * m, .seconds = per_call(do_gather, &w)};
        rc = meas_add(s, &r, e);
    }
    if (!rc) {
        meas_row r = {.kind = MS_PARALLEL, .seconds = per_call(do_parallel, &w)};
        rc = meas_add(s, &r, e);
    }
    free(a); free(b); free(c);
    return rc;
}
