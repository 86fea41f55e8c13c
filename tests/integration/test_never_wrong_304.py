"""notmod must never answer 304 for bytes the client does not have. One
test class per way that went wrong, each with real servers under the shim
and a real notmodd (embedded, --state, or Redis):

1. a synthesized Last-Modified going back when content returns to an
   earlier version (Redis remembered the old date), also with one URL
   whose two cookie variants keep replacing each other;
2. two changes within one second (both stores);
3. notmodd --state killed with SIGKILL after changes made since its last
   clean shutdown;
4. HEAD after a same-size static edit or a same-length dynamic change;
5. a file rewritten in place with its size and mtime kept (only the
   ctime tells);
6. Host spellings of one origin (case, default port, absolute-form) that
   must share one store record;
7. a disabled route reached through an equivalent spelling of its path,
   and targets that cannot be normalized safely;
8. Date on the 200s whose head the shim changes, and a synthesized
   Last-Modified never later than that Date.

What the shim may do (and what these tests accept): a synthesized
Last-Modified appears only once the store's current tag for the URL is the
tag served and its date has been reached, so a test that needs one polls
for it (about 1.1 s after a change); an If-Modified-Since against a
synthesized date gives 304 only when it equals that date; a HEAD gets a
synthesized ETag only when the shim can tie it to the exact bytes."""

import os
import re
import signal
import time
import unittest

import docroots
import truth
from daemon_util import wait_for
from servers import BusyboxServer, LighttpdServer, NginxServer, PythonServer
from truth import Stack, lm_of, rewrite, sleep_to_next_second
from wire import Conn, http_date, normalize_head, parse_http_date

NM_TAG_RE = re.compile(r'^"nm-[A-Za-z0-9_-]{22}"$')
LM_TIMEOUT_S = 10.0
NEVER_S = 2.5  # how long a "never 304" is watched: past any new date


class LighttpdCgiServer(LighttpdServer):
    """lighttpd with mod_cgi for *.sh: one process, keep-alive, and it
    frames small CGI output with Content-Length (so a HEAD gets the same
    Content-Length as the GET)."""

    name = "lighttpd-cgi"

    def __init__(self, docroot, **kw):
        super().__init__(docroot, extra_conf='server.modules += ("mod_cgi")\n'
                         'cgi.assign = (".sh" => "/bin/sh")\n', **kw)


def held(resp):
    return "held: ETag %r, Last-Modified %r, body %r" % (
        resp.first("ETag"), resp.first("Last-Modified"), resp.body[:80])


