/* import_hf_gqa.c - the GQA-style families of `kvsim import`: llama,
 * mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, gemma2, gemma3,
 * gemma3n, gemma4 (see import_hf.c for the readers and the dispatch). */
#include "import_hf_impl.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the GQA families ----------------------------------------------------- */


typedef struct {
    u64 q_heads, kv_heads, head_dim, rope_dim, window;
    bool qk_norm, qkv_bias, o_bias, k_eq_v;
    u64 rope_theta;            /* the kind's own base (Gemma 4 full layers), 0 = the model's */
    bool rope_prop, v_norm, unit_scale;   /* Gemma 4 (transformers Gemma4TextAttention) */
} gkind;

enum { K_FULL, K_SLIDING };

/* A Gemma 3 config.json names only what differs from transformers'
 * Gemma3TextConfig; these are that class's defaults (google/gemma-3-4b-it
 * gives neither heads nor head_dim nor vocab_size). */
static int gemma3_default(ictx *c, const char *key, u64 lo, u64 hi, u64 dflt, u64 *out)
{
    bool has;
    int rc = ij_u64(c, key, false, lo, hi, out, &has);
    if (rc) return rc;
    if (!has) {
        *out = dflt;
        ij_note(c, "%s: absent; transformers Gemma3TextConfig default %llu.", key, (unsigned long long)dflt);
    }
    return SIM_OK;
}

/* A partial_rotary_factor: the fraction of each head's dims that RoPE
 * rotates. Refused outside [0, 1]: rope_dim = (u64)(head_dim * f), and a
 * double out of u64's range (1e300, -0.5) makes that cast undefined
 * behaviour (fuzz_import found 1e300). */
static int rope_fraction(ictx *c, const json_t *v, const char *what, double *out)
{
    int rc = ij_real(c, v, what, out);
    if (rc) return rc;
    if (!(*out >= 0.0 && *out <= 1.0)) return ij_bad(c, what, v, "a fraction of the head dims, in [0, 1]");
    return SIM_OK;
}

/* partial_rotary_factor of a rope_parameters entry (Gemma 4), or dflt. */
static int rope_factor(ictx *c, const char *entry, double dflt, double *out)
{
    json_t *rp = ij_get(c, "rope_parameters");
    json_t *en = rp ? json_object_get(rp, entry) : NULL;
    json_t *f = en ? json_object_get(en, "partial_rotary_factor") : NULL;
    char what[96];
    snprintf(what, sizeof what, "%srope_parameters.%s.partial_rotary_factor", c->pre, entry);
    *out = dflt;
    return f ? rope_fraction(c, f, what, out) : SIM_OK;
}

