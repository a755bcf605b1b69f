//! The page's files, compiled into the binary.

/// `GET /`
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// `GET /app.js`
pub const APP_JS: &str = include_str!("../assets/app.js");
/// `GET /style.css`
pub const STYLE_CSS: &str = include_str!("../assets/style.css");

/// The asset at `path` with its content type, if the page has one there.
pub fn lookup(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML)),
        "/app.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "/style.css" => Some(("text/css; charset=utf-8", STYLE_CSS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_references_only_embedded_assets() {
        assert!(INDEX_HTML.contains("src=\"/app.js\""));
        assert!(INDEX_HTML.contains("href=\"/style.css\""));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert!(!APP_JS.contains("https://"), "no external resources");
        assert!(lookup("/nope").is_none());
    }
}
