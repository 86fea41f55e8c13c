"""notmodd end to end without a shim: events sent with nm_emit (the real
encoder), answers read on the control socket, the snapshot file and
/metrics. The store behaviour suite runs on both backends."""
import os
import re
import socket
import signal
import struct
import subprocess
import time
import unittest
import urllib.request

from daemon_util import (NM_EMIT, NOTMODD, Daemon, Redis, tempdir, wait_for)

URL = "http://example.test/page?x=1"
KEY = "example.test/page?x=1"


def emit_200(d, tag, host="example.test", path="/page?x=1", **kw):
    d.emit(host=host, path=path, tag=tag, **kw)


def lm_of(rec):
    """The Unix date of a `get` answer's last_modified (0: none)."""
    return int(rec["last_modified"].split()[0])


def dated(d, tag, url=URL, is_pin=False, timeout=10.0):
    """Waits until url's tag (or pin) is tag and has a date (with Redis,
    the script's reply gives it); returns the date."""
    def check():
        rec = d.fields("get " + url)
        if rec["pinned" if is_pin else "tag"] == tag and lm_of(rec) > 0:
            return lm_of(rec)
        return None
    return wait_for(check, timeout=timeout, what="%s dated on %s" % (tag, url))


def before():
    """The time before an action, as notmodd's clock may see it: its
    time() is the kernel's coarse clock, which may lag one tick behind."""
    return time.time() - 0.02


def change(d, tag, path="/page?x=1"):
    """Sends a 200 with tag and waits for its date. Returns (date, time
    before sending, time the date was seen)."""
    t0 = before()
    emit_200(d, tag, path=path)
    lm = dated(d, tag, "http://example.test" + path)
    return lm, t0, time.time()


def epoch_bounds(t0, t1, prev):
    """The dates a new epoch assigned between t0 and t1 may have, when the
    URL's largest date so far is prev: max(now + 1, prev + 1)."""
    return max(int(t0) + 1, prev + 1), max(int(t1) + 1, prev + 1)


