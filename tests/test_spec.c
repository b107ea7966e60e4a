/* test_spec.c - the spec language: patterns, overrides, per-layer lists, KV
 * sharing (Gemma 4's rule), --set paths and defaults. */
#include "check.h"
#include "util.h"

static const char *base =
    "name: t\nd_model: 96\nn_layers: 7\nvocab: 1000\nffn: {type: dense, d_ff: 200}\n"
    "layers:\n"
    "  s: {type: gqa, q_heads: 6, kv_heads: 2, head_dim: 16, window: 11}\n"
    "  f: {type: gqa, q_heads: 6, kv_heads: 2, head_dim: 32}\n";

static int kinds(const model_spec *m, const char *want)
{
    for (u64 i = 0; i < m->n_layers; i++)
        if (m->kind_name[m->layer[i].kind][0] != want[i]) return 0;
    return 1;
}

int main(void)
{
    model_spec m;
    sim_err e;
    char buf[4096];

    snprintf(buf, sizeof buf, "%spattern: {every: 3, offset: 2, kind: f, else: s}\n", base);
    CHECK("spec-every", load_str(&m, buf, NULL, 0, &e) == 0 && kinds(&m, "ssfssfs"));
    spec_free(&m);
    snprintf(buf, sizeof buf, "%spattern: {every: 3, offset: 2, kind: f, else: s, last: f}\n", base);
    CHECK("spec-every-last", load_str(&m, buf, NULL, 0, &e) == 0 && kinds(&m, "ssfssff"));
    spec_free(&m);
    snprintf(buf, sizeof buf, "%spattern: [f, {repeat: [s, {repeat: [f], times: 2}], times: 2}]\n", base);
    CHECK("spec-repeat-nested", load_str(&m, buf, NULL, 0, &e) == 0 && kinds(&m, "fsffsff"));
    spec_free(&m);
    snprintf(buf, sizeof buf, "%spattern: [f, s]\n", base);
    CHECK("spec-pattern-short", load_str(&m, buf, NULL, 0, &e) == SIM_EINVAL && strstr(e.msg, "pattern gives 2 layers but n_layers = 7"));

    /* Overrides by range, per-layer lists, explicit kv_from. */
    snprintf(buf, sizeof buf,
             "%spattern: {every: 3, offset: 2, kind: f, else: s}\n"
             "overrides:\n  - {layers: 1-2, set: {ffn.d_ff: 300}}\n  - {layers: [5], ffn: {type: none}}\n"
             "  - {layers: 6, set: {kv_from: 3}}\n"
             "per_layer:\n  q_heads: [2, 4, 6, 8, 10, 12, 14]\n", base);
    CHECK("spec-overrides-load", load_str(&m, buf, NULL, 0, &e) == 0);
    CHECK("spec-override-range", m.layer[0].ffn.d_ff == 200 && m.layer[1].ffn.d_ff == 300 && m.layer[2].ffn.d_ff == 300);
    CHECK("spec-override-ffn", !strcmp(m.layer[5].ffn.type->name, "none"));
    CHECK("spec-per-layer", m.layer[0].attn.q_heads == 2 && m.layer[6].attn.q_heads == 14);
    CHECK("spec-kv-from", m.layer[6].shared_kv && m.layer[6].attn.kv_from == 3);
    spec_free(&m);

    /* Gemma 4 E2B's rule on the shipped spec: layers 15-34 share; sliding
     * ones read layer 13, full ones layer 14 (research/gemma4.md). */
    CHECK("spec-gemma-load", spec_load(&m, "archs/gemma4-e2b.yaml", NULL, 0, &e) == 0);
    int ok = 1;
    for (int i = 0; i < 35; i++) {
        bool full = i % 5 == 4;
        int want = i < 15 ? -1 : full ? 14 : 13;
        ok &= m.layer[i].attn.kv_from == want;
        ok &= m.layer[i].attn.head_dim == (full ? 512u : 256u);
        ok &= m.layer[i].ffn.d_ff == (i < 15 ? 6144u : 12288u);
    }
    CHECK("spec-gemma-e2b-sharing", ok);
    spec_free(&m);
    /* E4B: layers 24-41 share; sources 22 (sliding) and 23 (full: layers 5, 11,
     * 17, 23 are full, and 23 < 24 owns its cache; HF's rule takes the last
     * earlier layer of the type, prev_layers[::-1].index(type)). The note in
     * research/gemma4.md says 17, which skips layer 23. */
    CHECK("spec-gemma-e4b-load", spec_load(&m, "archs/gemma4-e4b.yaml", NULL, 0, &e) == 0);
    CHECK("spec-gemma-e4b-sources", m.layer[23].attn.kv_from == -1 && m.layer[24].attn.kv_from == 22 &&
                                        m.layer[29].attn.kv_from == 23 && m.layer[41].attn.kv_from == 23);
    spec_free(&m);
    /* --set turns sharing off. */
    const char *noshare[] = {"kv_sharing.shared_layers=0"};
    CHECK("spec-set-noshare", spec_load(&m, "archs/gemma4-e2b.yaml", noshare, 1, &e) == 0 && m.layer[34].attn.kv_from == -1);
    spec_free(&m);
    /* --set on a kind reaches every layer of that kind. */
    const char *ratio[] = {"layers.csa.compress_ratio=8", "layers.hca.compress_ratio=64"};
    CHECK("spec-set-kind", spec_load(&m, "archs/deepseek-v4-pro.yaml", ratio, 2, &e) == 0 &&
                               m.layer[2].attn.compress_ratio == 8 && m.layer[60].attn.compress_ratio == 8 &&
                               m.layer[0].attn.compress_ratio == 64);
    spec_free(&m);
    /* V4-Pro schedule: 0,1 HCA; even 2..60 CSA; odd 3..59 HCA; 0-2 hash routed. */
    CHECK("spec-v4-load", spec_load(&m, "archs/deepseek-v4-pro.yaml", NULL, 0, &e) == 0);
    ok = 1;
    for (int i = 0; i < 61; i++) {
        const char *want = (i >= 2 && i % 2 == 0) ? "csa" : "hca";
        ok &= !strcmp(m.layer[i].attn.type->name, want);
        ok &= m.layer[i].ffn.hash == (i < 3);
    }
    CHECK("spec-v4-schedule", ok);
    CHECK("spec-v4-mhc", m.hc_streams == 4 && !strcmp(m.layer[7].res.type->name, "mhc"));
    spec_free(&m);
    /* Laguna: per-layer query heads from the list. */
    CHECK("spec-laguna", spec_load(&m, "archs/laguna-xs2.yaml", NULL, 0, &e) == 0 && m.layer[0].attn.q_heads == 48 &&
                             m.layer[1].attn.q_heads == 64 && m.layer[36].attn.q_heads == 48 &&
                             !strcmp(m.layer[0].ffn.type->name, "dense") && !strcmp(m.layer[1].ffn.type->name, "moe"));
    spec_free(&m);

    /* Errors name file:line:col. */
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, s]\noverrides:\n  - {layers: 3, set: {kv_from: 5}}\n", base);
    CHECK("spec-kv-from-later", load_str(&m, buf, NULL, 0, &e) == SIM_EINVAL && strstr(e.msg, "not an earlier layer"));
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, f]\noverrides:\n  - {layers: 6, set: {kv_from: 0}}\n", base);
    CHECK("spec-kv-from-geometry", load_str(&m, buf, NULL, 0, &e) == SIM_EINVAL && strstr(e.msg, "cache (entries or entry sizes) differs"));
    CHECK("spec-unknown-key", load_str(&m, "name: t\nd_model: 8\nn_layers: 1\nvocab: 4\nbogus: 1\n", NULL, 0, &e) == SIM_EINVAL &&
                                  strstr(e.msg, "<test>:5:1: unknown key 'bogus'"));
    const char *badset[] = {"layers.s.q_heads=5"};
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, s]\n", base);
    CHECK("spec-set-invalid", load_str(&m, buf, badset, 1, &e) == SIM_EINVAL && strstr(e.msg, "not a multiple of kv_heads"));
    CHECK("spec-missing-file", spec_load(&m, "archs/nope.yaml", NULL, 0, &e) == SIM_EIO);
    /* rope: and norm_eps: (issue 12.4). Llama 3.1 8B's config.json: rope_theta
     * 500000, rope_scaling {rope_type llama3, factor 8, low_freq_factor 1,
     * high_freq_factor 4, original_max_position_embeddings 8192}, rms_norm_eps 1e-5. */
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, f]\nnorm_eps: 1e-5\nrope: {theta: 500000, scaling: "
             "{type: llama3, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position: 8192}}\n", base);
    CHECK("spec-rope-llama3", load_str(&m, buf, NULL, 0, &e) == SIM_OK && m.rope.theta == 500000.0 &&
                                  m.rope.scaling == ROPE_SCALE_LLAMA3 && m.rope.factor == 8.0 && m.rope.high_freq_factor == 4.0 &&
                                  m.rope.original_max_position == 8192 && m.norm_eps == 1e-5);
    if (m.layer) spec_free(&m);
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, f]\n", base);
    CHECK("spec-rope-default", load_str(&m, buf, NULL, 0, &e) == SIM_OK && m.rope.theta == 10000.0 &&
                                   m.rope.scaling == ROPE_SCALE_NONE && m.norm_eps == 1e-6);
    if (m.layer) spec_free(&m);
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, f]\nrope: {scaling: {type: ntk}}\n", base);
    CHECK("spec-rope-bad-type", load_str(&m, buf, NULL, 0, &e) == SIM_EINVAL && strstr(e.msg, "unknown rope.scaling type 'ntk'"));
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, f]\nrope: {scaling: {type: yarn, factor: 40}}\n", base);
    CHECK("spec-rope-yarn-needs-orig", load_str(&m, buf, NULL, 0, &e) == SIM_EINVAL && strstr(e.msg, "original_max_position"));
    snprintf(buf, sizeof buf, "%spattern: [s, s, s, s, s, s, f]\nnorm_eps: 0\n", base);
    CHECK("spec-norm-eps-range", load_str(&m, buf, NULL, 0, &e) == SIM_EINVAL && strstr(e.msg, "norm_eps must be a number"));
    /* Issue 10.1: a misspelt kind in --set used to add an unused kind and
     * change nothing (gemma4-e2b printed its unchanged 6.291 MB). */
    const char *typo[] = {"layers.slidng.window=4096"};
    CHECK("spec-set-kind-typo", spec_load(&m, "archs/gemma4-e2b.yaml", typo, 1, &e) == SIM_EINVAL &&
                                    strstr(e.msg, "no layer kind 'slidng' in gemma4-e2b (kinds: sliding, full)"));
    /* The same path spelt right applies (the window moves 512 -> 4096). */
    const char *right[] = {"layers.sliding.window=4096"};
    CHECK("spec-set-kind-right", spec_load(&m, "archs/gemma4-e2b.yaml", right, 1, &e) == SIM_OK && m.layer[0].attn.window == 4096);
    if (m.layer) spec_free(&m);
    /* A sweep axis that does not apply to the arch (a csa field on Gemma). */
    const char *noapply[] = {"layers.csa.compress_ratio=8"};
    CHECK("spec-set-kind-absent", spec_load(&m, "archs/gemma4-e2b.yaml", noapply, 1, &e) == SIM_EINVAL &&
                                      strstr(e.msg, "no layer kind 'csa'"));
    /* An unused kind without a type (a leftover) is refused where it is written. */
    snprintf(buf, sizeof buf, "%s  stray: {window: 5}\npattern: [s, s, s, s, s, s, s]\n", base);
    CHECK("spec-unused-untyped-kind", load_str(&m, buf, NULL, 0, &e) == SIM_EINVAL &&
                                          strstr(e.msg, "layer kind 'stray' has no `type:` and no layer uses it (the layers use: s)"));
    return check_done("test_spec");
}
