//! The link thread: one plain thread running a tokio current-thread runtime that owns this
//! node's two Redis connections (commands, and the subscription to `P:b` and to the node's
//! inbox `P:n:<nk>`). Each turn it takes
//! every record the shards handed over since the previous turn, packs them into one envelope
//! (split above 512 KiB) and `PUBLISH`es it; no timer. One `PUBLISH` is in flight at a time:
//! records arriving meanwhile go into the next envelope. Received envelopes are decoded once,
//! framed once per record and handed to every shard.
//!
//! Cross-node counts: the link keeps the node's `P:nodes` entry fresh (at each session start
//! and every `CORECAST_NODE_HEARTBEAT_MS`), numbers and publishes the shards' `q` records in
//! order with their other records, gathers the `ans` records arriving on its inbox and hands
//! the result (complete, or at `CORECAST_CLUSTER_QUERY_TIMEOUT_MS` without the late nodes) to
//! the asking shard; other nodes' `q` records go to one shard each, in turn, and its answer
//! is published to the asker's inbox.
//!
//! Faults: a command error, a closed connection, or no `PONG` within 1 s to the `PING` sent
//! every second on both connections ends the session; the link reconnects with back-off
//! (100 ms doubling to 2 s, ±20 % jitter), subscribing before it publishes again. Records
//! produced meanwhile wait in the [`OutageBuffer`]. An envelope whose `PUBLISH` failed is sent
//! again with the same `s`, and receivers drop an `s` they already delivered, so a record is
//! neither lost nor doubled by a retry.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::Client;
use tracing::{info, warn};

use super::ask::Finished;
use super::asking::{unavailable, AskSetup, Asking};
use super::buffer::{OutageBuffer, Pending};
use super::deliver::to_broadcast;
use super::envelope::{self, DecodeError, Envelope, Incoming, Packer};
use super::session::{first_session, open, within, Backoff, Lost, Session};
use super::shard_link::LinkPorts;
use super::stats::add;
use super::ClusterError;
use crate::config::RedisUrl;

#[path = "link_turn.rs"]
mod turn;

/// How long start-up keeps trying to reach Redis before it refuses to start.
pub const STARTUP_WAIT: Duration = Duration::from_secs(10);

/// Period of the `PING` on both connections, and how long a `PONG` may take.
const PING_EVERY: Duration = Duration::from_secs(1);

/// What the link needs to know.
pub struct LinkSetup {
    /// Where Redis is.
    pub url: RedisUrl,
    /// Name of the bus channel (`P:b`).
    pub bus_channel: String,
    /// This node's key.
    pub node: String,
    /// App ids by app index.
    pub app_ids: Vec<String>,
    /// Outage buffer bound in bytes.
    pub buffer_bytes: usize,
    /// Outage buffer bound in age.
    pub buffer_age: Duration,
    /// Core to pin the thread to.
    pub core: Option<usize>,
    /// Liveness and cross-node questions.
    pub ask: AskSetup,
    /// Rung when the node stops: remove its `P:nodes` entry, then say so on `left`.
    pub leave: Arc<tokio::sync::Notify>,
    /// Told once the entry is removed (or cannot be, Redis being unreachable).
    pub left: mpsc::SyncSender<()>,
}

/// Starts the link thread; returns once it reached Redis, or the reason it could not within
/// [`STARTUP_WAIT`].
pub fn spawn(setup: LinkSetup, ports: LinkPorts) -> Result<(), ClusterError> {
    let client = Client::open(setup.url.secret_text()).map_err(|e| ClusterError::Url {
        url: setup.url.to_string(),
        error: e.to_string(),
    })?;
    let shown = setup.url.to_string();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("corecast-link".into())
        .spawn(move || {
            if let Some(core) = setup.core {
                core_affinity::set_for_current(core_affinity::CoreId { id: core });
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("cannot start the link runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let inbox = format!("{}{}", setup.ask.inbox_prefix, setup.node);
                let channels = [setup.bus_channel.as_str(), inbox.as_str()];
                let session = match first_session(&client, &channels).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                ports.stats.connected.store(true, Ordering::Relaxed);
                let _ = ready_tx.send(Ok(()));
                // Should the link ever stop (a panic), `/ready` must not keep saying 200.
                let _down_on_exit = DownOnExit(Arc::clone(&ports.stats));
                Link::new(client, setup, ports).run(session).await;
            });
        })
        .map_err(|e| ClusterError::Thread(e.to_string()))?;
    match ready_rx.recv_timeout(STARTUP_WAIT + Duration::from_secs(5)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(ClusterError::Unreachable {
            url: shown,
            waited: STARTUP_WAIT,
            error,
        }),
        Err(_) => Err(ClusterError::Unreachable {
            url: shown,
            waited: STARTUP_WAIT,
            error: "no answer".into(),
        }),
    }
}

