"""The compatibility suite: every server in SERVERS from its Debian package,
bare and under the shim side by side, the same cases for each:

  static     GET of a file: the bare 200 plus, when the server sent no
             ETag, exactly one `ETag: "nm-..."` line; If-None-Match with
             that tag gives a 304 of the right shape; If-Modified-Since with
             the server's Last-Modified gives a 304
  dynamic    GET of the page the server makes (a CGI that writes its body
             in two parts, or PHP with a flush): the same, body compared
             after de-chunking
  HEAD       of both: the bare bytes (Date aside), or those plus the very
             tag the GET got (never another one); with If-None-Match, a 304
             only if it carries that tag
  changed    the dynamic page's content changes: its old tag gets a 200
             with a new tag, never a 304; the new tag gets a 304
  keep-alive the dynamic 200 and its revalidation on one connection

A server whose package is not installed is skipped, and says which package
(tools/test.sh installs them all). At the end the suite prints the matrix
it measured (the README's compatibility table comes from it).
"""

import os
import re
import shutil
import sys
import tempfile
import time
import unittest

import compat_servers as cs
import docroots
import model
import servers
import truth
import wire
from wire import Request

FULL = os.environ.get("NOTMOD_COMPAT_FULL") == "1"
FULL_ONLY = "full run only"

# (label, server class, its arguments, dynamic path, changing path,
#  Debian packages, binaries or files those packages install that the row
#  needs[, FULL_ONLY]).
SERVERS = [
    ("Apache 2.4 event + mod_cgid", cs.ApacheServer, {"dynamic": "cgid"},
     "/cgi-bin/stream.sh", "/cgi-bin/file.sh", ["apache2"],
     [cs.APACHE_MODULES + "/mod_cgid.so"]),
    ("Apache 2.4 prefork + mod_cgi", cs.ApacheServer, {"dynamic": "cgi"},
     "/cgi-bin/stream.sh", "/cgi-bin/file.sh", ["apache2"],
     [cs.APACHE_MODULES + "/mod_cgi.so"]),
    ("Apache 2.4 prefork + php-cgi (mod_actions)", cs.ApacheServer,
     {"dynamic": "php-cgi"}, "/php/stream.php", "/php/file.php",
     ["apache2", "php-cgi"], ["/usr/lib/cgi-bin/php8.2"]),
    ("Apache 2.4 prefork + mod_php", cs.ApacheServer, {"dynamic": "mod_php"},
     "/php/stream.php", "/php/file.php",
     ["apache2", "libapache2-mod-php8.2"],
     [cs.APACHE_MODULES + "/libphp8.2.so"]),
    ("Apache 2.4 event + php-fpm (proxy_fcgi)", cs.ApacheServer,
     {"dynamic": "php-fpm"}, "/php/stream.php", "/php/file.php",
     ["apache2", "php-fpm"], ["/usr/sbin/php-fpm8.2"]),
    ("mini_httpd (CGI)", cs.MiniHttpdServer, {}, "/cgi-bin/stream.sh",
     "/cgi-bin/file.sh", ["mini-httpd"], []),
    ("civetweb (CGI)", cs.CivetwebServer, {}, "/cgi-bin/stream.sh",
     "/cgi-bin/file.sh", ["civetweb"], []),
    ("lighttpd (mod_cgi)", cs.LighttpdCgiServer, {}, "/cgi-bin/stream.sh",
     "/cgi-bin/file.sh", ["lighttpd"], []),
    ("nginx + fcgiwrap", cs.NginxFastcgiServer, {"dynamic": "fcgiwrap"},
     "/cgi-bin/stream.sh", "/cgi-bin/file.sh", ["nginx-light", "fcgiwrap"],
     ["/usr/sbin/fcgiwrap"]),
    ("nginx + php-fpm", cs.NginxFastcgiServer, {"dynamic": "php-fpm"},
     "/php/stream.php", "/php/file.php", ["nginx-light", "php-fpm"],
     ["/usr/sbin/php-fpm8.2"]),
    ("webfs (CGI)", cs.WebfsServer, {}, "/cgi-bin/stream.sh",
     "/cgi-bin/file.sh", ["webfs"], []),
    ("busybox httpd (CGI)", cs.BusyboxCgiServer, {}, "/cgi-bin/stream.sh",
     "/cgi-bin/file.sh", ["busybox"], []),
    ("python3 http.server (CGI)", cs.PythonCgiServer, {},
     "/cgi-bin/stream.sh", "/cgi-bin/file.sh", ["python3"], []),
    ("php -S", cs.PhpBuiltinServer, {}, "/php/stream.php", "/php/file.php",
     ["php-cli"], []),
    ("h2o (CGI through fastcgi-cgi)", cs.H2oServer, {}, "/cgi-bin/stream.sh",
     "/cgi-bin/file.sh", ["h2o"], ["/usr/share/h2o/fastcgi-cgi"]),
    ("node http", cs.NodeServer, {}, "/app/stream", "/app/file", ["nodejs"],
     []),
    ("ruby WEBrick", cs.WebrickServer, {}, "/app/stream", "/app/file",
     ["ruby-webrick"], ["/usr/share/rubygems-integration/all/gems/webrick-1.8.1/lib/webrick.rb"]),
    ("perl HTTP::Daemon", cs.HttpDaemonServer, {}, "/app/stream",
     "/app/file", ["libhttp-daemon-perl"],
     ["/usr/share/perl5/HTTP/Daemon.pm"]),
    ("gunicorn (sync workers)", cs.WsgiServer, {"runner": "gunicorn"},
     "/app/stream", "/app/file", ["gunicorn"], ["gunicorn"]),
    ("uwsgi (--http-socket)", cs.WsgiServer, {"runner": "uwsgi"},
     "/app/stream", "/app/file", ["uwsgi-core", "uwsgi-plugin-python3"],
     ["uwsgi", "/usr/lib/uwsgi/plugins/python3_plugin.so"]),
    ("Tomcat 10 (JSP)", cs.TomcatServer, {}, "/jsp/stream.jsp",
     "/jsp/file.jsp", ["tomcat10", "libecj-java"],
     [cs.TOMCAT_HOME + "/bin/bootstrap.jar", "/usr/share/java/ecj.jar"],
     FULL_ONLY),
]
# Rows run with NOTMOD_COMPAT_FULL=1 (tools/compat.sh) only: a JVM's start
# and its first JSP compilation cost more than the rest of a row.
ROWS = [r for r in SERVERS if FULL or len(r) < 8]

