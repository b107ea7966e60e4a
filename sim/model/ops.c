/* ops.c - the operation list of a cost evaluation; see ops.h. */
#include "ops.h"
#include "layer.h"
#include <stdlib.h>
#include <string.h>

const char *const op_kind_name[OP_KIND_COUNT] = {"gemm", "flops", "elementwise", "weights", "traffic"};

static cost_op *append(cost_ops *o)
{
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 64;
        cost_op *p = realloc(o->op, (size_t)cap * sizeof *p);
        if (!p) { o->nomem = true; return NULL; }
        o->op = p;
        o->cap = cap;
    }
    cost_op *p = &o->op[o->n++];
    memset(p, 0, sizeof *p);
    p->layer = o->layer;
    p->row = o->layer < 0 ? o->part : -1;
    return p;
}

void cost_ops_begin(cost_ops *o)
{
    o->d_model = 0;
    o->n = 0;
    o->layer = -1;
    o->part = -1;
    o->cur = NULL;
    o->nomem = false;
    o->nshape = 0;
}

void cost_ops_layer(cost_ops *o, int layer, const layer_spec *L, int row)
{
    o->layer = layer;
    o->cur = L;
    o->layer_wbytes = 0;
    o->uses[layer] = 1;
    o->root[layer] = layer;
    o->lrow[layer] = row;
}

void cost_ops_repeat(cost_ops *o, int root, int layer, int row)
{
    o->uses[root]++;
    o->root[layer] = root;
    o->lrow[layer] = row;
}

void cost_ops_part(cost_ops *o, int row)
{
    o->layer = -1;
    o->cur = NULL;
    o->part = row;
    o->layer_wbytes = 0;
}

/* The element dtype a weight of class wc is stored in: its format's first
 * part. */
static dtype stored_dt(const model_spec *m, wclass wc)
{
    return m->weight[wc].n_parts ? m->weight[wc].part[0].dt : DT_FP32;
}

/* A weight's short side min(N, K), taking d_model as one side. */
static u64 short_side(u64 d, u64 params)
{
    u64 other = d ? params / d : params;
    return d < other ? d : other;
}

void cost_ops_shape(const cost_ctx *c, u64 K, u64 N, u64 count)
{
    cost_ops *o = c->ops;
    for (u64 i = 0; i < count; i++) {
        if (o->nshape < 0) return;
        if (o->nshape == OPS_MAX_SHAPES) { o->nshape = -1; return; }   /* too many: none used */
        o->shape[o->nshape][0] = K;
        o->shape[o->nshape][1] = N;
        o->nshape++;
    }
}

static cost_op *weight_read(const cost_ctx *c, wclass wc, u64 params, u64 bytes, u64 S)
{
    cost_op *p = append(c->ops);
    if (!p) return NULL;
    p->kind = OP_WEIGHTS;
    p->wc = wc;
    p->wdt = stored_dt(c->m, wc);
    p->calls = 1;
    p->bytes = bytes;
    p->NK = params;
    p->S = S;
    return p;
}

void cost_ops_weights(const cost_ctx *c, wclass wc, u64 params, u64 bytes_read)
{
    cost_ops *o = c->ops;
    int ns = o->nshape;
    o->nshape = 0;
    if (!bytes_read) return;   /* stored, not read this step */
    o->layer_wbytes += bytes_read;
    o->d_model = c->m->d_model;
    /* Named products that sum to the read: one read each, the bytes split
     * in proportion to their parameters (the last takes the remainder, so
     * the reads sum to bytes_read exactly). */
    bool ovf = false;
    u64 sum = 0;
    for (int i = 0; i < ns; i++) sum = cadd(&ovf, sum, cmul(&ovf, o->shape[i][0], o->shape[i][1]));
    if (ns > 0 && sum == params && !ovf && params) {
        u64 left = bytes_read;
        for (int i = 0; i < ns; i++) {
            u64 K = o->shape[i][0], N = o->shape[i][1], nk = K * N;
            /* bytes_read nk / params without overflow: nk <= params */
            u64 b = i == ns - 1 ? left : (u64)((u128)bytes_read * nk / params);
            left -= b;
            cost_op *w = nk ? weight_read(c, wc, nk, b, K < N ? K : N) : NULL;
            if (w) w->K = K;
        }
        return;
    }
    weight_read(c, wc, params, bytes_read, short_side(c->m->d_model, params));
}

/* Does op i belong to what is being recorded (this layer, or this part)? */
static bool current(const cost_ops *o, const cost_op *p)
{
    return p->layer == o->layer && (o->layer >= 0 || p->row == o->part);
}

