#!/bin/sh
# tests/bad.sh - run kvsim over the bad-input corpus in tests/bad/.
#
# usage: sh tests/bad.sh [KVSIM]     (default ./kvsim)
#
# Each tests/bad/NAME.yaml must make `KVSIM check tests/bad/NAME.yaml` exit
# with status exactly 2 within 5 seconds, print nothing on stdout, and print
# the expected substring on stderr. The substring is the file's first line
# `# expect: SUBSTRING`, or, for files that cannot hold a comment (empty,
# binary), the line `NAME<TAB>SUBSTRING` in tests/bad/EXPECT.txt (which wins
# when both exist). A 100 MB spec is also generated at run time and must be
# refused for its size. Prints PASS/FAIL per case and one summary line
# `bad: N passed, M failed`; exits 1 when M > 0.

KVSIM=${1:-./kvsim}
LIMIT=5

# Resolve the binary before moving to the repository root (kvsim prints the
# path it was given, and the expectations say tests/bad/NAME.yaml).
case $KVSIM in
*/*)
    kdir=$(cd "$(dirname "$KVSIM")" 2>/dev/null && pwd) || { echo "bad: no such directory for $KVSIM" >&2; exit 2; }
    KVSIM=$kdir/$(basename "$KVSIM")
    ;;
esac
if ! command -v "$KVSIM" >/dev/null 2>&1; then
    echo "bad: kvsim binary '$KVSIM' not found or not executable" >&2
    exit 2
fi
if ! command -v timeout >/dev/null 2>&1; then
    echo "bad: the timeout command is required" >&2
    exit 2
fi
cd "$(dirname "$0")/.." || exit 2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvsim-bad.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP

TAB=$(printf '\t')
pass=0
fail=0

# run_case LABEL FILE EXPECTED: run kvsim check on FILE and judge it.
run_case() {
    label=$1 file=$2 expected=$3
    timeout "$LIMIT" "$KVSIM" check "$file" >"$TMP/out" 2>"$TMP/err"
    st=$?
    got=$(head -n 1 "$TMP/err")
    reason=
    if [ "$st" -eq 124 ]; then
        reason="hang: no exit within ${LIMIT}s"
    elif [ "$st" -gt 128 ]; then
        reason="crash: killed by signal $((st - 128))"
    elif [ "$st" -ne 2 ]; then
        reason="exit status $st, expected 2"
    elif [ -s "$TMP/out" ]; then
        reason="wrote to stdout: $(head -n 1 "$TMP/out")"
    elif [ -z "$expected" ]; then
        reason="no expectation (first line '# expect: ...' or an EXPECT.txt entry)"
    elif ! grep -F -q -e "$expected" "$TMP/err"; then
        reason="stderr lacks '$expected'"
    fi
    if [ -z "$reason" ]; then
        echo "PASS $label"
        pass=$((pass + 1))
    else
        echo "FAIL $label: $reason (got: $got)"
        fail=$((fail + 1))
    fi
}

for f in tests/bad/*; do
    [ -f "$f" ] || continue
    base=${f##*/}
    [ "$base" = EXPECT.txt ] && continue
    name=${base%.yaml}
    expected=
    if [ -f tests/bad/EXPECT.txt ]; then
        expected=$(awk -F "$TAB" -v n="$name" '$1 == n { sub(/^[^\t]*\t/, ""); print; exit }' tests/bad/EXPECT.txt)
    fi
    if [ -z "$expected" ]; then
        # Only a real first-line header counts; LC_ALL=C copes with binary files.
        expected=$(head -n 1 "$f" | LC_ALL=C sed -n 's/^# expect: //p')
    fi
    run_case "bad/$name" "$f" "$expected"
done

# A 100 MB spec, made here and never committed: refused for its size, fast.
big=$TMP/huge-100mb.yaml
{ printf 'name: huge\n'; head -c 100000000 /dev/zero | tr '\0' 'a'; } | head -c 100000000 >"$big"
size=$(wc -c <"$big" | tr -d ' ')
if [ "$size" -ne 100000000 ]; then
    echo "FAIL bad/huge-100mb: could not generate the file (got: $size bytes)"
    fail=$((fail + 1))
else
    run_case "bad/huge-100mb" "$big" "$big:1:1: file is 100000000 bytes"
fi
rm -f "$big"

echo "bad: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
