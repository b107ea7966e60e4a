#!/usr/bin/python3
"""numpy_deepseek.py - an independent NumPy forward pass of DeepSeek V3 and
V3.2 models, written from DeepSeek's released inference code
(deepseek-ai/DeepSeek-V3 and DeepSeek-V3.2-Exp inference/model.py and
kernel.py, the V3.2 indexer as fixed in 2025-11: non-interleaved RoPE), run
on the weights of a `kvsim run --dump DIR` (--decode 1). It recomputes the
logits of the last prompt token (prefill) and of the decoded token (a causal
forward over the prompt plus that token: no cache, so it also checks kvsim's
cached decode) and compares them with DIR/prefill/logits.npy and
DIR/decode/logits.npy: max |diff| <= 1e-4 max |logits|.

With `run --mtp` dumps it also recomputes the MTP module's draft logits
(mtp_logits.npy): eh_proj([enorm(emb(next)); hnorm(h)]) in vLLM
deepseek_mtp's order (the released V3 / V3.2 inference code has none), one
block, its norm, the shared head.

Usage: /usr/bin/python3 tests/numpy_deepseek.py DIR [DIR ...]

Where the released code is followed line by line (names as there):
  Transformer.forward, Block.forward: pre-norm residual blocks, RMSNorm
    (eps norm_eps), final norm, head on the last position.
  precompute_freqs_cis: RoPE base theta, YaRN (factor, original_seq_len,
    beta_fast, beta_slow) when the spec's rope.scaling is yarn.
  MLA: q = wq_b(q_norm(wq_a x)), kv = wkv_a x -> kv_norm(kv) | k_pe,
    apply_rotary_emb interleaved (adjacent pairs), the expanded (prefill)
    form with softmax_scale = (nope + rope)^-1/2 x mscale^2 under YaRN.
  Indexer: q = wq_b(qr), k = k_norm(wk x) (LayerNorm), RoPE on the first
    rope dims non-interleaved, rotate_activation (Hadamard x d^-1/2),
    act_quant (e4m3, scale 2^ceil(log2(amax/448)), amax >= 1e-4) when the
    spec computes the indexer in fp8, weights = weights_proj(x) Hi^-1/2 q_s
    d^-1/2, fp8_index: k_s sum_h relu(q . k) w, top-k of the causal scores.
  Gate: sigmoid (or softmax) scores, + bias for choosing, group-limited
    top-k (the sum of the best two of each group), weights normalised
    (sigmoid) x route_scale; MoE: experts + shared experts; MLP: w2(silu(w1
    x) w3 x).
What differs from the released code, and why (README "DeepSeek against the
released code"): everything runs in float64 here (fp32 in kvsim) where the
release computes in bf16 with fp8 GEMMs; YaRN applies whenever the spec
names it (the release applies it when max_seq_len > original_seq_len);
ties in a top-k go to the lower index (torch.topk leaves them unspecified).
Caches must be lossless for the comparison: run kvsim with fp32 caches
(--set kv_dtype=fp32, and DSA's kv_format/index_format=fp32).
"""
import math
import sys

import numpy as np

from kvsim_dump import Dump, check_logits, main


# ---- inference/model.py ------------------------------------------------------------


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layernorm(x, w, b, eps=1e-6):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def precompute_freqs(dim, meta):
    """precompute_freqs_cis: the frequencies of `dim` rotated dims."""
    base = meta.get("rope_theta", 10000.0)
    sc = meta.get("rope_scaling", {"type": "none"})
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    if sc.get("type") == "yarn" and sc["factor"] > 1:
        def corr(rot):
            return dim * math.log(sc["original_max_position"] / (rot * 2 * math.pi)) / (2 * math.log(base))
        low = max(math.floor(corr(sc["beta_fast"])), 0)
        high = min(math.ceil(corr(sc["beta_slow"])), dim - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
        smooth = 1 - ramp
        freqs = freqs / sc["factor"] * (1 - smooth) + freqs * smooth
    return freqs


def apply_rotary_emb(x, pos, freqs, interleaved):
    """x (n, ..., dim): rotate by pos * freqs; interleaved: pairs (2i, 2i+1)
    (view_as_complex), else (i, i + dim/2)."""
    ang = np.asarray(pos, dtype=np.float64)[:, None] * freqs[None, :]
    shape = (len(pos),) + (1,) * (x.ndim - 2) + (len(freqs),)
    c, s = np.cos(ang).reshape(shape), np.sin(ang).reshape(shape)
    y = x.copy()
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        y[..., 0::2] = a * c - b * s
        y[..., 1::2] = a * s + b * c
    else:
        h = x.shape[-1] // 2
        a, b = x[..., :h], x[..., h:]
        y[..., :h] = a * c - b * s
        y[..., h:] = a * s + b * c
    return y


def softmax(z):
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def sylvester(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def e4m3(v):
    """Round to float8_e4m3fn (nearest even; values here are within +-448)."""
    a = np.abs(v)
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.maximum(e, -6)                  # subnormals: step 2^-9
    step = 2.0 ** (e - 3)
    return np.clip(np.round(v / step) * step, -448, 448)


def act_quant(x):
    """kernel.py act_quant, one block per vector (block 128 = index_head_dim),
    scale_fmt ue8m0: returns the fp8 values and their scales."""
    amax = np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), 1e-4)
    r = amax / 448.0
    s = 2.0 ** np.ceil(np.log2(r))
    return e4m3(np.clip(x / s, -448, 448)), s[..., 0]


