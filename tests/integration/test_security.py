"""Security checks.

- notmodd's control socket refuses another uid: as deployed (mode 0600) and
  even when someone made the socket world-writable (peer credentials);
- notmodd --secret drops events without the token (forged by nm_emit, also
  from another uid) while the shim's, sent with NOTMOD_SECRET, count;
- absurd shim environment values give a working server with correct
  responses and a logged fallback;
- the shim's own fds are close-on-exec and never take fds 0-2, even in a
  server started with 0-2 closed, after it held big responses and reported
  to a daemon."""

import os
import re
import stat
import subprocess
import time
import unittest

import docroots
import servers
from daemon_util import NM_EMIT, NOTMODCTL, Daemon, tempdir, wait_for
from servers import NginxServer, PythonServer, child_pids
from wire import Request, exchange

O_CLOEXEC = 0o2000000
AS_NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup",
             "--clear-groups"]
URL = "http://127.0.0.1/s.txt"


def get(port, path, headers=()):
    ex = exchange(port, [Request("GET", path, headers=list(headers) +
                                 [("Connection", "close")])], timeout=10)
    assert ex.error is None and len(ex.final()) == 1, ex
    return ex.final()[0]


def can_drop_privileges():
    return os.geteuid() == 0 and servers.have("setpriv")


def open_tree(test):
    """A temp dir that uid nobody can traverse (the control socket's own
    mode must be what stops it)."""
    d = tempdir(test)
    os.chmod(d, 0o755)
    return d


@unittest.skipUnless(can_drop_privileges(), "needs root and setpriv")
class ControlSocketOtherUid(unittest.TestCase):
    def setUp(self):
        self.dir = open_tree(self)
        self.daemon = Daemon(self.dir).start()
        self.addCleanup(self.daemon.stop)
        self.assertEqual(stat.S_IMODE(os.stat(self.daemon.control).st_mode)
                         & 0o077, 0, "control socket open to others")

    def as_nobody(self, *args):
        p = subprocess.run(AS_NOBODY + [NOTMODCTL, "--control",
                                        self.daemon.control] + list(args),
                           capture_output=True, text=True, timeout=20,
                           cwd="/")
        return p.returncode, p.stdout, p.stderr

    def assert_refused(self, rc, out, err):
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(out, "")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("notmodctl: "), err)

    def test_mode_0600_refuses_nobody(self):
        rc, out, err = self.as_nobody("status")
        self.assert_refused(rc, out, err)
        self.assertIn("permission", err.lower())

    def test_peer_uid_checked_even_when_socket_is_world_writable(self):
        os.chmod(self.daemon.control, 0o666)
        for args in (["status"], ["disable", "/"], ["purge", "--prefix", "/"],
                     ["pin", URL, '"forged"']):
            with self.subTest(args=args):
                rc, out, err = self.as_nobody(*args)
                self.assertNotEqual(rc, 0, (out, err))
                self.assertEqual(out, "")
        # nothing of it happened
        ans = self.daemon.ctl("get " + URL)
        self.assertNotIn("forged", ans)
        self.assertNotIn("disabled: yes", ans)
        self.assertTrue(self.daemon.ctl("status").startswith("ok"))
        self.assertIsNone(self.daemon.proc.poll())

    # Regression: with the control socket reachable by another uid (chmod
    # 0666 or group mode), notmodd once answered the refusal and closed
    # without reading the request: the close became a reset and notmodctl
    # printed "no answer ... Connection reset by peer", or died of SIGPIPE.
    # notmodd now reads the line first; notmodctl sends with MSG_NOSIGNAL
    # and prefers a received answer. Expected every time: exit 1 and one
    # line naming the permission problem.
    def test_world_writable_socket_refusal_message(self):
        os.chmod(self.daemon.control, 0o666)
        seen = []
        for i in range(20):
            rc, out, err = self.as_nobody("pin", URL, '"forged%d"' % i)
            seen.append((rc, err.strip()))
        bad = [x for x in seen if x[0] != 1 or "permission" not in x[1]
               or len(x[1].splitlines()) != 1]
        self.assertEqual(bad, [], "%d of 20 runs: %s" % (len(bad), bad[:3]))


