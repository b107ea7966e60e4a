/* cli_deploy.c - the deployment options (shared by cost, compare and
 * capacity) and the `kvsim capacity` command: per device the weights, the KV
 * budget, the engine's blocks and tokens, the sequences of T tokens that fit
 * per replica and per node, and the roofline decode step. */
#include "cli_deploy.h"
#include "units.h"
#include "output.h"
#include "spec_any.h"
#include "cli.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_bytes(const char *v, u64 *out)
{
    static const struct { const char *suf; double mul; } units[] = {
        {"", 1}, {"B", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
        {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}};
    char *end;
    if (!v || !*v || v[0] == '-') return -1;
    double x = strtod(v, &end);
    if (end == v || !(x > 0)) return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suf)) continue;
        double b = floor(x * units[i].mul);   /* a GiB figure from a log is floored to whole bytes */
        if (!(b >= 1 && b < 1.8e19)) return -1;
        *out = (u64)b;
        return 0;
    }
    return -1;
}

static int fraction(const cli_args *p, double *out)
{
    char *end;
    double x = p->val ? strtod(p->val, &end) : 0;
    if (!p->val || end == p->val || *end || !(x > 0 && x <= 1)) {
        cli_bad(p->cmd ? p->cmd->name : NULL, "%s '%s': expected a fraction in (0, 1]", p->opt, p->val ? p->val : "");
        return -1;
    }
    *out = x;
    return 0;
}

int cli_deploy_opt(const cli_args *p, deploy_cfg *d)
{
    const char *cmd = p->cmd ? p->cmd->name : NULL, *v = p->val;
    static const char *const sizes[] = {"--gpus", "--tp", "--pp", "--dp", "--ep", "--dcp"};
    u64 *dst[] = {&d->gpus, &d->tp, &d->pp, &d->dp, &d->ep, &d->dcp};
    if (!p->opt) return 0;
    for (int k = 0; k < 6; k++) {
        if (!cli_is(p, sizes[k])) continue;
        if (cli_u64(p, 1, 4096, dst[k])) return -1;
        d->set[k] = true;
        return 1;
    }
    if (cli_is(p, "--engine")) {
        for (int k = 0; k < ENG_COUNT; k++)
            if (!strcmp(v, engine_name[k])) { d->engine = (engine_kind)k; return 1; }
        cli_bad(cmd, "--engine '%s': expected logical, vllm or sglang", v);
        return -1;
    }
    if (cli_is(p, "--engine-rules")) {
        if (!strcmp(v, "newest")) d->rules = ERULES_NEWEST;
        else if (!strcmp(v, "vllm-0.20")) d->rules = ERULES_VLLM_020;
        else if (!strcmp(v, "vllm-0.19")) d->rules = ERULES_VLLM_019;
        else { cli_bad(cmd, "--engine-rules '%s': expected newest, vllm-0.20 or vllm-0.19", v); return -1; }
        return 1;
    }
    if (cli_is(p, "--block")) {
        if (cli_u64(p, 1, 1u << 20, &d->block)) return -1;
        d->set[6] = true;
        return 1;
    }
    if (cli_is(p, "--max-batched-tokens")) return cli_u64(p, 1, 1u << 30, &d->mnbt) ? -1 : 1;
    if (cli_is(p, "--max-running-requests")) return cli_u64(p, 1, 1u << 30, &d->max_running) ? -1 : 1;
    if (cli_is(p, "--spec-tokens")) return cli_u64(p, 1, 64, &d->spec_tokens) ? -1 : 1;
    if (cli_is(p, "--max-num-seqs")) return cli_u64(p, 1, 1u << 20, &d->max_num_seqs) ? -1 : 1;
    if (cli_is(p, "--mem-util")) {
        if (fraction(p, &d->mem_util)) return -1;
        d->set[7] = true;
        return 1;
    }
    if (cli_is(p, "--act-reserve")) {
        if (!strcmp(v, "auto")) d->act = ACT_ESTIMATE;
        else if (!strcmp(v, "none") || !strcmp(v, "0")) d->act = ACT_NONE;
        else if (!cli_parse_bytes(v, &d->act_bytes)) d->act = ACT_BYTES;
        else {
            cli_bad(cmd, "--act-reserve '%s': expected auto, none or bytes per GPU, e.g. 4GiB", v);
            return -1;
        }
        return 1;
    }
    if (cli_is(p, "--swa-ratio")) return fraction(p, &d->swa_ratio) ? -1 : 1;
    if (cli_is(p, "--kv-budget")) {
        if (cli_parse_bytes(v, &d->kv_budget)) {
            cli_bad(cmd, "--kv-budget '%s': expected bytes per GPU, e.g. 64424509440, 60GiB or 61.25GiB", v);
            return -1;
        }
        return 1;
    }
    return 0;
}

