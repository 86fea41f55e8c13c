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
    mandoc man-db "${NM_COMPAT_PACKAGES[@]}" "${NM_TLS_PACKAGES[@]}")

[ "${1:-}" = "--no-install" ] ||
    nm_install_missing "${NM_BUILD_PACKAGES[@]}" "${NM_PACKAGE_PACKAGES[@]}" \
        "${TEST_PACKAGES[@]}"

JOBS=$(nproc)
status=0

echo "== build (normal) =="
nm_build build
echo "== build (Release: -O3, what a user's first optimised build gets) =="
nm_build build-release -DCMAKE_BUILD_TYPE=Release
echo "== build (ASan+UBSan) =="
nm_build build-asan -DNOTMOD_SANITIZE=ON
echo "== build (Debian package, build-pkg/) =="
# test_package installs it with dpkg -i (as root) and removes it again.
tools/package.sh --no-install >/dev/null

echo "== man pages (mandoc -Tlint, man --warnings) =="
# Warnings and errors fail; mandoc's style notes do not (they include
# "referenced manual not found" for pages not installed on this machine).
for page in docs/man/*.[1-8]; do
    if ! mandoc -Tlint -Wwarning "$page"; then
        status=1
    fi
    warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 \
        >/dev/null)
    if [ -n "$warnings" ]; then
        echo "$page: $warnings"
        status=1
    fi
done

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

echo "== layers (shim/: no loop, no upward arrow, one way to libc) =="
python3 tools/layers.py || status=1

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
