/* test_kern.c - the counted kernels (kern.c, kern_attn.c) against their
 * naive twins, and the storage codec (quant.c) against hand-derived codes.
 * Tolerances: the twins accumulate in double, the kernels in float;
 * |diff| <= 1e-5 + 1e-5|ref| covers float rounding at these sizes (K <= 300;
 * the attention kernels' own bound is stated above attn_query). The fast
 * paths must also give the same bits whatever the thread count, and the
 * row-wise prefill the same bits as the one-query kernel a decode step runs. */
#include "check.h"
#include "kern.h"
#include "quant.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int kern_threads_default = 1;

static unsigned long long rs = 88172645463325252ull;
static float frand(void)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static double maxrel(const float *a, const float *b, u64 n)
{
    double m = 0;
    for (u64 i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1e-5 + 1e-5 * fabs((double)b[i]));
        if (d > m) m = d;
    }
    return m;   /* <= 1 means within tol_abs + tol_rel |ref| */
}

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static void matmul(void)
{
    /* High-entropy shapes, with strides and both B layouts. */
    u64 M = 37, N = 29, K = 53, lda = 60, ldb = 61, ldc = 33;
    float *A = malloc(M * lda * 4), *B = malloc(61 * 61 * 4), *C = malloc(M * ldc * 4), *D = malloc(M * ldc * 4);
    for (u64 i = 0; i < M * lda; i++) A[i] = frand();
    for (u64 i = 0; i < 61 * 61; i++) B[i] = frand();
    for (int tb = 0; tb < 2; tb++)
        for (int acc = 0; acc < 2; acc++) {
            for (u64 i = 0; i < M * ldc; i++) C[i] = D[i] = frand();
            cost_t c = {0};
            kern_matmul(&c, FL_PROJ, DT_BF16, M, N, K, A, lda, B, ldb, C, ldc, tb, acc);
            kern_matmul_naive(M, N, K, A, lda, B, ldb, D, ldc, tb, acc);
            char nm[64];
            snprintf(nm, sizeof nm, "matmul-vs-naive-t%d-a%d", tb, acc);
            double worst = 0;
            for (u64 i = 0; i < M; i++) { double r = maxrel(C + i * ldc, D + i * ldc, N); if (r > worst) worst = r; }
            CHECK(nm, worst <= 1);
            snprintf(nm, sizeof nm, "matmul-count-t%d-a%d", tb, acc);
            CHECK_EQ(nm, c.flops[FL_PROJ], 2 * M * N * K);
            CHECK_EQ("matmul-fp8eq-bf16", c.flops_fp8eq_x2, 2 * M * N * K * 4);   /* bf16 weighs 2 (x2 = 4) */
        }
    free(A); free(B); free(C); free(D);
    /* Large enough to run as parallel blocks of 256 rows (M = 700, 19
     * MFLOP): still the naive product, and the same bits on one thread. */
    M = 700, N = 150, K = 90;
    A = malloc(M * K * 4), B = malloc(K * N * 4), C = malloc(M * N * 4), D = malloc(M * N * 4);
    float *E = malloc(M * N * 4);
    for (u64 i = 0; i < M * K; i++) A[i] = frand();
    for (u64 i = 0; i < K * N; i++) B[i] = frand();
    cost_t c = {0};
    kern_matmul(&c, FL_FFN, DT_FP32, M, N, K, A, K, B, N, C, N, false, false);
    kern_matmul_naive(M, N, K, A, K, B, N, D, N, false, false);
    CHECK("matmul-blocks-vs-naive", maxrel(C, D, M * N) <= 1);
    CHECK_EQ("matmul-blocks-count", c.flops[FL_FFN], 2 * M * N * K);
    set_threads(1);
    kern_matmul(&c, FL_FFN, DT_FP32, M, N, K, A, K, B, N, E, N, false, false);
    set_threads(kern_threads_default);
    CHECK("matmul-threads-same-bits", !memcmp(C, E, M * N * 4));
    free(A); free(B); free(C); free(D); free(E);
}

/* kern_pool (the V4 compressor's softmax pooling) against the formula in
 * double: 300 channels (one 256-channel chunk and a partial one), 8 rows of
 * which rows 2 and 5 are absent (the block before the first), values,
 * gates and biases spread over +-4. Then one row whose score is 100 above
 * every other's: e^-100 is below kern_exp's flush (-87.3), so the entry is
 * exactly that row's values (e^0 = 1 exactly). */
static void pool(void)
{
    enum { W = 300, N = 8 };
    static float vv[N][W], gg[N][W], bb[N][W], out[W], want[W];
    const float *v[N], *g[N], *b[N];
    for (int j = 0; j < N; j++) {
        for (int c = 0; c < W; c++) { vv[j][c] = 8 * frand() - 4; gg[j][c] = 8 * frand() - 4; bb[j][c] = frand(); }
        v[j] = j == 2 || j == 5 ? NULL : vv[j];
        g[j] = gg[j];
        b[j] = bb[j];
    }
    for (int c = 0; c < W; c++) {
        double mx = -INFINITY, s = 0, a = 0;
        for (int j = 0; j < N; j++)
            if (v[j] && gg[j][c] + bb[j][c] > mx) mx = gg[j][c] + bb[j][c];
        for (int j = 0; j < N; j++)
            if (v[j]) {
                double p = exp((double)gg[j][c] + bb[j][c] - mx);
                s += p;
                a += p * vv[j][c];
            }
        want[c] = (float)(a / s);
    }
    kern_pool(v, g, b, N, W, out);
    CHECK("pool-vs-formula", maxrel(out, want, W) <= 1);
    for (int c = 0; c < W; c++) gg[3][c] = 200;   /* row 3 wins every channel by over 100 */
    kern_pool(v, g, b, N, W, out);
    bool exact = true;
    for (int c = 0; c < W; c++) exact &= out[c] == vv[3][c];
    CHECK("pool-dominant-row-exact", exact);
}

