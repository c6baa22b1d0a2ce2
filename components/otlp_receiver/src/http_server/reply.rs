//! HTTP answers in the shapes the OTLP/HTTP spec and the Collector use: an empty
//! `Export*ServiceResponse` for success, a `google.rpc.Status` in the request's
//! encoding for errors found after the content type is known, plain text before.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use prost::Message;

pub type Reply = Response<Full<Bytes>>;

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

/// The payload encoding of a request, answered in kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// From a `Content-Type` value, ignoring parameters such as `charset`.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case(PROTOBUF) {
            Some(Self::Protobuf)
        } else if essence.eq_ignore_ascii_case(JSON) {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        }
    }
}

fn build(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// 200 with an empty `Export*ServiceResponse` (no partial success). All three encode to
/// zero protobuf bytes and to `{}` in JSON, whatever the signal.
pub fn ok(format: Format) -> Reply {
    let body: &'static [u8] = match format {
        Format::Protobuf => b"",
        Format::Json => b"{}",
    };
    build(
        StatusCode::OK,
        format.content_type(),
        Bytes::from_static(body),
    )
}

/// gRPC status codes used in `google.rpc.Status` bodies.
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const UNAUTHENTICATED: i32 = 16;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const UNAVAILABLE: i32 = 14;
}

/// An error answer carrying a `google.rpc.Status` in the request's encoding.
pub fn status(http: StatusCode, format: Format, code: i32, message: String) -> Reply {
    let body = match format {
        Format::Protobuf => tonic_types::Status {
            code,
            message,
            details: Vec::new(),
        }
        .encode_to_vec(),
        Format::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    build(http, format.content_type(), body)
}

/// A plain-text answer, for refusals made before the payload encoding is known.
pub fn text(http: StatusCode, message: &str) -> Reply {
    build(http, "text/plain; charset=utf-8", message.to_string())
}

/// 204 with no body, for CORS preflights.
pub fn no_content() -> Reply {
    let mut reply = Response::new(Full::default());
    *reply.status_mut() = StatusCode::NO_CONTENT;
    reply
}

pub fn method_not_allowed() -> Reply {
    let mut reply = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "405 method not allowed, supported: [POST]",
    );
    reply
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    reply
}

/// 503 with `Retry-After` in whole seconds (at least 1, rounded up).
pub fn unavailable(
    format: Format,
    message: String,
    retry_after: Option<std::time::Duration>,
) -> Reply {
    let mut reply = status(
        StatusCode::SERVICE_UNAVAILABLE,
        format,
        code::UNAVAILABLE,
        message,
    );
    if let Some(delay) = retry_after {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        reply
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_ignore_parameters_and_case() {
        assert_eq!(
            Format::from_content_type("application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("Application/X-Protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
    }

    #[test]
    fn retry_after_rounds_up() {
        let reply = unavailable(
            Format::Json,
            "full".into(),
            Some(std::time::Duration::from_millis(1500)),
        );
        assert_eq!(reply.headers()[RETRY_AFTER], "2");
        let reply = unavailable(Format::Json, "full".into(), Some(std::time::Duration::ZERO));
        assert_eq!(reply.headers()[RETRY_AFTER], "1");
    }
}
