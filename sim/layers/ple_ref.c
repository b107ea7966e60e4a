/* ref_ple.c - reference kernel of per-layer embeddings (ple.c; Gemma 4 / 3n).
 *
 * Legend: n tokens, d = d_model, p = ple_dim, L layers, Vp = PLE vocabulary.
 * Model level, per token, as transformers' Gemma4TextModel
 * (project_per_layer_inputs): P = (x_emb Wproj) d^-0.5 (d -> L p), x_emb the
 * scaled embeddings; each layer's p-slice is RMSNorm-ed (one shared p-wide
 * weight), added to the table row table[token mod Vp] times sqrt(p) (the
 * per-layer embedding's own scale) and the sum scaled by 2^-0.5 (counted
 * FLOPS_RMSNORM + 4 per element). The table row is read once per distinct
 * token.
 * Inside layer i, on the residual (stream 0 under mHC; no shipped spec
 * combines the two), after the FFN and before the layer scalar
 * (Gemma4TextDecoderLayer): x += RMSNorm(Wout (gelu(x Wgate) * P_i)) with Wgate
 * d -> p, Wout p -> d and a post norm over d (FLOPS_ACT per p element,
 * FLOPS_RMSNORM + FLOPS_ADD per d element; the matmuls in FL_OTHER).
 */
#include "ref.h"
#include "kern.h"
#include <math.h>
#include <string.h>
#include <stdlib.h>

static int model_init(ref_model *M, sim_err *e)
{
    const model_spec *m = M->m;
    u64 d = m->d_model, Lp = m->n_layers * m->ple.dim;
    ref_w *t = ref_weight(&M->ple, "ple_table", WC_EMBED, m->ple.vocab, Lp, 0, 1.0f);
    if (!t || !ref_weight(&M->ple, "ple_proj", WC_LINEAR, d, Lp, 0, sqrtf(3.0f / (float)d)) ||
        !ref_weight(&M->ple, "ple_norm", WC_SMALL, 1, m->ple.dim, 1, 0.1f))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    t->embed = true;
    M->ple.pembed += m->ple.vocab * Lp;
    return SIM_OK;
}

static int init(ref_layer *L, sim_err *e)
{
    u64 d = L->M->m->d_model, p = L->M->m->ple.dim;
    if (!ref_weight(L, "ple_gate", WC_LINEAR, d, p, 0, sqrtf(3.0f / (float)d)) ||
        !ref_weight(L, "ple_out", WC_LINEAR, p, d, 0, sqrtf(3.0f / (float)p)) ||
        !ref_weight(L, "ple_post_norm", WC_SMALL, 1, d, 1, 0.1f))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;
    return (x > y) - (x < y);
}

static int model(ref_model *M, const ref_step *s, const float *x, sim_err *e)
{
    const model_spec *m = M->m;
    ref_layer *U = &M->ple;
    u64 n = s->n, d = m->d_model, p = m->ple.dim, Lp = m->n_layers * p, Vp = m->ple.vocab;
    float *P = REF_ALLOC(M, n * Lp, float);
    u64 *rows = REF_ALLOC(M, n, u64);
    float *trow = REF_WORK(M, Lp);   /* the token's table row, decoded */
    if (!P || !rows || !trow) return sim_fail(e, SIM_ENOMEM, "out of memory");
    (void)d;
    ref_w *tab = ref_weight_find(U, "ple_table"), *proj = ref_weight_find(U, "ple_proj"), *nw = ref_weight_find(U, "ple_norm");
    ref_mm(U, FL_OTHER, m->compute[CC_LINEAR], proj, x, n, P, false);
    ref_read(U, nw);
    kern_count(&U->c, FL_OTHER, DT_FP32, n * Lp * 4);   /* two scales, add the table row, scale */
    float ps = 1.0f / sqrtf((float)m->d_model), ts = sqrtf((float)p);
    for (u64 t = 0; t < n; t++) {
        u64 row = (u64)s->tok[t] % Vp;
        rows[t] = row;
        ref_w_rows(tab, row, 1, trow);
        for (u64 l = 0; l < m->n_layers; l++) {
            float *sl = P + t * Lp + l * p;
            for (u64 j = 0; j < p; j++) sl[j] *= ps;
            kern_rmsnorm(&U->c, FL_OTHER, sl, nw->data, sl, p, U->eps);
            for (u64 j = 0; j < p; j++) sl[j] = (sl[j] + trow[l * p + j] * ts) * 0.70710678f;
        }
    }
    qsort(rows, n, sizeof *rows, cmp_u64);
    u64 distinct = 0;
    for (u64 t = 0; t < n; t++) distinct += t == 0 || rows[t] != rows[t - 1];
    U->welems[WC_EMBED] += distinct * Lp;
    M->ple_in = P;
    ref_trace(M, -1, "ple_in", P, n, Lp);
    return SIM_OK;
}

const float *ref_ple_input(const ref_layer *L, u64 *stride)
{
    const model_spec *m = L->M->m;
    if (!m->ple.dim) return NULL;
    *stride = m->n_layers * m->ple.dim;
    return L->M->ple_in + (u64)L->i * m->ple.dim;
}

static int layer(ref_layer *L, const ref_step *s, float *X, u64 stride_x, sim_err *e)
{
    ref_model *M = L->M;
    const model_spec *m = M->m;
    u64 n = s->n, d = m->d_model, p = m->ple.dim, sp = 0;
    const float *Pi = ref_ple_input(L, &sp);
    float *x = REF_ALLOC(M, n * d, float), *g = REF_ALLOC(M, n * p, float), *o = REF_ALLOC(M, n * d, float);
    if (!x || !g || !o) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 t = 0; t < n; t++) memcpy(x + t * d, X + t * stride_x, d * sizeof(float));
    dtype lin = m->compute[CC_LINEAR];
    ref_w *wg = ref_weight_find(L, "ple_gate"), *wo = ref_weight_find(L, "ple_out"), *pn = ref_weight_find(L, "ple_post_norm");
    ref_mm(L, FL_OTHER, lin, wg, x, n, g, false);
    for (u64 t = 0; t < n; t++) kern_act(&L->c, g + t * p, Pi + t * sp, g + t * p, p, true);
    ref_mm(L, FL_OTHER, lin, wo, g, n, o, false);
    ref_read(L, pn);
    kern_count(&L->c, FL_OTHER, DT_FP32, n * d * FLOPS_ADD);
    for (u64 t = 0; t < n; t++) {
        kern_rmsnorm(&L->c, FL_OTHER, o + t * d, pn->data, o + t * d, d, L->eps);
        for (u64 j = 0; j < d; j++) X[t * stride_x + j] += o[t * d + j];
    }
    return SIM_OK;
}

const ref_ops ref_ple_ple = {.init = init, .model_init = model_init, .model_forward = model, .post = layer};
