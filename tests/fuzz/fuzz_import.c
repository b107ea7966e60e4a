/* fuzz_import.c - libFuzzer target: the Hugging Face config.json importer
 * (import_hf_yaml_text), then the spec it writes loaded and costed.
 *
 * Oracle beyond "no crash": the importer writes YAML from values it read, so
 * its output must always parse as YAML (a syntax error there would mean a
 * JSON string leaked into the spec text); that aborts. The spec may still be
 * refused (e.g. hidden_size 0 is the spec checker's to reject).
 *
 *   build-fuzz/tests/bin/fuzz_import build-fuzz/corpus/import tests/fuzz/corpus_import
 */
#include "import_hf.h"
#include "spec.h"
#include "cost.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *yaml;
    import_warnings w = {0};
    sim_err e;
    if (import_hf_yaml_text((const char *)data, size, "fuzz/config.json", &yaml, &w, &e)) return 0;
    ynode *root;
    if (yt_load_string(yaml, strlen(yaml), "<import>", &root, &e)) {
        if (strstr(e.msg, "YAML syntax error") || strstr(e.msg, "duplicate key")) {
            fprintf(stderr, "fuzz_import: the importer wrote YAML that does not parse: %s\n----\n%s----\n", e.msg, yaml);
            abort();
        }
        free(yaml);
        return 0;
    }
    model_spec m;
    if (spec_load_tree(&m, root, yaml, "<import>", NULL, 0, &e) == SIM_OK) {   /* owns yaml from here */
        static const u64 ctx[] = {1, 4096, 1 << 20};
        for (size_t i = 0; i < sizeof ctx / sizeof ctx[0]; i++)
            for (int ph = 0; ph < 2; ph++) {
                cost_query q = {.T = ctx[i], .B = 1, .phase = ph ? PH_PREFILL : PH_DECODE};
                cost_result r;
                if (cost_eval(&m, &q, &r, &e) == SIM_OK) cost_result_free(&r);
            }
        spec_free(&m);
    }
    return 0;
}
