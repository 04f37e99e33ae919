//! Parsing of one HTTP/1.1 request head into an owned [`RequestHead`].

use thiserror::Error;

/// Most header lines a request may carry.
const MAX_HEADERS: usize = 64;

/// An HTTP request line and headers, owned.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    /// Method, as sent (`GET`, `POST`, …).
    pub method: String,
    /// Path without the query string, exactly as received (not percent-decoded).
    pub path: String,
    /// Raw query string after `?` (empty when none).
    pub query: String,
    /// Minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Headers in order; names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RequestHead {
    /// First value of header `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Header value as trimmed UTF-8 text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// Whether a comma-separated header (e.g. `Connection`) contains `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Length of the body that follows the head (0: none), or why its framing is refused:
    /// the whole framing decision (RFC 9112 §6), see [`super::framing`].
    pub fn content_length(&self) -> Result<usize, HeadError> {
        super::framing::content_length(&self.headers)
    }

    /// Whether the client wants the connection kept open after the response.
    pub fn keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            return false;
        }
        self.version >= 1 || self.header_has_token("connection", "keep-alive")
    }

    /// Value of query parameter `key` (first occurrence, not percent-decoded).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        query_pairs(&self.query)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

/// Splits a raw query string into `(key, value)` pairs; a bare key has an empty value.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Why a request head could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeadError {
    /// The bytes are not a valid HTTP/1.x request head.
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
    /// More header lines than allowed.
    #[error("too many headers")]
    TooManyHeaders,
    /// `Content-Length` is not one or more digits (a sign, a list, empty, too large).
    #[error("invalid Content-Length: one number of plain digits is required")]
    BadContentLength,
    /// More than one `Content-Length` header.
    #[error("ambiguous framing: more than one Content-Length header")]
    DuplicateContentLength,
    /// `Transfer-Encoding` and `Content-Length` together.
    #[error("ambiguous framing: Transfer-Encoding together with Content-Length")]
    LengthWithTransferEncoding,
    /// A `Transfer-Encoding` other than one `chunked`.
    #[error("unsupported Transfer-Encoding: only a lone chunked is understood")]
    BadTransferEncoding,
    /// A lone `Transfer-Encoding: chunked`: understood, not supported.
    #[error("chunked bodies are not supported; send Content-Length")]
    ChunkedBody,
}

/// Parses a request head from `buf`. `Ok(None)`: incomplete, read more. `Ok(Some((head, n)))`:
/// the head took the first `n` bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let head = RequestHead {
        method: req.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version: req.version.unwrap_or(1),
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
    };
    Ok(Some((head, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_complete_head_with_query() {
        let raw = b"GET /app/key?protocol=7&client=js HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\r\nrest";
        let (head, n) = parse_head(raw).unwrap().unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/app/key");
        assert_eq!(head.query_param("protocol"), Some("7"));
        assert!(head.header_has_token("connection", "upgrade"));
        assert_eq!(&raw[n..], b"rest");
    }

    #[test]
    fn partial_head_asks_for_more() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost:").unwrap().map(|x| x.1),
            None
        );
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            parse_head(b"\x00\x01\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
    }
}
