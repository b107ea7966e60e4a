/* tmodel.h - the per-operation time model (issue 14): curves measured by
 * `kvsim probe` (or fitted by `kvsim calibrate` from a user's own
 * microbenchmarks) and the time of a step as the sum of its operations'
 * times (ops.h), each compute- or memory-bound on its own.
 *
 * Curves (a hardware profile's optional `curves:` mapping; hw.h):
 *   gemm[dt]    the time of one product of M rows against an N x K weight
 *               held in dt (the weight's stored element dtype: the kernels
 *               decode it as they multiply): t = fixed(S, M) + per_elem(S, M)
 *               x NK, S = min(N, K) the weight's short side (a short side
 *               starves the product: 256 x 1024 runs at the rate of 256 x 256,
 *               not of 1024 x 1024), fitted per measured M: the fixed part from
 *               the smallest S (least squares over its N x K, or through the
 *               origin), per_elem of every S through that fixed part,
 *               and interpolated linearly in log S and log M (per_elem in
 *               log-log); beyond the largest measured M, per_elem grows as M
 *               (compute bound); outside the measured S or below the smallest
 *               M it stays. Also, for the summary line and older
 *               profiles: rate(M) = rate_max * M / (M + m_half) FLOP/s
 *               (weighted least squares on M / rate = (m_half + M) / rate_max),
 *               used when a dtype has no table.
 *   attn[dt]    decode attention (one query of M heads over cache rows held
 *               in dt, from cold caches): t = fixed + per_elem x elements +
 *               per_flop x FLOPs, least squares over the probe's shapes.
 *   select      a sparse indexer's top-k selection: t = fixed per query +
 *               candidates / rate, least squares.
 *   bandwidth   streaming bytes/s against the working set (L1 .. DRAM),
 *               interpolated linearly in log(working set), flat beyond the
 *               ends.
 *   elementwise t(n) = fixed + n / rate (FLOPs), least squares.
 *   exp         exponentials per second, least squares (measured and written;
 *               no operation uses it yet: softmax is in the element-wise FLOPs).
 *   gather      seconds per row gathered, least squares (measured and written;
 *               no operation uses it yet: top-k gathers are in attention).
 *   fixed_s     the cost of one parallel region (each operation pays it).
 * Time of an operation (ops.h):
 *   gemm      max(calls x gemm(M, NK / calls), weight bytes / bandwidth(weight
 *             bytes)) + fixed, the table of the weight's stored dtype (an
 *             operation folds `calls` products: q, k, v, o; the experts)
 *   flops     max(gemm(M, flops / 2M), cache bytes / bandwidth(cache bytes)) + fixed
 *             in the compute dtype (attention scores: M = the rows sharing one
 *             K/V head, ops.h); decode attention with an attn curve for its
 *             cache's dtype: attn(elements = cache bytes / element bytes, flops)
 *             + fixed; a sparse indexer's scores (ops.h cand > 0) add, with a
 *             select curve, the selection of the top k (queries x fixed +
 *             candidates / rate) and their weighting (3 x heads FLOPs per
 *             candidate at the element-wise rate, as the kernels run it)
 *   elem      flops / elementwise rate(M tokens) + fixed   (vector work: category other
 *             in fp32, and mHC's, the compressors' and the indexer's fp32 FLOPs)
 *   weights, traffic   bytes / bandwidth(bytes) + fixed
 * A profile without curves (the shipped GPU profiles) keeps the roofline
 * (hw_roofline): its curves cannot be measured here.
 */
#ifndef TMODEL_H
#define TMODEL_H

#include "ops.h"
#include <stdio.h>

#define TM_MAX_PTS 32
#define TM_MAX_S 4

