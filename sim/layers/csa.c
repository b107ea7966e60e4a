/* attn_csa.c - DeepSeek V4 compressed sparse attention (CSA).
 *
 * Compression m (4): entry i pools tokens [m i, m(i+1)) and, overlapping, the
 * previous block [m(i-1), m i) with learned softmax gates (coff = 2, so 2m
 * tokens per entry, stride m). A query at 0-based position t sees the
 * floor((t+1)/m) entries whose blocks are complete. The lightning indexer
 * (own compressor, FP4 keys; RoPE, Hadamard and FP4 on its queries and keys
 * as DeepSeek-V4-Flash inference/model.py Indexer) scores all of them; the query attends to the top
 * index_topk plus the last `window` uncompressed entries, in one softmax.
 * Cache: floor(T/m) entries + floor(T/m) indexer keys + min(T, window)
 * window entries + the two compressors' tail state (min(T, 2m) rows).
 */
#include "layer.h"

static const field_def fields[] = {
    V4_COMMON_FIELDS,
    AFIELD("compress_ratio", F_U64, compress_ratio, 1, 1u << 20, true, "tokens", "tokens per compressed entry (stride)"),
    AFIELD_S("index_heads", F_U64, index_heads, 1, HEADS_MAX, true, "heads", "indexer heads", SC_DIV, index_heads),
    AFIELD("index_head_dim", F_U64, index_head_dim, 1, DIM_MAX, true, "elements", "indexer head dim"),
    AFIELD("index_topk", F_U64, index_topk, 1, TOK_MAX, true, "entries", "compressed entries each query attends to"),
    AFIELD("index_format", F_FMT, index_fmt, 0, 0, false, "format", "indexer key format (default: kv_dtype)"),
    AFIELD("state_format", F_FMT, state_fmt, 0, 0, false, "format", "compressor tail-state element format (default fp32)"),
    {0},
};

#define COFF 2   /* overlapping pooling: each entry sees 2m tokens */

static int kv_table(const model_spec *m, const layer_spec *l, u64 T, kv_buf *b, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    u64 kb, ib, r = a->compress_ratio;
    int rc;
    (void)m;
    if ((rc = fmt_entry_bytes(&a->kv_fmt, a->head_dim, &kb, e))) return rc;
    if ((rc = fmt_entry_bytes(&a->index_fmt, a->index_head_dim, &ib, e))) return rc;
    b[0] = (kv_buf){"compressed", T / r, kb};
    b[1] = (kv_buf){"index", T / r, ib};
    if ((rc = v4_window_buf(l, T, &b[2], e))) return rc;
    if ((rc = v4_state_buf(l, "state", T, r, COFF, a->head_dim, &b[3], e))) return rc;
    if ((rc = v4_state_buf(l, "index_state", T, r, COFF, a->index_head_dim, &b[4], e))) return rc;
    return 5;
}

