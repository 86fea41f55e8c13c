"""Servers that send no ETag.  The shim holds the 200 to GET, hashes
the body and adds `ETag: "nm-<22 base64url chars>"` just before the empty
line (the server's own header bytes and order kept), and answers a matching
If-None-Match with a 304.

Vehicles: busybox CGIs (close-delimited, Content-Length, chunked, per-query,
changing, sleeping mid-body), nginx with no validators at all (`etag off;
if_modified_since off; add_header Last-Modified "";`, sendfile bodies of
1 KiB, 256 KiB and 20 MiB), python http.server (Last-Modified only)."""

import os
import tempfile
import threading
import time
import unittest

import docroots
import sequences
import servers
import wire
from clients import curl
from compare import compare_sequence, run_sequence
from docroots import T0
from model import SYNTH_ETAG_RE, check_304_shape, synth_line_of
from servers import BusyboxServer, NginxServer, PythonServer
from wire import Request, exchange, http_date, normalize_head

HOLD_MAX = 8 * 1024 * 1024
HUGE = 20 * 1024 * 1024
COND_FIELDS = {"if-none-match", "if-modified-since", "if-match",
               "if-unmodified-since", "if-range"}


def must_synth(req, b):
    """A bare response the shim must tag: a complete 200 to GET
    without a server ETag, within the hold limit, not a stream."""
    return (req.method == "GET" and b.status == 200
            and b.first("ETag") is None and len(b.body) <= HOLD_MAX
            and "sleep.sh" not in req.target
            and "event-stream" not in (b.first("Content-Type") or ""))


