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
 * 4. quantization_config: per method, the exact stored weight bytes of a
 *    quantized Llama-3-8B (hand derivations below), which modules stay
 *    unquantized, and bad values.
 * 5. Every field of every config under tests/configs/, set to bad values
 *    (0, -1, 1.5, a string, 2^21, 2^41, ...): the import is refused with a
 *    message "FILE: FIELD: ..." or the spec it writes loads (never a spec the
 *    loader refuses).
 */
#include "check.h"
#include "spec_any.h"
#include "util.h"
#include "import_hf.h"
#include <jansson.h>

/* Import JSON text named `name` and load the spec it writes (warnings in w). */
static int load_json(model_spec *m, const char *name, const char *text, import_warnings *w, sim_err *e)
{
    char *yaml;
    ynode *root;
    int rc = import_hf_yaml_text(text, strlen(text), name, &yaml, w, e);
    if (rc) return rc;
    if ((rc = yt_load_string(yaml, strlen(yaml), name, &root, e))) { free(yaml); return rc; }
    return spec_load_tree(m, root, yaml, name, NULL, 0, e);   /* owns yaml */
}

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

/* JSON text of the config at path with `key` of the object at obj_path
 * (dotted keys; NULL: the top level) set to the JSON value `val`
 * (malloc'd; NULL val: the key removed). */
static char *with_field(const char *path, const char *obj_path, const char *key, const char *val)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return NULL;
    json_t *obj = root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", obj_path ? obj_path : "");
    for (char *k = obj_path ? strtok(buf, ".") : NULL; k && obj; k = strtok(NULL, ".")) obj = json_object_get(obj, k);
    if (val) json_object_set_new(obj, key, json_loads(val, JSON_DECODE_ANY, &je));
    else json_object_del(obj, key);
    char *t = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    return t;
}

/* Gemma 4 without layer_types: transformers' rule, every 6th layer full and
 * the last layer full whatever the rule says. E2B's config (35 layers) with its
 * layer_types removed: full layers 5, 11, 17, 23, 29 and 34 (35 % 6 != 0). */
static void gemma4_default_layer_types(void)
{
    char *t = with_field("tests/configs/gemma-4-e2b.json", "text_config", "layer_types", NULL);
    import_warnings w = {0};
    sim_err e = {0};
    model_spec m;
    int ok = t && load_json(&m, "g4.json", t, &w, &e) == 0;
    free(t);
    if (!ok) printf("  gemma4 without layer_types: %s\n", e.msg);
    CHECK("import-gemma4-default-types-load", ok);
    if (!ok) return;
    char got[64] = "", *p = got;
    for (u64 i = 0; i < m.n_layers; i++)
        if (!strcmp(m.kind_name[m.layer[i].kind], "full")) p += snprintf(p, sizeof got - (size_t)(p - got), "%llu ", (unsigned long long)i);
    CHECK("import-gemma4-default-types", !strcmp(got, "5 11 17 23 29 34 "));
    if (strcmp(got, "5 11 17 23 29 34 ")) printf("  full layers: %s\n", got);
    spec_free(&m);
}

/* Llama-3-8B with a quantization_config: the stored weight bytes and, in
 * *m (when not NULL), the loaded spec; UINT64_MAX on failure (printed). */
static u64 quant_bytes(const char *qc, model_spec *keep, import_warnings *w)
{
    char *t = with_field("tests/configs/llama-3-8b.json", NULL, "quantization_config", qc);
    model_spec m;
    sim_err e;
    int rc = t ? load_json(&m, "q.json", t, w, &e) : SIM_EINVAL;
    free(t);
    if (rc) { printf("  quantized import failed: %s\n", e.msg); return UINT64_MAX; }
    u64 b = eval_total(&m, 1, 1, PH_DECODE).weight_bytes;
    if (keep) *keep = m;
    else spec_free(&m);
    return b;
}

/* The import's error message for config text (empty string on success). */
static const char *import_error(const char *text, sim_err *e)
{
    char *yaml = NULL;
    int rc = import_hf_yaml_text(text, strlen(text), "q.json", &yaml, NULL, e);
    free(yaml);
    if (!rc) e->msg[0] = 0;
    return e->msg;
}

