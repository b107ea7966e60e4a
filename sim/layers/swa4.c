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

static void cost(const cost_ctx *c, const layer_spec *l, int layer, cost_t *o)
{
    (void)layer;
    u64 win = cc_span_window(c, l->attn.window);
    v4_core_cost(c, l, o, cmul(c->ovf, c->q.B, win));
    kv_buf b;
    sim_err e;
    if (v4_window_buf(l, c->q.T, &b, &e)) return;
    attn_cache_traffic(c, o, b.entries, b.entry_bytes, win, 1, l->shared_kv);
}

static int check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    return v4_check(m, l, e);
}

const comp_type comp_attn_swa4 = {
    "swa4", COMP_ATTN, "DeepSeek V4 sliding-window-only layer (compress ratio 0)",
    fields, check, kv_table, cost, &ref_ops_swa4,
};