/* Per-layer attention types from `layer_types`, else the family's rule. */
static int layer_types(ictx *c, gfam fam, u64 L, int *kind, bool *any_sliding)
{
    char p[128];
    int rc;
    json_t *lt = ij_get(c, "layer_types");
    *any_sliding = false;
    if (lt) {
        if (!json_is_array(lt) || json_array_size(lt) != L)
            return ij_badkey(c, "layer_types", lt, "a list of num_hidden_layers = %llu strings", (unsigned long long)L);
        for (u64 i = 0; i < L; i++) {
            const char *s = json_string_value(json_array_get(lt, i));
            char q[160];
            snprintf(q, sizeof q, "%s[%llu]", ij_path(c, "layer_types", p, sizeof p), (unsigned long long)i);
            if (!s) return ij_bad(c, q, json_array_get(lt, i), "a string");
            if (!strcmp(s, "sliding_attention")) kind[i] = K_SLIDING;
            else if (!strcmp(s, "full_attention")) kind[i] = K_FULL;
            else   /* linear_attention (Qwen3-Next), chunked_attention (Llama 4), ...: not full */
                return ij_bad(c, q, json_array_get(lt, i), "\"full_attention\" or \"sliding_attention\" (the layer "
                              "types a kvsim gqa spec expresses)");
        }
    } else {
        u64 every = 0, max_window = 0;
        bool use_sw = false;
        switch (fam) {
        case FAM_GEMMA2:   /* transformers Gemma2: even layers slide */
            for (u64 i = 0; i < L; i++) kind[i] = i % 2 ? K_FULL : K_SLIDING;
            ij_note(c, "layer_types: absent; Gemma 2's rule (even layers sliding, odd layers full).");
            break;
        case FAM_GEMMA3: case FAM_GEMMA3N: case FAM_GEMMA4:
            every = fam == FAM_GEMMA3N ? 5 : 6;
            if (fam == FAM_GEMMA3 && (rc = gemma3_default(c, "sliding_window_pattern", 1, IMP_ANY, 6, &every))) return rc;
            for (u64 i = 0; i < L; i++) kind[i] = (i + 1) % every ? K_SLIDING : K_FULL;
            if (fam == FAM_GEMMA4) kind[L - 1] = K_FULL;   /* transformers forces the last layer full */
            ij_note(c, "layer_types: absent; every %lluth layer full (transformers default).", (unsigned long long)every);
            break;
        case FAM_QWEN2: case FAM_QWEN2_MOE: case FAM_QWEN3: case FAM_QWEN3_MOE:
            /* transformers Qwen2/3: layers from max_window_layers on slide when use_sliding_window. */
            if ((rc = ij_bool(c, "use_sliding_window", false, &use_sw))) return rc;
            if ((rc = ij_u64(c, "max_window_layers", false, 0, IMP_ANY, &max_window, NULL))) return rc;
            for (u64 i = 0; i < L; i++) kind[i] = use_sw && i >= max_window ? K_SLIDING : K_FULL;
            break;
        case FAM_MISTRAL: case FAM_MIXTRAL:
            /* transformers Mistral: sliding_window (when not null) applies to every layer. */
            for (u64 i = 0; i < L; i++) kind[i] = ij_get(c, "sliding_window") ? K_SLIDING : K_FULL;
            break;
        default:
            for (u64 i = 0; i < L; i++) kind[i] = K_FULL;
        }
    }
    for (u64 i = 0; i < L; i++) *any_sliding |= kind[i] == K_SLIDING;
    return SIM_OK;
}

/* What import_gqa reads (gqa_dims, gqa_family, gqa_layers) and then
 * writes (gqa_emit). */
typedef struct {
    gfam fam;
    u64 d, L, vocab;
    bool tie, gemma;
    gkind full, sliding;
    int *kind;               /* per layer: K_FULL / K_SLIDING */
    bool any_sliding, any_full;
    ffn_desc *ffn;           /* per layer */
    bool moe;                /* some layer has routed experts */
    u64 shared_kv, ple, ple_vocab;
    const char *wdt;
    iquant q;
    double softcap;          /* Gemma: final_logit_softcapping, 0 = none */
} gmodel;

