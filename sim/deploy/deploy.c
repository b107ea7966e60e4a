/* deploy.c - layouts, per-device accounting and capacity; see deploy.h.
 *
 * Sharding conventions (vLLM's and SGLang's model code; serving.md section 2):
 *   - attention projections that produce or consume per-head tensors are split
 *     by TP (column-parallel q / kv-up / output-group, row-parallel o); the
 *     low-rank down-projections of MLA and V4 (wq_a, wkv_a), indexers,
 *     compressors, norms and routers are replicated on every TP rank;
 *   - GQA K/V projections and caches hold max(1, G / tp) heads per rank
 *     (ModelConfig.get_num_kv_heads), so with G < tp a head is replicated on
 *     tp / G ranks; latent caches (MLA, DSA, CSA, HCA, V4 SWA) are one vector
 *     per token shared by all heads: every TP rank stores all of it;
 *   - DCP splits a sequence's tokens over dcp ranks of the TP group;
 *   - dense FFNs and shared experts are split by TP; routed experts by EP
 *     (ceil(E / ep) experts on the busiest rank, each further split tp / ep
 *     ways when ep < tp);
 *   - the embedding table and the LM head are vocabulary-parallel (split by TP);
 *   - pipeline stage s holds layers [start, end) (n / pp each, the remainder
 *     on the stages before the last); the first stage the embedding, the last
 *     the head. Per-device figures are the busiest stage's.
 */
#include "deploy.h"
#include "layer.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const engine_name[ENG_COUNT] = {"logical", "vllm", "sglang"};

void deploy_cfg_default(deploy_cfg *d)
{
    memset(d, 0, sizeof *d);
    d->gpus = d->tp = d->pp = d->dp = d->ep = d->dcp = 1;
    d->engine = ENG_LOGICAL;
    d->mem_util = 0.9;
    d->mnbt = 0;   /* the engine's default, resolved in deploy_eval */
}

/* The registry's entries (sim/layers/types.h names them comp_<cat>_<name>). */
extern const comp_type comp_attn_gqa, comp_attn_mla, comp_attn_dsa, comp_attn_csa, comp_attn_hca, comp_attn_swa4,
    comp_attn_cca, comp_ffn_moe, comp_ffn_dense;

attn_kind deploy_attn_kind(const layer_spec *l)
{
    const comp_type *t = l->attn.type;
    return t == &comp_attn_gqa ? AK_GQA : t == &comp_attn_mla ? AK_MLA : t == &comp_attn_dsa ? AK_DSA
         : t == &comp_attn_csa ? AK_CSA : t == &comp_attn_hca ? AK_HCA : t == &comp_attn_swa4 ? AK_SWA4
         : t == &comp_attn_cca ? AK_CCA : AK_OTHER;
}

bool deploy_moe(const layer_spec *l) { return l->ffn.type == &comp_ffn_moe; }

bool deploy_latent_cache(const layer_spec *l)
{
    attn_kind k = deploy_attn_kind(l);
    return k == AK_MLA || k == AK_DSA || k == AK_CSA || k == AK_HCA || k == AK_SWA4;
}

static u64 cdivu(u64 a, u64 b) { return a / b + (a % b != 0); }

/* Pipeline stage s of pp: layers [*lo, *hi). */
void deploy_stage_range(u64 n, u64 pp, u64 s, u64 *lo, u64 *hi)
{
    u64 base = n / pp, extra = n % pp, start = 0;
    for (u64 k = 0; k <= s; k++) {
        /* the remainder goes to the stages just before the last, one each
         * (vllm/distributed/utils.py get_pp_indices: partitions[-i] += 1 for
         * i in 2 .. remainder + 1; the last stage holds the head) */
        u64 len = base + (pp > 1 && k < pp - 1 && k >= pp - 1 - extra ? 1 : 0);
        if (pp == 1) len = n;
        if (k == s) { *lo = start; *hi = start + len; return; }
        start += len;
    }
}

