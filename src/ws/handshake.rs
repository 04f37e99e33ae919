//! The server side of the WebSocket opening handshake (RFC 6455 §4.2): validation of the
//! client's upgrade request, the `101 Switching Protocols` response, and the error responses
//! for refused upgrades. No extensions (e.g. permessage-deflate) or subprotocols are ever
//! negotiated.

use crate::http::RequestHead;
use thiserror::Error;
use tungstenite::handshake::derive_accept_key;

/// The only protocol version this server speaks, as a response header line for `426` replies.
pub const VERSION_HEADER: &str = "Sec-WebSocket-Version: 13";

/// Why an upgrade request was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The method is not `GET`.
    #[error("WebSocket upgrade requires GET")]
    NotGet,
    /// The request is older than HTTP/1.1.
    #[error("WebSocket upgrade requires HTTP/1.1")]
    OldHttp,
    /// No `Host` header.
    #[error("missing Host header")]
    MissingHost,
    /// `Upgrade: websocket` or `Connection: upgrade` is missing.
    #[error("not a WebSocket upgrade request")]
    NotUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13.
    #[error("unsupported WebSocket version (13 required)")]
    BadVersion,
    /// No `Sec-WebSocket-Key` header.
    #[error("missing Sec-WebSocket-Key")]
    MissingKey,
    /// `Sec-WebSocket-Key` is not the base64 encoding of 16 bytes.
    #[error("invalid Sec-WebSocket-Key")]
    BadKey,
}

impl HandshakeError {
    /// HTTP status of the refusal: `426 Upgrade Required` for a bad version, else `400`.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::BadVersion => 426,
            _ => 400,
        }
    }

    /// Extra response header line the refusal must carry, if any ([`VERSION_HEADER`] for 426).
    pub fn extra_header(&self) -> Option<&'static str> {
        match self {
            HandshakeError::BadVersion => Some(VERSION_HEADER),
            _ => None,
        }
    }

    /// A complete plain-text refusal response that closes the connection.
    pub fn response(&self) -> Vec<u8> {
        let status = self.status();
        let reason = if status == 426 {
            "Upgrade Required"
        } else {
            "Bad Request"
        };
        let body = self.to_string();
        let mut extra = String::new();
        if let Some(line) = self.extra_header() {
            extra = format!("{line}\r\n");
        }
        format!(
            "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// Whether the request asks for a WebSocket upgrade at all (`Upgrade: websocket`, any case).
pub fn is_upgrade(req: &RequestHead) -> bool {
    req.header_has_token("upgrade", "websocket")
}

/// Validates the upgrade request (RFC 6455 §4.2.1) and returns the complete
/// `101 Switching Protocols` response bytes.
///
/// Never negotiates extensions (permessage-deflate is refused by not echoing it) or
/// subprotocols.
pub fn accept(req: &RequestHead) -> Result<Vec<u8>, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::NotGet);
    }
    if req.version < 1 {
        return Err(HandshakeError::OldHttp);
    }
    if req.header("host").is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !is_upgrade(req) || !req.header_has_token("connection", "upgrade") {
        return Err(HandshakeError::NotUpgrade);
    }
    if req.header_str("sec-websocket-version") != Some("13") {
        return Err(HandshakeError::BadVersion);
    }
    let key = req
        .header_str("sec-websocket-key")
        .ok_or(HandshakeError::MissingKey)?;
    if !is_valid_key(key) {
        return Err(HandshakeError::BadKey);
    }
    let accept = derive_accept_key(key.as_bytes());
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes())
}

/// Whether `key` has the shape of 16 base64-encoded bytes: 22 alphabet characters then `==`.
fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    const GOOD: &str = "GET /app/key?protocol=7 HTTP/1.1\r\nHost: example.com\r\n\
        Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
        Sec-WebSocket-Protocol: chat\r\n\r\n";

    fn head(raw: &str) -> RequestHead {
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    /// The good request with `from` replaced by `to`.
    fn accept_edited(from: &str, to: &str) -> Result<Vec<u8>, HandshakeError> {
        assert!(GOOD.contains(from), "{from}");
        accept(&head(&GOOD.replacen(from, to, 1)))
    }

    #[test]
    fn accepts_rfc_example_key() {
        let response = String::from_utf8(accept(&head(GOOD)).unwrap()).unwrap();
        assert_eq!(
            response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        assert!(!response.to_ascii_lowercase().contains("extensions"));
        assert!(!response.to_ascii_lowercase().contains("protocol:"));
    }

    #[test]
    fn header_names_and_tokens_are_case_insensitive() {
        let raw = GOOD
            .replace("Upgrade: websocket", "UPGRADE: WebSocket")
            .replace("Connection: keep-alive, Upgrade", "connection: upgrade");
        assert!(accept(&head(&raw)).is_ok());
        assert!(is_upgrade(&head(&raw)));
    }

    #[test]
    fn is_upgrade_needs_the_upgrade_header() {
        assert!(is_upgrade(&head(GOOD)));
        assert!(!is_upgrade(&head("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
        assert!(!is_upgrade(&head("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n")));
    }

    #[test]
    fn each_error() {
        use HandshakeError::*;
        assert_eq!(accept_edited("GET", "POST"), Err(NotGet));
        assert_eq!(accept_edited("HTTP/1.1", "HTTP/1.0"), Err(OldHttp));
        assert_eq!(accept_edited("Host: example.com\r\n", ""), Err(MissingHost));
        assert_eq!(accept_edited("Upgrade: websocket\r\n", ""), Err(NotUpgrade));
        assert_eq!(
            accept_edited("Upgrade: websocket", "Upgrade: h2c"),
            Err(NotUpgrade)
        );
        assert_eq!(
            accept_edited("Connection: keep-alive, Upgrade", "Connection: keep-alive"),
            Err(NotUpgrade)
        );
        assert_eq!(accept_edited("Version: 13", "Version: 8"), Err(BadVersion));
        assert_eq!(
            accept_edited("Sec-WebSocket-Version: 13\r\n", ""),
            Err(BadVersion)
        );
        assert_eq!(
            accept_edited("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            Err(MissingKey)
        );
        for bad in [
            "abc",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25j!Q==",
            "dGhlIHNhbXBsZSBub25jZQAA",
        ] {
            assert_eq!(
                accept_edited("dGhlIHNhbXBsZSBub25jZQ==", bad),
                Err(BadKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn statuses_and_refusal_responses() {
        assert_eq!(HandshakeError::BadVersion.status(), 426);
        for e in [
            HandshakeError::NotGet,
            HandshakeError::NotUpgrade,
            HandshakeError::MissingKey,
        ] {
            assert_eq!(e.status(), 400);
            assert_eq!(e.extra_header(), None);
        }
        let r = String::from_utf8(HandshakeError::BadVersion.response()).unwrap();
        assert!(r.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(r.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        let r = String::from_utf8(HandshakeError::MissingKey.response()).unwrap();
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        let body = HandshakeError::MissingKey.to_string();
        assert!(r.ends_with(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )));
    }
}
