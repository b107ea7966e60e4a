#!/bin/sh
# tests/cli.sh - the command line: outputs, JSON interface, ctx parsing, exit
# codes. Usage: sh tests/cli.sh ./kvsim
K=${1:-./kvsim}
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "PASS cli/$1"; }
bad()  { fail=$((fail+1)); echo "FAIL cli/$1: $2"; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
R=$(pwd -P); KA=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")   # the repository; kvsim by an absolute path

# expect NAME STATUS CMD...: run, compare the exit status.
expect() { n=$1; s=$2; shift 2; "$@" >"$t/out" 2>"$t/err"; r=$?; [ "$r" = "$s" ] && ok "$n" || bad "$n" "exit $r, want $s: $(head -c 300 "$t/err")"; }
has()    { grep -q -- "$2" "$t/$3" && ok "$1" || bad "$1" "missing '$2' in $3: $(head -c 300 "$t/$3")"; }

expect help 0 "$K" --help
has help-lists-compare "kvsim compare" out
expect no-args 2 "$K"
has no-args-usage "usage:" err
expect unknown-cmd 2 "$K" frobnicate
has unknown-cmd-msg "unknown command 'frobnicate'" err
expect unknown-opt 2 "$K" cost archs/llama-3-8b.yaml --bogus
has unknown-opt-msg "unknown option '--bogus'" err
expect bad-ctx 2 "$K" cost archs/llama-3-8b.yaml --ctx 12q
has bad-ctx-msg "expected a number of tokens" err
expect zero-ctx 2 "$K" cost archs/llama-3-8b.yaml --ctx 0
has zero-ctx-msg "must be at least 1 token" err
expect huge-ctx 2 "$K" cost archs/llama-3-8b.yaml --ctx 2000G
has huge-ctx-msg "larger than 2^40 tokens" err
expect missing-spec 2 "$K" cost archs/nope.yaml
has missing-spec-msg "archs/nope.yaml: cannot open" err
expect noncausal-decode 2 "$K" cost archs/llama-3-8b.yaml --noncausal
has noncausal-decode-msg "applies to --phase prefill only" err
expect overflow 2 "$K" cost archs/deepseek-v4-pro.yaml --ctx 1M --phase prefill --batch 4294967296
has overflow-msg "2^64-1" err
has overflow-names-metric "flops.attn, " err
# Issue 10 item 5: Llama-3.1-405B, 1M-token prefill, batch 2: FP8-equivalent FLOPs
# 21,882,955,090,046,222,336 > 2^64-1 (hand derivation in tests/test_cost.c,
# range_405b: 2 x 10,941,477,545,023,111,168) printed as exact digits in JSON and CSV.
expect range-405b-json 0 "$K" cost tests/specs/llama-3.1-405b.yaml --ctx 1M --phase prefill --batch 2 --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["total"]["flops_fp8_equiv"] == 21882955090046222336, d["total"]["flops_fp8_equiv"]' "$t/out" && ok range-405b-json-exact || bad range-405b-json-exact "$(head -c 300 "$t/out")"
expect range-405b-csv 0 "$K" cost tests/specs/llama-3.1-405b.yaml --ctx 1M --phase prefill --batch 2 --format csv
has range-405b-csv-exact ',"total",126,[0-9]*,[0-9]*,21882955090046222336,' out
expect range-405b-table 0 "$K" cost tests/specs/llama-3.1-405b.yaml --ctx 1M --phase prefill --batch 2
has range-405b-table-fp8 '^  total  *126  *1.082  *10.853  *21.883 ' out
expect range-405b-b8 2 "$K" cost tests/specs/llama-3.1-405b.yaml --ctx 1M --phase prefill --batch 8
has range-405b-b8-names "the exact counts of flops.attn, flops (the categories' sum) exceed 2^64-1" err

# Table output carries units: GB and GiB side by side.
expect table 0 "$K" cost archs/llama-3-8b.yaml --ctx 128k
has table-gb "17.180 GB (16.000 GiB)" out
has table-params "8.030 B total" out

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
has compare-one-msg "two or more specs" err

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

# Non-causal sliding window (issue 10 item 3): Mistral-7B (W = 4096, 32 layers x 32
# heads x 2(128+128)) at 32K: each query sees |u - v| < W, 32768 x 8191 - 4096 x 4095
# = 251,629,568 pairs per layer and head (tests/test_cost.c, noncausal).
n=$("$K" cost tests/configs/mistral-7b-v0.1.json --phase prefill --ctx 32k --noncausal --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["flops_by_category"]["attn"])')
[ "$n" = $((32*32*512*251629568)) ] && ok noncausal-mistral-window || bad noncausal-mistral-window "$n"

# MLA forms (issue 10 item 4): DeepSeek-V3 prefill at 4K, absorbed costs 2H(2r+p) = 2H x 1088
# per key against expanded 2H(n+p+v) = 2H x 320 (README, counting conventions): 3.4x.
e=$("$K" cost archs/deepseek-v3.yaml --phase prefill --ctx 4k --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["flops_by_category"]["attn"])')
a=$("$K" cost archs/deepseek-v3.yaml --phase prefill --ctx 4k --mla-form absorbed --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["flops_by_category"]["attn"])')
s=$("$K" cost archs/deepseek-v3.yaml --phase prefill --ctx 4k --set layers.mla.mla_form=absorbed --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["flops_by_category"]["attn"])')
[ $((a * 320)) = $((e * 1088)) ] && [ "$a" = "$s" ] && ok mla-form-absorbed-ratio || bad mla-form-absorbed-ratio "$e $a $s"
# --mla-form is recorded in every output form (JSON settings, CSV column, table settings line).
"$K" cost archs/deepseek-v3.yaml --mla-form expanded --format json | python3 -c 'import json,sys; assert json.load(sys.stdin)["settings"]["mla_form"] == "expanded"' \
  && ok mla-form-json-settings || bad mla-form-json-settings "no settings.mla_form"
"$K" cost archs/deepseek-v3.yaml --mla-form expanded --format csv | python3 -c 'import csv,sys; r=list(csv.DictReader(sys.stdin)); assert r and all(x["mla_form"] == "expanded" for x in r)' \
  && ok mla-form-csv-column || bad mla-form-csv-column "no mla_form column"
"$K" cost archs/deepseek-v3.yaml --mla-form expanded | grep -q -- "settings: --mla-form expanded" && ok mla-form-table-settings || bad mla-form-table-settings "no settings line"
expect mla-form-bad 2 "$K" cost archs/deepseek-v3.yaml --mla-form folded
has mla-form-bad-msg "mla_form 'folded' is not one of auto|absorbed|expanded" err
expect mla-form-no-mla 2 "$K" cost archs/llama-3-8b.yaml --mla-form expanded
has mla-form-no-mla-msg "no layer of llama-3-8b has an mla_form" err

# --page 16: Llama-3-8B at 1000 tokens allocates 63 pages = 1008 entries per layer:
# 32 x 1008 x 4096 B = 132,120,576 (logical: 32 x 1000 x 4096 = 131,072,000).
"$K" cost archs/llama-3-8b.yaml --ctx 1000 --page 16 --format json | grep -q '"kv_bytes": 132120576,' && ok page-rounding || bad page-rounding "not 132120576"
"$K" cost archs/llama-3-8b.yaml --ctx 1000 --format json | grep -q '"kv_bytes": 131072000,' && ok page-logical || bad page-logical "not 131072000"
expect page-zero 2 "$K" cost archs/llama-3-8b.yaml --page 0
has page-zero-msg "expected a whole number from 1 to 16777216" err

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
has hw-unknown-msg "profile 'tpu-v9' not found" err
expect probe 0 "$K" probe -o "$t/probe.yaml" --csv "$t/probe.csv"
has probe-wrote "wrote $t/probe.yaml" err
expect probe-profile-usable 0 "$K" cost archs/llama-3-8b.yaml --hw "$t/probe.yaml"
# A measured profile has curves: the time model by default, the roofline on request (issue 14 item 5).
has probe-time-model "time model on probe-" out
has probe-time-default "time: the per-operation time model (default: profile probe-" out
expect probe-time-roofline 0 "$K" cost archs/llama-3-8b.yaml --hw "$t/probe.yaml" --time roofline
has probe-roofline "roofline on probe-" out
has probe-roofline-why "time: roofline (--time)" out
has probe-curves "^curves:" probe.yaml
has probe-csv-header "^op,dtype,M,N,K,bytes,count,seconds$" probe.csv
# calibrate (issue 14 item 6) on this CPU's measurements: the same fit of the same
# numbers gives the probe's curves exactly, and the profile is usable.
expect calibrate 0 "$K" calibrate "$t/probe.csv" -o "$t/cal.yaml" --name cpu
sed -n '/^curves:/,$p' "$t/probe.yaml" > "$t/c1"; sed -n '/^curves:/,$p' "$t/cal.yaml" > "$t/c2"
[ -s "$t/c1" ] && cmp -s "$t/c1" "$t/c2" && ok calibrate-equals-probe || bad calibrate-equals-probe "$(diff "$t/c1" "$t/c2" | head -5)"
expect calibrate-profile-usable 0 "$K" cost archs/llama-3-8b.yaml --hw "$t/cal.yaml"
has calibrate-time-model "time model on cpu" out
printf 'op,dtype,M,N,K,bytes,count,seconds\ngemm,fp32,1,64,64,,,1e-6\nstream,,,,,4096,,x\n' > "$t/bad.csv"
expect calibrate-bad-row 2 "$K" calibrate "$t/bad.csv" -o "$t/never.yaml"
has calibrate-bad-row-pos "bad.csv:3:18: seconds: expected a number" err
[ ! -e "$t/never.yaml" ] && ok calibrate-bad-no-output || bad calibrate-bad-no-output "a profile was written"
expect calibrate-missing 2 "$K" calibrate "$t/none.csv"

# The edges of --ctx (1 to 2^40), --batch (1 to 2^32) and --page (1 to 2^24):
# the largest value is taken (and shows in the output), one more is refused.
# Llama-3-8B: 32 layers x 4096 B per token.
"$K" cost archs/llama-3-8b.yaml --ctx 1099511627776 --format json > "$t/out" 2>&1
grep -q '"ctx": 1099511627776,' "$t/out" && grep -q '"kv_bytes": 144115188075855872,' "$t/out" && ok ctx-max || bad ctx-max "$(head -c 300 "$t/out")"
expect ctx-max-plus-1 2 "$K" cost archs/llama-3-8b.yaml --ctx 1099511627777
has ctx-max-plus-1-msg "larger than 2^40 tokens" err
# tiny-gqa holds 648 B per token (its 5 owning layers: 2 x 128 sliding, 2 x 176
# full, 40 k_eq_v; archs/tiny/gqa.yaml), x 2^32 sequences = 2,783,138,807,808.
"$K" cost archs/tiny/gqa.yaml --ctx 1 --batch 4294967296 --format json > "$t/out" 2>&1
grep -q '"batch": 4294967296,' "$t/out" && grep -q '"kv_bytes": 2783138807808,' "$t/out" && ok batch-max || bad batch-max "$(head -c 300 "$t/out")"
expect batch-max-plus-1 2 "$K" cost archs/llama-3-8b.yaml --batch 4294967297
has batch-max-plus-1-msg "expected a whole number from 1 to 4294967296" err
expect batch-zero 2 "$K" cost archs/llama-3-8b.yaml --batch 0
has batch-zero-msg "expected a whole number from 1 to 4294967296" err
# 1000 tokens in one page of 2^24 entries: 32 x 16,777,216 x 4096 B.
"$K" cost archs/llama-3-8b.yaml --ctx 1000 --page 16777216 --format json > "$t/out" 2>&1
grep -q '"kv_bytes": 2199023255552,' "$t/out" && ok page-max || bad page-max "$(head -c 300 "$t/out")"
expect page-max-plus-1 2 "$K" cost archs/llama-3-8b.yaml --page 16777217
has page-max-plus-1-msg "expected a whole number from 1 to 16777216" err

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
# ---- issue 11.5 / 10.16: one command table, --opt=value, CMD --help ----
# --opt=value is --opt value.
"$K" cost archs/llama-3-8b.yaml --ctx=4k --format=json > "$t/a" 2> "$t/err"; "$K" cost archs/llama-3-8b.yaml --ctx 4k --format json > "$t/b"
cmp -s "$t/a" "$t/b" && grep -q '"ctx": 4096' "$t/a" && ok opt-equals-value || bad opt-equals-value "$(cat "$t/err")"
expect opt-equals-flag 2 "$K" cost archs/llama-3-8b.yaml --phase=prefill --noncausal=yes
has opt-equals-flag-msg "noncausal takes no value" err
expect opt-missing-value 2 "$K" run archs/tiny/gqa.yaml --ctx
has opt-missing-value-msg "kvsim run: --ctx needs a value" err
# CMD --help lists every option the command takes (issue 10.16 names these).
expect run-help 0 "$K" run --help
for o in --ctx --decode --scale --layers --seed --set --dump; do has "run-help$o" "^  $o " out; done
expect validate-help 0 "$K" validate --help
for o in --ctx --scale --layers --seed --set --max-ctx --brief; do has "validate-help$o" "^  $o" out; done
# Every option a command's --help lists is one its parser accepts, and
# every command in `kvsim --help` has a --help of its own.
"$K" --help | sed -n 's/^  kvsim \([a-z]*\).*/\1/p' > "$t/cmds"
[ "$(wc -l < "$t/cmds")" -ge 12 ] && ok help-lists-commands || bad help-lists-commands "$(cat "$t/cmds")"
while read -r c; do
  "$K" "$c" --help > "$t/h" 2>&1 || bad "help-$c" "exit $?"
  grep -q "^usage: kvsim $c" "$t/h" || bad "help-$c-usage" "$(head -3 "$t/h")"
  # OPT VALUE then an unknown option: the parser takes OPT (or names it as
  # unknown, or rejects the value 1) and stops by the second at the latest,
  # before the command does anything.
  for o in $(sed -n 's/^  \(-[-a-z]*\).*/\1/p' "$t/h"); do
    (cd "$t" && "$KA" "$c" "$o" 1 --no-such-option > /dev/null 2> "$t/e")
    { grep -q "unknown option '--no-such-option'" "$t/e" || grep -q "^kvsim $c: $o '1'" "$t/e"; } \
      || bad "help-$c$o-parsed" "$(cat "$t/e")"
  done
done < "$t/cmds"
ok help-options-parsed
expect help-unknown 2 "$K" help frobnicate
has help-unknown-msg "no command or topic 'frobnicate'" err
expect help-cmd 0 "$K" help compare
has help-cmd-hw "^  --hw NAME|PATH" out
# help spec documents every top-level key the spec loader accepts (read from
# sim/model/spec.c's parse_top key list) as well as the component fields.
expect help-spec 0 "$K" help spec
python3 - sim/model/spec.c "$t/out" <<'PY' && ok help-spec-top-keys || bad help-spec-top-keys "see above"
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r'parse_top\(.*?keys\[\]\s*=\s*\{(.*?)NULL\}', src, re.S)
assert m, "parse_top's key list not found in spec.c"
keys = re.findall(r'"([a-z_]+)"', m.group(1))
assert len(keys) >= 15 and "kv_sharing" in keys, keys
out = open(sys.argv[2]).read()
missing = [k for k in keys if not re.search(r'^  %s ' % k, out, re.M)]
assert not missing, "help spec lacks top-level keys %s" % missing
top = out.split("Component types")[0]
twice = [k for k in keys if len(re.findall(r'^  %s ' % k, top, re.M)) != 1]
assert not twice, "help spec lists top-level keys more than once: %s" % twice
assert re.search(r'^  q_heads ', out, re.M) and "attention type: gqa" in out
PY
# The --hw header prints a measured profile's small rates with digits that
# are not zero: 0.0512 TFLOP/s and 5.3 GB/s as written.
printf 'name: slow-cpu\nmemory_gb: 16\nbandwidth_gbs: 5.3\npeak_tflops: {fp32: 0.0512}\n' > "$t/slow.yaml"
expect hw-small-rates 0 "$K" cost archs/tiny/gqa.yaml --hw "$t/slow.yaml"
has hw-small-rates-fp32 "5.30 GB/s; FP8 0.0512, BF16 0.0512, FP32 0.0512 TFLOP/s" out

