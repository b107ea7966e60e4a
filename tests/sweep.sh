#!/bin/sh
# tests/sweep.sh - sweeps, the store and reports: shards merged equal one run
# row for row, SIGKILL at random moments then resume, concurrent writers,
# hostile names never reach a shell, every plot file is written, a missing
# gnuplot still yields the text files, bad databases give clear errors.
# Usage: sh tests/sweep.sh ./kvsim   (run from the repository root)
K=${1:-./kvsim}
case "$K" in /*) ;; *) K="$(pwd)/$K" ;; esac
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "PASS sweep/$1"; }
bad() { fail=$((fail+1)); echo "FAIL sweep/$1: $2"; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
BIG=tests/scenarios/many-points.yaml
SMALL=tests/scenarios/small.yaml

# Every row of a database, without run ids: what "the same rows" means.
dump() {
  sqlite3 "$1" "SELECT key, spec_hash, arch, params, ctx, phase, batch, kv_bytes, flops, flops_fp8_equiv_x2, bytes_moved,
                 weight_read_bytes, kv_read_bytes, kv_written_bytes, act_bytes, weight_bytes, params_total, params_active,
                 params_effective, flops_proj, flops_attn, flops_indexer, flops_compress, flops_ffn, flops_mhc, flops_other
                FROM points ORDER BY key;
                SELECT * FROM point_types ORDER BY point_key, type;
                SELECT hash, name, yaml FROM specs ORDER BY hash;"
}

# 1. One unsharded run is the reference.
"$K" sweep "$BIG" --db "$t/ref.db" > "$t/out" 2>&1 && ok ref-run || bad ref-run "$(cat "$t/out")"
dump "$t/ref.db" > "$t/ref.txt"
n=$(sqlite3 "$t/ref.db" "SELECT COUNT(*) FROM points")
# 10 archs x 3 variants (as written, bf16, fp8) x 49 contexts x 2 phases x 2 batches = 5,880
[ "$n" = 5880 ] && ok ref-count || bad ref-count "$n points, want 5880"
# Re-running reuses every point.
"$K" sweep "$BIG" --db "$t/ref.db" > "$t/out" 2>&1
grep -q ": 5880 points, 0 computed, 5880 reused, 0 failed," "$t/out" && ok rerun-reuses || bad rerun-reuses "$(cat "$t/out")"
dump "$t/ref.db" | cmp -s - "$t/ref.txt" && ok rerun-same-rows || bad rerun-same-rows "rows changed"
# Each run records what it computed and reused: the first all new, the rerun all reused.
r=$(sqlite3 "$t/ref.db" "SELECT points_new || '/' || points_reused FROM runs ORDER BY id" | tr '\n' ' ')
[ "$r" = "5880/0 0/5880 " ] && ok runs-record-counts || bad runs-record-counts "runs: $r"

# 2. Three shards merged equal the unsharded run, row for row.
for i in 1 2 3; do "$K" sweep "$BIG" --db "$t/s$i.db" --shard $i/3 > /dev/null 2>&1 || bad shard-$i "failed"; done
"$K" merge "$t/s1.db" "$t/s2.db" "$t/s3.db" -o "$t/merged.db" > /dev/null 2>&1 && ok merge-runs || bad merge-runs "failed"
dump "$t/merged.db" | cmp -s - "$t/ref.txt" && ok merge-equals-unsharded || bad merge-equals-unsharded "rows differ"
[ "$(sqlite3 "$t/s1.db" 'SELECT COUNT(*) FROM points')" = 1960 ] && ok shard-size || bad shard-size "shard 1/3 is not a third"

# 3. SIGKILL at 20 random moments, integrity after each, then resume.
i=0
while [ $i -lt 20 ]; do
  "$K" sweep "$BIG" --db "$t/kill.db" > /dev/null 2>&1 &
  pid=$!
  sleep "0.$(awk -v s=$i 'BEGIN { srand(s * 7919 + 17); printf "%02d", 2 + int(rand() * 60) }')"
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  r=$(sqlite3 "$t/kill.db" "PRAGMA integrity_check" 2>&1)
  [ "$r" = ok ] || { bad kill-integrity-$i "$r"; break; }
  i=$((i+1))
done
[ $i = 20 ] && ok kill-20-integrity
"$K" sweep "$BIG" --db "$t/kill.db" > "$t/out" 2>&1 && ok kill-resume || bad kill-resume "$(cat "$t/out")"
dump "$t/kill.db" | cmp -s - "$t/ref.txt" && ok kill-resume-equals-uninterrupted || bad kill-resume-equals-uninterrupted "rows differ"

# 4. Two and four concurrent sweeps into one database.
for w in 2 4; do
  rm -f "$t/c.db"*; pids=""
  j=0; while [ $j -lt $w ]; do "$K" sweep "$BIG" --db "$t/c.db" > "$t/c$j.out" 2>&1 & pids="$pids $!"; j=$((j+1)); done
  allok=1; for p in $pids; do wait $p || allok=0; done
  [ $allok = 1 ] && ok concurrent-$w-finish || bad concurrent-$w-finish "$(cat "$t"/c*.out)"
  dump "$t/c.db" | cmp -s - "$t/ref.txt" && ok concurrent-$w-rows || bad concurrent-$w-rows "rows differ"
done

# 5. Reports: every plot file written and non-empty.
"$K" sweep "$SMALL" --db "$t/small.db" > /dev/null 2>&1
"$K" report "$SMALL" --db "$t/small.db" --out "$t/rep" > "$t/out" 2>&1 && ok report-runs || bad report-runs "$(cat "$t/out")"
for f in 01-kv-vs-context 02-compression-kv 02-compression-flops; do
  for x in csv gp png svg; do [ -s "$t/rep/$f.$x" ] || bad report-file "$f.$x missing or empty"; done
done
[ -s "$t/rep/index.md" ] && grep -q "## Published claims" "$t/rep/index.md" && ok report-files || bad report-index "no claims table"
# Only the claims about the scenario's archs: V4-Flash vs V3.2 at 1M, 7 published, 7.34 kvsim (+0.34 pp, +4.9%);
# none about V4-Pro or Gemma (not in tests/scenarios/small.yaml).
grep -q "^| V4-Flash KV cache at 1M, % of V3.2 | V4 paper, section 1 (7%, 13.7x) | 7 | 7.34159 | +0.3416 | +4.88 |" "$t/rep/index.md" \
  && grep -q "^| claim | source | published (%) | kvsim (%) | difference (pp) | relative (%) | note |$" "$t/rep/index.md" \
  && ! grep -q "^| V4-Pro\|^| Gemma" "$t/rep/index.md" && ok report-claim-row || bad report-claim-row "$(grep "V4-\|Gemma" "$t/rep/index.md" | head -3)"
# The plotted columns: x = context (column 1 of the CSV), y = each arch's KV GB,
# in the scenario's arch order; a swapped x/y fails here.
[ "$(head -1 "$t/rep/01-kv-vs-context.csv")" = "ctx_tokens,llama-3-8b_GB,deepseek-v4-flash_GB,deepseek-v3_GB" ] \
  && [ "$(grep -o "using [0-9]*:[0-9]*" "$t/rep/01-kv-vs-context.gp" | tr '\n' ' ')" = "using 1:2 using 1:3 using 1:4 " ] \
  && grep -q "^set xlabel 'context (tokens)'" "$t/rep/01-kv-vs-context.gp" && grep -q "^set ylabel 'KV cache (GB" "$t/rep/01-kv-vs-context.gp" \
  && ok report-kv-columns || bad report-kv-columns "$(head -1 "$t/rep/01-kv-vs-context.csv"); $(grep using "$t/rep/01-kv-vs-context.gp")"
# Its rows: contexts in order, values = KV bytes / 1e9; llama-3-8b at 1M:
# 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B x 2^20 = 137438953472 B.
[ "$(cut -d, -f1 "$t/rep/01-kv-vs-context.csv" | tr '\n' ' ')" = "ctx_tokens 1024 4096 131072 1048576 " ] \
  && [ "$(tail -1 "$t/rep/01-kv-vs-context.csv" | cut -d, -f2)" = "137.438953" ] && ok report-kv-rows || bad report-kv-rows "$(cat "$t/rep/01-kv-vs-context.csv")"
# The compression CSVs: x = the axis value, y = the arch's KV GB / decode GFLOP, in value order;
# V4-Flash at 128K with csa=8 holds 253430784 B (kvsim cost --set layers.csa.compress_ratio=8).
[ "$(tr '\n' ' ' < "$t/rep/02-compression-kv.csv")" = "value,deepseek-v4-flash 4,0.476040192 8,0.253430784 " ] \
  && [ "$(head -1 "$t/rep/02-compression-flops.csv")" = "value,deepseek-v4-flash" ] \
  && [ "$(grep -o "using [0-9]*:[0-9]*" "$t/rep/02-compression-kv.gp")" = "using 1:2" ] \
  && grep -q "^set xlabel 'layers.csa.compress_ratio'" "$t/rep/02-compression-kv.gp" && ok report-compression-columns \
  || bad report-compression-columns "$(cat "$t/rep/02-compression-kv.csv")"
# The y axis of a log plot has labelled ticks over the data (1-2-5, not only decades): V4-Flash at 1K is 0.019 GB.
grep -q "^set ytics ('0.02' 0.02, '0.05' 0.05, '0.1' 0.1, '0.2' 0.2, '0.5' 0.5, '1' 1, '2' 2, '5' 5" "$t/rep/01-kv-vs-context.gp" && ok report-log-ticks || bad report-log-ticks "$(grep ytics "$t/rep/01-kv-vs-context.gp")"
# The table's context columns are named 1K/4K/128K/1M with one unit per column.
grep -q "^| arch | 1K (MB) | 4K (MB) | 128K (GB) | 1M (GB) |$" "$t/rep/index.md" && grep -q "^| llama-3-8b | 134.2 | 536.9 | 17.18 | 137.4 |$" "$t/rep/index.md" \
  && ok report-kv-table || bad report-kv-table "$(grep -A4 '^| arch | 1K' "$t/rep/index.md")"
# Findings open the report, computed from the data: V4-Flash 3.7 GB at 1M is 2.69% of Llama-3-8B's 137 GB.
sed -n '5,12p' "$t/rep/index.md" | grep -q "^- deepseek-v4-flash holds the smallest KV cache, 3.7 GB per sequence, 2.69% of llama-3-8b (the largest, 137 GB).$" \
  && ok report-findings || bad report-findings "$(sed -n '1,14p' "$t/rep/index.md")"
# Parameters in M/B/T, weights in GB, numbers right-aligned.
# 683 B: 671.0 B + the 11.6 B MTP module; 684.8 GB of weights: 673.4 + its 11.6 GB - 0.2 GB of
# gates now bf16 (issue 12).
grep -q "^| deepseek-v3 | archs/deepseek-v3.yaml | 61 | 683 B | 36.6 B | 684.8 |$" "$t/rep/index.md" && ok report-arch-table || bad report-arch-table "$(grep '^| deepseek-v3 |' "$t/rep/index.md")"
# Every CSV of every report is a real CSV: one header line, then rows with as many fields.
for f in "$t"/rep/*.csv "$t"/mrep/*.csv; do
  [ -e "$f" ] || continue
  awk -F, 'NR == 1 { n = NF; if ($1 ~ /^#/ || $1 ~ /^[0-9]/) exit 1; next } NF != n || /^$/ { exit 1 }' "$f" || bad report-csv "$f"
done
ok report-csv-shape
# Values above 2^63-1 compare as numbers and keep their digits: V3's 1M
# prefill in FP8-equivalent x2 (about 1.1e19) is a REAL with the exact value in `exact`.
want=$("$K" cost archs/deepseek-v3.yaml --ctx 1M --phase prefill --format json | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["total"]["flops_fp8_equiv"] * 2))')
got=$(sqlite3 "$t/small.db" "SELECT typeof(flops_fp8_equiv_x2) || ' ' || exact FROM points WHERE arch = 'deepseek-v3' AND ctx = 1048576 AND phase = 'prefill' AND params = ''")
[ "$got" = "real flops_fp8_equiv_x2=$want" ] && ok big-values-exact || bad big-values-exact "got '$got', want 'real flops_fp8_equiv_x2=$want'"
# A numeric filter sees every row: none is above 2^64 and exactly the rows whose exact digits name it are above 2^63-1.
all=$(sqlite3 "$t/small.db" "SELECT COUNT(*) FROM points")
lt=$(sqlite3 "$t/small.db" "SELECT COUNT(*) FROM points WHERE flops_fp8_equiv_x2 < 1.8446744073709552e19")
gt=$(sqlite3 "$t/small.db" "SELECT COUNT(*) FROM points WHERE flops_fp8_equiv_x2 > 9.2e18")
nx=$(sqlite3 "$t/small.db" "SELECT COUNT(*) FROM points WHERE exact LIKE '%flops_fp8_equiv_x2=%'")
[ "$lt" = "$all" ] && [ "$gt" = "$nx" ] && [ "$nx" -gt 0 ] && ok big-values-filter || bad big-values-filter "$lt of $all below 2^64, $gt above 9.2e18, $nx with digits"
# Every point records its settings and the kvsim version that computed it.
ver=$("$K" --version | cut -d' ' -f2)
got=$(sqlite3 "$t/small.db" "SELECT DISTINCT page || ' ' || causal || ' ' || coalesce(hw, 'none') || ' ' || kvsim_version FROM points")
[ "$got" = "0 1 none $ver" ] && ok point-settings || bad point-settings "got '$got', want '0 1 none $ver'"
# What the store holds is what kvsim cost computes, read back from SQLite:
# every metric of every point and per-type row of the small sweep (the digits
# in `exact` where a value is a REAL), against `kvsim cost --format json`.
python3 - "$K" "$t/small.db" > "$t/out" 2>&1 <<'EOPY' && ok store-equals-cost || bad store-equals-cost "$(tail -5 "$t/out")"
import json, sqlite3, subprocess, sys
from decimal import Decimal
K, path = sys.argv[1], sys.argv[2]
db = sqlite3.connect(path)
cols = ["kv_bytes", "flops", "flops_fp8_equiv_x2", "bytes_moved", "weight_read_bytes", "kv_read_bytes", "kv_written_bytes",
        "act_bytes", "weight_bytes", "params_total", "params_active", "params_effective", "flops_proj", "flops_attn",
        "flops_indexer", "flops_compress", "flops_ffn", "flops_mhc", "flops_other"]
def value(row, names, i, exact):
    v = row[i]
    if isinstance(v, float):
        digits = dict(x.split("=") for x in exact.split(";"))
        return int(digits[names[i]])
    return v
def want_of(t, eff=None):
    c = t["flops_by_category"]
    w = [t["kv_bytes"], t["flops"], t["flops_fp8_equiv"] * 2, t["bytes_moved"], t["weight_read_bytes"], t["kv_read_bytes"],
         t["kv_written_bytes"], t["act_bytes"], t["weight_bytes"], t["params"], t["params_active"], eff,
         c["proj"], c["attn"], c["indexer"], c["compress"], c["ffn"], c["mhc"], c["other"]]
    return [int(x) if x is not None else None for x in w]
bad = checked = 0
for row in db.execute("SELECT p.arch, s.path, p.params, p.ctx, p.phase, p.batch, p.exact, p.key, " + ", ".join("p." + c for c in cols) +
                      " FROM points p JOIN specs s ON s.hash = p.spec_hash ORDER BY p.key"):
    arch, spec, params, ctx, ph, batch, exact, key = row[:8]
    args = [K, "cost", spec, "--ctx", str(ctx), "--phase", ph, "--batch", str(batch), "--format", "json"]
    for kv in filter(None, params.split(";")): args += ["--set", kv]
    j = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout, parse_float=Decimal)
    got = [value(row[8:], cols, i, exact) for i in range(len(cols))]
    want = want_of(j["total"], j["params"]["effective"])
    if got != want: bad += 1; print("point", key, [(c, g, w) for c, g, w in zip(cols, got, want) if g != w])
    tcols = ["kv_bytes", "flops", "flops_fp8_equiv_x2", "bytes_moved", "params"]
    trows = list(db.execute("SELECT type, layers, exact, " + ", ".join(tcols) + " FROM point_types WHERE point_key = ? ORDER BY rowid", (key,)))
    wt = [(t["type"], t["layers"], [int(x) for x in (t["kv_bytes"], t["flops"], t["flops_fp8_equiv"] * 2, t["bytes_moved"], t["params"])]) for t in j["by_type"]]
    gt = [(r[0], r[1], [value(r[3:], tcols, i, r[2]) for i in range(len(tcols))]) for r in trows]
    if gt != wt: bad += 1; print("types", key, gt, wt)
    checked += 1
print(checked, "points checked,", bad, "differ")
sys.exit(1 if bad or checked < 40 else 0)
EOPY
# A product sweep's plot states its slice and takes it at the spec's own
# values: V4-Pro decode at 1M with csa=4 (its own ratio) is the spec as
# written (kvsim cost: 317.823 GFLOP FP8-equivalent), not hca=16/topk=256.
cat > "$t/prod.yaml" <<EOS
name: product
archs: [$PWD/archs/deepseek-v4-pro.yaml]
contexts: [128k, 1M]
product: true
sweep:
  - {path: layers.csa.compress_ratio, values: [2, 4, 8]}
  - {path: layers.hca.compress_ratio, values: [16, 128]}
  - {path: layers.csa.index_topk, values: [256, 1024]}
plots:
  - {kind: compression, axis: layers.csa.compress_ratio, ctx: 1M}
  - {kind: compression, axis: layers.hca.compress_ratio, ctx: 1M, title: "HCA ratio"}
  - {kind: types_at_ctx, ctx: 1M}
EOS
"$K" sweep "$t/prod.yaml" --db "$t/prod.db" > /dev/null 2>&1
"$K" report "$t/prod.yaml" --db "$t/prod.db" --out "$t/prod" > "$t/out" 2>&1 || bad product-report "$(cat "$t/out")"
want=$("$K" cost archs/deepseek-v4-pro.yaml --ctx 1M --format json | python3 -c 'import json,sys; print("%.9g" % (json.load(sys.stdin)["total"]["flops_fp8_equiv"] / 1e9))')
got=$(grep "^4," "$t/prod/01-compression-flops.csv" | cut -d, -f2)
[ "$got" = "$want" ] && ok product-slice-as-written || bad product-slice-as-written "csa=4: $got, spec as written $want"
grep -q "^set title 'Decode FLOPs (FP8-equivalent) vs layers.csa.compress_ratio at 1M tokens (other axes as written)'" "$t/prod/01-compression-flops.gp" \
  && grep -q "^- deepseek-v4-pro: layers.hca.compress_ratio=128 (as written), layers.csa.index_topk=1024 (as written)$" "$t/prod/index.md" \
  && ok product-slice-stated || bad product-slice-stated "$(grep title "$t/prod/01-compression-flops.gp")"
# One axis at a time (product: false) in a multi-axis sweep: the plot says the other axes are as written.
sed 's/^product: true/product: false/; s/^name: product/name: lone/' "$t/prod.yaml" > "$t/lone.yaml"
"$K" sweep "$t/lone.yaml" --db "$t/prod.db" > /dev/null 2>&1
"$K" report "$t/lone.yaml" --db "$t/prod.db" --out "$t/lone" > "$t/out" 2>&1 || bad lone-report "$(cat "$t/out")"
# (headed by the scenario's title for the plot)
grep -q "^set title 'HCA ratio: KV cache (other axes as written)'" "$t/lone/02-compression-kv.gp" \
  && grep -q "^### HCA ratio: decode FLOPs (FP8-equivalent) (other axes as written)$" "$t/lone/index.md" \
  && grep -q "^- deepseek-v4-pro: layers.csa.compress_ratio as written, layers.csa.index_topk as written$" "$t/lone/index.md" \
  && [ "$(grep "^4," "$t/lone/01-compression-flops.csv" | cut -d, -f2)" = "$want" ] && ok lone-slice-stated || bad lone-slice-stated "$(grep title "$t/lone/02-compression-kv.gp")"
# One colour per layer type in every plot of a report: csa and hca the same in the KV and FLOPs plots.
for ty in csa hca; do
  a=$(grep -o "lc rgb '#[0-9a-f]*' title '$ty'" "$t/prod/03-types-at-ctx-kv.gp"); b=$(grep -o "lc rgb '#[0-9a-f]*' title '$ty'" "$t/prod/03-types-at-ctx-flops.gp")
  [ -n "$a" ] && [ "$a" = "$b" ] && ok type-colour-$ty || bad type-colour-$ty "'$a' vs '$b'"
done
# The types CSVs: one row per arch, one column per layer type (KV: only types that hold a cache), in GB / GFLOP
# (V4-Pro has an mtp row since issue 12: its MTP block, 0 FLOPs without --mtp).
[ "$(head -1 "$t/prod/03-types-at-ctx-kv.csv")" = "arch,hca,csa" ] && [ "$(head -1 "$t/prod/03-types-at-ctx-flops.csv")" = "arch,hca,csa,embed,head,mtp" ] \
  && [ "$(grep -c . "$t/prod/03-types-at-ctx-kv.csv")" = 2 ] && grep -q "using 2:xtic(1)" "$t/prod/03-types-at-ctx-kv.gp" \
  && ok types-csv-columns || bad types-csv-columns "$(cat "$t/prod/03-types-at-ctx-kv.csv")"
# Beside the stacked bars, each type's share (%) of the total: V4-Pro's 5.3 GB at 1M.
grep -q "^| deepseek-v4-pro | 5.299 | 3.15 | 96.9 |$" "$t/prod/index.md" && ok types-share-table || bad types-share-table "$(grep '^| deepseek-v4-pro' "$t/prod/index.md")"

# A report without the sweep says so.
"$K" report "$SMALL" --db "$t/empty.db" --out "$t/rep2" > "$t/out" 2>&1
[ $? = 2 ] && grep -q "kvsim sweep" "$t/out" && ok report-needs-sweep || bad report-needs-sweep "$(cat "$t/out")"

# Reference kernels in a sweep: counters stored next to the model, FLOPs and KV bytes equal.
"$K" sweep tests/scenarios/measured.yaml --db "$t/meas.db" > "$t/out" 2>&1 && grep -q "kernels: 2 arch x context runs measured, 0 reused$" "$t/out" \
  && ok measured-runs || bad measured-runs "$(cat "$t/out")"
n=$(sqlite3 "$t/meas.db" "SELECT COUNT(*) FROM measurements WHERE counter LIKE '%flops' OR counter LIKE '%kv_bytes'")
neq=$(sqlite3 "$t/meas.db" "SELECT COUNT(*) FROM measurements WHERE (counter LIKE '%flops' OR counter LIKE '%kv_bytes') AND analytical != measured")
[ "$n" -gt 0 ] && [ "$neq" = 0 ] && ok measured-equal-model || bad measured-equal-model "$neq of $n differ"
"$K" sweep tests/scenarios/measured.yaml --db "$t/meas.db" > "$t/out" 2>&1 && grep -q "kernels: 0 arch x context runs measured, 2 reused$" "$t/out" \
  && ok measured-reused || bad measured-reused "$(cat "$t/out")"
"$K" report tests/scenarios/measured.yaml --db "$t/meas.db" --out "$t/mrep" > /dev/null 2>&1
[ -s "$t/mrep/01-measured-counters.png" ] && [ -s "$t/mrep/01-measured-time.svg" ] && grep -q "equal the model exactly" "$t/mrep/index.md" \
  && ok measured-report || bad measured-report "$(ls "$t/mrep")"
# The measured CSVs: their headers, and the plots coloured by layer type (the
# same colour per type in the counters, time and roofline plots).
[ "$(head -1 "$t/mrep/01-measured-counters.csv")" = "arch,ctx_tokens,type,counter,model,measured" ] \
  && [ "$(head -1 "$t/mrep/01-measured-time.csv")" = "arch,ctx_tokens,type,phase_time,predicted_s,measured_s" ] \
  && [ "$(head -1 "$t/mrep/01-measured-roofline.csv")" = "arch,ctx_tokens,type,phase,intensity_flop_per_byte,attained_gflops" ] \
  && ok measured-csv-headers || bad measured-csv-headers "$(head -qn1 "$t"/mrep/*.csv)"
c1=$(grep -o "strcol(3) eq 'full' ? \$6 : NaN) with points pt 7 ps 1.2 lc rgb '#[0-9a-f]*'" "$t/mrep/01-measured-counters.gp")
c2=$(grep -o "strcol(3) eq 'full' ? \$6 : NaN) with points pt 7 ps 1.2 lc rgb '#[0-9a-f]*'" "$t/mrep/01-measured-time.gp")
[ -n "$c1" ] && [ "$c1" = "$c2" ] && grep -q "median over [0-9]* layer-type rows: [0-9.]* (range .*). The prediction is the roofline" "$t/mrep/index.md" \
  && ok measured-by-type || bad measured-by-type "'$c1' vs '$c2'"

# Merge: measurements and runs come across too. The measured scenario in two
# shards (shard 1 also runs the kernels) merged equals the union of the two,
# every row's run_id naming the same run (by uid) as in its input.
"$K" sweep tests/scenarios/measured.yaml --db "$t/m1.db" --shard 1/2 > /dev/null 2>&1
"$K" sweep tests/scenarios/measured.yaml --db "$t/m2.db" --shard 2/2 > /dev/null 2>&1
full() {   # every table, run ids replaced by the run's uid
  sqlite3 "$1" "SELECT p.key, r.uid, p.kv_bytes, p.flops, p.flops_fp8_equiv_x2, p.exact, p.page, p.causal, p.hw, p.kvsim_version
                  FROM points p LEFT JOIN runs r ON r.id = p.run_id ORDER BY p.key;
                SELECT * FROM point_types ORDER BY point_key, type;
                SELECT m.key, r.uid, m.arch, m.scale, m.ctx, m.type, m.counter, m.analytical, m.measured, m.seconds, m.hw, m.kvsim_version
                  FROM measurements m LEFT JOIN runs r ON r.id = m.run_id ORDER BY m.key;
                SELECT uid, scenario, kvsim_version, git_rev, shard, started_at, finished_at, points_new, points_reused FROM runs ORDER BY uid;
                SELECT key, error FROM point_errors ORDER BY key;
                SELECT hash, name, yaml FROM specs ORDER BY hash;"
}
for x in 1 2; do full "$t/m$x.db" > "$t/m$x.txt"; done
"$K" merge "$t/m1.db" "$t/m2.db" -o "$t/mm.db" > "$t/out" 2>&1 || bad merge-measured "$(cat "$t/out")"
full "$t/mm.db" > "$t/mm.txt"
sort "$t/m1.txt" "$t/m2.txt" | uniq > "$t/mu.txt"
nm=$(sqlite3 "$t/mm.db" "SELECT COUNT(*) FROM measurements"); nr=$(sqlite3 "$t/mm.db" "SELECT COUNT(*) FROM runs")
sort "$t/mm.txt" | cmp -s - "$t/mu.txt" && [ "$nm" -gt 0 ] && [ "$nm" = "$(sqlite3 "$t/m1.db" 'SELECT COUNT(*) FROM measurements')" ] && [ "$nr" = 2 ] \
  && ok merge-measurements-and-runs || bad merge-measurements-and-runs "$nm measurements, $nr runs; $(sort "$t/mm.txt" | diff - "$t/mu.txt" | head -5)"
# Merging again into the same output changes nothing (no duplicate runs).
"$K" merge "$t/m1.db" "$t/m2.db" -o "$t/mm.db" > "$t/out" 2>&1 && full "$t/mm.db" | cmp -s - "$t/mm.txt" \
  && ok merge-idempotent || bad merge-idempotent "$(full "$t/mm.db" | diff - "$t/mm.txt" | head -5)"
# A missing input: exit 2, nothing written (no output, no temporary file); an existing output is left as it was.
"$K" merge "$t/m1.db" "$t/nonexist.db" -o "$t/y.db" > "$t/out" 2>&1
r=$?
[ $r = 2 ] && [ ! -e "$t/y.db" ] && [ -z "$(ls "$t" | grep '^y\.db')" ] && grep -q "nonexist.db: no such database" "$t/out" \
  && ok merge-missing-input || bad merge-missing-input "exit $r, $(ls "$t" | grep '^y'): $(cat "$t/out")"
cp "$t/mm.db" "$t/keep.db"
echo "not a database" > "$t/junk2.db"
"$K" merge "$t/m1.db" "$t/junk2.db" -o "$t/mm.db" > "$t/out" 2>&1
r=$?
[ $r = 2 ] && cmp -s "$t/mm.db" "$t/keep.db" && [ -z "$(ls "$t" | grep 'mm\.db\.merge')" ] && ok merge-failure-keeps-output || bad merge-failure-keeps-output "exit $r: $(cat "$t/out")"

# One out-of-range point (1M-token prefill at batch 4096: FLOPs above 2^64-1)
# does not stop the sweep: the other 14 points are stored, the 2 failing ones
# recorded with their error and listed, exit 2; a rerun retries only them.
cat > "$t/ovf.yaml" <<EOS
name: ovf
archs: [$PWD/archs/llama-3-8b.yaml, $PWD/archs/deepseek-v3.yaml]
contexts: [1k, 1M]
phases: [decode, prefill]
batches: [1, 4096]
plots:
  - {kind: kv_vs_context}
EOS
"$K" sweep "$t/ovf.yaml" --db "$t/ovf.db" > "$t/out" 2>&1
r=$?
np=$(sqlite3 "$t/ovf.db" "SELECT COUNT(*) FROM points"); ne=$(sqlite3 "$t/ovf.db" "SELECT COUNT(*) FROM point_errors WHERE ctx = 1048576 AND phase = 'prefill' AND batch = 4096 AND error LIKE '%exceed%2^64-1%'")
[ $r = 2 ] && [ "$np" = 14 ] && [ "$ne" = 2 ] && grep -q ": 16 points, 14 computed, 0 reused, 2 failed," "$t/out" \
  && grep -q "^  llama-3-8b ctx 1048576 prefill batch 4096: .*exceed.* 2^64-1" "$t/out" \
  && grep -q "^  deepseek-v3 ctx 1048576 prefill batch 4096: " "$t/out" && ok sweep-failed-points || bad sweep-failed-points "exit $r, $np points, $ne errors: $(cat "$t/out")"
"$K" sweep "$t/ovf.yaml" --db "$t/ovf.db" > "$t/out" 2>&1
r=$?
[ $r = 2 ] && grep -q ": 16 points, 0 computed, 14 reused, 2 failed," "$t/out" && ok sweep-failed-rerun || bad sweep-failed-rerun "exit $r: $(cat "$t/out")"

# A schema-1 database (tests/db/v1.sql, written by kvsim 0.2.0): a report
# refuses it and says how to upgrade; a sweep upgrades it in place: the
# value schema 1 kept as TEXT becomes a REAL with its digits in `exact`,
# points get the settings schema-1 sweeps always used, runs a uid.
sqlite3 "$t/v1.db" < tests/db/v1.sql
"$K" report tests/scenarios/v1-fixture.yaml --db "$t/v1.db" --out "$t/v1rep" > "$t/out" 2>&1
r=$?
[ $r = 2 ] && grep -q "schema version 1 is older than this kvsim's (3): upgrade it in place by running a sweep into it" "$t/out" \
  && ok v1-report-refused || bad v1-report-refused "exit $r: $(cat "$t/out")"
"$K" sweep tests/scenarios/v1-fixture.yaml --db "$t/v1.db" > "$t/out" 2>&1 || bad v1-upgrade-sweep "$(cat "$t/out")"
# 11310378520354717696: the text V3's 1M prefill has in tests/db/v1.sql.
got=$(sqlite3 "$t/v1.db" "PRAGMA user_version; SELECT typeof(flops_fp8_equiv_x2), exact FROM points WHERE typeof(flops_fp8_equiv_x2) != 'integer';
                          SELECT COUNT(*) FROM points WHERE flops_fp8_equiv_x2 < 2e19;
                          SELECT DISTINCT page || causal || coalesce(hw, '-') || kvsim_version FROM points WHERE run_id = 1;
                          SELECT COUNT(DISTINCT uid) FROM runs" | tr '\n' ' ')
[ "$got" = "3 real|flops_fp8_equiv_x2=11310378520354717696 12 01-0.2.0 2 " ] && ok v1-upgraded || bad v1-upgraded "got '$got'"
# (one plot: "1 plot, 2 images", singular)
"$K" report tests/scenarios/v1-fixture.yaml --db "$t/v1.db" --out "$t/v1rep" > "$t/out" 2>&1 && grep -q "index.md (1 plot, 2 images)$" "$t/out" \
  && ok v1-report-after-upgrade || bad v1-report-after-upgrade "$(cat "$t/out")"

# The README's sqlite3 queries, as written there, on the small sweep: every
# query runs and returns rows: 6 = (128K, 1M) x llama-3-8b, V4-Flash, V3
# (decode, as written); by type at 1M: llama 3 (attn, embed, head) + V4-Flash
# 6 (swa, csa, hca, embed, head, mtp) + V3 4 (mla, embed, head, mtp) = 13.
got=$(python3 - "$t/small.db" <<'EOPY'
import re, sqlite3, sys
text = open("README.md").read()
qs = re.findall(r'^sqlite3 -header -column reports/kvsim\.db \\\n\s*"(.*?)"$', text, re.S | re.M)
db = sqlite3.connect(sys.argv[1])
print(len(qs), *[len(db.execute(q).fetchall()) for q in qs])
EOPY
)
[ "$got" = "2 6 13" ] && ok readme-queries || bad readme-queries "queries and their rows: $got"

# A schema-2 database (tests/db/v2.sql, written by kvsim 0.3.0 with the
# v1 fixture's scenario): refused read-only with the way to upgrade; a sweep
# upgrades it in place: each point's point_types rows become its `types`
# array, and the point_types view gives back the same rows, values and
# exact digits (V3's 1M prefill: flops_fp8_equiv_x2 above 2^63-1, a REAL
# with its digits), every point is reused, and the points_arch index is gone.
sqlite3 "$t/v2.db" < tests/db/v2.sql
tq="SELECT point_key, type, layers, kv_bytes, flops, flops_fp8_equiv_x2, typeof(flops_fp8_equiv_x2), bytes_moved, params, exact
      FROM point_types ORDER BY point_key, type"
sqlite3 "$t/v2.db" "$tq" > "$t/v2-before.txt"
"$K" report tests/scenarios/v1-fixture.yaml --db "$t/v2.db" --out "$t/v2rep" > "$t/out" 2>&1
r=$?
[ $r = 2 ] && grep -q "schema version 2 is older than this kvsim's (3): upgrade it in place" "$t/out" \
  && ok v2-report-refused || bad v2-report-refused "exit $r: $(cat "$t/out")"
"$K" sweep tests/scenarios/v1-fixture.yaml --db "$t/v2.db" > "$t/out" 2>&1 && grep -q ": 12 points, 0 computed, 12 reused, 0 failed," "$t/out" \
  && ok v2-upgrade-reuses || bad v2-upgrade-reuses "$(cat "$t/out")"
sqlite3 "$t/v2.db" "$tq" | cmp -s - "$t/v2-before.txt" && [ "$(wc -l < "$t/v2-before.txt")" = 36 ] \
  && grep -q "|real|.*|flops_fp8_equiv_x2=11310378516647772160$" "$t/v2-before.txt" \
  && ok v2-upgraded-types-same || bad v2-upgraded-types-same "$(sqlite3 "$t/v2.db" "$tq" | diff "$t/v2-before.txt" - | head -5)"
got=$(sqlite3 "$t/v2.db" "PRAGMA user_version; SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('points_arch', 'point_types') AND type != 'view';
                          SELECT type FROM sqlite_schema WHERE name = 'point_types'; SELECT COUNT(*) FROM points WHERE types IS NULL;
                          PRAGMA integrity_check" | tr '\n' ' ')
[ "$got" = "3 0 view 0 ok " ] && ok v2-upgraded-schema || bad v2-upgraded-schema "got '$got'"
"$K" report tests/scenarios/v1-fixture.yaml --db "$t/v2.db" --out "$t/v2rep" > "$t/out" 2>&1 && grep -q "index.md (1 plot, 2 images)$" "$t/out" \
  && ok v2-report-after-upgrade || bad v2-report-after-upgrade "$(cat "$t/out")"

# 6. Without gnuplot: the .csv, .gp and index.md, and how to install it.
mkdir -p "$t/nogp"; ln -s "$(command -v sqlite3)" "$t/nogp/sqlite3"
PATH="$t/nogp" "$K" report "$SMALL" --db "$t/small.db" --out "$t/rep3" > "$t/out" 2>&1
r=$?
[ $r = 0 ] && [ -s "$t/rep3/index.md" ] && [ -s "$t/rep3/01-kv-vs-context.gp" ] && [ ! -e "$t/rep3/01-kv-vs-context.png" ] \
  && grep -q "apt-get install gnuplot" "$t/out" && ok no-gnuplot || bad no-gnuplot "exit $r: $(cat "$t/out")"

# 7. Hostile names: a spec and a scenario whose names try to run commands.
mkdir -p "$t/evil/archs"
# A name with quotes, backquotes, a newline, system(), $(...) and ../
{ echo "name: \"x'\\\"; system('touch CANARY1') \\x60touch CANARY2\\x60 \$(touch CANARY3) ../../etc\\nset output 'CANARY4'\""
  grep -v '^name:' archs/llama-3-8b.yaml; } > "$t/evil/archs/evil.yaml"
grep -q CANARY1 "$t/evil/archs/evil.yaml" || bad canary-setup "the hostile name was not written"
cat > "$t/evil/s.yaml" <<EOS
name: "../../evil\` touch CANARY5\`"
title: "t' ; system('touch CANARY6') ; \`touch CANARY7\`"
archs: ["$t/evil/archs/evil.yaml", "$PWD/archs/gemma4-e2b.yaml"]
contexts: [1k, 1M]
sweep:
  - {path: kv_sharing.fraction, values: [0, 0.5], archs: [gemma4-e2b]}
plots:
  - {kind: kv_vs_context, title: "\`touch CANARY8\`"}
  - {kind: types_at_ctx, ctx: 1M}
  - {kind: sharing_saved, axis: kv_sharing.fraction, ctx: 1M}
  - {kind: fit_context}
EOS
"$K" check "$t/evil/archs/evil.yaml" > "$t/out" 2>&1 && grep -q 'system(' "$t/out" && ok canary-spec-loads || bad canary-spec-loads "$(cat "$t/out")"
"$K" sweep "$t/evil/s.yaml" --db "$t/evil.db" > "$t/out" 2>&1 || bad canary-sweep "$(cat "$t/out")"
(cd "$t" && "$K" report "$t/evil/s.yaml" --db "$t/evil.db" --out "$t/evilrep" > "$t/out" 2>&1) || true
# Default output directory from the hostile scenario name stays under reports/.
mkdir -p "$t/cwd/reports"; (cd "$t/cwd" && ln -s "$OLDPWD/archs" archs 2>/dev/null; "$K" report "$t/evil/s.yaml" --db "$t/evil.db" > "$t/out2" 2>&1)
found=$(find "$t" . -name 'CANARY*' 2>/dev/null | head -3)
[ -z "$found" ] && ok canary-never-runs || bad canary-never-runs "$found"
[ -s "$t/evilrep/01-kv-vs-context.png" ] && ok canary-report-rendered || bad canary-report-rendered "$(cat "$t/out")"
# gnuplot parsed every script (a quote left undoubled ends the title early), and
# the title is the name with each ' doubled.
grep -q "gnuplot.*failed" "$t/out" && bad canary-gnuplot-parses "$(cat "$t/out")" || ok canary-gnuplot-parses
grep -qF "title 'x''\"; system(''touch CANARY1'')" "$t/evilrep/01-kv-vs-context.gp" && ok canary-title-quoted ||
  bad canary-title-quoted "$(grep -o "title 'x[^,]*" "$t/evilrep/01-kv-vs-context.gp")"
outside=$(find "$t/cwd" -newer "$t/evil/s.yaml" -type f | grep -v "^$t/cwd/reports/" | head -3)
[ -z "$outside" ] && ok canary-stays-in-reports || bad canary-stays-in-reports "$outside"
# A name with a pipe, a comma and HTML: one Markdown table cell shown as text,
# one CSV column (comma and space become _).
mkdir -p "$t/pipe/archs"
{ echo 'name: "pipe|name, <b>"'; grep -v '^name:' archs/tiny/gqa.yaml; } > "$t/pipe/archs/p.yaml"
printf 'name: pipes\narchs: [archs/p.yaml]\ncontexts: [1k]\nplots:\n  - {kind: kv_vs_context}\n' > "$t/pipe/s.yaml"
"$K" sweep "$t/pipe/s.yaml" --db "$t/pipe/p.db" > "$t/out" 2>&1 && "$K" report "$t/pipe/s.yaml" --db "$t/pipe/p.db" --out "$t/pipe/rep" >> "$t/out" 2>&1
grep -qF '| pipe\|name, &lt;b&gt; |' "$t/pipe/rep/index.md" && ! grep -q 'pipe|name\|<b>' "$t/pipe/rep/index.md" && ok md-escapes-cells ||
  bad md-escapes-cells "$(grep pipe "$t/pipe/rep/index.md" "$t/out" | head -5)"
[ "$(head -1 "$t/pipe/rep/01-kv-vs-context.csv")" = "ctx_tokens,pipe|name__<b>_GB" ] && ok csv-label-one-column ||
  bad csv-label-one-column "$(head -1 "$t/pipe/rep/01-kv-vs-context.csv")"

# 8. Bad databases: read-only, newer schema, not a database.
cp "$t/small.db" "$t/ro.db"; chmod 444 "$t/ro.db"
if [ "$(id -u)" = 0 ]; then ro_note="(root: permission bits)"; fi
"$K" sweep "$SMALL" --db "$t/ro.db" > "$t/out" 2>&1
[ $? = 2 ] && grep -q "read-only" "$t/out" && ok read-only-db || bad read-only-db "$ro_note $(cat "$t/out")"
cp "$t/small.db" "$t/new.db"; sqlite3 "$t/new.db" "PRAGMA user_version = 99"
"$K" sweep "$SMALL" --db "$t/new.db" > "$t/out" 2>&1
[ $? = 2 ] && grep -q "schema version 99 is newer" "$t/out" && ok newer-schema || bad newer-schema "$(cat "$t/out")"
echo "not a database" > "$t/junk.db"
"$K" sweep "$SMALL" --db "$t/junk.db" > "$t/out" 2>&1
[ $? = 2 ] && grep -q "not a kvsim database" "$t/out" && ok junk-db || bad junk-db "$(cat "$t/out")"
"$K" sweep "$SMALL" --shard 4/3 > "$t/out" 2>&1
[ $? = 2 ] && ok bad-shard || bad bad-shard "accepted 4/3"

# 9. A full disk: a 1 MiB file-size limit (ulimit -f; kvsim ignores SIGXFSZ,
# so the write fails with EFBIG instead of killing it) stops the sweep part
# way. It says why and how to go on, exits 2, and leaves a consistent
# database with the transactions committed before; a rerun without the limit
# resumes to exactly the reference rows.
rm -f "$t/full.db"*
(ulimit -f 2048 && exec "$K" sweep "$BIG" --db "$t/full.db") > "$t/out" 2>&1
r=$?
[ $r = 2 ] && grep -q "cannot write .*file size limit.*rerun the same command to resume" "$t/out" \
  && ok full-disk-error || bad full-disk-error "exit $r: $(cat "$t/out")"
r=$(sqlite3 "$t/full.db" "PRAGMA integrity_check" 2>&1); n=$(sqlite3 "$t/full.db" "SELECT COUNT(*) FROM points" 2>&1)
[ "$r" = ok ] && [ "$n" -gt 0 ] 2>/dev/null && [ "$n" -lt 5880 ] && ok full-disk-integrity || bad full-disk-integrity "$r, $n points"
"$K" sweep "$BIG" --db "$t/full.db" > "$t/out" 2>&1 && grep -q " computed, $n reused, 0 failed," "$t/out" && ok full-disk-resume || bad full-disk-resume "$(cat "$t/out")"
dump "$t/full.db" | cmp -s - "$t/ref.txt" && ok full-disk-resume-rows || bad full-disk-resume-rows "rows differ"

# 10. Hostile file names: the spec, the scenario, a config.json, --db, --out,
# import -o and run --dump paths carry quotes, backquotes, newlines, $(...),
# ../ and shell metacharacters. Nothing runs (no canary file under the temp
# dir or the repository); the sweep writes only its database, everything
# else lands under the output directory.
h=$t/hostile; nl='
'
evil="q'd\"b\`touch CANARY_A\`\$(touch CANARY_B);touch CANARY_C&|<>*?[x]{a,b}~#!${nl}x \\ %s"
mkdir -p "$h/in/$evil" "$h/db/$evil" "$h/cwd" "$h/out"
spec="$h/in/$evil/-spec \$(touch CANARY_D)\`touch CANARY_E\`'\";|&${nl}.yaml"
cfg="$h/in/$evil/cfg \$(touch CANARY_F)\`touch CANARY_G\`'\";|&${nl}[x] *y !z: #w.json"
scen="$h/in/$evil/scen;\$(touch CANARY_H)\`touch CANARY_I\`'\"${nl}.yaml"
db="$h/db/$evil/k;\$(touch CANARY_J)\`touch CANARY_K\`'\"${nl}.db"
out="$h/out/$evil/../rep \$(touch CANARY_L)\`touch CANARY_M\`'\";|&${nl}x"
cp archs/llama-3-8b.yaml "$spec"; cp tests/configs/qwen3-8b.json "$cfg"
# The config.json by a relative path through ../ (arch paths are relative to the scenario file).
python3 -c 'import json, sys
print("name: hostile-files\narchs: [%s, %s]\ncontexts: [1k, 128k]" % (json.dumps(sys.argv[1]), json.dumps(sys.argv[2])))
print("plots:\n  - {kind: kv_vs_context}\n  - {kind: types_at_ctx, ctx: 128k}")' "$spec" "../$evil/../$evil/${cfg##*/}" > "$scen"
: > "$h/marker"; sleep 1
(cd "$h/cwd" && "$K" check "$spec" "$cfg") > "$t/out" 2>&1 && grep -q '\[x\] \*y !z: #w, 36 layers' "$t/out" \
  && ok hostile-files-check || bad hostile-files-check "$(cat "$t/out")"
