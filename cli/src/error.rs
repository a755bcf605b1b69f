//! The ways a command ends badly: the user asked for something that cannot be (exit 2), or the
//! service could not do it (exit 1, any other error). A closed stdout is no failure at all
//! (exit 0, see [`crate::stdout`]).

use crate::api::ApiError;

/// A request that is wrong as asked: a bad flag value, an unknown group or slot. Exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    message: String,
}

impl UsageError {
    /// A usage error with a message that says what is wrong and what to do instead.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// An unknown name, with a "did you mean" when one of `known` is close.
    pub fn unknown(kind: &str, name: &str, known: &[String]) -> Self {
        let hint = match crate::suggest::closest(name, known) {
            Some(close) => format!("; did you mean {close:?}?"),
            None if known.is_empty() => String::new(),
            None => format!("; known {kind}s: {}", known.join(", ")),
        };
        Self::new(format!("unknown {kind} {name:?}{hint}"))
    }
}

/// How a run that failed with `err` exits.
pub enum Ending {
    /// Stdout was closed by its reader: exit 0, print nothing.
    Quiet,
    /// Bad usage, or the scheduler refused the request as asked (a 4xx such as 400 or 404):
    /// exit 2.
    Usage,
    /// Anything else: exit 1.
    Failure,
}

impl Ending {
    /// How `err` ends the run, looking through every context it was wrapped in.
    pub fn of(err: &anyhow::Error) -> Self {
        if crate::stdout::closed(err) {
            return Self::Quiet;
        }
        let usage = err.chain().any(|cause| {
            cause.is::<UsageError>()
                || cause
                    .downcast_ref::<ApiError>()
                    .is_some_and(ApiError::refused_as_asked)
        });
        if usage {
            Self::Usage
        } else {
            Self::Failure
        }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Quiet => 0,
            Self::Usage => 2,
            Self::Failure => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;
    use reqwest::{Method, StatusCode};

    fn refusal(status: StatusCode) -> ApiError {
        ApiError::Refused {
            status,
            method: Method::PUT,
            path: "/v1/groups/processor/count".into(),
            message: "count 100001 is above the limit 100000".into(),
        }
    }

    #[test]
    fn usage_errors_and_refusals_exit_2_through_any_context() {
        let err = anyhow::Error::from(UsageError::new("bad")).context("scaling");
        assert_eq!(Ending::of(&err).code(), 2);
        let err: anyhow::Result<()> = Err(refusal(StatusCode::BAD_REQUEST).into());
        let err = err.context("cannot scale processor").unwrap_err();
        assert_eq!(Ending::of(&err).code(), 2);
    }

    #[test]
    fn other_answers_exit_1() {
        let err = anyhow::Error::from(ApiError::Unauthorized);
        assert_eq!(Ending::of(&err).code(), 1);
        let err = anyhow::Error::from(ApiError::Rejected {
            status: StatusCode::SERVICE_UNAVAILABLE,
            method: Method::GET,
            path: "/v1/state".into(),
            message: "the scheduler's driver is not running".into(),
        });
        assert_eq!(Ending::of(&err).code(), 1);
    }

    #[test]
    fn a_closed_stdout_exits_0() {
        let err = anyhow::Error::from(crate::stdout::StdoutError::Closed).context("status");
        assert_eq!(Ending::of(&err).code(), 0);
    }
}
