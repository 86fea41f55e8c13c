"""Load and soak: wrk drives nginx (validators off, 2 workers)
under the shim with 256 connections and a 50/50 mix of revalidations (the
shim's nm- tag in If-None-Match: the shim answers 304) and plain GETs (the
shim adds the tag to nginx's 200).

Checked:
- wrk reports zero socket errors (connect, read, write, timeout) and zero
  non-2xx/3xx responses;
- wrk's Lua script checks every response: a response carrying the
  revalidated file's tag must be a 304 without body, one carrying the other
  file's tag must be a 200 with exactly that file's bytes; anything else is
  counted as bad and must not occur;
- meanwhile a raw-client checker (clients.LoadGen) verifies a sample of
  responses: status, SHA-256 of the body, ETag, the 304's shape against the
  200's head;
- the nginx workers' VmRSS at the end is not above its value at a third of
  the run plus slack (flat after warm-up);
- nginx is alive afterwards, its log clean.

CI runs 6 s with nginx's sendfile on and 6 s with it off (NOTMOD_SOAK_SECONDS, NOTMOD_SOAK_CONNS override it);
tools/soak.sh runs the long form (60 s by default)."""

import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time
import unittest

import docroots
import servers
from clients import LoadGen, body_check
from daemon_util import tempdir
from model import check_304_shape
from servers import NginxServer, child_pids, vm_rss_kb
from wire import Request, exchange, request_bytes

SECONDS = int(os.environ.get("NOTMOD_SOAK_SECONDS", "6"))
CONNS = int(os.environ.get("NOTMOD_SOAK_CONNS", "256"))
RSS_SLACK_KB = 8 * 1024          # allocator noise, lazily touched pages
RSS_SLACK_RATIO = 1.10

WRK_LUA = r"""
-- notmod soak: 50/50 revalidation of /reval.bin and plain GET of /plain.bin
local reval_tag = %(reval_tag)s
local plain_tag = %(plain_tag)s
local plain_len = %(plain_len)d
local plain_body = nil
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = io.open(%(plain_path)s, "rb")
  plain_body = f:read("*all")
  f:close()
  good304 = 0
  good200 = 0
  bad = 0
  first_bad = ""
  reqs = {
    wrk.format("GET", "/reval.bin", {["If-None-Match"] = reval_tag}),
    wrk.format("GET", "/plain.bin", nil)
  }
end

function request()
  counter = counter + 1
  return reqs[(counter %% 2) + 1]
end

local function note_bad(why)
  bad = bad + 1
  if first_bad == "" then first_bad = why end
end

function response(status, headers, body)
  local tag = headers["ETag"]
  if tag == reval_tag then
    if status == 304 and (body == nil or #body == 0)
       and headers["Content-Length"] == nil then
      good304 = good304 + 1
    else
      note_bad("reval tag with status " .. status)
    end
  elseif tag == plain_tag then
    if status == 200 and body == plain_body then
      good200 = good200 + 1
    else
      note_bad("plain tag with status " .. status .. " len " ..
               tostring(body and #body))
    end
  else
    note_bad("unknown tag " .. tostring(tag) .. " status " .. status)
  end
end

function done(summary, latency, requests)
  local g3, g2, b, fb = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    g3 = g3 + t:get("good304")
    g2 = g2 + t:get("good200")
    b = b + t:get("bad")
    if fb == "" then fb = t:get("first_bad") end
  end
  io.write(string.format("NMCHECK good304=%%d good200=%%d bad=%%d\n",
                         g3, g2, b))
  io.write("NMFIRSTBAD " .. fb .. "\n")
  local e = summary.errors
  io.write(string.format(
    "NMERRORS connect=%%d read=%%d write=%%d status=%%d timeout=%%d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("NMLAT p50=%%d p99=%%d max=%%d requests=%%d\n",
                         latency:percentile(50), latency:percentile(99),
                         latency.max, summary.requests))
end
"""


def sha(data):
    return hashlib.sha256(data).hexdigest()


def one(port, path, headers=()):
    ex = exchange(port, [Request("GET", path, headers=list(headers) +
                                 [("Connection", "close")])], timeout=10)
    assert ex.error is None and len(ex.final()) == 1, ex
    return ex.final()[0]


