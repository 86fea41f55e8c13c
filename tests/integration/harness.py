"""Integration-test harness for notmod: real servers, a raw HTTP/1.x client,
curl helpers and the reference model of what the shim must do.

Every server runs on 127.0.0.1 on an ephemeral port, in its own process group,
with its docroot/config/logs under a private temp dir, and is stopped by PID
(the whole group) when the test class ends, even after a failure.

Environment:
  NOTMOD_BUILD_DIR      build dir holding libnotmod.so (default: <repo>/build)
  NOTMOD_TEST_NO_SHIM=1 start the "shimmed" instances bare; only assertions
                        that need a substitution then fail (proves the tests
                        can fail, and checks the harness against bare servers)
  NOTMOD_TEST_REFPROXY=1 put refproxy.py (a model of the shim) in front of a
                        bare server as the "shimmed" instance: tests the tests
  NOTMOD_TEST_KEEP_TMP=1 keep temp dirs (logs, configs) after the run
  NOTMOD_TEST_STRICT_CGI=1 require 304s also through python's exec'd CGIs
                        (status line from the server, the rest from the CGI);
                        by default an untouched pass-through is accepted there
  NOTMOD_TEST_VERBOSE=1 print each server's command line and log paths
"""

import atexit
import calendar
import email.utils
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("NOTMOD_BUILD_DIR") or os.path.join(REPO, "build")
SHIM_PATH = os.path.abspath(os.path.join(BUILD_DIR, "libnotmod.so"))
NO_SHIM = os.environ.get("NOTMOD_TEST_NO_SHIM") == "1"
# Test the tests: the "shimmed" instance is the bare server behind
# refproxy.py, a Python model of the shim (see that file).
REFPROXY = os.environ.get("NOTMOD_TEST_REFPROXY") == "1"
STRICT_CGI = os.environ.get("NOTMOD_TEST_STRICT_CGI") == "1"
VERBOSE = os.environ.get("NOTMOD_TEST_VERBOSE") == "1"
CGI_DIR = os.path.join(HERE, "cgi")

# A fixed past time for docroot files, so Last-Modified and the dates of
# conditional requests are deterministic: Sun, 13 Sep 2020 12:26:40 GMT.
T0 = 1600000000

# Fields a 304 must not carry (RFC 9110 §15.4.5, conformance.md).
DROPPED_IN_304 = {
    "content-type", "content-length", "content-encoding", "content-language",
    "content-range", "transfer-encoding", "accept-ranges",
    "content-disposition", "content-md5", "trailer",
}
# Fields a 304 must keep when the 200 had them (MUST list + state + framing).
KEPT_IN_304 = {
    "cache-control", "content-location", "date", "etag", "expires", "vary",
    "set-cookie", "connection", "keep-alive", "server",
}
SYNTH_ETAG_RE = re.compile(rb'^ETag: "nm-[A-Za-z0-9_-]{22}"$')


# --------------------------------------------------------------------------
# dates

def http_date(t):
    """IMF-fixdate."""
    return email.utils.formatdate(t, usegmt=True)


def rfc850_date(t):
    return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(t))


def asctime_date(t):
    tm = time.gmtime(t)
    return time.strftime("%a %b ", tm) + "%2d" % tm.tm_mday + \
        time.strftime(" %H:%M:%S %Y", tm)


