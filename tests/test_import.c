/* test_import.c - `kvsim import`: Hugging Face config.json -> spec.
 *
 * 1. Gemma 4 E2B/E4B and DeepSeek V3, V3.2, V4-Pro, V4-Flash: the import of
 *    the configs under tests/configs/ must give exactly the cost figures of the shipped
 *    archs/ specs (every cost_t field) at 4K, 128K and 1M, decode and prefill.
 * 2. The other families: KV bytes per token (decode at T = 1: one cached
 *    token) and parameter counts against hand derivations below, in kvsim's
 *    conventions (an MoE router has d x E weights + E selection biases; q/k
 *    norms count one head_dim vector each; norms of a plain residual: 2 x d,
 *    4 x d with Gemma's post norms; final norm d).
 * 3. Errors: bad JSON (line:col), wrong types, missing fields, unknown
 *    model_type: SIM_EINVAL with the field named.
 */
#include "check.h"
#include "spec_any.h"
#include "util.h"
#include "import_hf.h"

static int same_cost(const cost_t *a, const cost_t *b)
{
    for (int k = 0; k < FL_COUNT; k++)
        if (a->flops[k] != b->flops[k]) return 0;
    return a->flops_fp8eq_x2 == b->flops_fp8eq_x2 && a->kv_bytes == b->kv_bytes &&
           a->kv_read_bytes == b->kv_read_bytes && a->kv_written_bytes == b->kv_written_bytes &&
           a->weight_read_bytes == b->weight_read_bytes && a->act_bytes == b->act_bytes &&
           a->params == b->params && a->params_active == b->params_active && a->params_embed == b->params_embed;
}

static void check_same(const char *json, const char *yaml)
{
    model_spec a, b;
    sim_err e;
    char name[160];
    int ra = spec_load_any(&a, json, NULL, 0, &e);
    if (ra) printf("  %s: %s\n", json, e.msg);
    int rb = spec_load_any(&b, yaml, NULL, 0, &e);
    snprintf(name, sizeof name, "import-load-%s", json);
    CHECK(name, ra == 0 && rb == 0);
    if (ra || rb) return;
    static const u64 Ts[] = {4096, 131072, 1048576};
    for (int t = 0; t < 3; t++)
        for (int ph = 0; ph < 2; ph++) {
            cost_t x = eval_total(&a, Ts[t], 1, (phase)ph), y = eval_total(&b, Ts[t], 1, (phase)ph);
            snprintf(name, sizeof name, "import-same-%s-T%llu-%s", yaml, (unsigned long long)Ts[t],
                     ph == PH_PREFILL ? "prefill" : "decode");
            CHECK(name, same_cost(&x, &y) && x.params > 0);
        }
    spec_free(&a);
    spec_free(&b);
}

/* KV bytes after one token (decode T = 1) and parameters total / active. */
static void check_counts(const char *json, u64 kv1, u64 params, u64 active)
{
    model_spec m;
    sim_err e;
    char name[160];
    int rc = spec_load_any(&m, json, NULL, 0, &e);
    if (rc) printf("  %s: %s\n", json, e.msg);
    snprintf(name, sizeof name, "import-load-%s", json);
    CHECK(name, rc == 0);
    if (rc) return;
    cost_t t = eval_total(&m, 1, 1, PH_DECODE);
    snprintf(name, sizeof name, "import-kv1-%s", json);
    CHECK_EQ(name, t.kv_bytes, kv1);
    snprintf(name, sizeof name, "import-params-%s", json);
    CHECK_EQ(name, t.params, params);
    if (active) {
        snprintf(name, sizeof name, "import-active-%s", json);
        CHECK_EQ(name, t.params_active, active);
    }
    spec_free(&m);
}

/* The RoPE, norm and Gemma fields the kernels use, as imported (issue 12.4):
 * each expected value is the config.json's own (quoted beside the call). */
