/* cost.h - the exact analytical cost model.
 *
 * For a loaded spec, a context T, a batch B and a phase, cost_eval fills one
 * cost_t per layer plus model-level rows (embeddings, PLE, head) and totals.
 * Every count is an exact u64 (FP8-equivalent FLOPs x2: u128); a count that
 * exceeds 2^64-1 makes cost_eval return SIM_ERANGE naming the metric.
 *
 * Phases (DESIGN.md section 5):
 *   prefill - T prompt tokens per sequence from an empty cache, causal with the
 *             diagonal (query u sees u tokens); `noncausal` makes attention
 *             bidirectional (peer tools' convention): a global query sees all
 *             T tokens, a sliding window of W the keys within W-1 on either
 *             side (up to 2W-1), compressed entries every complete block,
 *             top-k selections min(T, k) entries.
 *   decode  - one new token per sequence with T tokens already cached; it sees
 *             T+1 tokens (the cache plus itself). kv_bytes = the cache of T tokens.
 *
 *   cost_query q = {.T = 1 << 20, .B = 1, .phase = PH_DECODE};
 *   cost_result r;
 *   if (cost_eval(&m, &q, &r, &e) == SIM_OK) printf("%llu\n", r.total.kv_bytes);
 *   cost_result_free(&r);
 */
#ifndef COST_H
#define COST_H

#include "spec.h"

typedef enum { PH_PREFILL, PH_DECODE } phase;

typedef struct {
    u64 T;            /* context tokens per sequence */
    u64 B;            /* sequences in the batch */
    phase phase;
    bool noncausal;   /* prefill only: bidirectional; a global layer's query
                         sees all T tokens, a window's |u - v| < W (up to 2W-1) */
    u64 page;         /* >1: round every cache buffer up to whole pages of this
                         many entries (an engine's block size); 0/1: logical */
    u64 mtp;          /* decode only, a spec with `mtp:`: speculative decoding
                         with this many draft tokens per step (0: none); see
                         cost_eval */
    bool rows_only;   /* the by-type rows and totals only: r->n_layers = 0 and
                         r->layer NULL (a sweep's need; saves copying one
                         cost_t per layer and, up to 64 layers, the allocation) */
} cost_query;

/* FLOP categories (DESIGN.md section 5). */
typedef enum {
    FL_PROJ,      /* attention projections (q, k, v, o, low-rank, absorbed) */
    FL_ATTN,      /* attention scores (QK) + weighted values (AV) */
    FL_INDEX,     /* lightning indexer: projections and scores */
    FL_COMPRESS,  /* KV compressors: projections and pooling */
    FL_FFN,       /* dense FFN, experts, router */
    FL_MHC,       /* hyper-connection projections, Sinkhorn, mixing */
    FL_OTHER,     /* norms, softmax, activations, RoPE, PLE, head logits */
    FL_COUNT
} flop_cat;
extern const char *const flop_cat_name[FL_COUNT];

typedef struct {
    u64 flops[FL_COUNT];  /* FLOPs by category (multiply-add = 2) */
    u128 flops_fp8eq_x2;  /* FP8-equivalent FLOPs times 2, exact in 128 bits
                             (see dtype.c; print with cost_fp8eq_str) */
    u64 flops_dt[DT_COUNT]; /* the same FLOPs by compute dtype (rooflines) */
    u64 kv_bytes;         /* persistent cache after T tokens, whole batch */
    u64 kv_read_bytes;    /* cache bytes read this step */
    u64 kv_written_bytes; /* cache bytes written this step */
    u64 weight_read_bytes;/* weight bytes read this step (active experts only) */
    u64 act_bytes;        /* activations crossing sublayer boundaries */
    u64 params;           /* parameters stored */
    u64 params_active;    /* parameters used per token */
    u64 params_embed;     /* of params: embedding and PLE tables */
    u64 weight_bytes;     /* storage of all parameters in their formats */
} cost_t;

/* Per-sequence cache buffers of one layer: the single size table the cost
 * model and the reference kernels share. */
typedef struct {
    const char *name;     /* "kv", "window", "index", "state", ... */
    u64 entries;          /* rows held after T tokens */
    u64 entry_bytes;      /* bytes per row */
} kv_buf;
#define KV_MAX_BUFS 6

typedef struct cost_ops cost_ops;   /* an operation list (time.h), or none */

typedef struct {
    const model_spec *m;
    cost_query q;
    u64 ntok;             /* tokens processed this step over the batch: B*T or B */
    bool *ovf;            /* sticky overflow flag */
    const cost_wrate *wrate; /* WC_COUNT prepared formats (the spec's plan,
                             or cost_eval's own); NULL: cc_rate_bytes walks
                             the formats (fmt_rate_bytes) */
    cost_ops *ops;        /* when set, the cc_* helpers append each operation
                             they count (time.h); NULL = off, no cost */
} cost_ctx;

