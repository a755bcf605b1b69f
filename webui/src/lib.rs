//! The page the cartrack scheduler serves at `/`, and the views it draws from.
//!
//! - [`assets`]: the page itself (HTML, JS, CSS) and its map library, Leaflet, embedded in the
//!   binary: no Node to build, no CDN at run time.
//! - [`basemap`]: the raster tiles under the map (`--map-tiles`), handed to the page by
//!   `GET /v1/page-config`.
//! - [`cluster`]: the master's `/state` reduced to what the page shows — agents, their
//!   resources, cartrack's tasks and executors on them, and one summary per other framework
//!   (also what the scheduler's utilisation samples are read from).
//! - [`map`]: the running processors' `/v1/snapshot`s merged into one fleet view
//!   (`GET /v1/map`).
//!
//! The scheduler's API routes call [`cluster::fetch`] and [`map::fetch`]; both are pure
//! merges behind one HTTP fetch each, so they are tested on JSON fixtures. What the page does
//! with them (zoom, staleness, the scale buttons) is tested in headless Chromium by
//! `cli/tests/local.rs`.

pub mod assets;
pub mod basemap;
pub mod cluster;
pub mod map;
mod natural;

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
