/* probe.c - see probe.h. */
#include "paths.h"
#include "probe.h"
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best rate of a few n x n x n sgemms (2 n^3 FLOPs each). */
static double sgemm_rate(int threads, int n)
{
    openblas_set_num_threads(threads);
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) { free(a); free(b); free(c); return 0; }
    for (size_t i = 0; i < nn; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.2f; c[i] = 0; }
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double r = 2.0 * n * n * (double)n / (now_s() - t0);
        if (r > best) best = r;
    }
    free(a); free(b); free(c);
    return best;
}

typedef struct { float *a, *b, *c; size_t lo, hi; } triad_part;

static void *triad(void *arg)
{
    triad_part *p = arg;
    for (size_t i = p->lo; i < p->hi; i++) p->a[i] = p->b[i] + 3.0f * p->c[i];
    return NULL;
}

/* STREAM triad a = b + s c over n floats with `threads` threads; best of 5. */
static double triad_rate(int threads, float *a, float *b, float *c, size_t n)
{
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[64];
        triad_part part[64];
        double t0 = now_s();
        for (int t = 0; t < threads; t++) {
            part[t] = (triad_part){a, b, c, n * (size_t)t / (size_t)threads, n * (size_t)(t + 1) / (size_t)threads};
            if (t) pthread_create(&th[t], NULL, triad, &part[t]);
        }
        triad(&part[0]);
        for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);
        double r = 12.0 * (double)n / (now_s() - t0);
        if (r > best) best = r;
    }
    return best;
}

int probe_run(probe_result *p, sim_err *e)
{
    memset(p, 0, sizeof *p);
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    p->cores = nc < 1 ? 1 : nc > 64 ? 64 : (int)nc;
    p->memory_bytes = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    p->sgemm_1core = sgemm_rate(1, 1024);
    p->sgemm_all = sgemm_rate(p->cores, 1536);
    if (p->sgemm_1core <= 0 || p->sgemm_all <= 0) return sim_fail(e, SIM_ENOMEM, "probe: no memory for the sgemm buffers");
    /* 3 arrays of 32 Mi floats = 384 MiB, far beyond any cache. */
    size_t n = (size_t)32 << 20;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) { free(a); free(b); free(c); return sim_fail(e, SIM_ENOMEM, "probe: no memory for the bandwidth buffers"); }
    for (size_t i = 0; i < n; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
    p->bw_1core = triad_rate(1, a, b, c, n);
    p->bw_all = triad_rate(p->cores, a, b, c, n);
    free(a); free(b); free(c);
    return SIM_OK;
}

int probe_write_profile(const probe_result *p, const tm_curves *c, const char *name, const char *path, sim_err *e)
{
    char tmp[600];
    FILE *f;
    int rc = sim_out_open(path, tmp, sizeof tmp, &f, e);
    if (rc) return rc;
    fprintf(f, "# Measured by `kvsim probe` on this machine: sgemm through OpenBLAS's CBLAS (the\n"
               "# reference kernels' path) and a STREAM-style triad (12 bytes per element).\n"
               "# The kernels compute in fp32 whatever the spec's dtypes, so only fp32 is given:\n"
               "# every dtype falls back to it.\n");
    fprintf(f, "name: %s\nmemory_gb: %.3f\nbandwidth_gbs: %.3f\npeak_tflops: {fp32: %.6f}\n", name,
            p->memory_bytes / 1e9, p->bw_all / 1e9, p->sgemm_all / 1e12);
    fprintf(f, "measured: {cores: %d, sgemm_1core_gflops: %.3f, sgemm_all_gflops: %.3f, bandwidth_1core_gbs: %.3f, "
               "bandwidth_all_gbs: %.3f}\n", p->cores, p->sgemm_1core / 1e9, p->sgemm_all / 1e9, p->bw_1core / 1e9,
            p->bw_all / 1e9);
    if (c && c->present) tm_write_yaml(f, c);
    return sim_out_commit(f, path, tmp, e);
}
