/* ref_dsa.c - reference kernel of DeepSeek sparse attention (attn_dsa.c):
 * MLA in MQA (absorbed) form over the top-k latents a lightning indexer picks.
 *
 * Legend: n tokens, Hi indexer heads, di indexer head dim, k = index_topk,
 * u = tokens a query sees (itself included). MLA weights and cache 0 as in
 * ref_mla.c; indexer weights idx_wq [rq, Hi di] (from the normalised query
 * latent), idx_wk [d, di], idx_wproj [d, Hi], LayerNorm idx_k_norm +
 * idx_k_bias [di]; cache 1 holds one key per token (index_format).
 *
 * Per query t: I(t, s) = sum_h w(t,h) ReLU(q(t,h) . k(s)) for every s <= t
 * (counted Hi (2 di + 3) per pair: the dot, ReLU, weight, sum; in
 * compute.indexer); the min(u, k) largest (ties to the earlier token) are
 * attended to, absorbed, in both phases (as FlashMLA's sparse kernels run
 * it). The key LayerNorm is counted FLOPS_RMSNORM per element and the top-k
 * selection not at all (attn_dsa.c's conventions); the indexer applies no
 * RoPE here (the model counts none). Decode reads the k chosen latents and
 * every index key from the caches.
 */
#include "ref.h"
#include "kern.h"
#include "quant.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ref_mla mla;
    ref_w *iq, *ik, *iw, *kn, *kb;
} dsa;

static int init(ref_layer *L, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 d = L->M->m->d_model, rq = a->q_lora_rank, Hi = a->index_heads, di = a->index_head_dim;
    dsa *w = calloc(1, sizeof *w);
    L->priv[0] = w;
    if (!w) return sim_fail(e, SIM_ENOMEM, "out of memory");
    int rc = ref_mla_init(L, &w->mla, e);
    if (rc) return rc;
    float sd = sqrtf(3.0f / (float)d);
    if (!(w->iq = ref_weight(L, "idx_wq", WC_LINEAR, rq, Hi * di, 0, sqrtf(3.0f / (float)rq))) ||
        !(w->ik = ref_weight(L, "idx_wk", WC_LINEAR, d, di, 0, sd)) ||
        !(w->iw = ref_weight(L, "idx_wproj", WC_LINEAR, d, Hi, 0, sd)) ||
        !(w->kn = ref_weight(L, "idx_k_norm", WC_SMALL, 1, di, 1, 0.1f)) ||
        !(w->kb = ref_weight(L, "idx_k_bias", WC_SMALL, 1, di, 0, 0.1f)))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    return ref_cache_bind(L, 1, &a->index_fmt, di, e);
}

/* Indices of the min(nk, k) largest scores, larger first, ties to the
 * lower index; sorted back into position order for the attention. */
static u64 topk(const float *sc, u64 nk, u64 k, u64 *idx, unsigned char *taken)
{
    if (nk <= k) {
        for (u64 j = 0; j < nk; j++) idx[j] = j;
        return nk;
    }
    memset(taken, 0, nk);
    for (u64 j = 0; j < k; j++) {
        u64 b = nk;
        for (u64 s = 0; s < nk; s++)
            if (!taken[s] && (b == nk || sc[s] > sc[b])) b = s;
        taken[b] = 1;
    }
    u64 m = 0;
    for (u64 s = 0; s < nk; s++)
        if (taken[s]) idx[m++] = s;
    return m;
}

/* Indexer scores of one query (qi [Hi, di], wt [Hi]) against nk keys. */
void ref_index_scores(ref_layer *L, flop_cat cat, u64 Hi, u64 di, const float *qi, const float *wt, const float *keys,
                      u64 nk, float *sc, float *work)
{
    ref_model *M = L->M;
    dtype idt = M->m->compute[CC_INDEXER];
    kern_matmul(&L->c, cat, idt, Hi, nk, di, qi, di, keys, di, work, nk, true, false);
    kern_count(&L->c, cat, idt, 3 * Hi * nk);   /* ReLU, weight, sum */
    for (u64 s = 0; s < nk; s++) {
        float a = 0;
        for (u64 h = 0; h < Hi; h++) a += wt[h] * fmaxf(work[h * nk + s], 0.0f);
        sc[s] = a;
    }
}

u64 ref_topk(const float *sc, u64 nk, u64 k, u64 *idx, unsigned char *taken)
{
    return topk(sc, nk, k, idx, taken);
}

