/* kern_attn_gather.c - the prefill of independent queries over picked rows
 * (DeepSeek V3.2 DSA's and V4 CSA's top-k lists, CSA's window), the blocked
 * path behind kern_attn_queries; see kern_attn_gather.h.
 *
 * Legend (as kern_attn.c): H query heads, G kv groups, grp = H/G, dq key
 * dim, dv value dim; a quad = 4 heads of one group (grp a multiple of 4:
 * other groupings take the per-query path); QB queries per block, KB rows
 * per key block.
 *
 * The per-query path (kern_attn_query's arithmetic) copies each query's k
 * picked rows into a chunk and multiplies them by its few heads through
 * sgemv: at DSA's bench scale (4 heads, 2048 rows of 576 floats per query)
 * ~4 FLOP per byte copied from memory, 0.27 of sgemm. Rejected: one dense
 * tile per block of queries over the union of the rows they pick, masked
 * (the DSA/CSA paper kernels' shape for 64+ heads): with the reference
 * forward pass's random weights the top-k lists of neighbouring queries are
 * close to independent, so the union is 2.5x (4 queries) to 4.3x (64
 * queries) the rows picked at 16K tokens (measured; `make bench` prints
 * union/selected), and a masked tile would do that much more arithmetic.
 *
 * What runs instead: a block of QB queries walks the rows' index space in
 * key blocks of KB rows aligned to multiples of KB (256 latents of 576
 * floats: 590 KB, held in the 1 MB L2 while the block's queries use it).
 * In each key block every query reads its own picked rows in place (row
 * pointers, no copy) through register-blocked micro-kernels (scores: 4 heads
 * x 3 rows, 12 accumulators; values: 4 heads x 24 columns), with the online
 * softmax of kern_attn.c carried across key blocks. Only picked pairs are
 * computed (no masked work), and a row brought into cache serves every
 * query of the block that picked it: selected / union of them on average.
 *
 * Bits: a query's arithmetic depends on its own rows and the fixed KB grid
 * only, never on QB, the other queries or the thread count. Its sums differ
 * from the per-query path's in rounding (another order, fused
 * multiply-adds: this file is compiled with -ffp-contract=fast, Makefile);
 * tests/test_kern.c holds both to the naive twin. The micro-kernels are
 * built for x86-64-v4 (AVX-512: 32 vector registers), v3 (AVX2 + FMA) and
 * the baseline, picked at load time (GCC's target_clones).
 */
#include "kern_attn_gather.h"
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef KG_KB
#define KG_KB 256          /* rows per key block */
#endif
#ifndef KG_QB
#define KG_QB 128          /* queries per block, at most */
#endif
/* Floats of a block's query state (queries, outputs, m, l), at most: 2.4 MB
 * (L3; a visit reads a query's state once and its rows many times). More
 * queries per block, more reuse of each row loaded: at DSA's bench scale
 * 32 / 64 / 128 queries ran at 47 / 53 / 57 GFLOP/s per core. */
#ifndef KG_STATE_FLOATS
#define KG_STATE_FLOATS (600u * 1000u)
#endif
#define KG_MAX_SRC 4

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define KG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KG_CLONES
#endif

#if defined(__GNUC__)
#define KG_ON 1
/* Eight floats as one value (GCC / Clang vector extension): loads and
 * stores go through memcpy (any alignment); macros, not functions, so no
 * vector crosses a call (its ABI differs between the clones). */
typedef float v8 __attribute__((vector_size(32)));
#define LD(p) __extension__({ v8 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define ST(p, v) do { v8 w_ = (v); memcpy((p), &w_, sizeof w_); } while (0)
#define BC(s) ((v8){0, 0, 0, 0, 0, 0, 0, 0} + (s))
#define HS(v) __extension__({ float f_[8]; memcpy(f_, &(v), sizeof f_); \
    ((f_[0] + f_[4]) + (f_[1] + f_[5])) + ((f_[2] + f_[6]) + (f_[3] + f_[7])); })
