/* attn_dsa.c - DeepSeek sparse attention (V3.2): MLA in MQA mode over the
 * top-k entries chosen by a lightning indexer that scores every earlier token.
 *
 * Indexer (research/deepseek.md section 2; DeepSeek-V3.2-Exp
 * inference/model.py Indexer, dsa_ref.c gives the recipe): q from the query
 * latent (wq_b r_q -> Hi*di), one shared key per token (wk d -> di,
 * LayerNorm), head weights (d -> Hi, bf16 in the release: weight class
 * `router`); score I(t,s) = sum_h w(t,h) ReLU(q(t,h) . k(s)): per (query,
 * key) pair Hi (2 di + 3) FLOPs (dot, ReLU, weighted sum), + 1 (the key's
 * fp8 scale) when quantised. Per token, for its Hi queries and its key:
 * RoPE on rope_dim dims (FLOPS_ROPE each), the Hadamard rotation (di log2 di
 * adds + di scale multiplies, bf16), with compute.indexer fp8 act_quant
 * (2 di + 2, fp32); and 2 multiplies per head weight (3 with the q scale).
 * Its cache holds one key per token (FP8 serving: 128 B + fp32 scale = 132 B).
 * Core attention: each query sees min(u, top-k) latents, absorbed (MQA) in
 * both phases as FlashMLA's sparse kernels execute it (mla_form auto), or
 * as attn_mla.c's expanded form (mla_form: expanded).
 */
#include "layer.h"

static const field_def fields[] = {
    AFIELD_S("q_heads", F_U64, q_heads, 1, HEADS_MAX, true, "heads", "query heads", SC_DIV, q_heads),
    AFIELD_S("q_lora_rank", F_U64, q_lora_rank, 1, DIM_MAX, true, "elements", "query down-projection rank (the indexer reads it)", SC_DIV, q_lora_rank),
    AFIELD("kv_lora_rank", F_U64, kv_lora_rank, 1, DIM_MAX, true, "elements", "compressed KV latent"),
    AFIELD("nope_dim", F_U64, nope_dim, 1, DIM_MAX, true, "elements", "per-head non-rotary q/k dim"),
    AFIELD("rope_dim", F_U64, rope_dim, 1, DIM_MAX, true, "elements", "decoupled RoPE dim"),
    AFIELD("v_head_dim", F_U64, v_head_dim, 1, DIM_MAX, true, "elements", "per-head value dim"),
    AFIELD_S("index_heads", F_U64, index_heads, 1, HEADS_MAX, true, "heads", "indexer heads", SC_DIV, index_heads),
    AFIELD("index_head_dim", F_U64, index_head_dim, 1, DIM_MAX, true, "elements", "indexer head dim"),
    AFIELD("index_topk", F_U64, index_topk, 1, TOK_MAX, true, "tokens", "entries each query attends to"),
    AFIELD("kv_format", F_FMT, kv_fmt, 0, 0, false, "format", "latent entry format (default: kv_dtype)"),
    AFIELD("index_format", F_FMT, index_fmt, 0, 0, false, "format", "indexer key format (default: kv_dtype)"),
    MLA_FORM_FIELD,
    {0},
};

