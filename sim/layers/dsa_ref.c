/* ref_dsa.c - reference kernel of DeepSeek sparse attention (attn_dsa.c):
 * MLA in MQA (absorbed) form over the top-k latents a lightning indexer picks.
 *
 * Legend: n tokens, Hi indexer heads, di indexer head dim, k = index_topk,
 * u = tokens a query sees (itself included). MLA weights and cache 0 as in
 * ref_mla.c; indexer weights idx_wq [rq, Hi di] (from the normalised query
 * latent), idx_wk [d, di], idx_wproj [d, Hi], LayerNorm idx_k_norm +
 * idx_k_bias [di]; cache 1 holds one key per token (index_format).
 *
 * The indexer as DeepSeek-V3.2-Exp's inference/model.py (Indexer.forward,
 * with the 2025-11 fix: its RoPE is non-interleaved) computes it:
 *   q = wq_b(qr) per head, k = LayerNorm(wk x); RoPE on the first rope_dim
 *   dims of each (the half layout of kern_rope = un-interleaved);
 *   q, k := Hadamard(., scale di^-1/2) (rotate_activation);
 *   with compute.indexer fp8: q, k := act_quant (e4m3, one power-of-two scale
 *   per vector: the released block of 128 = V3.2's index_head_dim;
 *   kern_act_quant), scales q_s, k_s;
 *   w(t,h) = wproj(x) Hi^-1/2 q_s(t,h) di^-1/2;
 *   I(t, s) = k_s(s) sum_h w(t,h) ReLU(q8(t,h) . k8(s)) for every s <= t.
 * Here q keeps its fp8 codes (q / q_s) and k is held dequantised (k8 k_s, in
 * the index cache), which is the same sum with k_s folded into the key;
 * counted as the released kernel (fp8_index) executes it: Hi (2 di + 3) per
 * pair (dot, ReLU, weight, sum) in compute.indexer + 1 (k_s) in fp32.
 * The min(u, k) largest (ties to the earlier token) are attended to,
 * absorbed, in both phases (as FlashMLA's sparse kernels run it). The key
 * LayerNorm is counted FLOPS_RMSNORM per element and the top-k selection not
 * at all (attn_dsa.c's conventions). Decode reads the k chosen latents and
 * every index key from the caches.
 */
#include "ref.h"
#include "kern.h"
#include "quant.h"
#include <math.h>
#include <stdint.h>
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
        !(w->iw = ref_weight(L, "idx_wproj", WC_ROUTER, d, Hi, 0, sd)) ||
        !(w->kn = ref_weight(L, "idx_k_norm", WC_SMALL, 1, di, 1, 0.1f)) ||
        !(w->kb = ref_weight(L, "idx_k_bias", WC_SMALL, 1, di, 0, 0.1f)))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    return ref_cache_bind(L, 1, &a->index_fmt, di, e);
}

/* The order of the selection: a ranks before b when its score is larger,
 * ties to the lower index (a strict total order, so any selection algorithm
 * picks the same set; -0 and +0 are one score, as float compares say).
 * key() maps a finite score to an unsigned integer in the same order. */