static int cost(const cost_ctx *c, const layer_spec *l, cost_t *o, sim_err *e)
{
    const model_spec *m = c->m;
    const attn_cfg *a = &l->attn;
    bool *ovf = c->ovf;
    u64 r = a->compress_ratio, B = c->q.B, n = c->ntok;
    u64 d = m->d_model, Hi = a->index_heads, di = a->index_head_dim;
    u64 sel = cc_span_compressed(c, r, a->index_topk), win = cc_span_window(c, a->window);
    v4_core_cost(c, l, o, cmul(ovf, B, cadd(ovf, sel, win)));
    v4_compressor_cost(c, o, r, COFF, a->head_dim, a->rope_dim);
    /* Indexer: q from the shared query latent, head weights from h, its own
     * compressor for the keys, scores against every visible entry. */
    u64 iw = cadd(ovf, cmul(ovf, a->q_lora_rank, Hi * di), cmul(ovf, d, Hi));
    cc_shape(c, a->q_lora_rank, Hi * di, 1);
    cc_weights(c, o, WC_LINEAR, cmul(ovf, a->q_lora_rank, Hi * di), 1, true);
    cc_shape(c, d, Hi, 1);
    cc_weights(c, o, WC_ROUTER, cmul(ovf, d, Hi), 1, true);   /* weights_proj: bf16 in the release (as DSA's) */
    cc_flops(c, o, FL_INDEX, m->compute[CC_LINEAR], cmul3(ovf, 2, n, iw));
    cost_t ic = {0};
    v4_compressor_cost(c, &ic, r, COFF, di, a->rope_dim);
    /* DeepSeek-V4 Indexer: per token, RoPE (FL_OTHER, as kern_rope counts),
     * the Hadamard rotation (di log2 di adds + di multiplies, bf16) and the
     * FP4 quantisation (2 per element + 2 per block) of the Hi queries, one
     * multiply per head weight; per formed key, the Hadamard and FP4 too. */
    u64 lg = 0, qblk = csa_index_qblk(m, a);
    while ((1ull << lg) < di) lg++;
    u64 vec = cadd(ovf, cmul(ovf, n, Hi), cmul(ovf, B, cc_blocks_formed(c, r)));
    cc_flops(c, o, FL_OTHER, DT_FP32, cmul4(ovf, n, Hi, a->rope_dim, FLOPS_ROPE));
    cc_flops_vec(c, o, FL_INDEX, DT_BF16, cmul(ovf, vec, di * lg + di));
    if (qblk) cc_flops(c, o, FL_INDEX, DT_FP32, cmul(ovf, vec, 2 * di + 2 * (di / qblk)));
    cc_flops(c, o, FL_INDEX, DT_FP32, cmul(ovf, n, Hi));
    /* the indexer's compressor belongs to the indexer category */
    for (int k = 0; k < FL_COUNT; k++) { o->flops[FL_INDEX] = cadd(ovf, o->flops[FL_INDEX], ic.flops[k]); }
    for (int k = 0; k < DT_COUNT; k++) o->flops_dt[k] = cadd(ovf, o->flops_dt[k], ic.flops_dt[k]);
    o->flops_fp8eq_x2 = cadd128(ovf, o->flops_fp8eq_x2, ic.flops_fp8eq_x2);
    o->params = cadd(ovf, o->params, ic.params);
    o->weight_bytes = cadd(ovf, o->weight_bytes, ic.weight_bytes);
    o->params_active = cadd(ovf, o->params_active, ic.params_active);
    o->weight_read_bytes = cadd(ovf, o->weight_read_bytes, ic.weight_read_bytes);
    u64 vis = cc_span_compressed(c, r, 0);
    cc_flops(c, o, FL_INDEX, m->compute[CC_INDEXER], cmul3(ovf, cmul(ovf, B, vis), Hi, 2 * di + 3));
    /* Cache traffic: the chosen entries and every indexer key are read. */
    const u64 reads[] = {sel, vis};
    return v4_cache_traffic(c, l, o, 2, reads, win, COFF, e);
}

/* The FP4 block of the indexer's queries and keys: the release's 32
 * (fp4_block_size), or the whole head when 32 does not divide it; 0 when the
 * indexer does not compute in fp4 (then nothing is quantised). */
u64 csa_index_qblk(const model_spec *m, const attn_cfg *a)
{
    if (m->compute[CC_INDEXER] != DT_FP4_E2M1) return 0;
    return a->index_head_dim % 32 ? a->index_head_dim : 32;
}

static int check(const model_spec *m, const layer_spec *l, sim_err *e)
{
    const attn_cfg *a = &l->attn;
    u64 di = a->index_head_dim;
    if (di & (di - 1))
        return sim_fail(e, SIM_EINVAL, "index_head_dim = %llu is not a power of two (the indexer's Hadamard rotation)",
                        (unsigned long long)di);
    if (a->rope_dim > di)
        return sim_fail(e, SIM_EINVAL, "rope_dim = %llu exceeds index_head_dim = %llu (the indexer rotates its last rope_dim dims)",
                        (unsigned long long)a->rope_dim, (unsigned long long)di);
    return v4_check(m, l, e);
}

static int edges(const layer_spec *l, u64 *ctx)
{
    int n = attn_window_edges(&l->attn, ctx, 0);
    return attn_compress_edges(l->attn.compress_ratio, l->attn.index_topk, ctx, n);
}

const comp_type comp_attn_csa = {
    .name = "csa", .cat = COMP_ATTN,
    .summary = "DeepSeek V4 compressed sparse attention: overlapping m:1 pooling, FP4 indexer, top-k, window branch",
    .fields = fields, .check = check, .kv_table = kv_table, .cost = cost,
    .edges = edges,
    .example = "name: ex-csa\n"
               "d_model: 64\n"
               "n_layers: 2\n"
               "vocab: 97\n"
               "ffn: {type: dense, d_ff: 96}\n"
               "layers:\n"
               "  a: {type: csa, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 24, o_groups: 2, o_lora_rank: 16, window: 5,\n"
               "      compress_ratio: 3, index_heads: 2, index_head_dim: 8, index_topk: 4}\n",
};
