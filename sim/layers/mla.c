/* attn_mla.c - multi-head latent attention (DeepSeek V2/V3).
 *
 * Weights (H heads, r_q = q_lora_rank, r = kv_lora_rank, n = nope, p = rope,
 * v = v_head_dim): wq_a d x r_q, q_norm r_q, wq_b r_q x H(n+p) (or wq d x H(n+p)
 * when r_q = 0), wkv_a d x (r+p), kv_norm r, wkv_b r x H(n+v), wo Hv x d.
 * Cache: one latent of r + p elements per token (V3: 576 -> 1152 B in BF16).
 *
 * Two executions (`mla_form`; README, counting conventions):
 *   expanded: K_nope and V expanded from each latent row the step uses
 *     (2 r H(n+v) per row: every token in prefill, every key read in
 *     decode); scores 2H(n+p), values 2Hv per pair.
 *   absorbed: wkv_b folded into the query and the output (MQA over the
 *     latent: scores 2H(r+p), values 2Hr per pair, plus 2H n r per query to
 *     absorb q and 2H r v to expand its output).
 * auto (the default) runs as DeepSeek does: expanded prefill, absorbed
 * decode. Per key the absorbed form costs 2H(2r+p) against 2H(n+p+v):
 * V3 (r 512, p 64, n 128, v 128) 1088 vs 320 per head, 3.4x.
 */
#include "layer.h"

static const field_def fields[] = {
    AFIELD_S("q_heads", F_U64, q_heads, 1, HEADS_MAX, true, "heads", "query heads", SC_DIV, q_heads),
    AFIELD_S("q_lora_rank", F_U64, q_lora_rank, 0, DIM_MAX, false, "elements", "query down-projection rank (0: full-rank wq)", SC_DIV, q_lora_rank),
    AFIELD("kv_lora_rank", F_U64, kv_lora_rank, 1, DIM_MAX, true, "elements", "compressed KV latent"),
    AFIELD("nope_dim", F_U64, nope_dim, 1, DIM_MAX, true, "elements", "per-head non-rotary q/k dim"),
    AFIELD("rope_dim", F_U64, rope_dim, 1, DIM_MAX, true, "elements", "decoupled RoPE dim (shared key)"),
    AFIELD("v_head_dim", F_U64, v_head_dim, 1, DIM_MAX, true, "elements", "per-head value dim"),
    AFIELD("window", F_U64, window, 1, TOK_MAX, false, "tokens", "sliding window; absent = global"),
    AFIELD("kv_format", F_FMT, kv_fmt, 0, 0, false, "format", "latent entry format (default: kv_dtype)"),
    MLA_FORM_FIELD,
    {0},
};

u64 mla_entry_elems(const attn_cfg *a)
{
    return a->kv_lora_rank + a->rope_dim;
}

int mla_check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    (void)m;
    u64 p = l->attn.rope_dim;
    if (p % 2 || p > MLA_ROPE_MAX)
        return sim_fail(e, SIM_EINVAL, "rope_dim = %llu must be even and at most %d (rotated in pairs)", (unsigned long long)p,
                        MLA_ROPE_MAX);
    return attn_check_heads(&l->attn, e);   /* MLA has neither kv_heads nor head_dim: passes */
}

bool mla_form_absorbed(const attn_cfg *a, phase ph, bool auto_absorbed_prefill)
{
    if (a->mla_form == MLA_FORM_ABSORBED) return true;
    if (a->mla_form == MLA_FORM_EXPANDED) return false;
    return ph == PH_DECODE || auto_absorbed_prefill;
}

