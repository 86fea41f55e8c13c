"""The reference model of the shim's decision, written from RFC 9110
independently of common/cond.c: what the shim must do with the bare
server's response to a request (pass it, or substitute a 304), what a
substituted 304 must look like beside the 200 it replaces, and where an
nm- ETag (and the lines that come with it) sits in a response."""

import re
import time

from wire import http_date, normalize_head, parse_http_date


# Fields a 304 must not carry (RFC 9110 §15.4.5: representation metadata
# and framing of a body it does not have).
DROPPED_IN_304 = {
    "content-type", "content-length", "content-encoding", "content-language",
    "content-range", "transfer-encoding", "accept-ranges",
    "content-disposition", "content-md5", "trailer",
}
# Fields a 304 must keep when the 200 had them (MUST list + state + framing).
KEPT_IN_304 = {
    "cache-control", "content-location", "date", "etag", "expires", "vary",
    "set-cookie", "connection", "keep-alive", "server",
}
SYNTH_ETAG_RE = re.compile(rb'^ETag: "nm-[A-Za-z0-9_-]{22}"$')

PASS, NOT_MODIFIED, EITHER = "pass", "304", "either"


def parse_etag_list(value):
    """Quote-aware list scanner (RFC 9110 §8.8.3 entity-tags in a §5.6.1
    list: a comma inside quotes belongs to the tag).  Returns a list of
    (weak, opaque) tuples, '*' for a lone star, or None when malformed."""
    s = value
    i, n, out = 0, len(s), []
    saw_star = False
    while i < n:
        while i < n and s[i] in " \t,":
            i += 1
        if i >= n:
            break
        if s[i] == "*":
            saw_star = True
            i += 1
        else:
            weak = False
            if s.startswith("W/", i):
                weak = True
                i += 2
            if i >= n or s[i] != '"':
                return None
            j = i + 1
            while j < n and s[j] != '"':
                c = ord(s[j])
                if not (c == 0x21 or 0x23 <= c <= 0x7e or c >= 0x80):
                    return None
                j += 1
            if j >= n:
                return None
            out.append((weak, s[i + 1:j]))
            i = j + 1
        while i < n and s[i] in " \t":
            i += 1
        if i < n and s[i] != ",":
            return None
    if saw_star:
        return "*" if not out else None
    return out


def etag_of(resp):
    v = resp.first("ETag")
    if v is None:
        return None
    lst = parse_etag_list(v)
    if not lst or lst == "*" or len(lst) != 1:
        return None
    return lst[0]


def expected_action(req, resp, synth="off", now=None):
    """The shim's decision for the bare server's response `resp` to `req`
    (RFC 9110 §13.2.2, as notmod narrows it: only a 200 to GET/HEAD, never
    a 412).

    synth: 'off'      only server validators count;
           'optional' the shim may or may not add an nm- ETag (a request whose
                      outcome depends on it gives EITHER);
           'required' the shim adds one to every eligible 200.
    """
    now = time.time() if now is None else now
    if resp.status != 200 or req.method not in ("GET", "HEAD"):
        return PASS
    tag = etag_of(resp)
    lm = parse_http_date(resp.first("Last-Modified") or "")
    has_validator = tag is not None or lm is not None
    # 1. If-Match (strong comparison); no 304 when it fails or is doubtful
    im = req.header("If-Match")
    if im:
        lst = parse_etag_list(", ".join(im))
        if lst is None:
            return PASS
        if lst != "*":
            if tag is None or tag[0] or not any(
                    not w and o == tag[1] for w, o in lst):
                return PASS
    else:
        ius = req.header("If-Unmodified-Since")
        if len(ius) == 1:
            d = parse_http_date(ius[0])
            if d is not None and (lm is None or lm > d):
                return PASS
    # 2. If-None-Match
    inm = req.header("If-None-Match")
    if inm:
        lst = parse_etag_list(", ".join(inm))
        if lst is None or lst == []:
            return PASS
        if lst == "*":
            if has_validator or synth == "required":
                return NOT_MODIFIED
            return EITHER if synth == "optional" else PASS
        if tag is not None:
            return NOT_MODIFIED if any(o == tag[1] for _, o in lst) else PASS
        # no server tag: only a synthesized one could match, and tests only
        # send real nm- tags on purpose
        if synth != "off" and any(o.startswith("nm-") for _, o in lst):
            return EITHER if synth == "optional" else NOT_MODIFIED
        return PASS
    # 3. If-Modified-Since
    ims = req.header("If-Modified-Since")
    if len(ims) == 1 and lm is not None:
        d = parse_http_date(ims[0])
        if d is not None and d <= now and lm <= d:
            return NOT_MODIFIED
    return PASS