int deploy_check(deploy_cfg *d, const model_spec *m, sim_err *e)
{
    /* set[]: 0 gpus, 1 tp, 2 pp, 3 dp, 4 ep, 5 dcp, 6 block */
    if (!d->tp || !d->pp || !d->dp || !d->ep || !d->dcp || !d->gpus)
        return sim_fail(e, SIM_EINVAL, "every parallel size must be at least 1");
    u64 tpp = d->tp * d->pp;
    if (d->set[0] && !d->set[3]) {
        if (d->gpus % tpp)
            return sim_fail(e, SIM_EINVAL, "gpus = %llu is not a multiple of tp x pp = %llu",
                            (unsigned long long)d->gpus, (unsigned long long)tpp);
        d->dp = d->gpus / tpp;
    } else if (!d->set[0]) {
        d->gpus = tpp * d->dp;
    }
    if (d->gpus != tpp * d->dp)
        return sim_fail(e, SIM_EINVAL, "gpus = %llu but tp x pp x dp = %llu x %llu x %llu = %llu",
                        (unsigned long long)d->gpus, (unsigned long long)d->tp, (unsigned long long)d->pp,
                        (unsigned long long)d->dp, (unsigned long long)(tpp * d->dp));
    if (d->pp > m->n_layers)
        return sim_fail(e, SIM_EINVAL, "pp = %llu exceeds the %llu layers", (unsigned long long)d->pp,
                        (unsigned long long)m->n_layers);
    if (d->tp % d->dcp)
        return sim_fail(e, SIM_EINVAL, "dcp = %llu does not divide tp = %llu (DCP splits a sequence over ranks of "
                        "the TP group)", (unsigned long long)d->dcp, (unsigned long long)d->tp);
    if (!(d->mem_util > 0 && d->mem_util <= 1))
        return sim_fail(e, SIM_EINVAL, "mem-util = %g: expected a fraction in (0, 1]", d->mem_util);
    u64 experts = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *L = &m->layer[i];
        const attn_cfg *a = &L->attn;
        if (a->q_heads % d->tp)
            return sim_fail(e, SIM_EINVAL, "tp = %llu does not divide the %llu query heads of layer %llu (%s)",
                            (unsigned long long)d->tp, (unsigned long long)a->q_heads, (unsigned long long)i,
                            m->kind_name[L->kind]);
        bool gqa = !deploy_latent_cache(L);
        if (gqa && a->kv_heads % d->tp && d->tp % a->kv_heads)
            return sim_fail(e, SIM_EINVAL, "tp = %llu and the %llu KV heads of layer %llu (%s): neither divides the "
                            "other, so heads cannot be split or replicated evenly", (unsigned long long)d->tp,
                            (unsigned long long)a->kv_heads, (unsigned long long)i, m->kind_name[L->kind]);
        u64 rf = gqa && a->kv_heads < d->tp ? d->tp / a->kv_heads : 1;   /* ranks holding a copy of one head */
        if (gqa && d->dcp > 1 && rf % d->dcp)
            return sim_fail(e, SIM_EINVAL, "dcp = %llu: layer %llu (%s) has %llu KV heads on %llu ranks, so %llu "
                            "rank(s) hold a copy of each head to split its tokens over", (unsigned long long)d->dcp,
                            (unsigned long long)i, m->kind_name[L->kind], (unsigned long long)a->kv_heads,
                            (unsigned long long)d->tp, (unsigned long long)rf);
        if (d->dcp > 1 && d->engine == ENG_VLLM && a->window && !L->shared_kv)
            return sim_fail(e, SIM_EINVAL, "dcp = %llu with vLLM: layer %llu (%s) has a sliding window and vLLM's "
                            "SlidingWindowSpec.max_memory_usage_bytes asserts decode_context_parallel_size == 1",
                            (unsigned long long)d->dcp, (unsigned long long)i, m->kind_name[L->kind]);
        if (deploy_moe(L)) experts = umax(experts, L->ffn.experts);
    }
    if (d->ep > 1) {
        /* a dense model ignores ep (nothing to split), as engines do */
        if (experts && d->ep > experts)
            return sim_fail(e, SIM_EINVAL, "ep = %llu exceeds the %llu experts", (unsigned long long)d->ep,
                            (unsigned long long)experts);
        if ((d->tp * d->dp) % d->ep)
            return sim_fail(e, SIM_EINVAL, "ep = %llu does not divide the tp x dp = %llu ranks of a pipeline stage",
                            (unsigned long long)d->ep, (unsigned long long)(d->tp * d->dp));
        if (d->tp % d->ep && d->ep % d->tp)
            return sim_fail(e, SIM_EINVAL, "ep = %llu and tp = %llu: an EP group must sit inside a TP group or span "
                            "whole TP groups", (unsigned long long)d->ep, (unsigned long long)d->tp);
    }
    return SIM_OK;
}

/* ---- weights ------------------------------------------------------------ */

static u64 wbytes(const model_spec *m, wclass wc, u64 n, bool *ovf)
{
    return fmt_rate_bytes(&m->weight[wc], n, ovf);
}

/* The TP/EP-sharded weights of layer L: their bytes in the whole model (*full)
 * and on one device (*dev); the rest of the layer is replicated. Expert bytes
 * are also returned alone (stored on the device) for the traffic estimate. */