def parse_http_date(s):
    """IMF-fixdate, RFC 850 or asctime -> unix time, or None if invalid."""
    s = s.strip()
    for fmt in ("%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                "%a %b %d %H:%M:%S %Y"):
        try:
            tm = time.strptime(re.sub(r"\s+", " ", s) if "%a %b" in fmt else s,
                               fmt)
        except ValueError:
            continue
        t = calendar.timegm(tm)
        if fmt.startswith("%A") and t > time.time() + 50 * 365 * 86400:
            t -= 100 * 365.2425 * 86400  # RFC 9110 §5.6.7 two-digit years
        return int(t)
    return None


# --------------------------------------------------------------------------
# processes and servers

_live = []


def _reap_all():
    for s in list(_live):
        s.stop()


atexit.register(_reap_all)


def _on_term(signum, frame):
    # ctest's timeout and `timeout` send SIGTERM: stop servers on the way out
    _reap_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_pair(cls):
    """Class fixture: cls.bare and cls.shim, instances of cls.server_cls
    (with cls.server_kw) on cls.docroot, started; on failure, what started
    is stopped and cls.base removed before the error goes on."""
    cls.bare = cls.shim = None
    try:
        # assigned before start(): stop_pair cleans up a half-started one
        cls.bare = cls.server_cls(cls.docroot, shim=False, tag="-bare",
                                  **cls.server_kw)
        cls.bare.start()
        cls.shim = cls.server_cls(cls.docroot, shim=True, tag="-shim",
                                  **cls.server_kw)
        cls.shim.start()
    except Exception:
        stop_pair(cls)
        raise


def stop_pair(cls):
    """Stops what start_pair started and removes cls.base."""
    for s in (cls.bare, cls.shim):
        if s is not None:
            s.cleanup()
    shutil.rmtree(cls.base, ignore_errors=True)


def wait_accepting(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def shim_preload():
    """LD_PRELOAD value that loads this build's shim (libasan first for the
    sanitizer build, see NOTMOD_TEST_ASAN_PRELOAD)."""
    asan = os.environ.get("NOTMOD_TEST_ASAN_PRELOAD")
    return (asan + " " if asan else "") + SHIM_PATH


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NOTMOD_") and k != "LD_PRELOAD"}
    return env


def shim_missing_message():
    return ("shim not built: %s does not exist (build it, or run with "
            "NOTMOD_TEST_NO_SHIM=1 to exercise the harness against bare "
            "servers)" % SHIM_PATH)


class Server:
    """A real server in its own process group and temp dir.

    shim: False = bare; True = under LD_PRELOAD=libnotmod.so with no daemon
    (NOTMOD_SOCKET/NOTMOD_SNAPSHOT point at nonexistent paths).
    shim_env: extra NOTMOD_* variables for the shimmed instance.
    """

    name = "server"
    keepalive = True        # can a connection carry several requests?
    has_etag = False        # does it send ETag for static files?

    def __init__(self, docroot, shim=False, shim_env=None, tag=""):
        self.docroot = os.path.abspath(docroot)
        self.want_shim = shim
        self.shim_active = shim and not NO_SHIM and not REFPROXY
        self.proxy = None
        self.shim_env = dict(shim_env or {})
        self.tmp = tempfile.mkdtemp(prefix="nm-%s%s-" % (self.name, tag))
        self.port = None
        self.proc = None
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")

    # subclasses
    def command(self):
        raise NotImplementedError

    def cwd(self):
        return self.tmp

    def env(self):
        env = clean_env()
        if self.shim_active:
            if not os.path.exists(SHIM_PATH):
                raise RuntimeError(shim_missing_message())
            # The sanitizer build's shim needs libasan first in LD_PRELOAD
            # (shim-pitfalls.md §5); its reports land in the server's
            # stderr log, which error_lines() checks.
            asan = os.environ.get("NOTMOD_TEST_ASAN_PRELOAD")
            env["LD_PRELOAD"] = shim_preload()
            if asan:
                env["ASAN_OPTIONS"] = "detect_leaks=0"
                env["UBSAN_OPTIONS"] = "print_stacktrace=1"
            env["NOTMOD_SOCKET"] = os.path.join(self.tmp, "no-daemon.sock")
            env["NOTMOD_SNAPSHOT"] = os.path.join(self.tmp, "no-daemon.snap")
            env.update(self.shim_env)
        return env

    def start(self, attempts=3):
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            cmd = self.command()
            if VERBOSE:
                print("harness: start %s (shim=%s): %s" %
                      (self.name, self.shim_active, " ".join(cmd)))
            with open(self.stdout_path, "ab") as out, \
                    open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(
                    cmd, cwd=self.cwd(), env=self.env(),
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    start_new_session=True)
            _live.append(self)
            if wait_accepting(self.port, self.proc):
                if self.want_shim and REFPROXY:
                    self.start_refproxy()
                return self
            self.stop()
            last = self.logs()
        raise RuntimeError("%s did not start; logs:\n%s" % (self.name, last))

    def start_refproxy(self):
        upstream, self.port = self.port, free_port()
        self.proxy = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "refproxy.py"),
             str(self.port), str(upstream)], env=dict(clean_env(),
                                                      PYTHONPATH=HERE),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, "refproxy.log"), "ab"),
            start_new_session=True)
        if not wait_accepting(self.port, self.proxy):
            raise RuntimeError("refproxy did not start")

    def stop(self):
        if self.proxy is not None:
            self.proxy.kill()
            self.proxy.wait()
            self.proxy = None
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if self in _live:
            _live.remove(self)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=3)
        # children (CGIs, nginx workers) may outlive the leader briefly
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def cleanup(self):
        self.stop()
        if os.environ.get("NOTMOD_TEST_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def logs(self):
        out = []
        for p in self.log_paths():
            try:
                with open(p, "rb") as f:
                    out.append("== %s ==\n%s" % (p, f.read().decode("latin-1")))
            except OSError:
                pass
        return "\n".join(out)

    def log_paths(self):
        return [self.stderr_path, self.stdout_path]

    # Lines that mean something went wrong, whatever the server.
    _generic_bad = re.compile(
        r"ld\.so|cannot be preloaded|AddressSanitizer|UndefinedBehavior|"
        r"runtime error|Segmentation|Traceback|Exception|notmod", re.I)

    def error_lines(self):
        bad = []
        for line in self.logs().splitlines():
            if line.startswith("== "):
                continue
            if self._generic_bad.search(line) or self.is_error_line(line):
                bad.append(line)
        return bad

    def is_error_line(self, line):
        return False


class PythonServer(Server):
    """python3 -m http.server: Last-Modified, no ETag, answers IMS itself
    (only when INM is absent).  protocol HTTP/1.1 gives keep-alive;
    cgi=True runs CGIHTTPRequestHandler (HTTP/1.0 only: CGI output has no
    length, so keep-alive would hang the client)."""

    name = "python"

    def __init__(self, docroot, cgi=False, **kw):
        self.cgi = cgi
        if cgi:
            self.name = "python-cgi"
            self.keepalive = False
        super().__init__(docroot, **kw)

    def command(self):
        cmd = ["python3", "-m", "http.server", "--bind", "127.0.0.1",
               "--directory", self.docroot]
        if self.cgi:
            cmd.append("--cgi")
        else:
            cmd += ["--protocol", "HTTP/1.1"]
        return cmd + [str(self.port)]

    def cwd(self):
        return self.docroot

    def is_error_line(self, line):
        # access-log lines and "code 404, message File not found" are normal
        return bool(re.search(r"code 5(?!01)\d\d|CGI script exit status", line))


class BusyboxServer(Server):
    """busybox httpd -f: ETag + Last-Modified for static files, answers
    If-None-Match itself (substring match), never IMS; one request per
    connection (always Connection: close); CGIs relayed through a pipe."""

    name = "busybox"
    keepalive = False
    has_etag = True

    def command(self):
        return ["busybox", "httpd", "-f", "-v", "-p",
                "127.0.0.1:%d" % self.port, "-h", self.docroot]

    def is_error_line(self, line):
        # -v logs one "ip:port: url:..." line per request, plus response codes
        return bool(re.search(r"response:5(?!01)\d\d|can.t|error", line, re.I))


class NginxServer(Server):
    """nginx in the foreground with its config, logs and temp paths in the
    temp dir.  validators: 'on' (default ETag + Last-Modified, answers IMS
    exactly-equal and INM itself), 'noims' (if_modified_since off: still sends
    both validators and still answers INM-only requests, but any request
    carrying If-Modified-Since gets the 200), 'off' (etag off;
    if_modified_since off; Last-Modified removed: no validators at all;
    nginx still answers If-None-Match: * itself)."""

    name = "nginx"
    has_etag = True

    def __init__(self, docroot, validators="on", workers=1, master=True,
                 extra_server="", **kw):
        self.validators = validators
        self.name = "nginx-" + validators
        self.has_etag = validators != "off"
        self.workers = workers
        self.master = master
        self.extra_server = extra_server
        super().__init__(docroot, **kw)

    def conf_path(self):
        return os.path.join(self.tmp, "nginx.conf")

    def error_log_path(self):
        return os.path.join(self.tmp, "error.log")

    def write_conf(self):
        t = self.tmp
        v = {"on": "",
             "noims": "if_modified_since off;",
             "off": 'etag off; if_modified_since off; '
                    'add_header Last-Modified "";'}[self.validators]
        conf = """
user root;
daemon off;
master_process %(master)s;
worker_processes %(workers)d;
error_log %(t)s/error.log info;
pid %(t)s/nginx.pid;
events { worker_connections 512; }
http {
    access_log %(t)s/access.log;
    client_body_temp_path %(t)s/body;
    proxy_temp_path %(t)s/proxy;
    fastcgi_temp_path %(t)s/fastcgi;
    uwsgi_temp_path %(t)s/uwsgi;
    scgi_temp_path %(t)s/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000;
    absolute_redirect off;  # Location without the port: same bytes on both instances
    types { text/plain txt; text/html html; application/octet-stream bin; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
        %(v)s
        %(extra)s
    }
}
""" % {"master": "on" if self.master else "off", "workers": self.workers,
           "t": t, "port": self.port, "root": self.docroot, "v": v,
           "extra": self.extra_server}
        with open(self.conf_path(), "w") as f:
            f.write(conf)

    def command(self):
        self.write_conf()
        return ["nginx", "-c", self.conf_path(), "-p", self.tmp + "/"]

    def log_paths(self):
        return super().log_paths() + [self.error_log_path()]

    def is_error_line(self, line):
        if re.search(r'open\(\) ".*" failed \(2: No such file', line):
            return False  # nginx logs every 404 at [error]
        return bool(re.search(r"\[(error|crit|alert|emerg)\]", line))


class LighttpdServer(Server):
    """lighttpd -D: ETag + Last-Modified, answers INM and IMS itself
    (also IMS dates in the future), keep-alive."""

    name = "lighttpd"
    has_etag = True

    def command(self):
        conf = os.path.join(self.tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write("""
server.document-root = "%s"
server.port = %d
server.bind = "127.0.0.1"
server.errorlog = "%s/error.log"
server.pid-file = "%s/lighttpd.pid"
server.max-keep-alive-requests = 1000
mimetype.assign = (".txt" => "text/plain", ".html" => "text/html",
                   ".bin" => "application/octet-stream")
""" % (self.docroot, self.port, self.tmp, self.tmp))
        return ["lighttpd", "-D", "-f", conf]

    def log_paths(self):
        return super().log_paths() + [os.path.join(self.tmp, "error.log")]

    def is_error_line(self, line):
        return ("(server.c" not in line and "server started" not in line
                and "server stopped" not in line and bool(line.strip()))


def have(binary):
    return shutil.which(binary) is not None


# --------------------------------------------------------------------------
# docroots

def make_docroot(base, cgi=False):
    """A docroot with deterministic files, all with mtime T0."""
    d = os.path.join(base, "docroot")
    os.makedirs(os.path.join(d, "dir"), exist_ok=True)
    os.makedirs(os.path.join(d, "meta"), exist_ok=True)
    # python's CGI handler drops to nobody before exec: make the path readable
    os.chmod(base, 0o755)
    os.chmod(d, 0o755)
    files = {
        "s.txt": deterministic_bytes(1024, 1, text=True),
        "index.html": b"<html><body>notmod test index</body></html>\n",
        "big.bin": deterministic_bytes(256 * 1024, 2),
        "dir/a.txt": b"a file in a directory\n",
        "empty.txt": b"",
        "meta/m.txt": b"meta test body\n" * 10,
    }
    for name, data in files.items():
        write_file(os.path.join(d, name), data, T0)
    if cgi:
        install_cgis(d)
    os.utime(os.path.join(d, "dir"), (T0, T0))
    return d


def write_file(path, data, mtime=None):
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def deterministic_bytes(n, seed, text=False):
    out = bytearray()
    x = seed * 2654435761 & 0xffffffff
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 \n"
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7fffffff
        out.append(alphabet[x % len(alphabet)] if text else (x >> 16) & 0xff)
    return bytes(out)


def install_cgis(docroot):
    dst = os.path.join(docroot, "cgi-bin")
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(CGI_DIR):
        p = os.path.join(dst, name)
        shutil.copy(os.path.join(CGI_DIR, name), p)
        os.chmod(p, 0o755)
    return dst


# --------------------------------------------------------------------------
# raw client and response framer

class Request:
    def __init__(self, method="GET", target="/", version="HTTP/1.1",
                 headers=(), body=b"", host=True):
        self.method = method
        self.target = target
        self.version = version
        self.headers = list(headers)
        self.body = body
        self.host = host

    def header(self, name):
        """All values of a field, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def has(self, name):
        return bool(self.header(name))

    def wants_close(self):
        conn = ",".join(self.header("Connection")).lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" not in conn
        return "close" in conn

    def to_bytes(self):
        lines = ["%s %s %s" % (self.method, self.target, self.version)]
        if self.host:
            lines.append("Host: 127.0.0.1")
        for k, v in self.headers:
            lines.append("%s: %s" % (k, v))
        if self.body and not any(k.lower() == "content-length"
                                 for k, _ in self.headers):
            lines.append("Content-Length: %d" % len(self.body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def __repr__(self):
        return "%s %s %s %r" % (self.method, self.target, self.version,
                                self.headers)


class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.status_line = b""
        self.header_lines = []   # raw field lines without terminator, in order
        self.headers = []        # (name, value) str pairs, in order
        self.head_raw = b""      # status line .. empty line, exact bytes
        self.body_raw = b""      # body bytes as framed on the wire
        self.body = b""          # de-chunked body
        self.framing = ""        # length | chunked | close | none
        self.complete = False

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def first(self, name):
        h = self.header(name)
        return h[0] if h else None

    @property
    def raw(self):
        return self.head_raw + self.body_raw

    def __repr__(self):
        return "<%d %s %s body=%d>" % (self.status, self.framing,
                                       self.headers, len(self.body))


class FramingError(Exception):
    pass


def _find_head_end(buf, start=0):
    """Index just past the empty line ending a head (CRLF or bare LF), or -1."""
    m = re.compile(rb"\n\r?\n").search(bytes(buf), start)
    return m.end() if m else -1


def parse_one(buf, method, eof):
    """Parse one response at the start of buf.  Returns (Response, consumed)
    or (None, 0) when more bytes are needed.  1xx interim responses are
    returned as their own Response (the caller keeps the method)."""
    end = _find_head_end(buf, 0)
    if end < 0:
        if eof and buf:
            raise FramingError("truncated head: %r" % buf[:200])
        return None, 0
    r = Response()
    r.head_raw = bytes(buf[:end])
    lines = re.split(rb"\r?\n", r.head_raw)
    r.status_line = lines[0]
    m = re.match(rb"^(HTTP/\d\.\d) (\d\d\d)(?: (.*))?$", r.status_line)
    if not m:
        raise FramingError("bad status line: %r" % r.status_line)
    r.version = m.group(1).decode()
    r.status = int(m.group(2))
    r.reason = (m.group(3) or b"").decode("latin-1")
    for line in lines[1:]:
        if not line:
            continue
        r.header_lines.append(line)
        k, _, v = line.partition(b":")
        r.headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    rest = buf[end:]
    te = ",".join(r.header("Transfer-Encoding")).lower()
    cl = r.header("Content-Length")
    if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
        r.framing = "none"
        r.complete = True
        return r, end
    if "chunked" in te:
        r.framing = "chunked"
        pos, body = 0, bytearray()
        while True:
            nl = rest.find(b"\n", pos)
            if nl < 0:
                if eof:
                    raise FramingError("truncated chunked body")
                return None, 0
            size_s = rest[pos:nl].split(b";")[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise FramingError("bad chunk size %r" % rest[pos:nl])
            pos = nl + 1
            if size == 0:
                # trailers up to an empty line
                while True:
                    nl = rest.find(b"\n", pos)
                    if nl < 0:
                        if eof:
                            raise FramingError("truncated trailers")
                        return None, 0
                    line = rest[pos:nl].rstrip(b"\r")
                    pos = nl + 1
                    if not line:
                        break
                break
            if len(rest) < pos + size + 1:
                if eof:
                    raise FramingError("truncated chunk")
                return None, 0
            body += rest[pos:pos + size]
            pos += size
            if rest[pos:pos + 2] == b"\r\n":
                pos += 2
            elif rest[pos:pos + 1] == b"\n":
                pos += 1
            elif len(rest) < pos + 2 and not eof:
                return None, 0
            else:
                raise FramingError("chunk not followed by CRLF")
        r.body_raw = bytes(rest[:pos])
        r.body = bytes(body)
        r.complete = True
        return r, end + pos
    if cl:
        n = int(cl[0].strip())
        if len(rest) < n:
            if eof:
                raise FramingError("truncated body: %d of %d" % (len(rest), n))
            return None, 0
        r.framing = "length"
        r.body_raw = r.body = bytes(rest[:n])
        r.complete = True
        return r, end + n
    r.framing = "close"
    if not eof:
        return None, 0
    r.body_raw = r.body = bytes(rest)
    r.complete = True
    return r, len(buf)


def parse_responses(buf, methods, eof=True):
    """Frame all responses in buf for the request methods in order.
    Returns (responses, leftover bytes)."""
    out, pos, mi = [], 0, 0
    while pos < len(buf):
        method = methods[mi] if mi < len(methods) else "GET"
        r, used = parse_one(buf[pos:], method, eof)
        if r is None:
            break
        out.append(r)
        pos += used
        if not (100 <= r.status < 200 and r.status != 101):
            mi += 1
        if mi >= len(methods):
            break
    return out, bytes(buf[pos:])


class Exchange:
    """What one connection saw."""

    def __init__(self):
        self.raw = b""
        self.responses = []
        self.leftover = b""
        self.eof = False
        self.error = None
        self.timings = []   # (seconds since send, bytes so far) per recv

    def final(self):
        return [r for r in self.responses
                if not (100 <= r.status < 200 and r.status != 101)]

    def __repr__(self):
        return "<Exchange %d responses eof=%s leftover=%d error=%s>" % (
            len(self.responses), self.eof, len(self.leftover), self.error)


def exchange(port, requests, pipelined=False, split=None, split_delay=0.02,
             timeout=5.0, linger=0.05):
    """Run requests on one TCP connection.

    pipelined: send all request bytes at once (or split), then read.
    split: None, or a list of piece sizes; each request's bytes (or the
    pipelined batch) are sent in pieces of these sizes (the last size repeats),
    with split_delay seconds between pieces.
    Reads until every request has a final response or the server closes.
    After the last response, waits `linger` seconds (or until EOF when the
    last request asked to close) for stray bytes, which land in leftover.
    """
    ex = Exchange()
    methods = [r.method for r in requests]
    buf = bytearray()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()

    def send(data):
        if not split:
            s.sendall(data)
            return
        pos, i = 0, 0
        while pos < len(data):
            n = split[min(i, len(split) - 1)]
            s.sendall(data[pos:pos + n])
            pos += n
            i += 1
            if pos < len(data):
                time.sleep(split_delay)

    def n_final():
        rs, _ = parse_responses(bytes(buf), methods, eof=False)
        return len([r for r in rs
                    if not (100 <= r.status < 200 and r.status != 101)])

    def read_until(count, deadline):
        while not ex.eof:
            if count is not None and n_final() >= count:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                ex.error = "timeout waiting for response %s" % count
                return
            r, _, _ = select.select([s], [], [], left)
            if not r:
                continue
            try:
                data = s.recv(1 << 20)
            except ConnectionResetError:
                ex.error = "connection reset"
                ex.eof = True
                return
            if not data:
                ex.eof = True
                return
            buf.extend(data)
            ex.timings.append((time.monotonic() - t0, len(buf)))

    try:
        if pipelined:
            send(b"".join(r.to_bytes() for r in requests))
            read_until(len(requests), time.monotonic() + timeout)
        else:
            for i, req in enumerate(requests):
                if ex.eof:
                    break
                try:
                    send(req.to_bytes())
                except (BrokenPipeError, ConnectionResetError):
                    ex.error = "send failed on request %d" % i
                    break
                read_until(i + 1, time.monotonic() + timeout)
                if ex.error:
                    break
        if not ex.error and not ex.eof:
            if requests and requests[-1].wants_close():
                read_until(None, time.monotonic() + timeout)
                if ex.error and ex.error.startswith("timeout"):
                    ex.error = "server did not close after Connection: close"
            else:
                read_until(None, time.monotonic() + linger)
                if ex.error and ex.error.startswith("timeout"):
                    ex.error = None
    finally:
        s.close()
    ex.raw = bytes(buf)
    try:
        ex.responses, ex.leftover = parse_responses(ex.raw, methods, eof=ex.eof)
    except FramingError as e:
        ex.error = (ex.error or "") + " framing: %s" % e
    return ex


# --------------------------------------------------------------------------
# normalization

DATE_LINE_RE = re.compile(rb"(?im)^(Date:[ \t]*)[^\r\n]*")


def normalize_head(head):
    return DATE_LINE_RE.sub(rb"\1<DATE>", head)


def normalize(ex_or_raw):
    """Bytes of an exchange with every response head's Date value replaced.
    Only header blocks are touched, never bodies."""
    if isinstance(ex_or_raw, Exchange):
        ex = ex_or_raw
        return b"".join(normalize_head(r.head_raw) + r.body_raw
                        for r in ex.responses) + ex.leftover
    return DATE_LINE_RE.sub(rb"\1<DATE>", ex_or_raw)


def insert_line_before_end(head, line):
    """Head bytes with `line` added just before the empty line, using the
    head's own line ending."""
    if head.endswith(b"\r\n\r\n"):
        return head[:-2] + line + b"\r\n\r\n"
    if head.endswith(b"\n\n"):
        return head[:-1] + line + b"\n\n"
    if head.endswith(b"\r\n\n"):
        return head[:-1] + line + b"\n\n"
    raise ValueError("head does not end with an empty line")


# --------------------------------------------------------------------------
# the reference model: what the shim must do with one response

PASS, NOT_MODIFIED, EITHER = "pass", "304", "either"


def parse_etag_list(value):
    """Quote-aware list scanner (conformance.md).  Returns a list of
    (weak, opaque) tuples, '*' for a lone star, or None when malformed."""
    s = value
    i, n, out = 0, len(s), []
    saw_star = False
    while i < n:
        while i < n and s[i] in " \t,":
            i += 1
        if i >= n:
            break
        if s[i] == "*":
            saw_star = True
            i += 1
        else:
            weak = False
            if s.startswith("W/", i):
                weak = True
                i += 2
            if i >= n or s[i] != '"':
                return None
            j = i + 1
            while j < n and s[j] != '"':
                c = ord(s[j])
                if not (c == 0x21 or 0x23 <= c <= 0x7e or c >= 0x80):
                    return None
                j += 1
            if j >= n:
                return None
            out.append((weak, s[i + 1:j]))
            i = j + 1
        while i < n and s[i] in " \t":
            i += 1
        if i < n and s[i] != ",":
            return None
    if saw_star:
        return "*" if not out else None
    return out


def etag_of(resp):
    v = resp.first("ETag")
    if v is None:
        return None
    lst = parse_etag_list(v)
    if not lst or lst == "*" or len(lst) != 1:
        return None
    return lst[0]


def expected_action(req, resp, synth="off", now=None):
    """The shim's decision for the bare server's response `resp` to `req`
    (RFC 9110 §13.2.2 as narrowed by DESIGN.md).

    synth: 'off'      only server validators count (issue 3);
           'optional' the shim may or may not add an nm- ETag (a request whose
                      outcome depends on it gives EITHER);
           'required' the shim adds one to every eligible 200 (issue 4).
    """
    now = time.time() if now is None else now
    if resp.status != 200 or req.method not in ("GET", "HEAD"):
        return PASS
    tag = etag_of(resp)
    lm = parse_http_date(resp.first("Last-Modified") or "")
    has_validator = tag is not None or lm is not None
    # 1. If-Match (strong comparison); no 304 when it fails or is doubtful
    im = req.header("If-Match")
    if im:
        lst = parse_etag_list(", ".join(im))
        if lst is None:
            return PASS
        if lst != "*":
            if tag is None or tag[0] or not any(
                    not w and o == tag[1] for w, o in lst):
                return PASS
    else:
        ius = req.header("If-Unmodified-Since")
        if len(ius) == 1:
            d = parse_http_date(ius[0])
            if d is not None and (lm is None or lm > d):
                return PASS
    # 2. If-None-Match
    inm = req.header("If-None-Match")
    if inm:
        lst = parse_etag_list(", ".join(inm))
        if lst is None or lst == []:
            return PASS
        if lst == "*":
            if has_validator or synth == "required":
                return NOT_MODIFIED
            return EITHER if synth == "optional" else PASS
        if tag is not None:
            return NOT_MODIFIED if any(o == tag[1] for _, o in lst) else PASS
        # no server tag: only a synthesized one could match, and tests only
        # send real nm- tags on purpose
        if synth != "off" and any(o.startswith("nm-") for _, o in lst):
            return EITHER if synth == "optional" else NOT_MODIFIED
        return PASS
    # 3. If-Modified-Since
    ims = req.header("If-Modified-Since")
    if len(ims) == 1 and lm is not None:
        d = parse_http_date(ims[0])
        if d is not None and d <= now and lm <= d:
            return NOT_MODIFIED
    return PASS


def may_gain_synth_etag(req, resp):
    """Could the issue-4 shim add an nm- ETag to this bare response?"""
    return (resp.status == 200 and req.method in ("GET", "HEAD")
            and resp.first("ETag") is None)


def check_304_shape(resp304, bare200, synth_tag_line=None):
    """Problems (list of strings) with a substituted 304 compared with the
    bare 200 it replaces.  synth_tag_line: the nm- ETag line the shim would
    have added to the 200 (issue 4), or None."""
    probs = []
    if resp304.status != 304:
        return ["status %d, expected 304" % resp304.status]
    want_status = bare200.version.encode() + b" 304 Not Modified"
    if resp304.status_line != want_status:
        probs.append("status line %r, expected %r" % (resp304.status_line,
                                                      want_status))
    if resp304.body_raw:
        probs.append("304 has body bytes %r" % resp304.body_raw[:80])
    src = list(bare200.header_lines)
    if synth_tag_line is not None:
        src.append(synth_tag_line)
    src_names = [l.partition(b":")[0].strip().lower().decode("latin-1")
                 for l in src]
    has_tag = any(n == "etag" for n in src_names)
    got = list(resp304.header_lines)
    # A close-delimited HTTP/1.1 200 said "close" by closing; its 304 must
    # say it in words (RFC 9112 §9.6), else the client reuses the connection.
    says_close = any(n == "connection" and b"close" in l.lower()
                     for l, n in zip(src, src_names))
    if bare200.framing == "close" and bare200.version == "HTTP/1.1" and \
            not says_close:
        closes = [l for l in got if l.lower() == b"connection: close"]
        if len(closes) != 1:
            probs.append("304 replacing a close-delimited 200 lacks "
                         "exactly one 'Connection: close'")
        for l in closes:
            got.remove(l)
    # RFC 9110 §6.6.1: an origin with a clock sends Date; the shim may add
    # one (IMF-fixdate, now) when the 200 had none
    if "date" not in src_names:
        dates = [l for l in got if l.lower().startswith(b"date:")]
        if len(dates) > 1:
            probs.append("304 has %d Date lines" % len(dates))
        for l in dates:
            v = l.partition(b":")[2].strip().decode("latin-1")
            t = parse_http_date(v)
            if t is None or v != http_date(t) or abs(t - time.time()) > 300:
                probs.append("304 adds a Date that is not IMF-fixdate now: "
                             "%r" % l)
            got.remove(l)
    # every 304 line must be one of the 200's lines, in the 200's order
    j = 0
    norm = lambda l: normalize_head(l)
    for line in got:
        while j < len(src) and norm(src[j]) != norm(line):
            j += 1
        if j >= len(src):
            probs.append("304 line %r is not a line of the 200 (in order)"
                         % line)
            break
        j += 1
    got_norm = [norm(l) for l in got]
    for line, name in zip(src, src_names):
        present = norm(line) in got_norm
        if name in DROPPED_IN_304 and present:
            probs.append("304 keeps %r" % line)
        elif name in KEPT_IN_304 and not present:
            probs.append("304 lost %r" % line)
        elif name == "last-modified" and not has_tag and not present:
            probs.append("304 lost %r (no ETag to replace it)" % line)
    return probs


# --------------------------------------------------------------------------
# curl

class CurlResult:
    def __init__(self, rc, heads, body, stderr):
        self.rc = rc
        self.heads = heads      # list of (status, [(name, value)]) per response
        self.body = body
        self.stderr = stderr

    @property
    def status(self):
        return self.heads[-1][0] if self.heads else 0

    def header(self, name, i=-1):
        return [v for k, v in self.heads[i][1] if k.lower() == name.lower()]

    def __repr__(self):
        return "<curl rc=%d %s>" % (self.rc, self.heads)


def curl(args, timeout=20):
    """Run curl -sS with -D/-o to temp files; return a CurlResult."""
    with tempfile.TemporaryDirectory(prefix="nm-curl-") as d:
        hdr, body = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-D", hdr,
               "-o", body] + list(args)
        p = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
        heads = []
        if os.path.exists(hdr):
            with open(hdr, "rb") as f:
                for block in re.split(rb"\r?\n\r?\n", f.read()):
                    lines = block.splitlines()
                    if not lines:
                        continue
                    m = re.match(rb"HTTP/\S+ (\d+)", lines[0])
                    if not m:
                        continue
                    hs = []
                    for l in lines[1:]:
                        k, _, v = l.partition(b":")
                        hs.append((k.decode("latin-1"),
                                   v.strip().decode("latin-1")))
                    heads.append((int(m.group(1)), hs))
        data = b""
        if os.path.exists(body):
            with open(body, "rb") as f:
                data = f.read()
        return CurlResult(p.returncode, heads, data,
                          p.stderr.decode("latin-1"))


