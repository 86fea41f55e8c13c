"""Acceleration, the shim's side (docs/acceleration.md, "The shim's
contract"): real servers under the shim with a real notmodd, routes made
fresh with `notmodctl fresh`, and a revalidation answered with a 304 before
the server sees it. Whether a request reached the server is what the
server itself tells: its request log (accel_server.py), nginx's access log,
a CGI's counter file.

- accel_server.py reading with read, recv, readv and recvmsg, blocking and
  under edge-triggered epoll: the 304's bytes, keep-alive after it (a
  blocking server keeps waiting, an epoll one loses no wake-up), pipelined
  requests in order, a head split over two reads going to the server;
- every rule of the decision as a request that must reach nginx and one
  that must not, a browser reload among them;
- busybox CGI (blocking, a fork per connection) and Apache (event, mod_cgid):
  the CGI does not run; a purge during a run ends acceleration; freshness
  expiry; keep-alive after an accelerated 304;
- bytes identical to the bare server for what is not accelerated;
- notmodd counting the accelerated 304s and the server time they avoided.
"""

import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest

import compat_servers
import docroots
import servers
from daemon_util import Daemon, ctl, wait_for
from wire import Conn, Request, exchange, normalize_head, parse_responses, \
    request_bytes

HOST = "example.com"
RE_304 = re.compile(rb"HTTP/1\.1 304 Not Modified\r\n")

COUNT_CGI = b"""#!/bin/sh
# Counts its runs; the body never changes.
f="$(dirname "$0")/$(basename "$0").count"
n=$(cat "$f" 2>/dev/null || echo 0)
echo $((n + 1)) > "$f"
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf 'same body\\n'
"""


def req(method, path, headers=(), version="HTTP/1.1"):
    return Request(method, path, version=version, host=False,
                   headers=[("Host", HOST)] + list(headers))


class AccelServer(servers.Server):
    """accel_server.py under the shim: IO is its read call, MODE blocking
    or epoll-et."""

    def __init__(self, docroot, io="recv", mode="blocking", **kw):
        self.io, self.mode = io, mode
        self.name = "accel-%s-%s" % (io, mode)
        super().__init__(docroot, **kw)
        self.log = os.path.join(self.tmp, "requests.log")

    def command(self):
        return [sys.executable,
                os.path.join(os.path.dirname(__file__), "accel_server.py"),
                str(self.port), self.log, self.io, self.mode]

    def reached(self):
        try:
            with open(self.log) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0


class DaemonFixture(unittest.TestCase):
    """A notmodd for the class, and helpers to make routes fresh and wait
    until the shims see a URL's tag as the store's current one."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-accel-")
        cls.daemon = Daemon(cls.base).start()
        cls.shim_env = {"NOTMOD_SOCKET": cls.daemon.socket,
                        "NOTMOD_SNAPSHOT": cls.daemon.snapshot}
        cls.servers = []
        try:
            cls.start_servers()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.cleanup()
        cls.daemon.stop()
        shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def start(cls, server):
        cls.servers.append(server)
        return server.start()

    @classmethod
    def ctl(cls, *args):
        rc, out, err = ctl(*args, control=cls.daemon.control)
        assert rc == 0, (args, err)
        return out

    @classmethod
    def fresh(cls, prefix, setting):
        cls.ctl("fresh", prefix, setting)
        time.sleep(0.2)  # published within 50 ms, re-read within 50 ms

    def wait_current(self, path, tag, host=HOST):
        """Until the store's tag for the URL is tag, and a shim re-read."""
        url = "http://%s%s" % (host, path)

        def current():
            try:
                return self.daemon.fields("get " + url).get("tag") == tag
            except ValueError:
                return False
        wait_for(current, timeout=10, what="the store's tag for " + url)
        time.sleep(0.12)

    def assert_304_of(self, r, tag):
        self.assertEqual(r.status, 304, r)
        self.assertEqual(r.first("ETag"), tag)
        self.assertRegex(r.first("Date"), r"^\w{3}, \d\d \w{3} \d{4} ")
        self.assertRegex(r.first("Age"), r"^\d+$")
        self.assertEqual(r.body_raw, b"")

    def assert_no_errors(self):
        for s in self.servers:
            self.assertEqual(s.error_lines(), [], s.name)

    def tearDown(self):
        # a sanitizer's report, a crash, a shim warning: in any server log
        self.assert_no_errors()


