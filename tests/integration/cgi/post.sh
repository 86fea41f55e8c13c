#!/bin/sh
# Echoes the request method and body.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'method=%s\n' "$REQUEST_METHOD"
if [ -n "$CONTENT_LENGTH" ]; then head -c "$CONTENT_LENGTH"; fi
echo