class SynthMixin:
    server_cls = None
    server_kw = {}
    cgi = False
    paths = []                 # representations the shim must tag
    profile_cgi = []

    @classmethod
    def prepare_docroot(cls, docroot):
        pass

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="nm-synth-")
        cls.docroot = docroots.make_docroot(cls.base, cgi=cls.cgi)
        cls.prepare_docroot(cls.docroot)
        servers.start_pair(cls)

    @classmethod
    def tearDownClass(cls):
        servers.stop_pair(cls)

    # helpers
    def one(self, server, method, path, headers=(), **kw):
        req = Request(method, path, headers=list(headers) +
                      [("Connection", "close")], **kw)
        ex = exchange(server.port, [req], timeout=15)
        self.assertIsNone(ex.error, ex)
        self.assertEqual(len(ex.final()), 1, ex)
        return ex.final()[0]

    def tag_of(self, path):
        """GET through the shim; assert the 200 carries an nm- tag exactly
        where expected; return the tag value."""
        s = self.one(self.shim, "GET", path)
        self.assertEqual(s.status, 200)
        line = synth_line_of(s)
        self.assertIsNotNone(line, "no nm- ETag on %s: %r" % (path, s.head_raw))
        self.assertTrue(SYNTH_ETAG_RE.match(line))
        self.assertEqual(len(s.header("ETag")), 1)
        return line.partition(b":")[2].strip().decode()

    def assert_304(self, path, inm, extra=(), tag=None):
        """GET path with If-None-Match inm: the shim must answer 304 with
        the shape of the bare 200 plus the `ETag: tag` line."""
        tag = tag or inm.replace("W/", "")
        b = self.one(self.bare, "GET", path, [("If-None-Match", inm)] +
                     list(extra))
        s = self.one(self.shim, "GET", path, [("If-None-Match", inm)] +
                     list(extra))
        self.assertEqual(s.status, 304, "%s INM %s: %r" % (path, inm, s.raw))
        if b.status == 200:
            tagline = b"ETag: " + tag.encode()
            probs = check_304_shape(s, b, tagline)
            self.assertFalse(probs, "%r\nbare %r" % (probs, b.head_raw))
        return s

    # tests shared by every vehicle
    def test_tag_added_and_stable(self):
        for path in self.paths:
            with self.subTest(path=path):
                t1, t2 = self.tag_of(path), self.tag_of(path)
                self.assertEqual(t1, t2, "same bytes, different tags")

    def test_inm_match_gives_304(self):
        for path in self.paths:
            with self.subTest(path=path):
                tag = self.tag_of(path)
                self.assert_304(path, tag)
                self.assert_304(path, "W/" + tag)
                self.assert_304(path, '"other", ' + tag, tag=tag)

    def test_inm_nomatch_gives_tagged_200(self):
        for path in self.paths:
            with self.subTest(path=path):
                tag = self.tag_of(path)
                s = self.one(self.shim, "GET", path,
                             [("If-None-Match", '"nm-AAAAAAAAAAAAAAAAAAAAAA"')])
                self.assertEqual(s.status, 200)
                self.assertEqual(s.first("ETag"), tag)

    def test_keepalive_after_304(self):
        if not self.bare.keepalive:
            self.skipTest("server closes every connection")
        path = self.paths[0]
        tag = self.tag_of(path)
        for mode in ("serial", "pipelined"):
            with self.subTest(mode=mode):
                reqs = [Request("GET", path, headers=[("If-None-Match", tag)]),
                        Request("GET", path),
                        Request("HEAD", path),
                        Request("GET", path, headers=[("If-None-Match", tag),
                                                      ("Connection", "close")])]
                ex = exchange(self.shim.port, reqs,
                              pipelined=(mode == "pipelined"))
                self.assertIsNone(ex.error, ex)
                self.assertEqual([r.status for r in ex.final()],
                                 [304, 200, 200, 304], ex)
                self.assertEqual(ex.final()[1].first("ETag"), tag)
                head_tag = ex.final()[2].first("ETag")
                self.assertIn(head_tag, (None, tag),
                              "HEAD tag differs from GET's")
                self.assertEqual(ex.leftover, b"")

    def test_unconditional_fidelity(self):
        """With no conditional request, responses differ from the bare
        server's only by the added ETag line (required on every eligible
        200 to GET)."""
        big = self.one(self.bare, "GET", "/big.bin")
        small = self.one(self.bare, "GET", "/s.txt")
        seqs = sequences.build({
            "etag": small.first("ETag"), "lm": None,
            "big_etag": big.first("ETag"), "cgi": self.profile_cgi,
            "extra_paths": [(p, "GET") for p in self.paths],
            "post_path": "/cgi-bin/post.sh" if self.cgi else "/s.txt"})
        seqs = [s for s in seqs if not any(
            k.lower() in COND_FIELDS for r in s.requests for k, _ in r.headers)]
        self.assertGreaterEqual(len(seqs), 12)
        added = 0
        for seq in seqs:
            with self.subTest(seq=seq.name):
                bp, _ = run_sequence(self.bare, seq)
                sp, _ = run_sequence(self.shim, seq)
                out = compare_sequence(seq, bp, sp, synth="required",
                                       require_synth_on=must_synth)
                added += out.synth_added
                self.assertFalse(out.problems, "%r\n%s" % (
                    seq, "\n".join(out.problems)))
        print("\n%s: %d unconditional sequences, %d tags added" % (
            self.bare.name, len(seqs), added))

    def test_zz_logs_clean(self):
        for s in (self.bare, self.shim):
            self.assertEqual(s.error_lines(), [], "%s log:\n%s" % (
                s.name, s.logs()[-3000:]))

    # changing content, with the raw client and with curl
    def change_target(self):
        """(path, function(bytes) that changes its content)"""
        raise NotImplementedError

    def test_changed_content_gets_new_tag_never_304(self):
        path, set_content = self.change_target()
        set_content(b"version one\n")
        t1 = self.tag_of(path)
        self.assert_304(path, t1)
        set_content(b"version two, longer\n")
        s = self.one(self.shim, "GET", path, [("If-None-Match", t1)])
        self.assertEqual(s.status, 200, "304 for changed content!")
        self.assertEqual(s.body, b"version two, longer\n")
        t2 = s.first("ETag")
        self.assertIsNotNone(t2)
        self.assertNotEqual(t1, t2)
        self.assert_304(path, t2)

    def test_curl_etag_save_compare(self):
        path, set_content = self.change_target()
        set_content(b"curl content A\n")
        with tempfile.TemporaryDirectory(prefix="nm-etag-") as d:
            f = os.path.join(d, "etag")
            r1 = curl(["--etag-save", f, self.shim.url(path)])
            self.assertEqual((r1.rc, r1.status), (0, 200), r1)
            with open(f) as fh:
                saved = fh.read().strip()
            self.assertRegex(saved, r'^"nm-[A-Za-z0-9_-]{22}"$',
                             "curl --etag-save saved no nm- tag")
            r2 = curl(["--etag-compare", f, self.shim.url(path)])
            self.assertEqual((r2.rc, r2.status), (0, 304), r2)
            self.assertEqual(r2.body, b"")
            set_content(b"curl content B, changed\n")
            r3 = curl(["--etag-compare", f, "--etag-save", f,
                       self.shim.url(path)])
            self.assertEqual((r3.rc, r3.status), (0, 200), r3)
            self.assertEqual(r3.body, b"curl content B, changed\n")
            self.assertNotEqual(r3.header("ETag")[0], saved)
            r4 = curl(["--etag-compare", f, self.shim.url(path)])
            self.assertEqual(r4.status, 304, r4)