static void layer_sharded(const model_spec *m, const layer_spec *L, const deploy_cfg *d, bool *ovf, u64 *full,
                          u64 *dev, u64 *expert_dev, u64 *expert_per)
{
    const attn_cfg *a = &L->attn;
    const ffn_cfg *f = &L->ffn;
    attn_kind t = deploy_attn_kind(L);
    u64 D = m->d_model, H = a->q_heads, tp = d->tp, sharded = 0, kv = 0, kv_dev = 0;
    if (t == AK_GQA) {
        u64 h = a->head_dim, v = attn_vdim(a), G = a->kv_heads;
        sharded = cadd(ovf, cmul(ovf, D, H * h), cmul(ovf, H * v, D));
        if (a->out_gate) sharded = cadd(ovf, sharded, cmul(ovf, D, H));
        if (!L->shared_kv) {
            u64 per_head = D * (h + (a->k_eq_v ? 0 : v));
            kv = cmul(ovf, per_head, G);
            kv_dev = cmul(ovf, per_head, deploy_kv_heads_rank(G, tp));
        }
    } else if (t == AK_MLA || t == AK_DSA) {
        u64 rq = a->q_lora_rank, r = a->kv_lora_rank, np = a->nope_dim, p = a->rope_dim, v = a->v_head_dim;
        sharded = rq ? cmul(ovf, rq, H * (np + p)) : cmul(ovf, D, H * (np + p));   /* wq_b / wq */
        sharded = cadd(ovf, sharded, cmul(ovf, r, H * (np + v)));                  /* wkv_b */
        sharded = cadd(ovf, sharded, cmul(ovf, H * v, D));                         /* wo */
    } else if (t == AK_CSA || t == AK_HCA || t == AK_SWA4) {
        u64 ch = a->head_dim;
        sharded = cmul(ovf, a->q_lora_rank, H * ch);                               /* wq_b */
        sharded = cadd(ovf, sharded, cmul(ovf, H * ch, a->o_lora_rank));          /* wo_a */
        sharded = cadd(ovf, sharded, cmul(ovf, a->o_groups * a->o_lora_rank, D)); /* wo_b */
    } else if (t == AK_CCA) {
        u64 h = a->head_dim, G = a->kv_heads;
        sharded = cadd(ovf, cmul(ovf, D, H * h), cmul(ovf, H * h, D));             /* wq, wo */
        kv = cmul3(ovf, 2, D, G * h);                                               /* wk, the two value halves */
        kv_dev = cmul3(ovf, 2, D, deploy_kv_heads_rank(G, tp) * h);
    }
    u64 lf = cadd(ovf, sharded, kv), ld = cadd(ovf, sharded / tp, kv_dev);
    *full = wbytes(m, WC_LINEAR, lf, ovf);
    *dev = wbytes(m, WC_LINEAR, ld, ovf);
    *expert_dev = *expert_per = 0;
    u64 mats = f->gated ? 3 : 2;
    if (f->type == &comp_ffn_dense) {
        u64 w = cmul3(ovf, mats, D, f->d_ff);
        *full = cadd(ovf, *full, wbytes(m, WC_LINEAR, w, ovf));
        *dev = cadd(ovf, *dev, wbytes(m, WC_LINEAR, w / tp, ovf));
    } else if (f->type == &comp_ffn_moe) {
        u64 per = cmul3(ovf, mats, D, f->d_ff), sdff = f->shared_d_ff ? f->shared_d_ff : f->d_ff;
        u64 sh = cmul(ovf, f->shared, cmul3(ovf, mats, D, sdff));
        u64 split = d->tp > d->ep ? d->tp / d->ep : 1;
        u64 edev = cmul(ovf, cdivu(f->experts, d->ep), per) / split;
        *full = cadd(ovf, *full, cadd(ovf, wbytes(m, WC_LINEAR, sh, ovf), wbytes(m, WC_EXPERT, cmul(ovf, f->experts, per), ovf)));
        *expert_dev = wbytes(m, WC_EXPERT, edev, ovf);
        *expert_per = per;
        *dev = cadd(ovf, *dev, cadd(ovf, wbytes(m, WC_LINEAR, sh / tp, ovf), *expert_dev));
    }
}

/* layer_sharded for every layer, computed once per distinct layer config
 * (layer_spec.same_cost_as); t has m->n_layers entries. */
typedef struct { u64 full, dev, edev, eper; bool latent; } shard_t;

static void shard_table(const model_spec *m, const deploy_cfg *d, bool *ovf, shard_t *t)
{
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *L = &m->layer[i];
        if (L->same_cost_as >= 0) { t[i] = t[L->same_cost_as]; continue; }
        layer_sharded(m, L, d, ovf, &t[i].full, &t[i].dev, &t[i].edev, &t[i].eper);
        t[i].latent = deploy_latent_cache(L);
    }
}

/* Weights of the model-level parts on stage s: the embedding (and PLE table)
 * on the first stage, the head on the last; vocabulary-parallel. */