#else
#define KG_ON 0
#endif

static bool blocked = true;

bool kern_attn_blocked(bool on)
{
    bool was = blocked;
    blocked = on;
    return was;
}

static u64 ceil_div(u64 a, u64 b) { return (a + b - 1) / b; }

static u64 state_floats(const kern_attn *a)
{
    return a->H * (a->dq + a->dv + 2);
}

static int threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Queries per block: the state budget, then an even split over the
 * threads (a function of n and the thread count; the bits are not). */
static u64 qblock(const kern_attn *a, u64 n)
{
    u64 mx = KG_STATE_FLOATS / state_floats(a);
    mx = mx < 1 ? 1 : mx > KG_QB ? KG_QB : mx;
    u64 th = (u64)threads(), per = ceil_div(n, th * mx);   /* blocks per thread */
    return ceil_div(n, th * per);
}

bool kern_attn_gather_fits(const kern_attn *a, u64 n, const kern_src *src, int nsrc)
{
    if (!KG_ON || !blocked || n < 2 || nsrc < 1 || nsrc > KG_MAX_SRC || !a->G || a->H % a->G || (a->H / a->G) % 4)
        return false;
    for (int s = 0; s < nsrc; s++)
        for (u64 t = 0; t < n; t++) {
            const kern_src *r = &src[t * (u64)nsrc + s];
            if (!r->x || r->x != src[s].x || r->ld != src[s].ld) return false;
            if (r->idx)
                for (u64 j = 1; j < r->n; j++)
                    if (r->idx[j] <= r->idx[j - 1]) return false;   /* ascending, no repeats */
        }
    return true;
}

u64 kern_attn_gather_work(const kern_attn *a, u64 n)
{
    return (u64)threads() * (qblock(a, n) * state_floats(a) + 4 * KG_KB);
}

#if KG_ON

/* S[h nr + j] = Q[h dq ..] . (rows[j] + off)[0 .. dq) for the 4 heads of a
 * quad: 3 rows at a time (12 accumulators, each row vector loaded once for
 * 4 heads), then one at a time. */
