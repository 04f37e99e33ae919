//! From readings and settings to verdicts: one [`Finding`] per limit, each with what is
//! wrong and how to raise it. Pure: no `/proc`, no syscalls. The conditions the server refuses
//! to start on are the ones in [`crate::limits`], applied to the same numbers.

use super::readings::Readings;
use crate::limits;

/// Server RSS of one idle subscribed connection, bytes (measured: ~1.5–2.1 KB).
pub const CONN_BYTES_SERVER: u64 = 1_900;
/// Kernel memory of one idle TCP socket, bytes.
pub const CONN_BYTES_KERNEL: u64 = 3_500;
/// Per shard besides io memory: io_uring rings and submission queues, bytes.
const SHARD_BYTES: u64 = 4 << 20;
/// Open files below which a server without a connection cap gets a warning.
const WANT_NOFILE: u64 = 65_536;
/// What `tuning/limits.conf` sets.
const TUNED_NOFILE: u64 = 1_048_576;
/// Socket buffer maximum below which busy connections are held back (`tuning/sysctl.conf`).
const WANT_BUFFER_MAX: u64 = 4 << 20;
/// Ephemeral ports below which a load generator on this host is noted to be limited.
const WANT_PORTS: u64 = 60_000;

/// Where the kernel settings are kept.
const PERSIST_SYSCTL: &str =
    "keep it: tuning/sysctl.conf → /etc/sysctl.d/60-corecast.conf, then `sysctl --system`";
/// Where the process limits are kept.
const PERSIST_LIMITS: &str = "keep it: LimitNOFILE=/LimitMEMLOCK= in tuning/corecast.service, or \
                              tuning/limits.conf → /etc/security/limits.d/60-corecast.conf";

/// What the settings ask of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Shards that will start.
    pub shards: u64,
    /// `CORECAST_MAX_CONNECTIONS` (0 = limited by open files only).
    pub max_connections: u64,
    /// `CORECAST_IO_MEMORY_KB` in bytes.
    pub io_memory: u64,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fine as it is.
    Ok,
    /// Unknown, or matters only to other programs on this host (load generators).
    Note,
    /// The server starts, but this limit will hold it back.
    Warn,
    /// The server refuses to start.
    Refuse,
}

/// One checked limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub level: Level,
    /// What was checked (`open files`, `net.core.somaxconn`).
    pub subject: &'static str,
    /// What was found and what it means.
    pub status: String,
    /// How to raise it, when it needs raising.
    pub fix: Option<String>,
}

impl Finding {
    fn new(level: Level, subject: &'static str, status: String, fix: Option<String>) -> Self {
        Finding {
            level,
            subject,
            status,
            fix,
        }
    }

    fn ok(subject: &'static str, status: String) -> Self {
        Self::new(Level::Ok, subject, status, None)
    }

    fn unknown(subject: &'static str) -> Self {
        Self::new(
            Level::Note,
            subject,
            "unknown (not readable on this host)".into(),
            None,
        )
    }
}

/// Connections the server may end up holding: the cap, or what the open files allow.
pub fn capacity(r: &Readings, p: &Plan) -> u64 {
    if p.max_connections > 0 {
        p.max_connections
    } else {
        r.nofile.1.saturating_sub(limits::reserved_files(p.shards))
    }
}

/// Every finding, in a fixed order.
pub fn assess(r: &Readings, p: &Plan) -> Vec<Finding> {
    let n = capacity(r, p);
    let mut out = vec![open_files(r, p, n), locked_memory(r, p), shards(r, p)];
    out.extend(queues(r, p, n));
    out.extend(outgoing(r));
    out.extend(buffers(r));
    out.push(memory(r, p, n));
    out.extend(io_uring(r));
    out
}

fn open_files(r: &Readings, p: &Plan, n: u64) -> Finding {
    let (soft, hard) = r.nofile;
    // The server raises its soft limit to the hard one before checking.
    if let Err(e) = limits::check_nofile(hard, p.shards, p.max_connections) {
        return Finding::new(
            Level::Refuse,
            "open files",
            e.to_string(),
            Some(PERSIST_LIMITS.into()),
        );
    }
    let raised = if soft < hard {
        format!(" (corecast raises the soft limit to {hard})")
    } else {
        String::new()
    };
    let found = format!("soft {soft}, hard {hard}{raised}");
    if p.max_connections > 0 {
        return Finding::ok(
            "open files",
            format!("{found}: room for CORECAST_MAX_CONNECTIONS={n}"),
        );
    }
    if hard < WANT_NOFILE {
        return Finding::new(
            Level::Warn,
            "open files",
            format!("{found}: about {n} connections at most (one file each)"),
            Some(format!(
                "raise to {TUNED_NOFILE}: `ulimit -n {TUNED_NOFILE}` (as root) before starting \
                 corecast; {PERSIST_LIMITS}"
            )),
        );
    }
    Finding::ok("open files", format!("{found}: about {n} connections"))
}

