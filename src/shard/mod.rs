//! A shard: the state one core owns outright. Its connections, its local subscriber tables
//! (`channel → local connections`), and the fan-out of shared frames to them. Other shards are
//! reached only through the [`crate::bus`].

mod authorization;
mod cache;
mod channels;
pub mod conn;
pub mod hooks;
pub mod keepalive;
mod membership;
pub mod node_counts;
mod occupancy;
pub mod presence;
mod query;
pub mod session;
mod users;
mod watchlist;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use slab::Slab;

use crate::bus::{Broadcast, Bus, BusMessage};
use crate::config::{App, Config};
use crate::protocol::codes::CloseCode;
use crate::protocol::flavour::Flavour;
use crate::protocol::{outbound, SocketId};
use crate::rate_limit::{Refusals, RestWindows};
use crate::ws::frame;

pub use channels::Channels;
pub use conn::{Conn, ConnKind, ConnPhase, Queued};
pub use query::Queries;

/// Key of a connection in its shard's table.
pub type ConnKey = usize;

/// Counters shared by all shards, touched only on connect and disconnect and by rate-limited
/// REST requests (never per message).
#[derive(Debug)]
pub struct Globals {
    /// Open connections per app index.
    pub app_connections: Vec<AtomicU64>,
    /// Open connections in total.
    pub connections: AtomicU64,
    /// Set on SIGTERM/SIGINT: shards close every connection with 4200 and admit no more.
    pub draining: std::sync::atomic::AtomicBool,
    /// REST rate-limit windows per app (touched only for apps with a limit).
    pub rest_windows: RestWindows,
    /// The webhook sender's queue, when any app has webhooks.
    pub webhooks: Option<crate::webhooks::Outbox>,
}

impl Globals {
    /// Zeroed counters for `apps` apps.
    pub fn new(apps: usize) -> Self {
        Globals {
            app_connections: (0..apps).map(|_| AtomicU64::new(0)).collect(),
            connections: AtomicU64::new(0),
            draining: std::sync::atomic::AtomicBool::new(false),
            rest_windows: RestWindows::new(apps),
            webhooks: None,
        }
    }

    /// The same, with the webhook sender's queue.
    pub fn with_webhooks(self, webhooks: Option<crate::webhooks::Outbox>) -> Self {
        Globals { webhooks, ..self }
    }
}

/// One core's state.
pub struct Shard {
    /// Configuration (read-only).
    pub config: Arc<Config>,
    /// Cross-shard counters.
    pub globals: Arc<Globals>,
    /// The bus to other shards.
    pub bus: Rc<Bus>,
    /// Connections on this shard.
    pub conns: RefCell<Slab<Conn>>,
    /// Local subscriber tables.
    pub channels: RefCell<Channels>,
    /// Presence rooms this shard owns.
    pub rooms: RefCell<presence::Rooms>,
    /// Replica of every cache channel's last event.
    pub cache: RefCell<cache::CacheTable>,
    /// Signed-in connections per user, for the users this shard owns (watchlist).
    pub online: RefCell<std::collections::HashMap<(u32, String), u32>>,
    /// Local watchers: (app, watched user id) → connections whose watchlist has it.
    pub watchers: RefCell<std::collections::HashMap<(u32, String), Vec<ConnKey>>>,
    /// Signed-in users: (app, user id) → local connections.
    pub users: RefCell<std::collections::HashMap<(u32, String), Vec<ConnKey>>>,
    /// Socket id serial → connection key, for exclusion and lookups.
    sockets: RefCell<std::collections::HashMap<u64, ConnKey>>,
    /// Next connection counter.
    counter: Cell<u64>,
    /// Outstanding scatter-gather queries.
    pub queries: Queries,
    /// Read buffer shared by every connection of the shard (borrowed only while parsing).
    pub scratch: RefCell<Vec<u8>>,
    /// Connections that must become authorized by a deadline (authorized connections).
    deadlines: RefCell<authorization::Deadlines>,
    /// REST requests this shard refused over an app's rate limit.
    pub rate_limited: Refusals,
    /// The node's link to the other nodes (cluster mode only).
    pub cluster: Option<Rc<crate::cluster::ShardLink>>,
    /// Webhook and subscription-count state.
    hooks: hooks::Hooks,
}

