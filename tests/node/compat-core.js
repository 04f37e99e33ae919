'use strict';
// Core compatibility: unmodified pusher-js 8 and the official Node server SDK against corecast.
// Usage: node compat-core.js SERVER_BINARY

const assert = require('node:assert/strict');
const {
  collect,
  errorCodes,
  getJson,
  once,
  runner,
  shardOf,
  sleep,
  subscribe,
  trackErrors,
  uniq,
  until,
  waitState,
} = require('./lib');

const r = runner('pusher-js + pusher (Node SDK): connection, public/private channels, REST, client events', {
  testTimeoutMs: 10000,
  totalTimeoutMs: 30000,
});

const SOCKET_ID = /^\d+\.\d+$/;

const PAYLOAD = {
  text: 'héllo wörld ✓ "quoted" \\ back',
  n: 42,
  f: -1.5,
  yes: true,
  nothing: null,
  list: [1, 'two', { three: 3 }],
  nested: { a: { b: { c: [] } } },
};

// A channelAuthorization custom handler that signs with the SDK, as an app's auth endpoint would.
function sdkAuthorizer(sdk, seen) {
  return {
    customHandler: (params, callback) => {
      if (seen) seen.push(params);
      try {
        callback(null, sdk.authorizeChannel(params.socketId, params.channelName));
      } catch (err) {
        callback(err, null);
      }
    },
  };
}

r.test('pusher-js connects: connecting -> connected, socket_id ^\\d+\\.\\d+$', async (ctx) => {
  const c = ctx.client();
  // The constructor starts connecting at once, so the first state is already `connecting`.
  const states = [c.connection.state];
  c.connection.bind('state_change', ({ current }) => states.push(current));
  const [, { data }] = await Promise.all([waitState(c, 'connected'), once(c.connection, 'connected', 5000)]);
  assert.match(c.connection.socket_id, SOCKET_ID);
  assert.equal(data.socket_id, c.connection.socket_id);
  assert.deepEqual(states, ['connecting', 'connected']);
});

r.test('public channel: subscription_succeeded, SDK trigger delivers the exact data object', async (ctx) => {
  const sdk = ctx.sdk();
  const c = await ctx.connected();
  const name = uniq('public-');
  const ch = await subscribe(c, name);
  assert.equal(ch.subscribed, true);
  const got = once(ch, 'my-event');
  const res = await sdk.trigger(name, 'my-event', PAYLOAD);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  const { data, metadata } = await got;
  assert.deepEqual(data, PAYLOAD);
  assert.equal(metadata.user_id, undefined);

  // A string payload that is not JSON arrives as that string.
  const got2 = once(ch, 'plain');
  await sdk.trigger(name, 'plain', 'just text');
  assert.equal((await got2).data, 'just text');
});

r.test('SDK trigger to several channels: each subscribed channel gets it once', async (ctx) => {
  const sdk = ctx.sdk();
  const a = await ctx.connected();
  const b = await ctx.connected();
  const [n1, n2, n3] = [uniq('multi-a-'), uniq('multi-b-'), uniq('multi-c-')];
  const a1 = await subscribe(a, n1);
  const a2 = await subscribe(a, n2);
  const b2 = await subscribe(b, n2);
  const b3 = await subscribe(b, n3);
  const seen = [a1, a2, b2, b3].map((ch) => collect(ch, 'fan'));
  await sdk.trigger([n1, n2, n3], 'fan', { to: 'all' });
  for (const s of seen) assert.deepEqual((await s.next()).data, { to: 'all' });
  await sleep(200);
  assert.deepEqual(
    seen.map((s) => s.items.length),
    [1, 1, 1, 1],
    'each (client, channel) pair receives exactly one copy',
  );
});

r.test('SDK triggerBatch: every event arrives, in order, with its data', async (ctx) => {
  const sdk = ctx.sdk();
  const c = await ctx.connected();
  const [n1, n2] = [uniq('batch-a-'), uniq('batch-b-')];
  const ch1 = await subscribe(c, n1);
  const ch2 = await subscribe(c, n2);
  const s1 = collect(ch1, 'step');
  const s2 = collect(ch2, 'other');
  const res = await sdk.triggerBatch([
    { channel: n1, name: 'step', data: { i: 1 } },
    { channel: n2, name: 'other', data: { x: 'y' } },
    { channel: n1, name: 'step', data: { i: 2 } },
    { channel: n1, name: 'step', data: { i: 3 } },
  ]);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  assert.deepEqual((await s1.next()).data, { i: 1 });
  assert.deepEqual((await s1.next()).data, { i: 2 });
  assert.deepEqual((await s1.next()).data, { i: 3 });
  assert.deepEqual((await s2.next()).data, { x: 'y' });
  await sleep(150);
  assert.equal(s1.items.length, 3);
  assert.equal(s2.items.length, 1);
});

