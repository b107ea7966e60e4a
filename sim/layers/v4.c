/* attn_v4.c - the parts every DeepSeek V4 attention layer shares (CSA, HCA and
 * pure sliding-window layers), from research/deepseek.md section 3.3:
 *   q path      c^Q = h W_DQ (d -> r_q), RMSNorm, q = c^Q W_UQ (r_q -> H c),
 *               per-head RMSNorm, partial RoPE on the last rope_dim dims
 *   KV head     one shared head, kv = h W_KV (d -> c), RMSNorm, RoPE; each
 *               entry is both key and value
 *   attention   per (query, entry) pair: 2Hc (scores) + 2Hc (values)
 *   output      inverse RoPE, grouped projection: H heads in g groups,
 *               each (c H / g) -> d_g, then (g d_g) -> d
 *   sink        one learnable logit per head in the softmax denominator
 */
#include "layer.h"

int v4_check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    (void)m;
    if (a->q_heads % a->o_groups)
        return sim_fail(e, SIM_EINVAL, "q_heads = %llu is not a multiple of o_groups = %llu",
                        (unsigned long long)a->q_heads, (unsigned long long)a->o_groups);
    if (a->rope_dim % 2 || a->rope_dim > V4_ROPE_MAX)
        return sim_fail(e, SIM_EINVAL, "rope_dim = %llu must be even and at most %d (RoPE on adjacent pairs)",
                        (unsigned long long)a->rope_dim, V4_ROPE_MAX);
    if (a->rope_dim > a->head_dim)
        return sim_fail(e, SIM_EINVAL, "rope_dim = %llu exceeds head_dim = %llu",
                        (unsigned long long)a->rope_dim, (unsigned long long)a->head_dim);
    if (a->index_topk && a->index_heads == 0)
        return sim_fail(e, SIM_EINVAL, "index_topk needs index_heads");
    return SIM_OK;
}

void v4_core_cost(const cost_ctx *c, const layer_spec *l, cost_t *o, u64 pairs)
{
    const model_spec *m = c->m;
    const attn_cfg *a = &l->attn;
    bool *ovf = c->ovf;
    u64 d = m->d_model, H = a->q_heads, ch = a->head_dim, rq = a->q_lora_rank, n = c->ntok;
    u64 g = a->o_groups, dg = a->o_lora_rank, p = a->rope_dim;
    u64 w = cmul(ovf, d, rq);                         /* wq_a */
    w = cadd(ovf, w, cmul(ovf, rq, H * ch));          /* wq_b */
    w = cadd(ovf, w, cmul(ovf, d, ch));               /* wkv */
    w = cadd(ovf, w, cmul(ovf, H * ch, dg));          /* wo_a: g blocks of (cH/g) x d_g */
    w = cadd(ovf, w, cmul(ovf, g * dg, d));           /* wo_b */
    cc_shape(c, d, rq, 1);
    cc_shape(c, rq, H * ch, 1);
    cc_shape(c, d, ch, 1);
    if (g) cc_shape(c, H * ch / g, dg, g);
    cc_shape(c, g * dg, d, 1);
    cc_weights(c, o, WC_LINEAR, w, 1, true);
    cc_weights(c, o, WC_SMALL, rq + ch + H, 1, true); /* q_norm, kv_norm, attn_sink */
    cc_flops(c, o, FL_PROJ, m->compute[CC_LINEAR], cmul3(ovf, 2, n, w));
    cc_flops(c, o, FL_ATTN, m->compute[CC_ATTENTION], cmul3(ovf, pairs, H, 4 * ch));
    cc_flops_fused(c, o, FL_OTHER, DT_FP32, cmul3(ovf, pairs, H, FLOPS_SOFTMAX));
    u64 ew = 0;
    ew = cadd(ovf, ew, cmul3(ovf, n, rq + H * ch + ch, FLOPS_RMSNORM));   /* q latent, q heads, kv */
    ew = cadd(ovf, ew, cmul4(ovf, n, 2 * H + 1, p, FLOPS_ROPE));         /* q, kv, inverse on out */
    ew = cadd(ovf, ew, cmul(ovf, c->q.B, cmul(ovf, cc_queries(c), H)));  /* sink */
    cc_flops(c, o, FL_OTHER, DT_FP32, ew);
}

