#!/usr/bin/env bash
# tools/demo.sh - notmod in one command, on a fresh Debian 12 machine.
#
# Installs what is missing, builds, starts notmodd (embedded store), then a
# legacy server twice on 127.0.0.1: busybox httpd alone, and the same
# busybox under `notmodctl run`. It serves a 256 KiB static file and a CGI
# page that sends no validators at all. curl makes first requests and
# revalidations against both; a table shows status and bytes on the wire,
# then `notmodctl stats`. Everything started is stopped; takes seconds.
#
# Environment: NOTMOD_BUILD_DIR=DIR uses an existing build (no build step),
# NOTMOD_DEMO_NO_INSTALL=1 skips the package check (tests use both),
# NOTMOD_DEMO_INSTALLED=1 runs the installed Debian package's notmodd and
# notmodctl (/usr/sbin, /usr/bin) instead of a build: notmodctl run then
# preloads the installed libnotmod.so.
set -euo pipefail
cd "$(dirname "$0")/.."
NM_ROOT=$PWD
# shellcheck source=tools/deps.sh
. "$NM_ROOT/tools/deps.sh"

INSTALLED=${NOTMOD_DEMO_INSTALLED:-}
if [ "${NOTMOD_DEMO_NO_INSTALL:-}" != 1 ]; then
    if [ "$INSTALLED" = 1 ]; then
        nm_install_missing busybox curl
    else
        nm_install_missing "${NM_BUILD_PACKAGES[@]}" busybox curl
    fi
fi
if [ "$INSTALLED" = 1 ]; then
    NOTMODD=/usr/sbin/notmodd
    CTL=/usr/bin/notmodctl
    for f in "$NOTMODD" "$CTL"; do
        [ -x "$f" ] || {
            echo "demo: $f is not installed (dpkg -i the package first)" >&2
            exit 1
        }
    done
else
    if [ -n "${NOTMOD_BUILD_DIR:-}" ]; then
        BUILD=$NOTMOD_BUILD_DIR
    else
        echo "building notmod..."
        nm_build build
        BUILD=$NM_ROOT/build
    fi
    NOTMODD=$BUILD/notmodd
    CTL=$BUILD/notmodctl
fi

