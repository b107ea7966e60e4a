#!/usr/bin/python3
"""numpy_v4.py - an independent NumPy forward pass of DeepSeek V4 (Flash,
Pro), written from DeepSeek's released inference code (deepseek-ai/
DeepSeek-V4-Flash inference/model.py and kernel.py at commit 60d8d70; read
from a copy vendored byte for byte, see README "DeepSeek V4 against the
released code"), run on the weights of a `kvsim run --dump DIR` (--decode 1).
It recomputes the logits of the last prompt token (prefill) and of the
decoded token (a forward over the prompt plus that token from an empty
cache: start_pos = 0, so it also checks kvsim's cached decode, which the
release computes with its decode branches) and compares them with
DIR/prefill/logits.npy and DIR/decode/logits.npy: max |diff| <= 1e-4 max
|logits|.

Usage: /usr/bin/python3 tests/numpy_v4.py DIR [DIR ...]

Followed line by line (names as in model.py / kernel.py):
  Transformer.forward: embed, repeat to hc_mult streams, Blocks, hc_head
    (sigmoid(mixes scale + base) + hc_eps), norm, head on the last token.
  Block.hc_pre / hc_post, hc_split_sinkhorn: mixes = (x_flat hc_fn^T)
    rsqrt(mean x^2 + eps); pre = sigmoid + hc_eps, post = 2 sigmoid, comb =
    softmax(-1) + eps, / (sum(-2) + eps), then iters - 1 times rows and
    columns; x' = post f + sum_j comb[j, k] x_j.
  precompute_freqs_cis: compressed layers compress_rope_theta with YaRN,
    sliding-window-only layers rope_theta without; apply_rotary_emb on
    adjacent pairs (view_as_complex), last rope_head_dim dims; inverse on
    the output.
  Attention: q = wq_b(q_norm(wq_a x)), per-head rsqrt norm, RoPE; kv =
    kv_norm(wkv x), RoPE, act_quant(kv[..., :-rd], 64, ue8m0) (the rows
    are bf16 in the release: the RoPE dims round to bf16); window of the
    last window_size rows; compressed entries (Compressor: overlapping
    2 x ratio softmax pooling for ratio 4, halves as overlap_transform;
    norm; RoPE at position i ratio; act_quant, or for the indexer's
    rotate_activation + fp4_act_quant); HCA: every complete entry
    (get_compress_topk_idxs); CSA: Indexer (q from qr: RoPE, Hadamard,
    fp4; weights = weights_proj(x) di^-1/2 Hi^-1/2; sum_h relu(q.k) w;
    top-k of the complete entries); sparse_attn with attn_sink;
    grouped output wo_a per group, wo_b.
  Gate: sqrtsoftplus scores, + bias for choosing (learned layers), tid2eid
    for the hash layers, weights = scores of the chosen / their sum x
    route_scale; Expert: clamp(up, +-limit), clamp(gate, max=limit),
    silu(gate) up, w2; one shared expert.
What differs from the released code, and why: everything runs in float64
here (fp32 in kvsim) where the release computes in bf16 with fp8/fp4 GEMMs;
the hash table tid2eid is kvsim's pseudo-random one, read from the dump's
traces (L<i>.moe_experts); ties in a top-k go to the lower index.
"""
import math
import sys

import numpy as np

from kvsim_dump import Dump, check_logits, main


# ---- kernel.py --------------------------------------------------------------------


def e4m3(v):
    """Round to float8_e4m3fn, nearest even (values within +-448)."""
    a = np.abs(v)
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.maximum(e, -6)                  # subnormals: step 2^-9
    step = 2.0 ** (e - 3)
    return np.clip(np.round(v / step) * step, -448, 448)


def e2m1(v):
    """Round to float4_e2m1fn, nearest even: 0, .5, 1, 1.5, 2, 3, 4, 6."""
    a = np.abs(v)
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    step = 2.0 ** (np.maximum(e, 0) - 1)
    return np.clip(np.round(v / step) * step, -6, 6)


