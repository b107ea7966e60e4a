/* scenario.c - scenario files; see scenario.h. */
#include "scenario.h"
#include "ytree.h"
#include "spec.h"
#include "spec_any.h"
#include "units.h"
#include "paths.h"
#include "hw.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

const char *const plot_kind_name[PLOT_KIND_COUNT] = {
    "kv_vs_context", "types_at_ctx", "sharing_saved", "compression", "fit_context", "measured", "capacity",
    "per_device_memory"};

#define POS(n) yt_pos((n), pos, sizeof pos)

static int keys_ok(const ynode *map, const char *const *allowed, const char *where, sim_err *e)
{
    char pos[300];
    if (map->kind != YT_MAP) return sim_fail(e, SIM_EINVAL, "%s: %s must be a mapping", POS(map), where);
    for (size_t i = 0; i < map->n; i += 2) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++) ok |= !strcmp(*a, map->kid[i]->str);
        if (!ok) return sim_fail(e, SIM_EINVAL, "%s: unknown key '%s' in %s", POS(map->kid[i]), map->kid[i]->str, where);
    }
    return SIM_OK;
}

static int text(const ynode *n, char *out, size_t len, const char *what, sim_err *e)
{
    char pos[300];
    const char *s;
    int rc = yt_str(n, &s, e);
    if (rc) return rc;
    if (!*s || strlen(s) >= len) return sim_fail(e, SIM_EINVAL, "%s: %s must be 1-%zu characters", POS(n), what, len - 1);
    strcpy(out, s);
    return SIM_OK;
}

static int ctx_value(const ynode *n, u64 *out, sim_err *e)
{
    char pos[300];
    const char *s;
    int rc = yt_str(n, &s, e);
    if (rc) return rc;
    sim_err sub;
    if (units_parse_ctx(s, out, &sub)) return sim_fail(e, SIM_EINVAL, "%s: %s", POS(n), sub.msg);
    return SIM_OK;
}

static int list_of(const ynode *n, const char *what, sim_err *e)
{
    char pos[300];
    if (n->kind != YT_SEQ || n->n == 0) return sim_fail(e, SIM_EINVAL, "%s: %s must be a non-empty list", POS(n), what);
    return SIM_OK;
}

static int parse_contexts(scenario *s, const ynode *n, sim_err *e)
{
    char pos[300];
    int rc;
    if (n->kind == YT_SEQ) {
        if ((rc = list_of(n, "contexts", e))) return rc;
        if (n->n > SC_MAX_CTX) return sim_fail(e, SIM_EINVAL, "%s: at most %d contexts", POS(n), SC_MAX_CTX);
        for (size_t i = 0; i < n->n; i++)
            if ((rc = ctx_value(n->kid[i], &s->ctx[s->n_ctx++], e))) return rc;
        return SIM_OK;
    }
    /* {from, to, per_octave}: from * 2^(i/per_octave), rounded, up to `to` (included). */
    static const char *const k[] = {"from", "to", "per_octave", NULL};
    if ((rc = keys_ok(n, k, "contexts", e))) return rc;
    u64 from, to, per = 1;
    if (!yt_get(n, "from") || !yt_get(n, "to"))
        return sim_fail(e, SIM_EINVAL, "%s: contexts needs `from:` and `to:` (or a list)", POS(n));
    if ((rc = ctx_value(yt_get(n, "from"), &from, e)) || (rc = ctx_value(yt_get(n, "to"), &to, e))) return rc;
    if (yt_get(n, "per_octave") && (rc = yt_u64(yt_get(n, "per_octave"), &per, e))) return rc;
    if (per == 0 || per > 16) return sim_fail(e, SIM_EINVAL, "%s: per_octave must be 1-16", POS(yt_get(n, "per_octave")));
    if (from > to) return sim_fail(e, SIM_EINVAL, "%s: from > to", POS(n));
    for (int i = 0;; i++) {
        double v = (double)from * pow(2.0, (double)i / (double)per);
        u64 c = (u64)llround(v);
        if (c >= to) { s->ctx[s->n_ctx++] = to; break; }
        if (s->n_ctx == SC_MAX_CTX - 1) return sim_fail(e, SIM_EINVAL, "%s: more than %d contexts", POS(n), SC_MAX_CTX);
        if (s->n_ctx == 0 || c != s->ctx[s->n_ctx - 1]) s->ctx[s->n_ctx++] = c;
    }
    return SIM_OK;
}

