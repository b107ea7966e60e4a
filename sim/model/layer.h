/* layer.h - the registry of component types (attention, FFN, residual, PLE).
 *
 * The registry is the only place a type is known. Each type lives in its own
 * file, sim/layers/<name>.c, whose only public symbol is a `const comp_type`
 * describing everything about it: its YAML fields (units, ranges, and how
 * `--scale` shrinks each), a consistency check, its cache size table, its
 * cost function, whether a layer of it may share another layer's cache, the
 * contexts where its counts change form (`kvsim validate` tests there), and a
 * minimal example spec. Its reference kernel lives beside it in
 * sim/layers/<name>_ref.c and binds itself from the kernels' side
 * (sim/kern/ref_table.c). Both tables are generated from the one list in
 * sim/layers/types.h; README.md, "Adding a layer type", walks through it.
 */
#ifndef LAYER_H
#define LAYER_H

#include "spec.h"
#include "cost.h"
#include <stddef.h>

typedef enum { COMP_ATTN, COMP_FFN, COMP_RES, COMP_PLE, COMP_CAT_COUNT } comp_cat;
extern const char *const comp_cat_name[COMP_CAT_COUNT];   /* "attention", "ffn", ... */
/* F_CHOICE: one of the '|'-separated names in the field's `unit` (e.g.
 * "auto|absorbed|expanded"), stored as its index in a u64. F_REAL: a double
 * in [min, max] (e.g. a routing scale of 2.5). */
typedef enum { F_U64, F_BOOL, F_FMT, F_CHOICE, F_REAL } field_kind;

/* How `--scale S` (spec_scale.h) shrinks a field; 0 stays 0. */
typedef enum {
    SC_KEEP,         /* unchanged (windows, ratios, head dims, flags) */
    SC_DIV,          /* x / S, at least 1 */
    SC_MULTIPLE_OF,  /* x / S rounded down to a multiple of field `rel` (scaled first), at least rel */
    SC_DIVISOR_OF,   /* x / S, then down to the nearest divisor of field `rel` */
    SC_AT_LEAST,     /* x / S, at least field `rel` */
} scale_rule;

typedef struct {
    const char *key;      /* YAML key */
    field_kind kind;
    size_t off;           /* offsetof in the category's cfg struct */
    u64 min, max;         /* accepted range (F_U64) */
    bool required;
    const char *unit;     /* "tokens", "heads", "elements", ... */
    const char *help;
    scale_rule scale;     /* what --scale does to it */
    size_t rel;           /* offset of the field the rule refers to */
} field_def;

/* Edge contexts: the contexts (tokens) at which a layer's counts change
 * form. The framework adds T = 1, 2 and 37 (a prime multiple of nothing). */
#define EDGE_MAX 16

typedef struct comp_type {
    const char *name;     /* YAML `type:` value, e.g. "mla" */
    comp_cat cat;
    const char *summary;  /* one line for `kvsim help spec` */
    const field_def *fields;  /* terminated by {0} */
    /* Cross-field checks (divisibility, required combinations); may be NULL. */
    int (*check)(const model_spec *m, const layer_spec *l, sim_err *e);
    /* Per-sequence cache buffers after T tokens (attention only, else NULL):
     * the number of rows filled, or a negative SIM_E* code. */
    int (*kv_table)(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e);
    /* Add this component's cost for one layer to o; SIM_OK or an error.
     * It may read only its own config in l (attention: also l->shared_kv),
     * the model-wide fields of c->m and the query: spec_plan costs each
     * distinct component once for every layer that has it (model_spec.plan_*). */
    int (*cost)(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e);
    /* Add its model-level part (outside the layers, e.g. PLE's table) to o;
     * NULL when there is none. */
    int (*model_cost)(const cost_ctx *c, cost_t *o, sim_err *e);
    /* Fill up to EDGE_MAX edge contexts of layer l; returns how many. NULL: none. */
    int (*edges)(const layer_spec *l, u64 *ctx);
    /* A layer of this type may reuse an earlier layer's cache (kv_from,
     * kv_sharing): its cost function and kernel model the shared case. */
    bool kv_share;
    /* The type used when a spec names none (residual: plain). */
    bool is_default;
    /* A minimal complete spec that uses this type (the registry test loads,
     * costs, runs and validates it; `kvsim help spec` can show it). */
    const char *example;
} comp_type;

extern const comp_type *const comp_registry[];

extern const int comp_registry_count;

/* Find a type by category and name; NULL if unknown. */
const comp_type *comp_find(comp_cat cat, const char *name);
/* The category's default type (is_default), or NULL. */
const comp_type *comp_default(comp_cat cat);

