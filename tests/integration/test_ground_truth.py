"""Differential test against ground truth: every 304 notmod sends is checked
against the bytes the server would send at that moment.

A driver changes content the test controls, on a random schedule (seeded;
the seed is printed, NOTMOD_TEST_SEED replays it): a busybox CGI page
(close-delimited, and the same file behind a Content-Length CGI), a CGI
whose body depends on a cookie, and two static files served by nginx with
validators off (the shim hashes the file nginx sendfile()s). Changes come in
bursts (several in one second, reverts A -> B -> A) between calm spells
long enough for synthesized Last-Modified dates to appear; static files are
also rewritten in place with the same size and their mtime restored.

Eight simulated clients, each with a cache per URL (body, ETag and
Last-Modified as received), revalidate with If-None-Match only,
If-Modified-Since only (with the date they hold), both, or send plain
requests, by GET and HEAD, with Host spelled `example.com`,
`example.com:80`, `EXAMPLE.COM` or (nginx) as an absolute-form target.
The clients of one round send concurrently; content changes only between
rounds, so the truth of every request is exact.

Failures: a 304 for other bytes than the truth (WRONG 304), a 304 to an
unconditional request, a 200 whose body is not the truth, one ETag seen on
two different bodies, a HEAD 200 carrying the ETag of other bytes, a
tagged 200 without exactly one Date, a Last-Modified later than the Date,
and transport errors. notmodd is restarted with SIGTERM and killed with SIGKILL
a few times during each run. The hit rate (304s per revalidation) must
stay above a floor, so a shim that stops answering is noticed.

Run for each store: embedded with --state, then Redis.
NOTMOD_TEST_STEPS sets the requests per store (default 10,000)."""

import concurrent.futures
import hashlib
import os
import random
import signal
import sys
import time
import unittest

from servers import BusyboxServer, NginxServer
from truth import Stack, rewrite, rewrite_same_size_keep_mtime
from wire import Conn, FramingError, parse_http_date

SEED = int(os.environ.get("NOTMOD_TEST_SEED") or
           random.SystemRandom().randrange(1 << 32))
STEPS = int(os.environ.get("NOTMOD_TEST_STEPS") or 10000)
CLIENTS = 8
HIT_RATE_FLOOR = 0.20
SHOW_FAILURES = 12
# Two writes of one file closer than this could share an mtime and ctime
# (the kernel stamps files with a clock that ticks every few ms): no program
# could tell such versions apart by the file's metadata, so the driver
# leaves at least this much time between two changes of a static file.
STATIC_WRITE_GAP_S = 0.025


def text(n, tag, seed):
    """n bytes of printable text, starting with tag."""
    r = random.Random(seed)
    body = tag.encode() + bytes(r.choice(b"abcdefghijklmnop \n")
                                for _ in range(max(0, n - len(tag) - 1)))
    return body[:n - 1] + b"\n"


class Source:
    """One piece of content the driver controls: a file, its versions
    (some of the same size, so same-size edits happen), and whether it is
    a static file nginx serves (changed with care for its metadata)."""

    def __init__(self, name, path, versions, is_static):
        self.name = name
        self.path = path
        self.versions = versions
        self.is_static = is_static
        self.current = versions[0]
        self.previous = versions[1]
        self.last_write = 0.0
        self.changes = 0
        self.inplace = 0
        self.reverts = 0
        rewrite(path, self.current)

    def change(self, rng):
        if rng.random() < 0.35:
            new = self.previous  # A -> B -> A
            self.reverts += 1
        else:
            new = rng.choice([v for v in self.versions if v != self.current])
        if self.is_static:
            wait = self.last_write + STATIC_WRITE_GAP_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        if self.is_static and len(new) == len(self.current) and \
                rng.random() < 0.5:
            rewrite_same_size_keep_mtime(self.path, new)
            self.inplace += 1
        else:
            rewrite(self.path, new)
        self.last_write = time.monotonic()
        self.previous, self.current = self.current, new
        self.changes += 1


class Schedule:
    """When a source changes: calm spells of calm_rounds (a round takes
    20-40 ms; the long spells leave time for dates to appear and be used)
    and bursts of 1-8 rounds in which it changes with probability 0.6 each
    round (several changes within one second)."""

    def __init__(self, rng, calm_rounds):
        self.rng = rng
        self.calm_rounds = calm_rounds
        self.calm = rng.randint(1, calm_rounds[1])
        self.burst = 0

    def changes_now(self):
        if self.burst > 0:
            self.burst -= 1
            if self.burst == 0:
                self.calm = self.rng.randint(*self.calm_rounds)
            return self.rng.random() < 0.6
        self.calm -= 1
        if self.calm <= 0:
            self.burst = self.rng.randint(1, 8)
        return False


