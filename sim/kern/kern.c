/* kern.c - counted numeric kernels and their naive twins; see kern.h. */
#include "kern.h"
#include "quant.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void kern_count(cost_t *c, flop_cat cat, dtype dt, u64 n)
{
    c->flops[cat] += n;
    c->flops_fp8eq_x2 += (u128)n * dtype_table[dt].fp8eq_half;
}

static bool row_mode;

bool kern_rowwise(bool on)
{
    bool was = row_mode;
    row_mode = on;
    return was;
}

bool kern_rowwise_on(void)
{
    return row_mode;
}

void kern_blas_serial(void)
{
    /* OpenBLAS's own threads inside our OpenMP regions would oversubscribe
     * the cores (and spin while they wait): the kernels split the work. */
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

int kern_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void kern_evict(const void *buf, u64 len)
{
#if defined(__x86_64__) || defined(__i386__)
    const char *p = buf;
    for (u64 i = 0; p && i < len; i += 64) __builtin_ia32_clflush(p + i);
#else
    (void)buf;
    (void)len;
#endif
}

void kern_evict_fence(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_mfence();
#endif
}

/* Rows per BLAS call of a parallel product: fixed, so a row's result never
 * depends on the thread count (BLAS blocks a product by its shape); large
 * enough that packing B once per block stays a few percent. */
#define MM_ROWS 256
/* Products fewer rows tall than this run row by row through sgemv. */
#define MM_GEMV_ROWS 4

void kern_matmul(cost_t *c, flop_cat cat, dtype dt, u64 M, u64 N, u64 K,
                 const float *A, u64 lda, const float *B, u64 ldb, float *C, u64 ldc,
                 bool transB, bool accumulate)
{
    kern_count(c, cat, dt, 2 * M * N * K);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!accumulate)
            for (u64 i = 0; i < M; i++)
                for (u64 j = 0; j < N; j++) C[i * ldc + j] = 0;
        return;
    }
    /* BLAS takes int dimensions; the reference runs are small by design. */
    assert(M < (1u << 31) && N < (1u << 31) && K < (1u << 31));
    kern_blas_serial();
    if (row_mode || M < MM_GEMV_ROWS) {
        /* One row at a time as a matrix-vector product: sgemm would pack
         * (copy) all of B for a product a row or two tall, doubling what a
         * decode step reads; sgemv reads B once, in place. */
        for (u64 i = 0; i < M; i++) {
            if (!accumulate) memset(C + i * ldc, 0, N * sizeof *C);   /* beta 0 must not read C (NaN * 0) */
            if (transB)   /* B is [N, K]: y = B x */
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1.0f, B, (int)ldb, A + i * lda, 1,
                            accumulate ? 1.0f : 0.0f, C + i * ldc, 1);
            else          /* B is [K, N]: y = B^T x */
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)K, (int)N, 1.0f, B, (int)ldb, A + i * lda, 1,
                            accumulate ? 1.0f : 0.0f, C + i * ldc, 1);
        }
        return;
    }
    u64 step = MM_ROWS, nblk = (M + step - 1) / step;
    bool par = nblk > 1 && 2 * M * N * K >= (1u << 24);   /* ~0.5 ms on one core */
#ifdef _OPENMP
    par = par && !omp_in_parallel();
#endif
    (void)par;   /* without OpenMP */
#pragma omp parallel for schedule(static) if (par)
    for (u64 b = 0; b < nblk; b++) {
        u64 i = b * step, m = M - i < step ? M - i : step;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, (int)m, (int)N, (int)K,
                    1.0f, A + i * lda, (int)lda, B, (int)ldb, accumulate ? 1.0f : 0.0f, C + i * ldc, (int)ldc);
    }
}

