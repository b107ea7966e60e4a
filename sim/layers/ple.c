/* ple.c - per-layer embeddings (Gemma 4 / 3n; research facts 3.1).
 *
 * Model level: a table [V_ple, L p] (one row of L p values per token, stored
 * off-accelerator in practice: counted in params.total, not in
 * params.effective) and per_layer_model_projection d -> L p; each layer's
 * p-slice is RMSNorm-ed, added to the table row and scaled by 2^-0.5.
 * Inside layer i: h += norm(W_proj (gelu(W_gate h) * ple_i)), with W_gate
 * d -> p, W_proj p -> d and a post norm over d.
 */
#include "layer.h"

void ple_layer_cost(const cost_ctx *c, const layer_spec *l, int layer, cost_t *o)
{
    bool *ovf = c->ovf;
    u64 d = c->m->d_model, p = c->m->ple_dim, n = c->ntok;
    (void)l; (void)layer;
    cc_weights(c, o, WC_LINEAR, cmul3(ovf, 2, d, p), 1, true);
    cc_weights(c, o, WC_SMALL, d, 1, true);
    cc_flops(c, o, FL_OTHER, c->m->compute[CC_LINEAR], cmul4(ovf, 2, n, 2 * d, p));
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul(ovf, n, p * FLOPS_ACT + d * (FLOPS_RMSNORM + FLOPS_ADD)));
}

void ple_model_cost(const cost_ctx *c, cost_t *o)
{
    const model_spec *m = c->m;
    bool *ovf = c->ovf;
    u64 d = m->d_model, n = c->ntok;
    u64 Lp = cmul(ovf, m->n_layers, m->ple_dim);
    u64 rows = umin(n, m->ple_vocab);
    o->params = cadd(ovf, o->params, cmul(ovf, m->ple_vocab, Lp));
    o->params_embed = cadd(ovf, o->params_embed, cmul(ovf, m->ple_vocab, Lp));
    o->weight_bytes = cadd(ovf, o->weight_bytes, fmt_rate_bytes(&m->weight[WC_EMBED], cmul(ovf, m->ple_vocab, Lp), ovf));
    o->weight_read_bytes = cadd(ovf, o->weight_read_bytes, fmt_rate_bytes(&m->weight[WC_EMBED], cmul(ovf, rows, Lp), ovf));
    cc_weights(c, o, WC_LINEAR, cmul(ovf, d, Lp), 1, true);
    cc_weights(c, o, WC_SMALL, m->ple_dim, 1, true);
    cc_flops(c, o, FL_OTHER, m->compute[CC_LINEAR], cmul4(ovf, 2, n, d, Lp));
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul3(ovf, n, Lp, FLOPS_RMSNORM + 2));
}
