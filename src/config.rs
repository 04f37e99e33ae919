//! Settings: `CORECAST_*` environment variables (mirrored by `--flags`), the apps table, and
//! the start-up checks of the process limits the settings need.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::cli::{Command, LogFormat};
use crate::protocol::flavour::Flavour;
use crate::protocol::origin::AllowedOrigins;
use thiserror::Error;

mod cluster;
mod policy;
mod webhooks;

pub use cluster::{ClusterSettings, RedisUrl};

use policy::{auth_timeout, check_policy, origin_entry, MAX_AUTH_TIMEOUT};
use webhooks::{check_webhooks, default_app_webhooks, event_type};

/// Command line and environment. Every flag has a `CORECAST_*` variable of the same meaning.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "corecast",
    version,
    about = "Thread-per-core Pusher-compatible WebSocket server"
)]
pub struct Settings {
    /// What to do instead of serving (none: start the server).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "CORECAST_HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port for WebSocket and REST traffic.
    #[arg(long, env = "CORECAST_PORT", default_value_t = 6001)]
    pub port: u16,
    /// Number of shards (pinned executors); default: all usable cores.
    #[arg(long, env = "CORECAST_SHARDS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub shards: Option<u16>,
    /// Id of the default app (used when no apps file is given).
    #[arg(long, env = "CORECAST_APP_ID", default_value = "app-id")]
    pub app_id: String,
    /// Key of the default app.
    #[arg(long, env = "CORECAST_APP_KEY", default_value = "app-key")]
    pub app_key: String,
    /// Secret of the default app.
    #[arg(long, env = "CORECAST_APP_SECRET", default_value = "app-secret")]
    pub app_secret: String,
    /// Whether the default app accepts client events (`client-*`).
    #[arg(long, env = "CORECAST_ENABLE_CLIENT_MESSAGES", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_client_messages: bool,
    /// Client events per connection per second, for the default app.
    #[arg(long, env = "CORECAST_MAX_CLIENT_EVENTS_PER_SECOND", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_client_events_per_second: u32,
    /// Distinct users per presence channel, for the default app.
    #[arg(long, env = "CORECAST_MAX_PRESENCE_MEMBERS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_presence_members: u32,
    /// Seconds a cache channel keeps its last event, for the default app.
    #[arg(long, env = "CORECAST_CACHE_TTL", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub cache_ttl: u64,
    /// Whether the default app sends watchlist online/offline events to signed-in users.
    #[arg(long, env = "CORECAST_ENABLE_WATCHLIST_EVENTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_watchlist_events: bool,
    /// Protocol dialect of the default app: `pusher` or `broadcastt`.
    #[arg(long, env = "CORECAST_EVENT_PREFIX", default_value = "pusher")]
    pub event_prefix: Flavour,
    /// Origins the default app accepts WebSocket upgrades from: a comma list of patterns such
    /// as `https://app.example.com`, `localhost:3000`, `*.example.com` (empty: any origin).
    #[arg(long, env = "CORECAST_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = origin_entry)]
    pub allowed_origins: Vec<String>,
    /// Whether a connection of the default app must sign in or join a private or presence
    /// channel within the timeout (else it is closed with 4009).
    #[arg(long, env = "CORECAST_ENABLE_USER_AUTHENTICATION", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_user_authentication: bool,
    /// Seconds a connection of the default app has to become authorized, when required.
    #[arg(long, env = "CORECAST_USER_AUTHENTICATION_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=MAX_AUTH_TIMEOUT))]
    pub user_authentication_timeout: u64,
    /// Whether every raw (`/v3/…`) connection of the default app needs a JWT, not only those
    /// to `private-` channels.
    #[arg(long, env = "CORECAST_RAW_REQUIRE_JWT", default_value_t = false, action = clap::ArgAction::Set)]
    pub raw_require_jwt: bool,
    /// Events per second the default app may publish over REST, all shards together (unset:
    /// unlimited; over it: 429).
    #[arg(long, env = "CORECAST_MAX_BACKEND_EVENTS_PER_SECOND", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_backend_events_per_second: Option<u32>,
    /// REST channel queries per second for the default app, all shards together (unset:
    /// unlimited; over it: 429).
    #[arg(long, env = "CORECAST_MAX_READ_REQUESTS_PER_SECOND", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_read_requests_per_second: Option<u32>,
    /// Webhook URL of the default app (unset: no webhooks).
    #[arg(long, env = "CORECAST_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Webhook events the default app sends, a comma list (empty: all of them).
    #[arg(long, env = "CORECAST_WEBHOOK_EVENTS", value_delimiter = ',', value_parser = event_type)]
    pub webhook_events: Vec<String>,
    /// Milliseconds a webhook batch collects events per (app, URL), for apps that do not set
    /// their own (0: one event per POST).
    #[arg(long, env = "CORECAST_WEBHOOK_BATCH_MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub webhook_batch_ms: u64,
    /// Milliseconds `channel_vacated` / `member_removed` wait and are cancelled by a return,
    /// for apps that do not set their own (0: sent at once).
    #[arg(long, env = "CORECAST_WEBHOOK_VACATE_GRACE_MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub webhook_vacate_grace_ms: u64,
    /// Webhook events that may wait per (app, URL), and between the shards and the sender.
    #[arg(long, env = "CORECAST_WEBHOOK_QUEUE", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub webhook_queue: u32,
    /// Threads sending webhook POSTs.
    #[arg(long, env = "CORECAST_WEBHOOK_WORKERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub webhook_workers: u16,
    /// Seconds pending webhooks may take to go out on SIGTERM, after the connections closed.
    #[arg(long, env = "CORECAST_WEBHOOK_FLUSH_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub webhook_flush_secs: u64,
    /// Whether the default app sends `pusher_internal:subscription_count` (and the webhook).
    #[arg(long, env = "CORECAST_ENABLE_SUBSCRIPTION_COUNT", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_subscription_count: bool,
    /// JSON file with several apps (replaces the default app).
    #[arg(long, env = "CORECAST_APPS_FILE")]
    pub apps_file: Option<PathBuf>,
    /// Seconds of client silence before the server probes with `pusher:ping`.
    #[arg(long, env = "CORECAST_ACTIVITY_TIMEOUT", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub activity_timeout: u32,
    /// Seconds to wait for any traffic after a server ping before closing with 4201.
    #[arg(long, env = "CORECAST_PONG_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub pong_timeout: u32,
    /// Largest event `data` in KiB (REST and client events), for apps that do not set their own.
    #[arg(long, env = "CORECAST_MAX_PAYLOAD_KB", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10240))]
    pub max_payload_kb: u32,
    /// Largest inbound WebSocket message on Pusher connections, in KiB (larger: close 1009).
    #[arg(long, env = "CORECAST_MAX_MESSAGE_KB", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_message_kb: u32,
    /// Largest inbound message on raw (`/v3/…`) connections, in KiB (larger: close 1009).
    #[arg(long, env = "CORECAST_RAW_MAX_MESSAGE_KB", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub raw_max_message_kb: u32,
    /// Messages a raw connection may send per second, in bursts of as many (0 = unlimited);
    /// excess ones are dropped. For apps that do not set their own.
    #[arg(
        long,
        env = "CORECAST_RAW_MAX_MESSAGES_PER_SECOND",
        default_value_t = 1000
    )]
    pub raw_max_messages_per_second: u32,
    /// Channels one Pusher connection may be subscribed to at once, for apps that do not set
    /// their own (beyond: `pusher:subscription_error` `LimitReached`).
    #[arg(long, env = "CORECAST_MAX_CHANNELS_PER_CONNECTION", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_channels_per_connection: u32,
    /// Milliseconds a request head may take to arrive in full, counted from the connection's
    /// accept (or from the first byte of a later request on a keep-alive connection).
    #[arg(long, env = "CORECAST_HEAD_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(100..=600_000))]
    pub head_timeout_ms: u32,
    /// Milliseconds a REST request body may take to arrive in full, counted from its head.
    #[arg(long, env = "CORECAST_BODY_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u32).range(100..=3_600_000))]
    pub body_timeout_ms: u32,
    /// Milliseconds an idle keep-alive REST connection waits for its next request.
    #[arg(long, env = "CORECAST_KEEPALIVE_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u32).range(100..=3_600_000))]
    pub keepalive_timeout_ms: u32,
    /// Longest channel name accepted.
    #[arg(long, env = "CORECAST_MAX_CHANNEL_NAME", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_channel_name: u32,
    /// Outbound bytes a connection may have queued before it is closed as a slow consumer (4100), in KiB.
    #[arg(long, env = "CORECAST_MAX_OUTBOX_KB", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(16..=1048576))]
    pub max_outbox_kb: u32,
    /// Server-wide connection cap (0 = limited only by open files).
    #[arg(long, env = "CORECAST_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: u64,
    /// Bytes of io_uring memory per shard registered with the kernel (counts against RLIMIT_MEMLOCK).
    #[arg(long, env = "CORECAST_IO_MEMORY_KB", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(64..=1048576))]
    pub io_memory_kb: u32,
    /// PEM certificate chain (leaf first): with `CORECAST_TLS_KEY`, the port serves `wss://`
    /// and `https://` only. Reloaded on SIGHUP.
    #[arg(long, env = "CORECAST_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1). Reloaded on SIGHUP.
    #[arg(long, env = "CORECAST_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// A second port serving plain `ws://` and `http://` (e.g. for a health checker next to a
    /// TLS port); 0 = none.
    #[arg(long, env = "CORECAST_PLAIN_PORT", default_value_t = 0)]
    pub plain_port: u16,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `corecast=debug`.
    #[arg(long, env = "CORECAST_LOG", default_value = "info")]
    pub log: String,
    /// Log line format on stderr: `text` (human-readable) or `json` (one object per line).
    #[arg(long, env = "CORECAST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Cluster mode over Redis.
    #[command(flatten)]
    pub cluster: ClusterSettings,
}

