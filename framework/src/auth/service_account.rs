//! DC/OS service accounts: the key file (`{"scheme": "RS256", "uid", "private_key",
//! "login_endpoint"}`, what `dcos security secrets create-sa-secret` stores and Marathon hands
//! to the app), and the login that trades a signed login token for an authentication token.
//!
//! The login: sign `{"uid": uid, "exp": now + 120}` with RS256 and the account's private key,
//! POST `{"uid": uid, "token": <that JWT>}` to the login endpoint, read `{"token": <auth
//! token>}` and send `Authorization: token=<auth token>` to the master (the DC/OS IAM API and
//! dcos-commons' `ServiceAccountIAMTokenProvider` do the same).

use std::fmt;
use std::time::Duration;

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;

use super::token::{jwt_expiry, refresh_due, LoginClaims};
use super::Secret;
use crate::tls::{describe, Trust};

/// The login endpoint when the key file names none: the IAM behind the leading master's
/// Admin Router, as DC/OS resolves it from inside the cluster.
pub const DEFAULT_LOGIN_ENDPOINT: &str = "https://leader.mesos/acs/api/v1/auth/login";

/// A parsed, usable service account key.
#[derive(Clone)]
pub struct ServiceAccountKey {
    uid: String,
    login_endpoint: String,
    key: EncodingKey,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("uid", &self.uid)
            .field("login_endpoint", &self.login_endpoint)
            .field("private_key", &"***")
            .finish()
    }
}

/// Why a service account key (file or `DCOS_SERVICE_ACCOUNT_CREDENTIAL`) is unusable; a
/// configuration error, fix the key and restart.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not JSON, or a required field (`uid`, `private_key`) is missing or not a string; serde's
    /// message names the field.
    #[error("not a service account key: {0}")]
    Json(#[from] serde_json::Error),
    /// A field is present but wrong.
    #[error("field {field:?}: {reason}")]
    Field {
        /// The JSON field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

#[derive(Deserialize)]
struct RawKey {
    scheme: Option<String>,
    uid: String,
    private_key: String,
    login_endpoint: Option<String>,
}

impl ServiceAccountKey {
    /// Parses and checks the key JSON: `uid` not empty, `scheme` (if given) `RS256`,
    /// `private_key` an RSA private key in PEM (PKCS#8 or PKCS#1), `login_endpoint` (if given)
    /// an http(s) URL.
    pub fn parse(json: &str) -> Result<ServiceAccountKey, KeyError> {
        let raw: RawKey = serde_json::from_str(json)?;
        let private_key = Secret::new(raw.private_key);
        if raw.uid.trim().is_empty() {
            return Err(KeyError::Field {
                field: "uid",
                reason: "empty; the service account id is required".into(),
            });
        }
        if let Some(scheme) = raw.scheme.as_deref().filter(|s| *s != "RS256") {
            return Err(KeyError::Field {
                field: "scheme",
                reason: format!("{scheme:?} is not supported; only \"RS256\""),
            });
        }
        let key = EncodingKey::from_rsa_pem(private_key.expose().as_bytes()).map_err(|e| {
            KeyError::Field {
                field: "private_key",
                reason: format!("not an RSA private key in PEM: {e}"),
            }
        })?;
        let login_endpoint = raw
            .login_endpoint
            .unwrap_or_else(|| DEFAULT_LOGIN_ENDPOINT.to_string());
        if reqwest::Url::parse(&login_endpoint)
            .map(|u| !matches!(u.scheme(), "http" | "https"))
            .unwrap_or(true)
        {
            return Err(KeyError::Field {
                field: "login_endpoint",
                reason: format!("{login_endpoint:?} is not an http(s) URL"),
            });
        }
        Ok(ServiceAccountKey {
            uid: raw.uid,
            login_endpoint,
            key,
        })
    }

    /// The service account id (also the framework's principal on DC/OS).
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Where the login goes.
    pub fn login_endpoint(&self) -> &str {
        &self.login_endpoint
    }

    /// The login token for `now`: the [`LoginClaims`] signed RS256.
    pub fn login_token(&self, now: u64) -> Result<String, LoginError> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &LoginClaims::new(&self.uid, now),
            &self.key,
        )
        .map_err(|e| LoginError::Sign(e.to_string()))
    }
}