# ---- issue 14 item 5: --time model|roofline in cost and compare ----
expect time-needs-hw 2 "$K" cost archs/llama-3-8b.yaml --time roofline
has time-needs-hw-msg "\-\-time roofline needs \-\-hw" err
expect time-bad 2 "$K" cost archs/llama-3-8b.yaml --hw h100-sxm --time fast
has time-bad-msg "\-\-time 'fast': expected model or roofline" err
expect time-model-gpu 2 "$K" cost archs/llama-3-8b.yaml --hw h100-sxm --time model
has time-model-gpu-msg "profile h100-sxm has no measured curves" err
expect time-gpu-default 0 "$K" cost archs/llama-3-8b.yaml --hw h100-sxm
has time-gpu-default-roofline "time: roofline (default: the profile has no measured curves)" out
# Two hand-made profiles whose curves make every operation cost only its FLOPs
# (1 GFLOP/s for every product and element-wise FLOP, memory at 10^16 B/s), or
# only its bytes (1 GB/s; FLOPs at 10^19/s), no fixed cost: the time model is
# then FLOPs / 10^9 s, or bytes moved / 10^9 s, so no FLOP and no byte is lost
# or counted twice (each row and the total; tiny-gqa, decode and prefill).
printf 'name: flops-only\nmemory_gb: 1\nbandwidth_gbs: 1e7\npeak_tflops: {fp32: 0.001}\ncurves:\n  gemm:\n    fp32: {rate_max_gflops: 1, m_half: 0}\n  bandwidth: {ws_bytes: [1000], gbs: [1e7]}\n  elementwise: {gflops: 1}\n  parallel_fixed_us: 0\n' > "$t/fl.yaml"
printf 'name: bytes-only\nmemory_gb: 1\nbandwidth_gbs: 1\npeak_tflops: {fp32: 1e7}\ncurves:\n  gemm:\n    fp32: {rate_max_gflops: 1e10, m_half: 0}\n  bandwidth: {ws_bytes: [1000], gbs: [1]}\n  elementwise: {gflops: 1e10}\n  parallel_fixed_us: 0\n' > "$t/by.yaml"
for ph in decode prefill; do
  for p in fl by; do
    expect time-$p-$ph 0 "$K" cost archs/tiny/gqa.yaml --ctx 37 --phase $ph --hw "$t/$p.yaml" --format json
    python3 - "$t/out" $p <<'PY' && ok time-$p-$ph-identity || bad time-$p-$ph-identity "see above"
