//! One connection's state as its shard sees it: identity, subscriptions, and the bounded
//! outbound queue of shared frames that the connection's task writes to the socket.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;

use crate::protocol::user::SignedInUser;
use crate::protocol::SocketId;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnPhase {
    /// Reading and writing normally.
    Open,
    /// A close frame is queued: flush, then shut down; inbound messages are ignored.
    Closing,
}

/// Which protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    /// Pusher protocol 7 (`/app/{key}`).
    Pusher,
    /// PieSocket-style raw channel (`/v3/{channel_id}`): messages relayed verbatim.
    Raw,
}

/// A connection's membership of one presence channel.
#[derive(Debug, Clone)]
pub struct Presence {
    /// Channel name.
    pub channel: Box<str>,
    /// Canonical user id (identity).
    pub user_id: Box<str>,
    /// The user id as JSON, as the member sent it (`"7"` or `7`).
    pub user_id_json: Box<str>,
}

/// A connection registered on a shard.
#[derive(Debug)]
pub struct Conn {
    /// Its socket id.
    pub socket_id: SocketId,
    /// Index of its app.
    pub app: u32,
    /// Protocol spoken.
    pub kind: ConnKind,
    /// Channels it is subscribed to (names), in subscription order.
    pub channels: Vec<Box<str>>,
    /// Frames waiting to be written, oldest first.
    outbox: VecDeque<Bytes>,
    /// Bytes of the front frame already written.
    front_sent: usize,
    /// Total bytes queued (not yet written).
    queued_bytes: usize,
    /// Wakes the connection's task when frames arrive in an empty outbox.
    pub waker: Option<Waker>,
    /// Open or closing.
    pub phase: ConnPhase,
    /// Last time anything arrived from the client.
    pub last_rx: Instant,
    /// When the keep-alive probe was sent, if one is outstanding.
    pub ping_sent: Option<Instant>,
    /// Client-event rate limiter state: tokens left and last refill.
    pub tokens: (f32, Instant),
    /// The signed-in user (`pusher:signin`), if any.
    pub user: Option<Box<SignedInUser>>,
    /// Presence memberships.
    pub presence: Vec<Presence>,
    /// Set while a new watcher waits for its first watchlist state.
    pub watch_sync: Option<Box<super::watchlist::WatchSync>>,
    /// Whether it has signed in or joined a private or presence channel (authorized
    /// connections); once set, it stays set.
    pub authorized: bool,
}

/// Result of queueing a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Queued.
    Ok,
    /// The queue is over its byte limit: the connection is a slow consumer.
    Overflow,
    /// The connection is closing; the frame was dropped.
    Dropped,
}

impl Conn {
    /// A new open connection.
    pub fn new(socket_id: SocketId, app: u32, kind: ConnKind, now: Instant) -> Self {
        Conn {
            socket_id,
            app,
            kind,
            channels: Vec::new(),
            outbox: VecDeque::new(),
            front_sent: 0,
            queued_bytes: 0,
            waker: None,
            phase: ConnPhase::Open,
            last_rx: now,
            ping_sent: None,
            // A full bucket: `take_token` clamps it to the app's rate.
            tokens: (f32::INFINITY, now),
            user: None,
            presence: Vec::new(),
            watch_sync: None,
            authorized: false,
        }
    }

    /// Queues a frame (shared bytes, no copy), waking the writer if the queue was empty.
    pub fn push(&mut self, frame: Bytes, limit: usize) -> Queued {
        if self.phase == ConnPhase::Closing {
            return Queued::Dropped;
        }
        if self.queued_bytes + frame.len() > limit {
            return Queued::Overflow;
        }
        self.force_push(frame);
        Queued::Ok
    }

    /// Queues a frame regardless of the limit (close frames, errors).
    pub fn force_push(&mut self, frame: Bytes) {
        let was_empty = self.outbox.is_empty();
        self.queued_bytes += frame.len();
        self.outbox.push_back(frame);
        if was_empty {
            if let Some(w) = &self.waker {
                w.wake_by_ref();
            }
        }
    }

    /// Marks the connection closing and wakes its task, which then ends it within its closing
    /// deadline even if the socket never becomes writable again.
    pub fn begin_closing(&mut self) {
        self.phase = ConnPhase::Closing;
        if let Some(w) = &self.waker {
            w.wake_by_ref();
        }
    }

    /// Drops every queued frame not yet started (a partly written front frame is kept).
    pub fn discard_unsent(&mut self) {
        let keep = if self.front_sent > 0 { 1 } else { 0 };
        while self.outbox.len() > keep {
            if let Some(f) = self.outbox.pop_back() {
                self.queued_bytes -= f.len();
            }
        }
    }