class StoreSuite:
    """Store behaviour every backend must show. Subclasses set up
    self.d (a running Daemon)."""

    def get(self, url=URL):
        return wait_for(lambda: self.d.fields("get " + url), what="get")

    def test_200_with_tag_is_dated_after_the_second_it_came_in(self):
        lm, t0, t1 = change(self.d, '"v1"')
        rec = self.get()
        self.assertEqual(rec["url"], KEY)
        self.assertEqual(rec["tag"], '"v1"')
        lo, hi = epoch_bounds(t0, t1, 0)
        self.assertTrue(lo <= lm <= hi, (t0, t1, lm))
        self.assertGreater(lm, t0)

    def test_same_tag_keeps_its_date_and_new_tag_gets_a_later_one(self):
        first = change(self.d, '"v1"')[0]
        time.sleep(1.1)
        emit_200(self.d, '"v1"')
        time.sleep(0.2)
        self.assertEqual(lm_of(self.get()), first)
        lm, t0, t1 = change(self.d, '"v2"')
        lo, hi = epoch_bounds(t0, t1, first)
        self.assertTrue(lo <= lm <= hi, (t0, t1, first, lm))

    def test_rollback_a_b_a_gets_ever_later_dates(self):
        # A deploy and its rollback, or a variant flipping: A must not get
        # its old date back, or a client holding B would get a 304 for A.
        dates = []
        for tag in ('"A"', '"B"', '"A"', '"B"', '"A"'):
            lm, t0, t1 = change(self.d, tag)
            lo, hi = epoch_bounds(t0, t1, dates[-1] if dates else 0)
            self.assertTrue(lo <= lm <= hi, (tag, t0, t1, dates, lm))
            self.assertGreater(lm, t0)  # never reached when assigned
            dates.append(lm)
        self.assertEqual(dates, sorted(set(dates)))

    def test_changes_within_one_second_get_consecutive_dates(self):
        for attempt in range(3):
            # Start just after a second began, so three changes fit in it.
            time.sleep(1.05 - time.time() % 1)
            t0 = time.time()
            path = "/burst%d" % attempt
            dates = [change(self.d, tag, path)[0]
                     for tag in ('"A"', '"B"', '"C"')]
            if int(time.time()) == int(t0):
                break
        else:
            self.fail("three changes never fitted in one second")
        s = int(t0)
        self.assertEqual(dates, [s + 1, s + 2, s + 3])

    def test_non_200_and_post_do_not_teach_tags(self):
        emit_200(self.d, '"a"', status=404)
        emit_200(self.d, '"a"', method="POST")
        emit_200(self.d, '"a"', outcome="not_handled")
        wait_for(lambda: self.d.stats()["requests"] >= 3, what="3 events")
        self.assertTrue(self.d.ctl("get " + URL).startswith("err not in"))

    def test_purge_forgets_url_but_not_its_largest_date(self):
        first = change(self.d, '"v1"')[0]
        self.assertTrue(self.d.ctl("purge " + URL).startswith("ok"))
        self.assertTrue(self.d.ctl("get " + URL).startswith("err not in"))
        # At once, in the same second: the next epoch is still later.
        lm, t0, t1 = change(self.d, '"v1"')
        lo, hi = epoch_bounds(t0, t1, first)
        self.assertTrue(lo <= lm <= hi, (t0, t1, first, lm))

    def test_purge_prefix_forgets_every_url_under_it(self):
        for p in ("/a/1", "/a/2?q", "/ab", "/b"):
            emit_200(self.d, '"t"', path=p)
        wait_for(lambda: self.d.fields("status")["urls"] == "4", what="4")
        ans = self.d.ctl("purge --prefix /a")
        self.assertIn("purged 2 URLs", ans)
        self.assertEqual(self.d.fields("status")["urls"], "2")

    def test_pin_is_a_new_epoch_published_and_not_overwritten(self):
        first = change(self.d, '"v1"')[0]
        t0 = before()
        self.assertTrue(self.d.ctl('pin %s "p1"' % URL).startswith("ok"))
        pinned = dated(self.d, '"p1"', is_pin=True)
        lo, hi = epoch_bounds(t0, time.time(), first)
        self.assertTrue(lo <= pinned <= hi, (t0, first, pinned))
        emit_200(self.d, '"v2"')
        wait_for(lambda: self.get()["tag"] == '"v2"', what="tag v2")
        time.sleep(0.2)
        rec = self.get()
        self.assertEqual(rec["pinned"], '"p1"')
        self.assertEqual(lm_of(rec), pinned)

    def test_pin_on_the_published_tag_keeps_its_date(self):
        first = change(self.d, '"v1"')[0]
        self.assertTrue(self.d.ctl('pin %s "v1"' % URL).startswith("ok"))
        self.assertEqual(dated(self.d, '"v1"', is_pin=True), first)

    def test_disable_prefix_is_published_then_enable_undoes_it(self):
        self.assertTrue(self.d.ctl("disable /static").startswith("ok"))
        self.assertEqual(
            self.d.fields("get http://h/static/a.css")["disabled"], "yes")
        self.assertTrue(self.d.ctl("get http://h/staticx").startswith("err"))
        self.assertTrue(self.d.ctl("enable /static/").startswith("ok"))
        self.assertTrue(
            self.d.ctl("get http://h/static/a.css").startswith("err"))

    def test_malformed_datagrams_are_counted_and_dropped(self):
        self.d.emit(raw="00")
        self.d.emit(raw="4e4d455601")  # magic + version, truncated
        self.d.emit(raw="4e4d4556" + "03" + "00" * 40)  # future version
        wait_for(lambda: self.d.fields("status")["events_malformed"] == "3",
                 what="3 malformed")
        emit_200(self.d, '"ok"')
        self.assertEqual(self.get()["tag"], '"ok"')

    def test_snapshot_file_is_published_with_magic(self):
        emit_200(self.d, '"v1"')
        self.get()
        with open(self.d.snapshot, "rb") as f:
            head = f.read(64)
        magic, version = struct.unpack("<II", head[:8])
        self.assertEqual(magic, 0x53534D4E)
        self.assertEqual(version, 2)
        self.assertEqual(os.stat(self.d.snapshot).st_mode & 0o777, 0o644)

    def test_figures_follow_outcomes(self):
        self.d.emit(outcome="substituted_304", cond="inm", saved=500,
                    tag='"t"')
        self.d.emit(outcome="server_304", cond="ims", status=304)
        self.d.emit(outcome="cond_miss", cond="inm", tag='"t"', synth=True)
        s = wait_for(lambda: (lambda s: s if s["requests"] == 3 else None)(
            self.d.stats()), what="3 requests")
        self.assertEqual(s["revalidations"], 3)
        self.assertEqual(s["hits_substituted"], 1)
        self.assertEqual(s["hits_served"], 1)
        self.assertEqual(s["missed"], 1)
        self.assertEqual(s["bytes_saved"], 500)
        self.assertAlmostEqual(s["hit_rate"], 2 / 3, places=4)


