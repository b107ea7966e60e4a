#!/bin/sh
# tests/run.sh - run every test program and shell test, then print one
# closing line "total: N passed, M failed". Exit 1 on any failure.
# Usage: sh tests/run.sh ./kvsim tests/bin/test_a tests/bin/test_b ...
K=$1; shift
log=$(mktemp); trap 'rm -f "$log"' EXIT
status=0
run() { echo "== $*"; "$@" > "$log" 2>&1; r=$?; grep -v '^PASS' "$log"; [ $r = 0 ] || status=1
        tail -n 1 "$log" >> "$log.sum"; }
: > "$log.sum"
for t in "$@"; do run "$t"; done
# kern_wq's dots again without their AVX-512 paths (the AVX2 ones a CPU
# without AVX-512 runs): the same bit-exact checks
for t in "$@"; do case $t in */test_wq) run env KVSIM_NO_AVX512=1 "$t";; esac; done
run sh tests/cli.sh "$K"
run sh tests/deploy.sh "$K"
run sh tests/bad.sh "$K"
run sh tests/sweep.sh "$K"
run python3 tests/hf_count.py "$K"
run sh tests/fuzz_regress.sh "$K"
run sh tests/ref.sh "$K"
run sh tests/bench_json.sh "$K"
awk '/: [0-9]+ passed, [0-9]+ failed/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f; exit f > 0 }' "$log.sum" || status=1
rm -f "$log.sum"
exit $status
