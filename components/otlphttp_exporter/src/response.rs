//! What an OTLP/HTTP answer means for the engine, per the OTLP/HTTP spec and the
//! Collector's `otlphttpexporter`:
//!
//! - 2xx: delivered. The body is an `Export*ServiceResponse` in the response's content
//!   type; a partial success rejecting items becomes a permanent error for those items.
//!   A 2xx body that cannot be decoded is logged and treated as delivered (retrying
//!   would duplicate data the server has taken).
//! - 429, 502, 503, 504: retryable, honouring `Retry-After` (seconds or an HTTP date,
//!   [`weir_api::http::retry_after`]).
//! - any other status: permanent, with the status and the server's message (the body's
//!   `google.rpc.Status` when it decodes, else its text), truncated.

use std::time::SystemTime;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use prost::Message;
use weir_api::error::truncate;
use weir_api::otlp::{PartialSuccess, MAX_SERVER_MESSAGE};
use weir_api::{ExportError, Signal};

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
        message.push_str(truncate(&detail, MAX_SERVER_MESSAGE));
    }
    match status.as_u16() {
        429 | 502 | 503 | 504 => Err(ExportError::Retryable {
            message,
            retry_after: weir_api::http::retry_after(headers, SystemTime::now()),
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
        "application/x-protobuf" => PartialSuccess::from_protobuf(signal, body).ok(),
        "application/json" => PartialSuccess::from_json(signal, body),
        _ => return Ok(()),
    };
    match parsed {
        Some(partial) => partial.outcome(signal),
        None => {
            tracing::debug!(%signal, content_type, "could not decode a 2xx response body; treating as delivered");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;
    use weir_api::http::retry_after;

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
