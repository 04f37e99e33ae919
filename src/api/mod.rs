//! The REST API under `/apps/{app_id}/…` (plus `POST /api/publish` for raw channels): routing,
//! signed-request checks, and JSON errors. Each endpoint lives in its own module; all of them
//! answer with a [`Response`].

mod channels;
mod error;
mod events;
mod limit;
mod metrics;
mod piesocket;

use std::rc::Rc;

use crate::auth::request::{verify_request, QueryParams};
use crate::config::App;
use crate::http::{json_response, RequestHead, Response};
use crate::rate_limit::RestKind;
use crate::shard::Shard;

pub use error::ApiError;

/// Answers one HTTP request.
pub async fn handle(shard: &Rc<Shard>, head: &RequestHead, body: &[u8]) -> Response {
    match route(shard, head, body).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn route(shard: &Rc<Shard>, head: &RequestHead, body: &[u8]) -> Result<Response, ApiError> {
    let path = head.path.as_str();
    if path == "/up" || path.starts_with("/up/") {
        return Ok(json_response(200, r#"{"ok":true}"#));
    }
    if path == "/ready" {
        return Ok(ready(shard));
    }
    if path == "/metrics" && head.method == "GET" {
        return Ok(metrics::render(shard).await);
    }
    if path == piesocket::PUBLISH_PATH {
        return piesocket::publish(shard, head, body);
    }
    let Some(rest) = path.strip_prefix("/apps/") else {
        return Err(ApiError::NotFound(format!("No route for {path}")));
    };
    let (app_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let app = shard
        .config
        .app_by_id(app_id)
        .ok_or_else(|| ApiError::NotFound(format!("Unknown app {app_id:?}")))?;
    let segments: Vec<&str> = tail.split('/').collect();
    let method = head.method.as_str();
    let endpoint = match (segments.as_slice(), method) {
        (["events"], "POST") => Endpoint::Events,
        (["batch_events"], "POST") => Endpoint::BatchEvents,
        (["channels"], "GET") => Endpoint::Channels,
        (["channels", name], "GET") => Endpoint::Channel(decode(name)?),
        (["channels", name, "users"], "GET") => Endpoint::Users(decode(name)?),
        (["users", user, "terminate_connections"], "POST") => Endpoint::Terminate(decode(user)?),
        (["events"] | ["batch_events"] | ["users", _, "terminate_connections"], _)
        | (["channels"] | ["channels", _] | ["channels", _, "users"], _) => {
            return Err(ApiError::MethodNotAllowed(method.to_string()))
        }
        _ => return Err(ApiError::NotFound(format!("No route for {path}"))),
    };
    let query = authenticate(app, head, body)?;
    if !app.enabled {
        return Err(ApiError::Forbidden("Application disabled".into()));
    }
    if matches!(
        endpoint,
        Endpoint::Channels | Endpoint::Channel(_) | Endpoint::Users(_)
    ) {
        limit::check(shard, app, RestKind::Reads, 1)?;
    }
    match endpoint {
        Endpoint::Events => events::trigger(shard, app, body).await,
        Endpoint::BatchEvents => events::batch(shard, app, body).await,
        Endpoint::Channels => channels::list(shard, app, &query).await,
        Endpoint::Channel(name) => channels::show(shard, app, &name, &query).await,
        Endpoint::Users(name) => channels::users(shard, app, &name).await,
        Endpoint::Terminate(user) => {
            shard.terminate_user(app.index, &user);
            Ok(json_response(200, "{}"))
        }
    }
}

/// `GET /ready`: 200 while this node can serve its part of the cluster (always, single
/// node); 503 while it cannot reach Redis (local traffic still works, `/up` stays 200).
fn ready(shard: &Shard) -> Response {
    match &shard.cluster {
        Some(link) if !link.stats.is_connected() => json_response(
            503,
            r#"{"error":"Cannot reach Redis: cross-node delivery is paused"}"#,
        ),
        _ => json_response(200, r#"{"ok":true}"#),
    }
}

enum Endpoint {
    Events,
    BatchEvents,
    Channels,
    Channel(String),
    Users(String),
    Terminate(String),
}

fn authenticate(app: &App, head: &RequestHead, body: &[u8]) -> Result<QueryParams, ApiError> {
    verify_request(
        &head.method,
        &head.path,
        &head.query,
        body,
        &app.key,
        &app.secret,
        crate::auth::now_unix(),
    )
    .map_err(|e| ApiError::Unauthorized(e.to_string()))
}

/// Percent-decodes one path segment (`#` arrives as `%23`).
fn decode(segment: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadRequest(format!("Invalid percent-encoding in {segment:?}"));
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_path_segments() {
        assert_eq!(decode("%23server-to-user-1").unwrap(), "#server-to-user-1");
        assert_eq!(decode("plain").unwrap(), "plain");
        assert!(decode("%2").is_err());
        assert!(decode("%zz").is_err());
    }
}