typedef struct {
    bool present;                 /* the profile has curves */
    bool gemm_has[DT_COUNT];
    double gemm_rate_max[DT_COUNT], gemm_m_half[DT_COUNT], gemm_rms[DT_COUNT];
    int gt_n[DT_COUNT];           /* the gemm table: M points per dtype (0: none) */
    int gt_ns[DT_COUNT];          /* its slices by the weight's short side min(N, K) */
    double gt_S[DT_COUNT][TM_MAX_S];       /* increasing short sides */
    double gt_M[DT_COUNT][TM_MAX_PTS];     /* increasing rows */
    double gt_fixed[DT_COUNT][TM_MAX_S][TM_MAX_PTS]; /* seconds per product */
    double gt_elem[DT_COUNT][TM_MAX_S][TM_MAX_PTS];  /* seconds per weight element (N x K) */
    double gt_rms[DT_COUNT];      /* relative residuals of the table's fits */
    bool attn_has[DT_COUNT];      /* decode attention over cache rows held in the dtype: */
    double attn_fixed[DT_COUNT], attn_elem[DT_COUNT], attn_flop[DT_COUNT], attn_rms[DT_COUNT];   /* s, s/element, s/FLOP */
    int n_bw;
    double bw_ws[TM_MAX_PTS], bw_bs[TM_MAX_PTS];   /* increasing working sets, B/s */
    double bw_rms;                /* leave-one-out relative error of the interpolation */
    double elem_rate, elem_fixed_s, elem_rms;
    /* The element-wise rate of operations over a few tokens (el_M
     * increasing, FLOP/s; the probe's routines over 1 to 64 rows of a
     * d = 256 token, their data in L1 and L2: a decode step's), interpolated
     * in log(tokens), flat below; above the table, and without one,
     * elem_rate (the streaming regime of a prefill's rest). */
    int n_el;
    double el_M[TM_MAX_PTS], el_rate[TM_MAX_PTS];
    double mix_rate, mix_fixed_s, mix_rms;   /* element-wise FLOPs of mHC's stream mixing (FL_MHC); 0: elem_rate's */
    double exp_rate, exp_rms;
    double gather_s_per_row, gather_rms;
    double fixed_s;               /* one parallel region */
    double select_rate, select_fixed_s, select_rms;   /* top-k selection: candidates/s, s per query */
    /* Prefill attention over float rows: [TM_ACAUSAL] causal tiles over
     * every earlier row, [TM_AWINDOW] over a sliding window
     * (kern_attn_causal), [TM_AGATHER] per-query picked rows
     * (kern_attn_queries: DSA's and CSA's top-k); FLOP/s (QK and AV, their
     * softmax inside), 0 = not measured. */
    double apre_rate[3], apre_rms[3];   /* profile keys: tm_apre_key */
    /* The dtype the machine's kernels compute products without a stored
     * weight in (attention scores, mHC's mixing, the indexer's scores),
     * when not the spec's compute dtype: this CPU's reference kernels run
     * every one on floats through BLAS (fp32, `kvsim probe`'s `compute`
     * row); their time is then that dtype's gemm table's. */
    bool compute_has;
    dtype compute_dt;
} tm_curves;

/* The profile's keys of the prefill attention curves, by TM_ACAUSAL,
 * TM_AWINDOW, TM_AGATHER (tm_write_yaml writes them, hw.c reads them). */
extern const char *const tm_apre_key[3];

/* Streaming bandwidth at working set ws bytes (B/s); 0 without points. */
double tm_bandwidth(const tm_curves *c, double ws);
/* GEMM rate (FLOP/s) at M rows in dtype dt (falling back as hw_peak does);
 * 0 when no dtype has a curve. */
double tm_gemm_rate(const tm_curves *c, dtype dt, double M);
/* Seconds of one product of M rows against NK weight elements of short
 * side S (0: the table's largest) and dot length K (0: unknown) held in dt (the table, falling back along
 * tm_dtype_chain; else the rate curve); NAN when no dtype has either. */
double tm_gemm_time(const tm_curves *c, dtype dt, double M, double NK, double S, double K);
/* The element-wise rate (FLOP/s) of an operation over M tokens: the
 * by-tokens table up to its largest M, elem_rate above it and without one. */
double tm_elem_rate(const tm_curves *c, double M);
/* The table's skinny rows: the probe times M <= 16 as decode runs them, a
 * product's outputs one dot of K elements each (or decoded K at a time),
 * on weights of K = their short side; a row's fixed part then falls with
 * K, not with min(N, K): at those M a product of dot length K > N (wo_a:
 * N 64, K 2048) reads the table at S = K (its op's K; 0: unknown, S). */
#define TM_SKINNY_M 16
/* Seconds of one operation; NAN when a curve it needs is missing. */
double tm_op_time(const tm_curves *c, const cost_op *op);

/* The predicted seconds of the recorded layers for which keep(layer, arg)
 * is true (keep NULL: every operation, model parts included), each counted
 * ops->uses[layer] times. */
double tm_predict(const tm_curves *c, const cost_ops *ops, bool (*keep)(int layer, void *arg), void *arg);

/* The predicted time of one row of a cost_result: the sum of its
 * operations' times, by operation kind (each without the fixed cost, which
 * is summed apart: time_s = sum of kind_s + fixed_s). */
typedef struct {
    double time_s;
    double kind_s[OP_KIND_COUNT];
    double fixed_s;
    u64 ops;               /* operations, each layer's counted once per use */
} tm_row;

/* Per-row times of a cost evaluation made with ops (cost_eval_ops on r):
 * types[k] for r->type[k] (model parts included), layers[i] for layer i
 * (NULL: not wanted; r->layer must exist), and the total. Returns SIM_OK,
 * SIM_ENOMEM, or SIM_EINVAL when a curve an operation needs is missing or
 * the list is incomplete (message in e). */
int tm_rows(const tm_curves *c, const cost_ops *ops, const cost_result *r, tm_row *types, tm_row *layers, tm_row *total,
            sim_err *e);

/* Write c as a profile's `curves:` mapping (YAML). */
void tm_write_yaml(FILE *f, const tm_curves *c);

/* The fallback chain of a compute dtype (hw.c's hw_peak uses it too): up to
 * 5 dtypes, widest last; unused slots are DT_FP32. */
extern const dtype tm_dtype_chain[DT_COUNT][5];

#endif
