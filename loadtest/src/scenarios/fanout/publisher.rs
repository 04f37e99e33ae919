//! Fanout publishers: REST (open loop with a token feeder, or closed loop) and client events.

use super::receiver::{channel_name, CLIENT_EVENT, REST_EVENT};
use crate::net::{self, ConnError, Connector, Incoming, Ws};
use crate::payload::{self, now_us, Stamp};
use crate::pipeline::PipelineClient;
use crate::pusher;
use crate::rest::{self, Outcome, RestClient};
use crate::scenarios::{stopped, ReadyTx, Tally};
use crate::stats::LatencySink;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::time::{sleep, sleep_until, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

pub struct PubShared {
    pub connector: Arc<Connector>,
    pub app_id: String,
    pub channels: u32,
    pub payload: usize,
    /// Publishing stops here (set when the measured phase starts).
    pub deadline: std::sync::OnceLock<Instant>,
    /// Stop after this many publish attempts in total.
    pub max_publishes: Option<u64>,
    pub attempts: AtomicU64,
    pub accepted: AtomicU64,
    /// Publishers still publishing.
    pub active: AtomicU64,
    /// REST: requests written together per connection.
    pub pipeline: usize,
    /// Open loop (REST): tokens released by the feeder.
    pub tokens: Option<Arc<Semaphore>>,
    /// REST request round-trip times.
    pub rtt: Arc<LatencySink>,
    /// Client mode: server closes of publisher connections.
    pub closed: Tally,
}

impl PubShared {
    fn deadline(&self) -> Instant {
        self.deadline.get().copied().unwrap_or_else(Instant::now)
    }

    fn take_attempt(&self) -> bool {
        let n = self.attempts.fetch_add(1, Ordering::Relaxed);
        self.max_publishes.is_none_or(|max| n < max)
    }
}

/// What one publisher did; vectors are indexed by channel.
pub struct PubResult {
    pub id: u32,
    /// Sequence numbers handed out per channel (0..assigned).
    pub assigned: Vec<u64>,
    /// Of those, how many were refused or failed.
    pub failed: Vec<u64>,
    pub failures: BTreeMap<String, u64>,
}

impl PubResult {
    fn new(id: u32, channels: u32) -> Self {
        Self {
            id,
            assigned: vec![0; channels as usize],
            failed: vec![0; channels as usize],
            failures: BTreeMap::new(),
        }
    }

    fn next_stamp(&mut self, channel: usize) -> Stamp {
        let seq = self.assigned[channel];
        self.assigned[channel] += 1;
        Stamp {
            publisher: self.id,
            seq,
            sent_us: now_us(),
        }
    }
}

/// Releases publish tokens at `rate`/s until the deadline; at most `cap` may wait unused, the
/// rest are counted as dropped (the server or client could not keep up with the schedule).
pub async fn feed_tokens(sem: Arc<Semaphore>, rate: f64, cap: usize, deadline: Instant) -> u64 {
    let start = Instant::now();
    let mut issued = 0u64;
    let mut dropped = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let due = ((now - start).as_secs_f64() * rate) as u64;
        let n = due.saturating_sub(issued);
        issued = due;
        let room = cap.saturating_sub(sem.available_permits()) as u64;
        let give = n.min(room);
        sem.add_permits(give as usize);
        dropped += n - give;
    }
    sem.close();
    dropped
}

/// One REST publisher: `pipeline` requests in flight at a time on its own keep-alive
/// connection (written together, answered in order), cycling over channels, so each
/// (publisher, channel) stream is strictly ordered.
pub async fn rest_publisher(id: u32, shared: Arc<PubShared>) -> (PubResult, u64) {
    let mut result = PubResult::new(id, shared.channels);
    let timeout = Duration::from_secs(5);
    let mut single = RestClient::new(Arc::clone(&shared.connector), &shared.app_id, timeout);
    let mut pipelined = PipelineClient::new(Arc::clone(&shared.connector), &shared.app_id, timeout);
    let depth = shared.pipeline.max(1);
    let mut cursor = id % shared.channels;
    let mut batch: Vec<(usize, Stamp)> = Vec::with_capacity(depth);
    let mut bodies: Vec<String> = Vec::with_capacity(depth);
    loop {
        batch.clear();
        bodies.clear();
        while batch.len() < depth && Instant::now() < shared.deadline() {
            if let Some(tokens) = &shared.tokens {
                if batch.is_empty() {
                    tokio::select! {
                        p = tokens.acquire() => match p {
                            Ok(p) => p.forget(),
                            Err(_) => break,
                        },
                        _ = sleep_until(shared.deadline()) => break,
                    }
                } else {
                    match tokens.try_acquire() {
                        Ok(p) => p.forget(),
                        Err(_) => break,
                    }
                }
            }
            if !shared.take_attempt() {
                break;
            }
            let ch = cursor as usize;
            cursor = (cursor + 1) % shared.channels;
            let stamp = result.next_stamp(ch);
            let data = payload::encode(stamp, shared.payload);
            bodies.push(rest::event_body(
                REST_EVENT,
                &channel_name(false, ch as u32),
                &data,
            ));
            batch.push((ch, stamp));
        }
        if batch.is_empty() {
            break;
        }
        let outcomes = if depth == 1 {
            vec![single.publish(bodies.swap_remove(0)).await]
        } else {
            pipelined.publish_all(&bodies).await
        };
        let done = now_us();
        let mut failed = false;
        for ((ch, stamp), outcome) in batch.iter().zip(outcomes) {
            shared
                .rtt
                .record(id as usize, done.saturating_sub(stamp.sent_us), done);
            match outcome {
                Outcome::Accepted => {
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                }
                other => {
                    result.failed[*ch] += 1;
                    failed |= matches!(other, Outcome::Failed(_));
                    *result.failures.entry(other.reason()).or_insert(0) += 1;
                }
            }
        }
        if failed {
            // Avoid spinning on a refused or broken connection.
            sleep(Duration::from_millis(20)).await;
        }
    }
    shared.active.fetch_sub(1, Ordering::Relaxed);
    let opened = single.connections_opened + pipelined.connections_opened;
    (result, opened)
}

