'use strict';
// Shared helpers for the stock-client compatibility scripts: start a server, run a list of
// checks with time limits, and wrap the event APIs of pusher-js in promises.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const Pusher = require('pusher-js');
const PusherServer = require('pusher');

const APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' };

// ---------------------------------------------------------------------------------------------
// Server process

// `env` adds settings (e.g. CORECAST_TLS_CERT); the banner's plain port, if any, is `plainPort`.
function startServer(binary, { apps, env: extraEnv, startupMs = 15000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corecast-node-'));
  const appsFile = path.join(dir, 'apps.json');
  const table = apps || [
    { id: APP.id, key: APP.key, secret: APP.secret, enabled: true, enable_client_messages: true },
  ];
  fs.writeFileSync(appsFile, JSON.stringify(table));

  const env = Object.assign({}, process.env, {
    CORECAST_HOST: '127.0.0.1',
    CORECAST_PORT: '0',
    CORECAST_SHARDS: '2',
    CORECAST_APPS_FILE: appsFile,
  }, extraEnv || {});
  const proc = spawn(binary, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const remember = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() !== '') log.push(line);
    }
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  // Make sure the server never outlives this script.
  const killOnExit = () => {
    if (exited === null) {
      try {
        proc.kill('SIGKILL');
      } catch (_) {
        /* already gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', killOnExit);
  // On a signal, exit normally so that the handler above still stops the server.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      console.log(`# stopped by ${sig}`);
      process.exit(1);
    });
  }

  const server = {
    proc,
    log,
    port: null,
    plainPort: null,
    exited: () => exited,
    async stop() {
      if (exited === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (exited === null) proc.kill('SIGKILL');
        }, 3000);
        await exitPromise;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not report a listening port within ${startupMs} ms\n${log.join('\n')}`));
    }, startupMs);
    proc.stdout.on('data', (chunk) => {
      remember(chunk);
      if (server.port !== null) return;
      buffered += chunk.toString();
      const m = /listening on [^\s]*:(\d+)/.exec(buffered);
      if (m) {
        clearTimeout(timer);
        server.port = Number(m[1]);
        const plain = /plain: +[^\s]*:(\d+) without TLS/.exec(buffered);
        if (plain) server.plainPort = Number(plain[1]);
        resolve(server);
      }
    });
    proc.stderr.on('data', remember);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exitPromise.then(({ code, signal }) => {
      if (server.port === null) {
        clearTimeout(timer);
        reject(new Error(`server exited before listening (code ${code}, signal ${signal})\n${log.join('\n')}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Test runner: sequential checks, a time limit per check and one for the whole script, and a
// closing line `N passed, N failed`.

// `server` holds startServer options; with `tls: true` the contexts' clients use TLS
// (pusher-js `forceTLS`, the SDK `useTLS`). `apps`: the apps table for the server (or a function
// returning it, called at start); it overrides `server.apps`.
function runner(title, { testTimeoutMs = 10000, totalTimeoutMs = 30000, server: serverOptions, tls = false, apps } = {}) {
  const tests = [];
  let server = null;
  let passed = 0;
  let failed = 0;
  let finished = false;

  function test(name, fn, { timeoutMs } = {}) {
    if (process.env.ONLY && !name.includes(process.env.ONLY)) return;
    tests.push({ name, fn, timeoutMs: timeoutMs || testTimeoutMs });
  }

  async function finish(code) {
    if (finished) return;
    finished = true;
    if (failed > 0 && server) {
      const tail = server.log.slice(-30);
      if (tail.length > 0) {
        console.log('# last server output:');
        for (const line of tail) console.log('#   ' + line);
      }
    }
    if (server) {
      const gone = server.exited();
      if (gone !== null) {
        console.log(`# server exited during the run (code ${gone.code}, signal ${gone.signal})`);
      }
      await Promise.race([server.stop(), sleep(4000)]);
    }
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(code !== undefined ? code : failed > 0 ? 1 : 0);
  }

  async function run(binary) {
    if (!binary) {
      console.log(`usage: node ${path.basename(process.argv[1])} SERVER_BINARY`);
      console.log('0 passed, 1 failed');
      process.exit(2);
    }
    console.log(`# ${title}`);
    // A wait left pending by a check that already failed may reject later; that is not news.
    process.on('unhandledRejection', (err) => {
      console.log(`# (late rejection after a failure: ${String((err && err.message) || err).split('\n')[0]})`);
    });
    let current = 0;
    const hard = setTimeout(() => {
      console.log(`# hard time limit of ${totalTimeoutMs} ms reached`);
      for (let i = current; i < tests.length; i++) {
        console.log(`not ok - ${tests[i].name}: not finished within the script's time limit`);
        failed++;
      }
      finish(1);
    }, totalTimeoutMs);

    try {
      const table = typeof apps === 'function' ? apps() : apps;
      server = await startServer(binary, table ? Object.assign({}, serverOptions, { apps: table }) : serverOptions);
    } catch (err) {
      clearTimeout(hard);
      console.log(`not ok - server start: ${err.message}`);
      failed += tests.length || 1;
      return finish(1);
    }
    console.log(`# server listening on port ${server.port}`);

    for (current = 0; current < tests.length; current++) {
      const t = tests[current];
      const ctx = new Context(server.port, { tls, server });
      const started = Date.now();
      let timer;
      try {
        await Promise.race([
          t.fn(ctx),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${t.timeoutMs} ms`)), t.timeoutMs);
          }),
        ]);
        passed++;
        console.log(`ok - ${t.name} (${Date.now() - started} ms)`);
      } catch (err) {
        failed++;
        let msg = String((err && err.message) || err);
        if (err && err.name === 'PusherRequestError') {
          // The SDK's errors keep the interesting part outside `message`.
          const cause = err.error ? `, cause ${err.error.message || err.error}` : '';
          msg += ` (${err.url ? err.url.split('?')[0] : ''}: status ${err.status}, body ${JSON.stringify(err.body)}${cause})`;
        }
        console.log(`not ok - ${t.name}: ${msg.split('\n').join('\n#   ')}`);
      } finally {
        clearTimeout(timer);
        await ctx.close();
      }
      if (finished) return;
    }
    clearTimeout(hard);
    return finish();
  }

  return { test, run };
}

class TimeoutError extends Error {}

// Per-check resources: every client made through the context is disconnected afterwards.
class Context {
  constructor(port, { tls = false, server = null } = {}) {
    this.port = port;
    this.tls = tls;
    this.server = server;
    this.clients = [];
    this.cleanups = [];
  }

  options(extra) {
    const port = this.tls ? { wssPort: this.port } : { wsPort: this.port };
    return Object.assign(
      {
        wsHost: '127.0.0.1',
        ...port,
        forceTLS: this.tls,
        enabledTransports: ['ws'],
        cluster: 'mt1',
        disableStats: true,
      },
      extra || {},
    );
  }

  // A pusher-js client (not yet waited for).
  client(extra, key) {
    const c = new Pusher(key || APP.key, this.options(extra));
    this.track(c);
    return c;
  }

  track(pusherClient) {
    this.clients.push(pusherClient);
    return pusherClient;
  }

  // A pusher-js client in state `connected`.
  async connected(extra, key) {
    const c = this.client(extra, key);
    await waitState(c, 'connected', 5000);
    return c;
  }

  sdk(extra) {
    return new PusherServer(
      Object.assign(
        {
          appId: APP.id,
          key: APP.key,
          secret: APP.secret,
          host: '127.0.0.1',
          port: String(this.port),
          useTLS: this.tls,
          timeout: 5000,
        },
        extra || {},
      ),
    );
  }

  onClose(fn) {
    this.cleanups.push(fn);
  }

  async close() {
    for (const fn of this.cleanups) {
      try {
        await fn();
      } catch (_) {
        /* best effort */
      }
    }
    for (const c of this.clients) {
      try {
        c.disconnect();
      } catch (_) {
        /* best effort */
      }
    }
    // Let the server see the closes before the next check counts subscriptions.
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Promise wrappers

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deadline(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Resolves when the client's connection reaches `state`; rejects on `failed`/`unavailable` or
// a refused connection (state `disconnected` before reaching it).
function waitState(client, state, ms = 5000) {
  const conn = client.connection;
  if (conn.state === state) return Promise.resolve();
  let handler;
  let errHandler;
  let lastError = null;
  const p = new Promise((resolve, reject) => {
    errHandler = (err) => {
      lastError = err;
    };
    handler = ({ current }) => {
      if (current === state) resolve();
      else if (current === 'failed' || current === 'unavailable' || (current === 'disconnected' && state !== 'disconnected')) {
        reject(new Error(`connection went to '${current}' while waiting for '${state}'` + (lastError ? `; last error ${JSON.stringify(lastError)}` : '')));
      }
    };
    conn.bind('state_change', handler);
    conn.bind('error', errHandler);
  });
  return deadline(p, ms, `connection state '${state}' (now '${conn.state}')`).finally(() => {
    conn.unbind('state_change', handler);
    conn.unbind('error', errHandler);
  });
}

// Resolves with the first `(data, metadata)` of `event` on a channel-like emitter (pusher-js
// channel, `pusher.user`, or the client itself for global events).
function once(emitter, event, ms = 5000, what) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (data, metadata) => resolve({ data, metadata });
    emitter.bind(event, handler);
  });
  return deadline(p, ms, what || `event '${event}'`).finally(() => emitter.unbind(event, handler));
}

