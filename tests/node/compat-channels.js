'use strict';
// Channel features with stock clients: user sign-in and server-to-user messages, presence
// channels, cache channels, end-to-end encrypted channels, and Laravel Echo.
// Usage: node compat-channels.js SERVER_BINARY

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {
  APP,
  Pusher,
  collect,
  deadline,
  errorCodes,
  getJson,
  once,
  runner,
  sleep,
  subscribe,
  trackErrors,
  uniq,
  until,
  waitState,
} = require('./lib');

const r = runner('pusher-js + pusher (Node SDK) + laravel-echo: sign-in, presence, cache, encrypted, Echo', {
  testTimeoutMs: 10000,
  totalTimeoutMs: 120000,
});

// How long to wait for something the server should do at once.
const SOON = 3000;

function userAuth(sdk, user) {
  return {
    customHandler: (params, callback) => {
      try {
        callback(null, sdk.authenticateUser(params.socketId, user));
      } catch (err) {
        callback(err, null);
      }
    },
  };
}

function channelAuth(sdk, member) {
  return {
    customHandler: (params, callback) => {
      try {
        callback(null, sdk.authorizeChannel(params.socketId, params.channelName, member));
      } catch (err) {
        callback(err, null);
      }
    },
  };
}

// A pusher-js client signed in as `user`, with its `#server-to-user-` channel subscribed.
async function signedIn(ctx, sdk, user) {
  const c = ctx.client({ userAuthentication: userAuth(sdk, user) });
  const errors = trackErrors(c);
  await waitState(c, 'connected');
  c.signin();
  await until(
    () => c.user.user_data !== null,
    SOON,
    () => `pusher.user.user_data after signin() as '${user.id}'${errors.describe()}`,
  );
  await until(
    () => c.user.serverToUserChannel && c.user.serverToUserChannel.subscribed,
    SOON,
    () => `subscription to #server-to-user-${user.id}${errors.describe()}`,
  );
  c.errors = errors;
  return c;
}

// ---------------------------------------------------------------------------------------------
// User authentication

r.test('signin(): userAuthentication customHandler with SDK authenticateUser signs the user in', async (ctx) => {
  const sdk = ctx.sdk();
  const user = { id: 'alice', user_info: { name: 'Alice' } };
  const c = await signedIn(ctx, sdk, user);
  assert.deepEqual(c.user.user_data, user);
  assert.equal(c.user.serverToUserChannel.name, '#server-to-user-alice');
  assert.equal(c.errors.length, 0, c.errors.describe());
  assert.equal(c.connection.state, 'connected');
});

r.test('SDK sendToUser reaches pusher.user.bind on every connection of that user only', async (ctx) => {
  const sdk = ctx.sdk();
  const bob1 = await signedIn(ctx, sdk, { id: 'bob' });
  const bob2 = await signedIn(ctx, sdk, { id: 'bob' });
  const carol = await signedIn(ctx, sdk, { id: 'carol' });
  const seen = [bob1, bob2, carol].map((c) => collect(c.user, 'notice'));
  const res = await sdk.sendToUser('bob', 'notice', { for: 'bob', n: 1 });
  assert.equal(res.status, 200);
  assert.deepEqual((await seen[0].next(SOON, 'bob #1')).data, { for: 'bob', n: 1 });
  assert.deepEqual((await seen[1].next(SOON, 'bob #2')).data, { for: 'bob', n: 1 });
  await sdk.sendToUser('carol', 'notice', { for: 'carol' });
  assert.deepEqual((await seen[2].next(SOON, 'carol')).data, { for: 'carol' });
  await sleep(100);
  assert.deepEqual(seen.map((s) => s.items.length), [1, 1, 1]);
});

r.test('SDK terminateUserConnections closes that user\'s connections (4009), others stay', async (ctx) => {
  const sdk = ctx.sdk();
  const dave1 = await signedIn(ctx, sdk, { id: 'dave' });
  const dave2 = await signedIn(ctx, sdk, { id: 'dave' });
  const erin = await signedIn(ctx, sdk, { id: 'erin' });
  const res = await sdk.terminateUserConnections('dave');
  assert.equal(res.status, 200);
  for (const [label, c] of [
    ['dave #1', dave1],
    ['dave #2', dave2],
  ]) {
    await until(() => c.connection.state === 'disconnected', SOON, () => `${label} disconnected (state ${c.connection.state})`);
    assert.ok(errorCodes(c.errors).includes(4009), `${label}: errors ${JSON.stringify(c.errors)}`);
  }
  // pusher-js treats 4009 as "refused": it must not reconnect on its own.
  await sleep(1500);
  assert.equal(dave1.connection.state, 'disconnected');
  assert.equal(dave2.connection.state, 'disconnected');
  assert.equal(erin.connection.state, 'connected');
  const got = once(erin.user, 'still-here', SOON);
  await sdk.sendToUser('erin', 'still-here', { ok: true });
  assert.deepEqual((await got).data, { ok: true });
});