class SecretDropsForgedEvents(unittest.TestCase):
    SECRET = "00c0ffee12345678"

    def test_only_events_with_the_token_count(self):
        base = open_tree(self)
        docroot = docroots.make_docroot(base)
        daemon = Daemon(base, extra=["--secret", self.SECRET]).start()
        self.addCleanup(daemon.stop)
        env = {"NOTMOD_SOCKET": daemon.socket,
               "NOTMOD_SNAPSHOT": daemon.snapshot,
               "NOTMOD_SECRET": self.SECRET}
        srv = PythonServer(docroot, shim=True, shim_env=env, tag="-secret")
        self.addCleanup(srv.cleanup)
        srv.start()
        tag = get(srv.port, "/s.txt").first("ETag")
        self.assertRegex(tag or "", r'^"nm-')
        wait_for(lambda: daemon.fields("get " + URL).get("tag") == tag,
                 what="the shim's event accepted")
        rejected0 = int(daemon.fields("status")["events_rejected"])
        # forged: no token, a wrong token, and from another uid
        forged = [[], ["--token", "1111111111111111"]]
        for extra in forged:
            subprocess.run([NM_EMIT, "--socket", daemon.socket, "--host",
                            "127.0.0.1", "--path", "/s.txt", "--tag",
                            '"forged"', "--status", "200"] + extra,
                           check=True, timeout=10)
        n_forged = len(forged)
        if can_drop_privileges():
            subprocess.run(AS_NOBODY + [NM_EMIT, "--socket", daemon.socket,
                                        "--host", "127.0.0.1", "--path",
                                        "/s.txt", "--tag", '"forged"',
                                        "--status", "200"],
                           check=True, timeout=10, cwd="/")
            n_forged += 1
        wait_for(lambda: int(daemon.fields("status")["events_rejected"])
                 == rejected0 + n_forged, what="forged events rejected")
        self.assertEqual(daemon.fields("get " + URL)["tag"], tag)
        # the shim's responses are untouched by the forgeries
        r = get(srv.port, "/s.txt", [("If-None-Match", tag)])
        self.assertEqual(r.status, 304)
        r = get(srv.port, "/s.txt", [("If-None-Match", '"forged"')])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.first("ETag"), tag)
        self.assertEqual(srv.error_lines(), [], srv.logs()[-2000:])

    def test_shim_with_wrong_secret_is_not_heard(self):
        base = open_tree(self)
        docroot = docroots.make_docroot(base)
        daemon = Daemon(base, extra=["--secret", self.SECRET]).start()
        self.addCleanup(daemon.stop)
        env = {"NOTMOD_SOCKET": daemon.socket,
               "NOTMOD_SNAPSHOT": daemon.snapshot,
               "NOTMOD_SECRET": "0badc0de0badc0de"}
        srv = PythonServer(docroot, shim=True, shim_env=env, tag="-badsec")
        self.addCleanup(srv.cleanup)
        srv.start()
        r = get(srv.port, "/s.txt")
        self.assertEqual(r.status, 200)
        wait_for(lambda: int(daemon.fields("status")["events_rejected"]) > 0,
                 what="the wrong-secret event rejected")
        self.assertNotIn("tag: ", daemon.ctl("get " + URL))


