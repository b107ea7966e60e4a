#!/bin/sh
# tests/cli.sh - the command line: outputs, JSON interface, ctx parsing, exit
# codes. Usage: sh tests/cli.sh ./kvsim
K=${1:-./kvsim}
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "PASS cli/$1"; }
bad()  { fail=$((fail+1)); echo "FAIL cli/$1: $2"; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT

# expect NAME STATUS CMD...: run, compare the exit status.
expect() { n=$1; s=$2; shift 2; "$@" >"$t/out" 2>"$t/err"; r=$?; [ "$r" = "$s" ] && ok "$n" || bad "$n" "exit $r, want $s: $(head -c 300 "$t/err")"; }
has()    { grep -q -- "$2" "$t/$3" && ok "$1" || bad "$1" "missing '$2' in $3: $(head -c 300 "$t/$3")"; }

expect help 0 "$K" --help
has help-lists-compare "kvsim compare" out
expect no-args 2 "$K"
expect unknown-cmd 2 "$K" frobnicate
expect unknown-opt 2 "$K" cost archs/llama-3-8b.yaml --bogus
expect bad-ctx 2 "$K" cost archs/llama-3-8b.yaml --ctx 12q
has bad-ctx-msg "expected a number of tokens" err
expect zero-ctx 2 "$K" cost archs/llama-3-8b.yaml --ctx 0
expect huge-ctx 2 "$K" cost archs/llama-3-8b.yaml --ctx 2000G
expect missing-spec 2 "$K" cost archs/nope.yaml
has missing-spec-msg "archs/nope.yaml: cannot open" err
expect noncausal-decode 2 "$K" cost archs/llama-3-8b.yaml --noncausal
expect overflow 2 "$K" cost archs/deepseek-v4-pro.yaml --ctx 1M --phase prefill --batch 4294967296
has overflow-msg "exceeds 2^64-1" err

# Table output carries units: GB and GiB side by side.
expect table 0 "$K" cost archs/llama-3-8b.yaml --ctx 128k
has table-gb "17.180 GB (16.000 GiB)" out
has table-params "8.030 G total" out

# JSON: required keys and exact values. Llama-3-8B KV at 4k: 32 layers x 4096 x 4096 B = 536,870,912.
expect json 0 "$K" cost archs/llama-3-8b.yaml --ctx 4k --format json
python3 - "$t/out" <<'PY' && ok json-keys || bad json-keys "see above"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("arch", "ctx", "phase", "batch"): assert k in d, k
for k in ("kv_bytes", "flops", "flops_fp8_equiv", "bytes_moved"): assert k in d["total"], k
for k in ("total", "active", "effective"): assert k in d["params"], k
assert isinstance(d["by_type"], list) and d["by_type"]
for row in d["by_type"]:
    for k in ("type", "layers", "kv_bytes", "flops", "bytes_moved"): assert k in row, k
assert d["ctx"] == 4096 and d["phase"] == "decode" and d["batch"] == 1
assert d["total"]["kv_bytes"] == 32 * 4096 * 4096, d["total"]["kv_bytes"]
assert d["params"]["total"] == 8030261248, d["params"]["total"]
PY

# ctx spellings: 4096 == 4k; 1M == 1048576.
"$K" cost archs/llama-3-8b.yaml --ctx 4096 --format json > "$t/a"; "$K" cost archs/llama-3-8b.yaml --ctx 4k --format json > "$t/b"
cmp -s "$t/a" "$t/b" && ok ctx-4k || bad ctx-4k "4096 and 4k differ"
"$K" cost archs/llama-3-8b.yaml --ctx 1M --format json | grep -q '"ctx": 1048576' && ok ctx-1M || bad ctx-1M "1M is not 1048576"

# compare JSON: ratio against the first; V4-Pro / V3.2 KV at 1M is 0.1051 (test_claims).
expect compare-json 0 "$K" compare archs/deepseek-v3.2.yaml archs/deepseek-v4-pro.yaml --ctx 1M --format json
python3 - "$t/out" <<'PY' && ok compare-ratio || bad compare-ratio "see above"
import json, sys
d = json.load(open(sys.argv[1]))
a = d["archs"]
assert len(a) == 2 and a[0]["ratio"]["kv_bytes"] == 1
r = a[1]["ratio"]
assert abs(r["kv_bytes"] - a[1]["total"]["kv_bytes"] / a[0]["total"]["kv_bytes"]) < 1e-4
assert 0.10 < r["kv_bytes"] < 0.11, r
assert 0.25 < r["flops_fp8_equiv"] < 0.28, r
PY
expect compare-one 2 "$K" compare archs/llama-3-8b.yaml

# --set: sharing off adds exactly the 1,082,130,432 B of test_claims at 128k.
a=$("$K" cost archs/gemma4-e2b.yaml --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["kv_bytes"])')
b=$("$K" cost archs/gemma4-e2b.yaml --format json --set kv_sharing.shared_layers=0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["kv_bytes"])')
[ $((b - a)) = 1082130432 ] && ok set-sharing || bad set-sharing "difference $((b - a))"
expect set-bad-path 2 "$K" cost archs/llama-3-8b.yaml --set name.x=1
has set-bad-path-msg "descends into the scalar" err
expect set-bad-value 2 "$K" cost archs/llama-3-8b.yaml --set layers.attn.kv_heads=5
has set-bad-value-msg "not a multiple of kv_heads" err

# --mtp N: speculative decoding priced with the spec's MTP module (issue 12 item 8).
expect mtp 0 "$K" cost archs/deepseek-v3.yaml --ctx 4k --mtp 2 --format json
has mtp-json '"mtp": 2' out
has mtp-row '"type": "mtp"' out
expect mtp-prefill 2 "$K" cost archs/deepseek-v3.yaml --phase prefill --mtp 1
has mtp-prefill-msg "decode only" err
expect mtp-no-module 2 "$K" cost archs/llama-3-8b.yaml --mtp 1
has mtp-no-module-msg "no MTP module" err
expect mtp-bad 2 "$K" cost archs/deepseek-v3.yaml --mtp x

# CSV: a header and one row per type plus the total (V4-Flash: swa, csa, hca, embed, head,
# mtp: its MTP block since issue 12).
expect csv 0 "$K" cost archs/deepseek-v4-flash.yaml --ctx 1M --format csv
[ "$(wc -l < "$t/out")" = 8 ] && ok csv-rows || bad csv-rows "$(wc -l < "$t/out") lines"
has csv-header "arch,ctx,phase,batch,row,layers,kv_bytes" out

# --by layer lists every layer.
expect by-layer 0 "$K" cost archs/llama-3-8b.yaml --by layer --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["by_layer"]) == 32' "$t/out" && ok by-layer-count || bad by-layer-count "not 32 layers"

