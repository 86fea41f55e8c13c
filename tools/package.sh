#!/usr/bin/env bash
# tools/package.sh - builds the Debian package into build-pkg/: a Release
# build configured for /usr (so the shim lands in /usr/lib/<multiarch>/ and
# notmodctl looks for it there), then `cpack -G DEB`, which takes the
# dependencies from the binaries' shared libraries (dpkg-shlibdeps).
# Prints the path of the .deb. Usage: tools/package.sh [--no-install]
#   sudo dpkg -i build-pkg/notmod_*.deb     # install
#   sudo dpkg --purge notmod                # remove, leaving nothing behind
set -euo pipefail
cd "$(dirname "$0")/.."
NM_ROOT=$PWD
# shellcheck source=tools/deps.sh
. "$NM_ROOT/tools/deps.sh"

[ "${1:-}" = "--no-install" ] ||
    nm_install_missing "${NM_BUILD_PACKAGES[@]}" "${NM_PACKAGE_PACKAGES[@]}"

OUT=$NM_ROOT/build-pkg
cmake -S "$NM_ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX=/usr -DNOTMOD_WERROR=ON -DNOTMOD_SANITIZE=OFF \
    >/dev/null
# Only what the package holds: the tests and benchmarks are not shipped.
cmake --build "$OUT" -j "$(nproc)" --target notmod notmodd notmodctl \
    manpages -- --no-print-directory >/dev/null
rm -f "$OUT"/notmod_*.deb
(cd "$OUT" && cpack -G DEB >cpack.log 2>&1) || {
    cat "$OUT/cpack.log" >&2
    exit 1
}
ls "$OUT"/notmod_*.deb
