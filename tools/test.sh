#!/usr/bin/env bash
# tools/test.sh - the one command that installs what is missing, builds
# notmod normally and with ASan+UBSan, runs every test and cppcheck.
# Exits non-zero on any failure. Usage: tools/test.sh [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PACKAGES=(build-essential cmake pkg-config libxxhash-dev libcmocka-dev
    libhiredis-dev libevent-dev libpcap-dev libhttp-parser-dev cppcheck
    clang-format curl python3 redis-server busybox nginx-light lighttpd
    tcpdump clang libclang-rt-14-dev)

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "test.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    # The packaged services must not start on install: tests start their own.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

[ "${1:-}" = "--no-install" ] || install_missing

JOBS=$(nproc)
status=0

build() { # dir, extra cmake args...
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$ROOT/$dir" -j "$JOBS" -- --no-print-directory >/dev/null
}

echo "== build (normal) =="
build build
echo "== build (ASan+UBSan) =="
build build-asan -DNOTMOD_SANITIZE=ON

echo "== tests (ASan+UBSan: unit) =="
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$JOBS") || status=1

echo "== tests (normal: unit + integration) =="
(cd build && ctest --output-on-failure -j "$JOBS") || status=1

# libFuzzer needs clang and its runtime; skipped (said so) without them.
if command -v clang >/dev/null 2>&1 &&
    dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null |
    grep -q "ok installed"; then
    echo "== fuzz (short) =="
    tools/fuzz.sh --short || status=1
else
    echo "== fuzz: skipped (clang or libclang-rt-14-dev missing) =="
fi

echo "== cppcheck =="
if ! cppcheck --quiet --error-exitcode=1 --std=c11 \
    --enable=warning,performance,portability --inline-suppr \
    --suppress=missingIncludeSystem -I common \
    common shim daemon tools 2>&1; then
    status=1
fi

if [ $status -ne 0 ]; then
    echo "test.sh: FAILED"
else
    echo "test.sh: all passed"
fi
exit $status
