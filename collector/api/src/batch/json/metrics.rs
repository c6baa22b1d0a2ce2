//! Metrics: `ResourceMetrics` > `ScopeMetrics` > `Metric` (one of gauge, sum, histogram,
//! exponential histogram, summary) > data points and exemplars.

use serde_json::Value;
use weir_proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};

use super::common::{
    read_attributes, read_resource, read_scope, write_attributes, write_resource, write_scope,
};
use super::read::{Obj, Result};
use super::write;

fn temporality(o: Obj<'_>) -> Result<i32> {
    o.enumeration("aggregationTemporality", |n| {
        AggregationTemporality::from_str_name(n).map(|t| t as i32)
    })
}

pub(super) fn read_resource_metrics(o: Obj<'_>) -> Result<ResourceMetrics> {
    Ok(ResourceMetrics {
        resource: o.message("resource", read_resource)?,
        scope_metrics: o.messages("scopeMetrics", read_scope_metrics)?,
        schema_url: o.string("schemaUrl")?,
    })
}

fn read_scope_metrics(o: Obj<'_>) -> Result<ScopeMetrics> {
    Ok(ScopeMetrics {
        scope: o.message("scope", read_scope)?,
        metrics: o.messages("metrics", read_metric)?,
        schema_url: o.string("schemaUrl")?,
    })
}

fn read_metric(o: Obj<'_>) -> Result<Metric> {
    let data = if o.has("gauge") {
        o.message("gauge", |g| {
            Ok(Data::Gauge(Gauge {
                data_points: g.messages("dataPoints", read_number_point)?,
            }))
        })?
    } else if o.has("sum") {
        o.message("sum", |s| {
            Ok(Data::Sum(Sum {
                data_points: s.messages("dataPoints", read_number_point)?,
                aggregation_temporality: temporality(s)?,
                is_monotonic: s.bool("isMonotonic")?,
            }))
        })?
    } else if o.has("histogram") {
        o.message("histogram", |h| {
            Ok(Data::Histogram(Histogram {
                data_points: h.messages("dataPoints", read_histogram_point)?,
                aggregation_temporality: temporality(h)?,
            }))
        })?
    } else if o.has("exponentialHistogram") {
        o.message("exponentialHistogram", |h| {
            Ok(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: h.messages("dataPoints", read_exponential_point)?,
                aggregation_temporality: temporality(h)?,
            }))
        })?
    } else if o.has("summary") {
        o.message("summary", |s| {
            Ok(Data::Summary(Summary {
                data_points: s.messages("dataPoints", read_summary_point)?,
            }))
        })?
    } else {
        None
    };
    Ok(Metric {
        name: o.string("name")?,
        description: o.string("description")?,
        unit: o.string("unit")?,
        metadata: read_attributes(o, "metadata")?,
        data,
    })
}

fn read_number_point(o: Obj<'_>) -> Result<NumberDataPoint> {
    let value = if o.has("asDouble") {
        Some(number_data_point::Value::AsDouble(o.f64("asDouble")?))
    } else if o.has("asInt") {
        Some(number_data_point::Value::AsInt(o.i64("asInt")?))
    } else {
        None
    };
    Ok(NumberDataPoint {
        attributes: read_attributes(o, "attributes")?,
        start_time_unix_nano: o.u64("startTimeUnixNano")?,
        time_unix_nano: o.u64("timeUnixNano")?,
        exemplars: o.messages("exemplars", read_exemplar)?,
        flags: o.u32("flags")?,
        value,
    })
}

fn read_histogram_point(o: Obj<'_>) -> Result<HistogramDataPoint> {
    Ok(HistogramDataPoint {
        attributes: read_attributes(o, "attributes")?,
        start_time_unix_nano: o.u64("startTimeUnixNano")?,
        time_unix_nano: o.u64("timeUnixNano")?,
        count: o.u64("count")?,
        sum: o.opt_f64("sum")?,
        bucket_counts: o.u64s("bucketCounts")?,
        explicit_bounds: o.f64s("explicitBounds")?,
        exemplars: o.messages("exemplars", read_exemplar)?,
        flags: o.u32("flags")?,
        min: o.opt_f64("min")?,
        max: o.opt_f64("max")?,
    })
}

