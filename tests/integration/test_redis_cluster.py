"""notmodd on --redis cluster://: Redis Cluster on 127.0.0.1 (one cluster
per class). Every store operation of the single-server suite passes on
three masters; two notmodd keep exact totals and rising dates while slots
migrate under their traffic (by hand, so that ASK and TRYAGAIN are met,
and by redis-cli --cluster reshard) and when a master is killed and its
replica promoted."""
import re
import signal
import sys
import tempfile
import time
import unittest

from daemon_util import (Daemon, RedisCluster, Traffic, tempdir, wait_for)
from test_daemon import KEY, URL, StoreSuite, change, dated


class ClusterFixture:
    """One cluster for the class (masters, replicas of the first),
    stopped by PID even when a test fails."""
    MASTERS, REPLICAS = 3, 0

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="notmod-test-")
        cls.cluster = RedisCluster(cls._tmp.name, cls.MASTERS, cls.REPLICAS)
        try:
            cls.cluster.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        cls._tmp.cleanup()

    def start_daemon(self, name="n"):
        d = Daemon(tempdir(self), name, ["--redis", self.cluster.url]).start()
        self.addCleanup(d.stop)
        wait_for(lambda: " connected," in d.fields("status")["store"],
                 what="cluster connected")
        return d


class ClusterStoreTest(ClusterFixture, StoreSuite, unittest.TestCase):
    """The single-server store suite (tags, dates, pins, purge, disable,
    counters), each test on an emptied cluster and a new daemon."""

    def setUp(self):
        self.cluster.flushall()
        self.d = self.start_daemon()

    def hash_of(self, key=KEY):
        flat = self.cluster.cmd("HGETALL", "notmod:url:" + key)
        return dict(zip(flat[::2], flat[1::2]))

    def test_keys_follow_the_documented_schema_on_every_master(self):
        lm = change(self.d, '"v1"')[0]
        self.assertEqual(self.hash_of(),
                         {"tag": '"v1"', "lm": str(lm), "hwm": str(lm)})
        self.assertTrue(self.d.ctl('pin %s "p1"' % URL).startswith("ok"))
        pinned = dated(self.d, '"p1"', is_pin=True)
        self.assertTrue(self.d.ctl("purge " + URL).startswith("ok"))
        wait_for(lambda: self.hash_of() == {"hwm": str(pinned)},
                 what="purge keeps hwm alone")
        self.d.ctl("disable /x")
        wait_for(lambda: self.cluster.cmd("SMEMBERS", "notmod:disabled")
                 == ["/x"], what="disabled set")
        wait_for(lambda: self.cluster.cmd("HGET", "notmod:stats", "requests")
                 == "1", what="counter flush")
        keys = self.cluster.keys("notmod:*")
        self.assertEqual({k for k in keys if not k.startswith(
            ("notmod:route:", "notmod:batch:"))},
            {"notmod:url:" + KEY, "notmod:stats", "notmod:disabled"})
        # A counter hash and its batch marker live on one master.
        marker = next(k for k in keys if k.endswith("{notmod:stats}"))
        self.assertEqual(self.cluster.node_of(marker).port,
                         self.cluster.node_of("notmod:stats").port)

    def test_urls_spread_over_masters_and_warm_start_reads_them_all(self):
        for i in range(30):
            self.d.emit(host="example.test", path="/w%d" % i,
                        tag='"t%d"' % i)
        wait_for(lambda: len(self.cluster.keys("notmod:url:*")) == 30,
                 what="30 URL hashes")
        holders = {self.cluster.node_of(k).port
                   for k in self.cluster.keys("notmod:url:*")}
        self.assertEqual(len(holders), 3)
        self.d.ctl("disable /off")
        wait_for(lambda: self.cluster.cmd("SMEMBERS", "notmod:disabled")
                 == ["/off"], what="disabled set")
        # A new daemon learns every URL (SCAN on each master) and the
        # disabled prefix (from its slot's master).
        other = self.start_daemon("other")
        wait_for(lambda: other.fields("status")["urls"] == "30",
                 what="warm start")
        self.assertEqual(other.fields("get http://example.test/w7")["tag"],
                         '"t7"')
        self.assertEqual(other.fields("get http://h/off/x")["disabled"],
                         "yes")


