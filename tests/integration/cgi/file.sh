#!/bin/sh
# Body is the current content of changing.txt beside the script; the test
# rewrites it to change the representation.
printf 'Content-Type: text/plain\r\n\r\n'
cat "$(dirname "$0")/changing.txt"