typedef struct {
    char name[48];        /* layer type name (kind, "/shared") or model part */
    int layers;           /* layers in this row */
    cost_t c;
} cost_row;

typedef struct {
    int n_layers;
    cost_t *layer;        /* n_layers per-layer costs (owned) */
    int n_types;
    cost_row type[SPEC_MAX_KINDS * 2 + 4]; /* by type, then "embed", "head", ... */
    cost_t total;
} cost_result;

int cost_eval(const model_spec *m, const cost_query *q, cost_result *r, sim_err *e);

/* A weight class's format prepared once (spec_plan does it for the spec);
 * cost_wrate_bytes(w, n) == fmt_rate_bytes(f, n) (below, inline). */
int cost_wrate_prep(cost_wrate *w, const fmt *f);
void cost_result_free(cost_result *r);

/* The stored parameters and bytes of one MTP module (its layer, eh_proj and
 * norms), which do not depend on the context, batch or phase: spec_plan
 * keeps them in the plan. SIM_EINVAL when the spec has no MTP module or
 * they cannot be counted (the evaluation then counts them itself). */
int cost_mtp_stored(const model_spec *m, u64 *params, u64 *weight_bytes);

/* The cache size table of layer i at T tokens (per sequence): fills up to
 * KV_MAX_BUFS rows and returns how many, or a negative SIM_E* code. */
int cost_kv_table(const model_spec *m, int i, u64 T, kv_buf *bufs, sim_err *e);

/* The longest context whose cache for B sequences fits budget_bytes after the
 * stored weights (binary search up to 2^40 tokens); 0 when the weights alone
 * do not fit. Can't fail (an evaluation error counts as not fitting). */
u64 cost_fit_ctx(const model_spec *m, u64 B, double budget_bytes);

/* a += b * k, every field (a row made of k identical layers, or k = 1 to
 * sum rows). Sets *ovf instead of wrapping. */
void cost_add(bool *ovf, cost_t *a, const cost_t *b, u64 k);
/* All FLOPs of c (the categories summed). Can't fail (saturates). */
u64 cost_flops(const cost_t *c);
/* Bytes moved = weights read + KV read + KV written + activations. Can't fail (saturates). */
u64 cost_bytes_moved(const cost_t *c);

/* FP8-equivalent total as exact decimal digits ("123" or "123.5"; up to 39
 * digits: it may exceed 2^64-1). This function can't fail (truncates to len). */
void cost_fp8eq_str(const cost_t *c, char *buf, size_t len);

/* ---- helpers for component cost functions ------------------------------ */
/* cc_flops, cc_weights and cc_rate_bytes are inline: an evaluation calls
 * them about 150 times, and inlined, each call site folds its constant
 * class, copies and activity (a tenth of an evaluation's instructions). */

/* The operation list's hooks (ops.h), called when c->ops is set. */
void cost_ops_weights(const cost_ctx *c, wclass wc, u64 params, u64 bytes_read);
void cost_ops_shape(const cost_ctx *c, u64 K, u64 N, u64 count);
void cost_ops_fused(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops);
void cost_ops_vec(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops);
void cost_ops_flops(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops);

/* Add n FLOPs of category cat executed in dtype dt. */
/* The counters n FLOPs of category cat in dtype dt add to (cc_flops,
 * cc_flops_fused). */
static inline void cc_count_flops(const cost_ctx *c, cost_t *o, flop_cat cat, dtype dt, u64 n)
{
    o->flops[cat] = cadd(c->ovf, o->flops[cat], n);
    o->flops_dt[dt] = cadd(c->ovf, o->flops_dt[dt], n);
    o->flops_fp8eq_x2 = cadd128(c->ovf, o->flops_fp8eq_x2, (u128)n * dtype_table[dt].fp8eq_half);
}

static inline void cc_flops(const cost_ctx *c, cost_t *o, flop_cat cat, dtype dt, u64 n)
{
    cc_count_flops(c, o, cat, dt, n);
    if (c->ops) cost_ops_flops(c, cat, dt, n);
}

/* FLOPs the attention kernels run inside their tiles (the softmax of the
 * scores): counted as cc_flops counts them; in the time model's list
 * (cost_ops_fused) priced with the attention they belong to when its
 * curve, measured on the fused kernel, is there. */
static inline void cc_flops_fused(const cost_ctx *c, cost_t *o, flop_cat cat, dtype dt, u64 n)
{
    cc_count_flops(c, o, cat, dt, n);
    if (c->ops) cost_ops_fused(c, cat, dt, n);
}

/* FLOPs of an element-wise pass the spec runs in a product dtype (the
 * indexers' Hadamard rotation, bf16 in the releases): counted as cc_flops
 * counts them; in the time model's list an element-wise operation
 * (cost_ops_vec), not a product: a butterfly over a row reuses nothing. */