fn read_exponential_point(o: Obj<'_>) -> Result<ExponentialHistogramDataPoint> {
    let buckets = |b: Obj<'_>| {
        Ok(Buckets {
            offset: b.i32("offset")?,
            bucket_counts: b.u64s("bucketCounts")?,
        })
    };
    Ok(ExponentialHistogramDataPoint {
        attributes: read_attributes(o, "attributes")?,
        start_time_unix_nano: o.u64("startTimeUnixNano")?,
        time_unix_nano: o.u64("timeUnixNano")?,
        count: o.u64("count")?,
        sum: o.opt_f64("sum")?,
        scale: o.i32("scale")?,
        zero_count: o.u64("zeroCount")?,
        positive: o.message("positive", buckets)?,
        negative: o.message("negative", buckets)?,
        flags: o.u32("flags")?,
        exemplars: o.messages("exemplars", read_exemplar)?,
        min: o.opt_f64("min")?,
        max: o.opt_f64("max")?,
        zero_threshold: o.f64("zeroThreshold")?,
    })
}

fn read_summary_point(o: Obj<'_>) -> Result<SummaryDataPoint> {
    Ok(SummaryDataPoint {
        attributes: read_attributes(o, "attributes")?,
        start_time_unix_nano: o.u64("startTimeUnixNano")?,
        time_unix_nano: o.u64("timeUnixNano")?,
        count: o.u64("count")?,
        sum: o.f64("sum")?,
        quantile_values: o.messages("quantileValues", |q| {
            Ok(ValueAtQuantile {
                quantile: q.f64("quantile")?,
                value: q.f64("value")?,
            })
        })?,
        flags: o.u32("flags")?,
    })
}

fn read_exemplar(o: Obj<'_>) -> Result<Exemplar> {
    let value = if o.has("asDouble") {
        Some(exemplar::Value::AsDouble(o.f64("asDouble")?))
    } else if o.has("asInt") {
        Some(exemplar::Value::AsInt(o.i64("asInt")?))
    } else {
        None
    };
    Ok(Exemplar {
        filtered_attributes: read_attributes(o, "filteredAttributes")?,
        time_unix_nano: o.u64("timeUnixNano")?,
        span_id: o.id("spanId", 8)?,
        trace_id: o.id("traceId", 16)?,
        value,
    })
}

// ---------------------------------------------------------------- writing

pub(super) fn write_resource_metrics(rm: &ResourceMetrics) -> Value {
    write::Obj::new()
        .message("resource", rm.resource.as_ref().map(write_resource))
        .list(
            "scopeMetrics",
            rm.scope_metrics.iter().map(write_scope_metrics),
        )
        .string("schemaUrl", &rm.schema_url)
        .build()
}

fn write_scope_metrics(sm: &ScopeMetrics) -> Value {
    write::Obj::new()
        .message("scope", sm.scope.as_ref().map(write_scope))
        .list("metrics", sm.metrics.iter().map(write_metric))
        .string("schemaUrl", &sm.schema_url)
        .build()
}

fn write_metric(m: &Metric) -> Value {
    let o = write::Obj::new()
        .string("name", &m.name)
        .string("description", &m.description)
        .string("unit", &m.unit)
        .list("metadata", write_attributes(&m.metadata));
    let o = match &m.data {
        Some(Data::Gauge(g)) => o.oneof(
            "gauge",
            write::Obj::new()
                .list("dataPoints", g.data_points.iter().map(write_number_point))
                .build(),
        ),
        Some(Data::Sum(s)) => o.oneof(
            "sum",
            write::Obj::new()
                .list("dataPoints", s.data_points.iter().map(write_number_point))
                .i32("aggregationTemporality", s.aggregation_temporality)
                .bool("isMonotonic", s.is_monotonic)
                .build(),
        ),
        Some(Data::Histogram(h)) => o.oneof(
            "histogram",
            write::Obj::new()
                .list(
                    "dataPoints",
                    h.data_points.iter().map(write_histogram_point),
                )
                .i32("aggregationTemporality", h.aggregation_temporality)
                .build(),
        ),
        Some(Data::ExponentialHistogram(h)) => o.oneof(
            "exponentialHistogram",
            write::Obj::new()
                .list(
                    "dataPoints",
                    h.data_points.iter().map(write_exponential_point),
                )
                .i32("aggregationTemporality", h.aggregation_temporality)
                .build(),
        ),
        Some(Data::Summary(s)) => o.oneof(
            "summary",
            write::Obj::new()
                .list("dataPoints", s.data_points.iter().map(write_summary_point))
                .build(),
        ),
        None => o,
    };
    o.build()
}

