/* bench/capacity.c - `make bench`: the time of one capacity evaluation
 * (deploy_eval: per-device weights and KV, the engine's blocks and tokens,
 * the decode step and its roofline) of deepseek-v4-pro at 1M tokens on an
 * 8-GPU H200 node, DP 8 + EP 8, under vLLM's rules (goal: at most 10 us),
 * as the median of 15 batches of 2000 evaluations. */
#include "deploy.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    enum { BATCHES = 15, REPS = 2000 };
    model_spec m;
    hw_profile hw;
    sim_err e;
    if (spec_load(&m, "archs/deepseek-v4-pro.yaml", NULL, 0, &e) || hw_load(&hw, "8xh200", &e)) {
        fprintf(stderr, "bench: %s\n", e.msg);
        return 2;
    }
    deploy_cfg d;
    deploy_cfg_default(&d);
    d.gpus = 8; d.dp = 8; d.ep = 8; d.engine = ENG_VLLM;
    d.set[0] = d.set[3] = true;
    if (deploy_check(&d, &m, &e)) { fprintf(stderr, "bench: %s\n", e.msg); return 2; }
    double per[BATCHES], cpu[BATCHES];
    u64 sink = 0;
    for (int b = 0; b < BATCHES; b++) {
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < REPS; i++) {
            deploy_result r;
            if (deploy_eval(&m, &d, &hw, 1 << 20, &r, &e)) { fprintf(stderr, "bench: %s\n", e.msg); return 2; }
            sink += r.node_max_seqs + r.eng.tokens;
        }
        per[b] = (clock_s(CLOCK_MONOTONIC) - t0) / REPS;
        cpu[b] = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / REPS;
    }
    qsort(per, BATCHES, sizeof per[0], cmp_d);
    qsort(cpu, BATCHES, sizeof cpu[0], cmp_d);
    double t = per[BATCHES / 2], c = cpu[BATCHES / 2];
    /* On a shared machine the wall time includes waiting for a core; the
     * CPU time is what one evaluation costs (single-threaded: on an idle
     * machine the two agree). The goal is judged on each. */
    printf("capacity evaluation, deepseek-v4-pro, ctx 1M, 8xh200 dp 8 ep 8, vllm rules, median of 15 x 2000:\n");
    double load[1] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) { if (fscanf(la, "%lf", &load[0]) != 1) load[0] = 0; fclose(la); }
    printf("  capacity %8.3f us wall, %8.3f us CPU   (goal <= 10 us: wall %s, CPU %s; load average %.1f)\n", t * 1e6,
           c * 1e6, t <= 10e-6 ? "met" : "MISSED", c <= 10e-6 ? "met" : "MISSED", load[0]);
    /* The sum keeps the evaluations from being optimised away; V4-Pro's
     * weights leave no KV room on 8 x H200 under DP 8 / EP 8, so it may be 0. */
    printf("  (checksum of the answers: %llu)\n", (unsigned long long)sink);
    spec_free(&m);
    return 0;
}