/// Marks the link as not connected when dropped.
struct DownOnExit(Arc<super::stats::LinkStats>);

impl Drop for DownOnExit {
    fn drop(&mut self) {
        self.0.connected.store(false, Ordering::Relaxed);
    }
}

/// The link's state across sessions.
struct Link {
    client: Client,
    setup: LinkSetup,
    ports: LinkPorts,
    apps: HashMap<String, u32>,
    packer: Packer,
    buffer: OutageBuffer,
    /// Envelopes whose `PUBLISH` failed, to send first (same `s`), with their oldest record's
    /// arrival.
    retry: VecDeque<(Envelope, Instant)>,
    /// Highest `s` delivered per sending node key.
    seen: HashMap<String, u64>,
    /// Cross-node questions in flight and liveness.
    asking: Asking,
    /// The shard the next question from another node goes to.
    next_shard: usize,
}

impl Link {
    fn new(client: Client, setup: LinkSetup, ports: LinkPorts) -> Self {
        let apps = (setup.app_ids.iter().cloned())
            .zip(0u32..)
            .collect::<HashMap<_, _>>();
        let asking = Asking::new(&setup.node, setup.ask.clone());
        Link {
            client,
            asking,
            next_shard: 0,
            packer: Packer::new(&setup.node, envelope::MAX_ENVELOPE_BYTES),
            buffer: OutageBuffer::new(setup.buffer_bytes, setup.buffer_age),
            apps,
            setup,
            ports,
            retry: VecDeque::new(),
            seen: HashMap::new(),
        }
    }

    /// Serves sessions forever, reconnecting after each loss.
    async fn run(mut self, first: Session) {
        let mut session = Some(first);
        let mut backoff = Backoff::default();
        loop {
            if let Some(s) = session.take() {
                let lost = self.serve(s).await;
                self.ports.stats.connected.store(false, Ordering::Relaxed);
                let abandoned = self.asking.abandon();
                self.hand_all(abandoned);
                warn!("cluster: lost Redis ({lost}); reconnecting");
                backoff = Backoff::default();
            }
            let delay = backoff.next_delay(fastrand::f64());
            self.buffer_for(delay).await;
            let inbox = self.asking.own_inbox();
            let channels = [self.setup.bus_channel.as_str(), inbox.as_str()];
            match open(&self.client, &channels).await {
                Ok(s) => {
                    add(&self.ports.stats.reconnects, 1);
                    info!("cluster: Redis reached again; resuming");
                    session = Some(s);
                }
                Err(e) => tracing::debug!("cluster: reconnect failed: {e}"),
            }
        }
    }

