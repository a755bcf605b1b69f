//! The raster basemap under the fleet (`--map-tiles`), and `GET /v1/page-config`, which hands
//! it to the page. The page loads tiles straight from the tile server; when none answers (no
//! internet, a firewall) it draws the fleet on a blank background and says so.

use serde::Serialize;

/// OpenStreetMap's own tile server: fine for trying cartrack out, not for heavy use (see the
/// README on its tile usage policy and on running your own).
pub const OPENSTREETMAP_TILES: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

/// The credit OpenStreetMap's licence requires wherever its data is shown. Tile servers of
/// OpenStreetMap data (the usual self-hosted kind) need it too, so it goes with any URL.
const OPENSTREETMAP_ATTRIBUTION: &str =
    "&copy; <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors";

/// `GET /v1/page-config`: what the page needs besides its files.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PageConfig {
    /// The basemap, or `None` for a blank background.
    pub basemap: Option<Basemap>,
}

/// A raster tile layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Basemap {
    /// Tile URL template with `{z}`, `{x}` and `{y}` (and optionally `{s}`, `{r}`).
    pub tiles: String,
    /// HTML credit shown in the map's corner.
    pub attribution: String,
}

/// Why a `--map-tiles` value cannot be a tile URL template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileUrlError {
    /// A coordinate placeholder is absent: every tile would be the same image.
    #[error("{url:?} has no {placeholder} placeholder; write a template such as {OPENSTREETMAP_TILES}, or an empty value for no basemap")]
    MissingPlaceholder {
        /// The value given.
        url: String,
        /// The first placeholder missing.
        placeholder: &'static str,
    },
    /// Not an http(s) URL: the browser would resolve it against the scheduler's own address.
    #[error("{url:?} is not an http:// or https:// URL; write a template such as {OPENSTREETMAP_TILES}, or an empty value for no basemap")]
    NotHttp {
        /// The value given.
        url: String,
    },
}

impl Basemap {
    /// The basemap of a `--map-tiles` value: `None` when it is empty (no basemap).
    pub fn from_flag(url: &str) -> Result<Option<Basemap>, TileUrlError> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(TileUrlError::NotHttp { url: url.into() });
        }
        if let Some(placeholder) = ["{z}", "{x}", "{y}"].into_iter().find(|p| !url.contains(p)) {
            return Err(TileUrlError::MissingPlaceholder {
                url: url.into(),
                placeholder,
            });
        }
        Ok(Some(Basemap {
            tiles: url.into(),
            attribution: OPENSTREETMAP_ATTRIBUTION.into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_openstreetmap_with_its_credit() {
        let basemap = Basemap::from_flag(OPENSTREETMAP_TILES)
            .expect("valid")
            .expect("a basemap");
        assert_eq!(basemap.tiles, OPENSTREETMAP_TILES);
        assert!(basemap.attribution.contains("OpenStreetMap"));
        let json = serde_json::to_value(PageConfig {
            basemap: Some(basemap),
        })
        .expect("serialises");
        assert_eq!(json["basemap"]["tiles"], OPENSTREETMAP_TILES);
    }

    #[test]
    fn an_empty_value_means_no_basemap() {
        assert_eq!(Basemap::from_flag(""), Ok(None));
        assert_eq!(Basemap::from_flag("  "), Ok(None));
        let json = serde_json::to_value(PageConfig::default()).expect("serialises");
        assert_eq!(json, serde_json::json!({"basemap": null}));
    }

    #[test]
    fn own_tile_servers_are_templates_over_http() {
        let own = "http://tiles.internal:8080/styles/basic/{z}/{x}/{y}.png";
        assert!(Basemap::from_flag(own).is_ok_and(|b| b.is_some()));
        let err = Basemap::from_flag("http://tiles.internal/{z}/{x}.png").expect_err("no {y}");
        assert!(err.to_string().contains("{y}"), "{err}");
        let err = Basemap::from_flag("tiles.internal/{z}/{x}/{y}.png").expect_err("no scheme");
        assert!(err.to_string().contains("http://"), "{err}");
    }
}