static int kv_table(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    (void)m;
    u64 kb, ib;
    int rc;
    if ((rc = fmt_entry_bytes(&a->kv_fmt, mla_entry_elems(a), &kb, e))) return rc;
    if ((rc = fmt_entry_bytes(&a->index_fmt, a->index_head_dim, &ib, e))) return rc;
    b[0] = (kv_buf){"latent", T, kb};
    b[1] = (kv_buf){"index", T, ib};
    return 2;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    const model_spec *m = c->m;
    const attn_cfg *a = &l->attn;
    bool *ovf = c->ovf;
    u64 d = m->d_model, rq = a->q_lora_rank, Hi = a->index_heads, di = a->index_head_dim, n = c->ntok;
    u64 span = cc_span_topk(c, a->index_topk), pairs = cmul(ovf, c->q.B, span);
    /* expanded: prefill expands every token's row, decode the chosen rows it reads */
    mla_core_cost(c, l, o, mla_form_absorbed(a, c->q.phase, true), pairs, c->q.phase == PH_PREFILL ? n : pairs);
    /* Indexer weights and projections. */
    u64 iw = cadd(ovf, cadd(ovf, cmul(ovf, rq, Hi * di), cmul(ovf, d, di)), cmul(ovf, d, Hi));
    cc_shape(c, rq, Hi * di, 1);                       /* idx_wq */
    cc_shape(c, d, di, 1);                             /* idx_wk */
    cc_weights(c, o, WC_LINEAR, cmul(ovf, rq, Hi * di) + d * di, 1, true);
    cc_shape(c, d, Hi, 1);                             /* weights_proj */
    cc_weights(c, o, WC_ROUTER, d * Hi, 1, true);
    cc_weights(c, o, WC_SMALL, 2 * di, 1, true);   /* k LayerNorm weight + bias */
    cc_flops(c, o, FL_INDEX, m->compute[CC_LINEAR], cmul3(ovf, 2, n, iw));
    /* Scores against every visible token. */
    u64 ipairs = cmul(ovf, c->q.B, cc_span_window(c, 0));
    cc_flops(c, o, FL_INDEX, m->compute[CC_INDEXER], cmul3(ovf, ipairs, Hi, 2 * di + 3));
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul3(ovf, n, di, FLOPS_RMSNORM));
    /* RoPE, Hadamard, act_quant of the Hi queries and the key; head weights. */
    bool q8 = dsa_index_fp8(m);
    u64 lg = 0, vec = cmul(ovf, n, Hi + 1);
    while ((1ull << lg) < di) lg++;
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul3(ovf, vec, a->rope_dim, FLOPS_ROPE));
    cc_flops_vec(c, o, FL_INDEX, DT_BF16, cmul(ovf, vec, di * lg + di));
    if (q8) cc_flops(c, o, FL_INDEX, DT_FP32, cadd(ovf, cmul(ovf, vec, 2 * di + 2), ipairs));
    cc_flops(c, o, FL_INDEX, DT_FP32, cmul3(ovf, n, Hi, q8 ? 3 : 2));
    u64 kb, ib;
    int rc = fmt_entry_bytes(&a->kv_fmt, mla_entry_elems(a), &kb, e);
    if (rc || (rc = fmt_entry_bytes(&a->index_fmt, a->index_head_dim, &ib, e))) return rc;
    attn_cache_traffic(c, o, c->q.T, kb, span, 1, l->shared_kv);
    attn_cache_traffic(c, o, c->q.T, ib, c->q.T + 1, 1, l->shared_kv);
    return SIM_OK;
}

bool dsa_index_fp8(const model_spec *m)
{
    return m->compute[CC_INDEXER] == DT_FP8_E4M3;
}

/* MLA's rules, and the indexer's: the Hadamard transform needs a power-of-two
 * head dim, RoPE covers its first rope_dim dims. */
static int dsa_check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    int rc = mla_check(m, l, e);
    if (rc) return rc;
    if (a->index_head_dim & (a->index_head_dim - 1))
        return sim_fail(e, SIM_EINVAL, "index_head_dim = %llu must be a power of two (the indexer's Hadamard rotation)",
                        (unsigned long long)a->index_head_dim);
    if (a->rope_dim > a->index_head_dim)
        return sim_fail(e, SIM_EINVAL, "rope_dim = %llu exceeds index_head_dim = %llu (the indexer rotates its first rope_dim dims)",
                        (unsigned long long)a->rope_dim, (unsigned long long)a->index_head_dim);
    return SIM_OK;
}

static int edges(const layer_spec *l, u64 *ctx)
{
    return attn_compress_edges(0, l->attn.index_topk, ctx, 0);
}

const comp_type comp_attn_dsa = {
    .name = "dsa", .cat = COMP_ATTN,
    .summary = "DeepSeek sparse attention (V3.2): MLA + lightning indexer + top-k",
    .fields = fields, .check = dsa_check, .kv_table = kv_table, .cost = cost,
    .edges = edges,
    .example = "name: ex-dsa\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  a: {type: dsa, q_heads: 4, q_lora_rank: 24, kv_lora_rank: 32, nope_dim: 8, rope_dim: 8, v_head_dim: 8,\n"
               "      index_heads: 2, index_head_dim: 8, index_topk: 5}\n",
};
