"""The TLS suite: servers that serve HTTPS with their own libssl (OpenSSL
3), bare and under the shim side by side, a self-signed certificate made
for the run (tls_servers.py). Every case compares what the client reads
after decryption:

  static / dynamic   GET: the bare 200 plus exactly one `ETag: "nm-..."`
                     line (a Date when the server sent none); If-None-Match
                     with it, and If-Modified-Since with the server's
                     Last-Modified, give a 304 of the right shape
  keep-alive         200, 304, 200 on one TLS connection
  pipelined          200, 304, 200 sent in one TLS record
  20 MiB             a body over NOTMOD_HOLD_MAX passes untagged, byte for
                     byte
  slow reader        a client that stops reading with a 3 MiB body (held,
                     tagged) due, then a 304 and the body again pipelined
                     behind it: every write the socket refuses is retried
                     (WANT_WRITE on the non-blocking servers) and every byte
                     arrives
  TLS 1.2 / 1.3      the tag and the 304 with each version pinned
  resumption         a resumed session (ticket or id) gets the 304 too
  curl, s_client     curl over https and openssl s_client see the tag / 304
and, once: a client offering only h2 to a server that selects it passes
untouched; a TLS 1.2 client renegotiating in the middle of a connection
still gets its 304 after it; nginx with kTLS (SSL_sendfile) where the
kernel has the `tls` module, else skipped with the reason.

A row whose package is missing is skipped and says which. At the end the
suite prints the matrix it measured (the README's HTTPS rows).
"""

import hashlib
import os
import re
import shutil
import ssl
import sys
import tempfile
import time
import unittest

import compat_servers as cs
import daemon_util as du
import docroots
import model
import servers
import wire
import test_compat_servers as compat
import tls_servers as ts
from wire import Request

# (label, server class, its arguments, dynamic path or None, Debian
#  packages, files or binaries the row needs)
SERVERS = [
    ("Apache 2.4 prefork + mod_cgi, mod_ssl", ts.ApacheTlsServer,
     {"dynamic": "cgi"}, "/cgi-bin/stream.sh", ["apache2"],
     ["apache2", cs.APACHE_MODULES + "/mod_ssl.so",
      cs.APACHE_MODULES + "/mod_cgi.so"]),
    ("Apache 2.4 event + mod_cgid, mod_ssl", ts.ApacheTlsServer,
     {"dynamic": "cgid"}, "/cgi-bin/stream.sh", ["apache2"],
     ["apache2", cs.APACHE_MODULES + "/mod_ssl.so",
      cs.APACHE_MODULES + "/mod_cgid.so"]),
    ("nginx ssl (sendfile on)", ts.NginxTlsServer, {}, None,
     ["nginx-light"], ["nginx"]),
    ("lighttpd mod_openssl + mod_cgi", ts.LighttpdTlsServer, {},
     "/cgi-bin/stream.sh", ["lighttpd", "lighttpd-mod-openssl"],
     ["lighttpd", "/usr/lib/lighttpd/mod_openssl.so"]),
    ("python3 http.server + ssl", ts.PythonTlsServer, {}, "/app/stream",
     ["python3"], ["python3"]),
]

STATIC = "/s.txt"
BIG = "/big20.bin"
BIG_BYTES = 20 * 1024 * 1024
MID = "/mid3.bin"
MID_BYTES = 3 * 1024 * 1024
HOLD_MS = 3000
COLUMNS = ["static tag", "static 304", "dynamic tag", "dynamic 304",
           "keep-alive", "pipelined", "slow reader", "20 MiB untagged", "TLS 1.2",
           "TLS 1.3", "resumed", "curl", "s_client"]
MATRIX = {}
EXTRA = {}  # once-only cases -> result, printed under the matrix

V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


def missing_of(needs):
    return [n for n in needs if not ts.have(n)]