static void parts_weights(const model_spec *m, const cost_result *r, const deploy_cfg *d, u64 s, bool *ovf,
                          u64 *dev, u64 *repl)
{
    *dev = *repl = 0;
    for (int k = 0; k < r->n_types; k++) {
        const cost_row *w = &r->type[k];
        bool first = !strcmp(w->name, "embed") || !strcmp(w->name, "ple");
        bool last = !strcmp(w->name, "head");
        if (!(first && s == 0) && !(last && s == d->pp - 1)) continue;
        u64 table = 0;
        if (first) table = w->c.params_embed;                       /* embedding / PLE tables */
        if (last && !m->tie_embeddings) table = cmul(ovf, m->vocab, m->d_model);
        if (last && m->tie_embeddings && d->pp > 1) {
            /* the last stage holds its own copy of the tied table */
            u64 b = wbytes(m, WC_EMBED, cmul(ovf, m->vocab, m->d_model) / d->tp, ovf);
            *dev = cadd(ovf, *dev, b);
        }
        u64 tb = wbytes(m, WC_EMBED, table, ovf), tdev = wbytes(m, WC_EMBED, table / d->tp, ovf);
        u64 rest = w->c.weight_bytes > tb ? w->c.weight_bytes - tb : 0;
        *dev = cadd(ovf, *dev, cadd(ovf, rest, tdev));
        *repl = cadd(ovf, *repl, rest);
    }
}

/* Per-layer weight bytes do not depend on the context or the batch: any
 * evaluation of the model serves. */
static int weights_from(const model_spec *m, const deploy_cfg *d, const cost_result *rp, const shard_t *t, u64 *bytes,
                        u64 *replicated, sim_err *e)
{
    bool ovf = false;
    *bytes = *replicated = 0;
    for (u64 s = 0; s < d->pp; s++) {
        u64 lo, hi, dev, repl;
        deploy_stage_range(m->n_layers, d->pp, s, &lo, &hi);
        parts_weights(m, rp, d, s, &ovf, &dev, &repl);
        for (u64 i = lo; i < hi; i++) {
            u64 full = t[i].full, sdev = t[i].dev;
            u64 lw = rp->layer[i].weight_bytes, rest = lw > full ? lw - full : 0;
            dev = cadd(&ovf, dev, cadd(&ovf, rest, sdev));
            repl = cadd(&ovf, repl, rest);
        }
        if (dev > *bytes) { *bytes = dev; *replicated = repl; }
    }
    if (ovf) return sim_fail(e, SIM_ERANGE, "per-device weight bytes exceed 2^64-1");
    return SIM_OK;
}

int deploy_weights(const model_spec *m, const deploy_cfg *d, u64 *bytes, u64 *replicated, sim_err *e)
{
    cost_query q = {.T = 1, .B = 1, .phase = PH_DECODE};
    cost_result r;
    int rc = cost_eval(m, &q, &r, e);
    if (rc) return rc;
    shard_t *t = malloc(m->n_layers * sizeof *t);
    bool ovf = false;
    if (!t) rc = sim_fail(e, SIM_ENOMEM, "out of memory");
    else shard_table(m, d, &ovf, t);
    if (!rc) rc = weights_from(m, d, &r, t, bytes, replicated, e);
    free(t);
    cost_result_free(&r);
    return rc;
}

/* ---- KV per device ------------------------------------------------------- */

/* Bytes one device holds of layer i's cache at T tokens (owners only). */
static int layer_kv_dev(const model_spec *m, const deploy_cfg *d, int i, u64 T, bool *ovf, u64 *out, sim_err *e)
{
    const layer_spec *L = &m->layer[i];
    kv_buf b[KV_MAX_BUFS];
    *out = 0;
    int n = cost_kv_table(m, i, T, b, e);
    if (n < 0) return n;
    bool latent = deploy_latent_cache(L);
    for (int k = 0; k < n; k++) {
        u64 eb = b[k].entry_bytes, rows = b[k].entries;
        bool heads = !latent && (!strcmp(b[k].name, "kv"));
        if (heads) {
            /* the entry holds G heads; a rank keeps max(1, G / tp) of them */
            u64 G = L->attn.kv_heads, hr = deploy_kv_heads_rank(G, d->tp);
            if (hr != G) {
                u64 elems = deploy_attn_kind(L) == AK_CCA ? 2 * L->attn.head_dim
                                                               : L->attn.head_dim + (L->attn.k_eq_v ? 0 : attn_vdim(&L->attn));
                int rc = fmt_entry_bytes(&L->attn.kv_fmt, cmul(ovf, elems, hr), &eb, e);
                if (rc) return rc;
            }
        }
        /* DCP: a sequence's tokens are dealt over dcp ranks (the busiest holds the ceiling) */
        if (d->dcp > 1 && (latent || heads)) rows = cdivu(rows, d->dcp);
        *out = cadd(ovf, *out, cmul(ovf, rows, eb));
    }
    return SIM_OK;
}