# --------------------------------------------------------------------------
# request sequences, and the bare-vs-shim comparison

class Sequence:
    """Requests sent on one connection (or one connection per request when
    the server cannot keep a connection open).

    mode: 'serial' (send one, read its response, send the next) or
    'pipelined' (send all, then read).  split: piece sizes (see exchange).
    close: add `Connection: close` to the last HTTP/1.1 request so the
    exchange ends at the server's close; False leaves the connection open
    and the client lingers briefly for stray bytes instead."""

    def __init__(self, name, requests, mode="serial", split=None, close=True):
        self.name = name
        self.requests = list(requests)
        self.mode = mode
        self.split = split
        if close:
            last = self.requests[-1]
            if last.version == "HTTP/1.1" and not last.has("Connection"):
                last.headers.append(("Connection", "close"))

    def __repr__(self):
        return "Sequence(%s: %s, %s%s)" % (
            self.name, self.mode, self.requests,
            " split=%s" % self.split if self.split else "")


def run_sequence(server, seq):
    """Run seq against server.  Returns (pairs, exchanges): pairs is a list
    of (request, response or None, exchange) in request order."""
    if server.keepalive:
        groups = [seq.requests]
    else:
        groups = [[r] for r in seq.requests]
    pairs, exchanges = [], []
    for g in groups:
        ex = exchange(server.port, g, pipelined=(seq.mode == "pipelined"),
                      split=seq.split, split_delay=0.01)
        exchanges.append(ex)
        finals = ex.final()
        for i, req in enumerate(g):
            pairs.append((req, finals[i] if i < len(finals) else None, ex))
    return pairs, exchanges


