//! Reads the self-metrics back from their OpenMetrics text.
//!
//! The page shows the same numbers `/metrics` serves, so it reads them from the same
//! encoding rather than from a second path into the registry: what the page says and
//! what Prometheus scrapes cannot disagree. A reading costs one encode, once per poll.

use std::collections::BTreeMap;

use weir_api::telemetry::{CounterDef, GaugeDef};

/// One series' value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series name as encoded (counters carry `_total`).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of an OpenMetrics text; lines it cannot read are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices();
        let mut key = String::new();
        let end;
        loop {
            let (at, c) = chars.next()?;
            match c {
                '}' => {
                    end = at + 1;
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
        rest = &after[end..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// One series' labels and value.
type Series = (BTreeMap<String, String>, f64);

/// Samples indexed by name, for lookups by declaration.
#[derive(Debug, Default)]
pub struct Samples {
    by_name: BTreeMap<String, Vec<Series>>,
}

impl Samples {
    pub fn read(text: &str) -> Self {
        let mut by_name: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for sample in parse(text) {
            by_name
                .entry(sample.name)
                .or_default()
                .push((sample.labels, sample.value));
        }
        Self { by_name }
    }

    fn series<'a>(
        &'a self,
        name: &str,
        filter: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = (&'a BTreeMap<String, String>, f64)> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter(move |(labels, _)| {
                filter
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(labels, value)| (labels, *value))
    }

    /// The sum of counter `def` over the series whose labels match `filter`.
    pub fn counter(&self, def: &CounterDef, filter: &[(&str, &str)]) -> f64 {
        let name = format!("{}_total", def.name());
        self.series(&name, filter).map(|(_, v)| v).sum()
    }

    /// The sum of gauge `def` over the series whose labels match `filter`.
    pub fn gauge(&self, def: &GaugeDef, filter: &[(&str, &str)]) -> f64 {
        self.series(def.name(), filter).map(|(_, v)| v).sum()
    }

    /// Counter `def` summed by the value of label `by`, for the matching series; zeros
    /// left out.
    pub fn counter_by(
        &self,
        def: &CounterDef,
        filter: &[(&str, &str)],
        by: &str,
    ) -> BTreeMap<String, f64> {
        let name = format!("{}_total", def.name());
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for (labels, value) in self.series(&name, filter) {
            if value > 0.0 {
                let key = labels.get(by).cloned().unwrap_or_default();
                *out.entry(key).or_default() += value;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_api::telemetry::{names, Telemetry};

    #[test]
    fn reads_back_what_the_registry_encodes() {
        let t = Telemetry::new();
        t.counter_of(&names::ITEMS_DROPPED, &["filter", "traces", "filtered"])
            .inc_by(7);
        t.counter_of(&names::ITEMS_DROPPED, &["filter", "logs", "filtered"])
            .inc_by(2);
        t.gauge_of(&names::EXPORTER_QUEUE_SIZE, &["otlp/eu", "traces"])
            .set(12);
        let samples = Samples::read(&t.encode());
        assert_eq!(
            samples.counter(&names::ITEMS_DROPPED, &[("component", "filter")]),
            9.0
        );
        assert_eq!(
            samples.counter(
                &names::ITEMS_DROPPED,
                &[("component", "filter"), ("otel_signal", "logs")]
            ),
            2.0
        );
        let by_reason = samples.counter_by(&names::ITEMS_DROPPED, &[], "otel_signal");
        assert_eq!(by_reason.get("logs"), Some(&2.0));
        assert_eq!(
            samples.gauge(&names::EXPORTER_QUEUE_SIZE, &[("exporter", "otlp/eu")]),
            12.0
        );
        assert_eq!(
            samples.gauge(&names::EXPORTER_QUEUE_SIZE, &[("exporter", "x")]),
            0.0
        );
    }

    #[test]
    fn unreadable_lines_are_skipped() {
        assert!(parse("# HELP x y\nnot_a_sample\nx{a=\"b\"\n").is_empty());
        let parsed = parse("x 3\n# EOF\n");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].value, 3.0);
    }
}