int deploy_kv_per_seq(const model_spec *m, const deploy_cfg *d, u64 T, u64 *bytes, sim_err *e)
{
    bool ovf = false;
    *bytes = 0;
    u64 *per = malloc(m->n_layers * sizeof *per);   /* each layer's bytes, once per distinct config */
    if (!per) return sim_fail(e, SIM_ENOMEM, "out of memory");
    for (u64 i = 0; i < m->n_layers; i++) {
        int j = m->layer[i].same_cost_as, rc;
        if (j >= 0) { per[i] = per[j]; continue; }
        if ((rc = layer_kv_dev(m, d, (int)i, T, &ovf, &per[i], e))) { free(per); return rc; }
    }
    for (u64 s = 0; s < d->pp; s++) {
        u64 lo, hi, sum = 0;
        deploy_stage_range(m->n_layers, d->pp, s, &lo, &hi);
        for (u64 i = lo; i < hi; i++) sum = cadd(&ovf, sum, per[i]);
        *bytes = umax(*bytes, sum);
    }
    free(per);
    if (ovf) return sim_fail(e, SIM_ERANGE, "per-device KV bytes exceed 2^64-1 at ctx %llu", (unsigned long long)T);
    return SIM_OK;
}

/* ---- activations and SGLang's memory fraction ---------------------------- */

/* Per-head query and output widths of a layer's attention (the dims its
 * projections produce on a rank, per head). */
static void attn_qv_dims(const layer_spec *L, u64 *dq, u64 *dv)
{
    const attn_cfg *a = &L->attn;
    switch (deploy_attn_kind(L)) {
    case AK_MLA: case AK_DSA: *dq = a->nope_dim + a->rope_dim; *dv = a->v_head_dim; break;
    case AK_GQA: *dq = a->head_dim; *dv = attn_vdim(a); break;
    default: *dq = *dv = a->head_dim; break;   /* CSA, HCA, SWA4, CCA: q and output of head_dim */
    }
}

int deploy_activation(const model_spec *m, const deploy_cfg *d, u64 T, u64 S, u64 *bytes, sim_err *e)
{
    bool ovf = false;
    u64 a = dtype_table[m->act_dt].bits / 8, D = m->d_model, tp = d->tp, ep = d->ep;
    u64 best = 0;
    for (u64 s = 0; s < d->pp; s++) {
        u64 lo, hi, peak = 0;
        deploy_stage_range(m->n_layers, d->pp, s, &lo, &hi);
        for (u64 i = lo; i < hi; i++) {
            const layer_spec *L = &m->layer[i];
            const ffn_cfg *f = &L->ffn;
            /* a layer configured like an earlier one of this stage has its transients */
            if (L->same_cost_as >= 0 && (u64)L->same_cost_as >= lo) continue;
            u64 dq, dv;
            attn_qv_dims(L, &dq, &dv);
            u64 attn = cmul4(&ovf, T, L->attn.q_heads / tp, dq + dv, a);
            u64 ffn = 0;
            if (deploy_moe(L)) {
                /* routed copies on this rank: the EP group gathers ep / tp
                 * replicas' tokens when ep >= tp; experts split tp / ep ways when ep < tp */
                u64 g = ep >= tp ? ep / tp : 1, split = tp > ep ? tp / ep : 1;
                u64 copies = cmul3(&ovf, T, f->top_k, g) / ep;
                u64 sdff = f->shared_d_ff ? f->shared_d_ff : f->d_ff;
                ffn = cmul3(&ovf, copies, 2 * D + 3 * f->d_ff / split, a);
                ffn = cadd(&ovf, ffn, cmul4(&ovf, T, 3, f->shared * sdff / tp, a));
            } else if (f->d_ff) {
                ffn = cmul4(&ovf, T, 3, f->d_ff / tp, a);
            }
            peak = umax(peak, umax(attn, ffn));
        }
        best = umax(best, peak);
    }
    u64 hidden = cmul4(&ovf, 2, T, D, a);
    u64 logits = cmul3(&ovf, umin(S, T), m->vocab, 4);
    *bytes = cadd(&ovf, cadd(&ovf, hidden, best), logits);
    if (ovf) return sim_fail(e, SIM_ERANGE, "activation bytes exceed 2^64-1 at %llu tokens", (unsigned long long)T);
    return SIM_OK;
}

double deploy_sglang_mem_fraction(const deploy_cfg *d, double memory_bytes, u64 *chunk, double *act_mib)
{
    /* ServerArgs._handle_gpu_memory_settings (python/sglang/srt/server_args.py,
     * the 2025-26 heuristics of PR #10975): gpu_mem in MiB selects
     * chunked_prefill_size and cuda_graph_max_bs; SGLang's tp_size is every
     * GPU of a pipeline stage (kvsim tp x dp), DP attention on when dp > 1. */
    double mem = memory_bytes / 1048576.0;
    u64 tps = d->tp * d->dp, ck, bs;
    bool small_tp = tps < 4;
    if (mem < 20 * 1024.0) { ck = 2048; bs = small_tp ? 16 : 64; }
    else if (mem < 35 * 1024.0) { ck = 2048; bs = small_tp ? 24 : 80; }
    else if (mem < 60 * 1024.0) { ck = 4096; bs = small_tp ? 32 : 160; }
    else if (mem < 160 * 1024.0) { ck = 8192; bs = small_tp ? 256 : 512; }   /* H100/A100 80 GB, H200 */
    else { ck = 16384; bs = 512; }                                            /* B200, MI300 */
    double act = 1.5 * (double)umax(ck, 2048);
    double res = 512 + act + 2.0 * (double)bs + (double)(tps * d->pp) / 8 * 1024;
    if (d->dp > 1) {
        res += (double)bs * (double)d->dp * 3;
        if (bs > 300) res += (double)bs * (double)d->dp * 1.5;
    }
    if (mem > 60 * 1024.0 && res < 10 * 1024.0) res = 10 * 1024.0;
    if (d->spec_tokens) res += 2 * 1024.0;   /* EAGLE-style draft model and its CUDA graphs */
    if (chunk) *chunk = ck;
    if (act_mib) *act_mib = act;
    /* round(x, 3): Python rounds half to even on the binary value; the
     * nearest-integer of x * 1000 agrees except on exact ties */
    return nearbyint((mem - res) / mem * 1000.0) / 1000.0;
}

