/* ref_mla.c - reference kernel of multi-head latent attention (attn_mla.c),
 * and the MLA pieces DSA reuses (ref_dsa.c).
 *
 * Legend: n tokens, d = d_model, H heads, rq = q_lora_rank, r = kv_lora_rank,
 * np = nope_dim, p = rope_dim, v = v_head_dim, W window (0 = global).
 * Weights: wq_a [d, rq], q_norm [rq], wq_b [rq, H(np+p)] (rq = 0: wq
 * [d, H(np+p)]); wkv_a [d, r+p], kv_norm [r], wkv_b [r, H(np+v)] (head h:
 * columns h(np+v) .. +np are W_UK, the next v are W_UV); wo [Hv, d].
 * Cache row (kv_format): [RMSNorm(c) (r) | RoPE(k_pe) (p)], one per token.
 *
 * Two forms, chosen per layer by mla_form (attn_mla.c; auto: expanded
 * prefill, absorbed decode), in either phase:
 * expanded: k_nope | v = c W_UK | c W_UV for every latent row the step uses
 * (prefill: the step's tokens; decode: every key read), scores
 * q_nope.k_nope + q_pe.k_pe (2H(np+p) per pair), values 2Hv per pair.
 * absorbed: q_abs = W_UK q_nope (2 np r per head and query), MQA over the
 * latent rows (scores 2H(r+p), values 2Hr per pair), out = o_lat W_UV
 * (2 r v per head). Both scale scores by 1/sqrt(np+p) (times mscale^2
 * under YaRN, ref_mla_softmax_scale), so they agree to float rounding
 * (opt.mla_expanded_decode forces an expanded decode).
 * RoPE: the last p dims of each q head and the shared k_pe, rotating
 * adjacent pairs (x[2i], x[2i+1]) by frequency i: the interleaved layout of
 * DeepSeek's apply_rotary_emb (view_as_complex), mla_rope.
 */
#include "ref.h"
#include "kern.h"
#include "quant.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ref_mla_init(ref_layer *L, ref_mla *w, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 d = L->M->m->d_model, H = a->q_heads, rq = a->q_lora_rank, r = a->kv_lora_rank;
    u64 np = a->nope_dim, p = a->rope_dim, v = a->v_head_dim;
    if (L->ls->shared_kv)
        return sim_fail(e, SIM_EINVAL, "layer %d: KV sharing of a %s layer is not supported by the reference kernels "
                        "(the cost model still prices its latent projection)", L->i, a->type->name);
    float sd = sqrtf(3.0f / (float)d);
    bool ok = true;
    if (rq) {
        ok = (w->wq_a = ref_weight(L, "wq_a", WC_LINEAR, d, rq, 0, sd)) &&
             (w->wq_b = ref_weight(L, "wq_b", WC_LINEAR, rq, H * (np + p), 0, sqrtf(3.0f / (float)rq))) &&
             (w->q_norm = ref_weight(L, "q_norm", WC_SMALL, 1, rq, 1, 0.1f));
    } else {
        ok = (w->wq = ref_weight(L, "wq", WC_LINEAR, d, H * (np + p), 0, sd));
    }
    ok = ok && (w->wkv_a = ref_weight(L, "wkv_a", WC_LINEAR, d, r + p, 0, sd)) &&
         (w->kv_norm = ref_weight(L, "kv_norm", WC_SMALL, 1, r, 1, 0.1f)) &&
         (w->wkv_b = ref_weight(L, "wkv_b", WC_LINEAR, r, H * (np + v), 0, sqrtf(3.0f / (float)r))) &&
         (w->wo = ref_weight(L, "wo", WC_LINEAR, H * v, d, 0, sqrtf(3.0f / (float)(H * v))));
    if (!ok) return sim_fail(e, SIM_ENOMEM, "out of memory");
    return ref_cache_bind(L, 0, &a->kv_fmt, r + p, e);
}

/* RoPE of p (even, <= MLA_ROPE_MAX: mla_check) interleaved dims: gathered
 * into kern_rope's half layout (pair i = (x[2i], x[2i+1]) -> (y[i],
 * y[i + p/2])), rotated, scattered back. Counted by kern_rope. */