# URL -> (server, target path, source picker); weights per request
URLS = {
    "page": ("busybox", "/cgi-bin/page.sh", 0.17),
    "clen": ("busybox", "/cgi-bin/clen.sh", 0.08),
    "cookie": ("busybox", "/cgi-bin/cookie.sh", 0.20),
    "s": ("nginx", "/s.txt", 0.30),
    "t": ("nginx", "/t.txt", 0.25),
}
HOSTS = ["example.com", "example.com:80", "EXAMPLE.COM"]
# (method, validators sent), weight
KINDS = [(("GET", ""), 0.10), (("GET", "inm"), 0.24), (("GET", "ims"), 0.20),
         (("GET", "both"), 0.18), (("HEAD", ""), 0.05),
         (("HEAD", "inm"), 0.09), (("HEAD", "ims"), 0.08),
         (("HEAD", "both"), 0.06)]


def weighted(rng, pairs):
    x = rng.random() * sum(w for _, w in pairs)
    for v, w in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][0]


def short(body):
    if body is None:
        return "nothing"
    return "%d bytes sha1 %s %r" % (len(body), hashlib.sha1(body).hexdigest()
                                    [:10], body[:40])


class Client:
    def __init__(self, idx, ports, cookie):
        self.idx = idx
        self.cookie = cookie
        self.conns = {name: Conn(port) for name, port in ports.items()}
        self.cache = {}  # url -> (body, etag, last_modified)

    def close(self):
        for c in self.conns.values():
            c.close()


class Plan:
    """One request: who sends what, and what the client held."""

    def __init__(self, step, client, url, method, mode, host, target,
                 headers, held, truth):
        self.step = step
        self.client = client
        self.url = url
        self.method = method
        self.mode = mode
        self.host = host
        self.target = target
        self.headers = headers
        self.held = held
        self.truth = truth

    @property
    def is_conditional(self):
        return any(k in ("If-None-Match", "If-Modified-Since")
                   for k, _ in self.headers)

    def describe(self):
        body, etag, lm = self.held or (None, None, None)
        return ("step %d client %d: %s %s Host: %s %r\n"
                "    client held: ETag %s, Last-Modified %s, body %s\n"
                "    server would send now: %s" % (
                    self.step, self.client.idx, self.method, self.target,
                    self.host, self.headers, etag, lm, short(body),
                    short(self.truth)))


def perform(plan):
    server = URLS[plan.url][0]
    conn = plan.client.conns[server]
    try:
        return conn.request(plan.method, plan.target, plan.host,
                            plan.headers), None
    except (OSError, FramingError, EOFError) as e:
        conn.close()
        return None, "%s: %s" % (e.__class__.__name__, e)


