/* import_hf_deepseek.c - the DeepSeek families of `kvsim import`:
 * deepseek_v2 / deepseek_v3 (MLA), deepseek_v32 (MLA + lightning indexer =
 * dsa) and deepseek_v4 (CSA / HCA / sliding-window layers from
 * compress_ratios, mHC residual). Serving formats that config.json does not
 * carry follow the shipped specs archs/deepseek-v3.yaml, deepseek-v3.2.yaml
 * and deepseek-v4-pro.yaml (research/deepseek.md), and the output says so. */
#include "import_hf_impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* quantization_config {quant_method: fp8, weight_block_size: [a, b]} ->
 * the block size a*b; 0 when there is no quantization_config. `scale` is
 * the stored scale dtype. */
static int fp8_block(ictx *c, u64 *block, const char **scale, bool v4)
{
    json_t *q = ij_get(c, "quantization_config");
    *block = 0;
    *scale = "fp32";
    if (!q) return SIM_OK;
    if (!json_is_object(q))
        return sim_fail(c->e, SIM_EINVAL, "%s: field 'quantization_config' must be an object", c->src);
    const char *m = json_string_value(json_object_get(q, "quant_method"));
    if (!m || strcmp(m, "fp8"))
        return sim_fail(c->e, SIM_EINVAL, "%s: field 'quantization_config.quant_method' must be \"fp8\" "
                        "(the only weight quantization the importer maps)", c->src);
    const char *fm = json_string_value(json_object_get(q, "fmt"));
    if (fm && strcmp(fm, "e4m3"))
        ij_warn(c, "'quantization_config.fmt' = \"%s\": counted as fp8_e4m3 (same size)", fm);
    json_t *bs = json_object_get(q, "weight_block_size");
    json_t *a = json_array_get(bs, 0), *b = json_array_get(bs, 1);
    if (!json_is_array(bs) || json_array_size(bs) != 2 || !json_is_integer(a) || !json_is_integer(b) ||
        json_integer_value(a) <= 0 || json_integer_value(b) <= 0)
        return sim_fail(c->e, SIM_EINVAL, "%s: field 'quantization_config.weight_block_size' must be a list of 2 "
                        "positive whole numbers", c->src);
    *block = (u64)json_integer_value(a) * (u64)json_integer_value(b);
    const char *sf = json_string_value(json_object_get(q, "scale_fmt"));
    /* V3 / V3.1 / V3.2 checkpoints store weight_scale_inv as fp32 tensors
     * (scale_fmt ue8m0 only constrains their values to powers of two);
     * V4 stores them as float8_e8m0fnu (research/deepseek.md 3.4). */
    if (v4 && sf && !strcmp(sf, "ue8m0")) *scale = "ue8m0";
    ij_note(c, "quantization_config: fp8 e4m3 weights, one %s scale per %lldx%lld block (format fp8_b%lld).", *scale,
            (long long)json_integer_value(a), (long long)json_integer_value(b), (long long)json_integer_value(a));
    return SIM_OK;
}

static void emit_fp8_format(ictx *c, u64 block, const char *scale)
{
    ib_printf(&c->body, "  fp8_b%llu:\n    parts: [{elements: %llu, dtype: fp8_e4m3, scale: %s, block: %llu}]\n",
              (unsigned long long)(block == 16384 ? 128 : block), (unsigned long long)block, scale,
              (unsigned long long)block);
}

/* Layers [0, first_dense) and those off moe_layer_freq are dense. */
static int moe_layers(ictx *c, u64 L, u64 first_dense, u64 freq, const ffn_desc *moe, u64 dense_ff, ffn_desc *f)
{
    if (freq == 0) freq = 1;
    for (u64 i = 0; i < L; i++) {
        bool dense = !moe->experts || i < first_dense || i % freq != 0;
        f[i] = dense ? (ffn_desc){.d_ff = dense_ff} : *moe;
        if (dense && !dense_ff)
            return sim_fail(c->e, SIM_EINVAL, "%s: missing field 'intermediate_size' (layer %llu has a dense MLP)",
                            c->src, (unsigned long long)i);
    }
    return SIM_OK;
}

