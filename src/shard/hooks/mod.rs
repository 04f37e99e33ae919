//! The shard's webhook and subscription-count hooks: where each webhook event is decided, and
//! the hand-off to the sender's queue ([`crate::webhooks::Outbox`], never waited on).
//!
//! - Every shard reports its local subscription count of a channel to the channel's owner
//!   shard: on 0 ↔ 1 only, or on every change for apps with `enable_subscription_count`. Only
//!   apps that need it ([`tracks_channels`]) report anything; nothing runs per delivered message.
//! - The owner shard decides `channel_occupied` / `channel_vacated` (the node going 0 → ≥ 1 →
//!   0), `cache_miss` (once until the channel is populated or vacated), `subscription_count`
//!   (and broadcasts `pusher_internal:subscription_count`); it already decides presence
//!   membership, so `member_added` / `member_removed` come from it too. With a vacate grace, a
//!   vacate or removal waits and a return within the grace cancels both webhooks. These owner
//!   decisions ([`Shard::decide_occupied`], [`Shard::decide_vacated`]) are the seam a
//!   cluster-wide decision replaces.
//! - `client_event` comes from the shard that received the client's frame.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

mod members;

use super::occupancy::{CountDue, Occupancy, Pending, Tallies};
use super::{ConnKey, Shard};
use crate::bus::BusMessage;
use crate::config::App;
use crate::protocol::outbound;
use crate::webhooks::{reported_name, Event, EventKind, Record};
use crate::ws::frame;

/// Shortest interval between two log lines about a full webhook queue, per shard.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Longest the timer task sleeps (a new timer waits at most this long past its time).
const TIMER_TICK: Duration = Duration::from_millis(50);

/// A deferred decision.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// The vacate grace of a channel ended.
    Vacate {
        app: u32,
        channel: Arc<str>,
        generation: u64,
    },
    /// The removal grace of a member ended.
    Removed {
        app: u32,
        channel: Arc<str>,
        user_id: Arc<str>,
        generation: u64,
    },
    /// A throttled subscription count is due.
    Count { app: u32, channel: Arc<str> },
}

/// (app, presence channel, user id).
type MemberKey = (u32, Arc<str>, Arc<str>);

/// The hooks' state on one shard (owner-side tallies for the channels it owns).
#[derive(Debug, Default)]
pub struct Hooks {
    tallies: RefCell<Tallies>,
    vacating: RefCell<Pending<(u32, Arc<str>)>>,
    removing: RefCell<Pending<MemberKey>>,
    /// Per app index: cache channels whose `cache_miss` was sent.
    missed: RefCell<Vec<HashSet<Box<str>>>>,
    timers: RefCell<BinaryHeap<Reverse<(Instant, Timer)>>>,
    drops: Cell<u64>,
    drop_logged: Cell<Option<Instant>>,
}

/// Whether an app's shards report subscription counts to owners: it wants occupancy or cache
/// miss webhooks, or sends subscription counts.
pub fn tracks_channels(app: &App) -> bool {
    let e = app.webhook_events;
    app.enable_subscription_count
        || e.has(EventKind::ChannelOccupied)
        || e.has(EventKind::ChannelVacated)
        || e.has(EventKind::CacheMiss)
        || e.has(EventKind::SubscriptionCount)
}

/// Whether a channel gets subscription counts: Pusher channels except presence ones.
fn counted(channel: &str) -> bool {
    !channel.starts_with('#') && !channel.starts_with("presence-")
}

/// Whether any app needs the hooks' timer task (vacate graces, throttled counts).
pub fn needs_timers(apps: &[App]) -> bool {
    apps.iter().any(|a| {
        a.enable_subscription_count || (!a.webhooks.is_empty() && !a.vacate_grace.is_zero())
    })
}

/// Runs the shard's deferred decisions (grace ends, throttled counts) forever.
pub async fn run_timers(shard: Rc<Shard>) {
    loop {
        glommio::timer::sleep(TIMER_TICK).await;
        shard.fire_timers(Instant::now());
    }
}

