/* report_plots.c - the plot kinds drawn from the points of a sweep: KV cache
 * vs context, layer types at one context, a sweep axis (sharing saved,
 * compression), and the longest context that fits a budget. See
 * report_impl.h. */
#include "report_impl.h"
#include "plot.h"
#include "units.h"
#include <stdlib.h>
#include <string.h>

/* A multi-axis sweep's plots name their slice: which values the axes not
 * plotted hold. The plots of the specs as written say so. */
static const char *as_written_note(const rep *r)
{
    return r->s->n_axes ? " (specs as written)" : "";
}

static void ctx_tics(FILE *g, const scenario *s)
{
    fputs("set xtics (", g);
    bool first = true;
    for (u64 c = 1024; c <= s->ctx[s->n_ctx - 1] * 2; c *= 4) {
        if (c < s->ctx[0] / 2) continue;
        char n[32];
        rep_ctx_name(c, n, sizeof n);
        fprintf(g, "%s'%s' %llu", first ? "" : ", ", n, (unsigned long long)c);
        first = false;
    }
    fputs(")\n", g);
}

/* The table's contexts: the grid contexts nearest to 1K, 4K, 32K, 128K and
 * 1M (those inside the grid), and the largest. */
static int table_contexts(const scenario *s, u64 *out)
{
    static const u64 want[] = {1u << 10, 1u << 12, 1u << 15, 1u << 17, 1u << 20};
    int n = 0;
    for (int k = 0; k < 5; k++) {
        if (want[k] < s->ctx[0] / 2 || want[k] > s->ctx[s->n_ctx - 1] * 2) continue;
        u64 c = rep_nearest_ctx(s, want[k]);
        if (!n || out[n - 1] != c) out[n++] = c;
    }
    u64 last = s->ctx[s->n_ctx - 1];
    if (!n || out[n - 1] != last) out[n++] = last;
    return n;
}

/* ---- KV cache vs context ---------------------------------------------- */

static int kv_csv(rep *r, const char *slug, rep_range *rg)
{
    rep_file d;
    int rc = rep_open(r, &d, slug, "csv");
    if (rc) return rc;
    fputs("ctx_tokens", d.f);
    for (int i = 0; i < r->nv; i++)
        if (rep_as_written(r, i)) {
            char l[300], lab[300];
            rep_variant_label(&r->v[i], l, sizeof l);
            rep_csv_label(l, lab, sizeof lab);
            fprintf(d.f, ",%s_GB", lab);
        }
    fputc('\n', d.f);
    for (int c = 0; c < r->s->n_ctx && !rc; c++) {
        fprintf(d.f, "%llu", (unsigned long long)r->s->ctx[c]);
        for (int i = 0; i < r->nv && !rc; i++) {
            if (!rep_as_written(r, i)) continue;
            cost_t t;
            if (!(rc = rep_get(r, &r->v[i], r->s->ctx[c], PH_DECODE, &t))) {
                fprintf(d.f, ",%.9g", t.kv_bytes / 1e9);
                rep_range_add(rg, t.kv_bytes / 1e9);
            }
        }
        fputc('\n', d.f);
    }
    return rep_close(r, &d, rc);
}

static int kv_table(rep *r)
{
    u64 cols[8];
    int nc = table_contexts(r->s, cols), rc = SIM_OK;
    /* One unit per column, from the column's largest value. */
    double div[8];
    const char *unit[8];
    for (int k = 0; k < nc; k++) {
        double mx = 0;
        for (int i = 0; i < r->nv; i++) {
            cost_t t;
            if (!rep_as_written(r, i)) continue;
            if ((rc = rep_get(r, &r->v[i], cols[k], PH_DECODE, &t))) return rc;
            if (t.kv_bytes > mx) mx = (double)t.kv_bytes;
        }
        unit[k] = rep_byte_unit(mx, &div[k]);
    }
    fputs("\n| arch |", r->md);
    for (int k = 0; k < nc; k++) { char n[32]; rep_ctx_name(cols[k], n, sizeof n); fprintf(r->md, " %s (%s) |", n, unit[k]); }
    fputs("\n|---|", r->md);
    for (int k = 0; k < nc; k++) fputs("---:|", r->md);
    fputc('\n', r->md);
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        fputs("| ", r->md);
        rep_md_text(r->md, r->v[i].m.name);
        fputs(" |", r->md);
        for (int k = 0; k < nc; k++) {
            cost_t t;
            if ((rc = rep_get(r, &r->v[i], cols[k], PH_DECODE, &t))) return rc;
            fprintf(r->md, " %.4g |", t.kv_bytes / div[k]);
        }
        fputc('\n', r->md);
    }
    return SIM_OK;
}