    /// Keeps taking records into the outage buffer for `delay`.
    async fn buffer_for(&mut self, delay: Duration) {
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                _ = self.setup.leave.notified() => {
                    let _ = self.setup.left.try_send(());
                }
                _ = self.ports.bell.notified() => {
                    let taken = self.take_records(false);
                    let dropped: u64 = taken
                        .records
                        .into_iter()
                        .map(|r| self.buffer.push(r))
                        .sum();
                    add(&self.ports.stats.dropped_records, dropped);
                    let answered = taken.asks.into_iter().map(|(_, shard, token)| unavailable(shard, token));
                    let answered: Vec<Finished> = answered.collect();
                    self.hand_all(answered);
                }
            }
        }
        let dropped = self.expire(Instant::now());
        add(&self.ports.stats.dropped_records, dropped);
    }

    /// One session: flush what waited, then publish, receive and ping until something fails.
    async fn serve(&mut self, mut s: Session) -> Lost {
        let flushed = async {
            self.asking.beat(&mut s.cmd).await?;
            let dropped = self.expire(Instant::now());
            add(&self.ports.stats.dropped_records, dropped);
            let waiting = self.buffer.take();
            self.publish(&mut s.cmd, waiting).await
        };
        if let Err(lost) = flushed.await {
            return lost;
        }
        self.ports.stats.connected.store(true, Ordering::Relaxed);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = self.asking.heartbeat_every();
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.asking.next_deadline();
            tokio::select! {
                _ = self.ports.bell.notified() => {
                    let taken = self.take_records(true);
                    if let Err(lost) = self.turn(&mut s.cmd, taken).await {
                        return lost;
                    }
                }
                _ = self.setup.leave.notified() => {
                    let removed = self.asking.leave(&mut s.cmd).await;
                    let _ = self.setup.left.try_send(());
                    if let Err(lost) = removed {
                        return lost;
                    }
                }
                _ = beat.tick() => {
                    if let Err(lost) = self.asking.beat(&mut s.cmd).await {
                        return lost;
                    }
                }
                _ = turn::until(deadline) => {
                    let late = self.asking.expire(Instant::now());
                    add(&self.ports.stats.query_timeouts, late.len() as u64);
                    self.hand_all(late);
                }
                msg = s.stream.next() => match msg {
                    Some(msg) => self.receive(msg.get_payload_bytes()),
                    None => return Lost::Closed,
                },
                _ = ping.tick() => {
                    let ping_cmd = redis::cmd("PING");
                    let pings = async {
                        let a = ping_cmd.query_async::<redis::Value>(&mut s.cmd);
                        let b = s.sink.ping::<redis::Value>();
                        let (a, b) = futures_lite::future::zip(a, b).await;
                        a.and(b)
                    };
                    match within(PING_EVERY, "PING", pings).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Lost::Redis(e),
                        Err(lost) => return lost,
                    }
                }
            }
        }
    }

    /// Drops what waited longer than the buffer's age bound; returns how many records.
    fn expire(&mut self, now: Instant) -> u64 {
        let age = self.setup.buffer_age;
        let mut dropped = self.buffer.expire(now);
        while let Some((env, at)) = self.retry.front() {
            if now.saturating_duration_since(*at) <= age {
                break;
            }
            dropped += env.records as u64;
            self.retry.pop_front();
        }
        dropped
    }

    /// Sends failed envelopes again, then `records` as one envelope (more above 512 KiB). On a
    /// failure, what was not sent is kept for the next session.
    async fn publish(
        &mut self,
        cmd: &mut MultiplexedConnection,
        records: VecDeque<Pending>,
    ) -> Result<(), Lost> {
        let oldest = records.front().map(|r| r.at);
        for env in self.packer.pack(records.iter().map(|r| r.json.as_slice())) {
            self.retry
                .push_back((env, oldest.unwrap_or_else(Instant::now)));
        }
        while let Some((env, _)) = self.retry.front() {
            let sent = redis::cmd("PUBLISH")
                .arg(&self.setup.bus_channel)
                .arg(&env.bytes)
                .query_async::<i64>(cmd)
                .await;
            sent?;
            add(&self.ports.stats.envelopes_sent, 1);
            add(&self.ports.stats.records_sent, env.records as u64);
            self.retry.pop_front();
        }
        Ok(())
    }

    /// Delivers one received envelope to every shard (unless it is this node's own).
    fn receive(&mut self, payload: &[u8]) {
        let stats = Arc::clone(&self.ports.stats);
        let env = match envelope::decode(payload) {
            Ok(env) => env,
            Err(DecodeError::Version(_)) => return add(&stats.dropped_version, 1),
            Err(DecodeError::Json(_)) => return add(&stats.dropped_invalid, 1),
        };
        if env.node == self.setup.node {
            return;
        }
        if let (Some(seq), false) = (env.seq, env.node.is_empty()) {
            match self.seen.get_mut(&*env.node) {
                Some(last) if seq <= *last => return add(&stats.dropped_duplicate, 1),
                Some(last) => *last = seq,
                None => {
                    self.seen.insert(env.node.to_string(), seq);
                }
            }
        }
        add(&stats.envelopes_received, 1);
        let mut invalid = env.invalid as u64;
        let mut batch = Vec::with_capacity(env.records.len());
        let mut received = 0;
        for r in env.records {
            match r {
                Incoming::Event(e) => match self.apps.get(&*e.app) {
                    Some(&app) => batch.push(to_broadcast(&e, app)),
                    None => invalid += 1,
                },
                Incoming::Question(q) => match self.apps.get(&*q.app) {
                    Some(&app) if q.asker().is_some() => {
                        // Broadcasts before the question reach the shards first.
                        self.deliver(&mut batch);
                        received += 1;
                        self.route_question(q, app);
                    }
                    _ => invalid += 1,
                },
                Incoming::Answer(a) => {
                    received += 1;
                    if let Some(done) = self.asking.answered(&env.node, a) {
                        self.hand_all(vec![done]);
                    }
                }
                Incoming::Unknown => {}
            }
        }
        add(&stats.invalid_records, invalid);
        add(&stats.records_received, received + batch.len() as u64);
        self.deliver(&mut batch);
    }

    /// Hands the broadcasts collected so far to every shard.
    fn deliver(&mut self, batch: &mut Vec<crate::bus::Broadcast>) {
        if batch.is_empty() {
            return;
        }
        let shared: Arc<[_]> = std::mem::take(batch).into();
        for port in &mut self.ports.shards {
            port.deliver(Arc::clone(&shared));
        }
    }
}