class MemoryStoreTest(StoreSuite, unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.d = Daemon(self.dir).start()
        self.addCleanup(self.d.stop)


class RedisStoreTest(StoreSuite, unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.redis = Redis(self.dir).start()
        self.addCleanup(self.redis.stop)
        self.d = Daemon(self.dir, extra=["--redis", self.redis.url]).start()
        self.addCleanup(self.d.stop)
        wait_for(lambda: "connected," in self.d.fields("status")["store"],
                 what="redis connected")

    def hash_of(self, key=KEY):
        flat = self.redis.cmd("HGETALL", "notmod:url:" + key)
        return dict(zip(flat[::2], flat[1::2]))

    def test_keys_follow_the_documented_schema(self):
        lm = change(self.d, '"v1"')[0]
        self.assertEqual(self.hash_of(),
                         {"tag": '"v1"', "lm": str(lm), "hwm": str(lm)})
        self.assertTrue(self.d.ctl('pin %s "p1"' % URL).startswith("ok"))
        pinned = dated(self.d, '"p1"', is_pin=True)
        self.assertEqual(self.hash_of(),
                         {"tag": '"v1"', "lm": str(lm), "pin": '"p1"',
                          "pin_lm": str(pinned), "hwm": str(pinned)})
        self.assertTrue(self.d.ctl("purge " + URL).startswith("ok"))
        wait_for(lambda: self.hash_of() == {"hwm": str(pinned)},
                 what="purge keeps hwm alone")
        wait_for(lambda: self.redis.cmd("HGET", "notmod:stats", "requests")
                 == "1", what="HINCRBY flush")
        wait_for(lambda: self.redis.cmd("HGET", "notmod:route:example.test/page",
                                        "requests") == "1", what="route")
        self.d.ctl("disable /x")
        wait_for(lambda: self.redis.cmd("SMEMBERS", "notmod:disabled")
                 == ["/x"], what="disabled set")
        keys = set(self.redis.cmd("KEYS", "notmod:*"))
        self.assertEqual({k for k in keys if not k.startswith(
            ("notmod:route:", "notmod:batch:"))},
            {"notmod:url:" + KEY, "notmod:stats", "notmod:disabled"})


class DatagramQueueTest(unittest.TestCase):
    """The kernel's datagram queue (net.unix.max_dgram_qlen) bounds how
    many events wait for notmodd whatever its buffer: notmodd says at
    start when it is too short for a burst, and only then."""

    def test_short_queue_is_named_in_the_log_at_start(self):
        with open("/proc/sys/net/unix/max_dgram_qlen") as f:
            qlen = int(f.read())
        d = Daemon(tempdir(self)).start()
        self.addCleanup(d.stop)
        warned = [line for line in d.read_log().splitlines()
                  if "net.unix.max_dgram_qlen is" in line]
        if qlen < 512:
            self.assertEqual(len(warned), 1, d.read_log())
            self.assertIn("net.unix.max_dgram_qlen is %d: bursts" % qlen,
                          warned[0])
            self.assertIn("sysctl -w net.unix.max_dgram_qlen=512", warned[0])
        else:
            self.assertEqual(warned, [], d.read_log())


class PersistenceTest(unittest.TestCase):
    def start(self, dir, state, extra=()):
        d = Daemon(dir, extra=["--state", state] + list(extra)).start()
        self.addCleanup(d.stop)
        return d

    def test_tags_and_dates_survive_a_clean_restart_with_state_file(self):
        dir = tempdir(self)
        state = os.path.join(dir, "state")
        d = self.start(dir, state)
        lm = change(d, '"v1"')[0]
        d.ctl("disable /off")
        self.assertEqual(d.stop(), 0)
        d = self.start(dir, state)
        again = d.fields("get " + URL)
        self.assertEqual(again["tag"], '"v1"')
        self.assertEqual(lm_of(again), lm)
        self.assertEqual(d.fields("get http://h/off/x")["disabled"], "yes")

    def test_sigkill_keeps_the_policy_and_no_date(self):
        dir = tempdir(self)
        state = os.path.join(dir, "state")
        d = self.start(dir, state)
        lm = change(d, '"A"')[0]
        self.assertTrue(d.ctl('pin http://example.test/p "P"')
                        .startswith("ok"))
        pinned = dated(d, '"P"', "http://example.test/p", is_pin=True)
        self.assertTrue(d.ctl("disable /off").startswith("ok"))
        d.stop(signal.SIGKILL)
        t0 = before()
        d = self.start(dir, state)
        # The record is gone: its date might hide a change made meanwhile.
        self.assertTrue(d.ctl("get " + URL).startswith("err not in"))
        self.assertEqual(d.fields("get http://h/off/x")["disabled"], "yes")
        rec = d.fields("get http://example.test/p")
        self.assertEqual(rec["pinned"], '"P"')
        # The pin is a new epoch, above the largest date in the file and
        # above the second of the load.
        lo = max(lm, pinned, int(t0) + 1) + 1
        self.assertTrue(lo <= lm_of(rec) <= max(lm, pinned,
                                                int(time.time()) + 1) + 1,
                        (lm, pinned, t0, rec))
        again, t0, t1 = change(d, '"A"')
        self.assertGreater(again, max(lm, pinned))

    def test_sigkill_after_a_clean_restart_brings_no_date_back(self):
        dir = tempdir(self)
        state = os.path.join(dir, "state")
        d = self.start(dir, state)
        lm = change(d, '"A"')[0]
        self.assertEqual(d.stop(), 0)
        d = self.start(dir, state)
        self.assertEqual(lm_of(d.fields("get " + URL)), lm)
        d.stop(signal.SIGKILL)  # the dates were read, and are gone
        d = self.start(dir, state)
        self.assertTrue(d.ctl("get " + URL).startswith("err not in"))
        self.assertGreater(change(d, '"A"')[0], lm)

    def test_with_redis_the_file_keeps_policy_and_gives_it_back(self):
        dir = tempdir(self)
        state = os.path.join(dir, "state")
        redis = Redis(dir).start()
        self.addCleanup(redis.stop)
        d = self.start(dir, state, ["--redis", redis.url])
        change(d, '"v1"')
        self.assertTrue(d.ctl('pin http://example.test/p "P"')
                        .startswith("ok"))
        pinned = dated(d, '"P"', "http://example.test/p", is_pin=True)
        self.assertTrue(d.ctl("disable /off").startswith("ok"))
        self.assertEqual(d.stop(), 0)
        with open(state) as f:
            self.assertEqual([l.split("\t")[0] for l in f
                              if not l.startswith("#")],
                             ["floor", "pin", "disabled"])
        self.assertEqual(redis.cmd("FLUSHALL"), "OK")  # Redis lost it all
        d = self.start(dir, state, ["--redis", redis.url])
        again = dated(d, '"P"', "http://example.test/p", is_pin=True)
        self.assertGreater(again, pinned)
        wait_for(lambda: redis.cmd("SMEMBERS", "notmod:disabled") == ["/off"],
                 what="disabled prefix back in Redis")
        self.assertEqual(redis.cmd("HGET", "notmod:url:example.test/p",
                                   "pin"), '"P"')

    def test_tag_survives_restart_with_redis(self):
        dir = tempdir(self)
        redis = Redis(dir).start()
        self.addCleanup(redis.stop)
        d = Daemon(dir, extra=["--redis", redis.url]).start()
        self.addCleanup(d.stop)
        lm = change(d, '"v1"')[0]
        d.stop()
        d = Daemon(dir, extra=["--redis", redis.url]).start()
        self.addCleanup(d.stop)
        self.assertEqual(dated(d, '"v1"'), lm)


class FleetEpochTest(unittest.TestCase):
    """Two notmodd processes on one Redis: Redis is the one clock, so an
    epoch has one date fleet-wide and every new one is later."""

    def setUp(self):
        dir = tempdir(self)
        self.redis = Redis(dir).start()
        self.addCleanup(self.redis.stop)
        self.a = Daemon(dir, "a", ["--redis", self.redis.url]).start()
        self.addCleanup(self.a.stop)
        self.b = Daemon(dir, "b", ["--redis", self.redis.url]).start()
        self.addCleanup(self.b.stop)

    def test_two_daemons_agree_on_the_date_of_an_epoch(self):
        emit_200(self.a, '"v1"')
        first = dated(self.a, '"v1"')
        time.sleep(1.1)  # b's own clock now says a later second
        emit_200(self.b, '"v1"')
        self.assertEqual(dated(self.b, '"v1"'), first)

    def test_two_daemons_alternating_a_b_get_ever_later_dates(self):
        dates = []
        for i in range(6):
            tag = '"A"' if i % 2 == 0 else '"B"'
            first, second = (self.a, self.b) if i % 2 == 0 else \
                (self.b, self.a)
            t0 = before()
            emit_200(first, tag)
            lm = dated(first, tag)
            lo, hi = epoch_bounds(t0, time.time(), dates[-1] if dates else 0)
            self.assertTrue(lo <= lm <= hi, (i, t0, dates, lm))
            # The other one sees the same change: the same epoch.
            emit_200(second, tag)
            self.assertEqual(dated(second, tag), lm)
            dates.append(lm)
        self.assertEqual(dates, sorted(set(dates)))
        flat = self.redis.cmd("HGETALL", "notmod:url:" + KEY)
        self.assertEqual(dict(zip(flat[::2], flat[1::2])),
                         {"tag": '"B"', "lm": str(dates[-1]),
                          "hwm": str(dates[-1])})

    def test_two_daemons_changing_at_once_never_share_a_date(self):
        seen = []
        for i in range(4):
            tags = ('"a%d"' % i, '"b%d"' % i)
            procs = [subprocess.Popen([NM_EMIT, "--socket", d.socket,
                                       "--host", "example.test", "--path",
                                       "/page?x=1", "--tag", tag])
                     for d, tag in zip((self.a, self.b), tags)]
            for p in procs:
                self.assertEqual(p.wait(timeout=10), 0)
            now = [dated(self.a, tags[0]), dated(self.b, tags[1])]
            self.assertNotEqual(now[0], now[1])
            self.assertGreater(min(now), max(seen, default=0))
            seen += now
        self.assertEqual(self.redis.cmd("HGET", "notmod:url:" + KEY, "hwm"),
                         str(max(seen)))


class RedisEpochOutageTest(unittest.TestCase):
    """Changes made while Redis is away have no date (the daemon invents
    none) until the write-back's script gives them one, later than every
    date given before."""

    def outage(self, appendonly):
        dir = tempdir(self)
        redis = Redis(dir, appendonly=appendonly).start()
        self.addCleanup(redis.stop)
        d = Daemon(dir, extra=["--redis", redis.url]).start()
        self.addCleanup(d.stop)
        before = [change(d, tag)[0] for tag in ('"A"', '"B"')]
        before.append(change(d, '"C"', "/other")[0])
        redis.stop()
        wait_for(lambda: "disconnected" in d.fields("status")["store"],
                 what="disconnected")
        emit_200(d, '"A"')
        emit_200(d, '"D"', path="/other")
        for url, tag in ((URL, '"A"'), ("http://example.test/other", '"D"')):
            rec = wait_for(lambda: (lambda r: r if r["tag"] == tag else None)(
                d.fields("get " + url)), what=tag)
            self.assertEqual(lm_of(rec), 0, rec)
        redis = Redis(dir, port=redis.port, appendonly=appendonly).start()
        self.addCleanup(redis.stop)
        after = [dated(d, '"A"', timeout=15),
                 dated(d, '"D"', "http://example.test/other", timeout=15)]
        self.assertGreater(after[0], before[1])
        self.assertGreater(after[1], before[2])
        self.assertEqual(redis.cmd("HMGET", "notmod:url:" + KEY, "tag", "lm",
                                   "hwm"), ['"A"', str(after[0]),
                                            str(after[0])])

    def test_dates_written_back_after_an_outage_are_later_than_all_before(
            self):
        self.outage(appendonly=True)

    def test_dates_after_redis_lost_its_data_are_still_later(self):
        # No persistence: the hashes are gone, and with them hwm; the
        # daemon's own knowledge of the URL keeps the dates rising.
        self.outage(appendonly=False)


class RedisOutageTest(unittest.TestCase):
    """Redis stalls (SIGSTOP) with counter writes in its socket buffer, the
    daemon gives the connection up and sends the writes again later. Both
    things Redis can then do with the buffered copy are forced, one per
    test, and either way every event must count exactly once."""

    def stall(self):
        """50 events in Redis, then 200 while it is stopped, until the
        daemon has given up on the connection. Returns (redis, daemon)."""
        dir = self.dir = tempdir(self)
        # AOF so that what Redis applied survives the SIGKILL.
        redis = Redis(dir, appendonly=True).start()
        self.addCleanup(redis.stop)
        d = Daemon(dir, extra=["--redis", redis.url]).start()
        self.addCleanup(d.stop)
        wait_for(lambda: "connected," in d.fields("status")["store"],
                 what="connected")
        emit_200(d, '"v1"', count=50)
        wait_for(lambda: redis.cmd("HGET", "notmod:stats", "requests")
                 == "50", what="first 50")
        os.kill(redis.proc.pid, signal.SIGSTOP)
        for i in range(10):
            emit_200(d, '"v%d"' % i, count=20, path="/p%d" % i)
            time.sleep(0.3)
            # The daemon keeps answering and publishing meanwhile.
            self.assertEqual(d.fields("get http://example.test/p%d" % i)
                             ["tag"], '"v%d"' % i)
        # The log line stays; the status flips back to "connected" each
        # time the kernel accepts a reconnect for the stopped Redis.
        wait_for(lambda: "no reply for 3 s" in d.read_log(), timeout=15,
                 what="stall noticed")
        return redis, d

    def restart_and_expect_exact_counts(self, redis, d):
        """Kills redis (still stopped or not: SIGKILL does not resume it),
        sends 30 more events, restarts redis on its AOF and expects every
        event counted once, also after the daemon has nothing left to
        send."""
        redis.stop(signal.SIGKILL)
        emit_200(d, '"late"', count=30)
        redis = Redis(self.dir, port=redis.port, appendonly=True).start()
        self.addCleanup(redis.stop)
        seen = []

        def requests():
            seen.append(redis.cmd("HGET", "notmod:stats", "requests"))
            return seen[-1]
        try:
            wait_for(lambda: requests() == str(50 + 200 + 30), timeout=20,
                     what="catch-up")
            wait_for(lambda: re.search(r" connected, 0 in flight, 0 queued",
                                       d.fields("status")["store"]),
                     what="daemon idle")
            self.assertEqual(requests(), str(50 + 200 + 30))
        except AssertionError:
            raise AssertionError("requests in Redis: %r; daemon log:\n%s"
                                 % (seen[-5:], d.read_log()))
        for i in range(10):
            self.assertEqual(redis.cmd("HGET", "notmod:route:example.test/p%d"
                                       % i, "requests"), "20")
        wait_for(lambda: redis.cmd("HGET", "notmod:url:example.test/p9",
                                   "tag") == '"v9"', what="tags written back")

    def test_writes_lost_with_killed_redis_are_sent_again(self):
        redis, d = self.stall()
        # Killed while stopped: what its socket held never ran.
        self.restart_and_expect_exact_counts(redis, d)

    def test_writes_run_by_resumed_redis_are_not_counted_twice(self):
        redis, d = self.stall()
        # Resumed: Redis now runs what the abandoned connection holds, and
        # the daemon (reconnecting) sends the same batches again.
        os.kill(redis.proc.pid, signal.SIGCONT)
        wait_for(lambda: re.search(r" connected, 0 in flight, 0 queued",
                                   d.fields("status")["store"]),
                 timeout=15, what="daemon idle")
        self.assertEqual(redis.cmd("HGET", "notmod:stats", "requests"),
                         str(50 + 200))
        self.restart_and_expect_exact_counts(redis, d)


class RedisBusyTest(unittest.TestCase):
    """Redis answers "not now" (BUSY while a script runs; LOADING after a
    restart is the same case): counter batches and tag writes refused that
    way are sent again once Redis answers, and count exactly once."""

    def test_writes_refused_with_busy_are_sent_again_once(self):
        dir = tempdir(self)
        redis = Redis(dir).start()
        self.addCleanup(redis.stop)
        # BUSY replies start once a script has run this long (ms).
        redis.cmd("CONFIG", "SET", "busy-reply-threshold", "100")
        d = Daemon(dir, extra=["--redis", redis.url]).start()
        self.addCleanup(d.stop)
        wait_for(lambda: "connected," in d.fields("status")["store"],
                 what="connected")
        emit_200(d, '"v1"', count=50)
        wait_for(lambda: redis.cmd("HGET", "notmod:stats", "requests")
                 == "50", what="first 50")

        # A client whose script never ends: Redis answers BUSY to others.
        stuck = socket.create_connection(("127.0.0.1", redis.port))
        self.addCleanup(stuck.close)
        script = "while true do end"
        stuck.sendall(("*3\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n"
                       % (len(script), script)).encode())

        def is_busy():
            try:
                redis.cmd("PING")
                return False
            except ValueError as e:
                return str(e).startswith("BUSY")
        wait_for(is_busy, what="redis busy")
        for i in range(5):
            emit_200(d, '"b%d"' % i, count=20, path="/busy%d" % i)
        wait_for(lambda: "BUSY" in d.fields("status")["store"],
                 what="daemon saw BUSY")
        # The counters leave on the daemon's once-a-second stats tick: let
        # two ticks pass so that their batches meet BUSY too.
        time.sleep(2.2)
        self.assertEqual(d.fields("get http://example.test/busy4")["tag"],
                         '"b4"')
        self.assertEqual(redis.cmd("SCRIPT", "KILL"), "OK")
        try:
            wait_for(lambda: redis.cmd("HGET", "notmod:stats", "requests")
                     == str(50 + 100), timeout=15, what="catch-up")
            wait_for(lambda: re.search(r" connected, 0 in flight, 0 queued",
                                       d.fields("status")["store"]),
                     what="daemon idle")
        except AssertionError:
            raise AssertionError("requests in Redis: %r; daemon log:\n%s" % (
                redis.cmd("HGET", "notmod:stats", "requests"), d.read_log()))
        self.assertEqual(redis.cmd("HGET", "notmod:stats", "requests"),
                         str(50 + 100))
        for i in range(5):
            self.assertEqual(redis.cmd("HGET", "notmod:route:example.test/busy%d"
                                       % i, "requests"), "20")
            self.assertEqual(redis.cmd("HGET", "notmod:url:example.test/busy%d"
                                       % i, "tag"), '"b%d"' % i)


class MetricsTest(unittest.TestCase):
    LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*='
                      r'"(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*='
                      r'"(?:[^"\\\n]|\\[\\"n])*")*)?\})? (?P<v>-?[0-9.e+]+|NaN)$')

    def parse_strict(self, text):
        """Prometheus text format 0.0.4: HELP/TYPE before samples, one TYPE
        per family, counters end in _total, every line well-formed."""
        types, samples = {}, {}
        self.assertTrue(text.endswith("\n"))
        for line in text.splitlines():
            if line.startswith("# HELP "):
                continue
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                self.assertNotIn(name, types, "duplicate TYPE " + name)
                self.assertIn(kind, ("counter", "gauge"))
                types[name] = kind
                continue
            m = self.LINE.match(line)
            self.assertIsNotNone(m, "bad line: %r" % line)
            name = m.group(1)
            self.assertIn(name, types, "sample before TYPE: " + name)
            if types[name] == "counter":
                self.assertTrue(name.endswith("_total"), name)
            key = line.rsplit(" ", 1)[0]
            self.assertNotIn(key, samples, "duplicate series " + key)
            samples[key] = float(m.group('v'))
        return samples

    def test_metrics_parse_as_prometheus_text(self):
        dir = tempdir(self)
        from servers import free_port
        port = free_port()
        d = Daemon(dir, extra=["--metrics", "127.0.0.1:%d" % port]).start()
        self.addCleanup(d.stop)
        d.emit(outcome="substituted_304", cond="inm", saved=700, tag='"t"',
               host="h", path='/q"uote\\d')
        emit_200(d, '"x"')
        wait_for(lambda: d.stats()["requests"] == 2, what="events")
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
        s = self.parse_strict(body)
        self.assertEqual(s['notmod_requests_total{source="shim"}'], 2)
        self.assertEqual(s['notmod_bytes_saved_total{source="shim"}'], 700)
        self.assertEqual(s['notmod_revalidation_hits_total{source="shim",'
                           'by="notmod"}'], 1)
        self.assertEqual(
            s['notmod_route_bytes_saved_total{source="shim",'
              'route="h/q\\"uote\\\\d"}'], 700)
        with self.assertRaises(urllib.error.HTTPError):
            urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5)


