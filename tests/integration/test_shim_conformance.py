"""Conformance: through the shim, every case of the decision (docs/, "When
notmod answers 304") that applies to server-sent validators gives the right
status and headers.

Each case is a request against a representation with ETag E and
Last-Modified L (= docroots.T0) and the status RFC 9110 §13.2.2 wants when the
server itself would answer 200: '304' (the shim substitutes) or 'pass' (the
server's response leaves unchanged).  When the bare server answers something
else itself (its own 304, a 412, a 206), the shim must pass it untouched.

Vehicles: servers that send validators but do not answer (all) conditionals,
so the shim's substitution is what is tested:
  - nginx with `if_modified_since off` (still sends ETag and Last-Modified;
    never answers a request that carries If-Modified-Since; it does answer
    If-None-Match alone, so INM cases get an extra earlier IMS, which RFC
    9110 §13.1.3 says to ignore),
  - a busybox CGI and a python CGI printing fixed validators and the
    fields a 304 must keep or drop,
  - nginx (defaults), busybox and python serving static files, which answer
    some conditionals themselves.
"""

import tempfile
import unittest

import docroots
import servers
import wire
from compare import Sequence, compare_sequence, run_sequence
from docroots import T0
from model import NOT_MODIFIED, PASS, expected_action
from servers import BusyboxServer, NginxServer, PythonServer
from wire import Request, asctime_date, http_date, rfc850_date

L, LATER, EARLIER = T0, T0 + 3600, T0 - 3600

