//! Turning a batch into text, one function per verbosity. Pure (no I/O), so the output
//! is tested directly and the exporter only decides where it goes.
//!
//! - basic: counts, as the Collector's one-line summary;
//! - normal: about one line per item: spans as `name trace_id span_id attrs`, data
//!   points as `name{attrs} value`, log records as `body attrs`;
//! - detailed: each resource as indented OTLP/JSON (Weir's encoder: ids in hex, default
//!   values omitted, keys sorted), after the `output` settings have hidden the parts and
//!   attributes the operator asked to hide.
//!
//! Everything is read through the batch's views; detailed output hides attributes with
//! the batch's edit API on a private copy, so the batch handed to other exporters is
//! untouched.

use std::fmt::Write;

use serde_json::Value;
use weir_api::batch::view::{Attributes, MetricType, MetricView, NumberValue, ValueRef};
use weir_api::{Batch, Signal};

use crate::config::{AttributeFilter, OutputSettings};

/// The counts the basic line reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub signal: Signal,
    pub resources: usize,
    /// Metrics only: the number of metrics (items are data points).
    pub metrics: usize,
    pub items: usize,
}

impl Summary {
    pub fn of(batch: &Batch) -> Self {
        let metrics = batch
            .metrics()
            .flat_map(|r| r.scopes())
            .map(|s| s.metrics().count())
            .sum();
        Self {
            signal: batch.signal(),
            resources: batch.resource_count(),
            metrics,
            items: batch.item_count(),
        }
    }

    /// `Traces`, `Metrics` or `Logs`: the Collector's message for the summary line.
    pub fn title(&self) -> &'static str {
        match self.signal {
            Signal::Traces => "Traces",
            Signal::Metrics => "Metrics",
            Signal::Logs => "Logs",
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (r, n) = (self.resources, self.items);
        match self.signal {
            Signal::Traces => write!(f, "Traces {{\"resource spans\": {r}, \"spans\": {n}}}"),
            Signal::Metrics => write!(
                f,
                "Metrics {{\"resource metrics\": {r}, \"metrics\": {}, \"data points\": {n}}}",
                self.metrics
            ),
            Signal::Logs => write!(f, "Logs {{\"resource logs\": {r}, \"log records\": {n}}}"),
        }
    }
}

