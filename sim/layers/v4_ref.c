/* ref_v4.c - the pieces every DeepSeek V4 attention kernel shares (ref_csa.c,
 * ref_hca.c, ref_swa4.c), after attn_v4.c and research/deepseek.md 3.3.
 *
 * Legend: n tokens, d = d_model, H heads, c = head_dim (one shared KV head:
 * each entry is key and value), rq = q_lora_rank, g = o_groups, dg =
 * o_lora_rank, p = rope_dim (RoPE on the LAST p dims), W window, m
 * compression ratio, coff = 2 (CSA's overlapping pooling) or 1.
 *
 * q path   cq = RMSNorm(x wq_a) (q_norm), q = cq wq_b, RMSNorm per head (no
 *          weight), RoPE; kv = RMSNorm(x wkv) (kv_norm), RoPE: the window
 *          branch's row for the token.
 * attend   one softmax over the chosen compressed entries and the window
 *          rows (in that order), plus exp(sink[h]) in head h's denominator
 *          (counted 1 per head and query, attn_v4.c's convention); scores
 *          scaled 1/sqrt(c). Prefill attends to the rows in memory, decode
 *          streams them from the caches (kern.h).
 * output   inverse RoPE (position -t) on each head's output, then the
 *          grouped projection: group j's Hc/g dims -> dg (wo_a, g blocks
 *          stacked by rows), concat (g dg) -> d (wo_b).
 * compress every token: [kv_a | kv_b] = x wkv, [z_a | z_b] = x wgate (coff
 *          width each) into the pending-state ring (coff m rows, state
 *          format). Entry i (complete when token m(i+1)-1 arrives) pools,
 *          per channel, a softmax over z_a + ape_a of block i and, with
 *          coff = 2, z_b + ape_b of block i-1 (i = 0: padded with -inf / 0,
 *          still counted: the model prices coff m elements per channel),
 *          then RMSNorm (norm) and RoPE at position m i on the last `rope`
 *          dims. A query at position t sees entries i with m(i+1) <= t+1.
 *          Halves as DeepSeek-V4-Flash inference/model.py Compressor: block i
 *          pools the second half of the coff w columns (and of ape), block
 *          i-1 the first. The indexer's compressor then rotates the entry
 *          (Hadamard) and quantises it to FP4 (rotate=True).
 * quant    The main entries' FP8 (act_quant, 64 per block, ue8m0 scales, on
 *          the NoPE dims; RoPE dims bf16) is the cache format's: v4_kv holds
 *          exactly that, and rows are rounded as they are written (prefill
 *          attends to the rounded rows, as the release does).
 */
#include "ref.h"
#include "kern.h"
#include "quant.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ref_v4_init(ref_layer *L, ref_v4 *w, int window_cache, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 d = L->M->m->d_model, H = a->q_heads, c = a->head_dim, rq = a->q_lora_rank, g = a->o_groups, dg = a->o_lora_rank;
    if (L->ls->shared_kv && a->compress_ratio)
        return sim_fail(e, SIM_EINVAL, "layer %d: KV sharing of a %s layer is not supported by the reference kernels "
                        "(the cost model counts its compressed caches anyway)", L->i, a->type->name);
    if (L->ls->shared_kv)
        return sim_fail(e, SIM_EINVAL, "layer %d: KV sharing of a swa4 layer is not supported by the reference kernels", L->i);
    float sd = sqrtf(3.0f / (float)d);
    if (!(w->wq_a = ref_weight(L, "wq_a", WC_LINEAR, d, rq, 0, sd)) ||
        !(w->wq_b = ref_weight(L, "wq_b", WC_LINEAR, rq, H * c, 0, sqrtf(3.0f / (float)rq))) ||
        !(w->wkv = ref_weight(L, "wkv", WC_LINEAR, d, c, 0, sd)) ||
        !(w->wo_a = ref_weight(L, "wo_a", WC_LINEAR, H * c, dg, 0, sqrtf(3.0f * (float)g / (float)(H * c)))) ||
        !(w->wo_b = ref_weight(L, "wo_b", WC_LINEAR, g * dg, d, 0, sqrtf(3.0f / (float)(g * dg)))) ||
        !(w->q_norm = ref_weight(L, "q_norm", WC_SMALL, 1, rq, 1, 0.1f)) ||
        !(w->kv_norm = ref_weight(L, "kv_norm", WC_SMALL, 1, c, 1, 0.1f)) ||
        !(w->sink = ref_weight(L, "attn_sink", WC_SMALL, 1, H, 0, 1.0f)))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    w->win = window_cache;
    return ref_cache_bind(L, window_cache, &a->kv_fmt, c, e);
}

