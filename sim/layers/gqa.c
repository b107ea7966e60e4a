/* attn_gqa.c - multi-head, grouped-query and multi-query attention (MHA is
 * kv_heads = q_heads, MQA kv_heads = 1), with an optional sliding window,
 * cross-layer KV sharing, per-layer query-head counts (set per layer through
 * `per_layer:`), q/k norms, qkv biases, a per-head output gate and K = V.
 *
 * Per token (d = d_model, H = q_heads, G = kv_heads, h = head_dim, v = v dim):
 *   proj  2d(Hh) + 2d G(h+v) [not on shared layers] + 2(Hv)d + 2dH [gate]
 *   attn  per (query, visible key) pair: 2H(h + v); pairs = sum over queries
 *         of min(u, window) (u = tokens visible to the query, diagonal included)
 *   cache min(T, window) entries of G(h+v) elements (G h with k_eq_v unless v_norm)
 *   other RMSNorm of q/k heads (qk_norm) and of v heads (v_norm: G v per token),
 *         one add per bias element (qkv_bias: Hh + G(h+v); o_bias: d)
 */
#include "layer.h"

static const field_def fields[] = {
    AFIELD_S("q_heads", F_U64, q_heads, 1, HEADS_MAX, true, "heads", "query heads", SC_MULTIPLE_OF, kv_heads),
    AFIELD_S("kv_heads", F_U64, kv_heads, 1, HEADS_MAX, true, "heads", "key/value heads; divides q_heads", SC_DIV, kv_heads),
    AFIELD("head_dim", F_U64, head_dim, 1, DIM_MAX, true, "elements", "per-head q/k dim (as published, not d_model/q_heads)"),
    AFIELD("v_head_dim", F_U64, v_head_dim, 1, DIM_MAX, false, "elements", "per-head value dim (default head_dim)"),
    AFIELD("rope_dim", F_U64, rope_dim, 0, DIM_MAX, false, "elements", "rotated dims per head (default 0: RoPE FLOPs not counted)"),
    AFIELD("window", F_U64, window, 1, TOK_MAX, false, "tokens", "sliding window (keys a query sees, itself included); absent = global"),
    AFIELD("qk_norm", F_BOOL, qk_norm, 0, 0, false, "", "RMSNorm on each q and k head"),
    AFIELD("qkv_bias", F_BOOL, qkv_bias, 0, 0, false, "", "biases on the q, k, v projections"),
    AFIELD("o_bias", F_BOOL, o_bias, 0, 0, false, "", "bias on the output projection (transformers LlamaAttention o_proj with attention_bias)"),
    AFIELD("out_gate", F_BOOL, out_gate, 0, 0, false, "", "per-head gate on the output, from a d_model x q_heads projection"),
    AFIELD("k_eq_v", F_BOOL, k_eq_v, 0, 0, false, "", "no v projection: V is K (half the cache), or with v_norm the normed raw K projection (Gemma 4; K and V cached)"),
    AFIELD("sink", F_BOOL, sink, 0, 0, false, "", "learnable per-head sink logit"),
    AFIELD("rope_theta", F_U64, rope_theta, 1, 1ull << 40, false, "", "this kind's RoPE base (default: the model's rope.theta), e.g. Gemma 4 full layers 1000000"),
    AFIELD("rope_unscaled", F_BOOL, rope_unscaled, 0, 0, false, "",
           "this kind's RoPE ignores the model's rope.scaling (Laguna's sliding layers: rope_type default)"),
    AFIELD("rope_proportional", F_BOOL, rope_proportional, 0, 0, false, "",
           "Gemma 4's proportional RoPE: rope_dim/2 pairs (i, i + head_dim/2), frequencies theta^(-2i/head_dim)"),
    AFIELD("v_norm", F_BOOL, v_norm, 0, 0, false, "", "RMSNorm without weight on each value head (Gemma 4)"),
    AFIELD("unit_scale", F_BOOL, unit_scale, 0, 0, false, "", "scores not scaled by 1/sqrt(head_dim) (Gemma 4: scaling 1.0)"),
    AFIELD("kv_format", F_FMT, kv_fmt, 0, 0, false, "format", "cache entry format (default: kv_dtype)"),
    {0},
};

static u64 entry_elems(const attn_cfg *a)
{
    /* k_eq_v alone: the values are the cached keys; with v_norm (Gemma 4)
     * they are the normed raw key projection, held beside the keys. */
    return a->kv_heads * (a->head_dim + (a->k_eq_v && !a->v_norm ? 0 : attn_vdim(a)));
}

static int check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    (void)m;
    int rc = attn_check_heads(a, e);
    if (rc) return rc;
    if (a->k_eq_v && a->v_norm && a->qkv_bias)
        return sim_fail(e, SIM_EINVAL, "k_eq_v with v_norm takes no qkv_bias (Gemma 4 has none)");
    if (a->k_eq_v && attn_vdim(a) != a->head_dim)
        return sim_fail(e, SIM_EINVAL, "k_eq_v needs v_head_dim == head_dim");
    return SIM_OK;
}

