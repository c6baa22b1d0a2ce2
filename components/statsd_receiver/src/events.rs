//! DogStatsD events (`_e{title_len,text_len}:title|text|...`) and service checks
//! (`_sc|name|status|...`) as OTLP log records.
//!
//! They are rare next to metrics, so this code allocates freely. Mapping: the body is
//! the event text (or the check's message); the title, check name, status, priority,
//! alert type, aggregation key and source type become `dogstatsd.*` attributes; `h:`
//! becomes `host.name`; tags become attributes; the alert type or check status sets the
//! severity; `d:` sets the time.

use weir_api::batch::build::{AttributeList, LogRecordBuilder};
use weir_api::batch::view::SeverityNumber;

use crate::line::tags;
use crate::reason::Reason;

fn push_tags(attributes: &mut AttributeList, raw: &str) {
    for tag in tags(raw) {
        if tag.key.is_empty() || attributes.view().get(tag.key).is_some() {
            continue;
        }
        attributes.push(tag.key, tag.value);
    }
}

fn seconds(field: &str) -> Result<u64, Reason> {
    field
        .parse::<u64>()
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .ok_or(Reason::BadEvent)
}

/// Parses an event line. `now_ns` is the observed time (and the time when `d:` is absent).
pub fn parse_event(line: &str, now_ns: u64) -> Result<LogRecordBuilder, Reason> {
    let rest = line.strip_prefix("_e{").ok_or(Reason::BadEvent)?;
    let (lengths, rest) = rest.split_once("}:").ok_or(Reason::BadEvent)?;
    let (title_len, text_len) = lengths.split_once(',').ok_or(Reason::BadEvent)?;
    let title_len: usize = title_len.parse().map_err(|_| Reason::BadEvent)?;
    let text_len: usize = text_len.parse().map_err(|_| Reason::BadEvent)?;
    // The lengths are UTF-8 byte lengths; `get` refuses a cut inside a character.
    let title = rest.get(..title_len).ok_or(Reason::BadEvent)?;
    let rest = rest.get(title_len..).ok_or(Reason::BadEvent)?;
    let rest = rest.strip_prefix('|').ok_or(Reason::BadEvent)?;
    let event_text = rest.get(..text_len).ok_or(Reason::BadEvent)?;
    let fields = rest.get(text_len..).ok_or(Reason::BadEvent)?;
    if title.is_empty() {
        return Err(Reason::BadEvent);
    }

    let mut time_ns = now_ns;
    let mut attributes = AttributeList::new();
    attributes.push("dogstatsd.event.title", title);
    let mut severity = (SeverityNumber::INFO, "info");
    if !fields.is_empty() {
        let fields = fields.strip_prefix('|').ok_or(Reason::BadEvent)?;
        for field in fields.split('|') {
            let (prefix, value) =
                field.split_at(field.find(':').map_or(field.len().min(1), |i| i + 1));
            match prefix {
                "d:" => time_ns = seconds(value)?,
                "h:" => {
                    attributes.push("host.name", value);
                }
                "k:" => {
                    attributes.push("dogstatsd.event.aggregation_key", value);
                }
                "p:" => {
                    attributes.push("dogstatsd.event.priority", value);
                }
                "s:" => {
                    attributes.push("dogstatsd.event.source_type", value);
                }
                "t:" => {
                    attributes.push("dogstatsd.event.alert_type", value);
                    match value {
                        "error" => severity = (SeverityNumber::ERROR, "error"),
                        "warning" => severity = (SeverityNumber::WARN, "warning"),
                        "success" => severity = (SeverityNumber::INFO, "success"),
                        _ => {}
                    }
                }
                _ if field.starts_with('#') => push_tags(&mut attributes, &field[1..]),
                // Origin-detection fields of newer clients.
                "c:" | "e:" | "card:" => {}
                _ => return Err(Reason::BadEvent),
            }
        }
    }
    Ok(LogRecordBuilder::new()
        .time(time_ns)
        .observed_time(now_ns)
        .body(event_text.replace("\\n", "\n"))
        .severity(severity.0, severity.1)
        .attribute_list(attributes))
}