static int parse_axis(scenario *s, const ynode *n, sim_err *e)
{
    char pos[300];
    int rc;
    static const char *const k[] = {"path", "values", "archs", NULL};
    if ((rc = keys_ok(n, k, "a sweep axis", e))) return rc;
    if (s->n_axes == SC_MAX_AXES) return sim_fail(e, SIM_EINVAL, "%s: at most %d sweep axes", POS(n), SC_MAX_AXES);
    sc_axis *a = &s->axis[s->n_axes];
    if (!yt_get(n, "path") || !yt_get(n, "values"))
        return sim_fail(e, SIM_EINVAL, "%s: a sweep axis needs `path:` and `values:`", POS(n));
    if ((rc = text(yt_get(n, "path"), a->path, sizeof a->path, "path", e))) return rc;
    const ynode *v = yt_get(n, "values");
    if ((rc = list_of(v, "values", e))) return rc;
    if (v->n > SC_MAX_VALUES) return sim_fail(e, SIM_EINVAL, "%s: at most %d values", POS(v), SC_MAX_VALUES);
    for (size_t i = 0; i < v->n; i++) {
        if ((rc = text(v->kid[i], a->value[a->n_values++], sizeof a->value[0], "a value", e))) return rc;
        if (scenario_deploy_path(a->path)) {
            sc_deploy probe;
            sim_err sub;
            deploy_cfg_default(&probe.d);
            if (scenario_deploy_set(&probe, a->path, a->value[a->n_values - 1], &sub))
                return sim_fail(e, SIM_EINVAL, "%s: %s", POS(v->kid[i]), sub.msg);
        }
    }
    const ynode *ar = yt_get(n, "archs");
    if (ar) {
        if ((rc = list_of(ar, "archs", e))) return rc;
        if (ar->n > SC_MAX_ARCHS) return sim_fail(e, SIM_EINVAL, "%s: too many archs", POS(ar));
        for (size_t i = 0; i < ar->n; i++)
            if ((rc = text(ar->kid[i], a->arch[a->n_archs++], sizeof a->arch[0], "an arch name", e))) return rc;
    }
    s->n_axes++;
    return SIM_OK;
}

