//! corecast: a thread-per-core, io_uring Pusher Channels (protocol 7) server.
//!
//! Table of contents:
//! - [`config`]: `CORECAST_*` settings, apps, limits.
//! - [`cli`]: the command line: subcommands (`check`), the log format, flags after a subcommand.
//! - [`limits`]: open-files and locked-memory checks at start.
//! - [`host`]: `corecast check`: this host's limits and kernel settings against the settings.
//! - [`protocol`]: pure Pusher protocol logic: events, channel names, close codes, socket ids;
//!   the rules of raw `/v3/{channel_id}` channels.
//! - [`auth`]: HMAC signatures (channel auth, user sign-in, signed REST requests), raw-channel
//!   JWTs.
//! - [`ws`]: RFC 6455 handshake and frame codec (IO-free).
//! - [`http`]: HTTP/1.1 request heads and responses (IO-free, on `httparse`).
//! - [`shard`]: per-core state: connections, local subscriber tables, owned channel state.
//! - [`bus`]: batched cross-shard messages over lock-free queues.
//! - [`cluster`]: cluster mode over Redis: the link thread, bus envelopes, cross-node publish.
//! - [`api`]: the REST API under `/apps/{app_id}/…`, and `POST /api/publish` for raw channels.
//! - [`rate_limit`]: per-app REST rate limits shared by all shards (fixed one-second windows).
//! - [`transport`]: sockets: listeners, TLS ([`transport::tls`]: certificates, reload),
//!   the plain/TLS stream ([`transport::link`]), WebSocket (Pusher and raw) and HTTP
//!   connection loops.
//! - [`server`]: starts the pinned shards.
//! - [`signals`]: SIGTERM/SIGINT (drain, then exit) and SIGHUP (reload the certificate).
//! - [`webhooks`]: signed, batched, retried webhook POSTs on side threads; shards only enqueue.

#![deny(missing_docs, unused_must_use)]

pub mod api;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod host;
pub mod http;
pub mod limits;
pub mod protocol;
pub mod rate_limit;
pub mod server;
pub mod shard;
pub mod signals;
pub mod transport;
pub mod webhooks;
pub mod ws;
