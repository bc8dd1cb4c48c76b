#!/usr/bin/env node
// The reference extension for vigil's benchmarks: what a typical Node.js telemetry extension
// does (plain http module): register, listen, subscribe, then loop on event/next.
'use strict';
const http = require('http');
const path = require('path');

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true });

function call(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: PORT, method, path: urlPath, agent,
                               headers: headers || {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function main() {
  // Lambda Managed Instances refuse INVOKE: SHUTDOWN only there.
  const managed = process.env.AWS_LAMBDA_INITIALIZATION_TYPE === 'lambda-managed-instances';
  const reg = await call('POST', '/2020-01-01/extension/register',
                         JSON.stringify({ events: managed ? ['SHUTDOWN'] : ['INVOKE', 'SHUTDOWN'] }),
                         { 'Lambda-Extension-Name': path.basename(process.argv[1]) });
  const id = reg.headers['lambda-extension-identifier'];
  let received = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received += JSON.parse(Buffer.concat(chunks).toString()).length;
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  await call('PUT', '/2022-07-01/telemetry', JSON.stringify({
    schemaVersion: '2025-01-29', types: ['platform', 'function', 'extension'],
    buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
    destination: { protocol: 'HTTP', URI: `http://sandbox.localdomain:${server.address().port}` },
  }), { 'Lambda-Extension-Identifier': id });
  for (;;) {
    const next = await call('GET', '/2020-01-01/extension/event/next', null,
                            { 'Lambda-Extension-Identifier': id });
    if (JSON.parse(next.body).eventType === 'SHUTDOWN') process.exit(0);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