static void elementwise(void)
{
    float x[97], y[97], z[97], w[97];
    for (int i = 0; i < 97; i++) { x[i] = 3 * frand(); w[i] = 1 + frand() / 4; }
    cost_t c = {0};
    kern_rmsnorm(&c, FL_OTHER, x, w, y, 97, 1e-6f);
    kern_rmsnorm_naive(x, w, z, 97, 1e-6f);
    CHECK("rmsnorm-vs-naive", maxrel(y, z, 97) <= 1);
    CHECK_EQ("rmsnorm-count", c.flops[FL_OTHER], 388);   /* 97 x 4 (square, sum, scale, weight) */
    for (int sink = 0; sink < 2; sink++) {
        memcpy(y, x, sizeof x);
        memcpy(z, x, sizeof x);
        cost_t s = {0};
        kern_softmax(&s, FL_OTHER, y, 97, 0.37f, sink ? 0.8f : -INFINITY);
        kern_softmax_naive(z, 97, 0.37f, sink ? 0.8f : -INFINITY);
        CHECK(sink ? "softmax-sink-vs-naive" : "softmax-vs-naive", maxrel(y, z, 97) <= 1);
        CHECK_EQ("softmax-count", s.flops[FL_OTHER], 485);   /* 97 x 5 (max, subtract, exp, sum, divide) */
        double sum = 0;
        for (int i = 0; i < 97; i++) sum += y[i];
        CHECK(sink ? "softmax-sink-sums-below-1" : "softmax-sums-to-1", sink ? sum < 1 - 1e-3 : fabs(sum - 1) < 1e-5);
    }
    /* Activations over a wide range (SiLU through kern_exp, both signs,
     * saturated tails), in place on the gate's partner as mlp_run calls it. */
    for (int ge = 0; ge < 2; ge++) {
        float g[97], uu[97], hv[97], hn[97];
        for (int i = 0; i < 97; i++) { g[i] = 12 * frand() * (i % 5 ? 1.0f : 9.0f); uu[i] = frand(); }
        kern_act_naive(g, uu, hn, 97, ge);
        memcpy(hv, uu, sizeof uu);
        cost_t a = {0};
        kern_act(&a, g, hv, hv, 97, ge);   /* h == u */
        CHECK(ge ? "act-gelu-vs-naive" : "act-silu-vs-naive", maxrel(hv, hn, 97) <= 1);
        CHECK_EQ("act-count", a.flops[FL_OTHER], 485);   /* 97 x 5 (silu/gelu 4, gate multiply 1) */
        kern_act_naive(g, NULL, hn, 97, ge);
        kern_act(&a, g, NULL, hv, 97, ge);
        CHECK(ge ? "act-gelu-ungated-vs-naive" : "act-silu-ungated-vs-naive", maxrel(hv, hn, 97) <= 1);
    }
    /* RoPE: a rotation keeps each pair's norm; rotating back restores x. */
    memcpy(y, x, sizeof x);
    cost_t r = {0};
    kern_rope(&r, NULL, y, 12, 1234, false);
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 6; i++) { n0 += x[i] * x[i] + x[i + 6] * x[i + 6]; n1 += y[i] * y[i] + y[i + 6] * y[i + 6]; }
    CHECK_CLOSE("rope-keeps-norm", n1, n0, 1e-4 * n0);
    CHECK("rope-leaves-unrotated", y[12] == x[12] && y[96] == x[96]);
    kern_rope(&r, NULL, y, 12, 1234, true);
    CHECK("rope-inverse", maxrel(y, x, 97) <= 10);
    CHECK_EQ("rope-count", r.flops[FL_OTHER], 72);   /* 2 calls x 12 rotated elements x 3 (a pair: 4 mul + 2 add) */
    /* Known values: x = (1, 2, 3, 4), 4 rotated dims at position 1, theta
     * 10^4 (NULL: the default, no scaling). Pairs (x0, x2) and (x1, x3) turn by pos x theta^(-2i/4): 1 rad
     * and 0.01 rad. x0' = cos 1 - 3 sin 1, x2' = sin 1 + 3 cos 1,
     * x1' = 2 cos .01 - 4 sin .01, x3' = 2 sin .01 + 4 cos .01 (cos 1 =
     * 0.540302306, sin 1 = 0.841470985, cos .01 = 0.999950000, sin .01 =
     * 0.009999833). Position 3 turns the first pair by 3 rad: x0' = cos 3 -
     * 3 sin 3 = -0.989992497 - 0.423360024 = -1.413352521. */
    float v[4] = {1, 2, 3, 4};
    kern_rope(&r, NULL, v, 4, 1, false);
    CHECK_CLOSE("rope-known-x0", v[0], -1.984110649, 1e-6);
    CHECK_CLOSE("rope-known-x1", v[1], 1.959900667, 1e-6);
    CHECK_CLOSE("rope-known-x2", v[2], 2.462377903, 1e-6);
    CHECK_CLOSE("rope-known-x3", v[3], 4.019799668, 1e-6);
    float u[4] = {1, 2, 3, 4};
    kern_rope(&r, NULL, u, 4, 3, false);
    CHECK_CLOSE("rope-known-pos3-x0", u[0], -1.413352521, 1e-6);

    /* Frequencies with the spec's scaling (issue 12.4), by hand:
     * Llama 3.1 (theta 500000, llama3 factor 8, low 1, high 4, original
     * 8192), rot 128: i = 0 has wavelength 2 pi < 8192/4: kept (1); i = 63,
     * f = 500000^(-126/128), wavelength 2.56e6 > 8192: f / 8; i = 32, f =
     * 500000^(-1/2) = 1/707.107, wavelength 4442.9 in [2048, 8192]: smooth s
     * = (8192 / 4442.9 - 1) / 3 = 0.28128, f ((1 - s) / 8 + s). */
    kern_rope_cfg l3 = {.cfg = {.theta = 500000, .scaling = ROPE_SCALE_LLAMA3, .factor = 8, .low_freq_factor = 1,
                                .high_freq_factor = 4, .original_max_position = 8192}};
    double inv[64];
    kern_rope_freqs(&l3, 128, inv);
    double f32 = pow(500000, -0.5), s32 = (8192 * f32 / (2 * 3.14159265358979323846) - 1) / 3;
    CHECK_CLOSE("rope-llama3-high-kept", inv[0], 1.0, 1e-15);
    CHECK_CLOSE("rope-llama3-low-divided", inv[63], pow(500000, -126.0 / 128) / 8, 1e-18);
    CHECK_CLOSE("rope-llama3-medium-smoothed", inv[32], f32 * ((1 - s32) / 8 + s32), 1e-15);
    CHECK_CLOSE("rope-llama3-medium-value", inv[32], 0.000524849, 1e-8);   /* 0.0014142 x 0.37112, hand-rounded */
    /* DeepSeek V3's YaRN (theta 10000, factor 40, original 4096, beta_fast
     * 32, beta_slow 1), rot 64: correction dims 64 ln(4096 / (b 2 pi)) /
     * (2 ln 10000) = 10.47 (b = 32) -> low 10 and 22.51 (b = 1) -> high 23;
     * i <= 10 kept, i >= 23 divided by 40, i = 16 ramp 6/13 blends. */
    kern_rope_cfg yn = {.cfg = {.theta = 10000, .scaling = ROPE_SCALE_YARN, .factor = 40, .original_max_position = 4096,
                                .beta_fast = 32, .beta_slow = 1}};
    kern_rope_freqs(&yn, 64, inv);
    CHECK_CLOSE("rope-yarn-kept", inv[10], pow(10000, -20.0 / 64), 1e-15);
    CHECK_CLOSE("rope-yarn-divided", inv[23], pow(10000, -46.0 / 64) / 40, 1e-17);
    CHECK_CLOSE("rope-yarn-ramp", inv[16], pow(10000, -32.0 / 64) * ((6.0 / 13) / 40 + 7.0 / 13), 1e-15);
    /* YaRN's attention factor (transformers _compute_yarn_parameters,
     * Laguna's full layers: 0.1 ln 32 + 1 = 1.34657): cos and sin times it,
     * so each rotated dim is amp x the plain rotation; no more FLOPs; the
     * inverse divides. */
    kern_rope_cfg ya = yn, y0 = yn;
    ya.amp = 0.1 * log(32.0) + 1.0;
    float ra[12], r0[12];
    memcpy(ra, x, sizeof ra);
    memcpy(r0, x, sizeof r0);
    cost_t ca = {0}, c0 = {0};
    kern_rope(&ca, &ya, ra, 12, 77, false);
    kern_rope(&c0, &y0, r0, 12, 77, false);
    bool amp_ok = true;
    for (int i = 0; i < 12; i++) amp_ok &= fabs(ra[i] - 1.3465735903 * r0[i]) <= 1e-5 * (1 + fabs(r0[i]));
    CHECK("rope-yarn-amp-scales", amp_ok);
    CHECK_EQ("rope-yarn-amp-same-flops", ca.flops[FL_OTHER], c0.flops[FL_OTHER]);
    kern_rope(&ca, &ya, ra, 12, 77, true);
    CHECK("rope-yarn-amp-inverse", maxrel(ra, x, 12) <= 10);
    /* Gemma 4's proportional layout: pairs (i, i + span/2) for i < rot/2,
     * f_i = theta^(-2i/span); dims past rot/2 in each half stay. */
    kern_rope_cfg pr = {.cfg = {.theta = 1e6, .factor = 1}, .span = 24};
    memcpy(y, x, sizeof x);
    kern_rope(&r, &pr, y, 6, 7, false);
    double a7 = 7 * pow(1e6, -2.0 * 2 / 24);   /* pair i = 2: (y[2], y[14]) */
    CHECK_CLOSE("rope-proportional-pair", y[2], x[2] * cos(a7) - x[14] * sin(a7), 1e-5);
    CHECK_CLOSE("rope-proportional-pair-2", y[14], x[2] * sin(a7) + x[14] * cos(a7), 1e-5);
    CHECK("rope-proportional-rest", y[3] == x[3] && y[15] == x[15] && y[8] == x[8]);
}

