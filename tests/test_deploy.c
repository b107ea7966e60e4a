/* test_deploy.c - deployments: per-device weights, KV and collectives
 * (hand-derived beside each value), the vLLM and SGLang allocation rules of
 * research/serving.md on worked examples, and bad layouts refused with
 * their reason. */
#include "check.h"
#include "util.h"
#include "deploy.h"

#define GiB 1073741824ull

static model_spec M_llama70, M_v3, M_e2b, M_flash, M_v32;
static hw_profile H_node;   /* scenarios/hw/8xh200.yaml */
static sim_err e0;

static void load(model_spec *m, const char *path)
{
    sim_err e;
    if (spec_load(m, path, NULL, 0, &e)) { printf("load %s: %s\n", path, e.msg); exit(1); }
}

static deploy_cfg layout(u64 tp, u64 dp, u64 ep, engine_kind eng)
{
    deploy_cfg d;
    deploy_cfg_default(&d);
    d.tp = tp;
    d.dp = dp;
    d.ep = ep;
    d.set[3] = true;
    d.engine = eng;
    return d;
}

static u64 kv_dev(const model_spec *m, deploy_cfg d, u64 T)
{
    sim_err e;
    u64 b = 0;
    if (deploy_check(&d, m, &e) || deploy_kv_per_seq(m, &d, T, &b, &e)) printf("kv_dev: %s\n", e.msg);
    return b;
}

static u64 w_dev(const model_spec *m, deploy_cfg d)
{
    sim_err e;
    u64 b = 0, r = 0;
    if (deploy_check(&d, m, &e) || deploy_weights(m, &d, &b, &r, &e)) printf("w_dev: %s\n", e.msg);
    return b;
}

static int engine(const model_spec *m, deploy_cfg d, u64 avail, u64 L, engine_result *r)
{
    sim_err e;
    int rc = deploy_check(&d, m, &e);
    if (!rc) rc = engine_eval(m, &d, avail, L, r, &e);
    if (rc) printf("engine: %s\n", e.msg);
    return rc;
}