class Base(unittest.TestCase):
    """Request helpers and the assertions every class shares."""

    stack = None

    @classmethod
    def tearDownClass(cls):
        if cls.stack is not None:
            cls.stack.close()

    def get(self, server, target, headers=(), host="example.com",
            method="GET"):
        c = Conn(server.port)
        try:
            return c.request(method, target, host, list(headers))
        finally:
            c.close()

    def assert_200(self, r, body, what):
        self.assertEqual(r.status_line, b"HTTP/1.1 200 OK",
                         "%s: expected 200, got %r" % (what, r.raw[:400]))
        if body is not None:
            self.assertEqual(r.body, body, "%s: body" % what)

    def assert_304(self, r, tag, what):
        self.assertEqual(r.status_line, b"HTTP/1.1 304 Not Modified",
                         "%s: expected 304, got %r" % (what, r.raw[:400]))
        self.assertEqual(r.header("ETag"), [tag], what)
        self.assertEqual(r.body_raw, b"", what)
        for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
            self.assertIsNone(r.first(name), "%s: 304 with %s" % (what, name))

    def assert_nm_tag(self, r, what):
        tag = r.first("ETag")
        self.assertIsNotNone(tag, "%s: no ETag: %r" % (what, r.head_raw))
        self.assertRegex(tag, NM_TAG_RE, what)
        self.assertEqual(len(r.header("ETag")), 1, what)
        return tag

    def wait_past(self, date):
        """Sleeps until the clock is a little past an HTTP date. A date is
        published once the server's Date reaches it, but an
        If-Modified-Since later than the shim's own time() counts as "in
        the future" (ignored), and time() may read one kernel tick
        behind: a test that expects a 304 for that date waits past it."""
        left = parse_http_date(date) + 0.05 - time.time()
        if left > 0:
            time.sleep(left)

    def store_record(self, target, host):
        """`notmodctl get` for the URL, as one line (for messages)."""
        if not target.startswith("http"):
            target = "http://" + host.lower() + target
        try:
            return self.stack.ctl("get", target).strip().replace("\n", "; ")
        except AssertionError as e:
            return str(e).strip()

    def wait_lm(self, server, target, body, headers=(), host="example.com"):
        """GETs target until its 200 carries a Last-Modified (the store
        dated the current tag and the date was reached); every response on
        the way must be a 200 with body. Returns the dated 200."""
        seen = []

        def dated():
            r = self.get(server, target, headers, host)
            self.assert_200(r, body, "GET %s while waiting for a date" %
                            target)
            seen.append(r)
            return r.first("Last-Modified") is not None
        try:
            wait_for(dated, timeout=LM_TIMEOUT_S,
                     what="Last-Modified on %s" % target)
        except AssertionError:
            raise AssertionError(
                "no Last-Modified on %s within %.0f s (the store should date "
                "a new current tag about a second after it appears); last "
                "head %r; notmodd's record: %s" % (
                    target, LM_TIMEOUT_S,
                    seen[-1].head_raw if seen else None,
                    self.store_record(target, host)))
        r = seen[-1]
        self.assert_nm_tag(r, "GET %s" % target)
        return r

    def assert_never_304(self, server, target, cond, body, what,
                         warm=(), host="example.com", methods=("GET",),
                         seconds=NEVER_S, old_tags=()):
        """For `seconds`, a client sends cond (its validators for other
        bytes) for target and must get a 200 with body (HEAD: a 200, and
        no ETag among old_tags). `warm`: the headers of another client's
        plain GET sent before each round, keeping the served bytes the
        URL's current tag in the store."""
        deadline = time.monotonic() + seconds
        n = 0
        while True:
            if warm is not None:
                w = self.get(server, target, warm, host)
                self.assert_200(w, body, "%s: warm-up GET" % what)
            for m in methods:
                r = self.get(server, target, cond, host, method=m)
                label = "%s: %s %s %r (round %d, %.1f s)" % (
                    what, m, target, cond, n, seconds -
                    (deadline - time.monotonic()))
                self.assertNotEqual(r.status, 304, "WRONG 304: %s: %r" % (
                    label, r.head_raw))
                self.assert_200(r, body if m == "GET" else None, label)
                self.assertNotIn(r.first("ETag"), list(old_tags),
                                 "%s: ETag of other bytes: %r" % (
                                     label, r.head_raw))
            n += 1
            if time.monotonic() > deadline:
                return
            time.sleep(0.15)


# --------------------------------------------------------------------------
# 1. Last-Modified going back (Redis store)

class LastModifiedNeverGoesBackRedis(Base):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("redis", prefix="nm-w304-redis-").start()
        cls.busybox = cls.stack.server(BusyboxServer)

    def test_revert_to_earlier_content_is_not_304_for_holder_of_the_change(
            self):
        page = self.stack.cgi_path("page.txt")
        target = "/cgi-bin/page.sh?revert"
        a = b"content A of a page that will come back\n"
        b = b"content B, which replaced A for a while\n"
        rewrite(page, a)
        ra = self.wait_lm(self.busybox, target, a)
        rewrite(page, b)
        rb = self.wait_lm(self.busybox, target, b)
        self.assertNotEqual(rb.first("ETag"), ra.first("ETag"))
        lm_b = rb.first("Last-Modified")
        rewrite(page, a)  # A -> B -> A
        self.assert_never_304(
            self.busybox, target, [("If-Modified-Since", lm_b)], a,
            "client holding B revalidates after the revert to A (%s)" %
            held(rb), methods=("GET", "HEAD"), old_tags=[rb.first("ETag")])

    def test_cookie_variants_replacing_each_other_never_304_across(self):
        d = self.stack.cgi_dir
        target = "/cgi-bin/cookie.sh?variants"
        v1 = b"variant one, for cookie v=1\n"
        v2 = b"variant two, for cookie v=2, longer\n"
        rewrite(os.path.join(d, "cookie1.txt"), v1)
        rewrite(os.path.join(d, "cookie2.txt"), v2)
        c1, c2 = [("Cookie", "v=1")], [("Cookie", "v=2")]
        self.wait_lm(self.busybox, target, v1, c1)
        r2 = self.wait_lm(self.busybox, target, v2, c2)
        for _ in range(3):  # the URL's tag keeps flipping between the two
            self.assert_200(self.get(self.busybox, target, c1), v1, "v=1")
            self.assert_200(self.get(self.busybox, target, c2), v2, "v=2")
        # The client holding variant 2 now sends cookie v=1 (logged in,
        # say): the server would send variant 1.
        self.assert_never_304(
            self.busybox, target,
            c1 + [("If-Modified-Since", r2.first("Last-Modified"))], v1,
            "client holding variant 2 asks with cookie v=1 (%s)" % held(r2),
            warm=c1)


