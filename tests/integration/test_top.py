"""`notmodctl top` and `stats --interval` show rates that match a known
request rate (within 10%): on a real terminal (a pty, 80x24, keys pressed),
in --once mode as plain lines and as JSON, and from real traffic through
nginx under the shim. Bad arguments exit 2 with one line.

The known rates come from nm_emit --rate, which sends shim events at evenly
spaced absolute deadlines, and from a client pacing real requests the same
way."""
import errno
import fcntl
import http.client
import json
import os
import pty
import re
import select
import signal
import struct
import termios
import threading
import time
import unittest

import docroots
import servers
from daemon_util import NM_EMIT, NOTMODCTL, Daemon, ctl, tempdir, wait_for
from servers import spawn, stop_group

TOLERANCE = 0.10
# Two routes at known rates: A is revalidated and answered 304 by notmod,
# B is revalidated and missed (200 with the same body).
RATE_A, RATE_B = 100.0, 50.0
SAVED_A = 1000  # bytes saved per 304 on A
ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def num(cell):
    """A screen cell as a number: "1234.5", or scaled as "99.9k"."""
    scale = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if cell[-1:] in scale:
        return float(cell[:-1]) * scale[cell[-1]]
    return float(cell)


def close_to(value, expected):
    return abs(value - expected) <= TOLERANCE * expected


class Emitters:
    """nm_emit processes sending route A and B events at their rates for up
    to `seconds`; stopped by PID."""

    def __init__(self, daemon, seconds=40):
        self.procs = []
        common = [NM_EMIT, "--socket", daemon.socket, "--host",
                  "example.test"]
        self.procs.append(spawn(common + [
            "--path", "/a", "--cond", "inm", "--outcome", "substituted_304",
            "--status", "304", "--saved", str(SAVED_A),
            "--rate", str(RATE_A), "--count", str(int(RATE_A * seconds))]))
        self.procs.append(spawn(common + [
            "--path", "/b", "--cond", "ims", "--outcome", "cond_miss",
            "--rate", str(RATE_B), "--count", str(int(RATE_B * seconds))]))

    def stop(self):
        for p in self.procs:
            stop_group(p)


class RatesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.d = Daemon(self.dir).start()
        self.addCleanup(self.d.stop)

    def emit(self):
        e = Emitters(self.d)
        self.addCleanup(e.stop)
        # Past the first second, when both senders are surely running.
        wait_for(lambda: self.d.stats()["requests"] >= RATE_A, what="events")

    def assert_rates(self, per_s, where):
        total = RATE_A + RATE_B
        checks = {"requests": total, "revalidations": total,
                  "revalidation_hits": RATE_A, "missed": RATE_B,
                  "bytes_saved": RATE_A * SAVED_A}
        for name, want in checks.items():
            self.assertTrue(close_to(per_s[name], want),
                            "%s: %s/s is %.1f, expected %.1f +- 10%%"
                            % (where, name, per_s[name], want))
        self.assertAlmostEqual(per_s["hit_rate"], RATE_A / total, delta=0.05)

    def test_once_json_rates_match_the_paced_events(self):
        self.emit()
        rc, out, err = ctl("top", "--once", "--json", "-d", "3",
                           control=self.d.control)
        self.assertEqual((rc, err), (0, ""))
        report = json.loads(out)
        self.assertTrue(2.9 <= report["interval_s"] < 3.5, report)
        self.assert_rates(report["per_s"], "top --once --json")
        routes = {r["route"]: r for r in report["routes"]}
        self.assertTrue(close_to(routes["example.test/a"]["per_s"]
                                 ["requests"], RATE_A), routes)
        self.assertTrue(close_to(routes["example.test/b"]["per_s"]
                                 ["missed"], RATE_B), routes)
        self.assertEqual(routes["example.test/b"]["hit_rate"], 0.0)
        # Default sort: most revalidations first (A has twice B's).
        self.assertEqual(report["routes"][0]["route"], "example.test/a")
        self.assertGreaterEqual(report["uptime_s"], 1)

    def test_once_plain_lines_show_the_rates_and_sort_by_misses(self):
        self.emit()
        rc, out, err = ctl("top", "--once", "-d", "3", "-s", "misses",
                           control=self.d.control)
        self.assertEqual((rc, err), (0, ""))
        self.assertNotIn("\x1b", out)
        self.assertIn("sort misses", out)
        row = re.search(r"^requests\s+(\d+)\s+([\d.]+)", out, re.M)
        self.assertIsNotNone(row, out)
        self.assertTrue(close_to(float(row[2]), RATE_A + RATE_B), out)
        routes = re.findall(r"^(example\.test/\S+)\s+([\d.]+)", out, re.M)
        self.assertEqual([r[0] for r in routes],
                         ["example.test/b", "example.test/a"], out)
        self.assertTrue(close_to(float(routes[0][1]), RATE_B), out)
        self.assertTrue(close_to(float(routes[1][1]), RATE_A), out)

    def test_stats_interval_prints_rates_every_interval(self):
        self.emit()
        t0 = time.monotonic()
        rc, out, err = ctl("stats", "--interval", "2", "--count", "2",
                           "--json", control=self.d.control)
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(3.9 < time.monotonic() - t0 < 6, "two intervals")
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        for line in lines:
            self.assert_rates(json.loads(line)["per_s"], "stats --interval")
        rc, out, err = ctl("stats", "--interval", "1", "--count", "1",
                           control=self.d.control)
        self.assertEqual((rc, err), (0, ""))
        head, row = out.splitlines()
        self.assertTrue(head.startswith("time "), head)
        self.assertTrue(close_to(float(row.split()[1]), RATE_A + RATE_B), row)

    def test_live_screen_on_a_pty_shows_the_rates_and_takes_keys(self):
        self.emit()
        screen = PtyTop(self.d.control, ["-d", "2"])
        self.addCleanup(screen.kill)
        frame = screen.frame_where(lambda f: len(re.findall(
            r"^requests +\d+ +[\d.]+ +[\d.]+", f, re.M)) == 1 and
            screen.frames_seen >= 3)
        for line in frame.splitlines():
            self.assertLessEqual(len(line), 80, line)
        cols = re.search(r"^requests +(\d+) +([\d.]+) +([\d.]+)", frame,
                         re.M)
        self.assertTrue(close_to(float(cols[2]), RATE_A + RATE_B), frame)
        self.assertTrue(close_to(float(cols[3]), RATE_A + RATE_B), frame)
        saved = re.search(r"^bytes saved +\S+ +(\S+)", frame, re.M)[1]
        self.assertTrue(close_to(num(saved), RATE_A * SAVED_A), frame)
        hit = re.search(r"^hit rate +\S+ +([\d.]+)%", frame, re.M)
        self.assertAlmostEqual(float(hit[1]), 100 * RATE_A / (RATE_A + RATE_B),
                               delta=5)
        route = re.search(r"^example\.test/a +([\d.]+)", frame, re.M)
        self.assertTrue(close_to(float(route[1]), RATE_A), frame)
        self.assertIn("sort revalidations", frame)
        self.assertIn("keys:", frame)
        # A key re-sorts at once, without waiting for the next poll.
        screen.press(b"m")
        frame = screen.frame_where(lambda f: "sort misses" in f, timeout=1.5)
        order = re.findall(r"^(example\.test/\S+)", frame, re.M)
        self.assertEqual(order, ["example.test/b", "example.test/a"])
        screen.press(b"q")
        self.assertEqual(screen.wait(), 0)
        self.assertIn("\x1b[?1049l", screen.raw, "alternate screen left")

    def test_bad_arguments_exit_2_with_one_line(self):
        cases = [
            (("top", "-s", "bogus"), "-s: KEY is"),
            (("top", "-s"), "-s: KEY is"),
            (("top", "-d", "0"), "-d: SECONDS"),
            (("top", "-d", "x"), "-d: SECONDS"),
            (("top", "-n", "0"), "N must be"),
            (("top", "--frob"), "unexpected argument '--frob'"),
            (("stats", "--interval", "0"), "--interval: N"),
            (("stats", "--interval"), "--interval: N"),
            (("stats", "--interval", "nan"), "--interval: N"),
            (("stats", "--count", "3"), "--count needs --interval"),
            (("stats", "--interval", "1", "--count", "0"), "--count: C"),
        ]
        for args, msg in cases:
            rc, out, err = ctl(*args, control=self.d.control)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertTrue(err.startswith("notmodctl: "), err)
            self.assertIn(msg, err, args)
            self.assertIn("usage: notmodctl " + args[0], err)

    def test_daemon_gone_is_a_failed_operation(self):
        self.d.stop()
        for args in (("top", "--once"), ("stats", "--interval", "1")):
            rc, _, err = ctl(*args, control=self.d.control)
            self.assertEqual(rc, 1, err)
            self.assertIn("daemon not running", err)