/* Per-layer FFN widths and MoE placement. */
static int ffn_layers(ictx *c, gmodel *g)
{
    int rc;
    u64 d_ff = 0, L = g->L;
    gfam fam = g->fam;
    ffn_desc *f = g->ffn;
    bool is_moe_fam = fam == FAM_MIXTRAL || fam == FAM_QWEN2_MOE || fam == FAM_QWEN3_MOE;
    json_t *im = fam == FAM_GEMMA3N ? ij_get(c, "intermediate_size") : NULL;
    if (im && json_is_array(im)) {
        /* Gemma 3n gives one width per layer. */
        u64 *w, n;
        if ((rc = ij_u64_list(c, "intermediate_size", L, 1, IMP_DIM_MAX, &w, &n))) return rc;
        for (u64 i = 0; i < L; i++) f[i] = (ffn_desc){.d_ff = w[i]};
        free(w);
    } else {
        if ((rc = ij_u64(c, "intermediate_size", true, 1, IMP_DIM_MAX, &d_ff, NULL))) return rc;
        for (u64 i = 0; i < L; i++) f[i] = (ffn_desc){.d_ff = d_ff};
    }
    if (fam == FAM_GEMMA4) {
        bool wide, moe_block;
        if ((rc = ij_bool(c, "enable_moe_block", false, &moe_block))) return rc;
        if (moe_block) {
            /* Gemma 4 26B-A4B (Gemma4TextDecoderLayer with enable_moe_block):
             * every layer sums its dense MLP and a routed expert block, each
             * with its own norms, the router on the pre-norm residual: kvsim's
             * moe with the MLP as the one shared expert and gemma4_block. */
            ffn_desc moe = {.moe = true, .shared = 1, .shared_d_ff = d_ff, .gemma4_block = true};
            if ((rc = ij_u64(c, "num_experts", true, 1, IMP_HEADS_MAX, &moe.experts, NULL)) ||
                (rc = ij_u64(c, "top_k_experts", true, 1, moe.experts, &moe.top_k, NULL)) ||
                (rc = ij_u64(c, "moe_intermediate_size", true, 1, IMP_DIM_MAX, &moe.d_ff, NULL)))
                return rc;
            for (u64 i = 0; i < L; i++) f[i] = moe;
            g->moe = true;
            ij_note(c, "enable_moe_block: the dense MLP (%llu) runs beside %llu experts of %llu (top %llu): a moe "
                    "with the MLP as its one shared expert and gemma4_block (Gemma4TextRouter on the pre-norm "
                    "residual, the branches' own norms).", (unsigned long long)d_ff, (unsigned long long)moe.experts,
                    (unsigned long long)moe.d_ff, (unsigned long long)moe.top_k);
        } else {
            (void)ij_get(c, "num_experts");   /* null unless enable_moe_block */
            (void)ij_get(c, "top_k_experts");
            (void)ij_get(c, "moe_intermediate_size");
        }
        if ((rc = ij_bool(c, "use_double_wide_mlp", false, &wide))) return rc;
        if (wide && g->shared_kv) {
            for (u64 i = L - g->shared_kv; i < L; i++) {
                if (f[i].d_ff > IMP_DIM_MAX / 2)
                    return ij_badkey(c, "intermediate_size", ij_get(c, "intermediate_size"),
                                     "at most %llu with use_double_wide_mlp", (unsigned long long)IMP_DIM_MAX / 2);
                f[i].d_ff *= 2;
            }
            ij_note(c, "use_double_wide_mlp: the %llu KV-shared layers (%llu-%llu) have 2 x intermediate_size.",
                    (unsigned long long)g->shared_kv, (unsigned long long)(L - g->shared_kv), (unsigned long long)(L - 1));
        }
    }
    if (!is_moe_fam) return SIM_OK;

    ffn_desc moe = {.moe = true};
    u64 step = 1;
    u64 *dense_list = NULL, n_dense = 0;
    if (fam == FAM_MIXTRAL) {
        if ((rc = ij_u64(c, "num_local_experts", true, 1, IMP_EXPERTS_MAX, &moe.experts, NULL))) return rc;
        moe.d_ff = d_ff;   /* Mixtral's intermediate_size is the expert width */
    } else {
        if ((rc = ij_u64(c, "num_experts", true, 0, IMP_EXPERTS_MAX, &moe.experts, NULL))) return rc;
        if ((rc = ij_u64(c, "moe_intermediate_size", true, 1, IMP_DIM_MAX, &moe.d_ff, NULL))) return rc;
        if ((rc = ij_u64(c, "decoder_sparse_step", false, 0, IMP_ANY, &step, NULL))) return rc;
        if (step == 0) step = 1;
        json_t *mo = ij_get(c, "mlp_only_layers");
        if (mo && !json_is_array(mo)) return ij_badkey(c, "mlp_only_layers", mo, "a list of layer indices");
        if (json_array_size(mo) && (rc = ij_u64_list(c, "mlp_only_layers", 0, 0, IMP_ANY, &dense_list, &n_dense)))
            return rc;
    }
    if ((rc = ij_u64(c, "num_experts_per_tok", true, 1, moe.experts ? moe.experts : IMP_EXPERTS_MAX, &moe.top_k, NULL)))
        goto out;
    if (fam == FAM_QWEN2_MOE) {
        u64 sh = 0;
        if ((rc = ij_u64(c, "shared_expert_intermediate_size", false, 0, IMP_DIM_MAX, &sh, NULL))) goto out;
        if (sh) {
            moe.shared = 1;
            moe.shared_d_ff = sh;
            moe.shared_gate = true;
            ij_note(c, "shared_expert_intermediate_size: one shared expert of %llu, its output times "
                    "sigmoid(shared_expert_gate(x)) (shared_gate; Qwen2MoeSparseMoeBlock).", (unsigned long long)sh);
        }
    }
    for (u64 i = 0; i < L; i++) {
        bool dense = moe.experts == 0 || (i + 1) % step != 0;
        for (u64 k = 0; k < n_dense; k++) dense |= dense_list[k] == i;
        if (!dense) { f[i] = moe; g->moe = true; }
    }
    if (fam != FAM_MIXTRAL && step > 1)
        ij_note(c, "decoder_sparse_step %llu: layers i with (i+1) %% %llu == 0 are MoE, the others dense.",
                (unsigned long long)step, (unsigned long long)step);
    rc = SIM_OK;
out:
    free(dense_list);
    return rc;
}

