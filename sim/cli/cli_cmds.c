/* cli_cmds.c - THE command table: every command, its function, one line of
 * help and its options. The dispatcher (main.c), `kvsim --help`,
 * `kvsim CMD --help`, the argument parser (cli_args.c), the man page and
 * the bash completion are all checked against it (tests/cli.sh). A new
 * command is one row here plus its function. */
#include "cli.h"
#include "cli_calib.h"
#include "cli_deploy.h"
#include <string.h>

#define O_SET {"--set", "PATH=VALUE", "override a spec field before checking (repeatable), e.g.\n" \
                                     "--set kv_sharing.shared_layers=0  --set layers.csa.compress_ratio=8  --set kv_dtype=fp8"}

static const cli_opt cost_opts[] = {
    {"--ctx", "N", "context tokens: 4096, 4k (=4096), 128k, 1M (=1,048,576); default 128k"},
    {"--phase", "P", "decode (one new token with N cached; default) or prefill (N tokens)"},
    {"--noncausal", NULL, "prefill: bidirectional attention: a global query sees all N tokens, a window\n"
                          "W the keys within W-1 on each side (README.md, 'Counting conventions')"},
    {"--mla-form", "F", "auto|absorbed|expanded: how every MLA / DSA layer executes, overriding each\n"
                        "kind's mla_form (README.md, 'Counting conventions')"},
    {"--batch", "B", "sequences (default 1)"},
    {"--page", "N", "round each cache buffer up to pages of N entries (an engine's block size,\n"
                    "e.g. 16 or 256); default: logical bytes"},
    {"--mtp", "N", "decode: speculative decoding with N draft tokens per step from the spec's MTP\n"
                   "modules (the drafts in row mtp, N+1 tokens verified; README.md, 'Commands')"},
    {"--by", "type|layer", "rows per layer type (default), or also one per layer"},
    O_SET,
    {"--hw", "NAME|PATH", "add predicted time per row and the longest context that fits, for a hardware\n"
                          "profile: h100-sxm, h200, a100-80gb, rtx-4090, apple-m3-max (DATA/scenarios/hw/),\n"
                          "or a profile file such as `kvsim probe` or `kvsim calibrate` writes"},
    {"--time", "model|roofline", "with --hw: the per-operation time model (the profile's measured curves) or\n"
                                 "the roofline (max of compute and memory per row); default: model when the\n"
                                 "profile has curves, roofline otherwise (the shipped GPU profiles)"},
    {"--format", "F", "table (default), csv or json (README.md, 'Output formats')"},
    CLI_DEPLOY_OPTS,
    {NULL, NULL, NULL}};

static const cli_opt capacity_opts[] = {
    {"--ctx", "T", "tokens per sequence (the engine's max_model_len): 4096, 4k, 128k, 1M; default 128k"},
    {"--hw", "NAME|PATH", "GPU or node profile: 8xh100-sxm, 8xh200, 8xb200, h100-sxm, h200, ... (memory,\n"
                          "bandwidth, compute, NVLink); or give --kv-budget"},
    {"--format", "F", "table (default) or json (README.md, 'Deployment')"},
    {"--mtp", "N", "speculative decoding with N tokens drafted per step (as cost --mtp): the same as\n"
                   "--spec-tokens N"},
    O_SET,
    CLI_DEPLOY_OPTS,
    {NULL, NULL, NULL}};

static const cli_opt check_opts[] = {O_SET, {NULL, NULL, NULL}};

static const cli_opt out_opt[] = {{"-o", "FILE", "write to FILE (atomically) instead of stdout"}, {NULL, NULL, NULL}};

static const cli_opt sweep_opts[] = {
    {"--db", "FILE", "the SQLite database (default reports/kvsim.db; its directory is created)"},
    {"--shard", "I/N", "only the I-th of N interleaved parts of the points (merge the shards' databases)"},
    {NULL, NULL, NULL}};

static const cli_opt merge_opts[] = {{"-o", "OUT.db", "the merged database (required)"}, {NULL, NULL, NULL}};

static const cli_opt report_opts[] = {
    {"--db", "FILE", "the database the sweep wrote (default reports/kvsim.db)"},
    {"--out", "DIR", "where to write (default reports/NAME, NAME from the scenario)"},
    {"--archs", "DIR", "specs for the published-claims section (default DATA/archs)"},
    {NULL, NULL, NULL}};

static const cli_opt probe_opts[] = {{"-o", "PROFILE.yaml", "write the profile there (default: stdout)"},
                                     {"--csv", "FILE", "also write the time model's measurements (the CSV `kvsim calibrate` reads)"},
                                     {NULL, NULL, NULL}};

static const cli_opt calibrate_opts[] = {{"-o", "PROFILE.yaml", "write the profile there (default: stdout)"},
                                         {"--name", "NAME", "the profile's name (default calibrated-FILE)"},
                                         {NULL, NULL, NULL}};