/* ---- attention kernels (kern_attn.c) against kern_attn_naive ---------------
 *
 * Tolerance: |fast - naive| <= 2e-5 + 2e-5 |naive| per output element. The
 * naive twin accumulates in double; the fast kernels sum dot products of
 * dq <= 23 terms in float (sgemm / sgemv: relative error <= dq u with u =
 * 6e-8, ~1.4e-6, on scores of magnitude <= ~6 here), use kern_exp (~1 ulp),
 * rescale running sums (one more rounding per key block) and sum up to ~700
 * weights in float: a few 1e-6 relative at worst. Outputs are convex
 * combinations of values in [-1, 1], so the absolute term dominates. */

#define ATOL 2e-5
#define RTOL 2e-5

static double worst_err(const float *got, const float *want, u64 n)
{
    double m = 0;
    for (u64 i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / (ATOL + RTOL * fabs((double)want[i]));
        if (d > m) m = d;
    }
    return m;
}

/* Rows stored as bf16 (a cache), decoded by the kernel as it streams. */
typedef struct { fmt f; u64 eb, w; uint8_t *data; } bf16_rows;

static void bf16_decode(const void *ctx, u64 slot, float *out)
{
    const bf16_rows *b = ctx;
    quant_decode(&b->f, b->data + slot * b->eb, b->w, out);
}


/* One query over several kinds of sources, for every grouping of 6 heads,
 * with and without a sink; chunks span sources (nk > one chunk). */
static void attn_query(void)
{
    enum { H = 6, DQ = 11, DV = 7, NK = 700, W = 40 };   /* W: floats per row (G <= 2: 2 (11 + 7) = 36) */
    float *X = malloc(NK * W * sizeof(float)), q[H * DQ], sink[H], o[H * DV], r[H * DV], o2[H * DV];
    for (u64 i = 0; i < NK * W; i++) X[i] = frand();
    for (u64 i = 0; i < H * DQ; i++) q[i] = 2 * frand();
    for (u64 i = 0; i < H; i++) sink[i] = frand();
    /* The same rows as bf16, and their rounded values as floats. */
    bf16_rows b;
    fmt_from_dtype(&b.f, DT_BF16);
    b.w = W;
    b.eb = 2 * W;
    b.data = malloc(NK * b.eb);
    for (u64 j = 0; j < NK; j++) {
        quant_encode(&b.f, X + j * W, W, b.data + j * b.eb);
        quant_roundtrip(&b.f, X + j * W, W);
    }
    u64 idx[300];
    for (u64 j = 0; j < 300; j++) idx[j] = (j * 7 + 3) % NK;   /* a gather, out of order, repeats allowed */
    for (u64 G = 1; G <= 2; G++)
        for (int sk = 0; sk < 2; sk++) {
            kern_attn a = {H, G, DQ, DV, 0, G * DQ, 0.37f, sk ? sink : NULL, DT_BF16};
            /* contiguous floats | gathered floats | decoded bf16 (ring 650: wraps) */
            kern_src src[3] = {
                {.x = X, .ld = W, .r0 = 5, .n = 260},
                {.x = X, .ld = W, .width = W, .idx = idx, .n = 300},
                {.decode = bf16_decode, .ctx = &b, .ring = 650, .width = W, .row_bytes = b.eb, .r0 = 600, .n = 100},
            };
            for (int ns = 1; ns <= 3; ns++) {
                cost_t c = {0};
                float *work = malloc(kern_attn_query_work(&a, src, ns) * sizeof(float));
                kern_attn_query(&c, &a, q, src, ns, o, work);
                kern_attn_naive(&a, q, src, ns, r);
                char nm[80];
                snprintf(nm, sizeof nm, "attn-query-G%llu%s-%dsrc-vs-naive", (unsigned long long)G, sk ? "-sink" : "", ns);
                CHECK(nm, worst_err(o, r, H * DV) <= 1);
                u64 rows = 0;
                for (int k = 0; k < ns; k++) rows += src[k].n;
                snprintf(nm, sizeof nm, "attn-query-count-attn-%dsrc", ns);
                CHECK_EQ(nm, c.flops[FL_ATTN], rows * H * 2 * (DQ + DV));
                CHECK_EQ("attn-query-count-softmax", c.flops[FL_OTHER], rows * H * 5);   /* 5 per score, as above */
                CHECK_EQ("attn-query-count-fp8eq-bf16", c.flops_fp8eq_x2, rows * H * 2 * (DQ + DV) * 4 + rows * H * 5 * 8);
                /* kern_attn_queries' per-query path computes each query as
                 * kern_attn_query does: the same bits. */
                cost_t c2 = {0};
                kern_src two[6];
                for (int k = 0; k < ns; k++) two[k] = two[ns + k] = src[k];
                float q2[2 * H * DQ], oo[2 * H * DV];
                memcpy(q2, q, sizeof q);
                memcpy(q2 + H * DQ, q, sizeof q);
                float *w2 = malloc(kern_attn_queries_work(&a, 2, two, ns) * sizeof(float));
                bool was = kern_attn_blocked(false);   /* float rows would take the blocked prefill (attn_gather) */
                kern_attn_queries(&c2, &a, 2, q2, H * DQ, two, ns, oo, H * DV, w2);
                kern_attn_blocked(was);
                snprintf(nm, sizeof nm, "attn-queries-eq-query-bits-%dsrc", ns);
                CHECK(nm, !memcmp(oo, o, sizeof o) && !memcmp(oo + H * DV, o, sizeof o));
                CHECK_EQ("attn-queries-count", c2.flops[FL_ATTN], 2 * c.flops[FL_ATTN]);
                /* The thread count changes nothing (fixed chunks, merged in order). */
                set_threads(1);
                kern_attn_query(&c2, &a, q, src, ns, o2, work);
                set_threads(kern_threads_default);
                snprintf(nm, sizeof nm, "attn-query-threads-same-bits-%dsrc", ns);
                CHECK(nm, !memcmp(o2, o, sizeof o));
                free(work);
                free(w2);
            }
        }
    free(X);
    free(b.data);
}

