"""What the test servers serve: a docroot of deterministic files, all with
the fixed mtime T0, and the CGI scripts of cgi/ installed into its
cgi-bin/."""

import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
CGI_DIR = os.path.join(HERE, "cgi")

# A fixed past time for docroot files, so Last-Modified and the dates of
# conditional requests are deterministic: Sun, 13 Sep 2020 12:26:40 GMT.
T0 = 1600000000


def make_docroot(base, cgi=False):
    """A docroot with deterministic files, all with mtime T0."""
    d = os.path.join(base, "docroot")
    os.makedirs(os.path.join(d, "dir"), exist_ok=True)
    os.makedirs(os.path.join(d, "meta"), exist_ok=True)
    # python's CGI handler drops to nobody before exec: make the path readable
    os.chmod(base, 0o755)
    os.chmod(d, 0o755)
    files = {
        "s.txt": deterministic_bytes(1024, 1, text=True),
        "index.html": b"<html><body>notmod test index</body></html>\n",
        "big.bin": deterministic_bytes(256 * 1024, 2),
        "dir/a.txt": b"a file in a directory\n",
        "empty.txt": b"",
        "meta/m.txt": b"meta test body\n" * 10,
    }
    for name, data in files.items():
        write_file(os.path.join(d, name), data, T0)
    if cgi:
        install_cgis(d)
    os.utime(os.path.join(d, "dir"), (T0, T0))
    return d


def write_file(path, data, mtime=None):
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def deterministic_bytes(n, seed, text=False):
    out = bytearray()
    x = seed * 2654435761 & 0xffffffff
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 \n"
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7fffffff
        out.append(alphabet[x % len(alphabet)] if text else (x >> 16) & 0xff)
    return bytes(out)


def install_cgis(docroot):
    dst = os.path.join(docroot, "cgi-bin")
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(CGI_DIR):
        p = os.path.join(dst, name)
        shutil.copy(os.path.join(CGI_DIR, name), p)
        os.chmod(p, 0o755)
    return dst
