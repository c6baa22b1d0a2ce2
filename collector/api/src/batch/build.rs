//! Builders: how receivers that read other formats (StatsD, scrape, JSON) make batches
//! without naming OTLP structs.
//!
//! The batch they make holds the decoded form. Each builder wraps the struct it fills,
//! so building copies nothing on the way into the batch.
//!
//! ```
//! use weir_api::batch::build::{MetricBuilder, MetricsBuilder, NumberPoint};
//! use weir_api::batch::view::Temporality;
//!
//! let mut batch = MetricsBuilder::new();
//! let mut resource = batch.resource([("service.name", "checkout")]);
//! let mut scope = resource.scope("weir/statsd", "0.1.0");
//! let mut metric = MetricBuilder::sum("requests", Temporality::Delta, true);
//! metric.push_number(NumberPoint::int(3).attributes([("route", "/pay")]).time(1_000));
//! scope.push(metric);
//! assert_eq!(batch.build().item_count(), 1);
//! ```

use weir_proto::common::v1::{InstrumentationScope, KeyValue};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar as OtlpExemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use weir_proto::resource::v1::Resource;
use weir_proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

use super::count::data_points;
use super::edit::{key_value, OwnedValue};
use super::view::{NumberValue, SeverityNumber, SpanKind, StatusCode, Temporality};
use super::Batch;

/// Attributes from `(key, value)` pairs.
fn attributes<K: Into<String>, V: Into<OwnedValue>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Vec<KeyValue> {
    pairs
        .into_iter()
        .map(|(k, v)| key_value(k.into(), v.into()))
        .collect()
}

/// An attribute list being built, for callers that add attributes one at a time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttributeList(Vec<KeyValue>);

impl AttributeList {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `capacity` attributes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<OwnedValue>) -> &mut Self {
        self.0.push(key_value(key.into(), value.into()));
        self
    }

    /// Sets `key`, replacing an attribute of that name if there is one.
    pub fn upsert(&mut self, key: impl Into<String>, value: impl Into<OwnedValue>) -> &mut Self {
        super::edit::AttrOp::Upsert(key.into(), value.into()).apply(&mut self.0);
        self
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes as a view.
    pub fn view(&self) -> super::view::Attributes<'_> {
        super::view::Attributes::owned(&self.0)
    }
}

impl<K: Into<String>, V: Into<OwnedValue>> FromIterator<(K, V)> for AttributeList {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self(attributes(iter))
    }
}

impl<K: Into<String>, V: Into<OwnedValue>> Extend<(K, V)> for AttributeList {
    fn extend<T: IntoIterator<Item = (K, V)>>(&mut self, iter: T) {
        self.0.extend(attributes(iter));
    }
}

fn scope(name: &str, version: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.to_string(),
        version: version.to_string(),
        ..Default::default()
    })
}

// ---- Metrics ---------------------------------------------------------------------

/// Builds a metrics batch: resources -> scopes -> metrics -> points.
#[derive(Clone, Debug, Default)]
pub struct MetricsBuilder {
    resources: Vec<ResourceMetrics>,
}

impl MetricsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a resource with these attributes.
    pub fn resource<K: Into<String>, V: Into<OwnedValue>>(
        &mut self,
        resource_attributes: impl IntoIterator<Item = (K, V)>,
    ) -> ResourceMetricsBuilder<'_> {
        self.resource_with(resource_attributes.into_iter().collect())
    }

    /// Adds a resource with a prepared attribute list.
    pub fn resource_with(&mut self, attributes: AttributeList) -> ResourceMetricsBuilder<'_> {
        self.resources.push(ResourceMetrics {
            resource: Some(Resource {
                attributes: attributes.0,
                ..Default::default()
            }),
            ..Default::default()
        });
        let index = self.resources.len() - 1;
        ResourceMetricsBuilder(&mut self.resources[index])
    }

    /// Data points added so far.
    pub fn item_count(&self) -> usize {
        self.resources
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(data_points)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn build(self) -> Batch {
        Batch::from_metrics(self.resources)
    }
}

/// One resource of a [`MetricsBuilder`].
#[derive(Debug)]
pub struct ResourceMetricsBuilder<'b>(&'b mut ResourceMetrics);

