/* probe_curves.c - `kvsim probe`'s measurements for the time model
 * (tmodel.h), as calib.h's rows, so probe and `kvsim calibrate` fit them
 * with the same code: the products the kernels run on weights held in their
 * stored formats (kern_wq_matmul; fp32, bf16, fp8 e4m3 with an fp32 scale
 * per 16384, fp4 e2m1 with a ue8m0 scale per 32) at M = 1..4096 rows
 * against 256 x 256 and 1024 x 1024 weights of random values (never a
 * layer's), sgemm at M = 1..256 against a 1024 x 1024 weight (the rate
 * curve's summary),
 * a triad at working sets from 16 KiB to 384 MiB, a row gather and an empty
 * parallel region on `threads` threads (the kernels' count); element-wise
 * FLOPs and expf on one (the kernels run them serially). Each figure is the
 * best per repetition over calls of growing repetition counts, up to three
 * calls of at least 20 ms. */
#include "probe.h"
#include "calib.h"
#include "kern.h"
#include "kern_wq.h"
#include "quant.h"
#include "ref.h"
#include <cblas.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef _OPENMP
/* Built without OpenMP (make fuzz): one thread, wall time from the clock. */
static int omp_get_thread_num(void) { return 0; }
static int omp_get_num_threads(void) { return 1; }
static double omp_get_wtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds per repetition of fn(arg, reps) (which runs the work reps times
 * and returns how long it took). */
static double per_call(double (*fn)(void *, int), void *arg)
{
    double best = INFINITY;
    int reps = 1, runs = 0;
    /* Growing reps: every call counts toward the best; then 2 more calls at
     * the final count. fn returns the seconds its work took. */
    for (;;) {
        double t = fn(arg, reps);
        if (t / reps < best) best = t / reps;
        if (t >= 20e-3 || reps >= (1 << 24)) { if (++runs == 3) break; }
        else reps *= 4;
    }
    return best;
}

typedef struct { int M; float *a, *b, *c; size_t n; int threads; } work;

typedef struct { u64 M, N, K; const float *x; const kern_wq *w; float *y, *work; const float *B; } wq_work;

static double do_wq(void *p, int reps)
{
    wq_work *w = p;
    cost_t c;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        memset(&c, 0, sizeof c);
        if (w->B) kern_matmul(&c, FL_PROJ, DT_FP32, w->M, w->N, w->K, w->x, w->K, w->B, w->N, w->y, w->N, false, false);
        else kern_wq_matmul(&c, FL_PROJ, DT_FP32, w->M, w->N, w->K, w->x, w->K, w->w, 0, 1, w->K, w->y, w->N, false, w->work);
    }
    return now_s() - t0;
}

static int cmp_time(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One call of fn from cold caches: its operand buf[0 .. len) evicted
 * (kern_evict) and the threads woken by an empty parallel region; the
 * median of 15 such calls. Not the best: a decode step is a sum of many
 * such calls, and the best of a step's runs (what make bench and a user
 * measure) is not the sum of each call's best: with the best of 15 the
 * skinny products came out 30-45% faster than they run inside MLA's
 * decode steps; the median is what a call takes in a step. */
static double cold_call(double (*fn)(void *, int), void *arg, const void *buf, size_t len, int threads)
{
    enum { N = 15 };
    double t[N];
    for (int r = 0; r < N; r++) {
        kern_evict(buf, len);
        kern_evict_fence();
#pragma omp parallel num_threads(threads)
        {
            (void)0;
        }
        t[r] = fn(arg, 1);
    }
    qsort(t, N, sizeof t[0], cmp_time);
    return t[N / 2];
}

/* The gemm table's rows: each stored format at each M and size; M <= 16
 * (decode's skinny products) from cold caches, larger M warm (compute bound:
 * the weight is reused by every row). */
