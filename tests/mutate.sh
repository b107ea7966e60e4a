#!/bin/sh
# tests/mutate.sh - mutation testing: plant each mutant of tests/mutants/ in a
# throw-away copy of the tree, rebuild, and see whether the tests catch it.
#
# A mutant file tests/mutants/NAME.mut holds one small text substitution:
#     # one-line description
#     file sim/layers/gqa.c
#     tests test_cost test_claims cli.sh      (quick checks, run first)
#     equivalent WHY                          (optional: cannot change any output)
#     <<<
#     the original text, exactly as in the file (one or more lines)
#     ===
#     the replacement
#     >>>
# The original must occur exactly once, else the mutant is STALE (not killed).
# For each mutant: apply, build (only the mutated file recompiles: every
# worker starts from a copy of one prebuilt tree), run the quick checks, and if
# they all pass, the whole suite (tests/run.sh). One line per mutant:
#     killed (by CHECK) | SURVIVED | STALE | BUILD-FAILED
# then the score, killed / (killed + survived). Exit 1 below 95% or on any
# stale or build-failed mutant.
# Usage: sh tests/mutate.sh        (MUTANTS="gqa-kv merge-*" for a subset,
#        JOBS=2 workers in parallel, KEEP=1 keeps the copies in $TMPDIR)
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
sel=${MUTANTS:-*}
tmo=${MUTANT_TIMEOUT:-300}   # seconds per check: an endless loop counts as killed
start=$(date +%s)
# The workers share the cores: one OpenMP thread each (tests that need more set their own).
[ "$jobs" -gt 1 ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

files=""
set -f   # split MUTANTS into words here, expand each in tests/mutants/
for pat in $sel; do
  set +f; for f in "$src"/tests/mutants/$pat.mut; do [ -f "$f" ] && files="$files $f"; done; set -f
done
set +f
[ -n "$files" ] || { echo "mutate: no mutant matches '$sel'" >&2; exit 2; }
command -v python3 >/dev/null || { echo "mutate: needs python3" >&2; exit 2; }

w=$(mktemp -d "${TMPDIR:-/tmp}/kvsim-mutate.XXXXXX") || exit 2
[ -n "${KEEP:-}" ] || trap 'rm -rf "$w"' EXIT
trap 'exit 130' INT TERM   # runs the EXIT trap: no copies left behind
# check TREE NAME: run one test program (test_X) or script (X.sh); prints the
# first failing check's name on failure.
check() {
  case "$2" in
    *.sh)  (cd "$1" && timeout "$tmo" sh "tests/$2" build/kvsim) ;;
    run)   timeout "$tmo" make -C "$1" -s -j1 test ;;
    *)     (cd "$1" && timeout "$tmo" "build/tests/bin/$2") ;;
  esac > "$1/check.out" 2>&1 && return 0
  r=$?
  [ $r = 124 ] && { echo "$2 (timeout)"; return 1; }
  f=$(grep -m 1 '^FAIL' "$1/check.out" | cut -c 1-100)
  if [ -n "$f" ]; then echo "$2: $f"; else echo "$2 (exit $r)"; fi
  return 1
}

# The tree as it is (committed plus uncommitted, no build products), built once.
echo "mutate: copying and building the tree in $w/base"
mkdir "$w/base"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
   xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
   tar --null -T - -cf -) | tar -xf - -C "$w/base" || exit 2
make -C "$w/base" -s -j"$jobs" test-bins > "$w/base.log" 2>&1 ||
  { cat "$w/base.log"; echo "mutate: the unmutated tree does not build" >&2; exit 2; }
# The mutants as they were at the start (editing tests/mutants/ meanwhile changes nothing).
files=$(for f in $files; do echo "$w/base/tests/mutants/${f##*/}"; done)
check "$w/base" run > /dev/null ||
  { grep -E '^FAIL|^total' "$w/base/check.out"; echo "mutate: the unmutated tree fails its tests" >&2; exit 2; }

# field NAME FILE: the value of a "NAME ..." header line.
field() { sed -n "/^<<<\$/q; s/^$1 //p" "$2" | head -n 1; }

# apply MUTFILE TREE: substitute in place; exit 3 unless the original occurs once.
apply() {
  python3 - "$1" "$2" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, body = text.split("\n<<<\n", 1)
orig, repl = body.split("\n===\n", 1)
repl = repl.rsplit("\n>>>", 1)[0]
path = [l.split(" ", 1)[1] for l in head.splitlines() if l.startswith("file ")][0]
p = sys.argv[2] + "/" + path
try: src = open(p).read()
except OSError: print("no file %s" % path); sys.exit(3)
n = src.count(orig)
if n != 1:
    print("original found %d times in %s" % (n, path)); sys.exit(3)
open(p, "w").write(src.replace(orig, repl))
PY
}

# worker N LIST: one copy of the built tree; each mutant is planted, checked,
# and its file restored from base (which rebuilds it for the next one).
worker() {
  t="$w/w$1"; cp -a "$w/base" "$t"
  for m in $2; do
    name=$(basename "$m" .mut); file=$(field file "$m")
    msg=$(apply "$m" "$t" 2>&1)
    if [ $? != 0 ]; then res="STALE ($msg)"
    elif ! make -C "$t" -s -j1 test-bins > "$t/build.log" 2>&1; then res="BUILD-FAILED ($(grep -m 1 error "$t/build.log"))"
    else
      res=""
      for c in $(field tests "$m") run; do
        if k=$(check "$t" "$c"); then :; else res="killed by $k"; break; fi
      done
      [ -n "$res" ] || res="SURVIVED"
      eq=$(field equivalent "$m"); [ -n "$eq" ] && [ "$res" = SURVIVED ] && res="SURVIVED (equivalent: $eq)"
    fi
    cp "$w/base/$file" "$t/$file" 2>/dev/null
    printf '%-28s %s\n' "$name" "$res" | tee -a "$w/results"
  done
}

set -- $files
echo "mutate: $# mutants, $jobs workers"
: > "$w/results"
i=0; pids=""
while [ $i -lt "$jobs" ]; do
  list=""; j=0
  for f in "$@"; do [ $((j % jobs)) = $i ] && list="$list $f"; j=$((j+1)); done
  [ -n "$list" ] && { worker $i "$list" & pids="$pids $!"; }
  i=$((i+1))
done
for p in $pids; do wait $p; done

killed=$(grep -c ' killed by ' "$w/results")
surv=$(grep -c ' SURVIVED' "$w/results")
equiv=$(grep -c ' SURVIVED (equivalent' "$w/results")
stale=$(grep -c ' STALE' "$w/results")
bfail=$(grep -c ' BUILD-FAILED' "$w/results")
total=$((killed + surv))
echo
echo "survivors:"; grep ' SURVIVED' "$w/results" || echo "  none"
[ $stale = 0 ] || { echo "stale:"; grep ' STALE' "$w/results"; }
[ $bfail = 0 ] || { echo "build-failed:"; grep ' BUILD-FAILED' "$w/results"; }
score=$(awk -v k=$killed -v t=$total 'BEGIN { printf "%.1f", t ? 100 * k / t : 0 }')
echo "mutation score: $killed/$total killed = $score% ($equiv of the survivors marked equivalent; $stale stale, $bfail build-failed) in $(( $(date +%s) - start )) s on $(date -u +%Y-%m-%d)"
awk -v k=$killed -v t=$total 'BEGIN { exit !(t && k * 100 >= 95 * t) }' && [ $stale = 0 ] && [ $bfail = 0 ]
