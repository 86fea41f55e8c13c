"""The man pages and the programs do not disagree: every option that
`notmodd --help` and `notmodctl [COMMAND] --help` print is in its man page
and every option the page documents is in the help, every command of
notmodctl has its entry, and every NOTMOD_* variable the shim reads is in
libnotmod(7) (and no other). Pages are rendered with mandoc, so the check
reads what a user reads, whatever the source markup."""
import glob
import os
import re
import shutil
import subprocess
import unittest

from daemon_util import BUILD, NOTMODCTL, NOTMODD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "docs", "man")

# An option: a dash or two and a letter, not inside a word or a path
# ("re-read", "x86_64-linux", "/run/x-ctl.sock"), not a file suffix
# ("-ctl.sock"), and not an option of the daemon quoted in notmodctl's
# page ("notmodd --pcap").
OPTION = re.compile(r"(?<![\w./$'-])(?<!notmodd )(--?[a-zA-Z][a-zA-Z0-9-]*)"
                    r"(?=[\s\]\[|,)=;:']|\.(?:\s|$)|$)")


def render(page):
    """The page as plain text (mandoc's overstrike for bold removed)."""
    out = subprocess.run(["mandoc", "-Tascii", "-Owidth=250",
                          os.path.join(MAN, page)], capture_output=True,
                         check=True).stdout.decode()
    return re.sub(r".\x08", "", out)


def sections(text, skip=("FILES", "EXAMPLES", "SEE ALSO")):
    """text without the sections named in skip: those quote other
    programs' command lines."""
    keep, out = True, []
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Z ]+$", line):
            keep = line.strip() not in skip
        if keep:
            out.append(line)
    return "\n".join(out)


def options(text):
    return set(OPTION.findall(text))


def helptext(*argv):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, (argv, p.returncode, p.stderr)
    return p.stdout


def ctl_commands():
    """Command names from `notmodctl --help`'s list."""
    text = helptext(NOTMODCTL, "--help")
    body = text.split("commands:", 1)[1]
    return [m for m in re.findall(r"^  ([a-z][a-z-]+)", body, re.M)]


@unittest.skipUnless(shutil.which("mandoc"),
                     "mandoc is not installed (tools/test.sh installs it)")
class ManPagesTest(unittest.TestCase):
    def test_every_page_is_installed_by_cmake(self):
        pages = sorted(os.path.basename(p) for p in
                       glob.glob(os.path.join(MAN, "*.[1-8]")))
        self.assertEqual(pages, ["libnotmod.7", "notmodctl.1", "notmodd.8"])
        for p in pages:
            self.assertTrue(os.path.exists(os.path.join(BUILD, "man",
                                                        p + ".gz")), p)

    def test_notmodd_help_and_page_list_the_same_options(self):
        in_help = options(helptext(NOTMODD, "--help"))
        in_page = options(sections(render("notmodd.8")))
        self.assertIn("--pcap-filter", in_help)
        self.assertEqual(in_help - in_page, set(), "options missing in "
                         "notmodd.8")
        self.assertEqual(in_page - in_help, set(), "options in notmodd.8 "
                         "that notmodd --help does not show")

    def test_notmodctl_help_and_page_list_the_same_options(self):
        commands = ctl_commands()
        self.assertIn("top", commands)
        text = helptext(NOTMODCTL, "--help")
        for c in commands:
            text += helptext(NOTMODCTL, c, "--help")
        in_help = options(text)
        in_page = options(sections(render("notmodctl.1")))
        self.assertTrue({"--control", "--interval", "-s", "--once"} <=
                        in_help, in_help)
        self.assertEqual(in_help - in_page, set(), "options missing in "
                         "notmodctl.1")
        self.assertEqual(in_page - in_help, set(), "options in notmodctl.1 "
                         "that no notmodctl --help shows")

    def test_every_notmodctl_command_has_an_entry(self):
        page = render("notmodctl.1")
        cmds = page.split("\nCOMMANDS\n", 1)[1].split("\nENVIRONMENT\n")[0]
        entries = set(re.findall(r"^ {5}([a-z][a-z-]+)", cmds, re.M))
        self.assertEqual(set(ctl_commands()), entries)

    def test_every_shim_variable_is_in_libnotmod_7(self):
        used = set()
        for path in glob.glob(os.path.join(ROOT, "shim", "*.c")):
            with open(path) as f:
                used |= set(re.findall(r'"(NOTMOD_[A-Z_]+)"', f.read()))
        # NOTMOD_TEST_*: switches of the test suite, not for operators.
        used = {v for v in used if not v.startswith("NOTMOD_TEST_")}
        self.assertIn("NOTMOD_HOLD_MAX", used)
        page = render("libnotmod.7")
        env = page.split("\nENVIRONMENT\n", 1)[1].split("\nON THE WIRE\n")[0]
        documented = set(re.findall(r"^ {5}(NOTMOD_[A-Z_]+)", env, re.M))
        self.assertEqual(used - documented, set(), "variables the shim reads "
                         "that libnotmod(7) does not document")
        self.assertEqual(documented - used, set(), "variables libnotmod(7) "
                         "documents that the shim does not read")


if __name__ == "__main__":
    unittest.main()
