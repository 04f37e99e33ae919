//! One session with Redis: the command connection (multiplexed) and the subscription
//! connection to the bus channel and the node's inbox channel, opened together; why a session ends; and the reconnect
//! back-off.

use std::time::{Duration, Instant};

use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, Client};
use thiserror::Error;

use super::link::STARTUP_WAIT;

/// Longest a connection attempt or a command reply may take.
pub(super) const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a session with Redis ended.
#[derive(Debug, Error)]
pub(super) enum Lost {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("no reply within {0:?} to {1}")]
    Timeout(Duration, &'static str),
    #[error("the subscription connection closed")]
    Closed,
}

/// A live pair of connections.
pub(super) struct Session {
    pub(super) cmd: MultiplexedConnection,
    pub(super) sink: PubSubSink,
    pub(super) stream: PubSubStream,
}

/// Tries to open a session until [`STARTUP_WAIT`] has passed.
pub(super) async fn first_session(client: &Client, bus: &[&str]) -> Result<Session, Lost> {
    let deadline = Instant::now() + STARTUP_WAIT;
    let mut backoff = Backoff::default();
    loop {
        match open(client, bus).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                let delay = backoff.next_delay(fastrand::f64());
                if Instant::now() + delay >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Connects both connections and subscribes to the channels `bus` (the bus and the inbox).
pub(super) async fn open(client: &Client, bus: &[&str]) -> Result<Session, Lost> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REPLY_TIMEOUT))
        .set_response_timeout(Some(REPLY_TIMEOUT));
    let cmd = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let pubsub = within(REPLY_TIMEOUT, "connect", client.get_async_pubsub()).await??;
    let (mut sink, stream) = pubsub.split();
    for channel in bus {
        within(REPLY_TIMEOUT, "SUBSCRIBE", sink.subscribe(*channel)).await??;
    }
    Ok(Session { cmd, sink, stream })
}

pub(super) async fn within<T>(
    limit: Duration,
    what: &'static str,
    f: impl std::future::Future<Output = T>,
) -> Result<T, Lost> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| Lost::Timeout(limit, what))
}

/// Reconnect delays: 100 ms doubling up to 2 s, each ±20 %.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The next delay; `unit` is a random number in `[0, 1)` for the jitter.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let base = 100u64.saturating_mul(1 << self.attempt.min(5)).min(2000) as f64;
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis((base * (0.8 + 0.4 * unit)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_to_two_seconds_with_jitter() {
        let mut b = Backoff::default();
        let mids: Vec<u128> = (0..7).map(|_| b.next_delay(0.5).as_millis()).collect();
        assert_eq!(mids, [100, 200, 400, 800, 1600, 2000, 2000]);
        let mut b = Backoff::default();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(80));
        assert_eq!(b.next_delay(0.999_999), Duration::from_millis(239));
    }
}
