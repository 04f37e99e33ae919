//! Fanout subscriber connections: record latency, loss and order of stamped events.

use crate::net::{self, ConnError, Connector, Incoming};
use crate::payload::{self, now_us};
use crate::pusher;
use crate::scenarios::{stopped, ReadyTx, Tally};
use crate::stats::{LatencySink, SeqTracker};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{watch, OwnedSemaphorePermit};

/// Event name used for REST publishes.
pub const REST_EVENT: &str = "loadtest";
/// Event name used for client events.
pub const CLIENT_EVENT: &str = "client-loadtest";

/// Channel `i` for the publish mode.
pub fn channel_name(private: bool, i: u32) -> String {
    if private {
        format!("private-loadtest-{i}")
    } else {
        format!("loadtest-{i}")
    }
}

pub struct RecvShared {
    /// One per `--url`; subscriber i uses the one [`crate::scenarios::spread`] picks.
    pub connectors: Vec<Arc<Connector>>,
    pub sink: Arc<LatencySink>,
    /// With several `--url`s: one more sink per URL for the per-URL latency (empty otherwise).
    pub url_sinks: Vec<Arc<LatencySink>>,
    /// Server-side closes during the measured phase, by reason.
    pub closed: Tally,
    pub private: bool,
}

pub struct ReceiverResult {
    pub channel: u32,
    /// Index of the `--url` this subscriber was connected to.
    pub url: usize,
    /// Per publisher id.
    pub trackers: HashMap<u32, SeqTracker>,
    /// Closed by the server (or lost) before the end.
    pub closed: bool,
    /// Stamped events received, duplicates included.
    pub stamped: u64,
}

/// Connects to `--url` number `url`, subscribes to `channel`, reports readiness, then records events until stopped.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    id: u64,
    channel: u32,
    url: usize,
    shared: Arc<RecvShared>,
    permit: OwnedSemaphorePermit,
    ready: ReadyTx,
    counter: Arc<AtomicU64>,
    go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Option<ReceiverResult> {
    let name = channel_name(shared.private, channel);
    let Some(connector) = shared.connectors.get(url) else {
        let _ = ready.send(Err("no_such_url".into()));
        return None;
    };
    let setup = async {
        let mut conn = connector.open().await?;
        let auth = shared
            .private
            .then(|| connector.auth(&conn.socket_id, &name, None));
        let limit = connector.connect_timeout;
        net::subscribe(&mut conn.ws, &name, auth.as_deref(), None, limit).await?;
        Ok::<_, ConnError>(conn.ws)
    };
    let mut ws = match setup.await {
        Ok(ws) => ws,
        Err(e) => {
            let _ = ready.send(Err(e.reason()));
            return None;
        }
    };
    drop(permit);
    if *go.borrow() {
        // Ready only after measuring started: its sequence tracking would start mid-stream.
        let _ = ready.send(Err("ready_after_start".into()));
        net::close_quietly(&mut ws).await;
        return None;
    }
    let _ = ready.send(Ok(()));

    let mut batch = shared.sink.batch(id as usize);
    let mut url_batch = shared.url_sinks.get(url).map(|s| s.batch(id as usize));
    let mut result = ReceiverResult {
        channel,
        url,
        trackers: HashMap::new(),
        closed: false,
        stamped: 0,
    };
    if *stop.borrow() {
        net::close_quietly(&mut ws).await;
        return Some(result);
    }
    // One stop future for the whole loop: a fresh one per frame costs a waiter registration.
    let stop_signal = stopped(&mut stop);
    tokio::pin!(stop_signal);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop_signal => break,
            msg = futures_util::StreamExt::next(&mut ws) => match net::classify(msg) {
                Incoming::Text(text) => {
                    let Ok(frame) = pusher::parse_frame(&text) else { continue };
                    if frame.event == REST_EVENT || frame.event == CLIENT_EVENT {
                        let Some(stamp) = frame.data_str().and_then(|d| payload::decode(&d))
                        else {
                            continue;
                        };
                        let now = now_us();
                        batch.push(now.saturating_sub(stamp.sent_us), now);
                        if let Some(b) = &mut url_batch {
                            b.push(now.saturating_sub(stamp.sent_us), now);
                        }
                        result.trackers.entry(stamp.publisher).or_default().observe(stamp.seq);
                        result.stamped += 1;
                        counter.fetch_add(1, Ordering::Relaxed);
                    } else if frame.event == pusher::PING {
                        let _ = net::send_text(&mut ws, pusher::PONG.into()).await;
                    }
                }
                Incoming::Closed(reason) => {
                    shared.closed.add(reason, 1);
                    result.closed = true;
                    break;
                }
                Incoming::Other => {}
            },
        }
    }
    batch.flush();
    if let Some(b) = &mut url_batch {
        b.flush();
    }
    if !result.closed {
        net::close_quietly(&mut ws).await;
    }
    Some(result)
}