void v4_compressor_cost(const cost_ctx *c, cost_t *o, u64 m, u64 coff, u64 width, u64 rope)
{
    const model_spec *ms = c->m;
    bool *ovf = c->ovf;
    u64 d = ms->d_model, n = c->ntok;
    /* wkv and wgate [coff*width, d] (BF16 in V4), ape [m, coff*width] and an
     * RMSNorm over the pooled entry (research/deepseek.md 3.3). */
    u64 w = cmul3(ovf, 2, coff * width, d);
    cc_shape(c, d, coff * width, 2);
    cc_weights(c, o, WC_COMPRESSOR, w, 1, true);
    cc_weights(c, o, WC_SMALL, cadd(ovf, cmul(ovf, m, coff * width), width), 1, true);
    cc_flops(c, o, FL_COMPRESS, ms->compute[CC_LINEAR], cmul3(ovf, 2, n, w));
    /* Pooling per formed entry: per channel, softmax over coff*m gate scores
     * (+ the positional bias) and the weighted sum: (FLOPS_SOFTMAX + 1 + 2) per
     * pooled element; then RMSNorm and RoPE of the entry. */
    u64 blocks = cmul(ovf, c->q.B, cc_blocks_formed(c, m));
    u64 per = cadd(ovf, cmul3(ovf, width, coff * m, FLOPS_SOFTMAX + 3), width * FLOPS_RMSNORM + rope * FLOPS_ROPE);
    cc_flops(c, o, FL_COMPRESS, DT_FP32, cmul(ovf, blocks, per));
}

int v4_cache_traffic(const cost_ctx *c, const layer_spec *l, cost_t *o, int ncmp, const u64 *vis, u64 win, u64 coff,
                     sim_err *e)
{
    kv_buf b[KV_MAX_BUFS];
    int nb = l->attn.type->kv_table(c->m, l, c->q.T, b, e);
    if (nb < 0) return nb;
    u64 formed = cc_blocks_formed(c, l->attn.compress_ratio);
    /* Forming entry i reads the pending rows of its coff blocks: coff m rows,
     * or only the m that exist for the first entry (T + 1 = m). */
    u64 pend = umin(coff * l->attn.compress_ratio, c->q.T + 1);
    for (int k = 0; k < nb; k++) {
        u64 rd = k < ncmp ? vis[k] : k == ncmp ? win : cmul(c->ovf, formed, pend);
        attn_cache_traffic(c, o, b[k].entries, b[k].entry_bytes, rd, k < ncmp ? formed : 1, false);
    }
    return SIM_OK;
}

int v4_window_buf(const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    u64 bytes;
    int rc = fmt_entry_bytes(&l->attn.kv_fmt, l->attn.head_dim, &bytes, e);
    if (rc) return rc;
    *b = (kv_buf){"window", umin(T, l->attn.window), bytes};
    return SIM_OK;
}

/* The compressor's pending rows: kv and gate projections (coff*width each)
 * of the last coff*m tokens, kept until their block is pooled (the reference
 * code's kv_state/score_state [coff*m, coff*width], fp32; research facts 5). */
int v4_state_buf(const layer_spec *l, const char *name, u64 T, u64 m, u64 coff, u64 width, kv_buf *b, sim_err *e)
{
    u64 bytes;
    int rc = fmt_entry_bytes(&l->attn.state_fmt, 2 * coff * width, &bytes, e);
    if (rc) return rc;
    *b = (kv_buf){name, umin(T, coff * m), bytes};
    return SIM_OK;
}
