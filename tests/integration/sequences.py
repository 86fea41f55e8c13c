"""The request-sequence table for the fidelity tests, generated per server
from a few lists: conditional-header variants x paths x methods x versions x
connection patterns (serial keep-alive, pipelined, byte-split)."""

import time

from compare import Sequence
from docroots import T0
from wire import Request, asctime_date, http_date, rfc850_date


def cond_variants(etag, lm_unix):
    """(name, headers) for conditional requests against a representation with
    ETag `etag` (or None) and Last-Modified lm_unix (or None)."""
    E = etag or '"no-such-tag"'
    L = lm_unix if lm_unix is not None else T0
    later, earlier = http_date(L + 3600), http_date(L - 3600)
    future = http_date(int(time.time()) + 3 * 86400)
    v = [
        ("none", []),
        ("inm-nomatch", [("If-None-Match", '"zz"')]),
        ("inm-star", [("If-None-Match", "*")]),
        ("inm-star-mixed", [("If-None-Match", "*, " + E)]),
        ("inm-malformed", [("If-None-Match", "abc")]),
        ("inm-empty", [("If-None-Match", "")]),
        ("inm-unterminated", [("If-None-Match", '"abc')]),
        ("ims-exact", [("If-Modified-Since", http_date(L))]),
        ("ims-later", [("If-Modified-Since", later)]),
        ("ims-earlier", [("If-Modified-Since", earlier)]),
        ("ims-future", [("If-Modified-Since", future)]),
        ("ims-rfc850", [("If-Modified-Since", rfc850_date(L + 3600))]),
        ("ims-asctime", [("If-Modified-Since", asctime_date(L + 3600))]),
        ("ims-iso-invalid", [("If-Modified-Since", "2020-09-13T13:26:40Z")]),
        ("ims-two-lines", [("If-Modified-Since", later),
                           ("If-Modified-Since", later)]),
        ("inm-nomatch+ims-later", [("If-None-Match", '"zz"'),
                                   ("If-Modified-Since", later)]),
        ("inm-empty+ims-later", [("If-None-Match", ""),
                                 ("If-Modified-Since", later)]),
        ("if-match-fail+ims-later", [("If-Match", '"zz"'),
                                     ("If-Modified-Since", later)]),
        ("ius-fail+ims-later", [("If-Unmodified-Since", earlier),
                                ("If-Modified-Since", later)]),
        ("ius-ok+ims-later", [("If-Unmodified-Since", later),
                              ("If-Modified-Since", later)]),
        ("nocache+ims-later", [("Cache-Control", "no-cache"),
                               ("If-Modified-Since", later)]),
        ("range", [("Range", "bytes=0-9")]),
        ("range+ims-later", [("Range", "bytes=0-9"),
                             ("If-Modified-Since", later)]),
        ("range-multi", [("Range", "bytes=0-0,5-9")]),
    ]
    if etag:
        v += [
            ("inm-match", [("If-None-Match", etag)]),
            ("inm-weak-match", [("If-None-Match", "W/" + etag)]),
            ("inm-list-match", [("If-None-Match", '"zz" ,\t' + etag)]),
            ("inm-two-lines", [("If-None-Match", '"zz"'),
                               ("If-None-Match", etag)]),
            ("inm-lower-w", [("If-None-Match", "w/" + etag)]),
            ("inm-match+ims-earlier", [("If-None-Match", etag),
                                       ("If-Modified-Since", earlier)]),
            ("inm-match+ims-later", [("If-None-Match", etag),
                                     ("If-Modified-Since", later)]),
            ("if-match-ok+ims-later", [("If-Match", etag),
                                       ("If-Modified-Since", later)]),
            ("range-ifrange+inm-match", [("Range", "bytes=0-9"),
                                         ("If-Range", etag),
                                         ("If-None-Match", etag)]),
        ]
    return v


