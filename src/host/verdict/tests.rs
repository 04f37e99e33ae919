use super::*;

/// A host set up as `tuning/` says.
fn tuned() -> Readings {
    Readings {
        nofile: (1_048_576, 1_048_576),
        memlock: (64 << 20, 64 << 20),
        usable_cores: 4,
        somaxconn: Some(65535),
        tcp_max_syn_backlog: Some(65535),
        ip_local_port_range: Some((1024, 65535)),
        tcp_tw_reuse: Some(1),
        rmem_max: Some(4 << 20),
        wmem_max: Some(4 << 20),
        tcp_rmem: Some([4096, 16384, 4 << 20]),
        tcp_wmem: Some([4096, 16384, 4 << 20]),
        mem_available: Some(64 << 30),
        io_uring_disabled: Some(0),
        io_uring: Some(Ok(())),
    }
}

fn plan(shards: u64, max_connections: u64) -> Plan {
    Plan {
        shards,
        max_connections,
        io_memory: 1 << 20,
    }
}

fn find<'a>(findings: &'a [Finding], subject: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.subject == subject)
        .unwrap_or_else(|| panic!("no finding for {subject}: {findings:#?}"))
}

#[test]
fn a_tuned_host_is_all_ok() {
    let findings = assess(&tuned(), &plan(4, 0));
    assert_eq!(counts(&findings), (0, 0), "{findings:#?}");
    assert!(
        findings.iter().all(|f| f.level == Level::Ok),
        "{findings:#?}"
    );
    assert!(findings.iter().all(|f| f.fix.is_none()));
}

#[test]
fn open_files_below_the_minimum_are_refused() {
    let r = Readings {
        nofile: (512, 512),
        ..tuned()
    };
    let findings = assess(&r, &plan(2, 0));
    let f = find(&findings, "open files");
    assert_eq!(f.level, Level::Refuse);
    assert!(
        f.status.contains("RLIMIT_NOFILE") && f.status.contains("512"),
        "{f:?}"
    );
    assert!(
        f.fix.as_deref().unwrap_or("").contains("LimitNOFILE="),
        "{f:?}"
    );
    assert_eq!(counts(&findings).1, 1);
}

#[test]
fn a_connection_cap_beyond_the_open_files_is_refused() {
    let r = Readings {
        nofile: (1024, 20_000),
        ..tuned()
    };
    let f = assess(&r, &plan(2, 50_000)).remove(0);
    assert_eq!(f.level, Level::Refuse);
    assert!(f.status.contains("CORECAST_MAX_CONNECTIONS=50000"), "{f:?}");
    let f = assess(&r, &plan(2, 10_000)).remove(0);
    assert_eq!(f.level, Level::Ok, "{f:?}");
    assert!(f.status.contains("raises the soft limit to 20000"), "{f:?}");
}

#[test]
fn few_open_files_without_a_cap_warn_with_the_fix() {
    let r = Readings {
        nofile: (20_000, 20_000),
        ..tuned()
    };
    let findings = assess(&r, &plan(2, 0));
    let f = find(&findings, "open files");
    assert_eq!(f.level, Level::Warn);
    let room = 20_000 - limits::reserved_files(2);
    assert!(
        f.status.contains(&format!("about {room} connections")),
        "{f:?}"
    );
    let fix = f.fix.as_deref().unwrap_or("");
    assert!(
        fix.contains("ulimit -n 1048576") && fix.contains("tuning/"),
        "{fix}"
    );
    assert_eq!(capacity(&r, &plan(2, 0)), room);
}

#[test]
fn locked_memory_short_of_shards_times_io_memory_is_refused() {
    let r = Readings {
        memlock: (8 << 20, 8 << 20),
        ..tuned()
    };
    let p = Plan {
        io_memory: 4 << 20,
        ..plan(4, 0)
    };
    let f = find(&assess(&r, &p), "locked memory").clone();
    assert_eq!(f.level, Level::Refuse);
    assert!(f.status.contains("CORECAST_IO_MEMORY_KB=4096"), "{f:?}");
    let r = Readings {
        memlock: (u64::MAX, u64::MAX),
        ..r
    };
    let f = find(&assess(&r, &p), "locked memory").clone();
    assert_eq!(f.level, Level::Ok);
    assert!(f.status.starts_with("unlimited"), "{f:?}");
}

