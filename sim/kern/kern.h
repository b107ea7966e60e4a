/* kern.h - the numeric kernels of the reference forward passes, each counting
 * the FLOPs it executes into a cost_t (cost.h), with the conventions of the
 * analytical model: a multiply-add is 2 FLOPs; element-wise operations cost
 * the FLOPS_* constants of cost.h per element; `dt` is the dtype the model
 * says the operation runs in (only the FP8-equivalent weight depends on it:
 * the kernels themselves compute in fp32).
 *
 * Matrix products go through CBLAS (OpenBLAS): blocks of 256 rows through
 * sgemm, split over OpenMP threads; products under 4 rows (a decode step)
 * row by row through sgemv, which reads B once instead of packing it.
 * Attention has its own kernels (kern_attn.c, below). Every kernel has a
 * short naive twin (`_naive`) that tests/test_kern.c compares it with; the
 * twins count nothing. No -ffast-math anywhere: the loops that must
 * vectorise are written so that they do without it (omp simd, bit tricks).
 *
 * Shapes (row-major, leading dimensions in elements):
 *   kern_matmul   C[M,N] (+)= A[M,K] . B[K,N]      (transB: B stored [N,K])
 *
 *   cost_t c = {0};
 *   kern_matmul(&c, FL_PROJ, DT_BF16, M, N, K, x, K, w, N, y, N, false, false);
 *   // c.flops[FL_PROJ] == 2*M*N*K
 */
#ifndef KERN_H
#define KERN_H

#include "cost.h"
#include <stdint.h>

/* Add n FLOPs of category cat in dtype dt (the kernels' twin of cc_flops). */
void kern_count(cost_t *c, flop_cat cat, dtype dt, u64 n);

/* Row-wise mode: every product runs as M one-row products, so a row's
 * result no longer depends on how many rows are computed with it (BLAS
 * blocks a 1-row product differently from a T-row one, which moves the last
 * bit). Off by default; the invariant tests turn it on to compare a decode
 * step with a prefill bit for bit. Returns the previous setting. */
bool kern_rowwise(bool on);
bool kern_rowwise_on(void);

/* C = A B (accumulate: C += A B). Counts 2 M N K FLOPs of (cat, dt). */
void kern_matmul(cost_t *c, flop_cat cat, dtype dt, u64 M, u64 N, u64 K,
                 const float *A, u64 lda, const float *B, u64 ldb, float *C, u64 ldc,
                 bool transB, bool accumulate);
void kern_matmul_naive(u64 M, u64 N, u64 K, const float *A, u64 lda, const float *B, u64 ldb,
                       float *C, u64 ldc, bool transB, bool accumulate);

/* y = x / sqrt(mean(x^2) + eps) * w (w may be NULL: no weight), n elements;
 * y may be x. eps is the spec's norm_eps (Llama 3: 1e-5, Gemma 4: 1e-6).
 * Counts FLOPS_RMSNORM per element into cat. */
void kern_rmsnorm(cost_t *c, flop_cat cat, const float *x, const float *w, float *y, u64 n, float eps);
void kern_rmsnorm_naive(const float *x, const float *w, float *y, u64 n, float eps);

/* In-place softmax of x[n] scaled by `scale` (x := softmax(scale * x)), with
 * an optional extra logit `sink` in the denominator only (use -INFINITY for
 * none). Counts FLOPS_SOFTMAX per element into cat; the sink is not counted
 * here (callers that the model charges for it count it themselves). */
void kern_softmax(cost_t *c, flop_cat cat, float *x, u64 n, float scale, float sink);
void kern_softmax_naive(float *x, u64 n, float scale, float sink);

/* The RoPE of a layer: the spec's base and scaling (spec.h rope_cfg; a kind
 * may override the base) and the layout.
 *   span 0: rotate x[0..rot) as pairs (x[i], x[i + rot/2]), frequency
 *           f_i = theta^(-2i/rot) (HF's rotate_half on the first rot dims).
 *   span S: Gemma 4's "proportional" RoPE (transformers
 *           _compute_proportional_rope_parameters): the pairs span the whole
 *           head, (x[i], x[i + S/2]) for i < rot/2, f_i = theta^(-2i/S); the
 *           other S/2 - rot/2 pairs have frequency 0 (left as they are).
 * Scaling of f_i: linear f/factor; llama3 as transformers'
 * _compute_llama3_parameters; yarn as DeepSeek's precompute_freqs_cis
 * (ramp between beta_fast and beta_slow over the rot/2 frequencies; the same
 * frequencies as transformers' _compute_yarn_parameters).
 * amp: transformers' attention_scaling of YaRN (cos and sin times it, so the
 * rotated dims of q and k each; GQA kinds under yarn); 0 = 1. */
