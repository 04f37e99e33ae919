//! Subscription counts over the whole cluster: this node's count from every shard
//! ([`Shard::global_count`], [`Shard::global_channels`]) plus the other live nodes' shares
//! asked through the link, and this node's answers to the other nodes' questions. On a single
//! node the local count is the answer. A count that lacks some node's share says so in
//! [`Counted::partial`] (the `X-Corecast-Partial` value).

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use super::Shard;
use crate::cluster::ask::{Counts, Gathered, Question};
use crate::cluster::envelope::{AnswerRecord, Record};
use crate::cluster::NodeQuestion;

/// Beyond the query timeout, how long a shard waits for a link that does not answer at all.
const BACKSTOP_MARGIN: Duration = Duration::from_secs(1);

/// A cluster-wide count, and which shares it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted<T> {
    /// The count.
    pub value: T,
    /// `None` when complete; otherwise the missing node keys (comma-separated) or
    /// `unavailable` (Redis cannot be reached: this node's count only).
    pub partial: Option<String>,
}

impl Shard {
    /// Asks the other nodes (cluster mode only); the future resolves with their shares.
    fn ask_nodes(
        self: &Rc<Self>,
        app: u32,
        question: Question,
    ) -> Option<impl std::future::Future<Output = Gathered> + 'static> {
        let link = self.cluster.as_ref()?;
        let timeout = self.config.settings.cluster.cluster_query_timeout_ms;
        let backstop = Duration::from_millis(timeout.into()) + BACKSTOP_MARGIN;
        Some(link.ask(app, question, backstop))
    }

    /// Subscriptions of one channel on every live node.
    pub async fn cluster_count(self: &Rc<Self>, app: u32, name: &str) -> Counted<usize> {
        let question = Question::Channel { name: name.into() };
        let remote = self.ask_nodes(app, question);
        let local = self.global_count(app, name).await;
        let Some(remote) = remote else {
            return Counted {
                value: local,
                partial: None,
            };
        };
        let gathered = remote.await;
        let others = gathered.counts.get(name).copied().unwrap_or(0);
        Counted {
            value: local + others,
            partial: gathered.missing.header(),
        }
    }

    /// Occupied channels (by `prefix`) with their subscriptions on every live node, sorted.
    pub async fn cluster_channels(
        self: &Rc<Self>,
        app: u32,
        prefix: Option<String>,
    ) -> Counted<Vec<(String, usize)>> {
        let question = Question::Channels {
            prefix: prefix.clone(),
        };
        let remote = self.ask_nodes(app, question);
        let local = self.global_channels(app, prefix).await;
        let Some(remote) = remote else {
            return Counted {
                value: local,
                partial: None,
            };
        };
        let gathered = remote.await;
        let mut merged: HashMap<String, usize> = gathered.counts;
        for (name, n) in local {
            *merged.entry(name).or_default() += n;
        }
        let mut value: Vec<(String, usize)> = merged.into_iter().filter(|(_, n)| *n > 0).collect();
        value.sort();
        Counted {
            value,
            partial: gathered.missing.header(),
        }
    }

    /// Answers another node's question with this node's count (from every shard), through
    /// the link to the asker's inbox.
    pub fn answer_node(self: &Rc<Self>, q: NodeQuestion) {
        let shard = Rc::clone(self);
        glommio::spawn_local(async move {
            let counts: Counts = match q.question {
                Question::Channel { name } => {
                    let n = shard.global_count(q.app, &name).await;
                    vec![(name, n)]
                }
                Question::Channels { prefix } => shard.global_channels(q.app, prefix).await,
            };
            if let Some(link) = &shard.cluster {
                link.send(Record::Answer(AnswerRecord {
                    to: q.from,
                    id: q.id,
                    counts,
                }));
            }
        })
        .detach();
    }
}