/* The unpaired weight reads of the current layer whose product flops is
 * (2 x M x their parameters, M = the step's tokens, or the batch: the
 * logits of each sequence's last token): one read, else the run of the
 * latest non-small ones (small: norms, biases, sinks); they become one GEMM. */
static bool pair_m(cost_ops *o, flop_cat cat, dtype dt, u64 flops, u64 M)
{
    bool ovf = false;
    int first = o->n;
    while (first > 0 && current(o, &o->op[first - 1])) first--;
    int hit = -1;
    for (int i = o->n - 1; i >= first && hit < 0; i--) {
        cost_op *w = &o->op[i];
        if (w->kind == OP_WEIGHTS && !w->paired && cmul3(&ovf, 2, M, w->NK) == flops && !ovf) hit = i;
    }
    if (hit < 0) {   /* a run: the latest non-small unpaired reads, summed from the end */
        u64 nk = 0;
        for (int i = o->n - 1; i >= first && hit < 0; i--) {
            cost_op *w = &o->op[i];
            if (w->kind != OP_WEIGHTS || w->paired || w->wc == WC_SMALL) continue;
            nk = cadd(&ovf, nk, w->NK);
            if (!ovf && cmul3(&ovf, 2, M, nk) == flops && !ovf) hit = i;
        }
        if (hit < 0) return false;
        /* Each read of the run becomes its own product: M rows against its
         * parameters (2 M NK each, so the run's FLOPs exactly), its own
         * short side: the products the kernels run one by one. */
        for (int i = hit + 1; i < o->n; i++) {
            cost_op *w = &o->op[i];
            if (w->kind != OP_WEIGHTS || w->paired || w->wc == WC_SMALL) continue;
            w->kind = OP_GEMM;
            w->paired = true;
            w->cat = cat;
            w->dt = dt;
            w->flops = 2 * M * w->NK;
            w->M = M;
        }
        flops = 2 * M * o->op[hit].NK;
    }
    cost_op *g = &o->op[hit];
    g->kind = OP_GEMM;
    g->paired = true;
    g->cat = cat;
    g->dt = dt;
    g->flops = flops;
    g->M = M;
    return true;
}

static bool pair(cost_ops *o, const cost_ctx *c, flop_cat cat, dtype dt, u64 flops)
{
    return pair_m(o, cat, dt, flops, c->ntok) || (c->q.B != c->ntok && pair_m(o, cat, dt, flops, c->q.B));
}

/* Rows that share one K/V operand in attention scores: tokens x the heads of
 * a K/V group (GQA, CCA: q_heads / kv_heads; MQA-like forms, absorbed MLA
 * and DSA, V4's one KV head: every query head; expanded MLA: one). The
 * indexer's heads share its key cache. */
static u64 shared_rows(const cost_ctx *c, const layer_spec *L, flop_cat cat)
{
    bool ovf = false;
    if (!L) return c->ntok;
    const attn_cfg *a = &L->attn;
    u64 g = 1;
    if (cat == FL_INDEX) g = a->index_heads ? a->index_heads : 1;
    else if (a->kv_heads) g = a->q_heads / a->kv_heads;
    else if (a->kv_lora_rank) g = mla_form_absorbed(a, c->q.phase, a->index_topk > 0) ? a->q_heads : 1;
    else g = a->q_heads ? a->q_heads : 1;
    /* Decode: each sequence's query rows against its own cache. */
    u64 rows = c->q.phase == PH_DECODE ? 1 : c->q.T;
    u64 M = cmul(&ovf, rows, g ? g : 1);
    return ovf ? UINT64_MAX : M;
}

/* The routed (and shared) experts' products of an MoE layer (ffn_moe.c:
 * 2 n (k per + shared sper) FLOPs) as one GEMM operation of the experts'
 * matrices: `used` routed experts (min(E, n k)) and the shared ones, each
 * of `mats` products; M = the rows per product on average (n k / used for
 * a routed expert, n for a shared one: flops / 2 NK). The shared experts'
 * weight read (recorded before) folds in; the routed experts' bytes,
 * counted without a weight record, join in cost_ops_traffic. */
