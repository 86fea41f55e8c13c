# tools/deps.sh - sourced by demo.sh and test.sh: installs the Debian
# packages a script needs, only those missing, without prompting.

# nm_install_missing PACKAGE...
nm_install_missing() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    # RUNLEVEL=1 keeps packaged services (nginx, redis) from starting:
    # the scripts start their own on ephemeral ports.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The servers of the compatibility suite (tests/integration/
# test_compat_servers.py, tools/compat.sh).
NM_COMPAT_PACKAGES=(apache2 libapache2-mod-php8.2 php-cgi php-fpm php-cli
    mini-httpd civetweb lighttpd nginx-light fcgiwrap webfs busybox python3
    h2o nodejs ruby ruby-webrick libhttp-daemon-perl gunicorn uwsgi-core
    uwsgi-plugin-python3 curl)

# The full run's extras (tools/compat.sh, not tools/test.sh): Tomcat 10
# and the compiler its Jasper needs for the JSPs (Debian's ecj).
NM_COMPAT_FULL_PACKAGES=(tomcat10 libecj-java)

# The TLS suite's extras (tests/integration/test_tls.py): Apache's mod_ssl
# and nginx's ssl come with their packages; lighttpd's is separate, and the
# openssl CLI makes the certificate and plays s_client.
NM_TLS_PACKAGES=(lighttpd-mod-openssl openssl)

# Packages needed to build notmod.
NM_BUILD_PACKAGES=(build-essential cmake pkg-config libxxhash-dev
    libcmocka-dev libhiredis-dev libevent-dev libpcap-dev libhttp-parser-dev
    libssl-dev)

# Packages tools/package.sh needs beyond the build's: dpkg-shlibdeps
# (dpkg-dev) and file(1), with which cpack works out the dependencies.
NM_PACKAGE_PACKAGES=(dpkg-dev file)

# nm_build DIR [CMAKE ARGS...]: configures and builds quietly into DIR.
nm_build() {
    local dir=$1
    shift
    cmake -S "$NM_ROOT" -B "$NM_ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DNOTMOD_WERROR=ON "$@" >/dev/null
    cmake --build "$NM_ROOT/$dir" -j "$(nproc)" -- --no-print-directory >/dev/null
}
