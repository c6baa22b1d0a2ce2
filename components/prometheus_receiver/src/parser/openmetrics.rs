//! OpenMetrics 1.0: exact single-space syntax, `# EOF`, contiguous families whose
//! samples' names must fit their type's suffixes, exemplars, and (strict mode) the
//! specification's semantic rules, checked as the samples stream past: only the current
//! family's grouping state is kept (a hash per label group), never its samples.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::lex::{self, LabelSpan, LabelSyntax};
use super::{Family, Labels, MetricType, RawExemplar, RawSample};

const SYNTAX: LabelSyntax = LabelSyntax {
    relaxed_whitespace: false,
    keep_unknown_escapes: true,
};

/// The longest exemplar label set, in code points of names and values together.
const EXEMPLAR_MAX_CHARS: usize = 128;

fn suffixes(kind: MetricType) -> &'static [&'static str] {
    match kind {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Histogram => &["_count", "_sum", "_bucket", "_created"],
        MetricType::GaugeHistogram => &["_gcount", "_gsum", "_bucket"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[""],
    }
}

/// Per label group (a histogram's series, a summary's series, ...) in strict mode: the
/// state the specification's histogram rules need.
#[derive(Default)]
struct HistogramGroup {
    last_le: Option<f64>,
    last_bucket_value: f64,
    count: Option<f64>,
    has_negative_bucket: bool,
    has_sum: bool,
    has_gsum: bool,
    has_negative_gsum: bool,
}

impl HistogramGroup {
    fn check(&self, name: &str) -> Result<(), String> {
        if self.last_le != Some(f64::INFINITY) {
            return Err(format!("histogram `{name}` has no +Inf bucket"));
        }
        if self
            .count
            .is_some_and(|count| count != self.last_bucket_value)
        {
            return Err(format!(
                "histogram `{name}`: count does not match the +Inf bucket"
            ));
        }
        if (self.has_sum || self.has_gsum) && self.count.is_none() {
            return Err(format!("histogram `{name}` has a sum without a count"));
        }
        if !(self.has_sum || self.has_gsum) && self.count.is_some() {
            return Err(format!("histogram `{name}` has a count without a sum"));
        }
        if self.has_negative_bucket && self.has_sum {
            return Err(format!(
                "histogram `{name}` has negative buckets and a _sum"
            ));
        }
        if !self.has_negative_bucket && self.has_negative_gsum {
            return Err(format!(
                "gauge histogram `{name}` has a negative _gsum without negative buckets"
            ));
        }
        Ok(())
    }
}

pub(crate) struct OmState {
    strict: bool,
    family: Family,
    active: bool,
    typed: bool,
    help_seen: bool,
    unit_seen: bool,
    has_samples: bool,
    eof: bool,
    help: String,
    // strict mode only
    seen_names: HashSet<String>,
    group: Option<u64>,
    group_timestamp: Option<f64>,
    seen_groups: HashSet<u64>,
    histogram: Option<HistogramGroup>,
}

impl OmState {
    pub(crate) fn new(strict: bool) -> Self {
        Self {
            strict,
            family: Family::new(""),
            active: false,
            typed: false,
            help_seen: false,
            unit_seen: false,
            has_samples: false,
            eof: false,
            help: String::new(),
            seen_names: HashSet::new(),
            group: None,
            group_timestamp: None,
            seen_groups: HashSet::new(),
            histogram: None,
        }
    }

    pub(crate) fn current_family(&self) -> &Family {
        &self.family
    }

    pub(crate) fn line(
        &mut self,
        line: &str,
        spans: &mut Vec<LabelSpan>,
        scratch: &mut String,
    ) -> Result<Option<RawSample>, String> {
        if self.eof {
            return Err("text after # EOF".into());
        }
        if line.is_empty() {
            return Err("blank line".into());
        }
        if line == "# EOF" {
            self.eof = true;
            return Ok(None);
        }
        if line.starts_with('#') {
            self.metadata(line)?;
            return Ok(None);
        }
        let raw = parse_sample(line, spans, scratch)?;
        self.check_sample(line, &raw, spans, scratch)?;
        Ok(Some(raw))
    }

    pub(crate) fn finish(&mut self) -> Result<(), String> {
        self.end_family()?;
        if !self.eof {
            return Err("missing # EOF at the end".into());
        }
        Ok(())
    }

    fn start_family(&mut self, name: &str) -> Result<(), String> {
        self.end_family()?;
        self.family = Family::new(name);
        self.active = true;
        self.typed = false;
        self.help_seen = false;
        self.unit_seen = false;
        self.has_samples = false;
        self.group = None;
        self.group_timestamp = None;
        self.seen_groups.clear();
        self.histogram = None;
        Ok(())
    }

    fn end_family(&mut self) -> Result<(), String> {
        if !self.active {
            return Ok(());
        }
        self.active = false;
        let family = &self.family;
        if !family.unit.is_empty() {
            if !family.name.ends_with(&format!("_{}", family.unit)) {
                return Err(format!(
                    "unit `{}` is not a suffix of metric `{}`",
                    family.unit, family.name
                ));
            }
            if matches!(family.kind, MetricType::Info | MetricType::StateSet) {
                return Err(format!(
                    "metric `{}`: info and stateset metrics have no unit",
                    family.name
                ));
            }
        }
        if !self.strict {
            return Ok(());
        }
        if let Some(histogram) = self.histogram.take() {
            histogram.check(&family.name)?;
        }
        let own = suffixes(family.kind);
        let bare: &[&str] = if own.contains(&"") { &[] } else { &[""] };
        for suffix in own.iter().chain(bare) {
            let name = format!("{}{}", family.name, suffix);
            if !self.seen_names.insert(name.clone()) {
                return Err(format!(
                    "metric name `{name}` clashes with an earlier family"
                ));
            }
        }
        Ok(())
    }

    /// `# HELP name text`, `# TYPE name type`, `# UNIT name unit`: exactly one space
    /// between the four parts.
    fn metadata(&mut self, line: &str) -> Result<(), String> {
        let invalid = || format!("invalid metadata line `{line}`");
        let rest = line.strip_prefix("# ").ok_or_else(invalid)?;
        let (keyword, rest) = rest.split_once(' ').ok_or_else(invalid)?;
        let (name, value) = rest.split_once(' ').ok_or_else(invalid)?;
        if !lex::is_metric_name(name) {
            return Err(format!("invalid metric name `{name}` in {keyword} line"));
        }
        if self.active && name == self.family.name {
            if self.has_samples {
                return Err(format!("{keyword} line for `{name}` after its samples"));
            }
        } else {
            self.start_family(name)?;
        }
        match keyword {
            "HELP" => {
                if std::mem::replace(&mut self.help_seen, true) {
                    return Err(format!("second HELP line for `{name}`"));
                }
                lex::unescape_help(value, &mut self.help);
                self.family.help.clone_from(&self.help);
            }
            "TYPE" => {
                if std::mem::replace(&mut self.typed, true) {
                    return Err(format!("second TYPE line for `{name}`"));
                }
                self.family.kind = match value {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "gaugehistogram" => MetricType::GaugeHistogram,
                    "summary" => MetricType::Summary,
                    "info" => MetricType::Info,
                    "stateset" => MetricType::StateSet,
                    "unknown" => MetricType::Unknown,
                    _ => return Err(format!("invalid metric type `{value}`")),
                };
            }
            "UNIT" => {
                if std::mem::replace(&mut self.unit_seen, true) {
                    return Err(format!("second UNIT line for `{name}`"));
                }
                if !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
                {
                    return Err(format!("invalid unit `{value}`"));
                }
                value.clone_into(&mut self.family.unit);
            }
            _ => return Err(invalid()),
        }
        Ok(())
    }

    fn check_sample(
        &mut self,
        line: &str,
        raw: &RawSample,
        spans: &[LabelSpan],
        scratch: &str,
    ) -> Result<(), String> {
        let name = &line[raw.name.clone()];
        let allowed = self.active && {
            let kinds = if self.typed {
                suffixes(self.family.kind)
            } else {
                &[""]
            };
            name.strip_prefix(self.family.name.as_str())
                .is_some_and(|suffix| kinds.contains(&suffix))
        };
        if !allowed {
            self.start_family(name)?;
        }
        self.has_samples = true;
        let labels = Labels {
            line,
            scratch,
            spans: &spans[..raw.labels],
        };
        let family = &self.family;
        let suffix = family.suffix_of(name);
        let kind = family.kind;

        // Labels each type needs.
        let mut le = None;
        if kind == MetricType::StateSet && labels.get(&family.name).is_none() {
            return Err(format!("stateset sample without a `{}` label", family.name));
        }
        if suffix == "_bucket" && matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram)
        {
            let text = labels.get("le").ok_or("bucket without `le` label")?;
            let bound = lex::parse_value(text).ok_or("`le` label is not a number")?;
            if self.strict
                && (bound.is_nan() || (bound.is_infinite() && text != "+Inf" && text != "-Inf"))
            {
                return Err(format!("`le` value `{text}` is not canonical"));
            }
            le = Some(bound);
        }
        let is_quantile = kind == MetricType::Summary && suffix.is_empty();
        if is_quantile {
            let text = labels
                .get("quantile")
                .ok_or("summary sample without `quantile` label")?;
            let q = lex::parse_value(text).ok_or("`quantile` label is not a number")?;
            if self.strict && !(0.0..=1.0).contains(&q) {
                return Err(format!("quantile `{text}` is outside [0, 1]"));
            }
        }
        if let Some(exemplar) = &raw.exemplar {
            let exemplar_labels = Labels {
                line,
                scratch,
                spans: &spans[exemplar.labels.clone()],
            };
            let chars: usize = exemplar_labels
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum();
            if chars > EXEMPLAR_MAX_CHARS {
                return Err(format!(
                    "exemplar labels longer than {EXEMPLAR_MAX_CHARS} characters"
                ));
            }
        }
        if !self.strict {
            return Ok(());
        }
        self.check_semantics(name, suffix, kind, labels, raw, le)
    }

    /// The rules of the specification a lenient scrape does not enforce.
    fn check_semantics(
        &mut self,
        name: &str,
        suffix: &str,
        kind: MetricType,
        labels: Labels<'_>,
        raw: &RawSample,
        le: Option<f64>,
    ) -> Result<(), String> {
        let value = raw.value;
        let integral = value.is_finite() && value.fract() == 0.0;
        if (suffix == "_bucket" || suffix == "_count" || suffix == "_gcount") && !integral {
            return Err(format!("`{name}` must be an integer"));
        }
        let counter_like =
            ["_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"].contains(&suffix);
        if counter_like && value.is_nan() {
            return Err(format!("counter-like sample `{name}` is NaN"));
        }
        if counter_like && suffix != "_gsum" && value < 0.0 {
            return Err(format!("counter-like sample `{name}` is negative"));
        }
        match kind {
            MetricType::StateSet if value != 0.0 && value != 1.0 => {
                return Err("stateset values must be 0 or 1".into())
            }
            MetricType::Info if value != 1.0 => return Err("info values must be 1".into()),
            MetricType::Summary if suffix.is_empty() && value < 0.0 => {
                return Err("quantile values cannot be negative".into())
            }
            _ => {}
        }
        if raw.exemplar.is_some() {
            let allowed = (suffix == "_bucket"
                && matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram))
                || (suffix == "_total" && kind == MetricType::Counter);
            if !allowed {
                return Err(format!("exemplar not allowed on `{name}`"));
            }
        }

        // Grouping: a group's samples are contiguous, all with or all without timestamps,
        // and timestamps never go backwards.
        let family_label = (kind == MetricType::StateSet).then_some(self.family.name.as_str());
        let skipped = match (kind, suffix) {
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Some("le"),
            (MetricType::Summary, "") => Some("quantile"),
            _ => family_label,
        };
        let group = if kind == MetricType::Info {
            0
        } else {
            group_hash(labels, skipped)
        };
        let timestamp = raw.timestamp;
        let new_group = self.group != Some(group);
        if new_group && self.seen_groups.contains(&group) {
            return Err(format!(
                "samples of one group of `{}` are not together",
                self.family.name
            ));
        }
        if !new_group {
            if timestamp.is_some() != self.group_timestamp.is_some() {
                return Err("a mix of samples with and without timestamps in one group".into());
            }
            if kind != MetricType::Info
                && self
                    .group_timestamp
                    .zip(timestamp)
                    .is_some_and(|(a, b)| b < a)
            {
                return Err("timestamps went backwards within a group".into());
            }
        }

        if matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram) {
            let same = !new_group && self.group_timestamp == timestamp;
            if !same {
                if let Some(previous) = self.histogram.take() {
                    previous.check(&self.family.name)?;
                }
            }
            let histogram = self.histogram.get_or_insert_with(HistogramGroup::default);
            match suffix {
                "_bucket" => {
                    let bound = le.unwrap_or(f64::NAN);
                    if bound < 0.0 {
                        histogram.has_negative_bucket = true;
                    }
                    if histogram.last_le.is_some_and(|last| bound <= last) {
                        return Err(format!("buckets of `{}` out of order", self.family.name));
                    }
                    if value < histogram.last_bucket_value {
                        return Err(format!("bucket values of `{}` decrease", self.family.name));
                    }
                    histogram.last_le = Some(bound);
                    histogram.last_bucket_value = value;
                }
                "_count" | "_gcount" => histogram.count = Some(value),
                "_sum" => histogram.has_sum = true,
                "_gsum" => {
                    histogram.has_gsum = true;
                    histogram.has_negative_gsum |= value < 0.0;
                }
                _ => {}
            }
        }
        self.group = Some(group);
        self.group_timestamp = timestamp;
        self.seen_groups.insert(group);
        Ok(())
    }
}

