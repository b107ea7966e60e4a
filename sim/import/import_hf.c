/* import_hf.c - Hugging Face config.json -> spec YAML: the JSON readers, the
 * key bookkeeping (read / ignored / warned), the YAML helpers, and the
 * GQA families (llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe,
 * gemma2, gemma3, gemma3n, gemma4). The DeepSeek families are in
 * import_hf_deepseek.c. See import_hf.h. */
#include "import_hf_impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers, warnings, notes -------------------------------------------- */

void ib_printf(ibuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = true; return; }
        if (b->s && (size_t)k < room) { b->n += (size_t)k; return; }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = true; return; }
        b->s = s;
        b->cap = cap;
    }
}

void ij_warn(ictx *c, const char *fmt, ...)
{
    if (!c->w) return;
    if (c->w->n == IMPORT_MAX_WARNINGS) { c->w->dropped++; return; }
    char *m = c->w->msg[c->w->n++];
    int k = snprintf(m, sizeof c->w->msg[0], "%s: ", c->src);
    if (k < 0 || (size_t)k >= sizeof c->w->msg[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m + k, sizeof c->w->msg[0] - (size_t)k, fmt, ap);
    va_end(ap);
}

static void comment_text(const char *s, char *out, size_t len);

/* A note is a comment line of the spec; a value quoted from config.json
 * (hidden_act "gelu\n[x" was found by fuzz_import) must not end it or bring
 * bytes that are not UTF-8, so it passes through comment_text. */
void ij_note(ictx *c, const char *fmt, ...)
{
    char line[400], safe[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    comment_text(line, safe, sizeof safe);
    ib_printf(&c->notes, "# %s\n", safe);
}

/* ---- reading fields ------------------------------------------------------- */

const char *ij_path(ictx *c, const char *key, char *buf, size_t len)
{
    /* Nested configs: a key is named under text_config unless it lives
     * (only) at the top level. */
    bool in_cfg = c->cfg != c->root && (json_object_get(c->cfg, key) || !json_object_get(c->root, key));
    snprintf(buf, len, "%s%s", in_cfg ? c->pre : "", key);
    return buf;
}

static void mark_read(ictx *c, const json_t *obj, const char *key)
{
    for (int i = 0; i < c->n_read; i++)
        if (c->read_in[i] == obj && !strcmp(c->read[i], key)) return;
    if (c->n_read < IMP_MAX_READ) {
        c->read_in[c->n_read] = obj;
        c->read[c->n_read++] = key;
    }
}

json_t *ij_get(ictx *c, const char *key)
{
    json_t *v = json_object_get(c->cfg, key);
    if (v) {
        mark_read(c, c->cfg, key);
    } else if (c->cfg != c->root && (v = json_object_get(c->root, key))) {
        mark_read(c, c->root, key);
    }
    return v && !json_is_null(v) ? v : NULL;
}

/* A JSON value as short text for messages: `0`, `-3`, `1.5`, `"4096"`,
 * `[1, 2]`, `true` (long texts end in "..."). */
static void value_text(const json_t *v, char *out, size_t len)
{
    char *t = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    const char *s = v ? (t ? t : "?") : "null";
    size_t n = strlen(s);
    if (n < len) snprintf(out, len, "%s", s);
    else snprintf(out, len, "%.*s...", (int)(len - 4), s);
    free(t);
}

static int bad_va(ictx *c, const char *path, const json_t *v, const char *want, va_list ap)
{
    char w[400], val[64];
    vsnprintf(w, sizeof w, want, ap);
    value_text(v, val, sizeof val);
    return sim_fail(c->e, SIM_EINVAL, "%s: %s: must be %s, got %s", c->src, path, w, val);
}

int ij_bad(ictx *c, const char *path, const json_t *v, const char *want, ...)
{
    va_list ap;
    va_start(ap, want);
    int rc = bad_va(c, path, v, want, ap);
    va_end(ap);
    return rc;
}

int ij_badkey(ictx *c, const char *key, const json_t *v, const char *want, ...)
{
    char p[128];
    va_list ap;
    va_start(ap, want);
    int rc = bad_va(c, ij_path(c, key, p, sizeof p), v, want, ap);
    va_end(ap);
    return rc;
}

int ij_missing(ictx *c, const char *key)
{
    char p[128];
    return sim_fail(c->e, SIM_EINVAL, "%s: %s: missing (model_type %s needs it)", c->src, ij_path(c, key, p, sizeof p),
                    c->model_type);
}

/* What [lo, hi] asks for, in words. */
static void range_words(u64 lo, u64 hi, char *out, size_t len)
{
    if (lo == 1 && hi == IMP_ANY) snprintf(out, len, "a positive integer");
    else if (lo == 0 && hi == IMP_ANY) snprintf(out, len, "an integer >= 0");
    else if (lo == 1) snprintf(out, len, "a positive integer up to %llu", (unsigned long long)hi);
    else snprintf(out, len, "an integer in [%llu, %llu]", (unsigned long long)lo, (unsigned long long)hi);
}

int ij_int_value(ictx *c, const char *path, const json_t *v, u64 lo, u64 hi, u64 *out)
{
    char w[80];
    range_words(lo, hi, w, sizeof w);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (u64)json_integer_value(v) < lo ||
        (u64)json_integer_value(v) > hi)
        return ij_bad(c, path, v, "%s", w);
    *out = (u64)json_integer_value(v);
    return SIM_OK;
}

int ij_u64(ictx *c, const char *key, bool required, u64 lo, u64 hi, u64 *out, bool *has)
{
    char p[128];
    json_t *v = ij_get(c, key);
    if (has) *has = v != NULL;
    if (!v) return required ? ij_missing(c, key) : SIM_OK;
    return ij_int_value(c, ij_path(c, key, p, sizeof p), v, lo, hi, out);
}

int ij_bool(ictx *c, const char *key, bool dflt, bool *out)
{
    json_t *v = ij_get(c, key);
    *out = dflt;
    if (!v) return SIM_OK;
    if (!json_is_boolean(v)) return ij_badkey(c, key, v, "true or false");
    *out = json_is_true(v);
    return SIM_OK;
}

int ij_real(ictx *c, const json_t *v, const char *what, double *out)
{
    if (!json_is_number(v)) return ij_bad(c, what, v, "a number");
    *out = json_number_value(v);
    return SIM_OK;
}

int ij_u64_list(ictx *c, const char *key, u64 n, u64 lo, u64 hi, u64 **out, u64 *len)
{
    char p[128], q[160];
    json_t *v = ij_get(c, key);
    *out = NULL;
    *len = 0;
    if (!v) return ij_missing(c, key);
    if (!json_is_array(v) || json_array_size(v) == 0 || (n && json_array_size(v) != n)) {
        if (n) return ij_badkey(c, key, v, "a list of %llu integers", (unsigned long long)n);
        return ij_badkey(c, key, v, "a non-empty list of integers");
    }
    size_t k = json_array_size(v);
    u64 *a = malloc(k * sizeof *a);
    if (!a) return sim_fail(c->e, SIM_ENOMEM, "out of memory");
    for (size_t i = 0; i < k; i++) {
        snprintf(q, sizeof q, "%s[%zu]", ij_path(c, key, p, sizeof p), i);
        int rc = ij_int_value(c, q, json_array_get(v, i), lo, hi, &a[i]);
        if (rc) { free(a); return rc; }
    }
    *out = a;
    *len = k;
    return SIM_OK;
}

int ij_weight_dtype(ictx *c, const char **out)
{
    static const char *const map[][2] = {
        {"bfloat16", "bf16"}, {"float16", "fp16"}, {"float32", "fp32"}, {"float", "fp32"}, {"half", "fp16"}};
    const char *key = "torch_dtype";
    json_t *v = ij_get(c, "torch_dtype");
    json_t *v2 = ij_get(c, "dtype");    /* newer transformers write `dtype` */
    if (!v) { v = v2; key = "dtype"; }
    *out = "bf16";
    if (!v) {
        ij_note(c, "torch_dtype: absent; weights and KV cache assumed bf16.");
        return SIM_OK;
    }
    for (size_t i = 0; json_is_string(v) && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(json_string_value(v), map[i][0])) { *out = map[i][1]; return SIM_OK; }
    return ij_badkey(c, key, v, "\"bfloat16\", \"float16\" or \"float32\"");
}

/* ---- keys not read -------------------------------------------------------- */

/* Known keys that do not change any figure kvsim computes (RoPE bases and
 * scaling, norms' epsilon, token ids, training-only and routing-policy
 * knobs, encoders of multimodal wrappers). */
static const char *const ignored_keys[] = {
    "_kvsim_source", "_name_or_path", "architectures", "auto_map", "transformers_version", "model_type",
    "bos_token_id", "eos_token_id", "pad_token_id", "eos_token_ids", "unk_token_id",
    "rope_theta", "rope_scaling", "rope_parameters", "rope_local_base_freq", "compress_rope_theta", "rope_type",
    "max_position_embeddings", "original_max_position_embeddings", "rms_norm_eps", "layer_norm_eps",
    "layer_norm_epsilon", "initializer_range", "use_cache", "attention_dropout", "hidden_dropout",
    "hidden_act", "hidden_activation", "pretraining_tp", "query_pre_attn_scalar", "attn_logit_softcapping",
    "final_logit_softcapping", "cache_implementation", "router_aux_loss_coef", "output_router_logits",
    "norm_topk_prob", "routed_scaling_factor", "scoring_func", "topk_method", "n_group", "topk_group",
    "aux_loss_alpha", "seq_aux", "ep_size", "swiglu_limit", "hc_eps", "num_nextn_predict_layers",
    "router_jitter_noise", "is_decoder", "tokenizer_class", "vision_config", "audio_config",
    "mm_tokens_per_image", "boi_token_index", "eoi_token_index", "image_token_index", "boi_token_id",
    "eoi_token_id", "image_token_id", "audio_token_id", "video_token_id", "boa_token_id", "eoa_token_id",
    "vision_soft_tokens_per_image", "audio_soft_tokens_per_image", "use_bidirectional_attention",
    "altup_coef_clip", "altup_active_idx", "altup_correct_scale", "altup_lr_multiplier",
    "activation_sparsity_pattern", "sliding_window_pattern", "_sliding_window_pattern", "text_config",
    "torch_dtype", "dtype", "tie_word_embeddings", "use_sliding_window", "max_window_layers",
    "sliding_window", "moe_router_dtype", "id2label", "label2id",
    "use_mrope", /* Qwen2: multimodal RoPE positions; no cost */ NULL};

/* Keys that could change cost but that no family here uses: the warning
 * says why they matter (they are reported only when they hold a value). */
static const char *const cost_keys[][2] = {
    {"attention_chunk_size", "chunked local attention (Llama 4) is not modelled; layers counted as global"},
    {"linear_attn_config", "linear-attention layers are not modelled"},
    {"kv_lora_rank", "an MLA field on a non-MLA family; attention counted as GQA"},
    {"q_lora_rank", "a low-rank query field this family does not use"},
    {"qk_nope_head_dim", "an MLA field on a non-MLA family"},
    {"qk_rope_head_dim", "an MLA field on a non-MLA family"},
    {"v_head_dim", "a separate value head dim this family does not use"},
    {"index_n_heads", "an indexer field on a family without an indexer (not modelled)"},
    {"index_head_dim", "an indexer field on a family without an indexer (not modelled)"},
    {"index_topk", "an indexer field on a family without an indexer (not modelled)"},
    {"num_experts", "an MoE field on a dense family (not modelled)"},
    {"num_local_experts", "an MoE field on a dense family (not modelled)"},
    {"n_routed_experts", "an MoE field on a dense family (not modelled)"},
    {"moe_intermediate_size", "an MoE field on a dense family (not modelled)"},
    {"altup_num_inputs", "AltUp (parallel residual streams with predict/correct) is not modelled"},
    {"laurel_rank", "LAuReL (a low-rank residual branch) is not modelled"},
    {"layer_types", "per-layer attention types this family does not read"},
    {"compress_ratios", "compressed attention fields on a family without them"},
    {"num_kv_shared_layers", "cross-layer KV sharing is not read for this family"},
    {"hidden_size_per_layer_input", "per-layer embeddings are not read for this family"},
    {"vocab_size_per_layer_input", "per-layer embeddings are not read for this family"},
    {"expert_dtype", "an expert storage dtype this family does not read"},
};

/* Report every key of obj that was not read and is not on the ignore list. */
static void warn_unread(ictx *c, const json_t *obj, const char *pre)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool seen = false;
        for (int i = 0; i < c->n_read && !seen; i++) seen = c->read_in[i] == obj && !strcmp(c->read[i], key);
        for (const char *const *k = ignored_keys; *k && !seen; k++) seen = !strcmp(*k, key);
        if (seen) continue;
        const char *why = NULL;
        for (size_t i = 0; i < sizeof cost_keys / sizeof cost_keys[0]; i++)
            if (!strcmp(cost_keys[i][0], key)) why = cost_keys[i][1];
        bool empty = json_is_null(v) || json_is_false(v) || (json_is_integer(v) && json_integer_value(v) == 0) ||
                     (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
        if (why && empty) continue;   /* e.g. "attention_chunk_size": null */
        if (why) ij_warn(c, "'%s%s' ignored: %s", pre, key, why);
        else ij_warn(c, "'%s%s' is not a field the importer knows for model_type %s; ignored (check whether it changes cost)",
                     pre, key, c->model_type);
    }
}

