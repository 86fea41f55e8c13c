#!/usr/bin/env python3
"""bench.py - the measuring half of tools/bench/run.sh (python3 stdlib only).

Starts every server on 127.0.0.1 ephemeral ports in its own process group,
measures, stops them by process group (also on SIGTERM/SIGINT), and prints
one markdown table; run.sh appends it to RESULTS.md. The servers, notmodd
and redis-server are the integration tests' fixtures
(tests/integration/servers.py, daemon_util.py), tuned for load below.

Method (docs/measuring.md): the primary figure is server CPU per
request, read before and after `ab -n N -c 16` (-k for keep-alive): as
root, the cpuacct cgroup each server is put in (everything it forks
counts, exited CGI processes included, to the nanosecond); otherwise the
sum over every thread of the server's process tree of
/proc/PID/task/TID/schedstat (first field, ns) plus the CPU of children it
already reaped (cutime + cstime, in clock ticks).
A and B alternate (AB BA AB BA ...); the ratio reported is the geometric
mean of the per-round ratios; absolute figures are medians over rounds.

Usage: bench.py --build DIR --work DIR [--rounds N] [--scale F]
Writes the table to stdout and, with --out FILE, to FILE.
"""

import argparse
import math
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import daemon_util  # noqa: E402  (the tests' fixtures, from the path above)
import docroots  # noqa: E402
import servers  # noqa: E402
import tls_servers  # noqa: E402
import wire  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENCY = 16
SIZES = [("1 KiB", "f1k.bin", 1024), ("16 KiB", "f16k.bin", 16384),
         ("256 KiB", "f256k.bin", 262144)]
CGI_PATH = "/cgi-bin/page.sh"
CGI_BODY_LEN = 4096

ARGS = None


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# process figures


def tree_cpu_ns(root):
    """CPU of every live thread under root, plus what root has reaped."""
    total = 0
    for pid in servers.tree_pids(root):
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
        except OSError:
            continue  # exited meanwhile: counted by its parent's cutime
    with open("/proc/%d/stat" % root) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    total += (int(fields[13]) + int(fields[14])) * 1_000_000_000 // CLK_TCK
    return total


CPUACCT = "/sys/fs/cgroup/cpuacct"
_cgroups = {}  # server pid -> cgroup directory


def cgroup_for(server):
    """A cpuacct cgroup holding the server and everything it forks from
    now on (exited CGI processes included, to the nanosecond), or None
    where there is none to be had (not root, no cgroup v1 cpuacct)."""
    pid = server.proc.pid
    if pid in _cgroups:
        return _cgroups[pid]
    d = None
    if os.access(CPUACCT, os.W_OK):
        d = os.path.join(CPUACCT, "notmod-bench-%d" % pid)
        try:
            os.makedirs(d, exist_ok=True)
            for p in servers.tree_pids(pid):
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(p))
        except OSError:
            d = None
    _cgroups[pid] = d
    return d


def release_cgroups():
    """Moves what is left back to the root group and removes ours."""
    for d in _cgroups.values():
        if d is None:
            continue
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids = f.read().split()
            for p in pids:
                with open(os.path.join(CPUACCT, "cgroup.procs"), "w") as f:
                    f.write(p)
            os.rmdir(d)
        except OSError:
            pass
    _cgroups.clear()


def server_cpu_ns(server):
    """The server's CPU so far: its cgroup's where it has one, else its
    tree's (tree_cpu_ns)."""
    d = cgroup_for(server)
    if d is not None:
        with open(os.path.join(d, "cpuacct.usage")) as f:
            return int(f.read())
    return tree_cpu_ns(server.proc.pid)


def tree_mem_kb(root):
    """(VmRSS, RssShmem) summed over the tree, in KiB."""
    rss = shmem = 0
    for pid in servers.tree_pids(root):
        rss += servers.status_kb(pid, "VmRSS") or 0
        shmem += servers.status_kb(pid, "RssShmem") or 0
    return rss, shmem


def memfd_bytes(root):
    """Bytes in memfds held open by the tree (the shim's spilled bodies)."""
    total = 0
    for pid in servers.tree_pids(root):
        fddir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fddir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(fddir, fd)).startswith("/memfd:"):
                    total += os.stat(os.path.join(fddir, fd)).st_blocks * 512
            except OSError:
                pass
    return total


# --------------------------------------------------------------------------
# servers: the tests' fixtures, tuned for load; and the bench's own


class BenchNginx(servers.NginxServer):
    """nginx as the tests run it, tuned for load: one worker (the client
    keeps the other core), no access log, warnings only, and connections
    that last as long as ab keeps them (-k sends every request on one)."""

    error_log_level = "warn"
    worker_connections = 4096
    access_log = False
    main_conf = "worker_rlimit_nofile 8192;"
    http_conf = "keepalive_timeout 300s;\n    keepalive_requests 10000000;"

    def __init__(self, validators="off", sendfile=True, **kw):
        # sendfile on as Debian's nginx.conf ships; off: bodies go through
        # write(), which the shim holds and hashes
        super().__init__(ARGS.docroot, validators=validators,
                         extra_server="" if sendfile else "sendfile off;",
                         workdir=ARGS.work, **kw)


def nginx_legacy(shim=False, sendfile=True):
    """nginx without validators: the legacy server the shim retrofits."""
    return BenchNginx("off", sendfile, shim=shim,
                      tag="-legacy" if sendfile else "-legacy-write")


def nginx_etag(shim=False):
    """nginx with its own ETag and Last-Modified."""
    return BenchNginx("on", shim=shim, tag="-etag")


class BenchNginxTls(tls_servers.NginxTlsServer):
    """The legacy nginx (no validators, sendfile on) serving HTTPS with its
    own OpenSSL, tuned for load as BenchNginx. Without kTLS nginx reads
    the file and encrypts it with SSL_write: the shim holds and hashes
    the body (it cannot with sendfile in plaintext, where it hashes the
    file by pread instead)."""

    error_log_level = BenchNginx.error_log_level
    worker_connections = BenchNginx.worker_connections
    access_log = BenchNginx.access_log
    main_conf = BenchNginx.main_conf
    http_conf = BenchNginx.http_conf

    def __init__(self, shim=False):
        super().__init__(ARGS.docroot, shim=shim, workdir=ARGS.work,
                         tag="-tls-shim" if shim else "-tls")


class CallgrindNginx(BenchNginx):
    """One nginx process (no master) under valgrind's callgrind, writing
    its instruction counts to `out` when it exits."""

    start_timeout = 60.0
    stop_timeout = 60.0

    def __init__(self, validators, out, **kw):
        self.callgrind_out = out
        super().__init__(validators, master=False, **kw)

    def command(self):
        # LD_PRELOAD is set through env inside valgrind so that it applies
        # to nginx, not to the valgrind launcher.
        pre = servers.SHIM_PATH if self.shim_active else ""
        return ["valgrind", "--tool=callgrind", "--trace-children=yes",
                "--callgrind-out-file=" + self.callgrind_out,
                "env", "LD_PRELOAD=" + pre] + super().command()

    def env(self):
        env = super().env()
        env.pop("LD_PRELOAD", None)  # see command()
        return env