/// Why a login at the DC/OS IAM failed. The scheduler retries with its subscription backoff
/// in every case, and says which case it is.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The login endpoint did not answer (DNS, connection, timeout); transient, retried.
    #[error("DC/OS login at {endpoint} unreachable: {reason}")]
    Unreachable {
        /// The login endpoint.
        endpoint: String,
        /// The transport error.
        reason: String,
    },
    /// The IAM refused the login (401: unknown uid or the key does not match the account's
    /// public key); retrying does not help until the account or `--service-account-key` is
    /// fixed.
    #[error(
        "DC/OS login at {endpoint} refused for service account {uid:?}: {status} {body} \
         (check the uid and private_key of --service-account-key against the account's public key)"
    )]
    Refused {
        /// The login endpoint.
        endpoint: String,
        /// The service account.
        uid: String,
        /// HTTP status.
        status: u16,
        /// The IAM's answer (its error description; never contains our key).
        body: String,
    },
    /// The IAM answered 200 without a usable `{"token": "..."}`; an incompatible endpoint.
    #[error("DC/OS login at {endpoint}: unusable answer: {reason}")]
    BadAnswer {
        /// The login endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The login token could not be signed (a key that parsed but cannot sign); fix the key.
    #[error("cannot sign the DC/OS login token: {0}")]
    Sign(String),
}

#[derive(Deserialize)]
struct LoginAnswer {
    token: String,
}

/// A held authentication token.
#[derive(Debug, Clone)]
struct Held {
    header: HeaderValue,
    expires_at: Option<u64>,
}

/// A service account's login state: the token held, one login at a time.
#[derive(Debug)]
pub(crate) struct Session {
    key: ServiceAccountKey,
    client: reqwest::Client,
    held: std::sync::Mutex<Option<Held>>,
    login: tokio::sync::Mutex<()>,
}

impl Session {
    pub(crate) fn new(key: ServiceAccountKey, trust: &Trust) -> Session {
        // Timeout as dcos-commons' token refresh (30 s); redirects followed (Admin Router
        // may redirect http to https).
        let client = trust
            .client()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Session {
            key,
            client,
            held: std::sync::Mutex::new(None),
            login: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn uid(&self) -> &str {
        self.key.uid()
    }

    fn fresh(&self, now: u64) -> Option<HeaderValue> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|h| !refresh_due(now, h.expires_at))
            .map(|h| h.header.clone())
    }

    pub(crate) fn invalidate(&self) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) async fn header(&self, now: u64) -> Result<HeaderValue, LoginError> {
        if let Some(header) = self.fresh(now) {
            return Ok(header);
        }
        let _one_login = self.login.lock().await;
        if let Some(header) = self.fresh(now) {
            return Ok(header); // another request logged in while we waited
        }
        let token = self.log_in(now).await?;
        let expires_at = jwt_expiry(&token);
        let mut header = HeaderValue::from_str(&format!("token={token}")).map_err(|_| {
            LoginError::BadAnswer {
                endpoint: self.key.login_endpoint.clone(),
                reason: "the token holds characters not allowed in an HTTP header".into(),
            }
        })?;
        header.set_sensitive(true);
        tracing::info!(
            uid = %self.key.uid,
            expires_at = ?expires_at,
            "logged in to the DC/OS IAM"
        );
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(Held {
            header: header.clone(),
            expires_at,
        });
        Ok(header)
    }

    async fn log_in(&self, now: u64) -> Result<String, LoginError> {
        let endpoint = &self.key.login_endpoint;
        let body = serde_json::json!({ "uid": self.key.uid, "token": self.key.login_token(now)? });
        let response = self
            .client
            .post(endpoint)
            .json(&body)
            .send()
            .await
            .map_err(|e| LoginError::Unreachable {
                endpoint: endpoint.clone(),
                reason: describe(&e),
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status != 200 {
            return Err(LoginError::Refused {
                endpoint: endpoint.clone(),
                uid: self.key.uid.clone(),
                status,
                body: text.chars().take(300).collect(),
            });
        }
        let answer: LoginAnswer =
            serde_json::from_str(&text).map_err(|e| LoginError::BadAnswer {
                endpoint: endpoint.clone(),
                reason: format!("expected {{\"token\": \"...\"}}: {e}"),
            })?;
        if answer.token.is_empty() {
            return Err(LoginError::BadAnswer {
                endpoint: endpoint.clone(),
                reason: "empty token".into(),
            });
        }
        Ok(answer.token)
    }
}
