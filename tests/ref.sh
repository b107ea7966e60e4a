#!/bin/sh
# tests/ref.sh - the reference kernels end to end: `kvsim validate` on every
# tiny spec and every shipped spec (scaled), exit codes, `kvsim run`
# determinism, and the NumPy cross-check of a --dump (tests/numpy_check.py,
# run with /usr/bin/python3: Debian's python3-numpy).
# Usage: sh tests/ref.sh ./kvsim     (KVSIM_TEST_SCALE: scale of the shipped
# specs, default 64; the full `kvsim validate archs/*.yaml` uses auto)
K=${1:-./kvsim}
S=${KVSIM_TEST_SCALE:-64}
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "PASS ref/$1"; }
bad() { fail=$((fail+1)); echo "FAIL ref/$1: $2"; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
expect() { n=$1; s=$2; shift 2; "$@" >"$t/out" 2>"$t/err"; r=$?; [ "$r" = "$s" ] && ok "$n" || bad "$n" "exit $r, want $s: $(tail -c 400 "$t/out") $(head -c 300 "$t/err")"; }
has()    { grep -q -- "$2" "$t/$3" && ok "$1" || bad "$1" "missing '$2' in $3"; }

for f in archs/tiny/*.yaml; do
  expect "validate-tiny-$(basename "$f" .yaml)" 0 "$K" validate "$f" --brief
done
has validate-tiny-table-lines "0 mismatches: PASS" out
# Non-causal prefills (issue 10 item 3): symmetric windows |t - v| < W, compressed
# entries and top-k over all T; the kernels' counters equal the model's at each
# window's edges T < W, T = W, T = 2W-1 and T >> W (gqa windows 5 and 11, mla 9,
# cca 7, v4 6 with m = 4 / 8 and top-k, dsa top-k 6, ple 7).
for spec in gqa:3,5,9,11,21,40 mla:4,9,17,40 cca:3,7,13,40 v4:3,6,11,40 dsa:3,6,11,40 ple:3,7,13,40; do
  f=${spec%%:*}
  expect "validate-noncausal-$f" 0 "$K" validate "archs/tiny/$f.yaml" --noncausal --brief --ctx "${spec#*:}"
done
has validate-noncausal-pass "0 mismatches: PASS" out
# MLA / DSA in both forms (issue 10 item 4): the kernels' counters equal the model's with
# every layer absorbed and with every layer expanded (prefill and decode), causal and not.
for f in mla dsa; do
  for form in absorbed expanded; do
    expect "validate-$f-$form" 0 "$K" validate "archs/tiny/$f.yaml" --brief --mla-form "$form"
    expect "validate-$f-$form-noncausal" 0 "$K" validate "archs/tiny/$f.yaml" --brief --noncausal --mla-form "$form" --ctx 3,9,17,40
  done
done
expect validate-mla-form-no-layer 2 "$K" validate archs/tiny/v4.yaml --mla-form expanded
has validate-mla-form-no-layer-msg "no layer of tiny-v4 has an mla_form" err
for f in archs/*.yaml; do
  expect "validate-$(basename "$f" .yaml)-scale-$S" 0 "$K" validate "$f" --brief --scale "$S"
done
# The full table: analytical, measured, difference per type and counter.
expect validate-table 0 "$K" validate archs/tiny/v4.yaml --ctx 3,17
has validate-table-csa "csa  *flops.indexer" out
has validate-table-decode "17d  *hca  *kv_read_bytes" out
# A one-FLOP difference must fail the run with status 1.
expect validate-perturbed 1 env KVSIM_VALIDATE_PERTURB=1 "$K" validate archs/tiny/gqa.yaml --ctx 5 --brief
has validate-perturbed-msg MISMATCH out
# Edges above --max-ctx are listed as skipped, not silently dropped (issue
# 10.11): tiny/v4's csa (m = 4, top-k 3) has edges 11, 12, 17 (k m - 1, k m,
# k m + m + 1), hca (m = 8) 7, 8, 9, 17 (2m + 1), and every spec gets 37;
# with --max-ctx 10 the ones above 10 are 11, 12, 17 and 37.
expect validate-skipped 0 "$K" validate archs/tiny/v4.yaml --brief --max-ctx 10
has validate-skipped-list "skipped 4 edge contexts above --max-ctx 10: 11 12 17 37 " out
has validate-skipped-pass "PASS (with skipped edges, above)" out
expect validate-bad-scale 2 "$K" validate archs/tiny/gqa.yaml --scale 0
expect validate-bad-ctx 2 "$K" validate archs/tiny/gqa.yaml --ctx 3,x
expect validate-missing 2 "$K" validate archs/nope.yaml
expect validate-no-spec 2 "$K" validate
expect run-no-ctx 2 "$K" run archs/tiny/gqa.yaml

# run: checksums, same seed -> same bits, another seed -> other bits.
expect run 0 "$K" run archs/tiny/v4.yaml --ctx 19 --decode 3 --dump "$t/v4dump"
has run-checksum "decode at ctx 21: logits sum" out
# The checksum lines' values, recomputed from the dumped logits: sum and sum|x|
# in order in double, argmax (first of equals), FNV-1a 64 over the float32 bytes.
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - "$t/out" "$t/v4dump" <<'PY' && ok run-checksum-values || bad run-checksum-values "see above"
import sys, re, numpy as np
out = open(sys.argv[1]).read()
for phase, ctx in (("prefill", 19), ("decode", 21)):
    x = np.load("%s/%s/logits.npy" % (sys.argv[2], phase)).astype("<f4").reshape(-1)
    h = 0xcbf29ce484222325
    for b in x.tobytes(): h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    s = sa = 0.0
    for v in x.tolist(): s += v; sa += abs(v)   # in order, in double, as kvsim sums
    want = "%s at ctx %d: logits sum %+.6e  sum|x| %.6e  argmax %d  fnv1a %016x" % (phase, ctx, s, sa, int(np.argmax(x)), h)
    assert want in out, (want, re.findall(phase + " at.*", out))
PY
fi
has run-time-per-type "csa  *3 " out
c1=$(grep "prefill at" "$t/out")
"$K" run archs/tiny/v4.yaml --ctx 19 --decode 3 > "$t/out2" 2>&1
[ "$c1" = "$(grep "prefill at" "$t/out2")" ] && ok run-same-seed-same-bits || bad run-same-seed-same-bits "$c1"
"$K" run archs/tiny/v4.yaml --ctx 19 --seed 2 > "$t/out3" 2>&1
[ "$c1" != "$(grep "prefill at" "$t/out3")" ] && ok run-other-seed || bad run-other-seed "same checksum"
# The kernels split work over OpenMP threads in fixed blocks: the thread
# count changes no bit (a context long enough for the parallel paths).
OMP_NUM_THREADS=1 "$K" run archs/deepseek-v4-flash.yaml --ctx 700 --decode 1 --layers 4 --scale 16 > "$t/th1" 2>&1
OMP_NUM_THREADS=3 "$K" run archs/deepseek-v4-flash.yaml --ctx 700 --decode 1 --layers 4 --scale 16 > "$t/th3" 2>&1
[ -n "$(grep fnv1a "$t/th1")" ] && [ "$(grep fnv1a "$t/th1")" = "$(grep fnv1a "$t/th3")" ] && ok run-threads-same-bits ||
  bad run-threads-same-bits "$(grep fnv1a "$t/th1" "$t/th3")"
expect run-layers 0 "$K" run archs/deepseek-v4-flash.yaml --ctx 9 --layers 3 --scale 64
has run-layers-count "3 layers" out

# --dump and the independent NumPy implementation (GQA with windows and
# sharing, MLA with and without a window), fp32 caches.
expect dump-gqa 0 "$K" run archs/tiny/gqa.yaml --ctx 19 --decode 1 --set kv_dtype=fp32 --dump "$t/gqa"
expect dump-mla 0 "$K" run archs/tiny/mla.yaml --ctx 19 --decode 1 --set kv_dtype=fp32 --dump "$t/mla"
# MLA in each form in both phases (issue 10 item 4): NumPy's expanded float64 reference agrees.
for form in absorbed expanded; do
  expect "dump-mla-$form" 0 "$K" run archs/tiny/mla.yaml --ctx 19 --decode 1 --set kv_dtype=fp32 \
    --set layers.mla.mla_form=$form --set layers.mlaw.mla_form=$form --dump "$t/mla-$form"
done
[ -f "$t/gqa/weights/L0.wq.npy" ] && [ -f "$t/gqa/prefill/cache/L0.kv.npy" ] && [ -f "$t/gqa/decode/logits.npy" ] &&
  [ -f "$t/gqa/meta.json" ] && ok dump-layout || bad dump-layout "$(ls -R "$t/gqa" | head -20)"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 tests/numpy_check.py "$t/gqa" "$t/mla" "$t/mla-absorbed" "$t/mla-expanded" > "$t/np" 2>&1 && ok numpy-check || bad numpy-check "$(grep -v ^PASS "$t/np" | head -20)"
  tail -n 1 "$t/np"
  # Whole-model logits against a NumPy forward that follows the released
  # Hugging Face code (tests/hf_check.py): Gemma 4 E2B, E4B (windows cut
  # to 6 so that they slide) and 31B's first 6 layers (scaled; PLE, KV
  # sharing, proportional RoPE, v_norm, K = V, softcap) and Llama 3 8B.
  "$K" run archs/gemma4-e2b.yaml --scale 8 --ctx 23 --decode 1 --set kv_dtype=fp32 --dump "$t/g2" >/dev/null 2>&1 &&
  "$K" run archs/gemma4-e4b.yaml --scale 8 --ctx 21 --decode 1 --set kv_dtype=fp32 --set layers.sliding.window=6 --dump "$t/g4" >/dev/null 2>&1 &&
  "$K" run archs/gemma4-31b.yaml --scale 16 --layers 6 --ctx 17 --decode 1 --set kv_dtype=fp32 --set layers.sliding.window=5 --dump "$t/g31" >/dev/null 2>&1 &&
  "$K" run archs/gemma4-e2b.yaml --scale 8 --ctx 9 --decode 1 --set kv_dtype=fp32 --set layers.full.k_eq_v=true --dump "$t/gkv" >/dev/null 2>&1 &&
  /usr/bin/python3 tests/hf_check.py gemma4 "$t/g2" "$t/g4" "$t/g31" "$t/gkv" > "$t/hf" 2>&1 && ok hf-gemma4 || bad hf-gemma4 "$(grep -v ^PASS "$t/hf" | head -20)"
  # Llama 3.1's llama3 RoPE scaling, with original_max_position cut to 64 so
  # that 24 positions reach the smoothed and the divided frequencies.
  "$K" run archs/llama-3-8b.yaml --scale 16 --ctx 23 --decode 1 --set kv_dtype=fp32 --dump "$t/l3" >/dev/null 2>&1 &&
  "$K" run archs/llama-3-8b.yaml --scale 16 --ctx 23 --decode 1 --set kv_dtype=fp32 --dump "$t/l31" \
    --set 'rope.scaling={type: llama3, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position: 64}' >/dev/null 2>&1 &&
  /usr/bin/python3 tests/hf_check.py llama "$t/l3" "$t/l31" > "$t/hf" 2>&1 && ok hf-llama || bad hf-llama "$(grep -v ^PASS "$t/hf" | head -20)"
  # Laguna XS.2's attention layers (softplus output gate, per-kind RoPE
  # base) and ZAYA1's CCA as Zyphra's vLLM code computes it (and tiny-cca's
  # windowed kind).
  "$K" run archs/laguna-xs2.yaml --scale 16 --layers 4 --ctx 19 --decode 1 --set kv_dtype=fp32 --dump "$t/lg" >/dev/null 2>&1 &&
  "$K" run archs/zaya1-8b.yaml --scale 16 --layers 3 --ctx 19 --decode 1 --set kv_dtype=fp32 --dump "$t/zy" >/dev/null 2>&1 &&
  "$K" run archs/tiny/cca.yaml --ctx 19 --decode 1 --set kv_dtype=fp32 --dump "$t/tc" >/dev/null 2>&1 &&
  /usr/bin/python3 tests/numpy_check.py "$t/lg" "$t/zy" "$t/tc" > "$t/np" 2>&1 && ok numpy-laguna-zaya ||
    bad numpy-laguna-zaya "$(grep -v ^PASS "$t/np" | head -20)"
  # Whole-model logits of the MoE families against NumPy forwards written from
  # the released code (tests/hf_check.py; issue 12 items 6 and 9), prefill
  # and decode. ZAYA1: 3 blocks (EDA from block 1 on, residual scaling),
  # 64/8 = 8 experts + the skip, 4 q / 2 kv CCA heads. Laguna: the dense
  # layer 0 and three sigmoid-routed MoE layers (16 experts, top 8, x 2.5).
  # Gemma 4 26B-A4B: 6 layers (5 sliding in windows of 5, 1 full, K = V),
  # 512/16 = 32 experts, top 8, so that the router chooses.
  "$K" run archs/zaya1-8b.yaml --scale 8 --layers 3 --ctx 13 --decode 1 --set kv_dtype=fp32 --set ffn.experts=64 \
    --set layers.cca.q_heads=32 --set layers.cca.kv_heads=16 --dump "$t/hzy" >/dev/null 2>&1 &&
  /usr/bin/python3 tests/hf_check.py zaya "$t/hzy" > "$t/hf" 2>&1 && ok hf-zaya || bad hf-zaya "$(grep -v ^PASS "$t/hf" | head -20)"
  "$K" run archs/laguna-xs2.yaml --scale 16 --layers 4 --ctx 13 --decode 1 --set kv_dtype=fp32 --dump "$t/hlg" >/dev/null 2>&1 &&
  /usr/bin/python3 tests/hf_check.py laguna "$t/hlg" > "$t/hf" 2>&1 && ok hf-laguna || bad hf-laguna "$(grep -v ^PASS "$t/hf" | head -20)"
  "$K" run archs/gemma4-26b-a4b.yaml --scale 16 --layers 6 --ctx 13 --decode 1 --set kv_dtype=fp32 --set ffn.experts=512 \
    --set layers.sliding.window=5 --dump "$t/hg26" >/dev/null 2>&1 &&
  /usr/bin/python3 tests/hf_check.py gemma4 "$t/hg26" > "$t/hf" 2>&1 && ok hf-gemma4-26b-a4b || bad hf-gemma4-26b-a4b "$(grep -v ^PASS "$t/hf" | head -20)"
else
  bad numpy-check "/usr/bin/python3 has no numpy: apt-get install python3-numpy (make deps)"
fi
# DeepSeek V3 and V3.2 against tests/numpy_deepseek.py, a forward pass written
# from DeepSeek's released inference/model.py (issue 12): logits after the
# prefill and after one decode step. Scaled specs, 5 layers (3 dense + 2 MoE);
# more experts than --scale leaves (2048/64 = 32 in 4 groups of 8, 2 groups
# eligible) so that group-limited routing chooses; a top-k of 7 and 4 indexer
# heads so that the indexer chooses; lossless (fp32) caches.
DS_MOE="--set ffn.experts=2048 --set ffn.n_group=256 --set ffn.topk_group=128"
expect dump-ds-v3 0 "$K" run archs/deepseek-v3.yaml --ctx 21 --decode 1 --scale 64 --layers 5 --set kv_dtype=fp32 $DS_MOE --mtp --dump "$t/v3"
expect dump-ds-v32 0 "$K" run archs/deepseek-v3.2.yaml --ctx 21 --decode 1 --scale 64 --layers 5 $DS_MOE \
  --set layers.dsa.kv_format=fp32 --set layers.dsa.index_format=fp32 --set layers.dsa.index_topk=7 --set layers.dsa.index_heads=256 --mtp --dump "$t/v32"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 tests/numpy_deepseek.py "$t/v3" "$t/v32" > "$t/npds" 2>&1 && ok numpy-deepseek || bad numpy-deepseek "$(grep -v ^PASS "$t/npds" | head -20)"
  tail -n 1 "$t/npds"
fi
# DeepSeek V4-Flash and V4-Pro against tests/numpy_v4.py, a forward pass
# written from DeepSeek's released V4 inference/model.py and kernel.py:
# logits after the prefill and after one decode step. Scaled, 5 (Flash: swa,
# swa, csa, hca, csa) and 4 (Pro: hca, hca, csa, hca) layers; windows of 6 and
# 5 and HCA ratio 8 so that windows slide and HCA entries form in 19-21
# tokens; index top-k 3 and 2 so that the indexer chooses; o_groups 2;
# swiglu_limit 0.5 so that the clamps bind; Pro with 2 Sinkhorn iterations
# (at 20 the normalisation order moves the logits by < 1e-4). The main rows
# lossless (the release's act_quant is the v4_kv format's: test_kern
# v4-kv-codec-is-act-quant-64); the FP4 indexer as shipped. With --mtp: the MTP
# block's draft logits too (MTPBlock.forward), after the prefill and the step.
V4F="--set layers.swa.kv_format=fp32 --set layers.csa.kv_format=fp32 --set layers.hca.kv_format=fp32"
expect dump-v4-flash 0 "$K" run archs/deepseek-v4-flash.yaml --scale 16 --layers 5 --ctx 21 --decode 1 $V4F \
  --set layers.swa.window=6 --set layers.csa.window=6 --set layers.hca.window=6 --set layers.hca.compress_ratio=8 \
  --set layers.csa.index_topk=3 --set layers.swa.o_groups=32 --set layers.csa.o_groups=32 --set layers.hca.o_groups=32 \
  --set ffn.swiglu_limit=0.5 --mtp --dump "$t/v4f"
expect dump-v4-pro 0 "$K" run archs/deepseek-v4-pro.yaml --scale 32 --layers 4 --ctx 19 --decode 1 $V4F \
  --set layers.csa.window=5 --set layers.hca.window=5 --set layers.hca.compress_ratio=8 --set layers.csa.index_topk=2 \
  --set layers.csa.o_groups=64 --set layers.hca.o_groups=64 --set ffn.swiglu_limit=0.5 --set residual.sinkhorn_iters=2 \
  --mtp --dump "$t/v4p"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 tests/numpy_v4.py "$t/v4f" "$t/v4p" > "$t/npv4" 2>&1 && ok numpy-v4 || bad numpy-v4 "$(grep -v ^PASS "$t/npv4" | head -20)"
  tail -n 1 "$t/npv4"
fi
echo "ref: $pass passed, $fail failed"
[ $fail = 0 ]
