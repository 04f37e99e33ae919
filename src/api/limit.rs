//! The per-app REST rate limits as the endpoints apply them (the windows themselves are in
//! [`crate::rate_limit`]): events are counted after the request is authenticated and
//! validated, before anything is published (`/events`: one point per channel,
//! `/batch_events`: one per event, `/api/publish`: one); channel queries one point each, after
//! authentication. Unsigned or invalid requests therefore never use an app's budget. A refusal
//! is a 429 with `Retry-After` and is counted in this shard's refusals.

use std::time::Instant;

use super::ApiError;
use crate::config::App;
use crate::rate_limit::{RestKind, RETRY_AFTER_SECS};
use crate::shard::Shard;

/// Takes `points` of `kind` from the app's budget; `Err(429)` when it is used up.
pub fn check(shard: &Shard, app: &App, kind: RestKind, points: usize) -> Result<(), ApiError> {
    let Some(limit) = kind.limit(app) else {
        return Ok(());
    };
    let points = u32::try_from(points).unwrap_or(u32::MAX);
    let windows = &shard.globals.rest_windows;
    if windows.take(app.index, kind, points, limit, Instant::now()) {
        return Ok(());
    }
    shard.rate_limited.count(app.index, kind);
    let what = match kind {
        RestKind::Events => "events",
        RestKind::Reads => "read requests",
    };
    let message = if points > limit {
        format!("This request carries {points} {what}, over this app's limit of {limit} per second")
    } else {
        format!("Rate limit exceeded: this app may make {limit} {what} per second")
    };
    Err(ApiError::TooManyRequests {
        message,
        retry_after: RETRY_AFTER_SECS,
    })
}
