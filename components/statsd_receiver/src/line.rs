//! The StatsD / DogStatsD line parser.
//!
//! `name:value[:value...]|type[|@rate][|#tags][|c:container][|T<unix-seconds>]`
//!
//! The parser borrows from the line and never allocates: the result holds slices of
//! the input (the value list and the tag list stay unsplit, iterated later by
//! [`MetricLine::values`] and [`tags`]). That keeps the hot path at one pass over the
//! bytes plus one float parse per value, which is what lets one core take millions of
//! lines per second. Every check that can reject a line happens here, so aggregation
//! never has to undo half a line.
//!
//! Choices where StatsD dialects disagree (see README "Limits"):
//! - a leading `+` or `-` on a gauge value is a relative change (Etsy statsd);
//! - value packing (`name:1:2:3|h`) is accepted for every type except sets (DogStatsD);
//! - a bad sample rate rejects the line (the Collector does the same);
//! - an unknown field rejects the line, except DogStatsD's `e:` and `card:`, ignored;
//! - bare tags need `enable_simple_tags`, as in the Collector.

use crate::reason::Reason;

/// Lines longer than this are rejected with `too_long`. DogStatsD clients keep
/// datagrams under 8 KiB; 16 KiB leaves room for long tag lists.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// The StatsD metric types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    Counter,
    Gauge,
    Timer,
    Histogram,
    Distribution,
    Set,
}

impl MetricType {
    fn from_field(field: &str) -> Option<Self> {
        Some(match field {
            "c" => MetricType::Counter,
            "g" => MetricType::Gauge,
            "ms" => MetricType::Timer,
            "h" => MetricType::Histogram,
            "d" => MetricType::Distribution,
            "s" => MetricType::Set,
            _ => return None,
        })
    }

    /// The wire spelling (`c`, `g`, ...).
    pub fn symbol(self) -> &'static str {
        match self {
            MetricType::Counter => "c",
            MetricType::Gauge => "g",
            MetricType::Timer => "ms",
            MetricType::Histogram => "h",
            MetricType::Distribution => "d",
            MetricType::Set => "s",
        }
    }

    /// The `metric_type` attribute value written when `enable_metric_type` is on (the
    /// Collector's names).
    pub fn type_name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Timer => "timing",
            MetricType::Histogram => "histogram",
            MetricType::Distribution => "distribution",
            MetricType::Set => "set",
        }
    }

    /// A stable byte for series keys.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Timer,
            MetricType::Histogram,
            MetricType::Distribution,
            MetricType::Set,
        ]
        .get(code as usize)
        .copied()
    }
}

/// Parser switches taken from the receiver's config.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// Accept bare tags (`#mykey`) as a key with an empty value.
    pub simple_tags: bool,
    /// Reject negative counter increments (cumulative counters must not go down).
    pub reject_negative_counters: bool,
}

/// One parsed line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Line<'a> {
    Metric(MetricLine<'a>),
    /// A DogStatsD event, the whole line (`_e{..}:..`); see [`crate::events`].
    Event(&'a str),
    /// A DogStatsD service check, the whole line (`_sc|..`).
    ServiceCheck(&'a str),
}

/// A metric line, borrowing from the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricLine<'a> {
    pub name: &'a str,
    /// The value text: one value, or several separated by `:` (DogStatsD packing).
    /// For sets, the whole text is one member.
    pub raw_values: &'a str,
    pub kind: MetricType,
    /// In (0, 1]; 1 when absent.
    pub sample_rate: f64,
    /// The tag list after `#`, unsplit; empty when absent.
    pub raw_tags: &'a str,
    /// The DogStatsD container id (`|c:`), empty when absent.
    pub container_id: &'a str,
    /// The DogStatsD point time (`|T`), seconds since the epoch.
    pub timestamp: Option<u64>,
}

/// One value of a metric line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Value {
    pub number: f64,
    /// The text started with `+` or `-`: for gauges, a change rather than a new value.
    pub signed: bool,
}

impl<'a> MetricLine<'a> {
    /// The numeric values (checked by the parser, so none fail here). Empty for sets.
    pub fn values(&self) -> impl Iterator<Item = Value> + 'a {
        let raw = if self.kind == MetricType::Set {
            ""
        } else {
            self.raw_values
        };
        raw.split(':').filter(|v| !v.is_empty()).filter_map(|text| {
            parse_number(text).map(|number| Value {
                number,
                signed: text.starts_with(['+', '-']),
            })
        })
    }

    /// The set member (sets only).
    pub fn set_member(&self) -> &'a str {
        self.raw_values
    }
}

