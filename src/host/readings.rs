//! Reading the host: process limits, kernel settings under `/proc/sys`, available memory, and
//! whether an io_uring ring can be created. Everything missing is `None` (a kernel or container
//! that hides a file is reported as "unknown", never as a failure of the check itself).

use std::path::Path;

use glommio::{LocalExecutorBuilder, Placement};

use crate::limits;

/// What the host looks like, as far as the server cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readings {
    /// Open files: (soft, hard).
    pub nofile: (u64, u64),
    /// Locked memory in bytes: (soft, hard); `u64::MAX` is unlimited.
    pub memlock: (u64, u64),
    /// Cores the shards may be pinned to.
    pub usable_cores: usize,
    /// `net.core.somaxconn`.
    pub somaxconn: Option<u64>,
    /// `net.ipv4.tcp_max_syn_backlog`.
    pub tcp_max_syn_backlog: Option<u64>,
    /// `net.ipv4.ip_local_port_range` (low, high).
    pub ip_local_port_range: Option<(u64, u64)>,
    /// `net.ipv4.tcp_tw_reuse` (0 off, 1 on, 2 loopback only).
    pub tcp_tw_reuse: Option<u64>,
    /// `net.core.rmem_max`, bytes.
    pub rmem_max: Option<u64>,
    /// `net.core.wmem_max`, bytes.
    pub wmem_max: Option<u64>,
    /// `net.ipv4.tcp_rmem` (min, default, max), bytes.
    pub tcp_rmem: Option<[u64; 3]>,
    /// `net.ipv4.tcp_wmem` (min, default, max), bytes.
    pub tcp_wmem: Option<[u64; 3]>,
    /// `MemAvailable` from `/proc/meminfo`, bytes.
    pub mem_available: Option<u64>,
    /// `kernel.io_uring_disabled` (0 allowed, 1 only for `kernel.io_uring_group`, 2 disabled);
    /// `None` on kernels without the switch.
    pub io_uring_disabled: Option<u64>,
    /// Whether a ring could be created: `None` when not tried, `Some(Err(why))` when it failed.
    pub io_uring: Option<Result<(), String>>,
}

impl Readings {
    /// Reads everything; `probe_io_uring` also creates (and drops) a tiny io_uring executor.
    pub fn read(probe_io_uring: bool) -> Readings {
        let proc_sys = Path::new("/proc/sys");
        let sys = |name: &str| sysctl(proc_sys, name);
        Readings {
            nofile: limits::get(libc::RLIMIT_NOFILE),
            memlock: limits::get(libc::RLIMIT_MEMLOCK),
            usable_cores: crate::server::usable_cores().len(),
            somaxconn: sys("net.core.somaxconn").and_then(|v| one(&v)),
            tcp_max_syn_backlog: sys("net.ipv4.tcp_max_syn_backlog").and_then(|v| one(&v)),
            ip_local_port_range: sys("net.ipv4.ip_local_port_range").and_then(|v| {
                let [lo, hi] = numbers::<2>(&v)?;
                Some((lo, hi))
            }),
            tcp_tw_reuse: sys("net.ipv4.tcp_tw_reuse").and_then(|v| one(&v)),
            rmem_max: sys("net.core.rmem_max").and_then(|v| one(&v)),
            wmem_max: sys("net.core.wmem_max").and_then(|v| one(&v)),
            tcp_rmem: sys("net.ipv4.tcp_rmem").and_then(|v| numbers::<3>(&v)),
            tcp_wmem: sys("net.ipv4.tcp_wmem").and_then(|v| numbers::<3>(&v)),
            mem_available: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|m| mem_available(&m)),
            io_uring_disabled: sys("kernel.io_uring_disabled").and_then(|v| one(&v)),
            io_uring: probe_io_uring.then(probe),
        }
    }
}

/// The contents of the `/proc/sys` file of sysctl `name` (`net.core.somaxconn`).
fn sysctl(root: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(root.join(name.replace('.', "/"))).ok()
}

/// One number.
fn one(text: &str) -> Option<u64> {
    let [v] = numbers::<1>(text)?;
    Some(v)
}

/// Exactly `N` whitespace-separated numbers.
fn numbers<const N: usize>(text: &str) -> Option<[u64; N]> {
    let values: Vec<u64> = text
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    values.try_into().ok()
}

/// `MemAvailable` in bytes from the text of `/proc/meminfo`.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Io memory of the probe executor: the smallest glommio takes, far below any memlock limit
/// the server itself could start with.
const PROBE_IO_MEMORY: usize = 64 * 1024;

/// Creates (and drops) a tiny unpinned glommio executor, which sets up its io_uring rings, on
/// a thread of its own.
fn probe() -> Result<(), String> {
    std::thread::spawn(|| {
        LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(PROBE_IO_MEMORY)
            .ring_depth(8)
            .make()
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("creating the executor panicked".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_values_parse() {
        assert_eq!(one("4096\n"), Some(4096));
        assert_eq!(one(""), None);
        assert_eq!(numbers::<2>("32768\t60999\n"), Some([32768, 60999]));
        assert_eq!(
            numbers::<3>("4096 131072 6291456\n"),
            Some([4096, 131072, 6291456])
        );
        assert_eq!(numbers::<3>("4096 131072\n"), None);
        assert_eq!(numbers::<1>("abc"), None);
        let meminfo = "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(mem_available(meminfo), Some(2048 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn missing_sysctls_are_none() {
        let dir = std::env::temp_dir().join("corecast-no-such-proc-sys");
        assert_eq!(sysctl(&dir, "net.core.somaxconn"), None);
    }

    #[test]
    fn this_host_reads() {
        let r = Readings::read(false);
        assert!(r.nofile.0 > 0 && r.nofile.0 <= r.nofile.1, "{r:?}");
        assert!(r.usable_cores >= 1);
        assert_eq!(r.io_uring, None);
    }
}