def may_gain_synth_etag(req, resp):
    """Could the shim add an nm- ETag to this bare response?"""
    return (resp.status == 200 and req.method in ("GET", "HEAD")
            and resp.first("ETag") is None)


def check_304_shape(resp304, bare200, synth_tag_line=None):
    """Problems (list of strings) with a substituted 304 compared with the
    bare 200 it replaces.  synth_tag_line: the nm- ETag line the shim would
    have added to the 200, or None."""
    probs = []
    if resp304.status != 304:
        return ["status %d, expected 304" % resp304.status]
    want_status = bare200.version.encode() + b" 304 Not Modified"
    if resp304.status_line != want_status:
        probs.append("status line %r, expected %r" % (resp304.status_line,
                                                      want_status))
    if resp304.body_raw:
        probs.append("304 has body bytes %r" % resp304.body_raw[:80])
    src = list(bare200.header_lines)
    if synth_tag_line is not None:
        src.append(synth_tag_line)
    src_names = [l.partition(b":")[0].strip().lower().decode("latin-1")
                 for l in src]
    has_tag = any(n == "etag" for n in src_names)
    got = list(resp304.header_lines)
    # A close-delimited HTTP/1.1 200 said "close" by closing; its 304 must
    # say it in words (RFC 9112 §9.6), else the client reuses the connection.
    says_close = any(n == "connection" and b"close" in l.lower()
                     for l, n in zip(src, src_names))
    if bare200.framing == "close" and bare200.version == "HTTP/1.1" and \
            not says_close:
        closes = [l for l in got if l.lower() == b"connection: close"]
        if len(closes) != 1:
            probs.append("304 replacing a close-delimited 200 lacks "
                         "exactly one 'Connection: close'")
        for l in closes:
            got.remove(l)
    # RFC 9110 §6.6.1: an origin with a clock sends Date; the shim may add
    # one (IMF-fixdate, now) when the 200 had none
    if "date" not in src_names:
        dates = [l for l in got if l.lower().startswith(b"date:")]
        if len(dates) > 1:
            probs.append("304 has %d Date lines" % len(dates))
        for l in dates:
            v = l.partition(b":")[2].strip().decode("latin-1")
            t = parse_http_date(v)
            if t is None or v != http_date(t) or abs(t - time.time()) > 300:
                probs.append("304 adds a Date that is not IMF-fixdate now: "
                             "%r" % l)
            got.remove(l)
    # every 304 line must be one of the 200's lines, in the 200's order
    j = 0
    norm = lambda l: normalize_head(l)
    for line in got:
        while j < len(src) and norm(src[j]) != norm(line):
            j += 1
        if j >= len(src):
            probs.append("304 line %r is not a line of the 200 (in order)"
                         % line)
            break
        j += 1
    got_norm = [norm(l) for l in got]
    for line, name in zip(src, src_names):
        present = norm(line) in got_norm
        if name in DROPPED_IN_304 and present:
            probs.append("304 keeps %r" % line)
        elif name in KEPT_IN_304 and not present:
            probs.append("304 lost %r" % line)
        elif name == "last-modified" and not has_tag and not present:
            probs.append("304 lost %r (no ETag to replace it)" % line)
    return probs


def synth_line_of(resp):
    for line in resp.header_lines:
        if SYNTH_ETAG_RE.match(line):
            return line
    return None


def synth_block_of(resp, bare):
    """The lines the shim adds to a 200 without validators, joined by CRLF
    as they are sent: its nm- ETag line, then a Last-Modified line (when the
    store dated the tag and the server sent none) and a Date line exactly
    when the bare response has no Date (RFC 9110 §6.6.1). None when resp
    does not carry such a block, or its Date line is missing or extra."""
    lines = resp.header_lines
    for i, line in enumerate(lines):
        if SYNTH_ETAG_RE.match(line):
            block = [line]
            rest = lines[i + 1:]
            if rest and rest[0].startswith(b"Last-Modified: ") and \
                    bare.first("Last-Modified") is None:
                block.append(rest.pop(0))
            has_date = bool(rest) and rest[0].startswith(b"Date: ")
            if has_date != (bare.first("Date") is None):
                return None
            if has_date:
                block.append(rest[0])
            return b"\r\n".join(block)
    return None


