"""notmodctl against a real notmodd: every command, its exit code (0 ok,
1 failed operation, 2 bad usage) and its one-line error messages."""
import json
import os
import stat
import unittest

from daemon_util import (BUILD, NOTMODCTL, CtlCase, Daemon, ctl, tempdir,
                         wait_for)

URL = "http://example.test/a?b=1"


class CtlTest(CtlCase):
    def test_status_stats_and_top(self):
        self.d.emit(host="example.test", path="/a?b=1", tag='"t"')
        wait_for(lambda: self.d.stats()["requests"] == 1, what="event")
        self.assertIn("store: memory", self.run_ok("status"))
        self.assertIn("requests              1", self.run_ok("stats"))
        self.assertEqual(json.loads(self.run_ok("stats", "--json"))
                         ["requests"], 1)
        top = self.run_ok("top", "-n", "5")  # piped: prints once
        self.assertIn("example.test/a ", top)
        self.assertNotIn("\033[", top)

    def test_get_pin_purge_disable_enable(self):
        self.d.emit(host="example.test", path="/a?b=1", tag='"t"')
        out = wait_for(lambda: ctl("get", URL, control=self.d.control)[1],
                       what="get")
        self.assertIn('tag: "t"', out)
        self.assertIn("pinned", self.run_ok("pin", URL, '"p"'))
        self.assertIn('pinned: "p"', self.run_ok("get", URL))
        self.assertIn("disabled /x", self.run_ok("disable", "/x/"))
        self.assertIn("enabled /x", self.run_ok("enable", "/x"))
        self.assertIn("purged", self.run_ok("purge", URL))
        self.assertIn("purged 0 URLs", self.run_ok("purge", "--prefix",
                                                   "/nothing"))
        err = self.run_fail(1, "get", URL)
        self.assertIn("not in the store: example.test/a?b=1", err)
        self.run_fail(1, "purge", URL)

    def test_bad_usage_exits_2(self):
        cases = [
            (("frob",), "unknown command 'frob'"),
            ((), "missing COMMAND"),
            (("get",), "wrong number of arguments"),
            (("get", "/relative"), "URL malformed: /relative"),
            (("get", "ftp://x/y"), "URL malformed"),
            (("pin", URL, "unquoted"), "ETAG malformed: unquoted"),
            (("disable", "/a?q"), "prefix malformed"),
            (("stats", "--xml"), "usage: notmodctl stats"),
            (("top", "-n", "0"), "N must be"),
            (("--bogus", "status"), "unknown option --bogus"),
            (("run",), "missing PROGRAM"),
        ]
        for args, msg in cases:
            err = self.run_fail(2, *args)
            self.assertIn(msg, err, args)

    def test_help_for_each_command(self):
        self.assertIn("usage: notmodctl", self.run_ok("--help"))
        for c in ("status", "stats", "top", "get", "purge", "pin", "disable",
                  "enable", "fresh", "pcap-report", "run"):
            self.assertIn("usage: notmodctl " + c, self.run_ok(c, "--help"))

    def test_pcap_report_missing_file_fails_with_one_line(self):
        err = self.run_fail(1, "pcap-report", "x.pcap")
        self.assertIn("x.pcap", err)

    def test_daemon_not_running_names_the_path(self):
        path = os.path.join(self.dir, "nothing.sock")
        rc, _, err = ctl("status", control=path)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "notmodctl: daemon not running at %s (connect: "
                              "No such file or directory)\n" % path)

    def test_default_control_path_follows_notmod_socket(self):
        env = dict(os.environ, NOTMOD_SOCKET=self.d.socket)
        env.pop("NOTMOD_CONTROL", None)
        rc, out, _ = ctl("status", env=env)
        self.assertEqual(rc, 0)
        self.assertIn("control: " + self.d.control, out)

    def test_control_socket_is_owner_only(self):
        mode = stat.S_IMODE(os.stat(self.d.control).st_mode)
        self.assertEqual(mode, 0o600)


class RunTest(unittest.TestCase):
    """`run` with a stand-in library (NOTMOD_LIB): the environment handling
    does not need the real shim."""

    def lib(self):
        for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib64/libm.so.6",
                  "/lib64/libm.so.6"):
            if os.path.exists(p):
                return p
        self.skipTest("no libm to stand in for libnotmod.so")

    def test_run_appends_to_ld_preload_and_sets_socket(self):
        lib = self.lib()
        env = dict(os.environ, NOTMOD_LIB=lib, LD_PRELOAD="/x/other.so")
        rc, out, err = ctl("run", "--socket", "/s.sock", "--", "sh", "-c",
                           'echo "$LD_PRELOAD|$NOTMOD_SOCKET"', env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "/x/other.so:%s|/s.sock" % lib)

    def test_run_missing_program_fails_with_1(self):
        env = dict(os.environ, NOTMOD_LIB=self.lib())
        rc, _, err = ctl("run", "--", "/no/such/prog", env=env)
        self.assertEqual(rc, 1)
        self.assertIn("cannot run /no/such/prog", err)

    def test_run_finds_the_build_shim(self):
        if not os.path.exists(os.path.join(BUILD, "libnotmod.so")):
            self.skipTest("libnotmod.so not built on this branch")
        env = dict(os.environ)
        env.pop("NOTMOD_LIB", None)
        env.pop("LD_PRELOAD", None)
        rc, out, err = ctl("run", "--", "sh", "-c", 'echo "$LD_PRELOAD"',
                           env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(),
                         os.path.realpath(os.path.join(BUILD,
                                                       "libnotmod.so")))


class RunServerTest(unittest.TestCase):
    """notmodctl run -- python3 -m http.server: the shim is really loaded
    (a substituted 304 proves it) and an LD_PRELOAD already set is kept."""

    def test_run_python_http_server_substitutes_304(self):
        import shutil
        import subprocess
        import tempfile
        from servers import free_port, spawn, stop_group, wait_accepting
        from wire import Request, exchange
        if not os.path.exists(os.path.join(BUILD, "libnotmod.so")):
            self.skipTest("libnotmod.so not built on this branch")
        other = "/usr/lib/x86_64-linux-gnu/libxxhash.so.0"
        d = tempfile.mkdtemp(prefix="nm-run-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "a.txt"), "wb") as f:
            f.write(b"run test\n")
        port = free_port()
        env = dict(os.environ, LD_PRELOAD=other)
        env.pop("NOTMOD_LIB", None)
        proc = spawn(
            [NOTMODCTL, "run", "--socket", os.path.join(d, "none.sock"), "--",
             "python3", "-m", "http.server", str(port), "--bind",
             "127.0.0.1", "--directory", d],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_group, proc)
        self.assertTrue(wait_accepting(port, proc), "server did not start")
        first = exchange(port, [Request("GET", "/a.txt")]).final()[0]
        tag = first.first("ETag")
        self.assertRegex(tag or "", r'^"nm-[A-Za-z0-9_-]{22}"$')
        again = exchange(port, [Request("GET", "/a.txt", headers=[
            ("If-None-Match", tag)])]).final()[0]
        self.assertEqual(again.status, 304)
        self.assertEqual(again.body, b"")
        # Both libraries are mapped in the server process.
        with open("/proc/%d/maps" % proc.pid) as f:
            maps = f.read()
        self.assertIn("libnotmod.so", maps)
        self.assertIn("libxxhash.so.0", maps)


if __name__ == "__main__":
    unittest.main(verbosity=2)
