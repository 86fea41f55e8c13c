#!/usr/bin/env bash
# tools/compat.sh - the compatibility suite, full run: installs the servers
# that are missing (Tomcat 10 too), builds the shim, starts every server
# bare and under the shim and prints the matrix it measured (the README's
# compatibility table), then stops and restarts every server under load
# (test_compat_restart.py) and prints how long its stops and reloads took.
# tools/test.sh runs a core of both (no Tomcat; four rows restarted).
# Usage: tools/compat.sh [--no-install] [unittest arguments, e.g. a class]
# (a Compat_* class runs in the matrix suite, a Restart_* one in the other)
set -euo pipefail
cd "$(dirname "$0")/.."
NM_ROOT=$PWD
# shellcheck source=tools/deps.sh
. "$NM_ROOT/tools/deps.sh"
if [ "${1:-}" = "--no-install" ]; then
    shift
else
    nm_install_missing "${NM_BUILD_PACKAGES[@]}" "${NM_COMPAT_PACKAGES[@]}" \
        "${NM_COMPAT_FULL_PACKAGES[@]}"
fi
nm_build build
export NOTMOD_BUILD_DIR=$NM_ROOT/build PYTHONPATH=$NM_ROOT/tests/integration \
    PYTHONDONTWRITEBYTECODE=1 NOTMOD_COMPAT_FULL=1
status=0
suites=(test_compat_servers test_compat_restart)
case "${1:-}" in
Compat_*) suites=(test_compat_servers) ;;
Restart_*) suites=(test_compat_restart) ;;
esac
for suite in "${suites[@]}"; do
    rc=0
    python3 "tests/integration/$suite.py" "$@" || rc=$?
    # 77: some rows skipped (a package missing), said above
    if [ $rc -ne 0 ] && [ $status -ne 1 ]; then
        status=$rc
    fi
done
exit $status
