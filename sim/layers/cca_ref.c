/* ref_cca.c - reference kernel of compressed convolutional attention
 * (attn_cca.c; ZAYA1, arXiv 2510.04476).
 *
 * Legend: n tokens, d = d_model, H / G query / kv heads in the latent, h head
 * dim, ch = (H+G) h packed q|k channels (channel c belongs to head c / h),
 * k1 / k2 the two conv kernels, W window.
 * Per token t:
 *   [q0 | k0] = x [Wq | Wk]                                  (ch channels)
 *   y1[c] = b1[c] + sum_j w1[c, j] z[t-j, c]                 depthwise, k1 taps
 *   y2[c] = b2[c] + sum_j sum_{c' in head(c)} w2[c, c', j] y1[t-j, c']   k2 taps
 *   mix (Zyphra's released vLLM cca.py, _add_grouped_qk_means_inplace):
 *        q channel: out = y2 + (q0 + k0 of its kv head, same dim) / 2;
 *        k channel: out = y2 + (mean over the group's q heads of q0, same
 *        dim + k0) / 2 (4 FLOPs per channel, and grp for each k channel's mean)
 *   each q and k head times sqrt(h) / sqrt(|x|^2 + 1e-12) (_rms_normalize_qk:
 *   an RMSNorm without weight, eps 1e-12 / h; counted FLOPS_RMSNORM), k heads
 *   times their temperature (clamp_temp off), RoPE on the first rope_dim dims
 * *   v = [x_t Wv1 | x_{t-1} Wv2] (value shift: half from the previous token)
 *   GQA attention in the latent over keys max(0, t-W+1) .. t; y = o Wo.
 * Before the sequence the conv inputs and the shifted value are 0, so the
 * depthwise outputs there are its bias (vLLM pads the inputs with zeros and
 * runs both convolutions over the padding).
 * Caches: 0 "kv" rows [k (G h) | v (G h)]; 1 "conv_state", one row:
 * [pre-conv q|k of the last k1-1 tokens | conv1 outputs of the last k2-1
 * tokens | x_{t} Wv2 of the last token], oldest first (state_format).
 */
#include "ref.h"
#include "kern.h"
#include "quant.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ref_w *wq, *wk, *wv1, *wv2, *wo, *c1w, *c1b, *c2w, *c2b, *temp;
    u64 H, G, h, ch, k1, k2, sw;   /* sw = conv_state values */
} cca;

static int init(ref_layer *L, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 d = L->M->m->d_model;
    cca *w = calloc(1, sizeof *w);
    L->priv[0] = w;
    if (!w) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if (L->ls->shared_kv)
        return sim_fail(e, SIM_EINVAL, "layer %d: KV sharing of a cca layer is not supported by the reference kernels", L->i);
    w->H = a->q_heads;
    w->G = a->kv_heads;
    w->h = a->head_dim;
    w->ch = (w->H + w->G) * w->h;
    w->k1 = a->conv_kernel;
    w->k2 = a->conv_kernel2;
    w->sw = w->ch * (w->k1 - 1 + w->k2 - 1) + w->G * w->h / 2;
    u64 Gh = w->G * w->h;
    float s = sqrtf(3.0f / (float)d);
    if (!(w->wq = ref_weight(L, "wq", WC_LINEAR, d, w->H * w->h, 0, s)) ||
        !(w->wk = ref_weight(L, "wk", WC_LINEAR, d, Gh, 0, s)) ||
        !(w->wv1 = ref_weight(L, "wv1", WC_LINEAR, d, Gh / 2, 0, s)) ||
        !(w->wv2 = ref_weight(L, "wv2", WC_LINEAR, d, Gh - Gh / 2, 0, s)) ||
        !(w->wo = ref_weight(L, "wo", WC_LINEAR, w->H * w->h, d, 0, sqrtf(3.0f / (float)(w->H * w->h)))) ||
        !(w->c1w = ref_weight(L, "conv1_w", WC_SMALL, w->ch, w->k1, 0, sqrtf(3.0f / (float)w->k1))) ||
        !(w->c1b = ref_weight(L, "conv1_b", WC_SMALL, 1, w->ch, 0, 0.1f)) ||
        !(w->c2w = ref_weight(L, "conv2_w", WC_SMALL, w->ch, w->h * w->k2, 0, sqrtf(3.0f / (float)(w->h * w->k2)))) ||
        !(w->c2b = ref_weight(L, "conv2_b", WC_SMALL, 1, w->ch, 0, 0.1f)) ||
        !(w->temp = ref_weight(L, "temperature", WC_SMALL, 1, w->G, 1, 0.2f)))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    int rc = ref_cache_bind(L, 0, &a->kv_fmt, 2 * Gh, e);
    return rc ? rc : ref_cache_bind(L, 1, &a->state_fmt, w->sw, e);
}

