//! Rendering of small HTTP/1.1 responses.

/// A complete response, ready to write.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// `Retry-After` header value in seconds, if any (429 responses).
    pub retry_after: Option<u32>,
    /// `X-Corecast-Partial` header value, if any: a cluster-wide count lacks these nodes'
    /// shares (`unavailable`: Redis could not be reached).
    pub partial: Option<String>,
}

impl Response {
    /// Serializes status line, headers and body; `keep_alive` picks the `Connection` header.
    pub fn to_bytes(&self, keep_alive: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        self.append_to(&mut out, keep_alive);
        out
    }

    /// Appends the serialized response to `out` (responses to pipelined requests share one
    /// buffer).
    pub fn append_to(&self, out: &mut Vec<u8>, keep_alive: bool) {
        out.reserve(128 + self.body.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(self.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        if let Some(secs) = self.retry_after {
            out.extend_from_slice(b"\r\nRetry-After: ");
            out.extend_from_slice(secs.to_string().as_bytes());
        }
        if let Some(partial) = &self.partial {
            out.extend_from_slice(b"\r\nX-Corecast-Partial: ");
            out.extend_from_slice(partial.as_bytes());
        }
        out.extend_from_slice(if keep_alive {
            b"\r\nConnection: keep-alive\r\n\r\n".as_slice()
        } else {
            b"\r\nConnection: close\r\n\r\n".as_slice()
        });
        out.extend_from_slice(&self.body);
    }
}

/// A JSON response with the given status.
pub fn json_response(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response {
        status,
        body: body.into(),
        content_type: "application/json",
        retry_after: None,
        partial: None,
    }
}

/// Standard reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}