# --------------------------------------------------------------------------
# 2. two changes within one second

class SameSecondMixin:
    store = None

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(cls.store, prefix="nm-w304-%s-" % cls.store).start()
        cls.busybox = cls.stack.server(BusyboxServer)

    def test_two_changes_in_one_second_ims_holder_gets_200(self):
        page = self.stack.cgi_path("page.txt")
        target = "/cgi-bin/page.sh?same-second"
        for attempt in range(5):
            a = b"same-second content A, try %d\n" % attempt
            b = b"same-second content B, try %d\n" % attempt
            sleep_to_next_second(0.02)
            second = int(time.time())
            rewrite(page, a)
            # The holder's copy of A: with a Last-Modified if the shim
            # gives one within this second (it must not, for a date not
            # reached yet), else it revalidates with the Date it got, or
            # the time it received A (RFC 9110 §13.1.3 allows either).
            ra = self.get(self.busybox, target)
            self.assert_200(ra, a, "GET A")
            received = time.time()
            while ra.first("Last-Modified") is None and \
                    time.time() < second + 0.5:
                time.sleep(0.05)
                ra = self.get(self.busybox, target)
                self.assert_200(ra, a, "GET A")
                received = time.time()
            rewrite(page, b)
            rb = self.get(self.busybox, target)
            self.assert_200(rb, b, "GET B")
            if int(time.time()) == second:
                break
        else:
            self.fail("could not make two changes within one second")
        ims = ra.first("Last-Modified") or ra.first("Date") or \
            http_date(int(received))
        self.assert_never_304(
            self.busybox, target, [("If-Modified-Since", ims)], b,
            "client holding A (changed to B in the same second, IMS %s; "
            "%s)" % (ims, held(ra)), methods=("GET", "HEAD"),
            old_tags=[ra.first("ETag")])


class TwoChangesInOneSecondEmbedded(SameSecondMixin, Base):
    store = "embedded"


class TwoChangesInOneSecondRedis(SameSecondMixin, Base):
    store = "redis"


# --------------------------------------------------------------------------
# 3. notmodd --state and SIGKILL

class StateFileAfterSigkill(Base):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("embedded", state=True,
                          prefix="nm-w304-state-").start()
        cls.busybox = cls.stack.server(BusyboxServer)

    def store_tag(self, url):
        out = self.stack.ctl("get", url)
        m = re.search(r"^tag: (.*)$", out, re.M)
        return m.group(1) if m else None

    def test_sigkill_after_revert_never_304_for_holder_of_the_change(self):
        page = self.stack.cgi_path("page.txt")
        target = "/cgi-bin/page.sh?state"
        url = "http://example.com" + target
        a = b"state-file content A\n"
        b = b"state-file content B, newer\n"
        rewrite(page, a)
        ra = self.wait_lm(self.busybox, target, a)
        # clean shutdown: the state file holds A
        self.stack.restart_daemon(signal.SIGTERM)
        self.assertEqual(self.store_tag(url), ra.first("ETag"),
                         "state file did not bring A's tag back")
        # after the last clean shutdown: A -> B -> A
        rewrite(page, b)
        rb = self.wait_lm(self.busybox, target, b)
        rewrite(page, a)
        self.assert_200(self.get(self.busybox, target), a, "GET A again")
        wait_for(lambda: self.store_tag(url) == ra.first("ETag"),
                 what="notmodd knows A is back")
        self.stack.restart_daemon(signal.SIGKILL)
        self.assert_never_304(
            self.busybox, target,
            [("If-Modified-Since", rb.first("Last-Modified"))], a,
            "client holding B after notmodd was killed and restarted (%s)"
            % held(rb), methods=("GET", "HEAD"), seconds=3.0,
            old_tags=[rb.first("ETag")])


# --------------------------------------------------------------------------
# 4. HEAD

