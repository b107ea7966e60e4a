/* ref_csa.c - reference kernel of DeepSeek V4's compressed sparse attention
 * (attn_csa.c): overlapping learned pooling (2m tokens, stride m; ref_v4.c),
 * a lightning indexer over its own compressed keys (index_format), and one
 * softmax over the top-k compressed entries plus the window rows.
 *
 * Legend: Hi indexer heads, di indexer dim, k = index_topk, nv = entries a
 * query at position t sees = floor((t+1)/m). As DeepSeek-V4-Flash
 * inference/model.py Indexer: queries from the normalised query latent
 * (idx_wq [rq, Hi di]), RoPE on their last rope_dim dims, Hadamard (x
 * di^-1/2) and, with compute.indexer fp4, fp4_act_quant (blocks of 32, or
 * di when 32 does not divide it); keys from the indexer's own compressor
 * (RoPE, Hadamard, FP4 likewise); head weights idx_wproj(x) di^-1/2
 * Hi^-1/2; score sum_h w_h ReLU(q_h . k), counted Hi (2 di + 3) per visible
 * entry in FL_INDEX; the min(k, nv) best entries (ties to the earlier) join
 * the window rows. opt.csa_dense attends to all nv entries.
 * Caches: 0 compressed, 1 index keys, 2 window, 3 and 4 the two
 * compressors' pending rows. Decode reads the chosen entries, every index
 * key, the window rows, and the pending rows when a block completes.
 */
#include "ref.h"
#include "kern.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ref_v4 v4;
    ref_v4cmp cmp, icmp;
    ref_w *iq, *iw;
} csa;

