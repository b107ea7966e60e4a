/* test_tmodel.c - issue 14's time model: the curve fits recover known curves
 * from synthetic points, the calibration CSV parser refuses bad rows with
 * file:line:col, the per-operation time sum against a hand computation, the
 * operation list against cost_eval's totals, a profile's `curves:` read back,
 * and cost_eval's fast paths (rows_only, prepared weight formats) equal to
 * the plain ones. */
#include "check.h"
#include "util.h"
#include "calib.h"
#include "hw.h"
#include "ops.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Fit the curves of a calibration CSV text (name for messages): the
 * parse's error, else the fit's. */
/* The header and the two rows every calibration needs (one gemm, one
 * stream), for the tests of the optional curves. */
#define CSV_MIN                                  \
    "op,dtype,M,N,K,bytes,count,seconds\n"       \
    "gemm,bf16,1,100,100,,,3e-06\n"              \
    "stream,,,,,1000,,1e-06\n"

static int fit_csv(const char *csv, const char *name, tm_curves *c, sim_err *e)
{
    meas_set s = {0};
    int rc = calib_parse(&s, csv, name, e);
    if (!rc) rc = calib_fit(&s, c, e);
    meas_free(&s);
    return rc;
}

static void fits(void)
{
    sim_err e;
    /* rate(M) = 100 GFLOP/s x M / (M + 8): exact points, so the fit returns
     * the curve to rounding. */
    double M[] = {1, 2, 4, 8, 16, 64, 256}, rate[7];
    for (int i = 0; i < 7; i++) rate[i] = 100e9 * M[i] / (M[i] + 8);
    double rmax = 0, mh = 0, rms = 1;
    CHECK("fit-gemm-ok", fit_gemm(M, rate, 7, &rmax, &mh, &rms, &e) == SIM_OK);
    CHECK_CLOSE("fit-gemm-rate-max", rmax / 1e9, 100, 1e-6);
    CHECK_CLOSE("fit-gemm-m-half", mh, 8, 1e-6);
    CHECK_CLOSE("fit-gemm-residual", rms, 0, 1e-9);
    /* +-10% alternating noise: the fit stays near and reports a residual. */
    for (int i = 0; i < 7; i++) rate[i] *= i % 2 ? 1.1 : 0.9;
    CHECK("fit-gemm-noisy", fit_gemm(M, rate, 7, &rmax, &mh, &rms, &e) == SIM_OK && rms > 0.05 && rms < 0.2 &&
                            fabs(rmax / 100e9 - 1) < 0.2);
    /* Time that falls as M grows (rate growing as M^2) cannot be this curve. */
    double down[7];
    for (int i = 0; i < 7; i++) down[i] = 1e9 * M[i] * M[i];
    CHECK("fit-gemm-refused", fit_gemm(M, down, 7, &rmax, &mh, &rms, &e) == SIM_EINVAL && strstr(e.msg, "larger M"));
    CHECK("fit-gemm-one-m", fit_gemm(M, rate, 1, &rmax, &mh, &rms, &e) == SIM_EINVAL);
    /* t = 3 us + n / 2 GFLOP/s. */
    double n[] = {1e3, 1e4, 1e5, 1e6}, t[4];
    for (int i = 0; i < 4; i++) t[i] = 3e-6 + n[i] / 2e9;
    double r = 0, fixed = 0;
    CHECK("fit-affine-ok", fit_affine(n, t, 4, &r, &fixed, &rms, &e) == SIM_OK);
    CHECK_CLOSE("fit-affine-rate", r / 1e9, 2, 1e-9);
    CHECK_CLOSE("fit-affine-fixed-us", fixed * 1e6, 3, 1e-6);
    /* t = n / 5e8 exactly. */
    for (int i = 0; i < 4; i++) t[i] = n[i] / 5e8;
    CHECK("fit-prop-ok", fit_prop(n, t, 4, &r, &rms, &e) == SIM_OK);
    CHECK_CLOSE("fit-prop-rate", r / 1e8, 5, 1e-9);
}

/* A measurement file: exact gemm points of 40 GFLOP/s x M / (M + 4) against
 * a 512 x 256 weight, three working sets, element-wise t = 1 us + n / 1e9. */
static const char good_csv[] =
    "# a comment\n"
    "op,dtype,M,N,K,bytes,count,seconds\n"
    "gemm,fp32,1,512,256,,,3.2768e-05\n"     /* 2 x 1 x 512 x 256 = 262,144 / (40e9 x 1/5)  */
    "gemm,fp32,4,512,256,,,5.24288e-05\n"    /* 1,048,576 / (40e9 x 4/8)                     */
    "gemm,fp32,12,512,256,,,0.0001048576\n"  /* 3,145,728 / (40e9 x 12/16)                   */
    "stream,,,,,1000,,1e-06\n"               /* 1 GB/s at 1 kB                    */
    "stream,,,,,100000,,3.33333333333e-05\n" /* 3 GB/s at 100 kB                  */
    "stream,,,,,100000,,5e-05\r\n"           /* a slower repeat: the best counts  */
    "stream,,,,,10000000,,0.005\n"           /* 2 GB/s at 10 MB                   */
    "elementwise,,,,,,1000,2e-06\n"
    "elementwise,,,,,,1000000,0.001001\n"
    "parallel,,,,,,,4e-06\n"
    "memory,,,,,8000000000,,\n";

static void parser(void)
{
    sim_err e;
    meas_set s = {0};
    tm_curves c;
    CHECK("csv-good", calib_parse(&s, good_csv, "m.csv", &e) == SIM_OK && s.n == 10);
    CHECK_CLOSE("csv-memory", s.memory_bytes, 8e9, 0);
    CHECK("csv-fit", calib_fit(&s, &c, &e) == SIM_OK && c.present && c.gemm_has[DT_FP32]);
    CHECK_CLOSE("csv-gemm-rate-max", c.gemm_rate_max[DT_FP32] / 1e9, 40, 1e-6);
    CHECK_CLOSE("csv-gemm-m-half", c.gemm_m_half[DT_FP32], 4, 1e-6);
    CHECK_EQ("csv-stream-knots", c.n_bw, 3);
    CHECK_CLOSE("csv-stream-best", c.bw_bs[1] / 1e9, 3, 1e-9);
    /* Leave-one-out at 100 kB: halfway (in log) from 1 to 2 GB/s = 1.5, vs 3: -50%. */
    CHECK_CLOSE("csv-stream-loo", c.bw_rms, 0.5, 1e-9);
    CHECK_CLOSE("csv-elem-rate", c.elem_rate / 1e9, 1, 1e-9);
    CHECK_CLOSE("csv-elem-fixed-us", c.elem_fixed_s * 1e6, 1, 1e-6);
    CHECK_CLOSE("csv-parallel-us", c.fixed_s * 1e6, 4, 1e-9);
    meas_free(&s);
    /* Bad rows: each refused with file:line:col and what is wrong. */
    static const struct { const char *text, *where, *what; } bad[] = {
        {"op,dtype,M,N,K,bytes,count,seconds\ngemm,fp32,0,512,256,,,1e-5\n", "b.csv:2:11:", "needs M > 0"},
        {"op,dtype,M,N,K,bytes,count,seconds\ngemm,fp99,1,512,256,,,1e-5\n", "b.csv:2:6:", "compute dtype"},
        {"op,dtype,M,N,K,bytes,count,seconds\nstream,,,,,1000,,fast\n", "b.csv:2:18:", "expected a number"},
        {"op,dtype,M,N,K,bytes,count,seconds\n\nsgemm,fp32,1,1,1,,,1\n", "b.csv:3:1:", "unknown op"},
        {"op,dtype,M,N,K,bytes,count,seconds\nstream,,,,,1000,1\n", "b.csv:2:1:", "expected 8 fields"},
        {"op,dtype,M,N,K,bytes,count,seconds\nstream,,,,,-5,,1\n", "b.csv:2:12:", "expected a number >= 0"},
        {"op,dtype,M,N,K,bytes,count\n", "b.csv:1:1:", "expected 8 fields"},
        {"M,op,dtype,N,K,bytes,count,seconds\n", "b.csv:1:1:", "header"},
        {"# nothing\n", "b.csv:1:1:", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "csv-bad-%zu", i);
        meas_set b = {0};
        int rc = calib_parse(&b, bad[i].text, "b.csv", &e);
        CHECK(name, rc == SIM_EINVAL && strstr(e.msg, bad[i].where) && strstr(e.msg, bad[i].what));
        if (rc != SIM_EINVAL || !strstr(e.msg, bad[i].where)) printf("  got: %s\n", e.msg);
        meas_free(&b);
    }
    /* Rows that parse but cannot fit: no gemm rows. */
    CHECK("csv-no-gemm", calib_parse(&s, "op,dtype,M,N,K,bytes,count,seconds\nstream,,,,,1000,,1e-6\n", "n.csv", &e) == SIM_OK &&
                         calib_fit(&s, &c, &e) == SIM_EINVAL && strstr(e.msg, "no gemm rows"));
    meas_free(&s);
}

