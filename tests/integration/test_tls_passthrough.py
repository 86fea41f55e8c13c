"""HTTPS servers under the shim keep working, and the shim's SSL_* hooks see
what they must (test_tls.py asserts the tags and 304s).

Per server (python http.server + ssl, nginx ssl, lighttpd mod_openssl,
Apache event + mod_ssl), bare and shimmed side by side over TLS:
  fidelity    a keep-alive connection and the same requests pipelined:
              every shimmed response is the bare one, or (a 200) the bare
              one plus the shim's lines (its tag), never anything else
  20 MiB      a body over NOTMOD_HOLD_MAX, byte for byte, untagged
  the hooks   the shim found the server's OpenSSL 3 and followed its
              HTTP/1.x connections (its log), and where OpenSSL knows the
              socket the socket hooks left the ciphertext alone (no
              attempt to parse a ClientHello as a request)
Once: a connection whose ALPN is h2 is set aside and passes untouched;
nginx with 0-RTT: a connection that sent early data is set aside (never a
304), where the client's early data was accepted.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import unittest

import compat_servers as cs
import model
import servers
import wire
import test_compat_servers as compat
import test_tls as tt
import tls_servers as ts
from wire import Request

# (label, server class, arguments, dynamic path or None, needs)
SERVERS = [
    ("python3 http.server + ssl", ts.PythonTlsServer, {}, "/app/stream",
     ["python3"]),
    ("nginx ssl", ts.NginxTlsServer, {}, None, ["nginx"]),
    ("lighttpd mod_openssl", ts.LighttpdTlsServer, {}, "/cgi-bin/stream.sh",
     ["lighttpd", "/usr/lib/lighttpd/mod_openssl.so"]),
    ("Apache 2.4 event + mod_cgid, mod_ssl", ts.ApacheTlsServer,
     {"dynamic": "cgid"}, "/cgi-bin/stream.sh",
     ["apache2", cs.APACHE_MODULES + "/mod_ssl.so"]),
]

FOLLOWED = "HTTP/1.x, followed"
CIPHERTEXT_PARSED = "request is not plain HTTP/1.x"


class Pair:
    """Starts cls.server_cls bare and shimmed with the shim's log (debug)
    in cls.shim_log; cls.extra_kw are the server's arguments."""

    @classmethod
    def start(cls, server_cls, kw, needs):
        missing = tt.missing_of(needs + ["openssl"])
        if missing:
            raise unittest.SkipTest("missing %s" % ", ".join(missing))
        cls.base = tempfile.mkdtemp(prefix="nm-tlspass-")
        os.chmod(cls.base, 0o755)
        cls.docroot, (cert, key) = tt.make_fixture(cls.base)
        cls.shim_log = os.path.join(cls.base, "shim.log")
        open(cls.shim_log, "w").close()
        os.chmod(cls.shim_log, 0o666)  # Apache's workers are www-data
        cls.server_cls = type(server_cls.__name__, (server_cls,),
                              {"cert": cert, "key": key})
        cls.server_kw = dict(kw, shim_env={
            "NOTMOD_HOLD_MS": str(tt.HOLD_MS), "NOTMOD_LOG": cls.shim_log,
            "NOTMOD_LOG_LEVEL": "debug"})
        servers.start_pair(cls)

    @classmethod
    def tearDownClass(cls):
        servers.stop_pair(cls)

    def shim_log_text(self):
        with open(self.shim_log, errors="replace") as f:
            return f.read()


def same_or_tagged(tc, b, s, what):
    """The shimmed response is the bare one, or a 200 that is the bare one
    plus the shim's lines (model.synth_block_of)."""
    tc.assertEqual(s.status, b.status, "%s: %r vs %r" % (what, s.head_raw,
                                                          b.head_raw))
    tc.assertEqual(s.body, b.body, "%s: bodies differ" % what)
    block = model.synth_block_of(s, b) if b.first("ETag") is None \
        else None
    want = wire.normalize_head(b.head_raw)
    got = compat.head_without(s, block)
    if b.framing != s.framing:
        want, got = compat.drop_framing(want), compat.drop_framing(got)
    tc.assertEqual(got, want, "%s: the shimmed head is not the bare head "
                   "(plus at most the shim's tag)" % what)


