//! What a gRPC answer means for the engine: retry (and when), or give up.
//!
//! The codes follow the Collector's `otlpexporter` (which follows the OTLP spec):
//! CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
//! retryable; RESOURCE_EXHAUSTED only when the server sent `google.rpc.RetryInfo`,
//! meaning it expects to recover; everything else is permanent. A connection that
//! cannot be made surfaces from tonic as UNAVAILABLE, hence retryable.

use tonic::{Code, Status};
use tonic_types::StatusExt;
use weir_api::{ExportError, Signal};

/// Longest server message copied into an error, so a chatty server cannot blow up logs.
const MAX_MESSAGE: usize = 512;

pub fn to_export_error(status: &Status) -> ExportError {
    let retry_info = status.get_details_retry_info();
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_info.is_some(),
        _ => false,
    };
    let message = format!(
        "gRPC status {:?}: {}",
        status.code(),
        truncate(status.message(), MAX_MESSAGE)
    );
    if retryable {
        ExportError::Retryable {
            message,
            retry_after: retry_info.and_then(|info| info.retry_delay),
        }
    } else {
        ExportError::permanent(message)
    }
}

/// An OTLP partial success: the server took the request but refused `rejected` items.
/// The Collector only logs this; Weir also returns a permanent error for the rejected
/// items so they are counted as failed instead of sent.
pub fn partial_success(
    signal: Signal,
    rejected: i64,
    error_message: &str,
) -> Result<(), ExportError> {
    if rejected <= 0 {
        if !error_message.is_empty() {
            tracing::warn!(%signal, message = %truncate(error_message, MAX_MESSAGE), "server sent a partial success warning");
        }
        return Ok(());
    }
    let message = format!(
        "the server rejected {rejected} {} (partial success): {}",
        signal.item_name(),
        truncate(error_message, MAX_MESSAGE)
    );
    tracing::warn!(%signal, rejected, message = %message, "partial success");
    Err(ExportError::Permanent {
        message,
        rejected: Some(usize::try_from(rejected).unwrap_or(usize::MAX)),
    })
}

fn truncate(text: &str, max: usize) -> &str {
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
    use std::time::Duration;

    use tonic_types::ErrorDetails;

    use super::*;

    #[test]
    fn codes_map_like_the_collector() {
        assert!(to_export_error(&Status::unavailable("x")).is_retryable());
        assert!(to_export_error(&Status::deadline_exceeded("x")).is_retryable());
        assert!(!to_export_error(&Status::invalid_argument("x")).is_retryable());
        assert!(!to_export_error(&Status::unauthenticated("x")).is_retryable());
        assert!(!to_export_error(&Status::resource_exhausted("x")).is_retryable());
        let with_info = Status::with_error_details(
            Code::ResourceExhausted,
            "slow down",
            ErrorDetails::with_retry_info(Some(Duration::from_secs(3))),
        );
        assert_eq!(
            to_export_error(&with_info),
            ExportError::Retryable {
                message: "gRPC status ResourceExhausted: slow down".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
    }

    #[test]
    fn partial_success_counts_rejected_items() {
        assert_eq!(partial_success(Signal::Traces, 0, "fine"), Ok(()));
        let err = partial_success(Signal::Logs, 2, "bad records").unwrap_err();
        match err {
            ExportError::Permanent { message, rejected } => {
                assert_eq!(rejected, Some(2));
                assert!(message.contains("2 log_records") && message.contains("bad records"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
    }
}