typedef struct {
    rope_cfg cfg;
    u64 span;
    double amp;
} kern_rope_cfg;
/* The rot/2 frequencies f_i of r for `rot` rotated dims (inv: rot/2 values). */
void kern_rope_freqs(const kern_rope_cfg *r, u64 rot, double *inv);

/* Rotary embedding of `rot` dims of x at position pos with r's frequencies
 * and layout (r NULL: theta 10000, span 0); `inverse` rotates by -pos.
 * Counts FLOPS_ROPE per rotated dim. */
void kern_rope(cost_t *c, const kern_rope_cfg *r, float *x, u64 rot, u64 pos, bool inverse);

/* Fast Walsh-Hadamard transform of x[0..n) in place, times `scale`
 * (n a power of two): x := scale H_n x with H_n the Sylvester Hadamard
 * matrix (H_2n = [[H, H], [H, -H]]), what fast_hadamard_transform computes
 * in DeepSeek-V3.2's indexer (rotate_activation, scale n^-1/2). Counts
 * n log2 n adds (the butterflies) + n multiplies (the scale), in FL_INDEX
 * at dtype dt. The naive twin multiplies by the matrix. */
void kern_hadamard(cost_t *c, dtype dt, float *x, u64 n, float scale);
void kern_hadamard_naive(float *x, u64 n, float scale);

/* Block-wise FP8 (e4m3) quantisation as DeepSeek-V3.2's act_quant does it
 * (inference/kernel.py, scale_fmt ue8m0): per block of `blk` elements
 * s = 2^ceil(log2(max(amax, 1e-4) / 448)), x := round_e4m3(clamp(x / s)) * s
 * (dequantised in place); the block scales go to s[n / blk]. Counts 2 per
 * element (|x| max, divide) + 2 per block (floor, / 448) in FL_INDEX fp32. */
void kern_act_quant(cost_t *c, float *x, u64 n, u64 blk, float *s);

/* Block-wise FP4 (e2m1) quantisation as DeepSeek-V4's fp4_act_quant does it
 * (inference/kernel.py fp4_quant_kernel, inplace): per block of `blk`
 * elements s = 2^ceil(log2(max(amax, 6 2^-126) / 6)), x := round_e2m1(clamp(
 * x / s, -6, 6)) * s. Counts as kern_act_quant: 2 per element + 2 per block
 * in FL_INDEX fp32. */
void kern_fp4_quant(cost_t *c, float *x, u64 n, u64 blk);

/* Gated activation h[i] = silu(g[i]) * u[i] (u NULL: h = gelu(g)); n elements,
 * counts FLOPS_ACT per element. SiLU's sigmoid goes through kern_exp
 * (vectorised; libm's expf made it a tenth of a small prefill). */
void kern_act(cost_t *c, const float *g, const float *u, float *h, u64 n, bool gelu);
void kern_act_naive(const float *g, const float *u, float *h, u64 n, bool gelu);

/* ---- attention kernels (kern_attn.c) ------------------------------------
 *
 * One softmax attention of H query heads over a sequence of key/value rows,
 * computed a block of keys at a time with a running max and sum per head
 * (the online softmax of flash attention), so no score row is ever held
 * whole. Legend: H query heads, G kv groups (head h reads group h / (H/G)),
 * dq key dim, dv value dim.
 *
 * Rows come from sources (kern_src), attended to in order as one softmax:
 * float rows in memory, optionally picked by an index list (a gather without
 * a copy in the caller), or rows stored in a cache's format that the kernel
 * decodes a chunk at a time as it streams past (decode reads the cache once).
 *
 * Counting (attn_gqa.c's conventions): per (head, row attended) 2 dq + 2 dv
 * FLOPs of (FL_ATTN, dt) and FLOPS_SOFTMAX of FL_OTHER; the sink is not
 * counted. The tiled kernel also computes the masked part of the tiles on
 * its causal diagonal and throws it away: not counted (the model prices the
 * pairs attended to, as it would for a production kernel that pads tiles).
 *
 * Threads: OpenMP (OMP_NUM_THREADS), over (kv group, query block) tiles in
 * the tiled kernel, over queries (blocks of queries in its blocked
 * prefill) in kern_attn_queries and over key chunks
 * in kern_attn_query. BLAS runs single-threaded inside (kern_threads). The
 * chunking never depends on the thread count, so neither do the results.
 * Workspaces: the `_work` functions give the floats `work` must hold. Call
 * the kernels from one thread at a time (they keep statistics). */
