//! Turning a received `e` record into what the shards deliver, pure: the node frames each
//! record once and every shard shares that frame.

use std::sync::Arc;

use crate::bus::Broadcast;
use crate::ws::frame;

use super::envelope::{Body, IncomingEvent};

/// The broadcast of a received event for app index `app`.
pub fn to_broadcast(e: &IncomingEvent<'_>, app: u32) -> Broadcast {
    let frame = match &e.body {
        Body::Event(json) => frame::text_frame(json.as_bytes()),
        Body::Text(text) => frame::text_frame(text.as_bytes()),
        Body::Binary(bytes) => frame::binary_frame(bytes),
    };
    let cache = match &e.body {
        Body::Event(json) if e.cached => Some(event_data(json)),
        _ => None,
    };
    Broadcast {
        app,
        channel: Arc::from(&*e.channel),
        frame,
        except: e.except,
        cache,
    }
}

/// The `data` of an event's JSON, as the cache keeps it: a JSON string's contents, any other
/// value as its JSON text, empty when absent.
fn event_data(json: &str) -> Arc<str> {
    #[derive(serde::Deserialize)]
    struct Data<'a> {
        #[serde(borrow, default)]
        data: Option<&'a serde_json::value::RawValue>,
    }
    let Some(raw) = serde_json::from_str::<Data<'_>>(json)
        .ok()
        .and_then(|d| d.data)
    else {
        return Arc::from("");
    };
    match serde_json::from_str::<String>(raw.get()) {
        Ok(s) => Arc::from(s),
        Err(_) => Arc::from(raw.get()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::envelope::frame_payload;
    use crate::ws::frame::opcode;

    fn event(body: Body<'_>, cached: bool) -> IncomingEvent<'_> {
        IncomingEvent {
            app: "app-id".into(),
            channel: "cache-x".into(),
            body,
            except: Some("1.2".parse().unwrap()),
            cached,
        }
    }

    #[test]
    fn frames_each_body_kind() {
        let json = r#"{"event":"e","channel":"cache-x","data":"{\"a\":1}"}"#;
        let b = to_broadcast(&event(Body::Event(json), true), 3);
        assert_eq!(b.app, 3);
        assert_eq!(&*b.channel, "cache-x");
        assert_eq!(b.except, Some("1.2".parse().unwrap()));
        assert_eq!(
            frame_payload(&b.frame),
            Some((opcode::TEXT, json.as_bytes()))
        );
        assert_eq!(b.cache.as_deref(), Some(r#"{"a":1}"#));
        let b = to_broadcast(&event(Body::Event(json), false), 0);
        assert!(b.cache.is_none());
        let b = to_broadcast(&event(Body::Text("hi".into()), true), 0);
        assert_eq!(frame_payload(&b.frame), Some((opcode::TEXT, &b"hi"[..])));
        assert!(b.cache.is_none(), "raw channels have no cache");
        let b = to_broadcast(&event(Body::Binary(vec![9]), false), 0);
        assert_eq!(frame_payload(&b.frame), Some((opcode::BINARY, &[9u8][..])));
    }

    #[test]
    fn cache_data_of_any_shape() {
        assert_eq!(&*event_data(r#"{"data":"x"}"#), "x");
        assert_eq!(&*event_data(r#"{"data":{"a":[1]}}"#), r#"{"a":[1]}"#);
        assert_eq!(&*event_data(r#"{"event":"e"}"#), "");
    }
}