static int init(ref_layer *L, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 d = L->M->m->d_model, m = a->compress_ratio, Hi = a->index_heads, di = a->index_head_dim;
    csa *w = calloc(1, sizeof *w);
    L->priv[0] = w;
    if (!w) return sim_fail(e, SIM_ENOMEM, "out of memory");
    int rc = ref_v4_init(L, &w->v4, 2, e);
    if (!rc) rc = ref_v4_cmp_init(L, &w->cmp, "cmp", m, 2, a->head_dim, a->rope_dim, 0, 3, &a->kv_fmt, FL_COMPRESS, e);
    if (!rc) rc = ref_v4_cmp_init(L, &w->icmp, "idx_cmp", m, 2, di, a->rope_dim, 1, 4, &a->index_fmt, FL_INDEX, e);
    if (rc) return rc;
    w->icmp.rotate = true;
    w->icmp.qblk = csa_index_qblk(L->M->m, a);
    if (!(w->iq = ref_weight(L, "idx_wq", WC_LINEAR, a->q_lora_rank, Hi * di, 0, sqrtf(3.0f / (float)a->q_lora_rank))) ||
        !(w->iw = ref_weight(L, "idx_wproj", WC_ROUTER, d, Hi, 0, sqrtf(3.0f / (float)d))))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

static int forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    csa *w = L->priv[0];
    u64 n = s->n, H = a->q_heads, c = a->head_dim, W = a->window, m = a->compress_ratio, T = s->T0 + n;
    u64 Hi = a->index_heads, di = a->index_head_dim, K = a->index_topk, NV = T / m + 1;
    u64 qb = ref_index_qblock(n, NV);   /* queries per block (ref_dsa.c) */
    dtype lin = M->m->compute[CC_LINEAR];
    float *q = REF_ALLOC(M, n * H * c, float), *cq = REF_ALLOC(M, n * a->q_lora_rank, float);
    float *kv = REF_ALLOC(M, n * c, float), *o = REF_ALLOC(M, n * H * c, float), *work = REF_ALLOC(M, qb * Hi * NV, float);
    float *ent = REF_ALLOC(M, (n / m + 1) * c, float), *ient = REF_ALLOC(M, (n / m + 1) * di, float);
    float *qi = REF_ALLOC(M, n * Hi * di, float), *wt = REF_ALLOC(M, n * Hi, float);
    float *sc = REF_ALLOC(M, qb * NV, float), *keys = REF_ALLOC(M, NV * di, float);
    u64 *idx = REF_ALLOC(M, qb * NV, u64), *nk = REF_ALLOC(M, qb, u64);
    kern_src *src = REF_ALLOC(M, 2 * qb, kern_src);
    float *win;
    u64 base;
    int rc;
    if (!q || !cq || !kv || !o || !work || !ent || !ient || !qi || !wt || !sc || !keys || !idx || !nk || !src)
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    if ((rc = ref_v4_project(L, &w->v4, s, x, q, cq, kv, e)) || (rc = ref_v4_window(L, s, 2, kv, &win, &base, e)) ||
        (rc = ref_v4_cmp_step(L, &w->cmp, s, x, ent, e)) || (rc = ref_v4_cmp_step(L, &w->icmp, s, x, ient, e)))
        return rc;
    ref_mm(L, FL_INDEX, lin, w->iq, cq, n, qi, false);
    ref_mm(L, FL_INDEX, lin, w->iw, x, n, wt, false);
    /* Indexer.forward: RoPE on the last rope_dim dims of each head's query,
     * rotate_activation (Hadamard x di^-1/2), fp4_act_quant; weights =
     * weights_proj(x) x di^-1/2 Hi^-1/2 (one multiply per head). */
    {
        u64 qblk = w->icmp.qblk, p = a->rope_dim;
        float hs = 1.0f / sqrtf((float)di), wsc = (float)(1.0 / sqrt((double)di) / sqrt((double)Hi));
        for (u64 t = 0; t < n; t++) {
            for (u64 h = 0; h < Hi; h++) {
                float *qh = qi + (t * Hi + h) * di;
                ref_v4_rope(L, &L->c, qh + di - p, p, s->T0 + t, false);
                kern_hadamard(&L->c, DT_BF16, qh, di, hs);
                if (qblk) kern_fp4_quant(&L->c, qh, di, qblk);
            }
            kern_count(&L->c, FL_INDEX, DT_FP32, Hi);
            for (u64 h = 0; h < Hi; h++) wt[t * Hi + h] *= wsc;
        }
    }
    if (s->ph == PH_PREFILL) {
        memcpy(keys, ient, (n / m) * di * sizeof(float));
    } else {
        ref_kv_read_rows(L, L, 1, 0, T / m, keys);
    }
    /* Blocks of queries: indexer scores, top-k, then one softmax per query
     * over its chosen entries (gathered by index) and its window rows. */
    for (u64 t0 = 0; t0 < n; t0 += qb) {
        u64 nb = n - t0 < qb ? n - t0 : qb;
        bool nc = M->opt.noncausal && s->ph == PH_PREFILL;   /* every entry; windows |t - v| < W */
        for (u64 t = 0; t < nb; t++) nk[t] = nc ? n / m : (s->T0 + t0 + t + 1) / m;
        if (!M->opt.csa_dense)
            ref_index_scores_n(L, FL_INDEX, Hi, di, nb, qi + t0 * Hi * di, wt + t0 * Hi, keys, nk, sc, work);
        for (u64 t = 0; t < nb; t++) {
            u64 P = s->T0 + t0 + t, lo = P + 1 > W ? P + 1 - W : 0, nv = nk[t], *it = idx + t * NV;
            u64 hi = nc && P + W < n ? P + W : nc ? n : P + 1;
            if (M->opt.csa_dense && nv) ref_index_scores(L, FL_INDEX, Hi, di, qi + (t0 + t) * Hi * di, wt + (t0 + t) * Hi,
                                                         keys, nv, sc, work);
            u64 ns = M->opt.csa_dense ? nv : ref_topk(sc + t * nk[nb - 1], nv, K, it);
            const u64 *sel = M->opt.csa_dense ? NULL : it;
            if (M->opt.trace) {
                float f = (float)ns;
                ref_trace(M, L->i, "csa_selected", &f, 1, 1);
            }
            if (s->ph == PH_PREFILL) {
                src[2 * t] = (kern_src){.x = ent, .ld = c, .width = c, .idx = sel, .n = ns};
                src[2 * t + 1] = (kern_src){.x = win, .ld = c, .r0 = lo, .n = hi - lo};
            } else {
                ref_kv_src(L, L, 0, 0, 0, ns, sel, &src[2 * t]);
                ref_kv_src(L, L, 2, W, lo, P + 1 - lo, NULL, &src[2 * t + 1]);
            }
        }
        if ((rc = ref_v4_attend_queries(L, &w->v4, nb, q + t0 * H * c, src, 2, o + t0 * H * c, e))) return rc;
    }
    return ref_v4_output(L, &w->v4, s, o, y, e);
}

const ref_ops ref_attn_csa = {.init = init, .forward = forward};
