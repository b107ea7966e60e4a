/* ref.h - reference forward passes: small, real CPU executions of a spec's
 * layer stack whose own counters must equal the analytical model (cost.h).
 *
 * A ref_model holds fp32 weights drawn from a seeded GSL RNG (each tensor from
 * its own stream, keyed by (seed, layer, name): same seed, same bits, and a
 * tensor's values do not depend on which other tensors exist), the caches
 * of every layer allocated from cost_kv_table (the size table the analytical
 * model uses) and stored in their real entry formats (quant.h), and per-layer
 * counters in a cost_t gathered by the kernels as they execute (kern.h).
 *
 *   ref_model M;
 *   if (ref_init(&M, &spec, 42, NULL, &e)) die(e.msg);
 *   ref_run(&M, tokens, T, &e);          // prefill of T tokens (empty cache)
 *   ref_run(&M, tokens + T, 1, &e);      // one decode step at context T
 *   cost_result r; ref_result(&M, &r, &e);   // same rows as cost_eval
 *   ... M.logits[0 .. vocab) ...
 *   cost_result_free(&r); ref_free(&M);
 *
 * What is executed is what the cost model counts (the conventions are listed
 * in each ref_<type>.c and in README.md, "What run and validate prove").
 * Positions are 0-based; a query at position t sees keys t-W+1 .. t (W the
 * window, 0 = all); with opt.noncausal a prefill is bidirectional (keys
 * with |t - v| < W; compressed entries and top-k over the whole step).
 * RoPE rotates pairs (x[i], x[i + r/2]) of the first r dims (V4: the last r
 * dims) with the spec's `rope:` base and scaling, a kind's own base
 * (rope_theta) and Gemma 4's proportional layout (kern.h); RMSNorms use the
 * spec's norm_eps.
 */
#ifndef REF_H
#define REF_H

#include "cost.h"
#include "kern.h"
#include "kern_wq.h"
#include "layer.h"
#include <stdint.h>

struct ref_model;

/* One weight tensor: rows x cols values (row-major, y = x W), drawn in fp32
 * and rounded to its class's storage format (spec `weights:`). Held as the
 * format's bytes (q, data NULL): every class but `small`, unless the model
 * runs with opt.weights_fp32 (the naive twin: the same values held as
 * floats, products through BLAS). `small` tensors (norms, biases, sinks,
 * the mHC and compressor vectors, used element by element) are held as the
 * floats of their rounded values. Read stored weights through ref_mm,
 * ref_mm_at and ref_w_rows; data only when not stored. */
typedef struct {
    char name[32];
    wclass wc;            /* storage class: its format prices the bytes read */
    bool embed;           /* an embedding / PLE table (params_embed) */
    u64 rows, cols;
    float *data;          /* rows*cols floats (owned), or NULL when stored */
    bool stored;          /* held in its format: q */
    bool colmajor;        /* q holds the tensor [cols, rows] (a linear weight held
                             [out, in], as Linear layers hold it: the input
                             dimension contiguous); else [rows, cols] (tables) */
    u64 nstack;           /* colmajor: q holds nstack blocks one after the other,
                             block b the logical rows b br .. b br + br - 1 (br =
                             rows / nstack) held [cols, br]: a stack of routed
                             experts, each expert's bytes contiguous. 1 otherwise */
    kern_wq q;            /* the format's bytes (owned) when stored */
    u64 stamp;            /* step in which its read was last counted */
} ref_w;

/* One cache buffer of a layer: a row of cost_kv_table. */
typedef struct {
    const char *name;     /* "kv", "window", "state", ... (from the table) */
    u64 entries;          /* rows allocated = the table's entries at the current T */
    u64 entry_bytes;      /* the table's bytes per row */
    u64 elems;            /* fp32 values a row holds (set by the attention type) */
    fmt f;                /* the row's storage format */
    uint8_t *data;        /* entries*entry_bytes (owned) */
} ref_cache;

