# perl HTTP::Daemon for the compatibility suite: one connection at a time;
# files under the docroot with send_file_response (Last-Modified, no ETag);
# /app/stream in two parts 50 ms apart (HTTP/1.1: chunked); /app/file the
# current content of app/changing.txt.
# Usage: perl http_daemon.pl PORT DOCROOT
use strict;
use warnings;
use HTTP::Daemon;
use HTTP::Response;
use Time::HiRes qw(usleep);

my ($port, $docroot) = @ARGV;
my $d = HTTP::Daemon->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                          ReuseAddr => 1) or die "listen: $!";
while (my $c = $d->accept) {
    while (my $r = $c->get_request) {
        my $path = $r->uri->path;
        if ($path eq '/app/stream') {
            my @parts = ("part one\n", "part two\n");
            my $res = HTTP::Response->new(200, 'OK',
                                          ['Content-Type' => 'text/plain']);
            $res->content(sub {
                my $p = shift @parts;
                usleep(50000) if defined $p && @parts == 0;
                return defined $p ? $p : '';
            });
            $c->send_response($res);
        } elsif ($path eq '/app/file') {
            open(my $f, '<', "$docroot/app/changing.txt") or die;
            local $/;
            my $body = <$f>;
            $c->send_response(HTTP::Response->new(
                200, 'OK', ['Content-Type' => 'text/plain'], $body));
        } elsif ($path !~ /\.\./ && -f "$docroot$path") {
            $c->send_file_response("$docroot$path");
        } else {
            $c->send_error(404);
        }
    }
    $c->close;
}