def U(i):
    """The dump's unit of layer i (or a unit name: "mtp")."""
    return i if isinstance(i, str) else f"L{i}"


def indexer(D, i, L, x, qr, pos, freqs):
    a = L["attn_fields"]
    Hi, di, p, k = a["index_heads"], a["index_head_dim"], a["rope_dim"], a["index_topk"]
    n = len(x)
    q = (qr @ D.w(U(i), "idx_wq")).reshape(n, Hi, di)
    q_pe = apply_rotary_emb(q[..., :p], pos, freqs, interleaved=False)
    q = np.concatenate([q_pe, q[..., p:]], axis=-1)
    kk = layernorm(x @ D.w(U(i), "idx_wk"), D.w(U(i), "idx_k_norm")[0], D.w(U(i), "idx_k_bias")[0])
    k_pe = apply_rotary_emb(kk[:, None, :p], pos, freqs, interleaved=False)[:, 0]
    kk = np.concatenate([k_pe, kk[:, p:]], axis=-1)
    Hm = sylvester(di) * di ** -0.5
    q = q @ Hm.T
    kk = kk @ Hm.T
    weights = (x @ D.w(U(i), "idx_wproj")) * Hi ** -0.5
    if D.meta.get("compute_indexer", "fp8") == "fp8":
        q, q_s = act_quant(q)
        kk, k_s = act_quant(kk)
        weights = weights * q_s * di ** -0.5
    else:
        k_s = np.ones(n)
        weights = weights * di ** -0.5
    logits = np.maximum(np.einsum("thd,sd->tsh", q, kk), 0)
    score = np.einsum("tsh,th->ts", logits, weights) * k_s[None, :]
    mask = np.full((n, n), -np.inf)
    for t in range(n):
        cand = np.arange(t + 1)
        order = sorted(cand, key=lambda s: (-score[t, s], s))[:min(k, t + 1)]
        mask[t, order] = 0
    return mask


def mla(D, i, L, x, pos, freqs):
    a = L["attn_fields"]
    H, r, p, npe, v = a["q_heads"], a["kv_lora_rank"], a["rope_dim"], a["nope_dim"], a["v_head_dim"]
    eps = D.meta.get("norm_eps", 1e-6)
    n = len(x)
    u = U(i)
    qr = None
    if a.get("q_lora_rank"):
        qr = rmsnorm(x @ D.w(u, "wq_a"), D.w(u, "q_norm")[0], eps)
        q = qr @ D.w(u, "wq_b")
    else:
        q = x @ D.w(u, "wq")
    q = q.reshape(n, H, npe + p)
    q_nope, q_pe = q[..., :npe], apply_rotary_emb(q[..., npe:], pos, freqs, interleaved=True)
    kv = x @ D.w(u, "wkv_a")
    kv, k_pe = rmsnorm(kv[:, :r], D.w(u, "kv_norm")[0], eps), kv[:, r:]
    k_pe = apply_rotary_emb(k_pe[:, None, :], pos, freqs, interleaved=True)
    softmax_scale = (npe + p) ** -0.5
    sc = D.meta.get("rope_scaling", {"type": "none"})
    if sc.get("type") == "yarn" and sc["factor"] > 1:
        mscale = 0.1 * sc["mscale"] * math.log(sc["factor"]) + 1.0
        softmax_scale = softmax_scale * mscale * mscale
    qq = np.concatenate([q_nope, q_pe], axis=-1)
    kvb = (kv @ D.w(u, "wkv_b")).reshape(n, H, npe + v)
    k = np.concatenate([kvb[..., :npe], np.repeat(k_pe, H, axis=1)], axis=-1)
    scores = np.einsum("shd,thd->sht", qq, k) * softmax_scale
    mask = np.triu(np.full((n, n), -np.inf), 1)
    if L["attn"] == "dsa":
        mask = mask + indexer(D, i, L, x, qr, pos, freqs)
    scores = softmax(scores + mask[:, None, :])
    o = np.einsum("sht,thd->shd", scores, kvb[..., npe:])
    return o.reshape(n, H * v) @ D.w(u, "wo")


def mlp(x, w1, w3, w2):
    g = x @ w1
    return ((g / (1 + np.exp(-g))) * (x @ w3)) @ w2