static int probe_wq(meas_set *s, float *x, float *y, float *vals, int threads, sim_err *e)
{
    /* Short sides 64, 128, 256 and 1024, each square and 4 x as wide (N =
     * 4 K): 128 as well, since a skinny product's time per element falls
     * steeply from 64 to 256 (a row's fixed part over fewer elements) and
     * the scaled models' experts (V4-Flash at 1/16: 256 x 128) sit there. */
    static const u64 Ms[] = {1, 2, 4, 8, 16, 64, 256, 1024, 4096},
                     sizes[][2] = {{64, 64},   {256, 64},   {2048, 64},   {128, 128},  {512, 128},
                                   {256, 256}, {1024, 256}, {1024, 1024}, {4096, 1024}};
    fmt fs[4];
    fmt_from_dtype(&fs[0], DT_FP32);
    fmt_from_dtype(&fs[1], DT_BF16);
    fmt_from_dtype(&fs[2], DT_FP8_E4M3);
    fs[2].part[0] = (fmt_part){.elements = 16384, .dt = DT_FP8_E4M3, .scaled = true, .scale_dt = DT_FP32, .block = 16384};
    fmt_from_dtype(&fs[3], DT_FP4_E2M1);
    fs[3].part[0] = (fmt_part){.elements = 32, .dt = DT_FP4_E2M1, .scaled = true, .scale_dt = DT_UE8M0, .block = 32};
    int rc = SIM_OK;
    for (int f = 0; f < 4 && !rc; f++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0] && !rc; z++) {
            u64 N = sizes[z][0], K = sizes[z][1];
            kern_wq w;
            if ((rc = kern_wq_init(&w, &fs[f], N * K, e))) break;
            kern_wq_encode(&w, vals);
            for (size_t i = 0; i < sizeof Ms / sizeof Ms[0] && !rc; i++) {
                u64 nw = kern_wq_work(Ms[i], N, K);
                float *ws = nw ? malloc(nw * sizeof *ws) : NULL;
                if (nw && !ws) { rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the gemm workspace"); break; }
                /* fp32: plain floats through BLAS (kern_matmul), as the
                 * kernels hold an fp32 weight and run every product
                 * without a stored weight (kern_wq's fp32 codes are only
                 * a scaled fp32 format's) */
                bool plain = f == 0;
                wq_work ww = {Ms[i], N, K, x, &w, y, ws, plain ? vals : NULL};
                const void *op = plain ? (const void *)vals : (const void *)w.codes;
                u64 ob = plain ? N * K * sizeof *vals : w.bytes;
                meas_row r = {.kind = MS_GEMM, .dt = fs[f].part[0].dt, .M = (double)Ms[i], .N = (double)N, .K = (double)K,
                              .seconds = Ms[i] <= 16 ? cold_call(do_wq, &ww, op, ob, threads) : per_call(do_wq, &ww)};
                rc = meas_add(s, &r, e);
                free(ws);
            }
            kern_wq_free(&w);
        }
    return rc;
}

/* ---- decode attention over stored cache rows ---------------------------------- */

typedef struct { const kern_attn *a; const float *q; const kern_src *src; float *o, *wk; } attn_work;

static double do_attn(void *p, int reps)
{
    attn_work *w = p;
    cost_t c;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        memset(&c, 0, sizeof c);
        kern_attn_query(&c, w->a, w->q, w->src, 1, w->o, w->wk);
    }
    return now_s() - t0;
}

/* The attn rows: cache rows in bf16, fp8 e4m3 (an fp32 scale per 128) and
 * fp32, at (heads, rows, width) = (1 and 8, 256 and 4096, 256), (1, 16384,
 * 256) and (4, 8192, 576), the rows evicted before each call (cold_call). */
