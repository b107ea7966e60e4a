/* test_kern.c - the counted kernels (kern.c) against their naive twins, and
 * the storage codec (quant.c) against hand-derived codes. Tolerances: the
 * twins accumulate in double, the kernels in float; |diff| <= 1e-5 + 1e-5|ref|
 * covers float rounding at these sizes (K <= 300). */
#include "check.h"
#include "kern.h"
#include "quant.h"
#include <stdlib.h>
#include <stdint.h>

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
}

static void elementwise(void)
{
    float x[97], y[97], z[97], w[97];
    for (int i = 0; i < 97; i++) { x[i] = 3 * frand(); w[i] = 1 + frand() / 4; }
    cost_t c = {0};
    kern_rmsnorm(&c, FL_OTHER, x, w, y, 97);
    kern_rmsnorm_naive(x, w, z, 97);
    CHECK("rmsnorm-vs-naive", maxrel(y, z, 97) <= 1);
    CHECK_EQ("rmsnorm-count", c.flops[FL_OTHER], 97 * FLOPS_RMSNORM);
    for (int sink = 0; sink < 2; sink++) {
        memcpy(y, x, sizeof x);
        memcpy(z, x, sizeof x);
        cost_t s = {0};
        kern_softmax(&s, FL_OTHER, y, 97, 0.37f, sink ? 0.8f : -INFINITY);
        kern_softmax_naive(z, 97, 0.37f, sink ? 0.8f : -INFINITY);
        CHECK(sink ? "softmax-sink-vs-naive" : "softmax-vs-naive", maxrel(y, z, 97) <= 1);
        CHECK_EQ("softmax-count", s.flops[FL_OTHER], 97 * FLOPS_SOFTMAX);
        double sum = 0;
        for (int i = 0; i < 97; i++) sum += y[i];
        CHECK(sink ? "softmax-sink-sums-below-1" : "softmax-sums-to-1", sink ? sum < 1 - 1e-3 : fabs(sum - 1) < 1e-5);
    }
    /* RoPE: a rotation keeps each pair's norm; rotating back restores x. */
    memcpy(y, x, sizeof x);
    cost_t r = {0};
    kern_rope(&r, y, 12, 1234, false);
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 6; i++) { n0 += x[i] * x[i] + x[i + 6] * x[i + 6]; n1 += y[i] * y[i] + y[i + 6] * y[i + 6]; }
    CHECK_CLOSE("rope-keeps-norm", n1, n0, 1e-4 * n0);
    CHECK("rope-leaves-unrotated", y[12] == x[12] && y[96] == x[96]);
    kern_rope(&r, y, 12, 1234, true);
    CHECK("rope-inverse", maxrel(y, x, 97) <= 10);
    CHECK_EQ("rope-count", r.flops[FL_OTHER], 2 * 12 * FLOPS_ROPE);
}

/* GQA attention against one-head-at-a-time MHA; with kv_heads = q_heads it
 * is MHA. */
static void attend(void)
{
    u64 H = 6, dq = 11, dv = 7, nk = 23;
    for (u64 G = 1; G <= H; G++) {
        if (H % G) continue;
        u64 ldk = G * dq + 3, ldv = G * dv + 2;
        float q[6 * 11], K[23 * 80], V[23 * 80], o[6 * 7], r[6 * 7], sink[6], work[6 * 23];
        for (u64 i = 0; i < H * dq; i++) q[i] = frand();
        for (u64 i = 0; i < nk * 80; i++) { K[i] = frand(); V[i] = frand(); }
        for (u64 i = 0; i < H; i++) sink[i] = frand();
        for (int sk = 0; sk < 2; sk++) {
            cost_t c = {0};
            kern_attend(&c, DT_BF16, H, G, dq, dv, q, K, ldk, V, ldv, nk, 0.3f, sk ? sink : NULL, o, work);
            kern_attend_naive(H, G, dq, dv, q, K, ldk, V, ldv, nk, 0.3f, sk ? sink : NULL, r);
            char nm[64];
            snprintf(nm, sizeof nm, "attend-G%llu%s-vs-mha-naive", (unsigned long long)G, sk ? "-sink" : "");
            CHECK(nm, maxrel(o, r, H * dv) <= 1);
            CHECK_EQ("attend-count-attn", c.flops[FL_ATTN], nk * H * 2 * (dq + dv));
            CHECK_EQ("attend-count-softmax", c.flops[FL_OTHER], nk * H * FLOPS_SOFTMAX);
        }
    }
}

/* ---- codec -------------------------------------------------------------- */

static void codes(void)
{
    /* bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa wins (1). */
    CHECK("bf16-tie-to-even", quant_round(DT_BF16, 1.0f + 0x1p-8f) == 1.0f);
    CHECK("bf16-tie-to-even-up", quant_round(DT_BF16, 1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);
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
}

int main(void)
{
    matmul();
    elementwise();
    attend();
    codes();
    roundtrips();
    return check_done("test_kern");
}