class ScriptedMixin:
    """Keep-alive, pipelining and split heads on accel_server.py."""

    io = mode = None

    @classmethod
    def start_servers(cls):
        cls.server = cls.start(AccelServer(
            cls.base, io=cls.io, mode=cls.mode, shim=True,
            shim_env=cls.shim_env))
        cls.fresh("/", "60")

    def setUp(self):
        self.path = "/%s?%f" % (self._testMethodName, time.time())
        c = Conn(self.server.port)
        r = c.request("GET", self.path, HOST)
        c.close()
        self.assertEqual(r.status, 200)
        self.tag = r.first("ETag")
        self.assertEqual(self.tag, '"v1"')
        self.wait_current(self.path, self.tag)

    def inm(self, tag=None):
        return [("If-None-Match", tag or self.tag)]

    def test_304_before_the_server_then_keep_alive(self):
        n = self.server.reached()
        c = Conn(self.server.port)
        try:
            r = c.request("GET", self.path, HOST, self.inm())
            self.assertRegex(r.head_raw, re.compile(
                rb'^HTTP/1\.1 304 Not Modified\r\nETag: "v1"\r\n'
                rb"Date: [^\r\n]+ GMT\r\nAge: \d+\r\n\r\n$"))
            self.assertEqual(self.server.reached(), n, "reached the server")
            r = c.request("HEAD", self.path, HOST, self.inm())
            self.assert_304_of(r, self.tag)
            # The same connection, later: a blocking server was waiting for
            # it, an edge-triggered one gets its new edge.
            time.sleep(0.3)
            r = c.request("GET", self.path, HOST)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"accelerated body\n")
            self.assertEqual(self.server.reached(), n + 1)
        finally:
            c.close()
        self.assert_no_errors()

    def test_pipelined_in_order(self):
        n = self.server.reached()
        other = self.path + "&other"
        reqs = [req("GET", self.path, self.inm()),
                req("GET", self.path, self.inm()),
                req("GET", other),
                # behind a response in progress: to the server (whose 200
                # the shim turns into a 304)
                req("GET", self.path, self.inm())]
        ex = exchange(self.server.port, reqs, pipelined=True)
        self.assertIsNone(ex.error, ex)
        self.assertEqual([r.status for r in ex.responses],
                         [304, 304, 200, 304])
        self.assertEqual(ex.responses[2].body, b"accelerated body\n")
        self.assertEqual(self.server.reached(), n + 2)

    def test_head_split_over_reads_reaches_the_server(self):
        n = self.server.reached()
        ex = exchange(self.server.port, [req("GET", self.path, self.inm())],
                      split=[20], split_delay=0.1)
        self.assertIsNone(ex.error, ex)
        r = ex.responses[0]
        self.assertEqual((r.status, r.first("ETag")), (304, self.tag))
        self.assertIsNone(r.first("Age"))  # the server's answer, replaced
        self.assertEqual(self.server.reached(), n + 1)

    def test_accelerated_then_more_bytes_in_one_read(self):
        # An accelerated request with half of the next one behind it: the
        # server gets the half (and waits for the rest), never a part of
        # the accelerated one.
        n = self.server.reached()
        s = socket.create_connection(("127.0.0.1", self.server.port),
                                     timeout=5)
        try:
            nxt = request_bytes("GET", self.path + "&next", HOST)
            s.sendall(request_bytes("GET", self.path, HOST, self.inm()) +
                      nxt[:10])
            time.sleep(0.3)
            s.sendall(nxt[10:])
            buf = b""
            while buf.count(b"accelerated body\n") < 1:
                chunk = s.recv(65536)
                self.assertTrue(chunk, buf)
                buf += chunk
            rs = parse_responses(buf, ["GET", "GET"])
            self.assertEqual([r.status for r in rs[0]], [304, 200])
        finally:
            s.close()
        self.assertEqual(self.server.reached(), n + 1)


