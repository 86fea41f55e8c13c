"""TLS fixtures of the TLS suite (test_tls.py): a self-signed certificate
made for the run, the servers of the compatibility suite serving HTTPS
with their own libssl, and a client that speaks raw HTTP/1.x inside TLS.

Servers (each from its Debian package, validators off where the server has
a switch, on a 127.0.0.1 ephemeral port, stopped by process group):
  Apache 2.4 prefork + mod_cgi and event + mod_cgid, with mod_ssl
  nginx with `ssl` (sendfile on; kTLS when the kernel has it, see ktls_why)
  lighttpd with mod_openssl and mod_cgi
  python3 http.server with its sockets wrapped by ssl (apps/tls_http_server.py)
"""

import os
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import time

import compat_servers as cs
import servers
import wire

HERE = os.path.dirname(os.path.abspath(__file__))
APPS_DIR = os.path.join(HERE, "apps")


def make_cert(d):
    """A self-signed RSA certificate for 127.0.0.1 (subjectAltName IP) in
    d; returns (cert path, key path)."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(d, 0o755)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)  # test-only key; servers that drop root read it
    return cert, key


def ktls_why():
    """None when this kernel can do kTLS (the TCP `tls` upper-layer
    protocol), else the reason it cannot."""
    if os.path.exists("/proc/net/tls_stat"):
        return None
    a = socket.socket()
    srv = socket.socket()
    try:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        a.connect(srv.getsockname())
        a.setsockopt(socket.SOL_TCP, 31, b"tls")  # TCP_ULP
        return None
    except OSError as e:
        return ("the kernel has no `tls` module (TCP_ULP \"tls\": %s; no "
                "/proc/net/tls_stat), so nginx never calls SSL_sendfile" %
                (e.strerror or e))
    finally:
        a.close()
        srv.close()


class TlsMixin:
    """A server speaking HTTPS with cls-level cert/key (set by the test
    before start)."""

    scheme = "https"
    cert = key = None

    def url(self, path="/"):
        return "https://127.0.0.1:%d%s" % (self.port, path)


class ApacheTlsServer(TlsMixin, cs.ApacheServer):
    """Apache 2.4 with mod_ssl on its one Listen (a static file with
    FileETag None; CGIs through mod_cgi or mod_cgid), a shmcb session
    cache and session tickets, TLS 1.2 and 1.3."""

    def __init__(self, docroot, dynamic="cgid", **kw):
        super().__init__(docroot, dynamic=dynamic, **kw)
        self.name += "-tls"

    def command(self):
        cmd = super().command()
        with open(os.path.join(self.tmp, "httpd.conf"), "a") as f:
            f.write("""
LoadModule ssl_module %(m)s/mod_ssl.so
LoadModule socache_shmcb_module %(m)s/mod_socache_shmcb.so
SSLEngine on
SSLCertificateFile %(cert)s
SSLCertificateKeyFile %(key)s
SSLProtocol TLSv1.2 +TLSv1.3
SSLSessionCache shmcb:%(t)s/ssl_scache(512000)
SSLSessionTickets on
""" % {"m": cs.APACHE_MODULES, "cert": self.cert, "key": self.key,
                "t": self.tmp})
        return cmd


class NginxTlsServer(TlsMixin, servers.NginxServer):
    """nginx without validators on `listen ... ssl` (sendfile on, as the
    harness configures it), a shared session cache and tickets. http2:
    `listen ... ssl http2`, so a client offering h2 gets it. ktls:
    `ssl_conf_command Options KTLS` (only where ktls_why() is None)."""

    binary = "nginx"

    def __init__(self, docroot, http2=False, ktls=False, extra_server="",
                 **kw):
        super().__init__(docroot, validators="off", **kw)
        self.http2 = http2
        self.ktls = ktls
        self.extra_tls = extra_server
        self.name = "nginx-tls" + ("-h2" if http2 else "") + \
            ("-ktls" if ktls else "")

    def write_conf(self):
        self.extra_server = """ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:1m;
        ssl_session_tickets on;
        %s
        %s""" % (self.cert, self.key,
                 "ssl_conf_command Options KTLS;" if self.ktls else "",
                 self.extra_tls)
        super().write_conf()
        with open(self.conf_path()) as f:
            conf = f.read()
        conf = re.sub(r"listen 127\.0\.0\.1:(\d+);",
                      r"listen 127.0.0.1:\1 ssl%s;" %
                      (" http2" if self.http2 else ""), conf)
        with open(self.conf_path(), "w") as f:
            f.write(conf)


class LighttpdTlsServer(TlsMixin, servers.Server):
    """lighttpd with mod_openssl (static-file ETags off) and mod_cgi for
    /cgi-bin/."""

    name = "lighttpd-tls"
    binary = "lighttpd"

    def command(self):
        conf = os.path.join(self.tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write("""server.modules = ("mod_openssl", "mod_cgi")
