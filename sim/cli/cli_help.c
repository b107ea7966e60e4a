/* cli_help.c - `kvsim help [COMMAND|spec]` and `kvsim version`. */
#include "cli.h"
#include "spec.h"
#include "layer.h"
#include <stdio.h>
#include <string.h>

/* The spec file's keys outside the components (sim/model/spec.c is the
 * authority; tests/cli.sh checks that every key it accepts is listed). */
static const char *const spec_keys[][2] = {
    {"name", "text, required; shown in every output (1-127 characters)"},
    {"d_model", "integer [1, 2^20], required; residual width, elements"},
    {"n_layers", "integer, required; layers in the stack"},
    {"vocab", "integer [1, 2^24], required; tokens in the embedding table"},
    {"tie_embeddings", "bool (default false); the LM head reuses the embedding table"},
    {"ple", "{dim, vocab}: per-layer embeddings (Gemma 4): a [vocab, n_layers x dim] table\n"
            "and the gated per-layer update; vocab defaults to the model's"},
    {"kv_dtype", "cache entry format: a dtype or a name from `formats` (default bf16)"},
    {"act_dtype", "dtype of activations crossing layers (default bf16)"},
    {"weights", "{linear, experts, embed, small, compressor, router}: storage format per weight class;\n"
                "all default to `linear` (bf16); `small` (norms, biases, mHC) to bf16; `router` (MoE\n"
                "routers, DSA's indexer head weights) to `small`"},
    {"compute", "{linear, attention, indexer}: compute dtype per class, for FP8-equivalent FLOPs\n"
                "and rooflines (default bf16)"},
    {"formats", "NAME: {parts: [{name, elements, dtype, scale, block}, ...], pad, align}: named\n"
                "storage formats (e.g. FP8 with one fp32 scale per 128-element block)"},
    {"ffn", "the FFN component of every layer unless its kind or an override says otherwise\n"
            "(ffn types below)"},
    {"residual", "the residual component (residual types below; default {type: plain})"},
    {"layers", "the layer kinds: NAME: {type: ATTENTION_TYPE, fields..., ffn?, residual?, kv_from?};\n"
               "a kind no layer uses must at least have a `type:`; a --set into layers.KIND must\n"
               "name an existing kind"},
    {"rope", "{theta: BASE, scaling: {type: none|linear|llama3|yarn, factor, ...}}: RoPE as the\n"
             "config.json gives it (default theta 10000, no scaling); llama3 takes low_freq_factor,\n"
             "high_freq_factor, original_max_position; yarn takes original_max_position, beta_fast,\n"
             "beta_slow, mscale, mscale_all_dim. The kernels apply it; costs do not depend on it"},
    {"norm_eps", "real [1e-12, 0.1]: RMSNorm epsilon (default 1e-6)"},
    {"embed_scale", "true: the embeddings are multiplied by sqrt(d_model) (Gemma; default false)"},
    {"logit_softcap", "real [0, 1e6]: logits = CAP tanh(logits / CAP) (Gemma 4: 30; default 0, none)"},
    {"pattern", "which kind each layer is: a list of kind names where {repeat: [...], times: N}\n"
                "repeats a group, or {every: N, offset: O, kind: K, else: E, last: L}; optional with\n"
                "one kind; must give exactly n_layers layers"},
    {"kv_sharing", "{shared_layers: N} or {fraction: F}: the last layers reuse the cache of the most\n"
                   "recent non-shared layer of the same kind (Gemma 4)"},
    {"overrides", "a list of {layers: N | \"A-B\" | [..], set: {PATH: VALUE}, ffn: {...}, residual: {...}}:\n"
                  "per-layer changes; `set` paths are relative to the layer (q_heads, window, ffn.d_ff,\n"
                  "kv_from)"},
    {"per_layer", "{PATH: [one value per layer]}, e.g. a q_heads list"},
    {"mtp", "{layers: N, kind: KIND, ffn: {...}?}: N multi-token-prediction modules (DeepSeek's\n"
            "num_nextn_predict_layers), each a layer of kind KIND + a [2d, d] projection + 3 norms,\n"
            "sharing the embedding and head; stored always (row mtp), run by `cost --mtp N`"},
    {"sources", "free text: where the numbers come from"},
    {"notes", "free text"},
};

static int help_spec(void)
{
    puts("A spec is a YAML mapping (see README.md, 'The spec language'). Unknown keys, wrong\n"
         "types and out-of-range values are errors with file:line:col. `--set PATH=VALUE`\n"
         "overrides any field by its path, e.g. layers.attn.window=4096.\n\nTop-level keys:");
    for (size_t i = 0; i < sizeof spec_keys / sizeof spec_keys[0]; i++) {
        printf("  %-16s ", spec_keys[i][0]);
        for (const char *h = spec_keys[i][1]; *h; h++) {
            putchar(*h);
            if (*h == '\n') printf("  %-16s ", "");
        }
        putchar('\n');
    }
    puts("\nComponent types (`type:` in a layer kind, `ffn:` or `residual:`) and their fields:");
    for (int i = 0; i < comp_registry_count; i++) {
        const comp_type *t = comp_registry[i];
        printf("\n%s type: %s - %s\n", comp_cat_name[t->cat], t->name, t->summary);
        for (const field_def *f = t->fields; f->key; f++) {
            char range[64] = "";
            if (f->kind == F_U64 || f->kind == F_REAL) snprintf(range, sizeof range, "[%llu, %llu] ", (unsigned long long)f->min, (unsigned long long)f->max);
            printf("  %-16s %-8s %s%s%s%s%s\n", f->key, f->kind == F_U64 ? "integer" : f->kind == F_BOOL ? "bool" : f->kind == F_CHOICE ? "choice" : f->kind == F_REAL ? "number" : "format",
                   range, f->unit, *f->unit ? "; " : "", f->help, f->required ? " (required)" : "");
        }
    }
    return fflush(stdout) ? 2 : 0;
}

int cli_help(int argc, char **argv)
{
    if (argc == 0) { cli_usage(stdout); return 0; }
    if (argc > 1) return cli_bad("help", "help takes one topic (got %d)", argc);
    if (!strcmp(argv[0], "spec")) return help_spec();
    if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) { cli_cmd_help(stdout, cli_find("help")); return 0; }
    const cli_cmd *c = cli_find(argv[0]);
    if (!c) {
        fprintf(stderr, "kvsim help: no command or topic '%s'; topics: spec", argv[0]);
        for (c = cli_cmds; c->name; c++) fprintf(stderr, ", %s", c->name);
        fputc('\n', stderr);
        return 2;
    }
    cli_cmd_help(stdout, c);
    return 0;
}

int cli_version(int argc, char **argv)
{
    (void)argv;
    if (argc) return cli_bad("version", "version takes no arguments");
    puts("kvsim " KVSIM_VERSION);
    return 0;
}