int plot_kv_vs_context(rep *r, const sc_plot *p, const char *slug)
{
    rep_range rg = {0, 0};
    int rc = kv_csv(r, slug, &rg);
    if (rc) return rc;
    for (int b = 0; b < p->n_budgets; b++) rep_range_add(&rg, p->budget_gb[b]);
    char title[300];
    snprintf(title, sizeof title, "%s%s", rep_title(p, "KV cache per sequence vs context (decode, batch 1)"), as_written_note(r));
    rep_file g;
    if ((rc = rep_gp_open(r, &g, slug, title))) return rc;
    fputs("set logscale x 2\nset logscale y 10\nset xlabel 'context (tokens)'\nset ylabel 'KV cache (GB = 1e9 bytes)'\n", g.f);
    ctx_tics(g.f, r->s);
    rep_log_tics(g.f, "y", rg.lo, rg.hi);
    fputs("plot ", g.f);
    int col = 2;
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        char l[300];
        rep_variant_label(&r->v[i], l, sizeof l);
        fprintf(g.f, "%s'%s.csv' skip 1 using 1:%d with linespoints lw 2 lc rgb '%s' title ", col > 2 ? ", " : "", slug, col,
                rep_series_color(col - 2));
        plot_quote(g.f, l);
        col++;
    }
    for (int b = 0; b < p->n_budgets; b++)
        fprintf(g.f, ", %g with lines dashtype 2 lw 1 title '%g GB budget'", p->budget_gb[b], p->budget_gb[b]);
    fputc('\n', g.f);
    if ((rc = rep_gp_close(r, &g, slug, SIM_OK))) return rc;
    fputs("\n### ", r->md);
    rep_md_text(r->md, title);
    fputs("\n\nPer sequence, decode, logical bytes (decimal units: GB = 10^9 B). Dashed lines: memory budgets.\n", r->md);
    if ((rc = kv_table(r))) return rc;
    rep_md_links(r, slug, "KV cache vs context");
    return SIM_OK;
}

/* ---- layer types at one context ------------------------------------------ */

/* The layer types of the archs as written at ctx (union, first-seen order);
 * for the KV plot only those that hold a cache. */
static int types_union(rep *r, u64 ctx, phase ph, bool flops, char names[][48], int max, int *nn)
{
    *nn = 0;
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        char key[320];
        type_row rows[40];
        int n, rc;
        sweep_point_key(&r->v[i], ctx, ph, r->s->batch[0], key, sizeof key);
        if ((rc = store_get_types(r->db, key, rows, 40, &n, r->e))) return rc;
        for (int k = 0; k < n; k++) {
            if (!flops && rows[k].kv_bytes == 0) continue;
            bool seen = false;
            for (int j = 0; j < *nn; j++) seen |= !strcmp(names[j], rows[k].name);
            if (!seen && *nn < max) snprintf(names[(*nn)++], 48, "%.47s", rows[k].name);
        }
    }
    return SIM_OK;
}

/* One arch's value of each type (0 when it has none), and the total. */
static int types_row(rep *r, const variant *v, u64 ctx, phase ph, bool flops, char names[][48], int nn, double *val)
{
    char key[320];
    type_row rows[40];
    int n, rc;
    sweep_point_key(v, ctx, ph, r->s->batch[0], key, sizeof key);
    if ((rc = store_get_types(r->db, key, rows, 40, &n, r->e))) return rc;
    if (n == 0)
        return sim_fail(r->e, SIM_EINVAL, "no per-type rows for %s at ctx %llu: run kvsim sweep %s first", v->m.name,
                        (unsigned long long)ctx, r->s->path);
    for (int j = 0; j < nn; j++) {
        val[j] = 0;
        for (int k = 0; k < n; k++)
            if (!strcmp(rows[k].name, names[j])) val[j] = flops ? rows[k].flops_fp8eq_x2 / 2e9 : rows[k].kv_bytes / 1e9;
    }
    return SIM_OK;
}

