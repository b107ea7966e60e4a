/* ffn_moe.c - mixture of experts: `experts` routed MLPs of width d_ff (top_k
 * per token), `shared` always-on experts of width shared_d_ff, and a router.
 *
 * Router: a d x E linear (softmax scores: no bias, as Mixtral's and
 * Qwen-MoE's gate nn.Linear(d, E, bias=False) and DeepSeek V2's MoEGate);
 * with `score: sigmoid|sqrtsoftplus` + a per-expert selection bias
 * (aux-loss-free selection, moe_has_sel_bias); with
 * `hash: true` a fixed token-id -> experts table chooses the experts
 * (DeepSeek V4's first three layers; deepseek-ai/DeepSeek-V4-Flash
 * inference/model.py Gate: the router still scores them, without the bias:
 * its weights and matmul priced, E score functions, k - 1 adds, k divides
 * and k scale multiplies per token); with
 * `router_mlp: R` a small MLP replaces it (ZAYA1, Zyphra's
 * modeling_zaya.py ZayaRouter: down d -> R + bias, the previous router's
 * state times a scale R (EDA), RMSNorm R, two R -> R + bias with GELU,
 * R -> E + skip; balancing biases E + skip, fp32 buffers in the release;
 * parameters d R + 3 R + 2 (R^2 + R) + R outs + outs; only its matmuls are
 * priced). `skip_route` (MOD, with the MLP router only): a token routed to
 * the skip output passes through; priced as routed to an expert (the
 * worst case; with the released initial biases the skip is never chosen).
 * `gemma4_block` (Gemma 4 26B-A4B, transformers modeling_gemma4.py
 * Gemma4TextDecoderLayer, enable_moe_block): the one shared expert is the
 * dense MLP; the router (Gemma4TextRouter) RMSNorms the pre-norm residual
 * without a weight, multiplies by a d-vector and d^-1/2, projects to E
 * (d x E, weight class router), softmax, top-k renormalised, times a
 * per-expert scale (E); the routed experts read their own pre-norm and
 * both branches are post-normed: parameters d E + d + E + 3 d; FLOPs per
 * token 4 RMSNorms of d (FLOPS_RMSNORM each), 2 d for the router input's
 * scales, k for the per-expert scales (the branch add, like the shared
 * expert's add, is not priced). No selection bias.
 * DeepSeek V3 routing (`score: sigmoid`, `n_group`, `topk_group`,
 * `routed_scale`; deepseek-ai/DeepSeek-V3 inference/model.py, Gate): scores
 * s = sigmoid(x Wr); choose by s + bias, within the topk_group groups whose
 * two best s + bias sum highest; weights = chosen s / their sum x
 * routed_scale. Priced as executed per token: E sigmoids (FLOPS_SIGMOID), E
 * bias adds, one add per group (n_group > 1), k - 1 adds and k divides to
 * normalise, k multiplies by the scale; the comparisons of the top-k are not
 * counted (as for the softmax router and DSA's top-k).
 * `score: sqrtsoftplus` (DeepSeek V4's config.json scoring_func, with
 * noaux_tc and norm_topk_prob; DeepSeek-V4-Flash inference/model.py Gate:
 * F.softplus(scores).sqrt(), no groups): s = sqrt(softplus(x Wr)),
 * otherwise as sigmoid; priced the same (exp, add, log, sqrt: 4).
 * `swiglu_limit: l` (V4 Expert.forward, routed and shared experts): up
 * clamped to [-l, l] and gate to <= l before SiLU, 3 per hidden element.
 * Weights read per step: the shared experts, the router and the routed
 * experts actually selected, at most min(E, tokens x top_k) of them (routing
 * assumed spread: the worst case for traffic).
 */
#include "layer.h"

