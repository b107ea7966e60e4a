/* claims.c - see claims.h. Sources: research/deepseek.md, research/gemma4.md. */
#include "claims.h"
#include "spec_any.h"
#include "spec.h"
#include "cost.h"
#include "output.h"
#include <stdio.h>
#include <string.h>

typedef struct { const char *name; model_spec m; bool ok; } arch;

static cost_t eval(const model_spec *m, u64 T, const char *set, const char *archs_dir, bool *ok)
{
    cost_t t;
    memset(&t, 0, sizeof t);
    model_spec tmp;
    const model_spec *use = m;
    sim_err e;
    if (set) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s.yaml", archs_dir, m->name);
        const char *sets[] = {set};
        if (spec_load_any(&tmp, path, sets, 1, &e)) { *ok = false; return t; }
        use = &tmp;
    }
    cost_query q = {.T = T, .B = 1, .phase = PH_DECODE};
    cost_result r;
    if (cost_eval(use, &q, &r, &e)) *ok = false;
    else { t = r.total; cost_result_free(&r); }
    if (set) spec_free(&tmp);
    return t;
}

/* Parameters of the model's MTP modules (its `mtp` row; 0 without). */
static double mtp_params(const model_spec *m)
{
    cost_query q = {.T = 1, .B = 1, .phase = PH_DECODE};
    cost_result r;
    sim_err e;
    double p = 0;
    if (cost_eval(m, &q, &r, &e)) return 0;
    for (int k = 0; k < r.n_types; k++)
        if (!strcmp(r.type[k].name, "mtp")) p = (double)r.type[k].c.params;
    cost_result_free(&r);
    return p;
}

