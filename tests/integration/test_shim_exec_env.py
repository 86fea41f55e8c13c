"""A program exec'd by a process that follows connections, inheriting no
socket, never loads the shim (shim/execenv.h): the shim takes its own
entry out of LD_PRELOAD in the environment the program gets, keeping the
other entries in their order. busybox's CGI (its sh, then what the script
runs) then costs what it costs bare, and its response is still tagged and
revalidated by busybox's child, which relays it. The shim stays whenever
in doubt: a program that inherits a socket (TCP or Unix), a process that
follows nothing yet (a launcher that execs the server), NOTMOD_EXEC=keep.

The programs report what they see: their own /proc/PID/maps and their
LD_PRELOAD. Two harmless libraries (libm by its bare name, libdl by path)
stand before and after the shim in LD_PRELOAD."""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import servers
from servers import BusyboxServer, clean_env, free_port, spawn, stop_group
from wire import Request, exchange

TAG_PREFIX = '"nm-'
LIB_BEFORE = "libm.so.6"
LIB_AFTER = "/lib/x86_64-linux-gnu/libdl.so.2"

# The CGI: what its shell (/proc/$$) and a program it runs (cat) have
# mapped, its LD_PRELOAD, then the content of body.txt beside it.
PROBE_CGI = r"""#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
grep -q libnotmod /proc/$$/maps && echo sh_shim=yes || echo sh_shim=no
grep -q libm.so.6 /proc/$$/maps && echo sh_libm=yes || echo sh_libm=no
cat /proc/self/maps | grep -q libnotmod && echo cat_shim=yes || echo cat_shim=no
echo "preload=${LD_PRELOAD-(unset)}"
cat "$(dirname "$0")/body.txt"
"""

# The same report from any program run by sh -c.
REPORT = ('grep -q libnotmod /proc/$$/maps && echo sh_shim=yes || '
          'echo sh_shim=no; '
          'echo "preload=${LD_PRELOAD-(unset)}"')

# A server that follows its connections (it accepts) and answers each
# request with the report of a program it runs: /plain inherits no socket,
# /env the same with an environment given (execve, not execv), /unix
# inherits one end of a Unix socketpair, /tcp the connection itself; /self
# reports the server's own mapping of the shim.
SPAWNING_SERVER = r"""
import os, socket, subprocess, sys
report = sys.argv[2]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(8)
while True:
    c, _ = ls.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        got = c.recv(4096)
        if not got:
            break
        req += got
    target = req.split(b" ")[1].decode() if b" " in req else "/"
    cmd = ["/bin/sh", "-c", report]
    if target == "/self":
        with open("/proc/self/maps") as f:
            has = any("libnotmod" in line for line in f)
        out = ("server_shim=%s\npreload=%s\n" % (
            "yes" if has else "no",
            os.environ.get("LD_PRELOAD", "(unset)"))).encode()
    elif target == "/unix":
        a, b = socket.socketpair()
        out = subprocess.run(cmd, stdout=subprocess.PIPE,
                             pass_fds=[b.fileno()]).stdout
        a.close(); b.close()
    elif target == "/tcp":
        out = subprocess.run(cmd, stdout=subprocess.PIPE,
                             pass_fds=[c.fileno()]).stdout
    elif target == "/env":
        out = subprocess.run(cmd, stdout=subprocess.PIPE,
                             env=dict(os.environ)).stdout
    else:
        out = subprocess.run(cmd, stdout=subprocess.PIPE).stdout
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n" % len(out) + out)
    c.close()
"""


def report_of(body):
    """The key=value lines of a report."""
    out = {}
    for line in body.decode("latin-1").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def preload_entries(with_shim):
    """LD_PRELOAD's entries: libasan first in the sanitizer build, then
    the two harmless libraries around the shim (when with_shim)."""
    asan = os.environ.get("NOTMOD_TEST_ASAN_PRELOAD")
    entries = [asan] if asan else []
    entries.append(LIB_BEFORE)
    if with_shim:
        entries.append(servers.SHIM_PATH)
    entries.append(LIB_AFTER)
    return entries


FULL = ":".join(preload_entries(True))
OTHERS = ":".join(preload_entries(False))


