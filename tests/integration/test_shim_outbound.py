"""Connections the server makes itself (Apache to php-fpm over TCP, a
proxy to its backend) are its client side: the shim never follows them,
whatever their ports. Followed, the upstream's replies would be parsed as
requests (and the server's requests as responses).

The server is outbound_server.py under the shim, which fetches each
response body from an upstream in this process; the shim's log must not
show it following (and giving up on) the outbound connection, and the
client's 200 still gets its tag."""

import os
import socket
import sys
import threading
import unittest

import model
import servers
import wire

HERE = os.path.dirname(os.path.abspath(__file__))
# What the upstream answers: bytes that are no HTTP request.
UPSTREAM_REPLY = b"HTTP/1.0 200 OK\r\n\r\nbackend body\n"


class Upstream:
    """A backend on an ephemeral port: any request gets UPSTREAM_REPLY,
    then the connection closes."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            with c:
                c.recv(4096)
                c.sendall(UPSTREAM_REPLY)

    def close(self):
        self.ls.close()


class OutboundServer(servers.Server):
    name = "outbound"

    def __init__(self, upstream, **kw):
        self.upstream = upstream
        super().__init__(HERE, **kw)

    def command(self):
        return [sys.executable, os.path.join(HERE, "outbound_server.py"),
                str(self.port), str(self.upstream)]


class Outbound(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = Upstream()
        cls.log = None
        cls.srv = OutboundServer(cls.up.port, shim=True)
        cls.log = os.path.join(cls.srv.tmp, "notmod.log")
        cls.srv.shim_env.update({"NOTMOD_LOG": cls.log,
                                 "NOTMOD_LOG_LEVEL": "debug"})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.up.close()

    def test_outbound_connection_not_followed(self):
        for _ in range(2):
            ex = wire.exchange(self.srv.port, [wire.Request(
                "GET", "/a", "HTTP/1.1", [("Connection", "close")])],
                timeout=5)
            self.assertIsNone(ex.error, ex)
            r = ex.final()[0]
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, UPSTREAM_REPLY)
            self.assertIsNotNone(model.synth_line_of(r), r.head_raw)
        with open(self.log) as f:
            log = f.read()
        self.assertNotIn("passing through", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
