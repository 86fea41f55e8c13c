"""Threads and processes: no cross-talk between connections, no double or
lost bytes.

- python3 http.server (ThreadingHTTPServer: a thread per connection, bodies
  written with send(), held by the shim and tagged): 16 client threads, each
  alternating between two keep-alive connections, 30 requests each over
  three files of its own (distinct contents, 1 KiB to 150 KiB so that holds
  stay in memory or spill to a memfd), alternating plain GETs, revalidations
  with the file's own tag (304) and with another thread's tag (200).
- busybox httpd (a process per connection, a CGI process per request,
  output relayed through a pipe): the same pattern over CGI URLs whose body
  is the query string repeated (up to ~130 KiB).

Every response must carry exactly its own URL's body and tag."""

import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest

import docroots
from servers import BusyboxServer, PythonServer
from wire import FramingError, parse_one

THREADS = 16
PER_THREAD = 30

REPEAT_CGI = b"""#!/bin/sh
# body: "q=<query string>" repeated; the line count is the part after '-'
printf 'Content-Type: text/plain\\r\\n\\r\\n'
yes "q=$QUERY_STRING" | head -n "${QUERY_STRING##*-}"
"""


def req(path, headers=(), close=False):
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1"]
    lines += ["%s: %s" % kv for kv in headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Conn:
    """One keep-alive client connection, reopened when the server closes.
    Like curl and browsers, a request that meets EOF before any byte on a
    reused connection is retried once on a new one (counted in retries)."""

    retries = 0
    lock = threading.Lock()

    def __init__(self, port):
        self.port = port
        self.s = None
        self.used = False

    def ask(self, data):
        try:
            return self._ask(data)
        except StaleConnection:
            with Conn.lock:
                Conn.retries += 1
            return self._ask(data)

    def _ask(self, data):
        if self.s is None:
            self.s = socket.create_connection(("127.0.0.1", self.port),
                                              timeout=20)
            self.used = False
        reused = self.used
        self.used = True
        self.s.sendall(data)
        buf = bytearray()
        while True:
            r, used = parse_one(buf, "GET", eof=False)
            if r is not None:
                if used != len(buf):
                    raise FramingError("%d extra bytes after a response" %
                                       (len(buf) - used))
                break
            chunk = self.s.recv(1 << 20)
            if not chunk:
                self.close()
                if not buf and reused:
                    raise StaleConnection()
                r, used = parse_one(buf, "GET", eof=True)
                if r is None:
                    raise FramingError("closed before a response")
                return r
            buf.extend(chunk)
        if "close" in (r.first("Connection") or "").lower():
            self.close()
        return r

    def close(self):
        if self.s is not None:
            self.s.close()
            self.s = None


class StaleConnection(Exception):
    pass


class ConcurrencyMixin:
    server = None
    base = None

    @classmethod
    def start_server(cls, server):
        """Starts the class's server; cleans up what setUpClass made when
        it cannot start (tearDownClass does not run then)."""
        cls.server = server
        try:
            server.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.cleanup()
        shutil.rmtree(cls.base, ignore_errors=True)

    def urls_of(self, t):
        """Three (url, body) of client thread t."""
        raise NotImplementedError

    def run_clients(self, conns_per_thread):
        Conn.retries = 0
        all_urls = {t: self.urls_of(t) for t in range(THREADS)}
        tags, problems, lock = {}, [], threading.Lock()
        # learn every URL's tag first (one connection each, not concurrent)
        for t, urls in all_urls.items():
            for url, body in urls:
                c = Conn(self.server.port)
                r = c.ask(req(url, close=True))
                c.close()
                self.assertEqual(r.status, 200, url)
                self.assertEqual(r.body, body, url)
                tags[url] = r.first("ETag")
                self.assertRegex(tags[url] or "", r'^"nm-', url)
        self.assertEqual(len(set(tags.values())), len(tags),
                         "distinct bodies got the same tag")
        counts = {"304": 0, "200": 0, "untagged": 0}
        start = threading.Barrier(THREADS)

        def client(t):
            conns = [Conn(self.server.port) for _ in range(conns_per_thread)]
            urls = all_urls[t]
            other = all_urls[(t + 1) % THREADS][0][0]
            start.wait()
            try:
                for j in range(PER_THREAD):
                    url, body = urls[j % 3]
                    kind = (j // 3) % 3
                    hs = [] if kind == 0 else [
                        ("If-None-Match", tags[url] if kind == 1
                         else tags[other])]
                    c = conns[j % len(conns)]
                    try:
                        r = c.ask(req(url, hs))
                    except (OSError, FramingError) as e:
                        with lock:
                            problems.append("t%d #%d %s: %s" % (t, j, url, e))
                        c.close()
                        continue
                    want = 304 if kind == 1 else 200
                    got_tag = r.first("ETag")
                    why, missed = None, False
                    if r.status == 304:
                        if want != 304:
                            why = "304 for a tag that is not this URL's"
                        elif got_tag != tags[url]:
                            why = "304 with ETag %s, not this URL's %s " \
                                  "(cross-talk?)" % (got_tag, tags[url])
                        elif r.body_raw:
                            why = "304 with body bytes"
                    elif r.status == 200:
                        if r.body != body:
                            why = "body %d bytes (sha %s), want %d bytes" % (
                                len(r.body),
                                hashlib.sha256(r.body).hexdigest()[:12],
                                len(body))
                        elif got_tag is None:
                            # released unchanged at the hold deadline (a
                            # slow CGI on a loaded machine): allowed
                            missed = True
                        elif got_tag != tags[url]:
                            why = "ETag %s is not this URL's %s " \
                                  "(cross-talk?)" % (got_tag, tags[url])
                        elif want == 304:
                            why = "tagged 200 although If-None-Match holds " \
                                  "the tag"
                    else:
                        why = "status %d" % r.status
                    with lock:
                        if why:
                            problems.append("t%d #%d %s %s: %s" % (
                                t, j, url, hs, why))
                        elif missed:
                            counts["untagged"] += 1
                        else:
                            counts[str(r.status)] += 1
            finally:
                for c in conns:
                    c.close()

        threads = [threading.Thread(target=client, args=(t,))
                   for t in range(THREADS)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        print("\n%s: %d threads x %d requests in %.1f s: %d 200, %d 304, "
              "%d untagged (hold deadline), %d problems, %d retries on "
              "reused connections" % (
                  self.server.name, THREADS, PER_THREAD,
                  time.monotonic() - t0, counts["200"], counts["304"],
                  counts["untagged"], len(problems), Conn.retries))
        self.assertEqual(problems, [], "\n".join(problems[:10]))
        self.assertEqual(sum(counts.values()), THREADS * PER_THREAD)
        self.assertGreater(counts["304"], THREADS * PER_THREAD // 3 // 2)
        self.assertIsNone(self.server.proc.poll())
        self.assertEqual(self.server.error_lines(), [],
                         self.server.logs()[-3000:])


class ThreadedPythonServer(ConcurrencyMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-threads-")
        cls.docroot = docroots.make_docroot(cls.base)
        os.makedirs(os.path.join(cls.docroot, "t"))
        cls.bodies = {}
        for t in range(THREADS):
            for k, size in enumerate((1024, 40 * 1024, 150 * 1024)):
                url = "/t/f%d-%d.txt" % (t, k)
                line = ("thread %d file %d\n" % (t, k)).encode()
                body = (line * (size // len(line) + 1))[:size]
                docroots.write_file(cls.docroot + url, body, docroots.T0)
                cls.bodies[url] = body
        cls.start_server(PythonServer(cls.docroot, shim=True, tag="-threads"))

    def urls_of(self, t):
        return [(u, self.bodies[u]) for u in
                ("/t/f%d-%d.txt" % (t, k) for k in range(3))]

    def test_threaded_server_interleaved_connections(self):
        self.run_clients(conns_per_thread=2)


class ForkingBusyboxCgi(ConcurrencyMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-forks-")
        cls.docroot = docroots.make_docroot(cls.base, cgi=True)
        path = os.path.join(cls.docroot, "cgi-bin", "repeat.sh")
        docroots.write_file(path, REPEAT_CGI)
        os.chmod(path, 0o755)
        # A generous hold deadline: CGIs are slow when the machine is busy.
        cls.start_server(BusyboxServer(cls.docroot, shim=True, tag="-forks",
                                       shim_env={"NOTMOD_HOLD_MS": "3000"}))

    def urls_of(self, t):
        out = []
        for k, lines in enumerate((50, 3000, 9000)):
            qs = "t%dk%d-%d" % (t, k, lines)
            out.append(("/cgi-bin/repeat.sh?" + qs,
                        ("q=%s\n" % qs).encode() * lines))
        return out

    def test_cgi_per_request_under_concurrency(self):
        self.run_clients(conns_per_thread=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