bool cli_deploy_given(const deploy_cfg *d)
{
    deploy_cfg z;
    deploy_cfg_default(&z);
    for (int k = 0; k < 8; k++)
        if (d->set[k]) return true;
    return d->engine != z.engine || d->kv_budget || d->mem_util != z.mem_util || d->rules != z.rules ||
           d->mnbt || d->swa_ratio != z.swa_ratio || d->max_running || d->spec_tokens || d->act != z.act ||
           d->max_num_seqs;
}

/* ---- output -------------------------------------------------------------- */

static void gb(u64 b, char *buf, size_t n)
{
    snprintf(buf, n, "%.2f GiB", (double)b / 1073741824.0);
}

/* "1,234,567" */
static void commas(u64 v, char *buf, size_t n)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    size_t l = strlen(tmp), o = 0;
    for (size_t k = 0; k < l && o + 2 < n; k++) {
        if (k && (l - k) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[k];
    }
    buf[o] = 0;
}

void cli_capacity_table(FILE *f, const cli_cap_item *it, int n, const deploy_cfg *d, const hw_profile *hw, u64 ctx)
{
    char c[32];
    commas(ctx, c, sizeof c);
    fprintf(f, "capacity at ctx %s tokens per sequence on %s%s: %llu GPUs as tp %llu x pp %llu x dp %llu, ep %llu, "
            "dcp %llu; engine %s\n", c, hw ? hw->name : "(no profile)", "", (unsigned long long)d->gpus,
            (unsigned long long)d->tp, (unsigned long long)d->pp, (unsigned long long)d->dp, (unsigned long long)d->ep,
            (unsigned long long)d->dcp, engine_name[d->engine]);
    if (d->kv_budget) {
        char b[32];
        gb(d->kv_budget, b, sizeof b);
        fprintf(f, "KV budget per GPU: %llu B (%s) as given (--kv-budget)\n", (unsigned long long)d->kv_budget, b);
    } else if (n > 0) {
        const deploy_result *r0 = it[0].r;
        const char *how = d->engine == ENG_SGLANG && !d->set[7] ? " (SGLang's default mem_fraction_static)" : "";
        if (r0->act_in_budget)
            fprintf(f, "KV budget per GPU: ceil(memory x %.3g)%s - weights - activations (%s); the reserve "
                    "= memory - weights - KV budget: (1 - %.3g) x memory for CUDA graphs, NCCL buffers and the "
                    "context, plus the activations (CUDA graphs not estimated: pass --kv-budget from an engine "
                    "log for its exact figures)\n", r0->mem_util, how,
                    d->act == ACT_BYTES ? "--act-reserve" : "estimated: one prefill chunk of max-batched-tokens, "
                                                            "the largest layer's transients, fp32 logits of "
                                                            "max-num-seqs rows", r0->mem_util);
        else
            fprintf(f, "KV budget per GPU: ceil(memory x %.3g)%s - weights; the reserve (1 - %.3g) x memory holds "
                    "activations%s, CUDA graphs and NCCL buffers (pass --kv-budget from an engine log for its exact "
                    "figures)\n", r0->mem_util, how, r0->mem_util,
                    d->engine == ENG_SGLANG ? " (SGLang: 1.5 MiB per token of a chunked-prefill chunk)"
                                            : " (not estimated: --act-reserve auto estimates them)");
    }
    fprintf(f, "  %-22s %12s %12s %12s %10s %14s %9s %9s %9s %9s %10s %11s\n", "arch", "weights/GPU", "KV/seq/GPU",
            "KV budget", "blocks", "tokens", "max conc", "seqs/rep", "seqs/node", "step ms", "tok/s/GPU",
            "tok/s/node");
    for (int i = 0; i < n; i++) {
        const deploy_result *r = it[i].r;
        char w[32], k[32], bud[32], tok[32], bl[32];
        gb(r->weight_bytes, w, sizeof w);
        gb(r->kv_bytes_per_seq, k, sizeof k);
        gb(r->kv_budget_bytes, bud, sizeof bud);
        commas(r->eng.tokens, tok, sizeof tok);
        if (d->engine == ENG_LOGICAL) snprintf(bl, sizeof bl, "-");
        else commas(r->eng.blocks, bl, sizeof bl);
        fprintf(f, "  %-22s %12s %12s %12s %10s %14s %9.2f %9llu %9llu %9.3f %10.1f %11.1f\n", it[i].m->name, w, k, bud,
                bl, tok, r->eng.max_concurrency, (unsigned long long)r->replica_max_seqs,
                (unsigned long long)r->node_max_seqs, r->step_s * 1e3, r->tokens_per_s_device, r->tokens_per_s_node);
    }
    for (int i = 0; i < n; i++) {
        const deploy_result *r = it[i].r;
        const engine_result *g = &r->eng;
        fprintf(f, "\n%s: %s", it[i].m->name, g->version);
        if (d->engine != ENG_LOGICAL) fprintf(f, ", block %llu", (unsigned long long)g->block_size);
        fputc('\n', f);
        char a[32], b[32];
        gb(r->weight_replicated_bytes, a, sizeof a);
        gb(r->reserve_bytes, b, sizeof b);
        fprintf(f, "  per GPU: weights %llu B (%s replicated on every TP rank), KV of one sequence %llu B, budget "
                "%llu B, reserve %s = %s\n", (unsigned long long)r->weight_bytes, a,
                (unsigned long long)r->kv_bytes_per_seq, (unsigned long long)r->kv_budget_bytes, b,
                r->reserve_note ? r->reserve_note : "-");
        if (r->activation_bytes) {
            char ab[32];
            gb(r->activation_bytes, ab, sizeof ab);
            if (r->act_logit_rows)
                fprintf(f, "  activations %llu B (%s, %s the budget): prefill chunk of %llu tokens, logits of %llu "
                        "rows\n", (unsigned long long)r->activation_bytes, ab, r->act_in_budget ? "out of" : "not in",
                        (unsigned long long)r->act_tokens, (unsigned long long)r->act_logit_rows);
            else
                fprintf(f, "  activations %llu B (%s, %s)\n", (unsigned long long)r->activation_bytes, ab,
                        r->act_in_budget ? "out of the budget, as given"
                                         : "SGLang's 1.5 MiB x chunked_prefill_size, inside its reserve");
        }
        for (int k = 0; k < g->n_groups; k++)
            fprintf(f, "  group %-2d %-8s %3d layer caches, page %llu B of %llu tokens, %llu blocks per sequence\n", k,
                    g->group[k].kind, g->group[k].layers, (unsigned long long)g->group[k].page_bytes,
                    (unsigned long long)g->group[k].block_size, (unsigned long long)g->group[k].blocks_per_seq);
        if (d->engine == ENG_VLLM) {
            char t[32], l[32];
            commas(g->tokens, t, sizeof t);
            commas(ctx, l, sizeof l);
            fprintf(f, "  bytes per block %llu, %llu blocks, %llu blocks per request\n",
                    (unsigned long long)g->bytes_per_block, (unsigned long long)g->blocks,
                    (unsigned long long)g->blocks_per_seq);
            fprintf(f, "  vLLM log: GPU KV cache size: %s tokens\n", t);
            fprintf(f, "  vLLM log: Maximum concurrency for %s tokens per request: %.2fx\n", l, g->max_concurrency);
        } else if (d->engine == ENG_SGLANG) {
            fprintf(f, "  SGLang: max_total_num_tokens=%llu", (unsigned long long)g->tokens);
            if (g->swa_tokens) fprintf(f, ", swa tokens %llu", (unsigned long long)g->swa_tokens);
            fputc('\n', f);
        }
        fprintf(f, "  decode step at %llu seqs per replica: %.3f ms = max(compute %.3f, memory %.3f) + collectives "
                "%.3f ms; per GPU %llu B moved, TP all-reduce %llu B (%llu B sent), EP all-to-all %llu B\n",
                (unsigned long long)r->batch_per_replica, r->step_s * 1e3, r->compute_s * 1e3, r->memory_s * 1e3,
                r->comm_s * 1e3, (unsigned long long)r->step_bytes, (unsigned long long)r->allreduce_bytes,
                (unsigned long long)r->allreduce_wire_bytes, (unsigned long long)r->alltoall_bytes);
    }
}

