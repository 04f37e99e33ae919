//! REST errors: each variant is one HTTP status, rendered as `{"error": "…"}`. The transport's
//! own refusals (a head or body that cannot be read) use it too.

use thiserror::Error;

use crate::http::{json_response, HeadError, Response};

/// A refused REST request.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ApiError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("Method {0} not allowed on this route")]
    MethodNotAllowed(String),
    /// 408.
    #[error("{0}")]
    Timeout(String),
    /// 411.
    #[error("{0}")]
    LengthRequired(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
    /// 429: over the app's REST rate limit.
    #[error("{message}")]
    TooManyRequests {
        /// What was exceeded.
        message: String,
        /// Seconds to wait before retrying (`Retry-After`).
        retry_after: u32,
    },
    /// 431.
    #[error("{0}")]
    HeadTooLarge(String),
    /// 501.
    #[error("{0}")]
    NotImplemented(String),
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Timeout(_) => 408,
            ApiError::LengthRequired(_) => 411,
            ApiError::TooLarge(_) => 413,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::HeadTooLarge(_) => 431,
            ApiError::NotImplemented(_) => 501,
        }
    }

    /// The JSON response (with `Retry-After` on a 429).
    pub fn response(&self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        let mut response = json_response(self.status(), body);
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            response.retry_after = Some(*retry_after);
        }
        response
    }
}

/// A request head the transport refuses: `411` for a chunked body (understood, not supported),
/// `400` for everything else (malformed, ambiguous framing).
impl From<HeadError> for ApiError {
    fn from(e: HeadError) -> Self {
        match e {
            HeadError::ChunkedBody => ApiError::LengthRequired(e.to_string()),
            e => ApiError::BadRequest(e.to_string()),
        }
    }
}
