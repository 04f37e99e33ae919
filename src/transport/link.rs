//! The byte stream under a connection: plain TCP, or TLS over TCP. The connection loops are
//! generic over [`Link`] (monomorphised, no dynamic dispatch), so the plain path is exactly the
//! raw-fd `sendmsg` of queued frames it always was, while the TLS path encrypts the queued
//! frames into as few records as fit and writes the records with the same `sendmsg`.
//!
//! The TLS link never holds more than rustls' send buffer limit (64 KiB) of records that the
//! socket has not taken yet: frames beyond that stay in the connection's outbox, where the
//! outbox byte limit (and so the slow-consumer close) applies to them as on the plain path.

use std::io::{self, IoSlice, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::server::TlsStream;
use glommio::net::TcpStream;

use super::sendmsg::{self, MAX_SLICES};

/// A connection's stream: reads and writes as any async stream (request heads, REST), plus the
/// non-blocking vectored send of queued frames the WebSocket loop uses.
/// Its descriptor is the TCP socket's (for socket options such as an abortive close).
pub trait Link: AsyncRead + AsyncWrite + AsRawFd + Unpin + 'static {
    /// Takes as many bytes of `slices` (non-empty, in order) as it can now: `Ready(Ok(n))` with
    /// `n` bytes taken, or `Pending` with the task registered to be woken when the socket can
    /// take more.
    fn poll_send(&mut self, cx: &mut Context<'_>, slices: &[&[u8]]) -> Poll<io::Result<usize>>;

    /// Writes bytes the link itself still holds (TLS records); `Ready(Ok(()))` once none are
    /// left, `Pending` (registered) while the socket is full.
    fn poll_backlog(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Whether bytes taken by [`Link::poll_send`] still wait in the link (the `close_notify`
    /// queued by [`Link::shutdown_write`] does not count).
    fn has_backlog(&self) -> bool;

    /// Ends the sending side after everything taken so far: at once for TCP; for TLS after a
    /// `close_notify`, once [`Link::poll_backlog`] has written it.
    fn shutdown_write(&mut self);
}

impl Link for TcpStream {
    #[inline]
    fn poll_send(&mut self, cx: &mut Context<'_>, slices: &[&[u8]]) -> Poll<io::Result<usize>> {
        loop {
            match sendmsg::send_slices(self.as_raw_fd(), slices) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Register for writability through the runtime (it retries the send once).
                    return Pin::new(self).poll_write(cx, slices[0]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    #[inline]
    fn poll_backlog(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn has_backlog(&self) -> bool {
        false
    }

    #[inline]
    fn shutdown_write(&mut self) {
        sendmsg::shutdown_write(self.as_raw_fd());
    }
}

/// A TLS session over TCP, after its handshake.
pub struct TlsLink {
    tls: TlsStream<TcpStream>,
    /// `close_notify` is queued; the socket's write side is shut once it is written.
    closing: bool,
    /// The socket's write side is shut.
    shut: bool,
}

impl TlsLink {
    /// Wraps a session whose handshake is complete.
    pub fn new(tls: TlsStream<TcpStream>) -> Self {
        TlsLink {
            tls,
            closing: false,
            shut: false,
        }
    }

    /// Writes queued records with `sendmsg`; without `cx` nothing is registered (best effort).
    fn flush_records(&mut self, mut cx: Option<&mut Context<'_>>) -> Poll<io::Result<()>> {
        let (stream, session) = self.tls.get_mut();
        while session.wants_write() {
            let mut socket = SocketWriter {
                stream,
                cx: cx.as_deref_mut(),
            };
            match session.write_tls(&mut socket) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsRawFd for TlsLink {
    fn as_raw_fd(&self) -> RawFd {
        self.tls.get_ref().0.as_raw_fd()
    }
}

impl Link for TlsLink {
    fn poll_send(&mut self, cx: &mut Context<'_>, slices: &[&[u8]]) -> Poll<io::Result<usize>> {
        // Records of earlier turns go first: at most one buffer limit is ever held.
        match self.flush_records(Some(cx)) {
            Poll::Ready(Ok(())) => {}
            other => return other.map_ok(|()| 0),
        }
        let mut bufs = [IoSlice::new(&[]); MAX_SLICES];
        let n = slices.len().min(MAX_SLICES);
        for (b, s) in bufs.iter_mut().zip(slices) {
            *b = IoSlice::new(s);
        }
        // Encrypts the frames into records of up to 16 KiB each, as many as the limit allows.
        let taken = self.tls.get_mut().1.writer().write_vectored(&bufs[..n])?;
        if taken == 0 {
            // Nothing was held, so the session refuses data (it is closed).
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        if let Poll::Ready(Err(e)) = self.flush_records(Some(cx)) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_backlog(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.flush_records(Some(cx)) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if self.closing && !self.shut {
            self.shut = true;
            sendmsg::shutdown_write(self.tls.get_ref().0.as_raw_fd());
        }
        Poll::Ready(Ok(()))
    }

    fn has_backlog(&self) -> bool {
        // Once closing, all that can wait is the `close_notify` (the frames were written before
        // [`Link::shutdown_write`]): it is no reason to hold off the close linger.
        !self.closing && self.tls.get_ref().1.wants_write()
    }

    fn shutdown_write(&mut self) {
        self.tls.get_mut().1.send_close_notify();
        self.closing = true;
    }
}

impl Drop for TlsLink {
    /// Tells the peer the session ends (`close_notify`), if the socket takes it now.
    fn drop(&mut self) {
        if !self.shut {
            self.tls.get_mut().1.send_close_notify();
            let _ = self.flush_records(None);
        }
    }
}

impl AsyncRead for TlsLink {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsLink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tls).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tls).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.tls).poll_close(cx);
        if r.is_ready() {
            this.shut = true;
        }
        r
    }
}

/// The socket as `io::Write` for rustls: a non-blocking vectored `sendmsg`; when the socket is
/// full, one send through the runtime that registers the task for writability (with a
/// context) and `WouldBlock`.
struct SocketWriter<'a, 'b> {
    stream: &'a mut TcpStream,
    cx: Option<&'a mut Context<'b>>,
}

impl Write for SocketWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match sendmsg::send_slices(self.stream.as_raw_fd(), bufs) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let (Some(cx), Some(first)) =
                        (self.cx.as_deref_mut(), bufs.iter().find(|b| !b.is_empty()))
                    else {
                        return Err(e);
                    };
                    return match Pin::new(&mut *self.stream).poll_write(cx, first) {
                        Poll::Ready(r) => r,
                        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