/// Parses a service check line.
pub fn parse_service_check(line: &str, now_ns: u64) -> Result<LogRecordBuilder, Reason> {
    let rest = line.strip_prefix("_sc|").ok_or(Reason::BadEvent)?;
    let mut parts = rest.splitn(3, '|');
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or(Reason::BadEvent)?;
    let status = parts.next().ok_or(Reason::BadEvent)?;
    let mut time_ns = now_ns;
    let mut message = String::new();
    let mut attributes = AttributeList::new();
    attributes.push("dogstatsd.service_check.name", name);
    let (number, word) = match status {
        "0" => (SeverityNumber::INFO, "ok"),
        "1" => (SeverityNumber::WARN, "warning"),
        "2" => (SeverityNumber::ERROR, "critical"),
        "3" => (SeverityNumber::WARN, "unknown"),
        _ => return Err(Reason::BadEvent),
    };
    attributes.push(
        "dogstatsd.service_check.status",
        status.parse::<i64>().unwrap_or(3),
    );

    let mut rest = parts.next().unwrap_or("");
    while !rest.is_empty() {
        // `m:` runs to the end of the line and may contain `|`.
        if let Some(text) = rest.strip_prefix("m:") {
            message = text.replace("\\n", "\n");
            break;
        }
        let (field, tail) = rest.split_once('|').unwrap_or((rest, ""));
        if let Some(ts) = field.strip_prefix("d:") {
            time_ns = seconds(ts)?;
        } else if let Some(host) = field.strip_prefix("h:") {
            attributes.push("host.name", host);
        } else if let Some(raw) = field.strip_prefix('#') {
            push_tags(&mut attributes, raw);
        } else if !(field.starts_with("c:")
            || field.starts_with("e:")
            || field.starts_with("card:"))
        {
            return Err(Reason::BadEvent);
        }
        rest = tail;
    }
    Ok(LogRecordBuilder::new()
        .time(time_ns)
        .observed_time(now_ns)
        .body(message)
        .severity(number, word)
        .attribute_list(attributes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_api::batch::build::LogsBuilder;
    use weir_proto::common::v1::{any_value, AnyValue};
    use weir_proto::logs::v1::{LogRecord, SeverityNumber};

    /// The record a builder makes, read back from a batch.
    fn record(builder: LogRecordBuilder) -> LogRecord {
        let mut batch = LogsBuilder::new();
        batch
            .resource_with(AttributeList::new())
            .scope("", "")
            .push(builder);
        let mut resources = batch.build().resource_logs();
        resources
            .remove(0)
            .scope_logs
            .remove(0)
            .log_records
            .remove(0)
    }

    fn parse_event(line: &str, now_ns: u64) -> Result<LogRecord, Reason> {
        super::parse_event(line, now_ns).map(record)
    }

    fn parse_service_check(line: &str, now_ns: u64) -> Result<LogRecord, Reason> {
        super::parse_service_check(line, now_ns).map(record)
    }

    fn body(value: String) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        })
    }

    fn attr<'a>(record: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    #[test]
    fn event_with_pipes_in_text() {
        let line = "_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17|t:warning|#err_type:bad_file";
        let record = parse_event(line, 5).unwrap();
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(
            attr(&record, "dogstatsd.event.title"),
            Some(&any_value::Value::StringValue(
                "An exception occurred".into()
            ))
        );
        assert_eq!(
            attr(&record, "err_type"),
            Some(&any_value::Value::StringValue("bad_file".into()))
        );
        let piped = parse_event("_e{3,5}:a|b|c|d|e|d:10", 5).unwrap();
        assert_eq!(piped.body, body("c|d|e".into()));
        assert_eq!(piped.time_unix_nano, 10_000_000_000);
    }

    #[test]
    fn event_lengths_are_checked() {
        assert_eq!(parse_event("_e{50,2}:short|ab", 0), Err(Reason::BadEvent));
        assert_eq!(parse_event("_e{x,2}:a|ab", 0), Err(Reason::BadEvent));
        assert_eq!(parse_event("_e{1,2}:a|ab|zz", 0), Err(Reason::BadEvent));
    }

    #[test]
    fn service_check_message_runs_to_the_end() {
        let record =
            parse_service_check("_sc|Redis connection|2|#env:dev|m:timed out | after 10s", 0)
                .unwrap();
        assert_eq!(record.severity_number, SeverityNumber::Error as i32);
        assert_eq!(record.body, body("timed out | after 10s".into()));
        assert_eq!(
            attr(&record, "env"),
            Some(&any_value::Value::StringValue("dev".into()))
        );
        assert_eq!(parse_service_check("_sc|x|9", 0), Err(Reason::BadEvent));
    }
}