/* Prefill: n queries with causal / windowed / prefix ranges over one or two
 * sources, against the naive twin per query; row-wise mode against the
 * streaming kernel bit for bit; counts. */
static void attn_causal(void)
{
    enum { N = 157, H = 6, DQ = 13, DV = 9 };
    for (u64 G = 1; G <= H; G++) {
        if (H % G) continue;
        u64 ld = G * (DQ + DV) + 3, ldq = H * DQ + 2, ldo = H * DV + 1;
        float *X = malloc(N * ld * sizeof(float)), *E = malloc(N * ld * sizeof(float)), *q = malloc(N * ldq * sizeof(float));
        float *o = malloc(N * ldo * sizeof(float)), *r = malloc(H * DV * sizeof(float)), *o1 = malloc(H * DV * sizeof(float));
        float sink[H];
        for (u64 i = 0; i < N * ld; i++) { X[i] = frand(); E[i] = frand(); }
        for (u64 i = 0; i < N * ldq; i++) q[i] = 2 * frand();
        for (u64 i = 0; i < H; i++) sink[i] = frand();
        /* cases: causal; window 29; compressed prefix (t+1)/5 of E + window 29 of X (HCA) */
        for (int cs = 0; cs < 3; cs++) {
            int ns = cs == 2 ? 2 : 1;
            u64 lo[2 * N], hi[2 * N];
            for (u64 t = 0; t < N; t++) {
                u64 wl = cs ? (t + 1 > 29 ? t + 1 - 29 : 0) : 0;
                if (cs == 2) { lo[t] = 0; hi[t] = (t + 1) / 5; lo[N + t] = wl; hi[N + t] = t + 1; }
                else { lo[t] = wl; hi[t] = t + 1; }
            }
            kern_src src[2] = {{.x = cs == 2 ? E : X, .ld = ld}, {.x = X, .ld = ld}};
            for (int sk = 0; sk < 2; sk++) {
                kern_attn a = {H, G, DQ, DV, 0, G * DQ, 0.29f, sk ? sink : NULL, DT_FP8_E4M3};
                float *work = malloc(kern_attn_causal_work(&a, N, lo, hi, ns) * sizeof(float));
                u64 rows = 0;
                for (u64 k = 0; k < (u64)ns * N; k++) rows += hi[k] - lo[k];
                for (int rw = 0; rw < 2; rw++) {
                    bool was = kern_rowwise(rw);
                    cost_t c = {0};
                    kern_attn_causal(&c, &a, N, q, ldq, src, ns, lo, hi, o, ldo, work);
                    kern_rowwise(was);
                    double worst = 0;
                    int same = 1;
                    for (u64 t = 0; t < N; t++) {
                        kern_src qs[2];
                        for (int k = 0; k < ns; k++) { qs[k] = src[k]; qs[k].r0 = lo[k * N + t]; qs[k].n = hi[k * N + t] - lo[k * N + t]; }
                        kern_attn_naive(&a, q + t * ldq, qs, ns, r);
                        double w = worst_err(o + t * ldo, r, H * DV);
                        worst = w > worst ? w : worst;
                        if (rw) {
                            cost_t junk = {0};
                            float *wq = malloc(kern_attn_query_work(&a, qs, ns) * sizeof(float));
                            kern_attn_query(&junk, &a, q + t * ldq, qs, ns, o1, wq);
                            same &= !memcmp(o1, o + t * ldo, H * DV * sizeof(float));
                            free(wq);
                        }
                    }
                    char nm[96];
                    snprintf(nm, sizeof nm, "attn-causal-G%llu-case%d%s%s-vs-naive", (unsigned long long)G, cs, sk ? "-sink" : "",
                             rw ? "-rowwise" : "");
                    CHECK(nm, worst <= 1);
                    if (rw) {
                        snprintf(nm, sizeof nm, "attn-causal-rowwise-eq-query-bits-G%llu-case%d", (unsigned long long)G, cs);
                        CHECK(nm, same);
                    }
                    CHECK_EQ("attn-causal-count-attn", c.flops[FL_ATTN], rows * H * 2 * (DQ + DV));
                    CHECK_EQ("attn-causal-count-softmax", c.flops[FL_OTHER], rows * H * 5);
                    CHECK_EQ("attn-causal-count-fp8eq", c.flops_fp8eq_x2, rows * H * 2 * (DQ + DV) * 2 + rows * H * 5 * 8);
                }
                /* Tiles are fixed: the thread count changes nothing. */
                float *o2 = malloc(N * ldo * sizeof(float));
                cost_t c = {0};
                kern_attn_causal(&c, &a, N, q, ldq, src, ns, lo, hi, o, ldo, work);
                set_threads(1);
                kern_attn_causal(&c, &a, N, q, ldq, src, ns, lo, hi, o2, ldo, work);
                set_threads(kern_threads_default);
                int same = 1;
                for (u64 t = 0; t < N; t++) same &= !memcmp(o + t * ldo, o2 + t * ldo, H * DV * sizeof(float));
                CHECK("attn-causal-threads-same-bits", same);
                free(o2);
                free(work);
            }
        }
        free(X); free(E); free(q); free(o); free(r); free(o1);
    }
}

/* The blocked prefill of picked rows (kern_attn_gather.c, behind
 * kern_attn_queries): N queries, each with an ascending pick of rows of E
 * (a top-k list spanning three key blocks of 256) and a window of X (a
 * range), for every grouping of 8 heads (grp 8 and 4 run blocked, 2 and 1
 * the per-query path) and odd dims (dq 13: a tail after 8; dv 29: a strip
 * of 24, then single columns), with and without a sink, against the naive
 * twin per query. Also: the counts; the per-query path (kern_attn_blocked
 * off) gives kern_attn_query's bits; a query's bits do not depend on the
 * other queries of its call or the thread count; the pair statistics. */