def make_fixture(base):
    """The compat docroot plus a 20 MiB and a 3 MiB file, and the
    certificate."""
    doc = cs.make_docroot(base)
    docroots.write_file(os.path.join(doc, BIG.lstrip("/")),
                       docroots.deterministic_bytes(BIG_BYTES, 9), docroots.T0)
    docroots.write_file(os.path.join(doc, MID.lstrip("/")),
                        docroots.deterministic_bytes(MID_BYTES, 5), docroots.T0)
    pki = os.path.join(base, "pki")
    os.makedirs(pki)
    return doc, ts.make_cert(pki)


def request(port, method, path, headers=(), close=False, ctx=None,
            session=None, timeout=10):
    """One request on a fresh TLS connection; (final response, exchange).
    close: ask the server to close, and read to its close."""
    hs = list(headers) + ([("Connection", "close")] if close else [])
    ex = ts.tls_exchange(port, [Request(method, path, "HTTP/1.1", hs)],
                         ctx=ctx, session=session, timeout=timeout,
                         until_eof=close)
    finals = ex.final()
    if ex.error or not finals:
        raise AssertionError("%s %s over TLS: %s (raw %r)" % (
            method, path, ex.error or "no response", ex.raw[:300]))
    return finals[-1], ex


class TlsCase:
    """One row of SERVERS (mixed into a TestCase per row below)."""

    row = None

    @classmethod
    def setUpClass(cls):
        (cls.label, cls.server_cls, kw, cls.dynamic, cls.packages,
         needs) = cls.row
        MATRIX.setdefault(cls.label, {})
        missing = missing_of(needs + ["openssl"])
        if missing:
            MATRIX[cls.label] = {c: "not installed" for c in COLUMNS}
            raise unittest.SkipTest("%s: package %s not installed (missing "
                                    "%s)" % (cls.label, " ".join(
                                        cls.packages), ", ".join(missing)))
        if not servers.NO_SHIM and not os.path.exists(servers.SHIM_PATH):
            raise RuntimeError(servers.shim_missing_message())
        cls.base = tempfile.mkdtemp(prefix="nm-tls-")
        os.chmod(cls.base, 0o755)
        cls.docroot, (cert, key) = make_fixture(cls.base)
        cls.server_cls = type(cls.server_cls.__name__, (cls.server_cls,),
                              {"cert": cert, "key": key})
        cls.server_kw = dict(kw, shim_env={"NOTMOD_HOLD_MS": str(HOLD_MS)})
        servers.start_pair(cls)

    @classmethod
    def tearDownClass(cls):
        servers.stop_pair(cls)

    def tearDown(self):
        bad = [line for line in self.shim.logs().splitlines()
               if compat.CRASH_RE.search(line)]
        self.assertEqual(bad, [], "%s: the shimmed server's logs" %
                         self.label)

    def cell(self, column, value):
        MATRIX[self.label][column] = value

    # -- the shimmed 200 is the bare 200 plus our tag -----------------------

    def tagged_200(self, path, ctx=None):
        """GET path over TLS on both; asserts the shimmed 200 is the bare
        one plus the shim's lines. Returns (bare 200, shimmed 200, tag)."""
        b, _ = request(self.bare.port, "GET", path, ctx=ctx)
        s, sex = request(self.shim.port, "GET", path, ctx=ctx)
        self.assertEqual(b.status, 200, "bare %r" % b.head_raw)
        self.assertEqual(s.status, 200, "shim %r" % s.head_raw)
        self.assertEqual(s.body, b.body, "%s: bodies differ" % path)
        self.assertIsNone(b.first("ETag"), "%s: validators are off on the "
                          "bare server" % path)
        block = model.synth_block_of(s, b)
        self.assertIsNotNone(block, "%s over TLS (%s): no `ETag: \"nm-...\"`"
                             " added: %r" % (path, sex.version, s.head_raw))
        want = wire.normalize_head(b.head_raw)
        got = compat.head_without(s, block)
        if b.framing != s.framing:
            want, got = compat.drop_framing(want), compat.drop_framing(got)
        self.assertEqual(got, want, "%s: the shimmed head is not the bare "
                         "head plus the shim's lines" % path)
        return b, s, s.first("ETag")

    def check_304(self, path, b200, s200, headers, ctx=None, session=None):
        """A 304 from the shimmed server over TLS: the server's own passed
        through, or ours with the 200's tag. 'server's' or 'ours'."""
        r, ex = request(self.shim.port, "GET", path, headers, ctx=ctx,
                        session=session)
        self.assertEqual(r.status, 304, "%s %r over TLS: %r" % (
            path, headers, ex.raw[:400]))
        b, bex = request(self.bare.port, "GET", path, headers, ctx=ctx)
        if b.status == 304:
            want = wire.normalize(bex)
            tag = s200.first("ETag")
            if b.first("ETag") is None and r.first("ETag") is not None:
                # the shim added the 200's tag (its file's), nothing else
                self.assertEqual(r.first("ETag"), tag, r.head_raw)
                want = wire.normalize(wire.insert_line_before_end(
                    bex.raw, b"ETag: " + tag.encode()))
                self.assertEqual(wire.normalize(ex), want)
                return "server's, the 200's ETag added"
            self.assertEqual(wire.normalize(ex), want)
            return "server's"
        probs = model.check_304_shape(r, b200, model.synth_line_of(s200))
        self.assertEqual(probs, [], "%s: %r" % (path, r.head_raw))
        self.assertEqual(r.first("ETag"), s200.first("ETag"))
        return "ours"

    def test_static_tagged_and_revalidated(self):
        self.cell("static tag", "✗")
        self.cell("static 304", "✗")
        b, s, tag = self.tagged_200(STATIC)
        self.cell("static tag", "✓")
        inm = self.check_304(STATIC, b, s, [("If-None-Match", tag)])
        cell = "✓" if inm == "ours" else inm
        lm = b.first("Last-Modified")
        if lm is not None:
            ims = self.check_304(STATIC, b, s, [("If-Modified-Since", lm)])
            if ims != inm:
                cell += " (IMS: %s)" % ims
        self.cell("static 304", cell)

    def test_dynamic_tagged_and_revalidated(self):
        if self.dynamic is None:
            self.cell("dynamic tag", "n/a")
            self.cell("dynamic 304", "n/a")
            return
        self.cell("dynamic tag", "✗")
        self.cell("dynamic 304", "✗")
        b, s, tag = self.tagged_200(self.dynamic)
        self.cell("dynamic tag", "✓")
        self.check_304(self.dynamic, b, s, [("If-None-Match", tag)])
        self.cell("dynamic 304", "✓")

    def test_keepalive_after_304(self):
        self.cell("keep-alive", "✗")
        _, s, tag = self.tagged_200(STATIC)
        reqs = [Request("GET", STATIC), Request("GET", STATIC, headers=[
            ("If-None-Match", tag)]), Request("GET", STATIC, headers=[
                ("Connection", "close")])]
        ex = ts.tls_exchange(self.shim.port, reqs, timeout=10)
        self.assertIsNone(ex.error, ex)
        finals = ex.final()
        self.assertEqual([r.status for r in finals], [200, 304, 200],
                         ex.raw[:800])
        self.assertEqual([r.first("ETag") for r in finals], [tag] * 3)
        self.assertEqual(finals[2].body, s.body)
        self.assertEqual(ex.leftover, b"")
        self.cell("keep-alive", "✓")

    def test_pipelined(self):
        self.cell("pipelined", "✗")
        _, s, tag = self.tagged_200(STATIC)
        reqs = [Request("GET", STATIC),
                Request("GET", STATIC, headers=[("If-None-Match", tag)]),
                Request("GET", "/index.html", headers=[
                    ("Connection", "close")])]
        bex = ts.tls_exchange(self.bare.port, reqs, pipelined=True,
                              timeout=10)
        ex = ts.tls_exchange(self.shim.port, reqs, pipelined=True,
                             timeout=10)
        self.assertIsNone(ex.error, ex)
        finals = ex.final()
        self.assertEqual([r.status for r in finals], [200, 304, 200],
                         ex.raw[:800])
        self.assertEqual(finals[0].first("ETag"), tag)
        self.assertEqual(finals[1].first("ETag"), tag)
        self.assertEqual(finals[2].body, bex.final()[2].body)
        self.assertEqual(ex.leftover, b"")
        self.cell("pipelined", "✓")

    def test_slow_reader_gets_every_byte(self):
        self.cell("slow reader", "✗")
        _, s, tag = self.tagged_200(MID)
        reqs = [Request("GET", MID),
                Request("GET", MID, headers=[("If-None-Match", tag)]),
                Request("GET", MID, headers=[("Connection", "close")])]
        ex = ts.slow_reader_exchange(self.shim.port, reqs)
        self.assertIsNone(ex.error, ex.error)
        finals = ex.final()
        self.assertEqual([r.status for r in finals], [200, 304, 200],
                         ex.raw[:300])
        self.assertEqual([r.first("ETag") for r in finals], [tag] * 3)
        for r in (finals[0], finals[2]):
            self.assertEqual(hashlib.sha256(r.body).digest(),
                             hashlib.sha256(s.body).digest(),
                             "a slow reader's body differs")
        self.assertEqual(ex.leftover, b"")
        self.cell("slow reader", "✓")

    def test_20mib_over_hold_limit_passes_untagged(self):
        self.cell("20 MiB untagged", "✗")
        b, bex = request(self.bare.port, "GET", BIG, close=True, timeout=30)
        s, sex = request(self.shim.port, "GET", BIG, close=True, timeout=30)
        self.assertEqual(len(b.body), BIG_BYTES)
        self.assertEqual(hashlib.sha256(s.body).digest(),
                         hashlib.sha256(b.body).digest(),
                         "20 MiB body differs over TLS")
        self.assertIsNone(s.first("ETag"), s.head_raw)
        self.assertEqual(wire.normalize(sex), wire.normalize(bex))
        self.cell("20 MiB untagged", "✓")

    def test_tls12_and_tls13(self):
        for v, col in ((V12, "TLS 1.2"), (V13, "TLS 1.3")):
            self.cell(col, "✗")
        for v, col in ((V12, "TLS 1.2"), (V13, "TLS 1.3")):
            ctx = ts.client_context(v)
            b, s, tag = self.tagged_200(STATIC, ctx=ctx)
            self.check_304(STATIC, b, s, [("If-None-Match", tag)], ctx=ctx)
            self.cell(col, "✓")

    def test_session_resumption(self):
        self.cell("resumed", "✗")
        for v in (V12, V13):
            ctx = ts.client_context(v)
            b, s, tag = self.tagged_200(STATIC, ctx=ctx)
            first = ts.tls_exchange(self.shim.port, [Request(
                "GET", "/index.html")], ctx=ctx, timeout=10)
            self.assertIsNotNone(first.session, "no session to resume")
            r, ex = request(self.shim.port, "GET", STATIC,
                            [("If-None-Match", tag)], ctx=ctx,
                            session=first.session)
            self.assertTrue(ex.session_reused, "%s: the server did not "
                            "resume the session" % ex.version)
            self.assertEqual(r.status, 304, "resumed %s: %r" % (
                ex.version, ex.raw[:400]))
            self.assertEqual(r.first("ETag"), tag)
        self.cell("resumed", "✓")

    def test_curl_https(self):
        self.cell("curl", "✗")
        st, bh, bb, _ = ts.curl(self.bare.url(STATIC))
        st2, sh, sb, proto = ts.curl(self.shim.url(STATIC))
        self.assertEqual((st, st2, proto), (200, 200, "1.1"))
        self.assertEqual(sb, bb)
        m = re.search(rb'(?im)^ETag: ("nm-[A-Za-z0-9_-]{22}")\r$', sh)
        self.assertIsNotNone(m, "curl over https: no nm- ETag: %r" % sh)
        st3, h3, b3, _ = ts.curl(self.shim.url(STATIC), [
            ("If-None-Match", m.group(1).decode())])
        self.assertEqual(st3, 304, h3)
        self.assertEqual(b3, b"")
        self.cell("curl", "✓")

    def test_openssl_s_client(self):
        self.cell("s_client", "✗")
        req = Request("GET", STATIC, headers=[("Connection", "close")])
        out, err = ts.s_client(self.shim.port, [req.to_bytes()])
        rs, _ = wire.parse_responses(out, ["GET"])
        self.assertTrue(rs, "s_client read nothing: %r %r" % (out[:300],
                                                               err[-300:]))
        tag = rs[0].first("ETag")
        self.assertTrue(tag and tag.startswith('"nm-'), rs[0].head_raw)
        req = Request("GET", STATIC, headers=[("If-None-Match", tag),
                                              ("Connection", "close")])
        out, err = ts.s_client(self.shim.port, [req.to_bytes()])
        rs, _ = wire.parse_responses(out, ["GET"])
        self.assertEqual([r.status for r in rs], [304], out[:400])
        self.cell("s_client", "✓")