static void check_rope(void)
{
    model_spec m;
    sim_err e;
    if (spec_load_any(&m, "tests/configs/llama-3-8b.json", NULL, 0, &e) == 0) {
        /* "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "rope_scaling": null */
        CHECK_CLOSE("import-rope-llama-theta", m.rope.theta, 500000, 0);
        CHECK_CLOSE("import-rope-llama-eps", m.norm_eps, 1e-5, 0);
        CHECK("import-rope-llama-none", m.rope.scaling == ROPE_SCALE_NONE && !m.embed_scale && m.logit_softcap == 0);
        CHECK("import-rope-llama-silu", m.layer[0].ffn.act == FFN_ACT_SILU);
        spec_free(&m);
    } else {
        CHECK("import-rope-llama-load", false);
    }
    if (spec_load_any(&m, "tests/configs/deepseek-v3.json", NULL, 0, &e) == 0) {
        /* rope_scaling {type: yarn, factor 40, original_max_position_embeddings
         * 4096, beta_fast 32, beta_slow 1, mscale 1.0, mscale_all_dim 1.0} */
        CHECK("import-rope-v3-yarn", m.rope.scaling == ROPE_SCALE_YARN && m.rope.factor == 40 &&
              m.rope.original_max_position == 4096 && m.rope.beta_fast == 32 && m.rope.beta_slow == 1 &&
              m.rope.mscale == 1 && m.rope.mscale_all_dim == 1);
        spec_free(&m);
    } else {
        CHECK("import-rope-v3-load", false);
    }
    if (spec_load_any(&m, "tests/configs/gemma-4-e2b.json", NULL, 0, &e) == 0) {
        /* rope_parameters: sliding {default, 10000}, full {proportional, 0.25,
         * 1e6}; final_logit_softcapping 30; gelu_pytorch_tanh; layer 4 full. */
        const attn_cfg *s = &m.layer[0].attn, *f = &m.layer[4].attn;
        CHECK_CLOSE("import-rope-gemma4-theta", m.rope.theta, 10000, 0);
        CHECK("import-rope-gemma4-full", f->rope_theta == 1000000 && f->rope_proportional && f->rope_dim == 128 &&
              !s->rope_theta && !s->rope_proportional);
        CHECK("import-gemma4-attn", f->v_norm && f->unit_scale && s->v_norm && s->unit_scale);
        CHECK("import-gemma4-model", m.embed_scale && m.logit_softcap == 30 && m.layer[0].ffn.act == FFN_ACT_GELU_TANH);
        spec_free(&m);
    } else {
        CHECK("import-rope-gemma4-load", false);
    }
}

/* Import JSON text; returns the status and leaves the message in e. */
static int imp(const char *json, sim_err *e, import_warnings *w)
{
    char *yaml = NULL;
    int rc = import_hf_yaml_text(json, strlen(json), "t.json", &yaml, w, e);
    free(yaml);
    return rc;
}

