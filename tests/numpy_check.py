#!/usr/bin/python3
"""numpy_check.py - check a `kvsim run --dump DIR` against an independent
NumPy implementation of its attention layers (GQA / MHA / MQA with windows,
KV sharing, q/k norms, biases, output gate, K = V; MLA; and CCA as Zyphra's
released vLLM code computes it).

Usage: /usr/bin/python3 tests/numpy_check.py DIR [DIR ...]
Each DIR is a dump of a prefill of T tokens and one decode step (--decode 1).
For every gqa / mla layer it recomputes, in float64, from the layer's dumped
input (attn_in) and weights: the cache rows (compared with the dumped cache,
decoded) and the attention output (compared with attn_out), for the prefill
and for the decode step. MLA is computed expanded here, so the decode check
also compares kvsim's absorbed decode with the expanded form.
Caches must be fp32 in the run (--set kv_dtype=fp32): NumPy does not
reproduce kvsim's bf16/fp8 rounding. Tolerance: max |diff| <= 1e-4 (1 + max |ref|).
Prints one PASS/FAIL line per check and "numpy: N passed, M failed".
"""
import json
import os
import sys

import numpy as np

passed = failed = 0


def check(name, got, want):
    global passed, failed
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        failed += 1
        print(f"FAIL {name}: shape {got.shape} != {want.shape}")
        return
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    tol = 1e-4 * (1.0 + (float(np.max(np.abs(want))) if want.size else 0.0))
    if err <= tol:
        passed += 1
        print(f"PASS {name}  (max err {err:.3g})")
    else:
        failed += 1
        print(f"FAIL {name}: max err {err:.3g} > {tol:.3g}")


def rmsnorm(x, w=None, eps=1e-6):
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y * w if w is not None else y


def rope(x, pos, rot, theta=10000.0, yarn=None):
    """Rotate pairs (i, i + rot/2) of the first `rot` dims of x[..., :]; x is
    (n, ..., dim) with positions pos (n,). yarn: the spec's YaRN scaling
    (meta rope_scaling) for a GQA layer: transformers' frequencies and its
    attention factor on cos and sin (hf_check.py's, from
    _compute_yarn_parameters)."""
    if rot == 0:
        return x
    x = x.copy()
    half = rot // 2
    inv = theta ** (-2.0 * np.arange(half) / rot)
    amp = 1.0
    if yarn is not None:
        from hf_check import yarn_inv_freq, yarn_attention_factor
        inv = yarn_inv_freq(theta, rot, yarn)
        amp = yarn_attention_factor({}, yarn)
    ang = np.asarray(pos, dtype=np.float64)[:, None] * inv[None, :]
    shape = (len(pos),) + (1,) * (x.ndim - 2) + (half,)
    c, s = amp * np.cos(ang).reshape(shape), amp * np.sin(ang).reshape(shape)
    a, b = x[..., :half].copy(), x[..., half:rot].copy()
    x[..., :half] = a * c - b * s
    x[..., half:rot] = a * s + b * c
    return x


def rope_il(x, pos, rot, theta=10000.0):
    """RoPE on adjacent pairs (x[2i], x[2i+1]) of the first `rot` dims: the
    interleaved layout of DeepSeek's MLA (apply_rotary_emb, view_as_complex)."""
    if rot == 0:
        return x
    y = x.copy()
    perm = np.concatenate([np.arange(0, rot, 2), np.arange(1, rot, 2)])
    h = rope(x[..., perm], pos, rot, theta)
    y[..., perm] = h[..., :rot]
    return y


def softmax(z):
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def attend(q, K, V, window, scale, qpos):
    """q (nq, H, dq), K (T, Hk, dq), V (T, Hk, dv); head h uses kv head h // (H / Hk)."""
    nq, H, _ = q.shape
    Hk = K.shape[1]
    out = np.zeros((nq, H, V.shape[2]))
    for i, P in enumerate(qpos):
        lo = max(0, P + 1 - window) if window else 0
        for h in range(H):
            g = h // (H // Hk)
            p = softmax(scale * (K[lo:P + 1, g] @ q[i, h]))
            out[i, h] = p @ V[lo:P + 1, g]
    return out


class Dump:
    def __init__(self, d):
        self.d = d
        with open(os.path.join(d, "meta.json")) as f:
            self.meta = json.load(f)

    def w(self, layer, name):
        p = os.path.join(self.d, "weights", f"L{layer}.{name}.npy")
        return np.load(p).astype(np.float64) if os.path.exists(p) else None

    def tr(self, phase, layer, name):
        return np.load(os.path.join(self.d, phase, f"L{layer}.{name}.npy")).astype(np.float64)

    def cache(self, phase, layer, buf):
        return np.load(os.path.join(self.d, phase, "cache", f"L{layer}.{buf}.npy")).astype(np.float64)