class ReadBlocking(ScriptedMixin, DaemonFixture):
    io, mode = "read", "blocking"


class ReadvBlocking(ScriptedMixin, DaemonFixture):
    io, mode = "readv", "blocking"


class RecvEpollEdge(ScriptedMixin, DaemonFixture):
    io, mode = "recv", "epoll-et"


class RecvmsgEpollEdge(ScriptedMixin, DaemonFixture):
    io, mode = "recvmsg", "epoll-et"


class AccelNginx(servers.NginxServer):
    """nginx without validators (the shim tags), a location per stored
    shape the rules need."""

    def __init__(self, docroot, **kw):
        locs = {
            "nostore": 'add_header Cache-Control "no-store";',
            "private": 'add_header Cache-Control "private";',
            "cookie": 'add_header Set-Cookie "a=b";',
            "public": 'add_header Cache-Control "public";',
            "varyua": 'add_header Vary "User-Agent";',
            "vary": 'add_header Vary "Accept-Encoding";',
            "origin/ma": 'add_header Cache-Control "max-age=300";',
            "short": 'add_header Cache-Control "max-age=2";',
        }
        extra = "\n".join(
            "location /%s/ { etag off; if_modified_since off; "
            'add_header Last-Modified ""; %s }' % (k, v)
            for k, v in locs.items())
        super().__init__(docroot, validators="off", extra_server=extra, **kw)

    def reached(self):
        with open(os.path.join(self.tmp, "access.log")) as f:
            return len(f.read().splitlines())


RULE_DIRS = ("r", "nostore", "private", "cookie", "public", "varyua",
             "vary", "origin/none", "origin/ma", "off", "dis", "short")


def nginx_docroot(base):
    d = docroots.make_docroot(base)
    for sub in RULE_DIRS:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        docroots.write_file(os.path.join(d, sub, "f.txt"),
                            b"content of %s\n" % sub.encode())
    return d