static void test_llama70(void)
{
    const model_spec *m = &M_llama70;
    /* Llama-3-70B (archs/llama-3-70b.yaml, from its config.json): 80 layers,
     * 8 KV heads of 128, BF16. TP 8: one KV head per rank, so per token per
     * rank 80 x 2 (K, V) x 1 x 128 x 2 B = 40,960 B; T = 1,000 -> 40,960,000. */
    CHECK_EQ("llama70-tp8-kv", kv_dev(m, layout(8, 1, 1, ENG_LOGICAL), 1000), 40960000ull);
    /* TP 16: 8 heads < 16 ranks, each head replicated on 2 ranks: the same
     * 40,960 B per token per rank as TP 8. */
    CHECK_EQ("llama70-tp16-kv-replicated", kv_dev(m, layout(16, 1, 1, ENG_LOGICAL), 1000), 40960000ull);
    /* TP 1: all 8 heads: 327,680 B per token (80 x 2 x 8 x 128 x 2). */
    CHECK_EQ("llama70-tp1-kv", kv_dev(m, layout(1, 1, 1, ENG_LOGICAL), 1000), 327680000ull);
    /* Weights at TP 8, per layer: q and o 8192 x 8192 each, k and v
     * 8192 x 8 x 128 each (= 16,777,216 together), MLP 3 x 8192 x 28672 =
     * 704,643,072: 855,638,016 split 8 ways = 106,954,752, plus the two
     * RMSNorms 16,384 replicated = 106,971,136; x 80 = 8,557,690,880. The
     * embedding and the untied head, 128256 x 8192 each, split 8 ways:
     * 2 x 131,334,144; the final norm 8,192. Total 8,820,367,360 params x 2 B. */
    CHECK_EQ("llama70-tp8-weights", w_dev(m, layout(8, 1, 1, ENG_LOGICAL)), 17640734720ull);
    /* TP 16: the K/V projections hold one head per rank (2 x 8192 x 128 =
     * 2,097,152), not 8/16: per layer (134,217,728 + 704,643,072) / 16 =
     * 52,428,800 + 2,097,152 + 16,384 = 54,542,336; x 80 = 4,363,386,880;
     * embedding + head 2 x 65,667,072; final norm 8,192: 4,494,729,216 x 2 B. */
    CHECK_EQ("llama70-tp16-weights", w_dev(m, layout(16, 1, 1, ENG_LOGICAL)), 8989458432ull);
    /* vLLM, TP 8, block 16: page = 16 x 1 x (128 + 128) x 2 = 8,192 B, one
     * group of 80 layers; budget 10 GiB: 10,737,418,240 // 8,192 // 80 =
     * 16,384 blocks; L = 131,072 needs 131,072 / 16 = 8,192 blocks: 2.00x,
     * "GPU KV cache size" int(2.0 x 131,072) = 262,144 tokens. */
    engine_result r;
    if (!engine(m, layout(8, 1, 1, ENG_VLLM), 10 * GiB, 131072, &r)) {
        CHECK_EQ("llama70-vllm-page", r.group[0].page_bytes, 8192);
        CHECK_EQ("llama70-vllm-blocks", r.blocks, 16384);
        CHECK_EQ("llama70-vllm-tokens", r.tokens, 262144);
        CHECK_CLOSE("llama70-vllm-concurrency", r.max_concurrency, 2.0, 0);
    }
    /* SGLang, TP 8, page 1: cell = 1 x (128 + 128) x 80 x 2 = 40,960 B;
     * (10 GiB // 40,960) // 1 x 1 = 262,144 tokens. */
    if (!engine(m, layout(8, 1, 1, ENG_SGLANG), 10 * GiB, 131072, &r)) CHECK_EQ("llama70-sglang-tokens", r.tokens, 262144);
    /* PP 3 over 80 layers: 26 each and the remainder 2 on the stages before
     * the last (vLLM get_pp_indices): [27, 27, 26]. KV per GPU = the busiest
     * stage's 27 layers x 512 B per token at TP 8 (one head): T = 1000 ->
     * 27 x 512,000 = 13,824,000. */
    u64 lo, hi;
    deploy_stage_range(80, 3, 0, &lo, &hi);
    CHECK("pp3-stage0", lo == 0 && hi == 27);
    deploy_stage_range(80, 3, 1, &lo, &hi);
    CHECK("pp3-stage1", lo == 27 && hi == 54);
    deploy_stage_range(80, 3, 2, &lo, &hi);
    CHECK("pp3-stage2", lo == 54 && hi == 80);
    deploy_cfg dp3 = layout(8, 1, 1, ENG_LOGICAL);
    dp3.pp = 3;
    CHECK_EQ("llama70-tp8-pp3-kv", kv_dev(m, dp3, 1000), 13824000);
    /* SGLang with an EAGLE/MTP draft layer: int(40,960 x (1 + 1/80)) =
     * 41,472 B per token; 10 GiB // that = 258,907 tokens. */
    deploy_cfg sp = layout(8, 1, 1, ENG_SGLANG);
    sp.spec_tokens = 3;
    if (!engine(m, sp, 10 * GiB, 131072, &r)) CHECK_EQ("llama70-sglang-spec-tokens", r.tokens, 258907);
    /* vLLM with 3 speculative tokens: the drafter's attention layer (an
     * EAGLE/MTP layer of the target's shape) gets its spec
     * (GPUModelRunner.get_kv_cache_spec): one group of 81 identical layers,
     * 10 GiB // 8,192 // 81 = 16,181 blocks. The lookahead slots add no block
     * at max_model_len: KVCacheManager.allocate_slots reserves
     * min(computed + new + lookahead, max_model_len) tokens, so a request of
     * L still needs 8,192 blocks: int(16,181 / 8,192 x 131,072) = 258,896. */
    deploy_cfg vsp = layout(8, 1, 1, ENG_VLLM);
    vsp.spec_tokens = 3;
    if (!engine(m, vsp, 10 * GiB, 131072, &r)) {
        CHECK_EQ("llama70-vllm-spec-layers", r.group[0].layers, 81);
        CHECK_EQ("llama70-vllm-spec-blocks", r.blocks, 16181);
        CHECK_EQ("llama70-vllm-spec-req-blocks", r.blocks_per_seq, 8192);
        CHECK_EQ("llama70-vllm-spec-tokens", r.tokens, 258896);
    }
    /* Activation estimate at TP 8, one chunk of T = 8,192 tokens, S = 1,024
     * logit rows (deploy.h): hidden 2 x 8,192 x 8,192 x 2 = 268,435,456;
     * attention 8,192 x 8 heads x (128 + 128) x 2 = 33,554,432 < MLP 8,192 x
     * 3 x 28,672 / 8 x 2 = 176,160,768; logits 1,024 x 128,256 x 4 =
     * 525,336,576: 969,932,800 B. */
    {
        u64 act = 0;
        deploy_cfg ad = layout(8, 1, 1, ENG_VLLM);
        if (!deploy_check(&ad, m, &e0) && !deploy_activation(m, &ad, 8192, 1024, &act, &e0))
            CHECK_EQ("llama70-tp8-activation", act, 969932800ull);
        /* on an 8xH200 node under vLLM (mnbt 8,192, max_num_seqs 1,024 on a
         * GPU >= 70 GiB): budget = ceil(141e9 x 0.9) - 17,640,734,720 weights -
         * 969,932,800 = 108,289,332,480 B; // 8,192 // 80 = 165,236 blocks;
         * int(165,236 / 8,192 x 131,072) = 2,643,776 tokens */
        deploy_result dr0;
        if (!deploy_eval(m, &ad, &H_node, 131072, &dr0, &e0)) {
            CHECK_EQ("llama70-node-vllm-activation", dr0.activation_bytes, 969932800ull);
            CHECK_EQ("llama70-node-vllm-budget", dr0.kv_budget_bytes, 108289332480ull);
            CHECK_EQ("llama70-node-vllm-tokens", dr0.eng.tokens, 2643776);
            CHECK_EQ("llama70-node-vllm-reserve", dr0.reserve_bytes,
                     141000000000ull - 17640734720ull - 108289332480ull);
        }
        /* --act-reserve none: the old budget, ceil(141e9 x 0.9) - weights */
        ad.act = ACT_NONE;
        if (!deploy_eval(m, &ad, &H_node, 131072, &dr0, &e0))
            CHECK_EQ("llama70-node-vllm-no-act", dr0.kv_budget_bytes, 126900000000ull - 17640734720ull);
        /* SGLang's default mem_fraction_static on an H200 (141e9 B = 134,468.08
         * MiB; chunked_prefill_size 8,192, cuda_graph_max_bs 512 at tp_size 8):
         * reserved 512 + 1.5 x 8,192 + 2 x 512 + 8 x 1 / 8 x 1,024 = 14,848
         * MiB (above the 10,240 floor); round((134,468.08 - 14,848) /
         * 134,468.08, 3) = 0.890. Budget ceil(141e9 x 0.89) - weights =
         * 107,849,265,280 B; cell 40,960 B, page 1: 2,633,038 tokens. */
        deploy_cfg sd = layout(8, 1, 1, ENG_SGLANG);
        CHECK_CLOSE("sglang-memfrac-h200-tp8", deploy_sglang_mem_fraction(&sd, 141e9, NULL, NULL), 0.89, 1e-12);
        if (!deploy_check(&sd, m, &e0) && !deploy_eval(m, &sd, &H_node, 131072, &dr0, &e0)) {
            CHECK_EQ("llama70-node-sglang-budget", dr0.kv_budget_bytes, 107849265280ull);
            CHECK_EQ("llama70-node-sglang-tokens", dr0.eng.tokens, 2633038);
            CHECK_EQ("llama70-node-sglang-act-inside", dr0.activation_bytes, 12288ull * 1048576);
        }
        /* DP attention, tp 1 x dp 8 (SGLang tp_size 8, dp_size 8): + 3 x 512
         * x 8 = 12,288 and, bs > 300, + 1.5 x 512 x 8 = 6,144: 33,280 MiB,
         * fraction round(101,188.08 / 134,468.08, 3) = 0.753; an EAGLE draft
         * adds 2,048 MiB to the tp 8 case: 16,896 -> 0.874. */
        deploy_cfg s8 = layout(1, 8, 1, ENG_SGLANG);
        CHECK_CLOSE("sglang-memfrac-h200-dp8", deploy_sglang_mem_fraction(&s8, 141e9, NULL, NULL), 0.753, 1e-12);
        sd.spec_tokens = 1;
        CHECK_CLOSE("sglang-memfrac-h200-eagle", deploy_sglang_mem_fraction(&sd, 141e9, NULL, NULL), 0.874, 1e-12);
    }
    /* TP all-reduce at TP 8, batch 3: 2 per layer (attention, MLP) of
     * 3 x 8192 x 2 B = 49,152 B: 80 x 2 x 49,152 = 7,864,320 B payload; a
     * ring sends 2 x 7/8 of it = 13,762,560 B per device. */
    deploy_cfg d = layout(8, 1, 1, ENG_LOGICAL);
    deploy_result dr;
    sim_err e;
    memset(&dr, 0, sizeof dr);
    if (!deploy_check(&d, m, &e) && !deploy_step(m, &d, 4096, 3, &dr, &e)) {
        CHECK_EQ("llama70-allreduce", dr.allreduce_bytes, 7864320);
        CHECK_EQ("llama70-allreduce-wire", dr.allreduce_wire_bytes, 13762560);
        CHECK_EQ("llama70-no-alltoall", dr.alltoall_bytes, 0);
        /* KV read per device, decode at T = 4096: the 4,097 rows of one head
         * per layer (the new one written first): 3 x 80 x 4,097 x 512 B */
        CHECK_EQ("llama70-kv-read", dr.step_kv_read_bytes, 3ull * 80 * 4097 * 512);
    }
}

