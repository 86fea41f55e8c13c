#!/bin/sh
# No validators, close-delimited body.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'static body line one\nstatic body line two\n'
