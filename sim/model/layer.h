/* layer.h - the registry of layer component types (attention, FFN, residual).
 *
 * Each type lives in its own file, sim/<cat>_<name>.c, whose only public symbol
 * is a `const comp_type` describing it: its YAML fields (with units and ranges),
 * a consistency check, its cache size table and its cost function.
 *
 * Adding a type:
 *   1. write sim/attn_foo.c ending in `const comp_type comp_attn_foo = {...};`
 *   2. add `&comp_attn_foo` to comp_registry[] in sim/layer.c
 *   3. add its golden-value tests to tests/test_cost.c
 *   4. write its reference kernel, sim/ref_foo.c ending in
 *      `const ref_ops ref_ops_foo = {...};`, point the type's `ref` at it and
 *      add a tiny spec to archs/tiny/ (`kvsim validate` must pass on it)
 */
#ifndef LAYER_H
#define LAYER_H

#include "spec.h"
#include "cost.h"
#include <stddef.h>

typedef enum { COMP_ATTN, COMP_FFN, COMP_RES } comp_cat;
/* F_CHOICE: one of the '|'-separated names in the field's `unit` (e.g.
 * "auto|absorbed|expanded"), stored as its index in a u64. */
typedef enum { F_U64, F_BOOL, F_FMT, F_CHOICE } field_kind;

typedef struct {
    const char *key;      /* YAML key */
    field_kind kind;
    size_t off;           /* offsetof in attn_cfg / ffn_cfg / res_cfg */
    u64 min, max;         /* accepted range (F_U64) */
    bool required;
    const char *unit;     /* "tokens", "heads", "elements", ... */
    const char *help;
} field_def;

typedef struct comp_type {
    const char *name;     /* YAML `type:` value, e.g. "mla" */
    comp_cat cat;
    const char *summary;  /* one line for `kvsim help spec` */
    const field_def *fields;  /* terminated by {0} */
    /* Cross-field checks (divisibility, required combinations). */
    int (*check)(const model_spec *m, const layer_spec *l, sim_err *e);
    /* Per-sequence cache buffers after T tokens (attention only). */
    int (*kv_table)(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e);
    /* Add this component's cost for one layer to o. */
    void (*cost)(const cost_ctx *c, const layer_spec *l, int layer, cost_t *o);
    /* Its reference implementation (ref.h; sim/ref_<name>.c). */
    const struct ref_ops *ref;
} comp_type;

extern const comp_type *const comp_registry[];

/* The reference implementations the types point to (sim/ref_*.c). */
struct ref_ops;
extern const struct ref_ops ref_ops_gqa, ref_ops_mla, ref_ops_dsa, ref_ops_csa, ref_ops_hca, ref_ops_swa4,
    ref_ops_cca, ref_ops_ffn_none, ref_ops_ffn_dense, ref_ops_ffn_moe, ref_ops_res_plain, ref_ops_res_mhc;
extern const int comp_registry_count;

/* Find a type by category and name; NULL if unknown. */
const comp_type *comp_find(comp_cat cat, const char *name);

/* "gqa, mla, ..." for error messages. */
void comp_names(comp_cat cat, char *buf, size_t len);

#endif

/* Field-table helpers for the component files. */
#define AFIELD(k, kind, f, lo, hi, req, unit, help) {k, kind, offsetof(attn_cfg, f), lo, hi, req, unit, help}
#define FFIELD(k, kind, f, lo, hi, req, unit, help) {k, kind, offsetof(ffn_cfg, f), lo, hi, req, unit, help}
#define RFIELD(k, kind, f, lo, hi, req, unit, help) {k, kind, offsetof(res_cfg, f), lo, hi, req, unit, help}
#define DIM_MAX   (1u << 20)   /* widths and dims, elements */
#define HEADS_MAX (1u << 16)
#define TOK_MAX   (1ull << 40) /* windows and top-k, tokens */

