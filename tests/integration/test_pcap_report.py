"""notmodctl pcap-report on hand-built captures (written by nm_pcapgen with
libpcap's pcap_dump): reassembly of out-of-order, retransmitted,
overlapping and truncated segments, every link type with IPv4 and IPv6,
pipelining, flows cut mid-response, damaged files, and a ~100 MB capture
reported in bounded memory."""
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import unittest

import pcap_synth
from daemon_util import BUILD, NOTMODCTL

PCAPGEN = os.path.join(BUILD, "nm_pcapgen")
BODY = b"0123456789" * 30


def get(path, inm=None, method="GET", host="h.test"):
    r = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), path.encode(),
                                             host.encode())
    if inm:
        r += b"If-None-Match: %s\r\n" % inm.encode()
    return r + b"\r\n"


def ok(body=BODY, etag='"e1"'):
    return (b"HTTP/1.1 200 OK\r\nETag: %s\r\nContent-Length: %d\r\n\r\n" %
            (etag.encode(), len(body)) + body)


def not_modified(etag='"e1"'):
    return b"HTTP/1.1 304 Not Modified\r\nETag: %s\r\n\r\n" % etag.encode()


class Conn:
    """One TCP connection as nm_pcapgen script lines."""

    def __init__(self, n):
        self.n = n
        self.off = {"c": 0, "s": 0}
        self.lines = ["%d c S 0 -" % n, "%d s SA 0 -" % n]

    def seg(self, d, data, off=None, flags="PA", caplen=None):
        off = self.off[d] if off is None else off
        line = "%d %s %s %d %s" % (self.n, d, flags, off,
                                   data.hex() if data else "-")
        if caplen is not None:
            line += " %d" % caplen
        self.lines.append(line)
        self.off[d] = max(self.off[d], off + len(data))
        return self

    def send(self, d, data, pieces=1):
        step = -(-len(data) // pieces)
        for i in range(0, len(data), step):
            self.seg(d, data[i:i + step])
        return self

    def close(self):
        self.lines.append("%d c FA %d -" % (self.n, self.off["c"]))
        self.lines.append("%d s FA %d -" % (self.n, self.off["s"]))
        return self


def exchange(n, req, resp):
    return Conn(n).send("c", req).send("s", resp).close().lines


class PcapReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nm-pcap-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def pcap(self, lines, *args, name="t.pcap"):
        path = os.path.join(self.dir, name)
        subprocess.run([PCAPGEN, path] + list(args),
                       input="\n".join(lines) + "\n", text=True, check=True)
        return path

    def report(self, path, *args, rc=0):
        p = subprocess.run([NOTMODCTL, "pcap-report", path, "--json"] +
                           list(args), capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, rc, p.stderr)
        return (json.loads(p.stdout) if p.stdout else None), p.stderr

    def figures(self, lines, *gen_args):
        r, err = self.report(self.pcap(lines, *gen_args))
        self.assertEqual(err, "")
        return r

    def test_plain_exchanges_are_counted(self):
        lines = (exchange(1, get("/a"), ok()) +
                 exchange(2, get("/a", inm='"e1"'), not_modified()) +
                 exchange(3, get("/a", inm='"old"'), ok()) +
                 exchange(4, get("/a", method="HEAD", inm='"e1"'),
                          not_modified()))
        r = self.figures(lines)
        self.assertEqual((r["requests"], r["get"], r["head"]), (4, 3, 1))
        self.assertEqual((r["revalidations"], r["hits"],
                          r["revalidations_200"], r["missed"],
                          r["missed_bytes"]), (3, 2, 1, 1, len(BODY)))
        self.assertEqual(r["routes"][0]["route"], "h.test/a")
        self.assertEqual(r["routes"][0]["missed"], 1)
        self.assertEqual((r["bytes_lost"], r["parse_errors"]), (0, 0))

    def test_changed_body_is_not_a_missed_revalidation(self):
        lines = (exchange(1, get("/b"), ok()) +
                 exchange(2, get("/b", inm='"e1"'), ok(b"new", '"e2"')))
        r = self.figures(lines)
        self.assertEqual((r["revalidations_200"], r["missed"]), (1, 0))

    def test_out_of_order_segments_are_reassembled(self):
        resp = ok()
        c = Conn(1).send("c", get("/a"))
        c.seg("s", resp[100:], off=100).seg("s", resp[:100], off=0)
        lines = exchange(0, get("/a"), ok()) + c.close().lines
        r = self.figures(lines)
        self.assertEqual((r["requests"], r["missed"]), (2, 0))
        self.assertEqual(r["response_bytes"], 2 * len(resp))

    def test_retransmissions_are_counted_once(self):
        req, resp = get("/a", inm='"x"'), ok()
        c = Conn(1).send("c", req).seg("c", req, off=0)
        c.seg("s", resp[:50]).seg("s", resp[:50], off=0).seg("s", resp[50:])
        lines = exchange(0, get("/a"), ok()) + c.close().lines
        r = self.figures(lines)
        self.assertEqual((r["requests"], r["missed"]), (2, 1))
        self.assertEqual(r["bytes_retransmitted"], len(req) + 50)

    def test_overlapping_segments_first_copy_wins(self):
        resp = ok()
        c = Conn(1).send("c", get("/a", inm='"x"'))
        c.seg("s", resp[:120]).seg("s", resp[80:200], off=80)
        c.seg("s", resp[150:], off=150)
        lines = exchange(0, get("/a"), ok()) + c.close().lines
        r = self.figures(lines)
        self.assertEqual((r["requests"], r["missed"]), (2, 1))
        self.assertEqual(r["bytes_retransmitted"], 40 + 50)

    def test_pipelined_requests_pair_in_order(self):
        reqs = get("/a") + get("/a", method="HEAD") + get("/a", inm='"e1"')
        head = ok().split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        resps = ok() + head + not_modified()
        lines = Conn(1).send("c", reqs).send("s", resps, pieces=3) \
            .close().lines
        r = self.figures(lines)
        self.assertEqual((r["requests"], r["get"], r["head"], r["hits"]),
                         (3, 2, 1, 1))
        self.assertEqual(r["parse_errors"], 0)

    def test_every_link_type_with_ipv4_and_ipv6(self):
        lines = (exchange(1, get("/a"), ok()) +
                 exchange(2, get("/a", inm='"e1"'), not_modified()))
        for link in ("en10mb", "sll", "sll2", "null", "raw"):
            for v6 in ([], ["--v6"]):
                r = self.figures(lines, "--link", link, *v6)
                self.assertEqual((r["requests"], r["hits"], r["flows"]),
                                 (2, 1, 2), (link, v6))

    def test_truncated_segment_loses_only_its_flow(self):
        resp = ok()
        c = Conn(1).send("c", get("/a")).seg("s", resp[:60])
        c.seg("s", resp[60:], caplen=80)  # snaplen cut: payload missing
        lines = c.close().lines + exchange(2, get("/b"), ok())
        r = self.figures(lines)
        self.assertEqual((r["segments_truncated"], r["requests"],
                          r["responses_cut"]), (1, 1, 1))

    def test_flow_cut_mid_response(self):
        resp = ok()
        lines = (exchange(1, get("/a"), ok()) +
                 Conn(2).send("c", get("/b")).send("s", resp[:-100])
                 .close().lines)
        r = self.figures(lines)
        self.assertEqual((r["requests"], r["responses_cut"],
                          r["requests_unanswered"]), (1, 1, 0))

    def test_missing_segment_is_reported_as_lost(self):
        resp = ok()
        c = Conn(1).send("c", get("/a")).seg("s", resp[:50])
        c.seg("s", resp[100:], off=100)
        r = self.figures(c.close().lines)
        self.assertEqual((r["requests"], r["bytes_lost"]), (0, 50))

    def test_port_filter_ignores_other_traffic(self):
        lines = exchange(1, get("/a"), ok())
        path = self.pcap(lines, "--port", "9999")
        r, _ = self.report(path, "--port", "8080")
        self.assertEqual((r["requests"], r["packets_skipped"]), (0, 6))
        r, _ = self.report(path, "--port", "9999")
        self.assertEqual(r["requests"], 1)

    def test_non_http_flow_is_counted_apart(self):
        lines = exchange(1, b"\x16\x03\x01\x00\x05hello", b"\x16\x03\x03")
        r = self.figures(lines)
        self.assertEqual((r["flows_not_http"], r["requests"]), (1, 0))

    def test_truncated_file_gives_figures_so_far_and_exit_1(self):
        lines = []
        for n in range(1, 6):
            lines += exchange(n, get("/a"), ok())
        path = self.pcap(lines)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - 30)
        r, err = self.report(path, rc=1)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("truncated", err)
        self.assertTrue(err.startswith("notmodctl: "), err)
        self.assertEqual(r["requests"], 5)  # the last FIN was cut
        self.assertIn("truncated", r["error"])

    def test_garbage_file_is_a_one_line_error(self):
        path = os.path.join(self.dir, "junk.pcap")
        with open(path, "wb") as f:
            f.write(b"this is not a capture file at all" * 10)
        r, err = self.report(path, rc=1)
        self.assertIsNone(r)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("junk.pcap", err)

    def test_table_output_uses_the_figures_vocabulary(self):
        path = self.pcap(exchange(1, get("/a"), ok()))
        out = subprocess.run([NOTMODCTL, "pcap-report", path],
                             capture_output=True, text=True,
                             check=True).stdout
        for word in ("requests", "revalidations", "revalidation hits",
                     "hit rate", "missed revalidations", "bytes on the wire",
                     "validator coverage", "h.test/a"):
            self.assertIn(word, out)

    def test_100mb_capture_in_bounded_memory(self):
        path = os.path.join(self.dir, "big.pcap")
        try:
            exp = pcap_synth.write(path, 100)
            size = os.path.getsize(path)
            t0 = time.monotonic()
            r, _ = self.report(path)
            secs = time.monotonic() - t0
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        finally:
            if os.path.exists(path):
                os.unlink(path)
        for k, v in exp.items():
            self.assertEqual(r[k], v, k)
        self.assertLess(peak_kb, 64 * 1024, "peak RSS %d KiB" % peak_kb)
        print("\npcap-report: %.0f MB in %.2f s (%.0f MB/s), peak RSS %d KiB"
              % (size / 1e6, secs, size / 1e6 / secs, peak_kb))


if __name__ == "__main__":
    unittest.main()
