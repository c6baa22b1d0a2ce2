//! The StatsD / DogStatsD line parser.
//!
//! `name:value[:value...]|type[|@rate][|#tags][|c:container][|T<unix-seconds>]`
//!
//! The parser borrows from the line and never allocates: the result holds slices of
//! the input (the value list and the tag list stay unsplit, iterated later by
//! [`MetricLine::values`] and [`MetricLine::tags`]; a name with a SignalFx tag group cut
//! out of its middle is kept as two slices). That keeps the hot path at one pass over the
//! bytes plus one float parse per value, which is what lets one core take millions of
//! lines per second. Every check that can reject a line happens here, so aggregation
//! never has to undo half a line.
//!
//! Choices where StatsD dialects disagree (see README "Limits"):
//! - a leading `+` or `-` on a gauge value is a relative change (Etsy statsd);
//! - value packing (`name:1:2:3|h`) is accepted for every type except sets (DogStatsD);
//! - a bad sample rate rejects the line (the Collector does the same);
//! - an unknown field rejects the line, except DogStatsD's `e:` and `card:`, ignored;
//! - bare tags need `enable_simple_tags`, as in the Collector;
//! - with `tag_dialects`, tags written in the name (Librato `name#k=v`, InfluxDB
//!   `name,k=v`, SignalFx `na.[k=v]me`) are read the way prometheus/statsd_exporter
//!   reads them, and a line that also has DogStatsD `|#` tags is rejected
//!   (`mixed_tag_styles`) rather than guessing which list wins. See [`split_name_tags`].

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

/// Parser switches taken from the receiver's config. The default is the config's default.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// Accept bare tags (`#mykey`) as a key with an empty value.
    pub simple_tags: bool,
    /// Reject negative counter increments (cumulative counters must not go down).
    pub reject_negative_counters: bool,
    /// Read Librato, InfluxDB and SignalFx tags out of the name.
    pub tag_dialects: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            simple_tags: false,
            reject_negative_counters: false,
            tag_dialects: true,
        }
    }
}

/// How a line's tag list is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagSyntax {
    /// A DogStatsD `|#k:v,k2:v2` field.
    DogStatsd,
    /// `k=v,k2=v2` inside the name (Librato, InfluxDB or SignalFx).
    Name,
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
    /// The name, or its first part when a SignalFx tag group was cut out of the middle
    /// (`foo.[k=v]test` gives `foo.` here and `test` in `name_tail`).
    pub name: &'a str,
    /// The part of the name after a SignalFx tag group; empty otherwise.
    pub name_tail: &'a str,
    /// The value text: one value, or several separated by `:` (DogStatsD packing).
    /// For sets, the whole text is one member.
    pub raw_values: &'a str,
    pub kind: MetricType,
    /// In (0, 1]; 1 when absent.
    pub sample_rate: f64,
    /// The tag list, unsplit (after `|#`, or cut from the name); empty when absent.
    pub raw_tags: &'a str,
    /// How `raw_tags` is written; iterate it with [`MetricLine::tags`].
    pub tag_syntax: TagSyntax,
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

    /// The name in its (at most two) pieces; their concatenation is the metric name.
    pub fn name_parts(&self) -> [&'a str; 2] {
        [self.name, self.name_tail]
    }

    /// The line's tags, whichever syntax they were written in.
    pub fn tags(&self) -> impl Iterator<Item = Tag<'a>> {
        tags_in(self.raw_tags, self.tag_syntax)
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
    tags_in(raw, TagSyntax::DogStatsd)
}

/// Iterates a tag list written in `syntax`: entries separated by `,`, empty entries
/// skipped, each split at its first `:` (DogStatsD) or `=` (name dialects). Only
/// DogStatsD lists drop a stray leading `#`; in a name dialect it is part of the key.
pub fn tags_in(raw: &str, syntax: TagSyntax) -> impl Iterator<Item = Tag<'_>> {
    let (separator, strip_hash) = match syntax {
        TagSyntax::DogStatsd => (':', true),
        TagSyntax::Name => ('=', false),
    };
    raw.split(',').filter_map(move |entry| {
        let entry = match entry.strip_prefix('#') {
            Some(rest) if strip_hash => rest,
            _ => entry,
        };
        if entry.is_empty() {
            return None;
        }
        Some(match entry.split_once(separator) {
            Some((key, value)) => Tag { key, value },
            None => Tag {
                key: entry,
                value: "",
            },
        })
    })
}