class PassthroughCase(Pair):
    row = None

    @classmethod
    def setUpClass(cls):
        cls.label, server_cls, kw, cls.dynamic, needs = cls.row
        cls.start(server_cls, kw, needs)

    def tearDown(self):
        bad = [line for line in self.shim.logs().splitlines()
               if compat.CRASH_RE.search(line)]
        self.assertEqual(bad, [], "%s: the shimmed server's logs" %
                         self.label)

    def requests(self):
        rs = [Request("GET", tt.STATIC), Request("GET", "/index.html"),
              Request("HEAD", tt.STATIC), Request("GET", "/no-such-file"),
              Request("GET", tt.STATIC, headers=[
                  ("If-None-Match", '"nm-AAAAAAAAAAAAAAAAAAAAAA"')])]
        if self.dynamic:
            rs.append(Request("GET", self.dynamic))
        rs.append(Request("GET", "/dir/a.txt", headers=[
            ("Connection", "close")]))
        return rs

    def check_exchange(self, pipelined):
        reqs = self.requests()
        bex = ts.tls_exchange(self.bare.port, reqs, pipelined=pipelined,
                              timeout=10)
        sex = ts.tls_exchange(self.shim.port, reqs, pipelined=pipelined,
                              timeout=10)
        self.assertIsNone(bex.error, bex)
        self.assertIsNone(sex.error, sex)
        # python's server closes after its 404 (Connection: close)
        self.assertGreaterEqual(len(bex.final()), 4, bex.raw[:600])
        self.assertEqual(len(sex.final()), len(bex.final()), sex.raw[:600])
        for req, b, s in zip(reqs, bex.final(), sex.final()):
            same_or_tagged(self, b, s, "%s %s" % (req.method, req.target))
        self.assertEqual(sex.leftover, bex.leftover)

    def test_keepalive_responses_same_as_bare(self):
        self.check_exchange(pipelined=False)

    def test_pipelined_responses_same_as_bare(self):
        self.check_exchange(pipelined=True)

    def test_20mib_body_byte_for_byte(self):
        b, bex = tt.request(self.bare.port, "GET", tt.BIG, close=True,
                            timeout=30)
        s, sex = tt.request(self.shim.port, "GET", tt.BIG, close=True,
                            timeout=30)
        self.assertEqual(len(b.body), tt.BIG_BYTES)
        self.assertEqual(hashlib.sha256(s.body).digest(),
                         hashlib.sha256(b.body).digest())
        self.assertIsNone(s.first("ETag"))
        self.assertEqual(wire.normalize(sex), wire.normalize(bex))

    def test_hooks_found_openssl_and_left_the_ciphertext_alone(self):
        tt.request(self.shim.port, "GET", tt.STATIC, close=True)
        log = self.shim_log_text()
        self.assertRegex(log, r"OpenSSL 0x3[0-9a-f]{7} found")
        self.assertIn(FOLLOWED, log)
        if self.server_cls.__mro__[1] is not ts.ApacheTlsServer:
            # Apache's BIOs name no socket to OpenSSL (docs/tls.md)
            self.assertNotIn(CIPHERTEXT_PARSED, log)


for _i, _row in enumerate(SERVERS):
    _name = "Passthrough_%02d_%s" % (_i, "".join(
        ch if ch.isalnum() else "_" for ch in _row[0]))
    globals()[_name] = type(_name, (PassthroughCase, unittest.TestCase),
                            {"row": _row})


class AlpnH2SetAside(Pair, unittest.TestCase):
    """python's server selects h2 when offered and speaks HTTP/1.1 all the
    same: the shim sets the connection aside for its ALPN."""

    @classmethod
    def setUpClass(cls):
        cls.start(ts.PythonTlsServer, {"alpn": ["h2", "http/1.1"]},
                  ["python3"])

    def test_h2_connection_set_aside_and_untouched(self):
        h2 = ts.client_context(alpn=["h2"])
        reqs = [Request("GET", tt.STATIC), Request("GET", tt.STATIC, headers=[
            ("Connection", "close")])]
        bex = ts.tls_exchange(self.bare.port, reqs, ctx=h2, timeout=10)
        sex = ts.tls_exchange(self.shim.port, reqs, ctx=h2, timeout=10)
        self.assertEqual(sex.alpn, "h2")
        self.assertEqual(wire.normalize(sex), wire.normalize(bex))
        self.assertIn("ALPN selected a protocol other than HTTP/1.x",
                      self.shim_log_text())


class EarlyDataSetAside(Pair, unittest.TestCase):
    """nginx with `ssl_early_data on` and openssl s_client resuming with
    0-RTT: a connection that sent early data is set aside (RFC 8470: it
    can be replayed), its response untouched."""

    @classmethod
    def setUpClass(cls):
        class N(ts.NginxTlsServer):
            def write_conf(self):
                super().write_conf()
                with open(self.conf_path()) as f:
                    conf = f.read()
                with open(self.conf_path(), "w") as f:
                    f.write(conf.replace("ssl_session_tickets on;",
                                         "ssl_session_tickets on; "
                                         "ssl_early_data on;"))
        cls.start(N, {}, ["nginx"])

    def test_early_data_connection_set_aside(self):
        sess = os.path.join(self.base, "session.pem")
        req = Request("GET", tt.STATIC, headers=[
            ("If-None-Match", '"nm-AAAAAAAAAAAAAAAAAAAAAA"'),
            ("Connection", "close")]).to_bytes()
        early = os.path.join(self.base, "early.txt")
        with open(early, "wb") as f:
            f.write(req)
        port = self.shim.port
        subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-quiet", "-sess_out", sess],
                       input=req, capture_output=True, timeout=10)
        # -ign_eof: read until the server closes (Connection: close), not
        # only until stdin ends, or the answer may come after s_client left.
        p = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % port, "-sess_in", sess,
                            "-early_data", early, "-ign_eof"], input=b"",
                           capture_output=True, timeout=10)
        said = p.stdout + p.stderr
        if b"Early data was accepted" not in said:
            self.skipTest("nginx did not accept the early data: %r" %
                          said[-300:])
        self.assertIn(b"HTTP/1.1 200 OK", p.stdout)
        self.assertIn("early data (0-RTT) is replayable",
                      self.shim_log_text())


if __name__ == "__main__":
    prog = unittest.main(verbosity=2, exit=False)
    if not prog.result.wasSuccessful():
        sys.exit(1)
    for test, why in prog.result.skipped:
        print("SKIPPED: %s" % why)
    sys.exit(77 if prog.result.skipped else 0)
