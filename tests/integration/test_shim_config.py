"""The shim's configuration (libnotmod(7), ENVIRONMENT), against a real
python3 http.server: NOTMOD_DISABLE, NOTMOD_PORTS, NOTMOD_HOLD_MAX,
NOTMOD_LOG / NOTMOD_LOG_LEVEL, and silence when no log is asked for."""

import os
import shutil
import tempfile
import unittest

import docroots
from servers import PythonServer
from wire import Request, exchange

BODY_4K = docroots.deterministic_bytes(4096, 7, text=True)


class PortsServer(PythonServer):
    """NOTMOD_PORTS computed from the port Server.start picks."""

    def __init__(self, docroot, ports_fn, **kw):
        super().__init__(docroot, **kw)
        self.ports_fn = ports_fn

    def env(self):
        env = super().env()
        env["NOTMOD_PORTS"] = self.ports_fn(self.port)
        return env


class ShimConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-config-")
        cls.docroot = docroots.make_docroot(cls.base)
        docroots.write_file(os.path.join(cls.docroot, "four.txt"), BODY_4K)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def start(self, server):
        self.addCleanup(server.cleanup)
        return server.start()

    def get(self, server, path="/four.txt", headers=()):
        ex = exchange(server.port, [Request("GET", path,
                                            headers=list(headers))])
        self.assertIsNone(ex.error, ex)
        r = ex.final()[0]
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, BODY_4K)
        return r

    def test_default_adds_tag_and_logs_nothing(self):
        s = self.start(PythonServer(self.docroot, shim=True))
        self.assertRegex(self.get(s).first("ETag") or "", r'^"nm-')
        with open(s.stderr_path, "rb") as f:
            self.assertNotIn(b"notmod", f.read())

    def test_disable_loads_but_does_nothing(self):
        s = self.start(PythonServer(self.docroot, shim=True,
                                    shim_env={"NOTMOD_DISABLE": "1"}))
        self.assertIsNone(self.get(s).first("ETag"))

    def test_ports_other_than_ours_are_never_touched(self):
        s = self.start(PortsServer(self.docroot, lambda p: str(p + 1),
                                   shim=True))
        self.assertIsNone(self.get(s).first("ETag"))

    def test_ports_listing_ours_is_handled(self):
        s = self.start(PortsServer(self.docroot,
                                   lambda p: "1,%d,65535" % p, shim=True))
        self.assertRegex(self.get(s).first("ETag") or "", r'^"nm-')

    def test_hold_max_limits_what_is_tagged(self):
        s = self.start(PythonServer(self.docroot, shim=True,
                                    shim_env={"NOTMOD_HOLD_MAX": "1k"}))
        # 4 KiB is over the limit: the 200 passes exactly, untagged.
        self.assertIsNone(self.get(s).first("ETag"))

    def test_absurd_values_fall_back_and_serve(self):
        env = {"NOTMOD_HOLD_MAX": "-5", "NOTMOD_HOLD_MS": "1e9",
               "NOTMOD_PORTS": "abc", "NOTMOD_HOLD_TOTAL": "9" * 30,
               "NOTMOD_LOG": "/nonexistent/dir/x", "NOTMOD_SECRET": "zz"}
        s = self.start(PythonServer(self.docroot, shim=True, shim_env=env))
        # Defaults apply: the 4 KiB body is tagged, nothing breaks.
        self.assertRegex(self.get(s).first("ETag") or "", r'^"nm-')

    def test_log_file_at_debug_names_the_304(self):
        log = os.path.join(self.base, "shim.log")
        s = self.start(PythonServer(self.docroot, shim=True, shim_env={
            "NOTMOD_LOG": log, "NOTMOD_LOG_LEVEL": "debug"}))
        tag = self.get(s).first("ETag")
        ex = exchange(s.port, [Request("GET", "/four.txt", headers=[
            ("If-None-Match", tag)])])
        self.assertEqual(ex.final()[0].status, 304)
        with open(log) as f:
            text = f.read()
        self.assertIn("active", text)
        self.assertIn("304 substituted", text)


if __name__ == "__main__":
    unittest.main()