#define O_SCALE {"--scale", "S|auto", "divide widths, heads and counts by S (default auto: d_model <= 256)"}
#define O_LAYERS {"--layers", "N", "keep only the first N layers"}
#define O_SEED {"--seed", "N", "random weights and tokens from this seed (default 1)"}

static const cli_opt run_opts[] = {
    {"--ctx", "T", "prefill length in tokens (required; at most 1M)"},
    {"--decode", "N", "decode steps after the prefill (default 0)"},
    O_SCALE, O_LAYERS, O_SEED, O_SET,
    {"--dump", "DIR", "write every layer's inputs, outputs and caches as .npy (DIR must be new or empty)"},
    {"--mtp", NULL, "also run the spec's MTP module after each step on the next tokens: its draft\n"
                    "logits (checksum line; mtp_logits.npy with --dump; README.md, 'Commands')"},
    {NULL, NULL, NULL}};

static const cli_opt validate_opts[] = {
    {"--ctx", "T,T,...", "contexts to check (default: the spec's edge contexts up to --max-ctx)"},
    O_SCALE, O_LAYERS, O_SEED, O_SET,
    {"--max-ctx", "N", "largest default edge context (default 600)"},
    {"--brief", NULL, "print only mismatching counters"},
    {"--noncausal", NULL, "bidirectional prefills, compared with cost --noncausal"},
    {"--mla-form", "F", "auto|absorbed|expanded: every MLA / DSA layer's form"},
    {NULL, NULL, NULL}};

const cli_cmd cli_cmds[] = {
    {"cost", cli_cost, "ARCH.yaml", "costs of one architecture, by layer type", cost_opts},
    {"compare", cli_compare, "ARCH.yaml ARCH.yaml ...", "side by side, ratios against the first", cost_opts},
    {"capacity", cli_capacity, "ARCH.yaml ...", "per GPU weights, KV budget, engine blocks and tokens; sequences per node; decode rate", capacity_opts},
    {"check", cli_check, "SPEC.yaml ...", "load and check specs; print a summary", check_opts},
    {"import", cli_import, "config.json", "a Hugging Face config.json as a spec (cost, compare, check take .json too)", out_opt},
    {"sweep", cli_sweep, "SCENARIO.yaml", "run a scenario's points into SQLite", sweep_opts},
    {"merge", cli_merge, "A.db B.db ...", "merge sweep databases (e.g. shards)", merge_opts},
    {"report", cli_report, "SCENARIO.yaml", "plots (.csv, .gp, .png, .svg) and index.md from a sweep's database", report_opts},
    {"run", cli_run, "ARCH.yaml", "a forward pass through the reference kernels: checksum, time, counters", run_opts},
    {"validate", cli_validate, "ARCH.yaml ...", "reference-kernel counters == the model at edge contexts (exit 1 if not)", validate_opts},
    {"probe", cli_probe, "", "measure this CPU (sgemm, bandwidth, time-model curves) as a profile for --hw", probe_opts},
    {"calibrate", cli_calibrate, "MEASUREMENTS.csv", "fit the time model's curves from measured operation times", calibrate_opts},
    {"help", cli_help, "[COMMAND|spec]", "this list, a command's options, or every spec field", NULL},
    {"version", cli_version, "", "print the version", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

const cli_cmd *cli_find(const char *name)
{
    for (const cli_cmd *c = cli_cmds; name && c->name; c++)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

/* "kvsim NAME ARGS [options]" without doubled spaces. */
static void synopsis(const cli_cmd *c, char *buf, size_t len)
{
    snprintf(buf, len, "kvsim %s%s%s%s", c->name, *c->args ? " " : "", c->args, c->opts ? " [options]" : "");
}

void cli_usage(FILE *f)
{
    fputs("kvsim " KVSIM_VERSION " - exact KV-cache, FLOP, traffic and parameter costs of LLM architectures\n\nusage:\n", f);
    for (const cli_cmd *c = cli_cmds; c->name; c++) {
        char syn[96];
        synopsis(c, syn, sizeof syn);
        if (strlen(syn) > 40) fprintf(f, "  %s\n  %-40s %s\n", syn, "", c->help);
        else fprintf(f, "  %-40s %s\n", syn, c->help);
    }
    fputs("\n`kvsim CMD --help` lists a command's options; `--opt=value` is the same as `--opt value`.\n"
          "Shipped specs and hardware profiles are found from any directory (KVSIM_DATA overrides where).\n"
          "exit status: 0 ok, 1 a check failed, 2 bad input (message on stderr)\n", f);
}

void cli_cmd_help(FILE *f, const cli_cmd *c)
{
    char syn[96];
    synopsis(c, syn, sizeof syn);
    fprintf(f, "usage: %s\n\n%s\n", syn, c->help);
    if (!c->opts) return;
    fputs("\noptions:\n", f);
    for (const cli_opt *o = c->opts; o->name; o++) {
        char head[48];
        snprintf(head, sizeof head, "%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
        fprintf(f, "  %-22s ", head);
        for (const char *h = o->help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n') fprintf(f, "  %-22s ", "");
        }
        fputc('\n', f);
    }
}
