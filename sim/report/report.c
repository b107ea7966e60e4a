/* report.c - see report.h: report_write, the opening sections of index.md
 * (findings, published claims, architectures) and the table of plot kinds.
 * The plots are in report_plots.c and report_measured.c, their shared
 * scaffolding in report_out.c. */
#include "report_impl.h"
#include "plot.h"
#include "claims.h"
#include "units.h"
#include "ytree.h"
#include "paths.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

/* The plot kinds: each writes one .csv + .gp per part (file-name suffixes,
 * NULL-terminated) and its section of index.md. A new kind is a function
 * and a row here. */
typedef struct {
    const char *const *parts;
    int (*write)(rep *r, const sc_plot *p, const char *slug);
} plot_def;

static const char *const one_part[] = {"", NULL}, *const kv_flops[] = {"-kv", "-flops", NULL},
                  *const measured_parts[] = {"-counters", "-time", "-roofline", NULL};
static const plot_def plot_defs[PLOT_KIND_COUNT] = {
    [PLOT_KV_VS_CONTEXT] = {one_part, plot_kv_vs_context},
    [PLOT_TYPES_AT_CTX] = {kv_flops, plot_types_at_ctx},
    [PLOT_SHARING_SAVED] = {one_part, plot_sharing_saved},
    [PLOT_COMPRESSION] = {kv_flops, plot_compression},
    [PLOT_FIT_CONTEXT] = {one_part, plot_fit_context},
    [PLOT_MEASURED] = {measured_parts, plot_measured},
    [PLOT_CAPACITY] = {one_part, plot_capacity},
    [PLOT_PER_DEVICE_MEMORY] = {one_part, plot_per_device_memory},
};
_Static_assert(PLOT_KIND_COUNT == 8, "a plot_defs row per plot kind");

static void plot_base_slug(const sc_plot *p, int k, char *slug, size_t len)
{
    snprintf(slug, len, "%02d-", k + 1);
    plot_slug(plot_kind_name[p->kind], slug + 3, len - 3);
}

/* For each arch and axis, the index of the axis value the spec has as
 * written (the field at the axis path in its YAML), or -1. */
static void find_written_values(rep *r)
{
    const scenario *s = r->s;
    for (int a = 0; a < s->n_archs; a++) {
        ynode *root = NULL;
        sim_err e;
        for (int x = 0; x < s->n_axes; x++) r->written_idx[a][x] = -1;
        if (yt_load_file(s->arch[a], &root, &e)) continue;
        for (int x = 0; x < s->n_axes; x++) {
            char path[128];
            snprintf(path, sizeof path, "%s", s->axis[x].path);
            const ynode *n = root;
            for (char *seg = strtok(path, "."); seg && n; seg = strtok(NULL, "."))
                n = n->kind == YT_MAP ? yt_get(n, seg) : NULL;
            if (!n || n->kind != YT_SCALAR) continue;
            for (int v = 0; v < s->axis[x].n_values; v++) {
                char *end1, *end2;
                double d1 = strtod(n->str, &end1), d2 = strtod(s->axis[x].value[v], &end2);
                bool num = end1 != n->str && !*end1 && end2 != s->axis[x].value[v] && !*end2;
                if (num ? d1 == d2 : !strcmp(n->str, s->axis[x].value[v])) { r->written_idx[a][x] = v; break; }
            }
        }
        yt_free(root);
    }
}

/* The layer types of the archs as written, in a fixed order, so that each
 * has the same colour in every plot. */
static int collect_types(rep *r)
{
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        char key[320];
        type_row rows[40];
        int n, rc;
        sweep_point_key(&r->v[i], r->s->ctx[0], r->s->phases[0], r->s->batch[0], key, sizeof key);
        if ((rc = store_get_types(r->db, key, rows, 40, &n, r->e))) return rc;
        for (int k = 0; k < n; k++) rep_type_color(r, rows[k].name);
    }
    return SIM_OK;
}

/* Bytes in a decimal unit, 3 significant digits ("3.7 GB"). */
static void dec_bytes(u64 b, char *buf, size_t len)
{
    double div;
    const char *u = rep_byte_unit((double)b, &div);
    snprintf(buf, len, "%.3g %s", b / div, u);
}

/* "- LEAD WHO WHAT VAL UNIT, PCT% of OTHER (the WHICH, OVAL)." (the
 * comparison only with more than one arch). */
static void finding(rep *r, const char *lead, const char *who, const char *what, const char *val, const char *unit, int n,
                    double pct, const char *other, const char *which, const char *oval)
{
    fprintf(r->md, "- %s", lead);
    rep_md_text(r->md, who);
    fprintf(r->md, " %s %s%s", what, val, unit);
    if (n > 1) {
        fprintf(r->md, ", %.3g%% of ", pct);
        rep_md_text(r->md, other);
        fprintf(r->md, " (the %s, %s)", which, oval);
    }
    fputs(".\n", r->md);
}

/* Findings at the largest context: each arch's KV cache per sequence (and
 * decode FLOPs per token when the sweep has decode) against the largest. */
