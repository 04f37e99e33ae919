//! Event-name flavours. A Pusher app speaks `pusher:` / `pusher_internal:`; a Broadcastt app
//! speaks `broadcastt:` / `broadcastt_internal:` and wants every outbound `data` as a string.
//! Applied where events are parsed and serialized; nothing else in the engine knows.

use std::borrow::Cow;

use serde::Deserialize;

/// The protocol dialect of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// Pusher Channels (`pusher:` events).
    #[default]
    Pusher,
    /// Broadcastt (`broadcastt:` events, string `data`).
    Broadcastt,
}

impl std::str::FromStr for Flavour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pusher" => Ok(Flavour::Pusher),
            "broadcastt" => Ok(Flavour::Broadcastt),
            other => Err(format!(
                "unknown event prefix {other:?} (expected pusher or broadcastt)"
            )),
        }
    }
}

impl Flavour {
    /// An inbound event name in Pusher terms (`broadcastt:subscribe` → `pusher:subscribe`).
    pub fn inbound<'a>(self, event: &'a str) -> Cow<'a, str> {
        if self == Flavour::Pusher {
            return Cow::Borrowed(event);
        }
        if let Some(rest) = event.strip_prefix("broadcastt_internal:") {
            Cow::Owned(format!("pusher_internal:{rest}"))
        } else if let Some(rest) = event.strip_prefix("broadcastt:") {
            Cow::Owned(format!("pusher:{rest}"))
        } else if event.starts_with("pusher:") || event.starts_with("pusher_internal:") {
            // Pusher names mean nothing to a Broadcastt app: keep them out of the protocol.
            Cow::Owned(format!("x-{event}"))
        } else {
            Cow::Borrowed(event)
        }
    }

    /// An outbound JSON event rendered in Pusher terms, rewritten for this flavour.
    pub fn outbound(self, json: String) -> String {
        if self == Flavour::Pusher {
            return json;
        }
        let Ok(serde_json::Value::Object(mut map)) =
            serde_json::from_str::<serde_json::Value>(&json)
        else {
            return json;
        };
        if let Some(serde_json::Value::String(event)) = map.get_mut("event") {
            if let Some(rest) = event.strip_prefix("pusher_internal:") {
                *event = format!("broadcastt_internal:{rest}");
            } else if let Some(rest) = event.strip_prefix("pusher:") {
                *event = format!("broadcastt:{rest}");
            }
        }
        if let Some(data) = map.get_mut("data") {
            if !data.is_string() {
                *data = serde_json::Value::String(data.to_string());
            }
        }
        serde_json::Value::Object(map).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pusher_flavour_changes_nothing() {
        assert_eq!(Flavour::Pusher.inbound("pusher:ping"), "pusher:ping");
        let json = r#"{"event":"pusher:error","data":{"code":null}}"#.to_string();
        assert_eq!(Flavour::Pusher.outbound(json.clone()), json);
    }

    #[test]
    fn broadcastt_renames_and_stringifies() {
        let b = Flavour::Broadcastt;
        assert_eq!(b.inbound("broadcastt:subscribe"), "pusher:subscribe");
        assert_eq!(b.inbound("broadcastt_internal:x"), "pusher_internal:x");
        assert_eq!(b.inbound("client-typing"), "client-typing");
        assert_eq!(b.inbound("pusher:subscribe"), "x-pusher:subscribe");
        assert_eq!(
            b.outbound(r#"{"event":"pusher:error","data":{"code":4001,"message":"m"}}"#.into()),
            r#"{"event":"broadcastt:error","data":"{\"code\":4001,\"message\":\"m\"}"}"#
        );
        assert_eq!(
            b.outbound(
                r#"{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}"}"#
                    .into()
            ),
            r#"{"event":"broadcastt_internal:subscription_succeeded","channel":"c","data":"{}"}"#
        );
        assert_eq!("broadcastt".parse::<Flavour>(), Ok(Flavour::Broadcastt));
        assert!("other".parse::<Flavour>().is_err());
    }
}
