/* scenario_deploy.c - a scenario's `deploy:` block (the deployments its
 * capacity plots evaluate) and its deployment sweep paths (deploy.tp,
 * deploy.ep, engine.block, ...). README "Deployment in scenarios". */
#include "scenario.h"
#include "ytree.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POS(n) yt_pos((n), pos, sizeof pos)

bool scenario_deploy_path(const char *path)
{
    return !strncmp(path, "deploy.", 7) || !strncmp(path, "engine.", 7);
}

/* One deployment field, by the name a `deploy:` entry or a sweep path uses
 * (`deploy.tp` and `tp` alike; `engine.block`, `engine.name`, ...). */
int scenario_deploy_set(sc_deploy *x, const char *key, const char *value, sim_err *e)
{
    static const struct { const char *k; int slot; } sizes[] = {
        {"gpus", 0}, {"tp", 1}, {"pp", 2}, {"dp", 3}, {"ep", 4}, {"dcp", 5}};
    deploy_cfg *d = &x->d;
    u64 *dst[] = {&d->gpus, &d->tp, &d->pp, &d->dp, &d->ep, &d->dcp};
    if (!strncmp(key, "deploy.", 7) || !strncmp(key, "engine.", 7)) {
        bool eng = key[0] == 'e';
        key += 7;
        if (eng && !strcmp(key, "name")) key = "engine";
        if (eng && !strcmp(key, "rules")) key = "engine_rules";
    }
    char *end;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (strcmp(key, sizes[i].k)) continue;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end || !*value || value[0] == '-' || v < 1 || v > 4096)
            return sim_fail(e, SIM_EINVAL, "%s = '%s': expected a whole number from 1 to 4096", key, value);
        *dst[sizes[i].slot] = v;
        d->set[sizes[i].slot] = true;
        return SIM_OK;
    }
    if (!strcmp(key, "engine")) {
        for (int k = 0; k < ENG_COUNT; k++)
            if (!strcmp(value, engine_name[k])) { d->engine = (engine_kind)k; return SIM_OK; }
        return sim_fail(e, SIM_EINVAL, "engine = '%s': expected logical, vllm or sglang", value);
    }
    if (!strcmp(key, "engine_rules")) {
        if (!strcmp(value, "newest")) d->rules = ERULES_NEWEST;
        else if (!strcmp(value, "vllm-0.20")) d->rules = ERULES_VLLM_020;
        else if (!strcmp(value, "vllm-0.19")) d->rules = ERULES_VLLM_019;
        else return sim_fail(e, SIM_EINVAL, "engine_rules = '%s': expected newest, vllm-0.20 or vllm-0.19", value);
        return SIM_OK;
    }
    if (!strcmp(key, "spec_tokens") || !strcmp(key, "mtp")) {
        unsigned long long v = strtoull(value, &end, 10);
        if (*end || !*value || value[0] == '-' || v < 1 || v > 64)
            return sim_fail(e, SIM_EINVAL, "spec_tokens = '%s': expected a whole number from 1 to 64", value);
        d->spec_tokens = v;
        return SIM_OK;
    }
    if (!strcmp(key, "block") || !strcmp(key, "max_batched_tokens") || !strcmp(key, "max_running_requests") ||
        !strcmp(key, "max_num_seqs")) {
        unsigned long long v = strtoull(value, &end, 10);
        if (*end || !*value || value[0] == '-' || v < 1 || v > (1ull << 30))
            return sim_fail(e, SIM_EINVAL, "%s = '%s': expected a whole number from 1 to 2^30", key, value);
        if (key[0] == 'b') { d->block = v; d->set[6] = true; }
        else if (key[4] == 'b') d->mnbt = v;
        else if (key[4] == 'n') d->max_num_seqs = v;
        else d->max_running = v;
        return SIM_OK;
    }
    if (!strcmp(key, "mem_util") || !strcmp(key, "swa_ratio")) {
        double v = strtod(value, &end);
        if (*end || end == value || !(v > 0 && v <= 1))
            return sim_fail(e, SIM_EINVAL, "%s = '%s': expected a fraction in (0, 1]", key, value);
        if (key[0] == 'm') { d->mem_util = v; d->set[7] = true; }
        else d->swa_ratio = v;
        return SIM_OK;
    }
    if (!strcmp(key, "act_reserve_gib")) {
        /* 0 = none; the engine's default when absent */
        double v = strtod(value, &end);
        if (*end || end == value || !(v >= 0 && v < 1e9))
            return sim_fail(e, SIM_EINVAL, "act_reserve_gib = '%s': expected a number of GiB, 0 for none", value);
        d->act = v > 0 ? ACT_BYTES : ACT_NONE;
        d->act_bytes = (u64)(v * 1073741824.0);
        return SIM_OK;
    }
    if (!strcmp(key, "kv_budget_gib")) {
        double v = strtod(value, &end);
        if (*end || end == value || !(v > 0 && v < 1e9))
            return sim_fail(e, SIM_EINVAL, "kv_budget_gib = '%s': expected a positive number of GiB", value);
        d->kv_budget = (u64)(v * 1073741824.0);
        return SIM_OK;
    }
    if (!strcmp(key, "hw")) {
        if (!*value || strlen(value) >= sizeof x->hw) return sim_fail(e, SIM_EINVAL, "hw = '%s': a profile name or path", value);
        strcpy(x->hw, value);
        return SIM_OK;
    }
    return sim_fail(e, SIM_EINVAL, "unknown deployment field '%s' (gpus, tp, pp, dp, ep, dcp, engine, engine_rules, "
                    "block, mem_util, kv_budget_gib, act_reserve_gib, max_batched_tokens, max_running_requests, max_num_seqs, swa_ratio, spec_tokens, mtp, hw)", key);
}