static int forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    cca *w = L->priv[0];
    u64 n = s->n, d = M->m->d_model, H = w->H, G = w->G, h = w->h, ch = w->ch, k1 = w->k1, k2 = w->k2, W = a->window;
    u64 Gh = G * h, Gh1 = Gh / 2, Gh2 = Gh - Gh1, kvw = 2 * Gh, r = a->rope_dim, grp = H / G;
    u64 p1 = k1 - 1, p2 = k2 - 1;
    dtype lin = M->m->compute[CC_LINEAR];
    cost_t *c = &L->c;
    /* Histories: p1 (p2) earlier rows, then the step's n rows. */
    float *z = REF_ALLOC(M, (p1 + n) * ch, float), *y1 = REF_ALLOC(M, (p2 + n) * ch, float);
    float *qk = REF_ALLOC(M, n * ch, float), *tmp = REF_ALLOC(M, n * Gh, float), *vd = REF_ALLOC(M, (n + 1) * Gh2, float);
    float *rows = REF_ALLOC(M, n * kvw, float), *o = REF_ALLOC(M, n * H * h, float), *st = REF_ALLOC(M, w->sw, float);
    if (!z || !y1 || !qk || !tmp || !vd || !rows || !o || !st) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if (s->ph == PH_PREFILL) {
        for (u64 t = 0; t < p2; t++) memcpy(y1 + t * ch, w->c1b->data, ch * sizeof(float));
    } else {
        ref_kv_read(L, L, 1, 0, st);
        memcpy(z, st, p1 * ch * sizeof(float));
        memcpy(y1, st + p1 * ch, p2 * ch * sizeof(float));
        memcpy(vd, st + (p1 + p2) * ch, Gh2 * sizeof(float));
    }
    /* Projections: q0 | k0 into z's rows, the two value halves. */
    ref_mm(L, FL_PROJ, lin, w->wq, x, n, qk, false);
    for (u64 t = 0; t < n; t++) memcpy(z + (p1 + t) * ch, qk + t * H * h, H * h * sizeof(float));
    ref_mm(L, FL_PROJ, lin, w->wk, x, n, tmp, false);
    for (u64 t = 0; t < n; t++) memcpy(z + (p1 + t) * ch + H * h, tmp + t * Gh, Gh * sizeof(float));
    ref_mm(L, FL_PROJ, lin, w->wv2, x, n, vd + Gh2, false);   /* vd[t+1] = x_t Wv2; vd[0] = the previous token's */
    ref_mm(L, FL_PROJ, lin, w->wv1, x, n, tmp, false);
    for (u64 t = 0; t < n; t++) {
        memcpy(rows + t * kvw + Gh, tmp + t * Gh1, Gh1 * sizeof(float));
        memcpy(rows + t * kvw + Gh + Gh1, vd + t * Gh2, Gh2 * sizeof(float));
    }
    /* The two causal convolutions. */
    kern_count(c, FL_PROJ, lin, 2 * n * (ch * k1 + ch * h * k2));
    kern_count(c, FL_OTHER, DT_FP32, n * ch * 2);   /* their biases */
    ref_read(L, w->c1w);
    ref_read(L, w->c1b);
    ref_read(L, w->c2w);
    ref_read(L, w->c2b);
    ref_read(L, w->temp);
    /* Each output element is its own sum (the same bits on any thread):
     * tokens split over the threads when there are enough of them. */
    bool par = n * ch * (k1 + h * k2) >= 65536;
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (u64 t = 0; t < n; t++)
        for (u64 cc = 0; cc < ch; cc++) {
            float acc = w->c1b->data[cc];
            for (u64 j = 0; j < k1; j++) acc += w->c1w->data[cc * k1 + j] * z[(p1 + t - j) * ch + cc];
            y1[(p2 + t) * ch + cc] = acc;
        }
    /* conv2 mixes a head's h channels over k2 taps: per head a product
     * [n, h k2] x [h k2, h] (uncounted here: counted above), with Z[t] =
     * the head's conv1 outputs at t, t-1, ... in the weights' (i, j) order. */
    float *Z = REF_ALLOC(M, n * h * k2, float);
    if (!Z) return sim_fail(e, SIM_ENOMEM, "out of memory");
    cost_t junk = {0};
    for (u64 h0 = 0; h0 < ch; h0 += h) {
#pragma omp parallel for schedule(static) if (par)
        for (u64 t = 0; t < n; t++)
            for (u64 i = 0; i < h; i++)
                for (u64 j = 0; j < k2; j++) Z[(t * h + i) * k2 + j] = y1[(p2 + t - j) * ch + h0 + i];
        kern_matmul(&junk, FL_PROJ, lin, n, h, h * k2, Z, h * k2, w->c2w->data + h0 * h * k2, h * k2, qk + h0, ch, true, false);
    }
