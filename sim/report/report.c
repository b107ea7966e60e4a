/* report.c - see report.h. */
#include "report.h"
#include "sweep.h"
#include "store.h"
#include "plot.h"
#include "claims.h"
#include "output.h"
#include "paths.h"
#include "units.h"
#include "deploy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

typedef struct {
    const scenario *s;
    store *db;
    variant *v;
    int nv;
    const char *dir;
    FILE *md;
    report_info *info;
    sim_err *e;
} rep;

/* A label safe inside a CSV field and a gnuplot data column: no commas,
 * quotes or control characters. */
static void csv_label(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++) {
        unsigned char c = (unsigned char)*s;
        out[o++] = (c < 0x20 || c == ',' || c == '"' || c == '\'' || c == '`' || c == 0x7f || c == ' ') ? '_' : (char)c;
    }
    out[o] = 0;
}

/* Markdown table cell: no pipes, no newlines, no HTML. */
static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '|') fputs("\\|", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c < 0x20) fputc(' ', f);
        else fputc(c, f);
    }
}

static void variant_label(const rep *r, const variant *v, char *out, size_t len)
{
    (void)r;
    if (v->params[0]) snprintf(out, len, "%.100s [%.150s]", v->m.name, v->params);
    else snprintf(out, len, "%s", v->m.name);
}

/* Each arch's spec as written (no sweep values applied). */
static bool first_variant(const rep *r, int i)
{
    return r->v[i].params[0] == 0;
}

static int get(rep *r, const variant *v, u64 ctx, phase ph, cost_t *t)
{
    char key[320];
    bool found;
    u64 eff;
    sweep_point_key(v, ctx, ph, r->s->batch[0], key, sizeof key);
    int rc = store_get_point(r->db, key, t, &eff, &found, r->e);
    if (rc) return rc;
    if (!found)
        return sim_fail(r->e, SIM_EINVAL, "the database has no point for %s [%s] at ctx %llu %s: run kvsim sweep %s "
                        "with the same --db first", v->m.name, v->params, (unsigned long long)ctx,
                        ph == PH_PREFILL ? "prefill" : "decode", r->s->path);
    return SIM_OK;
}

static u64 nearest_ctx(const scenario *s, u64 want)
{
    u64 best = s->ctx[0];
    for (int i = 0; i < s->n_ctx; i++)
        if ((s->ctx[i] > want ? s->ctx[i] - want : want - s->ctx[i]) < (best > want ? best - want : want - best)) best = s->ctx[i];
    return best;
}

static void ctx_name(u64 c, char *buf, size_t len)
{
    if (c >= (1u << 20) && c % (1u << 20) == 0) snprintf(buf, len, "%lluM", (unsigned long long)(c >> 20));
    else if (c >= 1024 && c % 1024 == 0) snprintf(buf, len, "%lluK", (unsigned long long)(c >> 10));
    else snprintf(buf, len, "%llu", (unsigned long long)c);
}

static FILE *open_out(rep *r, const char *name)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    FILE *f = fopen(path, "w");
    if (!f) sim_fail(r->e, SIM_EIO, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

static int close_out(rep *r, FILE *f, const char *name)
{
    if (ferror(f) | fclose(f)) return sim_fail(r->e, SIM_EIO, "%s/%s: write failed (disk full?)", r->dir, name);
    return SIM_OK;
}

/* Distinct colours for series (gnuplot's default cycle repeats after 8). */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                                      "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#843c39",
                                      "#7b4173", "#3182bd"};
#define COLOR(i) palette[(i) % 16]

/* Script header and footer: PNG then SVG of the same plot. */
static void gp_begin(FILE *g, const char *slug, const char *title)
{
    fprintf(g, "# kvsim plot; re-draw with: gnuplot %s.gp (in this directory)\n", slug);
    fprintf(g, "set datafile separator ','\nset terminal pngcairo size 1100,680 noenhanced font 'DejaVu Sans,11'\n");
    fprintf(g, "set output '%s.png'\nset key outside right top\nset grid\nset title ", slug);
    plot_quote(g, title);
    fputc('\n', g);
}

static void gp_end(FILE *g, const char *slug)
{
    fprintf(g, "set terminal svg size 1100,680 noenhanced font 'DejaVu Sans,11'\nset output '%s.svg'\nreplot\nunset output\n", slug);
}

static void ctx_tics(FILE *g, const scenario *s)
{
    fputs("set xtics (", g);
    bool first = true;
    for (u64 c = 1024; c <= s->ctx[s->n_ctx - 1] * 2; c *= 4) {
        if (c < s->ctx[0] / 2) continue;
        char n[32];
        ctx_name(c, n, sizeof n);
        fprintf(g, "%s'%s' %llu", first ? "" : ", ", n, (unsigned long long)c);
        first = false;
    }
    fputs(")\n", g);
}

static int finish_plot(rep *r, const char *slug, const char *what)
{
    r->info->plots++;
    fprintf(r->md, "\n![%s](%s.png)\n\n[SVG](%s.svg) · data [%s.csv](%s.csv) · script [%s.gp](%s.gp)\n", what, slug, slug,
            slug, slug, slug, slug);
    return SIM_OK;
}

/* ---- plots ----------------------------------------------------------------- */

