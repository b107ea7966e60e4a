#!/bin/sh
# tests/fuzz/run.sh - run each libFuzzer target for a while (make fuzz).
#
# usage: sh tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...   (from the repo root)
#
# Each target BUILD_DIR/tests/bin/fuzz_TARGET runs for SECONDS over its
# working corpus BUILD_DIR/corpus/TARGET (new inputs go there) seeded from
# tests/fuzz/corpus_TARGET, with the dictionary tests/fuzz/TARGET.dict (the
# keys and names the reader knows) and stdin closed. Prints one line per target:
#   fuzz_spec: 123456 executions in 60 s (2057/s), corpus 812 inputs, no crash
# A crash, leak, timeout (> FUZZ_TIMEOUT s for one input, default 10) or out-of-memory
# stops that target with its input saved as BUILD_DIR/crashes/TARGET-*; keep
# it in tests/fuzz/regress/TARGET/ once fixed. Exit 1 if any target failed.
# FUZZ_SEED=N fixes libFuzzer's random seed (CI does, so that its smoke run
# retraces the same inputs on every machine; new ground is for `make fuzz`).
B=$1; S=$2; shift 2
T=${FUZZ_TIMEOUT:-10}
seed=; [ -n "${FUZZ_SEED:-}" ] && seed=-seed=$FUZZ_SEED
status=0
mkdir -p "$B/crashes"
for t in "$@"; do
  bin=$B/tests/bin/fuzz_$t
  mkdir -p "$B/corpus/$t"
  log=$B/fuzz_$t.log
  dict=; [ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
  "$bin" $dict $seed -max_total_time="$S" -timeout="$T" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$B/crashes/$t-" "$B/corpus/$t" "tests/fuzz/corpus_$t" </dev/null >"$log" 2>&1
  r=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  n=$(ls "$B/corpus/$t" | wc -l)
  if [ $r = 0 ]; then
    rate=$(( ${execs:-0} / (${secs:-1} > 0 ? ${secs:-1} : 1) ))
    echo "fuzz_$t: ${execs:-?} executions in ${secs:-?} s (${rate}/s), corpus $n inputs, no crash"
  else
    status=1
    echo "fuzz_$t: FAILED after ${execs:-?} executions (exit $r); see $log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_[a-z]*: |.*runtime error)|Test unit written to' "$log" | head -n 5
  fi
done
exit $status
