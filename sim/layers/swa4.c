/* attn_swa4.c - DeepSeek V4's pure sliding-window layers (compress ratio 0 in
 * the config, e.g. V4-Flash layers 0-1): the V4 q path, shared KV head and
 * grouped output, attending only to the last `window` entries. */
#include "layer.h"

static const field_def fields[] = {
    V4_COMMON_FIELDS,
    {0},
};

static int kv_table(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    (void)m;
    int rc = v4_window_buf(l, T, &b[0], e);
    return rc ? rc : 1;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    u64 win = cc_span_window(c, l->attn.window);
    v4_core_cost(c, l, o, cmul(c->ovf, c->q.B, win));
    kv_buf b;
    int rc = v4_window_buf(l, c->q.T, &b, e);
    if (rc) return rc;
    attn_cache_traffic(c, o, b.entries, b.entry_bytes, win, 1, l->shared_kv);
    return SIM_OK;
}

static int check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    return v4_check(m, l, e);
}

static int edges(const layer_spec *l, u64 *ctx)
{
    return attn_window_edges(&l->attn, ctx, 0);
}

const comp_type comp_attn_swa4 = {
    .name = "swa4", .cat = COMP_ATTN,
    .summary = "DeepSeek V4 sliding-window-only layer (compress ratio 0)",
    .fields = fields, .check = check, .kv_table = kv_table, .cost = cost,
    .edges = edges,
    .example = "name: ex-swa4\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  a: {type: swa4, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 24, o_groups: 2, o_lora_rank: 16, window: 5}\n",
};