/// One app as written in the apps file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// App id (REST path `/apps/{id}`).
    pub id: String,
    /// Public key (WebSocket path `/app/{key}`).
    pub key: String,
    /// Secret for signatures.
    pub secret: String,
    /// Whether connections and requests are accepted.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Connection quota across all shards (none: unlimited).
    #[serde(default)]
    pub max_connections: Option<u64>,
    /// Largest event `data`, in KiB (none: the server default).
    #[serde(default)]
    pub max_payload_kb: Option<u32>,
    /// Whether `client-*` events are relayed.
    #[serde(default)]
    pub enable_client_messages: bool,
    /// Client events allowed per connection per second.
    #[serde(default = "ten")]
    pub max_client_events_per_second: u32,
    /// Distinct users allowed in one presence channel.
    #[serde(default = "hundred")]
    pub max_presence_members: u32,
    /// Seconds a cache channel keeps its last event.
    #[serde(default = "cache_ttl")]
    pub cache_ttl_secs: u64,
    /// Whether signed-in users with a watchlist get online/offline events.
    #[serde(default)]
    pub enable_watchlist_events: bool,
    /// Protocol dialect: `pusher` (default) or `broadcastt`.
    #[serde(default)]
    pub event_prefix: Flavour,
    /// Origin patterns accepted on WebSocket upgrades (empty: any origin).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Whether connections must sign in or join a private or presence channel in time.
    #[serde(default)]
    pub enable_user_authentication: bool,
    /// Seconds a connection has to become authorized, when required.
    #[serde(default = "auth_timeout")]
    pub user_authentication_timeout: u64,
    /// Whether every raw (`/v3/…`) connection needs a JWT.
    #[serde(default)]
    pub raw_require_jwt: bool,
    /// Events per second published over REST, all shards together (none: unlimited).
    #[serde(default)]
    pub max_backend_events_per_second: Option<u32>,
    /// REST channel queries per second, all shards together (none: unlimited).
    #[serde(default)]
    pub max_read_requests_per_second: Option<u32>,
    /// Channels one connection may hold at once (none: `CORECAST_MAX_CHANNELS_PER_CONNECTION`).
    #[serde(default)]
    pub max_channels_per_connection: Option<u32>,
    /// Messages a raw (`/v3`) connection may send per second, 0 = unlimited (none:
    /// `CORECAST_RAW_MAX_MESSAGES_PER_SECOND`).
    #[serde(default)]
    pub raw_max_messages_per_second: Option<u32>,
    /// Webhooks (webhooks.md §3).
    #[serde(default)]
    pub webhooks: Vec<crate::webhooks::WebhookSpec>,
    /// Webhook batch window in ms (none: `CORECAST_WEBHOOK_BATCH_MS`).
    #[serde(default)]
    pub webhook_batch_ms: Option<u64>,
    /// Grace before `channel_vacated` / `member_removed` in ms (none:
    /// `CORECAST_WEBHOOK_VACATE_GRACE_MS`).
    #[serde(default)]
    pub vacate_grace_ms: Option<u64>,
    /// Whether subscribers of non-presence channels get `pusher_internal:subscription_count`.
    #[serde(default)]
    pub enable_subscription_count: bool,
}

