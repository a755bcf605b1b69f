//! The TLS side of a server (`--tls-cert`, `--tls-key` of every cartrack binary that serves):
//! the certificate and key read from PEM files, and read again when the files change, so a
//! renewed certificate is served without a restart.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use cartrack_runtime::task::AbortOnDrop;
use cartrack_runtime::watch::Watched;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// How often the files are checked for a change.
const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// The certificate chain and private key files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Why the certificate or key cannot be served. Every binary takes the files as `--tls-cert`
/// and `--tls-key`, so the message names the flag, the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read or holds no certificate.
    #[error("--tls-cert {}: {reason}", path.display())]
    Cert {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file cannot be read or holds no private key, or the key does not fit the
    /// certificate or is of a kind rustls does not sign with.
    #[error("--tls-key {}: {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl TlsFiles {
    /// Reads and checks both files.
    fn load(&self) -> Result<CertifiedKey, TlsError> {
        let cert_error = |path: &Path, reason: String| TlsError::Cert {
            path: path.to_path_buf(),
            reason,
        };
        let key_error = |reason: String| TlsError::Key {
            path: self.key.clone(),
            reason,
        };
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|items| items.collect::<Result<Vec<_>, _>>())
            .map_err(|e| cert_error(&self.cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(cert_error(&self.cert, "no CERTIFICATE in it".into()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| key_error(format!("no usable private key: {e}")))?;
        CertifiedKey::from_der(chain, key, &ring::default_provider())
            .map_err(|e| key_error(e.to_string()))
    }
}

/// The certificate served now; replaced when the files change and still load.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|key| key.clone())
    }
}

/// TLS for servers: the acceptor, and the watch that reloads the files on change. Cheap to
/// clone, so one certificate serves several servers (a standby's, then the leader's); the
/// watch starts with the first server and ends when the last clone is dropped.
#[derive(Clone)]
pub struct Https(Arc<Inner>);

struct Inner {
    acceptor: TlsAcceptor,
    reload: Mutex<Reload>,
}

/// The reload task: built with the certificate (loading needs no runtime, so flags are
/// checked before one starts), spawned by the first server.
struct Reload {
    pending: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    running: Option<AbortOnDrop<()>>,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https").finish_non_exhaustive()
    }
}

impl Https {
    /// Reads `files`, failing at once when they do not load, so a bad flag exits before
    /// anything is served.
    pub fn load(files: &TlsFiles) -> Result<Https, TlsError> {
        // Taken before loading: a change while loading is seen by the first check.
        let watched = Watched::new(vec![files.cert.clone(), files.key.clone()], RELOAD_CHECK);
        let current = Arc::new(Current(RwLock::new(Arc::new(files.load()?))));
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Key {
                path: files.key.clone(),
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        let reload = reload_on_change(files.clone(), watched, current);
        Ok(Https(Arc::new(Inner {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            reload: Mutex::new(Reload {
                pending: Some(Box::pin(reload)),
                running: None,
            }),
        })))
    }

    /// The acceptor, for a server starting on the current runtime (which then watches the
    /// files, if none does yet).
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let mut reload = self.0.reload.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = reload.pending.take() {
            reload.running = Some(AbortOnDrop::spawn(task));
        }
        self.0.acceptor.clone()
    }
}

async fn reload_on_change(files: TlsFiles, mut watched: Watched, current: Arc<Current>) {
    loop {
        watched.changed().await;
        match files.load() {
            Ok(key) => {
                if let Ok(mut slot) = current.0.write() {
                    *slot = Arc::new(key);
                }
                tracing::info!(cert = %files.cert.display(), "serving the renewed certificate");
            }
            // A half-written renewal: keep serving the old one, try again on the next change.
            Err(e) => tracing::warn!(error = %e, "certificate not reloaded"),
        }
    }
}