static void emit_kind(ictx *c, const char *name, const gkind *k)
{
    ib_printf(&c->body, "  %s: {type: gqa, q_heads: %llu, kv_heads: %llu, head_dim: %llu", name,
              (unsigned long long)k->q_heads, (unsigned long long)k->kv_heads, (unsigned long long)k->head_dim);
    if (k->window) ib_printf(&c->body, ", window: %llu", (unsigned long long)k->window);
    if (k->qk_norm) ib_printf(&c->body, ", qk_norm: true");
    if (k->qkv_bias) ib_printf(&c->body, ", qkv_bias: true");
    if (k->o_bias) ib_printf(&c->body, ", o_bias: true");
    if (k->k_eq_v) ib_printf(&c->body, ", k_eq_v: true");
    if (k->v_norm) ib_printf(&c->body, ", v_norm: true");
    if (k->unit_scale) ib_printf(&c->body, ", unit_scale: true");
    if (k->rope_theta) ib_printf(&c->body, ", rope_theta: %llu", (unsigned long long)k->rope_theta);
    if (k->rope_prop) ib_printf(&c->body, ", rope_proportional: true");
    ib_printf(&c->body, ", rope_dim: %llu}\n", (unsigned long long)k->rope_dim);
}

/* Query heads must be a multiple of the KV heads (the spec's gqa check). */
static int heads_divide(ictx *c, const char *kv_key, u64 H, u64 G)
{
    if (H % G)
        return ij_badkey(c, kv_key, ij_get(c, kv_key), "a divisor of num_attention_heads = %llu", (unsigned long long)H);
    return SIM_OK;
}

/* The model's dimensions and the attention geometry every family shares:
 * width, layers, vocabulary, heads, head_dim, biases, q/k norms, RoPE. */
