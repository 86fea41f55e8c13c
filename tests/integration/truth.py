"""Shared by test_never_wrong_304.py and test_ground_truth.py: content the
test controls (CGI scripts that `cat` files the test rewrites, static files
rewritten in place) and a stack of notmodd (embedded, embedded with
--state, or a real Redis) with shimmed servers on one docroot, stopped by
PID even on failure. Their client is wire.Conn (keep-alive, any Host
spelling).

A wrong 304 is a 304 for bytes other than those the server would send now;
these helpers let a test know exactly which bytes that is."""

import atexit
import os
import shutil
import signal
import tempfile
import time

from daemon_util import Daemon, Redis, ctl
from docroots import make_docroot, write_file
from servers import KEEP_TMP
from wire import parse_http_date

# CGI scripts. Their bodies are files beside them that the tests rewrite;
# CRLF heads without Date or validators (busybox relays them as they are).
CGI_SCRIPTS = {
    # close-delimited: body = page.txt
    "page.sh": b"""#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
cat "$(dirname "$0")/page.txt"
""",
    # Content-Length framed: body = page.txt
    "clen.sh": b"""#!/bin/sh
f="$(dirname "$0")/page.txt"
n=$(($(wc -c < "$f")))
printf 'Content-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n' "$n"
cat "$f"
""",
    # one URL, two variants chosen by a cookie (no Vary, as legacy apps do)
    "cookie.sh": b"""#!/bin/sh
d="$(dirname "$0")"
case "$HTTP_COOKIE" in
  *v=2*) f="$d/cookie2.txt" ;;
  *) f="$d/cookie1.txt" ;;
esac
printf 'Content-Type: text/plain\\r\\n\\r\\n'
cat "$f"
""",
}
CGI_FILES = ("page.txt", "cookie1.txt", "cookie2.txt")

# The head every one of these CGIs gets from busybox (bare).
BUSYBOX_CGI_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"


def install_scripts(docroot):
    d = os.path.join(docroot, "cgi-bin")
    os.makedirs(d, exist_ok=True)
    for name, text in CGI_SCRIPTS.items():
        p = os.path.join(d, name)
        write_file(p, text)
        os.chmod(p, 0o755)
    for name in CGI_FILES:
        write_file(os.path.join(d, name), b"initial " + name.encode() +
                   b"\n")
    return d


# --------------------------------------------------------------------------
# content changes

def rewrite(path, data):
    """Truncates and writes path (same inode, new mtime)."""
    with open(path, "wb") as f:
        f.write(data)


def rewrite_same_size_keep_mtime(path, data):
    """Rewrites path in place with data of its current size and puts the
    old atime/mtime back, as `cp -p` or `rsync -t --inplace` leave a file:
    same inode, size and mtime; only the ctime (and the bytes) differ."""
    st = os.stat(path)
    if st.st_size != len(data):
        raise ValueError("%s: %d bytes, new data %d" % (path, st.st_size,
                                                        len(data)))
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert after.st_mtime_ns == st.st_mtime_ns and after.st_ino == st.st_ino


def lm_of(resp):
    v = resp.first("Last-Modified")
    return parse_http_date(v) if v else None


# --------------------------------------------------------------------------
# the stack

_open_stacks = []


@atexit.register
def _close_all():
    for s in list(_open_stacks):
        s.close()


class Stack:
    """A temp dir with a docroot (docroots.py's files + the scripts above),
    notmodd with store 'embedded' (state: also --state FILE) or 'redis' (a
    redis-server of its own), and shimmed servers pointed at that notmodd.
    close() stops everything by PID and removes the dir."""

    def __init__(self, store="embedded", state=False, prefix="nm-truth-"):
        self.store = store
        self.base = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.base, 0o755)
        self.docroot = make_docroot(self.base, cgi=True)
        self.cgi_dir = install_scripts(self.docroot)
        self.state_path = os.path.join(self.base, "notmodd.state") \
            if state else None
        self.redis = None
        self.daemon = None
        self.servers = []
        self.daemon_starts = 0
        _open_stacks.append(self)

    def start(self):
        try:
            if self.store == "redis":
                self.redis = Redis(self.base).start()
            self.start_daemon()
        except Exception:
            self.close()
            raise
        return self

    def daemon_args(self):
        args = []
        if self.redis is not None:
            args += ["--redis", self.redis.url]
        if self.state_path:
            args += ["--state", self.state_path]
        return args

    def start_daemon(self):
        self.daemon = Daemon(self.base, "nmd", self.daemon_args())
        self.daemon.start()
        self.daemon_starts += 1
        return self.daemon

    def stop_daemon(self, sig=signal.SIGTERM):
        """Stops notmodd by PID (SIGKILL: no clean shutdown, no state
        saved). Returns its exit status."""
        d, self.daemon = self.daemon, None
        return d.stop(sig) if d is not None else None

    def restart_daemon(self, sig=signal.SIGTERM):
        rc = self.stop_daemon(sig)
        if sig == signal.SIGTERM and rc != 0:
            raise AssertionError("notmodd exited %r on SIGTERM" % rc)
        self.start_daemon()

    def shim_env(self):
        # the paths stay the same across daemon restarts
        d = Daemon(self.base, "nmd")
        return {"NOTMOD_SOCKET": d.socket, "NOTMOD_SNAPSHOT": d.snapshot}

    def server(self, cls, shim=True, tag="", **kw):
        """Starts a server on the docroot; shimmed ones report to notmodd."""
        s = cls(self.docroot, shim=shim,
                shim_env=self.shim_env() if shim else None,
                tag=tag or ("-shim" if shim else "-bare"), **kw)
        self.servers.append(s)
        s.start()
        return s

    def ctl(self, *args):
        rc, out, err = ctl(*args, control=Daemon(self.base, "nmd").control)
        if rc != 0:
            raise AssertionError("notmodctl %s: rc %d: %s%s" % (
                " ".join(args), rc, out, err))
        return out

    def cgi_path(self, name):
        return os.path.join(self.cgi_dir, name)

    def doc_path(self, name):
        return os.path.join(self.docroot, name)

    def close(self):
        for s in self.servers:
            try:
                s.cleanup()
            except Exception:
                pass
        self.servers = []
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if not KEEP_TMP:
            shutil.rmtree(self.base, ignore_errors=True)
        if self in _open_stacks:
            _open_stacks.remove(self)


def sleep_to_next_second(margin=0.05):
    """Sleeps until `margin` seconds past the next whole second."""
    now = time.time()
    time.sleep(int(now) + 1 + margin - now)

