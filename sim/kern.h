/* kern.h - the numeric kernels of the reference forward passes, each counting
 * the FLOPs it executes into a cost_t (cost.h), with the conventions of the
 * analytical model: a multiply-add is 2 FLOPs; element-wise operations cost
 * the FLOPS_* constants of cost.h per element; `dt` is the dtype the model
 * says the operation runs in (only the FP8-equivalent weight depends on it:
 * the kernels themselves compute in fp32).
 *
 * Matrix products go through CBLAS (OpenBLAS). Every kernel has a short naive
 * twin (`_naive`) that tests/test_kern.c compares it with; the twins count
 * nothing.
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

/* Add n FLOPs of category cat in dtype dt (the kernels' twin of cc_flops). */
void kern_count(cost_t *c, flop_cat cat, dtype dt, u64 n);

/* Row-wise mode: every product runs as M one-row products, so a row's
 * result no longer depends on how many rows are computed with it (BLAS
 * blocks a 1-row product differently from a T-row one, which moves the last
 * bit). Off by default; the invariant tests turn it on to compare a decode
 * step with a prefill bit for bit. Returns the previous setting. */
bool kern_rowwise(bool on);

/* C = A B (accumulate: C += A B). Counts 2 M N K FLOPs of (cat, dt). */
void kern_matmul(cost_t *c, flop_cat cat, dtype dt, u64 M, u64 N, u64 K,
                 const float *A, u64 lda, const float *B, u64 ldb, float *C, u64 ldc,
                 bool transB, bool accumulate);
void kern_matmul_naive(u64 M, u64 N, u64 K, const float *A, u64 lda, const float *B, u64 ldb,
                       float *C, u64 ldc, bool transB, bool accumulate);

/* y = x / rms(x) * w (w may be NULL: no weight), n elements; y may be x.
 * Counts FLOPS_RMSNORM per element into cat. */
void kern_rmsnorm(cost_t *c, flop_cat cat, const float *x, const float *w, float *y, u64 n);
void kern_rmsnorm_naive(const float *x, const float *w, float *y, u64 n);

/* In-place softmax of x[n] scaled by `scale` (x := softmax(scale * x)), with
 * an optional extra logit `sink` in the denominator only (use -INFINITY for
 * none). Counts FLOPS_SOFTMAX per element into cat; the sink is not counted
 * here (callers that the model charges for it count it themselves). */
void kern_softmax(cost_t *c, flop_cat cat, float *x, u64 n, float scale, float sink);
void kern_softmax_naive(float *x, u64 n, float scale, float sink);

/* Rotary embedding of `rot` dims of x (x[0..rot)) at position pos, rotating
 * pairs (x[i], x[i + rot/2]) by pos * theta^(-2i/rot) (the "half" layout);
 * `inverse` rotates by -pos. Counts FLOPS_ROPE per rotated dim. */
void kern_rope(cost_t *c, float *x, u64 rot, u64 pos, bool inverse);

/* Gated activation h[i] = silu(g[i]) * u[i] (u NULL: h = gelu(g)); n elements,
 * counts FLOPS_ACT per element. */
void kern_act(cost_t *c, const float *g, const float *u, float *h, u64 n, bool gelu);

/* Attention of one query token over nk keys, grouped: kv head g serves the
 * H/G query heads [g H/G, (g+1) H/G). q is H x dq (row stride dq); key j of
 * kv head g is K[j*ldk + g*dq .. +dq), its value V[j*ldv + g*dv .. +dv); the
 * output o is H x dv (row stride dv). Scores are scaled by `scale`; sink
 * (H values, or NULL) adds exp(sink[h]) to head h's softmax denominator,
 * uncounted. Counts per (head, key) 2 dq + 2 dv FLOPs of (FL_ATTN, dt) and
 * FLOPS_SOFTMAX into FL_OTHER. `work` holds H/G * nk floats. */
void kern_attend(cost_t *c, dtype dt, u64 H, u64 G, u64 dq, u64 dv, const float *q,
                 const float *K, u64 ldk, const float *V, u64 ldv, u64 nk, float scale,
                 const float *sink, float *o, float *work);
void kern_attend_naive(u64 H, u64 G, u64 dq, u64 dv, const float *q, const float *K, u64 ldk,
                       const float *V, u64 ldv, u64 nk, float scale, const float *sink, float *o);

/* sigmoid and GELU (tanh form), single values, uncounted. */
float kern_sigmoid(float x);
float kern_gelu(float x);

#define KERN_ROPE_THETA 10000.0
#define KERN_NORM_EPS   1e-6f

#endif
