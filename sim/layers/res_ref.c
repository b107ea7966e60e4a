/* ref_res.c - reference kernels of the residual types (res_plain.c, res_mhc.c):
 * each runs a whole layer, calling ref_sublayer for attention and FFN.
 *
 * Legend: n tokens, d = C = d_model, S streams, k = S^2 + 2S, X the
 * residual state (n x S x d).
 *
 * plain  x += [post_norm](F(norm(x))) for F = attention, then FFN; then the
 *        model's PLE update (ref_ple_update), then x *= layer_scalar. Counted as res_plain.c does: 2 (or 4 with
 *        post_norms) RMSNorms and 2 adds per token; the layer scalar's
 *        multiply is not counted (the model prices only its parameter). A
 *        layer with `ffn: none` still normalises and adds the (zero) FFN
 *        output: res_plain.c always prices two sublayers. scaled_merge
 *        (ZAYA1's ResidualScaling): x = (x + rb) rs + (f + hb) hs per
 *        sublayer, 4 FLOPs per element more (res_plain.c).
 * mhc    per sublayer and token (arXiv 2512.24880 eq. 7-9; research/deepseek.md
 *        3.5): x~ = RMSNorm(vec X) (no weight); [pre|post|res] =
 *        alpha * (x~ phi) + b (the alpha scaling and the bias adds are not
 *        counted, res_mhc.c's convention); A = sigmoid(pre), Cc =
 *        2 sigmoid(post), B = Sinkhorn-Knopp(exp(res)); u = A X; f =
 *        F(RMSNorm(u) w); X' = B^T X + Cc f. As DeepSeek-V4's released
 *        inference code computes it (model.py Block.hc_pre / hc_post,
 *        kernel.py hc_split_sinkhorn): A = sigmoid(pre) + hc_eps, the
 *        Sinkhorn a row softmax + hc_eps, then columns, then it - 1 times
 *        rows and columns (each sum + hc_eps), and X'[i] = Cc[i] f +
 *        sum_r B[r, i] X[r]. The projection phi runs in tf32.
 */
#include "ref.h"
#include "kern.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdlib.h>

/* ---- plain ------------------------------------------------------------------- */

typedef struct {
    ref_w *norm[2], *post[2], *scalar;
    ref_w *rs[2], *rb[2], *hs[2], *hb[2];   /* scaled_merge: per merge */
} plain;

static int plain_init(ref_layer *L, sim_err *e)
{
    u64 d = L->M->m->d_model;
    plain *p = calloc(1, sizeof *p);
    L->priv[2] = p;
    if (!p) return sim_fail(e, SIM_ENOMEM, "out of memory");
    static const char *const nn[2] = {"attn_norm", "ffn_norm"}, *const pn[2] = {"attn_post_norm", "ffn_post_norm"};
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        ok = ok && (p->norm[k] = ref_weight(L, nn[k], WC_SMALL, 1, d, 1, 0.1f));
        if (L->ls->res.post_norms) ok = ok && (p->post[k] = ref_weight(L, pn[k], WC_SMALL, 1, d, 1, 0.1f));
    }
    if (L->ls->res.layer_scalar) ok = ok && (p->scalar = ref_weight(L, "layer_scalar", WC_SMALL, 1, 1, 1, 0.1f));
    static const char *const mn[2] = {"attn_merge", "ffn_merge"};
    for (int k = 0; k < 2 && L->ls->res.scaled_merge; k++) {
        char nm[40];
        snprintf(nm, sizeof nm, "%s.res_scale", mn[k]);
        ok = ok && (p->rs[k] = ref_weight(L, nm, WC_SMALL, 1, d, 1, 0.2f));
        snprintf(nm, sizeof nm, "%s.res_bias", mn[k]);
        ok = ok && (p->rb[k] = ref_weight(L, nm, WC_SMALL, 1, d, 0, 0.1f));
        snprintf(nm, sizeof nm, "%s.hs_scale", mn[k]);
        ok = ok && (p->hs[k] = ref_weight(L, nm, WC_SMALL, 1, d, 1, 0.2f));
        snprintf(nm, sizeof nm, "%s.hs_bias", mn[k]);
        ok = ok && (p->hb[k] = ref_weight(L, nm, WC_SMALL, 1, d, 0, 0.1f));
    }
    return ok ? SIM_OK : sim_fail(e, SIM_ENOMEM, "out of memory");
}