    /// Whether anything waits to be written.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Fills `out` with up to `out.capacity()` slices of pending bytes, in order.
    pub fn pending_slices<'a>(&'a self, out: &mut Vec<&'a [u8]>, max: usize) {
        for (i, f) in self.outbox.iter().take(max).enumerate() {
            out.push(if i == 0 {
                &f[self.front_sent..]
            } else {
                &f[..]
            });
        }
    }

    /// Marks `n` bytes as written.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.outbox.front() else {
                return;
            };
            let left = front.len() - self.front_sent;
            if n >= left {
                n -= left;
                self.queued_bytes -= front.len();
                self.front_sent = 0;
                self.outbox.pop_front();
            } else {
                self.front_sent += n;
                return;
            }
        }
        if self.outbox.is_empty() && self.outbox.capacity() > 64 {
            self.outbox = VecDeque::new();
        }
    }

    /// The user id this connection has in a presence channel.
    pub fn presence_id(&self, channel: &str) -> Option<&Presence> {
        self.presence.iter().find(|p| &*p.channel == channel)
    }

    /// Frees the queue's memory if nothing is queued (the housekeeping sweep calls this, so an
    /// idle connection keeps no queue memory while a busy one does not reallocate per frame).
    pub fn release_idle_memory(&mut self) {
        if self.outbox.is_empty() && self.outbox.capacity() > 0 {
            self.outbox = VecDeque::new();
        }
    }

    /// Records a subscription. The list grows 1, 2, 4, … entries rather than starting at four:
    /// most connections hold one or two channels for their whole life.
    pub fn add_channel(&mut self, channel: &str) {
        if self.channels.len() == self.channels.capacity() {
            self.channels.reserve_exact(self.channels.len().max(1));
        }
        self.channels.push(channel.into());
    }

    /// Whether the connection is subscribed to `channel`.
    pub fn is_subscribed(&self, channel: &str) -> bool {
        self.channels.iter().any(|c| &**c == channel)
    }

    /// Takes one client-event token (token bucket of `rate` per second). False: over the limit.
    pub fn take_token(&mut self, rate: u32, now: Instant) -> bool {
        let (tokens, last) = self.tokens;
        let refill = now.saturating_duration_since(last).as_secs_f32() * rate as f32;
        let have = (tokens + refill).min(rate as f32);
        if have >= 1.0 {
            self.tokens = (have - 1.0, now);
            true
        } else {
            self.tokens = (have, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn conn() -> Conn {
        Conn::new(
            SocketId::new(1, 1, 0, 1),
            0,
            ConnKind::Pusher,
            Instant::now(),
        )
    }

    #[test]
    fn outbox_tracks_partial_writes() {
        let mut c = conn();
        assert_eq!(c.push(Bytes::from_static(b"abc"), 100), Queued::Ok);
        assert_eq!(c.push(Bytes::from_static(b"defg"), 100), Queued::Ok);
        c.advance(2);
        let mut v = Vec::new();
        c.pending_slices(&mut v, 8);
        assert_eq!(v, vec![&b"c"[..], &b"defg"[..]]);
        drop(v);
        c.advance(5);
        assert!(!c.has_output());
    }

    #[test]
    fn outbox_limit_reports_overflow() {
        let mut c = conn();
        assert_eq!(c.push(Bytes::from(vec![0; 60]), 100), Queued::Ok);
        assert_eq!(c.push(Bytes::from(vec![0; 60]), 100), Queued::Overflow);
        c.phase = ConnPhase::Closing;
        assert_eq!(c.push(Bytes::from(vec![0; 1]), 100), Queued::Dropped);
    }

    #[test]
    fn closing_wakes_the_task_even_with_output_queued() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.wake_by_ref();
            }
            fn wake_by_ref(self: &std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let mut c = conn();
        c.waker = Some(Waker::from(std::sync::Arc::clone(&count)));
        assert_eq!(c.push(Bytes::from(vec![0; 60]), 100), Queued::Ok);
        assert_eq!(c.push(Bytes::from(vec![0; 60]), 100), Queued::Overflow);
        c.force_push(Bytes::from_static(b"close"));
        let before = count.0.load(std::sync::atomic::Ordering::Relaxed);
        c.begin_closing();
        assert_eq!(c.phase, ConnPhase::Closing);
        assert_eq!(
            count.0.load(std::sync::atomic::Ordering::Relaxed),
            before + 1
        );
    }

    #[test]
    fn token_bucket_allows_rate_per_second() {
        let mut c = conn();
        let t0 = c.tokens.1;
        assert!((0..10).all(|_| c.take_token(10, t0)));
        assert!(!c.take_token(10, t0));
        assert!(c.take_token(10, t0 + Duration::from_millis(150)));
    }
}