@unittest.skipIf(servers.NO_SHIM or servers.REFPROXY, "needs the shim")
class ExecEnvironment(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="nm-execenv-")
        self.addCleanup(shutil.rmtree, self.base, True)

    def shim_env(self, **extra):
        env = clean_env()
        env.update(LD_PRELOAD=FULL, ASAN_OPTIONS="detect_leaks=0",
                   NOTMOD_SOCKET=os.path.join(self.base, "none.sock"),
                   NOTMOD_SNAPSHOT=os.path.join(self.base, "none.snap"))
        env.update(extra)
        return env

    # ---- busybox's CGI ----

    def busybox(self, **shim_env):
        docroot = os.path.join(self.base, "www")
        cgi = os.path.join(docroot, "cgi-bin")
        os.makedirs(cgi)
        with open(os.path.join(cgi, "probe.sh"), "w") as f:
            f.write(PROBE_CGI)
        os.chmod(os.path.join(cgi, "probe.sh"), 0o755)
        self.body_path = os.path.join(cgi, "body.txt")
        with open(self.body_path, "wb") as f:
            f.write(b"first body\n")
        # A hold that outlasts a slow CGI (the sanitizer build's, loaded
        # into sh and cat with NOTMOD_EXEC=keep, on a busy machine): a
        # response released at the deadline leaves untagged, and its
        # revalidation gets the 200.
        srv = BusyboxServer(docroot, shim=True,
                            shim_env=dict(LD_PRELOAD=FULL,
                                          NOTMOD_HOLD_MS="10s", **shim_env))
        self.addCleanup(srv.cleanup)
        srv.start()
        return srv

    def get(self, port, tag=None):
        headers = [("If-None-Match", tag)] if tag else []
        r = exchange(port, [Request("GET", "/cgi-bin/probe.sh",
                                    headers=headers)]).final()[0]
        return r

    def test_busybox_cgi_runs_without_the_shim_and_is_still_tagged(self):
        srv = self.busybox()
        first = self.get(srv.port)
        self.assertEqual(first.status, 200)
        expected = ("sh_shim=no\nsh_libm=yes\ncat_shim=no\npreload=%s\n"
                    "first body\n" % OTHERS).encode()
        self.assertEqual(first.body, expected)
        tag = first.first("ETag")
        self.assertTrue((tag or "").startswith(TAG_PREFIX), first)
        again = self.get(srv.port, tag)
        self.assertEqual(again.status, 304, again)
        self.assertEqual(again.body, b"")
        with open(self.body_path, "wb") as f:
            f.write(b"second body\n")
        changed = self.get(srv.port, tag)
        self.assertEqual(changed.status, 200, changed)
        self.assertEqual(changed.body, expected.replace(b"first", b"second"))
        self.assertNotEqual(changed.first("ETag"), tag)
        self.assertEqual(srv.error_lines(), [])

    def test_busybox_cgi_keeps_the_shim_with_notmod_exec_keep(self):
        srv = self.busybox(NOTMOD_EXEC="keep")
        first = self.get(srv.port)
        self.assertEqual(first.status, 200)
        got = report_of(first.body)
        self.assertEqual(got["sh_shim"], "yes", first.body)
        self.assertEqual(got["cat_shim"], "yes", first.body)
        self.assertEqual(got["preload"], FULL)
        tag = first.first("ETag")
        self.assertTrue((tag or "").startswith(TAG_PREFIX), first)
        self.assertEqual(self.get(srv.port, tag).status, 304)

    # ---- a server that runs programs, with and without sockets ----

    def spawning_server(self, launcher=()):
        port = free_port()
        proc = spawn(list(launcher) + ["python3", "-c", SPAWNING_SERVER,
                                       str(port), REPORT],
                     env=self.shim_env(), stdout=subprocess.DEVNULL)
        self.addCleanup(stop_group, proc)
        self.assertTrue(servers.wait_accepting(port, proc), "no server")
        return port

    def ask(self, port, target):
        r = exchange(port, [Request("GET", target)]).final()[0]
        self.assertEqual(r.status, 200, r)
        return report_of(r.body)

    def test_program_without_sockets_loses_only_the_shim(self):
        port = self.spawning_server()
        for target in ("/plain", "/env"):
            got = self.ask(port, target)
            self.assertEqual(got, {"sh_shim": "no", "preload": OTHERS}, target)

    def test_program_inheriting_a_unix_socket_keeps_the_shim(self):
        port = self.spawning_server()
        self.assertEqual(self.ask(port, "/unix"),
                         {"sh_shim": "yes", "preload": FULL})

    def test_program_inheriting_the_connection_keeps_the_shim(self):
        port = self.spawning_server()
        self.assertEqual(self.ask(port, "/tcp"),
                         {"sh_shim": "yes", "preload": FULL})

    def test_launcher_that_follows_nothing_passes_the_shim_on(self):
        # sh follows nothing: the server it execs loads the shim, and
        # follows its connections (its own programs lose the shim).
        port = self.spawning_server(["sh", "-c", 'cat /dev/null; exec "$@"',
                                     "sh"])
        self.assertEqual(self.ask(port, "/self"),
                         {"server_shim": "yes", "preload": FULL})
        self.assertEqual(self.ask(port, "/plain"),
                         {"sh_shim": "no", "preload": OTHERS})


if __name__ == "__main__":
    unittest.main()
