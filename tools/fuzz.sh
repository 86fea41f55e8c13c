#!/usr/bin/env bash
# tools/fuzz.sh - builds the libFuzzer harnesses of tests/fuzz/ into
# build-fuzz/ (clang, ASan+UBSan) and runs each, two at a time per core
# pair. Prints one line per harness (executions, crashes) and exits non-zero
# on any crash or build failure.
#   tools/fuzz.sh --short         fixed executions per harness (CI; test.sh)
#   tools/fuzz.sh [--seconds N]   N seconds per harness (default 300)
#   tools/fuzz.sh ... NAME...     only these harnesses
# Seeds: tests/fuzz/corpus/<name>/ (committed, crash regressions included)
# and build-fuzz/seeds/<name>/ (written by gen_seeds). Long runs keep what
# they learn in build-fuzz/corpus/<name>/; crashes land in
# build-fuzz/artifacts/<name>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-fuzz

# One line per harness: tests/fuzz/fuzz_<name>.c, optional <name>.dict.
HARNESSES=(
    http_req
    http_resp
    scan_agree
    etag
    httpdate
    resp304
    event
    snapshot
    cond
    fresh
)

MODE=long
SECONDS_EACH=300
RUNS_SHORT=20000
JOBS=$(nproc)
selected=()
while [ $# -gt 0 ]; do
    case $1 in
    --short) MODE=short ;;
    --seconds)
        SECONDS_EACH=$2
        shift
        ;;
    --runs)
        RUNS_SHORT=$2
        shift
        ;;
    --jobs)
        JOBS=$2
        shift
        ;;
    -h | --help)
        sed -n '2,12p' "$0"
        exit 0
        ;;
    *) selected+=("$1") ;;
    esac
    shift
done
[ ${#selected[@]} -gt 0 ] && HARNESSES=("${selected[@]}")

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi

echo "fuzz.sh: building ${#HARNESSES[@]} harnesses into build-fuzz/"
mkdir -p "$OUT/logs"
if ! make -s -j "$JOBS" -f tests/fuzz/Makefile OUT="$OUT" \
    HARNESSES="${HARNESSES[*]}" >"$OUT/logs/build.log" 2>&1; then
    cat "$OUT/logs/build.log" >&2
    echo "fuzz.sh: build FAILED" >&2
    exit 1
fi
rm -rf "$OUT/seeds"
"$OUT/gen_seeds" "$OUT/seeds"

run_one() { # name: runs one harness, output in $OUT/logs/<name>.log
    local name=$1
    local work=$OUT/corpus/$name art=$OUT/artifacts/$name
    local args=(-artifact_prefix="$art/" -print_final_stats=1 -timeout=10
        -rss_limit_mb=2048 -max_len=4096)
    if [ "$MODE" = short ]; then
        # A fresh work corpus and a fixed seed: the same runs every time.
        work=$OUT/corpus-short/$name
        rm -rf "$work"
        args+=(-runs="$RUNS_SHORT" -seed=1)
    else
        args+=(-max_total_time="$SECONDS_EACH")
    fi
    [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
    mkdir -p "$work" "$art" "tests/fuzz/corpus/$name"
    local seeds=("tests/fuzz/corpus/$name")
    [ -d "$OUT/seeds/$name" ] && seeds+=("$OUT/seeds/$name")
    "$OUT/fuzz_$name" "${args[@]}" "$work" "${seeds[@]}" \
        >"$OUT/logs/$name.log" 2>&1
}

# Executions from libFuzzer's final stats (printed on crashes too), else
# from its last status line.
executions() {
    local log=$1 n
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -z "$n" ] && n=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
    echo "${n:-0}"
}

declare -A rcs
running=()
for name in "${HARNESSES[@]}"; do
    if [ ! -f "tests/fuzz/fuzz_$name.c" ]; then
        echo "fuzz.sh: no tests/fuzz/fuzz_$name.c" >&2
        exit 1
    fi
    # Crashes from earlier runs are not this run's.
    rm -rf "$OUT/artifacts/$name"
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n || true
    done
    (run_one "$name") &
    running+=("$!:$name")
done
for entry in "${running[@]}"; do
    pid=${entry%%:*} name=${entry#*:}
    rc=0
    wait "$pid" || rc=$?
    rcs[$name]=$rc
done

status=0
total=0
for name in "${HARNESSES[@]}"; do
    log=$OUT/logs/$name.log
    n=$(executions "$log")
    crashes=$(find "$OUT/artifacts/$name" -type f 2>/dev/null | wc -l)
    rc=${rcs[$name]}
    total=$((total + n))
    verdict=ok
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        verdict="FAILED (exit $rc, log build-fuzz/logs/$name.log)"
        status=1
    fi
    printf 'fuzz %-10s executions %10s  crashes %s  %s\n' "$name" "$n" \
        "$crashes" "$verdict"
    if [ "$verdict" != ok ]; then
        grep -E 'ERROR|fuzz check failed|runtime error|differ' "$log" |
            head -5 | sed 's/^/    /' >&2 || true
        find "$OUT/artifacts/$name" -type f | sed 's/^/    input: /' >&2
    fi
done
echo "fuzz.sh: $total executions in total"
exit $status
