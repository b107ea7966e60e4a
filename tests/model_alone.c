/* model_alone.c - a program that uses only the model library
 * (build/libkvsim-model.a, linked with -lyaml -lm): it loads specs and
 * evaluates their cost, with no kernels, BLAS, GSL, SQLite or Jansson.
 * It also walks the registry: every registered type's example spec loads
 * and costs (tests/test_registry.c runs and validates them with the kernels). */
#include "spec.h"
#include "cost.h"
#include "layer.h"
#include <stdio.h>
#include <string.h>

static int pass, fail;

static void check(const char *name, int ok)
{
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (ok) pass++; else fail++;
}

int main(void)
{
    model_spec m;
    sim_err e;
    /* DeepSeek-V3: 61 MLA layers x (kv_lora_rank 512 + rope 64) bf16 =
     * 61 x 576 x 2 = 70,272 B per token (research/deepseek.md); decode at
     * T = 2^20 holds 2^20 tokens: 70,272 x 1,048,576 = 73,685,532,672 B. */
    int ok = spec_load(&m, "archs/deepseek-v3.yaml", NULL, 0, &e) == SIM_OK;
    check("model-alone-load", ok);
    if (!ok) { printf("%s\n", e.msg); return 1; }
    cost_query q = {.T = 1u << 20, .B = 1, .phase = PH_DECODE};
    cost_result r;
    ok = cost_eval(&m, &q, &r, &e) == SIM_OK;
    check("model-alone-cost", ok && r.total.kv_bytes == 73685532672ull);
    if (ok) cost_result_free(&r);
    spec_free(&m);
    /* A config.json is the commands' job, not the model library's. */
    check("model-alone-json-refused", spec_load(&m, "tests/configs/llama-3-8b.json", NULL, 0, &e) == SIM_EINVAL);
    for (int i = 0; i < comp_registry_count; i++) {
        const comp_type *t = comp_registry[i];
        char name[80];
        ynode *root;
        snprintf(name, sizeof name, "model-alone-example-%s-%s", comp_cat_name[t->cat], t->name);
        ok = t->example && yt_load_string(t->example, strlen(t->example), name, &root, &e) == SIM_OK &&
             spec_load_tree(&m, root, NULL, name, NULL, 0, &e) == SIM_OK;
        if (!ok) printf("  %s\n", t->example ? e.msg : "no example");
        if (ok) {
            ok = cost_eval(&m, &q, &r, &e) == SIM_OK;
            if (ok) cost_result_free(&r);
            spec_free(&m);
        }
        check(name, ok);
    }
    printf("model_alone: %d passed, %d failed\n", pass, fail);
    return fail != 0;
}