for _i, _row in enumerate(SERVERS):
    _name = "Tls_%02d_%s" % (_i, "".join(ch if ch.isalnum() else "_"
                                         for ch in _row[0]))
    globals()[_name] = type(_name, (TlsCase, unittest.TestCase),
                            {"row": _row})


class PairCase(unittest.TestCase):
    """A bare and a shimmed instance of one server made by make_pair."""

    server_cls = None
    server_kw = {}
    needs = []

    @classmethod
    def setUpClass(cls):
        missing = missing_of(cls.needs + ["openssl"])
        if missing:
            raise unittest.SkipTest("missing %s" % ", ".join(missing))
        cls.base = tempfile.mkdtemp(prefix="nm-tls-")
        os.chmod(cls.base, 0o755)
        cls.docroot, (cert, key) = make_fixture(cls.base)
        cls.server_cls = type(cls.base_cls.__name__, (cls.base_cls,),
                              {"cert": cert, "key": key})
        cls.server_kw = dict(cls.extra_kw,
                             shim_env={"NOTMOD_HOLD_MS": str(HOLD_MS)})
        servers.start_pair(cls)

    @classmethod
    def tearDownClass(cls):
        servers.stop_pair(cls)


class H2ViaPython(PairCase):
    """python's server selects h2 when offered (it speaks HTTP/1.1 all
    the same): the shim must not touch a connection whose ALPN says h2,
    even when the bytes inside look like HTTP/1.1."""

    base_cls = ts.PythonTlsServer
    extra_kw = {"alpn": ["h2", "http/1.1"]}
    needs = ["python3"]

    def test_client_offering_only_h2_passes_untouched(self):
        EXTRA["h2 only (python, ALPN h2 selected)"] = "✗"
        # the tag the shim gives over http/1.1 (if it gives one)
        r, _ = request(self.shim.port, "GET", STATIC,
                       ctx=ts.client_context(alpn=["http/1.1"]))
        tag = r.first("ETag") or '"nm-AAAAAAAAAAAAAAAAAAAAAA"'
        h2 = ts.client_context(alpn=["h2"])
        reqs = [Request("GET", STATIC), Request("GET", STATIC, headers=[
            ("If-None-Match", tag), ("Connection", "close")])]
        bex = ts.tls_exchange(self.bare.port, reqs, ctx=h2, timeout=10)
        sex = ts.tls_exchange(self.shim.port, reqs, ctx=h2, timeout=10)
        self.assertEqual((bex.alpn, sex.alpn), ("h2", "h2"))
        self.assertEqual([r.status for r in sex.final()], [200, 200])
        self.assertEqual(wire.normalize(sex), wire.normalize(bex),
                         "an h2 connection was touched")
        EXTRA["h2 only (python, ALPN h2 selected)"] = "✓ untouched"


