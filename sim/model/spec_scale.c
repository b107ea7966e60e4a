/* spec_scale.c - see spec_scale.h. */
#include "spec_scale.h"
#include "layer.h"
#include <stdio.h>

static u64 sdiv(u64 x, u64 S)
{
    u64 v = x / S;
    return v ? v : 1;
}

/* The checks spec_load ran on every layer (type checks, a cache table). */
static int recheck(model_spec *m, sim_err *e)
{
    const comp_type *mhc = comp_find(COMP_RES, "mhc");
    m->hc_streams = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        layer_spec *L = &m->layer[i];
        sim_err sub;
        int rc;
        if ((rc = L->attn.type->check(m, L, &sub)) || (L->ffn.type->check && (rc = L->ffn.type->check(m, L, &sub))) ||
            (L->res.type->check && (rc = L->res.type->check(m, L, &sub))))
            return sim_fail(e, rc, "scaled layer %llu: %s", (unsigned long long)i, sub.msg);
        kv_buf b[KV_MAX_BUFS];
        if ((rc = L->attn.type->kv_table(m, L, 1, b, &sub)) < 0)
            return sim_fail(e, rc, "scaled layer %llu: %s", (unsigned long long)i, sub.msg);
        if (L->res.type == mhc) m->hc_streams = L->res.streams;
    }
    return SIM_OK;
}

int spec_scale(model_spec *m, u64 S, sim_err *e)
{
    if (S == 0) return sim_fail(e, SIM_EINVAL, "scale must be at least 1");
    if (S == 1) return SIM_OK;
    m->d_model = sdiv(m->d_model, S);
    m->vocab = sdiv(m->vocab, S);
    if (m->ple_dim) {
        m->ple_dim = sdiv(m->ple_dim, S);
        m->ple_vocab = sdiv(m->ple_vocab, S);
    }
    for (u64 i = 0; i < m->n_layers; i++) {
        attn_cfg *a = &m->layer[i].attn;
        ffn_cfg *f = &m->layer[i].ffn;
        if (a->kv_heads) {
            a->kv_heads = sdiv(a->kv_heads, S);
            u64 q = sdiv(a->q_heads, S) / a->kv_heads * a->kv_heads;
            a->q_heads = q ? q : a->kv_heads;
        } else {
            a->q_heads = sdiv(a->q_heads, S);
        }
        if (a->o_groups) {
            a->o_groups = sdiv(a->o_groups, S);
            while (a->q_heads % a->o_groups) a->o_groups--;
        }
        if (a->q_lora_rank) a->q_lora_rank = sdiv(a->q_lora_rank, S);
        if (a->o_lora_rank) a->o_lora_rank = sdiv(a->o_lora_rank, S);
        if (a->index_heads) a->index_heads = sdiv(a->index_heads, S);
        f->d_ff = f->d_ff ? sdiv(f->d_ff, S) : 0;
        if (f->shared_d_ff) f->shared_d_ff = sdiv(f->shared_d_ff, S);
        if (f->router_mlp) f->router_mlp = sdiv(f->router_mlp, S);
        if (f->experts) {
            u64 E = f->experts / S;
            f->experts = E > f->top_k ? E : f->top_k;
        }
    }
    return recheck(m, e);
}

u64 spec_scale_auto(const model_spec *m, u64 max_d)
{
    u64 S = 1;
    while (m->d_model / S > max_d) S *= 2;
    return S;
}

int spec_truncate(model_spec *m, u64 n, sim_err *e)
{
    if (n == 0 || n > m->n_layers)
        return sim_fail(e, SIM_EINVAL, "--layers %llu: the spec has %llu layers", (unsigned long long)n,
                        (unsigned long long)m->n_layers);
    m->n_layers = n;   /* kv_from and same_cost_as only point to earlier layers */
    return recheck(m, e);
}
