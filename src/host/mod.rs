//! The host check (`corecast check`): reads this host's limits and kernel settings
//! ([`readings`]), judges them against the current settings ([`verdict`], pure), and prints one
//! line per limit with OK / what to raise / how. It changes nothing on the host. It refuses
//! (exit status 1) exactly when the server would refuse to start: the same
//! [`crate::limits`] rules, the apps and settings checks of [`Config`], the TLS certificate
//! and key ([`Tls`]), and an io_uring ring that cannot be created; everything else is a
//! warning or a note (exit status 0).

pub mod readings;
pub mod verdict;

use std::fmt::Write as _;

use crate::config::{Config, Settings};
use crate::transport::tls::Tls;
pub use readings::Readings;
pub use verdict::{Finding, Level, Plan};

/// What `settings` ask of a host with `usable_cores` cores.
pub fn plan(settings: &Settings, usable_cores: usize) -> Plan {
    Plan {
        shards: crate::server::shard_count(settings, usable_cores) as u64,
        max_connections: settings.max_connections,
        io_memory: u64::from(settings.io_memory_kb) * 1024,
    }
}

/// Runs the check: prints the findings on stdout and returns the exit status.
pub fn run(settings: Settings) -> i32 {
    let readings = Readings::read(true);
    let plan = plan(&settings, readings.usable_cores);
    let mut findings = Vec::new();
    if let Err(e) = Config::from_settings(settings.clone()) {
        findings.push(Finding {
            level: Level::Refuse,
            subject: "settings",
            status: e.to_string(),
            fix: None,
        });
    }
    if let Err(e) = Tls::from_settings(&settings) {
        findings.push(Finding {
            level: Level::Refuse,
            subject: "tls",
            status: e.to_string(),
            fix: None,
        });
    }
    findings.extend(verdict::assess(&readings, &plan));
    // A closed pipe (`corecast check | head`) is not an error of the check.
    let report = render(&settings, &plan, &findings);
    let _ = std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes());
    let (_, refusals) = verdict::counts(&findings);
    i32::from(refusals > 0)
}

/// The report: a heading, one line per finding (with its fix indented below), a summary.
pub fn render(settings: &Settings, plan: &Plan, findings: &[Finding]) -> String {
    let mut out = String::new();
    let cap = if plan.max_connections == 0 {
        "unlimited".to_string()
    } else {
        plan.max_connections.to_string()
    };
    let _ = writeln!(
        out,
        "corecast check: this host for {} shards, max connections {cap}, io memory {} KiB/shard, \
         port {}",
        plan.shards,
        plan.io_memory / 1024,
        settings.port
    );
    for f in findings {
        let level = match f.level {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warn => "WARN",
            Level::Refuse => "REFUSE",
        };
        let _ = writeln!(out, "{level:<7}{}: {}", f.subject, f.status);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "{:7}→ {fix}", "");
        }
    }
    let (warnings, refusals) = verdict::counts(findings);
    let verdict = if refusals > 0 {
        "corecast would refuse to start"
    } else {
        "corecast can start"
    };
    let _ = writeln!(
        out,
        "{}, {}: {verdict}",
        plural(warnings, "warning"),
        plural(refusals, "refusal")
    );
    out
}

/// The start-up banner's word on the host (no io_uring probe: the shards run already).
pub fn banner(settings: &Settings) -> String {
    let readings = Readings::read(false);
    let findings = verdict::assess(&readings, &plan(settings, readings.usable_cores));
    match verdict::counts(&findings) {
        (0, 0) => "ok".into(),
        (warnings, _) => format!("{} (run corecast check)", plural(warnings, "warning")),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_report_has_one_line_per_finding_its_fix_and_a_verdict() {
        let settings = Settings::try_parse_from(["corecast", "--shards", "2"]).unwrap();
        let plan = plan(&settings, 4);
        assert_eq!(plan.shards, 2);
        let finding = |level, fix: Option<&str>| Finding {
            level,
            subject: "net.core.somaxconn",
            status: "4096".into(),
            fix: fix.map(String::from),
        };
        let report = render(
            &settings,
            &plan,
            &[
                finding(Level::Ok, None),
                finding(Level::Warn, Some("`sysctl -w net.core.somaxconn=65535`")),
            ],
        );
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines.len(), 5, "{report}");
        assert!(lines[0].starts_with("corecast check: this host for 2 shards"));
        assert_eq!(lines[1], "ok     net.core.somaxconn: 4096");
        assert_eq!(lines[2], "WARN   net.core.somaxconn: 4096");
        assert_eq!(lines[3], "       → `sysctl -w net.core.somaxconn=65535`");
        assert_eq!(lines[4], "1 warning, 0 refusals: corecast can start");
        let refused = render(&settings, &plan, &[finding(Level::Refuse, None)]);
        assert!(refused.ends_with("0 warnings, 1 refusal: corecast would refuse to start\n"));
    }
}
