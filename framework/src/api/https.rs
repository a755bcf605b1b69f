//! Serving the API over HTTPS (`--tls-cert`, `--tls-key`): rustls, with the certificate and
//! key files read again when they change, so a renewed certificate is served without a
//! restart. Each connection's handshake runs in its own task: a slow client holds up no other.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use cartrack_runtime::task::AbortOnDrop;

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

/// Why the certificate or key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no PEM item of the kind needed.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not fit the certificate, or is of a kind rustls does not sign with.
    #[error("{}: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// rustls' reason.
        source: tokio_rustls::rustls::Error,
    },
}

impl TlsFiles {
    /// Reads and checks both files.
    pub fn load(&self) -> Result<CertifiedKey, TlsError> {
        let file_error = |path: &Path, reason: String| TlsError::File {
            path: path.to_path_buf(),
            reason,
        };
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|items| items.collect::<Result<Vec<_>, _>>())
            .map_err(|e| file_error(&self.cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(file_error(&self.cert, "no CERTIFICATE in it".into()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| file_error(&self.key, format!("no usable private key: {e}")))?;
        let key_error = |source| TlsError::Key {
            path: self.key.clone(),
            source,
        };
        let certified =
            CertifiedKey::from_der(chain, key, &ring::default_provider()).map_err(key_error)?;
        Ok(certified)
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((time(&self.cert)?, time(&self.key)?))
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

/// TLS for a server: the acceptor, and the task that reloads the files on change (it ends
/// when this is dropped).
pub struct Https {
    acceptor: TlsAcceptor,
    _reload: AbortOnDrop<()>,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https").finish_non_exhaustive()
    }
}

impl Https {
    /// Loads `files` (failing at once when they do not load, so a bad flag exits before
    /// serving) and starts watching them.
    pub fn start(files: &TlsFiles) -> Result<Https, TlsError> {
        // Taken before loading: a change while loading is seen by the first check.
        let seen = files.modified();
        let current = Arc::new(Current(RwLock::new(Arc::new(files.load()?))));
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Key {
                path: files.key.clone(),
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        Ok(Https {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            _reload: AbortOnDrop::spawn(reload_on_change(files.clone(), seen, current)),
        })
    }
}

async fn reload_on_change(
    files: TlsFiles,
    mut seen: Option<(SystemTime, SystemTime)>,
    current: Arc<Current>,
) {
    loop {
        tokio::time::sleep(RELOAD_CHECK).await;
        let now = files.modified();
        if now == seen {
            continue;
        }
        seen = now;
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

/// Serves `router` on `listener`, over TLS with `https`, until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, router: Router, https: Option<&Https>) {
    let Some(https) = https else {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the HTTP server stopped");
        }
        return;
    };
    let acceptor = https.acceptor.clone();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = TowerToHyperService::new(router);
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
