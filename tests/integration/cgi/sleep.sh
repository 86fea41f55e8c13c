#!/bin/sh
# First part, a pause, then the rest: a held response must be released by
# the hold deadline, long before the script ends.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'first part\n'
sleep 2
printf 'second part\n'
