/* spec.h - an architecture spec (a YAML file under archs/) loaded into per-layer structs.
 *
 * The YAML is read into a ytree, `--set` overrides are applied to the tree, then
 * every layer is materialised from its kind (+ model-wide ffn/residual, + the
 * `overrides` and `per_layer` sections) and checked against its component
 * type's field table. Everything below is plain data that the cost model and
 * the kernels read; nothing here allocates after spec_load returns.
 *
 *   model_spec m; sim_err e;
 *   const char *sets[] = {"kv_sharing.shared_layers=0"};
 *   if (spec_load(&m, "archs/gemma4-e2b.yaml", sets, 1, &e)) die(e.msg);
 *   ... m.layer[i].attn.q_heads ...
 *   spec_free(&m);
 */
#ifndef SPEC_H
#define SPEC_H

#include "sim.h"
#include "dtype.h"
#include "ytree.h"

struct comp_type;

/* Attention of one layer: the union of every attention type's fields (each
 * type's field table says which it accepts). Dims are elements, counts are
 * heads/tokens. */
typedef struct {
    const struct comp_type *type;   /* gqa, mla, dsa, csa, hca, swa4, cca */
    u64 q_heads;         /* query heads, e.g. 32 */
    u64 kv_heads;        /* K/V heads, e.g. 8 (GQA: divides q_heads; MQA: 1) */
    u64 head_dim;        /* per-head Q/K dim, e.g. 128 (read, never d_model/q_heads) */
    u64 v_head_dim;      /* per-head V dim; 0 = head_dim */
    u64 rope_dim;        /* rotated dims per head (MLA: the decoupled RoPE key), 0 = none */
    u64 window;          /* sliding window in tokens, 0 = global */
    bool qk_norm;        /* RMSNorm on q and k heads */
    bool qkv_bias;       /* biases on q/k/v projections (Qwen2) */
    bool o_bias;         /* bias on the output projection (Llama/Qwen3 attention_bias: true) */
    bool out_gate;       /* per-head sigmoid gate on the output (Laguna) */
    bool k_eq_v;         /* one tensor serves as K and V (half the cache) */
    bool sink;           /* learnable per-head softmax sink logit */
    u64 rope_theta;      /* this kind's own RoPE base (Gemma 4 full layers: 1000000), 0 = the model's */
    bool rope_proportional; /* Gemma 4's proportional RoPE: rope_dim/2 pairs spanning the head (kern.h) */
    bool rope_unscaled;  /* this kind ignores the model's rope.scaling (Laguna's sliding layers, DeepSeek V4's window-only layers) */
    bool v_norm;         /* RMSNorm without weight on each value head (Gemma 4) */
    bool unit_scale;     /* scores not scaled by 1/sqrt(head_dim) (Gemma 4: scaling 1.0, q/k normed) */
    /* MLA / DSA */
    u64 q_lora_rank;     /* query down-projection rank, 0 = full-rank wq */
    u64 kv_lora_rank;    /* compressed KV latent, e.g. 512 */
    u64 nope_dim;        /* per-head non-rotary q/k dim, e.g. 128 */
    u64 mla_form;        /* how MLA / DSA attention executes (mla_form_t): auto, absorbed, expanded */
    /* indexer (DSA, CSA) */
    u64 index_heads;     /* e.g. 64 */
    u64 index_head_dim;  /* e.g. 128 */
    u64 index_topk;      /* selected entries per query, e.g. 2048 */
    /* DeepSeek V4 (CSA/HCA/SWA) */
    u64 o_groups;        /* grouped output projection groups, e.g. 16 */
    u64 o_lora_rank;     /* per-group intermediate dim, e.g. 1024 */
    u64 compress_ratio;  /* tokens per compressed entry: 4 (CSA), 128 (HCA) */
    /* CCA (ZAYA1) */
    u64 conv_kernel;     /* sequence conv kernel (taps) on compressed q/k */
    u64 conv_kernel2;    /* second (within-head) conv kernel */
    /* storage */
    fmt kv_fmt;          /* cache entry format (default: model kv_dtype) */
    fmt index_fmt;       /* indexer cache entry format */
    fmt state_fmt;       /* compressor / conv state element format (default fp32) */
    int kv_from;         /* layer whose cache this layer reads; -1 = owns its cache */
} attn_cfg;

enum { FFN_ACT_SILU, FFN_ACT_GELU_TANH };   /* ffn_cfg.act, in `act:` order "silu|gelu_tanh" */

