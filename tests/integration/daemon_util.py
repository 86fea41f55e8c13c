"""notmodd, notmodctl, the nm_emit event sender and redis-server (alone, as
a replica, as a sentinel, as a cluster) for the integration tests and the
benches: on temp dirs and ephemeral ports, each process in its own process
group, stopped by PID (servers.py: spawn, stop_group) even when a test
fails."""
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import servers
from servers import free_port, spawn, stop_group

# This build's dir and programs, for the tests. The classes below look the
# programs up when they start them (servers.built), so that a tool which
# picks the build dir at run time (servers.use_build_dir) gets its own.
BUILD = servers.BUILD_DIR
NOTMODD = servers.built("notmodd")
NOTMODCTL = servers.built("notmodctl")
NM_EMIT = servers.built("nm_emit")


def wait_for(fn, timeout=10.0, what="condition", interval=0.05):
    """Polls fn every interval seconds until it returns a truthy value;
    fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError) as e:  # not up yet
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Redis:
    """A throw-away redis-server on an ephemeral port."""

    cmd_timeout = 5.0  # seconds for one command (a bench under load: more)

    def __init__(self, workdir, port=None, appendonly=False, extra=()):
        self.workdir = workdir
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra = list(extra)
        self.proc = None

    def start(self):
        # Each server its own dir: AOF and cluster files never collide.
        dir = os.path.join(self.workdir, "redis-%d" % self.port)
        os.makedirs(dir, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind",
                "127.0.0.1", "--save", "", "--dir", dir,
                "--appendonly", "yes" if self.appendonly else "no",
                "--daemonize", "no", "--logfile", ""] + self.extra
        self.proc = spawn(args, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cmd("PING") == "PONG", what="redis PING")
        return self

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def info(self, section):
        """INFO section as a dict of its 'key:value' lines."""
        return dict(l.split(":", 1) for l in self.cmd("INFO", section)
                    .splitlines() if ":" in l)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def cmd(self, *args):
        """One command over a fresh connection; returns the decoded reply."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=self.cmd_timeout) as s:
            s.sendall(resp_command(args))
            return read_resp(s.makefile("rb"))

    def stop(self, sig=signal.SIGTERM):
        stop_group(self.proc, sig)


