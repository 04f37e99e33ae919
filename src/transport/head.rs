//! Reading one HTTP request head from a socket, bounded in size and time.

use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt};

use crate::api::ApiError;
use crate::http::{parse_head, RequestHead};

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Bytes asked for by a connection's first read: an upgrade request with a few cookies.
const FIRST_READ: usize = 2048;
/// Time allowed for a request head to arrive.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// What reading a head produced.
pub enum HeadOutcome {
    /// A head, and the buffer holding the bytes read after it.
    Head(RequestHead, Vec<u8>),
    /// The peer closed (or went silent) before sending a head.
    Closed,
    /// A response to send before closing (malformed or oversized head).
    Refused(Vec<u8>),
}

fn refused(e: ApiError) -> HeadOutcome {
    HeadOutcome::Refused(e.response().to_bytes(false))
}

/// Reads until a complete head is in `buf` (which may already hold bytes).
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, mut buf: Vec<u8>) -> HeadOutcome {
    let mut filled = buf.len();
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
                Err(e) => return refused(ApiError::BadRequest(e.to_string())),
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
        let read = glommio::timer::timeout(HEAD_TIMEOUT, async {
            stream
                .read(&mut buf[filled..])
                .await
                .map_err(glommio::GlommioError::from)
        })
        .await;
        match read {
            Ok(0) | Err(_) => return HeadOutcome::Closed,
            Ok(n) => filled += n,
        }
    }
}
