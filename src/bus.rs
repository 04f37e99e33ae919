//! The cross-shard bus. Messages for one destination produced during one scheduler turn travel
//! as one batch over a lock-free queue (crossbeam-channel); the destination is woken once per
//! batch through a glommio doorbell channel of capacity one, so wake-ups coalesce.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use crate::protocol::presence::Member;
use crate::protocol::SocketId;

/// A frame to deliver to the local subscribers of a channel.
#[derive(Debug, Clone)]
pub struct Broadcast {
    /// App index.
    pub app: u32,
    /// Channel name.
    pub channel: Arc<str>,
    /// The framed event, shared.
    pub frame: Bytes,
    /// Connection that must not receive it.
    pub except: Option<SocketId>,
    /// For cache channels: the event's `data`, kept as the channel's last event on every shard.
    pub cache: Option<Arc<str>>,
}

/// A question one shard asks every shard about its local state.
#[derive(Debug, Clone)]
pub enum Query {
    /// Occupied channels (optionally with a name prefix) and their local subscription counts.
    Channels {
        /// App index.
        app: u32,
        /// Name prefix filter.
        prefix: Option<String>,
    },
    /// Local subscription count of one channel.
    Channel {
        /// App index.
        app: u32,
        /// Channel name.
        name: String,
    },
    /// Connection and subscription counts of the shard (for `/metrics`).
    Stats,
    /// Presence members of one channel (answered by its owner shard; others answer empty).
    Members {
        /// App index.
        app: u32,
        /// Channel name.
        name: String,
    },
    /// Nothing to answer: the reply only says that every message this shard sent earlier to
    /// the answering shard has been handled there (the bus keeps order per pair of shards).
    Sync,
    /// Distinct users of the presence channels this shard owns, by channel.
    UserCounts {
        /// App index.
        app: u32,
        /// Name prefix filter.
        prefix: Option<String>,
    },
}

/// A shard's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Shard number.
    pub shard: usize,
    /// Open connections.
    pub connections: usize,
    /// Local subscriptions (connection × channel).
    pub subscriptions: usize,
    /// Channels with at least one local subscriber.
    pub channels: usize,
    /// REST requests refused over a rate limit, by app index then
    /// [`crate::rate_limit::RestKind::index`].
    pub rate_limited: Vec<[u64; 2]>,
    /// Webhook events dropped because the sender's queue was full.
    pub webhooks_dropped: u64,
}

/// A shard's answer to a [`Query`].
#[derive(Debug, Clone)]
pub enum Reply {
    /// `(channel, local subscriptions)` pairs.
    Channels(Vec<(String, usize)>),
    /// Local subscriptions of one channel.
    Count(usize),
    /// Shard counters.
    Stats(ShardStats),
    /// Presence user ids.
    Members(Vec<String>),
    /// The answer to [`Query::Sync`].
    Synced,
}

/// A presence join sent to the channel's owner shard.
#[derive(Debug)]
pub struct PresenceJoin {
    /// Shard of the joining connection.
    pub from: usize,
    /// App index.
    pub app: u32,
    /// Channel name.
    pub channel: Arc<str>,
    /// Joining connection.
    pub socket_id: SocketId,
    /// Who joins.
    pub member: Member,
}

/// The owner's answer to a [`PresenceJoin`].
#[derive(Debug)]
pub struct PresenceJoined {
    /// App index.
    pub app: u32,
    /// Channel name.
    pub channel: Arc<str>,
    /// Joining connection.
    pub socket_id: SocketId,
    /// The member's canonical user id.
    pub user_id: String,
    /// The member's user id as JSON (a string or a number, as the member sent it).
    pub user_id_json: String,
    /// `Some(presence data string)` when admitted, `None` when the channel is full.
    pub data: Option<String>,
}

/// A connection leaving a presence channel, sent to the owner shard.
#[derive(Debug)]
pub struct PresenceLeave {
    /// App index.
    pub app: u32,
    /// Channel name.
    pub channel: Arc<str>,
    /// Leaving connection.
    pub socket_id: SocketId,
    /// Its canonical user id.
    pub user_id: String,
}

