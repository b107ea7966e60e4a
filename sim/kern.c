/* kern.c - counted numeric kernels and their naive twins; see kern.h. */
#include "kern.h"
#include <cblas.h>
#include <math.h>
#include <assert.h>

void kern_count(cost_t *c, flop_cat cat, dtype dt, u64 n)
{
    c->flops[cat] += n;
    c->flops_fp8eq_x2 += n * dtype_table[dt].fp8eq_half;
}

static bool row_mode;

bool kern_rowwise(bool on)
{
    bool was = row_mode;
    row_mode = on;
    return was;
}

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
    for (u64 i = 0, step = row_mode ? 1 : M; i < M; i += step)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, (int)step, (int)N, (int)K,
                    1.0f, A + i * lda, (int)lda, B, (int)ldb, accumulate ? 1.0f : 0.0f, C + i * ldc, (int)ldc);
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
    for (u64 i = 0; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + KERN_NORM_EPS);
    for (u64 i = 0; i < n; i++) y[i] = x[i] * r * (w ? w[i] : 1.0f);
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

void kern_rope(cost_t *c, float *x, u64 rot, u64 pos, bool inverse)
{
    kern_count(c, FL_OTHER, DT_FP32, rot * FLOPS_ROPE);
    u64 half = rot / 2;
    for (u64 i = 0; i < half; i++) {
        double ang = (double)pos * pow(KERN_ROPE_THETA, -2.0 * (double)i / (double)rot);
        float cs = (float)cos(ang), sn = (float)(inverse ? -sin(ang) : sin(ang));
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

void kern_act(cost_t *c, const float *g, const float *u, float *h, u64 n, bool gelu)
{
    kern_count(c, FL_OTHER, DT_FP32, n * FLOPS_ACT);
    for (u64 i = 0; i < n; i++) {
        float a = gelu ? kern_gelu(g[i]) : g[i] * kern_sigmoid(g[i]);
        h[i] = u ? a * u[i] : a;
    }
}

void kern_attend(cost_t *c, dtype dt, u64 H, u64 G, u64 dq, u64 dv, const float *q,
                 const float *K, u64 ldk, const float *V, u64 ldv, u64 nk, float scale,
                 const float *sink, float *o, float *work)
{
    u64 grp = H / G;
    assert(grp * G == H);
    for (u64 g = 0; g < G; g++) {
        kern_matmul(c, FL_ATTN, dt, grp, nk, dq, q + g * grp * dq, dq, K + g * dq, ldk, work, nk, true, false);
        for (u64 r = 0; r < grp; r++)
            kern_softmax(c, FL_OTHER, work + r * nk, nk, scale, sink ? sink[g * grp + r] : -INFINITY);
        kern_matmul(c, FL_ATTN, dt, grp, dv, nk, work, nk, V + g * dv, ldv, o + g * grp * dv, dv, false, false);
    }
}

void kern_attend_naive(u64 H, u64 G, u64 dq, u64 dv, const float *q, const float *K, u64 ldk,
                       const float *V, u64 ldv, u64 nk, float scale, const float *sink, float *o)
{
    /* One head at a time, as in multi-head attention: head h reads kv head h / (H/G). */
    for (u64 h = 0; h < H; h++) {
        u64 g = h / (H / G);
        double mx = sink ? sink[h] : -INFINITY, s = 0;
        for (u64 j = 0; j < nk; j++) {
            double a = 0;
            for (u64 i = 0; i < dq; i++) a += (double)q[h * dq + i] * K[j * ldk + g * dq + i];
            mx = fmax(mx, a * scale);
        }
        if (sink) s = exp(sink[h] - mx);
        for (u64 i = 0; i < dv; i++) o[h * dv + i] = 0;
        for (u64 j = 0; j < nk; j++) {
            double a = 0;
            for (u64 i = 0; i < dq; i++) a += (double)q[h * dq + i] * K[j * ldk + g * dq + i];
            double p = exp(a * scale - mx);
            s += p;
            for (u64 i = 0; i < dv; i++) o[h * dv + i] += (float)(p * V[j * ldv + g * dv + i]);
        }
        for (u64 i = 0; i < dv; i++) o[h * dv + i] = (float)(o[h * dv + i] / s);
    }
}
