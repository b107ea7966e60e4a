/* cli_deploy.h - deployment options on the command line (cost, compare,
 * capacity) and the capacity output (table and JSON; README "Deployment"). */
#ifndef CLI_DEPLOY_H
#define CLI_DEPLOY_H

#include <stdio.h>
#include "deploy.h"
#include "output.h"
#include "cli.h"

/* If the option in p is a deployment option (--gpus --tp --pp --dp --ep
 * --dcp --engine --engine-rules --block --mem-util --kv-budget
 * --max-batched-tokens --max-running-requests --swa-ratio --spec-tokens
 * --act-reserve --max-num-seqs: CLI_DEPLOY_OPTS,
 * listed in a command's option table), apply it to d and return 1; 0 if it
 * is not one; -1 after printing the error for a bad value (exit 2). */
int cli_deploy_opt(const cli_args *p, deploy_cfg *d);

/* Whether any deployment option was given (cost/compare then add capacity). */
bool cli_deploy_given(const deploy_cfg *d);

/* "64424509440", "60GiB", "61.25GiB", "80GB" -> bytes (floored); 0 ok, -1 bad. */
int cli_parse_bytes(const char *v, u64 *out);

typedef struct {
    const model_spec *m;
    const deploy_result *r;
} cli_cap_item;

void cli_capacity_table(FILE *f, const cli_cap_item *it, int n, const deploy_cfg *d, const hw_profile *hw, u64 ctx);
/* One arch as the JSON object documented in the README. */
void cli_capacity_json(FILE *f, const cli_cap_item *it, const deploy_cfg *d, const hw_profile *hw, u64 ctx);

/* cost/compare: evaluate the deployment for each item and hook its JSON
 * ("capacity" member); returns 0, or 2 after printing the error. */
int cli_deploy_attach(const deploy_cfg *given, const hw_profile *hw, u64 ctx, out_item *it, int n);
/* cost/compare: the capacity table after the cost table. */
void cli_deploy_table(FILE *f, const out_item *it, int n, const hw_profile *hw, u64 ctx);

/* The deployment options for a command's option table (cli_cmds.c). */
#define CLI_DEPLOY_OPTS \
    {"--gpus", "N", "deployment (README.md, 'Deployment'): GPUs used, = tp x pp x dp (default that,\n" \
                    "or a node profile's gpus)"}, \
    {"--tp", "T", "tensor-parallel ranks of a replica (default 1)"}, \
    {"--pp", "P", "pipeline stages (default 1)"}, \
    {"--dp", "D", "data-parallel replicas, each with its own KV pool (default gpus / (tp x pp))"}, \
    {"--ep", "E", "expert-parallel ranks for MoE experts (default 1: experts split by TP)"}, \
    {"--dcp", "C", "decode context parallel: a sequence's KV tokens over C of the TP ranks (default 1)"}, \
    {"--engine", "E", "KV allocation rules: logical (default: exact bytes, no pages), vllm or sglang"}, \
    {"--engine-rules", "R", "newest (default), vllm-0.20 or vllm-0.19: older vLLM formulas"}, \
    {"--block", "N", "tokens per block (vLLM) or page (SGLang); default the engine's for the model"}, \
    {"--mem-util", "F", "gpu_memory_utilization / mem_fraction_static (default 0.9; SGLang: its\n" \
                        "heuristic from the GPU's memory, chunk size, CUDA-graph batch and layout)"}, \
    {"--act-reserve", "A", "activation memory per GPU taken out of the KV budget: auto (an estimate\n" \
                           "of one prefill chunk, vLLM's default), none (logical's and SGLang's default:\n" \
                           "SGLang holds it inside 1 - mem_fraction_static) or bytes, e.g. 4GiB"}, \
    {"--kv-budget", "BYTES", "KV memory per GPU, e.g. 61.25GiB (an engine log's \"Available KV cache\n" \
                            "memory\"): reproduces its \"GPU KV cache size\" and concurrency lines"}, \
    {"--max-batched-tokens", "N", "vLLM max_num_batched_tokens (default 8192; 2048 under 70 GiB or on A100)"}, \
    {"--max-running-requests", "N", "SGLang max_running_requests per DP worker (default its estimate)"}, \
    {"--swa-ratio", "F", "SGLang swa_full_tokens_ratio (default 0.8; 0.1 for DeepSeek V4)"}, \
    {"--max-num-seqs", "N", "vLLM max_num_seqs: rows of the profile run's logits (default 1024;\n" \
                            "256 under 70 GiB or on A100)"}, \
    {"--spec-tokens", "N", "speculative decoding, N tokens proposed per step by one MTP/EAGLE draft\n" \
                           "layer (top-k 1): its cache, SGLang's rings and SWA footprint (default none;\n" \
                           "cost --mtp N sets it too)"}

/* kvsim capacity ARCH... --hw PROFILE [deployment options] --ctx T [--format table|json] */
int cli_capacity(int argc, char **argv);

#endif
