#!/bin/sh
# Same body as static.sh, chunked by the CGI itself (busybox relays it raw).
printf 'Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n'
printf '15\r\nstatic body line one\n\r\n'
printf '15\r\nstatic body line two\n\r\n'
printf '0\r\n\r\n'
