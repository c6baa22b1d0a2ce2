//! Typed errors. The engine decides what to do from the type alone: retry a retryable
//! export, count and drop a permanent one, answer a client "try later" when the pipeline
//! has no room. Messages are for operators and name the cause.

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
