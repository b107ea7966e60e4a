/* kern_attn.c - the attention kernels: tiled prefill with an online softmax,
 * streaming one-query attention, and their naive twin; see kern.h.
 *
 * Legend: H query heads, G kv groups, grp = H/G heads per group, dq key dim,
 * dv value dim; a query tile holds R = queries x grp rows (the heads of one
 * group: they share every key), a key tile BK rows; the streaming kernel
 * cuts its rows into chunks of CH.
 *
 * Online softmax (Milakov & Gimelshein 2018; FlashAttention, Dao et al.
 * 2022, algorithm 1): per row, m = running max, l = running sum of e^(s-m),
 * O = running sum of e^(s-m) v; a new block with max m' > m rescales l and O
 * by e^(m-m'). Scores are pre-scaled by folding `scale` into the query copy.
 * Rejected: one exp per score with glibc's expf (scalar: several times the
 * cost of kern_exp's vector polynomial, and it does not vectorise without
 * -ffast-math); a copy of K/V into tiles (sgemm reads them in place);
 * smaller tiles (64 x 128: ~15% slower; 256 x 256 keeps R dq + R BK + R dv
 * floats, 1.3 MB at dq = dv = 512, per thread).
 */
#include "kern_attn_gather.h"
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <assert.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef KA_BK
#define KA_BK   256      /* keys per tile (causal kernel) */
#endif
#ifndef KA_ROWS
#define KA_ROWS 256      /* rows per query tile (queries x heads of a group) */
#endif
#ifndef KA_GEMV_MAX
#define KA_GEMV_MAX 4    /* heads per group up to which a chunk uses sgemv, not sgemm */
#endif
/* Smallest work (FLOPs) worth a parallel region: forking costs microseconds,
 * and on a busy machine a region waits for its slowest thread, so small
 * steps (short contexts, decode at a few hundred tokens) stay serial. */
#define KA_PAR_FLOPS (1u << 22)
#define KA_PAR_ELEMS (1u << 16)   /* row elements a query streams above which its chunks split over threads */

/* ---- exp ------------------------------------------------------------------------ */

/* e^x: kern_exp (kern.h), inline so that loops over scores vectorise. */
#define ka_exp kern_exp

/* The two loops every score goes through are built twice, for AVX2 (8
 * lanes) and for the x86-64 baseline (SSE2, 4 lanes), picked at load time
 * (GCC's target_clones): ~15% of a GQA prefill. Their sums then differ in
 * the last bits between the two kinds of machine, as BLAS's do. */
#if defined(__x86_64__) && defined(__GNUC__)
#define KA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define KA_CLONES
#endif

/* y[i] = e^(x[i] - m); returns the sum (vector lanes, then in order). */
KA_CLONES static float ka_exp_sum(const float *x, float *y, u64 n, float m)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (u64 i = 0; i < n; i++) {
        float p = ka_exp(x[i] - m);
        y[i] = p;
        s += p;
    }
    return s;
}

/* max(m, x[0 .. n)), eight running maxima (vectorised without a pragma:
 * clang at -O1 refuses `omp simd reduction(max)` with a warning). */
KA_CLONES static float ka_max(const float *x, u64 n, float m)
{
    float mm[8] = {m, m, m, m, m, m, m, m};
    u64 i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) mm[k] = x[i + k] > mm[k] ? x[i + k] : mm[k];
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int k = 0; k < 8; k++) m = mm[k] > m ? mm[k] : m;
    return m;
}

/* ---- shared pieces ------------------------------------------------------------------ */

static kern_attn_stats stats;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

kern_attn_stats kern_attn_stats_get(void)
{
    return stats;
}

