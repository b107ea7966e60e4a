/* cost.c - cost_eval: per-layer component costs, model-level parts
 * (embeddings, PLE, head), by-type rows and totals; see cost.h. */
#include "cost.h"
#include "layer.h"
#include "ops.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const flop_cat_name[FL_COUNT] = {
    "proj", "attn", "indexer", "compress", "ffn", "mhc", "other"};
_Static_assert(FL_COUNT == 7, "flop_cat_name must name every category");

int cost_wrate_prep(cost_wrate *w, const fmt *f)
{
    sim_err e;
    memset(w, 0, sizeof *w);
    w->fixed = fmt_elements(f);
    w->fixed_shift = -1;
    if (w->fixed) {
        for (int s = 0; s < 64; s++)
            if (w->fixed == (u64)1 << s) w->fixed_shift = s;
        return fmt_entry_bytes(f, w->fixed, &w->eb, &e);
    }
    const fmt_part *p = &f->part[0];
    w->bits = dtype_table[p->dt].bits;
    w->scaled = p->scaled;
    if (!p->scaled) return SIM_OK;
    w->sbits = dtype_table[p->scale_dt].bits;
    w->block = p->block;
    w->block_shift = -1;
    for (int s = 0; s < 64; s++)
        if (p->block == (u64)1 << s) w->block_shift = s;
    return SIM_OK;
}

/* n(n+1)/2 without overflowing the intermediate product. */
static u64 tri(bool *ovf, u64 n)
{
    return n % 2 == 0 ? cmul(ovf, n / 2, n + 1) : cmul(ovf, n, (n + 1) / 2);
}

/* sum_{u=1}^{n} min(u, W); W = 0 means no cap. */
static u64 sum_min(bool *ovf, u64 n, u64 W)
{
    if (W == 0 || n <= W) return tri(ovf, n);
    return cadd(ovf, tri(ovf, W), cmul(ovf, n - W, W));
}

/* sum_{u=1}^{n} floor(u/m) = m q(q-1)/2 + q(r+1), q = n/m, r = n%m. */
static u64 sum_floor(bool *ovf, u64 n, u64 m)
{
    u64 q = n / m, r = n % m;
    u64 a = q == 0 ? 0 : (q % 2 == 0 ? cmul3(ovf, m, q / 2, q - 1) : cmul3(ovf, m, q, (q - 1) / 2));
    return cadd(ovf, a, cmul(ovf, q, r + 1));
}

/* sum_{u=1}^{n} min(k, floor(u/m)); the cap binds from u = k m on, and
 * sum_{u=1}^{km-1} floor(u/m) = m k(k-1)/2. */
static u64 sum_floor_cap(bool *ovf, u64 n, u64 m, u64 k)
{
    if (k == 0) return sum_floor(ovf, n, m);
    u64 km = cmul(ovf, k, m);
    if (n < km) return sum_floor(ovf, n, m);
    u64 head = k % 2 == 0 ? cmul3(ovf, m, k / 2, k - 1) : cmul3(ovf, m, k, (k - 1) / 2);
    return cadd(ovf, head, cmul(ovf, k, n - km + 1));
}

u64 cc_queries(const cost_ctx *c)
{
    return c->q.phase == PH_PREFILL ? c->q.T : 1;
}

/* Non-causal windows are symmetric: query u sees keys v with |u - v| < W
 * (FlashAttention's non-causal window_size = (W-1, W-1); Longformer's
 * sliding window), the causal pairs (v <= u) mirrored, the diagonal once:
 *   sum_{u=1}^{T} (min(T, u+W-1) - max(1, u-W+1) + 1) = 2 sum_{u=1}^{T} min(u, W) - T
 * T <= W: T^2 (every key); T >> W: T(2W-1) - W(W-1); W = 0 (global): T^2. */
u64 cc_span_window(const cost_ctx *c, u64 W)
{
    u64 T = c->q.T;
    if (c->q.phase == PH_DECODE) return W ? umin(T + 1, W) : T + 1;
    if (c->q.noncausal) {
        u64 s2 = cmul(c->ovf, sum_min(c->ovf, T, W), 2);
        return s2 == UINT64_MAX ? s2 : s2 - T;   /* s2 >= 2T: no wrap; saturated stays saturated */
    }
    return sum_min(c->ovf, T, W);
}

u64 cc_span_topk(const cost_ctx *c, u64 k)
{
    u64 T = c->q.T;
    if (c->q.phase == PH_PREFILL && c->q.noncausal) return cmul(c->ovf, T, umin(T, k));
    return cc_span_window(c, k);   /* causal: min(u, k) per query, as a window of k */
}

u64 cc_span_compressed(const cost_ctx *c, u64 m, u64 k)
{
    u64 T = c->q.T;
    if (c->q.phase == PH_DECODE) {
        u64 v = (T + 1) / m;
        return k ? umin(v, k) : v;
    }
    if (c->q.noncausal) {
        u64 v = T / m;
        return cmul(c->ovf, T, k ? umin(v, k) : v);
    }
    return sum_floor_cap(c->ovf, T, m, k);
}

u64 cc_blocks_formed(const cost_ctx *c, u64 m)
{
    u64 T = c->q.T;
    if (c->q.phase == PH_PREFILL) return T / m;
    return (T + 1) / m - T / m;
}

int cost_kv_table(const model_spec *m, int i, u64 T, kv_buf *bufs, sim_err *e)
{
    const layer_spec *L = &m->layer[i];
    if (L->shared_kv) return 0;   /* a shared layer owns no cache */
    return L->attn.type->kv_table(m, L, T, bufs, e);
}