import json, sys
d = json.load(open(sys.argv[1])); t = d["time"]
assert t["model"] == "model" and t["unit"] == "s" and t["profile"] in ("flops-only", "bytes-only"), t
# the other resource's time is not zero: bytes / 1e16 s, or FLOPs / 1e19 s, at most
key, other, fast = ("flops", "bytes_moved", 1e16) if sys.argv[2] == "fl" else ("bytes_moved", "flops", 1e19)
rows = {r["type"]: r for r in d["by_type"]}
for r in t["by_type"] + [dict(t["total"], type="total")]:
    c = d["total"] if r["type"] == "total" else rows[r["type"]]
    want = c[key] / 1e9
    assert abs(r["time_s"] - want) <= 1e-8 * want + c[other] / fast + 1e-18, (r, want)   # 9 digits printed
    parts = sum(r[k] for k in ("gemm_s", "flops_s", "elementwise_s", "weights_s", "traffic_s", "fixed_s"))
    assert abs(parts - r["time_s"]) <= 1e-8 * r["time_s"], (parts, r)   # 9 digits printed
assert abs(sum(r["time_s"] for r in t["by_type"]) - t["total"]["time_s"]) <= 1e-8 * t["total"]["time_s"]
PY
  done
done
expect time-csv 0 "$K" cost archs/tiny/gqa.yaml --ctx 37 --hw "$t/by.yaml" --format csv --by layer
python3 - "$t/out" <<'PY' && ok time-csv-columns || bad time-csv-columns "see above"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert all(r["time_model"] == "model" for r in rows), rows[0]
for r in rows:   # bytes only: each row's predicted seconds = its bytes moved / 1e9
    assert abs(float(r["predicted_s"]) - int(r["bytes_moved"]) / 1e9) <= 1e-9 * float(r["predicted_s"]) + 1e-15, r
