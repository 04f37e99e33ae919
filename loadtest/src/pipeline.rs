//! Pipelined REST publishing: several signed requests written at once on one keep-alive
//! HTTP/1.1 connection, their responses read back in order (parsed with `httparse`).
//!
//! Requests a server leaves unanswered because it closed the connection (`Connection: close`,
//! as some servers answer every request) are sent again on a new connection; such a server
//! gets one request per connection from then on.

use crate::net::Connector;
use crate::rest::{events_path, signed_post_target, wants_close, Outcome};
use crate::tls::Stream;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Largest response head accepted.
const MAX_RESPONSE: usize = 64 * 1024;

/// One parsed response: status, whether the server closes after it, bytes it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub close: bool,
    /// Head and body length together.
    pub len: usize,
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not an HTTP/1.x response head.
    Malformed,
    /// A body without `Content-Length` (chunked or until close) is not supported.
    NoLength,
}

/// Parses the response at the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_response(buf: &[u8]) -> Result<Option<ResponseHead>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ParseError::Malformed),
    };
    let status = resp.code.ok_or(ParseError::Malformed)?;
    let mut close = resp.version == Some(0);
    let mut length = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| ParseError::Malformed)?;
            length = Some(
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| ParseError::Malformed)?,
            );
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = wants_close(h.value);
        }
    }
    let body = match length {
        Some(n) => n,
        None if status == 204 || status == 304 || (100..200).contains(&status) => 0,
        None => return Err(ParseError::NoLength),
    };
    if buf.len() < head_len + body {
        return Ok(None);
    }
    Ok(Some(ResponseHead {
        status,
        close,
        len: head_len + body,
    }))
}

pub struct PipelineClient {
    connector: Arc<Connector>,
    path: String,
    stream: Option<Stream>,
    buf: Vec<u8>,
    request_timeout: Duration,
    /// The server closed after a response: one request per connection from then on.
    one_per_connection: bool,
    /// HTTP connections opened so far.
    pub connections_opened: u64,
}

impl PipelineClient {
    pub fn new(connector: Arc<Connector>, app_id: &str, request_timeout: Duration) -> Self {
        let path = events_path(&connector, app_id);
        Self {
            connector,
            path,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
            request_timeout,
            one_per_connection: false,
            connections_opened: 0,
        }
    }

    /// One signed `POST …/events` request with `body`.
    fn request(&self, body: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n",
                signed_post_target(&self.connector, &self.path, body),
                self.connector.target.authority,
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body.as_bytes());
    }

    /// Publishes every body, pipelined, and returns their outcomes in order.
    pub async fn publish_all(&mut self, bodies: &[String]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(bodies.len());
        // Each round sends what is still unanswered; a round that answers nothing fails the
        // rest (the server keeps closing or refusing).
        while outcomes.len() < bodies.len() {
            let pending = &bodies[outcomes.len()..];
            let take = if self.one_per_connection {
                1
            } else {
                pending.len()
            };
            let before = outcomes.len();
            match timeout(
                self.request_timeout,
                self.round(&pending[..take], &mut outcomes),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => {
                    self.stream = None;
                    if outcomes.len() == before {
                        outcomes.extend(pending.iter().map(|_| Outcome::Failed(reason.clone())));
                    }
                }
                Err(_) => {
                    self.stream = None;
                    let n = bodies.len() - outcomes.len();
                    outcomes.extend((0..n).map(|_| Outcome::Failed("http_timeout".into())));
                }
            }
        }
        outcomes
    }

    /// Writes `bodies` as requests on the current connection and reads responses until all
    /// are answered or the server closes; appends one outcome per answered request.
    async fn round(
        &mut self,
        bodies: &[String],
        outcomes: &mut Vec<Outcome>,
    ) -> Result<(), String> {
        if self.stream.is_none() {
            let stream = self.connector.stream().await.map_err(|e| e.reason())?;
            self.connections_opened += 1;
            self.buf.clear();
            self.stream = Some(stream);
        }
        let mut wire = Vec::with_capacity(bodies.len() * 512);
        for b in bodies {
            self.request(b, &mut wire);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("http_connection_closed".into());
        };
        stream
            .write_all(&wire)
            .await
            .map_err(|_| "http_connection_error".to_string())?;
        let mut answered = 0;
        while answered < bodies.len() {
            match parse_response(&self.buf) {
                Ok(Some(head)) => {
                    self.buf.drain(..head.len);
                    answered += 1;
                    outcomes.push(if head.status == 200 {
                        Outcome::Accepted
                    } else {
                        Outcome::Status(head.status)
                    });
                    if head.close {
                        self.stream = None;
                        if answered < bodies.len() || bodies.len() == 1 {
                            self.one_per_connection = true;
                        }
                        return Ok(());
                    }
                    continue;
                }
                Ok(None) if self.buf.len() >= MAX_RESPONSE => {
                    return Err("http_response_too_large".into())
                }
                Ok(None) => {}
                Err(ParseError::Malformed) => return Err("http_bad_response".into()),
                Err(ParseError::NoLength) => return Err("http_response_without_length".into()),
            }
            let start = self.buf.len();
            self.buf.resize(start + 8192, 0);
            let n = stream.read(&mut self.buf[start..]).await;
            match n {
                Ok(n) if n > 0 => self.buf.truncate(start + n),
                _ => {
                    self.buf.truncate(start);
                    self.stream = None;
                    return if answered > 0 {
                        Ok(())
                    } else {
                        Err("http_connection_closed".into())
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pipelined_responses_one_at_a_time() {
        let two = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 413 Payload Too Large\r\nContent-Length: 13\r\nconnection: close\r\n\r\n{\"error\":\"x\"}";
        let first = parse_response(two).expect("ok").expect("complete");
        assert_eq!(
            first,
            ResponseHead {
                status: 200,
                close: false,
                len: 40
            }
        );
        let second = parse_response(&two[first.len..])
            .expect("ok")
            .expect("complete");
        assert_eq!((second.status, second.close), (413, true));
        assert_eq!(first.len + second.len, two.len());
    }

    #[test]
    fn incomplete_and_unsupported_responses() {
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-le"), Ok(None));
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}"),
            Ok(None)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
            Err(ParseError::NoLength)
        );
        assert_eq!(
            parse_response(b"SSH-2.0\r\n\r\n"),
            Err(ParseError::Malformed)
        );
        // HTTP/1.0 closes unless told otherwise.
        let old = parse_response(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").expect("ok");
        assert_eq!(old.map(|h| h.close), Some(true));
    }
}