static inline int tid(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline bool in_parallel(void)
{
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return false;
#endif
}

static u64 flops_of(const kern_attn *a, u64 rows)
{
    return rows * a->H * 2 * (a->dq + a->dv);
}

static void count(cost_t *c, const kern_attn *a, u64 rows)
{
    kern_count(c, FL_ATTN, a->dt, rows * a->H * 2 * (a->dq + a->dv));
    kern_count(c, FL_OTHER, DT_FP32, rows * a->H * FLOPS_SOFTMAX);
}

static u64 ceil_div(u64 a, u64 b) { return (a + b - 1) / b; }

/* Rows per chunk of the streaming kernel: about 512 KiB of fp32 K and V per
 * chunk (an L2's worth), a multiple of 16, 32..256. A function of the shape
 * only: never of the thread count or of where the rows come from. */
static u64 chunk_rows(const kern_attn *a)
{
    u64 w = a->G * (a->dq + a->dv), ch = (131072 / (w ? w : 1)) / 16 * 16;
    return ch < 32 ? 32 : ch > 256 ? 256 : ch;
}

static u64 src_chunks(const kern_src *src, int nsrc, u64 ch)
{
    u64 k = 0;
    for (int s = 0; s < nsrc; s++) k += ceil_div(src[s].n, ch);
    return k;
}

/* Floats of one worker's scratch: the query copy (H dq), a chunk's scores
 * (H ch) and, for decoded or gathered sources, a chunk of rows. */
static u64 worker_floats(const kern_attn *a, const kern_src *src, int nsrc, u64 ch)
{
    u64 w = 0;
    for (int s = 0; s < nsrc; s++)
        if (src[s].decode || src[s].idx) w = src[s].width > w ? src[s].width : w;
    return a->H * a->dq + a->H * ch + ch * w;
}

/* Partials of one chunk: per head m, l, then acc[dv]. */
#define PART(a) ((a)->dv + 2)

/* One chunk: rows [j0, j0 + nr) of source s for every head -> part[H PART].
 * Rows decoded or gathered are first put in `tile`. Few heads per group
 * (decode, MQA) go through sgemv: sgemm would pack (copy) the whole chunk
 * for a product only a few rows tall. Rejected: hand-written loops over
 * row pointers, all heads per pass (no gather copy): 25% slower than
 * OpenBLAS's sgemv kernels here (no FMA in ISO C without -ffp-contract). */
static void chunk_run(const kern_attn *a, const float *qs, const kern_src *s, u64 j0, u64 nr, float *S, float *tile,
                      float *part)
{
    u64 grp = a->H / a->G, ld;
    const float *rows;
    if (s->x && !s->idx) {
        rows = s->x + (s->r0 + j0) * s->ld;
        ld = s->ld;
    } else {
        for (u64 j = 0; j < nr; j++) {
            u64 r = s->idx ? s->idx[j0 + j] : s->r0 + j0 + j;
            if (s->x) memcpy(tile + j * s->width, s->x + r * s->ld, s->width * sizeof(float));
            else s->decode(s->ctx, s->ring ? r % s->ring : r, tile + j * s->width);
        }
        rows = tile;
        ld = s->width;
    }
    for (u64 g = 0; g < a->G; g++) {
        const float *K = rows + a->koff + g * a->dq, *V = rows + a->voff + g * a->dv;
        if (grp <= KA_GEMV_MAX) {
            /* beta = 0 must not read y (workspaces are not cleared): clear it. */
            memset(S, 0, grp * nr * sizeof *S);
            for (u64 hh = 0; hh < grp; hh++)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nr, (int)a->dq, 1.0f, K, (int)ld, qs + (g * grp + hh) * a->dq,
                            1, 0.0f, S + hh * nr, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)grp, (int)nr, (int)a->dq, 1.0f, qs + g * grp * a->dq,
                        (int)a->dq, K, (int)ld, 0.0f, S, (int)nr);
        }
        for (u64 hh = 0; hh < grp; hh++) {
            float *ph = part + (g * grp + hh) * PART(a), *sr = S + hh * nr;
            ph[0] = ka_max(sr, nr, -INFINITY);
            ph[1] = ka_exp_sum(sr, sr, nr, ph[0]);
        }
        /* acc = P V, one row per head: the heads' rows of `part` are PART apart. */
        if (grp <= KA_GEMV_MAX)
            for (u64 hh = 0; hh < grp; hh++) {
                float *acc = part + (g * grp + hh) * PART(a) + 2;
                memset(acc, 0, a->dv * sizeof *acc);
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)nr, (int)a->dv, 1.0f, V, (int)ld, S + hh * nr, 1, 0.0f, acc, 1);
            }
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)grp, (int)a->dv, (int)nr, 1.0f, S, (int)nr, V,
                        (int)ld, 0.0f, part + g * grp * PART(a) + 2, (int)PART(a));
    }
}

