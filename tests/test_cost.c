/* test_cost.c - the analytical model against hand derivations (each shown in
 * a comment), brute-force sums and identities, per layer type; the spec
 * plan's evaluation against walking every layer, for every shipped spec. */
#include "check.h"
#include "util.h"
#include <glob.h>

static model_spec M;
static sim_err E;

static int load(const char *yaml)
{
    if (load_str(&M, yaml, NULL, 0, &E)) { printf("load failed: %s\n", E.msg); return 1; }
    return 0;
}

/* Brute-force twins of cost.c's closed forms. */
static u64 brute_window(u64 T, u64 W, int decode)
{
    if (decode) return W ? (T + 1 < W ? T + 1 : W) : T + 1;
    u64 s = 0;
    for (u64 u = 1; u <= T; u++) s += W && u > W ? W : u;
    return s;
}
static u64 brute_comp(u64 T, u64 m, u64 k, int decode)
{
    if (decode) { u64 v = (T + 1) / m; return k && v > k ? k : v; }
    u64 s = 0;
    for (u64 u = 1; u <= T; u++) { u64 v = u / m; s += k && v > k ? k : v; }
    return s;
}

static void closed_forms(void)
{
    model_spec dummy = {0};
    bool ovf = false;
    int ok = 1;
    for (u64 T = 1; T <= 300; T += 7)
        for (int ph = 0; ph < 2; ph++) {
            cost_ctx c = {.m = &dummy, .q = {.T = T, .B = 1, .phase = ph ? PH_DECODE : PH_PREFILL}, .ovf = &ovf};
            for (u64 W = 0; W <= 40; W += 13) ok &= cc_span_window(&c, W) == brute_window(T, W, ph);
            for (u64 m = 1; m <= 9; m += 4)
                for (u64 k = 0; k <= 20; k += 5) ok &= cc_span_compressed(&c, m, k) == brute_comp(T, m, k, ph);
        }
    CHECK("closed-forms-vs-brute", ok && !ovf);
    /* Noncausal global: every query sees all T. */
    cost_ctx c = {.m = &dummy, .q = {.T = 37, .B = 1, .phase = PH_PREFILL, .noncausal = true}, .ovf = &ovf};
    CHECK_EQ("span-noncausal", cc_span_window(&c, 0), 37 * 37);
}

/* Non-causal prefill (issue 10 item 3). A window is symmetric: query u sees
 * v with |u - v| < W, min(T, u+W-1) - max(1, u-W+1) + 1 keys (up to 2W-1),
 * as Longformer's sliding window; global layers and compressed entries see
 * all T (all complete blocks); top-k picks min(T, k) of them. */
static u64 brute_window_nc(u64 T, u64 W)
{
    u64 s = 0;
    for (u64 u = 1; u <= T; u++) {
        u64 lo = W && u > W ? u - W + 1 : 1, hi = W && u + W - 1 < T ? u + W - 1 : T;
        s += hi - lo + 1;
    }
    return s;
}

/* Totals of a one-layer spec (d_model d, the given kind line) in a
 * non-causal prefill of T tokens; zeros (and a failed check) on error. */
static cost_t nc_eval(u64 d, const char *kind, u64 T)
{
    char y[512];
    snprintf(y, sizeof y, "name: n\nd_model: %llu\nn_layers: 1\nvocab: 50\nffn: {type: none}\nlayers:\n  %s\n",
             (unsigned long long)d, kind);
    cost_query q = {.T = T, .B = 1, .phase = PH_PREFILL, .noncausal = true};
    cost_result r;
    cost_t t;
    memset(&t, 0, sizeof t);
    if (load(y)) { CHECK("noncausal-load", 0); return t; }
    int rc = cost_eval(&M, &q, &r, &E);
    CHECK("noncausal-eval", rc == SIM_OK);
    if (!rc) { t = r.total; cost_result_free(&r); }
    spec_free(&M);
    return t;
}

static void noncausal(void)
{
    model_spec dummy = {0};
    bool ovf = false;
    int ok = 1;
    static const u64 Ws[] = {0, 1, 2, 5, 11, 13, 40, 150};
    for (u64 T = 1; T <= 300; T++)
        for (size_t w = 0; w < sizeof Ws / sizeof Ws[0]; w++) {
            cost_ctx c = {.m = &dummy, .q = {.T = T, .B = 1, .phase = PH_PREFILL, .noncausal = true}, .ovf = &ovf};
            ok &= cc_span_window(&c, Ws[w]) == brute_window_nc(T, Ws[w]);
            ok &= cc_span_topk(&c, Ws[w] ? Ws[w] : 1) == T * (Ws[w] && Ws[w] < T ? Ws[w] : Ws[w] ? T : 1);
        }
    CHECK("noncausal-closed-forms-vs-brute", ok && !ovf);
    /* Edges by hand, W = 11 (closed form T(2W-1) - W(W-1) once T >= 2W-1):
     *   T = 5  < W:     every key, 5^2 = 25
     *   T = 11 = W:     11^2 = 121 (the first and last query see all 11)
     *   T = 21 = 2W-1:  21 x 21 - 11 x 10 = 331 (only the middle query sees 2W-1 = 21)
     *   T = 1000 >> W:  1000 x 21 - 110 = 20,890 */
    static const u64 edge[][2] = {{5, 25}, {11, 121}, {21, 331}, {1000, 20890}};
    for (int i = 0; i < 4; i++) {
        cost_ctx c = {.m = &dummy, .q = {.T = edge[i][0], .B = 1, .phase = PH_PREFILL, .noncausal = true}, .ovf = &ovf};
        char nm[48];
        snprintf(nm, sizeof nm, "noncausal-window-11-T%llu", (unsigned long long)edge[i][0]);
        CHECK_EQ(nm, cc_span_window(&c, 11), edge[i][1]);
    }
    /* Mistral-7B at 32K (W = 4096): 32768 x 8191 - 4096 x 4095 = 251,629,568 pairs per
     * layer and head, not T x W = 134,217,728 (the old cap) nor T^2. */
    cost_ctx cm = {.m = &dummy, .q = {.T = 32768, .B = 1, .phase = PH_PREFILL, .noncausal = true}, .ovf = &ovf};
    CHECK_EQ("noncausal-mistral-32k", cc_span_window(&cm, 4096), 251629568);

    /* Per type (dims of the causal tests above); one layer, B = 1, non-causal prefill. */
    const char *g = "a: {type: gqa, q_heads: 6, kv_heads: 2, head_dim: 16, window: 11}";
    /* 37 x 21 - 110 = 667 pairs x 6 heads x 2(16+16) = 256,128 */
    CHECK_EQ("noncausal-gqa-window-attn", nc_eval(96, g, 37).flops[FL_ATTN], 256128);
    /* CSA T = 23 (m = 4, top-k 3, W = 5): every query picks min(3, 23/4 = 5) = 3 entries -> 69;
     * window 23 x 9 - 5 x 4 = 187 -> (69 + 187) x 4 heads x 2(32+32) = 131,072 */
    const char *csa = "a: {type: csa, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 12, o_groups: 2,"
                      " o_lora_rank: 6, window: 5, compress_ratio: 4, index_heads: 2, index_head_dim: 16, index_topk: 3}";
    CHECK_EQ("noncausal-csa-attn", nc_eval(40, csa, 23).flops[FL_ATTN], 131072);
    /* HCA T = 30 (m = 8, W = 5): 30 x 3 entries + 30 x 9 - 20 = 250 -> 340 x 512 = 174,080 */
    const char *hca = "a: {type: hca, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 12, o_groups: 2,"
                      " o_lora_rank: 6, window: 5, compress_ratio: 8}";
    CHECK_EQ("noncausal-hca-attn", nc_eval(40, hca, 30).flops[FL_ATTN], 174080);
    /* swa4 T = 20, W = 6: 20 x 11 - 6 x 5 = 190 pairs x 512 = 97,280 */
    const char *swa = "a: {type: swa4, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 12, o_groups: 2,"
                      " o_lora_rank: 6, window: 6}";
    CHECK_EQ("noncausal-swa4-attn", nc_eval(40, swa, 20).flops[FL_ATTN], 97280);
    /* CCA with window 7, T = 20: 20 x 13 - 7 x 6 = 218 pairs x 8 heads x 2(128+128) = 892,928 */
    const char *cc = "a: {type: cca, q_heads: 8, kv_heads: 2, head_dim: 128, conv_kernel: 2, conv_kernel2: 2, window: 7}";
    CHECK_EQ("noncausal-cca-window-attn", nc_eval(2048, cc, 20).flops[FL_ATTN], 892928);
    /* DSA T = 9, top-k 4 (dims of dsa() below): each query picks min(9, 4) = 4 of all 9
     * latents -> 36 x 3 x 88 = 9,504; the indexer (index_head_dim 8: a power of two for
     * its Hadamard rotation, issue 12) scores all 9 keys: 81 x 5 x 19, + per token the
     * projections, Hadamard and head weights of dsa() below, 3,584 + 192 + 10 */
    const char *ds = "a: {type: dsa, q_heads: 3, q_lora_rank: 24, kv_lora_rank: 20, nope_dim: 8, rope_dim: 4,"
                     " v_head_dim: 10, index_heads: 5, index_head_dim: 8, index_topk: 4}";
    cost_t t = nc_eval(64, ds, 9);
    CHECK_EQ("noncausal-dsa-attn", t.flops[FL_ATTN], 9504);
    CHECK_EQ("noncausal-dsa-index", t.flops[FL_INDEX], 81 * 5 * 19 + 9 * (3584 + 192 + 10));
}

