//! `POST /events` and `POST /batch_events`: validate every event first, then publish each one
//! framed once per channel, in request order. An event on a cache channel is answered once
//! every shard has stored it.

use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::channels::channel_info;
use super::{limit, ApiError};
use crate::config::App;
use crate::http::{json_response, Response};
use crate::protocol::{outbound, ChannelKind, ChannelName, SocketId};
use crate::rate_limit::RestKind;
use crate::shard::Shard;
use crate::ws::frame;

/// Most channels one event may target.
const MAX_CHANNELS: usize = 100;
/// Most events in one batch.
const MAX_BATCH: usize = 10;
/// Longest event name.
const MAX_EVENT_NAME: usize = 200;

#[derive(Deserialize)]
struct EventBody<'a> {
    name: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    channels: Option<Vec<String>>,
    channel: Option<String>,
    socket_id: Option<String>,
    info: Option<String>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Vec<EventBody<'a>>,
}

/// An event that passed validation.
struct Event {
    name: String,
    data: String,
    channels: Vec<Target>,
    except: Option<SocketId>,
    info: Vec<String>,
}

/// A validated channel of an event.
struct Target {
    name: String,
    /// A cache channel: the event becomes its last event.
    cached: bool,
}

impl Event {
    /// Whether the event becomes the last event of a cache channel. Its 200 is sent only
    /// once every shard holds it, so that a subscriber arriving after the response gets it
    /// from the cache wherever it lands.
    fn caches(&self) -> bool {
        self.channels.iter().any(|t| t.cached)
    }
}

fn validate(shard: &Shard, app: &App, body: EventBody<'_>, batch: bool) -> Result<Event, ApiError> {
    let bad = |m: &str| ApiError::BadRequest(m.to_string());
    let name = body.name.ok_or_else(|| bad("Missing \"name\""))?;
    if name.is_empty() || name.len() > MAX_EVENT_NAME {
        return Err(bad("\"name\" must be 1 to 200 characters"));
    }
    let raw = body.data.ok_or_else(|| bad("Missing \"data\""))?;
    let data = match serde_json::from_str::<String>(raw.get()) {
        Ok(s) => s,
        Err(_) => serde_json::from_str::<Value>(raw.get())
            .map_err(|_| bad("Invalid \"data\""))?
            .to_string(),
    };
    if data.len() > app.max_payload_bytes {
        return Err(ApiError::TooLarge(format!(
            "Event data is {} bytes, more than the limit of {} bytes",
            data.len(),
            app.max_payload_bytes
        )));
    }
    let mut channels = match (body.channels, body.channel) {
        (Some(list), None) if !batch => list,
        (None, Some(one)) => vec![one],
        (Some(_), Some(_)) => return Err(bad("Give either \"channels\" or \"channel\", not both")),
        _ if batch => return Err(bad("Each batch event needs a \"channel\"")),
        _ => return Err(bad("Missing \"channels\"")),
    };
    if channels.is_empty() || channels.len() > MAX_CHANNELS {
        return Err(bad("An event must target 1 to 100 channels"));
    }
    let mut seen = std::collections::HashSet::new();
    channels.retain(|c| seen.insert(c.clone()));
    let max = shard.config.settings.max_channel_name as usize;
    let several = channels.len() > 1;
    let mut targets = Vec::with_capacity(channels.len());
    for c in channels {
        let parsed = ChannelName::parse(&c, max)
            .map_err(|e| ApiError::BadRequest(format!("Invalid channel {c:?}: {e}")))?;
        if parsed.kind == ChannelKind::Encrypted && several {
            return Err(bad(
                "An event on an encrypted channel must target exactly one channel",
            ));
        }
        let cached = parsed.cached;
        targets.push(Target { name: c, cached });
    }
    let except = match body.socket_id {
        None => None,
        Some(s) => Some(
            s.parse::<SocketId>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ),
    };
    let info = parse_info(body.info.as_deref())?;
    Ok(Event {
        name,
        data,
        channels: targets,
        except,
        info,
    })
}

/// Splits an `info` list and checks each attribute is known.
pub fn parse_info(info: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(info) = info else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for attr in info.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if !matches!(attr, "user_count" | "subscription_count" | "cache") {
            return Err(ApiError::BadRequest(format!(
                "Unknown info attribute {attr:?}"
            )));
        }
        out.push(attr.to_string());
    }
    Ok(out)
}

fn publish(shard: &Shard, app: &App, event: &Event) {
    for t in &event.channels {
        let json = outbound::channel_event(&event.name, &t.name, &event.data, None);
        let frame = frame::text_frame(json.as_bytes());
        if t.cached {
            shard.publish_cached(app.index, &t.name, frame, event.except, &event.data);
        } else {
            shard.publish(app.index, &t.name, frame, event.except);
        }
    }
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")))
}

/// `POST /apps/{id}/events`.
pub async fn trigger(shard: &Rc<Shard>, app: &App, body: &[u8]) -> Result<Response, ApiError> {
    let event = validate(shard, app, parse_json(body)?, false)?;
    limit::check(shard, app, RestKind::Events, event.channels.len())?;
    publish(shard, app, &event);
    if event.caches() {
        shard.sync_all().await;
    }
    if event.info.is_empty() {
        return Ok(json_response(200, "{}"));
    }
    let mut channels = Map::new();
    for t in &event.channels {
        let info = channel_info(shard, app, &t.name, &event.info).await?;
        channels.insert(t.name.clone(), info);
    }
    Ok(json_response(
        200,
        serde_json::json!({ "channels": channels }).to_string(),
    ))
}

/// `POST /apps/{id}/batch_events`.
pub async fn batch(shard: &Rc<Shard>, app: &App, body: &[u8]) -> Result<Response, ApiError> {
    let parsed: BatchBody<'_> = parse_json(body)?;
    if parsed.batch.is_empty() || parsed.batch.len() > MAX_BATCH {
        return Err(ApiError::BadRequest("A batch holds 1 to 10 events".into()));
    }
    let events = parsed
        .batch
        .into_iter()
        .map(|e| validate(shard, app, e, true))
        .collect::<Result<Vec<_>, _>>()?;
    limit::check(shard, app, RestKind::Events, events.len())?;
    for e in &events {
        publish(shard, app, e);
    }
    if events.iter().any(Event::caches) {
        shard.sync_all().await;
    }
    if events.iter().all(|e| e.info.is_empty()) {
        return Ok(json_response(200, "{}"));
    }
    let mut out = Vec::with_capacity(events.len());
    for e in &events {
        out.push(match e.channels.first() {
            Some(t) if !e.info.is_empty() => channel_info(shard, app, &t.name, &e.info).await?,
            _ => Value::Object(Map::new()),
        });
    }
    Ok(json_response(
        200,
        serde_json::json!({ "batch": out }).to_string(),
    ))
}
