#!/usr/bin/env node
// The reference Runtime API proxy for vigil's benchmarks: what a typical Node.js proxy does
// with the plain http module — forward each request upstream, stream the answer back.
// usage: ref_proxy.js LISTEN_PORT UPSTREAM_HOST:PORT
'use strict';
const http = require('http');

const [listenPort, upstream] = process.argv.slice(2);
const [upHost, upPort] = upstream.split(':');
const agent = new http.Agent({ keepAlive: true });

http.createServer((req, res) => {
  const up = http.request({ host: upHost, port: upPort, method: req.method, path: req.url,
                            headers: req.headers, agent }, (upRes) => {
    res.writeHead(upRes.statusCode, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}).listen(Number(listenPort), '127.0.0.1');
