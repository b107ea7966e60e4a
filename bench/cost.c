/* bench/cost.c - `make bench`: the time of one cost evaluation of
 * deepseek-v4-pro at 1M tokens, decode and prefill (goal: under 5 us each),
 * as the median of 15 batches of 2000 evaluations. */
#include "spec.h"
#include "cost.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double time_eval(const model_spec *m, phase ph, u64 *sink)
{
    enum { BATCHES = 15, REPS = 2000 };
    double per[BATCHES];
    cost_query q = {.T = 1 << 20, .B = 1, .phase = ph};
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_s();
        for (int i = 0; i < REPS; i++) {
            cost_result r;
            sim_err e;
            if (cost_eval(m, &q, &r, &e)) { fprintf(stderr, "bench: %s\n", e.msg); exit(2); }
            *sink += r.total.kv_bytes;
            cost_result_free(&r);
        }
        per[b] = (now_s() - t0) / REPS;
    }
    qsort(per, BATCHES, sizeof per[0], cmp_d);
    return per[BATCHES / 2];
}

int main(void)
{
    model_spec m;
    sim_err e;
    if (spec_load(&m, "archs/deepseek-v4-pro.yaml", NULL, 0, &e)) { fprintf(stderr, "bench: %s\n", e.msg); return 2; }
    u64 sink = 0;
    double d = time_eval(&m, PH_DECODE, &sink), p = time_eval(&m, PH_PREFILL, &sink);
    printf("cost evaluation, deepseek-v4-pro (61 layers), ctx 1M, median of 15 x 2000:\n");
    printf("  decode   %8.3f us   (goal < 5 us: %s)\n", d * 1e6, d < 5e-6 ? "met" : "MISSED");
    printf("  prefill  %8.3f us   (goal < 5 us: %s)\n", p * 1e6, p < 5e-6 ? "met" : "MISSED");
    spec_free(&m);
    return sink == 0;
}