class Run:
    """One store's run: the stack, the sources, the clients, the tallies."""

    def __init__(self, store, seed):
        self.store = store
        self.seed = seed
        self.rng = random.Random(seed)
        self.stack = Stack(store, state=(store == "embedded"),
                           prefix="nm-truth-%s-" % store).start()
        st = self.stack
        self.servers = {"busybox": st.server(BusyboxServer),
                        "nginx": st.server(NginxServer, validators="off")}
        same = lambda n, tag, k: [text(n, tag, k * 7 + j) for j in range(3)]
        self.sources = {
            "page": Source("page", st.cgi_path("page.txt"),
                           same(60, "page", 1) + [text(90, "page-long", 2),
                                                  text(30, "page-short", 3)],
                           False),
            "cookie1": Source("cookie1", st.cgi_path("cookie1.txt"),
                              same(50, "v1", 4) + [text(70, "v1-long", 5)],
                              False),
            "cookie2": Source("cookie2", st.cgi_path("cookie2.txt"),
                              same(50, "v2", 6) + [text(80, "v2-long", 7)],
                              False),
            "s": Source("s", st.doc_path("s.txt"),
                        same(4096, "static-s", 8) + [text(3000, "s-short", 9)],
                        True),
            "t": Source("t", st.doc_path("t.txt"),
                        same(100, "static-t", 10) + [text(140, "t-long", 11)],
                        True),
        }
        # page and s change seldom (If-Modified-Since gets its chance),
        # t and the cookie variants often
        calm = {"page": (40, 250), "s": (40, 250)}
        self.schedules = {name: Schedule(self.rng, calm.get(name, (5, 80)))
                          for name in self.sources}
        ports = {name: s.port for name, s in self.servers.items()}
        self.clients = [Client(i, ports, "v=2" if i >= 6 else "v=1")
                        for i in range(CLIENTS)]
        self.tags = {}  # ETag -> body: a strong tag names one body
        self.failures = []
        self.kinds = {}  # failure kind -> count
        self.counts = {"requests": 0, "revalidations": 0, "304": 0,
                       "wrong_304": 0, "restarts": 0, "kills": 0,
                       "with_lm": 0}
        self.by_kind = {}

    def close(self):
        for c in self.clients:
            c.close()
        self.stack.close()

    def truth(self, url, client):
        if url == "cookie":
            return self.sources["cookie2" if client.cookie == "v=2"
                                else "cookie1"].current
        if url in ("page", "clen"):
            return self.sources["page"].current
        return self.sources[url].current

    def plan(self, step, client):
        rng = self.rng
        if rng.random() < 0.03:
            client.cookie = "v=1" if client.cookie == "v=2" else "v=2"
        url = weighted(rng, [(u, w) for u, (_, _, w) in URLS.items()])
        server, path, _ = URLS[url]
        host = rng.choice(HOSTS)
        target = path
        if server == "nginx" and rng.random() < 0.2:
            target, host = "http://example.com" + path, "example.com"
        method, mode = weighted(rng, KINDS)
        held = client.cache.get(url)
        headers = []
        if held is not None:
            body, etag, lm = held
            if mode == "ims" and lm is None:
                mode = "inm"  # no date to send: the tag instead
            if mode in ("inm", "both") and etag is not None:
                headers.append(("If-None-Match", etag))
            if mode in ("ims", "both") and lm is not None:
                headers.append(("If-Modified-Since", lm))
        if not headers:
            mode = ""
            if held is None:
                method = "GET"
        if url == "cookie":
            headers.append(("Cookie", client.cookie))
        return Plan(step, client, url, method, mode, host, target, headers,
                    held, self.truth(url, client))

    def fail(self, plan, kind, resp, detail=""):
        """Records a failure; kind is its fixed name (counted), detail
        what varies."""
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.failures.append("%s%s: %s\n    response: %r" % (
            kind, " (%s)" % detail if detail else "", plan.describe(),
            resp.head_raw if resp is not None else None))

    def check(self, plan, resp, error):
        c = self.counts
        c["requests"] += 1
        if error is not None:
            self.fail(plan, "transport error", None, error)
            return
        kind = self.by_kind.setdefault("%s %s" % (plan.method,
                                                  plan.mode or "plain"),
                                       [0, 0])
        kind[0] += 1
        if plan.is_conditional:
            c["revalidations"] += 1
        etag = resp.first("ETag")
        self.check_dates(plan, resp, etag)
        if resp.status == 304:
            c["304"] += 1
            kind[1] += 1
            if not plan.is_conditional:
                self.fail(plan, "304 to an unconditional request", resp)
            elif plan.held[0] != plan.truth:
                c["wrong_304"] += 1
                self.fail(plan, "WRONG 304", resp)
                # the client starts afresh: one wrong 304, one report
                del plan.client.cache[plan.url]
                return
            if resp.body_raw:
                self.fail(plan, "304 with a body", resp)
            # RFC 9111 §4.3.4: the stored validators are replaced by the
            # 304's
            body, old_etag, old_lm = plan.held
            plan.client.cache[plan.url] = (
                body, etag or old_etag,
                resp.first("Last-Modified") or old_lm)
            return
        if resp.status != 200:
            self.fail(plan, "unexpected status", resp, "%d" % resp.status)
            return
        if resp.first("Last-Modified"):
            c["with_lm"] += 1
        if plan.method == "HEAD":
            if etag is not None and self.tags.get(etag, plan.truth) != \
                    plan.truth:
                self.fail(plan, "HEAD 200 carries the ETag of other bytes",
                          resp)
            return
        if resp.body != plan.truth:
            self.fail(plan, "200 body is not the truth", resp,
                      "got %s" % short(resp.body))
            return
        if etag is not None:
            if self.tags.setdefault(etag, resp.body) != resp.body:
                self.fail(plan, "one ETag on two bodies", resp,
                          "%s also named %s" % (etag,
                                                short(self.tags[etag])))
        plan.client.cache[plan.url] = (resp.body, etag,
                                       resp.first("Last-Modified"))

    def check_dates(self, plan, resp, etag):
        """A 200 whose head the shim changed has exactly one Date (none of
        these servers' CGIs sends one); a Last-Modified is never later
        than the response's Date."""
        dates = resp.header("Date")
        if resp.status == 200 and etag is not None and \
                etag.startswith('"nm-') and len(dates) != 1:
            self.fail(plan, "tagged 200 without exactly one Date", resp,
                      "%d" % len(dates))
        lm = parse_http_date(resp.first("Last-Modified") or "")
        date = parse_http_date(dates[0]) if dates else None
        if lm is not None and date is not None and lm > date:
            self.fail(plan, "Last-Modified later than Date", resp)

    def go(self, steps):
        rounds = (steps + CLIENTS - 1) // CLIENTS
        rng = self.rng
        # notmodd stopped cleanly twice and killed twice, in random order,
        # in the last 60% of the run (a restart with --state can push the
        # next dates far ahead: the first part keeps If-Modified-Since
        # busy), each time left down for 5-40 rounds (the shims keep the
        # last snapshot) before it starts again on the same state
        sigs = [signal.SIGTERM, signal.SIGTERM, signal.SIGKILL,
                signal.SIGKILL]
        rng.shuffle(sigs)
        first, part = rounds * 2 // 5, rounds * 3 // 20
        events = {}
        for i, sig in enumerate(sigs):
            at = first + i * part + rng.randint(part // 10, part // 2)
            events[at] = sig
            events[at + rng.randint(5, min(40, part // 3))] = "start"
        step = 0
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            for rnd in range(rounds):
                for name, sched in self.schedules.items():
                    if sched.changes_now():
                        self.sources[name].change(rng)
                ev = events.get(rnd)
                if ev == "start" and self.stack.daemon is None:
                    self.stack.start_daemon()
                elif ev is not None and ev != "start" and \
                        self.stack.daemon is not None:
                    self.counts["kills" if ev == signal.SIGKILL
                                else "restarts"] += 1
                    rc = self.stack.stop_daemon(ev)
                    if ev == signal.SIGTERM and rc != 0:
                        self.failures.append("notmodd exited %r on SIGTERM"
                                             % rc)
                plans = []
                for client in self.clients:
                    plans.append(self.plan(step, client))
                    step += 1
                results = list(pool.map(perform, plans))
                for plan, (resp, error) in zip(plans, results):
                    self.check(plan, resp, error)
        if self.stack.daemon is None:
            self.stack.start_daemon()
        return step

    def report(self, steps, seconds):
        c = self.counts
        rate = c["304"] / c["revalidations"] if c["revalidations"] else 0.0
        src = ", ".join("%s %d changes (%d reverts, %d in place)" % (
            s.name, s.changes, s.reverts, s.inplace)
            for s in self.sources.values())
        kinds = ", ".join("%s %d/%d" % (k, v[1], v[0])
                          for k, v in sorted(self.by_kind.items()))
        print("\n[%s] seed %d: %d requests in %.1f s, %d revalidations, "
              "%d 304s (hit rate %.1f%%), %d wrong 304s, %d failures; "
              "notmodd stopped %d, killed %d; %d 200s carried a "
              "Last-Modified\n  304s per kind: %s\n  content: %s" % (
                  self.store, self.seed, steps, seconds, c["revalidations"],
                  c["304"], 100 * rate, c["wrong_304"], len(self.failures),
                  c["restarts"], c["kills"], c["with_lm"], kinds, src))
        sys.stdout.flush()
        return rate


class GroundTruth(unittest.TestCase):
    def run_store(self, store, seed):
        run = Run(store, seed)
        try:
            t0 = time.monotonic()
            steps = run.go(STEPS)
            rate = run.report(steps, time.monotonic() - t0)
            for name, s in run.servers.items():
                self.assertEqual(s.proc.poll(), None, "%s exited" % name)
        finally:
            run.close()
        if run.failures:
            # wrong 304s first: the other kinds are often their cause or
            # their echo
            shown = sorted(run.failures,
                           key=lambda f: not f.startswith("WRONG 304"))
            self.fail("[%s] seed %d (replay: NOTMOD_TEST_SEED=%d): %d "
                      "failures (%s); the first %d:\n%s" % (
                          store, run.seed, SEED, len(run.failures),
                          ", ".join("%s: %d" % kv for kv in
                                    sorted(run.kinds.items())),
                          SHOW_FAILURES,
                          "\n".join(shown[:SHOW_FAILURES])))
        self.assertGreater(rate, HIT_RATE_FLOOR, "[%s] hit rate %.1f%%: is "
                           "the shim still answering?" % (store, 100 * rate))

    def test_embedded_store_never_wrong_304(self):
        self.run_store("embedded", SEED)

    def test_redis_store_never_wrong_304(self):
        self.run_store("redis", SEED + 1)


if __name__ == "__main__":
    print("ground truth: seed %d (NOTMOD_TEST_SEED to replay), %d requests "
          "per store" % (SEED, STEPS))
    unittest.main()