/* The hand example of tmodel.h's rule. Curves: fp32 gemm rate(M) = 1e9 M /
 * (M + 4); bandwidth 1 GB/s at 1 kB, 3 GB/s at 100 kB; element-wise 1e9
 * FLOP/s; 1 us per operation. Layer 0 counts 3 times:
 *   gemm bf16 (runs as fp32) M 4, 8000 FLOPs, 2000 B:
 *     compute 8000 / (1e9 x 4/8) = 16 us; memory 2000 B at
 *     1 + 2 x ln(2)/ln(100) = 1.30103 GB/s = 1.537 us -> 16 + 1 = 17 us
 *   elementwise 5000 FLOPs: 5 + 1 = 6 us
 *   traffic 200,000 B (past the last knot: 3 GB/s): 66.667 + 1 us
 * -> (17 + 6 + 67.667) x 3 = 272 us; a model-part op (layer -1) of 300,000 B
 * at 3 GB/s adds 100 + 1 us once: 373 us. */
static void op_sum(void)
{
    tm_curves c = {.present = true, .n_bw = 2, .elem_rate = 1e9, .fixed_s = 1e-6};
    c.gemm_has[DT_FP32] = true;
    c.gemm_rate_max[DT_FP32] = 1e9;
    c.gemm_m_half[DT_FP32] = 4;
    c.bw_ws[0] = 1000; c.bw_bs[0] = 1e9;
    c.bw_ws[1] = 1e5; c.bw_bs[1] = 3e9;
    cost_op op[] = {
        {.kind = OP_GEMM, .dt = DT_BF16, .layer = 0, .flops = 8000, .bytes = 2000, .M = 4, .NK = 1000},
        {.kind = OP_ELEM, .dt = DT_FP32, .layer = 0, .flops = 5000, .M = 4},
        {.kind = OP_TRAFFIC, .layer = 0, .bytes = 200000},
        {.kind = OP_WEIGHTS, .layer = -1, .bytes = 300000},
    };
    static cost_ops ops;
    ops.op = op;
    ops.n = 4;
    ops.uses[0] = 3;
    CHECK_CLOSE("tm-gemm-us", tm_op_time(&c, &op[0]) * 1e6, 17, 1e-9);
    CHECK_CLOSE("tm-bw-interp", tm_bandwidth(&c, 2000) / 1e9, 1 + 2 * log(2) / log(100), 1e-12);
    CHECK_CLOSE("tm-sum-us", tm_predict(&c, &ops, NULL, NULL) * 1e6, 373, 1e-6);
    /* Per row (tm_rows): layers 0, 1, 2 all repeat layer 0's operations;
     * layers 0 and 1 are type row 0, layer 2 is row 1, the model-part op is
     * row 2 (head). Per layer 90.667 us of which GEMM 16, element-wise 5,
     * traffic 66.667, fixed 3 x 1 us: row 0 = 2 layers = 181.333 us (GEMM 32,
     * fixed 6), row 1 = 90.667 us, head = 101 us (fixed 1), total 373 us in
     * 3 x 3 + 1 = 10 operations. */
    static cost_result r;
    r.n_layers = 3;
    r.n_types = 3;
    ops.op[3].row = 2;
    for (int i = 0; i < 3; i++) ops.root[i] = 0, ops.lrow[i] = i < 2 ? 0 : 1;
    tm_row ty[3], ly[3], tot;
    sim_err e;
    CHECK("tm-rows-ok", tm_rows(&c, &ops, &r, ty, ly, &tot, &e) == SIM_OK);
    CHECK_CLOSE("tm-rows-type0-us", ty[0].time_s * 1e6, 2 * (17 + 6 + 67 + 2.0 / 3), 1e-6);
    CHECK_CLOSE("tm-rows-type0-gemm-us", ty[0].kind_s[OP_GEMM] * 1e6, 32, 1e-6);
    CHECK_CLOSE("tm-rows-type0-fixed-us", ty[0].fixed_s * 1e6, 6, 1e-6);
    CHECK_CLOSE("tm-rows-type1-us", ty[1].time_s * 1e6, 17 + 6 + 67 + 2.0 / 3, 1e-6);
    CHECK_CLOSE("tm-rows-layer2-traffic-us", ly[2].kind_s[OP_TRAFFIC] * 1e6, 200.0 / 3, 1e-6);
    CHECK_CLOSE("tm-rows-head-us", ty[2].time_s * 1e6, 101, 1e-6);
    CHECK_CLOSE("tm-rows-total-us", tot.time_s * 1e6, 373, 1e-6);
    CHECK_EQ("tm-rows-total-ops", tot.ops, 10);
    c.gemm_has[DT_FP32] = false;
    CHECK("tm-missing-curve-nan", isnan(tm_op_time(&c, &op[0])));
}

/* The operation list sums to cost_eval's totals: every FLOP once, every
 * weight byte read once (experts' included), all cache and activation
 * traffic. */
static void op_list(void)
{
    model_spec m;
    sim_err e;
    if (spec_load(&m, "archs/deepseek-v4-flash.yaml", NULL, 0, &e)) { CHECK("ops-spec", 0); return; }
    for (int ph = 0; ph < 2; ph++) {
        cost_query q = {.T = 4096, .B = 2, .phase = ph ? PH_DECODE : PH_PREFILL};
        cost_result r;
        cost_ops ops = {0};
        if (cost_eval_ops(&m, &q, &r, &ops, &e)) { CHECK("ops-eval", 0); continue; }
        u64 fl = 0, wb = 0, tb = 0, lt = 0;
        int gemms = 0;
        for (int i = 0; i < ops.n; i++) {
            const cost_op *o = &ops.op[i];
            u64 k = o->layer >= 0 ? (u64)ops.uses[o->layer] : 1;
            fl += o->flops * k;
            if (o->kind == OP_GEMM || o->kind == OP_WEIGHTS) wb += o->bytes * k;
            if (o->kind == OP_TRAFFIC || o->kind == OP_FLOPS) tb += o->bytes * k;   /* OP_FLOPS: attention's cache read */
            gemms += o->kind == OP_GEMM;
        }
        lt = r.total.kv_read_bytes + r.total.kv_written_bytes + r.total.act_bytes;
        CHECK_EQ(ph ? "ops-flops-decode" : "ops-flops-prefill", fl, cost_flops(&r.total));
        CHECK_EQ(ph ? "ops-weights-decode" : "ops-weights-prefill", wb, r.total.weight_read_bytes);
        CHECK_EQ(ph ? "ops-traffic-decode" : "ops-traffic-prefill", tb, lt);
        CHECK(ph ? "ops-has-gemms-decode" : "ops-has-gemms-prefill", gemms > 0);
        /* Off: the same result without a list. */
        cost_result r2;
        CHECK("ops-off-same", cost_eval(&m, &q, &r2, &e) == SIM_OK && !memcmp(&r2.total, &r.total, sizeof r.total));
        cost_result_free(&r2);
        cost_ops_free(&ops);
        cost_result_free(&r);
    }
    spec_free(&m);
}

