//! The sender's state, pure: one target per (app, webhook URL) with its open batch, its FIFO of
//! signed POSTs (bounded: the oldest waiting one is dropped when full) and at most one request
//! in flight; retries keep the exact body, signature and `X-Corecast-Webhook-Id`. The threads
//! around it (`sender`) feed it events and outcomes and run the jobs it hands out.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::{Batch, Batcher};
use super::event::Event;
use super::payload;
use super::retry;
use super::spec::Webhook;
use super::stats::{DropReason, WebhookStats};
use crate::config::App;

/// Where a target's POSTs go, shared with the worker running one.
#[derive(Debug)]
pub struct TargetInfo {
    /// App id (for logs).
    pub app_id: String,
    /// URL.
    pub url: String,
    /// App key (`X-Pusher-Key`).
    pub key: String,
    /// Configured extra headers.
    pub headers: Vec<(String, String)>,
}

/// One POST to attempt.
#[derive(Debug, Clone)]
pub struct Job {
    /// Target index.
    pub target: usize,
    /// Destination and headers.
    pub info: Arc<TargetInfo>,
    /// `X-Corecast-Webhook-Id`.
    pub id: Arc<str>,
    /// Exact body bytes.
    pub body: Arc<[u8]>,
    /// `X-Pusher-Signature` of `body`.
    pub signature: Arc<str>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a 2xx.
    Delivered,
    /// Network error, timeout or non-2xx (described).
    Failed(String),
}

#[derive(Debug)]
struct Delivery {
    id: Arc<str>,
    body: Arc<[u8]>,
    signature: Arc<str>,
    events: usize,
    opened: Instant,
    first_attempt: Option<Instant>,
    failures: u32,
}

#[derive(Debug)]
struct Target {
    info: Arc<TargetInfo>,
    hook: Webhook,
    secret: String,
    batcher: Batcher,
    queue: VecDeque<Delivery>,
    queued_events: usize,
    busy: bool,
    retry_at: Option<Instant>,
}

/// Every target's state.
#[derive(Debug)]
pub struct Dispatch {
    targets: Vec<Target>,
    by_app: Vec<Vec<usize>>,
    node_key: String,
    next_id: u64,
    limit: usize,
    stats: Arc<WebhookStats>,
    unlogged_drops: u64,
}

impl Dispatch {
    /// Targets for every webhook of `apps`; POST ids are `{node_key}-{n}`; each target keeps at
    /// most `limit` events waiting.
    pub fn new(apps: &[App], node_key: String, limit: usize, stats: Arc<WebhookStats>) -> Self {
        let mut targets = Vec::new();
        let mut by_app = Vec::with_capacity(apps.len());
        for app in apps {
            let mut mine = Vec::new();
            for hook in &app.webhooks {
                mine.push(targets.len());
                targets.push(Target {
                    info: Arc::new(TargetInfo {
                        app_id: app.id.clone(),
                        url: hook.url.clone(),
                        key: app.key.clone(),
                        headers: hook.headers.clone(),
                    }),
                    hook: hook.clone(),
                    secret: app.secret.clone(),
                    batcher: Batcher::new(app.webhook_batch),
                    queue: VecDeque::new(),
                    queued_events: 0,
                    busy: false,
                    retry_at: None,
                });
            }
            by_app.push(mine);
        }
        Dispatch {
            targets,
            by_app,
            node_key,
            next_id: 1,
            limit: limit.max(1),
            stats,
            unlogged_drops: 0,
        }
    }

    /// Hands an event of app `app` to each of its webhooks that wants it (serialized once).
    pub fn record(&mut self, app: u32, event: &Event, now: Instant, time_ms: u64) {
        let Some(count) = self.by_app.get(app as usize).map(Vec::len) else {
            return;
        };
        let mut json: Option<Arc<str>> = None;
        for i in 0..count {
            let t = self.by_app[app as usize][i];
            if !self.targets[t].hook.wants(event) {
                continue;
            }
            let json = Arc::clone(json.get_or_insert_with(|| Arc::from(event.to_json())));
            self.stats.pending.fetch_add(1, Ordering::Relaxed);
            if let Some(batch) = self.targets[t].batcher.push(json, now, time_ms) {
                self.seal(t, batch);
            }
        }
    }