# prefill vs noncausal: noncausal attention FLOPs exceed causal ones.
c=$("$K" cost archs/llama-3-8b.yaml --phase prefill --ctx 8k --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["flops_by_category"]["attn"])')
n=$("$K" cost archs/llama-3-8b.yaml --phase prefill --ctx 8k --noncausal --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["flops_by_category"]["attn"])')
# causal: 32 layers x 32 heads x 4 x 128 x 8192*8193/2; noncausal: x 8192^2
[ "$c" = $((32*32*512*8192*8193/2)) ] && [ "$n" = $((32*32*512*8192*8192)) ] && ok causal-vs-noncausal || bad causal-vs-noncausal "$c $n"

# --page 16: Llama-3-8B at 1000 tokens allocates 63 pages = 1008 entries per layer:
# 32 x 1008 x 4096 B = 132,120,576 (logical: 32 x 1000 x 4096 = 131,072,000).
"$K" cost archs/llama-3-8b.yaml --ctx 1000 --page 16 --format json | grep -q '"kv_bytes": 132120576,' && ok page-rounding || bad page-rounding "not 132120576"
"$K" cost archs/llama-3-8b.yaml --ctx 1000 --format json | grep -q '"kv_bytes": 131072000,' && ok page-logical || bad page-logical "not 131072000"
expect page-zero 2 "$K" cost archs/llama-3-8b.yaml --page 0

# --hw: roofline times and what fits (JSON), shipped and probed profiles.
expect hw-json 0 "$K" cost archs/llama-3-8b.yaml --ctx 128k --hw rtx-4090 --format json
python3 - "$t/out" <<'PY' && ok hw-json-keys || bad hw-json-keys "see above"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["roofline"]["total"]
assert r["bound"] == "memory" and r["time_s"] == max(r["compute_s"], r["memory_s"]), r
# Llama-3-8B on a 24 GB RTX 4090: 16.06 GB of BF16 weights leave room for 60,573 tokens of
# 131,072 B each (test_hw checks the search itself on a hand-sized case).
assert d["hw"]["fit_ctx"] == 60573, d["hw"]
assert (24e9 - d["total"]["weight_bytes"]) // 131072 == 60573
PY
expect hw-table 0 "$K" cost archs/deepseek-v4-pro.yaml --ctx 1M --hw h200
has hw-table-no-fit "do not fit in 141.000 GB" out
expect hw-unknown 2 "$K" cost archs/llama-3-8b.yaml --hw tpu-v9
expect probe 0 "$K" probe -o "$t/probe.yaml"
expect probe-profile-usable 0 "$K" cost archs/llama-3-8b.yaml --hw "$t/probe.yaml"
has probe-roofline "roofline on probe-" out

# check: every shipped spec loads.
expect check-archs 0 "$K" check archs/*.yaml
[ "$(grep -c '^ok ' "$t/out")" = "$(ls archs/*.yaml | wc -l)" ] && ok check-all-ok || bad check-all-ok "$(cat "$t/out")"

# import: a bad field value is an error naming the JSON field (exit 2, nothing
# written); a quantized config is priced at its stored bytes (GPTQ int4 g128:
# tests/test_import.c derives 5,727,854,592 B).
sed 's/"hidden_size": 4096/"hidden_size": 0/' tests/configs/llama-3-8b.json > "$t/bad.json"
expect import-bad-field 2 "$K" import "$t/bad.json" -o "$t/bad.yaml"
has import-bad-field-msg "bad.json: hidden_size: must be a positive integer" err
[ ! -e "$t/bad.yaml" ] && ok import-bad-field-no-output || bad import-bad-field-no-output "wrote $t/bad.yaml"
expect import-gptq 0 "$K" cost tests/configs/llama-3-8b-gptq.json --format json
has import-gptq-bytes '"weight_bytes": 5727854592' out

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