class H2ViaNginx(PairCase):
    """nginx with http2 on its TLS listener and curl --http2: h2 frames,
    never an nm- tag."""

    base_cls = ts.NginxTlsServer
    extra_kw = {"http2": True}
    needs = ["nginx", "curl"]

    def test_curl_http2_passes_untouched(self):
        EXTRA["h2 (nginx http2, curl --http2)"] = "✗"
        bs, bh, bb, bp = ts.curl(self.bare.url(STATIC), http2=True)
        ss, sh, sb, sp = ts.curl(self.shim.url(STATIC), http2=True)
        self.assertEqual((bp, sp), ("2", "2"))
        self.assertEqual((bs, ss), (200, 200))
        self.assertEqual(sb, bb)
        self.assertEqual(wire.normalize_head(sh),
                         wire.normalize_head(bh))
        self.assertNotIn(b'"nm-', sh)
        EXTRA["h2 (nginx http2, curl --http2)"] = "✓ untouched"


class Renegotiation(PairCase):
    """A TLS 1.2 client renegotiates in the middle of a keep-alive
    connection (openssl s_client's R command; python's server allows a
    client's renegotiation, which OpenSSL 3 refuses by default): the
    requests before and after it are followed alike."""

    base_cls = ts.PythonTlsServer
    extra_kw = {"allow_reneg": True}
    needs = ["python3"]

    def run_reneg(self, port, tag):
        first = Request("GET", STATIC)
        second = Request("GET", STATIC, headers=[("If-None-Match", tag),
                                                 ("Connection", "close")])
        out, err = ts.s_client(port, [first.to_bytes(), 1.0, b"R\n", 1.0,
                                      second.to_bytes(), 2.0], tls12=True)
        rs, left = wire.parse_responses(out, ["GET", "GET"])
        return rs, left, out, err

    def test_renegotiation_mid_connection(self):
        EXTRA["TLS 1.2 renegotiation mid-connection (python)"] = "✗"
        r, _ = request(self.shim.port, "GET", STATIC, ctx=ts.client_context(
            V12))
        tag = r.first("ETag")
        self.assertIsNotNone(tag, "no nm- tag over TLS: %r" % r.head_raw)
        rs, left, out, err = self.run_reneg(self.bare.port, tag)
        self.assertIn(b"RENEGOTIATING", err)
        self.assertEqual([x.status for x in rs], [200, 200], out[:400])
        rs, left, out, err = self.run_reneg(self.shim.port, tag)
        self.assertIn(b"RENEGOTIATING", err)
        self.assertEqual([x.status for x in rs], [200, 304], out[:600])
        self.assertEqual([x.first("ETag") for x in rs], [tag, tag])
        EXTRA["TLS 1.2 renegotiation mid-connection (python)"] = "✓"


