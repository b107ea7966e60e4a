/* ref_ffn.c - reference kernels of the FFN types (ffn_none.c, ffn_dense.c,
 * ffn_moe.c).
 *
 * Legend: n tokens, d = d_model, f = d_ff, E routed experts, k = top_k,
 * outs = E (+1 with skip_route), R = router_mlp width.
 *
 * dense  y = (act(x Wg) * (x Wu)) Wd   (gated; plain: gelu(x Wu) Wd). The
 *        activation is counted FLOPS_ACT per hidden element either way
 *        (ffn_dense.c's convention).
 * moe    routed experts are dense MLPs of width f, shared experts one MLP of
 *        width shared * shared_d_ff (the same FLOPs as `shared` separate ones);
 *        shared_gate (Qwen2-MoE): the shared output times sigmoid(x . w).
 *        Router: p = softmax(x Wr) (linear, no bias), the k experts with the
 *        largest p (ties to the lower index) combined with weights p
 *        renormalised over the chosen ones; routed_scale multiplies the
 *        weights. `score: sigmoid` (DeepSeek V3's Gate, deepseek_route; also
 *        Laguna's LagunaTopKRouter): sigmoid scores, group-limited choice by
 *        score + bias, the chosen scores normalised x routed_scale; its route
 *        FLOPs are moe_route_flops'. Hash routing (DeepSeek V4's first
 *        layers, DeepSeek-V4-Flash inference/model.py Gate): token id -> k
 *        distinct experts from a fixed pseudo-random table, weighted by the
 *        router's scores of them (no selection bias), normalised and times
 *        routed_scale as above. swiglu_limit (V4 Expert): up clamped to
 *        [-l, l], gate to <= l.
 *        router_mlp (ZAYA1, Zyphra transformers models/zaya/modeling_zaya.py
 *        ZayaRouter and ZayaBlock; the same in Zyphra's serving zaya.py):
 *        h = x Wdown + b; from the second router MLP of the model on, h +=
 *        h_prev * scale (EDA: h_prev is the previous router MLP's h, the
 *        same token, this step); h_prev := h; logits = W3 gelu(W2 gelu(W1
 *        RMSNorm(h) + b1) + b2) (erf GELU, nn.GELU()); p = softmax over
 *        E (+1 skip) outputs; the k outputs with the largest p + balancing
 *        bias are chosen; weight = p, not renormalised. skip_route (MOD):
 *        a token whose choice is the skip output passes x p through (no
 *        expert; with k > 1 every choice after a skip is the skip, as the
 *        released code forces). The balancing biases are the released
 *        initialisation's shape: 0 (here U[0, 0.1]) for the experts, -1
 *        for the skip, so that p_skip - 1 = -(sum of the experts' p) < 0 <=
 *        p_e + b_e and the skip is never chosen, which is what the cost
 *        model prices (every token through k experts; a checkpoint's
 *        trained biases may choose the skip and execute less). Only the
 *        router MLP's matmuls are counted (ffn_moe.c's convention).
 *        gemma4_block (Gemma 4 26B-A4B; transformers
 *        models/gemma4/modeling_gemma4.py Gemma4TextDecoderLayer with
 *        enable_moe_block, Gemma4TextRouter, Gemma4TextExperts): the shared
 *        expert is the dense MLP on the FFN input x (the residual's
 *        pre_feedforward_layernorm), its output RMSNormed
 *        (post_feedforward_layernorm_1); the router reads the residual r
 *        before that norm: p = softmax((RMSNorm(r) (no weight) * scale *
 *        d^-1/2) Wr), top-k by p, weights renormalised then times
 *        per_expert_scale[e]; the routed experts run on
 *        pre_feedforward_layernorm_2(r) and their sum is RMSNormed
 *        (post_feedforward_layernorm_2); the two branches are added (the
 *        residual's post-norm and add follow). Counted: the four RMSNorms
 *        (FLOPS_RMSNORM per element), the router input's two multiplies
 *        per element and the k per-expert multiplies.
 *        Counted: router matmuls, softmax (learned routers only), expert
 *        matmuls and activations, 2 d per (token, expert) combine. Expert
 *        weights are read once per step for each expert some token chose:
 *        at most min(E, n k), the analytical model's assumption.
 */
