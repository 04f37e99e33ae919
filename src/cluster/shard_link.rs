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
use std::io::{ErrorKind, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use futures_lite::AsyncReadExt;
use tokio::sync::Notify;

use crate::bus::Broadcast;
use crate::protocol::SocketId;

use super::envelope::{EventRecord, Record};
use super::stats::LinkStats;

/// Received broadcasts, shared by every shard.
pub type Inbound = Arc<[Broadcast]>;

/// A shard's ends of the link, before its executor takes them.
pub struct ShardEnds {
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
    for _ in 0..shards {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (link_end, shard_end) = UnixStream::pair()?;
        link_end.set_nonblocking(true)?;
        ends.push(ShardEnds {
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
    /// Hands a batch to the shard and rings its doorbell.
    pub fn deliver(&mut self, batch: Inbound) {
        if self.inbox.send(batch).is_err() {
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
    /// The link's counters (read by `/metrics` and `/ready`).
    pub stats: Arc<LinkStats>,
}

/// A shard's receiving side: drains the inbox when the doorbell rings.
pub struct LinkInbox {
    inbox: Receiver<Inbound>,
    doorbell: glommio::net::UnixStream,
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
        (
            Rc::new(ShardLink {
                records: self.records,
                bell: self.bell,
                pending: RefCell::new(Vec::new()),
                flush_scheduled: Cell::new(false),
                stats: self.stats,
            }),
            LinkInbox {
                inbox: self.inbox,
                doorbell,
            },
        )
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
    /// `handle`, in the order the link received them.
    pub async fn run(mut self, handle: impl Fn(&Broadcast)) {
        let mut rings = [0u8; 64];
        loop {
            match self.doorbell.read(&mut rings).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            while let Ok(batch) = self.inbox.try_recv() {
                for b in batch.iter() {
                    handle(b);
                }
            }
        }
    }
}