static int read_moe(ictx *c, ffn_desc *moe)
{
    int rc;
    *moe = (ffn_desc){.moe = true};
    if ((rc = ij_u64(c, "n_routed_experts", false, &moe->experts, NULL))) return rc;
    if (!moe->experts) return SIM_OK;
    if ((rc = ij_u64(c, "num_experts_per_tok", true, &moe->top_k, NULL)) ||
        (rc = ij_u64(c, "moe_intermediate_size", true, &moe->d_ff, NULL)) ||
        (rc = ij_u64(c, "n_shared_experts", false, &moe->shared, NULL)) ||
        (rc = ij_u64(c, "n_group", false, &moe->n_group, NULL)) ||
        (rc = ij_u64(c, "topk_group", false, &moe->topk_group, NULL))) return rc;
    /* DeepSeek V3 routing (inference/model.py Gate): scoring_func sigmoid,
     * routed_scaling_factor; hash-routed V4 layers get none of it. */
    json_t *sf = ij_get(c, "scoring_func"), *rs = ij_get(c, "routed_scaling_factor");
    moe->sigmoid = sf && json_is_string(sf) && !strcmp(json_string_value(sf), "sigmoid");
    if (rs && (rc = ij_real(c, rs, "routed_scaling_factor", &moe->routed_scale))) return rc;
    if (moe->routed_scale == 1) moe->routed_scale = 0;
    return SIM_OK;
}

static void emit_top(ictx *c, u64 d, u64 L, u64 vocab, bool tie)
{
    ib_printf(&c->body, "d_model: %llu\nn_layers: %llu\nvocab: %llu\ntie_embeddings: %s\n", (unsigned long long)d,
              (unsigned long long)L, (unsigned long long)vocab, tie ? "true" : "false");
}

