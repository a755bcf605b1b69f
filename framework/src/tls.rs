//! Which certificate authorities the scheduler trusts on HTTPS: the public roots reqwest
//! bundles, plus the PEM file of `--ca-file`. DC/OS Enterprise signs the login endpoint
//! (`https://leader.mesos/acs/...`) and the masters' TLS with the cluster's own CA, which no
//! public root vouches for; DC/OS gives every Marathon app that CA at
//! `$MESOS_SANDBOX/.ssl/ca-bundle.crt`, so that file is the default when it exists.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where DC/OS Enterprise puts the cluster's CA bundle in every Marathon app's sandbox.
pub const DCOS_SANDBOX_CA_BUNDLE: &str = ".ssl/ca-bundle.crt";

/// The extra CA certificates to trust. Cheap to clone; the default trusts only public roots.
#[derive(Clone, Default)]
pub struct Trust {
    certificates: Vec<reqwest::Certificate>,
    source: Option<PathBuf>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("source", &self.source)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// Why `--ca-file` is unusable: a configuration error, exit 2.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file cannot be read.
    #[error("--ca-file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds no usable PEM certificate.
    #[error("--ca-file {}: {reason}; expected PEM `-----BEGIN CERTIFICATE-----` blocks (e.g. DC/OS's dcos-ca.crt)", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Trust {
    /// Trusts the certificates of the PEM bundle at `path` besides the public roots.
    pub fn load(path: &Path) -> Result<Trust, TrustError> {
        let pem = std::fs::read(path).map_err(|source| TrustError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let parse_error = |reason: String| TrustError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| parse_error(e.to_string()))?;
        if certificates.is_empty() {
            return Err(parse_error("no certificate in it".into()));
        }
        let trust = Trust {
            certificates,
            source: Some(path.to_path_buf()),
        };
        // The TLS backend reads the certificates only when a client is built: a block that is
        // PEM but not a certificate is refused here, not by every client later.
        trust
            .client()
            .build()
            .map_err(|e| parse_error(describe(&e)))?;
        Ok(trust)
    }

    /// `--ca-file` if given; else, under DC/OS (`MESOS_SANDBOX` set), the sandbox's
    /// [`DCOS_SANDBOX_CA_BUNDLE`] when it exists; else public roots only.
    pub fn from_flag_or_sandbox(
        ca_file: Option<&Path>,
        mesos_sandbox: Option<&Path>,
    ) -> Result<Trust, TrustError> {
        if let Some(path) = ca_file {
            return Trust::load(path);
        }
        match mesos_sandbox.map(|dir| dir.join(DCOS_SANDBOX_CA_BUNDLE)) {
            Some(bundle) if bundle.is_file() => Trust::load(&bundle),
            _ => Ok(Trust::default()),
        }
    }

    /// The file the extra certificates came from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// A client builder that trusts these certificates; every HTTPS client of the scheduler
    /// starts here.
    pub fn client(&self) -> reqwest::ClientBuilder {
        self.certificates
            .iter()
            .fold(reqwest::Client::builder(), |builder, certificate| {
                builder.add_root_certificate(certificate.clone())
            })
    }
}

/// An HTTP client error with its causes (reqwest's own text stops at "error sending
/// request"), and, when a certificate was refused, what to do about it.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.contains("certificate") {
        text.push_str(
            " (a certificate signed by a private CA, as DC/OS Enterprise's: pass that CA's PEM \
             file with --ca-file)",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_certificate_free_files_name_the_flag_and_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.crt");
        let err = Trust::load(&missing).expect_err("missing");
        assert!(err.to_string().starts_with("--ca-file "), "{err}");
        assert!(err.to_string().contains("missing.crt"), "{err}");

        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "just text\n").expect("write");
        let err = Trust::load(&empty).expect_err("no certificate");
        assert!(err.to_string().contains("BEGIN CERTIFICATE"), "{err}");

        let broken = dir.path().join("broken.crt");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        assert!(Trust::load(&broken).is_err());
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let err = Trust::load(&broken).expect_err("base64, but not a certificate");
        assert!(err.to_string().contains("broken.crt"), "{err}");
    }

    #[test]
    fn the_flag_wins_then_the_dcos_sandbox_bundle_then_public_roots() {
        let sandbox = tempfile::tempdir().expect("tempdir");
        let none = Trust::from_flag_or_sandbox(None, Some(sandbox.path())).expect("no bundle");
        assert_eq!(none.source(), None);
        // A sandbox bundle that is not PEM is reported, not silently skipped.
        std::fs::create_dir_all(sandbox.path().join(".ssl")).expect("mkdir");
        let bundle = sandbox.path().join(DCOS_SANDBOX_CA_BUNDLE);
        std::fs::write(&bundle, "garbage").expect("write");
        assert!(Trust::from_flag_or_sandbox(None, Some(sandbox.path())).is_err());
        let ca = cartrack_http::test_certs::issue_for_localhost().expect("CA");
        std::fs::write(&bundle, ca.ca).expect("write");
        let trust = Trust::from_flag_or_sandbox(None, Some(sandbox.path())).expect("bundle");
        assert_eq!(trust.source(), Some(bundle.as_path()));
        assert_eq!(trust.certificates.len(), 1);
        let flag = sandbox.path().join("flag.crt");
        let err = Trust::from_flag_or_sandbox(Some(&flag), Some(sandbox.path()))
            .expect_err("the flag's missing file, not the bundle");
        assert!(err.to_string().contains("flag.crt"), "{err}");
        assert_eq!(
            Trust::from_flag_or_sandbox(None, None)
                .expect("no sandbox")
                .source(),
            None
        );
    }

    #[test]
    fn the_default_trusts_only_public_roots() {
        let trust = Trust::default();
        assert_eq!(trust.source(), None);
        assert!(trust.client().build().is_ok());
    }
}
