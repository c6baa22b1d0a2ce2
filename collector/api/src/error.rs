//! Typed errors. The engine decides what to do from the type alone: retry a retryable
//! export, count and drop a permanent one, answer a client "try later" when the pipeline
//! has no room. Messages are for operators and name the cause.

use std::fmt;
use std::time::Duration;

/// Why an export did not succeed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExportError {
    /// Worth trying again (network error, 5xx, 429, UNAVAILABLE). `retry_after` carries the
    /// server's hint (gRPC RetryInfo, HTTP Retry-After) when it gave one.
    #[error("retryable: {message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Will fail the same way again (400, INVALID_ARGUMENT, a partial success's rejected
    /// items). `rejected` is the number of items refused, `None` meaning all of them.
    #[error("permanent: {message}")]
    Permanent {
        message: String,
        rejected: Option<usize>,
    },
}

impl ExportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent {
            message: message.into(),
            rejected: None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

/// Why data handed to the pipeline was not taken. Receivers turn this into a protocol
/// answer: `NoRoom` and `ShuttingDown` are retryable for the client.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConsumeError {
    /// The pipeline is full; the client should retry after the hinted delay.
    #[error("the pipeline has no room; retry after {retry_after:?}")]
    NoRoom { retry_after: Duration },
    /// Weir is shutting down and takes no more data.
    #[error("weir is shutting down")]
    ShuttingDown,
    /// No pipeline takes this signal from this receiver.
    #[error("no pipeline takes {0} from this receiver")]
    NoPipeline(crate::Signal),
}

impl ConsumeError {
    /// True when the client may send the same data again later.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::NoPipeline(_))
    }
}

/// A component could not be built from its configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// A component could not start (a port in use, a file missing). The message names the
/// component and the cause; the engine prefixes the component id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// An error and its causes on one line, `outer: cause: root cause`: a top-level message
/// alone (hyper's "client error (Connect)") often does not say what happened.
pub fn chain(error: &dyn std::error::Error) -> String {
    Chain(error).to_string()
}

/// [`chain`] as a `Display` wrapper, to format without an intermediate `String`
/// (`tracing::warn!(error = %Chain(&err), ...)`).
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a dyn std::error::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// At most `max` bytes of `text`, cut at a character boundary: a chatty server's message
/// copied into an error must not blow up logs.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn chain_joins_every_cause() {
        let root = Layer("connection refused", None);
        let mid = Layer("tcp connect error", Some(Box::new(root)));
        let top = Layer("client error (Connect)", Some(Box::new(mid)));
        assert_eq!(
            chain(&top),
            "client error (Connect): tcp connect error: connection refused"
        );
        assert_eq!(chain(&Layer("alone", None)), "alone");
        assert_eq!(format!("{}", Chain(&top)), chain(&top));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("short", 512), "short");
        assert_eq!(truncate("abcdef", 4), "abcd");
    }
}
