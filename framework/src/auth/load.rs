//! From flags to [`Credentials`]: the auth flags (flattened into the scheduler's flags) and
//! the one place that reads the secret and key files, at start, so a bad file is a
//! configuration error (exit 2) that names the flag and the path, not a 401 later.

use std::path::{Path, PathBuf};

use super::service_account::KeyError;
use super::{Credentials, Secret, ServiceAccountKey};

/// The env var DC/OS frameworks read a service account key from (Marathon sets it from a
/// secret: `"env": {"DCOS_SERVICE_ACCOUNT_CREDENTIAL": {"secret": "..."}}`); dcos-commons'
/// `SchedulerConfig` reads the same JSON from it.
pub const DCOS_CREDENTIAL_ENV: &str = "DCOS_SERVICE_ACCOUNT_CREDENTIAL";

/// Authentication flags (with `--principal`, which also names the framework's principal).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthFlags {
    /// File holding the secret of --principal for HTTP Basic to the master (trailing newline
    /// ignored).
    #[arg(long, env = "CARTRACK_SECRET_FILE", value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// DC/OS service account key file (JSON: scheme, uid, private_key, login_endpoint) [default:
    /// the JSON in $DCOS_SERVICE_ACCOUNT_CREDENTIAL, if set].
    #[arg(
        long,
        env = "CARTRACK_SERVICE_ACCOUNT_KEY",
        value_name = "PATH",
        conflicts_with = "secret_file"
    )]
    pub service_account_key: Option<PathBuf>,
}

/// Why the credentials are unusable (exit code 2); each names the flag or env var, the path
/// and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `--secret-file` cannot be read (missing, permissions).
    #[error("--secret-file {path}: cannot read: {source}")]
    SecretFileUnreadable {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `--secret-file` holds nothing (or only a newline).
    #[error("--secret-file {path}: the file is empty; it must hold the secret of --principal")]
    SecretFileEmpty {
        /// The path given.
        path: PathBuf,
    },
    /// `--secret-file` without `--principal`: the secret belongs to a principal.
    #[error("--secret-file {path} needs --principal (the principal the secret belongs to)")]
    SecretWithoutPrincipal {
        /// The path given.
        path: PathBuf,
    },
    /// `--service-account-key` cannot be read.
    #[error("--service-account-key {path}: cannot read: {source}")]
    KeyFileUnreadable {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key (from the file or the env var) is not a usable service account key.
    #[error("{origin}: {source}")]
    Key {
        /// `--service-account-key <path>` or `$DCOS_SERVICE_ACCOUNT_CREDENTIAL`.
        origin: String,
        /// What is wrong, naming the JSON field.
        source: KeyError,
    },
}

impl Credentials {
    /// Resolves the credentials: `--service-account-key`, else `--secret-file` (HTTP Basic
    /// with `--principal`), else the JSON in `$DCOS_SERVICE_ACCOUNT_CREDENTIAL`, else none.
    /// Reads the files named; `env` looks up environment variables.
    pub fn load(
        flags: &AuthFlags,
        principal: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialsError> {
        load(flags, principal, env)
    }
}

fn load(
    flags: &AuthFlags,
    principal: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Credentials, CredentialsError> {
    if let Some(path) = &flags.service_account_key {
        let text = std::fs::read_to_string(path).map_err(|source| {
            CredentialsError::KeyFileUnreadable {
                path: path.clone(),
                source,
            }
        })?;
        return parse_key(&text, format!("--service-account-key {}", path.display()));
    }
    if let Some(path) = &flags.secret_file {
        let Some(principal) = principal.filter(|p| !p.is_empty()) else {
            return Err(CredentialsError::SecretWithoutPrincipal { path: path.clone() });
        };
        return Ok(Credentials::Basic {
            principal: principal.to_string(),
            secret: read_secret(path)?,
        });
    }
    match env(DCOS_CREDENTIAL_ENV).filter(|v| !v.trim().is_empty()) {
        Some(json) => parse_key(&json, format!("${DCOS_CREDENTIAL_ENV}")),
        None => Ok(Credentials::None),
    }
}

fn parse_key(json: &str, origin: String) -> Result<Credentials, CredentialsError> {
    ServiceAccountKey::parse(json)
        .map(Credentials::ServiceAccount)
        .map_err(|source| CredentialsError::Key { origin, source })
}

fn read_secret(path: &Path) -> Result<Secret, CredentialsError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| CredentialsError::SecretFileUnreadable {
            path: path.to_path_buf(),
            source,
        })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(CredentialsError::SecretFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(Secret::new(secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn secret_file_trailing_newline_is_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").expect("write");
        let flags = AuthFlags {
            secret_file: Some(path),
            ..AuthFlags::default()
        };
        match load(&flags, Some("cartrack"), no_env).expect("loads") {
            Credentials::Basic { principal, secret } => {
                assert_eq!(principal, "cartrack");
                assert_eq!(secret.expose(), "s3cret");
            }
            other => panic!("expected Basic, got {other:?}"),
        }
    }

    #[test]
    fn bad_secret_files_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let missing = dir.path().join("missing");
        for (path, what) in [(&empty, "empty"), (&missing, "cannot read")] {
            let flags = AuthFlags {
                secret_file: Some(path.clone()),
                ..AuthFlags::default()
            };
            let err = load(&flags, Some("p"), no_env).expect_err("bad file");
            let text = err.to_string();
            assert!(text.contains("--secret-file"), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(what), "{text}");
        }
        let flags = AuthFlags {
            secret_file: Some(empty),
            ..AuthFlags::default()
        };
        let err = load(&flags, None, no_env).expect_err("no principal");
        assert!(err.to_string().contains("needs --principal"), "{err}");
    }

    #[test]
    fn nothing_given_means_no_credentials_and_the_dcos_env_is_read() {
        assert!(matches!(
            load(&AuthFlags::default(), Some("p"), no_env),
            Ok(Credentials::None)
        ));
        let err = load(&AuthFlags::default(), None, |name| {
            (name == DCOS_CREDENTIAL_ENV).then(|| r#"{"scheme":"RS256","private_key":"x"}"#.into())
        })
        .expect_err("uid missing");
        let text = err.to_string();
        assert!(text.contains("$DCOS_SERVICE_ACCOUNT_CREDENTIAL"), "{text}");
        assert!(text.contains("uid"), "{text}");
    }
}
