#!/bin/sh
# tests/bench_json.sh - the structure of reports/bench.json (issue 14 item 10)
# from a quick run of the bench programs (KVSIM_BENCH_QUICK=1: T = 256 and
# 512, into a temporary file, never reports/bench.json): every key the issue
# lists exists with a value of the right kind. Never a time or a goal: on a
# shared machine the figures are noise; make bench measures them.
# Usage: sh tests/bench_json.sh BUILD/kvsim (the bench programs are in BUILD/bench/).
K=${1:-build/kvsim}
B=$(dirname "$K")/bench
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "PASS bench-json/$1"; }
bad() { fail=$((fail+1)); echo "FAIL bench-json/$1: $2"; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
for p in cost sweep; do
  BENCH_OUT=$t "$B/$p" > "$t/$p.txt" 2>&1 && ok "$p-runs" || bad "$p-runs" "$(tail -3 "$t/$p.txt")"
done
BENCH_OUT=$t KVSIM_BENCH_QUICK=1 KVSIM_BENCH_JSON=$t/bench.json "$B/kern" > "$t/kern.txt" 2>&1 && ok kern-quick-runs \
  || bad kern-quick-runs "$(tail -3 "$t/kern.txt")"
grep -q "load average" "$t/kern.txt" && ok kern-prints-load || bad kern-prints-load "no load average in the output"
grep -q "goal" "$t/kern.txt" && ok kern-prints-goals || bad kern-prints-goals "no goal in the output"
python3 - "$t/bench.json" <<'PY' && ok structure || bad structure "see above"
import json, sys
d = json.load(open(sys.argv[1]))
num = (int, float)
def has(obj, path, kind=num):
    for k in path.split("."):
        assert isinstance(obj, dict) and k in obj, "missing " + path
        obj = obj[k]
    assert isinstance(obj, kind), (path, obj)
    return obj
for k in ("cost_eval_us.decode", "cost_eval_us.prefill", "sweep.points_per_s", "sweep.raw_ratio", "sweep.bytes_per_point",
          "probe.sgemm_all_flops", "probe.bandwidth_all_bs", "probe.curves.elementwise_flops", "probe.curves.exp_per_s",
          "probe.curves.gather_s_per_row", "probe.curves.parallel_fixed_s", "probe.curves.attn_prefill_flops.causal",
          "probe.curves.attn_prefill_flops.window", "probe.curves.attn_prefill_flops.gather"):
    has(d, k)
has(d, "probe.curves.bandwidth_by_working_set", list)
for dt in ("fp32", "bf16", "fp8_e4m3", "fp4_e2m1"):   # the gemm table of each stored format the probe times: 9 M x 4 short sides (64, 128, 256, 1024)
    assert len(has(d, "probe.curves.gemm_table." + dt + ".points", list)) == 36, dt
for k in ("parallel_region_s", "scratch_alloc_s", "row_decode_v4_584B_s", "row_decode_bf16x512_s", "row_decode_v32_656B_s"):
    assert has(d, "decode_fixed_costs." + k) > 0, k
assert len(d["loadavg_start"]) == 3 and len(d["loadavg_end"]) == 3, "load before and after"
types = has(d, "types", list)
assert sorted(t["type"] for t in types) == sorted(["gqa", "mla", "dsa", "swa4", "csa", "hca", "cca"]), [t["type"] for t in types]
for t in types:
    for k in ("prefill_attn_fraction_of_sgemm", "decode_fraction_of_bandwidth", "decode_working_set_bytes", "loadavg_after"):
        has(t, k)
    # item 2: the decode step at the large working set (8 MiB when quick) and its configuration
    assert has(t, "decode_working_set_bytes") >= 8 << 20, (t["type"], t["decode_working_set_bytes"])
    for k in ("scale", "layers", "T", "step_s", "weights_held_bytes"):
        assert has(t, "decode_large." + k) > 0, (t["type"], k)
    pts = has(t, "points", list)
    assert [p["T"] for p in pts] == [256, 512], pts
    for p in pts:
        for k in ("prefill_predicted_s", "prefill_measured_s", "decode_predicted_s", "decode_measured_s",
                  "prefill_roofline_s", "decode_roofline_s"):
            assert has(p, k) > 0, (t["type"], k, p[k])
steps = has(d, "model_steps", list)
assert len(steps) >= 2, steps
for s in steps:
    for k in ("prefill_measured_s", "prefill_predicted_s", "decode_measured_s", "decode_predicted_s"):
        assert has(s, k) > 0, (s["spec"], k)
    has(s, "spec", str)
PY
echo "bench-json: $pass passed, $fail failed"
[ $fail = 0 ]