static int plot_kv_vs_context(rep *r, const sc_plot *p, const char *slug)
{
    char name[160];
    snprintf(name, sizeof name, "%s.csv", slug);
    FILE *d = open_out(r, name);
    if (!d) return SIM_EIO;
    fputs("ctx_tokens", d);
    for (int i = 0; i < r->nv; i++)
        if (first_variant(r, i)) { char l[300], lab[300]; variant_label(r, &r->v[i], l, sizeof l); csv_label(l, lab, sizeof lab); fprintf(d, ",%s_GB", lab); }
    fputc('\n', d);
    int rc = SIM_OK;
    for (int c = 0; c < r->s->n_ctx && !rc; c++) {
        fprintf(d, "%llu", (unsigned long long)r->s->ctx[c]);
        for (int i = 0; i < r->nv && !rc; i++) {
            if (!first_variant(r, i)) continue;
            cost_t t;
            if (!(rc = get(r, &r->v[i], r->s->ctx[c], PH_DECODE, &t))) fprintf(d, ",%.9g", t.kv_bytes / 1e9);
        }
        fputc('\n', d);
    }
    if (rc) { fclose(d); return rc; }
    if ((rc = close_out(r, d, name))) return rc;
    snprintf(name, sizeof name, "%s.gp", slug);
    FILE *g = open_out(r, name);
    if (!g) return SIM_EIO;
    gp_begin(g, slug, p->title[0] ? p->title : "KV cache per sequence vs context (decode, batch 1)");
    fputs("set logscale x 2\nset logscale y 10\nset xlabel 'context (tokens)'\nset ylabel 'KV cache (GB = 1e9 bytes)'\n", g);
    ctx_tics(g, r->s);
    fputs("plot ", g);
    int col = 2;
    for (int i = 0; i < r->nv; i++) {
        if (!first_variant(r, i)) continue;
        char l[300];
        variant_label(r, &r->v[i], l, sizeof l);
        fprintf(g, "%s'%s.csv' skip 1 using 1:%d with linespoints lw 2 lc rgb '%s' title ", col > 2 ? ", " : "", slug, col, COLOR(col - 2));
        plot_quote(g, l);
        col++;
    }
    for (int b = 0; b < p->n_budgets; b++) fprintf(g, ", %g with lines dashtype 2 lw 1 title '%g GB budget'", p->budget_gb[b], p->budget_gb[b]);
    fputc('\n', g);
    gp_end(g, slug);
    if ((rc = close_out(r, g, name))) return rc;
    fputs("\n### KV cache vs context\n\nPer sequence, decode, logical bytes (GB = 10^9 B). Dashed lines: memory budgets.\n\n| arch |", r->md);
    int cols[6], nc = 0;
    for (int c = 0; c < r->s->n_ctx && nc < 6; c += (r->s->n_ctx + 4) / 5) cols[nc++] = c;
    if (cols[nc - 1] != r->s->n_ctx - 1) cols[nc - 1 < 5 ? nc++ : nc - 1] = r->s->n_ctx - 1;
    for (int k = 0; k < nc; k++) { char n[32]; ctx_name(r->s->ctx[cols[k]], n, sizeof n); fprintf(r->md, " %s |", n); }
    fputs("\n|---|", r->md);
    for (int k = 0; k < nc; k++) fputs("---:|", r->md);
    fputc('\n', r->md);
    for (int i = 0; i < r->nv; i++) {
        if (!first_variant(r, i)) continue;
        char l[300];
        variant_label(r, &r->v[i], l, sizeof l);
        fputs("| ", r->md);
        md_text(r->md, l);
        fputs(" |", r->md);
        for (int k = 0; k < nc; k++) {
            cost_t t;
            if ((rc = get(r, &r->v[i], r->s->ctx[cols[k]], PH_DECODE, &t))) return rc;
            char b[64];
            units_bytes(t.kv_bytes, b, sizeof b);
            fprintf(r->md, " %s |", b);
        }
        fputc('\n', r->md);
    }
    return finish_plot(r, slug, "KV cache vs context");
}

static int plot_types(rep *r, const sc_plot *p, const char *slug, bool flops)
{
    u64 ctx = nearest_ctx(r->s, p->ctx);
    char names[32][48];
    int nn = 0, rc = SIM_OK;
    /* Union of the layer types over the archs, in first-seen order. */
    for (int i = 0; i < r->nv; i++) {
        if (!first_variant(r, i)) continue;
        char key[320];
        type_row rows[40];
        int n;
        sweep_point_key(&r->v[i], ctx, p->ph, r->s->batch[0], key, sizeof key);
        if ((rc = store_get_types(r->db, key, rows, 40, &n, r->e))) return rc;
        for (int k = 0; k < n; k++) {
            if (!flops && rows[k].kv_bytes == 0) continue;
            bool seen = false;
            for (int j = 0; j < nn; j++) seen |= !strcmp(names[j], rows[k].name);
            if (!seen && nn < 32) snprintf(names[nn++], sizeof names[0], "%.47s", rows[k].name);
        }
    }
    char name[160];
    snprintf(name, sizeof name, "%s.csv", slug);
    FILE *d = open_out(r, name);
    if (!d) return SIM_EIO;
    fputs("arch", d);
    for (int j = 0; j < nn; j++) { char lab[64]; csv_label(names[j], lab, sizeof lab); fprintf(d, ",%s", lab); }
    fputc('\n', d);
    for (int i = 0; i < r->nv && !rc; i++) {
        if (!first_variant(r, i)) continue;
        char key[320], l[300], lab[300];
        type_row rows[40];
        int n;
        sweep_point_key(&r->v[i], ctx, p->ph, r->s->batch[0], key, sizeof key);
        if ((rc = store_get_types(r->db, key, rows, 40, &n, r->e))) break;
        if (n == 0) { rc = sim_fail(r->e, SIM_EINVAL, "no per-type rows for %s at ctx %llu: run kvsim sweep %s first", r->v[i].m.name, (unsigned long long)ctx, r->s->path); break; }
        variant_label(r, &r->v[i], l, sizeof l);
        csv_label(l, lab, sizeof lab);
        fputs(lab, d);
        for (int j = 0; j < nn; j++) {
            double val = 0;
            for (int k = 0; k < n; k++)
                if (!strcmp(rows[k].name, names[j])) val = flops ? rows[k].flops_fp8eq_x2 / 2e9 : rows[k].kv_bytes / 1e9;
            fprintf(d, ",%.9g", val);
        }
        fputc('\n', d);
    }
    if (rc) { fclose(d); return rc; }
    if ((rc = close_out(r, d, name))) return rc;
    snprintf(name, sizeof name, "%s.gp", slug);
    FILE *g = open_out(r, name);
    if (!g) return SIM_EIO;
    char cn[32], title[300];
    ctx_name(ctx, cn, sizeof cn);
    snprintf(title, sizeof title, "%s by layer type at %s tokens (%s)", flops ? "FP8-equivalent FLOPs" : "KV cache", cn,
             p->ph == PH_PREFILL ? "prefill" : "decode, one token");
    gp_begin(g, slug, p->title[0] ? p->title : title);
    fprintf(g, "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.85 border -1\n"
               "set boxwidth 0.7\nset xtics rotate by 25 right\nset xrange [-0.6:*]\nset ylabel '%s'\n",
            flops ? "FP8-equivalent GFLOP (1e9)" : "KV cache (GB = 1e9 bytes)");
    fputs("plot ", g);
    for (int j = 0; j < nn; j++) {
        fprintf(g, "%s'%s.csv' skip 1 using %d%s lc rgb '%s' title ", j ? ", " : "", slug, j + 2, j ? "" : ":xtic(1)", COLOR(j));
        plot_quote(g, names[j]);
    }
    fputc('\n', g);
    gp_end(g, slug);
    if ((rc = close_out(r, g, name))) return rc;
    fprintf(r->md, "\n### %s\n", title);
    return finish_plot(r, slug, title);
}

