//! Client → server messages: one JSON text frame becomes one [`ClientMessage`].

use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use super::flavour::Flavour;

/// A parsed client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `pusher:ping`.
    Ping,
    /// `pusher:pong`.
    Pong,
    /// `pusher:subscribe`.
    Subscribe(SubscribeRequest),
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// Channel to leave.
        channel: String,
    },
    /// `pusher:signin`.
    Signin {
        /// `key:signature`.
        auth: String,
        /// The exact `user_data` string that was signed.
        user_data: String,
    },
    /// A `client-*` event (or any other non-`pusher:` event, which the caller rejects).
    ClientEvent {
        /// Event name.
        event: String,
        /// Target channel, if given.
        channel: Option<String>,
        /// `data` as the JSON string to relay: a string as sent, any other value compacted.
        data: String,
    },
    /// An unknown `pusher:` / `pusher_internal:` event: ignored.
    Ignored,
}

/// `pusher:subscribe` data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct SubscribeRequest {
    /// Channel name.
    pub channel: String,
    /// `key:signature`, for private and presence channels.
    #[serde(default)]
    pub auth: Option<String>,
    /// Presence member data (the exact signed string).
    #[serde(default)]
    pub channel_data: Option<String>,
}

/// Why a message could not be understood; reported as `pusher:error` with a null code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InboundError {
    /// Not JSON, or not an object with a string `event`.
    #[error("Invalid message: expected a JSON object with a string \"event\" ({0})")]
    Malformed(String),
    /// `data` of a `pusher:` event is missing or has the wrong shape.
    #[error("Invalid data for {event}: {reason}")]
    BadData {
        /// Event name.
        event: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ChannelOnly {
    channel: String,
}

#[derive(Deserialize)]
struct SigninData {
    auth: String,
    user_data: String,
}

/// Parses one text message from a Pusher-flavoured client.
pub fn parse(text: &[u8]) -> Result<ClientMessage, InboundError> {
    parse_as(text, Flavour::Pusher)
}

/// Parses one text message from a client of an app with the given flavour.
pub fn parse_as(text: &[u8], flavour: Flavour) -> Result<ClientMessage, InboundError> {
    if !is_object_text(text) {
        return Err(InboundError::Malformed("not a JSON object".into()));
    }
    let env: Envelope<'_> =
        serde_json::from_slice(text).map_err(|e| InboundError::Malformed(e.to_string()))?;
    let event = flavour.inbound(env.event.as_ref());
    let event = event.as_ref();
    match event {
        "pusher:ping" => Ok(ClientMessage::Ping),
        "pusher:pong" => Ok(ClientMessage::Pong),
        "pusher:subscribe" => {
            let req: SubscribeRequest = object_data(env.data, "pusher:subscribe")?;
            Ok(ClientMessage::Subscribe(req))
        }
        "pusher:unsubscribe" => {
            let req: ChannelOnly = object_data(env.data, "pusher:unsubscribe")?;
            Ok(ClientMessage::Unsubscribe {
                channel: req.channel,
            })
        }
        "pusher:signin" => {
            let req: SigninData = object_data(env.data, "pusher:signin")?;
            Ok(ClientMessage::Signin {
                auth: req.auth,
                user_data: req.user_data,
            })
        }
        e if e.starts_with("pusher:") || e.starts_with("pusher_internal:") => {
            Ok(ClientMessage::Ignored)
        }
        _ => Ok(ClientMessage::ClientEvent {
            event: event.to_string(),
            channel: env.channel,
            data: data_as_string(env.data),
        }),
    }
}

/// Decodes `data` as an object of type `T`; a JSON string holding the object is accepted too.
fn object_data<T: for<'de> Deserialize<'de>>(
    data: Option<&RawValue>,
    event: &'static str,
) -> Result<T, InboundError> {
    let bad = |reason| InboundError::BadData { event, reason };
    let raw = data.ok_or(bad("missing data"))?;
    if raw.get().starts_with('"') {
        let inner: String = serde_json::from_str(raw.get()).map_err(|_| bad("invalid data"))?;
        if !is_object_text(inner.as_bytes()) {
            return Err(bad("data string is not the expected object"));
        }
        return serde_json::from_str(&inner)
            .map_err(|_| bad("data string is not the expected object"));
    }
    if !is_object_text(raw.get().as_bytes()) {
        return Err(bad("data is not the expected object"));
    }
    serde_json::from_str(raw.get()).map_err(|_| bad("data is not the expected object"))
}

/// Whether JSON text starts as an object. serde would also read a JSON array into a struct's
/// fields in order, so `["pusher:ping"]` would otherwise pass as an envelope.
fn is_object_text(text: &[u8]) -> bool {
    text.trim_ascii_start().starts_with(b"{")
}

/// The relayable string form of a client event's `data` (see the protocol's rule 7.3).
fn data_as_string(data: Option<&RawValue>) -> String {
    let Some(raw) = data else {
        return String::new();
    };
    let text = raw.get();
    if text.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(text) {
            return s;
        }
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.to_string(),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_control_events() {
        assert_eq!(
            parse(br#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientMessage::Ping)
        );
        assert_eq!(
            parse(br#"{"event":"pusher:pong"}"#),
            Ok(ClientMessage::Pong)
        );
        assert_eq!(
            parse(br#"{"event":"pusher:whatever","data":1}"#),
            Ok(ClientMessage::Ignored)
        );
    }

    #[test]
    fn parses_subscribe_object_and_string_forms() {
        let want = ClientMessage::Subscribe(SubscribeRequest {
            channel: "presence-a".into(),
            auth: Some("k:s".into()),
            channel_data: Some("{\"user_id\":\"1\"}".into()),
        });
        let obj = br#"{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":\"1\"}"}}"#;
        assert_eq!(parse(obj), Ok(want.clone()));
        let s = br#"{"event":"pusher:subscribe","data":"{\"channel\":\"presence-a\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":\\\"1\\\"}\"}"}"#;
        assert_eq!(parse(s), Ok(want));
    }

    #[test]
    fn bad_subscribe_data_is_reported() {
        assert!(matches!(
            parse(br#"{"event":"pusher:subscribe"}"#),
            Err(InboundError::BadData { .. })
        ));
        assert!(matches!(
            parse(br#"{"event":"pusher:subscribe","data":{"chan":"x"}}"#),
            Err(InboundError::BadData { .. })
        ));
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            b"{}",
            br#"{"event":5}"#,
            b"\"x\"",
        ] {
            assert!(
                matches!(parse(bad), Err(InboundError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn arrays_are_not_messages() {
        // serde reads a sequence into a struct's fields in order; the protocol wants objects.
        for bad in [
            &br#"["pusher:ping"]"#[..],
            br#" ["client-a","private-x",{"x":1}]"#,
            br#"["]"]"#,
        ] {
            assert!(
                matches!(parse(bad), Err(InboundError::Malformed(_))),
                "{bad:?}"
            );
        }
        for bad in [
            &br#"{"event":"pusher:subscribe","data":["private-x","k:s"]}"#[..],
            br#"{"event":"pusher:subscribe","data":"[\"my-channel\"]"}"#,
            br#"{"event":"pusher:unsubscribe","data":["my-channel"]}"#,
            br#"{"event":"pusher:signin","data":["k:s","{\"id\":\"1\"}"]}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(InboundError::BadData { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn client_event_data_becomes_a_string() {
        let m = parse(br#"{"event":"client-a","channel":"private-x","data":{ "user" : "Al" }}"#);
        assert_eq!(
            m,
            Ok(ClientMessage::ClientEvent {
                event: "client-a".into(),
                channel: Some("private-x".into()),
                data: r#"{"user":"Al"}"#.into()
            })
        );
        let m = parse(br#"{"event":"client-a","channel":"private-x","data":"raw \"text\""}"#);
        let Ok(ClientMessage::ClientEvent { data, .. }) = m else {
            panic!()
        };
        assert_eq!(data, "raw \"text\"");
    }
}