static int kv_table(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    (void)m;
    u64 bytes;
    int rc = fmt_entry_bytes(&a->kv_fmt, entry_elems(a), &bytes, e);
    if (rc) return rc;
    b[0] = (kv_buf){"kv", a->window ? umin(T, a->window) : T, bytes};
    return 1;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    const model_spec *m = c->m;
    const attn_cfg *a = &l->attn;
    bool *ovf = c->ovf, sh = l->shared_kv;
    u64 d = m->d_model, H = a->q_heads, G = a->kv_heads, h = a->head_dim, v = attn_vdim(a);
    u64 n = c->ntok, kvw = G * (h + (a->k_eq_v ? 0 : v)), eb_elems = entry_elems(a);
    dtype lin = m->compute[CC_LINEAR];
    /* Weights. Shared layers have no k/v projections (Gemma 4 drops them). */
    cc_shape(c, d, H * h, 1);
    cc_weights(c, o, WC_LINEAR, cmul(ovf, d, H * h), 1, true);
    cc_shape(c, H * v, d, 1);
    cc_weights(c, o, WC_LINEAR, cmul(ovf, H * v, d), 1, true);
    if (!sh) {
        cc_shape(c, d, G * h, 1);                      /* wk */
        if (!a->k_eq_v) cc_shape(c, d, G * v, 1);      /* wv */
        cc_weights(c, o, WC_LINEAR, cmul(ovf, d, kvw), 1, true);
    }
    if (a->out_gate) {
        cc_shape(c, d, H, 1);
        cc_weights(c, o, WC_LINEAR, cmul(ovf, d, H), 1, true);
    }
    if (a->qkv_bias) cc_weights(c, o, WC_SMALL, H * h + (sh ? 0 : kvw), 1, true);
    if (a->o_bias) cc_weights(c, o, WC_SMALL, d, 1, true);
    if (a->qk_norm) cc_weights(c, o, WC_SMALL, h + (sh ? 0 : h), 1, true);
    if (a->sink) cc_weights(c, o, WC_SMALL, H, 1, true);
    /* Projections. */
    u64 pw = cadd(ovf, cmul(ovf, d, H * h), cmul(ovf, H * v, d));
    if (!sh) pw = cadd(ovf, pw, cmul(ovf, d, kvw));
    if (a->out_gate) pw = cadd(ovf, pw, cmul(ovf, d, H));
    cc_flops(c, o, FL_PROJ, lin, cmul3(ovf, 2, n, pw));
    /* Scores and values over the visible keys. */
    u64 pairs = cmul(ovf, c->q.B, cc_span_window(c, a->window));
    cc_flops(c, o, FL_ATTN, m->compute[CC_ATTENTION], cmul3(ovf, pairs, H, 2 * (h + v)));
    /* Element-wise: softmax per score; norms, RoPE, biases, gate per token. */
    cc_flops_fused(c, o, FL_OTHER, DT_FP32, cmul3(ovf, pairs, H, FLOPS_SOFTMAX));
    u64 ew = 0;
    u64 heads_kq = H + (sh ? 0 : G);
    if (a->qk_norm) ew = cadd(ovf, ew, cmul4(ovf, n, heads_kq, h, FLOPS_RMSNORM));
    ew = cadd(ovf, ew, cmul4(ovf, n, heads_kq, a->rope_dim, FLOPS_ROPE));
    if (a->qkv_bias) ew = cadd(ovf, ew, cmul(ovf, n, H * h + (sh ? 0 : kvw)));
    if (a->o_bias) ew = cadd(ovf, ew, cmul(ovf, n, d));
    if (a->out_gate) ew = cadd(ovf, ew, cmul(ovf, n, H * FLOPS_ACT + H * v));
    if (a->v_norm && !sh) ew = cadd(ovf, ew, cmul4(ovf, n, G, v, FLOPS_RMSNORM));   /* Gemma 4's v_norm */
    cc_flops(c, o, FL_OTHER, DT_FP32, ew);
    /* Cache: rows held after T, rows read by the decode step (all visible
     * keys, the new one included, since it is written first), one row written. */
    u64 eb;
    int rc = fmt_entry_bytes(&a->kv_fmt, eb_elems, &eb, e);
    if (rc) return rc;
    u64 held = a->window ? umin(c->q.T, a->window) : c->q.T;
    attn_cache_traffic(c, o, held, eb, cc_span_window(c, a->window), 1, sh);
    return SIM_OK;
}

static int edges(const layer_spec *l, u64 *ctx)
{
    return attn_window_edges(&l->attn, ctx, 0);
}

const comp_type comp_attn_gqa = {
    .name = "gqa", .cat = COMP_ATTN,
    .summary = "MHA / GQA / MQA with optional sliding window, KV sharing, q/k norm, output gate",
    .fields = fields, .check = check, .kv_table = kv_table, .cost = cost,
    .edges = edges,
    .kv_share = true,
    .example = "name: ex-gqa\n"
               "d_model: 64\n"
               "n_layers: 4\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  local: {type: gqa, q_heads: 4, kv_heads: 2, head_dim: 16, window: 5, rope_dim: 8}\n"
               "  global: {type: gqa, q_heads: 4, kv_heads: 1, head_dim: 16, qk_norm: true}\n"
               "pattern: [local, global, local, global]\n"
               "kv_sharing: {shared_layers: 2}\n",
};