int scenario_parse_deploy(scenario *s, const ynode *n, sim_err *e)
{
    char pos[300];
    if (n->kind != YT_SEQ || n->n == 0)
        return sim_fail(e, SIM_EINVAL, "%s: deploy must be a non-empty list of deployments", POS(n));
    for (size_t i = 0; i < n->n; i++) {
        const ynode *m = n->kid[i];
        if (m->kind != YT_MAP) return sim_fail(e, SIM_EINVAL, "%s: a deployment is a mapping", POS(m));
        if (s->n_deploy == SC_MAX_DEPLOY)
            return sim_fail(e, SIM_EINVAL, "%s: at most %d deployments", POS(m), SC_MAX_DEPLOY);
        sc_deploy *x = &s->deploy[s->n_deploy];
        memset(x, 0, sizeof *x);
        deploy_cfg_default(&x->d);
        for (size_t k = 0; k < m->n; k += 2) {
            const char *key = m->kid[k]->str, *v;
            int rc = yt_str(m->kid[k + 1], &v, e);
            if (rc) return rc;
            if (!strcmp(key, "name")) {
                if (!*v || strlen(v) >= sizeof x->label)
                    return sim_fail(e, SIM_EINVAL, "%s: name must be 1-%zu characters", POS(m->kid[k + 1]), sizeof x->label - 1);
                strcpy(x->label, v);
                continue;
            }
            sim_err sub;
            if (scenario_deploy_set(x, key, v, &sub))
                return sim_fail(e, SIM_EINVAL, "%s: %s", POS(m->kid[k]), sub.msg);
        }
        if (!x->hw[0] && !x->d.kv_budget)
            return sim_fail(e, SIM_EINVAL, "%s: a deployment needs `hw:` (a node profile) or `kv_budget_gib:`", POS(m));
        if (!x->label[0])
            snprintf(x->label, sizeof x->label, "%s %s", x->hw[0] ? x->hw : "budget", engine_name[x->d.engine]);
        s->n_deploy++;
    }
    return SIM_OK;
}
