"""vfork in a process that follows connections (shim/hooks_proc.c,
shim/process.h). A real vfork is kept while no connection has a response
under way, as when busybox's per-connection child spawns its CGI: the
child's program then writes into a pipe the server relays, and the
response is tagged as before. A program that inherits the connection
itself may answer the request the server read: the server must then stop
following that connection, or it would pair its own next response with
that request (here: a 304 for a request that asked for none).

vfork_server (tests/fixtures) spawns printf with vfork per request, its
stdout a pipe (/pipe) or the connection (/direct), and answers other
targets itself with ETag "x"; it logs whether each vfork shared its
memory with the child."""

import os
import signal
import socket
import tempfile
import unittest

import servers
from model import SYNTH_ETAG_RE


def drive(port, requests, timeout=5.0):
    """Sends each request on one connection, one at a time, and returns
    the raw bytes of each answer (Content-Length framing)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out, buf = [], b""
    for req in requests:
        c.sendall(req)
        while b"\r\n\r\n" not in buf:
            got = c.recv(65536)
            if not got:
                break
            buf += got
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if head.startswith(b"HTTP/1.1 304"):
            length = 0
        while len(rest) < length:
            got = c.recv(65536)
            if not got:
                break
            rest += got
        out.append(head + b"\r\n\r\n" + rest[:length])
        buf = rest[length:]
    c.close()
    return out


def get(target, headers=b""):
    return b"GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (target, headers)


class VforkInAFollowingProcess(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nm-vfork-")
        self.port = servers.free_port()
        env = servers.clean_env()
        if not servers.NO_SHIM:
            env["LD_PRELOAD"] = servers.shim_preload()
        env["NOTMOD_SOCKET"] = os.path.join(self.tmp, "no-daemon.sock")
        env["NOTMOD_SNAPSHOT"] = os.path.join(self.tmp, "no-daemon.snap")
        self.err_path = os.path.join(self.tmp, "stderr.log")
        self.err = open(self.err_path, "w")
        self.server = servers.spawn(
            [servers.built("vfork_server"), str(self.port)], env=env,
            stderr=self.err)
        self.addCleanup(self.stop)
        servers.wait_accepting(self.port, self.server, timeout=5)

    def stop(self):
        servers.stop_group(self.server, signal.SIGKILL)
        self.err.close()

    def spawns(self):
        """What each vfork was, from the server's log (whose other lines
        may only be the sanitizer build's reports, which fail the test)."""
        with open(self.err_path) as f:
            lines = f.read().splitlines()
        self.assertEqual([x for x in lines if not x.startswith("vfork")], [])
        return [line.split()[1] for line in lines]

    def test_piped_program_tagged_and_revalidated_with_a_real_vfork(self):
        first, = drive(self.port, [get(b"/pipe")])
        self.assertTrue(first.endswith(b"made by a program behind a pipe\n"))
        lines = [x for x in first.split(b"\r\n") if SYNTH_ETAG_RE.match(x)]
        self.assertEqual(len(lines), 1, first)
        tag = lines[0].split(b":", 1)[1].strip()
        again, = drive(self.port,
                       [get(b"/pipe", b"If-None-Match: %s\r\n" % tag)])
        self.assertTrue(again.startswith(b"HTTP/1.1 304"), again)
        self.assertEqual(self.spawns(), ["shared", "shared"])

    def test_program_on_the_connection_is_never_followed_after(self):
        # The program answers the first request itself; the server answers
        # the second, ETag "x". Paired with the first request's
        # If-None-Match "x", it would become a 304 no one asked for.
        answers = drive(self.port, [get(b"/direct", b'If-None-Match: "x"\r\n'),
                                    get(b"/own")])
        self.assertEqual(answers[0], b'HTTP/1.1 200 OK\r\nETag: "y"\r\n'
                         b"Content-Length: 7\r\n\r\ndirect\n")
        self.assertEqual(answers[1], b'HTTP/1.1 200 OK\r\nETag: "x"\r\n'
                         b"Content-Length: 4\r\n\r\nown\n")
        self.assertEqual(self.spawns(), ["shared"])

    def test_pipe_then_direct_then_own_on_one_connection(self):
        answers = drive(self.port, [get(b"/pipe"),
                                    get(b"/direct", b'If-None-Match: "x"\r\n'),
                                    get(b"/own")])
        self.assertIn(b"made by a program behind a pipe", answers[0])
        self.assertTrue(answers[1].endswith(b"direct\n"), answers[1])
        self.assertTrue(answers[2].startswith(b"HTTP/1.1 200 OK\r\n"),
                        answers[2])
        self.assertEqual(self.spawns(), ["shared", "shared"])


if __name__ == "__main__":
    unittest.main()
