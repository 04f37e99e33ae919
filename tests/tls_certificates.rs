//! TLS certificates: SIGHUP reloads (new sessions get the new certificate, open ones keep
//! working; broken files keep the old one) and TLS settings refused at start, each naming the
//! variable. Certificates come from a test CA made at test time.

mod common;

use common::pki::{Issued, TestCa};
use common::tls::{Https, TlsWs};
use common::{corecast_command, output_within, Server, WAIT};
use corecast::transport::tls::fingerprint;
use serde_json::json;

/// Copies `from`'s files over `to`'s (the paths a running server reads on SIGHUP).
fn install(from: &Issued, to: &Issued) {
    std::fs::copy(&from.cert, &to.cert).unwrap();
    std::fs::copy(&from.key, &to.key).unwrap();
}

#[test]
fn sighup_gives_new_connections_the_new_certificate_and_keeps_open_ones() {
    let ca = TestCa::new();
    let first = ca.issue("first", 1001);
    let second = ca.issue("second", 1002);
    let live = ca.issue("live", 1000);
    install(&first, &live);
    let server = Server::start_tls(&live, &[]);
    let client = ca.client();
    let mut open = TlsWs::pusher(&client, server.addr, &server.app.key);
    assert_eq!(open.peer_leaf(), first.der());
    open.subscribe_ok("kept");
    let mut https = Https::connect(&client, server.addr);

    install(&second, &live);
    server.signal(libc::SIGHUP);
    server.wait_output("certificate reloaded", 1);
    assert!(
        server.output().contains(&fingerprint(&second.der())),
        "{}",
        server.output()
    );

    let mut fresh = TlsWs::pusher(&client, server.addr, &server.app.key);
    assert_eq!(fresh.peer_leaf(), second.der());
    assert_ne!(fresh.peer_leaf(), first.der());
    fresh.subscribe_ok("kept");
    // The connections opened before the reload still send and receive.
    assert_eq!(
        https
            .exchange(&server.publish_bytes("kept", "after", "reload"))
            .ok(),
        &json!({})
    );
    assert_eq!(open.expect_event("after", "kept"), "reload");
    assert_eq!(fresh.expect_event("after", "kept"), "reload");
    open.send_json(&json!({"event": "pusher:ping", "data": {}}));
    assert_eq!(open.recv_json()["event"], "pusher:pong");
    assert_eq!(open.peer_leaf(), first.der());
}

#[test]
fn sighup_with_broken_files_keeps_the_old_certificate() {
    let ca = TestCa::new();
    let first = ca.issue("first", 2001);
    let second = ca.issue("second", 2002);
    let live = ca.issue("live", 2000);
    install(&first, &live);
    let server = Server::start_tls(&live, &[]);
    let client = ca.client();
    let mut open = TlsWs::pusher(&client, server.addr, &server.app.key);
    open.subscribe_ok("steady");

    // A certificate file that is not PEM.
    std::fs::write(&live.cert, "not a certificate").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_output("certificate not reloaded", 1);
    assert!(
        server.output().contains("CORECAST_TLS_CERT"),
        "{}",
        server.output()
    );
    let probe = common::tls::connect(&client, server.addr).unwrap();
    assert_eq!(common::tls::peer_leaf(&probe), first.der());

    // The first certificate with the second one's key.
    std::fs::copy(&first.cert, &live.cert).unwrap();
    std::fs::copy(&second.key, &live.key).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_output("certificate not reloaded", 2);
    assert!(
        server.output().contains("does not fit"),
        "{}",
        server.output()
    );
    let mut still = TlsWs::pusher(&client, server.addr, &server.app.key);
    assert_eq!(still.peer_leaf(), first.der());
    still.subscribe_ok("steady");

    // The server kept serving: the open connection and the new one both get a publish.
    let mut https = Https::connect(&client, server.addr);
    assert_eq!(
        https
            .exchange(&server.publish_bytes("steady", "e", "on"))
            .ok(),
        &json!({})
    );
    assert_eq!(open.expect_event("e", "steady"), "on");
    assert_eq!(still.expect_event("e", "steady"), "on");

    // Fixed files are taken on the next SIGHUP.
    install(&second, &live);
    server.signal(libc::SIGHUP);
    server.wait_output("certificate reloaded", 1);
    let probe = common::tls::connect(&client, server.addr).unwrap();
    assert_eq!(common::tls::peer_leaf(&probe), second.der());
}

/// Runs the binary with `envs` and returns (exit code, stderr) once it exits.
fn refused_start(envs: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = corecast_command();
    cmd.env("CORECAST_HOST", "127.0.0.1")
        .env("CORECAST_PORT", "0")
        .env("CORECAST_SHARDS", "1")
        .envs(envs.iter().copied());
    let out = output_within(cmd, WAIT * 2);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn bad_tls_settings_are_refused_at_start_naming_the_variable() {
    let ca = TestCa::new();
    let one = ca.issue("one", 31);
    let two = ca.issue("two", 32);
    let (cert, key) = (one.cert.to_str().unwrap(), one.key.to_str().unwrap());
    let garbage = ca.dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbage = garbage.to_str().unwrap();
    let missing = ca.dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("CORECAST_TLS_CERT", cert)],
            "CORECAST_TLS_CERT is set but CORECAST_TLS_KEY is not",
        ),
        (
            vec![("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_KEY is set but CORECAST_TLS_CERT is not",
        ),
        (
            vec![("CORECAST_TLS_CERT", missing), ("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_CERT: cannot read",
        ),
        (
            vec![("CORECAST_TLS_CERT", cert), ("CORECAST_TLS_KEY", missing)],
            "CORECAST_TLS_KEY: cannot read",
        ),
        (
            vec![("CORECAST_TLS_CERT", garbage), ("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_CERT:",
        ),
        (
            vec![("CORECAST_TLS_CERT", key), ("CORECAST_TLS_KEY", key)],
            "CORECAST_TLS_CERT:",
        ),
        (
            vec![("CORECAST_TLS_CERT", cert), ("CORECAST_TLS_KEY", cert)],
            "CORECAST_TLS_KEY:",
        ),
        (
            vec![
                ("CORECAST_TLS_CERT", cert),
                ("CORECAST_TLS_KEY", two.key.to_str().unwrap()),
            ],
            "CORECAST_TLS_KEY: the key in",
        ),
        (
            vec![("CORECAST_PORT", "7443"), ("CORECAST_PLAIN_PORT", "7443")],
            "CORECAST_PLAIN_PORT=7443",
        ),
    ];
    for (envs, expected) in cases {
        let (code, err) = refused_start(&envs);
        assert_eq!(code, 2, "{envs:?}: {err}");
        assert!(
            err.contains(expected),
            "{envs:?}: expected {expected:?} in {err:?}"
        );
    }
}