/* Merge the chunk partials in chunk order into o[H dv]. */
static void merge(const kern_attn *a, const float *parts, u64 nch, float *o)
{
    for (u64 h = 0; h < a->H; h++) {
        float M = a->sink ? a->sink[h] : -INFINITY, L;
        for (u64 k = 0; k < nch; k++) M = fmaxf(M, parts[(k * a->H + h) * PART(a)]);
        float *oh = o + h * a->dv;
        L = a->sink ? ka_exp(a->sink[h] - M) : 0.0f;
        memset(oh, 0, a->dv * sizeof *oh);
        for (u64 k = 0; k < nch; k++) {
            const float *p = parts + (k * a->H + h) * PART(a);
            float w = ka_exp(p[0] - M);
            L += w * p[1];
#pragma omp simd
            for (u64 i = 0; i < a->dv; i++) oh[i] += w * p[2 + i];
        }
        float inv = L > 0 ? 1.0f / L : 0.0f;
        for (u64 i = 0; i < a->dv; i++) oh[i] *= inv;
    }
}

/* Chunk k of a source list: which source and its first row. */
static const kern_src *chunk_at(const kern_src *src, int nsrc, u64 ch, u64 k, u64 *j0, u64 *nr)
{
    for (int s = 0; s < nsrc; s++) {
        u64 nk = ceil_div(src[s].n, ch);
        if (k < nk) {
            *j0 = k * ch;
            *nr = src[s].n - *j0 < ch ? src[s].n - *j0 : ch;
            return &src[s];
        }
        k -= nk;
    }
    return NULL;
}

static void prescale(const kern_attn *a, const float *q, float *qs)
{
    for (u64 i = 0; i < a->H * a->dq; i++) qs[i] = q[i] * a->scale;
}

static u64 decoded_bytes(const kern_src *src, int nsrc)
{
    u64 b = 0;
    for (int s = 0; s < nsrc; s++)
        if (!src[s].x) b += src[s].n * src[s].row_bytes;
    return b;
}

/* One query on one worker (serial): the arithmetic kern_attn_query,
 * kern_attn_queries and row-wise kern_attn_causal share. */
static void query_serial(const kern_attn *a, const float *q, const kern_src *src, int nsrc, float *o, float *w)
{
    u64 ch = chunk_rows(a), nch = src_chunks(src, nsrc, ch);
    float *parts = w, *qs = parts + nch * a->H * PART(a), *S = qs + a->H * a->dq, *tile = S + a->H * ch;
    prescale(a, q, qs);
    for (u64 k = 0; k < nch; k++) {
        u64 j0 = 0, nr = 0;
        const kern_src *s = chunk_at(src, nsrc, ch, k, &j0, &nr);
        chunk_run(a, qs, s, j0, nr, S, tile, parts + k * a->H * PART(a));
    }
    merge(a, parts, nch, o);
}

static u64 query_floats(const kern_attn *a, const kern_src *src, int nsrc)
{
    u64 ch = chunk_rows(a);
    return src_chunks(src, nsrc, ch) * a->H * PART(a) + worker_floats(a, src, nsrc, ch);
}

/* ---- one query, parallel over chunks ----------------------------------------------------- */

u64 kern_attn_query_work(const kern_attn *a, const kern_src *src, int nsrc)
{
    u64 ch = chunk_rows(a);
    return src_chunks(src, nsrc, ch) * a->H * PART(a) + a->H * a->dq +
           (u64)kern_threads() * worker_floats(a, src, nsrc, ch);
}