void ref_v4_rope(const ref_layer *L, cost_t *c, float *x, u64 p, u64 pos, bool inverse)
{
    /* DeepSeek-V4 apply_rotary_emb: view_as_complex over (x[2i], x[2i+1]),
     * i.e. adjacent pairs (interleaved), frequency i; gathered into
     * kern_rope's half layout and back (counted by kern_rope). */
    float y[V4_ROPE_MAX];
    for (u64 i = 0; i < p / 2; i++) { y[i] = x[2 * i]; y[i + p / 2] = x[2 * i + 1]; }
    kern_rope(c, &L->rope, y, p, pos, inverse);
    for (u64 i = 0; i < p / 2; i++) { x[2 * i] = y[i]; x[2 * i + 1] = y[i + p / 2]; }
}

/* RoPE on the last p of n dims. */
static void rope_last(const ref_layer *L, cost_t *c, float *x, u64 n, u64 p, u64 pos, bool inverse)
{
    ref_v4_rope(L, c, x + n - p, p, pos, inverse);
}

int ref_v4_project(ref_layer *L, ref_v4 *w, const ref_step *s, const float *x, float *q, float *cq, float *kv, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    u64 n = s->n, H = a->q_heads, c = a->head_dim, rq = a->q_lora_rank, p = a->rope_dim;
    dtype lin = M->m->compute[CC_LINEAR];
    cost_t *ct = &L->c;
    (void)e;
    ref_mm(L, FL_PROJ, lin, w->wq_a, x, n, cq, false);
    ref_read(L, w->q_norm);
    ref_read(L, w->kv_norm);
    for (u64 t = 0; t < n; t++) kern_rmsnorm(ct, FL_OTHER, cq + t * rq, w->q_norm->data, cq + t * rq, rq, L->eps);
    ref_mm(L, FL_PROJ, lin, w->wq_b, cq, n, q, false);
    ref_mm(L, FL_PROJ, lin, w->wkv, x, n, kv, false);
    for (u64 t = 0; t < n; t++) {
        u64 pos = s->T0 + t;
        for (u64 h = 0; h < H; h++) {
            float *qh = q + (t * H + h) * c;
            kern_rmsnorm(ct, FL_OTHER, qh, NULL, qh, c, L->eps);
            rope_last(L, ct, qh, c, p, pos, false);
        }
        kern_rmsnorm(ct, FL_OTHER, kv + t * c, w->kv_norm->data, kv + t * c, c, L->eps);
        rope_last(L, ct, kv + t * c, c, p, pos, false);
    }
    return SIM_OK;
}

static kern_attn v4_kattn(ref_layer *L, ref_v4 *w, u64 n)
{
    const attn_cfg *a = &L->ls->attn;
    ref_read(L, w->sink);
    kern_count(&L->c, FL_OTHER, DT_FP32, n * a->q_heads);   /* the sink term of each head's denominator */
    return (kern_attn){a->q_heads, 1, a->head_dim, a->head_dim, 0, 0, 1.0f / sqrtf((float)a->head_dim), w->sink->data,
                       L->M->m->compute[CC_ATTENTION]};
}

int ref_v4_attend_causal(ref_layer *L, ref_v4 *w, u64 n, const float *q, const kern_src *src, int nsrc, const u64 *lo,
                         const u64 *hi, float *o, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 Hc = a->q_heads * a->head_dim;
    kern_attn ka = v4_kattn(L, w, n);
    ref_mark mk = ref_scratch_mark(L->M);
    float *work = REF_WORK(L->M, kern_attn_causal_work(&ka, n, lo, hi, nsrc));
    if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
    kern_attn_causal(&L->c, &ka, n, q, Hc, src, nsrc, lo, hi, o, Hc, work);
    ref_scratch_release(L->M, mk);
    return SIM_OK;
}

int ref_v4_attend_queries(ref_layer *L, ref_v4 *w, u64 n, const float *q, const kern_src *src, int nsrc, float *o, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 Hc = a->q_heads * a->head_dim;
    kern_attn ka = v4_kattn(L, w, n);
    ref_mark mk = ref_scratch_mark(L->M);
    float *work = REF_WORK(L->M, kern_attn_queries_work(&ka, n, src, nsrc));
    if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
    kern_attn_queries(&L->c, &ka, n, q, Hc, src, nsrc, o, Hc, work);
    ref_scratch_release(L->M, mk);
    return SIM_OK;
}