static inline uint32_t key(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (u == 0x80000000u) u = 0;   /* -0 is +0 */
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* The min(nk, k) best scores as ascending indices into idx: a radix select
 * of the k-th best key, 8 bits a pass from the top (a histogram of the keys
 * still matching the digits found so far; stops as soon as the bin holding
 * the k-th has no more keys than are still wanted), then one pass in
 * position order taking every key above that prefix and the lowest-index
 * keys equal to it. No data-dependent branch and O(nk) whatever the ties
 * (4-6 ns a candidate, kept 2048 of 4K-64K): the quickselect it replaces
 * ran 3 ns a candidate on distinct scores but 20 ns on V3.2's scaled
 * indexer scores, a quarter of them exactly 0 after the ReLU. */
static u64 topk(const float *sc, u64 nk, u64 k, u64 *idx)
{
    if (nk <= k) {
        for (u64 j = 0; j < nk; j++) idx[j] = j;
        return nk;
    }
    uint32_t prefix = 0, mask = 0;
    u64 want = k;   /* keys still wanted among those matching prefix under mask */
    for (int sh = 24; sh >= 0; sh -= 8) {
        uint32_t hist[256] = {0};
        for (u64 j = 0; j < nk; j++) {
            uint32_t kk = key(sc[j]);
            hist[kk >> sh & 255u] += (kk & mask) == prefix;
        }
        int b = 255;
        while (hist[b] < want) want -= hist[b--];   /* the bins above b hold fewer than want */
        prefix |= (uint32_t)b << sh;
        mask |= 255u << sh;
        if (hist[b] == want) break;   /* every key in bin b is taken */
    }
    u64 m = 0;
    for (u64 s = 0; s < nk; s++) {
        uint32_t kk = key(sc[s]) & mask;
        bool take = kk > prefix || (kk == prefix && want > 0);
        want -= kk == prefix && want > 0;
        idx[m] = s;
        m += take;
    }
    return m;
}

/* sc[s] = sum_h wt[h] ReLU(w[h ld + s]), heads in order for each s (the
 * head loop outside, the key loop inside and vectorised: the same sums).
 * ReLU on the sign bit (a float compare would keep the loop scalar; fmaxf
 * was a call per element). Scores are finite. */
static void relu_sum(u64 Hi, const float *wt, const float *w, u64 ld, u64 nk, float *sc)
{
    memset(sc, 0, nk * sizeof *sc);
    for (u64 h = 0; h < Hi; h++) {
        const float *wh = w + h * ld;
        float th = wt[h];
#pragma omp simd
        for (u64 s = 0; s < nk; s++) {
            union { float f; uint32_t u; } v = {wh[s]};
            v.u &= ~(uint32_t)((int32_t)v.u >> 31);   /* negative -> +0 */
            sc[s] += th * v.f;
        }
    }
}

/* Indexer scores of one query (qi [Hi, di], wt [Hi]) against nk keys. */
void ref_index_scores(ref_layer *L, flop_cat cat, u64 Hi, u64 di, const float *qi, const float *wt, const float *keys,
                      u64 nk, float *sc, float *work)
{
    ref_model *M = L->M;
    dtype idt = M->m->compute[CC_INDEXER];
    kern_matmul(&L->c, cat, idt, Hi, nk, di, qi, di, keys, di, work, nk, true, false);
    kern_count(&L->c, cat, idt, 3 * Hi * nk);   /* ReLU, weight, sum */
    relu_sum(Hi, wt, work, nk, nk, sc);
}

void ref_index_scores_n(ref_layer *L, flop_cat cat, u64 Hi, u64 di, u64 n, const float *qi, const float *wt,
                        const float *keys, const u64 *nk, float *sc, float *work)
{
    u64 N = n ? nk[n - 1] : 0;
    if (kern_rowwise_on() || n == 1) {
        for (u64 t = 0; t < n; t++)
            if (nk[t]) ref_index_scores(L, cat, Hi, di, qi + t * Hi * di, wt + t * Hi, keys, nk[t], sc + t * N, work);
        return;
    }
    dtype idt = L->M->m->compute[CC_INDEXER];
    u64 pairs = 0;
    for (u64 t = 0; t < n; t++) pairs += nk[t];
    /* What n ref_index_scores calls count: the products and ReLU, weight, sum. */
    kern_count(&L->c, cat, idt, 2 * Hi * di * pairs + 3 * Hi * pairs);
    cost_t junk = {0};
    kern_matmul(&junk, cat, idt, n * Hi, N, di, qi, di, keys, di, work, N, true, false);
    for (u64 t = 0; t < n; t++) relu_sum(Hi, wt + t * Hi, work + t * Hi * N, N, nk[t], sc + t * N);
}

u64 ref_topk(const float *sc, u64 nk, u64 k, u64 *idx)
{
    return topk(sc, nk, k, idx);
}

/* RoPE, Hadamard rotation, FP8 quantisation and head weights of the
 * indexer (the header's recipe) on the step's qi [n, Hi di], ki [n, di],
 * wt [n, Hi]; qi is left as fp8 codes when quantised. */
static int dsa_index_prep(ref_layer *L, const ref_step *s, float *qi, float *ki, float *wt, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    u64 n = s->n, Hi = a->index_heads, di = a->index_head_dim, p = a->rope_dim;
    bool q8 = dsa_index_fp8(M->m);
    u64 blk = di, nb = 1;   /* one scale per vector: the released block 128 = index_head_dim */
    float hs = 1.0f / sqrtf((float)di), wsc = (float)(1.0 / sqrt((double)Hi) / sqrt((double)di));
    float *qs = REF_ALLOC(M, Hi * nb, float);
    if (!qs) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 t = 0; t < n; t++) {
        u64 pos = s->T0 + t;
        float *kt = ki + t * di;
        kern_rope(&L->c, &L->rope, kt, p, pos, false);
        kern_hadamard(&L->c, DT_BF16, kt, di, hs);
        if (q8) kern_act_quant(&L->c, kt, di, blk, NULL);
        for (u64 h = 0; h < Hi; h++) {
            float *qh = qi + (t * Hi + h) * di;
            kern_rope(&L->c, &L->rope, qh, p, pos, false);
            kern_hadamard(&L->c, DT_BF16, qh, di, hs);
            if (q8) {
                kern_act_quant(&L->c, qh, di, blk, qs + h * nb);
                /* fp8 codes; one scale per head (fp8_index takes q_s per head:
                 * the blocks of a head share it when di = blk) */
                for (u64 j = 0; j < di; j++) qh[j] /= qs[h * nb + j / blk];
            }
        }
        /* w = wproj(x) Hi^-1/2 (q_s) di^-1/2: 3 multiplies per head with q_s, else 2 */
        kern_count(&L->c, FL_INDEX, DT_FP32, Hi * (q8 ? 3 : 2));
        for (u64 h = 0; h < Hi; h++) wt[t * Hi + h] *= wsc * (q8 ? qs[h * nb] : 1.0f);
    }
    return SIM_OK;
}