static void attn_gather(void)
{
    enum { N = 41, H = 8, DQ = 13, DV = 29, NE = 700, NX = 300, KMAX = 230 };
    u64 ld = H * (DQ + DV) + 1, ldq = H * DQ + 3, ldo = H * DV + 2;
    float *E = malloc(NE * ld * sizeof(float)), *X = malloc(NX * ld * sizeof(float)), *q = malloc(N * ldq * sizeof(float));
    float *o = malloc(N * ldo * sizeof(float)), *o2 = malloc(N * ldo * sizeof(float)), *r = malloc(H * DV * sizeof(float));
    float sink[H];
    u64 *idx = malloc(N * KMAX * sizeof(u64));
    for (u64 i = 0; i < NE * ld; i++) E[i] = frand();
    for (u64 i = 0; i < NX * ld; i++) X[i] = frand();
    for (u64 i = 0; i < N * ldq; i++) q[i] = 2 * frand();
    for (u64 i = 0; i < H; i++) sink[i] = frand();
    kern_src src[2 * N];
    u64 pairs = 0;
    for (u64 t = 0; t < N; t++) {
        /* query t picks k = 5 t + 1 of the rows [0, 16 t + 30) of E, ascending
         * (selection sampling: row j with probability (k - m) / (span - j)) */
        u64 k = 5 * t + 1, span = 16 * t + 30, m = 0;
        for (u64 j = 0; j < span && m < k; j++)
            if ((double)(frand() + 1) / 2 * (double)(span - j) < (double)(k - m)) idx[t * KMAX + m++] = j;
        src[2 * t] = (kern_src){.x = E, .ld = ld, .width = ld, .idx = idx + t * KMAX, .n = m};
        u64 lo = 5 * t, w = t % 7 == 3 ? 0 : 29;   /* some windows empty */
        src[2 * t + 1] = (kern_src){.x = X, .ld = ld, .r0 = lo, .n = w};
        pairs += m + w;
    }
    for (u64 G = 1; G <= H; G++) {
        if (H % G) continue;
        for (int sk = 0; sk < 2; sk++) {
            kern_attn a = {H, G, DQ, DV, 0, G * DQ, 0.31f, sk ? sink : NULL, DT_BF16};
            float *work = malloc(kern_attn_queries_work(&a, N, src, 2) * sizeof(float));
            kern_attn_stats s0 = kern_attn_stats_get();
            cost_t c = {0};
            kern_attn_queries(&c, &a, N, q, ldq, src, 2, o, ldo, work);
            kern_attn_stats s1 = kern_attn_stats_get();
            double worst = 0;
            int same = 1;
            for (u64 t = 0; t < N; t++) {
                kern_attn_naive(&a, q + t * ldq, src + 2 * t, 2, r);
                double w = worst_err(o + t * ldo, r, H * DV);
                worst = w > worst ? w : worst;
            }
            char nm[96];
            snprintf(nm, sizeof nm, "attn-gather-G%llu%s-vs-naive", (unsigned long long)G, sk ? "-sink" : "");
            CHECK(nm, worst <= 1);
            CHECK_EQ("attn-gather-count-attn", c.flops[FL_ATTN], pairs * H * 2 * (DQ + DV));
            CHECK_EQ("attn-gather-count-softmax", c.flops[FL_OTHER], pairs * H * 5);
            bool blk = (H / G) % 4 == 0;
            CHECK_EQ("attn-gather-pairs", s1.gather_selected - s0.gather_selected, blk ? pairs : 0);
            /* a union tile per (block of queries, key block) holds at least the picked pairs */
            CHECK("attn-gather-union-ge-selected", s1.gather_union - s0.gather_union >= (blk ? pairs : 0));
            /* Query 37 alone with query 2 (another block, other neighbours), on one thread: the same bits. */
            kern_src two[4] = {src[4], src[5], src[74], src[75]};
            float qq[2 * H * DQ], oo[2 * H * DV];
            memcpy(qq, q + 2 * ldq, sizeof(float) * H * DQ);
            memcpy(qq + H * DQ, q + 37 * ldq, sizeof(float) * H * DQ);
            set_threads(1);
            float *w2 = malloc(kern_attn_queries_work(&a, 2, two, 2) * sizeof(float));
            kern_attn_queries(&c, &a, 2, qq, H * DQ, two, 2, oo, H * DV, w2);
            set_threads(kern_threads_default);
            same = !memcmp(oo, o + 2 * ldo, sizeof(float) * H * DV) && !memcmp(oo + H * DV, o + 37 * ldo, sizeof(float) * H * DV);
            snprintf(nm, sizeof nm, "attn-gather-G%llu-query-bits-own", (unsigned long long)G);
            CHECK(nm, same);
            /* The per-query path: kern_attn_query's bits. */
            bool was = kern_attn_blocked(false);
            kern_attn_queries(&c, &a, N, q, ldq, src, 2, o2, ldo, work);
            kern_attn_blocked(was);
            float *wq = malloc(kern_attn_query_work(&a, src + 2 * 19, 2) * sizeof(float));
            kern_attn_query(&c, &a, q + 19 * ldq, src + 2 * 19, 2, r, wq);
            snprintf(nm, sizeof nm, "attn-gather-off-eq-query-bits-G%llu", (unsigned long long)G);
            CHECK(nm, !memcmp(r, o2 + 19 * ldo, sizeof(float) * H * DV));
            free(wq);
            free(w2);
            free(work);
        }
    }
    free(E); free(X); free(q); free(o); free(o2); free(r); free(idx);
}

/* kern_exp against exp(): a few ulp over the softmax range, exact ends. */
static void exp_accuracy(void)
{
    double worst = 0;
    for (float x = -87.0f; x <= 0.0f; x += 0.00731f) {
        double e = exp((double)x), d = fabs((double)kern_exp(x) - e) / e;
        if (d > worst) worst = d;
    }
    printf("kern_exp: worst relative error %.3g on [-87, 0]\n", worst);
    CHECK("exp-rel-err-le-2e-7", worst <= 2e-7);   /* ~3 ulp of float (u = 6e-8) */
    CHECK("exp-0-is-1", kern_exp(0.0f) == 1.0f);
    CHECK("exp-flushes-below-87.3", kern_exp(-87.4f) == 0.0f && kern_exp(-1e30f) == 0.0f && kern_exp(-INFINITY) == 0.0f);
}

/* ---- codec -------------------------------------------------------------- */

