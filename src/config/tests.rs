//! Tests of the settings and the apps table.

use super::*;

/// Settings parsed from `args` (the program name is added).
pub(super) fn settings(args: &[&str]) -> Settings {
    let mut argv = vec!["corecast"];
    argv.extend_from_slice(args);
    Settings::try_parse_from(argv).unwrap()
}

#[test]
fn defaults_give_the_default_app() {
    let c = Config::from_settings(settings(&[])).unwrap();
    assert_eq!(c.settings.port, 6001);
    assert_eq!(c.apps.len(), 1);
    assert_eq!(c.apps[0].key, "app-key");
    assert_eq!(c.apps[0].max_payload_bytes, 10 * 1024);
    assert!(c.app_by_id("app-id").is_some());
}

#[test]
fn bad_values_are_refused_with_the_flag_name() {
    let err = Settings::try_parse_from(["corecast", "--port", "http"]).unwrap_err();
    assert!(err.to_string().contains("--port"), "{err}");
    let err = Settings::try_parse_from(["corecast", "--activity-timeout", "0"]).unwrap_err();
    assert!(err.to_string().contains("activity-timeout"), "{err}");
}

#[test]
fn apps_file_accepts_both_shapes_and_rejects_duplicates() {
    let list: AppsFile = serde_json::from_str(r#"[{"id":"1","key":"k","secret":"s"}]"#).unwrap();
    let AppsFile::List(specs) = list else {
        panic!("expected list")
    };
    assert!(specs[0].enabled);
    let wrapped: AppsFile = serde_json::from_str(
        r#"{"apps":[{"id":"1","key":"k","secret":"s"},{"id":"1","key":"k2","secret":"s"}]}"#,
    )
    .unwrap();
    let AppsFile::Wrapped { apps } = wrapped else {
        panic!("expected wrapped")
    };
    assert!(matches!(
        build_apps(apps, &settings(&[])),
        Err(ConfigError::Apps(_))
    ));
}

#[test]
fn per_app_limits_fall_back_to_the_server_defaults() {
    let specs: Vec<AppSpec> = serde_json::from_str(
        r#"[{"id":"1","key":"k1","secret":"s"},
            {"id":"2","key":"k2","secret":"s","max_channels_per_connection":5,
             "raw_max_messages_per_second":0}]"#,
    )
    .unwrap();
    let s = settings(&[
        "--max-channels-per-connection",
        "7",
        "--raw-max-messages-per-second",
        "20",
    ]);
    let apps = build_apps(specs, &s).unwrap();
    assert_eq!(apps[0].max_channels_per_connection, 7);
    assert_eq!(apps[0].raw_max_messages_per_second, 20);
    assert_eq!(apps[1].max_channels_per_connection, 5);
    assert_eq!(apps[1].raw_max_messages_per_second, 0);
    let defaults = Config::from_settings(settings(&[])).unwrap();
    assert_eq!(defaults.apps[0].max_channels_per_connection, 1000);
    assert_eq!(defaults.apps[0].raw_max_messages_per_second, 1000);
    assert_eq!(defaults.head_timeout(), Duration::from_secs(10));
    assert_eq!(defaults.body_timeout(), Duration::from_secs(30));
    assert_eq!(defaults.keepalive_timeout(), Duration::from_secs(60));
}

#[test]
fn a_zero_channel_cap_is_refused_naming_the_field() {
    let specs: Vec<AppSpec> = serde_json::from_str(
        r#"[{"id":"1","key":"k","secret":"s","max_channels_per_connection":0}]"#,
    )
    .unwrap();
    let err = build_apps(specs, &settings(&[])).unwrap_err().to_string();
    assert!(err.contains("max_channels_per_connection"), "{err}");
    let err = Settings::try_parse_from(["corecast", "--head-timeout-ms", "0"]).unwrap_err();
    assert!(err.to_string().contains("head-timeout-ms"), "{err}");
}

#[test]
fn the_plain_port_must_differ_from_the_port() {
    let err =
        Config::from_settings(settings(&["--port", "7000", "--plain-port", "7000"])).unwrap_err();
    assert!(
        err.to_string().starts_with("CORECAST_PLAIN_PORT=7000"),
        "{err}"
    );
    let c = Config::from_settings(settings(&["--plain-port", "7001"])).unwrap();
    assert_eq!(c.settings.plain_port, 7001);
    assert_eq!(settings(&[]).plain_port, 0);
}

#[test]
fn unknown_fields_in_apps_are_refused() {
    assert!(
        serde_json::from_str::<AppsFile>(r#"[{"id":"1","key":"k","secret":"s","bogus":1}]"#)
            .is_err()
    );
}