@unittest.skipUnless(servers.have("wrk"), "wrk not installed")
class WrkSoak(unittest.TestCase):
    def test_wrk_sendfile_on(self):
        """nginx sends bodies with sendfile: the shim hashes the file."""
        self.run_soak("sendfile on;")

    def test_wrk_sendfile_off(self):
        """nginx writes bodies with writev from its buffers: the shim holds
        each 200 to tag it (48 KiB and 16 KiB: in memory)."""
        self.run_soak("sendfile off;")

    def run_soak(self, extra):
        base = tempdir(self)
        root = docroots.make_docroot(base)
        files = {"/reval.bin": docroots.deterministic_bytes(48 * 1024, 7),
                 "/plain.bin": docroots.deterministic_bytes(16 * 1024, 8)}
        for path, data in files.items():
            docroots.write_file(root + path, data, docroots.T0)
        srv = NginxServer(root, validators="off", workers=2, shim=True,
                          tag="-soak", extra_server="keepalive_requests "
                          "100000; " + extra)
        self.addCleanup(srv.cleanup)
        srv.start()
        tags = {p: one(srv.port, p).first("ETag") for p in files}
        for p, t in tags.items():
            self.assertRegex(t or "", r'^"nm-', p)
        # the 200 a keep-alive revalidation's 304 is cut from
        ref = exchange(srv.port, [Request("GET", "/reval.bin")])
        self.assertIsNone(ref.error, ref)
        ref200 = ref.final()[0]
        lua = os.path.join(base, "mix.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA % {"reval_tag": lua_str(tags["/reval.bin"]),
                               "plain_tag": lua_str(tags["/plain.bin"]),
                               "plain_len": len(files["/plain.bin"]),
                               "plain_path": lua_str(root + "/plain.bin")})

        def shape_304(r):
            p = body_check(304, etag=tags["/reval.bin"])(r)
            if p:
                return p
            probs = check_304_shape(r, ref200)
            return "; ".join(probs) if probs else None
        plan = [
            ("INM reval", get_bytes("/reval.bin", [
                ("If-None-Match", tags["/reval.bin"])]), "GET", shape_304),
            ("GET plain", get_bytes("/plain.bin"), "GET",
             body_check(200, sha(files["/plain.bin"]), tags["/plain.bin"])),
            ("GET reval", get_bytes("/reval.bin"), "GET",
             body_check(200, sha(files["/reval.bin"]), tags["/reval.bin"])),
            ("INM-miss plain", get_bytes("/plain.bin", [
                ("If-None-Match", tags["/reval.bin"])]), "GET",
             body_check(200, sha(files["/plain.bin"]), tags["/plain.bin"])),
        ]
        workers = child_pids(srv.proc.pid)
        self.assertGreaterEqual(len(workers), 2, "nginx workers")

        rss = {}

        def sample_rss():
            time.sleep(SECONDS / 3.0)
            rss["third"] = {w: vm_rss_kb(w) for w in workers}

        sampler = threading.Thread(target=sample_rss, daemon=True)
        checker = LoadGen(srv.port, plan, threads=2, timeout=10).start()
        sampler.start()
        try:
            p = subprocess.run(
                ["wrk", "-t", "4", "-c", str(CONNS), "-d", "%ds" % SECONDS,
                 "--timeout", "5s", "-s", lua, srv.url("/")],
                capture_output=True, text=True, timeout=SECONDS + 60)
        finally:
            checker.stop()
        sampler.join()
        rss["end"] = {w: vm_rss_kb(w) for w in workers}
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        m = re.search(r"NMCHECK good304=(\d+) good200=(\d+) bad=(\d+)", out)
        self.assertIsNotNone(m, out)
        good304, good200, bad = map(int, m.groups())
        e = dict((k, int(v)) for k, v in re.findall(
            r"(connect|read|write|status|timeout)=(\d+)", out))
        lat = dict((k, int(v)) for k, v in re.findall(
            r"(p50|p99|max|requests)=(\d+)", out))
        print("\n[%s] wrk %d conns %d s: %d requests (%.0f/s), %d 304 + %d 200 "
              "checked, %d bad; errors %s; latency p50 %.1f ms p99 %.1f ms "
              "max %.1f ms" % (extra, CONNS, SECONDS, lat["requests"],
                               lat["requests"] / SECONDS, good304, good200,
                               bad, e, lat["p50"] / 1e3, lat["p99"] / 1e3,
                               lat["max"] / 1e3))
        print("checker: %d responses verified, p99 %.1f ms, %d failures" % (
            checker.total(), checker.percentile(99) * 1e3,
            len(checker.failures)))
        for w in workers:
            print("nginx worker %d VmRSS: %s KiB at 1/3, %s KiB at end" % (
                w, rss["third"].get(w), rss["end"].get(w)))
        self.assertEqual(bad, 0, re.search(r"NMFIRSTBAD.*", out).group(0))
        self.assertEqual(e, {"connect": 0, "read": 0, "write": 0,
                             "status": 0, "timeout": 0}, out)
        self.assertGreater(good304, 100)
        self.assertGreater(good200, 100)
        ratio = good304 / float(good304 + good200)
        self.assertTrue(0.4 < ratio < 0.6, "mix %.2f" % ratio)
        self.assertEqual(checker.failures, [], checker.failures[:5])
        self.assertGreater(checker.total(), 20)
        for w in workers:
            third, end = rss["third"].get(w), rss["end"].get(w)
            self.assertIsNotNone(end, "worker %d gone" % w)
            self.assertLessEqual(end, third * RSS_SLACK_RATIO + RSS_SLACK_KB,
                                 "worker %d RSS grew %d -> %d KiB" % (
                                     w, third, end))
        self.assertEqual(sorted(child_pids(srv.proc.pid)), sorted(workers),
                         "a worker was replaced (crash?)")
        self.assertEqual(one(srv.port, "/s.txt").status, 200)
        self.assertEqual(srv.error_lines(), [], srv.logs()[-3000:])


def get_bytes(path, headers=()):
    return request_bytes("GET", path, "127.0.0.1", headers)


def lua_str(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


if __name__ == "__main__":
    unittest.main(verbosity=2)
