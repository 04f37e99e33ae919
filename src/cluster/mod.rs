//! Cluster mode: several nodes over one Redis acting as one server (phase 1: cross-node
//! publish). On only when `CORECAST_REDIS_URL` is set; otherwise nothing here starts and a
//! shard pays one predictable branch per publish.
//!
//! This module owns the **link**: one plain thread per node that alone holds the Redis
//! connections ([`link`], one session of them in `session`); the records shards hand it and the envelopes on the bus channel
//! `P:b` ([`envelope`]); cross-node REST counts and node liveness ([`ask`]: `q`/`ans`
//! records and the gathering of answers; the link's side in `asking`, a shard's in `remote`);
//! the way records and received batches cross between the shards and the
//! link ([`shard_link`]); the outage buffer ([`buffer`]); and the link's counters ([`stats`]).
//! Shards never block on Redis and never hold a Redis socket.
//!
//! What travels (an `e` record per publish): REST `events` and `batch_events` (with the
//! `socket_id` exclusion as `x`), client events, `#server-to-user-…` sends, raw `/v3` channel
//! messages and `POST /api/publish` (text as `p`, binary raw frames as `b`, base64), cache
//! channel events (`ca`:1, kept as the last event on every node that receives them). REST
//! `GET /channels` and `GET /channels/{name}` subscription counts are summed over every live
//! node (`q` on `P:b`, `ans` on the asker's `P:n:<nk>`). Presence member events and user
//! counts, occupancy, terminate and watchlist stay per node in this phase.
//!
//! Delivery guarantee: every publish reaches the local subscribers of its node at once and the
//! subscribers on every other node that reaches Redis **exactly once, in publish order per
//! publishing node** (records of one node travel in order over one connection; no order
//! between nodes). While this node cannot reach Redis, its clients stay connected and local
//! delivery goes on; its records wait up to `CORECAST_REDIS_BUFFER_KB` /
//! `CORECAST_REDIS_BUFFER_MS` and are sent on reconnect, older ones are dropped and counted
//! (`corecast_cluster_dropped_records_total`). An envelope whose `PUBLISH` may or may not have
//! reached Redis is sent again with the same sequence number and receivers drop the repeat.
//! Records published while a *receiving* node's subscription is down are not replayed to it
//! (Redis pub/sub keeps nothing): at-most-once towards a node that is disconnected.

pub mod ask;
mod asking;
pub mod buffer;
pub mod deliver;
pub mod envelope;
pub mod link;
mod remote;
mod session;
pub mod shard_link;
pub mod stats;

use std::sync::{mpsc, Arc};
use std::time::Duration;

use thiserror::Error;

use crate::config::Config;

pub use asking::AskSetup;
pub use envelope::{EventRecord, Record};
pub use shard_link::{LinkInbox, NodeQuestion, ShardEnds, ShardLink};
pub use stats::LinkStats;

/// Why cluster mode could not start.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The URL was refused by the Redis client.
    #[error("CORECAST_REDIS_URL={url}: {error}")]
    Url {
        /// The URL, password hidden.
        url: String,
        /// Why.
        error: String,
    },
    /// Redis did not answer in time at start.
    #[error("cannot reach Redis at {url} (CORECAST_REDIS_URL) within {waited:?}: {error}")]
    Unreachable {
        /// The URL, password hidden.
        url: String,
        /// How long start-up tried.
        waited: Duration,
        /// The last error.
        error: String,
    },
    /// `CORECAST_LINK_CORE` names a core this process may not use.
    #[error("CORECAST_LINK_CORE={core}: not a usable core (usable: {usable:?})")]
    LinkCore {
        /// The core asked for.
        core: usize,
        /// The cores this process may use.
        usable: Vec<usize>,
    },
    /// The link thread or its doorbells could not be created.
    #[error("cannot start the cluster link: {0}")]
    Thread(String),
}

/// A started link, before the shards take their ends.
pub struct Cluster {
    /// Each shard's ends, by shard number.
    pub ends: Vec<ShardEnds>,
    /// The banner's description: `redis <url> (node <key>)`, password hidden.
    pub description: String,
    /// Takes this node out of the live-node set when it stops.
    pub leave: Leave,
}

/// Takes the node out of `P:nodes`, so that the other nodes stop expecting its answers.
pub struct Leave {
    bell: Arc<tokio::sync::Notify>,
    left: mpsc::Receiver<()>,
}

impl Leave {
    /// Asks the link to remove this node's entry; waits for it at most `within`.
    pub fn leave(&self, within: Duration) {
        self.bell.notify_one();
        let _ = self.left.recv_timeout(within);
    }
}

/// Starts the link when `CORECAST_REDIS_URL` is set (`None` otherwise), once Redis answered.
/// `usable_cores` are the cores this process may run on.
pub fn start(
    config: &Config,
    shards: usize,
    usable_cores: &[usize],
) -> Result<Option<Cluster>, ClusterError> {
    let settings = &config.settings.cluster;
    let Some(url) = &settings.redis_url else {
        return Ok(None);
    };
    let core = settings.link_core.map(usize::from);
    if let Some(core) = core.filter(|c| !usable_cores.contains(c)) {
        return Err(ClusterError::LinkCore {
            core,
            usable: usable_cores.to_vec(),
        });
    }
    let node = format!("{:016x}.1", fastrand::u64(..));
    let stats = Arc::new(LinkStats::default());
    let (ends, ports) =
        shard_link::build(shards, &stats).map_err(|e| ClusterError::Thread(e.to_string()))?;
    let bell = Arc::new(tokio::sync::Notify::new());
    let (left_tx, left) = mpsc::sync_channel(1);
    let setup = link::LinkSetup {
        url: url.clone(),
        bus_channel: format!("{}:b", settings.redis_prefix),
        node: node.clone(),
        app_ids: config.apps.iter().map(|a| a.id.clone()).collect(),
        buffer_bytes: settings.redis_buffer_kb as usize * 1024,
        buffer_age: Duration::from_millis(settings.redis_buffer_ms.into()),
        core,
        ask: AskSetup {
            nodes_key: format!("{}:nodes", settings.redis_prefix),
            inbox_prefix: format!("{}:n:", settings.redis_prefix),
            heartbeat: Duration::from_millis(settings.node_heartbeat_ms.into()),
            ttl: Duration::from_millis(settings.node_ttl_ms.into()),
            timeout: Duration::from_millis(settings.cluster_query_timeout_ms.into()),
        },
        leave: Arc::clone(&bell),
        left: left_tx,
    };
    link::spawn(setup, ports)?;
    Ok(Some(Cluster {
        ends,
        description: format!("redis {url} (node {node})"),
        leave: Leave { bell, left },
    }))
}