r.test('SDK trigger with socket_id: that client is excluded, the other receives', async (ctx) => {
  const sdk = ctx.sdk();
  const a = await ctx.connected();
  const b = await ctx.connected();
  const name = uniq('exclude-');
  const chA = await subscribe(a, name);
  const chB = await subscribe(b, name);
  const seenA = collect(chA, 'ev');
  const seenB = collect(chB, 'ev');

  await sdk.trigger(name, 'ev', { n: 1 }, { socket_id: a.connection.socket_id });
  assert.deepEqual((await seenB.next()).data, { n: 1 });

  // The same through a batch element.
  await sdk.triggerBatch([{ channel: name, name: 'ev', data: { n: 2 }, socket_id: b.connection.socket_id }]);
  assert.deepEqual((await seenA.next()).data, { n: 2 });

  // And a marker event both must get, so that anything misrouted would have arrived by now.
  await sdk.trigger(name, 'ev', { n: 3 });
  assert.deepEqual((await seenA.next()).data, { n: 3 });
  assert.deepEqual((await seenB.next()).data, { n: 3 });
  assert.deepEqual(seenA.items.map((x) => x.data.n), [2, 3], 'excluded client A');
  assert.deepEqual(seenB.items.map((x) => x.data.n), [1, 3], 'excluded client B');
});

r.test('SDK get /channels and /channels/{name} report subscription counts', async (ctx) => {
  const sdk = ctx.sdk();
  const a = await ctx.connected();
  const b = await ctx.connected();
  const prefix = uniq('rest-');
  const name = `${prefix}-x`;
  await subscribe(a, name);
  await subscribe(b, name);
  await subscribe(b, `${prefix}-y`);

  const all = await getJson(sdk, '/channels', { info: 'subscription_count' });
  assert.ok(all.channels && typeof all.channels === 'object', `body ${JSON.stringify(all)}`);
  assert.deepEqual(all.channels[name], { subscription_count: 2 });
  assert.deepEqual(all.channels[`${prefix}-y`], { subscription_count: 1 });

  const filtered = await getJson(sdk, '/channels', { filter_by_prefix: prefix });
  assert.deepEqual(filtered, { channels: { [name]: {}, [`${prefix}-y`]: {} } });

  const one = await getJson(sdk, `/channels/${name}`, { info: 'subscription_count' });
  assert.deepEqual(one, { occupied: true, subscription_count: 2 });

  a.unsubscribe(name);
  await until(
    async () => (await getJson(sdk, `/channels/${name}`, { info: 'subscription_count' })).subscription_count === 1,
    3000,
    'subscription_count drops to 1 after pusher-js unsubscribes',
  );
  b.disconnect();
  await until(
    async () => (await getJson(sdk, `/channels/${name}`)).occupied === false,
    3000,
    'channel unoccupied after the last client disconnects',
  );
  const after = await getJson(sdk, '/channels', { filter_by_prefix: prefix });
  assert.deepEqual(after, { channels: {} });
});

r.test('8 pusher-js clients spread over both shards all receive one SDK event', async (ctx) => {
  const sdk = ctx.sdk();
  const name = uniq('wide-');
  const clients = [];
  const shards = new Set();
  // Eight clients; a few more only if the kernel happened to put all eight on one shard.
  while (clients.length < 8 || (shards.size < 2 && clients.length < 24)) {
    const c = await ctx.connected();
    clients.push(c);
    shards.add(shardOf(c.connection.socket_id));
  }
  assert.equal(shards.size, 2, `connections landed on shard(s) ${[...shards]} only`);
  const channels = await Promise.all(clients.map((c) => subscribe(c, name)));
  const all = await getJson(sdk, `/channels/${name}`, { info: 'subscription_count' });
  assert.deepEqual(all, { occupied: true, subscription_count: clients.length });
  const waits = channels.map((ch, i) => once(ch, 'hello', 5000, `client ${i} (${clients[i].connection.socket_id})`));
  await sdk.trigger(name, 'hello', { everyone: true });
  const got = await Promise.all(waits);
  for (const g of got) assert.deepEqual(g.data, { everyone: true });
});

r.test('private channel: customHandler signing with SDK authorizeChannel subscribes', async (ctx) => {
  const sdk = ctx.sdk();
  const seen = [];
  const c = await ctx.connected({ channelAuthorization: sdkAuthorizer(sdk, seen) });
  const name = uniq('private-');
  const ch = await subscribe(c, name);
  assert.equal(ch.subscribed, true);
  assert.deepEqual(seen, [{ socketId: c.connection.socket_id, channelName: name }]);
  const got = once(ch, 'secret-event');
  await sdk.trigger(name, 'secret-event', { s: 1 });
  assert.deepEqual((await got).data, { s: 1 });
});

