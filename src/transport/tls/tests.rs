//! Loading and checking certificates: fixtures are a self-signed P-256 certificate for
//! `localhost` with its key, and a second key that does not belong to it.

use super::*;

const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBlDCCATugAwIBAgIUQyp2n0G0S3vOWBFsaZV5FBzCF/YwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTIxNDg1MloYDzIxMjYxMTA3
MjE0ODUyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQGaM6uFHzcIqlPjsElR6u2GIXmG/BzU0EvjBQsp8ezGeN6B861Xukj
joWIAnK3qrWP4LRBc7oixp1zt6QMq75xo2kwZzAdBgNVHQ4EFgQUHHKE2rmWcJ85
YUh9CR9cKgppk6cwHwYDVR0jBBgwFoAUHHKE2rmWcJ85YUh9CR9cKgppk6cwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
RwAwRAIga96wG4eUpiiVE6yZSpC2anJZKyMq9yEVpz+NpoQTy2ACIA+xdJzRXaMJ
qMbEYgUW316IraJPSs2ZF1c+QCY++yxN
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgV7vCz7C1d+jRbixq
AfSDp200oMVfGMf6XahAKd2rKsqhRANCAAQGaM6uFHzcIqlPjsElR6u2GIXmG/Bz
U0EvjBQsp8ezGeN6B861XukjjoWIAnK3qrWP4LRBc7oixp1zt6QMq75x
-----END PRIVATE KEY-----
";
const OTHER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgB3eYqOFWQU3cFU2w
ZmW1qhvE5UDATBPEizJXqJ0LODOhRANCAAT/VxTa/qJE/3Z+Vb20/4RLvIWy3MyJ
J5rjyWElS+q3/mijOqYwqge8tI+PGjIu7pXcVa80ZL6jwL0PsLIeUSSY
-----END PRIVATE KEY-----
";
/// `openssl x509 -noout -fingerprint -sha256` of [`CERT`].
const CERT_SHA256: &str = "CE:8C:E1:35:2B:69:A2:83:A0:F6:16:26:0E:B3:38:49:76:D4:BC:18:5B:A6:15:0B:6B:AE:1C:A0:16:5E:DC:30";

/// Writes `cert` and `key` to fresh files and returns their paths.
fn files(name: &str, cert: &str, key: &str) -> TlsFiles {
    let dir = std::env::temp_dir().join(format!("corecast-tls-unit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
    files
}

fn settings(args: &[&str]) -> Settings {
    use clap::Parser;
    let mut argv = vec!["corecast"];
    argv.extend_from_slice(args);
    Settings::try_parse_from(argv).unwrap()
}

#[test]
fn a_matching_pair_loads_and_names_its_fingerprint() {
    let tls = Tls::load(files("ok", CERT, KEY)).unwrap();
    let summary = tls.current();
    assert_eq!(summary.chain, 1);
    assert_eq!(summary.fingerprint, CERT_SHA256);
    assert!(summary.to_string().contains(CERT_SHA256), "{summary}");
}

#[test]
fn both_settings_or_neither() {
    assert!(Tls::from_settings(&settings(&[])).unwrap().is_none());
    let err = TlsFiles::from_settings(&settings(&["--tls-cert", "/x.pem"])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("CORECAST_TLS_CERT is set but CORECAST_TLS_KEY"),
        "{err}"
    );
    let err = TlsFiles::from_settings(&settings(&["--tls-key", "/x.pem"])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("CORECAST_TLS_KEY is set but CORECAST_TLS_CERT"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named_with_its_variable() {
    let mut f = files("missing", CERT, KEY);
    f.cert = f.cert.with_file_name("nope.pem");
    let err = Tls::load(f.clone()).unwrap_err().to_string();
    assert!(err.starts_with("CORECAST_TLS_CERT: cannot read"), "{err}");
    assert!(err.contains("nope.pem"), "{err}");
    let mut f = files("missing-key", CERT, KEY);
    f.key = f.key.with_file_name("nokey.pem");
    let err = Tls::load(f).unwrap_err().to_string();
    assert!(err.starts_with("CORECAST_TLS_KEY: cannot read"), "{err}");
}

#[test]
fn garbage_and_swapped_files_are_refused() {
    let err = Tls::load(files("garbage-cert", "not a certificate", KEY)).unwrap_err();
    assert!(matches!(err, TlsError::Certificate { .. }), "{err}");
    assert!(err.to_string().starts_with("CORECAST_TLS_CERT:"), "{err}");
    let err = Tls::load(files("garbage-key", CERT, "not a key")).unwrap_err();
    assert!(matches!(err, TlsError::Key { .. }), "{err}");
    assert!(err.to_string().starts_with("CORECAST_TLS_KEY:"), "{err}");
    // The certificate given as the key and the other way round.
    assert!(Tls::load(files("swapped", KEY, CERT)).is_err());
    // PEM armour around bytes that are not a certificate.
    let fake = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = Tls::load(files("fake", fake, KEY)).unwrap_err();
    assert!(matches!(err, TlsError::Certificate { .. }), "{err}");
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let err = Tls::load(files("mismatch", CERT, OTHER_KEY)).unwrap_err();
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    assert!(
        err.to_string().starts_with("CORECAST_TLS_KEY: the key in"),
        "{err}"
    );
}

#[test]
fn a_failed_reload_keeps_the_certificate_and_a_good_one_swaps_it() {
    let f = files("reload", CERT, KEY);
    let tls = Tls::load(f.clone()).unwrap();
    let config = tls.server_config();
    std::fs::write(&f.key, OTHER_KEY).unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::Mismatch { .. })));
    assert_eq!(tls.current().fingerprint, CERT_SHA256);
    std::fs::write(&f.cert, "").unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::Certificate { .. })));
    assert_eq!(tls.current().fingerprint, CERT_SHA256);
    // The same pair again: installed (the store hands out the new Arc).
    std::fs::write(&f.cert, CERT).unwrap();
    std::fs::write(&f.key, KEY).unwrap();
    let before = tls.store.get();
    assert_eq!(tls.reload().unwrap().fingerprint, CERT_SHA256);
    assert!(!Arc::ptr_eq(&before, &tls.store.get()));
    // The configuration the shards hold resolves through the same store.
    assert!(Arc::ptr_eq(&config, &tls.server_config()));
}

#[test]
fn fingerprint_is_colon_separated_upper_hex() {
    let f = fingerprint(b"abc");
    assert_eq!(f.len(), 32 * 3 - 1);
    assert!(f.starts_with("BA:78:16:BF:"), "{f}");
}
