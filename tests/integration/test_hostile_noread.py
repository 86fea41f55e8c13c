"""A client that never reads: 20 connections at once pipeline many requests
for a 256 KiB file and read nothing for 2 s, so nginx's socket send buffers
fill up and its writev/sendfile calls return EAGAIN or write partially
while the shim owes the client the rest of a 304 or of a tagged head.  Then every byte is read: each connection must carry exactly one
correctly framed response per request, in order, with the right status
(the shim's 304 for a revalidation it answers, nginx's own 304 for its own
tag, a 200 with the file's exact bytes otherwise) and nothing after the last
one.

Vehicles: nginx validators "noims" (the shim answers If-Modified-Since) and
"off" (the shim answers its own nm- tag), both with 2 workers."""

import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest

import docroots
from docroots import T0
from servers import NginxServer
from wire import FramingError, http_date, parse_responses, raw_session

CONNS = 20
PER_CONN = 24
SMALL_RCVBUF = 4096


def req(path, headers=(), close=False):
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1"]
    lines += ["%s: %s" % kv for kv in headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class NeverReadingClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-noread-")
        cls.docroot = docroots.make_docroot(cls.base)
        with open(os.path.join(cls.docroot, "big.bin"), "rb") as f:
            cls.big = f.read()
        with open(os.path.join(cls.docroot, "s.txt"), "rb") as f:
            cls.small = f.read()
        cls.servers = []
        try:
            for v in ("noims", "off"):
                cls.servers.append(NginxServer(
                    cls.docroot, validators=v, workers=2, shim=True,
                    tag="-noread").start())
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.cleanup()
        shutil.rmtree(cls.base, ignore_errors=True)

    def plan(self, srv):
        """[(request bytes, expected status, expected body)] for one
        connection of srv, mixing revalidations and plain GETs."""
        first = raw_session(srv.port, req("/big.bin", close=True), timeout=10)
        r = parse_responses(first.raw, ["GET"])[0][0]
        tag = r.first("ETag")
        self.assertIsNotNone(tag, first)
        if srv.validators == "off" and not srv.shim_active:
            self.skipTest("needs the shim's nm- tag")
        items = []
        for i in range(PER_CONN):
            kind = i % 4
            if srv.validators == "noims":
                if kind == 0:    # the shim answers IMS (nginx ignores it)
                    items.append((req("/big.bin", [(
                        "If-Modified-Since", http_date(T0 + 10))]), 304, b""))
                elif kind == 1:  # nginx's own tag: nginx's own 304
                    items.append((req("/big.bin", [("If-None-Match", tag)]),
                                  304, b""))
                elif kind == 2:
                    items.append((req("/big.bin"), 200, self.big))
                else:            # a stale IMS: the full 200
                    items.append((req("/s.txt", [(
                        "If-Modified-Since", http_date(T0 - 10))]), 200,
                        self.small))
            else:
                if kind in (0, 1):
                    items.append((req("/big.bin", [("If-None-Match", tag)]),
                                  304, b""))
                elif kind == 2:
                    items.append((req("/big.bin"), 200, self.big))
                else:
                    items.append((req("/big.bin", [(
                        "If-None-Match", '"nm-AAAAAAAAAAAAAAAAAAAAAA"')]),
                        200, self.big))
        last, st, body = items[-1]
        items[-1] = (last[:-2] + b"Connection: close\r\n\r\n", st, body)
        return items, tag

    def one_connection(self, srv, items, small_buf, results, key):
        s = socket.socket()
        try:
            if small_buf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                             SMALL_RCVBUF)
            s.settimeout(30)
            s.connect(("127.0.0.1", srv.port))
            s.sendall(b"".join(data for data, _, _ in items))
            time.sleep(2.0)  # read nothing: the server's writes back up
            buf = bytearray()
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                buf.extend(b)
            results[key] = bytes(buf)
        except OSError as e:
            results[key] = e
        finally:
            s.close()

    def test_pipelined_never_read_then_read_all(self):
        plans = {srv.validators: self.plan(srv) for srv in self.servers}
        results, threads = {}, []
        for srv in self.servers:
            items, _ = plans[srv.validators]
            for c in range(CONNS):
                t = threading.Thread(target=self.one_connection, args=(
                    srv, items, c % 2 == 1, results, (srv.validators, c)))
                threads.append(t)
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - t0
        subst = 0
        for srv in self.servers:
            items, tag = plans[srv.validators]
            want_hash = {200: None}
            for c in range(CONNS):
                with self.subTest(server=srv.name, conn=c):
                    raw = results.get((srv.validators, c))
                    self.assertIsInstance(raw, bytes, raw)
                    try:
                        rs, left = parse_responses(raw, ["GET"] * len(items))
                    except FramingError as e:
                        self.fail("framing: %s (%d bytes)" % (e, len(raw)))
                    self.assertEqual(len(rs), len(items),
                                     "%d responses for %d requests" % (
                                         len(rs), len(items)))
                    self.assertEqual(left, b"")
                    for i, (r, (_, st, body)) in enumerate(zip(rs, items)):
                        self.assertEqual(r.status, st, "response %d: %r" % (
                            i, r.head_raw))
                        if st == 304:
                            self.assertEqual(r.body_raw, b"")
                            self.assertIsNone(r.first("Content-Length"))
                            self.assertEqual(r.first("ETag"), tag)
                            subst += 1
                        else:
                            self.assertEqual(
                                hashlib.sha256(r.body).digest(),
                                hashlib.sha256(body).digest(),
                                "response %d: body differs" % i)
                            if srv.validators == "off" and body is self.big:
                                self.assertEqual(r.first("ETag"), tag)
            self.assertIsNone(srv.proc.poll())
        print("\nnever-reading clients: %d connections x %d requests on 2 "
              "servers in %.1f s, %d 304s" % (CONNS, PER_CONN, elapsed,
                                              subst))
        # the servers still answer
        for srv in self.servers:
            r = parse_responses(raw_session(srv.port, req(
                "/s.txt", close=True)).raw, ["GET"])[0][0]
            self.assertEqual(r.body, self.small)

    def test_zz_logs_clean(self):
        for srv in self.servers:
            with self.subTest(server=srv.name):
                self.assertEqual(srv.error_lines(), [], srv.logs()[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