/// Client-mode publisher setup: connect and subscribe to the private channel.
pub async fn client_setup(connector: &Connector, channel: &str) -> Result<Ws, ConnError> {
    let mut conn = connector.open().await?;
    let auth = connector.auth(&conn.socket_id, channel, None);
    let limit = connector.connect_timeout;
    net::subscribe(&mut conn.ws, channel, Some(&auth), None, limit).await?;
    Ok(conn.ws)
}

/// Client-mode publisher: waits for `go`, sends client events on one channel at `rate`/s (or
/// as fast as the socket takes them), and counts the server's rejections until `stop`.
#[allow(clippy::too_many_arguments)]
pub async fn client_publisher(
    id: u32,
    channel: u32,
    rate: Option<f64>,
    shared: Arc<PubShared>,
    ready: ReadyTx,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> (PubResult, u64) {
    let mut result = PubResult::new(id, shared.channels);
    let name = channel_name(true, channel);
    let ws = match client_setup(&shared.connector, &name).await {
        Ok(ws) => ws,
        Err(e) => {
            let _ = ready.send(Err(e.reason()));
            shared.active.fetch_sub(1, Ordering::Relaxed);
            return (result, 0);
        }
    };
    let _ = ready.send(Ok(()));
    stopped(&mut go).await;

    let (mut sink, mut stream) = ws.split();
    let rejected = Arc::new(AtomicU64::new(0));
    let reader = {
        let rejected = Arc::clone(&rejected);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped(&mut stop) => return stream,
                    msg = stream.next() => match net::classify(msg) {
                        Incoming::Text(text) => {
                            let Ok(frame) = pusher::parse_frame(&text) else { continue };
                            let code = pusher::error_code(&frame).unwrap_or(0);
                            if frame.event == pusher::ERROR && (4300..4400).contains(&code) {
                                rejected.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Incoming::Closed(reason) => {
                            shared.closed.add(reason, 1);
                            return stream;
                        }
                        Incoming::Other => {}
                    },
                }
            }
        })
    };

    let mut tick = rate.map(|r| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / r.max(1e-3)));
        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
        t
    });
    let ch = channel as usize;
    loop {
        if let Some(t) = tick.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                _ = sleep_until(shared.deadline()) => break,
            }
        }
        if Instant::now() >= shared.deadline() || !shared.take_attempt() {
            break;
        }
        let data = payload::encode(result.next_stamp(ch), shared.payload);
        let msg = Message::text(pusher::client_event(CLIENT_EVENT, &name, &data));
        let limit = shared.deadline() + net::SEND_TIMEOUT;
        if !matches!(
            tokio::time::timeout_at(limit, sink.send(msg)).await,
            Ok(Ok(()))
        ) {
            result.failed[ch] += 1;
            *result.failures.entry("ws_send_failed".into()).or_insert(0) += 1;
            break;
        }
        shared.accepted.fetch_add(1, Ordering::Relaxed);
    }
    shared.active.fetch_sub(1, Ordering::Relaxed);
    let stream = reader.await;
    let n = rejected.load(Ordering::Relaxed);
    if n > 0 {
        result.failed[ch] += n;
        *result.failures.entry("rejected_43xx".into()).or_insert(0) += n;
    }
    if let Ok(Ok(mut ws)) = stream.map(|s| sink.reunite(s)) {
        net::close_quietly(&mut ws).await;
    }
    (result, 1)
}
