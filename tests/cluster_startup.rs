//! Cluster mode at start: the banner names the adapter (never the password); a Redis that is
//! unreachable is retried for a bounded time, then the start is refused naming the URL; a
//! Redis that comes up during that time is used; bad settings are refused at once naming the
//! variable; without `CORECAST_REDIS_URL` the node is a single node as before.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::redis_server::{free_port, Redis};
use common::{corecast_command, output_within, Server};

/// Runs the server binary with `envs` until it exits (at most `within`); returns its exit
/// code, stderr and how long it ran.
fn run_to_exit(envs: &[(&str, &str)], within: Duration) -> (Option<i32>, String, Duration) {
    let mut cmd = corecast_command();
    cmd.env("CORECAST_HOST", "127.0.0.1")
        .env("CORECAST_PORT", "0")
        .env("CORECAST_SHARDS", "2")
        .envs(envs.iter().copied());
    let started = Instant::now();
    let out = output_within(cmd, within);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, started.elapsed())
}

#[test]
fn an_unreachable_redis_is_retried_then_refused_naming_the_url() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let (code, stderr, took) =
        run_to_exit(&[("CORECAST_REDIS_URL", &url)], Duration::from_secs(40));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach Redis at {url} (CORECAST_REDIS_URL) within 10s"
        )),
        "{stderr}"
    );
    // It kept trying for its bound (10 s) rather than giving up at the first refusal.
    assert!(took >= Duration::from_secs(8), "gave up after {took:?}");
}

#[test]
fn a_redis_that_comes_up_during_start_is_used() {
    // A listener that drops every connection stands where Redis will be: the node's first
    // attempts fail there; once one did, the listener goes and Redis starts on that port.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let starter = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("the node tries to connect");
        drop(conn);
        drop(listener);
        Redis::start_on(port)
    });
    let url = format!("redis://127.0.0.1:{port}");
    let node = Server::start(&[("CORECAST_REDIS_URL", &url)]);
    let redis = starter.join().expect("redis started");
    assert!(node
        .output()
        .contains(&format!("adapter:  redis {url} (node ")));
    assert_eq!(node.ready_status(), 200);
    assert_eq!(
        redis.subscribers("corecast:b"),
        1,
        "default prefix `corecast`"
    );
}

#[test]
fn the_banner_hides_the_password() {
    let redis = Redis::start();
    redis.cmd(&["CONFIG", "SET", "requirepass", "s3cret-pw"]);
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", redis.port);
    let node = Server::start(&[("CORECAST_REDIS_URL", &url)]);
    let out = node.output();
    assert!(!out.contains("s3cret-pw"), "{out}");
    assert!(
        out.contains(&format!(
            "adapter:  redis redis://:***@127.0.0.1:{}",
            redis.port
        )),
        "{out}"
    );
    assert_eq!(node.ready_status(), 200);
}

#[test]
fn bad_cluster_settings_are_refused_at_once_naming_the_variable() {
    let cases: [(&str, &str, &str); 9] = [
        (
            "CORECAST_REDIS_URL",
            "http://127.0.0.1:6379",
            "CORECAST_REDIS_URL",
        ),
        (
            "CORECAST_REDIS_URL",
            "redis://127.0.0.1:6379/x",
            "CORECAST_REDIS_URL",
        ),
        ("CORECAST_REDIS_URL", "127.0.0.1:6379", "CORECAST_REDIS_URL"),
        ("CORECAST_REDIS_PREFIX", "a b", "CORECAST_REDIS_PREFIX"),
        ("CORECAST_REDIS_BUFFER_MS", "-1", "CORECAST_REDIS_BUFFER_MS"),
        (
            "CORECAST_REDIS_BUFFER_KB",
            "lots",
            "CORECAST_REDIS_BUFFER_KB",
        ),
        (
            "CORECAST_NODE_HEARTBEAT_MS",
            "0",
            "CORECAST_NODE_HEARTBEAT_MS",
        ),
        ("CORECAST_NODE_TTL_MS", "soon", "CORECAST_NODE_TTL_MS"),
        (
            "CORECAST_CLUSTER_QUERY_TIMEOUT_MS",
            "0",
            "CORECAST_CLUSTER_QUERY_TIMEOUT_MS",
        ),
    ];
    for (var, value, named) in cases {
        let (code, stderr, _) = run_to_exit(&[(var, value)], Duration::from_secs(10));
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(named), "{var}={value}: {stderr}");
    }
    // A node would count as gone between two of its own heartbeats.
    let (code, stderr, _) = run_to_exit(
        &[
            ("CORECAST_NODE_HEARTBEAT_MS", "2000"),
            ("CORECAST_NODE_TTL_MS", "2000"),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "CORECAST_NODE_TTL_MS=2000 must be greater than CORECAST_NODE_HEARTBEAT_MS=2000"
        ),
        "{stderr}"
    );
    // A core the process may not use, refused before any Redis is needed.
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let (code, stderr, took) = run_to_exit(
        &[("CORECAST_REDIS_URL", &url), ("CORECAST_LINK_CORE", "4095")],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("CORECAST_LINK_CORE=4095"), "{stderr}");
    assert!(
        took < Duration::from_secs(8),
        "not refused at once: {took:?}"
    );
}

#[test]
fn without_a_redis_url_the_node_stands_alone() {
    let node = Server::start(&[]);
    assert!(node.output().contains("adapter:  local (single node)"));
    assert_eq!(node.ready_status(), 200);
    assert_eq!(node.rest().send("GET", "/up", b"", &[]).status, 200);
    let metrics = node.rest().send("GET", "/metrics", b"", &[]).text();
    assert!(!metrics.contains("corecast_cluster_"), "{metrics}");
}
