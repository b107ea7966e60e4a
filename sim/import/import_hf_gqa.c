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
    bool qk_norm, qkv_bias, k_eq_v;
    u64 rope_theta;            /* the kind's own base (Gemma 4 full layers), 0 = the model's */
    bool rope_prop, v_norm, unit_scale;   /* Gemma 4 (transformers Gemma4TextAttention) */
} gkind;

enum { K_FULL, K_SLIDING };

/* A Gemma 3 config.json names only what differs from transformers'
 * Gemma3TextConfig; these are that class's defaults (google/gemma-3-4b-it
 * gives neither heads nor head_dim nor vocab_size). */
static int gemma3_default(ictx *c, const char *key, u64 dflt, u64 *out)
{
    bool has;
    int rc = ij_u64(c, key, false, out, &has);
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
    if (!(*out >= 0.0 && *out <= 1.0))
        return sim_fail(c->e, SIM_EINVAL, "%s: field '%s' = %g must be a fraction of the head dims, in [0, 1]",
                        c->src, what, *out);
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
            return sim_fail(c->e, SIM_EINVAL, "%s: field '%s' must be a list of num_hidden_layers = %llu strings",
                            c->src, ij_path(c, "layer_types", p, sizeof p), (unsigned long long)L);
        for (u64 i = 0; i < L; i++) {
            const char *s = json_string_value(json_array_get(lt, i));
            if (!s) return sim_fail(c->e, SIM_EINVAL, "%s: field '%s'[%llu] must be a string", c->src,
                                    ij_path(c, "layer_types", p, sizeof p), (unsigned long long)i);
            if (!strcmp(s, "sliding_attention")) kind[i] = K_SLIDING;
            else if (!strcmp(s, "full_attention")) kind[i] = K_FULL;
            else {
                kind[i] = K_FULL;
                ij_warn(c, "'%s'[%llu] = \"%s\" is not a layer type the importer knows; counted as full attention",
                        ij_path(c, "layer_types", p, sizeof p), (unsigned long long)i, s);
            }
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
            if (fam == FAM_GEMMA3 && (rc = gemma3_default(c, "sliding_window_pattern", 6, &every))) return rc;
            if (every == 0) return sim_fail(c->e, SIM_EINVAL, "%s: sliding_window_pattern must be >= 1", c->src);
            for (u64 i = 0; i < L; i++) kind[i] = (i + 1) % every ? K_SLIDING : K_FULL;
            if (fam == FAM_GEMMA4) kind[L - 1] = K_FULL;   /* transformers forces the last layer full */
            ij_note(c, "layer_types: absent; every %lluth layer full (transformers default).", (unsigned long long)every);
            break;
        case FAM_QWEN2: case FAM_QWEN2_MOE: case FAM_QWEN3: case FAM_QWEN3_MOE:
            /* transformers Qwen2/3: layers from max_window_layers on slide when use_sliding_window. */
            if ((rc = ij_bool(c, "use_sliding_window", false, &use_sw))) return rc;
            if ((rc = ij_u64(c, "max_window_layers", false, &max_window, NULL))) return rc;
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

/* Per-layer FFN widths and MoE placement. */
static int ffn_layers(ictx *c, gfam fam, u64 L, u64 shared_kv, ffn_desc *f)
{
    int rc;
    u64 d_ff = 0;
    bool is_moe_fam = fam == FAM_MIXTRAL || fam == FAM_QWEN2_MOE || fam == FAM_QWEN3_MOE;
    json_t *im = fam == FAM_GEMMA3N ? ij_get(c, "intermediate_size") : NULL;
    if (im && json_is_array(im)) {
        /* Gemma 3n gives one width per layer. */
        u64 *w, n;
        if ((rc = ij_u64_list(c, "intermediate_size", L, &w, &n))) return rc;
        for (u64 i = 0; i < L; i++) f[i] = (ffn_desc){.d_ff = w[i]};
        free(w);
    } else {
        if ((rc = ij_u64(c, "intermediate_size", true, &d_ff, NULL))) return rc;
        for (u64 i = 0; i < L; i++) f[i] = (ffn_desc){.d_ff = d_ff};
    }
    if (fam == FAM_GEMMA4) {
        bool wide, moe_block;
        if ((rc = ij_bool(c, "enable_moe_block", false, &moe_block))) return rc;
        if (moe_block) {
            /* Gemma 4 26B-A4B (Gemma4TextDecoderLayer with enable_moe_block):
             * every layer sums its dense MLP and a routed expert block; as
             * kvsim's moe with the MLP as one shared expert (same weights
             * and FLOPs). */
            ffn_desc moe = {.moe = true, .shared = 1, .shared_d_ff = d_ff};
            if ((rc = ij_u64(c, "num_experts", true, &moe.experts, NULL)) ||
                (rc = ij_u64(c, "top_k_experts", true, &moe.top_k, NULL)) ||
                (rc = ij_u64(c, "moe_intermediate_size", true, &moe.d_ff, NULL)))
                return rc;
            if (!moe.experts || !moe.top_k || moe.top_k > moe.experts || !moe.d_ff)
                return sim_fail(c->e, SIM_EINVAL, "%s: num_experts %llu, top_k_experts %llu, moe_intermediate_size %llu "
                                "do not describe an expert block", c->src, (unsigned long long)moe.experts,
                                (unsigned long long)moe.top_k, (unsigned long long)moe.d_ff);
            for (u64 i = 0; i < L; i++) f[i] = moe;
            ij_note(c, "enable_moe_block: the dense MLP (%llu) runs beside %llu experts of %llu (top %llu): modelled as "
                    "a moe with one shared expert; the router's norm and scales and the branches' extra norms "
                    "(4 d + E per layer) are not modelled.", (unsigned long long)d_ff, (unsigned long long)moe.experts,
                    (unsigned long long)moe.d_ff, (unsigned long long)moe.top_k);
        } else {
            (void)ij_get(c, "num_experts");   /* null unless enable_moe_block */
            (void)ij_get(c, "top_k_experts");
            (void)ij_get(c, "moe_intermediate_size");
        }
        if ((rc = ij_bool(c, "use_double_wide_mlp", false, &wide))) return rc;
        if (wide && shared_kv) {
            for (u64 i = L - shared_kv; i < L; i++) f[i].d_ff *= 2;
            ij_note(c, "use_double_wide_mlp: the %llu KV-shared layers (%llu-%llu) have 2 x intermediate_size.",
                    (unsigned long long)shared_kv, (unsigned long long)(L - shared_kv), (unsigned long long)(L - 1));
        }
    }
    if (!is_moe_fam) return SIM_OK;

    ffn_desc moe = {.moe = true};
    u64 step = 1;
    u64 *dense_list = NULL, n_dense = 0;
    if (fam == FAM_MIXTRAL) {
        if ((rc = ij_u64(c, "num_local_experts", true, &moe.experts, NULL))) return rc;
        moe.d_ff = d_ff;   /* Mixtral's intermediate_size is the expert width */
    } else {
        if ((rc = ij_u64(c, "num_experts", true, &moe.experts, NULL))) return rc;
        if ((rc = ij_u64(c, "moe_intermediate_size", true, &moe.d_ff, NULL))) return rc;
        if ((rc = ij_u64(c, "decoder_sparse_step", false, &step, NULL))) return rc;
        if (step == 0) step = 1;
        if (ij_get(c, "mlp_only_layers") && json_array_size(ij_get(c, "mlp_only_layers")) &&
            (rc = ij_u64_list(c, "mlp_only_layers", 0, &dense_list, &n_dense))) return rc;
    }
    if ((rc = ij_u64(c, "num_experts_per_tok", true, &moe.top_k, NULL))) { free(dense_list); return rc; }
    if (fam == FAM_QWEN2_MOE) {
        u64 sh = 0;
        if ((rc = ij_u64(c, "shared_expert_intermediate_size", false, &sh, NULL))) { free(dense_list); return rc; }
        if (sh) {
            moe.shared = 1;
            moe.shared_d_ff = sh;
            ij_note(c, "shared_expert_intermediate_size: one shared expert of %llu; its sigmoid gate "
                    "(hidden_size weights per layer) is not modelled.", (unsigned long long)sh);
        }
    }
    for (u64 i = 0; i < L; i++) {
        bool dense = moe.experts == 0 || (i + 1) % step != 0;
        for (u64 k = 0; k < n_dense; k++) dense |= dense_list[k] == i;
        if (!dense) f[i] = moe;
    }
    free(dense_list);
    if (fam != FAM_MIXTRAL && step > 1)
        ij_note(c, "decoder_sparse_step %llu: layers i with (i+1) %% %llu == 0 are MoE, the others dense.",
                (unsigned long long)step, (unsigned long long)step);
    return SIM_OK;
}

static void emit_kind(ictx *c, const char *name, const gkind *k)
{
    ib_printf(&c->body, "  %s: {type: gqa, q_heads: %llu, kv_heads: %llu, head_dim: %llu", name,
              (unsigned long long)k->q_heads, (unsigned long long)k->kv_heads, (unsigned long long)k->head_dim);
    if (k->window) ib_printf(&c->body, ", window: %llu", (unsigned long long)k->window);
    if (k->qk_norm) ib_printf(&c->body, ", qk_norm: true");
    if (k->qkv_bias) ib_printf(&c->body, ", qkv_bias: true");
    if (k->k_eq_v) ib_printf(&c->body, ", k_eq_v: true");
    if (k->v_norm) ib_printf(&c->body, ", v_norm: true");
    if (k->unit_scale) ib_printf(&c->body, ", unit_scale: true");
    if (k->rope_theta) ib_printf(&c->body, ", rope_theta: %llu", (unsigned long long)k->rope_theta);
    if (k->rope_prop) ib_printf(&c->body, ", rope_proportional: true");
    ib_printf(&c->body, ", rope_dim: %llu}\n", (unsigned long long)k->rope_dim);
}

int import_gqa(ictx *c, gfam fam)
{
    char p[128];
    int rc;
    u64 d, L, vocab, H, G, hd;
    bool has, gemma = fam >= FAM_GEMMA2, tie;
    int *kind = NULL;
    ffn_desc *ffn = NULL;

    if ((rc = ij_u64(c, "hidden_size", true, &d, NULL)) || (rc = ij_u64(c, "num_hidden_layers", true, &L, NULL)))
        return rc;
    if (L == 0 || L > 4096)
        return sim_fail(c->e, SIM_EINVAL, "%s: field '%s' = %llu is out of range [1, 4096]", c->src,
                        ij_path(c, "num_hidden_layers", p, sizeof p), (unsigned long long)L);
    if (fam == FAM_GEMMA3) {
        if ((rc = gemma3_default(c, "vocab_size", 262208, &vocab)) || (rc = gemma3_default(c, "num_attention_heads", 8, &H)) ||
            (rc = gemma3_default(c, "num_key_value_heads", 4, &G)) || (rc = gemma3_default(c, "head_dim", 256, &hd)))
            return rc;
    } else {
        if ((rc = ij_u64(c, "vocab_size", true, &vocab, NULL)) || (rc = ij_u64(c, "num_attention_heads", true, &H, NULL)))
            return rc;
        if ((rc = ij_u64(c, "num_key_value_heads", false, &G, &has))) return rc;
        if (!has) {
            G = H;
            ij_note(c, "num_key_value_heads: absent; equal to num_attention_heads = %llu (transformers default).",
                    (unsigned long long)H);
        }
        if ((rc = ij_u64(c, "head_dim", false, &hd, &has))) return rc;
        if (!has) {
            if (!H || d % H)
                return sim_fail(c->e, SIM_EINVAL, "%s: field '%s' is absent and hidden_size %llu is not a multiple "
                                "of num_attention_heads %llu", c->src, ij_path(c, "head_dim", p, sizeof p),
                                (unsigned long long)d, (unsigned long long)H);
            hd = d / H;
            ij_note(c, "head_dim: absent in config.json; derived as hidden_size / num_attention_heads = %llu / %llu = %llu.",
                    (unsigned long long)d, (unsigned long long)H, (unsigned long long)hd);
        }
    }
    if ((rc = ij_bool(c, "tie_word_embeddings", gemma, &tie))) return rc;

    /* Attention kinds. */
    gkind full = {.q_heads = H, .kv_heads = G, .head_dim = hd};
    bool bias = false;
    if ((rc = ij_bool(c, "attention_bias", false, &bias))) return rc;
    full.qkv_bias = bias || fam == FAM_QWEN2 || fam == FAM_QWEN2_MOE;   /* Qwen2: q/k/v biases always */
    full.qk_norm = fam == FAM_QWEN3 || fam == FAM_QWEN3_MOE || fam == FAM_GEMMA3 || fam == FAM_GEMMA3N || fam == FAM_GEMMA4;
    double prf = 1.0;
    json_t *pr = ij_get(c, "partial_rotary_factor");
    if (pr && (rc = rope_fraction(c, pr, ij_path(c, "partial_rotary_factor", p, sizeof p), &prf))) return rc;
    full.rope_dim = (u64)(hd * prf);
    gkind sliding = full;
    if (fam == FAM_GEMMA4) {
        double fs, ff;
        u64 ghd, gkv;
        bool kv_eq;
        if ((rc = rope_factor(c, "sliding_attention", 1.0, &fs)) || (rc = rope_factor(c, "full_attention", 0.25, &ff)))
            return rc;
        if ((rc = ij_u64(c, "global_head_dim", true, &ghd, NULL))) return rc;
        if ((rc = ij_bool(c, "attention_k_eq_v", false, &kv_eq))) return rc;
        if ((rc = ij_u64(c, "num_global_key_value_heads", false, &gkv, &has))) return rc;
        /* transformers Gemma4: full layers use global_head_dim; with
         * attention_k_eq_v they drop v_proj (V = K) and use
         * num_global_key_value_heads. */
        full.head_dim = ghd;
        full.k_eq_v = kv_eq;
        if (kv_eq && has) full.kv_heads = gkv;
        sliding.rope_dim = (u64)(hd * fs);
        full.rope_dim = (u64)(ghd * ff);
        /* transformers Gemma4TextAttention: scaling 1.0 (q and k are
         * RMS-normed), v_norm without a weight; the full layers' entry of
         * rope_parameters has its own base and the "proportional" type. */
        full.v_norm = sliding.v_norm = full.unit_scale = sliding.unit_scale = true;
        json_t *rp = ij_get(c, "rope_parameters"), *fe = rp ? json_object_get(rp, "full_attention") : NULL;
        json_t *ft = fe ? json_object_get(fe, "rope_theta") : NULL, *fy = fe ? json_object_get(fe, "rope_type") : NULL;
        double th = 1e6;
        char what[96];
        snprintf(what, sizeof what, "%srope_parameters.full_attention.rope_theta", c->pre);
        if (ft && (rc = ij_real(c, ft, what, &th))) return rc;
        if (!(th >= 1 && th <= 1e12)) return sim_fail(c->e, SIM_EINVAL, "%s: field '%s' = %g is outside [1, 1e12]", c->src, what, th);
        full.rope_theta = (u64)th;
        full.rope_prop = !fy || (json_is_string(fy) && !strcmp(json_string_value(fy), "proportional"));
        ij_note(c, "full layers: global_head_dim %llu, RoPE on %llu dims (partial_rotary_factor %g); sliding layers: "
                "head_dim %llu, RoPE on %llu.", (unsigned long long)ghd, (unsigned long long)full.rope_dim, ff,
                (unsigned long long)hd, (unsigned long long)sliding.rope_dim);
    }
    kind = calloc(L, sizeof *kind);
    ffn = calloc(L, sizeof *ffn);
    if (!kind || !ffn) { rc = sim_fail(c->e, SIM_ENOMEM, "out of memory"); goto out; }
    bool any_sliding;
    if ((rc = layer_types(c, fam, L, kind, &any_sliding))) goto out;
    if (any_sliding) {
        if (fam == FAM_GEMMA3) {
            if ((rc = gemma3_default(c, "sliding_window", 4096, &sliding.window))) goto out;
        } else if ((rc = ij_u64(c, "sliding_window", true, &sliding.window, NULL))) {
            goto out;
        }
        if (!sliding.window) {
            rc = sim_fail(c->e, SIM_EINVAL, "%s: field '%s' must be >= 1", c->src, ij_path(c, "sliding_window", p, sizeof p));
            goto out;
        }
    }

    if (fam == FAM_GEMMA2) {
        /* Early Gemma 2 configs repeat the window as sliding_window_size. */
        u64 sws;
        bool has_sws;
        if ((rc = ij_u64(c, "sliding_window_size", false, &sws, &has_sws))) goto out;
        if (has_sws && sws != sliding.window)
            ij_warn(c, "'sliding_window_size' = %llu differs from sliding_window = %llu; sliding_window used",
                    (unsigned long long)sws, (unsigned long long)sliding.window);
    }
    /* KV sharing and per-layer embeddings (Gemma 3n, Gemma 4). */
    u64 shared_kv = 0, ple = 0, ple_vocab = vocab;
    if (fam == FAM_GEMMA3N || fam == FAM_GEMMA4) {
        if ((rc = ij_u64(c, "num_kv_shared_layers", false, &shared_kv, NULL)) ||
            (rc = ij_u64(c, "hidden_size_per_layer_input", false, &ple, NULL)) ||
            (rc = ij_u64(c, "vocab_size_per_layer_input", false, &ple_vocab, &has))) goto out;
        if (!has) ple_vocab = vocab;
        if (shared_kv >= L) {
            rc = sim_fail(c->e, SIM_EINVAL, "%s: field '%s' = %llu must be below num_hidden_layers", c->src,
                          ij_path(c, "num_kv_shared_layers", p, sizeof p), (unsigned long long)shared_kv);
            goto out;
        }
    }
    if (fam == FAM_GEMMA3N) {
        u64 altup = 1, laurel = 0;
        if ((rc = ij_u64(c, "altup_num_inputs", false, &altup, NULL)) || (rc = ij_u64(c, "laurel_rank", false, &laurel, NULL)))
            goto out;
        if (altup > 1)
            ij_warn(c, "'%saltup_num_inputs' = %llu: AltUp (parallel residual streams with per-layer predict/correct "
                    "projections) is not modelled; one residual stream is counted", c->pre, (unsigned long long)altup);
        if (laurel)
            ij_warn(c, "'%slaurel_rank' = %llu: LAuReL (a rank-%llu residual branch per layer) is not modelled",
                    c->pre, (unsigned long long)laurel, (unsigned long long)laurel);
        ij_note(c, "activation_sparsity_pattern: not modelled (the MLPs are counted dense).");
    }
    if ((rc = ffn_layers(c, fam, L, shared_kv, ffn))) goto out;
    json_t *act = ij_get(c, "hidden_activation");
    if (!act) act = ij_get(c, "hidden_act");
    if (act && json_is_string(act) && !strncmp(json_string_value(act), "gelu", 4)) {
        for (u64 i = 0; i < L; i++) ffn[i].gelu = true;
        if (strcmp(json_string_value(act), "gelu_pytorch_tanh"))
            ij_note(c, "activation '%s' computed as GELU with the tanh approximation.", json_string_value(act));
    }
    const char *wdt;
    if ((rc = ij_weight_dtype(c, &wdt))) goto out;

    /* The spec. */
    ib_printf(&c->body, "d_model: %llu\nn_layers: %llu\nvocab: %llu\ntie_embeddings: %s\n", (unsigned long long)d,
              (unsigned long long)L, (unsigned long long)vocab, tie ? "true" : "false");
    if (ple) ib_printf(&c->body, "ple: {dim: %llu, vocab: %llu}\n", (unsigned long long)ple, (unsigned long long)ple_vocab);
    if (gemma) {   /* Gemma's scaled word embeddings and final logit soft-capping */
        double cap = 0;
        json_t *cv = ij_get(c, "final_logit_softcapping");
        if (cv && (rc = ij_real(c, cv, ij_path(c, "final_logit_softcapping", p, sizeof p), &cap))) goto out;
        if (!(cap >= 0 && cap <= 1e6)) {
            rc = sim_fail(c->e, SIM_EINVAL, "%s: final_logit_softcapping %g is outside [0, 1e6]", c->src, cap);
            goto out;
        }
        ib_printf(&c->body, "embed_scale: true\n");
        if (cap > 0) ib_printf(&c->body, "logit_softcap: %.12g\n", cap);
    }
    ib_printf(&c->body, "kv_dtype: %s\nweights: {linear: %s}\n", wdt, wdt);
    u64 common = ffn_majority(ffn, L);
    ib_printf(&c->body, "ffn: ");
    emit_ffn_map(&c->body, &ffn[common]);
    ib_printf(&c->body, "\n");
    if (gemma)   /* Gemma's sandwich norms (pre and post, attention and MLP); Gemma 4's layer_scalar */
        ib_printf(&c->body, "residual: {type: plain, post_norms: true%s}\n", fam == FAM_GEMMA4 ? ", layer_scalar: true" : "");
    bool any_full = false;
    for (u64 i = 0; i < L; i++) any_full |= kind[i] == K_FULL;
    const char *names[2] = {any_sliding ? "full" : "attn", "sliding"};
    ib_printf(&c->body, "layers:\n");
    if (any_sliding) emit_kind(c, names[K_SLIDING], &sliding);
    if (any_full) emit_kind(c, names[K_FULL], &full);
    emit_pattern(c, kind, L, names);
    if (shared_kv) ib_printf(&c->body, "kv_sharing: {shared_layers: %llu}\n", (unsigned long long)shared_kv);
    emit_ffn_overrides(c, ffn, L, common);
    rc = SIM_OK;
out:
    free(kind);
    free(ffn);
    return rc;
}

