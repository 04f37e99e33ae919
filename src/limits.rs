//! Process limits the server needs (open files, locked memory), checked before any shard
//! starts, with a clear word on what to raise and how. The rules themselves
//! ([`check_nofile`], [`check_memlock`]) are pure, so `corecast check` applies the very same
//! ones to what it reads.

use crate::config::ConfigError;

/// Files each shard needs besides connections (listener, io_uring, eventfds, …).
const FILES_PER_SHARD: u64 = 16;
/// Open files below which the server refuses to start.
pub const MIN_NOFILE: u64 = 1024;

/// What the checks found and set.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open files allowed (soft limit after raising it to the hard limit).
    pub nofile: u64,
    /// Locked memory allowed, bytes (`u64::MAX` when unlimited).
    pub memlock: u64,
}

/// Soft and hard limit of `resource`.
pub fn get(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; no other preconditions.
    unsafe { libc::getrlimit(resource, &mut r) };
    (r.rlim_cur, r.rlim_max)
}

/// Open files the server keeps for itself besides connections, for `shards` shards.
pub fn reserved_files(shards: u64) -> u64 {
    FILES_PER_SHARD * shards + 64
}

/// Refuses an open-files limit of `nofile` (after raising the soft limit) that is below the
/// minimum or too small for `max_connections` (0 = unlimited) plus what `shards` reserve.
pub fn check_nofile(nofile: u64, shards: u64, max_connections: u64) -> Result<(), ConfigError> {
    let reserve = reserved_files(shards);
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
    Ok(())
}

/// Refuses a locked-memory limit of `memlock` bytes (`u64::MAX` = unlimited) smaller than
/// `shards` × `io_memory` bytes.
pub fn check_memlock(memlock: u64, shards: u64, io_memory: u64) -> Result<(), ConfigError> {
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
    Ok(())
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
    check_nofile(nofile, shards, max_connections)?;
    let (memlock, _) = get(libc::RLIMIT_MEMLOCK);
    check_memlock(memlock, shards, io_memory)?;
    Ok(Limits { nofile, memlock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_are_refused_below_the_minimum_or_the_cap() {
        assert!(check_nofile(512, 1, 0).is_err());
        assert!(check_nofile(MIN_NOFILE, 1, 0).is_ok());
        let err = check_nofile(2000, 2, 5000).unwrap_err().to_string();
        assert!(err.contains("CORECAST_MAX_CONNECTIONS=5000"), "{err}");
        assert!(check_nofile(10_000, 2, 5000).is_ok());
    }

    #[test]
    fn locked_memory_is_refused_below_shards_times_io_memory() {
        let err = check_memlock(8 << 20, 4, 4 << 20).unwrap_err().to_string();
        assert!(err.contains("16384 KiB"), "{err}");
        assert!(check_memlock(8 << 20, 2, 4 << 20).is_ok());
        assert!(check_memlock(libc::RLIM_INFINITY, 1024, 1 << 30).is_ok());
    }
}