#pragma omp parallel for schedule(static) if (par)
    for (u64 t = 0; t < n; t++)
        for (u64 cc = 0; cc < ch; cc++) qk[t * ch + cc] += w->c2b->data[cc];
    /* Mix, per-head norms, temperature, RoPE; then the cache row's k. */
    kern_count(c, FL_OTHER, DT_FP32, n * (ch * 4 + Gh + Gh * grp));
    float qk_eps = 1e-12f / (float)h;   /* |x|^2 + 1e-12 = h (mean(x^2) + 1e-12 / h) */
    float *mean = REF_ALLOC(M, h, float);
    if (!mean) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 t = 0; t < n; t++) {
        u64 pos = s->T0 + t;
        const float *pre = z + (p1 + t) * ch;
        float *q = qk + t * ch;
        /* A head at a time, a dim per lane (each sum in the order above). */
        for (u64 hd = 0; hd < H; hd++) {   /* q head: its kv head's k0 */
            const float *q0 = pre + hd * h, *k0 = pre + H * h + (hd / grp) * h;
            float *qo = q + hd * h;
#pragma omp simd
            for (u64 i = 0; i < h; i++) qo[i] += 0.5f * (q0[i] + k0[i]);
        }
        for (u64 g = 0; g < G; g++) {      /* k head: the group's q0 mean */
            const float *k0 = pre + (H + g) * h;
            float *ko = q + (H + g) * h;
            memset(mean, 0, h * sizeof *mean);
            for (u64 j = 0; j < grp; j++) {
                const float *q0 = pre + (g * grp + j) * h;
#pragma omp simd
                for (u64 i = 0; i < h; i++) mean[i] += q0[i];
            }
#pragma omp simd
            for (u64 i = 0; i < h; i++) ko[i] += 0.5f * (k0[i] + mean[i] / (float)grp);
        }
        for (u64 hd = 0; hd < H + G; hd++) {
            kern_rmsnorm(c, FL_OTHER, q + hd * h, NULL, q + hd * h, h, qk_eps);
            if (hd >= H)
                for (u64 i = 0; i < h; i++) q[hd * h + i] *= w->temp->data[hd - H];
            kern_rope(c, &L->rope, q + hd * h, r, pos, false);
        }
        memcpy(rows + t * kvw, q + H * h, Gh * sizeof(float));
    }
    /* The conv state after the step: the last p1 pre-conv rows, the last p2
     * conv1 rows, the last token's x Wv2. */
    memcpy(st, z + n * ch, p1 * ch * sizeof(float));
    memcpy(st + p1 * ch, y1 + n * ch, p2 * ch * sizeof(float));
    memcpy(st + (p1 + p2) * ch, vd + n * Gh2, Gh2 * sizeof(float));
    ref_kv_write(L, 1, 0, st);
    /* Attention in the latent: a prefill over the step's rows (tiled,
     * causal or bidirectional; the convolutions stay causal), a decode over the cache streamed from its stored bytes. */
    kern_attn ka = {H, G, h, h, 0, Gh, 1.0f / sqrtf((float)h), NULL, M->m->compute[CC_ATTENTION]};
    if (s->ph == PH_PREFILL) {
        int rc = ref_window_prefill(L, &ka, n, W, rows, kvw, qk, ch, o, H * h, e);
        if (rc) return rc;
    } else {
        u64 P = s->T0, base = W && P + 1 > W ? P + 1 - W : 0;
        ref_kv_write(L, 0, W ? P % W : P, rows);
        kern_src src;
        ref_kv_src(L, L, 0, W, base, P + 1 - base, NULL, &src);
        float *work = REF_WORK(M, kern_attn_query_work(&ka, &src, 1));
        if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
        kern_attn_query(c, &ka, qk, &src, 1, o, work);
    }
    ref_trace(M, L->i, "attn_o", o, n, H * h);
    ref_mm(L, FL_PROJ, lin, w->wo, o, n, y, false);
    (void)d;
    return SIM_OK;
}

const ref_ops ref_attn_cca = {.init = init, .forward = forward};
