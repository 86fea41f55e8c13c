"""The WSGI application of the compatibility suite (gunicorn, uwsgi):
files under the docroot (DOCROOT in the environment) as they are, no
validators; /app/stream in two parts 50 ms apart (a generator, no length);
/app/file the current content of app/changing.txt."""

import os
import time

DOCROOT = os.environ["DOCROOT"]


def stream():
    yield b"part one\n"
    time.sleep(0.05)
    yield b"part two\n"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/app/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream()
    if path == "/app/file":
        path = "/app/changing.txt"
    full = os.path.realpath(os.path.join(DOCROOT, path.lstrip("/")))
    if not full.startswith(DOCROOT + "/") or not os.path.isfile(full):
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", "10")])
        return [b"not found\n"]
    with open(full, "rb") as f:
        data = f.read()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(data)))])
    return [data]
