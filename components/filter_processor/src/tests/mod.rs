//! Behaviour through the factory, as the engine drives it, on owned and wire batches.

mod conditions;
mod config;
mod corpus;
mod equivalence;
mod legacy;

use std::collections::BTreeSet;

use weir_api::telemetry::Telemetry;
use weir_api::{Batch, ComponentId, PipelineId, Processor, ProcessorBuildContext, Signal};

use super::*;

pub fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("test YAML parses")
}

/// Builds `filter/test` for `signal` from YAML.
pub fn build(config: &str, signal: Signal) -> (Box<dyn Processor>, Telemetry) {
    try_build(config, signal).unwrap_or_else(|e| panic!("build failed: {e}"))
}

pub fn try_build(config: &str, signal: Signal) -> Result<(Box<dyn Processor>, Telemetry), String> {
    let telemetry = Telemetry::new();
    let ctx = ProcessorBuildContext {
        id: ComponentId::new("filter", Some("test".into())),
        pipeline: PipelineId::new(signal, None),
        signal,
        telemetry: telemetry.clone(),
    };
    let processor = factory()
        .build(ctx, &yaml(config))
        .map_err(|e| e.to_string())?;
    Ok((processor, telemetry))
}

/// `check`'s problems, rendered `path: message`.
pub fn check(config: &str) -> Vec<String> {
    factory()
        .check(&yaml(config))
        .iter()
        .map(|p| format!("{}: {}", p.path.join("."), p.message))
        .collect()
}

/// The same batch as received protobuf (every resource kept as bytes).
pub fn wire(batch: &Batch) -> Batch {
    Batch::from_protobuf(batch.signal(), batch.encode_protobuf().into()).expect("valid protobuf")
}

/// Runs one batch through; the emitted batches merged (none when all was dropped).
pub fn run(processor: &mut dyn Processor, batch: Batch) -> Option<Batch> {
    let mut out = Vec::new();
    processor.process(batch, &mut out);
    assert!(
        out.len() <= 1,
        "the filter emits at most one batch per batch"
    );
    out.pop()
}

/// The ids of the items that survived: span ids, log record span ids, or
/// `description/point time` for data points.
pub fn survivors(batch: Option<&Batch>) -> BTreeSet<String> {
    let Some(batch) = batch else {
        return BTreeSet::new();
    };
    match batch.signal() {
        Signal::Traces => batch
            .spans()
            .map(|(_, _, span)| format!("{:?}", span.span_id()))
            .collect(),
        Signal::Logs => batch
            .log_records()
            .map(|(_, _, record)| format!("{:?}", record.span_id()))
            .collect(),
        Signal::Metrics => batch
            .resource_metrics()
            .iter()
            .flat_map(|rm| rm.scope_metrics.iter())
            .flat_map(|sm| sm.metrics.iter())
            .flat_map(|m| {
                let times: Vec<u64> = match &m.data {
                    Some(weir_proto::metrics::v1::metric::Data::Gauge(g)) => {
                        g.data_points.iter().map(|p| p.time_unix_nano).collect()
                    }
                    Some(weir_proto::metrics::v1::metric::Data::Sum(s)) => {
                        s.data_points.iter().map(|p| p.time_unix_nano).collect()
                    }
                    Some(weir_proto::metrics::v1::metric::Data::Histogram(h)) => {
                        h.data_points.iter().map(|p| p.time_unix_nano).collect()
                    }
                    _ => Vec::new(),
                };
                let description = m.description.clone();
                times.into_iter().map(move |t| format!("{description}/{t}"))
            })
            .collect(),
    }
}

/// A counter's value from the exposition text, 0 when absent.
pub fn counter(telemetry: &Telemetry, series: &str) -> u64 {
    let text = telemetry.encode();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map_or(0, |v| v as u64)
}

/// Shadow mode passes every item and counts exactly what enforcement drops.
#[test]
fn shadow_mode_counts_what_enforcement_drops_and_drops_nothing() {
    let conditions = r#"
traces:
  span:
    - 'IsMatch(name, "^GET")'
    - 'attributes["http.status_code"] >= 500'
"#;
    for seed in 1..4 {
        let input = Batch::from_traces(corpus::traces(seed));
        for batch in [input.clone(), wire(&input)] {
            let (mut enforcing, enforced) = build(conditions, Signal::Traces);
            let (mut shadowing, shadowed) =
                build(&format!("{conditions}shadow: true\n"), Signal::Traces);
            let kept = run(enforcing.as_mut(), batch.clone()).map_or(0, |b| b.item_count());
            let passed = run(shadowing.as_mut(), batch.clone()).expect("shadow passes all");
            assert_eq!(passed.item_count(), batch.item_count());
            assert_eq!(passed.encode_protobuf(), batch.encode_protobuf());
            let dropped = counter(
                &enforced,
                "weir_items_dropped_total{component=\"filter/test\",otel_signal=\"traces\",reason=\"filtered\"}",
            );
            assert_eq!(dropped as usize, batch.item_count() - kept);
            assert!(dropped > 0, "the corpus must exercise the conditions");
            let would = counter(
                &shadowed,
                "weir_shadow_would_drop_total{component=\"filter/test\",otel_signal=\"traces\",reason=\"filtered\"}",
            );
            assert_eq!(would, dropped);
            assert_eq!(
                counter(
                    &shadowed,
                    "weir_items_dropped_total{component=\"filter/test\",otel_signal=\"traces\",reason=\"filtered\"}"
                ),
                0
            );
        }
    }
}