/* The operation list's shapes on tiny-gqa (archs/tiny/gqa.yaml): attention
 * scores are a product of M = query heads per K/V head (sliding 6/2 = 3, full
 * 4/2 = 2, keqv 3/1 = 3; the spec's kinds) rows per token in decode and
 * T x that in prefill, and carry the layer's cache read (decode); each
 * recorded layer's linear weights are one GEMM per product the kernels run
 * (gqa.c, ffn_dense.c name their shapes): q and o, k and v (one when K = V,
 * none in a layer sharing its cache), full's gate, and the FFN's gate, up
 * and down: sliding 4 + 3 = 7, full 5 + 3 = 8, keqv 3 + 3 = 6 (fewer by the
 * k/v products in the two shared layers), so no linear weight is read
 * without its product. */
static void op_shapes(void)
{
    model_spec m;
    sim_err e;
    if (spec_load(&m, "archs/tiny/gqa.yaml", NULL, 0, &e)) { CHECK("shapes-spec", 0); return; }
    for (int ph = 0; ph < 2; ph++) {
        cost_query q = {.T = 37, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL};
        cost_result r;
        cost_ops ops = {0};
        if (cost_eval_ops(&m, &q, &r, &ops, &e)) { CHECK("shapes-eval", 0); continue; }
        bool m_ok = true, bytes_ok = true, lin_ok = true;
        int gemms[SPEC_MAX_LAYERS] = {0}, attn = 0;
        for (int i = 0; i < ops.n; i++) {
            const cost_op *o = &ops.op[i];
            if (o->layer < 0) continue;
            const attn_cfg *a = &m.layer[o->layer].attn;
            if (o->kind == OP_FLOPS && o->cat == FL_ATTN) {
                attn++;
                u64 g = a->q_heads / a->kv_heads;
                m_ok &= o->M == (ph ? g : 37 * g);
                bytes_ok &= o->bytes == r.layer[o->layer].kv_read_bytes;
            }
            if (o->kind == OP_GEMM) gemms[o->layer]++;
            if (o->kind == OP_WEIGHTS && o->wc == WC_LINEAR) lin_ok = false;
        }
        bool two = true;
        for (int i = 0; i < r.n_layers; i++) {
            const attn_cfg *a = &m.layer[i].attn;
            int want = 2 + (m.layer[i].shared_kv ? 0 : a->k_eq_v ? 1 : 2) + (a->out_gate ? 1 : 0) + (m.layer[i].ffn.gated ? 3 : 2);
            if (ops.root[i] == i) two &= gemms[i] == want;
        }
        CHECK(ph ? "shapes-attn-m-decode" : "shapes-attn-m-prefill", attn > 0 && m_ok);
        CHECK(ph ? "shapes-attn-bytes-decode" : "shapes-attn-bytes-prefill", bytes_ok);
        CHECK(ph ? "shapes-gemm-per-product-decode" : "shapes-gemm-per-product-prefill", two && lin_ok);
        cost_ops_free(&ops);
        cost_result_free(&r);
    }
    spec_free(&m);
}

/* Vector work on tiny-v4 (archs/tiny/v4.yaml: mHC with 3 streams, CSA/HCA
 * compressors, an indexer): its fp32 FLOPs of mHC (Sinkhorn, mixing),
 * compression (softmax pooling) and the indexer are element-wise
 * operations, and so is the indexers' bf16 Hadamard rotation (a butterfly,
 * cc_flops_vec); every other FLOP in a compute dtype (fp8 linear, bf16
 * attention, fp4 indexer, tf32 mHC projection) is a product: GEMM or
 * FLOPS, never element-wise. The Hadamard's FLOPs at T = 41: its 3 csa
 * layers rotate the 3 heads' queries of 41 tokens and the 41 / 4 = 10
 * formed keys, 16 log2 16 + 16 = 80 each: 3 x (41 x 3 + 10) x 80 = 31,920
 * (csa.c). */
static void op_vector(void)
{
    model_spec m;
    sim_err e;
    if (spec_load(&m, "archs/tiny/v4.yaml", NULL, 0, &e)) { CHECK("vector-spec", 0); return; }
    cost_query q = {.T = 41, .B = 1, .phase = PH_PREFILL};
    cost_result r;
    cost_ops ops = {0};
    if (cost_eval_ops(&m, &q, &r, &ops, &e)) { CHECK("vector-eval", 0); spec_free(&m); return; }
    int vec[FL_COUNT] = {0};
    u64 had = 0;
    bool ok = true;
    for (int i = 0; i < ops.n; i++) {
        const cost_op *o = &ops.op[i];
        if (o->kind != OP_ELEM && o->kind != OP_FLOPS && o->kind != OP_GEMM) continue;
        bool bf16_elem = o->dt == DT_BF16 && o->cat == FL_INDEX && o->kind == OP_ELEM;
        bool want_elem = (o->dt == DT_FP32 && o->kind != OP_GEMM && o->cat != FL_ATTN) || bf16_elem;
        ok &= (o->kind == OP_ELEM) == want_elem;
        if (o->kind == OP_ELEM) vec[o->cat]++;
        if (bf16_elem) had += o->flops * ops.uses[o->layer];
    }
    CHECK("vector-kinds", ok);
    CHECK_EQ("vector-hadamard-flops", had, 31920);
    CHECK("vector-mhc", vec[FL_MHC] > 0);
    CHECK("vector-compress", vec[FL_COMPRESS] > 0);
    cost_ops_free(&ops);
    cost_result_free(&r);
    spec_free(&m);
}

/* rows_only leaves the rows and totals as they were; the prepared weight
 * formats give fmt_rate_bytes' bytes for every shipped weight format. */
static void fast_paths(void)
{
    static const char *const specs[] = {"archs/deepseek-v4-pro.yaml", "archs/gemma4-e2b.yaml", "archs/llama-3-8b.yaml",
                                        "archs/deepseek-v3.2.yaml"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        model_spec m;
        sim_err e;
        if (spec_load(&m, specs[s], NULL, 0, &e)) { CHECK("fast-spec", 0); continue; }
        bool same = true, bytes = true;
        for (int ph = 0; ph < 2; ph++) {
            cost_query q = {.T = 1 << 20, .B = 3, .phase = ph ? PH_DECODE : PH_PREFILL}, q2 = q;
            q2.rows_only = true;
            cost_result a, b;
            if (cost_eval(&m, &q, &a, &e) || cost_eval(&m, &q2, &b, &e)) { same = false; continue; }
            same &= a.n_types == b.n_types && b.n_layers == 0 && !memcmp(&a.total, &b.total, sizeof a.total);
            for (int k = 0; k < a.n_types && same; k++) same &= !memcmp(&a.type[k], &b.type[k], sizeof a.type[k]);
            cost_result_free(&a);
            cost_result_free(&b);
        }
        for (int wc = 0; wc < WC_COUNT; wc++) {
            cost_wrate w;
            if (cost_wrate_prep(&w, &m.weight[wc])) { bytes = false; continue; }
            static const u64 ns[] = {1, 7, 31, 32, 33, 127, 128, 129, 4095, 7168ull * 2048, 1ull << 40, 3ull << 60};
            for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
                bool o1 = false, o2 = false;
                bytes &= cost_wrate_bytes(&w, ns[i], &o1) == fmt_rate_bytes(&m.weight[wc], ns[i], &o2) && o1 == o2;
            }
        }
        char name[96];
        snprintf(name, sizeof name, "fast-rows-only-%s", specs[s] + 6);
        CHECK(name, same);
        snprintf(name, sizeof name, "fast-wrate-%s", specs[s] + 6);
        CHECK(name, bytes);
        spec_free(&m);
    }
    /* Block-scaled and fixed formats, off the power-of-two path too. */
    fmt f = {.name = "odd", .n_parts = 1};
    f.part[0] = (fmt_part){.dt = DT_FP8_E4M3, .scaled = true, .scale_dt = DT_FP32, .block = 96};
    fmt g = {.name = "fixed", .n_parts = 2, .pad_bytes = 1};
    g.part[0] = (fmt_part){.elements = 448, .dt = DT_FP8_E4M3, .scaled = true, .scale_dt = DT_UE8M0, .block = 64};
    g.part[1] = (fmt_part){.elements = 64, .dt = DT_BF16};
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        cost_wrate w;
        const fmt *h = k ? &g : &f;
        ok &= cost_wrate_prep(&w, h) == SIM_OK;
        for (u64 n = 1; n < 3000; n += 37) {
            bool o1 = false, o2 = false;
            ok &= cost_wrate_bytes(&w, n, &o1) == fmt_rate_bytes(h, n, &o2);
        }
    }
    CHECK("fast-wrate-odd-formats", ok);
}