/* A layer, or a model part ("embed", "ple", "head"): weights, caches, counters. */
typedef struct ref_layer {
    struct ref_model *M;
    int i;                /* layer index, -1 for a model part */
    const layer_spec *ls; /* NULL for a model part */
    ref_w **w;            /* registered weights (owned) */
    int nw, capw;
    cost_t c;             /* counters of the last step */
    u64 welems[WC_COUNT]; /* weight elements read in the last step, by class */
    u64 pelems[WC_COUNT]; /* weight elements stored, by class */
    u64 pembed;           /* of those, embedding / PLE table elements */
    bool is_source;       /* a later layer shares this layer's cache */
    double time_s;        /* wall time of the last step */
    double attn_time_s;   /* of which in the attention kernels (kern_attn_*) */
    double gemm_time_s;   /* of which in weight products (ref_mm_at: kern_wq_matmul, kern_matmul) */
    u64 gemm_calls;       /* the products (ref_mm_at calls) of the last step */
    u64 attn_read_bytes;  /* cache bytes those kernels decoded as they streamed */
    u64 attn_sel_pairs;   /* (query, row) pairs the blocked prefill computed (kern_attn_stats) */
    u64 attn_union_pairs; /* the pairs masked union tiles would have computed instead */
    int ncache;
    ref_cache kv[KV_MAX_BUFS];
    void *priv[3];        /* private state of the attention, FFN and residual types (owned) */
    kern_rope_cfg rope;   /* the layer's RoPE: the spec's rope, the kind's base
                             (rope_theta) and layout (rope_proportional) */
    float eps;            /* RMSNorm epsilon: the spec's norm_eps */
    bool ple_done;        /* the residual ran the PLE update of this step (ref_ple_update) */
    const float *x_raw;   /* plain residual: the stream before the sublayer's norm
                             (n x d), for an FFN that reads it (Gemma 4's MoE block) */
    float *share;         /* prefill only: rows x share_cols values this layer's
                             cache rows were made of, for layers that share it */
    u64 share_rows, share_cols;
} ref_layer;

/* The step being executed. */
typedef struct {
    phase ph;             /* PH_PREFILL (empty cache, n tokens) or PH_DECODE (n = 1) */
    u64 T0;               /* tokens cached before the step = position of the first token */
    u64 n;                /* tokens in this step */
    const int32_t *tok;   /* their ids */
} ref_step;

typedef enum { SUB_ATTN, SUB_FFN } ref_sub;

/* A component type's reference implementation: `ref_<cat>_<name>` in the
 * type's sim/layers/<name>_ref.c, listed by the kernels' table
 * (ref_table.c, generated from sim/layers/types.h). */
typedef struct ref_ops {
    /* Register weights and private state for layer L. */
    int (*init)(ref_layer *L, sim_err *e);
    /* Attention / FFN: y[n, d] = F(x[n, d]) for the step's tokens. */
    int (*forward)(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e);
    /* Residual: run the whole layer on the residual state X (n tokens x
     * streams x d), calling ref_sublayer for attention and FFN. */
    int (*layer)(ref_layer *L, const ref_step *s, float *X, sim_err *e);
    /* Free what init put in L->priv beyond the block itself (may be NULL). */
    void (*free)(ref_layer *L);
    /* A model-level part (PLE): its weights, its inputs for a step (x = the
     * embeddings), and its update of the residual X after each layer. */
    int (*model_init)(struct ref_model *M, sim_err *e);
    int (*model_forward)(struct ref_model *M, const ref_step *s, const float *x, sim_err *e);
    int (*post)(ref_layer *L, const ref_step *s, float *X, u64 stride_x, sim_err *e);
} ref_ops;

/* The reference kernel of a component type, or NULL when it has none. */
const ref_ops *ref_ops_for(const comp_type *t);

typedef struct {
    bool mla_expanded_decode;  /* MLA: decode in the expanded form (the invariant test) */
    bool csa_dense;            /* CSA: attend to every visible entry, no top-k (the invariant test) */
    bool trace;                /* keep named intermediate tensors of the last step */
    bool mhc_identity;         /* mHC: zero projections, post bias 0 (the n = 1 test) */
    bool noncausal;            /* prefills bidirectional (cost_query.noncausal): windows
                                  |t - v| < W, compressed entries and top-k over all T */
    bool weights_fp32;         /* hold every weight as floats (the rounded values) and
                                  multiply through BLAS: the naive twin of the stored
                                  weights (`run --weights fp32`) */
    bool mtp;                  /* run the MTP module after each step (`run --mtp`): it
                                  needs mtp_next; its logits in mtp_logits */
} ref_opts;

