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
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import daemon_util  # noqa: E402  (the tests' fixtures, from the path above)
import servers  # noqa: E402
from daemon_util import wait_for  # noqa: E402


class Store:
    """One redis-server, or the masters of a 3-master cluster (the tests'
    fixtures; the cluster with Redis's default node timeout, as deployed),
    and the figures a run reads from them."""

    def __init__(self, dir, is_cluster):
        if is_cluster:
            self.server = daemon_util.RedisCluster(dir, masters=3,
                                                   node_timeout_ms=None)
            self.nodes = self.server.nodes
        else:
            self.server = daemon_util.Redis(dir)
            self.nodes = [self.server]
        for n in self.nodes:
            n.cmd_timeout = 30.0  # INFO and MEMORY under the fleet's load
        self.server.start()
        self.url = self.server.url

    def stop(self):
        self.server.stop()

    def cmd(self, *args):
        """A key's command on whichever master has it (redirections
        followed)."""
        return self.server.cmd(*args)

    def sum_info(self, section, *fields):
        out = dict.fromkeys(fields, 0.0)
        for n in self.nodes:
            i = n.info(section)
            for f in fields:
                out[f] += float(i.get(f, 0))
        return out

    def commandstats(self):
        calls = {}
        for n in self.nodes:
            for k, v in n.info("commandstats").items():
                c = int(v.split("calls=")[1].split(",")[0])
                calls[k[len("cmdstat_"):]] = calls.get(k[len("cmdstat_"):],
                                                       0) + c
        return calls

    def url_keys(self):
        n = 0
        for node in self.nodes:
            ks = node.info("keyspace").get("db0", "keys=0").split(",")[0]
            n += int(ks.split("=")[1])
        return n


def daemon(dir, name, redis_url):
    """notmodd (the tests' Daemon) against the store, started and not
    waited for: a fleet starts all at once."""
    d = daemon_util.Daemon(dir, name, ["--redis", redis_url])
    d.ctl_timeout = 10.0
    return d.start(wait=False)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(d):
    return servers.status_kb(d.proc.pid, "VmRSS") or 0


def is_idle(d):
    return " connected, 0 in flight, 0 queued" in d.fields(
        "status")["store"]


def lm_of(d, url):
    ans = d.ctl("get " + url)
    if not ans.startswith("ok\n"):
        return None, 0
    rec = dict(l.split(": ", 1) for l in ans[3:].splitlines() if ": " in l)
    return rec.get("tag"), int(rec["last_modified"].split()[0])


def probe(daemons, k, results, stop):
    """Changes http://fleet.test/probe?k=<k> on daemon 0, then serves it on
    the others: (seconds until daemon 0 has a date, until all have it)."""
    url = "http://fleet.test/probe?k=%d" % k
    tag = '"probe-%d"' % k
    t0 = time.monotonic()
    daemons[0].emit(host="fleet.test", path="/probe?k=%d" % k, tag=tag)
    lm = wait_for(lambda: (lambda t, m: m if t == tag and m else 0)(
        *lm_of(daemons[0], url)), 30, "probe dated", interval=0.02)
    first = time.monotonic() - t0
    for d in daemons[1:]:
        d.emit(host="fleet.test", path="/probe?k=%d" % k, tag=tag)
    pending = list(daemons[1:])
    while pending and not stop.is_set():
        pending = [d for d in pending if lm_of(d, url) != (tag, lm)]
        if time.monotonic() - t0 > 30:
            break
        time.sleep(0.005)
    results.append((first, time.monotonic() - t0, not pending))


def run(args, n_daemons, n_urls):
    emit = servers.built("nm_emit")
    started = []  # stopped by PID at the end, even on error
    load = None
    tmp = tempfile.TemporaryDirectory(prefix="notmod-fleet-")
    try:
        store = Store(tmp.name, args.cluster)
        started.append(store)
        mem0 = store.sum_info("memory", "used_memory")["used_memory"]
        daemons = [daemon(tmp.name, "n0", store.url)]
        started += daemons
        wait_for(lambda: is_idle(daemons[0]), 30, "notmodd connected",
                 interval=0.02)
        # Fill: every URL once, through daemon 0 (its epoch scripts), and
        # its counters flushed.
        t = time.monotonic()
        subprocess.run([emit, "--load", "--socket", daemons[0].socket,
                        "--urls", str(n_urls), "--routes", str(args.routes),
                        "--fill", "--seconds", "0"], check=True,
                       stdout=subprocess.DEVNULL)
        wait_for(lambda: store.url_keys() >= n_urls and int(store.cmd(
            "HGET", "notmod:stats", "requests") or 0) == n_urls and
            is_idle(daemons[0]), 3600, "fill written", interval=0.02)
        fill_s = time.monotonic() - t
        fill_requests = n_urls
        mem1 = store.sum_info("memory", "used_memory")["used_memory"]
        hash_bytes = store.cmd("MEMORY", "USAGE",
                               "notmod:url:fleet.test/r%d?u=%d" % (
                                   7 % args.routes, 7))
        # The rest of the fleet starts and reads every URL (warm start),
        # all at once; with one daemon, a second one is timed and stopped.
        t = time.monotonic()
        others = [daemon(tmp.name, "n%d" % i, store.url)
                  for i in range(1, max(n_daemons, 2))]
        started += others
        for d in others:
            wait_for(lambda: is_idle(d) and int(d.fields("status")["urls"])
                     >= n_urls, 3600, "warm start", interval=0.02)
        warm_s = time.monotonic() - t
        warm_rss_kb = max(rss_kb(d) for d in others)
        if n_daemons == 1:
            others[0].stop()
            others = []
        daemons += others
        # Steady phase: load on every daemon, probes meanwhile.
        before = (time.monotonic(), store.sum_info(
            "stats", "total_commands_processed", "total_net_input_bytes"),
            store.sum_info("cpu", "used_cpu_user", "used_cpu_sys"),
            store.commandstats(), [cpu_s(d.proc.pid) for d in daemons])
        load = servers.spawn(
            [emit, "--load", "--urls", str(n_urls), "--routes",
             str(args.routes), "--rate", str(args.rate), "--changes",
             str(args.changes), "--seconds", str(args.seconds), "--seed",
             "1"] + sum((["--socket", d.socket] for d in daemons), []),
            stdout=subprocess.PIPE, text=True)
        results, stop = [], threading.Event()
        time.sleep(min(3, args.seconds / 4))
        k = 0
        while load.poll() is None and k < args.probes:
            probe(daemons, k, results, stop)
            k += 1
            time.sleep(0.5)
        out, _ = load.communicate(timeout=args.seconds + 60)
        after = (time.monotonic(), store.sum_info(
            "stats", "total_commands_processed", "total_net_input_bytes"),
            store.sum_info("cpu", "used_cpu_user", "used_cpu_sys"),
            store.commandstats(), [cpu_s(d.proc.pid) for d in daemons])
        sent = json.loads(out)
        elapsed = after[0] - before[0]
        # Exactness: once every daemon flushed and has nothing in flight.
        time.sleep(1.2)
        wait_for(lambda: all(is_idle(d) for d in daemons), 120, "idle",
                 interval=0.02)
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
            "notmodd_rss_kb_max": max(rss_kb(d) for d in daemons),
            "warm_start_s": round(warm_s, 1),
            "warm_rss_kb": warm_rss_kb,
        }
        return row
    finally:
        servers.stop_group(load)
        for x in reversed(started):
            x.stop()
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
    ap.add_argument("--build", default=servers.BUILD_DIR)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    servers.use_build_dir(args.build)
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