/* ---- one decode step per device ------------------------------------------ */

/* Traffic and collectives of one decode step of `b` sequences per replica,
 * on the busiest stage's device. */
/* cp is a decode evaluation at batch b / bs: every count in it but the
 * weights is linear in the batch (ntok = B, pairs = B x span), so its cache
 * traffic, activations and FLOPs are multiplied by bs (deploy_eval evaluates
 * once at batch 1; test_deploy checks the scaled step equals a direct one). */
static int step_from(const model_spec *m, const deploy_cfg *d, u64 ctx, u64 b, u64 bs, const cost_result *cp,
                     const shard_t *t, deploy_result *r, sim_err *e)
{
    bool ovf = false;
    u64 ab = dtype_table[m->act_dt].bits / 8, D = m->d_model;
    u64 best = 0;
    for (u64 s = 0; s < d->pp; s++) {
        u64 lo, hi, wr = 0, kr = 0, kw = 0, ar = 0, a2a = 0;
        deploy_stage_range(m->n_layers, d->pp, s, &lo, &hi);
        for (u64 i = lo; i < hi; i++) {
            const layer_spec *L = &m->layer[i];
            const cost_t *lc = &cp->layer[i];
            u64 full = t[i].full, sdev = t[i].dev, edev = t[i].edev, eper = t[i].eper;
            u64 rest = lc->weight_bytes > full ? lc->weight_bytes - full : 0;
            u64 w = cadd(&ovf, rest, sdev);
            if (eper) {
                /* routed experts read: min(E, tokens x k) over the EP group's
                 * tokens (b per replica, ep / tp replicas), spread over max(tp, ep) ranks */
                u64 group_tok = cmul(&ovf, b, d->ep > d->tp ? d->ep / d->tp : 1);
                u64 used = umin(L->ffn.experts, cmul(&ovf, group_tok, L->ffn.top_k));
                u64 rd = wbytes(m, WC_EXPERT, cmul(&ovf, used, eper) / umax(d->tp, d->ep), &ovf);
                w = cadd(&ovf, w - edev, rd);
            }
            wr = cadd(&ovf, wr, w);
            /* cache traffic scaled to this rank's share */
            u64 num = 1, den = d->dcp;
            if (!t[i].latent) {
                num = deploy_kv_heads_rank(L->attn.kv_heads, d->tp);
                den *= L->attn.kv_heads;
            }
            kr = cadd(&ovf, kr, cmul3(&ovf, lc->kv_read_bytes / den, num, bs));
            kw = cadd(&ovf, kw, cmul3(&ovf, lc->kv_written_bytes / den, num, bs));
            /* TP all-reduce after attention and after the FFN (an MoE needs it
             * only while its experts are TP-split, ep < tp) */
            u64 msg = cmul3(&ovf, b, D, ab);
            if (d->tp > 1) {
                ar = cadd(&ovf, ar, msg);
                bool moe = eper != 0;
                if (!moe || d->ep < d->tp) ar = cadd(&ovf, ar, msg);
            }
            /* EP all-to-all: each token goes to k experts, (ep-1)/ep of them on
             * other ranks; dispatch and combine; a device sends its share of
             * the replica's tokens, ceil(b / tp) */
            if (eper && d->ep > 1) {
                u64 tok = cdivu(b, d->tp);
                u64 bytes = cmul4(&ovf, tok, L->ffn.top_k, D, ab);
                a2a = cadd(&ovf, a2a, cmul(&ovf, 2, cmul(&ovf, bytes, d->ep - 1) / d->ep));
            }
        }
        u64 tot = cadd(&ovf, cadd(&ovf, wr, kr), kw);
        if (s == 0 || tot > best) {
            best = tot;
            r->step_weight_read_bytes = wr;
            r->step_kv_read_bytes = kr;
            r->step_bytes = cadd(&ovf, tot, cmul(&ovf, cp->total.act_bytes, bs) / (d->tp * d->pp));
            r->allreduce_bytes = ar;
            r->allreduce_wire_bytes = d->tp > 1 ? cmul(&ovf, ar, 2 * (d->tp - 1)) / d->tp : 0;
            r->alltoall_bytes = a2a;
        }
    }
    r->step_flops = (double)cost_flops(&cp->total) * (double)bs / (double)(d->tp * d->pp);
    for (int k = 0; k < DT_COUNT; k++) r->step_flops_dt[k] = cmul(&ovf, cp->total.flops_dt[k], bs);
    if (ovf) return sim_fail(e, SIM_ERANGE, "per-device step bytes exceed 2^64-1 at ctx %llu, batch %llu",
                             (unsigned long long)ctx, (unsigned long long)b);
    return SIM_OK;
}

