"""Fidelity: the same request sequences against a bare server and the same
server under libnotmod.so (same docroot) give byte-identical responses
after Date normalization, except exactly where the shim must substitute a
304 (there the 304's shape is checked against the bare 200).

A 200 without a server ETag may or may not gain one `ETag: "nm-..."` line
just before the empty line (test_shim_synth.py says where it must); nothing
else may differ.  Sequences come from sequences.build(): >= 60 per server."""

import os
import tempfile
import unittest

import docroots
import sequences
import servers
from compare import compare_sequence, run_sequence
from servers import BusyboxServer, LighttpdServer, NginxServer, PythonServer
from wire import Request, exchange, parse_http_date

MIN_SEQUENCES = 60


class FidelityMixin:
    can_substitute = True  # or a predicate on the request
    server_cls = None
    server_kw = {}
    cgi_paths = []          # [(path, etag the CGI prints or None)]
    extra_paths = []
    post_path = "/s.txt"

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-fid-")
        cls.docroot = docroots.make_docroot(cls.base, cgi=bool(cls.cgi_paths))
        servers.start_pair(cls)

    @classmethod
    def tearDownClass(cls):
        servers.stop_pair(cls)

    def probe(self, path):
        ex = exchange(self.bare.port, [Request("GET", path, headers=[
            ("Connection", "close")])])
        self.assertIsNone(ex.error, ex)
        r = ex.final()[0]
        return r

    def profile(self):
        small, big = self.probe("/s.txt"), self.probe("/big.bin")
        lm = parse_http_date(small.first("Last-Modified") or "")
        return {
            "etag": small.first("ETag"),
            "lm": lm,
            "big_etag": big.first("ETag"),
            "extra_paths": self.extra_paths,
            "cgi": self.cgi_paths,
            "post_path": self.post_path,
        }

    def test_sequences_match_bare_server(self):
        seqs = sequences.build(self.profile())
        self.assertGreaterEqual(len(seqs), MIN_SEQUENCES)
        failed, substituted, expected = [], 0, 0
        for seq in seqs:
            with self.subTest(seq=seq.name):
                bare_pairs, bare_ex = run_sequence(self.bare, seq)
                for ex in bare_ex:
                    self.assertIsNone(ex.error, "harness/bare server: %r %r"
                                      % (seq, ex))
                shim_pairs, _ = run_sequence(self.shim, seq)
                out = compare_sequence(seq, bare_pairs, shim_pairs,
                                       synth="optional",
                                       can_substitute=self.can_substitute)
                substituted += out.substituted
                expected += out.expected_304
                if out.problems:
                    failed.append(seq.name)
                self.assertFalse(out.problems, "%r\n%s" % (
                    seq, "\n".join(out.problems)))
        print("\n%s: %d sequences, %d failed, %d substitutions expected, "
              "%d seen correct" % (self.bare.name, len(seqs), len(failed),
                                   expected, substituted))

    def test_zz_logs_clean(self):
        # runs last (alphabetical): neither instance logged an error
        for s in (self.bare, self.shim):
            self.assertEqual(s.error_lines(), [], "%s log:\n%s" % (
                s.name, s.logs()[-3000:]))


class PythonFidelity(FidelityMixin, unittest.TestCase):
    server_cls = PythonServer
    extra_paths = [("/dir/", "GET"), ("/dir", "GET"), ("/index.html", "GET"),
                   ("/empty.txt", "GET"), ("/", "HEAD")]


class PythonCgiFidelity(FidelityMixin, unittest.TestCase):
    """HTTP/1.0, one request per connection; the CGI's status line comes
    from the server process, the rest from the exec'd script, which the
    shim relays through a pipe so it sees (and can answer) the response."""
    server_cls = PythonServer
    server_kw = {"cgi": True}
    cgi_paths = [("/cgi-bin/v.sh", '"v1"'), ("/cgi-bin/v.sh?noetag", None),
                 ("/cgi-bin/lf.sh", '"lf1"'), ("/cgi-bin/static.sh", None)]
    extra_paths = [("/index.html", "GET")]
    post_path = "/cgi-bin/post.sh"


class BusyboxFidelity(FidelityMixin, unittest.TestCase):
    server_cls = BusyboxServer
    cgi_paths = [("/cgi-bin/v.sh", '"v1"'), ("/cgi-bin/v.sh?noetag", None),
                 ("/cgi-bin/lf.sh", '"lf1"'), ("/cgi-bin/static.sh", None),
                 ("/cgi-bin/chunked.sh", None), ("/cgi-bin/clen.sh", None)]
    extra_paths = [("/index.html", "GET"), ("/empty.txt", "GET"),
                   ("/dir/a.txt", "HEAD")]
    post_path = "/cgi-bin/post.sh"


class NginxFidelity(FidelityMixin, unittest.TestCase):
    server_cls = NginxServer
    server_kw = {"validators": "on", "workers": 2}
    extra_paths = [("/dir", "GET"), ("/index.html", "GET"),
                   ("/empty.txt", "GET"), ("/", "HEAD")]


@unittest.skipUnless(servers.have("lighttpd"), "lighttpd not installed")
class LighttpdFidelity(FidelityMixin, unittest.TestCase):
    server_cls = LighttpdServer
    extra_paths = [("/index.html", "GET"), ("/empty.txt", "GET"),
                   ("/dir/a.txt", "HEAD")]


if __name__ == "__main__":
    unittest.main()