#include "ref.h"
#include "kern.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdlib.h>

/* ---- none -------------------------------------------------------------------- */

static int none_forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    (void)x; (void)e;
    memset(y, 0, s->n * L->M->m->d_model * sizeof *y);
    return SIM_OK;
}

const ref_ops ref_ffn_none = {.forward = none_forward};

/* ---- one MLP (dense, shared experts, one routed expert) ------------------------- */

typedef struct {
    ref_w *wg, *wu, *wd;      /* wg NULL: plain (ungated) */
} mlp;

static bool mlp_init(ref_layer *L, mlp *p, const char *pre, u64 d, u64 f, bool gated)
{
    char nm[32];
    float sd = sqrtf(3.0f / (float)d);
    snprintf(nm, sizeof nm, "%sw_up", pre);
    p->wu = ref_weight(L, nm, WC_LINEAR, d, f, 0, sd);
    snprintf(nm, sizeof nm, "%sw_down", pre);
    p->wd = ref_weight(L, nm, WC_LINEAR, f, d, 0, sqrtf(3.0f / (float)f));
    p->wg = NULL;
    if (gated) {
        snprintf(nm, sizeof nm, "%sw_gate", pre);
        p->wg = ref_weight(L, nm, WC_LINEAR, d, f, 0, sd);
    }
    return p->wu && p->wd && (!gated || p->wg);
}

/* y (+)= MLP(x) for n rows with the [d, f] blocks of wg (NULL: not gated)
 * and wu and the [f, d] block of wd starting at element `off` (a routed
 * expert: one stacked tensor of each; 0: the whole tensors); the caller counts
 * weight reads. */
static int mlp_run(ref_layer *L, const ref_w *wg, const ref_w *wu, const ref_w *wd, u64 off, u64 d, u64 f,
                   const float *x, u64 n, float *y, bool acc, sim_err *e)
{
    ref_model *M = L->M;
    dtype lin = M->m->compute[CC_LINEAR];
    ref_mark mk = ref_scratch_mark(M);
    float *u = REF_ALLOC(M, n * f, float), *g = wg ? REF_ALLOC(M, n * f, float) : NULL;
    if (!u || (wg && !g)) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_mm_at(L, FL_FFN, lin, wu, off, f, d, f, x, d, n, u, f, false, false);
    if (wg) {
        ref_mm_at(L, FL_FFN, lin, wg, off, f, d, f, x, d, n, g, f, false, false);
        double lim = L->ls->ffn.swiglu_limit;
        if (lim > 0) {
            /* DeepSeek-V4 Expert.forward: up = clamp(up, -l, l), gate =
             * clamp(gate, max=l); 3 per hidden element (ffn_moe.c). */
            float l = (float)lim;
            kern_count(&L->c, FL_OTHER, DT_FP32, 3 * n * f);
            for (u64 j = 0; j < n * f; j++) {
                u[j] = u[j] > l ? l : u[j] < -l ? -l : u[j];
                g[j] = g[j] > l ? l : g[j];
            }
        }
        kern_act(&L->c, g, u, u, n * f, L->ls->ffn.act == FFN_ACT_GELU_TANH);   /* act(gate) * up */
    } else {
        kern_act(&L->c, u, NULL, u, n * f, true);
    }
    ref_mm_at(L, FL_FFN, lin, wd, off, d, f, d, u, f, n, y, d, false, acc);
    ref_scratch_release(M, mk);
    return SIM_OK;
}

static void mlp_read(ref_layer *L, mlp *p)
{
    ref_read(L, p->wu);
    ref_read(L, p->wd);
    if (p->wg) ref_read(L, p->wg);
}

