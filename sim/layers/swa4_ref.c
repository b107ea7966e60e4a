/* ref_swa4.c - reference kernel of DeepSeek V4's sliding-window-only layers
 * (attn_swa4.c): the V4 q path, shared KV head and grouped output (ref_v4.c)
 * over the last `window` rows only. Cache 0: the window ring. */
#include "ref.h"
#include <stdlib.h>

static int init(ref_layer *L, sim_err *e)
{
    ref_v4 *w = calloc(1, sizeof *w);
    L->priv[0] = w;
    if (!w) return sim_fail(e, SIM_ENOMEM, "out of memory");
    return ref_v4_init(L, w, 0, e);
}

static int forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    ref_v4 *w = L->priv[0];
    u64 n = s->n, H = a->q_heads, c = a->head_dim, W = a->window;
    float *q = REF_ALLOC(M, n * H * c, float), *cq = REF_ALLOC(M, n * a->q_lora_rank, float);
    float *kv = REF_ALLOC(M, n * c, float), *o = REF_ALLOC(M, n * H * c, float);
    float *win;
    u64 base;
    int rc;
    if (!q || !cq || !kv || !o) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if ((rc = ref_v4_project(L, w, s, x, q, cq, kv, e)) || (rc = ref_v4_window(L, s, 0, kv, &win, &base, e))) return rc;
    if (s->ph == PH_DECODE) {
        kern_src src;
        ref_kv_src(L, L, 0, W, base, s->T0 + 1 - base, NULL, &src);
        if ((rc = ref_v4_attend_queries(L, w, 1, q, &src, 1, o, e))) return rc;
    } else {
        u64 *lo = REF_ALLOC(M, 2 * n, u64), *hi = lo ? lo + n : NULL;
        if (!lo) return sim_fail(e, SIM_ENOMEM, "out of memory");
        ref_window_bounds(M, n, W, lo, hi);
        kern_src src = {.x = win, .ld = c};
        if ((rc = ref_v4_attend_causal(L, w, n, q, &src, 1, lo, hi, o, e))) return rc;
    }
    return ref_v4_output(L, w, s, o, y, e);
}

const ref_ops ref_attn_swa4 = {.init = init, .forward = forward};
