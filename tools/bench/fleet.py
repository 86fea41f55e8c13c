#!/usr/bin/env python3
"""tools/bench/fleet.py - a fleet of notmodd on one machine: one Redis (or
a 3-master cluster) and N notmodd on private sockets, fed by nm_emit --load
(M URLs, a request rate per daemon, a fleet-wide change rate), measured:

  Redis commands/s and CPU      INFO stats / cpu / commandstats, steady phase
  Redis bytes per URL           INFO memory used_memory delta over the fill
                                of M URLs / M, and MEMORY USAGE of one hash
  change -> same date on all    a probe URL changed on daemon 0, then served
                                by every other (its new tag emitted to each):
                                time until daemon 0 has the date, and until
                                every daemon has the same one
  counter exactness             notmod:stats = what nm_emit sent
  notmodd CPU                   /proc/<pid>/stat utime+stime, steady phase
  warm start                    the fleet (daemons 1..N-1, or one more with
                                N = 1) started at once against the M URLs:
                                seconds until every one holds them all

Everything on 127.0.0.1 and temp dirs; processes stopped by PID. Usage:
  tools/bench/fleet.py [--daemons 1,10,50] [--urls 10000] [--rate 100]
      [--changes 10] [--seconds 20] [--routes 1000] [--cluster]
      [--build build] [--markdown]
Prints one line per run (and a markdown table with --markdown)."""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def free_port(bus=False):
    """A free port; with bus, one whose cluster bus (port + 10000) is free
    too."""
    for _ in range(200):
        if not bus:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]
        port = random.randrange(20000, 30000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def resp(port, *args, timeout=30):
    """One command over a fresh connection; the decoded reply (errors as
    RuntimeError)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args))
            .encode())
        return _read(s.makefile("rb"))


def _read(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise RuntimeError("bad reply %r" % line)


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


class Procs:
    """Every process started, stopped by PID at the end (even on error)."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, stdout=kw.pop("stdout", subprocess.DEVNULL),
                             stderr=kw.pop("stderr", subprocess.DEVNULL), **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def info(port, section):
    return dict(l.split(":", 1) for l in resp(port, "INFO", section)
                .splitlines() if ":" in l)


class Store:
    """One redis-server, or the masters of a 3-master cluster."""

    def __init__(self, procs, dir, is_cluster):
        self.is_cluster = is_cluster
        n = 3 if is_cluster else 1
        self.ports = [free_port(bus=is_cluster) for _ in range(n)]
        for port in self.ports:
            d = os.path.join(dir, "redis-%d" % port)
            os.makedirs(d)
            argv = ["redis-server", "--port", str(port), "--bind",
                    "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", d, "--logfile", ""]
            if is_cluster:
                argv += ["--cluster-enabled", "yes", "--cluster-config-file",
                         "nodes.conf"]
            procs.start(argv)
            wait_for(lambda: resp(port, "PING") == "PONG", 10, "redis")
        if is_cluster:
            subprocess.run(["redis-cli", "--cluster", "create"] +
                           ["127.0.0.1:%d" % p for p in self.ports] +
                           ["--cluster-yes"], check=True,
                           stdout=subprocess.DEVNULL, timeout=60)
            for p in self.ports:
                wait_for(lambda: "cluster_state:ok" in resp(
                    p, "CLUSTER", "INFO"), 20, "cluster ok")

    @property
    def url(self):
        if self.is_cluster:
            return "cluster://" + ",".join("127.0.0.1:%d" % p
                                           for p in self.ports)
        return "redis://127.0.0.1:%d/0" % self.ports[0]

    def sum_info(self, section, *fields):
        out = dict.fromkeys(fields, 0.0)
        for p in self.ports:
            i = info(p, section)
            for f in fields:
                out[f] += float(i.get(f, 0))
        return out

    def commandstats(self):
        calls = {}
        for p in self.ports:
            for k, v in info(p, "commandstats").items():
                n = int(v.split("calls=")[1].split(",")[0])
                calls[k[len("cmdstat_"):]] = calls.get(k[len("cmdstat_"):],
                                                       0) + n
        return calls

    def cmd(self, *args):
        """A key's command on whichever master has it (MOVED followed)."""
        port = self.ports[0]
        for _ in range(4):
            try:
                return resp(port, *args)
            except RuntimeError as e:
                if not str(e).startswith("MOVED"):
                    raise
                port = int(str(e).rsplit(":", 1)[1])
        raise RuntimeError("redirections")

    def url_keys(self):
        n = 0
        for p in self.ports:
            ks = info(p, "keyspace").get("db0", "keys=0").split(",")[0]
            n += int(ks.split("=")[1])
        return n


class Daemon:
    def __init__(self, procs, build, dir, name, redis_url):
        self.dir = dir
        self.socket = os.path.join(dir, name + ".sock")
        self.control = os.path.join(dir, name + "-ctl.sock")
        self.log = open(os.path.join(dir, name + ".log"), "wb")
        self.proc = procs.start(
            [os.path.join(build, "notmodd"), "--foreground", "--socket",
             self.socket, "--control", self.control, "--snapshot",
             os.path.join(dir, name + ".snapshot"), "--redis", redis_url],
            stdout=self.log, stderr=subprocess.STDOUT)

    def ctl(self, line):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.control)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode()
                out += b

    def fields(self, line):
        ans = self.ctl(line)
        if not ans.startswith("ok\n"):
            raise RuntimeError(ans)
        return dict(l.split(": ", 1) for l in ans[3:].splitlines()
                    if ": " in l)

    def cpu_s(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def is_idle(self):
        return " connected, 0 in flight, 0 queued" in self.fields(
            "status")["store"]


def lm_of(d, url):
    ans = d.ctl("get " + url)
    if not ans.startswith("ok\n"):
        return None, 0
    rec = dict(l.split(": ", 1) for l in ans[3:].splitlines() if ": " in l)
    return rec.get("tag"), int(rec["last_modified"].split()[0])


def probe(build, daemons, k, results, stop):
    """Changes http://fleet.test/probe?k=<k> on daemon 0, then serves it on
    the others: (seconds until daemon 0 has a date, until all have it)."""
    emit = os.path.join(build, "nm_emit")
    url = "http://fleet.test/probe?k=%d" % k
    tag = '"probe-%d"' % k
    t0 = time.monotonic()
    subprocess.run([emit, "--socket", daemons[0].socket, "--host",
                    "fleet.test", "--path", "/probe?k=%d" % k, "--tag", tag],
                   check=True)
    lm = wait_for(lambda: (lambda t, m: m if t == tag and m else 0)(
        *lm_of(daemons[0], url)), 30, "probe dated")
    first = time.monotonic() - t0
    for d in daemons[1:]:
        subprocess.run([emit, "--socket", d.socket, "--host", "fleet.test",
                        "--path", "/probe?k=%d" % k, "--tag", tag],
                       check=True)
    pending = list(daemons[1:])
    while pending and not stop.is_set():
        pending = [d for d in pending if lm_of(d, url) != (tag, lm)]
        if time.monotonic() - t0 > 30:
            break
        time.sleep(0.005)
    results.append((first, time.monotonic() - t0, not pending))


def run(args, n_daemons, n_urls):
    build = os.path.abspath(args.build)
    emit = os.path.join(build, "nm_emit")
    procs = Procs()
    tmp = tempfile.TemporaryDirectory(prefix="notmod-fleet-")
    try:
        store = Store(procs, tmp.name, args.cluster)
        mem0 = store.sum_info("memory", "used_memory")["used_memory"]
        daemons = [Daemon(procs, build, tmp.name, "n0", store.url)]
        wait_for(lambda: daemons[0].is_idle(), 30, "notmodd connected")
        # Fill: every URL once, through daemon 0 (its epoch scripts), and
        # its counters flushed.
        t = time.monotonic()
        subprocess.run([emit, "--load", "--socket", daemons[0].socket,
                        "--urls", str(n_urls), "--routes", str(args.routes),
                        "--fill", "--seconds", "0"], check=True,
                       stdout=subprocess.DEVNULL)
        wait_for(lambda: store.url_keys() >= n_urls and int(store.cmd(
            "HGET", "notmod:stats", "requests") or 0) == n_urls and
            daemons[0].is_idle(), 3600, "fill written")
        fill_s = time.monotonic() - t
        fill_requests = n_urls
        mem1 = store.sum_info("memory", "used_memory")["used_memory"]
        hash_bytes = store.cmd("MEMORY", "USAGE",
                               "notmod:url:fleet.test/r%d?u=%d" % (
                                   7 % args.routes, 7))
        # The rest of the fleet starts and reads every URL (warm start),
        # all at once; with one daemon, a second one is timed and stopped.
        t = time.monotonic()
        others = [Daemon(procs, build, tmp.name, "n%d" % i, store.url)
                  for i in range(1, max(n_daemons, 2))]
        for d in others:
            wait_for(lambda: d.is_idle() and int(d.fields("status")["urls"])
                     >= n_urls, 3600, "warm start")
        warm_s = time.monotonic() - t
        warm_rss_kb = max(d.rss_kb() for d in others)
        if n_daemons == 1:
            others[0].proc.terminate()
            others[0].proc.wait()
            others = []
        daemons += others
        # Steady phase: load on every daemon, probes meanwhile.
        before = (time.monotonic(), store.sum_info(
            "stats", "total_commands_processed", "total_net_input_bytes"),
            store.sum_info("cpu", "used_cpu_user", "used_cpu_sys"),
            store.commandstats(), [d.cpu_s() for d in daemons])
        load = subprocess.Popen(
            [emit, "--load", "--urls", str(n_urls), "--routes",
             str(args.routes), "--rate", str(args.rate), "--changes",
             str(args.changes), "--seconds", str(args.seconds), "--seed",
             "1"] + sum((["--socket", d.socket] for d in daemons), []),
            stdout=subprocess.PIPE, text=True)
        results, stop = [], threading.Event()
        time.sleep(min(3, args.seconds / 4))
        k = 0
        while load.poll() is None and k < args.probes:
            probe(build, daemons, k, results, stop)
            k += 1
            time.sleep(0.5)
        out, _ = load.communicate(timeout=args.seconds + 60)
        after = (time.monotonic(), store.sum_info(
            "stats", "total_commands_processed", "total_net_input_bytes"),
            store.sum_info("cpu", "used_cpu_user", "used_cpu_sys"),
            store.commandstats(), [d.cpu_s() for d in daemons])
        sent = json.loads(out)
        elapsed = after[0] - before[0]
        # Exactness: once every daemon flushed and has nothing in flight.
        time.sleep(1.2)
        wait_for(lambda: all(d.is_idle() for d in daemons), 120, "idle")
        stats = {}
        flat = store.cmd("HGETALL", "notmod:stats")
        stats = {k: int(v) for k, v in zip(flat[::2], flat[1::2])}
        probes_n = len(results) * (n_daemons - 1)
        expect = {"requests": sent["requests"] + fill_requests + probes_n +
                  len(results),
                  "hits_substituted": sent["hits_substituted"],
                  "bytes_saved": sent["bytes_saved"]}
        exact = all(stats.get(k, 0) == v for k, v in expect.items())
        cmds = (after[1]["total_commands_processed"] -
                before[1]["total_commands_processed"]) / elapsed
        net = (after[1]["total_net_input_bytes"] -
               before[1]["total_net_input_bytes"]) / elapsed
        redis_cpu = (after[2]["used_cpu_user"] + after[2]["used_cpu_sys"] -
                     before[2]["used_cpu_user"] -
                     before[2]["used_cpu_sys"]) / elapsed
        by_cmd = {c: (after[3].get(c, 0) - before[3].get(c, 0)) / elapsed
                  for c in after[3]}
        cpus = [(a - b) / elapsed for a, b in zip(after[4], before[4])]
        # What the steady phase added: route hashes, batch markers (one per
        # counter key and daemon), the probes.
        mem2 = store.sum_info("memory", "used_memory")["used_memory"]
        row = {
            "daemons": n_daemons, "urls": n_urls, "rate": args.rate,
            "changes": args.changes, "seconds": round(elapsed, 1),
            "fill_s": round(fill_s, 1),
            "redis_cmds_per_s": round(cmds), "redis_cpu": round(redis_cpu, 3),
            "redis_in_bytes_per_s": round(net),
            "cmds": {c: round(v) for c, v in sorted(by_cmd.items())
                     if v >= 1},
            "bytes_per_url": round((mem1 - mem0) / n_urls),
            "hash_bytes": hash_bytes,
            "used_memory_mb": round(mem2 / 1e6, 1),
            "steady_added_mb": round((mem2 - mem1) / 1e6, 1),
            "probe_first_s": [round(r[0], 3) for r in results],
            "probe_all_s": [round(r[1], 3) for r in results],
            "probes_complete": all(r[2] for r in results),
            "exact": exact, "sent": expect, "in_redis": {
                k: stats.get(k, 0) for k in expect},
            "dropped": sent["dropped"],
            "notmodd_cpu_mean": round(statistics.mean(cpus), 4),
            "notmodd_cpu_max": round(max(cpus), 4),
            "notmodd_rss_kb_max": max(d.rss_kb() for d in daemons),
            "warm_start_s": round(warm_s, 1),
            "warm_rss_kb": warm_rss_kb,
        }
        return row
    finally:
        procs.stop_all()
        tmp.cleanup()


def markdown(rows):
    out = ["| N notmodd | M URLs | Redis cmd/s | Redis CPU | Redis B/URL "
           "(hash) | change seen on 0 / on all, s (median, max) | counters "
           "exact | notmodd CPU mean / max | warm start |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f, a = r["probe_first_s"], r["probe_all_s"]
        out.append("| %d | %s | %d | %.0f %% | %d (%d) | %.3f, %.3f / %.3f, "
                   "%.3f | %s (%d = %d) | %.1f %% / %.1f %% | %.1f s |" % (
                       r["daemons"], format(r["urls"], ","),
                       r["redis_cmds_per_s"], 100 * r["redis_cpu"],
                       r["bytes_per_url"], r["hash_bytes"],
                       statistics.median(f) if f else 0, max(f, default=0),
                       statistics.median(a) if a else 0, max(a, default=0),
                       "yes" if r["exact"] else "NO",
                       r["in_redis"]["requests"], r["sent"]["requests"],
                       100 * r["notmodd_cpu_mean"],
                       100 * r["notmodd_cpu_max"], r["warm_start_s"]))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--daemons", default="1,10,50")
    ap.add_argument("--urls", default="10000")
    ap.add_argument("--rate", type=float, default=100,
                    help="events a second per daemon")
    ap.add_argument("--changes", type=float, default=10,
                    help="URL changes a second, fleet-wide")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--routes", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=5)
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    rows = []
    for m in (int(x) for x in args.urls.split(",")):
        for n in (int(x) for x in args.daemons.split(",")):
            row = run(args, n, m)
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.markdown:
        print(markdown(rows))


if __name__ == "__main__":
    main()