class Rules(DaemonFixture):
    """Each rule of the decision (docs/acceleration.md) on nginx: a request
    that must reach the server, and one that must not."""

    @classmethod
    def start_servers(cls):
        cls.server = cls.start(AccelNginx(
            nginx_docroot(cls.base), shim=True, shim_env=cls.shim_env))
        for prefix in ("/r", "/nostore", "/private", "/cookie", "/public",
                       "/varyua", "/vary", "/dis", "/short"):
            cls.ctl("fresh", prefix, "60")
        cls.ctl("fresh", "/origin", "origin")
        cls.ctl("disable", "/dis")
        time.sleep(0.2)

    def keep(self, path, headers=()):
        """A 200 the shim keeps, current in the store: its tag."""
        c = Conn(self.server.port)
        r = c.request("GET", path, HOST, list(headers))
        c.close()
        self.assertEqual(r.status, 200, r)
        tag = r.first("ETag")
        self.assertIsNotNone(tag, r)
        self.wait_current(path, tag)
        return tag

    def send(self, path, headers=(), method="GET", version="HTTP/1.1"):
        """One request; (response, did it reach nginx)."""
        n = self.server.reached()
        ex = exchange(self.server.port, [req(method, path, headers, version)])
        self.assertIsNone(ex.error, ex)
        # nginx logs a request once it answered it
        return ex.responses[0], self.server.reached() > n

    def assert_accelerated(self, path, headers=(), method="GET"):
        r, reached = self.send(path, headers, method)
        self.assertEqual(r.status, 304, (path, headers, r))
        self.assertFalse(reached, (path, headers, "reached the server"))
        self.assertIsNotNone(r.first("Age"))
        return r

    def assert_reaches(self, path, headers=(), method="GET",
                       version="HTTP/1.1"):
        r, reached = self.send(path, headers, method, version)
        self.assertTrue(reached, (path, headers, method, version,
                                  "did not reach the server", r))
        return r

    def test_request_rules(self):
        path = "/r/f.txt"
        tag = self.keep(path)
        inm = ("If-None-Match", tag)
        rows = [  # rule: the request's fields (all with a matching tag)
            ("method", [inm], "POST", "HTTP/1.1"),
            ("not_conditional", [], "GET", "HTTP/1.1"),
            ("precondition", [inm, ("If-Match", tag)], "GET", "HTTP/1.1"),
            ("precondition", [inm, ("If-Unmodified-Since",
                                    "Sat, 01 Jan 2000 00:00:00 GMT")],
             "GET", "HTTP/1.1"),
            ("range", [inm, ("Range", "bytes=0-1")], "GET", "HTTP/1.1"),
            ("connection", [inm], "GET", "HTTP/1.0"),
            ("connection", [inm, ("Connection", "close")], "GET",
             "HTTP/1.1"),
            ("reload", [inm, ("Cache-Control", "max-age=0")], "GET",
             "HTTP/1.1"),
            ("reload", [inm, ("Cache-Control", "no-cache")], "GET",
             "HTTP/1.1"),
            ("reload", [inm, ("Pragma", "no-cache")], "GET", "HTTP/1.1"),
            ("too_old", [inm, ("Cache-Control", "min-fresh=100000")],
             "GET", "HTTP/1.1"),
            ("authorization", [inm, ("Authorization", "Basic eDp5")], "GET",
             "HTTP/1.1"),
            ("modified", [("If-None-Match", '"other"')], "GET", "HTTP/1.1"),
        ]
        for rule, headers, method, version in rows:
            with self.subTest(rule=rule, headers=headers):
                self.keep(path)
                self.assert_accelerated(path, [inm])
                r = self.assert_reaches(path, headers, method, version)
                if rule == "reload":
                    # the server's answer, revalidated: a substitution
                    self.assertEqual(r.status, 304)
                    self.assertIsNone(r.first("Age"))
        # A HEAD revalidates the GET's head; If-Modified-Since alone never
        # matches a tag-only 200 here (nginx sends no Last-Modified).
        self.assert_accelerated(path, [inm], method="HEAD")

    def test_stored_rules(self):
        rows = [  # rule, path: its 200 may not be reused
            ("not_storable", "/nostore/f.txt"),
            ("not_storable", "/private/f.txt"),
            ("set_cookie", "/cookie/f.txt"),
            ("vary", "/varyua/f.txt"),
            ("no_lifetime", "/origin/none/f.txt"),
            ("off", "/off/f.txt"),
            ("disabled", "/dis/f.txt"),
        ]
        for rule, path in rows:
            with self.subTest(rule=rule, path=path):
                c = Conn(self.server.port)
                r = c.request("GET", path, HOST)
                c.close()
                tag = r.first("ETag")
                if rule != "disabled":
                    self.wait_current(path, tag)
                else:
                    self.assertIsNone(tag)  # the route is left alone
                    tag = '"x"'
                time.sleep(0.12)
                self.assert_reaches(path, [("If-None-Match", tag)])
        # ... and the ones that must not reach it: public with
        # Authorization, the origin's own max-age, the same encoding.
        tag = self.keep("/public/f.txt")
        self.assert_accelerated("/public/f.txt", [
            ("If-None-Match", tag), ("Authorization", "Basic eDp5")])
        tag = self.keep("/origin/ma/f.txt")
        r = self.assert_accelerated("/origin/ma/f.txt",
                                    [("If-None-Match", tag)])
        self.assertEqual(r.first("Cache-Control"), "max-age=300")
        tag = self.keep("/vary/f.txt", [("Accept-Encoding", "gzip, br")])
        self.assert_accelerated("/vary/f.txt", [
            ("If-None-Match", tag), ("Accept-Encoding", "br,gzip")])
        self.assert_reaches("/vary/f.txt", [
            ("If-None-Match", tag), ("Accept-Encoding", "identity")])

    def test_freshness_expiry(self):
        # The origin's max-age=2 shortens the route's 60 s: accelerated
        # while the age is under 2 s, then to the server.
        path = "/short/f.txt"
        tag = self.keep(path)
        self.assert_accelerated(path, [("If-None-Match", tag)])
        time.sleep(2.2)
        self.assert_reaches(path, [("If-None-Match", tag)])
        # The server's answer (a substituted 304, from a whole 200) is kept
        # again: acceleration resumes.
        self.assert_accelerated(path, [("If-None-Match", tag)])

    def test_unsafe_method_ends_what_is_kept(self):
        path = "/r/f.txt"
        tag = self.keep(path)
        self.assert_accelerated(path, [("If-None-Match", tag)])
        # nginx answers a DELETE of a static file with 405: an error
        # changes nothing; a 404 for the URL (any non-200) ends it.
        self.assert_reaches(path, [], method="DELETE")
        self.assert_accelerated(path, [("If-None-Match", tag)])
        os.rename(os.path.join(self.server.docroot, "r", "f.txt"),
                  os.path.join(self.server.docroot, "r", "g.txt"))
        try:
            r = self.assert_reaches(path, [])
            self.assertEqual(r.status, 404)
            self.assert_reaches(path, [("If-None-Match", tag)])
        finally:
            os.rename(os.path.join(self.server.docroot, "r", "g.txt"),
                      os.path.join(self.server.docroot, "r", "f.txt"))


