/* res_plain.c - the plain pre-norm residual: per layer two sublayers
 * (attention, FFN), each x + F(RMSNorm(x)); `post_norms` adds an RMSNorm on
 * each sublayer's output (Gemma's sandwich norms).
 * `scaled_merge` (ZAYA1, Zyphra transformers models/zaya/modeling_zaya.py
 * ResidualScaling, config scale_residual_merge): every merge of a sublayer's
 * output f into the stream x is x' = (x + rb) rs + (f + hb) hs, with four
 * learned d-vectors per merge (4 d parameters, 4 more FLOPs per element:
 * two bias adds, two multiplies); the embedding enters as (e + hb) hs (the
 * model's `embed` row, cost.c). In the released code the vectors of the
 * merge of sublayer j's output belong to sublayer j + 1 (its res_scale,
 * applied before its norm) and the last merge to the model; the same
 * vectors, counted here with the layer whose output they merge.
 * Traffic per token per sublayer (mHC paper Table 2, residual baseline):
 * read 2C, write C elements of the activation dtype. */
#include "layer.h"

static const field_def fields[] = {
    RFIELD("post_norms", F_BOOL, post_norms, 0, 0, false, "", "RMSNorm after each sublayer too (Gemma)"),
    RFIELD("layer_scalar", F_BOOL, layer_scalar, 0, 0, false, "", "one learned scalar multiplying the layer output (Gemma 4)"),
    RFIELD("scaled_merge", F_BOOL, scaled_merge, 0, 0, false, "", "ZAYA1's residual scaling: each merge (x + rb) rs + (f + hb) hs, d-vectors"),
    {0},
};

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    (void)e;
    bool *ovf = c->ovf;
    u64 d = c->m->d_model, n = c->ntok, norms = l->res.post_norms ? 4 : 2, sm = l->res.scaled_merge ? 1 : 0;
    cc_weights(c, o, WC_SMALL, norms * d + (l->res.layer_scalar ? 1 : 0) + sm * 2 * 4 * d, 1, true);
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul3(ovf, n, d, norms * FLOPS_RMSNORM + 2 * FLOPS_ADD + sm * 2 * 4));
    o->act_bytes = cadd(ovf, o->act_bytes, cmul4(ovf, 2 * 3, n, d, dtype_table[c->m->act_dt].bits / 8));
    return SIM_OK;
}

const comp_type comp_res_plain = {
    .name = "plain", .cat = COMP_RES,
    .summary = "pre-norm residual (x + F(norm(x)))",
    .fields = fields, .cost = cost,
    .is_default = true,
    .example = "name: ex-res-plain\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "residual: {type: plain, post_norms: true, layer_scalar: true}\n"
               "layers:\n"
               "  a: {type: gqa, q_heads: 4, kv_heads: 1, head_dim: 16}\n",
};