typedef struct {
    u64 H, G, dq, dv;     /* query heads, kv groups (G | H), key dim, value dim */
    u64 koff, voff;       /* in a row: group g's key at koff + g dq, value at voff + g dv */
    float scale;          /* score scale, e.g. 1/sqrt(dq) */
    const float *sink;    /* H logits added to the denominators (exp(sink[h])), or NULL */
    dtype dt;             /* the model's compute dtype of QK and AV (counting only) */
} kern_attn;

typedef struct kern_src {
    const float *x;       /* float rows: row r at x + r ld ... */
    u64 ld;
    /* ... or stored rows (x == NULL): decode(ctx, slot, out) writes `width`
     * floats; slot = r mod ring (ring 0: slot = r). Must be thread-safe. */
    void (*decode)(const void *ctx, u64 slot, float *out);
    const void *ctx;
    u64 ring;
    u64 width;            /* floats of a row (decoded or gathered by idx) */
    u64 row_bytes;        /* bytes of a stored row (statistics only) */
    const u64 *idx;       /* the rows: idx[0 .. n), or NULL: r0 .. r0 + n - 1 */
    u64 r0, n;
} kern_src;

/* One query q[H dq] (row stride dq) over the rows of its sources, streamed
 * once in fixed chunks (parallel over chunks), partial softmaxes merged in
 * chunk order: o[H dv]. */
u64 kern_attn_query_work(const kern_attn *a, const kern_src *src, int nsrc);
void kern_attn_query(cost_t *c, const kern_attn *a, const float *q, const kern_src *src, int nsrc, float *o, float *work);

/* n independent queries (query t: q + t ldq, sources src[t nsrc ..], output
 * o + t ldo). Over float rows (n >= 2) through the blocked prefill below;
 * otherwise (decoded rows, one query, row-wise mode, kern_attn_blocked off)
 * each computed exactly as kern_attn_query computes it (the same bits), in
 * parallel over queries. */
u64 kern_attn_queries_work(const kern_attn *a, u64 n, const kern_src *src, int nsrc);
void kern_attn_queries(cost_t *c, const kern_attn *a, u64 n, const float *q, u64 ldq, const kern_src *src, int nsrc,
                       float *o, u64 ldo, float *work);

/* Prefill: n queries (query t at q + t ldq, output o + t ldo) over float
 * sources (x, ld; r0, n, idx unused): query t sees rows [lo[s n + t],
 * hi[s n + t]) of source s, bounds non-decreasing in t (causal, windows,
 * compressed prefixes). Tiles of query blocks x key blocks through sgemm.
 * In row-wise mode (kern_rowwise) each query runs alone through
 * kern_attn_query's arithmetic, so a decode step reproduces it bit for bit. */
u64 kern_attn_causal_work(const kern_attn *a, u64 n, const u64 *lo, const u64 *hi, int nsrc);
void kern_attn_causal(cost_t *c, const kern_attn *a, u64 n, const float *q, u64 ldq, const kern_src *src, int nsrc,
                      const u64 *lo, const u64 *hi, float *o, u64 ldo, float *work);

/* The blocked prefill (kern_attn_gather.c) that kern_attn_queries runs for
 * n >= 2 queries over float rows (DSA's and CSA's top-k lists): blocks of
 * queries walk the rows in key blocks held in L2, each query reading its
 * own picked rows in place; only picked pairs are computed. On by default;
 * off (or in row-wise mode) every query runs through kern_attn_query's
 * arithmetic, the per-query path kept as its twin. Returns the previous
 * setting. */
bool kern_attn_blocked(bool on);

/* The naive twin of all three: one query, one head at a time, two passes
 * (max, then sum and values) in double. Counts nothing. */
void kern_attn_naive(const kern_attn *a, const float *q, const kern_src *src, int nsrc, float *o);

/* Wall time spent in the attention kernels and stored-row bytes they
 * decoded, since the program started (for per-layer timing). */