class ProxyCacheNginx(BenchNginx):
    """nginx proxy_cache in front of origin_port, its cache in its temp
    dir."""

    def __init__(self, origin_port, tag="-proxycache"):
        super().__init__("on", tag=tag)
        self.extra_http = (
            "proxy_cache_path %s/cache levels=1:2 keys_zone=nm:10m "
            "max_size=256m inactive=1h use_temp_path=off;" % self.tmp)
        self.extra_server = """location / {
            proxy_pass http://127.0.0.1:%d;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache nm;
            proxy_cache_valid 200 1h;
        }""" % origin_port


def busybox(shim=False):
    """busybox httpd: a fork per connection, a shell per CGI request."""
    return servers.BusyboxServer(ARGS.docroot, verbose=False, shim=shim,
                                 workdir=ARGS.work)


class Varnish(servers.Server):
    """Varnish, malloc storage, default VCL, in front of origin_port."""

    name = "varnish"

    def __init__(self, origin_port, tag=""):
        super().__init__(ARGS.docroot, tag=tag, workdir=ARGS.work)
        self.origin_port = origin_port

    def command(self):
        return ["varnishd", "-F", "-j", "none", "-n",
                os.path.join(self.tmp, "n"), "-a",
                "127.0.0.1:%d" % self.port, "-b",
                "127.0.0.1:%d" % self.origin_port, "-s", "malloc,256m",
                "-t", "3600", "-p", "thread_pools=1",
                "-p", "thread_pool_min=32"]


class SlowServer(servers.Server):
    """A legacy server that leaves every 256 KiB response one byte short
    until told to finish (python, one thread per connection). Under the
    shim each response is held whole, for the memory measurement."""

    name = "slow"

    def __init__(self, shim=False, shim_env=None):
        super().__init__(ARGS.docroot, shim=shim, shim_env=shim_env,
                         workdir=ARGS.work)
        self.release_path = os.path.join(self.tmp, "release")

    def command(self):
        return [sys.executable, os.path.join(HERE, "bench.py"),
                "--slow-server", str(self.port), self.release_path]


def slow_server_main(port, release_path):
    body = bytes(range(256)) * 1024  # 256 KiB
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    release = threading.Event()

    def serve(conn):
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            conn.sendall(head)
            for off in range(0, len(body) - 1, 16384):
                conn.sendall(body[off:min(off + 16384, len(body) - 1)])
            release.wait()
            conn.sendall(body[-1:])
            conn.recv(1)

    def watch():
        while not os.path.exists(release_path):
            time.sleep(0.05)
        release.set()

    threading.Thread(target=watch, daemon=True).start()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(512)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


# --------------------------------------------------------------------------
# HTTP helpers


def get(port, path, headers=None):
    """One GET on a fresh connection: its final response (wire.Response)."""
    req = wire.Request("GET", path, headers=list((headers or {}).items()) +
                       [("Connection", "close")])
    ex = wire.exchange(port, [req], timeout=10)
    if ex.error or not ex.final():
        raise RuntimeError("GET %s on port %d: %r" % (path, port, ex))
    return ex.final()[0]


def ab(url, n, keepalive, headers=None):
    """Runs ab; returns rps, p50/p99 ms, bytes per response, counts."""
    csv = os.path.join(ARGS.work, "ab.csv")
    cmd = ["ab", "-q", "-r", "-s", "30", "-n", str(n), "-c",
           str(CONCURRENCY), "-e", csv]
    if keepalive:
        cmd.append("-k")
    for k, v in (headers or {}).items():
        cmd += ["-H", "%s: %s" % (k, v)]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        raise RuntimeError("ab failed: %s %s" % (out.stdout[-500:],
                                                  out.stderr[-500:]))

    def field(name, conv=float):
        m = re.search(r"^%s:\s+([\d.]+)" % re.escape(name), out.stdout, re.M)
        return conv(m.group(1)) if m else 0

    pct = {}
    with open(csv) as f:
        for line in f:
            a, _, b = line.strip().partition(",")
            if a.isdigit():
                pct[int(a)] = float(b)
    complete = field("Complete requests", int)
    return {"rps": field("Requests per second"),
            "p50": pct.get(50, 0.0), "p99": pct.get(99, 0.0),
            "bytes": field("Total transferred", int) / max(complete, 1),
            "complete": complete, "failed": field("Failed requests", int),
            "non2xx": field("Non-2xx responses", int)}


def run_one(server, path, n, keepalive, headers=None):
    """One measured run against server (all its process tree)."""
    cpu0 = server_cpu_ns(server)
    r = ab(server.url(path), n, keepalive, headers)
    cpu1 = server_cpu_ns(server)
    r["cpu_us"] = (cpu1 - cpu0) / 1000.0 / max(r["complete"], 1)
    return r


def scaled(n):
    return max(200, int(n * ARGS.scale))


def compare(label, cases, n, keepalive, runner=None):
    """cases: list of (name, server, path, headers). Rounds alternate the
    order (ABCD, DCBA, ...). Returns {name: {metric: median}, name+'/ratio':
    geometric mean of per-round cpu ratios against cases[0]}. runner:
    runner(server, path, n, headers) in place of ab (run_one)."""
    runs = {name: [] for name, *_ in cases}
    for r in range(ARGS.rounds):
        order = cases if r % 2 == 0 else list(reversed(cases))
        for name, server, path, headers in order:
            if runner:
                runs[name].append(runner(server, path, n, headers))
            else:
                runs[name].append(run_one(server, path, n, keepalive,
                                          headers))
    res = {}
    base = cases[0][0]
    for name in runs:
        rs = runs[name]
        res[name] = {k: statistics.median(x[k] for x in rs)
                     for k in ("cpu_us", "rps", "p50", "p99", "bytes")}
        if "user_us" in rs[0]:
            res[name]["user_us"] = statistics.median(x["user_us"]
                                                     for x in rs)
        res[name]["non2xx"] = sum(x["non2xx"] for x in rs)
        res[name]["failed"] = sum(x["failed"] for x in rs)
        ratios = [b["cpu_us"] / a["cpu_us"]
                  for a, b in zip(runs[base], rs)]
        res[name]["ratio"] = math.exp(sum(map(math.log, ratios)) /
                                      len(ratios))
        res[name]["rps_ratio"] = math.exp(sum(
            math.log(b["rps"] / a["rps"]) for a, b in zip(runs[base], rs)) /
            len(rs))
    log("%s: %s" % (label, ", ".join(
        "%s %.2fus %.0f/s p99 %.2fms %.0fB" % (k, v["cpu_us"], v["rps"],
                                               v["p99"], v["bytes"])
        for k, v in res.items())))
    return res


# --------------------------------------------------------------------------
# the sections


