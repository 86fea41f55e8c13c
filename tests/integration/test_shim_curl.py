"""Server validators through the shim with curl as the client: -z (If-Modified-Since from a date),
--http1.0, -I (HEAD), several URLs over one keep-alive connection, and
--etag-save/--etag-compare, against nginx that sends validators but never
answers If-Modified-Since itself ("noims"), and busybox static files."""

import os
import shutil
import subprocess
import tempfile
import unittest

import docroots
from docroots import T0
from servers import BusyboxServer, NginxServer
from wire import http_date

LATER = http_date(T0 + 3600)    # after the files' Last-Modified
EARLIER = http_date(T0 - 3600)  # before it


def curl(*args):
    p = subprocess.run(["curl", "-s", "-o", "/dev/null"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout


class CurlMixin:
    server_cls = None
    server_kw = {}

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-curl-")
        cls.docroot = docroots.make_docroot(cls.base)
        cls.srv = cls.server_cls(cls.docroot, shim=True, tag="-curl",
                                 **cls.server_kw).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        shutil.rmtree(cls.base, ignore_errors=True)

    def url(self, path):
        return self.srv.url(path)

    def test_z_later_date_gives_304_earlier_gives_200(self):
        rc, out = curl("-w", "%{http_code} %{size_download}\n", "-z", LATER,
                       self.url("/big.bin"))
        self.assertEqual((rc, out), (0, "304 0\n"))
        rc, out = curl("-w", "%{http_code} %{size_download}\n", "-z",
                       EARLIER, self.url("/big.bin"))
        self.assertEqual((rc, out), (0, "200 262144\n"))

    def test_http10_revalidation(self):
        # An HTTP/1.0 request; the 304 keeps the server's own version (both
        # servers answer 1.0 clients with HTTP/1.1 status lines).
        rc, out = curl("--http1.0", "-w", "%{http_code} %{size_download}\n",
                       "-z", LATER, self.url("/s.txt"))
        self.assertEqual((rc, out), (0, "304 0\n"))

    def test_head_revalidation(self):
        rc, out = curl("-I", "-w", "%{http_code}\n", "-z", LATER,
                       self.url("/s.txt"))
        self.assertEqual((rc, out), (0, "304\n"))

    def test_several_urls_one_command(self):
        urls = [self.url(p) for p in ("/s.txt", "/big.bin", "/index.html",
                                      "/s.txt")]
        rc, out = curl("-w", "%{http_code} %{num_connects}\n", "-z", LATER,
                       *urls)
        self.assertEqual(rc, 0)
        codes = [l.split()[0] for l in out.splitlines()]
        self.assertEqual(codes, ["304"] * 4)
        if self.srv.keepalive:  # one connection carried them all
            self.assertEqual(sum(int(l.split()[1])
                                 for l in out.splitlines()), 1)

    def test_etag_save_then_compare(self):
        d = tempfile.mkdtemp(prefix="nm-etag-")
        self.addCleanup(shutil.rmtree, d, True)
        f = os.path.join(d, "etag")
        rc, out = curl("--etag-save", f, "-w", "%{http_code}\n",
                       self.url("/s.txt"))
        self.assertEqual((rc, out), (0, "200\n"))
        rc, out = curl("--etag-compare", f, "-w", "%{http_code}\n",
                       "-H", "If-Modified-Since: " + EARLIER,
                       self.url("/s.txt"))
        # The tag matches: 304, whatever the (earlier) date says.
        self.assertEqual((rc, out), (0, "304\n"))


class NginxNoIms(CurlMixin, unittest.TestCase):
    server_cls = NginxServer
    server_kw = {"validators": "noims"}


class BusyboxStatic(CurlMixin, unittest.TestCase):
    server_cls = BusyboxServer


if __name__ == "__main__":
    unittest.main()