int deploy_step(const model_spec *m, const deploy_cfg *d, u64 ctx, u64 b, deploy_result *r, sim_err *e)
{
    cost_query q = {.T = ctx, .B = b, .phase = PH_DECODE};
    cost_result c;
    int rc = cost_eval(m, &q, &c, e);
    if (rc) return rc;
    shard_t *t = malloc(m->n_layers * sizeof *t);
    bool ovf = false;
    if (!t) rc = sim_fail(e, SIM_ENOMEM, "out of memory");
    else shard_table(m, d, &ovf, t);
    if (!rc) rc = step_from(m, d, ctx, b, 1, &c, t, r, e);
    free(t);
    cost_result_free(&c);
    return rc;
}

/* Roofline of the step: compute at the profile's peaks (FLOPs spread over the
 * devices in the dtype mix of the replica), memory at its bandwidth,
 * collectives at its per-GPU link bandwidth, not overlapped with the rest. */
static void step_time(const deploy_cfg *d, const hw_profile *hw, deploy_result *r)
{
    r->compute_s = r->memory_s = r->comm_s = r->step_s = 0;
    for (int k = 0; k < DT_COUNT; k++)
        if (r->step_flops_dt[k]) r->compute_s += (double)r->step_flops_dt[k] / hw_peak(hw, (dtype)k);
    r->compute_s /= (double)(d->tp * d->pp);
    r->memory_s = (double)r->step_bytes / hw->bandwidth;
    if (hw->link_bw > 0) r->comm_s = (double)(r->allreduce_wire_bytes + r->alltoall_bytes) / hw->link_bw;
    r->step_s = (r->compute_s > r->memory_s ? r->compute_s : r->memory_s) + r->comm_s;
    if (r->step_s > 0) {
        r->tokens_per_s_device = (double)r->batch_per_replica / (double)(d->tp * d->pp) / r->step_s;
        r->tokens_per_s_node = (double)r->batch_per_replica * (double)d->dp / r->step_s;
    }
}

static int deploy_budget_engine(const model_spec *m, const deploy_cfg *d, const hw_profile *hw, u64 ctx,
                                deploy_result *r, sim_err *e);

int deploy_eval(const model_spec *m, const deploy_cfg *d, const hw_profile *hw, u64 ctx, deploy_result *r, sim_err *e)
{
    memset(r, 0, sizeof *r);
    if (!ctx) return sim_fail(e, SIM_EINVAL, "context must be at least 1 token");
    if (!hw && !d->kv_budget) return sim_fail(e, SIM_EINVAL, "capacity needs --hw PROFILE or --kv-budget BYTES");
    if (hw && hw->gpus && d->gpus > hw->gpus)
        return sim_fail(e, SIM_EINVAL, "gpus = %llu exceeds the %llu GPUs of the node profile %s (links between nodes "
                        "are not modelled)", (unsigned long long)d->gpus, (unsigned long long)hw->gpus, hw->name);
    /* one evaluation at batch 1 gives the weights and, scaled, the step at
     * the capacity batch */
    cost_query q = {.T = ctx, .B = 1, .phase = PH_DECODE};
    cost_result c1;
    int rc = cost_eval(m, &q, &c1, e);
    if (rc) return rc;
    shard_t *t = malloc(m->n_layers * sizeof *t);
    bool ovf = false;
    if (!t) rc = sim_fail(e, SIM_ENOMEM, "out of memory");
    else shard_table(m, d, &ovf, t);
    if (!rc) rc = weights_from(m, d, &c1, t, &r->weight_bytes, &r->weight_replicated_bytes, e);
    if (!rc) rc = deploy_kv_per_seq(m, d, ctx, &r->kv_bytes_per_seq, e);
    if (!rc) rc = deploy_budget_engine(m, d, hw, ctx, r, e);
    if (!rc) {
        r->batch_per_replica = umax(1, r->replica_max_seqs);
        rc = step_from(m, d, ctx, r->batch_per_replica, r->batch_per_replica, &c1, t, r, e);
    }
    free(t);
    cost_result_free(&c1);
    if (rc) return rc;
    if (hw) step_time(d, hw, r);
    if (!r->replica_max_seqs) r->tokens_per_s_device = r->tokens_per_s_node = 0;   /* nothing fits: no throughput */
    return SIM_OK;
}

