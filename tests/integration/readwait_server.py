"""A scripted HTTP/1.1 server for test_shim_read_wait.py: one connection at
a time; it answers GET /<mode> with a 200 of Content-Length 10 written in
two halves, and between the halves touches the connection the way <mode>
says:
  blocking  a blocking recv: it waits for the client's "go" line
  eagain    a non-blocking recv that finds nothing (EAGAIN), as Apache
            does between the chunks of a streamed body
  poll      a non-blocking recv (EAGAIN), then poll() for the "go" line
  waitall   after 0.3 s (the client's first "g" has come by then), a
            blocking recv of 4 bytes with MSG_WAITALL: input is there, yet
            the call waits for the client's "o\r\n"
and GET /exit gets a close-delimited HTTP/1.0 200, after which the server
exits (exit(), not _exit) with the socket still open in a dup'ed fd.
Usage: readwait_server.py PORT"""

import os
import select
import socket
import sys
import time

EXIT_RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbye\n"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n"


def serve(conn):
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(4096)
        if not data:
            return
        buf += data
    mode = buf.split(b" ")[1].strip(b"/").decode()
    if mode == "exit":
        conn.sendall(EXIT_RESPONSE)
        os.dup(conn.fileno())  # the kernel closes it at exit, unseen
        sys.exit(0)
    conn.sendall(HEAD + b"01234")
    if mode == "blocking":
        conn.recv(16)
    elif mode == "waitall":
        time.sleep(0.3)
        conn.recv(4, socket.MSG_WAITALL)
    elif mode in ("eagain", "poll"):
        conn.setblocking(False)
        try:
            conn.recv(16)
        except BlockingIOError:
            pass
        if mode == "poll":
            p = select.poll()
            p.register(conn, select.POLLIN)
            p.poll(10000)
            conn.recv(16)
        conn.setblocking(True)
    conn.sendall(b"56789")


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(sys.argv[1])))
    ls.listen(8)
    while True:
        conn, _ = ls.accept()
        try:
            serve(conn)
        except OSError:
            pass
        finally:
            conn.close()


main()
