//! DogStatsD events (`_e{title_len,text_len}:title|text|...`) and service checks
//! (`_sc|name|status|...`) as OTLP log records.
//!
//! They are rare next to metrics, so this code allocates freely. Mapping: the body is
//! the event text (or the check's message); the title, check name, status, priority,
//! alert type, aggregation key and source type become `dogstatsd.*` attributes; `h:`
//! becomes `host.name`; tags become attributes; the alert type or check status sets the
//! severity; `d:` sets the time.

use weir_proto::common::v1::{any_value, AnyValue, KeyValue};
use weir_proto::logs::v1::{LogRecord, SeverityNumber};

use crate::line::tags;
use crate::reason::Reason;

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.to_string()))
}

fn body(value: String) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(value)),
    })
}

fn push_tags(record: &mut LogRecord, raw: &str) {
    for tag in tags(raw) {
        if tag.key.is_empty() || record.attributes.iter().any(|kv| kv.key == tag.key) {
            continue;
        }
        record.attributes.push(text(tag.key, tag.value));
    }
}

fn seconds(field: &str) -> Result<u64, Reason> {
    field
        .parse::<u64>()
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .ok_or(Reason::BadEvent)
}

fn severity(record: &mut LogRecord, number: SeverityNumber, text: &str) {
    record.severity_number = number as i32;
    record.severity_text = text.to_string();
}

/// Parses an event line. `now_ns` is the observed time (and the time when `d:` is absent).
pub fn parse_event(line: &str, now_ns: u64) -> Result<LogRecord, Reason> {
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

    let mut record = LogRecord {
        time_unix_nano: now_ns,
        observed_time_unix_nano: now_ns,
        body: body(event_text.replace("\\n", "\n")),
        attributes: vec![text("dogstatsd.event.title", title)],
        ..Default::default()
    };
    severity(&mut record, SeverityNumber::Info, "info");
    if !fields.is_empty() {
        let fields = fields.strip_prefix('|').ok_or(Reason::BadEvent)?;
        for field in fields.split('|') {
            let (prefix, value) =
                field.split_at(field.find(':').map_or(field.len().min(1), |i| i + 1));
            match prefix {
                "d:" => record.time_unix_nano = seconds(value)?,
                "h:" => record.attributes.push(text("host.name", value)),
                "k:" => record
                    .attributes
                    .push(text("dogstatsd.event.aggregation_key", value)),
                "p:" => record
                    .attributes
                    .push(text("dogstatsd.event.priority", value)),
                "s:" => record
                    .attributes
                    .push(text("dogstatsd.event.source_type", value)),
                "t:" => {
                    record
                        .attributes
                        .push(text("dogstatsd.event.alert_type", value));
                    match value {
                        "error" => severity(&mut record, SeverityNumber::Error, "error"),
                        "warning" => severity(&mut record, SeverityNumber::Warn, "warning"),
                        "success" => severity(&mut record, SeverityNumber::Info, "success"),
                        _ => {}
                    }
                }
                _ if field.starts_with('#') => push_tags(&mut record, &field[1..]),
                // Origin-detection fields of newer clients.
                "c:" | "e:" | "card:" => {}
                _ => return Err(Reason::BadEvent),
            }
        }
    }
    Ok(record)
}

/// Parses a service check line.
pub fn parse_service_check(line: &str, now_ns: u64) -> Result<LogRecord, Reason> {
    let rest = line.strip_prefix("_sc|").ok_or(Reason::BadEvent)?;
    let mut parts = rest.splitn(3, '|');
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or(Reason::BadEvent)?;
    let status = parts.next().ok_or(Reason::BadEvent)?;
    let mut record = LogRecord {
        time_unix_nano: now_ns,
        observed_time_unix_nano: now_ns,
        body: body(String::new()),
        attributes: vec![text("dogstatsd.service_check.name", name)],
        ..Default::default()
    };
    let (number, word) = match status {
        "0" => (SeverityNumber::Info, "ok"),
        "1" => (SeverityNumber::Warn, "warning"),
        "2" => (SeverityNumber::Error, "critical"),
        "3" => (SeverityNumber::Warn, "unknown"),
        _ => return Err(Reason::BadEvent),
    };
    severity(&mut record, number, word);
    record.attributes.push(attribute(
        "dogstatsd.service_check.status",
        any_value::Value::IntValue(status.parse().unwrap_or(3)),
    ));

    let mut rest = parts.next().unwrap_or("");
    while !rest.is_empty() {
        // `m:` runs to the end of the line and may contain `|`.
        if let Some(message) = rest.strip_prefix("m:") {
            record.body = body(message.replace("\\n", "\n"));
            break;
        }
        let (field, tail) = rest.split_once('|').unwrap_or((rest, ""));
        if let Some(ts) = field.strip_prefix("d:") {
            record.time_unix_nano = seconds(ts)?;
        } else if let Some(host) = field.strip_prefix("h:") {
            record.attributes.push(text("host.name", host));
        } else if let Some(raw) = field.strip_prefix('#') {
            push_tags(&mut record, raw);
        } else if !(field.starts_with("c:")
            || field.starts_with("e:")
            || field.starts_with("card:"))
        {
            return Err(Reason::BadEvent);
        }
        rest = tail;
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

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
