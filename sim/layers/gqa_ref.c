/* ref_gqa.c - reference kernel of MHA / GQA / MQA (attn_gqa.c): sliding
 * window, cross-layer KV sharing, per-layer head counts, q/k norms, qkv
 * biases, an output-projection bias, output gate, K = V, sink.
 *
 * Legend: n tokens in the step, d = d_model, H query heads, G kv heads, h
 * q/k head dim, v value dim, W window (0 = global), r = rope_dim.
 * Cache row (one per token, format kv_format): [K of G heads | V of G heads]
 * after q/k norm and RoPE (K only with k_eq_v and no v_norm: the values are
 * the cached keys).
 *
 * Executed per token: q = x Wq (+b), k = x Wk (+b), v = x Wv (+b) (with
 * k_eq_v and v_norm, Gemma 4's attention_k_eq_v: v = the raw k projection,
 * before k's norm and RoPE); RMSNorm of each q / k head (qk_norm); RMSNorm
 * without weight of each v head (v_norm); RoPE of each q / k head (the
 * layer's base, scaling and layout, kern.h); each query attends to keys
 * max(0, t-W+1) .. t with scores scaled by 1/sqrt(h) (1 with unit_scale);
 * gate = softplus(x Wg) per head multiplies the head's output (out_gate:
 * Laguna's released LagunaAttention); y = o Wo.
 * Conventions of attn_gqa.c kept here: the score scale and the sink logit
 * are not counted (the model counts no FLOPs for either).
 * A shared layer owns no cache and no K/V projections: in prefill it attends
 * to the rows its source layer computed (kept in memory, as engines do; the
 * model counts no cache read in prefill), in decode it reads the source's
 * cache on its own account. */
#include "ref.h"
#include "kern.h"
#include "quant.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ref_w *wq, *wk, *wv, *wo, *wg, *bias, *obias, *qn, *kn, *sink;
    u64 H, G, h, v, kvw;      /* kvw = cache row width */
} gqa;

static int init(ref_layer *L, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 d = L->M->m->d_model;
    gqa *g = calloc(1, sizeof *g);
    if (!g) return sim_fail(e, SIM_ENOMEM, "out of memory");
    L->priv[0] = g;
    bool sh = L->ls->shared_kv;
    /* YaRN (transformers _compute_yarn_parameters): attention_factor =
     * get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) when
     * both are given, else get_mscale(factor) = 0.1 ln(factor) + 1; the
     * rotary embedding multiplies cos and sin by it (Laguna's full layers). */
    const rope_cfg *rc = &L->rope.cfg;
    if (rc->scaling == ROPE_SCALE_YARN && rc->factor > 1) {
        double f = rc->factor;
        L->rope.amp = rc->mscale > 0 && rc->mscale_all_dim > 0 ? (0.1 * rc->mscale * log(f) + 1.0) / (0.1 * rc->mscale_all_dim * log(f) + 1.0)
                                                               : 0.1 * log(f) + 1.0;
    }
    g->H = a->q_heads;
    g->G = a->kv_heads;
    g->h = a->head_dim;
    g->v = attn_vdim(a);
    g->kvw = g->G * (g->h + (a->k_eq_v && !a->v_norm ? 0 : g->v));
    float sd = sqrtf(3.0f / (float)d);
    g->wq = ref_weight(L, "wq", WC_LINEAR, d, g->H * g->h, 0, sd);
    g->wo = ref_weight(L, "wo", WC_LINEAR, g->H * g->v, d, 0, sqrtf(3.0f / (float)(g->H * g->v)));
    bool ok = g->wq && g->wo;
    if (!sh) {
        g->wk = ref_weight(L, "wk", WC_LINEAR, d, g->G * g->h, 0, sd);
        ok = ok && g->wk;
        if (!a->k_eq_v) ok = ok && (g->wv = ref_weight(L, "wv", WC_LINEAR, d, g->G * g->v, 0, sd));
    }
    if (a->out_gate) ok = ok && (g->wg = ref_weight(L, "wg", WC_LINEAR, d, g->H, 0, sd));
    if (a->qkv_bias) ok = ok && (g->bias = ref_weight(L, "qkv_bias", WC_SMALL, 1, g->H * g->h + (sh ? 0 : g->kvw), 0, 0.1f));
    if (a->o_bias) ok = ok && (g->obias = ref_weight(L, "o_bias", WC_SMALL, 1, d, 0, 0.1f));
    if (a->qk_norm) {
        ok = ok && (g->qn = ref_weight(L, "q_norm", WC_SMALL, 1, g->h, 1, 0.1f));
        if (!sh) ok = ok && (g->kn = ref_weight(L, "k_norm", WC_SMALL, 1, g->h, 1, 0.1f));
    }
    if (a->sink) ok = ok && (g->sink = ref_weight(L, "sink", WC_SMALL, 1, g->H, 0, 1.0f));
    if (!ok) return sim_fail(e, SIM_ENOMEM, "out of memory");
    return sh ? SIM_OK : ref_cache_bind(L, 0, &a->kv_fmt, g->kvw, e);
}