class CloseDelimitedPython(PairCase):
    """python's server ends a body without length or chunks by closing its
    socket, with no SSL_shutdown (the ssl module frees the SSL as it shuts
    the socket down): the shim holds such a body for its tag and must send
    it through the SSL before either goes."""

    base_cls = ts.PythonTlsServer
    extra_kw = {}
    needs = ["python3"]

    def test_close_delimited_body_tagged_and_revalidated(self):
        what = "close-delimited body, socket closed without SSL_shutdown " \
               "(python)"
        EXTRA[what] = "✗"
        b, _ = request(self.bare.port, "GET", "/app/close", close=True)
        s, _ = request(self.shim.port, "GET", "/app/close", close=True)
        self.assertEqual((b.status, s.status), (200, 200))
        self.assertEqual(b.framing, "close")
        self.assertEqual(s.body, b.body)
        self.assertGreater(len(b.body), 0)
        tag = s.first("ETag")
        self.assertTrue(tag and tag.startswith('"nm-'), s.head_raw)
        r, ex = request(self.shim.port, "GET", "/app/close",
                        [("If-None-Match", tag)], close=True)
        self.assertEqual(r.status, 304, ex.raw[:300])
        self.assertIn("close", (r.first("Connection") or "").lower())
        EXTRA[what] = "✓"


