/* layer.c - the one registration table of component types, generated from
 * the list in sim/layers/types.h, and the questions only the registry
 * answers (see layer.h). */
#include "layer.h"
#include "types.h"
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#define DECLARE(cat, name) extern const comp_type comp_##cat##_##name;
KVSIM_TYPES(DECLARE)
#undef DECLARE

#define ENTRY(cat, name) &comp_##cat##_##name,
const comp_type *const comp_registry[] = {KVSIM_TYPES(ENTRY)};
#undef ENTRY
const int comp_registry_count = (int)(sizeof comp_registry / sizeof comp_registry[0]);

const char *const comp_cat_name[COMP_CAT_COUNT] = {"attention", "ffn", "residual", "ple"};

const comp_type *comp_find(comp_cat cat, const char *name)
{
    for (int i = 0; i < comp_registry_count; i++)
        if (comp_registry[i]->cat == cat && !strcmp(comp_registry[i]->name, name)) return comp_registry[i];
    return NULL;
}

const comp_type *comp_default(comp_cat cat)
{
    for (int i = 0; i < comp_registry_count; i++)
        if (comp_registry[i]->cat == cat && comp_registry[i]->is_default) return comp_registry[i];
    return NULL;
}

void comp_names(comp_cat cat, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < comp_registry_count; i++)
        if (comp_registry[i]->cat == cat && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", comp_registry[i]->name);
}

void *comp_cfg(model_spec *m, layer_spec *l, comp_cat cat)
{
    switch (cat) {
    case COMP_ATTN: return &l->attn;
    case COMP_FFN: return &l->ffn;
    case COMP_RES: return &l->res;
    default: return &m->ple;
    }
}

int comp_check_layer(const model_spec *m, const layer_spec *L, comp_cat *bad, sim_err *e)
{
    const comp_type *t[] = {L->attn.type, L->ffn.type, L->res.type, m->ple.type};
    int rc;
    for (int k = 0; k < COMP_CAT_COUNT; k++) {
        if (!t[k]) continue;
        *bad = (comp_cat)k;
        if (t[k]->check && (rc = t[k]->check(m, L, e))) return rc;
        if (t[k]->kv_table) {
            kv_buf b[KV_MAX_BUFS];
            if ((rc = t[k]->kv_table(m, L, 1, b, e)) < 0) return rc;
        }
    }
    return SIM_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;
    return (x > y) - (x < y);
}

/* Append T to list[*n] (at most max) unless present. */
static void put(u64 *list, int *n, int max, u64 T)
{
    for (int i = 0; i < *n; i++)
        if (list[i] == T) return;
    if (*n < max) list[(*n)++] = T;
}

int comp_edge_contexts(const model_spec *m, u64 cap, u64 *ctx, int max, u64 *skipped, int *n_skipped)
{
    int n = 0;
    *n_skipped = 0;
    u64 all[EDGE_MAX + 3];
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *L = &m->layer[i];
        const comp_type *t[] = {L->attn.type, L->ffn.type, L->res.type, m->ple.type};
        int na = 0;
        if (i == 0) { all[na++] = 1; all[na++] = 2; all[na++] = 37; }
        for (int k = 0; k < COMP_CAT_COUNT; k++) {
            if (!t[k] || !t[k]->edges) continue;
            u64 got[EDGE_MAX];
            int ng = t[k]->edges(L, got);
            for (int g = 0; g < ng && na < (int)(sizeof all / sizeof all[0]); g++) all[na++] = got[g];
        }
        for (int a = 0; a < na; a++) {
            if (all[a] == 0) continue;
            if (all[a] <= cap) put(ctx, &n, max, all[a]);
            else put(skipped, n_skipped, max, all[a]);
        }
    }
    qsort(ctx, (size_t)n, sizeof *ctx, cmp_u64);
    qsort(skipped, (size_t)*n_skipped, sizeof *skipped, cmp_u64);
    return n;
}
