//! The sender threads. One dispatcher thread owns the [`Dispatch`] state: it takes events from
//! the shards' queue, batches and signs them, and hands each POST to one of the worker threads,
//! which send it with `ureq` (blocking, connect timeout 2 s, request timeout 10 s) and report the
//! outcome back. No shard ever waits on any of them.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select, Receiver, Sender};
use tracing::{debug, warn};

use super::dispatch::{Dispatch, Job, Outcome};
use super::retry;
use super::stats::WebhookStats;
use super::Record;
use crate::config::Config;

/// Shortest interval between two log lines about dropped events.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Longest the dispatcher sleeps when nothing is due (it also wakes on every event).
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// During a flush, how long the queue must stay empty before the sender stops (events the
/// closing connections cause are still on their way from the shards).
const FLUSH_QUIET: Duration = Duration::from_millis(100);
/// Largest response body read (and discarded) so the connection can be reused.
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// The running sender: ask it to flush at shutdown.
pub struct SenderHandle {
    control: Sender<Duration>,
    done: Receiver<usize>,
    dispatcher: Option<JoinHandle<()>>,
}

impl SenderHandle {
    /// Sends every pending event for at most `limit` (open batches close at once; events the
    /// shards queue meanwhile are still taken); returns how many events were still
    /// undelivered then (dropped).
    pub fn flush(mut self, limit: Duration) -> usize {
        if self.control.send(limit).is_err() {
            return 0;
        }
        let left = self
            .done
            .recv_timeout(limit + Duration::from_millis(500))
            .unwrap_or(0);
        if let Some(h) = self.dispatcher.take() {
            if h.is_finished() {
                let _ = h.join();
            }
        }
        left
    }
}

/// Starts the dispatcher and `workers` worker threads on the shards' queue `events`.
pub fn spawn(
    config: &Config,
    events: Receiver<Record>,
    stats: Arc<WebhookStats>,
    node_key: String,
) -> std::io::Result<SenderHandle> {
    let limit = config.settings.webhook_queue as usize;
    let dispatch = Dispatch::new(&config.apps, node_key, limit, Arc::clone(&stats));
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
    let (out_tx, out_rx) = crossbeam_channel::unbounded::<(usize, Outcome)>();
    let agent = agent();
    for n in 0..config.settings.webhook_workers {
        let (jobs, outcomes, agent) = (job_rx.clone(), out_tx.clone(), agent.clone());
        std::thread::Builder::new()
            .name(format!("corecast-webhook-{n}"))
            .spawn(move || {
                for job in jobs {
                    let outcome = post(&agent, &job);
                    if outcomes.send((job.target, outcome)).is_err() {
                        return;
                    }
                }
            })?;
    }
    let (control_tx, control_rx) = crossbeam_channel::bounded::<Duration>(1);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<usize>(1);
    let dispatcher = std::thread::Builder::new()
        .name("corecast-webhooks".into())
        .spawn(move || {
            let left = run(dispatch, events, job_tx, out_rx, control_rx);
            let _ = done_tx.send(left);
        })?;
    Ok(SenderHandle {
        control: control_tx,
        done: done_rx,
        dispatcher: Some(dispatcher),
    })
}

/// The dispatcher loop; returns the events left undelivered when a flush ended.
fn run(
    mut dispatch: Dispatch,
    mut events: Receiver<Record>,
    jobs: Sender<Job>,
    outcomes: Receiver<(usize, Outcome)>,
    mut control: Receiver<Duration>,
) -> usize {
    let mut flush_until: Option<Instant> = None;
    let mut last_event = Instant::now();
    let mut last_drop_log: Option<Instant> = None;
    loop {
        let now = Instant::now();
        for job in dispatch.poll(now) {
            let _ = jobs.send(job);
        }
        if let Some(deadline) = flush_until {
            let idle = dispatch.pending() == 0 && now.duration_since(last_event) >= FLUSH_QUIET;
            if idle || now >= deadline {
                return dispatch.abandon();
            }
        }
        let quiet = last_drop_log.is_none_or(|t| now.duration_since(t) >= DROP_LOG_INTERVAL);
        if dispatch.unlogged_drops() > 0 && quiet {
            let events = dispatch.take_unlogged_drops();
            warn!(
                events,
                "webhook events dropped (see corecast_webhook_dropped_total)"
            );
            last_drop_log = Some(now);
        }
        let mut wake = dispatch
            .next_wakeup()
            .unwrap_or(now + IDLE_WAKE)
            .min(now + IDLE_WAKE);
        if let Some(deadline) = flush_until {
            wake = wake.min(deadline);
            let quiet_ends = last_event + FLUSH_QUIET;
            if quiet_ends > now {
                wake = wake.min(quiet_ends);
            }
        }
        let timeout = wake.saturating_duration_since(now);
        select! {
            recv(events) -> msg => {
                let Ok(first) = msg else {
                    // Every shard is gone: deliver what is left as a flush would.
                    events = crossbeam_channel::never();
                    flush_until.get_or_insert(Instant::now() + retry::REQUEST_TIMEOUT);
                    dispatch.close_batches();
                    continue;
                };
                let now = Instant::now();
                last_event = now;
                let time_ms = unix_ms();
                dispatch.record(first.app, &first.event, now, time_ms);
                while let Ok(r) = events.try_recv() {
                    dispatch.record(r.app, &r.event, now, time_ms);
                }
            }
            recv(outcomes) -> msg => {
                if let Ok((target, outcome)) = msg {
                    if let Outcome::Failed(why) = &outcome {
                        debug!(target, %why, "webhook attempt failed");
                    }
                    dispatch.outcome(target, &outcome, Instant::now());
                }
            }
            recv(control) -> msg => {
                let Ok(limit) = msg else {
                    // The handle is gone without asking for a flush: nothing to wait for.
                    control = crossbeam_channel::never();
                    continue;
                };
                // Take what the shards queued before the stop, then close every batch.
                let (now, time_ms) = (Instant::now(), unix_ms());
                while let Ok(r) = events.try_recv() {
                    dispatch.record(r.app, &r.event, now, time_ms);
                }
                dispatch.close_batches();
                flush_until = Some(now + limit);
                last_event = now;
            }
            default(timeout) => {}
        }
        if flush_until.is_some() {
            dispatch.close_batches();
        }
    }
}

/// The HTTP client shared by the workers.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(retry::CONNECT_TIMEOUT))
        .timeout_global(Some(retry::REQUEST_TIMEOUT))
        .user_agent(concat!("corecast/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Sends one POST and says how it ended.
fn post(agent: &ureq::Agent, job: &Job) -> Outcome {
    let mut req = agent
        .post(&job.info.url)
        .header("Content-Type", "application/json")
        .header("X-Pusher-Key", &job.info.key)
        .header("X-Pusher-Signature", &*job.signature)
        .header("X-Corecast-Webhook-Id", &*job.id);
    for (name, value) in &job.info.headers {
        req = req.header(name, value);
    }
    match req.send(&job.body[..]) {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let _ = resp
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE_BODY)
                .read_to_vec();
            if retry::delivered(status) {
                Outcome::Delivered
            } else {
                Outcome::Failed(format!("{} answered {status}", job.info.url))
            }
        }
        Err(e) => Outcome::Failed(format!("{}: {e}", job.info.url)),
    }
}

/// Now as Unix milliseconds.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