impl ResourceMetricsBuilder<'_> {
    pub fn schema_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.0.schema_url = url.into();
        self
    }

    /// Adds a scope.
    pub fn scope(&mut self, name: &str, version: &str) -> ScopeMetricsBuilder<'_> {
        self.0.scope_metrics.push(ScopeMetrics {
            scope: scope(name, version),
            ..Default::default()
        });
        let index = self.0.scope_metrics.len() - 1;
        ScopeMetricsBuilder(&mut self.0.scope_metrics[index])
    }

    /// The resource's attributes so far.
    pub fn attributes(&self) -> super::view::Attributes<'_> {
        super::view::Attributes::owned(
            self.0
                .resource
                .as_ref()
                .map_or(&[][..], |r| r.attributes.as_slice()),
        )
    }
}

/// One scope of a resource being built.
#[derive(Debug)]
pub struct ScopeMetricsBuilder<'b>(&'b mut ScopeMetrics);

impl ScopeMetricsBuilder<'_> {
    /// Makes room for `additional` more metrics (one allocation instead of growing).
    pub fn reserve(&mut self, additional: usize) -> &mut Self {
        self.0.metrics.reserve(additional);
        self
    }

    pub fn push(&mut self, metric: MetricBuilder) -> &mut Self {
        self.0.metrics.push(metric.0);
        self
    }

    pub fn len(&self) -> usize {
        self.0.metrics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.metrics.is_empty()
    }
}

/// One metric: its descriptor and points.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricBuilder(Metric);

impl MetricBuilder {
    fn new(name: impl Into<String>, data: Data) -> Self {
        Self(Metric {
            name: name.into(),
            data: Some(data),
            ..Default::default()
        })
    }

    pub fn gauge(name: impl Into<String>) -> Self {
        Self::new(name, Data::Gauge(Gauge::default()))
    }

    pub fn sum(name: impl Into<String>, temporality: Temporality, monotonic: bool) -> Self {
        Self::new(
            name,
            Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: temporality.as_i32(),
                is_monotonic: monotonic,
            }),
        )
    }

    pub fn histogram(name: impl Into<String>, temporality: Temporality) -> Self {
        Self::new(
            name,
            Data::Histogram(Histogram {
                data_points: Vec::new(),
                aggregation_temporality: temporality.as_i32(),
            }),
        )
    }

    pub fn exponential_histogram(name: impl Into<String>, temporality: Temporality) -> Self {
        Self::new(
            name,
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: Vec::new(),
                aggregation_temporality: temporality.as_i32(),
            }),
        )
    }

    pub fn summary(name: impl Into<String>) -> Self {
        Self::new(name, Data::Summary(Summary::default()))
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.0.description = text.into();
        self
    }

    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.0.unit = unit.into();
        self
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Makes room for `additional` more points of the metric's type.
    pub fn reserve_points(&mut self, additional: usize) -> &mut Self {
        match &mut self.0.data {
            Some(Data::Gauge(g)) => g.data_points.reserve(additional),
            Some(Data::Sum(s)) => s.data_points.reserve(additional),
            Some(Data::Histogram(h)) => h.data_points.reserve(additional),
            Some(Data::ExponentialHistogram(h)) => h.data_points.reserve(additional),
            Some(Data::Summary(s)) => s.data_points.reserve(additional),
            None => {}
        }
        self
    }

    /// Adds a point to a gauge or sum (ignored for other types).
    pub fn push_number(&mut self, point: NumberPoint) -> &mut Self {
        match &mut self.0.data {
            Some(Data::Gauge(g)) => g.data_points.push(point.0),
            Some(Data::Sum(s)) => s.data_points.push(point.0),
            _ => {}
        }
        self
    }

    /// Adds a point to a histogram (ignored for other types).
    pub fn push_histogram(&mut self, point: HistogramPoint) -> &mut Self {
        if let Some(Data::Histogram(h)) = &mut self.0.data {
            h.data_points.push(point.0);
        }
        self
    }

    /// Adds a point to an exponential histogram (ignored for other types).
    pub fn push_exponential_histogram(&mut self, point: ExponentialHistogramPoint) -> &mut Self {
        if let Some(Data::ExponentialHistogram(h)) = &mut self.0.data {
            h.data_points.push(point.0);
        }
        self
    }

    /// Adds a point to a summary (ignored for other types).
    pub fn push_summary(&mut self, point: SummaryPoint) -> &mut Self {
        if let Some(Data::Summary(s)) = &mut self.0.data {
            s.data_points.push(point.0);
        }
        self
    }

    pub fn point_count(&self) -> usize {
        data_points(&self.0)
    }
}

