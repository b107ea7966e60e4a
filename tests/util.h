/* util.h - helpers shared by the test programs: load a spec from a string or a
 * file with --set overrides, and evaluate it. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include "spec.h"
#include "cost.h"
#include "layer.h"
#include <stdlib.h>
#include <string.h>

/* Load a spec from YAML text; returns the status, message in e. */
static inline int load_str(model_spec *m, const char *yaml, const char *const *sets, int n, sim_err *e)
{
    ynode *root;
    int rc = yt_load_string(yaml, strlen(yaml), "<test>", &root, e);
    if (rc) return rc;
    return spec_load_tree(m, root, NULL, "<test>", sets, n, e);
}

/* The by-type row `name` of an evaluation, or the totals when name is NULL
 * (zeros if absent, or on failure with the message printed). */
static inline cost_t eval_type(const model_spec *m, u64 T, u64 B, phase ph, const char *name)
{
    cost_query q = {.T = T, .B = B, .phase = ph};
    cost_result r;
    sim_err e;
    cost_t t;
    memset(&t, 0, sizeof t);
    if (cost_eval(m, &q, &r, &e)) { printf("cost_eval failed: %s\n", e.msg); return t; }
    if (!name) t = r.total;
    for (int k = 0; name && k < r.n_types; k++)
        if (!strcmp(r.type[k].name, name)) t = r.type[k].c;
    cost_result_free(&r);
    return t;
}

static inline cost_t eval_total(const model_spec *m, u64 T, u64 B, phase ph)
{
    return eval_type(m, T, B, ph, NULL);
}

#endif
