/* ffn_none.c - a layer without an FFN (attention-only blocks). */
#include "layer.h"

static const field_def fields[] = {{0}};

static void cost(const cost_ctx *c, const layer_spec *l, int layer, cost_t *o)
{
    (void)c; (void)l; (void)layer; (void)o;
}

const comp_type comp_ffn_none = {"none", COMP_FFN, "no FFN", fields, NULL, NULL, cost, &ref_ops_ffn_none};
