//! The life of an upgraded connection on its shard: one task that reads into the shard's shared
//! buffer, feeds the frame reader, and writes every queued frame with one `sendmsg` per turn.
//! An idle connection holds no buffer of its own.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use glommio::timer::Timer;
use tracing::error;

use super::link::Link;
use super::sendmsg::MAX_SLICES;
use crate::shard::{ConnKey, ConnPhase, Shard};
use crate::ws::frame::{self, Flow, Incoming, MessageReader};

/// How long a closing connection waits for the peer to close after our close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Reads per poll before yielding to other connections.
const READS_PER_POLL: usize = 4;

/// Writes all of `bytes` (handshake responses, refusals, REST responses).
pub async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Sends the last bytes of a refused upgrade (response, error, close frame), shuts down writing
/// and waits (bounded) for the client to close, so the close frame is not lost to a reset.
pub async fn send_and_linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) {
    if write_all(stream, bytes).await.is_err() {
        return;
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
            conn.phase = ConnPhase::Closing;
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
    linger: Option<Timer>,
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

    fn poll_read(&mut self, cx: &mut Context<'_>) {
        for _ in 0..READS_PER_POLL {
            if self.read_closed {
                return;
            }
            let shard = Rc::clone(&self.shard);
            let mut scratch = shard.scratch.borrow_mut();
            match Pin::new(&mut self.stream).poll_read(cx, &mut scratch[..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => self.read_closed = true,
                Poll::Ready(Ok(n)) => self.feed(&mut scratch[..n]),
                Poll::Pending => return,
            }
        }
        // More may be waiting: come back after other tasks had their turn.
        cx.waker().wake_by_ref();
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
        if phase == ConnPhase::Closing && !has_output && !this.stream.has_backlog() {
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
                this.linger = Some(Timer::new(CLOSE_LINGER));
            }
            if let Some(t) = this.linger.as_mut() {
                if Pin::new(t).poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
        }
        Poll::Pending
    }
}