STATIC = "/s.txt"
# Rows whose server answers If-Modified-Since itself, without an ETag, for
# a file the shim tags: their 304 must carry the 200's tag while the file
# is unchanged, and none once it changed (test_server_304_*).
SERVER_IMS_304 = {
    "Apache 2.4 event + mod_cgid", "Apache 2.4 prefork + mod_cgi",
    "Apache 2.4 prefork + php-cgi (mod_actions)",
    "Apache 2.4 prefork + mod_php", "Apache 2.4 event + php-fpm (proxy_fcgi)",
    "mini_httpd (CGI)", "lighttpd (mod_cgi)", "webfs (CGI)",
    "python3 http.server (CGI)", "h2o (CGI through fastcgi-cgi)"}
# Rows whose static HEAD carries no tag, and why (README "Compatibility").
STATIC_HEAD_UNTAGGED = {
    "node http": "the file is read by libuv's thread pool, not by the "
                 "thread that writes it"}
# The hold deadline of the shimmed instances: far above the pages' 50 ms
# pause, so a busy machine cannot release a hold by the clock (an untagged
# 200); a hold that waited for the client instead would now cost seconds,
# and every request must take less than SLOW_S.
HOLD_MS = 3000
SLOW_S = 2.0
COLUMNS = ["static tag", "static 304", "dynamic tag", "dynamic 304",
           "HEAD", "changed", "keep-alive"]
# label -> column -> cell, filled as the tests run, printed at the end
MATRIX = {}
# What must never be in the shimmed server's logs (the sanitizer build's
# reports land there too).
CRASH_RE = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|"
                      r"runtime error:|Segmentation fault|segfault|"
                      r"cannot be preloaded|ld\.so")


def request(port, method, path, headers=(), close=False):
    """One request on a fresh connection, kept alive as curl and browsers
    do unless close (then read to the server's close)."""
    hs = list(headers) + ([("Connection", "close")] if close else [])
    t0 = time.monotonic()
    ex = wire.exchange(port, [Request(method, path, "HTTP/1.1", hs)],
                          timeout=10)
    took = time.monotonic() - t0
    if took > SLOW_S:
        raise AssertionError("%s %s took %.1f s" % (method, path, took))
    finals = ex.final()
    if ex.error or not finals:
        raise AssertionError("%s %s: %s (raw %r)" % (method, path, ex.error
                                                     or "no response",
                                                     ex.raw[:300]))
    return finals[-1], ex