static const field_def fields[] = {
    FFIELD_S("experts", F_U64, experts, 1, 1u << 16, true, "experts", "routed experts", SC_AT_LEAST, top_k),
    FFIELD("top_k", F_U64, top_k, 1, 1u << 16, true, "experts", "routed experts per token"),
    FFIELD_S("d_ff", F_U64, d_ff, 1, DIM_MAX, true, "elements", "hidden width of one routed expert", SC_DIV, d_ff),
    FFIELD("shared", F_U64, shared, 0, 1u << 10, false, "experts", "shared (always active) experts"),
    FFIELD_S("shared_d_ff", F_U64, shared_d_ff, 1, DIM_MAX, false, "elements", "shared expert width (default d_ff)", SC_DIV, shared_d_ff),
    FFIELD("shared_gate", F_BOOL, shared_gate, 0, 0, false, "", "shared experts' output times sigmoid(x . w) (Qwen2-MoE shared_expert_gate, d weights)"),
    FFIELD("gated", F_BOOL, gated, 0, 0, false, "", "gated experts (3 matrices, default)"),
    FFIELD("hash", F_BOOL, hash, 0, 0, false, "", "hash routing: token id -> experts table (the router still weights them, DeepSeek V4)"),
    FFIELD_S("router_mlp", F_U64, router_mlp, 1, DIM_MAX, false, "elements", "MLP router hidden width (ZAYA1 style)", SC_DIV, router_mlp),
    FFIELD("skip_route", F_BOOL, skip_route, 0, 0, false, "", "MLP router: one extra 'skip' output (ZAYA1's MOD: the token passes through)"),
    FFIELD("gemma4_block", F_BOOL, gemma4_block, 0, 0, false, "", "Gemma 4's MoE block: the shared expert is the dense MLP; router and experts\n"
           "read the pre-norm residual (router: weightless RMSNorm x scale, softmax, top-k\n"
           "renormalised x per-expert scale); each branch post-normed"),
    FFIELD("score", F_CHOICE, score, 0, 0, false, MOE_SCORE_CHOICES, "router scores: softmax (default); sigmoid (DeepSeek V3) or sqrtsoftplus (V4's\n"
           "config), chosen by score + bias, the chosen ones normalised"),
    FFIELD_S("n_group", F_U64, n_group, 1, 1u << 16, false, "groups", "expert groups for group-limited routing (divides experts)", SC_DIV, n_group),
    FFIELD_S("topk_group", F_U64, topk_group, 1, 1u << 16, false, "groups", "groups each token may route to", SC_DIVISOR_OF, n_group),
    FFIELD("swiglu_limit", F_REAL, swiglu_limit, 0, 1000000, false, "", "DeepSeek V4 Expert: up clamped to [-l, l], gate to <= l (0 = none)"),
    FFIELD("routed_scale", F_REAL, routed_scale, 0, 1000, false, "", "routed_scaling_factor: routed weights times this (default 1)"),
    FFIELD("act", F_CHOICE, act, 0, 0, false, "silu|gelu_tanh", "experts' activation (default silu; gelu_tanh: Gemma's gelu_pytorch_tanh)"),
    {0},
};

static int check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    const ffn_cfg *f = &l->ffn;
    (void)m;
    if (f->top_k > f->experts)
        return sim_fail(e, SIM_EINVAL, "top_k = %llu exceeds experts = %llu", (unsigned long long)f->top_k,
                        (unsigned long long)f->experts);
    if (f->shared_gate && (!f->shared || f->gemma4_block))
        return sim_fail(e, SIM_EINVAL, "shared_gate needs shared experts (shared >= 1) and no gemma4_block");
    if (f->hash && f->router_mlp)
        return sim_fail(e, SIM_EINVAL, "hash routing and router_mlp exclude each other");
    u64 G = f->n_group ? f->n_group : 1, TG = f->topk_group ? f->topk_group : G;
    /* Hash layers have no router: a model-wide score does not apply to them. */
    if ((f->score != MOE_SCORE_SOFTMAX || G > 1 || f->topk_group) && !f->hash && (f->router_mlp || f->skip_route))
        return sim_fail(e, SIM_EINVAL, "score: sigmoid / sqrtsoftplus, n_group and topk_group need a linear router (no router_mlp or skip_route)");
    if (f->skip_route && !f->router_mlp)
        return sim_fail(e, SIM_EINVAL, "skip_route needs router_mlp (ZAYA1's MOD skip is an output of its MLP router)");
    if (f->gemma4_block && (f->shared != 1 || f->router_mlp || f->hash || f->score != MOE_SCORE_SOFTMAX || G > 1))
        return sim_fail(e, SIM_EINVAL, "gemma4_block needs shared: 1 (the dense MLP) and a softmax linear router (no router_mlp, hash, score or n_group)");
    if (TG > G)
        return sim_fail(e, SIM_EINVAL, "topk_group = %llu exceeds n_group = %llu", (unsigned long long)TG, (unsigned long long)G);
    if (G > 1) {
        /* Each group is scored by the sum of its two best biased scores. */
        if (f->experts % G || f->experts / G < 2)
            return sim_fail(e, SIM_EINVAL, "n_group = %llu must divide experts = %llu into groups of at least 2",
                            (unsigned long long)G, (unsigned long long)f->experts);
        if (TG * (f->experts / G) < f->top_k)
            return sim_fail(e, SIM_EINVAL, "topk_group = %llu groups of %llu experts hold fewer than top_k = %llu",
                            (unsigned long long)TG, (unsigned long long)(f->experts / G), (unsigned long long)f->top_k);
    }
    return SIM_OK;
}

