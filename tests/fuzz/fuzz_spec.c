/* fuzz_spec.c - libFuzzer target: the spec reader (yt_load_string +
 * spec_load_tree), as written and with one --set applied, then cost_eval.
 *
 * The input is a spec's YAML text. The --set is the text after "# set: " on
 * the input's last such line (so the fuzzer mutates it too), else one of a
 * fixed list chosen by the input's length. Any crash, leak, sanitizer report
 * or abort is a bug: bad input must come back as a status and a message.
 *
 *   make fuzz                      (every target, FUZZ_SECONDS each)
 *   build-fuzz/tests/bin/fuzz_spec build-fuzz/corpus/spec tests/fuzz/corpus_spec
 */
#include "spec.h"
#include "cost.h"
#include "output.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed_sets[] = {
    "kv_sharing.shared_layers=0", "kv_sharing.fraction=0.5", "kv_dtype=fp8", "n_layers=3",
    "layers.attn.window=7", "layers.csa.compress_ratio=8", "ffn.top_k=4", "ffn={type: none}",
    "residual={type: mhc, streams: 3, sinkhorn_iters: 2}", "pattern=[attn]", "overrides.0.layers=0",
    "per_layer.q_heads.0=3", "formats.x.parts=[{dtype: fp8}]", "layers=[1]", "name=",
};

/* The context/phase/batch points each loaded spec is evaluated at: the
 * smallest, a window-crossing one with pages, 1M, and a batch that
 * overflows. The first is also printed in every format (to /dev/null). */
static void eval_some(const model_spec *m)
{
    static const cost_query qs[] = {
        {.T = 1, .B = 1, .phase = PH_DECODE}, {.T = 4099, .B = 3, .phase = PH_PREFILL, .page = 16},
        {.T = 1 << 20, .B = 1, .phase = PH_DECODE, .page = 1 << 24},
        {.T = 1 << 20, .B = 1ull << 32, .phase = PH_PREFILL, .noncausal = true},
    };
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        cost_result r;
        sim_err e;
        if (cost_eval(m, &qs[i], &r, &e) != SIM_OK) continue;
        if (i == 0 && null) {
            out_item it = {.m = m, .r = &r};
            out_settings st = {.q = qs[i], .by_layer = true};
            for (int of = OUT_TABLE; of <= OUT_JSON; of++) out_cost(null, &it, &st, (out_format)of);
            st.by_layer = false;
            out_compare(null, (out_item[]){it, it}, 2, &st, OUT_TABLE);
        }
        cost_result_free(&r);
    }
}

static void load_one(const char *text, size_t len, const char *set)
{
    ynode *root;
    sim_err e;
    model_spec m;
    if (yt_load_string(text, len, "<fuzz>", &root, &e)) return;
    const char *sets[1] = {set};
    if (spec_load_tree(&m, root, NULL, "<fuzz>", sets, set ? 1 : 0, &e)) return;
    eval_some(&m);
    spec_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    load_one(text, size, NULL);
    char set[256];
    snprintf(set, sizeof set, "%s", fixed_sets[size % (sizeof fixed_sets / sizeof fixed_sets[0])]);
    for (size_t i = 0; i + 7 <= size; i++)
        if ((i == 0 || text[i - 1] == '\n') && !memcmp(text + i, "# set: ", 7)) {
            size_t j = i + 7, k = 0;
            while (j < size && text[j] != '\n' && text[j] != 0 && k + 1 < sizeof set) set[k++] = text[j++];
            set[k] = 0;
        }
    load_one(text, size, set);
    return 0;
}