/* MLA's two executions (README, counting conventions): absorbed = MQA over
 * the latent (W_UK into the query, W_UV after attention); expanded = K and V
 * expanded from the latent (wkv_b per key row). AUTO: MLA expanded in
 * prefill and absorbed in decode (as DeepSeek runs it), DSA absorbed in both
 * (FlashMLA's sparse kernels). */
typedef enum { MLA_FORM_AUTO, MLA_FORM_ABSORBED, MLA_FORM_EXPANDED } mla_form_t;
#define MLA_FORM_CHOICES "auto|absorbed|expanded"   /* in mla_form_t order */

typedef struct {
    const struct comp_type *type;   /* none, dense, moe */
    u64 d_ff;            /* hidden width of one (dense or expert) MLP */
    bool gated;          /* gated (SwiGLU/GeGLU, 3 matrices) or plain (2) */
    u64 experts;         /* routed experts */
    u64 top_k;           /* routed experts per token */
    u64 shared;          /* shared experts, each of width shared_d_ff */
    u64 shared_d_ff;     /* 0 = d_ff */
    bool shared_gate;    /* shared experts' output times sigmoid(x . w), w a d-vector (Qwen2-MoE
                            shared_expert_gate: nn.Linear(d, 1, bias=False)) */
    bool hash;           /* hash-routed (token id -> experts table, no router matmul) */
    u64 router_mlp;      /* MLP router hidden width (ZAYA1), 0 = linear router */
    bool skip_route;     /* router has one extra "skip" output (ZAYA1's MOD: a token routed
                            there passes its FFN input through, times its probability) */
    bool gemma4_block;   /* Gemma 4 26B-A4B's MoE block: the dense MLP (the shared
                            expert) on the FFN input, the router and the routed
                            experts on the pre-norm residual, each branch its norm */
    u64 act;             /* activation: FFN_ACT_SILU (default) or FFN_ACT_GELU_TANH (Gemma) */
    /* DeepSeek V3 routing (inference/model.py Gate): sigmoid scores, the
     * selection bias added for choosing only, group-limited top-k (the
     * topk_group of n_group groups with the largest sum of their two best
     * biased scores), the chosen sigmoids normalised and times routed_scale. */
    u64 score;           /* router scores (`score:`): MOE_SCORE_SOFTMAX (default), _SIGMOID, _SQRTSOFTPLUS */
    u64 n_group;         /* expert groups (0 or 1: no group limit), e.g. 8 */
    u64 topk_group;      /* groups a token may choose from, e.g. 4 */
    double routed_scale; /* routed_scaling_factor (0 = 1), e.g. 2.5 */
    double swiglu_limit; /* DeepSeek V4 Expert: up clamped to [-l, l], gate to <= l before SiLU; 0 = none, e.g. 10 */
} ffn_cfg;
/* `score:` of a moe FFN (an F_CHOICE: index into MOE_SCORE_CHOICES). */
#define MOE_SCORE_CHOICES "softmax|sigmoid|sqrtsoftplus"
enum { MOE_SCORE_SOFTMAX, MOE_SCORE_SIGMOID, MOE_SCORE_SQRTSOFTPLUS };

typedef struct {
    const struct comp_type *type;   /* plain, mhc */
    u64 streams;         /* mHC residual streams n, e.g. 4 */
    u64 sinkhorn_iters;  /* Sinkhorn-Knopp iterations, e.g. 20 */
    bool post_norms;     /* plain: extra RMSNorms after attention and FFN (Gemma) */
    bool layer_scalar;   /* plain: a learned scalar on the layer output (Gemma 4) */
    double hc_eps;       /* mhc: the eps of hc_split_sinkhorn (pre + eps, Sinkhorn sums + eps), e.g. 1e-6; 0 = none */
    bool scaled_merge;   /* plain: ZAYA1's ResidualScaling: each merge is
                            (x + rb) rs + (f + hb) hs with learned d-vectors */
} res_cfg;

/* Per-layer embeddings (Gemma 4 / 3n), model-wide: `ple: {dim, vocab}`. */
typedef struct {
    const struct comp_type *type;   /* ple, or NULL: the model has none */
    u64 dim;             /* per-layer embedding dim (Gemma 4: 256) */
    u64 vocab;           /* its vocabulary (default: the model's) */
} ple_cfg;

