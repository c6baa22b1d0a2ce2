//! Turning a batch into text, one function per verbosity. Pure (no I/O), so the output
//! is tested directly and the exporter only decides where it goes.
//!
//! - basic: counts, as the Collector's one-line summary;
//! - normal: about one line per item: spans as `name trace_id span_id attrs`, data
//!   points as `name{attrs} value`, log records as `body attrs`;
//! - detailed: each resource as indented OTLP/JSON (ids in hex), after the `output`
//!   settings have hidden the parts and attributes the operator asked to hide.

use std::fmt::Write;

use weir_api::{Batch, Signal};
use weir_proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weir_proto::metrics::v1::{metric::Data, number_data_point, Metric};
use weir_proto::resource::v1::Resource;

use crate::config::{AttributeFilter, OutputSettings, PartSettings};

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
        let signal = batch.signal();
        let resources = match signal {
            Signal::Traces => batch.resource_spans().len(),
            Signal::Metrics => batch.resource_metrics().len(),
            Signal::Logs => batch.resource_logs().len(),
        };
        let metrics = batch
            .resource_metrics()
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        Self {
            signal,
            resources,
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
            for (i, rs) in batch.resource_spans().iter().enumerate() {
                resource_line(&mut out, "ResourceSpans", i, rs.resource.as_ref(), output);
                for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    if record.enabled {
                        let _ = writeln!(
                            out,
                            "{} {} {}{}",
                            span.name,
                            hex(&span.trace_id),
                            hex(&span.span_id),
                            attributes(&span.attributes, &record.attributes)
                        );
                    }
                }
            }
        }
        Signal::Metrics => {
            for (i, rm) in batch.resource_metrics().iter().enumerate() {
                resource_line(&mut out, "ResourceMetrics", i, rm.resource.as_ref(), output);
                for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                    if record.enabled {
                        metric_lines(&mut out, metric, &record.attributes);
                    }
                }
            }
        }
        Signal::Logs => {
            for (i, rl) in batch.resource_logs().iter().enumerate() {
                resource_line(&mut out, "ResourceLog", i, rl.resource.as_ref(), output);
                for log in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    if record.enabled {
                        let body = log.body.as_ref().map(any_value).unwrap_or_default();
                        let _ = writeln!(
                            out,
                            "{body}{}",
                            attributes(&log.attributes, &record.attributes)
                        );
                    }
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
    resource: Option<&Resource>,
    output: &OutputSettings,
) {
    if !output.resource.enabled {
        return;
    }
    let attrs = resource
        .map(|r| attributes(&r.attributes, &output.resource.attributes))
        .unwrap_or_default();
    let _ = writeln!(out, "{kind} #{index}{attrs}");
}

fn metric_lines(out: &mut String, metric: &Metric, filter: &AttributeFilter) {
    let name = &metric.name;
    let mut point = |attrs: &[KeyValue], value: String| {
        let attrs = attributes(attrs, filter);
        let _ = writeln!(out, "{name}{{{}}} {value}", attrs.trim_start());
    };
    match &metric.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter()
            .for_each(|p| point(&p.attributes, number(p.value))),
        Some(Data::Sum(s)) => s
            .data_points
            .iter()
            .for_each(|p| point(&p.attributes, number(p.value))),
        Some(Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
            point(
                &p.attributes,
                format!("count={} sum={}", p.count, p.sum.unwrap_or_default()),
            )
        }),
        Some(Data::ExponentialHistogram(h)) => h.data_points.iter().for_each(|p| {
            point(
                &p.attributes,
                format!("count={} sum={}", p.count, p.sum.unwrap_or_default()),
            )
        }),
        Some(Data::Summary(s)) => s
            .data_points
            .iter()
            .for_each(|p| point(&p.attributes, format!("count={} sum={}", p.count, p.sum))),
        None => {
            let _ = writeln!(out, "{name} (no data)");
        }
    }
}

fn number(value: Option<number_data_point::Value>) -> String {
    match value {
        Some(number_data_point::Value::AsInt(i)) => i.to_string(),
        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
        None => String::new(),
    }
}

/// ` k=v k2=v2` (leading space) for the attributes the filter keeps; empty if none.
fn attributes(attrs: &[KeyValue], filter: &AttributeFilter) -> String {
    let mut out = String::new();
    for kv in attrs.iter().filter(|kv| filter.keeps(&kv.key)) {
        let value = kv.value.as_ref().map(any_value).unwrap_or_default();
        let _ = write!(out, " {}={}", kv.key, value);
    }
    out
}