/* a + b k, saturating; overflow is or-ed into *of (no branch on the
 * common path: cost_add runs once per (row, layer) pair and per row). */
static inline u64 madd(bool *of, u64 a, u64 b, u64 k)
{
    u64 p, r;
    bool o = __builtin_mul_overflow(b, k, &p);
    o |= __builtin_add_overflow(a, p, &r);
    *of |= o;
    return o ? UINT64_MAX : r;
}

/* a += b * k, field by field (k identical layers); see cost.h. */
/* The fields one by one; always inlined so that k = 1 (summing rows into
 * the total) folds the multiplications away. */
static inline __attribute__((always_inline)) bool add_fields(cost_t *a, const cost_t *b, u64 k)
{
    bool of = false;
    for (int j = 0; j < FL_COUNT; j++) a->flops[j] = madd(&of, a->flops[j], b->flops[j], k);
    for (int j = 0; j < DT_COUNT; j++) a->flops_dt[j] = madd(&of, a->flops_dt[j], b->flops_dt[j], k);
    a->flops_fp8eq_x2 = cadd128(&of, a->flops_fp8eq_x2, cmul128(&of, b->flops_fp8eq_x2, k));
    a->kv_bytes = madd(&of, a->kv_bytes, b->kv_bytes, k);
    a->kv_read_bytes = madd(&of, a->kv_read_bytes, b->kv_read_bytes, k);
    a->kv_written_bytes = madd(&of, a->kv_written_bytes, b->kv_written_bytes, k);
    a->weight_read_bytes = madd(&of, a->weight_read_bytes, b->weight_read_bytes, k);
    a->act_bytes = madd(&of, a->act_bytes, b->act_bytes, k);
    a->params = madd(&of, a->params, b->params, k);
    a->params_active = madd(&of, a->params_active, b->params_active, k);
    a->params_embed = madd(&of, a->params_embed, b->params_embed, k);
    a->weight_bytes = madd(&of, a->weight_bytes, b->weight_bytes, k);
    _Static_assert(offsetof(cost_t, weight_bytes) + sizeof(u64) + 8 >= sizeof(cost_t),
                   "weight_bytes must stay cost_t's last field: cost_add adds each field by name");
    return of;
}

/* a += b, saturating, every field: sums of rows, with no multiplication. */
static inline u64 sadd(bool *of, u64 a, u64 b)
{
    u64 r;
    bool o = __builtin_add_overflow(a, b, &r);
    *of |= o;
    return o ? UINT64_MAX : r;
}

static bool add_fields1(cost_t *a, const cost_t *b)
{
    bool of = false;
    for (int j = 0; j < FL_COUNT; j++) a->flops[j] = sadd(&of, a->flops[j], b->flops[j]);
    for (int j = 0; j < DT_COUNT; j++) a->flops_dt[j] = sadd(&of, a->flops_dt[j], b->flops_dt[j]);
    a->flops_fp8eq_x2 = cadd128(&of, a->flops_fp8eq_x2, b->flops_fp8eq_x2);
    a->kv_bytes = sadd(&of, a->kv_bytes, b->kv_bytes);
    a->kv_read_bytes = sadd(&of, a->kv_read_bytes, b->kv_read_bytes);
    a->kv_written_bytes = sadd(&of, a->kv_written_bytes, b->kv_written_bytes);
    a->weight_read_bytes = sadd(&of, a->weight_read_bytes, b->weight_read_bytes);
    a->act_bytes = sadd(&of, a->act_bytes, b->act_bytes);
    a->params = sadd(&of, a->params, b->params);
    a->params_active = sadd(&of, a->params_active, b->params_active);
    a->params_embed = sadd(&of, a->params_embed, b->params_embed);
    a->weight_bytes = sadd(&of, a->weight_bytes, b->weight_bytes);
    return of;
}

void cost_add(bool *ovf, cost_t *a, const cost_t *b, u64 k)
{
    if (k == 1 ? add_fields1(a, b) : add_fields(a, b, k)) *ovf = true;
}

/* Sums of costs without a check per field (cost_add checks each of 27).
 * cost_bound(t) is at least every 64-bit count of t (their OR); a sum whose
 * terms' bounds times their counts add up below 2^64 (checked by cost_bound_add
 * on one number) cannot wrap in any field, so cost_add_plain's unchecked
 * sums are the checked ones. The 128-bit count is added checked. */
static u64 cost_bound(const cost_t *t)
{
    u64 x = t->kv_bytes | t->kv_read_bytes | t->kv_written_bytes | t->weight_read_bytes | t->act_bytes |
            t->params | t->params_active | t->params_embed | t->weight_bytes;
#pragma GCC unroll 16
    for (int j = 0; j < FL_COUNT; j++) x |= t->flops[j];
#pragma GCC unroll 16
    for (int j = 0; j < DT_COUNT; j++) x |= t->flops_dt[j];
    return x;
}

/* *hi += bound k; *wide when that passes 2^64 - 1 (use cost_add then). */
static inline void cost_bound_add(bool *wide, u64 *hi, u64 bound, u64 k)
{
    *hi = cadd(wide, *hi, cmul(wide, bound, k));
}

/* a += b k, every field, unchecked but for the 128-bit count: only where
 * cost_bound_add has shown that no 64-bit count can wrap. */
