//! The bytes of one POST: `{"time_ms":…,"events":[…]}` built once from events already
//! serialized, and the `X-Pusher-Signature` over exactly those bytes (HMAC-SHA256 with the
//! app secret, lowercase hex, as Pusher signs).

use crate::auth::hmac_sha256_hex;

/// The body of a webhook POST with `events` (each a serialized event object).
pub fn body<S: AsRef<str>>(time_ms: u64, events: &[S]) -> Vec<u8> {
    let len: usize = events.iter().map(|e| e.as_ref().len() + 1).sum();
    let mut out = Vec::with_capacity(len + 40);
    out.extend_from_slice(b"{\"time_ms\":");
    out.extend_from_slice(time_ms.to_string().as_bytes());
    out.extend_from_slice(b",\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e.as_ref().as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

/// `X-Pusher-Signature` of `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    hmac_sha256_hex(secret.as_bytes(), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::Event;

    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn vector_w1() {
        let e = Event::ChannelOccupied {
            channel: "my-channel".into(),
        };
        let b = body(1327078148132, &[e.to_json()]);
        assert_eq!(
            b,
            br#"{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"my-channel"}]}"#
        );
        assert_eq!(
            signature(SECRET, &b),
            "c19001ae3963ccb13bf618e5b16ba9848e7e74df0993aa0689168e341c6833cf"
        );
    }

    #[test]
    fn vector_w2_batched() {
        let events = [
            Event::MemberAdded {
                channel: "presence-foobar".into(),
                user_id: "12345".into(),
            }
            .to_json(),
            Event::ClientEvent {
                channel: "private-foobar".into(),
                event: "client-typing".into(),
                data: r#"{"t":1}"#.into(),
                socket_id: "1234.1234".into(),
                user_id: None,
            }
            .to_json(),
        ];
        let b = body(1327078148132, &events);
        assert_eq!(
            b,
            br#"{"time_ms":1327078148132,"events":[{"name":"member_added","channel":"presence-foobar","user_id":"12345"},{"name":"client_event","channel":"private-foobar","event":"client-typing","data":"{\"t\":1}","socket_id":"1234.1234"}]}"#
                .as_slice()
        );
        assert_eq!(
            signature(SECRET, &b),
            "c800ee96252eba034c0966767e55448fa099d68a5273f7784f5ee4a56a652df0"
        );
        let parsed: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(parsed["events"].as_array().map(Vec::len), Some(2));
    }
}