/* ---- YAML helpers --------------------------------------------------------- */

static bool ffn_eq(const ffn_desc *a, const ffn_desc *b)
{
    return a->moe == b->moe && a->d_ff == b->d_ff && a->experts == b->experts && a->top_k == b->top_k &&
           a->shared == b->shared && a->shared_d_ff == b->shared_d_ff && a->shared_gate == b->shared_gate && a->hash == b->hash &&
           a->score == b->score && a->n_group == b->n_group && a->topk_group == b->topk_group &&
           a->routed_scale == b->routed_scale && a->swiglu_limit == b->swiglu_limit &&
           a->gelu == b->gelu && a->gemma4_block == b->gemma4_block;
}

u64 ffn_majority(const ffn_desc *f, u64 n)
{
    u64 best = 0, best_n = 0;
    for (u64 i = 0; i < n; i++) {
        u64 k = 0;
        for (u64 j = 0; j < n; j++) k += ffn_eq(&f[i], &f[j]);
        if (k > best_n) { best = i; best_n = k; }
    }
    return best;
}

void emit_ffn_map(ibuf *b, const ffn_desc *f)
{
    if (!f->moe) {
        ib_printf(b, "{type: dense, d_ff: %llu%s}", (unsigned long long)f->d_ff, f->gelu ? ", act: gelu_tanh" : "");
        return;
    }
    ib_printf(b, "{type: moe, experts: %llu, top_k: %llu, d_ff: %llu", (unsigned long long)f->experts,
              (unsigned long long)f->top_k, (unsigned long long)f->d_ff);
    if (f->shared) ib_printf(b, ", shared: %llu", (unsigned long long)f->shared);
    if (f->shared && f->shared_d_ff && f->shared_d_ff != f->d_ff)
        ib_printf(b, ", shared_d_ff: %llu", (unsigned long long)f->shared_d_ff);
    if (f->shared_gate) ib_printf(b, ", shared_gate: true");
    if (f->hash) ib_printf(b, ", hash: true");
    if (f->score) ib_printf(b, ", score: %s", f->score);
    if (f->n_group > 1) ib_printf(b, ", n_group: %llu", (unsigned long long)f->n_group);
    if (f->n_group > 1 && f->topk_group) ib_printf(b, ", topk_group: %llu", (unsigned long long)f->topk_group);
    if (f->routed_scale > 0) ib_printf(b, ", routed_scale: %.17g", f->routed_scale);
    if (f->swiglu_limit > 0) ib_printf(b, ", swiglu_limit: %.17g", f->swiglu_limit);
    if (f->gelu) ib_printf(b, ", act: gelu_tanh");
    if (f->gemma4_block) ib_printf(b, ", gemma4_block: true");
    ib_printf(b, "}");
}