layers = sum(float(r["predicted_s"]) for r in rows if r["row"].startswith("layer "))
types = sum(float(r["predicted_s"]) for r in rows if not r["row"].startswith("layer ") and r["row"] not in ("total", "embed", "head"))
assert abs(layers - types) <= 1e-9 * types, (layers, types)
PY
expect time-compare 0 "$K" compare archs/tiny/gqa.yaml archs/tiny/mla.yaml --ctx 37 --hw "$t/fl.yaml" --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["settings"]; assert s["time"] == "model" and s["time_chosen_by"].startswith("default"), s; assert all(abs(a["time"]["total"]["time_s"] - a["total"]["flops"] / 1e9) <= 1e-6 * a["time"]["total"]["time_s"] for a in d["archs"])' "$t/out" \
  && ok time-compare-json || bad time-compare-json "$(head -c 300 "$t/out")"
expect time-compare-table 0 "$K" compare archs/tiny/gqa.yaml archs/tiny/mla.yaml --ctx 37 --hw "$t/fl.yaml" --time roofline
has time-compare-table-roofline "time: roofline (--time)" out
expect time-model-mtp 2 "$K" cost archs/deepseek-v3.yaml --hw "$t/fl.yaml" --time model --mtp 1
has time-model-mtp-msg "does not price --mtp" err