static int gqa_dims(ictx *c, gmodel *g)
{
    char p[128];
    int rc;
    u64 H, G, hd;
    bool has;
    gfam fam = g->fam;
    if ((rc = ij_u64(c, "hidden_size", true, 1, IMP_DIM_MAX, &g->d, NULL)) ||
        (rc = ij_u64(c, "num_hidden_layers", true, 1, IMP_LAYERS_MAX, &g->L, NULL)))
        return rc;
    if (fam == FAM_GEMMA3) {
        if ((rc = gemma3_default(c, "vocab_size", 1, IMP_VOCAB_MAX, 262208, &g->vocab)) ||
            (rc = gemma3_default(c, "num_attention_heads", 1, IMP_HEADS_MAX, 8, &H)) ||
            (rc = gemma3_default(c, "num_key_value_heads", 1, IMP_HEADS_MAX, 4, &G)) ||
            (rc = gemma3_default(c, "head_dim", 1, IMP_DIM_MAX, 256, &hd)))
            return rc;
    } else {
        if ((rc = ij_u64(c, "vocab_size", true, 1, IMP_VOCAB_MAX, &g->vocab, NULL)) ||
            (rc = ij_u64(c, "num_attention_heads", true, 1, IMP_HEADS_MAX, &H, NULL)))
            return rc;
        if ((rc = ij_u64(c, "num_key_value_heads", false, 1, IMP_HEADS_MAX, &G, &has))) return rc;
        if (!has) {
            G = H;
            ij_note(c, "num_key_value_heads: absent; equal to num_attention_heads = %llu (transformers default).",
                    (unsigned long long)H);
        }
        if ((rc = ij_u64(c, "head_dim", false, 1, IMP_DIM_MAX, &hd, &has))) return rc;
        if (!has) {
            if (g->d % H)
                return sim_fail(c->e, SIM_EINVAL, "%s: %s: absent, and hidden_size %llu is not a multiple of "
                                "num_attention_heads %llu to derive it from", c->src, ij_path(c, "head_dim", p, sizeof p),
                                (unsigned long long)g->d, (unsigned long long)H);
            hd = g->d / H;
            ij_note(c, "head_dim: absent in config.json; derived as hidden_size / num_attention_heads = %llu / %llu = %llu.",
                    (unsigned long long)g->d, (unsigned long long)H, (unsigned long long)hd);
        }
    }
    if ((rc = heads_divide(c, "num_key_value_heads", H, G))) return rc;
    if ((rc = ij_bool(c, "tie_word_embeddings", g->gemma, &g->tie))) return rc;
    g->full = (gkind){.q_heads = H, .kv_heads = G, .head_dim = hd};
    /* Biases as the released attention classes create them: Qwen2(-MoE)
     * q/k/v always, o never (Qwen2Attention); Mistral and Mixtral none
     * (MistralAttention: bias=False); the others q, k, v and o with
     * attention_bias (LlamaAttention, Qwen3Attention, Gemma2/3Attention). */
    bool bias = false, mlp_bias = false;
    if ((rc = ij_bool(c, "attention_bias", false, &bias)) || (rc = ij_bool(c, "mlp_bias", false, &mlp_bias))) return rc;
    if (fam == FAM_MISTRAL || fam == FAM_MIXTRAL) {
        if (bias) ij_warn(c, "'%sattention_bias' = true: transformers' MistralAttention has no biases; none counted", c->pre);
        bias = false;
    }
    g->full.qkv_bias = bias || fam == FAM_QWEN2 || fam == FAM_QWEN2_MOE;
    g->full.o_bias = bias && fam != FAM_QWEN2 && fam != FAM_QWEN2_MOE;
    if (bias && g->full.o_bias)
        ij_note(c, "attention_bias: biases on q, k, v and o_proj (qkv_bias, o_bias).");
    /* LlamaMLP: gate, up and down with bias=mlp_bias; kvsim's dense FFN has
     * no biases, so such a config is refused rather than undercounted. */
    if (mlp_bias)
        return ij_badkey(c, "mlp_bias", ij_get(c, "mlp_bias"), "false (MLP biases, %s in LlamaMLP's gate_proj, up_proj "
                         "and down_proj, are not expressible in a kvsim spec)", "2 x intermediate_size + hidden_size per layer");
    g->full.qk_norm = fam == FAM_QWEN3 || fam == FAM_QWEN3_MOE || fam == FAM_GEMMA3 || fam == FAM_GEMMA3N || fam == FAM_GEMMA4;
    if (fam == FAM_QWEN3 || fam == FAM_QWEN3_MOE) {
        /* Qwen3-Coder-480B-A35B's config carries qkv_bias, use_qk_norm and
         * shared_expert_intermediate_size, which transformers' Qwen3(Moe)
         * classes do not read: their attention always has q/k norms and
         * attention_bias biases, their MoE no shared expert. The values that
         * say so are accepted; others are warned about and not applied. */
        json_t *qb = ij_get(c, "qkv_bias"), *qn = ij_get(c, "use_qk_norm"), *se = ij_get(c, "shared_expert_intermediate_size");
        if (qb && !json_is_false(qb))
            ij_warn(c, "'%sqkv_bias' is not read by transformers' Qwen3 attention (biases follow attention_bias); ignored", c->pre);
        if (qn && !json_is_true(qn))
            ij_warn(c, "'%suse_qk_norm' is not read by transformers' Qwen3 attention (q/k norms always); ignored", c->pre);
        if (se && !(json_is_integer(se) && json_integer_value(se) == 0))
            ij_warn(c, "'%sshared_expert_intermediate_size' is not read by transformers' Qwen3 MoE (no shared expert); "
                    "ignored", c->pre);
    }
    double prf = 1.0;
    json_t *pr = ij_get(c, "partial_rotary_factor");
    if (pr && (rc = rope_fraction(c, pr, ij_path(c, "partial_rotary_factor", p, sizeof p), &prf))) return rc;
    g->full.rope_dim = (u64)(hd * prf);
    g->sliding = g->full;
    return SIM_OK;
}