void emit_ffn_overrides(ictx *c, const ffn_desc *f, u64 n, u64 common)
{
    bool head = false;
    for (u64 i = 0; i < n;) {
        u64 j = i;
        while (j + 1 < n && ffn_eq(&f[j + 1], &f[i])) j++;
        if (!ffn_eq(&f[i], &f[common])) {
            if (!head) ib_printf(&c->body, "overrides:\n");
            head = true;
            if (i == j) ib_printf(&c->body, "  - {layers: %llu, ffn: ", (unsigned long long)i);
            else ib_printf(&c->body, "  - {layers: %llu-%llu, ffn: ", (unsigned long long)i, (unsigned long long)j);
            emit_ffn_map(&c->body, &f[i]);
            ib_printf(&c->body, "}\n");
        }
        i = j + 1;
    }
}

/* The pattern as runs: at each position take the block length p (1..12)
 * whose repetitions cover the most layers; a block is written as
 * {repeat: [...], times: r} when it repeats and covers 3 or more layers. */
void emit_pattern(ictx *c, const int *kind, u64 n, const char *const *names)
{
    bool multi = false;
    for (u64 i = 1; i < n; i++) multi |= kind[i] != kind[0];
    if (!multi) return;
    ib_printf(&c->body, "pattern: [");
    for (u64 i = 0; i < n;) {
        u64 best_p = 1, best_r = 1;
        for (u64 p = 1; p <= 12 && i + p <= n; p++) {
            u64 r = 1;
            while (i + (r + 1) * p <= n && !memcmp(&kind[i], &kind[i + r * p], p * sizeof *kind)) r++;
            if (r * p > best_r * best_p) { best_p = p; best_r = r; }
        }
        if (i) ib_printf(&c->body, ", ");
        if (best_r >= 2 && best_r * best_p >= 3) {
            ib_printf(&c->body, "{repeat: [");
            for (u64 k = 0; k < best_p; k++) ib_printf(&c->body, "%s%s", k ? ", " : "", names[kind[i + k]]);
            ib_printf(&c->body, "], times: %llu}", (unsigned long long)best_r);
            i += best_p * best_r;
        } else {
            ib_printf(&c->body, "%s", names[kind[i]]);
            i++;
        }
    }
    ib_printf(&c->body, "]\n");
}