# ---- issue 10.7 / 10.8: every output form carries the same information and its settings ----
V=$("$K" version | cut -d' ' -f2)
expect json-settings 0 "$K" cost archs/llama-3-8b.yaml --ctx 8k --phase prefill --noncausal --batch 2 --page 16 \
  --set kv_dtype=fp8 --set=layers.attn.window=4096 --hw h200 --format json
python3 - "$t/out" "$V" <<'PY' && ok json-settings-values || bad json-settings-values "see above"
import json, sys
d = json.load(open(sys.argv[1])); s = d["settings"]
assert s == {"kvsim_version": sys.argv[2], "ctx": 8192, "phase": "prefill", "batch": 2, "noncausal": True, "page": 16,
             "by": "type", "set": ["kv_dtype=fp8", "layers.attn.window=4096"], "hw": "h200",
             "hw_profile": s["hw_profile"], "time": "roofline",
             "time_chosen_by": "default: the profile has no measured curves"}, s
assert s["hw_profile"].endswith("scenarios/hw/h200.yaml"), s
PY
expect compare-json-settings 0 "$K" compare archs/llama-3-8b.yaml archs/gemma4-e2b.yaml --set kv_dtype=fp8 --format json
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["settings"]; assert s["set"] == ["kv_dtype=fp8"] and s["hw"] is None and s["page"] == 0, s' "$t/out" \
  && ok compare-json-settings-values || bad compare-json-settings-values "$(head -c 300 "$t/out")"
# CSV: settings columns and the roofline on every row, by layer too.
expect csv-hw 0 "$K" cost archs/llama-3-8b.yaml --ctx 4k --phase prefill --noncausal --page 16 --set kv_dtype=fp8 --hw h100-sxm --by layer --format csv
python3 - "$t/out" "$V" <<'PY' && ok csv-hw-columns || bad csv-hw-columns "see above"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 32 + 4, len(rows)          # 32 layers, attn, embed, head, total
for r in rows:
    assert r["phase"] == "prefill" and r["noncausal"] == "true" and r["page"] == "16", r
    assert r["set"] == "kv_dtype=fp8" and r["hw"] == "h100-sxm" and r["kvsim_version"] == sys.argv[2], r
    c, m, t = float(r["compute_s"]), float(r["memory_s"]), float(r["time_s"])
    assert t == max(c, m) and r["bound"] in ("compute", "memory") and int(r["fit_ctx"]) > 0, r
tot = [r for r in rows if r["row"] == "total"][0]
lay = [r for r in rows if r["row"].startswith("layer ")]
assert len(lay) == 32 and abs(sum(float(r["compute_s"]) for r in lay) - float(tot["compute_s"])) < 0.01 * float(tot["compute_s"])
PY
expect csv-causal 0 "$K" cost archs/llama-3-8b.yaml --format csv
python3 -c 'import csv,sys; rows=list(csv.DictReader(open(sys.argv[1]))); assert all(r["noncausal"] == "false" and r["phase"] == "decode" and r["set"] == "" for r in rows), rows' "$t/out" \
  && ok csv-causal-every-row || bad csv-causal-every-row "$(head -3 "$t/out")"
# Tables: the settings in the header; compare --hw has the roofline and fit.
expect table-settings 0 "$K" cost archs/llama-3-8b.yaml --ctx 8k --phase prefill --noncausal --page 16 --set kv_dtype=fp8
has table-settings-line "ctx 8,192 tokens, prefill (non-causal), batch 1, cache in pages of 16 entries; kvsim $V" out
has table-settings-set "settings: --set kv_dtype=fp8" out
expect compare-hw-table 0 "$K" compare archs/llama-3-8b.yaml archs/deepseek-v4-pro.yaml --ctx 128k --hw h200
has compare-hw-settings "^  settings: --hw h200$" out
has compare-hw-roofline "roofline on h200" out
has compare-hw-fit "llama-3-8b: longest context that fits 141.000 GB" out
has compare-hw-nofit "deepseek-v4-pro: the weights alone" out
grep -Eq '^  llama-3-8b +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +memory$' "$t/out" && ok compare-hw-row || bad compare-hw-row "$(cat "$t/out")"
expect compare-by-layer-hw 0 "$K" compare archs/llama-3-8b.yaml archs/tiny/gqa.yaml --hw h200 --by layer --format json
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["archs"]; assert len(a[0]["roofline"]["by_layer"]) == 32 and len(a[1]["roofline"]["by_layer"]) == 7' "$t/out" \
  && ok compare-by-layer-hw-json || bad compare-by-layer-hw-json "$(head -c 300 "$t/out")"
