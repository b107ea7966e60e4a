/* ref.c - the reference model: weights, caches, the prefill / decode driver,
 * embeddings, the head and the counters; see ref.h. The layer types live in
 * sim/layers/<type>_ref.c and are reached through ref_ops_for (ref_table.c).
 *
 * Legend: n = tokens in the step, d = d_model, S = residual streams (mHC n,
 * else 1), V = vocab. The residual state X is n x S x d. */
#include "ref.h"
#include "kern.h"
#include "quant.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <assert.h>

/* ---- scratch: a stack of chunks ---------------------------------------- */

typedef struct chunk {
    struct chunk *prev;
    u64 cap, top;
    _Alignas(64) unsigned char data[];
} chunk;

#define CHUNK_MIN (16u << 20)

static void *scratch(ref_model *M, u64 bytes, bool zero);
static double now_s(void);

void *ref_scratch(ref_model *M, u64 bytes)
{
    return scratch(M, bytes, true);
}

void *ref_scratch_raw(ref_model *M, u64 bytes)
{
    return scratch(M, bytes, false);
}

static void *scratch(ref_model *M, u64 bytes, bool zero)
{
    chunk *c = M->arena;
    bytes = (bytes + 63) & ~(u64)63;
    if (!c || c->top + bytes > c->cap) {
        /* Reuse a released chunk when one is big enough (layers allocate and
         * release the same sizes over and over), else make one. */
        chunk **pp = (chunk **)&M->spare, *nc = NULL;
        for (; *pp; pp = &(*pp)->prev)
            if ((*pp)->cap >= bytes) { nc = *pp; *pp = nc->prev; break; }
        if (!nc) {
            u64 cap = bytes > CHUNK_MIN ? bytes : CHUNK_MIN;
            nc = malloc(sizeof *nc + cap);
            if (!nc) return NULL;
            nc->cap = cap;
        }
        nc->prev = c;
        nc->top = 0;
        M->arena = c = nc;
    }
    void *p = c->data + c->top;
    c->top += bytes;
    if (zero) memset(p, 0, bytes);
    return p;
}

ref_mark ref_scratch_mark(ref_model *M)
{
    chunk *c = M->arena;
    return (ref_mark){c, c ? c->top : 0};
}

void ref_scratch_release(ref_model *M, ref_mark mk)
{
    chunk *c = M->arena;
    while (c && c != mk.chunk) {
        chunk *p = c->prev;
        c->prev = M->spare;
        M->spare = c;
        c = p;
    }
    M->arena = c;
    if (c) c->top = mk.top;
}

static void scratch_free_all(ref_model *M)
{
    ref_scratch_release(M, (ref_mark){NULL, 0});
    for (chunk *c = M->spare; c;) {
        chunk *p = c->prev;
        free(c);
        c = p;
    }
    M->spare = NULL;
}

/* ---- random streams ------------------------------------------------------ */

static u64 mix64(u64 x)
{
    /* splitmix64's finaliser: a bijection with good avalanche. */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static u64 hash_str(u64 h, const char *s)
{
    for (; *s; s++) h = mix64(h ^ (unsigned char)*s);
    return h;
}

u64 ref_rand_index(ref_model *M, u64 key, u64 i, u64 n)
{
    return mix64(mix64(M->seed ^ mix64(key)) + i) % n;
}

/* ---- weights --------------------------------------------------------------- */

/* murmur3's 32-bit finaliser (a bijection with full avalanche). */
static inline uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ h >> 16;
}

/* Values i0 .. i0+m-1 of the stream `key`: value i is mean + spread (2u - 1),
 * u = the top 24 bits of h(i) over 2^24, h(i) = fmix32(fmix32(lo G + k1) ^
 * k2 ^ hi) with lo, hi the halves of i, k1, k2 those of the key and G the
 * 32-bit golden ratio, in float (2u - 1 is exact). A counter, not a
 * sequence: any piece can be drawn alone, so the pieces of a tensor are drawn
 * on several threads with the same values; 32-bit products, so the loop
 * vectorises (AVX2 and the x86-64 baseline, picked at load time). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
static void weight_draw(u64 key, u64 i0, u64 m, float mean, float spread, float *out)
{
    uint32_t k1 = (uint32_t)key, k2 = (uint32_t)(key >> 32);
#pragma omp simd
    for (u64 k = 0; k < m; k++) {
        u64 i = i0 + k;
        uint32_t h = fmix32(fmix32((uint32_t)i * 0x9e3779b9u + k1) ^ k2 ^ (uint32_t)(i >> 32));
        float u = (float)(int32_t)(h >> 8) * 0x1p-24f;   /* < 2^24: a signed conversion (AVX2 has no unsigned one) */
        out[k] = mean + spread * (2.0f * u - 1.0f);
    }
}

/* Index of W's logical element (r, c) in a linear weight's held order
 * (colmajor): element c br + r mod br of stacked block r / br (W's rows,
 * cols and nstack set). */
static u64 w_held(const ref_w *W, u64 r, u64 c)
{
    u64 br = W->rows / W->nstack;
    return r / br * br * W->cols + c * br + r % br;
}

/* The values of W's held elements p0 .. p0+m-1 (W's rows, cols, nstack
 * set; tr: held [cols, rows] as colmajor is). Each element keeps the value
 * of its logical (r, c) in the unstacked order, stream index c rows + r: a
 * run of br held elements (block b, column c) is drawn from c rows + b br
 * on, so stacking moves values, never changes them. */
static void weight_draw_held(u64 key, const ref_w *W, bool tr, u64 p0, u64 m, float mean, float spread, float *out)
{
    if (!tr || W->nstack <= 1) { weight_draw(key, p0, m, mean, spread, out); return; }
    u64 br = W->rows / W->nstack, bs = br * W->cols;
    for (u64 k = 0; k < m;) {
        u64 p = p0 + k, b = p / bs, q = p % bs, c = q / br, r = q % br, run = br - r;
        if (run > m - k) run = m - k;
        weight_draw(key, c * W->rows + b * br + r, run, mean, spread, out + k);
        k += run;
    }
}

ref_w *ref_weight(ref_layer *L, const char *name, wclass wc, u64 rows, u64 cols, float mean, float spread)
{
    return ref_weight_stacked(L, name, wc, rows, cols, 1, mean, spread);
}