/* ---- dispatch ------------------------------------------------------------- */

static const struct { const char *type, *text_type; int fam; } families[] = {
    {"llama", NULL, FAM_LLAMA}, {"mistral", NULL, FAM_MISTRAL}, {"mixtral", NULL, FAM_MIXTRAL},
    {"qwen2", NULL, FAM_QWEN2}, {"qwen2_moe", NULL, FAM_QWEN2_MOE}, {"qwen3", NULL, FAM_QWEN3},
    {"qwen3_moe", NULL, FAM_QWEN3_MOE}, {"gemma2", NULL, FAM_GEMMA2},
    {"gemma3", "gemma3_text", FAM_GEMMA3}, {"gemma3_text", NULL, FAM_GEMMA3},
    {"gemma3n", "gemma3n_text", FAM_GEMMA3N}, {"gemma3n_text", NULL, FAM_GEMMA3N},
    {"gemma4", "gemma4_text", FAM_GEMMA4}, {"gemma4_text", NULL, FAM_GEMMA4},
    {"deepseek_v2", NULL, -1}, {"deepseek_v3", NULL, -1}, {"deepseek_v32", NULL, -1}, {"deepseek_v4", NULL, -2},
    /* Kimi K2 (moonshotai/Kimi-K2-Instruct): its configuration_deepseek.py
     * is DeepseekV3Config under another model_type, architectures
     * DeepseekV3ForCausalLM (vLLM and SGLang load it as DeepSeek-V3). */
    {"kimi_k2", NULL, -1},
};

