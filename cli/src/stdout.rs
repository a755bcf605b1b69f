//! Everything a command prints on stdout goes through here, so a closed stdout (`cartrack status
//! | head -3`) ends the command quietly instead of panicking the way `println!` does.
//!
//! A write to a closed pipe returns [`StdoutError::Closed`]; `main` ends such a run with exit 0
//! and no message, as ripgrep does: the reader got what it wanted.

use std::io::{self, Write};

use serde::Serialize;

/// Why printing failed.
#[derive(Debug, thiserror::Error)]
pub enum StdoutError {
    /// The reader of stdout went away (`head`, `less` quit): not a failure of the command.
    #[error("stdout was closed")]
    Closed,
    /// Any other write error, e.g. a full disk behind a redirect.
    #[error("cannot write to stdout: {0}")]
    Io(#[source] io::Error),
    /// A value could not be turned into JSON.
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<io::Error> for StdoutError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            Self::Closed
        } else {
            Self::Io(err)
        }
    }
}

/// Writes `text` to stdout as is, and flushes it.
pub fn text(text: &str) -> Result<(), StdoutError> {
    write_to(&mut io::stdout().lock(), text)
}

/// Writes `line` and a newline to stdout.
pub fn line(line: &str) -> Result<(), StdoutError> {
    let mut out = io::stdout().lock();
    write_to(&mut out, line)?;
    write_to(&mut out, "\n")
}

/// Writes `value` as pretty JSON and a newline to stdout: one document per command.
pub fn json(value: &impl Serialize) -> Result<(), StdoutError> {
    line(&serde_json::to_string_pretty(value)?)
}

fn write_to(out: &mut impl Write, text: &str) -> Result<(), StdoutError> {
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// True when `err` (or anything it wraps) says stdout was closed: the run ends with exit 0.
pub fn closed(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StdoutError>(),
            Some(StdoutError::Closed)
        ) || cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone away.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_reported_as_closed_not_as_a_failure() {
        let err = write_to(&mut ClosedPipe, "framework: fw-1\n").unwrap_err();
        assert!(matches!(err, StdoutError::Closed), "{err:?}");
        assert!(closed(&anyhow::Error::from(err).context("printing status")));
    }

    #[test]
    fn other_write_errors_are_failures() {
        let err = StdoutError::from(io::Error::other("disk full"));
        assert!(matches!(err, StdoutError::Io(_)), "{err:?}");
        assert!(!closed(&anyhow::Error::from(err)));
    }
}