class Outcome:
    def __init__(self):
        self.problems = []
        self.substituted = 0     # 304s the shim sent where the server sent 200
        self.synth_added = 0     # 200s that gained an nm- ETag
        self.expected_304 = 0
        self.passed_instead_of_304 = 0  # substitution='optional' only

    def __bool__(self):
        return not self.problems


def _diff_hint(a, b):
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return "first difference at byte %d: bare %r / shim %r" % (
        i, a[max(0, i - 40):i + 60], b[max(0, i - 40):i + 60])


def synth_line_of(resp):
    for line in resp.header_lines:
        if SYNTH_ETAG_RE.match(line):
            return line
    return None


def synth_block_of(resp, bare):
    """The lines the shim adds to a 200 without validators, joined by CRLF
    as they are sent: its nm- ETag line, then a Last-Modified line (when the
    store dated the tag and the server sent none) and a Date line exactly
    when the bare response has no Date (RFC 9110 §6.6.1). None when resp
    does not carry such a block, or its Date line is missing or extra."""
    lines = resp.header_lines
    for i, line in enumerate(lines):
        if SYNTH_ETAG_RE.match(line):
            block = [line]
            rest = lines[i + 1:]
            if rest and rest[0].startswith(b"Last-Modified: ") and \
                    bare.first("Last-Modified") is None:
                block.append(rest.pop(0))
            has_date = bool(rest) and rest[0].startswith(b"Date: ")
            if has_date != (bare.first("Date") is None):
                return None
            if has_date:
                block.append(rest[0])
            return b"\r\n".join(block)
    return None