expect compare-by-layer-hw-table 0 "$K" compare archs/llama-3-8b.yaml archs/tiny/gqa.yaml --hw h200 --by layer
[ "$(grep -c '^  layer 31 (attn) ' "$t/out")" = 2 ] && ok compare-by-layer-hw-table-rows || bad compare-by-layer-hw-table-rows "$(grep -c 'layer 31' "$t/out")"

# ---- issue 10.14: tables right-aligned, one unit per column, plurals, M/B/T ----
expect table-units 0 "$K" cost archs/deepseek-v4-flash.yaml --ctx 1M
python3 - "$t/out" <<'PY' && ok table-aligned-one-unit || bad table-aligned-one-unit "see above"
import re, sys
lines = open(sys.argv[1]).read().split("\n")
h = [i for i, l in enumerate(lines) if l.lstrip().startswith("type ")][0]
body = lines[h + 1 : [i for i, l in enumerate(lines) if "params:" in l][0]]
units = body[0].split()
assert units == ["GB", "GFLOP", "GFLOP", "GB", "B"], units      # one unit per column, named once
rows = body[1:]
assert len(rows) >= 5 and len({len(l) for l in rows + [body[0]]}) == 1, "columns not right-aligned"
for l in rows:
    assert not re.search(r"[0-9] ?(k|M|G|T|P)?(B|FLOP|iB)\b", l), l   # no unit inside a cell
PY
# 284.332 B + the 6.610 B MTP block (issue 12); was 290.939 B before the 3 hash
# layers kept their gate (3 x 256 x 4096 = 3.1 M: DeepSeek-V4-Flash inference/model.py
# Gate weights the tid2eid experts by the router's scores).
has params-billions "params: 290.942 B total" out
# V4-Flash's 2 window layers hold 2 x 128 entries x 584 B = 149,504 B (cost --format json):
# 0.000150 GB, visible in the GB column.
grep -Eq '^  swa +2 +0\.000150 ' "$t/out" && ok table-small-visible || bad table-small-visible "$(grep swa "$t/out")"
expect params-millions 0 "$K" cost archs/tiny/gqa.yaml
grep -q "params: [0-9.]* M total" "$t/out" && ! grep -q " k " "$t/out" && ok params-millions-unit || bad params-millions-unit "$(grep params: "$t/out")"
expect plural-one 0 "$K" compare archs/llama-3-8b.yaml archs/tiny/gqa.yaml
has plural-one-layer "keqv (1 layer)" out
has plural-layers "attn (32 layers)" out

# run and validate name their settings and the version too.
expect run-settings 0 "$K" run archs/tiny/gqa.yaml --ctx 5 --decode 1 --set layers.sliding.window=4
has run-settings-head "prefill 5 + 1 decode step; kvsim $V" out
has run-settings-set "^  settings: --set layers.sliding.window=4$" out
expect validate-settings 0 "$K" validate archs/tiny/gqa.yaml --ctx 5 --brief --set=layers.sliding.window=4
has validate-settings-set "^  settings: --set layers.sliding.window=4$" out

# ---- issue 10.11: run --dump refuses a non-empty directory ----
mkdir -p "$t/dump"; echo stale > "$t/dump/L0.stale.npy"
expect dump-nonempty 2 "$K" run archs/tiny/gqa.yaml --ctx 5 --dump "$t/dump"
has dump-nonempty-msg "the directory is not empty (1 entry, e.g. 'L0.stale.npy')" err
[ "$(ls "$t/dump")" = L0.stale.npy ] && ok dump-nonempty-untouched || bad dump-nonempty-untouched "$(ls "$t/dump")"
mkdir -p "$t/dump2"
expect dump-empty 0 "$K" run archs/tiny/gqa.yaml --ctx 5 --dump "$t/dump2"
[ -n "$(ls "$t/dump2")" ] && ok dump-empty-written || bad dump-empty-written "nothing written"

# ---- issue 10.15: living outside the repository root ----
mkdir -p "$t/elsewhere"
(cd "$t/elsewhere" && "$KA" cost llama-3-8b --ctx 4k --hw h200 --format json) > "$t/out" 2> "$t/err" \
  && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["total"]["kv_bytes"] == 32*4096*4096 and d["hw"]["name"] == "h200"' "$t/out" \
  && ok data-dir-from-anywhere || bad data-dir-from-anywhere "$(cat "$t/err")"
(cd "$t/elsewhere" && "$KA" cost archs/gemma4-e2b.yaml --ctx 4k > /dev/null) 2> "$t/err" && ok data-dir-archs-path || bad data-dir-archs-path "$(cat "$t/err")"
(cd "$t/elsewhere" && "$KA" cost no-such-arch) > /dev/null 2> "$t/err"
[ $? = 2 ] && grep -q "no-such-arch: cannot open.*(nor a shipped spec in $R/archs)" "$t/err" && ok data-dir-missing-says-where || bad data-dir-missing-says-where "$(cat "$t/err")"
mkdir -p "$t/data/scenarios/hw" "$t/data/archs"
sed 's/^name: h200/name: my-gpu/' scenarios/hw/h200.yaml > "$t/data/scenarios/hw/my-gpu.yaml"
(cd "$t/elsewhere" && KVSIM_DATA="$t/data" "$KA" cost "$R/archs/llama-3-8b.yaml" --hw my-gpu) > "$t/out" 2> "$t/err" \
  && grep -q "roofline on my-gpu" "$t/out" && ok kvsim-data-env || bad kvsim-data-env "$(cat "$t/err")"