static int plot_types(rep *r, const sc_plot *p, const char *slug, int flops)
{
    u64 ctx = rep_nearest_ctx(r->s, p->ctx);
    char names[32][48];
    int nn, rc;
    if ((rc = types_union(r, ctx, p->ph, flops, names, 32, &nn))) return rc;
    rep_file d;
    if ((rc = rep_open(r, &d, slug, "csv"))) return rc;
    fputs("arch", d.f);
    for (int j = 0; j < nn; j++) { char lab[64]; rep_csv_label(names[j], lab, sizeof lab); fprintf(d.f, ",%s", lab); }
    fputc('\n', d.f);
    for (int i = 0; i < r->nv && !rc; i++) {
        if (!rep_as_written(r, i)) continue;
        char l[300], lab[300];
        double val[32];
        if ((rc = types_row(r, &r->v[i], ctx, p->ph, flops, names, nn, val))) break;
        rep_variant_label(&r->v[i], l, sizeof l);
        rep_csv_label(l, lab, sizeof lab);
        fputs(lab, d.f);
        for (int j = 0; j < nn; j++) fprintf(d.f, ",%.9g", val[j]);
        fputc('\n', d.f);
    }
    if ((rc = rep_close(r, &d, rc))) return rc;
    char cn[32], title[300];
    rep_ctx_name(ctx, cn, sizeof cn);
    snprintf(title, sizeof title, "%s by layer type at %s tokens (%s)%s", flops ? "FP8-equivalent FLOPs" : "KV cache", cn,
             p->ph == PH_PREFILL ? "prefill" : "decode, one token", as_written_note(r));
    if (p->title[0]) snprintf(title, sizeof title, "%s: %s%s", p->title, flops ? "FP8-equivalent FLOPs" : "KV cache", as_written_note(r));
    rep_file g;
    if ((rc = rep_gp_open(r, &g, slug, title))) return rc;
    fprintf(g.f, "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.85 border -1\n"
                 "set boxwidth 0.7\nset xtics rotate by 25 right\nset xrange [-0.6:*]\nset ylabel '%s'\n",
            flops ? "FP8-equivalent GFLOP (1e9)" : "KV cache (GB = 1e9 bytes)");
    fputs("plot ", g.f);
    for (int j = 0; j < nn; j++) {
        fprintf(g.f, "%s'%s.csv' skip 1 using %d%s lc rgb '%s' title ", j ? ", " : "", slug, j + 2, j ? "" : ":xtic(1)",
                rep_type_color(r, names[j]));
        plot_quote(g.f, names[j]);
    }
    fputc('\n', g.f);
    if ((rc = rep_gp_close(r, &g, slug, SIM_OK))) return rc;
    fputs("\n### ", r->md);
    rep_md_text(r->md, title);
    /* The shares beside the bars: a 6 MB part of a 6 GB bar is invisible in
     * the plot and 0.1% here. */
    fprintf(r->md, "\n\nShare of each arch's total by layer type (%%); the total in %s.\n\n| arch | total |",
            flops ? "GFLOP (FP8-equivalent, 1e9)" : "GB (1e9 B)");
    for (int j = 0; j < nn; j++) { fputc(' ', r->md); rep_md_text(r->md, names[j]); fputs(" |", r->md); }
    fputs("\n|---|---:|", r->md);
    for (int j = 0; j < nn; j++) fputs("---:|", r->md);
    fputc('\n', r->md);
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        double val[32], tot = 0;
        if ((rc = types_row(r, &r->v[i], ctx, p->ph, flops, names, nn, val))) return rc;
        for (int j = 0; j < nn; j++) tot += val[j];
        fputs("| ", r->md);
        rep_md_text(r->md, r->v[i].m.name);
        fprintf(r->md, " | %.4g |", tot);
        for (int j = 0; j < nn; j++) {
            if (val[j] == 0) fputs(" 0 |", r->md);
            else fprintf(r->md, " %.3g |", tot > 0 ? 100 * val[j] / tot : 0);
        }
        fputc('\n', r->md);
    }
    rep_md_links(r, slug, title);
    return SIM_OK;
}