static int forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    gqa *g = L->priv[0];
    bool sh = L->ls->shared_kv;
    u64 n = s->n, d = M->m->d_model, H = g->H, G = g->G, h = g->h, v = g->v, kvw = g->kvw, W = a->window;
    u64 r = a->rope_dim;
    dtype lin = M->m->compute[CC_LINEAR];
    cost_t *c = &L->c;
    float *q = REF_ALLOC(M, n * H * h, float), *o = REF_ALLOC(M, n * H * v, float);
    float *rows = NULL;
    if (!q || !o) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_mm(L, FL_PROJ, lin, g->wq, x, n, q, false);
    if (!sh) {
        /* K and V straight into cache-row layout [K | V]. */
        bool own_v = !a->k_eq_v || a->v_norm;   /* the row holds V */
        float *k = REF_ALLOC(M, n * G * h, float), *vv = own_v ? REF_ALLOC(M, n * G * v, float) : NULL;
        rows = REF_ALLOC(M, n * kvw, float);
        if (!k || !rows || (own_v && !vv)) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ref_mm(L, FL_PROJ, lin, g->wk, x, n, k, false);
        if (vv && !a->k_eq_v) ref_mm(L, FL_PROJ, lin, g->wv, x, n, vv, false);
        if (vv && a->k_eq_v) memcpy(vv, k, n * G * h * sizeof(float));   /* V = the raw key projection */
        for (u64 t = 0; t < n; t++) {
            memcpy(rows + t * kvw, k + t * G * h, G * h * sizeof(float));
            if (vv) memcpy(rows + t * kvw + G * h, vv + t * G * v, G * v * sizeof(float));
        }
    }
    if (g->bias) {
        ref_read(L, g->bias);
        kern_count(c, FL_OTHER, DT_FP32, n * (H * h + (sh ? 0 : kvw)));
        for (u64 t = 0; t < n; t++) {
            for (u64 j = 0; j < H * h; j++) q[t * H * h + j] += g->bias->data[j];
            if (!sh)
                for (u64 j = 0; j < kvw; j++) rows[t * kvw + j] += g->bias->data[H * h + j];
        }
    }
    for (u64 t = 0; t < n; t++) {
        u64 pos = s->T0 + t;
        for (u64 hh = 0; hh < H; hh++) {
            float *qh = q + (t * H + hh) * h;
            if (g->qn) { ref_read(L, g->qn); kern_rmsnorm(c, FL_OTHER, qh, g->qn->data, qh, h, L->eps); }
            kern_rope(c, &L->rope, qh, r, pos, false);
        }
        for (u64 gg = 0; !sh && gg < G; gg++) {
            float *kh = rows + t * kvw + gg * h;
            if (g->kn) { ref_read(L, g->kn); kern_rmsnorm(c, FL_OTHER, kh, g->kn->data, kh, h, L->eps); }
            kern_rope(c, &L->rope, kh, r, pos, false);
            if (a->v_norm) {
                float *vh = rows + t * kvw + G * h + gg * v;
                kern_rmsnorm(c, FL_OTHER, vh, NULL, vh, v, L->eps);
            }
        }
    }
    ref_trace(M, L->i, "q", q, n, H * h);
    /* Attention: a prefill over the step's rows (tiled, causal or with
     * opt.noncausal bidirectional), a decode over the cache, streamed from
     * its stored bytes. Query at position t sees max(0, t-W+1) .. t (non-
     * causal prefill: .. min(n-1, t+W-1)). */
    ref_layer *own = ref_owner(L);
    if (g->sink) ref_read(L, g->sink);
    kern_attn ka = {H, G, h, v, 0, kvw == G * h ? 0 : G * h, a->unit_scale ? 1.0f : 1.0f / sqrtf((float)h),
                    g->sink ? g->sink->data : NULL, M->m->compute[CC_ATTENTION]};
    if (s->ph == PH_PREFILL) {
        /* Only the rows the cache holds at the end are written (cost.h's
         * prefill); every row is attended to in its stored form. */
        int rc = ref_window_prefill(L, &ka, n, W, rows, kvw, q, H * h, o, H * v, e);
        if (rc) return rc;
    } else {
        u64 P = s->T0;   /* the new token's position: written first, then read with the rest */
        if (!sh) ref_kv_write(L, 0, W ? P % W : P, rows);
        u64 base = W && P + 1 > W ? P + 1 - W : 0;
        kern_src src;
        ref_kv_src(L, own, 0, W, base, P + 1 - base, NULL, &src);
        float *work = REF_WORK(M, kern_attn_query_work(&ka, &src, 1));
        if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
        kern_attn_query(c, &ka, q, &src, 1, o, work);
    }
    if (g->wg) {
        float *gate = REF_ALLOC(M, n * H, float);
        if (!gate) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ref_mm(L, FL_PROJ, lin, g->wg, x, n, gate, false);
        kern_count(c, FL_OTHER, DT_FP32, n * (H * FLOPS_ACT + H * v));
        for (u64 t = 0; t < n; t++)
            for (u64 hh = 0; hh < H; hh++) {
                float z = gate[t * H + hh], gv = z > 20 ? z : log1pf(expf(z));   /* softplus */
                for (u64 j = 0; j < v; j++) o[(t * H + hh) * v + j] *= gv;
            }
    }
    ref_trace(M, L->i, "attn_o", o, n, H * v);
    ref_mm(L, FL_PROJ, lin, g->wo, o, n, y, false);
    if (g->obias) {   /* LlamaAttention: o_proj(attn_output) with bias=attention_bias */
        ref_read(L, g->obias);
        kern_count(c, FL_OTHER, DT_FP32, n * d);
        for (u64 t = 0; t < n; t++)
            for (u64 j = 0; j < d; j++) y[t * d + j] += g->obias->data[j];
    }
    return SIM_OK;
}

const ref_ops ref_attn_gqa = {.init = init, .forward = forward};