static int findings_section(rep *r)
{
    const scenario *s = r->s;
    u64 ctx = s->ctx[s->n_ctx - 1];
    bool decode = false;
    for (int p = 0; p < s->n_phases; p++) decode |= s->phases[p] == PH_DECODE;
    int idx[SC_MAX_ARCHS], n = 0, rc;
    cost_t t[SC_MAX_ARCHS], dec[SC_MAX_ARCHS];
    for (int i = 0; i < r->nv && n < SC_MAX_ARCHS; i++) {
        if (!rep_as_written(r, i)) continue;
        if ((rc = rep_get(r, &r->v[i], ctx, decode ? PH_DECODE : s->phases[0], &t[n]))) return rc;
        dec[n] = t[n];
        idx[n++] = i;
    }
    int big = 0, small = 0, most = 0, least = 0;
    for (int k = 1; k < n; k++) {
        if (t[k].kv_bytes > t[big].kv_bytes) big = k;
        if (t[k].kv_bytes < t[small].kv_bytes) small = k;
        if (dec[k].flops_fp8eq_x2 > dec[most].flops_fp8eq_x2) most = k;
        if (dec[k].flops_fp8eq_x2 < dec[least].flops_fp8eq_x2) least = k;
    }
    char cn[32], b1[64], b2[64];
    rep_ctx_name(ctx, cn, sizeof cn);
    fprintf(r->md, "\n## Findings\n\nComputed from the database: specs as written, batch %llu, at the sweep's largest context "
                   "(%s tokens).\n\n", (unsigned long long)s->batch[0], cn);
    dec_bytes(t[small].kv_bytes, b1, sizeof b1);
    dec_bytes(t[big].kv_bytes, b2, sizeof b2);
    finding(r, "", r->v[idx[small]].m.name, "holds the smallest KV cache,", b1, " per sequence", n,
            t[big].kv_bytes ? 100.0 * t[small].kv_bytes / t[big].kv_bytes : 0.0, r->v[idx[big]].m.name, "largest", b2);
    for (int k = 0; k < n && n > 2; k++) {
        if (k == small || k == big) continue;
        dec_bytes(t[k].kv_bytes, b1, sizeof b1);
        fputs("- ", r->md);
        rep_md_text(r->md, r->v[idx[k]].m.name);
        fprintf(r->md, ": %s per sequence, %.3g%% of the largest.\n", b1, 100.0 * t[k].kv_bytes / t[big].kv_bytes);
    }
    if (decode) {
        units_flops_wide(dec[least].flops_fp8eq_x2 / 2, b1, sizeof b1);
        units_flops_wide(dec[most].flops_fp8eq_x2 / 2, b2, sizeof b2);
        finding(r, "Decoding one token: ", r->v[idx[least]].m.name, "needs the fewest FP8-equivalent FLOPs,", b1, "", n,
                dec[most].flops_fp8eq_x2 ? 100.0 * dec[least].flops_fp8eq_x2 / dec[most].flops_fp8eq_x2 : 0.0,
                r->v[idx[most]].m.name, "most", b2);
    }
    return SIM_OK;
}

/* Does the claim (its comma-separated arch names) concern an arch of the report? */
static bool claim_applies(const rep *r, const char *archs)
{
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        size_t l = strlen(r->v[i].m.name);
        for (const char *p = archs; p && *p;) {
            if (!strncmp(p, r->v[i].m.name, l) && (p[l] == ',' || p[l] == 0)) return true;
            p = strchr(p, ',');
            if (p) p++;
        }
    }
    return false;
}

/* One table per unit, so that every column holds one unit. */
static void claims_table(rep *r, const claim_result *c, int n, const char *unit)
{
    bool pct = !strcmp(unit, "%");
    const char *u = !strcmp(unit, "B params") ? "billion parameters" : !strcmp(unit, "B") ? "bytes" : unit;
    fprintf(r->md, "\n| claim | source | published (%s) | kvsim (%s) | difference (%s) | relative (%%) | note |\n"
                   "|---|---|---:|---:|---:|---:|---|\n", u, u, pct ? "pp" : u);
    for (int i = 0; i < n; i++) {
        if (!claim_applies(r, c[i].archs) || strcmp(c[i].unit, unit)) continue;
        double diff = c[i].kvsim - c[i].published, rel = 100.0 * diff / c[i].published;
        fprintf(r->md, "| %s | %s | %.6g | %.6g | %+.4g | %+.2f | %s |\n", c[i].claim, c[i].source, c[i].published,
                c[i].kvsim, diff, rel, c[i].note ? c[i].note : "");
    }
}

