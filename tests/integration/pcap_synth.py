"""Writes large synthetic captures fast, record by record (classic pcap,
Ethernet, IPv4), for the bounded-memory test and tools/bench/pcap_bench.sh.

Each connection: SYN, SYN-ACK, one GET, a 200 with a Content-Length body
in 16 KiB segments, FINs. Every third request revalidates with
If-None-Match and is answered 200 with the same body as that URL's last
200, so the report must count it as a missed revalidation. A fraction of
the connections never close (they exercise the flow cap and idle expiry).

  python3 pcap_synth.py OUT.pcap SIZE_MB   prints the expected figures
"""
import json
import os
import struct
import sys

SEG = int(os.environ.get("NM_SYNTH_SEG", "16384"))  # segment payload bytes
BODY = 48 * 1024
URLS = 300


def _frame(src, dst, sport, dport, seq, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, 0,
                      5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                     0, 0x4000, 64, 6, 0, src, dst)
    eth = b"\x00" * 6 + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + tcp + payload


class Writer:
    def __init__(self, f):
        self.f = f
        self.ts_us = 1600000000 * 1000000
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))

    def packet(self, frame):
        self.ts_us += 10
        self.f.write(struct.pack("<IIII", self.ts_us // 1000000,
                                 self.ts_us % 1000000, len(frame),
                                 len(frame)))
        self.f.write(frame)


def body_of(url_no):
    return (b"%06d" % url_no) * (BODY // 6)


def connection(w, n, url_no, revalidate, close=True):
    cli, srv = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    sport = 1024 + n % 60000
    dport = 8080
    base = (n // 60000) * 16  # distinct tuples when ports wrap
    cli = bytes([10, (base >> 8) & 255, base & 255, 1])
    cisn, sisn = 1000 + n, 900000 + n
    w.packet(_frame(cli, srv, sport, dport, cisn, 0x02))
    w.packet(_frame(srv, cli, dport, sport, sisn, 0x12))
    req = b"GET /u/%d?v=1 HTTP/1.1\r\nHost: synth\r\n" % url_no
    if revalidate:
        req += b'If-None-Match: "stale"\r\n'
    req += b"\r\n"
    w.packet(_frame(cli, srv, sport, dport, cisn + 1, 0x18, req))
    body = body_of(url_no)
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    for off in range(0, len(resp), SEG):
        w.packet(_frame(srv, cli, dport, sport, sisn + 1 + off, 0x18,
                        resp[off:off + SEG]))
    if close:
        w.packet(_frame(cli, srv, sport, dport, cisn + 1 + len(req), 0x11))
        w.packet(_frame(srv, cli, dport, sport, sisn + 1 + len(resp), 0x11))
    return len(body)


def write(path, size_mb, open_every=50):
    """Returns the figures the report must show."""
    exp = {"requests": 0, "revalidations": 0, "missed": 0, "missed_bytes": 0,
           "requests_unanswered": 0}
    seen = set()
    with open(path, "wb", buffering=1 << 20) as f:
        w = Writer(f)
        n = 0
        while f.tell() < size_mb * 1024 * 1024:
            url_no = n % URLS
            reval = n % 3 == 0
            close = n % open_every != 0
            blen = connection(w, n, url_no, reval, close)
            exp["requests"] += 1
            if reval:
                exp["revalidations"] += 1
                if url_no in seen:
                    exp["missed"] += 1
                    exp["missed_bytes"] += blen
            seen.add(url_no)
            n += 1
    return exp


if __name__ == "__main__":
    print(json.dumps(write(sys.argv[1], int(sys.argv[2]))))
