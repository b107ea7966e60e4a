/* ops.h - the operation list of one cost evaluation (issue 14, the time model).
 *
 * cost_eval_ops(m, q, &r, &ops, &e) records, besides the counts, every
 * operation the cost helpers count: a weight read (cc_weights), a FLOP count
 * (cc_flops) and, per computed layer, its cache and activation traffic. A
 * FLOP count that is exactly 2 x tokens x the parameters of the weight read
 * just before it is that weight's matrix product: the two become one GEMM
 * operation of shape M = tokens, N x K = parameters (both counts kept), so
 * the time model can call it compute- or memory-bound. Layers that cost the
 * same as an earlier one are not re-recorded: ops.uses[layer] counts them.
 * Pairing looks back over the layer's unpaired weight reads: one whose
 * product it is, else the run of its latest non-small ones (a layer reads
 * q, k, v and o, then counts one product of them all). Attention FLOPs are a
 * product of M = tokens x the query heads that share one K/V head (GQA's
 * group, MQA / absorbed MLA / V4: every head; the indexer's heads for its
 * scores) against the cache, and carry the layer's cache read bytes (the
 * operand they stream): compute- or memory-bound on their own.
 * Every operation names its row of the cost_result (cost_ops.lrow for a
 * layer's, op.row for a model part's: embed, ple, head), so the time model
 * can give per-layer and per-type times (tm_rows).
 * Off (ops NULL, cost_eval) the helpers test one pointer and record nothing.
 *
 *   cost_ops ops = {0};
 *   if (cost_eval_ops(&m, &q, &r, &ops, &e) == SIM_OK) ... ops.op[0..ops.n) ...
 *   cost_ops_free(&ops);
 */
#ifndef OPS_H
#define OPS_H

#include "cost.h"

typedef enum {
    OP_GEMM,      /* a weight's matrix product: flops and the weight bytes */
    OP_FLOPS,     /* FLOPs with no weight of their own (attention scores, ...) */
    OP_ELEM,      /* element-wise FLOPs (category "other": norms, softmax, ...) */
    OP_WEIGHTS,   /* weight bytes read with no matching product (experts, ...) */
    OP_TRAFFIC,   /* a layer's cache and activation bytes */
    OP_KIND_COUNT
} op_kind;
extern const char *const op_kind_name[OP_KIND_COUNT];

/* The prefill attention kernels the time model has curves for (cost_op.akind). */
enum { TM_ACAUSAL, TM_AWINDOW, TM_AGATHER };

typedef struct {
    op_kind kind;
    flop_cat cat;         /* OP_GEMM / OP_FLOPS / OP_ELEM */
    dtype dt;             /* compute dtype (FLOP ops) */
    wclass wc;            /* OP_WEIGHTS: the weight's storage class */
    bool paired;          /* OP_WEIGHTS folded into a GEMM (internal) */
    bool experts;         /* OP_GEMM: an MoE layer's expert products (ops.c experts_op) */
    bool decode;          /* recorded in a decode step (attention: wdt = its cache's element dtype) */
    int akind;            /* attention (and its fused softmax): TM_ACAUSAL, TM_AWINDOW (a sliding window),
                             TM_AGATHER (top-k picked rows: a sparse indexer's layer, DSA, CSA) */
    bool fused;           /* OP_ELEM inside the attention kernel (cost_ops_fused) */
    u64 cand, queries;    /* a sparse indexer's scores (OP_FLOPS, FL_INDEX): candidates scored, queries selecting
                             top-k among them; heads = index_heads */
    u64 heads;
    u64 width;            /* a sparse indexer's scores: elements of a candidate's key row (index_head_dim), held
                             in wdt (its index format's first part); a decode decodes every candidate's row */
    int layer;            /* the layer that recorded it; -1 = model parts */
    int row;              /* model parts: the cost_result row (embed, head, ...); -1 for a layer's */
    u64 flops;
    u64 bytes;            /* bytes moved (weights read; cache + activations; OP_FLOPS: the cache read) */
    u64 M, NK;            /* OP_GEMM: tokens x parameters; OP_FLOPS: M = rows sharing the operand; OP_ELEM: tokens */
    dtype wdt;            /* OP_GEMM, OP_WEIGHTS: the weight's stored element dtype (its format's first part) */
    u64 calls;            /* OP_GEMM: the products folded into it (q, k, v, o; each expert's matrices); NK is their sum */
    u64 S;                /* OP_GEMM: a product's short side min(N, K), taken as min(d_model, its parameters / d_model)
                             (nearly every weight has d_model as one side) */
    u64 K;                /* OP_GEMM: a named product's dot length (its inputs, cost_ops_shape); 0: not known */
} cost_op;