/* A profile's curves: read back as tm_write_yaml wrote them; bad ones refused. */
static void profile(void)
{
    sim_err e;
    tm_curves c = {.present = true, .n_bw = 2, .elem_rate = 2e9, .exp_rate = 3e8, .gather_s_per_row = 5e-8, .fixed_s = 2e-6};
    c.gemm_has[DT_FP32] = c.gemm_has[DT_BF16] = true;
    c.gemm_rate_max[DT_FP32] = 5e10; c.gemm_m_half[DT_FP32] = 6;
    c.gemm_rate_max[DT_BF16] = 1e11; c.gemm_m_half[DT_BF16] = 2;
    c.bw_ws[0] = 16384; c.bw_bs[0] = 4e10;
    c.bw_ws[1] = 1e9; c.bw_bs[1] = 8e9;
    const char *path = "/tmp/kvsim-test-tmodel.yaml";
    CHECK("profile-write", calib_write_profile(&c, "t", 4e9, "test", path, &e) == SIM_OK);
    hw_profile h;
    CHECK("profile-load", hw_load(&h, path, &e) == SIM_OK && h.curves.present);
    CHECK_CLOSE("profile-gemm-bf16", h.curves.gemm_rate_max[DT_BF16], 1e11, 1e3);
    CHECK_CLOSE("profile-gemm-fp32-half", h.curves.gemm_m_half[DT_FP32], 6, 1e-9);
    CHECK_CLOSE("profile-bw", h.curves.bw_bs[1], 8e9, 1e3);
    CHECK_CLOSE("profile-fixed", h.curves.fixed_s, 2e-6, 1e-15);
    CHECK_CLOSE("profile-peak", hw_peak(&h, DT_BF16), 1e11, 1e3);
    CHECK_CLOSE("profile-roofline-bw", h.bandwidth, 8e9, 1e3);
    FILE *f = fopen(path, "w");
    fputs("name: x\nmemory_gb: 1\nbandwidth_gbs: 1\npeak_tflops: {fp32: 1}\ncurves:\n  gemm: {fp32: {rate_max_gflops: 1, m_half: 1}}\n"
          "  bandwidth: {ws_bytes: [100, 50], gbs: [1, 2]}\n", f);
    fclose(f);
    CHECK("profile-bad-ws", hw_load(&h, path, &e) == SIM_EINVAL && strstr(e.msg, ":7:") && strstr(e.msg, "must increase"));
    f = fopen(path, "w");
    fputs("name: x\nmemory_gb: 1\nbandwidth_gbs: 1\npeak_tflops: {fp32: 1}\ncurves:\n  gemm: {fp32: {rate: 1, m_half: 1}}\n"
          "  bandwidth: {ws_bytes: [100], gbs: [1]}\n", f);
    fclose(f);
    CHECK("profile-bad-key", hw_load(&h, path, &e) == SIM_EINVAL && strstr(e.msg, ":6:") && strstr(e.msg, "'rate'"));
    CHECK("profile-shipped-no-curves", hw_load(&h, "h100-sxm", &e) == SIM_OK && !h.curves.present);
    remove(path);
}

/* The gemm table (tmodel.h) from CSV rows, by hand: bf16 products at M = 1
 * and 16 in two slices of short side min(N, K):
 *   S = 100: 100 x 100 (NK 1e4) and 10000 x 100 (NK 1e6), made to follow
 *     t = fixed + per_elem NK with (2 us, 0.1 ns) at M = 1, (5 us, 0.2 ns) at 16:
 *     M 1: 3e-6, 1.02e-4;   M 16: 7e-6, 2.05e-4
 *   S = 1000: 1000 x 1000 (1e6) and 4000 x 1000 (4e6) with per_elem 0.05 ns
 *     at M = 1 and 0.1 ns at 16; its fixed part is the smallest slice's
 *     (2 us, 5 us: the fit takes it from there):
 *     M 1: 5.2e-5, 2.02e-4;   M 16: 1.05e-4, 4.05e-4
 * In S = 100: M = 4 is halfway in log M: fixed 3.5 us, per_elem the
 * geometric mean sqrt(0.1 x 0.2) = 0.141421 ns; past the last M per_elem
 * grows as M (M = 32: 0.4 ns), below the first it stays. Halfway in log S
 * (S = sqrt(100 x 1000) = 316.23) at M = 1: fixed 2 us, per_elem
 * sqrt(0.1 x 0.05) = 0.0707107 ns. S = 0 (unknown): the largest slice. */