/* Gemma 4's full layers: global_head_dim, their own RoPE fraction, and with
 * attention_k_eq_v no v_proj (V = K) and num_global_key_value_heads
 * (transformers Gemma4). */
static int gemma4_full(ictx *c, gmodel *g)
{
    double fs, ff;
    u64 ghd, gkv, hd = g->full.head_dim;
    bool kv_eq, has;
    int rc;
    if ((rc = rope_factor(c, "sliding_attention", 1.0, &fs)) || (rc = rope_factor(c, "full_attention", 0.25, &ff)) ||
        (rc = ij_u64(c, "global_head_dim", true, 1, IMP_DIM_MAX, &ghd, NULL)) ||
        (rc = ij_bool(c, "attention_k_eq_v", false, &kv_eq)) ||
        (rc = ij_u64(c, "num_global_key_value_heads", false, 1, IMP_HEADS_MAX, &gkv, &has)))
        return rc;
    g->full.head_dim = ghd;
    g->full.k_eq_v = kv_eq;
    if (kv_eq && has) {
        if ((rc = heads_divide(c, "num_global_key_value_heads", g->full.q_heads, gkv))) return rc;
        g->full.kv_heads = gkv;
    }
    g->sliding.rope_dim = (u64)(hd * fs);
    g->full.rope_dim = (u64)(ghd * ff);
    /* transformers Gemma4TextAttention: scaling 1.0 (q and k are RMS-normed),
     * v_norm without a weight; the full layers' entry of rope_parameters has
     * its own base and the "proportional" type. */
    g->full.v_norm = g->sliding.v_norm = g->full.unit_scale = g->sliding.unit_scale = true;
    json_t *rp = ij_get(c, "rope_parameters"), *fe = rp && json_is_object(rp) ? json_object_get(rp, "full_attention") : NULL;
    json_t *ft = fe ? json_object_get(fe, "rope_theta") : NULL, *fy = fe ? json_object_get(fe, "rope_type") : NULL;
    double th = 1e6;
    char what[96];
    snprintf(what, sizeof what, "%srope_parameters.full_attention.rope_theta", c->pre);
    if (ft && (rc = ij_real(c, ft, what, &th))) return rc;
    if (!(th >= 1 && th <= 1e12)) return ij_bad(c, what, ft, "a RoPE base in [1, 1e12]");
    g->full.rope_theta = (u64)th;
    g->full.rope_prop = !fy || (json_is_string(fy) && !strcmp(json_string_value(fy), "proportional"));
    ij_note(c, "full layers: global_head_dim %llu, RoPE on %llu dims (partial_rotary_factor %g); sliding layers: "
            "head_dim %llu, RoPE on %llu.", (unsigned long long)ghd, (unsigned long long)g->full.rope_dim, ff,
            (unsigned long long)hd, (unsigned long long)g->sliding.rope_dim);
    return SIM_OK;
}

/* The sliding window of the sliding layers (and Gemma 2's repeat of it). */
static int gqa_window(ictx *c, gmodel *g)
{
    int rc;
    if (g->any_sliding) {
        if (g->fam == FAM_GEMMA3) rc = gemma3_default(c, "sliding_window", 1, IMP_TOK_MAX, 4096, &g->sliding.window);
        else rc = ij_u64(c, "sliding_window", true, 1, IMP_TOK_MAX, &g->sliding.window, NULL);
        if (rc) return rc;
    }
    if (g->fam == FAM_GEMMA2) {
        /* Early Gemma 2 configs repeat the window as sliding_window_size. */
        u64 sws;
        bool has_sws;
        if ((rc = ij_u64(c, "sliding_window_size", false, 0, IMP_ANY, &sws, &has_sws))) return rc;
        if (has_sws && sws != g->sliding.window)
            ij_warn(c, "'sliding_window_size' = %llu differs from sliding_window = %llu; sliding_window used",
                    (unsigned long long)sws, (unsigned long long)g->sliding.window);
    }
    return SIM_OK;
}

/* KV sharing and per-layer embeddings (Gemma 3n, Gemma 4); AltUp and
 * LAuReL (Gemma 3n, not modelled). */