/// A tag: key and value (empty for a bare tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

/// Iterates a DogStatsD tag list (`k:v,k2:v2,bare`), skipping empty entries and a
/// stray `#` before a tag (the PHP client sends `#a:1,#b:2`). Splits at the first `:`.
pub fn tags(raw: &str) -> impl Iterator<Item = Tag<'_>> {
    raw.split(',').filter_map(|entry| {
        let entry = entry.strip_prefix('#').unwrap_or(entry);
        if entry.is_empty() {
            return None;
        }
        Some(match entry.split_once(':') {
            Some((key, value)) => Tag { key, value },
            None => Tag {
                key: entry,
                value: "",
            },
        })
    })
}

/// Parses one line given as bytes (checks UTF-8 and length first). `Ok(None)` for an
/// empty line, which is not an error.
pub fn parse_line_bytes<'a>(
    line: &'a [u8],
    options: &ParseOptions,
) -> Result<Option<Line<'a>>, Reason> {
    if line.len() > MAX_LINE_BYTES {
        return Err(Reason::TooLong);
    }
    let text = std::str::from_utf8(line).map_err(|_| Reason::InvalidUtf8)?;
    parse_line(text, options)
}

/// Parses one line known to be UTF-8. `Ok(None)` for an empty line.
pub fn parse_line<'a>(line: &'a str, options: &ParseOptions) -> Result<Option<Line<'a>>, Reason> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Ok(None);
    }
    if line.len() > MAX_LINE_BYTES {
        return Err(Reason::TooLong);
    }
    if line.starts_with("_e{") {
        return Ok(Some(Line::Event(line)));
    }
    if line.starts_with("_sc|") {
        return Ok(Some(Line::ServiceCheck(line)));
    }
    parse_metric(line, options).map(|metric| Some(Line::Metric(metric)))
}

fn parse_metric<'a>(line: &'a str, options: &ParseOptions) -> Result<MetricLine<'a>, Reason> {
    let Some((head, fields)) = line.split_once('|') else {
        return Err(if line.contains(':') {
            Reason::MissingType
        } else {
            Reason::MissingValue
        });
    };
    let Some((name, raw_values)) = head.split_once(':') else {
        return Err(if head.is_empty() {
            Reason::EmptyName
        } else {
            Reason::MissingValue
        });
    };
    if name.is_empty() {
        return Err(Reason::EmptyName);
    }
    let mut fields = fields.split('|');
    let kind = fields
        .next()
        .and_then(MetricType::from_field)
        .ok_or(Reason::UnknownType)?;
    check_values(raw_values, kind, options)?;

    let mut metric = MetricLine {
        name,
        raw_values,
        kind,
        sample_rate: 1.0,
        raw_tags: "",
        container_id: "",
        timestamp: None,
    };
    for field in fields {
        parse_field(field, &mut metric, options)?;
    }
    Ok(metric)
}

fn check_values(raw: &str, kind: MetricType, options: &ParseOptions) -> Result<(), Reason> {
    if raw.is_empty() {
        return Err(Reason::BadValue);
    }
    if kind == MetricType::Set {
        // A member is any text; packing is not defined for sets.
        return if raw.contains(':') {
            Err(Reason::BadValue)
        } else {
            Ok(())
        };
    }
    for text in raw.split(':') {
        let number = parse_number(text).ok_or(Reason::BadValue)?;
        if kind == MetricType::Counter && options.reject_negative_counters && number < 0.0 {
            return Err(Reason::NegativeCounter);
        }
    }
    Ok(())
}

