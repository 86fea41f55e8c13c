"""tools/demo.sh runs as a new user would run it (with this build, no
package step) and shows what it promises: 304s from the shim where the bare
server sends full 200s, a fresh tag after a change, bytes saved, and nothing
left running."""

import os
import re
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("NOTMOD_BUILD_DIR", os.path.join(ROOT, "build"))


class DemoTest(unittest.TestCase):
    def test_demo_shows_304s_and_savings(self):
        env = dict(os.environ, NOTMOD_BUILD_DIR=BUILD,
                   NOTMOD_DEMO_NO_INSTALL="1")
        env.pop("NOTMOD_SOCKET", None)
        p = subprocess.run([os.path.join(ROOT, "tools", "demo.sh")],
                           env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        out = p.stdout
        rows = dict(re.findall(r"^(.+?)\s+\| (\d{3}\s+\d+ bytes \| \d{3}\s+"
                               r"\d+ bytes)$", out, re.M))
        def cols(label):
            m = re.match(r"(\d{3})\s+(\d+) bytes \| (\d{3})\s+(\d+) bytes",
                         rows[label])
            return int(m[1]), int(m[2]), int(m[3]), int(m[4])
        bs, bb, ss, sb = cols("CGI page, revalidation (If-None-Match)")
        self.assertEqual((bs, ss), (200, 304))
        self.assertLess(sb, 300)
        bs, bb, ss, sb = cols("static 256 KiB, revalidation "
                              "(If-Modified-Since)")
        self.assertEqual((bs, ss), (200, 304))
        self.assertGreater(bb, 262144)
        self.assertLess(sb, 300)
        # Changed content: never a stale 304, and a new tag.
        bs, _, ss, _ = cols("CGI page changed, revalidation with old tag")
        self.assertEqual((bs, ss), (200, 200))
        m = re.search(r'new tag after the change: ("nm-[^"]+") \(was '
                      r'("nm-[^"]+")\)', out)
        self.assertIsNotNone(m, out)
        self.assertNotEqual(m[1], m[2])
        saved = int(re.search(r"\((\d+) bytes saved\)", out)[1])
        self.assertGreater(saved, 262144)
        self.assertRegex(out, r"revalidation hits\s+\d+ \(served 0, "
                              r"substituted [1-9]")
        # Nothing of the demo's is left running.
        ps = subprocess.run(["pgrep", "-f", "notmod-demo"],
                            capture_output=True, text=True)
        self.assertEqual(ps.stdout.strip(), "", "demo left processes")


if __name__ == "__main__":
    unittest.main()