fn locked_memory(r: &Readings, p: &Plan) -> Finding {
    let (soft, _) = r.memlock;
    if let Err(e) = limits::check_memlock(soft, p.shards, p.io_memory) {
        return Finding::new(
            Level::Refuse,
            "locked memory",
            e.to_string(),
            Some(PERSIST_LIMITS.into()),
        );
    }
    let limit = if soft == u64::MAX {
        "unlimited".to_string()
    } else {
        format!("{} KiB", soft / 1024)
    };
    Finding::ok(
        "locked memory",
        format!(
            "{limit}; {} shards × CORECAST_IO_MEMORY_KB={} need {} KiB",
            p.shards,
            p.io_memory / 1024,
            p.shards * p.io_memory / 1024
        ),
    )
}

fn shards(r: &Readings, p: &Plan) -> Finding {
    let cores = r.usable_cores as u64;
    if p.shards > cores {
        return Finding::new(
            Level::Warn,
            "shards",
            format!(
                "{} shards on {cores} usable cores: some cores run several",
                p.shards
            ),
            Some(format!(
                "set CORECAST_SHARDS={cores} or unset it (one shard per usable core)"
            )),
        );
    }
    Finding::ok("shards", format!("{} on {cores} usable cores", p.shards))
}

/// The accept and SYN queues against a reconnect storm of every connection at once.
fn queues(r: &Readings, p: &Plan, n: u64) -> Vec<Finding> {
    let per_shard = n.div_ceil(p.shards.max(1));
    let want = per_shard.min(crate::server::LISTEN_BACKLOG as u64);
    let check = |subject: &'static str, value: Option<u64>, what: &str| match value {
        None => Finding::unknown(subject),
        Some(v) if v < want => Finding::new(
            Level::Warn,
            subject,
            format!(
                "{v}: caps each shard's {what} queue; if {n} clients reconnect at once (a \
                 deploy, a network blip) a shard's queue must hold ~{per_shard}, and the excess \
                 retries its SYN after 1 s, 3 s, 7 s …"
            ),
            Some(format!(
                "raise to 65535: `sysctl -w {subject}=65535`; {PERSIST_SYSCTL}"
            )),
        ),
        Some(v) => Finding::ok(
            subject,
            format!("{v}: holds a reconnect storm of ~{per_shard} per shard"),
        ),
    };
    vec![
        check("net.core.somaxconn", r.somaxconn, "accept"),
        check("net.ipv4.tcp_max_syn_backlog", r.tcp_max_syn_backlog, "SYN"),
    ]
}