static void gqa(void)
{
    /* d = 96, H = 6, G = 2, h = v = 16, one layer, no FFN, T = 37, B = 3. */
    const char *y = "name: g\nd_model: 96\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: gqa, q_heads: 6, kv_heads: 2, head_dim: 16}\n";
    if (load(y)) return;
    cost_t t = eval_type(&M, 37, 3, PH_PREFILL, "a");
    /* pairs per sequence 37*38/2 = 703, x3 = 2109; 2109 * H 6 * 2(16+16) = 809,856 */
    CHECK_EQ("gqa-prefill-attn", t.flops[FL_ATTN], 809856);
    /* per token 96*96 (q) + 96*96 (o) + 96*2*2*16 (k, v) = 24,576; x 2 x 111 tokens = 5,455,872 */
    CHECK_EQ("gqa-prefill-proj", t.flops[FL_PROJ], 5455872);
    /* cache: 2 heads x (16 + 16) = 64 bf16 = 128 B/token; 37 x 3 x 128 = 14,208 */
    CHECK_EQ("gqa-prefill-kv", t.kv_bytes, 14208);
    CHECK_EQ("gqa-prefill-written", t.kv_written_bytes, 14208);
    CHECK_EQ("gqa-params", t.params, 24576 + 2 * 96);   /* + the plain residual's two RMSNorms */
    /* decode at T = 37: 38 keys x 3 seq x 6 x 64 = 43,776; KV read 38 x 3 x 128 = 14,592 */
    t = eval_type(&M, 37, 3, PH_DECODE, "a");
    CHECK_EQ("gqa-decode-attn", t.flops[FL_ATTN], 43776);
    CHECK_EQ("gqa-decode-kv-read", t.kv_read_bytes, 14592);
    CHECK_EQ("gqa-decode-kv-written", t.kv_written_bytes, 384);
    spec_free(&M);

    /* Window 11: decode sees min(38, 11) = 11 keys: 11 x 3 x 384 = 12,672; cache 11 x 3 x 128 = 4,224.
     * Prefill pairs: 11*12/2 + 26*11 = 66 + 286 = 352 per sequence. */
    const char *yw = "name: g\nd_model: 96\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                     "layers:\n  a: {type: gqa, q_heads: 6, kv_heads: 2, head_dim: 16, window: 11}\n";
    if (load(yw)) return;
    t = eval_type(&M, 37, 3, PH_DECODE, "a");
    CHECK_EQ("gqa-window-decode-attn", t.flops[FL_ATTN], 12672);
    CHECK_EQ("gqa-window-kv", t.kv_bytes, 4224);
    t = eval_type(&M, 37, 1, PH_PREFILL, "a");
    CHECK_EQ("gqa-window-prefill-attn", t.flops[FL_ATTN], 352ull * 6 * 64);
    /* Window at the edges: T = 10 (below), 11 (at), 12 (one past): cache 10, 11, 11 entries. */
    CHECK_EQ("gqa-window-below", eval_total(&M, 10, 1, PH_DECODE).kv_bytes, 10 * 128);
    CHECK_EQ("gqa-window-at", eval_total(&M, 11, 1, PH_DECODE).kv_bytes, 11 * 128);
    CHECK_EQ("gqa-window-past", eval_total(&M, 12, 1, PH_DECODE).kv_bytes, 11 * 128);
    spec_free(&M);

    /* Identity: MHA written as GQA with kv_heads = q_heads, and a window >= T
     * equals global attention. */
    const char *mha = "name: m\nd_model: 96\nn_layers: 2\nvocab: 50\nffn: {type: dense, d_ff: 77}\n"
                      "layers:\n  a: {type: gqa, q_heads: 6, kv_heads: 6, head_dim: 16}\n";
    const char *wide = "name: m\nd_model: 96\nn_layers: 2\nvocab: 50\nffn: {type: dense, d_ff: 77}\n"
                       "layers:\n  a: {type: gqa, q_heads: 6, kv_heads: 6, head_dim: 16, window: 1000}\n";
    if (load(mha)) return;
    cost_t a = eval_total(&M, 300, 2, PH_PREFILL), ad = eval_total(&M, 300, 2, PH_DECODE);
    spec_free(&M);
    if (load(wide)) return;
    cost_t b = eval_total(&M, 300, 2, PH_PREFILL), bd = eval_total(&M, 300, 2, PH_DECODE);
    spec_free(&M);
    CHECK("gqa-window-ge-T-equals-global", !memcmp(&a, &b, sizeof a) && !memcmp(&ad, &bd, sizeof ad));
    /* MHA cache per token per layer: 2 x 6 x 16 x 2 B = 384 B; 300 x 2 seq x 2 layers = 460,800 */
    CHECK_EQ("mha-kv", a.kv_bytes, 460800);
}

static void mla(void)
{
    /* d = 64, H = 3, r_q = 24, r = 20, nope = 8, rope = 4, v = 10, T = 13, B = 2. */
    const char *y = "name: m\nd_model: 64\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: mla, q_heads: 3, q_lora_rank: 24, kv_lora_rank: 20, nope_dim: 8, rope_dim: 4, v_head_dim: 10}\n";
    if (load(y)) return;
    /* wq = 64*24 + 24*3*12 = 2400; wkv_a = 64*24 = 1536; wkv_b = 20*3*18 = 1080; wo = 30*64 = 1920
     * prefill (expanded): 2 x 26 tokens x (2400+1536+1920+1080) = 360,672
     * pairs 2 x 13*14/2 = 182; attn 182 x 3 x 2(8+4+10) = 24,024 */
    cost_t t = eval_type(&M, 13, 2, PH_PREFILL, "a");
    CHECK_EQ("mla-prefill-proj", t.flops[FL_PROJ], 360672);
    CHECK_EQ("mla-prefill-attn", t.flops[FL_ATTN], 24024);
    CHECK_EQ("mla-params", t.params, 2400 + 1536 + 1080 + 1920 + 24 + 20 + 2 * 64);   /* + q/kv norms, 2 residual norms */
    /* decode (absorbed): per token 2400+1536+1920 + 3(8*20 + 20*10) = 6936 -> 2 x 2 x 6936 = 27,744;
     * pairs 2 x 14 = 28; attn 28 x 3 x 2(20+4+20) = 7,392 */
    t = eval_type(&M, 13, 2, PH_DECODE, "a");
    CHECK_EQ("mla-decode-proj", t.flops[FL_PROJ], 27744);
    CHECK_EQ("mla-decode-attn", t.flops[FL_ATTN], 7392);
    /* cache: 20 + 4 = 24 bf16 = 48 B; 13 x 2 x 48 = 1,248 */
    CHECK_EQ("mla-kv", t.kv_bytes, 1248);
    spec_free(&M);
}

/* Issue 10 item 4: MLA's two executions, per spec (mla_form) and per run
 * (spec_set_choice, the CLI's --mla-form). Dims of mla() above: d 64, H 3,
 * r_q 24, r 20, nope 8, rope 4, v 10; T = 13, B = 2. Per token the q path,
 * wkv_a and wo are 2400 + 1536 + 1920 = 5856; absorbing costs H(n r + r v)
 * = 3(160 + 200) = 1080 per query, expanding r H(n+v) = 1080 per row. */