int claims_eval(const char *archs_dir, claim_result *out, int max, sim_err *e)
{
    static const char *const names[] = {"deepseek-v3", "deepseek-v3.2", "deepseek-v4-pro", "deepseek-v4-flash",
                                        "gqa8-hd128-61l", "gemma4-e2b", "gemma4-e4b"};
    enum { V3, V32, PRO, FLASH, GQA8, E2B, E4B, NA };
    arch a[NA];
    for (int i = 0; i < NA; i++) {
        char path[600];
        sim_err sub;
        snprintf(path, sizeof path, "%s/%s.yaml", archs_dir, names[i]);
        a[i].ok = spec_load_any(&a[i].m, path, NULL, 0, &sub) == SIM_OK;
        if (!a[i].ok) {
            for (int j = 0; j < i; j++) if (a[j].ok) spec_free(&a[j].m);
            return sim_fail(e, SIM_EIO, "claims: %s", sub.msg);
        }
    }
    bool ok = true;
    const u64 M1 = 1 << 20, K128 = 1 << 17;
    cost_t v3 = eval(&a[V3].m, 1, NULL, archs_dir, &ok), v32 = eval(&a[V32].m, M1, NULL, archs_dir, &ok);
    cost_t pro = eval(&a[PRO].m, M1, NULL, archs_dir, &ok), fl = eval(&a[FLASH].m, M1, NULL, archs_dir, &ok);
    cost_t g8 = eval(&a[GQA8].m, M1, NULL, archs_dir, &ok);
    u64 e2 = eval(&a[E2B].m, K128, "kv_sharing.shared_layers=0", archs_dir, &ok).kv_bytes - eval(&a[E2B].m, K128, NULL, archs_dir, &ok).kv_bytes;
    u64 e4 = eval(&a[E4B].m, K128, "kv_sharing.shared_layers=0", archs_dir, &ok).kv_bytes - eval(&a[E4B].m, K128, NULL, archs_dir, &ok).kv_bytes;
    cost_t p3 = v3, pp = eval(&a[PRO].m, 1, NULL, archs_dir, &ok), pf = eval(&a[FLASH].m, 1, NULL, archs_dir, &ok);
    cost_query q = {.T = 1, .B = 1, .phase = PH_DECODE};
    cost_result r;
    double e2b_eff = 0;
    sim_err sub;
    if (cost_eval(&a[E2B].m, &q, &r, &sub) == 0) {
        e2b_eff = (double)out_params_effective(&a[E2B].m, &r);
        cost_result_free(&r);
    }
    claim_result c[] = {
        {"DeepSeek-V3 KV cache per token (BF16)", "Insights into DeepSeek-V3 (ISCA'25): ~70 KB", 70272, (double)v3.kv_bytes, "B", NULL, "deepseek-v3"},
        {"DeepSeek-V3.2 KV cache at 1M", "V4 paper, Fig. 1 (~50 GB)", 50.4, v32.kv_bytes / 1e9, "GB", NULL, "deepseek-v3.2"},
        {"V4-Pro KV cache at 1M, % of V3.2", "V4 paper, abstract (10%, 9.5x)", 10, 100.0 * pro.kv_bytes / v32.kv_bytes, "%",
         "kvsim includes the compressor tail state (0.35%)", "deepseek-v4-pro,deepseek-v3.2"},
        {"V4-Flash KV cache at 1M, % of V3.2", "V4 paper, section 1 (7%, 13.7x)", 7, 100.0 * fl.kv_bytes / v32.kv_bytes, "%", NULL, "deepseek-v4-flash,deepseek-v3.2"},
        {"V4-Pro KV cache at 1M, % of BF16 GQA8 hd128", "V4 paper, section 2.3.4 (~2%)", 2, 100.0 * pro.kv_bytes / g8.kv_bytes, "%", NULL, "deepseek-v4-pro"},
        {"V4-Pro decode FLOPs at 1M, % of V3.2 (FP8-equivalent)", "V4 paper, abstract (27%)", 27,
         100.0 * pro.flops_fp8eq_x2 / v32.flops_fp8eq_x2, "%", NULL, "deepseek-v4-pro,deepseek-v3.2"},
        {"V4-Flash decode FLOPs at 1M, % of V3.2 (FP8-equivalent)", "V4 paper, section 1 (10%)", 10,
         100.0 * fl.flops_fp8eq_x2 / v32.flops_fp8eq_x2, "%", NULL, "deepseek-v4-flash,deepseek-v3.2"},
        {"Gemma 4 E2B: KV saved by sharing at 128K (BF16)", "Raschka, May 2026 (~2.7 GB)", 2.7, e2 / 1e9, "GB",
         "published counts shared sliding layers uncapped at 1 KiB/token; kvsim caps them at the 512-token window", "gemma4-e2b"},
        {"Gemma 4 E4B: KV saved by sharing at 128K (BF16)", "Raschka, May 2026 (~6 GB)", 6, e4 / 1e9, "GB",
         "as above; uncapped, kvsim gives 5.64 GB", "gemma4-e4b"},
        {"DeepSeek-V3 parameters", "DeepSeek-V3 README (671B)", 671, (p3.params - mtp_params(&a[V3].m)) / 1e9, "B params",
         "main model; the MTP module adds 11.6B (the checkpoint's 685B also stores copies of the embedding and head)", "deepseek-v3"},
        {"DeepSeek-V3 active parameters", "DeepSeek-V3 README (37B)", 37, p3.params_active / 1e9, "B params", NULL, "deepseek-v3"},
        {"V4-Pro parameters", "V4 paper (1.6T)", 1600, pp.params / 1e9, "B params", "with the MTP block (25.8B; 1,573B without)", "deepseek-v4-pro"},
        {"V4-Pro active parameters", "V4 paper (49B)", 49, pp.params_active / 1e9, "B params", NULL, "deepseek-v4-pro"},
        {"V4-Flash parameters", "V4 paper (284B)", 284, (pf.params - mtp_params(&a[FLASH].m)) / 1e9, "B params",
         "main model; with the MTP block 290.9B", "deepseek-v4-flash"},
        {"V4-Flash active parameters", "V4 paper (13B)", 13, pf.params_active / 1e9, "B params", "the paper rounds to whole billions", "deepseek-v4-flash"},
        {"Gemma 4 E2B effective parameters", "Gemma 4 model card (2.3B)", 2.3, e2b_eff / 1e9, "B params", NULL, "gemma4-e2b"},
    };
    int n = (int)(sizeof c / sizeof c[0]);
    if (n > max) n = max;
    memcpy(out, c, (size_t)n * sizeof c[0]);
    for (int i = 0; i < NA; i++) spec_free(&a[i].m);
    if (!ok) return sim_fail(e, SIM_EINVAL, "claims: a cost evaluation failed");
    return n;
}
