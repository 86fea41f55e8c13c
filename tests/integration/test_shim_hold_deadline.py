"""A held response leaves by NOTMOD_HOLD_MS even when no flusher thread
was started (shim/flusher.h: a single-threaded process that relays gets
none at first; its hooked waits keep the deadline). busybox's
per-connection child waits for its CGI in poll: the shim slices that poll
and releases the hold itself, and the child never gets a second thread. A
single-threaded relay that waits elsewhere (select, a sleep, a blocking
read of its pipe, waitpid) hands the hold to the thread as it enters that
wait: its first bytes leave by the deadline too."""

import os
import socket
import sys
import tempfile
import textwrap
import time
import unittest

import docroots
from servers import (BusyboxServer, Server, child_pids, stop_group)

HOLD_MS = 150
# what the first part may take beyond the deadline on a loaded 2-core box
MARGIN_S = 0.5
PAUSE_S = 1.5


def get_timed(port, path, timeout=10.0):
    """GET path on a new connection; returns (seconds until the body's
    first part arrived, or None; everything the server sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.monotonic()
    s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" %
              path.encode())
    buf, first = b"", None
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        if first is None and b"first part" in buf:
            first = time.monotonic() - t0
    s.close()
    return first, buf


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


class BusyboxSlowCgi(unittest.TestCase):
    """The relay waits in poll: no thread, the hook keeps the deadline."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-deadline-")
        cls.docroot = docroots.make_docroot(cls.base, cgi=True)
        cgi = os.path.join(cls.docroot, "cgi-bin", "pause.sh")
        with open(cgi, "w") as f:
            f.write("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'"
                    "\nprintf 'first part\\n'\nsleep %s\n"
                    "printf 'second part\\n'\n" % PAUSE_S)
        os.chmod(cgi, 0o755)
        cls.server = BusyboxServer(cls.docroot, shim=True,
                                   shim_env={"NOTMOD_HOLD_MS": str(HOLD_MS)})
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_first_part_by_the_deadline_with_one_thread(self):
        seen = {}

        def watch():
            # the busybox child that relays the CGI, while the CGI sleeps
            time.sleep(PAUSE_S / 2)
            for pid in child_pids(self.server.proc.pid):
                seen[pid] = threads_of(pid)

        import threading
        t = threading.Thread(target=watch)
        t.start()
        first, raw = get_timed(self.server.port, "/cgi-bin/pause.sh")
        t.join()
        self.assertTrue(raw.endswith(b"first part\nsecond part\n"), raw)
        self.assertNotIn(b"ETag", raw)  # released unchanged at the deadline
        self.assertIsNotNone(first)
        self.assertLess(first, HOLD_MS / 1000 + MARGIN_S,
                        "first part held %.2f s" % first)
        self.assertTrue(seen, "no busybox child seen")
        self.assertEqual(set(seen.values()), {1}, seen)

    def test_fast_cgi_still_tagged(self):
        _, raw = get_timed(self.server.port, "/cgi-bin/clen.sh")
        self.assertRegex(raw, rb'\r\nETag: "nm-[A-Za-z0-9_-]{22}"\r\n')


RELAY = textwrap.dedent('''
    """A single-threaded server that relays a child's pipe onto the
    connection, waiting between the two parts in the way argv[2] names."""
    import os, select, socket, sys, time
    port, how = int(sys.argv[1]), sys.argv[2]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    while True:
        c, _ = ls.accept()
        if not c.recv(65536):  # the fixture's probe for a listener
            c.close()
            continue
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, b"first part\\n")
            time.sleep(%(pause)s)
            os.write(w, b"second part\\n")
            os._exit(0)
        os.close(w)
        part = os.read(r, 100)
        c.send(b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n"
               b"Content-Length: 23\\r\\nConnection: close\\r\\n\\r\\n" + part)
        if how == "select":
            select.select([r], [], [])
        elif how == "sleep":
            time.sleep(%(pause)s + 0.2)
        elif how == "waitpid":
            os.waitpid(pid, 0)
        rest = os.read(r, 100)  # "read": a blocking read of the pipe
        c.send(rest)
        if how != "waitpid":
            os.waitpid(pid, 0)
        os.close(r)
        c.close()
''') % {"pause": PAUSE_S}


class RelayServer(Server):
    name = "relay"
    keepalive = False

    def __init__(self, script, how, **kw):
        self.script, self.how = script, how
        super().__init__(os.path.dirname(script), **kw)

    def command(self):
        return [sys.executable, self.script, str(self.port), self.how]


class SingleThreadedRelay(unittest.TestCase):
    """The relay waits where the hooks do not bound the wait: the flusher
    thread takes the hold over as it enters it."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-relay-")
        cls.script = os.path.join(cls.base, "relay.py")
        with open(cls.script, "w") as f:
            f.write(RELAY)

    def check(self, how):
        server = RelayServer(self.script, how, shim=True,
                             shim_env={"NOTMOD_HOLD_MS": str(HOLD_MS)})
        server.start()
        try:
            first, raw = get_timed(server.port, "/x")
        finally:
            stop_group(server.proc)
        self.assertTrue(raw.endswith(b"\r\n\r\nfirst part\nsecond part\n"),
                        raw)
        self.assertIsNotNone(first)
        self.assertLess(first, HOLD_MS / 1000 + MARGIN_S,
                        "%s: first part held %.2f s" % (how, first))

    def test_select(self):
        self.check("select")

    def test_sleep(self):
        self.check("sleep")

    def test_blocking_read(self):
        self.check("read")

    def test_waitpid(self):
        self.check("waitpid")


if __name__ == "__main__":
    unittest.main()