class HeadAfterChange(Base):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("embedded", prefix="nm-w304-head-").start()
        cls.nginx = cls.stack.server(NginxServer, validators="off")
        cls.lighttpd = cls.stack.server(LighttpdCgiServer)
        cls.busybox = cls.stack.server(BusyboxServer)

    def check_heads(self, server, target, old, what):
        """HEADs with validators of the old bytes: a 200 without the old
        ETag or the old date."""
        tag, lm = old.first("ETag"), old.first("Last-Modified")
        for cond in ([("If-None-Match", tag)], [("If-Modified-Since", lm)],
                     [("If-None-Match", tag), ("If-Modified-Since", lm)]):
            r = self.get(server, target, cond, method="HEAD")
            label = "%s: HEAD %s %r (%s)" % (what, target, cond, held(old))
            self.assertNotEqual(r.status, 304, "WRONG 304: %s: %r" % (
                label, r.head_raw))
            self.assert_200(r, None, label)
            self.assertEqual(r.body_raw, b"", label)
            self.assertNotEqual(r.first("ETag"), tag,
                                "%s: HEAD carries the old ETag: %r" % (
                                    label, r.head_raw))
            self.assertNotEqual(r.first("Last-Modified"), lm,
                                "%s: HEAD carries the old date: %r" % (
                                    label, r.head_raw))

    def test_head_after_same_size_static_edit_not_304_nor_old_tag(self):
        path = self.stack.doc_path("h.txt")
        a = b"static file, first version..........\n"
        b = b"static file, SECOND version.........\n"
        self.assertEqual(len(a), len(b))
        docroots.write_file(path, a)
        ra = self.wait_lm(self.nginx, "/h.txt", a)
        # HEAD on the unchanged file: whatever it carries, never 304 for
        # other bytes (the file is the same, so a 304 is fine here)
        self.get(self.nginx, "/h.txt", method="HEAD")
        time.sleep(0.05)  # a later ctime/mtime tick
        docroots.write_file(path, b)
        self.check_heads(self.nginx, "/h.txt", ra, "same-size static edit")
        rb = self.get(self.nginx, "/h.txt")
        self.assert_200(rb, b, "GET after the edit")
        tag_b = self.assert_nm_tag(rb, "GET after the edit")
        self.assertNotEqual(tag_b, ra.first("ETag"))
        self.check_heads(self.nginx, "/h.txt", ra,
                         "same-size static edit, after a GET of B")

    def test_head_after_same_length_cgi_change_not_304(self):
        page = self.stack.cgi_path("page.txt")
        cases = [(self.lighttpd, "/cgi-bin/clen.sh?head"),
                 (self.lighttpd, "/cgi-bin/page.sh?head"),
                 (self.busybox, "/cgi-bin/clen.sh?head")]
        for i, (server, target) in enumerate(cases):
            with self.subTest(server=server.name, target=target):
                a = b"dynamic body %d, version one\n" % i
                b = b"dynamic body %d, version TWO\n" % i
                self.assertEqual(len(a), len(b))
                rewrite(page, a)
                ra = self.wait_lm(server, target, a)
                self.assertEqual(ra.first("Content-Length"),
                                 "%d" % len(a) if server is self.lighttpd
                                 or "clen" in target else None)
                self.get(server, target, method="HEAD")
                rewrite(page, b)
                self.check_heads(server, target, ra,
                                 "same-length CGI change (%s)" % server.name)


# --------------------------------------------------------------------------
# 5. file tags and ctime

