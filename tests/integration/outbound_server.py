"""A server for test_shim_outbound.py that makes an outbound connection per
request, as Apache does to php-fpm or to a backend: for each request it
connects to 127.0.0.1:UPSTREAM, sends a request, reads the reply until the
upstream closes, and answers its client with a 200 whose body is that
reply, and closes. One connection at a time.
Usage: outbound_server.py PORT UPSTREAM"""

import socket
import sys


def fetch(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /backend HTTP/1.0\r\n\r\n")
    out = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        out += data
    s.close()
    return out


def main():
    port, upstream = int(sys.argv[1]), int(sys.argv[2])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    while True:
        conn, _ = ls.accept()
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    break
                buf += data
            if buf:
                body = fetch(upstream)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain"
                             b"\r\nContent-Length: %d\r\nConnection: close"
                             b"\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        conn.close()


main()