fn yes() -> bool {
    true
}
fn ten() -> u32 {
    10
}
fn hundred() -> u32 {
    100
}
fn cache_ttl() -> u64 {
    1800
}

/// The apps file: either a JSON array of apps or `{"apps": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AppsFile {
    List(Vec<AppSpec>),
    Wrapped { apps: Vec<AppSpec> },
}

/// An app as the server uses it.
#[derive(Debug, Clone)]
pub struct App {
    /// Index in the apps table (stable for the process lifetime).
    pub index: u32,
    /// App id.
    pub id: String,
    /// Public key.
    pub key: String,
    /// Secret.
    pub secret: String,
    /// Whether the app is enabled.
    pub enabled: bool,
    /// Connection quota across shards.
    pub max_connections: Option<u64>,
    /// Largest event `data` in bytes.
    pub max_payload_bytes: usize,
    /// Whether client events are relayed.
    pub enable_client_messages: bool,
    /// Client events per connection per second.
    pub max_client_events_per_second: u32,
    /// Distinct users per presence channel.
    pub max_presence_members: u32,
    /// Cache channel time to live.
    pub cache_ttl: Duration,
    /// Whether watchlist events are sent.
    pub enable_watchlist_events: bool,
    /// Protocol dialect.
    pub event_prefix: Flavour,
    /// Origins accepted on WebSocket upgrades (empty: any).
    pub allowed_origins: AllowedOrigins,
    /// Time a Pusher connection has to sign in or join a private or presence channel before
    /// it is closed with 4009; `None`: not required.
    pub user_authentication_timeout: Option<Duration>,
    /// Whether every raw connection needs a JWT, not only `private-` channels.
    pub raw_require_jwt: bool,
    /// REST events per second, all shards together (`/events` counts each channel,
    /// `/batch_events` each event, `/api/publish` one); `None`: unlimited.
    pub max_backend_events_per_second: Option<u32>,
    /// REST channel queries per second, all shards together; `None`: unlimited.
    pub max_read_requests_per_second: Option<u32>,
    /// Channels one connection may hold at once.
    pub max_channels_per_connection: u32,
    /// Messages per second a raw connection may send (0: unlimited).
    pub raw_max_messages_per_second: u32,
    /// Webhooks, checked.
    pub webhooks: Vec<crate::webhooks::Webhook>,
    /// Event kinds any of the app's webhooks wants (one branch to skip the rest).
    pub webhook_events: crate::webhooks::EventSet,
    /// Webhook batch window.
    pub webhook_batch: Duration,
    /// Grace before `channel_vacated` / `member_removed`.
    pub vacate_grace: Duration,
    /// Whether subscription counts are sent to subscribers of non-presence channels.
    pub enable_subscription_count: bool,
}