def compare_sequence(seq, bare_pairs, shim_pairs, synth="optional",
                     require_synth_on=None, substitution="required",
                     can_substitute=True):
    """Check the shimmed run against the bare run, response by response.

    can_substitute: False, or a predicate on the request, for exchanges the
    shim cannot follow (they must pass byte for byte).

    synth: see expected_action.  require_synth_on(req, bare_resp) -> bool:
    when given, a 200 for which it returns True MUST gain exactly one
    nm- ETag line (issue 4) and others must not.
    substitution: 'optional' accepts the bare server's bytes unchanged where
    a 304 is expected (fail-open vehicles, e.g. python's exec'd CGIs); a 304,
    when sent, must still have the exact shape."""
    out = Outcome()
    for (req, b, bex), (_, s, sex) in zip(bare_pairs, shim_pairs):
        tag = "%s %s %r" % (req.method, req.target, req.headers)
        if b is None and s is None:
            continue  # the server closed early (e.g. after a POST) both times
        if b is None:
            out.problems.append("bare server gave no response to %s (%s), "
                                "shimmed did" % (tag, bex))
            continue
        if s is None:
            out.problems.append("shimmed server gave no response to %s (%s)"
                                % (tag, sex))
            continue
        req_synth = synth
        if not (can_substitute(req) if callable(can_substitute)
                else can_substitute):
            # A vehicle the shim cannot follow (documented limitation):
            # every byte must pass exactly as the bare server sent it.
            req_synth = "off"
        action = expected_action(req, b, req_synth)
        if req_synth != synth:
            action = PASS
        bn = normalize_head(b.head_raw) + b.body_raw
        sn = normalize_head(s.head_raw) + s.body_raw
        synth_line = synth_line_of(s) if b.first("ETag") is None else None
        synth_block = synth_block_of(s, b) if synth_line else None
        must_synth = bool(require_synth_on and require_synth_on(req, b))
        if action == NOT_MODIFIED and substitution == "optional" and \
                sn == bn:
            out.passed_instead_of_304 += 1
            continue
        if action == NOT_MODIFIED or (action == EITHER and s.status == 304):
            out.expected_304 += action == NOT_MODIFIED
            probs = check_304_shape(s, b, synth_line)
            if must_synth and synth_line is None:
                probs.append("304 without the nm- ETag")
            if probs:
                out.problems.append("%s: expected a substituted 304: %s\n"
                                    "  bare: %r\n  shim: %r" % (
                                        tag, "; ".join(probs), b.head_raw,
                                        s.raw[:600]))
            else:
                out.substituted += 1
            if b.framing == "close" and not (sex.eof and s is sex.final()[-1]):
                out.problems.append("%s: 304 replaced a close-delimited 200 "
                                    "but the connection stayed open" % tag)
            continue
        if sn == bn and not must_synth:
            continue
        if req_synth != "off" and may_gain_synth_etag(req, b) and synth_line:
            want = normalize_head(insert_line_before_end(
                b.head_raw, synth_block or synth_line))
            if normalize_head(s.head_raw) == want and s.body_raw == b.body_raw:
                out.synth_added += 1
                continue
            out.problems.append("%s: shim added %r but the head/body differ "
                                "otherwise: %s" % (tag, synth_line,
                                                   _diff_hint(bn, sn)))
            continue
        if must_synth:
            out.problems.append("%s: expected the bare 200 plus one "
                                "`ETag: \"nm-...\"` line before the empty "
                                "line; got %r" % (tag, s.head_raw))
            continue
        out.problems.append("%s: expected the bare server's bytes (%s); %s"
                            % (tag, action, _diff_hint(bn, sn)))
    if len(bare_pairs) != len(shim_pairs):
        out.problems.append("response count differs")
    # stray bytes after the last response, connection-level errors
    bex = {id(e): e for _, _, e in bare_pairs}
    sex = {id(e): e for _, _, e in shim_pairs}
    for be, se in zip(bex.values(), sex.values()):
        if se.error and not be.error:
            out.problems.append("shim connection error: %s" % se.error)
        if se.leftover != be.leftover and not (
                out.substituted and not se.leftover):
            out.problems.append("stray bytes differ: bare %r shim %r" % (
                be.leftover[:100], se.leftover[:100]))
        if len(se.final()) != len(be.final()):
            out.problems.append("connection carried %d responses under the "
                                "shim, %d bare" % (len(se.final()),
                                                   len(be.final())))
    return out