static inline __attribute__((always_inline)) void add_plain(bool *ovf, cost_t *a, const cost_t *b, u64 k)
{
#pragma GCC unroll 16   /* straight code: these sums are most of an evaluation's additions */
    for (int j = 0; j < FL_COUNT; j++) a->flops[j] += b->flops[j] * k;
#pragma GCC unroll 16
    for (int j = 0; j < DT_COUNT; j++) a->flops_dt[j] += b->flops_dt[j] * k;
    a->flops_fp8eq_x2 = cadd128(ovf, a->flops_fp8eq_x2, cmul128(ovf, b->flops_fp8eq_x2, k));
    a->kv_bytes += b->kv_bytes * k;
    a->kv_read_bytes += b->kv_read_bytes * k;
    a->kv_written_bytes += b->kv_written_bytes * k;
    a->weight_read_bytes += b->weight_read_bytes * k;
    a->act_bytes += b->act_bytes * k;
    a->params += b->params * k;
    a->params_active += b->params_active * k;
    a->params_embed += b->params_embed * k;
    a->weight_bytes += b->weight_bytes * k;
}

/* GCC pairs these multiplications into SSE2 vectors, which have no 64-bit
 * multiply (each pair then takes 12 instructions instead of 6): kept scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#define SCALAR_MUL __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define SCALAR_MUL
#endif

static SCALAR_MUL void cost_add_plain(bool *ovf, cost_t *a, const cost_t *b, u64 k)
{
    add_plain(ovf, a, b, k);
}

/* The same with k = 1 (sums of rows): no multiplication. */
static void cost_sum_plain(bool *ovf, cost_t *a, const cost_t *b)
{
    add_plain(ovf, a, b, 1);
}

/* A new row named a + b (b may be ""), truncated to the name's size. */
static inline cost_row *row_new(cost_result *r, const char *a, const char *b)
{
    cost_row *w = &r->type[r->n_types++];
    memset(w, 0, sizeof *w);
    size_t la = strlen(a), lb = strlen(b), cap = sizeof w->name - 1;
    if (la > cap) la = cap;
    if (lb > cap - la) lb = cap - la;
    memcpy(w->name, a, la);
    memcpy(w->name + la, b, lb);   /* zero-terminated by the memset */
    return w;
}

/* The row named name, made when missing (model parts: a layer type of the
 * same name shares its row, as before). */
static inline cost_row *row_for(cost_result *r, const char *name)
{
    for (int k = 0; k < r->n_types; k++)
        if (r->type[k].name[0] == name[0] && !strcmp(r->type[k].name, name)) return &r->type[k];
    return row_new(r, name, "");
}

/* The multi-token-prediction modules (spec.h mtp_n): stored always, used
 * only by speculative decoding. Per module (DeepSeek-V3 README_WEIGHTS.md:
 * enorm, hnorm, eh_proj, a transformer block, shared_head.norm; the
 * embedding and head are shared with the main model, as V3's paper has
 * them): the layer's weights + eh_proj [2d, d] (linear) + 3 d norm
 * weights (small). Their parameters are not active in plain decoding. */
/* On an mHC residual (DeepSeek-V4-Flash inference/model.py MTPBlock): S
 * streams, e_proj and h_proj [d, d] (eh_proj's two halves; h_proj and hnorm
 * applied to each stream) and the module's own mHC head unit hc_head_fn
 * [S, S d], base [S], scale [1]: its S^2 d + S + 1 weights (0 otherwise). */
static u64 mtp_streams(const model_spec *m)
{
    return m->mtp.res.streams && m->hc_streams ? m->hc_streams : 0;
}

static u64 mtp_hc_head(const model_spec *m, bool *ovf)
{
    u64 S = mtp_streams(m);
    return S ? cadd(ovf, cmul3(ovf, S, S, m->d_model), S + 1) : 0;
}

/* One module's stored parameters and bytes (its layer, eh_proj, norms) into
 * st (its only counts: params and weight_bytes): the same at every context,
 * batch and phase. */
static int mtp_stored(const cost_ctx *c, cost_t *st, sim_err *e)
{
    const model_spec *m = c->m;
    bool *ovf = c->ovf;
    u64 d = m->d_model;
    cost_t one;
    memset(&one, 0, sizeof one);
    const comp_type *t[] = {m->mtp.attn.type, m->mtp.ffn.type, m->mtp.res.type};
    for (int k = 0; k < 3; k++) {
        int rc = t[k] ? t[k]->cost(c, &m->mtp, &one, e) : SIM_OK;
        if (rc) return rc;
    }
    memset(st, 0, sizeof *st);
    st->params = one.params;
    st->weight_bytes = one.weight_bytes;
    cc_weights(c, st, WC_LINEAR, cmul3(ovf, 2, d, d), 0, false);   /* eh_proj */
    cc_weights(c, st, WC_SMALL, cadd(ovf, 3 * d, mtp_hc_head(m, ovf)), 0, false);   /* enorm, hnorm, norm (+ mHC head) */
    return SIM_OK;
}

int cost_mtp_stored(const model_spec *m, u64 *params, u64 *weight_bytes)
{
    bool ovf = false;
    cost_ctx c = {.m = m, .q = {.T = 1, .B = 1, .phase = PH_DECODE}, .ntok = 1, .ovf = &ovf};
    cost_t st;
    sim_err e;
    if (!m->mtp_n || mtp_stored(&c, &st, &e) || ovf) return SIM_EINVAL;
    *params = st.params;
    *weight_bytes = st.weight_bytes;
    return SIM_OK;
}