ref_w *ref_weight_stacked(ref_layer *L, const char *name, wclass wc, u64 rows, u64 cols, u64 nstack, float mean,
                          float spread)
{
    ref_model *M = L->M;
    assert(nstack >= 1 && rows % nstack == 0);
    if (L->nw == L->capw) {
        int cap = L->capw ? 2 * L->capw : 16;
        ref_w **nw = realloc(L->w, (size_t)cap * sizeof *nw);
        if (!nw) return NULL;
        L->w = nw;
        L->capw = cap;
    }
    u64 n = rows * cols;
    ref_w *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->wc = wc;
    w->rows = rows;
    w->cols = cols;
    w->embed = false;
    /* Each tensor draws from its own stream keyed by (seed, layer, name), so
     * its values do not depend on what else the model holds, in the order
     * it is held: linear weights [out, in], as a Linear layer holds them
     * (blocks along the input dimension), tables and small tensors row by
     * row. Each value is rounded to the class's storage format (ref_init
     * checked that the kernels hold it) and kept as the format's bytes, or
     * (small tensors, the fp32 twin) as the floats they decode to: the same
     * values either way. A plain fp32 format is the floats themselves.
     * Stacked (nstack > 1, linear weights only): held as nstack [cols, br]
     * blocks, each element drawn at its unstacked index (weight_draw_held).
     * Block scales run along the held order: when the format's block
     * divides br (so rows too), each run of br elements (one column of one
     * block) is whole scale blocks in both orders, the same elements under
     * each scale, and every value and scale is what the unstacked tensor
     * holds. Otherwise stacking would regroup the scales and change
     * rounded values, so such a tensor stays unstacked (nstack 1; today
     * DeepSeek-V3 / V3.2's fp8 experts, one scale per 16,384 elements
     * against an expert's d or d_ff rows; every bf16 tensor and V4's mxfp4
     * experts at widths that are multiples of 32 stack). */
    u64 key = mix64(hash_str(M->seed ^ mix64((u64)(L->i + 7)), name));
    const fmt *f = &M->m->weight[wc];
    bool plain = f->n_parts == 1 && f->part[0].dt == DT_FP32 && !f->part[0].scaled;
    bool tr = wc != WC_EMBED && wc != WC_SMALL && rows > 1 && cols > 1;
    bool regroups = !plain && f->part[0].scaled && f->part[0].block > 1 && rows / nstack % f->part[0].block;
    w->nstack = tr && !regroups ? nstack : 1;
    sim_err e;
    if (!plain && n && wc != WC_SMALL && !M->opt.weights_fp32) {
        /* Stored: drawn and encoded a piece at a time (no fp32 copy), the
         * pieces split over threads (each value depends on its index only). */
        if (kern_wq_init(&w->q, f, n, &e)) { free(w); return NULL; }
        u64 pc = kern_wq_piece(&w->q);
        if (!pc) {
            float *buf = malloc(n * sizeof *buf);
            if (!buf) { kern_wq_free(&w->q); free(w); return NULL; }
            weight_draw_held(key, w, tr, 0, n, mean, spread, buf);
            kern_wq_encode(&w->q, buf);
            free(buf);
        } else {
            u64 np = (n + pc - 1) / pc, tb = kern_wq_bytes(f, pc, &e);
            int bad = 0;
#pragma omp parallel if (np > 1) reduction(| : bad)
            {
                float *buf = malloc(pc * sizeof *buf);
                uint8_t *tmp = malloc(tb);
                bad = !buf || !tmp;
#pragma omp for schedule(dynamic, 4)
                for (u64 p = 0; p < np; p++) {
                    if (bad) continue;
                    u64 i0 = p * pc, m = n - i0 < pc ? n - i0 : pc;
                    weight_draw_held(key, w, tr, i0, m, mean, spread, buf);
                    kern_wq_encode_at(&w->q, i0, m, buf, tmp);
                }
                free(buf);
                free(tmp);
            }
            if (bad) { kern_wq_free(&w->q); free(w); return NULL; }
        }
        w->stored = true;
        w->colmajor = tr;
    } else {
        w->data = malloc((n ? n : 1) * sizeof(float));
        float *phys = tr ? malloc(n * sizeof *phys) : w->data;
        if (!w->data || !phys) { if (tr) free(phys); free(w->data); free(w); return NULL; }
        /* Drawn and rounded in the held order (the same blocks as stored),
         * then kept [rows, cols]. */
        weight_draw_held(key, w, tr, 0, n, mean, spread, phys);
        if (!plain && n) {
            if (kern_wq_init(&w->q, f, n, &e)) { if (tr) free(phys); free(w->data); free(w); return NULL; }
            kern_wq_encode(&w->q, phys);
            kern_wq_decode(&w->q, 0, n, phys);
            kern_wq_free(&w->q);
        }
        if (tr) {
            for (u64 i = 0; i < rows; i++)
                for (u64 j = 0; j < cols; j++) w->data[i * cols + j] = phys[w_held(w, i, j)];
            free(phys);
        }
    }
    L->w[L->nw++] = w;
    L->pelems[wc] += n;
    return w;
}

ref_w *ref_weight_find(const ref_layer *L, const char *name)
{
    for (int k = 0; k < L->nw; k++)
        if (!strcmp(L->w[k]->name, name)) return L->w[k];
    return NULL;
}

void ref_read(ref_layer *L, ref_w *w)
{
    if (w->stamp == L->M->step_id) return;
    w->stamp = L->M->step_id;
    L->welems[w->wc] += w->rows * w->cols;
}

void ref_mm(ref_layer *L, flop_cat cat, dtype dt, ref_w *W, const float *x, u64 n, float *y, bool acc)
{
    ref_read(L, W);
    ref_mm_at(L, cat, dt, W, 0, W->cols, W->rows, W->cols, x, W->rows, n, y, W->cols, false, acc);
}

void ref_mm_at(ref_layer *L, flop_cat cat, dtype dt, const ref_w *W, u64 off, u64 ld, u64 K, u64 N, const float *x, u64 ldx,
               u64 n, float *y, u64 ldy, bool transB, bool acc)
{
    if (!W->stored) {
        double t0 = now_s();
        kern_matmul(&L->c, cat, dt, n, N, K, x, ldx, W->data + off, ld, y, ldy, transB, acc);
        L->M->gemm_s += now_s() - t0;
        L->M->gemm_calls++;
        return;
    }
    /* Element (k, j) of B is W's logical (row, col) = (r0 + k, c0 + j)
     * (transB: (r0 + j, c0 + k)); where it is in the bytes depends on how
     * W is held. */
    u64 b0 = off, sk = ld, sj = 1;
    if (transB) { sk = 1; sj = ld; }
    if (W->colmajor) {
        /* Rows r0 .. r0+nr-1 and columns c0 .. c0+nc-1, within one stacked
         * block (held [cols, br]): column stride br. */
        u64 r0 = off / W->cols, c0 = off % W->cols, br = W->rows / W->nstack;
        u64 nr = transB ? N : K, nc = transB ? K : N;
        assert(ld == W->cols && c0 + nc <= W->cols && r0 % br + nr <= br);
        (void)nc;
        b0 = w_held(W, r0, c0);
        sk = transB ? br : 1;
        sj = transB ? 1 : br;
    }
    ref_model *M = L->M;
    double t0 = now_s();
    ref_mark mk = ref_scratch_mark(M);
    u64 nw = kern_wq_work(n, N, K);
    float *work = nw ? REF_WORK(M, nw) : NULL;   /* NULL (out of memory): row by row, slower */
    kern_wq_matmul(&L->c, cat, dt, n, N, K, x, ldx, &W->q, b0, sk, sj, y, ldy, acc, work);
    ref_scratch_release(M, mk);
    M->gemm_s += now_s() - t0;
    M->gemm_calls++;
}