class DaemonLifecycleTest(unittest.TestCase):
    def run_notmodd(self, *args):
        return subprocess.run([NOTMODD] + list(args), capture_output=True,
                              text=True, timeout=20)

    def test_pcap_bad_interface_is_a_clear_error(self):
        # Own socket path: never leave files at the default location.
        sock = os.path.join(tempdir(self), "n.sock")
        p = self.run_notmodd("--foreground", "--socket", sock, "--pcap",
                             "nm-no-such-if0")
        self.assertEqual(p.returncode, 1)
        self.assertIn("--pcap nm-no-such-if0", p.stderr)

    def test_bad_flags_exit_2_with_one_line(self):
        for args in (["--bogus"], ["--secret", "xyz"], ["stray"],
                     ["--log", "nowhere"]):
            sock = os.path.join(tempdir(self), "n.sock")
            p = self.run_notmodd("--foreground", "--socket", sock, *args)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)

    def test_second_daemon_on_same_socket_is_refused(self):
        dir = tempdir(self)
        d = Daemon(dir).start()
        self.addCleanup(d.stop)
        p = self.run_notmodd("--foreground", "--socket", d.socket)
        self.assertEqual(p.returncode, 1)
        self.assertIn("another notmodd running", p.stderr)

    def test_stale_socket_is_replaced_and_sigterm_cleans_up(self):
        dir = tempdir(self)
        d = Daemon(dir).start()
        d.stop(signal.SIGKILL)  # leaves stale sockets behind
        pid = os.path.join(dir, "pid")
        d = Daemon(dir, extra=["--pidfile", pid]).start()
        with open(pid) as f:
            self.assertEqual(int(f.read()), d.proc.pid)
        self.assertEqual(os.stat(d.control).st_mode & 0o777, 0o600)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(d.socket))
        self.assertFalse(os.path.exists(d.control))
        self.assertFalse(os.path.exists(pid))
        self.assertTrue(os.path.exists(d.snapshot))  # shims keep using it

    def test_detaches_without_foreground(self):
        dir = tempdir(self)
        pid = os.path.join(dir, "pid")
        sock = os.path.join(dir, "n.sock")
        p = subprocess.run([NOTMODD, "--socket", sock, "--pidfile", pid,
                            "--log", "stderr"], timeout=20)
        self.assertEqual(p.returncode, 0)
        with open(pid) as f:
            daemon_pid = int(f.read())
        try:
            d = Daemon(dir)
            self.assertTrue(d.ctl("status").startswith("ok"))
        finally:
            os.kill(daemon_pid, signal.SIGTERM)
            wait_for(lambda: not os.path.exists(pid), what="exit")

    def test_secret_drops_events_without_token_and_sighup_reloads(self):
        dir = tempdir(self)
        conf = os.path.join(dir, "notmodd.conf")
        with open(conf, "w") as f:
            f.write("# test\nsecret = 00112233445566aa\n")
        d = Daemon(dir, extra=["--config", conf]).start()
        self.addCleanup(d.stop)
        emit_200(d, '"no"')
        emit_200(d, '"bad"', token="1")
        emit_200(d, '"yes"', token="00112233445566aa")
        wait_for(lambda: d.fields("status")["events_rejected"] == "2",
                 what="2 rejected")
        self.assertEqual(d.fields("get " + URL)["tag"], '"yes"')
        with open(conf, "w") as f:
            f.write("secret = 1111111111111111\n")
        os.kill(d.proc.pid, signal.SIGHUP)
        wait_for(lambda: "SIGHUP: reloaded" in d.read_log(), what="reload")
        emit_200(d, '"new"', token="1111111111111111")
        wait_for(lambda: d.fields("get " + URL)["tag"] == '"new"',
                 what="new secret accepted")


if __name__ == "__main__":
    unittest.main(verbosity=2)