/* deepseek_v2, deepseek_v3, deepseek_v32. */
int import_deepseek_mla(ictx *c)
{
    int rc;
    u64 d, L, vocab, H, qr = 0, kvr, nope, rope, v, dense_ff = 0, first_dense = 0, freq = 1, block;
    bool tie, dsa = !strcmp(c->model_type, "deepseek_v32");
    const char *scale, *wdt;
    ffn_desc moe, *f = NULL;
    if ((rc = ij_u64(c, "hidden_size", true, &d, NULL)) || (rc = ij_u64(c, "num_hidden_layers", true, &L, NULL)) ||
        (rc = ij_u64(c, "vocab_size", true, &vocab, NULL)) || (rc = ij_u64(c, "num_attention_heads", true, &H, NULL)) ||
        (rc = ij_u64(c, "q_lora_rank", false, &qr, NULL)) || (rc = ij_u64(c, "kv_lora_rank", true, &kvr, NULL)) ||
        (rc = ij_u64(c, "qk_nope_head_dim", true, &nope, NULL)) || (rc = ij_u64(c, "qk_rope_head_dim", true, &rope, NULL)) ||
        (rc = ij_u64(c, "v_head_dim", true, &v, NULL)) || (rc = ij_u64(c, "intermediate_size", false, &dense_ff, NULL)) ||
        (rc = ij_u64(c, "first_k_dense_replace", false, &first_dense, NULL)) ||
        (rc = ij_u64(c, "moe_layer_freq", false, &freq, NULL)) || (rc = ij_bool(c, "tie_word_embeddings", false, &tie)) ||
        (rc = read_moe(c, &moe)) || (rc = fp8_block(c, &block, &scale, false)) || (rc = ij_weight_dtype(c, &wdt)))
        return rc;
    if (L == 0 || L > 4096) return sim_fail(c->e, SIM_EINVAL, "%s: field 'num_hidden_layers' must be in [1, 4096]", c->src);
    (void)ij_get(c, "num_key_value_heads");   /* MLA: one latent per token, whatever this says */
    u64 ih = 0, ihd = 0, itopk = 0;
    if (dsa) {
        if ((rc = ij_u64(c, "index_n_heads", true, &ih, NULL)) || (rc = ij_u64(c, "index_head_dim", true, &ihd, NULL)) ||
            (rc = ij_u64(c, "index_topk", true, &itopk, NULL))) return rc;
        if (!qr) return sim_fail(c->e, SIM_EINVAL, "%s: field 'q_lora_rank' is needed by deepseek_v32 (the indexer reads it)", c->src);
    }
    bool bias;
    if ((rc = ij_bool(c, "attention_bias", false, &bias))) return rc;
    if (bias) ij_warn(c, "'attention_bias' = true: MLA projection biases are not modelled");
    f = calloc(L, sizeof *f);
    if (!f) return sim_fail(c->e, SIM_ENOMEM, "out of memory");
    if ((rc = moe_layers(c, L, first_dense, freq, &moe, dense_ff, f))) goto out;
    ij_note(c, "MLA: the cache holds kv_lora_rank + qk_rope_head_dim = %llu elements per token and layer; "
            "num_key_value_heads is not used.", (unsigned long long)(kvr + rope));
    if (dsa)
        ij_note(c, "Serving formats (not in config.json; as archs/deepseek-v3.2.yaml, FlashMLA): latent mla_fp8 = 656 B "
                "(512 fp8 + 4 fp32 scales + 64 bf16 RoPE), indexer keys index_fp8 = 132 B (128 fp8 + 1 fp32 scale).");
    if (block)
        ij_note(c, "Convention of archs/deepseek-v3.yaml: embeddings and head bf16, norms fp32; linear FLOPs in fp8, "
                "attention in bf16, indexer in fp8.");
    ij_note(c, "MTP (num_nextn_predict_layers) is not modelled.");

    emit_top(c, d, L, vocab, tie);
    if (block || dsa) ib_printf(&c->body, "formats:\n");
    if (block) emit_fp8_format(c, block, scale);
    if (dsa)
        ib_printf(&c->body, "  mla_fp8:\n    parts:\n"
                  "      - {name: nope, elements: %llu, dtype: fp8_e4m3, scale: fp32, block: 128}\n"
                  "      - {name: rope, elements: %llu, dtype: bf16}\n"
                  "  index_fp8:\n    parts: [{elements: %llu, dtype: fp8_e4m3, scale: fp32, block: 128}]\n",
                  (unsigned long long)kvr, (unsigned long long)rope, (unsigned long long)ihd);
    ib_printf(&c->body, "kv_dtype: %s\n", wdt);
    if (block) {
        u64 b = block == 16384 ? 128 : block;
        ib_printf(&c->body, "weights: {linear: fp8_b%llu, experts: fp8_b%llu, embed: bf16, small: fp32, router: bf16}\n"
                  "compute: {linear: fp8, attention: bf16, indexer: fp8}\n", (unsigned long long)b, (unsigned long long)b);
    } else {
        ib_printf(&c->body, "weights: {linear: %s}\n", wdt);
    }
    u64 common = ffn_majority(f, L);
    ib_printf(&c->body, "ffn: ");
    emit_ffn_map(&c->body, &f[common]);
    ib_printf(&c->body, "\nlayers:\n  %s:\n    type: %s\n    q_heads: %llu\n", dsa ? "dsa" : "mla", dsa ? "dsa" : "mla",
              (unsigned long long)H);
    if (qr) ib_printf(&c->body, "    q_lora_rank: %llu\n", (unsigned long long)qr);
    ib_printf(&c->body, "    kv_lora_rank: %llu\n    nope_dim: %llu\n    rope_dim: %llu\n    v_head_dim: %llu\n",
              (unsigned long long)kvr, (unsigned long long)nope, (unsigned long long)rope, (unsigned long long)v);
    if (dsa)
        ib_printf(&c->body, "    index_heads: %llu\n    index_head_dim: %llu\n    index_topk: %llu\n"
                  "    kv_format: mla_fp8\n    index_format: index_fp8\n",
                  (unsigned long long)ih, (unsigned long long)ihd, (unsigned long long)itopk);
    emit_ffn_overrides(c, f, L, common);
    rc = SIM_OK;
out:
    free(f);
    return rc;
}

/* deepseek_v4: compress_ratios picks each layer's attention (0 sliding window
 * only, 4 CSA with the indexer, 128 HCA); entries past num_hidden_layers
 * belong to the MTP block and are dropped. */