/* The two parts slug-kv and slug-flops of a kind drawn by fn in two modes. */
static int kv_and_flops(rep *r, const sc_plot *p, const char *slug, int (*fn)(rep *, const sc_plot *, const char *, int),
                        int kv_mode, int flops_mode)
{
    char sub[128];
    snprintf(sub, sizeof sub, "%s-kv", slug);
    int rc = fn(r, p, sub, kv_mode);
    if (rc) return rc;
    snprintf(sub, sizeof sub, "%s-flops", slug);
    return fn(r, p, sub, flops_mode);
}

int plot_types_at_ctx(rep *r, const sc_plot *p, const char *slug)
{
    return kv_and_flops(r, p, slug, plot_types, 0, 1);
}

/* ---- a sweep axis ------------------------------------------------------------ */

/* The other axes' values on a plot of axis ax for arch a: with product:
 * true, each at the value the spec has as written (or the first value when
 * that is not swept); one axis at a time, as written (-1). */
static void axis_slice(const rep *r, int a, int ax, int *slice)
{
    for (int x = 0; x < r->s->n_axes; x++)
        slice[x] = x == ax || !r->s->product ? -1 : r->written_idx[a][x] >= 0 ? r->written_idx[a][x] : 0;
}

/* The variant of arch a with axis ax at value val and the others at slice. */
static int find_variant(const rep *r, int a, int ax, int val, const int *slice)
{
    for (int i = 0; i < r->nv; i++) {
        const variant *v = &r->v[i];
        if (v->arch != a || v->value_idx[ax] != val) continue;
        bool match = true;
        for (int x = 0; x < r->s->n_axes; x++)
            if (x != ax && v->value_idx[x] != (v->value_idx[x] < 0 ? -1 : slice[x])) match = false;
        if (match) return i;
    }
    return -1;
}

/* The slice of arch a as text: "path=value (as written), ..." ("" when no
 * other axis applies); *all_written tells whether every value is the spec's. */
static void slice_text(const rep *r, int a, int ax, const int *slice, char *out, size_t len, bool *all_written)
{
    size_t o = 0;
    out[0] = 0;
    *all_written = true;
    for (int x = 0; x < r->s->n_axes; x++) {
        bool applies = false;   /* does axis x apply to this arch? */
        for (int i = 0; i < r->nv; i++) applies |= r->v[i].arch == a && r->v[i].value_idx[x] >= 0;
        if (x == ax || !applies || o + 1 >= len) continue;
        if (slice[x] < 0) o += (size_t)snprintf(out + o, len - o, "%s%s as written", o ? ", " : "", r->s->axis[x].path);
        else {
            bool w = r->written_idx[a][x] == slice[x];
            *all_written &= w;
            o += (size_t)snprintf(out + o, len - o, "%s%s=%s%s", o ? ", " : "", r->s->axis[x].path, r->s->axis[x].value[slice[x]],
                                  w ? " (as written)" : " (first value; the spec's own is not swept)");
        }
    }
}

typedef enum { AX_SAVED, AX_KV, AX_FLOPS } axis_mode;

static int axis_csv(rep *r, int ax, u64 ctx, phase ph, axis_mode mode, const int *archs, int na, const char *slug, rep_range *rg)
{
    const scenario *s = r->s;
    rep_file d;
    int rc = rep_open(r, &d, slug, "csv");
    if (rc) return rc;
    fputs("value", d.f);
    for (int k = 0; k < na; k++) { char lab[300]; rep_csv_label(r->v[archs[k]].m.name, lab, sizeof lab); fprintf(d.f, ",%s", lab); }
    fputc('\n', d.f);
    for (int val = 0; val < s->axis[ax].n_values && !rc; val++) {
        fprintf(d.f, "%s", s->axis[ax].value[val]);
        for (int k = 0; k < na && !rc; k++) {
            int a = r->v[archs[k]].arch, slice[SC_MAX_AXES];
            axis_slice(r, a, ax, slice);
            int hi = find_variant(r, a, ax, val, slice), lo = find_variant(r, a, ax, 0, slice);
            cost_t t, t0;
            if (hi < 0) { fputs(",", d.f); continue; }
            if ((rc = rep_get(r, &r->v[hi], ctx, ph, &t))) break;
            double y;
            if (mode == AX_SAVED) {
                if ((rc = rep_get(r, &r->v[lo], ctx, ph, &t0))) break;
                y = ((double)t0.kv_bytes - (double)t.kv_bytes) / 1e9;
            } else {
                y = mode == AX_KV ? t.kv_bytes / 1e9 : t.flops_fp8eq_x2 / 2e9;
            }
            fprintf(d.f, ",%.9g", y);
            rep_range_add(rg, y);
        }
        fputc('\n', d.f);
    }
    return rep_close(r, &d, rc);
}