/// Close reason for a consumer that fell too far behind.
const SLOW_CONSUMER: &str = "Slow consumer: outbound buffer full";

/// Size of the shared read buffer.
const SCRATCH_BYTES: usize = 64 * 1024;

impl Shard {
    /// A shard with no connections.
    pub fn new(config: Arc<Config>, globals: Arc<Globals>, bus: Rc<Bus>) -> Self {
        let apps = config.apps.len();
        Shard {
            config,
            globals,
            bus,
            conns: RefCell::new(Slab::new()),
            channels: RefCell::new(Channels::new(apps)),
            rooms: RefCell::new(presence::Rooms::default()),
            cache: RefCell::new(cache::CacheTable::default()),
            users: RefCell::new(std::collections::HashMap::new()),
            online: RefCell::new(std::collections::HashMap::new()),
            watchers: RefCell::new(std::collections::HashMap::new()),
            sockets: RefCell::new(std::collections::HashMap::new()),
            counter: Cell::new(1),
            queries: Queries::default(),
            scratch: RefCell::new(vec![0; SCRATCH_BYTES]),
            deadlines: RefCell::new(authorization::Deadlines::default()),
            rate_limited: Refusals::new(apps),
            cluster: None,
            hooks: hooks::Hooks::default(),
        }
    }

    /// This shard's number.
    pub fn id(&self) -> usize {
        self.bus.me()
    }

    /// The app with this index.
    pub fn app(&self, index: u32) -> &App {
        &self.config.apps[index as usize]
    }

    /// Outbox byte limit per connection.
    pub fn outbox_limit(&self) -> usize {
        self.config.settings.max_outbox_kb as usize * 1024
    }

    /// Registers a new connection of `app`; counts it against the app's and the server's quota.
    pub fn register(&self, app: u32, kind: ConnKind) -> (ConnKey, SocketId) {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let socket_id = SocketId::new(fastrand::u32(1..), n, self.id(), self.bus.shards());
        let now = Instant::now();
        let key = self
            .conns
            .borrow_mut()
            .insert(Conn::new(socket_id, app, kind, now));
        self.sockets.borrow_mut().insert(socket_id.serial, key);
        if kind == ConnKind::Pusher {
            self.expect_authorization(app, socket_id, now);
        }
        self.globals.app_connections[app as usize].fetch_add(1, Ordering::Relaxed);
        self.globals.connections.fetch_add(1, Ordering::Relaxed);
        (key, socket_id)
    }

    /// Whether one more connection of `app` fits: the app's quota (4004), the server's cap
    /// (4100), and not draining (4200), checked in the protocol's order.
    pub fn room_for(&self, app: &App) -> Result<(), CloseCode> {
        if let Some(max) = app.max_connections {
            if self.globals.app_connections[app.index as usize].load(Ordering::Relaxed) >= max {
                return Err(CloseCode::AppOverQuota);
            }
        }
        let cap = self.config.settings.max_connections;
        if cap > 0 && self.globals.connections.load(Ordering::Relaxed) >= cap {
            return Err(CloseCode::OverCapacity);
        }
        if self.globals.draining.load(Ordering::Relaxed) {
            return Err(CloseCode::ReconnectNow);
        }
        Ok(())
    }

