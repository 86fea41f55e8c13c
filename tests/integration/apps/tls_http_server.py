"""python3's http.server with its sockets wrapped by ssl (the TLS suite,
test_tls.py): HTTP/1.1 keep-alive, files under the docroot with
Last-Modified and no ETag, /app/stream, a body written in two parts
50 ms apart (chunked, no length), and /app/close, a body without length
or chunks whose end is the connection's close (which the ssl module makes
without SSL_shutdown).

usage: tls_http_server.py PORT DOCROOT CERT KEY [--alpn P1,P2]
                          [--allow-client-renegotiation]

--alpn: the protocols the server selects from (default: none, so no ALPN
is selected); --allow-client-renegotiation: OpenSSL 3 refuses a client's
renegotiation by default (SSL_OP_ALLOW_CLIENT_RENEGOTIATION allows it).
"""

import argparse
import http.server
import socketserver
import ssl
import time

# openssl/ssl.h; the ssl module has no name for it.
SSL_OP_ALLOW_CLIENT_RENEGOTIATION = 1 << 8


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.path == "/app/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"part one\n", b"part two\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/app/close":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"a body whose end is the close\n" * 20)
            self.close_connection = True
            return
        super().do_GET()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the connection's thread, at its first read.
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("docroot")
    ap.add_argument("cert")
    ap.add_argument("key")
    ap.add_argument("--alpn", default="")
    ap.add_argument("--allow-client-renegotiation", action="store_true")
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.alpn:
        ctx.set_alpn_protocols(a.alpn.split(","))
    if a.allow_client_renegotiation:
        ctx.options |= SSL_OP_ALLOW_CLIENT_RENEGOTIATION

    class H(Handler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=a.docroot, **kw)

    srv = Server(("127.0.0.1", a.port), H, ctx)
    srv.serve_forever()


if __name__ == "__main__":
    main()
