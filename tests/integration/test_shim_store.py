"""The shim and the store end to end: the shim under a real busybox httpd
reports to a real notmodd (embedded store) and reads its snapshot.

- a no-validator CGI gets its ETag from the shim and its Last-Modified from
  the store (the date of its tag's epoch), and If-Modified-Since against
  that date gives a 304;
- `purge` makes the next response carry a new Last-Modified;
- `disable /prefix` makes the shim pass that route untouched;
- `pin` makes the shim use the operator's tag;
- the daemon counts what the shim did (requests, substituted 304s, tags).
"""

import email.utils
import os
import time
import unittest

import docroots
import model
from daemon_util import Daemon, ctl, tempdir, wait_for
from servers import BusyboxServer
from wire import Request, exchange

SCRIPT = b"""#!/bin/sh
echo "Content-Type: text/plain"
echo ""
echo "store test body"
"""


def get(server, path, headers=()):
    ex = exchange(server.port, [Request("GET", path, headers=list(headers))])
    assert ex.error is None, ex
    return ex.final()[0]


class ShimWithDaemon(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempdir_cls = __import__("tempfile").mkdtemp(
            prefix="nm-store-")
        cls.docroot = docroots.make_docroot(tempdir_cls, cgi=True)
        for name in ("page.sh", "other.sh", "pinned.sh"):
            path = os.path.join(cls.docroot, "cgi-bin", name)
            docroots.write_file(path, SCRIPT)
            os.chmod(path, 0o755)
        cls.daemon = Daemon(cls.base).start()
        env = {"NOTMOD_SOCKET": cls.daemon.socket,
               "NOTMOD_SNAPSHOT": cls.daemon.snapshot}
        cls.server = BusyboxServer(cls.docroot, shim=True, shim_env=env,
                                   tag="-store").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.daemon.stop()
        __import__("shutil").rmtree(cls.base, ignore_errors=True)

    def ctl(self, *args):
        rc, out, err = ctl(*args, control=self.daemon.control)
        self.assertEqual(rc, 0, err)
        return out

    def url(self, path):
        # The store keys URLs by the request's Host field, which the raw
        # client sends as plain "127.0.0.1".
        return "http://127.0.0.1%s" % path

    def wait_lm(self, path):
        """Requests path until the store's Last-Modified shows up."""
        last = [None]

        def has_lm():
            last[0] = get(self.server, path)
            return last[0].first("Last-Modified") is not None
        wait_for(has_lm, timeout=10, what="Last-Modified from the store")
        return last[0]

    def test_last_modified_from_store_answers_ims(self):
        path = "/cgi-bin/page.sh"
        first = get(self.server, path)
        self.assertEqual(first.status, 200)
        tag = first.first("ETag")
        self.assertRegex(b"ETag: " + tag.encode(), model.SYNTH_ETAG_RE)
        r = self.wait_lm(path)
        self.assertEqual(r.first("ETag"), tag)
        lm = r.first("Last-Modified")
        lm_unix = email.utils.parsedate_to_datetime(lm).timestamp()
        self.assertLessEqual(abs(lm_unix - time.time()), 30)
        # The same date from notmodd's own view of the URL.
        fields = self.daemon.fields("get " + self.url(path))
        self.assertEqual(fields["tag"], tag)
        self.assertEqual(int(fields["last_modified"].split()[0]), lm_unix)
        # A date is one second after the change that started its epoch; an
        # If-Modified-Since later than the server's clock is ignored. (The
        # server's time() is the kernel's coarse clock, up to a tick late.)
        time.sleep(max(0.0, lm_unix + 0.1 - time.time()))
        # If-Modified-Since with that date: a 304 carrying both validators.
        r304 = get(self.server, path, [("If-Modified-Since", lm)])
        self.assertEqual(r304.status, 304)
        self.assertEqual(r304.first("ETag"), tag)
        self.assertEqual(r304.first("Last-Modified"), lm)
        self.assertEqual(r304.body, b"")
        # A date before it: the full 200.
        earlier = email.utils.formatdate(lm_unix - 3600, usegmt=True)
        r200 = get(self.server, path, [("If-Modified-Since", earlier)])
        self.assertEqual(r200.status, 200)
        self.assertEqual(r200.body, b"store test body\n")

    def test_purge_gives_new_last_modified(self):
        path = "/cgi-bin/other.sh"
        get(self.server, path)
        lm1 = self.wait_lm(path).first("Last-Modified")
        self.ctl("purge", self.url(path))
        # Once the snapshot drops the URL, responses carry no Last-Modified
        # until the next event reached notmodd, then the new one.
        seen = []

        def new_lm():
            seen.append(get(self.server, path).first("Last-Modified"))
            return seen[-1] not in (None, lm1)
        wait_for(new_lm, timeout=10, what="a new Last-Modified")
        lm2 = seen[-1]
        changed = next(i for i, v in enumerate(seen) if v != lm1)
        self.assertNotIn(lm1, seen[changed:], "old date came back")
        t1 = email.utils.parsedate_to_datetime(lm1)
        t2 = email.utils.parsedate_to_datetime(lm2)
        self.assertGreater(t2, t1)

    def test_disable_passes_route_untouched(self):
        path = "/cgi-bin/page.sh?disabled"
        self.ctl("disable", "/cgi-bin/page.sh")
        try:
            def untouched():
                return get(self.server, path).first("ETag") is None
            wait_for(untouched, timeout=10, what="route passed untouched")
            r = get(self.server, path)
            self.assertEqual(r.head_raw,
                             b"HTTP/1.1 200 OK\r\n"
                             b"Content-Type: text/plain\n\n")
            self.assertEqual(r.body, b"store test body\n")
        finally:
            self.ctl("enable", "/cgi-bin/page.sh")
        wait_for(lambda: get(self.server, path).first("ETag") is not None,
                 timeout=10, what="route handled again")

    def test_pin_sets_the_tag(self):
        path = "/cgi-bin/pinned.sh"
        self.ctl("pin", self.url(path), '"pinned-v7"')
        wait_for(lambda: get(self.server, path).first("ETag") ==
                 '"pinned-v7"', timeout=10, what="pinned tag used")
        r = get(self.server, path, [("If-None-Match", '"pinned-v7"')])
        self.assertEqual(r.status, 304)
        self.assertEqual(r.first("ETag"), '"pinned-v7"')

    def test_daemon_counts_substitutions(self):
        path = "/cgi-bin/page.sh?count"
        tag = get(self.server, path).first("ETag")
        before = self.daemon.stats()
        for _ in range(3):
            self.assertEqual(get(self.server, path,
                                 [("If-None-Match", tag)]).status, 304)

        def counted():
            s = self.daemon.stats()
            return (s["hits_substituted"] -
                    before["hits_substituted"] >= 3 and
                    s["bytes_saved"] - before["bytes_saved"] >=
                    3 * len(b"store test body\n"))
        wait_for(counted, timeout=10, what="substituted 304s counted")


if __name__ == "__main__":
    unittest.main()
