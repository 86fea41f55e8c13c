#!/bin/sh
# Same body as static.sh, with Content-Length.
printf 'Content-Type: text/plain\r\nContent-Length: 42\r\n\r\n'
printf 'static body line one\nstatic body line two\n'