class AbsurdEnvironment(unittest.TestCase):
    """Each row: shim variables, and the variable names whose fallback the
    shim's log must mention (a warning line naming it)."""

    ROWS = [
        ({"NOTMOD_HOLD_MAX": "-5"}, ["NOTMOD_HOLD_MAX"]),
        ({"NOTMOD_HOLD_MAX": "99999999999999999999"}, ["NOTMOD_HOLD_MAX"]),
        ({"NOTMOD_HOLD_MAX": "8Q"}, ["NOTMOD_HOLD_MAX"]),
        ({"NOTMOD_PORTS": "abc"}, ["NOTMOD_PORTS"]),
        ({"NOTMOD_PORTS": "99999,-1,80x,,"}, ["NOTMOD_PORTS"]),
        ({"NOTMOD_HOLD_MS": "1e9"}, ["NOTMOD_HOLD_MS"]),
        ({"NOTMOD_HOLD_MS": "99999999999"}, ["NOTMOD_HOLD_MS"]),
        ({"NOTMOD_HOLD_TOTAL": "-1"}, ["NOTMOD_HOLD_TOTAL"]),
        ({"NOTMOD_SECRET": "not-hex-at-all-and-long"}, ["NOTMOD_SECRET"]),
        ({"NOTMOD_LOG_LEVEL": "banana"}, []),
        ({"NOTMOD_DISABLE": "yes"}, []),
        ({"NOTMOD_SOCKET": "/x" * 4000}, []),
        ({"NOTMOD_SNAPSHOT": "/etc/passwd"}, []),
        ({"NOTMOD_SNAPSHOT": "/dev/zero"}, []),
        ({"NOTMOD_SNAPSHOT": "/proc/self/maps"}, []),
        ({"NOTMOD_LOG": "/nonexistent/dir/x"}, None),
    ]

    def test_absurd_values_give_a_working_server(self):
        base = tempdir(self)
        docroot = docroots.make_docroot(base)
        with open(os.path.join(docroot, "s.txt"), "rb") as f:
            small = f.read()
        with open(os.path.join(docroot, "big.bin"), "rb") as f:
            big = f.read()
        servers = []
        for i, (env, warned) in enumerate(self.ROWS):
            env = dict(env)
            log = os.path.join(base, "shim-%d.log" % i)
            if warned is not None:
                env.setdefault("NOTMOD_LOG", log)
            srv = PythonServer(docroot, shim=True, shim_env=env,
                               tag="-env%d" % i)
            self.addCleanup(srv.cleanup)
            servers.append((srv, env, warned, log))
        for srv, _, _, _ in servers:
            srv.start()
        for srv, env, warned, log in servers:
            with self.subTest(env=dict((k, v[:40]) for k, v in env.items()
                                       if k != "NOTMOD_LOG" or
                                       warned is None)):
                r = get(srv.port, "/s.txt")
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, small)
                tag = r.first("ETag")
                # the defaults apply: tagged, 304 on its tag
                self.assertRegex(tag or "", r'^"nm-')
                r304 = get(srv.port, "/s.txt", [("If-None-Match", tag)])
                self.assertEqual(r304.status, 304)
                r = get(srv.port, "/big.bin")
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, big)
                self.assertRegex(r.first("ETag") or "", r'^"nm-',
                                 "default hold max (8M) not applied")
                self.assertIsNone(srv.proc.poll())
                self.assertEqual(srv.error_lines(), [], srv.logs()[-2000:])
                for name in warned or []:
                    with open(log, errors="replace") as f:
                        text = f.read()
                    self.assertRegex(text, r"(?m)^.*%s.*$" % name,
                                     "no logged fallback for %s:\n%s" % (
                                         name, text))
                if warned is not None and os.path.exists(log):
                    with open(log, errors="replace") as f:
                        self.assertNotRegex(f.read(), r"(?i)\berror\b")


class ClosedStdioNginx(NginxServer):
    """nginx started with fd 0 closed: the first fd anything opens is 0.
    (With 1 and 2 closed as well, even the bare nginx worker fails:
    "epoll_ctl(1, 2) failed".)"""

    def command(self):
        return ["sh", "-c", 'exec "$@" <&-', "sh"] + super().command()


def fd_table(pid):
    """{fd: (link target, flags)} of a process."""
    out = {}
    for name in os.listdir("/proc/%d/fd" % pid):
        fd = int(name)
        try:
            target = os.readlink("/proc/%d/fd/%d" % (pid, fd))
            with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
                flags = int(re.search(r"flags:\s+([0-7]+)", f.read()).group(1),
                            8)
        except OSError:
            continue
        out[fd] = (target, flags)
    return out


def unix_dgram_inodes():
    inodes = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[4] == "0002":  # SOCK_DGRAM
                inodes.add(parts[6])
    return inodes


