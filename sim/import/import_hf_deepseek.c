/* import_hf_deepseek.c - the DeepSeek families of `kvsim import`:
 * deepseek_v2 / deepseek_v3 (MLA), deepseek_v32 (MLA + lightning indexer =
 * dsa) and deepseek_v4 (CSA / HCA / sliding-window layers from
 * compress_ratios, mHC residual). Serving formats that config.json does not
 * carry follow the shipped specs archs/deepseek-v3.yaml, deepseek-v3.2.yaml
 * and deepseek-v4-pro.yaml (research/deepseek.md), and the output says so. */
#include "import_hf_impl.h"
#include "layer.h"   /* MLA_ROPE_MAX */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit_fp8_format(ictx *c, const iquant *q)
{
    ib_printf(&c->body, "%s", q->fmt_yaml);
}

/* The DeepSeek modules by weight class (quantization_config lists); the
 * router (MoEGate) is a parameter, not a Linear module. */
static void ds_modules(u64 L, u64 E, bool q_lora, imodules *m)
{
    static const char *const lora[] = {"self_attn.q_a_proj", "self_attn.q_b_proj", "self_attn.kv_a_proj_with_mqa",
                                       "self_attn.kv_b_proj", "self_attn.o_proj", "mlp.shared_experts.gate_proj",
                                       "mlp.shared_experts.up_proj", "mlp.shared_experts.down_proj", NULL};
    static const char *const full[] = {"self_attn.q_proj", "self_attn.kv_a_proj_with_mqa", "self_attn.kv_b_proj",
                                       "self_attn.o_proj", "mlp.shared_experts.gate_proj", "mlp.shared_experts.up_proj",
                                       "mlp.shared_experts.down_proj", NULL};
    static const char *const mats[] = {"gate_proj", "up_proj", "down_proj", NULL};
    *m = (imodules){q_lora ? lora : full, E ? "mlp.experts.%llu." : NULL, mats, NULL, false, L, E};
}

/* Layers [0, first_dense) and those off moe_layer_freq are dense. */
static int moe_layers(ictx *c, u64 L, u64 first_dense, u64 freq, const ffn_desc *moe, u64 dense_ff, ffn_desc *f)
{
    char p[128];
    if (freq == 0) freq = 1;
    for (u64 i = 0; i < L; i++) {
        bool dense = !moe->experts || i < first_dense || i % freq != 0;
        f[i] = dense ? (ffn_desc){.d_ff = dense_ff} : *moe;
        if (dense && !dense_ff)
            return sim_fail(c->e, SIM_EINVAL, "%s: %s: missing (layer %llu has a dense MLP)", c->src,
                            ij_path(c, "intermediate_size", p, sizeof p), (unsigned long long)i);
    }
    return SIM_OK;
}

