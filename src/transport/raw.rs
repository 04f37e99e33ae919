//! A PieSocket-style raw channel connection (`/v3/{channel_id}?api_key=KEY`): checks made after
//! the upgrade (app, origin, quotas, channel id, JWT on `private-` ids or on every id of an app
//! with `raw_require_jwt`), the implicit subscription to the one channel the URL names, then
//! the connection loop with a handler that relays every data message verbatim (same bytes,
//! same opcode) to the channel's other members — or to all of them with `notify_self`.
//!
//! Raw channels live in the shard's subscriber tables under an internal name
//! ([`raw::internal_name`]) and fan out through the same publish path as Pusher channels. A
//! connection joins after a barrier round trip through the bus, and the upgrade response is
//! sent only then: from the client's `open` on, it receives every message published after it
//! joined, and none published before.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::io;
use super::link::Link;
use crate::auth::raw::verify_jwt;
use crate::http::RequestHead;
use crate::protocol::raw::{self, RawQuery, RawRefusal, RATE_LIMIT_MESSAGE};
use crate::protocol::SocketId;
use crate::shard::{ConnKey, ConnKind, Shard};
use crate::ws::frame::{self, Incoming};

/// Shortest interval between two rate-limit error messages to one connection.
const RATE_WARNING_INTERVAL: Duration = Duration::from_secs(1);

/// What an admitted raw connection joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// App index.
    pub app: u32,
    /// Internal name of the raw channel.
    pub channel: String,
    /// Whether the sender receives its own messages.
    pub notify_self: bool,
    /// Whether the connection wants member events (`presence=1`).
    pub presence: bool,
    /// The member's `user` as JSON.
    pub user_json: String,
    /// The client's `uuid`, if it gave a valid one.
    pub uuid: Option<String>,
}

/// Checks a raw upgrade request at Unix time `now`: app key (4001), app state (4003), origin
/// (4009), quotas (4004, 4100), channel id (4005), JWT for `private-` ids or for every id of an
/// app with `raw_require_jwt` (4009), in that order.
pub fn admit(shard: &Shard, head: &RequestHead, now: u64) -> Result<Admission, RawRefusal> {
    let query = RawQuery::parse(&head.query);
    let app = query
        .api_key
        .and_then(|k| shard.config.app_by_key(k))
        .ok_or(RawRefusal::UnknownKey)?;
    if !app.enabled {
        return Err(RawRefusal::AppDisabled);
    }
    if !app.allowed_origins.allows_header(head.header("origin")) {
        return Err(RawRefusal::OriginNotAllowed);
    }
    shard.room_for(app).map_err(RawRefusal::from_capacity)?;
    let id = raw::channel_id_from_path(&head.path)?;
    let mut jwt_user = None;
    if app.raw_require_jwt || raw::is_private(id) {
        let token = query
            .jwt
            .or_else(|| head.header_str("jwt").filter(|t| !t.is_empty()))
            .ok_or(RawRefusal::AuthFailed)?;
        let claims = verify_jwt(token, &app.secret, id, now).map_err(|_| RawRefusal::AuthFailed)?;
        jwt_user = claims.user;
    }
    Ok(Admission {
        app: app.index,
        channel: raw::internal_name(id),
        notify_self: query.notify_self,
        presence: query.presence,
        user_json: raw::member_user(jwt_user.as_ref(), query.user),
        uuid: query.uuid.map(str::to_string),
    })
}