/* Families whose configs import would need what a kvsim spec cannot express:
 * refused by name, with the reason (a wrong spec is worse than none). */
static const char *const refused_types[][2] = {
    {"gpt_oss", "its experts carry biases and a clamped SwiGLU (transformers modeling_gpt_oss.py GptOssExperts: "
                "gate_up_proj_bias, down_proj_bias, alpha 1.702, limit 7) and its router a bias; a kvsim moe has none"},
    {"llama4", "chunked local attention (text_config.attention_chunk_size; Llama4TextAttention) and NoPE layers "
               "are not expressible"},
    {"llama4_text", "chunked local attention (attention_chunk_size; Llama4TextAttention) and NoPE layers are not "
                    "expressible"},
    {"qwen3_next", "its layer_types hold \"linear_attention\" (Gated DeltaNet) layers, which kvsim does not model"},
    {"qwen3_5", "its text_config.layer_types hold \"linear_attention\" (Gated DeltaNet) layers, which kvsim does "
                "not model"},
    {"qwen3_5_moe", "its text_config.layer_types hold \"linear_attention\" (Gated DeltaNet) layers, which kvsim "
                    "does not model"},
    {"nemotron_h", "its hybrid_override_pattern holds Mamba-2 layers, which kvsim does not model"},
};

/* The spec name: the file's base name without .json ("config" -> its directory). */
static void spec_name(const char *path, const char *model_type, char *out, size_t len)
{
    const char *b = strrchr(path, '/');
    const char *base = b ? b + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".json")) n -= 5;
    if (n == 6 && !strncmp(base, "config", 6) && b) {
        const char *d = b;
        while (d > path && d[-1] != '/') d--;
        base = d;
        n = (size_t)(b - d);
    }
    if (n == 0 || n >= len) snprintf(out, len, "%s", model_type);
    else snprintf(out, len, "%.*s", (int)n, base);
    for (char *s = out; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '_';   /* one line in every table */
}