class BusyboxCgiSynth(SynthMixin, unittest.TestCase):
    server_cls = BusyboxServer
    cgi = True
    paths = ["/cgi-bin/static.sh", "/cgi-bin/clen.sh", "/cgi-bin/chunked.sh",
             "/cgi-bin/query.sh?a=1"]
    profile_cgi = [(p, None) for p in paths + ["/cgi-bin/file.sh"]]

    @classmethod
    def prepare_docroot(cls, d):
        docroots.write_file(os.path.join(d, "cgi-bin", "changing.txt"),
                           b"initial\n")

    def change_target(self):
        p = os.path.join(self.docroot, "cgi-bin", "changing.txt")
        return "/cgi-bin/file.sh", lambda data: docroots.write_file(p, data)

    def test_tag_is_over_dechunked_body(self):
        """static.sh (close-delimited), clen.sh (Content-Length) and
        chunked.sh (chunked) send the same body bytes: one tag (no daemon,
        so no fleet secret; the tag is a function of the body only)."""
        tags = {p: self.tag_of(p) for p in self.paths[:3]}
        self.assertEqual(len(set(tags.values())), 1, tags)
        # the released chunked 200 keeps the server's framing bytes
        b = self.one(self.bare, "GET", "/cgi-bin/chunked.sh")
        s = self.one(self.shim, "GET", "/cgi-bin/chunked.sh")
        self.assertEqual(s.body_raw, b.body_raw)
        self.assertEqual(s.framing, "chunked")

    def test_tag_varies_with_query(self):
        ta, tb = self.tag_of("/cgi-bin/query.sh?a"), \
            self.tag_of("/cgi-bin/query.sh?b")
        self.assertNotEqual(ta, tb)
        self.assertEqual(ta, self.tag_of("/cgi-bin/query.sh?a"))
        s = self.one(self.shim, "GET", "/cgi-bin/query.sh?b",
                     [("If-None-Match", ta)])
        self.assertEqual((s.status, s.first("ETag")), (200, tb))

    def test_content_changing_every_request_is_never_304(self):
        prev = self.tag_of("/cgi-bin/counter.sh")
        for _ in range(5):
            s = self.one(self.shim, "GET", "/cgi-bin/counter.sh",
                         [("If-None-Match", prev)])
            self.assertEqual(s.status, 200, "304 for changed content")
            tag = s.first("ETag")
            self.assertIsNotNone(tag)
            self.assertNotEqual(tag, prev)
            prev = tag

    def test_post_and_head_pass(self):
        b = self.one(self.bare, "POST", "/cgi-bin/post.sh", body=b"k=v")
        s = self.one(self.shim, "POST", "/cgi-bin/post.sh", body=b"k=v")
        self.assertEqual(normalize_head(s.raw), normalize_head(b.raw))
        self.assertIsNone(s.first("ETag"))

    def test_sleeping_cgi_first_chunk_within_deadline(self):
        """sleep.sh writes its head and 'first part', sleeps 2 s, writes the
        rest: the held response must be released after NOTMOD_HOLD_MS
        (default 200 ms), so the first part reaches the client in < 1 s;
        the whole response equals the bare server's."""
        results = {}

        def run(name, server):
            req = Request("GET", "/cgi-bin/sleep.sh",
                          headers=[("Connection", "close")])
            results[name] = exchange(server.port, [req], timeout=10)

        threads = [threading.Thread(target=run, args=a)
                   for a in (("bare", self.bare), ("shim", self.shim))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        b, s = results["bare"], results["shim"]
        self.assertIsNone(s.error, s)
        self.assertEqual(normalize_head(s.raw), normalize_head(b.raw))
        # when did the client first hold the first part?
        first = None
        for t, n in s.timings:
            if b"first part" in s.raw[:n]:
                first = t
                break
        self.assertIsNotNone(first)
        self.assertLess(first, 1.0, "first chunk held %.2f s" % first)
        self.assertGreater(s.timings[-1][0], 1.5)  # the script did sleep


class NginxNoValidatorsSynth(SynthMixin, unittest.TestCase):
    """nginx sending no validators; bodies leave by sendfile."""
    server_cls = NginxServer
    server_kw = {"validators": "off", "workers": 2}
    paths = ["/s.txt", "/big.bin", "/c/one-kib.txt"]

    @classmethod
    def prepare_docroot(cls, d):
        block = docroots.deterministic_bytes(65536, 3)
        docroots.write_file(os.path.join(d, "huge.bin"),
                           block * (HUGE // len(block)), T0)
        os.makedirs(os.path.join(d, "c"), exist_ok=True)
        docroots.write_file(os.path.join(d, "c", "one-kib.txt"),
                           docroots.deterministic_bytes(1024, 4, True), T0)
        docroots.write_file(os.path.join(d, "c", "change.txt"), b"x\n", T0)

    def change_target(self):
        p = os.path.join(self.docroot, "c", "change.txt")
        n = [0]

        def set_content(data):
            # a new mtime each time: the shim may cache a file's tag by
            # (dev, inode, size, mtime)
            n[0] += 1
            docroots.write_file(p, data, T0 + 100 * n[0])
        return "/c/change.txt", set_content

    def test_bare_nginx_sends_no_validators(self):
        b = self.one(self.bare, "GET", "/s.txt")
        self.assertIsNone(b.first("ETag"))
        self.assertIsNone(b.first("Last-Modified"))

    def test_huge_body_over_hold_max_passes_untagged(self):
        b = self.one(self.bare, "GET", "/huge.bin")
        s = self.one(self.shim, "GET", "/huge.bin")
        self.assertEqual(len(s.body), HUGE)
        self.assertIsNone(s.first("ETag"))
        self.assertEqual(normalize_head(s.head_raw), normalize_head(b.head_raw))
        self.assertTrue(s.body == b.body)

    def test_304_for_256k_is_small(self):
        tag = self.tag_of("/big.bin")
        req = Request("GET", "/big.bin", headers=[("If-None-Match", tag),
                                                  ("Connection", "close")])
        ex = exchange(self.shim.port, [req])
        self.assertEqual([r.status for r in ex.final()], [304])
        self.assertLessEqual(len(ex.raw), 300, ex.raw)

    def test_nginx_answers_inm_star_itself(self):
        b = self.one(self.bare, "GET", "/s.txt", [("If-None-Match", "*")])
        s = self.one(self.shim, "GET", "/s.txt", [("If-None-Match", "*")])
        self.assertEqual(b.status, 304)
        self.assertEqual(normalize_head(s.raw), normalize_head(b.raw))

    def test_empty_file_is_not_held_to_the_deadline(self):
        # nginx writes an empty file's head and nothing more: its body is
        # whole at the head, and waits for nothing
        t0 = time.monotonic()
        for _ in range(5):
            s = self.one(self.shim, "GET", "/empty.txt")
            self.assertEqual(s.status, 200)
            self.assertEqual(s.body, b"")
            self.assertRegex(b"ETag: " + s.first("ETag").encode(),
                             SYNTH_ETAG_RE)
        self.assertLess(time.monotonic() - t0, 0.5)

    def test_range_206_passes(self):
        b = self.one(self.bare, "GET", "/big.bin", [("Range", "bytes=0-99")])
        s = self.one(self.shim, "GET", "/big.bin", [("Range", "bytes=0-99")])
        self.assertEqual(b.status, 206)
        self.assertEqual(normalize_head(s.raw), normalize_head(b.raw))

    def test_concurrent_clients(self):
        """Several connections at once on two epoll workers, mixing
        revalidations (304) and full 256 KiB sendfile bodies."""
        tag = self.tag_of("/big.bin")
        ref = self.one(self.bare, "GET", "/big.bin").body
        errors = []

        def worker(k):
            for i in range(6):
                reqs = [Request("GET", "/big.bin",
                                headers=[("If-None-Match", tag)]),
                        Request("GET", "/big.bin"),
                        Request("GET", "/s.txt",
                                headers=[("Connection", "close")])]
                ex = exchange(self.shim.port, reqs,
                              pipelined=bool((k + i) % 2), timeout=15)
                st = [r.status for r in ex.final()]
                if ex.error or st != [304, 200, 200] or \
                        ex.final()[1].body != ref:
                    errors.append((k, i, ex, st))

        threads = [threading.Thread(target=worker, args=(k,))
                   for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


class PythonSynth(SynthMixin, unittest.TestCase):
    """python http.server: Last-Modified only; the shim adds an ETag beside
    it, and If-None-Match (which python ignores) then works."""
    server_cls = PythonServer
    paths = ["/s.txt", "/big.bin", "/dir/"]

    @classmethod
    def prepare_docroot(cls, d):
        docroots.write_file(os.path.join(d, "change.txt"), b"x\n", T0)

    def change_target(self):
        p = os.path.join(self.docroot, "change.txt")
        n = [0]

        def set_content(data):
            n[0] += 1
            docroots.write_file(p, data, T0 + 100 * n[0])
        return "/change.txt", set_content

    def test_etag_beside_last_modified(self):
        b = self.one(self.bare, "GET", "/s.txt")
        s = self.one(self.shim, "GET", "/s.txt")
        line = synth_line_of(s)
        self.assertIsNotNone(line, s.head_raw)
        self.assertEqual(normalize_head(s.head_raw), normalize_head(
            wire.insert_line_before_end(b.head_raw, line)))
        self.assertEqual(s.header_lines[-2:],
                         [b"Last-Modified: " + http_date(T0).encode(), line])

    def test_python_own_ims_304_passes(self):
        h = [("If-Modified-Since", http_date(T0 + 3600))]
        b = self.one(self.bare, "GET", "/s.txt", h)
        s = self.one(self.shim, "GET", "/s.txt", h)
        self.assertEqual(b.status, 304)
        self.assertEqual(normalize_head(s.raw), normalize_head(b.raw))

    def test_inm_wins_over_failing_ims(self):
        tag = self.tag_of("/s.txt")
        self.assert_304("/s.txt", tag,
                        [("If-Modified-Since", http_date(T0 - 3600))])

    def test_expect_continue_interim_then_tag_and_304(self):
        """python at HTTP/1.1 answers Expect: 100-continue with an interim
        100 even to a GET: the interim goes out unchanged and first, the
        final 200 behind it is tagged, and a matching If-None-Match gets
        100 then 304, on one kept-alive connection."""
        tag = self.tag_of("/s.txt")
        exp = [("Expect", "100-continue")]
        reqs = [Request("GET", "/s.txt", headers=exp),
                Request("GET", "/s.txt", headers=exp + [("If-None-Match", tag)]),
                Request("GET", "/s.txt")]
        for pipelined in (False, True):
            with self.subTest(pipelined=pipelined):
                b = exchange(self.bare.port, reqs, pipelined=pipelined)
                s = exchange(self.shim.port, reqs, pipelined=pipelined)
                self.assertEqual([r.status for r in b.responses],
                                 [100, 200, 100, 200, 200])
                self.assertEqual([r.status for r in s.responses],
                                 [100, 200, 100, 304, 200])
                self.assertEqual(s.responses[0].raw, b.responses[0].raw)
                self.assertEqual(s.responses[2].raw, b"HTTP/1.1 100 Continue\r\n\r\n")
                for i in (1, 4):
                    self.assertEqual(s.responses[i].first("ETag"), tag)
                    self.assertEqual(s.responses[i].body, b.responses[i].body)
                self.assertEqual(s.responses[3].first("ETag"), tag)
                self.assertEqual(s.responses[3].body, b"")
                self.assertEqual(s.leftover, b"")


if __name__ == "__main__":
    unittest.main()