/// Who to confirm a sign-in to once the user's owner has counted it.
#[derive(Debug, Clone)]
pub struct SigninAck {
    /// Shard of the signing-in connection.
    pub shard: usize,
    /// The connection.
    pub socket_id: SocketId,
    /// The exact `user_data` to echo in `pusher:signin_success`.
    pub user_data: Arc<str>,
}

/// Everything that crosses shards.
#[derive(Debug)]
pub enum BusMessage {
    /// Deliver to local subscribers.
    Broadcast(Broadcast),
    /// Answer a query and send the reply to shard `from`.
    Query {
        /// Asking shard.
        from: usize,
        /// Request id on the asking shard.
        id: u64,
        /// The question.
        query: Query,
    },
    /// Presence join, for the owner shard.
    PresenceJoin(PresenceJoin),
    /// Presence join result, for the joining connection's shard.
    PresenceJoined(PresenceJoined),
    /// Presence leave, for the owner shard.
    PresenceLeave(PresenceLeave),
    /// A user's signed-in connection count changes by `delta` (for its owner shard).
    UserPresence {
        /// App index.
        app: u32,
        /// User id.
        user_id: String,
        /// +1 on sign-in, -1 on disconnect.
        delta: i32,
        /// For a sign-in: whom to confirm once counted.
        ack: Option<SigninAck>,
    },
    /// A sign-in was counted by the user's owner.
    SigninDone(SigninAck),
    /// A user came online or went offline.
    WatchEvent {
        /// App index.
        app: u32,
        /// User id.
        user_id: String,
        /// True: online.
        online: bool,
    },
    /// A new watcher asks which of `ids` the receiving shard owns and sees online.
    WatchQuery {
        /// Watcher's shard.
        from: usize,
        /// Watcher.
        socket_id: SocketId,
        /// App index.
        app: u32,
        /// Watched user ids.
        ids: Vec<String>,
    },
    /// A shard's answer to a [`BusMessage::WatchQuery`].
    WatchState {
        /// Watcher.
        socket_id: SocketId,
        /// Answering shard.
        shard: usize,
        /// Online users among the asked ones that this shard owns.
        online: Vec<String>,
    },
    /// Close every connection signed in as this user.
    TerminateUser {
        /// App index.
        app: u32,
        /// User id.
        user_id: Arc<str>,
    },
    /// A shard's local subscription count of a channel changed (for the channel's owner).
    LocalCount {
        /// App index.
        app: u32,
        /// Channel name (as in the subscriber tables).
        channel: Arc<str>,
        /// Reporting shard.
        from: usize,
        /// Its local subscriptions of the channel now.
        count: u32,
    },
    /// A subscription to a cache channel found nothing cached (for the channel's owner).
    CacheMiss {
        /// App index.
        app: u32,
        /// Channel name.
        channel: Arc<str>,
    },
    /// An answer to a query this shard asked.
    Reply {
        /// Request id.
        id: u64,
        /// The answer.
        reply: Reply,
    },
}

type Batch = Vec<BusMessage>;

/// One shard's ends of the bus, before its executor connects them.
pub struct BusEnds {
    inbox: Receiver<Batch>,
    outboxes: Vec<Sender<Batch>>,
    bells_out: Vec<Option<SharedSender<()>>>,
    bells_in: Vec<SharedReceiver<()>>,
}

/// Builds the ends for `shards` shards: one queue per shard, one doorbell per ordered pair.
pub fn build(shards: usize) -> Vec<BusEnds> {
    let queues: Vec<(Sender<Batch>, Receiver<Batch>)> = (0..shards)
        .map(|_| crossbeam_channel::unbounded())
        .collect();
    let outboxes: Vec<Sender<Batch>> = queues.iter().map(|(s, _)| s.clone()).collect();
    let mut ends: Vec<BusEnds> = queues
        .into_iter()
        .map(|(_, r)| BusEnds {
            inbox: r,
            outboxes: outboxes.clone(),
            bells_out: (0..shards).map(|_| None).collect(),
            bells_in: Vec::new(),
        })
        .collect();
    for from in 0..shards {
        for to in 0..shards {
            if from != to {
                let (tx, rx) = shared_channel::new_bounded(1);
                ends[from].bells_out[to] = Some(tx);
                ends[to].bells_in.push(rx);
            }
        }
    }
    ends
}

