//! Presence connections: observers that verify member events, and churning users.

use super::log::{Cursor, Kind, Matched, PresenceLog};
use crate::cli::LeaveMode;
use crate::net::{self, ConnError, Connector, Incoming, Ws};
use crate::payload::now_us;
use crate::pusher;
use crate::scenarios::{stopped, ReadyTx, Tally};
use crate::stats::LatencySink;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::{sleep, sleep_until, Instant};

pub fn channel_name(i: u32) -> String {
    format!("presence-loadtest-{i}")
}

pub struct Shared {
    /// One per `--url`: observer i and user `u{n}` use number i (n) mod their count.
    pub connectors: Vec<Arc<Connector>>,
    /// Observers and users whose first connection was established, per `--url`.
    pub ready_per_url: Vec<AtomicU64>,
    pub log: PresenceLog,
    pub sink: Arc<LatencySink>,
    pub channels: u32,
    pub dwell: Duration,
    pub pause: Duration,
    pub leave: LeaveMode,
    pub deadline: OnceLock<Instant>,
    pub max_joins: Option<u64>,
    pub join_attempts: AtomicU64,
    pub joins: AtomicU64,
    pub leaves: AtomicU64,
    pub join_failures: Tally,
    pub closed: Tally,
    /// Member events about churning users received by observers (duplicates included).
    pub observed: AtomicU64,
    pub active_churners: AtomicU64,
    /// Ready observers per channel.
    pub observers_ready: Vec<AtomicU64>,
}

impl Shared {
    /// The connector for connection `i` and its URL index (round-robin over the URLs).
    fn connector(&self, i: u64) -> Option<(usize, &Arc<Connector>)> {
        let u = (i % self.connectors.len().max(1) as u64) as usize;
        self.connectors.get(u).map(|c| (u, c))
    }

    fn mark_ready(&self, url: usize) {
        if let Some(n) = self.ready_per_url.get(url) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn deadline(&self) -> Instant {
        self.deadline.get().copied().unwrap_or_else(Instant::now)
    }

    fn take_join(&self) -> bool {
        let n = self.join_attempts.fetch_add(1, Ordering::Relaxed);
        self.max_joins.is_none_or(|max| n < max)
    }
}

pub struct ObserverResult {
    pub channel: u32,
    pub cursor: Cursor,
    pub missed_inline: u64,
    pub duplicated: u64,
    pub unexpected: u64,
    pub closed: bool,
}

async fn open_and_join(
    connector: &Connector,
    channel: &str,
    user_id: &str,
) -> Result<(Ws, String), ConnError> {
    let mut conn = connector.open().await?;
    join(connector, &mut conn.ws, &conn.socket_id, channel, user_id).await?;
    Ok((conn.ws, conn.socket_id))
}

async fn join(
    connector: &Connector,
    ws: &mut Ws,
    socket_id: &str,
    channel: &str,
    user_id: &str,
) -> Result<(), ConnError> {
    let data = pusher::presence_channel_data(user_id);
    let auth = connector.auth(socket_id, channel, Some(&data));
    let limit = connector.connect_timeout;
    net::subscribe(ws, channel, Some(&auth), Some(&data), limit).await
}

/// Observer `o` of `channel` (connection `index` of all observers): a member itself, it
/// matches every member event about `u{n}` users against the log until stopped.
pub async fn observer(
    index: u64,
    channel: u32,
    o: u32,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
    ready: ReadyTx,
    mut stop: watch::Receiver<bool>,
) -> Option<ObserverResult> {
    let name = channel_name(channel);
    let Some((url, connector)) = shared.connector(index) else {
        let _ = ready.send(Err("no_such_url".into()));
        return None;
    };
    let mut ws = match open_and_join(connector, &name, &format!("obs-{channel}-{o}")).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            let _ = ready.send(Err(e.reason()));
            return None;
        }
    };
    drop(permit);
    shared.mark_ready(url);
    shared.observers_ready[channel as usize].fetch_add(1, Ordering::Relaxed);
    let _ = ready.send(Ok(()));
    let mut r = ObserverResult {
        channel,
        cursor: Cursor::default(),
        missed_inline: 0,
        duplicated: 0,
        unexpected: 0,
        closed: false,
    };
    let mut batch = shared.sink.batch(channel as usize * 31 + o as usize);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            msg = ws.next() => match net::classify(msg) {
                Incoming::Text(text) => {
                    let Ok(frame) = pusher::parse_frame(&text) else { continue };
                    let kind = match frame.event.as_ref() {
                        pusher::MEMBER_ADDED => Kind::Added,
                        pusher::MEMBER_REMOVED => Kind::Removed,
                        pusher::PING => {
                            let _ = net::send_text(&mut ws, pusher::PONG.into()).await;
                            continue;
                        }
                        _ => continue,
                    };
                    if frame.channel() != Some(name.as_str()) {
                        continue;
                    }
                    let Some(user) = pusher::member_user_id(&frame)
                        .and_then(|u| u.strip_prefix('u').and_then(|n| n.parse::<u32>().ok()))
                    else {
                        continue;
                    };
                    let now = now_us();
                    shared.observed.fetch_add(1, Ordering::Relaxed);
                    match shared.log.observe(&mut r.cursor, channel, user, kind, now) {
                        Matched::Ok { latency_us, missed } => {
                            batch.push(latency_us, now);
                            r.missed_inline += missed;
                        }
                        Matched::Duplicate => r.duplicated += 1,
                        Matched::Unexpected => r.unexpected += 1,
                    }
                }
                Incoming::Closed(reason) => {
                    shared.closed.add(reason, 1);
                    r.closed = true;
                    break;
                }
                Incoming::Other => {}
            },
        }
    }
    batch.flush();
    if !r.closed {
        net::close_quietly(&mut ws).await;
    }
    Some(r)
}