static const char *quant_error(const char *base, const char *qc, sim_err *e)
{
    char *t = with_field(base, NULL, "quantization_config", qc);
    const char *m = t ? import_error(t, e) : "no config";
    free(t);
    return m;
}

static bool has_warning(const import_warnings *w, const char *needle)
{
    for (int i = 0; i < w->n; i++)
        if (strstr(w->msg[i], needle)) return true;
    return false;
}

/* 4. quantization_config. Llama-3-8B (archs/llama-3-8b.yaml, derivation in
 * section 2): linear weights per layer q 16,777,216 + o 16,777,216 + k+v
 * 8,388,608 + MLP 176,160,768 = 218,103,808, x 32 = 6,979,321,856 (every
 * matrix a multiple of 16384: the formats below divide it exactly); embed
 * + head 1,050,673,152 x 2 B (bf16, unquantized) = 2,101,346,304 B; norms
 * 266,240 x 2 B = 532,480 B. So bytes = 6,979,321,856 x (bytes per weight)
 * + 2,101,878,784. */
static void test_quant(void)
{
    const u64 lin = 6979321856ull, rest = 2101346304ull + 532480ull;
    import_warnings w = {0};
    model_spec m;
    sim_err e;
    /* GPTQ int4, group 128 (AutoGPTQ qweight 4 bits, qzeros 4 bits and an
     * fp16 scale per group): 64 + 0.5 + 2 = 66.5 B per 128 weights ->
     * 6,979,321,856 x 133 / 256 = 3,625,975,808 -> 5,727,854,592. */
    CHECK_EQ("quant-gptq-int4-g128", quant_bytes("{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128, "
                                                 "\"desc_act\": false, \"sym\": true}", NULL, NULL),
             lin / 256 * 133 + rest);
    CHECK_EQ("quant-gptq-int4-g128-value", lin / 256 * 133 + rest, 5727854592ull);
    /* GPTQ int8, group 128: 128 + 1 (8-bit zero) + 2 = 131 B per 128 ->
     * 7,142,899,712 -> 9,244,778,496. */
    CHECK_EQ("quant-gptq-int8-g128", quant_bytes("{\"quant_method\": \"gptq\", \"bits\": 8, \"group_size\": 128}", NULL, NULL),
             9244778496ull);
    /* AWQ gemm, int4 g128 (AutoAWQ WQLinear_GEMM: qweight, qzeros 4 bits,
     * fp16 scales): 66.5 B per 128, as GPTQ: 5,727,854,592. */
    CHECK_EQ("quant-awq-gemm", quant_bytes("{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, "
                                           "\"zero_point\": true, \"version\": \"gemm\"}", NULL, NULL), 5727854592ull);
    /* AWQ gemv_fast: fp16 scale and fp16 scaled zero per group: 64 + 2 + 2 =
     * 68 B per 128 -> 3,707,764,736 -> 5,809,643,520. */
    CHECK_EQ("quant-awq-gemv-fast", quant_bytes("{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, "
                                                "\"version\": \"gemv_fast\"}", NULL, NULL), 5809643520ull);
    /* bitsandbytes nf4 with double quant (blocksize 64: 32 B of codes + a
     * uint8 absmax; an fp32 absmax per 256 blocks): per 16384 weights
     * 8192 + 256 + 4 = 8452 B -> 6,979,321,856 / 16384 x 8452 =
     * 3,600,416,768 -> 5,702,295,552; compute in bnb_4bit_compute_dtype. */
    u64 b = quant_bytes("{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"nf4\", "
                        "\"bnb_4bit_use_double_quant\": true, \"bnb_4bit_compute_dtype\": \"bfloat16\"}", &m, NULL);
    CHECK_EQ("quant-bnb-nf4-dq", b, 5702295552ull);
    if (b != UINT64_MAX) {
        CHECK("quant-bnb-nf4-compute-bf16", m.compute[CC_LINEAR] == DT_BF16);
        spec_free(&m);
    }
    /* Without double quant: 32 + 4 (fp32 absmax) = 36 B per 64 ->
     * 3,925,868,544 -> 6,027,747,328; compute_dtype absent: fp32
     * (transformers' default). */
    b = quant_bytes("{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"fp4\"}", &m, NULL);
    CHECK_EQ("quant-bnb-fp4", b, 6027747328ull);
    if (b != UINT64_MAX) {
        CHECK("quant-bnb-fp4-compute-fp32", m.compute[CC_LINEAR] == DT_FP32);
        spec_free(&m);
    }
    /* bitsandbytes 8-bit: 1 B a weight (the per-row fp32 SCB is warned
     * about, not priced) -> 9,081,200,640. */
    w = (import_warnings){0};
    CHECK_EQ("quant-bnb-int8", quant_bytes("{\"quant_method\": \"bitsandbytes\", \"load_in_8bit\": true}", NULL, &w),
             9081200640ull);
    CHECK("quant-bnb-int8-warns-scb", has_warning(&w, "SCB"));
    /* fp8, 128 x 128 blocks with an fp32 scale: 16388 B per 16384 ->
     * 6,981,025,792 -> 9,082,904,576; linear FLOPs in fp8. */
    b = quant_bytes("{\"quant_method\": \"fp8\", \"activation_scheme\": \"dynamic\", \"weight_block_size\": [128, 128]}", &m, NULL);
    CHECK_EQ("quant-fp8-block", b, 9082904576ull);
    if (b != UINT64_MAX) {
        CHECK("quant-fp8-compute", m.compute[CC_LINEAR] == DT_FP8_E4M3);
        spec_free(&m);
    }
    /* fbgemm_fp8: fp8 weights, 1 B each (the per-row fp32 scale is warned
     * about, not priced) -> 9,081,200,640; linear FLOPs in fp8. */
    w = (import_warnings){0};
    b = quant_bytes("{\"quant_method\": \"fbgemm_fp8\", \"activation_scale_ub\": 1200.0, "
                    "\"modules_to_not_convert\": [\"lm_head\"]}", &m, &w);
    CHECK_EQ("quant-fbgemm-fp8", b, 9081200640ull);
    if (b != UINT64_MAX) {
        CHECK("quant-fbgemm-fp8-compute-warns", m.compute[CC_LINEAR] == DT_FP8_E4M3 && has_warning(&w, "row scales"));
        spec_free(&m);
    }
    /* compressed-tensors W4A16, symmetric, group 128, scales in the model's
     * dtype (bf16), no zero points saved: 64 + 2 = 66 B per 128 ->
     * 3,598,712,832 -> 5,700,591,616. */
    static const char ct[] =
        "{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"ignore\": [\"lm_head\"], "
        "\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 4, \"type\": \"int\", "
        "\"symmetric\": %s, \"strategy\": \"group\", \"group_size\": 128}, \"input_activations\": null}}%s}";
    char q[1024];
    snprintf(q, sizeof q, ct, "true", "");
    CHECK_EQ("quant-ct-w4a16-sym", quant_bytes(q, NULL, NULL), 5700591616ull);
    /* Asymmetric: + a packed 4-bit zero point per group: 66.5 B per 128 ->
     * 5,727,854,592. */
    snprintf(q, sizeof q, ct, "false", "");
    CHECK_EQ("quant-ct-w4a16-asym", quant_bytes(q, NULL, NULL), 5727854592ull);
    /* kv_cache_scheme fp8: KV per token 32 x 8 x 128 x 2 x 1 B = 65,536
     * (bf16: 131,072). */
    snprintf(q, sizeof q, ct, "true", ", \"kv_cache_scheme\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"tensor\"}");
    if (quant_bytes(q, &m, NULL) != UINT64_MAX) {
        CHECK_EQ("quant-ct-kv-fp8", eval_total(&m, 1, 1, PH_DECODE).kv_bytes, 65536);
        spec_free(&m);
    }
    /* Saved before compression (quantization_status frozen): the weights
     * are dense bf16, 16,060,522,496 B as the unquantized model (section 2:
     * 8,030,261,248 parameters x 2 B), with a warning. */
    w = (import_warnings){0};
    snprintf(q, sizeof q, ct, "true", ", \"quantization_status\": \"frozen\"");
    CHECK_EQ("quant-ct-frozen-dense", quant_bytes(q, NULL, &w), 16060522496ull);
    CHECK("quant-ct-frozen-warns", has_warning(&w, "stored dense"));
    /* NVFP4 (nvfp4-pack-quantized, tensor_group 16: fp4 codes and an fp8
     * e4m3 scale per 16): 8 + 1 = 9 B per 16 -> 3,925,868,544 ->
     * 6,027,747,328. */
    CHECK_EQ("quant-ct-nvfp4", quant_bytes("{\"quant_method\": \"compressed-tensors\", \"format\": \"nvfp4-pack-quantized\", "
                                           "\"ignore\": [\"lm_head\"], \"config_groups\": {\"g\": {\"targets\": [\"Linear\"], "
                                           "\"weights\": {\"num_bits\": 4, \"type\": \"float\", \"strategy\": \"tensor_group\", "
                                           "\"group_size\": 16}}}}", NULL, NULL), 6027747328ull);

    /* Which modules stay unquantized. A list that splits a class kvsim
     * prices in one format is an error naming the entry. */
    CHECK("quant-ignore-split-class",
          !strcmp(quant_error("tests/configs/llama-3-8b.json", "{\"quant_method\": \"awq\", \"modules_to_not_convert\": "
                              "[\"self_attn\"]}", &e),
                  "q.json: quantization_config.modules_to_not_convert[0]: must be a name for all the linear layers or "
                  "none (kvsim prices each weight class in one format: linear layers, routed experts, lm_head), got "
                  "\"self_attn\""));
    snprintf(q, sizeof q, "{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"ignore\": [], "
             "\"config_groups\": {\"g\": {\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 4, \"group_size\": 128}}}}");
    CHECK("quant-ct-lm-head-quantized", strstr(quant_error("tests/configs/llama-3-8b.json", q, &e),
                                               "q.json: quantization_config.ignore: must be a list that names lm_head"));
    CHECK("quant-gptq-block-list-partial",
          strstr(quant_error("tests/configs/llama-3-8b.json", "{\"quant_method\": \"gptq\", \"modules_in_block_to_quantize\": "
                             "[[\"self_attn.q_proj\", \"self_attn.k_proj\", \"self_attn.v_proj\"], [\"self_attn.o_proj\"]]}", &e),
                 "q.json: quantization_config.modules_in_block_to_quantize: must be a list naming every linear matrix"));
    /* Every linear matrix of the block listed: all quantized, as plain GPTQ
     * int4 g128 (5,727,854,592); a name listed twice does not stand for
     * one left out. */
    CHECK_EQ("quant-gptq-block-list-all",
             quant_bytes("{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128, \"modules_in_block_to_quantize\": "
                         "[[\"self_attn.k_proj\", \"self_attn.v_proj\", \"self_attn.q_proj\"], [\"self_attn.o_proj\"], "
                         "[\"mlp.up_proj\", \"mlp.gate_proj\"], [\"mlp.down_proj\"]]}", NULL, NULL), 5727854592ull);
    CHECK("quant-gptq-block-list-repeat",
          strstr(quant_error("tests/configs/llama-3-8b.json", "{\"quant_method\": \"gptq\", \"modules_in_block_to_quantize\": "
                             "[[\"self_attn.q_proj\", \"self_attn.q_proj\", \"self_attn.k_proj\", \"self_attn.v_proj\", "
                             "\"mlp.up_proj\", \"mlp.gate_proj\", \"mlp.down_proj\"]]}", &e),
                 "modules_in_block_to_quantize: must be a list naming every linear matrix"));
    /* Qwen3-30B-A3B: routed experts 48 x 128 x 3 x 2048 x 768 =
     * 28,991,029,248 weights; AWQ with modules_to_not_convert ["experts"]
     * keeps them bf16; a regex ignore of the routers (compressed-tensors)
     * silences the router warning that bare targets [Linear] gives. */
    char *t = with_field("tests/configs/qwen3-30b-a3b.json", NULL, "quantization_config",
                         "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"modules_to_not_convert\": [\"experts\"]}");
    if (t && load_json(&m, "q.json", t, NULL, &e) == 0) {
        CHECK("quant-moe-experts-kept", m.weight[WC_EXPERT].part[0].dt == DT_BF16 && !m.weight[WC_EXPERT].part[0].scaled &&
                                            m.weight[WC_LINEAR].part[0].dt == DT_INT4);
        spec_free(&m);
    } else {
        CHECK("quant-moe-experts-kept", false);
    }
    free(t);
    static const char ctm[] =
        "{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"ignore\": [\"lm_head\"%s], "
        "\"config_groups\": {\"g\": {\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 4, \"group_size\": 128}}}}";
    for (int k = 0; k < 2; k++) {
        snprintf(q, sizeof q, ctm, k ? ", \"re:.*mlp[.]gate$\"" : "");
        t = with_field("tests/configs/qwen3-30b-a3b.json", NULL, "quantization_config", q);
        w = (import_warnings){0};
        int rc = t ? load_json(&m, "q.json", t, &w, &e) : 1;
        CHECK(k ? "quant-ct-router-ignored" : "quant-ct-router-warned",
              rc == 0 && has_warning(&w, "router") == !k && m.weight[WC_EXPERT].part[0].dt == DT_INT4);
        if (!rc) spec_free(&m);
        free(t);
    }
    /* Bad values name the field. */
    CHECK("quant-bad-bits", !strcmp(quant_error("tests/configs/llama-3-8b.json", "{\"quant_method\": \"gptq\", \"bits\": 3}", &e),
                                    "q.json: quantization_config.bits: must be 4 or 8 (kvsim has no 2- or 3-bit dtype), got 3"));
    CHECK("quant-bad-group", !strcmp(quant_error("tests/configs/llama-3-8b.json", "{\"quant_method\": \"awq\", \"group_size\": 0}", &e),
                                     "q.json: quantization_config.group_size: must be a positive integer up to 2^23, or -1, got 0"));
    CHECK("quant-bad-method", strstr(quant_error("tests/configs/llama-3-8b.json", "{\"quant_method\": \"hqq\"}", &e),
                                     "q.json: quantization_config.quant_method: must be one of \"fp8\""));
    CHECK("quant-bad-block", !strcmp(quant_error("tests/configs/llama-3-8b.json", "{\"quant_method\": \"fp8\", "
                                                 "\"weight_block_size\": [128, -1]}", &e),
                                     "q.json: quantization_config.weight_block_size[1]: must be a positive integer up to "
                                     "4096, got -1"));
    CHECK("quant-not-object", !strcmp(quant_error("tests/configs/llama-3-8b.json", "[1]", &e),
                                      "q.json: quantization_config: must be an object, got [1]"));
}

