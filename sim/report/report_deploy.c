/* report_deploy.c - the deployment plot kinds of `kvsim report`: capacity
 * (whole sequences per node vs context, per arch and deployment) and
 * per_device_memory (weights / KV budget / reserve of one GPU). Computed
 * from the specs with deploy_eval (README "Deployment"), not from the
 * database, like fit_context. See report_impl.h. */
#include "report_impl.h"
#include "deploy.h"
#include "units.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    sc_deploy x;
    hw_profile hw;
    bool have_hw;
    char label[160];
} dep_series;

#define DEP_MAX (SC_MAX_DEPLOY * SC_MAX_VALUES)

/* The deployments a plot draws: its one (or each) of the `deploy:` block,
 * and with `axis: deploy.X` each of them at each value of that sweep axis. */
static int plot_deployments(rep *r, const sc_plot *p, dep_series *out, int max, int *n)
{
    const sc_axis *ax = NULL;
    *n = 0;
    for (int i = 0; p->axis[0] && i < r->s->n_axes; i++)
        if (!strcmp(r->s->axis[i].path, p->axis)) ax = &r->s->axis[i];
    if (p->axis[0] && !ax)
        return sim_fail(r->e, SIM_EINVAL, "plot %s: axis '%s' is not a sweep path of the scenario",
                        plot_kind_name[p->kind], p->axis);
    for (int k = 0; k < r->s->n_deploy; k++) {
        if (p->deploy_idx >= 0 && k != p->deploy_idx) continue;
        for (int v = 0; v < (ax ? ax->n_values : 1) && *n < max; v++) {
            dep_series *d = &out[(*n)++];
            d->x = r->s->deploy[k];
            snprintf(d->label, sizeof d->label, "%s", d->x.label);
            if (ax) {
                if (scenario_deploy_set(&d->x, ax->path, ax->value[v], r->e)) return SIM_EINVAL;
                size_t l = strlen(d->label);
                snprintf(d->label + l, sizeof d->label - l, " %s=%s", ax->path, ax->value[v]);
            }
            d->have_hw = d->x.hw[0] != 0;
            if (d->have_hw && hw_load(&d->hw, d->x.hw, r->e)) return SIM_EINVAL;
            if (d->have_hw && d->hw.gpus && !d->x.d.set[0] && !d->x.d.set[3]) { d->x.d.gpus = d->hw.gpus; d->x.d.set[0] = true; }
        }
    }
    return SIM_OK;
}

/* One arch under one deployment at ctx; false (with why) when the layout or
 * the engine refuses it. */
static bool dep_eval(const variant *v, const dep_series *d, u64 ctx, deploy_result *res, char *why, size_t len)
{
    deploy_cfg c = d->x.d;
    sim_err e;
    if (deploy_check(&c, &v->m, &e) || deploy_eval(&v->m, &c, d->have_hw ? &d->hw : NULL, ctx, res, &e)) {
        snprintf(why, len, "%s", e.msg);
        return false;
    }
    return true;
}