static int plain_layer(ref_layer *L, const ref_step *s, float *X, sim_err *e)
{
    ref_model *M = L->M;
    plain *p = L->priv[2];
    u64 n = s->n, d = M->m->d_model;
    float *xn = REF_ALLOC(M, n * d, float), *f = REF_ALLOC(M, n * d, float);
    if (!xn || !f) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (int sub = 0; sub < 2; sub++) {
        ref_read(L, p->norm[sub]);
        for (u64 t = 0; t < n; t++) kern_rmsnorm(&L->c, FL_OTHER, X + t * d, p->norm[sub]->data, xn + t * d, d, L->eps);
        L->x_raw = X;
        int rc = ref_sublayer(L, s, sub ? SUB_FFN : SUB_ATTN, xn, f, e);
        L->x_raw = NULL;
        if (rc) return rc;
        if (p->post[sub]) {
            ref_read(L, p->post[sub]);
            for (u64 t = 0; t < n; t++) kern_rmsnorm(&L->c, FL_OTHER, f + t * d, p->post[sub]->data, f + t * d, d, L->eps);
        }
        kern_count(&L->c, FL_OTHER, DT_FP32, n * d * FLOPS_ADD);
        if (p->rs[sub]) {
            /* ZAYA1 (modeling_zaya.py ResidualScaling.forward, then
             * residual = hidden_states + residual). */
            const float *rs = p->rs[sub]->data, *rb = p->rb[sub]->data, *hs = p->hs[sub]->data, *hb = p->hb[sub]->data;
            ref_read(L, p->rs[sub]);
            ref_read(L, p->rb[sub]);
            ref_read(L, p->hs[sub]);
            ref_read(L, p->hb[sub]);
            kern_count(&L->c, FL_OTHER, DT_FP32, n * d * 4);
            for (u64 t = 0; t < n; t++)
#pragma omp simd
                for (u64 j = 0; j < d; j++)
                    X[t * d + j] = (X[t * d + j] + rb[j]) * rs[j] + (f[t * d + j] + hb[j]) * hs[j];
        } else {
#pragma omp simd
            for (u64 j = 0; j < n * d; j++) X[j] += f[j];
        }
    }
    /* Gemma 4 (Gemma4TextDecoderLayer.forward): the per-layer-embedding
     * update comes before the layer scalar multiplies the stream. */
    int rc = ref_ple_update(L, s, X, d, e);
    if (rc) return rc;
    if (p->scalar) {
        ref_read(L, p->scalar);
        for (u64 j = 0; j < n * d; j++) X[j] *= p->scalar->data[0];
    }
    return SIM_OK;
}

const ref_ops ref_res_plain = {.init = plain_init, .layer = plain_layer};

/* ---- mHC ---------------------------------------------------------------------- */

typedef struct {
    ref_w *fn[2], *base[2], *scale[2], *norm[2];
} mhc;

static int mhc_init(ref_layer *L, sim_err *e)
{
    u64 d = L->M->m->d_model, S = L->ls->res.streams, k = S * S + 2 * S;
    mhc *p = calloc(1, sizeof *p);
    L->priv[2] = p;
    if (!p) return sim_fail(e, SIM_ENOMEM, "out of memory");
    static const char *const pre[2] = {"hc_attn", "hc_ffn"}, *const nn[2] = {"attn_norm", "ffn_norm"};
    bool id = L->M->opt.mhc_identity, ok = true;
    for (int s = 0; s < 2; s++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%s_fn", pre[s]);
        ok = ok && (p->fn[s] = ref_weight(L, nm, WC_SMALL, S * d, k, 0, id ? 0 : 0.5f * sqrtf(3.0f / (float)(S * d))));
        snprintf(nm, sizeof nm, "%s_base", pre[s]);
        ok = ok && (p->base[s] = ref_weight(L, nm, WC_SMALL, 1, k, 0, 0.5f));
        snprintf(nm, sizeof nm, "%s_scale", pre[s]);
        ok = ok && (p->scale[s] = ref_weight(L, nm, WC_SMALL, 1, 3, 1, 0.1f));
        ok = ok && (p->norm[s] = ref_weight(L, nn[s], WC_SMALL, 1, d, 1, 0.1f));
        if (ok && id)
            for (u64 j = S; j < 2 * S; j++) p->base[s]->data[j] = 0;   /* post = 2 sigmoid(0) = 1 */
    }
    return ok ? SIM_OK : sim_fail(e, SIM_ENOMEM, "out of memory");
}