/* 5. Every field set to bad values: refused naming a field, or a spec that
 * loads. Returns the number of imports tried. */
static int mutate_config(const char *path, const char *obj_key, const json_t *obj)
{
    static const char *const bad[] = {"0", "-1", "3", "1.5", "\"x\"", "2097152", "true", "[1]", "null"};
    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach((json_t *)obj, key, v) {
        if (json_is_object(v) && json_object_size(v) && strcmp(key, "rope_scaling") && strcmp(key, "rope_parameters")) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", obj_key ? obj_key : "", obj_key ? "." : "", key);
            n += mutate_config(path, sub, v);   /* text_config, quantization_config and its groups */
        }
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char *t = with_field(path, obj_key, key, bad[i]);
            char *yaml = NULL, name[300];
            sim_err e;
            snprintf(name, sizeof name, "%s %s%s%s=%s", path, obj_key ? obj_key : "", obj_key ? "." : "", key, bad[i]);
            int rc = t ? import_hf_yaml_text(t, strlen(t), "m.json", &yaml, NULL, &e) : SIM_ENOMEM;
            free(t);
            n++;
            if (rc) {
                /* "m.json: FIELD: ...", FIELD a JSON path (no YAML position). */
                const char *f = strncmp(e.msg, "m.json: ", 8) ? NULL : e.msg + 8;
                bool ok = rc == SIM_EINVAL && f && strchr(f, ':') && !strstr(e.msg, "<import>");
                if (!ok) { printf("  %s: %s\n", name, e.msg); CHECK("mutate-error-names-field", false); }
                continue;
            }
            ynode *root;
            model_spec m;
            rc = yt_load_string(yaml, strlen(yaml), "<import>", &root, &e);
            if (rc) free(yaml);
            else rc = spec_load_tree(&m, root, yaml, "<import>", NULL, 0, &e);
            if (rc) { printf("  %s: imported, but the spec does not load: %s\n", name, e.msg); CHECK("mutate-spec-loads", false); }
            else spec_free(&m);
        }
    }
    return n;
}