class FileTagAfterInPlaceRewrite(Base):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("embedded", prefix="nm-w304-ctime-").start()
        cls.nginx = cls.stack.server(NginxServer, validators="off")

    def test_same_size_rewrite_with_mtime_restored_gets_new_tag(self):
        path = self.stack.doc_path("c.txt")
        a = docroots.deterministic_bytes(3000, 11, text=True)
        b = docroots.deterministic_bytes(3000, 12, text=True)
        docroots.write_file(path, a, docroots.T0)
        ra = self.get(self.nginx, "/c.txt")
        self.assert_200(ra, a, "GET A")
        tag_a = self.assert_nm_tag(ra, "GET A")
        self.assertEqual(self.get(self.nginx, "/c.txt").first("ETag"), tag_a)
        time.sleep(0.05)  # a later ctime tick than the first write
        truth.rewrite_same_size_keep_mtime(path, b)
        # the tag the bytes of B get in a file of their own
        docroots.write_file(self.stack.doc_path("c-ref.txt"), b)
        tag_b = self.assert_nm_tag(self.get(self.nginx, "/c-ref.txt"),
                                   "GET B from another file")
        self.assertNotEqual(tag_a, tag_b)
        rb = self.get(self.nginx, "/c.txt")
        self.assert_200(rb, b, "GET after the in-place rewrite")
        self.assertEqual(rb.first("ETag"), tag_b,
                         "in-place rewrite (same size, mtime restored) kept "
                         "the old tag: %r" % rb.head_raw)
        r = self.get(self.nginx, "/c.txt", [("If-None-Match", tag_a)])
        self.assertNotEqual(r.status, 304, "WRONG 304 for the old tag: %r"
                            % r.head_raw)
        self.assert_200(r, b, "INM with the old tag")
        self.assertEqual(r.first("ETag"), tag_b)
        r = self.get(self.nginx, "/c.txt", [("If-None-Match", tag_a)],
                     method="HEAD")
        self.assertNotEqual(r.status, 304, "WRONG 304 to HEAD for the old "
                            "tag: %r" % r.head_raw)
        self.assertNotEqual(r.first("ETag"), tag_a)
        self.assert_304(self.get(self.nginx, "/c.txt",
                                 [("If-None-Match", tag_b)]), tag_b,
                        "INM with the new tag")


# --------------------------------------------------------------------------
# 6. one identity per origin

def spellings(path):
    """Three spellings of http://example.com<path>."""
    return [(path, "example.com"),
            (path, "EXAMPLE.com:80"),
            ("http://example.com" + path, "example.com")]  # absolute-form


SPELLINGS = spellings("/p")


class OneIdentityPerOrigin(Base):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("embedded", prefix="nm-w304-host-").start()
        cls.nginx = cls.stack.server(NginxServer, validators="off")

    def via(self, i, headers=(), method="GET", names=SPELLINGS):
        target, host = names[i]
        return self.get(self.nginx, target, headers, host, method)

    def store_tag(self):
        out = self.stack.ctl("get", "http://example.com/p")
        m = re.search(r"^tag: (.*)$", out, re.M)
        return m.group(1) if m else None

    def test_host_spellings_share_one_store_record(self):
        path = self.stack.doc_path("p")
        for first in range(len(SPELLINGS)):
            body = b"one origin, content seen first via spelling %d\n" % first
            time.sleep(0.05)
            rewrite(path, body)
            what = "first GET via %r" % (SPELLINGS[first],)
            r = self.via(first)
            self.assert_200(r, body, what)
            tag = self.assert_nm_tag(r, what)
            seen = []
            try:
                wait_for(lambda: seen.append(self.store_tag()) or
                         seen[-1] == tag, timeout=5,
                         what="notmodctl get shows the tag")
            except AssertionError:
                self.fail("%s: `notmodctl get http://example.com/p` shows "
                          "tag %r, not %r" % (what, seen[-1:], tag))
            for i in range(len(SPELLINGS)):
                self.assert_304(self.via(i, [("If-None-Match", tag)]), tag,
                                "%s, INM via %r" % (what, SPELLINGS[i]))
            # the date of the one record, reached through the first
            # spelling, is the date every spelling sees
            target, host = SPELLINGS[first]
            lm = self.wait_lm(self.nginx, target, body,
                              host=host).first("Last-Modified")
            self.wait_past(lm)
            for i in range(len(SPELLINGS)):
                label = "%s, then GET via %r" % (what, SPELLINGS[i])
                r = self.via(i)
                self.assert_200(r, body, label)
                self.assertEqual((r.first("ETag"), r.first("Last-Modified")),
                                 (tag, lm), "%s: one record gives one tag "
                                 "and one date: %r" % (label, r.head_raw))
                self.assert_304(self.via(i, [("If-Modified-Since", lm)]), tag,
                                "%s, IMS" % label)

    def test_change_seen_through_one_spelling_not_hidden_by_another(self):
        # a file of its own: the dates of /p belong to the test above
        path = self.stack.doc_path("p2")
        names = spellings("/p2")
        for sees, holds in ((0, 1), (1, 0), (2, 1)):
            with self.subTest(change_via=names[sees],
                              revalidate_via=names[holds]):
                a = b"content A (%d, %d)\n" % (sees, holds)
                b = b"content B, changed via one spelling (%d, %d)\n" % (
                    sees, holds)
                time.sleep(0.05)
                rewrite(path, a)
                # the other spelling knows A, dated
                t2, h2 = names[holds]
                self.wait_lm(self.nginx, t2, a, host=h2)
                time.sleep(0.05)
                rewrite(path, b)
                t1, h1 = names[sees]
                rb = self.wait_lm(self.nginx, t1, b, host=h1)
                time.sleep(0.05)
                rewrite(path, a)  # A -> B -> A, seen via `sees`
                self.assert_200(self.via(sees, names=names), a, "GET A again")
                tag_b, lm_b = rb.first("ETag"), rb.first("Last-Modified")
                for cond in ([("If-Modified-Since", lm_b)],
                             [("If-None-Match", tag_b)],
                             [("If-None-Match", tag_b),
                              ("If-Modified-Since", lm_b)]):
                    self.assert_never_304(
                        self.nginx, t2, cond, a,
                        "holder of B (got via %r) revalidates via %r (%s)" % (
                            names[sees], names[holds], held(rb)),
                        warm=None, host=h2, methods=("GET", "HEAD"),
                        seconds=0.3 if cond[0][0] == "If-None-Match"
                        else NEVER_S,
                        old_tags=[tag_b])