static inline void cc_flops_vec(const cost_ctx *c, cost_t *o, flop_cat cat, dtype dt, u64 n)
{
    cc_count_flops(c, o, cat, dt, n);
    if (c->ops) cost_ops_vec(c, cat, dt, n);
}

/* ceil(a / 8) for a bit count. */
static inline u64 cost_bits_to_bytes(u64 a) { return (a >> 3) + ((a & 7) != 0); }

static inline u64 cost_wrate_bytes(const cost_wrate *w, u64 n, bool *ovf)
{
    if (w->fixed) {
        /* ceil(n eb / fixed), as fmt_rate_bytes: 64 bits when it fits, else 128. */
        u64 p64;
        if (!__builtin_mul_overflow(n, w->eb, &p64)) {
            if (w->fixed_shift >= 0) return (p64 >> w->fixed_shift) + ((p64 & (w->fixed - 1)) != 0);
            return p64 / w->fixed + (p64 % w->fixed != 0);
        }
        u128 p = (u128)n * w->eb;
        u128 q = p / w->fixed + (p % w->fixed != 0);
        if (q > UINT64_MAX) { *ovf = true; return UINT64_MAX; }
        return (u64)q;
    }
    u64 b = cost_bits_to_bytes(cmul(ovf, n, w->bits));
    if (w->scaled) {
        u64 blocks = w->block_shift >= 0 ? (n >> w->block_shift) + ((n & (w->block - 1)) != 0)
                                         : n / w->block + (n % w->block != 0);
        b = cadd(ovf, b, cost_bits_to_bytes(cmul(ovf, blocks, w->sbits)));
    }
    return b;
}

/* Bytes of n parameters stored in class wc (fmt_rate_bytes of its format,
 * through the prepared rate when there is one). */
static inline u64 cc_rate_bytes(const cost_ctx *c, wclass wc, u64 n)
{
    return c->wrate ? cost_wrate_bytes(&c->wrate[wc], n, c->ovf) : fmt_rate_bytes(&c->m->weight[wc], n, c->ovf);
}

/* The next cc_weights holds `count` products of K inputs and N outputs
 * (ops.h cost_ops_shape: the time model's operation list only). */
static inline void cc_shape(const cost_ctx *c, u64 K, u64 N, u64 count)
{
    if (c->ops) cost_ops_shape(c, K, N, count);
}

/* Add a weight tensor of n parameters in class wc; `reads` = how many times
 * per step its bytes are read (1, or 0 for an unused expert); `active` =
 * whether it counts toward active parameters per token. */
static inline void cc_weights(const cost_ctx *c, cost_t *o, wclass wc, u64 n, u64 copies_read, bool active)
{
    u64 stored = cc_rate_bytes(c, wc, n), read = 0;
    if (copies_read) read = copies_read == 1 ? stored : cc_rate_bytes(c, wc, cmul(c->ovf, n, copies_read));
    o->params = cadd(c->ovf, o->params, n);
    o->weight_bytes = cadd(c->ovf, o->weight_bytes, stored);
    if (active) o->params_active = cadd(c->ovf, o->params_active, n);
    if (copies_read) o->weight_read_bytes = cadd(c->ovf, o->weight_read_bytes, read);
    if (c->ops) cost_ops_weights(c, wc, n, read);
}
/* (Query, key) pairs of a sliding window W (0: global) this step, per
 * sequence: causal sum_u min(u, W); decode min(T+1, W); non-causal prefill
 * the symmetric window |u - v| < W, up to 2W-1 keys per query
 * (2 sum_u min(u, W) - T; T^2 when W = 0 or W >= T). */
u64 cc_span_window(const cost_ctx *c, u64 W);
/* Pairs when each query attends to at most k of the keys it may see
 * (DSA's top-k): causal sum_u min(u, k), decode min(T+1, k), non-causal
 * prefill T min(T, k) (every query may see all T). */
u64 cc_span_topk(const cost_ctx *c, u64 k);
/* Sum over this step's queries of min(k, floor(u / m)) (k = 0: no cap). */
u64 cc_span_compressed(const cost_ctx *c, u64 m, u64 k);
/* Compressed entries formed this step per sequence (prefill floor(T/m);
 * decode 1 when token T+1 completes a block). */
u64 cc_blocks_formed(const cost_ctx *c, u64 m);
/* Queries this step per sequence (T or 1). */
u64 cc_queries(const cost_ctx *c);
/* Element-wise conventions, in FLOPs per element (shared with the kernels). */
#define FLOPS_RMSNORM   4   /* square, sum, scale, weight */
#define FLOPS_SOFTMAX   5   /* max, subtract, exp, sum, divide */
#define FLOPS_ACT       5   /* gated activation: silu/gelu (4) + gate multiply (1) */
#define FLOPS_ROPE      3   /* per rotated element: 2 mul + 1 add of a pair, halved */
#define FLOPS_ADD       1
#define FLOPS_SIGMOID   4   /* negate, exp, add, divide */

#endif
