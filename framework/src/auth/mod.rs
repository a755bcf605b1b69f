//! Authentication of the scheduler to the Mesos master: which credentials ([`Credentials`],
//! from `--principal`/`--secret-file` or a DC/OS service account key, read by
//! [`Credentials::load`]) and the one
//! [`Authenticator`] that turns them into the `Authorization` header of every SUBSCRIBE and
//! every call.
//!
//! Two modes:
//! - HTTP Basic (`Authorization: Basic base64(principal:secret)`), Mesos' own HTTP
//!   authentication (`--authenticate_http_frameworks` with a credentials file).
//! - A DC/OS service account: sign a short RS256 login token with the account's private key,
//!   trade it at the IAM login endpoint for an authentication token, send
//!   `Authorization: token=<auth token>`; log in again shortly before that token expires and
//!   once after a 401.
//!
//! The pure parts (Basic encoding, login claims, when to refresh) live in [`basic`] and
//! [`token`]; the only I/O is reading the credential files ([`load`]) and the login POST
//! ([`service_account`]).

pub mod basic;
pub mod load;
pub mod secret;
pub mod service_account;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::tls::Trust;

pub use load::{AuthFlags, CredentialsError, DCOS_CREDENTIAL_ENV};
pub use secret::Secret;
pub use service_account::{LoginError, ServiceAccountKey};

/// Which credentials the scheduler presents to the master; decided once at start from the
/// flags ([`Credentials::load`]).
#[derive(Debug, Clone)]
pub enum Credentials {
    /// The master does not authenticate frameworks (the Mesos default).
    None,
    /// HTTP Basic with a Mesos principal and its secret.
    Basic {
        /// `--principal`.
        principal: String,
        /// The contents of `--secret-file`.
        secret: Secret,
    },
    /// A DC/OS service account (`--service-account-key` or `DCOS_SERVICE_ACCOUNT_CREDENTIAL`).
    ServiceAccount(ServiceAccountKey),
}

impl Credentials {
    /// The principal these credentials stand for, to put into `FrameworkInfo.principal`.
    pub fn principal(&self) -> Option<&str> {
        match self {
            Credentials::None => None,
            Credentials::Basic { principal, .. } => Some(principal),
            Credentials::ServiceAccount(key) => Some(key.uid()),
        }
    }
}

/// Why no `Authorization` header could be made. Only service accounts can fail (Basic and
/// no authentication are computed once).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The login at the DC/OS IAM failed; see [`LoginError`] for whether retrying can help.
    #[error(transparent)]
    Login(#[from] LoginError),
}

/// Hands out the `Authorization` header for requests to the master. Cheap to clone (one
/// `Arc`); the subscription and the caller share one, so a token fetched by one serves both
/// and a 401 seen by either makes both log in again.
#[derive(Debug, Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    None,
    Basic {
        principal: String,
        header: HeaderValue,
    },
    ServiceAccount(service_account::Session),
}

impl Authenticator {
    /// An authenticator for `credentials`; a service account logs in trusting `trust`'s CAs.
    pub fn new(credentials: &Credentials, trust: &Trust) -> Authenticator {
        let inner = match credentials {
            Credentials::None => Inner::None,
            Credentials::Basic { principal, secret } => Inner::Basic {
                principal: principal.clone(),
                header: basic::header(principal, secret),
            },
            Credentials::ServiceAccount(key) => {
                Inner::ServiceAccount(service_account::Session::new(key.clone(), trust))
            }
        };
        Authenticator {
            inner: Arc::new(inner),
        }
    }

    /// No authentication (a master without `--authenticate_http_frameworks`).
    pub fn none() -> Authenticator {
        Authenticator::new(&Credentials::None, &Trust::default())
    }

    /// The header to send, `None` without authentication. For a service account this logs in
    /// when no token is held or the held one is about to expire; concurrent callers wait for
    /// one login.
    pub async fn header(&self) -> Result<Option<HeaderValue>, AuthError> {
        match &*self.inner {
            Inner::None => Ok(None),
            Inner::Basic { header, .. } => Ok(Some(header.clone())),
            Inner::ServiceAccount(session) => Ok(Some(
                session.header(cartrack_runtime::clock::now_secs()).await?,
            )),
        }
    }

    /// Forgets a token the master refused (401), so the next [`Authenticator::header`] logs
    /// in again. No effect on Basic credentials, which cannot change.
    pub fn invalidate(&self) {
        if let Inner::ServiceAccount(session) = &*self.inner {
            session.invalidate();
        }
    }

    /// Whether a fresh [`Authenticator::header`] after [`Authenticator::invalidate`] may cure
    /// a 401 (a new login); for Basic or no credentials a 401 is a configuration error.
    pub fn can_refresh(&self) -> bool {
        matches!(&*self.inner, Inner::ServiceAccount(_))
    }

    /// What to tell the operator when the master answers 401: which flags to check.
    pub fn unauthorized_hint(&self) -> String {
        match &*self.inner {
            Inner::None => "the master requires authentication: set --principal and \
                            --secret-file (HTTP Basic) or --service-account-key (DC/OS)"
                .into(),
            Inner::Basic { principal, .. } => format!(
                "the master refused HTTP Basic for principal {principal:?}: check --principal \
                 and the secret in --secret-file against the master's credentials"
            ),
            Inner::ServiceAccount(session) => format!(
                "the master refused a fresh token of service account {:?}: check the account's \
                 permissions (dcos:mesos:master:framework:role:...) and --service-account-key",
                session.uid()
            ),
        }
    }

    /// The principal, for logs.
    pub fn principal(&self) -> Option<&str> {
        match &*self.inner {
            Inner::None => None,
            Inner::Basic { principal, .. } => Some(principal),
            Inner::ServiceAccount(session) => Some(session.uid()),
        }
    }
}

/// How long the scheduler waits after a 401 it cannot cure before trying again, first step:
/// long enough that a wrong secret is not a tight loop of refused requests, short enough that
/// fixed credentials (a rotated secret file is read again only on restart, but a DC/OS grant
/// takes effect at once) are picked up soon.
pub const UNAUTHORIZED_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The cap of the 401 backoff.
pub const UNAUTHORIZED_BACKOFF_MAX: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn basic_header_is_sent_and_survives_invalidate() {
        let auth = Authenticator::new(
            &Credentials::Basic {
                principal: "cartrack".into(),
                secret: Secret::new("s3cret".into()),
            },
            &Trust::default(),
        );
        let before = auth.header().await.expect("header").expect("some");
        auth.invalidate();
        let after = auth.header().await.expect("header").expect("some");
        assert_eq!(before, after);
        assert!(before.is_sensitive());
        assert!(!auth.can_refresh());
        assert!(auth.unauthorized_hint().contains("--secret-file"));
    }

    #[tokio::test]
    async fn no_credentials_send_no_header() {
        let auth = Authenticator::none();
        assert!(auth.header().await.expect("header").is_none());
        assert!(auth.unauthorized_hint().contains("--principal"));
    }
}
