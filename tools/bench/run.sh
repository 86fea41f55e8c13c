#!/usr/bin/env bash
# tools/bench/run.sh - measures notmod against the bare server, nginx's own
# 304s and caching proxies, prints one table and appends it, with the
# machine and the date, to tools/bench/RESULTS.md.
#
# Installs what is missing (Debian packages), builds into build/, then
# runs tools/bench/bench.py, which starts every server on 127.0.0.1
# ephemeral ports (the integration tests' fixtures) and stops them by
# process group. Method: docs/measuring.md (server CPU per request from
# schedstat, ab -c 16, ABBA rounds, geometric mean of per-round ratios). About 4 minutes on a 2-core machine, plus
# the installs on a fresh one; §7 also needs valgrind.
#
# Usage: tools/bench/run.sh [--no-install] [--no-record]
# Environment: BENCH_ROUNDS (default 4), BENCH_SCALE (request counts x F,
# default 1), BENCH_SECTIONS (default 1,2,3,4,5,6,7,8,9,10).
set -euo pipefail
cd "$(dirname "$0")/../.."
NM_ROOT=$PWD
# shellcheck source=SCRIPTDIR/../deps.sh
. "$NM_ROOT/tools/deps.sh"

install=1
record=1
for arg in "$@"; do
    case $arg in
    --no-install) install=0 ;;
    --no-record) record=0 ;;
    *)
        echo "usage: tools/bench/run.sh [--no-install] [--no-record]" >&2
        exit 2
        ;;
    esac
done

BENCH_PACKAGES=(apache2-utils wrk nginx-light varnish busybox redis-server
    curl python3 valgrind)
if [ $install -eq 1 ]; then
    nm_install_missing "${NM_BUILD_PACKAGES[@]}" "${BENCH_PACKAGES[@]}"
fi
for tool in ab nginx varnishd busybox redis-server python3 valgrind; do
    command -v "$tool" >/dev/null || {
        echo "run.sh: $tool is missing (run without --no-install)" >&2
        exit 1
    }
done

echo "== build ==" >&2
nm_build build

WORK=$(mktemp -d /tmp/notmod-bench.XXXXXX)
bench_pid=""
cleanup() {
    # bench.py stops its servers on TERM; the process groups it recorded
    # are stopped here too, in case it could not.
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM "$bench_pid" 2>/dev/null || true
        wait "$bench_pid" 2>/dev/null || true
    fi
    if [ -f "$WORK/pgids" ]; then
        while read -r pgid; do
            kill -KILL -- "-$pgid" 2>/dev/null || true
        done <"$WORK/pgids"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
# The whole measurement is bounded: 15 minutes at most, whatever hangs.
timeout --signal=TERM --kill-after=20 900 \
    python3 tools/bench/bench.py --build build --work "$WORK" \
    --rounds "${BENCH_ROUNDS:-4}" --scale "${BENCH_SCALE:-1}" \
    --sections "${BENCH_SECTIONS:-1,2,3,4,5,6,7,8,9,10}" --out "$WORK/table.md" &
bench_pid=$!
wait "$bench_pid"
bench_pid=""
elapsed=$(($(date +%s) - started))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
section() {
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — $(git rev-parse --short HEAD)"
    echo
    echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)." \
        "Servers: $(nginx -v 2>&1 | sed 's/.*: //'), $(varnishd -V 2>&1 |
            sed -n 's/^varnishd (\([^ ]*\) .*/\1/p'), busybox" \
        "$(busybox | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p'), redis" \
        "$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')."
    echo "Rounds: ${BENCH_ROUNDS:-4} (ABBA), request counts x${BENCH_SCALE:-1}," \
        "ab -c 16; measurement took ${elapsed} s; load average" \
        "${load_before} before, ${load_after} after (other jobs share the" \
        "machine: ratios are what to read)."
    echo
    cat "$WORK/table.md"
}
section
if [ $record -eq 1 ]; then
    section >>tools/bench/RESULTS.md
    echo "run.sh: appended to tools/bench/RESULTS.md" >&2
fi