static int mhc_layer(ref_layer *L, const ref_step *s, float *X, sim_err *e)
{
    ref_model *M = L->M;
    mhc *p = L->priv[2];
    u64 n = s->n, d = M->m->d_model, S = L->ls->res.streams, k = S * S + 2 * S, it = L->ls->res.sinkhorn_iters;
    float eps = (float)L->ls->res.hc_eps;
    cost_t *c = &L->c;
    float *xv = REF_ALLOC(M, n * S * d, float), *h = REF_ALLOC(M, n * k, float);
    float *u = REF_ALLOC(M, n * d, float), *f = REF_ALLOC(M, n * d, float), *Bt = REF_ALLOC(M, n * S * S, float);
    float *Xn = REF_ALLOC(M, S * d, float);
    if (!xv || !h || !u || !f || !Bt || !Xn) return sim_fail(e, SIM_ENOMEM, "out of memory");
    static const char *const bname[2] = {"hc_attn_B", "hc_ffn_B"};
    for (int sub = 0; sub < 2; sub++) {
        for (u64 t = 0; t < n; t++) kern_rmsnorm(c, FL_MHC, X + t * S * d, NULL, xv + t * S * d, S * d, L->eps);
        ref_mm(L, FL_MHC, DT_TF32, p->fn[sub], xv, n, h, false);
        ref_read(L, p->base[sub]);
        ref_read(L, p->scale[sub]);
        ref_read(L, p->norm[sub]);
        const float *b = p->base[sub]->data, *al = p->scale[sub]->data;
        kern_count(c, FL_MHC, DT_FP32, n * (2 * S * 4 + (eps > 0 ? S : 0)));   /* the 2S sigmoids (+ eps on pre) */
        for (u64 t = 0; t < n; t++) {
            float *ht = h + t * k, *B = Bt + t * S * S;
            for (u64 j = 0; j < S; j++) {
                ht[j] = kern_sigmoid(al[0] * ht[j] + b[j]) + eps;                /* A (pre) */
                ht[S + j] = 2.0f * kern_sigmoid(al[1] * ht[S + j] + b[S + j]);   /* Cc */
            }
            for (u64 j = 0; j < S * S; j++) B[j] = al[2] * ht[2 * S + j] + b[2 * S + j];
            kern_sinkhorn(c, B, S, it, eps);
            /* u = A X (the pre-mix), then the sublayer's own RMSNorm. */
            kern_hc_pre(u + t * d, ht, X + t * S * d, S, d);
            kern_rmsnorm(c, FL_OTHER, u + t * d, p->norm[sub]->data, u + t * d, d, L->eps);
        }
        kern_count(c, FL_MHC, DT_FP32, n * 2 * S * d);
        ref_trace(M, L->i, bname[sub], Bt, n, S * S);
        int rc = ref_sublayer(L, s, sub ? SUB_FFN : SUB_ATTN, u, f, e);
        if (rc) return rc;
        /* Block.hc_post: X'[i] = Cc[i] f + sum_r B[r, i] X[r] (comb's rows
         * index the source stream): the residual mix (2 S^2 d) and the post
         * (2 S d). */
        kern_count(c, FL_MHC, DT_FP32, n * (2 * S * S * d + 2 * S * d));
        for (u64 t = 0; t < n; t++) kern_hc_post(X + t * S * d, Xn, Bt + t * S * S, h + t * k + S, f + t * d, S, d);
    }
    return SIM_OK;
}

const ref_ops ref_res_mhc = {.init = mhc_init, .layer = mhc_layer};
