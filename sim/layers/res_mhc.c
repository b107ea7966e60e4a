/* res_mhc.c - manifold-constrained hyper-connections (mHC; arXiv 2512.24880,
 * DeepSeek V4 section 2.2). The residual is n streams of width C = d_model;
 * each sublayer (attention, FFN) computes
 *   x~ = RMSNorm(vec(X))                      (n C)
 *   [pre | post | res] = x~ phi + b           phi: (n C) x (n^2 + 2n), fp32/tf32
 *   A = sigmoid(pre) + eps, Cc = 2 sigmoid(post), B = Sinkhorn-Knopp(exp(res))
 *   X' = B^T X + Cc^T F(A X)   (DeepSeek-V4 model.py Block.hc_post: comb's
 *   rows index the source stream; kernel.py hc_split_sinkhorn: a row softmax
 *   + eps, columns, then it - 1 times rows and columns, sums + eps)
 * Weights per sublayer: phi (n^2+2n) n C, bias n^2+2n, 3 scales, plus the
 * sublayer's own RMSNorm (C).
 * FLOPs per token per sublayer: norm 4nC, projection 2nC(n^2+2n), sigmoids
 * 2n x 4, exp n^2, Sinkhorn iters x 2 normalisations x n^2 x 2 (sum, divide),
 * with hc_eps > 0 n + n^2 + (2 iters - 1) n eps adds,
 * pre-mix 2nC, residual mix 2n^2 C, post 2nC (scale and add).
 * Traffic per token per sublayer (Table 2, unfused): read (5n+1)C + n^2 + 2n,
 * write (3n+1)C + n^2 + 2n elements.
 */
#include "layer.h"

static const field_def fields[] = {
    RFIELD("streams", F_U64, streams, 1, 64, true, "streams", "residual streams n (V4: 4)"),
    RFIELD("sinkhorn_iters", F_U64, sinkhorn_iters, 1, 1000, true, "iterations", "Sinkhorn-Knopp iterations (V4: 20)"),
    RFIELD("hc_eps", F_REAL, hc_eps, 0, 1, false, "", "hc_split_sinkhorn's eps: pre + eps, each Sinkhorn sum + eps (V4: 1e-6)"),
    {0},
};

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    (void)e;
    bool *ovf = c->ovf;
    u64 C = c->m->d_model, n = l->res.streams, t = c->ntok, it = l->res.sinkhorn_iters;
    u64 nc = n * C, k = n * n + 2 * n;
    for (int s = 0; s < 2; s++) {
        cc_weights(c, o, WC_SMALL, cadd(ovf, cmul(ovf, k, nc), k + 3 + C), 1, true);
        cc_flops(c, o, FL_MHC, DT_TF32, cmul4(ovf, 2, t, nc, k));
        u64 per = nc * FLOPS_RMSNORM + 2 * n * 4 + n * n + it * 4 * n * n + 2 * nc + 2 * n * nc + 2 * nc;
        if (l->res.hc_eps > 0) per += n + n * n + (2 * it - 1) * n;   /* pre + eps; the Sinkhorn's eps adds */
        cc_flops(c, o, FL_MHC, DT_FP32, cmul(ovf, t, per));
        cc_flops(c, o, FL_OTHER, DT_FP32, cmul3(ovf, t, C, FLOPS_RMSNORM));
        u64 elems = cadd(ovf, cmul(ovf, 5 * n + 1 + 3 * n + 1, C), 2 * (n * n + 2 * n));
        o->act_bytes = cadd(ovf, o->act_bytes, cmul3(ovf, t, elems, dtype_table[c->m->act_dt].bits / 8));
    }
    return SIM_OK;
}

const comp_type comp_res_mhc = {
    .name = "mhc", .cat = COMP_RES,
    .summary = "manifold-constrained hyper-connections: n streams, Sinkhorn-Knopp mixing",
    .fields = fields, .cost = cost,
    .example = "name: ex-res-mhc\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "residual: {type: mhc, streams: 3, sinkhorn_iters: 5}\n"
               "layers:\n"
               "  a: {type: gqa, q_heads: 4, kv_heads: 1, head_dim: 16}\n",
};
