#!/usr/bin/env bash
# tools/test.sh - the one command that installs what is missing, builds
# notmod normally and with ASan+UBSan, runs every test and cppcheck.
# Exits non-zero on any failure. Usage: tools/test.sh [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NM_ROOT=$ROOT
# shellcheck source=tools/deps.sh
. "$ROOT/tools/deps.sh"
TEST_PACKAGES=(cppcheck clang-format curl python3 redis-server busybox
    nginx-light lighttpd tcpdump wrk apache2-utils clang libclang-rt-14-dev
    "${NM_COMPAT_PACKAGES[@]}")

[ "${1:-}" = "--no-install" ] ||
    nm_install_missing "${NM_BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"

JOBS=$(nproc)
status=0

echo "== build (normal) =="
nm_build build
echo "== build (Release: -O3, what a user's first optimised build gets) =="
nm_build build-release -DCMAKE_BUILD_TYPE=Release
echo "== build (ASan+UBSan) =="
nm_build build-asan -DNOTMOD_SANITIZE=ON

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

echo "== clang-format =="
# shellcheck disable=SC2046
if ! clang-format --dry-run -Werror $(git ls-files '*.c' '*.h' 2>/dev/null) \
    >/dev/null 2>&1; then
    echo "clang-format: these files need formatting:"
    for f in $(git ls-files '*.c' '*.h'); do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "  $f"
    done
    status=1
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