class ShimFds(unittest.TestCase):
    def test_shim_fds_cloexec_and_never_0_to_2(self):
        base = open_tree(self)
        docroot = docroots.make_docroot(base)
        big = docroots.deterministic_bytes(3 * 1024 * 1024, 5)
        docroots.write_file(os.path.join(docroot, "large.bin"), big, docroots.T0)
        daemon = Daemon(base).start()
        self.addCleanup(daemon.stop)
        env = {"NOTMOD_SOCKET": daemon.socket,
               "NOTMOD_SNAPSHOT": daemon.snapshot}
        # sendfile off: nginx writes bodies itself and the shim holds them
        # (3 MiB: spilled to a memfd); 1 worker, so one process to inspect.
        servers = {}
        for which, shim in (("bare", False), ("shim", True)):
            srv = ClosedStdioNginx(docroot, validators="off", shim=shim,
                                   shim_env=env, tag="-fds-" + which,
                                   extra_server="sendfile off;")
            self.addCleanup(srv.cleanup)
            servers[which] = srv.start()
        srv = servers["shim"]
        tag = get(srv.port, "/large.bin").first("ETag")
        self.assertRegex(tag or "", r'^"nm-')
        for srv_ in servers.values():
            for _ in range(3):
                r = get(srv_.port, "/large.bin")
                self.assertEqual(r.body, big)
                get(srv_.port, "/s.txt")
        self.assertEqual(get(srv.port, "/large.bin", [
            ("If-None-Match", tag)]).status, 304)
        # reported to the daemon (so the event socket exists) and the
        # snapshot is in use
        wait_for(lambda: daemon.fields("get http://127.0.0.1/large.bin")
                 .get("tag") == tag, what="the shim's events at notmodd")
        get(srv.port, "/s.txt")
        dgram = unix_dgram_inodes()
        tables = {}
        for which, s in servers.items():
            workers = child_pids(s.proc.pid)
            self.assertEqual(len(workers), 1, workers)
            tables[which] = {"master": fd_table(s.proc.pid),
                             "worker": fd_table(workers[0])}
        for proc in ("master", "worker"):
            shim_t, bare_t = tables["shim"][proc], tables["bare"][proc]
            with self.subTest(process=proc):
                ours = {}
                for fd, (target, flags) in shim_t.items():
                    m = re.match(r"socket:\[(\d+)\]", target)
                    if ("notmod" in target or
                            target == daemon.snapshot or
                            (m and m.group(1) in dgram)):
                        ours[fd] = (target, flags)
                for fd, (target, flags) in sorted(ours.items()):
                    self.assertGreater(fd, 2, "shim fd %d -> %s" % (fd,
                                                                    target))
                    self.assertTrue(flags & O_CLOEXEC, "shim fd %d -> %s "
                                    "without O_CLOEXEC" % (fd, target))
                # fds 0-2 hold the same kinds of things as in the bare nginx
                kind = lambda t: re.sub(r"\[\d+\]|nm-nginx-off-fds-\w+-\w+",
                                        "", t)
                for fd in (0, 1, 2):
                    self.assertEqual(kind(shim_t.get(fd, ("-", 0))[0]),
                                     kind(bare_t.get(fd, ("-", 0))[0]),
                                     "fd %d differs from the bare nginx's"
                                     % fd)
                # nothing else the bare nginx does not have leaks to exec
                extra_inheritable = [
                    (fd, t) for fd, (t, fl) in shim_t.items()
                    if not fl & O_CLOEXEC and fd > 2 and fd not in ours and
                    kind(t) not in {kind(bt) for bt, bfl in bare_t.values()
                                    if not bfl & O_CLOEXEC}]
                self.assertEqual(extra_inheritable, [])
        print("\nshim fds in the nginx worker: %s" % sorted(
            (fd, t) for fd, (t, _) in tables["shim"]["worker"].items()
            if fd not in tables["bare"]["worker"]))
        for s in servers.values():
            self.assertIsNone(s.proc.poll())
            self.assertEqual(s.error_lines(), [], s.logs()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