void ref_w_rows(const ref_w *W, u64 r0, u64 nr, float *out)
{
    if (!W->stored) memcpy(out, W->data + r0 * W->cols, nr * W->cols * sizeof *out);
    else if (!W->colmajor) kern_wq_decode(&W->q, r0 * W->cols, nr * W->cols, out);
    else {   /* held [cols, br] per stacked block: runs of a column within a block (dumps) */
        u64 br = W->rows / W->nstack;
        float run[256];
        for (u64 c = 0; c < W->cols; c++)
            for (u64 r = 0; r < nr;) {
                u64 m = br - (r0 + r) % br;
                if (m > nr - r) m = nr - r;
                if (m > 256) m = 256;
                kern_wq_decode(&W->q, w_held(W, r0 + r, c), m, run);
                for (u64 i = 0; i < m; i++) out[(r + i) * W->cols + c] = run[i];
                r += m;
            }
    }
}

u64 ref_w_bytes(const ref_w *W)
{
    return W->stored ? W->q.bytes : 4 * W->rows * W->cols;
}

static void unit_held(const ref_layer *L, u64 *by)
{
    for (int k = 0; k < L->nw; k++) by[L->w[k]->wc] += ref_w_bytes(L->w[k]);
}

u64 ref_weights_held_by(const ref_model *M, u64 *by_class)
{
    u64 by[WC_COUNT] = {0}, t = 0;
    for (u64 i = 0; i < M->m->n_layers; i++) unit_held(&M->L[i], by);
    unit_held(&M->embed, by);
    unit_held(&M->ple, by);
    unit_held(&M->head, by);
    unit_held(&M->mtp, by);
    for (int c = 0; c < WC_COUNT; c++) {
        t += by[c];
        if (by_class) by_class[c] = by[c];
    }
    return t;
}

u64 ref_weights_held(const ref_model *M)
{
    return ref_weights_held_by(M, NULL);
}

/* ---- caches ------------------------------------------------------------------ */

int ref_cache_bind(ref_layer *L, int k, const fmt *f, u64 elems, sim_err *e)
{
    assert(k < L->ncache);
    u64 eb;
    int rc = fmt_entry_bytes(f, elems, &eb, e);
    if (rc) return rc;
    if (eb != L->kv[k].entry_bytes)
        return sim_fail(e, SIM_EINVAL, "layer %d: cache '%s' rows of %llu values in '%s' take %llu B, the size table says %llu B",
                        L->i, L->kv[k].name, (unsigned long long)elems, f->name, (unsigned long long)eb,
                        (unsigned long long)L->kv[k].entry_bytes);
    L->kv[k].f = *f;
    L->kv[k].elems = elems;
    return SIM_OK;
}

void ref_kv_write(ref_layer *L, int k, u64 slot, float *x)
{
    ref_cache *c = &L->kv[k];
    assert(slot < c->entries);
    quant_encode(&c->f, x, c->elems, c->data + slot * c->entry_bytes);
    quant_roundtrip(&c->f, x, c->elems);   /* == decoding the slot, bit for bit */
    L->c.kv_written_bytes += c->entry_bytes;
}

void ref_kv_round(ref_layer *L, int k, float *x)
{
    quant_roundtrip(&L->kv[k].f, x, L->kv[k].elems);
}

void ref_kv_read(ref_layer *reader, const ref_layer *owner, int k, u64 slot, float *x)
{
    const ref_cache *c = &owner->kv[k];
    assert(slot < c->entries);
    quant_decode(&c->f, c->data + slot * c->entry_bytes, c->elems, x);
    reader->c.kv_read_bytes += c->entry_bytes;
}

void ref_kv_read_rows(ref_layer *reader, const ref_layer *owner, int k, u64 slot0, u64 n, float *x)
{
    const ref_cache *c = &owner->kv[k];
    assert(slot0 + n <= c->entries);
    bool par = n * c->elems >= 65536;
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (u64 i = 0; i < n; i++) quant_decode(&c->f, c->data + (slot0 + i) * c->entry_bytes, c->elems, x + i * c->elems);
    reader->c.kv_read_bytes += n * c->entry_bytes;
}

void ref_cache_decode_row(const void *ctx, u64 slot, float *out)
{
    const ref_cache *c = ctx;
    /* Rows usually stream in slot order: ask for the one after next now. */
    if (slot + 2 < c->entries) {
        const uint8_t *next = c->data + (slot + 2) * c->entry_bytes;
        for (u64 b = 0; b < c->entry_bytes; b += 64) __builtin_prefetch(next + b);
    }
    quant_decode(&c->f, c->data + slot * c->entry_bytes, c->elems, out);
}

void ref_kv_src(ref_layer *reader, const ref_layer *owner, int k, u64 ring, u64 r0, u64 n, const u64 *idx, kern_src *src)
{
    const ref_cache *c = &owner->kv[k];
    *src = (kern_src){.decode = ref_cache_decode_row, .ctx = c, .ring = ring, .width = c->elems, .row_bytes = c->entry_bytes,
                      .idx = idx, .r0 = r0, .n = n};
    reader->c.kv_read_bytes += n * c->entry_bytes;
}

ref_layer *ref_owner(ref_layer *L)
{
    return L->ls->attn.kv_from >= 0 ? &L->M->L[L->ls->attn.kv_from] : L;
}

int ref_share_keep(ref_layer *L, const float *rows, u64 n, u64 cols, sim_err *e)
{
    if (!L->is_source) return SIM_OK;
    free(L->share);
    L->share = malloc((n * cols > 0 ? n * cols : 1) * sizeof(float));
    if (!L->share) return sim_fail(e, SIM_ENOMEM, "out of memory");
    memcpy(L->share, rows, n * cols * sizeof(float));
    L->share_rows = n;
    L->share_cols = cols;
    return SIM_OK;
}

void ref_window_bounds(const ref_model *M, u64 n, u64 W, u64 *lo, u64 *hi)
{
    bool nc = M->opt.noncausal;
    for (u64 t = 0; t < n; t++) {
        lo[t] = W && t + 1 > W ? t + 1 - W : 0;
        hi[t] = !nc ? t + 1 : W && t + W < n ? t + W : n;
    }
}

void ref_window_store(ref_layer *L, int k, u64 n, u64 W, float *rows, u64 ld)
{
    u64 held = W && W < n ? W : n;
    for (u64 t = 0; t < n - held; t++) ref_kv_round(L, k, rows + t * ld);
    for (u64 t = n - held; t < n; t++) ref_kv_write(L, k, W ? t % W : t, rows + t * ld);
}

int ref_window_prefill(ref_layer *L, const kern_attn *ka, u64 n, u64 W, float *rows, u64 ld, const float *q, u64 ldq,
                       float *o, u64 ldo, sim_err *e)
{
    ref_model *M = L->M;
    const float *krows = rows;
    if (L->ls->shared_kv) {
        ref_layer *own = ref_owner(L);
        krows = own->share;
        if (!krows || own->share_rows != n) return sim_fail(e, SIM_EINVAL, "layer %d: source rows missing", L->i);
    } else {
        ref_window_store(L, 0, n, W, rows, ld);
        int rc = ref_share_keep(L, rows, n, ld, e);
        if (rc) return rc;
    }
    u64 *lo = REF_ALLOC(M, 2 * n, u64), *hi = lo ? lo + n : NULL;
    if (!lo) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_window_bounds(M, n, W, lo, hi);
    kern_src src = {.x = krows, .ld = ld};
    float *work = REF_WORK(M, kern_attn_causal_work(ka, n, lo, hi, 1));
    if (!work) return sim_fail(e, SIM_ENOMEM, "out of memory");
    kern_attn_causal(&L->c, ka, n, q, ldq, &src, 1, lo, hi, o, ldo, work);
    return SIM_OK;
}