/* Shared pieces used by several attention files (attn_common.c). */
u64 attn_vdim(const attn_cfg *a);                 /* v_head_dim or head_dim */
/* The head checks every attention type with heads makes, in one message
 * form: kv_heads (when the type has them) divides q_heads; rope_dim (when
 * the type has a head_dim) fits in head_dim. SIM_EINVAL with the message. */
int attn_check_heads(const attn_cfg *a, sim_err *e);
/* Bytes of one entry of n elements in format f; 0 only if the spec check
 * failed (spec_load has already verified every entry). */
u64 attn_entry_bytes(const fmt *f, u64 n);
/* Record a cache: kv_bytes (after T), reads and writes for this step, given
 * the per-sequence rows read (decode) and rows written (decode). Prefill
 * writes what the cache holds and reads nothing from it (fused kernels). */
void attn_cache_traffic(const cost_ctx *c, cost_t *o, u64 held_rows, u64 row_bytes,
                        u64 read_rows, u64 new_rows, bool shared);

/* Per-layer embeddings (ple.c): the gated per-layer update inside layer i. */
void ple_layer_cost(const cost_ctx *c, const layer_spec *l, int layer, cost_t *o);
/* The model-level part: table lookup and the projection into L*p. */
void ple_model_cost(const cost_ctx *c, cost_t *o);

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

/* DeepSeek V4 pieces shared by csa, hca and swa4 (attn_v4.c). */
#define V4_COMMON_FIELDS \
    AFIELD("q_heads", F_U64, q_heads, 1, HEADS_MAX, true, "heads", "query heads"), \
    AFIELD("head_dim", F_U64, head_dim, 1, DIM_MAX, true, "elements", "dim of the single shared KV head (key = value)"), \
    AFIELD("rope_dim", F_U64, rope_dim, 0, DIM_MAX, true, "elements", "rotated dims (last of each head)"), \
    AFIELD("q_lora_rank", F_U64, q_lora_rank, 1, DIM_MAX, true, "elements", "query down-projection rank"), \
    AFIELD("o_groups", F_U64, o_groups, 1, HEADS_MAX, true, "groups", "grouped output projection groups; divides q_heads"), \
    AFIELD("o_lora_rank", F_U64, o_lora_rank, 1, DIM_MAX, true, "elements", "per-group output intermediate dim"), \
    AFIELD("window", F_U64, window, 1, TOK_MAX, true, "tokens", "sliding-window branch (uncompressed entries)"), \
    AFIELD("kv_format", F_FMT, kv_fmt, 0, 0, false, "format", "main cache entry format (default: kv_dtype)")
int v4_check(const model_spec *m, const layer_spec *l, sim_err *e);
/* q path, the shared KV head, grouped output, sink; attention over `pairs`. */
void v4_core_cost(const cost_ctx *c, const layer_spec *l, cost_t *o, u64 pairs);
/* A learned-pooling compressor: coff*width outputs of kv and of gate per
 * token, blocks of m tokens (coff = 2: overlapping 2m-token pooling). */
void v4_compressor_cost(const cost_ctx *c, cost_t *o, u64 m, u64 coff, u64 width, u64 rope);
/* Cache traffic of a compressing V4 layer (csa, hca) from its size table,
 * whose rows are: ncmp compressed buffers (buffer k: vis[k] rows read this
 * step, the entries formed written), the window (win rows read, 1 written),
 * then the compressors' states (1 row written; forming an entry reads its
 * coff m pending rows). Returns SIM_OK or the size table's error. */
int v4_cache_traffic(const cost_ctx *c, const layer_spec *l, cost_t *o, int ncmp, const u64 *vis, u64 win, u64 coff);
/* Cache rows of the window branch and a compressor's tail state. */
int v4_window_buf(const layer_spec *l, u64 T, kv_buf *b, sim_err *e);
int v4_state_buf(const layer_spec *l, const char *name, u64 T, u64 m, u64 coff, u64 width, kv_buf *b, sim_err *e);
