"""The bare-vs-shim comparison: request sequences sent alike to a bare
server and to the same server under the shim, and the response-by-response
check that the shimmed bytes are the bare bytes except where the reference
model (model.py) wants a 304 or allows an added nm- ETag."""

from model import (EITHER, NOT_MODIFIED, PASS, check_304_shape,
                   expected_action, may_gain_synth_etag, synth_block_of,
                   synth_line_of)
from wire import exchange, insert_line_before_end, normalize_head


class Sequence:
    """Requests sent on one connection (or one connection per request when
    the server cannot keep a connection open).

    mode: 'serial' (send one, read its response, send the next) or
    'pipelined' (send all, then read).  split: piece sizes (see exchange).
    close: add `Connection: close` to the last HTTP/1.1 request so the
    exchange ends at the server's close; False leaves the connection open
    and the client lingers briefly for stray bytes instead."""

    def __init__(self, name, requests, mode="serial", split=None, close=True):
        self.name = name
        self.requests = list(requests)
        self.mode = mode
        self.split = split
        if close:
            last = self.requests[-1]
            if last.version == "HTTP/1.1" and not last.has("Connection"):
                last.headers.append(("Connection", "close"))

    def __repr__(self):
        return "Sequence(%s: %s, %s%s)" % (
            self.name, self.mode, self.requests,
            " split=%s" % self.split if self.split else "")


def run_sequence(server, seq):
    """Run seq against server.  Returns (pairs, exchanges): pairs is a list
    of (request, response or None, exchange) in request order."""
    if server.keepalive:
        groups = [seq.requests]
    else:
        groups = [[r] for r in seq.requests]
    pairs, exchanges = [], []
    for g in groups:
        ex = exchange(server.port, g, pipelined=(seq.mode == "pipelined"),
                      split=seq.split, split_delay=0.01)
        exchanges.append(ex)
        finals = ex.final()
        for i, req in enumerate(g):
            pairs.append((req, finals[i] if i < len(finals) else None, ex))
    return pairs, exchanges


class Outcome:
    def __init__(self):
        self.problems = []
        self.substituted = 0     # 304s the shim sent where the server sent 200
        self.server_304_tagged = 0  # the server's 304s given the 200's tag
        self.synth_added = 0     # 200s that gained an nm- ETag
        self.expected_304 = 0
        self.passed_instead_of_304 = 0  # substitution='optional' only

    def __bool__(self):
        return not self.problems


def _diff_hint(a, b):
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return "first difference at byte %d: bare %r / shim %r" % (
        i, a[max(0, i - 40):i + 60], b[max(0, i - 40):i + 60])


# target -> the nm- tag the shim's last 200 for it carried (any server of
# this run: the servers share the docroot's files, and a file's tag is its
# bytes')
_tags_seen = {}


def server_304_tag_added(req, b, s):
    """True when s is the server's own 304 (b, without an ETag) plus one
    `ETag: "nm-..."` line, the tag the shim's 200 for the URL carried (when
    one was seen) and, if the request listed tags, one of them: the shim
    adds its file's tag to the server's 304 (docs/validators.md)."""
    tag = s.first("ETag")
    if b.status != 304 or s.status != 304 or b.first("ETag") is not None \
            or tag is None or not tag.startswith('"nm-'):
        return False
    if _tags_seen.get(req.target, tag) != tag:
        return False
    inm = ",".join(v for k, v in req.headers if k.lower() == "if-none-match")
    if inm and tag not in inm:
        return False
    want = insert_line_before_end(b.head_raw, b"ETag: " + tag.encode())
    return normalize_head(s.head_raw) == normalize_head(want) and \
        s.body_raw == b.body_raw


