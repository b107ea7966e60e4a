#!/usr/bin/env python3
"""hf_count.py - parameters and KV-cache bytes of a Hugging Face config.json
counted from first principles, compared with `kvsim import` + `kvsim cost`.

The count follows the released modelling code of each family, module by
module, and nothing of kvsim's:

  llama     transformers models/llama/modeling_llama.py: LlamaAttention
            (q/k/v/o, all four with bias=attention_bias), LlamaMLP
            (gate/up/down, bias=mlp_bias), 2 RMSNorms per layer, final norm
  mistral   modeling_mistral.py: as Llama without biases; sliding_window
            (when not null) on every layer
  mixtral   modeling_mixtral.py: Mistral attention, MixtralSparseMoeBlock
            (gate d x E without bias, E experts w1/w2/w3 of intermediate_size)
  qwen2     modeling_qwen2.py: q/k/v with bias, o without; sliding layers
            i >= max_window_layers when use_sliding_window
  qwen2_moe modeling_qwen2_moe.py: + shared_expert (intermediate
            shared_expert_intermediate_size) and shared_expert_gate (d x 1)
  qwen3     modeling_qwen3.py: q/k/v/o with bias=attention_bias, q_norm and
            k_norm (head_dim each)
  qwen3_moe modeling_qwen3_moe.py: Qwen3 attention; MoE on layers not in
            mlp_only_layers with (i+1) % decoder_sparse_step == 0 (gate d x E
            without bias), the others Qwen3MoeMLP(intermediate_size)
  gemma2/3  modeling_gemma2.py / modeling_gemma3.py: 4 RMSNorms per layer,
            tied embeddings by default, Gemma 3's q/k norms; sliding layers
            by layer_types, else Gemma 2's even layers / Gemma 3's
            (i+1) % sliding_window_pattern != 0
  deepseek_v2/v3 (and kimi_k2, which is DeepseekV3ForCausalLM)
            modeling_deepseek_v3.py: MLA (q_a_proj + q_a_layernorm +
            q_b_proj, or q_proj; kv_a_proj_with_mqa d x (kv_lora_rank +
            qk_rope_head_dim), kv_a_layernorm, kv_b_proj, o_proj); MoE on
            layers i >= first_k_dense_replace with i % moe_layer_freq == 0:
            gate E x d (+ e_score_correction_bias E with topk_method
            noaux_tc), routed experts, n_shared_experts x moe_intermediate
            shared MLP; MTP modules (num_nextn_predict_layers, DeepSeek-V3
            inference/model.py MTP: a decoder layer + eh_proj 2d x d + enorm,
            hnorm and the shared head's norm; embedding and head shared)

Active parameters (kvsim's convention, the weights that multiply each token):
all but the input embedding table and the routed experts not chosen (k of
E); a tied table counts as active once, as the LM head. Qwen's model cards
give "Non-Embedding" parameters without either table (the input table and
the untied lm_head): checked as total - table - untied head.

KV cache, per layer and token, bytes of torch_dtype (bf16: 2): GQA 2 x
kv_heads x head_dim, a sliding layer holding min(T, window) tokens; MLA
kv_lora_rank + qk_rope_head_dim (one latent shared by all heads).

FLOPs: one decode token's matrix products, 2 per active weight of the
layers' matrices (the attention projections, routers, chosen and shared
experts; not norms, biases or the head).

Usage: python3 tests/hf_count.py ./kvsim
Each config named in CASES (tests/fuzz/corpus_import/, the import fuzzer's
seeds) is imported by kvsim and costed at T = 131072 and T = 1 (decode, json);
kvsim's params (total, active, embedding table, MTP row) and KV bytes must
equal this count exactly, and the count must round to the published figure
where one exists. The configs in REFUSED must be refused (exit 2) naming the
field. Prints one PASS/FAIL line per check, then "hf-count: N passed, M failed".
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "fuzz", "corpus_import")

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    passed += bool(ok)
    failed += not ok
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else "  " + detail))


def dtype_bytes(c):
    t = c.get("torch_dtype") or c.get("dtype") or "bfloat16"
    return {"bfloat16": 2, "float16": 2, "float32": 4}[t]


# transformers Gemma3TextConfig's defaults: a Gemma 3 config.json names only
# what differs (google/gemma-3-4b-it gives no heads, head_dim or vocab_size).
GEMMA3_TEXT_DEFAULTS = {"vocab_size": 262208, "num_attention_heads": 8, "num_key_value_heads": 4,
                        "head_dim": 256, "sliding_window": 4096, "sliding_window_pattern": 6}


def text_cfg(cfg):
    """Gemma 3's wrapper keeps the decoder under text_config."""
    if cfg.get("model_type") in ("gemma3",) and isinstance(cfg.get("text_config"), dict):
        c = dict(GEMMA3_TEXT_DEFAULTS)
        c.update({k: v for k, v in cfg["text_config"].items() if v is not None})
        for k in ("torch_dtype", "tie_word_embeddings"):
            if k in cfg and k not in c:
                c[k] = cfg[k]
        c["model_type"] = "gemma3_text"
        return c
    return cfg


