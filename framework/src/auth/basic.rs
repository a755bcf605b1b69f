//! HTTP Basic (RFC 7617), the scheme a Mesos master checks with
//! `--authenticate_http_frameworks` and a credentials file: `Basic base64(principal:secret)`.

use base64::Engine;
use http::HeaderValue;

use super::Secret;

/// The `Authorization` value for `principal` and `secret`, marked sensitive so HTTP debug
/// output hides it.
pub fn header(principal: &str, secret: &Secret) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{principal}:{}", secret.expose()));
    // ok: base64 output is ASCII letters, digits, '+', '/', '=', all valid in a header value
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_principal_colon_secret() {
        // RFC 7617 section 2's example.
        let h = header("Aladdin", &Secret::new("open sesame".into()));
        assert_eq!(
            h.to_str().expect("ascii"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(h.is_sensitive());
    }
}
