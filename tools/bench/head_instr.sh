#!/usr/bin/env bash
# tools/bench/head_instr.sh - instructions per head and per head byte for
# each head of head_bench.c, counted by callgrind (exact, repeatable):
# two runs of 200 and 1,200 parses, their difference over 1,000 (start-up
# and the timing loop's own cost cancel).
# Usage: tools/bench/head_instr.sh [BUILD_DIR] [--split]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
bin=$build/head_bench
[ -x "$bin" ] || {
    echo "head_instr.sh: $bin missing (cmake --build $build)" >&2
    exit 1
}
command -v valgrind >/dev/null || {
    echo "head_instr.sh: valgrind missing" >&2
    exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
total() { # iterations name [args...]: callgrind's total for one head
    local n=$1 name=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
        "$bin" "$@" --only "$name" "$n" >"$tmp/stdout" 2>/dev/null
    sed -n 's/^totals: *//p' "$tmp/cg.out"
}
for name in req_curl req_ab req_firefox resp_nginx resp_legacy; do
    a=$(total 200 "$name" "$@")
    b=$(total 1200 "$name" "$@")
    bytes=$(awk '{print $2}' "$tmp/stdout")
    # Each iteration count runs three timing rounds: 3 x 1,000 heads apart.
    awk -v a="$a" -v b="$b" -v bytes="$bytes" -v name="$name" 'BEGIN {
        per = (b - a) / 3000.0
        printf "%-12s %4d bytes  %6.0f instructions/head  %5.2f/byte\n",
            name, bytes, per, per / bytes }'
done