void cli_capacity_json(FILE *f, const cli_cap_item *it, const deploy_cfg *d, const hw_profile *hw, u64 ctx)
{
    const deploy_result *r = it->r;
    const engine_result *g = &r->eng;
    fputs("{\"arch\": ", f);
    out_json_str(f, it->m->name);
    fprintf(f, ", \"ctx\": %llu, \"deploy\": {\"gpus\": %llu, \"tp\": %llu, \"pp\": %llu, \"dp\": %llu, \"ep\": %llu, "
            "\"dcp\": %llu, \"mem_util\": %.6g, \"kv_budget_given\": %s, \"spec_tokens\": %llu}", (unsigned long long)ctx,
            (unsigned long long)d->gpus, (unsigned long long)d->tp, (unsigned long long)d->pp, (unsigned long long)d->dp,
            (unsigned long long)d->ep, (unsigned long long)d->dcp, r->mem_util, d->kv_budget ? "true" : "false",
            (unsigned long long)d->spec_tokens);
    fputs(", \"hw\": ", f);
    if (hw) {
        fputs("{\"name\": ", f);
        out_json_str(f, hw->name);
        fprintf(f, ", \"memory_bytes\": %.0f, \"bandwidth_bytes_per_s\": %.0f, \"link_bytes_per_s\": %.0f}",
                hw->memory_bytes, hw->bandwidth, hw->link_bw);
    } else {
        fputs("null", f);
    }
    fprintf(f, ", \"engine\": {\"name\": \"%s\", \"version\": ", engine_name[d->engine]);
    out_json_str(f, g->version ? g->version : "");
    fprintf(f, ", \"block_size\": %llu, \"groups\": [", (unsigned long long)g->block_size);
    for (int k = 0; k < g->n_groups; k++)
        fprintf(f, "%s{\"kind\": \"%s\", \"layers\": %d, \"page_bytes\": %llu, \"block_size\": %llu, "
                "\"blocks_per_seq\": %llu}", k ? ", " : "", g->group[k].kind, g->group[k].layers,
                (unsigned long long)g->group[k].page_bytes, (unsigned long long)g->group[k].block_size,
                (unsigned long long)g->group[k].blocks_per_seq);
    fprintf(f, "], \"bytes_per_block\": %llu, \"blocks_per_seq\": %llu, \"max_concurrency\": %.6f, "
            "\"swa_tokens\": %llu}", (unsigned long long)g->bytes_per_block, (unsigned long long)g->blocks_per_seq,
            g->max_concurrency, (unsigned long long)g->swa_tokens);
    fprintf(f, ", \"per_device\": {\"weights_bytes\": %llu, \"weights_replicated_bytes\": %llu, "
            "\"kv_bytes_per_seq\": %llu, \"kv_budget_bytes\": %llu, \"reserve_bytes\": %llu, \"memory_bytes\": %llu, "
            "\"blocks\": %llu, \"tokens\": %llu}", (unsigned long long)r->weight_bytes,
            (unsigned long long)r->weight_replicated_bytes, (unsigned long long)r->kv_bytes_per_seq,
            (unsigned long long)r->kv_budget_bytes, (unsigned long long)r->reserve_bytes,
            (unsigned long long)r->memory_bytes, (unsigned long long)g->blocks, (unsigned long long)g->tokens);
    fprintf(f, ", \"reserve\": {\"what\": ");
    out_json_str(f, r->reserve_note ? r->reserve_note : "");
    fprintf(f, ", \"mem_util\": %.6g, \"activation_bytes\": %llu, \"activation_in_budget\": %s, "
            "\"activation_tokens\": %llu, \"logit_rows\": %llu}", r->mem_util, (unsigned long long)r->activation_bytes,
            r->act_in_budget ? "true" : "false", (unsigned long long)r->act_tokens,
            (unsigned long long)r->act_logit_rows);
    fprintf(f, ", \"max_seqs\": %llu, \"node\": {\"gpus\": %llu, \"replicas\": %llu, \"max_seqs\": %llu, "
            "\"decode_tokens_per_s\": %.6g}", (unsigned long long)r->replica_max_seqs, (unsigned long long)d->gpus,
            (unsigned long long)r->replicas, (unsigned long long)r->node_max_seqs, r->tokens_per_s_node);
    fprintf(f, ", \"step\": {\"batch_per_replica\": %llu, \"weight_read_bytes\": %llu, \"kv_read_bytes\": %llu, "
            "\"bytes\": %llu, \"flops\": %.6g, \"allreduce_bytes\": %llu, \"allreduce_wire_bytes\": %llu, "
            "\"alltoall_bytes\": %llu, \"compute_s\": %.9g, \"memory_s\": %.9g, \"comm_s\": %.9g, \"time_s\": %.9g, "
            "\"tokens_per_s_device\": %.6g}}", (unsigned long long)r->batch_per_replica,
            (unsigned long long)r->step_weight_read_bytes, (unsigned long long)r->step_kv_read_bytes,
            (unsigned long long)r->step_bytes, r->step_flops, (unsigned long long)r->allreduce_bytes,
            (unsigned long long)r->allreduce_wire_bytes, (unsigned long long)r->alltoall_bytes, r->compute_s,
            r->memory_s, r->comm_s, r->step_s, r->tokens_per_s_device);
}

