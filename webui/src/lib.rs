//! The page the cartrack scheduler serves at `/`, and the two views it draws from.
//!
//! - [`assets`]: the page itself (HTML, JS, CSS), embedded in the binary: no internet needed.
//! - [`cluster`]: the master's `/state` reduced to what the page shows — agents, their
//!   resources, and every task on them, cartrack's and other tenants'.
//! - [`map`]: the running processors' `/v1/snapshot`s merged into one fleet view
//!   (`GET /v1/map`).
//!
//! The scheduler's API routes call [`cluster::fetch`] and [`map::fetch`]; both are pure
//! merges behind one HTTP fetch each, so they are tested on JSON fixtures.

pub mod assets;
pub mod cluster;
pub mod map;

/// Why a view could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The master (or a processor) did not answer; the page shows the last good view.
    #[error("fetching {url} failed")]
    Fetch {
        /// What was fetched.
        url: String,
        /// The HTTP client's error.
        source: reqwest::Error,
    },
}