int main(void)
{
    /* 1. Exactly the shipped specs. */
    check_same("tests/configs/gemma-4-e2b.json", "archs/gemma4-e2b.yaml");
    check_same("tests/configs/gemma-4-e4b.json", "archs/gemma4-e4b.yaml");
    check_same("tests/configs/gemma-4-31b.json", "archs/gemma4-31b.yaml");          /* issue 12.9 */
    check_same("tests/configs/gemma-4-26b-a4b.json", "archs/gemma4-26b-a4b.yaml");
    check_same("tests/configs/deepseek-v3.json", "archs/deepseek-v3.yaml");
    check_same("tests/configs/deepseek-v3.2-exp.json", "archs/deepseek-v3.2.yaml");
    check_same("tests/configs/deepseek-v4-pro.json", "archs/deepseek-v4-pro.yaml");
    check_same("tests/configs/deepseek-v4-flash.json", "archs/deepseek-v4-flash.yaml");
    check_same("tests/configs/llama-3-8b.json", "archs/llama-3-8b.yaml");
    check_rope();

    /* 2. Hand derivations. KV per token: layers x kv_heads x head_dim x 2
     * (K and V) x 2 B (bf16), windows and sharing aside (T = 1).
     *
     * Llama-3-8B: KV 32 x 8 x 128 x 2 x 2 = 131,072. Params (archs/llama-3-8b.yaml):
     * per layer q 4096x4096 = 16,777,216, o 16,777,216, k+v 4096x8x256 =
     * 8,388,608, norms 8,192, MLP 3x4096x14336 = 176,160,768 -> 218,112,000;
     * x32 = 6,979,584,000; embed + head 2 x 128256x4096 = 1,050,673,152;
     * final norm 4,096 -> 8,030,261,248; active = all but the input
     * embedding = 8,030,261,248 - 525,336,576 = 7,504,924,672. */
    check_counts("tests/configs/llama-3-8b.json", 131072, 8030261248ull, 7504924672ull);
    /* Mistral-7B-v0.1: sliding_window 4096 on every layer; at T = 1 KV =
     * 32 x 8 x 128 x 4 = 131,072. Per layer as Llama with 32000 vocab:
     * 218,112,000 x 32 = 6,979,584,000 + 2 x 32000x4096 = 262,144,000 + 4,096
     * = 7,241,732,096 (the published 7.24B). */
    check_counts("tests/configs/mistral-7b-v0.1.json", 131072, 7241732096ull, 0);
    /* Mixtral-8x7B: per layer attention 2 x 16,777,216 + 8,388,608 + norms
     * 8,192 = 41,951,232; 8 experts 8 x 3x4096x14336 = 1,409,286,144; router
     * 4096x8 + 8 = 32,776 -> 1,451,270,152 x 32 = 46,440,644,864; + 262,144,000
     * + 4,096 = 46,702,792,960 (transformers: 46,702,792,704, no router bias:
     * 256 fewer). Active: 2 experts 352,321,536 + attn + router per layer =
     * 394,305,544 x 32 = 12,617,777,408 + head 131,072,000 + 4,096 =
     * 12,748,853,504. KV 131,072. */
    check_counts("tests/configs/mixtral-8x7b.json", 131072, 46702792960ull, 12748853504ull);
    /* Qwen2-7B (qkv biases): per layer q 3584x3584 = 12,845,056, o the same,
     * k+v 3584x4x256 = 3,670,016, biases 3584 + 1024 = 4,608, norms 7,168,
     * MLP 3x3584x18944 = 203,685,888 -> 233,057,792 x 28 = 6,525,618,176;
     * + 2 x 152064x3584 = 1,089,994,752 + 3,584 = 7,615,616,512 (published).
     * KV 28 x 4 x 128 x 4 = 57,344. */
    check_counts("tests/configs/qwen2-7b.json", 57344, 7615616512ull, 0);
    /* Qwen1.5-MoE-A2.7B: attention q 4,194,304 + o 4,194,304 + k+v
     * 2048x16x256 = 8,388,608 + biases 6,144 + norms 4,096 = 16,787,456;
     * 60 experts x 3x2048x1408 = 519,045,120, shared 3x2048x5632 =
     * 34,603,008, router 2048x60 + 60 = 122,940 -> 570,558,524 x 24 =
     * 13,693,404,576; + 2 x 151936x2048 = 622,329,856 + 2,048 =
     * 14,315,736,480. Active per layer 16,787,456 + 4 x 8,650,752 +
     * 34,603,008 + 122,940 = 86,116,412 x 24 = 2,066,793,888 + head
     * 311,164,928 + 2,048 = 2,377,960,864. KV 24 x 16 x 128 x 4 = 196,608. */
    check_counts("tests/configs/qwen1.5-moe-a2.7b.json", 196608, 14315736480ull, 2377960864ull);
    /* Qwen3-8B (q/k norms, head_dim 128 given): per layer 16,777,216 x 2 +
     * 8,388,608 + q/k norms 256 + norms 8,192 + MLP 3x4096x12288 =
     * 150,994,944 -> 192,946,432 x 36 = 6,946,071,552; + 2 x 151936x4096 =
     * 1,244,659,712 + 4,096 = 8,190,735,360. KV 36 x 8 x 128 x 4 = 147,456. */
    check_counts("tests/configs/qwen3-8b.json", 147456, 8190735360ull, 0);
    /* Qwen3-30B-A3B: attention q 2048x4096 = 8,388,608, o the same, k+v
     * 2048x4x256 = 2,097,152, q/k norms 256, norms 4,096 = 18,878,720;
     * 128 experts x 3x2048x768 = 603,979,776, router 262,144 + 128 ->
     * 623,120,768 x 48 = 29,909,796,864; + 622,329,856 + 2,048 =
     * 30,532,128,768 (transformers 30,532,122,624 without router biases).
     * KV 48 x 4 x 128 x 4 = 98,304. */
    check_counts("tests/configs/qwen3-30b-a3b.json", 98304, 30532128768ull, 0);
    /* Gemma-2-9B (tied, 4 norms): per layer q 3584x4096 = 14,680,064, o the
     * same, k+v 3584x8x512 = 14,680,064, norms 14,336, MLP 3x3584x14336 =
     * 154,140,672 -> 198,195,200 x 42 = 8,324,198,400; + embed 256000x3584 =
     * 917,504,000 + 3,584 = 9,241,705,984 (published). KV 42 x 8 x 256 x 4 =
     * 344,064. */
    check_counts("tests/configs/gemma-2-9b-it.json", 344064, 9241705984ull, 0);
    /* Gemma-3-4B text decoder (heads 8, kv 4, head_dim 256, vocab 262208 from
     * Gemma3TextConfig defaults): per layer q 2560x2048 = 5,242,880, o the
     * same, k+v 2560x4x512 = 5,242,880, q/k norms 512, norms 10,240, MLP
     * 3x2560x10240 = 78,643,200 -> 94,382,592 x 34 = 3,209,008,128; + embed
     * 262208x2560 = 671,252,480 + 2,560 = 3,880,263,168. KV 34 x 4 x 256 x 4
     * = 139,264. */
    check_counts("tests/configs/gemma-3-4b-it.json", 139264, 3880263168ull, 0);
    /* Gemma-3n-E2B (AltUp, LAuReL not modelled): layers 0-19 own a cache, 20-29
     * share. Own: q 2048x2048 + o = 8,388,608, k+v 2048x2x512 = 2,097,152,
     * q/k norms 512, norms 8,192, MLP 3x2048x8192 = 50,331,648, PLE 2x2048x256
     * + 2048 = 1,050,624 -> 61,876,736 x 20 = 1,237,534,720. Shared: no k/v,
     * q norm 256 -> 59,779,328 x 10 = 597,793,280. Model: embed 262400x2048 =
     * 537,395,200, PLE table 262144x30x256 = 2,013,265,920, PLE projection
     * 2048x7680 = 15,728,640 + 256, final norm 2,048 -> 4,401,720,064.
     * KV 20 x 2 x 256 x 4 = 40,960. */
    check_counts("tests/configs/gemma-3n-e2b.json", 40960, 4401720064ull, 0);
    /* DeepSeek-V2-Lite (MLA, q_lora_rank null = full-rank wq): attention wq
     * 2048x16x192 = 6,291,456, wkv_a 2048x576 = 1,179,648, wkv_b 512x16x256 =
     * 2,097,152, wo 16x128x2048 = 4,194,304, kv norm 512 = 13,763,072; norms
     * 4,096. Layer 0 dense 3x2048x10944 = 67,239,936 -> 81,007,104. Layers
     * 1-26: 64 x 3x2048x1408 = 553,648,128 + 2 shared 17,301,504 + router
     * 131,072 + 64 -> 584,847,936 x 26 = 15,206,046,336. + 2 x 102400x2048 =
     * 419,430,400 + 2,048 = 15,706,485,888 (transformers 15,706,484,224:
     * 1,664 router biases fewer). KV 27 x (512 + 64) x 2 = 31,104. */
    check_counts("tests/configs/deepseek-v2-lite.json", 31104, 15706485888ull, 0);

    /* 3. Errors. */
    sim_err e;
    import_warnings w = {0};
    int rc = imp("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,,\n}", &e, NULL);
    CHECK("import-err-syntax", rc == SIM_EINVAL && strstr(e.msg, "t.json:3:"));
    rc = imp("{\"model_type\": \"llama\", \"hidden_size\": \"4096\", \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"num_attention_heads\": 4, \"intermediate_size\": 8}", &e, NULL);
    CHECK("import-err-type", rc == SIM_EINVAL && strstr(e.msg, "'hidden_size'") && strstr(e.msg, "\"4096\""));
    rc = imp("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"intermediate_size\": 8}", &e, NULL);
    CHECK("import-err-missing", rc == SIM_EINVAL && strstr(e.msg, "'num_attention_heads'"));
    rc = imp("{\"model_type\": \"gemma3\", \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": 8}}", &e, NULL);
    CHECK("import-err-missing-nested", rc == SIM_EINVAL && strstr(e.msg, "'text_config.num_hidden_layers'"));
    rc = imp("{\"model_type\": \"llama4_text\", \"hidden_size\": 64}", &e, NULL);
    CHECK("import-err-model-type", rc == SIM_EINVAL && strstr(e.msg, "'model_type'") && strstr(e.msg, "llama4_text"));
    rc = imp("{\"hidden_size\": 64}", &e, NULL);
    CHECK("import-err-no-model-type", rc == SIM_EINVAL && strstr(e.msg, "'model_type'"));
    rc = imp("[1, 2]", &e, NULL);
    CHECK("import-err-not-object", rc == SIM_EINVAL);
    rc = imp("{\"model_type\": \"deepseek_v4\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"num_attention_heads\": 4, \"head_dim\": 32, \"qk_rope_head_dim\": 8, \"q_lora_rank\": 16, \"o_groups\": 2, "
             "\"o_lora_rank\": 8, \"sliding_window\": 4, \"hc_mult\": 4, \"hc_sinkhorn_iters\": 3, "
             "\"compress_ratios\": [4, 16]}", &e, NULL);
    CHECK("import-err-ratio", rc == SIM_EINVAL && strstr(e.msg, "compress_ratios"));
    sim_err ee;
    model_spec m;
    CHECK("import-err-eio", spec_load_any(&m, "tests/configs/no-such.json", NULL, 0, &ee) == SIM_EIO);

    /* Warnings: a cost-relevant key the family does not read, and an unknown key. */
    rc = imp("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"num_attention_heads\": 4, \"intermediate_size\": 8, \"attention_chunk_size\": 8192, "
             "\"kv_lora_rank\": 512, \"frobnicate\": 3, \"attention_bias\": false, \"rope_theta\": 1e4}", &e, &w);
    int chunk = 0, mla = 0, unk = 0;
    for (int i = 0; i < w.n; i++) {
        chunk |= strstr(w.msg[i], "attention_chunk_size") != NULL;
        mla |= strstr(w.msg[i], "kv_lora_rank") != NULL;
        unk |= strstr(w.msg[i], "frobnicate") != NULL;
    }
    CHECK("import-warn", rc == 0 && w.n == 3 && chunk && mla && unk);
    /* The source note is ignored; head_dim given is never re-derived. */
    char *yaml = NULL;
    const char *j = "{\"_kvsim_source\": \"x\", \"model_type\": \"qwen3\", \"hidden_size\": 96, \"num_hidden_layers\": 2, "
                    "\"vocab_size\": 10, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 40, "
                    "\"intermediate_size\": 8}";
    import_warnings w2 = {0};
    rc = import_hf_yaml_text(j, strlen(j), "q.json", &yaml, &w2, &e);
    CHECK("import-head-dim-kept", rc == 0 && w2.n == 0 && strstr(yaml, "head_dim: 40") && !strstr(yaml, "derived"));
    free(yaml);
    return check_done("test_import");
}
