/* attn_hca.c - DeepSeek V4 heavily compressed attention (HCA).
 *
 * Compression m' (128) without overlap: entry i pools tokens [m' i, m'(i+1))
 * with learned softmax gates. A query at position t attends densely to all
 * floor((t+1)/m') complete entries plus the last `window` uncompressed ones.
 * No indexer. Cache: floor(T/m') entries + min(T, window) window entries +
 * the compressor's tail state (min(T, m') rows).
 */
#include "layer.h"

static const field_def fields[] = {
    V4_COMMON_FIELDS,
    AFIELD("compress_ratio", F_U64, compress_ratio, 1, 1u << 20, true, "tokens", "tokens per compressed entry"),
    AFIELD("state_format", F_FMT, state_fmt, 0, 0, false, "format", "compressor tail-state element format (default fp32)"),
    {0},
};

static int kv_table(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    u64 kb;
    int rc;
    (void)m;
    if ((rc = fmt_entry_bytes(&a->kv_fmt, a->head_dim, &kb, e))) return rc;
    b[0] = (kv_buf){"compressed", T / a->compress_ratio, kb};
    if ((rc = v4_window_buf(l, T, &b[1], e))) return rc;
    if ((rc = v4_state_buf(l, "state", T, a->compress_ratio, 1, a->head_dim, &b[2], e))) return rc;
    return 3;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    bool *ovf = c->ovf;
    u64 r = a->compress_ratio;
    u64 vis = cc_span_compressed(c, r, 0), win = cc_span_window(c, a->window);
    v4_core_cost(c, l, o, cmul(ovf, c->q.B, cadd(ovf, vis, win)));
    v4_compressor_cost(c, o, r, 1, a->head_dim, a->rope_dim);
    return v4_cache_traffic(c, l, o, 1, &vis, win, 1, e);
}

static int check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    return v4_check(m, l, e);
}

static int edges(const layer_spec *l, u64 *ctx)
{
    int n = attn_window_edges(&l->attn, ctx, 0);
    return attn_compress_edges(l->attn.compress_ratio, 0, ctx, n);
}

const comp_type comp_attn_hca = {
    .name = "hca", .cat = COMP_ATTN,
    .summary = "DeepSeek V4 heavily compressed attention: m':1 pooling, dense over entries, window branch",
    .fields = fields, .check = check, .kv_table = kv_table, .cost = cost,
    .edges = edges,
    .example = "name: ex-hca\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  a: {type: hca, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 24, o_groups: 2, o_lora_rank: 16, window: 5,\n"
               "      compress_ratio: 6}\n",
};
