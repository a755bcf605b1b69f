//! The pure side of DC/OS tokens: the claims of the login token we sign, the expiry of the
//! authentication token we get back, and when to log in again. Time is passed in (seconds
//! since the Unix epoch), so every rule is a plain unit test.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Lifetime of the login token we sign: it is used once, right away (dcos-commons signs
/// with 120 s too).
pub const LOGIN_TOKEN_LIFETIME_SECS: u64 = 120;

/// Log in again this long before the authentication token expires, so no request goes out
/// with a token that expires in flight (dcos-commons' default refresh threshold is 30 s; we
/// take more, a login takes a round trip to the IAM).
pub const REFRESH_MARGIN_SECS: u64 = 60;

/// The claims of the login token (`{"uid": ..., "exp": ...}`, signed RS256): what the DC/OS
/// IAM checks against the service account's public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginClaims {
    /// The service account id.
    pub uid: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

impl LoginClaims {
    /// Claims for `uid` signed at `now`.
    pub fn new(uid: &str, now: u64) -> LoginClaims {
        LoginClaims {
            uid: uid.to_string(),
            exp: now + LOGIN_TOKEN_LIFETIME_SECS,
        }
    }
}

/// The `exp` claim of a JWT, read without checking its signature (the token is the IAM's to
/// check, we only want to know when to renew it). `None` when the token is not a JWT or has
/// no numeric `exp`: then it is renewed only after a 401.
pub fn jwt_expiry(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_u64()
        .or_else(|| exp.as_f64().filter(|e| *e >= 0.0).map(|e| e as u64))
}

/// Whether a token expiring at `expires_at` (if known) must be renewed before use at `now`.
pub fn refresh_due(now: u64, expires_at: Option<u64>) -> bool {
    match expires_at {
        Some(exp) => now + REFRESH_MARGIN_SECS >= exp,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(payload)
        )
    }

    #[test]
    fn login_claims_expire_shortly_after_now() {
        let c = LoginClaims::new("cartrack-sa", 1_000);
        assert_eq!(c.uid, "cartrack-sa");
        assert_eq!(c.exp, 1_120);
    }

    #[test]
    fn reads_exp_of_a_jwt_and_nothing_else() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"uid":"a","exp":1700000000}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"uid":"a","exp":1.5e9}"#)),
            Some(1_500_000_000)
        );
        assert_eq!(jwt_expiry(&jwt(r#"{"uid":"a"}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":"soon"}"#)), None);
        assert_eq!(jwt_expiry("opaque-token"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }

    #[test]
    fn refreshes_within_the_margin_of_expiry_only() {
        let exp = 10_000;
        assert!(!refresh_due(exp - REFRESH_MARGIN_SECS - 1, Some(exp)));
        assert!(refresh_due(exp - REFRESH_MARGIN_SECS, Some(exp)));
        assert!(refresh_due(exp + 5, Some(exp)));
        // Unknown expiry: keep it until the master refuses it.
        assert!(!refresh_due(u64::MAX / 2, None));
    }
}