static int mtp_part(const cost_ctx *c_in, cost_row *w, sim_err *e)
{
    /* No op list for the module: it is not run by a plain step (and
     * --mtp evaluates without one, cost_eval_mtp). */
    cost_ctx c0 = *c_in;
    c0.ops = NULL;
    const cost_ctx *c = &c0;
    const model_spec *m = c->m;
    bool *ovf = c->ovf;
    u64 d = m->d_model;
    cost_t one;
    u64 params, bytes;   /* one module's stored parameters and bytes */
    if (m->plan_mtp && m->plan_n == m->n_layers) {
        /* The spec's plan holds them (spec_plan: cost_mtp_stored). */
        params = m->plan_mtp_params;
        bytes = m->plan_mtp_weight_bytes;
    } else {
        cost_t st;
        int rc = mtp_stored(c, &st, e);
        if (rc) return rc;
        params = st.params;
        bytes = st.weight_bytes;
    }
    w->c.params = cadd(ovf, w->c.params, cmul(ovf, params, m->mtp_n));
    w->c.weight_bytes = cadd(ovf, w->c.weight_bytes, cmul(ovf, bytes, m->mtp_n));
    if (!c->q.mtp) return SIM_OK;
    const comp_type *t[] = {m->mtp.attn.type, m->mtp.ffn.type, m->mtp.res.type};
    /* Speculative decoding: N draft steps, the j-th (j = 0..N-1) a decode of
     * one token per sequence at context T + j through a module (the modules
     * in turn, the last one again past mtp_n: all alike): its layer; eh_proj
     * of [RMSNorm(emb), RMSNorm(h)]; the final norm and the shared head's
     * logits; one embedding row. Every step reads its weights again. The
     * module's cache then holds T + N rows. */
    u64 N = c->q.mtp, B = c->q.B, V = m->vocab;
    dtype lin = m->compute[CC_LINEAR];
    for (u64 j = 0; j <= N; j++) {
        cost_ctx cj = *c;
        cj.q.T = cadd(ovf, c->q.T, j);
        cj.ntok = B;
        memset(&one, 0, sizeof one);
        for (int k = 0; k < 3; k++) {
            int rc = t[k] ? t[k]->cost(&cj, &m->mtp, &one, e) : SIM_OK;
            if (rc) return rc;
        }
        if (j == N) {   /* the module's cache after the drafts */
            w->c.kv_bytes = cadd(ovf, w->c.kv_bytes, one.kv_bytes);
            break;
        }
        one.kv_bytes = one.params = one.params_active = one.weight_bytes = 0;
        cc_weights(&cj, &one, WC_LINEAR, cmul3(ovf, 2, d, d), 1, false);
        cc_weights(&cj, &one, WC_SMALL, cadd(ovf, 3 * d, mtp_hc_head(m, ovf)), 1, false);
        cc_weights(&cj, &one, WC_EMBED, cmul(ovf, V, d), 1, false);   /* the shared head, read */
        one.params = one.weight_bytes = 0;                             /* stored above */
        one.weight_read_bytes = cadd(ovf, one.weight_read_bytes, cc_rate_bytes(&cj, WC_EMBED, cmul(ovf, umin(B, V), d)));
        u64 S = mtp_streams(m);
        if (!S) {
            cc_flops(&cj, &one, FL_PROJ, lin, cmul4(ovf, 2, B, 2 * d, d));                  /* eh_proj */
            cc_flops(&cj, &one, FL_OTHER, DT_FP32, cmul3(ovf, B, 3 * d, FLOPS_RMSNORM));   /* 3 norms */
        } else {
            /* MTPBlock.forward: e_proj(enorm(e)) + h_proj(hnorm(x)) per stream
             * (S + 1 projections, S + 2 norms with the final one, S d adds);
             * its head unit as model_parts' (RMSNorm over S d, projection to
             * S weights, the weighted sum). */
            cc_flops(&cj, &one, FL_PROJ, lin, cmul4(ovf, 2, B, (S + 1) * d, d));
            cc_flops(&cj, &one, FL_OTHER, DT_FP32, cadd(ovf, cmul3(ovf, B, (S + 2) * d, FLOPS_RMSNORM), cmul(ovf, B, S * d)));
            cc_flops(&cj, &one, FL_MHC, DT_FP32, cmul4(ovf, 2, B, S * d, S));
            cc_flops(&cj, &one, FL_MHC, DT_FP32, cmul3(ovf, B, S * d, FLOPS_RMSNORM + 2));
        }
        cc_flops(&cj, &one, FL_OTHER, lin, cmul4(ovf, 2, B, d, V));                     /* logits */
        one.act_bytes = cadd(ovf, one.act_bytes, cmul3(ovf, B, V, 4));
        cost_add(ovf, &w->c, &one, 1);
    }
    return SIM_OK;
}

/* The work of a step (FLOPs, cache traffic, activations) of b added to a:
 * no stored quantity (params, weights, cache size) and no weight reads. */
static void add_work(bool *ovf, cost_t *a, const cost_t *b)
{
    cost_t w = *b;
    w.kv_bytes = w.params = w.params_active = w.params_embed = w.weight_bytes = w.weight_read_bytes = 0;
    cost_add(ovf, a, &w, 1);
}

/* Speculative decoding with N = q->mtp drafts (cost.h): the draft work in
 * the `mtp` row (mtp_part); the main model verifies N + 1 tokens per
 * sequence, positions T .. T+N: each layer's work is that of N + 1 decodes
 * at contexts T .. T+N (each query sees its own prefix; a fused kernel may
 * read shared cache rows once, kvsim counts each query's reads), its
 * weights are read once for the N + 1 tokens (a decode of batch B (N+1):
 * the routed experts those tokens use), the embedding and head serve N + 1
 * tokens and logits, and the cache holds the drafts' rows too (T + N). */