/// A name split by [`split_name_tags`]: `head` + `tail` is the metric name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameTags<'a> {
    pub head: &'a str,
    pub tail: &'a str,
    /// `k=v,...` entries; empty when the name carries no tags.
    pub raw_tags: &'a str,
}

/// Cuts a tag list in a statsd_exporter dialect out of a metric name, as
/// statsd_exporter does:
/// - SignalFx first: the text between the first `[` and the first `]` is the tag list
///   and is removed from the name (`foo.[k=v]test` → `foo.test`). Later brackets stay
///   in the name. A lone bracket, or a `]` before the `[`, leaves the whole name as it
///   is (no other dialect is tried).
/// - Otherwise Librato (`#`) or InfluxDB (`,`): everything after the first `#` or `,`
///   is the tag list (`foo#k=v` and `foo,k=v` → `foo`).
///
/// One scan of the name finds out that a plain name has none of these bytes.
pub fn split_name_tags(name: &str) -> NameTags<'_> {
    let verbatim = NameTags {
        head: name,
        tail: "",
        raw_tags: "",
    };
    let bytes = name.as_bytes();
    let Some(first) = bytes
        .iter()
        .position(|b| matches!(b, b'[' | b']' | b'#' | b','))
    else {
        return verbatim;
    };
    let open = bytes[first..].iter().position(|&b| b == b'[');
    let close = bytes[first..].iter().position(|&b| b == b']');
    match (open.map(|i| i + first), close.map(|i| i + first)) {
        (Some(open), Some(close)) if open < close => NameTags {
            head: &name[..open],
            tail: &name[close + 1..],
            raw_tags: &name[open + 1..close],
        },
        (None, None) => NameTags {
            head: &name[..first],
            tail: "",
            raw_tags: &name[first + 1..],
        },
        _ => verbatim,
    }
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
    let name_tags = if options.tag_dialects {
        split_name_tags(name)
    } else {
        NameTags {
            head: name,
            tail: "",
            raw_tags: "",
        }
    };
    if name_tags.head.is_empty() && name_tags.tail.is_empty() {
        return Err(Reason::EmptyName);
    }
    let mut fields = fields.split('|');
    let kind = fields
        .next()
        .and_then(MetricType::from_field)
        .ok_or(Reason::UnknownType)?;
    check_values(raw_values, kind, options)?;

    let mut metric = MetricLine {
        name: name_tags.head,
        name_tail: name_tags.tail,
        raw_values,
        kind,
        sample_rate: 1.0,
        raw_tags: "",
        tag_syntax: TagSyntax::DogStatsd,
        container_id: "",
        timestamp: None,
    };
    let mut dogstatsd_tags = false;
    for field in fields {
        dogstatsd_tags |= field.starts_with('#');
        parse_field(field, &mut metric, options)?;
    }
    // An empty dialect group (`foo.[]test`, `foo#`) carries no tags, so it mixes with nothing.
    if name_tags.raw_tags.bytes().any(|b| b != b',') {
        if dogstatsd_tags {
            return Err(Reason::MixedTagStyles);
        }
        check_tags(name_tags.raw_tags, TagSyntax::Name, options)?;
        metric.raw_tags = name_tags.raw_tags;
        metric.tag_syntax = TagSyntax::Name;
    }
    Ok(metric)
}

/// Rejects a tag without a key, and a bare tag (no separator) unless simple tags are on.
fn check_tags(raw: &str, syntax: TagSyntax, options: &ParseOptions) -> Result<(), Reason> {
    let separator = match syntax {
        TagSyntax::DogStatsd => b':',
        TagSyntax::Name => b'=',
    };
    for tag in tags_in(raw, syntax) {
        if tag.key.is_empty() {
            return Err(Reason::BadTag);
        }
        if !options.simple_tags && !has_separator(raw, tag, separator) {
            return Err(Reason::BadTag);
        }
    }
    Ok(())
}

