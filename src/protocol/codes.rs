//! Close and error codes of the Pusher protocol (and the RFC 6455 ones corecast uses), with the
//! reason text sent in close frames. One table, one place.

/// A code sent in a `pusher:error` and/or a WebSocket close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: normal closure.
    Normal,
    /// 1009: message too big.
    MessageTooBig,
    /// 4000: the app only accepts TLS.
    TlsOnly,
    /// 4001: no app with this key.
    AppNotFound,
    /// 4003: the app is disabled.
    AppDisabled,
    /// 4004: the app's connection quota is reached.
    AppOverQuota,
    /// 4005: path not found.
    PathNotFound,
    /// 4006: `protocol` is not an integer.
    InvalidVersionFormat,
    /// 4007: unsupported protocol version.
    UnsupportedProtocol,
    /// 4008: no protocol version supplied.
    NoProtocol,
    /// 4009: connection is unauthorized.
    Unauthorized,
    /// 4100: over capacity (server cap or slow consumer).
    OverCapacity,
    /// 4200: reconnect immediately (shutdown).
    ReconnectNow,
    /// 4201: pong reply not received.
    PongTimeout,
}

impl CloseCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::MessageTooBig => 1009,
            CloseCode::TlsOnly => 4000,
            CloseCode::AppNotFound => 4001,
            CloseCode::AppDisabled => 4003,
            CloseCode::AppOverQuota => 4004,
            CloseCode::PathNotFound => 4005,
            CloseCode::InvalidVersionFormat => 4006,
            CloseCode::UnsupportedProtocol => 4007,
            CloseCode::NoProtocol => 4008,
            CloseCode::Unauthorized => 4009,
            CloseCode::OverCapacity => 4100,
            CloseCode::ReconnectNow => 4200,
            CloseCode::PongTimeout => 4201,
        }
    }

    /// Default human-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "Normal closure",
            CloseCode::MessageTooBig => "Message too big",
            CloseCode::TlsOnly => {
                "Application only accepts SSL connections, reconnect using wss://"
            }
            CloseCode::AppNotFound => "Application does not exist",
            CloseCode::AppDisabled => "Application disabled",
            CloseCode::AppOverQuota => "Application is over connection quota",
            CloseCode::PathNotFound => "Path not found",
            CloseCode::InvalidVersionFormat => "Invalid version string format",
            CloseCode::UnsupportedProtocol => "Unsupported protocol version",
            CloseCode::NoProtocol => "No protocol version supplied",
            CloseCode::Unauthorized => "Connection is unauthorized",
            CloseCode::OverCapacity => "Over capacity",
            CloseCode::ReconnectNow => "Generic reconnect immediately",
            CloseCode::PongTimeout => "Pong reply not received",
        }
    }

    /// Whether a `pusher:error` event precedes the close frame (all Pusher 4xxx codes).
    pub fn sends_pusher_error(self) -> bool {
        self.code() >= 4000
    }
}

/// `pusher:error` code for a rejected client event.
pub const CLIENT_EVENT_REJECTED: u16 = 4300;
/// `pusher:error` code for a client event over the rate limit.
pub const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;
/// `pusher:error` code for a truncated watchlist.
pub const WATCHLIST_LIMIT: u16 = 4302;

/// Message of the [`CloseCode::Unauthorized`] refusal of an upgrade whose `Origin` is not on
/// the app's allow-list (Pusher and raw surfaces).
pub const ORIGIN_NOT_ALLOWED: &str = "Origin not allowed";
/// Message of the [`CloseCode::Unauthorized`] close of a connection of an app with authorized
/// connections that neither signed in nor joined a private or presence channel in time.
pub const NOT_AUTHORIZED_IN_TIME: &str = "Connection not authorized within timeout.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_pusher_table() {
        assert_eq!(CloseCode::AppNotFound.code(), 4001);
        assert_eq!(CloseCode::AppDisabled.code(), 4003);
        assert_eq!(CloseCode::PongTimeout.code(), 4201);
        assert!(!CloseCode::MessageTooBig.sends_pusher_error());
        assert!(CloseCode::OverCapacity.sends_pusher_error());
        assert!(ORIGIN_NOT_ALLOWED.len() <= 123 && NOT_AUTHORIZED_IN_TIME.len() <= 123);
        for c in [
            CloseCode::TlsOnly,
            CloseCode::UnsupportedProtocol,
            CloseCode::ReconnectNow,
        ] {
            assert!(c.reason().len() <= 123);
        }
    }
}