// Records every emission of `event`; `.items` grows, `.next(ms)` waits for the next unseen one.
function collect(emitter, event) {
  const items = [];
  const waiters = [];
  let read = 0;
  const handler = (data, metadata) => {
    items.push({ data, metadata });
    while (waiters.length > 0 && read < items.length) waiters.shift()(items[read++]);
  };
  emitter.bind(event, handler);
  return {
    items,
    next(ms = 5000, what) {
      if (read < items.length) return Promise.resolve(items[read++]);
      let waiter;
      const p = new Promise((resolve) => {
        waiter = resolve;
        waiters.push(waiter);
      });
      return deadline(p, ms, what || `event '${event}' #${read + 1}`).catch((err) => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        throw err;
      });
    },
    stop() {
      emitter.unbind(event, handler);
    },
  };
}

// Subscribes and resolves with the channel once `pusher:subscription_succeeded` fires; rejects
// with the `pusher:subscription_error` payload otherwise.
function subscribe(client, name, ms = 5000) {
  const channel = client.subscribe(name);
  if (channel.subscribed) return Promise.resolve(channel);
  let ok;
  let bad;
  const p = new Promise((resolve, reject) => {
    ok = (data) => resolve(channel);
    bad = (err) => reject(new Error(`subscription to '${name}' failed: ${JSON.stringify(err)}`));
    channel.bind('pusher:subscription_succeeded', ok);
    channel.bind('pusher:subscription_error', bad);
  });
  return deadline(p, ms, `subscription to '${name}'`).finally(() => {
    channel.unbind('pusher:subscription_succeeded', ok);
    channel.unbind('pusher:subscription_error', bad);
  });
}

