'use strict';
// A webhook receiver for the stock-client checks: an HTTP server on a loopback port that
// verifies every POST with the official `pusher` Node SDK (`pusher.webhook(request).isValid()`)
// and records the events of the valid ones.

const http = require('node:http');

const { deadline } = require('./lib');

function startReceiver(sdk) {
  const events = [];
  const invalid = [];
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const webhook = sdk.webhook({ headers: req.headers, rawBody });
      if (webhook.isValid()) {
        for (const e of webhook.getEvents()) events.push(e);
      } else {
        invalid.push({ headers: req.headers, rawBody });
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      for (const w of waiters) w();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/pusher/webhook`,
        events,
        invalid,
        // Resolves with the first recorded event matching `pred`.
        waitFor(pred, ms = 5000, what = 'webhook event') {
          const found = () => events.find(pred);
          if (found()) return Promise.resolve(found());
          let check;
          const p = new Promise((res) => {
            check = () => {
              const e = found();
              if (e) res(e);
            };
            waiters.add(check);
          });
          return deadline(p, ms, what).finally(() => waiters.delete(check));
        },
        close() {
          server.close();
        },
      });
    });
  });
}

module.exports = { startReceiver };
