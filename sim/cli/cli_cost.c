/* cli_cost.c - `kvsim cost`, `kvsim compare` and `kvsim check`: load specs
 * (with --set), evaluate the cost model and print (output.h). */
#include "cli.h"
#include "spec.h"
#include "cost.h"
#include "hw.h"
#include "ops.h"
#include "output.h"
#include "cli_deploy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARCHS 32

typedef struct {
    out_settings st;                   /* ctx, phase, batch, --set, --hw, ... */
    const char *sets[CLI_MAX_SETS];
    out_format of;
    const char *files[MAX_ARCHS];
    int n_files;
    deploy_cfg dep;                    /* deployment options (cli_deploy.c) */
    const char *time;                  /* --time as given, or NULL */
} opts;

static int parse_opts(const char *cmd, int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->st.q.T = 128 * 1024;
    o->st.q.B = 1;
    o->st.q.phase = PH_DECODE;
    o->st.sets = o->sets;
    deploy_cfg_default(&o->dep);
    cli_args p;
    cli_args_init(&p, cmd, argc, argv);
    int r;
    while ((r = cli_args_next(&p)) > 0) {
        const char *v = p.val;
        int dk = cli_deploy_opt(&p, &o->dep);
        if (dk < 0) return 2;
        if (dk) continue;
        if (!p.opt) {
            if (o->n_files == MAX_ARCHS) return cli_bad(cmd, "too many specs (at most %d)", MAX_ARCHS);
            o->files[o->n_files++] = v;
        } else if (cli_is(&p, "--ctx")) {
            if (cli_ctx(&p, &o->st.q.T)) return 2;
        } else if (cli_is(&p, "--phase")) {
            if (!strcmp(v, "decode")) o->st.q.phase = PH_DECODE;
            else if (!strcmp(v, "prefill")) o->st.q.phase = PH_PREFILL;
            else return cli_bad(cmd, "--phase '%s': expected decode or prefill", v);
        } else if (cli_is(&p, "--batch")) {
            if (cli_u64(&p, 1, 1ull << 32, &o->st.q.B)) return 2;
        } else if (cli_is(&p, "--by")) {
            if (!strcmp(v, "layer")) o->st.by_layer = true;
            else if (!strcmp(v, "type")) o->st.by_layer = false;
            else return cli_bad(cmd, "--by '%s': expected type or layer", v);
        } else if (cli_is(&p, "--set")) {
            if (cli_add_set(&p, o->sets, &o->st.n_sets)) return 2;
        } else if (cli_is(&p, "--format")) {
            if (!strcmp(v, "table")) o->of = OUT_TABLE;
            else if (!strcmp(v, "csv")) o->of = OUT_CSV;
            else if (!strcmp(v, "json")) o->of = OUT_JSON;
            else return cli_bad(cmd, "--format '%s': expected table, csv or json", v);
        } else if (cli_is(&p, "--page")) {
            if (cli_u64(&p, 1, 1ull << 24, &o->st.q.page)) return 2;
        } else if (cli_is(&p, "--hw")) {
            o->st.hw = v;
        } else if (cli_is(&p, "--noncausal")) {
            o->st.q.noncausal = true;
        } else if (cli_is(&p, "--mtp")) {
            if (cli_u64(&p, 0, 64, &o->st.q.mtp)) return 2;
        } else if (cli_is(&p, "--mla-form")) {
            o->st.mla_form = v;
        } else if (cli_is(&p, "--time")) {
            if (strcmp(v, "model") && strcmp(v, "roofline")) return cli_bad(cmd, "--time '%s': expected model or roofline", v);
            o->time = v;
        }
    }
    if (r < 0) return 2;
    if (o->st.q.noncausal && o->st.q.phase != PH_PREFILL) return cli_bad(cmd, "--noncausal applies to --phase prefill only");
    if (o->st.q.mtp && o->st.q.phase != PH_DECODE) return cli_bad(cmd, "--mtp applies to --phase decode only");
    if (o->time && !o->st.hw) return cli_bad(cmd, "--time %s needs --hw (a hardware profile)", o->time);
    return 0;
}

