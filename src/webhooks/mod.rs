//! Webhooks (webhooks.md): what the app's backend learns about its channels, delivered as
//! signed, batched, retried HTTP POSTs.
//!
//! Owns: the event records ([`Event`]), the per-app webhook configuration ([`spec`]), batching
//! per (app, URL) ([`batch`]), the body and its signature ([`payload`]), the retry policy
//! ([`retry`]), the sender's state ([`dispatch`]) and its threads ([`sender`]), and the
//! delivery counters ([`stats`]).
//!
//! Guarantees:
//! - Shards only [`Outbox::push`] a record onto a bounded queue (`try_send`); they never wait on
//!   the sender. A full queue drops the record and the shard counts it
//!   (`corecast_webhook_dropped_total{reason="queue_full"}`).
//! - Each event decided once on the node is delivered to every webhook of its app whose
//!   `event_types` and filter want it; the body is serialized once after filtering and the
//!   signature is over exactly the bytes sent.
//! - Per (app, URL): POSTs leave in the order their batches closed, one in flight at a time; a
//!   failed one (network error, timeout, non-2xx) is retried with the same body, signature
//!   and `X-Corecast-Webhook-Id` (1 s, ×2, ≤ 60 s apart, for up to 300 s), so delivery is
//!   at-least-once towards a receiver that fails, and at-most-once across a crash (memory only).
//! - Each (app, URL) keeps at most `CORECAST_WEBHOOK_QUEUE` events waiting; beyond that the
//!   oldest waiting POST is dropped and counted.
//!
//! Who decides each event lives in the shards (`shard::hooks`): the channel's owner shard for
//! occupancy, membership, cache misses and subscription counts; the receiving shard for client
//! events. In cluster mode those decision points are the ones a cluster-wide one replaces.

pub mod batch;
pub mod dispatch;
pub mod event;
pub mod payload;
pub mod retry;
pub mod sender;
pub mod spec;
pub mod stats;

use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use crate::config::Config;

pub use event::{reported_name, Event, EventKind, EventSet};
pub use sender::SenderHandle;
pub use spec::{Webhook, WebhookSpec};
pub use stats::WebhookStats;

/// One event of one app, as a shard hands it to the sender.
#[derive(Debug, Clone)]
pub struct Record {
    /// App index.
    pub app: u32,
    /// The event.
    pub event: Event,
}

/// The shards' end of the sender's queue.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: Sender<Record>,
    /// The sender's counters (read by `/metrics`).
    pub stats: Arc<WebhookStats>,
}

impl Outbox {
    /// Queues a record without waiting; false when the queue is full (the record is dropped).
    pub fn push(&self, record: Record) -> bool {
        match self.tx.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Records waiting between the shards and the sender.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

/// Starts the sender when any app has a webhook: the shards' [`Outbox`] and the handle that
/// flushes at shutdown. `None` when no app has one.
pub fn start(config: &Config) -> std::io::Result<Option<(Outbox, SenderHandle)>> {
    if config.apps.iter().all(|a| a.webhooks.is_empty()) {
        return Ok(None);
    }
    let (tx, rx) = crossbeam_channel::bounded(config.settings.webhook_queue as usize);
    let stats = Arc::new(WebhookStats::default());
    let handle = sender::spawn(config, rx, Arc::clone(&stats), node_key())?;
    Ok(Some((Outbox { tx, stats }, handle)))
}

/// This node's key: 64 random bits in hex and the incarnation (scale-out.md §2), the prefix
/// of every `X-Corecast-Webhook-Id`.
fn node_key() -> String {
    format!("{:016x}.1", fastrand::u64(..))
}