/* The variant of arch `a` with axis `ax` at value `val` and the other axes as
 * written (or, with product: true, at their first value); -1 if none. */
static int find_variant(const rep *r, int a, int ax, int val)
{
    for (int i = 0; i < r->nv; i++) {
        const variant *v = &r->v[i];
        if (v->arch != a || v->value_idx[ax] != val) continue;
        bool others = true;
        for (int x = 0; x < r->s->n_axes; x++)
            if (x != ax && v->value_idx[x] > (r->s->product ? 0 : -1)) others = false;
        if (others) return i;
    }
    return -1;
}

/* Sweeps: one line per applicable arch, x = the axis value. */
static int plot_axis(rep *r, const sc_plot *p, const char *slug, int mode /* 0 saved, 1 kv, 2 flops */)
{
    const scenario *s = r->s;
    int ax = -1;
    for (int x = 0; x < s->n_axes; x++) if (!strcmp(s->axis[x].path, p->axis)) ax = x;
    u64 ctx = nearest_ctx(s, p->ctx);
    phase ph = mode == 2 ? PH_DECODE : p->ph;
    char name[160];
    snprintf(name, sizeof name, "%s.csv", slug);
    FILE *d = open_out(r, name);
    if (!d) return SIM_EIO;
    /* Archs with this axis: their variant at the axis's first value. */
    int arch_first[SC_MAX_ARCHS], na = 0;
    for (int a = 0; a < s->n_archs; a++) {
        int i = find_variant(r, a, ax, 0);
        if (i >= 0) arch_first[na++] = i;
    }
    if (na == 0) { fclose(d); return sim_fail(r->e, SIM_EINVAL, "plot of %s: no arch has this axis", p->axis); }
    fputs("value", d);
    for (int k = 0; k < na; k++) { char lab[300]; csv_label(r->v[arch_first[k]].m.name, lab, sizeof lab); fprintf(d, ",%s", lab); }
    fputc('\n', d);
    int rc = SIM_OK;
    for (int val = 0; val < s->axis[ax].n_values && !rc; val++) {
        fprintf(d, "%s", s->axis[ax].value[val]);
        for (int k = 0; k < na && !rc; k++) {
            const variant *base = &r->v[arch_first[k]];
            int hi = find_variant(r, base->arch, ax, val);
            const variant *hit = hi >= 0 ? &r->v[hi] : NULL;
            cost_t t, t0;
            if (!hit) { fputs(",", d); continue; }
            if ((rc = get(r, hit, ctx, ph, &t))) break;
            if (mode == 0) {
                if ((rc = get(r, base, ctx, ph, &t0))) break;
                fprintf(d, ",%.9g", ((double)t0.kv_bytes - (double)t.kv_bytes) / 1e9);
            } else if (mode == 1) {
                fprintf(d, ",%.9g", t.kv_bytes / 1e9);
            } else {
                fprintf(d, ",%.9g", t.flops_fp8eq_x2 / 2e9);
            }
        }
        fputc('\n', d);
    }
    if (rc) { fclose(d); return rc; }
    if ((rc = close_out(r, d, name))) return rc;
    snprintf(name, sizeof name, "%s.gp", slug);
    FILE *g = open_out(r, name);
    if (!g) return SIM_EIO;
    char cn[32], title[400];
    ctx_name(ctx, cn, sizeof cn);
    if (mode == 0) snprintf(title, sizeof title, "KV cache saved vs %s at %s tokens", p->axis, cn);
    else if (mode == 1) snprintf(title, sizeof title, "KV cache vs %s at %s tokens", p->axis, cn);
    else snprintf(title, sizeof title, "Decode FLOPs (FP8-equivalent) vs %s at %s tokens", p->axis, cn);
    gp_begin(g, slug, p->title[0] && mode != 2 ? p->title : title);
    fputs("set xlabel ", g);
    plot_quote(g, p->axis);
    fprintf(g, "\nset ylabel '%s'\n", mode == 0 ? "KV cache saved (GB = 1e9 bytes)" : mode == 1 ? "KV cache (GB = 1e9 bytes)" : "FP8-equivalent GFLOP per token (1e9)");
    if (mode != 0) fputs("set logscale x 2\nset logscale y 10\n", g);
    fputs("plot ", g);
    for (int k = 0; k < na; k++) {
        fprintf(g, "%s'%s.csv' skip 1 using 1:%d smooth unique with linespoints lw 2 pt 7 lc rgb '%s' title ", k ? ", " : "", slug, k + 2, COLOR(k));
        plot_quote(g, r->v[arch_first[k]].m.name);
    }
    fputc('\n', g);
    gp_end(g, slug);
    if ((rc = close_out(r, g, name))) return rc;
    fprintf(r->md, "\n### %s\n", title);
    if (mode == 0)
        fputs("\nSaved = the KV cache at the axis's first value minus the KV cache at each value. Sliding-window layers "
              "are capped at their window, so sharing them saves little; see the claims table for the uncapped view.\n", r->md);
    return finish_plot(r, slug, title);
}