# --------------------------------------------------------------------------
# raw sessions and process figures (hostile, fault and soak tests)

class RawSession:
    """What one raw connection saw: every byte read, whether the server
    closed (eof) or reset it, and whether sending failed."""

    def __init__(self):
        self.raw = b""
        self.eof = False
        self.reset = False
        self.send_error = None
        self.timed_out = False

    def __repr__(self):
        return "<RawSession %d bytes eof=%s reset=%s send_error=%s " \
               "timed_out=%s head=%r>" % (len(self.raw), self.eof, self.reset,
                                         self.send_error, self.timed_out,
                                         self.raw[:120])


def raw_session(port, data, pieces=None, piece_delay=0.0, shut_wr=False,
                timeout=5.0):
    """Send `data` on a fresh connection (all at once, or in pieces of
    `pieces` bytes with `piece_delay` seconds between them) while reading
    everything the server sends until it closes or `timeout` seconds pass.
    shut_wr: shutdown(SHUT_WR) after the last byte (a half-closed client).
    Sending happens in a thread so a server that answers and closes early
    cannot block the client."""
    import threading
    res = RawSession()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def sender():
        try:
            if pieces:
                for i in range(0, len(data), pieces):
                    s.sendall(data[i:i + pieces])
                    if i + pieces < len(data):
                        time.sleep(piece_delay)
            else:
                s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            res.send_error = e.__class__.__name__

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    buf = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                res.timed_out = True
                break
            r, _, _ = select.select([s], [], [], min(left, 0.2))
            if not r:
                continue
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                res.reset = True
                break
            if not chunk:
                res.eof = True
                break
            buf.extend(chunk)
    finally:
        t.join(timeout=timeout)
        s.close()
    res.raw = bytes(buf)
    return res