void kern_attn_query(cost_t *c, const kern_attn *a, const float *q, const kern_src *src, int nsrc, float *o, float *work)
{
    double t0 = now_s();
    kern_blas_serial();
    assert(a->G && a->H % a->G == 0);
    u64 rows = 0;
    for (int s = 0; s < nsrc; s++) rows += src[s].n;
    count(c, a, rows);
    u64 ch = chunk_rows(a), nch = src_chunks(src, nsrc, ch);
    float *parts = work, *qs = parts + nch * a->H * PART(a), *wk = qs + a->H * a->dq;
    u64 per = worker_floats(a, src, nsrc, ch);
    prescale(a, q, qs);
    /* Parallel over chunks when there is compute or rows enough: a
     * decode's rows come from memory and are decoded, and one query head
     * over 4096 bf16 rows (2 MFLOP, under KA_PAR_FLOPS) had run on one
     * thread at 71 ns a row, against 42 on two at 16384. */
    bool par = nch > 1 && (flops_of(a, rows) >= KA_PAR_FLOPS || rows * a->G * (a->dq + a->dv) >= KA_PAR_ELEMS) && !in_parallel();
    (void)par;   /* without OpenMP */
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (u64 k = 0; k < nch; k++) {
        u64 j0 = 0, nr = 0;
        const kern_src *s = chunk_at(src, nsrc, ch, k, &j0, &nr);
        float *S = wk + (u64)tid() * per + a->H * a->dq;
        chunk_run(a, qs, s, j0, nr, S, S + a->H * ch, parts + k * a->H * PART(a));
    }
    merge(a, parts, nch, o);
    stats.bytes += decoded_bytes(src, nsrc);
    stats.seconds += now_s() - t0;
}

/* ---- independent queries, parallel over queries ---------------------------------------- */

u64 kern_attn_queries_work(const kern_attn *a, u64 n, const kern_src *src, int nsrc)
{
    u64 mx = 0;
    for (u64 t = 0; t < n; t++) {
        u64 f = query_floats(a, src + t * (u64)nsrc, nsrc);
        mx = f > mx ? f : mx;
    }
    u64 g = n > 1 ? kern_attn_gather_work(a, n) : 0;
    return (u64)kern_threads() * mx > g ? (u64)kern_threads() * mx : g;
}

void kern_attn_queries(cost_t *c, const kern_attn *a, u64 n, const float *q, u64 ldq, const kern_src *src, int nsrc,
                       float *o, u64 ldo, float *work)
{
    if (n == 1) {   /* one query (a decode step): parallel over its chunks instead; the same bits */
        kern_attn_query(c, a, q, src, nsrc, o, work);
        return;
    }
    double t0 = now_s();
    kern_blas_serial();
    assert(a->G && a->H % a->G == 0);
    u64 rows = 0, per = kern_attn_queries_work(a, n, src, nsrc) / (u64)kern_threads(), bytes = 0;
    for (u64 t = 0; t < n * (u64)nsrc; t++) rows += src[t].n;
    for (u64 t = 0; t < n; t++) bytes += decoded_bytes(src + t * (u64)nsrc, nsrc);
    count(c, a, rows);
    bool par = flops_of(a, rows) >= 4 * KA_PAR_FLOPS && !in_parallel();
    (void)par;
    if (!kern_rowwise_on() && kern_attn_gather_fits(a, n, src, nsrc)) {
        kern_attn_gather(a, n, q, ldq, src, nsrc, o, ldo, work, par, &stats.gather_selected, &stats.gather_union);
    } else {
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (u64 t = 0; t < n; t++)
            query_serial(a, q + t * ldq, src + t * (u64)nsrc, nsrc, o + t * ldo, work + (u64)tid() * per);
    }
    stats.bytes += bytes;
    stats.seconds += now_s() - t0;
}

/* ---- prefill: tiles of query blocks x key blocks ---------------------------------------- */

static u64 qblock(const kern_attn *a)
{
    u64 b = KA_ROWS / (a->H / a->G);
    return b ? b : 1;
}

/* Scratch of one tile worker: Q copy (R dq), scores (R BK), O (R dv), m, l (R). */
static u64 tile_floats(const kern_attn *a)
{
    u64 R = qblock(a) * (a->H / a->G);
    return R * (a->dq + KA_BK + a->dv + 2);
}

/* The per-query sources of query t in row-wise mode. */
static void rows_of(const kern_src *src, int nsrc, u64 n, const u64 *lo, const u64 *hi, u64 t, kern_src *out)
{
    for (int s = 0; s < nsrc; s++) {
        out[s] = src[s];
        out[s].idx = NULL;
        out[s].r0 = lo[(u64)s * n + t];
        out[s].n = hi[(u64)s * n + t] - out[s].r0;
    }
}

#define MAX_SRC 4