/// Checks a line's value text for `kind`: numbers (`:`-packed) for every type but sets,
/// one member for sets. The aggregator uses it alone for lines whose other parts it has
/// already checked.
pub fn check_values(raw: &str, kind: MetricType, options: &ParseOptions) -> Result<(), Reason> {
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
            // A second `|#` field would silently replace the first; refuse and count it.
            if !metric.raw_tags.is_empty() {
                return Err(Reason::BadTag);
            }
            check_tags(raw, TagSyntax::DogStatsd, options)?;
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

/// Whether `tag` was written as `key:value` / `key=value` (possibly with an empty value)
/// rather than as a bare `key`: the key is then followed by `separator` in `raw`.
fn has_separator(raw: &str, tag: Tag<'_>, separator: u8) -> bool {
    let key_end = tag.key.as_ptr() as usize + tag.key.len() - raw.as_ptr() as usize;
    raw.as_bytes().get(key_end) == Some(&separator)
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
    fn a_second_tag_field_is_refused_not_silently_replacing_the_first() {
        assert_eq!(reject("foo:1|c|#a:1|#b:2"), Reason::BadTag);
        assert_eq!(metric("foo:1|c|#a:1").raw_tags, "a:1");
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

    fn name_and_tags(line: &str) -> (String, Vec<(&str, &str)>) {
        let m = metric(line);
        let tags = m.tags().map(|t| (t.key, t.value)).collect();
        (m.name_parts().concat(), tags)
    }

    #[test]
    fn name_dialects() {
        let t12 = vec![("tag1", "bar"), ("tag2", "baz")];
        assert_eq!(
            name_and_tags("foo#tag1=bar,tag2=baz:100|c"),
            ("foo".into(), t12.clone())
        );
        assert_eq!(
            name_and_tags("foo,tag1=bar,tag2=baz:100|c"),
            ("foo".into(), t12.clone())
        );
        assert_eq!(
            name_and_tags("foo.[tag1=bar,tag2=baz]test:100|c"),
            ("foo.test".into(), t12)
        );
        assert_eq!(name_and_tags("foo.[]test:1|c"), ("foo.test".into(), vec![]));
        // Values keep later `=`, `#` and `,` only split entries; `#` is part of a key.
        assert_eq!(
            name_and_tags("a,k=x=y,#h=1,,:1|c"),
            ("a".into(), vec![("k", "x=y"), ("#h", "1")])
        );
        // SignalFx wins over a `#`/`,` before the bracket, and only the first group counts.
        assert_eq!(
            name_and_tags("a,b=1.[c=2]d.[e=3]:1|c"),
            ("a,b=1.d.[e=3]".into(), vec![("c", "2")])
        );
        // Unbalanced brackets: verbatim, and no other dialect is tried.
        for name in ["[k=v,a#b", "a]b", "a]b[c=1", "x,y]z[k=v]"] {
            assert_eq!(name_and_tags(&format!("{name}:1|g")), (name.into(), vec![]));
        }
        // Empty groups carry nothing.
        assert_eq!(name_and_tags("foo#:1|c"), ("foo".into(), vec![]));
        assert_eq!(
            name_and_tags("foo,,:1|c|#a:b"),
            ("foo".into(), vec![("a", "b")])
        );
    }

    #[test]
    fn name_dialect_rejections() {
        assert_eq!(reject("foo#a=1:1|c|#b:2"), Reason::MixedTagStyles);
        assert_eq!(reject("foo.[a=1]x:1|c|#"), Reason::MixedTagStyles);
        assert_eq!(reject("foo,bare:1|c"), Reason::BadTag);
        assert_eq!(reject("foo,=v:1|c"), Reason::BadTag);
        assert_eq!(reject("#a=1:1|c"), Reason::EmptyName);
        assert_eq!(reject("[a=1]:1|c"), Reason::EmptyName);
        let simple = ParseOptions {
            simple_tags: true,
            ..Default::default()
        };
        let Ok(Some(Line::Metric(m))) = parse_line("foo,bare,k=:1|c", &simple) else {
            panic!("bare dialect tag with simple tags");
        };
        let tags: Vec<_> = m.tags().map(|t| (t.key, t.value)).collect();
        assert_eq!(tags, vec![("bare", ""), ("k", "")]);
    }

    #[test]
    fn dialects_off_keeps_names_verbatim() {
        let off = ParseOptions {
            tag_dialects: false,
            ..Default::default()
        };
        for line in [
            "foo#a=1:1|c|#b:2",
            "foo.[a=1]x:1|c",
            "#a=1:1|c",
            "foo,bare:1|c",
        ] {
            let Ok(Some(Line::Metric(m))) = parse_line(line, &off) else {
                panic!("{line}");
            };
            assert_eq!(Some(m.name), line.split(':').next());
            assert_eq!(m.name_tail, "");
            assert_eq!(m.tag_syntax, TagSyntax::DogStatsd);
        }
    }
}
