//! The link's side of cross-node counts and of node liveness.
//!
//! Liveness: the node keeps itself in the sorted set `P:nodes` with the score "Redis clock
//! now + `CORECAST_NODE_TTL_MS`", written at the start of every session and every
//! `CORECAST_NODE_HEARTBEAT_MS` (the Redis clock, so nodes' clocks need not agree). A node
//! whose score is in the past counts as gone; a node that stops removes its entry. (Removing a gone node's entries is left to the
//! reaper of a later phase.)
//!
//! Questions: when a turn carries `q` records, the link first reads the live node keys
//! (score ≥ now, this node excluded), starts a [`Gather`] entry per question with the deadline
//! `CORECAST_CLUSTER_QUERY_TIMEOUT_MS`, and only then publishes the envelope. Answers arriving
//! on `P:n:<nk>` complete them; the deadline finishes the rest naming the missing keys.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::Script;

use super::ask::{Finished, Gather, Gathered, IncomingAnswer, Missing};
use super::session::{within, Lost, REPLY_TIMEOUT};

/// Registers `ARGV[1]` in `KEYS[1]` until Redis time + `ARGV[2]` ms.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
";

/// The members of `KEYS[1]` whose score is at least Redis time now.
const LIVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
";

/// Settings of liveness and questions.
#[derive(Debug, Clone)]
pub struct AskSetup {
    /// `P:nodes`.
    pub nodes_key: String,
    /// `P:n:`, the prefix of every node's inbox channel.
    pub inbox_prefix: String,
    /// How often the node refreshes its `P:nodes` entry.
    pub heartbeat: Duration,
    /// How long an entry stays live without a refresh.
    pub ttl: Duration,
    /// How long a question waits for the other nodes.
    pub timeout: Duration,
}

/// The link's questions in flight and its liveness scripts.
pub(super) struct Asking {
    node: String,
    setup: AskSetup,
    next_id: u64,
    gather: Gather,
    heartbeat: Script,
    live: Script,
    /// Set once the node left: no more heartbeats.
    left: bool,
}

impl Asking {
    pub(super) fn new(node: &str, setup: AskSetup) -> Self {
        Asking {
            node: node.to_string(),
            setup,
            next_id: 0,
            gather: Gather::default(),
            heartbeat: Script::new(HEARTBEAT),
            live: Script::new(LIVE),
            left: false,
        }
    }

    /// How often to refresh this node's entry.
    pub(super) fn heartbeat_every(&self) -> Duration {
        self.setup.heartbeat
    }

    /// This node's inbox channel `P:n:<nk>`.
    pub(super) fn own_inbox(&self) -> String {
        self.inbox_of(&self.node)
    }

    /// Node `node`'s inbox channel.
    pub(super) fn inbox_of(&self, node: &str) -> String {
        format!("{}{node}", self.setup.inbox_prefix)
    }

    /// A fresh question id `"<nk>/<n>"`.
    pub(super) fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}/{}", self.node, self.next_id)
    }

    /// Writes this node's `P:nodes` entry.
    pub(super) async fn beat(&self, cmd: &mut MultiplexedConnection) -> Result<(), Lost> {
        if self.left {
            return Ok(());
        }
        let ttl = self.setup.ttl.as_millis() as u64;
        let mut call = self.heartbeat.key(&self.setup.nodes_key);
        call.arg(&self.node).arg(ttl);
        within(REPLY_TIMEOUT, "heartbeat", call.invoke_async::<i64>(cmd)).await??;
        Ok(())
    }

    /// Removes this node's entry (the node stops: nobody should wait for its answers).
    pub(super) async fn leave(&mut self, cmd: &mut MultiplexedConnection) -> Result<(), Lost> {
        self.left = true;
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(&self.setup.nodes_key).arg(&self.node);
        within(REPLY_TIMEOUT, "ZREM", zrem.query_async::<i64>(cmd)).await??;
        Ok(())
    }

    /// The other live node keys.
    pub(super) async fn live_nodes(
        &self,
        cmd: &mut MultiplexedConnection,
    ) -> Result<BTreeSet<String>, Lost> {
        let call = self.live.key(&self.setup.nodes_key);
        let keys = within(
            REPLY_TIMEOUT,
            "live nodes",
            call.invoke_async::<Vec<String>>(cmd),
        )
        .await??;
        Ok(keys.into_iter().filter(|k| *k != self.node).collect())
    }

    /// Starts question `id` of `shard` expecting every node of `live`.
    pub(super) fn start(
        &mut self,
        id: String,
        shard: usize,
        token: u64,
        live: &BTreeSet<String>,
    ) -> Option<Finished> {
        let deadline = Instant::now() + self.setup.timeout;
        self.gather.start(id, shard, token, live.clone(), deadline)
    }

    /// Node `from`'s answer.
    pub(super) fn answered(&mut self, from: &str, answer: IncomingAnswer<'_>) -> Option<Finished> {
        self.gather.answer(&answer.id, from, answer.counts)
    }

    /// The earliest deadline in flight.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.gather.next_deadline()
    }

    /// Questions past their deadline, finished without the late nodes.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<Finished> {
        self.gather.expire(now)
    }

    /// Every question in flight, finished as unavailable (the session was lost).
    pub(super) fn abandon(&mut self) -> Vec<Finished> {
        self.gather.abandon()
    }
}

/// The answer to a question asked while Redis cannot be reached.
pub(super) fn unavailable(shard: usize, token: u64) -> Finished {
    let gathered = Gathered {
        token,
        counts: Default::default(),
        missing: Missing::Unavailable,
    };
    (shard, gathered)
}
