/* report_out.c - the scaffolding every plot of a report shares: output files,
 * gnuplot script header and footer, labels, colours, ticks, units. See
 * report_impl.h. */
#include "report_impl.h"
#include "plot.h"
#include <errno.h>
#include <math.h>
#include <string.h>

int rep_open(rep *r, rep_file *o, const char *slug, const char *ext)
{
    char path[900];
    snprintf(o->name, sizeof o->name, "%s.%s", slug, ext);
    snprintf(path, sizeof path, "%s/%s", r->dir, o->name);
    o->f = fopen(path, "w");
    if (!o->f) return sim_fail(r->e, SIM_EIO, "%s: cannot write: %s", path, strerror(errno));
    return SIM_OK;
}

int rep_close(rep *r, rep_file *o, int rc)
{
    if (!o->f) return rc;
    int bad = ferror(o->f) | fclose(o->f);
    o->f = NULL;
    if (rc) return rc;
    if (bad) return sim_fail(r->e, SIM_EIO, "%s/%s: write failed (disk full?)", r->dir, o->name);
    return SIM_OK;
}

/* PNG then SVG of the same plot. */
int rep_gp_open(rep *r, rep_file *o, const char *slug, const char *title)
{
    int rc = rep_open(r, o, slug, "gp");
    if (rc) return rc;
    FILE *g = o->f;
    fprintf(g, "# kvsim plot; re-draw with: gnuplot %s.gp (in this directory)\n", slug);
    fprintf(g, "set datafile separator ','\nset terminal pngcairo size 1100,680 noenhanced font 'DejaVu Sans,11'\n");
    fprintf(g, "set output '%s.png'\nset key outside right top\nset grid\nset title ", slug);
    plot_quote(g, title);
    fputc('\n', g);
    return SIM_OK;
}

int rep_gp_close(rep *r, rep_file *o, const char *slug, int rc)
{
    if (o->f && !rc)
        fprintf(o->f, "set terminal svg size 1100,680 noenhanced font 'DejaVu Sans,11'\nset output '%s.svg'\nreplot\nunset output\n", slug);
    return rep_close(r, o, rc);
}

void rep_md_links(rep *r, const char *slug, const char *what)
{
    fprintf(r->md, "\n![%s](%s.png)\n\n[SVG](%s.svg) · data [%s.csv](%s.csv) · script [%s.gp](%s.gp)\n", what, slug, slug,
            slug, slug, slug, slug);
}

void rep_csv_label(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++) {
        unsigned char c = (unsigned char)*s;
        out[o++] = (c < 0x20 || c == ',' || c == '"' || c == '\'' || c == '`' || c == 0x7f || c == ' ') ? '_' : (char)c;
    }
    out[o] = 0;
}

/* Markdown table cell: no pipes, no newlines, no HTML. */
void rep_md_text(FILE *f, const char *s)
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

void rep_variant_label(const variant *v, char *out, size_t len)
{
    if (v->params[0]) snprintf(out, len, "%.100s [%.150s]", v->m.name, v->params);
    else snprintf(out, len, "%s", v->m.name);
}

void rep_ctx_name(u64 c, char *buf, size_t len)
{
    if (c >= (1u << 20) && c % (1u << 20) == 0) snprintf(buf, len, "%lluM", (unsigned long long)(c >> 20));
    else if (c >= 1024 && c % 1024 == 0) snprintf(buf, len, "%lluK", (unsigned long long)(c >> 10));
    else if (c >= (1u << 20)) snprintf(buf, len, "%.1fM", c / 1048576.0);
    else if (c >= 1024) snprintf(buf, len, "%.1fK", c / 1024.0);
    else snprintf(buf, len, "%llu", (unsigned long long)c);
}

const char *rep_title(const sc_plot *p, const char *fallback)
{
    return p->title[0] ? p->title : fallback;
}

bool rep_as_written(const rep *r, int i)
{
    return r->v[i].params[0] == 0;
}