/* The KV budget of a device and the engine's allocation in it. */
static int deploy_budget_engine(const model_spec *m, const deploy_cfg *d, const hw_profile *hw, u64 ctx,
                                deploy_result *r, sim_err *e)
{
    int rc;
    r->replicas = d->dp;
    /* vLLM's batch defaults when not given (EngineArgs.get_batch_defaults,
     * vllm/engine/arg_utils.py, `vllm serve`): on a GPU of at least 70 GiB
     * that is not an A100, max_num_batched_tokens 8192 and max_num_seqs 1024;
     * otherwise 2048 and 256 */
    deploy_cfg dd = *d;
    bool big = !hw || !(hw->memory_bytes < 70.0 * 1073741824.0 || strstr(hw->name, "a100"));
    if (!dd.mnbt) dd.mnbt = big ? 8192 : 2048;
    if (!dd.max_num_seqs) dd.max_num_seqs = big ? 1024 : 256;
    if (hw) r->memory_bytes = (u64)hw->memory_bytes;
    r->mem_util = d->mem_util;
    /* The activation reserve. vLLM measures a dummy forward of
     * max_num_batched_tokens and subtracts its peak from the requested memory
     * (Worker.determine_available_memory: available = requested -
     * non_kv_cache_memory, which holds weights and the activation peak):
     * deploy_activation estimates that peak. SGLang holds activations inside
     * its (1 - mem_fraction_static) share, whose default it computes from the
     * chunk size (deploy_sglang_mem_fraction): nothing further comes out. */
    act_mode am = d->act;
    if (am == ACT_DEFAULT) am = d->engine == ENG_VLLM ? ACT_ESTIMATE : ACT_NONE;
    if (d->engine == ENG_SGLANG && hw) {
        u64 chunk;
        double act_mib;
        double f = deploy_sglang_mem_fraction(d, hw->memory_bytes, &chunk, &act_mib);
        if (!d->set[7]) r->mem_util = f;
        r->act_tokens = chunk;
        if (am == ACT_NONE) r->activation_bytes = (u64)(act_mib * 1048576.0);   /* inside the reserve */
    }
    if (am == ACT_ESTIMATE) {
        r->act_tokens = dd.mnbt;
        r->act_logit_rows = umin(dd.max_num_seqs, dd.mnbt);
        if ((rc = deploy_activation(m, d, dd.mnbt, dd.max_num_seqs, &r->activation_bytes, e))) return rc;
        r->act_in_budget = true;
    } else if (am == ACT_BYTES) {
        r->activation_bytes = d->act_bytes;
        r->act_in_budget = true;
    }
    /* The KV budget: given (an engine log's "Available KV cache memory"), or
     * the engine's requested share of the device minus the weights and the
     * activations held outside that share. vLLM: requested = ceil(total x
     * gpu_memory_utilization) (Worker.determine_available_memory); SGLang:
     * total x mem_fraction_static minus the weights (KVCacheConfigurator,
     * pool_configurator). CUDA graphs (vLLM estimates them since v0.21),
     * NCCL and allocator slack are not estimated. */
    if (d->kv_budget) {
        r->kv_budget_bytes = d->kv_budget;
        r->act_in_budget = false;
        r->reserve_note = "memory - weights - the given KV budget";
    } else {
        u64 req = (u64)ceil(hw->memory_bytes * r->mem_util);
        u64 held = r->weight_bytes + (r->act_in_budget ? r->activation_bytes : 0);
        r->kv_budget_bytes = req > held ? req - held : 0;
        r->reserve_note = r->act_in_budget ? (am == ACT_BYTES ? "(1 - mem_util) x memory + the given activation reserve"
                                                             : "(1 - mem_util) x memory + the activation estimate")
                        : d->engine == ENG_SGLANG ? "(1 - mem_fraction_static) x memory, activations inside it"
                                                  : "(1 - mem_util) x memory";
    }
    /* the reserve: memory that is neither weights nor KV */
    u64 used = r->weight_bytes + r->kv_budget_bytes;
    r->reserve_bytes = r->memory_bytes > used ? r->memory_bytes - used : 0;
    if ((rc = engine_eval(m, &dd, r->kv_budget_bytes, ctx, &r->eng, e))) return rc;
    if (d->engine == ENG_LOGICAL) {
        engine_result *g = &r->eng;
        g->max_seqs = r->kv_bytes_per_seq ? r->kv_budget_bytes / r->kv_bytes_per_seq : 0;
        g->max_concurrency = r->kv_bytes_per_seq ? (double)r->kv_budget_bytes / (double)r->kv_bytes_per_seq : 0;
        g->tokens = (u64)(g->max_concurrency * (double)ctx);
    }
    r->replica_max_seqs = r->eng.max_seqs;
    r->node_max_seqs = r->replica_max_seqs * d->dp;
    return SIM_OK;
}
