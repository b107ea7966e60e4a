/* attn_cca.c - compressed convolutional attention (ZAYA1-8B; arXiv 2510.04476,
 * as implemented in Zyphra's vLLM cca.py; research facts 2.2).
 *
 * q = x Wq (d -> H h) and k = x Wk (d -> G h) live in a compressed latent
 * (ZAYA1: H h = d/2, G h = d/8). The packed [q, k] channels (H+G) h pass two
 * causal convolutions along the sequence: a depthwise one of conv_kernel taps
 * and a grouped one (one group per head, mixing the h channels of the head)
 * of conv_kernel2 taps, each with a bias. V is not convolved: half of it comes
 * from the current token, half from the previous one (x_{t-1} W_v'). q and k
 * are normalised per head, k scaled by a per-KV-head temperature; GQA
 * attention runs inside the latent; o: H h -> d.
 * Cache per token: G h keys + G h values. State per sequence: the last
 * (conv_kernel - 1) + (conv_kernel2 - 1) pre-conv q/k columns and the
 * previous token's delayed value (G h / 2), in state_format (fp32 default).
 */
#include "layer.h"

static const field_def fields[] = {
    AFIELD_S("q_heads", F_U64, q_heads, 1, HEADS_MAX, true, "heads", "query heads in the latent", SC_MULTIPLE_OF, kv_heads),
    AFIELD_S("kv_heads", F_U64, kv_heads, 1, HEADS_MAX, true, "heads", "key/value heads in the latent; divides q_heads", SC_DIV, kv_heads),
    AFIELD("head_dim", F_U64, head_dim, 2, DIM_MAX, true, "elements", "latent head dim (even: V is split in halves)"),
    AFIELD("rope_dim", F_U64, rope_dim, 0, DIM_MAX, false, "elements", "rotated dims per head"),
    AFIELD("conv_kernel", F_U64, conv_kernel, 1, 64, true, "taps", "depthwise sequence conv on q/k"),
    AFIELD("conv_kernel2", F_U64, conv_kernel2, 1, 64, true, "taps", "grouped (per-head) conv on q/k"),
    AFIELD("window", F_U64, window, 1, TOK_MAX, false, "tokens", "sliding window; absent = global"),
    AFIELD("kv_format", F_FMT, kv_fmt, 0, 0, false, "format", "cache entry format (default: kv_dtype)"),
    AFIELD("state_format", F_FMT, state_fmt, 0, 0, false, "format", "conv/value state element format (default fp32)"),
    {0},
};

static u64 state_elems(const attn_cfg *a)
{
    u64 ch = (a->q_heads + a->kv_heads) * a->head_dim;
    return ch * (a->conv_kernel - 1 + a->conv_kernel2 - 1) + a->kv_heads * a->head_dim / 2;
}

static int check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    (void)m;
    int rc = attn_check_heads(a, e);
    if (rc) return rc;
    if (a->head_dim % 2)
        return sim_fail(e, SIM_EINVAL, "head_dim = %llu must be even (V is split in two halves)",
                        (unsigned long long)a->head_dim);
    return SIM_OK;
}

static int kv_table(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    u64 kb, sb;
    int rc;
    (void)m;
    if ((rc = fmt_entry_bytes(&a->kv_fmt, 2 * a->kv_heads * a->head_dim, &kb, e))) return rc;
    if ((rc = fmt_entry_bytes(&a->state_fmt, state_elems(a), &sb, e))) return rc;
    b[0] = (kv_buf){"kv", a->window ? umin(T, a->window) : T, kb};
    b[1] = (kv_buf){"conv_state", T ? 1 : 0, sb};
    return 2;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    const model_spec *m = c->m;
    const attn_cfg *a = &l->attn;
    bool *ovf = c->ovf;
    u64 d = m->d_model, H = a->q_heads, G = a->kv_heads, h = a->head_dim, n = c->ntok;
    u64 ch = (H + G) * h, k1 = a->conv_kernel, k2 = a->conv_kernel2;
    /* wq, wk, the two half-width value projections, wo. */
    u64 w = cadd(ovf, cmul(ovf, d, ch), cmul(ovf, d, G * h));
    w = cadd(ovf, w, cmul(ovf, H * h, d));
    cc_shape(c, d, H * h, 1);                          /* wq */
    cc_shape(c, d, G * h, 1);                          /* wk */
    cc_shape(c, d, G * h / 2, 2);                      /* the two half-width value projections */
    cc_shape(c, H * h, d, 1);                          /* wo */
    cc_weights(c, o, WC_LINEAR, w, 1, true);
    /* conv weights + biases: depthwise ch*k1 + ch, grouped ch*h*k2 + ch; temperature G. */
    u64 cw = cadd(ovf, ch * (k1 + 1), cadd(ovf, cmul3(ovf, ch, h, k2), ch));
    cc_weights(c, o, WC_SMALL, cw + G, 1, true);
    cc_flops(c, o, FL_PROJ, m->compute[CC_LINEAR], cmul3(ovf, 2, n, w));
    cc_flops(c, o, FL_PROJ, m->compute[CC_LINEAR], cmul3(ovf, 2, n, cadd(ovf, ch * k1, cmul3(ovf, ch, h, k2))));
    u64 pairs = cmul(ovf, c->q.B, cc_span_window(c, a->window));
    cc_flops(c, o, FL_ATTN, m->compute[CC_ATTENTION], cmul3(ovf, pairs, H, 4 * h));
    /* conv biases (2 ch), the q/k mean mix (4 per q/k element, and for each
     * k element the mean of its group's H/G q elements: H/G more, H h in
     * all; Zyphra vLLM cca.py _add_grouped_qk_means_inplace), per-head L2
     * normalisation, temperature, RoPE, softmax. */
    cc_flops_fused(c, o, FL_OTHER, DT_FP32, cmul3(ovf, pairs, H, FLOPS_SOFTMAX));
    u64 ew = 0;
    ew = cadd(ovf, ew, cmul(ovf, n, ch * (2 + 4 + FLOPS_RMSNORM) + G * h + H * h));
    ew = cadd(ovf, ew, cmul4(ovf, n, H + G, a->rope_dim, FLOPS_ROPE));
    cc_flops(c, o, FL_OTHER, DT_FP32, ew);
    kv_buf b[KV_MAX_BUFS];
    int nb = kv_table(m, l, c->q.T, b, e);
    if (nb < 0) return nb;
    attn_cache_traffic(c, o, b[0].entries, b[0].entry_bytes, cc_span_window(c, a->window), 1, l->shared_kv);
    attn_cache_traffic(c, o, b[1].entries, b[1].entry_bytes, 1, 1, l->shared_kv);
    return SIM_OK;
}

static int edges(const layer_spec *l, u64 *ctx)
{
    int n = attn_window_edges(&l->attn, ctx, 0);
    n = edge_add(ctx, n, l->attn.conv_kernel);
    return edge_add(ctx, n, l->attn.conv_kernel2 + 1);
}

const comp_type comp_attn_cca = {
    .name = "cca", .cat = COMP_ATTN,
    .summary = "compressed convolutional attention (ZAYA1): attention in a conv-mixed latent",
    .fields = fields, .check = check, .kv_table = kv_table, .cost = cost,
    .edges = edges,
    .example = "name: ex-cca\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  a: {type: cca, q_heads: 4, kv_heads: 2, head_dim: 12, conv_kernel: 3, conv_kernel2: 2, rope_dim: 4}\n"
               "  w: {type: cca, q_heads: 2, kv_heads: 1, head_dim: 10, conv_kernel: 2, conv_kernel2: 3, window: 6}\n"
               "pattern: [a, w]\n",
};