class ClusterTrafficTest(ClusterFixture, unittest.TestCase):
    """Two daemons under traffic while the cluster changes. The first
    master has a replica (for the failover test, which runs last)."""
    REPLICAS = 1

    def setUp(self):
        self.cluster.flushall()
        self.daemons = [self.start_daemon("a"), self.start_daemon("b")]

    def expect_exact(self, traffic, is_one_date_per_version):
        c = self.cluster
        try:
            wait_for(lambda: c.cmd("HGET", "notmod:stats", "requests")
                     == str(traffic.total), timeout=20, what="totals")
            for d in self.daemons:
                wait_for(lambda: re.search(
                    r" connected, 0 in flight, 0 queued",
                    d.fields("status")["store"]), what="daemon idle")
        except AssertionError:
            raise AssertionError("requests %r, sent %d; logs:\n%s" % (
                c.cmd("HGET", "notmod:stats", "requests"), traffic.total,
                "\n".join(d.read_log() for d in self.daemons)))
        self.assertEqual(c.cmd("HGET", "notmod:stats", "requests"),
                         str(traffic.total))
        for route, n in traffic.sent.items():
            self.assertEqual(c.cmd("HGET", "notmod:route:" + route,
                                   "requests"), str(n), route)
        try:
            traffic.check_dates(self, is_one_date_per_version)
        except AssertionError as e:
            raise AssertionError("%s; logs:\n%s" % (e, "\n".join(
                d.read_log() for d in self.daemons)))

    def run_traffic(self, during, is_one_date_per_version=True):
        traffic = Traffic(self.daemons).start()
        try:
            wait_for(lambda: traffic.round > 20, what="traffic")
            traffic.learned()
            during(traffic)
            after = traffic.round + 25
            wait_for(lambda: traffic.round > after, what="traffic after")
        finally:
            traffic.stop()
        self.expect_exact(traffic, is_one_date_per_version)
        return traffic

    def migrate(self, slot, src, dst, pause):
        """Moves slot from src to dst by hand, the way redis-cli does, with
        a pause in each state: MIGRATING/IMPORTING with the keys still on
        src (new keys: ASK), the keys moving one by one (the counter
        script's keys split: TRYAGAIN), all moved (ASK), then the slot
        owned by dst (MOVED)."""
        c = self.cluster
        src_id, dst_id = c.node_id(src), c.node_id(dst)
        dst.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        time.sleep(pause)
        # One key at a time: a counter hash and its batch markers are
        # apart for longer than a counter flush (1 s).
        while True:
            keys = src.cmd("CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                break
            for k in keys:
                src.cmd("MIGRATE", "127.0.0.1", dst.port, k, 0, 5000)
                time.sleep(0.6)
        time.sleep(pause)
        for n in c.masters():
            n.cmd("CLUSTER", "SETSLOT", slot, "NODE", dst_id)

    def test_1_two_daemons_share_epochs_and_count_exactly(self):
        self.run_traffic(lambda traffic: time.sleep(1))
        a, b = self.daemons
        a.emit(host="example.test", path="/page?x=1", tag='"v1"')
        first = dated(a, '"v1"')
        time.sleep(1.1)
        b.emit(host="example.test", path="/page?x=1", tag='"v1"')
        self.assertEqual(dated(b, '"v1"'), first)
        # The first master has a replica: writes waited for it.
        first_master = self.cluster.nodes[0]
        stats = first_master.info("commandstats")
        self.assertIn("cmdstat_wait", stats)

    def test_2_slots_migrating_under_traffic_lose_nothing(self):
        c = self.cluster

        def during(traffic):
            # The slots of one route's counter hash and of one URL, moved
            # between the masters without a replica.
            spare = c.nodes[1:c.n_masters]
            for key in ("notmod:route:%s/t1" % traffic.HOST,
                        "notmod:url:%s/t2" % traffic.HOST):
                slot = c.nodes[0].cmd("CLUSTER", "KEYSLOT", key)
                src = c.node_of(key)
                if src.port == c.nodes[0].port:
                    continue  # keep the first master's slots in place
                dst = next(n for n in spare if n.port != src.port)
                self.migrate(slot, src, dst, pause=0.7)
            # And many slots at once, as an operator would.
            ids = [c.node_id(n) for n in spare]
            import subprocess
            subprocess.run(["redis-cli", "--cluster", "reshard",
                            spare[0].addr, "--cluster-from", ids[0],
                            "--cluster-to", ids[1], "--cluster-slots", "300",
                            "--cluster-yes"], check=True,
                           stdout=subprocess.DEVNULL, timeout=60)
        self.run_traffic(during)
        # The daemons met each kind of redirection on the way.
        seen = {k: 0 for k in ("MOVED", "ASK", "TRYAGAIN")}
        for d in self.daemons:
            store = d.fields("status")["store"]
            for k in seen:
                seen[k] += int(re.search(r"(\d+) %s" % k, store).group(1))
        sys.stderr.write("[%s] " % seen)
        self.assertGreater(seen["MOVED"], 0)
        self.assertGreater(seen["ASK"], 0)
        self.assertGreater(seen["TRYAGAIN"], 0)

    def test_3_killed_master_replaced_by_its_replica_loses_nothing(self):
        c = self.cluster
        first = c.nodes[0]
        self.assertEqual(c.node_of("notmod:stats").port, first.port)

        def during(traffic):
            first.stop(signal.SIGKILL)
            started = time.monotonic()
            replica = c.nodes[c.n_masters]
            wait_for(lambda: replica.info("replication")["role"] == "master",
                     timeout=30, what="replica promoted")
            promoted = time.monotonic() - started
            wait_for(lambda: all(" connected," in d.fields("status")["store"]
                                 for d in self.daemons),
                     timeout=10, what="daemons follow")
            sys.stderr.write("[promoted after %.1f s, followed %.1f s "
                             "after] " % (promoted, time.monotonic() -
                                          started - promoted))
        # Reconnected daemons write back what they serve at that moment:
        # for a few milliseconds that may be the version before.
        self.run_traffic(during, is_one_date_per_version=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
