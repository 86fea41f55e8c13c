#!/bin/sh
# Fixed validators and the header fields a 304 must keep or drop (CRLF lines).
# QUERY_STRING selects the validators: "" both, noetag, nolm, weak, none.
crlf() { printf '%s\r\n' "$1"; }
crlf "Content-Type: text/plain; charset=utf-8"
crlf "Cache-Control: max-age=60, public"
crlf "Content-Location: /cgi-bin/v.sh"
crlf "Content-Language: en"
crlf "Content-Disposition: inline"
crlf "Expires: Thu, 01 Jan 2037 00:00:00 GMT"
crlf "Vary: Accept-Encoding"
crlf "Set-Cookie: a=1; Path=/"
crlf "Set-Cookie: b=2; Path=/"
case "$QUERY_STRING" in
  noetag|none) ;;
  weak) crlf 'ETag: W/"v1"' ;;
  *) crlf 'ETag: "v1"' ;;
esac
case "$QUERY_STRING" in
  nolm|none) ;;
  *) crlf "Last-Modified: Sun, 13 Sep 2020 12:26:40 GMT" ;;
esac
crlf "X-Notmod-Test: kept-or-dropped"
crlf ""
printf 'validator test body\n'
