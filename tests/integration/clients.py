"""Clients beside the raw one in wire.py: curl (its own parser and
conditional-request options, as a user's client) and a closed-loop load
generator whose every response is checked."""

import hashlib
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

from wire import FramingError, parse_one


# --------------------------------------------------------------------------
# curl

class CurlResult:
    def __init__(self, rc, heads, body, stderr):
        self.rc = rc
        self.heads = heads      # list of (status, [(name, value)]) per response
        self.body = body
        self.stderr = stderr

    @property
    def status(self):
        return self.heads[-1][0] if self.heads else 0

    def header(self, name, i=-1):
        return [v for k, v in self.heads[i][1] if k.lower() == name.lower()]

    def __repr__(self):
        return "<curl rc=%d %s>" % (self.rc, self.heads)


def curl(args, timeout=20):
    """Run curl -sS with -D/-o to temp files; return a CurlResult."""
    with tempfile.TemporaryDirectory(prefix="nm-curl-") as d:
        hdr, body = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-D", hdr,
               "-o", body] + list(args)
        p = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
        heads = []
        if os.path.exists(hdr):
            with open(hdr, "rb") as f:
                for block in re.split(rb"\r?\n\r?\n", f.read()):
                    lines = block.splitlines()
                    if not lines:
                        continue
                    m = re.match(rb"HTTP/\S+ (\d+)", lines[0])
                    if not m:
                        continue
                    hs = []
                    for l in lines[1:]:
                        k, _, v = l.partition(b":")
                        hs.append((k.decode("latin-1"),
                                   v.strip().decode("latin-1")))
                    heads.append((int(m.group(1)), hs))
        data = b""
        if os.path.exists(body):
            with open(body, "rb") as f:
                data = f.read()
        return CurlResult(p.returncode, heads, data,
                          p.stderr.decode("latin-1"))


# --------------------------------------------------------------------------
# closed-loop load

class LoadGen:
    """Closed-loop load from `threads` client threads, each on its own
    keep-alive connection (reopened when the server closes it).

    plan: list of (name, request bytes, method, check) where check(resp)
    returns None when the response is right, else a description.  Thread i
    starts at plan item i and walks the plan round-robin.  Every response is
    checked; failures (wrong responses, resets, timeouts, framing errors,
    stray bytes) are recorded with the item's name.  Latency is measured
    from the first request byte to the last response byte."""

    def __init__(self, port, plan, threads=8, timeout=5.0, tls=None):
        self.port = port
        self.tls = tls  # an ssl.SSLContext: the requests go inside TLS
        self.plan = list(plan)
        self.n_threads = threads
        self.timeout = timeout
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.latencies = []
        self.failures = []
        self.counts = {}
        self.threads = [threading.Thread(target=self._worker, args=(i,),
                                         daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(self.timeout + 5)
        return self

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.tls.wrap_socket(s) if self.tls is not None else s

    def _roundtrip(self, s, data, method):
        """(response, server closed?) for one request on s."""
        s.sendall(data)
        buf = bytearray()
        while True:
            r, used = parse_one(buf, method, eof=False)
            if r is not None:
                if used != len(buf):
                    raise FramingError("%d stray bytes after the response: "
                                       "%r" % (len(buf) - used,
                                               bytes(buf[used:used + 80])))
                return r, False
            chunk = s.recv(1 << 20)
            if not chunk:
                r, used = parse_one(buf, method, eof=True)
                if r is None:
                    raise FramingError("server closed before a response")
                return r, True
            buf.extend(chunk)

    def _worker(self, idx):
        s = None
        i = idx
        while not self.stop_event.is_set():
            name, data, method, check = self.plan[i % len(self.plan)]
            i += 1
            t0 = time.monotonic()
            try:
                if s is None:
                    s = self._connect()
                r, closed = self._roundtrip(s, data, method)
                problem = check(r)
                if closed or "close" in (r.first("Connection") or "").lower():
                    s.close()
                    s = None
            except (OSError, FramingError) as e:
                problem = "%s: %s" % (e.__class__.__name__, e)
                if s is not None:
                    s.close()
                s = None
            dt = time.monotonic() - t0
            with self.lock:
                self.latencies.append(dt)
                self.counts[name] = self.counts.get(name, 0) + 1
                if problem:
                    self.failures.append("%s: %s" % (name, problem))
        if s is not None:
            s.close()

    def total(self):
        return len(self.latencies)

    def percentile(self, p):
        xs = sorted(self.latencies)
        if not xs:
            return 0.0
        return xs[min(len(xs) - 1, int(len(xs) * p / 100.0))]


def body_check(status, body_sha256=None, etag=None, no_etag=False):
    """A LoadGen check: exact status, body by SHA-256 (or empty for 304),
    the ETag when given, no ETag when no_etag."""
    def check(r):
        if r.status != status:
            return "status %d, expected %d: %r" % (r.status, status,
                                                   r.head_raw[:300])
        if status == 304:
            if r.body_raw or r.first("Content-Length") is not None:
                return "304 with a body or Content-Length: %r" % r.head_raw
        elif body_sha256 is not None and \
                hashlib.sha256(r.body).hexdigest() != body_sha256:
            return "body differs (%d bytes)" % len(r.body)
        if etag is not None and r.first("ETag") != etag:
            return "ETag %r, expected %r" % (r.first("ETag"), etag)
        if no_etag and r.first("ETag") is not None:
            return "unexpected ETag %r" % r.first("ETag")
        return None
    return check
