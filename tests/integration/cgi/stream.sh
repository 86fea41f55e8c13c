#!/bin/sh
# A body written in two parts with a pause between them: servers that frame
# CGI output as it arrives (Apache, lighttpd, civetweb) send it chunked, and
# Apache looks for a pipelined request between the parts.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'part one\n'
sleep 0.05
printf 'part two\n'