static void gemm_table(void)
{
    sim_err e;
    meas_set s = {0};
    tm_curves c;
    const char *csv = "op,dtype,M,N,K,bytes,count,seconds\n"
                      "gemm,bf16,1,100,100,,,3e-06\n"
                      "gemm,bf16,1,10000,100,,,0.000102\n"
                      "gemm,bf16,16,100,100,,,7e-06\n"
                      "gemm,bf16,16,10000,100,,,0.000205\n"
                      "gemm,bf16,1,1000,1000,,,5.2e-05\n"
                      "gemm,bf16,1,4000,1000,,,0.000202\n"
                      "gemm,bf16,16,1000,1000,,,0.000105\n"
                      "gemm,bf16,16,4000,1000,,,0.000405\n"
                      "stream,,,,,1000,,1e-06\n";
    CHECK("table-parse", calib_parse(&s, csv, "t.csv", &e) == SIM_OK);
    CHECK("table-fit", calib_fit(&s, &c, &e) == SIM_OK && c.gt_n[DT_BF16] == 2 && c.gt_ns[DT_BF16] == 2);
    CHECK_CLOSE("table-short-sides", c.gt_S[DT_BF16][0] + 1e-3 * c.gt_S[DT_BF16][1], 101, 1e-9);
    CHECK_CLOSE("table-fixed-m1-us", c.gt_fixed[DT_BF16][0][0] * 1e6, 2, 1e-6);
    CHECK_CLOSE("table-elem-m1-ns", c.gt_elem[DT_BF16][0][0] * 1e9, 0.1, 1e-9);
    CHECK_CLOSE("table-fixed-m16-us", c.gt_fixed[DT_BF16][0][1] * 1e6, 5, 1e-6);
    CHECK_CLOSE("table-elem-m16-ns", c.gt_elem[DT_BF16][0][1] * 1e9, 0.2, 1e-9);
    CHECK_CLOSE("table-s1000-elem-m16-ns", c.gt_elem[DT_BF16][1][1] * 1e9, 0.1, 1e-9);
    CHECK_CLOSE("table-rms", c.gt_rms[DT_BF16], 0, 1e-9);
    CHECK_CLOSE("table-at-m4", tm_gemm_time(&c, DT_BF16, 4, 1e6, 100, 0), 3.5e-6 + 1e6 * 0.141421356e-9, 1e-12);
    CHECK_CLOSE("table-at-m32", tm_gemm_time(&c, DT_BF16, 32, 1e6, 100, 0), 5e-6 + 4e-4, 1e-12);
    CHECK_CLOSE("table-below-m1", tm_gemm_time(&c, DT_BF16, 0.5, 1e6, 100, 0), 1.02e-4, 1e-12);
    CHECK_CLOSE("table-between-s", tm_gemm_time(&c, DT_BF16, 1, 1e6, 316.227766, 0), 2e-6 + 1e6 * 0.070710678e-9, 1e-11);
    CHECK_CLOSE("table-s-unknown", tm_gemm_time(&c, DT_BF16, 16, 1e6, 0, 0), 1.05e-4, 1e-12);
    CHECK_CLOSE("table-s1000-fixed-shared", c.gt_fixed[DT_BF16][1][1] * 1e6, 5, 1e-6);
    CHECK_CLOSE("table-s-below", tm_gemm_time(&c, DT_BF16, 16, 1e6, 10, 0), 2.05e-4, 1e-12);
    /* A product of short side 100 but dot length K = 1000 (N = 100 rows of
     * 1000: wo_a's shape): its skinny points (M <= 16, all of this table's)
     * read the S = 1000 slice, as the probe times rows of K elements: M = 1,
     * 2 us + 1e6 x 0.05 ns = 52 us (the S = 100 slice: 102 us); M = 4,
     * halfway in log M between M = 1 and 16: 3.5 us + 1e6 x sqrt(0.05 x 0.1)
     * ns. */
    CHECK_CLOSE("table-skinny-by-k", tm_gemm_time(&c, DT_BF16, 1, 1e6, 100, 1000), 5.2e-5, 1e-12);
    CHECK_CLOSE("table-skinny-by-k-m4", tm_gemm_time(&c, DT_BF16, 4, 1e6, 100, 1000), 3.5e-6 + 1e6 * 0.0707106781e-9, 1e-11);
    /* fp8 weights fall back along tm_dtype_chain (fp8_e4m3, fp8_e5m2, bf16): bf16's table. */
    CHECK_CLOSE("table-fp8-falls-back", tm_gemm_time(&c, DT_FP8_E4M3, 16, 1e6, 100, 0), 2.05e-4, 1e-12);
    /* An operation of 4 products of 1e6 elements each, short side 100, M = 1:
     * 4 x 1.02e-4 = 4.08e-4 s (its 100 weight bytes at 1 GB/s take 0.1 us:
     * compute bound), no fixed cost. */
    cost_op op = {.kind = OP_GEMM, .wdt = DT_BF16, .dt = DT_FP8_E4M3, .M = 1, .NK = 4000000, .calls = 4, .S = 100, .bytes = 100,
                  .flops = 8000000};
    CHECK_CLOSE("table-op-calls", tm_op_time(&c, &op), 4.08e-4, 1e-12);
    /* The profile keeps the table (tm_write_yaml, hw_load). */
    const char *path = "/tmp/kvsim-test-table.yaml";
    hw_profile h;
    CHECK("table-profile-write", calib_write_profile(&c, "t", 1e9, "test", path, &e) == SIM_OK);
    CHECK("table-profile-load", hw_load(&h, path, &e) == SIM_OK && h.curves.gt_n[DT_BF16] == 2 && h.curves.gt_ns[DT_BF16] == 2);
    CHECK_CLOSE("table-profile-elem", h.curves.gt_elem[DT_BF16][1][1], 1e-10, 1e-15);
    CHECK_CLOSE("table-profile-fixed", h.curves.gt_fixed[DT_BF16][0][0], 2e-6, 1e-12);
    /* Without fp32 curves, peak_tflops names the table's rate at its largest M
     * in its widest slice (2 x 16 / 0.1 ns = 320 GFLOP/s) for fp32 too (hw_load needs fp32). */
    CHECK_CLOSE("table-profile-peak", hw_peak(&h, DT_FP32), 3.2e11, 1e5);
    static const struct { const char *gemm, *what; } bad[] = {
        {"  gemm: {bf16: {m: [1, 4], fixed_us: [1]}}\n", "ns_per_elem"},
        {"  gemm: {bf16: {m: [4, 1], fixed_us: [1, 1], ns_per_elem: [1, 1]}}\n", "m must increase"},
        {"  gemm: {bf16: {m: [1, 4], s: [64, 256], fixed_us: [1, 1], ns_per_elem: [[1, 1], [1, 1]]}}\n", "expected 2 lists"},
        {"  gemm: {bf16: {m: [1, 4], s: [64], fixed_us: [[1, 1]], ns_per_elem: [[1, 1, 1]]}}\n", "3 values for 2 m"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        fprintf(f, "name: x\nmemory_gb: 1\nbandwidth_gbs: 1\npeak_tflops: {fp32: 1}\ncurves:\n%s  bandwidth: {ws_bytes: [100], gbs: [1]}\n",
                bad[i].gemm);
        fclose(f);
        char nm[48];
        snprintf(nm, sizeof nm, "table-profile-bad-%zu", i);
        int rc = hw_load(&h, path, &e);
        CHECK(nm, rc == SIM_EINVAL && strstr(e.msg, ":6:") && strstr(e.msg, bad[i].what));
        if (rc != SIM_EINVAL || !strstr(e.msg, bad[i].what)) printf("  got: %s\n", e.msg);
    }
    remove(path);
    meas_free(&s);
}

/* An MoE layer's experts as one GEMM operation (ops.c experts_op), on
 * tiny-mla (archs/tiny/mla.yaml) layer 1: d_model 80, 7 experts of d_ff 48,
 * top 2, 1 shared, gated (3 matrices of 80 x 48 = 3840): per expert 11,520
 * parameters; weights bf16 (the default, 2 bytes each).
 *   decode (1 token): 2 routed experts used + 1 shared: NK 3 x 11,520 =
 *     34,560 in 3 x 3 = 9 products; FLOPs 2 x 1 x 34,560 = 69,120, M = 1;
 *     bytes 69,120.
 *   prefill of 5 tokens: min(7, 5 x 2) = 7 routed used + 1 shared: NK
 *     8 x 11,520 = 92,160 in 24 products; FLOPs 2 x 5 x (2 + 1) x 11,520 =
 *     345,600, M = 345,600 / (2 x 92,160) = 1.875 -> 1 (integer rows);
 *     bytes 184,320. */
static void op_experts(void)
{
    model_spec m;
    sim_err e;
    if (spec_load(&m, "archs/tiny/mla.yaml", NULL, 0, &e)) { CHECK("experts-spec", 0); return; }
    static const u64 want[2][5] = {{345600, 92160, 24, 1, 184320}, {69120, 34560, 9, 1, 69120}};
    for (int ph = 0; ph < 2; ph++) {
        cost_query q = {.T = ph ? 50 : 5, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL};
        cost_result r;
        cost_ops ops = {0};
        if (cost_eval_ops(&m, &q, &r, &ops, &e)) { CHECK("experts-eval", 0); continue; }
        const cost_op *x = NULL;
        int n = 0;
        for (int i = 0; i < ops.n; i++)
            if (ops.op[i].layer == 1 && ops.op[i].experts) { x = &ops.op[i]; n++; }
        char nm[64];
        snprintf(nm, sizeof nm, "experts-one-op-%s", ph ? "decode" : "prefill");
        CHECK(nm, n == 1 && x && x->kind == OP_GEMM && x->wdt == DT_BF16);
        if (x) {
            const u64 got[5] = {x->flops, x->NK, x->calls, x->M, x->bytes};
            static const char *const what[5] = {"flops", "nk", "calls", "m", "bytes"};
            for (int k = 0; k < 5; k++) {
                snprintf(nm, sizeof nm, "experts-%s-%s", what[k], ph ? "decode" : "prefill");
                CHECK_EQ(nm, got[k], want[ph][k]);
            }
        }
        cost_ops_free(&ops);
        cost_result_free(&r);
    }
    spec_free(&m);
}

/* The decode-attention curve (calib.c fit_attn) by hand: rows made to follow
 * t = 10 us + 0.2 ns x elements + FLOPs / 100 GFLOP/s (elements = count K,
 * FLOPs = 2 M count K):
 *   (M 1, K 256, 256 rows):  65,536 el, 131,072 FLOPs:  10 + 13.1072 + 1.31072 = 24.41792 us
 *   (8, 256, 256):           65,536 el, 1,048,576:      10 + 13.1072 + 10.48576 = 33.59296 us
 *   (1, 256, 4096):       1,048,576 el, 2,097,152:      10 + 209.7152 + 20.97152 = 240.68672 us
 *   (8, 256, 4096):       1,048,576 el, 16,777,216:     10 + 209.7152 + 167.77216 = 387.48736 us
 * A decode attention operation over 2,000,000 bytes of bf16 rows (1e6
 * elements) with 8e6 FLOPs: 10 + 200 + 80 = 290 us; over fp8 rows it falls
 * back along tm_dtype_chain to bf16's curve (2e6 elements: 10 + 400 + 80). */
static void attn_curve(void)
{
    sim_err e;
    meas_set s = {0};
    tm_curves c;
    const char *csv = CSV_MIN
                      "attn,bf16,1,,256,,256,24.41792e-6\n"
                      "attn,bf16,8,,256,,256,33.59296e-6\n"
                      "attn,bf16,1,,256,,4096,240.68672e-6\n"
                      "attn,bf16,8,,256,,4096,387.48736e-6\n";
    CHECK("attn-parse", calib_parse(&s, csv, "a.csv", &e) == SIM_OK);
    CHECK("attn-fit", calib_fit(&s, &c, &e) == SIM_OK && c.attn_has[DT_BF16] && !c.attn_has[DT_FP8_E4M3]);
    CHECK_CLOSE("attn-fixed-us", c.attn_fixed[DT_BF16] * 1e6, 10, 1e-6);
    CHECK_CLOSE("attn-elem-ns", c.attn_elem[DT_BF16] * 1e9, 0.2, 1e-9);
    CHECK_CLOSE("attn-gflops", 1e-9 / c.attn_flop[DT_BF16], 100, 1e-6);
    cost_op op = {.kind = OP_FLOPS, .cat = FL_ATTN, .decode = true, .wdt = DT_BF16, .dt = DT_BF16, .M = 8, .flops = 8000000,
                  .bytes = 2000000};
    CHECK_CLOSE("attn-op", tm_op_time(&c, &op), 290e-6, 1e-12);
    op.wdt = DT_FP8_E4M3;
    CHECK_CLOSE("attn-op-fp8-falls-back", tm_op_time(&c, &op), 490e-6, 1e-12);
    /* Prefill attention keeps the product form (no decode flag). */
    op.decode = false;
    CHECK("attn-op-prefill-is-a-product", fabs(tm_op_time(&c, &op) - 490e-6) > 1e-6);
    const char *path = "/tmp/kvsim-test-attn.yaml";
    hw_profile h;
    CHECK("attn-profile", calib_write_profile(&c, "t", 1e9, "test", path, &e) == SIM_OK && hw_load(&h, path, &e) == SIM_OK &&
                          h.curves.attn_has[DT_BF16]);
    CHECK_CLOSE("attn-profile-elem", h.curves.attn_elem[DT_BF16], 2e-10, 1e-15);
    CHECK_CLOSE("attn-profile-flop", h.curves.attn_flop[DT_BF16], 1e-11, 1e-16);
    remove(path);
    /* Too few rows for three coefficients: an error naming the curve. */
    meas_free(&s);
    CHECK("attn-too-few", calib_parse(&s, "op,dtype,M,N,K,bytes,count,seconds\ngemm,bf16,1,100,100,,,3e-06\nstream,,,,,1000,,1e-06\n"
                                          "attn,bf16,1,,256,,256,24e-6\n", "b.csv", &e) == SIM_OK &&
                          calib_fit(&s, &c, &e) == SIM_EINVAL && strstr(e.msg, "attn bf16"));
    meas_free(&s);
}

/* A sparse indexer's top-k selection (tmodel.h select), by hand:
 *   CSV: select over 1,000 candidates 3 us, over 10,000 21 us -> t = 1 us per
 *   query + 2 ns per candidate (rate 5e8 per second).
 *   An indexer's scores of 100 queries over 1e6 candidates with 2 heads,
 *   element-wise rate 1e9: + 100 x 1 us + 1e6 x 2 ns + 3 x 2 x 1e6 / 1e9
 *   = 0.1 + 2 + 6 ms = 8.1 ms beyond the same operation without candidates.
 * On tiny-dsa (archs/tiny/dsa.yaml: 3 indexer heads) at T = 37 the indexer's
 * scores carry the candidates the layer scores: prefill, causal, 37 x 38 / 2
 * = 703 pairs for 37 queries; decode, the 37 cached tokens and the new one:
 * 38 for 1 query. */
static void select_curve(void)
{
    sim_err e;
    tm_curves c;
    const char *csv = CSV_MIN
                      "elementwise,,,,,,1000,1e-06\n"
                      "elementwise,,,,,,1000000,0.001\n"
                      "select,,,,,,1000,3e-06\n"
                      "select,,,,,,10000,2.1e-05\n";
    CHECK("select-fit", fit_csv(csv, "s.csv", &c, &e) == SIM_OK);
    CHECK_CLOSE("select-fixed-us", c.select_fixed_s * 1e6, 1, 1e-6);
    CHECK_CLOSE("select-rate", c.select_rate, 5e8, 1);
    CHECK_CLOSE("select-elem-rate", c.elem_rate, 1e9, 1);
    cost_op op = {.kind = OP_FLOPS, .cat = FL_INDEX, .dt = DT_BF16, .M = 200, .flops = 1000000};
    double base = tm_op_time(&c, &op);
    op.cand = 1000000;
    op.queries = 100;
    op.heads = 2;
    CHECK_CLOSE("select-op", tm_op_time(&c, &op) - base, 8.1e-3, 1e-12);
    model_spec m;
    if (spec_load(&m, "archs/tiny/dsa.yaml", NULL, 0, &e)) { CHECK("select-spec", 0); return; }
    static const u64 want[2][3] = {{703, 37, 3}, {38, 1, 3}};
    for (int ph = 0; ph < 2; ph++) {
        cost_query q = {.T = 37, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL};
        cost_result r;
        cost_ops ops = {0};
        if (cost_eval_ops(&m, &q, &r, &ops, &e)) { CHECK("select-eval", 0); continue; }
        int n = 0;
        bool ok = true;
        for (int i = 0; i < ops.n; i++)
            if (ops.op[i].cand) {
                n++;
                ok &= ops.op[i].cand == want[ph][0] && ops.op[i].queries == want[ph][1] && ops.op[i].heads == want[ph][2] &&
                      ops.op[i].cat == FL_INDEX;
            }
        CHECK(ph ? "select-ops-decode" : "select-ops-prefill", n == 1 && ok);
        cost_ops_free(&ops);
        cost_result_free(&r);
    }
    spec_free(&m);
}

/* One GEMM per product on tiny-mla (archs/tiny/mla.yaml), layer 0: kind
 * mla (d 80, q_heads 5, q_lora_rank 36, kv_lora_rank 40, nope 12, rope 8,
 * v 14) and a dense gated FFN of d_ff 120. Decode (absorbed, M = 1), the
 * products as K x N, parameters, short side:
 *   wq_a 80 x 36 = 2880 (36), wq_b 36 x 5(12+8) = 3600 (36),
 *   wkv_a 80 x (40+8) = 3840 (48), wkv_b absorbed as the kernels and
 *   DeepSeek's einsum run it, per head: q_nope into the latent 12 x 40 =
 *   480 (12) and the latent out 40 x 14 = 560 (14), 5 heads each,
 *   wo 5 x 14 x 80 = 5600 (70), the FFN's gate and up 80 x 120 and down
 *   120 x 80 = 9600 (80) each: 17 products;
 * the absorbed projection FLOPs 2 (wq + wkv_a + wo + 5 (12 x 40 + 40 x 14))
 * are exactly 2 x their sum, wkv_b's absorption included. */
static void op_products(void)
{
    model_spec m;
    sim_err e;
    if (spec_load(&m, "archs/tiny/mla.yaml", NULL, 0, &e)) { CHECK("products-spec", 0); return; }
    cost_query q = {.T = 37, .B = 1, .phase = PH_DECODE};
    cost_result r;
    cost_ops ops = {0};
    if (cost_eval_ops(&m, &q, &r, &ops, &e)) { CHECK("products-eval", 0); spec_free(&m); return; }
    static const u64 want[][2] = {{2880, 36}, {3600, 36}, {3840, 48}, {5600, 70}, {9600, 80}, {9600, 80}, {9600, 80},
                                  {480, 12},  {480, 12},  {480, 12},  {480, 12}, {480, 12}, {560, 14}, {560, 14},
                                  {560, 14},  {560, 14},  {560, 14}};
    enum { NW = sizeof want / sizeof want[0] };
    int n = 0, hit[NW] = {0};
    bool ok = true;
    for (int i = 0; i < ops.n; i++) {
        const cost_op *o = &ops.op[i];
        if (o->layer != 0 || o->kind != OP_GEMM) continue;
        n++;
        ok &= o->M == 1 && o->flops == 2 * o->NK && o->calls == 1 && o->K && o->NK % o->K == 0;
        int j = 0;
        while (j < NW && (hit[j] || want[j][0] != o->NK || want[j][1] != o->S)) j++;
        if (j < NW) hit[j] = 1;
        else ok = false;
    }
    CHECK_EQ("products-mla-count", n, NW);
    CHECK("products-mla-shapes", ok);
    /* Shapes that do not sum to the record are dropped: one read, the
     * d_model short side (cost_ops_shape's rule), here through a direct
     * call on a list. */
    cost_ops o2 = {0};
    cost_ops_begin(&o2);
    cost_ctx c2 = {.m = &m, .ops = &o2};
    cost_ops_shape(&c2, 80, 36, 1);
    cost_ops_weights(&c2, WC_LINEAR, 2880 + 1, 1000);
    CHECK("products-mismatch-one-read", o2.n == 1 && o2.op[0].NK == 2881 && o2.op[0].S == 36 && o2.op[0].bytes == 1000);
    cost_ops_shape(&c2, 80, 36, 1);
    cost_ops_shape(&c2, 36, 100, 1);
    cost_ops_weights(&c2, WC_LINEAR, 2880 + 3600, 1001);
    /* 1001 x 2880 / 6480 = 444.9 -> 444, the rest 557 */
    CHECK("products-bytes-split", o2.n == 3 && o2.op[1].bytes == 444 && o2.op[2].bytes == 557 && o2.op[1].S == 36 &&
                                      o2.op[2].S == 36 && o2.op[2].NK == 3600);
    cost_ops_free(&o2);
    cost_ops_free(&ops);
    cost_result_free(&r);
    spec_free(&m);
}

/* Prefill attention curves (tmodel.h apre_rate) from CSV rows, by hand:
 * attn_causal 1e9 FLOPs in 10 ms and 3e9 in 30 ms: 1e11 FLOP/s exactly;
 * attn_window 1e9 in 20 ms: 5e10; attn_gather 2e9 in 25 ms: 8e10. An
 * attention op of 4e9 FLOPs then takes 40, 80 or 50 ms by its kind (plus
 * the parallel region, 0 here), and the softmax FLOPs fused into it none
 * (an unfused element-wise op of the same 1e6 FLOPs: 1 ms at 1e9). On
 * tiny-gqa (archs/tiny/gqa.yaml) the sliding and keqv layers (window 11, 5)
 * take the window curve, full the causal one; on tiny-dsa every attention
 * the gather one. The profile keeps the three rates. */
static void apre_curve(void)
{
    sim_err e;
    tm_curves c;
    const char *csv = CSV_MIN
                      "elementwise,,,,,,1000000,0.001\n"
                      "attn_causal,,,,,,1e9,0.01\n"
                      "attn_causal,,,,,,3e9,0.03\n"
                      "attn_window,,,,,,1e9,0.02\n"
                      "attn_gather,,,,,,2e9,0.025\n";
    CHECK("apre-fit", fit_csv(csv, "a.csv", &c, &e) == SIM_OK);
    CHECK_CLOSE("apre-causal", c.apre_rate[TM_ACAUSAL], 1e11, 1);
    CHECK_CLOSE("apre-window", c.apre_rate[TM_AWINDOW], 5e10, 1);
    CHECK_CLOSE("apre-gather", c.apre_rate[TM_AGATHER], 8e10, 1);
    c.fixed_s = 0;
    static const double want[3] = {0.04, 0.08, 0.05};
    for (int k = 0; k < 3; k++) {
        cost_op op = {.kind = OP_FLOPS, .cat = FL_ATTN, .dt = DT_BF16, .M = 8, .flops = 4000000000ull, .akind = k};
        CHECK_CLOSE(k == 0 ? "apre-op-causal" : k == 1 ? "apre-op-window" : "apre-op-gather", tm_op_time(&c, &op), want[k], 1e-12);
    }
    cost_op sm = {.kind = OP_ELEM, .cat = FL_OTHER, .dt = DT_FP32, .flops = 1000000, .fused = true, .akind = TM_AWINDOW};
    CHECK_CLOSE("apre-fused-covered", tm_op_time(&c, &sm), 0, 1e-15);
    sm.decode = true;   /* no attn_decode curve in these rows: priced element-wise */
    CHECK_CLOSE("apre-fused-decode-uncovered", tm_op_time(&c, &sm), 1e-3, 1e-12);
    sm.fused = false;
    sm.decode = false;
    CHECK_CLOSE("apre-unfused", tm_op_time(&c, &sm), 1e-3, 1e-12);
    /* A decode's indexer decodes each candidate's key row: with an
     * attn_decode curve for fp8 e4m3 of 0.2 ns per element, 1000 candidates
     * of 128 elements add 1000 x 128 x 0.2 ns = 25.6 us (a prefill's, or
     * keys in a dtype without a curve on their chain, nothing). */
    cost_op ix = {.kind = OP_FLOPS, .cat = FL_INDEX, .dt = DT_BF16, .M = 4, .flops = 1000000, .decode = true,
                  .cand = 1000, .queries = 1, .heads = 2, .width = 128, .wdt = DT_FP8_E4M3};
    double t0 = tm_op_time(&c, &ix);
    c.attn_has[DT_FP8_E4M3] = true;
    c.attn_elem[DT_FP8_E4M3] = 0.2e-9;
    CHECK_CLOSE("index-decode-rows", tm_op_time(&c, &ix) - t0, 25.6e-6, 1e-12);
    ix.decode = false;
    double t1 = tm_op_time(&c, &ix);
    c.attn_has[DT_FP8_E4M3] = false;
    CHECK_CLOSE("index-prefill-no-rows", tm_op_time(&c, &ix) - t1, 0, 1e-15);
    /* compute,fp32: the machine computes weightless products in fp32; here
     * without an fp32 table, so they keep the compute dtype's (bf16) time,
     * not NAN. */
    cost_op wl = {.kind = OP_FLOPS, .cat = FL_MHC, .dt = DT_BF16, .M = 1, .flops = 20000, .layer = 0};
    double tb = tm_op_time(&c, &wl);
    c.compute_has = true;
    c.compute_dt = DT_FP32;
    CHECK_CLOSE("compute-no-table-keeps-dtype", tm_op_time(&c, &wl), tb, 1e-15);
    meas_set s2 = {0};
    tm_curves c2;
    CHECK("compute-row", fit_csv("op,dtype,M,N,K,bytes,count,seconds\ngemm,bf16,1,100,100,,,3e-06\n"
                                 "stream,,,,,1000,,1e-06\ncompute,fp32,,,,,,0\n", "c.csv", &c2, &e) == SIM_OK &&
                             c2.compute_has && c2.compute_dt == DT_FP32);
    CHECK("compute-row-needs-dtype", calib_parse(&s2, "op,dtype,M,N,K,bytes,count,seconds\ncompute,,,,,,,0\n", "c.csv", &e) ==
                                         SIM_EINVAL && strstr(e.msg, "c.csv:2:9"));
    meas_free(&s2);
    /* The profile round trip. */
    c.present = true;
    const char *path = "/tmp/kvsim-test-apre.yaml";
    hw_profile h;
    CHECK("apre-profile", calib_write_profile(&c, "t", 4e9, "test", path, &e) == SIM_OK && hw_load(&h, path, &e) == SIM_OK &&
                              fabs(h.curves.apre_rate[TM_AWINDOW] - 5e10) < 1e3 && fabs(h.curves.apre_rate[TM_AGATHER] - 8e10) < 1e3 &&
                              h.curves.compute_has && h.curves.compute_dt == DT_FP32);
    remove(path);
    /* Which curve each layer's attention takes. */
    static const char *const specs[2] = {"archs/tiny/gqa.yaml", "archs/tiny/dsa.yaml"};
    for (int f = 0; f < 2; f++) {
        model_spec m;
        if (spec_load(&m, specs[f], NULL, 0, &e)) { CHECK("apre-spec", 0); continue; }
        cost_query q = {.T = 37, .B = 1, .phase = PH_PREFILL};
        cost_result r;
        cost_ops ops = {0};
        bool ok = cost_eval_ops(&m, &q, &r, &ops, &e) == SIM_OK;
        int n = 0;
        for (int i = 0; ok && i < ops.n; i++) {
            const cost_op *o = &ops.op[i];
            if (o->layer < 0 || !(o->cat == FL_ATTN || o->fused)) continue;
            const attn_cfg *a = &m.layer[o->layer].attn;
            int k = f ? TM_AGATHER : a->window ? TM_AWINDOW : TM_ACAUSAL;
            ok &= o->akind == k;
            n++;
        }
        CHECK(f ? "apre-kind-dsa" : "apre-kind-gqa", ok && n > 0);
        if (ok) { cost_ops_free(&ops); cost_result_free(&r); }
        spec_free(&m);
    }
}

/* mHC's element-wise rate (elementwise_mix rows, calib.c MS_MIX) by hand:
 * element-wise rows 1e6 FLOPs in 1 ms and 4e6 in 4 ms (1 GFLOP/s, no fixed
 * part), mixing rows 1e6 in 0.25 ms and 4e6 in 1 ms (4 GFLOP/s). An
 * element-wise op of 2e6 FLOPs then takes 2 ms in FL_OTHER and 0.5 ms in
 * FL_MHC (no parallel row: no fixed cost); without the mixing rows FL_MHC
 * takes the element-wise rate, 2 ms. The profile keeps the rate. */
static void mix_curve(void)
{
    sim_err e;
    meas_set s = {0};
    tm_curves c;
    const char *csv = CSV_MIN
                      "elementwise,,,,,,1000000,0.001\n"
                      "elementwise,,,,,,4000000,0.004\n"
                      "elementwise_mix,,,,,,1000000,0.00025\n"
                      "elementwise_mix,,,,,,4000000,0.001\n";
    CHECK("mix-fit", fit_csv(csv, "m.csv", &c, &e) == SIM_OK);
    CHECK_CLOSE("mix-rate-gflops", c.mix_rate / 1e9, 4, 1e-9);
    CHECK_CLOSE("mix-elem-gflops", c.elem_rate / 1e9, 1, 1e-9);
    cost_op op = {.kind = OP_ELEM, .cat = FL_OTHER, .dt = DT_FP32, .M = 1, .flops = 2000000, .layer = 0};
    CHECK_CLOSE("mix-op-other", tm_op_time(&c, &op), 2e-3, 1e-12);
    op.cat = FL_MHC;
    CHECK_CLOSE("mix-op-mhc", tm_op_time(&c, &op), 0.5e-3, 1e-12);
    const char *path = "/tmp/kvsim-test-mix.yaml";
    hw_profile h;
    CHECK("mix-profile", calib_write_profile(&c, "t", 1e9, "test", path, &e) == SIM_OK && hw_load(&h, path, &e) == SIM_OK &&
                             fabs(h.curves.mix_rate - 4e9) < 1e3);
    remove(path);
    c.mix_rate = 0;
    CHECK_CLOSE("mix-op-mhc-unmeasured", tm_op_time(&c, &op), 2e-3, 1e-12);
    CHECK("mix-row-needs-count", calib_parse(&s, "op,dtype,M,N,K,bytes,count,seconds\nelementwise_mix,,,,,,,0.001\n", "m.csv", &e) ==
                                     SIM_EINVAL && strstr(e.msg, "m.csv:2:"));
    meas_free(&s);
}

/* The element-wise rate by tokens (calib.c fit_elem_tokens, tmodel.c
 * tm_elem_rate) by hand: rows at M = 1 (6e3 FLOPs in 1 us: 6 GFLOP/s), at
 * M = 16 twice (96e3 in 16 us and in 32 us: summed, 192e3 in 48 us = 4
 * GFLOP/s) and at M = 256 (1.536e6 in 768 us: 2 GFLOP/s), given out of
 * order. Between points the rate is linear in log M: M = 4 is halfway from
 * 1 to 16 in log, 5 GFLOP/s; M = 64 halfway from 16 to 256, 3 GFLOP/s; flat
 * below the first; above the last (and at M = 0) the affine fit's rate,
 * which takes the row without M alone (1e6 FLOPs in 1 ms: 1 GFLOP/s). An op
 * of 1e6 FLOPs over 64 tokens: 1e6 / 3e9 s. One M alone makes no table;
 * the profile keeps the table; a bad table in a profile is refused. */
static void elem_tokens(void)
{
    sim_err e;
    tm_curves c;
    const char *csv = CSV_MIN
                      "elementwise,,16,,,,96000,32e-6\n"
                      "elementwise,,256,,,,1536000,768e-6\n"
                      "elementwise,,1,,,,6000,1e-6\n"
                      "elementwise,,16,,,,96000,16e-6\n"
                      "elementwise,,,,,,1000000,0.001\n";
    CHECK("eltok-fit", fit_csv(csv, "t.csv", &c, &e) == SIM_OK);
    CHECK_EQ("eltok-points", c.n_el, 3);
    CHECK_CLOSE("eltok-rate-1", c.el_rate[0] / 1e9, 6, 1e-12);
    CHECK_CLOSE("eltok-rate-16", c.el_rate[1] / 1e9, 4, 1e-12);
    CHECK_CLOSE("eltok-rate-256", c.el_rate[2] / 1e9, 2, 1e-12);
    CHECK_CLOSE("eltok-interp-4", tm_elem_rate(&c, 4) / 1e9, 5, 1e-9);
    CHECK_CLOSE("eltok-interp-64", tm_elem_rate(&c, 64) / 1e9, 3, 1e-9);
    CHECK_CLOSE("eltok-flat-below", tm_elem_rate(&c, 0.5) / 1e9, 6, 1e-12);
    CHECK_CLOSE("eltok-last", tm_elem_rate(&c, 256) / 1e9, 2, 1e-12);
    CHECK_CLOSE("eltok-affine-rows-without-m", c.elem_rate / 1e9, 1, 1e-9);
    CHECK_CLOSE("eltok-above-affine", tm_elem_rate(&c, 257) / 1e9, 1, 1e-9);
    CHECK_CLOSE("eltok-no-m-affine", tm_elem_rate(&c, 0) / 1e9, 1, 1e-9);
    cost_op op = {.kind = OP_ELEM, .cat = FL_OTHER, .dt = DT_FP32, .M = 64, .flops = 1000000, .layer = 0};
    CHECK_CLOSE("eltok-op", tm_op_time(&c, &op), 1e6 / 3e9, 1e-15);
    const char *path = "/tmp/kvsim-test-eltok.yaml";
    hw_profile h;
    bool ok = calib_write_profile(&c, "t", 1e9, "test", path, &e) == SIM_OK && hw_load(&h, path, &e) == SIM_OK;
    CHECK("eltok-profile", ok && h.curves.n_el == 3 && fabs(h.curves.el_rate[1] - 4e9) < 1e3 && h.curves.el_M[2] == 256);
    remove(path);
    const char *one = CSV_MIN
                      "elementwise,,16,,,,96000,16e-6\n"
                      "elementwise,,,,,,1000000,0.001\n";
    CHECK("eltok-one-m", fit_csv(one, "o.csv", &c, &e) == SIM_OK && c.n_el == 0);
    CHECK_CLOSE("eltok-one-m-affine", tm_elem_rate(&c, 16) / 1e9, c.elem_rate / 1e9, 1e-12);
    static const char *const bad[][2] = {
        {"tokens: [4, 4], tokens_gflops: [1, 2]", "tokens must increase"},
        {"tokens: [1, 4], tokens_gflops: [1]", "differ in length"},
        {"tokens: [1, 4]", "needs tokens and tokens_gflops"},
    };
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(path, "w");
        if (!f) { CHECK("eltok-bad-open", 0); return; }
        fprintf(f, "name: t\npeak_tflops: {fp32: 1}\nbandwidth_gbs: 1\nmemory_gb: 1\ncurves:\n"
                   "  gemm: {fp32: {rate_max_gflops: 100, m_half: 8}}\n  bandwidth: {ws_bytes: [1000], gbs: [1]}\n"
                   "  elementwise: {gflops: 1, %s}\n", bad[i][0]);
        fclose(f);
        CHECK(bad[i][1], hw_load(&h, path, &e) == SIM_EINVAL && strstr(e.msg, bad[i][1]));
    }
    remove(path);
}

int main(void)
{
    fits();
    parser();
    op_sum();
    op_list();
    op_shapes();
    op_products();
    op_vector();
    fast_paths();
    profile();
    gemm_table();
    op_experts();
    attn_curve();
    select_curve();
    apre_curve();
    mix_curve();
    elem_tokens();
    return check_done("test_tmodel");
}
