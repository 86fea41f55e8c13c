"""When the server reads from a connection whose response the shim holds:
a read that could block (or a poll for input) is the server waiting on its
client, so what is held goes out at once; a non-blocking read that finds
nothing is not (Apache's look for a pipelined request between the chunks
of a streamed body), so the hold goes on and the 200 gets its tag.

The server is readwait_server.py (python, blocking sockets, recv and
select.poll), under the shim with a hold deadline of 5 s, so that only the
read rule, never the deadline, can release the first half in time."""

import os
import socket
import sys
import time
import unittest

import model
import servers
import wire

HERE = os.path.dirname(os.path.abspath(__file__))
HOLD_MS = 5000
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 10\r\n\r\n")


class ReadWaitServer(servers.Server):
    name = "readwait"

    def command(self):
        return [sys.executable, os.path.join(HERE, "readwait_server.py"),
                str(self.port)]


def get(port, mode, send_go_after=None):
    """GET /mode; returns (bytes before 'go' was sent, all bytes). With
    send_go_after, the client waits that long for the first half, then
    sends the 'go' line the server may be waiting for (for waitall, its
    first byte goes 0.1 s after the request, the rest then)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % mode.encode())
    first = b""
    go = b"go\r\n"
    if mode == "waitall":
        time.sleep(0.1)
        s.sendall(go[:1])
        go = go[1:]
    if send_go_after is not None:
        s.settimeout(send_go_after)
        try:
            while not first.endswith(b"01234"):
                data = s.recv(4096)
                if not data:
                    break
                first += data
        except socket.timeout:
            pass
        s.settimeout(10)
        s.sendall(go)
    rest = first
    while not rest.endswith(b"56789"):
        data = s.recv(4096)
        if not data:
            break
        rest += data
    s.close()
    return first, rest


class ExitDelivers(unittest.TestCase):
    """A process that exit()s with a response held (close-delimited, its
    socket closed by the kernel, unseen): the bytes still go out."""

    def test_exit_delivers_a_held_response(self):
        srv = ReadWaitServer(HERE, shim=True,
                             shim_env={"NOTMOD_HOLD_MS": str(HOLD_MS)})
        try:
            srv.start()
            ex = wire.exchange(srv.port, [wire.Request(
                "GET", "/exit", "HTTP/1.0")], timeout=4)
            self.assertTrue(ex.eof, ex)
            self.assertEqual(ex.raw, b"HTTP/1.0 200 OK\r\nContent-Type: "
                             b"text/plain\r\n\r\nbye\n")
        finally:
            srv.cleanup()


class ReadWait(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ReadWaitServer(HERE, shim=True,
                                 shim_env={"NOTMOD_HOLD_MS": str(HOLD_MS)})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def check_released_before_wait(self, mode):
        t0 = time.monotonic()
        first, whole = get(self.srv.port, mode, send_go_after=2.0)
        self.assertTrue(first.endswith(b"01234"), "%s: the first half was "
                        "held while the server waited: %r" % (mode, first))
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(whole, HEAD + b"0123456789",
                         "%s: the server's bytes, unchanged" % mode)

    def test_blocking_read_releases_the_hold(self):
        self.check_released_before_wait("blocking")

    def test_waitall_read_releases_the_hold(self):
        self.check_released_before_wait("waitall")

    def test_poll_for_input_releases_the_hold(self):
        self.check_released_before_wait("poll")

    def test_nonblocking_read_finding_nothing_keeps_the_hold(self):
        _, whole = get(self.srv.port, "eagain")
        head, _, body = whole.partition(b"\r\n\r\n")
        self.assertEqual(body, b"0123456789")
        lines = head.split(b"\r\n")
        tags = [l for l in lines if model.SYNTH_ETAG_RE.match(l)]
        self.assertEqual(len(tags), 1, "no tag added: %r" % whole)
        # the shim dates a 200 it rewrites when the server did not
        dates = [l for l in lines if l.startswith(b"Date: ")]
        self.assertEqual(len(dates), 1, whole)
        self.assertEqual([l for l in lines if l not in tags + dates],
                         HEAD.rstrip(b"\r\n").split(b"\r\n"))

if __name__ == "__main__":
    unittest.main(verbosity=2)
