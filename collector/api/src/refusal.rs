//! Why a receiver refused a request before any item was decoded: a fixed set, so that
//! counting a refusal (the hottest path during an incident: a flood of bad requests) is
//! an array index and an atomic add on a counter fetched when the receiver was built.

use std::fmt;

/// The `reason` label of `weir_receiver_refused_requests_total`. The label values
/// ([`RefusalReason::as_str`]) are stable: dashboards and alerts select on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The body (or gRPC message) does not decompress or decode: HTTP 400,
    /// INVALID_ARGUMENT.
    Malformed,
    /// Larger than the configured limit, before or after decompression: HTTP 413,
    /// RESOURCE_EXHAUSTED.
    TooLarge,
    /// A Content-Type the receiver does not read: HTTP 415.
    UnsupportedMediaType,
    /// A Content-Encoding (or `grpc-encoding`) the receiver does not read.
    UnsupportedEncoding,
    /// No handler for the path (or gRPC method).
    NotFound,
    /// A method other than the one the path takes: HTTP 405.
    MethodNotAllowed,
    /// The receiver failed while handling the request (a decoding task panicked).
    Internal,
    /// Admitting it would take the memory budget past its limit: HTTP 503 with
    /// Retry-After, gRPC UNAVAILABLE with RetryInfo.
    OverBudget,
    /// No valid credentials for the receiver's authenticator: HTTP 401,
    /// UNAUTHENTICATED.
    Unauthenticated,
    /// A connection accepted while the server already held `max_connections`: closed
    /// at once, before anything is read.
    ConnectionLimit,
    /// A connection that did not send its request head (or its first bytes, or
    /// finish its TLS handshake) within the header read timeout: closed.
    HeaderTimeout,
    /// A TLS handshake that failed (no or an untrusted client certificate, a protocol
    /// version below `min_version`, not TLS at all).
    TlsHandshake,
}

impl RefusalReason {
    /// Every reason, in [`RefusalReason::index`] order.
    pub const ALL: [RefusalReason; 12] = [
        Self::Malformed,
        Self::TooLarge,
        Self::UnsupportedMediaType,
        Self::UnsupportedEncoding,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Internal,
        Self::OverBudget,
        Self::Unauthenticated,
        Self::ConnectionLimit,
        Self::HeaderTimeout,
        Self::TlsHandshake,
    ];

    /// The number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// The label value, unchanged from the strings receivers passed before the enum.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal => "internal",
            Self::OverBudget => "memory_budget",
            Self::Unauthenticated => "unauthenticated",
            Self::ConnectionLimit => "connection_limit",
            Self::HeaderTimeout => "header_timeout",
            Self::TlsHandshake => "tls_handshake",
        }
    }

    /// The position in [`RefusalReason::ALL`], for per-reason arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_unchanged_and_indexes_match() {
        let labels: Vec<&str> = RefusalReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            labels,
            [
                "malformed",
                "too_large",
                "unsupported_media_type",
                "unsupported_encoding",
                "not_found",
                "method_not_allowed",
                "internal",
                "memory_budget",
                "unauthenticated",
                "connection_limit",
                "header_timeout",
                "tls_handshake",
            ]
        );
        for (i, reason) in RefusalReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        assert_eq!(RefusalReason::TooLarge.to_string(), "too_large");
    }
}