// ---------------------------------------------------------------------------------------------
// Presence channels

const ALICE = { user_id: '1', user_info: { name: 'Alice' } };
const BOB = { user_id: '2', user_info: { name: 'Bob' } };

async function presenceMember(ctx, sdk, name, member) {
  const c = await ctx.connected({ channelAuthorization: channelAuth(sdk, member) });
  const ch = await subscribe(c, name, SOON);
  return { c, ch };
}

r.test('presence: members.count / members.me, member_added and member_removed', async (ctx) => {
  const sdk = ctx.sdk();
  const name = uniq('presence-room-');
  const a = await presenceMember(ctx, sdk, name, ALICE);
  assert.equal(a.ch.members.count, 1);
  assert.deepEqual(a.ch.members.me, { id: '1', info: { name: 'Alice' } });
  const added = collect(a.ch, 'pusher:member_added');
  const removed = collect(a.ch, 'pusher:member_removed');

  const b = await presenceMember(ctx, sdk, name, BOB);
  assert.equal(b.ch.members.count, 2);
  assert.deepEqual(b.ch.members.me, { id: '2', info: { name: 'Bob' } });
  assert.deepEqual(b.ch.members.get('1'), { id: '1', info: { name: 'Alice' } });
  assert.deepEqual((await added.next(SOON)).data, { id: '2', info: { name: 'Bob' } });
  assert.equal(a.ch.members.count, 2);

  b.c.unsubscribe(name);
  assert.deepEqual((await removed.next(SOON)).data, { id: '2', info: { name: 'Bob' } });
  assert.equal(a.ch.members.count, 1);
  assert.equal(a.ch.members.get('2'), null);
});

r.test('presence: two connections of one user are one member', async (ctx) => {
  const sdk = ctx.sdk();
  const name = uniq('presence-room-');
  const a = await presenceMember(ctx, sdk, name, ALICE);
  const added = collect(a.ch, 'pusher:member_added');
  const removed = collect(a.ch, 'pusher:member_removed');
  const b1 = await presenceMember(ctx, sdk, name, BOB);
  await added.next(SOON);
  const b2 = await presenceMember(ctx, sdk, name, BOB);
  assert.equal(b2.ch.members.count, 2, 'second connection of Bob sees two members');
  const ids = [];
  b2.ch.members.each((m) => ids.push(m.id));
  assert.deepEqual(ids.sort(), ['1', '2']);
  await sleep(200);
  assert.equal(added.items.length, 1, 'no second member_added for the same user');
  assert.equal(a.ch.members.count, 2);

  b1.c.disconnect();
  await sleep(300);
  assert.equal(removed.items.length, 0, 'member_removed only when the user\'s last connection leaves');
  b2.c.disconnect();
  assert.deepEqual((await removed.next(SOON)).data, { id: '2', info: { name: 'Bob' } });
  assert.equal(a.ch.members.count, 1);
});

r.test('presence: SDK get /channels/{name}/users and info user_count', async (ctx) => {
  const sdk = ctx.sdk();
  const prefix = uniq('presence-rest-');
  const name = `${prefix}-x`;
  await presenceMember(ctx, sdk, name, ALICE);
  await presenceMember(ctx, sdk, name, BOB);
  await presenceMember(ctx, sdk, name, BOB);

  const users = await getJson(sdk, `/channels/${name}/users`);
  assert.ok(Array.isArray(users.users), `body ${JSON.stringify(users)}`);
  assert.deepEqual(users.users.map((u) => u.id).sort(), ['1', '2']);

  const one = await getJson(sdk, `/channels/${name}`, { info: 'user_count' });
  assert.deepEqual(one, { occupied: true, user_count: 2 });
  const list = await getJson(sdk, '/channels', { filter_by_prefix: prefix, info: 'user_count' });
  assert.deepEqual(list, { channels: { [name]: { user_count: 2 } } });
});

