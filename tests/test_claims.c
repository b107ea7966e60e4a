/* test_claims.c - the published numbers of issue 2 item 7, each with its
 * source, reproduced from the shipped specs. Where kvsim differs by more than
 * 1 percentage point (2% for parameters) the reason is written beside it. */
#include "check.h"
#include "util.h"

#define M1 1048576ull   /* 1M tokens */
#define K128 131072ull

static int load(model_spec *m, const char *path, const char *const *sets, int n)
{
    sim_err e;
    if (spec_load(m, path, sets, n, &e)) { printf("load %s: %s\n", path, e.msg); return 1; }
    return 0;
}

static double pct(double a, double b) { return 100.0 * a / b; }

/* Bytes of every cache buffer whose name ends in `suffix`, all layers, at T. */
static u64 kv_named(const model_spec *m, u64 T, const char *suffix)
{
    u64 sum = 0;
    for (u64 i = 0; i < m->n_layers; i++) {
        kv_buf b[KV_MAX_BUFS];
        sim_err e;
        int n = cost_kv_table(m, (int)i, T, b, &e);
        for (int k = 0; k < n; k++) {
            size_t lb = strlen(b[k].name), ls = strlen(suffix);
            if (lb >= ls && !strcmp(b[k].name + lb - ls, suffix)) sum += b[k].entries * b[k].entry_bytes;
        }
    }
    return sum;
}

static u64 shared_layers(const model_spec *m)
{
    u64 n = 0;
    for (u64 i = 0; i < m->n_layers; i++) n += m->layer[i].shared_kv;
    return n;
}

/* Entry bytes of the first layer of kind "sliding" (0 when none). */
static u64 sliding_entry_bytes(const model_spec *m)
{
    for (u64 i = 0; i < m->n_layers; i++) {
        kv_buf b[KV_MAX_BUFS];
        sim_err e;
        if (strcmp(m->kind_name[m->layer[i].kind], "sliding") || m->layer[i].shared_kv) continue;
        return cost_kv_table(m, (int)i, 1, b, &e) >= 1 ? b[0].entry_bytes : 0;
    }
    return 0;
}