static int cost_eval_mtp(const model_spec *m, const cost_query *q, cost_result *r, sim_err *e)
{
    if (q->phase != PH_DECODE) return sim_fail(e, SIM_EINVAL, "--mtp prices decode steps (speculative decoding): use --phase decode");
    if (!m->mtp_n) return sim_fail(e, SIM_EINVAL, "--mtp %llu: %s has no MTP module (`mtp:` in the spec)", (unsigned long long)q->mtp, m->name);
    bool ovf = false;
    u64 N = q->mtp;
    cost_query b = *q, wq = *q;
    b.mtp = wq.mtp = 0;
    wq.B = cmul(&ovf, q->B, N + 1);
    b.T = cadd(&ovf, q->T, N);
    if (ovf) return sim_fail(e, SIM_ERANGE, "--mtp %llu: context or batch exceeds 2^64-1", (unsigned long long)N);
    cost_result W, one;
    int rc = cost_eval(m, &wq, &W, e);
    if (rc) return rc;
    if ((rc = cost_eval(m, &b, r, e))) { cost_result_free(&W); return rc; }
    for (u64 j = 0; j < N && !rc; j++) {
        b.T = q->T + j;
        if ((rc = cost_eval(m, &b, &one, e))) break;
        for (int i = 0; i < r->n_layers; i++) add_work(&ovf, &r->layer[i], &one.layer[i]);
        for (int k = 0; k < r->n_types; k++)
            if (r->type[k].layers) add_work(&ovf, &r->type[k].c, &one.type[k].c);
        cost_result_free(&one);
    }
    for (int i = 0; i < r->n_layers && !rc; i++) r->layer[i].weight_read_bytes = W.layer[i].weight_read_bytes;
    for (int k = 0; k < r->n_types && !rc; k++) {
        if (r->type[k].layers) r->type[k].c.weight_read_bytes = W.type[k].c.weight_read_bytes;
        else if (strcmp(r->type[k].name, "mtp")) r->type[k].c = W.type[k].c;   /* embed, ple, head: N + 1 tokens */
    }
    cost_result_free(&W);
    if (rc) { cost_result_free(r); return rc; }
    /* The drafts (the `mtp` row, without the stored part already in r). */
    cost_ctx c = {.m = m, .q = *q, .ovf = &ovf, .ntok = q->B};
    cost_row *mr = NULL;
    for (int k = 0; k < r->n_types; k++)
        if (!strcmp(r->type[k].name, "mtp")) mr = &r->type[k];
    memset(&mr->c, 0, sizeof mr->c);
    if ((rc = mtp_part(&c, mr, e))) { cost_result_free(r); return rc; }
    memset(&r->total, 0, sizeof r->total);
    for (int k = 0; k < r->n_types; k++) cost_add(&ovf, &r->total, &r->type[k].c, 1);
    if (ovf) {
        cost_result_free(r);
        return sim_fail(e, SIM_ERANGE, "an exact count exceeds 2^64-1 (18.4e18) at ctx %llu, batch %llu, --mtp %llu",
                        (unsigned long long)q->T, (unsigned long long)q->B, (unsigned long long)N);
    }
    return SIM_OK;
}

/* Embedding lookup, per-layer embeddings (model-level part), final norm, the
 * mHC head unit and the LM head. Logits are computed for the last token of
 * each sequence only (B tokens), as an inference engine does. */
