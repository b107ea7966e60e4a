#!/bin/sh
# tests/valgrind.sh - kvsim under valgrind's memcheck: no invalid reads or
# writes, no uninitialised values, no definite or indirect leaks (make
# valgrind; about 30 s).
#
# usage: sh tests/valgrind.sh [./kvsim]     (from the repository root)
#
# Runs one sweep (tests/scenarios/small.yaml: 40 points into a temporary
# database, SQLite included), its report, one cost (deepseek-v4-pro at 1M, by
# layer) and one reference-kernel run (archs/tiny/gqa.yaml, prefill + decode,
# with --dump). "Possibly lost" and "still reachable" blocks are not errors
# and not shown (libraries' one-time allocations: libgomp's worker thread,
# started once a product splits its rows over the threads, leaves its TLS
# vector "possibly lost"); gnuplot and git run as children and are
# not traced. One PASS/FAIL line per run, then "valgrind: N passed, M failed".
K=${1:-./kvsim}
case "$K" in /*) ;; *) K="$(pwd)/$K" ;; esac
cd "$(dirname "$0")/.." || exit 2
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind: not installed (sudo apt-get install valgrind, or make deps)"; exit 2
fi
export OPENBLAS_NUM_THREADS=1   # one thread: no pool threads alive at exit
pass=0; fail=0
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT

# vg NAME ARGS...: kvsim ARGS under memcheck; exit 0 and a quiet log pass.
vg() {
  name=$1; shift
  valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    --log-file="$t/$name.vg" "$K" "$@" > "$t/$name.out" 2>&1
  r=$?
  if [ $r = 0 ] && [ ! -s "$t/$name.vg" ]; then
    pass=$((pass+1)); echo "PASS valgrind/$name"
  else
    fail=$((fail+1)); echo "FAIL valgrind/$name: exit $r"
    head -n 40 "$t/$name.vg" "$t/$name.out"
  fi
}

vg sweep sweep tests/scenarios/small.yaml --db "$t/small.db"
vg report report tests/scenarios/small.yaml --db "$t/small.db" --out "$t/rep"
vg cost cost archs/deepseek-v4-pro.yaml --ctx 1M --by layer
if "$K" run 2>&1 | grep -q "unknown command"; then
  echo "SKIP valgrind/run: this kvsim has no run command"
else
  vg run run archs/tiny/gqa.yaml --ctx 37 --decode 3 --dump "$t/dump"
fi
echo "valgrind: $pass passed, $fail failed"
[ "$fail" = 0 ]
