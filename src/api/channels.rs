//! `GET /channels`, `GET /channels/{name}` and `GET /channels/{name}/users`: counts merged
//! from every shard. In cluster mode the subscription counts of the first two (and
//! `occupied`) are summed over every live node, and a sum lacking some node's share carries
//! `X-Corecast-Partial`; user counts and user lists stay this node's.

use std::rc::Rc;
use std::time::Instant;

use serde_json::{Map, Value};

use super::events::parse_info;
use super::ApiError;
use crate::auth::request::QueryParams;
use crate::config::App;
use crate::http::{json_response, Response};
use crate::protocol::{ChannelKind, ChannelName};
use crate::shard::node_counts::Counted;
use crate::shard::Shard;

fn parse_channel<'a>(shard: &Shard, name: &'a str) -> Result<ChannelName<'a>, ApiError> {
    ChannelName::parse(name, shard.config.settings.max_channel_name as usize)
        .map_err(|e| ApiError::BadRequest(format!("Invalid channel {name:?}: {e}")))
}

/// The requested `info` attributes of one channel, as a JSON object.
pub async fn channel_info(
    shard: &Rc<Shard>,
    app: &App,
    name: &str,
    info: &[String],
) -> Result<Value, ApiError> {
    Ok(Value::Object(
        channel_attributes(shard, app, name, info, false).await?.0,
    ))
}

/// The requested `info` attributes of one channel, and its subscriptions across shards (and
/// across nodes when `cluster_wide`).
async fn channel_attributes(
    shard: &Rc<Shard>,
    app: &App,
    name: &str,
    info: &[String],
    cluster_wide: bool,
) -> Result<(Map<String, Value>, Counted<usize>), ApiError> {
    let channel = parse_channel(shard, name)?;
    let mut out = Map::new();
    let counted = match cluster_wide {
        true => shard.cluster_count(app.index, name).await,
        false => Counted {
            value: shard.global_count(app.index, name).await,
            partial: None,
        },
    };
    let count = counted.value;
    for attr in info {
        match attr.as_str() {
            "subscription_count" => {
                out.insert(attr.clone(), count.into());
            }
            "user_count" => {
                if channel.kind != ChannelKind::Presence {
                    return Err(ApiError::BadRequest(
                        "user_count is only available for presence channels".into(),
                    ));
                }
                let users = shard.global_members(app.index, name).await.len();
                out.insert(attr.clone(), users.into());
            }
            "cache" => {
                if !channel.cached {
                    return Err(ApiError::BadRequest(
                        "cache is only available for cache channels".into(),
                    ));
                }
                let now = Instant::now();
                let cache = shard.cache.borrow();
                let value = match cache.get(app.index, name, app.cache_ttl, now) {
                    Some(e) => {
                        let age = now.saturating_duration_since(e.stored);
                        let left = app.cache_ttl.saturating_sub(age);
                        serde_json::json!({ "data": &*e.data, "ttl": left.as_secs() })
                    }
                    None => Value::Null,
                };
                out.insert(attr.clone(), value);
            }
            _ => {}
        }
    }
    Ok((out, counted))
}

/// `GET /apps/{id}/channels`.
pub async fn list(shard: &Rc<Shard>, app: &App, query: &QueryParams) -> Result<Response, ApiError> {
    let prefix = query.get("filter_by_prefix").map(str::to_string);
    let info = parse_info(query.get("info"))?;
    if info.iter().any(|a| a == "cache") {
        return Err(ApiError::BadRequest(
            "cache is not available on the channel list".into(),
        ));
    }
    if info.iter().any(|a| a == "user_count")
        && !prefix
            .as_deref()
            .is_some_and(|p| p.starts_with("presence-"))
    {
        return Err(ApiError::BadRequest(
            "user_count requires filter_by_prefix to start with presence-".into(),
        ));
    }
    let users = if info.iter().any(|a| a == "user_count") {
        shard.global_user_counts(app.index, prefix.clone()).await
    } else {
        Default::default()
    };
    let mut channels = Map::new();
    let counted = shard.cluster_channels(app.index, prefix).await;
    for (name, count) in counted.value {
        if name.starts_with('#') {
            continue;
        }
        let mut entry = Map::new();
        for attr in &info {
            let value = match attr.as_str() {
                "user_count" => users.get(&name).copied().unwrap_or(0),
                _ => count,
            };
            entry.insert(attr.clone(), value.into());
        }
        channels.insert(name, Value::Object(entry));
    }
    let mut response = json_response(200, serde_json::json!({ "channels": channels }).to_string());
    response.partial = counted.partial;
    Ok(response)
}

/// `GET /apps/{id}/channels/{name}`.
pub async fn show(
    shard: &Rc<Shard>,
    app: &App,
    name: &str,
    query: &QueryParams,
) -> Result<Response, ApiError> {
    let info = parse_info(query.get("info"))?;
    let (mut out, counted) = channel_attributes(shard, app, name, &info, true).await?;
    out.insert("occupied".into(), (counted.value > 0).into());
    let mut response = json_response(200, Value::Object(out).to_string());
    response.partial = counted.partial;
    Ok(response)
}

/// `GET /apps/{id}/channels/{name}/users`.
pub async fn users(shard: &Rc<Shard>, app: &App, name: &str) -> Result<Response, ApiError> {
    let channel = parse_channel(shard, name)?;
    if channel.kind != ChannelKind::Presence {
        return Err(ApiError::BadRequest(
            "users is only available for presence channels".into(),
        ));
    }
    let users: Vec<Value> = shard
        .global_members(app.index, name)
        .await
        .into_iter()
        .map(|id| serde_json::json!({ "id": id }))
        .collect();
    Ok(json_response(
        200,
        serde_json::json!({ "users": users }).to_string(),
    ))
}