static int model_parts(const cost_ctx *c, cost_result *r, sim_err *e)
{
    const model_spec *m = c->m;
    bool *ovf = c->ovf;
    u64 d = m->d_model, ntok = c->ntok, nlog = c->q.B;
    dtype lin = m->compute[CC_LINEAR];
    cost_row *em = row_for(r, "embed");
    em->layers = 0;
    cost_t was = em->c;   /* the op list: each part's own operations (cost_ops_part) */
    if (c->ops) cost_ops_part(c->ops, (int)(em - r->type));
    /* The table is stored whole; a step reads one row per token (at most V rows). */
    u64 rows = umin(ntok, m->vocab);
    em->c.params = cmul(ovf, m->vocab, d);
    em->c.params_embed = em->c.params;
    em->c.weight_bytes = cc_rate_bytes(c, WC_EMBED, em->c.params);
    em->c.weight_read_bytes = cc_rate_bytes(c, WC_EMBED, cmul(ovf, rows, d));
    em->c.act_bytes = cmul3(ovf, ntok, d, dtype_table[m->act_dt].bits / 8);
    if (m->embed_scale)   /* Gemma: each row times sqrt(d_model) */
        cc_flops(c, &em->c, FL_OTHER, DT_FP32, cmul(ovf, ntok, d));
    if (m->n_layers && m->layer[0].res.scaled_merge) {
        /* ZAYA1: the first merge, (e + hb) hs (res_plain.c). */
        cc_weights(c, &em->c, WC_SMALL, 2 * d, 1, true);
        cc_flops(c, &em->c, FL_OTHER, DT_FP32, cmul3(ovf, ntok, d, 2));
    }
    /* Model-level parts of components (PLE's table), one row each. */
    if (m->ple.type && m->ple.type->model_cost) {
        cost_row *pl = row_for(r, m->ple.type->name);
        if (c->ops) {
            cost_ops_part_done(c->ops, &was, &em->c);
            was = pl->c;
            cost_ops_part(c->ops, (int)(pl - r->type));
        }
        int rc = m->ple.type->model_cost(c, &pl->c, e);
        if (rc) return rc;
        if (c->ops) { cost_ops_part_done(c->ops, &was, &pl->c); was = pl->c; }
    } else if (c->ops) cost_ops_part_done(c->ops, &was, &em->c);
    cost_row *hd = row_for(r, "head");
    if (c->ops) { was = hd->c; cost_ops_part(c->ops, (int)(hd - r->type)); }
    if (m->hc_streams) {
        /* mHC head unit: fn [n, n*d], base [n], scale [1] (research/deepseek.md
         * 3.5); per logit token: RMSNorm over n*d, projection to n weights,
         * sigmoid, and the weighted sum of the n streams. */
        u64 n = m->hc_streams;
        cc_weights(c, &hd->c, WC_SMALL, cadd(ovf, cmul3(ovf, n, n, d), n + 1), 1, true);
        cc_flops(c, &hd->c, FL_MHC, DT_FP32, cmul4(ovf, 2, nlog, cmul(ovf, n, d), n));
        cc_flops(c, &hd->c, FL_MHC, DT_FP32, cmul3(ovf, nlog, cmul(ovf, n, d), FLOPS_RMSNORM + 2));
    }
    cc_weights(c, &hd->c, WC_SMALL, d, 1, true);                       /* final norm */
    cc_flops(c, &hd->c, FL_OTHER, DT_FP32, cmul3(ovf, nlog, d, FLOPS_RMSNORM));
    if (!m->tie_embeddings) {
        cc_weights(c, &hd->c, WC_EMBED, cmul(ovf, m->vocab, d), 1, true);
    } else {
        /* Tied: the embedding table is read whole for the logits and is active. */
        hd->c.weight_read_bytes = cadd(ovf, hd->c.weight_read_bytes,
                                       cc_rate_bytes(c, WC_EMBED, cmul(ovf, m->vocab, d)));
        em->c.params_active = cmul(ovf, m->vocab, d);
    }
    cc_flops(c, &hd->c, FL_OTHER, lin, cmul4(ovf, 2, nlog, d, m->vocab));
    if (m->logit_softcap > 0)   /* Gemma: cap tanh(logit / cap), 3 FLOPs a logit */
        cc_flops(c, &hd->c, FL_OTHER, DT_FP32, cmul3(ovf, nlog, m->vocab, 3));
    hd->c.act_bytes = cmul3(ovf, nlog, m->vocab, 4);   /* fp32 logits out */
    if (c->ops) cost_ops_part_done(c->ops, &was, &hd->c);
    if (m->mtp_n) return mtp_part(c, row_for(r, "mtp"), e);
    return SIM_OK;
}

/* The metrics of t that saturated (checked arithmetic returns 2^64-1 on
 * overflow and a sum or product with a saturated term stays saturated), as
 * "flops.attn, flops" into what; returns how many. The FLOP total and bytes
 * moved are sums that cost_flops / cost_bytes_moved would saturate. */
static int range_names(const cost_t *t, char *what, size_t len)
{
    static const char *const other[] = {"kv_bytes", "kv_read_bytes", "kv_written_bytes", "weight_read_bytes",
                                        "act_bytes", "params", "params_active", "params_embed", "weight_bytes"};
    const u64 ov[] = {t->kv_bytes, t->kv_read_bytes, t->kv_written_bytes, t->weight_read_bytes,
                      t->act_bytes, t->params, t->params_active, t->params_embed, t->weight_bytes};
    _Static_assert(sizeof other / sizeof other[0] == sizeof ov / sizeof ov[0], "a name per metric");
    int n = 0;
    size_t k = 0;
    what[0] = 0;
#define RANGE_NAME(...) do { if (k < len) k += (size_t)snprintf(what + k, len - k, "%s", n++ ? ", " : ""); \
                             if (k < len) k += (size_t)snprintf(what + k, len - k, __VA_ARGS__); } while (0)
    bool sum_ovf = false;
    u64 sum = 0;
    for (int j = 0; j < FL_COUNT; j++) {
        if (t->flops[j] == UINT64_MAX) RANGE_NAME("flops.%s", flop_cat_name[j]);
        sum = cadd(&sum_ovf, sum, t->flops[j]);
    }
    if (sum == UINT64_MAX) RANGE_NAME("flops (the categories' sum)");
    if (t->flops_fp8eq_x2 == ~(u128)0) RANGE_NAME("flops_fp8_equiv");
    for (int j = 0; j < (int)(sizeof ov / sizeof ov[0]); j++)
        if (ov[j] == UINT64_MAX) RANGE_NAME("%s", other[j]);
    if (cost_bytes_moved(t) == UINT64_MAX) RANGE_NAME("bytes_moved (weights + KV read + written + activations)");
#undef RANGE_NAME
    return n;
}

/* The layers by the spec's plan (spec.h): the rows in order, each unit (a
 * distinct component of the root layers) costed once into unit[], each
 * (row, unit) pair added times its count; with every layer (lay, not
 * rows_only) each root is the sum of its units and the other layers are
 * copies of their root. */