static int probe_attn(meas_set *s, int threads, sim_err *e)
{
    static const u64 shapes[][3] = {{1, 256, 256},   {8, 256, 256},    {1, 4096, 256},
                                    {8, 4096, 256}, {1, 16384, 256}, {4, 8192, 576}};
    fmt fs[3];
    fmt_from_dtype(&fs[0], DT_BF16);
    fmt_from_dtype(&fs[1], DT_FP8_E4M3);
    fs[1].part[0] = (fmt_part){.elements = 0, .dt = DT_FP8_E4M3, .scaled = true, .scale_dt = DT_FP32, .block = 128};
    fmt_from_dtype(&fs[2], DT_FP32);
    u64 maxw = 576, maxr = 16384;
    uint8_t *rows = malloc(maxr * maxw * 4 + 4096);
    float *q = malloc(8 * maxw * sizeof *q), *o = malloc(8 * maxw * sizeof *o), *x = malloc(maxw * sizeof *x);
    int rc = SIM_OK;
    if (!rows || !q || !o || !x) rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the attention rows");
    for (u64 i = 0; !rc && i < 8 * maxw; i++) q[i] = (float)((i * 2654435761u) % 1001) * 1e-3f - 0.5f;
    for (int f = 0; f < 3 && !rc; f++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0] && !rc; k++) {
            u64 H = shapes[k][0], R = shapes[k][1], W = shapes[k][2], eb;
            if ((rc = fmt_entry_bytes(&fs[f], W, &eb, e))) break;
            for (u64 r = 0; r < R; r++) {
                for (u64 i = 0; i < W; i++) x[i] = (float)(((r * W + i) * 2654435761u) % 2001) * 1e-3f - 1.0f;
                quant_encode(&fs[f], x, W, rows + r * eb);
            }
            /* The rows as a layer's cache holds them, decoded by the same
             * routine (ref_cache_decode_row). */
            ref_cache ctx = {.name = "probe", .entries = R, .entry_bytes = eb, .elems = W, .f = fs[f], .data = rows};
            kern_src src = {.decode = ref_cache_decode_row, .ctx = &ctx, .width = W, .row_bytes = eb, .r0 = 0, .n = R};
            kern_attn a = {.H = H, .G = 1, .dq = W / 2, .dv = W / 2, .koff = 0, .voff = W / 2, .scale = 0.05f, .dt = DT_BF16};
            u64 nw = kern_attn_query_work(&a, &src, 1);
            float *wk = malloc((nw ? nw : 1) * sizeof *wk);
            if (!wk) { rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the attention workspace"); break; }
            attn_work aw = {&a, q, &src, o, wk};
            double t = cold_call(do_attn, &aw, rows, R * eb, threads);
            free(wk);
            if (!(t > 0)) { rc = sim_fail(e, SIM_EINVAL, "probe: attention over %s rows did not run", dtype_table[fs[f].part[0].dt].name); break; }
            meas_row m = {.kind = MS_ATTN, .dt = fs[f].part[0].dt, .M = (double)H, .K = (double)W, .count = (double)R, .seconds = t};
            rc = meas_add(s, &m, e);
        }
    free(rows); free(q); free(o); free(x);
    return rc;
}

/* ---- prefill attention ---------------------------------------------------------- */

typedef struct {
    const kern_attn *a;
    u64 n;
    const float *q;
    const kern_src *src;   /* causal: the one source; gathered: n of them */
    const u64 *lo, *hi;    /* causal bounds, or NULL: gathered */
    float *o, *wk;
    u64 flops;             /* FL_ATTN FLOPs of one call (the kernel's own count) */
} apre_work;

static double do_apre(void *p, int reps)
{
    apre_work *w = p;
    const kern_attn *a = w->a;
    cost_t c;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) {
        memset(&c, 0, sizeof c);
        if (w->lo) kern_attn_causal(&c, a, w->n, w->q, a->H * a->dq, w->src, 1, w->lo, w->hi, w->o, a->H * a->dv, w->wk);
        else kern_attn_queries(&c, a, w->n, w->q, a->H * a->dq, w->src, 1, w->o, a->H * a->dv, w->wk);
    }
    double t = now_s() - t0;
    w->flops = c.flops[FL_ATTN];
    return t;
}

/* The attn_causal, attn_window and attn_gather rows: prefill attention over float rows
 * of random values, count = the kernel's own attention FLOPs (QK and AV;
 * its softmax runs inside the tiles and inside the time). Causal and
 * windowed: (queries, heads, groups, head dim, window) = (1024, 4, 1, 128,
 * 0), (4096, 4, 1, 128, 0), (2048, 8, 2, 64, 0), (2048, 4, 1, 512, 128),
 * (4096, 2, 1, 512, 128); gathered: 256 queries each over k rows picked
 * from 4096 (every 4096 / k-th from a per-query offset), (heads, key dim,
 * value dim) = (4, 576, 512) (absorbed MLA: the value is the key's first
 * 512) and (4, 512, 512), k = 512 and 2048. */
