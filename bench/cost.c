/* bench/cost.c - `make bench`: the time of one cost evaluation of
 * deepseek-v4-pro at 1M tokens, decode and prefill, with the full per-type
 * breakdown (issue 14 goal: at most 1 us each). Each figure is the median of
 * 15 batches of 2000 evaluations, in the thread's CPU time (what one
 * evaluation costs, even on a shared machine) and in wall time (equal when
 * the machine is quiet). The load average is printed beside them.
 * KVSIM_BENCH_REPS=N (environment) runs N evaluations per batch instead of
 * 2000, e.g. 10 under `valgrind --tool=callgrind` to count the instructions
 * of one evaluation (callgrind's inclusive count of cost_eval / 15 N).
 * Writes bench/out/cost.json for bench/report.c (reports/bench.json). */
#include "spec.h"
#include "cost.h"
#include "benchutil.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int REPS = 2000;   /* evaluations per batch (KVSIM_BENCH_REPS) */

static void time_eval(const model_spec *m, phase ph, bool rows_only, u64 *sink, double *cpu, double *wall)
{
    enum { BATCHES = 15 };
    double pc[BATCHES], pw[BATCHES];
    cost_query q = {.T = 1 << 20, .B = 1, .phase = ph, .rows_only = rows_only};
    for (int b = 0; b < BATCHES; b++) {
        double c0 = bench_cpu_s(), w0 = bench_wall_s();
        for (int i = 0; i < REPS; i++) {
            cost_result r;
            sim_err e;
            if (cost_eval(m, &q, &r, &e)) { fprintf(stderr, "bench: %s\n", e.msg); exit(2); }
            *sink += r.total.kv_bytes + (u64)r.n_types;
            cost_result_free(&r);
        }
        pc[b] = (bench_cpu_s() - c0) / REPS;
        pw[b] = (bench_wall_s() - w0) / REPS;
    }
    *cpu = bench_median(pc, BATCHES);
    *wall = bench_median(pw, BATCHES);
}

int main(void)
{
    model_spec m;
    sim_err e;
    const char *reps = getenv("KVSIM_BENCH_REPS");
    if (reps && atoi(reps) > 0) REPS = atoi(reps);
    if (spec_load(&m, "archs/deepseek-v4-pro.yaml", NULL, 0, &e)) { fprintf(stderr, "bench: %s\n", e.msg); return 2; }
    u64 sink = 0;
    double l0 = bench_load(), dc, dw, pc, pw, dl, dlw, pl, plw;
    time_eval(&m, PH_DECODE, true, &sink, &dc, &dw);
    time_eval(&m, PH_PREFILL, true, &sink, &pc, &pw);
    time_eval(&m, PH_DECODE, false, &sink, &dl, &dlw);
    time_eval(&m, PH_PREFILL, false, &sink, &pl, &plw);
    double l1 = bench_load();
    printf("cost evaluation, deepseek-v4-pro (61 layers), ctx 1M, median of 15 x %d\n", REPS);
    printf("(load average %.2f before, %.2f after; CPU = this thread's time, wall = elapsed):\n", l0, l1);
    printf("  per-type breakdown and totals (cost_query.rows_only, a sweep's evaluation):\n");
    printf("    decode   %7.3f us CPU  %7.3f us wall   (goal <= 1 us: %s)\n", dc * 1e6, dw * 1e6, dc <= 1e-6 ? "met" : "MISSED");
    printf("    prefill  %7.3f us CPU  %7.3f us wall   (goal <= 1 us: %s)\n", pc * 1e6, pw * 1e6, pc <= 1e-6 ? "met" : "MISSED");
    printf("  with the 61 per-layer costs as well (kvsim cost --layers):\n");
    printf("    decode   %7.3f us CPU  %7.3f us wall\n", dl * 1e6, dlw * 1e6);
    printf("    prefill  %7.3f us CPU  %7.3f us wall\n", pl * 1e6, plw * 1e6);
    FILE *f = bench_out("cost.json");
    if (f) {
        fprintf(f, "{\"cost_eval_us\": {\"decode\": %.4f, \"prefill\": %.4f, \"goal\": 1.0, \"clock\": \"thread CPU time\",\n"
                "  \"decode_wall\": %.4f, \"prefill_wall\": %.4f, \"decode_per_layer\": %.4f, \"prefill_per_layer\": %.4f,\n"
                "  \"load_before\": %.2f, \"load_after\": %.2f}}\n",
                dc * 1e6, pc * 1e6, dw * 1e6, pw * 1e6, dl * 1e6, pl * 1e6, l0, l1);
        fclose(f);
    }
    spec_free(&m);
    return sink == 0;
}
