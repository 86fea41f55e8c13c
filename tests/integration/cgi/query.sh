#!/bin/sh
# Body varies with the query string.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'query=[%s]\n' "$QUERY_STRING"
