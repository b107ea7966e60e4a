/* test_hw.c - hardware profiles and the roofline model against a hand
 * derivation, dtype fallbacks, the shipped profiles, and cost_fit_ctx. */
#include "check.h"
#include "util.h"
#include "hw.h"
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    hw_profile h;
    sim_err e;
    /* A profile with round numbers: BF16 1 TFLOP/s, FP32 0.1 TFLOP/s, 1 GB/s. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/kvsim-test-hw-%ld.yaml", (long)getpid()); /* one per run: parallel runs do not share it */
    FILE *f = fopen(path, "w");
    fputs("name: round\nmemory_gb: 1\nbandwidth_gbs: 1\npeak_tflops: {fp32: 0.1, bf16: 1}\n", f);
    fclose(f);
    CHECK("hw-load", hw_load(&h, path, &e) == SIM_OK);
    /* The GQA layer of test_cost (d 96, H 6, G 2, h 16, T 37, B 3, prefill):
     * BF16 FLOPs = proj 5,455,872 + attn 809,856 = 6,265,728;
     * FP32 FLOPs = softmax 2109 pairs x 6 x 5 = 63,270 + residual norms and adds
     *              111 tokens x 96 x (2 x 4 + 2) = 106,560 -> 169,830;
     * bytes = weights (24,576 + 192 norms) x 2 = 49,536 + KV written 14,208
     *         + activations 2 sublayers x 3 x 111 x 96 x 2 = 127,872 -> 191,616.
     * compute = 6,265,728 / 1e12 + 169,830 / 1e11 = 7.964028e-6 s;
     * memory = 191,616 / 1e9 = 1.91616e-4 s -> memory bound, intensity 33.586. */
    model_spec m;
    const char *y = "name: g\nd_model: 96\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: gqa, q_heads: 6, kv_heads: 2, head_dim: 16}\n";
    if (load_str(&m, y, NULL, 0, &e) == 0) {
        cost_t t = eval_type(&m, 37, 3, PH_PREFILL, "a");
        CHECK_EQ("hw-flops-bf16", t.flops_dt[DT_BF16], 6265728);
        CHECK_EQ("hw-flops-fp32", t.flops_dt[DT_FP32], 169830);
        roofline rl;
        hw_roofline(&h, &t, &rl);
        CHECK_CLOSE("hw-compute-s", rl.compute_s, 7.964028e-6, 1e-12);
        CHECK_CLOSE("hw-memory-s", rl.memory_s, 1.91616e-4, 1e-12);
        CHECK_CLOSE("hw-time-s", rl.time_s, 1.91616e-4, 1e-12);
        CHECK_CLOSE("hw-intensity", rl.intensity, 6435558.0 / 191616.0, 1e-9);
        CHECK("hw-memory-bound", rl.memory_bound);
        /* Budget: weights 49,536 + 9,600 embed + 9,600 head + 192 norm = 68,928 B stored;
         * 128 B of cache per token, so 1e6 B leaves room for floor((1e6 - 68,928) / 128) = 7,274. */
        CHECK_EQ("hw-fit-ctx", cost_fit_ctx(&m, 1, 1e6), 7274);
        CHECK_EQ("hw-fit-none", cost_fit_ctx(&m, 1, 1000), 0);
        spec_free(&m);
    }
    /* Fallbacks: FP8 on an A100 runs at BF16 (312), FP4 at FP8 on an H100 (1979),
     * TF32 on a profile without it at FP32. */
    CHECK("hw-a100", hw_load(&h, "a100-80gb", &e) == SIM_OK);
    CHECK_CLOSE("hw-a100-fp8-as-bf16", hw_peak(&h, DT_FP8_E4M3), 312e12, 1);
    CHECK_CLOSE("hw-a100-fp4-as-bf16", hw_peak(&h, DT_FP4_E2M1), 312e12, 1);
    CHECK("hw-h100", hw_load(&h, "h100-sxm", &e) == SIM_OK);
    CHECK_CLOSE("hw-h100-fp4-as-fp8", hw_peak(&h, DT_FP4_E2M1), 1979e12, 1);
    CHECK_CLOSE("hw-h100-bw", h.bandwidth, 3.35e12, 1);
    CHECK("hw-apple", hw_load(&h, "apple-m3-max", &e) == SIM_OK);
    CHECK_CLOSE("hw-apple-tf32-as-fp32", hw_peak(&h, DT_TF32), 16.4e12, 1);
    CHECK("hw-all-shipped", hw_load(&h, "h200", &e) == 0 && hw_load(&h, "rtx-4090", &e) == 0);
    CHECK("hw-unknown", hw_load(&h, "tpu-v9", &e) == SIM_EIO && strstr(e.msg, "not found"));
    f = fopen(path, "w");
    fputs("name: bad\nmemory_gb: 1\nbandwidth_gbs: fast\npeak_tflops: {fp32: 1}\n", f);
    fclose(f);
    CHECK("hw-bad-number", hw_load(&h, path, &e) == SIM_EINVAL && strstr(e.msg, ":3:16:"));
    remove(path);
    return check_done("test_hw");
}