static int gemma_extras(ictx *c, gmodel *g)
{
    int rc;
    bool has;
    u64 L = g->L;
    g->ple_vocab = g->vocab;
    if (g->fam != FAM_GEMMA3N && g->fam != FAM_GEMMA4) return SIM_OK;
    if ((rc = ij_u64(c, "num_kv_shared_layers", false, 0, L - 1, &g->shared_kv, NULL)) ||
        (rc = ij_u64(c, "hidden_size_per_layer_input", false, 0, 1u << 16, &g->ple, NULL)) ||
        (rc = ij_u64(c, "vocab_size_per_layer_input", false, 1, IMP_VOCAB_MAX, &g->ple_vocab, &has)))
        return rc;
    if (!has) g->ple_vocab = g->vocab;
    /* Each shared layer reuses the cache of the last non-shared layer of its
     * kind (the spec's kv_sharing rule): there must be one. */
    for (u64 i = L - g->shared_kv; i < L; i++) {
        bool src = false;
        for (u64 j = 0; j < L - g->shared_kv && !src; j++) src = g->kind[j] == g->kind[i];
        if (!src)
            return ij_badkey(c, "num_kv_shared_layers", ij_get(c, "num_kv_shared_layers"), "small enough that every "
                             "shared layer has an earlier %s layer to share with (layer %llu has none)",
                             g->kind[i] == K_SLIDING ? "sliding" : "full", (unsigned long long)i);
    }
    if (g->fam == FAM_GEMMA3N) {
        u64 altup = 1, laurel = 0;
        if ((rc = ij_u64(c, "altup_num_inputs", false, 0, IMP_ANY, &altup, NULL)) ||
            (rc = ij_u64(c, "laurel_rank", false, 0, IMP_ANY, &laurel, NULL)))
            return rc;
        if (altup > 1)
            ij_warn(c, "'%saltup_num_inputs' = %llu: AltUp (parallel residual streams with per-layer predict/correct "
                    "projections) is not modelled; one residual stream is counted", c->pre, (unsigned long long)altup);
        if (laurel)
            ij_warn(c, "'%slaurel_rank' = %llu: LAuReL (a rank-%llu residual branch per layer) is not modelled",
                    c->pre, (unsigned long long)laurel, (unsigned long long)laurel);
        ij_note(c, "activation_sparsity_pattern: not modelled (the MLPs are counted dense).");
    }
    return SIM_OK;
}

