/* fuzz_import.c - libFuzzer target: the Hugging Face config.json importer
 * (import_hf_yaml_text), then the spec it writes loaded and costed.
 *
 * The input is config.json text, optionally followed by a NUL byte and the
 * file name to import it as. Oracle beyond "no crash": the importer writes
 * YAML from values and the file name it read, so its output must always
 * load as a YAML tree (a syntax error or an alias there means text leaked
 * into the spec unquoted); that aborts. The spec may still be
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
    /* The file name reaches the spec (its `name:` and a header comment), so
     * it is fuzzed too: the bytes after the first NUL, if any. */
    char name[256] = "fuzz/config.json";
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    if (nul) {
        size_t k = size - json_len - 1;
        if (k >= sizeof name) k = sizeof name - 1;
        memcpy(name, nul + 1, k);
        name[k] = 0;   /* a NUL inside ends it: a path has none */
    }
    if (import_hf_yaml_text((const char *)data, json_len, name, &yaml, &w, &e)) return 0;
    ynode *root;
    if (yt_load_string(yaml, strlen(yaml), "<import>", &root, &e)) {
        /* Any failure here is the importer's: a syntax error, an unknown
         * alias, a duplicate key (a generated spec is far below the size
         * and depth budgets). */
        fprintf(stderr, "fuzz_import: the importer wrote YAML that does not load: %s\n----\n%s----\n", e.msg, yaml);
        abort();
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
