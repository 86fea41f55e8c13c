<?php
// Two parts with a flush and a pause between them: mod_php streams it
// chunked, php-fpm and php-cgi hand it over as it comes.
header('Content-Type: text/plain');
echo "part one\n";
flush();
usleep(50000);
echo "part two\n";
