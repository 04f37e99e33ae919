//! TLS for the main port: the rustls server configuration built from a PEM certificate chain
//! and private key (`CORECAST_TLS_CERT`, `CORECAST_TLS_KEY`), and the certificate store that
//! hands each new handshake the current certificate.
//!
//! Guarantees: a certificate is only ever installed whole and checked (the chain parses, the
//! key parses and matches the leaf certificate); [`Tls::reload`] reads both files again and
//! either swaps the new certificate in or leaves the old one serving. Connections that are
//! already open keep their session; only handshakes that start after a reload see the new
//! certificate. The store is read once per handshake (a read lock and a reference count),
//! never per message. The cryptography is rustls with the `ring` provider.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::Settings;

/// The setting naming the certificate chain file.
const CERT_VAR: &str = "CORECAST_TLS_CERT";
/// The setting naming the private key file.
const KEY_VAR: &str = "CORECAST_TLS_KEY";

/// Why TLS could not be set up (at start) or a certificate not be reloaded.
#[derive(Debug, Error)]
pub enum TlsError {
    /// Only one of the two settings is given.
    #[error("{given} is set but {missing} is not: set both (TLS on) or neither (TLS off)")]
    Half {
        /// The variable that is set.
        given: &'static str,
        /// The variable that is missing.
        missing: &'static str,
    },
    /// A file cannot be read.
    #[error("{var}: cannot read {}: {source}", path.display())]
    Read {
        /// The setting naming the file.
        var: &'static str,
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The certificate file holds no valid PEM certificate chain.
    #[error("{CERT_VAR}: {} holds no valid PEM certificate chain (-----BEGIN CERTIFICATE-----, leaf first): {reason}", path.display())]
    Certificate {
        /// File path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file holds no usable PEM private key.
    #[error("{KEY_VAR}: {} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}", path.display())]
    Key {
        /// File path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("{KEY_VAR}: the key in {} does not fit the certificate in {}: {reason}", key.display(), cert.display())]
    Mismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Config(String),
}

/// Where the certificate chain and key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files named by the settings: `Ok(None)` when TLS is off, an error when only one of
    /// the two settings is given.
    pub fn from_settings(settings: &Settings) -> Result<Option<TlsFiles>, TlsError> {
        match (&settings.tls_cert, &settings.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })),
            (Some(_), None) => Err(TlsError::Half {
                given: CERT_VAR,
                missing: KEY_VAR,
            }),
            (None, Some(_)) => Err(TlsError::Half {
                given: KEY_VAR,
                missing: CERT_VAR,
            }),
        }
    }
}

/// What identifies an installed certificate, for the banner and the reload log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Certificates in the chain (leaf included).
    pub chain: usize,
    /// SHA-256 of the leaf certificate's DER, as colon-separated upper-case hex (the form
    /// `openssl x509 -noout -fingerprint -sha256` prints).
    pub fingerprint: String,
}

impl std::fmt::Display for CertSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sha256 {}, {} certificate{} in the chain",
            self.fingerprint,
            self.chain,
            if self.chain == 1 { "" } else { "s" }
        )
    }
}

/// The fingerprint of a DER certificate, as in [`CertSummary::fingerprint`].
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// Hands every handshake the certificate installed last.
#[derive(Debug)]
struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    fn get(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// TLS as the server runs it: the files, the swappable certificate, the rustls configuration
/// every shard accepts with.
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    store: Arc<CertStore>,
    config: Arc<ServerConfig>,
}

impl Tls {
    /// Loads the files named by the settings; `Ok(None)` when TLS is off.
    pub fn from_settings(settings: &Settings) -> Result<Option<Tls>, TlsError> {
        TlsFiles::from_settings(settings)?
            .map(Tls::load)
            .transpose()
    }

    /// Reads and checks the certificate chain and key, and builds the server configuration.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = load_certified_key(&files, &provider)?;
        let store = Arc::new(CertStore {
            current: RwLock::new(Arc::new(key)),
        });
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&store) as Arc<dyn ResolvesServerCert>);
        // WebSocket upgrades and the REST API are HTTP/1.1 (a client offering only h2 is
        // refused in the handshake rather than sent HTTP/1.1 it did not ask for).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            files,
            provider,
            store,
            config: Arc::new(config),
        })
    }

    /// Reads both files again and installs the certificate for new handshakes; on any error
    /// the certificate in use stays.
    pub fn reload(&self) -> Result<CertSummary, TlsError> {
        let key = load_certified_key(&self.files, &self.provider)?;
        let summary = summarize(&key);
        self.store.set(Arc::new(key));
        Ok(summary)
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> CertSummary {
        summarize(&self.store.get())
    }

    /// The files read at start and on reload.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The configuration to accept connections with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }
}

fn summarize(key: &CertifiedKey) -> CertSummary {
    CertSummary {
        chain: key.cert.len(),
        fingerprint: key
            .cert
            .first()
            .map_or_else(String::new, |c| fingerprint(c)),
    }
}

fn read(var: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        var,
        path: path.to_path_buf(),
        source,
    })
}

/// Parses and checks the pair of files.
fn load_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read(CERT_VAR, &files.cert)?;
    let key_pem = read(KEY_VAR, &files.key)?;
    let chain = parse_chain(&cert_pem).map_err(|reason| TlsError::Certificate {
        path: files.cert.clone(),
        reason,
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: files.key.clone(),
        reason: e.to_string(),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: files.key.clone(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    // Also parses the leaf certificate: a file of PEM-wrapped garbage fails here.
    certified.keys_match().map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
            reason: e.to_string(),
        },
        other => TlsError::Certificate {
            path: files.cert.clone(),
            reason: other.to_string(),
        },
    })?;
    Ok(certified)
}

fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if chain.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(chain)
}

#[cfg(test)]
mod tests;