static void codes(void)
{
    /* bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa wins (1). */
    CHECK("bf16-tie-to-even", quant_round(DT_BF16, 1.0f + 0x1p-8f) == 1.0f);
    CHECK("bf16-tie-to-even-up", quant_round(DT_BF16, 1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);
    /* The same ties through quant_encode's bf16 row path (its own rounding code):
     * 1 + 2^-8 -> 0x3f80 (1), 1 + 3 x 2^-8 -> 0x3f82 (1 + 2^-6), little-endian. */
    {
        fmt bf;
        fmt_from_dtype(&bf, DT_BF16);
        float tie[2] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f};
        uint8_t enc2[4] = {0};
        quant_encode(&bf, tie, 2, enc2);
        CHECK("bf16-row-ties-to-even", enc2[0] == 0x80 && enc2[1] == 0x3f && enc2[2] == 0x82 && enc2[3] == 0x3f);
    }
    CHECK("fp8-e4m3-saturates", quant_round(DT_FP8_E4M3, 1000.0f) == 448.0f && quant_round(DT_FP8_E4M3, -1e9f) == -448.0f);
    CHECK("fp8-e4m3-subnormal", quant_round(DT_FP8_E4M3, 0x1p-9f) == 0x1p-9f && quant_round(DT_FP8_E4M3, 0x1p-11f) == 0.0f);
    CHECK("fp8-e4m3-grid", quant_round(DT_FP8_E4M3, 17.0f) == 16.0f && quant_round(DT_FP8_E4M3, 19.0f) == 20.0f);
    CHECK("fp8-e5m2-max", quant_round(DT_FP8_E5M2, 1e6f) == 57344.0f);
    CHECK("fp16-max", quant_round(DT_FP16, 1e6f) == 65504.0f && quant_round(DT_FP16, 0x1p-24f) == 0x1p-24f);
    static const float e2m1[] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    int ok = 1;
    for (int i = 0; i < 8; i++) ok &= quant_round(DT_FP4_E2M1, e2m1[i]) == e2m1[i] && quant_round(DT_FP4_E2M1, -e2m1[i]) == -e2m1[i];
    CHECK("fp4-e2m1-grid", ok && quant_round(DT_FP4_E2M1, 5.0f) == 4.0f && quant_round(DT_FP4_E2M1, 7.0f) == 6.0f);
    CHECK("int8-round-clamp", quant_round(DT_INT8, 2.5f) == 2.0f && quant_round(DT_INT8, 300.0f) == 127.0f);
    CHECK("tf32-rounds", quant_round(DT_TF32, 1.0f + 0x1p-12f) == 1.0f);

    /* An fp8 entry with ue8m0 block scales: 4 elements, block 2, one pad byte.
     * Block 0 amax 3 -> scale 2^ceil(log2(3/448)) = 2^-7; block 1 all zero. */
    fmt f = {.n_parts = 1, .pad_bytes = 1};
    f.part[0] = (fmt_part){4, DT_FP8_E4M3, true, DT_UE8M0, 2};
    u64 eb;
    sim_err e;
    CHECK("codec-bytes", fmt_entry_bytes(&f, 4, &eb, &e) == SIM_OK && eb == 4 + 2 + 1);
    uint8_t buf[16];
    memset(buf, 0xee, sizeof buf);
    float x[4] = {3.0f, -1.0f, 0, 0}, y[4];
    quant_encode(&f, x, 4, buf);
    CHECK("codec-scale-ue8m0", buf[4] == 127 - 7);
    CHECK("codec-zero-block-scale-1", buf[5] == 127);
    CHECK("codec-pad-zero", buf[6] == 0 && buf[7] == 0xee);
    /* 3 / 2^-7 = 384 = 1.5 * 2^8: e4m3 code 0 1111 100 = 0x7c; -128 = 1 1110 000 = 0xf0. */
    CHECK("codec-e4m3-codes", buf[0] == 0x7c && buf[1] == 0xf0);
    quant_decode(&f, buf, 4, y);
    CHECK("codec-decode", y[0] == 3.0f && y[1] == -1.0f && y[2] == 0 && y[3] == 0);

    /* fp4 packs two codes per byte, element 0 in the low nibble. */
    fmt g;
    fmt_from_dtype(&g, DT_FP4_E2M1);
    float z[3] = {1.0f, -6.0f, 0.5f};
    uint8_t b2[2];
    quant_encode(&g, z, 3, b2);
    CHECK("codec-fp4-nibbles", b2[0] == (0x2 | 0xf << 4) && b2[1] == 0x1);
}

/* quant_encode's fast paths (bit arithmetic, vectorised) against the generic
 * routine (quant_encode_generic): the same bytes, and quant_roundtrip's
 * values the decoded generic bytes, bit for bit. Inputs: (1) every float
 * whose dropped mantissa bits (those below the dtype's mantissa) are one of
 * 0, 1, half - 1, half, half + 1, all ones - the ties and their neighbours
 * in every binade, both signs, unscaled (scale 1) and through a scale s0
 * that encode_scale picks exactly (a block whose largest element is
 * max * s0); (2) 2^17 random values, log-uniform over 2^-40 .. 2^20 per
 * block, with zeros, -0 and NaN blocks, in every scaled format. */