# --------------------------------------------------------------------------
# 7. disabled routes, normalized

DISABLED = [
    # (server attribute, route, equivalent targets)
    ("nginx", "/p", ["/p", "/%70", "/./p", "//p", "/q/../p", "/q/./../p"]),
    ("nginx", "/dir", ["/dir/a.txt", "/%64ir/a.txt", "/dir/./a.txt",
                       "/dir//a.txt", "//dir/a.txt", "/x/../dir/a.txt",
                       "/dir/%61.txt"]),
    ("busybox", "/cgi-bin/page.sh",
     ["/cgi-bin/page.sh", "/cgi-bin/%70age.sh", "/cgi-bin/./page.sh",
      "//cgi-bin/page.sh", "/cgi-bin//page.sh", "/x/../cgi-bin/page.sh",
      "/%63gi-bin/page.sh"]),
]
# RFC 3986 §6 cannot make these safe: an encoded '/', a backslash some
# servers read as '/', an invalid escape. Untouched, routes or not.
UNSAFE_TARGETS = ["/%2Fp", "/%2fp", "/a\\p", "/%zz"]


class DisabledRouteNormalized(Base):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("embedded", prefix="nm-w304-disable-").start()
        for name, data in (("p", b"the file /p\n"),
                           ("a\\p", b"the file /a\\p\n"),
                           ("%zz", b"the file /%zz\n")):
            docroots.write_file(cls.stack.doc_path(name), data, docroots.T0)
        rewrite(cls.stack.cgi_path("page.txt"), b"disabled-route page\n")
        s = cls.stack
        cls.pairs = {
            "nginx": (s.server(NginxServer, shim=False, validators="off"),
                      s.server(NginxServer, validators="off")),
            "busybox": (s.server(BusyboxServer, shim=False),
                        s.server(BusyboxServer)),
            "python": (s.server(PythonServer, shim=False),
                       s.server(PythonServer)),
        }

    def same_as_bare(self, pair, method, target, headers, what):
        bare, shim = pair
        b = self.get(bare, target, headers, method=method)
        s = self.get(shim, target, headers, method=method)
        label = "%s: %s %s %r on %s" % (what, method, target, headers,
                                        shim.name)
        self.assertNotEqual((s.status, b.status), (304, 200),
                            "WRONG 304: %s: %r" % (label, s.head_raw))
        if b.first("ETag") is None:
            self.assertIsNone(s.first("ETag"), "%s: ETag added: %r" % (
                label, s.head_raw))
        self.assertEqual(normalize_head(s.head_raw) + s.body_raw,
                         normalize_head(b.head_raw) + b.body_raw,
                         "%s: not the server's bytes" % label)
        return s

    def test_disabled_route_not_bypassed_by_equivalent_spellings(self):
        for server, route, targets in DISABLED:
            with self.subTest(route=route):
                pair = self.pairs[server]
                shim = pair[1]
                r = self.get(shim, targets[0])
                self.assert_200(r, None, "before disable")
                tag = self.assert_nm_tag(r, "before disable")
                self.stack.ctl("disable", route)
                try:
                    wait_for(lambda: self.get(shim, targets[0]).first("ETag")
                             is None, timeout=10, what="route disabled")
                    for target in targets:
                        for method, headers in (
                                ("GET", []),
                                ("GET", [("If-None-Match", tag)]),
                                ("HEAD", [("If-None-Match", tag)])):
                            s = self.same_as_bare(
                                pair, method, target, headers,
                                "disabled %s" % route)
                            self.assert_200(s, None, target)
                finally:
                    self.stack.ctl("enable", route)
                    wait_for(lambda: self.get(shim, targets[0]).first(
                        "ETag") is not None, timeout=10,
                        what="route enabled again")

    def test_unsafe_targets_pass_untouched_without_any_route_disabled(self):
        for name in ("nginx", "python"):
            pair = self.pairs[name]
            tag = self.assert_nm_tag(self.get(pair[1], "/p"), "GET /p")
            for target in UNSAFE_TARGETS:
                with self.subTest(server=name, target=target):
                    for method, headers in (("GET", []),
                                            ("GET", [("If-None-Match", tag)]),
                                            ("HEAD", [])):
                        self.same_as_bare(pair, method, target, headers,
                                          "unsafe target")


