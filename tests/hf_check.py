#!/usr/bin/python3
"""hf_check.py - the logits of a `kvsim run --dump DIR` recomputed by a whole
forward pass in NumPy that follows the released Hugging Face code line by
line, for the families whose kernels kvsim claims to match:

  gemma4  transformers models/gemma4/modeling_gemma4.py (Gemma4TextModel,
          Gemma4TextDecoderLayer, Gemma4TextAttention, Gemma4TextMLP,
          Gemma4RMSNorm, Gemma4TextRotaryEmbedding with modeling_rope_utils'
          _compute_proportional_rope_parameters, Gemma4ForCausalLM)
          and, for the 26B-A4B (enable_moe_block), the MoE block of
          Gemma4TextDecoderLayer.forward with Gemma4TextRouter and
          Gemma4TextExperts
  llama   transformers models/llama/modeling_llama.py (LlamaModel: RMSNorm,
          rotate_half RoPE with rope_theta and the llama3 scaling of
          _compute_llama3_parameters, SwiGLU MLP, 1/sqrt(head_dim) scores)
  laguna  transformers models/laguna/modeling_laguna.py (LagunaAttention with
          q/k RMSNorm, partial RoPE per layer type and the per-head softplus
          gate; LagunaSparseMoeBlock: LagunaTopKRouter's sigmoid scores chosen
          with e_score_correction_bias, normalised, x moe_routed_scaling_factor,
          plus the shared LagunaMLP; the dense first layer)
  zaya    Zyphra's transformers fork, models/zaya/modeling_zaya.py (ZayaModel:
          ResidualScaling before every norm and at the end, CCA.forward with
          its two Conv1d over the left-padded sequence, the q/k means, L2
          normalisation and key temperature, the value shift; ZayaAttention;
          ZayaRouter with EDA, MOD skip and balancing biases; ZayaBlock's
          SwiGLU experts times the route probability)

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
    if L.get("attn_fields", {}).get("rope_unscaled"):
        return inv                                  # Laguna's sliding layers: rope_type default
    if sc["type"] == "linear":
        inv = inv / sc["factor"]
    elif sc["type"] == "llama3":
        inv = llama3_inv_freq(inv, sc)
    elif sc["type"] == "yarn":
        inv = yarn_inv_freq(base, rot, sc)
    elif sc["type"] != "none":
        raise SystemExit(f"hf_check: RoPE scaling {sc['type']} is not part of these families")
    return inv


def yarn_inv_freq(base, dim, sc):
    """modeling_rope_utils._compute_yarn_parameters (truncate: floor / ceil)."""
    factor, old = sc["factor"], sc["original_max_position"]
    corr = lambda rot: (dim * math.log(old / (rot * 2 * math.pi))) / (2 * math.log(base))
    low, high = max(math.floor(corr(sc["beta_fast"])), 0), min(math.ceil(corr(sc["beta_slow"])), dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2) - low) / (high - low), 0, 1)
    pos_freqs = base ** (np.arange(0, dim, 2) / dim)
    extra = 1 - ramp                               # inv_freq_extrapolation_factor
    return (1.0 / (factor * pos_freqs)) * (1 - extra) + (1.0 / pos_freqs) * extra


def yarn_attention_factor(L, sc):
    """_compute_yarn_parameters' attention_factor, which the rotary embedding
    multiplies into cos and sin: get_mscale(factor, mscale) /
    get_mscale(factor, mscale_all_dim) with both given, else get_mscale(factor)."""
    if sc["type"] != "yarn" or L.get("attn_fields", {}).get("rope_unscaled") or sc["factor"] <= 1:
        return 1.0
    ms = lambda m: 0.1 * m * math.log(sc["factor"]) + 1.0
    if sc["mscale"] and sc["mscale_all_dim"]:
        return ms(sc["mscale"]) / ms(sc["mscale_all_dim"])
    return ms(1.0)


def apply_rope(x, pos, meta, L):
    """apply_rotary_pos_emb: x * cos + rotate_half(x) * sin, with emb =
    cat(freqs, freqs); partial (default type): the first rope_dim dims only;
    proportional: the whole head (zero frequencies leave the rest)."""
    inv = inv_freq(meta, L)
    if len(inv) == 0:
        return x
    freqs = pos[:, None] * inv[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)[:, None, :]
    af = yarn_attention_factor(L, meta["rope_scaling"])
    cos, sin = np.cos(emb) * af, np.sin(emb) * af
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


def expert(D, u, e, x, act, d, f):
    """Routed expert e (Gemma4TextExperts / LagunaExperts / ZAYA's MLP):
    down(act(gate(x)) * up(x)); the dump holds the E experts stacked by rows."""
    g = D.w(u, "experts.w_gate")[e * d:(e + 1) * d]
    up = D.w(u, "experts.w_up")[e * d:(e + 1) * d]
    dn = D.w(u, "experts.w_down")[e * f:(e + 1) * f]
    return (act(x @ g) * (x @ up)) @ dn


def shared_mlp(D, u, x, act):
    return (act(x @ D.w(u, "shared.w_gate")) * (x @ D.w(u, "shared.w_up"))) @ D.w(u, "shared.w_down")


def topk(v, k):
    """torch.topk's indices, largest first (ties to the lower index)."""
    return list(np.argsort(-v, kind="stable")[:k])


def gemma4_moe_block(D, u, L, residual, h, act, eps, d):
    """Gemma4TextDecoderLayer.forward, enable_moe_block: h is
    pre_feedforward_layernorm(residual)."""
    F = L["ffn_fields"]
    E, k, f = F["experts"], F["top_k"], F["d_ff"]
    hidden_states_1 = rmsnorm(shared_mlp(D, u, h, act), D.w(u, "post_ffn_norm_1"), eps)
    # Gemma4TextRouter.forward on the residual before the MLP's norm.
    r = rmsnorm(residual, None, eps) * D.w(u, "router.scale").reshape(-1) * d ** -0.5
    probs = softmax(r @ D.w(u, "router"))
    pes = D.w(u, "router.per_expert_scale").reshape(-1)
    x2 = rmsnorm(residual, D.w(u, "pre_ffn_norm_2"), eps)
    out = np.zeros_like(residual)
    for t in range(len(residual)):
        idx = topk(probs[t], k)
        w = probs[t, idx] / probs[t, idx].sum()
        w = w * pes[idx]
        for j, e in enumerate(idx):
            out[t] += w[j] * expert(D, u, e, x2[t:t + 1], act, d, f)[0]
    hidden_states_2 = rmsnorm(out, D.w(u, "post_ffn_norm_2"), eps)
    return hidden_states_1 + hidden_states_2


def laguna_moe_block(D, u, L, h, act):
    """LagunaSparseMoeBlock.forward: shared expert + routed experts x
    moe_routed_scaling_factor; LagunaTopKRouter: sigmoid, choose by score +
    e_score_correction_bias, weights the chosen scores normalised."""
    F = L["ffn_fields"]
    if F["score"] != "sigmoid" or F["n_group"] > 1:
        raise SystemExit("hf_check: laguna's router is sigmoid with one group")
    E, k, f, d = F["experts"], F["top_k"], F["d_ff"], h.shape[1]
    scores = 1.0 / (1.0 + np.exp(-(h @ D.w(u, "router"))))
    bias = D.w(u, "router.bias").reshape(-1)
    out = np.zeros_like(h)
    for t in range(len(h)):
        idx = topk(scores[t] + bias, k)
        w = scores[t, idx] / scores[t, idx].sum()
        for j, e in enumerate(idx):
            out[t] += w[j] * expert(D, u, e, h[t:t + 1], act, d, f)[0]
    scale = F["routed_scale"] or 1.0
    return out * scale + shared_mlp(D, u, h, act)


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


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
        o = attention(q, k, v, L["window"], scaling)
        if D.w(u, "wg") is not None:
            # LagunaAttention: gate = softplus(g_proj(hidden_states)), per head.
            o = o * np.logaddexp(0.0, h @ D.w(u, "wg"))[:, :, None]
        o = o.reshape(n, H * vd) @ D.w(u, "wo")
        if D.w(u, "attn_post_norm") is not None:
            o = rmsnorm(o, D.w(u, "attn_post_norm"), eps)
        x = res + o
        # MLP (Gemma4TextMLP / LlamaMLP / LagunaMLP): down(act(gate(x)) * up(x)).
        res = x
        h = rmsnorm(x, D.w(u, "ffn_norm"), eps)
        act = gelu_tanh if L.get("act") == "gelu_tanh" else silu
        if L["ffn"] == "moe" and L["ffn_fields"]["gemma4_block"]:
            f = gemma4_moe_block(D, u, L, res, h, act, eps, d)
        elif L["ffn"] == "moe":
            f = laguna_moe_block(D, u, L, h, act)
        else:
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


# ---- ZAYA1 (Zyphra transformers fork, models/zaya/modeling_zaya.py) ----------

def zaya_res_scale(D, unit, pre, residual, hidden_states):
    """ResidualScaling.forward: hidden_states = (hs + bias) * scale; residual
    (absent at the first merge) likewise; then residual = hidden_states +
    residual (ZayaDecoder*Layer.forward)."""
    hidden_states = (hidden_states + D.w(unit, pre + ".hs_bias").reshape(-1)) * D.w(unit, pre + ".hs_scale").reshape(-1)
    if residual is None:
        return hidden_states
    residual = (residual + D.w(unit, pre + ".res_bias").reshape(-1)) * D.w(unit, pre + ".res_scale").reshape(-1)
    return hidden_states + residual


def conv1d(xp, w):
    """torch Conv1d (padding 0, stride 1) on xp (S, C_in) of one group:
    out[t, o] = sum_{i, j} w[o, i, j] xp[t + j, i]."""
    K = w.shape[2]
    return np.stack([sum(xp[t + j] @ w[:, :, j].T for j in range(K)) for t in range(len(xp) - K + 1)])


def zaya_cca(D, u, L, hs):
    """CCA.forward without a cache (the whole sequence), then ZayaAttention:
    returns the attention output (S, d). kvsim's conv taps count back in time
    (conv1_w[c, j] multiplies z[t - j]; conv2_w[o, i k2 + j] multiplies
    y1[t - j, channel i of the head]): torch's weights are the same taps
    reversed."""
    H, G, hd = L["q_heads"], L["kv_heads"], L["head_dim"]
    S, groups = len(hs), H // G
    lq, lk = H * hd, G * hd
    hs_d = np.concatenate([np.zeros((1, hs.shape[1])), hs[:-1]])          # F.pad(hs[:-1], (.., 1, 0))
    q, k = hs @ D.w(u, "wq"), hs @ D.w(u, "wk")
    qk_packed0 = np.concatenate([q, k], axis=1)
    query_pre = qk_packed0[:, :lq].reshape(S, H, hd)
    key_pre = np.repeat(qk_packed0[:, lq:].reshape(S, G, 1, hd), groups, axis=2).reshape(S, H, hd)
    qk_mean_q = (query_pre + key_pre) / 2
    qk_mean_k = qk_mean_q.reshape(S, G, groups, hd).mean(axis=2)
    c1w, c1b = D.w(u, "conv1_w"), D.w(u, "conv1_b").reshape(-1)
    c2w, c2b = D.w(u, "conv2_w"), D.w(u, "conv2_b").reshape(-1)
    k1, k2, ch = c1w.shape[1], c2w.shape[1] // hd, lq + lk
    w1 = c1w[:, ::-1]                                                    # [ch, k1], forward taps
    w2 = c2w.reshape(ch, hd, k2)[:, :, ::-1]                             # [out, in within the group, k2]
    qk_packed2 = np.concatenate([np.zeros((k1 - 1 + k2 - 1, ch)), qk_packed0])   # F.pad(total_padding, 0)
    y1 = np.stack([sum(w1[:, j] * qk_packed2[t + j] for j in range(k1)) for t in range(len(qk_packed2) - k1 + 1)]) + c1b
    qk_packed3 = np.concatenate([conv1d(y1[:, g * hd:(g + 1) * hd], w2[g * hd:(g + 1) * hd]) for g in range(H + G)], axis=1) + c2b
    query = qk_packed3[:, :lq].reshape(S, H, hd) + qk_mean_q
    key = qk_packed3[:, lq:].reshape(S, G, hd) + qk_mean_k
    sq = math.sqrt(hd)
    key = key * (sq / np.linalg.norm(key, axis=-1, keepdims=True)) * D.w(u, "temperature").reshape(1, G, 1)
    query = query * (sq / np.linalg.norm(query, axis=-1, keepdims=True))
    value = np.concatenate([hs @ D.w(u, "wv1"), hs_d @ D.w(u, "wv2")], axis=1).reshape(S, G, hd)
    # ZayaAttention: apply_rotary_pos_emb on the first rotary_dim dims
    # (partial_rotary_factor), scores / sqrt(head_dim), causal softmax.
    pos = np.arange(S, dtype=np.float64)
    Lr = dict(L, rope_proportional=False)
    query, key = apply_rope(query, pos, {"rope_scaling": {"type": "none"}}, Lr), apply_rope(key, pos, {"rope_scaling": {"type": "none"}}, Lr)
    o = attention(query, key, value, L["window"], hd ** -0.5)
    return o.reshape(S, H * hd) @ D.w(u, "wo")


def gelu_erf(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def zaya_block(D, u, L, x, prev_router_hidden_states):
    """ZayaBlock.forward with ZayaRouter.forward; returns the output and the
    router state for the next MoE layer."""
    F = L["ffn_fields"]
    E, k, f, d = F["experts"], F["top_k"], F["d_ff"], x.shape[1]
    hs = x @ D.w(u, "router.down") + D.w(u, "router.down_b").reshape(-1)
    if prev_router_hidden_states is not None:                           # use_eda, not the first MoE layer
        hs = hs + prev_router_hidden_states * D.w(u, "router.scale").reshape(-1)
    router_hidden_states_next = hs
    hs_norm = rmsnorm(hs, D.w(u, "router.norm"), D.meta["norm_eps"])
    a = gelu_erf(hs_norm @ D.w(u, "router.w1") + D.w(u, "router.b1").reshape(-1))
    a = gelu_erf(a @ D.w(u, "router.w2") + D.w(u, "router.b2").reshape(-1))
    expert_prob = softmax(a @ D.w(u, "router.out"))
    biased = expert_prob + D.w(u, "router.balancing_bias").reshape(-1)
    out = np.zeros_like(x)
    for t in range(len(x)):
        choice = topk(biased[t], k)
        if F["skip_route"]:                                              # MOD: after a skip, all skip
            for j in range(1, k):
                if choice[j - 1] == E:
                    choice[j] = E
        for e in choice:
            y = x[t] if e == E else expert(D, u, e, x[t:t + 1], silu, d, f)[0]
            out[t] += expert_prob[t, e] * y
    return out, router_hidden_states_next


def zaya_forward(D, tok):
    meta, eps = D.meta, D.meta["norm_eps"]
    hidden_states = D.w("embed", "embed")[tok]
    residual = zaya_res_scale(D, "embed", "embed_merge", None, hidden_states)
    prev = None
    for i, L in enumerate(meta["layers"]):
        u = f"L{i}"
        if L["attn"] != "cca" or L["ffn"] != "moe" or not L["res_fields"]["scaled_merge"]:
            raise SystemExit(f"hf_check: layer {i} is not a ZAYA1 block")
        h = rmsnorm(residual, D.w(u, "attn_norm"), eps)                 # input_norm of the attention layer
        a = zaya_cca(D, u, L, h)
        residual = zaya_res_scale(D, u, "attn_merge", residual, a)
        h = rmsnorm(residual, D.w(u, "ffn_norm"), eps)                  # input_norm of the MLP layer
        m, prev = zaya_block(D, u, L, h, prev)
        residual = zaya_res_scale(D, u, "ffn_merge", residual, m)
    x = rmsnorm(residual, D.w("head", "final_norm"), eps)
    return x @ D.w("embed", "embed").T                                    # tied lm_head


def check_dump(family, d):
    D = Dump(d)
    name = f"{family}/{os.path.basename(os.path.normpath(d))}"
    ffns = ("dense", "moe") if family in ("gemma4", "laguna") else ("dense",)
    for L in D.meta["layers"]:
        if family != "zaya" and (L["attn"] != "gqa" or L["ffn"] not in ffns or L["res"] != "plain"):
            raise SystemExit(f"hf_check: {d}: a {L['attn']}/{L['ffn']}/{L['res']} layer is not part of {family}")
    tok = np.load(os.path.join(d, "tokens.npy")).astype(np.int64)
    pre = np.load(os.path.join(d, "prefill", "logits.npy"))[-1]
    dec = np.load(os.path.join(d, "decode", "logits.npy"))[-1]
    T = len(tok) - 1
    logits = zaya_forward(D, tok) if family == "zaya" else forward(D, tok, family)
    check(f"hf/{name}/prefill-logits", pre, logits[T - 1])
    check(f"hf/{name}/decode-logits", dec, logits[T])


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("gemma4", "llama", "laguna", "zaya"):
        print(__doc__)
        return 2
    for d in sys.argv[2:]:
        check_dump(sys.argv[1], d)
    print(f"hf: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