class OwnValidators(Rules):
    """nginx with its own ETags, answering revalidations itself: its 304
    renews the kept head (RFC 9111 §4.3.4), so acceleration resumes after
    the freshness ends without a 200."""

    @classmethod
    def start_servers(cls):
        cls.server = cls.start(OwnNginx(
            nginx_docroot(cls.base), shim=True, shim_env=cls.shim_env))
        cls.fresh("/short", "60")

    test_request_rules = test_stored_rules = None
    test_unsafe_method_ends_what_is_kept = None

    def test_freshness_expiry(self):
        path = "/short/f.txt"
        tag = self.keep(path)
        self.assertFalse(tag.startswith('"nm-'), tag)  # nginx's own
        self.assert_accelerated(path, [("If-None-Match", tag)])
        time.sleep(2.2)
        r = self.assert_reaches(path, [("If-None-Match", tag)])
        self.assertEqual(r.status, 304)
        self.assertIsNone(r.first("Age"))  # nginx's own 304
        r = self.assert_accelerated(path, [("If-None-Match", tag)])
        self.assertEqual(r.first("Cache-Control"), "max-age=2")


class OwnNginx(AccelNginx):
    """nginx with its ETag and Last-Modified, max-age=2 under /short/."""

    def __init__(self, docroot, **kw):
        servers.NginxServer.__init__(
            self, docroot, validators="on",
            extra_server='location /short/ { add_header Cache-Control '
            '"max-age=2"; }', **kw)