static int read_moe(ictx *c, ffn_desc *moe)
{
    int rc;
    *moe = (ffn_desc){.moe = true};
    if ((rc = ij_u64(c, "n_routed_experts", false, 0, IMP_EXPERTS_MAX, &moe->experts, NULL))) return rc;
    if (!moe->experts) return SIM_OK;
    if ((rc = ij_u64(c, "num_experts_per_tok", true, 1, moe->experts, &moe->top_k, NULL)) ||
        (rc = ij_u64(c, "moe_intermediate_size", true, 1, IMP_DIM_MAX, &moe->d_ff, NULL)) ||
        (rc = ij_u64(c, "n_shared_experts", false, 0, 1024, &moe->shared, NULL)) ||
        (rc = ij_u64(c, "n_group", false, 0, IMP_EXPERTS_MAX, &moe->n_group, NULL)) ||
        (rc = ij_u64(c, "topk_group", false, 0, IMP_EXPERTS_MAX, &moe->topk_group, NULL))) return rc;
    /* DeepSeek routing (V3 inference/model.py Gate): scoring_func sigmoid
     * (V3) or sqrtsoftplus (V4), routed_scaling_factor; hash-routed V4
     * layers have no router (the score does not apply to them). */
    json_t *sf = ij_get(c, "scoring_func"), *rs = ij_get(c, "routed_scaling_factor");
    const char *sfs = sf && json_is_string(sf) ? json_string_value(sf) : "softmax";
    if (!strcmp(sfs, "sigmoid")) moe->score = "sigmoid";
    else if (!strcmp(sfs, "sqrtsoftplus")) moe->score = "sqrtsoftplus";
    else if (strcmp(sfs, "softmax")) return ij_badkey(c, "scoring_func", sf, "softmax, sigmoid or sqrtsoftplus");
    if (rs && (rc = ij_real(c, rs, "routed_scaling_factor", &moe->routed_scale))) return rc;
    if (rs && !(moe->routed_scale > 0 && moe->routed_scale <= 1000))
        return ij_badkey(c, "routed_scaling_factor", rs, "a number in (0, 1000]");
    if (moe->routed_scale == 1) moe->routed_scale = 0;
    /* DeepSeek-V4 Expert: swiglu_limit clamps up and gate (0 or absent: none). */
    json_t *sl = ij_get(c, "swiglu_limit");
    if (sl && (rc = ij_real(c, sl, "swiglu_limit", &moe->swiglu_limit))) return rc;
    if (sl && !(moe->swiglu_limit >= 0 && moe->swiglu_limit <= 1000000))
        return ij_badkey(c, "swiglu_limit", sl, "a number in [0, 1000000]");
    /* The groups' rules of ffn_moe.c's check, named by their config fields. */
    u64 G = moe->n_group > 1 ? moe->n_group : 1, TG = moe->topk_group ? moe->topk_group : G;
    if (G > 1 && (moe->experts % G || moe->experts / G < 2))
        return ij_badkey(c, "n_group", ij_get(c, "n_group"), "a divisor of n_routed_experts = %llu into groups of at least 2",
                         (unsigned long long)moe->experts);
    if (TG > G || (G > 1 && TG * (moe->experts / G) < moe->top_k))
        return ij_badkey(c, "topk_group", ij_get(c, "topk_group"), "at most n_group = %llu, its groups holding at least "
                         "num_experts_per_tok = %llu experts", (unsigned long long)G, (unsigned long long)moe->top_k);

    return SIM_OK;
}

static void emit_top(ictx *c, u64 d, u64 L, u64 vocab, bool tie)
{
    ib_printf(&c->body, "d_model: %llu\nn_layers: %llu\nvocab: %llu\ntie_embeddings: %s\n", (unsigned long long)d,
              (unsigned long long)L, (unsigned long long)vocab, tie ? "true" : "false");
}

/* The indexer of DSA and CSA layers. */
static int read_indexer(ictx *c, u64 *ih, u64 *ihd, u64 *itopk)
{
    int rc;
    if ((rc = ij_u64(c, "index_n_heads", true, 1, IMP_HEADS_MAX, ih, NULL)) ||
        (rc = ij_u64(c, "index_head_dim", true, 1, IMP_DIM_MAX, ihd, NULL)) ||
        (rc = ij_u64(c, "index_topk", true, 1, IMP_TOK_MAX, itopk, NULL)))
        return rc;
    return SIM_OK;
}

