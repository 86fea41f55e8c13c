"""The shim's lazy start (shim/hooks.h): loading it arms the hooks and no
more. A process that never meets a TCP socket (each program a CGI execs)
opens no log, maps no tag table, starts no thread and opens no socket; the
first accept, or the first read on a TCP socket, activates the shim, so a
process that later becomes a server (a launcher script that execs the
server or forks it, a program that reads files first) is followed as
always; a prefork server's workers share the tag table their master
mapped before forking them, though the master itself never followed
anything."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import docroots
from servers import (NginxServer, child_pids, clean_env, free_port,
                     shim_preload, spawn, stop_group, wait_accepting)
from wire import Request, exchange

BODY_4K = docroots.deterministic_bytes(4096, 11, text=True)
TAG_RE = r'^"nm-[A-Za-z0-9_-]{22}"$'
TABLE_BYTES = 8192 * 40  # tagwatch.c: SLOTS * sizeof(struct slot)


def shared_tables(pid):
    """Inodes of the shared anonymous mappings the size of the tag table
    in pid's address space."""
    inodes = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if (parts[1].endswith("s") and hi - lo == TABLE_BYTES and
                    "/dev/zero" in line):
                inodes.add(parts[4])
    return inodes


def thread_count(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))


def socket_fds(pid):
    out = []
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith(
                    "socket:"):
                out.append(int(name))
        except OSError:
            pass
    return out