static void test_v3(void)
{
    const model_spec *m = &M_v3;
    /* DeepSeek-V3 MLA: 576 x 2 B = 1,152 B per layer per token, 61 layers:
     * 70,272 B per token (research/deepseek.md), held whole on every TP rank. */
    CHECK_EQ("v3-tp8-kv-full-latent", kv_dev(m, layout(8, 1, 1, ENG_LOGICAL), 1), 70272);
    CHECK_EQ("v3-dp8-ep8-kv", kv_dev(m, layout(1, 8, 8, ENG_LOGICAL), 1), 70272);
    CHECK_EQ("v3-tp8-kv-1000", kv_dev(m, layout(8, 1, 1, ENG_LOGICAL), 1000), 70272000);
    /* DCP 8 in TP 8 splits the tokens: cdiv(1000, 8) = 125 per rank. */
    deploy_cfg dc = layout(8, 1, 1, ENG_LOGICAL);
    dc.dcp = 8;
    CHECK_EQ("v3-dcp8-kv", kv_dev(m, dc, 1000), 125ull * 70272);
    /* Weights: the routed experts are split 8 ways either way (TP 8 splits
     * each expert, EP 8 puts 32 whole experts on a rank); DP 8 replicates the
     * attention, dense and shared-expert weights that TP 8 splits: DP 8
     * holds more per device. */
    u64 wt = w_dev(m, layout(8, 1, 1, ENG_LOGICAL)), wd = w_dev(m, layout(1, 8, 8, ENG_LOGICAL));
    CHECK("v3-dp8-weights-more-than-tp8", wd > wt);
    /* Collectives at batch 1. TP 8: two all-reduces per layer (attention and
     * the FFN, experts TP-split) of 7168 x 2 B: 61 x 2 x 14,336 = 1,748,992 B.
     * DP 8 + EP 8: none; an all-to-all per MoE layer (58): 1 token x top-8 x
     * 7168 x 2 B = 114,688 B, 7/8 of it to other ranks = 100,352, dispatch +
     * combine = 200,704; x 58 = 11,640,832 B. */
    deploy_result r;
    sim_err e;
    deploy_cfg d = layout(8, 1, 1, ENG_LOGICAL);
    if (!deploy_check(&d, m, &e) && !deploy_step(m, &d, 1024, 1, &r, &e)) {
        CHECK_EQ("v3-tp8-allreduce", r.allreduce_bytes, 1748992);
        CHECK_EQ("v3-tp8-alltoall", r.alltoall_bytes, 0);
    }
    d = layout(1, 8, 8, ENG_LOGICAL);
    if (!deploy_check(&d, m, &e) && !deploy_step(m, &d, 1024, 1, &r, &e)) {
        CHECK_EQ("v3-dp8-allreduce", r.allreduce_bytes, 0);
        CHECK_EQ("v3-dp8-ep8-alltoall", r.alltoall_bytes, 11640832);
    }
    /* deploy_eval times the step at its capacity batch by scaling one batch-1
     * evaluation (decode counts are linear in the batch but for the experts
     * read): the same figures as evaluating at that batch directly. Budget
     * 5 x the 70,272 x 1,024 B of one sequence -> 5 sequences. */
    d = layout(1, 8, 8, ENG_LOGICAL);
    d.kv_budget = 5ull * 70272 * 1024;
    deploy_result full, direct;
    if (!deploy_check(&d, m, &e) && !deploy_eval(m, &d, NULL, 1024, &full, &e) &&
        !deploy_step(m, &d, 1024, full.batch_per_replica, &direct, &e)) {
        CHECK_EQ("v3-capacity-batch", full.batch_per_replica, 5);
        CHECK_EQ("v3-scaled-step-bytes", full.step_bytes, direct.step_bytes);
        CHECK_EQ("v3-scaled-step-kv", full.step_kv_read_bytes, direct.step_kv_read_bytes);
        CHECK_EQ("v3-scaled-step-weights", full.step_weight_read_bytes, direct.step_weight_read_bytes);
        CHECK_EQ("v3-scaled-step-a2a", full.alltoall_bytes, direct.alltoall_bytes);
        CHECK_EQ("v3-scaled-step-flops-bf16", full.step_flops_dt[DT_BF16], direct.step_flops_dt[DT_BF16]);
        CHECK_EQ("v3-scaled-step-flops-fp8", full.step_flops_dt[DT_FP8_E4M3], direct.step_flops_dt[DT_FP8_E4M3]);
    }
    /* vLLM: one MLA spec for every layer, FlashMLA block 64: page 64 x 1152 =
     * 73,728 B; 10 GiB // 73,728 // 61 = 2,387 blocks; L = 131,072 needs
     * 2,048: 1.1655x, int(2387 / 2048 x 131072) = 152,768 tokens. */
    engine_result er;
    if (!engine(m, layout(8, 1, 1, ENG_VLLM), 10 * GiB, 131072, &er)) {
        CHECK_EQ("v3-vllm-block", er.block_size, 64);
        CHECK_EQ("v3-vllm-blocks", er.blocks, 2387);
        CHECK_EQ("v3-vllm-tokens", er.tokens, 152768);
    }
    /* SGLang MLA: cell 70,272 B on every rank: 10 GiB // 70,272 = 152,797. */
    if (!engine(m, layout(8, 1, 1, ENG_SGLANG), 10 * GiB, 131072, &er)) CHECK_EQ("v3-sglang-tokens", er.tokens, 152797);
    /* V3.2 under vLLM: main 656 B + indexer 132 B per token, both
     * MLAAttentionSpec with block 64 -> UniformTypeKVCacheSpecs, one group
     * whose page is 61 x (656 + 132) x 64 = 3,076,352 B; 10 GiB // that = 3,490. */
    if (!engine(&M_v32, layout(8, 1, 1, ENG_VLLM), 10 * GiB, 131072, &er)) {
        CHECK_EQ("v32-vllm-groups", er.n_groups, 1);
        CHECK_EQ("v32-vllm-page", er.group[0].page_bytes, 3076352);
        CHECK_EQ("v32-vllm-blocks", er.blocks, 3490);
    }
}

