#!/usr/bin/python3
"""hf_check.py - the logits of a `kvsim run --dump DIR` recomputed by a whole
forward pass in NumPy that follows the released Hugging Face code line by
line, for the families whose kernels kvsim claims to match:

  gemma4  transformers models/gemma4/modeling_gemma4.py (Gemma4TextModel,
          Gemma4TextDecoderLayer, Gemma4TextAttention, Gemma4TextMLP,
          Gemma4RMSNorm, Gemma4TextRotaryEmbedding with modeling_rope_utils'
          _compute_proportional_rope_parameters, Gemma4ForCausalLM)
  llama   transformers models/llama/modeling_llama.py (LlamaModel: RMSNorm,
          rotate_half RoPE with rope_theta and the llama3 scaling of
          _compute_llama3_parameters, SwiGLU MLP, 1/sqrt(head_dim) scores)

Usage: /usr/bin/python3 tests/hf_check.py FAMILY DIR [DIR ...]
Each DIR is a dump of a prefill of T tokens and N decode steps (kv_dtype=fp32:
NumPy does not reproduce bf16/fp8 cache rounding). The whole token sequence
(tokens.npy, T + N ids) runs through the model once, causally, in float64,
without a cache; the logits at position T-1 must equal prefill/logits.npy and
those at T+N-1 decode/logits.npy, to max |diff| <= 1e-4 max |want| (the
kernels run in fp32; the observed error is ~1e-6).
Weights are the dump's (weights/*.npy, y = x W). Nothing here is read from
kvsim's own formulas except the weight names and meta.json's shapes.
Prints one PASS/FAIL line per check and "hf: N passed, M failed".
"""
import math
import os
import sys

import numpy as np

from kvsim_dump import Dump

passed = failed = 0


def check(name, got, want):
    global passed, failed
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = float(np.max(np.abs(got - want)))
    tol = 1e-4 * float(np.max(np.abs(want)))
    ok = got.shape == want.shape and err <= tol
    passed += ok
    failed += not ok
    print(f"{'PASS' if ok else 'FAIL'} {name}  (max err {err:.3g}, tol {tol:.3g})")


# ---- pieces, as the released modules compute them ---------------------------

def rmsnorm(x, w, eps):
    """Gemma4RMSNorm / LlamaRMSNorm: x * (mean(x^2) + eps)^-0.5 * weight (no
    weight: Gemma4RMSNorm(with_scale=False))."""
    y = x * np.power(np.mean(x * x, axis=-1, keepdims=True) + eps, -0.5)
    return y if w is None else y * w.reshape(-1)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def llama3_inv_freq(inv, sc):
    """modeling_rope_utils._compute_llama3_parameters."""
    factor, lo, hi, old = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"], sc["original_max_position"]
    low_wl, high_wl = old / lo, old / hi
    wl = 2 * math.pi / inv
    out = np.where(wl > low_wl, inv / factor, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wl < high_wl) & ~(wl > low_wl)
    return np.where(medium, smoothed, out)