void mla_core_cost(const cost_ctx *c, const layer_spec *l, cost_t *o, bool absorbed, u64 pairs, u64 expand_rows)
{
    const model_spec *m = c->m;
    const attn_cfg *a = &l->attn;
    bool *ovf = c->ovf;
    u64 d = m->d_model, H = a->q_heads, rq = a->q_lora_rank, r = a->kv_lora_rank;
    u64 np = a->nope_dim, p = a->rope_dim, v = a->v_head_dim, n = c->ntok;
    dtype lin = m->compute[CC_LINEAR];
    u64 wq = rq ? cadd(ovf, cmul(ovf, d, rq), cmul(ovf, rq, H * (np + p))) : cmul(ovf, d, H * (np + p));
    u64 wkv_a = cmul(ovf, d, r + p), wkv_b = cmul(ovf, r, H * (np + v)), wo = cmul(ovf, H * v, d);
    if (rq) {
        cc_shape(c, d, rq, 1);                         /* wq_a */
        cc_shape(c, rq, H * (np + p), 1);              /* wq_b */
    } else cc_shape(c, d, H * (np + p), 1);            /* wq */
    cc_shape(c, d, r + p, 1);                          /* wkv_a */
    if (absorbed) {
        /* wkv_b absorbed: per head, q_nope into the latent (np -> r) and the
         * attention's latent out (r -> v), as DeepSeek's einsum over heads
         * and the kernels run them (mla_ref.c: one product per head each) */
        cc_shape(c, np, r, H);
        cc_shape(c, r, v, H);
    } else cc_shape(c, r, H * (np + v), 1);            /* wkv_b: K and V of every latent row */
    cc_shape(c, H * v, d, 1);                          /* wo */
    cc_weights(c, o, WC_LINEAR, cadd(ovf, cadd(ovf, wq, wkv_a), cadd(ovf, wkv_b, wo)), 1, true);
    cc_weights(c, o, WC_SMALL, rq + r, 1, true);   /* q_norm, kv_norm */
    /* q path, latent projection and output: every token. */
    u64 pw = cadd(ovf, cadd(ovf, wq, wkv_a), wo);
    if (absorbed) {
        /* per token: absorb W_UK into q (H n r) and W_UV after attention (H r v) */
        pw = cadd(ovf, pw, cmul(ovf, H, cadd(ovf, cmul(ovf, np, r), cmul(ovf, r, v))));
        cc_flops(c, o, FL_ATTN, m->compute[CC_ATTENTION], cmul3(ovf, pairs, H, 2 * (r + p + r)));
    } else {
        /* K_nope and V expanded from every latent row used this step */
        cc_flops(c, o, FL_PROJ, lin, cmul3(ovf, 2, expand_rows, wkv_b));
        cc_flops(c, o, FL_ATTN, m->compute[CC_ATTENTION], cmul3(ovf, pairs, H, 2 * (np + p + v)));
    }
    cc_flops(c, o, FL_PROJ, lin, cmul3(ovf, 2, n, pw));
    cc_flops_fused(c, o, FL_OTHER, DT_FP32, cmul3(ovf, pairs, H, FLOPS_SOFTMAX));
    u64 ew = 0;
    ew = cadd(ovf, ew, cmul3(ovf, n, rq + r, FLOPS_RMSNORM));
    ew = cadd(ovf, ew, cmul4(ovf, n, H + 1, p, FLOPS_ROPE));
    cc_flops(c, o, FL_OTHER, DT_FP32, ew);
}

static int kv_table(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    (void)m;
    u64 bytes;
    int rc = fmt_entry_bytes(&a->kv_fmt, mla_entry_elems(a), &bytes, e);
    if (rc) return rc;
    b[0] = (kv_buf){"latent", a->window ? umin(T, a->window) : T, bytes};
    return 1;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    u64 span = cc_span_window(c, a->window), pairs = cmul(c->ovf, c->q.B, span);
    /* expanded: prefill expands every token's row, decode every row it reads */
    mla_core_cost(c, l, o, mla_form_absorbed(a, c->q.phase, false), pairs, c->q.phase == PH_PREFILL ? c->ntok : pairs);
    u64 eb;
    int rc = fmt_entry_bytes(&a->kv_fmt, mla_entry_elems(a), &eb, e);
    if (rc) return rc;
    attn_cache_traffic(c, o, a->window ? umin(c->q.T, a->window) : c->q.T, eb, span, 1, l->shared_kv);
    return SIM_OK;
}

static int edges(const layer_spec *l, u64 *ctx)
{
    return attn_window_edges(&l->attn, ctx, 0);
}

const comp_type comp_attn_mla = {
    .name = "mla", .cat = COMP_ATTN,
    .summary = "multi-head latent attention (DeepSeek V2/V3): absorbed or expanded (auto: expanded prefill, absorbed decode)",
    .fields = fields, .check = mla_check, .kv_table = kv_table, .cost = cost,
    .edges = edges,
    .example = "name: ex-mla\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  a: {type: mla, q_heads: 4, q_lora_rank: 24, kv_lora_rank: 32, nope_dim: 12, rope_dim: 8, v_head_dim: 10}\n"
               "  w: {type: mla, q_heads: 2, kv_lora_rank: 16, nope_dim: 8, rope_dim: 4, v_head_dim: 8, window: 6}\n"
               "pattern: [a, w]\n",
};