int ref_v4_output(ref_layer *L, ref_v4 *w, const ref_step *s, float *o, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    u64 n = s->n, H = a->q_heads, c = a->head_dim, p = a->rope_dim, g = a->o_groups, dg = a->o_lora_rank;
    u64 gw = H * c / g;
    dtype lin = M->m->compute[CC_LINEAR];
    for (u64 t = 0; t < n; t++)
        for (u64 h = 0; h < H; h++) rope_last(L, &L->c, o + (t * H + h) * c, c, p, s->T0 + t, true);
    ref_trace(M, L->i, "attn_o", o, n, H * c);
    float *mid = REF_ALLOC(M, n * g * dg, float);
    if (!mid) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_read(L, w->wo_a);
    for (u64 j = 0; j < g; j++)
        ref_mm_at(L, FL_PROJ, lin, w->wo_a, j * gw * dg, dg, gw, dg, o + j * gw, H * c, n, mid + j * dg, g * dg, false, false);
    ref_mm(L, FL_PROJ, lin, w->wo_b, mid, n, y, false);
    return SIM_OK;
}

/* ---- the compressor ----------------------------------------------------------- */

int ref_v4_cmp_init(ref_layer *L, ref_v4cmp *cp, const char *pre, u64 m, u64 coff, u64 width, u64 rope, int cache, int state,
                    const fmt *efmt, flop_cat cat, sim_err *e)
{
    u64 d = L->M->m->d_model;
    char nm[32];
    *cp = (ref_v4cmp){.m = m, .coff = coff, .width = width, .rope = rope, .cache = cache, .state = state, .cat = cat};
    snprintf(nm, sizeof nm, "%s.wkv", pre);
    cp->wkv = ref_weight(L, nm, WC_COMPRESSOR, d, coff * width, 0, sqrtf(3.0f / (float)d));
    snprintf(nm, sizeof nm, "%s.wgate", pre);
    cp->wgate = ref_weight(L, nm, WC_COMPRESSOR, d, coff * width, 0, sqrtf(3.0f / (float)d));
    snprintf(nm, sizeof nm, "%s.ape", pre);
    cp->ape = ref_weight(L, nm, WC_SMALL, m, coff * width, 0, 0.5f);
    snprintf(nm, sizeof nm, "%s.norm", pre);
    cp->norm = ref_weight(L, nm, WC_SMALL, 1, width, 1, 0.1f);
    if (!cp->wkv || !cp->wgate || !cp->ape || !cp->norm) return sim_fail(e, SIM_ENOMEM, "out of memory");
    int rc = ref_cache_bind(L, cache, efmt, width, e);
    return rc ? rc : ref_cache_bind(L, state, &L->ls->attn.state_fmt, 2 * coff * width, e);
}

/* Pool entry i from the pending rows: row(t) gives token t's state row
 * [kv (coff w) | z (coff w)] or NULL when it does not exist (before 0). */
static void pool(ref_layer *L, ref_v4cmp *cp, u64 i, const float *const *rowp, float *out)
{
    u64 m = cp->m, w = cp->width, cw = cp->coff * w;
    cost_t *c = &L->c;
    kern_count(c, cp->cat, DT_FP32, w * cp->coff * m * (FLOPS_SOFTMAX + 3));
    /* Part 0 is block i, part 1 block i-1. With coff = 2 block i uses the
     * second half of the kv/gate/ape columns and block i-1 the first
     * (Compressor.overlap_transform: new[:, :, ratio:] = t[..., d:],
     * new[:, 1:, :ratio] = t[:, :-1, :, :d]). */
    const float *v[2 * 512], *g[2 * 512], *b[2 * 512];
    for (u64 part = 0; part < cp->coff; part++)
        for (u64 j = 0; j < m; j++) {
            const float *r = rowp[part * m + j];
            u64 hf = cp->coff == 2 && part == 0 ? w : 0, k = part * m + j;
            v[k] = r ? r + hf : NULL;
            g[k] = r ? r + cw + hf : NULL;
            b[k] = cp->ape->data + j * cw + hf;
        }
    kern_pool(v, g, b, cp->coff * m, w, out);
    (void)i;
    ref_read(L, cp->norm);
    kern_rmsnorm(c, cp->cat, out, cp->norm->data, out, w, L->eps);
    if (cp->rope) {
        kern_count(c, cp->cat, DT_FP32, cp->rope * FLOPS_ROPE);
        cost_t junk = {0};
        ref_v4_rope(L, &junk, out + w - cp->rope, cp->rope, m * i, false);
    }
    if (cp->rotate) {
        /* The indexer's compressor (rotate=True): rotate_activation
         * (Hadamard x w^-1/2), then fp4_act_quant in place. */
        kern_hadamard(c, DT_BF16, out, w, 1.0f / sqrtf((float)w));
        if (cp->qblk) kern_fp4_quant(c, out, w, cp->qblk);
    }
}