/// Methods every point builder has.
macro_rules! point_builder {
    ($name:ident) => {
        impl $name {
            pub fn attributes<K: Into<String>, V: Into<OwnedValue>>(
                mut self,
                pairs: impl IntoIterator<Item = (K, V)>,
            ) -> Self {
                self.0.attributes = attributes(pairs);
                self
            }

            pub fn attribute_list(mut self, list: AttributeList) -> Self {
                self.0.attributes = list.0;
                self
            }

            pub fn start_time(mut self, unix_nano: u64) -> Self {
                self.0.start_time_unix_nano = unix_nano;
                self
            }

            pub fn time(mut self, unix_nano: u64) -> Self {
                self.0.time_unix_nano = unix_nano;
                self
            }

            /// Data point flags; 1 marks "no recorded value" (a staleness marker).
            pub fn flags(mut self, flags: u32) -> Self {
                self.0.flags = flags;
                self
            }
        }
    };
}

/// A gauge or sum point.
#[derive(Clone, Debug, PartialEq)]
pub struct NumberPoint(NumberDataPoint);
point_builder!(NumberPoint);

impl NumberPoint {
    pub fn new(value: NumberValue) -> Self {
        Self(NumberDataPoint {
            value: match value {
                NumberValue::None => None,
                NumberValue::Int(i) => Some(number_data_point::Value::AsInt(i)),
                NumberValue::Double(d) => Some(number_data_point::Value::AsDouble(d)),
            },
            ..Default::default()
        })
    }

    pub fn int(value: i64) -> Self {
        Self::new(NumberValue::Int(value))
    }

    pub fn double(value: f64) -> Self {
        Self::new(NumberValue::Double(value))
    }

    pub fn exemplar(mut self, exemplar: Exemplar) -> Self {
        self.0.exemplars.push(exemplar.0);
        self
    }
}

/// An explicit-bucket histogram point.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPoint(HistogramDataPoint);
point_builder!(HistogramPoint);

impl HistogramPoint {
    /// `bucket_counts` has one more entry than `explicit_bounds` (the +Inf bucket).
    pub fn new(
        count: u64,
        sum: Option<f64>,
        explicit_bounds: Vec<f64>,
        bucket_counts: Vec<u64>,
    ) -> Self {
        Self(HistogramDataPoint {
            count,
            sum,
            explicit_bounds,
            bucket_counts,
            ..Default::default()
        })
    }

    pub fn min(mut self, min: f64) -> Self {
        self.0.min = Some(min);
        self
    }

    pub fn max(mut self, max: f64) -> Self {
        self.0.max = Some(max);
        self
    }

    pub fn exemplar(mut self, exemplar: Exemplar) -> Self {
        self.0.exemplars.push(exemplar.0);
        self
    }
}

/// An exponential histogram point.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialHistogramPoint(ExponentialHistogramDataPoint);
point_builder!(ExponentialHistogramPoint);

impl ExponentialHistogramPoint {
    pub fn new(scale: i32, count: u64, sum: Option<f64>, zero_count: u64) -> Self {
        Self(ExponentialHistogramDataPoint {
            scale,
            count,
            sum,
            zero_count,
            ..Default::default()
        })
    }

    /// The positive buckets: the first bucket's index and the counts from there.
    pub fn positive(mut self, offset: i32, bucket_counts: Vec<u64>) -> Self {
        self.0.positive = Some(Buckets {
            offset,
            bucket_counts,
        });
        self
    }

    pub fn negative(mut self, offset: i32, bucket_counts: Vec<u64>) -> Self {
        self.0.negative = Some(Buckets {
            offset,
            bucket_counts,
        });
        self
    }

    pub fn zero_threshold(mut self, threshold: f64) -> Self {
        self.0.zero_threshold = threshold;
        self
    }

    pub fn min(mut self, min: f64) -> Self {
        self.0.min = Some(min);
        self
    }

    pub fn max(mut self, max: f64) -> Self {
        self.0.max = Some(max);
        self
    }
}

/// A summary point.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryPoint(SummaryDataPoint);
point_builder!(SummaryPoint);

impl SummaryPoint {
    /// `quantiles`: `(quantile, value)` pairs.
    pub fn new(count: u64, sum: f64, quantiles: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self(SummaryDataPoint {
            count,
            sum,
            quantile_values: quantiles
                .into_iter()
                .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                .collect(),
            ..Default::default()
        })
    }
}