/// Normal verbosity: one line per resource, then one per span, data point or record.
pub fn normal(batch: &Batch, output: &OutputSettings) -> String {
    let mut out = String::new();
    let record = &output.record;
    match batch.signal() {
        Signal::Traces => {
            for (i, rs) in batch.traces().enumerate() {
                resource_line(
                    &mut out,
                    "ResourceSpans",
                    i,
                    rs.resource().attributes(),
                    output,
                );
                if !record.enabled {
                    continue;
                }
                for span in rs.scopes().flat_map(|s| s.spans()) {
                    let _ = writeln!(
                        out,
                        "{} {} {}{}",
                        span.name(),
                        hex(span.trace_id()),
                        hex(span.span_id()),
                        attributes(span.attributes(), &record.attributes)
                    );
                }
            }
        }
        Signal::Metrics => {
            for (i, rm) in batch.metrics().enumerate() {
                resource_line(
                    &mut out,
                    "ResourceMetrics",
                    i,
                    rm.resource().attributes(),
                    output,
                );
                if !record.enabled {
                    continue;
                }
                for metric in rm.scopes().flat_map(|s| s.metrics()) {
                    metric_lines(&mut out, metric, &record.attributes);
                }
            }
        }
        Signal::Logs => {
            for (i, rl) in batch.logs().enumerate() {
                resource_line(
                    &mut out,
                    "ResourceLog",
                    i,
                    rl.resource().attributes(),
                    output,
                );
                if !record.enabled {
                    continue;
                }
                for log in rl.scopes().flat_map(|s| s.log_records()) {
                    let _ = writeln!(
                        out,
                        "{}{}",
                        value_text(log.body()),
                        attributes(log.attributes(), &record.attributes)
                    );
                }
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn resource_line(
    out: &mut String,
    kind: &str,
    index: usize,
    attrs: Attributes<'_>,
    output: &OutputSettings,
) {
    if !output.resource.enabled {
        return;
    }
    let attrs = attributes(attrs, &output.resource.attributes);
    let _ = writeln!(out, "{kind} #{index}{attrs}");
}

fn metric_lines(out: &mut String, metric: MetricView<'_>, filter: &AttributeFilter) {
    let name = metric.name();
    let mut point = |attrs: Attributes<'_>, value: String| {
        let attrs = attributes(attrs, filter);
        let _ = writeln!(out, "{name}{{{}}} {value}", attrs.trim_start());
    };
    match metric.metric_type() {
        MetricType::Gauge | MetricType::Sum => metric
            .number_points()
            .for_each(|p| point(p.attributes(), number(p.value()))),
        MetricType::Histogram => metric.histogram_points().for_each(|p| {
            point(
                p.attributes(),
                format!("count={} sum={}", p.count(), p.sum().unwrap_or_default()),
            )
        }),
        MetricType::ExponentialHistogram => metric.exponential_histogram_points().for_each(|p| {
            point(
                p.attributes(),
                format!("count={} sum={}", p.count(), p.sum().unwrap_or_default()),
            )
        }),
        MetricType::Summary => metric.summary_points().for_each(|p| {
            point(
                p.attributes(),
                format!("count={} sum={}", p.count(), p.sum()),
            )
        }),
        MetricType::Empty => {
            let _ = writeln!(out, "{name} (no data)");
        }
    }
}

fn number(value: NumberValue) -> String {
    match value {
        NumberValue::Int(i) => i.to_string(),
        NumberValue::Double(d) => d.to_string(),
        NumberValue::None => String::new(),
    }
}

/// ` k=v k2=v2` (leading space) for the attributes the filter keeps; empty if none.
fn attributes(attrs: Attributes<'_>, filter: &AttributeFilter) -> String {
    let mut out = String::new();
    for (key, value) in attrs.iter().filter(|(key, _)| filter.keeps(key)) {
        let _ = write!(out, " {key}={}", value_text(value));
    }
    out
}

/// An attribute value as an operator would write it.
fn value_text(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Empty => String::new(),
        ValueRef::Str(s) => s.to_string(),
        ValueRef::Bool(b) => b.to_string(),
        ValueRef::Int(i) => i.to_string(),
        ValueRef::Double(d) => d.to_string(),
        ValueRef::Bytes(b) => hex(b),
        ValueRef::Array(a) => {
            let items: Vec<String> = a.iter().map(value_text).collect();
            format!("[{}]", items.join(", "))
        }
        ValueRef::KvList(kvs) => {
            let items: Vec<String> = kvs
                .iter()
                .map(|(key, value)| format!("{key}={}", value_text(value)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The OTLP/JSON names of one signal's levels.
struct JsonNames {
    /// The header of each resource's block, as the Collector names it.
    kind: &'static str,
    resources: &'static str,
    scopes: &'static str,
    items: &'static str,
}

fn json_names(signal: Signal) -> JsonNames {
    match signal {
        Signal::Traces => JsonNames {
            kind: "ResourceSpans",
            resources: "resourceSpans",
            scopes: "scopeSpans",
            items: "spans",
        },
        Signal::Metrics => JsonNames {
            kind: "ResourceMetrics",
            resources: "resourceMetrics",
            scopes: "scopeMetrics",
            items: "metrics",
        },
        Signal::Logs => JsonNames {
            kind: "ResourceLogs",
            resources: "resourceLogs",
            scopes: "scopeLogs",
            items: "logRecords",
        },
    }
}

/// Detailed verbosity: every resource as indented OTLP/JSON, filtered by `output`.
pub fn detailed(batch: &Batch, output: &OutputSettings) -> String {
    let names = json_names(batch.signal());
    let filtered = hide_attributes(batch, output);
    let request: Value = match serde_json::from_slice(&filtered.encode_json()) {
        Ok(request) => request,
        // Weir's encoder writes a JSON object; this only guards against a bug there.
        Err(err) => return format!("<batch not encodable as OTLP/JSON: {err}>"),
    };
    let resources = match request {
        Value::Object(mut fields) => match fields.remove(names.resources) {
            Some(Value::Array(resources)) => resources,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let mut out = String::new();
    for (index, mut resource) in resources.into_iter().enumerate() {
        hide_parts(&mut resource, output, &names);
        let _ = writeln!(out, "{} #{index}", names.kind);
        // A `Value` with string keys always serializes.
        let json = serde_json::to_string_pretty(&resource)
            .unwrap_or_else(|err| format!("<not serializable: {err}>"));
        for line in json.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The batch with the attributes `output` hides deleted, through the edit API on a
/// private copy (the payload is shared until an edit changes it; only the resources
/// that change are decoded). Attributes of a part hidden as a whole are not filtered:
/// [`hide_parts`] removes the part.
///
/// A walk runs only when some attribute is to be deleted: besides sparing the copy, an
/// edit walk drops scopes without items and resources without scopes, which the debug
/// exporter should show as they came whenever it can.
fn hide_attributes(batch: &Batch, output: &OutputSettings) -> Batch {
    let mut filtered = batch.clone();
    let resource = &output.resource;
    if resource.enabled && any_hidden(resource_attributes(batch), &resource.attributes) {
        filtered.edit_resources(|edit| {
            for key in hidden(edit.resource().attributes(), &resource.attributes) {
                edit.attributes().delete(key);
            }
            true
        });
    }
    let scope = &output.scope;
    if scope.enabled && any_hidden(scope_attributes(batch), &scope.attributes) {
        filtered.edit_scopes(|edit| {
            for key in hidden(edit.scope().attributes(), &scope.attributes) {
                edit.attributes().delete(key);
            }
            true
        });
    }
    let record = &output.record;
    if record.enabled && any_hidden(item_attributes(batch), &record.attributes) {
        let filter = &record.attributes;
        match filtered.signal() {
            Signal::Traces => filtered.edit_spans(|edit| {
                for key in hidden(edit.span().attributes(), filter) {
                    edit.attributes().delete(key);
                }
                true
            }),
            Signal::Logs => filtered.edit_log_records(|edit| {
                for key in hidden(edit.record().attributes(), filter) {
                    edit.attributes().delete(key);
                }
                true
            }),
            Signal::Metrics => filtered.edit_metrics(|edit| {
                // Point attributes are edited per metric: every key any point hides.
                let metric = edit.metric();
                let mut keys: Vec<&str> = Vec::new();
                for attrs in point_attributes(metric) {
                    for key in hidden(attrs, filter) {
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                    }
                }
                for key in keys {
                    edit.point_attributes().delete(key);
                }
                true
            }),
        }
    }
    filtered
}

/// Whether the filter hides any attribute of these lists.
fn any_hidden<'a>(
    mut lists: impl Iterator<Item = Attributes<'a>>,
    filter: &AttributeFilter,
) -> bool {
    let keeps_all = filter.enabled && filter.include.is_empty() && filter.exclude.is_empty();
    !keeps_all && lists.any(|attrs| attrs.iter().any(|(key, _)| !filter.keeps(key)))
}

/// Every resource's attributes (each `Batch` accessor is empty for other signals).
fn resource_attributes(batch: &Batch) -> impl Iterator<Item = Attributes<'_>> {
    batch
        .traces()
        .map(|r| r.resource())
        .chain(batch.metrics().map(|r| r.resource()))
        .chain(batch.logs().map(|r| r.resource()))
        .map(|r| r.attributes())
}

/// Every scope's attributes.
fn scope_attributes(batch: &Batch) -> impl Iterator<Item = Attributes<'_>> {
    let traces = batch.traces().flat_map(|r| r.scopes().map(|s| s.scope()));
    let metrics = batch.metrics().flat_map(|r| r.scopes().map(|s| s.scope()));
    let logs = batch.logs().flat_map(|r| r.scopes().map(|s| s.scope()));
    traces.chain(metrics).chain(logs).map(|s| s.attributes())
}

/// Every span's, log record's and data point's attributes.
fn item_attributes(batch: &Batch) -> impl Iterator<Item = Attributes<'_>> {
    let spans = batch.spans().map(|(_, _, span)| span.attributes());
    let records = batch
        .log_records()
        .map(|(_, _, record)| record.attributes());
    let points = batch
        .metrics()
        .flat_map(|r| r.scopes())
        .flat_map(|s| s.metrics())
        .flat_map(point_attributes);
    spans.chain(records).chain(points)
}

/// The keys in `attrs` the filter hides (a key repeated in the list comes once).
fn hidden<'a>(attrs: Attributes<'a>, filter: &AttributeFilter) -> Vec<&'a str> {
    let mut keys: Vec<&'a str> = Vec::new();
    for (key, _) in attrs.iter() {
        if !filter.keeps(key) && !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The attribute lists of every data point of a metric, whatever its type.
fn point_attributes<'a>(metric: MetricView<'a>) -> impl Iterator<Item = Attributes<'a>> {
    metric
        .number_points()
        .map(|p| p.attributes())
        .chain(metric.histogram_points().map(|p| p.attributes()))
        .chain(
            metric
                .exponential_histogram_points()
                .map(|p| p.attributes()),
        )
        .chain(metric.summary_points().map(|p| p.attributes()))
}

/// Removes from one resource's JSON the parts `output` hides as a whole: the resource,
/// the scopes, the items. Done on the JSON rather than with the edit API because a
/// hidden part's neighbours stay shown (records off still lists resources and scopes),
/// while an edit that drops every item of a scope drops the scope and its resource too.
fn hide_parts(resource: &mut Value, output: &OutputSettings, names: &JsonNames) {
    let Value::Object(resource) = resource else {
        return;
    };
    if !output.resource.enabled {
        resource.remove("resource");
    }
    if output.scope.enabled && output.record.enabled {
        return;
    }
    let Some(Value::Array(scopes)) = resource.get_mut(names.scopes) else {
        return;
    };
    for scope in scopes.iter_mut() {
        if let Value::Object(scope) = scope {
            if !output.scope.enabled {
                scope.remove("scope");
            }
            if !output.record.enabled {
                scope.remove(names.items);
            }
        }
    }
}