def vm_rss_kb(pid):
    """VmRSS of a process in KiB, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def child_pids(pid):
    """Direct children of pid (e.g. nginx's workers)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


class LoadGen:
    """Closed-loop load from `threads` client threads, each on its own
    keep-alive connection (reopened when the server closes it).

    plan: list of (name, request bytes, method, check) where check(resp)
    returns None when the response is right, else a description.  Thread i
    starts at plan item i and walks the plan round-robin.  Every response is
    checked; failures (wrong responses, resets, timeouts, framing errors,
    stray bytes) are recorded with the item's name.  Latency is measured
    from the first request byte to the last response byte."""

    def __init__(self, port, plan, threads=8, timeout=5.0):
        import threading
        self.port = port
        self.plan = list(plan)
        self.n_threads = threads
        self.timeout = timeout
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.latencies = []
        self.failures = []
        self.counts = {}
        self.threads = [threading.Thread(target=self._worker, args=(i,),
                                         daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(self.timeout + 5)
        return self

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _roundtrip(self, s, data, method):
        """(response, server closed?) for one request on s."""
        s.sendall(data)
        buf = bytearray()
        while True:
            r, used = parse_one(buf, method, eof=False)
            if r is not None:
                if used != len(buf):
                    raise FramingError("%d stray bytes after the response: "
                                       "%r" % (len(buf) - used,
                                               bytes(buf[used:used + 80])))
                return r, False
            chunk = s.recv(1 << 20)
            if not chunk:
                r, used = parse_one(buf, method, eof=True)
                if r is None:
                    raise FramingError("server closed before a response")
                return r, True
            buf.extend(chunk)

    def _worker(self, idx):
        s = None
        i = idx
        while not self.stop_event.is_set():
            name, data, method, check = self.plan[i % len(self.plan)]
            i += 1
            t0 = time.monotonic()
            try:
                if s is None:
                    s = self._connect()
                r, closed = self._roundtrip(s, data, method)
                problem = check(r)
                if closed or "close" in (r.first("Connection") or "").lower():
                    s.close()
                    s = None
            except (OSError, FramingError) as e:
                problem = "%s: %s" % (e.__class__.__name__, e)
                if s is not None:
                    s.close()
                s = None
            dt = time.monotonic() - t0
            with self.lock:
                self.latencies.append(dt)
                self.counts[name] = self.counts.get(name, 0) + 1
                if problem:
                    self.failures.append("%s: %s" % (name, problem))
        if s is not None:
            s.close()

    def total(self):
        return len(self.latencies)

    def percentile(self, p):
        xs = sorted(self.latencies)
        if not xs:
            return 0.0
        return xs[min(len(xs) - 1, int(len(xs) * p / 100.0))]


def body_check(status, body_sha256=None, etag=None, no_etag=False):
    """A LoadGen check: exact status, body by SHA-256 (or empty for 304),
    the ETag when given, no ETag when no_etag."""
    import hashlib

    def check(r):
        if r.status != status:
            return "status %d, expected %d: %r" % (r.status, status,
                                                   r.head_raw[:300])
        if status == 304:
            if r.body_raw or r.first("Content-Length") is not None:
                return "304 with a body or Content-Length: %r" % r.head_raw
        elif body_sha256 is not None and \
                hashlib.sha256(r.body).hexdigest() != body_sha256:
            return "body differs (%d bytes)" % len(r.body)
        if etag is not None and r.first("ETag") != etag:
            return "ETag %r, expected %r" % (r.first("ETag"), etag)
        if no_etag and r.first("ETag") is not None:
            return "unexpected ETag %r" % r.first("ETag")
        return None
    return check
