//! Scatter-gather questions to every shard (channel lists and counts for the REST API): the
//! asking shard sends a [`Query`] to each other shard and merges the replies with its own answer.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalSender};

use super::Shard;
use crate::bus::{BusMessage, Query, Reply, ShardStats};

/// How long a shard waits for the others' replies.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Outstanding queries of one shard.
#[derive(Default)]
pub struct Queries {
    next: Cell<u64>,
    waiting: RefCell<HashMap<u64, LocalSender<Reply>>>,
}

impl Queries {
    /// Routes a reply to its waiting query (late replies are dropped).
    pub fn complete(&self, id: u64, reply: Reply) {
        if let Some(tx) = self.waiting.borrow().get(&id) {
            let _ = tx.try_send(reply);
        }
    }
}

impl Shard {
    /// This shard's own answer to a query.
    pub fn answer(&self, query: &Query) -> Reply {
        let channels = self.channels.borrow();
        match query {
            Query::Channels { app, prefix } => {
                Reply::Channels(channels.list(*app, prefix.as_deref()))
            }
            Query::Channel { app, name } => Reply::Count(channels.count(*app, name)),
            Query::Members { app, name } => Reply::Members(self.rooms.borrow().users(*app, name)),
            Query::UserCounts { app, prefix } => {
                Reply::Channels(self.rooms.borrow().user_counts(*app, prefix.as_deref()))
            }
            Query::Sync => Reply::Synced,
            Query::Stats => {
                let (subscriptions, count) = channels.totals();
                Reply::Stats(ShardStats {
                    shard: self.id(),
                    connections: self.conns.borrow().len(),
                    subscriptions,
                    channels: count,
                    rate_limited: self.rate_limited.snapshot(),
                    webhooks_dropped: self.webhook_drops(),
                })
            }
        }
    }

    /// Asks every shard (this one included) and returns all answers.
    pub async fn ask_all(self: &Rc<Self>, query: Query) -> Vec<Reply> {
        let mut replies = vec![self.answer(&query)];
        let others = self.bus.shards() - 1;
        if others == 0 {
            return replies;
        }
        let id = self.queries.next.get();
        self.queries.next.set(id + 1);
        let (tx, rx) = local_channel::new_bounded(others);
        self.queries.waiting.borrow_mut().insert(id, tx);
        for to in (0..self.bus.shards()).filter(|&s| s != self.id()) {
            self.bus.send(
                to,
                BusMessage::Query {
                    from: self.id(),
                    id,
                    query: query.clone(),
                },
            );
        }
        for _ in 0..others {
            match glommio::timer::timeout(REPLY_TIMEOUT, async { Ok(rx.recv().await) }).await {
                Ok(Some(r)) => replies.push(r),
                _ => break,
            }
        }
        self.queries.waiting.borrow_mut().remove(&id);
        replies
    }

    /// Waits until every other shard has handled what this shard sent it so far (a broadcast,
    /// a cache update): one round trip through the bus, in order behind those messages.
    pub async fn sync_all(self: &Rc<Self>) {
        self.ask_all(Query::Sync).await;
    }

    /// Total subscriptions of one channel across shards.
    pub async fn global_count(self: &Rc<Self>, app: u32, name: &str) -> usize {
        let replies = self
            .ask_all(Query::Channel {
                app,
                name: name.to_string(),
            })
            .await;
        replies
            .into_iter()
            .map(|r| match r {
                Reply::Count(n) => n,
                _ => 0,
            })
            .sum()
    }

    /// Occupied channels across shards with total subscriptions, sorted by name.
    pub async fn global_channels(
        self: &Rc<Self>,
        app: u32,
        prefix: Option<String>,
    ) -> Vec<(String, usize)> {
        let replies = self.ask_all(Query::Channels { app, prefix }).await;
        let mut merged: HashMap<String, usize> = HashMap::new();
        for r in replies {
            if let Reply::Channels(list) = r {
                for (name, n) in list {
                    *merged.entry(name).or_default() += n;
                }
            }
        }
        let mut out: Vec<(String, usize)> = merged.into_iter().collect();
        out.sort();
        out
    }
}

impl Shard {
    /// Every shard's counters, sorted by shard number.
    pub async fn all_stats(self: &Rc<Self>) -> Vec<ShardStats> {
        let mut stats: Vec<ShardStats> = self
            .ask_all(Query::Stats)
            .await
            .into_iter()
            .filter_map(|r| match r {
                Reply::Stats(s) => Some(s),
                _ => None,
            })
            .collect();
        stats.sort_by_key(|s| s.shard);
        stats
    }
}

impl Shard {
    /// User ids of a presence channel (from its owner shard).
    pub async fn global_members(self: &Rc<Self>, app: u32, name: &str) -> Vec<String> {
        let query = Query::Members {
            app,
            name: name.to_string(),
        };
        self.ask_all(query)
            .await
            .into_iter()
            .flat_map(|r| match r {
                Reply::Members(ids) => ids,
                _ => Vec::new(),
            })
            .collect()
    }

    /// Distinct users of presence channels starting with `prefix`, from their owner shards.
    pub async fn global_user_counts(
        self: &Rc<Self>,
        app: u32,
        prefix: Option<String>,
    ) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for r in self.ask_all(Query::UserCounts { app, prefix }).await {
            if let Reply::Channels(list) = r {
                for (name, n) in list {
                    *out.entry(name).or_default() += n;
                }
            }
        }
        out
    }
}