r.test('presence: client events carry the sender\'s user_id', async (ctx) => {
  const sdk = ctx.sdk();
  const name = uniq('presence-chat-');
  const a = await presenceMember(ctx, sdk, name, ALICE);
  const b = await presenceMember(ctx, sdk, name, BOB);
  const errors = trackErrors(a.c);
  const got = collect(b.ch, 'client-wave');
  assert.equal(a.ch.trigger('client-wave', { hi: 'Bob' }), true);
  const { data, metadata } = await got.next(SOON).catch((err) => {
    throw new Error(err.message + errors.describe());
  });
  assert.deepEqual(data, { hi: 'Bob' });
  assert.equal(metadata.user_id, '1');
});

// ---------------------------------------------------------------------------------------------
// Cache channels

// Subscribes `c` to cache channel `name`; resolves with the `price` events and cache misses
// seen within `settleMs` after the subscription succeeded.
async function cacheSubscription(c, name, settleMs) {
  const ch = c.subscribe(name);
  const prices = collect(ch, 'price');
  const misses = collect(ch, 'pusher:cache_miss');
  await subscribe(c, name, SOON);
  await prices.next(SOON, `cached event on '${name}'`);
  await sleep(settleMs);
  return { prices: prices.items.map((x) => x.data), misses: misses.items.length };
}

r.test('cache channel: a late subscriber gets the last event', async (ctx) => {
  const sdk = ctx.sdk();
  const name = uniq('cache-price-');
  await sdk.trigger(name, 'price', { v: 1 });
  await sdk.trigger(name, 'price', { v: 2 });
  // Let the publication reach every shard first: this checks what a later subscriber gets.
  await sleep(300);
  const clients = [await ctx.connected(), await ctx.connected(), await ctx.connected()];
  for (const c of clients) {
    const got = await cacheSubscription(c, name, 150);
    assert.deepEqual(got, { prices: [{ v: 2 }], misses: 0 }, `subscriber ${c.connection.socket_id}`);
  }
});

r.test('cache channel: a subscriber racing a publication ends with the newest event', async (ctx) => {
  const sdk = ctx.sdk();
  const clients = [await ctx.connected(), await ctx.connected(), await ctx.connected(), await ctx.connected()];
  for (let round = 0; round < 5; round++) {
    const name = uniq(`cache-race${round}-`);
    await sdk.trigger(name, 'price', { v: 1 });
    await sdk.trigger(name, 'price', { v: 2 });
    const got = await Promise.all(clients.map((c) => cacheSubscription(c, name, 300)));
    got.forEach((g, i) => {
      // A shard may not have seen the publications yet when the subscription lands there
      // (cache miss or v1 from the cache, then the rest live), but nothing may arrive twice or
      // out of order, and the subscriber must end up with v2.
      const vs = g.prices.map((p) => p.v);
      const ok = vs.length > 0 && vs[vs.length - 1] === 2 && vs.every((v, j) => j === 0 || v > vs[j - 1]) && g.misses <= 1;
      assert.ok(ok, `round ${round}, subscriber ${clients[i].connection.socket_id}: ${JSON.stringify(g)}`);
    });
  }
});

r.test('cache channel: subscribing to an empty one emits pusher:cache_miss', async (ctx) => {
  const c = await ctx.connected();
  const name = uniq('cache-empty-');
  const ch = c.subscribe(name);
  const misses = collect(ch, 'pusher:cache_miss');
  const global = collect(c, 'pusher:cache_miss');
  await subscribe(c, name, SOON);
  await misses.next(SOON, 'pusher:cache_miss on the channel');
  await global.next(SOON, 'pusher:cache_miss on the client');
  await sleep(200);
  assert.equal(misses.items.length, 1);
});

// ---------------------------------------------------------------------------------------------
// End-to-end encrypted channels

r.test('private-encrypted channel: pusher-js decrypts an event the SDK encrypted', async (ctx) => {
  const sdk = ctx.sdk({ encryptionMasterKeyBase64: crypto.randomBytes(32).toString('base64') });
  const c = await ctx.connected({ channelAuthorization: channelAuth(sdk) });
  const name = uniq('private-encrypted-vault-');
  const ch = await subscribe(c, name, SOON);
  const got = collect(ch, 'secret');
  const failures = collect(ch, 'pusher:decryption_error');
  const payload = { card: '4111 1111 1111 1111', note: 'ünïcode ✓' };
  const res = await sdk.trigger(name, 'secret', payload);
  assert.equal(res.status, 200);
  const { data } = await got.next(SOON).catch((err) => {
    throw new Error(`${err.message}; decryption errors ${JSON.stringify(failures.items)}`);
  });
  assert.deepEqual(data, payload);
});