def make_docroot():
    root = ARGS.docroot
    os.makedirs(os.path.join(root, "cgi-bin"), exist_ok=True)
    rnd = open("/dev/urandom", "rb")
    for _, name, size in SIZES:
        docroots.write_file(os.path.join(root, name), rnd.read(size),
                            docroots.T0)
    with open(os.path.join(root, "page.html"), "w") as f:
        line = "<p>notmod benchmark page, a line of forty-eight ch</p>\n"
        f.write((line * (CGI_BODY_LEN // len(line) + 1))[:CGI_BODY_LEN])
    cgi = os.path.join(root, "cgi-bin", "page.sh")
    with open(cgi, "w") as f:
        f.write("#!/bin/sh\n# A legacy CGI page: no validators.\n"
                "printf 'Content-Type: text/html\\r\\n\\r\\n'\n"
                "cat %s/page.html\n" % root)
    os.chmod(cgi, 0o755)
    rnd.close()


def section_passthrough(t):
    """§1: the legacy server alone vs under the shim, plain GETs."""
    bare, shim = nginx_legacy().start(), nginx_legacy(shim=True).start()
    for label, name, size in SIZES:
        for ka in (True, False):
            n = scaled((50000 if size < 100000 else 20000) if ka else
                       (15000 if size < 100000 else 8000))
            t[("pass", ka, label)] = compare(
                "pass %s ka=%s" % (label, ka),
                [("bare", bare, "/" + name, None),
                 ("shim", shim, "/" + name, None)], n, ka)
    # The shim following a server that has its own validators: it only
    # parses (the cheapest the shim can be).
    own, own_shim = nginx_etag().start(), nginx_etag(shim=True).start()
    for label, name, size in SIZES:
        t[("follow", label)] = compare(
            "follow %s" % label, [("bare", own, "/" + name, None),
                                  ("shim", own_shim, "/" + name, None)],
            scaled(50000 if size < 100000 else 20000), True)
    for s in (bare, shim, own, own_shim):
        s.stop()
    bb, bb_shim = busybox().start(), busybox(shim=True).start()
    t[("pass", False, "CGI")] = compare(
        "pass CGI", [("bare", bb, CGI_PATH, None),
                     ("shim", bb_shim, CGI_PATH, None)], scaled(2000), False)
    bb.stop()
    bb_shim.stop()


def section_tls(t):
    """§8: the legacy nginx serving HTTPS itself, alone vs under the shim
    (keep-alive, 16 KiB), next to the same figure in plaintext measured
    in the same run: the shim's ratio over TLS must be no worse."""
    pki = os.path.join(ARGS.work, "pki")
    os.makedirs(pki, exist_ok=True)
    BenchNginxTls.cert, BenchNginxTls.key = tls_servers.make_cert(pki)
    label, name, _ = SIZES[1]
    n = scaled(20000)
    bare, shim = nginx_legacy().start(), nginx_legacy(shim=True).start()
    t[("tls", "plain")] = compare(
        "plain %s ka" % label, [("bare", bare, "/" + name, None),
                                ("shim", shim, "/" + name, None)], n, True)
    bare.stop()
    shim.stop()
    bare, shim = BenchNginxTls().start(), BenchNginxTls(shim=True).start()
    s = get_tls(shim.port, "/" + name)
    if not (s.first("ETag") or "").startswith('"nm-'):
        raise RuntimeError("no nm- tag over TLS: %r" % s.head_raw)
    t[("tls", "tls")] = compare(
        "tls %s ka" % label, [("bare", bare, "/" + name, None),
                              ("shim", shim, "/" + name, None)], n, True)
    bare.stop()
    shim.stop()


def get_tls(port, path):
    """One GET over TLS on a fresh connection: its final response."""
    ex = tls_servers.tls_exchange(port, [wire.Request(
        "GET", path, headers=[("Connection", "close")])], timeout=10)
    if ex.error or not ex.final():
        raise RuntimeError("GET %s over TLS on port %d: %r" % (path, port,
                                                               ex))
    return ex.final()[0]


def section_revalidation(t):
    """§2: a matching revalidation answered by nginx itself, by the shim on
    legacy nginx, by Varnish and by nginx proxy_cache in front of it."""
    own = nginx_etag().start()
    origin = nginx_legacy(shim=True).start()
    varnish = Varnish(origin.port).start()
    pcache = ProxyCacheNginx(origin.port).start()
    bb = busybox(shim=True).start()
    bb_varnish = Varnish(bb.port, tag="-cgi").start()
    bb_pcache = ProxyCacheNginx(bb.port, tag="-proxycache-cgi").start()
    rows = [(label, "/" + name, size) for label, name, size in SIZES]
    rows.append(("CGI", CGI_PATH, CGI_BODY_LEN))
    for label, path, size in rows:
        cases = []
        if label != "CGI":
            cases.append(("nginx", own, path, {
                "If-None-Match": get(own.port, path).first("ETag")}))
            targets = [("shim", origin), ("varnish", varnish),
                       ("proxy_cache", pcache)]
        else:
            targets = [("shim", bb), ("varnish", bb_varnish),
                       ("proxy_cache", bb_pcache)]
        r = get(targets[0][1].port, path)
        tag = r.first("ETag") or ""
        if not tag.startswith('"nm-'):
            raise RuntimeError("no nm- tag from %s%s: %r" % (
                targets[0][1].name, path, r))
        for name, srv in targets:
            get(srv.port, path)  # fills a proxy's cache
            get(srv.port, path)
            cases.append((name, srv, path, {"If-None-Match": tag}))
        for name, srv, p, hdrs in cases:
            st = get(srv.port, p, hdrs).status
            if st != 304:
                raise RuntimeError("%s answered %d, not 304, to %s %r" % (
                    name, st, p, hdrs))
        # shim first: ratios are shim / others, so put it as the base.
        shim_first = [c for c in cases if c[0] == "shim"] + \
            [c for c in cases if c[0] != "shim"]
        n = scaled(2000 if label == "CGI" else 50000)
        t[("reval", label)] = compare("reval %s" % label, shim_first, n,
                                      label != "CGI")
    for s in (own, origin, varnish, pcache, bb, bb_varnish, bb_pcache):
        s.stop()


def section_synthesis(t):
    """§3: the body goes through write(), so the shim holds and hashes all
    of it to add its ETag (sendfile off on the legacy nginx)."""
    bare = nginx_legacy(sendfile=False).start()
    shim = nginx_legacy(shim=True, sendfile=False).start()
    for label, name, size in SIZES:
        r = get(shim.port, "/" + name)
        if not (r.first("ETag") or "").startswith('"nm-'):
            raise RuntimeError("shim added no tag to a written body: %r" % r)
        t[("synth", label)] = compare(
            "synth %s" % label, [("bare", bare, "/" + name, None),
                                 ("shim", shim, "/" + name, None)],
            scaled(50000 if size < 100000 else 20000), True)
    bare.stop()
    shim.stop()


def open_idle(port, count, path):
    """count keep-alive connections, one request each, responses read."""
    socks = []
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), 10)
        s.sendall(req)
        socks.append(s)
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        want = int(m.group(1)) if m else 0
        while len(body) < want:
            body += s.recv(65536)
    return socks


def settle():
    time.sleep(1.0)


def section_memory(t):
    """§4: RSS the shim adds per idle keep-alive connection, and what 100
    held 256 KiB responses cost (RSS and memfd)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)),
                                                hard))
    conns = 1000
    deltas = {}
    for shim in (False, True):
        srv = nginx_legacy(shim=shim).start()
        get(srv.port, "/f1k.bin")
        settle()
        before = tree_mem_kb(srv.proc.pid)[0]
        socks = open_idle(srv.port, conns, "/f1k.bin")
        settle()
        after = tree_mem_kb(srv.proc.pid)[0]
        deltas[shim] = after - before
        for s in socks:
            s.close()
        srv.stop()
    t[("mem", "idle")] = {"bare_kb": deltas[False], "shim_kb": deltas[True],
                          "per_conn_b": (deltas[True] - deltas[False]) *
                          1024.0 / conns}
    log("memory idle: bare +%d KiB, shim +%d KiB for %d connections" %
        (deltas[False], deltas[True], conns))

    held = 100
    res = {}
    for shim in (False, True):
        # HOLD_MS at its maximum: the deadline flusher would otherwise
        # release the held bodies before the reading.
        srv = SlowServer(shim=shim,
                         shim_env={"NOTMOD_HOLD_MS": "60000"}).start()
        socket.create_connection(("127.0.0.1", srv.port)).close()
        settle()
        rss0, shm0 = tree_mem_kb(srv.proc.pid)
        socks = []
        for _ in range(held):
            s = socket.create_connection(("127.0.0.1", srv.port), 10)
            s.sendall(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            socks.append(s)
        # Read whatever reaches the client, so bare bytes do not sit in
        # the server's socket buffers either.
        got = {s: 0 for s in socks}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            r, _, _ = select.select(socks, [], [], 0.2)
            for s in r:
                got[s] += len(s.recv(1 << 20))
        rss1, shm1 = tree_mem_kb(srv.proc.pid)
        mfd = memfd_bytes(srv.proc.pid)
        res[shim] = {"rss_kb": rss1 - rss0, "shmem_kb": shm1 - shm0,
                     "memfd_kb": mfd // 1024,
                     "client_kb": sum(got.values()) // 1024}
        open(srv.release_path, "w").close()
        for s in socks:
            s.close()
        srv.stop()
    t[("mem", "held")] = res
    log("memory held: %r" % res)


def section_daemon(t):
    """§5: events/s notmodd absorbs, embedded store then Redis; steady
    traffic (each URL keeps its tag) and churn (every event a new tag, so
    every event is a store change Redis must get)."""
    count, urls = scaled(200000), 10000
    out = {}
    for backend in ("memory", "redis"):
        for churn in (False, True):
            d = os.path.join(ARGS.work, "notmodd-%s-%d" % (backend, churn))
            os.makedirs(d, exist_ok=True)
            redis, extra = None, []
            if backend == "redis":
                redis = daemon_util.Redis(d).start()
                extra = ["--redis", redis.url]
            daemon = daemon_util.Daemon(d, "ev", extra).start()

            def requests_seen():
                _, stats, _ = daemon_util.ctl("stats", "--json",
                                              control=daemon.control)
                m = re.search(r'"requests":(\d+)', stats)
                return int(m.group(1)) if m else -1

            cpu0 = tree_cpu_ns(daemon.proc.pid)
            rcpu0 = tree_cpu_ns(redis.proc.pid) if redis else 0
            t0 = time.monotonic()
            sender = [servers.built("events_bench"), "--socket",
                      daemon.socket, "--count", str(count), "--urls",
                      str(urls)] + (["--churn"] if churn else [])
            subprocess.run(sender, check=True, timeout=120,
                           stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while requests_seen() < count and time.monotonic() < deadline:
                time.sleep(0.01)
            wall = time.monotonic() - t0
            seen = requests_seen()
            time.sleep(1.0)  # let Redis write-backs finish before reading
            cpu = tree_cpu_ns(daemon.proc.pid) - cpu0
            rcpu = (tree_cpu_ns(redis.proc.pid) - rcpu0) if redis else 0
            keys = -1
            if redis:
                keys = redis.cmd("DBSIZE")
            key = (backend, churn)
            out[key] = {"eps": seen / wall, "seen": seen, "sent": count,
                        "cpu_us": cpu / 1000.0 / max(seen, 1),
                        "redis_cpu_us": rcpu / 1000.0 / max(seen, 1),
                        "keys": keys}
            log("daemon %s churn=%s: %r" % (backend, churn, out[key]))
            daemon.stop()
            if redis:
                redis.stop()
    t[("daemon",)] = out


def section_micro(t):
    """§6 and the snapshot lookup: the C micro benches."""
    vals = {}
    for prog, arg in (("parser_bench", "500000"), ("rfc_bench", "0.5"),
                      ("snapshot_bench", "1000000")):
        r = subprocess.run([servers.built(prog), arg],
                           capture_output=True, text=True, timeout=120,
                           check=True)
        for line in r.stdout.splitlines():
            m = re.match(r"parser: notmod (\d+) ns/req, http-parser (\S+)",
                         line)
            if m:
                vals["parser_ns"] = float(m.group(1))
                vals["http_parser_ns"] = m.group(2)
                continue
            parts = line.split()
            if len(parts) in (2, 3):
                try:
                    vals[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    t[("micro",)] = vals
    log("micro: %r" % vals)


def cg_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + path)


def cg_run(name, validators, shim, n, headers):
    """Instructions nginx (one process, no master) executes for n requests,
    start and stop included."""
    out = os.path.join(ARGS.work, "cg-%s-%d.out" % (name, n))
    srv = CallgrindNginx(validators, out, shim=shim, tag="-cg-" + name)
    srv.start()
    try:
        get(srv.port, "/f1k.bin")  # warm: first request, open file
        subprocess.run(["ab", "-q", "-k", "-n", str(n), "-c", "4"] +
                       sum((["-H", "%s: %s" % kv] for kv in
                            (headers or {}).items()), []) +
                       [srv.url("/f1k.bin")], capture_output=True,
                       timeout=300, check=True)
    finally:
        srv.stop()
    return cg_total(out)


def section_instructions(t):
    """§7: user-space instructions per request (callgrind: exact and
    repeatable, unlike CPU time here), nginx bare vs under the shim, 1 KiB
    keep-alive. Two request counts per case; their difference cancels
    start-up and shutdown."""
    tag_srv = nginx_legacy(shim=True).start()
    tag = get(tag_srv.port, "/f1k.bin").first("ETag")
    tag_srv.cleanup()
    own = nginx_etag().start()
    own_tag = get(own.port, "/f1k.bin").first("ETag")
    own.cleanup()
    cases = [("bare", "off", False, None),
             ("shim", "off", True, None),
             ("own304", "on", False, {"If-None-Match": own_tag}),
             ("shim304", "off", True, {"If-None-Match": tag})]
    n1, n2 = scaled(1000), scaled(6000)
    res = {}
    for name, validators, shim, hdrs in cases:
        a = cg_run(name, validators, shim, n1, hdrs)
        b = cg_run(name, validators, shim, n2, hdrs)
        res[name] = (b - a) / float(n2 - n1)
    t[("instr",)] = res
    log("instructions/request: %r" % res)


def section_exec(t):
    """§9: what loading the shim costs a process that never follows a
    connection (each program a CGI execs): CPU of a fork + exec + exit of
    /bin/true, bare against preloaded, batches alternating
    (tools/bench/exec_bench.c)."""
    r = subprocess.run([servers.built("exec_bench"), servers.SHIM_PATH,
                        str(scaled(8000))], capture_output=True, text=True,
                       timeout=600, check=True)
    vals = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            vals[parts[0]] = float(parts[1])
    t[("exec",)] = vals
    log("exec: %r" % vals)


# --------------------------------------------------------------------------
# the table



# --------------------------------------------------------------------------
# §10 acceleration: HTTP/1.1 clients (ab speaks HTTP/1.0, which is never
# accelerated: RFC 9112 §9.3 persistence needs a keep-alive the 304 cannot
# promise the way the server would)


def tree_user_sys_ticks(root):
    """(user, system) clock ticks of every live thread under root."""
    u = k = 0
    for pid in servers.tree_pids(root):
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    st = f.read()
                fields = st[st.rindex(")") + 2:].split()
                u += int(fields[11])
                k += int(fields[12])
        except OSError:
            continue
    return u, k


def wrk_run(server, path, secs, headers=None):
    """wrk -c 16 keep-alive HTTP/1.1 for secs seconds; server CPU per
    request like run_one."""
    cmd = ["wrk", "-t1", "-c%d" % CONCURRENCY, "-d%ds" % secs, "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", "%s: %s" % (k, v)]
    cmd.append(server.url(path))
    us0 = tree_user_sys_ticks(server.proc.pid)
    cpu0 = server_cpu_ns(server)
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=secs + 60)
    cpu1 = server_cpu_ns(server)
    us1 = tree_user_sys_ticks(server.proc.pid)
    m = re.search(r"(\d+) requests in", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError("wrk failed: %s %s" % (out.stdout[-500:],
                                                   out.stderr[-500:]))
    n = int(m.group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    errs = re.search(r"Socket errors: (.*)", out.stdout)

    def ms(label):
        mm = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)" % label, out.stdout,
                       re.M)
        if not mm:
            return 0.0
        return float(mm.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[
            mm.group(2)]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    # user / system split from clock ticks: coarse, but over seconds of
    # a busy worker it says where the time goes
    ticks = us1[0] - us0[0] + us1[1] - us0[1]
    cpu_us = (cpu1 - cpu0) / 1000.0 / max(n, 1)
    user_share = (us1[0] - us0[0]) / ticks if ticks else 0.0
    return {"cpu_us": cpu_us, "user_us": cpu_us * user_share,
            "rps": float(rps.group(1)) if rps else 0.0,
            "p50": ms("50%"), "p99": ms("99%"), "bytes": 0.0,
            "complete": n, "failed": 1 if errs else 0,
            "non2xx": int(bad.group(1)) if bad else 0}


def oneshot_run(server, path, n, headers=None):
    """n HTTP/1.1 requests, one per connection, closed by the client after
    its response (no Connection: close, which is never accelerated), 8 at
    a time; server CPU per request like run_one."""
    host = "127.0.0.1:%d" % server.port
    data = wire.request_bytes("GET", path, host,
                              list((headers or {}).items()))
    left = [n]
    lock = threading.Lock()
    fails = [0]

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                with socket.create_connection(("127.0.0.1", server.port),
                                              timeout=10) as s:
                    s.sendall(data)
                    buf = b""
                    while True:
                        r, used = wire.parse_one(buf, "GET", eof=False)
                        if r is not None:
                            break
                        chunk = s.recv(65536)
                        if not chunk:
                            r, _ = wire.parse_one(buf, "GET", eof=True)
                            break
                        buf += chunk
                    if r is None or r.status != 304:
                        fails[0] += 1
            except OSError:
                fails[0] += 1
    cpu0 = server_cpu_ns(server)
    t0 = time.monotonic()
    ths = [threading.Thread(target=worker) for _ in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    took = time.monotonic() - t0
    time.sleep(0.3)  # let the last children exit and be reaped
    cpu1 = server_cpu_ns(server)
    return {"cpu_us": (cpu1 - cpu0) / 1000.0 / n, "rps": n / took,
            "p50": 0.0, "p99": 0.0, "bytes": 0.0, "complete": n,
            "failed": fails[0], "non2xx": fails[0]}


def prime(srv, path, accelerated=False):
    """A GET with the Host wrk and oneshot_run send; returns its tag. With
    accelerated, waits until a revalidation is answered before the server
    (its 304 carries Age)."""
    host = "127.0.0.1:%d" % srv.port

    def one(headers=()):
        req = wire.Request("GET", path, host=False,
                           headers=[("Host", host)] + list(headers))
        ex = wire.exchange(srv.port, [req], timeout=10)
        if ex.error or not ex.final():
            raise RuntimeError("GET %s on %s: %r" % (path, srv.name, ex))
        return ex.final()[0]
    tag = one().first("ETag")
    if not tag:
        raise RuntimeError("no tag from %s%s" % (srv.name, path))
    deadline = time.monotonic() + 10
    while accelerated:
        r = one([("If-None-Match", tag)])
        if r.status == 304 and r.first("Age") is not None:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("%s%s never accelerated: %r" % (
                srv.name, path, r))
        time.sleep(0.1)
    return tag


def accel_daemon():
    d = daemon_util.Daemon(ARGS.work, name="accel").start()
    env = {"NOTMOD_SOCKET": d.socket, "NOTMOD_SNAPSHOT": d.snapshot}
    return d, env


def fresh(d, prefix, setting):
    rc, _, err = daemon_util.ctl("fresh", prefix, setting, control=d.control)
    if rc != 0:
        raise RuntimeError("notmodctl fresh: " + err)
    time.sleep(0.2)


def keepalive_requests(port, path, n, headers):
    """n HTTP/1.1 requests on one keep-alive connection, one at a time."""
    host = "127.0.0.1:%d" % port
    data = wire.request_bytes("GET", path, host, list(headers.items()))
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        buf = b""
        for _ in range(n):
            s.sendall(data)
            while True:
                r, used = wire.parse_one(buf, "GET", eof=False)
                if r is not None:
                    buf = buf[used:]
                    break
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("closed during the callgrind run")
                buf += chunk


def cg_accel(d, env, n):
    """User-space instructions nginx executes for n accelerated 304s (1 KiB
    file), start and stop included."""
    out = os.path.join(ARGS.work, "cg-accel-%d.out" % n)
    srv = CallgrindNginx("off", out, shim=True, shim_env=env, tag="-cg-accel")
    srv.start()
    try:
        tag = prime(srv, "/f1k.bin", accelerated=True)
        keepalive_requests(srv.port, "/f1k.bin", n, {"If-None-Match": tag})
    finally:
        srv.stop()
    return cg_total(out)


def section_accel(t):
    """§10: an accelerated 304 on legacy nginx against nginx's own 304,
    proxy_cache's and Varnish's (keep-alive, wrk); on a busybox CGI
    against the substituted 304 (a connection per request)."""
    d, env = accel_daemon()
    fresh(d, "/", "3600")
    accel = BenchNginx("off", shim=True, shim_env=env,
                       tag="-accel").start()
    own = nginx_etag().start()
    origin = nginx_legacy(shim=True).start()
    varnish = Varnish(origin.port, tag="-accel").start()
    pcache = ProxyCacheNginx(origin.port, tag="-proxycache-accel").start()
    secs = max(2, int(5 * ARGS.scale))
    for label, name, size in SIZES[:2]:
        path = "/" + name
        tag = prime(accel, path, accelerated=True)
        cases = [("accel", accel, path, {"If-None-Match": tag}),
                 ("nginx", own, path,
                  {"If-None-Match": prime(own, path)})]
        otag = prime(origin, path)
        for name_, srv in (("proxy_cache", pcache), ("varnish", varnish)):
            prime(srv, path)
            prime(srv, path)  # filled
            cases.append((name_, srv, path, {"If-None-Match": otag}))
        t[("accel", label)] = compare("accel %s" % label, cases, secs, True,
                                      runner=wrk_run)
    for s in (accel, own, origin, varnish, pcache):
        s.stop()
    if servers.have("valgrind"):
        n1, n2 = 300, 1300  # exact counts: no need to scale
        a, b = cg_accel(d, env, n1), cg_accel(d, env, n2)
        t[("accel_instr",)] = (b - a) / float(n2 - n1)
        log("accelerated 304: %.0f instructions/request" %
            t[("accel_instr",)])
    bb_accel = servers.BusyboxServer(ARGS.docroot, verbose=False, shim=True,
                                     shim_env=env, workdir=ARGS.work,
                                     tag="-accel").start()
    bb_subst = busybox(shim=True).start()
    # The floor of a connection per request: bare busybox answering a
    # static file's revalidation itself (fork, parse, stat, 304, exit).
    bb_bare = busybox().start()
    fresh(d, "/", "off")
    fresh(d, "/cgi-bin", "3600")
    tag = prime(bb_accel, CGI_PATH, accelerated=True)
    stag = prime(bb_subst, CGI_PATH)
    btag = prime(bb_bare, "/page.html")
    bbs = (bb_accel, bb_subst, bb_bare)
    try:
        t[("accel", "CGI")] = compare(
            "accel CGI", [("accel", bb_accel, CGI_PATH,
                           {"If-None-Match": tag}),
                          ("subst", bb_subst, CGI_PATH,
                           {"If-None-Match": stag}),
                          ("floor", bb_bare, "/page.html",
                           {"If-None-Match": btag})],
            scaled(1500), False, runner=oneshot_run)
    finally:
        for srv in bbs:
            srv.stop()
    d.stop()


# The API-polling run: POLL_CLIENTS keep-alive clients each revalidate
# POLL_URLS URLs once a second with If-None-Match; 1% of the URLs change
# every second; the route is fresh 1 s.
POLL_CLIENTS = 64
POLL_URLS = 100


def poll_body(i, version):
    return b'{"url": %d, "version": %d}\n' % (i, version)


class PollClient:
    """One keep-alive client: its URLs in order, one request at a time."""

    def __init__(self, port, host, urls):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.host, self.urls = host, urls
        self.buf = b""
        self.next_i = 0
        self.round_start = 0.0
        self.pending = None  # (url index, version of the tag sent, when)


def poll_run(port, docroot, secs, fresh_s):
    """The polling run; returns requests, 304s and the 304s answered later
    than fresh_s after their content changed (measured against the change
    times recorded before each rename), and within it."""
    import selectors
    host = "127.0.0.1:%d" % port
    tags = {}       # url index -> (tag, version) the clients last got
    changes = {}    # (url index, version) -> when that version was replaced
    version = {i: 0 for i in range(POLL_URLS)}
    stop = threading.Event()

    def changer():
        k = 0
        while not stop.wait(1.0 / max(1, POLL_URLS // 100)):
            i = (k * 37) % POLL_URLS
            k += 1
            v = version[i]
            changes[(i, v)] = time.time()
            p = os.path.join(docroot, "api", "u%d.json" % i)
            docroots.write_file(p + ".tmp", poll_body(i, v + 1))
            os.rename(p + ".tmp", p)
            version[i] = v + 1

    sel = selectors.DefaultSelector()
    clients = [PollClient(port, host, list(range(POLL_URLS)))
               for _ in range(POLL_CLIENTS)]
    stats = {"requests": 0, "304": 0, "200": 0, "stale_outside": 0,
             "stale_within": 0}
    lock = threading.Lock()

    def send(c, now):
        i = c.urls[c.next_i]
        tag, v = tags.get(i, (None, None))
        hdrs = [("If-None-Match", tag)] if tag else []
        c.sock.send(wire.request_bytes("GET", "/api/u%d.json" % i, c.host,
                                       hdrs))
        c.pending = (i, v, time.time())

    def on_response(c, r):
        i, v, sent = c.pending
        c.pending = None
        stats["requests"] += 1
        if r.status == 304:
            stats["304"] += 1
            replaced = changes.get((i, v))
            if replaced is not None and sent > replaced:
                stats["stale_outside" if sent > replaced + fresh_s
                      else "stale_within"] += 1
        elif r.status == 200:
            stats["200"] += 1
            m = re.match(rb'\{"url": (\d+), "version": (\d+)\}', r.body)
            tags[i] = (r.first("ETag"), int(m.group(2)))

    t_end = time.monotonic() + secs
    th = threading.Thread(target=changer)
    th.start()
    for c in clients:
        c.round_start = time.monotonic()
        sel.register(c.sock, selectors.EVENT_READ, c)
        send(c, c.round_start)
    try:
        while time.monotonic() < t_end:
            for key, _ in sel.select(timeout=0.05):
                c = key.data
                chunk = c.sock.recv(65536)
                if not chunk:
                    raise RuntimeError("server closed a polling connection")
                c.buf += chunk
                r, used = wire.parse_one(c.buf, "GET", eof=False)
                if r is None:
                    continue
                c.buf = c.buf[used:]
                with lock:
                    on_response(c, r)
                c.next_i += 1
                if c.next_i == len(c.urls):  # a round done: wait its second
                    c.next_i = 0
                    c.round_start += 1.0
                if time.monotonic() >= c.round_start or c.next_i:
                    send(c, time.monotonic())
            now = time.monotonic()
            for c in clients:
                if c.pending is None and now >= c.round_start:
                    send(c, now)
    finally:
        stop.set()
        th.join()
        for c in clients:
            c.sock.close()
    return stats


def section_poll(t):
    """§10: the API-polling run, accelerated (fresh 1 s) and not (the
    shim substitutes the 304 after the server ran)."""
    api = os.path.join(ARGS.docroot, "api")
    os.makedirs(api, exist_ok=True)
    for i in range(POLL_URLS):
        docroots.write_file(os.path.join(api, "u%d.json" % i),
                            poll_body(i, 0))
    d, env = accel_daemon()
    srv = BenchNginx("off", shim=True, shim_env=env, tag="-poll").start()
    secs = max(5, int(10 * ARGS.scale))
    res = {}
    for mode in ("substituted", "accelerated"):
        fresh(d, "/api", "1" if mode == "accelerated" else "off")
        before = d.stats()
        cpu0 = tree_cpu_ns(srv.proc.pid)
        st = poll_run(srv.port, ARGS.docroot, secs, 1.0)
        cpu1 = tree_cpu_ns(srv.proc.pid)
        time.sleep(0.5)  # the last events reach notmodd
        after = d.stats()
        for k in ("hits_accelerated", "hits_substituted"):
            st[k] = after[k] - before[k]
        st["cpu_us"] = (cpu1 - cpu0) / 1000.0 / max(st["requests"], 1)
        st["rps"] = st["requests"] / secs
        res[mode] = st
        log("poll %s: %r" % (mode, st))
    t[("poll",)] = res
    srv.stop()
    d.stop()


def verdict(ok):
    return "met" if ok else "**MISSED**"


def table(t):
    cols = [label for label, _, _ in SIZES] + ["CGI"]
    rows = []

    def row(sec, what, cells, target=""):
        if not cells:
            return  # section not run
        rows.append("| %s | %s | %s | %s |" % (
            sec, what, " | ".join(cells.get(c, "—") for c in cols), target))

    def each(key_fn, fmt):
        cells = {}
        for c in cols:
            v = t.get(key_fn(c))
            if v is not None:
                cells[c] = fmt(v)
        return cells

    # §1: 1.05 for 1 KiB and the CGI, 1.03 for 16 and 256 KiB
    def limit(c):
        return 1.05 if c in ("1 KiB", "CGI") else 1.03

    def pass_cell(c):
        return lambda v: "%.1f → %.1f, **%.3f** %s" % (
            v["bare"]["cpu_us"], v["shim"]["cpu_us"], v["shim"]["ratio"],
            verdict(v["shim"]["ratio"] <= limit(c)))

    def each_col(key_fn, fmt_for):
        cells = {}
        for c in cols:
            v = t.get(key_fn(c))
            if v is not None:
                cells[c] = fmt_for(c)(v)
        return cells

    for ka in (True, False):
        mode = "keep-alive" if ka else "1 req/conn"
        row("1", "pass-through %s: CPU µs/req bare → shim, ratio" % mode,
            each_col(lambda c: ("pass", ka, c), pass_cell),
            "≤ 1.05 (1 KiB, CGI), ≤ 1.03")
        row("1", "pass-through %s: req/s bare → shim" % mode,
            each(lambda c: ("pass", ka, c), lambda v: "%.0f → %.0f" % (
                v["bare"]["rps"], v["shim"]["rps"])))
        row("1", "pass-through %s: p50 ms bare → shim" % mode,
            each(lambda c: ("pass", ka, c), lambda v: "%.2f → %.2f" % (
                v["bare"]["p50"], v["shim"]["p50"])))
        row("1", "pass-through %s: p99 ms bare → shim" % mode,
            each(lambda c: ("pass", ka, c), lambda v: "%.2f → %.2f %s" % (
                v["bare"]["p99"], v["shim"]["p99"],
                verdict(v["shim"]["p99"] <= 1.05 * v["bare"]["p99"]))),
            "≤ +5%")
    row("1", "follow only (nginx's own ETag), keep-alive: CPU µs/req bare → "
        "shim, ratio", each_col(lambda c: ("follow", c), pass_cell),
        "≤ 1.05 (1 KiB), ≤ 1.03")
    # §2
    for who, tgt, lim in (("nginx", "≤ 1.11", 1.11), ("varnish", "≤ 0.67",
                                                       0.67),
                          ("proxy_cache", "≤ 0.9", 0.9)):
        def cell(v, who=who, lim=lim):
            if who not in v:
                return "n/a"
            r = 1.0 / v[who]["ratio"]  # stored as other/shim
            return "%.1f vs %.1f, **%.3f** %s" % (
                v["shim"]["cpu_us"], v[who]["cpu_us"], r, verdict(r <= lim))
        row("2", "304: CPU µs/req shim vs %s, ratio shim/%s" % (who, who),
            each(lambda c: ("reval", c), cell), tgt)
    row("2", "304 req/s: shim / nginx / varnish / proxy_cache",
        each(lambda c: ("reval", c), lambda v: " / ".join(
            "%.0f" % v[k]["rps"] if k in v else "n/a"
            for k in ("shim", "nginx", "varnish", "proxy_cache"))),
        "shim ≥ 0.9 × nginx")
    row("2", "304 p99 ms: shim / nginx / varnish / proxy_cache",
        each(lambda c: ("reval", c), lambda v: " / ".join(
            "%.2f" % v[k]["p99"] if k in v else "n/a"
            for k in ("shim", "nginx", "varnish", "proxy_cache"))))
    row("2", "bytes per revalidation: shim / nginx / varnish / proxy_cache",
        each(lambda c: ("reval", c), lambda v: " / ".join(
            "%.0f" % v[k]["bytes"] if k in v else "n/a"
            for k in ("shim", "nginx", "varnish", "proxy_cache")) + " " +
            verdict(v["shim"]["bytes"] <= 300)), "≤ 300")
    # §3
    def synth_key(c):  # a CGI body always goes through hold + hash
        return ("pass", False, c) if c == "CGI" else ("synth", c)

    row("3", "synthesis (hold + hash; files with sendfile off; CGI = §1 "
        "1 req/conn): CPU µs/req bare → shim, ratio",
        each(synth_key, lambda v: "%.1f → %.1f, **%.3f**" % (
            v["bare"]["cpu_us"], v["shim"]["cpu_us"], v["shim"]["ratio"])))
    row("3", "synthesis: req/s bare → shim; p99 ms bare → shim",
        each(synth_key, lambda v: "%.0f → %.0f; %.2f → %.2f" % (
            v["bare"]["rps"], v["shim"]["rps"], v["bare"]["p99"],
            v["shim"]["p99"])))
    # §4..6: single figures, in the first column
    one = cols[0]
    m = t.get(("mem", "idle"))
    if m:
        row("4", "RSS added by the shim per idle keep-alive connection "
            "(1,000 conns; nginx +%d KiB bare, +%d KiB shim)" % (
                m["bare_kb"], m["shim_kb"]),
            {one: "%.0f B %s" % (m["per_conn_b"],
                                 verdict(m["per_conn_b"] <= 1024))},
            "≤ 1 KiB")
    m = t.get(("mem", "held"))
    if m:
        b, s = m[False], m[True]
        row("4", "100 conns each holding 256 KiB (25,600 KiB of bodies): "
            "server RSS / memfd / client got, bare vs shim",
            {one: "RSS +%d vs +%d KiB; memfd %d vs %d KiB; client %d vs %d KiB"
             % (b["rss_kb"], s["rss_kb"], b["memfd_kb"], s["memfd_kb"],
                b["client_kb"], s["client_kb"])},
            "held bytes count against NOTMOD_HOLD_TOTAL only")
    d = t.get(("daemon",))
    if d:
        for (backend, churn), v in sorted(d.items()):
            what = ("notmodd events/s, %s store, %s (10k URLs): events/s "
                    "(notmodd CPU µs/event%s; processed of sent)" % (
                        backend, "every event a new tag" if churn else
                        "steady tags", ", Redis CPU µs/event, Redis keys"
                        if backend == "redis" else ""))
            extra = (", %.2f µs, %d keys" % (v["redis_cpu_us"], v["keys"])
                     if backend == "redis" else "")
            row("5", what, {one: "%.0f/s (%.2f µs%s; %d of %d)" % (
                v["eps"], v["cpu_us"], extra, v["seen"], v["sent"])})
    mi = t.get(("micro",), {})
    if "snapshot_hit_ns" in mi:
        row("5", "snapshot lookup ns (hit / miss, 32k URLs)",
            {one: "%.0f / %.0f" % (mi["snapshot_hit_ns"],
                                   mi["snapshot_miss_ns"])})
    if "parser_ns" in mi:
        row("6", "request parser ns/request (410 B; http-parser)",
            {one: "%.0f (%s)" % (mi["parser_ns"], mi["http_parser_ns"])})
    if "cond_eval_inm_ns" in mi:
        row("6", "cond_eval ns (If-None-Match list; If-Modified-Since); "
            "build_304 ns",
            {one: "%.0f; %.0f; %.0f" % (mi["cond_eval_inm_ns"],
                                        mi["cond_eval_ims_ns"],
                                        mi["build_304_ns"])})
        row("6", "body hash GB/s (XXH3-128 + tag), 1 KiB / 1 MiB / 16 MiB",
            {one: "%.1f / %.1f / %.1f" % (mi["hash_1k_gbps"],
                                          mi["hash_1m_gbps"],
                                          mi["hash_16m_gbps"])})
    if "hash_16k_lib_gbps" in mi:
        row("6", "body hash GB/s, 16 KiB (§8's body): the shim's (AVX2 "
            "build where the CPU has it) → libxxhash's own",
            {one: "%.1f → %.1f" % (mi["hash_16k_gbps"],
                                   mi["hash_16k_lib_gbps"])})
    ins = t.get(("instr",))
    if ins:
        row("7", "user-space instructions per request (callgrind, nginx "
            "1 KiB keep-alive): 200 bare → shim (+added); nginx's own 304 → "
            "shim's 304 on legacy nginx",
            {one: "%.0f → %.0f (+%.0f) %s; %.0f → %.0f" % (
                ins["bare"], ins["shim"], ins["shim"] - ins["bare"],
                verdict(ins["shim"] - ins["bare"] <= 3000),
                ins["own304"], ins["shim304"])}, "≤ +3,000")
    tls = t.get(("tls", "tls"))
    if tls:
        plain = t[("tls", "plain")]
        row("8", "HTTPS inside nginx (its own OpenSSL), keep-alive: CPU "
            "µs/req bare → shim, ratio; the same in plaintext, ratio",
            {"16 KiB": "%.1f → %.1f, **%.3f**; plain %.1f → %.1f, **%.3f** %s"
             % (tls["bare"]["cpu_us"], tls["shim"]["cpu_us"],
                tls["shim"]["ratio"], plain["bare"]["cpu_us"],
                plain["shim"]["cpu_us"], plain["shim"]["ratio"],
                verdict(tls["shim"]["ratio"] <= plain["shim"]["ratio"]))},
            "TLS ratio ≤ plaintext ratio")
        row("8", "HTTPS inside nginx: req/s bare → shim; p99 ms bare → shim",
            {"16 KiB": "%.0f → %.0f; %.2f → %.2f" % (
                tls["bare"]["rps"], tls["shim"]["rps"], tls["bare"]["p99"],
                tls["shim"]["p99"])})
    ex = t.get(("exec",))
    if ex:
        row("9", "fork + exec + exit of /bin/true (a process that never "
            "follows): CPU µs bare → shim preloaded, ratio",
            {one: "%.0f → %.0f, **%.3f** %s" % (
                ex["exec_bare_us"], ex["exec_preload_us"], ex["exec_ratio"],
                verdict(ex["exec_ratio"] <= 1.10))}, "≤ 1.10")
    # §10
    for who, tgt, lim in (("nginx", "≤ 0.5", 0.5), ("proxy_cache", "≤ 0.4",
                                                     0.4),
                          ("varnish", "≤ 0.3", 0.3)):
        def acell(v, who=who, lim=lim):
            r = v[who]["ratio"]  # other / accel
            return "%.1f vs %.1f, **%.3f** %s" % (
                v["accel"]["cpu_us"], v[who]["cpu_us"], 1.0 / r,
                verdict(1.0 / r <= lim))
        row("10", "accelerated 304 (keep-alive, wrk): CPU µs/req accel vs "
            "%s, ratio accel/%s" % (who, who),
            each(lambda c: ("accel", c) if c != "CGI" else None, acell), tgt)
    row("10", "accelerated 304: user-space CPU µs/req (the rest is the "
        "kernel's): accel / nginx / proxy_cache / varnish",
        each(lambda c: ("accel", c) if c != "CGI" else None,
             lambda v: " / ".join("%.1f" % v[k]["user_us"] for k in (
                 "accel", "nginx", "proxy_cache", "varnish"))))
    ai = t.get(("accel_instr",))
    if ai:
        row("10", "user-space instructions per accelerated 304 (callgrind, "
            "nginx 1 KiB keep-alive; §7 has nginx's own 304 and the "
            "substituted one)", {cols[0]: "%.0f" % ai})
    row("10", "accelerated 304 req/s: accel / nginx / proxy_cache / varnish",
        each(lambda c: ("accel", c) if c != "CGI" else None,
             lambda v: " / ".join("%.0f" % v[k]["rps"] for k in (
                 "accel", "nginx", "proxy_cache", "varnish"))))
    row("10", "busybox CGI, a connection per request: CPU µs/req accelerated "
        "vs substituted 304, ratio",
        each(lambda c: ("accel", c) if c == "CGI" else None,
             lambda v: "%.0f vs %.0f, **%.3f** %s (busybox's own 304 "
             "for a static file, bare: %.0f)" % (
                 v["accel"]["cpu_us"], v["subst"]["cpu_us"],
                 1.0 / v["subst"]["ratio"],
                 verdict(1.0 / v["subst"]["ratio"] <= 0.05),
                 v["floor"]["cpu_us"])), "≤ 0.05")
    p = t.get(("poll",))
    if p:
        a, s_ = p["accelerated"], p["substituted"]
        row("10", "API polling (%d clients x %d URLs, If-None-Match, 1%% "
            "changing per s, fresh 1 s): requests/s; server CPU µs/req "
            "without acceleration → with; 304s accelerated / substituted; "
            "stale 304s outside / within the freshness" % (POLL_CLIENTS,
                                                          POLL_URLS),
            {one: "%.0f/s; %.1f → %.1f; %d / %d; **%d** %s / %d" % (
                a["rps"], s_["cpu_us"], a["cpu_us"], a["hits_accelerated"],
                a["hits_substituted"], a["stale_outside"],
                verdict(a["stale_outside"] == 0 and
                        s_["stale_outside"] == 0), a["stale_within"])},
            "0 outside")
    head = ("| § | measurement | %s | target |\n|---|---|%s---|" %
            (" | ".join(cols), "---|" * len(cols)))
    return head + "\n" + "\n".join(rows) + "\n"


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--sections", default="1,2,3,4,5,6,7,8,9,10")
    ARGS = ap.parse_args()
    servers.use_build_dir(ARGS.build)
    ARGS.work = os.path.abspath(ARGS.work)
    ARGS.docroot = os.path.join(ARGS.work, "docroot")
    # run.sh stops these process groups if this process could not
    servers.record_groups(os.path.join(ARGS.work, "pgids"))
    # SIGTERM: servers.py stops everything and exits 143
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    make_docroot()
    t = {}
    wanted = ARGS.sections.split(",")
    steps = [("1", section_passthrough), ("2", section_revalidation),
             ("3", section_synthesis), ("4", section_memory),
             ("5", section_daemon), ("6", section_micro),
             ("7", section_instructions), ("8", section_tls),
             ("9", section_exec), ("10", section_accel),
             ("10", section_poll)]
    try:
        for sec, fn in steps:
            if sec in wanted or (sec == "6" and "5" in wanted):
                t0 = time.monotonic()
                fn(t)
                log("section %s took %.0f s" % (sec, time.monotonic() - t0))
    finally:
        servers.stop_all()
        release_cgroups()
    out = table(t)
    if not ARGS.out:
        print(out)
    else:
        with open(ARGS.out, "w") as f:
            f.write(out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--slow-server":
        slow_server_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()
