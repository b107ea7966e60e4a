/* report_measured.c - the `measured` plot kind: the reference kernels'
 * counters against the model, their wall time against the roofline
 * prediction, and the roofline of this machine, each coloured by layer type.
 * See report_impl.h. */
#include "report_impl.h"
#include "plot.h"
#include <stdlib.h>
#include <string.h>

#define MAX_ROOF 1024
#define MAX_RATIO 512

/* One (arch, ctx, type, phase): its measured FLOPs, time and the model's bytes. */
typedef struct {
    char arch[64], type[48], phase[16];
    u64 ctx;
    double flops, seconds, bytes;
} roof_pt;

typedef struct {
    rep *r;
    FILE *counters, *times;
    roof_pt pt[MAX_ROOF];
    int npt;
    double peak, bw;             /* the profile's roof, as stored with the measurements */
    const char *arch;
    int rows, exact, times_n;
    double worst_rel;            /* largest |measured - model| / model over the counters */
    double ratio[MAX_RATIO];     /* measured / predicted time, per type row */
} measure_ctx;

static roof_pt *roof_point(measure_ctx *mc, const measure_row *m)
{
    const char *dot = strchr(m->counter, '.');
    int phl = dot ? (int)(dot - m->counter) : 0;
    for (int i = 0; i < mc->npt; i++) {
        roof_pt *p = &mc->pt[i];
        if (p->ctx == m->ctx && !strcmp(p->arch, mc->arch) && !strcmp(p->type, m->type) &&
            (int)strlen(p->phase) == phl && !strncmp(p->phase, m->counter, (size_t)phl))
            return p;
    }
    if (mc->npt == MAX_ROOF) return NULL;
    roof_pt *p = &mc->pt[mc->npt++];
    memset(p, 0, sizeof *p);
    snprintf(p->arch, sizeof p->arch, "%.63s", mc->arch);
    snprintf(p->type, sizeof p->type, "%.47s", m->type);
    snprintf(p->phase, sizeof p->phase, "%.*s", phl < 15 ? phl : 15, m->counter);
    p->ctx = m->ctx;
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
        rep_type_color(mc->r, m->type);   /* fixes its colour */
    }
    if (strstr(m->counter, "model_bytes_moved")) return;
    rep_csv_label(mc->arch, a, sizeof a);
    rep_csv_label(m->type, t, sizeof t);
    rep_csv_label(m->counter, k, sizeof k);
    if (strstr(m->counter, "time_s")) {
        fprintf(mc->times, "%s,%llu,%s,%s,%.9g,%.9g\n", a, (unsigned long long)m->ctx, t, k, m->analytical, m->measured);
        if (strcmp(m->type, "total") && m->analytical > 0 && mc->times_n < MAX_RATIO) mc->ratio[mc->times_n++] = m->measured / m->analytical;
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

/* The counters and times CSVs, filled from the store. */
static int measure_collect(rep *r, measure_ctx *mc, const char *cn, const char *tn)
{
    rep_file c, t;
    int rc = rep_open(r, &c, cn, "csv");
    if (rc) return rc;
    if ((rc = rep_open(r, &t, tn, "csv"))) return rep_close(r, &c, rc);
    mc->counters = c.f;
    mc->times = t.f;
    fputs("arch,ctx_tokens,type,counter,model,measured\n", c.f);
    fputs("arch,ctx_tokens,type,phase_time,predicted_s,measured_s\n", t.f);
    for (int i = 0; i < r->nv && !rc; i++)
        if (rep_as_written(r, i)) {
            mc->arch = r->v[i].m.name;
            rc = store_each_measure(r->db, r->v[i].m.name, 0, measure_cb, mc, r->e);
        }
    rc = rep_close(r, &c, rc);
    return rep_close(r, &t, rc);
}

/* "plot" clauses, one series per layer type of the report, from a CSV whose
 * column 3 is the type: points of columns x:y. */
static void series_by_type(rep *r, FILE *g, const char *csv, int x, int y, bool first)
{
    for (int j = 0; j < r->n_types; j++) {
        char lab[64];
        rep_csv_label(r->types[j], lab, sizeof lab);
        fprintf(g, "%s'%s.csv' skip 1 using %d:(strcol(3) eq ", first && !j ? "" : ", ", csv, x);
        plot_quote(g, lab);
        fprintf(g, " ? $%d : NaN) with points pt 7 ps 1.2 lc rgb '%s' title ", y, rep_type_color(r, r->types[j]));
        plot_quote(g, r->types[j]);
    }
}

static int counters_plot(rep *r, const char *cn)
{
    rep_file g;
    int rc = rep_gp_open(r, &g, cn, "Reference kernels: every counter, measured vs the model (by layer type)");
    if (rc) return rc;
    fputs("set logscale xy 10\nset format x '%.0e'\nset format y '%.0e'\nset xlabel 'model (FLOPs or bytes)'\n"
          "set ylabel 'measured by the kernels (FLOPs or bytes)'\nset key inside left top\n", g.f);
    fputs("plot x with lines dashtype 2 lc rgb '#7f7f7f' title 'measured = model'", g.f);
    series_by_type(r, g.f, cn, 5, 6, false);
    fputc('\n', g.f);
    return rep_gp_close(r, &g, cn, SIM_OK);
}

static int time_plot(rep *r, const char *tn)
{
    rep_file g;
    int rc = rep_gp_open(r, &g, tn, "Reference kernels: wall time vs the roofline prediction (by layer type)");
    if (rc) return rc;
    fputs("set logscale xy 10\nset format x '%.0e'\nset format y '%.0e'\n"
          "set xlabel 'predicted time (s, roofline of the profile)'\n"
          "set ylabel 'measured wall time (s)'\nset key inside left top\n", g.f);
    fputs("plot x with lines dashtype 2 lc rgb '#7f7f7f' title 'measured = predicted', 1.2*x with lines dashtype 3 "
          "lc rgb '#bcbd22' title '+20%', 0.8*x with lines dashtype 3 lc rgb '#bcbd22' title '-20%'", g.f);
    series_by_type(r, g.f, tn, 5, 6, false);
    fputc('\n', g.f);
    return rep_gp_close(r, &g, tn, SIM_OK);
}

/* Attained FLOP/s (measured FLOPs / wall time) against arithmetic intensity
 * (the model's FLOPs per byte moved), under the profile's roof. */
static int roofline_plot(rep *r, const measure_ctx *mc, const char *rn)
{
    rep_file d;
    int rc = rep_open(r, &d, rn, "csv");
    if (rc) return rc;
    fputs("arch,ctx_tokens,type,phase,intensity_flop_per_byte,attained_gflops\n", d.f);
    for (int j = 0; j < r->n_types; j++)
        for (int i = 0; i < mc->npt; i++) {
            const roof_pt *q = &mc->pt[i];
            if (strcmp(q->type, r->types[j]) || q->flops <= 0 || q->seconds <= 0 || q->bytes <= 0) continue;
            char a[160], t[64], ph[32];
            rep_csv_label(q->arch, a, sizeof a);
            rep_csv_label(q->type, t, sizeof t);
            rep_csv_label(q->phase, ph, sizeof ph);
            fprintf(d.f, "%s,%llu,%s,%s,%.6g,%.6g\n", a, (unsigned long long)q->ctx, t, ph, q->flops / q->bytes,
                    q->flops / q->seconds / 1e9);
        }
    if ((rc = rep_close(r, &d, SIM_OK))) return rc;
    rep_file g;
    if ((rc = rep_gp_open(r, &g, rn, "Reference kernels on this machine: attained FLOP/s vs arithmetic intensity (by layer type)")))
        return rc;
    fprintf(g.f, "set logscale xy 10\nset xlabel 'arithmetic intensity (FLOP per byte moved, model)'\n"
                 "set ylabel 'attained GFLOP/s (measured FLOPs / wall time)'\nset key inside left top\n"
                 "peak = %.6g\nbw = %.6g\nroof(x) = (x * bw < peak ? x * bw : peak)\nset xrange [0.01:10000]\n"
                 "plot roof(x) with lines lw 2 lc rgb '#7f7f7f' title sprintf('roof: %%.0f GFLOP/s, %%.1f GB/s', peak, bw)",
            mc->peak / 1e9, mc->bw / 1e9);
    series_by_type(r, g.f, rn, 5, 6, false);
    fputc('\n', g.f);
    return rep_gp_close(r, &g, rn, SIM_OK);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* How far the model is off, and why. */
static void measured_caption(rep *r, measure_ctx *mc)
{
    fprintf(r->md, "\n### Reference kernels vs the model\n\n");
    if (!mc->rows) {
        fprintf(r->md, "No measurements in the database: add a `measured:` block to the scenario and rerun kvsim sweep.\n");
        return;
    }
    fprintf(r->md, "%d counter%s (FLOPs, FP8-equivalent FLOPs, KV bytes, KV read and written, weight bytes read; per layer "
                   "type, prefill and decode, every measured context): %d equal%s the model exactly", mc->rows,
            mc->rows == 1 ? "" : "s", mc->exact, mc->exact == 1 ? "s" : "");
    if (mc->rows != mc->exact) fprintf(r->md, ", the largest difference %.3g%%", 100 * mc->worst_rel);
    fputs(".", r->md);
    if (!mc->times_n) { fputc('\n', r->md); return; }
    qsort(mc->ratio, (size_t)mc->times_n, sizeof mc->ratio[0], cmp_double);
    double med = mc->ratio[mc->times_n / 2], lo = mc->ratio[0], hi = mc->ratio[mc->times_n - 1];
    fprintf(r->md, " Wall time / predicted time, median over %d layer-type row%s: %.2f (range %.3g to %.3g). ", mc->times_n,
            mc->times_n == 1 ? "" : "s", med, lo, hi);
    fprintf(r->md, "The prediction is the roofline of the profile (peak %.4g GFLOP/s, %.4g GB/s): every operation at "
                   "max(FLOPs / peak, bytes / bandwidth), with no launch, loop or cache overhead. ", mc->peak / 1e9, mc->bw / 1e9);
    if (med > 1.2)
        fputs("The reference kernels take longer: they are checking code (plain loops and small BLAS calls at a tiny "
              "scale, where overheads dominate), not tuned kernels, or the profile is faster than this machine.\n", r->md);
    else if (med < 0.8)
        fputs("The reference kernels are faster than predicted: the profile's roof is below this machine's.\n", r->md);
    else
        fputs("Within 20% at the median: the roofline describes these kernels on this machine.\n", r->md);
}

int plot_measured(rep *r, const sc_plot *p, const char *slug)
{
    (void)p;
    char cn[160], tn[160], rn[160];
    snprintf(cn, sizeof cn, "%s-counters", slug);
    snprintf(tn, sizeof tn, "%s-time", slug);
    snprintf(rn, sizeof rn, "%s-roofline", slug);
    measure_ctx *mc = calloc(1, sizeof *mc);
    if (!mc) return sim_fail(r->e, SIM_ENOMEM, "out of memory");
    mc->r = r;
    int rc;
    if (!(rc = measure_collect(r, mc, cn, tn)) && !(rc = counters_plot(r, cn)) && !(rc = time_plot(r, tn)) &&
        !(rc = roofline_plot(r, mc, rn))) {
        measured_caption(r, mc);
        rep_md_links(r, cn, "counters");
        rep_md_links(r, rn, "roofline");
        rep_md_links(r, tn, "wall time vs prediction");
    }
    free(mc);
    return rc;
}
