//! What Loki's answer to a push means.
//!
//! - 2xx (Loki answers 204): delivered.
//! - 429 (ingestion or stream rate limit) and 5xx: retryable, honouring `Retry-After`.
//! - 400 with an out-of-order text (`entry out of order`, `entry too far behind`): those
//!   entries are refused for good; Loki accepted the rest of the push, and its text says
//!   how many it ignored per stream (`total ignored: N out of M`), so only those N count
//!   as failed.
//! - any other status (other 4xx, and the odd 1xx/3xx): permanent for the whole push, as
//!   the Collector treats every 4xx but 429 (it retries 1xx/3xx; Weir does not, since a
//!   redirect will answer the same way again).

use std::time::Duration;

use http::StatusCode;

/// How an answer is handled.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Delivered,
    Retry {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Refused for good. `rejected`: entries refused (the push's count when Loki did not
    /// say); `out_of_order`: whether Loki refused them as out of order.
    Refused {
        rejected: usize,
        out_of_order: bool,
        message: String,
    },
}

/// Sums the `total ignored: N out of M` counts of Loki's 400 text; `None` when there is
/// none.
pub fn ignored_entries(body: &str) -> Option<usize> {
    const MARK: &str = "total ignored: ";
    let mut total = None;
    for (at, _) in body.match_indices(MARK) {
        let rest = &body[at + MARK.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            *total.get_or_insert(0) += n;
        }
    }
    total
}

pub fn is_out_of_order(body: &str) -> bool {
    body.contains("entry out of order") || body.contains("entry too far behind")
}

/// Classifies an answer to a push of `entries` entries.
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
    entries: usize,
) -> Answer {
    if status.is_success() {
        return Answer::Delivered;
    }
    let mut message = format!("Loki answered {status}");
    let text = body.trim();
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(weir_api::error::truncate(
            text,
            weir_api::otlp::MAX_SERVER_MESSAGE,
        ));
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Answer::Retry {
            retry_after,
            message,
        };
    }
    let out_of_order = status == StatusCode::BAD_REQUEST && is_out_of_order(body);
    let rejected = if out_of_order {
        ignored_entries(body).unwrap_or(entries).min(entries)
    } else {
        entries
    };
    Answer::Refused {
        rejected,
        out_of_order,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT_OF_ORDER: &str = "entry with timestamp 2026-11-29 10:00:00 +0000 UTC ignored, \
        reason: 'entry too far behind, entry timestamp is: 2026-11-29T10:00:00Z, oldest \
        acceptable timestamp is: 2026-11-29T11:00:00Z',\nuser 'acme', total ignored: 2 out of 5 \
        for stream: {job=\"shop\"}";

    #[test]
    fn statuses_map_like_loki_clients_expect() {
        assert_eq!(
            classify(StatusCode::NO_CONTENT, None, "", 3),
            Answer::Delivered
        );
        for code in [429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(
                classify(status, Some(Duration::from_secs(2)), "busy", 3),
                Answer::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(2)
            ));
        }
        for code in [400, 401, 404, 413] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(
                classify(status, None, "stream limit exceeded", 3),
                Answer::Refused {
                    rejected: 3,
                    out_of_order: false,
                    ..
                }
            ));
        }
    }

    #[test]
    fn out_of_order_counts_what_loki_ignored() {
        match classify(StatusCode::BAD_REQUEST, None, OUT_OF_ORDER, 5) {
            Answer::Refused {
                rejected,
                out_of_order,
                message,
            } => {
                assert_eq!(rejected, 2);
                assert!(out_of_order);
                assert!(message.starts_with("Loki answered 400 Bad Request: entry with"));
            }
            other => panic!("{other:?}"),
        }
        let old = "entry out of order for stream: {job=\"a\"}";
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, None, old, 4),
            Answer::Refused {
                rejected: 4,
                out_of_order: true,
                ..
            }
        ));
        assert_eq!(
            ignored_entries("total ignored: 1 out of 2 ... total ignored: 3 out of 3"),
            Some(4)
        );
        assert_eq!(ignored_entries("nothing"), None);
    }
}