# --------------------------------------------------------------------------
# 8. Date

class DateOnChangedHeads(Base):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("embedded", prefix="nm-w304-date-").start()
        cls.busybox = cls.stack.server(BusyboxServer)
        cls.nginx = cls.stack.server(NginxServer, validators="off")
        cls.python = cls.stack.server(PythonServer)

    def assert_one_current_date(self, r, what):
        dates = r.header("Date")
        self.assertEqual(len(dates), 1, "%s: %d Date fields: %r" % (
            what, len(dates), r.head_raw))
        t = parse_http_date(dates[0])
        self.assertIsNotNone(t, "%s: Date %r" % (what, dates[0]))
        self.assertEqual(dates[0], http_date(t),
                         "%s: Date not IMF-fixdate: %r" % (what, dates[0]))
        self.assertLessEqual(abs(t - time.time()), 5,
                             "%s: Date %r is not now" % (what, dates[0]))
        return t

    def test_tagged_200_has_exactly_one_current_date(self):
        rewrite(self.stack.cgi_path("page.txt"), b"date test page\n")
        for server, target, bare_lines in (
                (self.busybox, "/cgi-bin/page.sh?date",
                 [b"Content-Type: text/plain"]),
                (self.nginx, "/s.txt", None),
                (self.python, "/s.txt", None)):
            with self.subTest(server=server.name):
                for method in ("GET", "HEAD"):
                    r = self.get(server, target, method=method)
                    what = "%s %s on %s" % (method, target, server.name)
                    self.assert_200(r, None, what)
                    if r.first("ETag") is None:
                        self.assertEqual(method, "HEAD", what)
                        continue
                    self.assert_nm_tag(r, what)
                    self.assert_one_current_date(r, what)
                    if bare_lines is not None:
                        # busybox relays the CGI head as it is: only the
                        # shim's lines may have been added
                        kept = [l for l in r.header_lines
                                if not re.match(rb"(?i)(etag|date|"
                                                rb"last-modified):", l)]
                        self.assertEqual(kept, bare_lines, what)

    def test_synthesized_last_modified_never_after_date(self):
        page = self.stack.cgi_path("page.txt")
        target = "/cgi-bin/page.sh?date-order"
        # three changes within one second: dates handed out ahead of the
        # clock must not be shown before they are reached
        sleep_to_next_second(0.02)
        for i in range(3):
            body = b"date order, change %d\n" % i
            rewrite(page, body)
            self.assert_200(self.get(self.busybox, target), body, "change")
        # the last date is three seconds ahead: watch until past it
        deadline = time.monotonic() + 5.0
        dated = 0
        while time.monotonic() < deadline:
            r = self.get(self.busybox, target)
            self.assert_200(r, body, "GET")
            lm = lm_of(r)
            if lm is not None:
                dated += 1
                date = self.assert_one_current_date(r, "dated 200")
                self.assertLessEqual(lm, date, "Last-Modified after Date: "
                                     "%r" % r.head_raw)
                self.assertLessEqual(lm, time.time() + 0.5, r.head_raw)
            time.sleep(0.1)
        self.assertGreater(dated, 0, "no Last-Modified within 5 s")


if __name__ == "__main__":
    unittest.main()