(cd "$t/elsewhere" && KVSIM_DATA="$t/data" "$KA" cost "$R/archs/llama-3-8b.yaml" --hw h200) > /dev/null 2> "$t/err"
[ $? = 2 ] && grep -q "$t/data/scenarios/hw/h200.yaml" "$t/err" && ok kvsim-data-env-only || bad kvsim-data-env-only "$(cat "$t/err")"
# Scenario archs resolve relative to the scenario file, from any directory.
mkdir -p "$t/sc/specs"; cp archs/llama-3-8b.yaml "$t/sc/specs/"
printf 'name: rel\narchs: [specs/llama-3-8b.yaml, ../sc/specs/../specs/llama-3-8b.yaml]\ncontexts: [1k]\n' > "$t/sc/rel.yaml"
(cd "$t/elsewhere" && "$KA" sweep ../sc/rel.yaml --db "$t/sc/deep/er/rel.db") > "$t/out" 2> "$t/err" && ok scenario-archs-relative || bad scenario-archs-relative "$(cat "$t/err")"
[ -s "$t/sc/deep/er/rel.db" ] && ok sweep-db-mkdir-p || bad sweep-db-mkdir-p "no database"
# Singular and plural right in summaries: 1 point, 1 plot, 1 context.
printf 'name: one\narchs: [specs/llama-3-8b.yaml]\ncontexts: [1k]\nplots:\n  - {kind: kv_vs_context}\n' > "$t/sc/one.yaml"
"$K" sweep "$t/sc/one.yaml" --db "$t/sc/one.db" > "$t/out" 2>&1; has plural-one-point "one.yaml: 1 point, 1 computed" out
"$K" report "$t/sc/one.yaml" --db "$t/sc/one.db" --out "$t/sc/one-rep" > "$t/out" 2>&1; has plural-one-plot "(1 plot, " out
expect plural-validate 0 "$K" validate archs/tiny/gqa.yaml --ctx 5 --brief
has plural-one-context "1 context x 2 phases, [0-9]* checks, 0 mismatches: PASS" out
# Errors about a scenario's entries carry file:line:col and name what exists.
printf 'name: bad\narchs:\n  - %s/archs/gemma4-e2b.yaml\n  - nope.yaml\ncontexts: [1k]\n' "$R" > "$t/sc/missing.yaml"
expect scenario-missing-arch 2 "$K" sweep "$t/sc/missing.yaml" --db "$t/sc/x.db"
has scenario-missing-arch-pos "missing.yaml:4:5: arch 2" err
printf 'name: bad\narchs: [%s/archs/gemma4-e2b.yaml, %s/archs/gemma4-e4b.yaml]\ncontexts: [1k]\nsweep:\n  - {path: kv_sharing.fraction, values: [0, 0.5], archs: [gemma4-e2b, gemma4-e9b]}\n' "$R" "$R" > "$t/sc/filter.yaml"
expect scenario-axis-arch 2 "$K" sweep "$t/sc/filter.yaml" --db "$t/sc/x.db"
has scenario-axis-arch-msg "filter.yaml:5:71: sweep kv_sharing.fraction: no arch named 'gemma4-e9b' in this scenario (archs: gemma4-e2b, gemma4-e4b)" err
expect report-axis-arch 2 "$K" report "$t/sc/filter.yaml" --db "$t/sc/x.db" --out "$t/sc/rep"
has report-axis-arch-msg "no arch named 'gemma4-e9b' in this scenario" err
[ ! -e "$t/sc/x.db" ] && [ ! -e "$t/sc/rep" ] && ok scenario-bad-writes-nothing || bad scenario-bad-writes-nothing "$(ls "$t/sc")"
printf 'name: bad\narchs: [%s/archs/tiny/gqa.yaml]\ncontexts: [7]\nmeasured: {contexts: [7], profile: no-such-gpu}\n' "$R" > "$t/sc/prof.yaml"
expect scenario-measured-profile 2 "$K" sweep "$t/sc/prof.yaml" --db "$t/sc/x.db"
has scenario-measured-profile-msg "prof.yaml:4:36: measured profile: hardware profile 'no-such-gpu' not found" err
printf 'name: bad\narchs: [%s/archs/tiny/gqa.yaml]\ncontexts: [7]\nplots:\n  - {kind: types_at_ctx, ctx: 7, phase: prefill}\n' "$R" > "$t/sc/phase.yaml"
expect scenario-plot-phase 2 "$K" sweep "$t/sc/phase.yaml" --db "$t/sc/x.db"
has scenario-plot-phase-msg "phase.yaml:5:41: plot phase 'prefill' is not one of the scenario's" err

# A plot's context must be one the scenario sweeps (never the nearest in its place).
printf 'name: bad\narchs: [%s/archs/tiny/gqa.yaml]\ncontexts: [7, 9]\nplots:\n  - {kind: types_at_ctx, ctx: 8}\n' "$R" > "$t/sc/pctx.yaml"
expect scenario-plot-ctx 2 "$K" sweep "$t/sc/pctx.yaml" --db "$t/sc/x.db"
has scenario-plot-ctx-msg "pctx.yaml:5:31: plot 'types_at_ctx' at ctx 8: not one of the scenario's contexts (7, 9)" err
printf 'name: bad\narchs: [%s/archs/tiny/gqa.yaml]\ncontexts: [7, 9]\nplots:\n  - {kind: types_at_ctx}\n' "$R" > "$t/sc/pctx.yaml"
expect scenario-plot-ctx-default 2 "$K" sweep "$t/sc/pctx.yaml" --db "$t/sc/x.db"
has scenario-plot-ctx-default-msg "pctx.yaml:5:5: plot 'types_at_ctx' at ctx 1,048,576 (the default; give .ctx:.)" err

