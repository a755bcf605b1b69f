//! The two ways a command ends badly: the user asked for something that cannot be (exit 2), or
//! the service could not do it (exit 1, any other error).

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