typedef struct {
    char name[48];
    int layer;
    u64 rows, cols;
    float *data;
} ref_trace_t;

typedef struct ref_model {
    const model_spec *m;
    u64 seed;
    ref_opts opt;
    u64 T;                /* tokens in the caches */
    u64 step_id;
    u64 streams;          /* residual streams: hc_streams or 1 */
    ref_layer *L;         /* m->n_layers */
    ref_layer embed, ple, head;
    ref_layer mtp;        /* the MTP module's weights (spec mtp_n > 0): held and
                             counted (x mtp_n), never run: speculative decoding
                             is priced by the model only */
    float *logits;        /* vocab values: the last token of the last step */
    const int32_t *mtp_next;  /* opt.mtp: the token after each of the step's tokens
                                 (n of them; the MTP module's input ids) */
    float *mtp_logits;    /* opt.mtp: the module's draft logits for the step's last token */
    float *ple_in;        /* PLE: n x (n_layers * ple_dim) inputs of the current step */
    float *eda;           /* ZAYA1 router MLPs: the last one's pre-norm state
                             (n x router_mlp) of this step, for the next (owned) */
    u64 eda_cap;          /* floats allocated in eda */
    u64 eda_step;         /* step_id that wrote eda (0: none yet) */
    void *arena;          /* scratch chunks in use (owned) */
    double gemm_s;        /* wall time in ref_mm_at since ref_init (per-layer split) */
    u64 gemm_calls;       /* ref_mm_at calls since ref_init */
    void *spare;          /* released chunks kept for reuse (owned) */
    ref_trace_t *tr;      /* traces of the last step (opt.trace) */
    int ntr, captr;
} ref_model;

/* Build the model: weights, empty caches. Returns SIM_OK, SIM_ENOMEM, or
 * SIM_EINVAL for a spec feature the reference kernels do not implement
 * (message says which). On failure nothing is left to free. */
int ref_init(ref_model *M, const model_spec *m, u64 seed, const ref_opts *o, sim_err *e);
void ref_free(ref_model *M);

/* Empty every cache (T = 0); weights stay. This function can't fail. */
void ref_reset(ref_model *M);

/* Run n tokens: a prefill when the cache is empty, else one decode step
 * (n must be 1). Counters and traces describe this step only. */
int ref_run(ref_model *M, const int32_t *tok, u64 n, sim_err *e);

/* The last step's counters in cost_eval's shape: per layer, by type rows
 * (same names and order rules) plus "embed", "ple", "head", and totals.
 * weight_read_bytes and weight_bytes are priced per weight class from the
 * elements actually read / stored. Free with cost_result_free. */
int ref_result(const ref_model *M, cost_result *r, sim_err *e);

/* Wall time of the last step for the layers of by-type row `name`, and in all. */
double ref_type_time(const ref_model *M, const char *name);
double ref_time_total(const ref_model *M);
/* Time in the attention kernels and the cache bytes they streamed, in the
 * last step, for the layers of by-type row `name`. This function can't fail. */
void ref_type_attn(const ref_model *M, const char *name, double *seconds, u64 *bytes);
/* Wall time of the last step's weight products (ref_mm_at) in the layers
 * of by-type row `name`. */
double ref_type_gemm(const ref_model *M, const char *name);
/* Evict the model's data from every cache level: each weight's bytes and
 * each cache buffer's rows (x86 clflush; a no-op elsewhere). The next step
 * reads its weights and cache from memory while its code, page tables and
 * threads stay warm, as in a step of a model far larger than the caches
 * (make bench's decode points; the probe evicts its operands alike). This
 * function can't fail. */
