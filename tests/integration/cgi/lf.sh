#!/bin/sh
# A legacy CGI with bare-LF header lines and fixed validators.
echo "Content-Type: text/plain"
echo 'ETag: "lf1"'
echo "Last-Modified: Sun, 13 Sep 2020 12:26:40 GMT"
echo "Cache-Control: no-cache"
echo ""
echo "lf body"
