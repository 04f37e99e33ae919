//! Reading one HTTP request head from a socket, bounded in size and in total time: a head that
//! trickles in byte by byte is cut off at its deadline like one that never comes.

use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt};
use glommio::GlommioError;

use crate::api::ApiError;
use crate::http::{parse_head, RequestHead};

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Bytes asked for by a connection's first read: an upgrade request with a few cookies.
const FIRST_READ: usize = 2048;

/// How long reading one head may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadTimeouts {
    /// Longest wait for the head's first byte (an idle keep-alive connection). `None`: the
    /// head's clock starts at once, as on a new connection.
    pub idle: Option<Duration>,
    /// Longest the whole head may take, from its first byte (or from the start, see `idle`).
    pub head: Duration,
}

impl HeadTimeouts {
    /// When reading must end, for a read that started at `start` and whose first byte (if
    /// any has come) arrived at `first_byte`.
    fn deadline(&self, start: Instant, first_byte: Option<Instant>) -> Instant {
        match (self.idle, first_byte) {
            (None, _) => start + self.head,
            (Some(idle), None) => start + idle,
            (Some(_), Some(at)) => at + self.head,
        }
    }
}

/// What reading a head produced.
pub enum HeadOutcome {
    /// A head, and the buffer holding the bytes read after it.
    Head(RequestHead, Vec<u8>),
    /// The peer closed, or sent nothing before the deadline.
    Closed,
    /// A response to send before closing (malformed, oversized or late head).
    Refused(Vec<u8>),
}

fn refused(e: ApiError) -> HeadOutcome {
    HeadOutcome::Refused(e.response().to_bytes(false))
}

/// Reads until a complete head is in `buf` (which may already hold bytes), within `timeouts`.
/// A head that was started but is not complete by its deadline gets `408`.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut buf: Vec<u8>,
    timeouts: HeadTimeouts,
) -> HeadOutcome {
    let mut filled = buf.len();
    let start = Instant::now();
    let mut first_byte = (filled > 0).then_some(start);
    loop {
        if filled > 0 {
            match parse_head(&buf[..filled]) {
                Ok(Some((head, n))) => {
                    // The bytes after the head stay in the same buffer, which keeps its
                    // capacity for the connection's next read.
                    buf.truncate(filled);
                    buf.drain(..n);
                    return HeadOutcome::Head(head, buf);
                }
                Ok(None) => {}
                Err(e) => return refused(ApiError::from(e)),
            }
        }
        if filled >= MAX_HEAD {
            return refused(ApiError::HeadTooLarge("Request head too large".into()));
        }
        if buf.len() < filled + 1024 {
            // A new connection's first read is sized for one upgrade request (the buffer is
            // freed once the connection is upgraded); later reads make room for several
            // pipelined requests.
            let want = if filled == 0 && buf.capacity() < FIRST_READ {
                FIRST_READ
            } else {
                filled + 8192
            };
            buf.resize(want.min(MAX_HEAD), 0);
        }
        let left = timeouts
            .deadline(start, first_byte)
            .saturating_duration_since(Instant::now());
        let read = glommio::timer::timeout(left, async {
            stream
                .read(&mut buf[filled..])
                .await
                .map_err(GlommioError::from)
        })
        .await;
        match read {
            Ok(0) => return HeadOutcome::Closed,
            Ok(n) => {
                filled += n;
                first_byte.get_or_insert_with(Instant::now);
            }
            Err(GlommioError::TimedOut(_)) if filled > 0 => {
                return refused(ApiError::Timeout(
                    "Request head not received in time".into(),
                ))
            }
            Err(_) => return HeadOutcome::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_connection_has_one_deadline_for_its_whole_head() {
        let t = HeadTimeouts {
            idle: None,
            head: Duration::from_secs(10),
        };
        let start = Instant::now();
        let late_byte = start + Duration::from_secs(9);
        assert_eq!(t.deadline(start, None), start + t.head);
        assert_eq!(t.deadline(start, Some(late_byte)), start + t.head);
    }

    #[test]
    fn a_keep_alive_connection_waits_idle_then_gives_the_head_its_own_time() {
        let t = HeadTimeouts {
            idle: Some(Duration::from_secs(60)),
            head: Duration::from_secs(10),
        };
        let start = Instant::now();
        assert_eq!(t.deadline(start, None), start + Duration::from_secs(60));
        let first = start + Duration::from_secs(30);
        assert_eq!(t.deadline(start, Some(first)), first + t.head);
    }
}