static void mla_rope(cost_t *c, const kern_rope_cfg *r, float *x, u64 p, u64 pos)
{
    float y[MLA_ROPE_MAX];
    for (u64 i = 0; i < p / 2; i++) { y[i] = x[2 * i]; y[i + p / 2] = x[2 * i + 1]; }
    kern_rope(c, r, y, p, pos, false);
    for (u64 i = 0; i < p / 2; i++) { x[2 * i] = y[i]; x[2 * i + 1] = y[i + p / 2]; }
}

int ref_mla_project(ref_layer *L, ref_mla *w, const ref_step *s, const float *x, float *q, float *cq, float *rows, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    u64 n = s->n, H = a->q_heads, rq = a->q_lora_rank, r = a->kv_lora_rank, np = a->nope_dim, p = a->rope_dim;
    dtype lin = M->m->compute[CC_LINEAR];
    cost_t *c = &L->c;
    (void)e;
    if (rq) {
        ref_mm(L, FL_PROJ, lin, w->wq_a, x, n, cq, false);
        ref_read(L, w->q_norm);
        for (u64 t = 0; t < n; t++) kern_rmsnorm(c, FL_OTHER, cq + t * rq, w->q_norm->data, cq + t * rq, rq, L->eps);
        ref_mm(L, FL_PROJ, lin, w->wq_b, cq, n, q, false);
    } else {
        ref_mm(L, FL_PROJ, lin, w->wq, x, n, q, false);
    }
    ref_mm(L, FL_PROJ, lin, w->wkv_a, x, n, rows, false);
    ref_read(L, w->kv_norm);
    for (u64 t = 0; t < n; t++) {
        u64 pos = s->T0 + t;
        float *row = rows + t * (r + p);
        kern_rmsnorm(c, FL_OTHER, row, w->kv_norm->data, row, r, L->eps);
        mla_rope(c, &L->rope, row + r, p, pos);
        for (u64 h = 0; h < H; h++) mla_rope(c, &L->rope, q + (t * H + h) * (np + p) + np, p, pos);
    }
    return SIM_OK;
}

void ref_mla_qabs(ref_layer *L, ref_mla *w, const float *q, u64 n, float *qa)
{
    const attn_cfg *a = &L->ls->attn;
    u64 H = a->q_heads, r = a->kv_lora_rank, np = a->nope_dim, p = a->rope_dim, v = a->v_head_dim;
    dtype lin = L->M->m->compute[CC_LINEAR];
    ref_read(L, w->wkv_b);
    for (u64 h = 0; h < H; h++) {
        /* q_abs = W_UK q_nope: (n x np) . (r x np)^T; RoPE part copied. */
        ref_mm_at(L, FL_PROJ, lin, w->wkv_b, h * (np + v), H * (np + v), np, r, q + h * (np + p), H * (np + p), n,
                  qa + h * (r + p), H * (r + p), true, false);
        for (u64 t = 0; t < n; t++)
            memcpy(qa + (t * H + h) * (r + p) + r, q + (t * H + h) * (np + p) + np, p * sizeof(float));
    }
}

void ref_mla_out(ref_layer *L, ref_mla *w, const float *ol, u64 n, float *o)
{
    const attn_cfg *a = &L->ls->attn;
    u64 H = a->q_heads, r = a->kv_lora_rank, np = a->nope_dim, v = a->v_head_dim;
    dtype lin = L->M->m->compute[CC_LINEAR];
    for (u64 h = 0; h < H; h++)   /* out = o_lat W_UV: (n x r) . (r x v) */
        ref_mm_at(L, FL_PROJ, lin, w->wkv_b, h * (np + v) + np, H * (np + v), r, v, ol + h * r, H * r, n, o + h * v, H * v,
                  false, false);
}

/* Softmax scale of MLA / DSA scores: 1/sqrt(np + p), and under YaRN
 * scaling (rope.scaling.type yarn, factor f > 1) times mscale^2 with
 * mscale = 0.1 m ln f + 1, m = rope.scaling.mscale: DeepSeek's
 * inference/model.py, MLA.__init__ (HF's DeepseekV3Attention gives the
 * same with mscale_all_dim = 1, as V3's config.json has). */
float ref_mla_softmax_scale(const ref_layer *L)
{
    const attn_cfg *a = &L->ls->attn;
    const rope_cfg *rc = &L->M->m->rope;
    double s = 1.0 / sqrt((double)(a->nope_dim + a->rope_dim));
    if (rc->scaling == ROPE_SCALE_YARN && rc->factor > 1) {
        double ms = 0.1 * rc->mscale * log(rc->factor) + 1.0;
        s *= ms * ms;
    }
    return (float)s;
}