/* deepseek_v2, deepseek_v3, deepseek_v32. */
int import_deepseek_mla(ictx *c)
{
    int rc;
    u64 d, L, vocab, H, qr = 0, kvr, nope, rope, v, dense_ff = 0, first_dense = 0, freq = 1, mtp = 0;
    bool tie, dsa = !strcmp(c->model_type, "deepseek_v32");
    const char *wdt;
    ffn_desc moe, *f = NULL;
    iquant q;
    imodules mods;
    if ((rc = ij_u64(c, "hidden_size", true, 1, IMP_DIM_MAX, &d, NULL)) ||
        (rc = ij_u64(c, "num_hidden_layers", true, 1, IMP_LAYERS_MAX, &L, NULL)) ||
        (rc = ij_u64(c, "vocab_size", true, 1, IMP_VOCAB_MAX, &vocab, NULL)) ||
        (rc = ij_u64(c, "num_attention_heads", true, 1, IMP_HEADS_MAX, &H, NULL)) ||
        (rc = ij_u64(c, "q_lora_rank", false, 0, IMP_DIM_MAX, &qr, NULL)) ||
        (rc = ij_u64(c, "kv_lora_rank", true, 1, IMP_DIM_MAX, &kvr, NULL)) ||
        (rc = ij_u64(c, "qk_nope_head_dim", true, 1, IMP_DIM_MAX, &nope, NULL)) ||
        (rc = ij_u64(c, "qk_rope_head_dim", true, 1, IMP_DIM_MAX, &rope, NULL)) ||
        (rc = ij_u64(c, "v_head_dim", true, 1, IMP_DIM_MAX, &v, NULL)) ||
        (rc = ij_u64(c, "intermediate_size", false, 1, IMP_DIM_MAX, &dense_ff, NULL)) ||
        (rc = ij_u64(c, "first_k_dense_replace", false, 0, IMP_ANY, &first_dense, NULL)) ||
        (rc = ij_u64(c, "moe_layer_freq", false, 0, IMP_ANY, &freq, NULL)) ||
        (rc = ij_bool(c, "tie_word_embeddings", false, &tie)) || (rc = read_moe(c, &moe)) ||
        (rc = ij_u64(c, "num_nextn_predict_layers", false, 0, 64, &mtp, NULL)) ||
        (rc = ij_weight_dtype(c, &wdt)))
        return rc;
    ds_modules(L, moe.experts, qr != 0, &mods);
    if ((rc = ij_quant(c, &mods, wdt, false, &q))) return rc;
    bool fp8 = q.method && !strcmp(q.method, "fp8");
    (void)ij_get(c, "num_key_value_heads");   /* MLA: one latent per token, whatever this says */
    u64 ih = 0, ihd = 0, itopk = 0;
    if (rope % 2 || rope > MLA_ROPE_MAX)
        return ij_badkey(c, "qk_rope_head_dim", ij_get(c, "qk_rope_head_dim"), "even and at most %d (rotated in pairs)", MLA_ROPE_MAX);
    if (dsa) {
        if ((rc = read_indexer(c, &ih, &ihd, &itopk))) return rc;
        if (ihd & (ihd - 1))
            return ij_badkey(c, "index_head_dim", ij_get(c, "index_head_dim"), "a power of two (the indexer's Hadamard rotation)");
        if (!qr) return ij_badkey(c, "q_lora_rank", ij_get(c, "q_lora_rank"), "a positive integer (deepseek_v32's indexer reads it)");
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
    if (fp8)
        ij_note(c, "Convention of archs/deepseek-v3.yaml: embeddings and head bf16, norms fp32; linear FLOPs in fp8, "
                "attention in bf16, indexer in fp8.");
    if (mtp)
        ij_note(c, "MTP: num_nextn_predict_layers = %llu module(s) of one %s block each (`mtp:`), sharing the embedding "
                "and head.", (unsigned long long)mtp, dsa ? "DSA" : "MLA");

    emit_top(c, d, L, vocab, tie);
    if (q.fmt_yaml[0] || dsa) ib_printf(&c->body, "formats:\n");
    if (q.fmt_yaml[0]) emit_fp8_format(c, &q);
    if (dsa)
        ib_printf(&c->body, "  mla_fp8:\n    parts:\n"
                  "      - {name: nope, elements: %llu, dtype: fp8_e4m3, scale: fp32, block: 128}\n"
                  "      - {name: rope, elements: %llu, dtype: bf16}\n"
                  "  index_fp8:\n    parts: [{elements: %llu, dtype: fp8_e4m3, scale: fp32, block: 128}]\n",
                  (unsigned long long)kvr, (unsigned long long)rope, (unsigned long long)ihd);
    if (fp8) {
        ib_printf(&c->body, "kv_dtype: %s\nweights: {linear: %s, experts: %s, embed: bf16, small: fp32, router: bf16}\n"
                  "compute: {linear: fp8, attention: bf16, indexer: fp8}\n", wdt, q.linear_q ? q.linear : wdt,
                  q.experts_q ? q.linear : wdt);
    } else {
        iquant plain = q;
        plain.fmt_yaml[0] = 0;   /* already under formats: */
        emit_weights(c, &plain, wdt, moe.experts != 0);
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
    if (mtp) {
        /* The MTP block's FFN is the MoE (DeepSeek's Block: layer ids past n_dense_layers). */
        ib_printf(&c->body, "mtp: {layers: %llu, kind: %s", (unsigned long long)mtp, dsa ? "dsa" : "mla");
        if (moe.experts && !f[common].moe) {
            ib_printf(&c->body, ", ffn: ");
            emit_ffn_map(&c->body, &moe);
        }
        ib_printf(&c->body, "}\n");
    }
    rc = SIM_OK;
out:
    free(f);
    return rc;
}

/* What import_deepseek_v4 reads (v4_dims, v4_kinds, v4_ffn) and then writes
 * (v4_emit). */
typedef struct {
    u64 d, L, vocab, H, hd, rope, qr, og, olr, win, hc, iters;
    u64 crope;       /* compress_rope_theta (0: absent, rope_theta applies) */
    double hc_eps;
    u64 ih, ihd, itopk;       /* the CSA indexer (when a layer is CSA) */
    bool tie;
    u64 *ratio, n_ratio;      /* compress_ratios, MTP entries included */
    int *kind;                /* per layer: index into names */
    const char *names[3];     /* kinds in order of first appearance */
    int n_kinds;
    u64 mtp;                  /* num_nextn_predict_layers */
    int mtp_kind;             /* index into names of the MTP block's attention */
    ffn_desc *f;
    bool fp8_experts, has_expert_dtype;
    const char *wdt;
    iquant q;
} v4model;

/* Dimensions, attention geometry, mHC and the weights' storage. */
static int v4_dims(ictx *c, v4model *m)
{
    int rc;
    u64 G = 1;
    bool has_g, bias;
    if ((rc = ij_u64(c, "hidden_size", true, 1, IMP_DIM_MAX, &m->d, NULL)) ||
        (rc = ij_u64(c, "num_hidden_layers", true, 1, IMP_LAYERS_MAX, &m->L, NULL)) ||
        (rc = ij_u64(c, "vocab_size", true, 1, IMP_VOCAB_MAX, &m->vocab, NULL)) ||
        (rc = ij_u64(c, "num_attention_heads", true, 1, IMP_HEADS_MAX, &m->H, NULL)) ||
        (rc = ij_u64(c, "num_key_value_heads", false, 0, IMP_ANY, &G, &has_g)) ||
        (rc = ij_u64(c, "head_dim", true, 2, IMP_DIM_MAX, &m->hd, NULL)) ||
        (rc = ij_u64(c, "qk_rope_head_dim", true, 1, m->hd - 1, &m->rope, NULL)) ||
        (rc = ij_u64(c, "q_lora_rank", true, 1, IMP_DIM_MAX, &m->qr, NULL)) ||
        (rc = ij_u64(c, "o_groups", true, 1, m->H, &m->og, NULL)) ||
        (rc = ij_u64(c, "o_lora_rank", true, 1, IMP_DIM_MAX, &m->olr, NULL)) ||
        (rc = ij_u64(c, "sliding_window", true, 1, IMP_TOK_MAX, &m->win, NULL)) ||
        (rc = ij_u64(c, "hc_mult", true, 1, 64, &m->hc, NULL)) ||
        (rc = ij_u64(c, "hc_sinkhorn_iters", true, 1, 1000, &m->iters, NULL)) ||
        (rc = ij_bool(c, "tie_word_embeddings", false, &m->tie)) ||
        (rc = ij_u64(c, "compress_rope_theta", false, 1, 1ull << 40, &m->crope, NULL)))
        return rc;
    json_t *he = ij_get(c, "hc_eps");
    if (he && (rc = ij_real(c, he, "hc_eps", &m->hc_eps))) return rc;
    if (he && !(m->hc_eps >= 0 && m->hc_eps <= 1)) return ij_badkey(c, "hc_eps", he, "a number in [0, 1]");
    if (m->rope % 2 || m->rope > V4_ROPE_MAX)
        return ij_badkey(c, "qk_rope_head_dim", ij_get(c, "qk_rope_head_dim"), "even and at most %d (rotated in adjacent pairs)",
                         V4_ROPE_MAX);
    if (m->H % m->og) return ij_badkey(c, "o_groups", ij_get(c, "o_groups"), "a divisor of num_attention_heads = %llu",
                                       (unsigned long long)m->H);
    if ((rc = ij_bool(c, "attention_bias", false, &bias))) return rc;
    if (bias) ij_warn(c, "'attention_bias' = true: projection biases are not modelled");
    if (has_g && G != 1)
        ij_warn(c, "'num_key_value_heads' = %llu: DeepSeek V4 attention has one shared KV head; counted as 1",
                (unsigned long long)G);
    return SIM_OK;
}

/* compress_ratios picks each layer's attention (0 sliding window only, 4 CSA
 * with the indexer, 128 HCA); entries past num_hidden_layers belong to the
 * MTP block and are dropped. */
static int v4_kinds(ictx *c, v4model *m)
{
    static const char *const kname[] = {"swa", "hca", "csa"};
    char p[128], q[160];
    int rc, slot[3] = {-1, -1, -1};
    bool any_csa = false;
    if ((rc = ij_u64_list(c, "compress_ratios", 0, 0, IMP_ANY, &m->ratio, &m->n_ratio))) return rc;
    if (m->n_ratio < m->L)
        return ij_badkey(c, "compress_ratios", ij_get(c, "compress_ratios"), "a list of at least num_hidden_layers = %llu "
                         "entries", (unsigned long long)m->L);
    m->kind = calloc(m->L, sizeof *m->kind);
    if (!m->kind) return sim_fail(c->e, SIM_ENOMEM, "out of memory");
    /* Kinds in order of first appearance (V4-Pro: hca, csa; Flash: swa, hca, csa). */
    for (u64 i = 0; i < m->L; i++) {
        int k = m->ratio[i] == 0 ? 0 : m->ratio[i] == 128 ? 1 : m->ratio[i] == 4 ? 2 : -1;
        if (k < 0) {
            snprintf(q, sizeof q, "%s[%llu]", ij_path(c, "compress_ratios", p, sizeof p), (unsigned long long)i);
            return ij_bad(c, q, json_array_get(ij_get(c, "compress_ratios"), i),
                          "0 (sliding window only), 4 (CSA) or 128 (HCA)");
        }
        if (slot[k] < 0) { slot[k] = m->n_kinds; m->names[m->n_kinds++] = kname[k]; }
        m->kind[i] = slot[k];
        any_csa |= k == 2;
    }
    /* The MTP block's attention: compress_ratios' entry past the layers (V4: 0,
     * sliding window only); its kind is added when no layer has it. */
    if ((rc = ij_u64(c, "num_nextn_predict_layers", false, 0, 64, &m->mtp, NULL))) return rc;
    if (m->mtp) {
        u64 r = m->n_ratio > m->L ? m->ratio[m->L] : 0;
        int k = r == 0 ? 0 : r == 128 ? 1 : r == 4 ? 2 : -1;
        if (k < 0) {
            snprintf(q, sizeof q, "%s[%llu]", ij_path(c, "compress_ratios", p, sizeof p), (unsigned long long)m->L);
            return ij_bad(c, q, json_array_get(ij_get(c, "compress_ratios"), m->L), "0 (sliding window only), 4 (CSA) or 128 (HCA)");
        }
        if (slot[k] < 0) { slot[k] = m->n_kinds; m->names[m->n_kinds++] = kname[k]; }
        m->mtp_kind = slot[k];
        any_csa |= k == 2;
    }
    if (any_csa && (rc = read_indexer(c, &m->ih, &m->ihd, &m->itopk))) return rc;
    if (any_csa && (m->ihd & (m->ihd - 1)))   /* also fills index_fp4's whole bytes */
        return ij_badkey(c, "index_head_dim", ij_get(c, "index_head_dim"), "a power of two (the indexer's Hadamard rotation)");
    if (any_csa && m->rope > m->ihd)
        return ij_badkey(c, "index_head_dim", ij_get(c, "index_head_dim"), "at least qk_rope_head_dim = %llu (the indexer "
                         "rotates its last qk_rope_head_dim dims)", (unsigned long long)m->rope);
    return SIM_OK;
}

/* MoE placement, hash-routed layers and the experts' storage. */
static int v4_ffn(ictx *c, v4model *m)
{
    u64 dense_ff = 0, first_dense = 0, hash = 0;
    ffn_desc moe;
    int rc;
    if ((rc = ij_u64(c, "num_hash_layers", false, 0, IMP_ANY, &hash, NULL)) ||
        (rc = ij_u64(c, "intermediate_size", false, 1, IMP_DIM_MAX, &dense_ff, NULL)) ||
        (rc = ij_u64(c, "first_k_dense_replace", false, 0, IMP_ANY, &first_dense, NULL)) || (rc = read_moe(c, &moe)))
        return rc;
    m->f = calloc(m->L, sizeof *m->f);
    if (!m->f) return sim_fail(c->e, SIM_ENOMEM, "out of memory");
    if ((rc = moe_layers(c, m->L, first_dense, 1, &moe, dense_ff, m->f))) return rc;
    for (u64 i = 0; i < m->L && i < hash; i++) m->f[i].hash = m->f[i].moe;
    /* Expert storage: the release ships routed experts as MXFP4 (int8-packed
     * fp4 + e8m0 scales per 32); expert_dtype says so when present. */
    json_t *ed = ij_get(c, "expert_dtype");
    if (ed && (!json_is_string(ed) || (strcmp(json_string_value(ed), "fp4") && strcmp(json_string_value(ed), "fp8"))))
        return ij_badkey(c, "expert_dtype", ed, "\"fp4\" or \"fp8\"");
    m->has_expert_dtype = ed != NULL;
    m->fp8_experts = ed && !strcmp(json_string_value(ed), "fp8");
    return SIM_OK;
}

static void v4_emit(ictx *c, const v4model *m)
{
    char ex[48];
    snprintf(ex, sizeof ex, "%s", m->fp8_experts ? m->q.linear : "mxfp4");
    if (m->mtp)
        ij_note(c, "MTP: num_nextn_predict_layers = %llu block(s) of kind %s (compress_ratios past num_hidden_layers), `mtp:`.",
                (unsigned long long)m->mtp, m->names[m->mtp_kind]);
    ij_note(c, "Serving formats (not in config.json; as archs/deepseek-v4-pro.yaml): KV entries v4_kv = 584 B (448 fp8 + 7 ue8m0 "
            "scales + 64 bf16 RoPE + 1 pad), indexer keys index_fp4 = 68 B, routed experts %s%s, compressor weights "
            "bf16, gates and the indexer's weights_proj bf16, embeddings bf16, norms and mHC fp32; compute linear fp8, "
            "attention bf16, indexer fp4.",
            m->fp8_experts ? "fp8" : "mxfp4", m->has_expert_dtype ? "" : " (expert_dtype absent)");
    emit_top(c, m->d, m->L, m->vocab, m->tie);
    ib_printf(&c->body, "formats:\n");
    emit_fp8_format(c, &m->q);
    ib_printf(&c->body, "  mxfp4:\n    parts: [{elements: 32, dtype: fp4_e2m1, scale: ue8m0, block: 32}]\n"
              "  v4_kv:\n    parts:\n      - {name: nope, elements: %llu, dtype: fp8_e4m3, scale: ue8m0, block: 64}\n"
              "      - {name: rope, elements: %llu, dtype: bf16}\n    pad: 1\n"
              "  index_fp4:\n    parts: [{elements: %llu, dtype: fp4_e2m1, scale: ue8m0, block: 32}]\n",
              (unsigned long long)(m->hd - m->rope), (unsigned long long)m->rope,
              (unsigned long long)(m->ihd ? m->ihd : 128));
    ib_printf(&c->body, "kv_dtype: %s\nweights: {linear: %s, experts: %s, embed: bf16, small: fp32, compressor: bf16, router: bf16}\n"
              "compute: {linear: fp8, attention: bf16, indexer: fp4}\n", m->wdt, m->q.linear_q ? m->q.linear : m->wdt, ex);
    u64 common = ffn_majority(m->f, m->L);
    ib_printf(&c->body, "ffn: ");
    emit_ffn_map(&c->body, &m->f[common]);
    ib_printf(&c->body, "\nresidual: {type: mhc, streams: %llu, sinkhorn_iters: %llu", (unsigned long long)m->hc,
              (unsigned long long)m->iters);
    if (m->hc_eps > 0) ib_printf(&c->body, ", hc_eps: %.9g", m->hc_eps);
    ib_printf(&c->body, "}\nlayers:\n");
    for (int k = 0; k < m->n_kinds; k++) {
        const char *t = !strcmp(m->names[k], "swa") ? "swa4" : m->names[k];
        ib_printf(&c->body, "  %s:\n    type: %s\n    q_heads: %llu\n    head_dim: %llu\n    rope_dim: %llu\n"
                  "    q_lora_rank: %llu\n    o_groups: %llu\n    o_lora_rank: %llu\n    window: %llu\n",
                  m->names[k], t, (unsigned long long)m->H, (unsigned long long)m->hd, (unsigned long long)m->rope,
                  (unsigned long long)m->qr, (unsigned long long)m->og, (unsigned long long)m->olr,
                  (unsigned long long)m->win);
        /* DeepSeek-V4-Flash inference/model.py Attention: compressed layers
         * rotate with compress_rope_theta (under the model's YaRN), the
         * sliding-window-only ones with rope_theta and no YaRN. */
        if (strcmp(t, "swa4") && m->crope) ib_printf(&c->body, "    rope_theta: %llu\n", (unsigned long long)m->crope);
        if (!strcmp(t, "swa4")) ib_printf(&c->body, "    rope_unscaled: true\n");
        if (!strcmp(t, "hca")) ib_printf(&c->body, "    compress_ratio: 128\n");
        if (!strcmp(t, "csa"))
            ib_printf(&c->body, "    compress_ratio: 4\n    index_heads: %llu\n    index_head_dim: %llu\n    index_topk: %llu\n",
                      (unsigned long long)m->ih, (unsigned long long)m->ihd, (unsigned long long)m->itopk);
        ib_printf(&c->body, "    kv_format: v4_kv\n");
        if (!strcmp(t, "csa")) ib_printf(&c->body, "    index_format: index_fp4\n");
    }
    emit_pattern(c, m->kind, m->L, m->names);
    emit_ffn_overrides(c, m->f, m->L, common);
    if (m->mtp) ib_printf(&c->body, "mtp: {layers: %llu, kind: %s}\n", (unsigned long long)m->mtp, m->names[m->mtp_kind]);
}

/* deepseek_v4: CSA / HCA / sliding-window layers on an mHC residual. */
int import_deepseek_v4(ictx *c)
{
    v4model m = {0};
    imodules mods;
    int rc;
    if ((rc = v4_dims(c, &m)) || (rc = ij_weight_dtype(c, &m.wdt))) return rc;
    ds_modules(m.L, 0, true, &mods);
    if ((rc = ij_quant(c, &mods, m.wdt, true, &m.q))) return rc;
    if (!m.q.method) {
        rc = sim_fail(c->e, SIM_EINVAL, "%s: quantization_config: missing (DeepSeek V4 ships FP8 weights)", c->src);
        goto out;
    }
    if ((rc = v4_kinds(c, &m)) || (rc = v4_ffn(c, &m))) goto out;
    v4_emit(c, &m);
out:
    free(m.ratio);
    free(m.kind);
    free(m.f);
    return rc;
}