/* Is s valid UTF-8? (libyaml refuses a document that is not, comments included.) */
static bool utf8_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int k = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (k < 0) return false;
        for (int i = 1; i <= k; i++)
            if ((p[i] & 0xc0) != 0x80) return false;
        p += k + 1;
    }
    return true;
}

/* The file name on one comment line: control characters (a newline would
 * end the comment and inject YAML keys) and, in a name that is not UTF-8,
 * bytes >= 0x80 become '?'. */
static void comment_text(const char *s, char *out, size_t len)
{
    bool utf8 = utf8_ok(s);
    size_t o = 0;
    for (; *s && o + 1 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        out[o++] = ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8) ? '?' : (char)ch;
    }
    out[o] = 0;
}

/* A YAML scalar for any text: plain when it is a simple word, else double
 * quoted with escapes. File names reach the spec this way, and '[', '*',
 * '&', '!', '|', '`', ': ' or ' #' in a plain scalar would change the YAML
 * (hostile names found "name: [a" and "name: *b"). */
static void emit_yaml_text(ibuf *b, const char *s)
{
    bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9');
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                *p == '_' || *p == '.' || *p == '+';
    if (plain) { ib_printf(b, "%s", s); return; }
    char safe[256];
    comment_text(s, safe, sizeof safe);   /* UTF-8, no control characters */
    ib_printf(b, "\"");
    for (const char *p = safe; *p; p++) {
        if (*p == '"' || *p == '\\') ib_printf(b, "\\%c", *p);
        else ib_printf(b, "%c", *p);
    }
    ib_printf(b, "\"");
}

/* A number of obj (absent or null: *has false). */
static int obj_real(ictx *c, const json_t *obj, const char *key, const char *where, double *out, bool *has)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *has = v && !json_is_null(v);
    if (!*has) return SIM_OK;
    char what[128];
    snprintf(what, sizeof what, "%s%s", where, key);
    return ij_real(c, v, what, out);
}

/* `rope:` and `norm_eps:` from rope_theta, rope_scaling (or the newer
 * rope_parameters; Gemma 4's per-layer-type form gives the model the
 * sliding layers' entry, the full kind's own base is set by import_gqa) and
 * rms_norm_eps. Appended to the spec body (the kernels use them; costs do
 * not depend on them). */
