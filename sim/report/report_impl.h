/* report_impl.h - what the parts of `kvsim report` share (not a public
 * interface): the report being written, the output-file and gnuplot
 * scaffolding every plot uses (report_out.c), the plot kinds
 * (report_plots.c, report_measured.c) and the table of kinds (report.c).
 *
 * A plot kind is one function that writes, for a slug such as "02-compression",
 * one .csv + .gp pair per part ("02-compression-kv", "02-compression-flops")
 * and its section of index.md; its row in plot_defs (report.c) lists the
 * parts, so rendering and counting never repeat the kind's logic.
 */
#ifndef REPORT_IMPL_H
#define REPORT_IMPL_H

#include "report.h"
#include "sweep.h"
#include "store.h"
#include <stdio.h>

#define REP_MAX_TYPES 32

typedef struct {
    const scenario *s;
    store *db;
    variant *v;
    int nv;
    const char *dir;
    FILE *md;
    report_info *info;
    sim_err *e;
    int n_types;                          /* layer types in colour order: the */
    char types[REP_MAX_TYPES][48];        /* same colour in every plot */
    /* Per arch and axis: the index of the axis value equal to the spec as
     * written, or -1 (the spec's own value is not among the axis values). */
    int written_idx[SC_MAX_ARCHS][SC_MAX_AXES];
} rep;

/* An output file under the report directory. */
typedef struct {
    FILE *f;
    char name[200];
} rep_file;

/* Open dir/slug.ext for writing; SIM_EIO with e set on failure. */
int rep_open(rep *r, rep_file *o, const char *slug, const char *ext);
/* Close it; SIM_EIO when a write failed. With rc != 0 (an earlier failure)
 * just close and return rc. */
int rep_close(rep *r, rep_file *o, int rc);
/* Open slug.gp and write the header (terminal, output, title). */
int rep_gp_open(rep *r, rep_file *o, const char *slug, const char *title);
/* Write the footer (the SVG of the same plot) and close. */
int rep_gp_close(rep *r, rep_file *o, const char *slug, int rc);
/* The image and file links of one plot part in index.md. */
void rep_md_links(rep *r, const char *slug, const char *what);

/* Labels: for a CSV field (no commas, quotes, spaces or control characters),
 * for a Markdown table cell, and a variant's name with its sweep values. */
void rep_csv_label(const char *s, char *out, size_t len);
void rep_md_text(FILE *f, const char *s);
void rep_variant_label(const variant *v, char *out, size_t len);
/* A context as 1K, 4K, 128K, 1M (exact), or 5.7K, 1.5M (rounded). */
void rep_ctx_name(u64 c, char *buf, size_t len);
/* The heading of a plot: the scenario's title when it gives one. */
const char *rep_title(const sc_plot *p, const char *fallback);

/* Is variant i an arch as written (no sweep values)? */
bool rep_as_written(const rep *r, int i);
/* The stored totals of a point; an error naming the sweep to run when absent. */
int rep_get(rep *r, const variant *v, u64 ctx, phase ph, cost_t *t);
u64 rep_nearest_ctx(const scenario *s, u64 want);

/* Colours: the fixed colour of a layer type (added on first use), and of the
 * i-th series of a plot without types. */
const char *rep_type_color(rep *r, const char *type);
const char *rep_series_color(int i);

/* Labelled ticks for a log axis ("x" or "y") over [lo, hi] (> 0): 1-2-5 per
 * decade, or finer when the range spans less than a decade, and a range
 * padded to include them. */
void rep_log_tics(FILE *g, const char *axis, double lo, double hi);
/* A data range: the smallest and largest positive value seen. */
typedef struct { double lo, hi; } rep_range;
void rep_range_add(rep_range *rg, double v);

/* A decimal byte unit for values up to max: divides by *div, name "GB" etc. */
const char *rep_byte_unit(double max, double *div);
/* Parameters as "1,536", "8.03 B", "1.6 T". */
void rep_params(u64 n, char *buf, size_t len);

/* The plot kinds. */
int plot_kv_vs_context(rep *r, const sc_plot *p, const char *slug);
int plot_types_at_ctx(rep *r, const sc_plot *p, const char *slug);
int plot_sharing_saved(rep *r, const sc_plot *p, const char *slug);
int plot_compression(rep *r, const sc_plot *p, const char *slug);
int plot_fit_context(rep *r, const sc_plot *p, const char *slug);
int plot_measured(rep *r, const sc_plot *p, const char *slug);
int plot_capacity(rep *r, const sc_plot *p, const char *slug);          /* report_deploy.c */
int plot_per_device_memory(rep *r, const sc_plot *p, const char *slug);

#endif