static u64 cache_bytes(const ref_layer *L)
{
    u64 b = 0;
    for (int k = 0; k < L->ncache; k++) b += L->kv[k].entries * L->kv[k].entry_bytes;
    return b;
}

/* Grow (or empty) every buffer of L to the table's rows at T tokens. A row's
 * slot never moves as the buffer grows (ring buffers fill 0..cap-1 in order
 * before they wrap), so realloc keeps the cache intact. */
static int cache_reserve(ref_layer *L, u64 T, sim_err *e)
{
    kv_buf b[KV_MAX_BUFS];
    int n = cost_kv_table(L->M->m, L->i, T, b, e);
    if (n < 0) return n;
    assert(n == L->ncache);
    for (int k = 0; k < n; k++) {
        ref_cache *c = &L->kv[k];
        assert(b[k].entry_bytes == c->entry_bytes);
        if (b[k].entries == c->entries) continue;
        u64 nb = b[k].entries * c->entry_bytes;
        uint8_t *p = realloc(c->data, nb ? nb : 1);
        if (!p) return sim_fail(e, SIM_ENOMEM, "out of memory for the cache of layer %d", L->i);
        if (nb > c->entries * c->entry_bytes) memset(p + c->entries * c->entry_bytes, 0, nb - c->entries * c->entry_bytes);
        c->data = p;
        c->entries = b[k].entries;
    }
    return SIM_OK;
}

/* ---- traces ---------------------------------------------------------------- */

void ref_trace(ref_model *M, int layer, const char *name, const float *x, u64 rows, u64 cols)
{
    if (!M->opt.trace) return;
    if (M->ntr == M->captr) {
        int cap = M->captr ? 2 * M->captr : 64;
        ref_trace_t *nt = realloc(M->tr, (size_t)cap * sizeof *nt);
        if (!nt) return;
        M->tr = nt;
        M->captr = cap;
    }
    ref_trace_t *t = &M->tr[M->ntr];
    t->data = malloc((rows * cols > 0 ? rows * cols : 1) * sizeof(float));
    if (!t->data) return;
    memcpy(t->data, x, rows * cols * sizeof(float));
    snprintf(t->name, sizeof t->name, "%s", name);
    t->layer = layer;
    t->rows = rows;
    t->cols = cols;
    M->ntr++;
}

const float *ref_trace_get(const ref_model *M, int layer, const char *name, u64 *rows, u64 *cols)
{
    for (int k = M->ntr - 1; k >= 0; k--)
        if (M->tr[k].layer == layer && !strcmp(M->tr[k].name, name)) {
            if (rows) *rows = M->tr[k].rows;
            if (cols) *cols = M->tr[k].cols;
            return M->tr[k].data;
        }
    return NULL;
}

static void trace_clear(ref_model *M)
{
    for (int k = 0; k < M->ntr; k++) free(M->tr[k].data);
    M->ntr = 0;
}

/* ---- init / free --------------------------------------------------------------- */

static void unit_init(ref_model *M, ref_layer *L, int i, const layer_spec *ls)
{
    memset(L, 0, sizeof *L);
    L->M = M;
    L->i = i;
    L->ls = ls;
    L->eps = (float)M->m->norm_eps;
    L->rope.cfg = M->m->rope;
    if (ls && ls->attn.rope_theta) L->rope.cfg.theta = (double)ls->attn.rope_theta;
    if (ls && ls->attn.rope_proportional) L->rope.span = ls->attn.head_dim;
    if (ls && ls->attn.rope_unscaled) {
        L->rope.cfg.scaling = ROPE_SCALE_NONE;
        L->rope.cfg.factor = 1;
    }
}

/* The MTP module (cost.c mtp_part): its layer's weights through the types'
 * init (cache rows bound, never written), eh_proj [2d, d], enorm, hnorm,
 * norm [d], and on an mHC residual its head unit. */