/* Activation estimate of DeepSeek-V3 at TP 8 with experts TP-split (EP 1):
 * T = 8,192, S = 1,024. Hidden 2 x 8,192 x 7,168 x 2 = 234,881,024.
 * Attention (MLA) 8,192 x 16 heads x (192 + 128) x 2 = 83,886,080; dense
 * layers 8,192 x 3 x 18,432 / 8 x 2 = 113,246,208; MoE: every rank sees all
 * 8,192 x 8 = 65,536 routed copies at width 2,048 / 8: (2 x 7,168 + 3 x 256) x
 * 2 = 30,208 B each = 1,979,711,488, plus the shared expert 8,192 x 3 x 256 x
 * 2 = 12,582,912: 1,992,294,400 (the largest); logits 1,024 x 129,280 x 4 =
 * 529,530,880. Total 2,756,706,304 B. */
static void test_activation_v3(void)
{
    u64 act = 0;
    deploy_cfg ad = layout(8, 1, 1, ENG_VLLM);
    if (!deploy_check(&ad, &M_v3, &e0) && !deploy_activation(&M_v3, &ad, 8192, 1024, &act, &e0))
        CHECK_EQ("v3-tp8-ep1-activation", act, 2756706304ull);
    /* T below the sampler rows: S is capped at T (512 rows of logits) */
    if (!deploy_activation(&M_v3, &ad, 512, 1024, &act, &e0))
        CHECK_EQ("v3-tp8-logit-rows-capped", act,
                 2ull * 512 * 7168 * 2 + (512ull * 8 * (2 * 7168 + 3 * 256) * 2 + 512ull * 3 * 256 * 2) +
                     512ull * 129280 * 4);
}

