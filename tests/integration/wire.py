"""The client side of the tests, on the wire: HTTP dates, a request writer,
a response framer that keeps every byte (Content-Length, chunked,
close-delimited, HEAD/1xx/204/304), one connection's exchange (serial,
pipelined or sent in pieces), a raw session for hostile traffic, a
keep-alive client, and the Date normalization that makes bare and shimmed
bytes comparable. Python 3 stdlib only; no knowledge of the shim."""

import calendar
import email.utils
import re
import select
import socket
import threading
import time


# --------------------------------------------------------------------------
# dates

def http_date(t):
    """IMF-fixdate."""
    return email.utils.formatdate(t, usegmt=True)


def rfc850_date(t):
    return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(t))


def asctime_date(t):
    tm = time.gmtime(t)
    return time.strftime("%a %b ", tm) + "%2d" % tm.tm_mday + \
        time.strftime(" %H:%M:%S %Y", tm)


def parse_http_date(s):
    """IMF-fixdate, RFC 850 or asctime -> unix time, or None if invalid."""
    s = s.strip()
    for fmt in ("%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                "%a %b %d %H:%M:%S %Y"):
        try:
            tm = time.strptime(re.sub(r"\s+", " ", s) if "%a %b" in fmt else s,
                               fmt)
        except ValueError:
            continue
        t = calendar.timegm(tm)
        if fmt.startswith("%A") and t > time.time() + 50 * 365 * 86400:
            t -= 100 * 365.2425 * 86400  # RFC 9110 §5.6.7 two-digit years
        return int(t)
    return None


# --------------------------------------------------------------------------
# raw client and response framer

class Request:
    def __init__(self, method="GET", target="/", version="HTTP/1.1",
                 headers=(), body=b"", host=True):
        self.method = method
        self.target = target
        self.version = version
        self.headers = list(headers)
        self.body = body
        self.host = host

    def header(self, name):
        """All values of a field, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def has(self, name):
        return bool(self.header(name))

    def wants_close(self):
        conn = ",".join(self.header("Connection")).lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" not in conn
        return "close" in conn

    def to_bytes(self):
        lines = ["%s %s %s" % (self.method, self.target, self.version)]
        if self.host:
            lines.append("Host: 127.0.0.1")
        for k, v in self.headers:
            lines.append("%s: %s" % (k, v))
        if self.body and not any(k.lower() == "content-length"
                                 for k, _ in self.headers):
            lines.append("Content-Length: %d" % len(self.body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def __repr__(self):
        return "%s %s %s %r" % (self.method, self.target, self.version,
                                self.headers)


class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.status_line = b""
        self.header_lines = []   # raw field lines without terminator, in order
        self.headers = []        # (name, value) str pairs, in order
        self.head_raw = b""      # status line .. empty line, exact bytes
        self.body_raw = b""      # body bytes as framed on the wire
        self.body = b""          # de-chunked body
        self.framing = ""        # length | chunked | close | none
        self.complete = False

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def first(self, name):
        h = self.header(name)
        return h[0] if h else None

    @property
    def raw(self):
        return self.head_raw + self.body_raw

    def __repr__(self):
        return "<%d %s %s body=%d>" % (self.status, self.framing,
                                       self.headers, len(self.body))


class FramingError(Exception):
    pass


def find_head_end(buf, start=0):
    """Index just past the empty line ending a head (CRLF or bare LF), or -1."""
    m = re.compile(rb"\n\r?\n").search(bytes(buf), start)
    return m.end() if m else -1


def parse_one(buf, method, eof):
    """Parse one response at the start of buf.  Returns (Response, consumed)
    or (None, 0) when more bytes are needed.  1xx interim responses are
    returned as their own Response (the caller keeps the method)."""
    end = find_head_end(buf, 0)
    if end < 0:
        if eof and buf:
            raise FramingError("truncated head: %r" % buf[:200])
        return None, 0
    r = Response()
    r.head_raw = bytes(buf[:end])
    lines = re.split(rb"\r?\n", r.head_raw)
    r.status_line = lines[0]
    m = re.match(rb"^(HTTP/\d\.\d) (\d\d\d)(?: (.*))?$", r.status_line)
    if not m:
        raise FramingError("bad status line: %r" % r.status_line)
    r.version = m.group(1).decode()
    r.status = int(m.group(2))
    r.reason = (m.group(3) or b"").decode("latin-1")
    for line in lines[1:]:
        if not line:
            continue
        r.header_lines.append(line)
        k, _, v = line.partition(b":")
        r.headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    rest = buf[end:]
    te = ",".join(r.header("Transfer-Encoding")).lower()
    cl = r.header("Content-Length")
    if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
        r.framing = "none"
        r.complete = True
        return r, end
    if "chunked" in te:
        r.framing = "chunked"
        pos, body = 0, bytearray()
        while True:
            nl = rest.find(b"\n", pos)
            if nl < 0:
                if eof:
                    raise FramingError("truncated chunked body")
                return None, 0
            size_s = rest[pos:nl].split(b";")[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise FramingError("bad chunk size %r" % rest[pos:nl])
            pos = nl + 1
            if size == 0:
                # trailers up to an empty line
                while True:
                    nl = rest.find(b"\n", pos)
                    if nl < 0:
                        if eof:
                            raise FramingError("truncated trailers")
                        return None, 0
                    line = rest[pos:nl].rstrip(b"\r")
                    pos = nl + 1
                    if not line:
                        break
                break
            if len(rest) < pos + size + 1:
                if eof:
                    raise FramingError("truncated chunk")
                return None, 0
            body += rest[pos:pos + size]
            pos += size
            if rest[pos:pos + 2] == b"\r\n":
                pos += 2
            elif rest[pos:pos + 1] == b"\n":
                pos += 1
            elif len(rest) < pos + 2 and not eof:
                return None, 0
            else:
                raise FramingError("chunk not followed by CRLF")
        r.body_raw = bytes(rest[:pos])
        r.body = bytes(body)
        r.complete = True
        return r, end + pos
    if cl:
        n = int(cl[0].strip())
        if len(rest) < n:
            if eof:
                raise FramingError("truncated body: %d of %d" % (len(rest), n))
            return None, 0
        r.framing = "length"
        r.body_raw = r.body = bytes(rest[:n])
        r.complete = True
        return r, end + n
    r.framing = "close"
    if not eof:
        return None, 0
    r.body_raw = r.body = bytes(rest)
    r.complete = True
    return r, len(buf)


def parse_responses(buf, methods, eof=True):
    """Frame all responses in buf for the request methods in order.
    Returns (responses, leftover bytes)."""
    out, pos, mi = [], 0, 0
    while pos < len(buf):
        method = methods[mi] if mi < len(methods) else "GET"
        r, used = parse_one(buf[pos:], method, eof)
        if r is None:
            break
        out.append(r)
        pos += used
        if not (100 <= r.status < 200 and r.status != 101):
            mi += 1
        if mi >= len(methods):
            break
    return out, bytes(buf[pos:])


class Exchange:
    """What one connection saw."""

    def __init__(self):
        self.raw = b""
        self.responses = []
        self.leftover = b""
        self.eof = False
        self.error = None
        self.timings = []   # (seconds since send, bytes so far) per recv

    def final(self):
        return [r for r in self.responses
                if not (100 <= r.status < 200 and r.status != 101)]

    def __repr__(self):
        return "<Exchange %d responses eof=%s leftover=%d error=%s>" % (
            len(self.responses), self.eof, len(self.leftover), self.error)


def drive_requests(ex, requests, pipelined, send, read_until, timeout,
                   linger, send_errors=(BrokenPipeError, ConnectionResetError)):
    """The client's side of one connection, whatever carries it: the
    requests in one send (pipelined) or one at a time, each waiting for its
    final response; then the close a last `Connection: close` asks for, or
    `linger` seconds of stray bytes. send(bytes) and read_until(count,
    deadline) are the carrier's; errors land in ex.error."""
    if pipelined:
        send(b"".join(r.to_bytes() for r in requests))
        read_until(len(requests), time.monotonic() + timeout)
    else:
        for i, req in enumerate(requests):
            if ex.eof:
                break
            try:
                send(req.to_bytes())
            except send_errors:
                ex.error = "send failed on request %d" % i
                break
            read_until(i + 1, time.monotonic() + timeout)
            if ex.error:
                break
    if not ex.error and not ex.eof:
        if requests and requests[-1].wants_close():
            read_until(None, time.monotonic() + timeout)
            if ex.error and ex.error.startswith("timeout"):
                ex.error = "server did not close after Connection: close"
        else:
            read_until(None, time.monotonic() + linger)
            if ex.error and ex.error.startswith("timeout"):
                ex.error = None


def exchange(port, requests, pipelined=False, split=None, split_delay=0.02,
             timeout=5.0, linger=0.05):
    """Run requests on one TCP connection.

    pipelined: send all request bytes at once (or split), then read.
    split: None, or a list of piece sizes; each request's bytes (or the
    pipelined batch) are sent in pieces of these sizes (the last size repeats),
    with split_delay seconds between pieces.
    Reads until every request has a final response or the server closes.
    After the last response, waits `linger` seconds (or until EOF when the
    last request asked to close) for stray bytes, which land in leftover.
    """
    ex = Exchange()
    methods = [r.method for r in requests]
    buf = bytearray()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()

    def send(data):
        if not split:
            s.sendall(data)
            return
        pos, i = 0, 0
        while pos < len(data):
            n = split[min(i, len(split) - 1)]
            s.sendall(data[pos:pos + n])
            pos += n
            i += 1
            if pos < len(data):
                time.sleep(split_delay)

    def n_final():
        rs, _ = parse_responses(bytes(buf), methods, eof=False)
        return len([r for r in rs
                    if not (100 <= r.status < 200 and r.status != 101)])

    def read_until(count, deadline):
        while not ex.eof:
            if count is not None and n_final() >= count:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                ex.error = "timeout waiting for response %s" % count
                return
            r, _, _ = select.select([s], [], [], left)
            if not r:
                continue
            try:
                data = s.recv(1 << 20)
            except ConnectionResetError:
                ex.error = "connection reset"
                ex.eof = True
                return
            if not data:
                ex.eof = True
                return
            buf.extend(data)
            ex.timings.append((time.monotonic() - t0, len(buf)))

    try:
        drive_requests(ex, requests, pipelined, send, read_until, timeout,
                       linger)
    finally:
        s.close()
    ex.raw = bytes(buf)
    try:
        ex.responses, ex.leftover = parse_responses(ex.raw, methods, eof=ex.eof)
    except FramingError as e:
        ex.error = (ex.error or "") + " framing: %s" % e
    return ex


# --------------------------------------------------------------------------
# normalization

DATE_LINE_RE = re.compile(rb"(?im)^(Date:[ \t]*)[^\r\n]*")


def normalize_head(head):
    return DATE_LINE_RE.sub(rb"\1<DATE>", head)


def normalize(ex_or_raw):
    """Bytes of an exchange with every response head's Date value replaced.
    Only header blocks are touched, never bodies."""
    if isinstance(ex_or_raw, Exchange):
        ex = ex_or_raw
        return b"".join(normalize_head(r.head_raw) + r.body_raw
                        for r in ex.responses) + ex.leftover
    return DATE_LINE_RE.sub(rb"\1<DATE>", ex_or_raw)


def insert_line_before_end(head, line):
    """Head bytes with `line` added just before the empty line, using the
    head's own line ending."""
    if head.endswith(b"\r\n\r\n"):
        return head[:-2] + line + b"\r\n\r\n"
    if head.endswith(b"\n\n"):
        return head[:-1] + line + b"\n\n"
    if head.endswith(b"\r\n\n"):
        return head[:-1] + line + b"\n\n"
    raise ValueError("head does not end with an empty line")


# --------------------------------------------------------------------------
# raw sessions (hostile traffic)

class RawSession:
    """What one raw connection saw: every byte read, whether the server
    closed (eof) or reset it, and whether sending failed."""

    def __init__(self):
        self.raw = b""
        self.eof = False
        self.reset = False
        self.send_error = None
        self.timed_out = False

    def __repr__(self):
        return "<RawSession %d bytes eof=%s reset=%s send_error=%s " \
               "timed_out=%s head=%r>" % (len(self.raw), self.eof, self.reset,
                                         self.send_error, self.timed_out,
                                         self.raw[:120])


def raw_session(port, data, pieces=None, piece_delay=0.0, shut_wr=False,
                timeout=5.0):
    """Send `data` on a fresh connection (all at once, or in pieces of
    `pieces` bytes with `piece_delay` seconds between them) while reading
    everything the server sends until it closes or `timeout` seconds pass.
    shut_wr: shutdown(SHUT_WR) after the last byte (a half-closed client).
    Sending happens in a thread so a server that answers and closes early
    cannot block the client."""
    res = RawSession()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def sender():
        try:
            if pieces:
                for i in range(0, len(data), pieces):
                    s.sendall(data[i:i + pieces])
                    if i + pieces < len(data):
                        time.sleep(piece_delay)
            else:
                s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            res.send_error = e.__class__.__name__

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    buf = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                res.timed_out = True
                break
            r, _, _ = select.select([s], [], [], min(left, 0.2))
            if not r:
                continue
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                res.reset = True
                break
            if not chunk:
                res.eof = True
                break
            buf.extend(chunk)
    finally:
        t.join(timeout=timeout)
        s.close()
    res.raw = bytes(buf)
    return res


# --------------------------------------------------------------------------
# a keep-alive client (one request at a time, any Host spelling)

def request_bytes(method, target, host="example.com", headers=(),
                  version="HTTP/1.1"):
    """One request head; host None sends no Host field."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: " + host)
    lines += ["%s: %s" % (k, v) for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Conn:
    """A client connection kept open between requests and reopened when the
    server closed it (busybox closes after every response)."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = bytearray()

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = bytearray()

    def _connect(self):
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port),
                                             timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method, target, host="example.com", headers=()):
        """Sends one request, returns its final Response (raises
        FramingError / OSError on a broken exchange)."""
        data = request_bytes(method, target, host, headers)
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            try:
                self.sock.sendall(data)
                return self._read(method)
            except (ConnectionError, FramingError, EOFError):
                # a kept-alive connection the server closed meanwhile:
                # once more on a fresh one
                self.close()
                if not reused or attempt:
                    raise
        raise AssertionError("unreachable")

    def _read(self, method):
        deadline = time.monotonic() + self.timeout
        while True:
            r, used = parse_one(self.buf, method, eof=False)
            if r is not None and 100 <= r.status < 200:
                del self.buf[:used]
                continue
            if r is not None:
                del self.buf[:used]
                conn = (r.first("Connection") or "").lower()
                if "close" in conn:
                    self.close()
                return r
            if time.monotonic() > deadline:
                raise FramingError("timeout reading a response: %r" %
                                   bytes(self.buf[:200]))
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                if not self.buf:
                    raise EOFError("closed before a response")
                r, used = parse_one(self.buf, method, eof=True)
                self.close()
                if r is None:
                    raise FramingError("closed inside a response")
                return r
            self.buf.extend(chunk)


