"""Server fixtures, shared by the integration tests and tools/bench/bench.py:
where this build's binaries are, processes in process groups of their own,
ephemeral ports, and the servers the tests and the bench run (python
http.server and its CGI mode, busybox httpd, nginx in its three validator
modes, lighttpd) bare or under the shim.

Every process started here (spawn) runs in its own session, so its process
group is its PID; stop_group stops that whole group (a server's workers, a
CGI it forked) and is the only place that does. Whatever is still running
is stopped when the Python process exits or gets SIGTERM (ctest's timeout),
even after a failure. A server runs on 127.0.0.1 on an ephemeral port,
with its config and logs in a temp dir of its own.

notmodd, notmodctl, nm_emit and redis-server are in daemon_util.py; the
files the servers serve in docroots.py; the compatibility suite's servers
(Debian packages) in compat_servers.py.

Environment:
  NOTMOD_BUILD_DIR       build dir holding libnotmod.so (default: <repo>/build)
  NOTMOD_TEST_NO_SHIM=1  start the "shimmed" instances bare; only assertions
                         that need a substitution then fail (proves the tests
                         can fail, and checks the tests against bare servers)
  NOTMOD_TEST_REFPROXY=1 put refproxy.py (a model of the shim) in front of a
                         bare server as the "shimmed" instance: tests the tests
  NOTMOD_TEST_ASAN_PRELOAD  libasan.so, preloaded before the sanitizer build's
                         shim (set by the ASan+UBSan build's ctest)
  NOTMOD_TEST_KEEP_TMP=1 keep temp dirs (logs, configs) after the run
  NOTMOD_TEST_VERBOSE=1  print each server's command line
"""

import atexit
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.path.abspath(os.environ.get("NOTMOD_BUILD_DIR") or
                            os.path.join(REPO, "build"))
SHIM_PATH = os.path.join(BUILD_DIR, "libnotmod.so")
NO_SHIM = os.environ.get("NOTMOD_TEST_NO_SHIM") == "1"
REFPROXY = os.environ.get("NOTMOD_TEST_REFPROXY") == "1"
KEEP_TMP = os.environ.get("NOTMOD_TEST_KEEP_TMP") == "1"
VERBOSE = os.environ.get("NOTMOD_TEST_VERBOSE") == "1"


def use_build_dir(path):
    """For a tool that takes the build dir as an argument (the bench):
    call before starting anything."""
    global BUILD_DIR, SHIM_PATH
    BUILD_DIR = os.path.abspath(path)
    SHIM_PATH = os.path.join(BUILD_DIR, "libnotmod.so")


def built(name):
    """Path of a program this build made (notmodd, nm_emit, ...)."""
    return os.path.join(BUILD_DIR, name)


def have(binary):
    return shutil.which(binary) is not None


# --------------------------------------------------------------------------
# processes

_live = []           # spawned and not yet stopped, in start order
_group_file = None   # record_groups()


def spawn(cmd, **popen_kw):
    """subprocess.Popen(cmd) in a session of its own (its process group is
    its PID), stdin from /dev/null unless given; stopped at exit or on
    SIGTERM unless stop_group stopped it before."""
    popen_kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen(cmd, start_new_session=True, **popen_kw)
    proc.nm_own_group = True
    _live.append(proc)
    if _group_file:
        with open(_group_file, "a") as f:
            f.write("%d\n" % proc.pid)
    return proc


