//! The page's files, compiled into the binary: the page itself and the map library it uses
//! (Leaflet, vendored by `webui/vendor.sh`), so it works with no internet and no CDN.

/// One file the page loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const PNG: &str = "image/png";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($content_type:expr, $file:literal) => {
        Asset {
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/", $file)),
        }
    };
}

/// Every file, by the path it is served at.
const ASSETS: &[(&str, Asset)] = &[
    ("/", asset!(HTML, "index.html")),
    ("/index.html", asset!(HTML, "index.html")),
    ("/app.js", asset!(JS, "app.js")),
    ("/style.css", asset!(CSS, "style.css")),
    (
        "/vendor/leaflet/leaflet.js",
        asset!(JS, "vendor/leaflet/leaflet.js"),
    ),
    (
        "/vendor/leaflet/leaflet.css",
        asset!(CSS, "vendor/leaflet/leaflet.css"),
    ),
    (
        "/vendor/leaflet/images/layers.png",
        asset!(PNG, "vendor/leaflet/images/layers.png"),
    ),
    (
        "/vendor/leaflet/images/layers-2x.png",
        asset!(PNG, "vendor/leaflet/images/layers-2x.png"),
    ),
    (
        "/vendor/leaflet/LICENSE",
        asset!(TEXT, "vendor/leaflet/LICENSE"),
    ),
];

/// The asset served at `path`, if the page has one there.
pub fn lookup(path: &str) -> Option<Asset> {
    ASSETS
        .iter()
        .find(|(served_at, _)| *served_at == path)
        .map(|(_, asset)| *asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(path: &str) -> &'static str {
        let asset = lookup(path).unwrap_or_else(|| panic!("{path} is served"));
        std::str::from_utf8(asset.body).expect("UTF-8")
    }

    /// `src="/x"` and `href="/x"` references of an HTML or CSS text.
    fn local_references(html: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attr| html.split(attr).skip(1))
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn the_page_references_only_embedded_assets() {
        let html = text("/");
        let references = local_references(html);
        assert!(
            references.contains(&"/vendor/leaflet/leaflet.js"),
            "{references:?}"
        );
        for reference in references {
            assert!(lookup(reference).is_some(), "{reference} is not embedded");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        // The only external URL the page uses is the basemap's, from /v1/page-config.
        assert!(
            !text("/app.js").contains("https://"),
            "no external resources"
        );
        assert!(lookup("/nope").is_none());
    }

    #[test]
    fn leaflets_stylesheet_finds_its_images() {
        let css = text("/vendor/leaflet/leaflet.css");
        for image in ["images/layers.png", "images/layers-2x.png"] {
            assert!(css.contains(image));
            assert!(
                lookup(&format!("/vendor/leaflet/{image}")).is_some(),
                "{image}"
            );
        }
        assert!(text("/vendor/leaflet/LICENSE").contains("BSD 2-Clause"));
        assert_eq!(
            lookup("/vendor/leaflet/images/layers.png").map(|a| a.content_type),
            Some(PNG)
        );
    }
}