static int parse_plot(scenario *s, const ynode *n, sim_err *e)
{
    char pos[300], kind[64];
    int rc;
    static const char *const k[] = {"kind", "title", "axis", "ctx", "phase", "budgets_gb", "deploy", NULL};
    if ((rc = keys_ok(n, k, "a plot", e))) return rc;
    if (s->n_plots == SC_MAX_PLOTS) return sim_fail(e, SIM_EINVAL, "%s: at most %d plots", POS(n), SC_MAX_PLOTS);
    sc_plot *p = &s->plot[s->n_plots];
    memset(p, 0, sizeof *p);
    if (!yt_get(n, "kind")) return sim_fail(e, SIM_EINVAL, "%s: a plot needs `kind:`", POS(n));
    if ((rc = text(yt_get(n, "kind"), kind, sizeof kind, "kind", e))) return rc;
    int found = -1;
    for (int i = 0; i < PLOT_KIND_COUNT; i++)
        if (!strcmp(kind, plot_kind_name[i])) found = i;
    if (found < 0)
        return sim_fail(e, SIM_EINVAL, "%s: unknown plot kind '%s' (kv_vs_context, types_at_ctx, sharing_saved, "
                        "compression, fit_context, measured, capacity, per_device_memory)", POS(yt_get(n, "kind")), kind);
    p->kind = (plot_kind)found;
    if (yt_get(n, "title") && (rc = text(yt_get(n, "title"), p->title, sizeof p->title, "title", e))) return rc;
    if (yt_get(n, "axis") && (rc = text(yt_get(n, "axis"), p->axis, sizeof p->axis, "axis", e))) return rc;
    p->ctx = 1 << 20;
    if (yt_get(n, "ctx") && (rc = ctx_value(yt_get(n, "ctx"), &p->ctx, e))) return rc;
    p->ph = PH_DECODE;
    if (yt_get(n, "phase")) {
        const char *ph;
        if ((rc = yt_str(yt_get(n, "phase"), &ph, e))) return rc;
        if (!strcmp(ph, "prefill")) p->ph = PH_PREFILL;
        else if (strcmp(ph, "decode")) return sim_fail(e, SIM_EINVAL, "%s: phase is decode or prefill", POS(yt_get(n, "phase")));
        bool swept = false;
        for (int i = 0; i < s->n_phases; i++) swept |= s->phases[i] == p->ph;
        if (!swept)
            return sim_fail(e, SIM_EINVAL, "%s: plot phase '%s' is not one of the scenario's `phases:`", POS(yt_get(n, "phase")), ph);
    }
    const ynode *b = yt_get(n, "budgets_gb");
    if (b) {
        if ((rc = list_of(b, "budgets_gb", e))) return rc;
        if (b->n > 8) return sim_fail(e, SIM_EINVAL, "%s: at most 8 budgets", POS(b));
        for (size_t i = 0; i < b->n; i++) {
            char *end;
            const char *t;
            if ((rc = yt_str(b->kid[i], &t, e))) return rc;
            double g = strtod(t, &end);
            if (*end || !(g > 0 && g < 1e9)) return sim_fail(e, SIM_EINVAL, "%s: a budget is a positive number of GB", POS(b->kid[i]));
            p->budget_gb[p->n_budgets++] = g;
        }
    } else {
        p->budget_gb[0] = 24, p->budget_gb[1] = 80, p->budget_gb[2] = 141;   /* RTX 4090, H100, H200 */
        p->n_budgets = 3;
    }
    p->deploy_idx = -1;
    if (p->kind == PLOT_CAPACITY || p->kind == PLOT_PER_DEVICE_MEMORY) {
        if (!s->n_deploy)
            return sim_fail(e, SIM_EINVAL, "%s: plot '%s' needs a `deploy:` block", POS(n), kind);
        const ynode *dn = yt_get(n, "deploy");
        if (dn) {
            const char *want;
            if ((rc = yt_str(dn, &want, e))) return rc;
            for (int i = 0; i < s->n_deploy; i++)
                if (!strcmp(s->deploy[i].label, want)) p->deploy_idx = i;
            if (p->deploy_idx < 0)
                return sim_fail(e, SIM_EINVAL, "%s: no deployment named '%s' in `deploy:`", POS(dn), want);
        }
        if (p->axis[0] && !scenario_deploy_path(p->axis))
            return sim_fail(e, SIM_EINVAL, "%s: a %s plot's axis is a deployment path (deploy.tp, engine.block, ...)",
                            POS(n), kind);
    } else if (yt_get(n, "deploy")) {
        return sim_fail(e, SIM_EINVAL, "%s: `deploy:` applies to capacity and per_device_memory plots", POS(yt_get(n, "deploy")));
    }
    if (p->kind == PLOT_TYPES_AT_CTX || p->kind == PLOT_SHARING_SAVED || p->kind == PLOT_COMPRESSION) {
        /* The plot's context must be one the sweep computes (never the
         * nearest one in its place). */
        bool swept = false;
        for (int i = 0; i < s->n_ctx; i++) swept |= s->ctx[i] == p->ctx;
        if (!swept) {
            char list[600] = "", c[32];
            for (int i = 0; i < s->n_ctx && strlen(list) < sizeof list - 40; i++) {
                units_commas(s->ctx[i], c, sizeof c);
                size_t o = strlen(list);
                snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", c);
            }
            units_commas(p->ctx, c, sizeof c);
            const ynode *at = yt_get(n, "ctx") ? yt_get(n, "ctx") : n;
            return sim_fail(e, SIM_EINVAL, "%s: plot '%s' at ctx %s%s: not one of the scenario's contexts (%s)", POS(at), kind, c,
                            yt_get(n, "ctx") ? "" : " (the default; give `ctx:`)", list);
        }
    }
    if ((p->kind == PLOT_SHARING_SAVED || p->kind == PLOT_COMPRESSION)) {
        bool ok = false;
        for (int i = 0; i < s->n_axes; i++) ok |= !strcmp(s->axis[i].path, p->axis);
        if (!ok) return sim_fail(e, SIM_EINVAL, "%s: plot '%s' needs `axis:` naming one of the sweep paths", POS(n), kind);
    }
    s->n_plots++;
    return SIM_OK;
}