static void mla_forms(void)
{
    const char *y = "name: m\nd_model: 64\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: mla, q_heads: 3, q_lora_rank: 24, kv_lora_rank: 20, nope_dim: 8, rope_dim: 4,"
                    " v_head_dim: 10, mla_form: absorbed}\n";
    if (load(y)) return;
    /* absorbed prefill: pairs 182 x 3 x 2(20+4+20) = 48,048 (2x the expanded 24,024 of
     * mla(): 44 against 22 per head and key); proj 2 x 26 x (5856 + 1080) = 360,672, as
     * expanded (H(n r + r v) = r H(n + v) always: absorbing a query costs what expanding
     * a row does) */
    cost_t t = eval_type(&M, 13, 2, PH_PREFILL, "a");
    CHECK_EQ("mla-form-absorbed-prefill-attn", t.flops[FL_ATTN], 48048);
    CHECK_EQ("mla-form-absorbed-prefill-proj", t.flops[FL_PROJ], 360672);
    spec_free(&M);
    const char *sets[] = {"layers.a.mla_form=expanded"};
    if (load_str(&M, y, sets, 1, &E)) { printf("%s\n", E.msg); return; }
    /* expanded decode: 28 keys read (2 x 14), each expanded: 2 x 28 x 1080 = 60,480
     * + 2 x 2 tokens x 5856 = 23,424 -> proj 83,904; attn 28 x 3 x 2(8+4+10) = 3,696 */
    t = eval_type(&M, 13, 2, PH_DECODE, "a");
    CHECK_EQ("mla-form-expanded-decode-proj", t.flops[FL_PROJ], 83904);
    CHECK_EQ("mla-form-expanded-decode-attn", t.flops[FL_ATTN], 3696);
    /* the run-level override wins over the spec: back to absorbed decode (mla(): 27,744 / 7,392) */
    int n = 0;
    CHECK("mla-form-set-all", spec_set_choice(&M, "mla_form", "absorbed", &n, &E) == SIM_OK && n == 1);
    t = eval_type(&M, 13, 2, PH_DECODE, "a");
    CHECK_EQ("mla-form-run-absorbed-decode-proj", t.flops[FL_PROJ], 27744);
    CHECK_EQ("mla-form-run-absorbed-decode-attn", t.flops[FL_ATTN], 7392);
    CHECK("mla-form-bad-value", spec_set_choice(&M, "mla_form", "folded", &n, &E) == SIM_EINVAL &&
                                    strstr(E.msg, "auto|absorbed|expanded"));
    spec_free(&M);
    const char *bad = "name: m\nd_model: 64\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                      "layers:\n  a: {type: mla, q_heads: 3, kv_lora_rank: 20, nope_dim: 8, rope_dim: 4, v_head_dim: 10,"
                      " mla_form: folded}\n";
    CHECK("mla-form-bad-spec", load_str(&M, bad, NULL, 0, &E) == SIM_EINVAL && strstr(E.msg, "<test>:") &&
                                   strstr(E.msg, "mla_form 'folded' is not one of auto|absorbed|expanded"));
    /* DSA (dims of dsa() below, T = 9 decode, top-k 4): expanded reads and expands the 4
     * chosen rows: proj 2 x 5856 + 2 x 4 x 1080 = 20,352; attn 4 x 3 x 2(8+4+10) = 528 */
    const char *d = "name: d\nd_model: 64\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: dsa, q_heads: 3, q_lora_rank: 24, kv_lora_rank: 20, nope_dim: 8, rope_dim: 4,"
                    " v_head_dim: 10, index_heads: 5, index_head_dim: 8, index_topk: 4, mla_form: expanded}\n";
    if (load(d)) return;
    t = eval_type(&M, 9, 1, PH_DECODE, "a");
    CHECK_EQ("dsa-form-expanded-decode-proj", t.flops[FL_PROJ], 20352);
    CHECK_EQ("dsa-form-expanded-decode-attn", t.flops[FL_ATTN], 528);
    spec_free(&M);
    /* DeepSeek-V3 per key: absorbed 2H(2r+p) = 2H x 1088 against expanded 2H(n+p+v) = 2H x 320,
     * 3.4x: the prefill attention FLOPs at 4K in the two forms are in exactly that ratio. */
    if (spec_load(&M, "archs/deepseek-v3.yaml", NULL, 0, &E)) { printf("%s\n", E.msg); return; }
    u64 ex = eval_total(&M, 4096, 1, PH_PREFILL).flops[FL_ATTN];
    spec_set_choice(&M, "mla_form", "absorbed", &n, &E);
    u64 ab = eval_total(&M, 4096, 1, PH_PREFILL).flops[FL_ATTN];
    CHECK("mla-form-v3-ratio-3.4", ex && ab * 320 == ex * 1088);
    spec_free(&M);
}

static void dsa(void)
{
    /* MLA dims as above + indexer Hi = 5, di = 8, top-k 4; T = 9, B = 1, decode.
     * indexer pairs: 10 (all tokens incl. the new one); 10 x 5 x (2*8 + 3) = 950
     * indexer projections: 2 x (24*5*8 + 64*8 + 64*5) = 2 x 1792 = 3,584
     * per token (issue 12 item 3): Hadamard of 5 queries + 1 key, 6 x (8 log2 8
     * + 8) = 192; head weights 5 x 2 = 10 (no fp8: compute.indexer bf16)
     * core: min(10, 4) = 4 latents: 4 x 3 x 2(20+4+20) = 1,056 */
    const char *y = "name: d\nd_model: 64\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: dsa, q_heads: 3, q_lora_rank: 24, kv_lora_rank: 20, nope_dim: 8, rope_dim: 4,"
                    " v_head_dim: 10, index_heads: 5, index_head_dim: 8, index_topk: 4}\n";
    if (load(y)) return;
    cost_t t = eval_type(&M, 9, 1, PH_DECODE, "a");
    CHECK_EQ("dsa-decode-index", t.flops[FL_INDEX], 950 + 3584 + 192 + 10);
    CHECK_EQ("dsa-decode-attn", t.flops[FL_ATTN], 1056);
    /* cache: 9 x (48 latent + 16 index) = 576 */
    CHECK_EQ("dsa-kv", t.kv_bytes, 576);
    /* top-k above the tokens seen: T = 2 sees 3 < 4 latents. */
    CHECK_EQ("dsa-topk-above-T", eval_type(&M, 2, 1, PH_DECODE, "a").flops[FL_ATTN], 3 * 3 * 88);
    /* prefill T = 9: core pairs sum min(u, 4) = 1+2+3+4+5*4 = 30; indexer pairs 45 */
    t = eval_type(&M, 9, 1, PH_PREFILL, "a");
    CHECK_EQ("dsa-prefill-attn", t.flops[FL_ATTN], 30 * 3 * 88);
    CHECK_EQ("dsa-prefill-index", t.flops[FL_INDEX], 45 * 5 * 19 + 9 * (3584 + 192 + 10));
    spec_free(&M);
    /* compute.indexer fp8: act_quant of 6 vectors 6 x (2*8 + 2) = 108, the key
     * scale once per pair 10, head weights 5 x 3 = 15; RoPE (FL_OTHER) 6 x 4 x 3 = 72. */
    const char *sets[] = {"compute={indexer: fp8}"};
    model_spec q8;
    if (load_str(&q8, y, sets, 1, &E)) { printf("%s\n", E.msg); return; }
    t = eval_type(&q8, 9, 1, PH_DECODE, "a");
    CHECK_EQ("dsa-decode-index-fp8", t.flops[FL_INDEX], 950 + 3584 + 192 + 108 + 10 + 15);
    spec_free(&q8);
    /* the Hadamard rotation needs a power-of-two index_head_dim */
    const char *s6[] = {"layers.a.index_head_dim=12"};
    CHECK("dsa-bad-index-dim", load_str(&q8, y, s6, 1, &E) == SIM_EINVAL && strstr(E.msg, "power of two"));
}

static void csa_hca(void)
{
    /* CSA: c = 32, m = 4, top-k 3, window 5, Hi = 2, di = 16, T = 23.
     * Cache per sequence: 5 entries x 64 B + 5 index keys x 32 B + 5 window x 64 B
     * + state min(23, 8) = 8 rows x 2*2*32 fp32 (512 B) + index state 8 x 2*2*16 fp32 (256 B)
     * = 320 + 160 + 320 + 4096 + 2048 = 6,944 B. */
    const char *y = "name: c\nd_model: 40\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: csa, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 12, o_groups: 2,"
                    " o_lora_rank: 6, window: 5, compress_ratio: 4, index_heads: 2, index_head_dim: 16, index_topk: 3}\n";
    if (load(y)) return;
    cost_t t = eval_type(&M, 23, 1, PH_DECODE, "a");
    CHECK_EQ("csa-kv", t.kv_bytes, 6944);
    /* Decode at T = 23: the new token completes block 5 (24/4 = 6 visible);
     * attends min(3, 6) + min(24, 5) = 8 entries: 8 x 4 heads x 4 x 32 = 4,096 */
    CHECK_EQ("csa-decode-attn", t.flops[FL_ATTN], 4096);
    /* Prefill T = 23: selected sum = 0*3 + 1*4 + 2*4 + 3*12 = 48; window sum = 15 + 18*5 = 105
     * -> 153 x 4 x 128 = 78,336 */
    t = eval_type(&M, 23, 1, PH_PREFILL, "a");
    CHECK_EQ("csa-prefill-attn", t.flops[FL_ATTN], 78336);
    /* T not a multiple of m: T = 22 holds 5 entries; T = 3 holds none (block incomplete). */
    CHECK_EQ("csa-kv-T22", eval_total(&M, 22, 1, PH_DECODE).kv_bytes, 320 + 160 + 320 + 4096 + 2048);
    CHECK_EQ("csa-kv-T3", eval_total(&M, 3, 1, PH_DECODE).kv_bytes, 3 * 64 + 3 * 512 + 3 * 256);
    /* top-k >= entries: with top-k 1000 CSA attends every visible entry, as HCA does with m = 4. */
    const char *sets[] = {"layers.a.index_topk=1000"};
    model_spec big;
    if (load_str(&big, y, sets, 1, &E) == 0) {
        CHECK_EQ("csa-topk-all-entries", eval_type(&big, 23, 1, PH_PREFILL, "a").flops[FL_ATTN], (60 + 105) * 4 * 128);
        spec_free(&big);
    }
    spec_free(&M);

    /* HCA m = 8, no overlap: T = 30 holds 3 entries + 5 window + min(30, 8) state rows of 2*32 fp32 (256 B):
     * 3*64 + 5*64 + 8*256 = 2,560 B. Decode: (31/8 = 3) + 5 = 8 entries. */
    const char *h = "name: h\nd_model: 40\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: hca, q_heads: 4, head_dim: 32, rope_dim: 8, q_lora_rank: 12, o_groups: 2,"
                    " o_lora_rank: 6, window: 5, compress_ratio: 8}\n";
    if (load(h)) return;
    t = eval_type(&M, 30, 1, PH_DECODE, "a");
    CHECK_EQ("hca-kv", t.kv_bytes, 2560);
    CHECK_EQ("hca-decode-attn", t.flops[FL_ATTN], 8 * 4 * 128);
    /* V4 core projections per token: wq_a 40*12 + wq_b 12*128 + wkv 40*32 + wo_a 128*6 + wo_b 12*40
     * = 480 + 1536 + 1280 + 768 + 480 = 4,544 -> x2 = 9,088 */
    CHECK_EQ("hca-decode-proj", t.flops[FL_PROJ], 9088);
    /* compressor: wkv + wgate 2 x 32 x 40 = 2,560 weights -> 5,120 FLOPs per token; T = 30 -> 31
     * forms no block (31/8 = 30/8 = 3) */
    CHECK_EQ("hca-decode-compress", t.flops[FL_COMPRESS], 5120);
    /* T = 31 -> 32 forms one: + 32 ch x 8 pooled x (5+3) + 32*4 (norm) + 8*3 (rope) = 2,200 */
    CHECK_EQ("hca-decode-compress-formed", eval_type(&M, 31, 1, PH_DECODE, "a").flops[FL_COMPRESS], 5120 + 2200);
    spec_free(&M);
}

static void cca(void)
{
    /* ZAYA1 shapes (research facts 2): d = 2048, H = 8, G = 2, h = 128, kernels 2 and 2.
     * Attention parameters per layer 5,575,682 = q 2048*1024 + k 2048*256 + v 2*2048*128
     * + o 1024*2048 + convs (1280*2 + 1280 + 1280*128*2 + 1280 = 332,800) + temperature 2. */
    const char *y = "name: z\nd_model: 2048\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "layers:\n  a: {type: cca, q_heads: 8, kv_heads: 2, head_dim: 128, conv_kernel: 2, conv_kernel2: 2}\n";
    if (load(y)) return;
    cost_t t = eval_type(&M, 100, 1, PH_DECODE, "a");
    CHECK_EQ("cca-params", t.params, 5575682 + 2 * 2048);   /* + 2 residual norms */
    /* cache 100 x 2*2*128 bf16 (1024 B) + state: 1280 ch x (1 + 1) + 128 delayed-value, fp32 = 10,752 B */
    CHECK_EQ("cca-kv", t.kv_bytes, 100 * 1024 + 10752);
    /* attention in the latent: 101 keys x 8 heads x 4 x 128 */
    CHECK_EQ("cca-decode-attn", t.flops[FL_ATTN], 101ull * 8 * 512);
    /* Element-wise, one token (issue 12.6, Zyphra's q-k mean coupling): softmax
     * 101 x 8 x 5 = 4,040; ch = 1280: biases 2, mix 4, norm 4 = 12,800;
     * temperature 256; the k channels' group means H h = 1,024; no RoPE. */
    CHECK_EQ("cca-decode-other", t.flops[FL_OTHER], 4040 + 12800 + 256 + 1024 + 2 * 2048 * FLOPS_RMSNORM + 2 * 2048);
    spec_free(&M);
}

/* Gemma 4's executed extras (issue 12.1), one decode token of a 2-layer
 * model, d 64, V 50, head_dim 16, one kv head: v_norm adds 16 x 4 = 64 FLOPs
 * per layer (128 for the 2); embed_scale d = 64 to "embed"; logit_softcap
 * 3 x 50 = 150 to "head" (beside the tied LM head 2 x 64 x 50 = 6,400 and the
 * final norm 64 x 4 = 256); PLE's model part: the projection 2 x 64 x 16 =
 * 2,048 and 2 x 8 elements x (4 + 4) = 128 (the projection's d^-0.5, the
 * table's sqrt(p), the add and the 2^-0.5 beside the norm; was + 2: 96). */
static void gemma4_extras(void)
{
    const char *y = "name: g\nd_model: 64\nn_layers: 2\nvocab: 50\nffn: {type: none}\nple: {dim: 8}\n"
                    "embed_scale: true\nlogit_softcap: 30\n"
                    "layers:\n  a: {type: gqa, q_heads: 2, kv_heads: 1, head_dim: 16, v_norm: true, unit_scale: true}\n";
    const char *off[] = {"layers.a.v_norm=false"};
    model_spec b;
    if (load(y)) return;
    if (load_str(&b, y, off, 1, &E) == 0) {
        cost_t on = eval_type(&M, 5, 1, PH_DECODE, "a"), of = eval_type(&b, 5, 1, PH_DECODE, "a");
        CHECK_EQ("gemma4-v-norm-flops", on.flops[FL_OTHER] - of.flops[FL_OTHER], 2 * 16 * FLOPS_RMSNORM);
        CHECK_EQ("gemma4-v-norm-no-params", on.params, of.params);
        spec_free(&b);
    }
    CHECK_EQ("gemma4-embed-scale", eval_type(&M, 5, 1, PH_DECODE, "embed").flops[FL_OTHER], 64);
    CHECK_EQ("gemma4-softcap", eval_type(&M, 5, 1, PH_DECODE, "head").flops[FL_OTHER], 6400 + 64 * FLOPS_RMSNORM + 150);
    CHECK_EQ("gemma4-ple-model", eval_type(&M, 5, 1, PH_DECODE, "ple").flops[FL_OTHER], 2048 + 2 * 8 * (FLOPS_RMSNORM + 4));
    spec_free(&M);
}

static void ffn_res(void)
{
    /* MoE: d 96, 10 experts of 40 (gated), top-2, 1 shared of 24, linear
     * softmax router without bias (transformers MixtralSparseMoeBlock /
     * Qwen2MoeSparseMoeBlock gate: nn.Linear(d, E, bias=False)).
     * params 10*3*96*40 + 3*96*24 + 96*10 = 115,200 + 6,912 + 960 = 123,072
     * active 2*11,520 + 6,912 + 960 = 30,912; decode FFN FLOPs 2*(96*10 + 2*11,520 + 6,912) = 61,824 */
    const char *y = "name: e\nd_model: 96\nn_layers: 1\nvocab: 50\n"
                    "ffn: {type: moe, experts: 10, top_k: 2, d_ff: 40, shared: 1, shared_d_ff: 24}\n"
                    "layers:\n  a: {type: gqa, q_heads: 1, kv_heads: 1, head_dim: 8}\n";
    if (load(y)) return;
    cost_t full = eval_type(&M, 5, 1, PH_DECODE, "a");
    const char *sets[] = {"ffn={type: none}"};
    model_spec none;
    if (load_str(&none, y, sets, 1, &E) == 0) {
        cost_t a = eval_type(&none, 5, 1, PH_DECODE, "a");
        CHECK_EQ("moe-params", full.params - a.params, 123072);
        CHECK_EQ("moe-active", full.params_active - a.params_active, 30912);
        CHECK_EQ("moe-decode-ffn", full.flops[FL_FFN], 61824);
        /* weights read at decode: 2 experts + shared + router (bf16) = 30,912 x 2 B;
         * prefill of 9 tokens x 2 = 18 > 10 experts reads all: 123,072 x 2 B */
        CHECK_EQ("moe-read-decode", full.weight_read_bytes - a.weight_read_bytes, 30912 * 2);
        cost_t p = eval_type(&M, 9, 1, PH_PREFILL, "a"), pa = eval_type(&none, 9, 1, PH_PREFILL, "a");
        CHECK_EQ("moe-read-prefill-all", p.weight_read_bytes - pa.weight_read_bytes, 123072 * 2);
        spec_free(&none);
    }
    /* LlamaAttention's o_proj bias (o_bias): + d = 96 parameters (active
     * too) and one add per output element: + 96 other FLOPs per token. */
    const char *ob[] = {"layers.a.o_bias=true"};
    model_spec obm;
    if (load_str(&obm, y, ob, 1, &E) == 0) {
        cost_t a = eval_type(&obm, 5, 1, PH_DECODE, "a");
        CHECK_EQ("gqa-o-bias-params", a.params - full.params, 96);
        CHECK_EQ("gqa-o-bias-active", a.params_active - full.params_active, 96);
        CHECK_EQ("gqa-o-bias-other-flops", a.flops[FL_OTHER] - full.flops[FL_OTHER], 96);
        CHECK_EQ("gqa-o-bias-proj-flops", a.flops[FL_PROJ], full.flops[FL_PROJ]);
        spec_free(&obm);
    }
    /* Qwen2-MoE's shared_expert_gate (shared_gate): + d = 96 parameters
     * (active too); decode FFN FLOPs + 2 x 96 (the d x 1 product), other
     * FLOPs + FLOPS_SIGMOID + 96 (sigmoid, d multiplies) per token. */
    const char *sg[] = {"ffn.shared_gate=true"};
    model_spec gated;
    if (load_str(&gated, y, sg, 1, &E) == 0) {
        cost_t a = eval_type(&gated, 5, 1, PH_DECODE, "a");
        CHECK_EQ("moe-shared-gate-params", a.params - full.params, 96);
        CHECK_EQ("moe-shared-gate-active", a.params_active - full.params_active, 96);
        CHECK_EQ("moe-shared-gate-ffn-flops", a.flops[FL_FFN] - full.flops[FL_FFN], 2 * 96);
        CHECK_EQ("moe-shared-gate-other-flops", a.flops[FL_OTHER] - full.flops[FL_OTHER], FLOPS_SIGMOID + 96);
        spec_free(&gated);
    }
    spec_free(&M);
    /* mHC, n = 4, d = 96: per sublayer phi (16+8) x 384 + 24 + 3 + 96 = 9,339; two sublayers 18,678.
     * Traffic per token per sublayer (Table 2): (21 + 13) x 96 + 2 x 24 = 3,312 elements, bf16 x2. */
    const char *h = "name: h\nd_model: 96\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
                    "residual: {type: mhc, streams: 4, sinkhorn_iters: 20}\n"
                    "layers:\n  a: {type: gqa, q_heads: 1, kv_heads: 1, head_dim: 8}\n";
    if (load(h)) return;
    cost_t t = eval_type(&M, 5, 1, PH_DECODE, "a");
    CHECK_EQ("mhc-act-bytes", t.act_bytes, 2 * 3312 * 2);
    /* FLOPs of one decode token, n = 4, C = 96, nC = 384, n^2 + 2n = 24, 20 iterations
     * (res_mhc.c's header, mHC paper): per sublayer the projection 2 x 384 x 24 = 18,432
     * (tf32); norm 4 x 384 = 1,536, sigmoids 2 x 4 x 4 = 32, exp 16, Sinkhorn 20 x 2 x 16 x 2
     * = 1,280, pre-mix 2 x 384 = 768, residual mix 2 x 16 x 96 = 3,072, post 768: 7,472.
     * Two sublayers: 36,864 tf32 + 14,944 = 51,808 mhc FLOPs. */
    CHECK_EQ("mhc-proj-flops-tf32", t.flops_dt[DT_TF32], 36864);
    CHECK_EQ("mhc-flops", t.flops[FL_MHC], 51808);
    spec_free(&M);
}

/* Released MoE blocks and residuals (issue 12 items 6, 9). */
static void released_blocks(void)
{
    /* ZAYA1's router MLP (modeling_zaya.py ZayaRouter), d 96, R 16, 4 experts
     * + skip (outs 5), 4 experts of 40 (gated), top-1: router parameters
     * d R + 3 R (down bias, EDA scale, norm) + 2 (R^2 + R) + R outs + outs
     * (balancing biases) = 1,536 + 48 + 544 + 80 + 5 = 2,213; routed
     * experts 4 x 3 x 96 x 40 = 46,080. Decode FFN FLOPs: 2 (96 x 16 +
     * 2 x 256 + 16 x 5) + 2 x 11,520 = 4,256 + 23,040 = 27,296. */
    const char *z = "name: z\nd_model: 96\nn_layers: 1\nvocab: 50\n"
                    "ffn: {type: moe, experts: 4, top_k: 1, d_ff: 40, router_mlp: 16, skip_route: true}\n"
                    "layers:\n  a: {type: gqa, q_heads: 1, kv_heads: 1, head_dim: 8}\n";
    const char *none[] = {"ffn={type: none}"}, *merge[] = {"residual={type: plain, scaled_merge: true}"};
    model_spec b;
    if (load(z)) return;
    if (load_str(&b, z, none, 1, &E) == 0) {
        cost_t a = eval_type(&M, 5, 1, PH_DECODE, "a"), n = eval_type(&b, 5, 1, PH_DECODE, "a");
        CHECK_EQ("zaya-router-params", a.params - n.params, 2213 + 46080);
        CHECK_EQ("zaya-router-ffn-flops", a.flops[FL_FFN], 27296);
        spec_free(&b);
    }
    /* ResidualScaling (scale_residual_merge): per layer 2 merges x 4 d-vectors
     * = 768 parameters, 2 x 4 x 96 = 768 more FLOPs per token; the
     * embedding's merge (e + hb) hs: 2 d = 192 parameters, 2 d FLOPs. */
    if (load_str(&b, z, merge, 1, &E) == 0) {
        cost_t a = eval_type(&M, 5, 1, PH_DECODE, "a"), m = eval_type(&b, 5, 1, PH_DECODE, "a");
        CHECK_EQ("zaya-merge-params", m.params - a.params, 768);
        CHECK_EQ("zaya-merge-flops", m.flops[FL_OTHER] - a.flops[FL_OTHER], 768);
        CHECK_EQ("zaya-embed-merge-params", eval_type(&b, 5, 1, PH_DECODE, "embed").params - 50 * 96, 192);
        CHECK_EQ("zaya-embed-merge-flops", eval_type(&b, 5, 1, PH_DECODE, "embed").flops[FL_OTHER], 192);
        spec_free(&b);
    }
    spec_free(&M);
    /* Gemma 4 26B-A4B's block (modeling_gemma4.py, enable_moe_block), d 96,
     * 8 experts of 40, top 2, the dense MLP of 24 as the shared expert:
     * against a plain moe with a linear softmax router (d x 8, no bias), the
     * block has a scale d, a per-expert scale 8 and 3 norms of d: + 4 x 96 +
     * 8 = 392 parameters. Element-wise FLOPs per
     * token: 4 RMSNorms of d (4 x 96 x FLOPS_RMSNORM), 2 d for the router
     * input's scales and k = 2 per-expert multiplies. */
    const char *g = "name: g\nd_model: 96\nn_layers: 1\nvocab: 50\n"
                    "ffn: {type: moe, experts: 8, top_k: 2, d_ff: 40, shared: 1, shared_d_ff: 24}\n"
                    "layers:\n  a: {type: gqa, q_heads: 1, kv_heads: 1, head_dim: 8}\n";
    const char *blk[] = {"ffn.gemma4_block=true"};
    if (load(g)) return;
    if (load_str(&b, g, blk, 1, &E) == 0) {
        cost_t a = eval_type(&M, 5, 1, PH_DECODE, "a"), k = eval_type(&b, 5, 1, PH_DECODE, "a");
        CHECK_EQ("gemma4-block-params", k.params - a.params, 392);
        CHECK_EQ("gemma4-block-other-flops", k.flops[FL_OTHER] - a.flops[FL_OTHER], 4 * 96 * FLOPS_RMSNORM + 2 * 96 + 2);
        CHECK_EQ("gemma4-block-ffn-flops", k.flops[FL_FFN], a.flops[FL_FFN]);
        spec_free(&b);
    }
    spec_free(&M);
    /* The checks: MOD's skip belongs to the MLP router; the block needs the
     * dense MLP as its one shared expert. */
    const char *bad1[] = {"ffn={type: moe, experts: 4, top_k: 1, d_ff: 40, skip_route: true}"}, *bad2[] = {"ffn.shared=2"};
    CHECK("skip-route-needs-router-mlp", load_str(&b, z, bad1, 1, &E) != 0 && strstr(E.msg, "skip_route needs router_mlp"));
    CHECK("gemma4-block-needs-one-shared", load_str(&b, g, (const char *[]){"ffn.gemma4_block=true", bad2[0]}, 2, &E) != 0 &&
          strstr(E.msg, "gemma4_block needs shared: 1"));
}

/* DeepSeek V3 routing (issue 12 item 2; inference/model.py Gate). */
static void moe_deepseek(void)
{
    /* d 96, 12 experts of 40 in 4 groups, top-3 from 2 groups, sigmoid, x 2.5;
     * weights: router bf16, bias (small) fp32, experts and linear bf16.
     * Route FLOPs per token (ffn_moe.c): 12 (sigmoid 4 + bias add 1) = 60, group
     * sums 4, normalise 2 adds + 3 divides, scale 3 multiplies: 72.
     * Softmax router instead: 12 x 5 = 60. Decode OTHER FLOPs of the FFN: route
     * + combine 2 d k = 576 + activations 5 x 3 x 40 = 600. */
    const char *y = "name: r\nd_model: 96\nn_layers: 1\nvocab: 50\n"
                    "weights: {linear: bf16, small: fp32, router: bf16}\n"
                    "ffn: {type: moe, experts: 12, top_k: 3, d_ff: 40, score: sigmoid, n_group: 4, topk_group: 2, routed_scale: 2.5}\n"
                    "layers:\n  a: {type: gqa, q_heads: 1, kv_heads: 1, head_dim: 8}\n";
    if (load(y)) return;
    CHECK_EQ("moe-ds-route-flops", moe_route_flops(&M.layer[0].ffn), 72);
    /* A softmax router with routed_scale (DeepSeek V2: 16): 12 x 5 + 3 multiplies = 63. */
    ffn_cfg sf = M.layer[0].ffn;
    sf.score = MOE_SCORE_SOFTMAX;
    CHECK_EQ("moe-softmax-scaled-route-flops", moe_route_flops(&sf), 63);
    cost_t t = eval_type(&M, 5, 1, PH_DECODE, "a");
    const char *sets[] = {"ffn={type: none}"};
    model_spec none;
    if (load_str(&none, y, sets, 1, &E) == 0) {
        cost_t a = eval_type(&none, 5, 1, PH_DECODE, "a");
        CHECK_EQ("moe-ds-other-flops", t.flops[FL_OTHER] - a.flops[FL_OTHER], 72 + 576 + 600);
        /* stored: experts 12 x 3 x 96 x 40 x 2 B = 276,480; router 96 x 12 x 2 B = 2,304; bias 12 x 4 B = 48 */
        CHECK_EQ("moe-ds-weight-bytes", t.weight_bytes - a.weight_bytes, 276480 + 2304 + 48);
        spec_free(&none);
    }
    spec_free(&M);
    /* The rules of the groups, each provoked. */
    static const char *const bad[][2] = {
        {"ffn.n_group=5", "must divide experts"},
        {"ffn.n_group=12", "groups of at least 2"},
        {"ffn.top_k=7", "fewer than top_k"},
        {"ffn.topk_group=5", "exceeds n_group"},
        {"ffn.router_mlp=8", "need a linear router"},
        {"ffn.score=sqrt", "not one of softmax|sigmoid"},
    };
    for (int i = 0; i < 6; i++) {
        model_spec x;
        const char *s1[] = {bad[i][0]};
        int rc = load_str(&x, y, s1, 1, &E);
        char nm[64];
        snprintf(nm, sizeof nm, "moe-ds-bad-%d", i);
        CHECK(nm, rc == SIM_EINVAL && strstr(E.msg, bad[i][1]));
        if (!rc) spec_free(&x);
    }
    /* V3: the gate [256, 7168] is bf16 and its bias fp32 (reference Gate: the
     * weight in the default dtype, the bias torch.float32): 3,670,016 + 1,024 B per MoE layer. */
    if (spec_load(&M, "archs/deepseek-v3.yaml", NULL, 0, &E)) { printf("%s\n", E.msg); return; }
    CHECK_EQ("v3-router-bytes", fmt_rate_bytes(&M.weight[WC_ROUTER], 7168ull * 256, &(bool){false}), 3670016);
    CHECK_EQ("v3-route-flops", moe_route_flops(&M.layer[3].ffn), 256 * 5 + 8 + 23);
    spec_free(&M);
    /* V4-Pro (config.json scoring_func sqrtsoftplus, no groups): 384 x (4 + 1) + 3 x 6 - 1 = 1,937
     * per token; the hash-routed layers 0-2 have no route FLOPs (the cost skips them). */
    if (spec_load(&M, "archs/deepseek-v4-pro.yaml", NULL, 0, &E)) { printf("%s\n", E.msg); return; }
    CHECK_EQ("v4pro-route-flops", moe_route_flops(&M.layer[3].ffn), 1937);
    CHECK("v4pro-hash-layer-keeps-score", M.layer[0].ffn.hash && M.layer[0].ffn.score == MOE_SCORE_SQRTSOFTPLUS);
    spec_free(&M);
}

/* A cost row of an evaluation with speculative decoding (--mtp N). */
static cost_t eval_mtp(const model_spec *m, u64 T, u64 N, const char *name)
{
    cost_query q = {.T = T, .B = 1, .phase = PH_DECODE, .mtp = N};
    cost_result r;
    cost_t t;
    memset(&t, 0, sizeof t);
    if (cost_eval(m, &q, &r, &E)) { printf("cost_eval failed: %s\n", E.msg); return t; }
    if (!name) t = r.total;
    for (int k = 0; name && k < r.n_types; k++)
        if (!strcmp(r.type[k].name, name)) t = r.type[k].c;
    cost_result_free(&r);
    return t;
}

/* MTP modules (issue 12 item 8): stored always, priced with --mtp N. */
static void mtp(void)
{
    /* d 32, V 50, one GQA layer (2 heads of 8, 1 KV head, no RoPE), dense gated FFN 40, bf16;
     * one MTP module of the same kind. */
    const char *y = "name: m\nd_model: 32\nn_layers: 1\nvocab: 50\nffn: {type: dense, d_ff: 40}\n"
                    "layers:\n  a: {type: gqa, q_heads: 2, kv_heads: 1, head_dim: 8}\nmtp: {layers: 1, kind: a}\n";
    if (load(y)) return;
    /* Stored: layer 32x16 + 32x8 x2 + 16x32 = 1,536, FFN 3 x 32 x 40 = 3,840, 2 norms 64;
     * eh_proj 2 x 32 x 32 = 2,048; enorm, hnorm, norm 96: 7,584 parameters, none active. */
    cost_t s = eval_type(&M, 10, 1, PH_DECODE, "mtp");
    CHECK_EQ("mtp-params", s.params, 7584);
    CHECK_EQ("mtp-not-active", s.params_active, 0);
    CHECK_EQ("mtp-no-work-without-drafts", cost_flops(&s) + s.kv_bytes + s.weight_read_bytes, 0);
    /* --mtp 2 at T = 10: the main layer verifies 3 tokens at contexts 10, 11, 12: attention
     * (T+1) x 2 heads x 2 (8 + 8) = 64 (T+1) per token: 64 (11 + 12 + 13) = 2,304; the drafts
     * run the module at contexts 10 and 11: 64 (11 + 12) = 1,472. */
    CHECK_EQ("mtp-verify-attn", eval_mtp(&M, 10, 2, "a").flops[FL_ATTN], 2304);
    cost_t d = eval_mtp(&M, 10, 2, "mtp");
    CHECK_EQ("mtp-draft-attn", d.flops[FL_ATTN], 1472);
    /* Caches: the main layer holds T + N = 12 rows, the module's layer 12 rows; a row
     * is K + V = 2 x 8 x 2 B = 32 B: 384 B each. */
    CHECK_EQ("mtp-kv-main", eval_mtp(&M, 10, 2, "a").kv_bytes, 384);
    CHECK_EQ("mtp-kv-draft", d.kv_bytes, 384);
    /* Head: 3 logit tokens x (2 x 32 x 50 + norm 32 x 4) = 9,984 (one decode: 3,328). */
    CHECK_EQ("mtp-head-logits", eval_mtp(&M, 10, 2, "head").flops[FL_OTHER], 9984);
    /* Drafts: eh_proj 2 x 64 x 32 = 4,096 FL_PROJ each on top of the layer's projections. */
    cost_t one = eval_type(&M, 10, 1, PH_DECODE, "a");
    CHECK_EQ("mtp-draft-proj", d.flops[FL_PROJ], 2 * one.flops[FL_PROJ] + 2 * 4096);
    /* The main layer's weights are read once for the 3 tokens (dense). */
    CHECK_EQ("mtp-verify-weights-once", eval_mtp(&M, 10, 2, "a").weight_read_bytes, one.weight_read_bytes);
    /* --mtp 0 is a plain decode. */
    cost_t z = eval_mtp(&M, 10, 0, NULL), pl = eval_total(&M, 10, 1, PH_DECODE);
    CHECK_EQ("mtp-zero-plain", cost_flops(&z), cost_flops(&pl));
    /* Errors: prefill, a spec without MTP. */
    cost_query q = {.T = 10, .B = 1, .phase = PH_PREFILL, .mtp = 2};
    cost_result r;
    CHECK("mtp-prefill-refused", cost_eval(&M, &q, &r, &E) == SIM_EINVAL && strstr(E.msg, "decode"));
    spec_free(&M);
    if (load("name: n\nd_model: 32\nn_layers: 1\nvocab: 50\nffn: {type: none}\n"
             "layers:\n  a: {type: gqa, q_heads: 2, kv_heads: 1, head_dim: 8}\n")) return;
    q.phase = PH_DECODE;
    CHECK("mtp-without-module", cost_eval(&M, &q, &r, &E) == SIM_EINVAL && strstr(E.msg, "no MTP module"));
    spec_free(&M);
    /* On an mHC residual (DeepSeek-V4-Flash inference/model.py MTPBlock): S = 2 streams.
     * Stored beyond its layer: eh_proj 2,048 + 3 norms 96 + its own head unit hc_head_fn
     * 2 x 2 x 32 = 128, base 2, scale 1: 2,275. */
    if (load("name: h\nd_model: 32\nn_layers: 1\nvocab: 50\nffn: {type: dense, d_ff: 40}\n"
             "residual: {type: mhc, streams: 2, sinkhorn_iters: 3}\n"
             "layers:\n  a: {type: gqa, q_heads: 2, kv_heads: 1, head_dim: 8}\nmtp: {layers: 1, kind: a}\n")) return;
    cost_t ha = eval_type(&M, 10, 1, PH_DECODE, "a"), hm = eval_type(&M, 10, 1, PH_DECODE, "mtp");
    CHECK_EQ("mtp-mhc-params", hm.params - ha.params, 2275);
    /* --mtp 2: per draft e_proj + h_proj on 2 streams: 2 x (32 + 2 x 32) x 32 = 6,144
     * FL_PROJ; the head unit 2 x 64 x 2 + 64 x (4 + 2) = 640 FL_MHC; on top of the layer's. */
    cost_t hd = eval_mtp(&M, 10, 2, "mtp");
    CHECK_EQ("mtp-mhc-draft-proj", hd.flops[FL_PROJ], 2 * ha.flops[FL_PROJ] + 2 * 6144);
    CHECK_EQ("mtp-mhc-draft-head", hd.flops[FL_MHC], 2 * ha.flops[FL_MHC] + 2 * 640);
    spec_free(&M);
}

static void overflow(void)
{
    /* 1M tokens through the 1.6T-parameter V4-Pro in prefill fits in 64 bits. */
    if (spec_load(&M, "archs/deepseek-v4-pro.yaml", NULL, 0, &E)) { printf("%s\n", E.msg); return; }
    cost_query q = {.T = 1 << 20, .B = 1, .phase = PH_PREFILL};
    cost_result r;
    CHECK("overflow-1M-prefill-ok", cost_eval(&M, &q, &r, &E) == SIM_OK && r.total.params > 1500000000000ull);
    cost_result_free(&r);
    /* Batch 2^30 of 1M-token prefills does not: a clear SIM_ERANGE. */
    q.B = 1ull << 30;
    CHECK("overflow-range-error", cost_eval(&M, &q, &r, &E) == SIM_ERANGE && strstr(E.msg, "exceed") &&
                                      strstr(E.msg, "2^64-1") && strstr(E.msg, "flops.attn"));
    spec_free(&M);
}

/* Issue 10 item 5: a 1M-token prefill of Llama-3.1-405B. Every reported count
 * fits in 64 bits; FP8-equivalent FLOPs x2 do not (they are 128-bit). Hand
 * derivation (tests/specs/llama-3.1-405b.yaml: d 16384, 126 layers, H 128,
 * G 8, h = v = 128, rope 128, d_ff 53248, vocab 128256; BF16 linears and
 * attention weigh 2 FP8-eq FLOPs per FLOP, FP32 element-wise 4), T = 2^20:
 *   pairs = T(T+1)/2 = 549,756,338,176
 *   attn  = 126 x pairs x H x 2(h+v) = 126 x 549756338176 x 65536 = 4,539,632,753,716,494,336
 *   proj  = 126 x 2T (2 x 16384^2 + 16384 x 2048) = 150,729,850,028,556,288
 *   ffn   = 126 x 2T x 3 x 16384 x 53248 = 691,584,017,778,081,792
 *   bf16  = attn + proj + ffn + head 2 x 16384 x 128256
 *   fp32  = 126 (5 pairs H + T(H+G) 128 x 3 + 5 T d_ff + T d (2 x 4 + 2)) + 4 x 16384
 *   flops = bf16 + fp32 = 5,426,342,699,118,690,304 (< 2^64-1 = 18,446,744,073,709,551,615)
 *   FP8-eq = 2 bf16 + 4 fp32 = 10,941,477,545,023,111,168; x2 = 21,882,955,090,046,222,336 > 2^64-1 */
static void range_405b(void)
{
    if (spec_load(&M, "tests/specs/llama-3.1-405b.yaml", NULL, 0, &E)) { printf("%s\n", E.msg); return; }
    u64 T = 1ull << 20, pairs = T * (T + 1) / 2;
    cost_query q = {.T = T, .B = 1, .phase = PH_PREFILL};
    cost_result r;
    int rc = cost_eval(&M, &q, &r, &E);
    CHECK("range-405b-1M-prefill-ok", rc == SIM_OK);
    if (rc) { printf("%s\n", E.msg); spec_free(&M); return; }
    const cost_t *t = &r.total;
    u64 attn = 126 * pairs * 65536, proj = 126 * 2 * T * (2 * 16384ull * 16384 + 16384ull * 2048);
    u64 ffn = 126 * 2 * T * 3 * 16384ull * 53248, head = 2 * 16384ull * 128256;
    u64 fp32 = 126 * (5 * pairs * 128 + T * 136 * 128 * 3 + 5 * T * 53248 + T * 16384 * 10) + 4 * 16384;
    u64 bf16 = attn + proj + ffn + head;
    CHECK_EQ("range-405b-attn", t->flops[FL_ATTN], 4539632753716494336ull);
    CHECK_EQ("range-405b-attn-formula", t->flops[FL_ATTN], attn);
    CHECK_EQ("range-405b-proj", t->flops[FL_PROJ], proj);
    CHECK_EQ("range-405b-ffn", t->flops[FL_FFN], ffn);
    CHECK_EQ("range-405b-flops", cost_flops(t), 5426342699118690304ull);
    CHECK_EQ("range-405b-flops-formula", cost_flops(t), bf16 + fp32);
    /* KV: 126 layers x T x 8 heads x 256 x 2 B = 541,165,879,296 */
    CHECK_EQ("range-405b-kv", t->kv_bytes, 541165879296ull);
    /* params as Meta publishes them: 405,853,388,800 */
    CHECK_EQ("range-405b-params", t->params, 405853388800ull);
    u128 x2 = (u128)bf16 * 4 + (u128)fp32 * 8;
    CHECK("range-405b-fp8eq-x2-exact", t->flops_fp8eq_x2 == x2);
    CHECK("range-405b-fp8eq-x2-beyond-64-bits", t->flops_fp8eq_x2 > (u128)UINT64_MAX);
    char buf[48];
    cost_fp8eq_str(t, buf, sizeof buf);
    CHECK("range-405b-fp8eq-str", !strcmp(buf, "10941477545023111168"));
    cost_result_free(&r);
    /* Batch 2: FP8-eq FLOPs themselves pass 2^64 (21,882,955,090,046,222,336); printed exactly. */
    q.B = 2;
    rc = cost_eval(&M, &q, &r, &E);
    CHECK("range-405b-batch2-ok", rc == SIM_OK);
    if (!rc) {
        cost_fp8eq_str(&r.total, buf, sizeof buf);
        CHECK("range-405b-batch2-fp8eq-str", !strcmp(buf, "21882955090046222336"));
        cost_result_free(&r);
    }
    /* Batch 8: attention FLOPs 8 x 4.54e18 = 3.6e19 genuinely do not fit; the
     * error names them (and the FLOP sum), not the FFN (5.5e18 fits). */
    q.B = 8;
    rc = cost_eval(&M, &q, &r, &E);
    CHECK("range-405b-batch8-erange", rc == SIM_ERANGE);
    CHECK("range-405b-batch8-names-attn", strstr(E.msg, "flops.attn") != NULL);
    CHECK("range-405b-batch8-names-sum", strstr(E.msg, "flops (the categories' sum)") != NULL);
    CHECK("range-405b-batch8-not-ffn", strstr(E.msg, "flops.ffn") == NULL && strstr(E.msg, "kv_bytes") == NULL);
    spec_free(&M);
}

/* Every count of a and b equal (field by field: cost_t has padding). */
static bool cost_same(const cost_t *a, const cost_t *b)
{
    bool ok = a->flops_fp8eq_x2 == b->flops_fp8eq_x2;
    for (int j = 0; j < FL_COUNT; j++) ok &= a->flops[j] == b->flops[j];
    for (int j = 0; j < DT_COUNT; j++) ok &= a->flops_dt[j] == b->flops_dt[j];
    return ok && a->kv_bytes == b->kv_bytes && a->kv_read_bytes == b->kv_read_bytes &&
           a->kv_written_bytes == b->kv_written_bytes && a->weight_read_bytes == b->weight_read_bytes &&
           a->act_bytes == b->act_bytes && a->params == b->params && a->params_active == b->params_active &&
           a->params_embed == b->params_embed && a->weight_bytes == b->weight_bytes;
}

/* One query by the spec's plan (spec_plan's units and pairs, plain sums
 * under a bound) and by walking every layer (plan_n = 0: the checked sums
 * of the first implementation): the same status, message, rows, layers and
 * totals. */
static bool plan_equals_walk(model_spec *m, const cost_query *q)
{
    cost_result a, b;
    sim_err ea = {{0}}, eb = {{0}};
    int ra = cost_eval(m, q, &a, &ea);
    u64 plan_n = m->plan_n;
    m->plan_n = 0;
    int rb = cost_eval(m, q, &b, &eb);
    m->plan_n = plan_n;
    bool ok = ra == rb;
    if (ok && ra) ok = !strcmp(ea.msg, eb.msg);
    if (ok && !ra) {
        ok = a.n_types == b.n_types && a.n_layers == b.n_layers && cost_same(&a.total, &b.total);
        for (int k = 0; ok && k < a.n_types; k++)
            ok = !strcmp(a.type[k].name, b.type[k].name) && a.type[k].layers == b.type[k].layers &&
                 cost_same(&a.type[k].c, &b.type[k].c);
        for (int i = 0; ok && i < a.n_layers; i++) ok = cost_same(&a.layer[i], &b.layer[i]);
    }
    if (!ra) cost_result_free(&a);
    if (!rb) cost_result_free(&b);
    return ok;
}

/* Every shipped spec, both phases, causal and not, one and several
 * sequences, with and without the per-layer costs, at the edges of the
 * closed forms, at 1M and past 2^64 (SIM_ERANGE, its message naming the
 * same counts): the plan and the walk agree. */
static void plan_vs_walk(void)
{
    glob_t g;
    int n = 0;
    if (glob("archs/*.yaml", 0, NULL, &g) || glob("archs/tiny/*.yaml", GLOB_APPEND, NULL, &g)) { CHECK("plan-glob", 0); return; }
    static const u64 ctx[] = {1, 2, 37, 4099, 1 << 20, 1ull << 33};
    for (size_t s = 0; s < g.gl_pathc; s++) {
        model_spec m;
        sim_err e;
        if (spec_load(&m, g.gl_pathv[s], NULL, 0, &e)) { CHECK("plan-spec", 0); continue; }
        bool ok = m.plan_n == m.n_layers;   /* every shipped spec has a plan */
        for (size_t t = 0; t < sizeof ctx / sizeof ctx[0]; t++)
            for (int v = 0; v < 16; v++) {
                if ((v & 2) && (v & 8)) continue;   /* noncausal is a prefill's */
                cost_query q = {.T = ctx[t], .B = v & 1 ? 3 : 1, .phase = v & 2 ? PH_DECODE : PH_PREFILL,
                                .rows_only = v & 4, .noncausal = v & 8};
                ok &= plan_equals_walk(&m, &q);
                q.B = 1ull << 20;   /* large batches: sums past 2^64 take the checked path */
                ok &= plan_equals_walk(&m, &q);
            }
        char name[96];
        snprintf(name, sizeof name, "plan-equals-walk-%s", g.gl_pathv[s] + 6);
        CHECK(name, ok);
        n++;
        spec_free(&m);
    }
    CHECK("plan-specs-tried", n >= 20);
    globfree(&g);
}

/* cost_wrate_bytes (the prepared format) against fmt_rate_bytes for fixed
 * formats whose element count is a power of two (divided by a shift) or
 * not (divided), and for 128-bit products and saturation. */
static void wrate_fixed(void)
{
    fmt g = {.name = "fixed", .n_parts = 2, .pad_bytes = 1};   /* V4's 584-byte entry: 512 elements */
    g.part[0] = (fmt_part){.elements = 448, .dt = DT_FP8_E4M3, .scaled = true, .scale_dt = DT_UE8M0, .block = 64};
    g.part[1] = (fmt_part){.elements = 64, .dt = DT_BF16};
    fmt h = g;   /* 520 elements */
    h.part[1].elements = 72;
    static const u64 big[] = {1ull << 40, (1ull << 58) + 3, 3ull << 60, UINT64_MAX / 2, UINT64_MAX};
    bool ok = true;
    for (int k = 0; k < 2; k++) {
        const fmt *f = k ? &h : &g;
        cost_wrate w;
        ok &= cost_wrate_prep(&w, f) == SIM_OK && (w.fixed_shift >= 0) == (k == 0);
        for (u64 n = 1; n < 3000; n += 37) {
            bool o1 = false, o2 = false;
            ok &= cost_wrate_bytes(&w, n, &o1) == fmt_rate_bytes(f, n, &o2);
        }
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
            bool o1 = false, o2 = false;
            ok &= cost_wrate_bytes(&w, big[i], &o1) == fmt_rate_bytes(f, big[i], &o2) && o1 == o2;
        }
    }
    CHECK("wrate-fixed-shift-and-divide", ok);
}

int main(void)
{
    closed_forms();
    noncausal();
    gqa();
    mla();
    mla_forms();
    dsa();
    csa_hca();
    cca();
    gemma4_extras();
    ffn_res();
    released_blocks();
    moe_deepseek();
    mtp();
    overflow();
    range_405b();
    plan_vs_walk();
    wrate_fixed();
    return check_done("test_cost");
}