typedef struct {
    int kind;            /* index into model_spec.kind_name */
    attn_cfg attn;
    ffn_cfg ffn;
    res_cfg res;
    bool shared_kv;      /* kv_from >= 0 */
    int same_cost_as;    /* an earlier layer with an identical config (so an
                            identical cost), or -1; set by spec_load */
} layer_spec;

/* Rotary position embedding of the model (`rope:`), as its config.json
 * gives it; the reference kernels apply it, the cost model counts RoPE by
 * rope_dim alone. Scaling types: none; linear (positions / factor); llama3
 * (Llama 3.1's per-frequency smoothing: factor, low_freq_factor,
 * high_freq_factor, original_max_position); yarn (DeepSeek V3: factor,
 * original_max_position, beta_fast, beta_slow, mscale, mscale_all_dim). */
typedef enum { ROPE_SCALE_NONE, ROPE_SCALE_LINEAR, ROPE_SCALE_LLAMA3, ROPE_SCALE_YARN } rope_scale_kind;
typedef struct {
    double theta;            /* base, e.g. 500000 (Llama 3); default 10000 */
    rope_scale_kind scaling;
    double factor;           /* context extension factor, e.g. 8 (llama3), 40 (yarn) */
    double low_freq_factor, high_freq_factor;   /* llama3 */
    double beta_fast, beta_slow, mscale, mscale_all_dim;   /* yarn */
    u64 original_max_position;   /* pre-extension context, e.g. 8192 / 4096 */
} rope_cfg;

/* Weight storage classes: each parameter is stored in one of these formats. */
/* WC_ROUTER: MoE router matrices (default: the `small` format; DeepSeek V3
 * keeps its gate in bf16 and the selection bias, a `small` vector, in fp32). */
typedef enum { WC_LINEAR, WC_EXPERT, WC_EMBED, WC_SMALL, WC_COMPRESSOR, WC_ROUTER, WC_COUNT } wclass;
/* Compute classes: each FLOP is executed in one of these dtypes. */
typedef enum { CC_LINEAR, CC_ATTENTION, CC_INDEXER, CC_COUNT } cclass;

#define SPEC_MAX_KINDS   16
/* A weight class's storage format prepared for fast byte counts (cost.c:
 * the same result as fmt_rate_bytes, without re-walking the format on every
 * tensor; spec_plan prepares the model's, model_spec.plan_wrate). */
typedef struct {
    u64 fixed;            /* elements of a fixed format; 0 = a bare dtype */
    u64 eb;               /* fixed: bytes of one whole entry */
    int fixed_shift;      /* fixed: log2(fixed) when a power of two, else -1 */
    u64 block;            /* bare, scaled: elements per scale */
    unsigned bits, sbits; /* bare: element and scale bits */
    int block_shift;      /* log2(block) when block is a power of two, else -1 */
    bool scaled;
} cost_wrate;

#define SPEC_MAX_FORMATS 16
#define SPEC_MAX_LAYERS  4096

