/* import_hf.h - Hugging Face config.json -> kvsim spec YAML (`kvsim import`).
 *
 * Reads a transformers config.json (plain or with a nested `text_config`)
 * with jansson and writes the equivalent spec text: the families llama,
 * mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, gemma2, gemma3(_text),
 * gemma3n(_text), gemma4(_text), deepseek_v2, deepseek_v3, deepseek_v32 and
 * deepseek_v4. It is not a general converter: every key is either read,
 * on an explicit ignore list (cost-neutral: rope_theta, token ids, ...), or
 * reported as a warning, so nothing that could change cost is dropped
 * silently. Serving formats that config.json does not carry (FP8 KV layouts,
 * FP4 indexer, MXFP4 experts) follow the shipped archs/ specs of the family,
 * and the generated header says so.
 *
 *   import_warnings w = {0}; sim_err e; char *yaml;
 *   if (import_hf_yaml("config.json", &yaml, &w, &e)) ... e.msg ...;
 *   for (int i = 0; i < w.n; i++) ... w.msg[i] ...;
 *   free(yaml);
 */
#ifndef IMPORT_HF_H
#define IMPORT_HF_H

#include "sim.h"

#define IMPORT_MAX_WARNINGS 16

/* Warnings collected by an import (the library never prints). When more than
 * IMPORT_MAX_WARNINGS arise, the rest are counted in `dropped`. */
typedef struct {
    char msg[IMPORT_MAX_WARNINGS][200];
    int n;
    int dropped;
} import_warnings;

/* Translate the config.json at json_path into spec YAML. On success
 * *yaml_out is a malloc'd NUL-terminated string the caller frees, and
 * warnings (if w is not NULL) are appended to w. On failure returns
 * SIM_EIO (unreadable file), SIM_EINVAL (bad JSON with line:col, a missing or
 * mistyped field, named as e.g. "text_config.hidden_size", or an unknown
 * model_type) or SIM_ENOMEM, with the message in e and *yaml_out NULL. */
int import_hf_yaml(const char *json_path, char **yaml_out, import_warnings *w, sim_err *e);

/* The same from JSON text in memory; `name` stands for the file in messages
 * and in the generated header. */
int import_hf_yaml_text(const char *json, size_t len, const char *name, char **yaml_out,
                        import_warnings *w, sim_err *e);

#endif