/// A finite decimal number. Rust's float parser also takes `inf` and `NaN`, which no
/// StatsD client sends on purpose and no backend can store, so those are refused.
fn parse_number(text: &str) -> Option<f64> {
    let first = *text.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_field<'a>(
    field: &'a str,
    metric: &mut MetricLine<'a>,
    options: &ParseOptions,
) -> Result<(), Reason> {
    let bytes = field.as_bytes();
    match bytes.first() {
        None => Err(Reason::BadField),
        Some(b'@') => {
            let rate = parse_number(&field[1..]).ok_or(Reason::BadSampleRate)?;
            if rate <= 0.0 || rate > 1.0 {
                return Err(Reason::BadSampleRate);
            }
            metric.sample_rate = rate;
            Ok(())
        }
        Some(b'#') => {
            let raw = &field[1..];
            for tag in tags(raw) {
                if tag.key.is_empty() {
                    return Err(Reason::BadTag);
                }
                if !options.simple_tags && !has_colon(raw, tag) {
                    return Err(Reason::BadTag);
                }
            }
            metric.raw_tags = raw;
            Ok(())
        }
        Some(b'T') => {
            let digits = &field[1..];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Reason::BadTimestamp);
            }
            metric.timestamp = Some(digits.parse().map_err(|_| Reason::BadTimestamp)?);
            Ok(())
        }
        _ if field.starts_with("c:") => {
            let id = &field[2..];
            if id.is_empty() {
                return Err(Reason::BadField);
            }
            metric.container_id = id;
            Ok(())
        }
        // DogStatsD origin detection (external data, tag cardinality): not ours to use,
        // but sent by current Datadog clients, so they must not reject the line.
        _ if field.starts_with("e:") || field.starts_with("card:") => Ok(()),
        _ => Err(Reason::BadField),
    }
}

/// Whether `tag` was written as `key:value` (possibly with an empty value) rather than
/// as a bare `key`: the value slice then starts right after a `:` in `raw`.
fn has_colon(raw: &str, tag: Tag<'_>) -> bool {
    let key_end = tag.key.as_ptr() as usize + tag.key.len() - raw.as_ptr() as usize;
    raw.as_bytes().get(key_end) == Some(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(line: &str) -> MetricLine<'_> {
        match parse_line(line, &ParseOptions::default()) {
            Ok(Some(Line::Metric(m))) => m,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn reject(line: &str) -> Reason {
        match parse_line(line, &ParseOptions::default()) {
            Err(reason) => reason,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn full_dogstatsd_line() {
        let m = metric("requests:100|c|@0.1|#service:web,a:b:c|c:abc123|T1656581400");
        assert_eq!(m.name, "requests");
        assert_eq!(m.kind, MetricType::Counter);
        assert_eq!(m.sample_rate, 0.1);
        assert_eq!(m.container_id, "abc123");
        assert_eq!(m.timestamp, Some(1656581400));
        let t: Vec<_> = tags(m.raw_tags).collect();
        assert_eq!(
            t[1],
            Tag {
                key: "a",
                value: "b:c"
            }
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(reject("foo"), Reason::MissingValue);
        assert_eq!(reject("foo:1"), Reason::MissingType);
        assert_eq!(reject("foo:|c"), Reason::BadValue);
        assert_eq!(reject("foo:nan|c"), Reason::BadValue);
        assert_eq!(reject("foo:inf|g"), Reason::BadValue);
        assert_eq!(reject("foo:1|x"), Reason::UnknownType);
        assert_eq!(reject("foo:1|c|@1.5"), Reason::BadSampleRate);
        assert_eq!(reject("foo:1|c|#:v"), Reason::BadTag);
        assert_eq!(reject("foo:1|c|c"), Reason::BadField);
        assert_eq!(reject("foo:1|c|T-1"), Reason::BadTimestamp);
        assert_eq!(reject("foo:a:b|s"), Reason::BadValue);
        let long = format!("foo:1|c|#k:{}", "v".repeat(MAX_LINE_BYTES));
        assert_eq!(reject(&long), Reason::TooLong);
    }

    #[test]
    fn simple_tags_switch() {
        let options = ParseOptions {
            simple_tags: true,
            ..Default::default()
        };
        assert!(parse_line("foo:1|c|#bare,k:", &options).is_ok());
        assert_eq!(reject("foo:1|c|#bare"), Reason::BadTag);
        // `k:` is a key with an empty value, not a bare tag.
        assert!(parse_line("foo:1|c|#k:", &ParseOptions::default()).is_ok());
    }

    #[test]
    fn ignored_origin_fields_and_crlf() {
        let m = metric("foo:1|c|e:it-false,cn-x|card:high\r");
        assert_eq!(m.kind, MetricType::Counter);
    }

    #[test]
    fn negative_counters_only_rejected_when_asked() {
        assert_eq!(
            metric("foo:-1|c").values().next().map(|v| v.number),
            Some(-1.0)
        );
        let options = ParseOptions {
            reject_negative_counters: true,
            ..Default::default()
        };
        assert_eq!(
            parse_line("foo:-1|c", &options),
            Err(Reason::NegativeCounter)
        );
    }
}