class Ktls(PairCase):
    """nginx with `ssl_conf_command Options KTLS`: bodies go through
    SSL_sendfile, which the shim follows like sendfile."""

    base_cls = ts.NginxTlsServer
    extra_kw = {"ktls": True}
    needs = ["nginx"]

    @classmethod
    def setUpClass(cls):
        why = ts.ktls_why()
        if why is not None:
            EXTRA["nginx kTLS (SSL_sendfile)"] = "skipped: " + why
            raise unittest.SkipTest("kTLS: " + why)
        super().setUpClass()

    def test_ktls_sendfile_tagged_and_revalidated(self):
        EXTRA["nginx kTLS (SSL_sendfile)"] = "✗"
        b, _ = request(self.bare.port, "GET", STATIC)
        s, _ = request(self.shim.port, "GET", STATIC)
        self.assertEqual(s.body, b.body)
        tag = s.first("ETag")
        self.assertTrue(tag and tag.startswith('"nm-'), s.head_raw)
        r, ex = request(self.shim.port, "GET", STATIC,
                        [("If-None-Match", tag)])
        self.assertEqual(r.status, 304, ex.raw[:300])
        EXTRA["nginx kTLS (SSL_sendfile)"] = "✓"


class TlsCountedByNotmodd(unittest.TestCase):
    """notmodctl status and stats say how many requests and connections a
    shim followed inside the server's own TLS (the events carry it)."""

    @classmethod
    def setUpClass(cls):
        if missing_of(["python3", "openssl"]):
            raise unittest.SkipTest("missing python3 or openssl")
        cls.base = tempfile.mkdtemp(prefix="nm-tlsctr-")
        os.chmod(cls.base, 0o755)
        cls.docroot, (cert, key) = make_fixture(cls.base)
        cls.daemon = du.Daemon(cls.base).start()
        server_cls = type("PythonTls", (ts.PythonTlsServer,),
                          {"cert": cert, "key": key})
        cls.server = server_cls(cls.docroot, shim=True, shim_env={
            "NOTMOD_SOCKET": cls.daemon.socket,
            "NOTMOD_SNAPSHOT": cls.daemon.snapshot}, tag="-ctr").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.daemon.stop()
        shutil.rmtree(cls.base, ignore_errors=True)

    def test_status_and_stats_count_tls(self):
        # two connections: one with two requests, one with one
        ex = ts.tls_exchange(self.server.port, [
            Request("GET", STATIC), Request("GET", "/index.html", headers=[
                ("Connection", "close")])], timeout=10)
        self.assertEqual([r.status for r in ex.final()], [200, 200])
        request(self.server.port, "GET", STATIC, close=True)
        du.wait_for(lambda: self.daemon.stats()["tls_requests"] == 3,
                    what="3 requests counted over TLS")
        s = self.daemon.stats()
        self.assertEqual((s["tls_requests"], s["tls_connections"]), (3, 2))
        rc, out, err = du.ctl("stats", control=self.daemon.control)
        self.assertEqual(rc, 0, err)
        self.assertIn("followed inside TLS   3 requests, 2 connections",
                      out)
        rc, out, err = du.ctl("status", control=self.daemon.control)
        self.assertEqual(rc, 0, err)
        self.assertIn("tls_requests: 3\ntls_connections: 2\n", out)


