/* ple.c - the `ple` component type: per-layer embeddings (Gemma 4 / 3n; research facts 3.1).
 *
 * Model level: a table [V_ple, L p] (one row of L p values per token, stored
 * off-accelerator in practice: counted in params.total, not in
 * params.effective) and per_layer_model_projection d -> L p; as
 * transformers' Gemma4TextModel.project_per_layer_inputs: the projection
 * times d^-0.5, each layer's p-slice RMSNorm-ed, added to the table row
 * times sqrt(p), the sum times 2^-0.5 (FLOPS_RMSNORM + 4 per element).
 * Inside layer i: h += norm(W_proj (gelu(W_gate h) * ple_i)), with W_gate
 * d -> p, W_proj p -> d and a post norm over d.
 */
#include "layer.h"

static const field_def fields[] = {
    PFIELD_S("dim", F_U64, dim, 1, 1u << 16, true, "elements per layer", "per-layer embedding dim", SC_DIV, dim),
    PFIELD_S("vocab", F_U64, vocab, 1, 1u << 24, false, "tokens", "its vocabulary (default: the model's vocab)", SC_DIV, vocab),
    {0},
};

/* Inside layer i: the gated per-layer update. */
static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    bool *ovf = c->ovf;
    u64 d = c->m->d_model, p = c->m->ple.dim, n = c->ntok;
    (void)l; (void)e;
    cc_shape(c, d, p, 1);                              /* the gate: d -> p */
    cc_shape(c, p, d, 1);                              /* the projection back: p -> d */
    cc_weights(c, o, WC_LINEAR, cmul3(ovf, 2, d, p), 1, true);
    cc_weights(c, o, WC_SMALL, d, 1, true);
    cc_flops(c, o, FL_OTHER, c->m->compute[CC_LINEAR], cmul4(ovf, 2, n, 2 * d, p));
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul(ovf, n, p * FLOPS_ACT + d * (FLOPS_RMSNORM + FLOPS_ADD)));
    return SIM_OK;
}

/* The model-level part: table lookup and the projection into L*p. */
static int model_cost(const cost_ctx *c, cost_t *o, sim_err *e)
{
    const model_spec *m = c->m;
    bool *ovf = c->ovf;
    u64 d = m->d_model, n = c->ntok;
    u64 Lp = cmul(ovf, m->n_layers, m->ple.dim);
    u64 rows = umin(n, m->ple.vocab);
    o->params = cadd(ovf, o->params, cmul(ovf, m->ple.vocab, Lp));
    o->params_embed = cadd(ovf, o->params_embed, cmul(ovf, m->ple.vocab, Lp));
    o->weight_bytes = cadd(ovf, o->weight_bytes, cc_rate_bytes(c, WC_EMBED, cmul(ovf, m->ple.vocab, Lp)));
    o->weight_read_bytes = cadd(ovf, o->weight_read_bytes, cc_rate_bytes(c, WC_EMBED, cmul(ovf, rows, Lp)));
    cc_shape(c, d, Lp, 1);
    cc_weights(c, o, WC_LINEAR, cmul(ovf, d, Lp), 1, true);
    cc_weights(c, o, WC_SMALL, m->ple.dim, 1, true);
    cc_flops(c, o, FL_OTHER, m->compute[CC_LINEAR], cmul4(ovf, 2, n, d, Lp));
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul3(ovf, n, Lp, FLOPS_RMSNORM + 4));
    (void)e;
    return SIM_OK;
}

const comp_type comp_ple_ple = {
    .name = "ple", .cat = COMP_PLE,
    .summary = "per-layer embeddings (Gemma 4 / 3n): a [vocab, n_layers*dim] table and a gated update per layer",
    .fields = fields, .cost = cost, .model_cost = model_cost, .is_default = true,
    .example = "name: ex-ple\nd_model: 64\nn_layers: 3\nvocab: 97\nple: {dim: 8, vocab: 61}\n"
               "ffn: {type: dense, d_ff: 96}\nlayers:\n  a: {type: gqa, q_heads: 4, kv_heads: 1, head_dim: 16}\n",
};
