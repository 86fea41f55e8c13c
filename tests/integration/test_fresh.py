"""Acceleration, the daemon's side (docs/acceleration.md): route freshness
set, changed and removed with `notmodctl fresh`, listed by `status`,
answered by `get` from the published snapshot, kept in --state (also after
SIGKILL) and in Redis (hash notmod:fresh, learned by every daemon sharing
it); `notmodd --accelerate origin`; bad arguments exit 2; and accelerated
304s as their own figure, sent with nm_emit as a shim would send them, in
stats, top and /metrics, with the server time they avoided."""
import json
import os
import re
import signal
import unittest
import urllib.request

from daemon_util import (NOTMODD, CtlCase, Daemon, Redis, ctl, tempdir,
                         wait_for)
from servers import free_port


def fresh_lines(status):
    """The "fresh: PREFIX SETTING" lines of a status answer, in order."""
    return re.findall(r"^fresh: (\S+) (\S+)$", status, re.M)


class FreshCliTest(CtlCase):
    def test_nothing_is_accelerated_by_default(self):
        status = self.run_ok("status")
        self.assertIn("fresh_prefixes: 0\n", status)
        self.assertIn("accelerate: off\n", status)
        self.assertEqual(fresh_lines(status), [])
        self.d.emit(host="example.test", path="/static/a.css", tag='"t"')
        out = wait_for(lambda: ctl("get", "http://example.test/static/a.css",
                                   control=self.d.control)[1], what="get")
        self.assertIn("fresh: off\n", out)

    def test_set_change_list_and_remove(self):
        self.assertEqual(self.run_ok("fresh", "/static/", "300"),
                         "fresh /static 300\n")
        self.assertEqual(self.run_ok("fresh", "http://API.example:80/v1",
                                     "origin"),
                         "fresh api.example/v1 origin\n")
        self.assertEqual(self.run_ok("fresh", "/static/live", "never"),
                         "fresh /static/live never\n")
        self.assertEqual(self.run_ok("fresh", "/static", "0300"),
                         "fresh /static 300 (already)\n")
        self.assertEqual(self.run_ok("fresh", "/%73tatic", "60"),
                         "fresh /static 60\n")  # normalized like disable
        status = self.run_ok("status")
        self.assertIn("fresh_prefixes: 3\n", status)
        self.assertEqual(fresh_lines(status),
                         [("/static", "60"), ("/static/live", "never"),
                          ("api.example/v1", "origin")])
        self.assertEqual(self.run_ok("fresh", "/static", "off"),
                         "fresh /static off\n")
        self.assertEqual(self.run_ok("fresh", "/nothing", "off"),
                         "fresh /nothing off (already)\n")
        self.assertEqual(fresh_lines(self.run_ok("status")),
                         [("/static/live", "never"),
                          ("api.example/v1", "origin")])

    def test_get_answers_from_the_published_snapshot(self):
        self.run_ok("fresh", "/static", "300")
        self.run_ok("fresh", "/static/live", "never")
        self.run_ok("fresh", "example.test/api", "origin")
        for path, want in (("/static/a.css", "300"),
                           ("/static/live/feed", "off"),
                           ("/api/v1?x=/static", "origin"),
                           ("/other", "off")):
            self.d.emit(host="example.test", path=path, tag='"t"')
            url = "http://example.test" + path
            out = wait_for(lambda: ctl("get", url, control=self.d.control)[1],
                           what="get " + url)
            self.assertIn("fresh: %s\n" % want, out, url)
        # A disabled route is not accelerated, whatever its freshness.
        self.run_ok("disable", "/static")
        self.assertIn("fresh: off\n",
                      self.run_ok("get", "http://example.test/static/a.css"))

    def test_bad_arguments_exit_2_before_any_daemon(self):
        cases = [
            (("fresh",), "wrong number of arguments"),
            (("fresh", "/a"), "wrong number of arguments"),
            (("fresh", "/a", "60", "x"), "wrong number of arguments"),
            (("fresh", "/a?q", "60"), "prefix malformed"),
            (("fresh", "ftp://h/a", "60"), "prefix malformed"),
            (("fresh", "/a/%2f", "60"), "prefix malformed"),
            (("fresh", "/a", "0"), "freshness malformed: 0"),
            (("fresh", "/a", "-1"), "freshness malformed"),
            (("fresh", "/a", "31536001"), "freshness malformed"),
            (("fresh", "/a", "5s"), "freshness malformed"),
            (("fresh", "/a", "ORIGIN"), "freshness malformed"),
        ]
        for args, msg in cases:
            err = self.run_fail(2, *args)
            self.assertIn(msg, err, args)
        # The same checks again without a daemon: still usage errors.
        rc, _, err = ctl("--control", os.path.join(self.dir, "none.sock"),
                         "fresh", "/a", "soon")
        self.assertEqual(rc, 2, err)
        self.assertEqual(fresh_lines(self.run_ok("status")), [])

    def test_daemon_refuses_what_notmodctl_would(self):
        for line, msg in (("fresh /a", "usage: fresh"),
                          ("fresh /a?q 60", "prefix malformed"),
                          ("fresh /a 0", "freshness malformed"),
                          ("fresh /a later", "freshness malformed")):
            ans = self.d.ctl(line)
            self.assertTrue(ans.startswith("err ") and msg in ans,
                            (line, ans))
            self.assertEqual(len(ans.splitlines()), 1, ans)