/// A shard's connected bus: batches outgoing messages per destination and flushes once a turn.
pub struct Bus {
    me: usize,
    outboxes: Vec<Sender<Batch>>,
    bells: Vec<Option<ConnectedSender<()>>>,
    pending: RefCell<Vec<Batch>>,
    flush_scheduled: Cell<bool>,
}

/// The receiving side: drains the inbox when a doorbell rings.
pub struct BusInbox {
    inbox: Receiver<Batch>,
    bells: Vec<ConnectedReceiver<()>>,
}

impl BusEnds {
    /// Connects the doorbells on the current executor.
    pub async fn connect(self) -> (Bus, BusInbox) {
        let me = self.bells_out.iter().position(Option::is_none).unwrap_or(0);
        // Every connect waits for its peer; run them all at once so no two shards wait on
        // each other in opposite orders.
        let bells_in: Vec<_> = self
            .bells_in
            .into_iter()
            .map(|r| glommio::spawn_local(r.connect()))
            .collect();
        let bells_out: Vec<_> = self
            .bells_out
            .into_iter()
            .map(|b| b.map(|s| glommio::spawn_local(s.connect())))
            .collect();
        let mut bells = Vec::with_capacity(bells_out.len());
        for b in bells_out {
            bells.push(match b {
                Some(task) => Some(task.await),
                None => None,
            });
        }
        let mut connected_in = Vec::with_capacity(bells_in.len());
        for task in bells_in {
            connected_in.push(task.await);
        }
        let bells_in = connected_in;
        let n = self.outboxes.len();
        (
            Bus {
                me,
                outboxes: self.outboxes,
                bells,
                pending: RefCell::new((0..n).map(|_| Vec::new()).collect()),
                flush_scheduled: Cell::new(false),
            },
            BusInbox {
                inbox: self.inbox,
                bells: bells_in,
            },
        )
    }
}

impl Bus {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.outboxes.len()
    }

    /// This shard's number.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Queues `msg` for shard `to`; the batch leaves at the end of this scheduler turn.
    pub fn send(self: &Rc<Self>, to: usize, msg: BusMessage) {
        self.pending.borrow_mut()[to].push(msg);
        if !self.flush_scheduled.replace(true) {
            let bus = Rc::clone(self);
            glommio::spawn_local(async move {
                futures_lite::future::yield_now().await;
                bus.flush();
            })
            .detach();
        }
    }

    /// Sends every pending batch and rings each destination's doorbell once.
    pub fn flush(&self) {
        self.flush_scheduled.set(false);
        let mut pending = self.pending.borrow_mut();
        for (to, batch) in pending.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let batch = std::mem::take(batch);
            if self.outboxes[to].send(batch).is_ok() {
                if let Some(bell) = &self.bells[to] {
                    // Full means the destination is already due to wake: coalesced.
                    let _ = bell.try_send(());
                }
            }
        }
    }
}

impl BusInbox {
    /// Runs forever: on every ring, hands each received message to `handle`.
    pub async fn run(self, handle: impl Fn(BusMessage) + 'static) {
        let handle = Rc::new(handle);
        let inbox = Rc::new(self.inbox);
        let mut tasks = Vec::new();
        for bell in self.bells {
            let inbox = Rc::clone(&inbox);
            let handle = Rc::clone(&handle);
            tasks.push(glommio::spawn_local(async move {
                while bell.recv().await.is_some() {
                    while let Ok(batch) = inbox.try_recv() {
                        for msg in batch {
                            handle(msg);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await;
        }
    }
}