# (name, method, headers, expected for a 200, flags)
# {E} = the server's tag, {O} = its opaque-tag without W/ and quotes
# flags: 'E' needs a server ETag; 'strongE' needs a strong one
CASES = [
    ("inm_exact_tag_matches", "GET", [("If-None-Match", "{E}")], "304", "E"),
    ("inm_weak_client_tag_matches_weakly", "GET",
     [("If-None-Match", 'W/"{O}"')], "304", "E"),
    ("inm_list_member_matches", "GET",
     [("If-None-Match", '"a", "{O}"')], "304", "E"),
    ("inm_list_with_tabs_and_spaces", "GET",
     [("If-None-Match", '"a" \t,\t "{O}"')], "304", "E"),
    ("inm_list_with_empty_elements", "GET",
     [("If-None-Match", ', ,"a",, "{O}",')], "304", "E"),
    ("inm_two_field_lines_concatenate", "GET",
     [("If-None-Match", '"a"'), ("If-None-Match", '"{O}"')], "304", "E"),
    ("inm_no_member_matches", "GET", [("If-None-Match", '"a", "b"')],
     "pass", ""),
    ("inm_star_matches_current_representation", "GET",
     [("If-None-Match", "*")], "304", ""),
    ("inm_star_mixed_with_tags_is_invalid", "GET",
     [("If-None-Match", '*, "{O}"')], "pass", ""),
    ("inm_lowercase_w_is_not_weak_prefix", "GET",
     [("If-None-Match", 'w/"{O}"')], "pass", "E"),
    ("inm_unquoted_tag_is_malformed", "GET", [("If-None-Match", "{O}")],
     "pass", "E"),
    ("inm_unterminated_quote_is_malformed", "GET",
     [("If-None-Match", '"{O}')], "pass", "E"),
    ("inm_comma_inside_tag_is_one_tag", "GET",
     [("If-None-Match", '"{O},x"')], "pass", "E"),
    ("inm_empty_tag_is_valid_but_no_match", "GET",
     [("If-None-Match", '""')], "pass", ""),
    ("inm_malformed_member_never_304", "GET",
     [("If-None-Match", '"{O}", bogus')], "pass", "E"),
    ("inm_empty_field_disables_ims", "GET",
     [("If-None-Match", ""), ("If-Modified-Since", http_date(LATER))],
     "pass", ""),
    ("inm_nomatch_wins_over_matching_ims", "GET",
     [("If-None-Match", '"a"'), ("If-Modified-Since", http_date(LATER))],
     "pass", ""),
    ("inm_match_wins_over_failing_ims", "GET",
     [("If-None-Match", "{E}"), ("If-Modified-Since", http_date(EARLIER))],
     "304", "E"),
    ("ims_later_than_lm", "GET", [("If-Modified-Since", http_date(LATER))],
     "304", ""),
    ("ims_equal_to_lm", "GET", [("If-Modified-Since", http_date(L))],
     "304", ""),
    ("ims_earlier_than_lm", "GET",
     [("If-Modified-Since", http_date(EARLIER))], "pass", ""),
    ("ims_one_second_before_lm", "GET",
     [("If-Modified-Since", http_date(L - 1))], "pass", ""),
    ("ims_in_the_future_passes", "GET",
     [("If-Modified-Since", "{FUTURE}")], "pass", ""),
    ("ims_rfc850_date", "GET", [("If-Modified-Since", rfc850_date(LATER))],
     "304", ""),
    ("ims_asctime_date", "GET", [("If-Modified-Since", asctime_date(LATER))],
     "304", ""),
    ("ims_iso_date_is_ignored", "GET",
     [("If-Modified-Since", "2020-09-13T13:26:40Z")], "pass", ""),
    ("ims_garbage_is_ignored", "GET", [("If-Modified-Since", "yesterday")],
     "pass", ""),
    ("ims_two_field_lines_are_ignored", "GET",
     [("If-Modified-Since", http_date(LATER)),
      ("If-Modified-Since", http_date(LATER))], "pass", ""),
    ("if_match_failing_prevents_304", "GET",
     [("If-Match", '"nope"'), ("If-None-Match", "*")], "pass", ""),
    ("if_match_failing_prevents_ims_304", "GET",
     [("If-Match", '"nope"'), ("If-Modified-Since", http_date(LATER))],
     "pass", ""),
    ("if_match_strong_ok_then_ims", "GET",
     [("If-Match", "{E}"), ("If-Modified-Since", http_date(LATER))],
     "304", "strongE"),
    ("if_match_star_then_ims", "GET",
     [("If-Match", "*"), ("If-Modified-Since", http_date(LATER))],
     "304", ""),
    ("ius_failing_prevents_304", "GET",
     [("If-Unmodified-Since", http_date(EARLIER)),
      ("If-Modified-Since", http_date(LATER))], "pass", ""),
    ("ius_true_then_ims", "GET",
     [("If-Unmodified-Since", http_date(LATER)),
      ("If-Modified-Since", http_date(LATER))], "304", ""),
    ("ius_invalid_is_ignored", "GET",
     [("If-Unmodified-Since", "not a date"),
      ("If-Modified-Since", http_date(LATER))], "304", ""),
    ("request_no_cache_does_not_stop_304", "GET",
     [("Cache-Control", "no-cache"), ("Pragma", "no-cache"),
      ("If-Modified-Since", http_date(LATER))], "304", ""),
    ("range_with_matching_ims", "GET",
     [("Range", "bytes=0-4"), ("If-Modified-Since", http_date(LATER))],
     "304", ""),
    ("range_if_range_with_matching_inm", "GET",
     [("Range", "bytes=0-4"), ("If-Range", "{E}"),
      ("If-None-Match", "{E}")], "304", "E"),
    ("head_inm_match", "HEAD", [("If-None-Match", "{E}")], "304", "E"),
    ("head_ims_match", "HEAD", [("If-Modified-Since", http_date(LATER))],
     "304", ""),
    ("head_inm_star", "HEAD", [("If-None-Match", "*")], "304", ""),
    ("post_is_never_304", "POST", [("If-None-Match", "*"),
                                   ("If-Modified-Since", http_date(LATER))],
     "pass", ""),
    ("http10_inm_match", "GET10", [("If-None-Match", "{E}")], "304", "E"),
    ("http10_ims_match", "GET10", [("If-Modified-Since", http_date(LATER))],
     "304", ""),
    ("unconditional_get", "GET", [], "pass", ""),
]