class ShimLazy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-lazy-")
        cls.docroot = docroots.make_docroot(cls.base)
        docroots.write_file(os.path.join(cls.docroot, "four.txt"), BODY_4K)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def shim_env(self, log):
        env = clean_env()
        env.update(LD_PRELOAD=shim_preload(), ASAN_OPTIONS="detect_leaks=0",
                   NOTMOD_LOG=log, NOTMOD_LOG_LEVEL="debug",
                   NOTMOD_SOCKET=os.path.join(self.base, "none.sock"),
                   NOTMOD_SNAPSHOT=os.path.join(self.base, "none.snap"))
        return env

    def tag_then_304(self, port, path="/four.txt"):
        first = exchange(port, [Request("GET", path)]).final()[0]
        self.assertEqual(first.status, 200)
        tag = first.first("ETag")
        self.assertRegex(tag or "", TAG_RE)
        again = exchange(port, [Request("GET", path, headers=[
            ("If-None-Match", tag)])]).final()[0]
        self.assertEqual(again.status, 304)

    def test_a_program_without_sockets_stays_armed(self):
        log = os.path.join(self.base, "armed.log")
        ready = os.path.join(self.base, "armed.ready")
        # Reads a file, writes to a pipe, forks nothing, then waits.
        script = ("import os, sys, time\n"
                  "data = open(sys.argv[1], 'rb').read()\n"
                  "os.write(1, data[:16])\n"
                  "open(sys.argv[2], 'w').close()\n"
                  "time.sleep(30)\n")
        proc = spawn(["python3", "-c", script,
                      os.path.join(self.docroot, "four.txt"), ready],
                     env=self.shim_env(log), stdout=subprocess.PIPE)
        self.addCleanup(stop_group, proc)
        self.assertEqual(proc.stdout.read(16), BODY_4K[:16])
        deadline = time.monotonic() + 10
        while not os.path.exists(ready) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(os.path.exists(ready), "the program did not run")
        self.assertFalse(os.path.exists(log), "log opened: shim activated")
        self.assertEqual(shared_tables(proc.pid), set())
        self.assertEqual(thread_count(proc.pid), 1)
        self.assertEqual(socket_fds(proc.pid), [])

    def test_cat_runs_unchanged_and_never_activates(self):
        log = os.path.join(self.base, "cat.log")
        p = subprocess.run(["cat", os.path.join(self.docroot, "four.txt")],
                           env=self.shim_env(log), capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, BODY_4K)
        self.assertFalse(os.path.exists(log))

    def test_shell_spawns_as_bare(self):
        """dash spawns each command with vfork: armed, the shim keeps it a
        real vfork whose child passes everything through until exec."""
        script = ("for i in 1 2 3; do echo line$i | cat; done; "
                  "cat \"$1\" | wc -c; x=$(echo sub); echo $x; "
                  "/nonexistent/program 2>/dev/null; echo status=$?; "
                  "python3 -c 'import subprocess; "
                  "print(subprocess.run([\"echo\", \"py\"], "
                  "capture_output=True).stdout)'")
        args = ["sh", "-c", script, "sh",
                os.path.join(self.docroot, "four.txt")]
        log = os.path.join(self.base, "shell.log")
        bare = subprocess.run(args, env=clean_env(), capture_output=True,
                              timeout=60)
        shim = subprocess.run(args, env=self.shim_env(log),
                              capture_output=True, timeout=60)
        self.assertEqual(shim.returncode, bare.returncode)
        self.assertEqual(shim.stdout, bare.stdout)
        self.assertIn(b"status=127", shim.stdout)
        self.assertFalse(os.path.exists(log))

    def serve(self, cmd, log):
        """Runs cmd (PORT replaced) under the shim; its port and process."""
        port = free_port()
        proc = spawn([a.replace("PORT", str(port)) for a in cmd],
                     cwd=self.docroot, env=self.shim_env(log),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_group, proc)
        self.assertTrue(wait_accepting(port, proc), "server did not start")
        return port, proc

    def http_server(self):
        return ["python3", "-m", "http.server", "--bind", "127.0.0.1",
                "--protocol", "HTTP/1.1", "PORT"]

    def test_launcher_that_execs_the_server(self):
        log = os.path.join(self.base, "exec.log")
        port, _ = self.serve(["sh", "-c", 'cat /dev/null; exec "$@"', "sh"] +
                             self.http_server(), log)
        self.tag_then_304(port)
        with open(log) as f:
            self.assertIn("active", f.read())

    def test_launcher_that_forks_the_server(self):
        log = os.path.join(self.base, "fork.log")
        port, _ = self.serve(["sh", "-c", '"$@"; exit $?', "sh"] +
                             self.http_server(), log)
        self.tag_then_304(port)

    def test_program_that_reads_files_then_serves(self):
        log = os.path.join(self.base, "later.log")
        script = ("import os, sys, http.server, functools\n"
                  "open(sys.argv[2], 'rb').read()\n"
                  "if os.fork() == 0:\n"
                  "    os._exit(0)\n"
                  "os.wait()\n"
                  "h = functools.partial(http.server.SimpleHTTPRequestHandler,"
                  " directory=os.path.dirname(sys.argv[2]))\n"
                  "h.func.protocol_version = 'HTTP/1.1'\n"
                  "http.server.ThreadingHTTPServer(('127.0.0.1', "
                  "int(sys.argv[1])), h).serve_forever()\n")
        port, _ = self.serve(["python3", "-c", script, "PORT",
                              os.path.join(self.docroot, "four.txt")], log)
        self.tag_then_304(port)

    def test_prefork_workers_share_the_table_their_master_mapped(self):
        log = os.path.join(self.base, "nginx.log")
        srv = NginxServer(self.docroot, validators="off", workers=2,
                          shim=True, shim_env={
                              "NOTMOD_LOG": log, "NOTMOD_LOG_LEVEL": "debug"})
        self.addCleanup(srv.cleanup)
        srv.start()
        workers = []
        deadline = time.monotonic() + 10
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = child_pids(srv.proc.pid)  # daemon off: the master
            time.sleep(0.05)
        self.assertGreaterEqual(len(workers), 2, "nginx has no workers")
        tables = [shared_tables(w) for w in workers]
        self.assertEqual(len(tables[0]), 1, "a worker has no tag table")
        self.assertTrue(all(t == tables[0] for t in tables), tables)
        self.tag_then_304(srv.port)
        with open(log) as f:
            active = set(int(pid) for pid in re.findall(
                r"notmod\[(\d+)\] info: active", f.read()))
        self.assertTrue(active, "no worker activated")
        self.assertTrue(active <= set(workers), (active, workers))


if __name__ == "__main__":
    unittest.main()