static u64 fe_state = 12345;
static u64 fe_rand(void)
{
    fe_state += 0x9e3779b97f4a7c15ull;
    u64 z = fe_state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int fe_same(const fmt *f, const float *x, u64 n)
{
    u64 eb = 0;
    sim_err e;
    if (fmt_entry_bytes(f, n, &eb, &e)) return 0;
    uint8_t *a = malloc(eb), *b = malloc(eb);
    float *ya = malloc(n * sizeof *ya), *yb = malloc(n * sizeof *yb);
    int ok = a && b && ya && yb;
    if (ok) {
        quant_encode(f, x, n, a);
        quant_encode_generic(f, x, n, b);
        memcpy(ya, x, n * sizeof *ya);
        quant_roundtrip(f, ya, n);
        quant_decode(f, b, n, yb);
        ok = !memcmp(a, b, eb) && !memcmp(ya, yb, n * sizeof *ya);
    }
    free(a); free(b); free(ya); free(yb);
    return ok;
}

static void fast_encoder(void)
{
    typedef struct { const char *name; dtype dt, sdt; u64 block; int drop; } fe_case;
    /* drop: the float mantissa bits below the dtype's (23 - mbits); ints: 23 - 7. */
    static const fe_case cs[] = {
        {"e4m3", DT_FP8_E4M3, DT_FP32, 0, 20},       {"e4m3-fp32-128", DT_FP8_E4M3, DT_FP32, 128, 20},
        {"e4m3-ue8m0-64", DT_FP8_E4M3, DT_UE8M0, 64, 20}, {"e5m2-fp32-128", DT_FP8_E5M2, DT_FP32, 128, 21},
        {"e5m2", DT_FP8_E5M2, DT_FP32, 0, 21},       {"fp4", DT_FP4_E2M1, DT_FP32, 0, 22},
        {"mxfp4", DT_FP4_E2M1, DT_UE8M0, 32, 22},    {"fp4-fp32-16", DT_FP4_E2M1, DT_FP32, 16, 22},
        {"fp16", DT_FP16, DT_FP32, 0, 13},           {"fp16-bf16-32", DT_FP16, DT_BF16, 32, 13},
        {"int8", DT_INT8, DT_FP32, 0, 16},           {"int8-fp32-128", DT_INT8, DT_FP32, 128, 16},
        {"int4-bf16-32", DT_INT4, DT_BF16, 32, 19},  {"int4", DT_INT4, DT_FP32, 0, 19},
        {"bf16", DT_BF16, DT_FP32, 0, 16},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        const fe_case *k = &cs[c];
        fmt f = {.n_parts = 1};
        f.part[0] = (fmt_part){0, k->dt, k->block > 0, k->sdt, k->block};
        double mx = quant_max(k->dt);
        char nm[64];
        /* (1) tie neighbours: all binades, all kept mantissas. Scaled formats:
         * blocks of B - 1 such values (times s0: exact for the ties, which
         * have at most 5 significant bits) and one element max * s0, so that
         * the block scale is s0 exactly. */
        u64 B = k->block ? k->block : 256, half = 1ull << (k->drop - 1), ones = (1ull << k->drop) - 1;
        const u64 lows[6] = {0, 1, half - 1, half, half + 1, ones};
        u64 nv = 2 * 254 * (1ull << (23 - k->drop)) * 6, n = (nv + B - 2) / (B - 1) * B;
        float *x = calloc(n, sizeof *x);
        float s0 = k->block ? (k->sdt == DT_FP32 ? 0x1.4p-3f : k->sdt == DT_BF16 ? 0x1.8p-5f : 0x1p-4f) : 1.0f;
        u64 i = 0;
        for (u64 sg = 0; sg < 2; sg++)
            for (u64 ex = 1; ex < 255; ex++)
                for (u64 hi = 0; hi < (1ull << (23 - k->drop)); hi++)
                    for (int l = 0; l < 6; l++) {
                        if (k->block && i % B == B - 1) x[i++] = (float)(mx * s0);
                        union { uint32_t u; float f; } v = {(uint32_t)(sg << 31 | ex << 23 | hi << k->drop | lows[l])};
                        /* In range of the block's scale: |v| <= max. */
                        x[i++] = k->block ? (fabsf(v.f) <= mx ? v.f * s0 : (float)(mx * s0) * (sg ? -1 : 1)) : v.f;
                    }
        while (i < n) x[i++] = (float)(mx * s0);
        snprintf(nm, sizeof nm, "fast-encode-eq-generic-ties-%s", k->name);
        CHECK(nm, fe_same(&f, x, n));
        free(x);
        /* (2) random values (scaled formats; the unscaled ones saw every binade). */
        if (!k->block) continue;
        n = 1 << 17;
        x = malloc(n * sizeof *x);
        for (u64 b0 = 0; b0 < n; b0 += B) {
            int kind = (int)(fe_rand() % 16);
            double mag = ldexp(1.0, (int)(fe_rand() % 61) - 40);
            for (u64 j = b0; j < b0 + B && j < n; j++) {
                u64 r = fe_rand();
                double u = (double)(r >> 11) * 0x1p-53;
                x[j] = (float)((r & 1 ? -1 : 1) * mag * ldexp(1.0, (int)(u * 24) - 12) * (1 + u));
                if (kind == 0) x[j] = 0;                        /* an all-zero block: scale 1 */
                if (kind == 1 && r % 7 == 0) x[j] = -0.0f;
                if (kind == 2 && r % 97 == 0) x[j] = NAN;       /* the generic path's block */
            }
        }
        snprintf(nm, sizeof nm, "fast-encode-eq-generic-random-%s", k->name);
        CHECK(nm, fe_same(&f, x, n));
        free(x);
    }
}

/* Every dtype and a V4-style multi-part format: the fused round trip equals
 * a real encode/decode bit for bit, and the encoder writes exactly the
 * entry's bytes. */
static void roundtrips(void)
{
    int ok_rt = 1, ok_len = 1;
    for (int dt = 0; dt < DT_COUNT; dt++) {
        if (dt == DT_UE8M0) continue;
        for (int scaled = 0; scaled < 2; scaled++) {
            fmt f;
            fmt_from_dtype(&f, (dtype)dt);
            u64 n = 37;
            if (scaled) {
                f.part[0] = (fmt_part){n, (dtype)dt, true, dt == DT_FP4_E2M1 ? DT_UE8M0 : DT_FP32, 8};
                if ((u64)dtype_table[dt].bits * n % 8) f.part[0].elements = n = 38;
            } else if ((u64)dtype_table[dt].bits * n % 8) {
                n = 38;
            }
            u64 eb;
            sim_err e;
            if (fmt_entry_bytes(&f, n, &eb, &e)) { ok_len = 0; continue; }
            float x[38], a[38], b[38];
            for (u64 i = 0; i < n; i++) x[i] = a[i] = 50 * frand() * frand();
            uint8_t buf[400];
            memset(buf, 0xa5, sizeof buf);
            quant_encode(&f, x, n, buf);
            quant_decode(&f, buf, n, b);
            quant_roundtrip(&f, a, n);
            ok_rt &= !memcmp(a, b, n * sizeof(float));
            ok_len &= buf[eb] == 0xa5;
        }
    }
    CHECK("roundtrip-equals-decode-encode", ok_rt);
    CHECK("encode-writes-entry-bytes", ok_len);
    fmt v4 = {.n_parts = 2, .pad_bytes = 1};
    v4.part[0] = (fmt_part){448, DT_FP8_E4M3, true, DT_UE8M0, 64};
    v4.part[1] = (fmt_part){64, DT_BF16, false, DT_FP32, 0};
    u64 eb;
    sim_err e;
    CHECK("v4-entry-584", fmt_entry_bytes(&v4, 512, &eb, &e) == SIM_OK && eb == 584);
    float x[512], y[512], a[512];
    for (int i = 0; i < 512; i++) x[i] = a[i] = frand();
    uint8_t buf[600];
    quant_encode(&v4, x, 512, buf);
    quant_decode(&v4, buf, 512, y);
    quant_roundtrip(&v4, a, 512);
    double err = 0;
    for (int i = 0; i < 512; i++) err = fmax(err, fabs(y[i] - x[i]));
    CHECK("v4-roundtrip-bits", !memcmp(a, y, sizeof y));
    CHECK("v4-fp8-error-small", err < 0.07);   /* e4m3: 3 mantissa bits, |x| < 1 */
    int rope_exact = 1;
    for (int i = 448; i < 512; i++) rope_exact &= y[i] == quant_round(DT_BF16, x[i]);
    CHECK("v4-rope-part-is-bf16", rope_exact);
    /* DeepSeek-V4-Flash inference/model.py Attention / Compressor: kv[..., :-rd]
     * goes through act_quant(64, scale_fmt ue8m0, inplace): the v4_kv cache
     * codec rounds the NoPE dims to the same values (kernels quantise the main
     * rows through the cache format), at every magnitude of block. */
    float b[512];
    int same = 1;
    for (int rep = 0; rep < 4; rep++) {
        for (int i = 0; i < 512; i++) a[i] = b[i] = frand() * (float)pow(10.0, rep - 2) * (i % 64 == 5 ? 7.0f : 1.0f);
        quant_roundtrip(&v4, a, 512);
        cost_t c = {0};
        kern_act_quant(&c, b, 448, 64, NULL);
        for (int i = 0; i < 448; i++) same &= a[i] == b[i];
    }
    CHECK("v4-kv-codec-is-act-quant-64", same);
    /* The indexer keys' index_fp4 (128 fp4_e2m1, ue8m0 per 32) = fp4_act_quant(32). */
    fmt i4 = {.n_parts = 1};
    i4.part[0] = (fmt_part){128, DT_FP4_E2M1, true, DT_UE8M0, 32};
    CHECK("index-fp4-entry-68", fmt_entry_bytes(&i4, 128, &eb, &e) == SIM_OK && eb == 68);
    same = 1;
    for (int rep = 0; rep < 4; rep++) {
        for (int i = 0; i < 128; i++) a[i] = b[i] = frand() * (float)pow(10.0, rep - 2);
        quant_roundtrip(&i4, a, 128);
        cost_t c = {0};
        kern_fp4_quant(&c, b, 128, 32);
        for (int i = 0; i < 128; i++) same &= a[i] == b[i];
    }
    CHECK("index-fp4-codec-is-fp4-act-quant-32", same);
}

/* The indexer's Hadamard rotation and act_quant (issue 12 item 3). */
static void indexer_ops(void)
{
    /* H_4 (1, 2, 3, 4) = (10, -2, -4, 0) by hand (rows ++++, +-+-, ++--, +--+), x 1/2 */
    float x[4] = {1, 2, 3, 4};
    cost_t c = {0};
    kern_hadamard(&c, DT_BF16, x, 4, 0.5f);
    CHECK("hadamard-4", x[0] == 5 && x[1] == -1 && x[2] == -2 && x[3] == 0);
    /* 4 log2 4 + 4 = 12 */
    CHECK_EQ("hadamard-4-flops", c.flops[FL_INDEX], 12);
    float y[64], z[64];
    for (int i = 0; i < 64; i++) y[i] = z[i] = (float)sin(0.37 * i + 0.1);
    kern_hadamard(&c, DT_BF16, y, 64, 0.125f);
    kern_hadamard_naive(z, 64, 0.125f);
    float md = 0;
    for (int i = 0; i < 64; i++) md = fmaxf(md, fabsf(y[i] - z[i]));
    CHECK("hadamard-64-vs-naive", md < 1e-5f);
    /* act_quant: amax 3 -> 3/448 = 0.0067 -> scale 2^-7 = 0.0078125; 3/s = 384
     * (an e4m3 code), 1/s = 128, 0.1/s = 12.8 -> 13 (e4m3 step 1 in [8, 16)
     * rounds 12.8 to 13), -0.01/s = -1.28 -> -1.25 (step 0.125 in [1, 2)) */
    float q[4] = {3, 1, 0.1f, -0.01f}, s = 0;
    cost_t c2 = {0};
    kern_act_quant(&c2, q, 4, 4, &s);
    CHECK("act-quant-scale", s == 0.0078125f);
    CHECK("act-quant-values", q[0] == 3 && q[1] == 1 && q[2] == 13 * 0.0078125f && q[3] == -1.25f * 0.0078125f);
    CHECK_EQ("act-quant-flops", c2.flops[FL_INDEX], 2 * 4 + 2);
    /* amax exactly 448 x 2^-3: the scale is that power of two, not the next */
    float r[2] = {56, 1}, s2 = 0;
    kern_act_quant(&c2, r, 2, 2, &s2);
    CHECK("act-quant-pow2-exact", s2 == 0.125f && r[0] == 56);
    /* fp4_act_quant (DeepSeek-V4 kernel.py fp4_quant_kernel): amax 5 -> 5/6 ->
     * scale 2^ceil(log2(0.833)) = 1; e2m1 values 0 .5 1 1.5 2 3 4 6 (ties to
     * even): 5 -> 4 (tie between 4 and 6: 4's mantissa is even), 2.5 -> 2,
     * 0.3 -> 0.5, -1.25 -> -1 (tie: 1.0 even). Block 2 of the second half:
     * amax 12 -> 12/6 = 2 -> scale 2 exactly (not 4): 12 -> 6 x 2, 1 -> 0.5 x 2. */
    float f4[6] = {5, 2.5f, 0.3f, -1.25f, 12, 1};
    cost_t c3 = {0};
    kern_fp4_quant(&c3, f4, 4, 4);
    kern_fp4_quant(&c3, f4 + 4, 2, 2);
    CHECK("fp4-quant-values", f4[0] == 4 && f4[1] == 2 && f4[2] == 0.5f && f4[3] == -1);
    CHECK("fp4-quant-pow2-exact", f4[4] == 12 && f4[5] == 1);
    /* 2 per element + 2 per block: (8 + 2) + (4 + 2) */
    CHECK_EQ("fp4-quant-flops", c3.flops[FL_INDEX], 16);
}

/* quant_round_pow2 (the act_quant blocks' rounding through the vectorised
 * encoder) against the scalar rule it replaced, element by element:
 * clamp(x / sc, +-max) rounded by quant_round, times sc; for fp8 e4m3,
 * e5m2 and fp4 e2m1, scales 2^-20 .. 2^20, on random values over many
 * binades, every code's value and the midpoints between neighbouring codes
 * (the ties), their neighbours one float away, +-0, subnormal codes and
 * values past the largest finite one. Bit for bit. */
static void round_pow2(void)
{
    static const dtype dts[3] = {DT_FP8_E4M3, DT_FP8_E5M2, DT_FP4_E2M1};
    enum { N = 4096 };
    static float x[N], y[N], want[N];
    int ok = 1;
    uint64_t st = 0x243f6a8885a308d3ull;
    for (int d = 0; d < 3; d++) {
        double mx = quant_max(dts[d]);
        for (int e2 = -20; e2 <= 20; e2 += 5) {
            float sc = ldexpf(1.0f, e2);
            int n = 0;
            /* the codes' values and midpoints (scaled), and their neighbours */
            for (int c = 0; c < 256 && n + 8 < N; c++) {
                uint8_t b = (uint8_t)c;
                fmt f;
                fmt_from_dtype(&f, dts[d]);
                if (dts[d] == DT_FP4_E2M1 && c > 15) break;
                float v;
                quant_decode(&f, &b, 1, &v);
                if (!isfinite(v)) continue;
                float vn;
                uint8_t b2 = (uint8_t)(c + 1);
                quant_decode(&f, &b2, 1, &vn);
                float mid = isfinite(vn) ? (v + vn) / 2 : v * 1.5f;
                float pts[4] = {v * sc, mid * sc, nextafterf(mid * sc, INFINITY), nextafterf(mid * sc, -INFINITY)};
                for (int k = 0; k < 4; k++) x[n++] = pts[k];
            }
            x[n++] = 0.0f;
            x[n++] = -0.0f;
            x[n++] = (float)(mx * 4) * sc;
            x[n++] = -(float)(mx * 1.01) * sc;
            while (n < N) {   /* random signs, mantissas and binades around the format's range */
                st ^= st << 13; st ^= st >> 7; st ^= st << 17;
                float m = 1.0f + (float)(st >> 40) * 0x1p-24f;
                int ex = (int)((st >> 8) % 40) - 24;
                x[n++] = ((st & 1) ? -1.0f : 1.0f) * ldexpf(m, ex) * sc;
            }
            for (int j = 0; j < N; j++) {
                float v = x[j] / sc;
                v = v > (float)mx ? (float)mx : v < -(float)mx ? -(float)mx : v;
                want[j] = quant_round(dts[d], v) * sc;
                y[j] = x[j];
            }
            quant_round_pow2(dts[d], y, N, sc);
            ok &= !memcmp(y, want, sizeof y);
        }
    }
    CHECK("round-pow2-eq-scalar", ok);
}

int main(void)
{
    kern_threads_default = kern_threads();
    matmul();
    round_pow2();
    elementwise();
    pool();
    attn_query();
    attn_causal();
    attn_gather();
    exp_accuracy();
    codes();
    fast_encoder();
    roundtrips();
    indexer_ops();
    return check_done("test_kern");
}
