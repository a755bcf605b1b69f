//! Digest credentials for a session, and the ACL the nodes we create get with them.

use std::fmt;

use zookeeper_client as zkc;

/// `digest:USER:PASSWORD`: every session of a [`crate::Zk`] opened with it authenticates, and
/// every node it creates is readable and writable by that identity only (ZooKeeper's
/// `auth` ACL scheme). Nodes created by others (Mesos') keep their own ACLs.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkAuth {
    user: String,
    password: String,
}

/// Why a `--zk-auth` value was rejected; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Another scheme than `digest`, or no scheme at all.
    #[error("it must be digest:USER:PASSWORD (only the digest scheme is supported)")]
    Scheme,
    /// An empty user or password, or a `:` in the user.
    #[error("user and password must both be non-empty, and the user must not contain ':'")]
    Empty,
}

impl ZkAuth {
    /// Parses `digest:USER:PASSWORD` (the password may contain `:`). Surrounding whitespace,
    /// such as a secret file's trailing newline, is ignored.
    pub fn parse(text: &str) -> Result<ZkAuth, AuthError> {
        let rest = text
            .trim()
            .strip_prefix("digest:")
            .ok_or(AuthError::Scheme)?;
        match rest.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(ZkAuth {
                user: user.to_owned(),
                password: password.to_owned(),
            }),
            _ => Err(AuthError::Empty),
        }
    }

    /// The user name (for logs; the password is never shown).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// What `addAuth` sends for the digest scheme.
    pub(crate) fn credentials(&self) -> Vec<u8> {
        format!("{}:{}", self.user, self.password).into_bytes()
    }
}

impl fmt::Debug for ZkAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The ACL of the nodes a session creates: open without credentials, the session's identity
/// only with them.
pub(crate) fn acls_for(auth: Option<&ZkAuth>) -> zkc::Acls<'static> {
    match auth {
        Some(_) => zkc::Acls::creator_all(),
        None => zkc::Acls::anyone_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digest_and_keeps_colons_in_the_password() {
        let auth = ZkAuth::parse("digest:cartrack:s3:cr3t\n").expect("valid");
        assert_eq!(auth.user(), "cartrack");
        assert_eq!(auth.credentials(), b"cartrack:s3:cr3t");
        assert!(!format!("{auth:?}").contains("s3:cr3t"), "{auth:?}");
    }

    #[test]
    fn rejects_other_schemes_and_empty_parts() {
        assert_eq!(ZkAuth::parse("sasl:u:p"), Err(AuthError::Scheme));
        assert_eq!(ZkAuth::parse("u:p"), Err(AuthError::Scheme));
        for bad in ["digest:", "digest:u", "digest::p", "digest:u:"] {
            assert_eq!(ZkAuth::parse(bad), Err(AuthError::Empty), "{bad}");
        }
    }
}