typedef struct {
    double seconds;
    u64 bytes;
    /* the blocked prefill: (query, row) pairs computed, and the distinct
     * rows each block of queries picked per key block (their union) */
    u64 gather_selected, gather_union;
} kern_attn_stats;
kern_attn_stats kern_attn_stats_get(void);

/* e^x for x <= 0, in float, vectorisable (inline); exactly 0 below -87.3.
 * What the attention kernels and kern_act use. This function can't fail.
 *
 * Cephes' expf: x = n ln2 + r with n = round(x log2 e) (adding and removing
 * 1.5 2^23 rounds to nearest in the default mode), ln2 split in two so
 * n C1 is exact, e^r by Cephes' degree-6 polynomial (~1 ulp), times 2^n
 * built in the exponent bits. The clamp and the flush to 0 (where e^x is
 * subnormal, < 1.2e-38) are integer operations on the bits: a float compare
 * may trap, so GCC would not if-convert it and the loop would stay scalar
 * (without -fno-trapping-math, which kvsim does not want). For x <= 0 the
 * bits grow with |x|. ISO C mode contracts no a*b+c into an FMA, so the
 * result is the same on every x86-64. Rejected: glibc's expf (scalar, and
 * it vectorises only under -ffast-math). */
static inline float kern_exp(float x)
{
    union { float f; uint32_t u; } v = {x}, s;
    uint32_t keep = v.u <= 0xc2ae999au ? 0xffffffffu : 0u;   /* x >= -87.3 (or x >= 0) */
    v.u = v.u < 0xc2b00000u ? v.u : 0xc2b00000u;              /* x < -88, -inf: -88 */
    float xc = v.f;
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    s.u = (uint32_t)((int32_t)n + 127) << 23;
    v.f = p * s.f;
    v.u &= keep;
    return v.f;
}

/* Threads the kernels use: omp_get_max_threads() (OMP_NUM_THREADS), 1
 * without OpenMP. BLAS itself stays single-threaded (ref_init sets it):
 * the kernels split work over OpenMP threads and call BLAS inside, which
 * keeps OpenBLAS's own threads from competing with them. */
int kern_threads(void);

/* Evict buf[0 .. len) from every cache level (x86: clflush per 64-byte
 * line; a no-op elsewhere; NULL or 0 bytes: nothing). After a batch of
 * these, kern_evict_fence() orders them before later loads. The caller's
 * code, page tables and threads stay warm: the next reads of buf come from
 * memory, as in a step of a model far larger than the caches (the probe's
 * decode products and attention, make bench's decode points). These
 * functions can't fail. */
void kern_evict(const void *buf, u64 len);
void kern_evict_fence(void);
/* Set BLAS to one thread if it is not (every kernel calls this first; probe.c
 * sets more for its own measurement). This function can't fail. */
void kern_blas_serial(void);

/* sigmoid and GELU (tanh form), single values, uncounted. */
/* Manifold-constrained hyper-connections (DeepSeek-V4 mHC), a token's
 * element-wise parts over S streams of d (res_ref.c):
 * kern_sinkhorn: B := hc_split_sinkhorn's comb of the S x S logits B (a
 *   row softmax + eps, then `it` column / row normalisations; counts itself
 *   in FL_MHC, see kern.c);
 * kern_hc_pre: u[d] = sum_r A[r] X[r, :] (the pre-mix; uncounted);
 * kern_hc_post: X[i, :] = Cc[i] f + sum_r B[r, i] X[r, :], in place (Xn:
 *   S d floats of scratch; uncounted). */
void kern_sinkhorn(cost_t *c, float *B, u64 S, u64 it, float eps);
void kern_hc_pre(float *u, const float *A, const float *X, u64 S, u64 d);
void kern_hc_post(float *X, float *Xn, const float *B, const float *Cc, const float *f, u64 S, u64 d);
/* One pooled entry of DeepSeek-V4's compressor (v4_ref.c; Compressor:
 * score = gate + ape, a softmax over the n rows per channel, the weighted
 * sum of the values): out[ch] = sum_j e^(s_j - mx) v_j[ch] / sum_j
 * e^(s_j - mx), s_j = g_j[ch] + b_j[ch], mx their maximum, over the rows
 * j whose v[j] is not NULL, each sum in row order. Vectorised over the
 * channels (e^x by kern_exp); uncounted (the caller counts). */
void kern_pool(const float *const *v, const float *const *g, const float *const *b, u64 n, u64 w, float *out);
float kern_sigmoid(float x);
float kern_gelu(float x);


#endif
