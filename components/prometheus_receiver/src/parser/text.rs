//! The Prometheus text format 0.0.4, with the rules prometheus/common's parser applies
//! (the reference the client libraries test against): blanks and tabs between tokens,
//! comments anywhere, one HELP and one TYPE per family with TYPE before the samples,
//! integer millisecond timestamps, and families that need not be contiguous (so they are
//! kept in a map for the length of one scrape).

use std::collections::HashMap;

use super::lex::{self, LabelSpan, LabelSyntax};
use super::{Family, MetricType, RawSample};

const SYNTAX: LabelSyntax = LabelSyntax {
    relaxed_whitespace: true,
    keep_unknown_escapes: false,
};

struct FamilyState {
    family: Family,
    typed: bool,
    help_seen: bool,
    has_samples: bool,
}

#[derive(Default)]
pub(crate) struct TextState {
    families: Vec<FamilyState>,
    by_name: HashMap<String, usize, foldhash::fast::RandomState>,
    current: usize,
    help: String,
}

fn skip_blanks(line: &str, pos: &mut usize) {
    let bytes = line.as_bytes();
    while matches!(bytes.get(*pos), Some(b' ' | b'\t')) {
        *pos += 1;
    }
}

fn token(line: &str, pos: &mut usize) -> std::ops::Range<usize> {
    let start = *pos;
    let bytes = line.as_bytes();
    while bytes.get(*pos).is_some_and(|b| *b != b' ' && *b != b'\t') {
        *pos += 1;
    }
    start..*pos
}

impl TextState {
    pub(crate) fn current_family(&self) -> &Family {
        &self.families[self.current].family
    }