/// An exemplar for a number or histogram point.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar(OtlpExemplar);

impl Exemplar {
    pub fn new(value: NumberValue) -> Self {
        Self(OtlpExemplar {
            value: match value {
                NumberValue::None => None,
                NumberValue::Int(i) => Some(exemplar::Value::AsInt(i)),
                NumberValue::Double(d) => Some(exemplar::Value::AsDouble(d)),
            },
            ..Default::default()
        })
    }

    pub fn time(mut self, unix_nano: u64) -> Self {
        self.0.time_unix_nano = unix_nano;
        self
    }

    pub fn trace_id(mut self, id: Vec<u8>) -> Self {
        self.0.trace_id = id;
        self
    }

    pub fn span_id(mut self, id: Vec<u8>) -> Self {
        self.0.span_id = id;
        self
    }

    pub fn filtered_attributes(mut self, list: AttributeList) -> Self {
        self.0.filtered_attributes = list.0;
        self
    }
}

// ---- Logs ------------------------------------------------------------------------

/// Builds a logs batch: resources -> scopes -> records.
#[derive(Clone, Debug, Default)]
pub struct LogsBuilder {
    resources: Vec<ResourceLogs>,
}

impl LogsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn resource_with(&mut self, attributes: AttributeList) -> ResourceLogsBuilder<'_> {
        self.resources.push(ResourceLogs {
            resource: Some(Resource {
                attributes: attributes.0,
                ..Default::default()
            }),
            ..Default::default()
        });
        let index = self.resources.len() - 1;
        ResourceLogsBuilder(&mut self.resources[index])
    }

    pub fn resource<K: Into<String>, V: Into<OwnedValue>>(
        &mut self,
        resource_attributes: impl IntoIterator<Item = (K, V)>,
    ) -> ResourceLogsBuilder<'_> {
        self.resource_with(resource_attributes.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn build(self) -> Batch {
        Batch::from_logs(self.resources)
    }
}

/// One resource of a [`LogsBuilder`].
#[derive(Debug)]
pub struct ResourceLogsBuilder<'b>(&'b mut ResourceLogs);

impl ResourceLogsBuilder<'_> {
    pub fn scope(&mut self, name: &str, version: &str) -> ScopeLogsBuilder<'_> {
        self.0.scope_logs.push(ScopeLogs {
            scope: scope(name, version),
            ..Default::default()
        });
        let index = self.0.scope_logs.len() - 1;
        ScopeLogsBuilder(&mut self.0.scope_logs[index])
    }
}

/// One scope of a resource being built.
#[derive(Debug)]
pub struct ScopeLogsBuilder<'b>(&'b mut ScopeLogs);

impl ScopeLogsBuilder<'_> {
    /// Makes room for `additional` more records.
    pub fn reserve(&mut self, additional: usize) -> &mut Self {
        self.0.log_records.reserve(additional);
        self
    }

    pub fn push(&mut self, record: LogRecordBuilder) -> &mut Self {
        self.0.log_records.push(record.0);
        self
    }
}

/// One log record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogRecordBuilder(LogRecord);

impl LogRecordBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn body(mut self, body: impl Into<OwnedValue>) -> Self {
        self.0.body = Some(body.into().into_any_value());
        self
    }

    pub fn time(mut self, unix_nano: u64) -> Self {
        self.0.time_unix_nano = unix_nano;
        self
    }

    pub fn observed_time(mut self, unix_nano: u64) -> Self {
        self.0.observed_time_unix_nano = unix_nano;
        self
    }

    pub fn severity(mut self, number: SeverityNumber, text: impl Into<String>) -> Self {
        self.0.severity_number = number.0;
        self.0.severity_text = text.into();
        self
    }

    pub fn attribute_list(mut self, list: AttributeList) -> Self {
        self.0.attributes = list.0;
        self
    }

    pub fn attributes<K: Into<String>, V: Into<OwnedValue>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.0.attributes = attributes(pairs);
        self
    }

    pub fn trace_id(mut self, id: Vec<u8>) -> Self {
        self.0.trace_id = id;
        self
    }

    pub fn span_id(mut self, id: Vec<u8>) -> Self {
        self.0.span_id = id;
        self
    }

    pub fn event_name(mut self, name: impl Into<String>) -> Self {
        self.0.event_name = name.into();
        self
    }
}