def bf16(v):
    """Round float64 values to bfloat16 (via float32, nearest even)."""
    f = np.asarray(v, dtype=np.float32).copy()
    u = f.view(np.uint32)
    u = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return u.view(np.float32).astype(np.float64)


def act_quant(x, block):
    """act_quant(x, block, scale_fmt='ue8m0', inplace=True): per block
    s = 2^ceil(log2(max(amax, 1e-4) / 448)), x = e4m3(clamp(x / s)) s."""
    sh = x.shape
    xb = x.reshape(sh[:-1] + (sh[-1] // block, block))
    amax = np.maximum(np.max(np.abs(xb), axis=-1, keepdims=True), 1e-4)
    s = 2.0 ** np.ceil(np.log2(amax / 448.0))
    return (e4m3(np.clip(xb / s, -448, 448)) * s).reshape(sh)


def fp4_act_quant(x, block=32):
    """fp4_act_quant(x, 32, inplace=True): s = 2^ceil(log2(max(amax,
    6 2^-126) / 6)), x = e2m1(clamp(x / s, -6, 6)) s."""
    sh = x.shape
    xb = x.reshape(sh[:-1] + (sh[-1] // block, block))
    amax = np.maximum(np.max(np.abs(xb), axis=-1, keepdims=True), 6 * 2.0 ** -126)
    s = 2.0 ** np.ceil(np.log2(amax / 6.0))
    return (e2m1(np.clip(xb / s, -6, 6)) * s).reshape(sh)


def sylvester(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def rotate_activation(x):
    """hadamard_transform(x, scale=d^-1/2)."""
    d = x.shape[-1]
    return x @ (sylvester(d) * d ** -0.5).T


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z, axis=-1):
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def hc_split_sinkhorn(mixes, hc_scale, hc_base, hc, iters, eps):
    pre = sigmoid(mixes[:, :hc] * hc_scale[0] + hc_base[:hc]) + eps
    post = 2 * sigmoid(mixes[:, hc:2 * hc] * hc_scale[1] + hc_base[hc:2 * hc])
    comb = (mixes[:, 2 * hc:] * hc_scale[2] + hc_base[2 * hc:]).reshape(-1, hc, hc)
    comb = softmax(comb, -1) + eps
    comb = comb / (comb.sum(-2, keepdims=True) + eps)
    for _ in range(iters - 1):
        comb = comb / (comb.sum(-1, keepdims=True) + eps)
        comb = comb / (comb.sum(-2, keepdims=True) + eps)
    return pre, post, comb


# ---- model.py ------------------------------------------------------------------------


def rmsnorm(x, w, eps):
    return w * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def precompute_freqs(dim, base, yarn):
    """precompute_freqs_cis: yarn = (factor, original_seq_len, beta_fast,
    beta_slow) or None (original_seq_len 0)."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    if yarn:
        factor, orig, beta_fast, beta_slow = yarn

        def corr(rot):
            return dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))
        low = max(math.floor(corr(beta_fast)), 0)
        high = min(math.ceil(corr(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        smooth = 1 - np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
        freqs = freqs / factor * (1 - smooth) + freqs * smooth
    return freqs


def apply_rotary_emb(x, pos, freqs, inverse=False):
    """x (n, ..., rd), adjacent pairs (x[2i], x[2i+1]) rotated by pos freqs[i]."""
    ang = np.asarray(pos, dtype=np.float64)[:, None] * freqs[None, :]
    if inverse:
        ang = -ang
    shape = (len(pos),) + (1,) * (x.ndim - 2) + (len(freqs),)
    c, s = np.cos(ang).reshape(shape), np.sin(ang).reshape(shape)
    y = x.copy()
    a, b = x[..., 0::2], x[..., 1::2]
    y[..., 0::2] = a * c - b * s
    y[..., 1::2] = a * s + b * c
    return y


def rope_last(x, pos, freqs, inverse=False):
    rd = 2 * len(freqs)
    y = x.copy()
    y[..., -rd:] = apply_rotary_emb(x[..., -rd:], pos, freqs, inverse)
    return y


def kv_round(kv, rd, lossless):
    """act_quant of the NoPE dims (64 per block, ue8m0); the RoPE dims are
    bf16 (the release's kv tensor is bf16). kvsim applies this as the cache
    format v4_kv (tests/test_kern.c: its codec == act_quant); a dump made
    with lossless caches (kv_format fp32) skips it."""
    if lossless:
        return kv
    y = kv.copy()
    y[..., :-rd] = act_quant(kv[..., :-rd], 64)
    y[..., -rd:] = bf16(kv[..., -rd:])
    return y


def compressor(D, u, pre, x, ratio, d, rd, freqs, eps, rotate, lossless):
    """Compressor.forward at start_pos 0 over all n tokens: the n // ratio
    complete entries."""
    overlap = ratio == 4
    n = len(x)
    kv = x @ D.w(u, f"{pre}.wkv")
    score = x @ D.w(u, f"{pre}.wgate")
    ape = D.w(u, f"{pre}.ape")
    cutoff = n - n % ratio
    g = cutoff // ratio
    if g == 0:
        return np.zeros((0, d))
    kv = kv[:cutoff].reshape(g, ratio, -1)
    score = score[:cutoff].reshape(g, ratio, -1) + ape
    if overlap:
        def overlap_transform(t, value):
            nt = np.full((g, 2 * ratio, d), value)
            nt[:, ratio:] = t[:, :, d:]
            nt[1:, :ratio] = t[:-1, :, :d]
            return nt
        kv = overlap_transform(kv, 0.0)
        score = overlap_transform(score, -np.inf)
    kv = np.sum(kv * softmax(score, 1), axis=1)
    kv = rmsnorm(kv, D.w(u, f"{pre}.norm")[0], eps)
    kv = rope_last(kv, np.arange(g) * ratio, freqs)
    if rotate:
        return fp4_act_quant(rotate_activation(kv), 32)
    return kv_round(kv, rd, lossless)


def attention(D, u, L, x, eps):
    a = L["attn_fields"]
    m = D.meta
    H, c, rd, W = a["q_heads"], a["head_dim"], a["rope_dim"], a["window"]
    g, dg = a["o_groups"], a["o_lora_rank"]
    ratio = a.get("compress_ratio", 0) if L["attn"] in ("csa", "hca") else 0
    n = len(x)
    pos = np.arange(n)
    # Attention.__init__: compressed layers compress_rope_theta + YaRN, others rope_theta.
    sc = m.get("rope_scaling", {"type": "none"})
    yarn = None
    if not a.get("rope_unscaled") and sc.get("type") == "yarn":
        yarn = (sc["factor"], sc["original_max_position"], sc["beta_fast"], sc["beta_slow"])
    freqs = precompute_freqs(rd, L["rope_theta"], yarn)
    qr = rmsnorm(x @ D.w(u, "wq_a"), D.w(u, "q_norm")[0], eps)
    q = (qr @ D.w(u, "wq_b")).reshape(n, H, c)
    q = q / np.sqrt(np.mean(q * q, axis=-1, keepdims=True) + eps)
    q = rope_last(q, pos, freqs)
    kv = rmsnorm(x @ D.w(u, "wkv"), D.w(u, "kv_norm")[0], eps)
    lossless = a.get("kv_format") == "fp32"
    kv = kv_round(rope_last(kv, pos, freqs), rd, lossless)
    # get_window_topk_idxs (start_pos 0): rows max(0, t - W + 1) .. t.
    sel = [list(range(max(0, t - W + 1), t + 1)) for t in range(n)]
    rows = kv
    if ratio:
        ent = compressor(D, u, "cmp", x, ratio, c, rd, freqs, eps, False, lossless)
        nv = [(t + 1) // ratio for t in range(n)]
        if L["attn"] == "csa":
            Hi, di, K = a["index_heads"], a["index_head_dim"], a["index_topk"]
            qi = (qr @ D.w(u, "idx_wq")).reshape(n, Hi, di)
            qi = fp4_act_quant(rotate_activation(rope_last(qi, pos, freqs)), 32)
            keys = compressor(D, u, "idx_cmp", x, ratio, di, rd, freqs, eps, True, lossless)
            weights = (x @ D.w(u, "idx_wproj")) * (di ** -0.5 * Hi ** -0.5)
            score = np.einsum("shd,td->sht", qi, keys)
            score = np.einsum("sht,sh->st", np.maximum(score, 0), weights)
            for t in range(n):
                order = sorted(range(nv[t]), key=lambda e: (-score[t, e], e))[:min(K, nv[t])]
                sel[t] += [n + e for e in order]
        else:
            for t in range(n):
                sel[t] += [n + e for e in range(nv[t])]
        rows = np.concatenate([kv, ent], axis=0)
    # sparse_attn: one softmax over the selected rows, plus the sink.
    sink = D.w(u, "attn_sink")[0]
    o = np.zeros((n, H, c))
    for t in range(n):
        r = rows[sel[t]]
        lg = np.einsum("hd,jd->hj", q[t], r) * c ** -0.5
        mx = np.max(lg, axis=1, keepdims=True)
        p = np.exp(lg - mx)
        den = p.sum(axis=1) + np.exp(sink - mx[:, 0])
        o[t] = (p @ r) / den[:, None]
    o = rope_last(o, pos, freqs, inverse=True)
    # wo_a: kvsim stores group j's block as rows j*gw.. of [H c, dg] (y = x W);
    # the release's wo_a.weight.view(g, dg, gw) is its transpose per group.
    gw = H * c // g
    wo_a = D.w(u, "wo_a").reshape(g, gw, dg).transpose(0, 2, 1)
    mid = np.einsum("sgd,grd->sgr", o.reshape(n, g, gw), wo_a)
    return mid.reshape(n, g * dg) @ D.w(u, "wo_b")


def expert(x, w1, w3, w2, limit, weights=None):
    gate = x @ w1
    up = x @ w3
    if limit > 0:
        up = np.clip(up, -limit, limit)
        gate = np.minimum(gate, limit)
    h = gate / (1 + np.exp(-gate)) * up
    if weights is not None:
        h = weights * h
    return h @ w2


def moe(D, u, L, x, tid2eid):
    d = D.meta["d_model"]
    f = L["ffn_fields"]
    E, ff, k = f["experts"], f["d_ff"], f["top_k"]
    assert f["score"] == "sqrtsoftplus" and f["shared"] == 1, "a V4 MoE"
    scores = x @ D.w(u, "router")
    scores = np.sqrt(np.logaddexp(0, scores))       # F.softplus(scores).sqrt()
    original = scores
    if f["hash"]:
        indices = tid2eid
    else:
        biased = scores + D.w(u, "router.bias")[0]
        indices = np.array([sorted(range(E), key=lambda j: (-row[j], j))[:k] for row in biased])
    weights = np.take_along_axis(original, indices, axis=1)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    weights = weights * (f["routed_scale"] or 1.0)
    lim = f.get("swiglu_limit", 0) or 0
    w1 = D.w(u, "experts.w_gate").reshape(E, d, ff)
    w3 = D.w(u, "experts.w_up").reshape(E, d, ff)
    w2 = D.w(u, "experts.w_down").reshape(E, ff, d)
    y = np.zeros_like(x)
    for e in range(E):
        idx, top = np.where(indices == e)
        if len(idx):
            y[idx] += expert(x[idx], w1[e], w3[e], w2[e], lim, weights[idx, top, None])
    y += expert(x, D.w(u, "shared.w_gate"), D.w(u, "shared.w_up"), D.w(u, "shared.w_down"), lim)
    return y


def block(D, u, L, h, tid2eid, eps):
    """Block.forward (mHC around attention and the MoE) on streams h (n, S, d)."""
    if L["attn"] not in ("csa", "hca", "swa4") or L["res"] != "mhc" or L["ffn"] != "moe":
        raise SystemExit(f"{u}: {L['attn']}/{L['ffn']}/{L['res']} is not a V4 layer")
    n, S, d = h.shape
    r = L["res_fields"]
    hc_eps, iters = r.get("hc_eps", 0.0), r["sinkhorn_iters"]
    for sub, fn in (("attn", lambda y: attention(D, u, L, y, eps)), ("ffn", lambda y: moe(D, u, L, y, tid2eid))):
        xf = h.reshape(n, S * d)
        mixes = (xf @ D.w(u, f"hc_{sub}_fn")) / np.sqrt(np.mean(xf * xf, axis=-1, keepdims=True) + eps)
        pre, post, comb = hc_split_sinkhorn(mixes, D.w(u, f"hc_{sub}_scale")[0], D.w(u, f"hc_{sub}_base")[0],
                                            S, iters, hc_eps)
        y = np.sum(pre[:, :, None] * h, axis=1)
        y = fn(rmsnorm(y, D.w(u, f"{sub}_norm")[0], eps))
        h = post[:, :, None] * y[:, None, :] + np.einsum("njk,njd->nkd", comb, h)
    return h


def hc_head_logits(D, u, norm_unit, h_last, hc_eps, eps):
    """ParallelHead.forward on the last token: hc_head (unit u's hc_head_*),
    norm, the head."""
    S, d = h_last.shape
    xf = h_last.reshape(S * d)
    mixes = (xf @ D.w(u, "hc_head_fn")) / np.sqrt(np.mean(xf * xf) + eps)
    pre = sigmoid(mixes * D.w(u, "hc_head_scale")[0, 0] + D.w(u, "hc_head_base")[0]) + hc_eps
    y = np.sum(pre[:, None] * h_last, axis=0)
    return rmsnorm(y, norm_unit, eps) @ D.w("head", "head")


def forward(D, tokens, tid2eid):
    """Transformer.forward: the last token's logits and the final streams."""
    m = D.meta
    eps = m.get("norm_eps", 1e-6)
    S = m["hc_streams"]
    h = np.repeat(D.w("embed", "embed")[tokens][:, None, :], S, axis=1)
    for i, L in enumerate(m["layers"]):
        h = block(D, f"L{i}", L, h, tid2eid.get(i), eps)
    hc_eps = m["layers"][-1]["res_fields"].get("hc_eps", 0.0)
    return hc_head_logits(D, "head", D.w("head", "final_norm")[0], h[-1], hc_eps, eps), h


def mtp_forward(D, h, next_tokens):
    """MTPBlock.forward: e = enorm(embed(next)), x = e_proj(e) + h_proj(hnorm(h))
    per stream (kvsim's eh_proj [2d, d]: first d rows e_proj, last d h_proj),
    Block.forward, its own hc_head, its norm, the shared head."""
    m = D.meta
    eps = m.get("norm_eps", 1e-6)
    d = m["d_model"]
    L = m["mtp"]
    eh = D.w("mtp", "eh_proj")
    e = rmsnorm(D.w("embed", "embed")[next_tokens], D.w("mtp", "enorm")[0], eps)
    x = (e @ eh[:d])[:, None, :] + rmsnorm(h, D.w("mtp", "hnorm")[0], eps) @ eh[d:]
    x = block(D, "mtp", L, x, None, eps)
    return hc_head_logits(D, "mtp", D.w("mtp", "norm")[0], x[-1], L["res_fields"].get("hc_eps", 0.0), eps)


def check_dump(d):
    D = Dump(d)
    tok = D.get("tokens.npy").astype(int)
    T = D.get("prefill", "L0.attn_in.npy").shape[0]
    # tid2eid: the hash layers' table rows of these tokens, from the traces.
    tid2eid = {}
    for i, L in enumerate(D.meta["layers"]):
        if L["ffn_fields"].get("hash"):
            rows = np.concatenate([D.get("prefill", f"L{i}.moe_experts.npy"), D.get("decode", f"L{i}.moe_experts.npy")])
            tid2eid[i] = rows.astype(int)
    lp, hp = forward(D, tok[:T], {i: r[:T] for i, r in tid2eid.items()})
    ld, hd = forward(D, tok[:T + 1], {i: r[:T + 1] for i, r in tid2eid.items()})
    check_logits("numpy-v4", D, lp, ld, lambda: (mtp_forward(D, hp, tok[1:T + 1]), mtp_forward(D, hd, tok[1:T + 2])))


if __name__ == "__main__":
    sys.exit(main("numpy-v4", __doc__, check_dump))