#define OPS_MAX_SHAPES 24   /* products one weight record may name (V4's wo_a: o_groups blocks, up to 16) */

struct cost_ops {
    cost_op *op;
    int n, cap;
    int layer;            /* layer being recorded (-1: model parts) */
    int uses[SPEC_MAX_LAYERS];  /* times each recorded layer counts in the step */
    int root[SPEC_MAX_LAYERS];  /* the recorded layer whose operations layer i repeats (i itself when recorded) */
    int lrow[SPEC_MAX_LAYERS];  /* layer i's cost_result row (its type) */
    const layer_spec *cur;      /* the layer being recorded (NULL: model parts) */
    int part;                   /* the model part being recorded: its row, -1 = none */
    u64 layer_wbytes;     /* weight bytes the helpers recorded for this layer */
    bool nomem;           /* an append failed: the list is incomplete */
    u64 d_model;          /* the model's width (short sides of folded products) */
    u64 shape[OPS_MAX_SHAPES][2];   /* products [K, N] the next weight read holds (cost_ops_shape) */
    int nshape;
};

/* Recorders (cost.c calls them when ctx->ops is set). */
void cost_ops_begin(cost_ops *o);
void cost_ops_layer(cost_ops *o, int layer, const layer_spec *L, int row);
void cost_ops_repeat(cost_ops *o, int root, int layer, int row);
/* Model parts: the operations that follow belong to row `row`; after the
 * part, cost_ops_part_done records what the row gained beyond them (its
 * activations, embedding rows read) from its counts before (`was`) and after. */
void cost_ops_part(cost_ops *o, int row);
void cost_ops_part_done(cost_ops *o, const cost_t *was, const cost_t *now);
void cost_ops_weights(const cost_ctx *c, wclass wc, u64 params, u64 bytes_read);
/* The next cost_ops_weights holds a product of K inputs and N outputs
 * (count times): when the shapes named before it sum to its parameters it
 * becomes one weight read per product, each with its own short side, and
 * the product FLOPs pair with each (a layer's wq, wkv, wo recorded as one
 * tensor otherwise pair as one folded product with an average short side,
 * or not at all). Named shapes that do not sum to the read are dropped. */
void cost_ops_shape(const cost_ctx *c, u64 K, u64 N, u64 count);
/* Element-wise FLOPs fused into the layer's attention kernel (its softmax):
 * an OP_ELEM marked fused, no time of its own when the attention's curve
 * (tm_curves attn_decode, attn_causal / attn_gather) covers the kernel. */
void cost_ops_fused(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops);
void cost_ops_vec(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops);
void cost_ops_flops(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops);
/* After a layer: its cache + activation bytes as one traffic operation,
 * and weight bytes counted without cc_weights (e.g. experts) as a weights
 * operation. */
void cost_ops_traffic(cost_ops *o, const cost_t *layer);
/* After the model parts: what the totals hold beyond the recorded
 * operations (embedding rows, logits) as model-part operations, so the
 * list's FLOPs, weight bytes and traffic sum to the totals exactly. */
void cost_ops_finish(cost_ops *o, const cost_t *total);
void cost_ops_free(cost_ops *o);

int cost_eval_ops(const model_spec *m, const cost_query *q, cost_result *r, cost_ops *ops, sim_err *e);

#endif