// ---- Summaries -------------------------------------------------------------------

/// The attribute (`true`) marking an item Weir made to summarise others, such as the
/// `error_rate_limiter`'s summary of what it dropped. Weir's own processors never drop,
/// shed or sample such an item, whatever their order in a pipeline.
pub const SUMMARY_ATTRIBUTE: &str = "weir.summary";

/// Whether an item's attributes mark it as a summary ([`SUMMARY_ATTRIBUTE`] = true).
pub fn is_summary(attributes: super::view::Attributes<'_>) -> bool {
    matches!(
        attributes.get(SUMMARY_ATTRIBUTE),
        Some(super::view::ValueRef::Bool(true))
    )
}

// ---- Traces ----------------------------------------------------------------------

/// Builds a traces batch: resources -> scopes -> spans (for processors that emit spans
/// of their own, such as the error rate limiter's summaries).
#[derive(Clone, Debug, Default)]
pub struct TracesBuilder {
    resources: Vec<ResourceSpans>,
}

impl TracesBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn resource_with(&mut self, attributes: AttributeList) -> ResourceSpansBuilder<'_> {
        self.resources.push(ResourceSpans {
            resource: Some(Resource {
                attributes: attributes.0,
                ..Default::default()
            }),
            ..Default::default()
        });
        let index = self.resources.len() - 1;
        ResourceSpansBuilder(&mut self.resources[index])
    }

    pub fn resource<K: Into<String>, V: Into<OwnedValue>>(
        &mut self,
        resource_attributes: impl IntoIterator<Item = (K, V)>,
    ) -> ResourceSpansBuilder<'_> {
        self.resource_with(resource_attributes.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn build(self) -> Batch {
        Batch::from_traces(self.resources)
    }
}

/// One resource of a [`TracesBuilder`].
#[derive(Debug)]
pub struct ResourceSpansBuilder<'b>(&'b mut ResourceSpans);

impl ResourceSpansBuilder<'_> {
    pub fn scope(&mut self, name: &str, version: &str) -> ScopeSpansBuilder<'_> {
        self.0.scope_spans.push(ScopeSpans {
            scope: scope(name, version),
            ..Default::default()
        });
        let index = self.0.scope_spans.len() - 1;
        ScopeSpansBuilder(&mut self.0.scope_spans[index])
    }
}

/// One scope of a resource being built.
#[derive(Debug)]
pub struct ScopeSpansBuilder<'b>(&'b mut ScopeSpans);

impl ScopeSpansBuilder<'_> {
    /// Makes room for `additional` more spans.
    pub fn reserve(&mut self, additional: usize) -> &mut Self {
        self.0.spans.reserve(additional);
        self
    }

    pub fn push(&mut self, span: SpanBuilder) -> &mut Self {
        self.0.spans.push(span.0);
        self
    }
}

/// One span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanBuilder(Span);

impl SpanBuilder {
    pub fn new(name: impl Into<String>, trace_id: [u8; 16], span_id: [u8; 8]) -> Self {
        Self(Span {
            name: name.into(),
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            ..Default::default()
        })
    }

    pub fn parent(mut self, span_id: [u8; 8]) -> Self {
        self.0.parent_span_id = span_id.to_vec();
        self
    }

    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.0.kind = kind.as_i32();
        self
    }

    pub fn times(mut self, start_unix_nano: u64, end_unix_nano: u64) -> Self {
        self.0.start_time_unix_nano = start_unix_nano;
        self.0.end_time_unix_nano = end_unix_nano;
        self
    }

    pub fn status(mut self, code: StatusCode, message: impl Into<String>) -> Self {
        self.0.status = Some(Status {
            code: code.as_i32(),
            message: message.into(),
        });
        self
    }

    pub fn attributes<K: Into<String>, V: Into<OwnedValue>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.0.attributes = attributes(pairs);
        self
    }

    pub fn attribute_list(mut self, list: AttributeList) -> Self {
        self.0.attributes = list.0;
        self
    }

    /// Adds an event (e.g. `exception`) with attributes.
    pub fn event(
        mut self,
        name: impl Into<String>,
        time_unix_nano: u64,
        list: AttributeList,
    ) -> Self {
        self.0.events.push(span::Event {
            name: name.into(),
            time_unix_nano,
            attributes: list.0,
            ..Default::default()
        });
        self
    }
}