impl Shard {
    /// Adds a subscriber to the local table and reports the change to the owner when needed.
    pub fn add_local(&self, app: u32, channel: &str, key: ConnKey) {
        if self.channels.borrow_mut().add(app, channel, key) {
            self.report_local(app, channel, true);
        }
    }

    /// Removes a subscriber from the local table and reports the change when needed.
    pub fn remove_local(&self, app: u32, channel: &str, key: ConnKey) {
        if self.channels.borrow_mut().remove(app, channel, key) {
            self.report_local(app, channel, false);
        }
    }

    /// Reports a change of the local table (made by the caller) to the owner when needed.
    pub(super) fn report_local(&self, app: u32, channel: &str, added: bool) {
        let a = self.app(app);
        if !tracks_channels(a) || reported_name(channel).is_none() {
            return;
        }
        let count = self.channels.borrow().count(app, channel) as u32;
        let edge = (added && count == 1) || (!added && count == 0);
        if !(edge || a.enable_subscription_count && counted(channel)) {
            return;
        }
        let msg = BusMessage::LocalCount {
            app,
            channel: Arc::from(channel),
            from: self.id(),
            count,
        };
        self.route(self.owner(app, channel), msg);
    }

    /// Owner side: shard `from` now has `count` local subscriptions of `channel`.
    pub fn on_local_count(&self, app: u32, channel: Arc<str>, from: usize, count: u32) {
        let change = self
            .hooks
            .tallies
            .borrow_mut()
            .set(app, &channel, from, count);
        let grace = self.app(app).vacate_grace;
        match change {
            Occupancy::Occupied => {
                let key = (app, Arc::clone(&channel));
                if !self.hooks.vacating.borrow_mut().cancel(&key) {
                    self.decide_occupied(app, &channel);
                }
            }
            Occupancy::Vacated if grace.is_zero() => self.decide_vacated(app, &channel),
            Occupancy::Vacated => {
                let generation = self
                    .hooks
                    .vacating
                    .borrow_mut()
                    .start((app, Arc::clone(&channel)));
                self.set_timer(
                    grace,
                    Timer::Vacate {
                        app,
                        channel: Arc::clone(&channel),
                        generation,
                    },
                );
            }
            Occupancy::Same => {}
        }
        if self.app(app).enable_subscription_count && counted(&channel) {
            let due = self
                .hooks
                .tallies
                .borrow_mut()
                .count_due(app, &channel, Instant::now());
            self.count_due(app, channel, due);
        }
    }

    /// The node's subscriptions of `channel` went 0 → ≥ 1 (decided once, here).
    pub fn decide_occupied(&self, app: u32, channel: &str) {
        self.channel_webhook(app, channel, EventKind::ChannelOccupied);
    }

    /// The node's subscriptions of `channel` went to 0 (decided once, here).
    pub fn decide_vacated(&self, app: u32, channel: &str) {
        if let Some(set) = self.hooks.missed.borrow_mut().get_mut(app as usize) {
            set.remove(channel);
        }
        self.channel_webhook(app, channel, EventKind::ChannelVacated);
    }

    fn channel_webhook(&self, app: u32, channel: &str, kind: EventKind) {
        if !self.app(app).webhook_events.has(kind) {
            return;
        }
        let Some(name) = reported_name(channel) else {
            return;
        };
        let channel = name.into_owned();
        let event = match kind {
            EventKind::ChannelOccupied => Event::ChannelOccupied { channel },
            EventKind::ChannelVacated => Event::ChannelVacated { channel },
            _ => Event::CacheMiss { channel },
        };
        self.emit_webhook(app, event);
    }

    fn count_due(&self, app: u32, channel: Arc<str>, due: CountDue) {
        match due {
            CountDue::Now(n) => {
                let data = format!("{{\"subscription_count\":{n}}}");
                let json =
                    outbound::internal_event("pusher_internal:subscription_count", &channel, &data);
                let json = self.app(app).event_prefix.outbound(json);
                self.publish(app, &channel, frame::text_frame(json.as_bytes()), None);
                if self
                    .app(app)
                    .webhook_events
                    .has(EventKind::SubscriptionCount)
                {
                    let event = Event::SubscriptionCount {
                        channel: channel.to_string(),
                        subscription_count: n,
                    };
                    self.emit_webhook(app, event);
                }
            }
            CountDue::At(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                self.set_timer(wait, Timer::Count { app, channel });
            }
            CountDue::Nothing => {}
        }
    }