/// An attribute value as an operator would write it.
fn any_value(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(any_value).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(kvs)) => {
            let items: Vec<String> = kvs
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{}={}",
                        kv.key,
                        kv.value.as_ref().map(any_value).unwrap_or_default()
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Some(any_value::Value::StringValueStrindex(index)) => format!("<string #{index}>"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Detailed verbosity: every resource as indented OTLP/JSON, filtered by `output`.
pub fn detailed(batch: &Batch, output: &OutputSettings) -> String {
    let mut filtered = batch.clone();
    if *output != OutputSettings::default() {
        // A private copy: the data handed to other exporters is untouched.
        hide(&mut filtered, output);
    }
    let mut out = String::new();
    match filtered.signal() {
        Signal::Traces => dump(&mut out, "ResourceSpans", filtered.resource_spans()),
        Signal::Metrics => dump(&mut out, "ResourceMetrics", filtered.resource_metrics()),
        Signal::Logs => dump(&mut out, "ResourceLogs", filtered.resource_logs()),
    }
    out.truncate(out.trim_end().len());
    out
}

/// Removes what `output` hides. Only the batch's own signal is edited, so the payload is
/// copied once.
fn hide(filtered: &mut Batch, output: &OutputSettings) {
    match filtered.signal() {
        Signal::Traces => filtered.edit_traces(|resources| {
            for rs in resources.iter_mut() {
                filter_resource(&mut rs.resource, &output.resource);
                for ss in rs.scope_spans.iter_mut() {
                    filter_scope(&mut ss.scope, &output.scope);
                    if !output.record.enabled {
                        ss.spans.clear();
                    }
                    for span in ss.spans.iter_mut() {
                        filter_attributes(&mut span.attributes, &output.record.attributes);
                    }
                }
            }
        }),
        Signal::Metrics => filtered.edit_metrics(|resources| {
            for rm in resources.iter_mut() {
                filter_resource(&mut rm.resource, &output.resource);
                for sm in rm.scope_metrics.iter_mut() {
                    filter_scope(&mut sm.scope, &output.scope);
                    if !output.record.enabled {
                        sm.metrics.clear();
                    }
                    for metric in sm.metrics.iter_mut() {
                        filter_point_attributes(metric, &output.record.attributes);
                    }
                }
            }
        }),
        Signal::Logs => filtered.edit_logs(|resources| {
            for rl in resources.iter_mut() {
                filter_resource(&mut rl.resource, &output.resource);
                for sl in rl.scope_logs.iter_mut() {
                    filter_scope(&mut sl.scope, &output.scope);
                    if !output.record.enabled {
                        sl.log_records.clear();
                    }
                    for log in sl.log_records.iter_mut() {
                        filter_attributes(&mut log.attributes, &output.record.attributes);
                    }
                }
            }
        }),
    }
}

fn dump<T: serde::Serialize>(out: &mut String, kind: &str, resources: &[T]) {
    for (index, resource) in resources.iter().enumerate() {
        let _ = writeln!(out, "{kind} #{index}");
        // The OTLP types serialize without failing (no maps with non-string keys).
        let json = serde_json::to_string_pretty(resource)
            .unwrap_or_else(|err| format!("<not serializable: {err}>"));
        for line in json.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
}

fn filter_resource(resource: &mut Option<Resource>, part: &PartSettings) {
    if !part.enabled {
        *resource = None;
    } else if let Some(resource) = resource {
        filter_attributes(&mut resource.attributes, &part.attributes);
    }
}

fn filter_scope(scope: &mut Option<InstrumentationScope>, part: &PartSettings) {
    if !part.enabled {
        *scope = None;
    } else if let Some(scope) = scope {
        filter_attributes(&mut scope.attributes, &part.attributes);
    }
}

fn filter_attributes(attrs: &mut Vec<KeyValue>, filter: &AttributeFilter) {
    attrs.retain(|kv| filter.keeps(&kv.key));
}

fn filter_point_attributes(metric: &mut Metric, filter: &AttributeFilter) {
    match &mut metric.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .for_each(|p| filter_attributes(&mut p.attributes, filter)),
        Some(Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .for_each(|p| filter_attributes(&mut p.attributes, filter)),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| filter_attributes(&mut p.attributes, filter)),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| filter_attributes(&mut p.attributes, filter)),
        Some(Data::Summary(s)) => s
            .data_points
            .iter_mut()
            .for_each(|p| filter_attributes(&mut p.attributes, filter)),
        None => {}
    }
}
