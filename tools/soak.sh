#!/usr/bin/env bash
# tools/soak.sh - the long form of test_soak.py's load test: wrk with 256
# connections drives nginx under the shim (sendfile on, then off) with a
# 50/50 mix of revalidations and plain GETs for N seconds each, checks every
# response in wrk's Lua and a sample with the raw client, and requires the
# workers' RSS to stay flat.  Then it repeats the fault and never-reading-
# client tests.  Usage: tools/soak.sh [--seconds N] [--conns N] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

seconds=60
conns=256
build=1
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --conns) conns=${2:?--conns needs a value}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$seconds$conns" in
*[!0-9]*) echo "soak.sh: --seconds and --conns take whole numbers" >&2
    exit 2 ;;
esac
command -v wrk >/dev/null || { echo "soak.sh: wrk is not installed" >&2
    exit 1; }

if [ "$build" = 1 ]; then
    cmake -S . -B build >/dev/null
    cmake --build build -j "$(nproc)" >/dev/null
fi

export NOTMOD_BUILD_DIR=$ROOT/build
export PYTHONPATH=$ROOT/tests/integration
export PYTHONDONTWRITEBYTECODE=1
export NOTMOD_SOAK_SECONDS=$seconds NOTMOD_SOAK_CONNS=$conns

status=0
echo "== soak: wrk -c $conns for ${seconds}s (sendfile on, then off) =="
python3 tests/integration/test_soak.py -v || status=1
echo "== faults under load =="
python3 tests/integration/test_faults.py -v || status=1
echo "== never-reading clients, 5 rounds =="
for _ in 1 2 3 4 5; do
    python3 tests/integration/test_hostile_noread.py || status=1
done
exit $status
