//! The life of an upgraded connection on its shard: one task that reads into the shard's shared
//! buffer, feeds the frame reader, and writes every queued frame with one `sendmsg` per turn.
//! An idle connection holds no buffer of its own.
//!
//! Guarantees: one connection's input is handled at most [`READ_BUDGET`] bytes (and about
//! [`READ_SLICE`]) per turn, and then the connection waits for the shard's reactor (every other
//! connection's IO) before reading more, so a burst cannot stall its shard. A connection that
//! starts closing (any reason: 4100, 4201, a protocol error, drain, the peer's close) is woken
//! and gone within [`CLOSE_LINGER`] whatever the peer does; if bytes are still stuck by then,
//! its socket is reset.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::unix::io::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use glommio::timer::Timer;
use glommio::GlommioError;
use tracing::error;

use super::closing;
use super::link::Link;
use super::pause::ReactorPause;
use super::sendmsg::MAX_SLICES;
use crate::shard::{ConnKey, ConnPhase, Shard};
use crate::ws::frame::{self, Flow, Incoming, MessageReader};

/// How long a closing connection may take to end, from the moment it starts closing: to flush
/// its last frames and for the peer to answer the close. Then its socket is closed anyway.
pub const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Input bytes taken from the socket by one read.
const READ_CHUNK: usize = 4 * 1024;
/// Input bytes one connection may read and handle per turn: up to four chunks...
pub const READ_BUDGET: usize = 4 * READ_CHUNK;
/// ...while the turn has lasted less than this. Messages differ in cost (a subscribe of a
/// connection with many channels, a client event to a crowded channel), so time bounds a turn
/// where bytes alone would not.
pub const READ_SLICE: Duration = Duration::from_micros(500);

/// Writes all of `bytes` (handshake responses, refusals, REST responses).
pub async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Sends the last bytes of a refused upgrade (response, error, close frame), shuts down writing
/// and waits (bounded) for the client to close, so the close frame is not lost to a reset.
/// All of it within [`CLOSE_LINGER`]; a peer that does not take the bytes in time is reset.
pub async fn send_and_linger<S: AsyncRead + AsyncWrite + AsRawFd + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) {
    let sent = glommio::timer::timeout(CLOSE_LINGER, async {
        write_all(stream, bytes).await.map_err(GlommioError::from)
    })
    .await;
    match sent {
        Ok(()) => {}
        Err(GlommioError::TimedOut(_)) => return closing::abort_if_stuck(stream.as_raw_fd(), true),
        Err(_) => return,
    }
    // TCP: shutdown(SHUT_WR); TLS: close_notify, then the same.
    let _ = stream.close().await;
    let mut sink = [0u8; 256];
    let _ = glommio::timer::timeout(CLOSE_LINGER, async {
        use futures_lite::AsyncReadExt;
        while stream
            .read(&mut sink)
            .await
            .map_err(glommio::GlommioError::from)?
            > 0
        {}
        Ok(())
    })
    .await;
}

