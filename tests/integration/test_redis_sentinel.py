"""notmodd on --redis sentinel://: a primary, a replica and three
sentinels on 127.0.0.1 (one set for the class), two notmodd with events
flowing. A failover, graceful or after kill -9 of the primary, is followed
within two seconds of the sentinels' switch, the fleet totals in Redis are
exactly what was sent, and no Last-Modified goes backwards."""
import re
import signal
import sys
import time
import unittest

from daemon_util import (Daemon, Redis, Sentinel, Traffic, tempdir, wait_for)

FOLLOW_S = 2.0  # after the sentinels switched


class SentinelFailoverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.servers = []
        try:
            cls.start_servers()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_servers(cls):
        import tempfile
        cls._tmp = tempfile.TemporaryDirectory(prefix="notmod-test-")
        dir = cls._tmp.name
        # No delay before a replica's first sync (Redis waits 5 s by
        # default, for more replicas to join).
        fast = ["--repl-diskless-sync-delay", "0"]
        cls.primary = Redis(dir, extra=fast).start()
        cls.servers.append(cls.primary)
        cls.replica = Redis(dir, extra=fast + [
            "--replicaof", "127.0.0.1", str(cls.primary.port)]).start()
        cls.servers.append(cls.replica)
        wait_for(lambda: cls.replica.info("replication")
                 .get("master_link_status") == "up", what="replica in sync")
        cls.sentinels = []
        for _ in range(3):
            s = Sentinel(dir, cls.primary.port).start()
            cls.servers.append(s)
            cls.sentinels.append(s)
        cls.wait_sentinels_ready()
        cls.url = "sentinel://%s/mymaster" % ",".join(
            "127.0.0.1:%d" % s.port for s in cls.sentinels)

    @classmethod
    def tearDownClass(cls):
        for s in reversed(cls.servers):
            s.stop(signal.SIGKILL)
        if getattr(cls, "_tmp", None):
            cls._tmp.cleanup()

    @classmethod
    def wait_sentinels_ready(cls):
        """Every sentinel knows the two others and a replica in sync: a
        failover can then reach its quorum and has someone to promote."""
        def ready():
            for s in cls.sentinels:
                if len(s.cmd("SENTINEL", "sentinels", "mymaster")) != 2:
                    return False
                reps = s.cmd("SENTINEL", "replicas", "mymaster")
                if not any("master-link-status" in r and
                           r[r.index("master-link-status") + 1] == "ok" and
                           "s_down" not in r[r.index("flags") + 1]
                           for r in reps):
                    return False
            return True
        wait_for(ready, timeout=30, what="sentinels ready")

    def master(self):
        """The server the sentinels name now, and the other one."""
        port = self.sentinels[0].master()[1]
        return ((self.primary, self.replica) if port == self.primary.port
                else (self.replica, self.primary))

    def start_daemons(self):
        dir = tempdir(self)
        daemons = []
        for name in ("a", "b"):
            d = Daemon(dir, name, ["--redis", self.url]).start()
            self.addCleanup(d.stop)
            daemons.append(d)
        for d in daemons:
            wait_for(lambda: " connected," in d.fields("status")["store"],
                     what="connected through the sentinels")
        return daemons

    def follow(self, daemons, new_master, switched_at):
        """Waits until every daemon works with new_master; returns the
        seconds after switched_at."""
        want = "master %s connected," % new_master.addr

        def followed():
            return all(want in d.fields("status")["store"] for d in daemons)
        wait_for(followed, timeout=FOLLOW_S + 5, what=want)
        return time.monotonic() - switched_at

    def wait_switch(self, new_master):
        wait_for(lambda: all(s.master()[1] == new_master.port
                             for s in self.sentinels),
                 timeout=30, what="sentinels switched to %s" % new_master.addr)
        return time.monotonic()

    def expect_exact(self, daemons, traffic, master):
        """Every event counted once in master, totals and per route."""
        try:
            wait_for(lambda: master.cmd("HGET", "notmod:stats", "requests")
                     == str(traffic.total), timeout=20, what="totals")
            for d in daemons:
                wait_for(lambda: re.search(
                    r" connected, 0 in flight, 0 queued",
                    d.fields("status")["store"]), what="daemon idle")
        except AssertionError:
            raise AssertionError("requests %r, sent %d; logs:\n%s" % (
                master.cmd("HGET", "notmod:stats", "requests"), traffic.total,
                "\n".join(d.read_log() for d in daemons)))
        self.assertEqual(master.cmd("HGET", "notmod:stats", "requests"),
                         str(traffic.total))
        for route, n in traffic.sent.items():
            self.assertEqual(master.cmd("HGET", "notmod:route:" + route,
                                        "requests"), str(n), route)

    def hwm_of(self, master, traffic):
        return {i: int(master.cmd("HGET", "notmod:url:%s/t%d" % (
            traffic.HOST, i), "hwm") or 0) for i in range(traffic.paths)}

    def failover(self, how):
        """Traffic, a failover made by how(old master), more traffic; the
        daemons follow, count exactly and keep dates rising."""
        master, other = self.master()
        master.cmd("FLUSHALL")
        wait_for(lambda: other.cmd("DBSIZE") == 0, what="replica flushed")
        daemons = self.start_daemons()
        traffic = Traffic(daemons).start()
        try:
            wait_for(lambda: traffic.round > 20, what="traffic")
            # Writes whose replies the daemons acted on waited for the
            # replica (WAIT): the promoted one has them.
            wait_for(lambda: int(master.info("commandstats").get(
                "cmdstat_wait", "calls=0").split("=")[1].split(",")[0]) > 0,
                what="WAIT used")
            learned = traffic.learned()
            started = time.monotonic()
            how(master)
            switched_at = self.wait_switch(other)
            took = self.follow(daemons, other, switched_at)
            sys.stderr.write("[failover %.1f s, followed %.2f s after] " % (
                switched_at - started, took))
            self.assertLess(took, FOLLOW_S, "followed %.2f s after" % took)
            # A few more versions, dated by the new master.
            after = traffic.round + 25
            wait_for(lambda: traffic.round > after, what="traffic after")
        finally:
            traffic.stop()
        self.expect_exact(daemons, traffic, other)
        try:
            traffic.check_dates(self, is_one_date_per_version=False)
        except AssertionError as e:
            raise AssertionError("%s; logs:\n%s" % (e, "\n".join(
                d.read_log() for d in daemons)))
        # Nothing a daemon had learned before the failover is unknown to
        # the new master: its hwm of each URL covers it.
        hwm = self.hwm_of(other, traffic)
        for i, lm in learned.items():
            self.assertGreaterEqual(hwm[i], lm, traffic.url(i))

    def test_1_graceful_failover_is_followed(self):
        # SENTINEL FAILOVER: the old master stays up and becomes a
        # replica; the daemons hear +switch-master (or READONLY).
        self.failover(lambda old: self.sentinels[0].cmd(
            "SENTINEL", "failover", "mymaster"))
        master, other = self.master()
        # A replica in sync for the next failover: the sentinels learn of it
        # from the new master's INFO (1 s once that master is down).
        wait_for(lambda: other.info("replication").get("master_link_status")
                 == "up", timeout=20, what="old master now a replica")

    def test_2_killed_primary_is_replaced_and_nothing_is_lost(self):
        killed = []

        def kill(old):
            old.stop(signal.SIGKILL)
            killed.append(old)
        self.failover(kill)
        # Dates on the survivor go on rising from what the fleet had.
        master, _ = self.master()
        self.assertNotIn(master, killed)


if __name__ == "__main__":
    unittest.main(verbosity=2)