/* ---- dense -------------------------------------------------------------------- */

static int dense_init(ref_layer *L, sim_err *e)
{
    const ffn_cfg *f = &L->ls->ffn;
    mlp *p = calloc(1, sizeof *p);
    L->priv[1] = p;
    if (!p || !mlp_init(L, p, "", L->M->m->d_model, f->d_ff, f->gated)) return sim_fail(e, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

static int dense_forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    mlp *p = L->priv[1];
    mlp_read(L, p);
    return mlp_run(L, p->wg, p->wu, p->wd, 0, L->M->m->d_model, L->ls->ffn.d_ff, x, s->n, y, false, e);
}

const ref_ops ref_ffn_dense = {.init = dense_init, .forward = dense_forward};

/* ---- moe ---------------------------------------------------------------------- */

typedef struct {
    ref_w *eg, *eu, *ed;      /* routed experts: E blocks of [d, f], [d, f], [f, d] */
    mlp shared;               /* all shared experts as one MLP (unused when shared = 0) */
    ref_w *sgate;             /* shared_gate: [d, 1] */
    ref_w *router, *rbias;    /* linear router [d, outs] + selection bias [outs] */
    ref_w *rdown, *rdown_b, *rscale, *rnorm, *rw1, *rb1, *rw2, *rb2, *rout;   /* MLP router */
    ref_w *gscale, *gpes, *gpost1, *gpre2, *gpost2;   /* gemma4_block */
    u64 outs;
    bool eda;                 /* router MLP: not the model's first, adds the previous state */
} moe;

static int moe_init(ref_layer *L, sim_err *e)
{
    const ffn_cfg *f = &L->ls->ffn;
    u64 d = L->M->m->d_model, E = f->experts, ff = f->d_ff, sff = f->shared_d_ff ? f->shared_d_ff : f->d_ff;
    moe *p = calloc(1, sizeof *p);
    L->priv[1] = p;
    if (!p) return sim_fail(e, SIM_ENOMEM, "out of memory");
    p->outs = E + (f->skip_route ? 1 : 0);
    float sd = sqrtf(3.0f / (float)d);
    /* One tensor per matrix, the experts stacked along its rows, each
     * expert's bytes contiguous (ref_weight_stacked; unless that would
     * change rounded values): a product with one expert streams one run of
     * memory, not d_ff or d pieces strided by the whole stack. */
    bool ok = (p->eu = ref_weight_stacked(L, "experts.w_up", WC_EXPERT, E * d, ff, E, 0, sd)) &&
              (p->ed = ref_weight_stacked(L, "experts.w_down", WC_EXPERT, E * ff, d, E, 0, sqrtf(3.0f / (float)ff)));
    if (f->gated) ok = ok && (p->eg = ref_weight_stacked(L, "experts.w_gate", WC_EXPERT, E * d, ff, E, 0, sd));
    if (f->shared) ok = ok && mlp_init(L, &p->shared, "shared.", d, f->shared * sff, f->gated);
    if (f->shared_gate) ok = ok && (p->sgate = ref_weight(L, "shared.gate", WC_ROUTER, d, 1, 0, sd));
    if (f->router_mlp) {
        u64 R = f->router_mlp;
        float sr = sqrtf(3.0f / (float)R);
        ok = ok && (p->rdown = ref_weight(L, "router.down", WC_SMALL, d, R, 0, sd)) &&
             (p->rdown_b = ref_weight(L, "router.down_b", WC_SMALL, 1, R, 0, 0.1f)) &&
             (p->rscale = ref_weight(L, "router.scale", WC_SMALL, 1, R, 1, 0.1f)) &&
             (p->rnorm = ref_weight(L, "router.norm", WC_SMALL, 1, R, 1, 0.1f)) &&
             (p->rw1 = ref_weight(L, "router.w1", WC_SMALL, R, R, 0, sr)) &&
             (p->rb1 = ref_weight(L, "router.b1", WC_SMALL, 1, R, 0, 0.1f)) &&
             (p->rw2 = ref_weight(L, "router.w2", WC_SMALL, R, R, 0, sr)) &&
             (p->rb2 = ref_weight(L, "router.b2", WC_SMALL, 1, R, 0, 0.1f)) &&
             (p->rout = ref_weight(L, "router.out", WC_SMALL, R, p->outs, 0, 4.0f * sr)) &&
             (p->rbias = ref_weight(L, "router.balancing_bias", WC_SMALL, 1, p->outs, 0.05f, 0.05f));
        if (ok && f->skip_route) p->rbias->data[E] = -1.0f;   /* ZayaRouter: balancing_biases[-1] = -1 */
        /* EDA from the second router MLP of the model on (ZayaRouter: not
         * the first MoE layer). */
        for (int j = 0; j < L->i && !p->eda; j++) p->eda = L->M->m->layer[j].ffn.router_mlp != 0;
    } else if (f->gemma4_block) {
        ok = ok && (p->router = ref_weight(L, "router", WC_ROUTER, d, E, 0, 4.0f * sd)) &&
             (p->gscale = ref_weight(L, "router.scale", WC_SMALL, 1, d, 1, 0.2f)) &&
             (p->gpes = ref_weight(L, "router.per_expert_scale", WC_SMALL, 1, E, 1, 0.2f)) &&
             (p->gpost1 = ref_weight(L, "post_ffn_norm_1", WC_SMALL, 1, d, 1, 0.1f)) &&
             (p->gpre2 = ref_weight(L, "pre_ffn_norm_2", WC_SMALL, 1, d, 1, 0.1f)) &&
             (p->gpost2 = ref_weight(L, "post_ffn_norm_2", WC_SMALL, 1, d, 1, 0.1f));
    } else {
        /* Hash layers keep the gate (DeepSeek-V4 model.py Gate: its weight
         * scores the table's experts), without the selection bias; a softmax
         * router has none either (moe_has_sel_bias). */
        ok = ok && (p->router = ref_weight(L, "router", WC_ROUTER, d, p->outs, 0, sd)) &&
             (!moe_has_sel_bias(f) || (p->rbias = ref_weight(L, "router.bias", WC_SMALL, 1, p->outs, 0, 0.1f)));
    }
    if (!ok) return sim_fail(e, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

/* The hash table's row for a token: k distinct experts (a partial
 * Fisher-Yates shuffle driven by the model's stream for this layer). */
static void hash_experts(ref_layer *L, int32_t tok, u64 E, u64 k, u64 *out, u64 *perm)
{
    for (u64 j = 0; j < E; j++) perm[j] = j;
    for (u64 j = 0; j < k; j++) {
        u64 r = j + ref_rand_index(L->M, 1000003u * (u64)(L->i + 1), (u64)tok * 64 + j, E - j);
        u64 t = perm[j];
        perm[j] = perm[r];
        perm[r] = t;
        out[j] = perm[j];
    }
}

/* nn.GELU() (the exact, erf form): ZAYA1's router MLP. */
static float gelu_erf(float v)
{
    return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

/* Router scores for n tokens into p[n, outs] (probabilities). */
static int route_scores(ref_layer *L, moe *p, const float *x, u64 n, float *pr, sim_err *e)
{
    ref_model *M = L->M;
    const ffn_cfg *f = &L->ls->ffn;
    u64 outs = p->outs;
    dtype lin = M->m->compute[CC_LINEAR];
    if (f->router_mlp) {
        /* ZayaRouter.forward (the header comment). */
        u64 R = f->router_mlp;
        float *a = REF_ALLOC(M, n * R, float), *b = REF_ALLOC(M, n * R, float);
        if (!a || !b) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ref_w *rs[] = {p->rdown_b, p->rscale, p->rnorm, p->rb1, p->rb2};
        for (int k = 0; k < 5; k++) ref_read(L, rs[k]);
        ref_mm(L, FL_FFN, lin, p->rdown, x, n, a, false);
        bool eda = p->eda && M->eda_step == M->step_id;
        for (u64 t = 0; t < n; t++)
            for (u64 j = 0; j < R; j++)
                a[t * R + j] += p->rdown_b->data[j] + (eda ? M->eda[t * R + j] * p->rscale->data[j] : 0.0f);
        if (M->eda_cap < n * R) {
            float *ne = realloc(M->eda, n * R * sizeof *ne);
            if (!ne) return sim_fail(e, SIM_ENOMEM, "out of memory");
            M->eda = ne;
            M->eda_cap = n * R;
        }
        memcpy(M->eda, a, n * R * sizeof *a);   /* router_hidden_states_next: before the norm */
        M->eda_step = M->step_id;
        for (u64 t = 0; t < n; t++) {
            /* Uncounted (ffn_moe.c prices the router MLP's matmuls only). */
            cost_t junk = {0};
            kern_rmsnorm(&junk, FL_OTHER, a + t * R, p->rnorm->data, a + t * R, R, L->eps);
        }
        ref_mm(L, FL_FFN, lin, p->rw1, a, n, b, false);
        for (u64 j = 0; j < n * R; j++) b[j] = gelu_erf(b[j] + p->rb1->data[j % R]);
        ref_mm(L, FL_FFN, lin, p->rw2, b, n, a, false);
        for (u64 j = 0; j < n * R; j++) a[j] = gelu_erf(a[j] + p->rb2->data[j % R]);
        ref_mm(L, FL_FFN, lin, p->rout, a, n, pr, false);
    } else if (f->gemma4_block) {
        /* Gemma4TextRouter.forward on the pre-norm residual: RMSNorm without
         * weight, times scale and d^-1/2, then the projection. */
        u64 d = M->m->d_model;
        const float *xr = L->x_raw ? L->x_raw : x;
        float *r = REF_ALLOC(M, n * d, float);
        if (!r) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ref_read(L, p->gscale);
        float root = 1.0f / sqrtf((float)d);
        for (u64 t = 0; t < n; t++) kern_rmsnorm(&L->c, FL_OTHER, xr + t * d, NULL, r + t * d, d, L->eps);
        kern_count(&L->c, FL_OTHER, DT_FP32, n * d * 2);
        for (u64 t = 0; t < n; t++)
            for (u64 j = 0; j < d; j++) r[t * d + j] = r[t * d + j] * p->gscale->data[j] * root;
        ref_mm(L, FL_FFN, lin, p->router, r, n, pr, false);
    } else {
        ref_mm(L, FL_FFN, lin, p->router, x, n, pr, false);
    }
    if (f->score != MOE_SCORE_SOFTMAX) {
        /* moe_route_flops: the sigmoids, bias adds, group sums, normalisation
         * and scale of deepseek_route, counted here once per token. */
        kern_count(&L->c, FL_OTHER, DT_FP32, n * moe_route_flops(f));
        if (f->score == MOE_SCORE_SIGMOID)
            for (u64 j = 0; j < n * outs; j++) pr[j] = kern_sigmoid(pr[j]);
        else   /* sqrt(softplus), softplus = log1p(exp(x)) written stably */
            for (u64 j = 0; j < n * outs; j++) pr[j] = sqrtf(fmaxf(pr[j], 0.0f) + log1pf(expf(-fabsf(pr[j]))));
        return SIM_OK;
    }
    for (u64 t = 0; t < n; t++) kern_softmax(&L->c, FL_OTHER, pr + t * outs, outs, 1.0f, -INFINITY);
    return SIM_OK;
}

/* a ranks before b among the scores v: larger first, ties to the lower index. */
static bool ahead(const float *v, u64 a, u64 b)
{
    return v[a] > v[b] || (v[a] == v[b] && a < b);
}

/* DeepSeek V3's Gate for one token (inference/model.py): s = sigmoid scores
 * (E), b = s + bias; with G > 1 groups, each group's score is the sum of its
 * two best b, the topk_group best groups stay eligible; the k best eligible b
 * are chosen (ties to the lower index: torch.topk leaves ties unspecified);
 * weights = s of the chosen / their sum x routed_scale. work: E + 2 G floats. */
static void deepseek_route(const ffn_cfg *f, const float *s, const float *bias, u64 *sel, float *wt, float *work)
{
    u64 E = f->experts, k = f->top_k, G = f->n_group > 1 ? f->n_group : 1, per = E / G;
    u64 TG = f->topk_group ? f->topk_group : G;
    float *b = work, *gs = work + E, *ok = work + E + G;
    for (u64 x = 0; x < E; x++) b[x] = s[x] + bias[x];
    for (u64 g = 0; g < G; g++) {
        u64 i1 = g * per, i2 = g * per + 1;   /* the group's best two */
        if (ahead(b, i2, i1)) { i1 = g * per + 1; i2 = g * per; }
        for (u64 x = g * per + 2; x < (g + 1) * per; x++) {
            if (ahead(b, x, i1)) { i2 = i1; i1 = x; }
            else if (ahead(b, x, i2)) i2 = x;
        }
        gs[g] = G > 1 ? b[i1] + b[i2] : 0.0f;
        ok[g] = 0;
    }
    for (u64 j = 0; j < TG; j++) {
        u64 best = G;
        for (u64 g = 0; g < G; g++)
            if (!ok[g] && (best == G || ahead(gs, g, best))) best = g;
        ok[best] = 1;
    }
    double sum = 0;
    for (u64 j = 0; j < k; j++) {
        u64 best = E;
        for (u64 x = 0; x < E; x++) {
            if (!ok[x / per]) continue;
            bool taken = false;
            for (u64 jj = 0; jj < j; jj++) taken |= sel[jj] == x;
            if (!taken && (best == E || ahead(b, x, best))) best = x;
        }
        sel[j] = best;
        sum += s[best];
    }
    double scale = f->routed_scale > 0 ? f->routed_scale : 1.0;
    for (u64 j = 0; j < k; j++) wt[j] = (float)(s[sel[j]] / sum * scale);
}

static int moe_forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const ffn_cfg *f = &L->ls->ffn;
    moe *p = L->priv[1];
    u64 n = s->n, d = M->m->d_model, E = f->experts, k = f->top_k, ff = f->d_ff, outs = p->outs;
    u64 sff = f->shared_d_ff ? f->shared_d_ff : f->d_ff;
    int rc;
    u64 *sel = REF_ALLOC(M, n * k, u64), *perm = REF_ALLOC(M, E, u64);
    float *wt = REF_ALLOC(M, n * k, float);
    if (!sel || !perm || !wt) return sim_fail(e, SIM_ENOMEM, "out of memory");
    /* Routing. */
    if (f->hash) {
        /* DeepSeek-V4 Gate with hash: the table's experts (tid2eid), weighted
         * by the router's scores of them (original_scores.gather), then
         * normalised (and times routed_scale) as the learned route does. */
        float *pr = REF_ALLOC(M, n * outs, float);
        if (!pr) return sim_fail(e, SIM_ENOMEM, "out of memory");
        if ((rc = route_scores(L, p, x, n, pr, e))) return rc;
        double scale = f->routed_scale > 0 ? f->routed_scale : 1.0;
        for (u64 t = 0; t < n; t++) {
            hash_experts(L, s->tok[t], E, k, sel + t * k, perm);
            double sum = 0;
            for (u64 j = 0; j < k; j++) sum += pr[t * outs + sel[t * k + j]];
            if (f->score == MOE_SCORE_SOFTMAX && f->routed_scale > 0 && f->routed_scale != 1)
                kern_count(&L->c, FL_OTHER, DT_FP32, k);   /* moe_route_flops' k scale multiplies */
            for (u64 j = 0; j < k; j++) wt[t * k + j] = (float)(pr[t * outs + sel[t * k + j]] / sum * scale);
        }
    } else {
        float *pr = REF_ALLOC(M, n * outs, float);
        if (!pr) return sim_fail(e, SIM_ENOMEM, "out of memory");
        if ((rc = route_scores(L, p, x, n, pr, e))) return rc;
        if (p->rbias) ref_read(L, p->rbias);
        if (f->score != MOE_SCORE_SOFTMAX) {
            float *work = REF_ALLOC(M, E + 2 * (f->n_group + 1), float);
            if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
            for (u64 t = 0; t < n; t++) deepseek_route(f, pr + t * outs, p->rbias->data, sel + t * k, wt + t * k, work);
        }
        /* With the MLP router the skip output (index E) is a candidate
         * (ZAYA1's MOD); a linear router chooses among the E experts. */
        u64 cand = f->router_mlp ? outs : E;
        for (u64 t = 0; t < n && f->score == MOE_SCORE_SOFTMAX; t++) {
            const float *pt = pr + t * outs;
            double sum = 0;
            for (u64 j = 0; j < k; j++) {
                /* The j-th largest p + bias (the routers without a bias:
                 * the j-th largest p); after a skip, the skip (ZayaRouter:
                 * cumsum_mask > 0 -> skip_idx). */
                u64 best = cand;
                float bv = 0;
                bool forced = j > 0 && f->skip_route && sel[t * k + j - 1] == E;
                if (forced) best = E;
                for (u64 x2 = 0; x2 < cand && !forced; x2++) {
                    bool taken = false;
                    for (u64 jj = 0; jj < j; jj++) taken |= sel[t * k + jj] == x2;
                    float v = pt[x2] + (p->rbias ? p->rbias->data[x2] : 0.0f);
                    if (!taken && (best == cand || v > bv)) { best = x2; bv = v; }
                }
                sel[t * k + j] = best;
                wt[t * k + j] = pt[best];
                sum += pt[best];
            }
            /* ZAYA1's MLP router keeps p as is; the others renormalise over
             * the chosen k (Gemma4TextRouter: top_k_weights /= sum). */
            if (!f->router_mlp)
                for (u64 j = 0; j < k; j++) wt[t * k + j] = (float)(wt[t * k + j] / sum);
            if (f->gemma4_block)   /* top_k_weights * per_expert_scale[top_k_index] */
                for (u64 j = 0; j < k; j++) wt[t * k + j] *= p->gpes->data[sel[t * k + j]];
            if (f->routed_scale > 0 && f->routed_scale != 1) {   /* counted in moe_route_flops */
                kern_count(&L->c, FL_OTHER, DT_FP32, k);
                for (u64 j = 0; j < k; j++) wt[t * k + j] *= (float)f->routed_scale;
            }
        }
        if (f->gemma4_block) {
            ref_read(L, p->gpes);
            kern_count(&L->c, FL_OTHER, DT_FP32, n * k);
        }
    }
    if (M->opt.trace) {
        float *sf = REF_ALLOC(M, n * k, float);
        if (sf) {
            for (u64 j = 0; j < n * k; j++) sf[j] = (float)sel[j];
            ref_trace(M, L->i, "moe_experts", sf, n, k);
        }
    }
    /* Shared experts first (the output starts from them), then each routed
     * expert on the tokens that chose it. gemma4_block: the shared expert
     * (the dense MLP) is post-normed, the routed experts read their own
     * pre-norm of the residual and their sum is post-normed, then added. */
    if (f->shared) {
        mlp_read(L, &p->shared);
        if ((rc = mlp_run(L, p->shared.wg, p->shared.wu, p->shared.wd, 0, d, f->shared * sff, x, n, y, false, e))) return rc;
        if (p->sgate) {
            /* Qwen2MoeSparseMoeBlock: shared_expert_output *=
             * sigmoid(shared_expert_gate(hidden_states)). */
            float *g = REF_ALLOC(M, n, float);
            if (!g) return sim_fail(e, SIM_ENOMEM, "out of memory");
            ref_mm(L, FL_FFN, M->m->compute[CC_LINEAR], p->sgate, x, n, g, false);
            kern_count(&L->c, FL_OTHER, DT_FP32, n * (FLOPS_SIGMOID + d));
            for (u64 t = 0; t < n; t++) {
                float sg = kern_sigmoid(g[t]);
                for (u64 j = 0; j < d; j++) y[t * d + j] *= sg;
            }
        }
    } else {
        memset(y, 0, n * d * sizeof *y);
    }
    const float *xin = x;
    float *yr = y;
    if (f->gemma4_block) {
        const float *xr = L->x_raw ? L->x_raw : x;
        float *x2 = REF_ALLOC(M, n * d, float);
        yr = REF_ALLOC(M, n * d, float);
        if (!x2 || !yr) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ref_read(L, p->gpost1);
        ref_read(L, p->gpre2);
        for (u64 t = 0; t < n; t++) {
            kern_rmsnorm(&L->c, FL_OTHER, y + t * d, p->gpost1->data, y + t * d, d, L->eps);
            kern_rmsnorm(&L->c, FL_OTHER, xr + t * d, p->gpre2->data, x2 + t * d, d, L->eps);
        }
        xin = x2;
    }
    u64 cap = f->skip_route ? n * k : n;   /* after a skip every choice is the skip */
    float *xe = REF_ALLOC(M, cap * d, float), *ye = REF_ALLOC(M, cap * d, float);
    u64 *who = REF_ALLOC(M, cap, u64);
    float *ww = REF_ALLOC(M, cap, float);
    if (!xe || !ye || !who || !ww) return sim_fail(e, SIM_ENOMEM, "out of memory");
    u64 per = (f->gated ? 3 : 2) * d * ff;
    for (u64 ex = 0; ex < E + (f->skip_route ? 1 : 0); ex++) {
        u64 c = 0;
        for (u64 t = 0; t < n; t++)
            for (u64 j = 0; j < k; j++)
                if (sel[t * k + j] == ex) {
                    who[c] = t;
                    ww[c] = wt[t * k + j];
                    memcpy(xe + c * d, xin + t * d, d * sizeof(float));
                    c++;
                }
        if (!c) continue;
        if (ex == E) {
            /* ZAYA1's skip (MOD): the FFN input passes through, times p. */
            memcpy(ye, xe, c * d * sizeof(float));
        } else {
            L->welems[WC_EXPERT] += per;   /* this expert's weights, read once */
            if ((rc = mlp_run(L, p->eg, p->eu, p->ed, ex * d * ff, d, ff, xe, c, ye, false, e))) return rc;
        }
        kern_count(&L->c, FL_OTHER, DT_FP32, c * 2 * d);   /* y += w * expert(x) */
        for (u64 r = 0; r < c; r++)
#pragma omp simd
            for (u64 j = 0; j < d; j++) yr[who[r] * d + j] += ww[r] * ye[r * d + j];
    }
    if (f->gemma4_block) {
        ref_read(L, p->gpost2);
        for (u64 t = 0; t < n; t++) {
            kern_rmsnorm(&L->c, FL_OTHER, yr + t * d, p->gpost2->data, yr + t * d, d, L->eps);
            for (u64 j = 0; j < d; j++) y[t * d + j] += yr[t * d + j];   /* uncounted, as the shared add */
        }
    }
    return SIM_OK;
}

const ref_ops ref_ffn_moe = {.init = moe_init, .forward = moe_forward};
