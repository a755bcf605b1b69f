//! `Authorization: Bearer <token>`, as every cartrack HTTP server checks it.

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched
/// case-insensitively, as RFC 7235 section 2.1 says, so `bearer` from curl scripts works.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `given` is `token`, compared in time that does not depend on where the first
/// difference is.
pub fn same_token(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_needs_a_space() {
        assert_eq!(bearer_token("Bearer t0ken"), Some("t0ken"));
        assert_eq!(bearer_token("bEaReR  t0ken "), Some("t0ken"));
        assert_eq!(bearer_token("Basic t0ken"), None);
        assert_eq!(bearer_token("Bearert0ken"), None);
    }

    #[test]
    fn tokens_match_only_whole() {
        assert!(same_token("t0ken", "t0ken"));
        assert!(!same_token("t0ke", "t0ken"));
        assert!(!same_token("t0kem", "t0ken"));
    }
}