class PtyTop:
    """notmodctl top on a pseudo-terminal of 80x24 with TERM=xterm, as an
    operator's terminal: its output is read as it comes and cut into
    frames (each starts by moving the cursor home)."""

    def __init__(self, control, args):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80,
                                                           0, 0))
        env = dict(os.environ, TERM="xterm")
        self.proc = spawn(
            [NOTMODCTL, "--control", control, "top"] + args, stdin=slave,
            stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.raw = ""
        self.frames_seen = 0

    def read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError as e:  # EIO: the other side closed
            if e.errno != errno.EIO:
                raise
            data = b""
        self.raw += data.decode(errors="replace")

    def frames(self):
        """Complete frames: between a cursor-home and the clear-to-end that
        closes the frame."""
        parts = self.raw.split("\x1b[H")[1:]
        done = [p.split("\x1b[J")[0] for p in parts if "\x1b[J" in p]
        return [ESC.sub("", f).replace("\r", "") for f in done]

    def frame_where(self, pred, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read(0.2)
            frames = self.frames()
            self.frames_seen = len(frames)
            if frames and pred(frames[-1]):
                return frames[-1]
        raise AssertionError("no frame as expected; last:\n%s" % (
            self.frames()[-1:] or ["(none)"])[0])

    def press(self, key):
        os.write(self.master, key)

    def wait(self, timeout=5):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read(0.1)
        self.read(0)
        return self.proc.wait(timeout=1)

    def kill(self):
        stop_group(self.proc, signal.SIGKILL)
        os.close(self.master)


@unittest.skipUnless(servers.have("nginx"), "nginx is not installed")
class RealTrafficTest(unittest.TestCase):
    """nginx without validators under the shim, reporting to notmodd; a
    client sends 40 requests a second, every other one a revalidation with
    the tag the shim added: top must show 40 requests/s, 20 revalidations/s
    and 20 hits/s."""

    RATE = 40.0

    def setUp(self):
        base = tempdir(self)
        self.d = Daemon(base).start()
        self.addCleanup(self.d.stop)
        docroot = docroots.make_docroot(base)
        env = {"NOTMOD_SOCKET": self.d.socket,
               "NOTMOD_SNAPSHOT": self.d.snapshot}
        self.server = servers.NginxServer(docroot, validators="off",
                                          shim=True, shim_env=env,
                                          tag="-top").start()
        self.addCleanup(self.server.cleanup)

    def client(self, stop, errors):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port,
                                          timeout=5)
        conn.request("GET", "/s.txt")
        r = conn.getresponse()
        r.read()
        tag = r.getheader("ETag")
        if not tag:
            errors.append("no ETag from the shim")
            conn.close()
            return
        start, k = time.monotonic(), 0
        while not stop.is_set():
            k += 1
            delay = start + k / self.RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            conn.request("GET", "/s.txt",
                         headers={"If-None-Match": tag} if k % 2 else {})
            r = conn.getresponse()
            r.read()
            if r.status != (304 if k % 2 else 200):
                errors.append("request %d: %d" % (k, r.status))
        conn.close()

    def test_top_once_shows_the_client_rate(self):
        stop, errors = threading.Event(), []
        t = threading.Thread(target=self.client, args=(stop, errors))
        t.start()
        try:
            wait_for(lambda: self.d.stats()["requests"] >= self.RATE,
                     what="traffic")
            rc, out, err = ctl("top", "--once", "--json", "-d", "3",
                               control=self.d.control)
        finally:
            stop.set()
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual((rc, err), (0, ""))
        per_s = json.loads(out)["per_s"]
        for name, want in (("requests", self.RATE),
                           ("revalidations", self.RATE / 2),
                           ("revalidation_hits", self.RATE / 2)):
            self.assertTrue(close_to(per_s[name], want),
                            "%s/s is %.1f, expected %.1f" %
                            (name, per_s[name], want))


if __name__ == "__main__":
    unittest.main()
