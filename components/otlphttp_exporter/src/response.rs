//! What an OTLP/HTTP answer means for the engine, per the OTLP/HTTP spec and the
//! Collector's `otlphttpexporter`:
//!
//! - 2xx: delivered. The body is an `Export*ServiceResponse` in the response's content
//!   type; a partial success rejecting items becomes a permanent error for those items.
//!   A 2xx body that cannot be decoded is logged and treated as delivered (retrying
//!   would duplicate data the server has taken).
//! - 429, 502, 503, 504: retryable, honouring `Retry-After` (seconds or an HTTP date).
//! - any other status: permanent, with the status and the server's message (the body's
//!   `google.rpc.Status` when it decodes, else its text), truncated.

use std::time::{Duration, SystemTime};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use prost::Message;
use weir_api::{ExportError, Signal};
use weir_proto::collector::logs::v1::ExportLogsServiceResponse;
use weir_proto::collector::metrics::v1::ExportMetricsServiceResponse;
use weir_proto::collector::trace::v1::ExportTraceServiceResponse;

/// Longest server message copied into an error, so a chatty server cannot blow up logs.
const MAX_MESSAGE: usize = 512;

/// `google.rpc.Status`, the body OTLP/HTTP servers send with an error. Only the fields
/// Weir reports; `details` is skipped as an unknown field.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Maps a response to the engine's outcome. `url` is for messages only.
pub fn outcome(
    signal: Signal,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    url: &str,
) -> Result<(), ExportError> {
    if status.is_success() {
        return partial_success(signal, content_type(headers), body);
    }
    let mut message = format!("HTTP {status} from {url}");
    let detail = server_message(content_type(headers), body);
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(truncate(&detail, MAX_MESSAGE));
    }
    match status.as_u16() {
        429 | 502 | 503 | 504 => Err(ExportError::Retryable {
            message,
            retry_after: retry_after(headers, SystemTime::now()),
        }),
        _ => Err(ExportError::permanent(message)),
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("")
}

/// `Retry-After` as delay-seconds or an HTTP date. Zero, a date in the past or an
/// unreadable value mean "use the configured backoff" (`None`), as in the Collector.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .ok()?,
    };
    (!delay.is_zero()).then_some(delay)
}

/// The server's explanation of an error, from whatever form the body takes.
fn server_message(content_type: &str, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    if content_type == "application/json" {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Some(message) = json.get("message").and_then(|m| m.as_str()) {
                return message.to_string();
            }
        }
    } else if content_type == "application/x-protobuf" || content_type.is_empty() {
        if let Ok(status) = RpcStatus::decode(body) {
            if !status.message.is_empty() {
                return status.message;
            }
        }
    }
    match std::str::from_utf8(body) {
        Ok(text) if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            text.trim().to_string()
        }
        _ => format!("({} bytes of undecodable body)", body.len()),
    }
}

/// Reads the partial success of a 2xx answer.
fn partial_success(signal: Signal, content_type: &str, body: &[u8]) -> Result<(), ExportError> {
    if body.is_empty() {
        return Ok(());
    }
    let parsed = match content_type {
        "application/x-protobuf" => partial_from_protobuf(signal, body),
        "application/json" => partial_from_json(signal, body),
        _ => return Ok(()),
    };
    match parsed {
        Some((rejected, message)) => report_partial(signal, rejected, &message),
        None => {
            tracing::debug!(%signal, content_type, "could not decode a 2xx response body; treating as delivered");
            Ok(())
        }
    }
}

fn partial_from_protobuf(signal: Signal, body: &[u8]) -> Option<(i64, String)> {
    Some(
        match signal {
            Signal::Traces => ExportTraceServiceResponse::decode(body)
                .ok()?
                .partial_success
                .map(|p| (p.rejected_spans, p.error_message)),
            Signal::Metrics => ExportMetricsServiceResponse::decode(body)
                .ok()?
                .partial_success
                .map(|p| (p.rejected_data_points, p.error_message)),
            Signal::Logs => ExportLogsServiceResponse::decode(body)
                .ok()?
                .partial_success
                .map(|p| (p.rejected_log_records, p.error_message)),
        }
        .unwrap_or_default(),
    )
}

/// OTLP/JSON writes int64 as a string or a number, with lowerCamelCase keys (snake_case
/// accepted too, as OTLP receivers do).
fn partial_from_json(signal: Signal, body: &[u8]) -> Option<(i64, String)> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let Some(partial) = json
        .get("partialSuccess")
        .or_else(|| json.get("partial_success"))
    else {
        return Some((0, String::new()));
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
    let message = partial
        .get("errorMessage")
        .or_else(|| partial.get("error_message"))
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string();
    Some((rejected, message))
}

/// The Collector only logs a partial success; Weir also returns a permanent error for
/// the rejected items so they are counted as failed instead of sent.
fn report_partial(signal: Signal, rejected: i64, error_message: &str) -> Result<(), ExportError> {
    let error_message = truncate(error_message, MAX_MESSAGE);
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
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "0")]), now), None);
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        let later = headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]);
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        let past = headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]);
        assert_eq!(retry_after(&past, now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn statuses_map_like_the_collector() {
        let none = HeaderMap::new();
        for code in [429, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(outcome(Signal::Traces, status, &none, b"", "u")
                .unwrap_err()
                .is_retryable());
        }
        for code in [400, 401, 403, 404, 413, 500, 501] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(!outcome(Signal::Traces, status, &none, b"", "u")
                .unwrap_err()
                .is_retryable());
        }
        assert_eq!(
            outcome(Signal::Traces, StatusCode::OK, &none, b"", "u"),
            Ok(())
        );
    }

    #[test]
    fn error_messages_come_from_the_body() {
        let status = RpcStatus {
            code: 3,
            message: "bad trace id".into(),
        }
        .encode_to_vec();
        let proto = headers(&[("content-type", "application/x-protobuf")]);
        let err = outcome(
            Signal::Traces,
            StatusCode::BAD_REQUEST,
            &proto,
            &status,
            "http://x/v1/traces",
        );
        assert_eq!(
            err,
            Err(ExportError::permanent(
                "HTTP 400 Bad Request from http://x/v1/traces: bad trace id"
            ))
        );
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        let err = outcome(
            Signal::Logs,
            StatusCode::FORBIDDEN,
            &json,
            br#"{"code":7,"message":"no"}"#,
            "u",
        );
        assert_eq!(
            err,
            Err(ExportError::permanent("HTTP 403 Forbidden from u: no"))
        );
        let long = "x".repeat(5000);
        let err = outcome(
            Signal::Logs,
            StatusCode::BAD_REQUEST,
            &headers(&[("content-type", "text/plain")]),
            long.as_bytes(),
            "u",
        );
        assert!(matches!(err, Err(ExportError::Permanent { message, .. }) if message.len() < 600));
    }

    #[test]
    fn json_partial_success_with_string_counts() {
        let json = headers(&[("content-type", "application/json")]);
        let body = br#"{"partialSuccess":{"rejectedDataPoints":"4","errorMessage":"stale"}}"#;
        match outcome(Signal::Metrics, StatusCode::OK, &json, body, "u") {
            Err(ExportError::Permanent { rejected, message }) => {
                assert_eq!(rejected, Some(4));
                assert!(message.contains("stale"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            outcome(Signal::Metrics, StatusCode::OK, &json, b"{}", "u"),
            Ok(())
        );
        assert_eq!(
            outcome(Signal::Metrics, StatusCode::OK, &json, b"not json", "u"),
            Ok(())
        );
    }
}