/* --time: the time model when asked for or, by default, when the profile has
 * measured curves (and the step is one the model prices: no --mtp). */
static int choose_time(const char *cmd, opts *o, const hw_profile *hw)
{
    static char why[160];
    if (o->time) {
        if (!strcmp(o->time, "model") && !hw->curves.present)
            return cli_bad(cmd, "--time model: profile %s has no measured curves (`curves:`; `kvsim probe` or `kvsim calibrate` "
                           "writes them); use --time roofline", hw->name);
        if (!strcmp(o->time, "model") && o->st.q.mtp)
            return cli_bad(cmd, "--time model does not price --mtp steps (no operation list for the drafts); use --time roofline");
        o->st.time = o->time;
        o->st.time_why = "--time";
    } else if (hw->curves.present && !o->st.q.mtp) {
        o->st.time = "model";
        snprintf(why, sizeof why, "default: profile %s has measured curves", hw->name);
        o->st.time_why = why;
    } else {
        o->st.time = "roofline";
        snprintf(why, sizeof why, "default: %s", hw->curves.present ? "the time model does not price --mtp"
                                                              : "the profile has no measured curves");
        o->st.time_why = why;
    }
    return 0;
}

/* The time model's rows for item i: the operation list of the same
 * evaluation, priced with the profile's curves (tmodel.h). */
static int time_rows(const opts *o, const model_spec *m, const hw_profile *hw, out_tm *tm)
{
    sim_err e;
    cost_result r;
    cost_ops ops = {0};
    int rc = cost_eval_ops(m, &o->st.q, &r, &ops, &e);
    if (!rc) {
        tm->types = calloc((size_t)r.n_types, sizeof *tm->types);
        tm->layers = o->st.by_layer ? calloc((size_t)r.n_layers + 1, sizeof *tm->layers) : NULL;
        if (!tm->types || (o->st.by_layer && !tm->layers)) rc = sim_fail(&e, SIM_ENOMEM, "out of memory");
        else rc = tm_rows(&hw->curves, &ops, &r, tm->types, tm->layers, &tm->total, &e);
        cost_result_free(&r);
    }
    cost_ops_free(&ops);
    if (rc) fprintf(stderr, "kvsim: %s: time model: %s\n", m->name, e.msg);
    return rc ? 2 : 0;
}

static void free_all(model_spec *ms, cost_result *rs, int n)
{
    for (int j = 0; j < n; j++) { cost_result_free(&rs[j]); spec_free(&ms[j]); }
}

static int load_all(const opts *o, model_spec *ms, cost_result *rs, out_item *it)
{
    sim_err e;
    int with_form = 0;
    for (int i = 0; i < o->n_files; i++) {
        int rc = cli_load_spec(&ms[i], o->files[i], o->sets, o->st.n_sets, &e), n = 0;
        /* --mla-form: every layer that has an mla_form; an error if no spec has one */
        if (!rc && o->st.mla_form && (rc = spec_set_choice(&ms[i], "mla_form", o->st.mla_form, &n, &e))) spec_free(&ms[i]);
        with_form += n > 0;
        if (!rc && o->st.mla_form && i == o->n_files - 1 && !with_form) {
            rc = sim_fail(&e, SIM_EINVAL, "--mla-form: no layer of %s has an mla_form (mla and dsa layers do)",
                          o->n_files > 1 ? "these specs" : ms[i].name);
            spec_free(&ms[i]);
        }
        if (!rc) {
            rc = cost_eval(&ms[i], &o->st.q, &rs[i], &e);
            if (rc) spec_free(&ms[i]);
        }
        if (rc) {
            fprintf(stderr, "kvsim: %s\n", e.msg);
            free_all(ms, rs, i);
            return 2;
        }
        it[i] = (out_item){.m = &ms[i], .r = &rs[i]};
    }
    return 0;
}