int plot_capacity(rep *r, const sc_plot *p, const char *slug)
{
    static dep_series ds[DEP_MAX];
    static char notes[8192];
    int nd, rc;
    if ((rc = plot_deployments(r, p, ds, DEP_MAX, &nd))) return rc;
    rep_file d;
    if ((rc = rep_open(r, &d, slug, "csv"))) return rc;
    fputs("ctx", d.f);
    int cols = 0;
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        for (int k = 0; k < nd; k++) {
            char l[400], lab[400];
            snprintf(l, sizeof l, "%s @ %s", r->v[i].m.name, ds[k].label);
            rep_csv_label(l, lab, sizeof lab);
            fprintf(d.f, ",%s", lab);
            cols++;
        }
    }
    fputc('\n', d.f);
    u64 tctx = rep_nearest_ctx(r->s, p->ctx);
    char tc[32];
    rep_ctx_name(tctx, tc, sizeof tc);
    const char *title = rep_title(p, "Concurrent sequences per node vs context (engine rules)");
    fputs("\n### ", r->md);
    rep_md_text(r->md, title);
    fprintf(r->md, "\n\nWhole sequences of T tokens that fit the KV memory of every GPU of the node (per replica x "
                   "data-parallel replicas), under each deployment's engine rules (README \"Deployment\"); the "
                   "table at %s tokens, with the engine's KV cache size in tokens per GPU and the decode rate per "
                   "node at that batch. `-` = the layout or the engine refuses the arch (the reason below the "
                   "table).\n\n| arch | deployment | weights / GPU | KV of one sequence / GPU | seqs / node | tokens "
                   "(engine) | decode tokens/s / node |\n|---|---|---:|---:|---:|---:|---:|\n", tc);
    notes[0] = 0;
    rep_range rg = {0, 0};
    for (int c = 0; c < r->s->n_ctx; c++) {
        fprintf(d.f, "%llu", (unsigned long long)r->s->ctx[c]);
        for (int i = 0; i < r->nv; i++) {
            if (!rep_as_written(r, i)) continue;
            for (int k = 0; k < nd; k++) {
                deploy_result res;
                char why[512];
                bool ok = dep_eval(&r->v[i], &ds[k], r->s->ctx[c], &res, why, sizeof why);
                if (ok && res.node_max_seqs) {
                    fprintf(d.f, ",%llu", (unsigned long long)res.node_max_seqs);
                    rep_range_add(&rg, (double)res.node_max_seqs);
                } else {
                    fputs(",NaN", d.f);
                }
                if (r->s->ctx[c] != tctx) continue;
                fputs("| ", r->md);
                rep_md_text(r->md, r->v[i].m.name);
                fputs(" | ", r->md);
                rep_md_text(r->md, ds[k].label);
                if (!ok) {
                    fputs(" | - | - | - | - | - |\n", r->md);
                    size_t l = strlen(notes);
                    snprintf(notes + l, sizeof notes - l, "- %s @ %s: %s\n", r->v[i].m.name, ds[k].label, why);
                    continue;
                }
                char w[64], kv[64], seqs[32], tok[32];
                units_bytes(res.weight_bytes, w, sizeof w);
                units_bytes(res.kv_bytes_per_seq, kv, sizeof kv);
                units_commas(res.node_max_seqs, seqs, sizeof seqs);
                units_commas(res.eng.tokens, tok, sizeof tok);
                fprintf(r->md, " | %s | %s | %s | %s | %.0f |\n", w, kv, seqs, tok, res.tokens_per_s_node);
            }
        }
        fputc('\n', d.f);
    }
    if (notes[0]) {
        fputc('\n', r->md);
        for (char *line = notes; *line;) {   /* kvsim's own messages, escaped */
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            rep_md_text(r->md, line);
            fputc('\n', r->md);
            if (!nl) break;
            line = nl + 1;
        }
    }
    if ((rc = rep_close(r, &d, SIM_OK))) return rc;
    rep_file g;
    if ((rc = rep_gp_open(r, &g, slug, title))) return rc;
    fputs("set logscale xy 2\nset xlabel 'context (tokens per sequence)'\n"
          "set ylabel 'sequences per node (no point = none fits)'\n", g.f);
    fputs("set xtics (", g.f);
    bool first = true;
    for (u64 c = 1024; c <= r->s->ctx[r->s->n_ctx - 1] * 2; c *= 4) {
        if (c < r->s->ctx[0] / 2) continue;
        char n[32];
        rep_ctx_name(c, n, sizeof n);
        fprintf(g.f, "%s'%s' %llu", first ? "" : ", ", n, (unsigned long long)c);
        first = false;
    }
    fputs(")\n", g.f);
    if (rg.hi > 0) rep_log_tics(g.f, "y", rg.lo, rg.hi);
    fputs("plot ", g.f);
    for (int c = 0; c < cols; c++)
        fprintf(g.f, "%s'%s.csv' using 1:%d with linespoints lw 2 lc rgb '%s' dt %d title columnheader(%d)", c ? ", " : "",
                slug, c + 2, rep_series_color(c / (nd ? nd : 1)), 1 + c % (nd ? nd : 1), c + 2);
    fputc('\n', g.f);
    if ((rc = rep_gp_close(r, &g, slug, SIM_OK))) return rc;
    rep_md_links(r, slug, "concurrent sequences per node");
    return SIM_OK;
}

