/* test_registry.c - every registered component type, driven by the registry
 * (sim/layers/types.h): its example spec parses and costs, it has a
 * reference kernel, and the kernel's counters equal the analytical model
 * exactly at every edge context the type declares (plus T = 1, 2, 37), in
 * prefill and in the decode step after it. A type added without an example,
 * a kernel or exact counts fails here. */
#include "check.h"
#include "util.h"
#include "ref.h"
#include "layer.h"

/* Analytical vs measured, every row: FLOPs by category, the FP8-equivalent
 * total, cache bytes held / read / written, parameters and weight bytes
 * stored are equal; weight bytes read are at most the model's (routing may
 * leave experts unread; README "What run and validate prove"). */
static int rows_differ(const cost_result *an, const cost_result *me)
{
    int bad = 0;
    for (int r = 0; r < an->n_types; r++) {
        const cost_t *a = &an->type[r].c, *m = NULL;
        for (int k = 0; k < me->n_types; k++)
            if (!strcmp(me->type[k].name, an->type[r].name)) m = &me->type[k].c;
        if (!m) { printf("  row %s missing\n", an->type[r].name); bad++; continue; }
        for (int k = 0; k < FL_COUNT; k++) bad += a->flops[k] != m->flops[k];
        bad += a->flops_fp8eq_x2 != m->flops_fp8eq_x2;
        bad += a->kv_bytes != m->kv_bytes || a->kv_read_bytes != m->kv_read_bytes || a->kv_written_bytes != m->kv_written_bytes;
        bad += a->params != m->params || a->params_embed != m->params_embed || a->weight_bytes != m->weight_bytes;
        bad += m->weight_read_bytes > a->weight_read_bytes;
    }
    return bad;
}

/* Run the example at context T (prefill of T, then one decode step) and
 * compare both phases with cost_eval. */
static int exact_at(const model_spec *m, ref_model *M, u64 T)
{
    int32_t *tok = malloc((T + 1) * sizeof *tok);
    sim_err e;
    int bad = 0;
    if (!tok) return 1;
    for (u64 i = 0; i <= T; i++) tok[i] = (int32_t)((i * 7919 + 13) % m->vocab);
    ref_reset(M);
    for (int ph = 0; ph < 2 && !bad; ph++) {
        cost_query q = {.T = T, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL};
        cost_result an, me;
        if (ref_run(M, ph ? tok + T : tok, ph ? 1 : T, &e) || ref_result(M, &me, &e)) { printf("  run: %s\n", e.msg); bad = 1; break; }
        if (cost_eval(m, &q, &an, &e)) { printf("  cost: %s\n", e.msg); cost_result_free(&me); bad = 1; break; }
        bad = rows_differ(&an, &me);
        if (bad) printf("  T = %llu %s: %d counters differ\n", (unsigned long long)T, ph ? "decode" : "prefill", bad);
        cost_result_free(&an);
        cost_result_free(&me);
    }
    free(tok);
    return bad;
}

int main(void)
{
    for (int i = 0; i < comp_registry_count; i++) {
        const comp_type *t = comp_registry[i];
        char name[96];
        model_spec m;
        sim_err e;
        snprintf(name, sizeof name, "registry-%s-%s-example-loads", comp_cat_name[t->cat], t->name);
        int ok = t->example && load_str(&m, t->example, NULL, 0, &e) == SIM_OK;
        if (!ok) printf("  %s\n", t->example ? e.msg : "no example");
        CHECK(name, ok);
        if (!ok) continue;
        /* The example really uses the type it illustrates. */
        bool uses = m.ple.type == t;
        for (u64 l = 0; l < m.n_layers; l++)
            uses |= m.layer[l].attn.type == t || m.layer[l].ffn.type == t || m.layer[l].res.type == t;
        snprintf(name, sizeof name, "registry-%s-%s-example-uses-it", comp_cat_name[t->cat], t->name);
        CHECK(name, uses);
        snprintf(name, sizeof name, "registry-%s-%s-has-kernel", comp_cat_name[t->cat], t->name);
        CHECK(name, ref_ops_for(t) != NULL);
        u64 ctx[64], skipped[64];
        int nskip, n = comp_edge_contexts(&m, 1u << 20, ctx, 64, skipped, &nskip);
        /* Its own edges are among the contexts run. */
        int covered = 1;
        if (t->edges)
            for (u64 l = 0; l < m.n_layers; l++) {
                u64 own[EDGE_MAX];
                int no = t->edges(&m.layer[l], own);
                for (int k = 0; k < no; k++) {
                    int found = 0;
                    for (int c = 0; c < n; c++) found |= ctx[c] == own[k];
                    covered &= found;
                }
            }
        snprintf(name, sizeof name, "registry-%s-%s-edges-covered", comp_cat_name[t->cat], t->name);
        CHECK(name, covered && nskip == 0 && n >= 3);
        ref_model M;
        int bad = 0;
        if (ref_init(&M, &m, 5, NULL, &e)) {
            printf("  init: %s\n", e.msg);
            bad = 1;
        } else {
            for (int c = 0; c < n; c++) bad += exact_at(&m, &M, ctx[c]);
            ref_free(&M);
        }
        snprintf(name, sizeof name, "registry-%s-%s-exact-at-%d-edges", comp_cat_name[t->cat], t->name, n);
        CHECK(name, bad == 0);
        spec_free(&m);
    }
    CHECK("registry-types", comp_registry_count >= 13);
    return check_done("test_registry");
}