def fill(value, etag):
    import time
    opaque = etag[2:] if etag and etag.startswith("W/") else etag
    opaque = (opaque or '"none"')[1:-1]
    return (value.replace("{E}", etag or '"none"').replace("{O}", opaque)
            .replace("{FUTURE}", http_date(int(time.time()) + 3 * 86400)))


class ConformanceMixin:
    can_substitute = True  # or a predicate on the request
    server_cls = None
    server_kw = {}
    path = "/s.txt"
    big_path = None          # a 256 KiB representation, for the size check
    add_ims_to_inm = False   # nginx noims: make nginx pass INM requests on
    cgi = False

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-conf-")
        cls.docroot = docroots.make_docroot(cls.base, cgi=cls.cgi)
        servers.start_pair(cls)
        r = cls.get(cls.bare, Request("GET", cls.path,
                                      headers=[("Connection", "close")]))
        cls.etag = r.first("ETag")
        cls.lm = wire.parse_http_date(r.first("Last-Modified") or "")

    @classmethod
    def tearDownClass(cls):
        servers.stop_pair(cls)

    @staticmethod
    def get(server, req):
        ex = wire.exchange(server.port, [req])
        assert ex.final(), ex
        return ex.final()[0]

    def case_request(self, method, headers):
        version = "HTTP/1.1"
        if method == "GET10":
            method, version = "GET", "HTTP/1.0"
        hs = [(k, fill(v, self.etag)) for k, v in headers]
        names = {k.lower() for k, _ in hs}
        if self.add_ims_to_inm and "if-none-match" in names and \
                "if-modified-since" not in names:
            hs.append(("If-Modified-Since", http_date(EARLIER)))
        body = b"x=1" if method == "POST" else b""
        return Request(method, self.path, version, hs, body)

    def test_cases(self):
        self.assertIsNotNone(self.lm, "vehicle must send Last-Modified")
        self.assertEqual(self.lm, T0)
        ran = substituted = 0
        for name, method, headers, want, flags in CASES:
            if "E" in flags and not self.etag:
                continue
            if "strongE" in flags and (not self.etag or
                                       self.etag.startswith("W/")):
                continue
            with self.subTest(case=name):
                req = self.case_request(method, headers)
                seq = Sequence(name, [req])
                bare_pairs, _ = run_sequence(self.bare, seq)
                shim_pairs, _ = run_sequence(self.shim, seq)
                b = bare_pairs[0][1]
                self.assertIsNotNone(b, "bare server did not answer")
                ran += 1
                if b.status == 200:
                    # the reference model the fidelity test relies on must
                    # agree with this table
                    model = expected_action(req, b, synth="off")
                    self.assertEqual(model, NOT_MODIFIED if want == "304"
                                     else PASS, "model disagrees with table")
                out = compare_sequence(seq, bare_pairs, shim_pairs,
                                       synth="optional",
                                       can_substitute=self.can_substitute)
                substituted += out.substituted
                self.assertFalse(out.problems, "%s: %r\n%s" % (
                    name, req, "\n".join(out.problems)))
                s = shim_pairs[0][1]
                if b.status == 200:
                    can = self.can_substitute
                    want_304 = want != "pass" and (
                        can(req) if callable(can) else can)
                    self.assertEqual(s.status, 304 if want_304 else 200)
        print("\n%s %s: %d cases, %d substituted 304s correct" % (
            self.bare.name, self.path, ran, substituted))

    def test_keepalive_continues_after_304(self):
        if not self.bare.keepalive:
            self.skipTest("server closes every connection")
        cond = [("If-Modified-Since", http_date(LATER))]
        reqs = lambda: [Request("GET", self.path, headers=list(cond)),
                        Request("GET", self.path),
                        Request("HEAD", self.path, headers=list(cond)),
                        Request("GET", "/big.bin", headers=list(cond)),
                        Request("GET", self.path,
                                headers=[("Connection", "close")])]
        for mode in ("serial", "pipelined"):
            with self.subTest(mode=mode):
                seq = Sequence("ka-" + mode, reqs(), mode=mode)
                bare_pairs, _ = run_sequence(self.bare, seq)
                shim_pairs, sex = run_sequence(self.shim, seq)
                out = compare_sequence(seq, bare_pairs, shim_pairs)
                self.assertFalse(out.problems, "\n".join(out.problems))
                statuses = [r.status for _, r, _ in shim_pairs if r]
                self.assertEqual(statuses, [304, 200, 304, 304, 200])
                self.assertIsNone(sex[0].error)

    def test_304_for_256k_file_is_small(self):
        if not self.big_path:
            self.skipTest("no 256 KiB representation on this vehicle")
        req = Request("GET", self.big_path, headers=[
            ("If-Modified-Since", http_date(LATER)),
            ("Connection", "close")])
        ex = wire.exchange(self.shim.port, [req])
        self.assertEqual([r.status for r in ex.final()], [304], ex)
        self.assertLessEqual(len(ex.raw), 300, ex.raw)
        bare = wire.exchange(self.bare.port, [req])
        self.assertEqual(bare.final()[0].status, 200)
        self.assertGreater(len(bare.raw), 256 * 1024)

    def test_zz_logs_clean(self):
        for s in (self.bare, self.shim):
            self.assertEqual(s.error_lines(), [], "%s log:\n%s" % (
                s.name, s.logs()[-3000:]))


