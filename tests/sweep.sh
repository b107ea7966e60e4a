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
grep -q "0 computed, 5880 reused" "$t/out" && ok rerun-reuses || bad rerun-reuses "$(cat "$t/out")"
dump "$t/ref.db" | cmp -s - "$t/ref.txt" && ok rerun-same-rows || bad rerun-same-rows "rows changed"

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
# The report opens with the claims: V4-Pro vs V3.2 at 1M, 10 published, 10.51 kvsim.
grep -q "V4-Pro KV cache at 1M, % of V3.2 | V4 paper, abstract (10%, 9.5x) | 10 % | 10.5135 % | +0.51 pp" "$t/rep/index.md" && ok report-claim-row || bad report-claim-row "$(grep V4-Pro "$t/rep/index.md" | head -2)"
# Values above 2^63-1 are kept exactly (as text): V3's 1M prefill in FP8-equivalent x2.
want=$("$K" cost archs/deepseek-v3.yaml --ctx 1M --phase prefill --format json | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["total"]["flops_fp8_equiv"] * 2))')
got=$(sqlite3 "$t/small.db" "SELECT typeof(flops_fp8_equiv_x2) || ' ' || flops_fp8_equiv_x2 FROM points WHERE arch = 'deepseek-v3' AND ctx = 1048576 AND phase = 'prefill' AND params = ''")
[ "$got" = "text $want" ] && ok big-values-exact || bad big-values-exact "got '$got', want 'text $want'"
# A report without the sweep says so.
"$K" report "$SMALL" --db "$t/empty.db" --out "$t/rep2" > "$t/out" 2>&1
[ $? = 2 ] && grep -q "kvsim sweep" "$t/out" && ok report-needs-sweep || bad report-needs-sweep "$(cat "$t/out")"

# Reference kernels in a sweep: counters stored next to the model, FLOPs and KV bytes equal.
"$K" sweep tests/scenarios/measured.yaml --db "$t/meas.db" > "$t/out" 2>&1 && grep -q "2 arch x context runs measured" "$t/out" \
  && ok measured-runs || bad measured-runs "$(cat "$t/out")"
n=$(sqlite3 "$t/meas.db" "SELECT COUNT(*) FROM measurements WHERE counter LIKE '%flops' OR counter LIKE '%kv_bytes'")
neq=$(sqlite3 "$t/meas.db" "SELECT COUNT(*) FROM measurements WHERE (counter LIKE '%flops' OR counter LIKE '%kv_bytes') AND analytical != measured")
[ "$n" -gt 0 ] && [ "$neq" = 0 ] && ok measured-equal-model || bad measured-equal-model "$neq of $n differ"
"$K" sweep tests/scenarios/measured.yaml --db "$t/meas.db" > "$t/out" 2>&1 && grep -q "0 arch x context runs measured, 2 reused" "$t/out" \
  && ok measured-reused || bad measured-reused "$(cat "$t/out")"
"$K" report tests/scenarios/measured.yaml --db "$t/meas.db" --out "$t/mrep" > /dev/null 2>&1
[ -s "$t/mrep/01-measured-counters.png" ] && [ -s "$t/mrep/01-measured-time.svg" ] && grep -q "equal the model exactly" "$t/mrep/index.md" \
  && ok measured-report || bad measured-report "$(ls "$t/mrep")"

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
outside=$(find "$t/cwd" -newer "$t/evil/s.yaml" -type f | grep -v "^$t/cwd/reports/" | head -3)
[ -z "$outside" ] && ok canary-stays-in-reports || bad canary-stays-in-reports "$outside"

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
"$K" sweep "$BIG" --db "$t/full.db" > "$t/out" 2>&1 && grep -q "$n reused" "$t/out" && ok full-disk-resume || bad full-disk-resume "$(cat "$t/out")"
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