kern_attn ref_mla_kattn(const ref_layer *L)
{
    const attn_cfg *a = &L->ls->attn;
    u64 r = a->kv_lora_rank, p = a->rope_dim;
    /* MQA over the latent rows: key = the whole row (r + p), value = its first r. */
    return (kern_attn){a->q_heads, 1, r + p, r, 0, 0, ref_mla_softmax_scale(L), NULL,
                       L->M->m->compute[CC_ATTENTION]};
}

int ref_mla_absorbed(ref_layer *L, ref_mla *w, const float *q, const kern_src *src, float *o, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    u64 H = a->q_heads, r = a->kv_lora_rank, p = a->rope_dim;
    kern_attn ka = ref_mla_kattn(L);
    ref_mark mk = ref_scratch_mark(M);
    float *qa = REF_ALLOC(M, H * (r + p), float), *ol = REF_ALLOC(M, H * r, float);
    float *work = REF_WORK(M, kern_attn_query_work(&ka, src, 1));
    if (!qa || !ol || !work) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_mla_qabs(L, w, q, 1, qa);
    kern_attn_query(&L->c, &ka, qa, src, 1, ol, work);
    ref_mla_out(L, w, ol, 1, o);
    ref_scratch_release(M, mk);
    return SIM_OK;
}

int ref_mla_expand(ref_layer *L, ref_mla *w, const float *lat, u64 nrows, float *KV, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    u64 H = a->q_heads, r = a->kv_lora_rank, np = a->nope_dim, p = a->rope_dim, v = a->v_head_dim;
    u64 dq = np + p, rw = H * (dq + v);
    ref_mark mk = ref_scratch_mark(M);
    float *kx = REF_ALLOC(M, nrows * H * (np + v), float);
    if (!kx) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_read(L, w->wkv_b);
    ref_mm_at(L, FL_PROJ, M->m->compute[CC_LINEAR], w->wkv_b, 0, H * (np + v), r, H * (np + v), lat, r + p, nrows, kx,
              H * (np + v), false, false);
    /* Per row: the heads' keys [k_nope | k_pe], then their values. */
    for (u64 j = 0; j < nrows; j++)
        for (u64 h = 0; h < H; h++) {
            memcpy(KV + j * rw + h * dq, kx + j * H * (np + v) + h * (np + v), np * sizeof(float));
            memcpy(KV + j * rw + h * dq + np, lat + j * (r + p) + r, p * sizeof(float));
            memcpy(KV + j * rw + H * dq + h * v, kx + j * H * (np + v) + h * (np + v) + np, v * sizeof(float));
        }
    ref_scratch_release(M, mk);
    return SIM_OK;
}

kern_attn ref_mla_kattn_expanded(const ref_layer *L)
{
    const attn_cfg *a = &L->ls->attn;
    u64 H = a->q_heads, dq = a->nope_dim + a->rope_dim;
    return (kern_attn){H, H, dq, a->v_head_dim, 0, H * dq, ref_mla_softmax_scale(L), NULL, L->M->m->compute[CC_ATTENTION]};
}

/* Expanded attention of the step's queries over rows [lo_t .. P_t] of the
 * latent rows `lat` (whose first row is position `base`), expanded here. */
static int expanded(ref_layer *L, const ref_step *s, const float *q, const float *lat, u64 base, u64 nrows, float *o,
                    sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    u64 H = a->q_heads, np = a->nope_dim, p = a->rope_dim, v = a->v_head_dim, W = a->window, n = s->n;
    u64 dq = np + p, rw = H * (dq + v);
    ref_mark mk = ref_scratch_mark(M);
    float *KV = REF_ALLOC(M, nrows * rw, float);
    u64 *lo = REF_ALLOC(M, 2 * n, u64), *hi = lo ? lo + n : NULL;
    if (!KV || !lo) return sim_fail(e, SIM_ENOMEM, "out of memory");
    int rc = ref_mla_expand(L, L->priv[0], lat, nrows, KV, e);
    if (rc) return rc;
    if (s->ph == PH_PREFILL) ref_window_bounds(M, n, W, lo, hi);   /* base 0 */
    for (u64 t = 0; s->ph == PH_DECODE && t < n; t++) {
        u64 P = s->T0 + t;
        lo[t] = (W && P + 1 > W ? P + 1 - W : 0) - base;
        hi[t] = P + 1 - base;
    }
    kern_attn ka = ref_mla_kattn_expanded(L);
    kern_src src = {.x = KV, .ld = rw};
    float *work = REF_WORK(M, kern_attn_causal_work(&ka, n, lo, hi, 1));
    if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
    kern_attn_causal(&L->c, &ka, n, q, H * dq, &src, 1, lo, hi, o, H * v, work);
    ref_scratch_release(M, mk);
    return SIM_OK;
}