/// Runs a raw connection whose upgrade `response` is ready to send.
pub async fn run<L: Link>(
    shard: Rc<Shard>,
    mut stream: L,
    head: RequestHead,
    response: Vec<u8>,
    leftover: Vec<u8>,
) {
    let admission = match admit(&shard, &head, crate::auth::now_unix()) {
        Ok(a) => a,
        Err(refusal) => return refuse(&mut stream, response, refusal).await,
    };
    // Join barrier: one round trip to every other shard. Each shard answers only after the
    // frames it published earlier are queued towards this shard, so they are all delivered
    // before this connection joins: a member never receives messages sent before it joined.
    shard.sync_all().await;
    let (key, socket_id) = shard.register(admission.app, ConnKind::Raw);
    let rate = shard.app(admission.app).raw_max_messages_per_second;
    let listeners = raw::presence_listeners(&admission.channel);
    if let Some(conn) = shard.conns.borrow_mut().get_mut(key) {
        // A full bucket: a client may send a burst of `rate` messages right after connecting.
        conn.tokens = (rate as f32, Instant::now());
        conn.add_channel(&admission.channel);
        if admission.presence {
            conn.add_channel(&listeners);
        }
    }
    shard.add_local(admission.app, &admission.channel, key);
    if admission.presence {
        shard.add_local(admission.app, &listeners, key);
    }
    shard.send(key, Bytes::from(response));
    // Every connection is a member of its channel; the owner shard keeps the list.
    let uuid = admission
        .uuid
        .clone()
        .unwrap_or_else(|| socket_id.to_string());
    let member = raw::member(&uuid, &admission.user_json);
    shard.presence_join(admission.app, &admission.channel, socket_id, member);
    let mut relay = Relay {
        app: admission.app,
        channel: admission.channel,
        except: (!admission.notify_self).then_some(socket_id),
        rate,
        warned_at: None,
    };
    let max = shard.config.settings.raw_max_message_kb as usize * 1024;
    let handler = Box::new(move |shard: &Rc<Shard>, key: ConnKey, msg: Incoming<'_>| {
        relay.on_message(shard, key, msg)
    });
    io::run_ws(shard, stream, key, max, leftover, handler);
}

/// Completes the upgrade, then sends `{"error":…}` and a close frame with the refusal's code.
async fn refuse<L: Link>(stream: &mut L, mut response: Vec<u8>, refusal: RawRefusal) {
    let message = refusal.to_string();
    response.extend_from_slice(&frame::text_frame(raw::error_json(&message).as_bytes()));
    response.extend_from_slice(&frame::close_frame(refusal.close_code().code(), &message));
    io::send_and_linger(stream, &response).await;
}

/// Per-connection state of the raw message handler.
struct Relay {
    app: u32,
    /// Internal channel name.
    channel: String,
    /// The sender's own socket, unless `notify_self`.
    except: Option<SocketId>,
    /// Messages per second allowed (0: unlimited).
    rate: u32,
    /// When the last rate-limit error was sent.
    warned_at: Option<Instant>,
}

impl Relay {
    fn on_message(&mut self, shard: &Rc<Shard>, key: ConnKey, msg: Incoming<'_>) {
        let frame = match msg {
            Incoming::Text(text) => frame::text_frame(text),
            Incoming::Binary(bytes) => frame::binary_frame(bytes),
            Incoming::Ping(payload) => return shard.send(key, frame::pong_frame(payload)),
            Incoming::Pong(_) => return,
            Incoming::Close(info) => {
                return shard.close_ws(key, info.map_or(1000, |c| c.code), "");
            }
        };
        if self.allowed(shard, key) {
            shard.publish(self.app, &self.channel, frame, self.except);
        }
    }

    /// Takes a rate-limit token; over the limit, warns the client at most once a second.
    fn allowed(&mut self, shard: &Shard, key: ConnKey) -> bool {
        if self.rate == 0 {
            return true;
        }
        let now = Instant::now();
        let allowed = shard
            .conns
            .borrow_mut()
            .get_mut(key)
            .is_some_and(|c| c.take_token(self.rate, now));
        if !allowed
            && self
                .warned_at
                .is_none_or(|t| now.saturating_duration_since(t) >= RATE_WARNING_INTERVAL)
        {
            self.warned_at = Some(now);
            shard.send_text(key, &raw::error_json(RATE_LIMIT_MESSAGE));
        }
        allowed
    }
}