static int parse(scenario *s, const ynode *root, sim_err *e)
{
    char pos[300];
    int rc;
    static const char *const k[] = {"name", "title", "notes", "archs", "contexts", "phases", "batches", "sweep",
                                    "product", "plots", "measured", "deploy", NULL};
    if ((rc = keys_ok(root, k, "a scenario", e))) return rc;
    if (!yt_get(root, "name")) return sim_fail(e, SIM_EINVAL, "%s: missing `name:`", POS(root));
    if ((rc = text(yt_get(root, "name"), s->name, sizeof s->name, "name", e))) return rc;
    strcpy(s->title, s->name);
    if (yt_get(root, "title") && (rc = text(yt_get(root, "title"), s->title, sizeof s->title, "title", e))) return rc;
    const ynode *a = yt_get(root, "archs");
    if (!a) return sim_fail(e, SIM_EINVAL, "%s: missing `archs:` (a list of spec files)", POS(root));
    if ((rc = list_of(a, "archs", e))) return rc;
    if (a->n > SC_MAX_ARCHS) return sim_fail(e, SIM_EINVAL, "%s: at most %d archs", POS(a), SC_MAX_ARCHS);
    for (size_t i = 0; i < a->n; i++)
        if ((rc = text(a->kid[i], s->arch[s->n_archs++], sizeof s->arch[0], "an arch path", e))) return rc;
    const ynode *c = yt_get(root, "contexts");
    if (!c) return sim_fail(e, SIM_EINVAL, "%s: missing `contexts:`", POS(root));
    if ((rc = parse_contexts(s, c, e))) return rc;
    const ynode *ph = yt_get(root, "phases");
    if (ph) {
        if ((rc = list_of(ph, "phases", e))) return rc;
        for (size_t i = 0; i < ph->n; i++) {
            const char *t;
            if ((rc = yt_str(ph->kid[i], &t, e))) return rc;
            if (s->n_phases == 2) return sim_fail(e, SIM_EINVAL, "%s: at most decode and prefill", POS(ph->kid[i]));
            if (!strcmp(t, "decode")) s->phases[s->n_phases++] = PH_DECODE;
            else if (!strcmp(t, "prefill")) s->phases[s->n_phases++] = PH_PREFILL;
            else return sim_fail(e, SIM_EINVAL, "%s: phase '%s' is not decode or prefill", POS(ph->kid[i]), t);
        }
    } else {
        s->phases[s->n_phases++] = PH_DECODE;
    }
    const ynode *b = yt_get(root, "batches");
    if (b) {
        if ((rc = list_of(b, "batches", e))) return rc;
        if (b->n > SC_MAX_BATCH) return sim_fail(e, SIM_EINVAL, "%s: at most %d batches", POS(b), SC_MAX_BATCH);
        for (size_t i = 0; i < b->n; i++) {
            if ((rc = yt_u64(b->kid[i], &s->batch[s->n_batch], e))) return rc;
            if (s->batch[s->n_batch] == 0 || s->batch[s->n_batch] > (1ull << 32))
                return sim_fail(e, SIM_EINVAL, "%s: a batch is 1 to 2^32", POS(b->kid[i]));
            s->n_batch++;
        }
    } else {
        s->batch[s->n_batch++] = 1;
    }
    if (yt_get(root, "product") && (rc = yt_bool(yt_get(root, "product"), &s->product, e))) return rc;
    const ynode *sw = yt_get(root, "sweep");
    if (sw) {
        if ((rc = list_of(sw, "sweep", e))) return rc;
        for (size_t i = 0; i < sw->n; i++)
            if ((rc = parse_axis(s, sw->kid[i], e))) return rc;
    }
    const ynode *dp = yt_get(root, "deploy");
    if (dp && (rc = scenario_parse_deploy(s, dp, e))) return rc;
    const ynode *pl = yt_get(root, "plots");
    if (pl) {
        if ((rc = list_of(pl, "plots", e))) return rc;
        for (size_t i = 0; i < pl->n; i++)
            if ((rc = parse_plot(s, pl->kid[i], e))) return rc;
    }
    const ynode *me = yt_get(root, "measured");
    if (me) {
        static const char *const mk[] = {"scale", "layers", "contexts", "profile", "seed", NULL};
        if ((rc = keys_ok(me, mk, "measured", e))) return rc;
        s->measure_scale = 0, s->measure_layers = 4, s->measure_seed = 1;   /* scale 0 = auto */
        const ynode *sc = yt_get(me, "scale");
        if (sc && !(sc->kind == YT_SCALAR && !strcmp(sc->str, "auto")) && (rc = yt_u64(sc, &s->measure_scale, e))) return rc;
        if (yt_get(me, "layers") && (rc = yt_u64(yt_get(me, "layers"), &s->measure_layers, e))) return rc;
        if (yt_get(me, "seed") && (rc = yt_u64(yt_get(me, "seed"), &s->measure_seed, e))) return rc;
        if (yt_get(me, "profile") && (rc = text(yt_get(me, "profile"), s->measure_profile, sizeof s->measure_profile, "profile", e))) return rc;
        if (s->measure_layers == 0 || s->measure_layers > 4096 || s->measure_scale > 4096)
            return sim_fail(e, SIM_EINVAL, "%s: measured layers must be 1-4096 and scale 'auto' or 1-4096", POS(me));
        const ynode *mc = yt_get(me, "contexts");
        if (!mc) return sim_fail(e, SIM_EINVAL, "%s: measured needs `contexts:`", POS(me));
        if ((rc = list_of(mc, "measured contexts", e))) return rc;
        if (mc->n > 16) return sim_fail(e, SIM_EINVAL, "%s: at most 16 measured contexts", POS(mc));
        for (size_t i = 0; i < mc->n; i++) {
            if ((rc = ctx_value(mc->kid[i], &s->measure_ctx[s->n_measure_ctx], e))) return rc;
            if (s->measure_ctx[s->n_measure_ctx] > 65536)
                return sim_fail(e, SIM_EINVAL, "%s: measured contexts run real kernels: at most 64k tokens", POS(mc->kid[i]));
            s->n_measure_ctx++;
        }
    }
    return SIM_OK;
}