int ref_v4_cmp_step(ref_layer *L, ref_v4cmp *cp, const ref_step *s, const float *x, float *ent, sim_err *e)
{
    ref_model *M = L->M;
    u64 n = s->n, m = cp->m, w = cp->width, cw = cp->coff * w, sw = 2 * cw, ring = cp->coff * m;
    dtype lin = M->m->compute[CC_LINEAR];
    if (cp->m > 512) return sim_fail(e, SIM_EINVAL, "layer %d: compress_ratio above 512 is not supported by the reference kernel", L->i);
    float *st = REF_ALLOC(M, n * sw, float), *tmp = REF_ALLOC(M, n * cw, float);
    const float **rowp = REF_ALLOC(M, 2 * m, const float *);
    if (!st || !tmp || !rowp) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_mm(L, cp->cat, lin, cp->wkv, x, n, tmp, false);
    for (u64 t = 0; t < n; t++) memcpy(st + t * sw, tmp + t * cw, cw * sizeof(float));
    ref_mm(L, cp->cat, lin, cp->wgate, x, n, tmp, false);
    for (u64 t = 0; t < n; t++) {
        memcpy(st + t * sw + cw, tmp + t * cw, cw * sizeof(float));
    }
    ref_read(L, cp->ape);
    if (s->ph == PH_PREFILL) {
        /* The pending ring keeps the last coff m rows; every complete block
         * is pooled from the step's own rows. */
        u64 held = n < ring ? n : ring;
        for (u64 t = 0; t < n - held; t++) ref_kv_round(L, cp->state, st + t * sw);
        for (u64 t = n - held; t < n; t++) ref_kv_write(L, cp->state, t % ring, st + t * sw);
        for (u64 i = 0; i < n / m; i++) {
            for (u64 part = 0; part < cp->coff; part++)
                for (u64 j = 0; j < m; j++) {
                    long long t = (long long)((i - part) * m + j);
                    rowp[part * m + j] = part <= i ? st + (u64)t * sw : NULL;
                }
            pool(L, cp, i, rowp, ent + i * w);
            ref_kv_write(L, cp->cache, i, ent + i * w);
        }
        return SIM_OK;
    }
    u64 P = s->T0;
    ref_kv_write(L, cp->state, P % ring, st);
    if ((P + 1) % m) return SIM_OK;
    /* Token P completes block i: read the pending rows of blocks i (and i-1). */
    u64 i = (P + 1) / m - 1;
    float *rows = REF_ALLOC(M, ring * sw, float);
    if (!rows) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 part = 0; part < cp->coff; part++)
        for (u64 j = 0; j < m; j++) {
            rowp[part * m + j] = NULL;
            if (part > i) continue;
            u64 t = (i - part) * m + j;
            float *r = rows + (part * m + j) * sw;
            ref_kv_read(L, L, cp->state, t % ring, r);
            rowp[part * m + j] = r;
        }
    pool(L, cp, i, rowp, ent);
    ref_kv_write(L, cp->cache, i, ent);
    return SIM_OK;
}

int ref_v4_window(ref_layer *L, const ref_step *s, int cache, float *kv, float **win, u64 *base, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    u64 n = s->n, c = a->head_dim, W = a->window;
    (void)e;
    if (s->ph == PH_PREFILL) {
        u64 held = n < W ? n : W;
        for (u64 t = 0; t < n - held; t++) ref_kv_round(L, cache, kv + t * c);
        for (u64 t = n - held; t < n; t++) ref_kv_write(L, cache, t % W, kv + t * c);
        *win = kv;
        *base = 0;
        return SIM_OK;
    }
    u64 P = s->T0;
    ref_kv_write(L, cache, P % W, kv);
    *base = P + 1 > W ? P + 1 - W : 0;
    *win = NULL;   /* decode: the kernel streams the rows from the cache (ref_kv_src) */
    return SIM_OK;
}
