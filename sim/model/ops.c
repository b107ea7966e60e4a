/* ops.c - the operation list of a cost evaluation; see ops.h. */
#include "ops.h"
#include <stdlib.h>
#include <string.h>

const char *const op_kind_name[OP_KIND_COUNT] = {"gemm", "flops", "elementwise", "weights", "traffic"};

static cost_op *append(cost_ops *o)
{
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 64;
        cost_op *p = realloc(o->op, (size_t)cap * sizeof *p);
        if (!p) { o->nomem = true; return NULL; }
        o->op = p;
        o->cap = cap;
    }
    cost_op *p = &o->op[o->n++];
    memset(p, 0, sizeof *p);
    p->layer = o->layer;
    return p;
}

void cost_ops_begin(cost_ops *o)
{
    o->n = 0;
    o->layer = -1;
    o->nomem = false;
}

void cost_ops_layer(cost_ops *o, int layer)
{
    o->layer = layer;
    o->layer_wbytes = 0;
    o->uses[layer] = 1;
}

void cost_ops_repeat(cost_ops *o, int root, int layer)
{
    (void)layer;
    o->uses[root]++;
}

void cost_ops_weights(const cost_ctx *c, wclass wc, u64 params, u64 bytes_read)
{
    (void)wc;
    if (!bytes_read) return;   /* stored, not read this step */
    c->ops->layer_wbytes += bytes_read;
    cost_op *p = append(c->ops);
    if (!p) return;
    p->kind = OP_WEIGHTS;
    p->bytes = bytes_read;
    p->NK = params;
}

void cost_ops_flops(const cost_ctx *c, flop_cat cat, dtype dt, u64 flops)
{
    cost_ops *o = c->ops;
    if (!flops) return;
    /* The product of the weight read just before: 2 x tokens x parameters. */
    if (o->n && cat != FL_OTHER) {
        cost_op *w = &o->op[o->n - 1];
        bool ovf = false;
        if (w->kind == OP_WEIGHTS && w->layer == o->layer && cmul3(&ovf, 2, c->ntok, w->NK) == flops && !ovf) {
            w->kind = OP_GEMM;
            w->cat = cat;
            w->dt = dt;
            w->flops = flops;
            w->M = c->ntok;
            return;
        }
    }
    cost_op *p = append(o);
    if (!p) return;
    p->kind = cat == FL_OTHER ? OP_ELEM : OP_FLOPS;
    p->M = c->ntok;
    p->cat = cat;
    p->dt = dt;
    p->flops = flops;
}

static void add_mem(cost_ops *o, op_kind kind, u64 bytes)
{
    if (!bytes) return;
    cost_op *p = append(o);
    if (!p) return;
    p->kind = kind;
    p->bytes = bytes;
}

void cost_ops_traffic(cost_ops *o, const cost_t *layer)
{
    bool ovf = false;
    add_mem(o, OP_TRAFFIC, cadd(&ovf, cadd(&ovf, layer->kv_read_bytes, layer->kv_written_bytes), layer->act_bytes));
    if (layer->weight_read_bytes > o->layer_wbytes) add_mem(o, OP_WEIGHTS, layer->weight_read_bytes - o->layer_wbytes);
}

void cost_ops_finish(cost_ops *o, const cost_t *total)
{
    bool ovf = false;
    u64 w = 0, t = 0;
    for (int i = 0; i < o->n; i++) {
        const cost_op *p = &o->op[i];
        u64 k = p->layer >= 0 ? (u64)o->uses[p->layer] : 1;
        if (p->kind == OP_GEMM || p->kind == OP_WEIGHTS) w = cadd(&ovf, w, cmul(&ovf, p->bytes, k));
        if (p->kind == OP_TRAFFIC) t = cadd(&ovf, t, cmul(&ovf, p->bytes, k));
    }
    o->layer = -1;
    u64 tt = cadd(&ovf, cadd(&ovf, total->kv_read_bytes, total->kv_written_bytes), total->act_bytes);
    if (total->weight_read_bytes > w) add_mem(o, OP_WEIGHTS, total->weight_read_bytes - w);
    if (tt > t) add_mem(o, OP_TRAFFIC, tt - t);
}

void cost_ops_free(cost_ops *o)
{
    free(o->op);
    o->op = NULL;
    o->n = o->cap = 0;
}