def sliding_layers(c, fam, L):
    """Which layers slide (True) per the family's rule."""
    if isinstance(c.get("layer_types"), list):
        return [t == "sliding_attention" for t in c["layer_types"]]
    if fam in ("mistral", "mixtral"):
        return [c.get("sliding_window") is not None] * L
    if fam in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
        mw = c.get("max_window_layers") or 0
        return [bool(c.get("use_sliding_window")) and i >= mw for i in range(L)]
    if fam == "gemma2":
        return [bool((i + 1) % 2) for i in range(L)]
    if fam == "gemma3_text":
        p = c.get("sliding_window_pattern", 6)
        return [bool((i + 1) % p) for i in range(L)]
    return [False] * L


def count_gqa(c, fam):
    d, L, V = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    H = c["num_attention_heads"]
    G = c.get("num_key_value_heads") or H
    hd = c.get("head_dim") or d // H
    gemma = fam.startswith("gemma")
    tie = c.get("tie_word_embeddings", gemma)
    ab = bool(c.get("attention_bias", False))
    # attention
    attn = d * H * hd + 2 * d * G * hd + H * hd * d
    if fam == "qwen2" or fam == "qwen2_moe":
        attn += H * hd + 2 * G * hd                      # q/k/v bias=True, o bias=False
    elif fam in ("llama", "qwen3", "qwen3_moe", "gemma2", "gemma3_text") and ab:
        attn += H * hd + 2 * G * hd + d                  # all four projections
    if fam in ("qwen3", "qwen3_moe", "gemma3_text"):
        attn += 2 * hd                                   # q_norm, k_norm
    norms = (4 if gemma else 2) * d
    ff = c.get("intermediate_size")
    dense = 3 * d * ff if ff else 0
    if fam == "llama" and c.get("mlp_bias"):
        dense += 2 * ff + d
    # the matrices alone (no biases, norms): each multiplies every token once
    attn_mat = d * H * hd + 2 * d * G * hd + H * hd * d
    total = active = lin = 0
    for i in range(L):
        layer = attn + norms
        if fam == "mixtral":
            E, k = c["num_local_experts"], c["num_experts_per_tok"]
            ex = 3 * d * ff
            total += layer + d * E + E * ex
            active += layer + d * E + k * ex
            lin += attn_mat + d * E + k * ex
            continue
        moe = False
        if fam in ("qwen2_moe", "qwen3_moe"):
            E = c.get("num_experts") or 0
            step = c.get("decoder_sparse_step") or 1
            moe = E > 0 and i not in (c.get("mlp_only_layers") or []) and (i + 1) % step == 0
        if moe:
            k, mi = c["num_experts_per_tok"], c["moe_intermediate_size"]
            ex = 3 * d * mi
            shared = 0
            if fam == "qwen2_moe" and c.get("shared_expert_intermediate_size"):
                shared = 3 * d * c["shared_expert_intermediate_size"] + d   # + shared_expert_gate
            total += layer + d * E + E * ex + shared
            active += layer + d * E + k * ex + shared
            lin += attn_mat + d * E + k * ex + shared
        else:
            total += layer + dense
            active += layer + dense
            lin += attn_mat + 3 * d * ff
    embed = V * d
    total += embed + d + (0 if tie else V * d)           # table, final norm, lm_head
    active += d + V * d                                  # a tied table is read again as the head
    win = c.get("sliding_window")
    slide = sliding_layers(c, fam, L)
    B = dtype_bytes(c)

    def kv(T):
        return sum((min(T, win) if s else T) * 2 * G * hd * B for s in slide)
    return {"total": total, "active": active, "embed": embed, "mtp": 0, "kv": kv, "lin": lin}


