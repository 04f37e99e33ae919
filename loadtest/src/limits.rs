//! Operating-system limits: open files, ephemeral ports, and process memory readings.

use std::fs;

/// File descriptors reserved beyond one per connection (runtime, stdio, HTTP clients).
pub const FD_RESERVE: u64 = 64;

/// Raises the soft RLIMIT_NOFILE to the hard limit and checks that `needed` descriptors fit.
/// Returns the new soft limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target.
pub fn ensure_nofile(needed: u64) -> Result<u64, String> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err("getrlimit(RLIMIT_NOFILE) failed".into());
    }
    if rl.rlim_cur < rl.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            rl.rlim_cur = rl.rlim_max;
        }
    }
    check_fit(needed, rl.rlim_cur as u64, rl.rlim_max as u64)?;
    Ok(rl.rlim_cur as u64)
}

fn check_fit(needed: u64, soft: u64, hard: u64) -> Result<(), String> {
    if needed <= soft {
        return Ok(());
    }
    Err(format!(
        "this run needs about {needed} open files but the limit is {soft} (hard limit {hard}); \
         raise it, e.g. `ulimit -Hn {needed} && ulimit -n {needed}` as root, LimitNOFILE= for a \
         systemd unit, or `nofile` in /etc/security/limits.conf — or lower --connections"
    ))
}

/// Number of ephemeral ports per (source address, destination), from ip_local_port_range.
pub fn ephemeral_ports() -> Option<u64> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    parse_port_range(&text)
}

fn parse_port_range(text: &str) -> Option<u64> {
    let mut it = text.split_whitespace().map(|s| s.parse::<u64>());
    let lo = it.next()?.ok()?;
    let hi = it.next()?.ok()?;
    (hi >= lo).then(|| hi - lo + 1)
}

/// Resident set size of a process in bytes, from /proc/PID/status.
pub fn vm_rss_bytes(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&text)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(value * 1024),
        Some("mB") => Some(value * 1024 * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_check_names_the_limit() {
        assert!(check_fit(100, 1024, 4096).is_ok());
        let err = check_fit(50_000, 1024, 4096).expect_err("too many");
        assert!(err.contains("50000") && err.contains("ulimit"), "{err}");
    }

    #[test]
    fn raising_to_what_we_have_works() {
        assert!(ensure_nofile(16).is_ok());
        assert!(ensure_nofile(u64::MAX).is_err());
    }

    #[test]
    fn parses_proc_formats() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(28232));
        assert_eq!(parse_port_range("garbage"), None);
        let status = "Name:\tcorecast\nVmPeak:\t  100 kB\nVmRSS:\t   20480 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss(status), Some(20480 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(vm_rss_bytes(std::process::id()).is_some_and(|b| b > 0));
    }
}
