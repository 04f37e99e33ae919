//! `corecast check`: run as a subcommand of the real binary under deliberately low process
//! limits (set with `ulimit` in a shell) and under a fine setup; its verdict must match what the
//! server itself then does.

mod common;

use std::process::Output;
use std::time::Duration;

use common::{output_within, shell, Server};

/// Longest `corecast check` (or a refusing server) may take.
const LIMIT: Duration = Duration::from_secs(20);

fn run(script: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = shell(script);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    output_within(cmd, LIMIT)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The REFUSE lines of a check report.
fn refusals(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with("REFUSE")).collect()
}

#[test]
fn too_few_open_files_fail_the_check_and_the_server_alike() {
    let out = run(
        "ulimit -n 512 && exec \"$0\" check",
        &[("CORECAST_SHARDS", "2")],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let refused = refusals(&report);
    assert_eq!(refused.len(), 1, "{report}");
    assert!(
        refused[0].contains("open files") && refused[0].contains("(RLIMIT_NOFILE) is 512"),
        "{report}"
    );
    assert!(
        report.contains("corecast would refuse to start"),
        "{report}"
    );
    // The server refuses on the same grounds.
    let server = run(
        "ulimit -n 512 && exec \"$0\"",
        &[("CORECAST_SHARDS", "2"), ("CORECAST_PORT", "0")],
    );
    assert_eq!(server.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&server.stderr).contains("RLIMIT_NOFILE"));
    assert!(!stdout(&server).contains("listening on"));
}

#[test]
fn a_connection_cap_beyond_the_open_files_is_named() {
    // Given as a variable, and as a flag after the subcommand.
    for (script, envs) in [
        (
            "ulimit -n 4096 && exec \"$0\" check",
            vec![("CORECAST_MAX_CONNECTIONS", "10000")],
        ),
        (
            "ulimit -n 4096 && exec \"$0\" check --max-connections 10000",
            vec![],
        ),
    ] {
        let out = run(script, &envs);
        let report = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{script}: {report}");
        let refused = refusals(&report);
        assert_eq!(refused.len(), 1, "{report}");
        assert!(
            refused[0].contains("CORECAST_MAX_CONNECTIONS=10000"),
            "{report}"
        );
    }
    // Within the limit it passes, and says so.
    let out = run(
        "ulimit -n 4096 && exec \"$0\" check",
        &[("CORECAST_MAX_CONNECTIONS", "2000")],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("room for CORECAST_MAX_CONNECTIONS=2000"),
        "{report}"
    );
}

#[test]
fn locked_memory_short_of_the_io_memory_is_named() {
    // 2 shards × 1024 KiB of io memory against a 1024 KiB memlock limit.
    let envs = [("CORECAST_SHARDS", "2"), ("CORECAST_IO_MEMORY_KB", "1024")];
    let out = run("ulimit -l 1024 && exec \"$0\" check", &envs);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let refused = refusals(&report);
    assert_eq!(refused.len(), 1, "{report}");
    assert!(
        refused[0].contains("RLIMIT_MEMLOCK") && refused[0].contains("2048 KiB"),
        "{report}"
    );
    let out = run("ulimit -l 4096 && exec \"$0\" check", &envs);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn a_fine_setup_passes_with_every_limit_reported() {
    let out = run(
        "exec \"$0\" check",
        &[
            ("CORECAST_SHARDS", "2"),
            ("CORECAST_MAX_CONNECTIONS", "500"),
        ],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(refusals(&report).is_empty(), "{report}");
    for subject in [
        "open files:",
        "locked memory:",
        "net.core.somaxconn:",
        "net.ipv4.tcp_max_syn_backlog:",
        "net.ipv4.ip_local_port_range:",
        "net.ipv4.tcp_tw_reuse:",
        "net.core.rmem_max/wmem_max:",
        "net.ipv4.tcp_rmem:",
        "net.ipv4.tcp_wmem:",
        "memory:",
        "io_uring: a ring could be created",
    ] {
        assert!(report.contains(subject), "no {subject:?} in\n{report}");
    }
    assert!(
        report.trim_end().ends_with("corecast can start"),
        "{report}"
    );
}

#[test]
fn a_bad_apps_file_is_a_refusal() {
    let out = run(
        "exec \"$0\" check",
        &[("CORECAST_APPS_FILE", "/nonexistent/apps.json")],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        refusals(&report)
            .iter()
            .any(|l| l.contains("CORECAST_APPS_FILE")),
        "{report}"
    );
}

#[test]
fn the_banner_counts_the_warnings_check_prints() {
    let server = Server::start(&[]);
    let banner = server.output();
    let line = banner
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("host:"))
        .unwrap_or_else(|| panic!("no host line in the banner:\n{banner}"))
        .trim()
        .to_string();
    // The same settings as the harness's server (port aside, which no limit depends on).
    let out = run(
        "exec \"$0\" check",
        &[("CORECAST_SHARDS", "2"), ("CORECAST_HOST", "127.0.0.1")],
    );
    let report = stdout(&out);
    let warnings = report.lines().filter(|l| l.starts_with("WARN")).count();
    let expected = match warnings {
        0 => "ok".to_string(),
        1 => "1 warning (run corecast check)".to_string(),
        n => format!("{n} warnings (run corecast check)"),
    };
    assert_eq!(line, expected, "check said:\n{report}");
}

#[test]
fn tls_settings_the_server_would_refuse_are_a_refusal() {
    let out = run(
        "exec \"$0\" check",
        &[("CORECAST_TLS_CERT", "/nonexistent/cert.pem")],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let refused = refusals(&report);
    assert_eq!(refused.len(), 1, "{report}");
    assert!(
        refused[0].contains("CORECAST_TLS_CERT is set but CORECAST_TLS_KEY is not"),
        "{report}"
    );
    let out = run(
        "exec \"$0\" check",
        &[
            ("CORECAST_TLS_CERT", "/nonexistent/cert.pem"),
            ("CORECAST_TLS_KEY", "/nonexistent/key.pem"),
        ],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        refusals(&report)
            .iter()
            .any(|l| l.contains("CORECAST_TLS_CERT: cannot read")),
        "{report}"
    );
}
