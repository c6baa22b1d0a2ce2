use weir_api::ack::InFlight;
use weir_api::telemetry::Telemetry;
use weir_api::{Ack, ComponentId, PipelineId, Route};
use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn ctx(signal: Signal) -> ConnectorBuildContext {
    ConnectorBuildContext {
        id: ComponentId::new(TYPE_NAME, None),
        from: signal,
        to: signal,
        downstream: vec![
            PipelineId::new(signal, Some("a".into())),
            PipelineId::new(signal, Some("b".into())),
        ],
        telemetry: Telemetry::new(),
    }
}

fn logs(records: usize) -> Batch {
    Batch::from_logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord::default(); records],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

#[test]
fn pairs_are_each_signal_to_itself() {
    let factory = factory();
    assert_eq!(
        factory.pairs(),
        [
            (Signal::Traces, Signal::Traces),
            (Signal::Metrics, Signal::Metrics),
            (Signal::Logs, Signal::Logs),
        ]
    );
    let info = factory.info();
    assert_eq!(info.type_name, "forward");
    assert_eq!(info.signals, Signal::ALL);
    assert_eq!(info.stability, Stability::Beta);
    for signal in Signal::ALL {
        assert!(
            !factory
                .pairs()
                .iter()
                .any(|&(from, to)| from == signal && to != signal),
            "no conversion from {signal}"
        );
    }
}

#[test]
fn an_empty_or_absent_section_is_valid() {
    let factory = factory();
    for section in [Value::Null, yaml("{}")] {
        assert!(factory.check(&section).is_empty(), "{section:?}");
        for signal in Signal::ALL {
            assert!(factory.build(ctx(signal), &section).is_ok());
        }
    }
}

#[test]
fn any_key_is_refused_by_name() {
    let factory = factory();
    let problems = factory.check(&yaml("timeout: 1s"));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, ["timeout"]);
    assert!(
        problems[0].message.contains("unknown key `timeout`")
            && problems[0].message.contains("no settings"),
        "{}",
        problems[0].message
    );

    let problems = factory.check(&yaml("[1, 2]"));
    assert_eq!(problems.len(), 1, "not a mapping");

    let err = factory
        .build(ctx(Signal::Logs), &yaml("timeout: 1s"))
        .err()
        .expect("refused");
    assert!(err.0.starts_with("timeout: unknown key"), "{err}");
}

#[test]
fn consume_passes_the_batch_on_unchanged_to_all() {
    let mut connector = factory()
        .build(ctx(Signal::Logs), &Value::Null)
        .expect("built");
    let (ack, _receipt) = Ack::new(2, 10, &InFlight::default());
    let mut batch = logs(2);
    batch.attach_ack(ack.clone());

    let mut out = ConnectorOutput::new();
    connector.consume(batch.clone(), &mut out);
    connector.consume(logs(1), &mut out);
    let emitted = out.take();
    assert_eq!(emitted.len(), 2, "one output per input");
    let (route, forwarded) = &emitted[0];
    assert_eq!(*route, Route::All);
    assert_eq!(*forwarded, batch);
    assert!(forwarded.shares_data_with(&batch), "not copied");
    assert_eq!(forwarded.acks().len(), 1);
    assert!(
        forwarded.acks().iter().all(|held| held.same_as(&ack)),
        "the acknowledgement handle travels with the data"
    );
    assert_eq!(emitted[1].1.item_count(), 1);
}

#[test]
fn holds_nothing() {
    let mut connector = ForwardConnector;
    assert!(connector.next_deadline().is_none());
    let mut out = ConnectorOutput::new();
    connector.flush(&mut out);
    assert!(out.is_empty());
}