META_LOCATION = """
        location /meta/ {
            add_header Cache-Control "max-age=60, public";
            add_header Content-Location "/meta/m.txt";
            add_header Content-Language "en";
            add_header Expires "Thu, 01 Jan 2037 00:00:00 GMT";
            add_header Vary "Accept-Encoding";
            add_header Set-Cookie "a=1; Path=/";
            add_header Set-Cookie "b=2; Path=/";
            add_header X-Notmod-Test "kept-or-dropped";
        }
"""


class NginxNoImsMeta(ConformanceMixin, unittest.TestCase):
    """nginx sends ETag + Last-Modified (+ many fields) and answers no
    request carrying If-Modified-Since."""
    server_cls = NginxServer
    server_kw = {"validators": "noims", "workers": 2,
                 "extra_server": META_LOCATION}
    path = "/meta/m.txt"
    big_path = "/big.bin"
    add_ims_to_inm = True


class NginxDefault(ConformanceMixin, unittest.TestCase):
    """nginx defaults: answers INM and exactly-equal IMS itself."""
    server_cls = NginxServer
    server_kw = {"validators": "on"}
    path = "/meta/m.txt"
    big_path = "/big.bin"


class BusyboxCgi(ConformanceMixin, unittest.TestCase):
    """busybox relays a CGI's fixed validators; close-delimited body."""
    server_cls = BusyboxServer
    path = "/cgi-bin/v.sh"
    cgi = True


class BusyboxCgiWeak(ConformanceMixin, unittest.TestCase):
    server_cls = BusyboxServer
    path = "/cgi-bin/v.sh?weak"
    cgi = True


class BusyboxCgiBareLF(ConformanceMixin, unittest.TestCase):
    """A CGI whose header lines end in bare LF."""
    server_cls = BusyboxServer
    path = "/cgi-bin/lf.sh"
    cgi = True


class BusyboxStatic(ConformanceMixin, unittest.TestCase):
    """busybox static: answers INM itself, never IMS."""
    server_cls = BusyboxServer
    path = "/s.txt"
    big_path = "/big.bin"


class PythonCgi(ConformanceMixin, unittest.TestCase):
    """python CGI: status line from the server, the rest from the exec'd
    script, relayed by the shim through a pipe."""
    server_cls = PythonServer
    server_kw = {"cgi": True}
    path = "/cgi-bin/v.sh"
    cgi = True


class PythonStatic(ConformanceMixin, unittest.TestCase):
    """python static: Last-Modified only; answers IMS itself (when no INM)."""
    server_cls = PythonServer
    path = "/s.txt"


if __name__ == "__main__":
    unittest.main()