static int eval_planned(const cost_ctx *c, cost_result *r, cost_t *lay, cost_t *unit, sim_err *e)
{
    const model_spec *m = c->m;
    for (int k = 0; k < m->plan_rows; k++) {
        cost_row *w = &r->type[r->n_types++];
        _Static_assert(sizeof w->name == sizeof m->plan_row[k].name, "the plan names rows as cost_row does");
        memcpy(w->name, m->plan_row[k].name, sizeof w->name);
        w->layers = m->plan_row[k].layers;
        memset(&w->c, 0, sizeof w->c);
    }
    for (int u = 0; u < m->plan_units; u++) {
        const layer_spec *L = &m->layer[m->plan_unit[u].layer];
        const comp_type *ty[] = {L->attn.type, L->ffn.type, L->res.type, m->ple.type};
        memset(&unit[u], 0, sizeof unit[u]);
        int rc = ty[m->plan_unit[u].cat]->cost(c, L, &unit[u], e);
        if (rc) return rc;
    }
    /* Each row's bound first: its sums unchecked when no count can wrap. */
    u64 bound[SPEC_PLAN_UNITS], hi[SPEC_MAX_KINDS * 2] = {0};
    bool wide = false;
    for (int u = 0; u < m->plan_units; u++) bound[u] = cost_bound(&unit[u]);
    for (int p = 0; p < m->plan_pairs; p++)
        cost_bound_add(&wide, &hi[m->plan_pair[p].row], bound[m->plan_pair[p].unit], (u64)m->plan_pair[p].count);
    for (int p = 0; p < m->plan_pairs; p++) {
        cost_t *row = &r->type[m->plan_pair[p].row].c;
        const cost_t *u = &unit[m->plan_pair[p].unit];
        u64 n = (u64)m->plan_pair[p].count;
        if (wide) cost_add(c->ovf, row, u, n);
        else cost_add_plain(c->ovf, row, u, n);
    }
    if (!lay) return SIM_OK;
    for (int k = 0; k < m->plan_roots; k++) {
        cost_t *o = &lay[m->plan_root[k]];
        const short *ru = m->plan_root_unit[k];
        u64 rhi = 0;
        wide = false;
        for (int j = 0; j < COMP_CAT_COUNT; j++)
            if (ru[j] >= 0) cost_bound_add(&wide, &rhi, bound[ru[j]], 1);
        memset(o, 0, sizeof *o);
        for (int j = 0; j < COMP_CAT_COUNT; j++) {
            if (ru[j] < 0) continue;
            if (wide) cost_add(c->ovf, o, &unit[ru[j]], 1);
            else cost_sum_plain(c->ovf, o, &unit[ru[j]]);
        }
    }
    for (int i = 0; i < r->n_layers; i++)
        if (m->layer[i].same_cost_as >= 0) lay[i] = lay[m->layer[i].same_cost_as];
    return SIM_OK;
}

int cost_eval(const model_spec *m, const cost_query *q, cost_result *r, sim_err *e)
{
    return cost_eval_ops(m, q, r, NULL, e);
}