def synth_line(resp):
    return model.synth_line_of(resp)


def head_without(resp, block):
    """The response's head (Date normalized) without the lines the shim
    inserted before the empty line (model.synth_block_of: its ETag, and a
    Date when the server sent none), as the server wrote it."""
    head = resp.head_raw
    if block is not None:
        for end in (b"\r\n", b"\n"):
            if block + end in head:
                head = head.replace(block + end, b"", 1)
                break
    return wire.normalize_head(head)


def drop_framing(head):
    return re.sub(rb"(?im)^(content-length|transfer-encoding):[^\n]*\n", b"",
                  head)


class CompatCase:
    """One row of SERVERS: a bare and a shimmed instance on one docroot
    (mixed into a TestCase per row below)."""

    row = None

    @classmethod
    def setUpClass(cls):
        (cls.label, cls.server_cls, cls.server_kw, cls.dynamic,
         cls.changing, cls.packages, cls.needs) = cls.row[:7]
        cls.server_kw = dict(cls.server_kw,
                             shim_env={"NOTMOD_HOLD_MS": str(HOLD_MS)})
        MATRIX.setdefault(cls.label, {})
        missing = [p for p in [cls.server_cls.binary] + cls.needs
                   if not (os.path.exists(p) if p.startswith("/")
                           else shutil.which(p))]
        if missing:
            MATRIX[cls.label] = {c: "not installed" for c in COLUMNS}
            raise unittest.SkipTest(
                "%s: package %s not installed (missing %s; tools/test.sh "
                "installs it)" % (cls.label, " ".join(cls.packages),
                                  ", ".join(missing)))
        if not servers.NO_SHIM and not servers.REFPROXY and \
                not os.path.exists(servers.SHIM_PATH):
            raise RuntimeError(servers.shim_missing_message())
        cls.base = tempfile.mkdtemp(prefix="nm-compat-")
        os.chmod(cls.base, 0o755)
        cls.docroot = cs.make_docroot(cls.base)
        servers.start_pair(cls)

    @classmethod
    def tearDownClass(cls):
        servers.stop_pair(cls)

    def tearDown(self):
        bad = [line for line in self.shim.logs().splitlines()
               if CRASH_RE.search(line)]
        self.assertEqual(bad, [], "%s: the shimmed server's logs" %
                         self.label)

    def cell(self, column, value):
        MATRIX[self.label][column] = value

    def changing_file(self):
        """changing.txt beside the script that reads it."""
        return os.path.join(self.docroot, os.path.dirname(
            self.changing).lstrip("/"), "changing.txt")

    # -- the shimmed 200 is the bare 200, plus at most our tag ------------

    def check_tagged_200(self, path):
        """GET path on both; returns (bare 200, shimmed 200, its ETag
        value or None, whether the tag is the server's own)."""
        b, _ = request(self.bare.port, "GET", path)
        s, _ = request(self.shim.port, "GET", path)
        self.assertEqual(b.status, 200, "bare %r" % b.head_raw)
        self.assertEqual(s.status, 200, "shim %r" % s.head_raw)
        self.assertEqual(s.body, b.body, "%s: bodies differ" % path)
        own = b.first("ETag")
        block = None if own is not None else model.synth_block_of(s, b)
        if own is None and synth_line(s) is not None:
            self.assertIsNotNone(block, "%s: the shim's lines are not its "
                                 "ETag (+ Date when the server sent none): "
                                 "%r" % (path, s.head_raw))
        want = wire.normalize_head(b.head_raw)
        got = head_without(s, block)
        if b.framing != s.framing:
            # Content-Length or chunked: the server's choice depends on
            # whether the page ended before it sent the head (timing)
            want, got = drop_framing(want), drop_framing(got)
        self.assertEqual(got, want, "%s: the shimmed head is not the bare "
                         "head plus one ETag line" % path)
        return b, s, s.first("ETag"), own is not None

    def check_304(self, path, bare200, shim200, headers, method="GET"):
        """A 304 from the shimmed server: the bare server's own 304 passed
        through byte for byte (Date aside), or a substituted one of the
        right shape carrying the 200's ETag. Returns 'server' or 'ours'."""
        r, ex = request(self.shim.port, method, path, headers)
        self.assertEqual(r.status, 304, "%s %r: %r" % (path, headers,
                                                         ex.raw[:400]))
        b, bex = request(self.bare.port, method, path, headers)
        if b.status == 304:
            tag = shim200.first("ETag")
            want = wire.normalize(bex)
            if b.first("ETag") is None and r.first("ETag") is not None:
                # the shim added the 200's tag (its file's), nothing else
                self.assertEqual(r.first("ETag"), tag, "%s %r: the server's "
                                 "304 got another tag than the 200's: %r" %
                                 (path, headers, r.head_raw))
                want = wire.normalize(wire.insert_line_before_end(
                    bex.raw, b"ETag: " + tag.encode()))
            self.assertEqual(wire.normalize(ex), want,
                             "%s %r: the server's own 304 changed" %
                             (path, headers))
            if b.first("ETag") is None and r.first("ETag") is not None:
                return "server's, the 200's ETag added"
            # RFC 9110 §15.4.5 wants the 200's ETag in it: say when not
            return "server's" if r.first("ETag") == tag else \
                "server's, without the 200's ETag"
        line = synth_line(shim200) if bare200.first("ETag") is None else None
        probs = model.check_304_shape(r, bare200, line)
        self.assertEqual(probs, [], "%s: %r" % (path, r.head_raw))
        self.assertEqual(r.first("ETag"), shim200.first("ETag"),
                         "the 304 carries the 200's ETag")
        return "ours"

    def test_static_get_tagged_and_revalidated(self):
        self.cell("static tag", "✗")
        self.cell("static 304", "✗")
        b, s, tag, is_own = self.check_tagged_200(STATIC)
        self.assertIsNotNone(tag, "static 200 without an ETag: %r" %
                             s.head_raw)
        self.cell("static tag", "server's" if is_own else "✓")
        inm = self.check_304(STATIC, b, s, [("If-None-Match", tag)])
        cell = "✓" if inm == "ours" else inm
        lm = b.first("Last-Modified")
        if lm is not None:
            ims = self.check_304(STATIC, b, s, [("If-Modified-Since", lm)])
            if ims != inm:
                cell += " (IMS: %s)" % ims
        self.cell("static 304", cell)

    def test_dynamic_get_tagged_and_revalidated(self):
        self.cell("dynamic tag", "✗")
        self.cell("dynamic 304", "✗")
        b, s, tag, is_own = self.check_tagged_200(self.dynamic)
        self.assertFalse(is_own, "the dynamic page has no ETag of its own")
        self.assertIsNotNone(tag, "dynamic 200 (%s) without our ETag: %r" %
                             (b.framing, s.head_raw))
        self.cell("dynamic tag", "✓")
        self.check_304(self.dynamic, b, s, [("If-None-Match", tag)])
        self.cell("dynamic 304", "✓")

    def test_head_exact_or_untagged(self):
        self.cell("HEAD", "✗")
        tagged = 0
        for path in (STATIC, self.dynamic):
            _, s200, tag, _ = self.check_tagged_200(path)
            b, bex = request(self.bare.port, "HEAD", path, close=True)
            s, sex = request(self.shim.port, "HEAD", path, close=True)
            self.check_head(path, b, bex, s, sex, s200)
            tagged += synth_line(s) is not None
            # a conditional HEAD: the server's own answer, or a 304 with
            # the GET's tag in it, or the unconditional HEAD's bytes
            r, rex = request(self.shim.port, "HEAD", path,
                             [("If-None-Match", tag)], close=True)
            b2, bex2 = request(self.bare.port, "HEAD", path,
                               [("If-None-Match", tag)], close=True)
            if b2.status == 304:
                self.assertEqual(wire.normalize(rex),
                                 wire.normalize(bex2))
            elif r.status == 304:
                self.assertEqual(r.first("ETag"), tag)
            else:
                self.check_head(path, b2, bex2, r, rex, s200)
        self.cell("HEAD", "✓ tagged" if tagged == 2 else
                  "✓ (%d of 2 tagged)" % tagged if tagged else
                  "✓ untagged")

    def test_static_head_tagged_in_any_worker(self):
        """A static HEAD on a fresh connection (another process for
        prefork and process-per-connection servers) carries the GET's tag
        (ours, or the server's own)."""
        if self.label in STATIC_HEAD_UNTAGGED:
            return  # documented, see STATIC_HEAD_UNTAGGED
        _, s200, tag, _ = self.check_tagged_200(STATIC)
        for _ in range(4):  # several connections: several workers
            s, sex = request(self.shim.port, "HEAD", STATIC, close=True)
            self.assertEqual(s.first("ETag"), tag, s.head_raw)

    def t304_file(self, name):
        """A static file of its own for a server's-304 case (new to the
        servers' stat caches: lighttpd keeps one for a second)."""
        path = os.path.join(self.docroot, name)
        docroots.write_file(path, docroots.deterministic_bytes(3000, 304,
                                                               text=True),
                            docroots.T0)
        return "/" + name, path

    def test_server_304_carries_tag_of_unchanged_file(self):
        """Must tag: the server's own IMS 304 gets the 200's tag, on a
        fresh connection (any worker); after a change, never the old
        tag."""
        if self.label not in SERVER_IMS_304:
            return  # no IMS 304 of the server's own without an ETag
        url, path = self.t304_file("t304a.txt")
        _, s200, tag, _ = self.check_tagged_200(url)
        lm = s200.first("Last-Modified")
        for _ in range(3):
            r, ex = request(self.shim.port, "GET", url,
                            [("If-Modified-Since", lm)])
            self.assertEqual(r.status, 304, ex.raw[:300])
            self.assertEqual(r.first("ETag"), tag, ex.raw[:300])
        # a HEAD's too, and one that lists the tag beside the date
        r, ex = request(self.shim.port, "HEAD", url,
                        [("If-Modified-Since", lm)], close=True)
        self.assertEqual((r.status, r.first("ETag")), (304, tag), ex.raw)
        truth.rewrite(path, docroots.deterministic_bytes(3000, 305,
                                                         text=True))
        os.utime(path, (docroots.T0 + 1, docroots.T0 + 1))
        s2, ex = request(self.shim.port, "GET", url)
        tag2 = s2.first("ETag")
        self.assertEqual(s2.status, 200, ex.raw[:300])
        self.assertNotEqual(tag2, tag)
        # lighttpd's stat cache may still date the file T0 for a second:
        # its 304 then speaks of another version and gets no tag, or s2
        # carried T0 and the date has moved since: a 200, rightly
        r, ex = request(self.shim.port, "GET", url,
                        [("If-Modified-Since", s2.first("Last-Modified"))])
        if r.status == 200:
            self.assertNotEqual(r.first("Last-Modified"),
                                s2.first("Last-Modified"), ex.raw[:300])
            self.assertNotEqual(r.first("ETag"), tag, ex.raw[:300])
            return
        self.assertEqual(r.status, 304, ex.raw)
        self.assertIn(r.first("ETag"), (tag2, None), ex.raw)

    def test_server_304_without_tag_when_file_changed(self):
        """Must not tag: the file was rewritten in place after the 200,
        same size, mtime put back (only the ctime tells): the server still
        says 304 by date, and that 304 must not name the old bytes; nor
        may a 304 to a client holding another tag name this one."""
        if self.label not in SERVER_IMS_304:
            return  # no IMS 304 of the server's own without an ETag
        url, path = self.t304_file("t304b.txt")
        _, s200, tag, _ = self.check_tagged_200(url)
        lm = s200.first("Last-Modified")
        r, ex = request(self.shim.port, "GET", url,
                        [("If-None-Match", '"nm-another-tag-entirely0"'),
                         ("If-Modified-Since", lm)])
        if r.status == 304:  # a server that ignores If-None-Match
            self.assertIsNone(r.first("ETag"), ex.raw[:300])
        truth.rewrite_same_size_keep_mtime(
            path, docroots.deterministic_bytes(3000, 306, text=True))
        for method in ("GET", "HEAD"):
            r, ex = request(self.shim.port, method, url,
                            [("If-Modified-Since", lm)], close=True)
            self.assertEqual(r.status, 304, ex.raw[:300])
            self.assertIsNone(r.first("ETag"), "%s: the old file's tag on "
                              "a 304 for new bytes: %r" % (method, ex.raw))
        r, ex = request(self.shim.port, "HEAD", url, close=True)
        self.assertNotEqual(r.first("ETag"), tag, ex.raw)

    def check_head(self, path, b, bex, s, sex, s200):
        """The shimmed HEAD is the bare one (Date aside, stray bytes of the
        server's included), plus at most the GET's very tag."""
        block = None
        if synth_line(s) is not None:
            self.assertEqual(synth_line(s), synth_line(s200), "%s: HEAD "
                             "tagged with another tag than the GET's" % path)
            block = model.synth_block_of(s, b)
            self.assertIsNotNone(block, s.head_raw)
        got = head_without(s, block) + s.body_raw + sex.leftover
        want = wire.normalize(bex)
        self.assertEqual(got, want, "%s: HEAD differs from bare beyond the "
                         "GET's tag" % path)

    def test_changed_content_never_304(self):
        self.cell("changed", "✗")
        docroots.write_file(self.changing_file(), b"first content\n")
        r1, _ = request(self.shim.port, "GET", self.changing)
        self.assertEqual(r1.status, 200)
        self.assertEqual(r1.body, b"first content\n")
        t1 = r1.first("ETag")
        self.assertIsNotNone(t1, "no tag on %s: %r" % (self.changing,
                                                       r1.head_raw))
        docroots.write_file(self.changing_file(), b"second content\n")
        r2, ex = request(self.shim.port, "GET", self.changing,
                         [("If-None-Match", t1)])
        self.assertEqual(r2.status, 200, "a stale tag got %r" % ex.raw[:300])
        self.assertEqual(r2.body, b"second content\n")
        t2 = r2.first("ETag")
        self.assertIsNotNone(t2)
        self.assertNotEqual(t2, t1)
        r3, ex = request(self.shim.port, "GET", self.changing,
                         [("If-None-Match", t2)])
        self.assertEqual(r3.status, 304, ex.raw[:300])
        self.assertEqual(r3.first("ETag"), t2)
        self.cell("changed", "✓")

    def test_keepalive_200_then_304(self):
        self.cell("keep-alive", "✗")
        b, _ = request(self.bare.port, "GET", self.dynamic, close=False)
        if b.framing == "close" or "close" in (b.first("Connection") or
                                               "").lower():
            self.cell("keep-alive", "n/a (closes)")
            return
        s, _ = request(self.shim.port, "GET", self.dynamic)
        tag = s.first("ETag")
        self.assertIsNotNone(tag)
        reqs = [Request("GET", self.dynamic, "HTTP/1.1"),
                Request("GET", self.dynamic, "HTTP/1.1",
                        [("If-None-Match", tag), ("Connection", "close")])]
        ex = wire.exchange(self.shim.port, reqs, timeout=10)
        finals = ex.final()
        self.assertIsNone(ex.error, ex)
        self.assertEqual([r.status for r in finals], [200, 304], ex.raw[:600])
        self.assertEqual(finals[0].first("ETag"), tag)
        self.assertEqual(finals[0].body, b.body)
        self.assertEqual(finals[1].first("ETag"), tag)
        self.assertEqual(ex.leftover, b"")
        self.cell("keep-alive", "✓")


