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

u64 attn_entry_bytes(const fmt *f, u64 n)
{
    u64 b = 0;
    sim_err e;
    if (fmt_entry_bytes(f, n, &b, &e)) return 0;
    return b;
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
