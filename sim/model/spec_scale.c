/* spec_scale.c - see spec_scale.h. */
#include "spec_scale.h"
#include "layer.h"
#include <stdio.h>

static u64 sdiv(u64 x, u64 S)
{
    u64 v = x / S;
    return v ? v : 1;
}

/* The checks spec_load ran on every layer (comp_check_layer). */
static int recheck(model_spec *m, sim_err *e)
{
    spec_plan(m);   /* the plan: its layers (truncate), its MTP sizes (scale) */
    m->hc_streams = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        layer_spec *L = &m->layer[i];
        sim_err sub;
        comp_cat bad;
        int rc = comp_check_layer(m, L, &bad, &sub);
        if (rc) return sim_fail(e, rc, "scaled layer %llu: %s", (unsigned long long)i, sub.msg);
        if (L->res.streams) m->hc_streams = L->res.streams;
    }
    if (m->mtp_n) {
        sim_err sub;
        comp_cat bad;
        int rc = comp_check_layer(m, &m->mtp, &bad, &sub);
        if (rc) return sim_fail(e, rc, "scaled mtp layer: %s", sub.msg);
    }
    return SIM_OK;
}

/* Apply the field table's --scale rules of one component to cfg; rules that
 * refer to another field run after the plain divisions (pass 0) in the
 * order SC_MULTIPLE_OF, SC_DIVISOR_OF, SC_AT_LEAST. Zero stays zero. */
static void scale_fields(const comp_type *t, void *cfg, u64 S)
{
    if (!t) return;
    for (int pass = SC_DIV; pass <= SC_AT_LEAST; pass++)
        for (const field_def *f = t->fields; f->key; f++) {
            if ((int)f->scale != pass || f->kind != F_U64) continue;
            u64 *x = (u64 *)(void *)((char *)cfg + f->off), rel = *(const u64 *)(const void *)((const char *)cfg + f->rel);
            if (!*x) continue;
            switch (f->scale) {
            case SC_DIV: *x = sdiv(*x, S); break;
            case SC_MULTIPLE_OF:
                if (!rel) { *x = sdiv(*x, S); break; }
                *x = sdiv(*x, S) / rel * rel;
                if (!*x) *x = rel;
                break;
            case SC_DIVISOR_OF:
                *x = sdiv(*x, S);
                while (rel % *x) (*x)--;
                break;
            case SC_AT_LEAST: *x = *x / S > rel ? *x / S : rel; break;
            default: break;
            }
        }
}

int spec_scale(model_spec *m, u64 S, sim_err *e)
{
    if (S == 0) return sim_fail(e, SIM_EINVAL, "scale must be at least 1");
    if (S == 1) return SIM_OK;
    m->d_model = sdiv(m->d_model, S);
    m->vocab = sdiv(m->vocab, S);
    scale_fields(m->ple.type, &m->ple, S);
    for (u64 i = 0; i < m->n_layers; i++) {
        layer_spec *L = &m->layer[i];
        scale_fields(L->attn.type, &L->attn, S);
        scale_fields(L->ffn.type, &L->ffn, S);
        scale_fields(L->res.type, &L->res, S);
    }
    if (m->mtp_n) {
        scale_fields(m->mtp.attn.type, &m->mtp.attn, S);
        scale_fields(m->mtp.ffn.type, &m->mtp.ffn, S);
        scale_fields(m->mtp.res.type, &m->mtp.res, S);
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
    return recheck(m, e);   /* (and the plan again) */
}