r.test('private channel: invalid auth -> pusher:subscription_error, connection stays up', async (ctx) => {
  const sdk = ctx.sdk();
  const wrongSecret = ctx.sdk({ secret: 'not-the-secret' });
  const wrongKey = ctx.sdk({ key: 'other-key' });
  const c = await ctx.connected({
    channelAuthorization: {
      customHandler: (params, callback) => {
        const name = params.channelName;
        const signer = name.includes('-badsig-') ? wrongSecret : name.includes('-badkey-') ? wrongKey : sdk;
        callback(null, signer.authorizeChannel(params.socketId, name));
      },
    },
  });
  const cases = [
    ['bad signature', 'badsig'],
    ['auth string naming another app key', 'badkey'],
  ];
  for (const [label, tag] of cases) {
    const name = uniq(`private-${tag}-`);
    const ch = c.subscribe(name);
    const err = once(ch, 'pusher:subscription_error', 5000, `${label}: pusher:subscription_error`);
    const ok = collect(ch, 'pusher:subscription_succeeded');
    const { data } = await err;
    assert.equal(typeof data, 'object', `${label}: data ${JSON.stringify(data)}`);
    assert.equal(data.type, 'AuthError', `${label}: data ${JSON.stringify(data)}`);
    assert.equal(data.status, 401, `${label}: data ${JSON.stringify(data)}`);
    assert.equal(typeof data.error, 'string');
    await sleep(100);
    assert.equal(ok.items.length, 0, `${label}: no subscription_succeeded`);
    assert.equal(ch.subscribed, false);
  }
  assert.equal(c.connection.state, 'connected');
  // The connection still works: a valid private subscription succeeds afterwards.
  await subscribe(c, uniq('private-after-'));
});

r.test('client events on a private channel reach the other client, not the sender', async (ctx) => {
  const sdk = ctx.sdk();
  const auth = { channelAuthorization: sdkAuthorizer(sdk) };
  const a = await ctx.connected(auth);
  const b = await ctx.connected(auth);
  const name = uniq('private-chat-');
  const chA = await subscribe(a, name);
  const chB = await subscribe(b, name);
  const atA = collect(chA, 'client-typing');
  const atB = collect(chB, 'client-typing');

  const errorsAtA = trackErrors(a);
  const errorsAtB = trackErrors(b);
  const withErrors = (p, errs) =>
    p.catch((err) => {
      throw new Error(`${err.message}; the sender got ${errs.length ? JSON.stringify(errs) : 'no error'}`);
    });

  // Sent as soon as the subscription succeeded, as an app announcing itself would.
  assert.equal(chA.trigger('client-typing', { who: 'a', text: 'hi ✓' }), true);
  const { data, metadata } = await withErrors(atB.next(), errorsAtA);
  assert.deepEqual(data, { who: 'a', text: 'hi ✓' });
  assert.equal(metadata.user_id, undefined, 'no user_id on a private channel');

  assert.equal(chB.trigger('client-typing', { who: 'b' }), true);
  assert.deepEqual((await withErrors(atA.next(), errorsAtB)).data, { who: 'b' });
  await sleep(200);
  assert.deepEqual(atA.items.map((x) => x.data.who), ['b'], 'A must not get its own event');
  assert.deepEqual(atB.items.map((x) => x.data.who), ['a'], 'B must not get its own event');
  assert.equal(errorsAtA.length + errorsAtB.length, 0, `no pusher:error${errorsAtA.describe()}${errorsAtB.describe()}`);
});

r.test('unknown app key: pusher-js gets 4001 and stops (state disconnected, no retry)', async (ctx) => {
  const c = ctx.client({}, 'no-such-key');
  const states = [c.connection.state];
  const errors = trackErrors(c);
  c.connection.bind('state_change', ({ current }) => states.push(current));
  await until(() => states.includes('disconnected') || states.includes('failed'), 5000, 'refused connection');
  // pusher-js maps close codes 4001-4099 to "refused": it calls disconnect(), so the state is
  // `disconnected` (it never becomes `failed`/`unavailable`) and no retry is scheduled.
  await sleep(2500);
  assert.deepEqual(states, ['connecting', 'disconnected'], 'state changes');
  assert.ok(errorCodes(errors).includes(4001), `error events ${JSON.stringify(errors)}`);
  assert.equal(c.connection.socket_id, undefined);
});

r.run(process.argv[2]);