/* Every entry that names something must name something that exists:
 * each arch loads (paths relative to the scenario file), each axis `archs:`
 * filter names one of them, each axis value applies to every arch it is
 * applied to, and the measured profile loads. Errors carry the entry's
 * file:line:col. */
static int check_refs(scenario *s, const ynode *root, sim_err *e)
{
    char pos[300];
    int rc = SIM_OK;
    const ynode *an = yt_get(root, "archs"), *sw = yt_get(root, "sweep");
    static char names[SC_MAX_ARCHS][128];
    for (int i = 0; i < s->n_archs; i++) {
        char full[sizeof s->arch[0]];
        if (sim_path_rel_to(s->path, s->arch[i], full, sizeof full))
            return sim_fail(e, SIM_EINVAL, "%s: arch path too long", POS(an->kid[i]));
        memcpy(s->arch[i], full, sizeof full);
        model_spec m;
        sim_err sub;
        if ((rc = spec_load_any(&m, s->arch[i], NULL, 0, &sub)))
            return sim_fail(e, rc, "%s: arch %d (%s, relative to the scenario file): %s", POS(an->kid[i]), i + 1, s->arch[i], sub.msg);
        snprintf(names[i], sizeof names[i], "%s", m.name);
        spec_free(&m);
    }
    for (int x = 0; x < s->n_axes; x++) {
        const sc_axis *ax = &s->axis[x];
        const ynode *xn = sw->kid[x], *fn = yt_get(xn, "archs");
        if (scenario_deploy_path(ax->path)) continue;   /* varies deployments, not specs */
        for (int k = 0; k < ax->n_archs; k++) {
            bool found = false;
            for (int i = 0; i < s->n_archs; i++) found |= !strcmp(ax->arch[k], names[i]);
            if (found) continue;
            char list[1024] = "";
            for (int i = 0; i < s->n_archs; i++) {
                size_t o = strlen(list);
                snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
            }
            return sim_fail(e, SIM_EINVAL, "%s: sweep %s: no arch named '%s' in this scenario (archs: %s)",
                            POS(fn->kid[k]), ax->path, ax->arch[k], list);
        }
        for (int i = 0; i < s->n_archs; i++) {
            bool applies = ax->n_archs == 0;
            for (int k = 0; k < ax->n_archs; k++) applies |= !strcmp(ax->arch[k], names[i]);
            if (!applies) continue;
            for (int v = 0; v < ax->n_values; v++) {
                char set[192];
                const char *sets[1] = {set};
                model_spec t;
                sim_err sub;
                snprintf(set, sizeof set, "%s=%s", ax->path, ax->value[v]);
                if ((rc = spec_load_any(&t, s->arch[i], sets, 1, &sub)))
                    return sim_fail(e, rc, "%s: sweep %s on %s: %s", POS(xn), set, names[i], sub.msg);
                spec_free(&t);
            }
        }
    }
    const ynode *me = yt_get(root, "measured"), *pn = me ? yt_get(me, "profile") : NULL;
    if (pn) {
        /* A name is a shipped profile; a path is relative to the scenario file. */
        if (strchr(s->measure_profile, '/') || strstr(s->measure_profile, ".yaml")) {
            char full[sizeof s->measure_profile];
            if (sim_path_rel_to(s->path, s->measure_profile, full, sizeof full))
                return sim_fail(e, SIM_EINVAL, "%s: profile path too long", POS(pn));
            memcpy(s->measure_profile, full, sizeof full);
        }
        hw_profile hw;
        sim_err sub;
        if ((rc = hw_load(&hw, s->measure_profile, &sub))) return sim_fail(e, rc, "%s: measured profile: %s", POS(pn), sub.msg);
    }
    return SIM_OK;
}