/// Handles one message of an upgraded connection.
pub type Handler = dyn FnMut(&Rc<Shard>, ConnKey, Incoming<'_>);

/// Runs a registered connection until it is closed, as a task of its own: the task holds
/// only the connection's small state, not the larger state of the handshake that led to it.
/// `leftover` holds bytes read with the head. Returns at once.
pub fn run_ws<L: Link>(
    shard: Rc<Shard>,
    stream: L,
    key: ConnKey,
    max_message: usize,
    leftover: Vec<u8>,
    handler: Box<Handler>,
) {
    let mut conn = WsConn {
        shard,
        key,
        stream,
        reader: MessageReader::new(max_message),
        handler: RefCell::new(handler),
        read_closed: false,
        shut: false,
        peer_closed: false,
        linger: None,
        pause: None,
    };
    if !leftover.is_empty() {
        let mut bytes = leftover;
        conn.feed(&mut bytes);
    }
    glommio::spawn_local(conn).detach();
}

/// Fails the connection after a protocol violation: queues the close frame *behind* the replies
/// already queued for the valid messages that preceded the violation (they are not discarded).
fn fail(shard: &Shard, key: ConnKey, code: u16, reason: &str) {
    if let Some(conn) = shard.conns.borrow_mut().get_mut(key) {
        if conn.phase == ConnPhase::Open {
            conn.force_push(frame::close_frame(code, reason));
            conn.begin_closing();
        }
    }
}

/// An upgraded connection; removed from its shard when dropped, however its task ends.
struct WsConn<L: Link> {
    shard: Rc<Shard>,
    key: ConnKey,
    stream: L,
    reader: MessageReader,
    handler: RefCell<Box<Handler>>,
    read_closed: bool,
    shut: bool,
    /// The peer sent a close frame (so ours, once written, completes the handshake).
    peer_closed: bool,
    /// Deadline of the close, set when the connection is first seen closing.
    linger: Option<Timer>,
    /// Set after a turn that used up the input budget, until the reactor has run.
    pause: Option<ReactorPause>,
}

impl<L: Link> WsConn<L> {
    fn phase(&self) -> ConnPhase {
        self.shard
            .conns
            .borrow()
            .get(self.key)
            .map_or(ConnPhase::Closing, |c| c.phase)
    }

    /// Feeds received bytes to the frame reader and the handler.
    fn feed(&mut self, bytes: &mut [u8]) {
        if let Some(c) = self.shard.conns.borrow_mut().get_mut(self.key) {
            c.last_rx = Instant::now();
        }
        if self.phase() != ConnPhase::Open {
            return;
        }
        let shard = &self.shard;
        let key = self.key;
        let mut handler = self.handler.borrow_mut();
        let mut peer_closed = false;
        let result = self.reader.feed(bytes, &mut |msg| {
            peer_closed |= matches!(msg, Incoming::Close(_));
            let outcome = catch_unwind(AssertUnwindSafe(|| handler(shard, key, msg)));
            if outcome.is_err() {
                error!(
                    shard = shard.id(),
                    "panic while handling a message; closing the connection"
                );
                shard.close_ws(key, 1011, "Internal error");
            }
            match shard.conns.borrow().get(key).map(|c| c.phase) {
                Some(ConnPhase::Open) => Flow::Continue,
                _ => Flow::Stop,
            }
        });
        if let Err(e) = result {
            fail(shard, key, e.close_code(), &e.to_string());
        }
        self.peer_closed |= peer_closed;
    }

    /// Reads and handles input, chunk by chunk, within [`READ_BUDGET`] and [`READ_SLICE`].
    fn poll_read(&mut self, cx: &mut Context<'_>) {
        if let Some(pause) = &self.pause {
            if !pause.is_over() {
                return;
            }
            self.pause = None;
        }
        let mut budget = READ_BUDGET;
        // Set once a read filled its chunk (more input may be waiting): a connection whose
        // input fits one read, nearly all of them, never looks at the clock.
        let mut started: Option<Instant> = None;
        let mut filled = false;
        while budget > 0 {
            if self.read_closed {
                return;
            }
            if filled && started.get_or_insert_with(Instant::now).elapsed() >= READ_SLICE {
                break;
            }
            let shard = Rc::clone(&self.shard);
            let mut scratch = shard.scratch.borrow_mut();
            let want = READ_CHUNK.min(budget).min(scratch.len());
            match Pin::new(&mut self.stream).poll_read(cx, &mut scratch[..want]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => self.read_closed = true,
                Poll::Ready(Ok(n)) => {
                    budget -= n;
                    filled = n == want;
                    self.feed(&mut scratch[..n]);
                }
                Poll::Pending => return,
            }
        }
        // More may be waiting: come back once the reactor has seen every other connection's IO.
        self.pause = ReactorPause::start(cx);
    }

    /// Writes queued frames; false when the socket failed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            let mut conns = self.shard.conns.borrow_mut();
            let Some(conn) = conns.get_mut(self.key) else {
                return false;
            };
            if !conn.has_output() {
                drop(conns);
                return !matches!(self.stream.poll_backlog(cx), Poll::Ready(Err(_)));
            }
            let mut slices: Vec<&[u8]> = Vec::with_capacity(MAX_SLICES);
            conn.pending_slices(&mut slices, MAX_SLICES);
            match self.stream.poll_send(cx, &slices) {
                Poll::Ready(Ok(n)) => {
                    drop(slices);
                    conn.advance(n);
                }
                Poll::Ready(Err(_)) => return false,
                Poll::Pending => return true,
            }
        }
    }
}

impl<L: Link> Drop for WsConn<L> {
    fn drop(&mut self) {
        self.shard.unregister(self.key);
    }
}

impl<L: Link> Future for WsConn<L> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.poll_read(cx);
        if !this.poll_write(cx) || this.read_closed {
            return Poll::Ready(());
        }
        let (phase, has_output) = {
            let mut conns = this.shard.conns.borrow_mut();
            let Some(conn) = conns.get_mut(this.key) else {
                return Poll::Ready(());
            };
            if !conn.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                conn.waker = Some(cx.waker().clone());
            }
            (conn.phase, conn.has_output())
        };
        if phase == ConnPhase::Closing {
            // One deadline for the whole close, started however the close began, and kept
            // even while the socket never becomes writable again.
            let deadline = this.linger.get_or_insert_with(|| Timer::new(CLOSE_LINGER));
            if !has_output && !this.stream.has_backlog() {
                if this.peer_closed {
                    // Our close frame answered the peer's: the handshake is complete, and the
                    // server closes the TCP connection first (RFC 6455 §7.1.1).
                    return Poll::Ready(());
                }
                if !this.shut {
                    this.shut = true;
                    this.stream.shutdown_write();
                    if let Poll::Ready(Err(_)) = this.stream.poll_backlog(cx) {
                        return Poll::Ready(());
                    }
                }
            }
            if Pin::new(deadline).poll(cx).is_ready() {
                closing::abort_if_stuck(
                    this.stream.as_raw_fd(),
                    has_output || this.stream.has_backlog(),
                );
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}
