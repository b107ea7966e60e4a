/* test_dtype.c - storage formats: entry sizes from parts, scales and padding. */
#include "check.h"
#include "util.h"

static u64 entry(const char *yaml_formats, const char *name, u64 n)
{
    /* Build a throwaway spec holding the formats, then size an entry. */
    char buf[2048];
    snprintf(buf, sizeof buf,
             "name: t\nd_model: 64\nn_layers: 1\nvocab: 10\nformats:\n%s\nffn: {type: none}\n"
             "layers:\n  a: {type: gqa, q_heads: 1, kv_heads: 1, head_dim: 8}\n", yaml_formats);
    model_spec m;
    sim_err e;
    if (load_str(&m, buf, NULL, 0, &e)) { printf("load failed: %s\n", e.msg); return 0; }
    u64 b = 0;
    for (int i = 0; i < m.n_formats; i++)
        if (!strcmp(m.formats[i].name, name) && fmt_entry_bytes(&m.formats[i], n, &b, &e)) printf("%s\n", e.msg);
    spec_free(&m);
    return b;
}

int main(void)
{
    /* DeepSeek V3.2 FP8 MLA entry, FlashMLA README: 512 fp8 + 4 fp32 scales + 64 bf16 = 656 B. */
    CHECK_EQ("fmt-656-v32-mla", entry("  f:\n    parts:\n      - {elements: 512, dtype: fp8_e4m3, scale: fp32, block: 128}\n"
                                      "      - {elements: 64, dtype: bf16}\n", "f", 576), 656);
    /* DeepSeek V4 MODEL1 entry, FlashMLA sparse_decode.h: 448 + 64*2 + 448/64 + 1 = 584 B. */
    CHECK_EQ("fmt-584-v4-main", entry("  f:\n    parts:\n      - {elements: 448, dtype: fp8, scale: ue8m0, block: 64}\n"
                                      "      - {elements: 64, dtype: bf16}\n    pad: 1\n", "f", 512), 584);
    /* The same 583 B rounded up by alignment instead of an explicit pad byte. */
    CHECK_EQ("fmt-584-by-align", entry("  f:\n    parts:\n      - {elements: 448, dtype: fp8, scale: ue8m0, block: 64}\n"
                                       "      - {elements: 64, dtype: bf16}\n    align: 8\n", "f", 512), 584);
    /* V4 FP4 indexer key (MXFP4): 128/2 + 128/32 = 68 B. */
    CHECK_EQ("fmt-68-fp4-index", entry("  f:\n    parts: [{elements: 128, dtype: fp4, scale: ue8m0, block: 32}]\n", "f", 128), 68);
    /* V3.2 FP8 indexer key: 128 + one fp32 scale = 132 B. */
    CHECK_EQ("fmt-132-fp8-index", entry("  f:\n    parts: [{elements: 128, dtype: fp8, scale: fp32, block: 128}]\n", "f", 128), 132);
    /* An adapting single-part format: 200 fp8 values with one fp16 scale per 64
     * (4 blocks, the last partial): 200 + 4*2 = 208 B. */
    CHECK_EQ("fmt-adapt-partial-block", entry("  f:\n    parts: [{dtype: fp8, scale: fp16, block: 64}]\n", "f", 200), 208);
    /* Bare dtypes: 576 bf16 = 1152 B (V3 MLA latent); 37 int4 -> ceil(18.5) = 19 B. */
    fmt f;
    u64 b = 0;
    sim_err e;
    fmt_from_dtype(&f, DT_BF16);
    fmt_entry_bytes(&f, 576, &b, &e);
    CHECK_EQ("fmt-bf16-576", b, 1152);
    fmt_from_dtype(&f, DT_INT4);
    fmt_entry_bytes(&f, 37, &b, &e);
    CHECK_EQ("fmt-int4-odd", b, 19);
    /* A fixed format refuses an entry of another size. */
    CHECK_EQ("fmt-mismatch-zero", entry("  f:\n    parts: [{elements: 128, dtype: fp8}]\n", "f", 129), 0);
    /* Rate bytes for weights: 3072 x 7168 MXFP4 (17 B per 32) = 22,020,096 * 17 / 32 = 11,698,176 B
     * (V4-Pro expert w1: int8 [3072, 3584] + e8m0 [3072, 224] = 11,010,048 + 688,128). */
    bool ovf = false;
    fmt mx = {.n_parts = 1};
    mx.part[0] = (fmt_part){.elements = 32, .dt = DT_FP4_E2M1, .scaled = true, .scale_dt = DT_UE8M0, .block = 32};
    CHECK_EQ("fmt-rate-mxfp4-expert", fmt_rate_bytes(&mx, 3072ull * 7168, &ovf), 11698176);
    CHECK("fmt-rate-no-overflow", !ovf);
    /* The FP8-equivalent weights (dtype.c table): fp4 0.5, fp8 1, bf16 2, fp32 4 (in halves). */
    CHECK_EQ("fp8eq-fp4", dtype_table[DT_FP4_E2M1].fp8eq_half, 1);
    CHECK_EQ("fp8eq-fp8", dtype_table[DT_FP8_E4M3].fp8eq_half, 2);
    CHECK_EQ("fp8eq-bf16", dtype_table[DT_BF16].fp8eq_half, 4);
    CHECK_EQ("fp8eq-fp32", dtype_table[DT_FP32].fp8eq_half, 8);
    return check_done("test_dtype");
}