static bool experts_op(cost_ops *o, const cost_ctx *c, flop_cat cat, dtype dt, u64 flops)
{
    const layer_spec *L = o->cur;
    if (cat != FL_FFN || !L || !L->ffn.experts) return false;
    bool ovf = false;
    const ffn_cfg *f = &L->ffn;
    u64 d = c->m->d_model, n = c->ntok, mats = f->gated ? 3 : 2, sdff = f->shared_d_ff ? f->shared_d_ff : f->d_ff;
    u64 per = cmul3(&ovf, mats, d, f->d_ff), sper = cmul3(&ovf, mats, d, sdff);
    u64 used = cmul(&ovf, n, f->top_k) < f->experts ? n * f->top_k : f->experts;
    if (cmul3(&ovf, 2, n, cadd(&ovf, cmul(&ovf, f->top_k, per), cmul(&ovf, f->shared, sper))) != flops || ovf) return false;
    /* The shared experts' read: the latest unpaired read of shared x sper,
     * taken out of the list (its bytes join the operation). */
    u64 snk = cmul(&ovf, f->shared, sper), sbytes = 0;
    for (int i = o->n - 1; f->shared && i >= 0 && current(o, &o->op[i]); i--) {
        cost_op *w = &o->op[i];
        if (w->kind == OP_WEIGHTS && !w->paired && w->NK == snk) {
            sbytes = w->bytes;
            memmove(w, w + 1, (size_t)(o->n - 1 - i) * sizeof *w);
            o->n--;
            break;
        }
    }
    cost_op *p = append(o);
    if (!p) return true;
    p->kind = OP_GEMM;
    p->paired = true;
    p->experts = true;
    p->bytes = sbytes;
    p->cat = cat;
    p->dt = dt;
    p->flops = flops;
    p->wc = WC_EXPERT;
    p->wdt = stored_dt(c->m, WC_EXPERT);
    p->NK = cadd(&ovf, cmul(&ovf, used, per), cmul(&ovf, f->shared, sper));
    p->calls = (used + f->shared) * mats;
    p->S = short_side(d, p->calls ? p->NK / p->calls : p->NK);
    p->M = p->NK ? flops / (2 * p->NK) : 1;
    if (!p->M) p->M = 1;
    return true;
}

/* Which prefill attention curve a layer's attention takes. */
static int attn_kind(const attn_cfg *a)
{
    return !a ? TM_ACAUSAL : a->index_topk ? TM_AGATHER : a->window ? TM_AWINDOW : TM_ACAUSAL;
}

void cost_ops_flops(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops)
{
    cost_ops *o = c->ops;
    if (!flops) return;
    if (experts_op(o, c, cat, dt, flops)) return;
    /* Vector work, priced at the element-wise rate: category "other" in
     * fp32 (norms, RoPE, softmax, activations), and the fp32 FLOPs of mHC
     * (Sinkhorn iterations, stream mixing), of the compressors (softmax
     * pooling) and of the indexer (score weighting): the layers count their
     * products in the spec's compute dtypes. Category "other" in another
     * dtype is a product (the LM head's logits, PLE's projections). */
    bool vec = dt == DT_FP32 && (cat == FL_OTHER || cat == FL_MHC || cat == FL_COMPRESS || cat == FL_INDEX);
    bool product = !vec;
    if (cat != FL_ATTN && pair(o, c, cat, dt, flops)) return;
    cost_op *p = append(o);
    if (!p) return;
    p->kind = product ? OP_FLOPS : OP_ELEM;
    /* A model part's unpaired product is the tied head's logits: one row per sequence. */
    p->M = product && o->layer < 0 ? c->q.B : c->ntok;
    if (cat == FL_ATTN || cat == FL_INDEX) p->M = shared_rows(c, o->cur, cat);
    p->decode = c->q.phase == PH_DECODE;
    /* A sparse indexer's scores (dsa.c, csa.c: candidates x Hi x (2 di + 3)
     * in the indexer's compute dtype): its candidates and queries, for the
     * top-k selection that follows them. */
    const attn_cfg *ac = o->cur ? &o->cur->attn : NULL;
    if (cat == FL_INDEX && product && ac && ac->index_topk && ac->index_heads && dt == c->m->compute[CC_INDEXER]) {
        u64 per = ac->index_heads * (2 * ac->index_head_dim + 3);
        if (per && flops % per == 0) {
            p->cand = flops / per;
            p->heads = ac->index_heads;
            p->queries = c->ntok;
            p->width = ac->index_head_dim;
            const fmt *xf = ac->index_fmt.n_parts ? &ac->index_fmt : &c->m->kv_default;
            p->wdt = xf->n_parts ? xf->part[0].dt : DT_BF16;
        }
    }
    if (cat == FL_ATTN) p->akind = attn_kind(ac);
    if (cat == FL_ATTN) {   /* the cache it reads: its first part's element dtype */
        const fmt *kf = o->cur && o->cur->attn.kv_fmt.n_parts ? &o->cur->attn.kv_fmt : &c->m->kv_default;
        p->wdt = kf->n_parts ? kf->part[0].dt : DT_BF16;
    }
    p->cat = cat;
    p->dt = dt;
    p->flops = flops;
}

