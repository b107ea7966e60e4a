/* attn_common.c - small helpers shared by the attention files. */
#include "layer.h"

u64 attn_vdim(const attn_cfg *a)
{
    return a->v_head_dim ? a->v_head_dim : a->head_dim;
}

int attn_check_heads(const attn_cfg *a, sim_err *e)
{
    if (a->kv_heads && a->q_heads % a->kv_heads)
        return sim_fail(e, SIM_EINVAL, "q_heads = %llu is not a multiple of kv_heads = %llu",
                        (unsigned long long)a->q_heads, (unsigned long long)a->kv_heads);
    if (a->head_dim && a->rope_dim > a->head_dim)
        return sim_fail(e, SIM_EINVAL, "rope_dim = %llu exceeds head_dim = %llu",
                        (unsigned long long)a->rope_dim, (unsigned long long)a->head_dim);
    return SIM_OK;
}

int edge_add(u64 *ctx, int n, u64 T)
{
    if (T == 0 || n >= EDGE_MAX) return n;
    for (int i = 0; i < n; i++)
        if (ctx[i] == T) return n;
    ctx[n] = T;
    return n + 1;
}

void attn_cache_traffic(const cost_ctx *c, cost_t *o, u64 held_rows, u64 row_bytes,
                        u64 read_rows, u64 new_rows, bool shared)
{
    bool *ovf = c->ovf;
    u64 B = c->q.B, pg = c->q.page;
    /* Paged allocation rounds the rows held up to whole pages; traffic stays logical. */
    u64 alloc = pg > 1 ? cmul(ovf, held_rows / pg + (held_rows % pg != 0), pg) : held_rows;
    if (!shared) o->kv_bytes = cadd(ovf, o->kv_bytes, cmul3(ovf, B, alloc, row_bytes));
    if (c->q.phase == PH_PREFILL) {
        if (!shared) o->kv_written_bytes = cadd(ovf, o->kv_written_bytes, cmul3(ovf, B, held_rows, row_bytes));
        return;
    }
    o->kv_read_bytes = cadd(ovf, o->kv_read_bytes, cmul3(ovf, B, read_rows, row_bytes));
    if (!shared) o->kv_written_bytes = cadd(ovf, o->kv_written_bytes, cmul3(ovf, B, new_rows, row_bytes));
}

/* Edges of a sliding window W: one below, at and one past it, and 2W - 1,
 * where a non-causal (symmetric) window first holds all its 2W - 1 keys. */
int attn_window_edges(const attn_cfg *a, u64 *ctx, int n)
{
    if (!a->window) return n;
    n = edge_add(ctx, n, a->window - 1);
    n = edge_add(ctx, n, a->window);
    n = edge_add(ctx, n, a->window + 1);
    return edge_add(ctx, n, 2 * a->window - 1);
}

/* Edges of m:1 compression with top-k over its entries (k = 0: none): a
 * decode step at m-1 completes the first block, 2m+1 is no multiple; the
 * entries reach k at k m. Without compression (m = 0), around k itself. */
int attn_compress_edges(u64 m, u64 k, u64 *ctx, int n)
{
    if (m) {
        n = edge_add(ctx, n, m - 1);
        n = edge_add(ctx, n, m);
        n = edge_add(ctx, n, m + 1);
        n = edge_add(ctx, n, 2 * m + 1);
        if (k) {
            n = edge_add(ctx, n, k * m - 1);
            n = edge_add(ctx, n, k * m);
            n = edge_add(ctx, n, k * m + m + 1);
        }
    } else if (k) {
        n = edge_add(ctx, n, k - 1);
        n = edge_add(ctx, n, k);
        n = edge_add(ctx, n, k + 1);
    }
    return n;
}
