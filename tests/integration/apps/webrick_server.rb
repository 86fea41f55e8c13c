# Ruby WEBrick for the compatibility suite: the docroot through its
# FileHandler (its own ETag and Last-Modified); /app/stream in two parts
# 50 ms apart (a chunked body from a reader); /app/file the current
# content of app/changing.txt.
# Usage: ruby webrick_server.rb PORT DOCROOT
require 'webrick'

port, docroot = ARGV[0].to_i, ARGV[1]
server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: port,
                                 DocumentRoot: docroot,
                                 AccessLog: [], Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN))

server.mount_proc('/app/stream') do |_req, res|
  res['Content-Type'] = 'text/plain'
  res.chunked = true
  rd, wr = IO.pipe
  Thread.new do
    wr.write("part one\n")
    wr.flush
    sleep 0.05
    wr.write("part two\n")
    wr.close
  end
  res.body = rd
end

server.mount_proc('/app/file') do |_req, res|
  res['Content-Type'] = 'text/plain'
  res.body = File.binread(File.join(docroot, 'app', 'changing.txt'))
end

trap('TERM') { server.shutdown }
server.start
