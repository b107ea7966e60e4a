/* cli_deploy.h - deployment options on the command line (cost, compare,
 * capacity) and the capacity output (table and JSON; README "Deployment"). */
#ifndef CLI_DEPLOY_H
#define CLI_DEPLOY_H

#include <stdio.h>
#include "deploy.h"
#include "output.h"

/* If argv[*i] is a deployment option (--gpus --tp --pp --dp --ep --dcp
 * --engine --engine-rules --block --mem-util --kv-budget
 * --max-batched-tokens --swa-ratio --max-running-requests), consume it and its value (advancing *i)
 * and return 1; 0 if it is not one; -1 after printing the error for a bad
 * value (the caller exits 2). */
int cli_deploy_opt(int argc, char **argv, int *i, deploy_cfg *d);

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

/* kvsim capacity ARCH... --hw PROFILE [deployment options] --ctx T [--format table|json] */
int cli_capacity(int argc, char **argv);

#endif