static void test_mutations(void)
{
    static const char *const configs[] = {
        "deepseek-v2-lite", "deepseek-v3.2-exp", "deepseek-v3", "deepseek-v4-flash", "deepseek-v4-pro", "gemma-2-9b-it",
        "gemma-3-4b-it", "gemma-3n-e2b", "gemma-4-e2b", "gemma-4-e4b", "llama-3-8b", "mistral-7b-v0.1", "mixtral-8x7b",
        "qwen1.5-moe-a2.7b", "qwen2-7b", "qwen3-30b-a3b", "qwen3-8b", "llama-3-8b-gptq", "llama-3-8b-bnb-nf4",
        "mixtral-8x7b-awq", "qwen3-30b-a3b-w4a16"};
    int before = check_fail, n = 0;
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        char path[200];
        json_error_t je;
        snprintf(path, sizeof path, "tests/configs/%s.json", configs[i]);
        json_t *root = json_load_file(path, 0, &je);
        if (!root) { CHECK("mutate-load", false); continue; }
        n += mutate_config(path, NULL, root);
        json_decref(root);
    }
    printf("  mutate: %d imports of bad values\n", n);
    CHECK("mutate-every-field", n > 1000 && check_fail == before);
}

int main(void)
{
    gemma4_default_layer_types();
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
     * 4096x8 = 32,768 (MixtralSparseMoeBlock gate: bias=False) ->
     * 1,451,270,144 x 32 = 46,440,644,608; + 262,144,000 + 4,096 =
     * 46,702,792,704 (transformers' count). Active: 2 experts 352,321,536 +
     * attn + router per layer = 394,305,536 x 32 = 12,617,777,152 + head
     * 131,072,000 + 4,096 = 12,748,853,248. KV 131,072. */
    check_counts("tests/configs/mixtral-8x7b.json", 131072, 46702792704ull, 12748853248ull);
    /* Qwen2-7B (qkv biases): per layer q 3584x3584 = 12,845,056, o the same,
     * k+v 3584x4x256 = 3,670,016, biases 3584 + 1024 = 4,608, norms 7,168,
     * MLP 3x3584x18944 = 203,685,888 -> 233,057,792 x 28 = 6,525,618,176;
     * + 2 x 152064x3584 = 1,089,994,752 + 3,584 = 7,615,616,512 (published).
     * KV 28 x 4 x 128 x 4 = 57,344. */
    check_counts("tests/configs/qwen2-7b.json", 57344, 7615616512ull, 0);
    /* Qwen1.5-MoE-A2.7B: attention q 4,194,304 + o 4,194,304 + k+v
     * 2048x16x256 = 8,388,608 + biases 6,144 + norms 4,096 = 16,787,456;
     * 60 experts x 3x2048x1408 = 519,045,120, shared 3x2048x5632 =
     * 34,603,008, router 2048x60 = 122,880 (no bias), shared_expert_gate
     * 2048x1 = 2,048 -> 570,560,512 x 24 = 13,693,452,288; + 2 x
     * 151936x2048 = 622,329,856 + 2,048 = 14,315,784,192 (transformers'
     * count). Active per layer 16,787,456 + 4 x 8,650,752 + 34,603,008 +
     * 122,880 + 2,048 = 86,118,400 x 24 = 2,066,841,600 + head 311,164,928 +
     * 2,048 = 2,378,008,576. KV 24 x 16 x 128 x 4 = 196,608. */
    check_counts("tests/configs/qwen1.5-moe-a2.7b.json", 196608, 14315784192ull, 2378008576ull);
    /* Qwen3-8B (q/k norms, head_dim 128 given): per layer 16,777,216 x 2 +
     * 8,388,608 + q/k norms 256 + norms 8,192 + MLP 3x4096x12288 =
     * 150,994,944 -> 192,946,432 x 36 = 6,946,071,552; + 2 x 151936x4096 =
     * 1,244,659,712 + 4,096 = 8,190,735,360. KV 36 x 8 x 128 x 4 = 147,456. */
    check_counts("tests/configs/qwen3-8b.json", 147456, 8190735360ull, 0);
    /* Qwen3-30B-A3B: attention q 2048x4096 = 8,388,608, o the same, k+v
     * 2048x4x256 = 2,097,152, q/k norms 256, norms 4,096 = 18,878,720;
     * 128 experts x 3x2048x768 = 603,979,776, router 262,144 (no bias) ->
     * 623,120,640 x 48 = 29,909,790,720; + 622,329,856 + 2,048 =
     * 30,532,122,624 (transformers' count). KV 48 x 4 x 128 x 4 = 98,304. */
    check_counts("tests/configs/qwen3-30b-a3b.json", 98304, 30532122624ull, 0);
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
     * 131,072 (MoEGate: weight only) -> 584,847,872 x 26 = 15,206,044,672.
     * + 2 x 102400x2048 = 419,430,400 + 2,048 = 15,706,484,224
     * (transformers' count). KV 27 x (512 + 64) x 2 = 31,104. */
    check_counts("tests/configs/deepseek-v2-lite.json", 31104, 15706484224ull, 0);

    /* 3. Errors. */
    sim_err e;
    import_warnings w = {0};
    int rc = imp("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,,\n}", &e, NULL);
    CHECK("import-err-syntax", rc == SIM_EINVAL && strstr(e.msg, "t.json:3:"));
    rc = imp("{\"model_type\": \"llama\", \"hidden_size\": \"4096\", \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"num_attention_heads\": 4, \"intermediate_size\": 8}", &e, NULL);
    CHECK("import-err-type", rc == SIM_EINVAL && !strcmp(e.msg, "t.json: hidden_size: must be a positive integer up to "
                                                         "1048576, got \"4096\""));
    rc = imp("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"intermediate_size\": 8}", &e, NULL);
    CHECK("import-err-missing", rc == SIM_EINVAL && strstr(e.msg, "t.json: num_attention_heads: missing"));
    rc = imp("{\"model_type\": \"gemma3\", \"text_config\": {\"hidden_size\": 64, \"intermediate_size\": 8}}", &e, NULL);
    CHECK("import-err-missing-nested", rc == SIM_EINVAL && strstr(e.msg, "t.json: text_config.num_hidden_layers: missing"));
    rc = imp("{\"model_type\": \"falcon\", \"hidden_size\": 64}", &e, NULL);
    CHECK("import-err-model-type", rc == SIM_EINVAL && strstr(e.msg, "t.json: model_type: must be") && strstr(e.msg, "got \"falcon\""));
    /* Known families kvsim cannot express are refused with the reason. */
    rc = imp("{\"model_type\": \"llama4_text\", \"hidden_size\": 64}", &e, NULL);
    CHECK("import-err-refused-llama4", rc == SIM_EINVAL && strstr(e.msg, "t.json: model_type: \"llama4_text\" cannot be imported: "
                                                               "chunked local attention (attention_chunk_size"));
    rc = imp("{\"model_type\": \"gpt_oss\", \"hidden_size\": 64}", &e, NULL);
    CHECK("import-err-refused-gpt-oss", rc == SIM_EINVAL && strstr(e.msg, "model_type: \"gpt_oss\" cannot be imported") &&
                                        strstr(e.msg, "gate_up_proj_bias"));
    /* A layer type other than full or sliding attention is refused naming its
     * index (it was once counted as full attention: a wrong spec). */
    rc = imp("{\"model_type\": \"qwen3\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"num_attention_heads\": 4, \"intermediate_size\": 8, \"layer_types\": [\"full_attention\", "
             "\"linear_attention\"]}", &e, NULL);
    CHECK("import-err-layer-type", rc == SIM_EINVAL && strstr(e.msg, "t.json: layer_types[1]: must be \"full_attention\" or "
                                                               "\"sliding_attention\"") && strstr(e.msg, "got \"linear_attention\""));
    /* LlamaMLP biases (mlp_bias) are refused, not dropped. */
    rc = imp("{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"num_attention_heads\": 4, \"intermediate_size\": 8, \"mlp_bias\": true}", &e, NULL);
    CHECK("import-err-mlp-bias", rc == SIM_EINVAL && strstr(e.msg, "t.json: mlp_bias: must be false"));
    rc = imp("{\"hidden_size\": 64}", &e, NULL);
    CHECK("import-err-no-model-type", rc == SIM_EINVAL && strstr(e.msg, "t.json: model_type: missing"));
    rc = imp("[1, 2]", &e, NULL);
    CHECK("import-err-not-object", rc == SIM_EINVAL);
    rc = imp("{\"model_type\": \"deepseek_v4\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"vocab_size\": 10, "
             "\"num_attention_heads\": 4, \"head_dim\": 32, \"qk_rope_head_dim\": 8, \"q_lora_rank\": 16, \"o_groups\": 2, "
             "\"o_lora_rank\": 8, \"sliding_window\": 4, \"hc_mult\": 4, \"hc_sinkhorn_iters\": 3, "
             "\"compress_ratios\": [4, 16], \"quantization_config\": {\"quant_method\": \"fp8\", "
             "\"weight_block_size\": [128, 128]}}", &e, NULL);
    CHECK("import-err-ratio", rc == SIM_EINVAL && !strcmp(e.msg, "t.json: compress_ratios[1]: must be 0 (sliding window "
                                                         "only), 4 (CSA) or 128 (HCA), got 16"));
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

    /* Bad field values: an error naming the JSON field, never a spec that
     * does not load (the brief's hidden_size 0, negative, fraction, string). */
    static const char *const hs[][2] = {
        {"0", "q.json: hidden_size: must be a positive integer up to 1048576, got 0"},
        {"-4096", "q.json: hidden_size: must be a positive integer up to 1048576, got -4096"},
        {"4096.5", "q.json: hidden_size: must be a positive integer up to 1048576, got 4096.5"},
        {"[4096]", "q.json: hidden_size: must be a positive integer up to 1048576, got [4096]"},
        {"2097152", "q.json: hidden_size: must be a positive integer up to 1048576, got 2097152"}};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        char *t = with_field("tests/configs/llama-3-8b.json", NULL, "hidden_size", hs[i][1] ? hs[i][0] : NULL);
        char nm[64];
        snprintf(nm, sizeof nm, "import-bad-hidden-size-%zu", i);
        CHECK(nm, t && !strcmp(import_error(t, &e), hs[i][1]));
        free(t);
    }
    static const char *const other[][4] = {
        {"num_key_value_heads", "3", NULL, "q.json: num_key_value_heads: must be a divisor of num_attention_heads = 32, got 3"},
        {"num_attention_heads", "0", NULL, "q.json: num_attention_heads: must be a positive integer up to 65536, got 0"},
        {"intermediate_size", "\"14336\"", NULL, "q.json: intermediate_size: must be a positive integer up to 1048576, got \"14336\""},
        {"num_hidden_layers", "5000", NULL, "q.json: num_hidden_layers: must be a positive integer up to 4096, got 5000"},
        {"tie_word_embeddings", "1", NULL, "q.json: tie_word_embeddings: must be true or false, got 1"},
        {"torch_dtype", "\"int8\"", NULL, "q.json: torch_dtype: must be \"bfloat16\", \"float16\" or \"float32\", got \"int8\""},
        {"head_dim", "0", NULL, "q.json: head_dim: must be a positive integer up to 1048576, got 0"}};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        char *t = with_field("tests/configs/llama-3-8b.json", NULL, other[i][0], other[i][1]);
        char nm[64];
        snprintf(nm, sizeof nm, "import-bad-%s", other[i][0]);
        CHECK(nm, t && !strcmp(import_error(t, &e), other[i][3]));
        if (t && strcmp(e.msg, other[i][3])) printf("  got: %s\n", e.msg);
        free(t);
    }
    char *t = with_field("tests/configs/gemma-4-e2b.json", "text_config", "sliding_window", "0");
    CHECK("import-bad-nested", t && !strcmp(import_error(t, &e), "q.json: text_config.sliding_window: must be a positive "
                                                                 "integer up to 1099511627776, got 0"));
    free(t);
    t = with_field("tests/configs/qwen3-30b-a3b.json", NULL, "mlp_only_layers", "\"x\"");
    CHECK("import-bad-mlp-only-layers", t && !strcmp(import_error(t, &e), "q.json: mlp_only_layers: must be a list of "
                                                                          "layer indices, got \"x\""));
    free(t);
    t = with_field("tests/configs/gemma-4-e2b.json", "text_config", "num_kv_shared_layers", "34");
    CHECK("import-bad-sharing-source", t && strstr(import_error(t, &e), "q.json: text_config.num_kv_shared_layers: must be "
                                                                         "small enough that every shared layer has an earlier"));
    free(t);

    test_quant();
    test_mutations();
    return check_done("test_import");
}
