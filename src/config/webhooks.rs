//! The apps' webhook settings as configured: each app's `webhooks` list (checked by
//! [`crate::webhooks::spec`]), its batch window and vacate grace (the `CORECAST_WEBHOOK_*`
//! values unless the app sets its own), and the default app's `CORECAST_WEBHOOK_URL` /
//! `CORECAST_WEBHOOK_EVENTS`. A bad value stops the start, naming the app and field.

use std::time::Duration;

use super::{AppSpec, ConfigError, Settings};
use crate::webhooks::spec::{self, FilterSpec};
use crate::webhooks::{EventKind, EventSet, Webhook, WebhookSpec};

/// Longest batch window or vacate grace accepted, in ms.
const MAX_MS: u64 = 60_000;

/// Built-in batch window (webhooks.md §4).
const BATCH_MS: u64 = 50;

/// An app's checked webhook settings.
pub(super) struct AppWebhooks {
    /// Checked webhooks.
    pub webhooks: Vec<Webhook>,
    /// Kinds any of them wants.
    pub events: EventSet,
    /// Batch window.
    pub batch: Duration,
    /// Vacate grace.
    pub grace: Duration,
}

/// Checks one entry of `CORECAST_WEBHOOK_EVENTS` (an empty entry stands for no entry).
pub(super) fn event_type(entry: &str) -> Result<String, String> {
    let entry = entry.trim();
    if entry.is_empty() || EventKind::from_name(entry).is_some() {
        return Ok(entry.to_string());
    }
    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
    Err(format!(
        "{entry:?} is not a webhook event (known: {})",
        known.join(", ")
    ))
}

/// The default app's webhooks: `CORECAST_WEBHOOK_URL` with `CORECAST_WEBHOOK_EVENTS`; a bad
/// URL is refused naming the variable.
pub(super) fn default_app_webhooks(settings: &Settings) -> Result<Vec<WebhookSpec>, ConfigError> {
    let Some(url) = settings.webhook_url.as_ref().filter(|u| !u.is_empty()) else {
        return Ok(Vec::new());
    };
    let events: Vec<String> = settings
        .webhook_events
        .iter()
        .filter(|e| !e.is_empty())
        .cloned()
        .collect();
    let spec = WebhookSpec {
        url: url.clone(),
        event_types: (!events.is_empty()).then_some(events),
        filter: FilterSpec::default(),
        headers: Default::default(),
    };
    if let Err(why) = spec::check(0, &spec) {
        let why = why.trim_start_matches("webhooks[0].url ");
        return Err(ConfigError::Setting(format!("CORECAST_WEBHOOK_URL={why}")));
    }
    Ok(vec![spec])
}

/// Gives apps without their own batch window or grace the server-wide ones.
pub(super) fn fill_defaults(specs: &mut [AppSpec], settings: &Settings) {
    for s in specs {
        s.webhook_batch_ms.get_or_insert(settings.webhook_batch_ms);
        s.vacate_grace_ms
            .get_or_insert(settings.webhook_vacate_grace_ms);
    }
}

