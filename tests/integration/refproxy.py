"""A reference model of libnotmod.so as a TCP proxy, for testing the tests.

NOT part of the product.  With NOTMOD_TEST_REFPROXY=1 servers.Server puts this
proxy in front of a bare server as the "shimmed" instance, so that every
assertion that needs a substitution can be seen to pass, which shows the
checks are satisfiable and not vacuous.  It implements model.py's decision
(expected_action, 304 construction, nm- tag over the de-chunked body, the
tag added before the empty line) with full buffering: no hold deadline, no
hold limit beyond NOTMOD_HOLD_MAX, HEAD never tagged.

usage: refproxy.py LISTEN_PORT UPSTREAM_PORT
"""

import base64
import collections
import hashlib
import socket
import sys
import threading

import wire
from model import DROPPED_IN_304, NOT_MODIFIED, expected_action
from wire import FramingError, insert_line_before_end, parse_one

HOLD_MAX = 8 * 1024 * 1024


def nm_tag(body):
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return '"nm-%s"' % base64.urlsafe_b64encode(digest).decode()[:22]


class ReqParser:
    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        """Yield wire.Request objects for complete requests."""
        self.buf += data
        out = []
        while True:
            end = wire.find_head_end(self.buf)
            if end < 0:
                break
            lines = bytes(self.buf[:end]).decode("latin-1").splitlines()
            method, target, version = (lines[0].split(" ") + ["", ""])[:3]
            headers = []
            for l in lines[1:]:
                if l:
                    k, _, v = l.partition(":")
                    headers.append((k.strip(), v.strip()))
            n = 0
            for k, v in headers:
                if k.lower() == "content-length":
                    n = int(v)
            if len(self.buf) < end + n:
                break
            del self.buf[:end + n]
            out.append(wire.Request(method, target, version, headers,
                                       host=False))
        return out


def build_304(resp, extra_line):
    lines = [resp.version.encode() + b" 304 Not Modified"]
    src = list(resp.header_lines) + ([extra_line] if extra_line else [])
    for l in src:
        name = l.partition(b":")[0].strip().lower().decode("latin-1")
        if name not in DROPPED_IN_304:
            lines.append(l)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def handle(client, upstream_port):
    up = socket.create_connection(("127.0.0.1", upstream_port))
    pending = collections.deque()
    lock = threading.Lock()

    def c2u():
        rp = ReqParser()
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                with lock:
                    pending.extend(rp.feed(data))
                up.sendall(data)
        except OSError:
            pass
        try:
            up.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=c2u, daemon=True)
    t.start()
    buf = bytearray()
    passthrough = False
    eof = False
    try:
        while True:
            if not passthrough:
                while buf:
                    with lock:
                        req = pending[0] if pending else None
                    if req is None:
                        passthrough = True
                        break
                    try:
                        r, used = parse_one(bytes(buf), req.method, eof)
                    except FramingError:
                        passthrough = True
                        break
                    if r is None:
                        break
                    del buf[:used]
                    if 100 <= r.status < 200:
                        client.sendall(r.raw)
                        continue
                    with lock:
                        pending.popleft()
                    out, close = rewrite(req, r)
                    client.sendall(out)
                    if close:
                        return
            if passthrough and buf:
                client.sendall(bytes(buf))
                buf.clear()
            if eof:
                return
            data = up.recv(1 << 20)
            if not data:
                eof = True
            buf += data
    except OSError:
        pass
    finally:
        for s in (client, up):
            try:
                # close() alone does not end a socket another thread is
                # blocked reading
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


def rewrite(req, r):
    """(bytes to send, close after?) for one complete response."""
    extra = None
    if (req.method == "GET" and r.status == 200 and r.first("ETag") is None
            and len(r.body) <= HOLD_MAX):
        extra = ("ETag: " + nm_tag(r.body)).encode()
        r.head_raw = insert_line_before_end(r.head_raw, extra)
        r.header_lines.append(extra)
        r.headers.append(("ETag", nm_tag(r.body)))
    if expected_action(req, r, synth="off") == NOT_MODIFIED:
        return build_304(r, None), r.framing == "close"
    return r.raw, False


def main():
    listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(128)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c, upstream_port),
                         daemon=True).start()


if __name__ == "__main__":
    main()