/* Queries per block in a prefill: the indexer's scores, top-k lists and
 * kernel sources of a block are held at once (16 + 4 Hi bytes per query
 * and key). Up to 256 while that stays under ~2^22 keys x queries: the
 * blocked attention (kern_attn_gather.c) reuses each row it loads for the
 * block's queries that picked it, so larger blocks move fewer bytes. */
u64 ref_index_qblock(u64 n, u64 nkeys)
{
    u64 qb = nkeys ? ((u64)1 << 22) / nkeys : 256;
    qb = qb < 64 ? 64 : qb > 256 ? 256 : qb;
    return n < qb ? n : qb;
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
        float rs = 1.0f / sqrtf(var / (float)di + L->eps);
        for (u64 j = 0; j < di; j++) kt[j] = (kt[j] - mean) * rs * w->kn->data[j] + w->kb->data[j];
    }
    if ((rc = dsa_index_prep(L, s, qi, ki, wt, e))) return rc;
    /* Keys and latents visible to this step: the step's own rows in a
     * prefill, the caches in a decode (index keys all read, latents only
     * those chosen, streamed by the attention kernel). */
    const float *keys = ki;
    if (s->ph == PH_PREFILL) {
        for (u64 t = 0; t < n; t++) {
            ref_kv_write(L, 0, t, rows + t * rw);
            ref_kv_write(L, 1, t, ki + t * di);
        }
    } else {
        ref_kv_write(L, 0, s->T0, rows);
        ref_kv_write(L, 1, s->T0, ki);
        float *kbuf = REF_ALLOC(M, T * di, float);
        if (!kbuf) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ref_kv_read_rows(L, L, 1, 0, T, kbuf);
        keys = kbuf;
    }
    /* Blocks of queries: scores, top-k, then the absorbed MQA over each
     * query's chosen latents (gathered by index, never copied here), or
     * (mla_form: expanded) attention over their expanded K and V: in a
     * prefill every token's row expanded once, in a decode each chosen row
     * read and expanded. */
    u64 qb = ref_index_qblock(n, T);
    bool absorbed = mla_form_absorbed(a, s->ph, true);
    kern_attn ka = absorbed ? ref_mla_kattn(L) : ref_mla_kattn_expanded(L);
    u64 xw = H * (np + p + v);   /* an expanded row */
    float *KV = NULL;
    if (!absorbed && s->ph == PH_PREFILL) {
        if (!(KV = REF_ALLOC(M, n * xw, float))) return sim_fail(e, SIM_ENOMEM, "out of memory");
        if ((rc = ref_mla_expand(L, &w->mla, rows, n, KV, e))) return rc;
    }
    float *sc = REF_ALLOC(M, qb * T, float), *work = REF_ALLOC(M, qb * Hi * T, float);
    float *qa = REF_ALLOC(M, qb * H * rw, float), *ol = REF_ALLOC(M, qb * H * r, float);
    u64 *idx = REF_ALLOC(M, qb * T, u64), *nk = REF_ALLOC(M, qb, u64);
    kern_src *src = REF_ALLOC(M, qb, kern_src);
    if (!sc || !work || !qa || !ol || !idx || !nk || !src) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 t0 = 0; t0 < n; t0 += qb) {
        /* Non-causal prefill: every query scores (and may pick) all n keys. */
        bool nc = M->opt.noncausal && s->ph == PH_PREFILL;
        u64 nb = n - t0 < qb ? n - t0 : qb, N = nc ? n : s->T0 + t0 + nb;
        for (u64 t = 0; t < nb; t++) nk[t] = nc ? n : s->T0 + t0 + t + 1;
        ref_index_scores_n(L, FL_INDEX, Hi, di, nb, qi + t0 * Hi * di, wt + t0 * Hi, keys, nk, sc, work);
        if (dsa_index_fp8(M->m))   /* fp8_index's k_s multiply, one per pair */
            for (u64 t = 0; t < nb; t++) kern_count(&L->c, FL_INDEX, DT_FP32, nk[t]);
        ref_mark mk = ref_scratch_mark(M);
        for (u64 t = 0; t < nb; t++) {
            u64 *it = idx + t * T, m = topk(sc + t * N, nk[t], K, it);
            if (!absorbed && s->ph == PH_DECODE) {
                float *lat = REF_ALLOC(M, (m ? m : 1) * rw, float), *kv = REF_ALLOC(M, (m ? m : 1) * xw, float);
                if (!lat || !kv) return sim_fail(e, SIM_ENOMEM, "out of memory");
                for (u64 j = 0; j < m; j++) ref_kv_read(L, L, 0, it[j], lat + j * rw);
                if ((rc = ref_mla_expand(L, &w->mla, lat, m, kv, e))) return rc;
                src[t] = (kern_src){.x = kv, .ld = xw, .width = xw, .n = m};
            } else if (!absorbed) {
                src[t] = (kern_src){.x = KV, .ld = xw, .width = xw, .idx = it, .n = m};
            } else if (s->ph == PH_PREFILL) {
                src[t] = (kern_src){.x = rows, .ld = rw, .width = rw, .idx = it, .n = m};
            } else {
                ref_kv_src(L, L, 0, 0, 0, m, it, &src[t]);
            }
        }
        const float *qt = q + t0 * H * (np + p);
        if (absorbed) ref_mla_qabs(L, &w->mla, qt, nb, qa);
        float *kw = REF_WORK(M, kern_attn_queries_work(&ka, nb, src, 1));
        if (!kw) return sim_fail(e, SIM_ENOMEM, "out of memory");
        if (absorbed) {
            kern_attn_queries(&L->c, &ka, nb, qa, H * rw, src, 1, ol, H * r, kw);
            ref_mla_out(L, &w->mla, ol, nb, o + t0 * H * v);
        } else {
            kern_attn_queries(&L->c, &ka, nb, qt, H * (np + p), src, 1, o + t0 * H * v, H * v, kw);
        }
        ref_scratch_release(M, mk);
    }
    ref_trace(M, L->i, "attn_o", o, n, H * v);
    ref_mm(L, FL_PROJ, lin, w->mla.wo, o, n, y, false);
    return SIM_OK;
}

const ref_ops ref_attn_dsa = {.init = init, .forward = forward};
