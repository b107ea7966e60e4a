/* test_wq.c - weights in their storage formats (kern_wq.h): per format, the
 * bytes held, the decoded values against quant_decode of the same bytes,
 * and the dequantising products against fp32 products on the decoded
 * matrix (the naive twins). */
#include "check.h"
#include "kern.h"
#include "kern_wq.h"
#include "quant.h"
#include <stdlib.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static unsigned long long rs = 0x2545f4914f6cdd1dull;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static fmt one_part(const char *name, dtype dt, bool scaled, dtype sdt, u64 block)
{
    fmt f;
    memset(&f, 0, sizeof f);
    snprintf(f.name, sizeof f.name, "%s", name);
    f.n_parts = 1;
    f.part[0] = (fmt_part){.elements = scaled ? block : 0, .dt = dt, .scaled = scaled, .scale_dt = sdt, .block = block};
    return f;
}

/* Bitwise equality of n floats. */
static bool same_bits(const float *a, const float *b, u64 n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* max |a - b| / max(1, sum_k |x_k| |w_kj|) over j: the error of a sum of K
 * products in another order is below K ulp of that sum of magnitudes. */
static double rel_sum_err(const float *a, const float *b, const float *mag, u64 n)
{
    double m = 0;
    for (u64 j = 0; j < n; j++) {
        double e = fabs((double)a[j] - b[j]) / (mag[j] > 1 ? mag[j] : 1);
        m = e > m ? e : m;
    }
    return m;
}

typedef struct {
    const char *name;
    fmt f;
    u64 want_bytes;       /* bytes of the 45 x 1100 matrix below (hand-derived) */
} wcase;

/* kern_wq.h's dot form: lane k mod 32, the lanes l, l + 8, l + 16, l + 24
 * added as (a + b) + (c + d), then those 8 pairwise. */
static float lanes32(const float *s)
{
    float t[8];
    for (int l = 0; l < 8; l++) t[l] = (s[l] + s[l + 8]) + (s[l + 16] + s[l + 24]);
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

static void one_format(const wcase *c)
{
    enum { K = 45, N = 1100, M = 9 };   /* N > the 512-column chunk; K not a multiple of 4 */
    const u64 n = (u64)K * N;
    char nm[96];
    sim_err e;
    kern_wq w;
    float *x = malloc(n * sizeof *x), *wd = malloc(n * sizeof *wd), *ref = malloc(n * sizeof *ref);
    float *A = malloc((u64)M * K * sizeof *A), *y = malloc((u64)M * N * sizeof *y), *z = malloc((u64)M * N * sizeof *z);
    float *mag = malloc((u64)M * N * sizeof *mag);
    /* Weights with a spread of magnitudes (so scales and subnormal codes occur). */
    for (u64 i = 0; i < n; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : i % 5 == 0 ? 0.01f : 0.4f);
    for (u64 i = 0; i < (u64)M * K; i++) A[i] = frand();
    int rc = kern_wq_init(&w, &c->f, n, &e);
    snprintf(nm, sizeof nm, "wq-%s-init", c->name);
    CHECK(nm, rc == SIM_OK);
    if (rc) { printf("%s\n", e.msg); goto out; }
    kern_wq_encode(&w, x);
    /* Bytes: codes ceil(n bits / 8) + ceil(n / block) scales (hand values in the table). */
    snprintf(nm, sizeof nm, "wq-%s-bytes", c->name);
    CHECK_EQ(nm, w.bytes, c->want_bytes);
    /* Decoded values == quant_decode of the same bytes (the cache codec, an
     * independent code path), bit for bit. */
    kern_wq_decode(&w, 0, n, wd);
    quant_decode(&w.f, w.codes, n, ref);
    snprintf(nm, sizeof nm, "wq-%s-decode-eq-quant", c->name);
    CHECK(nm, same_bits(wd, ref, n));
    /* A range starting at an odd element (fp4 / int4: a high nibble first). */
    kern_wq_decode(&w, 1001, 333, ref);
    snprintf(nm, sizeof nm, "wq-%s-decode-range", c->name);
    CHECK(nm, same_bits(wd + 1001, ref, 333));

    /* Axpy form (sj = 1: the tensor read as B[K, N], rows contiguous), M =
     * 1, 2 (matrix-vector): each output the k-order float sum of x_k w_kj,
     * exactly; within order error of BLAS sgemv on the decoded matrix. */
    for (u64 i = 0; i < (u64)2 * N; i++) y[i] = 0.5f;
    cost_t ct = {0};
    kern_wq_matmul(&ct, FL_PROJ, DT_BF16, 2, N, K, A, K, &w, 0, N, 1, y, N, true, NULL);
    bool exact = true;
    for (u64 r = 0; r < 2; r++)
        for (u64 j = 0; j < N; j++) {
            float s = 0;
            double mg = 0;
            for (u64 k = 0; k < K; k++) { s = s + A[r * K + k] * wd[k * N + j]; mg += fabs(A[r * K + k] * wd[k * N + j]); }
            exact = exact && y[r * N + j] == 0.5f + s;
            mag[r * N + j] = (float)mg;
        }
    snprintf(nm, sizeof nm, "wq-%s-axpy-exact", c->name);
    CHECK(nm, exact);
    snprintf(nm, sizeof nm, "wq-%s-gemv-flops", c->name);
    CHECK_EQ(nm, ct.flops[FL_PROJ], 2ull * 2 * N * K);   /* 2 M N K */
    for (u64 i = 0; i < (u64)2 * N; i++) z[i] = 0.5f;
    kern_matmul(&ct, FL_PROJ, DT_BF16, 2, N, K, A, K, wd, N, z, N, false, true);
    snprintf(nm, sizeof nm, "wq-%s-axpy-vs-blas", c->name);
    /* Two orders of K = 45 products: apart by < 2 K ulp of the sum of magnitudes. */
    CHECK_CLOSE(nm, rel_sum_err(y, z, mag, 2 * N), 0.0, 90 * 0x1p-24);

    /* Dot form (sk = 1: a weight held [out, in]), over a slice as a routed
     * expert is: B[k, j] = element 3 + j * 50 + k (N' = 21 outputs, K' = 44):
     * 32 partial sums (lane k mod 32) combined as lanes32 does, exactly. */
    float yt[21];
    kern_wq_matmul(&ct, FL_PROJ, DT_BF16, 1, 21, 44, A, K, &w, 3, 1, 50, yt, 21, false, NULL);
    exact = true;
    for (u64 j = 0; j < 21; j++) {
        float s[32] = {0};
        for (u64 k = 0; k < 44; k++) s[k % 32] = s[k % 32] + A[k] * wd[3 + j * 50 + k];
        exact = exact && yt[j] == lanes32(s);
    }
    snprintf(nm, sizeof nm, "wq-%s-dot-exact", c->name);
    CHECK(nm, exact);
    /* Aligned runs (K' = 64, starts at 128 + 64 j: whole blocks of 32 / 64 /
     * 128 elements): the fused paths (no decode buffer; fp4 through AVX2
     * where the CPU has it) give the same bits. */
    exact = true;
    kern_wq_matmul(&ct, FL_PROJ, DT_BF16, 1, 21, 64, A, K, &w, 128, 1, 64, yt, 21, false, NULL);
    for (u64 j = 0; j < 21; j++) {
        float s[32] = {0};
        for (u64 k = 0; k < 64; k++) s[k % 32] = s[k % 32] + A[k] * wd[128 + j * 64 + k];
        exact = exact && yt[j] == lanes32(s);
    }
    snprintf(nm, sizeof nm, "wq-%s-dot-aligned-exact", c->name);
    CHECK(nm, exact);
    /* Runs starting 8, 16 and 24 past a block start (128 + o + 64 j, K' =
     * 60): blocks end inside a group of 32 lanes (every case of the AVX2
     * paths' edge loops) and K' is no multiple of 8 (a tail through
     * dec_codes): still the same bits. */
    exact = true;
    for (u64 o = 8; o < 32; o += 8) {
        kern_wq_matmul(&ct, FL_PROJ, DT_BF16, 1, 21, 60, A, K, &w, 128 + o, 1, 64, yt, 21, false, NULL);
        for (u64 j = 0; j < 21; j++) {
            float s[32] = {0};
            for (u64 k = 0; k < 60; k++) s[k % 32] = s[k % 32] + A[k] * wd[128 + o + j * 64 + k];
            exact = exact && yt[j] == lanes32(s);
        }
    }
    snprintf(nm, sizeof nm, "wq-%s-dot-offset-exact", c->name);
    CHECK(nm, exact);
    /* The whole tensor in the dot form: [N2 = 1100, K2 = 45] read as B =
     * W^T, against BLAS with transB on the decoded values. */
    kern_wq_matmul(&ct, FL_PROJ, DT_BF16, 2, N, K, A, K, &w, 0, 1, K, y, N, false, NULL);
    kern_matmul(&ct, FL_PROJ, DT_BF16, 2, N, K, A, K, wd, K, z, N, true, false);
    for (u64 r = 0; r < 2; r++)
        for (u64 j = 0; j < N; j++) {
            double mg = 0;
            for (u64 k = 0; k < K; k++) mg += fabs(A[r * K + k] * wd[j * K + k]);
            mag[r * N + j] = (float)mg;
        }
    snprintf(nm, sizeof nm, "wq-%s-dot-vs-blas", c->name);
    CHECK_CLOSE(nm, rel_sum_err(y, z, mag, 2 * N), 0.0, 90 * 0x1p-24);

    /* Prefill (M = 9): panels decoded into the workspace, then sgemm; the
     * same as sgemm on the decoded matrix up to the order of the sums. */
    u64 nw = kern_wq_work(M, N, K);
    float *work = malloc((nw ? nw : 1) * sizeof *work);
    for (int form = 0; form < 2; form++) {
        if (form == 0) {   /* axpy form */
            kern_wq_matmul(&ct, FL_PROJ, DT_BF16, M, N, K, A, K, &w, 0, N, 1, y, N, false, work);
            kern_matmul(&ct, FL_PROJ, DT_BF16, M, N, K, A, K, wd, N, z, N, false, false);
        } else {           /* dot form */
            kern_wq_matmul(&ct, FL_PROJ, DT_BF16, M, N, K, A, K, &w, 0, 1, K, y, N, false, work);
            kern_matmul(&ct, FL_PROJ, DT_BF16, M, N, K, A, K, wd, K, z, N, true, false);
        }
        for (u64 r = 0; r < M; r++)
            for (u64 j = 0; j < N; j++) {
                double mg = 0;
                for (u64 k = 0; k < K; k++) mg += fabs(A[r * K + k] * (form ? wd[j * K + k] : wd[k * N + j]));
                mag[r * N + j] = (float)mg;
            }
        snprintf(nm, sizeof nm, "wq-%s-panels-%s-vs-blas", c->name, form ? "dot" : "axpy");
        CHECK_CLOSE(nm, rel_sum_err(y, z, mag, (u64)M * N), 0.0, 90 * 0x1p-24);
    }
    /* An expert-like slice in the axpy form: rows 10 .. 40 of the [K, N]
     * tensor as B[30, 200] at column 333 (b0 = 10 N + 333, sk = N). */
    nw = kern_wq_work(M, 200, 30);
    float *w2 = realloc(work, (nw ? nw : 1) * sizeof *work);
    if (w2) work = w2;
    kern_wq_matmul(&ct, FL_PROJ, DT_BF16, M, 200, 30, A, K, &w, 10 * N + 333, N, 1, y, 200, false, work);
    kern_matmul(&ct, FL_PROJ, DT_BF16, M, 200, 30, A, K, wd + 10 * N + 333, N, z, 200, false, false);
    for (u64 r = 0; r < M; r++)
        for (u64 j = 0; j < 200; j++) {
            double mg = 0;
            for (u64 k = 0; k < 30; k++) mg += fabs(A[r * K + k] * wd[10 * N + 333 + k * N + j]);
            mag[r * 200 + j] = (float)mg;
        }
    snprintf(nm, sizeof nm, "wq-%s-slice-vs-blas", c->name);
    CHECK_CLOSE(nm, rel_sum_err(y, z, mag, (u64)M * 200), 0.0, 90 * 0x1p-24);
    free(work);
    kern_wq_free(&w);
out:
    free(x); free(wd); free(ref); free(A); free(y); free(z); free(mag);
}

int main(void)
{
#ifdef _OPENMP
    omp_set_num_threads(2);   /* the parallel paths, whatever the machine */
#endif
    /* 45 x 1100 = 49,500 elements. Bytes by hand: codes n bits / 8, then
     * ceil(n / block) scales:
     *   bf16 2 B: 99,000;  fp16: 99,000;  fp8 e5m2 unscaled 49,500;
     *   fp8 e4m3 + fp32 per 128: 49,500 + 387 x 4 = 51,048 (DeepSeek V3's
     *     fp8 with fp32 scales, 1-D blocks of 128);
     *   fp8 e4m3 + ue8m0 per 16,384 (V4's fp8_b128 rate): 49,500 + 4 = 49,504;
     *   mxfp4 (fp4 + ue8m0 per 32, OCP MX): 24,750 + 1,547 = 26,297;
     *   fp4 unscaled: 24,750;  int8 + fp32 per 64: 49,500 + 774 x 4 = 52,596;
     *   int4 + bf16 per 32: 24,750 + 1,547 x 2 = 27,844. */
    const wcase cases[] = {
        {"bf16", one_part("bf16", DT_BF16, false, DT_FP32, 0), 99000},
        {"fp16", one_part("fp16", DT_FP16, false, DT_FP32, 0), 99000},
        {"fp8e5m2", one_part("e5m2", DT_FP8_E5M2, false, DT_FP32, 0), 49500},
        {"fp8-fp32s128", one_part("f8s", DT_FP8_E4M3, true, DT_FP32, 128), 51048},
        {"fp8-ue8m0s16384", one_part("f8b", DT_FP8_E4M3, true, DT_UE8M0, 16384), 49504},
        {"mxfp4", one_part("mxfp4", DT_FP4_E2M1, true, DT_UE8M0, 32), 26297},
        {"fp4", one_part("fp4", DT_FP4_E2M1, false, DT_FP32, 0), 24750},
        {"int8-fp32s64", one_part("i8", DT_INT8, true, DT_FP32, 64), 52596},
        {"int4-bf16s32", one_part("i4", DT_INT4, true, DT_BF16, 32), 27844},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) one_format(&cases[i]);
    /* The held bytes are the model's price when the tensor holds whole
     * blocks: 64 x 96 mxfp4 = 6,144 elements, 6,144 x 17 / 32 = 3,264 B
     * (fmt_rate_bytes, what cost.c prices). */
    fmt mx = one_part("mxfp4", DT_FP4_E2M1, true, DT_UE8M0, 32);
    sim_err e;
    bool ovf = false;
    CHECK_EQ("wq-mxfp4-bytes-eq-rate", kern_wq_bytes(&mx, 64 * 96, &e), fmt_rate_bytes(&mx, 64 * 96, &ovf));
    CHECK_EQ("wq-mxfp4-bytes-hand", kern_wq_bytes(&mx, 64 * 96, &e), 3264);
    /* A format the kernels cannot hold weights in: two parts. */
    fmt two = mx;
    two.n_parts = 2;
    two.part[1] = (fmt_part){.elements = 32, .dt = DT_BF16};
    CHECK("wq-two-parts-rejected", kern_wq_bytes(&two, 64, &e) == 0 && strstr(e.msg, "one-part"));
    return check_done("test_wq");
}
