/* measure.c - see measure.h. */
#include "measure.h"
#include "spec_any.h"
#include "ref.h"
#include "spec_scale.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(measure_set *ms, const char *type, const char *ph, const char *ctr, double an, double me, sim_err *e)
{
    if (ms->n == ms->cap) {
        int nc = ms->cap ? ms->cap * 2 : 64;
        measure_pair *np = realloc(ms->p, (size_t)nc * sizeof *np);
        if (!np) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ms->p = np;
        ms->cap = nc;
    }
    measure_pair *p = &ms->p[ms->n++];
    snprintf(p->type, sizeof p->type, "%s", type);
    snprintf(p->counter, sizeof p->counter, "%s.%s", ph, ctr);
    p->analytical = an;
    p->measured = me;
    return SIM_OK;
}

/* Pair the rows of the analytical and measured results by type name. */
static int pair_rows(measure_set *ms, const char *ph, const cost_result *an, const cost_result *me,
                     const ref_model *M, const hw_profile *hw, sim_err *e)
{
    int rc = SIM_OK;
    for (int k = 0; k <= an->n_types && !rc; k++) {
        const cost_t *a = k < an->n_types ? &an->type[k].c : &an->total;
        const char *name = k < an->n_types ? an->type[k].name : "total";
        const cost_t *m = NULL;
        if (k == an->n_types) m = &me->total;
        for (int j = 0; j < me->n_types && !m; j++)
            if (!strcmp(me->type[j].name, name)) m = &me->type[j].c;
        if (!m) continue;
        const struct { const char *n; double a, m; } c[] = {
            {"flops", (double)cost_flops(a), (double)cost_flops(m)},
            {"flops_fp8_equiv", a->flops_fp8eq_x2 / 2.0, m->flops_fp8eq_x2 / 2.0},
            {"kv_bytes", (double)a->kv_bytes, (double)m->kv_bytes},
            {"kv_read_bytes", (double)a->kv_read_bytes, (double)m->kv_read_bytes},
            {"kv_written_bytes", (double)a->kv_written_bytes, (double)m->kv_written_bytes},
            {"weight_read_bytes", (double)a->weight_read_bytes, (double)m->weight_read_bytes},
        };
        for (size_t i = 0; i < sizeof c / sizeof c[0] && !rc; i++) rc = add(ms, name, ph, c[i].n, c[i].a, c[i].m, e);
        if (!rc && hw) {
            roofline rl;
            hw_roofline(hw, a, &rl);
            double t = k < an->n_types ? ref_type_time(M, name) : ref_time_total(M);
            rc = add(ms, name, ph, "time_s", rl.time_s, t, e);
            /* For the roofline plot: bytes the model moves (not a kernel counter). */
            double bytes = (double)cost_bytes_moved(a);
            if (!rc) rc = add(ms, name, ph, "model_bytes_moved", bytes, bytes, e);
        }
    }
    return rc;
}

int measure_run(const char *path, const char *const *sets, int n_sets, u64 S, u64 layers, u64 T, u64 seed,
                const hw_profile *hw, measure_set *out, sim_err *e)
{
    model_spec m;
    ref_model M;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = spec_load_any(&m, path, sets, n_sets, e))) return rc;
    if (!S) S = spec_scale_auto(&m, 256);
    out->scale = S;
    if ((rc = spec_scale(&m, S, e)) || (layers && layers < m.n_layers && (rc = spec_truncate(&m, layers, e)))) {
        spec_free(&m);
        return rc;
    }
    if ((rc = ref_init(&M, &m, seed, NULL, e))) { spec_free(&m); return rc; }
    int32_t *tok = malloc((T + 1) * sizeof *tok);
    if (!tok) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto out; }
    for (u64 i = 0; i <= T; i++) tok[i] = (int32_t)ref_rand_index(&M, 0x70c0 + T, i, m.vocab);
    /* The machine the times are predicted for: its roof, for the report. */
    if (hw && !(rc = add(out, "machine", "roof", "peak_flops", hw_peak(hw, DT_FP32), hw_peak(hw, DT_FP32), e)))
        rc = add(out, "machine", "roof", "bandwidth", hw->bandwidth, hw->bandwidth, e);
    for (int ph = 0; ph < 2 && !rc; ph++) {
        cost_query q = {.T = T, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL};
        cost_result an, me;
        if ((rc = ref_run(&M, ph ? tok + T : tok, ph ? 1 : T, e))) break;
        if ((rc = ref_result(&M, &me, e))) break;
        if ((rc = cost_eval(&m, &q, &an, e))) { cost_result_free(&me); break; }
        rc = pair_rows(out, ph ? "decode" : "prefill", &an, &me, &M, hw, e);
        cost_result_free(&an);
        cost_result_free(&me);
    }
out:
    free(tok);
    ref_free(&M);
    spec_free(&m);
    if (rc) measure_free(out);
    return rc;
}

void measure_free(measure_set *ms)
{
    free(ms->p);
    ms->p = NULL;
    ms->n = ms->cap = 0;
}
