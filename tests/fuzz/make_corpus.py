#!/usr/bin/env python3
"""make_corpus.py - writes the text seeds of tests/fuzz/corpus/ (requests and
responses as real clients and servers send them, dates, entity-tag lists,
304 heads, precondition sets), each with the control prefix its harness
reads. Run once by hand when seeds change; the output is committed. The
binary seeds (event records, snapshots) come from gen_seeds.c at build
time."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CTL = bytes([4, 0x03, 0x00, 0xc1, 0x0f])  # n=4, then 4 split-control bytes
CTL_SKIP = bytes([4, 0x83, 0x00, 0xbf, 0x0f])  # same, skipping where it can

REQUESTS = {
    "curl": b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\n"
            b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    "curl_inm": b"GET /a.css HTTP/1.1\r\nHost: example.com\r\n"
                b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                b"If-None-Match: \"5f3e-1a2b\"\r\n\r\n",
    "browser": b"GET /app.js?v=3 HTTP/1.1\r\nHost: www.example.org\r\n"
               b"Connection: keep-alive\r\nCache-Control: max-age=0\r\n"
               b"sec-ch-ua: \"Chromium\";v=\"120\"\r\n"
               b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n"
               b"Accept: */*\r\nSec-Fetch-Site: same-origin\r\n"
               b"Referer: https://www.example.org/\r\n"
               b"Accept-Encoding: gzip, deflate, br\r\n"
               b"Accept-Language: en-US,en;q=0.9\r\n"
               b"If-None-Match: W/\"1a-abc\", \"2b-def\"\r\n"
               b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    "python": b"GET /data.json HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
              b"Accept-Encoding: identity\r\nUser-Agent: Python-urllib/3.11\r\n"
              b"If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"
              b"Connection: close\r\n\r\n",
    "http10_keepalive": b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n"
                        b"If-Modified-Since: Sun Nov  6 08:49:37 1994\r\n\r\n",
    "pipelined_post": b"POST /submit HTTP/1.1\r\nHost: h\r\n"
                      b"Content-Length: 5\r\n\r\nhello"
                      b"GET /next HTTP/1.1\r\nHost: h\r\nIf-Match: *\r\n"
                      b"If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    "chunked_put": b"PUT /up HTTP/1.1\r\nHost: h\r\n"
                   b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
                   b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: v\r\n\r\n"
                   b"GET /after HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n"
                   b"If-Range: \"x\"\r\n\r\n",
    "smuggle_cl_te": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "upgrade": b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "options_star": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
}

RESPONSES = {
    "nginx": b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
             b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
             b"Content-Type: text/html\r\nContent-Length: 12\r\n"
             b"Last-Modified: Sun, 31 Dec 2023 10:00:00 GMT\r\n"
             b"Connection: keep-alive\r\nETag: \"65913c10-c\"\r\n"
             b"Accept-Ranges: bytes\r\n\r\nhello world\n",
    "nginx_304": b"HTTP/1.1 304 Not Modified\r\nServer: nginx/1.22.1\r\n"
                 b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
                 b"Last-Modified: Sun, 31 Dec 2023 10:00:00 GMT\r\n"
                 b"Connection: keep-alive\r\nETag: \"65913c10-c\"\r\n\r\n",
    "apache": b"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
              b"Server: Apache/2.4.57 (Debian)\r\n"
              b"Last-Modified: Sun, 31 Dec 2023 10:00:00 GMT\r\n"
              b"ETag: \"2aa6-60dd0b3a7f0c0\"\r\nAccept-Ranges: bytes\r\n"
              b"Content-Length: 4\r\nVary: Accept-Encoding\r\n"
              b"Keep-Alive: timeout=5, max=100\r\nConnection: Keep-Alive\r\n"
              b"Content-Type: text/html\r\n\r\nabcd",
    "python": b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n"
              b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
              b"Content-type: text/plain\r\nContent-Length: 3\r\n"
              b"Last-Modified: Sun, 31 Dec 2023 10:00:00 GMT\r\n\r\nabc",
    "busybox": b"HTTP/1.1 200 OK\r\nContent-type: text/plain\r\n"
               b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: close\r\n"
               b"Accept-Ranges: bytes\r\n"
               b"Last-Modified: Sun, 31 Dec 2023 10:00:00 GMT\r\n"
               b"ETag: \"6591...-3\"\r\nContent-Length: 3\r\n\r\nxyz",
    "chunked_cgi": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n1;name=v\r\n \r\n5\r\nworld\r\n"
                   b"0\r\nX-Checksum: 1\r\n\r\n",
    "cgi_bare_lf": b"HTTP/1.0 200 OK\nContent-Type: text/plain\n"
                   b"ETag: \"lf\"\n\nbody until close",
    "close_delimited": b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       b"\r\ndata: 1\n\ndata: 2\n\n",
    "continue_then_200": b"HTTP/1.1 100 Continue\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                         b"Content-Encoding: gzip\r\n\r\nok"
                         b"HTTP/1.1 204 No Content\r\n\r\n"
                         b"HTTP/1.1 206 Partial Content\r\n"
                         b"Content-Range: bytes 0-1/10\r\nContent-Length: 2\r\n\r\nab",
    "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\n\r\n\x81\x05hello",
}

DATES = [
    b"Sun, 06 Nov 1994 08:49:37 GMT",
    b"Sunday, 06-Nov-94 08:49:37 GMT",
    b"Sun Nov  6 08:49:37 1994",
    b"Thu, 29 Feb 2024 23:59:60 GMT",
    b"Wednesday, 31-Dec-99 23:59:59 GMT",
    b"  Fri, 31 Dec 9999 23:59:59 GMT\t",
    b"Sat, 01 Jan 0000 00:00:00 GMT",
]

ETAGS = [  # (flags, current, value)
    (3, b'"abc"', b'"abc"'),
    (2, b'"abc"', b'W/"abc"'),
    (3, b'W/"v1"', b'"x", W/"v1" , "y"'),
    (2, b'"a,b"', b'"a,b", "c"'),
    (3, b'"x"', b'*'),
    (1, b'', b' * '),
    (3, b'"x"', b', ,"x",'),
    (3, b'"\x80\xff"', b'"\x80\xff"'),
]

HEADS_304 = [  # extra, head
    (b"", RESPONSES["nginx"]),
    (b"", RESPONSES["apache"]),
    (b"ETag: \"nm-1\"\r\n", RESPONSES["python"]),
    (b"Date: Tue, 02 Jan 2024 00:00:00 GMT\r\nX-A: b\r\n",
     b"HTTP/1.1 200\r\nCache-Control: max-age=60\r\nSet-Cookie: a=b\r\n"
     b"Transfer-Encoding: chunked\r\nContent-Digest: sha-256=:x=:\r\n\r\n"),
    (b"", RESPONSES["cgi_bare_lf"]),
]


# Heads the one-shot scanner should take whole or must decline (fuzz_scan_agree:
# selector byte 0 requests, 1 responses), beyond the two lists above: block
# boundaries, long values, heads it leaves to the incremental states.
SCAN_EXTRA = {
    "req_long_value": b"GET /x HTTP/1.1\r\nHost: h\r\nCookie: " + b"c=1; " * 200 +
                      b"\r\nIf-None-Match: " + b'"abcdefgh", ' * 60 +
                      b'"z"\r\n\r\n',
    "req_name_at_63": b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * 38 +
                      b"\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 "
                      b"08:49:37 GMT\r\n\r\n",
    "req_crlf_at_64": b"GET / HTTP/1.1\r\nHost: " + b"h" * 41 + b"\r\n\r\n",
    "req_tab_ows": b"GET / HTTP/1.1\r\nHost:\th \t\r\nX_Odd.Name: v\r\n\r\n",
    "req_bare_lf": b"GET / HTTP/1.1\r\nHost: h\n\r\n",
    "req_obs_fold": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    "req_space_colon": b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "req_two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
    "req_cl_differ": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                     b"Content-Length: 2\r\n\r\nab",
    "req_ctl": b"GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n",
    "resp_cr_at_63": b"HTTP/1.1 200 OK\r\nServer: " + b"s" * 37 +
                     b"\r\nETag: \"1\"\r\nContent-Length: 0\r\n\r\n",
    "resp_lf_mixed": b"HTTP/1.1 200 OK\r\nETag: \"a\"\nDate: d\r\n\nrest",
    "resp_no_reason": b"HTTP/1.1 304\r\nETag: W/\"x\"\r\n\r\n",
}


def write(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for name, req in REQUESTS.items():
        write("http_req", name, CTL + req)
    for name, resp in RESPONSES.items():
        # Head mask 0: no response answers HEAD; "nginx" also as HEAD.
        write("http_resp", name, CTL_SKIP + b"\x00" + resp)
    write("http_resp", "nginx_head", CTL + b"\x01" + RESPONSES["nginx_304"]
          .replace(b"304 Not Modified", b"200 OK")
          .replace(b"\r\n\r\n", b"\r\nContent-Length: 12\r\n\r\n"))
    for name, req in REQUESTS.items():
        write("scan_agree", "req_" + name, b"\x00" + req)
    for name, resp in RESPONSES.items():
        write("scan_agree", "resp_" + name, b"\x01" + resp)
    write("scan_agree", "resp_nginx_head", b"\x03" + RESPONSES["nginx"])
    for name, data in SCAN_EXTRA.items():
        write("scan_agree", name, (b"\x01" if name.startswith("resp") else
                                   b"\x00") + data)
    now = struct.pack("<q", 1704067200)  # 2024-01-01, even: folded range
    for i, d in enumerate(DATES):
        write("httpdate", "date%d" % i, now + d)
    for i, (fl, cur, val) in enumerate(ETAGS):
        write("etag", "list%d" % i, bytes([fl, len(cur)]) + cur + val)
    for i, (extra, head) in enumerate(HEADS_304):
        write("resp304", "head%d" % i,
              struct.pack("<H", 4095) + now + bytes([len(extra)]) + extra +
              head)
    conds = [  # method, if-match, inm, ims, ius, etag, last_modified
        (1, None, b'"a", W/"b"', None, None, b'W/"b"', -1),
        (2, None, None, b"Sun, 06 Nov 1994 08:49:37 GMT", None, None,
         784111777),
        (1, b"*", b"*", None, b"Sun, 06 Nov 1994 08:49:37 GMT", b'"e"',
         784111777),
        (3, None, b'"a"', None, None, b'"a"', -1),  # POST
    ]
    for i, (m, im, inm, ims, ius, tag, lm) in enumerate(conds):
        vals = [im, inm, ims, ius, tag]
        absent = sum(1 << (4 + k) for k in range(4) if vals[k] is None)
        lens = bytes(0xff if v is None else len(v) for v in vals)
        lm_raw = 1 if lm < 0 else lm & ~1  # bit 0 set: no Last-Modified
        body = b"".join(v or b"" for v in vals)
        write("cond", "cond%d" % i,
              bytes([m, 0x80, 0, absent]) + struct.pack("<Q", lm_raw) +
              struct.pack("<Q", 1704067200) + lens + body)


main()
