/* output.h - cost results as tables for people, CSV, or JSON (the stable
 * machine interface documented in README.md). Writes to the FILE given. */
#ifndef OUTPUT_H
#define OUTPUT_H

#include <stdio.h>
#include "cost.h"
#include "hw.h"

typedef enum { OUT_TABLE, OUT_CSV, OUT_JSON } out_format;

typedef struct {
    const model_spec *m;
    const cost_result *r;
    const hw_profile *hw;   /* NULL, or --hw: add roofline times */
    u64 fit_ctx;            /* with hw: the longest context that fits its memory */
    /* optional: appends `, "key": value` members to the item's JSON object
     * (cost/compare with deployment options add "capacity") */
    void (*json_extra)(FILE *f, const void *ctx);
    const void *json_extra_ctx;
} out_item;

/* `kvsim cost`: one architecture. by_layer adds a per-layer breakdown. */
void out_cost(FILE *f, const out_item *it, const cost_query *q, out_format of, bool by_layer);

/* `kvsim compare`: ratios against the first item. */
void out_compare(FILE *f, const out_item *it, int n, const cost_query *q, out_format of, bool by_layer);

/* parameters without per-layer-embedding tables (Gemma's "effective"). */
u64 out_params_effective(const model_spec *m, const cost_result *r);

/* Write s as a JSON string literal (quotes included). */
void out_json_str(FILE *f, const char *s);

#endif
