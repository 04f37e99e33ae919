//! A webhook as configured (webhooks.md §3): `url`, `event_types`, `filter`, `headers`, in
//! soketi's spelling or Sockudo's (`channel_prefix`, `channel_suffix`, `channel_pattern`), and
//! its checked form. A bad URL, an unknown event type, a bad pattern or a header that would
//! override the signature headers is refused, naming the field.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use super::event::{is_raw, Event, EventKind, EventSet};

/// One entry of an app's `webhooks` list, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Where to `POST` (http or https).
    pub url: String,
    /// Event names sent to this URL (none given: all of them).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Which channels' events are sent.
    #[serde(default)]
    pub filter: FilterSpec,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A webhook's channel filter, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// Only channels whose name starts with this.
    #[serde(default, alias = "channel_prefix")]
    pub channel_name_starts_with: Option<String>,
    /// Only channels whose name ends with this.
    #[serde(default, alias = "channel_suffix")]
    pub channel_name_ends_with: Option<String>,
    /// Only channels whose name matches this regular expression.
    #[serde(default)]
    pub channel_pattern: Option<String>,
    /// Whether raw (`/v3/…`) channels' occupancy is sent (as `raw:{channel_id}`).
    #[serde(default)]
    pub include_raw: bool,
}

/// A checked channel filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    starts_with: String,
    ends_with: String,
    pattern: Option<Regex>,
    include_raw: bool,
}

impl Filter {
    /// Whether events of the reported channel name `channel` pass.
    pub fn passes(&self, channel: &str) -> bool {
        (self.include_raw || !is_raw(channel))
            && channel.starts_with(&self.starts_with)
            && channel.ends_with(&self.ends_with)
            && self.pattern.as_ref().is_none_or(|p| p.is_match(channel))
    }
}

/// A checked webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Target URL.
    pub url: String,
    /// Kinds sent.
    pub events: EventSet,
    /// Channels sent.
    pub filter: Filter,
    /// Extra headers, checked.
    pub headers: Vec<(String, String)>,
}

impl Webhook {
    /// Whether `event` goes to this webhook (its kind is wanted and it passes the filter).
    pub fn wants(&self, event: &Event) -> bool {
        self.events.has(event.kind()) && self.filter.passes(event.channel())
    }
}

/// Headers a webhook may not set: the signature, the content type and the delivery id are the
/// server's.
const RESERVED_HEADERS: [&str; 4] = [
    "x-pusher-key",
    "x-pusher-signature",
    "content-type",
    "x-corecast-webhook-id",
];

/// Checks entry `index` of an app's `webhooks`; the error names the field
/// (`webhooks[0].url …`).
pub fn check(index: usize, spec: &WebhookSpec) -> Result<Webhook, String> {
    let field = |name: &str| format!("webhooks[{index}].{name}");
    check_url(&spec.url).map_err(|why| format!("{} {:?} {why}", field("url"), spec.url))?;
    let events = match &spec.event_types {
        None => EventSet::all(),
        Some(names) => {
            let mut kinds = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let kind = EventKind::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "{}[{i}] {name:?} is not a webhook event (known: {})",
                        field("event_types"),
                        known.join(", ")
                    )
                })?;
                kinds.push(kind);
            }
            kinds.into_iter().collect()
        }
    };
    let f = &spec.filter;
    let pattern = match &f.channel_pattern {
        None => None,
        Some(p) => Some(Regex::new(p).map_err(|e| {
            format!(
                "{} {p:?} is not a valid regular expression: {e}",
                field("filter.channel_pattern")
            )
        })?),
    };
    let mut headers = Vec::with_capacity(spec.headers.len());
    for (name, value) in &spec.headers {
        let what = format!("{}[{name:?}]", field("headers"));
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("{what} may not be set: the server sets it"));
        }
        if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("{what} is not a valid header name"));
        }
        if ureq::http::HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "{what} has a value that is not a valid header value"
            ));
        }
        headers.push((name.clone(), value.clone()));
    }
    Ok(Webhook {
        url: spec.url.clone(),
        events,
        filter: Filter {
            starts_with: f.channel_name_starts_with.clone().unwrap_or_default(),
            ends_with: f.channel_name_ends_with.clone().unwrap_or_default(),
            pattern,
            include_raw: f.include_raw,
        },
        headers,
    })
}

/// Checks that `url` is an absolute `http://` or `https://` URL with a host.
fn check_url(url: &str) -> Result<(), &'static str> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| "is not a valid URL (expected http://host[:port]/path or https://…)")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with http:// or https://"),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => Err("has no host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> WebhookSpec {
        serde_json::from_str(json).unwrap()
    }

    fn occupied(channel: &str) -> Event {
        Event::ChannelOccupied {
            channel: channel.into(),
        }
    }

    #[test]
    fn both_spellings_of_the_filter_are_accepted() {
        let soketi = check(
            0,
            &spec(
                r#"{"url":"http://127.0.0.1:9/h","event_types":["channel_occupied"],
                   "filter":{"channel_name_starts_with":"presence-","channel_name_ends_with":"-x"}}"#,
            ),
        )
        .unwrap();
        let sockudo = check(
            0,
            &spec(
                r#"{"url":"https://example.com/h","event_types":["channel_occupied"],
                   "filter":{"channel_prefix":"presence-","channel_suffix":"-x"}}"#,
            ),
        )
        .unwrap();
        for w in [&soketi, &sockudo] {
            assert!(w.wants(&occupied("presence-a-x")));
            assert!(!w.wants(&occupied("presence-a")));
            assert!(!w.wants(&occupied("private-a-x")));
            assert!(!w.wants(&Event::CacheMiss {
                channel: "presence-a-x".into()
            }));
        }
        let p = check(
            1,
            &spec(r#"{"url":"http://h/","filter":{"channel_pattern":"^room-[0-9]+$"}}"#),
        )
        .unwrap();
        assert!(p.wants(&occupied("room-12")) && !p.wants(&occupied("room-a")));
    }

    #[test]
    fn raw_channels_need_include_raw() {
        let plain = check(0, &spec(r#"{"url":"http://h/"}"#)).unwrap();
        assert!(!plain.wants(&occupied("raw:room")));
        assert!(plain.wants(&occupied("room")));
        let raw = check(
            0,
            &spec(r#"{"url":"http://h/","filter":{"include_raw":true}}"#),
        )
        .unwrap();
        assert!(raw.wants(&occupied("raw:room")));
        assert_eq!(raw.events, EventSet::all());
    }

    #[test]
    fn bad_entries_are_refused_naming_the_field() {
        for (json, want) in [
            (r#"{"url":"ftp://h/x"}"#, "webhooks[2].url \"ftp://h/x\""),
            (r#"{"url":"not a url"}"#, "webhooks[2].url"),
            (r#"{"url":"/relative"}"#, "webhooks[2].url"),
            (
                r#"{"url":"http://h/","event_types":["channel_occupied","bogus"]}"#,
                "webhooks[2].event_types[1] \"bogus\"",
            ),
            (
                r#"{"url":"http://h/","filter":{"channel_pattern":"("}}"#,
                "webhooks[2].filter.channel_pattern",
            ),
            (
                r#"{"url":"http://h/","headers":{"X-Pusher-Signature":"x"}}"#,
                "webhooks[2].headers[\"X-Pusher-Signature\"]",
            ),
            (
                r#"{"url":"http://h/","headers":{"bad header":"x"}}"#,
                "webhooks[2].headers",
            ),
        ] {
            let err = check(2, &spec(json)).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
        assert!(serde_json::from_str::<WebhookSpec>(r#"{"url":"http://h/","x":1}"#).is_err());
    }
}