(cd "$h/cwd" && "$K" sweep "$scen" --db "$db") > "$t/out" 2>&1 && ok hostile-files-sweep || bad hostile-files-sweep "$(cat "$t/out")"
(cd "$h/cwd" && "$K" report "$scen" --db "$db" --out "$out") > "$t/out" 2>&1 && [ -s "$h/out/rep \$(touch CANARY_L)\`touch CANARY_M\`'\";|&${nl}x/01-kv-vs-context.png" ] \
  && ok hostile-files-report || bad hostile-files-report "$(cat "$t/out")"
(cd "$h/cwd" && "$K" import "$cfg" -o "$h/out/$evil/../imp \$(touch CANARY_N)\`x\`${nl}.yaml" && "$K" check "$h/out/imp \$(touch CANARY_N)\`x\`${nl}.yaml") > "$t/out" 2>&1 \
  && ok hostile-files-import || bad hostile-files-import "$(cat "$t/out")"
if "$K" run 2>&1 | grep -q "unknown command"; then :; else
  (tiny=$PWD/archs/tiny/gqa.yaml; mkdir -p "$h/out/$evil" && cd "$h/cwd" && "$K" run "$tiny" --ctx 5 --dump "$h/out/$evil/../dump \$(touch CANARY_O)\`x\`${nl}") > "$t/out" 2>&1 \
    && [ -n "$(ls "$h/out/dump \$(touch CANARY_O)\`x\`${nl}")" ] && ok hostile-files-dump || bad hostile-files-dump "$(cat "$t/out")"
fi
found=$(find "$t" . -name 'CANARY*' 2>/dev/null | head -3)
[ -z "$found" ] && ok hostile-files-never-run || bad hostile-files-never-run "$found"
# Every file written since the marker is under out/, or the database (k;... beside it: -wal, -shm).
outside=$(find "$t" -newer "$h/marker" ! -type d ! -path "$h/out/*" ! -path "$h/db/*" ! -path "$t/out" 2>/dev/null | head -3)
[ -z "$outside" ] && ok hostile-files-stay-in-out || bad hostile-files-stay-in-out "$outside"
indb=$(find "$h/db" ! -type d ! -name 'k;*' | head -3)
[ -z "$indb" ] && ok hostile-files-db-only || bad hostile-files-db-only "$indb"

echo "sweep: $pass passed, $fail failed"
[ "$fail" = 0 ]