static int plot_axis(rep *r, const sc_plot *p, const char *slug, int mode)
{
    const scenario *s = r->s;
    int ax = -1;
    for (int x = 0; x < s->n_axes; x++) if (!strcmp(s->axis[x].path, p->axis)) ax = x;
    u64 ctx = rep_nearest_ctx(s, p->ctx);
    phase ph = mode == AX_FLOPS ? PH_DECODE : p->ph;
    /* Archs with this axis (one line each), their slice stated. */
    int archs[SC_MAX_ARCHS], na = 0;
    char slices[SC_MAX_ARCHS][400];
    bool same = true, written = true;
    for (int a = 0; a < s->n_archs; a++) {
        int slice[SC_MAX_AXES];
        axis_slice(r, a, ax, slice);
        int i = find_variant(r, a, ax, 0, slice);
        if (i < 0) continue;
        bool w;
        slice_text(r, a, ax, slice, slices[na], sizeof slices[0], &w);
        written &= w;
        same &= !na || !strcmp(slices[na], slices[0]);
        archs[na++] = i;
    }
    if (na == 0) return sim_fail(r->e, SIM_EINVAL, "plot of %s: no arch has this axis", p->axis);
    rep_range rg = {0, 0};
    int rc = axis_csv(r, ax, ctx, ph, mode, archs, na, slug, &rg);
    if (rc) return rc;
    char cn[32], title[600], base[400], note[300] = "";
    rep_ctx_name(ctx, cn, sizeof cn);
    if (mode == AX_SAVED) snprintf(base, sizeof base, "KV cache saved vs %s at %s tokens", p->axis, cn);
    else if (mode == AX_KV) snprintf(base, sizeof base, "KV cache vs %s at %s tokens", p->axis, cn);
    else snprintf(base, sizeof base, "Decode FLOPs (FP8-equivalent) vs %s at %s tokens", p->axis, cn);
    bool any = false;
    for (int k = 0; k < na; k++) any |= slices[k][0] != 0;
    if (any) {
        if (!s->product || written) snprintf(note, sizeof note, " (other axes as written)");
        else if (same) snprintf(note, sizeof note, " (at %.280s)", slices[0]);
        else snprintf(note, sizeof note, " (other axes fixed per arch: see index.md)");
    }
    if (!p->title[0]) snprintf(title, sizeof title, "%.400s%s", base, note);
    else if (mode == AX_SAVED) snprintf(title, sizeof title, "%.400s%s", p->title, note);
    else snprintf(title, sizeof title, "%.300s: %s%s", p->title, mode == AX_KV ? "KV cache" : "decode FLOPs (FP8-equivalent)", note);
    rep_file g;
    if ((rc = rep_gp_open(r, &g, slug, title))) return rc;
    fputs("set xlabel ", g.f);
    plot_quote(g.f, p->axis);
    fprintf(g.f, "\nset ylabel '%s'\n", mode == AX_SAVED ? "KV cache saved (GB = 1e9 bytes)"
                                        : mode == AX_KV ? "KV cache (GB = 1e9 bytes)" : "FP8-equivalent GFLOP per token (1e9)");
    if (mode != AX_SAVED) {
        fputs("set logscale x 2\nset logscale y 10\nset xtics (", g.f);
        for (int val = 0; val < s->axis[ax].n_values; val++) {
            fprintf(g.f, "%s", val ? ", " : "");
            plot_quote(g.f, s->axis[ax].value[val]);
            fprintf(g.f, " %.9g", strtod(s->axis[ax].value[val], NULL));
        }
        fputs(")\n", g.f);
        /* Padded, so that the first and last values keep their labels. */
        double x0 = 0, x1 = 0;
        for (int val = 0; val < s->axis[ax].n_values; val++) {
            double x = strtod(s->axis[ax].value[val], NULL);
            if (x > 0 && (x0 == 0 || x < x0)) x0 = x;
            if (x > x1) x1 = x;
        }
        if (x0 > 0) fprintf(g.f, "set xrange [%.6g:%.6g]\n", x0 / 1.25, x1 * 1.25);
        rep_log_tics(g.f, "y", rg.lo, rg.hi);
    }
    fputs("plot ", g.f);
    for (int k = 0; k < na; k++) {
        fprintf(g.f, "%s'%s.csv' skip 1 using 1:%d smooth unique with linespoints lw 2 pt 7 lc rgb '%s' title ", k ? ", " : "",
                slug, k + 2, rep_series_color(k));
        plot_quote(g.f, r->v[archs[k]].m.name);
    }
    fputc('\n', g.f);
    if ((rc = rep_gp_close(r, &g, slug, SIM_OK))) return rc;
    fputs("\n### ", r->md);
    rep_md_text(r->md, title);
    fputc('\n', r->md);
    if (any) {
        fprintf(r->md, "\nSlice (the other axes' values on this plot%s):\n\n", s->product ? ", product sweep" : "");
        for (int k = 0; k < na; k++) {
            fputs("- ", r->md);
            rep_md_text(r->md, r->v[archs[k]].m.name);
            fputs(": ", r->md);
            rep_md_text(r->md, slices[k][0] ? slices[k] : "no other axis");
            fputc('\n', r->md);
        }
    }
    if (mode == AX_SAVED)
        fputs("\nSaved = the KV cache at the axis's first value minus the KV cache at each value. Sliding-window layers "
              "are capped at their window, so sharing them saves little; see the claims table for the uncapped view.\n", r->md);
    rep_md_links(r, slug, title);
    return SIM_OK;
}