/* ---- kvsim capacity ------------------------------------------------------ */

#define CAP_MAX 32

int cli_capacity(int argc, char **argv)
{
    deploy_cfg d;
    deploy_cfg_default(&d);
    const char *files[CAP_MAX], *sets[CLI_MAX_SETS], *hwname = NULL;
    int nf = 0, ns = 0, r;
    u64 ctx = 128 * 1024;
    bool json = false;
    sim_err e;
    cli_args p;
    cli_args_init(&p, "capacity", argc, argv);
    while ((r = cli_args_next(&p)) > 0) {
        int k = cli_deploy_opt(&p, &d);
        if (k < 0) return 2;
        if (k) continue;
        if (!p.opt) {
            if (nf == CAP_MAX) return cli_bad("capacity", "too many specs (at most %d)", CAP_MAX);
            files[nf++] = p.val;
        } else if (cli_is(&p, "--ctx")) {
            if (cli_ctx(&p, &ctx)) return 2;
        } else if (cli_is(&p, "--mtp")) {
            /* as in cost: N tokens drafted per step by the MTP module */
            if (cli_u64(&p, 1, 64, &d.spec_tokens)) return 2;
        } else if (cli_is(&p, "--hw")) {
            hwname = p.val;
        } else if (cli_is(&p, "--set")) {
            if (cli_add_set(&p, sets, &ns)) return 2;
        } else if (cli_is(&p, "--format")) {
            if (!strcmp(p.val, "json")) json = true;
            else if (strcmp(p.val, "table")) return cli_bad("capacity", "--format '%s': expected table or json", p.val);
        }
    }
    if (r < 0) return 2;
    if (!nf) return cli_bad("capacity", "capacity takes one or more specs");
    static hw_profile hw;
    if (hwname && hw_load(&hw, hwname, &e)) { fprintf(stderr, "kvsim: %s\n", e.msg); return 2; }
    if (!hwname && !d.kv_budget)
        return cli_bad("capacity", "capacity needs --hw PROFILE (memory, bandwidth) or --kv-budget BYTES");
    /* a node profile's GPU count is the default --gpus */
    if (hwname && hw.gpus && !d.set[0] && !d.set[3]) { d.gpus = hw.gpus; d.set[0] = true; }
    static model_spec ms[CAP_MAX];
    static deploy_result rs[CAP_MAX];
    static cli_cap_item it[CAP_MAX];
    int rc = 0, loaded = 0;
    deploy_cfg given = d;
    for (int i = 0; i < nf && !rc; i++) {
        char buf[4200];
        if (spec_load_any(&ms[i], cli_spec_path(files[i], buf, sizeof buf), sets, ns, &e)) {
            fprintf(stderr, "kvsim: %s\n", e.msg);
            rc = 2;
            break;
        }
        loaded++;
        deploy_cfg di = given;
        if (deploy_check(&di, &ms[i], &e) || deploy_eval(&ms[i], &di, hwname ? &hw : NULL, ctx, &rs[i], &e)) {
            fprintf(stderr, "kvsim: %s: %s\n", ms[i].name, e.msg);
            rc = 2;
            break;
        }
        d = di;
        it[i] = (cli_cap_item){&ms[i], &rs[i]};
    }
    if (!rc) {
        if (json) {
            if (nf > 1) fputs("{\"archs\": [", stdout);
            for (int i = 0; i < nf; i++) {
                if (i) fputs(", ", stdout);
                cli_capacity_json(stdout, &it[i], &d, hwname ? &hw : NULL, ctx);
            }
            fputs(nf > 1 ? "]}\n" : "\n", stdout);
        } else {
            cli_capacity_table(stdout, it, nf, &d, hwname ? &hw : NULL, ctx);
        }
        if (fflush(stdout)) rc = 2;
    }
    for (int i = 0; i < loaded; i++) spec_free(&ms[i]);
    return rc;
}

