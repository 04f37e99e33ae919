//! One link turn: what it takes from the shards (`e` records encoded, `q` records numbered and
//! encoded, answers to other nodes kept apart), the turn itself when connected (questions
//! started after reading the live nodes, then one envelope, then the answers), and the routing
//! of other nodes' questions to a shard (a part of [`super::Link`], kept apart for size).

use std::collections::VecDeque;
use std::time::Instant;

use redis::aio::MultiplexedConnection;

use super::super::ask::{encode_answer, encode_question, Finished, IncomingQuestion};
use super::super::asking::unavailable;
use super::super::buffer::Pending;
use super::super::envelope::{AnswerRecord, Record};
use super::super::session::Lost;
use super::super::shard_link::{Inbound, NodeQuestion};
use super::super::stats::add;
use super::{envelope, Link};

/// What one turn took from the shards.
#[derive(Default)]
pub(super) struct Taken {
    /// Encoded `e` and `q` records, in order.
    pub(super) records: VecDeque<Pending>,
    /// Questions among them: id, asking shard, token.
    pub(super) asks: Vec<(String, usize, u64)>,
    /// Answers to other nodes.
    pub(super) answers: Vec<AnswerRecord>,
}

impl Link {
    /// Every record the shards handed over so far, encoded, in order. Questions are encoded
    /// only while `connected` (otherwise they are answered as unavailable, never buffered).
    pub(super) fn take_records(&mut self, connected: bool) -> Taken {
        let now = Instant::now();
        let ids = &self.setup.app_ids;
        let mut out = Taken::default();
        let mut bad = 0;
        while let Ok(batch) = self.ports.records.try_recv() {
            for r in batch {
                let mut json = Vec::with_capacity(128);
                let r = match r {
                    Record::Event(_) => r,
                    Record::Answer(a) => {
                        out.answers.push(a);
                        continue;
                    }
                    Record::Ask(ask) => {
                        let app = ids.get(ask.app as usize);
                        if let (true, Some(app)) = (connected, app) {
                            let id = self.asking.next_id();
                            encode_question(&id, app, &ask.question, &mut json);
                            out.records.push_back(Pending { json, at: now });
                            out.asks.push((id, ask.shard, ask.token));
                        } else {
                            out.asks.push((String::new(), ask.shard, ask.token));
                        }
                        continue;
                    }
                };
                match envelope::encode_record(
                    &r,
                    |i| ids.get(i as usize).map(String::as_str),
                    &mut json,
                ) {
                    Ok(()) => out.records.push_back(Pending { json, at: now }),
                    Err(e) => {
                        bad += 1;
                        tracing::debug!("cluster: record not sent: {e}");
                    }
                }
            }
        }
        add(&self.ports.stats.dropped_records, bad);
        out
    }

    /// One turn while connected: starts the turn's questions (after reading which nodes are
    /// live), publishes its records, then its answers to other nodes.
    pub(super) async fn turn(
        &mut self,
        cmd: &mut MultiplexedConnection,
        taken: Taken,
    ) -> Result<(), Lost> {
        if !taken.asks.is_empty() {
            match self.asking.live_nodes(cmd).await {
                Ok(live) => {
                    let done: Vec<Finished> = (taken.asks.into_iter())
                        .filter_map(|(id, shard, token)| match id.is_empty() {
                            true => Some(unavailable(shard, token)),
                            false => self.asking.start(id, shard, token, &live),
                        })
                        .collect();
                    self.hand_all(done);
                }
                Err(lost) => {
                    let done = taken.asks.iter().map(|&(_, s, t)| unavailable(s, t));
                    let done: Vec<Finished> = done.collect();
                    self.hand_all(done);
                    // The events wait for the next session; the questions were just answered.
                    let events = taken.records.into_iter().filter(|r| !is_question(&r.json));
                    for r in events {
                        let dropped = self.buffer.push(r);
                        add(&self.ports.stats.dropped_records, dropped);
                    }
                    return Err(lost);
                }
            }
        }
        self.publish(cmd, taken.records).await?;
        for a in taken.answers {
            let env = encode_answer(&self.setup.node, &a.id, &a.counts);
            redis::cmd("PUBLISH")
                .arg(self.asking.inbox_of(&a.to))
                .arg(env)
                .query_async::<i64>(cmd)
                .await?;
        }
        Ok(())
    }

    /// Hands finished questions to the shards that asked them.
    pub(super) fn hand_all(&mut self, finished: Vec<Finished>) {
        for (shard, gathered) in finished {
            if let Some(port) = self.ports.shards.get_mut(shard) {
                port.hand(Inbound::Gathered(gathered));
            }
        }
    }

    /// Hands another node's question (its app known as index `app`) to the next shard in
    /// turn, which answers with this node's count.
    pub(super) fn route_question(&mut self, q: IncomingQuestion<'_>, app: u32) {
        let Some(from) = q.asker() else {
            return;
        };
        let question = NodeQuestion {
            from: from.into(),
            id: (*q.id).into(),
            app,
            question: q.question,
        };
        let shards = self.ports.shards.len().max(1);
        let to = self.next_shard % shards;
        self.next_shard = (to + 1) % shards;
        if let Some(port) = self.ports.shards.get_mut(to) {
            port.hand(Inbound::Question(question));
        }
    }
}

/// Whether an encoded record is a `q` record (as [`encode_question`] writes them).
fn is_question(json: &[u8]) -> bool {
    json.starts_with(br#"{"k":"q""#)
}

/// Resolves at `deadline`, never without one.
pub(super) async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