    /// Removes a connection: leaves all its channels (presence ones through their owner),
    /// forgets its user, and releases its quota.
    pub fn unregister(&self, key: ConnKey) {
        let Some(conn) = self.conns.borrow_mut().try_remove(key) else {
            return;
        };
        self.sockets.borrow_mut().remove(&conn.socket_id.serial);
        for name in &conn.channels {
            self.remove_local(conn.app, name, key);
        }
        for p in &conn.presence {
            self.presence_leave(conn.app, &p.channel, conn.socket_id, &p.user_id);
        }
        if let Some(user) = &conn.user {
            self.forget_user(conn.app, &user.id, key);
            self.watch_signout(key, conn.app, &user.id, &user.watchlist);
        }
        self.globals.app_connections[conn.app as usize].fetch_sub(1, Ordering::Relaxed);
        self.globals.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Local connection key of a socket id, if it lives here.
    pub fn conn_of(&self, socket_id: SocketId) -> Option<ConnKey> {
        let key = *self.sockets.borrow().get(&socket_id.serial)?;
        let conns = self.conns.borrow();
        (conns.get(key)?.socket_id == socket_id).then_some(key)
    }

    /// Queues a frame on one connection; a slow consumer is closed with 4100.
    pub fn send(&self, key: ConnKey, frame: Bytes) {
        let limit = self.outbox_limit();
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(key) else {
            return;
        };
        if conn.push(frame, limit) == Queued::Overflow {
            close_conn(
                conn,
                CloseCode::OverCapacity,
                SLOW_CONSUMER,
                self.app(conn.app).event_prefix,
            );
        }
    }

    /// Queues a JSON text message on one connection.
    pub fn send_text(&self, key: ConnKey, json: &str) {
        let flavour = match self.conns.borrow().get(key) {
            Some(conn) => self.app(conn.app).event_prefix,
            None => return,
        };
        match flavour {
            Flavour::Pusher => self.send(key, frame::text_frame(json.as_bytes())),
            f => self.send(
                key,
                frame::text_frame(f.outbound(json.to_string()).as_bytes()),
            ),
        }
    }

    /// Closes a connection with a Pusher code: `pusher:error`, then the close frame.
    pub fn close(&self, key: ConnKey, code: CloseCode, message: &str) {
        if let Some(conn) = self.conns.borrow_mut().get_mut(key) {
            let flavour = self.app(conn.app).event_prefix;
            close_conn(conn, code, message, flavour);
        }
    }

    /// Closes a connection with a bare WebSocket close code (protocol errors).
    pub fn close_ws(&self, key: ConnKey, code: u16, reason: &str) {
        if let Some(conn) = self.conns.borrow_mut().get_mut(key) {
            if conn.phase == ConnPhase::Open {
                conn.discard_unsent();
                conn.force_push(frame::close_frame(code, reason));
                conn.begin_closing();
            }
        }
    }

    /// Publishes a framed event to every subscriber of `channel` on every shard, and (in
    /// cluster mode) on every other node.
    pub fn publish(&self, app: u32, channel: &str, frame: Bytes, except: Option<SocketId>) {
        if let Some(link) = &self.cluster {
            link.publish(app, channel, &frame, except, false);
        }
        self.fan_out(app, channel, frame, except, None);
    }

    /// Publishes to a cache channel: delivered like [`Shard::publish`], and kept as the
    /// channel's last event on every shard (and node).
    pub fn publish_cached(
        &self,
        app: u32,
        channel: &str,
        frame: Bytes,
        except: Option<SocketId>,
        data: &str,
    ) {
        if let Some(link) = &self.cluster {
            link.publish(app, channel, &frame, except, true);
        }
        self.fan_out(app, channel, frame, except, Some(Arc::from(data)));
    }

    /// Publishes to the subscribers of `channel` on this node's shards only (events that
    /// describe this node's own state, such as its presence members).
    pub fn publish_on_node(&self, app: u32, channel: &str, frame: Bytes, except: Option<SocketId>) {
        self.fan_out(app, channel, frame, except, None);
    }

    fn fan_out(
        &self,
        app: u32,
        channel: &str,
        frame: Bytes,
        except: Option<SocketId>,
        cache: Option<Arc<str>>,
    ) {
        if let Some(data) = &cache {
            let now = Instant::now();
            self.cache
                .borrow_mut()
                .store(app, channel, frame.clone(), Arc::clone(data), now);
            self.cache_populated(app, channel);
        }
        self.deliver_local(app, channel, &frame, except);
        let shards = self.bus.shards();
        if shards > 1 {
            let channel: Arc<str> = Arc::from(channel);
            for to in (0..shards).filter(|&s| s != self.id()) {
                self.bus.send(
                    to,
                    BusMessage::Broadcast(Broadcast {
                        app,
                        channel: Arc::clone(&channel),
                        frame: frame.clone(),
                        except,
                        cache: cache.clone(),
                    }),
                );
            }
        }
    }

    /// Delivers a frame to this shard's subscribers of `channel`.
    pub fn deliver_local(&self, app: u32, channel: &str, frame: &Bytes, except: Option<SocketId>) {
        let skip = except.and_then(|s| self.conn_of(s));
        let channels = self.channels.borrow();
        let Some(subs) = channels.subscribers(app, channel) else {
            return;
        };
        let limit = self.outbox_limit();
        let mut conns = self.conns.borrow_mut();
        for &key in subs {
            if Some(key) == skip {
                continue;
            }
            if let Some(conn) = conns.get_mut(key) {
                if conn.push(frame.clone(), limit) == Queued::Overflow {
                    close_conn(
                        conn,
                        CloseCode::OverCapacity,
                        SLOW_CONSUMER,
                        self.app(conn.app).event_prefix,
                    );
                }
            }
        }
    }

    /// Sends `msg` to shard `to`, or handles it at once when `to` is this shard.
    pub fn route(&self, to: usize, msg: BusMessage) {
        if to == self.id() {
            self.handle_bus(msg);
        } else {
            self.bus.send(to, msg);
        }
    }

    /// Delivers a broadcast from another shard or node to this shard's subscribers (and keeps
    /// a cache channel's event).
    pub fn on_broadcast(&self, b: &Broadcast) {
        if let Some(data) = &b.cache {
            let now = Instant::now();
            self.cache.borrow_mut().store(
                b.app,
                &b.channel,
                b.frame.clone(),
                Arc::clone(data),
                now,
            );
            self.cache_populated(b.app, &b.channel);
        }
        self.deliver_local(b.app, &b.channel, &b.frame, b.except)
    }

    /// Handles one message from another shard.
    pub fn handle_bus(&self, msg: BusMessage) {
        match msg {
            BusMessage::Broadcast(b) => self.on_broadcast(&b),
            BusMessage::PresenceJoin(j) => self.on_presence_join(j),
            BusMessage::PresenceJoined(j) => self.on_presence_joined(j),
            BusMessage::PresenceLeave(l) => self.on_presence_leave(l),
            BusMessage::TerminateUser { app, user_id } => self.terminate_local(app, &user_id),
            BusMessage::UserPresence {
                app,
                user_id,
                delta,
                ack,
            } => self.on_user_presence(app, user_id, delta, ack),
            BusMessage::SigninDone(ack) => self.on_signin_done(ack),
            BusMessage::WatchEvent {
                app,
                user_id,
                online,
            } => self.on_watch_event(app, &user_id, online),
            BusMessage::WatchQuery {
                from,
                socket_id,
                app,
                ids,
            } => self.on_watch_query(from, socket_id, app, ids),
            BusMessage::WatchState {
                socket_id,
                shard,
                online,
            } => self.on_watch_state(socket_id, shard, online),
            BusMessage::Query { from, id, query } => {
                let reply = self.answer(&query);
                self.bus.send(from, BusMessage::Reply { id, reply });
            }
            BusMessage::Reply { id, reply } => self.queries.complete(id, reply),
            BusMessage::LocalCount {
                app,
                channel,
                from,
                count,
            } => self.on_local_count(app, channel, from, count),
            BusMessage::CacheMiss { app, channel } => self.on_cache_miss(app, channel),
        }
    }
}

/// Queues the error message (for 4xxx codes: `pusher:error` in the app's flavour, or
/// `{"error":…}` on raw connections) and a close frame, dropping unsent output.
fn close_conn(conn: &mut Conn, code: CloseCode, message: &str, flavour: Flavour) {
    if conn.phase != ConnPhase::Open {
        return;
    }
    conn.discard_unsent();
    if code.sends_pusher_error() {
        let text = match conn.kind {
            ConnKind::Pusher => flavour.outbound(outbound::close_error(code, message)),
            ConnKind::Raw => crate::protocol::raw::error_json(message),
        };
        conn.force_push(frame::text_frame(text.as_bytes()));
    }
    conn.force_push(frame::close_frame(code.code(), message));
    // The task may be parked on a socket that never becomes writable (a peer that stopped
    // reading): wake it so that its closing deadline starts.
    conn.begin_closing();
}