/* ---- hooks for cost and compare ------------------------------------------ */

typedef struct {
    cli_cap_item item;
    const deploy_cfg *d;
    const hw_profile *hw;
    u64 ctx;
} json_hook;

static deploy_result hook_res[CAP_MAX];
static deploy_cfg hook_cfg[CAP_MAX];
static json_hook hook[CAP_MAX];

static void hook_json(FILE *f, const void *ctx)
{
    const json_hook *h = ctx;
    fputs(", \"capacity\": ", f);
    cli_capacity_json(f, &h->item, h->d, h->hw, h->ctx);
}

int cli_deploy_attach(const deploy_cfg *given, const hw_profile *hw, u64 ctx, out_item *it, int n)
{
    sim_err e;
    if (!hw && !given->kv_budget) {
        fprintf(stderr, "kvsim: deployment options need --hw PROFILE or --kv-budget BYTES\n(see kvsim --help)\n");
        return 2;
    }
    if (n > CAP_MAX) n = CAP_MAX;
    for (int i = 0; i < n; i++) {
        deploy_cfg *d = &hook_cfg[i];
        *d = *given;
        if (hw && hw->gpus && !d->set[0] && !d->set[3]) { d->gpus = hw->gpus; d->set[0] = true; }
        if (deploy_check(d, it[i].m, &e) || deploy_eval(it[i].m, d, hw, ctx, &hook_res[i], &e)) {
            fprintf(stderr, "kvsim: %s: %s\n", it[i].m->name, e.msg);
            return 2;
        }
        hook[i] = (json_hook){{it[i].m, &hook_res[i]}, d, hw, ctx};
        it[i].json_extra = hook_json;
        it[i].json_extra_ctx = &hook[i];
    }
    return 0;
}

void cli_deploy_table(FILE *f, const out_item *it, int n, const hw_profile *hw, u64 ctx)
{
    cli_cap_item ci[CAP_MAX];
    if (n > CAP_MAX) n = CAP_MAX;
    for (int i = 0; i < n; i++) ci[i] = (cli_cap_item){it[i].m, &hook_res[i]};
    fputc('\n', f);
    cli_capacity_table(f, ci, n, &hook_cfg[0], hw, ctx);
}