int main(void)
{
    model_spec v3, v32, pro, flash, gqa8, e2b, e4b;
    if (load(&v3, "archs/deepseek-v3.yaml", NULL, 0) || load(&v32, "archs/deepseek-v3.2.yaml", NULL, 0) ||
        load(&pro, "archs/deepseek-v4-pro.yaml", NULL, 0) || load(&flash, "archs/deepseek-v4-flash.yaml", NULL, 0) ||
        load(&gqa8, "archs/gqa8-hd128-61l.yaml", NULL, 0) || load(&e2b, "archs/gemma4-e2b.yaml", NULL, 0) ||
        load(&e4b, "archs/gemma4-e4b.yaml", NULL, 0))
        return 1;

    /* DeepSeek-V3 70,272 B/token in BF16 (research/deepseek.md 1: (512 + 64) x 2 B x 61;
     * "70 KB per token", Insights into DeepSeek-V3, ISCA'25). One cached token: */
    CHECK_EQ("claim-v3-kv-per-token", eval_total(&v3, 1, 1, PH_DECODE).kv_bytes, 70272);
    CHECK_EQ("claim-v3-kv-1M", eval_total(&v3, M1, 1, PH_DECODE).kv_bytes, 70272ull * M1);

    /* V3.2 about 50.4 GB at 1M (V4 paper Fig. 1 as read by research/deepseek.md 4.2):
     * 61 x (656 + 132) x 2^20 = 50,402,410,496 B exactly. */
    cost_t k32 = eval_total(&v32, M1, 1, PH_DECODE);
    CHECK_EQ("claim-v32-kv-1M-exact", k32.kv_bytes, 61ull * 788 * M1);
    CHECK_CLOSE("claim-v32-kv-1M-GB", k32.kv_bytes / 1e9, 50.4, 0.504);

    /* V4 paper abstract: at 1M, V4-Pro needs 10% of V3.2's KV cache (Fig. 1: 9.5x smaller),
     * V4-Flash 7% (13.7x). kvsim counts the compressor tail state too (Pro 18.7 MB, about
     * 0.35% of its cache), which the paper's figure leaves out; both stay within 1 pp. */
    cost_t kp = eval_total(&pro, M1, 1, PH_DECODE), kf = eval_total(&flash, M1, 1, PH_DECODE);
    CHECK_CLOSE("claim-v4pro-kv-pct-of-v32", pct(kp.kv_bytes, k32.kv_bytes), 10.0, 1.0);
    CHECK_CLOSE("claim-v4pro-kv-9.5x", pct(kp.kv_bytes, k32.kv_bytes), 100.0 / 9.5, 1.0);
    CHECK_CLOSE("claim-v4flash-kv-pct-of-v32", pct(kf.kv_bytes, k32.kv_bytes), 7.0, 1.0);
    CHECK_CLOSE("claim-v4flash-kv-13.7x", pct(kf.kv_bytes, k32.kv_bytes), 100.0 / 13.7, 1.0);
    /* Without the tail state the Pro cache is exactly research/deepseek.md 4.2's 5.280 GB:
     * 30 x (2^18 x (584 + 68) + 128 x 584) + 31 x (2^13 x 584 + 128 x 584). */
    /* The tail state as kvsim's size table holds it (every "state" / "index_state"
     * buffer at 1M), against research facts 5's 18,710,528 B =
     * 30 x (8 x 8192 + 8 x 2048) + 31 x 128 x 4096. */
    u64 pro_state = kv_named(&pro, M1, "state");
    CHECK_EQ("claim-v4pro-state-bytes", pro_state, 18710528);
    CHECK_EQ("claim-v4pro-kv-no-state", kp.kv_bytes - pro_state,
             30ull * ((M1 / 4) * (584 + 68) + 128 * 584) + 31ull * ((M1 / 128) * 584 + 128 * 584));

    /* V4 paper 2.3.4: V4's cache is about 2% of the BF16 GQA8 head-dim-128 baseline at 1M
     * (4096 B per token per layer x 61 = 262.0 GB). */
    cost_t kg = eval_total(&gqa8, M1, 1, PH_DECODE);
    CHECK_EQ("claim-gqa8-kv-1M", kg.kv_bytes, 4096ull * 61 * M1);
    CHECK_CLOSE("claim-v4pro-kv-pct-of-gqa8", pct(kp.kv_bytes, kg.kv_bytes), 2.0, 1.0);

    /* V4 paper abstract and section 1: single-token inference FLOPs at 1M in equivalent FP8
     * FLOPs, Pro 27% of V3.2 (3.7x lower), Flash 10% (9.8x lower). kvsim weights each FLOP
     * by its compute dtype (dtype.c: FP4 indexer 0.5, FP8 linears 1, BF16 attention 2). */
    cost_t f32 = eval_total(&v32, M1, 1, PH_DECODE), fp = eval_total(&pro, M1, 1, PH_DECODE),
           ff = eval_total(&flash, M1, 1, PH_DECODE);
    CHECK_CLOSE("claim-v4pro-fp8eq-flops-pct", pct(fp.flops_fp8eq_x2, f32.flops_fp8eq_x2), 27.0, 1.0);
    CHECK_CLOSE("claim-v4flash-fp8eq-flops-pct", pct(ff.flops_fp8eq_x2, f32.flops_fp8eq_x2), 10.0, 1.0);

    /* Gemma 4 KV sharing at 128K in BF16: published ~2.7 GB (E2B) and ~6 GB (E4B) saved
     * (Raschka, May 2026). kvsim caps sliding layers at their 512-token window, so sharing
     * saves less: E2B 4 full x 131072 x 2048 + 16 sliding x 512 x 1024 = 1,082,130,432 B;
     * E4B 3 x 131072 x 4096 + 15 x 512 x 2048 = 1,626,341,376 B (research/gemma4.md).
     * The published E2B figure equals 20 x 131072 x 1024 = 2,684,354,560 B: every shared
     * layer counted as an uncapped 1 KiB/token layer. The uncapped view (window >= T)
     * gives 3.22 GB (E2B) and 5.64 GB (E4B, the published ~6 GB). So the claim differs by
     * more than 1 pp because it ignores the sliding windows; both views are asserted. */
    const char *noshare[] = {"kv_sharing.shared_layers=0"};
    const char *nowin[] = {"layers.sliding.window=131072"};
    const char *nowin_noshare[] = {"layers.sliding.window=131072", "kv_sharing.shared_layers=0"};
    model_spec t;
    u64 with = eval_total(&e2b, K128, 1, PH_DECODE).kv_bytes, without = 0, uw = 0, uwo = 0;
    if (!load(&t, "archs/gemma4-e2b.yaml", noshare, 1)) { without = eval_total(&t, K128, 1, PH_DECODE).kv_bytes; spec_free(&t); }
    if (!load(&t, "archs/gemma4-e2b.yaml", nowin, 1)) { uw = eval_total(&t, K128, 1, PH_DECODE).kv_bytes; spec_free(&t); }
    if (!load(&t, "archs/gemma4-e2b.yaml", nowin_noshare, 2)) { uwo = eval_total(&t, K128, 1, PH_DECODE).kv_bytes; spec_free(&t); }
    CHECK_EQ("claim-gemma4-e2b-sharing-saves-capped", without - with, 1082130432);
    CHECK_EQ("claim-gemma4-e2b-sharing-saves-uncapped", uwo - uw, 4ull * K128 * 2048 + 16ull * K128 * 1024);
    /* kvsim's count of E2B's shared layers times its entry size of an uncapped
     * sliding layer (1 KV head x 256 x (K + V) x 2 B = 1 KiB) at 128K. */
    CHECK_EQ("claim-gemma4-e2b-published-is-20x1KiB", shared_layers(&e2b) * K128 * sliding_entry_bytes(&e2b), 2684354560ull);
    with = eval_total(&e4b, K128, 1, PH_DECODE).kv_bytes;
    if (!load(&t, "archs/gemma4-e4b.yaml", noshare, 1)) { without = eval_total(&t, K128, 1, PH_DECODE).kv_bytes; spec_free(&t); }
    if (!load(&t, "archs/gemma4-e4b.yaml", nowin, 1)) { uw = eval_total(&t, K128, 1, PH_DECODE).kv_bytes; spec_free(&t); }
    if (!load(&t, "archs/gemma4-e4b.yaml", nowin_noshare, 2)) { uwo = eval_total(&t, K128, 1, PH_DECODE).kv_bytes; spec_free(&t); }
    CHECK_EQ("claim-gemma4-e4b-sharing-saves-capped", without - with, 1626341376);
    CHECK_CLOSE("claim-gemma4-e4b-sharing-saves-uncapped-GB", (uwo - uw) / 1e9, 6.0, 0.4);

    /* Parameters (2% tolerance). V3: 671B total / 37B active (DeepSeek-V3 README). Since
     * issue 12 item 8 the specs carry their MTP module, counted in every total: the
     * README's 671B is the main model ("685B ... 671B of the Main Model weights and 14B of
     * the MTP Module"), so the main model's part is compared: total - the `mtp` row.
     * The MTP module: one MLA + MoE block 11.5B + eh_proj 2 x 7168^2 = 0.10B = 11.61B; the
     * checkpoint's 14B also holds its own copies of the embedding and head (2 x 129280 x
     * 7168 = 1.85B), which the reference code shares: 682.6B + 1.85B = 684.5B ~ 685B. */
    cost_t p3 = eval_total(&v3, 1, 1, PH_DECODE), m3 = eval_type(&v3, 1, 1, PH_DECODE, "mtp");
    CHECK_CLOSE("claim-v3-params-total", (p3.params - m3.params) / 1e9, 671.0, 671.0 * 0.02);
    CHECK_CLOSE("claim-v3-params-mtp", m3.params / 1e9, 11.61, 0.01);
    CHECK_CLOSE("claim-v3-params-checkpoint", (p3.params + 2 * 129280.0 * 7168) / 1e9, 685.0, 685.0 * 0.002);
    CHECK_CLOSE("claim-v3-params-active", p3.params_active / 1e9, 37.0, 37.0 * 0.02);
    CHECK_EQ("claim-v3-mtp-not-active", m3.params_active, 0);
    /* V4-Pro 1.6T / 49B (V4 paper). Without its MTP block kvsim had 1.573T (1.7% below);
     * with it (one sliding-window-only layer with the 384-expert MoE and mHC: 25.84B) the
     * total is 1.5988T, 0.07% from 1.6T: the published figure includes the MTP block. */
    cost_t pp = eval_total(&pro, 1, 1, PH_DECODE), mp = eval_type(&pro, 1, 1, PH_DECODE, "mtp");
    CHECK_CLOSE("claim-v4pro-params-total", pp.params / 1e12, 1.6, 1.6 * 0.002);
    CHECK_CLOSE("claim-v4pro-params-main", (pp.params - mp.params) / 1e12, 1.573, 0.001);
    CHECK_CLOSE("claim-v4pro-params-active", pp.params_active / 1e9, 49.0, 49.0 * 0.02);
    /* V4-Flash 284B / 13B. Active: kvsim 13.27B (research 3.6 tallies 13.3B from the tensor
     * shapes); the paper rounds to whole billions, so "13B" stands for 12.5-13.5B: assert
     * against that band rather than 2% of 13. */
    /* Total: 284B is the main model (284.3B; with the 6.6B MTP block kvsim gives 290.9B,
     * which "284B" does not round from): Flash's figure leaves its MTP block out. */
    cost_t pf = eval_total(&flash, 1, 1, PH_DECODE), mf = eval_type(&flash, 1, 1, PH_DECODE, "mtp");
    CHECK_CLOSE("claim-v4flash-params-total", (pf.params - mf.params) / 1e9, 284.0, 284.0 * 0.02);
    CHECK_CLOSE("claim-v4flash-params-with-mtp", pf.params / 1e9, 290.9, 0.1);
    CHECK_CLOSE("claim-v4flash-params-active", pf.params_active / 1e9, 13.0, 0.5);
    CHECK_CLOSE("claim-v4flash-params-active-research", pf.params_active / 1e9, 13.3, 13.3 * 0.02);
    /* Gemma 4 E2B: 2.3B effective, 5.1B with embeddings (model card). Effective = all but
     * the PLE tables (Google's definition): 2.28B. kvsim models the text decoder only
     * (4.63B); the card's 5.1B adds the vision and audio encoders (about 0.15B + 0.3B,
     * research facts 3.2), so kvsim is 9% under the published total: asserted as text
     * total + encoders rather than against 5.1B within 2%. */
    cost_query q = {.T = 1, .B = 1, .phase = PH_DECODE};
    cost_result r;
    sim_err e;
    if (cost_eval(&e2b, &q, &r, &e) == 0) {
        u64 ple = 0;
        for (int k = 0; k < r.n_types; k++)
            if (!strcmp(r.type[k].name, "ple")) ple = r.type[k].c.params_embed;
        CHECK_CLOSE("claim-gemma4-e2b-effective", (r.total.params - ple) / 1e9, 2.3, 2.3 * 0.02);
        /* PLE table 262144 x 35 x 256 = 2,348,810,240 */
        CHECK_EQ("claim-gemma4-e2b-ple-table", ple, 262144ull * 35 * 256);
        CHECK_CLOSE("claim-gemma4-e2b-total-text", r.total.params / 1e9, 4.629, 0.01);
        CHECK_CLOSE("claim-gemma4-e2b-total-with-encoders", r.total.params / 1e9 + 0.45, 5.1, 5.1 * 0.02);
        cost_result_free(&r);
    }
    spec_free(&v3); spec_free(&v32); spec_free(&pro); spec_free(&flash); spec_free(&gqa8); spec_free(&e2b); spec_free(&e4b);
    return check_done("test_claims");
}