/* Does the linear router have a selection bias (added to the scores for
 * the choice only)? The sigmoid and sqrtsoftplus routers outside hash
 * layers. */
bool moe_has_sel_bias(const ffn_cfg *f)
{
    return !f->hash && !f->router_mlp && !f->gemma4_block && f->score != MOE_SCORE_SOFTMAX;
}

/* FLOPs per token of turning router logits into expert weights (the header
 * comment's list; the kernel counts the same, ffn_ref.c). */
u64 moe_route_flops(const ffn_cfg *f)
{
    u64 outs = f->experts + (f->skip_route ? 1 : 0), G = f->n_group > 1 ? f->n_group : 0;
    /* softmax: a routed_scale other than 1 multiplies the k weights (DeepSeek V2's 16) */
    if (f->score == MOE_SCORE_SOFTMAX) return outs * FLOPS_SOFTMAX + (f->routed_scale > 0 && f->routed_scale != 1 ? f->top_k : 0);
    /* hash layers: the scores, no selection bias, no groups */
    if (f->hash) return f->experts * FLOPS_SIGMOID + 3 * f->top_k - 1;
    return f->experts * (FLOPS_SIGMOID + FLOPS_ADD) + G + 3 * f->top_k - 1;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    (void)e;
    const model_spec *m = c->m;
    const ffn_cfg *f = &l->ffn;
    bool *ovf = c->ovf;
    u64 d = m->d_model, n = c->ntok, E = f->experts, k = f->top_k;
    u64 sdff = f->shared_d_ff ? f->shared_d_ff : f->d_ff, mats = f->gated ? 3 : 2;
    dtype lin = m->compute[CC_LINEAR];
    u64 per = cmul3(ovf, mats, d, f->d_ff), sper = cmul3(ovf, mats, d, sdff);
    u64 used = umin(E, cmul(ovf, n, k));
    /* Routed experts: stored E, active k per token, read `used`. */
    o->params = cadd(ovf, o->params, cmul(ovf, E, per));
    o->weight_bytes = cadd(ovf, o->weight_bytes, cc_rate_bytes(c, WC_EXPERT, cmul(ovf, E, per)));
    o->params_active = cadd(ovf, o->params_active, cmul(ovf, k, per));
    o->weight_read_bytes = cadd(ovf, o->weight_read_bytes, cc_rate_bytes(c, WC_EXPERT, cmul(ovf, used, per)));
    if (f->shared) cc_weights(c, o, WC_LINEAR, cmul(ovf, f->shared, sper), 1, true);
    if (f->shared_gate) {
        /* Qwen2MoeSparseMoeBlock: sigmoid(shared_expert_gate(x)) * shared
         * output; the gate is a d x 1 product (router class), then one
         * sigmoid and d multiplies per token. */
        cc_weights(c, o, WC_ROUTER, d, 1, true);
        cc_flops(c, o, FL_FFN, lin, cmul3(ovf, 2, n, d));
        cc_flops(c, o, FL_OTHER, DT_FP32, cmul(ovf, n, FLOPS_SIGMOID + d));
    }
    u64 router = 0, outs = E + (f->skip_route ? 1 : 0);
    if (f->router_mlp) {
        u64 R = f->router_mlp;
        /* down d->R (+bias), state scale R, norm R, two R->R (+bias), R->outs */
        router = cadd(ovf, cmul(ovf, d, R), cadd(ovf, 3 * R + 2 * (R * R + R), R * outs + outs));
        cc_weights(c, o, WC_SMALL, router, 1, true);
        cc_flops(c, o, FL_FFN, lin, cmul3(ovf, 2, n, cadd(ovf, cmul(ovf, d, R), 2 * R * R + R * outs)));
    } else if (f->gemma4_block) {
        router = cmul(ovf, d, E);
        cc_weights(c, o, WC_ROUTER, router, 1, true);
        cc_weights(c, o, WC_SMALL, cadd(ovf, 4 * d, E), 1, true);   /* scale, per-expert scale, 3 norms */
        cc_flops(c, o, FL_FFN, lin, cmul3(ovf, 2, n, router));
        cc_flops(c, o, FL_OTHER, DT_FP32, cmul(ovf, n, cadd(ovf, cmul(ovf, d, 4 * FLOPS_RMSNORM + 2), k)));
    } else {
        /* A linear router; hash layers keep it to weight the table's experts
         * (DeepSeek-V4 model.py Gate), without the selection bias. Only the
         * sigmoid / sqrtsoftplus routers have a selection bias (DeepSeek V3's
         * e_score_correction_bias, V4's Gate.bias, Laguna's); a softmax router
         * has none (transformers MixtralSparseMoeBlock and Qwen2/3-MoE gate:
         * nn.Linear(d, E, bias=False); DeepSeek V2's MoEGate: weight only). */
        router = cmul(ovf, d, outs);
        cc_weights(c, o, WC_ROUTER, router, 1, true);
        if (moe_has_sel_bias(f)) cc_weights(c, o, WC_SMALL, outs, 1, true);   /* selection bias */
        cc_flops(c, o, FL_FFN, lin, cmul3(ovf, 2, n, router));
    }
    cc_flops(c, o, FL_FFN, lin, cmul3(ovf, 2, n, cadd(ovf, cmul(ovf, k, per), cmul(ovf, f->shared, sper))));
    /* Activations of the selected and shared experts, the softmax of the
     * router scores, and the weighted combine of k expert outputs. */
    u64 ew = cmul(ovf, n, cadd(ovf, cmul(ovf, k, f->d_ff), cmul(ovf, f->shared, sdff)));
    ew = cmul(ovf, ew, FLOPS_ACT);
    if (f->swiglu_limit > 0)   /* V4 Expert: clamp up to [-l, l] and gate to <= l, 3 per hidden element */
        ew = cadd(ovf, ew, cmul3(ovf, n, cadd(ovf, cmul(ovf, k, f->d_ff), cmul(ovf, f->shared, sdff)), 3));
    ew = cadd(ovf, ew, cmul(ovf, n, moe_route_flops(f)));   /* router scores (hash layers too) */
    ew = cadd(ovf, ew, cmul3(ovf, n, d, 2 * k));
    cc_flops(c, o, FL_OTHER, DT_FP32, ew);
    return SIM_OK;
}

const comp_type comp_ffn_moe = {
    .name = "moe", .cat = COMP_FFN,
    .summary = "mixture of experts: routed + shared experts, top-k, hash or MLP routers",
    .fields = fields, .check = check, .cost = cost,
    .example = "name: ex-ffn-moe\n"
               "d_model: 64\n"
               "n_layers: 3\n"
               "vocab: 97\n"
               "ffn: {type: moe, experts: 6, top_k: 2, shared: 1, d_ff: 24}\n"
               "layers:\n"
               "  a: {type: gqa, q_heads: 4, kv_heads: 1, head_dim: 16}\n"
               "overrides:\n"
               "  - {layers: 0, set: {ffn.hash: true}}\n",
};