void ref_evict(const ref_model *M);
/* Row `slot` of the ref_cache ctx decoded into out (its elems floats), the
 * row after next prefetched: the kern_src decode of a layer's cache rows
 * (ref_kv_src), and of the probe's (probe_curves.c). Thread-safe; this
 * function can't fail. */
void ref_cache_decode_row(const void *ctx, u64 slot, float *out);
/* The blocked prefill's pairs (kern_attn_stats' gather_selected and
 * gather_union) in the last step, for the layers of row `name`. */
void ref_type_gather(const ref_model *M, const char *name, u64 *selected, u64 *uni);

/* ---- for the component files ------------------------------------------ */

/* Register a weight: values mean + spread * U(-1, 1) from the tensor's own
 * stream. Counts params (and params_embed). NULL on allocation failure. */
ref_w *ref_weight(ref_layer *L, const char *name, wclass wc, u64 rows, u64 cols, float mean, float spread);
/* The same for nstack tensors of rows / nstack rows stacked along the rows
 * (the routed experts' [E d, f] and [E f, d]; nstack divides rows): the
 * values ref_weight gives the [rows, cols] tensor, each stacked tensor held
 * contiguously (ref_w.nstack), so that a product with one of them streams
 * its own bytes; held unstacked (nstack 1) when the format's scale block
 * does not divide rows / nstack, where stacking would change rounded
 * values (ref.c). */
ref_w *ref_weight_stacked(ref_layer *L, const char *name, wclass wc, u64 rows, u64 cols, u64 nstack, float mean,
                          float spread);
/* Find a registered weight by name (NULL if absent). */
ref_w *ref_weight_find(const ref_layer *L, const char *name);
/* Count a weight's elements as read in this step (once per step). */
void ref_read(ref_layer *L, ref_w *w);
/* y[n, W.cols] (+)= x[n, W.rows] . W: counts 2 n rows cols FLOPs of
 * (cat, dt) and reads W. */
void ref_mm(ref_layer *L, flop_cat cat, dtype dt, ref_w *W, const float *x, u64 n, float *y, bool acc);
/* y[n, N] (ldy) (+)= x[n, K] (ldx) . B where B is the block of W whose
 * element (k, j) is W's flat element off + k ld + j (transB: off + j ld + k):
 * a slice of a tensor (an expert, a head's columns; of a stacked tensor,
 * within one of its stacked tensors). Counts 2 n N K FLOPs;
 * the caller counts the weight read. kern_matmul on data, or
 * kern_wq_matmul on the stored bytes (workspace from the scratch arena). */
void ref_mm_at(ref_layer *L, flop_cat cat, dtype dt, const ref_w *W, u64 off, u64 ld, u64 K, u64 N, const float *x, u64 ldx,
               u64 n, float *y, u64 ldy, bool transB, bool acc);
/* Rows r0 .. r0+nr-1 of W as floats into out (nr x cols). Uncounted. */
void ref_w_rows(const ref_w *W, u64 r0, u64 nr, float *out);
/* Bytes W holds: its stored bytes, or 4 per float. */
u64 ref_w_bytes(const ref_w *W);
/* Bytes all of M's weights hold (layers, model parts, MTP), by class into
 * by_class[WC_COUNT] when not NULL. This function can't fail. */
u64 ref_weights_held(const ref_model *M);
u64 ref_weights_held_by(const ref_model *M, u64 *by_class);

/* Zeroed scratch memory that lives until ref_scratch_release(mark); NULL
 * only when memory runs out. */
void *ref_scratch(ref_model *M, u64 bytes);
typedef struct { void *chunk; u64 top; } ref_mark;
ref_mark ref_scratch_mark(ref_model *M);
void ref_scratch_release(ref_model *M, ref_mark mk);
#define REF_ALLOC(M, n, T) ((T *)ref_scratch((M), (u64)(n) * sizeof(T)))
/* The same, not zeroed: for kernel workspaces (a decode step would spend
 * tens of microseconds clearing them). */
void *ref_scratch_raw(ref_model *M, u64 bytes);
#define REF_WORK(M, n) ((float *)ref_scratch_raw((M), (u64)(n) * sizeof(float)))