static int claims_section(rep *r, const char *archs_dir)
{
    claim_result c[32];
    sim_err sub;
    int n = claims_eval(archs_dir, c, 32, &sub), shown = 0;
    fputs("\n## Published claims\n\n", r->md);
    if (n < 0) {
        fputs("Not available: ", r->md);
        rep_md_text(r->md, sub.msg);
        fputc('\n', r->md);
        return SIM_OK;
    }
    for (int i = 0; i < n; i++) {
        if (!claim_applies(r, c[i].archs)) continue;
        if (!shown++)
            fputs("The claims about this report's architectures, one table per unit. Difference: kvsim minus published "
                  "(pp: percentage points); relative: that difference as a % of the published value.\n", r->md);
        bool first = true;   /* the first claim in its unit opens the unit's table */
        for (int j = 0; j < i; j++) first &= !(claim_applies(r, c[j].archs) && !strcmp(c[j].unit, c[i].unit));
        if (first) claims_table(r, c, n, c[i].unit);
    }
    if (!shown) fputs("None of the published claims kvsim checks concerns this report's architectures.\n", r->md);
    return SIM_OK;
}

static int archs_section(rep *r)
{
    fputs("\n## Architectures\n\nParameters in M/B/T (10^6/10^9/10^12); weight storage in GB (10^9 bytes), "
          "in the formats of the spec.\n\n| arch | spec | layers | parameters | active parameters | weight storage (GB) |\n"
          "|---|---|---:|---:|---:|---:|\n", r->md);
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        cost_t t;
        int rc = rep_get(r, &r->v[i], r->s->ctx[0], r->s->phases[0], &t);
        if (rc) return rc;
        char a[32], b[32];
        rep_params(t.params, a, sizeof a);
        rep_params(t.params_active, b, sizeof b);
        fputs("| ", r->md);
        rep_md_text(r->md, r->v[i].m.name);
        fputs(" | ", r->md);
        rep_md_text(r->md, r->v[i].m.path);
        fprintf(r->md, " | %llu | %s | %s | %.4g |\n", (unsigned long long)r->v[i].m.n_layers, a, b, t.weight_bytes / 1e9);
    }
    return SIM_OK;
}

static int figures_section(rep *r)
{
    fputs("\n## Figures\n", r->md);
    for (int k = 0; k < r->s->n_plots; k++) {
        const sc_plot *p = &r->s->plot[k];
        char slug[96];
        plot_base_slug(p, k, slug, sizeof slug);
        int rc = plot_defs[p->kind].write(r, p, slug);
        if (rc) return rc;
        for (const char *const *part = plot_defs[p->kind].parts; *part; part++) r->info->plots++;
    }
    return SIM_OK;
}

/* Render every part's script; a gnuplot failure leaves the files and is
 * reported as a warning. */
static void render(rep *r)
{
    if (!plot_have_gnuplot()) { r->info->gnuplot_missing = true; return; }
    for (int k = 0; k < r->s->n_plots; k++) {
        const sc_plot *p = &r->s->plot[k];
        char slug[96], script[128];
        plot_base_slug(p, k, slug, sizeof slug);
        for (const char *const *part = plot_defs[p->kind].parts; *part; part++) {
            snprintf(script, sizeof script, "%s%s.gp", slug, *part);
            sim_err ge;
            if (plot_render(r->dir, script, &ge)) snprintf(r->info->warning, sizeof r->info->warning, "%s", ge.msg);
            else r->info->images += 2;
        }
    }
}

static void header_section(rep *r, const char *db_path, const char *version)
{
    fputs("# ", r->md);
    rep_md_text(r->md, r->s->title);
    fprintf(r->md, "\n\nGenerated by kvsim %s from `", version);
    rep_md_text(r->md, r->s->path);
    fputs("` and the database `", r->md);
    rep_md_text(r->md, db_path);
    fputs("`. Every figure has its data (.csv) and gnuplot script (.gp) beside it.\n", r->md);
}

int report_write(const scenario *s, const char *db_path, const char *out_dir, const char *archs_dir,
                 const char *version, report_info *info, sim_err *e)
{
    rep r = {.s = s, .dir = out_dir, .info = info, .e = e};
    memset(info, 0, sizeof *info);
    int rc;
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s/.index.md.tmp", out_dir);
    snprintf(info->index_path, sizeof info->index_path, "%s/index.md", out_dir);
    if ((rc = sweep_variants(s, &r.v, &r.nv, e))) return rc;
    find_written_values(&r);
    if ((rc = store_open(&r.db, db_path, true, e)) || (rc = sim_mkdir_p(out_dir, e)) || (rc = collect_types(&r))) goto out;
    r.md = fopen(tmp, "w");
    if (!r.md) { rc = sim_fail(e, SIM_EIO, "%s: cannot write: %s", tmp, strerror(errno)); goto out; }
    header_section(&r, db_path, version);
    if ((rc = findings_section(&r)) || (rc = claims_section(&r, archs_dir)) || (rc = archs_section(&r)) ||
        (rc = figures_section(&r)))
        goto out;
    if (ferror(r.md) | fclose(r.md)) { r.md = NULL; rc = sim_fail(e, SIM_EIO, "%s: write failed (disk full?)", tmp); goto out; }
    r.md = NULL;
    render(&r);   /* after the text is complete */
    if (rename(tmp, info->index_path)) rc = sim_fail(e, SIM_EIO, "%s: cannot rename: %s", info->index_path, strerror(errno));
out:
    if (r.md) { fclose(r.md); remove(tmp); }
    store_close(r.db);
    sweep_variants_free(r.v, r.nv);
    return rc;
}