// Polls `cond` until it returns a truthy value. `what` may be a function (evaluated on timeout).
async function until(cond, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) {
      throw new TimeoutError(`${typeof what === 'function' ? what() : what}: not true within ${ms} ms`);
    }
    await sleep(25);
  }
}

// Records the connection-level errors of a pusher-js client (`pusher:error` frames, close codes).
function trackErrors(client) {
  const errors = [];
  client.connection.bind('error', (e) => errors.push(e));
  errors.describe = () => (errors.length ? `; connection errors ${JSON.stringify(errors)}` : '');
  return errors;
}

// The `code` of each recorded error, whichever way pusher-js wrapped it.
function errorCodes(errors) {
  return errors.map((e) => (e && e.data && e.data.code) || (e && e.error && e.error.data && e.error.data.code));
}

async function getJson(sdk, pathName, params) {
  const res = await sdk.get({ path: pathName, params: params || {} });
  return res.json();
}

// The shard a connection lives on, from the server's socket-id layout (`serial % shards`).
function shardOf(socketId, shards = 2) {
  return Number(BigInt(socketId.split('.')[1]) % BigInt(shards));
}

function uniq(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

module.exports = {
  APP,
  Pusher,
  PusherServer,
  collect,
  deadline,
  getJson,
  once,
  runner,
  shardOf,
  sleep,
  startServer,
  subscribe,
  trackErrors,
  errorCodes,
  uniq,
  until,
  waitState,
};