/// Checks an app's webhooks, batch window and grace.
pub(super) fn check_webhooks(s: &AppSpec) -> Result<AppWebhooks, ConfigError> {
    let refuse = |msg: String| ConfigError::Apps(format!("app {}: {msg}", s.id));
    let mut webhooks = Vec::with_capacity(s.webhooks.len());
    for (i, w) in s.webhooks.iter().enumerate() {
        webhooks.push(spec::check(i, w).map_err(refuse)?);
    }
    let ms = |field: &str, v: Option<u64>, default: u64| match v.unwrap_or(default) {
        v if v > MAX_MS => Err(refuse(format!("{field} must be 0 to {MAX_MS} ms"))),
        v => Ok(Duration::from_millis(v)),
    };
    let batch = ms("webhook_batch_ms", s.webhook_batch_ms, BATCH_MS)?;
    let grace = ms("vacate_grace_ms", s.vacate_grace_ms, 0)?;
    let events = webhooks
        .iter()
        .fold(EventSet::NONE, |set, w| set.union(w.events));
    Ok(AppWebhooks {
        webhooks,
        events,
        batch,
        grace,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::super::tests::settings;
    use super::super::{build_apps, AppSpec, Config, Settings};
    use crate::webhooks::{EventKind, EventSet};

    #[test]
    fn the_default_app_takes_its_webhook_from_flags() {
        let c = Config::from_settings(settings(&[])).unwrap();
        assert!(c.apps[0].webhooks.is_empty());
        assert!(c.apps[0].webhook_events.is_empty());
        assert_eq!(c.apps[0].webhook_batch, Duration::from_millis(50));
        assert_eq!(c.apps[0].vacate_grace, Duration::ZERO);
        assert!(!c.apps[0].enable_subscription_count);
        let c = Config::from_settings(settings(&[
            "--webhook-url",
            "http://127.0.0.1:9/hook",
            "--webhook-events",
            "channel_occupied, member_added",
            "--webhook-batch-ms",
            "0",
            "--webhook-vacate-grace-ms",
            "3000",
            "--enable-subscription-count",
            "true",
        ]))
        .unwrap();
        let a = &c.apps[0];
        assert_eq!(a.webhooks.len(), 1);
        assert_eq!(
            a.webhook_events,
            [EventKind::ChannelOccupied, EventKind::MemberAdded]
                .into_iter()
                .collect::<EventSet>()
        );
        assert_eq!(a.webhook_batch, Duration::ZERO);
        assert_eq!(a.vacate_grace, Duration::from_secs(3));
        assert!(a.enable_subscription_count);
        let c = Config::from_settings(settings(&["--webhook-url", "http://h/"])).unwrap();
        assert_eq!(c.apps[0].webhook_events, EventSet::all());
    }

    #[test]
    fn bad_webhook_flags_are_refused_with_the_flag_name() {
        for (flag, value) in [
            ("--webhook-events", "channel_occupied,bogus"),
            ("--webhook-batch-ms", "60001"),
            ("--webhook-queue", "0"),
            ("--webhook-workers", "0"),
        ] {
            let err = Settings::try_parse_from(["corecast", flag, value]).unwrap_err();
            assert!(err.to_string().contains(flag), "{flag} {value}: {err}");
        }
        let err = Config::from_settings(settings(&["--webhook-url", "localhost:80/x"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("CORECAST_WEBHOOK_URL=\"localhost:80/x\" is not a valid URL"),
            "{err}"
        );
    }

    #[test]
    fn bad_webhooks_in_the_apps_file_name_the_app_and_field() {
        let specs = |extra: &str| -> Vec<AppSpec> {
            let json = format!(r#"[{{"id":"shop","key":"k","secret":"s"{extra}}}]"#);
            serde_json::from_str(&json).unwrap()
        };
        for (extra, field) in [
            (r#","webhooks":[{"url":"nope"}]"#, "webhooks[0].url"),
            (
                r#","webhooks":[{"url":"http://h/"},{"url":"http://h/","event_types":["x"]}]"#,
                "webhooks[1].event_types[0] \"x\"",
            ),
            (r#","webhook_batch_ms":60001"#, "webhook_batch_ms"),
            (r#","vacate_grace_ms":70000"#, "vacate_grace_ms"),
        ] {
            let err = build_apps(specs(extra), &settings(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("app shop") && err.contains(field), "{err}");
        }
        let apps = build_apps(
            specs(
                r#","webhooks":[{"url":"https://h/x","event_types":["cache_miss"],
                   "filter":{"channel_prefix":"cache-"},"headers":{"X-Custom":"1"}}],
                   "webhook_batch_ms":0,"vacate_grace_ms":250,"enable_subscription_count":true"#,
            ),
            &settings(&[]),
        )
        .unwrap();
        let a = &apps[0];
        assert_eq!(a.webhooks[0].headers, vec![("X-Custom".into(), "1".into())]);
        assert!(a.webhook_events.has(EventKind::CacheMiss));
        assert_eq!(a.webhook_batch, Duration::ZERO);
        assert_eq!(a.vacate_grace, Duration::from_millis(250));
        assert!(a.enable_subscription_count);
    }
}
