/* ffn_dense.c - a dense MLP: gated (SwiGLU/GeGLU: gate, up, down = 3 d x d_ff
 * matrices) or plain (up, down). Per token: 2 x params FLOPs + the activation
 * (FLOPS_ACT per hidden element). */
#include "layer.h"

static const field_def fields[] = {
    FFIELD_S("d_ff", F_U64, d_ff, 1, DIM_MAX, true, "elements", "hidden width", SC_DIV, d_ff),
    FFIELD("gated", F_BOOL, gated, 0, 0, false, "", "gated (3 matrices, default) or plain (2)"),
    FFIELD("act", F_CHOICE, act, 0, 0, false, "silu|gelu_tanh", "activation (default silu; gelu_tanh: Gemma's gelu_pytorch_tanh, same FLOPs)"),
    {0},
};

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    (void)e;
    const ffn_cfg *f = &l->ffn;
    bool *ovf = c->ovf;
    u64 w = cmul3(ovf, f->gated ? 3 : 2, c->m->d_model, f->d_ff);
    cc_shape(c, c->m->d_model, f->d_ff, f->gated ? 2 : 1);   /* w_gate, w_up */
    cc_shape(c, f->d_ff, c->m->d_model, 1);                  /* w_down */
    cc_weights(c, o, WC_LINEAR, w, 1, true);
    cc_flops(c, o, FL_FFN, c->m->compute[CC_LINEAR], cmul3(ovf, 2, c->ntok, w));
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul3(ovf, c->ntok, f->d_ff, FLOPS_ACT));
    return SIM_OK;
}

const comp_type comp_ffn_dense = {
    .name = "dense", .cat = COMP_FFN,
    .summary = "dense MLP (gated or plain)",
    .fields = fields, .cost = cost,
    .example = "name: ex-ffn-dense\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  a: {type: gqa, q_heads: 4, kv_heads: 1, head_dim: 16}\n"
               "overrides:\n"
               "  - {layers: 1, set: {ffn.gated: false}}\n",
};