int cost_eval_ops(const model_spec *m, const cost_query *q, cost_result *r, cost_ops *ops, sim_err *e)
{
    bool ovf = false;
    /* Only the header is cleared: rows are cleared as row_for creates them,
     * layers as they are computed or copied (this runs in microseconds). */
    r->layer = NULL;
    r->n_types = 0;
    memset(&r->total, 0, sizeof r->total);
    if (q->mtp) return cost_eval_mtp(m, q, r, e);
    if (q->T == 0) return sim_fail(e, SIM_EINVAL, "context must be at least 1 token");
    if (q->B == 0) return sim_fail(e, SIM_EINVAL, "batch must be at least 1");
    /* The computed layers (or the plan's units) live on the stack when few:
     * no allocation per evaluation for rows_only. */
    enum { LOCAL_COSTS = 64 };
    cost_t local[LOCAL_COSTS], *lay = local;
    cost_ctx c = {.m = m, .q = *q, .ovf = &ovf, .ops = ops};
    c.ntok = q->phase == PH_PREFILL ? cmul(&ovf, q->B, q->T) : q->B;
    cost_wrate wrate[WC_COUNT];
    if (m->plan_wrate_ok) {
        c.wrate = m->plan_wrate;   /* spec_plan prepared them */
    } else {
        c.wrate = wrate;
        for (int k = 0; k < WC_COUNT; k++)
            if (cost_wrate_prep(&wrate[k], &m->weight[k])) c.wrate = NULL;
    }
    r->n_layers = (int)m->n_layers;
    /* With the spec's plan (spec.h; not with an op list, which wants every
     * layer in order): its units, and every layer unless rows_only. */
    if (!ops && m->plan_n && m->plan_n == m->n_layers) {
        cost_t *unit = m->plan_units <= LOCAL_COSTS ? local : malloc((size_t)m->plan_units * sizeof *unit);
        if (!q->rows_only) r->layer = malloc(m->n_layers * sizeof *r->layer);
        int rc = !unit || (!q->rows_only && !r->layer) ? sim_fail(e, SIM_ENOMEM, "out of memory")
                                                       : eval_planned(&c, r, r->layer, unit, e);
        if (unit != local) free(unit);
        if (rc) { cost_result_free(r); return rc; }
        goto parts;
    }
    if (!q->rows_only || m->n_layers > LOCAL_COSTS) {
        lay = r->layer = malloc(m->n_layers * sizeof *r->layer);
        if (!r->layer) return sim_fail(e, SIM_ENOMEM, "out of memory");
    }
    if (ops) cost_ops_begin(ops);
    /* Rows by (kind, shared): made once per row, named without formatting. */
    int row_of[SPEC_MAX_KINDS][2];
    memset(row_of, -1, sizeof row_of);
    /* Tally (row, unique layer) pairs; the rows are summed once per pair
     * below, times its count, instead of once per layer. tally_of[root] is
     * the root's first pair (written when the root is computed, read only
     * for later layers); another row of the same root is searched for. */
    struct tally { int slot, root; u64 count; } tally[SPEC_MAX_LAYERS];
    int tally_of[SPEC_MAX_LAYERS];
    int ntally = 0;
    bool brief = m->brief_n >= m->n_layers;   /* spec_truncate keeps a prefix */
    for (int i = 0; i < r->n_layers; i++) {
        const layer_spec *L = &m->layer[i];
        cost_t *o = &lay[i];
        int kind = brief ? m->brief[i].kind : L->kind, sh = brief ? m->brief[i].shared_kv : L->shared_kv;
        int *slot = &row_of[kind][sh];
        if (*slot < 0) *slot = (int)(row_new(r, m->kind_name[kind], sh ? "/shared" : "") - r->type);
        r->type[*slot].layers++;
        int root = brief ? m->brief[i].same_cost_as : L->same_cost_as, t;
        if (root >= 0) {
            if (!q->rows_only) *o = lay[root];
            if (ops) cost_ops_repeat(ops, root, i, *slot);
            t = tally_of[root];
            if (tally[t].slot != *slot) {
                for (t = 0; t < ntally; t++)
                    if (tally[t].slot == *slot && tally[t].root == root) break;
                if (t == ntally) tally[ntally++] = (struct tally){*slot, root, 0};
            }
        } else {
            memset(o, 0, sizeof *o);
            if (ops) cost_ops_layer(ops, i, L, *slot);
            const comp_type *ty[] = {L->attn.type, L->ffn.type, L->res.type, m->ple.type};
            for (int k = 0; k < COMP_CAT_COUNT; k++) {
                int rc = ty[k] ? ty[k]->cost(&c, L, o, e) : SIM_OK;
                if (rc) { cost_result_free(r); return rc; }
            }
            if (ops) cost_ops_traffic(ops, o);
            t = tally_of[i] = ntally;
            tally[ntally++] = (struct tally){*slot, i, 0};
        }
        tally[t].count++;
    }
    for (int t = 0; t < ntally; t++) cost_add(&ovf, &r->type[tally[t].slot].c, &lay[tally[t].root], tally[t].count);
    if (ops) ops->layer = -1;
parts:
    if (q->rows_only) r->n_layers = 0;   /* only the computed layers were filled */
    int rc = model_parts(&c, r, e);
    if (rc) { cost_result_free(r); return rc; }
    /* (model_parts made at least the embed and head rows: the total starts as the first) */
    r->total = r->type[0].c;
    u64 hi = 0;
    bool wide = false;
    for (int k = 0; k < r->n_types; k++) cost_bound_add(&wide, &hi, cost_bound(&r->type[k].c), 1);
    for (int k = 1; k < r->n_types; k++) {
        if (wide) cost_add(&ovf, &r->total, &r->type[k].c, 1);
        else cost_sum_plain(&ovf, &r->total, &r->type[k].c);
    }
    if (ops) cost_ops_finish(ops, &r->total);
    char what[256];
    int nbad = range_names(&r->total, what, sizeof what);
    if (nbad || ovf) {
        cost_result_free(r);
        if (!nbad) snprintf(what, sizeof what, "an intermediate product");
        return sim_fail(e, SIM_ERANGE, "at ctx %llu, batch %llu the exact count%s of %s exceed%s 2^64-1 (18.4e18); "
                        "use a smaller context or batch", (unsigned long long)q->T, (unsigned long long)q->B,
                        nbad > 1 ? "s" : "", what, nbad > 1 ? "" : "s");
    }
    return SIM_OK;
}

void cost_result_free(cost_result *r)
{
    free(r->layer);
    r->layer = NULL;
}

void cost_fp8eq_str(const cost_t *c, char *buf, size_t len)
{
    char d[48];
    u128_str(c->flops_fp8eq_x2 / 2, d, sizeof d);
    snprintf(buf, len, "%s%s", d, c->flops_fp8eq_x2 % 2 ? ".5" : "");
}

u64 cost_fit_ctx(const model_spec *m, u64 B, double budget_bytes)
{
    cost_query q = {.T = 1, .B = B, .phase = PH_DECODE};
    cost_result r;
    sim_err e;
    if (cost_eval(m, &q, &r, &e)) return 0;
    double w = (double)r.total.weight_bytes;
    bool fits = w + (double)r.total.kv_bytes <= budget_bytes;
    cost_result_free(&r);
    if (!fits) return 0;
    u64 lo = 1, hi = 1ull << 40;   /* invariant: lo fits; the cache grows with T */
    while (lo < hi) {
        u64 mid = lo + (hi - lo + 1) / 2;
        q.T = mid;
        bool ok = false;
        if (cost_eval(m, &q, &r, &e) == SIM_OK) {
            ok = w + (double)r.total.kv_bytes <= budget_bytes;
            cost_result_free(&r);
        }
        if (ok) lo = mid; else hi = mid - 1;
    }
    return lo;
}

u64 cost_flops(const cost_t *c)
{
    bool ovf = false;
    u64 s = 0;
    for (int k = 0; k < FL_COUNT; k++) s = cadd(&ovf, s, c->flops[k]);
    return s;
}

u64 cost_bytes_moved(const cost_t *c)
{
    bool ovf = false;
    return cadd(&ovf, cadd(&ovf, c->weight_read_bytes, c->kv_read_bytes), cadd(&ovf, c->kv_written_bytes, c->act_bytes));
}
