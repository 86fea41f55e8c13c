"""A scripted keep-alive HTTP/1.1 server for test_accel.py: it reads its
requests with the call the test names, blocking (one connection at a time)
or non-blocking under edge-triggered epoll, and logs every request line it
receives (the log is how a test knows a request reached the server).

usage: accel_server.py PORT LOG IO MODE
  IO:   read | recv | readv | recvmsg   (the libc call each read makes)
  MODE: blocking | epoll-et

Every GET or HEAD gets a 200 with the server's own ETag "v1" and a small
body (HEAD: the head only); it never answers 304 itself. The path picks
extra fields: a query "cc=VALUE" adds "Cache-Control: VALUE". Anything else
(a POST...) gets a 204. Requests with a body are not expected.
"""

import os
import select
import socket
import sys
from urllib.parse import parse_qs, unquote, urlsplit

BODY = b"accelerated body\n"


def read_call(sock, io):
    """One read of the kind the test asked for; b'' at EOF."""
    fd = sock.fileno()
    if io == "read":
        return os.read(fd, 65536)
    if io == "readv":
        a, b = bytearray(4096), bytearray(65536)
        n = os.readv(fd, [a, b])
        return bytes((a + b)[:n])
    if io == "recvmsg":
        data, _, _, _ = sock.recvmsg(65536)
        return data
    return sock.recv(65536)


def response(head, log):
    line = head.split(b"\r\n", 1)[0]
    log.write(line.decode("latin-1") + "\n")
    log.flush()
    method, target = line.split(b" ")[:2]
    if method not in (b"GET", b"HEAD"):
        return b"HTTP/1.1 204 No Content\r\n\r\n"
    q = parse_qs(urlsplit(target.decode()).query)
    extra = b"".join(b"Cache-Control: %s\r\n" % unquote(v).encode()
                     for v in q.get("cc", []))
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\nETag: \"v1\"\r\n%s\r\n" %
            (len(BODY), extra))
    return head if method == b"HEAD" else head + BODY


def answer_all(buf, log):
    """Responses to every whole head at the start of buf, and the rest."""
    out = b""
    while b"\r\n\r\n" in buf:
        head, buf = buf.split(b"\r\n\r\n", 1)
        out += response(head, log)
    return out, buf


def serve_blocking(ls, io, log):
    while True:
        c, _ = ls.accept()
        buf = b""
        while True:
            data = read_call(c, io)
            if not data:
                break
            out, buf = answer_all(buf + data, log)
            if out:
                c.sendall(out)
        c.close()


def serve_epoll_et(ls, io, log):
    ls.setblocking(False)
    ep = select.epoll()
    ep.register(ls.fileno(), select.EPOLLIN)
    conns = {}
    while True:
        for fd, ev in ep.poll():
            if fd == ls.fileno():
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    conns[c.fileno()] = [c, b""]
                    ep.register(c.fileno(), select.EPOLLIN | select.EPOLLET)
                continue
            c, buf = conns[fd]
            closed = False
            # Edge-triggered: read until EAGAIN, or no new edge comes.
            while True:
                try:
                    data = read_call(c, io)
                except BlockingIOError:
                    break
                if not data:
                    closed = True
                    break
                buf += data
            out, buf = answer_all(buf, log)
            if out:
                c.setblocking(True)
                c.sendall(out)
                c.setblocking(False)
            conns[fd][1] = buf
            if closed:
                ep.unregister(fd)
                del conns[fd]
                c.close()


def main():
    port, log_path, io, mode = sys.argv[1:5]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(16)
    with open(log_path, "a") as log:
        if mode == "blocking":
            serve_blocking(ls, io, log)
        else:
            serve_epoll_et(ls, io, log)


if __name__ == "__main__":
    main()