int import_deepseek_v4(ictx *c)
{
    int rc;
    u64 d, L, vocab, H, G = 1, hd, rope, qr, og, olr, win, ih = 0, ihd = 0, itopk = 0, hash = 0, hc, iters, block;
    u64 dense_ff = 0, first_dense = 0, *ratio = NULL, n_ratio;
    bool tie, has_g;
    const char *scale, *wdt;
    ffn_desc moe, *f = NULL;
    int *kind = NULL;
    if ((rc = ij_u64(c, "hidden_size", true, &d, NULL)) || (rc = ij_u64(c, "num_hidden_layers", true, &L, NULL)) ||
        (rc = ij_u64(c, "vocab_size", true, &vocab, NULL)) || (rc = ij_u64(c, "num_attention_heads", true, &H, NULL)) ||
        (rc = ij_u64(c, "num_key_value_heads", false, &G, &has_g)) || (rc = ij_u64(c, "head_dim", true, &hd, NULL)) ||
        (rc = ij_u64(c, "qk_rope_head_dim", true, &rope, NULL)) || (rc = ij_u64(c, "q_lora_rank", true, &qr, NULL)) ||
        (rc = ij_u64(c, "o_groups", true, &og, NULL)) || (rc = ij_u64(c, "o_lora_rank", true, &olr, NULL)) ||
        (rc = ij_u64(c, "sliding_window", true, &win, NULL)) || (rc = ij_u64(c, "num_hash_layers", false, &hash, NULL)) ||
        (rc = ij_u64(c, "hc_mult", true, &hc, NULL)) || (rc = ij_u64(c, "hc_sinkhorn_iters", true, &iters, NULL)) ||
        (rc = ij_u64(c, "intermediate_size", false, &dense_ff, NULL)) ||
        (rc = ij_u64(c, "first_k_dense_replace", false, &first_dense, NULL)) ||
        (rc = ij_bool(c, "tie_word_embeddings", false, &tie)) || (rc = read_moe(c, &moe)) ||
        (rc = fp8_block(c, &block, &scale, true)) || (rc = ij_weight_dtype(c, &wdt)))
        return rc;
    if (L == 0 || L > 4096) return sim_fail(c->e, SIM_EINVAL, "%s: field 'num_hidden_layers' must be in [1, 4096]", c->src);
    bool bias;
    if ((rc = ij_bool(c, "attention_bias", false, &bias))) return rc;
    if (bias) ij_warn(c, "'attention_bias' = true: projection biases are not modelled");
    if (has_g && G != 1)
        ij_warn(c, "'num_key_value_heads' = %llu: DeepSeek V4 attention has one shared KV head; counted as 1",
                (unsigned long long)G);
    if ((rc = ij_u64_list(c, "compress_ratios", 0, &ratio, &n_ratio))) return rc;
    if (n_ratio < L) {
        rc = sim_fail(c->e, SIM_EINVAL, "%s: field 'compress_ratios' has %llu entries, fewer than num_hidden_layers = %llu",
                      c->src, (unsigned long long)n_ratio, (unsigned long long)L);
        goto out;
    }
    kind = calloc(L, sizeof *kind);
    f = calloc(L, sizeof *f);
    if (!kind || !f) { rc = sim_fail(c->e, SIM_ENOMEM, "out of memory"); goto out; }
    /* Kinds in order of first appearance (V4-Pro: hca, csa; Flash: swa, hca, csa). */
    static const char *const kname[] = {"swa", "hca", "csa"};
    const char *names[3];
    int slot[3] = {-1, -1, -1}, n_kinds = 0;
    bool any_csa = false;
    for (u64 i = 0; i < L; i++) {
        int k = ratio[i] == 0 ? 0 : ratio[i] == 128 ? 1 : ratio[i] == 4 ? 2 : -1;
        if (k < 0) {
            rc = sim_fail(c->e, SIM_EINVAL, "%s: field 'compress_ratios'[%llu] = %llu: only 0 (sliding window only), "
                          "4 (CSA) and 128 (HCA) are known", c->src, (unsigned long long)i, (unsigned long long)ratio[i]);
            goto out;
        }
        if (slot[k] < 0) { slot[k] = n_kinds; names[n_kinds++] = kname[k]; }
        kind[i] = slot[k];
        any_csa |= k == 2;
    }
    if (any_csa && ((rc = ij_u64(c, "index_n_heads", true, &ih, NULL)) || (rc = ij_u64(c, "index_head_dim", true, &ihd, NULL)) ||
                    (rc = ij_u64(c, "index_topk", true, &itopk, NULL))))
        goto out;
    if ((rc = moe_layers(c, L, first_dense, 1, &moe, dense_ff, f))) goto out;
    for (u64 i = 0; i < L && i < hash; i++) f[i].hash = f[i].moe;
    /* V4 scores with sqrtsoftplus (scoring_func), which kvsim does not model
     * yet: its routed_scaling_factor is left out with it (README, issue 12). */
    for (u64 i = 0; i < L; i++) f[i].routed_scale = 0;

    /* Expert storage: the release ships routed experts as MXFP4 (int8-packed
     * fp4 + e8m0 scales per 32); expert_dtype says so when present. */
    const char *experts = "mxfp4";
    json_t *ed = ij_get(c, "expert_dtype");
    if (ed && (!json_is_string(ed) || (strcmp(json_string_value(ed), "fp4") && strcmp(json_string_value(ed), "fp8")))) {
        rc = sim_fail(c->e, SIM_EINVAL, "%s: field 'expert_dtype' must be \"fp4\" or \"fp8\"", c->src);
        goto out;
    }
    bool fp8_experts = ed && !strcmp(json_string_value(ed), "fp8");
    if (!block) {
        rc = sim_fail(c->e, SIM_EINVAL, "%s: missing field 'quantization_config' (DeepSeek V4 ships FP8 weights)", c->src);
        goto out;
    }
    u64 b = block == 16384 ? 128 : block;
    char ex[32];
    snprintf(ex, sizeof ex, "fp8_b%llu", (unsigned long long)b);
    ij_note(c, "Entries of compress_ratios past num_hidden_layers (%llu of %llu: the MTP block) are dropped; MTP is not modelled.",
            (unsigned long long)(n_ratio - L), (unsigned long long)n_ratio);
    ij_note(c, "Serving formats (not in config.json; as archs/deepseek-v4-pro.yaml): KV entries v4_kv = 584 B (448 fp8 + 7 ue8m0 "
            "scales + 64 bf16 RoPE + 1 pad), indexer keys index_fp4 = 68 B, routed experts %s%s, compressor weights "
            "bf16, embeddings bf16, norms and mHC fp32; compute linear fp8, attention bf16, indexer fp4.",
            fp8_experts ? "fp8" : experts, ed ? "" : " (expert_dtype absent)");

    emit_top(c, d, L, vocab, tie);
    ib_printf(&c->body, "formats:\n");
    emit_fp8_format(c, block, scale);
    ib_printf(&c->body, "  mxfp4:\n    parts: [{elements: 32, dtype: fp4_e2m1, scale: ue8m0, block: 32}]\n"
              "  v4_kv:\n    parts:\n      - {name: nope, elements: %llu, dtype: fp8_e4m3, scale: ue8m0, block: 64}\n"
              "      - {name: rope, elements: %llu, dtype: bf16}\n    pad: 1\n"
              "  index_fp4:\n    parts: [{elements: %llu, dtype: fp4_e2m1, scale: ue8m0, block: 32}]\n",
              (unsigned long long)(hd - rope), (unsigned long long)rope, (unsigned long long)(ihd ? ihd : 128));
    ib_printf(&c->body, "kv_dtype: %s\nweights: {linear: fp8_b%llu, experts: %s, embed: bf16, small: fp32, compressor: bf16}\n"
              "compute: {linear: fp8, attention: bf16, indexer: fp4}\n", wdt, (unsigned long long)b,
              fp8_experts ? ex : experts);
    u64 common = ffn_majority(f, L);
    ib_printf(&c->body, "ffn: ");
    emit_ffn_map(&c->body, &f[common]);
    ib_printf(&c->body, "\nresidual: {type: mhc, streams: %llu, sinkhorn_iters: %llu}\nlayers:\n", (unsigned long long)hc,
              (unsigned long long)iters);
    for (int k = 0; k < n_kinds; k++) {
        const char *t = !strcmp(names[k], "swa") ? "swa4" : names[k];
        ib_printf(&c->body, "  %s:\n    type: %s\n    q_heads: %llu\n    head_dim: %llu\n    rope_dim: %llu\n"
                  "    q_lora_rank: %llu\n    o_groups: %llu\n    o_lora_rank: %llu\n    window: %llu\n",
                  names[k], t, (unsigned long long)H, (unsigned long long)hd, (unsigned long long)rope,
                  (unsigned long long)qr, (unsigned long long)og, (unsigned long long)olr, (unsigned long long)win);
        if (!strcmp(t, "hca")) ib_printf(&c->body, "    compress_ratio: 128\n");
        if (!strcmp(t, "csa"))
            ib_printf(&c->body, "    compress_ratio: 4\n    index_heads: %llu\n    index_head_dim: %llu\n    index_topk: %llu\n",
                      (unsigned long long)ih, (unsigned long long)ihd, (unsigned long long)itopk);
        ib_printf(&c->body, "    kv_format: v4_kv\n");
        if (!strcmp(t, "csa")) ib_printf(&c->body, "    index_format: index_fp4\n");
    }
    emit_pattern(c, kind, L, names);
    emit_ffn_overrides(c, f, L, common);
    rc = SIM_OK;
out:
    free(ratio);
    free(kind);
    free(f);
    return rc;
}
