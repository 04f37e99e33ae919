'use strict';
// Stock clients over TLS: pusher-js with `forceTLS: true`, the Node server SDK with
// `useTLS: true` and Laravel Echo with `forceTLS: true`, against a server with
// CORECAST_TLS_CERT/CORECAST_TLS_KEY, plus its plain second port and a certificate reload.
// Usage (run.sh makes the test CA): COMPAT_TLS_DIR=DIR NODE_EXTRA_CA_CERTS=DIR/ca.pem \
//   node compat-tls.js SERVER_BINARY
// DIR holds ca.pem, live.pem/live.key (what the server reads) and second.pem/second.key.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const tls = require('node:tls');
const { APP, Pusher, collect, deadline, getJson, once, runner, subscribe, uniq, until, waitState } = require('./lib');

const dir = process.env.COMPAT_TLS_DIR;
if (!dir || !process.env.NODE_EXTRA_CA_CERTS) {
  console.log('# COMPAT_TLS_DIR and NODE_EXTRA_CA_CERTS must name the test CA (tests/node/run.sh sets them)');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const file = (name) => path.join(dir, name);
// Serials given by run.sh (hex, as Node reports them).
const FIRST_SERIAL = '1001';
const SECOND_SERIAL = '1002';

const r = runner('pusher-js forceTLS + pusher (Node SDK) useTLS + Laravel Echo over TLS', {
  testTimeoutMs: 10000,
  totalTimeoutMs: 45000,
  tls: true,
  server: {
    env: {
      CORECAST_TLS_CERT: file('live.pem'),
      CORECAST_TLS_KEY: file('live.key'),
      CORECAST_PLAIN_PORT: process.env.COMPAT_PLAIN_PORT || '0',
    },
  },
});

// The serial number of the certificate the server presents to a new (not resumed) session.
function presentedSerial(port) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

function plainGet(port, pathName) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

r.test('pusher-js forceTLS connects over wss:// (certificate checked against the test CA)', async (ctx) => {
  const c = await ctx.connected();
  assert.match(c.connection.socket_id, /^\d+\.\d+$/);
  assert.equal(await presentedSerial(ctx.port), FIRST_SERIAL);
});

r.test('public channel over wss: SDK useTLS trigger delivers the exact data', async (ctx) => {
  const sdk = ctx.sdk();
  const c = await ctx.connected();
  const name = uniq('tls-public-');
  const ch = await subscribe(c, name);
  const got = once(ch, 'greeting');
  const res = await sdk.trigger(name, 'greeting', { text: 'héllo over TLS', n: 1 });
  assert.equal(res.status, 200);
  assert.deepEqual((await got).data, { text: 'héllo over TLS', n: 1 });
  // The SDK's REST reads go over https too.
  const info = await getJson(sdk, `/channels/${name}`, { info: 'subscription_count' });
  assert.equal(info.occupied, true);
  assert.equal(info.subscription_count, 1);
});

r.test('private channel over wss: SDK-signed auth, client events between two clients', async (ctx) => {
  const sdk = ctx.sdk();
  const authorizer = {
    customHandler: (params, callback) => callback(null, sdk.authorizeChannel(params.socketId, params.channelName)),
  };
  const a = await ctx.connected({ channelAuthorization: authorizer });
  const b = await ctx.connected({ channelAuthorization: authorizer });
  const name = uniq('private-tls-');
  const chA = await subscribe(a, name);
  const chB = await subscribe(b, name);
  const got = once(chB, 'client-typing');
  assert.equal(chA.trigger('client-typing', { who: 'a' }), true);
  assert.deepEqual((await got).data, { who: 'a' });
});

r.test('plain HTTP on the TLS port is answered 400 with a JSON error', async (ctx) => {
  const res = await plainGet(ctx.port, '/up');
  assert.equal(res.status, 400);
  assert.match(JSON.parse(res.body).error, /TLS/);
});

r.test('the plain port: pusher-js without TLS and the SDK over http', async (ctx) => {
  const plain = ctx.server.plainPort;
  assert.ok(plain, 'the banner names the plain port');
  const c = ctx.track(
    new Pusher(APP.key, {
      wsHost: '127.0.0.1',
      wsPort: plain,
      forceTLS: false,
      enabledTransports: ['ws'],
      cluster: 'mt1',
      disableStats: true,
    }),
  );
  await waitState(c, 'connected');
  const name = uniq('plain-');
  const ch = await subscribe(c, name);
  const got = once(ch, 'ev');
  await ctx.sdk({ port: String(plain), useTLS: false }).trigger(name, 'ev', { via: 'plain' });
  assert.deepEqual((await got).data, { via: 'plain' });
  assert.equal((await plainGet(plain, '/up')).status, 200);
});

r.test('SIGHUP: connected clients keep working, new sessions get the new certificate', async (ctx) => {
  const sdk = ctx.sdk();
  const before = await ctx.connected();
  const name = uniq('reload-');
  const ch = await subscribe(before, name);
  const seen = collect(ch, 'ev');
  fs.copyFileSync(file('second.pem'), file('live.pem'));
  fs.copyFileSync(file('second.key'), file('live.key'));
  ctx.server.proc.kill('SIGHUP');
  await until(() => ctx.server.log.some((l) => l.includes('certificate reloaded')), 5000, 'reload logged');
  assert.equal(await presentedSerial(ctx.port), SECOND_SERIAL);
  const after = await ctx.connected();
  await subscribe(after, name);
  await sdk.trigger(name, 'ev', { n: 1 });
  assert.deepEqual((await seen.next()).data, { n: 1 });
  assert.equal(before.connection.state, 'connected');
});

let EchoClass = null;
r.test('Laravel Echo forceTLS: private(\'orders\').listen(\'.OrderShipped\')', async (ctx) => {
  if (!EchoClass) EchoClass = (await import('laravel-echo')).default;
  const sdk = ctx.sdk();
  const e = new EchoClass({
    broadcaster: 'pusher',
    key: APP.key,
    wsHost: '127.0.0.1',
    wssPort: ctx.port,
    forceTLS: true,
    enabledTransports: ['ws', 'wss'],
    cluster: 'mt1',
    disableStats: true,
    Pusher,
    authorizer: (channel) => ({
      authorize: (socketId, callback) => callback(null, sdk.authorizeChannel(socketId, channel.name)),
    }),
  });
  ctx.track(e.connector.pusher);
  await waitState(e.connector.pusher, 'connected');
  const received = [];
  const ch = e.private('orders').listen('.OrderShipped', (payload) => received.push(payload));
  await deadline(
    new Promise((resolve, reject) => {
      ch.subscribed(resolve);
      ch.error((err) => reject(new Error(`subscription error ${JSON.stringify(err)}`)));
    }),
    5000,
    'Echo private-orders subscribed',
  );
  await sdk.trigger('private-orders', 'OrderShipped', { order: { id: 7 } });
  await until(() => received.length === 1, 5000, 'OrderShipped received');
  assert.deepEqual(received[0], { order: { id: 7 } });
});

r.run(process.argv[2]);