    /// The family a name belongs to: itself, or the summary/histogram it is a
    /// `_sum`/`_count`/`_bucket` of, or a new untyped family.
    fn family_for(&mut self, name: &str) -> usize {
        // Samples follow their family's TYPE line: try the family in hand first.
        if let Some(state) = self.families.get(self.current) {
            let family = &state.family;
            if let Some(suffix) = name.strip_prefix(family.name.as_str()) {
                let fits = match suffix {
                    "" => true,
                    "_count" | "_sum" => {
                        matches!(family.kind, MetricType::Summary | MetricType::Histogram)
                    }
                    "_bucket" => family.kind == MetricType::Histogram,
                    _ => false,
                };
                // Only when no family of the exact name exists elsewhere (it would win).
                if fits && (suffix.is_empty() || !self.by_name.contains_key(name)) {
                    return self.current;
                }
            }
        }
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
        for (suffix, kinds) in [
            ("_count", &[MetricType::Summary, MetricType::Histogram][..]),
            ("_sum", &[MetricType::Summary, MetricType::Histogram][..]),
            ("_bucket", &[MetricType::Histogram][..]),
        ] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(&index) = self.by_name.get(base) {
                    if kinds.contains(&self.families[index].family.kind) {
                        return index;
                    }
                }
            }
        }
        self.families.push(FamilyState {
            family: Family::new(name),
            typed: false,
            help_seen: false,
            has_samples: false,
        });
        self.by_name
            .insert(name.to_string(), self.families.len() - 1);
        self.families.len() - 1
    }

    pub(crate) fn line(
        &mut self,
        line: &str,
        terminated: bool,
        spans: &mut Vec<LabelSpan>,
        scratch: &mut String,
    ) -> Result<Option<RawSample>, String> {
        let mut pos = 0;
        skip_blanks(line, &mut pos);
        match line.as_bytes().get(pos) {
            None => Ok(None),
            Some(b'#') => {
                self.comment(line, pos + 1)?;
                Ok(None)
            }
            Some(_) => {
                if !terminated {
                    return Err("unexpected end of input: the last sample has no newline".into());
                }
                self.sample(line, pos, spans, scratch).map(Some)
            }
        }
    }

    fn comment(&mut self, line: &str, mut pos: usize) -> Result<(), String> {
        skip_blanks(line, &mut pos);
        let keyword = &line[token(line, &mut pos)];
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(()); // a plain comment
        }
        skip_blanks(line, &mut pos);
        let name_start = pos;
        pos += lex::metric_name_len(&line[pos..]);
        let name = &line[name_start..pos];
        if pos == line.len() {
            return Ok(()); // `# HELP` or `# HELP name` alone: not an error
        }
        if !matches!(line.as_bytes()[pos], b' ' | b'\t') || name.is_empty() {
            return Err(format!("invalid metric name in {keyword} line"));
        }
        let index = self.family_for(name);
        skip_blanks(line, &mut pos);
        if pos == line.len() {
            return Ok(());
        }
        let rest = &line[pos..];
        let state = &mut self.families[index];
        if keyword == "HELP" {
            if state.help_seen {
                return Err(format!("second HELP line for metric `{name}`"));
            }
            state.help_seen = true;
            lex::unescape_help(rest, &mut self.help);
            state.family.help.clone_from(&self.help);
        } else {
            if state.typed || state.has_samples {
                return Err(format!(
                    "second TYPE line for metric `{name}`, or TYPE after its samples"
                ));
            }
            state.family.kind = match rest.to_ascii_lowercase().as_str() {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "summary" => MetricType::Summary,
                "untyped" => MetricType::Unknown,
                _ => return Err(format!("unknown metric type `{rest}`")),
            };
            state.typed = true;
        }
        Ok(())
    }

    fn sample(
        &mut self,
        line: &str,
        mut pos: usize,
        spans: &mut Vec<LabelSpan>,
        scratch: &mut String,
    ) -> Result<RawSample, String> {
        let name_start = pos;
        pos += lex::metric_name_len(&line[pos..]);
        let name = &line[name_start..pos];
        if !lex::is_metric_name(name) {
            return Err("invalid metric name".into());
        }
        skip_blanks(line, &mut pos);
        if line.as_bytes().get(pos) == Some(&b'{') {
            lex::parse_labels(line, &mut pos, SYNTAX, spans, scratch)?;
            skip_blanks(line, &mut pos);
        } else if pos == name_start + name.len() {
            return Err("expected a blank or `{` after the metric name".into());
        }
        let value_text = &line[token(line, &mut pos)];
        let value = lex::parse_value(value_text)
            .ok_or_else(|| format!("invalid sample value `{value_text}`"))?;
        skip_blanks(line, &mut pos);
        let mut timestamp = None;
        if pos < line.len() {
            let ts_text = &line[token(line, &mut pos)];
            let ts: i64 = ts_text.parse().map_err(|_| {
                format!("invalid timestamp `{ts_text}` (integer milliseconds expected)")
            })?;
            timestamp = Some(ts as f64);
            skip_blanks(line, &mut pos);
            if pos < line.len() {
                return Err("unexpected text after the timestamp".into());
            }
        }

        let index = self.family_for(name);
        self.current = index;
        let state = &mut self.families[index];
        state.has_samples = true;
        let labels = super::Labels {
            line,
            scratch: scratch.as_str(),
            spans: &spans[..],
        };
        if labels.get("__name__").is_some() {
            return Err("label name `__name__` is reserved".into());
        }
        let family = &state.family;
        let suffix = family.suffix_of(name);
        match family.kind {
            MetricType::Summary if suffix.is_empty() => {
                let quantile = labels
                    .get("quantile")
                    .ok_or("summary sample without `quantile` label")?;
                lex::parse_value(quantile)
                    .ok_or("expected a float as value of the `quantile` label")?;
            }
            MetricType::Histogram if suffix == "_bucket" => {
                let le = labels
                    .get("le")
                    .ok_or("histogram bucket without `le` label")?;
                lex::parse_value(le).ok_or("expected a float as value of the `le` label")?;
            }
            _ => {}
        }
        Ok(RawSample {
            name: name_start..name_start + name.len(),
            labels: spans.len(),
            value,
            timestamp,
            exemplar: None,
        })
    }
}