// ---------------------------------------------------------------------------------------------
// Laravel Echo (pusher broadcaster)

let EchoClass = null;
async function loadEcho() {
  // laravel-echo 2.x is an ES module package; its CommonJS entry does not load under
  // `require`, so it is imported.
  if (!EchoClass) EchoClass = (await import('laravel-echo')).default;
  return EchoClass;
}

async function echo(ctx, sdk, member) {
  const Echo = await loadEcho();
  const e = new Echo({
    broadcaster: 'pusher',
    key: APP.key,
    wsHost: '127.0.0.1',
    wsPort: ctx.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    disableStats: true,
    Pusher,
    authorizer: (channel) => ({
      authorize: (socketId, callback) => {
        try {
          const presence = channel.name.startsWith('presence-') ? member : undefined;
          callback(null, sdk.authorizeChannel(socketId, channel.name, presence));
        } catch (err) {
          callback(err, null);
        }
      },
    }),
  });
  ctx.track(e.connector.pusher);
  await waitState(e.connector.pusher, 'connected');
  return e;
}

function subscribed(echoChannel, what) {
  return new Promise((resolve, reject) => {
    echoChannel.subscribed(resolve);
    echoChannel.error((err) => reject(new Error(`${what}: subscription error ${JSON.stringify(err)}`)));
  });
}

r.test('Laravel Echo: private(\'orders\').listen(\'.OrderShipped\') and namespaced names', async (ctx) => {
  const sdk = ctx.sdk();
  const e = await echo(ctx, sdk);
  const literal = [];
  const namespaced = [];
  const ch = e
    .private('orders')
    .listen('.OrderShipped', (payload) => literal.push(payload))
    .listen('OrderShipped', (payload) => namespaced.push(payload));
  await deadline(subscribed(ch, 'private-orders'), SOON, 'Echo private-orders subscribed');
  await sdk.trigger('private-orders', 'OrderShipped', { order: { id: 7 } });
  // What a Laravel app broadcasts: the class name as the event name.
  await sdk.trigger('private-orders', 'App\\Events\\OrderShipped', { order: { id: 8 } });
  await until(() => literal.length >= 1 && namespaced.length >= 1, SOON, () =>
    `Echo listeners: '.OrderShipped' got ${JSON.stringify(literal)}, 'OrderShipped' got ${JSON.stringify(namespaced)}`);
  await sleep(100);
  assert.deepEqual(literal, [{ order: { id: 7 } }]);
  assert.deepEqual(namespaced, [{ order: { id: 8 } }]);
  assert.equal(e.socketId(), e.connector.pusher.connection.socket_id);
});

r.test('Laravel Echo: .error() fires on a rejected private subscription', async (ctx) => {
  const sdk = ctx.sdk({ secret: 'not-the-secret' });
  const e = await echo(ctx, sdk);
  const err = await deadline(
    new Promise((resolve) => e.private('forbidden').error(resolve)),
    SOON,
    'Echo .error() callback',
  );
  assert.equal(err.type, 'AuthError');
  assert.equal(err.status, 401);
});

r.test('Laravel Echo: join(\'room\') .here / .joining / .leaving', async (ctx) => {
  const sdk = ctx.sdk();
  const alice = await echo(ctx, sdk, ALICE);
  const joined = [];
  const left = [];
  const hereA = await deadline(
    new Promise((resolve) => {
      alice
        .join('room')
        .here(resolve)
        .joining((info) => joined.push(info))
        .leaving((info) => left.push(info));
    }),
    SOON,
    'Alice .here()',
  );
  assert.deepEqual(hereA, [{ name: 'Alice' }]);

  const bob = await echo(ctx, sdk, BOB);
  const hereB = await deadline(new Promise((resolve) => bob.join('room').here(resolve)), SOON, 'Bob .here()');
  assert.deepEqual(
    hereB.map((i) => i.name).sort(),
    ['Alice', 'Bob'],
  );
  await until(() => joined.length === 1, SOON, () => `Alice .joining() (got ${JSON.stringify(joined)})`);
  assert.deepEqual(joined, [{ name: 'Bob' }]);

  bob.leave('room');
  await until(() => left.length === 1, SOON, () => `Alice .leaving() (got ${JSON.stringify(left)})`);
  assert.deepEqual(left, [{ name: 'Bob' }]);
});

r.run(process.argv[2]);
