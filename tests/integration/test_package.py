"""The Debian package as an operator uses it: tools/package.sh builds it,
`dpkg -i` installs it into this machine, the demo's busybox case runs
against the installed binaries (/usr/sbin/notmodd, /usr/bin/notmodctl run
and the libnotmod.so it finds in /usr/lib/<multiarch>/, not the build
tree), `man -w` finds the pages, and `dpkg --purge` leaves nothing behind:
every path the package listed is gone, unless it existed before (/usr,
/usr/bin...). The package is removed whatever happens, failure or not.

It skips, saying why, only where dpkg cannot install: not root, no dpkg,
or a notmod package (or files at its paths) already there, which this test
must not replace or remove."""
import atexit
import glob
import os
import re
import shutil
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PKG = "notmod"


def run(*argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(list(argv), **kw)


def is_installed():
    p = run("dpkg-query", "-W", "-f=${Status}", PKG)
    return p.returncode == 0 and "installed" in p.stdout.split()[-1:]


def clean_env():
    """The environment of an operator's shell: no build tree, no shim."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NOTMOD_") and k != "LD_PRELOAD"}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
                  "/sbin:/bin"
    return env


def deb_paths(deb):
    """(path, is_dir) of everything in the .deb's data part."""
    out = run("dpkg-deb", "-c", deb, check=True).stdout
    paths = []
    for line in out.splitlines():
        perms, name = line.split()[0], line.split(None, 5)[5]
        name = name.split(" -> ")[0]
        path = "/" + name.lstrip("./").rstrip("/")
        if path != "/":
            paths.append((path, perms.startswith("d")))
    return paths


class PackageTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("dpkg") is None:
            self.skipTest("no dpkg on this machine")
        if os.geteuid() != 0:
            self.skipTest("dpkg -i needs root, and this runs as uid %d"
                          % os.geteuid())
        if is_installed():
            self.skipTest("a %s package is installed already; this test "
                          "would replace and then remove it" % PKG)
        for tool in ("cpack", "dpkg-shlibdeps", "busybox", "curl", "man"):
            if shutil.which(tool) is None:
                self.skipTest("%s is not installed (tools/test.sh installs "
                              "it)" % tool)

    def purge(self):
        """Removes the package if this test installed it (also at exit: a
        test killed half-way must not leave it on the machine)."""
        if is_installed():
            run("dpkg", "--purge", PKG)

    def test_deb_installs_runs_the_demo_and_purges_clean(self):
        p = run(os.path.join(ROOT, "tools", "package.sh"), "--no-install",
                timeout=500)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        deb = p.stdout.strip().splitlines()[-1]
        self.assertRegex(os.path.basename(deb), r"^notmod_[\d.]+_\w+\.deb$")
        arch = run("dpkg-architecture", "-qDEB_HOST_MULTIARCH",
                   check=True).stdout.strip()
        lib = "/usr/lib/%s/libnotmod.so" % arch

        # What the package holds, and what was on the machine before.
        paths = deb_paths(deb)
        before = {path: os.path.lexists(path) for path, _ in paths}
        clash = [path for path, is_dir in paths if not is_dir and
                 before[path]]
        if clash:
            self.skipTest("files at the package's paths exist already and "
                          "would be replaced: %s" % ", ".join(clash))
        expected = {lib, "/usr/sbin/notmodd", "/usr/bin/notmodctl",
                    "/usr/lib/systemd/system/notmodd.service",
                    "/usr/share/man/man8/notmodd.8.gz",
                    "/usr/share/man/man1/notmodctl.1.gz",
                    "/usr/share/man/man7/libnotmod.7.gz",
                    "/usr/share/doc/notmod/README.md",
                    "/usr/share/doc/notmod/copyright",
                    "/usr/share/doc/notmod/notmod.conf.example"}
        self.assertEqual(expected - {path for path, _ in paths}, set())
        self.assertFalse([path for path, _ in paths
                          if path.startswith(("/usr/local", "/etc", "/var",
                                              "/home", "/root", "/tmp"))])

        atexit.register(self.purge)
        self.addCleanup(self.purge)
        p = run("dpkg", "-i", deb)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        listed = run("dpkg", "-L", PKG, check=True).stdout.split("\n")
        listed = [x for x in listed if x.startswith("/") and x != "/."]
        self.assertEqual(expected - set(listed), set())

        # Dependencies from the shared libraries, nothing started.
        depends = run("dpkg-query", "-W", "-f=${Depends}", PKG).stdout
        for dep in ("libhiredis0.14", "libpcap0.8", "libevent-2.1-7",
                    "libxxhash0"):
            self.assertIn(dep, depends)
        for script in ("preinst", "postinst", "prerm", "postrm"):
            path = "/var/lib/dpkg/info/%s.%s" % (PKG, script)
            if os.path.exists(path):
                with open(path) as f:
                    self.assertNotRegex(f.read(), r"systemctl|deb-systemd|"
                                        r"invoke-rc|update-rc")
        self.assertEqual(glob.glob("/etc/systemd/system/*.wants/notmodd*"),
                         [], "notmodd.service was enabled")

        for page, section in (("notmodd", "8"), ("notmodctl", "1"),
                              ("libnotmod", "7")):
            p = run("man", "-w", page, env=clean_env())
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.strip(), "/usr/share/man/man%s/%s.%s.gz"
                             % (section, page, section))

        # notmodctl run finds the installed shim by itself.
        p = run("/usr/bin/notmodctl", "run", "--", "printenv", "LD_PRELOAD",
                env=clean_env())
        self.assertEqual((p.returncode, p.stdout.strip()), (0, lib), p.stderr)

        # The demo's busybox case, with the installed binaries only.
        env = dict(clean_env(), NOTMOD_DEMO_INSTALLED="1",
                   NOTMOD_DEMO_NO_INSTALL="1")
        p = run(os.path.join(ROOT, "tools", "demo.sh"), env=env, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        out = p.stdout
        self.assertIn("(notmodd: /usr/sbin/notmodd; shim: %s)" % lib, out)
        self.assertRegex(out, r"CGI page, revalidation \(If-None-Match\)\s+\| "
                              r"200\s+\d+ bytes \| 304\s+\d+ bytes")
        self.assertRegex(out, r"static 256 KiB, revalidation "
                              r"\(If-Modified-Since\)\s+\| 200\s+\d+ bytes "
                              r"\| 304\s+\d+ bytes")
        self.assertRegex(out, r"revalidation hits\s+\d+ \(served 0, "
                              r"substituted [1-9]")

        # Removal leaves nothing: each path listed is gone, unless it was
        # there before the package (shared directories such as /usr/bin).
        p = run("dpkg", "--purge", PKG)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        self.assertFalse(is_installed())
        self.assertNotEqual(run("dpkg-query", "-s", PKG).returncode, 0,
                            "dpkg still knows the package after --purge")
        left = [x for x in listed if os.path.lexists(x) and
                not before.get(x, False)]
        self.assertEqual(left, [], "left behind after dpkg --purge")
        for path in expected:
            self.assertFalse(os.path.lexists(path), path)


if __name__ == "__main__":
    unittest.main()