int plot_sharing_saved(rep *r, const sc_plot *p, const char *slug)
{
    return plot_axis(r, p, slug, AX_SAVED);
}

int plot_compression(rep *r, const sc_plot *p, const char *slug)
{
    return kv_and_flops(r, p, slug, plot_axis, AX_KV, AX_FLOPS);
}

/* ---- the longest context that fits ------------------------------------------- */

/* The budgets of a fit plot: the scenario's per-device budgets (GB). The
 * hook for node-level budgets (a deployment's devices x memory): add rows. */
typedef struct { char label[64], column[80]; double bytes; } fit_budget;

static int fit_budgets(const sc_plot *p, fit_budget *out, int max)
{
    int n = 0;
    for (int b = 0; b < p->n_budgets && n < max; b++, n++) {
        snprintf(out[n].label, sizeof out[n].label, "%g GB", p->budget_gb[b]);
        snprintf(out[n].column, sizeof out[n].column, "fit_%gGB_tokens", p->budget_gb[b]);
        out[n].bytes = p->budget_gb[b] * 1e9;
    }
    return n;
}

int plot_fit_context(rep *r, const sc_plot *p, const char *slug)
{
    fit_budget bud[16];
    int nb = fit_budgets(p, bud, 16), rc;
    rep_file d;
    if ((rc = rep_open(r, &d, slug, "csv"))) return rc;
    fputs("arch,weights_GB", d.f);
    for (int b = 0; b < nb; b++) { char lab[80]; rep_csv_label(bud[b].column, lab, sizeof lab); fprintf(d.f, ",%s", lab); }
    fputc('\n', d.f);
    char title[300];
    snprintf(title, sizeof title, "%s%s", rep_title(p, "Longest context that fits after the weights (batch 1)"), as_written_note(r));
    fputs("\n### ", r->md);
    rep_md_text(r->md, title);
    fputs("\n\nBatch 1; weights in their stored formats (PLE tables included), in GB (1e9 B); contexts in tokens; "
          "`0` = the weights alone do not fit; searched up to 2^40 tokens.\n\n| arch | weights (GB) |", r->md);
    for (int b = 0; b < nb; b++) fprintf(r->md, " %s |", bud[b].label);
    fputs("\n|---|---:|", r->md);
    for (int b = 0; b < nb; b++) fputs("---:|", r->md);
    fputc('\n', r->md);
    rep_range rg = {0, 0};
    for (int i = 0; i < r->nv; i++) {
        if (!rep_as_written(r, i)) continue;
        char l[300], lab[300];
        rep_variant_label(&r->v[i], l, sizeof l);
        rep_csv_label(l, lab, sizeof lab);
        cost_query q = {.T = 1, .B = 1, .phase = PH_DECODE};
        cost_result res;
        sim_err e2;
        double w = 0;
        if (cost_eval(&r->v[i].m, &q, &res, &e2) == 0) { w = (double)res.total.weight_bytes; cost_result_free(&res); }
        fprintf(d.f, "%s,%.6g", lab, w / 1e9);
        fputs("| ", r->md);
        rep_md_text(r->md, l);
        fprintf(r->md, " | %.4g |", w / 1e9);
        for (int b = 0; b < nb; b++) {
            u64 t = cost_fit_ctx(&r->v[i].m, 1, bud[b].bytes);
            char c[32];
            units_commas(t, c, sizeof c);
            fprintf(d.f, ",%llu", (unsigned long long)t);
            fprintf(r->md, " %s |", c);
            rep_range_add(&rg, (double)t);
        }
        fputc('\n', d.f);
        fputc('\n', r->md);
    }
    if ((rc = rep_close(r, &d, SIM_OK))) return rc;
    /* Points on a log axis, one marker per budget: a bar on a log axis would
     * start at an arbitrary baseline and its length would mean nothing. */
    rep_file g;
    if ((rc = rep_gp_open(r, &g, slug, title))) return rc;
    fputs("set logscale y 2\nset xrange [-0.6:*]\nset offsets 0, 0.6, 0, 0\n"
          "set ylabel 'longest context that fits (tokens; no point = the weights alone do not fit)'\n"
          "set xtics rotate by 25 right\n", g.f);
    if (rg.hi > 0) {
        /* Ticks at powers of 4 from 1K, labelled in K/M/G/T, over the data. */
        u64 lo = 1024, hi = 1024;
        while ((double)lo * 4 <= rg.lo) lo *= 4;
        while ((double)hi < rg.hi && hi < (1ull << 42)) hi *= 4;
        fprintf(g.f, "set yrange [%llu:%llu]\nset ytics (", (unsigned long long)lo / 2, (unsigned long long)hi * 2);
        static const char *const sfx[] = {"K", "M", "G", "T"};
        for (u64 c = lo; c <= hi; c *= 4) {
            int k = 0;
            u64 v = c >> 10;
            while (v >= 1024 && k < 3) { v >>= 10; k++; }
            fprintf(g.f, "%s'%llu%s' %llu", c == lo ? "" : ", ", (unsigned long long)v, sfx[k], (unsigned long long)c);
        }
        fputs(")\n", g.f);
    }
    if (!(rg.hi > 0)) {
        /* Nothing fits: a labelled empty axis (gnuplot refuses a plot with no point). */
        fprintf(g.f, "unset logscale y\nset yrange [0:1]\nset ytics ('0' 0)\nset label 1 'the weights alone exceed every "
                     "budget' at graph 0.5, 0.5 center\nplot '%s.csv' skip 1 using 0:(-1):xtic(1) with points notitle\n", slug);
        if ((rc = rep_gp_close(r, &g, slug, SIM_OK))) return rc;
        rep_md_links(r, slug, "longest context that fits");
        return SIM_OK;
    }
    fputs("plot ", g.f);
    for (int b = 0; b < nb; b++) {
        fprintf(g.f, "%s'%s.csv' skip 1 using 0:($%d > 0 ? $%d : NaN)%s with points pt %d ps 2 lc rgb '%s' title ", b ? ", " : "",
                slug, b + 3, b + 3, b ? "" : ":xtic(1)", 5 + 2 * (b % 4), rep_series_color(b));
        plot_quote(g.f, bud[b].label);
    }
    fputc('\n', g.f);
    if ((rc = rep_gp_close(r, &g, slug, SIM_OK))) return rc;
    rep_md_links(r, slug, "longest context that fits");
    return SIM_OK;
}
