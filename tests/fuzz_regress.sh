#!/bin/sh
# tests/fuzz_regress.sh - rerun every input the fuzzers ever crashed on.
#
# usage: sh tests/fuzz_regress.sh ./kvsim     (BIN_DIR/tests/bin/replay_* beside it)
#
# tests/fuzz/regress/TARGET/* are inputs that once crashed fuzz_TARGET (each
# file's name says what it found). Each is replayed through the same target
# code built normally (replay_TARGET; under make asan, with the sanitizers),
# which must finish, then through the command line, which must answer with
# exit status 0 or 2 within 10 s and never die of a signal: `kvsim check`
# for specs, `kvsim import` for config.json files, `kvsim sweep` (into a
# temporary database) for scenarios. One PASS/FAIL line per check, then
# "fuzz-regress: N passed, M failed".
K=${1:-./kvsim}
case "$K" in /*) ;; *) K="$(pwd)/$K" ;; esac
BIN=$(dirname "$K")/tests/bin
cd "$(dirname "$0")/.." || exit 2
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "PASS fuzz-regress/$1"; }
bad() { fail=$((fail+1)); echo "FAIL fuzz-regress/$1: $2"; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT

# judge NAME STATUS: 0 or 2 is an answer; 124 a hang; above 128 a signal.
judge() {
  case $2 in
    0|2) ok "$1" ;;
    124) bad "$1" "no answer within 10 s" ;;
    *) if [ "$2" -gt 128 ]; then bad "$1" "killed by signal $(($2 - 128))"; else bad "$1" "exit status $2: $(head -c 300 "$t/err")"; fi ;;
  esac
}

for target in spec scenario import; do
  for f in tests/fuzz/regress/$target/*; do
    [ -f "$f" ] || continue
    name=$target/${f##*/}
    if [ -x "$BIN/replay_$target" ]; then
      timeout 60 "$BIN/replay_$target" "$f" > "$t/out" 2>&1
      r=$?
      [ $r = 0 ] && ok "$name/replay" || bad "$name/replay" "exit $r: $(grep -m 3 -E 'ERROR|runtime error|SUMMARY|Assert' "$t/out")"
    else
      bad "$name/replay" "$BIN/replay_$target missing (make builds it)"
    fi
    case $target in
      spec)   cp "$f" "$t/in.yaml";  timeout 10 "$K" check "$t/in.yaml" > /dev/null 2> "$t/err" ;;
      import) cp "$f" "$t/in.json";  timeout 10 "$K" import "$t/in.json" > /dev/null 2> "$t/err" ;;
      scenario) rm -f "$t/db"*; cp "$f" "$t/in.yaml"; timeout 10 "$K" sweep "$t/in.yaml" --db "$t/db" > /dev/null 2> "$t/err" ;;
    esac
    judge "$name/cli" $?
  done
done
echo "fuzz-regress: $pass passed, $fail failed"
[ "$fail" = 0 ]
