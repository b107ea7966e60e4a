/* ref_hca.c - reference kernel of DeepSeek V4's heavily compressed attention
 * (attn_hca.c): every query attends, in one softmax, to all complete
 * compressed entries (non-overlapping learned pooling of m tokens, ref_v4.c)
 * and to its window rows. Caches: 0 compressed entries, 1 window, 2 the
 * compressor's pending rows. Decode reads every visible entry. */
#include "ref.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    ref_v4 v4;
    ref_v4cmp cmp;
} hca;

static int init(ref_layer *L, sim_err *e)
{
    const attn_cfg *a = &L->ls->attn;
    hca *w = calloc(1, sizeof *w);
    L->priv[0] = w;
    if (!w) return sim_fail(e, SIM_ENOMEM, "out of memory");
    int rc = ref_v4_init(L, &w->v4, 1, e);
    return rc ? rc : ref_v4_cmp_init(L, &w->cmp, "cmp", a->compress_ratio, 1, a->head_dim, a->rope_dim, 0, 2, &a->kv_fmt, FL_COMPRESS, e);
}

static int forward(ref_layer *L, const ref_step *s, const float *x, float *y, sim_err *e)
{
    ref_model *M = L->M;
    const attn_cfg *a = &L->ls->attn;
    hca *w = L->priv[0];
    u64 n = s->n, H = a->q_heads, c = a->head_dim, W = a->window, m = a->compress_ratio, T = s->T0 + n;
    float *q = REF_ALLOC(M, n * H * c, float), *cq = REF_ALLOC(M, n * a->q_lora_rank, float);
    float *kv = REF_ALLOC(M, n * c, float), *o = REF_ALLOC(M, n * H * c, float);
    float *ent = REF_ALLOC(M, (n / m + 1) * c, float);
    float *win;
    u64 base;
    int rc;
    if (!q || !cq || !kv || !o || !ent) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if ((rc = ref_v4_project(L, &w->v4, s, x, q, cq, kv, e)) || (rc = ref_v4_window(L, s, 1, kv, &win, &base, e)) ||
        (rc = ref_v4_cmp_step(L, &w->cmp, s, x, ent, e)))
        return rc;
    /* One softmax over the complete entries [0, (t+1)/m) and the window
     * rows [t-W+1, t]: two sources, in that order (non-causal prefill: all
     * n/m entries and rows |t - v| < W). */
    kern_src src[2];
    if (s->ph == PH_DECODE) {
        ref_kv_src(L, L, 0, 0, 0, T / m, NULL, &src[0]);
        ref_kv_src(L, L, 1, W, base, T - base, NULL, &src[1]);
        if ((rc = ref_v4_attend_queries(L, &w->v4, 1, q, src, 2, o, e))) return rc;
    } else {
        u64 *lo = REF_ALLOC(M, 4 * n, u64), *hi = lo ? lo + 2 * n : NULL;
        if (!lo) return sim_fail(e, SIM_ENOMEM, "out of memory");
        for (u64 t = 0; t < n; t++) {
            lo[t] = 0;
            hi[t] = M->opt.noncausal ? n / m : (t + 1) / m;   /* non-causal: every complete entry */
        }
        ref_window_bounds(M, n, W, lo + n, hi + n);
        src[0] = (kern_src){.x = ent, .ld = c};
        src[1] = (kern_src){.x = win, .ld = c};
        if ((rc = ref_v4_attend_causal(L, &w->v4, n, q, src, 2, lo, hi, o, e))) return rc;
    }
    return ref_v4_output(L, &w->v4, s, o, y, e);
}

const ref_ops ref_attn_hca = {.init = init, .forward = forward};