static void test_gemma(void)
{
    const model_spec *m = &M_e2b;
    /* Gemma 4 E2B: layers 15-34 share the cache of earlier layers and own
     * none. Logical per sequence at T = 1000: 12 sliding owners of
     * min(1000, 512) x 1 x (256 + 256) x 2 B + 3 full owners of 1000 x
     * (512 + 512) x 2 B = 12 x 524,288 + 3 x 2,048,000 = 12,435,456 B. */
    CHECK_EQ("e2b-kv-owners-only", kv_dev(m, layout(1, 1, 1, ENG_LOGICAL), 1000), 12435456);
    /* vLLM (rules newest): 15 specs (shared layers get none); sliding page
     * 16 x 1 x 512 x 2 = 16,384, full 32,768 -> the sliding block doubles to
     * 32; buckets 12 sliding + 3 full, group size 3: 4 sliding groups + 1
     * full. Budget 10 GiB: // 32,768 // 3 = 109,226 blocks. L = 131,072,
     * in flight 2 x 8192: sliding cdiv(min(511 + 16,384, L), 32) + 1 = 529
     * each, full cdiv(L, 16) = 8,192: 4 x 529 + 8,192 = 10,308 per request.
     * Tokens int(109226 / 10308 x 131072) = 1,388,869. */
    engine_result r;
    if (!engine(m, layout(1, 1, 1, ENG_VLLM), 10 * GiB, 131072, &r)) {
        int layers = 0, sliding = 0;
        for (int g = 0; g < r.n_groups; g++) {
            layers += r.group[g].layers;
            if (!strcmp(r.group[g].kind, "sliding")) {
                sliding++;
                CHECK_EQ("e2b-vllm-sliding-blocks-per-seq", r.group[g].blocks_per_seq, 529);
                CHECK_EQ("e2b-vllm-sliding-block-doubled", r.group[g].block_size, 32);
            }
        }
        CHECK_EQ("e2b-vllm-groups", r.n_groups, 5);
        CHECK_EQ("e2b-vllm-sliding-groups", sliding, 4);
        CHECK_EQ("e2b-vllm-layer-slots-no-shared", layers, 15);
        CHECK_EQ("e2b-vllm-blocks", r.blocks, 109226);
        CHECK_EQ("e2b-vllm-blocks-per-req", r.blocks_per_seq, 10308);
        CHECK_EQ("e2b-vllm-tokens", r.tokens, 1388869);
    }
    /* The same under the <= v0.19 log formula: 109,226 // 5 groups x 16 =
     * 349,520 tokens; in flight mnbt alone: cdiv(8,703, 32) + 1 = 273. */
    deploy_cfg d = layout(1, 1, 1, ENG_VLLM);
    d.rules = ERULES_VLLM_019;
    if (!engine(m, d, 10 * GiB, 131072, &r)) {
        CHECK_EQ("e2b-vllm019-tokens", r.tokens, 349520);
        CHECK_EQ("e2b-vllm019-sliding-blocks", r.group[0].blocks_per_seq, 273);
    }
    /* SGLang hybrid SWA. Unlike vLLM, SGLang allocates the 20 KV-shared
     * layers too: get_hybrid_layer_ids (configs/model_config.py) lists every
     * entry of layer_types, SWAKVPool allocates len(ids) buffers per pool and
     * HybridSWAPoolConfigurator counts them. 7 full layers of 1 x (512 +
     * 512) x 2 = 2,048 B/token: F = 14,336; 28 sliding of 1 x (256 + 256) x
     * 2 = 1,024: S = 28,672; cell = 14,336 + 0.8 x 28,672 = 37,273.6; full =
     * 10 GiB // 37,273.6 = 288,070; swa = int(288,070 x 0.8) = 230,456. */
    if (!engine(m, layout(1, 1, 1, ENG_SGLANG), 10 * GiB, 131072, &r)) {
        CHECK_EQ("e2b-sglang-full", r.tokens, 288070);
        CHECK_EQ("e2b-sglang-swa", r.swa_tokens, 230456);
        CHECK_EQ("e2b-sglang-full-layers-with-shared", r.group[0].layers, 7);
        CHECK_EQ("e2b-sglang-sliding-layers-with-shared", r.group[1].layers, 28);
    }
    /* The SWA footprint of a request (SWAChunkCapPoolConfigurator):
     * min(L, window) + 128 x draft tokens + page + one decode allocation.
     * --swa-ratio 0.1, L = 1,024: cell = 14,336 + 2,867.2 = 17,203.2, full =
     * 10 GiB // that = 624,152, swa = 62,415; per request 512 + 128 + 1 + 1
     * = 642: 62,415 // 642 = 97 sequences (the full pool holds 609). With 3
     * speculative tokens (4 draft tokens, top-k 1): cell + one draft full
     * layer 2,048 = 19,251.2, full 557,753, swa 55,775; per request 512 +
     * 128 x 4 + 1 + 2 x 4 = 1,033: 53 sequences. */
    deploy_cfg sw = layout(1, 1, 1, ENG_SGLANG);
    sw.swa_ratio = 0.1;
    if (!engine(m, sw, 10 * GiB, 1024, &r)) {
        CHECK_EQ("e2b-sglang-r01-swa", r.swa_tokens, 62415);
        CHECK_EQ("e2b-sglang-swa-footprint-seqs", r.max_seqs, 97);
        CHECK_EQ("e2b-sglang-swa-footprint-pages", r.group[1].blocks_per_seq, 642);
    }
    sw.spec_tokens = 3;
    if (!engine(m, sw, 10 * GiB, 1024, &r)) {
        CHECK_EQ("e2b-sglang-spec-full", r.tokens, 557753);
        CHECK_EQ("e2b-sglang-spec-swa-footprint-seqs", r.max_seqs, 53);
    }
}

