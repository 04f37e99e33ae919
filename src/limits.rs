//! Process limits the server needs (open files, locked memory), checked before any shard
//! starts, with a clear word on what to raise and how.

use crate::config::ConfigError;

/// Files each shard needs besides connections (listener, io_uring, eventfds, …).
const FILES_PER_SHARD: u64 = 16;
/// Open files below which the server refuses to start.
const MIN_NOFILE: u64 = 1024;

/// What the checks found and set.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open files allowed (soft limit after raising it to the hard limit).
    pub nofile: u64,
    /// Locked memory allowed, bytes (`u64::MAX` when unlimited).
    pub memlock: u64,
}

fn get(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; no other preconditions.
    unsafe { libc::getrlimit(resource, &mut r) };
    (r.rlim_cur, r.rlim_max)
}

/// Raises the open-files soft limit to the hard limit and checks both limits against the
/// settings: `max_connections` (0 = unlimited), shards, and io memory per shard in bytes.
pub fn check(shards: u64, max_connections: u64, io_memory: u64) -> Result<Limits, ConfigError> {
    let (soft, hard) = get(libc::RLIMIT_NOFILE);
    let mut nofile = soft;
    if soft < hard {
        let r = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0 {
            nofile = hard;
        }
    }
    let reserve = FILES_PER_SHARD * shards + 64;
    if nofile < MIN_NOFILE {
        return Err(ConfigError::Limit(format!(
            "open files limit (RLIMIT_NOFILE) is {nofile}, below the minimum of {MIN_NOFILE}: \
             raise it with `ulimit -n 65536` (or `nofile` in /etc/security/limits.conf, \
             LimitNOFILE= for systemd)"
        )));
    }
    if max_connections > 0 && max_connections + reserve > nofile {
        return Err(ConfigError::Limit(format!(
            "CORECAST_MAX_CONNECTIONS={max_connections} needs about {} open files but \
             RLIMIT_NOFILE is {nofile}: raise it with `ulimit -n {}` or lower CORECAST_MAX_CONNECTIONS",
            max_connections + reserve,
            max_connections + reserve
        )));
    }
    let (memlock, _) = get(libc::RLIMIT_MEMLOCK);
    let needed = io_memory * shards;
    if memlock != libc::RLIM_INFINITY && needed > memlock {
        return Err(ConfigError::Limit(format!(
            "locked memory limit (RLIMIT_MEMLOCK) is {} KiB but {shards} shards × \
             CORECAST_IO_MEMORY_KB={} need {} KiB: lower CORECAST_IO_MEMORY_KB or \
             CORECAST_SHARDS, or raise the limit with `ulimit -l {}` (memlock in \
             /etc/security/limits.conf, LimitMEMLOCK= for systemd)",
            memlock / 1024,
            io_memory / 1024,
            needed / 1024,
            needed / 1024
        )));
    }
    Ok(Limits { nofile, memlock })
}