static int plot_fit(rep *r, const sc_plot *p, const char *slug)
{
    char name[160];
    snprintf(name, sizeof name, "%s.csv", slug);
    FILE *d = open_out(r, name);
    if (!d) return SIM_EIO;
    fputs("arch,weights_GB", d);
    for (int b = 0; b < p->n_budgets; b++) fprintf(d, ",fit_%gGB_tokens", p->budget_gb[b]);
    fputc('\n', d);
    fprintf(r->md, "\n### Longest context that fits a memory budget after the weights\n\nBatch 1; weights in their "
                   "stored formats (PLE tables included); `0` = the weights alone do not fit; searched up to 2^40 tokens.\n\n| arch | weights |");
    for (int b = 0; b < p->n_budgets; b++) fprintf(r->md, " %g GB |", p->budget_gb[b]);
    fputs("\n|---|---:|", r->md);
    for (int b = 0; b < p->n_budgets; b++) fputs("---:|", r->md);
    fputc('\n', r->md);
    for (int i = 0; i < r->nv; i++) {
        if (!first_variant(r, i)) continue;
        char l[300], lab[300], wb[64];
        variant_label(r, &r->v[i], l, sizeof l);
        csv_label(l, lab, sizeof lab);
        cost_query q = {.T = 1, .B = 1, .phase = PH_DECODE};
        cost_result res;
        sim_err e2;
        double w = 0;
        if (cost_eval(&r->v[i].m, &q, &res, &e2) == 0) { w = (double)res.total.weight_bytes; units_bytes(res.total.weight_bytes, wb, sizeof wb); cost_result_free(&res); }
        fprintf(d, "%s,%.6g", lab, w / 1e9);
        fputs("| ", r->md);
        md_text(r->md, l);
        fprintf(r->md, " | %s |", wb);
        for (int b = 0; b < p->n_budgets; b++) {
            u64 t = cost_fit_ctx(&r->v[i].m, 1, p->budget_gb[b] * 1e9);
            char c[32];
            units_commas(t, c, sizeof c);
            fprintf(d, ",%llu", (unsigned long long)t);
            fprintf(r->md, " %s |", c);
        }
        fputc('\n', d);
        fputc('\n', r->md);
    }
    if (close_out(r, d, name)) return SIM_EIO;
    snprintf(name, sizeof name, "%s.gp", slug);
    FILE *g = open_out(r, name);
    if (!g) return SIM_EIO;
    gp_begin(g, slug, p->title[0] ? p->title : "Longest context that fits after the weights (batch 1)");
    fputs("set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
          "set logscale y 2\nset yrange [1024:*]\nset xrange [-0.6:*]\nset ylabel 'context (tokens; no bar = the weights alone do not fit)'\n"
          "set ytics ('1K' 1024, '4K' 4096, '16K' 16384, '64K' 65536, '256K' 262144, '1M' 1048576, '4M' 4194304, "
          "'16M' 16777216, '64M' 67108864, '256M' 268435456, '1G' 1073741824, '4G' 4294967296, '16G' 17179869184, '64G' 68719476736, '1T' 1099511627776)\n"
          "set xtics rotate by 25 right\nplot ", g);
    for (int b = 0; b < p->n_budgets; b++)
        fprintf(g, "%s'%s.csv' skip 1 using ($%d > 0 ? $%d : NaN)%s title '%g GB'", b ? ", " : "", slug, b + 3, b + 3,
                b ? "" : ":xtic(1)", p->budget_gb[b]);
    fputc('\n', g);
    gp_end(g, slug);
    if (close_out(r, g, name)) return SIM_EIO;
    return finish_plot(r, slug, "longest context that fits");
}

typedef struct {
    char key[160];               /* arch|ctx|type|phase */
    double flops, seconds, bytes;
} roof_pt;

typedef struct {
    FILE *counters, *times;
    roof_pt pt[1024];
    int npt;
    double peak, bw;             /* the machine's roof, as stored with the measurements */
    const char *arch;
    int rows, exact, times_n;
    double worst_rel;            /* largest |measured - model| / model over the counters */
    double ratio[512];           /* measured / predicted time, per type row */
} measure_ctx;

/* The point (arch, ctx, type, phase) a row belongs to, created on first use. */
static roof_pt *roof_point(measure_ctx *mc, const measure_row *m)
{
    char key[160];
    const char *dot = strchr(m->counter, '.');
    int phl = dot ? (int)(dot - m->counter) : 0;
    snprintf(key, sizeof key, "%.60s|%llu|%.40s|%.*s", mc->arch, (unsigned long long)m->ctx, m->type, phl, m->counter);
    for (int i = 0; i < mc->npt; i++)
        if (!strcmp(mc->pt[i].key, key)) return &mc->pt[i];
    if (mc->npt == 1024) return NULL;
    roof_pt *p = &mc->pt[mc->npt++];
    memset(p, 0, sizeof *p);
    snprintf(p->key, sizeof p->key, "%s", key);
    return p;
}