def compare_sequence(seq, bare_pairs, shim_pairs, synth="optional",
                     require_synth_on=None, substitution="required",
                     can_substitute=True):
    """Check the shimmed run against the bare run, response by response.

    can_substitute: False, or a predicate on the request, for exchanges the
    shim cannot follow (they must pass byte for byte).

    synth: see expected_action.  require_synth_on(req, bare_resp) -> bool:
    when given, a 200 for which it returns True MUST gain exactly one
    nm- ETag line and others must not.
    substitution: 'optional' accepts the bare server's bytes unchanged where
    a 304 is expected (fail-open vehicles, e.g. python's exec'd CGIs); a 304,
    when sent, must still have the exact shape."""
    out = Outcome()
    for (req, b, bex), (_, s, sex) in zip(bare_pairs, shim_pairs):
        tag = "%s %s %r" % (req.method, req.target, req.headers)
        if b is None and s is None:
            continue  # the server closed early (e.g. after a POST) both times
        if b is None:
            out.problems.append("bare server gave no response to %s (%s), "
                                "shimmed did" % (tag, bex))
            continue
        if s is None:
            out.problems.append("shimmed server gave no response to %s (%s)"
                                % (tag, sex))
            continue
        req_synth = synth
        if not (can_substitute(req) if callable(can_substitute)
                else can_substitute):
            # A vehicle the shim cannot follow (documented limitation):
            # every byte must pass exactly as the bare server sent it.
            req_synth = "off"
        action = expected_action(req, b, req_synth)
        if req_synth != synth:
            action = PASS
        bn = normalize_head(b.head_raw) + b.body_raw
        sn = normalize_head(s.head_raw) + s.body_raw
        synth_line = synth_line_of(s) if b.first("ETag") is None else None
        if s.status == 200 and synth_line is not None:
            _tags_seen[req.target] = s.first("ETag")
        if req_synth != "off" and server_304_tag_added(req, b, s):
            out.server_304_tagged += 1
            continue
        synth_block = synth_block_of(s, b) if synth_line else None
        must_synth = bool(require_synth_on and require_synth_on(req, b))
        if action == NOT_MODIFIED and substitution == "optional" and \
                sn == bn:
            out.passed_instead_of_304 += 1
            continue
        if action == NOT_MODIFIED or (action == EITHER and s.status == 304):
            out.expected_304 += action == NOT_MODIFIED
            probs = check_304_shape(s, b, synth_line)
            if must_synth and synth_line is None:
                probs.append("304 without the nm- ETag")
            if probs:
                out.problems.append("%s: expected a substituted 304: %s\n"
                                    "  bare: %r\n  shim: %r" % (
                                        tag, "; ".join(probs), b.head_raw,
                                        s.raw[:600]))
            else:
                out.substituted += 1
            if b.framing == "close" and not (sex.eof and s is sex.final()[-1]):
                out.problems.append("%s: 304 replaced a close-delimited 200 "
                                    "but the connection stayed open" % tag)
            continue
        if sn == bn and not must_synth:
            continue
        if req_synth != "off" and may_gain_synth_etag(req, b) and synth_line:
            want = normalize_head(insert_line_before_end(
                b.head_raw, synth_block or synth_line))
            if normalize_head(s.head_raw) == want and s.body_raw == b.body_raw:
                out.synth_added += 1
                continue
            out.problems.append("%s: shim added %r but the head/body differ "
                                "otherwise: %s" % (tag, synth_line,
                                                   _diff_hint(bn, sn)))
            continue
        if must_synth:
            out.problems.append("%s: expected the bare 200 plus one "
                                "`ETag: \"nm-...\"` line before the empty "
                                "line; got %r" % (tag, s.head_raw))
            continue
        out.problems.append("%s: expected the bare server's bytes (%s); %s"
                            % (tag, action, _diff_hint(bn, sn)))
    if len(bare_pairs) != len(shim_pairs):
        out.problems.append("response count differs")
    # stray bytes after the last response, connection-level errors
    bex = {id(e): e for _, _, e in bare_pairs}
    sex = {id(e): e for _, _, e in shim_pairs}
    for be, se in zip(bex.values(), sex.values()):
        if se.error and not be.error:
            out.problems.append("shim connection error: %s" % se.error)
        if se.leftover != be.leftover and not (
                out.substituted and not se.leftover):
            out.problems.append("stray bytes differ: bare %r shim %r" % (
                be.leftover[:100], se.leftover[:100]))
        if len(se.final()) != len(be.final()):
            out.problems.append("connection carried %d responses under the "
                                "shim, %d bare" % (len(se.final()),
                                                   len(be.final())))
    return out
