"""notmodd, notmodctl, the nm_emit event sender and redis-server for the
integration tests (and the bench): on temp dirs and ephemeral ports, each
process in its own process group, stopped by PID (servers.py: spawn,
stop_group) even when a test fails."""
import os
import signal
import socket
import subprocess
import tempfile
import time

import servers
from servers import free_port, spawn, stop_group

# This build's dir and programs, for the tests. The classes below look the
# programs up when they start them (servers.built), so that a tool which
# picks the build dir at run time (servers.use_build_dir) gets its own.
BUILD = servers.BUILD_DIR
NOTMODD = servers.built("notmodd")
NOTMODCTL = servers.built("notmodctl")
NM_EMIT = servers.built("nm_emit")


def wait_for(fn, timeout=10.0, what="condition"):
    """Polls fn until it returns a truthy value; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError) as e:  # not up yet
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Redis:
    """A throw-away redis-server on an ephemeral port."""

    def __init__(self, workdir, port=None, appendonly=False):
        self.workdir = workdir
        self.port = port or free_port()
        self.appendonly = appendonly
        self.proc = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind",
                "127.0.0.1", "--save", "", "--dir", self.workdir,
                "--appendonly", "yes" if self.appendonly else "no",
                "--daemonize", "no", "--logfile", ""]
        self.proc = spawn(args, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cmd("PING") == "PONG", what="redis PING")
        return self

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def cmd(self, *args):
        """One command over a fresh connection; returns the decoded reply."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=5) as s:
            req = "*%d\r\n" % len(args) + "".join(
                "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args)
            s.sendall(req.encode())
            f = s.makefile("rb")
            return _read_resp(f)

    def stop(self, sig=signal.SIGTERM):
        stop_group(self.proc, sig)


def _read_resp(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise ValueError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_resp(f) for _ in range(n)]
    raise ValueError("bad RESP: %r" % line)


class Daemon:
    """notmodd in the foreground on sockets in workdir."""

    def __init__(self, workdir, name="n", extra=()):
        self.workdir = workdir
        self.socket = os.path.join(workdir, name + ".sock")
        self.control = os.path.join(workdir, name + "-ctl.sock")
        self.snapshot = os.path.join(workdir, name + ".snapshot")
        self.extra = list(extra)
        self.proc = None
        self.log = os.path.join(workdir, name + ".log")

    def start(self):
        self._logf = open(self.log, "ab")
        self.proc = spawn(
            [servers.built("notmodd"), "--foreground", "--socket",
             self.socket] + self.extra,
            stdout=self._logf, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or
                 self.ctl("status").startswith("ok"), what="notmodd up")
        if self.proc.poll() is not None:
            raise AssertionError("notmodd exited %d: %s" % (
                self.proc.returncode, self.read_log()))
        return self

    def read_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def ctl(self, line):
        """Raw control protocol: one line in, the whole answer out."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.control)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode()
                out += b

    def fields(self, line):
        """'key: value' lines of an ok answer as a dict."""
        ans = self.ctl(line)
        if not ans.startswith("ok\n"):
            raise ValueError(ans)
        return dict(l.split(": ", 1) for l in ans[3:].splitlines() if ": " in l)

    def stats(self):
        import json
        ans = self.ctl("stats json")
        assert ans.startswith("ok\n"), ans
        return json.loads(ans[3:])

    def emit(self, *args, **kw):
        """Sends events with nm_emit: emit(host=..., path=..., tag=...)."""
        argv = [servers.built("nm_emit"), "--socket", self.socket]
        for k, v in kw.items():
            if v is True:  # a flag without value (--synth)
                argv.append("--" + k.replace("_", "-"))
            else:
                argv += ["--" + k.replace("_", "-"), str(v)]
        argv += list(args)
        subprocess.run(argv, check=True)

    def stop(self, sig=signal.SIGTERM):
        rc = stop_group(self.proc, sig)
        if getattr(self, "_logf", None):
            self._logf.close()
        return rc


def ctl(*args, env=None, control=None):
    """Runs notmodctl; returns (exit code, stdout, stderr)."""
    argv = [servers.built("notmodctl")] + \
        (["--control", control] if control else []) + \
        list(args)
    p = subprocess.run(argv, capture_output=True, text=True, env=env,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def tempdir(test):
    """A temp dir removed when test finishes."""
    d = tempfile.TemporaryDirectory(prefix="notmod-test-")
    test.addCleanup(d.cleanup)
    return d.name
