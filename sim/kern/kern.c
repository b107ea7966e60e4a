/* kern.c - counted numeric kernels and their naive twins; see kern.h. */
#include "kern.h"
#include "quant.h"
#include <cblas.h>
#include <math.h>
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

void kern_rmsnorm(cost_t *c, flop_cat cat, const float *x, const float *w, float *y, u64 n)
{
    kern_count(c, cat, DT_FP32, n * FLOPS_RMSNORM);
    float ss = 0;
    /* Vector lanes, then in order: the sum of squares is one reduction, left
     * scalar it costs a 4-cycle add per element (5% of a V4 prefill). */
#pragma omp simd reduction(+ : ss)
    for (u64 i = 0; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + KERN_NORM_EPS);
    if (w) {
#pragma omp simd
        for (u64 i = 0; i < n; i++) y[i] = x[i] * r * w[i];
    } else {
#pragma omp simd
        for (u64 i = 0; i < n; i++) y[i] = x[i] * r;
    }
}

void kern_rmsnorm_naive(const float *x, const float *w, float *y, u64 n)
{
    double ss = 0;
    for (u64 i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double r = 1.0 / sqrt(ss / (double)n + KERN_NORM_EPS);
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

/* The rotation of the last (rot, pos) asked for, per thread: a token's
 * query heads and key heads all rotate by the same angles, so they are
 * computed once per token (pow, cos and sin cost ~100 ns a pair, more than
 * the rotation itself). The values are those the formula gives: a cache. */
#define ROPE_CACHE 1024   /* pairs */
static _Thread_local struct {
    u64 rot, pos;
    bool valid;
    double inv[ROPE_CACHE];   /* theta^(-2i/rot) for this rot */
    u64 inv_rot;
    float cs[ROPE_CACHE], sn[ROPE_CACHE];
} rope_memo;

void kern_rope(cost_t *c, float *x, u64 rot, u64 pos, bool inverse)
{
    kern_count(c, FL_OTHER, DT_FP32, rot * FLOPS_ROPE);
    u64 half = rot / 2;
    if (half > ROPE_CACHE) {
        for (u64 i = 0; i < half; i++) {
            double ang = (double)pos * pow(KERN_ROPE_THETA, -2.0 * (double)i / (double)rot);
            float cs = (float)cos(ang), sn = (float)(inverse ? -sin(ang) : sin(ang));
            float a = x[i], b = x[i + half];
            x[i] = a * cs - b * sn;
            x[i + half] = a * sn + b * cs;
        }
        return;
    }
    if (rope_memo.inv_rot != rot) {
        for (u64 i = 0; i < half; i++) rope_memo.inv[i] = pow(KERN_ROPE_THETA, -2.0 * (double)i / (double)rot);
        rope_memo.inv_rot = rot;
        rope_memo.valid = false;
    }
    if (!rope_memo.valid || rope_memo.rot != rot || rope_memo.pos != pos) {
        for (u64 i = 0; i < half; i++) {
            double ang = (double)pos * rope_memo.inv[i];
            rope_memo.cs[i] = (float)cos(ang);
            rope_memo.sn[i] = (float)sin(ang);
        }
        rope_memo.rot = rot;
        rope_memo.pos = pos;
        rope_memo.valid = true;
    }
    for (u64 i = 0; i < half; i++) {
        float cs = rope_memo.cs[i], sn = inverse ? -rope_memo.sn[i] : rope_memo.sn[i];
        float a = x[i], b = x[i + half];
        x[i] = a * cs - b * sn;
        x[i + half] = a * sn + b * cs;
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
    if (u) {
#pragma omp simd
        for (u64 i = 0; i < n; i++) h[i] = silu(g[i]) * u[i];   /* h may be u: read, then written */
    } else {
#pragma omp simd
        for (u64 i = 0; i < n; i++) h[i] = silu(g[i]);
    }
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
        for (u64 j = 0; j < blk; j++) {
            float v = xb[j] / sc;
            v = v > 448.0f ? 448.0f : v < -448.0f ? -448.0f : v;
            xb[j] = quant_round(DT_FP8_E4M3, v) * sc;
        }
        if (s) s[b] = sc;
    }
}