def print_matrix():
    out = sys.stdout
    out.write("\nHTTPS matrix (measured by this run; shim %s):\n\n" % (
        "absent" if servers.NO_SHIM else servers.SHIM_PATH))
    out.write("| server (Debian 12, HTTPS) | %s |\n" % " | ".join(COLUMNS))
    out.write("|---|%s\n" % ("---|" * len(COLUMNS)))
    for row in SERVERS:
        cells = MATRIX.get(row[0], {})
        out.write("| %s | %s |\n" % (row[0], " | ".join(
            cells.get(c, "-") for c in COLUMNS)))
    out.write("\n")
    for k, v in EXTRA.items():
        out.write("- %s: %s\n" % (k, v))
    out.flush()


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("SKIPPED: openssl (the CLI) is not installed: it makes the "
              "certificate")
        sys.exit(77)
    prog = unittest.main(verbosity=2, exit=False)
    print_matrix()
    if not prog.result.wasSuccessful():
        sys.exit(1)
    for test, why in prog.result.skipped:
        print("SKIPPED: %s" % why)
    # kTLS needs a kernel module: its skip alone does not make the run
    # "skipped" (every other case ran)
    skipped = [w for _, w in prog.result.skipped if not w.startswith("kTLS")]
    sys.exit(77 if skipped else 0)