WORK=$(mktemp -d /tmp/notmod-demo.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# --- the legacy site: a static file and a CGI page, no validators ---------
DOC=$WORK/www
mkdir -p "$DOC/cgi-bin"
# 256 KiB of text: a manual, a firmware image, a report...
# (yes dies of SIGPIPE when head has enough: not a failure)
{ yes "notmod demo: this line stands for a large static document." || true; } |
    head -c 262144 >"$DOC/manual.txt"
cat >"$DOC/cgi-bin/report.cgi" <<CGI
#!/bin/sh
EDITION_FILE=$DOC/edition
# A legacy CGI: prints a page, knows nothing about validators.
echo "Content-Type: text/html"
echo ""
echo "<html><body><h1>Quarterly report</h1><pre>"
edition=\$(cat "\$EDITION_FILE")
i=0
while [ \$i -lt 600 ]; do
    echo "row \$i: widgets 1200, gadgets 340, sprockets 77, \$edition"
    i=\$((i + 1))
done
echo "</pre></body></html>"
CGI
chmod +x "$DOC/cgi-bin/report.cgi"
echo "edition 1" >"$DOC/edition"

# --- notmodd and two busybox servers ----------------------------------------
SOCK=$WORK/notmodd.sock
"$NOTMODD" --foreground --socket "$SOCK" >"$WORK/notmodd.log" 2>&1 &
PIDS+=($!)
export NOTMOD_SOCKET=$SOCK

# start_server NAME [notmodctl run --]: starts busybox httpd on a free port.
start_server() {
    local name=$1 port try
    shift
    for try in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        "$@" busybox httpd -f -p "127.0.0.1:$port" -h "$DOC" \
            >"$WORK/$name.log" 2>&1 &
        local pid=$!
        for _ in $(seq 50); do
            if curl -s -o /dev/null "http://127.0.0.1:$port/edition"; then
                PIDS+=("$pid")
                eval "${name}_PORT=$port"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
    done
    echo "demo: could not start busybox httpd ($name)" >&2
    exit 1
}
start_server BARE
start_server SHIM "$CTL" run --socket "$SOCK" --
for _ in $(seq 50); do
    "$CTL" status >/dev/null 2>&1 && break
    sleep 0.05
done

# fetch PORT PATH [curl args]: prints "status bytes etag".
fetch() {
    local port=$1 path=$2
    shift 2
    curl -s -o /dev/null -D "$WORK/head" \
        -w '%{http_code} %{size_header} %{size_download}\n' "$@" \
        "http://127.0.0.1:$port$path" >"$WORK/out"
    local code hb db etag
    read -r code hb db <"$WORK/out"
    etag=$(tr -d '\r' <"$WORK/head" | sed -n 's/^ETag: //Ip' | head -1)
    echo "$code $((hb + db)) ${etag:--}"
}

ROWS=()
# row LABEL PATH [curl args]: the same request to both servers.
row() {
    local label=$1 path=$2
    shift 2
    local b s
    b=$(fetch "$BARE_PORT" "$path" "$@")
    s=$(fetch "$SHIM_PORT" "$path" "$@")
    ROWS+=("$label|$b|$s")
}

echo "notmod demo: busybox httpd alone vs busybox httpd under notmodctl run"
echo "(notmodd: $NOTMODD; shim: $("$CTL" run -- printenv LD_PRELOAD))"
echo

# The CGI page: the shim adds a strong ETag, then answers If-None-Match.
TAG=$(fetch "$SHIM_PORT" /cgi-bin/report.cgi | cut -d' ' -f3)
row "CGI page, first GET" /cgi-bin/report.cgi
row "CGI page, revalidation (If-None-Match)" /cgi-bin/report.cgi \
    -H "If-None-Match: $TAG"
# The static file: busybox sends Last-Modified but ignores If-Modified-Since.
LM=$(curl -s -I "http://127.0.0.1:$BARE_PORT/manual.txt" | tr -d '\r' |
    sed -n 's/^Last-Modified: //Ip')
row "static 256 KiB, first GET" /manual.txt
row "static 256 KiB, revalidation (If-Modified-Since)" /manual.txt \
    -H "If-Modified-Since: $LM"
# The content changes: the old tag no longer matches, never a stale 304.
echo "edition 2" >"$DOC/edition"
row "CGI page changed, revalidation with old tag" /cgi-bin/report.cgi \
    -H "If-None-Match: $TAG"

printf '%-48s | %-20s | %-20s\n' "request" "busybox alone" "busybox + notmod"
printf '%-48s-+-%-20s-+-%-20s\n' "$(printf -- '-%.0s' {1..48})" \
    "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..20})"
saved_bare=0
saved_shim=0
for r in "${ROWS[@]}"; do
    IFS='|' read -r label b s <<<"$r"
    read -r bc bb _ <<<"$b"
    read -r sc sb _ <<<"$s"
    printf '%-48s | %3s %10s bytes | %3s %10s bytes\n' "$label" "$bc" "$bb" \
        "$sc" "$sb"
    case "$label" in
    *revalidation*) saved_bare=$((saved_bare + bb)) saved_shim=$((saved_shim + sb)) ;;
    esac
done
echo
echo "revalidations: $saved_bare bytes on the wire alone, $saved_shim with notmod" \
    "($((saved_bare - saved_shim)) bytes saved)"
echo "new tag after the change: $(fetch "$SHIM_PORT" /cgi-bin/report.cgi | cut -d' ' -f3) (was $TAG)"
echo
sleep 0.3 # let the last events reach notmodd
echo "notmodctl stats:"
"$CTL" stats | sed 's/^/  /'