/* The modules of the family by weight class (for quantization_config). */
static void gqa_modules(const gmodel *g, imodules *m)
{
    static const char *const dense[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", NULL};
    static const char *const ple[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "per_layer_input_gate",
                                      "per_layer_projection", NULL};
    static const char *const attn[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", NULL};
    static const char *const shared[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                         "mlp.shared_expert.gate_proj", "mlp.shared_expert.up_proj",
                                         "mlp.shared_expert.down_proj", NULL};
    static const char *const mats[] = {"gate_proj", "up_proj", "down_proj", NULL};
    static const char *const w123[] = {"w1", "w2", "w3", NULL};
    u64 E = 0;
    for (u64 i = 0; i < g->L; i++) E = g->ffn[i].experts > E ? g->ffn[i].experts : E;
    *m = (imodules){.linear = dense, .layers = g->L, .experts = E};
    if (g->fam == FAM_GEMMA3N || g->fam == FAM_GEMMA4) m->linear = ple;
    if (g->fam == FAM_MIXTRAL) {
        *m = (imodules){attn, "block_sparse_moe.experts.%llu.", w123, "block_sparse_moe.gate", true, g->L, E};
    } else if (g->fam == FAM_QWEN2_MOE || g->fam == FAM_QWEN3_MOE) {
        *m = (imodules){g->fam == FAM_QWEN2_MOE ? shared : attn, "mlp.experts.%llu.", mats, "mlp.gate", true, g->L, E};
    }
    if (!g->moe) m->expert = NULL, m->router = NULL;
}

/* The MLP activation (hidden_activation / hidden_act: gelu* -> gelu_tanh)
 * and Gemma's final_logit_softcapping, for the reference kernels. */
static int gqa_act(ictx *c, gmodel *g)
{
    char p[128];
    int rc;
    json_t *act = ij_get(c, "hidden_activation");
    if (!act) act = ij_get(c, "hidden_act");
    if (act && json_is_string(act) && !strncmp(json_string_value(act), "gelu", 4)) {
        for (u64 i = 0; i < g->L; i++) g->ffn[i].gelu = true;
        if (strcmp(json_string_value(act), "gelu_pytorch_tanh"))
            ij_note(c, "activation '%s' computed as GELU with the tanh approximation.", json_string_value(act));
    }
    json_t *cv = g->gemma ? ij_get(c, "final_logit_softcapping") : NULL;
    if (cv && (rc = ij_real(c, cv, ij_path(c, "final_logit_softcapping", p, sizeof p), &g->softcap))) return rc;
    if (!(g->softcap >= 0 && g->softcap <= 1e6)) return ij_badkey(c, "final_logit_softcapping", cv, "a number in [0, 1e6]");
    return SIM_OK;
}

/* The spec. */
static void gqa_emit(ictx *c, const gmodel *g)
{
    ib_printf(&c->body, "d_model: %llu\nn_layers: %llu\nvocab: %llu\ntie_embeddings: %s\n", (unsigned long long)g->d,
              (unsigned long long)g->L, (unsigned long long)g->vocab, g->tie ? "true" : "false");
    if (g->ple)
        ib_printf(&c->body, "ple: {dim: %llu, vocab: %llu}\n", (unsigned long long)g->ple, (unsigned long long)g->ple_vocab);
    if (g->gemma) {   /* Gemma's scaled word embeddings and final logit soft-capping */
        ib_printf(&c->body, "embed_scale: true\n");
        if (g->softcap > 0) ib_printf(&c->body, "logit_softcap: %.12g\n", g->softcap);
    }
    emit_weights(c, &g->q, g->wdt, g->moe);
    u64 common = ffn_majority(g->ffn, g->L);
    ib_printf(&c->body, "ffn: ");
    emit_ffn_map(&c->body, &g->ffn[common]);
    ib_printf(&c->body, "\n");
    if (g->gemma)   /* Gemma's sandwich norms (pre and post, attention and MLP); Gemma 4's layer_scalar */
        ib_printf(&c->body, "residual: {type: plain, post_norms: true%s}\n", g->fam == FAM_GEMMA4 ? ", layer_scalar: true" : "");
    const char *names[2] = {g->any_sliding ? "full" : "attn", "sliding"};
    ib_printf(&c->body, "layers:\n");
    if (g->any_sliding) emit_kind(c, names[K_SLIDING], &g->sliding);
    if (g->any_full) emit_kind(c, names[K_FULL], &g->full);
    emit_pattern(c, g->kind, g->L, names);
    if (g->shared_kv) ib_printf(&c->body, "kv_sharing: {shared_layers: %llu}\n", (unsigned long long)g->shared_kv);
    emit_ffn_overrides(c, g->ffn, g->L, common);
}

int import_gqa(ictx *c, gfam fam)
{
    gmodel g = {.fam = fam, .gemma = fam >= FAM_GEMMA2};
    imodules mods;
    int rc;
    if ((rc = gqa_dims(c, &g)) || (fam == FAM_GEMMA4 && (rc = gemma4_full(c, &g)))) return rc;
    g.kind = calloc(g.L, sizeof *g.kind);
    g.ffn = calloc(g.L, sizeof *g.ffn);
    if (!g.kind || !g.ffn) { rc = sim_fail(c->e, SIM_ENOMEM, "out of memory"); goto out; }
    if ((rc = layer_types(c, fam, g.L, g.kind, &g.any_sliding)) || (rc = gqa_window(c, &g)) ||
        (rc = gemma_extras(c, &g)) || (rc = ffn_layers(c, &g)) || (rc = ij_weight_dtype(c, &g.wdt)) ||
        (rc = gqa_act(c, &g)))
        goto out;
    for (u64 i = 0; i < g.L; i++) g.any_full |= g.kind[i] == K_FULL;
    gqa_modules(&g, &mods);
    if ((rc = ij_quant(c, &mods, g.wdt, false, &g.q))) goto out;
    gqa_emit(c, &g);
out:
    free(g.kind);
    free(g.ffn);
    return rc;
}