/* Bind cache buffer k of L to a format holding `elems` values per row;
 * SIM_EINVAL if its bytes differ from the table's entry_bytes. */
int ref_cache_bind(ref_layer *L, int k, const fmt *f, u64 elems, sim_err *e);
/* Write row `slot` of buffer k from x[elems] (encoded in the row format)
 * and leave in x what the row now holds; counts entry_bytes written on L.
 * Rows are always encoded from unrounded values: a block-scaled format
 * re-encoding its own output can pick a different scale. */
void ref_kv_write(ref_layer *L, int k, u64 slot, float *x);
/* x := x rounded as buffer k would store it (for rows a prefill computes
 * but does not keep: a fused kernel attends to the stored form). Uncounted. */
void ref_kv_round(ref_layer *L, int k, float *x);
/* Decode row `slot` of buffer k of `owner` into x; counts entry_bytes read
 * on `reader` (a layer sharing owner's cache reads it on its own account). */
void ref_kv_read(ref_layer *reader, const ref_layer *owner, int k, u64 slot, float *x);
/* Slots slot0 .. slot0+n-1 of cache k into x [n, elems]: what n
 * ref_kv_read calls give and count, decoded on every thread (a decode's
 * indexer reads its whole key cache: one thread's row decodes were most of
 * V3.2's step at 16K). */
void ref_kv_read_rows(ref_layer *reader, const ref_layer *owner, int k, u64 slot0, u64 n, float *x);
/* A row source for the attention kernels (kern.h) over buffer k of owner's
 * cache: positions r0 .. r0+n-1 (idx NULL) or idx[0 .. n), each in slot
 * position mod ring (ring 0: the position), decoded from the stored bytes
 * as the kernel streams them. Counts n entry_bytes read on reader, as n
 * ref_kv_read calls would. */
void ref_kv_src(ref_layer *reader, const ref_layer *owner, int k, u64 ring, u64 r0, u64 n, const u64 *idx, kern_src *src);
/* The layer owning L's cache (itself, or its kv_from source). */
ref_layer *ref_owner(ref_layer *L);
/* Keep the prefill rows this layer's cache was made of, for sharing layers
 * (copied; no-op when no later layer shares this cache). */
int ref_share_keep(ref_layer *L, const float *rows, u64 n, u64 cols, sim_err *e);

/* The model's per-layer-embedding update of layer L on X (row stride
 * stride_x), if it has PLE: a residual type calls it where the released
 * model applies it (Gemma 4: after the FFN, before the layer scalar); else
 * ref_run applies it after the layer. */
int ref_ple_update(ref_layer *L, const ref_step *s, float *X, u64 stride_x, sim_err *e);
/* Key ranges [lo[t], hi[t]) of the n queries of a prefill (positions 0 ..
 * n-1) over the step's own rows, under a window W (0: global): causal
 * t-W+1 .. t; non-causal (opt.noncausal) |t - v| < W, up to 2W-1 keys, all
 * n when W = 0 (cost.h, cc_span_window). This function can't fail. */
void ref_window_bounds(const ref_model *M, u64 n, u64 W, u64 *lo, u64 *hi);
/* Store a prefill's rows [n, ld] in cache buffer k: the rows it holds at the
 * end (the last min(n, W), ring slot t mod W) are written, the others only
 * rounded to its format (a fused kernel attends to the stored form). */
void ref_window_store(ref_layer *L, int k, u64 n, u64 W, float *rows, u64 ld);
/* The prefill of a sliding-window (or global, W = 0) attention over the
 * step's rows: ref_window_store into buffer 0 and keep the rows for layers
 * sharing this cache (a layer sharing another's cache attends to its rows
 * instead), then query t of q attends to rows ref_window_bounds gives
 * (kern_attn_causal) into o. SIM_ENOMEM, or SIM_EINVAL if a shared layer's
 * source rows are missing. */
int ref_window_prefill(ref_layer *L, const kern_attn *ka, u64 n, u64 W, float *rows, u64 ld, const float *q, u64 ldq,
                       float *o, u64 ldo, sim_err *e);