static void test_flash(void)
{
    const model_spec *m = &M_flash;
    /* DeepSeek-V4-Flash under vLLM, block 256 (research/serving.md 3.2):
     * entries per 256-token block: CSA (r 4) 64 x 584 = 37,376 -> 37,440
     * (576-aligned), its FP8-size indexer 64 x 132 = 8,448 -> 8,640; HCA
     * (r 128) 2 x 584 = 1,168 -> 1,728. Group 0 = every MLA spec: 21 x 37,440
     * + 21 x 8,640 + 20 x 1,728 = 1,002,240 B. SWA (block 64): 64 x 584 ->
     * 37,440 on all 43 layers; CSA states (block 4): 4 x 8,192 -> 32,832 and
     * 4 x 2,048 -> 8,640; HCA states (block 8): 8 x 4,096 -> 32,832.
     * Layer tuples 21 (MLA), 43 (SWA), 21 (CSA states), 20 (HCA states):
     * _approximate_gcd with lower bound 21 -> 22 (padding 1 + 1 + 1 + 2 = 5,
     * d = 21 pads 21): SWA splits into 2 groups (22, 21 layers), the others
     * stay whole. Packed block stride = the fullest group, 1,002,240 B. */
    deploy_cfg d = layout(1, 1, 1, ENG_VLLM);
    d.block = 256;
    engine_result r;
    u64 budget = 64 * GiB;
    if (!engine(m, d, budget, 1048576, &r)) {
        CHECK_EQ("flash-vllm-groups", r.n_groups, 5);
        CHECK_EQ("flash-vllm-mla-page", r.group[0].page_bytes, 1002240);
        CHECK_EQ("flash-vllm-mla-block", r.group[0].block_size, 256);
        CHECK_EQ("flash-vllm-swa-a", r.group[1].page_bytes, 22ull * 37440);
        CHECK_EQ("flash-vllm-swa-b", r.group[2].page_bytes, 21ull * 37440);
        CHECK_EQ("flash-vllm-swa-block", r.group[1].block_size, 64);
        CHECK_EQ("flash-vllm-c4-states", r.group[3].page_bytes, 21ull * 32832 + 21ull * 8640);
        CHECK_EQ("flash-vllm-c4-state-block", r.group[3].block_size, 4);
        CHECK_EQ("flash-vllm-c128-states", r.group[4].page_bytes, 20ull * 32832);
        CHECK_EQ("flash-vllm-c128-state-block", r.group[4].block_size, 8);
        CHECK_EQ("flash-vllm-stride", r.bytes_per_block, 1002240);
        /* 64 GiB // 1,002,240 = 68,565 blocks. Per request at L = 1M, in
         * flight 16,384: MLA cdiv(L, 256) = 4,096; SWA cdiv(16,511, 64) + 1 =
         * 259 (x 2 groups); CSA states cdiv(16,391, 4) + 1 = 4,099; HCA states
         * cdiv(16,511, 8) + 1 = 2,065: 10,778. 68,565 / 10,778 = 6.3616x,
         * int(that x 1,048,576) = 6,670,589 tokens. */
        CHECK_EQ("flash-vllm-blocks", r.blocks, 68565);
        CHECK_EQ("flash-vllm-swa-blocks-per-seq", r.group[1].blocks_per_seq, 259);
        CHECK_EQ("flash-vllm-c4-state-blocks-per-seq", r.group[3].blocks_per_seq, 4099);
        CHECK_EQ("flash-vllm-c128-state-blocks-per-seq", r.group[4].blocks_per_seq, 2065);
        CHECK_EQ("flash-vllm-req", r.blocks_per_seq, 10778);
        CHECK_EQ("flash-vllm-tokens", r.tokens, 6670589);
    }
    /* v0.20 rules: state pages padded up to the smallest MLA page >= them
     * (32,832 -> 37,440), in flight 8,192, one cdiv of all groups' bytes by
     * group 0's page: (4,096 x 1,002,240 + 131 x 823,680 + 131 x 786,240 +
     * 2,051 x 967,680 + 1,041 x 748,800) / 1,002,240 -> 7,065 blocks;
     * 68,565 / 7,065 = 9.7049x, int(x 1,048,576) = 10,176,307. */
    d.rules = ERULES_VLLM_020;
    if (!engine(m, d, budget, 1048576, &r)) {
        CHECK_EQ("flash-vllm020-c4-states-padded", r.group[3].page_bytes, 21ull * 37440 + 21ull * 8640);
        CHECK_EQ("flash-vllm020-req", r.blocks_per_seq, 7065);
        CHECK_EQ("flash-vllm020-tokens", r.tokens, 10176307);
    }
    /* SGLang (DSV4PoolConfigurator), page 256, swa ratio 0.1 (SGLang's V4
     * default, _deepseek_v4_overrides): bytes per full token 0.1 x 584 x 43
     * + 584 x 21 / 4 + 584 x 20 / 128 + 132 x 21 / 4 + 0.1 x 8/128 x (8,192
     * + 2,048) x 21 = 2,511.2 + 3,066 + 91.25 + 693 + 1,344 = 7,705.45.
     * max_running_requests defaults to 256 for V4 (apply_deepseek_v4_defaults),
     * // dp 1 = 256 per worker, 257 slots; c128 state rows ceil_128(257 x
     * 128 + 129) = 33,152 of 4,096 B on 20 HCA layers = 2,715,811,840 B
     * reserved first; full = int((64 GiB - that) / 7,705.45) = 8,565,841 ->
     * 8,565,760 (page 256), swa = int(856,576.0) -> 856,576. With
     * --max-running-requests 64: 65 slots, 8,448 rows, 702,545,920 B: full
     * 8,826,880, swa 882,688. */
    deploy_cfg sg = layout(1, 1, 1, ENG_SGLANG);
    if (!engine(m, sg, budget, 1048576, &r)) {
        CHECK_EQ("flash-sglang-full", r.tokens, 8565760);
        CHECK_EQ("flash-sglang-swa", r.swa_tokens, 856576);
    }
    /* DP 8: 256 // 8 = 32 requests per worker (requested_max_running_
     * requests_per_worker): at L = 8,192 the pools hold far more, the cap
     * gives 32 sequences per replica. */
    if (!engine(m, layout(1, 8, 8, ENG_SGLANG), budget, 8192, &r)) CHECK_EQ("flash-sglang-dp8-mrr-cap", r.max_seqs, 32);
    /* The compressor-state rings with speculation (16 / 256) keep at most
     * ring - window + 2 draft tokens per verify (get_compress_state_write_pad):
     * 16 - 8 + 2 = 10 for c4, so 9 speculative tokens (10 drafts) pass and 10
     * are refused. */
    deploy_cfg wp = layout(1, 1, 1, ENG_SGLANG);
    wp.spec_tokens = 9;
    CHECK("flash-sglang-writepad-9-ok", engine(m, wp, budget, 8192, &r) == SIM_OK);
    wp.spec_tokens = 10;
    {
        sim_err we;
        deploy_cfg w2 = wp;
        int wrc = deploy_check(&w2, m, &we);
        if (!wrc) wrc = engine_eval(m, &w2, budget, 8192, &r, &we);
        CHECK("flash-sglang-writepad-10-refused", wrc == SIM_EINVAL && strstr(we.msg, "get_compress_state_write_pad"));
    }
    sg.max_running = 64;
    if (!engine(m, sg, budget, 1048576, &r)) {
        CHECK_EQ("flash-sglang-mrr64-full", r.tokens, 8826880);
        CHECK_EQ("flash-sglang-mrr64-swa", r.swa_tokens, 882688);
    }
    /* Speculative decoding (one MTP draft layer). SGLang: rings 16 / 256,
     * bpft x 44/43 = 7,705.45 -> 0.1 x 584 x 43 + ... with 16/128 state
     * ratios = 9,049.35 x 44/43 = 9,259.90; 65 slots: ceil_128(65 x 256 +
     * 257) = 17,024 rows x 4,096 B x 20 = 1,394,606,080 B; full =
     * int((64 GiB - that) / 9,259.90) -> 7,270,400 (page 256), swa 727,040.
     * vLLM: the MTP layer (compress ratio 1) adds one SWA cache: 44 window
     * caches, split 22 + 22 (d = 22 still). */
    sg.spec_tokens = 2;
    if (!engine(m, sg, budget, 1048576, &r)) {
        CHECK_EQ("flash-sglang-spec-full", r.tokens, 7270400);
        CHECK_EQ("flash-sglang-spec-swa", r.swa_tokens, 727040);
    }
    deploy_cfg vs = layout(1, 1, 1, ENG_VLLM);
    vs.spec_tokens = 2;
    if (!engine(m, vs, budget, 1048576, &r)) {
        CHECK_EQ("flash-vllm-mtp-swa-a", r.group[1].layers, 22);
        CHECK_EQ("flash-vllm-mtp-swa-b", r.group[2].layers, 22);
        CHECK_EQ("flash-vllm-mtp-mla-unchanged", r.group[0].layers, 62);
    }
    /* Activation estimate, DP 8 + EP 8 (the layout), T = 8,192, S
     * = 1,024: hidden 2 x 8,192 x 4,096 x 2 = 134,217,728; attention 8,192 x
     * 64 x (512 + 512) x 2 = 1,073,741,824; MoE: the EP group gathers 8
     * replicas, 8,192 x 6 x 8 / 8 = 49,152 routed copies of (2 x 4,096 + 3 x
     * 2,048) x 2 = 28,672 B = 1,409,286,144, plus the shared expert 8,192 x 3
     * x 2,048 x 2 = 100,663,296: 1,509,949,440 (the largest); logits 1,024 x
     * 129,280 x 4 = 529,530,880: 2,173,698,048 B. */
    {
        u64 act = 0;
        deploy_cfg ad = layout(1, 8, 8, ENG_VLLM);
        if (!deploy_check(&ad, m, &e0) && !deploy_activation(m, &ad, 8192, 1024, &act, &e0))
            CHECK_EQ("flash-dp8-ep8-activation", act, 2173698048ull);
    }
    /* A block that the HCA ratio does not divide is refused. */
    d.rules = ERULES_NEWEST;
    d.block = 64;
    sim_err e;
    deploy_cfg dd = d;
    int rc = deploy_check(&dd, m, &e);
    if (!rc) rc = engine_eval(m, &dd, budget, 4096, &r, &e);
    CHECK("flash-vllm-block64-refused", rc == SIM_EINVAL && strstr(e.msg, "compression ratio 128"));
}