/* An element-wise operation of the layer being recorded (fused: inside
 * its attention kernel). */
static void elem_op(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops, bool fused)
{
    cost_ops *o = c->ops;
    if (!flops) return;
    cost_op *p = append(o);
    if (!p) return;
    p->kind = OP_ELEM;
    p->fused = fused;
    p->M = c->ntok;
    p->decode = c->q.phase == PH_DECODE;
    p->akind = attn_kind(o->cur ? &o->cur->attn : NULL);
    p->cat = cat;
    p->dt = dt;
    p->flops = flops;
}

void cost_ops_fused(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops)
{
    elem_op(c, cat, dt, flops, true);
}

void cost_ops_vec(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops)
{
    elem_op(c, cat, dt, flops, false);
}

static void add_mem(cost_ops *o, op_kind kind, u64 bytes)
{
    if (!bytes) return;
    cost_op *p = append(o);
    if (!p) return;
    p->kind = kind;
    p->bytes = bytes;
}

void cost_ops_traffic(cost_ops *o, const cost_t *layer)
{
    bool ovf = false;
    /* The cache read is the attention scores' streamed operand. */
    u64 kr = layer->kv_read_bytes;
    for (int i = o->n - 1; i >= 0 && kr && current(o, &o->op[i]); i--)
        if (o->op[i].kind == OP_FLOPS && o->op[i].cat == FL_ATTN) {
            o->op[i].bytes = kr;
            kr = 0;
        }
    add_mem(o, OP_TRAFFIC, cadd(&ovf, cadd(&ovf, kr, layer->kv_written_bytes), layer->act_bytes));
    if (layer->weight_read_bytes > o->layer_wbytes) {
        /* Weight bytes without a record: the routed experts', streamed by
         * the experts' products when the layer has them. */
        u64 rest = layer->weight_read_bytes - o->layer_wbytes;
        for (int i = o->n - 1; i >= 0 && rest && current(o, &o->op[i]); i--)
            if (o->op[i].experts) {
                o->op[i].bytes = cadd(&ovf, o->op[i].bytes, rest);
                rest = 0;
            }
        add_mem(o, OP_WEIGHTS, rest);
    }
}

void cost_ops_part_done(cost_ops *o, const cost_t *was, const cost_t *now)
{
    bool ovf = false;
    u64 t0 = cadd(&ovf, cadd(&ovf, was->kv_read_bytes, was->kv_written_bytes), was->act_bytes);
    u64 t1 = cadd(&ovf, cadd(&ovf, now->kv_read_bytes, now->kv_written_bytes), now->act_bytes);
    u64 w = now->weight_read_bytes - was->weight_read_bytes;
    if (t1 > t0) add_mem(o, OP_TRAFFIC, t1 - t0);
    if (w > o->layer_wbytes) add_mem(o, OP_WEIGHTS, w - o->layer_wbytes);
    o->part = -1;
    o->layer_wbytes = 0;
}

void cost_ops_finish(cost_ops *o, const cost_t *total)
{
    bool ovf = false;
    u64 w = 0, t = 0;
    for (int i = 0; i < o->n; i++) {
        const cost_op *p = &o->op[i];
        u64 k = p->layer >= 0 ? (u64)o->uses[p->layer] : 1;
        if (p->kind == OP_GEMM || p->kind == OP_WEIGHTS) w = cadd(&ovf, w, cmul(&ovf, p->bytes, k));
        if (p->kind == OP_TRAFFIC || p->kind == OP_FLOPS) t = cadd(&ovf, t, cmul(&ovf, p->bytes, k));
    }
    o->layer = -1;
    o->part = -1;
    u64 tt = cadd(&ovf, cadd(&ovf, total->kv_read_bytes, total->kv_written_bytes), total->act_bytes);
    if (total->weight_read_bytes > w) add_mem(o, OP_WEIGHTS, total->weight_read_bytes - w);
    if (tt > t) add_mem(o, OP_TRAFFIC, tt - t);
}

void cost_ops_free(cost_ops *o)
{
    free(o->op);
    o->op = NULL;
    o->n = o->cap = 0;
}