fn write_number_point(p: &NumberDataPoint) -> Value {
    let o = write::Obj::new()
        .list("attributes", write_attributes(&p.attributes))
        .u64("startTimeUnixNano", p.start_time_unix_nano)
        .u64("timeUnixNano", p.time_unix_nano)
        .list("exemplars", p.exemplars.iter().map(write_exemplar))
        .u32("flags", p.flags);
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => o.oneof("asDouble", write::f64_value(d)),
        Some(number_data_point::Value::AsInt(i)) => o.oneof("asInt", write::i64_value(i)),
        None => o,
    }
    .build()
}

fn write_histogram_point(p: &HistogramDataPoint) -> Value {
    write::Obj::new()
        .list("attributes", write_attributes(&p.attributes))
        .u64("startTimeUnixNano", p.start_time_unix_nano)
        .u64("timeUnixNano", p.time_unix_nano)
        .u64("count", p.count)
        .opt_f64("sum", p.sum)
        .u64s("bucketCounts", &p.bucket_counts)
        .f64s("explicitBounds", &p.explicit_bounds)
        .list("exemplars", p.exemplars.iter().map(write_exemplar))
        .u32("flags", p.flags)
        .opt_f64("min", p.min)
        .opt_f64("max", p.max)
        .build()
}

fn write_exponential_point(p: &ExponentialHistogramDataPoint) -> Value {
    let buckets = |b: &Buckets| {
        write::Obj::new()
            .i32("offset", b.offset)
            .u64s("bucketCounts", &b.bucket_counts)
            .build()
    };
    write::Obj::new()
        .list("attributes", write_attributes(&p.attributes))
        .u64("startTimeUnixNano", p.start_time_unix_nano)
        .u64("timeUnixNano", p.time_unix_nano)
        .u64("count", p.count)
        .opt_f64("sum", p.sum)
        .i32("scale", p.scale)
        .u64("zeroCount", p.zero_count)
        .message("positive", p.positive.as_ref().map(buckets))
        .message("negative", p.negative.as_ref().map(buckets))
        .u32("flags", p.flags)
        .list("exemplars", p.exemplars.iter().map(write_exemplar))
        .opt_f64("min", p.min)
        .opt_f64("max", p.max)
        .f64("zeroThreshold", p.zero_threshold)
        .build()
}

fn write_summary_point(p: &SummaryDataPoint) -> Value {
    let quantile = |q: &ValueAtQuantile| {
        write::Obj::new()
            .f64("quantile", q.quantile)
            .f64("value", q.value)
            .build()
    };
    write::Obj::new()
        .list("attributes", write_attributes(&p.attributes))
        .u64("startTimeUnixNano", p.start_time_unix_nano)
        .u64("timeUnixNano", p.time_unix_nano)
        .u64("count", p.count)
        .f64("sum", p.sum)
        .list("quantileValues", p.quantile_values.iter().map(quantile))
        .u32("flags", p.flags)
        .build()
}

fn write_exemplar(e: &Exemplar) -> Value {
    let o = write::Obj::new()
        .list(
            "filteredAttributes",
            write_attributes(&e.filtered_attributes),
        )
        .u64("timeUnixNano", e.time_unix_nano)
        .id("spanId", &e.span_id)
        .id("traceId", &e.trace_id);
    match e.value {
        Some(exemplar::Value::AsDouble(d)) => o.oneof("asDouble", write::f64_value(d)),
        Some(exemplar::Value::AsInt(i)) => o.oneof("asInt", write::i64_value(i)),
        None => o,
    }
    .build()
}