KG_CLONES static void kg_scores(const float *Q, u64 dq, const float *const *rows, u64 off, u64 nr, float *S)
{
    const float *Q1 = Q + dq, *Q2 = Q1 + dq, *Q3 = Q2 + dq;
    u64 d8 = dq / 8 * 8, j = 0;
    for (; j + 3 <= nr; j += 3) {
        const float *x = rows[j] + off, *y = rows[j + 1] + off, *z = rows[j + 2] + off;
        v8 a0 = BC(0.0f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0, c0 = a0, c1 = a0, c2 = a0,
           c3 = a0;
        for (u64 i = 0; i < d8; i += 8) {
            v8 kx = LD(x + i), ky = LD(y + i), kz = LD(z + i), q;
            q = LD(Q + i);  a0 += q * kx; b0 += q * ky; c0 += q * kz;
            q = LD(Q1 + i); a1 += q * kx; b1 += q * ky; c1 += q * kz;
            q = LD(Q2 + i); a2 += q * kx; b2 += q * ky; c2 += q * kz;
            q = LD(Q3 + i); a3 += q * kx; b3 += q * ky; c3 += q * kz;
        }
        float s[12] = {HS(a0), HS(a1), HS(a2), HS(a3), HS(b0), HS(b1), HS(b2), HS(b3), HS(c0), HS(c1), HS(c2), HS(c3)};
        for (u64 i = d8; i < dq; i++)
            for (int h = 0; h < 4; h++) {
                float qh = Q[h * dq + i];
                s[h] += qh * x[i];
                s[4 + h] += qh * y[i];
                s[8 + h] += qh * z[i];
            }
        for (int h = 0; h < 4; h++) {
            S[h * nr + j] = s[h];
            S[h * nr + j + 1] = s[4 + h];
            S[h * nr + j + 2] = s[8 + h];
        }
    }
    for (; j < nr; j++) {
        const float *x = rows[j] + off;
        v8 a0 = BC(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (u64 i = 0; i < d8; i += 8) {
            v8 kx = LD(x + i);
            a0 += LD(Q + i) * kx;
            a1 += LD(Q1 + i) * kx;
            a2 += LD(Q2 + i) * kx;
            a3 += LD(Q3 + i) * kx;
        }
        float s[4] = {HS(a0), HS(a1), HS(a2), HS(a3)};
        for (u64 i = d8; i < dq; i++)
            for (int h = 0; h < 4; h++) s[h] += Q[h * dq + i] * x[i];
        for (int h = 0; h < 4; h++) S[h * nr + j] = s[h];
    }
}

/* O[h dv + i] += sum_j P[h nr + j] (rows[j] + off)[i] for the 4 heads of a
 * quad: strips of 24 columns (12 accumulators over all rows), then 8, then
 * single columns. */
KG_CLONES static void kg_values(const float *P, u64 nr, const float *const *rows, u64 off, u64 dv, float *O)
{
    float *O1 = O + dv, *O2 = O1 + dv, *O3 = O2 + dv;
    const float *P1 = P + nr, *P2 = P1 + nr, *P3 = P2 + nr;
    u64 i = 0;
    for (; i + 24 <= dv; i += 24) {
        v8 a0 = LD(O + i), a1 = LD(O + i + 8), a2 = LD(O + i + 16), b0 = LD(O1 + i), b1 = LD(O1 + i + 8),
           b2 = LD(O1 + i + 16), c0 = LD(O2 + i), c1 = LD(O2 + i + 8), c2 = LD(O2 + i + 16), d0 = LD(O3 + i),
           d1 = LD(O3 + i + 8), d2 = LD(O3 + i + 16);
        for (u64 j = 0; j < nr; j++) {
            const float *r = rows[j] + off + i;
            v8 x = LD(r), y = LD(r + 8), z = LD(r + 16), p;
            p = BC(P[j]);  a0 += p * x; a1 += p * y; a2 += p * z;
            p = BC(P1[j]); b0 += p * x; b1 += p * y; b2 += p * z;
            p = BC(P2[j]); c0 += p * x; c1 += p * y; c2 += p * z;
            p = BC(P3[j]); d0 += p * x; d1 += p * y; d2 += p * z;
        }
        ST(O + i, a0); ST(O + i + 8, a1); ST(O + i + 16, a2);
        ST(O1 + i, b0); ST(O1 + i + 8, b1); ST(O1 + i + 16, b2);
        ST(O2 + i, c0); ST(O2 + i + 8, c1); ST(O2 + i + 16, c2);
        ST(O3 + i, d0); ST(O3 + i + 8, d1); ST(O3 + i + 16, d2);
    }
    for (; i + 8 <= dv; i += 8) {
        v8 a0 = LD(O + i), b0 = LD(O1 + i), c0 = LD(O2 + i), d0 = LD(O3 + i);
        for (u64 j = 0; j < nr; j++) {
            v8 x = LD(rows[j] + off + i);
            a0 += BC(P[j]) * x;
            b0 += BC(P1[j]) * x;
            c0 += BC(P2[j]) * x;
            d0 += BC(P3[j]) * x;
        }
        ST(O + i, a0); ST(O1 + i, b0); ST(O2 + i, c0); ST(O3 + i, d0);
    }
    for (; i < dv; i++)
        for (u64 j = 0; j < nr; j++) {
            float x = rows[j][off + i];
            O[i] += P[j] * x;
            O1[i] += P1[j] * x;
            O2[i] += P2[j] * x;
            O3[i] += P3[j] * x;
        }
}

/* One head's online-softmax step over scores s[nr]: s := e^(s - m'), the
 * running max m, sum l and output O[dv] rescaled to the new max m'. */
KG_CLONES static void kg_softmax(float *s, u64 nr, float *m, float *l, float *O, u64 dv)
{
    float mm[8] = {*m, *m, *m, *m, *m, *m, *m, *m}, mx = *m, sum = 0;
    u64 j = 0;
    for (; j + 8 <= nr; j += 8)
        for (int k = 0; k < 8; k++) mm[k] = s[j + k] > mm[k] ? s[j + k] : mm[k];
    for (; j < nr; j++) mx = s[j] > mx ? s[j] : mx;
    for (int k = 0; k < 8; k++) mx = mm[k] > mx ? mm[k] : mx;
#pragma omp simd reduction(+ : sum)
    for (u64 k = 0; k < nr; k++) {
        float p = kern_exp(s[k] - mx);
        s[k] = p;
        sum += p;
    }
    float corr = kern_exp(*m - mx);   /* m = -inf: 0 (nothing to rescale) */
    *l = *l * corr + sum;
    *m = mx;
    if (corr != 1.0f)
#pragma omp simd
        for (u64 i = 0; i < dv; i++) O[i] *= corr;
}

/* Query t of a block (state Q, O, m, l of its heads) over nr rows. */
static void kg_visit(const kern_attn *a, const float *const *rp, u64 nr, const float *Q, float *O, float *m, float *l,
                     float *S)
{
    u64 grp = a->H / a->G;
    for (u64 g = 0; g < a->G; g++)
        for (u64 u = 0; u < grp / 4; u++) {
            u64 h = g * grp + 4 * u;
            kg_scores(Q + h * a->dq, a->dq, rp, a->koff + g * a->dq, nr, S);
            for (u64 k = 0; k < 4; k++) kg_softmax(S + k * nr, nr, &m[h + k], &l[h + k], O + (h + k) * a->dv, a->dv);
            kg_values(S, nr, rp, a->voff + g * a->dv, a->dv, O + h * a->dv);
        }
}

/* First and one-past-last row of source s for a query. */
static u64 first_row(const kern_src *r) { return r->idx ? r->idx[0] : r->r0; }
static u64 end_row(const kern_src *r) { return r->idx ? r->idx[r->n - 1] + 1 : r->r0 + r->n; }

/* Queries [t0, t1): the whole computation of one block. */
static void kg_block(const kern_attn *a, u64 t0, u64 t1, const float *q, u64 ldq, const kern_src *src, int nsrc, float *o,
                     u64 ldo, float *w, u64 *n_sel, u64 *n_union)
{
    u64 nq = t1 - t0, Hp = a->H, dq = a->dq, dv = a->dv;
    float *Q = w, *O = Q + nq * Hp * dq, *m = O + nq * Hp * dv, *l = m + nq * Hp, *S = l + nq * Hp;
    const float *rp[KG_KB];
    u64 cur[KG_QB];
    unsigned char seen[KG_KB];
    memset(O, 0, nq * Hp * dv * sizeof *O);
    for (u64 t = 0; t < nq; t++)
        for (u64 h = 0; h < Hp; h++) {
            u64 hp = t * Hp + h;
            for (u64 i = 0; i < dq; i++) Q[hp * dq + i] = q[(t0 + t) * ldq + h * dq + i] * a->scale;
            m[hp] = a->sink ? a->sink[h] : -INFINITY;
            l[hp] = a->sink ? 1.0f : 0.0f;
        }
    /* Floats of a row the kernels read. */
    u64 wk = a->koff + a->G * dq, wv = a->voff + a->G * dv, wrow = wk > wv ? wk : wv;
    for (int s = 0; s < nsrc; s++) {
        u64 lo = UINT64_MAX, hi = 0;
        for (u64 t = 0; t < nq; t++) {
            const kern_src *r = &src[(t0 + t) * (u64)nsrc + s];
            cur[t] = 0;
            if (!r->n) continue;
            lo = first_row(r) < lo ? first_row(r) : lo;
            hi = end_row(r) > hi ? end_row(r) : hi;
        }
        const float *x = src[s].x;
        u64 ld = src[s].ld;
        for (u64 k0 = lo / KG_KB * KG_KB; k0 < hi; k0 += KG_KB) {
            u64 k1 = k0 + KG_KB, uni = 0;
            memset(seen, 0, sizeof seen);
            for (u64 t = 0; t < nq; t++) {
                const kern_src *r = &src[(t0 + t) * (u64)nsrc + s];
                u64 nr = 0, c = cur[t];
                /* Each query's visit first asks for its share of the next
                 * key block's rows: they arrive in L2 while this block
                 * computes (the first touch of a row was half the time). */
                u64 p0 = k1 + t * KG_KB / nq, p1 = k1 + (t + 1) * KG_KB / nq;
                for (u64 pr = p0; pr < p1 && pr < hi; pr++)
                    for (u64 i = 0; i < wrow; i += 16) __builtin_prefetch(x + pr * ld + i);
                if (r->idx)
                    for (; c < r->n && r->idx[c] < k1; c++) {
                        u64 k = r->idx[c];
                        rp[nr++] = x + k * ld;
                        uni += !seen[k - k0];
                        seen[k - k0] = 1;
                    }
                else
                    for (; c < r->n && r->r0 + c < k1; c++) {
                        u64 k = r->r0 + c;
                        rp[nr++] = x + k * ld;
                        uni += !seen[k - k0];
                        seen[k - k0] = 1;
                    }
                cur[t] = c;
                if (!nr) continue;
                *n_sel += nr;
                kg_visit(a, rp, nr, Q + t * Hp * dq, O + t * Hp * dv, m + t * Hp, l + t * Hp, S);
            }
            *n_union += nq * uni;   /* the pairs a masked tile over the union would compute */
        }
    }
    for (u64 t = 0; t < nq; t++)
        for (u64 h = 0; h < Hp; h++) {
            u64 hp = t * Hp + h;
            float inv = l[hp] > 0 ? 1.0f / l[hp] : 0.0f;
            float *orow = o + (t0 + t) * ldo + h * dv;
            for (u64 i = 0; i < dv; i++) orow[i] = O[hp * dv + i] * inv;
        }
}

void kern_attn_gather(const kern_attn *a, u64 n, const float *q, u64 ldq, const kern_src *src, int nsrc, float *o, u64 ldo,
                      float *work, bool par, u64 *n_sel, u64 *n_union)
{
    u64 qb = qblock(a, n), nb = ceil_div(n, qb), per = qb * state_floats(a) + 4 * KG_KB, sel = 0, uni = 0;
    (void)par;   /* without OpenMP */
#pragma omp parallel for schedule(dynamic, 1) if (par) reduction(+ : sel, uni)
    for (u64 b = 0; b < nb; b++) {
#ifdef _OPENMP
        u64 me = (u64)omp_get_thread_num();
#else
        u64 me = 0;
#endif
        u64 t1 = (b + 1) * qb < n ? (b + 1) * qb : n;
        kg_block(a, b * qb, t1, q, ldq, src, nsrc, o, ldo, work + me * per, &sel, &uni);
    }
    *n_sel += sel;
    *n_union += uni;
}

#else /* !KG_ON: kern_attn_gather_fits is false, this never runs */

void kern_attn_gather(const kern_attn *a, u64 n, const float *q, u64 ldq, const kern_src *src, int nsrc, float *o, u64 ldo,
                      float *work, bool par, u64 *n_sel, u64 *n_union)
{
    (void)a; (void)n; (void)q; (void)ldq; (void)src; (void)nsrc; (void)o; (void)ldo; (void)work; (void)par;
    (void)n_sel; (void)n_union;
}

#endif
