#!/bin/sh
# tests/deploy.sh - `kvsim capacity` and the deployment options of cost and
# compare: outputs, the JSON fields the README documents, exit codes.
# Usage: sh tests/deploy.sh ./kvsim
K=${1:-./kvsim}
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "PASS deploy/$1"; }
bad()  { fail=$((fail+1)); echo "FAIL deploy/$1: $2"; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
expect() { n=$1; s=$2; shift 2; "$@" >"$t/out" 2>"$t/err"; r=$?; [ "$r" = "$s" ] && ok "$n" || bad "$n" "exit $r, want $s: $(head -c 300 "$t/err")"; }
has()    { grep -q -- "$2" "$t/$3" && ok "$1" || bad "$1" "missing '$2' in $3: $(head -c 300 "$t/$3")"; }
PY=/usr/bin/python3

# The issue's command: a readable table, every arch with a node-level answer.
expect capacity-table 0 "$K" capacity archs/deepseek-v4-flash.yaml archs/deepseek-v3.2.yaml archs/gemma4-e4b.yaml \
  --hw h200 --gpus 8 --dp 8 --ep 8 --engine vllm --ctx 1M
has capacity-v4-row "deepseek-v4-flash" out
# V4-Flash per GPU: ceil(141e9 x 0.9) = 126,900,000,000 B requested, minus
# the weights 27,224,452,572 (the sharding rules test_deploy.c checks) and the
# activation estimate 2,173,698,048 (test_deploy.c flash-dp8-ep8-activation):
# 97,501,849,380 B // 1,002,240 = 97,283 blocks; 10,778 per request at 1M
# (test_deploy.c): 9.0261x, int(9.0261 x 1,048,576) = 9,464,522 tokens.
# (Weights were 27,296,542,508 before issue 12 item 5: DeepSeek-V4-Flash
# inference/model.py keeps the hash layers' gates, + 3 x 256 x 4096 bf16, and its
# gates and the indexer's weights_proj are bf16 parameters, priced fp32 / fp8 before.)
has capacity-vllm-log "GPU KV cache size: 9,464,522 tokens" out
has capacity-vllm-conc "Maximum concurrency for 1,048,576 tokens per request: 9.03x" out
has capacity-vllm-act "activations 2173698048 B" out
has capacity-reserve-says "the activation estimate" out
# --act-reserve: a given figure replaces the estimate; none drops it
expect act-given 0 "$K" capacity archs/deepseek-v4-flash.yaml --hw h200 --gpus 8 --dp 8 --ep 8 --engine vllm --ctx 1M --act-reserve 4GiB --format json
if $PY -c "
import json; d=json.load(open('$t/out'))
# 126,900,000,000 - 27,224,452,572 - 4 GiB (4,294,967,296) = 95,380,580,132
assert d['per_device']['kv_budget_bytes'] == 95380580132, d['per_device']
assert d['reserve']['activation_bytes'] == 4294967296 and d['reserve']['activation_in_budget']
" ; then ok act-given-budget; else bad act-given-budget "$(head -c 300 "$t/out")"; fi
expect act-none 0 "$K" capacity archs/deepseek-v4-flash.yaml --hw h200 --gpus 8 --dp 8 --ep 8 --engine vllm --ctx 1M --act-reserve none
has act-none-old-figure "GPU KV cache size: 9,675,540 tokens" out
expect act-bad 2 "$K" capacity archs/llama-3-8b.yaml --hw h200 --act-reserve lots
has act-bad-msg "expected auto, none or bytes" err
# --mtp on capacity = --spec-tokens (vLLM: the MTP layer joins; SGLang: rings)
expect capacity-mtp 0 "$K" capacity archs/deepseek-v4-flash.yaml --kv-budget 64GiB --engine sglang --ctx 1M --mtp 2 --max-running-requests 64
has capacity-mtp-tokens "max_total_num_tokens=7270400" out
expect capacity-mtp-writepad 2 "$K" capacity archs/deepseek-v4-flash.yaml --kv-budget 64GiB --engine sglang --ctx 1M --mtp 10
has capacity-mtp-writepad-msg "get_compress_state_write_pad" err
# SGLang's own mem_fraction_static on an H200 at DP 8 (test_deploy.c: 0.753)
expect sglang-memfrac 0 "$K" capacity archs/deepseek-v4-flash.yaml --hw h200 --gpus 8 --dp 8 --ep 8 --engine sglang --ctx 1M --format json
if $PY -c "
import json; d=json.load(open('$t/out'))
assert d['deploy']['mem_util'] == 0.753 and d['reserve']['mem_util'] == 0.753
assert not d['reserve']['activation_in_budget'] and d['reserve']['activation_bytes'] == 12288 * 2**20
" ; then ok sglang-memfrac-json; else bad sglang-memfrac-json "$(head -c 300 "$t/out")"; fi

# --kv-budget reproduces the engine log lines from the "Available KV cache
# memory" figure (64 GiB: 68,565 blocks of 1,002,240 B; see test_deploy.c).
expect capacity-budget 0 "$K" capacity archs/deepseek-v4-flash.yaml --kv-budget 64GiB --engine vllm --ctx 1M
has capacity-budget-tokens "GPU KV cache size: 6,670,589 tokens" out
has capacity-budget-conc "Maximum concurrency for 1,048,576 tokens per request: 6.36x" out

# vLLM's default max_num_batched_tokens is 2048 on a GPU under 70 GiB: Gemma 4
# E2B's sliding groups (block 32) hold cdiv(min(511 + 2 x 2048, 32768), 32) + 1
# = 145 blocks per request at 32K (8192 on an H200: cdiv(16,895, 32) + 1 = 529).
expect mnbt-small-gpu 0 "$K" capacity archs/gemma4-e2b.yaml --hw rtx-4090 --engine vllm --ctx 32k
has mnbt-small-gpu-145 "145 blocks per sequence" out
expect mnbt-h200 0 "$K" capacity archs/gemma4-e2b.yaml --hw h200 --engine vllm --ctx 32k
has mnbt-h200-529 "529 blocks per sequence" out

# JSON: every documented field, exact integers.
expect capacity-json 0 "$K" capacity archs/llama-3-70b.yaml --hw 8xh200 --tp 8 --engine vllm --kv-budget 10GiB --ctx 128k --format json
if $PY - "$t/out" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["arch"] == "llama-3-70b" and d["ctx"] == 131072
assert d["deploy"] == {"gpus": 8, "tp": 8, "pp": 1, "dp": 1, "ep": 1, "dcp": 1, "mem_util": 0.9, "kv_budget_given": True,
                       "spec_tokens": 0}
assert d["reserve"]["what"] == "memory - weights - the given KV budget" and not d["reserve"]["activation_in_budget"]
assert d["per_device"]["reserve_bytes"] == 141000000000 - 17640734720 - 10737418240
e = d["engine"]
assert e["name"] == "vllm" and e["block_size"] == 16 and e["groups"][0]["page_bytes"] == 8192
pd = d["per_device"]
assert pd["weights_bytes"] == 17640734720 and pd["kv_budget_bytes"] == 10737418240
assert pd["blocks"] == 16384 and pd["tokens"] == 262144 and d["max_seqs"] == 2
assert d["node"]["gpus"] == 8 and d["node"]["max_seqs"] == 2 and d["node"]["decode_tokens_per_s"] > 0
assert d["step"]["allreduce_bytes"] == 80 * 2 * 2 * 8192 * 2
PYEOF
then ok capacity-json-fields; else bad capacity-json-fields "$(head -c 400 "$t/out")"; fi

# cost / compare with deployment options: the capacity table after the cost
# table, and a "capacity" member per arch in JSON.
expect compare-deploy 0 "$K" compare archs/deepseek-v3.yaml archs/deepseek-v3.2.yaml --hw h200 --tp 8 --engine sglang --ctx 128k
has compare-deploy-table "seqs/node" out
expect cost-deploy-json 0 "$K" cost archs/llama-3-70b.yaml --kv-budget 10GiB --tp 8 --engine vllm --format json
if $PY -c "import json,sys; d=json.load(open('$t/out')); assert d['capacity']['per_device']['tokens'] == 262144" ; then
  ok cost-deploy-json-capacity; else bad cost-deploy-json-capacity "$(head -c 300 "$t/out")"; fi
expect compare-deploy-json 0 "$K" compare archs/llama-3-8b.yaml archs/llama-3-70b.yaml --hw 8xh100-sxm --tp 8 --format json
if $PY -c "import json,sys; d=json.load(open('$t/out')); assert all('capacity' in a for a in d['archs'])" ; then
  ok compare-deploy-json-each; else bad compare-deploy-json-each "$(head -c 300 "$t/out")"; fi

# Bad input: exit 2 with the reason.
expect bad-tp 2 "$K" capacity archs/llama-3-70b.yaml --hw h200 --tp 3
has bad-tp-msg "does not divide the 64 query heads" err
expect bad-gpus 2 "$K" capacity archs/llama-3-70b.yaml --hw h200 --gpus 8 --tp 2 --dp 2
has bad-gpus-msg "gpus = 8 but tp x pp x dp" err
expect bad-ep 2 "$K" capacity archs/deepseek-v3.yaml --hw h200 --dp 8 --ep 512
has bad-ep-msg "exceeds the 256 experts" err
expect bad-node-size 2 "$K" capacity archs/llama-3-70b.yaml --hw 8xh200 --tp 8 --dp 2
has bad-node-size-msg "exceeds the 8 GPUs of the node profile 8xh200" err
expect bad-engine 2 "$K" capacity archs/llama-3-8b.yaml --hw h200 --engine trt
expect bad-budget 2 "$K" capacity archs/llama-3-8b.yaml --kv-budget 12XB
expect bad-mem-util 2 "$K" capacity archs/llama-3-8b.yaml --hw h200 --mem-util 0
expect no-hw 2 "$K" capacity archs/llama-3-8b.yaml
has no-hw-msg "needs --hw" err
expect no-spec 2 "$K" capacity --hw h200
expect missing-spec 2 "$K" capacity archs/nope.yaml --hw h200
expect cost-deploy-no-hw 2 "$K" cost archs/llama-3-8b.yaml --tp 2
# Scenarios: a `deploy:` block, a deployment sweep path, the two plot kinds.
cat > "$t/dep.yaml" <<YEOF
name: dep
archs: [$PWD/archs/llama-3-70b.yaml, $PWD/archs/deepseek-v3.yaml]
contexts: [4k, 128k]
sweep:
  - {path: deploy.tp, values: [4, 8]}
deploy:
  - {name: node, hw: 8xh200, tp: 8, engine: vllm}
  - {name: budget, kv_budget_gib: 10, tp: 8, engine: sglang}
plots:
  - {kind: capacity, ctx: 128k}
  - {kind: capacity, deploy: node, axis: deploy.tp}
  - {kind: per_device_memory, ctx: 4k}
YEOF
expect scenario-deploy-sweep 0 "$K" sweep "$t/dep.yaml" --db "$t/dep.db"
has scenario-deploy-axis-no-spec-points "sweep .*: 4 points" out
expect scenario-deploy-report 0 "$K" report "$t/dep.yaml" --db "$t/dep.db" --out "$t/rep"
for f in 01-capacity.csv 01-capacity.gp 02-capacity.csv 03-per-device-memory.csv 03-per-device-memory.gp; do
  [ -s "$t/rep/$f" ] && ok "scenario-file-$f" || bad "scenario-file-$f" "missing"
done
# llama-3-70b, TP 8, SGLang, 10 GiB per GPU: 262,144 tokens (test_deploy.c), 2 sequences of 128K
# per replica; one replica of 8 GPUs -> 2 per node.
if $PY - "$t/rep/01-capacity.csv" <<'PYEOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
h = rows[0]; r128 = [r for r in rows[1:] if r[0] == "131072"][0]
assert r128[h.index("llama-3-70b_@_budget")] == "2", r128
assert len(h) == 5
PYEOF
then ok scenario-capacity-value; else bad scenario-capacity-value "$(head -c 300 "$t/rep/01-capacity.csv")"; fi
# the axis plot: one series per (arch, tp value)
if head -1 "$t/rep/02-capacity.csv" | grep -q "deploy.tp=4" ; then ok scenario-axis-series; else bad scenario-axis-series "$(head -1 "$t/rep/02-capacity.csv")"; fi
has scenario-md-capacity "Concurrent sequences per node" rep/index.md

# Bad scenario deployments: exit 2 with file:line:col and the reason.
printf "name: b\narchs: [$PWD/archs/llama-3-8b.yaml]\ncontexts: [4k]\ndeploy:\n  - {hw: 8xh200, tp: 3x}\n" > "$t/b1.yaml"
expect scenario-bad-tp 2 "$K" sweep "$t/b1.yaml" --db "$t/b.db"
has scenario-bad-tp-pos "b1.yaml:5:.*tp = '3x'" err
printf "name: b\narchs: [$PWD/archs/llama-3-8b.yaml]\ncontexts: [4k]\ndeploy:\n  - {hw: 8xh200, colour: red}\n" > "$t/b2.yaml"
expect scenario-bad-field 2 "$K" sweep "$t/b2.yaml" --db "$t/b.db"
has scenario-bad-field-msg "unknown deployment field 'colour'" err
printf "name: b\narchs: [$PWD/archs/llama-3-8b.yaml]\ncontexts: [4k]\nplots:\n  - {kind: capacity}\n" > "$t/b3.yaml"
expect scenario-capacity-needs-deploy 2 "$K" sweep "$t/b3.yaml" --db "$t/b.db"
has scenario-capacity-needs-deploy-msg "needs a .deploy:. block" err
printf "name: b\narchs: [$PWD/archs/llama-3-8b.yaml]\ncontexts: [4k]\nsweep:\n  - {path: engine.block, values: [16, 0]}\n" > "$t/b4.yaml"
expect scenario-bad-axis-value 2 "$K" sweep "$t/b4.yaml" --db "$t/b.db"
has scenario-bad-axis-value-pos "b4.yaml:5:" err
printf "name: b\narchs: [$PWD/archs/llama-3-8b.yaml]\ncontexts: [4k]\ndeploy:\n  - {tp: 2}\n" > "$t/b5.yaml"
expect scenario-deploy-needs-hw 2 "$K" sweep "$t/b5.yaml" --db "$t/b.db"
has scenario-deploy-needs-hw-msg "needs .hw:." err
# The reserve and speculative fields in a deployment entry
printf "name: b\narchs: [$PWD/archs/llama-3-8b.yaml]\ncontexts: [4k]\ndeploy:\n  - {hw: 8xh200, tp: 8, engine: vllm, act_reserve_gib: 2, mtp: 1, max_num_seqs: 256}\n" > "$t/b6.yaml"
expect scenario-reserve-fields 0 "$K" sweep "$t/b6.yaml" --db "$t/b6.db"
printf "name: b\narchs: [$PWD/archs/llama-3-8b.yaml]\ncontexts: [4k]\ndeploy:\n  - {hw: 8xh200, act_reserve_gib: -1}\n" > "$t/b7.yaml"
expect scenario-bad-reserve 2 "$K" sweep "$t/b7.yaml" --db "$t/b7.db"
has scenario-bad-reserve-msg "b7.yaml:5:.*act_reserve_gib = '-1'" err
echo "deploy.sh: $pass passed, $fail failed"
[ "$fail" = 0 ]