/* Worked examples of serving.md on tiny specs. */
static void test_worked(void)
{
    /* 1.2: W = 128, B = 16, mnbt = 8192 (in flight = mnbt, v0.20 rules):
     * cdiv(min(127 + 8192, L), 16) + 1 = cdiv(8,319, 16) + 1 = 521 blocks. */
    const char *sw =
        "name: sw\nd_model: 64\nn_layers: 25\nvocab: 100\nffn: {type: dense, d_ff: 64}\n"
        "layers:\n  s: {type: gqa, q_heads: 4, kv_heads: 2, head_dim: 16, window: 128}\n"
        "  f: {type: gqa, q_heads: 4, kv_heads: 2, head_dim: 16}\n"
        "pattern: [f, s, f, s, f, s, f, s, f, s, f, s, f, s, f, s, f, s, f, s, f, s, f, s, f]\n";
    model_spec m;
    sim_err e;
    if (load_str(&m, sw, NULL, 0, &e)) { printf("%s\n", e.msg); CHECK("worked-load", 0); return; }
    deploy_cfg d = layout(1, 1, 1, ENG_VLLM);
    d.rules = ERULES_VLLM_020;
    engine_result r;
    if (!engine(&m, d, 1000000, 1 << 20, &r)) {
        /* 1.4: 13 full + 12 sliding: 13 < 1.5 x 12, so group size 13 (the
         * sliding group padded by one slot): 2 groups of 13 slots. */
        CHECK_EQ("worked-groups", r.n_groups, 2);
        CHECK_EQ("worked-group-size-max", r.group[0].layers, 13);
        CHECK_EQ("worked-sliding-padded", r.group[1].layers, 13);
        CHECK_EQ("worked-sliding-521", r.group[1].blocks_per_seq, 521);
        /* 1.6: num_blocks = avail // page // group_size, page = 16 x 2 x 32 x
         * 2 = 2,048: 1,000,000 // 2,048 // 13 = 37. */
        CHECK_EQ("worked-num-blocks", r.blocks, 37);
        /* 1.7 (one cdiv, equal pages): 65,536 + 521 = 66,057 blocks per
         * request; 37 / 66,057 x 2^20 = 587.3 -> 587 tokens. */
        CHECK_EQ("worked-tokens", r.tokens, 587);
    }
    /* 1.2 again with L below the window cap: cdiv(min(8,319, 100), 16) + 1 = 8. */
    if (!engine(&m, d, 1000000, 100, &r)) CHECK_EQ("worked-short-len", r.group[1].blocks_per_seq, 8);
    spec_free(&m);
}

