#!/usr/bin/env python3
"""tools/bench/cgi_side.py - busybox's CGI page (bench.py §1) measured
side by side under several shim builds in one run: cgroup CPU per CGI
request (everything busybox forks and execs counted), rounds in rotating
order, geometric mean and median of the per-round ratios to bare; then
the exec of /bin/true under each build (exec_bench). On a shared machine
many short rounds (150 requests) pair each case with a bare run close in
time, as exec_bench's batches do.

Usage: cgi_side.py --work DIR [--rounds N] [--requests N]
                   NAME=LIBNOTMOD.so[,VAR=VALUE...] ...
A case whose library is "-" is busybox bare; the first case is the base.
Run as root (the cgroup) and under flock /tmp/notmod-bench.lock.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                "tests", "integration"))

import bench  # noqa: E402
import servers  # noqa: E402


def parse_case(spec):
    name, _, rest = spec.partition("=")
    lib, *pairs = rest.split(",")
    env = dict(p.split("=", 1) for p in pairs)
    return name, (None if lib == "-" else os.path.abspath(lib)), env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--exec-bench")
    ap.add_argument("--execs", type=int, default=4000)
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    cases = [parse_case(c) for c in args.cases]
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    bench.ARGS = argparse.Namespace(work=work, rounds=args.rounds, scale=1.0,
                                    docroot=os.path.join(work, "docroot"))
    servers.record_groups(os.path.join(work, "pgids"))
    bench.make_docroot()
    started = []
    try:
        for name, lib, env in cases:
            shim_env = dict(env)
            if lib is not None:
                shim_env["LD_PRELOAD"] = lib
            srv = servers.BusyboxServer(bench.ARGS.docroot, verbose=False,
                                        shim=lib is not None,
                                        shim_env=shim_env, workdir=work,
                                        tag="-" + name)
            srv.start()
            bench.get(srv.port, bench.CGI_PATH)  # warm: page cache, libs
            started.append((name, srv, bench.CGI_PATH, None))
        runs = {name: [] for name, *_ in started}
        for r in range(args.rounds):
            k = r % len(started)  # rotating order
            for name, srv, path, _ in started[k:] + started[:k]:
                runs[name].append(bench.run_one(srv, path, args.requests,
                                                False))
        base = started[0][0]
        print("| case | CPU µs per CGI request (median) | ratio to %s "
              "(geometric mean) | median ratio | per-round ratios, "
              "min-max |" % base)
        print("|---|---|---|---|---|")
        for name in runs:
            ratios = [b["cpu_us"] / a["cpu_us"]
                      for a, b in zip(runs[base], runs[name])]
            gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
            med = statistics.median(x["cpu_us"] for x in runs[name])
            bad = sum(x["non2xx"] + x["failed"] for x in runs[name])
            print("| %s | %.0f | %.3f%s | %.3f | %.3f-%.3f |" % (
                name, med, gm, "" if not bad else " (%d failed)" % bad,
                statistics.median(ratios), min(ratios), max(ratios)))
    finally:
        servers.stop_all()
        bench.release_cgroups()
    if args.exec_bench:
        for name, lib, _ in cases:
            if lib is None:
                continue
            out = subprocess.run([args.exec_bench, lib, str(args.execs)],
                                 capture_output=True, text=True, check=True)
            print("exec of /bin/true, %s: %s" % (
                name, " ".join(out.stdout.split())))


if __name__ == "__main__":
    main()
