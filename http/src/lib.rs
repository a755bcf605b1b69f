//! HTTP serving shared by cartrack's servers (the scheduler's API and its standby answers, the
//! pipeline workers' endpoints): an axum router over plain HTTP/1.1 or over TLS, the
//! certificate read again when its files change.
//!
//! - [`tls`]: the certificate and key files, and the TLS side of a server ([`Https`]).
//! - [`serve`](mod@serve): serving a router on a listener, with or without TLS.
//! - `test_certs` (feature `test-certs`): a test CA and a certificate it signed, for tests.

pub mod serve;
#[cfg(feature = "test-certs")]
pub mod test_certs;
pub mod tls;

pub use serve::serve;
pub use tls::{Https, TlsError, TlsFiles};
