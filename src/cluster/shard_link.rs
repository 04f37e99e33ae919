//! The two directions between the shards and the link thread.
//!
//! Shard → link: records collected during one scheduler turn travel as one batch over a
//! crossbeam channel, and a `tokio::sync::Notify` (callable from any thread, one stored
//! permit, so wake-ups coalesce) wakes the link. The shard never waits.
//!
//! Link → shard: the link pushes each received batch (shared, already framed) onto the shard's
//! crossbeam inbox and writes one byte to a socket pair whose other end a shard task reads
//! through glommio (a plain thread cannot connect a glommio channel end). A full socket means
//! the shard is already due to wake: wake-ups coalesce here too.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use futures_lite::AsyncReadExt;
use glommio::channels::local_channel::LocalSender;
use tokio::sync::Notify;

use crate::bus::Broadcast;
use crate::protocol::SocketId;

use super::ask::{Gathered, Question};
use super::envelope::{EventRecord, Record};
use super::stats::LinkStats;

/// What the link hands a shard.
#[derive(Debug)]
pub enum Inbound {
    /// Received broadcasts, shared by every shard.
    Broadcasts(Arc<[Broadcast]>),
    /// Another node asks for this node's share of a count.
    Question(NodeQuestion),
    /// The other nodes' shares of a question this shard asked.
    Gathered(Gathered),
}

/// A question from another node, for this node to answer.
#[derive(Debug)]
pub struct NodeQuestion {
    /// The asker's node key (whose inbox gets the answer).
    pub from: Box<str>,
    /// The question's id.
    pub id: Box<str>,
    /// App index.
    pub app: u32,
    /// What is asked.
    pub question: Question,
}

/// A shard's ends of the link, before its executor takes them.
pub struct ShardEnds {
    shard: usize,
    records: Sender<Vec<Record>>,
    bell: Arc<Notify>,
    inbox: Receiver<Inbound>,
    doorbell: UnixStream,
    stats: Arc<LinkStats>,
}

/// The link thread's way into one shard.
pub struct ShardPort {
    inbox: Sender<Inbound>,
    doorbell: UnixStream,
}

/// The shards' side of the link as the link thread holds it.
pub struct LinkPorts {
    /// Records from every shard.
    pub records: Receiver<Vec<Record>>,
    /// Rung by a shard after it sent records.
    pub bell: Arc<Notify>,
    /// One port per shard.
    pub shards: Vec<ShardPort>,
    /// Counters.
    pub stats: Arc<LinkStats>,
}

/// Builds the ends for `shards` shards: the shards' ends and the link's side of them.
pub fn build(
    shards: usize,
    stats: &Arc<LinkStats>,
) -> std::io::Result<(Vec<ShardEnds>, LinkPorts)> {
    let (records_tx, records_rx) = crossbeam_channel::unbounded();
    let bell = Arc::new(Notify::new());
    let mut ends = Vec::with_capacity(shards);
    let mut ports = Vec::with_capacity(shards);
    for shard in 0..shards {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (link_end, shard_end) = UnixStream::pair()?;
        link_end.set_nonblocking(true)?;
        ends.push(ShardEnds {
            shard,
            records: records_tx.clone(),
            bell: Arc::clone(&bell),
            inbox: rx,
            doorbell: shard_end,
            stats: Arc::clone(stats),
        });
        ports.push(ShardPort {
            inbox: tx,
            doorbell: link_end,
        });
    }
    let link = LinkPorts {
        records: records_rx,
        bell,
        shards: ports,
        stats: Arc::clone(stats),
    };
    Ok((ends, link))
}

impl ShardPort {
    /// Hands a batch of broadcasts to the shard and rings its doorbell.
    pub fn deliver(&mut self, batch: Arc<[Broadcast]>) {
        self.hand(Inbound::Broadcasts(batch));
    }