typedef struct {
    char name[128];          /* spec's `name:` */
    char path[512];          /* file it came from */
    char *yaml_text;         /* the file's text (owned), for content hashes */
    u64 d_model;             /* residual width, e.g. 7168 */
    u64 n_layers;
    u64 vocab;
    bool tie_embeddings;
    rope_cfg rope;           /* `rope:` (theta default 10000, no scaling) */
    double norm_eps;         /* RMSNorm epsilon (`norm_eps:`, default 1e-6) */
    bool embed_scale;        /* embeddings times sqrt(d_model) (`embed_scale:`, Gemma) */
    double logit_softcap;    /* logits = cap tanh(logits / cap) (`logit_softcap:`, Gemma 4: 30), 0 = none */
    ple_cfg ple;             /* per-layer embeddings (ple.type NULL: none) */
    u64 hc_streams;          /* mHC streams if any layer uses mHC (for the head unit) */
    fmt kv_default;          /* kv_dtype */
    dtype act_dt;            /* activations crossing layer boundaries */
    fmt weight[WC_COUNT];    /* storage format per weight class */
    dtype compute[CC_COUNT]; /* compute dtype per class */
    int n_kinds;
    char kind_name[SPEC_MAX_KINDS][32];
    int n_formats;
    fmt formats[SPEC_MAX_FORMATS];
    layer_spec *layer;       /* n_layers entries (owned) */
    /* Multi-token prediction (`mtp: {layers, kind, ffn?}`; DeepSeek V3's
     * num_nextn_predict_layers): mtp_n modules, each the layer `mtp` (a kind
     * of `layers:`) + a [2d, d] projection of [RMSNorm(emb), RMSNorm(h)] +
     * its final norm, sharing the embedding and the head. 0 = none. */
    u64 mtp_n;
    layer_spec mtp;
    /* cost_eval's packed view of each layer (its row and its same-cost
     * layer in 8 bytes, not two cache lines of layer_spec), set by spec_load
     * with same_cost_as; brief_n = the layers it covers (0 = not set: cost_eval
     * reads layer[] instead). */
    u64 brief_n;
    struct { short kind, shared_kv; int same_cost_as; } brief[SPEC_MAX_LAYERS];
    /* cost_eval's plan, set by spec_plan (plan_n = the layers it covers, 0 =
     * not set: cost_eval walks the layers). The by-type rows in order of
     * first appearance (kind, shared, layers, the row's name); the layers
     * that are computed (roots: same_cost_as < 0); the units: the distinct
     * components of the roots (an attention config with its shared_kv, an
     * FFN, a residual, the PLE), each costed once per evaluation from a
     * layer that has it (V4-Pro's 4 roots share one residual and two
     * attentions: 5 units, not 12 component costs); each root's units; and
     * each (row, unit) pair with the number of layers it stands for, so an
     * evaluation costs the units and adds each pair once, times its count.
     * Sound because a component's cost reads only its own config (attention:
     * and shared_kv), the model and the query (layer.h, comp_type.cost). */
    u64 plan_n;
    int plan_rows, plan_roots, plan_units, plan_pairs;
    struct { short kind, shared_kv; int layers; char name[48]; } plan_row[SPEC_MAX_KINDS * 2];
#define SPEC_PLAN_MAX 128                    /* roots */
#define SPEC_PLAN_UNITS (4 * SPEC_PLAN_MAX)  /* units, (row, unit) pairs */
    int plan_root[SPEC_PLAN_MAX];   /* layer index of each root */
    short plan_root_unit[SPEC_PLAN_MAX][4];   /* per root and component category (layer.h comp_cat): its unit, -1 = none */
    struct { short cat; int layer; } plan_unit[SPEC_PLAN_UNITS];   /* category, a layer that has it */
    struct { short row, unit; int count; } plan_pair[SPEC_PLAN_UNITS];
    bool plan_mtp;           /* an MTP module's stored params and bytes (the
                                same at every context; cost_mtp_stored): */
    u64 plan_mtp_params, plan_mtp_weight_bytes;
    bool plan_wrate_ok;      /* plan_wrate holds each weight class's prepared
                                format (cost_wrate_prep of weight[]) */
    cost_wrate plan_wrate[WC_COUNT];
} model_spec;

/* Fill cost_eval's plan (model_spec.plan_*) from each layer's kind,
 * shared_kv, same_cost_as and component configs, the weight classes'
 * prepared formats and the MTP module's stored sizes; spec_load,
 * spec_scale, spec_truncate and spec_set_choice call it, and so must any
 * code that changes a loaded spec's layers, dims or formats (the plan
 * caches costs' inputs: a stale plan prices the old spec). Can't fail (a
 * model too varied for the plan's tables is left without one: cost_eval
 * then walks the layers). */
void spec_plan(model_spec *m);

/* Load and check a spec, applying `n_sets` "PATH=VALUE" overrides first.
 * Returns SIM_OK, SIM_EIO (missing file) or SIM_EINVAL ("file:line:col: ...").
 * On failure *m holds nothing to free. */
int spec_load(model_spec *m, const char *path, const char *const *sets, int n_sets, sim_err *e);

/* The same from an already-built tree (used by `import`); takes ownership of
 * root and of yaml_text (may be NULL). */
int spec_load_tree(model_spec *m, ynode *root, char *yaml_text, const char *path,
                   const char *const *sets, int n_sets, sim_err *e);

void spec_free(model_spec *m);

/* Set the choice field `key` (e.g. "mla_form") to `value` on every layer
 * whose component types have it (a run-level override such as --mla-form);
 * *n = the layers changed (0: no layer has it). SIM_EINVAL, message naming
 * the choices, when value is not one of them. */
int spec_set_choice(model_spec *m, const char *key, const char *value, int *n, sim_err *e);

/* The name shown for a layer's type in by-type tables: the kind name, with
 * "/shared" appended for layers that reuse another layer's cache. */
void spec_layer_type_name(const model_spec *m, int i, char *buf, size_t len);

#endif