def build(profile):
    """profile: dict with
      etag, lm        validators of /s.txt as the bare server sends them
      big_etag        ETag of /big.bin (or None)
      extra_paths     [(path, method)] more 200/404/3xx targets
      cgi             [(path, etag or None)] CGI targets (may be empty)
      post_path       target that accepts POST (or a static file)
    """
    E, L = profile["etag"], profile["lm"]
    C = dict(cond_variants(E, L))
    seqs = []

    def R(method="GET", path="/s.txt", cond="none", version="HTTP/1.1",
          extra=(), body=b""):
        return Request(method, path, version, list(C[cond]) + list(extra),
                       body)

    # A. every conditional variant on a single GET
    for name in C:
        seqs.append(Sequence("get-" + name, [R(cond=name)]))
    # B. HEAD
    for name in ("none", "inm-star", "inm-nomatch", "ims-later", "ims-exact",
                 "ims-earlier") + (("inm-match",) if E else ()):
        seqs.append(Sequence("head-" + name, [R("HEAD", cond=name)]))
    # C. HTTP/1.0
    for name in ("none", "ims-later", "inm-star", "range") + (
            ("inm-match",) if E else ()):
        seqs.append(Sequence("http10-" + name,
                             [R(cond=name, version="HTTP/1.0")]))
    seqs.append(Sequence("http10-keepalive", [
        R(version="HTTP/1.0", extra=[("Connection", "keep-alive")]),
        R(cond="ims-later", version="HTTP/1.0",
          extra=[("Connection", "keep-alive")]),
        R(cond="inm-star", version="HTTP/1.0")]))
    # D. a 256 KiB file
    BE = dict(cond_variants(profile.get("big_etag"), L))
    for name in ("none", "ims-later", "inm-star", "range", "inm-nomatch") + (
            ("inm-match",) if profile.get("big_etag") else ()):
        seqs.append(Sequence("big-" + name, [
            Request("GET", "/big.bin", headers=list(BE[name]))]))
    # E. 404 and other paths
    for name in ("none", "inm-star", "ims-later"):
        seqs.append(Sequence("404-get-" + name, [R(path="/nope", cond=name)]))
    seqs.append(Sequence("404-head", [R("HEAD", path="/nope")]))
    for path, method in profile.get("extra_paths", []):
        for name in ("none", "ims-later", "inm-star"):
            seqs.append(Sequence("path-%s-%s-%s" % (method, path, name),
                                 [R(method, path=path, cond=name)]))
    # F. POST
    post = profile.get("post_path", "/s.txt")
    seqs.append(Sequence("post", [R("POST", path=post, body=b"a=1&b=2")]))
    seqs.append(Sequence("post-ims-later", [R("POST", path=post,
                                              cond="ims-later",
                                              body=b"x" * 100)]))
    seqs.append(Sequence("post-inm-star", [R("POST", path=post,
                                             cond="inm-star", body=b"y")]))
    # G. CGIs
    for path, tag in profile.get("cgi", []):
        CG = dict(cond_variants(tag, T0))
        names = ["none", "inm-star", "ims-later", "inm-nomatch", "ims-earlier"]
        if tag:
            names += ["inm-match", "inm-weak-match"]
        for name in names:
            seqs.append(Sequence("cgi-%s-%s" % (path, name), [
                Request("GET", path, headers=list(CG[name]))]))
        seqs.append(Sequence("cgi-head-%s" % path, [
            Request("HEAD", path, headers=list(CG["ims-later"]))]))
    # H. keep-alive mixes, serial and pipelined, and byte-split requests
    mixes = {
        "uncond-cond-star": [R(), R(cond="ims-later"), R(cond="inm-star"),
                             R()],
        "head-get-big-404": [R("HEAD", cond="ims-later"), R(cond="ims-later"),
                             Request("GET", "/big.bin",
                                     headers=list(BE["ims-later"])),
                             R(path="/nope")],
        "nomatch-match-head": [R(cond="inm-nomatch"),
                               R(cond="inm-match" if E else "inm-star"),
                               R("HEAD", cond="inm-match" if E else
                                 "inm-star"), R()],
        "range-then-cond": [Request("GET", "/big.bin",
                                    headers=list(BE["range"])),
                            Request("GET", "/big.bin",
                                    headers=list(BE["ims-later"])), R()],
        "post-then-cond": [R("POST", path=post, body=b"hello"),
                           R(cond="ims-later"), R()],
        "dates": [R(cond="ims-earlier"), R(cond="ims-future"),
                  R(cond="ims-later"), R(cond="ims-exact")],
        "all-cond": [R(cond="ims-later"), R(cond="inm-star"),
                     R("HEAD", cond="inm-star"), R(cond="ims-rfc850"),
                     R(cond="ims-asctime"), R(cond="nocache+ims-later")],
    }
    for name, reqs in mixes.items():
        seqs.append(Sequence("ka-" + name, [clone(r) for r in reqs]))
        seqs.append(Sequence("pipe-" + name, [clone(r) for r in reqs],
                             mode="pipelined"))
    batch = [R(cond=n) for n in ("none", "ims-later", "inm-star",
                                 "inm-nomatch", "ims-earlier", "range",
                                 "ims-exact", "inm-malformed", "none",
                                 "ims-later")]
    seqs.append(Sequence("pipe-batch10", batch, mode="pipelined"))
    for i, (name, reqs) in enumerate(list(mixes.items())[:4]):
        seqs.append(Sequence("split-" + name, [clone(r) for r in reqs],
                             split=[1, 2, 5, 13, 30][i:] + [64]))
    seqs.append(Sequence("split-pipelined", [clone(r) for r in batch[:5]],
                         mode="pipelined", split=[7, 3, 50]))
    # I. connections left open by the client (no Connection: close)
    seqs.append(Sequence("open-cond", [R(cond="ims-later")], close=False))
    seqs.append(Sequence("open-mix", [R(), R(cond="inm-star")], close=False))
    seqs.append(Sequence("open-pipe", [R(cond="inm-star"), R()],
                         mode="pipelined", close=False))
    return seqs


def clone(r):
    return Request(r.method, r.target, r.version, list(r.headers), r.body,
                   r.host)