# One TestCase per row, named after it (run one: tools/compat.sh NAME).
for _i, _row in enumerate(ROWS):
    _name = "Compat_%02d_%s" % (_i, "".join(ch if ch.isalnum() else "_"
                                            for ch in _row[0]))
    globals()[_name] = type(_name, (CompatCase, unittest.TestCase),
                            {"row": _row})


def print_matrix():
    out = sys.stdout
    out.write("\ncompatibility matrix (measured by this run; shim %s):\n\n"
              % ("absent" if servers.NO_SHIM else servers.SHIM_PATH))
    out.write("| server (Debian 12) | %s |\n" % " | ".join(COLUMNS))
    out.write("|---|%s\n" % ("---|" * len(COLUMNS)))
    for row in ROWS:
        cells = MATRIX.get(row[0], {})
        out.write("| %s | %s |\n" % (row[0], " | ".join(
            cells.get(c, "-") for c in COLUMNS)))
    out.flush()


# Exit status when every row that ran passed but some were skipped (a
# package missing): ctest shows the test as skipped, not passed.
EXIT_SKIPPED = 77

if __name__ == "__main__":
    prog = unittest.main(verbosity=2, exit=False)
    print_matrix()
    if not prog.result.wasSuccessful():
        sys.exit(1)
    for test, why in prog.result.skipped:
        print("SKIPPED: %s" % why)
    sys.exit(EXIT_SKIPPED if prog.result.skipped else 0)