/// Reads (and answers pings) for `d`; returns the close reason if the connection ends.
async fn idle(ws: &mut Ws, d: Duration) -> Result<(), String> {
    let until = Instant::now() + d;
    loop {
        tokio::select! {
            _ = sleep_until(until) => return Ok(()),
            msg = ws.next() => match net::classify(msg) {
                Incoming::Text(t) => {
                    if pusher::parse_frame(&t).is_ok_and(|f| f.event == pusher::PING) {
                        net::send_text(ws, pusher::PONG.into()).await.map_err(|e| e.reason())?;
                    }
                }
                Incoming::Closed(reason) => return Err(reason),
                Incoming::Other => {}
            },
        }
    }
}

/// User `u{n}`: joins channel (n + j) mod K, stays `dwell`, leaves, pauses, repeats.
pub async fn churner(
    n: u32,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
    ready: ReadyTx,
    mut go: watch::Receiver<bool>,
) {
    let Some((url, connector)) = shared.connector(u64::from(n)) else {
        let _ = ready.send(Err("no_such_url".into()));
        shared.active_churners.fetch_sub(1, Ordering::Relaxed);
        return;
    };
    let connector = Arc::clone(connector);
    let mut conn = match connector.open().await {
        Ok(c) => Some((c.ws, c.socket_id)),
        Err(e) => {
            let _ = ready.send(Err(e.reason()));
            shared.active_churners.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    };
    drop(permit);
    shared.mark_ready(url);
    let _ = ready.send(Ok(()));
    stopped(&mut go).await;
    let user = format!("u{n}");
    let mut j = 0u32;
    while Instant::now() < shared.deadline() && shared.take_join() {
        let (mut ws, socket_id) = match conn.take() {
            Some(c) => c,
            None => match connector.open().await {
                Ok(c) => (c.ws, c.socket_id),
                Err(e) => {
                    shared
                        .join_failures
                        .add(format!("reconnect_{}", e.reason()), 1);
                    sleep(shared.pause.max(Duration::from_millis(100))).await;
                    continue;
                }
            },
        };
        let ch = (n + j) % shared.channels;
        j = j.wrapping_add(1);
        let name = channel_name(ch);
        let idx = shared.log.push(ch, n, Kind::Added, now_us());
        match join(&connector, &mut ws, &socket_id, &name, &user).await {
            Ok(()) => {
                shared.joins.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                shared.log.mark_failed(ch, n, idx);
                shared.join_failures.add(e.reason(), 1);
                if !matches!(e, ConnError::Closed(_)) {
                    conn = Some((ws, socket_id));
                }
                sleep(shared.pause).await;
                continue;
            }
        }
        if let Err(reason) = idle(&mut ws, shared.dwell).await {
            // The server dropped the connection, which removes the member.
            shared.log.push(ch, n, Kind::Removed, now_us());
            shared.closed.add(reason, 1);
            continue;
        }
        shared.log.push(ch, n, Kind::Removed, now_us());
        shared.leaves.fetch_add(1, Ordering::Relaxed);
        match shared.leave {
            LeaveMode::Unsubscribe => {
                if net::send_text(&mut ws, pusher::unsubscribe(&name))
                    .await
                    .is_err()
                {
                    continue;
                }
                match idle(&mut ws, shared.pause).await {
                    Ok(()) => conn = Some((ws, socket_id)),
                    Err(reason) => shared.closed.add(reason, 1),
                }
            }
            LeaveMode::Disconnect => {
                net::close_quietly(&mut ws).await;
                sleep(shared.pause).await;
            }
        }
    }
    if let Some((mut ws, _)) = conn {
        net::close_quietly(&mut ws).await;
    }
    shared.active_churners.fetch_sub(1, Ordering::Relaxed);
}