/* The cfg struct of category cat inside a layer (PLE: the model's). */
void *comp_cfg(model_spec *m, layer_spec *l, comp_cat cat);

/* Run every component's check and the attention cache table of layer L (what
 * spec_load and spec_scale verify); on failure e says which component. */
int comp_check_layer(const model_spec *m, const layer_spec *L, comp_cat *bad, sim_err *e);

/* The edge contexts of a spec, sorted, without duplicates: T = 1, 2, 37 and
 * every type's edges, those <= cap in ctx[] (returns the count) and those
 * above it in skipped[] (*n_skipped; either array holds up to max). */
int comp_edge_contexts(const model_spec *m, u64 cap, u64 *ctx, int max, u64 *skipped, int *n_skipped);

/* "gqa, mla, ..." for error messages. */
void comp_names(comp_cat cat, char *buf, size_t len);

#endif

/* Field-table helpers for the component files. */
#define AFIELD(k, kind, f, lo, hi, req, unit, help) {k, kind, offsetof(attn_cfg, f), lo, hi, req, unit, help, SC_KEEP, 0}
#define FFIELD(k, kind, f, lo, hi, req, unit, help) {k, kind, offsetof(ffn_cfg, f), lo, hi, req, unit, help, SC_KEEP, 0}
#define RFIELD(k, kind, f, lo, hi, req, unit, help) {k, kind, offsetof(res_cfg, f), lo, hi, req, unit, help, SC_KEEP, 0}
#define PFIELD(k, kind, f, lo, hi, req, unit, help) {k, kind, offsetof(ple_cfg, f), lo, hi, req, unit, help, SC_KEEP, 0}
/* The same with a --scale rule (rel: the field the rule refers to, or the field itself). */
#define AFIELD_S(k, kind, f, lo, hi, req, unit, help, rule, relf) \
    {k, kind, offsetof(attn_cfg, f), lo, hi, req, unit, help, rule, offsetof(attn_cfg, relf)}
#define FFIELD_S(k, kind, f, lo, hi, req, unit, help, rule, relf) \
    {k, kind, offsetof(ffn_cfg, f), lo, hi, req, unit, help, rule, offsetof(ffn_cfg, relf)}
#define PFIELD_S(k, kind, f, lo, hi, req, unit, help, rule, relf) \
    {k, kind, offsetof(ple_cfg, f), lo, hi, req, unit, help, rule, offsetof(ple_cfg, relf)}
/* Edge helpers for the types' edges(): append T when not yet present (T > 0,
 * at most EDGE_MAX); a window's edges; m:1 compression with top-k k. */
int edge_add(u64 *ctx, int n, u64 T);
int attn_window_edges(const attn_cfg *a, u64 *ctx, int n);
int attn_compress_edges(u64 m, u64 k, u64 *ctx, int n);
#define DIM_MAX   (1u << 20)   /* widths and dims, elements */
#define HEADS_MAX (1u << 16)
#define TOK_MAX   (1ull << 40) /* windows and top-k, tokens */

/* Shared pieces used by several attention files (attn_common.c). */
u64 attn_vdim(const attn_cfg *a);                 /* v_head_dim or head_dim */
/* The head checks every attention type with heads makes, in one message
 * form: kv_heads (when the type has them) divides q_heads; rope_dim (when
 * the type has a head_dim) fits in head_dim. SIM_EINVAL with the message. */
int attn_check_heads(const attn_cfg *a, sim_err *e);
/* Record a cache: kv_bytes (after T), reads and writes for this step, given
 * the per-sequence rows read (decode) and rows written (decode). Prefill
 * writes what the cache holds and reads nothing from it (fused kernels). */
void attn_cache_traffic(const cost_ctx *c, cost_t *o, u64 held_rows, u64 row_bytes,
                        u64 read_rows, u64 new_rows, bool shared);

/* MLA pieces reused by DSA (attn_mla.c). `absorbed` selects the MQA over
 * the latent, else K and V are expanded from `expand_rows` latent rows this
 * step (prefill: every token; decode: every key read); `pairs` = (query,
 * key) pairs over the batch. */
int mla_check(const model_spec *m, const layer_spec *l, sim_err *e);
u64 mla_entry_elems(const attn_cfg *a);
void mla_core_cost(const cost_ctx *c, const layer_spec *l, cost_t *o, bool absorbed, u64 pairs, u64 expand_rows);
/* Whether an MLA / DSA layer runs absorbed in phase ph: its mla_form, and
 * for auto the type's own default (MLA: absorbed in decode only; DSA:
 * absorbed in both phases, auto_absorbed_prefill). Shared with the kernels. */