def count_mla(c):
    d, L, V = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    H = c["num_attention_heads"]
    qr = c.get("q_lora_rank") or 0
    kvr, nope, rope, v = c["kv_lora_rank"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    qk = nope + rope
    attn = (d * qr + qr + qr * H * qk) if qr else d * H * qk
    attn += d * (kvr + rope) + kvr + kvr * H * (nope + v) + H * v * d
    attn_mat = attn - kvr - (qr if qr else 0)        # without the two latent norms
    norms = 2 * d
    E = c.get("n_routed_experts") or 0
    k = c.get("num_experts_per_tok") or 0
    mi = c.get("moe_intermediate_size") or 0
    ff = c.get("intermediate_size") or 0
    first = c.get("first_k_dense_replace") or 0
    freq = c.get("moe_layer_freq") or 1
    sel_bias = E if c.get("topk_method") == "noaux_tc" else 0
    moe_total = d * E + sel_bias + E * 3 * d * mi + 3 * d * mi * (c.get("n_shared_experts") or 0)
    moe_active = moe_total - (E - k) * 3 * d * mi
    total = active = lin = 0
    for i in range(L):
        if E and i >= first and i % freq == 0:
            total += attn + norms + moe_total
            active += attn + norms + moe_active
            lin += attn_mat + moe_active - sel_bias
        else:
            total += attn + norms + 3 * d * ff
            active += attn + norms + 3 * d * ff
            lin += attn_mat + 3 * d * ff
    embed = V * d
    tie = c.get("tie_word_embeddings", False)
    total += embed + d + (0 if tie else V * d)
    active += d + V * d
    n_mtp = c.get("num_nextn_predict_layers") or 0
    mtp = n_mtp * (attn + norms + (moe_total if E else 3 * d * ff) + 2 * d * d + 3 * d)
    total += mtp
    B = dtype_bytes(c)
    return {"total": total, "active": active, "embed": embed, "mtp": mtp,
            "kv": lambda T: L * T * (kvr + rope) * B, "lin": lin}


def count(cfg):
    c = text_cfg(cfg)
    fam = c["model_type"]
    if fam in ("deepseek_v2", "deepseek_v3", "kimi_k2"):
        return count_mla(c)
    return count_gqa(c, fam)


def kvsim_cost(K, yaml, T):
    out = subprocess.run([K, "cost", yaml, "--ctx", str(T), "--format", "json"], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr.strip())
    return json.loads(out.stdout)


# Configs (tests/fuzz/corpus_import/NAME.json, each with its source in
# _kvsim_source) and the published parameter counts they must reproduce:
# (figure, unit, source). A count matches a figure when rounding or cutting it
# to the figure's precision gives the figure (Qwen's cards cut: 7.6156B is
# their "7.61B"). The count itself is checked against kvsim exactly; these
# say that both agree with what the publisher counted.
CASES = {
    "qwen3-0.6b": ("0.6", "B", "Qwen3-0.6B model card: Number of Parameters 0.6B"),
    "qwen3-1.7b": ("1.7", "B", "Qwen3-1.7B model card: 1.7B"),
    "qwen3-4b": ("4.0", "B", "Qwen3-4B model card: 4.0B"),
    "qwen3-14b": ("14.8", "B", "Qwen3-14B model card: 14.8B"),
    "qwen3-32b": ("32.8", "B", "Qwen3-32B model card: 32.8B"),
    "qwen3-235b-a22b": ("235", "B", "Qwen3-235B-A22B model card: 235B total"),
    "qwen3-coder-480b-a35b": ("480", "B", "Qwen3-Coder-480B-A35B-Instruct model card: 480B total"),
    "qwen2.5-3b": ("3.09", "B", "Qwen2.5-3B model card: 3.09B"),
    "qwen2.5-7b": ("7.61", "B", "Qwen2.5-7B model card: 7.61B"),
    "qwen2.5-14b": ("14.7", "B", "Qwen2.5-14B model card: 14.7B"),
    # Qwen2.5-32B's card says 32.5B (non-embedding 31.0B), which its own
    # config cannot give: 64 x 487,605,248 + 2 x 152064 x 5120 + 5120 =
    # 32,763,876,352 (the weights the checkpoint holds); no figure checked.
    "qwen2.5-32b": (None, "B", "Qwen2.5-32B model card: 32.5B, not reproducible from its config"),
    "llama-3.1-8b": ("8.03", "B", "Llama 3.1 8B: 8.03B (Meta's model card '8B'; safetensors 8,030,261,248)"),
    "llama-3.2-3b": ("3.21", "B", "Llama 3.2 3B model card: 3.21B"),
    "llama-3.1-70b": ("70.6", "B", "Llama 3.1 70B: 70.6B (safetensors 70,553,706,496)"),
    "llama-3.1-405b": ("406", "B", "Llama 3.1 405B: 405.85B (safetensors 405,853,388,800)"),
    "mixtral-8x22b": ("141", "B", "Mixtral 8x22B announcement (mistral.ai): 141B total"),
    "deepseek-r1": ("671", "B", "DeepSeek-R1 / V3 model card: 671B main model + 14B MTP module"),
    "kimi-k2-instruct": ("1", "T", "Kimi K2 model card: 1T total parameters"),
    # The configs kvsim's own tests already import (tests/configs), counted here
    # too: Gemma 2's and 3's sliding layers, Mistral's all-sliding window,
    # Qwen2-MoE's shared expert and gate, DeepSeek V2's softmax MLA MoE.
    "gemma-2-9b-it": ("9.24", "B", "Gemma 2 9B: 9,241,705,984 (Hugging Face model page, 9.24B)"),
    "gemma-3-4b-it": (None, "B", "Gemma 3 4B: the published 4B includes the SigLIP encoder kvsim does not count"),
    "mistral-7b-v0.1": ("7.24", "B", "Mistral 7B announcement / model card: 7.24B"),
    "qwen2-7b": ("7.62", "B", "Qwen2-7B: 7,615,616,512 (Hugging Face model page, 7.62B)"),
    "llama-3-8b": ("8.03", "B", "Meta-Llama-3-8B: 8,030,261,248 (Hugging Face model page, 8.03B)"),
    "deepseek-v2-lite": ("15.7", "B", "DeepSeek-V2-Lite model card: 15.7B total, 2.4B activated"),
    "deepseek-v3": ("671", "B", "DeepSeek-V3 model card: 671B main model + 14B MTP module"),
    "qwen1.5-moe-a2.7b": ("14.3", "B", "Qwen1.5-MoE-A2.7B model card: 14.3B total"),
    "mixtral-8x7b": ("46.7", "B", "Mixtral 8x7B announcement (mistral.ai): 46.7B total"),
    "qwen3-30b-a3b": ("30.5", "B", "Qwen3-30B-A3B model card: 30.5B total"),
    "qwen3-8b": ("8.2", "B", "Qwen3-8B model card: 8.2B"),
}

# Published activated counts (same matching rule).
ACTIVE = {
    "qwen3-235b-a22b": ("22", "B", "Qwen3-235B-A22B model card: 22B activated"),
    "qwen3-coder-480b-a35b": ("35", "B", "Qwen3-Coder-480B-A35B model card: 35B activated"),
    "mixtral-8x22b": ("39", "B", "Mixtral 8x22B announcement: 39B active"),
    "deepseek-r1": ("37", "B", "DeepSeek-V3 model card: 37B activated"),
    "kimi-k2-instruct": ("32", "B", "Kimi K2 model card: 32B activated"),
    "deepseek-v3": ("37", "B", "DeepSeek-V3 model card: 37B activated"),
    "deepseek-v2-lite": ("2.4", "B", "DeepSeek-V2-Lite model card: 2.4B activated"),
}

# Qwen's "Non-Embedding" figures (total - input table - untied lm_head).
NON_EMBEDDING = {
    "qwen3-0.6b": ("0.44", "B", "Qwen3-0.6B model card: Non-Embedding 0.44B"),
    "qwen3-1.7b": ("1.4", "B", "Qwen3-1.7B model card: Non-Embedding 1.4B"),
    "qwen3-4b": ("3.6", "B", "Qwen3-4B model card: Non-Embedding 3.6B"),
    "qwen3-14b": ("13.2", "B", "Qwen3-14B model card: Non-Embedding 13.2B"),
    "qwen3-32b": ("31.2", "B", "Qwen3-32B model card: Non-Embedding 31.2B"),
    "qwen2.5-3b": ("2.77", "B", "Qwen2.5-3B model card: Non-Embedding 2.77B"),
    "qwen2.5-7b": ("6.53", "B", "Qwen2.5-7B model card: Non-Embedding 6.53B"),
    # Qwen2.5-14B's card: Non-Embedding 13.1B; its config gives 13.21B
    # (48 x 275,268,608 + 5,120 = 13,212,898,304); not checked, like 32B's.
}

# Configs kvsim cannot express: import must exit 2 naming the field and the
# reason (sim/import/import_hf.c refused_types).
REFUSED = {
    "gpt-oss-20b": ("model_type:", "gate_up_proj_bias"),     # biased, clamped experts
    "gpt-oss-120b": ("model_type:", "gate_up_proj_bias"),
    "llama-4-scout": ("model_type:", "attention_chunk_size"),  # chunked attention
    "qwen3.5-27b": ("model_type:", "linear_attention"),        # Gated DeltaNet layers
}


def rounds_to(n, fig, unit):
    """n (an integer count) rounded or cut to fig's decimals equals fig."""
    scale = {"B": 10**9, "T": 10**12}[unit]
    q = len(fig.split(".")[1]) if "." in fig else 0
    want = round(float(fig) * 10**q)           # fig in units of 10^-q
    step = scale // 10**q                      # one such unit in parameters
    return n // step == want or (n + step // 2) // step == want


def main():
    K = sys.argv[1] if len(sys.argv) > 1 else "./kvsim"
    with tempfile.TemporaryDirectory() as t:
        for name, (fig, unit, src) in CASES.items():
            path = os.path.join(CORPUS, name + ".json")
            with open(path) as f:
                cfg = json.load(f)
            want = count(cfg)
            y = os.path.join(t, name + ".yaml")
            r = subprocess.run([K, "import", path, "-o", y], capture_output=True, text=True)
            check(f"{name}/import", r.returncode == 0, r.stderr.strip())
            if r.returncode:
                continue
            try:
                big, one = kvsim_cost(K, y, 131072), kvsim_cost(K, y, 1)
            except RuntimeError as e:
                check(f"{name}/cost", False, str(e))
                continue
            rows = {x["type"]: x for x in big["by_type"]}
            got = {"total": big["params"]["total"], "active": big["params"]["active"],
                   "embed": rows.get("embed", {}).get("params", 0), "mtp": rows.get("mtp", {}).get("params", 0)}
            for k in ("total", "active", "embed", "mtp"):
                check(f"{name}/params.{k}", got[k] == want[k], f"kvsim {got[k]:,} vs count {want[k]:,}")
            # One decode token: every active matrix multiplies it once, 2
            # FLOPs per weight (attention projections, routers, chosen and
            # shared experts; MLA absorbed: W_UK and W_UV per head are kv_b's
            # weights), kvsim's proj + ffn FLOPs of the layers (head apart).
            fl = sum(r["flops_by_category"]["proj"] + r["flops_by_category"]["ffn"]
                     for r in one["by_type"] if r["type"] not in ("head", "embed", "mtp"))
            check(f"{name}/decode-linear-flops", fl == 2 * want["lin"], f"kvsim {fl:,} vs count {2 * want['lin']:,}")
            for T, res in ((131072, big), (1, one)):
                check(f"{name}/kv@{T}", res["total"]["kv_bytes"] == want["kv"](T),
                      f"kvsim {res['total']['kv_bytes']:,} vs count {want['kv'](T):,}")
            main_params = want["total"] - want["mtp"]
            if fig is not None:
                check(f"{name}/published {fig}{unit}", rounds_to(main_params, fig, unit),
                      f"count {main_params:,} is not {fig}{unit} ({src})")
            if name in ACTIVE:
                af, au, asrc = ACTIVE[name]
                check(f"{name}/published active {af}{au}", rounds_to(want["active"], af, au),
                      f"count {want['active']:,} is not {af}{au} ({asrc})")
            if name in NON_EMBEDDING:
                nf, nu, nsrc = NON_EMBEDDING[name]
                c = cfg
                untied = 0 if c.get("tie_word_embeddings", False) else want["embed"]
                ne = want["total"] - want["embed"] - untied
                check(f"{name}/published non-embedding {nf}{nu}", rounds_to(ne, nf, nu),
                      f"count {ne:,} is not {nf}{nu} ({nsrc})")
        for name, (field, why) in REFUSED.items():
            path = os.path.join(CORPUS, name + ".json")
            r = subprocess.run([K, "import", path, "-o", os.path.join(t, "x.yaml")], capture_output=True, text=True)
            check(f"{name}/refused", r.returncode == 2 and field in r.stderr and why in r.stderr,
                  f"exit {r.returncode}: {r.stderr.strip()[:300]}")
    print(f"hf-count: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
