/* output.h - cost results as tables for people, CSV, or JSON (the stable
 * machine interface documented in README.md, "Output formats"). Every form
 * carries the same information, including the settings that produced it
 * (out_settings: ctx, phase, batch, --noncausal, --page, every --set, --hw,
 * --mla-form, the kvsim version). Writes to the FILE given. */
#ifndef OUTPUT_H
#define OUTPUT_H

#include <stdio.h>
#include "cost.h"
#include "hw.h"

typedef enum { OUT_TABLE, OUT_CSV, OUT_JSON } out_format;

/* The time model's per-row predictions of one item (tmodel.h tm_rows). */
typedef struct {
    tm_row *types;          /* per r->type row */
    tm_row *layers;         /* per layer (with --by layer; else NULL) */
    tm_row total;
} out_tm;

typedef struct {
    const model_spec *m;
    const cost_result *r;
    const hw_profile *hw;   /* NULL, or --hw: add roofline times */
    const out_tm *tm;       /* with hw and --time model: the time model's rows; NULL: roofline */
    u64 fit_ctx;            /* with hw: the longest context that fits its memory */
    /* optional: appends `, "key": value` members to the item's JSON object
     * (cost/compare with deployment options add "capacity") */
    void (*json_extra)(FILE *f, const void *ctx);
    const void *json_extra_ctx;
} out_item;

/* What the user asked for: recorded in every output (provenance). */
typedef struct {
    cost_query q;                /* ctx, batch, phase, noncausal, page */
    const char *const *sets;     /* every --set PATH=VALUE, in order */
    int n_sets;
    const char *hw;              /* --hw as given, or NULL */
    const char *hw_path;         /* the profile file it resolved to */
    bool by_layer;               /* --by layer */
    const char *mla_form;        /* --mla-form as given, or NULL (each kind's own) */
    const char *time;            /* with --hw: "model" or "roofline" (the time used), else NULL */
    const char *time_why;        /* why: "--time", or the default's reason */
} out_settings;

/* `kvsim cost`: one architecture. */
void out_cost(FILE *f, const out_item *it, const out_settings *st, out_format of);

/* `kvsim compare`: ratios against the first item. */
void out_compare(FILE *f, const out_item *it, int n, const out_settings *st, out_format of);

/* parameters without per-layer-embedding tables (Gemma's "effective"). */
u64 out_params_effective(const model_spec *m, const cost_result *r);

/* Write s as a JSON string literal (quotes included). */
void out_json_str(FILE *f, const char *s);

#endif