static int forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    dsa *w = L->priv[0];
    u64 n = s->n, H = a->q_heads, rq = a->q_lora_rank, r = a->kv_lora_rank, np = a->nope_dim, p = a->rope_dim;
    u64 v = a->v_head_dim, rw = r + p, Hi = a->index_heads, di = a->index_head_dim, K = a->index_topk;
    u64 T = s->T0 + n;
    dtype lin = M->m->compute[CC_LINEAR];
    int rc;
    float *q = REF_ALLOC(M, n * H * (np + p), float), *cq = REF_ALLOC(M, n * rq, float);
    float *rows = REF_ALLOC(M, n * rw, float), *o = REF_ALLOC(M, n * H * v, float);
    float *qi = REF_ALLOC(M, n * Hi * di, float), *ki = REF_ALLOC(M, n * di, float), *wt = REF_ALLOC(M, n * Hi, float);
    if (!q || !cq || !rows || !o || !qi || !ki || !wt) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if ((rc = ref_mla_project(L, &w->mla, s, x, q, cq, rows, e))) return rc;
    /* Indexer projections, the key LayerNorm, keys rounded to the index format. */
    ref_mm(L, FL_INDEX, lin, w->iq, cq, n, qi, false);
    ref_mm(L, FL_INDEX, lin, w->ik, x, n, ki, false);
    ref_mm(L, FL_INDEX, lin, w->iw, x, n, wt, false);
    ref_read(L, w->kn);
    ref_read(L, w->kb);
    kern_count(&L->c, FL_OTHER, DT_FP32, n * di * FLOPS_RMSNORM);
    for (u64 t = 0; t < n; t++) {
        float *kt = ki + t * di, mean = 0, var = 0;
        for (u64 j = 0; j < di; j++) mean += kt[j];
        mean /= (float)di;
        for (u64 j = 0; j < di; j++) var += (kt[j] - mean) * (kt[j] - mean);
        float rs = 1.0f / sqrtf(var / (float)di + KERN_NORM_EPS);
        for (u64 j = 0; j < di; j++) kt[j] = (kt[j] - mean) * rs * w->kn->data[j] + w->kb->data[j];
    }
    /* Keys and latents visible to this step: the step's own rows in a
     * prefill, the caches in a decode (index keys all read, latents only
     * those chosen). */
    const float *keys = ki, *lat = rows;
    float *kbuf = NULL;
    if (s->ph == PH_PREFILL) {
        for (u64 t = 0; t < n; t++) {
            ref_kv_write(L, 0, t, rows + t * rw);
            ref_kv_write(L, 1, t, ki + t * di);
        }
    } else {
        ref_kv_write(L, 0, s->T0, rows);
        ref_kv_write(L, 1, s->T0, ki);
        kbuf = REF_ALLOC(M, T * di, float);
        if (!kbuf) return sim_fail(e, SIM_ENOMEM, "out of memory");
        for (u64 j = 0; j < T; j++) ref_kv_read(L, L, 1, j, kbuf + j * di);
        keys = kbuf;
    }
    float *sc = REF_ALLOC(M, T, float), *work = REF_ALLOC(M, Hi * T, float), *sel = REF_ALLOC(M, (K < T ? K : T) * rw, float);
    u64 *idx = REF_ALLOC(M, T, u64);
    unsigned char *taken = REF_ALLOC(M, T, unsigned char);
    if (!sc || !work || !sel || !idx || !taken) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 t = 0; t < n; t++) {
        u64 nk = s->T0 + t + 1;
        ref_index_scores(L, FL_INDEX, Hi, di, qi + t * Hi * di, wt + t * Hi, keys, nk, sc, work);
        u64 m = topk(sc, nk, K, idx, taken);
        for (u64 j = 0; j < m; j++) {
            if (s->ph == PH_PREFILL) memcpy(sel + j * rw, lat + idx[j] * rw, rw * sizeof(float));
            else ref_kv_read(L, L, 0, idx[j], sel + j * rw);
        }
        if ((rc = ref_mla_absorbed(L, &w->mla, q + t * H * (np + p), sel, m, o + t * H * v, e))) return rc;
    }
    ref_trace(M, L->i, "attn_o", o, n, H * v);
    ref_mm(L, FL_PROJ, lin, w->mla.wo, o, n, y, false);
    return SIM_OK;
}

const ref_ops ref_ops_dsa = {init, forward, NULL, NULL};