class TwoWorkers(DaemonFixture):
    """nginx with two workers forked by its master (which never accepts):
    a head one worker kept answers the revalidations the other reads."""

    @classmethod
    def start_servers(cls):
        cls.server = cls.start(servers.NginxServer(
            docroots.make_docroot(cls.base), validators="off", workers=2,
            shim=True, shim_env=cls.shim_env))
        cls.fresh("/", "60")

    def test_workers_share_what_is_kept(self):
        c = Conn(self.server.port)
        tag = c.request("GET", "/index.html", HOST).first("ETag")
        c.close()
        self.wait_current("/index.html", tag)
        with open(os.path.join(self.server.tmp, "access.log")) as f:
            n = len(f.read().splitlines())
        # New connections land on either worker (nginx's accept_mutex is
        # off): a worker that did not keep the head would substitute, and
        # its 304 would carry no Age.
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.server.port),
                                         timeout=5)
            s.sendall(request_bytes("GET", "/index.html", HOST,
                                    [("If-None-Match", tag)]))
            r = parse_responses(s.recv(65536), ["GET"])[0][0]
            s.close()
            self.assert_304_of(r, tag)
        with open(os.path.join(self.server.tmp, "access.log")) as f:
            self.assertEqual(len(f.read().splitlines()), n)
        workers = [p for p in servers.tree_pids(self.server.proc.pid)
                   if p != self.server.proc.pid]
        self.assertEqual(len(workers), 2, workers)


class CgiMixin:
    """A CGI that counts its runs, on a server that runs it its way."""

    def cgi_path(self, name):
        return os.path.join(self.docroot, "cgi-bin", name)

    def runs(self, name):
        try:
            with open(self.cgi_path(name) + ".count") as f:
                return int(f.read())
        except FileNotFoundError:
            return 0

    @classmethod
    def install(cls, names):
        for name in names:
            p = os.path.join(cls.docroot, "cgi-bin", name)
            docroots.write_file(p, COUNT_CGI)
            os.chmod(p, 0o777)
            # the CGI may run as another user (Apache's www-data)
            docroots.write_file(p + ".count", b"0\n")
            os.chmod(p + ".count", 0o666)

    def get(self, path, headers=(), conn=None):
        c = conn or Conn(self.server.port)
        try:
            return c.request("GET", path, HOST, list(headers))
        finally:
            if conn is None:
                c.close()

    def kept_tag(self, name):
        path = "/cgi-bin/" + name
        r = self.get(path)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"same body\n")
        tag = r.first("ETag")
        self.wait_current(path, tag)
        return path, tag

    def test_cgi_does_not_run(self):
        path, tag = self.kept_tag("a.sh")
        n = self.runs("a.sh")
        c = Conn(self.server.port)
        try:
            for _ in range(3):
                r = self.get(path, [("If-None-Match", tag)], conn=c)
                self.assert_304_of(r, tag)
            self.assertEqual(self.runs("a.sh"), n)
            # keep-alive after it: the next request on that connection is
            # the server's (busybox's child kept waiting for it)
            r = self.get(path, [("Cache-Control", "max-age=0"),
                                ("If-None-Match", tag)], conn=c)
            self.assertEqual(r.status, 304)
            self.assertIsNone(r.first("Age"))
            self.assertEqual(self.runs("a.sh"), n + 1)
        finally:
            c.close()
        self.assert_no_errors()

    def test_purge_during_a_run(self):
        path, tag = self.kept_tag("b.sh")
        n = self.runs("b.sh")
        for _ in range(5):
            self.assert_304_of(self.get(path, [("If-None-Match", tag)]), tag)
        self.assertEqual(self.runs("b.sh"), n)
        self.ctl("purge", "http://%s%s" % (HOST, path))
        t0 = time.monotonic()
        while self.runs("b.sh") == n:
            self.assertLess(time.monotonic() - t0, 3.0, "still accelerated")
            self.assertEqual(self.get(path, [("If-None-Match", tag)]).status,
                             304)
            time.sleep(0.01)
        took = time.monotonic() - t0
        sys.stderr.write("%s: purge ended acceleration after %.0f ms\n" %
                         (type(self).__name__, took * 1000))
        # notmodd publishes every 50 ms, a shim re-reads every 50 ms.
        self.assertLess(took, 0.5)


class BusyboxCgi(CgiMixin, DaemonFixture):
    @classmethod
    def start_servers(cls):
        cls.docroot = docroots.make_docroot(cls.base, cgi=True)
        cls.install(["a.sh", "b.sh"])
        cls.server = cls.start(servers.BusyboxServer(
            cls.docroot, shim=True, shim_env=cls.shim_env))
        cls.fresh("/cgi-bin", "60")