    /// Signs a closed batch and queues it behind the target's earlier POSTs.
    fn seal(&mut self, t: usize, batch: Batch) {
        let body: Arc<[u8]> = payload::body(batch.time_ms, &batch.events).into();
        let target = &mut self.targets[t];
        let signature: Arc<str> = payload::signature(&target.secret, &body).into();
        let id: Arc<str> = format!("{}-{}", self.node_key, self.next_id).into();
        self.next_id += 1;
        target.queued_events += batch.events.len();
        target.queue.push_back(Delivery {
            id,
            body,
            signature,
            events: batch.events.len(),
            opened: batch.opened,
            first_attempt: None,
            failures: 0,
        });
        // Over the limit: drop the oldest POST that is not in flight.
        let keep = usize::from(target.busy);
        while target.queued_events > self.limit && target.queue.len() > keep + 1 {
            if let Some(old) = target.queue.remove(keep) {
                target.queued_events -= old.events;
                self.stats
                    .pending
                    .fetch_sub(old.events as u64, Ordering::Relaxed);
                self.stats
                    .drop_events(DropReason::BacklogFull, old.events as u64);
                self.unlogged_drops += old.events as u64;
            }
        }
    }

    /// Closes the batches whose window has passed and returns the POSTs to start now.
    pub fn poll(&mut self, now: Instant) -> Vec<Job> {
        for t in 0..self.targets.len() {
            if let Some(batch) = self.targets[t].batcher.due(now) {
                self.seal(t, batch);
            }
        }
        let mut jobs = Vec::new();
        for (i, t) in self.targets.iter_mut().enumerate() {
            if t.busy || t.retry_at.is_some_and(|at| at > now) {
                continue;
            }
            let Some(d) = t.queue.front_mut() else {
                continue;
            };
            t.busy = true;
            t.retry_at = None;
            d.first_attempt.get_or_insert(now);
            if d.failures > 0 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            jobs.push(Job {
                target: i,
                info: Arc::clone(&t.info),
                id: Arc::clone(&d.id),
                body: Arc::clone(&d.body),
                signature: Arc::clone(&d.signature),
            });
        }
        jobs
    }

    /// Records how target `t`'s attempt ended at `now`.
    pub fn outcome(&mut self, t: usize, outcome: &Outcome, now: Instant) {
        let Some(target) = self.targets.get_mut(t) else {
            return;
        };
        target.busy = false;
        let Some(d) = target.queue.front_mut() else {
            return;
        };
        let done = match outcome {
            Outcome::Delivered => {
                self.stats.posts_sent.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .events_sent
                    .fetch_add(d.events as u64, Ordering::Relaxed);
                self.stats
                    .observe_latency(now.saturating_duration_since(d.opened));
                true
            }
            Outcome::Failed(_) => {
                self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                d.failures += 1;
                let elapsed = d
                    .first_attempt
                    .map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
                match retry::next_wait(d.failures, elapsed) {
                    Some(wait) => {
                        target.retry_at = Some(now + wait);
                        false
                    }
                    None => {
                        self.stats.drop_events(DropReason::Expired, d.events as u64);
                        self.unlogged_drops += d.events as u64;
                        true
                    }
                }
            }
        };
        if done {
            if let Some(d) = target.queue.pop_front() {
                target.queued_events -= d.events;
                self.stats
                    .pending
                    .fetch_sub(d.events as u64, Ordering::Relaxed);
            }
        }
    }

    /// Closes every open batch now, whatever its window (shutdown).
    pub fn close_batches(&mut self) {
        for t in 0..self.targets.len() {
            if let Some(batch) = self.targets[t].batcher.take() {
                self.seal(t, batch);
            }
        }
    }

    /// The next time [`Dispatch::poll`] has something to do (a window ends, a retry is due).
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.targets
            .iter()
            .flat_map(|t| {
                let retry = (!t.busy && !t.queue.is_empty())
                    .then_some(t.retry_at)
                    .flatten();
                [t.batcher.deadline(), retry]
            })
            .flatten()
            .min()
    }

    /// Events not yet delivered or dropped.
    pub fn pending(&self) -> usize {
        self.targets
            .iter()
            .map(|t| t.batcher.len() + t.queued_events)
            .sum()
    }

    /// Counts everything still pending as dropped at shutdown; returns how many events.
    pub fn abandon(&mut self) -> usize {
        let n = self.pending();
        self.stats.drop_events(DropReason::Shutdown, n as u64);
        n
    }

    /// Events dropped since the last [`Dispatch::take_unlogged_drops`].
    pub fn unlogged_drops(&self) -> u64 {
        self.unlogged_drops
    }

    /// Events dropped since the last call (for one log line per interval).
    pub fn take_unlogged_drops(&mut self) -> u64 {
        std::mem::take(&mut self.unlogged_drops)
    }

    /// Number of targets.
    pub fn targets(&self) -> usize {
        self.targets.len()
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