def gqa_yarn(D, L):
    """The YaRN scaling a GQA layer applies (None: plain RoPE)."""
    sc = D.meta["rope_scaling"]
    return sc if sc["type"] == "yarn" and not L["attn_fields"].get("rope_unscaled") else None


def gqa_rows(D, i, x, pos):
    """K and V (T, G, h) / (T, G, v) of layer i from its input x (T, d)."""
    L = D.meta["layers"][i]
    H, G, h, v = L["q_heads"], L["kv_heads"], L["head_dim"], L["v_head_dim"]
    k = x @ D.w(i, "wk")
    vv = None if L["k_eq_v"] else x @ D.w(i, "wv")
    b = D.w(i, "qkv_bias")
    if b is not None:
        k = k + b[0, H * h:H * h + G * h]
        if vv is not None:
            vv = vv + b[0, H * h + G * h:]
    k = k.reshape(len(x), G, h)
    kn = D.w(i, "k_norm")
    if kn is not None:
        k = rmsnorm(k, kn[0])
    k = rope(k, pos, L["rope_dim"], L["rope_theta"], gqa_yarn(D, L))
    vv = k if vv is None else vv.reshape(len(x), G, v)
    return k, vv


def gqa_layer(D, i, x, pos, K, V):
    L = D.meta["layers"][i]
    H, h, v, W = L["q_heads"], L["head_dim"], L["v_head_dim"], L["window"]
    q = x @ D.w(i, "wq")
    b = D.w(i, "qkv_bias")
    if b is not None:
        q = q + b[0, :H * h]
    q = q.reshape(len(x), H, h)
    qn = D.w(i, "q_norm")
    if qn is not None:
        q = rmsnorm(q, qn[0])
    q = rope(q, pos, L["rope_dim"], L["rope_theta"], gqa_yarn(D, L))
    o = attend(q, K, V, W, 1.0 / np.sqrt(h), pos)
    wg = D.w(i, "wg")
    if wg is not None:
        o = o * np.log1p(np.exp(x @ wg))[:, :, None]   # softplus (Laguna)
    y = o.reshape(len(x), H * v) @ D.w(i, "wo")
    ob = D.w(i, "o_bias")                              # LlamaAttention o_proj bias (attention_bias)
    return y if ob is None else y + ob[0]


def mla_rows(D, i, x, pos):
    L = D.meta["layers"][i]
    r, p = L["kv_lora_rank"], L["rope_dim"]
    kv = x @ D.w(i, "wkv_a")
    c = rmsnorm(kv[:, :r], D.w(i, "kv_norm")[0])
    kpe = rope_il(kv[:, r:][:, None, :], pos, p)[:, 0, :]
    return np.concatenate([c, kpe], axis=1)


def mla_layer(D, i, x, pos, rows):
    L = D.meta["layers"][i]
    H, r, p, npe, v, W = L["q_heads"], L["kv_lora_rank"], L["rope_dim"], L["nope_dim"], L["v_head_dim"], L["window"]
    if L["q_lora_rank"]:
        q = rmsnorm(x @ D.w(i, "wq_a"), D.w(i, "q_norm")[0]) @ D.w(i, "wq_b")
    else:
        q = x @ D.w(i, "wq")
    q = q.reshape(len(x), H, npe + p)
    q[:, :, npe:] = rope_il(q[:, :, npe:].copy(), pos, p)
    kx = (rows[:, :r] @ D.w(i, "wkv_b")).reshape(len(rows), H, npe + v)
    K = np.concatenate([kx[:, :, :npe], np.repeat(rows[:, None, r:], H, axis=1)], axis=2)
    o = attend(q, K, kx[:, :, npe:], W, 1.0 / np.sqrt(npe + p), pos)
    return o.reshape(len(x), H * v) @ D.w(i, "wo")