static int import_rope_eps(ictx *c)
{
    char p[128];
    int rc;
    bool has;
    json_t *rp = ij_get(c, "rope_parameters"), *sc = ij_get(c, "rope_scaling");
    if (rp && !json_is_object(rp)) rp = NULL;
    if (rp && json_is_object(json_object_get(rp, "sliding_attention"))) rp = json_object_get(rp, "sliding_attention");
    double theta = 10000;
    json_t *th = ij_get(c, "rope_theta");
    if (th) {
        if ((rc = ij_real(c, th, ij_path(c, "rope_theta", p, sizeof p), &theta))) return rc;
    } else if ((rc = obj_real(c, rp, "rope_theta", "rope_parameters.", &theta, &has))) {
        return rc;
    } else if (!has) {
        ij_note(c, "rope_theta: absent; 10000 (the original RoPE base).");
    }
    if (!(theta >= 1 && theta <= 1e12))
        return th ? ij_badkey(c, "rope_theta", th, "a RoPE base in [1, 1e12]")
                  : ij_bad(c, "rope_parameters.rope_theta", json_object_get(rp, "rope_theta"), "a RoPE base in [1, 1e12]");
    if (!sc && rp) sc = rp;   /* rope_parameters carries the scaling too */
    const char *type = "default";
    json_t *tv = sc ? json_object_get(sc, "rope_type") : NULL;
    if (sc && !tv) tv = json_object_get(sc, "type");
    if (tv && json_is_string(tv)) type = json_string_value(tv);
    ib_printf(&c->body, "rope: {theta: %.12g", theta);
    static const char *const keys[][2] = {
        {"factor", "factor"}, {"low_freq_factor", "low_freq_factor"}, {"high_freq_factor", "high_freq_factor"},
        {"original_max_position_embeddings", "original_max_position"}, {"beta_fast", "beta_fast"},
        {"beta_slow", "beta_slow"}, {"mscale", "mscale"}, {"mscale_all_dim", "mscale_all_dim"}};
    int nk = !strcmp(type, "linear") ? 1 : !strcmp(type, "llama3") ? 4 : !strcmp(type, "yarn") ? 8 : 0;
    if (nk) {
        ib_printf(&c->body, ", scaling: {type: %s", type);
        for (int k = 0; k < nk; k++) {
            double v;
            if (!strcmp(type, "yarn") && k >= 1 && k <= 2) continue;   /* llama3's keys */
            if ((rc = obj_real(c, sc, keys[k][0], "rope_scaling.", &v, &has))) return rc;
            if (has && !strcmp(keys[k][1], "original_max_position"))
                ib_printf(&c->body, ", %s: %llu", keys[k][1], (unsigned long long)(v >= 1 && v < 1e12 ? v : 1));
            else if (has)
                ib_printf(&c->body, ", %s: %.12g", keys[k][1], v);
        }
        ib_printf(&c->body, "}");
    } else if (strcmp(type, "default") && strcmp(type, "proportional")) {
        ij_warn(c, "RoPE scaling type '%s' is not modelled by the kernels (costs do not depend on it); none used", type);
    }
    ib_printf(&c->body, "}\n");
    double eps = 1e-6;
    json_t *ev = ij_get(c, "rms_norm_eps");
    if (ev && (rc = ij_real(c, ev, ij_path(c, "rms_norm_eps", p, sizeof p), &eps))) return rc;
    if (!ev) ij_note(c, "rms_norm_eps: absent; 1e-6.");
    if (!(eps >= 1e-12 && eps <= 1e-1)) return ij_badkey(c, "rms_norm_eps", ev, "a number in [1e-12, 0.1]");
    ib_printf(&c->body, "norm_eps: %.12g\n", eps);
    return SIM_OK;
}