/// Everything that is wrong with the configuration, in words for the operator.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The apps file could not be read.
    #[error("CORECAST_APPS_FILE: cannot read {path}: {source}")]
    AppsFileRead {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The apps file is not valid.
    #[error("CORECAST_APPS_FILE: {path} is not a valid apps file (expected a JSON array of {{\"id\",\"key\",\"secret\",…}} objects or {{\"apps\":[…]}}): {source}")]
    AppsFileParse {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// A semantic problem with the apps.
    #[error("apps: {0}")]
    Apps(String),
    /// A setting's value is not valid, or settings contradict each other (the message names
    /// the variables).
    #[error("{0}")]
    Setting(String),
    /// A process limit is too low for the settings.
    #[error("{0}")]
    Limit(String),
}

/// Validated configuration shared (read-only) by every shard.
#[derive(Debug, Clone)]
pub struct Config {
    /// Raw settings.
    pub settings: Settings,
    /// Apps, indexed by [`App::index`].
    pub apps: Vec<App>,
}

impl Config {
    /// Validates settings and loads the apps.
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        if settings.plain_port != 0 && settings.plain_port == settings.port {
            return Err(ConfigError::Setting(format!(
                "CORECAST_PLAIN_PORT={} is CORECAST_PORT: the plain port must be another port (or 0 for none)",
                settings.plain_port
            )));
        }
        let cluster = &settings.cluster;
        if cluster.node_ttl_ms <= cluster.node_heartbeat_ms {
            return Err(ConfigError::Setting(format!(
                "CORECAST_NODE_TTL_MS={} must be greater than CORECAST_NODE_HEARTBEAT_MS={}",
                cluster.node_ttl_ms, cluster.node_heartbeat_ms
            )));
        }
        let specs = match &settings.apps_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::AppsFileRead {
                        path: path.clone(),
                        source,
                    })?;
                match serde_json::from_str::<AppsFile>(&text).map_err(|source| {
                    ConfigError::AppsFileParse {
                        path: path.clone(),
                        source,
                    }
                })? {
                    AppsFile::List(apps) | AppsFile::Wrapped { apps } => apps,
                }
            }
            None => vec![AppSpec {
                id: settings.app_id.clone(),
                key: settings.app_key.clone(),
                secret: settings.app_secret.clone(),
                enabled: true,
                max_connections: None,
                max_payload_kb: None,
                enable_client_messages: settings.enable_client_messages,
                max_client_events_per_second: settings.max_client_events_per_second,
                max_presence_members: settings.max_presence_members,
                cache_ttl_secs: settings.cache_ttl,
                enable_watchlist_events: settings.enable_watchlist_events,
                event_prefix: settings.event_prefix,
                allowed_origins: settings
                    .allowed_origins
                    .iter()
                    .filter(|o| !o.is_empty())
                    .cloned()
                    .collect(),
                enable_user_authentication: settings.enable_user_authentication,
                user_authentication_timeout: settings.user_authentication_timeout,
                raw_require_jwt: settings.raw_require_jwt,
                max_backend_events_per_second: settings.max_backend_events_per_second,
                max_read_requests_per_second: settings.max_read_requests_per_second,
                max_channels_per_connection: None,
                raw_max_messages_per_second: None,
                webhooks: default_app_webhooks(&settings)?,
                webhook_batch_ms: None,
                vacate_grace_ms: None,
                enable_subscription_count: settings.enable_subscription_count,
            }],
        };
        let mut specs = specs;
        webhooks::fill_defaults(&mut specs, &settings);
        let apps = build_apps(specs, &settings)?;
        Ok(Config { settings, apps })
    }

    /// The app with this public key.
    pub fn app_by_key(&self, key: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.key == key)
    }

    /// The app with this id.
    pub fn app_by_id(&self, id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.id == id)
    }

    /// Largest inbound Pusher WebSocket message in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.settings.max_message_kb as usize * 1024
    }

    /// Time a request head may take (`CORECAST_HEAD_TIMEOUT_MS`).
    pub fn head_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.head_timeout_ms.into())
    }

    /// Time a REST request body may take (`CORECAST_BODY_TIMEOUT_MS`).
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.body_timeout_ms.into())
    }

    /// Time an idle keep-alive REST connection waits (`CORECAST_KEEPALIVE_TIMEOUT_MS`).
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.keepalive_timeout_ms.into())
    }
}