u64 kern_attn_causal_work(const kern_attn *a, u64 n, const u64 *lo, const u64 *hi, int nsrc)
{
    /* Row-wise mode runs each query through query_serial: room for the longest. */
    u64 mx = 0, ch = chunk_rows(a);
    assert(nsrc <= MAX_SRC);
    for (u64 t = 0; t < n; t++) {
        u64 k = 0;
        for (int s = 0; s < nsrc; s++) k += ceil_div(hi[(u64)s * n + t] - lo[(u64)s * n + t], ch);
        mx = k > mx ? k : mx;
    }
    u64 rw = mx * a->H * PART(a) + a->H * a->dq + a->H * ch;
    u64 tw = (u64)kern_threads() * tile_floats(a);
    return rw > tw ? rw : tw;
}

/* One tile: queries [t0, t1) of group g. */
static void tile_run(const kern_attn *a, u64 g, u64 t0, u64 t1, u64 n, const float *q, u64 ldq, const kern_src *src,
                     int nsrc, const u64 *lo, const u64 *hi, float *o, u64 ldo, float *w)
{
    u64 grp = a->H / a->G, nq = t1 - t0, R = nq * grp, dq = a->dq, dv = a->dv;
    float *Q = w, *S = Q + R * dq, *O = S + R * KA_BK, *m = O + R * dv, *l = m + R;
    for (u64 tt = 0; tt < nq; tt++)
        for (u64 hh = 0; hh < grp; hh++) {
            const float *qr = q + (t0 + tt) * ldq + (g * grp + hh) * dq;
            float *Qr = Q + (tt * grp + hh) * dq;
            for (u64 i = 0; i < dq; i++) Qr[i] = qr[i] * a->scale;
            m[tt * grp + hh] = a->sink ? a->sink[g * grp + hh] : -INFINITY;
            l[tt * grp + hh] = a->sink ? 1.0f : 0.0f;
        }
    memset(O, 0, R * dv * sizeof *O);
    for (int s = 0; s < nsrc; s++) {
        const u64 *sl = lo + (u64)s * n, *sh = hi + (u64)s * n;
        u64 klo = sl[t0], khi = sh[t1 - 1];
        const kern_src *sr = &src[s];
        for (u64 k0 = klo; k0 < khi; k0 += KA_BK) {
            u64 nb = khi - k0 < KA_BK ? khi - k0 : KA_BK;
            bool any = false;
            for (u64 tt = 0; tt < nq && !any; tt++) any = sl[t0 + tt] < k0 + nb && sh[t0 + tt] > k0;
            if (!any) continue;   /* a gap in a window narrower than the block */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)nb, (int)dq, 1.0f, Q, (int)dq,
                        sr->x + k0 * sr->ld + a->koff + g * dq, (int)sr->ld, 0.0f, S, (int)nb);
            for (u64 tt = 0; tt < nq; tt++) {
                u64 lo_t = sl[t0 + tt], hi_t = sh[t0 + tt];
                u64 b0 = lo_t > k0 ? lo_t - k0 : 0, b1 = hi_t < k0 + nb ? (hi_t > k0 ? hi_t - k0 : 0) : nb;
                for (u64 hh = 0; hh < grp; hh++) {
                    u64 r = tt * grp + hh;
                    float *sr_ = S + r * nb;
                    if (b0 >= b1) { memset(sr_, 0, nb * sizeof *sr_); continue; }
                    float mn = ka_max(sr_ + b0, b1 - b0, m[r]);
                    float corr = ka_exp(m[r] - mn);   /* m = -inf: 0 (nothing to rescale) */
                    float sum = ka_exp_sum(sr_ + b0, sr_ + b0, b1 - b0, mn);
                    memset(sr_, 0, b0 * sizeof *sr_);
                    memset(sr_ + b1, 0, (nb - b1) * sizeof *sr_);
                    l[r] = l[r] * corr + sum;
                    m[r] = mn;
                    if (corr != 1.0f) {
                        float *Or = O + r * dv;
#pragma omp simd
                        for (u64 i = 0; i < dv; i++) Or[i] *= corr;
                    }
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)dv, (int)nb, 1.0f, S, (int)nb,
                        sr->x + k0 * sr->ld + a->voff + g * dv, (int)sr->ld, 1.0f, O, (int)dv);
        }
    }
    for (u64 tt = 0; tt < nq; tt++)
        for (u64 hh = 0; hh < grp; hh++) {
            u64 r = tt * grp + hh;
            float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
            float *orow = o + (t0 + tt) * ldo + (g * grp + hh) * dv;
            for (u64 i = 0; i < dv; i++) orow[i] = O[r * dv + i] * inv;
        }
}