@unittest.skipUnless(servers.have("apache2"), "apache2 not installed")
class ApacheCgid(CgiMixin, DaemonFixture):
    @classmethod
    def start_servers(cls):
        cls.docroot = compat_servers.make_docroot(cls.base)
        cls.install(["a.sh", "b.sh"])
        cls.server = cls.start(compat_servers.ApacheServer(
            cls.docroot, dynamic="cgid", shim=True, shim_env=cls.shim_env))
        cls.fresh("/cgi-bin", "60")


class Fidelity(DaemonFixture):
    """What is not accelerated is the bare server's bytes (Date aside, and
    the shim's tag line), on a route with freshness."""

    @classmethod
    def start_servers(cls):
        docroot = nginx_docroot(cls.base)
        cls.bare = cls.start(servers.NginxServer(docroot, validators="off"))
        cls.server = cls.start(servers.NginxServer(
            docroot, validators="off", shim=True, shim_env=cls.shim_env))
        cls.fresh("/", "60")

    def test_bytes_as_the_bare_server(self):
        path = "/r/f.txt"
        c = Conn(self.server.port)
        tag = c.request("GET", path, HOST).first("ETag")
        c.close()
        self.wait_current(path, tag)
        reqs = [req("GET", path), req("HEAD", path),
                req("GET", path, [("If-None-Match", '"no"')]),
                req("GET", path, [("Range", "bytes=2-5")]),
                req("GET", "/missing", [("If-None-Match", tag)]),
                req("POST", path, [("Content-Length", "0")])]
        for pipelined in (False, True):
            want = exchange(self.bare.port, reqs, pipelined=pipelined)
            got = exchange(self.server.port, reqs, pipelined=pipelined)
            self.assertIsNone(got.error, got)
            self.assertEqual(len(got.responses), len(want.responses))
            for w, g in zip(want.responses, got.responses):
                # the shim's validators: its tag, and the store's date for
                # it once notmodd has dated it
                head = re.sub(rb"Last-Modified: [^\r\n]*\r\n", b"",
                              normalize_head(g.head_raw).replace(
                                  b"ETag: %s\r\n" % tag.encode(), b""))
                self.assertEqual(head, normalize_head(w.head_raw))
                self.assertEqual(g.body_raw, w.body_raw)


class Counted(DaemonFixture):
    """notmodd counts accelerated 304s, and credits them with the route's
    average server time."""

    @classmethod
    def start_servers(cls):
        cls.docroot = docroots.make_docroot(cls.base, cgi=True)
        CgiMixin.install.__func__(cls, ["c.sh"])
        cls.server = cls.start(servers.BusyboxServer(
            cls.docroot, shim=True, shim_env=cls.shim_env))
        cls.fresh("/cgi-bin", "60")

    def test_stats(self):
        path = "/cgi-bin/c.sh"
        c = Conn(self.server.port)
        tag = c.request("GET", path, HOST).first("ETag")
        c.close()
        self.wait_current(path, tag)
        before = self.daemon.stats()
        for _ in range(4):
            c = Conn(self.server.port)
            self.assertEqual(c.request("GET", path, HOST, [
                ("If-None-Match", tag)]).status, 304)
            c.close()

        def counted():
            s = self.daemon.stats()
            return s["hits_accelerated"] - before["hits_accelerated"] == 4
        try:
            wait_for(counted, timeout=5, what="4 accelerated 304s counted")
        except AssertionError:
            print(before, self.daemon.stats())
            raise
        s = self.daemon.stats()
        self.assertGreater(s["server_time_avoided_us"],
                           before["server_time_avoided_us"])
        self.assertGreater(s["bytes_saved"], before["bytes_saved"])
        out = self.ctl("stats")
        self.assertIn("accelerated", out)


if __name__ == "__main__":
    unittest.main()
