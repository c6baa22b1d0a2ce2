//! What a gRPC answer means for the engine: retry (and when), or give up.
//!
//! The codes follow the Collector's `otlpexporter` (which follows the OTLP spec):
//! CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
//! retryable; RESOURCE_EXHAUSTED only when the server sent `google.rpc.RetryInfo`,
//! meaning it expects to recover; everything else is permanent. A connection that
//! cannot be made surfaces from tonic as UNAVAILABLE, hence retryable.

use tonic::{Code, Status};
use tonic_types::StatusExt;
use weir_api::error::truncate;
use weir_api::otlp::MAX_SERVER_MESSAGE;
use weir_api::ExportError;

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
        truncate(status.message(), MAX_SERVER_MESSAGE)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic_types::ErrorDetails;
    use weir_api::otlp::partial_success;
    use weir_api::Signal;

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
