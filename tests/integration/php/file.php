<?php
// The current content of changing.txt beside this script: the test
// rewrites it to change the representation.
header('Content-Type: text/plain');
readfile(__DIR__ . '/changing.txt');