    /// Subscriber side: a subscription to a cache channel found nothing cached.
    pub fn cache_missed(&self, app: u32, channel: &str) {
        if self.app(app).webhook_events.has(EventKind::CacheMiss) {
            let msg = BusMessage::CacheMiss {
                app,
                channel: Arc::from(channel),
            };
            self.route(self.owner(app, channel), msg);
        }
    }

    /// Owner side of a cache miss: the webhook, unless one was sent since the channel was last
    /// populated or vacated.
    pub fn on_cache_miss(&self, app: u32, channel: Arc<str>) {
        let fresh = {
            let mut missed = self.hooks.missed.borrow_mut();
            if missed.len() <= app as usize {
                missed.resize_with(self.config.apps.len().max(app as usize + 1), HashSet::new);
            }
            missed[app as usize].insert(Box::from(&*channel))
        };
        if fresh {
            self.channel_webhook(app, &channel, EventKind::CacheMiss);
        }
    }

    /// A cache channel got a value (on every shard; only its owner remembers misses).
    pub fn cache_populated(&self, app: u32, channel: &str) {
        if let Some(set) = self.hooks.missed.borrow_mut().get_mut(app as usize) {
            if !set.is_empty() {
                set.remove(channel);
            }
        }
    }

    /// Queues a webhook event for the sender; a full queue drops it (counted, logged at most
    /// once per interval).
    pub fn emit_webhook(&self, app: u32, event: Event) {
        let Some(outbox) = &self.globals.webhooks else {
            return;
        };
        if outbox.push(Record { app, event }) {
            return;
        }
        self.hooks.drops.set(self.hooks.drops.get() + 1);
        let now = Instant::now();
        let quiet = self
            .hooks
            .drop_logged
            .get()
            .is_none_or(|t| now.saturating_duration_since(t) >= DROP_LOG_INTERVAL);
        if quiet {
            self.hooks.drop_logged.set(Some(now));
            warn!(
                shard = self.id(),
                dropped = self.hooks.drops.get(),
                "webhook queue full: events dropped (CORECAST_WEBHOOK_QUEUE)"
            );
        }
    }

    /// Webhook events this shard dropped because the queue was full.
    pub fn webhook_drops(&self) -> u64 {
        self.hooks.drops.get()
    }

    pub(super) fn set_timer(&self, after: Duration, timer: Timer) {
        let at = Instant::now() + after;
        self.hooks.timers.borrow_mut().push(Reverse((at, timer)));
    }

    /// Runs the timers due at `now`.
    pub fn fire_timers(&self, now: Instant) {
        loop {
            let timer = {
                let mut timers = self.hooks.timers.borrow_mut();
                match timers.peek() {
                    Some(Reverse((at, _))) if *at <= now => timers.pop().map(|Reverse((_, t))| t),
                    _ => None,
                }
            };
            let Some(timer) = timer else { return };
            match timer {
                Timer::Vacate {
                    app,
                    channel,
                    generation,
                } => {
                    let key = (app, Arc::clone(&channel));
                    let ended = self.hooks.vacating.borrow_mut().fire(&key, generation);
                    if ended && self.hooks.tallies.borrow().total(app, &channel) == 0 {
                        self.decide_vacated(app, &channel);
                    }
                }
                Timer::Removed {
                    app,
                    channel,
                    user_id,
                    generation,
                } => {
                    let key = (app, Arc::clone(&channel), Arc::clone(&user_id));
                    if self.hooks.removing.borrow_mut().fire(&key, generation) {
                        self.send_member_removed(app, &channel, &user_id);
                    }
                }
                Timer::Count { app, channel } => {
                    let due = self
                        .hooks
                        .tallies
                        .borrow_mut()
                        .count_timer_fired(app, &channel, now);
                    self.count_due(app, channel, due);
                }
            }
        }
    }
}