static int probe_apre(meas_set *s, sim_err *e)
{
    static const u64 cz[][5] = {{1024, 4, 1, 128, 0}, {4096, 4, 1, 128, 0}, {2048, 8, 2, 64, 0}, {2048, 4, 1, 512, 128},
                                {4096, 2, 1, 512, 128}};
    static const u64 gz[][4] = {{4, 576, 512, 512}, {4, 576, 512, 2048}, {4, 512, 512, 512}, {4, 512, 512, 2048}};
    u64 maxn = 4096, maxw = 1152, maxq = 4096 * 8 * 128;
    float *rows = malloc(maxn * maxw * sizeof *rows), *q = malloc(maxq * sizeof *q), *o = malloc(maxq * sizeof *o);
    u64 *lo = malloc(maxn * sizeof *lo), *hi = malloc(maxn * sizeof *hi), *idx = malloc(256 * 2048 * sizeof *idx);
    kern_src *src = malloc(256 * sizeof *src);
    int rc = SIM_OK;
    if (!rows || !q || !o || !lo || !hi || !idx || !src) rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for prefill attention");
    for (u64 i = 0; !rc && i < maxn * maxw; i++) rows[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
    for (u64 i = 0; !rc && i < maxq; i++) q[i] = (float)((i * 40503u) % 1001) * 1e-3f - 0.5f;
    for (size_t k = 0; k < sizeof cz / sizeof cz[0] && !rc; k++) {
        u64 n = cz[k][0], H = cz[k][1], G = cz[k][2], dh = cz[k][3], W = cz[k][4];
        kern_attn a = {.H = H, .G = G, .dq = dh, .dv = dh, .koff = 0, .voff = G * dh, .scale = 0.05f, .dt = DT_BF16};
        kern_src one = {.x = rows, .ld = 2 * G * dh, .width = 2 * G * dh, .n = n};
        for (u64 t = 0; t < n; t++) { lo[t] = W && t + 1 > W ? t + 1 - W : 0; hi[t] = t + 1; }
        float *wk = malloc((kern_attn_causal_work(&a, n, lo, hi, 1) + 1) * sizeof *wk);
        if (!wk) { rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the attention workspace"); break; }
        apre_work w = {&a, n, q, &one, lo, hi, o, wk, 0};
        double t = per_call(do_apre, &w);
        free(wk);
        meas_row r = {.kind = W ? MS_AWINDOW : MS_ACAUSAL, .count = (double)w.flops, .seconds = t};
        rc = meas_add(s, &r, e);
    }
    for (size_t k = 0; k < sizeof gz / sizeof gz[0] && !rc; k++) {
        u64 n = 256, H = gz[k][0], dq = gz[k][1], dv = gz[k][2], K = gz[k][3], T = 4096, stride = T / K;
        kern_attn a = {.H = H, .G = 1, .dq = dq, .dv = dv, .koff = 0, .voff = 0, .scale = 0.05f, .dt = DT_BF16};
        for (u64 t = 0; t < n; t++) {
            for (u64 j = 0; j < K; j++) idx[t * K + j] = j * stride + (t * 7) % stride;
            src[t] = (kern_src){.x = rows, .ld = dq, .width = dq, .idx = idx + t * K, .n = K};
        }
        float *wk = malloc((kern_attn_queries_work(&a, n, src, 1) + 1) * sizeof *wk);
        if (!wk) { rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the attention workspace"); break; }
        apre_work w = {&a, n, q, src, NULL, NULL, o, wk, 0};
        double t = per_call(do_apre, &w);
        free(wk);
        meas_row r = {.kind = MS_AGATHER, .count = (double)w.flops, .seconds = t};
        rc = meas_add(s, &r, e);
    }
    free(rows); free(q); free(o); free(lo); free(hi); free(idx); free(src);
    return rc;
}

/* ---- top-k selection ------------------------------------------------------------ */

typedef struct { const float *sc; u64 nk, k; u64 *idx; } sel_work;

static double do_select(void *p, int reps)
{
    sel_work *w = p;
    u64 sink = 0;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) sink += ref_topk(w->sc, w->nk, w->k, w->idx);
    double t = now_s() - t0;
    if (sink == 1) t += 0;   /* keeps the calls */
    return t;
}

/* The select rows: ref_topk (the sparse indexers' selection) keeping 512
 * of 1024 .. 65536 random scores, on one thread as the kernels run it. */
static int probe_select(meas_set *s, sim_err *e)
{
    u64 nmax = 65536;
    float *sc = malloc(nmax * sizeof *sc);
    u64 *idx = malloc(nmax * sizeof *idx);
    int rc = SIM_OK;
    if (!sc || !idx) rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the selection");
    for (u64 i = 0; !rc && i < nmax; i++) sc[i] = (float)((i * 2654435761u) % 100003) * 1e-5f;
    for (u64 nk = 1024; nk <= nmax && !rc; nk *= 4) {
        sel_work w = {sc, nk, 512, idx};
        meas_row r = {.kind = MS_SELECT, .count = (double)nk, .seconds = per_call(do_select, &w)};
        rc = meas_add(s, &r, e);
    }
    free(sc); free(idx);
    return rc;
}

/* The repeated kernels run in ONE parallel region, each thread on its own
 * static part every repetition (no barrier between repetitions), and each
 * thread times its own loop: the call's time is the slowest thread's loop,
 * without the region's start-up (a thread scheduled late on a busy machine
 * is not bandwidth). The region's fixed cost is measured apart
 * (do_parallel), as the time model adds it apart. */
#define PARTS(n) long lo = (long)(n) * omp_get_thread_num() / omp_get_num_threads(), \
                      hi = (long)(n) * (omp_get_thread_num() + 1) / omp_get_num_threads(); \
                 double t0_ = omp_get_wtime()
#define PART_DONE(worst) do { double t_ = omp_get_wtime() - t0_; \
                              _Pragma("omp critical") { if (t_ > (worst)) (worst) = t_; } } while (0)

static double do_triad(void *p, int reps)
{
    work *w = p;
    double worst = 0;
    float *a = w->a, *b = w->b, *c = w->c;
#pragma omp parallel num_threads(w->threads)
    {
        PARTS(w->n);
        for (int r = 0; r < reps; r++)
            for (long i = lo; i < hi; i++) a[i] = b[i] + 3.0f * c[i];
        PART_DONE(worst);
    }
    return worst;
}

/* The kernels' element-wise routines on one thread, as a layer's rest runs
 * them per token: per row of 1024 floats of a, b and c, an RMSNorm of 256
 * (kern_rmsnorm), RoPE on 4 heads of 64 (kern_rope), a gated SiLU over 768
 * (kern_act) and a residual add of 256; w->M is set to their FLOPs as the
 * kernels count them (cost_t). */
static double do_elem(void *p, int reps)
{
    work *w = p;
    u64 rows = w->n / 1024;
    float *a = w->a, *b = w->b, *c = w->c, o[768];
    kern_rope_cfg rc = {.cfg = {.theta = 10000, .scaling = ROPE_SCALE_NONE, .factor = 1}};
    cost_t ct;
    memset(&ct, 0, sizeof ct);
    double t0 = now_s();
    for (int r = 0; r < reps; r++)
        for (u64 i = 0; i < rows; i++) {
            float *x = a + i * 1024, *g = b + i * 1024, *u = c + i * 1024;
            kern_rmsnorm(&ct, FL_OTHER, x, u + 768, x + 256, 256, 1e-6f);
            for (int h = 0; h < 4; h++) kern_rope(&ct, &rc, x + 256 + 64 * h, 64, i, false);
            kern_act(&ct, g, u, o, 768, false);
#pragma omp simd
            for (int j = 0; j < 256; j++) x[j] += x[256 + j];
        }
    double t = now_s() - t0;
    w->M = (int)((ct.flops[FL_OTHER] + (u64)reps * rows * 256) / (u64)reps / (rows ? rows : 1));   /* FLOPs a row */
    return t;
}

/* mHC's element-wise work on one thread, as res_ref.c runs it per token
 * and sublayer: 4 streams of 256 (DeepSeek-V4's hc_mult), Sinkhorn's 20
 * iterations on the 4 x 4 logits (kern_sinkhorn), the pre-mix
 * (kern_hc_pre) and the post-mix (kern_hc_post) over rows of a (the
 * streams), b (the sublayer's output) and c (u); w->M is set to their
 * FLOPs a row as the kernels count them. */
static double do_mix(void *p, int reps)
{
    enum { S = 4, D = 256 };
    work *w = p;
    u64 rows = w->n / (S * D);
    float *a = w->a, *b = w->b, *c = w->c, B[S * S], A[S] = {0.3f, 0.2f, 0.25f, 0.25f}, Cc[S] = {1, 0.9f, 1.1f, 1}, Xn[S * D];
    cost_t ct;
    memset(&ct, 0, sizeof ct);
    double t0 = now_s();
    for (int r = 0; r < reps; r++)
        for (u64 i = 0; i < rows; i++) {
            for (int j = 0; j < S * S; j++) B[j] = (float)((j * 7 + (int)(i % 5)) % 11) * 0.1f;
            kern_sinkhorn(&ct, B, S, 20, 1e-6f);
            kern_hc_pre(c + i * D, A, a + i * S * D, S, D);
            kern_hc_post(a + i * S * D, Xn, B, Cc, b + i * D, S, D);
        }
    double t = now_s() - t0;
    u64 per = (u64)(2 * S * D + 2 * S * S * D + 2 * S * D);   /* the mixes, as res_ref.c counts them */
    w->M = (int)(ct.flops[FL_MHC] / (u64)reps / (rows ? rows : 1) + per);
    return t;
}

static double do_exp(void *p, int reps)
{
    work *w = p;
    double worst = 0;
    float *x = w->a, *y = w->b;
#pragma omp parallel num_threads(w->threads)
    {
        PARTS(w->n);
        for (int r = 0; r < reps; r++)
            for (long i = lo; i < hi; i++) y[i] = expf(x[i] * 1e-3f);
        PART_DONE(worst);
    }
    return worst;
}

/* Gather w->M rows of 128 floats at pseudo-random row indices of a table of
 * w->n floats into w->c. */
static double do_gather(void *p, int reps)
{
    work *w = p;
    double worst = 0;
    unsigned long rows = (unsigned long)(w->n / 128);
#pragma omp parallel num_threads(w->threads)
    {
        PARTS(w->M);
        for (int r = 0; r < reps; r++)
            for (long i = lo; i < hi; i++) {
                unsigned long k = ((unsigned long)(i + r) * 2654435761u) % rows;
                memcpy(w->c + i * 128, w->a + k * 128, 128 * sizeof(float));
            }
        PART_DONE(worst);
    }
    return worst;
}

/* An empty parallel region, each one timed on its own: the call returns
 * reps x the fastest region's time. On a shared machine a region waits for
 * a thread the scheduler has parked (a time slice, milliseconds), so the
 * average over regions measures the neighbours, not the fork and join; the
 * least disturbed region is the figure (as every other figure here is a best). */
static double do_parallel(void *p, int reps)
{
    work *w = p;
    double best = INFINITY, start = now_s();
    (void)w;   /* only the OpenMP pragma reads it */
    /* At least 256 regions (or 0.2 s of them) whatever reps: the minimum
     * needs samples. */
    for (int r = 0; r < reps || (r < 256 && now_s() - start < 0.2); r++) {
        volatile int sink = 0;
        double t0 = now_s();
#pragma omp parallel num_threads(w->threads)
        {
            if (omp_get_thread_num() == 0) sink = 1;
        }
        double t = now_s() - t0;
        if (t < best) best = t;
        (void)sink;
    }
    return best * reps;
}

int probe_curves(meas_set *s, int threads, sim_err *e)
{
    size_t big = (size_t)32 << 20;   /* floats per array: 3 x 128 MiB */
    float *a = malloc(big * sizeof *a), *b = malloc(big * sizeof *b), *c = malloc(big * sizeof *c);
    if (!a || !b || !c) { free(a); free(b); free(c); return sim_fail(e, SIM_ENOMEM, "probe: no memory for the buffers"); }
    for (size_t i = 0; i < big; i++) { a[i] = (float)(i % 13) * 0.01f; b[i] = 1; c[i] = 2; }
    int rc = SIM_OK;
    work w = {.a = a, .b = b, .c = c, .threads = threads};
    openblas_set_num_threads(threads);
    /* Triad over 3 arrays of n floats: 12 n bytes, from 16 KiB to 384 MiB. */
    for (size_t n = 1365; n <= big && !rc; n *= 4) {
        w.n = n;
        meas_row r = {.kind = MS_STREAM, .bytes = 12.0 * (double)n, .seconds = per_call(do_triad, &w)};
        rc = meas_add(s, &r, e);
    }
    /* Element-wise work and exp on one thread: the reference kernels run
     * them serially (SIMD only; kern.c, res_ref.c), GEMMs and attention in
     * parallel regions. The element-wise rows: the kernels' own routines
     * (do_elem) over 4 to 4096 rows, their FLOPs as the kernels count them. */
    w.threads = 1;
    for (size_t i = 0; i < ((size_t)16 << 20); i++) {
        a[i] = 0.5f + (float)(i % 97) * 0.01f;
        b[i] = (float)(i % 89) * 0.02f - 0.9f;
        c[i] = (float)(i % 83) * 0.01f - 0.4f;
    }
    /* 1 to 64 rows (M = rows: the by-tokens table, a decode step's
     * element-wise work from L1 and L2), then 256 to 16384 (3 to 192 MiB,
     * no M: the affine fit, a layer's rest over 1K to 16K tokens streamed
     * from the last-level cache and memory). The 1,024-row point runs at
     * 5.1 GFLOP/s where the layers' 1K-token rests ran at about 3 (their
     * per-token arrays are larger than a row): as a table point it made the
     * 1K prefills 12-23% slower than predicted. */
    for (size_t n = 1024; n < ((size_t)256 << 10) && !rc; n *= 4) {
        w.n = n;
        double sec = per_call(do_elem, &w);
        meas_row r = {.kind = MS_ELEM, .M = (double)(n / 1024), .count = (double)w.M * (double)(n / 1024), .seconds = sec};
        rc = meas_add(s, &r, e);
    }
    for (size_t n = (size_t)256 << 10, ne = 4096; n <= ((size_t)16 << 20) && !rc; n *= 4, ne *= 8) {
        w.n = n;
        double sec = per_call(do_elem, &w);
        meas_row r = {.kind = MS_ELEM, .count = (double)w.M * (double)(n / 1024), .seconds = sec};
        if (!(rc = meas_add(s, &r, e))) {
            w.n = ne;   /* exp over 4096 to 2M floats, as before */
            meas_row x = {.kind = MS_EXP, .count = (double)ne, .seconds = per_call(do_exp, &w)};
            rc = meas_add(s, &x, e);
        }
    }
    /* mHC's stream mixing over 256 to 16384 tokens (1 to 64 MiB of streams). */
    for (size_t n = (size_t)1 << 18; n <= ((size_t)16 << 20) && !rc; n *= 4) {
        w.n = n;
        double sec = per_call(do_mix, &w);
        meas_row r = {.kind = MS_MIX, .count = (double)w.M * (double)(n / 1024), .seconds = sec};
        rc = meas_add(s, &r, e);
    }
    w.threads = threads;
    w.n = big;
    for (int m = 256; m <= 16384 && !rc; m *= 4) {
        w.M = m;
        meas_row r = {.kind = MS_GATHER, .count = m, .bytes = 512.0 * m, .seconds = per_call(do_gather, &w)};
        rc = meas_add(s, &r, e);
    }
    if (!rc) {
        meas_row r = {.kind = MS_PARALLEL, .seconds = per_call(do_parallel, &w)};
        rc = meas_add(s, &r, e);
    }
    free(a); free(b); free(c);
    /* The stored-format products (x: 4096 x 1024 floats, y: 4096 x 1024
     * outputs, v: the weight's values) and decode attention. */
    if (!rc) {
        float *x = malloc((size_t)4096 * 1024 * sizeof *x), *y = malloc((size_t)4096 * 4096 * sizeof *y),
              *v = malloc((size_t)4096 * 1024 * sizeof *v);
        if (!x || !y || !v) rc = sim_fail(e, SIM_ENOMEM, "probe: no memory for the products");
        for (size_t i = 0; !rc && i < (size_t)4096 * 1024; i++) x[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; !rc && i < (size_t)4096 * 1024; i++) v[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
        if (!rc) rc = probe_wq(s, x, y, v, threads, e);
        free(x); free(y); free(v);
        if (!rc) rc = probe_attn(s, threads, e);
        if (!rc) rc = probe_select(s, e);
        if (!rc) rc = probe_apre(s, e);
        if (!rc) {   /* the reference kernels compute every product without a stored weight in fp32 (BLAS) */
            meas_row r = {.kind = MS_COMPUTE, .dt = DT_FP32};
            rc = meas_add(s, &r, e);
        }
    }
    return rc;
}