static int cost_or_compare(const char *cmd, int argc, char **argv, bool compare)
{
    opts o;
    int rc = parse_opts(cmd, argc, argv, &o);
    if (rc) return rc;
    if (!compare && o.n_files != 1) return cli_bad(cmd, "cost takes exactly one spec (got %d)", o.n_files);
    if (compare && o.n_files < 2) return cli_bad(cmd, "compare takes two or more specs (got %d)", o.n_files);
    static model_spec ms[MAX_ARCHS];
    static cost_result rs[MAX_ARCHS];
    static out_item it[MAX_ARCHS];
    static hw_profile hw;
    static out_tm tms[MAX_ARCHS];
    if (o.st.hw) {   /* before the specs: a bad profile name fails fast */
        sim_err e;
        if (hw_load(&hw, o.st.hw, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
        o.st.hw_path = hw.path;
        if ((rc = choose_time(cmd, &o, &hw))) return rc;
    }
    if ((rc = load_all(&o, ms, rs, it))) return rc;
    bool model = o.st.time && !strcmp(o.st.time, "model");
    for (int i = 0; o.st.hw && i < o.n_files; i++) {
        it[i].hw = &hw;
        it[i].fit_ctx = cost_fit_ctx(&ms[i], o.st.q.B, hw.memory_bytes);
        memset(&tms[i], 0, sizeof tms[i]);
        if (model && !rc) {
            rc = time_rows(&o, &ms[i], &hw, &tms[i]);
            it[i].tm = &tms[i];
        }
    }
    if (rc) goto done;
    bool dep = cli_deploy_given(&o.dep);
    /* cost --mtp N drafts N tokens per step: the deployment's engines
     * reserve for the same speculative decoding */
    if (dep && o.st.q.mtp && !o.dep.spec_tokens) o.dep.spec_tokens = o.st.q.mtp;
    if (dep && (rc = cli_deploy_attach(&o.dep, o.st.hw ? &hw : NULL, o.st.q.T, it, o.n_files))) goto done;
    if (compare) out_compare(stdout, it, o.n_files, &o.st, o.of);
    else out_cost(stdout, it, &o.st, o.of);
    if (dep && o.of == OUT_TABLE) cli_deploy_table(stdout, it, o.n_files, o.st.hw ? &hw : NULL, o.st.q.T);
    rc = fflush(stdout) ? 2 : 0;
done:
    for (int i = 0; o.st.hw && i < o.n_files; i++) {
        free(tms[i].types);
        free(tms[i].layers);
    }
    free_all(ms, rs, o.n_files);
    return rc;
}

int cli_cost(int argc, char **argv) { return cost_or_compare("cost", argc, argv, false); }
int cli_compare(int argc, char **argv) { return cost_or_compare("compare", argc, argv, true); }

int cli_check(int argc, char **argv)
{
    opts o;
    int rc = parse_opts("check", argc, argv, &o), worst = 0;
    if (rc) return rc;
    if (!o.n_files) return cli_bad("check", "check takes one or more specs");
    for (int i = 0; i < o.n_files; i++) {
        model_spec m;
        sim_err e;
        if (cli_load_spec(&m, o.files[i], o.sets, o.st.n_sets, &e)) {
            fprintf(stderr, "kvsim: %s\n", e.msg);
            worst = 2;
            continue;
        }
        int shared = 0;
        for (u64 l = 0; l < m.n_layers; l++) shared += m.layer[l].shared_kv;
        printf("ok  %s: %s, %llu layer%s (", o.files[i], m.name, (unsigned long long)m.n_layers, m.n_layers == 1 ? "" : "s");
        bool first = true;
        for (int k = 0; k < m.n_kinds; k++) {
            int c = 0;
            for (u64 l = 0; l < m.n_layers; l++) c += m.layer[l].kind == k;
            if (!c) continue;   /* a kind only the MTP block uses (V4-Pro's swa) */
            printf("%s%d %s", first ? "" : ", ", c, m.kind_name[k]);
            first = false;
        }
        if (m.mtp_n) printf("; %llu MTP module%s of kind %s", (unsigned long long)m.mtp_n, m.mtp_n == 1 ? "" : "s",
                            m.kind_name[m.mtp.kind]);
        printf(")%s", shared ? "" : "\n");
        if (shared) printf(", %d reuse%s an earlier layer's KV cache\n", shared, shared == 1 ? "s" : "");
        spec_free(&m);
    }
    return worst;
}
