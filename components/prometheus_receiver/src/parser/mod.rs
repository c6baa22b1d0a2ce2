//! Parsers for the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! Why line by line: a scrape body can be tens of megabytes, and the receiver wants to
//! turn it into OTLP while it is still arriving instead of holding it whole. So the parser
//! takes one line at a time ([`Parser::parse_line`]) and keeps only the state the formats
//! need across lines (the current metric family, and in strict mode the grouping checks).
//! A sample borrows its name and label values from the line; only label values with
//! escape sequences are copied into a scratch buffer reused for every line.
//!
//! Two levels of checking:
//! - always: the syntax of both formats, metadata rules (one HELP/TYPE/UNIT per family,
//!   never after its samples), the labels a type needs (`le`, `quantile`, the stateset
//!   label), `# EOF` for OpenMetrics. This is what decides whether a scrape succeeds.
//! - strict (OpenMetrics only, [`Parser::strict`]): every semantic rule of the OpenMetrics
//!   1.0 specification, as the official parser test suite checks them (counter-like
//!   values never negative or NaN, histogram structure, grouping and timestamp order,
//!   clashing names, ...). Real exporters break some of these rules (client_golang writes
//!   a negative `_sum` beside negative buckets), and Prometheus itself does not enforce
//!   them, so scrapes use the lenient level.

mod lex;
mod openmetrics;
mod text;

use std::fmt;

use lex::LabelSpan;

/// The exposition format of a body, chosen from the response's Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4` (also what an unknown or missing Content-Type means).
    PrometheusText,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The format a Content-Type header announces; anything else is read as text 0.0.4,
    /// as Prometheus does.
    pub fn from_content_type(content_type: &str) -> Self {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// A metric family's type, as declared by `# TYPE` (or `Unknown` without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// OpenMetrics `unknown`, text `untyped`, or no TYPE line.
    Unknown,
}

/// A metric family's metadata.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
}

impl Family {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            kind: MetricType::Unknown,
            help: String::new(),
            unit: String::new(),
        }
    }

    /// What the sample name adds to the family name (`_bucket`, `_total`, `` ...).
    pub fn suffix_of<'s>(&self, sample_name: &'s str) -> &'s str {
        sample_name.strip_prefix(self.name.as_str()).unwrap_or("")
    }
}

/// A label set that borrows from the line (and the parser's scratch buffer).
#[derive(Clone, Copy)]
pub struct Labels<'a> {
    line: &'a str,
    scratch: &'a str,
    spans: &'a [LabelSpan],
}

impl<'a> Labels<'a> {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// `(name, value)` pairs in the order written.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let (line, scratch) = (self.line, self.scratch);
        self.spans.iter().map(move |span| {
            let name = &line[span.name.start as usize..span.name.end as usize];
            let source = if span.value_in_scratch { scratch } else { line };
            (
                name,
                &source[span.value.start as usize..span.value.end as usize],
            )
        })
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl fmt::Debug for Labels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// An OpenMetrics exemplar.
#[derive(Clone, Copy, Debug)]
pub struct Exemplar<'a> {
    pub labels: Labels<'a>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// One sample line.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// The family the sample belongs to (its metadata).
    pub family: &'a Family,
    /// The series name as written (`http_requests_total`, `latency_bucket`).
    pub name: &'a str,
    pub labels: Labels<'a>,
    pub value: f64,
    /// The explicit timestamp, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar<'a>>,
}

/// Why a body is not a valid exposition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A sample as located in the line, before it is handed out.
pub(crate) struct RawSample {
    pub name: std::ops::Range<usize>,
    pub labels: usize,
    pub value: f64,
    /// Seconds for OpenMetrics (a float), milliseconds for text (an integer).
    pub timestamp: Option<f64>,
    pub exemplar: Option<RawExemplar>,
}

pub(crate) struct RawExemplar {
    pub labels: std::ops::Range<usize>,
    pub value: f64,
    pub timestamp_seconds: Option<f64>,
}

/// Parses one exposition line by line. See the module docs.
pub struct Parser {
    format: Format,
    line_no: usize,
    /// Label spans of the current line: the sample's first, then the exemplar's.
    spans: Vec<LabelSpan>,
    scratch: String,
    text: text::TextState,
    om: openmetrics::OmState,
}

impl Parser {
    /// A parser with the lenient checks scrapes use.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            line_no: 0,
            spans: Vec::new(),
            scratch: String::new(),
            text: text::TextState::default(),
            om: openmetrics::OmState::new(false),
        }
    }

    /// A parser that also enforces every semantic rule of OpenMetrics 1.0.
    pub fn strict(format: Format) -> Self {
        let mut parser = Self::new(format);
        parser.om = openmetrics::OmState::new(true);
        parser
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Parses one line, without its `\n`. `terminated` is false only for a last line that
    /// had no newline (the text format requires one after a sample). Returns the sample
    /// the line holds, if any.
    pub fn parse_line<'a>(
        &'a mut self,
        line: &'a [u8],
        terminated: bool,
    ) -> Result<Option<Sample<'a>>, ParseError> {
        self.line_no += 1;
        self.spans.clear();
        self.scratch.clear();
        let line_no = self.line_no;
        let error = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line =
            std::str::from_utf8(line).map_err(|_| error("line is not valid UTF-8".into()))?;
        let raw = match self.format {
            Format::PrometheusText => self
                .text
                .line(line, terminated, &mut self.spans, &mut self.scratch)
                .map_err(error)?,
            Format::OpenMetrics => self
                .om
                .line(line, &mut self.spans, &mut self.scratch)
                .map_err(error)?,
        };
        let Some(raw) = raw else { return Ok(None) };
        let family = match self.format {
            Format::PrometheusText => self.text.current_family(),
            Format::OpenMetrics => self.om.current_family(),
        };
        let labels_of = |range: std::ops::Range<usize>| Labels {
            line,
            scratch: &self.scratch,
            spans: &self.spans[range],
        };
        let timestamp_ms = raw.timestamp.map(|ts| match self.format {
            Format::OpenMetrics => lex::seconds_to_millis(ts),
            Format::PrometheusText => ts as i64,
        });
        Ok(Some(Sample {
            family,
            name: &line[raw.name],
            labels: labels_of(0..raw.labels),
            value: raw.value,
            timestamp_ms,
            exemplar: raw.exemplar.map(|e| Exemplar {
                labels: labels_of(e.labels),
                value: e.value,
                timestamp_ms: e.timestamp_seconds.map(lex::seconds_to_millis),
            }),
        }))
    }

    /// Ends the input: runs the checks that need the whole family or document
    /// (`# EOF` present, the last family's structure).
    pub fn finish(&mut self) -> Result<(), ParseError> {
        let line = self.line_no;
        match self.format {
            Format::PrometheusText => Ok(()),
            Format::OpenMetrics => self
                .om
                .finish()
                .map_err(|message| ParseError { line, message }),
        }
    }
}

/// Parses a whole body held in memory, calling `on_sample` for each sample. Returns the
/// number of samples. The receiver feeds lines as they arrive instead; this is for tests
/// and small bodies.
pub fn parse_all(
    parser: &mut Parser,
    body: &[u8],
    mut on_sample: impl FnMut(&Sample<'_>),
) -> Result<usize, ParseError> {
    let mut samples = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let (line, terminated, next) = match rest.iter().position(|b| *b == b'\n') {
            Some(n) => (&rest[..n], true, &rest[n + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        if let Some(sample) = parser.parse_line(line, terminated)? {
            samples += 1;
            on_sample(&sample);
        }
        rest = next;
    }
    parser.finish()?;
    Ok(samples)
}