fn build_apps(specs: Vec<AppSpec>, settings: &Settings) -> Result<Vec<App>, ConfigError> {
    if specs.is_empty() {
        return Err(ConfigError::Apps("at least one app is required".into()));
    }
    let mut apps: Vec<App> = Vec::with_capacity(specs.len());
    for (i, s) in specs.into_iter().enumerate() {
        for (field, value) in [("id", &s.id), ("key", &s.key), ("secret", &s.secret)] {
            if value.is_empty() || value.contains(['/', '?', '#', ' ']) {
                return Err(ConfigError::Apps(format!(
                    "app #{i}: {field} {value:?} must be non-empty without '/', '?', '#' or spaces"
                )));
            }
        }
        if apps.iter().any(|a| a.id == s.id || a.key == s.key) {
            return Err(ConfigError::Apps(format!(
                "app #{i}: id {:?} or key {:?} is used by another app",
                s.id, s.key
            )));
        }
        let payload_kb = s.max_payload_kb.unwrap_or(settings.max_payload_kb);
        let max_channels = s
            .max_channels_per_connection
            .unwrap_or(settings.max_channels_per_connection);
        if payload_kb == 0 || s.max_client_events_per_second == 0 || max_channels == 0 {
            return Err(ConfigError::Apps(format!(
                "app {}: max_payload_kb, max_client_events_per_second and \
                 max_channels_per_connection must be > 0",
                s.id
            )));
        }
        let allowed_origins = check_policy(&s)?;
        let hooks = check_webhooks(&s)?;
        apps.push(App {
            index: i as u32,
            id: s.id,
            key: s.key,
            secret: s.secret,
            enabled: s.enabled,
            max_connections: s.max_connections,
            max_payload_bytes: payload_kb as usize * 1024,
            enable_client_messages: s.enable_client_messages,
            max_client_events_per_second: s.max_client_events_per_second,
            max_presence_members: s.max_presence_members,
            cache_ttl: Duration::from_secs(s.cache_ttl_secs),
            enable_watchlist_events: s.enable_watchlist_events,
            event_prefix: s.event_prefix,
            allowed_origins,
            user_authentication_timeout: s
                .enable_user_authentication
                .then(|| Duration::from_secs(s.user_authentication_timeout)),
            raw_require_jwt: s.raw_require_jwt,
            max_backend_events_per_second: s.max_backend_events_per_second,
            max_read_requests_per_second: s.max_read_requests_per_second,
            max_channels_per_connection: max_channels,
            raw_max_messages_per_second: s
                .raw_max_messages_per_second
                .unwrap_or(settings.raw_max_messages_per_second),
            webhook_events: hooks.events,
            webhooks: hooks.webhooks,
            webhook_batch: hooks.batch,
            vacate_grace: hooks.grace,
            enable_subscription_count: s.enable_subscription_count,
        });
    }
    Ok(apps)
}

#[cfg(test)]
mod tests;