void kern_attn_causal(cost_t *c, const kern_attn *a, u64 n, const float *q, u64 ldq, const kern_src *src, int nsrc,
                      const u64 *lo, const u64 *hi, float *o, u64 ldo, float *work)
{
    double t0 = now_s();
    kern_blas_serial();
    assert(a->G && a->H % a->G == 0 && nsrc <= MAX_SRC);
    u64 rows = 0;
    for (u64 k = 0; k < n * (u64)nsrc; k++) rows += hi[k] - lo[k];
    count(c, a, rows);
    if (kern_rowwise_on()) {
        kern_src qs[MAX_SRC];
        for (u64 t = 0; t < n; t++) {
            rows_of(src, nsrc, n, lo, hi, t, qs);
            query_serial(a, q + t * ldq, qs, nsrc, o + t * ldo, work);
        }
    } else {
        /* Narrow spans (windows): a block of qb queries over a window of W
         * keys computes tiles over qb + W - 1 keys for W priced, so blocks
         * shrink to a quarter of the mean span (at least 16 queries): swa4's
         * W = 128 at 4 heads, 32 queries x 159 keys instead of 64 x 191. */
        u64 qb = qblock(a), span = n ? rows / n : 0;
        if (span / 4 < qb) qb = span / 4 > 16 ? span / 4 : 16 < qb ? 16 : qb;
        u64 nb = ceil_div(n, qb), tasks = nb * a->G, per = tile_floats(a);
        /* Later query blocks see more keys: hand them out first. */
        bool par = tasks > 1 && flops_of(a, rows) >= 4 * KA_PAR_FLOPS && !in_parallel();
        (void)par;
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (u64 k = 0; k < tasks; k++) {
            u64 b = nb - 1 - k / a->G, g = k % a->G, e = (b + 1) * qb < n ? (b + 1) * qb : n;
            tile_run(a, g, b * qb, e, n, q, ldq, src, nsrc, lo, hi, o, ldo, work + (u64)tid() * per);
        }
    }
    stats.seconds += now_s() - t0;
}

/* ---- the naive twin ------------------------------------------------------------------ */

static const float *naive_row(const kern_src *s, u64 j, float *buf)
{
    u64 r = s->idx ? s->idx[j] : s->r0 + j;
    if (s->x) return s->x + r * s->ld;
    s->decode(s->ctx, s->ring ? r % s->ring : r, buf);
    return buf;
}

void kern_attn_naive(const kern_attn *a, const float *q, const kern_src *src, int nsrc, float *o)
{
    /* One head at a time (multi-head attention): head h reads group h / (H/G). */
    float buf[8192];
    for (u64 h = 0; h < a->H; h++) {
        u64 g = h / (a->H / a->G);
        double mx = a->sink ? a->sink[h] : -INFINITY, sum = 0;
        for (int s = 0; s < nsrc; s++)
            for (u64 j = 0; j < src[s].n; j++) {
                const float *row = naive_row(&src[s], j, buf);
                double d = 0;
                for (u64 i = 0; i < a->dq; i++) d += (double)q[h * a->dq + i] * row[a->koff + g * a->dq + i];
                mx = fmax(mx, d * a->scale);
            }
        double acc[4096] = {0};
        assert(a->dv <= 4096);
        if (a->sink) sum = exp(a->sink[h] - mx);
        for (int s = 0; s < nsrc; s++)
            for (u64 j = 0; j < src[s].n; j++) {
                const float *row = naive_row(&src[s], j, buf);
                double d = 0;
                for (u64 i = 0; i < a->dq; i++) d += (double)q[h * a->dq + i] * row[a->koff + g * a->dq + i];
                double p = exp(d * a->scale - mx);
                sum += p;
                for (u64 i = 0; i < a->dv; i++) acc[i] += p * row[a->voff + g * a->dv + i];
            }
        for (u64 i = 0; i < a->dv; i++) o[h * a->dv + i] = (float)(acc[i] / sum);
    }
}