int rep_get(rep *r, const variant *v, u64 ctx, phase ph, cost_t *t)
{
    char key[320];
    bool found;
    u64 eff;
    sweep_point_key(v, ctx, ph, r->s->batch[0], key, sizeof key);
    int rc = store_get_point(r->db, key, t, &eff, &found, r->e);
    if (rc) return rc;
    if (!found)
        return sim_fail(r->e, SIM_EINVAL, "the database has no point for %s [%s] at ctx %llu %s: run kvsim sweep %s "
                        "with the same --db first (a point the model refused is listed in the table point_errors)",
                        v->m.name, v->params, (unsigned long long)ctx, ph == PH_PREFILL ? "prefill" : "decode", r->s->path);
    return SIM_OK;
}

u64 rep_nearest_ctx(const scenario *s, u64 want)
{
    u64 best = s->ctx[0];
    for (int i = 0; i < s->n_ctx; i++)
        if ((s->ctx[i] > want ? s->ctx[i] - want : want - s->ctx[i]) < (best > want ? best - want : want - best)) best = s->ctx[i];
    return best;
}

/* Distinct colours (gnuplot's default cycle repeats after 8). */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                                      "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#843c39",
                                      "#7b4173", "#3182bd"};
#define N_PALETTE ((int)(sizeof palette / sizeof palette[0]))

const char *rep_series_color(int i)
{
    return palette[i % N_PALETTE];
}

const char *rep_type_color(rep *r, const char *type)
{
    int i = 0;
    for (; i < r->n_types; i++)
        if (!strcmp(r->types[i], type)) return palette[i % N_PALETTE];
    if (r->n_types < REP_MAX_TYPES) snprintf(r->types[r->n_types++], sizeof r->types[0], "%s", type);
    return palette[i % N_PALETTE];
}

void rep_range_add(rep_range *rg, double v)
{
    if (!(v > 0)) return;
    if (rg->lo == 0 || v < rg->lo) rg->lo = v;
    if (v > rg->hi) rg->hi = v;
}

void rep_log_tics(FILE *g, const char *axis, double lo, double hi)
{
    if (!(lo > 0) || !(hi >= lo)) return;
    /* Mantissas per decade, coarse to fine, until at least 4 ticks fall in
     * the (padded) range. */
    static const double m125[] = {1, 2, 5}, m1_9[] = {1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9},
                        m_fine[] = {1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9};
    static const struct { const double *m; int n; } sets[] = {{m125, 3}, {m1_9, 10}, {m_fine, 16}};
    double a = lo / 1.15, b = hi * 1.15;
    for (int s = 0; s < 3; s++) {
        int count = 0;
        for (double d = pow(10, floor(log10(a))); d <= b; d *= 10)
            for (int k = 0; k < sets[s].n; k++) count += d * sets[s].m[k] >= a && d * sets[s].m[k] <= b;
        if (count < 4 && s < 2) continue;
        fprintf(g, "set %srange [%.6g:%.6g]\nset %stics (", axis, a, b, axis);
        bool first = true;
        for (double d = pow(10, floor(log10(a))); d <= b; d *= 10)
            for (int k = 0; k < sets[s].n; k++) {
                double v = d * sets[s].m[k];
                if (v < a || v > b) continue;
                fprintf(g, "%s'%.6g' %.6g", first ? "" : ", ", v, v);
                first = false;
            }
        fputs(")\n", g);
        return;
    }
}

const char *rep_byte_unit(double max, double *div)
{
    static const char *const name[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int i = 0;
    *div = 1;
    while (i < 5 && max >= *div * 1000) { *div *= 1000; i++; }
    return name[i];
}

void rep_params(u64 n, char *buf, size_t len)
{
    static const char *const name[] = {"M", "B", "T"};
    if (n < 1000000) {
        char t[32];
        int l = snprintf(t, sizeof t, "%llu", (unsigned long long)n), o = 0;
        for (int i = 0; i < l && (size_t)o + 1 < len; i++) {
            if (i && (l - i) % 3 == 0 && (size_t)o + 2 < len) buf[o++] = ',';
            buf[o++] = t[i];
        }
        buf[o] = 0;
        return;
    }
    double v = n / 1e6;
    int i = 0;
    while (i < 2 && v >= 1000) { v /= 1000; i++; }
    snprintf(buf, len, "%.3g %s", v, name[i]);
}