static void measure_cb(void *c, const measure_row *m)
{
    measure_ctx *mc = c;
    char a[160], t[64], k[64];
    if (!strcmp(m->type, "machine")) {
        if (strstr(m->counter, "peak_flops")) mc->peak = m->analytical;
        if (strstr(m->counter, "bandwidth")) mc->bw = m->analytical;
        return;
    }
    if (strcmp(m->type, "total")) {
        roof_pt *p = roof_point(mc, m);
        const char *dot = strchr(m->counter, '.');
        const char *what = dot ? dot + 1 : m->counter;
        if (p && !strcmp(what, "flops")) p->flops = m->measured;
        if (p && !strcmp(what, "time_s")) p->seconds = m->measured;
        if (p && !strcmp(what, "model_bytes_moved")) p->bytes = m->measured;
    }
    if (strstr(m->counter, "model_bytes_moved")) return;
    csv_label(mc->arch, a, sizeof a);
    csv_label(m->type, t, sizeof t);
    csv_label(m->counter, k, sizeof k);
    if (strstr(m->counter, "time_s")) {
        fprintf(mc->times, "%s,%llu,%s,%s,%.9g,%.9g\n", a, (unsigned long long)m->ctx, t, k, m->analytical, m->measured);
        if (strcmp(m->type, "total") && m->analytical > 0 && mc->times_n < 512) mc->ratio[mc->times_n++] = m->measured / m->analytical;
        return;
    }
    fprintf(mc->counters, "%s,%llu,%s,%s,%.17g,%.17g\n", a, (unsigned long long)m->ctx, t, k, m->analytical, m->measured);
    mc->rows++;
    if (m->analytical == m->measured) mc->exact++;
    else if (m->analytical > 0) {
        double rel = (m->measured - m->analytical) / m->analytical;
        if (rel < 0) rel = -rel;
        if (rel > mc->worst_rel) mc->worst_rel = rel;
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Reference kernels: every counter against the model (on the y = x line when
 * they agree), and wall time against the roofline prediction. */
static int plot_measured(rep *r, const sc_plot *p, const char *slug)
{
    (void)p;
    char cn[160], tn[160], name[200];
    snprintf(cn, sizeof cn, "%s-counters", slug);
    snprintf(tn, sizeof tn, "%s-time", slug);
    snprintf(name, sizeof name, "%s.csv", cn);
    measure_ctx mc;
    memset(&mc, 0, sizeof mc);
    if (!(mc.counters = open_out(r, name))) return SIM_EIO;
    snprintf(name, sizeof name, "%s.csv", tn);
    if (!(mc.times = open_out(r, name))) { fclose(mc.counters); return SIM_EIO; }
    fputs("arch,ctx_tokens,type,counter,model,measured\n", mc.counters);
    fputs("arch,ctx_tokens,type,phase_time,predicted_s,measured_s\n", mc.times);
    int rc = SIM_OK;
    for (int i = 0; i < r->nv && !rc; i++)
        if (first_variant(r, i)) {
            mc.arch = r->v[i].m.name;
            rc = store_each_measure(r->db, r->v[i].m.name, 0, measure_cb, &mc, r->e);
        }
    snprintf(name, sizeof name, "%s.csv", cn);
    int rc2 = close_out(r, mc.counters, name);
    snprintf(name, sizeof name, "%s.csv", tn);
    int rc3 = close_out(r, mc.times, name);
    if (rc || (rc = rc2) || (rc = rc3)) return rc;
    snprintf(name, sizeof name, "%s.gp", cn);
    FILE *g = open_out(r, name);
    if (!g) return SIM_EIO;
    gp_begin(g, cn, "Reference kernels: every counter, measured vs the model");
    fputs("set logscale xy 10\nset format x '%.0e'\nset format y '%.0e'\nset xlabel 'model (FLOPs or bytes)'\n"
          "set ylabel 'measured by the kernels (FLOPs or bytes)'\nset key inside left top\n", g);
    fprintf(g, "plot x with lines dashtype 2 lc rgb '#7f7f7f' title 'measured = model', '%s.csv' skip 1 using 5:6 "
               "with points pt 7 ps 1.1 lc rgb '%s' title 'counters (types x phases x contexts)'\n", cn, COLOR(0));
    gp_end(g, cn);
    if ((rc = close_out(r, g, name))) return rc;
    snprintf(name, sizeof name, "%s.gp", tn);
    if (!(g = open_out(r, name))) return SIM_EIO;
    gp_begin(g, tn, "Reference kernels: wall time vs the roofline prediction (per layer type)");
    fputs("set logscale xy 10\nset format x '%.0e'\nset format y '%.0e'\n"
          "set xlabel 'predicted time (s, roofline with this machine''s profile)'\n"
          "set ylabel 'measured wall time (s)'\nset key inside left top\n", g);
    fprintf(g, "plot x with lines dashtype 2 lc rgb '#7f7f7f' title 'measured = predicted', 1.2*x with lines dashtype 3 "
               "lc rgb '#bcbd22' title '+20%%', 0.8*x with lines dashtype 3 lc rgb '#bcbd22' title '-20%%', "
               "'%s.csv' skip 1 using 5:6 with points pt 7 ps 1.1 lc rgb '%s' title 'layer types x phases x contexts'\n",
            tn, COLOR(1));
    gp_end(g, tn);
    if ((rc = close_out(r, g, name))) return rc;
    /* Roofline: attained FLOP/s (measured FLOPs / wall time) against arithmetic
     * intensity (the model's FLOPs per byte moved), under the machine's roof. */
    char rn[160];
    snprintf(rn, sizeof rn, "%s-roofline", slug);
    snprintf(name, sizeof name, "%s.csv", rn);
    FILE *d = open_out(r, name);
    if (!d) return SIM_EIO;
    /* One data block per layer type (gnuplot `index`), two blank lines apart. */
    char types[24][48];
    int nty = 0;
    for (int i = 0; i < mc.npt; i++) {
        const char *t1 = strchr(mc.pt[i].key, '|'), *t2 = t1 ? strchr(t1 + 1, '|') : NULL, *t3 = t2 ? strchr(t2 + 1, '|') : NULL;
        if (!t3 || mc.pt[i].flops <= 0 || mc.pt[i].seconds <= 0 || mc.pt[i].bytes <= 0) continue;   /* no empty blocks */
        char ty[48];
        snprintf(ty, sizeof ty, "%.*s", (int)(t3 - t2 - 1), t2 + 1);
        bool seen = false;
        for (int j = 0; j < nty; j++) seen |= !strcmp(types[j], ty);
        if (!seen && nty < 24) strcpy(types[nty++], ty);
    }
    fputs("# arch|ctx|type|phase, intensity_flop_per_byte, attained_gflops; one block per layer type\n", d);
    for (int j = 0; j < nty; j++) {
        if (j) fputs("\n\n", d);
        for (int i = 0; i < mc.npt; i++) {
            const roof_pt *q = &mc.pt[i];
            char pat[60];
            snprintf(pat, sizeof pat, "|%.47s|", types[j]);
            if (!strstr(q->key, pat) || q->flops <= 0 || q->seconds <= 0 || q->bytes <= 0) continue;
            char lab[200];
            csv_label(q->key, lab, sizeof lab);
            fprintf(d, "%s,%.6g,%.6g\n", lab, q->flops / q->bytes, q->flops / q->seconds / 1e9);
        }
    }
    if ((rc = close_out(r, d, name))) return rc;
    snprintf(name, sizeof name, "%s.gp", rn);
    if (!(g = open_out(r, name))) return SIM_EIO;
    gp_begin(g, rn, "Reference kernels on this machine: attained FLOP/s vs arithmetic intensity (per layer type)");
    fprintf(g, "set logscale xy 10\nset xlabel 'arithmetic intensity (FLOP per byte moved, model)'\n"
               "set ylabel 'attained GFLOP/s (measured FLOPs / wall time)'\nset key inside left top\n"
               "peak = %.6g\nbw = %.6g\nroof(x) = (x * bw < peak ? x * bw : peak)\nset xrange [0.01:10000]\n"
               "plot roof(x) with lines lw 2 lc rgb '#7f7f7f' title sprintf('roof: %%.0f GFLOP/s, %%.1f GB/s', peak, bw)",
            mc.peak / 1e9, mc.bw / 1e9);
    for (int j = 0; j < nty; j++) {
        fprintf(g, ", '%s.csv' index %d using 2:3 with points pt %d ps 1.2 lc rgb '%s' title ", rn, j, 5 + j % 4, COLOR(j));
        plot_quote(g, types[j]);
    }
    fputc('\n', g);
    gp_end(g, rn);
    if ((rc = close_out(r, g, name))) return rc;
    fprintf(r->md, "\n### Reference kernels vs the model\n\n");
    if (!mc.rows) {
        fprintf(r->md, "No measurements in the database: add a `measured:` block to the scenario and rerun kvsim sweep.\n");
    } else {
        double med = 0;
        if (mc.times_n) { qsort(mc.ratio, (size_t)mc.times_n, sizeof mc.ratio[0], cmp_double); med = mc.ratio[mc.times_n / 2]; }
        fprintf(r->md, "%d counters (FLOPs, FP8-equivalent FLOPs, KV bytes, KV read and written, weight bytes read; per layer "
                       "type, prefill and decode, every measured context): %d equal the model exactly", mc.rows, mc.exact);
        if (mc.rows != mc.exact) fprintf(r->md, ", the largest difference %.3g%%", 100 * mc.worst_rel);
        fprintf(r->md, ". Wall time / predicted time, median over %d layer-type rows: %.2f.\n", mc.times_n, med);
    }
    r->info->plots++;
    fprintf(r->md, "\n![counters](%s.png)\n\n[SVG](%s.svg) · data [%s.csv](%s.csv) · script [%s.gp](%s.gp)\n", cn, cn, cn, cn, cn, cn);
    r->info->plots++;
    fprintf(r->md, "\n![roofline](%s.png)\n\n[SVG](%s.svg) · data [%s.csv](%s.csv) · script [%s.gp](%s.gp)\n", rn, rn, rn, rn, rn, rn);
    return finish_plot(r, tn, "wall time vs prediction");
}

static int claims_section(rep *r, const char *archs_dir)
{
    claim_result c[32];
    sim_err sub;
    int n = claims_eval(archs_dir, c, 32, &sub);
    fputs("\n## Published claims\n\n", r->md);
    if (n < 0) {
        fputs("Not available: ", r->md);
        md_text(r->md, sub.msg);
        fputc('\n', r->md);
        return SIM_OK;
    }
    fputs("| claim | source | published | kvsim | difference | note |\n|---|---|---:|---:|---:|---|\n", r->md);
    for (int i = 0; i < n; i++) {
        bool pct = !strcmp(c[i].unit, "%");
        double diff = pct ? c[i].kvsim - c[i].published : 100.0 * (c[i].kvsim - c[i].published) / c[i].published;
        fprintf(r->md, "| %s | %s | %.6g %s | %.6g %s | %+.2f %s | %s |\n", c[i].claim, c[i].source, c[i].published,
                c[i].unit, c[i].kvsim, c[i].unit, diff, pct ? "pp" : "%", c[i].note ? c[i].note : "");
    }
    return SIM_OK;
}

/* ---- deployments (capacity, per_device_memory) ----------------------------- */

typedef struct {
    sc_deploy x;
    hw_profile hw;
    bool have_hw;
    char label[160];
} dep_series;

/* The deployments a plot draws: its one (or each) of the `deploy:` block,
 * and with `axis: deploy.X` each of them at each value of that sweep axis. */
static int plot_deployments(rep *r, const sc_plot *p, dep_series *out, int max, int *n)
{
    const sc_axis *ax = NULL;
    *n = 0;
    for (int i = 0; p->axis[0] && i < r->s->n_axes; i++)
        if (!strcmp(r->s->axis[i].path, p->axis)) ax = &r->s->axis[i];
    if (p->axis[0] && !ax)
        return sim_fail(r->e, SIM_EINVAL, "plot %s: axis '%s' is not a sweep path of the scenario", plot_kind_name[p->kind], p->axis);
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

static int plot_capacity(rep *r, const sc_plot *p, const char *slug)
{
    static dep_series ds[SC_MAX_DEPLOY * SC_MAX_VALUES];
    int nd, rc;
    if ((rc = plot_deployments(r, p, ds, SC_MAX_DEPLOY * SC_MAX_VALUES, &nd))) return rc;
    char name[160];
    snprintf(name, sizeof name, "%s.csv", slug);
    FILE *d = open_out(r, name);
    if (!d) return SIM_EIO;
    fputs("ctx", d);
    int cols = 0;
    for (int i = 0; i < r->nv; i++) {
        if (!first_variant(r, i)) continue;
        for (int k = 0; k < nd; k++) {
            char l[400], lab[400];
            snprintf(l, sizeof l, "%s @ %s", r->v[i].m.name, ds[k].label);
            csv_label(l, lab, sizeof lab);
            fprintf(d, ",%s", lab);
            cols++;
        }
    }
    fputc('\n', d);
    u64 tctx = nearest_ctx(r->s, p->ctx);
    char tc[32];
    ctx_name(tctx, tc, sizeof tc);
    fprintf(r->md, "\n### Concurrent sequences per node\n\nWhole sequences of T tokens that fit the KV memory of "
                   "every GPU of the node (per replica x data-parallel replicas), under each deployment's engine "
                   "rules (README \"Deployment\"); the table at %s tokens, with the engine's KV cache size in "
                   "tokens per GPU and the decode rate per node at that batch. `-` = the layout or the engine "
                   "refuses the arch (the reason below the table).\n\n| arch | deployment | weights / GPU | KV of one "
                   "sequence / GPU | seqs / node | tokens (engine) | decode tokens/s / node |\n|---|---|---:|---:|---:|---:|---:|\n", tc);
    static char notes[8192];
    notes[0] = 0;
    for (int c = 0; c < r->s->n_ctx; c++) {
        fprintf(d, "%llu", (unsigned long long)r->s->ctx[c]);
        for (int i = 0; i < r->nv; i++) {
            if (!first_variant(r, i)) continue;
            for (int k = 0; k < nd; k++) {
                deploy_result res;
                char why[512];
                bool ok = dep_eval(&r->v[i], &ds[k], r->s->ctx[c], &res, why, sizeof why);
                if (ok && res.node_max_seqs) fprintf(d, ",%llu", (unsigned long long)res.node_max_seqs);
                else fputs(",NaN", d);
                if (r->s->ctx[c] != tctx) continue;
                fputs("| ", r->md);
                md_text(r->md, r->v[i].m.name);
                fputs(" | ", r->md);
                md_text(r->md, ds[k].label);
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
        fputc('\n', d);
    }
    if (notes[0]) {
        fputs("\n", r->md);
        /* reasons are kvsim's own messages; escaped as table-free text */
        for (char *line = notes; *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            md_text(r->md, line);
            fputc('\n', r->md);
            if (!nl) break;
            line = nl + 1;
        }
    }
    if (close_out(r, d, name)) return SIM_EIO;
    snprintf(name, sizeof name, "%s.gp", slug);
    FILE *g = open_out(r, name);
    if (!g) return SIM_EIO;
    gp_begin(g, slug, p->title[0] ? p->title : "Concurrent sequences per node vs context (engine rules)");
    fputs("set logscale xy 2\nset xlabel 'context (tokens per sequence)'\nset ylabel 'sequences per node (no point = none fits)'\n", g);
    ctx_tics(g, r->s);
    fputs("plot ", g);
    for (int c = 0; c < cols; c++)
        fprintf(g, "%s'%s.csv' using 1:%d with linespoints lw 2 lc rgb '%s' dt %d title columnheader(%d)", c ? ", " : "",
                slug, c + 2, COLOR(c / (nd ? nd : 1)), 1 + c % (nd ? nd : 1), c + 2);
    fputc('\n', g);
    gp_end(g, slug);
    if (close_out(r, g, name)) return SIM_EIO;
    return finish_plot(r, slug, "concurrent sequences per node");
}

static int plot_per_device(rep *r, const sc_plot *p, const char *slug)
{
    static dep_series ds[SC_MAX_DEPLOY * SC_MAX_VALUES];
    int nd, rc;
    if ((rc = plot_deployments(r, p, ds, SC_MAX_DEPLOY * SC_MAX_VALUES, &nd))) return rc;
    char name[160], tc[32];
    ctx_name(p->ctx, tc, sizeof tc);
    snprintf(name, sizeof name, "%s.csv", slug);
    FILE *d = open_out(r, name);
    if (!d) return SIM_EIO;
    fputs("arch_deployment,weights_GB,kv_GB,reserve_GB,kv_one_seq_GB\n", d);
    fprintf(r->md, "\n### Memory of one GPU\n\nPer GPU at %s tokens per sequence: the weights it holds, the KV "
                   "memory the engine allocates (budget), and the reserve the engine keeps for everything else "
                   "((1 - mem_util) x memory, or what a given KV budget leaves).\n\n| arch | deployment | weights | "
                   "KV budget | reserve | KV of one sequence |\n|---|---|---:|---:|---:|---:|\n", tc);
    for (int i = 0; i < r->nv; i++) {
        if (!first_variant(r, i)) continue;
        for (int k = 0; k < nd; k++) {
            deploy_result res;
            char why[512], l[400], lab[400];
            snprintf(l, sizeof l, "%s @ %s", r->v[i].m.name, ds[k].label);
            csv_label(l, lab, sizeof lab);
            if (!dep_eval(&r->v[i], &ds[k], p->ctx, &res, why, sizeof why)) {
                fprintf(d, "%s,NaN,NaN,NaN,NaN\n", lab);
                continue;
            }
            fprintf(d, "%s,%.6g,%.6g,%.6g,%.6g\n", lab, res.weight_bytes / 1e9, res.kv_budget_bytes / 1e9,
                    res.reserve_bytes / 1e9, res.kv_bytes_per_seq / 1e9);
            char w[64], kb[64], rs[64], one[64];
            units_bytes(res.weight_bytes, w, sizeof w);
            units_bytes(res.kv_budget_bytes, kb, sizeof kb);
            units_bytes(res.reserve_bytes, rs, sizeof rs);
            units_bytes(res.kv_bytes_per_seq, one, sizeof one);
            fputs("| ", r->md);
            md_text(r->md, r->v[i].m.name);
            fputs(" | ", r->md);
            md_text(r->md, ds[k].label);
            fprintf(r->md, " | %s | %s | %s | %s |\n", w, kb, rs, one);
        }
    }
    if (close_out(r, d, name)) return SIM_EIO;
    snprintf(name, sizeof name, "%s.gp", slug);
    FILE *g = open_out(r, name);
    if (!g) return SIM_EIO;
    gp_begin(g, slug, p->title[0] ? p->title : "Memory of one GPU: weights, KV budget, reserve");
    fputs("set style data histograms\nset style histogram rowstacked\nset style fill solid 0.85 border -1\n"
          "set boxwidth 0.75\nset bmargin 11\nset lmargin 14\nset ylabel 'GB per GPU'\nset xtics rotate by 30 right\nset xrange [-0.6:*]\n", g);
    fprintf(g, "plot '%s.csv' skip 1 using 2:xtic(1) title 'weights' lc rgb '%s', '' skip 1 using 3 title 'KV budget' "
               "lc rgb '%s', '' skip 1 using 4 title 'reserve' lc rgb '%s'\n", slug, COLOR(0), COLOR(1), COLOR(7));
    gp_end(g, slug);
    if (close_out(r, g, name)) return SIM_EIO;
    return finish_plot(r, slug, "memory of one GPU");
}

int report_write(const scenario *s, const char *db_path, const char *out_dir, const char *archs_dir,
                 const char *version, report_info *info, sim_err *e)
{
    rep r = {.s = s, .dir = out_dir, .info = info, .e = e};
    memset(info, 0, sizeof *info);
    int rc;
    if ((rc = sweep_variants(s, &r.v, &r.nv, e))) return rc;
    if ((rc = store_open(&r.db, db_path, true, e))) goto out;
    if ((rc = sim_mkdir_p(out_dir, e))) goto out;
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s/.index.md.tmp", out_dir);
    snprintf(info->index_path, sizeof info->index_path, "%s/index.md", out_dir);
    r.md = fopen(tmp, "w");
    if (!r.md) { rc = sim_fail(e, SIM_EIO, "%s: cannot write: %s", tmp, strerror(errno)); goto out; }
    fputs("# ", r.md);
    md_text(r.md, s->title);
    fprintf(r.md, "\n\nGenerated by kvsim %s from `", version);
    md_text(r.md, s->path);
    fputs("` and the database `", r.md);
    md_text(r.md, db_path);
    fputs("`. Every figure has its data (.csv) and gnuplot script (.gp) beside it.\n", r.md);
    if ((rc = claims_section(&r, archs_dir))) goto out;
    fputs("\n## Architectures\n\n| arch | spec | layers | params | active | weights stored |\n|---|---|---:|---:|---:|---:|\n", r.md);
    for (int i = 0; i < r.nv; i++) {
        if (!first_variant(&r, i)) continue;
        cost_t t;
        if ((rc = get(&r, &r.v[i], s->ctx[0], s->phases[0], &t))) goto out;
        char a[32], b[32], w[64];
        units_count(t.params, a, sizeof a);
        units_count(t.params_active, b, sizeof b);
        units_bytes(t.weight_bytes, w, sizeof w);
        fputs("| ", r.md);
        md_text(r.md, r.v[i].m.name);
        fputs(" | ", r.md);
        md_text(r.md, r.v[i].m.path);
        fprintf(r.md, " | %llu | %s | %s | %s |\n", (unsigned long long)r.v[i].m.n_layers, a, b, w);
    }
    fputs("\n## Figures\n", r.md);
    for (int k = 0; k < s->n_plots && !rc; k++) {
        const sc_plot *p = &s->plot[k];
        char slug[96], sub[128];
        snprintf(slug, sizeof slug, "%02d-", k + 1);
        plot_slug(plot_kind_name[p->kind], slug + 3, sizeof slug - 3);
        switch (p->kind) {
        case PLOT_KV_VS_CONTEXT: rc = plot_kv_vs_context(&r, p, slug); break;
        case PLOT_TYPES_AT_CTX:
            snprintf(sub, sizeof sub, "%s-kv", slug);
            if (!(rc = plot_types(&r, p, sub, false))) {
                snprintf(sub, sizeof sub, "%s-flops", slug);
                rc = plot_types(&r, p, sub, true);
            }
            break;
        case PLOT_SHARING_SAVED: rc = plot_axis(&r, p, slug, 0); break;
        case PLOT_COMPRESSION:
            snprintf(sub, sizeof sub, "%s-kv", slug);
            if (!(rc = plot_axis(&r, p, sub, 1))) {
                snprintf(sub, sizeof sub, "%s-flops", slug);
                rc = plot_axis(&r, p, sub, 2);
            }
            break;
        case PLOT_FIT_CONTEXT: rc = plot_fit(&r, p, slug); break;
        case PLOT_MEASURED: rc = plot_measured(&r, p, slug); break;
        case PLOT_CAPACITY: rc = plot_capacity(&r, p, slug); break;
        case PLOT_PER_DEVICE_MEMORY: rc = plot_per_device(&r, p, slug); break;
        default: break;
        }
    }
    if (rc) goto out;
    if (ferror(r.md) | fclose(r.md)) { r.md = NULL; rc = sim_fail(e, SIM_EIO, "%s: write failed (disk full?)", tmp); goto out; }
    r.md = NULL;
    /* Render after the text is complete; a gnuplot failure leaves the files. */
    if (!plot_have_gnuplot()) {
        info->gnuplot_missing = true;
    } else {
        for (int k = 0; k < s->n_plots; k++) {
            static const char *const two[] = {"-kv", "-flops"}, *const mtwo[] = {"-counters", "-time", "-roofline"};
            const sc_plot *p = &s->plot[k];
            bool split = p->kind == PLOT_TYPES_AT_CTX || p->kind == PLOT_COMPRESSION || p->kind == PLOT_MEASURED;
            for (int part = 0; part < (!split ? 1 : p->kind == PLOT_MEASURED ? 3 : 2); part++) {
                char slug[96], script[128];
                snprintf(slug, sizeof slug, "%02d-", k + 1);
                plot_slug(plot_kind_name[p->kind], slug + 3, sizeof slug - 3);
                snprintf(script, sizeof script, "%s%s.gp", slug, !split ? "" : p->kind == PLOT_MEASURED ? mtwo[part] : two[part]);
                sim_err ge;
                if (plot_render(out_dir, script, &ge)) snprintf(info->warning, sizeof info->warning, "%s", ge.msg);
                else info->images += 2;
            }
        }
    }
    if (rename(tmp, info->index_path)) rc = sim_fail(e, SIM_EIO, "%s: cannot rename: %s", info->index_path, strerror(errno));
out:
    if (r.md) { fclose(r.md); remove(tmp); }
    store_close(r.db);
    sweep_variants_free(r.v, r.nv);
    return rc;
}
