"""A signal handler that closes fds while the shim is at work on the same
thread (Apache's SIGTERM handler destroys a worker's pool, closing its
sockets, while the worker may be inside shutdown()). close() is
async-signal-safe in libc; under the shim it must stay so, or the worker
waits forever for a lock the code it interrupted holds.

signal_server (tests/fixtures) closes the connection from a SIGALRM handler
that fires every 50 us, while its main loop shuts the same connection down;
its replies are 200s without validators, which the shim tags and reports to
a datagram socket standing in for notmodd. Every request must complete."""

import os
import signal
import socket
import tempfile
import unittest

import servers
from model import SYNTH_ETAG_RE

REQUESTS = 3000


class SignalHandlerClosesDuringShutdown(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nm-signals-")
        self.sock_path = os.path.join(self.tmp, "notmodd.sock")
        # A stand-in for notmodd: reports are sent, so the shim's own
        # shutdown work takes its report lock.
        self.events = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.events.bind(self.sock_path)
        self.events.setblocking(False)
        self.port = servers.free_port()
        env = dict(servers.clean_env(), NOTMOD_SOCKET=self.sock_path)
        if not servers.NO_SHIM:
            env["LD_PRELOAD"] = servers.SHIM_PATH
        self.server = servers.spawn(
            [servers.built("signal_server"), str(self.port)], env=env)
        self.addCleanup(self.stop)
        servers.wait_accepting(self.port, self.server, timeout=5)

    def stop(self):
        servers.stop_group(self.server, signal.SIGKILL)
        self.events.close()

    def drain_events(self):
        try:
            while True:
                self.events.recv(65536)
        except BlockingIOError:
            pass

    def test_every_request_completes_and_is_tagged(self):
        if not os.path.exists(servers.SHIM_PATH):
            self.fail("shim not built: %s" % servers.SHIM_PATH)
        tagged = 0
        for i in range(REQUESTS):
            c = socket.create_connection(("127.0.0.1", self.port), timeout=3)
            c.sendall(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while True:
                    got = c.recv(4096)
                    if not got:
                        break
                    data += got
            except socket.timeout:
                self.fail("request %d: the server hung (%r so far)" %
                          (i, data))
            finally:
                c.close()
            self.drain_events()
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), data)
            self.assertEqual(body, b"hello\n", data)
            tagged += any(SYNTH_ETAG_RE.match(line)
                          for line in head.split(b"\r\n"))
        self.assertIsNone(self.server.poll(), "the server died")
        if not servers.NO_SHIM:
            self.assertEqual(tagged, REQUESTS)


if __name__ == "__main__":
    unittest.main()