int plot_per_device_memory(rep *r, const sc_plot *p, const char *slug)
{
    static dep_series ds[DEP_MAX];
    int nd, rc;
    if ((rc = plot_deployments(r, p, ds, DEP_MAX, &nd))) return rc;
    char tc[32];
    rep_ctx_name(p->ctx, tc, sizeof tc);
    rep_file d;
    if ((rc = rep_open(r, &d, slug, "csv"))) return rc;
    fputs("arch_deployment,weights_GB,kv_GB,reserve_GB,kv_one_seq_GB\n", d.f);
    const char *title = rep_title(p, "Memory of one GPU: weights, KV budget, reserve");
    fputs("\n### ", r->md);
    rep_md_text(r->md, title);
    fprintf(r->md, "\n\nPer GPU at %s tokens per sequence: the weights it holds, the KV memory the engine allocates "
                   "(budget), and the reserve kept for everything else: (1 - mem_util) x memory plus, under vLLM, "
                   "the estimated activations of one prefill chunk (SGLang holds them inside its own "
                   "1 - mem_fraction_static), or what a given KV budget leaves.\n\n| arch | deployment | weights | KV budget | reserve | KV of one sequence "
                   "|\n|---|---|---:|---:|---:|---:|\n", tc);
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        for (int k = 0; k < nd; k++) {
            deploy_result res;
            char why[512], l[400], lab[400];
            snprintf(l, sizeof l, "%s @ %s", r->v[i].m.name, ds[k].label);
            rep_csv_label(l, lab, sizeof lab);
            if (!dep_eval(&r->v[i], &ds[k], p->ctx, &res, why, sizeof why)) {
                fprintf(d.f, "%s,NaN,NaN,NaN,NaN\n", lab);
                continue;
            }
            fprintf(d.f, "%s,%.6g,%.6g,%.6g,%.6g\n", lab, res.weight_bytes / 1e9, res.kv_budget_bytes / 1e9,
                    res.reserve_bytes / 1e9, res.kv_bytes_per_seq / 1e9);
            char w[64], kb[64], rs[64], one[64];
            units_bytes(res.weight_bytes, w, sizeof w);
            units_bytes(res.kv_budget_bytes, kb, sizeof kb);
            units_bytes(res.reserve_bytes, rs, sizeof rs);
            units_bytes(res.kv_bytes_per_seq, one, sizeof one);
            fputs("| ", r->md);
            rep_md_text(r->md, r->v[i].m.name);
            fputs(" | ", r->md);
            rep_md_text(r->md, ds[k].label);
            fprintf(r->md, " | %s | %s | %s | %s |\n", w, kb, rs, one);
        }
    }
    if ((rc = rep_close(r, &d, SIM_OK))) return rc;
    rep_file g;
    if ((rc = rep_gp_open(r, &g, slug, title))) return rc;
    fprintf(g.f, "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.85 border -1\n"
                 "set boxwidth 0.75\nset bmargin 11\nset lmargin 14\nset ylabel 'GB per GPU'\nset xtics rotate by 30 right\n"
                 "set xrange [-0.6:*]\nplot '%s.csv' skip 1 using 2:xtic(1) title 'weights' lc rgb '%s', '' skip 1 using 3 "
                 "title 'KV budget' lc rgb '%s', '' skip 1 using 4 title 'reserve' lc rgb '%s'\n",
            slug, rep_series_color(0), rep_series_color(1), rep_series_color(7));
    if ((rc = rep_gp_close(r, &g, slug, SIM_OK))) return rc;
    rep_md_links(r, slug, "memory of one GPU");
    return SIM_OK;
}