    /// Hands one message to the shard and rings its doorbell.
    pub fn hand(&mut self, message: Inbound) {
        if self.inbox.send(message).is_err() {
            return;
        }
        match self.doorbell.write(&[1]) {
            Ok(_) => {}
            // Full: the shard has unread rings, so it is already due to drain the inbox.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {}
        }
    }
}

/// A shard's sending side: batches this turn's records for the link.
pub struct ShardLink {
    records: Sender<Vec<Record>>,
    bell: Arc<Notify>,
    pending: RefCell<Vec<Record>>,
    flush_scheduled: Cell<bool>,
    /// This shard's number.
    pub(super) shard: usize,
    /// Token of the next question to other nodes.
    pub(super) next_token: Cell<u64>,
    /// Questions to other nodes waiting for the link's answer, by token.
    pub(super) waiting: RefCell<HashMap<u64, LocalSender<Gathered>>>,
    /// The link's counters (read by `/metrics` and `/ready`).
    pub stats: Arc<LinkStats>,
}

/// A shard's receiving side: drains the inbox when the doorbell rings.
pub struct LinkInbox {
    inbox: Receiver<Inbound>,
    doorbell: glommio::net::UnixStream,
    link: Rc<ShardLink>,
}

impl ShardEnds {
    /// Takes the ends on the current executor.
    pub fn connect(self) -> (Rc<ShardLink>, LinkInbox) {
        // Unread bytes of a std socket are of no concern: it was never read.
        let _ = self.doorbell.set_nonblocking(false);
        // SAFETY: the descriptor is one end of a connected socket pair whose ownership moves
        // here; nothing else holds it.
        let doorbell =
            unsafe { glommio::net::UnixStream::from_raw_fd(self.doorbell.into_raw_fd()) };
        let link = Rc::new(ShardLink {
            records: self.records,
            bell: self.bell,
            pending: RefCell::new(Vec::new()),
            flush_scheduled: Cell::new(false),
            shard: self.shard,
            next_token: Cell::new(0),
            waiting: RefCell::new(HashMap::new()),
            stats: self.stats,
        });
        let inbox = LinkInbox {
            inbox: self.inbox,
            doorbell,
            link: Rc::clone(&link),
        };
        (link, inbox)
    }
}

impl ShardLink {
    /// Queues a record; this turn's records leave together at the end of the turn.
    pub fn send(self: &Rc<Self>, record: Record) {
        self.pending.borrow_mut().push(record);
        if !self.flush_scheduled.replace(true) {
            let link = Rc::clone(self);
            glommio::spawn_local(async move {
                futures_lite::future::yield_now().await;
                link.flush();
            })
            .detach();
        }
    }

    /// Queues the `e` record of a publish: `frame` is what this node's subscribers got.
    pub fn publish(
        self: &Rc<Self>,
        app: u32,
        channel: &str,
        frame: &Bytes,
        except: Option<SocketId>,
        cached: bool,
    ) {
        self.send(Record::Event(EventRecord {
            app,
            channel: channel.into(),
            frame: frame.clone(),
            except,
            cached,
        }));
    }

    /// Hands the pending records to the link and wakes it.
    pub fn flush(&self) {
        self.flush_scheduled.set(false);
        let batch = std::mem::take(&mut *self.pending.borrow_mut());
        if !batch.is_empty() && self.records.send(batch).is_ok() {
            self.bell.notify_one();
        }
    }
}

impl LinkInbox {
    /// Runs until the link thread is gone: on every ring, hands each received broadcast to
    /// `handle` and each other node's question to `question`, in the order the link received
    /// them; gathered answers complete this shard's waiting questions.
    pub async fn run(mut self, handle: impl Fn(&Broadcast), question: impl Fn(NodeQuestion)) {
        let mut rings = [0u8; 64];
        loop {
            match self.doorbell.read(&mut rings).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            while let Ok(message) = self.inbox.try_recv() {
                match message {
                    Inbound::Broadcasts(batch) => batch.iter().for_each(&handle),
                    Inbound::Question(q) => question(q),
                    Inbound::Gathered(g) => self.link.complete(g),
                }
            }
        }
    }
}
