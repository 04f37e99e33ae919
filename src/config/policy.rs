//! The apps' edge policies as configured: origin allow-lists, authorized connections, raw
//! JWT enforcement and REST rate limits. Checks of the values (a bad one stops the start with
//! a message naming the app and field, or the variable), and their defaults.

use super::{AppSpec, ConfigError};
use crate::protocol::origin::{AllowedOrigins, OriginError, OriginPattern};

/// Default `user_authentication_timeout`, in seconds (Pusher's and soketi's 30 s).
pub(super) fn auth_timeout() -> u64 {
    30
}

/// Longest `user_authentication_timeout` accepted, in seconds (a day).
pub(super) const MAX_AUTH_TIMEOUT: u64 = 86_400;

/// Checks one entry of `CORECAST_ALLOWED_ORIGINS` (an empty entry stands for no entry).
pub(super) fn origin_entry(entry: &str) -> Result<String, OriginError> {
    let entry = entry.trim();
    if !entry.is_empty() {
        entry.parse::<OriginPattern>()?;
    }
    Ok(entry.to_string())
}

/// Checks an app's edge policies (origins, authorization timeout, REST rate limits) and
/// returns its parsed origin allow-list.
pub(super) fn check_policy(s: &AppSpec) -> Result<AllowedOrigins, ConfigError> {
    let refuse = |msg: String| Err(ConfigError::Apps(format!("app {}: {msg}", s.id)));
    if !(1..=MAX_AUTH_TIMEOUT).contains(&s.user_authentication_timeout) {
        return refuse(format!(
            "user_authentication_timeout must be 1 to {MAX_AUTH_TIMEOUT} seconds"
        ));
    }
    for (field, limit) in [
        (
            "max_backend_events_per_second",
            s.max_backend_events_per_second,
        ),
        (
            "max_read_requests_per_second",
            s.max_read_requests_per_second,
        ),
    ] {
        if limit == Some(0) {
            return refuse(format!(
                "{field} must be at least 1 (leave it out for no limit)"
            ));
        }
    }
    AllowedOrigins::parse(&s.allowed_origins).or_else(|(i, e)| {
        refuse(format!(
            "allowed_origins[{i}] {:?} {e}; expected *, scheme://host[:port], host[:port] \
             or [scheme://]*.domain[:port]",
            s.allowed_origins[i]
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::super::tests::settings;
    use super::super::{build_apps, AppSpec, Config, Settings};

    #[test]
    fn edge_policies_of_the_default_app_come_from_flags() {
        let c = Config::from_settings(settings(&[])).unwrap();
        let a = &c.apps[0];
        assert!(a.allowed_origins.is_empty());
        assert_eq!(a.user_authentication_timeout, None);
        assert!(!a.raw_require_jwt);
        assert_eq!(a.max_backend_events_per_second, None);
        assert_eq!(a.max_read_requests_per_second, None);
        let c = Config::from_settings(settings(&[
            "--allowed-origins",
            "https://a.example, ,*.b.example",
            "--enable-user-authentication",
            "true",
            "--user-authentication-timeout",
            "5",
            "--raw-require-jwt",
            "true",
            "--max-backend-events-per-second",
            "7",
            "--max-read-requests-per-second",
            "9",
        ]))
        .unwrap();
        let a = &c.apps[0];
        assert_eq!(a.allowed_origins.patterns().len(), 2);
        assert!(a.allowed_origins.allows(Some("https://x.b.example")));
        assert!(!a.allowed_origins.allows(Some("https://b.example")));
        assert_eq!(a.user_authentication_timeout, Some(Duration::from_secs(5)));
        assert!(a.raw_require_jwt);
        assert_eq!(a.max_backend_events_per_second, Some(7));
        assert_eq!(a.max_read_requests_per_second, Some(9));
    }

    #[test]
    fn bad_edge_policy_flags_are_refused_with_the_flag_name() {
        for (flag, value) in [
            ("--allowed-origins", "https://a.example/path"),
            ("--allowed-origins", "a.example,https://*"),
            ("--user-authentication-timeout", "0"),
            ("--user-authentication-timeout", "86401"),
            ("--max-backend-events-per-second", "0"),
            ("--max-read-requests-per-second", "many"),
        ] {
            let err = Settings::try_parse_from(["corecast", flag, value]).unwrap_err();
            assert!(err.to_string().contains(flag), "{flag} {value}: {err}");
        }
    }

    #[test]
    fn bad_edge_policies_in_the_apps_file_name_the_app_and_field() {
        let specs = |extra: &str| -> Vec<AppSpec> {
            let json = format!(r#"[{{"id":"shop","key":"k","secret":"s"{extra}}}]"#);
            serde_json::from_str(&json).unwrap()
        };
        for (extra, field) in [
            (
                r#","allowed_origins":["https://ok.example","https://a*.example"]"#,
                "allowed_origins[1] \"https://a*.example\"",
            ),
            (
                r#","user_authentication_timeout":0"#,
                "user_authentication_timeout",
            ),
            (
                r#","max_backend_events_per_second":0"#,
                "max_backend_events_per_second",
            ),
            (
                r#","max_read_requests_per_second":0"#,
                "max_read_requests_per_second",
            ),
        ] {
            let err = build_apps(specs(extra), &settings(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("app shop") && err.contains(field), "{err}");
        }
        let apps = build_apps(
            specs(
                r#","allowed_origins":["https://ok.example"],"enable_user_authentication":true,
                   "raw_require_jwt":true,"max_backend_events_per_second":3"#,
            ),
            &settings(&[]),
        )
        .unwrap();
        let a = &apps[0];
        assert!(a.allowed_origins.allows(Some("https://ok.example")));
        assert_eq!(a.user_authentication_timeout, Some(Duration::from_secs(30)));
        assert!(a.raw_require_jwt);
        assert_eq!(a.max_backend_events_per_second, Some(3));
        assert_eq!(a.max_read_requests_per_second, None);
    }
}