# A sweep axis that names nothing (a typo) or does not apply to an arch it
# is applied to is an error at the axis entry, naming what exists; nothing is
# written (issue 10.1).
printf 'name: bad\narchs: [%s/archs/gemma4-e2b.yaml]\ncontexts: [1k]\nsweep:\n  - {path: layers.csa.compres_ratio, values: [4, 8]}\n' "$R" > "$t/sc/typo.yaml"
expect scenario-axis-typo 2 "$K" sweep "$t/sc/typo.yaml" --db "$t/sc/x.db"
has scenario-axis-typo-msg "typo.yaml:5:5: sweep layers.csa.compres_ratio=4 on gemma4-e2b: --set layers.csa.compres_ratio: no layer kind 'csa' in gemma4-e2b (kinds: sliding, full)" err
printf 'name: bad\narchs: [%s/archs/deepseek-v4-flash.yaml, %s/archs/gemma4-e2b.yaml]\ncontexts: [1k]\nsweep:\n  - {path: layers.csa.compress_ratio, values: [4, 8]}\n' "$R" "$R" > "$t/sc/notapply.yaml"
expect scenario-axis-not-applicable 2 "$K" sweep "$t/sc/notapply.yaml" --db "$t/sc/x.db"
has scenario-axis-not-applicable-msg "notapply.yaml:5:5: sweep layers.csa.compress_ratio=4 on gemma4-e2b: --set layers.csa.compress_ratio: no layer kind 'csa' in gemma4-e2b" err
printf 'name: bad\narchs: [%s/archs/gemma4-e2b.yaml]\ncontexts: [1k]\nsweep:\n  - {path: layers.sliding.compress_ratio, values: [4]}\n' "$R" > "$t/sc/field.yaml"
expect scenario-axis-bad-field 2 "$K" sweep "$t/sc/field.yaml" --db "$t/sc/x.db"
has scenario-axis-bad-field-msg "field.yaml:5:5: sweep layers.sliding.compress_ratio=4 on gemma4-e2b: .*unknown key 'compress_ratio' in attention type 'gqa'" err
[ ! -e "$t/sc/x.db" ] && ok scenario-axis-writes-nothing || bad scenario-axis-writes-nothing "a database was written"

# make install PREFIX=...: binary, shipped data, man page, bash completion;
# the installed kvsim works from another directory.
if command -v make > /dev/null && [ -f Makefile ]; then
  O=$(dirname "$K")
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory install O="$O" PREFIX="$t/inst" > "$t/out" 2>&1 \
    && ok install || bad install "$(tail -5 "$t/out")"
  for f in bin/kvsim share/kvsim/archs/llama-3-8b.yaml share/kvsim/archs/tiny/gqa.yaml share/kvsim/scenarios/kv-sharing-sweep.yaml \
           share/kvsim/scenarios/hw/h100-sxm.yaml share/man/man1/kvsim.1 share/bash-completion/completions/kvsim; do
    [ -s "$t/inst/$f" ] || bad "install-$f" "missing"
  done
  (cd "$t/elsewhere" && "$t/inst/bin/kvsim" cost deepseek-v4-flash --ctx 1M --hw h100-sxm) > "$t/out" 2> "$t/err" \
    && grep -q "$t/inst/share/kvsim/archs/deepseek-v4-flash.yaml" "$t/out" && grep -q "roofline on h100-sxm" "$t/out" \
    && ok installed-cost || bad installed-cost "$(cat "$t/err")"
  (cd "$t/elsewhere" && "$t/inst/bin/kvsim" sweep "$t/inst/share/kvsim/scenarios/kv-sharing-sweep.yaml" --db "$t/inst.db" \
    && "$t/inst/bin/kvsim" report "$t/inst/share/kvsim/scenarios/kv-sharing-sweep.yaml" --db "$t/inst.db" --out "$t/inst-rep") > "$t/out" 2> "$t/err" \
    && [ -s "$t/inst-rep/index.md" ] && ok installed-sweep-report || bad installed-sweep-report "$(cat "$t/err")"
  # The completion offers the command table's options.
  bash -c '. "$1/share/bash-completion/completions/kvsim"; COMP_WORDS=("$1/bin/kvsim" validate --m); COMP_CWORD=2; _kvsim; echo "${COMPREPLY[*]}"' _ "$t/inst" > "$t/out" 2>&1
  [ "$(cat "$t/out")" = "--max-ctx --mla-form" ] && ok completion-options || bad completion-options "$(cat "$t/out")"
  # The man page names every command and every option of the command table.
  sed 's/\\-/-/g' doc/kvsim.1 > "$t/man"
  while read -r c; do
    grep -q "$c" "$t/man" || bad "man-$c" "command missing from doc/kvsim.1"
    for o in $("$K" "$c" --help | sed -n 's/^  \(-[-a-z]*\).*/\1/p'); do grep -q -- "$o" "$t/man" || bad "man-$c$o" "option missing from doc/kvsim.1"; done
  done < "$t/cmds"
  ok man-covers-table
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
