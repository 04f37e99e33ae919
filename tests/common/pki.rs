//! Test certificates: a throw-away CA and server certificates made at test time with the
//! `openssl` command, and a rustls client configuration that trusts only that CA.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed to make the test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away certificate authority in its own temporary directory.
pub struct TestCa {
    /// The directory holding every file.
    pub dir: PathBuf,
    /// The CA certificate (PEM).
    pub cert: PathBuf,
}

/// A server certificate and its key, signed by a [`TestCa`].
#[derive(Debug, Clone)]
pub struct Issued {
    /// Certificate chain file (PEM, leaf only).
    pub cert: PathBuf,
    /// Private key file (PEM).
    pub key: PathBuf,
    /// The certificate's serial number.
    pub serial: u64,
}

impl Issued {
    /// The DER of the certificate.
    pub fn der(&self) -> Vec<u8> {
        CertificateDer::from_pem_file(&self.cert)
            .expect("issued certificate parses")
            .to_vec()
    }
}

impl TestCa {
    /// Makes a new CA (P-256, valid for a day).
    pub fn new() -> TestCa {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "corecast-test-ca-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("CA directory");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=corecast test CA",
            ],
            &dir,
        );
        let cert = dir.join("ca.pem");
        TestCa { dir, cert }
    }

    /// Issues a certificate for `localhost` and 127.0.0.1 with serial `serial`, written as
    /// `{name}.pem` and `{name}.key`.
    pub fn issue(&self, name: &str, serial: u64) -> Issued {
        let (key, csr, cert) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let subject = format!("/CN=localhost/O=corecast test {name}");
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subject,
            ],
            &self.dir,
        );
        std::fs::write(
            self.dir.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .expect("extensions file");
        let serial_text = serial.to_string();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial_text,
                "-days",
                "1",
                "-extfile",
                "san.ext",
                "-out",
                &cert,
            ],
            &self.dir,
        );
        Issued {
            cert: self.dir.join(cert),
            key: self.dir.join(key),
            serial,
        }
    }

    /// A rustls client configuration that trusts this CA only. It resumes no sessions, so
    /// every connection has a full handshake and sees the certificate the server has now.
    pub fn client(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(&self.cert).expect("CA certificate parses");
        roots.add(ca).expect("CA certificate is usable");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