void kern_matmul_naive(u64 M, u64 N, u64 K, const float *A, u64 lda, const float *B, u64 ldb,
                       float *C, u64 ldc, bool transB, bool accumulate)
{
    for (u64 i = 0; i < M; i++)
        for (u64 j = 0; j < N; j++) {
            double s = 0;
            for (u64 k = 0; k < K; k++) s += (double)A[i * lda + k] * (transB ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (float)(accumulate ? C[i * ldc + j] + s : s);
        }
}

void kern_rmsnorm(cost_t *c, flop_cat cat, const float *x, const float *w, float *y, u64 n, float eps)
{
    kern_count(c, cat, DT_FP32, n * FLOPS_RMSNORM);
    float ss = 0;
    /* Vector lanes, then in order: the sum of squares is one reduction, left
     * scalar it costs a 4-cycle add per element (5% of a V4 prefill). */
#pragma omp simd reduction(+ : ss)
    for (u64 i = 0; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + eps);
    if (w) {
#pragma omp simd
        for (u64 i = 0; i < n; i++) y[i] = x[i] * r * w[i];
    } else {
#pragma omp simd
        for (u64 i = 0; i < n; i++) y[i] = x[i] * r;
    }
}

void kern_rmsnorm_naive(const float *x, const float *w, float *y, u64 n, float eps)
{
    double ss = 0;
    for (u64 i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double r = 1.0 / sqrt(ss / (double)n + eps);
    for (u64 i = 0; i < n; i++) y[i] = (float)(x[i] * r * (w ? w[i] : 1.0));
}

void kern_softmax(cost_t *c, flop_cat cat, float *x, u64 n, float scale, float sink)
{
    kern_count(c, cat, DT_FP32, n * FLOPS_SOFTMAX);
    float mx = sink;
    for (u64 i = 0; i < n; i++) mx = fmaxf(mx, x[i] * scale);
    float s = isinf(sink) ? 0.0f : expf(sink - mx);
    for (u64 i = 0; i < n; i++) { x[i] = expf(x[i] * scale - mx); s += x[i]; }
    for (u64 i = 0; i < n; i++) x[i] /= s;
}

void kern_softmax_naive(float *x, u64 n, float scale, float sink)
{
    double mx = sink, s = 0;
    for (u64 i = 0; i < n; i++) mx = fmax(mx, (double)x[i] * scale);
    if (!isinf(sink)) s = exp(sink - mx);
    for (u64 i = 0; i < n; i++) s += exp((double)x[i] * scale - mx);
    for (u64 i = 0; i < n; i++) x[i] = (float)(exp((double)x[i] * scale - mx) / s);
}

#define KERN_PI 3.14159265358979323846

static const kern_rope_cfg rope_default = {.cfg = {.theta = 10000, .scaling = ROPE_SCALE_NONE, .factor = 1}};

/* YaRN's dimension where a frequency makes `rot` rotations over `len`
 * positions (DeepSeek inference/model.py find_correction_dim). */
static double yarn_dim(double rotations, u64 dim, double base, double len)
{
    return (double)dim * log(len / (rotations * 2 * KERN_PI)) / (2 * log(base));
}

/* Frequency i of r for `rot` rotated dims. */
static double rope_freq(const kern_rope_cfg *r, u64 rot, u64 i)
{
    const rope_cfg *k = &r->cfg;
    u64 span = r->span ? r->span : rot;
    double f = pow(k->theta, -2.0 * (double)i / (double)span);
    if (k->scaling == ROPE_SCALE_LINEAR) return f / k->factor;
    if (k->scaling == ROPE_SCALE_LLAMA3) {
        /* transformers _compute_llama3_parameters: wavelengths above
         * old/low_freq_factor divided by factor, below old/high_freq_factor
         * kept, a smooth blend between. */
        double old = (double)k->original_max_position, lo = old / k->low_freq_factor, hi = old / k->high_freq_factor;
        double wl = 2 * KERN_PI / f;
        if (wl > lo) return f / k->factor;
        if (wl < hi) return f;
        double sm = (old / wl - k->low_freq_factor) / (k->high_freq_factor - k->low_freq_factor);
        return (1 - sm) * f / k->factor + sm * f;
    }
    if (k->scaling == ROPE_SCALE_YARN) {
        /* DeepSeek precompute_freqs_cis: low = floor(dim(beta_fast)),
         * high = ceil(dim(beta_slow)), clamped to [0, rot-1]; smooth =
         * 1 - clamp((i - low) / (high - low), 0, 1); f = f / factor *
         * (1 - smooth) + f * smooth. */
        double len = (double)k->original_max_position;
        double lo = floor(yarn_dim(k->beta_fast, rot, k->theta, len)), hi = ceil(yarn_dim(k->beta_slow, rot, k->theta, len));
        if (lo < 0) lo = 0;
        if (hi > (double)rot - 1) hi = (double)rot - 1;
        if (lo == hi) hi += 0.001;
        double ramp = ((double)i - lo) / (hi - lo);
        double smooth = 1 - (ramp < 0 ? 0 : ramp > 1 ? 1 : ramp);
        return f / k->factor * (1 - smooth) + f * smooth;
    }
    return f;
}

void kern_rope_freqs(const kern_rope_cfg *r, u64 rot, double *inv)
{
    if (!r) r = &rope_default;
    for (u64 i = 0; i < rot / 2; i++) inv[i] = rope_freq(r, rot, i);
}

/* RoPE's cos and sin as engines hold them (a table over positions, built
 * once: freqs_cis), per thread: up to ROPE_SLOTS configurations (a V4
 * model alternates YaRN and plain layers), positions below ROPE_TABLE_MAX
 * (1M-token runs compute the rest per token, as below). The values are
 * those the formula gives (pow, cos and sin cost ~100 ns a pair, more than
 * the rotation itself): a cache. */
#define ROPE_CACHE 1024          /* pairs */
#define ROPE_SLOTS 4
#define ROPE_TABLE_MAX 65536     /* positions */
typedef struct {
    kern_rope_cfg key;           /* the configuration inv[] belongs to */
    u64 rot, npos;               /* rows 0 .. npos-1 filled */
    unsigned stamp;              /* last use (the least recent slot is replaced) */
    double inv[ROPE_CACHE];      /* the frequencies for key, rot */
    float *cs, *sn;              /* [npos][rot / 2] */
} rope_slot;
static _Thread_local struct {
    rope_slot s[ROPE_SLOTS];
    unsigned clock;
    kern_rope_cfg key1;          /* the per-token fallback's configuration, rot and position */
    u64 rot1, pos;
    bool valid;
    float cs1[ROPE_CACHE], sn1[ROPE_CACHE];
} rope_memo;

static bool rope_same(const kern_rope_cfg *a, const kern_rope_cfg *b)
{
    const rope_cfg *x = &a->cfg, *y = &b->cfg;
    return a->span == b->span && a->amp == b->amp && x->theta == y->theta && x->scaling == y->scaling && x->factor == y->factor &&
           x->low_freq_factor == y->low_freq_factor && x->high_freq_factor == y->high_freq_factor &&
           x->beta_fast == y->beta_fast && x->beta_slow == y->beta_slow &&
           x->original_max_position == y->original_max_position;
}

static void rope_pair(float *x, u64 i, u64 j, float cs, float sn)
{
    float a = x[i], b = x[j];
    x[i] = a * cs - b * sn;
    x[j] = a * sn + b * cs;
}

/* cos and sin of position pos at the half frequencies inv, times r's
 * YaRN amplitude: one row of the table (or the per-token fallback). */
static void rope_row_fill(const kern_rope_cfg *r, const double *inv, u64 half, u64 pos, float *cs, float *sn)
{
    double a = r->amp > 0 ? r->amp : 1.0;
    for (u64 i = 0; i < half; i++) {
        double ang = (double)pos * inv[i];
        cs[i] = (float)(a * cos(ang));
        sn[i] = (float)(a * sin(ang));
    }
}

/* Row pos of the cos / sin table of (r, rot); NULL when the table cannot
 * hold it (out of memory, or pos past ROPE_TABLE_MAX): the caller computes
 * the row itself. */
static const rope_slot *rope_row(const kern_rope_cfg *r, u64 rot, u64 pos)
{
    rope_slot *sl = NULL, *old = &rope_memo.s[0];
    for (int k = 0; k < ROPE_SLOTS && !sl; k++) {
        rope_slot *c = &rope_memo.s[k];
        if (c->rot == rot && rope_same(&c->key, r)) sl = c;
        else if (c->stamp < old->stamp) old = c;
    }
    if (!sl) {
        sl = old;
        free(sl->cs);
        free(sl->sn);
        memset(sl, 0, sizeof *sl);
        kern_rope_freqs(r, rot, sl->inv);
        sl->key = *r;
        sl->rot = rot;
    }
    sl->stamp = ++rope_memo.clock;
    if (pos >= ROPE_TABLE_MAX) return NULL;
    if (pos >= sl->npos) {
        u64 half = rot / 2, np = sl->npos ? sl->npos : 256;
        while (np <= pos) np *= 2;
        if (np > ROPE_TABLE_MAX) np = ROPE_TABLE_MAX;
        float *cs = realloc(sl->cs, np * half * sizeof *cs), *sn = cs ? realloc(sl->sn, np * half * sizeof *sn) : NULL;
        if (cs) sl->cs = cs;
        if (!cs || !sn) return NULL;
        sl->sn = sn;
        for (u64 p = sl->npos; p < np; p++) rope_row_fill(r, sl->inv, half, p, sl->cs + p * half, sl->sn + p * half);
        sl->npos = np;
    }
    return sl;
}

void kern_rope(cost_t *c, const kern_rope_cfg *r, float *x, u64 rot, u64 pos, bool inverse)
{
    kern_count(c, FL_OTHER, DT_FP32, rot * FLOPS_ROPE);
    if (!r) r = &rope_default;
    u64 half = rot / 2, off = r->span ? r->span / 2 : half;   /* pair (i, i + off) */
    /* YaRN's attention_scaling folded into cos and sin (transformers' rotary
     * embeddings: cos = emb.cos() * attention_scaling): no more FLOPs. */
    double amp = r->amp > 0 ? (inverse ? 1.0 / r->amp : r->amp) : 1.0;
    if (half > ROPE_CACHE) {
        for (u64 i = 0; i < half; i++) {
            double ang = (double)pos * rope_freq(r, rot, i);
            rope_pair(x, i, i + off, (float)(amp * cos(ang)), (float)(amp * (inverse ? -sin(ang) : sin(ang))));
        }
        return;
    }
    const rope_slot *sl = rope_row(r, rot, pos);
    const float *cs, *sn;
    if (sl) {
        cs = sl->cs + pos * half;
        sn = sl->sn + pos * half;
    } else {   /* past the table: this token's row, computed once for its heads */
        if (!rope_memo.valid || rope_memo.pos != pos || rope_memo.rot1 != rot || !rope_same(&rope_memo.key1, r)) {
            double inv[ROPE_CACHE];
            kern_rope_freqs(r, rot, inv);
            rope_row_fill(r, inv, half, pos, rope_memo.cs1, rope_memo.sn1);
            rope_memo.key1 = *r;
            rope_memo.rot1 = rot;
            rope_memo.pos = pos;
            rope_memo.valid = true;
        }
        cs = rope_memo.cs1;
        sn = rope_memo.sn1;
    }
    if (inverse && r->amp > 0 && r->amp != 1) {
        for (u64 i = 0; i < half; i++)
            rope_pair(x, i, i + off, (float)(cs[i] / (r->amp * r->amp)), (float)(-sn[i] / (r->amp * r->amp)));
        return;
    }
    for (u64 i = 0; i < half; i++) rope_pair(x, i, i + off, cs[i], inverse ? -sn[i] : sn[i]);
}

/* B := hc_split_sinkhorn's comb (DeepSeek-V4 inference/kernel.py,
 * hc_split_sinkhorn_kernel): a row softmax, + eps, a column normalisation,
 * then it - 1 times (rows, columns), each sum + eps; so the columns are the
 * exact ones. S x S, B[j S + k] = comb[j, k]. Counted: exp S^2, 4 S^2 per
 * row-and-column pass (sums and divides; the softmax's row counts as one),
 * and with eps > 0 the S^2 + (2 it - 1) S eps adds. */
void kern_sinkhorn(cost_t *c, float *B, u64 S, u64 it, float eps)
{
    kern_count(c, FL_MHC, DT_FP32, S * S + it * 4 * S * S + (eps > 0 ? S * S + (2 * it - 1) * S : 0));
    for (u64 i = 0; i < S; i++) {              /* comb.softmax(-1) + eps */
        float mx = -INFINITY, sum = 0;
        for (u64 j = 0; j < S; j++) mx = fmaxf(mx, B[i * S + j]);
        for (u64 j = 0; j < S; j++) sum += B[i * S + j] = expf(B[i * S + j] - mx);
        for (u64 j = 0; j < S; j++) B[i * S + j] = B[i * S + j] / sum + eps;
    }
    for (u64 r = 0; r < it; r++) {
        if (r > 0)
            for (u64 i = 0; i < S; i++) {      /* comb / (comb.sum(-1) + eps) */
                float sum = 0;
                for (u64 j = 0; j < S; j++) sum += B[i * S + j];
                for (u64 j = 0; j < S; j++) B[i * S + j] /= sum + eps;
            }
        for (u64 j = 0; j < S; j++) {          /* comb / (comb.sum(-2) + eps) */
            float sum = 0;
            for (u64 i = 0; i < S; i++) sum += B[i * S + j];
            for (u64 i = 0; i < S; i++) B[i * S + j] /= sum + eps;
        }
    }
}

void kern_hc_pre(float *u, const float *A, const float *X, u64 S, u64 d)
{
    /* The stream loop outside, the channel loop inside (vectorised): the
     * same sums in the same order per channel. */
    memset(u, 0, d * sizeof *u);
    for (u64 r = 0; r < S; r++) {
        float hr = A[r];
#pragma omp simd
        for (u64 j = 0; j < d; j++) u[j] += hr * X[r * d + j];
    }
}

void kern_hc_post(float *X, float *Xn, const float *B, const float *Cc, const float *f, u64 S, u64 d)
{
    memcpy(Xn, X, S * d * sizeof(float));
    for (u64 i = 0; i < S; i++) {
        float *xi = X + i * d, ci = Cc[i];
#pragma omp simd
        for (u64 j = 0; j < d; j++) xi[j] = ci * f[j];
        for (u64 r = 0; r < S; r++) {
            float bir = B[r * S + i];
            const float *xr = Xn + r * d;
#pragma omp simd
            for (u64 j = 0; j < d; j++) xi[j] += bir * xr[j];
        }
    }
}

float kern_sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

float kern_gelu(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

/* silu(x) = x sigmoid(x), sigmoid(x) = 1 / (1 + e^-|x|) for x >= 0 and
 * e^-|x| / (1 + e^-|x|) below: kern_exp's argument stays <= 0, and the
 * choice is made on the sign bit (integer ops: loops of it vectorise). */
static inline float silu(float xf)
{
    union { float f; uint32_t u; } x = {xf}, nx = {xf}, e, num;
    nx.u |= 0x80000000u;                                /* -|x| */
    e.f = kern_exp(nx.f);
    uint32_t neg = (uint32_t)-(int32_t)(x.u >> 31);     /* all ones when x < 0 */
    num.u = (e.u & neg) | (0x3f800000u & ~neg);         /* e^-|x| or 1 */
    return x.f * (num.f / (1.0f + e.f));
}

/* The gated SiLU's loop, on AVX2 where the machine has it (target_clones,
 * on a static function as kern_attn.c's: clang builds no clones of an
 * exported one); each element's value is the same either way (no sums
 * across elements, no contraction). */
#if defined(__x86_64__) && defined(__GNUC__)
#define ACT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ACT_CLONES
#endif
ACT_CLONES static void silu_run(const float *g, const float *u, float *h, u64 n)
{
    if (u) {
#pragma omp simd
        for (u64 i = 0; i < n; i++) h[i] = silu(g[i]) * u[i];   /* h may be u: read, then written */
    } else {
#pragma omp simd
        for (u64 i = 0; i < n; i++) h[i] = silu(g[i]);
    }
}

/* kern_pool's channels in chunks of KP_CH: the running maxima and sums
 * stay in registers and L1 while every row streams past. */
#define KP_CH 256
ACT_CLONES static void pool_run(const float *const *v, const float *const *g, const float *const *b, u64 n, u64 w, float *out)
{
    float mx[KP_CH], sum[KP_CH];
    for (u64 c0 = 0; c0 < w; c0 += KP_CH) {
        u64 nc = w - c0 < KP_CH ? w - c0 : KP_CH;
        float *o = out + c0;
        for (u64 k = 0; k < nc; k++) {
            mx[k] = -INFINITY;
            sum[k] = 0;
            o[k] = 0;
        }
        for (u64 j = 0; j < n; j++) {
            if (!v[j]) continue;
            const float *gj = g[j] + c0, *bj = b[j] + c0;
#pragma omp simd
            for (u64 k = 0; k < nc; k++) {
                float s = gj[k] + bj[k];
                mx[k] = s > mx[k] ? s : mx[k];
            }
        }
        for (u64 j = 0; j < n; j++) {
            if (!v[j]) continue;
            const float *gj = g[j] + c0, *bj = b[j] + c0, *vj = v[j] + c0;
#pragma omp simd
            for (u64 k = 0; k < nc; k++) {
                float p = kern_exp(gj[k] + bj[k] - mx[k]);
                sum[k] += p;
                o[k] += p * vj[k];
            }
        }
        for (u64 k = 0; k < nc; k++) o[k] /= sum[k];
    }
}

void kern_pool(const float *const *v, const float *const *g, const float *const *b, u64 n, u64 w, float *out)
{
    pool_run(v, g, b, n, w, out);
}

void kern_act(cost_t *c, const float *g, const float *u, float *h, u64 n, bool gelu)
{
    kern_count(c, FL_OTHER, DT_FP32, n * FLOPS_ACT);
    if (gelu) {
        for (u64 i = 0; i < n; i++) {
            float a = kern_gelu(g[i]);
            h[i] = u ? a * u[i] : a;
        }
        return;
    }
    silu_run(g, u, h, n);
}

void kern_act_naive(const float *g, const float *u, float *h, u64 n, bool gelu)
{
    for (u64 i = 0; i < n; i++) {
        double x = g[i], a = gelu ? 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) : x / (1 + exp(-x));
        h[i] = (float)(u ? a * u[i] : a);
    }
}

void kern_hadamard(cost_t *c, dtype dt, float *x, u64 n, float scale)
{
    u64 lg = 0;
    while ((1ull << lg) < n) lg++;
    kern_count(c, FL_INDEX, dt, n * lg + n);
    for (u64 h = 1; h < n; h *= 2)
        for (u64 i = 0; i < n; i += 2 * h)
            for (u64 j = i; j < i + h; j++) {
                float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
    for (u64 i = 0; i < n; i++) x[i] *= scale;
}

void kern_hadamard_naive(float *x, u64 n, float scale)
{
    float y[1024];   /* test sizes only */
    for (u64 i = 0; i < n && n <= 1024; i++) {
        double s = 0;
        /* H[i][j] = (-1)^popcount(i & j) */
        for (u64 j = 0; j < n; j++) s += (__builtin_popcountll(i & j) & 1) ? -x[j] : x[j];
        y[i] = (float)(s * scale);
    }
    for (u64 i = 0; i < n && n <= 1024; i++) x[i] = y[i];
}

void kern_act_quant(cost_t *c, float *x, u64 n, u64 blk, float *s)
{
    kern_count(c, FL_INDEX, DT_FP32, 2 * n + 2 * (n / blk));
    for (u64 b = 0; b < n / blk; b++) {
        float *xb = x + b * blk, amax = 0;
        for (u64 j = 0; j < blk; j++) amax = fmaxf(amax, fabsf(xb[j]));
        amax = fmaxf(amax, 1e-4f);
        /* fast_round_scale: 2^ceil(log2(amax / 448)) from the float's bits */
        float r = amax * (1.0f / 448.0f);
        int ex;
        float fr = frexpf(r, &ex);   /* r = fr 2^ex, fr in [0.5, 1) */
        float sc = ldexpf(1.0f, fr == 0.5f ? ex - 1 : ex);
        quant_round_pow2(DT_FP8_E4M3, xb, blk, sc);   /* clamp(x / sc, +-448) rounded, times sc */
        if (s) s[b] = sc;
    }
}

void kern_fp4_quant(cost_t *c, float *x, u64 n, u64 blk)
{
    kern_count(c, FL_INDEX, DT_FP32, 2 * n + 2 * (n / blk));
    for (u64 b = 0; b < n / blk; b++) {
        float *xb = x + b * blk, amax = 0;
        for (u64 j = 0; j < blk; j++) amax = fmaxf(amax, fabsf(xb[j]));
        amax = fmaxf(amax, 6.0f * 0x1p-126f);
        /* fast_round_scale(amax, 1/6): 2^ceil(log2(amax / 6)) */
        float r = amax * (1.0f / 6.0f);
        int ex;
        float fr = frexpf(r, &ex);   /* r = fr 2^ex, fr in [0.5, 1) */
        float sc = ldexpf(1.0f, fr == 0.5f ? ex - 1 : ex);
        quant_round_pow2(DT_FP4_E2M1, xb, blk, sc);   /* clamp(x / sc, +-6) rounded, times sc */
    }
}