/// Settings of outgoing connections: corecast only accepts, but a load generator here does not.
fn outgoing(r: &Readings) -> Vec<Finding> {
    let range = match r.ip_local_port_range {
        None => Finding::unknown("net.ipv4.ip_local_port_range"),
        Some((lo, hi)) => {
            let ports = (hi + 1).saturating_sub(lo);
            let status = format!("{lo}–{hi}: {ports} ephemeral ports");
            if ports < WANT_PORTS {
                Finding::new(
                    Level::Note,
                    "net.ipv4.ip_local_port_range",
                    format!(
                        "{status}; corecast only accepts, but a load generator on this host \
                         opens at most {ports} connections per source address"
                    ),
                    Some(format!(
                        "`sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"` (or spread \
                         with corecast-loadtest --source-addrs); {PERSIST_SYSCTL}"
                    )),
                )
            } else {
                Finding::ok("net.ipv4.ip_local_port_range", status)
            }
        }
    };
    let reuse = match r.tcp_tw_reuse {
        None => Finding::unknown("net.ipv4.tcp_tw_reuse"),
        Some(1) => Finding::ok("net.ipv4.tcp_tw_reuse", "1".into()),
        Some(v) => Finding::new(
            Level::Note,
            "net.ipv4.tcp_tw_reuse",
            format!(
                "{v} ({}): matters only to outgoing connections (load generators, webhook \
                 senders on this host)",
                if v == 2 { "loopback only" } else { "off" }
            ),
            Some(format!(
                "`sysctl -w net.ipv4.tcp_tw_reuse=1`; {PERSIST_SYSCTL}"
            )),
        ),
    };
    vec![range, reuse]
}

fn buffers(r: &Readings) -> Vec<Finding> {
    let explicit = match (r.rmem_max, r.wmem_max) {
        (Some(rm), Some(wm)) => Finding::ok(
            "net.core.rmem_max/wmem_max",
            format!(
                "{} / {} KiB: caps only buffer sizes set with SO_RCVBUF/SO_SNDBUF, which \
                 corecast leaves to the kernel's auto-tuning (tcp_rmem/tcp_wmem)",
                rm / 1024,
                wm / 1024
            ),
        ),
        _ => Finding::unknown("net.core.rmem_max/wmem_max"),
    };
    let tuned = |subject: &'static str, value: Option<[u64; 3]>, what: &str| match value {
        None => Finding::unknown(subject),
        Some([min, default, max]) if max < WANT_BUFFER_MAX => Finding::new(
            Level::Warn,
            subject,
            format!(
                "{min} {default} {max}: a busy connection's {what} buffer grows only to {} \
                 KiB{}",
                max / 1024,
                if what == "send" {
                    "; bursts to a slow subscriber then wait in corecast's outbox \
                     (CORECAST_MAX_OUTBOX_KB, then close 4100) sooner"
                } else {
                    ""
                }
            ),
            Some(format!(
                "`sysctl -w {subject}=\"{min} {default} {WANT_BUFFER_MAX}\"`; {PERSIST_SYSCTL}"
            )),
        ),
        Some([min, default, max]) => Finding::ok(
            subject,
            format!(
                "{min} {default} {max}: {what} buffers auto-tune up to {} KiB",
                max / 1024
            ),
        ),
    };
    vec![
        explicit,
        tuned("net.ipv4.tcp_rmem", r.tcp_rmem, "receive"),
        tuned("net.ipv4.tcp_wmem", r.tcp_wmem, "send"),
    ]
}

fn memory(r: &Readings, p: &Plan, n: u64) -> Finding {
    let Some(available) = r.mem_available else {
        return Finding::unknown("memory");
    };
    let per_conn = CONN_BYTES_SERVER + CONN_BYTES_KERNEL;
    let fixed = p.shards * (SHARD_BYTES + p.io_memory);
    let need = n.saturating_mul(per_conn).saturating_add(fixed);
    let mib = |b: u64| b >> 20;
    let status = format!(
        "{n} idle connections × ~{:.1} KB ({:.1} KB corecast + {:.1} KB kernel) + {} MiB for \
         the shards ≈ {} MiB; MemAvailable {} MiB",
        per_conn as f64 / 1000.0,
        CONN_BYTES_SERVER as f64 / 1000.0,
        CONN_BYTES_KERNEL as f64 / 1000.0,
        mib(fixed),
        mib(need),
        mib(available)
    );
    if need > available {
        let fits = available.saturating_sub(fixed) / per_conn;
        return Finding::new(
            Level::Warn,
            "memory",
            status,
            Some(format!(
                "set CORECAST_MAX_CONNECTIONS={fits} (or less: busy connections also queue up \
                 to CORECAST_MAX_OUTBOX_KB each), or add memory"
            )),
        );
    }
    Finding::ok("memory", status)
}

fn io_uring(r: &Readings) -> Option<Finding> {
    let subject = "io_uring";
    let switch = r.io_uring_disabled.unwrap_or(0);
    let fix = match switch {
        2 => "`sysctl -w kernel.io_uring_disabled=0`".to_string(),
        1 => "run corecast in the group of kernel.io_uring_group, or \
              `sysctl -w kernel.io_uring_disabled=0`"
            .to_string(),
        _ => "corecast needs Linux 5.8 or later with io_uring; a container runtime may block the \
              io_uring_* system calls in its seccomp profile"
            .to_string(),
    };
    match &r.io_uring {
        Some(Ok(())) => Some(Finding::ok(
            subject,
            format!("a ring could be created (kernel.io_uring_disabled = {switch})"),
        )),
        Some(Err(e)) => Some(Finding::new(
            Level::Refuse,
            subject,
            format!("cannot create a ring: {e} (kernel.io_uring_disabled = {switch})"),
            Some(fix),
        )),
        None if switch == 2 => Some(Finding::new(
            Level::Refuse,
            subject,
            "disabled (kernel.io_uring_disabled = 2)".into(),
            Some(fix),
        )),
        None => None,
    }
}

/// Warnings and refusals among `findings`.
pub fn counts(findings: &[Finding]) -> (usize, usize) {
    let count = |level| findings.iter().filter(|f| f.level == level).count();
    (count(Level::Warn), count(Level::Refuse))
}

#[cfg(test)]
mod tests;