static int mtp_init(ref_model *M, sim_err *e)
{
    const model_spec *m = M->m;
    ref_layer *L = &M->mtp;
    u64 d = m->d_model;
    unit_init(M, L, -4, &m->mtp);
    kv_buf b[KV_MAX_BUFS];
    int n = m->mtp.attn.type->kv_table(m, &m->mtp, 0, b, e), rc;
    if (n < 0) return n;
    L->ncache = n;
    for (int k = 0; k < n; k++) {
        L->kv[k].name = b[k].name;
        L->kv[k].entry_bytes = b[k].entry_bytes;
    }
    const comp_type *t[3] = {m->mtp.attn.type, m->mtp.ffn.type, m->mtp.res.type};
    for (int k = 0; k < 3; k++) {
        const ref_ops *ops = ref_ops_for(t[k]);
        if (!ops) return sim_fail(e, SIM_EINVAL, "mtp: type '%s' has no reference kernel yet", t[k]->name);
        if (ops->init && (rc = ops->init(L, e))) return rc;
    }
    if (!ref_weight(L, "eh_proj", WC_LINEAR, 2 * d, d, 0, sqrtf(3.0f / (float)(2 * d))) ||
        !ref_weight(L, "enorm", WC_SMALL, 1, d, 1, 0.1f) || !ref_weight(L, "hnorm", WC_SMALL, 1, d, 1, 0.1f) ||
        !ref_weight(L, "norm", WC_SMALL, 1, d, 1, 0.1f))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    /* On an mHC residual the module has its own head unit (DeepSeek-V4
     * MTPBlock: hc_head_fn [S, S d], hc_head_base [S], hc_head_scale [1]). */
    u64 S = m->mtp.res.streams && m->hc_streams ? m->hc_streams : 0;
    if (S && (!ref_weight(L, "hc_head_fn", WC_SMALL, S * d, S, 0.0f, 0.1f * sqrtf(3.0f / (float)(S * d))) ||
              !ref_weight(L, "hc_head_base", WC_SMALL, 1, S, 0.0f, 0.5f) || !ref_weight(L, "hc_head_scale", WC_SMALL, 1, 1, 1.0f, 0.1f)))
        return sim_fail(e, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

static void unit_free(ref_layer *L)
{
    if (L->ls) {
        const comp_type *t[3] = {L->ls->attn.type, L->ls->ffn.type, L->ls->res.type};
        for (int k = 0; k < 3; k++)
            if (L->priv[k] && ref_ops_for(t[k]) && ref_ops_for(t[k])->free) ref_ops_for(t[k])->free(L);
    }
    for (int k = 0; k < 3; k++) free(L->priv[k]);
    for (int k = 0; k < L->nw; k++) { free(L->w[k]->data); kern_wq_free(&L->w[k]->q); free(L->w[k]); }
    free(L->w);
    for (int k = 0; k < L->ncache; k++) free(L->kv[k].data);
    free(L->share);
    memset(L, 0, sizeof *L);
}

void ref_free(ref_model *M)
{
    if (M->L)
        for (u64 i = 0; i < M->m->n_layers; i++) unit_free(&M->L[i]);
    free(M->L);
    unit_free(&M->embed);
    unit_free(&M->ple);
    unit_free(&M->head);
    unit_free(&M->mtp);
    free(M->logits);
    free(M->mtp_logits);
    free(M->eda);
    trace_clear(M);
    free(M->tr);
    scratch_free_all(M);
    memset(M, 0, sizeof *M);
}

void ref_reset(ref_model *M)
{
    sim_err e;
    for (u64 i = 0; i < M->m->n_layers; i++) {
        ref_layer *L = &M->L[i];
        for (int k = 0; k < L->ncache; k++) {
            free(L->kv[k].data);
            L->kv[k].data = NULL;
            L->kv[k].entries = 0;
        }
        (void)cache_reserve(L, 0, &e);   /* shrinking to zero rows cannot fail */
    }
    M->T = 0;
}

int ref_init(ref_model *M, const model_spec *m, u64 seed, const ref_opts *o, sim_err *e)
{
    int rc;
    memset(M, 0, sizeof *M);
    M->m = m;
    M->seed = seed;
    if (o) M->opt = *o;
    M->streams = m->hc_streams ? m->hc_streams : 1;
    /* The products here are small: one BLAS thread is fastest, and keeps
     * results independent of the thread count. */
    openblas_set_num_threads(1);
    M->L = calloc(m->n_layers, sizeof *M->L);
    M->logits = calloc(m->vocab, sizeof(float));
    M->mtp_logits = calloc(m->vocab, sizeof(float));
    if (!M->L || !M->logits || !M->mtp_logits) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
    /* Weights are held in their class's format (kern_wq.h): one part. */
    for (int c = 0; c < WC_COUNT; c++)
        if (!kern_wq_bytes(&m->weight[c], 1, e)) { rc = SIM_EINVAL; goto fail; }
    for (u64 i = 0; i < m->n_layers; i++) {
        const layer_spec *ls = &m->layer[i];
        if (m->hc_streams && !ls->res.streams) {
            rc = sim_fail(e, SIM_EINVAL, "layer %llu: the reference kernels need every layer on mHC once one is "
                          "(a plain residual between mHC layers is not supported by the reference kernels)", (unsigned long long)i);
            goto fail;
        }
        if (ls->attn.kv_from >= 0) M->L[ls->attn.kv_from].is_source = true;
    }
    for (u64 i = 0; i < m->n_layers; i++) {
        ref_layer *L = &M->L[i];
        bool src = L->is_source;
        unit_init(M, L, (int)i, &m->layer[i]);
        L->is_source = src;
        kv_buf b[KV_MAX_BUFS];
        int n = cost_kv_table(m, (int)i, 0, b, e);
        if (n < 0) { rc = n; goto fail; }
        L->ncache = n;
        for (int k = 0; k < n; k++) {
            L->kv[k].name = b[k].name;
            L->kv[k].entry_bytes = b[k].entry_bytes;
        }
        const comp_type *t[COMP_CAT_COUNT] = {L->ls->attn.type, L->ls->ffn.type, L->ls->res.type, m->ple.type};
        for (int k = 0; k < COMP_CAT_COUNT; k++) {
            if (!t[k]) continue;
            const ref_ops *ops = ref_ops_for(t[k]);
            if (!ops) {
                rc = sim_fail(e, SIM_EINVAL, "layer %llu: type '%s' has no reference kernel yet", (unsigned long long)i, t[k]->name);
                goto fail;
            }
            if (ops->init && (rc = ops->init(L, e))) goto fail;
        }
        for (int k = 0; k < n; k++)
            if (!L->kv[k].elems) {
                rc = sim_fail(e, SIM_EINVAL, "layer %llu: cache '%s' was not bound by its type", (unsigned long long)i, L->kv[k].name);
                goto fail;
            }
    }
    /* Model parts. */
    u64 d = m->d_model, V = m->vocab, S = M->streams;
    if (m->mtp_n && (rc = mtp_init(M, e))) goto fail;
    unit_init(M, &M->embed, -1, NULL);
    unit_init(M, &M->ple, -2, NULL);
    unit_init(M, &M->head, -3, NULL);
    ref_w *emb = ref_weight(&M->embed, "embed", WC_EMBED, V, d, 0.0f, 1.7320508f);
    if (!emb) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto fail; }
    /* ZAYA1's first merge (ResidualScaling of layer 0: no residual yet):
     * the embedding enters as (e + hb) hs. */
    if (m->n_layers && m->layer[0].res.scaled_merge &&
        (!ref_weight(&M->embed, "embed_merge.hs_scale", WC_SMALL, 1, d, 1.0f, 0.2f) ||
         !ref_weight(&M->embed, "embed_merge.hs_bias", WC_SMALL, 1, d, 0.0f, 0.1f))) {
        rc = sim_fail(e, SIM_ENOMEM, "out of memory");
        goto fail;
    }
    emb->embed = true;
    M->embed.pembed += V * d;
    if (m->hc_streams) {
        /* mHC head unit (research/deepseek.md 3.5): fn [S d, S], base [S], scale [1]. */
        if (!ref_weight(&M->head, "hc_head_fn", WC_SMALL, S * d, S, 0.0f, 0.1f * sqrtf(3.0f / (float)(S * d))) ||
            !ref_weight(&M->head, "hc_head_base", WC_SMALL, 1, S, 0.0f, 0.5f) ||
            !ref_weight(&M->head, "hc_head_scale", WC_SMALL, 1, 1, 1.0f, 0.1f)) {
            rc = sim_fail(e, SIM_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if (!ref_weight(&M->head, "final_norm", WC_SMALL, 1, d, 1.0f, 0.1f) ||
        (!m->tie_embeddings && !ref_weight(&M->head, "head", WC_EMBED, d, V, 0.0f, sqrtf(3.0f / (float)d)))) {
        rc = sim_fail(e, SIM_ENOMEM, "out of memory");
        goto fail;
    }
    const ref_ops *pops = ref_ops_for(m->ple.type);
    if (pops && pops->model_init && (rc = pops->model_init(M, e))) goto fail;
    return SIM_OK;
fail:
    ref_free(M);
    return rc;
}

/* ---- the step -------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void unit_clear(ref_layer *L)
{
    memset(&L->c, 0, sizeof L->c);
    memset(L->welems, 0, sizeof L->welems);
    L->time_s = 0;
    L->attn_time_s = 0;
    L->gemm_time_s = 0;
    L->gemm_calls = 0;
    L->attn_read_bytes = 0;
    L->attn_sel_pairs = L->attn_union_pairs = 0;
}

int ref_sublayer(ref_layer *L, const ref_step *s, ref_sub sub, const float *x, float *y, sim_err *e)
{
    const comp_type *t = sub == SUB_ATTN ? L->ls->attn.type : L->ls->ffn.type;
    u64 d = L->M->m->d_model;
    ref_trace(L->M, L->i, sub == SUB_ATTN ? "attn_in" : "ffn_in", x, s->n, d);
    int rc = ref_ops_for(t)->forward(L, s, x, y, e);
    ref_trace(L->M, L->i, sub == SUB_ATTN ? "attn_out" : "ffn_out", y, s->n, d);
    return rc;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Distinct ids among n tokens (each distinct table row is read once). */
static u64 distinct_rows(ref_model *M, const int32_t *tok, u64 n, u64 modulo)
{
    int32_t *t = REF_ALLOC(M, n, int32_t);
    if (!t) return n;
    for (u64 k = 0; k < n; k++) t[k] = (int32_t)((u64)tok[k] % modulo);
    qsort(t, n, sizeof *t, cmp_i32);
    u64 c = 0;
    for (u64 k = 0; k < n; k++) c += k == 0 || t[k] != t[k - 1];
    return c;
}

/* DeepSeek-V4's mHC head unit (ParallelHead.hc_head, and MTPBlock's own)
 * on the S streams X [S, d] of one token, with unit U's hc_head_fn, _base
 * and _scale: w = sigmoid(scale * (RMSNorm(vec X) . fn) + base) + eps,
 * h = sum_s w_s X_s. Counts the norm and the projection (the caller counts
 * the weighted sum as its cost function does). SIM_ENOMEM without scratch. */
static int hc_head_mix(ref_layer *U, const float *X, u64 S, u64 d, float eps, float *h)
{
    ref_model *M = U->M;
    ref_w *fn = ref_weight_find(U, "hc_head_fn"), *base = ref_weight_find(U, "hc_head_base"),
          *sc = ref_weight_find(U, "hc_head_scale");
    float *xn = REF_ALLOC(M, S * d, float), *w = REF_ALLOC(M, S, float);
    if (!xn || !w || !fn) return SIM_ENOMEM;
    kern_rmsnorm(&U->c, FL_MHC, X, NULL, xn, S * d, U->eps);
    ref_mm(U, FL_MHC, DT_FP32, fn, xn, 1, w, false);
    ref_read(U, base);
    ref_read(U, sc);
    for (u64 k = 0; k < S; k++) w[k] = kern_sigmoid(sc->data[0] * w[k] + base->data[k]) + eps;
    for (u64 j = 0; j < d; j++) {
        float a = 0;
        for (u64 k = 0; k < S; k++) a += w[k] * X[k * d + j];
        h[j] = a;
    }
    return SIM_OK;
}

/* The mHC head unit, the final norm and the logits of the last token. */
static int head_forward(ref_model *M, const float *Xlast, sim_err *e)
{
    const model_spec *m = M->m;
    ref_layer *H = &M->head;
    u64 d = m->d_model, S = M->streams, V = m->vocab;
    float *h = REF_ALLOC(M, d, float);
    if (!h) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if (m->hc_streams) {
        /* The eps add, like the sigmoids, is not counted (cost.c's head);
         * the weighted sum is. */
        kern_count(&H->c, FL_MHC, DT_FP32, 2 * S * d);
        if (hc_head_mix(H, Xlast, S, d, (float)m->layer[m->n_layers - 1].res.hc_eps, h))
            return sim_fail(e, SIM_ENOMEM, "out of memory");
    } else {
        memcpy(h, Xlast, d * sizeof *h);
    }
    ref_w *fnorm = ref_weight_find(H, "final_norm");
    ref_read(H, fnorm);
    kern_rmsnorm(&H->c, FL_OTHER, h, fnorm->data, h, d, H->eps);
    ref_trace(M, -1, "final_hidden", h, 1, d);
    dtype lin = m->compute[CC_LINEAR];
    if (m->tie_embeddings) {
        /* Tied: the embedding table is read whole for the logits. */
        ref_w *emb = ref_weight_find(&M->embed, "embed");
        H->welems[WC_EMBED] += V * d;
        ref_mm_at(H, FL_OTHER, lin, emb, 0, d, d, V, h, d, 1, M->logits, V, true, false);
    } else {
        ref_mm(H, FL_OTHER, lin, ref_weight_find(H, "head"), h, 1, M->logits, false);
    }
    if (m->logit_softcap > 0) {
        /* Gemma: logits = cap tanh(logits / cap); 3 FLOPs a logit. */
        float cap = (float)m->logit_softcap;
        kern_count(&H->c, FL_OTHER, DT_FP32, 3 * V);
        for (u64 j = 0; j < V; j++) M->logits[j] = cap * tanhf(M->logits[j] / cap);
    }
    ref_trace(M, -1, "logits", M->logits, 1, V);
    return SIM_OK;
}

/* The MTP module on the step's n tokens (opt.mtp; `run --mtp`): position t
 * takes the main model's final streams X[t] and the embedding of the next
 * token mtp_next[t]. As DeepSeek-V4-Flash inference/model.py MTPBlock:
 * x_s = e_proj(enorm(e)) + h_proj(hnorm(X_s)) per stream (eh_proj [2d, d]:
 * its first d rows e_proj, the last d h_proj; one stream without mHC, the
 * V3 module's eh_proj([enorm(e); hnorm(h)]) in vLLM's order), then its layer
 * (with its own cache), then its head unit (mHC: its own hc_head weights),
 * its norm and the shared head: the draft logits of the last token. Its
 * counters are the module's row (`run` only; validate never sets opt.mtp). */
static int mtp_forward(ref_model *M, const ref_step *s, const float *X, sim_err *e)
{
    const model_spec *m = M->m;
    ref_layer *L = &M->mtp;
    u64 n = s->n, d = m->d_model, S = M->streams, V = m->vocab;
    kv_buf b[KV_MAX_BUFS];
    int nb = m->mtp.attn.type->kv_table(m, &m->mtp, M->T + n, b, e), rc;
    if (nb < 0) return nb;
    for (int k = 0; k < nb; k++) {   /* grow its caches as cache_reserve does */
        ref_cache *c = &L->kv[k];
        if (b[k].entries == c->entries) continue;
        u64 sz = b[k].entries * c->entry_bytes;
        uint8_t *p = realloc(c->data, sz ? sz : 1);
        if (!p) return sim_fail(e, SIM_ENOMEM, "out of memory for the MTP module's cache");
        if (sz > c->entries * c->entry_bytes) memset(p + c->entries * c->entry_bytes, 0, sz - c->entries * c->entry_bytes);
        c->data = p;
        c->entries = b[k].entries;
    }
    float *en = REF_ALLOC(M, n * d, float), *hn = REF_ALLOC(M, n * S * d, float), *Xm = REF_ALLOC(M, n * S * d, float);
    float *ep = REF_ALLOC(M, n * d, float), *er = REF_ALLOC(M, d, float);
    if (!en || !hn || !Xm || !ep || !er) return sim_fail(e, SIM_ENOMEM, "out of memory");
    ref_w *emb = ref_weight_find(&M->embed, "embed"), *eh = ref_weight_find(L, "eh_proj");
    ref_w *enw = ref_weight_find(L, "enorm"), *hnw = ref_weight_find(L, "hnorm"), *nw = ref_weight_find(L, "norm");
    dtype lin = m->compute[CC_LINEAR];
    for (u64 t = 0; t < n; t++) {
        if (M->mtp_next[t] < 0 || (u64)M->mtp_next[t] >= V) return sim_fail(e, SIM_EINVAL, "MTP: a next token outside the vocabulary");
        ref_w_rows(emb, (u64)M->mtp_next[t], 1, er);
        kern_rmsnorm(&L->c, FL_OTHER, er, enw->data, en + t * d, d, L->eps);
        for (u64 k = 0; k < S; k++) kern_rmsnorm(&L->c, FL_OTHER, X + (t * S + k) * d, hnw->data, hn + (t * S + k) * d, d, L->eps);
    }
    ref_read(L, eh);
    ref_mm_at(L, FL_PROJ, lin, eh, 0, d, d, d, en, d, n, ep, d, false, false);              /* e_proj: rows 0 .. d-1 */
    ref_mm_at(L, FL_PROJ, lin, eh, d * d, d, d, d, hn, d, n * S, Xm, d, false, false);      /* h_proj: rows d .. 2d-1 */
    for (u64 t = 0; t < n; t++)
        for (u64 k = 0; k < S; k++)
            for (u64 j = 0; j < d; j++) Xm[(t * S + k) * d + j] += ep[t * d + j];
    bool tr = M->opt.trace;
    M->opt.trace = false;   /* the module's intermediates are not dumped */
    rc = ref_ops_for(m->mtp.res.type)->layer(L, s, Xm, e);
    M->opt.trace = tr;
    if (rc) return rc;
    /* Its head on the last token: mHC head unit (its own weights), norm, the shared head. */
    const float *Xl = Xm + (n - 1) * S * d;
    float *h = REF_ALLOC(M, d, float);
    if (!h) return sim_fail(e, SIM_ENOMEM, "out of memory");
    if (S > 1) {
        /* The weighted sum is inside cost.c's MTP norm count (+2 per element). */
        if (hc_head_mix(L, Xl, S, d, (float)m->mtp.res.hc_eps, h)) return sim_fail(e, SIM_ENOMEM, "out of memory");
    } else {
        memcpy(h, Xl, d * sizeof *h);
    }
    ref_read(L, nw);
    kern_rmsnorm(&L->c, FL_OTHER, h, nw->data, h, d, L->eps);
    if (m->tie_embeddings)
        ref_mm_at(L, FL_OTHER, lin, emb, 0, d, d, V, h, d, 1, M->mtp_logits, V, true, false);
    else
        ref_mm_at(L, FL_OTHER, lin, ref_weight_find(&M->head, "head"), 0, V, d, V, h, d, 1, M->mtp_logits, V, false, false);
    ref_trace(M, -1, "mtp_logits", M->mtp_logits, 1, V);
    return SIM_OK;
}

int ref_ple_update(ref_layer *L, const ref_step *s, float *X, u64 stride_x, sim_err *e)
{
    const ref_ops *pops = ref_ops_for(L->M->m->ple.type);
    L->ple_done = true;
    return pops && pops->post ? pops->post(L, s, X, stride_x, e) : SIM_OK;
}

int ref_run(ref_model *M, const int32_t *tok, u64 n, sim_err *e)
{
    const model_spec *m = M->m;
    int rc = SIM_OK;
    if (n == 0) return sim_fail(e, SIM_EINVAL, "a step needs at least one token");
    phase ph = M->T == 0 ? PH_PREFILL : PH_DECODE;
    if (ph == PH_DECODE && n != 1)
        return sim_fail(e, SIM_EINVAL, "decode runs one token per step (the cost model has no chunked prefill)");
    for (u64 k = 0; k < n; k++)
        if (tok[k] < 0 || (u64)tok[k] >= m->vocab)
            return sim_fail(e, SIM_EINVAL, "token %lld is outside the vocabulary (%llu)", (long long)tok[k],
                            (unsigned long long)m->vocab);
    ref_step s = {ph, M->T, n, tok};
    M->step_id++;
    trace_clear(M);
    unit_clear(&M->embed);
    unit_clear(&M->ple);
    unit_clear(&M->head);
    for (u64 i = 0; i < m->n_layers; i++) {
        ref_layer *L = &M->L[i];
        unit_clear(L);
        u64 before = cache_bytes(L);
        if ((rc = cache_reserve(L, M->T + n, e))) return rc;
        /* kv_bytes = the cache holding the context: after a prefill of T,
         * or before a decode step at T (cost.h's phases). */
        L->c.kv_bytes = ph == PH_DECODE ? before : cache_bytes(L);
    }
    ref_mark mk = ref_scratch_mark(M);
    u64 d = m->d_model, S = M->streams;
    float *x0 = REF_ALLOC(M, n * d, float), *X = REF_ALLOC(M, n * S * d, float);
    if (!x0 || !X) { rc = sim_fail(e, SIM_ENOMEM, "out of memory"); goto out; }
    /* Embeddings: one row per token; each distinct row is read once. */
    double t0 = now_s();
    ref_w *emb = ref_weight_find(&M->embed, "embed");
    /* Gemma (embed_scale): rows times sqrt(d_model), in fp32 (the released
     * code multiplies by the scale rounded to the weights' dtype). */
    float esc = m->embed_scale ? sqrtf((float)d) : 1.0f;
    if (m->embed_scale) kern_count(&M->embed.c, FL_OTHER, DT_FP32, n * d);
    for (u64 t = 0; t < n; t++) {
        ref_w_rows(emb, (u64)tok[t], 1, x0 + t * d);
        for (u64 j = 0; j < d; j++) x0[t * d + j] *= esc;
        for (u64 k = 0; k < S; k++) memcpy(X + (t * S + k) * d, x0 + t * d, d * sizeof(float));
    }
    ref_w *ehs = ref_weight_find(&M->embed, "embed_merge.hs_scale"), *ehb = ref_weight_find(&M->embed, "embed_merge.hs_bias");
    if (ehs && ehb) {
        ref_read(&M->embed, ehs);
        ref_read(&M->embed, ehb);
        kern_count(&M->embed.c, FL_OTHER, DT_FP32, n * d * 2);
        for (u64 t = 0; t < n; t++) {
            for (u64 j = 0; j < d; j++) x0[t * d + j] = (x0[t * d + j] + ehb->data[j]) * ehs->data[j];
            for (u64 k = 0; k < S; k++) memcpy(X + (t * S + k) * d, x0 + t * d, d * sizeof(float));
        }
    }
    M->embed.welems[WC_EMBED] += distinct_rows(M, tok, n, m->vocab) * d;
    M->embed.time_s = now_s() - t0;
    ref_trace(M, -1, "embed", x0, n, d);
    const ref_ops *pops = ref_ops_for(m->ple.type), *res_ops = NULL;
    if (pops && pops->model_forward) {
        t0 = now_s();
        if ((rc = pops->model_forward(M, &s, x0, e))) goto out;
        M->ple.time_s = now_s() - t0;
    }
    for (u64 i = 0; i < m->n_layers; i++) {
        ref_layer *L = &M->L[i];
        t0 = now_s();
        kern_attn_stats a0 = kern_attn_stats_get();
        double g0 = M->gemm_s;
        u64 gc0 = M->gemm_calls;
        ref_mark lm = ref_scratch_mark(M);
        res_ops = ref_ops_for(L->ls->res.type);
        L->ple_done = false;
        rc = res_ops->layer(L, &s, X, e);
        if (!rc && !L->ple_done) rc = ref_ple_update(L, &s, X, S * d, e);
        ref_scratch_release(M, lm);
        L->time_s = now_s() - t0;
        kern_attn_stats a1 = kern_attn_stats_get();
        L->attn_time_s = a1.seconds - a0.seconds;
        L->gemm_time_s = M->gemm_s - g0;
        L->gemm_calls = M->gemm_calls - gc0;
        L->attn_read_bytes = a1.bytes - a0.bytes;
        L->attn_sel_pairs = a1.gather_selected - a0.gather_selected;
        L->attn_union_pairs = a1.gather_union - a0.gather_union;
        if (rc) goto out;
        if (M->opt.trace) {
            /* The layer's output (stream 0 under mHC). */
            float *o = REF_ALLOC(M, n * d, float);
            if (o) {
                for (u64 t = 0; t < n; t++) memcpy(o + t * d, X + t * S * d, d * sizeof(float));
                ref_trace(M, L->i, "out", o, n, d);
            }
        }
    }
    t0 = now_s();
    rc = head_forward(M, X + (n - 1) * S * d, e);
    M->head.time_s = now_s() - t0;
    if (!rc && M->opt.mtp && m->mtp_n) {
        if (!M->mtp_next) rc = sim_fail(e, SIM_EINVAL, "MTP: no next tokens given");
        else {
            unit_clear(&M->mtp);
            ref_mark lm = ref_scratch_mark(M);
            rc = mtp_forward(M, &s, X, e);
            ref_scratch_release(M, lm);
        }
    }
    if (!rc) M->T += n;
out:
    for (u64 i = 0; i < m->n_layers; i++) {
        free(M->L[i].share);
        M->L[i].share = NULL;
    }
    ref_scratch_release(M, mk);
    return rc;
}

/* ---- results -------------------------------------------------------------------- */

/* Counts of a few small layers: far from 2^64, so the overflow flag is not consulted. */
static void add_cost(cost_t *a, const cost_t *b)
{
    bool ovf = false;
    cost_add(&ovf, a, b, 1);
}

/* A unit's counters with the weight classes priced in their formats. */
static cost_t unit_cost(const ref_model *M, const ref_layer *L)
{
    bool ovf = false;
    cost_t c = L->c;
    c.weight_read_bytes = 0;
    c.params = 0;
    for (int k = 0; k < WC_COUNT; k++) {
        c.weight_read_bytes += fmt_rate_bytes(&M->m->weight[k], L->welems[k], &ovf);
        c.weight_bytes += fmt_rate_bytes(&M->m->weight[k], L->pelems[k], &ovf);
        c.params += L->pelems[k];
    }
    c.params_embed = L->pembed;
    return c;
}

static cost_row *row_for(cost_result *r, const char *name)
{
    for (int k = 0; k < r->n_types; k++)
        if (!strcmp(r->type[k].name, name)) return &r->type[k];
    cost_row *w = &r->type[r->n_types++];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    return w;
}

int ref_result(const ref_model *M, cost_result *r, sim_err *e)
{
    const model_spec *m = M->m;
    memset(r, 0, sizeof *r);
    r->layer = calloc(m->n_layers, sizeof *r->layer);
    if (!r->layer) return sim_fail(e, SIM_ENOMEM, "out of memory");
    r->n_layers = (int)m->n_layers;
    for (int i = 0; i < r->n_layers; i++) {
        r->layer[i] = unit_cost(M, &M->L[i]);
        char name[48];
        spec_layer_type_name(m, i, name, sizeof name);
        cost_row *w = row_for(r, name);
        w->layers++;
        add_cost(&w->c, &r->layer[i]);
    }
    cost_t c = unit_cost(M, &M->embed);
    add_cost(&row_for(r, "embed")->c, &c);
    if (m->ple.type) {
        c = unit_cost(M, &M->ple);
        add_cost(&row_for(r, m->ple.type->name)->c, &c);
    }
    c = unit_cost(M, &M->head);
    add_cost(&row_for(r, "head")->c, &c);
    if (m->mtp_n) {
        c = unit_cost(M, &M->mtp);   /* held, never run: weights only */
        cost_row *w = row_for(r, "mtp");
        for (u64 k = 0; k < m->mtp_n; k++) add_cost(&w->c, &c);
    }
    for (int k = 0; k < r->n_types; k++) add_cost(&r->total, &r->type[k].c);
    return SIM_OK;
}

double ref_type_time(const ref_model *M, const char *name)
{
    double t = 0;
    if (!strcmp(name, "embed")) return M->embed.time_s;
    if (M->m->ple.type && !strcmp(name, M->m->ple.type->name)) return M->ple.time_s;
    if (!strcmp(name, "head")) return M->head.time_s;
    for (u64 i = 0; i < M->m->n_layers; i++) {
        char nm[48];
        spec_layer_type_name(M->m, (int)i, nm, sizeof nm);
        if (!strcmp(nm, name)) t += M->L[i].time_s;
    }
    return t;
}

void ref_type_attn(const ref_model *M, const char *name, double *seconds, u64 *bytes)
{
    *seconds = 0;
    *bytes = 0;
    for (u64 i = 0; i < M->m->n_layers; i++) {
        char nm[48];
        spec_layer_type_name(M->m, (int)i, nm, sizeof nm);
        if (strcmp(nm, name)) continue;
        *seconds += M->L[i].attn_time_s;
        *bytes += M->L[i].attn_read_bytes;
    }
}

double ref_type_gemm(const ref_model *M, const char *name)
{
    double t = 0;
    for (u64 i = 0; i < M->m->n_layers; i++) {
        char nm[48];
        spec_layer_type_name(M->m, (int)i, nm, sizeof nm);
        if (!strcmp(nm, name)) t += M->L[i].gemm_time_s;
    }
    return t;
}

static void evict_unit(const ref_layer *L)
{
    for (int k = 0; k < L->nw; k++) {
        const ref_w *w = L->w[k];
        if (w->stored) kern_evict(w->q.codes, w->q.bytes);
        else kern_evict(w->data, 4 * w->rows * w->cols);
    }
    for (int k = 0; k < L->ncache; k++) kern_evict(L->kv[k].data, L->kv[k].entries * L->kv[k].entry_bytes);
}

void ref_evict(const ref_model *M)
{
    evict_unit(&M->embed);
    evict_unit(&M->ple);
    evict_unit(&M->head);
    for (u64 i = 0; i < M->m->n_layers; i++) evict_unit(&M->L[i]);
    kern_evict_fence();
}

void ref_type_gather(const ref_model *M, const char *name, u64 *selected, u64 *uni)
{
    *selected = *uni = 0;
    for (u64 i = 0; i < M->m->n_layers; i++) {
        char nm[48];
        spec_layer_type_name(M->m, (int)i, nm, sizeof nm);
        if (strcmp(nm, name)) continue;
        *selected += M->L[i].attn_sel_pairs;
        *uni += M->L[i].attn_union_pairs;
    }
}

double ref_time_total(const ref_model *M)
{
    double t = M->embed.time_s + M->ple.time_s + M->head.time_s;
    for (u64 i = 0; i < M->m->n_layers; i++) t += M->L[i].time_s;
    return t;
}
