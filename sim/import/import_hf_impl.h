/* import_hf_impl.h - internals shared by import_hf.c (core, GQA families)
 * and import_hf_deepseek.c (MLA, DSA and DeepSeek V4). Not a public API. */
#ifndef IMPORT_HF_IMPL_H
#define IMPORT_HF_IMPL_H

#include "import_hf.h"
#include <jansson.h>
#include <stdarg.h>

/* A growing text buffer; `oom` is sticky. */
typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} ibuf;
void ib_printf(ibuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define IMP_MAX_READ 256

/* One import. `cfg` is the object the model fields live in: the file's top
 * level, or its `text_config` (then `pre` is "text_config."). */
typedef struct {
    const char *src;          /* file name, for messages and the header */
    json_t *root, *cfg;
    const char *pre;
    const char *model_type;   /* top-level model_type */
    import_warnings *w;
    sim_err *e;
    const char *read[IMP_MAX_READ];   /* keys consumed (of cfg, then root) */
    const json_t *read_in[IMP_MAX_READ];
    int n_read;
    ibuf notes;               /* "# ..." header lines on mapping decisions */
    ibuf body;                /* the spec */
} ictx;

/* Look up key in cfg, else (nested configs) in the top level; marks it read.
 * NULL when absent or JSON null. */
json_t *ij_get(ictx *c, const char *key);

/* The ranges the spec accepts (spec.c's top-level keys and the field tables
 * of sim/layers/): the importer refuses a value outside them with an error
 * naming the JSON field, so that a spec it writes always loads. */
#define IMP_DIM_MAX     (1ull << 20)   /* widths and per-head dims, elements */
#define IMP_HEADS_MAX   (1ull << 16)
#define IMP_VOCAB_MAX   (1ull << 24)
#define IMP_LAYERS_MAX  4096ull
#define IMP_TOK_MAX     (1ull << 40)   /* windows and top-k */
#define IMP_EXPERTS_MAX (1ull << 16)
#define IMP_ANY         (~0ull)

/* A bad value: "FILE: PATH: must be WANT, got VALUE" (VALUE as JSON text),
 * SIM_EINVAL. `path` is the field's full path ("text_config.hidden_size",
 * "quantization_config.bits"). */
int ij_bad(ictx *c, const char *path, const json_t *v, const char *want, ...) __attribute__((format(printf, 4, 5)));
/* The same for a key of cfg (its path from ij_path). */
int ij_badkey(ictx *c, const char *key, const json_t *v, const char *want, ...) __attribute__((format(printf, 4, 5)));
/* "FILE: PATH: missing (model_type M needs it)", SIM_EINVAL. */
int ij_missing(ictx *c, const char *key);

/* Typed readers: an error naming the field on a wrong type, a value outside
 * [lo, hi] or, when `required`, absence; *out is left alone when the field is
 * absent. *has (may be NULL) says whether it was present. */
int ij_u64(ictx *c, const char *key, bool required, u64 lo, u64 hi, u64 *out, bool *has);
int ij_bool(ictx *c, const char *key, bool dflt, bool *out);
int ij_real(ictx *c, const json_t *v, const char *what, double *out);
/* An integer JSON value v (found at `path`) in [lo, hi]. */
int ij_int_value(ictx *c, const char *path, const json_t *v, u64 lo, u64 hi, u64 *out);
/* An array of whole numbers in [lo, hi] of exactly n entries (n = 0: any
 * length >= 1); *out is malloc'd, *len its length. */
int ij_u64_list(ictx *c, const char *key, u64 n, u64 lo, u64 hi, u64 **out, u64 *len);
/* "text_config.key" or "key", for messages. */
const char *ij_path(ictx *c, const char *key, char *buf, size_t len);
void ij_warn(ictx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ij_note(ictx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What one layer's FFN is; layers with equal descriptors share a YAML line. */
typedef struct {
    bool moe;
    u64 d_ff;          /* dense width, or routed expert width */
    u64 experts, top_k, shared, shared_d_ff;
    bool shared_gate;  /* Qwen2-MoE shared_expert_gate: `shared_gate: true` */
    bool hash;
    const char *score; /* scoring_func sigmoid (V3) / sqrtsoftplus (V4): `score:`; NULL softmax */
    u64 n_group, topk_group;
    double routed_scale;   /* routed_scaling_factor, 0 = absent */
    double swiglu_limit;   /* swiglu_limit (DeepSeek V4), 0 = absent */
    bool gelu;         /* act: gelu_tanh (hidden_activation gelu_pytorch_tanh) */
    bool gemma4_block; /* Gemma 4's enable_moe_block: `gemma4_block: true` */
} ffn_desc;

/* The model-wide FFN: index of the most common descriptor (ties: lowest). */
u64 ffn_majority(const ffn_desc *f, u64 n_layers);
/* One descriptor as a YAML flow map, e.g. "{type: dense, d_ff: 14336}". */
void emit_ffn_map(ibuf *b, const ffn_desc *f);
/* `overrides:` entries (runs of layers whose FFN differs from f[common]). */
void emit_ffn_overrides(ictx *c, const ffn_desc *f, u64 n_layers, u64 common);
/* Emit `pattern:` from per-layer kind indices (nothing for one kind). */
void emit_pattern(ictx *c, const int *kind, u64 n_layers, const char *const *names);
/* Storage dtype name from torch_dtype/dtype ("bf16" when absent). */
int ij_weight_dtype(ictx *c, const char **out);

/* The modules of a family, by the weight class kvsim prices them in, for
 * the lists of quantization_config (modules_to_not_convert, ignore, ...):
 * names "model.layers.N.<linear[k]>", "model.layers.N.<expert % e><expert_mats[k]>",
 * "model.layers.N.<router>" and "lm_head". */
typedef struct {
    const char *const *linear;       /* NULL-terminated */
    const char *expert;              /* "mlp.experts.%llu." or NULL (no routed experts) */
    const char *const *expert_mats;
    const char *router;              /* NULL: none */
    bool router_linear;              /* the router is an nn.Linear (quantizers that target Linear take it) */
    u64 layers, experts;
} imodules;

/* Weight storage from quantization_config (import_hf_quant.c). */
typedef struct {
    const char *method;      /* quant_method; NULL: no quantization_config */
    char linear[40];         /* format (or dtype) name of the quantized weights */
    char fmt_yaml[400];      /* its `formats:` entry; "" for a bare dtype */
    bool linear_q, experts_q;/* which classes the config quantizes */
    const char *compute;     /* compute dtype of the linears; NULL: unchanged */
    const char *kv;          /* KV cache dtype (kv_cache_scheme); NULL: unchanged */
    u64 fp8_block;           /* quant_method fp8: elements per scale block (a*b) */
    const char *fp8_scale;   /* its scale dtype */
} iquant;

/* Read quantization_config (absent: q->method NULL). wdt is the weights'
 * torch dtype; v4: DeepSeek V4 (fp8 only, ue8m0 scales). */
int ij_quant(ictx *c, const imodules *mods, const char *wdt, bool v4, iquant *q);
/* `formats:` (if any), kv_dtype, weights and compute for q; with no
 * quantization_config "kv_dtype: W\nweights: {linear: W}". */
void emit_weights(ictx *c, const iquant *q, const char *wdt, bool experts);

/* The GQA-style families (import_hf_gqa.c). */
typedef enum {
    FAM_LLAMA, FAM_MISTRAL, FAM_MIXTRAL, FAM_QWEN2, FAM_QWEN2_MOE, FAM_QWEN3, FAM_QWEN3_MOE,
    FAM_GEMMA2, FAM_GEMMA3, FAM_GEMMA3N, FAM_GEMMA4
} gfam;
int import_gqa(ictx *c, gfam fam);

/* The DeepSeek families (import_hf_deepseek.c). */
int import_deepseek_mla(ictx *c);   /* deepseek_v2, deepseek_v3, deepseek_v32 */
int import_deepseek_v4(ictx *c);

#endif