static int init(ref_layer *L, sim_err *e)
{
    ref_mla *w = calloc(1, sizeof *w);
    L->priv[0] = w;
    if (!w) return sim_fail(e, SIM_ENOMEM, "out of memory");
    return ref_mla_init(L, w, e);
}

static int forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    ref_mla *w = L->priv[0];
    u64 n = s->n, H = a->q_heads, rq = a->q_lora_rank, r = a->kv_lora_rank, np = a->nope_dim, p = a->rope_dim;
    u64 v = a->v_head_dim, W = a->window, rw = r + p;
    dtype lin = M->m->compute[CC_LINEAR];
    int rc;
    float *q = REF_ALLOC(M, n * H * (np + p), float), *cq = REF_ALLOC(M, n * (rq ? rq : 1), float);
    float *rows = REF_ALLOC(M, n * rw, float), *o = REF_ALLOC(M, n * H * v, float);
    if (!q || !cq || !rows || !o) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if ((rc = ref_mla_project(L, w, s, x, q, cq, rows, e))) return rc;
    ref_trace(M, L->i, "q", q, n, H * (np + p));
    bool absorbed = mla_form_absorbed(a, s->ph, false) && !(s->ph == PH_DECODE && M->opt.mla_expanded_decode);
    if (s->ph == PH_PREFILL) {
        ref_window_store(L, 0, n, W, rows, rw);
        if (!absorbed) {
            /* Expand K_nope and V for every token of the step (wkv_b per token). */
            if ((rc = expanded(L, s, q, rows, 0, n, o, e))) return rc;
        } else {
            /* Absorbed: q_abs per query, MQA over the step's latent rows (in
             * their stored form), out = o_lat W_UV. */
            kern_attn ka = ref_mla_kattn(L);
            float *qa = REF_ALLOC(M, n * H * rw, float), *ol = REF_ALLOC(M, n * H * r, float);
            u64 *lo = REF_ALLOC(M, 2 * n, u64), *hi = lo ? lo + n : NULL;
            if (!qa || !ol || !lo) return sim_fail(e, SIM_ENOMEM, "out of memory");
            ref_window_bounds(M, n, W, lo, hi);
            ref_mla_qabs(L, w, q, n, qa);
            kern_src src = {.x = rows, .ld = rw};
            float *work = REF_WORK(M, kern_attn_causal_work(&ka, n, lo, hi, 1));
            if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
            kern_attn_causal(&L->c, &ka, n, qa, H * rw, &src, 1, lo, hi, ol, H * r, work);
            ref_mla_out(L, w, ol, n, o);
        }
    } else {
        u64 P = s->T0, base = W && P + 1 > W ? P + 1 - W : 0, nk = P + 1 - base;
        ref_kv_write(L, 0, W ? P % W : P, rows);
        if (!absorbed) {
            /* Expanded: every key read from the cache is expanded again. */
            float *lat = REF_ALLOC(M, nk * rw, float);
            if (!lat) return sim_fail(e, SIM_ENOMEM, "out of memory");
            for (u64 pp = base; pp <= P; pp++) ref_kv_read(L, L, 0, W ? pp % W : pp, lat + (pp - base) * rw);
            if ((rc = expanded(L, s, q, lat, base, nk, o, e))) return rc;
        } else {
            /* Absorbed: MQA over the latent rows, streamed from the cache. */
            kern_src src;
            ref_kv_src(L, L, 0, W, base, nk, NULL, &src);
            if ((rc = ref_mla_absorbed(L, w, q, &src, o, e))) return rc;
        }
    }
    ref_trace(M, L->i, "attn_o", o, n, H * v);
    ref_mm(L, FL_PROJ, lin, w->wo, o, n, y, false);
    return SIM_OK;
}

const ref_ops ref_attn_mla = {.init = init, .forward = forward};