#[test]
fn short_queues_warn_against_the_connections_per_shard() {
    let r = Readings {
        somaxconn: Some(4096),
        tcp_max_syn_backlog: Some(2048),
        ..tuned()
    };
    let findings = assess(&r, &plan(4, 0));
    for subject in ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"] {
        let f = find(&findings, subject);
        assert_eq!(f.level, Level::Warn, "{f:?}");
        let fix = f.fix.as_deref().unwrap_or("");
        assert!(fix.contains(&format!("sysctl -w {subject}=65535")), "{fix}");
        assert!(fix.contains("tuning/sysctl.conf"), "{fix}");
    }
    // 4,000 connections over 4 shards: 1,000 per shard fit either queue.
    let findings = assess(&r, &plan(4, 4_000));
    assert_eq!(find(&findings, "net.core.somaxconn").level, Level::Ok);
    assert_eq!(
        find(&findings, "net.ipv4.tcp_max_syn_backlog").level,
        Level::Ok
    );
}

#[test]
fn outgoing_settings_are_notes_not_warnings() {
    let r = Readings {
        ip_local_port_range: Some((32768, 60999)),
        tcp_tw_reuse: Some(2),
        ..tuned()
    };
    let findings = assess(&r, &plan(4, 0));
    let range = find(&findings, "net.ipv4.ip_local_port_range");
    assert_eq!(range.level, Level::Note);
    assert!(range.status.contains("28232 ephemeral ports"), "{range:?}");
    let reuse = find(&findings, "net.ipv4.tcp_tw_reuse");
    assert_eq!(reuse.level, Level::Note);
    assert!(reuse.status.contains("loopback only"), "{reuse:?}");
    assert_eq!(counts(&findings), (0, 0));
}

#[test]
fn small_socket_buffer_maxima_warn() {
    let r = Readings {
        tcp_wmem: Some([4096, 16384, 1 << 20]),
        ..tuned()
    };
    let findings = assess(&r, &plan(4, 0));
    let f = find(&findings, "net.ipv4.tcp_wmem");
    assert_eq!(f.level, Level::Warn);
    assert!(
        f.status.contains("1024 KiB") && f.status.contains("4100"),
        "{f:?}"
    );
    assert!(
        f.fix
            .as_deref()
            .unwrap_or("")
            .contains("4096 16384 4194304"),
        "{f:?}"
    );
    assert_eq!(find(&findings, "net.ipv4.tcp_rmem").level, Level::Ok);
    assert_eq!(
        find(&findings, "net.core.rmem_max/wmem_max").level,
        Level::Ok
    );
}

#[test]
fn memory_short_of_the_connections_suggests_a_cap_that_fits() {
    let r = Readings {
        mem_available: Some(2 << 30),
        ..tuned()
    };
    let findings = assess(&r, &plan(4, 0));
    let f = find(&findings, "memory");
    assert_eq!(f.level, Level::Warn, "{f:?}");
    let fix = f.fix.as_deref().unwrap_or("");
    let cap: u64 = fix
        .strip_prefix("set CORECAST_MAX_CONNECTIONS=")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cap in {fix}"));
    assert!(cap > 300_000 && cap < 400_000, "{cap}");
    let capped = assess(&r, &plan(4, cap));
    assert_eq!(find(&capped, "memory").level, Level::Ok);
    let over = assess(&r, &plan(4, cap + 10_000));
    assert_eq!(find(&over, "memory").level, Level::Warn);
}

#[test]
fn io_uring_that_cannot_start_is_refused() {
    let r = Readings {
        io_uring: Some(Err("Operation not permitted (os error 1)".into())),
        io_uring_disabled: Some(1),
        ..tuned()
    };
    let f = find(&assess(&r, &plan(4, 0)), "io_uring").clone();
    assert_eq!(f.level, Level::Refuse);
    assert!(f.status.contains("not permitted"), "{f:?}");
    assert!(
        f.fix.as_deref().unwrap_or("").contains("io_uring_group"),
        "{f:?}"
    );
    // Not probed (the start-up banner): only the kernel switch speaks.
    let r = Readings {
        io_uring: None,
        io_uring_disabled: Some(2),
        ..tuned()
    };
    assert_eq!(
        find(&assess(&r, &plan(4, 0)), "io_uring").level,
        Level::Refuse
    );
    let r = Readings {
        io_uring: None,
        ..tuned()
    };
    assert!(assess(&r, &plan(4, 0))
        .iter()
        .all(|f| f.subject != "io_uring"));
}

#[test]
fn unreadable_settings_are_notes_and_extra_shards_warn() {
    let r = Readings {
        somaxconn: None,
        tcp_wmem: None,
        mem_available: None,
        usable_cores: 2,
        ..tuned()
    };
    let findings = assess(&r, &plan(4, 0));
    for subject in ["net.core.somaxconn", "net.ipv4.tcp_wmem", "memory"] {
        assert_eq!(find(&findings, subject).level, Level::Note, "{subject}");
    }
    let f = find(&findings, "shards");
    assert_eq!(f.level, Level::Warn);
    assert!(
        f.fix.as_deref().unwrap_or("").contains("CORECAST_SHARDS=2"),
        "{f:?}"
    );
    assert_eq!(counts(&findings), (1, 0));
}