bool mla_form_absorbed(const attn_cfg *a, phase ph, bool auto_absorbed_prefill);
#define MLA_FORM_FIELD AFIELD("mla_form", F_CHOICE, mla_form, 0, 0, false, MLA_FORM_CHOICES, \
    "execution: absorbed (MQA over the latent), expanded (K, V from wkv_b per key row), auto (default: the type's)")
#define MLA_ROPE_MAX 1024   /* rope_dim bound of MLA / DSA (the kernels' pair buffer) */
/* DSA's indexer quantises q and k to fp8 (act_quant) when compute.indexer is fp8 (dsa.c). */
bool dsa_index_fp8(const model_spec *m);
/* Router FLOPs per token after the router matmul (ffn_moe.c; the kernel counts the same). */
u64 moe_route_flops(const ffn_cfg *f);
/* Whether a MoE layer's linear router adds a selection bias to its scores
 * (sigmoid / sqrtsoftplus scores outside hash layers; ffn_moe.c). Can't fail. */
bool moe_has_sel_bias(const ffn_cfg *f);

/* DeepSeek V4 pieces shared by csa, hca and swa4 (attn_v4.c). */
#define V4_COMMON_FIELDS \
    AFIELD_S("q_heads", F_U64, q_heads, 1, HEADS_MAX, true, "heads", "query heads", SC_DIV, q_heads), \
    AFIELD("head_dim", F_U64, head_dim, 1, DIM_MAX, true, "elements", "dim of the single shared KV head (key = value)"), \
    AFIELD("rope_dim", F_U64, rope_dim, 0, DIM_MAX, true, "elements", "rotated dims (last of each head)"), \
    AFIELD_S("q_lora_rank", F_U64, q_lora_rank, 1, DIM_MAX, true, "elements", "query down-projection rank", SC_DIV, q_lora_rank), \
    AFIELD_S("o_groups", F_U64, o_groups, 1, HEADS_MAX, true, "groups", "grouped output projection groups; divides q_heads", SC_DIVISOR_OF, q_heads), \
    AFIELD_S("o_lora_rank", F_U64, o_lora_rank, 1, DIM_MAX, true, "elements", "per-group output intermediate dim", SC_DIV, o_lora_rank), \
    AFIELD("window", F_U64, window, 1, TOK_MAX, true, "tokens", "sliding-window branch (uncompressed entries)"), \
    AFIELD("kv_format", F_FMT, kv_fmt, 0, 0, false, "format", "main cache entry format (default: kv_dtype)"), \
    AFIELD("rope_theta", F_U64, rope_theta, 1, 1ull << 40, false, "", "this kind's RoPE base (V4 CSA/HCA: compress_rope_theta 160000)"), \
    AFIELD("rope_unscaled", F_BOOL, rope_unscaled, 0, 0, false, "", "this kind ignores rope.scaling (V4 sliding-window-only layers: no YaRN)")
/* V4 layers rotate adjacent pairs of at most this many dims (v4_check). */
#define V4_ROPE_MAX 1024
int v4_check(const model_spec *m, const layer_spec *l, sim_err *e);
/* CSA's indexer FP4 block (csa.c): 32, or index_head_dim when 32 does not
 * divide it; 0 unless compute.indexer is fp4. */
u64 csa_index_qblk(const model_spec *m, const attn_cfg *a);
/* q path, the shared KV head, grouped output, sink; attention over `pairs`. */
void v4_core_cost(const cost_ctx *c, const layer_spec *l, cost_t *o, u64 pairs);
/* A learned-pooling compressor: coff*width outputs of kv and of gate per
 * token, blocks of m tokens (coff = 2: overlapping 2m-token pooling). */
void v4_compressor_cost(const cost_ctx *c, cost_t *o, u64 m, u64 coff, u64 width, u64 rope);
/* Cache traffic of a compressing V4 layer (csa, hca) from its size table,
 * whose rows are: ncmp compressed buffers (buffer k: vis[k] rows read this
 * step, the entries formed written), the window (win rows read, 1 written),
 * then the compressors' states (1 row written; forming an entry reads its
 * coff m pending rows). Returns SIM_OK or the size table's error (in e). */
int v4_cache_traffic(const cost_ctx *c, const layer_spec *l, cost_t *o, int ncmp, const u64 *vis, u64 win, u64 coff,
                     sim_err *e);
/* Cache rows of the window branch and a compressor's tail state. */
int v4_window_buf(const layer_spec *l, u64 T, kv_buf *b, sim_err *e);
int v4_state_buf(const layer_spec *l, const char *name, u64 T, u64 m, u64 coff, u64 width, kv_buf *b, sim_err *e);