class Sentinel:
    """A redis-server --sentinel watching master MASTER at master_port,
    with failover timings short enough for a test."""

    def __init__(self, workdir, master_port, name="mymaster", quorum=2):
        self.workdir = workdir
        self.port = free_port()
        self.master_port = master_port
        self.name = name
        self.quorum = quorum
        self.proc = None

    def start(self):
        conf = os.path.join(self.workdir, "sentinel-%d.conf" % self.port)
        with open(conf, "w") as f:  # sentinel rewrites its file: its own
            f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                    "sentinel monitor %s 127.0.0.1 %d %d\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 3000\n"
                    "sentinel parallel-syncs %s 1\n" % (
                        self.port, self.workdir, self.name, self.master_port,
                        self.quorum, self.name, self.name, self.name))
        self.proc = spawn(
            ["redis-server", conf, "--sentinel"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cmd("PING") == "PONG", what="sentinel PING")
        return self

    def master(self):
        """(host, port) the sentinel names as master."""
        ans = self.cmd("SENTINEL", "get-master-addr-by-name", self.name)
        return (ans[0], int(ans[1])) if ans else None

    cmd_timeout = Redis.cmd_timeout
    cmd = Redis.cmd
    stop = Redis.stop


class RedisCluster:
    """Masters (and replicas) of one Redis Cluster on 127.0.0.1, created by
    redis-cli --cluster create; cmd() follows MOVED and ASK like a client."""

    BUS = 10000  # a node's cluster bus listens on its port + 10000

    def __init__(self, workdir, masters=3, replicas_of_first=0,
                 node_timeout_ms=1000):
        """node_timeout_ms: failures seen within a test's patience (None:
        Redis's default, as a deployment would run)."""
        self.workdir = workdir
        extra = ["--cluster-enabled", "yes", "--cluster-config-file",
                 "nodes.conf", "--repl-diskless-sync-delay", "0"]
        if node_timeout_ms is not None:
            extra += ["--cluster-node-timeout", str(node_timeout_ms)]
        self.nodes = [Redis(workdir, port=free_port(plus=self.BUS), extra=extra)
                      for _ in range(masters + replicas_of_first)]
        self.n_masters = masters

    def start(self):
        for n in self.nodes:
            n.start()
        masters = self.nodes[:self.n_masters]
        subprocess.run(["redis-cli", "--cluster", "create"] +
                       [n.addr for n in masters] + ["--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        first = self.node_id(masters[0])
        for r in self.nodes[self.n_masters:]:
            r.cmd("CLUSTER", "MEET", "127.0.0.1", masters[0].port)
            wait_for(lambda: first in r.cmd("CLUSTER", "NODES"), what="meet")
            r.cmd("CLUSTER", "REPLICATE", first)
        for n in self.nodes:
            wait_for(lambda: "cluster_state:ok" in n.cmd("CLUSTER", "INFO"),
                     timeout=20, what="cluster_state:ok on %s" % n.addr)
        for r in self.nodes[self.n_masters:]:
            wait_for(lambda: r.info("replication").get("master_link_status")
                     == "up", timeout=20, what="replica in sync")
        return self

    @property
    def url(self):
        return "cluster://" + ",".join(n.addr for n in
                                       self.nodes[:self.n_masters])

    def node_id(self, node):
        return node.cmd("CLUSTER", "MYID")

    def live(self):
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def masters(self):
        """The live nodes that are masters now."""
        return [n for n in self.live()
                if n.info("replication").get("role") == "master"]

    def node_of(self, key):
        """The master that serves key's slot now."""
        slot = self.live()[0].cmd("CLUSTER", "KEYSLOT", key)
        for n in self.masters():
            for r in n.cmd("CLUSTER", "SLOTS"):
                if r[0] <= slot <= r[1]:
                    return next(m for m in self.live()
                                if m.port == int(r[2][1]))
        raise AssertionError("slot %d has no master" % slot)

    def cmd(self, *args):
        """One command, following MOVED and ASK from the first live node."""
        node, asking = self.live()[0], False
        for _ in range(5):
            try:
                if asking:
                    return _asking_cmd(node.port, args)
                return node.cmd(*args)
            except ValueError as e:
                kind, _, where = str(e).partition(" ")
                if kind not in ("MOVED", "ASK"):
                    raise
                port = int(where.rsplit(":", 1)[1])
                node = next(n for n in self.live() if n.port == port)
                asking = kind == "ASK"
        raise AssertionError("too many redirections for %r" % (args,))

    def keys(self, pattern):
        return sorted(k for n in self.masters() for k in n.cmd("KEYS", pattern))

    def flushall(self):
        for n in self.masters():
            n.cmd("FLUSHALL")

    def stop(self):
        for n in self.nodes:
            n.stop(signal.SIGKILL)


def _asking_cmd(port, args):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        for cmd in (("ASKING",), args):
            s.sendall(resp_command(cmd))
        read_resp(f)
        return read_resp(f)


def resp_command(args):
    """One Redis command as RESP bytes."""
    return ("*%d\r\n" % len(args) + "".join(
        "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args)).encode()


def read_resp(f):
    """One decoded RESP reply from a binary file object; an error reply
    raises ValueError."""
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
        return None if n < 0 else [read_resp(f) for _ in range(n)]
    raise ValueError("bad RESP: %r" % line)


class Daemon:
    """notmodd in the foreground on sockets in workdir."""

    ctl_timeout = 5.0  # seconds for one control-socket answer

    def __init__(self, workdir, name="n", extra=()):
        self.workdir = workdir
        self.socket = os.path.join(workdir, name + ".sock")
        self.control = os.path.join(workdir, name + "-ctl.sock")
        self.snapshot = os.path.join(workdir, name + ".snapshot")
        self.extra = list(extra)
        self.proc = None
        self.log = os.path.join(workdir, name + ".log")

    def start(self, wait=True):
        """Starts notmodd; with wait, returns once its control socket
        answers (without, at once: a fleet started all together)."""
        self._logf = open(self.log, "ab")
        self.proc = spawn(
            [servers.built("notmodd"), "--foreground", "--socket",
             self.socket] + self.extra,
            stdout=self._logf, stderr=subprocess.STDOUT)
        if not wait:
            return self
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
            s.settimeout(self.ctl_timeout)
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


class CtlCase(unittest.TestCase):
    """A test with its own embedded notmodd (self.d) and notmodctl helpers
    that check the CLI contract: success prints nothing on stderr; a
    failure exits with its code and one line "notmodctl: ..."."""

    def setUp(self):
        self.dir = tempdir(self)
        self.d = Daemon(self.dir).start()
        self.addCleanup(self.d.stop)

    def run_ok(self, *args):
        rc, out, err = ctl(*args, control=self.d.control)
        self.assertEqual((rc, err), (0, ""), args)
        return out

    def run_fail(self, code, *args):
        rc, out, err = ctl(*args, control=self.d.control)
        self.assertEqual(rc, code, (args, out, err))
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("notmodctl: "), err)
        return err


class Traffic:
    """Events flowing to daemons from a background thread, as shims under
    load would send them: each round, count 200s per daemon for one of
    `paths` URLs (http://fleet.test/t<i>), whose tag is '"v<k>"', k rising
    every `rounds_per_version` rounds (the same content on every daemon:
    one epoch per version fleet-wide). It counts what it sent, per route,
    and samples each daemon's (tag, date) of the URLs it changes."""

    HOST = "fleet.test"

    def __init__(self, daemons, paths=6, count=5, period=0.05,
                 rounds_per_version=10):
        import threading
        self.daemons = list(daemons)
        self.paths = paths
        self.count = count
        self.period = period
        self.rounds_per_version = rounds_per_version
        self.sent = {}      # route -> events sent
        # (daemon index, path index) -> [(version, date)] in sample order
        self.seen = {}
        self.errors = []
        self.round = 0
        self.mark = None    # len of each series when mark() was called
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, i):
        return "http://%s/t%d" % (self.HOST, i)

    @property
    def total(self):
        return sum(self.sent.values())

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        if self.errors:
            raise AssertionError("traffic: %s" % self.errors[:3])

    def _run(self):
        try:
            while not self._stop.is_set():
                i = self.round % self.paths
                version = self.round // self.rounds_per_version
                for d in self.daemons:
                    d.emit(host=self.HOST, path="/t%d" % i,
                           tag='"v%d"' % version, count=self.count)
                    route = "%s/t%d" % (self.HOST, i)
                    self.sent[route] = self.sent.get(route, 0) + self.count
                self.sample(i)
                self.round += 1
                self._stop.wait(self.period)
        except Exception as e:  # reported by stop()
            self.errors.append(repr(e))

    def sample(self, i):
        for k, d in enumerate(self.daemons):
            ans = d.ctl("get " + self.url(i))
            if not ans.startswith("ok\n"):
                continue
            rec = dict(l.split(": ", 1) for l in ans[3:].splitlines()
                       if ": " in l)
            lm = int(rec["last_modified"].split()[0])
            if lm and rec["tag"].startswith('"v'):
                version = int(rec["tag"].strip('"v'))
                self.seen.setdefault((k, i), []).append((version, lm))

    def learned(self):
        """Per path, the largest date any daemon published so far; and
        from now on check_dates wants every new one later."""
        self.mark = {key: len(v) for key, v in self.seen.items()}
        return {i: max((lm for (k, j), v in self.seen.items() if j == i
                        for _, lm in v), default=0)
                for i in range(self.paths)}

    def check_dates(self, test, is_one_date_per_version=True):
        """No Last-Modified goes backwards: on each daemon, each URL's date
        rises with each new version and never falls; dates first seen after
        learned() are later than every date seen before it. And with
        is_one_date_per_version, every daemon has the same date for a
        version. (Not after a reconnection: a daemon whose write-back ran
        in the milliseconds before its server served the new version sends
        the old one, which Redis dates as a new epoch, as it must for
        content that went back, and the new one after it again.)"""
        for (k, i), series in self.seen.items():
            for (v1, lm1), (v2, lm2) in zip(series, series[1:]):
                test.assertGreaterEqual(lm2, lm1, (k, self.url(i), series))
                if v2 > v1:
                    test.assertGreater(lm2, lm1, (k, self.url(i), series))
        if self.mark is not None:
            for i in range(self.paths):
                before = [lm for (k, j), v in self.seen.items() if j == i
                          for _, lm in v[:self.mark.get((k, j), 0)]]
                after = [(ver, lm) for (k, j), v in self.seen.items()
                         if j == i for ver, lm in v[self.mark.get((k, j), 0):]]
                versions_before = [ver for (k, j), v in self.seen.items()
                                   if j == i
                                   for ver, _ in v[:self.mark.get((k, j), 0)]]
                newest = max(versions_before, default=-1)
                for ver, lm in after:
                    if ver > newest:
                        test.assertGreater(lm, max(before, default=0),
                                           (self.url(i), ver, lm, before))
        if is_one_date_per_version:
            dates = {}
            for (k, i), series in self.seen.items():
                for ver, lm in series:
                    dates.setdefault((i, ver), set()).add(lm)
            for (i, ver), lms in dates.items():
                test.assertEqual(len(lms), 1, (self.url(i), ver, lms))
