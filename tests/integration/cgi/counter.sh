#!/bin/sh
# Body changes on every request.
f="$(dirname "$0")/counter.state"
n=$(cat "$f" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$f"
printf 'Content-Type: text/plain\r\n\r\n'
printf 'counter=%s\n' "$n"