/// An order-independent hash of a label set without `skipped`.
fn group_hash(labels: Labels<'_>, skipped: Option<&str>) -> u64 {
    labels
        .iter()
        .filter(|(name, _)| Some(*name) != skipped)
        .map(|pair| {
            let mut hasher = DefaultHasher::new();
            pair.hash(&mut hasher);
            hasher.finish()
        })
        .fold(0u64, u64::wrapping_add)
}

/// `name[{labels}] value [timestamp] [# {labels} value [timestamp]]`, single spaces.
fn parse_sample(
    line: &str,
    spans: &mut Vec<LabelSpan>,
    scratch: &mut String,
) -> Result<RawSample, String> {
    let bytes = line.as_bytes();
    let name_len = lex::metric_name_len(line);
    if !lex::is_metric_name(&line[..name_len]) {
        return Err("invalid metric name".into());
    }
    let mut pos = name_len;
    if bytes.get(pos) == Some(&b'{') {
        lex::parse_labels(line, &mut pos, SYNTAX, spans, scratch)?;
    }
    let labels = spans.len();
    if bytes.get(pos) != Some(&b' ') {
        return Err("expected one space before the value".into());
    }
    pos += 1;
    let mut fields = line[pos..].splitn(2, " # ");
    let sample_part = fields.next().unwrap_or("");
    let exemplar_part = fields.next();
    let mut words = sample_part.split(' ');
    let value_text = words.next().unwrap_or("");
    let value =
        lex::parse_value(value_text).ok_or_else(|| format!("invalid value `{value_text}`"))?;
    let timestamp = match words.next() {
        None => None,
        Some(text) => Some(
            lex::parse_om_timestamp(text).ok_or_else(|| format!("invalid timestamp `{text}`"))?,
        ),
    };
    if words.next().is_some() {
        return Err("unexpected text after the sample".into());
    }
    let exemplar = match exemplar_part {
        None => None,
        Some(text) => Some(parse_exemplar(
            line,
            line.len() - text.len(),
            spans,
            scratch,
        )?),
    };
    Ok(RawSample {
        name: 0..name_len,
        labels,
        value,
        timestamp,
        exemplar,
    })
}

/// `{labels} value [timestamp]` from `start` to the end of the line.
fn parse_exemplar(
    line: &str,
    start: usize,
    spans: &mut Vec<LabelSpan>,
    scratch: &mut String,
) -> Result<RawExemplar, String> {
    if line.as_bytes().get(start) != Some(&b'{') {
        return Err("exemplar without a label set".into());
    }
    let first = spans.len();
    let mut pos = start;
    lex::parse_labels(line, &mut pos, SYNTAX, spans, scratch)?;
    let rest = line[pos..]
        .strip_prefix(' ')
        .ok_or("expected one space after the exemplar labels")?;
    let mut words = rest.split(' ');
    let value_text = words.next().unwrap_or("");
    let value = lex::parse_value(value_text)
        .ok_or_else(|| format!("invalid exemplar value `{value_text}`"))?;
    let timestamp_seconds = match words.next() {
        None => None,
        Some(text) => Some(
            lex::parse_om_timestamp(text)
                .ok_or_else(|| format!("invalid exemplar timestamp `{text}`"))?,
        ),
    };
    if words.next().is_some() {
        return Err("unexpected text after the exemplar".into());
    }
    Ok(RawExemplar {
        labels: first..spans.len(),
        value,
        timestamp_seconds,
    })
}
