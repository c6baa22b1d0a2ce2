//! What an OTLP server's `Export*ServiceResponse` means for the engine, shared by the
//! OTLP exporters (gRPC and HTTP).
//!
//! A response may carry a partial success: the server took the request but refused some
//! items (`rejected_spans`, `rejected_data_points`, `rejected_log_records`), with an
//! optional message. The Collector only logs it; Weir also returns a permanent error for
//! the rejected items, so they are counted as failed instead of sent. A partial success
//! rejecting nothing but carrying a message is a warning, logged.

use prost::Message;
use weir_proto::collector::logs::v1::ExportLogsServiceResponse;
use weir_proto::collector::metrics::v1::ExportMetricsServiceResponse;
use weir_proto::collector::trace::v1::ExportTraceServiceResponse;

use crate::error::truncate;
use crate::{ExportError, Signal};

/// Longest server message copied into an error, so a chatty server cannot blow up logs.
pub const MAX_SERVER_MESSAGE: usize = 512;

/// The partial success of one `Export*ServiceResponse`, whatever its signal. The default
/// (nothing rejected, no message) is what a response without one means.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartialSuccess {
    /// Items the server refused; zero or less means none.
    pub rejected: i64,
    /// The server's explanation (or warning), possibly empty.
    pub error_message: String,
}

impl PartialSuccess {
    /// Reads the partial success of a protobuf `Export*ServiceResponse` of `signal` (an
    /// empty body is a full success).
    pub fn from_protobuf(signal: Signal, body: &[u8]) -> Result<Self, prost::DecodeError> {
        let partial = match signal {
            Signal::Traces => ExportTraceServiceResponse::decode(body)?
                .partial_success
                .map(|p| Self::new(p.rejected_spans, p.error_message)),
            Signal::Metrics => ExportMetricsServiceResponse::decode(body)?
                .partial_success
                .map(|p| Self::new(p.rejected_data_points, p.error_message)),
            Signal::Logs => ExportLogsServiceResponse::decode(body)?
                .partial_success
                .map(|p| Self::new(p.rejected_log_records, p.error_message)),
        };
        Ok(partial.unwrap_or_default())
    }

    /// Reads the partial success of an OTLP/JSON `Export*ServiceResponse` of `signal`.
    /// OTLP/JSON writes int64 as a string or a number, with lowerCamelCase keys
    /// (snake_case accepted too, as OTLP receivers do). `None` when the body is not JSON
    /// or the count is not a number.
    pub fn from_json(signal: Signal, body: &[u8]) -> Option<Self> {
        let json: serde_json::Value = serde_json::from_slice(body).ok()?;
        let Some(partial) = json
            .get("partialSuccess")
            .or_else(|| json.get("partial_success"))
        else {
            return Some(Self::default());
        };
        let (camel, snake) = match signal {
            Signal::Traces => ("rejectedSpans", "rejected_spans"),
            Signal::Metrics => ("rejectedDataPoints", "rejected_data_points"),
            Signal::Logs => ("rejectedLogRecords", "rejected_log_records"),
        };
        let rejected = match partial.get(camel).or_else(|| partial.get(snake)) {
            None | Some(serde_json::Value::Null) => 0,
            Some(serde_json::Value::Number(n)) => n.as_i64()?,
            Some(serde_json::Value::String(s)) => s.parse().ok()?,
            Some(_) => return None,
        };
        let error_message = partial
            .get("errorMessage")
            .or_else(|| partial.get("error_message"))
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string();
        Some(Self::new(rejected, error_message))
    }

    pub fn new(rejected: i64, error_message: impl Into<String>) -> Self {
        Self {
            rejected,
            error_message: error_message.into(),
        }
    }

    /// The engine's outcome: see [`partial_success`].
    pub fn outcome(&self, signal: Signal) -> Result<(), ExportError> {
        partial_success(signal, self.rejected, &self.error_message)
    }
}

/// The engine's outcome of a partial success: `Ok` when nothing was rejected (a message
/// alone is logged as a warning), else a permanent error counting the rejected items,
/// with the server's message truncated to [`MAX_SERVER_MESSAGE`] bytes.
pub fn partial_success(
    signal: Signal,
    rejected: i64,
    error_message: &str,
) -> Result<(), ExportError> {
    let error_message = truncate(error_message, MAX_SERVER_MESSAGE);
    if rejected <= 0 {
        if !error_message.is_empty() {
            tracing::warn!(%signal, message = %error_message, "server sent a partial success warning");
        }
        return Ok(());
    }
    let message = format!(
        "the server rejected {rejected} {} (partial success): {error_message}",
        signal.item_name()
    );
    tracing::warn!(%signal, rejected, message = %message, "partial success");
    Err(ExportError::Permanent {
        message,
        rejected: Some(usize::try_from(rejected).unwrap_or(usize::MAX)),
    })
}

#[cfg(test)]
mod tests {
    use weir_proto::collector::metrics::v1::ExportMetricsPartialSuccess;
    use weir_proto::collector::trace::v1::ExportTracePartialSuccess;

    use super::*;

    #[test]
    fn nothing_rejected_is_delivered() {
        assert_eq!(partial_success(Signal::Traces, 0, "fine"), Ok(()));
        assert_eq!(partial_success(Signal::Traces, -1, ""), Ok(()));
        assert_eq!(PartialSuccess::default().outcome(Signal::Logs), Ok(()));
    }

    #[test]
    fn rejected_items_are_a_permanent_error_counting_them() {
        match partial_success(Signal::Logs, 2, "bad records") {
            Err(ExportError::Permanent { message, rejected }) => {
                assert_eq!(rejected, Some(2));
                assert!(message.contains("2 log_records") && message.contains("bad records"));
            }
            other => panic!("{other:?}"),
        }
        let long = "x".repeat(5000);
        match partial_success(Signal::Traces, 1, &long) {
            Err(ExportError::Permanent { message, .. }) => assert!(message.len() < 600),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn protobuf_responses_of_each_signal() {
        assert_eq!(
            PartialSuccess::from_protobuf(Signal::Traces, b""),
            Ok(PartialSuccess::default())
        );
        let traces = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            PartialSuccess::from_protobuf(Signal::Traces, &traces),
            Ok(PartialSuccess::new(3, "too old"))
        );
        let metrics = ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 5,
                error_message: String::new(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            PartialSuccess::from_protobuf(Signal::Metrics, &metrics).map(|p| p.rejected),
            Ok(5)
        );
        assert!(PartialSuccess::from_protobuf(Signal::Logs, b"\xff\xff").is_err());
    }

    #[test]
    fn json_responses_with_string_or_number_counts() {
        let body = br#"{"partialSuccess":{"rejectedDataPoints":"4","errorMessage":"stale"}}"#;
        assert_eq!(
            PartialSuccess::from_json(Signal::Metrics, body),
            Some(PartialSuccess::new(4, "stale"))
        );
        let snake = br#"{"partial_success":{"rejected_log_records":2}}"#;
        assert_eq!(
            PartialSuccess::from_json(Signal::Logs, snake),
            Some(PartialSuccess::new(2, ""))
        );
        assert_eq!(
            PartialSuccess::from_json(Signal::Traces, b"{}"),
            Some(PartialSuccess::default())
        );
        assert_eq!(PartialSuccess::from_json(Signal::Traces, b"not json"), None);
        assert_eq!(
            PartialSuccess::from_json(
                Signal::Traces,
                br#"{"partialSuccess":{"rejectedSpans":[]}}"#
            ),
            None
        );
    }
}