/* Run sublayer `sub` (attention or FFN) of layer L: y = F(x), n x d. */
int ref_sublayer(ref_layer *L, const ref_step *s, ref_sub sub, const float *x, float *y, sim_err *e);

/* Record a named tensor of the step (copied; only when opt.trace). */
void ref_trace(ref_model *M, int layer, const char *name, const float *x, u64 rows, u64 cols);
/* A recorded tensor, or NULL. */
const float *ref_trace_get(const ref_model *M, int layer, const char *name, u64 *rows, u64 *cols);

/* A uniform random integer in [0, n) from the model's RNG stream `key`
 * (used for token ids and the hash-routing table). */
u64 ref_rand_index(ref_model *M, u64 key, u64 i, u64 n);

/* The per-layer embedding input of layer L for the step (n x ple_dim, row
 * stride n_layers * ple_dim), or NULL without PLE. */
const float *ref_ple_input(const ref_layer *L, u64 *stride);

/* ---- MLA pieces shared by ref_mla.c and ref_dsa.c ----------------------- */

typedef struct {
    ref_w *wq_a, *wq_b, *q_norm, *wq, *wkv_a, *kv_norm, *wkv_b, *wo;
} ref_mla;
/* Register the MLA weights of L and bind cache 0 (the latent). */
int ref_mla_init(ref_layer *L, ref_mla *w, sim_err *e);
/* q[n, H(np+p)] (RoPE on the last p of each head), the normalised query
 * latent cq[n, rq] (rq > 0), and the latent rows[n, r+p] (normalised c,
 * RoPE-d k_pe; not yet rounded to the cache format). */
int ref_mla_project(ref_layer *L, ref_mla *w, const ref_step *s, const float *x, float *q, float *cq, float *rows, sim_err *e);
/* The absorbed form in pieces, for n queries: q_abs[n, H(r+p)] = (W_UK
 * q_nope | q_pe) per head (2 np r FLOPs per head and query), the kernel
 * shape of the MQA over latent rows (key: the row, value: its first r),
 * and o[n, H v] = o_lat[n, H r] W_UV per head (2 r v). */
void ref_mla_qabs(ref_layer *L, ref_mla *w, const float *q, u64 n, float *qa);
kern_attn ref_mla_kattn(const ref_layer *L);
/* MLA / DSA softmax scale: 1/sqrt(nope + rope), times mscale^2 under YaRN. */
float ref_mla_softmax_scale(const ref_layer *L);
void ref_mla_out(ref_layer *L, ref_mla *w, const float *ol, u64 n, float *o);
/* The expanded form: KV[nrows, H(np+p+v)] = per row the heads' keys [c W_UK
 * | k_pe] then their values c W_UV, from latent rows lat[nrows, r+p] (counts
 * 2 r H(np+v) per row and reads wkv_b); the kernel shape over those rows. */
int ref_mla_expand(ref_layer *L, ref_mla *w, const float *lat, u64 nrows, float *KV, sim_err *e);
kern_attn ref_mla_kattn_expanded(const ref_layer *L);
/* Absorbed attention of one query q[H(np+p)] over the latent rows of src: o[H v]. */
int ref_mla_absorbed(ref_layer *L, ref_mla *w, const float *q, const kern_src *src, float *o, sim_err *e);

/* Lightning-indexer scores of one query (qi [Hi, di], head weights wt [Hi])
 * against nk keys [nk, di]: sc[s] = sum_h wt[h] ReLU(qi[h] . key[s]),
 * counted Hi (2 di + 3) per key into cat in compute.indexer. work: Hi nk. */
void ref_index_scores(ref_layer *L, flop_cat cat, u64 Hi, u64 di, const float *qi, const float *wt, const float *keys,
                      u64 nk, float *sc, float *work);
/* The same for n queries at once, query t against keys [0, nk[t]) (nk
 * non-decreasing): the counts of n ref_index_scores calls; one product over
 * keys [0, nk[n-1]) (the few past a query's own are computed, dropped and
 * not counted). Row-wise mode (kern_rowwise) and n = 1 run query by query.
 * sc: n x nk[n-1] (row stride nk[n-1]); work: n Hi nk[n-1]. */