def cca_layer(D, i, x, pos):
    """CCA as Zyphra's vLLM cca.py (_forward_no_cache) and zaya.py
    (ZayaAttention) compute it, for the whole sequence x (n, d): returns the
    layer output (n, d) and the cache rows [k | v] (n, 2 G h).
    Weight layout: kvsim's taps count back in time (conv1_w[c, j] multiplies
    z[t - j]; conv2_w[c_out, i k2 + j] multiplies y1[t - j, head channel i]);
    torch's Conv1d taps run forward over the left-padded sequence: the same
    convolution with the taps reversed."""
    L = D.meta["layers"][i]
    H, G, h, W = L["q_heads"], L["kv_heads"], L["head_dim"], L["window"]
    n, ch, grp = len(x), (H + G) * h, H // G
    c1w, c1b, c2w, c2b = D.w(i, "conv1_w"), D.w(i, "conv1_b")[0], D.w(i, "conv2_w"), D.w(i, "conv2_b")[0]
    k1, k2 = c1w.shape[1], c2w.shape[1] // h
    qk0 = np.concatenate([x @ D.w(i, "wq"), x @ D.w(i, "wk")], axis=1)          # qk_packed0
    pad = np.concatenate([np.zeros((k1 - 1 + k2 - 1, ch)), qk0])                # F.pad(total_padding, 0)
    m1 = len(pad) - k1 + 1                                                      # conv_qk_depthwise
    y1 = np.stack([sum(c1w[:, j] * pad[t + k1 - 1 - j] for j in range(k1)) + c1b for t in range(m1)])
    y2 = np.zeros((n, ch))                                                      # conv_qk_grouped
    for g in range(H + G):
        sl = slice(g * h, (g + 1) * h)
        wg = c2w[sl].reshape(h, h, k2)                                          # [out, in, tap back in time]
        for t in range(n):
            y2[t, sl] = sum(wg[:, :, j] @ y1[t + k2 - 1 - j, sl] for j in range(k2)) + c2b[sl]
    qpre, kbase = qk0[:, :H * h].reshape(n, G, grp, h), qk0[:, H * h:].reshape(n, G, h)
    q = y2[:, :H * h].reshape(n, G, grp, h) + 0.5 * qpre + 0.5 * kbase[:, :, None, :]   # _add_grouped_qk_means_inplace
    k = y2[:, H * h:].reshape(n, G, h) + 0.5 * qpre.mean(axis=2) + 0.5 * kbase
    q, k = q.reshape(n, H, h), k.copy()
    nrm = lambda a: a / np.sqrt(np.sum(a * a, axis=-1, keepdims=True) + 1e-12) * np.sqrt(h)   # _rms_normalize_qk
    q, k = nrm(q), nrm(k) * D.w(i, "temperature")[0][None, :, None]
    q, k = rope(q, pos, L["rope_dim"], L["rope_theta"]), rope(k, pos, L["rope_dim"], L["rope_theta"])
    vd = x @ D.w(i, "wv2")
    v = np.concatenate([x @ D.w(i, "wv1"), np.concatenate([np.zeros((1, vd.shape[1])), vd[:-1]])], axis=1)
    o = attend(q, k, v.reshape(n, G, h), W, 1.0 / np.sqrt(h), pos)
    rows = np.concatenate([k.reshape(n, -1), v], axis=1)
    return o.reshape(n, H * h) @ D.w(i, "wo"), rows


def slots(T, W):
    """Cache slot of each held position after T tokens (ring of W rows)."""
    held = range(max(0, T - W), T) if W else range(T)
    return {pp: (pp % W if W else pp) for pp in held}


def check_dump(d):
    D = Dump(d)
    name = os.path.basename(os.path.normpath(d))
    layers = D.meta["layers"]
    rows_of = {}
    for i, L in enumerate(layers):
        if L["attn"] not in ("gqa", "mla", "cca"):
            continue
        xp = D.tr("prefill", i, "attn_in")
        xd = D.tr("decode", i, "attn_in")
        T = len(xp)
        x = np.concatenate([xp, xd])
        pos = np.arange(T + 1)
        src = L["kv_from"] if L["kv_from"] >= 0 else i
        if L["attn"] == "cca":
            y, full = cca_layer(D, i, x, pos)
            yp, yd = cca_layer(D, i, xp, pos[:T])[0], y[T:]
        elif L["attn"] == "gqa":
            if src == i:
                rows_of[i] = gqa_rows(D, i, x, pos)
            K, V = rows_of[src]
            yp = gqa_layer(D, i, xp, pos[:T], K[:T], V[:T])
            yd = gqa_layer(D, i, xd, pos[T:], K, V)
            G = L["kv_heads"]
            full = np.concatenate([K.reshape(T + 1, -1), V.reshape(T + 1, -1)], axis=1)
            if L["k_eq_v"]:
                full = K.reshape(T + 1, -1)
        else:
            full = mla_rows(D, i, x, pos)
            yp = mla_layer(D, i, xp, pos[:T], full[:T])
            yd = mla_layer(D, i, xd, pos[T:], full)
        kind = f"{L['attn']}{'-w' + str(L['window']) if L['window'] else ''}{'-shared' if src != i else ''}"
        check(f"numpy/{name}/L{i}-{kind}-prefill-attn-out", D.tr("prefill", i, "attn_out"), yp)
        check(f"numpy/{name}/L{i}-{kind}-decode-attn-out", D.tr("decode", i, "attn_out"), yd)
        if src == i:
            buf = "latent" if L["attn"] == "mla" else "kv"
            for phase, n in (("prefill", T), ("decode", T + 1)):
                c = D.cache(phase, i, buf)
                sl = slots(n, L["window"])
                got = np.stack([c[s] for s in sl.values()])
                want = np.stack([full[pp] for pp in sl.keys()])
                check(f"numpy/{name}/L{i}-{kind}-{phase}-cache-rows", got, want)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    for d in sys.argv[1:]:
        check_dump(d)
    print(f"numpy: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
