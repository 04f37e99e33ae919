'use strict';
// Webhooks with stock clients: every POST verified by the official `pusher` Node SDK's
// `webhook(request).isValid()`, events caused by pusher-js clients, and pusher-js's
// `pusher:subscription_count` binding.
// Usage: node compat-webhooks.js SERVER_BINARY

const assert = require('node:assert/strict');

const { APP, PusherServer, once, runner, subscribe, uniq, until } = require('./lib');
const { startReceiver } = require('./webhook-receiver');

const SOON = 5000;

const sdk = new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' });
let receiver = null;

const r = runner('pusher (Node SDK) webhook verification + pusher-js: webhooks, subscription_count', {
  testTimeoutMs: 10000,
  totalTimeoutMs: 90000,
  apps: () => [
    {
      id: APP.id,
      key: APP.key,
      secret: APP.secret,
      enable_client_messages: true,
      enable_subscription_count: true,
      webhook_batch_ms: 20,
      webhooks: [{ url: receiver.url }],
    },
  ],
});

function channelAuth(member) {
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

const is = (name, channel, extra) => (e) =>
  e.name === name && e.channel === channel && Object.entries(extra || {}).every(([k, v]) => e[k] === v);

r.test('subscribe / unsubscribe: channel_occupied and channel_vacated, valid for the SDK', async (ctx) => {
  const name = uniq('public-');
  const c = await ctx.connected();
  await subscribe(c, name);
  await receiver.waitFor(is('channel_occupied', name), SOON, `channel_occupied ${name}`);
  c.unsubscribe(name);
  await receiver.waitFor(is('channel_vacated', name), SOON, `channel_vacated ${name}`);
});

r.test('presence join and leave: member_added / member_removed with the user id as a string', async (ctx) => {
  const name = uniq('presence-');
  const c = await ctx.connected({ channelAuthorization: channelAuth({ user_id: 77, user_info: { n: 1 } }) });
  await subscribe(c, name);
  await receiver.waitFor(is('member_added', name, { user_id: '77' }), SOON, 'member_added');
  c.unsubscribe(name);
  await receiver.waitFor(is('member_removed', name, { user_id: '77' }), SOON, 'member_removed');
});

r.test('channel.trigger(client-…): client_event with data and socket_id', async (ctx) => {
  const name = uniq('private-');
  const c = await ctx.connected({ channelAuthorization: channelAuth() });
  const ch = await subscribe(c, name);
  assert.equal(ch.trigger('client-typing', { t: 1 }), true);
  const e = await receiver.waitFor(is('client_event', name, { event: 'client-typing' }), SOON, 'client_event');
  assert.equal(e.data, '{"t":1}');
  assert.equal(e.socket_id, c.connection.socket_id);
  assert.equal('user_id' in e, false);
});

r.test('cache channel without a value: pusher:cache_miss on the client, cache_miss webhook', async (ctx) => {
  const name = uniq('cache-');
  const c = await ctx.connected();
  const ch = c.subscribe(name);
  await once(ch, 'pusher:cache_miss', SOON);
  await receiver.waitFor(is('cache_miss', name), SOON, 'cache_miss');
});

r.test('pusher:subscription_count binding fires with the count of both clients', async (ctx) => {
  const name = uniq('counted-');
  const a = await ctx.connected();
  const chA = await subscribe(a, name);
  const b = await ctx.connected();
  const seen = [];
  chA.bind('pusher:subscription_count', (data) => seen.push(data.subscription_count));
  await subscribe(b, name);
  await until(() => seen.includes(2), SOON, () => `subscription_count 2 on the first client (saw ${seen})`);
  assert.equal(chA.subscriptionCount, 2);
  await receiver.waitFor(is('subscription_count', name, { subscription_count: 2 }), SOON, 'subscription_count webhook');
});

r.test('every POST so far passed isValid(); a wrong secret does not', async () => {
  assert.ok(receiver.events.length >= 8, `only ${receiver.events.length} events received`);
  assert.deepEqual(receiver.invalid, []);
  const wrong = new PusherServer({ appId: APP.id, key: APP.key, secret: 'not-the-secret' });
  const body = '{"time_ms":1,"events":[]}';
  const headers = {
    'content-type': 'application/json',
    'x-pusher-key': APP.key,
    'x-pusher-signature': require('node:crypto').createHmac('sha256', APP.secret).update(body).digest('hex'),
  };
  assert.equal(sdk.webhook({ headers, rawBody: body }).isValid(), true);
  assert.equal(wrong.webhook({ headers, rawBody: body }).isValid(), false);
});

startReceiver(sdk).then((rx) => {
  receiver = rx;
  r.run(process.argv[2]);
});
