/* spec_scale.h - shrink a loaded spec so that its reference forward pass runs
 * on a laptop in seconds, keeping everything that shapes the cost curves.
 *
 * spec_scale divides by S: d_model, the vocabulary, and every field whose
 * registry entry carries a scale rule (layer.h, field_def.scale): today PLE's
 * dim and vocabulary, d_ff and the shared expert width, the router MLP width,
 * q_lora_rank and o_lora_rank, query / kv / indexer heads and o_groups, and
 * the number of routed experts (never below top_k). It keeps: the layer pattern and kinds, KV sharing,
 * per-head dims (head_dim, v_head_dim, nope/rope dims, kv_lora_rank,
 * index_head_dim: they fix the cache entry and its formats), compression
 * ratios, windows, top-k values, conv kernels, mHC streams and iterations,
 * and every divisibility rule (kv_heads | q_heads, o_groups | q_heads).
 * Counts never drop below 1; GQA keeps its group structure where it can
 * (kv_heads shrinks first to at least 1, q_heads to a multiple of it).
 *
 *   if (spec_scale(&m, 16, &e)) die(e.msg);   // then cost_eval / ref_init
 */
#ifndef SPEC_SCALE_H
#define SPEC_SCALE_H

#include "spec.h"

/* Scale m in place by S >= 1 and re-check every layer. Returns SIM_OK or
 * SIM_EINVAL (S = 0, or a layer that no longer checks; message says which). */
int spec_scale(model_spec *m, u64 S, sim_err *e);

/* The smallest power of two S with d_model / S <= max_d (what `--scale auto`
 * picks). This function can't fail. */
u64 spec_scale_auto(const model_spec *m, u64 max_d);

/* Keep only the first n layers (1 <= n <= n_layers); re-derives hc_streams. */
int spec_truncate(model_spec *m, u64 n, sim_err *e);

#endif
