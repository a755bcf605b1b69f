//! A vector-style response classifier: every answer of the master becomes one
//! [`Disposition`] with a reason, so the retry policy lives in one pure function.

/// What to do with a master's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Accepted (200/202).
    Done,
    /// Not the leader: send to this master (`http[s]://host:port`) instead.
    Follow(String),
    /// Transient (503 no leader, 5xx): retry with backoff.
    Retry(String),
    /// The master does not know our subscription (403): re-SUBSCRIBE first.
    Resubscribe(String),
    /// The call itself is wrong (400, 401, ...): retrying cannot help.
    GiveUp(String),
}

/// The `scheme://host:port` base of a redirect `Location`. Mesos sends it protocol-relative
/// (`//host:port/api/v1/scheduler`): the scheme is then the one of `master`, the base the
/// request went to, so a TLS cluster stays on https.
pub fn location_base(master: &str, location: &str) -> Option<String> {
    let (scheme, rest) = if let Some(rest) = location.strip_prefix("//") {
        (master.split_once("://").map_or("http", |(s, _)| s), rest)
    } else {
        let (scheme, rest) = location.split_once("://")?;
        (scheme, rest)
    };
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host_port = rest.split('/').next().unwrap_or_default();
    (!host_port.is_empty()).then(|| format!("{scheme}://{host_port}"))
}

/// Classifies a response of `master` by status, `Location` header and body text.
pub fn classify(status: u16, master: &str, location: Option<&str>, body: &str) -> Disposition {
    let body = body.trim();
    match status {
        200 | 202 => Disposition::Done,
        307 => match location.and_then(|l| location_base(master, l)) {
            Some(base) => Disposition::Follow(base),
            None => Disposition::Retry(format!("307 without a usable Location ({location:?})")),
        },
        503 => Disposition::Retry(format!("503 no leading master: {body}")),
        500 | 502 | 504 => Disposition::Retry(format!("{status} master error: {body}")),
        403 => Disposition::Resubscribe(format!("403 not subscribed: {body}")),
        401 => Disposition::GiveUp(format!(
            "401 unauthorized (set --principal and a secret): {body}"
        )),
        400 => Disposition::GiveUp(format!("400 bad request: {body}")),
        other => Disposition::GiveUp(format!("unexpected status {other}: {body}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "http://m1:5050";

    #[test]
    fn follows_protocol_relative_redirects() {
        assert_eq!(
            classify(307, M, Some("//10.0.0.2:5050/api/v1/scheduler"), ""),
            Disposition::Follow("http://10.0.0.2:5050".into())
        );
        assert_eq!(
            classify(307, M, Some("http://m2:5050/master/api/v1/scheduler"), ""),
            Disposition::Follow("http://m2:5050".into())
        );
        assert!(matches!(classify(307, M, None, ""), Disposition::Retry(_)));
        // TLS masters: a protocol-relative redirect keeps https, an explicit one is obeyed.
        assert_eq!(
            classify(
                307,
                "https://m1:5050",
                Some("//m2:5050/api/v1/scheduler"),
                ""
            ),
            Disposition::Follow("https://m2:5050".into())
        );
        assert_eq!(
            classify(307, "https://m1:5050", Some("http://m2:5050/x"), ""),
            Disposition::Follow("http://m2:5050".into())
        );
        assert!(matches!(
            classify(307, M, Some("ftp://m2/x"), ""),
            Disposition::Retry(_)
        ));
    }

    #[test]
    fn retries_503_resubscribes_403_gives_up_400() {
        assert!(
            matches!(classify(503, M, None, "no leader"), Disposition::Retry(r) if r.contains("no leader"))
        );
        assert!(matches!(
            classify(403, M, None, "Framework is not subscribed"),
            Disposition::Resubscribe(_)
        ));
        assert!(
            matches!(classify(400, M, None, "Framework cannot be found"), Disposition::GiveUp(r) if r.contains("cannot be found"))
        );
        assert!(matches!(classify(401, M, None, ""), Disposition::GiveUp(_)));
        assert_eq!(classify(202, M, None, ""), Disposition::Done);
    }
}
