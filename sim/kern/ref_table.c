/* ref_table.c - the kernels' table: each component type's reference kernel,
 * bound by type from the kernels' side (the model library never names a
 * kernel). Generated from the one list of types, sim/layers/types.h. */
#include "ref.h"
#include "types.h"
#include <string.h>

#define DECLARE(cat, name) extern const ref_ops ref_##cat##_##name;
KVSIM_TYPES(DECLARE)
#undef DECLARE

static const struct {
    const char *cat, *name;
    const ref_ops *ops;
} table[] = {
#define ENTRY(cat, name) {#cat, #name, &ref_##cat##_##name},
    KVSIM_TYPES(ENTRY)
#undef ENTRY
};

const ref_ops *ref_ops_for(const comp_type *t)
{
    static const char *const cat[COMP_CAT_COUNT] = {"attn", "ffn", "res", "ple"};
    if (!t) return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].cat, cat[t->cat]) && !strcmp(table[i].name, t->name)) return table[i].ops;
    return NULL;
}