class AccelerateOriginTest(unittest.TestCase):
    def test_accelerate_origin_covers_routes_without_a_rule(self):
        dir = tempdir(self)
        d = Daemon(dir, extra=["--accelerate", "origin"]).start()
        self.addCleanup(d.stop)
        self.assertEqual(d.fields("status")["accelerate"], "origin")
        self.assertTrue(d.ctl("fresh /live never").startswith("ok"))
        self.assertTrue(d.ctl("fresh /static 60").startswith("ok"))
        for path, want in (("/page", "origin"), ("/live/x", "off"),
                           ("/static/a", "60")):
            d.emit(host="h", path=path, tag='"t"')
            rec = wait_for(lambda: d.fields("get http://h" + path),
                           what="get " + path)
            self.assertEqual(rec["fresh"], want, path)

    def test_bad_accelerate_value_exits_2_with_one_line(self):
        import subprocess
        p = subprocess.run([NOTMODD, "--foreground", "--accelerate", "always",
                            "--socket", os.path.join(tempdir(self), "x.sock")],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr, "notmodd: --accelerate wants off or origin, "
                                   "not 'always'\n")

    def test_config_file_and_sighup_switch_it(self):
        dir = tempdir(self)
        conf = os.path.join(dir, "notmodd.conf")
        with open(conf, "w") as f:
            f.write("accelerate = origin\n")
        d = Daemon(dir, extra=["--config", conf]).start()
        self.addCleanup(d.stop)
        d.emit(host="h", path="/p", tag='"t"')
        rec = wait_for(lambda: d.fields("get http://h/p"), what="get")
        self.assertEqual(rec["fresh"], "origin")
        with open(conf, "w") as f:
            f.write("accelerate = off\n")
        os.kill(d.proc.pid, signal.SIGHUP)
        wait_for(lambda: d.fields("status")["accelerate"] == "off",
                 what="reloaded")
        self.assertEqual(d.fields("get http://h/p")["fresh"], "off")


class FreshPersistenceTest(unittest.TestCase):
    def test_state_file_keeps_the_rules_after_sigkill(self):
        dir = tempdir(self)
        state = os.path.join(dir, "state")
        d = Daemon(dir, extra=["--state", state]).start()
        self.addCleanup(d.stop)
        for line in ("fresh /static 300", "fresh h/api origin",
                     "fresh /static/live never", "fresh /gone 5",
                     "fresh /gone off"):
            self.assertTrue(d.ctl(line).startswith("ok"), line)
        # Written before the answer: a kill right after loses nothing.
        d.stop(signal.SIGKILL)
        with open(state) as f:
            lines = sorted(l.rstrip("\n").split("\t") for l in f
                           if l.startswith("fresh\t"))
        self.assertEqual(lines, [["fresh", "/static", "300"],
                                 ["fresh", "/static/live", "never"],
                                 ["fresh", "h/api", "origin"]])
        d = Daemon(dir, extra=["--state", state]).start()
        self.addCleanup(d.stop)
        self.assertEqual(fresh_lines(d.ctl("status")),
                         [("/static", "300"), ("/static/live", "never"),
                          ("h/api", "origin")])
        d.emit(host="h", path="/static/a", tag='"t"')
        rec = wait_for(lambda: d.fields("get http://h/static/a"), what="get")
        self.assertEqual(rec["fresh"], "300")


class FreshRedisTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.redis = Redis(self.dir).start()
        self.addCleanup(self.redis.stop)

    def daemon(self, name, extra=()):
        d = Daemon(self.dir, name=name,
                   extra=["--redis", self.redis.url] + list(extra)).start()
        self.addCleanup(d.stop)
        wait_for(lambda: "connected," in d.fields("status")["store"],
                 what="redis connected")
        return d

    def fresh_hash(self):
        flat = self.redis.cmd("HGETALL", "notmod:fresh")
        return dict(zip(flat[::2], flat[1::2]))

    def test_rules_are_kept_in_redis_and_reach_every_daemon(self):
        a = self.daemon("a")
        b = self.daemon("b")
        self.assertTrue(a.ctl("fresh /static 300").startswith("ok"))
        self.assertTrue(a.ctl("fresh h/api origin").startswith("ok"))
        self.assertTrue(a.ctl("fresh /live never").startswith("ok"))
        wait_for(lambda: self.fresh_hash() == {
            "/static": "300", "h/api": "origin", "/live": "never"},
            what="notmod:fresh")
        # b re-reads the hash every 5 s.
        wait_for(lambda: fresh_lines(b.ctl("status")) == [
            ("/live", "never"), ("/static", "300"), ("h/api", "origin")],
            timeout=15, what="b learned the rules")
        # Changed or ended on one daemon: the others follow.
        self.assertTrue(a.ctl("fresh /static off").startswith("ok"))
        self.assertTrue(a.ctl("fresh /live 10").startswith("ok"))
        wait_for(lambda: self.fresh_hash() == {"h/api": "origin",
                                               "/live": "10"},
                 what="notmod:fresh updated")
        wait_for(lambda: fresh_lines(b.ctl("status")) == [
            ("/live", "10"), ("h/api", "origin")],
            timeout=15, what="b dropped /static")
        b.emit(host="h", path="/static/a", tag='"t"')
        rec = wait_for(lambda: b.fields("get http://h/static/a"), what="get")
        self.assertEqual(rec["fresh"], "off")

    def test_a_new_daemon_reads_them_at_start(self):
        self.redis.cmd("HSET", "notmod:fresh", "/static", "300")
        self.redis.cmd("HSET", "notmod:fresh", "/bad", "soon")  # skipped
        d = self.daemon("c")
        wait_for(lambda: fresh_lines(d.ctl("status")) == [("/static", "300")],
                 what="warm start")

    def test_state_file_gives_them_back_to_a_redis_that_lost_them(self):
        state = os.path.join(self.dir, "state")
        d = self.daemon("d", ["--state", state])
        self.assertTrue(d.ctl("fresh /static 300").startswith("ok"))
        wait_for(lambda: self.fresh_hash() == {"/static": "300"},
                 what="written")
        d.stop()
        self.assertEqual(self.redis.cmd("FLUSHALL"), "OK")
        d = self.daemon("d", ["--state", state])
        wait_for(lambda: self.fresh_hash() == {"/static": "300"},
                 what="written again from the state file")
        self.assertEqual(fresh_lines(d.ctl("status")), [("/static", "300")])

    def test_rule_set_while_redis_is_away_is_written_back(self):
        d = self.daemon("e")
        self.redis.stop()
        wait_for(lambda: "disconnected" in d.fields("status")["store"],
                 what="redis gone")
        self.assertTrue(d.ctl("fresh /later 30").startswith("ok"))
        self.redis = Redis(self.dir, port=self.redis.port).start()
        self.addCleanup(self.redis.stop)
        wait_for(lambda: self.fresh_hash() == {"/later": "30"}, timeout=15,
                 what="written back")
        # And the re-read that follows keeps it.
        self.assertEqual(fresh_lines(d.ctl("status")), [("/later", "30")])


class AcceleratedFiguresTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.port = free_port()
        self.d = Daemon(self.dir, extra=[
            "--metrics", "127.0.0.1:%d" % self.port]).start()
        self.addCleanup(self.d.stop)

    def emit_route(self):
        """Two 200s the server took 2 and 4 ms over, then three accelerated
        304s on the same route, and one 200 elsewhere."""
        common = dict(host="example.test", path="/r?x=1", tag='"t"')
        self.d.emit(server_us=2000, **common)
        self.d.emit(server_us=4000, **common)
        self.d.emit(outcome="accelerated_304", status=304, cond="inm",
                    saved=1000, count=3, **common)
        self.d.emit(host="example.test", path="/other", tag='"o"',
                    server_us=9000)
        return wait_for(lambda: (lambda s: s if s["requests"] == 6 else None)(
            self.d.stats()), what="6 events")

    def test_stats_count_them_and_the_server_time_they_avoided(self):
        s = self.emit_route()
        self.assertEqual(s["hits_accelerated"], 3)
        self.assertEqual(s["revalidation_hits"], 3)
        self.assertEqual(s["revalidations"], 3)
        self.assertAlmostEqual(s["hit_rate"], 1.0)
        self.assertEqual(s["bytes_saved"], 3000)
        self.assertEqual(s["server_time_us"], 15000)
        self.assertEqual(s["server_timed"], 3)
        # Three times the route's average (3 ms), not the overall one.
        self.assertEqual(s["server_time_avoided_us"], 9000)
        text = ctl("stats", control=self.d.control)[1]
        self.assertIn("(served 0, substituted 0, accelerated 3)", text)
        self.assertIn("server time avoided   0.009 s (estimated)", text)
        # An accelerated 304 teaches the store nothing.
        self.assertEqual(self.d.fields("status")["urls"], "2")

    def test_top_and_metrics_show_them(self):
        self.emit_route()
        rc, out, err = ctl("top", "--once", "--json", "-d", "0.2",
                           control=self.d.control)
        self.assertEqual((rc, err), (0, ""))
        report = json.loads(out)
        self.assertEqual(report["totals"]["hits_accelerated"], 3)
        self.assertEqual(report["totals"]["revalidation_hits"], 3)
        self.assertEqual(report["totals"]["server_time_avoided_us"], 9000)
        route = [r for r in report["routes"]
                 if r["route"] == "example.test/r"][0]
        self.assertEqual(route["totals"]["hits_accelerated"], 3)
        rc, out, _ = ctl("top", "--once", "-d", "0.2", control=self.d.control)
        self.assertRegex(out, r"(?m)^  accelerated +3 ")
        self.assertRegex(out, r"(?m)^server s avoided +0\.01 ")
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % self.port, timeout=5).read()
        body = body.decode()
        self.assertIn('notmod_revalidation_hits_total{source="shim",'
                      'by="accelerated"} 3\n', body)
        self.assertIn('notmod_server_seconds_avoided_total{source="shim"} '
                      '0.009000\n', body)
        self.assertIn('notmod_server_seconds_total{source="shim"} 0.015000\n',
                      body)
        self.assertIn('notmod_route_hits_accelerated_total{source="shim",'
                      'route="example.test/r"} 3\n', body)

    def test_accelerated_before_any_timed_response_avoids_nothing_known(self):
        self.d.emit(host="h", path="/new", tag='"t"', outcome="accelerated_304",
                    status=304, cond="ims")
        s = wait_for(lambda: (lambda s: s if s["requests"] == 1 else None)(
            self.d.stats()), what="event")
        self.assertEqual(s["hits_accelerated"], 1)
        self.assertEqual(s["server_time_avoided_us"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