def inv_freq(meta, L):
    """The inverse frequencies of a layer, over the dims RoPE rotates.
    Gemma 4 proportional: _compute_proportional_rope_parameters(head_dim =
    global_head_dim): rope_angles = rope_dim / 2 frequencies base^(-2i/head_dim),
    then zeros up to head_dim / 2. Default: base^(-2i/dim), dim = rope_dim."""
    hd, rot, base = L["head_dim"], L["rope_dim"], L["rope_theta"]
    if L.get("rope_proportional"):
        ang = rot // 2
        inv = 1.0 / base ** (np.arange(0, 2 * ang, 2) / hd)
        return np.concatenate([inv, np.zeros(hd // 2 - ang)])
    inv = 1.0 / base ** (np.arange(0, rot, 2) / rot)
    sc = meta["rope_scaling"]
    if sc["type"] == "linear":
        inv = inv / sc["factor"]
    elif sc["type"] == "llama3":
        inv = llama3_inv_freq(inv, sc)
    elif sc["type"] != "none":
        raise SystemExit(f"hf_check: RoPE scaling {sc['type']} is not part of these families")
    return inv


def apply_rope(x, pos, meta, L):
    """apply_rotary_pos_emb: x * cos + rotate_half(x) * sin, with emb =
    cat(freqs, freqs); partial (default type): the first rope_dim dims only;
    proportional: the whole head (zero frequencies leave the rest)."""
    inv = inv_freq(meta, L)
    if len(inv) == 0:
        return x
    freqs = pos[:, None] * inv[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)[:, None, :]
    cos, sin = np.cos(emb), np.sin(emb)
    n = emb.shape[-1]
    rot, rest = x[..., :n], x[..., n:]
    return np.concatenate([rot * cos + rotate_half(rot) * sin, rest], axis=-1)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1 + np.exp(-x))


def attention(q, k, v, window, scaling):
    """eager_attention_forward with the causal (and sliding-window) mask:
    query t sees keys max(0, t - window + 1) .. t."""
    n, H, _ = q.shape
    G = k.shape[1]
    out = np.zeros((n, H, v.shape[2]))
    for t in range(n):
        lo = max(0, t + 1 - window) if window else 0
        for h in range(H):
            g = h // (H // G)
            s = (k[lo:t + 1, g] @ q[t, h]) * scaling
            p = np.exp(s - s.max())
            out[t, h] = (p / p.sum()) @ v[lo:t + 1, g]
    return out


# ---- the models -------------------------------------------------------------

def forward(D, tok, family):
    meta, eps = D.meta, D.meta["norm_eps"]
    d, nl = meta["d_model"], meta["n_layers"]
    n = len(tok)
    pos = np.arange(n, dtype=np.float64)
    emb = D.w("embed", "embed")
    x = emb[tok]
    if meta.get("embed_scale"):
        x = x * math.sqrt(d)   # Gemma4TextScaledWordEmbedding (fp32 here: no bf16 rounding of the scale)
    pli = None
    if meta["ple_dim"]:
        # Gemma4TextModel.get_per_layer_inputs + project_per_layer_inputs.
        p = meta["ple_dim"]
        tab = D.w("ple", "ple_table")
        table = tab[tok % tab.shape[0]].reshape(n, nl, p) * math.sqrt(p)
        proj = (x @ D.w("ple", "ple_proj")) * d ** -0.5
        proj = rmsnorm(proj.reshape(n, nl, p), D.w("ple", "ple_norm"), eps)
        pli = (proj + table) * 2.0 ** -0.5
    shared = {}
    for i, L in enumerate(meta["layers"]):
        u = f"L{i}"
        H, G, hd, vd = L["q_heads"], L["kv_heads"], L["head_dim"], L["v_head_dim"]
        # Self-attention (Gemma4TextAttention / LlamaAttention).
        res = x
        h = rmsnorm(x, D.w(u, "attn_norm"), eps)
        q = (h @ D.w(u, "wq")).reshape(n, H, hd)
        if D.w(u, "q_norm") is not None:
            q = rmsnorm(q, D.w(u, "q_norm"), eps)
        q = apply_rope(q, pos, meta, L)
        if L["kv_from"] >= 0:
            k, v = shared[L["kv_from"]]
        else:
            k = (h @ D.w(u, "wk")).reshape(n, G, hd)
            v = k if L["k_eq_v"] else (h @ D.w(u, "wv")).reshape(n, G, vd)   # raw key projection with k_eq_v
            if D.w(u, "k_norm") is not None:
                k = rmsnorm(k, D.w(u, "k_norm"), eps)
            k = apply_rope(k, pos, meta, L)
            if L.get("v_norm"):
                v = rmsnorm(v, None, eps)
            shared[i] = (k, v)
        scaling = 1.0 if L.get("unit_scale") else hd ** -0.5
        o = attention(q, k, v, L["window"], scaling).reshape(n, H * vd) @ D.w(u, "wo")
        if D.w(u, "attn_post_norm") is not None:
            o = rmsnorm(o, D.w(u, "attn_post_norm"), eps)
        x = res + o
        # MLP (Gemma4TextMLP / LlamaMLP): down(act(gate(x)) * up(x)).
        res = x
        h = rmsnorm(x, D.w(u, "ffn_norm"), eps)
        act = gelu_tanh if L.get("act") == "gelu_tanh" else silu
        f = (act(h @ D.w(u, "w_gate")) * (h @ D.w(u, "w_up"))) @ D.w(u, "w_down")
        if D.w(u, "ffn_post_norm") is not None:
            f = rmsnorm(f, D.w(u, "ffn_post_norm"), eps)
        x = res + f
        if pli is not None:
            # Gemma4TextDecoderLayer: the per-layer input, then the layer scalar.
            res = x
            g = gelu_tanh(x @ D.w(u, "ple_gate")) * pli[:, i]
            g = rmsnorm(g @ D.w(u, "ple_out"), D.w(u, "ple_post_norm"), eps)
            x = res + g
        if D.w(u, "layer_scalar") is not None:
            x = x * D.w(u, "layer_scalar").reshape(())
    x = rmsnorm(x, D.w("head", "final_norm"), eps)
    logits = x @ (emb.T if meta["tie_embeddings"] else D.w("head", "head"))
    cap = meta.get("logit_softcap", 0)
    if cap:
        logits = np.tanh(logits / cap) * cap   # Gemma4ForCausalLM final_logit_softcapping
    return logits


def check_dump(family, d):
    D = Dump(d)
    name = f"{family}/{os.path.basename(os.path.normpath(d))}"
    for L in D.meta["layers"]:
        if L["attn"] != "gqa" or L["ffn"] != "dense" or L["res"] != "plain":
            raise SystemExit(f"hf_check: {d}: a {L['attn']}/{L['ffn']}/{L['res']} layer is not part of {family}")
    tok = np.load(os.path.join(d, "tokens.npy")).astype(np.int64)
    pre = np.load(os.path.join(d, "prefill", "logits.npy"))[-1]
    dec = np.load(os.path.join(d, "decode", "logits.npy"))[-1]
    T = len(tok) - 1
    logits = forward(D, tok, family)
    check(f"hf/{name}/prefill-logits", pre, logits[T - 1])
    check(f"hf/{name}/decode-logits", dec, logits[T])


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("gemma4", "llama"):
        print(__doc__)
        return 2
    for d in sys.argv[2:]:
        check_dump(sys.argv[1], d)
    print(f"hf: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