server.document-root = "%(root)s"
server.port = %(port)d
server.bind = "127.0.0.1"
server.errorlog = "%(t)s/error.log"
server.max-keep-alive-requests = 1000
static-file.etags = "disable"
ssl.engine = "enable"
ssl.pemfile = "%(cert)s"
ssl.privkey = "%(key)s"
ssl.openssl.ssl-conf-cmd = ("MinProtocol" => "TLSv1.2")
mimetype.assign = (".txt" => "text/plain", ".html" => "text/html",
                   ".bin" => "application/octet-stream")
$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ("" => "") }
""" % {"root": self.docroot, "port": self.port, "t": self.tmp,
                "cert": self.cert, "key": self.key})
        return ["lighttpd", "-D", "-f", conf]

    def log_paths(self):
        return super().log_paths() + [os.path.join(self.tmp, "error.log")]


class PythonTlsServer(TlsMixin, servers.Server):
    """python3 http.server, threads, HTTP/1.1 keep-alive, its sockets
    wrapped by ssl (apps/tls_http_server.py). alpn: the protocols it
    selects from; allow_reneg: a client may renegotiate (TLS 1.2)."""

    name = "python-tls"
    binary = "python3"

    def __init__(self, docroot, alpn=None, allow_reneg=False, **kw):
        self.alpn = alpn
        self.allow_reneg = allow_reneg
        super().__init__(docroot, **kw)
        if alpn:
            self.name += "-alpn"

    def command(self):
        cmd = ["python3", os.path.join(APPS_DIR, "tls_http_server.py"),
               str(self.port), self.docroot, self.cert, self.key]
        if self.alpn:
            cmd += ["--alpn", ",".join(self.alpn)]
        if self.allow_reneg:
            cmd.append("--allow-client-renegotiation")
        return cmd


# --------------------------------------------------------------------------
# the client: raw HTTP/1.x inside TLS, python's ssl (the same OpenSSL)

def client_context(version=None, alpn=None):
    """A client context that trusts anything (the certificate is the
    test's own), optionally pinned to one TLS version and offering ALPN."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TlsExchange(wire.Exchange):
    """wire.Exchange plus what the TLS layer said: version, whether the
    session was resumed, the ALPN protocol, and the session to resume."""

    def __init__(self):
        super().__init__()
        self.version = None
        self.session = None
        self.session_reused = False
        self.alpn = None


def tls_exchange(port, requests, pipelined=False, ctx=None, session=None,
                 timeout=5.0, linger=0.05, until_eof=False):
    """wire.exchange's behaviour inside TLS: the requests on one
    connection, one at a time (each waits for its response) or all in one
    write; reads until each has a final response or the server closes,
    then `linger` seconds for stray bytes. until_eof: read to the server's
    close without framing each record on the way (a big body arrives in
    16 KiB records: framing the whole buffer after each would be
    quadratic)."""
    ctx = ctx or client_context()
    ex = TlsExchange()
    methods = [r.method for r in requests]
    buf = bytearray()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(raw, session=session)

    def n_final():
        try:
            rs, _ = wire.parse_responses(bytes(buf), methods, eof=False)
        except wire.FramingError:
            return -1
        return len([r for r in rs
                    if not (100 <= r.status < 200 and r.status != 101)])

    def read_until(count, deadline):
        while not ex.eof:
            if count is not None and not until_eof and n_final() >= count:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                ex.error = "timeout waiting for response %s" % count
                return
            s.settimeout(left)
            try:
                data = s.recv(1 << 20)
            except (socket.timeout, TimeoutError):
                continue
            except (ConnectionResetError, ssl.SSLError) as e:
                ex.error = "connection error: %s" % e
                ex.eof = True
                return
            if not data:
                ex.eof = True
                return
            buf.extend(data)

    try:
        ex.version = s.version()
        ex.alpn = s.selected_alpn_protocol()
        wire.drive_requests(ex, requests, pipelined, s.sendall, read_until,
                            timeout, linger,
                            send_errors=(OSError, ssl.SSLError))
        # TLS 1.3 tickets arrive after the handshake: read by now
        ex.session = s.session
        ex.session_reused = s.session_reused
    finally:
        s.close()
    ex.raw = bytes(buf)
    try:
        ex.responses, ex.leftover = wire.parse_responses(ex.raw, methods,
                                                            eof=ex.eof)
    except wire.FramingError as e:
        ex.error = (ex.error or "") + " framing: %s" % e
    return ex


def slow_reader_exchange(port, requests, stall=1.0, rcvbuf=4096,
                         timeout=30.0):
    """The requests pipelined on one TLS connection by a client with a
    small receive buffer that reads nothing for `stall` seconds, then
    reads to the server's close: the server's writes (and the shim's own)
    find the socket full and must be retried. The last request should ask
    the server to close."""
    ex = TlsExchange()
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    raw.connect(("127.0.0.1", port))
    s = client_context().wrap_socket(raw)
    buf = bytearray()
    try:
        ex.version = s.version()
        s.sendall(b"".join(r.to_bytes() for r in requests))
        time.sleep(stall)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(16384)
            except (ConnectionResetError, ssl.SSLError) as e:
                ex.error = "connection error: %s" % e
                break
            if not data:
                break
            buf.extend(data)
        else:
            ex.error = "timeout: the server did not close"
        ex.eof = True
    finally:
        s.close()
    ex.raw = bytes(buf)
    try:
        ex.responses, ex.leftover = wire.parse_responses(
            ex.raw, [r.method for r in requests], eof=True)
    except wire.FramingError as e:
        ex.error = (ex.error or "") + " framing: %s" % e
    return ex


def tls_raw_session(port, data, pieces=None, piece_delay=0.0, shut_wr=False,
                    timeout=5.0):
    """wire.raw_session inside TLS: `data` on a fresh TLS connection (all
    at once, or `pieces` bytes per record with `piece_delay` seconds
    between), reading everything until the server closes or `timeout`
    seconds pass; shut_wr: shutdown(SHUT_WR) of the socket after the last
    byte (no close_notify: a client that half-closes its TCP). One thread,
    a non-blocking loop: an SSL object is not for two threads at once."""
    res = wire.RawSession()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = client_context().wrap_socket(raw)
    s.setblocking(False)
    step = pieces or (1 << 16)
    chunks = [data[i:i + step] for i in range(0, len(data), step)]
    ci, pos, next_at = 0, 0, 0.0
    buf = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while not (res.eof or res.reset):
            now = time.monotonic()
            if now >= deadline:
                res.timed_out = True
                break
            sending = ci < len(chunks) and now >= next_at
            select.select([s], [s] if sending else [], [],
                          min(deadline - now, 0.02))
            if sending:
                try:
                    pos += s.send(chunks[ci][pos:])
                    if pos >= len(chunks[ci]):
                        ci, pos = ci + 1, 0
                        next_at = time.monotonic() + (
                            piece_delay if pieces else 0)
                        if ci == len(chunks) and shut_wr:
                            half_close(s)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except (OSError, ssl.SSLError) as e:
                    res.send_error = e.__class__.__name__
                    ci = len(chunks)
            try:
                while True:
                    b = s.recv(1 << 20)
                    if not b:
                        res.eof = True
                        break
                    buf.extend(b)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except ssl.SSLEOFError:
                res.eof = True  # closed without close_notify
            except (ConnectionResetError, ssl.SSLError):
                res.reset = True
    finally:
        s.close()
    res.raw = bytes(buf)
    return res


def half_close(s):
    """shutdown(SHUT_WR) of the TCP under the TLS socket s, which keeps its
    SSL (SSLSocket.shutdown would drop it): through a duplicate of the fd,
    since shutdown acts on the connection."""
    with socket.fromfd(s.fileno(), socket.AF_INET, socket.SOCK_STREAM) as d:
        d.shutdown(socket.SHUT_WR)


def tls_rst_after(port, data, least):
    """Sends data over TLS, reads at least `least` bytes, then resets the
    TCP connection (SO_LINGER 0) with no TLS close. Returns bytes read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    s = client_context().wrap_socket(raw)
    s.sendall(data)
    got = 0
    while got < least:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))
    s.close()
    return got


def curl(url, headers=(), http2=False, tls_max=None, timeout=10):
    """curl over https (-k: the test's own certificate). Returns (status,
    head bytes, body bytes, the protocol curl says it spoke)."""
    cmd = ["curl", "-sk", "--max-time", str(timeout), "-D", "-",
           "-w", "\n%{http_version}", "-o", "/dev/stdout"]
    cmd.append("--http2" if http2 else "--http1.1")
    if tls_max:
        cmd += ["--tlsv" + tls_max, "--tls-max", tls_max]
    for k, v in headers:
        cmd += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(cmd + [url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=timeout + 5).stdout
    out, _, proto = out.rpartition(b"\n")
    end = out.find(b"\r\n\r\n")
    head, body = (out[:end + 4], out[end + 4:]) if end >= 0 else (out, b"")
    m = re.match(rb"HTTP/[\d.]+ (\d+)", head)
    return (int(m.group(1)) if m else 0), head, body, proto.decode()


def s_client(port, script, tls12=False, timeout=10):
    """openssl s_client fed `script`: a list of byte strings to type and
    seconds to wait (an "R\\n" line renegotiates, TLS 1.2 only).
    Returns everything it printed (its diagnostics go to stderr).
    Without "R" it reads until the server closes (-quiet implies -ign_eof:
    the end of its stdin must not race the response); "R" is only read
    when s_client ends at the end of its input, so that script ends with
    a wait."""
    is_reneg = any(x == b"R\n" for x in script)
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + (
        ["-brief", "-no_ign_eof"] if is_reneg else ["-quiet"])
    if tls12:
        cmd.append("-tls1_2")
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    import threading
    got = bytearray()

    def reader():
        while True:
            b = p.stdout.read1(65536)
            if not b:
                return
            got.extend(b)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for item in script:
            if isinstance(item, (int, float)):
                time.sleep(item)
            else:
                p.stdin.write(item)
                p.stdin.flush()
        p.stdin.close()
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    t.join(timeout)
    err = p.stderr.read()
    p.stderr.close()
    p.stdout.close()
    return bytes(got), err


def have(binary_or_path):
    return os.path.exists(binary_or_path) if binary_or_path.startswith("/") \
        else shutil.which(binary_or_path) is not None
