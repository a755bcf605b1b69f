//! The Mesos v1 scheduler API client: the SUBSCRIBE event stream ([`subscription`]), every
//! other call on its own connection ([`caller`]), and what to do with each response
//! ([`classify`]). Shared knowledge — the leading master, the stream id — lives in a
//! [`Session`].

pub mod backoff;
pub mod caller;
pub mod calls;
pub mod classify;
pub mod session;
pub mod subscription;

pub use backoff::Backoff;
pub use caller::{CallError, Caller, HttpCaller};
pub use classify::{classify, Disposition};
pub use session::Session;
pub use subscription::{spawn_subscription, StreamEvent, SubscribeConfig};

/// Why a `--master` list is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterListError {
    /// An entry is not `http://host:port`; fix the flag (https needs TLS, not built in).
    #[error("--master entry {0:?} is not http://host:port (comma separated list allowed)")]
    BadEntry(String),
}

/// Parses `--master`: a comma list of `http://host:port` (trailing `/` ignored).
pub fn parse_masters(text: &str) -> Result<Vec<String>, MasterListError> {
    let mut masters = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let base = entry.trim_end_matches('/');
        let ok = base
            .strip_prefix("http://")
            .is_some_and(|hp| !hp.is_empty() && !hp.contains('/'));
        if !ok {
            return Err(MasterListError::BadEntry(entry.to_string()));
        }
        masters.push(base.to_string());
    }
    if masters.is_empty() {
        return Err(MasterListError::BadEntry(text.to_string()));
    }
    Ok(masters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_lists() {
        assert_eq!(
            parse_masters("http://a:5050, http://b:5050/").expect("ok"),
            vec!["http://a:5050", "http://b:5050"]
        );
        assert!(parse_masters("a:5050").is_err());
        assert!(parse_masters("http://a:5050/path").is_err());
        assert!(parse_masters("").is_err());
    }
}
