// node's http module for the compatibility suite: files under the docroot
// as they are (no validators); /app/stream written in two parts 50 ms
// apart (chunked); /app/file the current content of app/changing.txt.
// Usage: node node_server.js PORT DOCROOT
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const [port, docroot] = process.argv.slice(2);

http.createServer((req, res) => {
  let url = req.url.split('?')[0];
  if (url === '/app/stream') {
    res.writeHead(200, {'Content-Type': 'text/plain'});
    res.write('part one\n');
    setTimeout(() => res.end('part two\n'), 50);
    return;
  }
  if (url === '/app/file') url = '/app/changing.txt';
  const full = path.resolve(docroot, '.' + url);
  if (!full.startsWith(docroot + '/')) {
    res.writeHead(404, {'Content-Length': 0});
    return res.end();
  }
  fs.readFile(full, (err, data) => {
    if (err) {
      res.writeHead(404, {'Content-Length': 0});
      return res.end();
    }
    res.writeHead(200, {'Content-Type': 'text/plain',
                        'Content-Length': data.length});
    res.end(req.method === 'HEAD' ? undefined : data);
  });
}).listen(Number(port), '127.0.0.1');