void ref_index_scores_n(ref_layer *L, flop_cat cat, u64 Hi, u64 di, u64 n, const float *qi, const float *wt,
                        const float *keys, const u64 *nk, float *sc, float *work);
/* Queries per block of a DSA / CSA prefill of n queries over nkeys keys:
 * 256, fewer (down to 64) where 2^22 / nkeys is smaller; at most n. */
u64 ref_index_qblock(u64 n, u64 nkeys);
/* The min(nk, k) largest scores (ties to the lower index; -0 equals +0),
 * as ascending indices into idx (room for nk); returns how many. Scores
 * must be finite. */
u64 ref_topk(const float *sc, u64 nk, u64 k, u64 *idx);

/* ---- DeepSeek V4 pieces shared by ref_csa.c, ref_hca.c, ref_swa4.c (ref_v4.c) */

typedef struct {
    ref_w *wq_a, *wq_b, *wkv, *wo_a, *wo_b, *q_norm, *kv_norm, *sink;
    int win;              /* the window cache's index */
} ref_v4;
/* A learned-pooling compressor feeding cache `cache` (entries of `width`
 * values) through the pending-row ring `state`. */
typedef struct {
    ref_w *wkv, *wgate, *ape, *norm;
    u64 m, coff, width, rope;
    int cache, state;
    flop_cat cat;         /* FL_COMPRESS, or FL_INDEX for the indexer's own */
    bool rotate;          /* the indexer's: Hadamard + FP4 quantisation of each entry */
    u64 qblk;             /* its FP4 block (0: no quantisation) */
} ref_v4cmp;
int ref_v4_init(ref_layer *L, ref_v4 *w, int window_cache, sim_err *e);
/* RoPE of p (even, <= V4_ROPE_MAX: v4_check) dims at x as DeepSeek-V4 rotates
 * them: adjacent pairs (x[2i], x[2i+1]) by frequency i (inverse: position
 * -pos). Counted by kern_rope. */
void ref_v4_rope(const ref_layer *L, cost_t *c, float *x, u64 p, u64 pos, bool inverse);
/* q [n, H c], the normalised query latent cq [n, rq], window rows kv [n, c]. */
int ref_v4_project(ref_layer *L, ref_v4 *w, const ref_step *s, const float *x, float *q, float *cq, float *kv, sim_err *e);
/* Attention with the sink (counted 1 per head and query) of n queries q
 * [n, H c] into o [n, H c]: over float sources with per-query row ranges
 * (kern_attn_causal), or each query over its own sources (kern_attn_queries;
 * n = 1, a decode step, runs parallel over the rows). */
int ref_v4_attend_causal(ref_layer *L, ref_v4 *w, u64 n, const float *q, const kern_src *src, int nsrc, const u64 *lo,
                         const u64 *hi, float *o, sim_err *e);
int ref_v4_attend_queries(ref_layer *L, ref_v4 *w, u64 n, const float *q, const kern_src *src, int nsrc, float *o, sim_err *e);
/* Inverse RoPE and the grouped output projection: y [n, d] from o [n, H c]. */
int ref_v4_output(ref_layer *L, ref_v4 *w, const ref_step *s, float *o, float *y, sim_err *e);
int ref_v4_cmp_init(ref_layer *L, ref_v4cmp *cp, const char *pre, u64 m, u64 coff, u64 width, u64 rope, int cache, int state,
                    const fmt *efmt, flop_cat cat, sim_err *e);
/* Project the step's tokens, keep the pending rows, pool the entries the
 * step completes into ent (prefill: entries 0 .. n/m-1; decode: at most
 * one) and write them to the cache. */
int ref_v4_cmp_step(ref_layer *L, ref_v4cmp *cp, const ref_step *s, const float *x, float *ent, sim_err *e);
/* Write the window rows. Prefill: *win = the step's rows (rounded to the
 * cache format), *base = 0. Decode: *win = NULL, *base = the first position
 * the new token sees (stream the rows with ref_kv_src, ring = window). */
int ref_v4_window(ref_layer *L, const ref_step *s, int cache, float *kv, float **win, u64 *base, sim_err *e);

#endif
