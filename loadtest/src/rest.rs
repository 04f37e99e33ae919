//! Signed REST publishing over one keep-alive HTTP/1.1 connection, re-opened when the server
//! closes it or answers `Connection: close`.

use crate::net::Connector;
use crate::sign;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

/// Result of one publish request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 200.
    Accepted,
    /// Any other HTTP status.
    Status(u16),
    /// Connection-level failure (label for the report).
    Failed(String),
}

impl Outcome {
    pub fn reason(&self) -> String {
        match self {
            Outcome::Accepted => "ok".into(),
            Outcome::Status(s) => format!("http_{s}"),
            Outcome::Failed(r) => r.clone(),
        }
    }
}

/// Body of `POST /apps/{id}/events` for one channel.
pub fn event_body(name: &str, channel: &str, data: &str) -> String {
    json!({ "name": name, "channels": [channel], "data": data }).to_string()
}

/// Path of `POST /apps/{id}/events` on the target.
pub fn events_path(connector: &Connector, app_id: &str) -> String {
    format!("{}/apps/{}/events", connector.target.prefix, app_id)
}

/// `path?query` of a `POST` of `body` to `path`, signed now as the official SDKs do.
pub fn signed_post_target(connector: &Connector, path: &str, body: &str) -> String {
    let query = sign::signed_query(
        "POST",
        path,
        &connector.key,
        &connector.secret,
        sign::unix_now(),
        body.as_bytes(),
        &[],
    );
    format!("{path}?{query}")
}

/// Whether a `Connection` header value asks to close the connection.
pub fn wants_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|tok| tok.trim_ascii().eq_ignore_ascii_case(b"close"))
}

pub struct RestClient {
    connector: Arc<Connector>,
    path: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    request_timeout: Duration,
    /// HTTP connections opened so far.
    pub connections_opened: u64,
}

impl RestClient {
    pub fn new(connector: Arc<Connector>, app_id: &str, request_timeout: Duration) -> Self {
        let path = events_path(&connector, app_id);
        Self {
            connector,
            path,
            sender: None,
            request_timeout,
            connections_opened: 0,
        }
    }

    async fn ready_sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        let sender = match self.sender.take() {
            Some(s) => s,
            None => {
                let stream = self.connector.stream().await.map_err(|e| e.reason())?;
                let (s, conn) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("http_handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                self.connections_opened += 1;
                s
            }
        };
        let sender = self.sender.insert(sender);
        if sender.ready().await.is_err() {
            self.sender = None;
            return Err("http_connection_closed".into());
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "http_connection_closed".to_string())
    }

    /// Publishes one pre-built JSON body.
    pub async fn publish(&mut self, body: String) -> Outcome {
        match timeout(self.request_timeout, self.publish_inner(body)).await {
            Ok(o) => o,
            Err(_) => {
                // The connection state is unknown after a timeout.
                self.sender = None;
                Outcome::Failed("http_timeout".into())
            }
        }
    }

    async fn publish_inner(&mut self, body: String) -> Outcome {
        let request = Request::post(signed_post_target(&self.connector, &self.path, &body))
            .header(HOST, self.connector.target.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("bad_request: {e}")),
        };
        let sender = match self.ready_sender().await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e),
        };
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(_) => {
                self.sender = None;
                return Outcome::Failed("http_connection_error".into());
            }
        };
        let close = response
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| wants_close(v.as_bytes()));
        let status = response.status().as_u16();
        let body_ok = response.into_body().collect().await.is_ok();
        if close || !body_ok {
            self.sender = None;
        }
        if status == 200 {
            Outcome::Accepted
        } else {
            Outcome::Status(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&event_body("loadtest", "loadtest-3", "lt:1:2:3:x"))
                .expect("json");
        assert_eq!(v["name"], "loadtest");
        assert_eq!(v["channels"][0], "loadtest-3");
        assert_eq!(v["data"], "lt:1:2:3:x");
    }

    #[test]
    fn connection_close_detection() {
        assert!(wants_close(b"close"));
        assert!(wants_close(b"Close"));
        assert!(wants_close(b"keep-alive, close"));
        assert!(!wants_close(b"keep-alive"));
        assert!(!wants_close(b"closed"));
    }
}
