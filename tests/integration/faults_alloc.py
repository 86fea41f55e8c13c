"""Allocation failures inside the shim (sanitizer build only: alloc.h's
NOTMOD_TEST_FAIL_ALLOC=N fails every Nth allocation the shim makes).

Whatever fails, every response must be one of: the bare server's bytes,
the same with notmod's ETag line added, or a correct 304 where the request
allows one. The server keeps running and logs nothing wrong (ASan
included). Also with nginx and python serving HTTPS with their own OpenSSL
(the shim inside their TLS)."""

import os
import shutil
import tempfile
import unittest

import docroots
import model
import tls_servers
from model import SYNTH_ETAG_RE, check_304_shape
from servers import BusyboxServer, NginxServer, PythonServer
from wire import Request, insert_line_before_end, normalize_head
from wire import exchange as plain


def requests_for(tag):
    hs = [[], [("If-None-Match", tag)], [("If-None-Match", '"other"')],
          [("If-Modified-Since", "Sun, 06 Nov 2050 08:49:37 GMT")]]
    return [(p, h) for p in ("/s.txt", "/big.bin", "/cgi-bin/static.sh",
                             "/cgi-bin/chunked.sh", "/cgi-bin/clen.sh")
            for h in hs]


class AllocFaults(unittest.TestCase):
    server_classes = [(BusyboxServer, {}), (NginxServer, {"validators": "off"}),
                      (PythonServer, {}), (tls_servers.NginxTlsServer, {}),
                      (tls_servers.PythonTlsServer, {})]

    def check(self, bare, shim, req_headers):
        if shim.status == 304 and bare.status != 304:
            self.assertTrue(any(k == "If-None-Match" for k, _ in req_headers),
                            "304 without a matching If-None-Match")
            self.assertEqual(check_304_shape(shim, bare, synth_line_of(shim)),
                             [])
            return
        self.assertEqual(shim.status, bare.status)
        self.assertEqual(shim.body, bare.body)
        bh, sh = normalize_head(bare.head_raw), normalize_head(shim.head_raw)
        if sh != bh:
            tags = [l for l in shim.header_lines if SYNTH_ETAG_RE.match(l)]
            self.assertEqual(len(tags), 1, (bh, sh))
            self.assertEqual(sh, normalize_head(insert_line_before_end(
                bare.head_raw, model.synth_block_of(shim, bare))))

    def test_every_nth_allocation_fails(self):
        base = tempfile.mkdtemp(prefix="nm-faults-")
        self.addCleanup(shutil.rmtree, base, True)
        docroot = docroots.make_docroot(base, cgi=True)
        os.makedirs(os.path.join(base, "pki"))
        cert, key = tls_servers.make_cert(os.path.join(base, "pki"))
        for every in ("2", "3", "7"):
            for cls, kw in self.server_classes:
                is_tls = getattr(cls, "scheme", "http") == "https"
                if is_tls:
                    cls = type(cls.__name__, (cls,), {"cert": cert,
                                                      "key": key})
                exchange = tls_servers.tls_exchange if is_tls else plain
                with self.subTest(server=cls.name, every=every):
                    bare = cls(docroot, shim=False, tag="-bare", **kw).start()
                    self.addCleanup(bare.cleanup)
                    shim = cls(docroot, shim=True, tag="-shim", shim_env={
                        "NOTMOD_TEST_FAIL_ALLOC": every}, **kw).start()
                    self.addCleanup(shim.cleanup)
                    probe = exchange(shim.port, [Request("GET", "/s.txt")])
                    tag = probe.final()[0].first("ETag") or '"none"'
                    for path, hs in requests_for(tag):
                        if (issubclass(cls, NginxServer) and
                                path.startswith("/cgi")):
                            continue
                        b = exchange(bare.port, [Request("GET", path,
                                                         headers=hs)])
                        s = exchange(shim.port, [Request("GET", path,
                                                         headers=hs)])
                        self.assertIsNone(s.error, (path, hs, s))
                        self.check(b.final()[0], s.final()[0], hs)
                    # still alive, nothing wrong in its log
                    ok = exchange(shim.port, [Request("GET", "/s.txt")])
                    self.assertEqual(ok.final()[0].status, 200)
                    self.assertEqual(shim.error_lines(), [])
                    shim.cleanup()
                    bare.cleanup()


def synth_line_of(resp):
    return model.synth_line_of(resp)


if __name__ == "__main__":
    unittest.main()
