#!/usr/bin/env bash
# tools/compat.sh - the compatibility suite alone: installs the servers that
# are missing, builds the shim, starts every server bare and under the shim
# and prints the matrix it measured (the README's compatibility table).
# Usage: tools/compat.sh [--no-install] [unittest arguments, e.g. a class]
set -euo pipefail
cd "$(dirname "$0")/.."
NM_ROOT=$PWD
# shellcheck source=tools/deps.sh
. "$NM_ROOT/tools/deps.sh"
if [ "${1:-}" = "--no-install" ]; then
    shift
else
    nm_install_missing "${NM_BUILD_PACKAGES[@]}" "${NM_COMPAT_PACKAGES[@]}"
fi
nm_build build
NOTMOD_BUILD_DIR=$NM_ROOT/build PYTHONPATH=$NM_ROOT/tests/integration \
    PYTHONDONTWRITEBYTECODE=1 \
    exec python3 tests/integration/test_compat_servers.py "$@"
