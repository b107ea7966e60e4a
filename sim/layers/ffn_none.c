/* ffn_none.c - a layer without an FFN (attention-only blocks). */
#include "layer.h"

static const field_def fields[] = {{0}};

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    (void)e;
    (void)c; (void)l; (void)o;
    return SIM_OK;
}

const comp_type comp_ffn_none = {
    .name = "none", .cat = COMP_FFN,
    .summary = "no FFN",
    .fields = fields, .cost = cost,
    .example = "name: ex-ffn-none\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: none}\n"
               "layers:\n"
               "  a: {type: gqa, q_heads: 4, kv_heads: 1, head_dim: 16}\n",
};
