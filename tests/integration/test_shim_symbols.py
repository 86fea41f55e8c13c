"""The symbol matrix and constructor order (docs/interposition.md, "Which
symbols" and "Testing like the interposers that came before").

One tiny server (tests/fixtures/snippet_server.c) is built twice: plain
(read, open, fcntl, sendfile) and with -D_FORTIFY_SOURCE=2
-D_FILE_OFFSET_BITS=64 (__read_chk, open64, fcntl64, sendfile64). Under the
shim both must get a synthesized ETag and a 304. A program whose DT_NEEDED
library does socket I/O in its constructor, before the shim's constructor
ran, must work unchanged."""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from servers import (BUILD_DIR, free_port, shim_preload, spawn, stop_group,
                     wait_accepting)
from wire import Request, exchange

BODY = bytes(range(256)) * 400  # 100 KiB


def imports(binary):
    out = subprocess.run(["nm", "-D", "--undefined-only", binary],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines()}


class SymbolMatrix(unittest.TestCase):
    VARIANTS = {
        "snippet_server": {"read", "open", "fcntl", "sendfile"},
        "snippet_server_fortified": {"__read_chk", "open64", "fcntl64",
                                     "sendfile64"},
    }

    def serve(self, binary):
        d = tempfile.mkdtemp(prefix="nm-snippet-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "body.bin")
        with open(path, "wb") as f:
            f.write(BODY)
        port = free_port()
        env = dict(os.environ, LD_PRELOAD=shim_preload(),
                   ASAN_OPTIONS="detect_leaks=0",
                   NOTMOD_SOCKET=os.path.join(d, "none.sock"))
        proc = spawn([binary, str(port), path], env=env,
                     stderr=subprocess.DEVNULL)
        self.addCleanup(stop_group, proc, signal.SIGKILL)
        self.assertTrue(wait_accepting(port, proc), "server did not start")
        return port

    def test_each_variant_gets_tag_and_304(self):
        for name, wanted in self.VARIANTS.items():
            with self.subTest(variant=name):
                binary = os.path.join(BUILD_DIR, name)
                got = imports(binary)
                self.assertTrue(wanted <= got, "%s imports %s" % (
                    name, sorted(got)))
                port = self.serve(binary)
                r = exchange(port, [Request("GET", "/", version="HTTP/1.0")])
                first = r.final()[0]
                self.assertEqual(first.status, 200)
                self.assertEqual(first.body, BODY)
                tag = first.first("ETag")
                self.assertRegex(tag or "", r'^"nm-[A-Za-z0-9_-]{22}"$')
                r2 = exchange(port, [Request("GET", "/", version="HTTP/1.0",
                                             headers=[("If-None-Match", tag)])])
                again = r2.final()[0]
                self.assertEqual(again.status, 304)
                self.assertEqual(again.body, b"")
                self.assertEqual(again.first("ETag"), tag)


class ConstructorOrder(unittest.TestCase):
    def test_io_in_a_dependency_constructor_works(self):
        env = dict(os.environ, LD_PRELOAD=shim_preload(),
                   ASAN_OPTIONS="detect_leaks=0")
        p = subprocess.run([os.path.join(BUILD_DIR, "ctor_prog")], env=env,
                           capture_output=True, text=True, timeout=20)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "ctor io ok"),
                         p.stderr)


if __name__ == "__main__":
    unittest.main()