def gate(D, u, f, x):
    scores = x @ D.w(u, "router")
    E = f["experts"]
    scores = 1 / (1 + np.exp(-scores)) if f["score"] == "sigmoid" else softmax(scores)
    original = scores
    bias = D.w(u, "router.bias")
    scores = scores + bias[0]
    G = f["n_group"] if f["n_group"] > 1 else 1
    n = len(x)
    idx = np.zeros((n, f["top_k"]), dtype=int)
    for t in range(n):
        s = scores[t].copy()
        if G > 1:
            per = E // G
            g = s.reshape(G, per)
            gs = [sum(sorted(row, reverse=True)[:2]) for row in g]
            keep = sorted(range(G), key=lambda j: (-gs[j], j))[:f["topk_group"] or G]
            for j in range(G):
                if j not in keep:
                    s[j * per:(j + 1) * per] = -np.inf
        idx[t] = sorted(range(E), key=lambda j: (-s[j], j))[:f["top_k"]]
    weights = np.take_along_axis(original, idx, axis=1)
    if f["score"] == "sigmoid":
        weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights * (f["routed_scale"] or 1.0), idx


def ffn(D, i, L, x):
    u = U(i)
    d = D.meta["d_model"]
    if L["ffn"] == "dense":
        return mlp(x, D.w(u, "w_gate"), D.w(u, "w_up"), D.w(u, "w_down"))
    f = L["ffn_fields"]
    E, ff = f["experts"], f["d_ff"]
    w1 = D.w(u, "experts.w_gate").reshape(E, d, ff)
    w3 = D.w(u, "experts.w_up").reshape(E, d, ff)
    w2 = D.w(u, "experts.w_down").reshape(E, ff, d)
    weights, idx = gate(D, u, f, x)
    y = np.zeros_like(x)
    for e in range(E):
        rows, top = np.where(idx == e)
        if len(rows):
            y[rows] += mlp(x[rows], w1[e], w3[e], w2[e]) * weights[rows, top, None]
    if f["shared"]:
        y += mlp(x, D.w(u, "shared.w_gate"), D.w(u, "shared.w_up"), D.w(u, "shared.w_down"))
    return y


def forward(D, tokens):
    m = D.meta
    eps = m.get("norm_eps", 1e-6)
    h = D.w("embed", "embed")[tokens]
    pos = np.arange(len(tokens))
    freqs = None
    for i, L in enumerate(m["layers"]):
        if L["attn"] not in ("mla", "dsa") or L["res"] != "plain":
            raise SystemExit(f"layer {i}: {L['attn']}/{L['res']} is not a V3/V3.2 layer")
        if freqs is None:
            freqs = precompute_freqs(L["attn_fields"]["rope_dim"], m)
        x = rmsnorm(h, D.w(f"L{i}", "attn_norm")[0], eps)
        h = h + mla(D, i, L, x, pos, freqs)
        x = rmsnorm(h, D.w(f"L{i}", "ffn_norm")[0], eps)
        h = h + ffn(D, i, L, x)
    return rmsnorm(h[-1], D.w("head", "final_norm")[0], eps) @ D.w("head", "head"), h


def mtp_forward(D, h, next_tokens):
    """The MTP module (`run --mtp`): x = eh_proj([enorm(emb(next)); hnorm(h)])
    (vLLM deepseek_mtp's order; kvsim's eh_proj [2d, d], first d rows for the
    embedding), one block of the module's kind, its norm, the shared head."""
    m = D.meta
    eps = m.get("norm_eps", 1e-6)
    d = m["d_model"]
    L = m["mtp"]
    eh = D.w("mtp", "eh_proj")
    e = rmsnorm(D.w("embed", "embed")[next_tokens], D.w("mtp", "enorm")[0], eps)
    x = e @ eh[:d] + rmsnorm(h, D.w("mtp", "hnorm")[0], eps) @ eh[d:]
    pos = np.arange(len(x))
    freqs = precompute_freqs(L["attn_fields"]["rope_dim"], m)
    x = x + mla(D, "mtp", L, rmsnorm(x, D.w("mtp", "attn_norm")[0], eps), pos, freqs)
    x = x + ffn(D, "mtp", L, rmsnorm(x, D.w("mtp", "ffn_norm")[0], eps))
    return rmsnorm(x[-1], D.w("mtp", "norm")[0], eps) @ D.w("head", "head")


def check_dump(d):
    D = Dump(d)
    tok = D.get("tokens.npy").astype(int)
    T = D.get("prefill", "L0.attn_in.npy").shape[0]
    lp, hp = forward(D, tok[:T])
    ld, hd = forward(D, tok[:T + 1])
    check_logits("numpy-ds", D, lp, ld, lambda: (mtp_forward(D, hp, tok[1:T + 1]), mtp_forward(D, hd, tok[1:T + 2])))


if __name__ == "__main__":
    sys.exit(main("numpy-ds", __doc__, check_dump))
