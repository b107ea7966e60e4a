/* layer.c - the one registration table of component types; see layer.h for
 * the three steps that add a type. */
#include "layer.h"
#include <string.h>
#include <stdio.h>

extern const comp_type comp_attn_gqa, comp_attn_mla, comp_attn_dsa, comp_attn_csa, comp_attn_hca,
    comp_attn_swa4, comp_attn_cca, comp_ffn_none, comp_ffn_dense, comp_ffn_moe, comp_res_plain, comp_res_mhc;

const comp_type *const comp_registry[] = {
    &comp_attn_gqa, &comp_attn_mla, &comp_attn_dsa, &comp_attn_csa, &comp_attn_hca, &comp_attn_swa4,
    &comp_attn_cca, &comp_ffn_none, &comp_ffn_dense, &comp_ffn_moe, &comp_res_plain, &comp_res_mhc,
};
const int comp_registry_count = (int)(sizeof comp_registry / sizeof comp_registry[0]);

const comp_type *comp_find(comp_cat cat, const char *name)
{
    for (int i = 0; i < comp_registry_count; i++)
        if (comp_registry[i]->cat == cat && !strcmp(comp_registry[i]->name, name)) return comp_registry[i];
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