static void test_bad(void)
{
    struct { const model_spec *m; u64 gpus, tp, pp, dp, ep, dcp; engine_kind eng; double util; const char *why; } c[] = {
        {&M_llama70, 0, 3, 1, 1, 1, 1, ENG_LOGICAL, 0.9, "does not divide the 64 query heads"},
        {&M_llama70, 8, 2, 1, 2, 1, 1, ENG_LOGICAL, 0.9, "gpus = 8 but tp x pp x dp"},
        {&M_llama70, 0, 1, 81, 1, 1, 1, ENG_LOGICAL, 0.9, "exceeds the 80 layers"},
        {&M_llama70, 0, 8, 1, 1, 1, 3, ENG_LOGICAL, 0.9, "does not divide tp = 8"},
        {&M_llama70, 0, 8, 1, 1, 1, 2, ENG_LOGICAL, 0.9, "hold a copy of each head"},
        {&M_v3, 0, 1, 1, 8, 512, 1, ENG_LOGICAL, 0.9, "exceeds the 256 experts"},
        {&M_v3, 0, 8, 1, 1, 3, 1, ENG_LOGICAL, 0.9, "does not divide the tp x dp"},
        {&M_v3, 0, 4, 1, 2, 8, 1, ENG_LOGICAL, 0.9, ""},   /* ep 8 = tp 4 x dp 2: valid */
        {&M_e2b, 0, 2, 1, 1, 1, 2, ENG_VLLM, 0.9, "asserts decode_context_parallel_size == 1"},
        {&M_e2b, 0, 16, 1, 1, 1, 1, ENG_LOGICAL, 0.9, "does not divide the 8 query heads"},
        {&M_llama70, 0, 8, 1, 1, 1, 1, ENG_LOGICAL, 1.5, "expected a fraction"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        deploy_cfg d;
        deploy_cfg_default(&d);
        d.tp = c[i].tp; d.pp = c[i].pp; d.dp = c[i].dp; d.ep = c[i].ep; d.dcp = c[i].dcp;
        d.engine = c[i].eng;
        d.mem_util = c[i].util;
        d.set[3] = true;
        if (c[i].gpus) { d.gpus = c[i].gpus; d.set[0] = true; }
        sim_err e = {{0}};
        int rc = deploy_check(&d, c[i].m, &e);
        char name[64];
        snprintf(name, sizeof name, "bad-layout-%zu", i);
        if (!*c[i].why) CHECK(name, rc == SIM_OK);
        else {
            CHECK(name, rc == SIM_EINVAL && strstr(e.msg, c[i].why));
            if (rc != SIM_EINVAL || !strstr(e.msg, c[i].why)) printf("  got: %s\n", e.msg);
        }
    }
}

int main(void)
{
    load(&M_llama70, "archs/llama-3-70b.yaml");
    load(&M_v3, "archs/deepseek-v3.yaml");
    load(&M_v32, "archs/deepseek-v3.2.yaml");
    load(&M_e2b, "archs/gemma4-e2b.yaml");
    load(&M_flash, "archs/deepseek-v4-flash.yaml");
    if (hw_load(&H_node, "8xh200", &e0)) { printf("hw: %s\n", e0.msg); return 1; }
    test_llama70();
    test_v3();
    test_activation_v3();
    test_gemma();
    test_flash();
    test_worked();
    test_bad();
    spec_free(&M_llama70);
    spec_free(&M_v3);
    spec_free(&M_v32);
    spec_free(&M_e2b);
    spec_free(&M_flash);
    return check_done("test_deploy");
}