static int import_root(ictx *c)
{
    json_t *mt = json_object_get(c->root, "model_type");
    if (!mt) return sim_fail(c->e, SIM_EINVAL, "%s: model_type: missing (which model family this is)", c->src);
    if (!json_is_string(mt))
        return ij_bad(c, "model_type", mt, "a string");
    c->model_type = json_string_value(mt);
    int fam = -100;
    const char *want_text = NULL;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (!strcmp(families[i].type, c->model_type)) { fam = families[i].fam; want_text = families[i].text_type; }
    for (size_t i = 0; fam == -100 && i < sizeof refused_types / sizeof refused_types[0]; i++)
        if (!strcmp(refused_types[i][0], c->model_type))
            return sim_fail(c->e, SIM_EINVAL, "%s: model_type: \"%s\" cannot be imported: %s", c->src, c->model_type,
                            refused_types[i][1]);
    if (fam == -100) {
        char list[400] = "";
        for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", families[i].type);
        return ij_bad(c, "model_type", mt, "a family the importer knows (%s)", list);
    }
    json_t *tc = json_object_get(c->root, "text_config");
    if (want_text && tc) {
        if (!json_is_object(tc))
            return ij_bad(c, "text_config", tc, "an object");
        c->cfg = tc;
        c->pre = "text_config.";
        json_t *tt = json_object_get(tc, "model_type");   /* not ij_get: the top level's is the wrapper's */
        if (tt) mark_read(c, tc, "model_type");
        if (tt && (!json_is_string(tt) || strcmp(json_string_value(tt), want_text)))
            ij_warn(c, "'text_config.model_type' is not \"%s\"; read as %s", want_text, want_text);
        ij_note(c, "The text decoder only (text_config); vision/audio encoders are not modelled.");
    } else if (want_text) {
        ij_note(c, "No text_config: the text fields are read from the top level.");
    }
    int rc;
    if (!strcmp(c->model_type, "kimi_k2"))
        ij_note(c, "model_type kimi_k2: DeepseekV3ForCausalLM (the repository's DeepseekV3Config); read as deepseek_v3.");
    if (fam == -1) rc = import_deepseek_mla(c);
    else if (fam == -2) rc = import_deepseek_v4(c);
    else rc = import_gqa(c, (gfam)fam);
    if (!rc) rc = import_rope_eps(c);
    if (rc) return rc;
    warn_unread(c, c->cfg, c->pre);
    if (c->cfg != c->root) warn_unread(c, c->root, "");
    return SIM_OK;
}

static int import_json(json_t *root, const char *name, char **yaml_out, import_warnings *w, sim_err *e)
{
    ictx c;
    memset(&c, 0, sizeof c);
    c.src = name;
    c.root = c.cfg = root;
    c.pre = "";
    c.model_type = "?";
    c.w = w;
    c.e = e;
    int rc = import_root(&c);
    if (!rc) {
        char nm[120];
        ibuf out = {0};
        char from[300];
        spec_name(name, c.model_type, nm, sizeof nm);
        comment_text(name, from, sizeof from);
        ib_printf(&out, "# Generated by `kvsim import` from %s\n# (Hugging Face model_type: %s). Mapping notes:\n",
                  from, c.model_type);
        if (c.notes.s) ib_printf(&out, "%s", c.notes.s);
        ib_printf(&out, "name: ");
        emit_yaml_text(&out, nm);
        ib_printf(&out, "\n%s", c.body.s ? c.body.s : "");
        if (out.oom || c.notes.oom || c.body.oom) {
            free(out.s);
            rc = sim_fail(e, SIM_ENOMEM, "out of memory");
        } else {
            *yaml_out = out.s;
        }
    }
    free(c.notes.s);
    free(c.body.s);
    return rc;
}

/* A parsed document (root NULL: the parse error is in je) -> spec YAML;
 * takes root. */
static int import_doc(json_t *root, const json_error_t *je, const char *name, char **yaml_out, import_warnings *w,
                      sim_err *e)
{
    if (!root) return sim_fail(e, SIM_EINVAL, "%s:%d:%d: %s", name, je->line, je->column, je->text);
    if (!json_is_object(root)) {
        json_decref(root);
        return sim_fail(e, SIM_EINVAL, "%s: the top level must be a JSON object (a config.json)", name);
    }
    int rc = import_json(root, name, yaml_out, w, e);
    json_decref(root);
    return rc;
}

int import_hf_yaml_text(const char *json, size_t len, const char *name, char **yaml_out,
                        import_warnings *w, sim_err *e)
{
    json_error_t je;
    *yaml_out = NULL;
    return import_doc(json_loadb(json, len, JSON_REJECT_DUPLICATES, &je), &je, name, yaml_out, w, e);
}

int import_hf_yaml(const char *json_path, char **yaml_out, import_warnings *w, sim_err *e)
{
    *yaml_out = NULL;
    FILE *f = fopen(json_path, "rb");
    if (!f) return sim_fail(e, SIM_EIO, "%s: cannot open", json_path);
    fclose(f);
    json_error_t je;
    return import_doc(json_load_file(json_path, JSON_REJECT_DUPLICATES, &je), &je, json_path, yaml_out, w, e);
}