/* Check a parsed tree (taking ownership of root) and everything it names. */
static int load_tree(scenario *s, ynode *root, sim_err *e)
{
    int rc = parse(s, root, e);
    if (!rc) rc = check_refs(s, root, e);
    yt_free(root);
    return rc;
}

int scenario_load(scenario *s, const char *path, sim_err *e)
{
    ynode *root;
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    int rc = yt_load_file(path, &root, e);
    if (rc) return rc;
    if ((rc = load_tree(s, root, e))) return rc;
    FILE *f = fopen(path, "rb");
    if (f) {
        s->yaml_text = malloc(YT_MAX_BYTES + 1);
        if (s->yaml_text) s->yaml_text[fread(s->yaml_text, 1, YT_MAX_BYTES, f)] = 0;
        fclose(f);
    }
    return SIM_OK;
}

int scenario_load_text(scenario *s, const char *text, size_t len, const char *name, sim_err *e)
{
    ynode *root;
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", name);
    if (len > YT_MAX_BYTES)
        return sim_fail(e, SIM_EINVAL, "%s:1:1: %zu bytes; scenarios larger than %u bytes are refused", name, len, YT_MAX_BYTES);
    int rc = yt_load_string(text, len, name, &root, e);
    if (rc) return rc;
    if ((rc = load_tree(s, root, e))) return rc;
    s->yaml_text = malloc(len + 1);
    if (!s->yaml_text) return sim_fail(e, SIM_ENOMEM, "out of memory");
    memcpy(s->yaml_text, text, len);
    s->yaml_text[len] = 0;
    return SIM_OK;
}

void scenario_free(scenario *s)
{
    free(s->yaml_text);
    s->yaml_text = NULL;
}