def stop_group(proc, sig=signal.SIGTERM, timeout=10.0):
    """Stops proc with sig and, when spawn started it, everything else in
    its process group; SIGKILL when it has not exited after timeout
    seconds. Returns its exit status."""
    if proc is None:
        return None
    if proc in _live:
        _live.remove(proc)
    group = getattr(proc, "nm_own_group", False)
    kill = os.killpg if group else os.kill

    def send(s):
        try:
            kill(proc.pid, s)
        except (ProcessLookupError, PermissionError):
            pass

    if proc.poll() is None:
        if sig != signal.SIGKILL:
            # In case a test stopped it. Never before SIGKILL, which needs
            # none: the resumed process could run (and, say, apply what its
            # sockets hold) before the kill lands.
            send(signal.SIGCONT)
        send(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait()
    if group:
        # children (CGIs, nginx workers) may outlive the leader briefly
        send(signal.SIGKILL)
    return proc.returncode


def stop_all():
    """Stops everything spawn started that is still running, newest first
    (a server before the helper daemons it talks to)."""
    for proc in reversed(list(_live)):
        stop_group(proc, timeout=3.0)


def record_groups(path):
    """Appends the group id of every process spawned from now on to path,
    for a caller that must be able to stop them after this process was
    SIGKILLed (tools/bench/run.sh)."""
    global _group_file
    _group_file = path


atexit.register(stop_all)


def _on_term(signum, frame):
    # ctest's timeout and `timeout` send SIGTERM: stop servers on the way out
    stop_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


def free_port(plus=None):
    """A TCP port on 127.0.0.1 that was free a moment ago. plus: a port p
    whose p + plus was free too (a Redis Cluster node also listens on its
    port + 10000), drawn from 20000-29999: an ephemeral port near the top
    of the range has no such partner."""
    if not plus:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for _ in range(200):
        port = random.randrange(20000, 30000)
        try:
            for p in (port, port + plus):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port p with p + %d free too" % plus)


def wait_accepting(port, proc, timeout=10.0):
    """True once 127.0.0.1:port accepts a connection; False when proc exited
    or timeout seconds passed first."""
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


def proc_stats():
    """(pid, fields of /proc/pid/stat after the command name) for every
    process, in one pass over /proc: fields[0] is the state, [1] the
    parent, [2] the process group."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        yield int(name), stat.rpartition(")")[2].split()


def proc_children():
    """{pid: [child pids]} from one pass over /proc."""
    kids = {}
    for pid, fields in proc_stats():
        kids.setdefault(int(fields[1]), []).append(pid)
    return kids


def child_pids(pid):
    """Direct children of pid (e.g. nginx's workers)."""
    return proc_children().get(pid, [])


def tree_pids(root):
    """root and all its descendants."""
    kids = proc_children()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def status_kb(pid, field="VmRSS"):
    """A KiB field of /proc/PID/status (VmRSS, RssShmem...), or None when
    the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def vm_rss_kb(pid):
    """VmRSS of a process in KiB, or None when it is gone."""
    return status_kb(pid, "VmRSS")


# --------------------------------------------------------------------------
# the shim's environment

def shim_preload():
    """LD_PRELOAD value that loads this build's shim (libasan first for the
    sanitizer build, see NOTMOD_TEST_ASAN_PRELOAD)."""
    asan = os.environ.get("NOTMOD_TEST_ASAN_PRELOAD")
    return (asan + " " if asan else "") + SHIM_PATH


def clean_env():
    """This process's environment without LD_PRELOAD and NOTMOD_*."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("NOTMOD_") and k != "LD_PRELOAD"}


def shim_missing_message():
    return ("shim not built: %s does not exist (build it, or run with "
            "NOTMOD_TEST_NO_SHIM=1 to exercise the tests against bare "
            "servers)" % SHIM_PATH)


# --------------------------------------------------------------------------
# servers

class Server:
    """A real server in its own process group and temp dir.

    shim: False = bare; True = under LD_PRELOAD=libnotmod.so with no daemon
    (NOTMOD_SOCKET/NOTMOD_SNAPSHOT point at nonexistent paths).
    shim_env: extra NOTMOD_* variables for the shimmed instance.
    tag: added to the temp dir's name ("-bare", "-shim").
    workdir: where the temp dir is made (default: the system's temp dir).
    """

    name = "server"
    keepalive = True        # can a connection carry several requests?
    has_etag = False        # does it send ETag for static files?
    start_timeout = 10.0    # seconds until it must accept connections
    stop_timeout = 3.0      # seconds after SIGTERM until SIGKILL

    def __init__(self, docroot, shim=False, shim_env=None, tag="",
                 workdir=None):
        self.docroot = os.path.abspath(docroot)
        self.want_shim = shim
        self.shim_active = shim and not NO_SHIM and not REFPROXY
        self.proxy = None
        self.shim_env = dict(shim_env or {})
        self.tmp = tempfile.mkdtemp(prefix="nm-%s%s-" % (self.name, tag),
                                    dir=workdir)
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
            # (the runtime must be the first DSO loaded); its reports land
            # in the server's stderr log, which error_lines() checks.
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
                print("servers: start %s (shim=%s): %s" %
                      (self.name, self.shim_active, " ".join(cmd)))
            with open(self.stdout_path, "ab") as out, \
                    open(self.stderr_path, "ab") as err:
                self.proc = spawn(cmd, cwd=self.cwd(), env=self.env(),
                                  stdout=out, stderr=err)
            if wait_accepting(self.port, self.proc, self.start_timeout):
                if self.want_shim and REFPROXY:
                    self.start_refproxy()
                return self
            self.stop()
            last = self.logs()
        raise RuntimeError("%s did not start; logs:\n%s" % (self.name, last))

    def start_refproxy(self):
        upstream, self.port = self.port, free_port()
        with open(os.path.join(self.tmp, "refproxy.log"), "ab") as log:
            self.proxy = spawn(
                [sys.executable, os.path.join(HERE, "refproxy.py"),
                 str(self.port), str(upstream)],
                env=dict(clean_env(), PYTHONPATH=HERE),
                stdout=subprocess.DEVNULL, stderr=log)
        if not wait_accepting(self.port, self.proxy):
            raise RuntimeError("refproxy did not start")

    def stop(self):
        proxy, self.proxy = self.proxy, None
        stop_group(proxy, signal.SIGKILL)
        proc, self.proc = self.proc, None
        stop_group(proc, timeout=self.stop_timeout)

    def cleanup(self):
        self.stop()
        if not KEEP_TMP:
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
    connection (always Connection: close); a fork per connection, CGIs
    relayed through a pipe. verbose: -v, a log line per request."""

    name = "busybox"
    keepalive = False
    has_etag = True

    def __init__(self, docroot, verbose=True, **kw):
        self.verbose = verbose
        super().__init__(docroot, **kw)

    def command(self):
        return ["busybox", "httpd", "-f"] + (["-v"] if self.verbose else []) \
            + ["-p", "127.0.0.1:%d" % self.port, "-h", self.docroot]

    def is_error_line(self, line):
        # -v logs one "ip:port: url:..." line per request, plus response codes
        return bool(re.search(r"response:5(?!01)\d\d|can.t|error", line, re.I))


# server-block directives of each validator mode
NGINX_VALIDATORS = {
    "on": "",
    "noims": "if_modified_since off;",
    "off": 'etag off; if_modified_since off; add_header Last-Modified "";',
}


class NginxServer(Server):
    """nginx in the foreground with its config, logs and temp paths in the
    temp dir.  validators: 'on' (default ETag + Last-Modified, answers IMS
    exactly-equal and INM itself), 'noims' (if_modified_since off: still sends
    both validators and still answers INM-only requests, but any request
    carrying If-Modified-Since gets the 200), 'off' (etag off;
    if_modified_since off; Last-Modified removed: no validators at all;
    nginx still answers If-None-Match: * itself).
    extra_http, extra_server: more directives for the http and server
    blocks.  The class attributes below tune it; the tests keep an access
    log and 1,000 requests per connection, the bench changes them."""

    name = "nginx"
    has_etag = True
    error_log_level = "info"
    worker_connections = 512
    access_log = True
    # main-context directives
    main_conf = ""
    # http-context directives: Location without the port (absolute_redirect
    # off), so the same bytes come from both instances of a pair
    http_conf = """tcp_nopush on;
    keepalive_requests 1000;
    absolute_redirect off;
    types { text/plain txt; text/html html; application/octet-stream bin; }"""

    def __init__(self, docroot, validators="on", workers=1, master=True,
                 extra_server="", extra_http="", **kw):
        self.validators = validators
        self.name = "nginx-" + validators
        self.has_etag = validators != "off"
        self.workers = workers
        self.master = master
        self.extra_server = extra_server
        self.extra_http = extra_http
        super().__init__(docroot, **kw)

    def conf_path(self):
        return os.path.join(self.tmp, "nginx.conf")

    def error_log_path(self):
        return os.path.join(self.tmp, "error.log")

    def write_conf(self):
        t = self.tmp
        conf = """
user root;
daemon off;
master_process %(master)s;
worker_processes %(workers)d;
%(main)s
error_log %(t)s/error.log %(level)s;
pid %(t)s/nginx.pid;
events { worker_connections %(conns)d; }
http {
    access_log %(access)s;
    client_body_temp_path %(t)s/body;
    proxy_temp_path %(t)s/proxy;
    fastcgi_temp_path %(t)s/fastcgi;
    uwsgi_temp_path %(t)s/uwsgi;
    scgi_temp_path %(t)s/scgi;
    sendfile on;
    default_type application/octet-stream;
    %(http)s
    %(extra_http)s
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
        %(v)s
        %(extra)s
    }
}
""" % {"master": "on" if self.master else "off", "workers": self.workers,
           "main": self.main_conf, "level": self.error_log_level,
           "conns": self.worker_connections,
           "access": t + "/access.log" if self.access_log else "off",
           "t": t, "http": self.http_conf, "extra_http": self.extra_http,
           "port": self.port, "root": self.docroot,
           "v": NGINX_VALIDATORS[self.validators], "extra": self.extra_server}
        with open(self.conf_path(), "w") as f:
            f.write(conf)

    def command(self):
        self.write_conf()
        # -e: not even the moment before the config is read logs elsewhere
        return ["nginx", "-e", self.error_log_path(), "-c", self.conf_path(),
                "-p", self.tmp + "/"]

    def log_paths(self):
        return super().log_paths() + [self.error_log_path()]

    def is_error_line(self, line):
        if re.search(r'open\(\) ".*" failed \(2: No such file', line):
            return False  # nginx logs every 404 at [error]
        return bool(re.search(r"\[(error|crit|alert|emerg)\]", line))


class LighttpdServer(Server):
    """lighttpd -D: ETag + Last-Modified, answers INM and IMS itself
    (also IMS dates in the future), keep-alive.  etags=False: static files
    without ETag.  extra_conf: more lines (mod_cgi and its assignments)."""

    name = "lighttpd"
    has_etag = True

    def __init__(self, docroot, etags=True, extra_conf="", **kw):
        self.has_etag = etags
        self.extra_conf = extra_conf
        super().__init__(docroot, **kw)

    def command(self):
        conf = os.path.join(self.tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write("""
server.document-root = "%(root)s"
server.port = %(port)d
server.bind = "127.0.0.1"
server.errorlog = "%(t)s/error.log"
server.pid-file = "%(t)s/lighttpd.pid"
server.max-keep-alive-requests = 1000
static-file.etags = "%(etags)s"
mimetype.assign = (".txt" => "text/plain", ".html" => "text/html",
                   ".bin" => "application/octet-stream")
%(extra)s""" % {"root": self.docroot, "port": self.port, "t": self.tmp,
                "etags": "enable" if self.has_etag else "disable",
                "extra": self.extra_conf})
        return ["lighttpd", "-D", "-f", conf]

    def log_paths(self):
        return super().log_paths() + [os.path.join(self.tmp, "error.log")]

    def is_error_line(self, line):
        return ("(server.c" not in line and "server started" not in line
                and "server stopped" not in line and bool(line.strip()))
